// Copyright (C) 2026 The gst-plugin-rtmpserver authors
// SPDX-License-Identifier: MPL-2.0
//! AMF0 codec (Action Message Format version 0), hardened for network input.
//!
//! Decoding never trusts a length from the peer: every read is bounds-checked, nothing is
//! allocated from a claimed count, nesting is capped at [`MAX_DEPTH`] so a hostile command
//! cannot exhaust the stack, and the decoded values' memory is charged against a budget of
//! [`BUDGET_FACTOR`] times the input (plus [`BUDGET_SLACK`]): a strict array of one-byte null
//! markers would otherwise decode into 32 bytes per input byte.

use std::fmt;

/// Deepest nesting of objects/arrays accepted while decoding.
pub const MAX_DEPTH: usize = 32;

/// Decoded values may take at most this many times their input's size in memory...
pub const BUDGET_FACTOR: usize = 8;
/// ...plus this much, so small real commands (one-letter keys, booleans) always fit.
pub const BUDGET_SLACK: usize = 16 * 1024;

const MARKER_NUMBER: u8 = 0x00;
const MARKER_BOOLEAN: u8 = 0x01;
const MARKER_STRING: u8 = 0x02;
const MARKER_OBJECT: u8 = 0x03;
const MARKER_MOVIECLIP: u8 = 0x04;
const MARKER_NULL: u8 = 0x05;
const MARKER_UNDEFINED: u8 = 0x06;
const MARKER_REFERENCE: u8 = 0x07;
const MARKER_ECMA_ARRAY: u8 = 0x08;
const MARKER_OBJECT_END: u8 = 0x09;
const MARKER_STRICT_ARRAY: u8 = 0x0A;
const MARKER_DATE: u8 = 0x0B;
const MARKER_LONG_STRING: u8 = 0x0C;
const MARKER_UNSUPPORTED: u8 = 0x0D;
const MARKER_RECORDSET: u8 = 0x0E;
const MARKER_XML_DOCUMENT: u8 = 0x0F;
const MARKER_TYPED_OBJECT: u8 = 0x10;
const MARKER_AVMPLUS: u8 = 0x11;

/// One AMF0 value.
#[derive(Debug, Clone, PartialEq)]
pub enum Amf0Value {
    /// IEEE-754 double.
    Number(f64),
    /// Boolean.
    Boolean(bool),
    /// UTF-8 string of at most 65535 bytes (longer strings are encoded as LongString).
    String(String),
    /// Anonymous object; property order is preserved. Typed objects decode to this too.
    Object(Vec<(String, Amf0Value)>),
    /// null.
    Null,
    /// undefined.
    Undefined,
    /// Associative ("ECMA") array; property order is preserved.
    EcmaArray(Vec<(String, Amf0Value)>),
    /// Dense array.
    StrictArray(Vec<Amf0Value>),
    /// Milliseconds since the epoch plus a (deprecated) timezone offset.
    Date {
        /// Milliseconds since 1970-01-01 UTC.
        millis: f64,
        /// Timezone offset in minutes; senders should write 0.
        timezone: i16,
    },
    /// String longer than 65535 bytes.
    LongString(String),
    /// XML document (carried as a long string).
    XmlDocument(String),
    /// Reference to an earlier complex value by index; kept as the raw index.
    Reference(u16),
    /// The "unsupported" marker.
    Unsupported,
}

/// Why AMF0 decoding failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Amf0Error {
    /// The input ended inside a value.
    Truncated,
    /// Objects/arrays nested deeper than [`MAX_DEPTH`].
    TooDeep,
    /// A marker this decoder does not know, or one not allowed where it appeared.
    UnexpectedMarker(u8),
    /// The AVM+ marker switches to AMF3, which is not supported.
    Amf3NotSupported,
    /// The decoded values would take more memory than the input's budget allows.
    OverBudget,
}

