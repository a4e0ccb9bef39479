// Copyright (C) 2026 The gst-plugin-rtmpserver authors
// SPDX-License-Identifier: MPL-2.0
//! What a client announced about itself in its `connect` command: its flashVer and its
//! Enhanced RTMP capabilities (fourCcList, capsEx, the per-codec info maps).

use crate::rtmp::Amf0Value;

/// Entries kept per list or map, and characters per string: the connect was accepted, but its
/// contents are still the client's to choose.
const MAX_ENTRIES: usize = 64;
const MAX_CHARS: usize = 256;

#[derive(Debug, Clone, Default, PartialEq)]
pub(in crate::rtmpserversrc) struct ConnectFacts {
    pub flash_ver: Option<String>,
    /// Enhanced RTMP `fourCcList` (empty: not sent).
    pub fourcc_list: Vec<String>,
    /// Enhanced RTMP `capsEx` bit mask.
    pub caps_ex: Option<u32>,
    /// `videoFourCcInfoMap` / `audioFourCcInfoMap`: FourCC → FourCcInfoMask.
    pub video_fourcc_info_map: Vec<(String, u32)>,
    pub audio_fourcc_info_map: Vec<(String, u32)>,
}

fn text(s: &str) -> String {
    s.chars().take(MAX_CHARS).collect()
}

/// A non-negative integral AMF number, as the capability masks are.
fn mask(value: &Amf0Value) -> Option<u32> {
    value
        .as_number()
        .filter(|n| n.is_finite() && *n >= 0.0 && *n <= f64::from(u32::MAX))
        .map(|n| n as u32)
}

fn info_map(value: Option<&Amf0Value>) -> Vec<(String, u32)> {
    value
        .and_then(Amf0Value::properties)
        .unwrap_or_default()
        .iter()
        .filter_map(|(k, v)| Some((text(k), mask(v)?)))
        .take(MAX_ENTRIES)
        .collect()
}

impl ConnectFacts {
    /// Reads the connect command object (an AMF0 object).
    pub fn from_command_object(object: &Amf0Value) -> Self {
        let fourcc_list = match object.get("fourCcList") {
            Some(Amf0Value::StrictArray(items)) => items
                .iter()
                .filter_map(Amf0Value::as_str)
                .map(text)
                .take(MAX_ENTRIES)
                .collect(),
            _ => Vec::new(),
        };
        ConnectFacts {
            flash_ver: object.get("flashVer").and_then(Amf0Value::as_str).map(text),
            fourcc_list,
            caps_ex: object.get("capsEx").and_then(mask),
            video_fourcc_info_map: info_map(object.get("videoFourCcInfoMap")),
            audio_fourcc_info_map: info_map(object.get("audioFourCcInfoMap")),
        }
    }

    /// Whether the client announced any Enhanced RTMP capability.
    pub fn is_enhanced(&self) -> bool {
        !self.fourcc_list.is_empty()
            || self.caps_ex.is_some()
            || !self.video_fourcc_info_map.is_empty()
            || !self.audio_fourcc_info_map.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_an_enhanced_connect() {
        let object = Amf0Value::object([
            ("app", Amf0Value::string("live")),
            (
                "flashVer",
                Amf0Value::string("FMLE/3.0 (compatible; Lavf61.7.100)"),
            ),
            (
                "fourCcList",
                Amf0Value::StrictArray(vec![Amf0Value::string("hvc1"), Amf0Value::string("av01")]),
            ),
            ("capsEx", Amf0Value::Number(2.0)),
            (
                "videoFourCcInfoMap",
                Amf0Value::object([("hvc1", Amf0Value::Number(5.0))]),
            ),
        ]);
        let facts = ConnectFacts::from_command_object(&object);
        assert_eq!(
            facts.flash_ver.as_deref(),
            Some("FMLE/3.0 (compatible; Lavf61.7.100)")
        );
        assert_eq!(facts.fourcc_list, ["hvc1", "av01"]);
        assert_eq!(facts.caps_ex, Some(2));
        assert_eq!(facts.video_fourcc_info_map, [("hvc1".to_string(), 5)]);
        assert!(facts.audio_fourcc_info_map.is_empty());
        assert!(facts.is_enhanced());
    }

    #[test]
    fn a_legacy_connect_announces_nothing_and_junk_is_ignored() {
        let object = Amf0Value::object([
            ("flashVer", Amf0Value::string("x".repeat(10_000))),
            ("capsEx", Amf0Value::Number(-1.0)),
            ("fourCcList", Amf0Value::string("hvc1")),
        ]);
        let facts = ConnectFacts::from_command_object(&object);
        assert_eq!(facts.flash_ver.as_ref().map(String::len), Some(MAX_CHARS));
        assert!(!facts.is_enhanced());
    }
}
