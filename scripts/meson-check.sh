#!/usr/bin/env bash
# Packaging check: meson builds the plugin (release) and installs it where gst-inspect-1.0 finds
# it without GST_PLUGIN_PATH. As root the install is real and is undone afterwards; otherwise it
# goes to a staging DESTDIR and the staged plugin directory is checked as the system path.
set -euo pipefail
cd "$(dirname "$0")/.."
builddir=target/meson
if [ -d "$builddir" ]; then
  meson setup --reconfigure "$builddir" -Dcargo-target-dir="$PWD/target" >/dev/null
else
  meson setup "$builddir" -Dcargo-target-dir="$PWD/target" >/dev/null
fi
meson compile -C "$builddir"
pluginsdir=$(pkg-config --variable=pluginsdir gstreamer-1.0)
if [ "$(id -u)" -eq 0 ]; then
  meson install -C "$builddir" >/dev/null
  trap 'rm -f "$pluginsdir/libgstrtmpserver.so"' EXIT
  env -u GST_PLUGIN_PATH -u GST_PLUGIN_PATH_1_0 gst-inspect-1.0 rtmpserversrc >target/meson-inspect.txt
else
  DESTDIR="$PWD/target/meson-dest" meson install -C "$builddir" >/dev/null
  env -u GST_PLUGIN_PATH GST_PLUGIN_SYSTEM_PATH_1_0="$PWD/target/meson-dest$pluginsdir" \
    gst-inspect-1.0 rtmpserversrc >target/meson-inspect.txt
fi
grep -q "RTMP Server Source" target/meson-inspect.txt
# Loaded from the plugin directory (/usr/lib and /lib are one on Debian 12), not a cargo target.
grep -Eq "Filename +.*/gstreamer-1.0/libgstrtmpserver.so" target/meson-inspect.txt
echo "meson: built, installed into $pluginsdir, found by gst-inspect-1.0 without GST_PLUGIN_PATH"
