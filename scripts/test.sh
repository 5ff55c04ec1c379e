#!/usr/bin/env bash
# Runs the whole test suite: unit tests, harness self-tests and the end-to-end tests
# with real SIP peers (sipp, baresip, kamailio) and audio checks (sox, dumpcap).
#
# Installs the peers on Debian/Ubuntu when any is missing (needs root, as in CI), then
# runs `cargo test --release`. A missing tool is an error, never a skipped test.
#
# Usage: scripts/test.sh [extra cargo test args...]
#   e.g. scripts/test.sh --test harness_selftest
set -euo pipefail
cd "$(dirname "$0")/.."

# tool -> Debian package that provides it
declare -A PKG=(
  [sipp]=sip-tester
  [baresip]=baresip-core
  [kamailio]=kamailio
  [sox]=sox
  [dumpcap]=tshark
  [ip]=iproute2
  [ffmpeg]=ffmpeg
  [linphonec]=linphone-cli
  [promtool]=prometheus
  [chromium]=chromium
  [chromedriver]=chromium-driver
  [dnsmasq]=dnsmasq-base
  [haproxy]=haproxy
)

missing_tools() {
  local t
  for t in "${!PKG[@]}"; do
    command -v "$t" >/dev/null 2>&1 || [ -x "/usr/sbin/$t" ] || echo "$t"
  done
  # baresip modules and sox's WAV support come in packages of their own
  [ -e /usr/lib/baresip/modules/sndfile.so ] || echo "baresip-modules"
  sox -h 2>/dev/null | grep -q 'AUDIO FILE FORMATS:.* wav' || echo "sox-wav"
  /usr/bin/python3 -c 'import numpy' >/dev/null 2>&1 || echo "python3-numpy"
  # kamailio's TLS module (e2e_tls) is a package of its own
  # (no `ls | grep` here: under pipefail ls's error for the absent path fails the pipe)
  compgen -G '/usr/lib/*/kamailio/modules/tls.so' >/dev/null ||
    [ -e /usr/lib/kamailio/modules/tls.so ] || echo "kamailio-tls-modules"
}

missing="$(missing_tools | sort -u | tr '\n' ' ')"
if [ -n "${missing// /}" ]; then
  echo "test.sh: missing: $missing— installing the test peers" >&2
  if [ "$(id -u)" -ne 0 ]; then
    echo "test.sh: not root; install as root: apt-get install sip-tester baresip-core kamailio kamailio-tls-modules sox libsox-fmt-base python3-numpy tshark iproute2 ffmpeg linphone-cli prometheus chromium chromium-driver dnsmasq-base haproxy" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  # tshark asks whether non-root users may capture; answer it up front.
  echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections || true
  apt-get update
  export DEPS_APT_UPDATED=1
  apt-get install -y --no-install-recommends \
    sip-tester baresip-core kamailio kamailio-tls-modules sox libsox-fmt-base python3-numpy \
    tshark iproute2 ffmpeg linphone-cli prometheus chromium chromium-driver dnsmasq-base haproxy
  missing="$(missing_tools | sort -u | tr '\n' ' ')"
  if [ -n "${missing// /}" ]; then
    echo "test.sh: still missing after install: $missing" >&2
    exit 1
  fi
fi

# Build dependencies (libopus), then G.729's bcg729 for the `g729` feature tests.
# From PyPI, on the python3 the tests run: the OpenAPI document's reference validator,
# and selenium to drive Debian's chromium through the status page (it downloads nothing:
# the tests point it at /usr/bin/chromium and /usr/bin/chromedriver).
for mod in openapi_spec_validator:openapi-spec-validator selenium:selenium; do
  if ! python3 -c "import ${mod%%:*}" >/dev/null 2>&1; then
    echo "test.sh: installing ${mod#*:} (PyPI)" >&2
    python3 -m pip install --quiet "${mod#*:}" ||
      python3 -m pip install --quiet --break-system-packages "${mod#*:}"
  fi
done

source scripts/deps.sh
if [ ! -e /usr/include/bcg729/decoder.h ]; then
  install_packages libbcg729-dev
fi
# alsa-lib's headers for the `alsa` feature's tests (sound-device lines, tests/e2e_alsa.rs)
if [ ! -e /usr/include/alsa/asoundlib.h ]; then
  install_packages libasound2-dev
fi

# Tencent's LiteAV SDK (proprietary, fetched from PyPI, never committed): build.rs compiles
# the gateway's shim against it, and the trtc tests need it, so a missing SDK fails them.
LITEAV_DIR="$(bash scripts/fetch-liteav.sh | tail -n 1)"
export LITEAV_DIR
export SIPGW_REQUIRE_TRTC=1

if ! command -v cargo >/dev/null 2>&1; then
  echo "test.sh: cargo not found on PATH" >&2
  exit 1
fi

echo "test.sh: sipp $(sipp -v 2>&1 | grep -o 'v[0-9.]*' | head -1), kamailio $(kamailio -v 2>&1 | grep -o 'kamailio [0-9.]*' | head -1), $(sox --version 2>&1 | head -1)"

# The e2e tests start several peers each; two test threads suit a 2-core machine.
export RUST_TEST_THREADS="${RUST_TEST_THREADS:-2}"
cargo test --release "$@"
# The outbound end-to-end tests again, with the room leg through the real trtc backend
# over the C++ test double of libliteav.so instead of the simulated room.
SIPGW_TEST_ROOM=trtc cargo test --release \
  --test e2e_sipp_call --test e2e_endings --test e2e_webhooks --test e2e_load --test e2e_kamailio \
  --test e2e_dtmf --test e2e_restart --test e2e_health --test e2e_inbound "$@"
# Supervision needs a panic no production build can trigger: the `fault-injection`
# feature (src/calls/fault.rs) builds a gateway binary with one, for this test only.
cargo test --release --features fault-injection --test e2e_supervision "$@"
# Sound-device lines are optional (the `alsa` feature over alsa-lib): their unit tests
# and end-to-end calls through ALSA's file/null plugins, with the fault-injection
# xrun and unplug cases.
cargo test --release --features alsa,fault-injection --lib --test e2e_alsa "$@"
SIPGW_TEST_ROOM=trtc cargo test --release --features alsa,fault-injection --test e2e_alsa "$@"
# G.729 is optional (a cargo feature over the system's bcg729): its codec tests too.
exec cargo test --release --features g729 --lib "$@"
