#!/usr/bin/env bash
# Runs every test: unit tests of the protocol layers, end-to-end tests with real clients
# (Debian's ffmpeg 5.1, FFmpeg 9 from imageio-ffmpeg, GStreamer's rtmp2sink, headless Chromium
# for the demo page), the reliability suite, the meson packaging check, a short fuzz run of every
# fuzz target and a smoke run of the benchmark harness. Installs what is missing first.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
# The workspace: the plugin and the sans-IO protocol crate (proto/, no GStreamer in it).
cargo fmt --all -- --check
cargo build --locked --workspace --all-targets
cargo clippy --locked --workspace --all-targets -- -D warnings
cargo test --locked --workspace -- --test-threads=2
bash scripts/meson-check.sh
bash fuzz/ci-smoke.sh "${FUZZ_SECONDS:-15}"
bash bench/run.sh --quick --output target/bench-smoke.md
# tests/browser.rs (part of cargo test) played the demo page in headless Chromium:
echo "all tests passed; the demo page as the browser test saw it: target/demo-screenshot.png"
