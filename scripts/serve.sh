#!/usr/bin/env bash
# Builds the plugin and runs an RTMP ingest server on 127.0.0.1:1935 that writes HLS to ./hls-out.
# Usage: scripts/serve.sh [STREAM_KEY]   (environment: PORT, APP, OUT)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
cargo build --locked --release
export GST_PLUGIN_PATH="$PWD/target/release${GST_PLUGIN_PATH:+:$GST_PLUGIN_PATH}"

PORT="${PORT:-1935}"
APP="${APP:-live}"
KEY="${1:-${KEY:-demo}}"
OUT="${OUT:-$PWD/hls-out}"
mkdir -p "$OUT"

cat <<INFO

  RTMP ingest is listening on rtmp://127.0.0.1:$PORT/$APP
  Push URL:     rtmp://127.0.0.1:$PORT/$APP/$KEY

  OBS:     Settings > Stream > Service: Custom
           Server:     rtmp://127.0.0.1:$PORT/$APP
           Stream Key: $KEY
           (H.264 + AAC; keyframe interval 2 s suits the 2 s HLS segments)
  FFmpeg:  ffmpeg -re -i input.mp4 -c:v libx264 -g 60 -c:a aac -f flv rtmp://127.0.0.1:$PORT/$APP/$KEY

  HLS playlist: $OUT/playlist.m3u8     (Ctrl+C to stop)

INFO

exec gst-launch-1.0 -e \
  rtmpserversrc name=src address=127.0.0.1 port="$PORT" application="$APP" stream-key="$KEY" \
  src.video_0 ! h264parse ! queue ! hls.video \
  src.audio_0 ! aacparse ! queue ! hls.audio \
  hlssink2 name=hls target-duration=2 max-files=10 \
    location="$OUT/segment%05d.ts" playlist-location="$OUT/playlist.m3u8"
