#!/usr/bin/env python3
"""Records what real RTMP publishers send, as seeds for the `session`, `chunk` and `auth` targets.

Usage: capture.py MEDIA_DIR OUT_DIR [PLUGIN_DIR]

A TCP proxy on 127.0.0.1 sits between a publisher (FFmpeg, GStreamer rtmp2sink) and a
gst-launch-1.0 pipeline running the project's `rtmpserversrc` (found in PLUGIN_DIR, default
../../target/debug relative to this file), and records every byte each client connection sends.
The server's real replies keep the publisher going through connect, createStream, publish and
media. If the element cannot be started, a minimal stand-in answers the handshake (C0+C1 ->
S0+S1+S2) and nothing else, so the capture then ends at the connect command.

For every recorded connection it writes:
- session/<name>.bin:      [0x00, 0x00] + the bytes after C0+C1 and C2 (the target supplies a
                           valid handshake itself), at most SEED_MAX bytes;
- session/<name>-raw.bin:  [0x01, 0x00] + everything, handshake included (first captures only);
- chunk/<name>.bin:        4 config bytes (roomy limits, control messages honoured) + the chunk
                           stream; chunk/<name>-tight.bin: small limits and split input;
- amf0/<name>-m<i>.bin:    the first command and data message bodies (AMF0);
- auth/<name>.txt:         "app\\ntcUrl" of the connect command, for connects that carry one.
"""

import os
import select
import shutil
import socket
import struct
import subprocess
import sys
import threading
import time

HANDSHAKE_LEN = 1 + 1536 + 1536  # C0 + C1 + C2
SEED_MAX = 32 * 1024
RAW_SEEDS = 2


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(port, timeout=10.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.1)
    return False


class Recorder:
    """Accepts clients on `port`; forwards each to `upstream` (or plays the minimal server)."""

    def __init__(self, port, upstream):
        self.upstream = upstream
        self.sessions = []
        self.lock = threading.Lock()
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", port))
        self.listener.listen(16)
        self.stopping = False
        self.thread = threading.Thread(target=self.accept_loop, daemon=True)
        self.thread.start()

    def accept_loop(self):
        self.listener.settimeout(0.2)
        while not self.stopping:
            try:
                client, _ = self.listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            record = bytearray()
            with self.lock:
                self.sessions.append(record)
            target = self.proxy if self.upstream else self.stand_in
            threading.Thread(target=target, args=(client, record), daemon=True).start()

    def proxy(self, client, record):
        try:
            server = socket.create_connection(("127.0.0.1", self.upstream))
        except OSError:
            client.close()
            return
        peers = {client: server, server: client}
        try:
            while not self.stopping:
                ready, _, _ = select.select(list(peers), [], [], 0.2)
                for s in ready:
                    data = s.recv(65536)
                    if not data:
                        return
                    if s is client:
                        record.extend(data)
                    peers[s].sendall(data)
        except OSError:
            pass
        finally:
            client.close()
            server.close()

    def stand_in(self, client, record):
        client.settimeout(0.2)
        answered = False
        deadline = time.time() + 3
        try:
            while time.time() < deadline and not self.stopping:
                try:
                    data = client.recv(65536)
                except socket.timeout:
                    continue
                if not data:
                    break
                record.extend(data)
                if not answered and len(record) >= 1537:
                    # S0, S1 (zero time, zero version, filler), S2 = echo of C1.
                    s1 = bytes(8) + bytes(i & 0xFF for i in range(1528))
                    client.sendall(b"\x03" + s1 + bytes(record[1:1537]))
                    answered = True
        except OSError:
            pass
        finally:
            client.close()

    def stop(self):
        self.stopping = True
        self.listener.close()
        self.thread.join()
        time.sleep(0.3)
        with self.lock:
            return [bytes(r) for r in self.sessions]


def start_element(plugin_dir, port, public_port, props=()):
    env = dict(os.environ, GST_PLUGIN_PATH=plugin_dir)
    cmd = [
        "gst-launch-1.0",
        "-q",
        "rtmpserversrc",
        "name=s",
        f"port={port}",
        "address=127.0.0.1",
        f"public-port={public_port}",
        *props,
        "s.video_0",
        "!",
        "fakesink",
        "s.audio_0",
        "!",
        "fakesink",
    ]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if wait_listening(port):
        return proc
    proc.kill()
    proc.wait()
    return None


def run(cmd, timeout=30):
    try:
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=timeout)
    except subprocess.TimeoutExpired:
        pass


def ffmpeg(clip):
    def publish(url):
        run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-re", "-i", clip,
             "-c", "copy", "-f", "flv", url])
    return publish


def rtmp2sink(extra=()):
    def publish(url):
        desc = (
            "videotestsrc is-live=true num-buffers=30 ! video/x-raw,width=320,height=240,framerate=30/1 "
            "! x264enc bframes=2 key-int-max=30 speed-preset=ultrafast ! h264parse ! queue ! mux.video "
            "audiotestsrc is-live=true num-buffers=47 samplesperbuffer=1024 ! audio/x-raw,rate=48000,channels=2 "
            "! avenc_aac ! aacparse ! queue ! mux.audio "
            f"flvmux name=mux streamable=true ! rtmp2sink location={url}"
        )
        run(["gst-launch-1.0", "-q", *desc.split(), *extra])
    return publish


# ---------------------------------------------------------------------------------------------
# Just enough chunk-stream and AMF0 reading to pull the connect command out of a capture.


