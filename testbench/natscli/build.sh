#!/usr/bin/env bash
# Builds the real `nats` CLI (github.com/nats-io/natscli at NATSCLI_VERSION)
# into $1 (default bin/nats). The module cache copy is read-only, so the
# module is copied to a writable directory next to the output and built
# there with its own go.mod. The binary is cached: an existing $1 built
# from the same version is kept.
set -euo pipefail
out=${1:-bin/nats}
ver=${NATSCLI_VERSION:-v0.3.0}
GO=${GO:-go}
if [[ -x $out && -f $out.version && $(cat "$out.version") == "$ver" ]]; then
	exit 0
fi
dir=$(cd "${TMPDIR:-/tmp}" && GOFLAGS=-mod=mod GO111MODULE=on $GO mod download -json "github.com/nats-io/natscli@$ver" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
if [[ -z $dir || ! -d $dir ]]; then
	echo "natscli: go mod download github.com/nats-io/natscli@$ver failed" >&2
	exit 3 # callers skip on 3: the module is not reachable
fi
mkdir -p "$(dirname "$out")"
src=$(mktemp -d "${TMPDIR:-/tmp}/natscli-src.XXXXXX")
trap 'chmod -R u+w "$src"; rm -rf "$src"' EXIT
cp -r "$dir/." "$src/"
chmod -R u+w "$src"
abs=$(cd "$(dirname "$out")" && pwd)/$(basename "$out")
(cd "$src" && GOFLAGS=-mod=mod GOWORK=off $GO build -trimpath -ldflags "-s -w -X main.version=$ver" -o "$abs" ./nats)
echo "$ver" >"$out.version"
echo "natscli: built $abs ($ver)"
