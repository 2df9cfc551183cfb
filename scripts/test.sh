#!/usr/bin/env bash
# The whole test suite: installs the real peers the end-to-end tests run (curl from apt, the pinned
# npm packages with `npm ci`, the pinned Python packages in a venv), then builds and tests the
# workspace. Idempotent: what is installed already is reused. Run from anywhere:
#
#   bash scripts/test.sh            # everything
#   bash scripts/test.sh -- NAME    # extra arguments go to `cargo test` (e.g. a test filter)
#
# Needs: the Rust toolchain, Node.js 20+ with npm, Python 3.11+ (with venv), and apt on Debian
# when a system package is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$(pwd)"

say() { printf '\n==> %s\n' "$*"; }

# --- system packages (curl and chromium are peers; openssl makes the TLS origins' test
# certificates; libnss3-tools' certutil trusts sockscope's CA in a throwaway NSS database; Xvfb
# and Mesa's GL run the GUI's window in gui/tests/e2e_xvfb.rs; gcc and libc6-dev compile mimalloc,
# the allocator, and link everything) ---------------------------------------------------------------
APT_PACKAGES=(gcc libc6-dev curl ca-certificates openssl chromium firefox-esr libnss3-tools default-jdk-headless
  xvfb xauth libxcursor1 libxi6 libxkbcommon-x11-0 libegl1 libegl-mesa0 libgl1-mesa-dri fonts-dejavu-core fonts-noto-cjk fonts-symbola)
# Debian's python3 needs python3-venv for `python3 -m venv`; other builds bring ensurepip along.
if ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then APT_PACKAGES+=(python3-venv); fi
missing=()
if command -v dpkg >/dev/null 2>&1; then
  for p in "${APT_PACKAGES[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
  done
elif ! command -v curl >/dev/null 2>&1; then
  echo "error: curl is missing and this is not a Debian system: install curl" >&2
  exit 1
fi
if ((${#missing[@]})); then
  say "installing system packages: ${missing[*]}"
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  say "system packages present (${APT_PACKAGES[*]})"
fi

for tool in node npm python3 cargo; do
  command -v "$tool" >/dev/null 2>&1 || { echo "error: $tool is not installed (needed by the tests)" >&2; exit 1; }
done

# --- Node peers -------------------------------------------------------------------------------
NODE_DIR="$ROOT/tests/peers/node"
LOCK_STAMP="$NODE_DIR/node_modules/.sockscope-lock.sha256"
lock_sum="$(sha256sum "$NODE_DIR/package-lock.json" | cut -d' ' -f1)"
if [ -f "$LOCK_STAMP" ] && [ "$(cat "$LOCK_STAMP")" = "$lock_sum" ]; then
  say "node peers up to date ($NODE_DIR/node_modules)"
else
  say "installing node peers: npm ci in $NODE_DIR"
  (cd "$NODE_DIR" && npm ci --no-audit --no-fund --loglevel=error)
  echo "$lock_sum" >"$LOCK_STAMP"
fi

# --- Python peers -----------------------------------------------------------------------------
VENV="$ROOT/tests/peers/.venv"
REQ="$ROOT/tests/peers/requirements.txt"
REQ_STAMP="$VENV/.sockscope-requirements.sha256"
req_sum="$(sha256sum "$REQ" | cut -d' ' -f1)"
if [ ! -x "$VENV/bin/python" ]; then
  say "creating the python venv $VENV"
  python3 -m venv "$VENV"
fi
if [ -f "$REQ_STAMP" ] && [ "$(cat "$REQ_STAMP")" = "$req_sum" ]; then
  say "python peers up to date ($VENV)"
else
  say "installing python peers from $REQ"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$REQ"
  echo "$req_sum" >"$REQ_STAMP"
fi

# --- where the tests find things ----------------------------------------------------------------
export SOCKSCOPE_TEST_PYTHON="$VENV/bin/python"
export SOCKSCOPE_TEST_NODE_DIR="$NODE_DIR"
export SOCKSCOPE_TEST_NODE="$(command -v node)"
say "peers: python $("$SOCKSCOPE_TEST_PYTHON" --version 2>&1), node $(node --version), $(curl --version | head -1 | cut -d' ' -f1-2)"

# --- build and test -----------------------------------------------------------------------------
say "cargo build --workspace"
cargo build --workspace

say "cargo test --workspace --no-fail-fast"
if [ "${1:-}" = "--" ]; then shift; fi
cargo test --workspace --no-fail-fast "$@"
