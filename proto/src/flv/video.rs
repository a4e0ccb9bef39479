// Copyright (C) 2026 The gst-plugin-rtmpserver authors
// SPDX-License-Identifier: MPL-2.0
//! Video tag bodies: legacy FLV (AVC, HEVC CDN extension) and Enhanced RTMP.

use bytes::{Buf, Bytes};

use super::exheader::{read_modex, split_tracks, TrackBody};
use super::reader::ByteReader;
use super::{h264, h265};
use super::{FlvError, Packets, VideoCodec, VideoPacket};
use smallvec::smallvec;

const FRAME_KEY: u8 = 1;
const FRAME_GENERATED_KEY: u8 = 4;
const FRAME_COMMAND: u8 = 5;

const LEGACY_AVC: u8 = 7;
const LEGACY_HEVC: u8 = 12;

const SEQUENCE_START: u8 = 0;
const CODED_FRAMES: u8 = 1;
const SEQUENCE_END: u8 = 2;
const CODED_FRAMES_X: u8 = 3;
const METADATA: u8 = 4;
const MPEG2TS_SEQUENCE_START: u8 = 5;
const MULTITRACK: u8 = 6;

/// The AV1 video descriptor tag used by MPEG2TSSequenceStart.
const AV1_DESCRIPTOR_TAG: u8 = 0x80;

/// Parses one video message payload into packets (several for multitrack).
///
/// Legacy AVC sequence headers whose record is really an hvcC (older OBS sent
/// HEVC under CodecID 7) come out as `SequenceStart { codec: H265 }`; the
/// frames that follow still say H264, and remembering the switch per track is
/// the caller's job. For `av01` MPEG2TSSequenceStart, the 4 fixed bytes of the
/// AV1 video descriptor are an av1C without configOBUs and are reported as a
/// `SequenceStart`; for other codecs that packet type is ignored.
/// In ManyTracksManyCodecs messages, tracks with an unknown FourCC are skipped.
pub fn parse_video(payload: &Bytes) -> Result<Packets<VideoPacket>, FlvError> {
    parse_video_owned(payload.clone())
}

/// As [`parse_video`], taking the payload: a legacy tag's packet is the payload itself,
/// advanced past the tag header. A slice would be a clone, and the first clone of a `Bytes`
/// made from a `Vec` allocates its shared header: once per media message.
pub fn parse_video_owned(payload: Bytes) -> Result<Packets<VideoPacket>, FlvError> {
    let mut r = ByteReader::new(&payload);
    let header = r.u8("video header")?;
    let is_ex_header = header & 0x80 != 0;
    let frame_type = (header >> 4) & 0x07;
    let low = header & 0x0f;

    if !is_ex_header {
        if frame_type == FRAME_COMMAND {
            let command = r.u8("video command")?;
            return Ok(smallvec![VideoPacket::Command { track: 0, command }]);
        }
        let legacy = read_legacy(&mut r, frame_type, low)?;
        let start = payload.len() - r.remaining();
        let mut data = payload;
        data.advance(start);
        return Ok(smallvec![legacy.packet(data)]);
    }

    let (packet_type, timestamp_offset_ns) = read_modex(&mut r, low)?;
    if frame_type == FRAME_COMMAND && packet_type != METADATA {
        let command = r.u8("video command")?;
        return Ok(smallvec![VideoPacket::Command { track: 0, command }]);
    }
    let (packet_type, tracks) = split_tracks(&mut r, packet_type, MULTITRACK)?;
    let mut out = Packets::with_capacity(tracks.len());
    for track in tracks {
        let ctx = FrameContext {
            payload: &payload,
            frame_type,
            timestamp_offset_ns,
        };
        if let Some(packet) = parse_track(&ctx, packet_type, &track)? {
            out.push(packet);
        }
    }
    Ok(out)
}

struct FrameContext<'p> {
    payload: &'p Bytes,
    frame_type: u8,
    timestamp_offset_ns: u32,
}

