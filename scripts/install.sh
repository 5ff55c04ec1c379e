#!/usr/bin/env bash
# Installs the gateway on a box without dpkg (or from a source checkout): the binary, the
# trtc shim (when it was built), trtc-sipgw-fetch-sdk, the systemd unit, a commented
# /etc/trtc-sipgw/config.toml (kept if one is already there) and an empty, root-only
# /etc/trtc-sipgw/credentials/. Idempotent: running it again refreshes what it installed.
#
#   scripts/install.sh [--prefix /usr/local] [--binary PATH] [--shim PATH]
#   scripts/install.sh [--prefix /usr/local] --uninstall
#   DESTDIR=/tmp/stage scripts/install.sh ...      # stage under another root
#
# Everything installed is listed, with its sha256, in
# $DESTDIR$prefix/share/trtc-sipgw/install-manifest; --uninstall removes exactly those
# files (the config only when unchanged since install) and the directories it created
# when they are empty, nothing else. It does not start or enable the service: see README.
set -euo pipefail
cd "$(dirname "$0")/.."

prefix=/usr/local
uninstall=0
target_dir="${CARGO_TARGET_DIR:-target}"
binary=""
shim=""
while [ $# -gt 0 ]; do
    case "$1" in
        --prefix) prefix="${2:?--prefix needs a directory}"; shift 2 ;;
        --prefix=*) prefix="${1#--prefix=}"; shift ;;
        --binary) binary="${2:?--binary needs a file}"; shift 2 ;;
        --shim) shim="${2:?--shim needs a file}"; shift 2 ;;
        --uninstall) uninstall=1; shift ;;
        -h | --help) sed -n '2,16p' "$0"; exit 0 ;;
        *) echo "install.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
case "$prefix" in
    /*) ;;
    *) echo "install.sh: --prefix must be absolute, not $prefix" >&2; exit 2 ;;
esac
prefix="${prefix%/}"
root="${DESTDIR:-}"
root="${root%/}"

libdir="$prefix/lib/trtc-sipgw"
sharedir="$prefix/share/trtc-sipgw"
manifest="$root$sharedir/install-manifest"
etc=/etc/trtc-sipgw
unitdir=/etc/systemd/system

if [ "$uninstall" = 1 ]; then
    if [ ! -f "$manifest" ]; then
        echo "install.sh: nothing to uninstall ($manifest not found)" >&2
        exit 0
    fi
    # Lines: "file <sha256> <path>" or "dir - <path>", in install order.
    while read -r kind sum path; do
        [ "$kind" = file ] || continue
        f="$root$path"
        [ -e "$f" ] || continue
        if [ "$path" = "$etc/config.toml" ] && [ "$(sha256sum "$f" | cut -d' ' -f1)" != "$sum" ]; then
            echo "install.sh: keeping $f (changed since install)" >&2
            continue
        fi
        rm -f "$f"
    done <"$manifest"
    # Directories we created, deepest first, only when empty.
    created="$(grep '^dir ' "$manifest.dirs" 2>/dev/null | cut -d' ' -f3- | sort -r || true)"
    rm -f "$manifest" "$manifest.dirs"
    while read -r d; do
        [ -n "$d" ] && rmdir "$root$d" 2>/dev/null || true
    done <<<"$created"
    echo "install.sh: uninstalled from ${root:-/}" >&2
    exit 0
fi

binary="${binary:-$target_dir/release/trtc-sipgw}"
if [ ! -x "$binary" ]; then
    echo "install.sh: $binary not found; build it first: cargo build --release" >&2
    exit 1
fi
if [ -z "$shim" ] && [ -f "$(dirname "$binary")/libsipgw_trtc_shim.so" ]; then
    shim="$(dirname "$binary")/libsipgw_trtc_shim.so"
fi

# Directories this run (or an earlier one) created: removed on --uninstall when empty.
dirs_file="$manifest.dirs"
new_dirs=()
make_dir() { # path mode
    local d="$1" p=""
    local IFS=/
    for part in ${d#/}; do
        p="$p/$part"
        if [ ! -d "$root$p" ]; then
            mkdir -m "${2:-0755}" "$root$p"
            new_dirs+=("$p")
        fi
    done
}
entries=()
put() { # source destination mode
    make_dir "$(dirname "$2")"
    install -m "$3" "$1" "$root$2"
    entries+=("file $(sha256sum "$root$2" | cut -d' ' -f1) $2")
}

[ -z "$root" ] || mkdir -p "$root"
make_dir "$sharedir"
stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT

put "$binary" "$prefix/bin/trtc-sipgw" 0755
if [ -n "$shim" ]; then
    put "$shim" "$libdir/libsipgw_trtc_shim.so" 0644
else
    echo "install.sh: no trtc shim next to $binary (built without the SDK): backend \"trtc\" will not load" >&2
fi
put scripts/fetch-liteav.sh "$libdir/fetch-liteav.sh" 0755
put packaging/trtc-sipgw-fetch-sdk "$prefix/bin/trtc-sipgw-fetch-sdk" 0755
put packaging/trtc-sipgw-check "$prefix/bin/trtc-sipgw-check" 0755
for unit in trtc-sipgw.service trtc-sipgw@.service; do
    sed "s#/usr/bin/trtc-sipgw#$prefix/bin/trtc-sipgw#g" "systemd/$unit" >"$stage/$unit"
    put "$stage/$unit" "$unitdir/$unit" 0644
done

# The config: installed only when there is none (an edited one is never overwritten);
# recorded in the manifest only when this script wrote it.
sed "s#/usr/lib/trtc-sipgw#$libdir#g" packaging/config.toml >"$stage/config.toml"
old_manifest=""
[ -f "$manifest" ] && old_manifest="$(cat "$manifest")"
if [ ! -e "$root$etc/config.toml" ]; then
    put "$stage/config.toml" "$etc/config.toml" 0644
elif grep -q " $etc/config.toml\$" <<<"$old_manifest"; then
    entries+=("$(grep " $etc/config.toml\$" <<<"$old_manifest")")
fi
make_dir "$etc/credentials" 0700
chmod 0700 "$root$etc/credentials"

printf '%s\n' "${entries[@]}" >"$manifest"
for d in "${new_dirs[@]}"; do echo "dir - $d"; done >>"$dirs_file"
sort -u -o "$dirs_file" "$dirs_file"
echo "install.sh: installed into ${root:-/} (prefix $prefix); manifest $manifest" >&2
