#!/usr/bin/env bash
# The demo: an RTMP ingest server on 127.0.0.1:1935 writing HLS to ./hls-out, and a page on
# http://127.0.0.1:8080/ that plays it (hls.js) and shows the element's live stats.
# Usage: scripts/serve.sh [STREAM_KEY]   (environment: PORT, APP, KEY, OUT, HTTP_PORT)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh          # Debian packages, and hls.js into demo/node_modules (npm ci)
cargo build --locked --release --example serve

PORT="${PORT:-1935}"
APP="${APP:-live}"
KEY="${1:-${KEY:-demo}}"
OUT="${OUT:-$PWD/hls-out}"
HTTP_PORT="${HTTP_PORT:-8080}"

cat <<INFO

  RTMP ingest is listening on rtmp://127.0.0.1:$PORT/$APP
  Push URL:     rtmp://127.0.0.1:$PORT/$APP/$KEY

  OBS:     Settings > Stream > Service: Custom
           Server:     rtmp://127.0.0.1:$PORT/$APP
           Stream Key: $KEY
           (H.264 + AAC; Output > Keyframe Interval 1 s or 2 s: HLS segments are cut at keyframes)
  FFmpeg:  ffmpeg -re -i input.mp4 -c:v libx264 -g 60 -c:a aac -f flv rtmp://127.0.0.1:$PORT/$APP/$KEY
   or a test pattern:
           ffmpeg -re -f lavfi -i testsrc2=size=1280x720:rate=30 -f lavfi -i sine=frequency=440 \\
             -c:v libx264 -preset veryfast -pix_fmt yuv420p -g 30 -c:a aac -f flv rtmp://127.0.0.1:$PORT/$APP/$KEY

  Watch it:     http://127.0.0.1:$HTTP_PORT/     (player + live stats; JSON at /stats)
  HLS playlist: $OUT/playlist.m3u8     (Ctrl+C to stop)

INFO

exec target/release/examples/serve --port "$PORT" --app "$APP" --key "$KEY" --out "$OUT" \
  --http-port "$HTTP_PORT"
