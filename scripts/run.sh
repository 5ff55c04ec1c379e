#!/usr/bin/env bash
# Builds and runs the gateway on its built-in defaults (or with the arguments given,
# e.g. `--config board/example.toml`), installing the build dependencies first.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
exec cargo run --release -- "$@"
