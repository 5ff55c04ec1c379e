#!/usr/bin/env bash
# Performance of trtc-sipgw: cost per call, latency, memory, call setup and capacity,
# each figure next to a baseline measured in the same run. Prints one table and exits
# non-zero when a budget is missed (see docs/PERFORMANCE.md for what each row means).
#
#   bash scripts/bench.sh                 # full run, about 7 minutes on 2 cores
#   BENCH_HOLD=4 BENCH_LEVELS=10,50,200 bash scripts/bench.sh   # quicker, rougher
#
# Loopback only. Ports: HTTP 28080, SIP 28060, gateway RTP 40000-49999, load peer SIP
# 28070 / RTP 28072, relay 38000+, latency bench 39000-39999. BENCH_OPUS_LEVELS and
# BENCH_OPUS_HOLD set the Opus levels of row 2 (default 10,50,100 and BENCH_HOLD).
set -euo pipefail
cd "$(dirname "$0")/.."

HOLD=${BENCH_HOLD:-10}                 # seconds of measurement per level
LEVELS=${BENCH_LEVELS:-10,50,200,400,600}
RATE=${BENCH_RATE:-20}                 # call setups per second
CPU_LEVELS="10 50 200"                 # levels compared with the relay
# Opus calls, each compared with the relay. The gateway runs on one thread and an Opus
# call costs about 9 ms of CPU per second, so one core carries about 110: 200 overloads it.
OPUS_LEVELS=${BENCH_OPUS_LEVELS:-10,50,100}
OPUS_HOLD=${BENCH_OPUS_HOLD:-$HOLD}    # seconds of measurement per Opus level
FRAMES=2000                            # frames counted by callgrind

# budgets
MAX_CPU_RATIO=3
MAX_INSTR_PER_FRAME=60000
MAX_RSS_KIB_PER_CALL=64
MAX_RSS_KIB_PER_CALL_DEFAULT=48        # with the shipped config (Opus offered, recording on)
MEM_LEVELS=50,200
MIN_CAPACITY=200
MAX_REFUSE_MS=100                      # a startup beyond the limit is refused at once

WORK=$(mktemp -d "${TMPDIR:-/tmp}/trtc-bench.XXXXXX")
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
trap cleanup EXIT
say() { echo "bench: $*" >&2; }

# 200+ calls × 2 RTP sockets, plus HTTP and SIP.
hard=$(ulimit -Hn)
if [ "$hard" = unlimited ] || [ "$hard" -ge 65536 ]; then ulimit -n 65536; else ulimit -n "$hard"; fi
say "open files limit $(ulimit -n); work dir $WORK"
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)

# --- build ---------------------------------------------------------------------------
say "building (release)"
cargo build --release --quiet --bin trtc-sipgw --example bench_peer --example bench_relay
cargo bench --no-run --bench bridge --bench latency 2>"$WORK/bench-build.txt" || {
    cat "$WORK/bench-build.txt" >&2
    exit 2
}
exe_of() { sed -n "s|.*Executable benches/$1.rs (\(.*\))|\1|p" "$WORK/bench-build.txt" | tail -1; }
BRIDGE=$(exe_of bridge)
LATENCY=$(exe_of latency)
TARGET=${CARGO_TARGET_DIR:-target}     # where cargo puts the binaries (as .ci/run, when set)
GW=$TARGET/release/trtc-sipgw
PEER=$TARGET/release/examples/bench_peer
RELAY=$TARGET/release/examples/bench_relay
for f in "$BRIDGE" "$LATENCY" "$GW" "$PEER" "$RELAY"; do
    [ -x "$f" ] || { say "missing executable '$f'"; exit 2; }
done

# key=value lookup in a line
kv() { sed -n "s/.*[[:space:]]$2=\([^[:space:]]*\).*/\1/p" <<<" $1" | head -1; }
calc() { awk "BEGIN { printf \"%s\", $* }"; }

