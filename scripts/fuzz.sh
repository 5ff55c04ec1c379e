#!/usr/bin/env bash
# Coverage-guided fuzzing of the gateway's parsers and protocol cores (cargo-fuzz,
# libFuzzer, AddressSanitizer; the nightly toolchain). Targets live in fuzz/, their seed
# corpus in fuzz/seeds/<target>/ (written by scripts/fuzz-seeds.py).
#
# Usage:
#   scripts/fuzz.sh TARGET SECONDS   fuzz one target that long; prints iterations, exec/s
#   scripts/fuzz.sh ci               every target for a fixed run count (seeds included);
#                                    fails on a crash
#   scripts/fuzz.sh list             the targets
#   scripts/fuzz.sh repro TARGET FILE  run one input (a crash file) under the target
#
# The corpus a long run grows is kept in fuzz/corpus/<target>/ (not committed); crashes
# land in fuzz/artifacts/<target>/crash-* (also not committed).
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/trtc-sipgw-fuzz-target}"
# The fuzzed code never touches the LiteAV SDK: skip building its C++ shim.
export SIPGW_NO_TRTC_SHIM=1
CI_RUNS="${FUZZ_CI_RUNS:-2000}"

ensure_tools() {
  if ! cargo +nightly --version >/dev/null 2>&1; then
    echo "fuzz.sh: the nightly toolchain is needed (rustup toolchain install nightly)" >&2
    exit 1
  fi
  if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install --locked cargo-fuzz
  fi
}

targets() {
  cargo +nightly fuzz list
}

build() {
  cargo +nightly fuzz build --release --debug-assertions "$@"
}

# run TARGET [libFuzzer args...]: fuzz one target from its seeds (and its grown corpus).
run() {
  local target="$1"
  shift
  local corpus="fuzz/corpus/$target"
  mkdir -p "$corpus" "fuzz/artifacts/$target"
  cargo +nightly fuzz run --release --debug-assertions "$target" "$corpus" "fuzz/seeds/$target" \
    -- -artifact_prefix="fuzz/artifacts/$target/" -print_final_stats=1 "$@"
}

case "${1:-}" in
  list)
    ensure_tools
    targets
    ;;
  ci)
    ensure_tools
    build
    start=$(date +%s)
    for t in $(targets); do
      log="$(mktemp)"
      if ! run "$t" -runs="$CI_RUNS" -seed=1 -max_len=8192 >"$log" 2>&1; then
        cat "$log" >&2
        echo "fuzz.sh: $t crashed; the input is in fuzz/artifacts/$t/" >&2
        rm -f "$log"
        exit 1
      fi
      echo "fuzz $t: $(grep -m1 -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$') runs ok"
      rm -f "$log"
    done
    echo "fuzz: every target ok in $(( $(date +%s) - start )) s"
    ;;
  repro)
    [ $# -eq 3 ] || { echo "usage: $0 repro TARGET FILE" >&2; exit 2; }
    ensure_tools
    cargo +nightly fuzz run --release --debug-assertions "$2" "$3"
    ;;
  ""|-h|--help)
    sed -n '2,16p' "$0"
    ;;
  *)
    [ $# -eq 2 ] || { echo "usage: $0 TARGET SECONDS (or: ci, list, repro)" >&2; exit 2; }
    ensure_tools
    build "$1"
    log="$(mktemp)"
    status=0
    run "$1" -max_total_time="$2" -max_len=8192 2>&1 | tee "$log" | grep -E '^#[0-9]+ *(pulse|DONE)|ERROR|panicked' || true
    status=${PIPESTATUS[0]}
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo 0)
    rate=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo 0)
    crashes=$(find "fuzz/artifacts/$1" -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' | wc -l)
    rm -f "$log"
    echo "fuzz $1: ${execs} iterations in $2 s, ${rate} exec/s, ${crashes} crash file(s) in fuzz/artifacts/$1/"
    exit "$status"
    ;;
esac
