// Copyright (C) 2026 The gst-plugin-rtmpserver authors
// SPDX-License-Identifier: MPL-2.0
//! GstStructures as JSON (serde_json values) for `/stats`: objects of their fields, with nested
//! structures, arrays and lists, whatever fields the element puts in them.

use gst::prelude::*;
use serde_json::{Map, Value};

/// A number rounded to three decimals (null when not finite).
pub fn number(x: f64) -> Value {
    if x.is_finite() {
        Value::from((x * 1000.0).round() / 1000.0)
    } else {
        Value::Null
    }
}

/// A structure as an object of its fields (its name is not included).
pub fn structure(s: &gst::StructureRef) -> Value {
    let fields: Map<String, Value> = s
        .iter()
        .map(|(name, value)| (name.to_string(), self::value(value)))
        .collect();
    Value::Object(fields)
}

fn value(v: &glib::Value) -> Value {
    macro_rules! try_as {
        ($($t:ty),*) => {$(
            if let Ok(x) = v.get::<$t>() {
                return Value::from(x);
            }
        )*};
    }
    try_as!(i32, u32, i64, u64, bool);
    if let Ok(x) = v.get::<f64>() {
        return number(x);
    }
    if let Ok(x) = v.get::<f32>() {
        return number(x.into());
    }
    if let Ok(s) = v.get::<Option<String>>() {
        return s.map_or(Value::Null, Value::from);
    }
    if let Ok(s) = v.get::<gst::Structure>() {
        return structure(&s);
    }
    if let Ok(a) = v.get::<gst::Array>() {
        return Value::Array(a.iter().map(|x| value(x)).collect());
    }
    if let Ok(l) = v.get::<gst::List>() {
        return Value::Array(l.iter().map(|x| value(x)).collect());
    }
    // Anything else (flags, enums, caps, ...) as GStreamer prints it.
    Value::from(
        v.serialize()
            .map(|s| s.to_string())
            .unwrap_or_else(|_| format!("{v:?}")),
    )
}