impl fmt::Display for Amf0Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Amf0Error::Truncated => write!(f, "AMF0 data truncated"),
            Amf0Error::TooDeep => write!(f, "AMF0 nesting deeper than {MAX_DEPTH}"),
            Amf0Error::UnexpectedMarker(m) => write!(f, "unexpected AMF0 marker 0x{m:02x}"),
            Amf0Error::Amf3NotSupported => write!(f, "AMF3 values are not supported"),
            Amf0Error::OverBudget => write!(
                f,
                "AMF0 values would take over {BUDGET_FACTOR} times their encoded size in memory"
            ),
        }
    }
}

impl std::error::Error for Amf0Error {}

impl Amf0Value {
    /// Property `key` of an Object or EcmaArray (first match), else None.
    pub fn get(&self, key: &str) -> Option<&Amf0Value> {
        self.properties()?
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
    }

    /// The text of a String or LongString.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Amf0Value::String(s) | Amf0Value::LongString(s) => Some(s),
            _ => None,
        }
    }

    /// The value of a Number.
    pub fn as_number(&self) -> Option<f64> {
        match self {
            Amf0Value::Number(n) => Some(*n),
            _ => None,
        }
    }

    /// The value of a Boolean.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Amf0Value::Boolean(b) => Some(*b),
            _ => None,
        }
    }

    /// The properties of an Object or EcmaArray.
    pub fn properties(&self) -> Option<&[(String, Amf0Value)]> {
        match self {
            Amf0Value::Object(p) | Amf0Value::EcmaArray(p) => Some(p),
            _ => None,
        }
    }

    /// Builds an Object from `(&str, value)` pairs; a convenience for replies and tests.
    pub fn object<K: Into<String>>(props: impl IntoIterator<Item = (K, Amf0Value)>) -> Self {
        Amf0Value::Object(props.into_iter().map(|(k, v)| (k.into(), v)).collect())
    }

    /// Builds a String value.
    pub fn string(s: impl Into<String>) -> Self {
        Amf0Value::String(s.into())
    }
}

struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
    /// Bytes of memory the decoded values may still take.
    budget: usize,
}

impl<'a> Reader<'a> {
    fn new(data: &'a [u8]) -> Self {
        Reader {
            data,
            pos: 0,
            budget: data
                .len()
                .saturating_mul(BUDGET_FACTOR)
                .saturating_add(BUDGET_SLACK),
        }
    }

    /// Charges `bytes` of decoded memory against the budget.
    fn charge(&mut self, bytes: usize) -> Result<(), Amf0Error> {
        self.budget = self
            .budget
            .checked_sub(bytes)
            .ok_or(Amf0Error::OverBudget)?;
        Ok(())
    }

    fn remaining(&self) -> usize {
        self.data.len().saturating_sub(self.pos)
    }

