// Copyright (C) 2026 The gst-plugin-rtmpserver authors
// SPDX-License-Identifier: MPL-2.0
//! The report as a `GstStructure` (`publish-report`): the one place the report meets
//! GStreamer. Built at most twice a second with the statistics snapshot, never per message.
//!
//! Fields absent from the structure were not observed (no onMetaData, no audio and video to
//! compare, a codec without a profile), rather than zero.

use gst::glib;
use gst::prelude::*;

use super::connect::ConnectFacts;
use super::running::RunningStats;
use super::track::TrackTiming;
use super::{verdict, Count, PublishReport, TrackKey};
use crate::rtmp::Amf0Value;

/// Caps fields that summarise a track's configuration, copied as they are.
const CAPS_SUMMARY: [&str; 11] = [
    "profile",
    "level",
    "tier",
    "width",
    "height",
    "chroma-format",
    "bit-depth-luma",
    "bit-depth-chroma",
    "colorimetry",
    "rate",
    "channels",
];

/// onMetaData nesting kept in the structure (real metadata is flat or one level deep).
const MAX_METADATA_DEPTH: usize = 4;

fn counts(name: &str, counts: &[Count]) -> gst::Structure {
    counts
        .iter()
        .fold(gst::Structure::builder(name), |b, c| b.field(c.field, c.n))
        .build()
}

/// `prefix-count`, and `prefix-min`, `prefix-mean`, `prefix-max` (and `-stddev`) of a series
/// when it has values.
fn series(
    mut b: gst::structure::Builder,
    prefix: &str,
    s: &RunningStats,
    stddev: bool,
) -> gst::structure::Builder {
    b = b.field(format!("{prefix}-count"), s.count());
    if let (Some(min), Some(mean), Some(max)) = (s.min(), s.mean(), s.max()) {
        b = b
            .field(format!("{prefix}-min"), min)
            .field(format!("{prefix}-mean"), mean)
            .field(format!("{prefix}-max"), max);
        if stddev {
            b = b.field(format!("{prefix}-stddev"), s.stddev().unwrap_or(0.0));
        }
    }
    b
}

/// What the publisher knows of a track beyond its timing: the codec and its current caps.
#[derive(Debug, Clone)]
pub(in crate::rtmpserversrc) struct TrackDescription {
    pub codec_name: &'static str,
    pub caps: Option<gst::Caps>,
}

fn track(
    report: &PublishReport,
    key: TrackKey,
    t: &TrackTiming,
    description: Option<TrackDescription>,
) -> gst::Structure {
    let video = matches!(key, TrackKey::Video(_));
    let mut b = gst::Structure::builder("track")
        .field("pad", key.pad_name())
        .field("kind", if video { "video" } else { "audio" })
        .field_if_some("codec-name", description.as_ref().map(|d| d.codec_name));
    let caps = description.and_then(|d| d.caps);
    if let Some(s) = caps.as_ref().and_then(|c| c.structure(0)) {
        b = b.field("codec", s.name().as_str());
        for name in CAPS_SUMMARY {
            if let Ok(value) = s.value(name) {
                b = b.field(name, value.clone());
            }
        }
    }
    let (declared_fps, declared_bps) = report.declared.for_track(key);
    b = b
        .field("frames", t.frames)
        .field("bytes", t.bytes)
        .field("duration", t.span_seconds())
        .field_if_some("frame-rate", t.frame_rate())
        .field_if_some("declared-frame-rate", declared_fps)
        .field_if_some("bitrate", t.bitrate())
        .field_if_some("declared-bitrate", declared_bps);
    if video {
        b = b.field("keyframes", t.keyframes);
        b = series(b, "gop", &t.gop, false);
        b = series(b, "keyframe-interval", &t.keyframe_interval, true);
        b = b
            .field("composition-offsets", t.composition_offsets)
            .field("b-frames", t.reordered > 0)
            .field("reordered-frames", t.reordered);
    }
    b = b.field("sequence-headers", t.sequence_headers);
    for c in PublishReport::track_anomalies(t) {
        b = b.field(c.field, c.n);
    }
    b.build()
}

