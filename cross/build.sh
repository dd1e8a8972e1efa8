#!/usr/bin/env bash
# cross/build.sh: builds edgepulse-agent for linux-amd64, linux-arm64 and
# linux-armv7, each with cgo (the C11 queue, statically linked against the
# cross glibc) and without (pure-Go queue), stripped and version stamped:
#
#   bin/<os>-<arch>/edgepulse-agent         cgo on, -tags cgoqueue,netgo,osusergo, static
#   bin/<os>-<arch>/edgepulse-agent-nocgo   CGO_ENABLED=0, pure-Go queue, static
#
# then checks each with `file` and prints a size table. Usage (from make):
#   VERSION=v1.2.3 cross/build.sh [TARGET...]     default: all three targets
# Environment: VERSION (default: git describe), CROSS_STATIC=0 for dynamic
# cgo binaries, CROSS_MAX_ARM64_BYTES (default 15000000) the size budget of
# the cgo arm64 agent.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

GO="${GO:-go}"
PKG=./edge/cmd/edgepulse-agent
MAX_ARM64="${CROSS_MAX_ARM64_BYTES:-15000000}"
VERSION="${VERSION:-$(git describe --always --dirty 2>/dev/null || echo dev)}"
targets=("$@")
((${#targets[@]})) || targets=("${TARGETS[@]}")

step "toolchains"
command -v "$GO" >/dev/null || die "no go on PATH"
info "$("$GO" version)"
pkgs=(file binutils)
for t in "${targets[@]}"; do
	read -ra p <<<"$(target_pkgs "$t")"
	pkgs+=("${p[@]}")
done
ensure_pkgs "${pkgs[@]}"

# expect_file TARGET: the `file` substring that says the right machine.
expect_file() {
	case "$1" in
	linux-amd64) echo "ELF 64-bit LSB .*x86-64" ;;
	linux-arm64) echo "ELF 64-bit LSB .*ARM aarch64" ;;
	linux-armv7) echo "ELF 32-bit LSB .*ARM, EABI5" ;;
	esac
}

built=()
for t in "${targets[@]}"; do
	target_env "$t"
	mkdir -p "bin/$t"
	for variant in cgo nocgo; do
		out="bin/$t/edgepulse-agent"
		if [[ $variant == cgo ]]; then
			go_build_flags 1
		else
			go_build_flags 0
			out+=-nocgo
		fi
		step "build $out ($variant, GOOS=$GOOS GOARCH=$GOARCH${GOARM:+ GOARM=$GOARM}, CGO_ENABLED=$CGO_ENABLED${TAGS_X:+, CC=$CC})"
		args=(build -trimpath -o "$out" -ldflags "-s -w -X main.version=$VERSION${LINK_X:+ $LINK_X}")
		[[ -n $TAGS_X ]] && args+=(-tags "$TAGS_X")
		env_words
		show env "${ENV_X[@]}" "$GO" "${args[@]}" "$PKG"
		"$GO" "${args[@]}" "$PKG"

		# The binary is for the right machine, static, and (cgo) really
		# has the C queue: the build info records the tags and the C
		# function's cgo wrapper is in the binary.
		desc="$(file -b "$out")"
		info "file: $desc"
		[[ $desc =~ $(expect_file "$t") ]] || die "$out: file says '$desc', want $(expect_file "$t")"
		if [[ $variant == nocgo || $CROSS_STATIC == 1 ]]; then
			[[ $desc == *"statically linked"* ]] || die "$out is not statically linked"
		fi
		if [[ $t == linux-armv7 && $variant == cgo ]]; then
			flags="$(readelf -h "$out" | sed -n 's/^ *Flags: *//p')"
			info "readelf flags: $flags"
			[[ $flags == *hard-float* ]] || die "$out: ELF flags '$flags' are not hard-float"
		fi
		buildinfo="$("$GO" version -m "$out")"
		if [[ $variant == cgo ]]; then
			grep -q 'CGO_ENABLED=1' <<<"$buildinfo" || die "$out: build info lacks CGO_ENABLED=1"
			grep -q -- '-tags=.*cgoqueue' <<<"$buildinfo" || die "$out: build info lacks the cgoqueue tag"
			grep -aq ep_push_batch "$out" || die "$out: no ep_push_batch (the C queue) in the binary"
			info "C queue compiled in (cgoqueue tag, ep_push_batch present)"
		else
			grep -q 'CGO_ENABLED=0' <<<"$buildinfo" || die "$out: build info lacks CGO_ENABLED=0"
		fi
		if [[ -z $QEMU ]]; then
			got="$("./$out" version)"
			[[ $got == "edgepulse-agent $VERSION" ]] || die "$out version printed '$got', want 'edgepulse-agent $VERSION'"
			info "version: $got"
		fi
		built+=("$out")
	done
done

# cross/test.sh checks the binaries against the stamp they were built with.
echo "$VERSION" >bin/cross-version

step "binaries (version $VERSION)"
printf '%-40s %10s %8s  %s\n' binary bytes MiB file
for out in "${built[@]}"; do
	size=$(stat -c %s "$out")
	printf '%-40s %10d %8.2f  %s\n' "$out" "$size" "$(awk -v s="$size" 'BEGIN { print s / 1048576 }')" "$(file -b "$out" | sed 's/, BuildID\[sha1\]=[0-9a-f]*//; s/, Go BuildID=[^,]*//')"
done

arm64=bin/linux-arm64/edgepulse-agent
if [[ -f $arm64 ]]; then
	size=$(stat -c %s "$arm64")
	((size <= MAX_ARM64)) || die "$arm64 is $size bytes, over the budget of $MAX_ARM64"
	info "$arm64: $size bytes <= budget $MAX_ARM64"
fi
