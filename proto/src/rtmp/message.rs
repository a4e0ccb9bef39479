// Copyright (C) 2026 The gst-plugin-rtmpserver authors
// SPDX-License-Identifier: MPL-2.0
//! RTMP message types: protocol control and user control payloads, commands, data
//! messages and aggregate messages.

use std::fmt;

use bytes::Bytes;

use super::amf0::{self, Amf0Error, Amf0Value};

/// Message type ids (RTMP specification section 5.4 and 7.1).
pub mod type_id {
    /// Set Chunk Size.
    pub const SET_CHUNK_SIZE: u8 = 1;
    /// Abort Message.
    pub const ABORT: u8 = 2;
    /// Acknowledgement.
    pub const ACKNOWLEDGEMENT: u8 = 3;
    /// User Control Message.
    pub const USER_CONTROL: u8 = 4;
    /// Window Acknowledgement Size.
    pub const WINDOW_ACK_SIZE: u8 = 5;
    /// Set Peer Bandwidth.
    pub const SET_PEER_BANDWIDTH: u8 = 6;
    /// Audio data.
    pub const AUDIO: u8 = 8;
    /// Video data.
    pub const VIDEO: u8 = 9;
    /// Data message, AMF3 flavour.
    pub const DATA_AMF3: u8 = 15;
    /// Shared object, AMF3 flavour.
    pub const SHARED_OBJECT_AMF3: u8 = 16;
    /// Command message, AMF3 flavour.
    pub const COMMAND_AMF3: u8 = 17;
    /// Data message, AMF0.
    pub const DATA_AMF0: u8 = 18;
    /// Shared object, AMF0.
    pub const SHARED_OBJECT_AMF0: u8 = 19;
    /// Command message, AMF0.
    pub const COMMAND_AMF0: u8 = 20;
    /// Aggregate message (a run of FLV tags).
    pub const AGGREGATE: u8 = 22;
}

/// Conventional chunk stream ids for what the server sends.
pub mod csid {
    /// Protocol control and user control messages.
    pub const PROTOCOL_CONTROL: u32 = 2;
    /// Connection-level commands and their replies.
    pub const COMMAND: u32 = 3;
    /// Stream-level status (onStatus on a message stream).
    pub const STREAM_STATUS: u32 = 5;
}

/// Why a message payload could not be understood.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessageError {
    /// The payload is shorter than its type requires.
    Truncated(&'static str),
    /// The AMF0 body is malformed.
    Amf(Amf0Error),
    /// The first value of a command is not its name.
    MissingCommandName,
    /// An AMF3 message whose format byte is not 0 (pure AMF3 is not supported).
    Amf3Payload,
}

impl fmt::Display for MessageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MessageError::Truncated(what) => write!(f, "{what} message truncated"),
            MessageError::Amf(e) => write!(f, "{e}"),
            MessageError::MissingCommandName => write!(f, "command without a name"),
            MessageError::Amf3Payload => write!(f, "AMF3-encoded message not supported"),
        }
    }
}

impl std::error::Error for MessageError {}

impl From<Amf0Error> for MessageError {
    fn from(e: Amf0Error) -> Self {
        MessageError::Amf(e)
    }
}

/// Reads the single big-endian u32 that most protocol control messages carry.
pub fn parse_u32(payload: &[u8], what: &'static str) -> Result<u32, MessageError> {
    payload
        .get(..4)
        .and_then(|b| b.try_into().ok())
        .map(u32::from_be_bytes)
        .ok_or(MessageError::Truncated(what))
}

/// User control event (message type 4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserControlEvent {
    /// Stream Begin (0).
    StreamBegin(u32),
    /// Stream EOF (1).
    StreamEof(u32),
    /// Stream Dry (2).
    StreamDry(u32),
    /// Set Buffer Length (3).
    SetBufferLength {
        /// Stream id.
        stream_id: u32,
        /// Buffer length in milliseconds.
        millis: u32,
    },
    /// Stream Is Recorded (4).
    StreamIsRecorded(u32),
    /// Ping Request (6), carrying the sender's timestamp.
    PingRequest(u32),
    /// Ping Response (7).
    PingResponse(u32),
    /// Any other event type, kept raw.
    Other {
        /// Event type.
        event_type: u16,
        /// Event data.
        data: Bytes,
    },
}

