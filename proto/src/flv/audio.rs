// Copyright (C) 2026 The gst-plugin-rtmpserver authors
// SPDX-License-Identifier: MPL-2.0
//! Audio tag bodies: legacy SoundFormats and Enhanced RTMP.

use bytes::{Buf, Bytes};

use super::exheader::{read_modex, split_tracks, TrackBody};
use super::reader::ByteReader;
use super::{AudioCodec, AudioPacket, FlvError, LegacyAudioFormat, Packets};
use smallvec::smallvec;

const SOUND_FORMAT_EX_HEADER: u8 = 9;

const SEQUENCE_START: u8 = 0;
const CODED_FRAMES: u8 = 1;
const SEQUENCE_END: u8 = 2;
const MULTICHANNEL_CONFIG: u8 = 4;
const MULTITRACK: u8 = 5;

/// Parses one audio message payload into packets (several for multitrack).
///
/// An empty payload is the RTMP "audio silence" message and yields no packets.
/// In ManyTracksManyCodecs messages, tracks with an unknown FourCC are skipped.
pub fn parse_audio(payload: &Bytes) -> Result<Packets<AudioPacket>, FlvError> {
    parse_audio_owned(payload.clone())
}

/// As [`parse_audio`], taking the payload: a legacy tag's packet is the payload itself,
/// advanced past the tag header. A slice would be a clone, and the first clone of a `Bytes`
/// made from a `Vec` allocates its shared header: once per media message.
pub fn parse_audio_owned(payload: Bytes) -> Result<Packets<AudioPacket>, FlvError> {
    let mut r = ByteReader::new(&payload);
    let Ok(header) = r.u8("audio header") else {
        return Ok(Packets::new());
    };
    let sound_format = header >> 4;
    if sound_format != SOUND_FORMAT_EX_HEADER {
        let legacy = read_legacy(&mut r, header)?;
        let start = payload.len() - r.remaining();
        let mut data = payload;
        data.advance(start);
        return Ok(smallvec![legacy.packet(data)]);
    }

    let (packet_type, timestamp_offset_ns) = read_modex(&mut r, header & 0x0f)?;
    let (packet_type, tracks) = split_tracks(&mut r, packet_type, MULTITRACK)?;
    let mut out = Packets::with_capacity(tracks.len());
    for track in tracks {
        if let Some(packet) = parse_track(&payload, packet_type, timestamp_offset_ns, &track)? {
            out.push(packet);
        }
    }
    Ok(out)
}

fn legacy_codec(sound_format: u8) -> Result<AudioCodec, FlvError> {
    Ok(match sound_format {
        0 | 3 => AudioCodec::Pcm,
        1 => AudioCodec::Adpcm,
        2 | 14 => AudioCodec::Mp3,
        4..=6 => AudioCodec::Nellymoser,
        7 => AudioCodec::G711A,
        8 => AudioCodec::G711U,
        10 => AudioCodec::Aac,
        11 => AudioCodec::Speex,
        other => return Err(FlvError::UnsupportedCodec(other)),
    })
}

/// The format the legacy flags describe, with the values that some sound
/// formats imply regardless of what the flags say.
fn legacy_format(header: u8) -> LegacyAudioFormat {
    let flag_rate = match (header >> 2) & 0x03 {
        0 => 5512,
        1 => 11025,
        2 => 22050,
        _ => 44100,
    };
    let bits = if header & 0x02 != 0 { 16 } else { 8 };
    let channels = if header & 0x01 != 0 { 2 } else { 1 };
    let (rate, channels) = match header >> 4 {
        4 => (16000, 1),
        5 => (8000, 1),
        14 => (8000, channels),
        11 => (16000, 1),
        7 | 8 => (8000, channels),
        _ => (flag_rate, channels),
    };
    LegacyAudioFormat {
        rate,
        bits,
        channels,
    }
}

/// What a legacy tag's header says the rest of its payload is.
enum LegacyAudio {
    SequenceStart(AudioCodec),
    Frame(AudioCodec, LegacyAudioFormat),
}

/// Reads a legacy tag's header after its first byte (`header`).
fn read_legacy(r: &mut ByteReader<'_>, header: u8) -> Result<LegacyAudio, FlvError> {
    let codec = legacy_codec(header >> 4)?;
    let format = legacy_format(header);
    if codec != AudioCodec::Aac {
        return Ok(LegacyAudio::Frame(codec, format));
    }
    match r.u8("AACPacketType")? {
        0 => Ok(LegacyAudio::SequenceStart(codec)),
        1 => Ok(LegacyAudio::Frame(codec, format)),
        other => Err(FlvError::InvalidPacketType(other)),
    }
}

