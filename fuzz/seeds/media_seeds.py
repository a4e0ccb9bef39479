#!/usr/bin/env python3
"""Writes seed corpora for the `flv` and `amf0` fuzz targets from real encoder output.

Usage: media_seeds.py MEDIA_DIR OUT_DIR

MEDIA_DIR holds the clips make_seeds.sh encodes with FFmpeg: FLV files (legacy tags exactly as
FFmpeg muxes them), MP4 files (HEVC, AV1, VP9, Opus, FLAC, AC-3, E-AC-3, 5.1 AAC) and an IVF file
(VP8). FFmpeg 5.1 cannot mux Enhanced RTMP, so for those codecs the codec configuration records
and frames are taken from the MP4/IVF files and wrapped in Enhanced RTMP tag bodies here
(SequenceStart, CodedFrames/CodedFramesX, SequenceEnd, Multitrack, ModEx, Metadata).

Writes OUT_DIR/flv/*.bin (one tag body each) and OUT_DIR/amf0/*.bin (script data bodies).
"""

import os
import struct
import sys

MAX_SEED = 16 * 1024  # bytes per flv seed; frames are cut, which the parser must cope with too


# --------------------------------------------------------------------------------------------
# FLV


def flv_tags(path):
    """Yields (tag_type, timestamp, body) for every tag of an FLV file."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:3] != b"FLV":
        raise ValueError(f"{path}: not FLV")
    pos = struct.unpack(">I", data[5:9])[0] + 4  # header, then PreviousTagSize0
    while pos + 11 <= len(data):
        kind = data[pos] & 0x1F
        size = int.from_bytes(data[pos + 1 : pos + 4], "big")
        ts = int.from_bytes(data[pos + 4 : pos + 7], "big") | (data[pos + 7] << 24)
        body = data[pos + 11 : pos + 11 + size]
        yield kind, ts, body
        pos += 11 + size + 4


# --------------------------------------------------------------------------------------------
# MP4 (just enough of ISO BMFF to get the sample entry's config box and the samples)

CONTAINERS = {b"moov", b"trak", b"mdia", b"minf", b"stbl", b"edts", b"dinf"}


def boxes(data, start=0, end=None):
    end = len(data) if end is None else end
    pos = start
    while pos + 8 <= end:
        size, kind = struct.unpack(">I4s", data[pos : pos + 8])
        header = 8
        if size == 1:
            size = struct.unpack(">Q", data[pos + 8 : pos + 16])[0]
            header = 16
        elif size == 0:
            size = end - pos
        if size < header:
            return
        yield kind, pos + header, pos + size
        pos += size


def find(data, path, start=0, end=None):
    """First box along `path` (list of fourccs), as (payload_start, end)."""
    for kind, s, e in boxes(data, start, end):
        if kind == path[0]:
            if len(path) == 1:
                return s, e
            found = find(data, path[1:], s, e)
            if found:
                return found
    return None


def mp4_track(path):
    """(sample entry fourcc, {config fourcc: payload}, [samples], set of sync indices)."""
    with open(path, "rb") as f:
        data = f.read()
    stbl = find(data, [b"moov", b"trak", b"mdia", b"minf", b"stbl"])
    if stbl is None:
        raise ValueError(f"{path}: no stbl")
    s, e = stbl
    stsd = find(data, [b"stsd"], s, e)
    entry_start = stsd[0] + 8  # version/flags + entry count
    entry_size, entry_kind = struct.unpack(">I4s", data[entry_start : entry_start + 8])
    entry_end = entry_start + entry_size
    # Visual sample entries have 78 bytes before their child boxes, audio ones 28.
    audio = entry_kind in (b"Opus", b"fLaC", b"mp4a", b"ac-3", b"ec-3")
    child = entry_start + 8 + (28 if audio else 78)
    configs = {k: data[cs:ce] for k, cs, ce in boxes(data, child, entry_end)}

    stsz = find(data, [b"stsz"], s, e)
    fixed, count = struct.unpack(">II", data[stsz[0] + 4 : stsz[0] + 12])
    sizes = (
        [fixed] * count
        if fixed
        else list(struct.unpack(f">{count}I", data[stsz[0] + 12 : stsz[0] + 12 + 4 * count]))
    )
    stco = find(data, [b"stco"], s, e)
    if stco:
        n = struct.unpack(">I", data[stco[0] + 4 : stco[0] + 8])[0]
        offsets = list(struct.unpack(f">{n}I", data[stco[0] + 8 : stco[0] + 8 + 4 * n]))
    else:
        co64 = find(data, [b"co64"], s, e)
        n = struct.unpack(">I", data[co64[0] + 4 : co64[0] + 8])[0]
        offsets = list(struct.unpack(f">{n}Q", data[co64[0] + 8 : co64[0] + 8 + 8 * n]))
    stsc = find(data, [b"stsc"], s, e)
    n = struct.unpack(">I", data[stsc[0] + 4 : stsc[0] + 8])[0]
    runs = [struct.unpack(">III", data[stsc[0] + 8 + 12 * i : stsc[0] + 20 + 12 * i]) for i in range(n)]
    samples = []
    index = 0
    for chunk_no, offset in enumerate(offsets, start=1):
        per_chunk = 0
        for first, spc, _ in runs:
            if first <= chunk_no:
                per_chunk = spc
        for _ in range(per_chunk):
            if index >= len(sizes):
                break
            samples.append(data[offset : offset + sizes[index]])
            offset += sizes[index]
            index += 1
    stss = find(data, [b"stss"], s, e)
    if stss:
        n = struct.unpack(">I", data[stss[0] + 4 : stss[0] + 8])[0]
        sync = {i - 1 for i in struct.unpack(f">{n}I", data[stss[0] + 8 : stss[0] + 8 + 4 * n])}
    else:
        sync = set(range(len(samples)))
    return entry_kind, configs, samples, sync


def ivf_frames(path):
    with open(path, "rb") as f:
        data = f.read()
    header_len = struct.unpack("<H", data[6:8])[0]
    pos = header_len
    frames = []
    while pos + 12 <= len(data):
        size = struct.unpack("<I", data[pos : pos + 4])[0]
        frames.append(data[pos + 12 : pos + 12 + size])
        pos += 12 + size
    return frames


# --------------------------------------------------------------------------------------------
# AMF0 (encoder for seeds)


def amf_string(s):
    b = s.encode()
    return b"\x02" + struct.pack(">H", len(b)) + b


def amf_number(n):
    return b"\x00" + struct.pack(">d", n)


def amf_props(props):
    out = b""
    for key, value in props:
        k = key.encode()
        out += struct.pack(">H", len(k)) + k + value
    return out + b"\x00\x00\x09"


def amf_object(props):
    return b"\x03" + amf_props(props)


def amf_ecma(props):
    return b"\x08" + struct.pack(">I", len(props)) + amf_props(props)


# --------------------------------------------------------------------------------------------
# Enhanced RTMP tag bodies

FRAME_KEY, FRAME_INTER, FRAME_COMMAND = 1, 2, 5
V_SEQ_START, V_CODED, V_SEQ_END, V_CODED_X, V_METADATA, V_TS_SEQ, V_MULTITRACK, MODEX = range(8)
A_SEQ_START, A_CODED, A_SEQ_END, A_MULTICHANNEL, A_MULTITRACK = 0, 1, 2, 4, 5


def ex_video(frame_type, packet_type, fourcc, body):
    return bytes([0x80 | (frame_type << 4) | packet_type]) + fourcc + body


def ex_audio(packet_type, fourcc, body):
    return bytes([0x90 | packet_type]) + fourcc + body


def si24(n):
    return (n & 0xFFFFFF).to_bytes(3, "big")


def video_frame(fourcc, key, data, composition_time=0):
    frame_type = FRAME_KEY if key else FRAME_INTER
    if fourcc in (b"avc1", b"hvc1"):
        return ex_video(frame_type, V_CODED, fourcc, si24(composition_time) + data)
    return ex_video(frame_type, V_CODED_X, fourcc, data)


def modex_nano(first_byte_high, offset_ns, packet_type):
    """Header byte with PacketType ModEx, a 3-byte TimestampOffsetNano, then the real type."""
    return bytes([first_byte_high | MODEX, 2]) + offset_ns.to_bytes(3, "big") + bytes([packet_type])


def opus_head(dops):
    # dOps (big endian, version 0) -> OpusHead (little endian, version 1).
    _, channels, pre_skip, rate, gain, family = struct.unpack(">BBHIhB", dops[:11])
    head = b"OpusHead" + struct.pack("<BBHIhB", 1, channels, pre_skip, rate, gain, family)
    return head + dops[11:]


def mp4a_asc(esds):
    """The DecoderSpecificInfo (tag 5) of an esds box."""
    pos = 4  # version/flags
    while pos < len(esds):
        tag = esds[pos]
        pos += 1
        length = 0
        for _ in range(4):
            b = esds[pos]
            pos += 1
            length = (length << 7) | (b & 0x7F)
            if not b & 0x80:
                break
        if tag == 3:
            pos += 3  # ES_ID, flags
            continue
        if tag == 4:
            pos += 13
            continue
        if tag == 5:
            return esds[pos : pos + length]
        pos += length
    raise ValueError("no DecoderSpecificInfo")


def vp8_vpcc():
    # VPCodecConfigurationRecord v1: profile 0, level 10, 8-bit 4:2:0, BT.709, no init data.
    return bytes([1, 0, 0, 0, 0, 10, (8 << 4) | (1 << 1), 1, 1, 1, 0, 0])


class Seeds:
    def __init__(self, out):
        self.out = out
        self.names = set()

    def put(self, target, name, data):
        os.makedirs(os.path.join(self.out, target), exist_ok=True)
        assert name not in self.names, name
        self.names.add(name)
        with open(os.path.join(self.out, target, name + ".bin"), "wb") as f:
            f.write(data[:MAX_SEED])


def legacy_seeds(seeds, media):
    for name in sorted(os.listdir(media)):
        if not name.endswith(".flv"):
            continue
        stem = name[:-4]
        kept = {}
        for kind, _, body in flv_tags(os.path.join(media, name)):
            if kind == 18:
                seeds.put("amf0", f"{stem}-onmetadata", body)
                continue
            if not body:
                continue
            # Keep the first tag of each (type, header byte, packet type) and the first 3 frames.
            # (Only AVC/HEVC video and AAC audio have a packet type byte.)
            typed = len(body) > 1 and (kind == 9 or body[0] >> 4 == 10)
            key = (kind, body[0], body[1] if typed else None)
            n = kept.get(key, 0)
            if n < (1 if typed and key[2] != 1 else 3):
                kept[key] = n + 1
                what = "video" if kind == 9 else "audio"
                pt = "" if key[2] is None else f"-{key[2]:02x}"
                seeds.put("flv", f"{stem}-{what}-{body[0]:02x}{pt}-{n}", body)


def enhanced_video(seeds, fourcc, config, frames, sync, tag):
    seeds.put("flv", f"ex-{tag}-seqstart", ex_video(FRAME_KEY, V_SEQ_START, fourcc, config))
    seeds.put("flv", f"ex-{tag}-config-raw", config)
    for i, frame in enumerate(frames[:3]):
        seeds.put("flv", f"ex-{tag}-frame{i}", video_frame(fourcc, i in sync, frame, 33 * i))
    seeds.put("flv", f"ex-{tag}-frame0-raw", frames[0])
    seeds.put("flv", f"ex-{tag}-seqend", ex_video(FRAME_KEY, V_SEQ_END, fourcc, b""))
    # Multitrack: one track, many tracks (same codec), many tracks many codecs.
    seeds.put(
        "flv",
        f"ex-{tag}-mt-one",
        bytes([0x80 | (FRAME_KEY << 4) | V_MULTITRACK, (0 << 4) | V_SEQ_START]) + fourcc + b"\x01" + config,
    )
    tracks = b"".join(bytes([t]) + len(frames[0][:512]).to_bytes(3, "big") + frames[0][:512] for t in (0, 1))
    packet = V_CODED_X
    seeds.put(
        "flv",
        f"ex-{tag}-mt-many",
        bytes([0x80 | (FRAME_KEY << 4) | V_MULTITRACK, (1 << 4) | packet]) + fourcc + tracks,
    )
    mixed = fourcc + b"\x00" + len(config).to_bytes(3, "big") + config
    mixed += b"zzzz\x01\x00\x00\x02\xaa\xbb"  # unknown FourCC, skipped
    seeds.put(
        "flv",
        f"ex-{tag}-mt-mixed",
        bytes([0x80 | (FRAME_KEY << 4) | V_MULTITRACK, (2 << 4) | V_SEQ_START]) + mixed,
    )
    # ModEx with a TimestampOffsetNano before a coded frame.
    frame = video_frame(fourcc, True, frames[0])
    seeds.put(
        "flv",
        f"ex-{tag}-modex",
        modex_nano(0x80 | (FRAME_KEY << 4), 500000, frame[0] & 0x0F) + frame[1:],
    )


def enhanced_seeds(seeds, media):
    def track(name):
        return mp4_track(os.path.join(media, name))

    _, cfg, frames, sync = track("hevc.mp4")
    enhanced_video(seeds, b"hvc1", cfg[b"hvcC"], frames, sync, "hvc1")
    # Legacy CodecID 12 (CDN extension) and hvcC under CodecID 7 (older OBS).
    seeds.put("flv", "legacy-hevc12-seqstart", b"\x1c\x00\x00\x00\x00" + cfg[b"hvcC"])
    seeds.put("flv", "legacy-hevc-as-avc-seqstart", b"\x17\x00\x00\x00\x00" + cfg[b"hvcC"])
    seeds.put("flv", "legacy-hevc12-frame", b"\x1c\x01\x00\x00\x00" + frames[0])

    _, cfg, frames, sync = track("av1.mp4")
    enhanced_video(seeds, b"av01", cfg[b"av1C"], frames, sync, "av01")
    seeds.put(
        "flv",
        "ex-av01-ts-seqstart",
        ex_video(FRAME_KEY, V_TS_SEQ, b"av01", b"\x80\x04" + cfg[b"av1C"][:4]),
    )

    _, cfg, frames, sync = track("vp9.mp4")
    enhanced_video(seeds, b"vp09", cfg[b"vpcC"], frames, sync, "vp09")

    frames = ivf_frames(os.path.join(media, "vp8.ivf"))
    enhanced_video(seeds, b"vp08", vp8_vpcc(), frames, {0}, "vp08")

    # Video metadata (colorInfo) and a command frame.
    color = amf_string("colorInfo") + amf_object(
        [
            (
                "colorConfig",
                amf_object(
                    [
                        ("bitDepth", amf_number(10)),
                        ("colorPrimaries", amf_number(9)),
                        ("transferCharacteristics", amf_number(16)),
                        ("matrixCoefficients", amf_number(9)),
                    ]
                ),
            ),
            ("hdrMdcv", amf_object([("maxLuminance", amf_number(1000))])),
        ]
    )
    seeds.put("flv", "ex-hvc1-metadata", ex_video(FRAME_KEY, V_METADATA, b"hvc1", color))
    seeds.put("amf0", "colorinfo", color)
    seeds.put("flv", "ex-command", bytes([0x80 | (FRAME_COMMAND << 4) | V_CODED, 1]))
    seeds.put("flv", "legacy-command", bytes([(FRAME_COMMAND << 4) | 7, 0]))

    # Audio.
    _, cfg, frames, _ = track("opus.mp4")
    head = opus_head(cfg[b"dOps"])
    seeds.put("flv", "ex-opus-seqstart", ex_audio(A_SEQ_START, b"Opus", head))
    seeds.put("flv", "ex-opus-seqstart-empty", ex_audio(A_SEQ_START, b"Opus", b""))
    seeds.put("flv", "ex-opus-head-raw", head)
    seeds.put("flv", "ex-opus-frame", ex_audio(A_CODED, b"Opus", frames[0]))
    seeds.put("flv", "ex-opus-seqend", ex_audio(A_SEQ_END, b"Opus", b""))
    seeds.put("flv", "ex-opus-multichannel-native", ex_audio(A_MULTICHANNEL, b"Opus", b"\x01\x02\x00\x00\x00\x03"))
    seeds.put("flv", "ex-opus-multichannel-custom", ex_audio(A_MULTICHANNEL, b"Opus", b"\x02\x06\x00\x01\x02\x03\x04\x05"))
    seeds.put("flv", "multichannel-raw", b"\x02\x06\x00\x01\x02\x03\x04\x05")

    _, cfg, frames, _ = track("flac.mp4")
    flac = b"fLaC" + cfg[b"dfLa"][4:]  # dfLa = version/flags + metadata blocks
    seeds.put("flv", "ex-flac-seqstart", ex_audio(A_SEQ_START, b"fLaC", flac))
    seeds.put("flv", "ex-flac-streaminfo-raw", flac)
    seeds.put("flv", "ex-flac-frame", ex_audio(A_CODED, b"fLaC", frames[0]))

    for name, fourcc in (("ac3.mp4", b"ac-3"), ("eac3.mp4", b"ec-3")):
        _, _, frames, _ = track(name)
        tag = fourcc.decode()
        seeds.put("flv", f"ex-{tag}-frame", ex_audio(A_CODED, fourcc, frames[0]))
        seeds.put("flv", f"ex-{tag}-frame-raw", frames[0])

    _, cfg, frames, _ = track("aac51.mp4")
    asc = mp4a_asc(cfg[b"esds"])
    seeds.put("flv", "ex-mp4a-seqstart-51", ex_audio(A_SEQ_START, b"mp4a", asc))
    seeds.put("flv", "aac-asc-51-raw", asc)
    seeds.put("flv", "ex-mp4a-frame", ex_audio(A_CODED, b"mp4a", frames[0]))
    seeds.put(
        "flv",
        "ex-mp4a-modex",
        bytes([0x90 | MODEX, 2]) + (250000).to_bytes(3, "big") + bytes([A_CODED]) + b"mp4a" + frames[0],
    )
    # Audio multitrack: one track, many tracks, many tracks many codecs.
    seeds.put(
        "flv",
        "ex-audio-mt-one",
        bytes([0x90 | A_MULTITRACK, (0 << 4) | A_SEQ_START]) + b"mp4a\x01" + asc,
    )
    body = b"".join(bytes([t]) + len(frames[0]).to_bytes(3, "big") + frames[0] for t in (0, 1, 2))
    seeds.put("flv", "ex-audio-mt-many", bytes([0x90 | A_MULTITRACK, (1 << 4) | A_CODED]) + b"mp4a" + body)
    mixed = b"mp4a\x00" + len(asc).to_bytes(3, "big") + asc + b"Opus\x01" + len(head).to_bytes(3, "big") + head
    seeds.put("flv", "ex-audio-mt-mixed", bytes([0x90 | A_MULTITRACK, (2 << 4) | A_SEQ_START]) + mixed)


def amf_seeds(seeds):
    # What publishers send, written out by hand from the RTMP/E-RTMP specs' field lists.
    connect = (
        amf_string("connect")
        + amf_number(1)
        + amf_object(
            [
                ("app", amf_string("live")),
                ("type", amf_string("nonprivate")),
                ("flashVer", amf_string("FMLE/3.0 (compatible; FMSc/1.0)")),
                ("tcUrl", amf_string("rtmp://127.0.0.1:1935/live")),
                ("fourCcList", b"\x0a\x00\x00\x00\x03" + amf_string("av01") + amf_string("vp09") + amf_string("hvc1")),
                ("videoFourCcInfoMap", amf_object([("*", amf_number(2))])),
                ("capsEx", amf_number(15)),
            ]
        )
    )
    seeds.put("amf0", "connect-ertmp", connect)
    seeds.put("amf0", "publish", amf_string("publish") + amf_number(5) + b"\x05" + amf_string("key") + amf_string("live"))
    seeds.put(
        "amf0",
        "kinds",
        b"\x06"  # undefined
        + b"\x01\x01"  # true
        + b"\x07\x00\x01"  # reference
        + b"\x0b" + struct.pack(">dh", 1.7e12, 0)  # date
        + b"\x0c" + struct.pack(">I", 3) + b"abc"  # long string
        + b"\x0f" + struct.pack(">I", 5) + b"<a/>\n"  # xml
        + b"\x10\x00\x03Foo" + amf_props([("x", amf_number(1))])  # typed object
        + b"\x0d"  # unsupported
        + b"\x0a\x00\x00\x00\x02" + amf_number(1) + b"\x05",  # strict array
    )
    seeds.put("amf0", "ecma-no-end", b"\x08\x00\x00\x00\x01\x00\x01a" + amf_number(2))
    seeds.put("amf0", "nested", b"\x03\x00\x01a" * 8 + b"\x05" + b"\x00\x00\x09" * 8)


def main():
    media, out = sys.argv[1], sys.argv[2]
    seeds = Seeds(out)
    legacy_seeds(seeds, media)
    enhanced_seeds(seeds, media)
    amf_seeds(seeds)
    print(f"wrote {len(seeds.names)} flv/amf0 seeds to {out}")


if __name__ == "__main__":
    main()
