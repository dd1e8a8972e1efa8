# The real nats CLI (natscli v0.3.0, built from the module with its own
# go.mod: testbench/natscli/build.sh), for watching a stack by hand and for
# TestNATSCLI. Kept once built for the same version.
.PHONY: nats-cli
nats-cli: $(BIN)/nats
$(BIN)/nats:
	testbench/natscli/build.sh $@