impl UserControlEvent {
    /// Parses a user control payload.
    pub fn parse(payload: &Bytes) -> Result<Self, MessageError> {
        let kind = payload
            .get(..2)
            .and_then(|b| b.try_into().ok())
            .map(u16::from_be_bytes)
            .ok_or(MessageError::Truncated("user control"))?;
        let rest = payload.get(2..).unwrap_or_default();
        let param = || parse_u32(rest, "user control");
        Ok(match kind {
            0 => UserControlEvent::StreamBegin(param()?),
            1 => UserControlEvent::StreamEof(param()?),
            2 => UserControlEvent::StreamDry(param()?),
            3 => UserControlEvent::SetBufferLength {
                stream_id: param()?,
                millis: parse_u32(rest.get(4..).unwrap_or_default(), "user control")?,
            },
            4 => UserControlEvent::StreamIsRecorded(param()?),
            6 => UserControlEvent::PingRequest(param()?),
            7 => UserControlEvent::PingResponse(param()?),
            other => UserControlEvent::Other {
                event_type: other,
                data: payload.slice(2..),
            },
        })
    }

    /// Encodes the event as a user control payload.
    pub fn encode(&self) -> Vec<u8> {
        let (kind, a, b): (u16, u32, Option<u32>) = match self {
            UserControlEvent::StreamBegin(s) => (0, *s, None),
            UserControlEvent::StreamEof(s) => (1, *s, None),
            UserControlEvent::StreamDry(s) => (2, *s, None),
            UserControlEvent::SetBufferLength { stream_id, millis } => {
                (3, *stream_id, Some(*millis))
            }
            UserControlEvent::StreamIsRecorded(s) => (4, *s, None),
            UserControlEvent::PingRequest(t) => (6, *t, None),
            UserControlEvent::PingResponse(t) => (7, *t, None),
            UserControlEvent::Other { event_type, data } => {
                let mut out = event_type.to_be_bytes().to_vec();
                out.extend_from_slice(data);
                return out;
            }
        };
        let mut out = kind.to_be_bytes().to_vec();
        out.extend_from_slice(&a.to_be_bytes());
        if let Some(b) = b {
            out.extend_from_slice(&b.to_be_bytes());
        }
        out
    }
}

/// A decoded command message (types 20 and 17).
#[derive(Debug, Clone, PartialEq)]
pub struct Command {
    /// Procedure name, e.g. "connect".
    pub name: String,
    /// Transaction id; 0 when the sender expects no reply.
    pub transaction_id: f64,
    /// The command object (Null for most commands other than connect).
    pub command_object: Amf0Value,
    /// Remaining arguments.
    pub args: Vec<Amf0Value>,
}

/// AMF3-flavoured messages (types 15 and 17) start with a format byte; 0 means the rest is
/// AMF0, which is all that encoders send in practice.
fn amf0_body(type_id: u8, payload: &[u8]) -> Result<&[u8], MessageError> {
    if type_id == type_id::COMMAND_AMF3 || type_id == type_id::DATA_AMF3 {
        match payload.split_first() {
            Some((0, rest)) => Ok(rest),
            Some(_) => Err(MessageError::Amf3Payload),
            None => Ok(&[]),
        }
    } else {
        Ok(payload)
    }
}

