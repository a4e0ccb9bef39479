// Copyright (C) 2026 The gst-plugin-rtmpserver authors
// SPDX-License-Identifier: MPL-2.0
//! FLV / Enhanced RTMP tag bodies and codec configuration readers.
//!
//! The whole input is one tag body (an RTMP audio or video message payload); it is also given
//! to every configuration reader as a config record or frame, and whatever the tag parsers
//! find in it (configs, frames, multichannel configs) is fed on to the matching reader.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use rtmpserver_fuzz::flv::{
    audio_info, looks_like_hvcc, parse_audio, parse_multichannel_config, parse_video,
    video_frame_size, video_info, AudioCodec, AudioPacket, VideoCodec, VideoPacket,
};

const VIDEO: [VideoCodec; 6] = VideoCodec::ALL;
const AUDIO: [AudioCodec; 12] = AudioCodec::ALL;

fn within(outer: &Bytes, inner: &Bytes) {
    // Media payloads are slices of the input, never copies.
    if !inner.is_empty() {
        let start = outer.as_ptr() as usize;
        let p = inner.as_ptr() as usize;
        assert!(p >= start && p + inner.len() <= start + outer.len());
    }
}

fuzz_target!(|data: &[u8]| {
    let payload = Bytes::copy_from_slice(data);

    if let Ok(packets) = parse_video(&payload) {
        for p in packets {
            match p {
                VideoPacket::SequenceStart { codec, config, .. } => {
                    within(&payload, &config);
                    let _ = video_info(codec, &config);
                    let _ = looks_like_hvcc(&config);
                }
                VideoPacket::Frame { codec, data, .. } => {
                    within(&payload, &data);
                    let _ = video_frame_size(codec, &data);
                }
                VideoPacket::Metadata { amf, .. } => within(&payload, &amf),
                VideoPacket::SequenceEnd { .. } | VideoPacket::Command { .. } => {}
            }
        }
    }
    if let Ok(packets) = parse_audio(&payload) {
        for p in packets {
            match p {
                AudioPacket::SequenceStart { codec, config, .. } => {
                    within(&payload, &config);
                    let _ = audio_info(codec, &config);
                }
                AudioPacket::Frame { codec, data, .. } => {
                    within(&payload, &data);
                    let _ = audio_info(codec, &data);
                }
                AudioPacket::MultichannelConfig { data, .. } => {
                    within(&payload, &data);
                    let _ = parse_multichannel_config(&data);
                }
                AudioPacket::SequenceEnd { .. } => {}
            }
        }
    }

    for codec in VIDEO {
        let _ = video_info(codec, data);
        let _ = video_frame_size(codec, data);
    }
    for codec in AUDIO {
        let _ = audio_info(codec, data);
    }
    let _ = looks_like_hvcc(data);
    let _ = parse_multichannel_config(data);
});