    fn bytes(&mut self, n: usize) -> Result<&'a [u8], Amf0Error> {
        let end = self.pos.checked_add(n).ok_or(Amf0Error::Truncated)?;
        let out = self.data.get(self.pos..end).ok_or(Amf0Error::Truncated)?;
        self.pos = end;
        Ok(out)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], Amf0Error> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.bytes(N)?);
        Ok(out)
    }

    fn u8(&mut self) -> Result<u8, Amf0Error> {
        Ok(self.array::<1>()?[0])
    }

    fn peek_u8(&self) -> Option<u8> {
        self.data.get(self.pos).copied()
    }

    fn u16(&mut self) -> Result<u16, Amf0Error> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    fn u32(&mut self) -> Result<u32, Amf0Error> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    fn f64(&mut self) -> Result<f64, Amf0Error> {
        Ok(f64::from_be_bytes(self.array()?))
    }

    fn utf8(&mut self, len: usize) -> Result<String, Amf0Error> {
        let bytes = self.bytes(len)?;
        self.charge(len)?;
        // Lossy: encoders in the wild put Latin-1 in metadata; a bad byte must not drop the stream.
        Ok(String::from_utf8_lossy(bytes).into_owned())
    }

    fn short_string(&mut self) -> Result<String, Amf0Error> {
        let len = self.u16()?;
        self.utf8(usize::from(len))
    }

    fn long_string(&mut self) -> Result<String, Amf0Error> {
        let len = usize::try_from(self.u32()?).map_err(|_| Amf0Error::Truncated)?;
        self.utf8(len)
    }

    fn value(&mut self, depth: usize) -> Result<Amf0Value, Amf0Error> {
        self.charge(std::mem::size_of::<Amf0Value>())?;
        let marker = self.u8()?;
        match marker {
            MARKER_NUMBER => Ok(Amf0Value::Number(self.f64()?)),
            MARKER_BOOLEAN => Ok(Amf0Value::Boolean(self.u8()? != 0)),
            MARKER_STRING => Ok(Amf0Value::String(self.short_string()?)),
            MARKER_OBJECT => Ok(Amf0Value::Object(self.properties(depth, false)?)),
            MARKER_NULL => Ok(Amf0Value::Null),
            MARKER_UNDEFINED => Ok(Amf0Value::Undefined),
            MARKER_REFERENCE => Ok(Amf0Value::Reference(self.u16()?)),
            MARKER_ECMA_ARRAY => {
                // The count is only a hint (often 0); the end marker terminates the array.
                let _count_hint = self.u32()?;
                Ok(Amf0Value::EcmaArray(self.properties(depth, true)?))
            }
            MARKER_STRICT_ARRAY => {
                let depth = nested(depth)?;
                let count = usize::try_from(self.u32()?).map_err(|_| Amf0Error::Truncated)?;
                // Every value takes at least one byte, so a count beyond the remaining input is
                // a lie. Nothing is reserved from the count: each item is charged as it comes.
                if count > self.remaining() {
                    return Err(Amf0Error::Truncated);
                }
                let mut items = Vec::new();
                for _ in 0..count {
                    items.push(self.value(depth)?);
                }
                Ok(Amf0Value::StrictArray(items))
            }
            MARKER_DATE => {
                let millis = self.f64()?;
                let timezone = i16::from_be_bytes(self.array()?);
                Ok(Amf0Value::Date { millis, timezone })
            }
            MARKER_LONG_STRING => Ok(Amf0Value::LongString(self.long_string()?)),
            MARKER_UNSUPPORTED => Ok(Amf0Value::Unsupported),
            MARKER_XML_DOCUMENT => Ok(Amf0Value::XmlDocument(self.long_string()?)),
            MARKER_TYPED_OBJECT => {
                let _class_name = self.short_string()?;
                Ok(Amf0Value::Object(self.properties(depth, false)?))
            }
            MARKER_AVMPLUS => Err(Amf0Error::Amf3NotSupported),
            MARKER_MOVIECLIP | MARKER_OBJECT_END | MARKER_RECORDSET => {
                Err(Amf0Error::UnexpectedMarker(marker))
            }
            other => Err(Amf0Error::UnexpectedMarker(other)),
        }
    }

    /// Reads `key, value` pairs up to the empty-key + object-end terminator.
    ///
    /// `lenient_end`: some muxers omit the terminator of an ECMA array that ends the data,
    /// so for ECMA arrays running out of input exactly at a key boundary ends the array.
    fn properties(
        &mut self,
        depth: usize,
        lenient_end: bool,
    ) -> Result<Vec<(String, Amf0Value)>, Amf0Error> {
        let depth = nested(depth)?;
        let mut props = Vec::new();
        loop {
            if lenient_end && self.remaining() == 0 {
                return Ok(props);
            }
            let key = self.short_string()?;
            if key.is_empty() && self.peek_u8() == Some(MARKER_OBJECT_END) {
                self.pos = self.pos.saturating_add(1);
                return Ok(props);
            }
            self.charge(std::mem::size_of::<String>())?;
            let value = self.value(depth)?;
            props.push((key, value));
        }
    }
}

fn nested(depth: usize) -> Result<usize, Amf0Error> {
    let next = depth.saturating_add(1);
    if next > MAX_DEPTH {
        Err(Amf0Error::TooDeep)
    } else {
        Ok(next)
    }
}

/// Decodes every value in `data`; fails if any value is malformed or truncated.
pub fn decode_all(data: &[u8]) -> Result<Vec<Amf0Value>, Amf0Error> {
    let mut reader = Reader::new(data);
    let mut values = Vec::new();
    while reader.remaining() > 0 {
        values.push(reader.value(0)?);
    }
    Ok(values)
}

