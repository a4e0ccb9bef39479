// Copyright (C) 2026 The gst-plugin-rtmpserver authors
// SPDX-License-Identifier: MPL-2.0
//! The Enhanced RTMP video Metadata packet: AMF0 `["colorInfo", {colorConfig, hdrCll, hdrMdcv}]`.

use super::FlvError;
use crate::rtmp::{amf0, Amf0Value};

/// What a `colorInfo` metadata packet says. Code points are ISO/IEC 23091-2 (H.273); every
/// field is optional in the specification.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ColorMetadata {
    pub bit_depth: Option<u8>,
    pub primaries: Option<u8>,
    pub transfer: Option<u8>,
    pub matrix: Option<u8>,
    /// Content light level: MaxCLL and MaxFALL in cd/m².
    pub max_cll: Option<u16>,
    pub max_fall: Option<u16>,
    pub mastering_display: Option<MasteringDisplay>,
}

/// SMPTE ST 2086 mastering display colour volume, in natural units: CIE 1931 xy chromaticities
/// (0..1) and luminances in cd/m².
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct MasteringDisplay {
    pub red: (f64, f64),
    pub green: (f64, f64),
    pub blue: (f64, f64),
    pub white_point: (f64, f64),
    pub max_luminance: f64,
    pub min_luminance: f64,
}

/// Decodes the AMF body of a `VideoPacket::Metadata`. Other metadata names than `colorInfo`
/// are an error; unknown or ill-typed properties are ignored.
pub fn parse_color_info(amf: &[u8]) -> Result<ColorMetadata, FlvError> {
    let values = amf0::decode_all(amf).map_err(|_| FlvError::Malformed("metadata AMF"))?;
    let mut values = values.iter();
    if values.next().and_then(Amf0Value::as_str) != Some("colorInfo") {
        return Err(FlvError::Malformed("video metadata is not colorInfo"));
    }
    let info = values
        .next()
        .filter(|v| v.properties().is_some())
        .ok_or(FlvError::Malformed("colorInfo without an object"))?;
    let mut out = ColorMetadata::default();
    if let Some(config) = info.get("colorConfig") {
        out.bit_depth = small_int(config, "bitDepth", 16);
        out.primaries = small_int(config, "colorPrimaries", 255);
        out.transfer = small_int(config, "transferCharacteristics", 255);
        out.matrix = small_int(config, "matrixCoefficients", 255);
    }
    if let Some(cll) = info.get("hdrCll") {
        out.max_cll = small_int(cll, "maxCLL", u16::MAX.into());
        out.max_fall = small_int(cll, "maxFall", u16::MAX.into());
    }
    if let Some(mdcv) = info.get("hdrMdcv") {
        let chromaticity = |x: &str, y: &str| -> Option<(f64, f64)> {
            let x = number(mdcv, x).filter(|v| (0.0..=1.0).contains(v))?;
            let y = number(mdcv, y).filter(|v| (0.0..=1.0).contains(v))?;
            Some((x, y))
        };
        let luminance = |key: &str| number(mdcv, key).filter(|v| (0.0..=100_000.0).contains(v));
        if let (Some(red), Some(green), Some(blue), Some(white_point), Some(max), Some(min)) = (
            chromaticity("redX", "redY"),
            chromaticity("greenX", "greenY"),
            chromaticity("blueX", "blueY"),
            chromaticity("whitePointX", "whitePointY"),
            luminance("maxLuminance"),
            luminance("minLuminance"),
        ) {
            out.mastering_display = Some(MasteringDisplay {
                red,
                green,
                blue,
                white_point,
                max_luminance: max,
                min_luminance: min,
            });
        }
    }
    Ok(out)
}

fn number(object: &Amf0Value, key: &str) -> Option<f64> {
    object
        .get(key)
        .and_then(Amf0Value::as_number)
        .filter(|n| n.is_finite())
}