# --- 1, 5, 6, 7: the gateway under load ----------------------------------------------
# gateway_config CODECS...: the bench's gateway offering only these codecs. The room
# runs at the first one's rate, so G.711 calls keep the room at 8 kHz and Opus at 16 kHz.
gateway_config() {
    local list
    list=$(printf '"%s", ' "$@")
    cat <<EOF
[http]
listen = "127.0.0.1:28080"
[sip]
listen = "127.0.0.1:28060"
codecs = [${list%, }]
[sip.outbound]
uri = "sip:{number}@127.0.0.1:28070"
[rtp]
ports = [40000, 49999]
[room]
backend = "sim"
[room.sim]
record_dir = ""
[calls]
max_calls = 5000
state_dir = ""
[log]
level = "info"
EOF
}
# start_gateway NAME: runs the gateway with $WORK/NAME.toml, logging to $WORK/NAME.log
start_gateway() {
    "$GW" --config "$WORK/$1.toml" 2>"$WORK/$1.log" &
    GW_PID=$!
    PIDS+=("$GW_PID")
    for _ in $(seq 100); do
        grep -q "HTTP API on" "$WORK/$1.log" && break
        sleep 0.1
    done
    grep -q "HTTP API on" "$WORK/$1.log" || { say "gateway did not start:"; cat "$WORK/$1.log" >&2; exit 2; }
}
stop_gateway() {
    kill -TERM "$GW_PID" 2>/dev/null || true
    wait "$GW_PID" 2>/dev/null || true
}

gateway_config pcmu pcma >"$WORK/gw.toml"
say "gateway under load (G.711): levels $LEVELS at $RATE setups/s, ${HOLD}s each"
start_gateway gw
"$PEER" --mode gateway --pid "$GW_PID" --levels "$LEVELS" --rate "$RATE" --hold "$HOLD" \
    --gw-log "$WORK/gw.log" --stop-beyond "$MIN_CAPACITY" | tee "$WORK/peer-gw.txt" >&2
stop_gateway

# --- 5: memory with the shipped defaults: every codec offered (Opus first), the
# simulated room recording every call --------------------------------------------------
default_config() {
    cat <<EOF
[http]
listen = "127.0.0.1:28080"
[sip]
listen = "127.0.0.1:28060"
[sip.outbound]
uri = "sip:{number}@127.0.0.1:28070"
[rtp]
ports = [40000, 49999]
[room.sim]
record_dir = "$WORK/rec"
[calls]
max_calls = 5000
state_dir = "$WORK/state"
[log]
level = "info"
EOF
}
mkdir -p "$WORK/rec"
default_config >"$WORK/gw-default.toml"
say "memory with the default configuration (G.711 phones): levels $MEM_LEVELS"
start_gateway gw-default
"$PEER" --mode gateway --pid "$GW_PID" --levels "$MEM_LEVELS" --rate "$RATE" --hold 2 \
    --gw-log "$WORK/gw-default.log" | tee "$WORK/peer-gw-default.txt" >&2
stop_gateway
rm -rf "$WORK/rec"

# --- 2: the same with Opus on the SIP leg ----------------------------------------------
gateway_config opus >"$WORK/gw-opus.toml"
say "gateway under load (Opus): levels $OPUS_LEVELS, ${OPUS_HOLD}s each"
start_gateway gw-opus
"$PEER" --mode gateway --codec opus --pid "$GW_PID" --levels "$OPUS_LEVELS" --rate "$RATE" \
    --hold "$OPUS_HOLD" --gw-log "$WORK/gw-opus.log" | tee "$WORK/peer-gw-opus.txt" >&2
stop_gateway

# --- 8: overload: twice what "auto" admits of the dearest codec (Opus) ---------------
gateway_config opus | sed 's/^max_calls = 5000$/max_calls = "auto"/' >"$WORK/gw-auto.toml"
start_gateway gw-auto
LIMIT=$(sed -n 's/.*calls: at most \([0-9]*\) (auto.*/\1/p' "$WORK/gw-auto.log" | head -1)
if [ -n "$LIMIT" ]; then
    say "overload: \"auto\" admits $LIMIT Opus calls; offering $((2 * LIMIT))"
    "$PEER" --mode gateway --codec opus --pid "$GW_PID" --levels "$((2 * LIMIT))" --admit "$LIMIT" \
        --rate "$RATE" --hold "$OPUS_HOLD" --gw-log "$WORK/gw-auto.log" | tee "$WORK/peer-overload.txt" >&2
else
    say "overload: the gateway logged no \"auto\" limit"
    : >"$WORK/peer-overload.txt"
fi
stop_gateway

# --- baseline: the relay under the same load -----------------------------------------
say "relay baseline: levels ${CPU_LEVELS// /,}"
"$RELAY" --base 127.0.0.1:38000 --count 200 2>"$WORK/relay.log" &
RELAY_PID=$!
PIDS+=("$RELAY_PID")
sleep 0.3
"$PEER" --mode relay --pid "$RELAY_PID" --relay-base 127.0.0.1:38000 \
    --levels "${CPU_LEVELS// /,}" --rate "$RATE" --hold "$HOLD" | tee "$WORK/peer-relay.txt" >&2