fn is_keyframe(frame_type: u8) -> bool {
    frame_type == FRAME_KEY || frame_type == FRAME_GENERATED_KEY
}

fn codec_from_fourcc(fourcc: [u8; 4]) -> Option<VideoCodec> {
    match &fourcc {
        b"avc1" => Some(VideoCodec::H264),
        b"hvc1" => Some(VideoCodec::H265),
        b"av01" => Some(VideoCodec::Av1),
        b"vp09" => Some(VideoCodec::Vp9),
        b"vp08" => Some(VideoCodec::Vp8),
        b"vvc1" => Some(VideoCodec::Vvc),
        _ => None,
    }
}

/// What a legacy tag's header says the rest of its payload is.
struct LegacyVideo {
    codec: VideoCodec,
    /// AVCPacketType: 0, 1 or 2.
    packet_type: u8,
    frame_type: u8,
    composition_time_ms: i32,
}

/// Reads a legacy tag's header after its first byte (frame type and CodecID).
fn read_legacy(
    r: &mut ByteReader<'_>,
    frame_type: u8,
    codec_id: u8,
) -> Result<LegacyVideo, FlvError> {
    let codec = match codec_id {
        LEGACY_AVC => VideoCodec::H264,
        LEGACY_HEVC => VideoCodec::H265,
        other => return Err(FlvError::UnsupportedCodec(other)),
    };
    let packet_type = r.u8("AVCPacketType")?;
    let composition_time_ms = r.i24("composition time")?;
    if packet_type > 2 {
        return Err(FlvError::InvalidPacketType(packet_type));
    }
    Ok(LegacyVideo {
        codec,
        packet_type,
        frame_type,
        composition_time_ms,
    })
}

impl LegacyVideo {
    /// The packet, with the rest of the payload.
    fn packet(self, data: Bytes) -> VideoPacket {
        let codec = self.codec;
        match self.packet_type {
            0 => {
                let codec = if codec == VideoCodec::H264 && looks_like_hvcc(&data) {
                    VideoCodec::H265
                } else {
                    codec
                };
                VideoPacket::SequenceStart {
                    track: 0,
                    codec,
                    config: data,
                }
            }
            1 => VideoPacket::Frame {
                track: 0,
                codec,
                keyframe: is_keyframe(self.frame_type),
                composition_time_ms: self.composition_time_ms,
                timestamp_offset_ns: 0,
                data,
            },
            _ => VideoPacket::SequenceEnd { track: 0, codec },
        }
    }
}

fn parse_track(
    ctx: &FrameContext<'_>,
    packet_type: u8,
    track: &TrackBody<'_>,
) -> Result<Option<VideoPacket>, FlvError> {
    let Some(codec) = codec_from_fourcc(track.fourcc) else {
        if track.skippable {
            return Ok(None);
        }
        return Err(FlvError::UnsupportedFourCc(track.fourcc));
    };
    let id = track.track;
    let mut r = ByteReader::new(track.body);
    let packet = match packet_type {
        SEQUENCE_START => VideoPacket::SequenceStart {
            track: id,
            codec,
            config: ctx.payload.slice_ref(track.body),
        },
        CODED_FRAMES | CODED_FRAMES_X => {
            let has_composition_time = packet_type == CODED_FRAMES
                && matches!(codec, VideoCodec::H264 | VideoCodec::H265 | VideoCodec::Vvc);
            let composition_time_ms = if has_composition_time {
                r.i24("composition time")?
            } else {
                0
            };
            VideoPacket::Frame {
                track: id,
                codec,
                keyframe: is_keyframe(ctx.frame_type),
                composition_time_ms,
                timestamp_offset_ns: ctx.timestamp_offset_ns,
                data: ctx.payload.slice_ref(r.rest()),
            }
        }
        SEQUENCE_END => VideoPacket::SequenceEnd { track: id, codec },
        METADATA => VideoPacket::Metadata {
            track: id,
            codec,
            amf: ctx.payload.slice_ref(track.body),
        },
        MPEG2TS_SEQUENCE_START => {
            if codec != VideoCodec::Av1 {
                return Ok(None);
            }
            let tag = r.u8("AV1 video descriptor")?;
            let length = r.u8("AV1 video descriptor")?;
            if tag != AV1_DESCRIPTOR_TAG || length < 4 {
                return Err(FlvError::Malformed("AV1 video descriptor"));
            }
            let record = r.take(4, "AV1 video descriptor")?;
            VideoPacket::SequenceStart {
                track: id,
                codec,
                config: ctx.payload.slice_ref(record),
            }
        }
        other => return Err(FlvError::InvalidPacketType(other)),
    };
    Ok(Some(packet))
}

