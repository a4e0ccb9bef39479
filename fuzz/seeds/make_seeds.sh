#!/usr/bin/env bash
# Regenerates the seed corpora fuzz/seeds/<target>/ from real encoder output.
#
# Needs ffmpeg (Debian's 5.1 has every encoder used: libx264, libx265, libaom, libvpx, libopus,
# libmp3lame, libspeex...), python3, and for the session/chunk/auth captures gst-launch-1.0 plus
# the element built in the repository (`cargo build`; override with PLUGIN_DIR=...). Without the
# element, capture.py records against a handshake-only stand-in and the captures stop at connect.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
ff() { ffmpeg -hide_banner -loglevel error -nostdin -y "$@"; }
video=(-f lavfi -i testsrc2=size=320x240:rate=30)

cd "$work"
ff "${video[@]}" -f lavfi -i sine -t 1 -c:v libx264 -bf 2 -c:a aac -f flv clip.flv
ff "${video[@]}" -t 0.5 -c:v libx265 -tag:v hvc1 -x265-params log-level=error hevc.mp4
ff "${video[@]}" -t 0.3 -c:v libaom-av1 -cpu-used 8 -g 5 av1.mp4
ff "${video[@]}" -t 0.3 -c:v libvpx-vp9 -deadline realtime -g 5 vp9.mp4
ff "${video[@]}" -t 0.3 -c:v libvpx -deadline realtime -g 5 vp8.ivf
ff -f lavfi -i sine -t 0.3 -ac 2 -c:a libopus opus.mp4
ff -f lavfi -i sine -t 0.3 -c:a flac -strict experimental flac.mp4
ff -f lavfi -i sine -t 0.3 -ac 6 -c:a ac3 ac3.mp4
ff -f lavfi -i sine -t 0.3 -c:a eac3 eac3.mp4
ff -f lavfi -i sine -t 0.3 -ac 6 -c:a aac aac51.mp4
for c in libmp3lame:44100 adpcm_swf:22050 nellymoser:16000 pcm_alaw:8000 pcm_mulaw:8000 \
         pcm_s16le:44100 pcm_u8:11025 libspeex:16000; do
    ff -f lavfi -i "sine=sample_rate=${c##*:}" -t 0.3 -ac 1 -c:a "${c%%:*}" -f flv "legacy-${c%%:*}.flv"
done

rm -rf "$here"/{chunk,amf0,session,flv,auth}
python3 "$here/media_seeds.py" "$work" "$here"
python3 "$here/capture.py" "$work" "$here" "${PLUGIN_DIR:-$here/../../target/debug}"

# Connect strings real clients send that the captures above do not show.
auth=$here/auth
printf 'live?x=y?authmod=adobe&user=alice\nrtmp://[::1]:1940/live?x=y' >"$auth/obs-double-query.txt"
printf 'live\nrtmps://user:pw@Example.COM/live/inst' >"$auth/rtmps-userinfo.txt"
printf 'live\nrtmpt://[fe80::1%%eth0]:80/live' >"$auth/ipv6-zone.txt"
printf 'live?authmod=llnw&user=a\nrtmp://h:0/live' >"$auth/llnw-port0.txt"
printf 'live?authmod=adobe&user=alice&challenge=abc&response=x%%2B%%3D&opaque=\nrtmp://h:1935/live\npw' \
    >"$auth/obs-empty-opaque.txt"

du -sh "$here"/{chunk,amf0,session,flv,auth}
