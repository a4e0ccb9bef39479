#!/usr/bin/env bash
# Installs the Debian 12 packages the plugin, its tests and examples need, if any are missing.
set -euo pipefail

PACKAGES=(
  pkg-config
  libgstreamer1.0-dev
  libgstreamer-plugins-base1.0-dev
  gstreamer1.0-tools
  gstreamer1.0-plugins-base
  gstreamer1.0-plugins-good
  gstreamer1.0-plugins-bad
  gstreamer1.0-plugins-ugly
  gstreamer1.0-libav
  ffmpeg
  python3-gi
  gir1.2-gstreamer-1.0
  meson
  ninja-build
  chromium
  haproxy
  # tests/obs.rs: OBS Studio 29 headless (Xvfb, Mesa's software OpenGL); its rtmpsink test
  # uses gstreamer1.0-plugins-bad's rtmpsink (librtmp), listed above.
  obs-studio
  xvfb
  xauth
  libgl1-mesa-dri
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "Installing: ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v cargo >/dev/null 2>&1; then
  echo "cargo not found: install Rust (https://rustup.rs) first" >&2
  exit 1
fi

# scripts/test.sh checks formatting and lints.
for component in clippy rustfmt; do
  if ! cargo "${component/rustfmt/fmt}" --version >/dev/null 2>&1; then
    rustup component add "$component"
  fi
done

# A current FFmpeg with Enhanced RTMP (HEVC, AV1, VP9, Opus, FLAC, AC-3 and multitrack in FLV)
# for tests/enhanced.rs: the static build the PyPI package imageio-ffmpeg ships (Debian 12's
# FFmpeg 5.1 predates Enhanced RTMP).
IMAGEIO_FFMPEG_VERSION=0.8.1
PYTHON="${PYTHON:-python3}"
imageio_ffmpeg_ok() {
  "$PYTHON" - "$IMAGEIO_FFMPEG_VERSION" <<'PY' >/dev/null 2>&1
import os, sys
import imageio_ffmpeg
assert imageio_ffmpeg.__version__ == sys.argv[1]
assert os.access(imageio_ffmpeg.get_ffmpeg_exe(), os.X_OK)
PY
}
if ! imageio_ffmpeg_ok; then
  echo "Installing imageio-ffmpeg==$IMAGEIO_FFMPEG_VERSION"
  if ! "$PYTHON" -m pip --version >/dev/null 2>&1; then
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends python3-pip >/dev/null
  fi
  pip_install() { "$PYTHON" -m pip install --quiet --disable-pip-version-check "$@" "imageio-ffmpeg==$IMAGEIO_FFMPEG_VERSION"; }
  # A pyenv or venv Python takes a plain install; Debian's own Python refuses one
  # (PEP 668, externally managed) unless told, and a non-root user installs into ~/.local.
  pip_install 2>/dev/null \
    || pip_install --break-system-packages 2>/dev/null \
    || pip_install --user --break-system-packages 2>/dev/null \
    || pip_install --user
  imageio_ffmpeg_ok || { echo "imageio-ffmpeg is not usable with $PYTHON" >&2; exit 1; }
fi

# The demo page's player (hls.js) and the driver of its headless-Chromium test (playwright-core),
# from the npm registry as demo/package-lock.json pins them, into demo/node_modules.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "Installing: nodejs npm"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi
if [ "$(node -p 'process.versions.node.split(".")[0]')" -lt 20 ]; then
  echo "warning: node $(node --version) is older than playwright-core (the browser test) needs: 20" >&2
fi
DEMO_DIR="$(cd "$(dirname "$0")/../demo" && pwd)"
if ! cmp -s "$DEMO_DIR/package-lock.json" "$DEMO_DIR/node_modules/.installed-lock.json"; then
  echo "Installing the demo's npm packages (npm ci in demo/)"
  (cd "$DEMO_DIR" && npm ci --no-audit --no-fund --loglevel=error)
  cp "$DEMO_DIR/package-lock.json" "$DEMO_DIR/node_modules/.installed-lock.json"
fi
