// Copyright (C) 2026 The gst-plugin-rtmpserver authors
// SPDX-License-Identifier: MPL-2.0
//! Which reader handles which codec's configuration: the dispatch from a codec to the facts
//! the element turns into caps. The facts themselves are in `stream_info.rs`.

use super::{aac, av1, flac, frame_headers, h264, h265, opus, vpx, vvc};
use super::{AudioCodec, AudioInfo, FlvError, VideoCodec, VideoInfo};

/// Reads a video codec configuration record (the `SequenceStart` config):
/// avcC, hvcC, av1C, vpcC (VP8 and VP9) or vvcC.
pub fn video_info(codec: VideoCodec, config: &[u8]) -> Result<VideoInfo, FlvError> {
    match codec {
        VideoCodec::H264 => h264::avcc_info(config),
        VideoCodec::H265 => h265::hvcc_info(config),
        VideoCodec::Av1 => av1::av1c_info(config),
        VideoCodec::Vp9 | VideoCodec::Vp8 => vpx::vpcc_info(config),
        VideoCodec::Vvc => vvc::vvcc_info(config),
    }
}

/// Reads an audio codec configuration: the AAC AudioSpecificConfig, OpusHead
/// (empty: default stereo), FLAC `fLaC` + STREAMINFO. Codecs without a
/// configuration record (MP3, AC-3, E-AC-3) are read from the header of
/// their first coded frame instead. Legacy PCM-like codecs: use
/// [`super::LegacyAudioFormat`]; they return `UnsupportedCodec`.
pub fn audio_info(codec: AudioCodec, config: &[u8]) -> Result<AudioInfo, FlvError> {
    match codec {
        AudioCodec::Aac => aac::asc_info(config),
        AudioCodec::Opus => opus::opus_head_info(config),
        AudioCodec::Flac => flac::flac_info(config),
        AudioCodec::Mp3 => frame_headers::mpeg_audio_info(config),
        AudioCodec::Ac3 => frame_headers::ac3_info(config),
        AudioCodec::Eac3 => frame_headers::eac3_info(config),
        AudioCodec::Pcm => Err(FlvError::UnsupportedCodec(3)),
        AudioCodec::Adpcm => Err(FlvError::UnsupportedCodec(1)),
        AudioCodec::G711A => Err(FlvError::UnsupportedCodec(7)),
        AudioCodec::G711U => Err(FlvError::UnsupportedCodec(8)),
        AudioCodec::Speex => Err(FlvError::UnsupportedCodec(11)),
        AudioCodec::Nellymoser => Err(FlvError::UnsupportedCodec(6)),
    }
}