fn connection(report: &PublishReport) -> gst::Structure {
    let session = &report.session;
    let sizes = &session.chunk_sizes;
    let facts: &ConnectFacts = &report.connect;
    let mut b = gst::Structure::builder("connection")
        .field(
            "handshake",
            session.handshake.map_or("unknown", |k| k.as_str()),
        )
        .field("chunk-size-changes", sizes.count)
        // The chunk size in use at the end: RTMP's 128 bytes until the client sets another
        // (classic librtmp never does).
        .field("chunk-size", if sizes.count > 0 { sizes.last } else { 128 });
    if sizes.count > 0 {
        b = b
            .field("chunk-size-first", sizes.first)
            .field("chunk-size-last", sizes.last)
            .field("chunk-size-min", sizes.min)
            .field("chunk-size-max", sizes.max);
    }
    let info_map = |name: &str, map: &[(String, u32)]| {
        map.iter()
            .fold(gst::Structure::builder(name), |b, (k, v)| {
                b.field(k.as_str(), *v)
            })
            .build()
    };
    b = b
        .field_if_some("window-ack-size", session.window_ack_size)
        .field_if_some("flash-ver", facts.flash_ver.as_deref())
        .field("enhanced-rtmp", facts.is_enhanced());
    if !facts.fourcc_list.is_empty() {
        b = b.field(
            "fourcc-list",
            gst::Array::new(facts.fourcc_list.iter().map(String::as_str)),
        );
    }
    b = b.field_if_some("caps-ex", facts.caps_ex);
    if !facts.video_fourcc_info_map.is_empty() {
        b = b.field(
            "video-fourcc-info-map",
            info_map("video-fourcc-info-map", &facts.video_fourcc_info_map),
        );
    }
    if !facts.audio_fourcc_info_map.is_empty() {
        b = b.field(
            "audio-fourcc-info-map",
            info_map("audio-fourcc-info-map", &facts.audio_fourcc_info_map),
        );
    }
    b.build()
}

/// An AMF0 value as a GValue: numbers as doubles, objects and ECMA arrays as structures,
/// strict arrays as arrays; null and undefined as nothing.
fn amf_value(value: &Amf0Value, depth: usize) -> Option<glib::SendValue> {
    Some(match value {
        Amf0Value::Number(n) => n.to_send_value(),
        Amf0Value::Boolean(b) => b.to_send_value(),
        Amf0Value::String(s) | Amf0Value::LongString(s) | Amf0Value::XmlDocument(s) => {
            s.to_send_value()
        }
        Amf0Value::Date { millis, .. } => millis.to_send_value(),
        Amf0Value::Object(props) | Amf0Value::EcmaArray(props) => {
            if depth >= MAX_METADATA_DEPTH {
                return None;
            }
            amf_object("object", props, depth + 1).to_send_value()
        }
        Amf0Value::StrictArray(items) => {
            if depth >= MAX_METADATA_DEPTH {
                return None;
            }
            amf_array(items, depth + 1).to_send_value()
        }
        Amf0Value::Null
        | Amf0Value::Undefined
        | Amf0Value::Reference(_)
        | Amf0Value::Unsupported => return None,
    })
}

/// A strict array. A GstValueArray holds one type only, so a mixed one (AMF allows it) has
/// each element as GStreamer would print it.
fn amf_array(items: &[Amf0Value], depth: usize) -> gst::Array {
    let values: Vec<glib::SendValue> = items.iter().filter_map(|v| amf_value(v, depth)).collect();
    let same_type = values.windows(2).all(|w| w[0].type_() == w[1].type_());
    if same_type {
        return gst::Array::from_values(values);
    }
    gst::Array::new(
        values
            .iter()
            .map(|v| v.serialize().map(|s| s.to_string()).unwrap_or_default()),
    )
}

fn amf_object(name: &str, props: &[(String, Amf0Value)], depth: usize) -> gst::Structure {
    let mut s = gst::Structure::new_empty(name);
    for (key, value) in props {
        // A field name GStreamer would refuse is skipped rather than mangled.
        if key.is_empty() {
            continue;
        }
        if let Some(v) = amf_value(value, depth) {
            s.set_value(key.as_str(), v);
        }
    }
    s
}

/// The report as a structure; `describe` tells a track's codec and current caps (for the
/// configuration summary).
pub(in crate::rtmpserversrc) fn to_structure(
    report: &PublishReport,
    describe: impl Fn(TrackKey) -> Option<TrackDescription>,
) -> gst::Structure {
    let warnings = verdict::findings(report);
    let tracks = report
        .timings()
        .map(|(key, t)| track(report, key, t, describe(key)));
    let mut b = gst::Structure::builder("publish-report")
        .field(
            "verdict",
            if warnings.is_empty() {
                "ok"
            } else {
                "warnings"
            },
        )
        .field(
            "warnings",
            gst::Array::new(warnings.iter().map(String::as_str)),
        )
        .field("anomaly-count", report.anomaly_count())
        .field("deviation-count", report.deviation_count())
        .field("connection", connection(report));
    if let Some(props) = report.metadata.as_deref().and_then(Amf0Value::properties) {
        b = b.field("metadata", amf_object("onMetaData", props, 0));
    }
    let jumps = report.jumps();
    b.field("tracks", gst::Array::new(tracks))
        .field(jumps.field, jumps.n)
        .field_if_some("av-skew-max-ms", report.skew.max_ms())
        .field_if_some("av-skew-p95-ms", report.skew.percentile_ms(0.95))
        .field("deviations", counts("deviations", &report.tolerated()))
        .build()
}

#[cfg(test)]
mod tests {
    use super::super::Media;
    use super::*;
    use crate::rtmp::{HandshakeKind, SessionObservations};

