#!/usr/bin/env bash
# Fetches Tencent's LiteAV server SDK (PyPI package `liteav`, proprietary licence) into a
# cache directory outside git, so the gateway's `trtc` room backend can be built and run.
#
#   bash scripts/fetch-liteav.sh        # last line of stdout: the directory holding libliteav.so
#
# Layout of the cache directory (default ${XDG_CACHE_HOME:-$HOME/.cache}/trtc-sipgw/liteav-<version>,
# or $LITEAV_DIR):
#   include/liteav_premier.h, include/trtc/*.h     the SDK's C++ headers
#   libliteav.so, libtxffmpeg.so                   the host architecture's libraries
#
# Idempotent: does nothing when the directory already holds a complete unpack. Never copy
# these files into the repository.
set -euo pipefail

LITEAV_VERSION="13.2.0.24212"
# sha256 of liteav-${LITEAV_VERSION}.tar.gz as published on PyPI.
LITEAV_SHA256="9c0f3012792700f71ccfcb99fe315d72cfa3d85cb47d19081e8454bf694c4566"

# LITEAV_ARCH=arm64 fetches the aarch64 libraries on another machine (cross-building,
# scripts/cross-build.sh); its default cache directory gets the architecture as suffix.
suffix=""
if [ -n "${LITEAV_ARCH:-}" ]; then
    suffix="-${LITEAV_ARCH}"
fi
dest="${LITEAV_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/trtc-sipgw/liteav-${LITEAV_VERSION}${suffix}}"

case "${LITEAV_ARCH:-$(uname -m)}" in
    x86_64 | amd64) arch=x86_64 ;;
    aarch64 | arm64) arch=arm64 ;;
    *)
        echo "fetch-liteav: no LiteAV SDK build for $(uname -m) (only x86_64 and aarch64)" >&2
        exit 1
        ;;
esac

complete() {
    [ -f "$dest/libliteav.so" ] && [ -f "$dest/libtxffmpeg.so" ] &&
        [ -f "$dest/include/trtc/liteav_trtc_cloud.h" ] && [ -f "$dest/include/trtc/liteav_trtc_defines.h" ] &&
        [ -f "$dest/.fetched-${LITEAV_VERSION}" ]
}

if complete; then
    echo "fetch-liteav: liteav ${LITEAV_VERSION} already in $dest" >&2
    echo "$dest"
    exit 0
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

pip_cmd=(python3 -m pip)
if ! "${pip_cmd[@]}" --version >/dev/null 2>&1; then
    echo "fetch-liteav: needs python3 with pip" >&2
    exit 1
fi

echo "fetch-liteav: downloading liteav ${LITEAV_VERSION} (sdist) from PyPI" >&2
# The sdist carries the C++ headers and the prebuilt libraries. `--no-binary liteav` takes
# the sdist for liteav only (pip still prepares its metadata; its build requirements come
# as wheels, so nothing is compiled).
"${pip_cmd[@]}" download --quiet --disable-pip-version-check --no-deps \
    --no-binary liteav "liteav==${LITEAV_VERSION}" -d "$work" >&2

sdist="$work/liteav-${LITEAV_VERSION}.tar.gz"
if [ ! -f "$sdist" ]; then
    echo "fetch-liteav: pip did not produce $sdist" >&2
    exit 1
fi
got="$(sha256sum "$sdist" | cut -d' ' -f1)"
if [ "$got" != "$LITEAV_SHA256" ]; then
    echo "fetch-liteav: sha256 mismatch for $sdist: got $got, want $LITEAV_SHA256" >&2
    exit 1
fi

top="liteav-${LITEAV_VERSION}"
tar -xzf "$sdist" -C "$work" \
    "$top/cpp/include" "$top/cpp/lib/$arch/libliteav.so" "$top/cpp/lib/$arch/libtxffmpeg.so" "$top/LICENSE"

mkdir -p "$dest"
stage="$(mktemp -d "$dest/.stage.XXXXXX")"
cp -R "$work/$top/cpp/include" "$stage/include"
cp "$work/$top/cpp/lib/$arch/libliteav.so" "$work/$top/cpp/lib/$arch/libtxffmpeg.so" "$stage/"
cp "$work/$top/LICENSE" "$stage/LICENSE.liteav"
rm -rf "$dest/include"
mv "$stage/include" "$dest/include"
mv "$stage/libliteav.so" "$stage/libtxffmpeg.so" "$stage/LICENSE.liteav" "$dest/"
rmdir "$stage"
touch "$dest/.fetched-${LITEAV_VERSION}"

echo "fetch-liteav: liteav ${LITEAV_VERSION} (${arch}) unpacked into $dest" >&2
echo "$dest"
