#!/usr/bin/env python3
# SPDX-License-Identifier: MPL-2.0
"""rtmpserversrc's `get-password` and `authenticate` signals used from Python (GObject
introspection), with real FFmpeg publishes.

Usage: auth_signal.py CLIP.flv VIDEO_PACKETS AUDIO_PACKETS

CLIP.flv is published with `ffmpeg -c copy`; VIDEO_PACKETS / AUDIO_PACKETS are how many packets it
holds (the accepted publish must deliver exactly that many buffers per pad). The plugin is
RTMPSERVER_PLUGIN if set, else target/debug/libgstrtmpserver.so (after `cargo build`). Prints PASS
and exits 0 when every check holds; an assertion error otherwise.
"""

import os
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BOB_PASSWORD = "b0b-py-pa55"


def use_plugin_from_cargo():
    """Points GST_PLUGIN_PATH at the cargo build output. A directory holding only a link to the
    cdylib: target/debug itself has deps/ and build/ below it, which GStreamer would scan too."""
    plugin = os.environ.get("RTMPSERVER_PLUGIN") or os.path.join(
        ROOT, "target", "debug", "libgstrtmpserver.so"
    )
    if not os.path.exists(plugin):
        sys.exit(f"{plugin} not found: run `cargo build` first")
    plugin_dir = tempfile.mkdtemp(prefix="rtmpserver-py-")
    os.symlink(os.path.abspath(plugin), os.path.join(plugin_dir, "libgstrtmpserver.so"))
    os.environ["GST_PLUGIN_PATH"] = plugin_dir
    os.environ.setdefault("GST_REGISTRY", os.path.join(plugin_dir, "registry.bin"))
    return plugin_dir


PLUGIN_DIR = use_plugin_from_cargo()

import gi  # noqa: E402  (after GST_PLUGIN_PATH is set)

gi.require_version("Gst", "1.0")
from gi.repository import Gst  # noqa: E402


def ffmpeg(clip, url):
    """Publishes clip to url as fast as possible; returns (exit code, stderr)."""
    proc = subprocess.run(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-i", clip,
         "-c", "copy", "-f", "flv", url],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, timeout=30,
    )
    return proc.returncode, proc.stderr


def main():
    clip, want_video, want_audio = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    Gst.init(None)
    pipeline = Gst.Pipeline.new("p")
    src = Gst.ElementFactory.make("rtmpserversrc", "src")
    assert src is not None, "rtmpserversrc not found (GST_PLUGIN_PATH=%s)" % PLUGIN_DIR
    # No username property and any stream key: the application's handlers decide everything.
    src.set_property("address", "127.0.0.1")
    src.set_property("port", 0)
    pipeline.add(src)

    buffers = {}

    def on_pad_added(_element, pad):
        name = pad.get_name()
        buffers[name] = 0
        sink = Gst.ElementFactory.make("fakesink", None)
        sink.set_property("sync", False)
        pipeline.add(sink)
        sink.sync_state_with_parent()
        assert pad.link(sink.get_static_pad("sink")) == Gst.PadLinkReturn.OK

        def count(_pad, _info):
            buffers[name] += 1
            return Gst.PadProbeReturn.OK

        pad.add_probe(Gst.PadProbeType.BUFFER, count)

    src.connect("pad-added", on_pad_added)

    password_asked = []

    def get_password(_element, user, client_address):
        password_asked.append((user, client_address))
        return BOB_PASSWORD if user == "bob" else None

    authenticate_calls = []

    def authenticate(_element, application, stream_key, user, client_address, tc_url):
        authenticate_calls.append((application, stream_key, user, client_address, tc_url))
        # Each user publishes their own key only.
        return stream_key == user + "s-key"

    src.connect("get-password", get_password)
    src.connect("authenticate", authenticate)

    assert pipeline.set_state(Gst.State.PLAYING) != Gst.StateChangeReturn.FAILURE
    port = src.get_property("bound-port")
    assert port != 0
    bus = pipeline.get_bus()
    messages = []

    def drain(timeout_s=0.0, until=None):
        """Collects element messages; with `until`, waits up to timeout_s for one named so."""
        deadline = time.monotonic() + timeout_s
        while True:
            left = max(0.0, deadline - time.monotonic())
            msg = bus.timed_pop_filtered(
                int(left * Gst.SECOND), Gst.MessageType.ELEMENT | Gst.MessageType.ERROR
            )
            if msg is None:
                return until is None
            if msg.type == Gst.MessageType.ERROR:
                raise AssertionError("pipeline error: %s" % (msg.parse_error(),))
            s = msg.get_structure()
            messages.append(s)
            if until is not None and s.get_name() == until:
                return True

    base = "rtmp://%s@127.0.0.1:%d/app/%s"

    # bob authenticates through get-password, but authenticate refuses him alice's key.
    code, err = ffmpeg(clip, base % ("bob:" + BOB_PASSWORD, port, "alices-key"))
    assert code != 0 and "Server error: publish refused" in err, err
    # A wrong password for bob, and a user the handler does not know.
    code, err = ffmpeg(clip, base % ("bob:wrong", port, "bobs-key"))
    assert code != 0 and "Incorrect username/password" in err, err
    code, err = ffmpeg(clip, base % ("carol:whatever", port, "carols-key"))
    assert code != 0 and "Incorrect username/password" in err, err
    # No credentials at all: the connected get-password handler made authentication mandatory.
    code, err = ffmpeg(clip, "rtmp://127.0.0.1:%d/app/bobs-key" % port)
    assert code != 0 and "No credentials set" in err, err
    assert buffers == {}, buffers

    # bob on his own key publishes every packet.
    code, err = ffmpeg(clip, base % ("bob:" + BOB_PASSWORD, port, "bobs-key"))
    assert code == 0, err
    assert drain(5.0, until="rtmpserversrc-publish-stopped"), "the publish did not stop"
    drain()
    # publish-stopped is posted when the connection closes; its last buffers may still be queued.
    want = {"video_0": want_video, "audio_0": want_audio}
    deadline = time.monotonic() + 5
    while buffers != want and time.monotonic() < deadline:
        time.sleep(0.01)
    got = dict(buffers)
    assert got == want, (got, want)

    tc_url = "rtmp://127.0.0.1:%d/app" % port
    assert [c[:3] + c[4:] for c in authenticate_calls] == [
        ("app", "alices-key", "bob", tc_url),
        ("app", "bobs-key", "bob", tc_url),
    ], authenticate_calls
    assert all(c[3].startswith("127.0.0.1:") for c in authenticate_calls), authenticate_calls
    asked = {user for user, _ in password_asked}
    assert asked == {"bob", "carol"}, password_asked

    rejected = [
        (s.get_string("reason"), s.get_string("user"))
        for s in messages
        if s.get_name() == "rtmpserversrc-rejected"
    ]
    assert rejected == [
        ("refused-by-application", "bob"),
        ("auth-failed", "bob"),
        ("auth-failed", "carol"),
    ], rejected
    assert [s.get_name() for s in messages].count("rtmpserversrc-publish-started") == 1
    for s in messages:
        assert BOB_PASSWORD not in s.to_string(), s.to_string()

    pipeline.set_state(Gst.State.NULL)
    print("PASS: %d video and %d audio buffers; authenticate called %d times"
          % (got["video_0"], got["audio_0"], len(authenticate_calls)))


try:
    main()
finally:
    shutil.rmtree(PLUGIN_DIR, ignore_errors=True)