impl LegacyAudio {
    /// The packet, with the rest of the payload.
    fn packet(self, data: Bytes) -> AudioPacket {
        match self {
            LegacyAudio::SequenceStart(codec) => AudioPacket::SequenceStart {
                track: 0,
                codec,
                config: data,
            },
            LegacyAudio::Frame(codec, format) => AudioPacket::Frame {
                track: 0,
                codec,
                legacy: Some(format),
                timestamp_offset_ns: 0,
                data,
            },
        }
    }
}

fn codec_from_fourcc(fourcc: [u8; 4]) -> Option<AudioCodec> {
    match &fourcc {
        b"mp4a" => Some(AudioCodec::Aac),
        b".mp3" => Some(AudioCodec::Mp3),
        b"Opus" => Some(AudioCodec::Opus),
        b"fLaC" => Some(AudioCodec::Flac),
        b"ac-3" => Some(AudioCodec::Ac3),
        b"ec-3" => Some(AudioCodec::Eac3),
        _ => None,
    }
}

fn parse_track(
    payload: &Bytes,
    packet_type: u8,
    timestamp_offset_ns: u32,
    track: &TrackBody<'_>,
) -> Result<Option<AudioPacket>, FlvError> {
    let Some(codec) = codec_from_fourcc(track.fourcc) else {
        if track.skippable {
            return Ok(None);
        }
        return Err(FlvError::UnsupportedFourCc(track.fourcc));
    };
    let id = track.track;
    let body = payload.slice_ref(track.body);
    let packet = match packet_type {
        SEQUENCE_START => AudioPacket::SequenceStart {
            track: id,
            codec,
            config: body,
        },
        CODED_FRAMES => AudioPacket::Frame {
            track: id,
            codec,
            legacy: None,
            timestamp_offset_ns,
            data: body,
        },
        SEQUENCE_END => AudioPacket::SequenceEnd { track: id, codec },
        MULTICHANNEL_CONFIG => AudioPacket::MultichannelConfig {
            track: id,
            codec,
            data: body,
        },
        other => return Err(FlvError::InvalidPacketType(other)),
    };
    Ok(Some(packet))
}

/// A decoded Enhanced RTMP MultichannelConfig body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MultichannelConfig {
    /// AudioChannelOrder: 0 unspecified, 1 native (flags), 2 custom (mapping).
    pub order: u8,
    pub channel_count: u8,
    /// Custom order: one AudioChannel value per channel, in bitstream order.
    pub mapping: Vec<u8>,
    /// Native order: AudioChannelMask bits of the channels present.
    pub channel_flags: u32,
}

