//! Incremental decoding of AWS event streams (`application/vnd.amazon.eventstream`).
//!
//! A network read may end anywhere (inside the 4-byte length prefix too) and one read may carry
//! many frames, so [`FrameDecoder`] buffers bytes and hands out whole frames. The prelude is
//! checked as soon as it arrives, so a corrupt or hostile prelude fails at once instead of making
//! us buffer towards a 4 GiB frame; the bound is edgeport's own [`MAX_FRAME_BYTES`], far below the
//! protocol's 16 MiB: Bedrock's frames are a few KB, and each payload is parsed into JSON after it
//! is buffered.
//!
//! **Why the frame itself is read here and not by `aws-smithy-eventstream`:** that crate reads a
//! frame through a generic `Buf` wrapper that updates the CRC byte run by byte run and copies every
//! header name and value into its own allocation (11 allocations per event); in the Worker this was
//! a quarter of the wasm time of a streamed answer (issue 11's profile). A whole frame is already
//! one contiguous buffer, so here it is one CRC call over the slice and a walk over the header
//! section keeping only the five string headers edgeport routes on. The format is small and fixed
//! (AWS's event-stream encoding: prelude, typed headers, payload, CRC-32), CRCs use `crate::crc32`
//! (`crc32fast`'s, what the crate uses), and the crate stays the oracle: tests decode every
//! recorded stream and random, corrupted and truncated frames with both and require the same
//! frames or both to fail.

use bytes::{Bytes, BytesMut};

use crate::limits::MAX_FRAME_BYTES;

/// `[total_len u32][headers_len u32][prelude crc u32]`
const PRELUDE_LEN: usize = 12;
/// Prelude plus the trailing message CRC: the size of a frame with no headers and no payload.
const MIN_FRAME_LEN: usize = PRELUDE_LEN + 4;
/// The protocol caps the headers section at 128 KiB.
const MAX_HEADERS_LEN: usize = 128 * 1024;

/// One decoded event-stream message, with the headers edgeport routes on pulled out.
#[derive(Debug, Clone, PartialEq)]
pub struct Frame {
    /// `:message-type`: `event`, `exception` or `error`.
    pub message_type: String,
    /// `:event-type`, for events (`messageStart`, `contentBlockDelta`, ...).
    pub event_type: Option<String>,
    /// `:exception-type`, for exceptions (`throttlingException`, ...).
    pub exception_type: Option<String>,
    /// `:error-code`, for errors.
    pub error_code: Option<String>,
    /// `:error-message`, for errors.
    pub error_message: Option<String>,
    pub payload: Bytes,
}

/// A frame that cannot be decoded: a CRC mismatch, an impossible length, malformed headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError(String);

impl DecodeError {
    pub fn message(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "invalid event-stream frame: {}", self.0)
    }
}

impl std::error::Error for DecodeError {}

/// Buffers bytes as they arrive and yields whole frames. After an error it is poisoned: the
/// stream's framing is lost, so every later call returns the same error.
#[derive(Debug, Default)]
pub struct FrameDecoder {
    buf: BytesMut,
    /// Total length of the frame at the head of `buf`, once its prelude has been checked.
    frame_len: Option<usize>,
    poisoned: Option<DecodeError>,
}

impl FrameDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends bytes read from the network.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.poisoned.is_none() {
            self.buf.extend_from_slice(bytes);
        }
    }

    /// The next whole frame, `Ok(None)` when more bytes are needed.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, DecodeError> {
        if let Some(err) = &self.poisoned {
            return Err(err.clone());
        }
        match self.decode() {
            Ok(frame) => Ok(frame),
            Err(err) => {
                self.buf.clear();
                self.poisoned = Some(err.clone());
                Err(err)
            }
        }
    }

    /// Whether bytes of an unfinished frame are buffered (a body ending now was cut mid-frame).
    pub fn has_partial(&self) -> bool {
        !self.buf.is_empty()
    }

    /// Bytes held. Once `next_frame` has returned `Ok(None)` or an error, it is less than
    /// [`MAX_FRAME_BYTES`]: at most one unfinished frame.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    fn decode(&mut self) -> Result<Option<Frame>, DecodeError> {
        let frame_len = match self.frame_len {
            Some(len) => len,
            None => {
                let Some(prelude) = self.buf.get(..PRELUDE_LEN) else {
                    return Ok(None);
                };
                let len = check_prelude(prelude)?;
                self.frame_len = Some(len);
                len
            }
        };
        if self.buf.len() < frame_len {
            return Ok(None);
        }
        let frame = self.buf.split_to(frame_len).freeze();
        self.frame_len = None;
        read_frame(frame).map(Some)
    }
}