/// Decodes one value from the start of `data`, returning it and the bytes it used.
pub fn decode_one(data: &[u8]) -> Result<(Amf0Value, usize), Amf0Error> {
    let mut reader = Reader::new(data);
    let value = reader.value(0)?;
    Ok((value, reader.pos))
}

/// Appends the AMF0 encoding of `values` to `out`.
pub fn encode(values: &[Amf0Value], out: &mut Vec<u8>) {
    for value in values {
        encode_value(value, out);
    }
}

fn put_u16_len(len: usize, out: &mut Vec<u8>) {
    out.extend_from_slice(&u16::try_from(len).unwrap_or(u16::MAX).to_be_bytes());
}

fn put_u32_len(len: usize, out: &mut Vec<u8>) {
    out.extend_from_slice(&u32::try_from(len).unwrap_or(u32::MAX).to_be_bytes());
}

fn put_key(key: &str, out: &mut Vec<u8>) {
    // Keys cannot exceed 65535 bytes on the wire; longer ones are cut rather than corrupting
    // the framing.
    let bytes = key.as_bytes();
    let bytes = bytes.get(..usize::from(u16::MAX)).unwrap_or(bytes);
    put_u16_len(bytes.len(), out);
    out.extend_from_slice(bytes);
}

fn put_long(bytes: &[u8], out: &mut Vec<u8>) {
    let bytes = bytes.get(..u32::MAX as usize).unwrap_or(bytes);
    put_u32_len(bytes.len(), out);
    out.extend_from_slice(bytes);
}

fn put_properties(props: &[(String, Amf0Value)], out: &mut Vec<u8>) {
    for (key, value) in props {
        put_key(key, out);
        encode_value(value, out);
    }
    out.extend_from_slice(&[0, 0, MARKER_OBJECT_END]);
}

