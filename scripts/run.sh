#!/usr/bin/env bash
# The main job: build sockscope and open the desktop app with the proxy listening.
# Every argument is passed to sockscope-gui (the same options as `sockscope proxy`), e.g.
#   bash scripts/run.sh --reverse http://127.0.0.1:3000 --save cap.ndjson
# Without a display (SSH, servers) the app says so in one line and runs the proxy headless with
# the live console instead.
set -euo pipefail
cd "$(dirname "$0")/.."

# Runtime libraries a window needs on Debian/Ubuntu (X11/Wayland keyboard and cursor, OpenGL),
# and the C compiler that builds mimalloc (the allocator) and links.
need=()
if command -v dpkg >/dev/null 2>&1; then
  for p in gcc libc6-dev libxcursor1 libxi6 libxkbcommon-x11-0 libxrandr2 libgl1 libegl1 libgl1-mesa-dri fonts-dejavu-core fonts-noto-cjk fonts-symbola; do
    dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
  done
fi
if [ ${#need[@]} -gt 0 ]; then
  echo "sockscope: installing system packages: ${need[*]}" >&2
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  if ! { $SUDO apt-get update -qq && $SUDO apt-get install -y -qq "${need[@]}" >/dev/null; }; then
    echo "sockscope: could not install ${need[*]}; the app will fall back to the console if no window can open" >&2
  fi
fi

echo "sockscope: building (the first build takes a few minutes)" >&2
cargo build --release -p sockscope-gui -p sockscope
exec ./target/release/sockscope-gui "$@"