/// True when a record sent as an H.264 sequence header is really an hvcC
/// (older OBS sent HEVC under legacy CodecID 7). It must fit the hvcC layout
/// (reserved bits set where hvcC has them, consistent NAL arrays) and must not
/// parse as an avcC whose first parameter set is an SPS.
pub fn looks_like_hvcc(config: &[u8]) -> bool {
    let avcc_fits = h264::parse_avcc(config).is_ok_and(|avcc| {
        config.get(4).is_some_and(|b| b & 0xfc == 0xfc)
            && config.get(5).is_some_and(|b| b & 0xe0 == 0xe0)
            && avcc
                .sps
                .first()
                .is_none_or(|sps| sps.first().is_some_and(|h| h & 0x1f == h264::NAL_TYPE_SPS))
    });
    !avcc_fits && h265::hvcc_layout_fits(config)
}

/// The legacy FLV CodecID of a video message (7 AVC, 12 HEVC...), None for an Enhanced RTMP
/// one (ExHeader) or an empty payload: what the publisher labelled the codec, for a report
/// that compares it with what the record turned out to be.
pub fn legacy_video_codec_id(payload: &[u8]) -> Option<u8> {
    let header = *payload.first()?;
    (header & 0x80 == 0).then_some(header & 0x0f)
}

#[cfg(test)]
mod tests {
    use super::super::test_vectors::*;
    use super::*;

    #[test]
    fn legacy_codec_id_is_the_low_nibble_of_a_legacy_header() {
        assert_eq!(legacy_video_codec_id(&[0x17, 0x00]), Some(7));
        assert_eq!(legacy_video_codec_id(&[0x2c]), Some(12));
        assert_eq!(legacy_video_codec_id(&[0x90, b'h', b'v', b'c', b'1']), None);
        assert_eq!(legacy_video_codec_id(&[]), None);
    }

    fn cat(parts: &[&[u8]]) -> Bytes {
        Bytes::from(parts.concat())
    }

    fn one(payload: &Bytes) -> VideoPacket {
        let mut packets = parse_video(payload).unwrap();
        assert_eq!(packets.len(), 1, "{packets:?}");
        packets.remove(0)
    }

    /// Every video payload used below, for the truncation sweep.
    fn all_vectors() -> Vec<Bytes> {
        let mut long_modex = vec![0x97, 0xff, 0x01, 0x2b];
        long_modex.extend(std::iter::repeat_n(0u8, 300));
        long_modex.extend_from_slice(&[0x03, b'a', b'v', b'c', b'1', 9]);
        vec![
            Bytes::from_static(X264_1080P_SEQ_TAG),
            Bytes::from_static(X264_422_SEQ_TAG),
            Bytes::from_static(X264_INTER_TAG_HEAD),
            cat(&[&[0x1c, 0, 0, 0, 0], X265_HVCC]),
            cat(&[&[0x17, 0, 0, 0, 0], X265_HVCC]),
            cat(&[b"\x90hvc1", X265_HVCC]),
            cat(&[b"\x91hvc1\x00\x00\x21", &[1, 2, 3]]),
            cat(&[b"\xa3avc1", &[4, 5]]),
            cat(&[b"\x91av01", &[0x12, 0, 0x0a]]),
            cat(&[b"\x95av01", &[0x80, 0x04], &AV1_AV1C[..4], &[0; 4]]),
            cat(&[b"\x94avc1", &[0x02, 0x00, 0x09]]),
            cat(&[b"\x97\x02\x00\x01\xf4\x01av01", &[7, 7]]),
            Bytes::from(long_modex),
            cat(&[b"\x96\x00av01\x01", AV1_AV1C]),
            cat(&[b"\x96\x11avc1\x00\x00\x00\x05\x00\x00\x01\xaa\xbb\x01\x00\x00\x04\x00\x00\x00\xcc"]),
            cat(&[b"\x96\x20avc1\x00\x00\x00\x02\xaa\xbbxxxx\x05\x00\x00\x01\xcchvc1\x02\x00\x00\x01\xdd"]),
            Bytes::from_static(&[0xd1, 0x01]),
            Bytes::from_static(&[0x57, 0x00]),
        ]
    }

