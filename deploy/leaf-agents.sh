#!/usr/bin/env bash
# Prints a site leaf's client-port authorization block (nats-server config):
# one user per agent host, allowed to publish only its own telemetry subject
# tele.<site>.<host> and its own ep.* subjects, plus an optional operator
# user with no limits. Append it to a copy of deploy/leaf.conf (or
# leaf-tls.conf); keep the result mode 0600: it holds the passwords.
#
#   deploy/leaf-agents.sh SITE [--operator PWFILE] HOST=PWFILE...
#
# Each PWFILE holds one password (trailing newline dropped); the agent on
# HOST uses nats_user: HOST and nats_password_file: PWFILE. An agent can
# then neither publish as a neighbour (tele.<site>.<other>) nor receive
# another host's requests; the aggregator checks that a frame's
# Nats-Msg-Id names the subject's host (docs/security.md).
set -euo pipefail
[ $# -ge 2 ] || { sed -n '2,14p' "$0" >&2; exit 2; }
site=$1; shift
token='^[A-Za-z0-9_-]{1,64}$'
[[ $site =~ $token ]] || { echo "leaf-agents: site '$site' must be 1-64 of [A-Za-z0-9_-]" >&2; exit 2; }
pw() { local p; p=$(tr -d '\r\n' <"$1"); [[ $p != *'"'* && $p != *'\'* && -n $p ]] || { echo "leaf-agents: $1: empty, or holds a quote or backslash" >&2; exit 2; }; printf '%s' "$p"; }
echo "authorization {"
echo "  users = ["
if [ "${1:-}" = --operator ]; then
  echo "    {user: \"operator\", password: \"$(pw "$2")\"}"
  shift 2
fi
for arg in "$@"; do
  host=${arg%%=*}; file=${arg#*=}
  [[ $host =~ $token ]] || { echo "leaf-agents: host '$host' must be 1-64 of [A-Za-z0-9_-]" >&2; exit 2; }
  cat <<USER
    {user: "$host", password: "$(pw "$file")", permissions: {
      publish: {allow: ["tele.$site.$host", "_INBOX.>", "ep.config.get.$site.$host", "ep.agent.$site.$host.>", "ep.time.$site.$host"]},
      subscribe: {allow: ["_INBOX.>", "ep.agent.$site.$host.>", "\$SRV.>", "ep.config.kv._all", "ep.config.kv.$site._site", "ep.config.kv.$site.$host"]}}}
USER
done
echo "  ]"
echo "}"
