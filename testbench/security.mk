# Security checks (testbench/security): site A writing as site B or an
# agent as another host through real nats-server leaves with per-site
# credentials, plaintext / wrong-CA / certificate-less leaves against the
# hub's mutual TLS, then every decoder's fuzz target for an even share of
# FUZZTIME (total). Ends with one line:
#   RESULT rejected_cross_site=… accepted_cross_site=… fuzz_crashes=… tls_plaintext_refused=…
# SECURITY_FLAGS passes options, e.g. SECURITY_FLAGS='-save-corpus 64 -parallel 2'.
# The quick subset (no fuzzing) runs in make test: TestCrossSiteAndTLS.
.PHONY: security

SECURITY_FUZZTIME ?= 10m
SECURITY_FLAGS ?=

security:
	$(GO) run ./testbench/security/cmd/edgepulse-security -fuzztime $(if $(filter command line,$(origin FUZZTIME)),$(FUZZTIME),$(SECURITY_FUZZTIME)) $(SECURITY_FLAGS)
