#!/usr/bin/env bash
# Shows that the unit's MemoryDenyWriteExecute= and SystemCallFilter= do not break
# Tencent's LiteAV SDK: runs the gateway with backend = "trtc" and the real SDK under
# scripts/unit-sandbox.py (the unit's MDWE through prctl and its syscall filter through
# seccomp, EPERM like SystemCallErrorNumber=), inside `unshare -n` (loopback only: the
# proprietary SDK must never reach the network), with sipp as the phone, places one call
# and checks the SDK loaded, the room entry began, and the gateway stops cleanly.
#
#   scripts/sandbox-sdk-check.sh GATEWAY_BINARY SHIM SDK_DIR
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
gw="$(readlink -f "$1")" shim="$(readlink -f "$2")" sdk="$(readlink -f "$3")"

if [ -z "${SIPGW_IN_NETNS_SANDBOX:-}" ]; then
    exec unshare -n -- env SIPGW_IN_NETNS_SANDBOX=1 sh -c 'ip link set lo up && exec bash "$0" "$@"' \
        "$0" "$gw" "$shim" "$sdk"
fi
# Inside: nothing but loopback, or the SDK must not run.
if ip -o link show | grep -v ': lo:' | grep -q .; then
    echo "sandbox-sdk-check: not isolated; refusing to run the SDK" >&2
    exit 1
fi
dir="$(mktemp -d)"
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$dir"' EXIT
cat >"$dir/gw.toml" <<TOML
[http]
listen = "127.0.0.1:18480"
[sip]
listen = "127.0.0.1:18460"
[sip.outbound]
uri = "sip:{number}@127.0.0.1:18462"
[rtp]
ip = "127.0.0.1"
ports = [18500, 18599]
[room]
backend = "trtc"
entry_timeout_s = 4
[room.trtc]
sdk_dir = "$sdk"
shim = "$shim"
[calls]
state_dir = ""
TOML
sipp -sn uas -i 127.0.0.1 -p 18462 -nostdin >"$dir/sipp.log" 2>&1 &
sipp_pid=$!
HOME="$dir" RUST_LOG=info /usr/bin/python3 "$here/unit-sandbox.py" "$gw" --config "$dir/gw.toml" >"$dir/gw.log" 2>&1 &
pid=$!
for _ in $(seq 100); do
    grep -q "HTTP API on" "$dir/gw.log" && break
    kill -0 $pid 2>/dev/null || break
    sleep 0.1
done
grep -q "HTTP API on" "$dir/gw.log" || { cat "$dir/gw.log" >&2; echo "sandbox-sdk-check: the gateway did not start under the sandbox" >&2; exit 1; }
reply="$(curl -s -m 10 http://127.0.0.1:18480/trtc/startup -H 'content-type: application/json' -d '{"phonenumber":"1002","ttl":20,
  "trtcParams":{"sdkAppId":1400000001,"userSig":"x","roomId":1234,"userId":"phone1"}}')"
sleep 8
kill -TERM $pid
wait $pid && rc=0 || rc=$?
kill "$sipp_pid" 2>/dev/null || true
cat "$dir/gw.log" >&2
echo "startup reply: $reply" >&2
grep -q "LiteAV SDK loaded" "$dir/gw.log" || { echo "sandbox-sdk-check: the SDK did not load" >&2; exit 1; }
grep -q "entering TRTC room" "$dir/gw.log" || { echo "sandbox-sdk-check: no room entry" >&2; exit 1; }
[ "$rc" = 0 ] || { echo "sandbox-sdk-check: the gateway exited with $rc" >&2; exit 1; }
echo "sandbox-sdk-check: the real LiteAV SDK loaded and entered (offline) under MDWE + the unit's syscall filter" >&2