/// Validates a prelude and returns the frame's total length.
fn check_prelude(prelude: &[u8]) -> Result<usize, DecodeError> {
    let word = |i: usize| -> u32 {
        let mut b = [0u8; 4];
        if let Some(src) = prelude.get(i..i + 4) {
            b.copy_from_slice(src);
        }
        u32::from_be_bytes(b)
    };
    let (total_len, headers_len, crc) = (word(0), word(4), word(8));
    let expected = crc32(prelude.get(..8).unwrap_or_default());
    if crc != expected {
        return Err(DecodeError(format!(
            "prelude checksum mismatch (expected {expected:#010x}, got {crc:#010x})"
        )));
    }
    let total_len = total_len as usize;
    let headers_len = headers_len as usize;
    if !(MIN_FRAME_LEN..=MAX_FRAME_BYTES).contains(&total_len) {
        return Err(DecodeError(format!(
            "frame length {total_len} is outside {MIN_FRAME_LEN}..={MAX_FRAME_BYTES} bytes"
        )));
    }
    if headers_len > MAX_HEADERS_LEN || headers_len > total_len - MIN_FRAME_LEN {
        return Err(DecodeError(format!(
            "headers length {headers_len} does not fit a frame of {total_len} bytes"
        )));
    }
    Ok(total_len)
}

/// One whole frame (its prelude already checked by [`check_prelude`]) → the frame, its message
/// CRC verified. Headers are read as the encoding defines them (name: u8 length + UTF-8; type; a
/// value whose size the type fixes or a u16 length gives); the five string headers edgeport uses
/// are kept (the first of each name), the others only checked and skipped.
fn read_frame(frame: Bytes) -> Result<Frame, DecodeError> {
    let total = frame.len();
    let be32 = |i: usize| -> u32 {
        let mut b = [0u8; 4];
        if let Some(src) = frame.get(i..i + 4) {
            b.copy_from_slice(src);
        }
        u32::from_be_bytes(b)
    };
    let headers_len = be32(4) as usize;
    let crc_at = total.saturating_sub(4);
    let expected = crc32(frame.get(..crc_at).unwrap_or_default());
    let got = be32(crc_at);
    if expected != got {
        return Err(DecodeError(format!(
            "message checksum mismatch (expected {expected:#010x}, got {got:#010x})"
        )));
    }
    let headers_end = PRELUDE_LEN + headers_len;
    let malformed = |why: &str| DecodeError(format!("malformed headers: {why}"));
    let section = frame
        .get(PRELUDE_LEN..headers_end)
        .ok_or_else(|| malformed("longer than the frame"))?;
    let mut out = Frame {
        message_type: String::new(),
        event_type: None,
        exception_type: None,
        error_code: None,
        error_message: None,
        payload: frame.slice(headers_end.min(crc_at)..crc_at),
    };
    let mut message_type = None;
    let mut seen = [false; 5];
    let mut at = 0usize;
    let take = |at: &mut usize, n: usize| -> Result<&[u8], DecodeError> {
        let piece = section
            .get(*at..*at + n)
            .ok_or_else(|| malformed("a header runs past the header section"))?;
        *at += n;
        Ok(piece)
    };
    while at < section.len() {
        let name_len = take(&mut at, 1)?[0] as usize;
        let name = std::str::from_utf8(take(&mut at, name_len)?)
            .map_err(|_| malformed("a header name is not UTF-8"))?;
        let kind = take(&mut at, 1)?[0];
        let value = match kind {
            0 | 1 => None,
            2 => take(&mut at, 1).map(|_| None)?,
            3 => take(&mut at, 2).map(|_| None)?,
            4 => take(&mut at, 4).map(|_| None)?,
            5 | 8 => take(&mut at, 8).map(|_| None)?,
            9 => take(&mut at, 16).map(|_| None)?,
            6 | 7 => {
                let len = take(&mut at, 2)?;
                let len = u16::from_be_bytes([len[0], len[1]]) as usize;
                let bytes = take(&mut at, len)?;
                (kind == 7).then_some(bytes)
            }
            other => return Err(malformed(&format!("unknown header value type {other}"))),
        };
        let value = value
            .map(std::str::from_utf8)
            .transpose()
            .map_err(|_| malformed("a string header value is not UTF-8"))?;
        let slot = match name {
            ":message-type" => 0,
            ":event-type" => 1,
            ":exception-type" => 2,
            ":error-code" => 3,
            ":error-message" => 4,
            _ => continue,
        };
        // The first header of a name decides (a later one of the same name is ignored).
        if std::mem::replace(&mut seen[slot], true) {
            continue;
        }
        let Some(value) = value else { continue };
        let value = value.to_owned();
        *[
            &mut message_type,
            &mut out.event_type,
            &mut out.exception_type,
            &mut out.error_code,
            &mut out.error_message,
        ][slot] = Some(value);
    }
    out.message_type = message_type.ok_or_else(|| {
        DecodeError("an event-stream frame has no string :message-type header".to_owned())
    })?;
    Ok(out)
}

