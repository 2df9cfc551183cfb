#!/usr/bin/env bash
# Takes the docs' screenshots of the main views (docs/screenshots/*.png) under Xvfb, from the
# Socket.IO fixture capture. Needs xvfb-run (apt: xvfb xauth) and Mesa's GL (libgl1-mesa-dri).
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build -p sockscope-gui --example screenshots
for view in table heartbeat reconnects sessions; do
  xvfb-run -a -s '-screen 0 1400x900x24' target/debug/examples/screenshots "$view" "docs/screenshots/$view.png"
done
