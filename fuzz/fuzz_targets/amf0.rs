// Copyright (C) 2026 The gst-plugin-rtmpserver authors
// SPDX-License-Identifier: MPL-2.0
//! AMF0: decode arbitrary bytes; whatever decodes must re-encode and decode to the same values
//! (NaN compares equal to NaN; a String longer than 65535 bytes, which lossy UTF-8 repair can
//! produce, is documented to encode as a LongString).
#![no_main]

use libfuzzer_sys::fuzz_target;
use rtmpserver_fuzz::rtmp::amf0::{self, Amf0Value};
use rtmpserver_fuzz::rtmp::message::{parse_data, type_id};
use rtmpserver_fuzz::rtmp::Command;

fn same_f64(a: f64, b: f64) -> bool {
    (a.is_nan() && b.is_nan()) || a.to_bits() == b.to_bits()
}

fn same_props(a: &[(String, Amf0Value)], b: &[(String, Amf0Value)]) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|((ka, va), (kb, vb))| ka == kb && same(va, vb))
}

fn same(a: &Amf0Value, b: &Amf0Value) -> bool {
    use Amf0Value::*;
    match (a, b) {
        (Number(x), Number(y)) => same_f64(*x, *y),
        (
            Date {
                millis: x,
                timezone: tx,
            },
            Date {
                millis: y,
                timezone: ty,
            },
        ) => same_f64(*x, *y) && tx == ty,
        (Object(x), Object(y)) | (EcmaArray(x), EcmaArray(y)) => same_props(x, y),
        (StrictArray(x), StrictArray(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same(p, q))
        }
        (String(x), LongString(y)) if x.len() > usize::from(u16::MAX) => x == y,
        _ => a == b,
    }
}

/// Keys longer than 65535 bytes (only reachable through lossy repair) are cut on encoding, so
/// the round trip is only checked without them.
fn keys_fit(v: &Amf0Value) -> bool {
    match v {
        Amf0Value::Object(p) | Amf0Value::EcmaArray(p) => p
            .iter()
            .all(|(k, v)| k.len() <= usize::from(u16::MAX) && keys_fit(v)),
        Amf0Value::StrictArray(items) => items.iter().all(keys_fit),
        _ => true,
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok((value, used)) = amf0::decode_one(data) {
        assert!(used >= 1 && used <= data.len());
        let again = amf0::decode_all(&data[..used]).expect("prefix decoded once");
        assert_eq!(again.len(), 1);
        assert!(same(&again[0], &value));
    }

    let decoded = amf0::decode_all(data);
    if let Ok(values) = &decoded {
        if values.iter().all(keys_fit) {
            let mut encoded = Vec::new();
            amf0::encode(values, &mut encoded);
            let round = amf0::decode_all(&encoded).expect("re-encoded AMF0 must decode");
            assert_eq!(round.len(), values.len());
            for (a, b) in values.iter().zip(&round) {
                assert!(same(a, b), "round trip changed {a:?} into {b:?}");
            }
        }
    }

    // The message layer over the same bytes (AMF0 and AMF3-wrapped forms).
    let _ = Command::parse(type_id::COMMAND_AMF0, data);
    let _ = Command::parse(type_id::COMMAND_AMF3, data);
    let _ = parse_data(type_id::DATA_AMF0, data);
    let _ = parse_data(type_id::DATA_AMF3, data);
    if let Ok(cmd) = Command::parse(type_id::COMMAND_AMF0, data) {
        let _ = Command::parse(type_id::COMMAND_AMF0, &cmd.encode()).expect("command re-parses");
    }
});