"$PEER" --mode relay --codec opus --pid "$RELAY_PID" --relay-base 127.0.0.1:38000 \
    --levels "$OPUS_LEVELS" --rate "$RATE" --hold "$OPUS_HOLD" | tee "$WORK/peer-relay-opus.txt" >&2
kill "$RELAY_PID" 2>/dev/null || true
wait "$RELAY_PID" 2>/dev/null || true

# --- 3: instructions per frame --------------------------------------------------------
instr() { # args → instructions counted by callgrind
    valgrind --tool=callgrind --callgrind-out-file="$WORK/cg.out" "$BRIDGE" "$@" 2>&1 >/dev/null |
        sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}
per_frame() { # extra args → instructions per frame (N frames minus 0 frames)
    local a b
    a=$(instr --frames 0 "$@")
    b=$(instr --frames "$FRAMES" "$@")
    [ -n "$a" ] && [ -n "$b" ] && calc "($b - $a) / $FRAMES"
}
if command -v valgrind >/dev/null; then
    say "callgrind: bridge frames"
    I8=$(per_frame --room-rate 8000)
    I48=$(per_frame --room-rate 48000)
    IA=$(per_frame --codec pcma --room-rate 8000)
    IR=$(per_frame --mode relay)
else
    say "valgrind not installed: instruction counts not measured"
    I8="" I48="" IA="" IR=""
fi

# --- 4: latency -----------------------------------------------------------------------
say "latency (jitter buffer at depth 0, then at the shipped depth)"
LAT=$(BENCH_JITTER_FRAMES=0 "$LATENCY" | tee "$WORK/latency.txt") || say "latency bench failed; its rows stay empty"
LATD=$(BENCH_JITTER_FRAMES=default "$LATENCY" | tee "$WORK/latency-default.txt") ||
    say "latency bench at the default depth failed; its rows stay empty"

# --- 5: binary sizes ------------------------------------------------------------------
cp "$GW" "$WORK/gw.bin" && strip "$WORK/gw.bin"
cp "$RELAY" "$WORK/relay.bin" && strip "$WORK/relay.bin"
GW_SIZE=$(stat -c %s "$WORK/gw.bin")
RELAY_SIZE=$(stat -c %s "$WORK/relay.bin")

# --- table ----------------------------------------------------------------------------
ROWS=()
W='| %-62s | %-34s | %-30s | %-24s | %-4s |'
row() { ROWS+=("$(printf "$W" "$@")"); }
# verdict runs in a subshell ($(...)), so a miss is also noted in a file
verdict() {
    if [ "$1" = 1 ]; then echo PASS; elif [ "$1" = 0 ]; then touch "$WORK/missed"; echo FAIL; else echo -; fi
}
level_line() { grep "^LEVEL calls=$2 " "$1" | head -1 || true; }

for n in $CPU_LEVELS; do
    g=$(level_line "$WORK/peer-gw.txt" "$n")
    r=$(level_line "$WORK/peer-relay.txt" "$n")
    if [ -z "$g" ] || [ -z "$r" ]; then
        row "1. CPU per call-second, $n G.711 calls" "not measured" "" "<= ${MAX_CPU_RATIO}x" "$(verdict 0)"
        continue
    fi
    gu=$(kv "$g" cpu_us_per_call_s)
    ru=$(kv "$r" cpu_us_per_call_s)
    ratio=$(calc "$gu / $ru")
    ok=$(calc "($ratio <= $MAX_CPU_RATIO) ? 1 : 0")
    row "1. CPU per call-second, $n G.711 calls" \
        "$(calc "$gu / 1000" | xargs printf '%.2f') ms ($(calc "$gu / 10000" | xargs printf '%.2f')% core)" \
        "relay $(calc "$ru / 1000" | xargs printf '%.2f') ms" \
        "$(printf '%.2f' "$ratio")x (<= ${MAX_CPU_RATIO}x)" "$(verdict "$ok")"
