#!/usr/bin/env bash
# cross/test.sh: runs the tests of the portable packages and the agent
# itself on arm64 and armv7 under qemu-user (Debian qemu-user-static).
#
# For each target (default linux-arm64 linux-armv7):
#   1. `go test -c` each package in PKGS for the target with cgo on (the
#      cross gcc, -tags cgoqueue,netgo,osusergo, static glibc) and, for the
#      packages in NOCGO_PKGS, also with CGO_ENABLED=0 (the pure-Go queue);
#      run each test binary under qemu in its package directory (testdata
#      resolves as with go test). A package that does not exist yet or has
#      no test files is SKIPPED; one that fails to build or to pass FAILS.
#   2. run bin/<target>/edgepulse-agent{,-nocgo} (from make cross) under
#      qemu: `version` must print the stamp, `collect --once` must print
#      series read from the host's /proc (qemu-user passes /proc through).
# Test logs: bin/cross-test/<target>/*.log. Exits non-zero if anything
# failed. Environment: CROSS_TEST_SHORT_PKGS (packages run with -test.short,
# default ./ring and ./detect, the slow ones under emulation: detect's
# false-alarm-rate tests score a million rows, 11 s natively, and run in
# full in make test; "all" for every package, "" for none),
# CROSS_TEST_TIMEOUT (per test binary, default 20m).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

GO="${GO:-go}"
PKGS=(./codec ./detect ./ring ./edge/queue ./edge/rollup ./edge/collect ./edge/spool ./edge/forward ./edge/agent)
NOCGO_PKGS=(./edge/queue)
SHORT_PKGS="${CROSS_TEST_SHORT_PKGS-./ring ./detect}"
TIMEOUT="${CROSS_TEST_TIMEOUT:-20m}"
# The stamp make cross built with (bin/cross-version, written by build.sh).
VERSION="$(cat bin/cross-version 2>/dev/null || echo "${VERSION:-unknown: run make cross}")"
targets=("$@")
((${#targets[@]})) || targets=(linux-arm64 linux-armv7)

passed=0 failed=0 skipped=0
results=()
result() { # result STATUS WHAT [NOTE]
	results+=("$(printf '%-5s %-46s %s' "$1" "$2" "${3:-}")")
	case "$1" in
	PASS) passed=$((passed + 1)) ;;
	FAIL) failed=$((failed + 1)) ;;
	SKIP) skipped=$((skipped + 1)) ;;
	esac
	printf '    %s %s %s\n' "$1" "$2" "${3:-}"
}

in_list() { # in_list WORD LIST...
	local w=$1 x
	shift
	for x in "$@"; do [[ $x == "$w" ]] && return 0; done
	return 1
}

step "toolchains and emulators"
command -v "$GO" >/dev/null || die "no go on PATH"
info "$("$GO" version)"
pkgs=(qemu-user-static binutils)
for t in "${targets[@]}"; do
	read -ra p <<<"$(target_pkgs "$t")"
	pkgs+=("${p[@]}")
done
ensure_pkgs "${pkgs[@]}"

# qemu_cmd TARGET: prints the emulator command line for TARGET (nothing
# when native); -L points qemu at the cross sysroot, which only dynamic
# binaries need.
qemu_cmd() {
	target_env "$1"
	[[ -n $QEMU ]] || return 0
	local q
	q="$(command -v "$QEMU-static" || command -v "$QEMU")" || die "no $QEMU-static or $QEMU on PATH"
	echo "$q -L $SYSROOT"
}

# run_on TARGET CMD...: runs CMD natively or under the target's qemu.
run_on() {
	local q
	read -ra q <<<"$(qemu_cmd "$1")"
	shift
	"${q[@]}" "$@"
}