/// CRC-32 (IEEE), as `crc32fast` (what aws-smithy-eventstream uses) computes it.
fn crc32(bytes: &[u8]) -> u32 {
    crate::crc32::hash(bytes)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use aws_smithy_eventstream::frame::write_message_to;
    use aws_smithy_types::event_stream::{Header, HeaderValue, Message};

    fn frame(event: &'static str, payload: &'static str) -> Vec<u8> {
        let message = Message::new(payload.as_bytes())
            .add_header(Header::new(
                ":message-type",
                HeaderValue::String("event".into()),
            ))
            .add_header(Header::new(
                ":event-type",
                HeaderValue::String(event.into()),
            ));
        let mut out = Vec::new();
        write_message_to(&message, &mut out).unwrap();
        out
    }

    #[test]
    fn crc32_matches_the_reference_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn many_frames_in_one_push_and_split_prelude() {
        let mut bytes = frame("a", "{}");
        bytes.extend(frame("b", "{\"x\":1}"));
        let mut d = FrameDecoder::new();
        d.push(&bytes[..2]);
        assert_eq!(d.next_frame().unwrap(), None);
        assert!(d.has_partial());
        d.push(&bytes[2..]);
        assert_eq!(
            d.next_frame().unwrap().unwrap().event_type.as_deref(),
            Some("a")
        );
        let b = d.next_frame().unwrap().unwrap();
        assert_eq!(
            (b.event_type.as_deref(), &b.payload[..]),
            (Some("b"), &b"{\"x\":1}"[..])
        );
        assert_eq!(d.next_frame().unwrap(), None);
        assert!(!d.has_partial());
    }

    #[test]
    fn absurd_length_fails_at_the_prelude() {
        let mut prelude = Vec::from(0xFFFF_FFF0u32.to_be_bytes());
        prelude.extend(0u32.to_be_bytes());
        let crc = crc32(&prelude);
        prelude.extend(crc.to_be_bytes());
        let mut d = FrameDecoder::new();
        d.push(&prelude);
        let err = d.next_frame().unwrap_err();
        assert!(err.to_string().contains("frame length"), "{err}");
        // Poisoned: the same error again, even with good bytes after it.
        d.push(&frame("a", "{}"));
        assert_eq!(d.next_frame().unwrap_err(), err);
    }

    #[test]
    fn a_frame_above_the_cap_fails_at_its_prelude() {
        // 2 MiB announced, valid CRC: refused after 12 bytes, before any payload is buffered.
        let mut prelude = Vec::from(u32::try_from(2 * MAX_FRAME_BYTES).unwrap().to_be_bytes());
        prelude.extend(0u32.to_be_bytes());
        let crc = crc32(&prelude);
        prelude.extend(crc.to_be_bytes());
        let mut d = FrameDecoder::new();
        d.push(&prelude);
        let err = d.next_frame().unwrap_err();
        assert!(err.to_string().contains("frame length 2097152"), "{err}");
        assert_eq!(d.buffered(), 0);
        // Exactly at the cap is still a frame length the decoder waits for.
        let mut prelude = Vec::from(u32::try_from(MAX_FRAME_BYTES).unwrap().to_be_bytes());
        prelude.extend(0u32.to_be_bytes());
        let crc = crc32(&prelude);
        prelude.extend(crc.to_be_bytes());
        let mut d = FrameDecoder::new();
        d.push(&prelude);
        assert_eq!(d.next_frame().unwrap(), None);
    }

    #[test]
    fn corrupt_prelude_and_message_crc_are_errors() {
        let mut bytes = frame("a", "{}");
        bytes[1] ^= 1;
        let mut d = FrameDecoder::new();
        d.push(&bytes);
        assert!(d
            .next_frame()
            .unwrap_err()
            .to_string()
            .contains("prelude checksum"));

        let mut bytes = frame("a", "{}");
        let last = bytes.len() - 6;
        bytes[last] ^= 1;
        let mut d = FrameDecoder::new();
        d.push(&bytes);
        let err = d.next_frame().unwrap_err();
        assert!(err.to_string().to_lowercase().contains("checksum"), "{err}");
    }
}