impl Command {
    /// Decodes a command message of type 20 or 17.
    pub fn parse(type_id: u8, payload: &[u8]) -> Result<Self, MessageError> {
        let mut values = amf0::decode_all(amf0_body(type_id, payload)?)?.into_iter();
        let name = match values.next() {
            Some(Amf0Value::String(s)) | Some(Amf0Value::LongString(s)) => s,
            _ => return Err(MessageError::MissingCommandName),
        };
        let transaction_id = values.next().and_then(|v| v.as_number()).unwrap_or(0.0);
        let command_object = values.next().unwrap_or(Amf0Value::Null);
        Ok(Command {
            name,
            transaction_id,
            command_object,
            args: values.collect(),
        })
    }

    /// Encodes the command as an AMF0 command payload.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        amf0::encode(
            &[
                Amf0Value::String(self.name.clone()),
                Amf0Value::Number(self.transaction_id),
                self.command_object.clone(),
            ],
            &mut out,
        );
        amf0::encode(&self.args, &mut out);
        out
    }
}

/// Decodes a data message of type 18 or 15 into its AMF0 values.
pub fn parse_data(type_id: u8, payload: &[u8]) -> Result<Vec<Amf0Value>, MessageError> {
    Ok(amf0::decode_all(amf0_body(type_id, payload)?)?)
}

/// One message carried inside an aggregate message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AggregatePart {
    /// Message type id (8, 9, 18...).
    pub type_id: u8,
    /// Timestamp rebased onto the aggregate message's timestamp.
    pub timestamp: u32,
    /// The sub-message body, a slice of the aggregate payload.
    pub payload: Bytes,
}

const FLV_TAG_HEADER_LEN: usize = 11;
const FLV_BACK_POINTER_LEN: usize = 4;

/// Splits an aggregate message (type 22) into its FLV-tag sub-messages.
///
/// The first sub-message's timestamp maps to `aggregate_timestamp` and the others keep
/// their offsets from it. The back-pointers are skipped without being checked, since
/// senders disagree on their value; a missing final back-pointer is tolerated.
pub fn split_aggregate(
    payload: &Bytes,
    aggregate_timestamp: u32,
) -> Result<Vec<AggregatePart>, MessageError> {
    let mut parts = Vec::new();
    let mut pos = 0usize;
    let mut first_ts = None;
    while pos < payload.len() {
        let header = payload
            .get(pos..pos.saturating_add(FLV_TAG_HEADER_LEN))
            .ok_or(MessageError::Truncated("aggregate"))?;
        let &[kind, s0, s1, s2, t0, t1, t2, t3, ..] = header else {
            return Err(MessageError::Truncated("aggregate"));
        };
        let size = u32::from_be_bytes([0, s0, s1, s2]) as usize;
        let ts = u32::from_be_bytes([t3, t0, t1, t2]);
        let start = pos.saturating_add(FLV_TAG_HEADER_LEN);
        let end = start.saturating_add(size);
        if end > payload.len() {
            return Err(MessageError::Truncated("aggregate"));
        }
        let base = *first_ts.get_or_insert(ts);
        parts.push(AggregatePart {
            // The filter bit and reserved bits are not part of the type.
            type_id: kind & 0x1F,
            timestamp: aggregate_timestamp.wrapping_add(ts.wrapping_sub(base)),
            payload: payload.slice(start..end),
        });
        pos = end.saturating_add(FLV_BACK_POINTER_LEN);
    }
    Ok(parts)
}

/// Payload of a 4-byte protocol control message (chunk size, ack, window ack size).
pub fn encode_u32(value: u32) -> [u8; 4] {
    value.to_be_bytes()
}

