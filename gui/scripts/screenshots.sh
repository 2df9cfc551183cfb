#!/usr/bin/env bash
# Takes the docs' screenshots (docs/screenshots/*.png) under Xvfb, from the Socket.IO fixture
# capture with multilingual payloads: the main views at 1400x900, and the payloads view (CJK,
# emoji, Arabic) at 1024x700 and 1920x1080. Needs xvfb-run (apt: xvfb xauth), Mesa's GL
# (libgl1-mesa-dri) and the fallback fonts (fonts-dejavu-core fonts-noto-cjk fonts-symbola).
# Rerun it after any layout change: `bash gui/scripts/screenshots.sh [VIEW...]`.
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build -p sockscope-gui --example screenshots
shot() { # view out size
  xvfb-run -a -s '-screen 0 1920x1080x24' target/debug/examples/screenshots "$1" "$2" "$3"
}
views=("$@")
[ ${#views[@]} -gt 0 ] || views=(table heartbeat reconnects sessions payloads rules-panel fault-band held send changed)
for view in "${views[@]}"; do
  if [ "$view" = payloads ]; then
    shot payloads docs/screenshots/payloads-1024x700.png 1024x700
    shot payloads docs/screenshots/payloads-1920x1080.png 1920x1080
  elif [ "$view" = held ] || [ "$view" = send ]; then
    # A live proxy with the node test peers (tests/peers/node, npm ci).
    name=held-queue; [ "$view" = send ] && name=send-dialog
    shot "$view" "docs/screenshots/$name.png" 1400x900
  elif [ "$view" = changed ]; then
    shot changed docs/screenshots/changed-diff.png 1400x900
  else
    shot "$view" "docs/screenshots/$view.png" 1400x900
  fi
done