# test_pkg TARGET PKG VARIANT: builds and runs PKG's test binary.
test_pkg() {
	local t=$1 pkg=$2 variant=$3
	local name="$t ${pkg#./} ($variant)"
	local dir="$ROOT/${pkg#./}"
	local out="$ROOT/bin/cross-test/$t"
	local base
	base="$(tr / _ <<<"${pkg#./}")"
	if [[ $variant == nocgo ]]; then base+=-nocgo; fi
	local bin="$out/$base.test" log="$out/$base.log"
	mkdir -p "$out"
	rm -f "$bin"

	if [[ ! -d $dir ]]; then
		result SKIP "$name" "package does not exist yet"
		return
	fi
	if ! compgen -G "$dir/*_test.go" >/dev/null; then
		result SKIP "$name" "no test files"
		return
	fi

	target_env "$t"
	if [[ $variant == cgo ]]; then go_build_flags 1; else go_build_flags 0; fi
	local args=(test -c -trimpath -o "$bin")
	[[ -n $TAGS_X ]] && args+=(-tags "$TAGS_X")
	[[ -n $LINK_X ]] && args+=(-ldflags "$LINK_X")
	step "$name: build"
	env_words
	show env "${ENV_X[@]}" "$GO" "${args[@]}" "$pkg"
	if ! "$GO" "${args[@]}" "$pkg" >"$log" 2>&1; then
		cat "$log"
		result FAIL "$name" "test binary does not build (log: ${log#"$ROOT"/})"
		return
	fi
	if [[ ! -f $bin ]]; then
		cat "$log"
		result SKIP "$name" "no tests for this target"
		return
	fi

	local targs=(-test.v -test.timeout "$TIMEOUT") mode=full
	local short
	read -ra short <<<"$SHORT_PKGS"
	if [[ $SHORT_PKGS == all ]] || in_list "$pkg" "${short[@]}"; then
		targs+=(-test.short)
		mode=short
	fi
	step "$name: run under ${QEMU:-native} ($mode), in ${pkg#./}"
	local q
	read -ra q <<<"$(qemu_cmd "$t")"
	show "${q[@]}" "$bin" "${targs[@]}"
	local start=$SECONDS rc=0
	# Tests that re-execute their own binary (the spool's kill test) run
	# the child under the same emulator: EDGEPULSE_TEST_EXEC is the prefix.
	(cd "$dir" && EDGEPULSE_TEST_EXEC="${q[*]}" run_on "$t" "$bin" "${targs[@]}") >"$log" 2>&1 || rc=$?
	local secs=$((SECONDS - start))
	local npass nfail
	npass=$(grep -c '^--- PASS' "$log" || true)
	nfail=$(grep -c '^--- FAIL' "$log" || true)
	if ((rc != 0)); then
		# The failing tests with their messages, then how the run ended.
		info "failures:"
		grep -E '^\s*--- FAIL|^\s+[a-zA-Z0-9_]+\.go:[0-9]+: |^panic:|^fatal error' "$log" | head -60 || true
		info "end of the log:"
		tail -15 "$log"
		result FAIL "$name" "exit $rc, $nfail of $((npass + nfail)) top-level tests failed, ${secs}s, $mode (log: ${log#"$ROOT"/})"
		return
	fi
	tail -1 "$log" | sed 's/^/    /'
	# The point of running edge/queue with cgo is the C ring: its subtests
	# (named .../cgo/...) must have run.
	if [[ $pkg == ./edge/queue && $variant == cgo ]]; then
		local ncgo
		ncgo=$(grep -cE -- '--- PASS: [^ ]*/cgo(/| )' "$log" || true)
		info "C ring subtests passed: $ncgo"
		if ((ncgo == 0)); then
			result FAIL "$name" "passed, but no C ring (…/cgo/…) subtest ran"
			return
		fi
	fi
	result PASS "$name" "$npass top-level tests, ${secs}s, $mode"
}

# check_agent TARGET BINARY: version stamp and one collection.
check_agent() {
	local t=$1 bin=$2
	local name="${bin#bin/}"
	if [[ ! -x $bin ]]; then
		result FAIL "$name" "$bin missing (run make cross)"
		return
	fi
	step "$name: version and collect --once"
	local got
	got="$(run_on "$t" "$bin" version 2>&1)" || true
	info "version: $got"
	if [[ $got != "edgepulse-agent $VERSION" ]]; then
		result FAIL "$name version" "printed '$got', want 'edgepulse-agent $VERSION'"
	else
		result PASS "$name version" "$got"
	fi

	local out err rc=0
	out="$(mktemp)" err="$(mktemp)"
	local q
	read -ra q <<<"$(qemu_cmd "$t")"
	show "${q[@]}" "$bin" collect --once --procfs /proc
	run_on "$t" "$bin" collect --once --procfs /proc >"$out" 2>"$err" || rc=$?
	# Sample lines are `name{labels} value` (Prometheus text format).
	local samples missing=() m
	samples=$(grep -cE '^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[^}]*\})? [-+0-9.eEaNInf]+$' "$out" || true)
	for m in node_cpu_seconds_total node_memory_MemTotal_bytes node_load1; do
		grep -q "^${m}[{ ]" "$out" || missing+=("$m")
	done
	# awk reads the whole file: `grep | head` dies of SIGPIPE under pipefail.
	awk '!/^#/ && n < 3 { print "      " $0; n++ }' "$out"
	info "... $samples sample lines, $(grep -c '^# TYPE' "$out" || true) metric families"
	if ((rc != 0 || samples < 10 || ${#missing[@]} > 0)); then
		awk 'NR <= 20 { print "      stderr: " $0 }' "$err"
		result FAIL "$name collect" "exit $rc, $samples samples, missing: ${missing[*]:-none}"
	else
		result PASS "$name collect" "$samples samples"
	fi
	rm -f "$out" "$err"
}

for t in "${targets[@]}"; do
	for pkg in "${PKGS[@]}"; do
		test_pkg "$t" "$pkg" cgo
		if in_list "$pkg" "${NOCGO_PKGS[@]}"; then
			test_pkg "$t" "$pkg" nocgo
		fi
	done
	check_agent "$t" "bin/$t/edgepulse-agent"
	check_agent "$t" "bin/$t/edgepulse-agent-nocgo"
done

step "cross-test summary"
printf '%s\n' "${results[@]}"
echo "cross-test: $passed passed, $failed failed, $skipped skipped"
((failed == 0))
