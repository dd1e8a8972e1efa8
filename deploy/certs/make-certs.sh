#!/usr/bin/env bash
# Demo PKI for the hub tier and site leaves: a private CA, one server
# certificate per hub node (hub-1..3, with SANs hub-N.example, localhost,
# 127.0.0.1) and a leaf client certificate. NOT for production.
#
#   deploy/certs/make-certs.sh [OUTDIR]     (default: deploy/certs)
#
# Existing files are kept (delete them to regenerate).
set -euo pipefail
out=${1:-"$(dirname "$0")"}
mkdir -p "$out"
cd "$out"
command -v openssl >/dev/null || { echo "make-certs: openssl is missing (apt-get install openssl)" >&2; exit 1; }

days=825
if [ ! -f ca.pem ]; then
  openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 3650 \
    -keyout ca-key.pem -out ca.pem -subj "/CN=Edgepulse demo CA" 2>/dev/null
fi

sign() { # name cn san extendedKeyUsage
  local name=$1 cn=$2 san=$3 eku=$4
  [ -f "$name.pem" ] && return 0
  openssl req -newkey rsa:2048 -nodes -sha256 -keyout "$name-key.pem" \
    -out "$name.csr" -subj "/CN=$cn" 2>/dev/null
  printf 'subjectAltName=%s\nextendedKeyUsage=%s\nkeyUsage=digitalSignature,keyEncipherment\n' "$san" "$eku" >"$name.ext"
  openssl x509 -req -in "$name.csr" -CA ca.pem -CAkey ca-key.pem -CAcreateserial \
    -days $days -sha256 -extfile "$name.ext" -out "$name.pem" 2>/dev/null
  rm -f "$name.csr" "$name.ext"
  chmod 600 "$name-key.pem"
}

for i in 1 2 3; do
  sign "hub-$i" "hub-$i.example" "DNS:hub-$i.example,DNS:localhost,IP:127.0.0.1" "serverAuth,clientAuth"
done
sign leaf "edgepulse-leaf" "DNS:edgepulse-leaf,DNS:localhost" "clientAuth"
chmod 600 ca-key.pem
echo "make-certs: CA and certificates in $(pwd)"
