#!/usr/bin/env bash
# Builds the Debian package of the gateway for amd64 or arm64 with cargo-deb (metadata in
# Cargo.toml: binary, trtc shim, unit, conffile /etc/trtc-sipgw/config.toml, fetch-sdk,
# README, postinst that starts the service only when --check-config passes).
#
#   scripts/package.sh amd64|arm64     # last line of stdout: the path of the .deb
#
# Installs what it needs (cargo-deb from crates.io, dpkg-dev; for arm64 the cross
# toolchain through scripts/cross-build.sh). The LiteAV SDK is not packaged.
set -euo pipefail
cd "$(dirname "$0")/.."

arch="${1:-}"
case "$arch" in
    amd64 | arm64) ;;
    *) echo "usage: scripts/package.sh amd64|arm64" >&2; exit 2 ;;
esac

if ! command -v dpkg-shlibdeps >/dev/null; then
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=900 install -y -q --no-install-recommends dpkg-dev >&2
fi
if ! cargo deb --version >/dev/null 2>&1; then
    echo "package: installing cargo-deb from crates.io" >&2
    cargo install --locked cargo-deb >&2
fi

if [ "$arch" = amd64 ]; then
    [ "$(uname -m)" = x86_64 ] || { echo "package: amd64 is built on an x86_64 machine" >&2; exit 1; }
    # The shim is built against the SDK (build.rs); without it the package would lack it.
    LITEAV_DIR="$(bash scripts/fetch-liteav.sh | tail -n 1)"
    export LITEAV_DIR
    deb="$(cargo deb | tail -n 1)"
else
    bin="$(bash scripts/cross-build.sh arm64 | tail -n 1)"
    # cross-build.sh's target directory: <dir>/aarch64-unknown-linux-gnu/release/trtc-sipgw
    CARGO_TARGET_DIR="$(dirname "$(dirname "$(dirname "$bin")")")"
    export CARGO_TARGET_DIR
    deb="$(cargo deb --no-build --target aarch64-unknown-linux-gnu | tail -n 1)"
fi
if [ ! -f "$deb" ]; then
    echo "package: cargo deb did not produce a package ($deb)" >&2
    exit 1
fi
echo "$deb"
