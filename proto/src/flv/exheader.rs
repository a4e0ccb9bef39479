// Copyright (C) 2026 The gst-plugin-rtmpserver authors
// SPDX-License-Identifier: MPL-2.0
//! Enhanced RTMP pieces shared by audio and video: ModEx and Multitrack.

use super::reader::ByteReader;
use super::{FlvError, Packets};
use smallvec::smallvec;

/// The PacketType value (audio and video alike) that announces a ModEx block.
pub(super) const PACKET_TYPE_MODEX: u8 = 7;
const MODEX_TIMESTAMP_OFFSET_NANO: u8 = 0;

// AvMultitrackType: 0 OneTrack, 1 ManyTracks, 2 ManyTracksManyCodecs.
const MULTITRACK_ONE_TRACK: u8 = 0;
const MULTITRACK_MANY_TRACKS_MANY_CODECS: u8 = 2;

/// Consumes the chain of ModEx blocks that starts when `packet_type` is ModEx.
/// Returns the real packet type and the TimestampOffsetNano (0 if none; the
/// last one wins if several are chained). Unknown ModEx types are skipped, as
/// the spec asks receivers to tolerate them.
pub(super) fn read_modex(
    r: &mut ByteReader<'_>,
    mut packet_type: u8,
) -> Result<(u8, u32), FlvError> {
    let mut offset_ns = 0u32;
    while packet_type == PACKET_TYPE_MODEX {
        let mut size = usize::from(r.u8("ModEx size")?) + 1;
        if size == 256 {
            size = usize::from(r.u16("ModEx size")?) + 1;
        }
        let data = r.take(size, "ModEx data")?;
        let next = r.u8("ModEx type")?;
        packet_type = next & 0x0f;
        if next >> 4 == MODEX_TIMESTAMP_OFFSET_NANO {
            let [a, b, c, ..] = *data else {
                return Err(FlvError::Malformed(
                    "TimestampOffsetNano shorter than 3 bytes",
                ));
            };
            offset_ns = u32::from_be_bytes([0, a, b, c]);
        }
    }
    Ok((packet_type, offset_ns))
}

/// One track's slice of a message, with the FourCC that applies to it.
pub(super) struct TrackBody<'a> {
    pub(super) fourcc: [u8; 4],
    pub(super) track: u8,
    /// False when this body is the only one in the message, so an unknown
    /// FourCC is an error rather than a track to skip.
    pub(super) skippable: bool,
    pub(super) body: &'a [u8],
}

/// Reads what follows an Enhanced RTMP header byte (after ModEx): either one
/// FourCC and the rest as the body of track 0, or a Multitrack layout.
/// Returns the effective packet type and the track bodies.
pub(super) fn split_tracks<'a>(
    r: &mut ByteReader<'a>,
    packet_type: u8,
    multitrack_packet_type: u8,
) -> Result<(u8, Packets<TrackBody<'a>>), FlvError> {
    if packet_type != multitrack_packet_type {
        let fourcc = r.fourcc()?;
        let body = TrackBody {
            fourcc,
            track: 0,
            skippable: false,
            body: r.rest(),
        };
        return Ok((packet_type, smallvec![body]));
    }

    let byte = r.u8("multitrack type")?;
    let multitrack_type = byte >> 4;
    let inner = byte & 0x0f;
    if inner == multitrack_packet_type || inner == PACKET_TYPE_MODEX {
        return Err(FlvError::InvalidPacketType(inner));
    }
    if multitrack_type > MULTITRACK_MANY_TRACKS_MANY_CODECS {
        return Err(FlvError::InvalidMultitrackType(multitrack_type));
    }
    let shared_fourcc = if multitrack_type != MULTITRACK_MANY_TRACKS_MANY_CODECS {
        Some(r.fourcc()?)
    } else {
        None
    };

    let mut tracks = Packets::new();
    loop {
        let fourcc = match shared_fourcc {
            Some(cc) => cc,
            None => r.fourcc()?,
        };
        let track = r.u8("track id")?;
        if multitrack_type == MULTITRACK_ONE_TRACK {
            tracks.push(TrackBody {
                fourcc,
                track,
                skippable: false,
                body: r.rest(),
            });
            break;
        }
        let size = r.u24("track size")? as usize;
        let body = r.take(size, "track body")?;
        tracks.push(TrackBody {
            fourcc,
            track,
            skippable: true,
            body,
        });
        if r.is_empty() {
            break;
        }
    }
    Ok((inner, tracks))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modex_short_form_and_long_form_chain() {
        // short: size-1 = 2 → 3 bytes of data, type 0 (nano) next = ModEx again;
        // long: 0xff then UI16 299 → 300 bytes, unknown type 3, next = 1.
        let mut v = vec![2, 0x00, 0x01, 0x02, 0x07, 0xff, 0x01, 0x2b];
        v.extend(std::iter::repeat_n(0xaa, 300));
        v.push(0x31);
        v.push(0x99);
        let mut r = ByteReader::new(&v);
        assert_eq!(read_modex(&mut r, 7), Ok((1, 0x102)));
        assert_eq!(r.rest(), &[0x99]);
    }

    #[test]
    fn modex_nano_needs_three_bytes() {
        let mut r = ByteReader::new(&[1, 0, 1, 0x01]);
        assert!(matches!(read_modex(&mut r, 7), Err(FlvError::Malformed(_))));
    }

    #[test]
    fn multitrack_rejects_nested_and_reserved() {
        let mut r = ByteReader::new(&[0x06, b'a', b'v', b'c', b'1', 0]);
        assert_eq!(
            split_tracks(&mut r, 6, 6).err(),
            Some(FlvError::InvalidPacketType(6))
        );
        let mut r = ByteReader::new(&[0x31, b'a', b'v', b'c', b'1', 0]);
        assert_eq!(
            split_tracks(&mut r, 6, 6).err(),
            Some(FlvError::InvalidMultitrackType(3))
        );
    }
}