    #[test]
    fn legacy_avc_sequence_header_is_a_zero_copy_slice() {
        let payload = Bytes::from_static(X264_1080P_SEQ_TAG);
        let VideoPacket::SequenceStart {
            track,
            codec,
            config,
        } = one(&payload)
        else {
            panic!("not a sequence start");
        };
        assert_eq!((track, codec), (0, VideoCodec::H264));
        assert_eq!(&config[..], &X264_1080P_SEQ_TAG[5..]);
        assert_eq!(config.as_ptr(), X264_1080P_SEQ_TAG[5..].as_ptr());
    }

    #[test]
    fn legacy_avc_frames_and_end() {
        let payload = Bytes::from_static(X264_INTER_TAG_HEAD);
        assert_eq!(
            one(&payload),
            VideoPacket::Frame {
                track: 0,
                codec: VideoCodec::H264,
                keyframe: false,
                composition_time_ms: 133,
                timestamp_offset_ns: 0,
                data: payload.slice(5..),
            }
        );
        let key = cat(&[&[0x17, 1, 0xff, 0xff, 0xfe], &[0, 0, 0, 1, 0x65]]);
        let VideoPacket::Frame {
            keyframe,
            composition_time_ms,
            data,
            ..
        } = one(&key)
        else {
            panic!()
        };
        assert!(keyframe);
        assert_eq!(composition_time_ms, -2);
        assert_eq!(&data[..], &[0, 0, 0, 1, 0x65]);
        assert_eq!(
            one(&Bytes::from_static(&[0x17, 2, 0, 0, 0])),
            VideoPacket::SequenceEnd {
                track: 0,
                codec: VideoCodec::H264
            }
        );
        assert_eq!(
            parse_video(&Bytes::from_static(&[0x17, 3, 0, 0, 0])),
            Err(FlvError::InvalidPacketType(3))
        );
    }

    #[test]
    fn legacy_hevc_and_hevc_mislabelled_as_avc() {
        let hevc = cat(&[&[0x1c, 0, 0, 0, 0], X265_HVCC]);
        assert!(matches!(
            one(&hevc),
            VideoPacket::SequenceStart {
                codec: VideoCodec::H265,
                ..
            }
        ));
        let frame = cat(&[&[0x2c, 1, 0, 0, 0x10], &[0xab]]);
        assert!(matches!(
            one(&frame),
            VideoPacket::Frame {
                codec: VideoCodec::H265,
                keyframe: false,
                composition_time_ms: 16,
                ..
            }
        ));
        let obs = cat(&[&[0x17, 0, 0, 0, 0], X265_HVCC]);
        assert!(matches!(
            one(&obs),
            VideoPacket::SequenceStart {
                codec: VideoCodec::H265,
                ..
            }
        ));
        assert!(looks_like_hvcc(X265_HVCC));
        assert!(!looks_like_hvcc(&X264_1080P_SEQ_TAG[5..]));
        assert!(!looks_like_hvcc(&X264_422_SEQ_TAG[5..]));
    }

