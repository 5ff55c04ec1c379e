#!/usr/bin/env bash
# Coverage-guided fuzzing of the gateway's parsers and protocol cores (cargo fuzz,
# libFuzzer, on the nightly toolchain) — the targets are in fuzz/fuzz_targets/.
#
#   scripts/fuzz.sh list                 the targets
#   scripts/fuzz.sh TARGET SECONDS       one target for that long (a real session)
#   scripts/fuzz.sh ci                   every target, a fixed short run each (CI)
#   scripts/fuzz.sh repro TARGET FILE    run one input again (a crash file)
#
# Each run starts from the committed seeds (fuzz/seeds/TARGET, written by
# scripts/fuzz-seeds.py) plus what earlier runs found (fuzz/corpus/TARGET, not
# committed). A crash lands in fuzz/artifacts/TARGET/ and the run fails.
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TARGET_DIR="${SIPGW_FUZZ_TARGET_DIR:-$HOME/.cache/trtc-sipgw-fuzz-target}"
CI_RUNS="${SIPGW_FUZZ_CI_RUNS:-3000}"

targets() { sed -n 's/^name = "\([a-z_]*\)"$/\1/p' fuzz/Cargo.toml | grep -v '^trtc-sipgw'; }

need_tools() {
  source scripts/deps.sh
  if ! rustup toolchain list | grep -q '^nightly'; then
    echo "fuzz.sh: the nightly toolchain is needed (rustup toolchain install nightly)" >&2
    exit 1
  fi
  if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz.sh: installing cargo-fuzz (crates.io)" >&2
    cargo install --locked cargo-fuzz
  fi
  # The library's build script builds the LiteAV shim when the SDK is in the cache;
  # the fuzz targets do not need it.
  export LITEAV_DIR="${LITEAV_DIR:-/nonexistent}"
}

run_target() { # TARGET, then libFuzzer flags
  local t="$1"
  shift
  mkdir -p "fuzz/corpus/$t" "fuzz/artifacts/$t"
  cargo +nightly fuzz run --fuzz-dir fuzz "$t" "fuzz/corpus/$t" "fuzz/seeds/$t" -- \
    -artifact_prefix="fuzz/artifacts/$t/" -print_final_stats=1 "$@"
}

case "${1:-}" in
  list)
    targets
    ;;
  ci)
    need_tools
    cargo +nightly fuzz build --fuzz-dir fuzz
    started=$SECONDS
    for t in $(targets); do
      echo "fuzz.sh: $t, $CI_RUNS runs" >&2
      run_target "$t" -runs="$CI_RUNS" -max_len=8192 2>&1 | tail -n 12
    done
    echo "fuzz.sh: every target ran $CI_RUNS inputs without a crash ($((SECONDS - started)) s)" >&2
    ;;
  repro)
    [ $# -eq 3 ] || { echo "usage: scripts/fuzz.sh repro TARGET FILE" >&2; exit 2; }
    need_tools
    cargo +nightly fuzz run --fuzz-dir fuzz "$2" "$3"
    ;;
  "" | -h | --help)
    sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'
    ;;
  *)
    [ $# -eq 2 ] || { echo "usage: scripts/fuzz.sh TARGET SECONDS" >&2; exit 2; }
    targets | grep -qx "$1" || { echo "fuzz.sh: no target $1 (scripts/fuzz.sh list)" >&2; exit 2; }
    need_tools
    run_target "$1" -max_total_time="$2" -max_len=8192
    ;;
esac
