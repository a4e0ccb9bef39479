// Copyright (C) 2026 The gst-plugin-rtmpserver authors
// SPDX-License-Identifier: MPL-2.0
//! Just enough JSON for `/stats`: strings, and GstStructures (with their nested structures,
//! arrays and lists) as objects, whatever fields the element puts in them.

use std::fmt::Write;

use gst::prelude::*;

/// A JSON string literal.
pub fn string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c == '\u{2028}' || c == '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

pub fn number(x: f64) -> String {
    if x.is_finite() {
        format!("{}", (x * 1000.0).round() / 1000.0)
    } else {
        "null".into()
    }
}

/// A structure as an object of its fields (its name is not included).
pub fn structure(s: &gst::StructureRef) -> String {
    let fields: Vec<String> = s
        .iter()
        .map(|(name, value)| format!("{}:{}", string(name), self::value(value)))
        .collect();
    format!("{{{}}}", fields.join(","))
}

fn value(v: &glib::Value) -> String {
    macro_rules! try_as {
        ($($t:ty),*) => {$(
            if let Ok(x) = v.get::<$t>() {
                return x.to_string();
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
        return s.as_deref().map_or("null".into(), string);
    }
    if let Ok(s) = v.get::<gst::Structure>() {
        return structure(&s);
    }
    let list: Option<Vec<String>> = if let Ok(a) = v.get::<gst::Array>() {
        Some(a.iter().map(|x| value(x)).collect())
    } else if let Ok(l) = v.get::<gst::List>() {
        Some(l.iter().map(|x| value(x)).collect())
    } else {
        None
    };
    if let Some(items) = list {
        return format!("[{}]", items.join(","));
    }
    // Anything else (flags, enums, caps, ...) as GStreamer prints it.
    let text = v
        .serialize()
        .map(|s| s.to_string())
        .unwrap_or_else(|_| format!("{v:?}"));
    string(&text)
}