    #[test]
    fn legacy_unsupported_codecs_and_commands() {
        assert_eq!(
            parse_video(&Bytes::from_static(&[0x22, 1, 2, 3])),
            Err(FlvError::UnsupportedCodec(2))
        );
        assert_eq!(
            parse_video(&Bytes::from_static(&[0x14, 0])),
            Err(FlvError::UnsupportedCodec(4))
        );
        assert_eq!(
            one(&Bytes::from_static(&[0x57, 0x00])),
            VideoPacket::Command {
                track: 0,
                command: 0
            }
        );
        assert_eq!(
            parse_video(&Bytes::new()),
            Err(FlvError::Truncated("video header"))
        );
    }

    #[test]
    fn enhanced_sequence_start_frames_and_end() {
        let seq = cat(&[b"\x90hvc1", X265_HVCC]);
        let VideoPacket::SequenceStart {
            track: 0,
            codec: VideoCodec::H265,
            config,
        } = one(&seq)
        else {
            panic!()
        };
        assert_eq!(&config[..], X265_HVCC);

        let frame = cat(&[b"\x91hvc1\xff\xff\xf6", &[1, 2, 3]]);
        assert_eq!(
            one(&frame),
            VideoPacket::Frame {
                track: 0,
                codec: VideoCodec::H265,
                keyframe: true,
                composition_time_ms: -10,
                timestamp_offset_ns: 0,
                data: frame.slice(8..),
            }
        );
        let frame_x = cat(&[b"\xa3avc1", &[4, 5]]);
        assert_eq!(
            one(&frame_x),
            VideoPacket::Frame {
                track: 0,
                codec: VideoCodec::H264,
                keyframe: false,
                composition_time_ms: 0,
                timestamp_offset_ns: 0,
                data: frame_x.slice(5..),
            }
        );
        // AV1, VP9, VP8 and VVC-X never carry a composition time.
        for (cc, codec) in [
            (b"av01", VideoCodec::Av1),
            (b"vp09", VideoCodec::Vp9),
            (b"vp08", VideoCodec::Vp8),
        ] {
            let frame = cat(&[b"\x91", cc, &[0x12, 0, 0x0a]]);
            let VideoPacket::Frame {
                codec: c,
                composition_time_ms: 0,
                data,
                ..
            } = one(&frame)
            else {
                panic!()
            };
            assert_eq!(c, codec);
            assert_eq!(&data[..], &[0x12, 0, 0x0a]);
        }
        let vvc = cat(&[b"\xb1vvc1\x00\x00\x05", &[9]]);
        assert!(matches!(
            one(&vvc),
            VideoPacket::Frame {
                codec: VideoCodec::Vvc,
                keyframe: false,
                composition_time_ms: 5,
                ..
            }
        ));
        assert_eq!(
            one(&cat(&[b"\x92vp09"])),
            VideoPacket::SequenceEnd {
                track: 0,
                codec: VideoCodec::Vp9
            }
        );
        // Generated keyframes (server-made) count as keyframes; disposable frames do not.
        assert!(matches!(
            one(&cat(&[b"\xc3vp08\x01"])),
            VideoPacket::Frame { keyframe: true, .. }
        ));
        assert!(matches!(
            one(&cat(&[b"\xb3vp08\x01"])),
            VideoPacket::Frame {
                keyframe: false,
                ..
            }
        ));
    }

    #[test]
    fn enhanced_metadata_and_commands() {
        let meta = cat(&[b"\x94avc1", &[0x02, 0x00, 0x09]]);
        assert_eq!(
            one(&meta),
            VideoPacket::Metadata {
                track: 0,
                codec: VideoCodec::H264,
                amf: meta.slice(5..)
            }
        );
        // FrameType command does not apply to Metadata packets.
        let meta_cmd = cat(&[b"\xd4av01", &[0x05]]);
        assert!(matches!(
            one(&meta_cmd),
            VideoPacket::Metadata {
                codec: VideoCodec::Av1,
                ..
            }
        ));
        assert_eq!(
            one(&Bytes::from_static(&[0xd1, 0x01])),
            VideoPacket::Command {
                track: 0,
                command: 1
            }
        );
        assert_eq!(
            parse_video(&Bytes::from_static(&[0xd1])),
            Err(FlvError::Truncated("video command"))
        );
    }

