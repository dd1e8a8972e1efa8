#!/usr/bin/env bash
# Starts a single-host Edgepulse stack on this host's real /proc:
#   redis-server  127.0.0.1:6390  (private dir .run/redis)
#   aggregator    hub client 127.0.0.1:4250, hub leaf 127.0.0.1:7422,
#                 query API http://127.0.0.1:9470
#   site leaf     nats-server -c deploy/leaf.conf on 127.0.0.1:4222 (monitor 8223)
#   agent         site "local", this host, 10 s windows (the product default
#                 is 60 s; the demo uses 10 s so data shows up quickly)
# Ctrl-C or SIGTERM stops everything; no process is left behind.
#
# Credentials by default (docs/security.md), generated on first run under
# .run/creds (mode 0700): the hub's client port takes only the aggregator
# user, the site "local" joins the hub with its own leaf user, and the
# agent publishes through the site leaf with its own user, allowed only
# tele.local.<host>; "operator" may do anything on the site leaf (nats sub).
#
# TLS=1 (make run TLS=1): the leaf link runs with mutual TLS too (demo PKI
# from make certs, openssl needed).
set -euo pipefail
cd "$(dirname "$0")/.."
RUN=.run
BIN=bin
mkdir -p "$RUN/redis" "$RUN/agent" "$RUN/js"
CREDS=$RUN/creds
mkdir -p "$CREDS" && chmod 700 "$CREDS"
host=$(hostname | tr -c 'A-Za-z0-9_\n-' '_' | cut -c1-64)
newpw() { [ -s "$1" ] || (umask 077; head -c 18 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$1"); }
for f in hub-admin site-local "agent-$host" operator; do newpw "$CREDS/$f.pw"; done

if ! command -v redis-server >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "redis-server is missing; installing it with apt-get"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
  else
    echo "redis-server is missing. Install it with:" >&2
    echo "  sudo apt-get update && sudo apt-get install -y redis-server" >&2
    exit 1
  fi
fi

for port in 6390 4250 7422 9470 4222 8223; do
  if (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null; then
    echo "port $port on 127.0.0.1 is already in use; stop whatever holds it (another make run?)" >&2
    exit 1
  fi
done

# Every component runs in its own session (setsid): the terminal's Ctrl-C
# reaches only this script, whose trap stops them in reverse start order.
# Without it each component got the SIGINT too and could exit, and make
# wait -n return, before the trap ran: Ctrl-C then ended with "a component
# exited".
pids=()
stopping=
cleanup() {
  trap - INT TERM EXIT
  stopping=1
  echo; echo "stopping..."
  for ((i=${#pids[@]}-1; i>=0; i--)); do kill -TERM "${pids[i]}" 2>/dev/null || true; done
  wait 2>/dev/null || true
  echo "stopped"
}
trap cleanup INT TERM EXIT

wait_port() { # port name
  for _ in $(seq 1 150); do
    (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0
    sleep 0.2
  done
  echo "$2 did not come up on port $1; see $RUN/$2.log" >&2
  exit 1
}

setsid redis-server --port 6390 --bind 127.0.0.1 --dir "$RUN/redis" --save 60 1 --appendonly no \
  >"$RUN/redis.log" 2>&1 &
pids+=($!)
wait_port 6390 redis

tls=${TLS:-${EDGEPULSE_TLS:-0}}
leaf_conf=deploy/leaf.conf
site_pw=$(cat "$CREDS/site-local.pw")
leaf_url="nats-leaf://local:$site_pw@127.0.0.1:7422"
hub_security=", admin_password_file: $CREDS/hub-admin.pw, sites: [{site: local, password_file: $CREDS/site-local.pw}]"
if [ "$tls" = 1 ]; then
  deploy/certs/make-certs.sh deploy/certs
  hub_security="$hub_security, leaf_tls: {cert_file: deploy/certs/hub-1.pem, key_file: deploy/certs/hub-1-key.pem, ca_file: deploy/certs/ca.pem}"
  leaf_conf=deploy/leaf-tls.conf
  echo "TLS on the leaf link (deploy/certs)"
fi
# The site leaf's config: the shipped one plus its users (leaf-agents.sh).
(umask 077
 cat "$leaf_conf"
 deploy/leaf-agents.sh local --operator "$CREDS/operator.pw" "$host=$CREDS/agent-$host.pw") >"$RUN/leaf.conf"
cat >"$RUN/aggregator.yaml" <<YAML
name: local-hub
nats: {host: 127.0.0.1, port: 4250, leaf_host: 127.0.0.1, leaf_port: 7422, http_port: 8222, store_dir: $RUN/js$hub_security}
redis: {addr: 127.0.0.1:6390}
http: 127.0.0.1:9470
YAML
setsid "$BIN/edgepulse-aggregator" --config "$RUN/aggregator.yaml" >"$RUN/aggregator.log" 2>&1 &
pids+=($!)
wait_port 9470 aggregator

EDGEPULSE_HUB_LEAF_URL=$leaf_url setsid "$BIN/nats-server" -c "$RUN/leaf.conf" >"$RUN/leaf.log" 2>&1 &
pids+=($!)
wait_port 4222 leaf

cat >"$RUN/agent.yaml" <<YAML
site: local
host: $host
nats_url: nats://127.0.0.1:4222
nats_user: $host
nats_password_file: $CREDS/agent-$host.pw
window: 10s
procfs: /proc
data_dir: $RUN/agent
YAML
setsid "$BIN/edgepulse-agent" run --config "$RUN/agent.yaml" >"$RUN/agent.log" 2>&1 &
pids+=($!)

start=$(date +%s)
cat <<MSG

Edgepulse is running (logs in $RUN/*.log). Data shows up after the first
10 s window closes.

  Console:     http://127.0.0.1:9470/ui/   (fleet, this host live, incidents, PromQL)
  Query API:   http://127.0.0.1:9470   (Prometheus HTTP API; point Grafana here)
  Example:     curl 'http://127.0.0.1:9470/api/v1/query_range?query=node_load1&start=$start&end=$((start+600))&step=10'
  promtool:    promtool query range --start=$start --end=$((start+600)) --step=10s http://127.0.0.1:9470 'node_load1'
  PromQL:      promtool query instant http://127.0.0.1:9470 'rate(node_cpu_seconds_total{mode!="idle"}[5m])'
  Raw frames:  bin/nats -s nats://127.0.0.1:4222 --user operator --password "\$(cat $CREDS/operator.pw)" sub 'tele.>' --translate "bin/edgepulse-agent decode"
  Alerts:      bin/nats -s nats://127.0.0.1:4222 --user operator --password "\$(cat $CREDS/operator.pw)" sub 'alerts.>'
               (bin/nats: make nats-cli, ~2.5 min once)
  Agent metrics: curl http://127.0.0.1:9471/metrics

Press Ctrl-C to stop.
MSG
wait -n "${pids[@]}" || true
[ -n "$stopping" ] || echo "a component exited; see $RUN/*.log" >&2