def messages(stream):
    """Yields (type id, payload) of each message, as far as the capture goes."""
    pos, chunk_size, state = 0, 128, {}
    try:
        while pos < len(stream):
            b = stream[pos]
            fmt, csid = b >> 6, b & 0x3F
            pos += 1
            if csid == 0:
                csid, pos = 64 + stream[pos], pos + 1
            elif csid == 1:
                csid, pos = 64 + stream[pos] + 256 * stream[pos + 1], pos + 2
            st = state.setdefault(csid, {"len": 0, "type": 0, "buf": b"", "ext": False})
            if fmt <= 2:
                st["ext"] = int.from_bytes(stream[pos : pos + 3], "big") == 0xFFFFFF
            if fmt <= 1:
                st["len"] = int.from_bytes(stream[pos + 3 : pos + 6], "big")
                st["type"] = stream[pos + 6]
            pos += (11, 7, 3, 0)[fmt]
            if st["ext"]:
                pos += 4  # FFmpeg and librtmp repeat it on type-3 chunks
            take = min(chunk_size, st["len"] - len(st["buf"]))
            if pos + take > len(stream):
                return
            st["buf"] += stream[pos : pos + take]
            pos += take
            if len(st["buf"]) >= st["len"]:
                body, st["buf"] = st["buf"], b""
                if st["type"] == 1 and len(body) >= 4:
                    chunk_size = int.from_bytes(body[:4], "big") & 0x7FFFFFFF
                yield st["type"], body
    except IndexError:
        return


def amf_strings(body):
    """(command name, {key: string value} of the command object) from an AMF0 command."""
    def short(p):
        n = int.from_bytes(body[p : p + 2], "big")
        return body[p + 2 : p + 2 + n].decode("utf-8", "replace"), p + 2 + n

    if not body or body[0] != 2:
        return None, {}
    name, p = short(1)
    p += 9  # transaction id
    props = {}
    if p < len(body) and body[p] == 3:
        p += 1
        while p + 3 <= len(body):
            key, p = short(p)
            marker = body[p]
            if key == "" and marker == 9:
                break
            p += 1
            if marker == 2:
                props[key], p = short(p)
            elif marker == 0:
                p += 8
            elif marker == 1:
                p += 1
            elif marker in (5, 6):
                pass
            else:
                break  # nested values: not needed for app/tcUrl
    return name, props


def write_seeds(out, name, streams, raw_left):
    written = 0
    for i, stream in enumerate(streams):
        if len(stream) <= HANDSHAKE_LEN:
            continue
        tag = f"{name}-c{i}"
        after = stream[HANDSHAKE_LEN:]
        put(out, "session", f"{tag}.bin", b"\x00\x00" + after[:SEED_MAX])
        if raw_left > 0:
            put(out, "session", f"{tag}-raw.bin", b"\x01\x00" + stream[: SEED_MAX + HANDSHAKE_LEN])
            raw_left -= 1
        put(out, "chunk", f"{tag}.bin", b"\xff\xff\x1f\x00" + after[:SEED_MAX])
        put(out, "chunk", f"{tag}-tight.bin", b"\x30\x10\x13\x05" + after[:4096])
        amf = 0
        for kind, body in messages(after):
            if kind not in (18, 20) or amf >= 8:
                continue
            put(out, "amf0", f"{tag}-m{amf}.bin", body)
            amf += 1
            command, props = amf_strings(body)
            if command == "connect" and "app" in props:
                text = props["app"] + ("\n" + props["tcUrl"] if "tcUrl" in props else "")
                put(out, "auth", f"{tag}.txt", text.encode())
        written += 1
    return written, raw_left


def put(out, target, name, data):
    os.makedirs(os.path.join(out, target), exist_ok=True)
    with open(os.path.join(out, target, name), "wb") as f:
        f.write(data)


def main():
    media, out = sys.argv[1], sys.argv[2]
    here = os.path.dirname(os.path.abspath(__file__))
    plugin_dir = sys.argv[3] if len(sys.argv) > 3 else os.path.join(here, "..", "..", "target", "debug")
    have_gst = shutil.which("gst-launch-1.0") is not None

    scenarios = [
        # name, publisher, element properties, URL user info
        ("ffmpeg-h264-aac", ffmpeg(os.path.join(media, "clip.flv")), (), ""),
        ("ffmpeg-mp3", ffmpeg(os.path.join(media, "legacy-libmp3lame.flv")), (), ""),
        ("ffmpeg-speex", ffmpeg(os.path.join(media, "legacy-libspeex.flv")), (), ""),
        ("ffmpeg-auth", ffmpeg(os.path.join(media, "clip.flv")),
         ("username=alice", "password=s3cret"), "alice:s3cret@"),
    ]
    if have_gst:
        scenarios.append(("rtmp2sink-h264-aac", rtmp2sink(), (), ""))
        scenarios.append(("rtmp2sink-auth", rtmp2sink(("username=alice", "password=s3cret")),
                          ("username=alice", "password=s3cret"), ""))

    raw_left = RAW_SEEDS
    for name, publish, props, userinfo in scenarios:
        proxy_port, element_port = free_port(), free_port()
        element = start_element(plugin_dir, element_port, proxy_port, props) if have_gst else None
        if element is None:
            print(f"{name}: rtmpserversrc not available, recording against the stand-in")
        rec = Recorder(proxy_port, element_port if element else None)
        url = f"rtmp://{userinfo}127.0.0.1:{proxy_port}/app/key"
        publish(url)
        streams = rec.stop()
        if element:
            element.terminate()
            try:
                element.wait(5)
            except subprocess.TimeoutExpired:
                element.kill()
                element.wait()
        n, raw_left = write_seeds(out, name, streams, raw_left)
        sizes = ", ".join(str(len(s)) for s in streams)
        print(f"{name}: {len(streams)} connection(s) recorded ({sizes} bytes), {n} seeded")


if __name__ == "__main__":
    main()
