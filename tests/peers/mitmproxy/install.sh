#!/usr/bin/env bash
# Installs mitmproxy (pinned in requirements.txt beside this script) into its own venv, VENV_DIR
# (first argument). Idempotent: a stamp with the requirements' checksum skips a second install.
# Used by tests/export_mitmproxy.rs; prints the path of mitmdump on success.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
VENV="${1:?usage: install.sh VENV_DIR}"
REQ="$HERE/requirements.txt"
STAMP="$VENV/.sockscope-requirements.sha256"
sum="$(sha256sum "$REQ" | cut -d' ' -f1)"
if [ -x "$VENV/bin/mitmdump" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$sum" ]; then
  echo "$VENV/bin/mitmdump"
  exit 0
fi
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV" >&2
fi
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$REQ" >&2
echo "$sum" >"$STAMP"
echo "$VENV/bin/mitmdump"
