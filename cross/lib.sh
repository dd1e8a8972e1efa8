# shellcheck shell=bash
# cross/lib.sh: shared by cross/build.sh and cross/test.sh (sourced, not run).
# It sets globals for its callers (TRIPLET, SYSROOT, QEMU, TAGS_X, ...):
# shellcheck disable=SC2034
#
# Targets are named <os>-<arch> as in bin/: linux-amd64, linux-arm64 and
# linux-armv7 (GOARCH=arm GOARM=7, hard-float EABI5). For each one,
# target_env sets the Go and C toolchain variables; the C side uses Debian's
# cross compilers (gcc-<triplet>) and their glibc (libc6-dev-<arch>-cross).

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TARGETS=(linux-amd64 linux-arm64 linux-armv7)

# Build tags of every cgo build:
#   cgoqueue        the C11 queue (edge/queue/mpsc.c) backs queue.Queue;
#   netgo,osusergo  Go's own DNS resolver and user lookup, so a static glibc
#                   link pulls in no NSS code (which would need the build
#                   host's shared glibc at run time on the target).
CGO_TAGS="cgoqueue,netgo,osusergo"
# A static link (glibc's libc.a from the cross sysroot): the binary runs on
# any distribution of the architecture. CROSS_STATIC=0 links dynamically
# (then the target needs glibc >= the one in the cross sysroot).
CROSS_STATIC="${CROSS_STATIC:-1}"

step() { printf '\n==> %s\n' "$*"; }
info() { printf '    %s\n' "$*"; }
# show CMD...: prints a command line, quoted so it can be pasted into a shell.
show() {
	local w line='    $'
	for w in "$@"; do
		if [[ $w =~ ^[A-Za-z0-9_./:=,+@%-]+$ ]]; then
			line+=" $w"
		else
			line+=" '${w//\'/\'\\\'\'}'"
		fi
	done
	printf '%s\n' "$line"
}
die() {
	printf 'cross: %s\n' "$*" >&2
	exit 1
}

# host_deb_arch prints the host's Debian architecture (amd64, arm64, ...).
host_deb_arch() { dpkg --print-architecture 2>/dev/null || echo unknown; }

# target_env TARGET: exports GOOS GOARCH GOARM CC and sets the globals
# TRIPLET, SYSROOT, QEMU (emulator for the target, empty when native) and
# DEB_ARCH.
target_env() {
	unset GOARM
	export GOOS=linux
	case "$1" in
	linux-amd64)
		export GOARCH=amd64
		TRIPLET=x86_64-linux-gnu DEB_ARCH=amd64 QEMU=
		;;
	linux-arm64)
		export GOARCH=arm64
		TRIPLET=aarch64-linux-gnu DEB_ARCH=arm64 QEMU=qemu-aarch64
		;;
	linux-armv7)
		# GOARM=7 is ARMv7 with VFPv3 (hard float); Debian's armhf gcc
		# defaults to -march=armv7-a+fp -mfloat-abi=hard, so C and Go agree.
		export GOARCH=arm GOARM=7
		TRIPLET=arm-linux-gnueabihf DEB_ARCH=armhf QEMU=qemu-arm
		;;
	*) die "unknown target $1 (want one of: ${TARGETS[*]})" ;;
	esac
	export CC="$TRIPLET-gcc"
	SYSROOT="/usr/$TRIPLET"
	if [[ "$(host_deb_arch)" == "$DEB_ARCH" ]]; then
		QEMU=
		SYSROOT=/
	fi
}

# target_pkgs TARGET: the Debian packages that give TARGET's C toolchain.
target_pkgs() {
	target_env "$1"
	if [[ "$(host_deb_arch)" == "$DEB_ARCH" ]]; then
		echo gcc libc6-dev
		return
	fi
	local p=${TRIPLET//_/-} # gcc-x86-64-linux-gnu has dashes only
	echo "gcc-$p libc6-dev-$DEB_ARCH-cross"
}

# ensure_pkgs PKG...: installs the missing packages when root, otherwise
# prints the exact command and fails.
ensure_pkgs() {
	local missing=() p
	for p in "$@"; do
		if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
			missing+=("$p")
		fi
	done
	if ((${#missing[@]} == 0)); then
		info "apt packages present: $*"
		return
	fi
	local cmd="apt-get update && apt-get install -y --no-install-recommends ${missing[*]}"
	if [[ "$(id -u)" != 0 ]] || ! command -v apt-get >/dev/null; then
		die "missing packages: ${missing[*]}; install them with: sudo sh -c '$cmd'"
	fi
	info "installing missing apt packages: ${missing[*]}"
	apt-get update -q
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
}

# cgo_ldflags: extra C link flags for the current target. The C queue uses
# 64-bit C11 atomics; where the compiler turns them into __atomic_* library
# calls (some 32-bit targets) they live in libatomic. Probe by compiling
# mpsc.c and looking for such undefined symbols, rather than guessing per
# architecture. (armv7 with Debian's gcc inlines them with ldrexd/strexd;
# arm64 uses libgcc's __aarch64_cas8_* outline atomics, linked implicitly.)
cgo_ldflags() {
	local obj
	obj="$(mktemp --suffix=.o)"
	"$CC" -O2 -std=c11 -c "$ROOT/edge/queue/mpsc.c" -o "$obj" ||
		die "$CC cannot compile edge/queue/mpsc.c"
	if nm -u "$obj" | grep -E '__atomic_|__sync_' >/dev/null; then
		echo -latomic
	fi
	rm -f "$obj"
}

# go_build_flags CGO: for the current target with cgo on (CGO=1) or off
# (CGO=0), exports CGO_ENABLED and CGO_LDFLAGS and sets TAGS_X (the -tags
# value, maybe empty) and LINK_X (extra -ldflags for the Go linker).
go_build_flags() {
	export CGO_ENABLED="$1"
	TAGS_X="" LINK_X=""
	if [[ "$1" == 1 ]]; then
		local extra
		extra="$(cgo_ldflags)"
		export CGO_LDFLAGS="-O2 -g${extra:+ $extra}"
		TAGS_X="$CGO_TAGS"
		if [[ "$CROSS_STATIC" == 1 ]]; then
			LINK_X="-linkmode external -extldflags -static"
		fi
	else
		unset CGO_LDFLAGS
	fi
}

# env_words: sets the array ENV_X to the NAME=value words of the current
# target's toolchain environment, for printing commands.
env_words() {
	ENV_X=(GOOS="$GOOS" GOARCH="$GOARCH")
	if [[ -n ${GOARM:-} ]]; then ENV_X+=(GOARM="$GOARM"); fi
	ENV_X+=(CGO_ENABLED="$CGO_ENABLED")
	if [[ $CGO_ENABLED == 1 ]]; then ENV_X+=(CC="$CC" CGO_LDFLAGS="$CGO_LDFLAGS"); fi
}
