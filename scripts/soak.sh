#!/usr/bin/env bash
# Soak: keep CALLS calls going (a sipp phone answering, each call ended by its TTL and
# replaced) for MINUTES, and print the gateway's RSS, open fds, threads and call-log size
# at the start and every minute. Exits non-zero when, from the end of the first minute
# (everything warmed up) to the end, RSS grew more than SOAK_RSS_SLACK_KIB (4096), fds
# more than SOAK_FD_SLACK (8) or threads at all, or when a call failed to start.
#
#   bash scripts/soak.sh                 # 10 calls, 3 minutes (the CI version)
#   bash scripts/soak.sh 100 600         # 100 calls for ten hours
#
# Loopback only. Ports: gateway HTTP 29080, SIP 29062, RTP 41000-41999; sipp 29060, media 29070.
set -euo pipefail
CALLS=${1:-10}
MINUTES=${2:-3}
CALL_TTL_S=${SOAK_CALL_TTL_S:-20}
RSS_SLACK_KIB=${SOAK_RSS_SLACK_KIB:-4096}
FD_SLACK=${SOAK_FD_SLACK:-8}
cd "$(dirname "$0")/.."
TARGET=${CARGO_TARGET_DIR:-target}
cargo build --release --quiet --bin trtc-sipgw
work=$(mktemp -d /tmp/trtc-soak.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT
echo "soak: $CALLS calls for $MINUTES min, each ended by its ${CALL_TTL_S} s TTL and replaced; files in $work"

sox -n -r 8000 -c 1 -e u-law "$work/tone440_ulaw.wav" synth 30 sine 440 vol 0.5
cp tests/peers/sipp/uas_answer.xml "$work/"
(cd "$work" && exec sipp -sf uas_answer.xml -i 127.0.0.1 -p 29060 -mi 127.0.0.1 -mp 29070 \
  -nostdin) >"$work/sipp.log" 2>&1 &
pids+=($!)

cat >"$work/gateway.toml" <<TOML
[http]
listen = "127.0.0.1:29080"
[sip]
listen = "127.0.0.1:29062"
[sip.outbound]
uri = "sip:{number}@127.0.0.1:29060"
[rtp]
ip = "127.0.0.1"
ports = [41000, 41999]
[calls]
state_dir = "$work/state"
max_calls = $((CALLS + 10))
[room]
backend = "sim"
[log]
level = "warn"
TOML
"$TARGET/release/trtc-sipgw" --config "$work/gateway.toml" 2>"$work/gateway.log" &
gw=$!
pids+=("$gw")
for _ in $(seq 100); do
  curl -sf http://127.0.0.1:29080/healthz >/dev/null 2>&1 && break
  sleep 0.1
done

startup() {
  curl -sf -X POST http://127.0.0.1:29080/trtc/startup -H 'Content-Type: application/json' \
    -d "{\"phonenumber\":\"1002\",\"ttl\":$CALL_TTL_S,\"trtcParams\":{\"sdkAppId\":1400000001,\"userSig\":\"soak\",\"roomId\":4242,\"userId\":\"soak-phone\"}}" \
    >/dev/null
}
live() {
  curl -sf http://127.0.0.1:29080/trtc/calls |
    python3 -c 'import json,sys; print(sum(1 for c in json.load(sys.stdin)["calls"] if c["ended_at"] is None))'
}
sample() { # minute, placed -> one line; sets RSS FDS THREADS
  RSS=$(awk '/^VmRSS/ {print $2}' "/proc/$gw/status")
  THREADS=$(awk '/^Threads/ {print $2}' "/proc/$gw/status")
  FDS=$(ls "/proc/$gw/fd" | wc -l)
  local log_bytes
  log_bytes=$(stat -c %s "$work/state/calls.log" 2>/dev/null || echo 0)
  printf 'soak: minute %3s  live %4s  placed %6s  rss %7s KiB  fds %4s  threads %2s  call log %9s bytes\n' \
    "$1" "$(live)" "$2" "$RSS" "$FDS" "$THREADS" "$log_bytes"
}

placed=0
failed=0
sample 0 0
# Growth is measured from the end of the first minute (calls ramped up, buffers warm);
# a run of one minute can only compare with the start.
base_rss=$RSS base_fds=$FDS base_threads=$THREADS
end=$((SECONDS + MINUTES * 60))
next_minute=$((SECONDS + 60))
minute=0
while [ "$SECONDS" -lt "$end" ]; do
  n=$(live)
  while [ "$n" -lt "$CALLS" ]; do
    if startup; then placed=$((placed + 1)); else failed=$((failed + 1)); fi
    n=$((n + 1))
  done
  if [ "$SECONDS" -ge "$next_minute" ]; then
    minute=$((minute + 1))
    next_minute=$((next_minute + 60))
    sample "$minute" "$placed"
    if [ "$minute" -eq 1 ]; then base_rss=$RSS base_fds=$FDS base_threads=$THREADS; fi
  fi
  kill -0 "$gw" 2>/dev/null || { echo "soak: the gateway died" >&2; tail -20 "$work/gateway.log" >&2; exit 1; }
  sleep 1
done
sample end "$placed"
echo "soak: $placed calls placed, $failed refused; RSS ${base_rss} -> ${RSS} KiB, fds ${base_fds} -> ${FDS}, threads ${base_threads} -> ${THREADS} (from the end of minute 1)"
status=0
if [ "$failed" -gt 0 ]; then echo "soak: FAIL: $failed calls were refused" >&2; status=1; fi
if [ $((RSS - base_rss)) -gt "$RSS_SLACK_KIB" ]; then echo "soak: FAIL: RSS grew by $((RSS - base_rss)) KiB" >&2; status=1; fi
if [ $((FDS - base_fds)) -gt "$FD_SLACK" ]; then echo "soak: FAIL: fds grew by $((FDS - base_fds))" >&2; status=1; fi
if [ "$THREADS" -gt "$base_threads" ]; then echo "soak: FAIL: threads grew" >&2; status=1; fi
if [ "$status" -eq 0 ]; then
  echo "soak: PASS"
  cleanup
  rm -rf "$work"
fi
exit "$status"