    #[test]
    fn enhanced_errors() {
        assert_eq!(
            parse_video(&cat(&[b"\x91xvid\x00"])),
            Err(FlvError::UnsupportedFourCc(*b"xvid"))
        );
        assert_eq!(
            parse_video(&cat(&[b"\x98avc1"])),
            Err(FlvError::InvalidPacketType(8))
        );
        assert_eq!(
            parse_video(&cat(&[b"\x91av0"])),
            Err(FlvError::Truncated("FourCC"))
        );
    }

    #[test]
    fn av1_mpeg2ts_sequence_start_becomes_an_av1c() {
        let payload = cat(&[b"\x95av01", &[0x80, 0x04], &AV1_AV1C[..4], &[0; 4]]);
        let VideoPacket::SequenceStart {
            codec: VideoCodec::Av1,
            config,
            ..
        } = one(&payload)
        else {
            panic!()
        };
        assert_eq!(&config[..], &AV1_AV1C[..4]);
        assert!(parse_video(&cat(&[b"\x95avc1\x80\x04"]))
            .unwrap()
            .is_empty());
        assert!(parse_video(&cat(&[b"\x95av01\x81\x04\x81\x21\x00\x00"])).is_err());
    }

    #[test]
    fn modex_timestamp_offset_short_long_and_chained() {
        let payload = cat(&[b"\x97\x02\x00\x01\xf4\x01av01", &[7, 7]]);
        assert_eq!(
            one(&payload),
            VideoPacket::Frame {
                track: 0,
                codec: VideoCodec::Av1,
                keyframe: true,
                composition_time_ms: 0,
                timestamp_offset_ns: 500,
                data: payload.slice(10..),
            }
        );
        let mut long = vec![0x97, 0xff, 0x01, 0x2b, 0x0f, 0x42, 0x3f];
        long.extend(std::iter::repeat_n(0u8, 297));
        long.extend_from_slice(&[0x03, b'a', b'v', b'c', b'1', 9]);
        let long = Bytes::from(long);
        assert!(matches!(
            one(&long),
            VideoPacket::Frame {
                timestamp_offset_ns: 999_999,
                composition_time_ms: 0,
                ..
            }
        ));
        // Nano offset, then an unknown ModEx type that is skipped, then CodedFrames.
        let chained = cat(&[b"\xa7\x02\x00\x00\x64\x07\x00\xee\x31hvc1\x00\x00\x01\x55"]);
        let VideoPacket::Frame {
            timestamp_offset_ns,
            composition_time_ms,
            data,
            ..
        } = one(&chained)
        else {
            panic!()
        };
        assert_eq!((timestamp_offset_ns, composition_time_ms), (100, 1));
        assert_eq!(&data[..], &[0x55]);
        // ModEx in front of a command frame.
        assert_eq!(
            one(&Bytes::from_static(&[0xd7, 0x02, 0, 0, 1, 0x01, 0x00])),
            VideoPacket::Command {
                track: 0,
                command: 0
            }
        );
    }

    #[test]
    fn multitrack_one_track() {
        let payload = cat(&[b"\x96\x00av01\x01", AV1_AV1C]);
        let VideoPacket::SequenceStart {
            track: 1,
            codec: VideoCodec::Av1,
            config,
        } = one(&payload)
        else {
            panic!()
        };
        assert_eq!(&config[..], AV1_AV1C);
    }