/// Decodes the body of a `AudioPacket::MultichannelConfig`.
pub fn parse_multichannel_config(data: &[u8]) -> Result<MultichannelConfig, FlvError> {
    let mut r = ByteReader::new(data);
    let order = r.u8("channel order")?;
    let channel_count = r.u8("channel count")?;
    let mut config = MultichannelConfig {
        order,
        channel_count,
        mapping: Vec::new(),
        channel_flags: 0,
    };
    match order {
        1 => config.channel_flags = r.u32("channel flags")?,
        2 => {
            config.mapping = r
                .take(usize::from(channel_count), "channel mapping")?
                .to_vec()
        }
        _ => {}
    }
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::super::test_vectors::AAC_SEQ_TAG;
    use super::*;

    fn cat(parts: &[&[u8]]) -> Bytes {
        Bytes::from(parts.concat())
    }

    fn one(payload: &Bytes) -> AudioPacket {
        let mut packets = parse_audio(payload).unwrap();
        assert_eq!(packets.len(), 1, "{packets:?}");
        packets.remove(0)
    }

    const OPUS_HEAD: &[u8] = b"OpusHead\x01\x02\x38\x01\x80\xbb\x00\x00\x00\x00\x00";

    fn all_vectors() -> Vec<Bytes> {
        vec![
            Bytes::from_static(AAC_SEQ_TAG),
            Bytes::from_static(&[0xaf, 0x01, 0x21, 0x10]),
            Bytes::from_static(&[0x2f, 0xff, 0xfb, 0x90, 0x44]),
            cat(&[b"\x90Opus", OPUS_HEAD]),
            cat(&[b"\x91Opus\xfc\xff\xfe"]),
            cat(&[b"\x94Opus\x02\x03\x00\x01\x02"]),
            cat(&[b"\x97\x02\x00\x03\xe8\x01mp4a\x21\x10"]),
            cat(&[b"\x95\x11Opus\x00\x00\x00\x01\xaa\x01\x00\x00\x02\xbb\xcc"]),
            cat(&[b"\x95\x21mp4a\x00\x00\x00\x01\xaa.mp3\x01\x00\x00\x01\xbb"]),
            cat(&[b"\x95\x02ac-3\x03\x0b\x77"]),
        ]
    }

    #[test]
    fn legacy_aac_sequence_header_and_frame() {
        let payload = Bytes::from_static(AAC_SEQ_TAG);
        let AudioPacket::SequenceStart {
            track: 0,
            codec: AudioCodec::Aac,
            config,
        } = one(&payload)
        else {
            panic!()
        };
        assert_eq!(&config[..], &AAC_SEQ_TAG[2..]);
        assert_eq!(config.as_ptr(), AAC_SEQ_TAG[2..].as_ptr());
        let frame = Bytes::from_static(&[0xaf, 0x01, 0x21, 0x10]);
        assert_eq!(
            one(&frame),
            AudioPacket::Frame {
                track: 0,
                codec: AudioCodec::Aac,
                legacy: Some(LegacyAudioFormat {
                    rate: 44100,
                    bits: 16,
                    channels: 2
                }),
                timestamp_offset_ns: 0,
                data: frame.slice(2..),
            }
        );
        assert_eq!(
            parse_audio(&Bytes::from_static(&[0xaf, 0x02])),
            Err(FlvError::InvalidPacketType(2))
        );
        assert_eq!(
            parse_audio(&Bytes::from_static(&[0xaf])),
            Err(FlvError::Truncated("AACPacketType"))
        );
    }

    #[test]
    fn legacy_formats_and_implied_rates() {
        let cases: [(u8, AudioCodec, u32, u8, u8); 11] = [
            (0x2f, AudioCodec::Mp3, 44100, 16, 2),
            (0xe2, AudioCodec::Mp3, 8000, 16, 1),
            (0x3e, AudioCodec::Pcm, 44100, 16, 1),
            (0x00, AudioCodec::Pcm, 5512, 8, 1),
            (0x17, AudioCodec::Adpcm, 11025, 16, 2),
            (0x42, AudioCodec::Nellymoser, 16000, 16, 1),
            (0x52, AudioCodec::Nellymoser, 8000, 16, 1),
            (0x6a, AudioCodec::Nellymoser, 22050, 16, 1),
            (0x72, AudioCodec::G711A, 8000, 16, 1),
            (0x82, AudioCodec::G711U, 8000, 16, 1),
            (0xb2, AudioCodec::Speex, 16000, 16, 1),
        ];
        for (header, codec, rate, bits, channels) in cases {
            let payload = Bytes::from(vec![header, 0xaa, 0xbb]);
            assert_eq!(
                one(&payload),
                AudioPacket::Frame {
                    track: 0,
                    codec,
                    legacy: Some(LegacyAudioFormat {
                        rate,
                        bits,
                        channels
                    }),
                    timestamp_offset_ns: 0,
                    data: payload.slice(1..),
                },
                "header {header:#x}"
            );
        }
        for reserved in [0xc0u8, 0xd0, 0xf0] {
            assert_eq!(
                parse_audio(&Bytes::from(vec![reserved, 0])),
                Err(FlvError::UnsupportedCodec(reserved >> 4))
            );
        }
    }

    #[test]
    fn empty_payload_is_silence() {
        assert_eq!(parse_audio(&Bytes::new()), Ok(Packets::new()));
    }

    #[test]
    fn enhanced_packet_types() {
        let seq = cat(&[b"\x90Opus", OPUS_HEAD]);
        assert_eq!(
            one(&seq),
            AudioPacket::SequenceStart {
                track: 0,
                codec: AudioCodec::Opus,
                config: seq.slice(5..)
            }
        );
        let frame = cat(&[b"\x91Opus\xfc\xff\xfe"]);
        assert_eq!(
            one(&frame),
            AudioPacket::Frame {
                track: 0,
                codec: AudioCodec::Opus,
                legacy: None,
                timestamp_offset_ns: 0,
                data: frame.slice(5..),
            }
        );
        assert_eq!(
            one(&cat(&[b"\x92fLaC"])),
            AudioPacket::SequenceEnd {
                track: 0,
                codec: AudioCodec::Flac
            }
        );
        let mc = cat(&[b"\x94Opus\x02\x03\x00\x01\x02"]);
        let AudioPacket::MultichannelConfig {
            codec: AudioCodec::Opus,
            data,
            ..
        } = one(&mc)
        else {
            panic!()
        };
        assert_eq!(
            parse_multichannel_config(&data),
            Ok(MultichannelConfig {
                order: 2,
                channel_count: 3,
                mapping: vec![0, 1, 2],
                channel_flags: 0
            })
        );
        for (cc, codec) in [
            (b"mp4a", AudioCodec::Aac),
            (b".mp3", AudioCodec::Mp3),
            (b"ac-3", AudioCodec::Ac3),
            (b"ec-3", AudioCodec::Eac3),
            (b"fLaC", AudioCodec::Flac),
        ] {
            assert!(
                matches!(one(&cat(&[b"\x91", cc, b"\x00"])), AudioPacket::Frame { codec: c, .. } if c == codec)
            );
        }
        assert_eq!(
            parse_audio(&cat(&[b"\x93Opus"])),
            Err(FlvError::InvalidPacketType(3))
        );
        assert_eq!(
            parse_audio(&cat(&[b"\x91vorb"])),
            Err(FlvError::UnsupportedFourCc(*b"vorb"))
        );
    }

    #[test]
    fn multichannel_config_forms() {
        assert_eq!(
            parse_multichannel_config(&[1, 6, 0, 0, 0, 0x3f]),
            Ok(MultichannelConfig {
                order: 1,
                channel_count: 6,
                mapping: vec![],
                channel_flags: 0x3f
            })
        );
        assert_eq!(
            parse_multichannel_config(&[0, 2]),
            Ok(MultichannelConfig {
                order: 0,
                channel_count: 2,
                mapping: vec![],
                channel_flags: 0
            })
        );
        assert!(parse_multichannel_config(&[2, 8, 0, 1]).is_err());
        assert!(parse_multichannel_config(&[1, 6, 0]).is_err());
    }

    #[test]
    fn modex_applies_to_audio() {
        let payload = cat(&[b"\x97\x02\x00\x03\xe8\x01mp4a\x21\x10"]);
        assert!(matches!(
            one(&payload),
            AudioPacket::Frame {
                codec: AudioCodec::Aac,
                timestamp_offset_ns: 1000,
                legacy: None,
                ..
            }
        ));
    }

    #[test]
    fn multitrack_all_modes() {
        let many = cat(&[b"\x95\x11Opus\x00\x00\x00\x01\xaa\x01\x00\x00\x02\xbb\xcc"]);
        let packets = parse_audio(&many).unwrap();
        assert_eq!(packets.len(), 2);
        assert!(
            matches!(&packets[1], AudioPacket::Frame { track: 1, codec: AudioCodec::Opus, data, .. } if data[..] == [0xbb, 0xcc])
        );

        let many_codecs = cat(&[b"\x95\x21mp4a\x00\x00\x00\x01\xaa.mp3\x01\x00\x00\x01\xbb"]);
        let packets = parse_audio(&many_codecs).unwrap();
        assert!(matches!(
            &packets[0],
            AudioPacket::Frame {
                track: 0,
                codec: AudioCodec::Aac,
                ..
            }
        ));
        assert!(matches!(
            &packets[1],
            AudioPacket::Frame {
                track: 1,
                codec: AudioCodec::Mp3,
                ..
            }
        ));

        let one_track = cat(&[b"\x95\x02ac-3\x03\x0b\x77"]);
        assert_eq!(
            one(&one_track),
            AudioPacket::SequenceEnd {
                track: 3,
                codec: AudioCodec::Ac3
            }
        );

        assert_eq!(
            parse_audio(&cat(&[b"\x95\x15Opus\x00"])),
            Err(FlvError::InvalidPacketType(5))
        );
        assert_eq!(
            parse_audio(&cat(&[b"\x95\x41Opus\x00"])),
            Err(FlvError::InvalidMultitrackType(4))
        );
    }

    #[test]
    fn every_truncation_is_handled() {
        for vector in all_vectors() {
            assert!(parse_audio(&vector).is_ok(), "full vector {vector:x?}");
            for len in 0..vector.len() {
                let _ = parse_audio(&vector.slice(..len));
            }
        }
    }

    #[test]
    fn a_legacy_frame_taken_by_value_is_the_payload_itself() {
        // Built from a Vec, as the chunk reader builds a message's payload.
        let payload = Bytes::from(vec![0xaf, 0x01, 0x21, 0x10, 0x04]);
        let start = payload.as_ptr();
        let packets = parse_audio_owned(payload.clone()).unwrap();
        assert_eq!(
            packets.into_vec(),
            parse_audio(&payload).unwrap().into_vec()
        );
        let Some(AudioPacket::Frame { data, .. }) = parse_audio_owned(payload).unwrap().pop()
        else {
            panic!("not a frame");
        };
        assert_eq!(data[..], [0x21, 0x10, 0x04]);
        assert_eq!(data.as_ptr(), start.wrapping_add(2), "not copied");
    }
}
