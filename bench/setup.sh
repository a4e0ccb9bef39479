#!/usr/bin/env bash
# Installs what the benchmark needs and the project's own scripts do not: the peers (nginx with
# libnginx-mod-rtmp from Debian, node-media-server from npm, optionally xiu from crates.io) and the
# tools. Everything that is not a Debian package goes under bench/tools (git-ignored).
# Usage: bench/setup.sh [--with-xiu]
set -euo pipefail
cd "$(dirname "$0")"
BENCH=$PWD

WITH_XIU=0
for a in "$@"; do [ "$a" = "--with-xiu" ] && WITH_XIU=1; done

PACKAGES=(nginx-light libnginx-mod-rtmp ffmpeg gstreamer1.0-tools gstreamer1.0-plugins-base
          gstreamer1.0-plugins-good gstreamer1.0-plugins-bad libgstreamer1.0-dev pkg-config gcc
          nodejs npm procps)
want=()
for p in "${PACKAGES[@]}"; do
  # Node.js may come from elsewhere than Debian (our machines ship node 20).
  if [ "$p" = nodejs ] || [ "$p" = npm ]; then command -v "${p/nodejs/node}" >/dev/null && continue; fi
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || want+=("$p")
done
if [ ${#want[@]} -gt 0 ]; then
  echo "bench/setup: installing ${want[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  # nginx is only run by the harness on its own config: keep Debian's service from starting.
  made_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
    $SUDO chmod +x /usr/sbin/policy-rc.d
    made_policy=1
  fi
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${want[@]}" >/dev/null
  [ "$made_policy" = 0 ] || $SUDO rm -f /usr/sbin/policy-rc.d
fi

mkdir -p tools
# node-media-server (peer c), pinned to the 2.x line: 4.x sends media to players on message
# stream 0, which rtmp2src ignores.
NMS_VERSION=2.7.4
if [ ! -f tools/nms2/node_modules/node-media-server/package.json ] || \
   ! grep -q "\"version\": \"$NMS_VERSION\"" tools/nms2/node_modules/node-media-server/package.json; then
  echo "bench/setup: npm install node-media-server@$NMS_VERSION"
  mkdir -p tools/nms2
  (cd tools/nms2 && npm install --silent --no-audit --no-fund --prefix . "node-media-server@$NMS_VERSION" >/dev/null) \
    || echo "bench/setup: node-media-server could not be installed; peer (c) is skipped" >&2
fi

# xiu (peer c'), only on request: it is a large build (about 10 minutes on 2 cores).
if [ "$WITH_XIU" = 1 ] && [ ! -x tools/bin/xiu ]; then
  if ! dpkg-query -W -f='${Status}' libopus-dev 2>/dev/null | grep -q "install ok installed"; then
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends libopus-dev >/dev/null
  fi
  echo "bench/setup: cargo install xiu (a large build; several minutes)"
  CARGO_TARGET_DIR="$BENCH/target/xiu" cargo install --locked xiu --root "$BENCH/tools" \
    || echo "bench/setup: xiu did not build; peer xiu is skipped" >&2
  rm -rf "$BENCH/target/xiu"  # the binary is installed; its build tree is large
fi

# The buffer-probe receiver (a gst-launch-1.0 with timestamps on every fakesink buffer).
if [ ! -x tools/bin/gstprobe ] || [ probe/gstprobe.c -nt tools/bin/gstprobe ]; then
  mkdir -p tools/bin
  gcc -O2 -Wall -o tools/bin/gstprobe probe/gstprobe.c $(pkg-config --cflags --libs gstreamer-1.0)
fi

# The replay publisher and the minimal reader.
CARGO_TARGET_DIR="$BENCH/target" cargo build --quiet --locked --release --manifest-path rtmpbench/Cargo.toml
