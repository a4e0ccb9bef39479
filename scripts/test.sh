#!/usr/bin/env bash
# Runs every test: unit tests of the protocol layers and end-to-end tests with real clients
# (Debian's ffmpeg, GStreamer's rtmp2sink). Installs what is missing first.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
cargo build --locked --all-targets
cargo test --locked -- --test-threads=2