/// Width and height from a VP8 or VP9 keyframe, whose configuration record
/// does not carry them. None for other codecs, inter frames or bad data.
pub fn video_frame_size(codec: VideoCodec, frame: &[u8]) -> Option<(u32, u32)> {
    match codec {
        VideoCodec::Vp8 => vpx::vp8_frame_size(frame),
        VideoCodec::Vp9 => vpx::vp9_frame_size(frame),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_pcm_like_codecs_have_no_config() {
        assert!(audio_info(AudioCodec::Pcm, &[]).is_err());
        assert!(audio_info(AudioCodec::Speex, &[1, 2]).is_err());
    }
}

#[cfg(test)]
mod vector_tests {
    use super::super::test_vectors::*;
    use super::super::ColorInfo;
    use super::*;

    #[test]
    fn x264_1080p_high() {
        let info = video_info(VideoCodec::H264, &X264_1080P_SEQ_TAG[5..]).unwrap();
        assert_eq!((info.width, info.height), (1920, 1080));
        assert_eq!(info.framerate, Some((30, 1)));
        assert_eq!(info.profile.as_deref(), Some("high"));
        assert_eq!(info.level.as_deref(), Some("4"));
        assert_eq!(info.chroma_format.as_deref(), Some("4:2:0"));
        assert_eq!(
            (info.bit_depth_luma, info.bit_depth_chroma),
            (Some(8), Some(8))
        );
        assert!(!info.parameter_sets_in_band_hint);
    }

    #[test]
    fn x264_422_with_cropping_and_ntsc_rate() {
        let info = video_info(VideoCodec::H264, &X264_422_SEQ_TAG[5..]).unwrap();
        assert_eq!((info.width, info.height), (1000, 562));
        assert_eq!(info.framerate, Some((30000, 1001)));
        assert_eq!(info.profile.as_deref(), Some("high-4:2:2"));
        assert_eq!(info.level.as_deref(), Some("3.1"));
        assert_eq!(info.chroma_format.as_deref(), Some("4:2:2"));
    }

    #[test]
    fn avcc_without_parameter_sets_hints_avc3() {
        let info = video_info(VideoCodec::H264, &[1, 0x42, 0xc0, 0x1f, 0xff, 0xe0, 0]).unwrap();
        assert!(info.parameter_sets_in_band_hint);
        assert_eq!(info.profile.as_deref(), Some("constrained-baseline"));
        assert_eq!(info.level.as_deref(), Some("3.1"));
        assert!(video_info(VideoCodec::H264, &[2, 0x42, 0xc0, 0x1f, 0xff, 0xe0, 0]).is_err());
    }

    #[test]
    fn x265_main10() {
        let info = video_info(VideoCodec::H265, X265_HVCC).unwrap();
        assert_eq!((info.width, info.height), (1920, 1080));
        assert_eq!(info.profile.as_deref(), Some("main-10"));
        assert_eq!(info.tier.as_deref(), Some("main"));
        assert_eq!(info.level.as_deref(), Some("4"));
        assert_eq!(info.chroma_format.as_deref(), Some("4:2:0"));
        assert_eq!(
            (info.bit_depth_luma, info.bit_depth_chroma),
            (Some(10), Some(10))
        );
        assert!(!info.parameter_sets_in_band_hint);
    }

    #[test]
    fn x265_vui_colour_and_timing() {
        let info = video_info(VideoCodec::H265, X265_PQ10_HVCC).unwrap();
        assert_eq!((info.width, info.height), (320, 180));
        assert_eq!(info.profile.as_deref(), Some("main-10"));
        assert_eq!(info.framerate, Some((30, 1)));
        assert_eq!(
            info.colorimetry,
            Some(ColorInfo {
                primaries: 9,
                transfer: 16,
                matrix: 9,
                full_range: false
            })
        );
        // The older vector's VUI has timing but no colour description.
        let info = video_info(VideoCodec::H265, X265_HVCC).unwrap();
        assert_eq!(info.framerate, Some((25, 1)));
        assert_eq!(info.colorimetry, None);
        // A truncated SPS tail keeps the size, loses only the VUI facts.
        for len in 0..X265_PQ10_HVCC.len() {
            let _ = video_info(VideoCodec::H265, &X265_PQ10_HVCC[..len]);
        }
    }

    #[test]
    fn hvcc_without_arrays_hints_hev1() {
        let mut record = X265_HVCC[..23].to_vec();
        record[22] = 0;
        record[12] = 93;
        record[1] = 0x21; // high tier, main
        let info = video_info(VideoCodec::H265, &record).unwrap();
        assert!(info.parameter_sets_in_band_hint);
        assert_eq!((info.width, info.height), (0, 0));
        assert_eq!(info.level.as_deref(), Some("3.1"));
        assert_eq!(info.tier.as_deref(), Some("high"));
        assert_eq!(info.profile.as_deref(), Some("main"));
    }

    #[test]
    fn av1_with_sequence_header() {
        let info = video_info(VideoCodec::Av1, AV1_AV1C).unwrap();
        assert_eq!((info.width, info.height), (640, 360));
        assert_eq!(info.profile.as_deref(), Some("high"));
        assert_eq!(info.level.as_deref(), Some("2.1"));
        assert_eq!(info.tier.as_deref(), Some("main"));
        assert_eq!(info.chroma_format.as_deref(), Some("4:4:4"));
        assert_eq!(info.bit_depth_luma, Some(8));
        // Without configOBUs only the record's facts remain.
        let info = video_info(VideoCodec::Av1, &AV1_AV1C[..4]).unwrap();
        assert_eq!((info.width, info.height), (0, 0));
        assert_eq!(info.profile.as_deref(), Some("high"));
        assert!(video_info(VideoCodec::Av1, &[0x01, 0, 0, 0]).is_err());
    }

    #[test]
    fn vpcc_fullbox_and_bare() {
        let info = video_info(VideoCodec::Vp9, VP9_VPCC_FULLBOX).unwrap();
        assert_eq!(info.profile.as_deref(), Some("1"));
        assert_eq!(info.level.as_deref(), Some("2"));
        assert_eq!(info.chroma_format.as_deref(), Some("4:4:4"));
        assert_eq!(info.bit_depth_luma, Some(8));
        let bare = video_info(VideoCodec::Vp9, &VP9_VPCC_FULLBOX[4..]).unwrap();
        assert_eq!(bare, info);
        let hdr = video_info(VideoCodec::Vp9, &[2, 51, 0xa2, 9, 16, 9, 0, 0]).unwrap();
        assert_eq!(hdr.profile.as_deref(), Some("2"));
        assert_eq!(hdr.level.as_deref(), Some("5.1"));
        assert_eq!(hdr.bit_depth_luma, Some(10));
        assert_eq!(hdr.chroma_format.as_deref(), Some("4:2:0"));
        assert_eq!(
            hdr.colorimetry,
            Some(ColorInfo {
                primaries: 9,
                transfer: 16,
                matrix: 9,
                full_range: false
            })
        );
    }

    #[test]
    fn vp8_and_vp9_keyframe_sizes() {
        assert_eq!(
            video_frame_size(VideoCodec::Vp9, VP9_KEYFRAME_HEAD),
            Some((320, 240))
        );
        assert_eq!(
            video_frame_size(VideoCodec::Vp8, VP8_KEYFRAME_HEAD),
            Some((176, 144))
        );
        assert_eq!(
            video_frame_size(VideoCodec::Vp8, &[0x01, 0, 0, 0x9d, 1, 0x2a, 0, 0, 0, 0]),
            None
        );
        assert_eq!(video_frame_size(VideoCodec::H264, VP8_KEYFRAME_HEAD), None);
    }

    #[test]
    fn vvcc_profile_and_size() {
        // ptl present, ols 0, 1 sublayer, cfr 0, 4:2:0, 10 bit; PTL: 1 constraint byte,
        // profile 1 (main-10), main tier, level 4.1 (67); no sub-profiles; 1920x1080.
        let record = [
            0xff, 0x00, 0x11, 0x5f, 0x01, 0x02, 67, 0x00, 0x00, 0x07, 0x80, 0x04, 0x38, 0, 0,
        ];
        let info = video_info(VideoCodec::Vvc, &record).unwrap();
        assert_eq!((info.width, info.height), (1920, 1080));
        assert_eq!(info.profile.as_deref(), Some("main-10"));
        assert_eq!(info.level.as_deref(), Some("4.1"));
        assert_eq!(info.chroma_format.as_deref(), Some("4:2:0"));
        assert_eq!(info.bit_depth_luma, Some(10));
        assert_eq!(
            video_info(VideoCodec::Vvc, &[0xfe]).unwrap(),
            VideoInfo::default()
        );
    }

    #[test]
    fn ffmpeg_aac_lc() {
        let info = audio_info(AudioCodec::Aac, &AAC_SEQ_TAG[2..]).unwrap();
        assert_eq!((info.rate, info.channels), (48000, 2));
        assert_eq!(info.profile.as_deref(), Some("lc"));
        assert!(!info.sbr && !info.ps);
    }

    #[test]
    fn every_config_truncation_is_handled() {
        let video: [(VideoCodec, &[u8]); 6] = [
            (VideoCodec::H264, &X264_1080P_SEQ_TAG[5..]),
            (VideoCodec::H264, &X264_422_SEQ_TAG[5..]),
            (VideoCodec::H265, X265_HVCC),
            (VideoCodec::Av1, AV1_AV1C),
            (VideoCodec::Vp9, VP9_VPCC_FULLBOX),
            (
                VideoCodec::Vvc,
                &[
                    0xff, 0x00, 0x11, 0x5f, 0x01, 0x02, 67, 0x00, 0x00, 0x07, 0x80, 0x04, 0x38,
                ],
            ),
        ];
        for (codec, config) in video {
            assert!(video_info(codec, config).is_ok());
            for len in 0..config.len() {
                let _ = video_info(codec, &config[..len]);
                let _ = super::super::looks_like_hvcc(&config[..len]);
            }
        }
        for (codec, frame) in [
            (VideoCodec::Vp9, VP9_KEYFRAME_HEAD),
            (VideoCodec::Vp8, VP8_KEYFRAME_HEAD),
        ] {
            for len in 0..frame.len() {
                let _ = video_frame_size(codec, &frame[..len]);
            }
        }
        let audio: [(AudioCodec, &[u8]); 5] = [
            (AudioCodec::Aac, &AAC_SEQ_TAG[2..]),
            (AudioCodec::Opus, b"OpusHead\x01\x06\x38\x01\x44\xac\x00\x00\x00\x00\x01\x04\x02\x00\x04\x01\x02\x03\x05"),
            (AudioCodec::Mp3, &[0xff, 0xfb, 0x90, 0x44]),
            (AudioCodec::Ac3, &[0x0b, 0x77, 0, 0, 0x1e, 0x40, 0xeb]),
            (AudioCodec::Eac3, &[0x0b, 0x77, 0x00, 0x05, 0x34]),
        ];
        for (codec, config) in audio {
            assert!(audio_info(codec, config).is_ok());
            for len in 1..config.len() {
                let _ = audio_info(codec, &config[..len]);
            }
        }
    }

    #[test]
    fn hostile_configs_do_not_panic() {
        // Garbage of every byte value and a few lengths through every reader.
        for fill in [0x00u8, 0x01, 0x7f, 0x80, 0xff] {
            for len in [0usize, 1, 4, 7, 23, 64, 300] {
                let data = vec![fill; len];
                for codec in VideoCodec::ALL {
                    let _ = video_info(codec, &data);
                    let _ = video_frame_size(codec, &data);
                }
                for codec in AudioCodec::ALL {
                    let _ = audio_info(codec, &data);
                }
            }
        }
    }
}
