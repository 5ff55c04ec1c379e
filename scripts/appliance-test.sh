#!/usr/bin/env bash
# The appliance checks of CI (issue 12), run by .ci/run after the test suite:
#
#   unit     systemd-analyze verify + security --offline=true on the unit (exposure <= 2.0),
#            the notify-protocol and config/credentials tests
#   sandbox  the real LiteAV SDK under the unit's MemoryDenyWriteExecute= and syscall
#            filter (scripts/sandbox-sdk-check.sh: prctl + seccomp, inside unshare -n)
#   install  scripts/install.sh into a temporary DESTDIR and back out
#   deb      scripts/package.sh amd64 and arm64, lintian without errors, the amd64 package
#            installed with dpkg -i, --check-config on its config, then purged
#   arm64    the library's unit tests for aarch64 under qemu-user, and one real call with
#            the aarch64 gateway under qemu (sipp on the host as the phone, audio checked
#            by frequency both ways)
#
#   scripts/appliance-test.sh [unit|sandbox|install|deb|arm64|all]...   (default: all)
#
# Needs root (apt, dpkg -i). Cross-build and cargo-deb caches live under ~/.cache.
set -euo pipefail
cd "$(dirname "$0")/.."

steps=("$@")
[ ${#steps[@]} -gt 0 ] || steps=(all)
want() {
    local s
    for s in "${steps[@]}"; do [ "$s" = all ] || [ "$s" = "$1" ] && return 0; done
    return 1
}
say() { echo "appliance-test: $*" >&2; }
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

LITEAV_DIR="$(bash scripts/fetch-liteav.sh | tail -n 1)"
export LITEAV_DIR
target_dir="${CARGO_TARGET_DIR:-target}"
started=$SECONDS

if want unit; then
    t=$SECONDS
    cargo build --release --bin trtc-sipgw >&2
    # verify checks that ExecStart= exists: point it at the binary just built. The
    # template unit (one process per node) is checked as its instance 1.
    for unit in trtc-sipgw.service trtc-sipgw@1.service; do
        sed "s#/usr/bin/trtc-sipgw#$(readlink -f "$target_dir/release/trtc-sipgw")#" \
            "systemd/${unit/@1/@}" >"$tmp/$unit"
        systemd-analyze verify "$tmp/$unit"
        security="$(systemd-analyze security --offline=true "$tmp/$unit" 2>&1)"
        exposure="$(sed -n "s/.*Overall exposure level for $unit: \([0-9.]*\).*/\1/p" <<<"$security")"
        say "systemd-analyze security --offline=true $unit: exposure $exposure"
        if [ -z "$exposure" ] || ! awk -v e="$exposure" 'BEGIN { exit !(e <= 2.0) }'; then
            echo "$security" >&2
            say "FAIL: $unit exposure ${exposure:-unknown} > 2.0"
            exit 1
        fi
    done
    cargo test --release --test appliance_notify --test appliance_config >&2
    say "unit: ok ($((SECONDS - t)) s)"
fi

if want sandbox; then
    t=$SECONDS
    cargo build --release --bin trtc-sipgw >&2
    /usr/bin/python3 -c 'import seccomp' 2>/dev/null ||
        DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=900 install -y -q --no-install-recommends python3-seccomp >&2
    bash scripts/sandbox-sdk-check.sh "$target_dir/release/trtc-sipgw" \
        "$target_dir/release/libsipgw_trtc_shim.so" "$LITEAV_DIR"
    say "sandbox: ok ($((SECONDS - t)) s)"
fi

if want install; then
    t=$SECONDS
    cargo build --release --bin trtc-sipgw >&2
    dest="$tmp/destdir"
    mkdir -p "$dest/etc"
    touch "$dest/etc/not-ours" # must survive --uninstall
    for _ in 1 2; do           # twice: idempotent
        DESTDIR="$dest" bash scripts/install.sh --prefix /usr/local
    done
    for f in usr/local/bin/trtc-sipgw usr/local/bin/trtc-sipgw-fetch-sdk usr/local/bin/trtc-sipgw-check \
        usr/local/lib/trtc-sipgw/fetch-liteav.sh etc/systemd/system/trtc-sipgw.service \
        etc/systemd/system/trtc-sipgw@.service \
        etc/trtc-sipgw/config.toml; do
        [ -f "$dest/$f" ] || { say "FAIL: install.sh did not install /$f"; exit 1; }
    done
    [ "$(stat -c %a "$dest/etc/trtc-sipgw/credentials")" = 700 ] || { say "FAIL: credentials dir not 0700"; exit 1; }
    grep -q "^ExecStart=/usr/local/bin/trtc-sipgw " "$dest/etc/systemd/system/trtc-sipgw.service" ||
        { say "FAIL: unit not pointed at the prefix"; exit 1; }
    "$dest/usr/local/bin/trtc-sipgw" --check-config "$dest/etc/trtc-sipgw/config.toml" >/dev/null
    TRTC_SIPGW_CREDENTIALS="$dest/etc/trtc-sipgw/credentials" \
        "$dest/usr/local/bin/trtc-sipgw-check" "$dest/etc/trtc-sipgw/config.toml" >/dev/null
    # trtc-sipgw-fetch-sdk finds fetch-liteav.sh beside it (here: the SDK already cached).
    got="$(LITEAV_DIR="$LITEAV_DIR" "$dest/usr/local/bin/trtc-sipgw-fetch-sdk" | tail -n 1)"
    [ "$got" = "$LITEAV_DIR" ] || { say "FAIL: trtc-sipgw-fetch-sdk printed $got"; exit 1; }
    DESTDIR="$dest" bash scripts/install.sh --prefix /usr/local --uninstall
    left="$(cd "$dest" && find . -mindepth 1 | sort | tr '\n' ' ')"
    if [ "$left" != "./etc ./etc/not-ours " ]; then
        say "FAIL: after --uninstall the DESTDIR holds: $left"
        exit 1
    fi
    say "install: ok ($((SECONDS - t)) s)"
fi

if want deb; then
    t=$SECONDS
    command -v lintian >/dev/null ||
        DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=900 install -y -q --no-install-recommends lintian >&2
    for arch in amd64 arm64; do
        deb="$(bash scripts/package.sh "$arch" | tail -n 1)"
        say "$arch package: $deb"
        lintian --fail-on error "$deb" >&2 || { say "FAIL: lintian errors in $deb"; exit 1; }
        [ "$arch" = amd64 ] && amd64_deb="$deb"
    done
    dpkg -i "$amd64_deb" >&2
    dpkg-query -W -f='${Conffiles}\n' trtc-sipgw | grep -q /etc/trtc-sipgw/config.toml ||
        { say "FAIL: /etc/trtc-sipgw/config.toml is not a conffile"; exit 1; }
    trtc-sipgw --check-config /etc/trtc-sipgw/config.toml >&2
    trtc-sipgw-check >/dev/null
    dpkg --purge trtc-sipgw >&2
    for gone in /usr/bin/trtc-sipgw /etc/trtc-sipgw /lib/systemd/system/trtc-sipgw.service; do
        [ ! -e "$gone" ] || { say "FAIL: $gone left after purge"; exit 1; }
    done
    say "deb: ok ($((SECONDS - t)) s)"
fi

if want arm64; then
    t=$SECONDS
    bin="$(bash scripts/cross-build.sh arm64 | tail -n 1)"
    qemu-aarch64 "$bin" --version >&2
    unit="$(bash scripts/cross-build.sh arm64 --tests | tail -n 1)"
    # The library's unit tests, for aarch64, under qemu-user.
    qemu-aarch64 "$unit" --test-threads 2 >&2
    # One real call: the aarch64 gateway under qemu, sipp on the host as the phone.
    cat >"$tmp/gateway-arm64" <<WRAP
#!/bin/sh
exec qemu-aarch64 "$bin" "\$@"
WRAP
    chmod +x "$tmp/gateway-arm64"
    SIPGW_TEST_BINARY="$tmp/gateway-arm64" cargo test --release --test e2e_sipp_call \
        phone_rings_progresses_answers_streams_and_hangs_up -- --exact >&2
    say "arm64: ok ($((SECONDS - t)) s)"
fi
say "all asked steps passed in $((SECONDS - started)) s"
