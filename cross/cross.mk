# cross/cross.mk, included by the root Makefile.
#   make cross        edgepulse-agent for linux-amd64, linux-arm64, linux-armv7,
#                     cgo (C queue, static) and nocgo, into bin/<os>-<arch>/
#   make cross-test   codec, detect, ring, edge/queue, edge/rollup tests and
#                     `edgepulse-agent collect --once` under qemu-user
# See cross/README.md.
.PHONY: cross cross-test

cross:
	VERSION='$(VERSION)' GO='$(GO)' cross/build.sh

cross-test: cross
	GO='$(GO)' cross/test.sh