/// A non-negative integer property no larger than `max`.
fn small_int<T: TryFrom<u32>>(object: &Amf0Value, key: &str, max: u32) -> Option<T> {
    let n = number(object, key)?;
    if n < 0.0 || n > f64::from(max) || n.fract() != 0.0 {
        return None;
    }
    T::try_from(n as u32).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(values: &[Amf0Value]) -> Vec<u8> {
        let mut out = Vec::new();
        amf0::encode(values, &mut out);
        out
    }

    fn num(n: f64) -> Amf0Value {
        Amf0Value::Number(n)
    }

    #[test]
    fn ffmpeg_style_hdr10() {
        let body = encode(&[
            Amf0Value::string("colorInfo"),
            Amf0Value::object([
                (
                    "colorConfig",
                    Amf0Value::object([
                        ("transferCharacteristics", num(16.0)),
                        ("matrixCoefficients", num(9.0)),
                        ("colorPrimaries", num(9.0)),
                    ]),
                ),
                (
                    "hdrCll",
                    Amf0Value::object([("maxFall", num(400.0)), ("maxCLL", num(1000.0))]),
                ),
                (
                    "hdrMdcv",
                    Amf0Value::object([
                        ("redX", num(0.68)),
                        ("redY", num(0.32)),
                        ("greenX", num(0.265)),
                        ("greenY", num(0.69)),
                        ("blueX", num(0.15)),
                        ("blueY", num(0.06)),
                        ("whitePointX", num(0.3127)),
                        ("whitePointY", num(0.329)),
                        ("maxLuminance", num(1000.0)),
                        ("minLuminance", num(0.0001)),
                    ]),
                ),
            ]),
        ]);
        let info = parse_color_info(&body).unwrap();
        assert_eq!(
            (info.primaries, info.transfer, info.matrix),
            (Some(9), Some(16), Some(9))
        );
        assert_eq!(info.bit_depth, None);
        assert_eq!((info.max_cll, info.max_fall), (Some(1000), Some(400)));
        let mdcv = info.mastering_display.unwrap();
        assert_eq!(mdcv.green, (0.265, 0.69));
        assert_eq!(mdcv.white_point, (0.3127, 0.329));
        assert_eq!((mdcv.max_luminance, mdcv.min_luminance), (1000.0, 0.0001));
    }

    #[test]
    fn partial_and_ill_typed_fields_are_ignored() {
        let body = encode(&[
            Amf0Value::string("colorInfo"),
            Amf0Value::object([
                (
                    "colorConfig",
                    Amf0Value::object([
                        ("bitDepth", num(10.0)),
                        ("colorPrimaries", Amf0Value::string("bt709")),
                        ("transferCharacteristics", num(-1.0)),
                        ("matrixCoefficients", num(1.5)),
                    ]),
                ),
                ("hdrMdcv", Amf0Value::object([("redX", num(0.68))])),
                ("hdrCll", num(3.0)),
            ]),
        ]);
        let info = parse_color_info(&body).unwrap();
        assert_eq!(
            info,
            ColorMetadata {
                bit_depth: Some(10),
                ..ColorMetadata::default()
            }
        );
    }

    #[test]
    fn other_metadata_and_garbage_are_errors() {
        let other = encode(&[
            Amf0Value::string("onCuePoint"),
            Amf0Value::object([("a", num(1.0))]),
        ]);
        assert!(parse_color_info(&other).is_err());
        let no_object = encode(&[Amf0Value::string("colorInfo"), num(1.0)]);
        assert!(parse_color_info(&no_object).is_err());
        assert!(parse_color_info(&[]).is_err());
        assert!(parse_color_info(&[0x02, 0x00]).is_err());
        let good = encode(&[
            Amf0Value::string("colorInfo"),
            Amf0Value::object([("x", num(1.0))]),
        ]);
        for len in 0..good.len() {
            let _ = parse_color_info(&good[..len]);
        }
    }
}