    #[test]
    fn multitrack_many_tracks_share_codec_and_modex() {
        let payload = cat(&[
            b"\x97\x02\x00\x00\x0a\x06\x11avc1",
            b"\x00\x00\x00\x05\x00\x00\x01\xaa\xbb",
            b"\x01\x00\x00\x04\xff\xff\xff\xcc",
        ]);
        let packets = parse_video(&payload).unwrap().into_vec();
        assert_eq!(
            packets,
            vec![
                VideoPacket::Frame {
                    track: 0,
                    codec: VideoCodec::H264,
                    keyframe: true,
                    composition_time_ms: 1,
                    timestamp_offset_ns: 10,
                    data: Bytes::from_static(&[0xaa, 0xbb]),
                },
                VideoPacket::Frame {
                    track: 1,
                    codec: VideoCodec::H264,
                    keyframe: true,
                    composition_time_ms: -1,
                    timestamp_offset_ns: 10,
                    data: Bytes::from_static(&[0xcc]),
                },
            ]
        );
    }

    #[test]
    fn multitrack_many_codecs_skips_unknown_fourcc() {
        let payload = cat(&[
            b"\x96\x20avc1\x00\x00\x00\x02\xaa\xbbxxxx\x05\x00\x00\x01\xcchvc1\x02\x00\x00\x01\xdd",
        ]);
        let packets = parse_video(&payload).unwrap().into_vec();
        assert_eq!(
            packets,
            vec![
                VideoPacket::SequenceStart {
                    track: 0,
                    codec: VideoCodec::H264,
                    config: Bytes::from_static(&[0xaa, 0xbb])
                },
                VideoPacket::SequenceStart {
                    track: 2,
                    codec: VideoCodec::H265,
                    config: Bytes::from_static(&[0xdd])
                },
            ]
        );
        // A track size past the end of the message is an error, not a short read.
        let bad = cat(&[b"\x96\x20avc1\x00\x00\x00\x09\xaa"]);
        assert_eq!(parse_video(&bad), Err(FlvError::Truncated("track body")));
    }

    #[test]
    fn every_truncation_is_handled() {
        for vector in all_vectors() {
            assert!(parse_video(&vector).is_ok(), "full vector {vector:x?}");
            for len in 0..vector.len() {
                let _ = parse_video(&vector.slice(..len));
            }
        }
    }

    /// A tiny deterministic generator, so the noise test needs no extra crate.
    pub(crate) fn noise(seed: &mut u64) -> u8 {
        *seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (*seed >> 33) as u8
    }

    #[test]
    fn random_payloads_do_not_panic() {
        let mut seed = 1u64;
        for round in 0..20_000 {
            let len = usize::from(noise(&mut seed) % 48);
            let mut data: Vec<u8> = (0..len).map(|_| noise(&mut seed)).collect();
            // Steer half the inputs into the Enhanced RTMP paths.
            if round % 2 == 0 {
                if let Some(first) = data.first_mut() {
                    *first |= 0x80;
                }
            }
            let data = Bytes::from(data);
            let _ = parse_video(&data);
            let _ = super::super::parse_audio(&data);
            let _ = looks_like_hvcc(&data);
        }
    }

    #[test]
    fn a_legacy_frame_taken_by_value_is_the_payload_itself() {
        let payload = Bytes::from(vec![
            0x17, 0x01, 0x00, 0x00, 0x21, 0x00, 0x00, 0x00, 0x01, 0x65,
        ]);
        let start = payload.as_ptr();
        let packets = parse_video_owned(payload.clone()).unwrap();
        assert_eq!(
            packets.into_vec(),
            parse_video(&payload).unwrap().into_vec()
        );
        let Some(VideoPacket::Frame {
            data,
            keyframe: true,
            composition_time_ms: 0x21,
            ..
        }) = parse_video_owned(payload).unwrap().pop()
        else {
            panic!("not a keyframe with its composition time");
        };
        assert_eq!(data[..], [0, 0, 0, 1, 0x65]);
        assert_eq!(data.as_ptr(), start.wrapping_add(5), "not copied");
    }
}