/// Payload of Set Peer Bandwidth; limit type 2 is "dynamic".
pub fn encode_peer_bandwidth(window: u32, limit_type: u8) -> [u8; 5] {
    let w = window.to_be_bytes();
    [w[0], w[1], w[2], w[3], limit_type]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_control_round_trip() {
        for ev in [
            UserControlEvent::StreamBegin(1),
            UserControlEvent::StreamEof(2),
            UserControlEvent::StreamDry(3),
            UserControlEvent::SetBufferLength {
                stream_id: 1,
                millis: 3000,
            },
            UserControlEvent::StreamIsRecorded(4),
            UserControlEvent::PingRequest(77),
            UserControlEvent::PingResponse(78),
            UserControlEvent::Other {
                event_type: 31,
                data: Bytes::from_static(&[1, 2]),
            },
        ] {
            assert_eq!(
                UserControlEvent::parse(&Bytes::from(ev.encode())).unwrap(),
                ev
            );
        }
    }

    #[test]
    fn user_control_truncated() {
        for bad in [&[][..], &[0], &[0, 6, 1, 2, 3], &[0, 3, 0, 0, 0, 1, 0]] {
            assert!(UserControlEvent::parse(&Bytes::copy_from_slice(bad)).is_err());
        }
    }

    #[test]
    fn command_round_trip_and_amf3_prefix() {
        let cmd = Command {
            name: "publish".into(),
            transaction_id: 5.0,
            command_object: Amf0Value::Null,
            args: vec![Amf0Value::string("key"), Amf0Value::string("live")],
        };
        let bytes = cmd.encode();
        assert_eq!(Command::parse(type_id::COMMAND_AMF0, &bytes).unwrap(), cmd);
        let mut amf3 = vec![0u8];
        amf3.extend_from_slice(&bytes);
        assert_eq!(Command::parse(type_id::COMMAND_AMF3, &amf3).unwrap(), cmd);
        amf3[0] = 0x11;
        assert_eq!(
            Command::parse(type_id::COMMAND_AMF3, &amf3),
            Err(MessageError::Amf3Payload)
        );
    }

    #[test]
    fn command_without_name_or_txn() {
        let mut b = Vec::new();
        amf0::encode(&[Amf0Value::Number(1.0)], &mut b);
        assert_eq!(
            Command::parse(20, &b),
            Err(MessageError::MissingCommandName)
        );
        let mut b = Vec::new();
        amf0::encode(&[Amf0Value::string("x")], &mut b);
        let c = Command::parse(20, &b).unwrap();
        assert_eq!((c.transaction_id, c.command_object), (0.0, Amf0Value::Null));
    }

    fn flv_tag(kind: u8, ts: u32, body: &[u8]) -> Vec<u8> {
        let mut v = vec![kind];
        v.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
        v.extend_from_slice(&ts.to_be_bytes()[1..]);
        v.push((ts >> 24) as u8);
        v.extend_from_slice(&[0, 0, 0]);
        v.extend_from_slice(body);
        v.extend_from_slice(&((body.len() + 11) as u32).to_be_bytes());
        v
    }

    #[test]
    fn aggregate_split_rebases_timestamps() {
        let mut data = flv_tag(9, 0x0100_0010, b"video");
        data.extend(flv_tag(8, 0x0100_0030, b"au"));
        data.extend(flv_tag(18, 0x0100_0030, b"meta"));
        let parts = split_aggregate(&Bytes::from(data), 1000).unwrap();
        let summary: Vec<(u8, u32, &[u8])> = parts
            .iter()
            .map(|p| (p.type_id, p.timestamp, p.payload.as_ref()))
            .collect();
        assert_eq!(
            summary,
            vec![
                (9, 1000, &b"video"[..]),
                (8, 1032, &b"au"[..]),
                (18, 1032, &b"meta"[..])
            ]
        );
    }

    #[test]
    fn aggregate_hostile() {
        // Tag claims more than is there.
        let mut data = flv_tag(9, 0, b"abc");
        data[3] = 0xFF;
        assert!(split_aggregate(&Bytes::from(data), 0).is_err());
        // Short header.
        assert!(split_aggregate(&Bytes::from_static(&[9, 0, 0]), 0).is_err());
        // Missing final back-pointer is fine.
        let mut data = flv_tag(8, 0, b"x");
        data.truncate(data.len() - 4);
        assert_eq!(split_aggregate(&Bytes::from(data), 0).unwrap().len(), 1);
    }
}
