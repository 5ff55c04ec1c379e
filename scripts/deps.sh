#!/usr/bin/env bash
# Installs what building the gateway needs beyond the Rust toolchain (Debian/Ubuntu):
# libopus for the Opus codec, pkg-config. Sourced by run.sh and test.sh; does nothing
# when everything is already there. Extra packages may be passed as arguments.
set -euo pipefail

build_deps_missing() {
  [ -e /usr/include/opus/opus.h ] || return 0
  command -v pkg-config >/dev/null 2>&1 || return 0
  return 1
}

install_packages() {
  if [ "$(id -u)" -ne 0 ]; then
    echo "deps.sh: not root; install as root: apt-get install $*" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  if [ -z "${DEPS_APT_UPDATED:-}" ]; then
    apt-get update
    export DEPS_APT_UPDATED=1
  fi
  apt-get install -y --no-install-recommends "$@"
}

if build_deps_missing; then
  echo "deps.sh: installing build dependencies (libopus-dev, pkg-config)" >&2
  install_packages libopus-dev pkg-config
fi
