#!/usr/bin/env bash
# Cross-builds the gateway (and its trtc shim, against the SDK's arm64 libraries) for
# aarch64 on an x86_64 Debian 12 machine, with Debian's own Rust (rustup cannot fetch
# other targets here); recipe and traps: the ARM64 notes in the shared reference.
#
#   scripts/cross-build.sh arm64            # last line of stdout: the aarch64 binary
#   scripts/cross-build.sh arm64 --tests    # also builds the library's unit tests; the
#                                           # last line is then the unit-test binary
#
# Installs what it needs (needs root, as in CI). Its target directory is separate from
# the host build's: $CROSS_TARGET_DIR, default ~/.cache/trtc-sipgw/cross-target.
# Run results with `qemu-aarch64 BINARY` and without `-L /usr/aarch64-linux-gnu`
# (with it, qemu loads the cross toolchain's glibc and thread creation hangs).
set -euo pipefail
cd "$(dirname "$0")/.."

arch="${1:-}"
case "$arch" in
    arm64 | aarch64) triple=aarch64-unknown-linux-gnu ;;
    *) echo "usage: scripts/cross-build.sh arm64 [--tests]" >&2; exit 2 ;;
esac
tests=0
[ "${2:-}" = "--tests" ] && tests=1

need=()
[ -x /usr/bin/cargo ] && [ -x /usr/bin/rustc ] || need+=(rustc-web cargo-web)
[ -d /usr/lib/rustlib/$triple ] || need+=(libstd-rust-web-dev:arm64)
command -v aarch64-linux-gnu-g++ >/dev/null || need+=(gcc-aarch64-linux-gnu g++-aarch64-linux-gnu libc6-dev-arm64-cross)
[ -f /usr/lib/aarch64-linux-gnu/pkgconfig/opus.pc ] || need+=(libopus-dev:arm64)
command -v qemu-aarch64 >/dev/null || need+=(qemu-user)
if [ ${#need[@]} -gt 0 ]; then
    echo "cross-build: installing ${need[*]}" >&2
    dpkg --print-foreign-architectures | grep -qx arm64 || dpkg --add-architecture arm64
    export DEBIAN_FRONTEND=noninteractive
    apt-get -o DPkg::Lock::Timeout=900 update -q >&2
    apt-get -o DPkg::Lock::Timeout=900 install -y -q --no-install-recommends "${need[@]}" >&2
fi

# The SDK's arm64 libraries, for the shim (proprietary: a cache outside git).
LITEAV_DIR="$(LITEAV_ARCH=arm64 LITEAV_DIR="${LITEAV_ARM64_DIR:-}" bash scripts/fetch-liteav.sh | tail -n 1)"
export LITEAV_DIR

export RUSTC=/usr/bin/rustc # Debian's rustc with the aarch64 std, not rustup's shim
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
export CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc
export CXX_aarch64_unknown_linux_gnu=aarch64-linux-gnu-g++
export PKG_CONFIG_ALLOW_CROSS=1 PKG_CONFIG_PATH=/usr/lib/aarch64-linux-gnu/pkgconfig
export CARGO_TARGET_DIR="${CROSS_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/trtc-sipgw/cross-target}"
# Unit tests and the call under qemu run the binaries with qemu-aarch64 (no -L).
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER=qemu-aarch64

/usr/bin/cargo build --release --target "$triple" --bin trtc-sipgw >&2
out="$CARGO_TARGET_DIR/$triple/release"
if [ ! -f "$out/libsipgw_trtc_shim.so" ]; then
    echo "cross-build: the trtc shim was not built for $triple (see the cargo warnings)" >&2
    exit 1
fi
if [ "$tests" = 1 ]; then
    unit="$(/usr/bin/cargo test --release --target "$triple" --lib --no-run --message-format=json 2>/dev/null |
        sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -n 1)"
    [ -n "$unit" ] || { echo "cross-build: no unit-test binary" >&2; exit 1; }
    echo "$unit"
    exit 0
fi
echo "$out/trtc-sipgw"