fn encode_value(value: &Amf0Value, out: &mut Vec<u8>) {
    match value {
        Amf0Value::Number(n) => {
            out.push(MARKER_NUMBER);
            out.extend_from_slice(&n.to_be_bytes());
        }
        Amf0Value::Boolean(b) => {
            out.push(MARKER_BOOLEAN);
            out.push(u8::from(*b));
        }
        Amf0Value::String(s) if s.len() <= usize::from(u16::MAX) => {
            out.push(MARKER_STRING);
            put_u16_len(s.len(), out);
            out.extend_from_slice(s.as_bytes());
        }
        Amf0Value::String(s) | Amf0Value::LongString(s) => {
            out.push(MARKER_LONG_STRING);
            put_long(s.as_bytes(), out);
        }
        Amf0Value::Object(props) => {
            out.push(MARKER_OBJECT);
            put_properties(props, out);
        }
        Amf0Value::Null => out.push(MARKER_NULL),
        Amf0Value::Undefined => out.push(MARKER_UNDEFINED),
        Amf0Value::EcmaArray(props) => {
            out.push(MARKER_ECMA_ARRAY);
            put_u32_len(props.len(), out);
            put_properties(props, out);
        }
        Amf0Value::StrictArray(items) => {
            out.push(MARKER_STRICT_ARRAY);
            put_u32_len(items.len(), out);
            for item in items {
                encode_value(item, out);
            }
        }
        Amf0Value::Date { millis, timezone } => {
            out.push(MARKER_DATE);
            out.extend_from_slice(&millis.to_be_bytes());
            out.extend_from_slice(&timezone.to_be_bytes());
        }
        Amf0Value::XmlDocument(s) => {
            out.push(MARKER_XML_DOCUMENT);
            put_long(s.as_bytes(), out);
        }
        Amf0Value::Reference(index) => {
            out.push(MARKER_REFERENCE);
            out.extend_from_slice(&index.to_be_bytes());
        }
        Amf0Value::Unsupported => out.push(MARKER_UNSUPPORTED),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(values: Vec<Amf0Value>) {
        let mut out = Vec::new();
        encode(&values, &mut out);
        assert_eq!(decode_all(&out).unwrap(), values);
    }

    /// Hostile inputs whose decoded form would be far larger than their encoding: each is
    /// refused, and what the decoder holds stays within its budget.
    #[test]
    fn decoded_memory_is_bounded_by_the_budget() {
        let n = 1 << 20;
        // A strict array of a million nulls: one byte each, 32 bytes decoded.
        let mut nulls = vec![MARKER_STRICT_ARRAY];
        nulls.extend_from_slice(&(n as u32).to_be_bytes());
        nulls.extend(std::iter::repeat_n(MARKER_NULL, n));
        assert_eq!(decode_all(&nulls), Err(Amf0Error::OverBudget));
        // An object of one-byte keys with null values: four bytes each.
        let mut keys = vec![MARKER_OBJECT];
        for _ in 0..n / 4 {
            keys.extend_from_slice(&[0, 1, b'k', MARKER_NULL]);
        }
        keys.extend_from_slice(&[0, 0, MARKER_OBJECT_END]);
        assert_eq!(decode_all(&keys), Err(Amf0Error::OverBudget));
        // A long string decodes to about its own size: fine.
        let mut long = vec![MARKER_LONG_STRING];
        long.extend_from_slice(&(n as u32).to_be_bytes());
        long.extend(std::iter::repeat_n(b'x', n));
        assert!(decode_all(&long).is_ok());
    }

    #[test]
    fn real_commands_fit_the_budget() {
        // A connect as FFmpeg sends it, and small objects of one-letter keys.
        let connect = vec![
            Amf0Value::string("connect"),
            Amf0Value::Number(1.0),
            Amf0Value::object([
                ("app", Amf0Value::string("live")),
                ("type", Amf0Value::string("nonprivate")),
                (
                    "flashVer",
                    Amf0Value::string("FMLE/3.0 (compatible; Lavf59.27.100)"),
                ),
                ("tcUrl", Amf0Value::string("rtmp://127.0.0.1:1935/live")),
            ]),
        ];
        round_trip(connect);
        let small: Vec<(String, Amf0Value)> = (0..200)
            .map(|i| (format!("{}", i % 10), Amf0Value::Boolean(true)))
            .collect();
        round_trip(vec![Amf0Value::Object(small)]);
    }

    #[test]
    fn round_trips_every_kind() {
        round_trip(vec![
            Amf0Value::Number(1.5),
            Amf0Value::Boolean(true),
            Amf0Value::string("héllo"),
            Amf0Value::object([
                ("app", Amf0Value::string("live")),
                (
                    "nested",
                    Amf0Value::object([("x", Amf0Value::Number(-3.0))]),
                ),
            ]),
            Amf0Value::Null,
            Amf0Value::Undefined,
            Amf0Value::EcmaArray(vec![("duration".into(), Amf0Value::Number(0.0))]),
            Amf0Value::StrictArray(vec![Amf0Value::Number(1.0), Amf0Value::Null]),
            Amf0Value::Date {
                millis: 1.7e12,
                timezone: -60,
            },
            Amf0Value::LongString("x".repeat(70_000)),
            Amf0Value::XmlDocument("<a/>".into()),
            Amf0Value::Reference(3),
            Amf0Value::Unsupported,
            Amf0Value::Object(vec![]),
        ]);
    }

    #[test]
    fn known_bytes() {
        let mut out = Vec::new();
        encode(
            &[
                Amf0Value::string("connect"),
                Amf0Value::Number(1.0),
                Amf0Value::object([("a", Amf0Value::Boolean(false))]),
            ],
            &mut out,
        );
        let expected: Vec<u8> = [
            &[0x02, 0x00, 0x07][..],
            b"connect",
            &[0x00, 0x3F, 0xF0, 0, 0, 0, 0, 0, 0],
            &[0x03, 0x00, 0x01, b'a', 0x01, 0x00, 0x00, 0x00, 0x09],
        ]
        .concat();
        assert_eq!(out, expected);
    }

    #[test]
    fn accessors() {
        let v = Amf0Value::EcmaArray(vec![("width".into(), Amf0Value::Number(640.0))]);
        assert_eq!(v.get("width").and_then(Amf0Value::as_number), Some(640.0));
        assert_eq!(v.get("height"), None);
        assert_eq!(Amf0Value::LongString("a".into()).as_str(), Some("a"));
        assert_eq!(Amf0Value::Null.get("x"), None);
    }

    #[test]
    fn typed_object_decodes_as_object() {
        let mut data = vec![0x10, 0x00, 0x03];
        data.extend_from_slice(b"Foo");
        data.extend_from_slice(&[0x00, 0x01, b'k', 0x05, 0x00, 0x00, 0x09]);
        assert_eq!(
            decode_all(&data).unwrap(),
            vec![Amf0Value::Object(vec![("k".into(), Amf0Value::Null)])]
        );
    }

    #[test]
    fn ecma_array_without_terminator_at_end_is_accepted() {
        let data = [0x08, 0, 0, 0, 1, 0x00, 0x01, b'w', 0x05];
        assert_eq!(
            decode_all(&data).unwrap(),
            vec![Amf0Value::EcmaArray(vec![("w".into(), Amf0Value::Null)])]
        );
    }

    #[test]
    fn avmplus_switch_is_an_error() {
        assert_eq!(decode_all(&[0x11, 0x01]), Err(Amf0Error::Amf3NotSupported));
    }

    #[test]
    fn unknown_and_misplaced_markers_are_errors() {
        assert_eq!(decode_all(&[0x09]), Err(Amf0Error::UnexpectedMarker(0x09)));
        assert_eq!(decode_all(&[0x42]), Err(Amf0Error::UnexpectedMarker(0x42)));
    }

    #[test]
    fn deep_nesting_is_refused() {
        // 10000 nested strict arrays of one element each.
        let mut data = Vec::new();
        for _ in 0..10_000 {
            data.extend_from_slice(&[0x0A, 0, 0, 0, 1]);
        }
        data.push(0x05);
        assert_eq!(decode_all(&data), Err(Amf0Error::TooDeep));

        let mut data = Vec::new();
        for _ in 0..10_000 {
            data.extend_from_slice(&[0x03, 0x00, 0x01, b'a']);
        }
        assert_eq!(decode_all(&data), Err(Amf0Error::TooDeep));
    }

    #[test]
    fn nesting_at_the_limit_is_accepted() {
        let mut data = Vec::new();
        for _ in 0..MAX_DEPTH {
            data.extend_from_slice(&[0x0A, 0, 0, 0, 1]);
        }
        data.push(0x05);
        assert!(decode_all(&data).is_ok());
    }

    #[test]
    fn truncated_input_is_an_error_everywhere() {
        let values = [
            Amf0Value::string("abc"),
            Amf0Value::object([("k", Amf0Value::Number(2.0))]),
            Amf0Value::Date {
                millis: 0.0,
                timezone: 0,
            },
            Amf0Value::StrictArray(vec![Amf0Value::Boolean(true)]),
        ];
        for value in values {
            let mut full = Vec::new();
            encode(&[value], &mut full);
            for cut in 1..full.len() {
                assert!(decode_all(&full[..cut]).is_err(), "{full:?} cut at {cut}");
            }
        }
    }

    #[test]
    fn huge_lengths_are_refused_without_allocating() {
        assert_eq!(
            decode_all(&[0x02, 0xFF, 0xFF, b'a']),
            Err(Amf0Error::Truncated)
        );
        assert_eq!(
            decode_all(&[0x0C, 0xFF, 0xFF, 0xFF, 0xFF, b'a']),
            Err(Amf0Error::Truncated)
        );
        assert_eq!(
            decode_all(&[0x0A, 0xFF, 0xFF, 0xFF, 0xFF, 0x05]),
            Err(Amf0Error::Truncated)
        );
        assert_eq!(
            decode_all(&[0x0F, 0x7F, 0xFF, 0xFF, 0xFF]),
            Err(Amf0Error::Truncated)
        );
    }

    #[test]
    fn decode_one_reports_consumed_length() {
        let (v, used) = decode_one(&[0x05, 0x06]).unwrap();
        assert_eq!((v, used), (Amf0Value::Null, 1));
    }
}