    #[test]
    fn the_structure_carries_figures_verdict_and_metadata_as_sent() {
        gst::init().unwrap();
        let connect = ConnectFacts::from_command_object(&Amf0Value::object([
            (
                "flashVer",
                Amf0Value::string("FMLE/3.0 (compatible; obs-studio/29.0.2)"),
            ),
            (
                "fourCcList",
                Amf0Value::StrictArray(vec![Amf0Value::string("hvc1")]),
            ),
        ]));
        let mut r = PublishReport::new(connect);
        r.set_session(SessionObservations {
            handshake: Some(HandshakeKind::Digest),
            window_ack_size: Some(2_500_000),
            ..Default::default()
        });
        r.on_metadata(&Amf0Value::EcmaArray(vec![
            ("framerate".into(), Amf0Value::Number(30.0)),
            ("encoder".into(), Amf0Value::string("obs-output module")),
            ("nothing".into(), Amf0Value::Null),
            (
                "list".into(),
                Amf0Value::StrictArray(vec![Amf0Value::Number(1.0), Amf0Value::Boolean(true)]),
            ),
        ]));
        let v = TrackKey::Video(0);
        for i in 0..90u32 {
            r.on_media_message(Media::Video, i * 1000 / 30);
            r.on_frame(v, i % 30 == 0, 33, 0, 1000);
        }
        let caps = gst::Caps::builder("video/x-h264")
            .field("profile", "high")
            .field("width", 1280i32)
            .field("height", 720i32)
            .field("stream-format", "avc")
            .build();
        let s = to_structure(&r, |_| {
            Some(TrackDescription {
                codec_name: "H.264",
                caps: Some(caps.clone()),
            })
        });
        assert_eq!(s.name(), "publish-report");
        assert_eq!(s.get::<&str>("verdict").unwrap(), "ok");
        assert!(s.get::<gst::Array>("warnings").unwrap().is_empty());
        assert_eq!(s.get::<u64>("anomaly-count").unwrap(), 0);
        let c = s.get::<gst::Structure>("connection").unwrap();
        assert_eq!(c.get::<&str>("handshake").unwrap(), "digest");
        assert_eq!(c.get::<u32>("window-ack-size").unwrap(), 2_500_000);
        assert!(c.get::<bool>("enhanced-rtmp").unwrap());
        assert!(!c.has_field("chunk-size-first"), "no SetChunkSize seen");
        let m = s.get::<gst::Structure>("metadata").unwrap();
        assert_eq!(m.get::<f64>("framerate").unwrap(), 30.0);
        assert_eq!(m.get::<&str>("encoder").unwrap(), "obs-output module");
        assert!(!m.has_field("nothing"));
        let list = m.get::<gst::Array>("list").unwrap();
        let list: Vec<&str> = list.iter().map(|v| v.get::<&str>().unwrap()).collect();
        assert_eq!(list, ["1", "true"], "a mixed array as text");
        let tracks = s.get::<gst::Array>("tracks").unwrap();
        let t = tracks.first().unwrap().get::<gst::Structure>().unwrap();
        assert_eq!(t.get::<&str>("codec").unwrap(), "video/x-h264");
        assert_eq!(t.get::<&str>("codec-name").unwrap(), "H.264");
        assert_eq!(t.get::<&str>("profile").unwrap(), "high");
        assert_eq!(t.get::<i32>("width").unwrap(), 1280);
        assert!(!t.has_field("stream-format"), "only the summary fields");
        assert_eq!(t.get::<u64>("frames").unwrap(), 90);
        assert!((t.get::<f64>("frame-rate").unwrap() - 30.0).abs() < 0.05);
        assert_eq!(t.get::<f64>("declared-frame-rate").unwrap(), 30.0);
        assert_eq!(t.get::<f64>("gop-mean").unwrap(), 30.0);
        assert_eq!(t.get::<f64>("keyframe-interval-stddev").unwrap(), 0.0);
        assert!(!t.get::<bool>("b-frames").unwrap());
        assert_eq!(t.get::<u64>("composition-offsets").unwrap(), 90);
        assert_eq!(t.get::<u64>("gaps").unwrap(), 0);
        let d = s.get::<gst::Structure>("deviations").unwrap();
        assert_eq!(d.n_fields(), 8);
        assert_eq!(d.get::<u64>("missing-onmetadata").unwrap(), 0);
        assert!(!s.has_field("av-skew-max-ms"), "video only: no skew");
    }

    #[test]
    fn warnings_make_the_verdict() {
        gst::init().unwrap();
        let mut r = PublishReport::default();
        r.on_media_message(Media::Audio, 0);
        let s = to_structure(&r, |_| None);
        assert_eq!(s.get::<&str>("verdict").unwrap(), "warnings");
        let warnings = s.get::<gst::Array>("warnings").unwrap();
        assert_eq!(
            warnings.first().unwrap().get::<&str>().unwrap(),
            "tolerated: no onMetaData before the first media: 1"
        );
        assert_eq!(s.get::<u64>("deviation-count").unwrap(), 1);
    }
}
