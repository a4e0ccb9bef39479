#!/usr/bin/env bash
# Runs every test: unit tests of the protocol layers and end-to-end tests with real clients
# (Debian's ffmpeg, GStreamer's rtmp2sink). Installs what is missing first.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
cargo build --locked --all-targets
cargo test --locked -- --test-threads=2
bash scripts/meson-check.sh
# tests/browser.rs (part of the above) played the demo page in headless Chromium:
echo "all tests passed; the demo page as the browser test saw it: target/demo-screenshot.png"
