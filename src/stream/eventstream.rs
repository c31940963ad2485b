//! Incremental decoding of AWS event streams (`application/vnd.amazon.eventstream`).
//!
//! A network read may end anywhere (inside the 4-byte length prefix too) and one read may carry
//! many frames, so [`FrameDecoder`] buffers bytes and hands out whole frames. CRCs are verified
//! by `aws-smithy-eventstream`; this module adds what that crate leaves to its caller: a bound on
//! the frame length and an early check of the prelude, so a corrupt or hostile prelude fails at
//! once instead of making us buffer towards a 4 GiB frame. The bound is edgeport's own
//! [`MAX_FRAME_BYTES`], far below the protocol's 16 MiB: Bedrock's frames are a few KB, and each
//! payload is parsed into JSON after it is buffered.

use aws_smithy_eventstream::frame::{DecodedFrame, MessageFrameDecoder};
use aws_smithy_types::event_stream::{HeaderValue, Message};
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

impl Frame {
    fn from_message(message: &Message) -> Result<Frame, DecodeError> {
        let header = |name: &str| -> Option<String> {
            message
                .headers()
                .iter()
                .find(|h| h.name().as_str() == name)
                .and_then(|h| match h.value() {
                    HeaderValue::String(s) => Some(s.as_str().to_owned()),
                    _ => None,
                })
        };
        let message_type = header(":message-type").ok_or_else(|| {
            DecodeError("an event-stream frame has no string :message-type header".to_owned())
        })?;
        Ok(Frame {
            message_type,
            event_type: header(":event-type"),
            exception_type: header(":exception-type"),
            error_code: header(":error-code"),
            error_message: header(":error-message"),
            payload: message.payload().clone(),
        })
    }
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
    inner: MessageFrameDecoder,
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
        // The whole frame is buffered, so the crate decodes it in one call and keeps no state.
        let mut frame = self.buf.split_to(frame_len);
        self.frame_len = None;
        match self.inner.decode_frame(&mut frame) {
            Ok(DecodedFrame::Complete(message)) => Frame::from_message(&message).map(Some),
            Ok(DecodedFrame::Incomplete) => Err(DecodeError(
                "the frame decoder wanted more bytes than the frame's length".to_owned(),
            )),
            Err(err) => Err(DecodeError(err.to_string())),
        }
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

/// CRC-32 (IEEE) of the 8 prelude bytes, with the same crate aws-smithy-eventstream uses; the
/// early check exists because that crate only verifies the prelude once the whole frame is in.
fn crc32(bytes: &[u8]) -> u32 {
    crc32fast::hash(bytes)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use aws_smithy_eventstream::frame::write_message_to;
    use aws_smithy_types::event_stream::Header;

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