done
# No budget for Opus (issue 5 sets none): the ratio is printed for information.
for n in ${OPUS_LEVELS//,/ }; do
    g=$(level_line "$WORK/peer-gw-opus.txt" "$n")
    r=$(level_line "$WORK/peer-relay-opus.txt" "$n")
    if [ -z "$g" ] || [ -z "$r" ]; then
        row "2. CPU per call-second, $n Opus calls (room 16 kHz)" "not measured" "" "no budget" "-"
        continue
    fi
    gu=$(kv "$g" cpu_us_per_call_s)
    ru=$(kv "$r" cpu_us_per_call_s)
    clean=""
    [ "$(kv "$g" ok)" = 1 ] || clean=", late"
    row "2. CPU per call-second, $n Opus calls (room 16 kHz)" \
        "$(calc "$gu / 1000" | xargs printf '%.2f') ms ($(calc "$gu / 10000" | xargs printf '%.2f')% core)" \
        "relay $(calc "$ru / 1000" | xargs printf '%.2f') ms" \
        "$(printf '%.2f' "$(calc "$gu / $ru")")x (no budget)$clean" "-"
done
for spec in "PCMU, room 8 kHz:$I8" "PCMA, room 8 kHz:$IA" "PCMU, room 48 kHz (resampled):$I48"; do
    name=${spec%%:*}
    v=${spec#*:}
    if [ -z "$v" ]; then
        row "3. Instructions per 20 ms frame, $name" "not measured" "" "<= $MAX_INSTR_PER_FRAME" "$(verdict 0)"
        continue
    fi
    ok=$(calc "($v <= $MAX_INSTR_PER_FRAME) ? 1 : 0")
    row "3. Instructions per 20 ms frame, $name" "$(printf '%.0f' "$v")" \
        "RTP parse+write $(printf '%.0f' "${IR:-0}")" "<= $MAX_INSTR_PER_FRAME" "$(verdict "$ok")"
done
# Frames are sent mid-tick, so the wait for the gateway's next 20 ms tick is 10 ms; the
# budget is that wait plus the jitter buffer's depth, with half a millisecond for the hop.
latency_rows() { # LATENCY-line
    local l=$1 depth budget dir median ok
    depth=$(kv "$l" depth_ms)
    budget=$(calc "${depth:-0} + 10.5")
    for dir in up:"Phone RTP -> room frame" down:"Room frame -> phone RTP"; do
        median=$(kv "$l" "${dir%%:*}_median_ms")
        ok=0
        [ -n "$median" ] && ok=$(calc "($median <= $budget) ? 1 : 0")
        row "4. ${dir#*:}, depth ${depth:-?} ms (median / p99)" \
            "${median:-?} / $(kv "$l" "${dir%%:*}_p99_ms") ms" \
            "UDP hop $(kv "$l" udp_median_ms) / $(kv "$l" udp_p99_ms) ms" \
            "median <= $budget ms" "$(verdict "$ok")"
    done
}
latency_rows "$LAT"
latency_rows "$LATD"
row "4. ... of which work after the tick (up/down)" \
    "$(kv "$LAT" up_tick_median_ms) / $(kv "$LAT" down_tick_median_ms) ms" "" "median, depth 0" "-"

idle=$(kv "$(grep '^IDLE' "$WORK/peer-gw.txt")" rss_kib)
ridle=$(kv "$(grep '^IDLE' "$WORK/peer-relay.txt")" rss_kib)
row "5. RSS at idle" "$idle KiB" "relay $ridle KiB" "" "-"
g200=$(level_line "$WORK/peer-gw.txt" 200)
r200=$(level_line "$WORK/peer-relay.txt" 200)
if [ -n "$g200" ]; then
    per=$(calc "($(kv "$g200" rss_kib) - $idle) / 200")
    rrss=$ridle
    [ -n "$r200" ] && rrss=$(kv "$r200" rss_kib)
    rper=$(calc "($rrss - $ridle) / 200")
    ok=$(calc "($per <= $MAX_RSS_KIB_PER_CALL) ? 1 : 0")
    row "5. RSS growth per call (0 -> 200 calls)" "$(printf '%.1f' "$per") KiB" \
        "relay $(printf '%.1f' "$rper") KiB" "<= $MAX_RSS_KIB_PER_CALL KiB" "$(verdict "$ok")"
else
    row "5. RSS growth per call (0 -> 200 calls)" "not measured" "" "<= $MAX_RSS_KIB_PER_CALL KiB" "$(verdict 0)"
fi
didle=$(kv "$(grep '^IDLE' "$WORK/peer-gw-default.txt")" rss_kib)
for n in ${MEM_LEVELS//,/ }; do
    g=$(level_line "$WORK/peer-gw-default.txt" "$n")
    r=$(level_line "$WORK/peer-relay.txt" "$n")
    name="5. RSS growth per call, $n G.711 calls, default config"
    if [ -z "$g" ] || [ -z "$didle" ]; then
        row "$name" "not measured" "" "<= $MAX_RSS_KIB_PER_CALL_DEFAULT KiB" "$(verdict 0)"
        continue
    fi
    per=$(calc "($(kv "$g" rss_kib) - $didle) / $n")
    rper=""
    [ -n "$r" ] && rper="relay $(printf '%.1f' "$(calc "($(kv "$r" rss_kib) - $ridle) / $n")") KiB"
    ok=$(calc "($per <= $MAX_RSS_KIB_PER_CALL_DEFAULT && $(kv "$g" ok) == 1) ? 1 : 0")
    row "$name" "$(printf '%.1f' "$per") KiB" "$rper" "<= $MAX_RSS_KIB_PER_CALL_DEFAULT KiB" "$(verdict "$ok")"
done
row "5. Binary size, stripped" "$((GW_SIZE / 1024)) KiB" "relay $((RELAY_SIZE / 1024)) KiB" "" "-"

s=$(grep '^SETUP' "$WORK/peer-gw.txt" || true)
h=$(grep '^HEALTHZ' "$WORK/peer-gw.txt" || true)
row "6. /trtc/startup -> INVITE (median / p99)" \
    "$(kv "$s" median_ms) / $(kv "$s" p99_ms) ms" \
    "GET /healthz $(kv "$h" median_ms) / $(kv "$h" p99_ms) ms" \
    "$(kv "$s" n) setups at $(kv "$s" rate)/s" "$( [ "$(kv "$s" fail)" = 0 ] && verdict 1 || verdict 0)"

# capacity: the highest level reached with every level up to it clean
cap=0
tested=""
while read -r line; do
    n=$(kv "$line" calls)
    tested="$tested $n"
    if [ "$(kv "$line" ok)" = 1 ]; then cap=$n; else break; fi
done < <(grep '^LEVEL' "$WORK/peer-gw.txt")
top=${tested##* }
capshow="$cap"
[ "$cap" = "$top" ] && capshow=">= $cap (highest tried)"
ok=$(calc "($cap >= $MIN_CAPACITY) ? 1 : 0")
rcap=$(grep '^LEVEL' "$WORK/peer-relay.txt" | awk '/ ok=1/ { n = $2 } END { sub("calls=", "", n); print n }' || true)
row "7. Concurrent G.711 calls, no late frames" "$capshow" "relay >= ${rcap:-0} (highest tried)" \
    ">= $MIN_CAPACITY" "$(verdict "$ok")"

o=$(grep '^LEVEL' "$WORK/peer-overload.txt" | head -1 || true)
if [ -n "$o" ]; then
    ok=$(calc "($(kv "$o" ok) == 1 && $(kv "$o" refuse_max_ms) <= $MAX_REFUSE_MS) ? 1 : 0")
    row "8. Overload: $(kv "$o" calls) Opus calls offered, \"auto\" = $LIMIT" \
        "$(kv "$o" accepted) taken, $(kv "$o" refused) refused in <= $(printf '%.1f' "$(kv "$o" refuse_max_ms)") ms" \
        "GET /healthz $(kv "$h" median_ms) ms" \
        "taken clean, 503 <= $MAX_REFUSE_MS ms" "$(verdict "$ok")"
else
    row "8. Overload: 2x the \"auto\" limit, Opus" "not measured" "" "taken clean" "$(verdict 0)"
fi

echo
echo "trtc-sipgw benchmark, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs: $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1), $(uname -sr), load average before run: $LOAD_BEFORE"
printf "$W\n" figure gateway baseline "budget / note" ok
printf '|%s|%s|%s|%s|%s|\n' "$(printf -- '-%.0s' {1..64})" "$(printf -- '-%.0s' {1..36})" \
    "$(printf -- '-%.0s' {1..32})" "$(printf -- '-%.0s' {1..26})" "$(printf -- '-%.0s' {1..6})"
printf '%s\n' "${ROWS[@]}"
echo
echo "raw figures: $WORK"
if [ -e "$WORK/missed" ]; then
    echo "bench: a budget was missed" >&2
    exit 1
fi
