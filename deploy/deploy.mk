# Deployment files: make certs, make deploy-check (see docs/deploy.md).
.PHONY: certs deploy-check

# Demo CA, hub and leaf certificates in deploy/certs (kept if present).
certs:
	deploy/certs/make-certs.sh deploy/certs

# Validates every deployment file: nats-server -t on each NATS config,
# systemd-analyze verify on the units (when present), the binaries'
# --check-config on the example configs and the k8s ConfigMap, a
# parse + required-keys check of the k8s manifests, and the example Redis
# Sentinel and Cluster configs run on real redis-server processes.
deploy-check: $(BIN)/nats-server certs
	@set -eu; tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	echo "== building edgepulse-agent and edgepulse-aggregator into $$tmp"; \
	$(GO) build -o "$$tmp/" ./edge/cmd/edgepulse-agent ./aggregator/cmd/edgepulse-aggregator; \
	echo "== nats-server -t"; \
	for c in deploy/*.conf deploy/hub/*.conf; do \
	  EDGEPULSE_SITE=site1 EDGEPULSE_LEAF_STORE="$$tmp/leafstore" EDGEPULSE_HUB_LEAF_URL=nats-leaf://site1:check@127.0.0.1:7422 $(BIN)/nats-server -t -c "$$c" 2>&1; \
	done; \
	echo "== systemd units"; \
	if command -v systemd-analyze >/dev/null 2>&1; then \
	  mkdir "$$tmp/units"; \
	  for u in deploy/systemd/*.service; do \
	    sed -e "s#/usr/local/bin/nats-server#$(CURDIR)/$(BIN)/nats-server#g" \
	        -e "s#/usr/local/bin/#$$tmp/#g" "$$u" >"$$tmp/units/$${u##*/}"; \
	  done; \
	  systemd-analyze verify --man=no "$$tmp"/units/*.service; \
	  echo "systemd-analyze verify: $$(ls deploy/systemd/*.service | tr '\n' ' ')ok"; \
	else \
	  echo "SKIPPED: systemd-analyze not installed (apt-get install systemd); units not verified"; \
	fi; \
	echo "== --check-config"; \
	"$$tmp/edgepulse-agent" run --config deploy/agent.yaml --check-config && echo " deploy/agent.yaml"; \
	"$$tmp/edgepulse-aggregator" --config deploy/aggregator.yaml --check-config && echo " deploy/aggregator.yaml"; \
	echo "== k8s manifests"; \
	mkdir "$$tmp/cm"; \
	$(GO) run ./deploy/check -configmaps "$$tmp/cm" deploy/k8s/*.yaml; \
	"$$tmp/edgepulse-aggregator" --config "$$tmp/cm/aggregator.yaml" --check-config && echo " deploy/k8s/aggregator.yaml ConfigMap aggregator.yaml"; \
	echo "== hub tier leaf permissions on real nats-server processes"; \
	$(GO) test -count=1 -run TestLeafSitePermissions ./deploy/check/ >"$$tmp/perm.log" 2>&1 || { cat "$$tmp/perm.log"; exit 1; }; tail -n 1 "$$tmp/perm.log"; \
	echo "== deploy/redis-sentinel and deploy/redis-cluster on real redis-server processes"; \
	$(GO) test -count=1 -v -run TestRedisConfigs ./deploy/check/ >"$$tmp/redis.log" 2>&1 || { cat "$$tmp/redis.log"; exit 1; }; grep -E '^(--- |ok|.*SKIP)' "$$tmp/redis.log"; \
	echo "deploy-check: all ok"
