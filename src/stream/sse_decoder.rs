//! Incremental decoding of server-sent events (`text/event-stream`), as OpenAI streams its answers.
//!
//! Follows the WHATWG HTML standard's "parsing" and "interpreting an event stream" (§9.2.5–9.2.6):
//! lines end with `\r\n`, `\n` or `\r`; a leading BOM is dropped; `field: value` loses one space
//! after the colon, a line without a colon is a field with an empty value, a line starting with
//! `:` is a comment; `data` lines join with `\n`; a blank line dispatches the event, unless its
//! data is empty; `event`, `id` (unless it holds NUL) and `retry` (ASCII digits only) are kept;
//! other fields are ignored. At the end of the body an unfinished event is discarded.
//!
//! A network read may end anywhere (inside `\r\n`, inside a UTF-8 sequence), so [`SseDecoder`]
//! buffers bytes and hands out whole events, in the style of
//! [`FrameDecoder`](super::eventstream::FrameDecoder). What the standard leaves open, for an
//! upstream that may be hostile or broken:
//! - one event, and so one line, is at most [`MAX_SSE_EVENT_BYTES`]; the check runs on the bytes
//!   as they arrive, so a line that never ends is not buffered past the cap either;
//! - each byte is scanned for a line break once (the scan resumes where the last one stopped),
//!   copied at most once and decoded once: the work per pushed byte is constant;
//! - invalid UTF-8 becomes U+FFFD, as the standard's UTF-8 decode does (and so as a browser or an
//!   SDK reading the upstream directly would see it) rather than an error. Lines are decoded only
//!   once whole, and a line-break byte is never part of a multi-byte sequence, so a sequence cut
//!   between two reads decodes as if it had come in one.

use bytes::{Buf, BytesMut};

use crate::limits::MAX_SSE_EVENT_BYTES;

/// The UTF-8 byte order mark, dropped once at the start of the stream.
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// One dispatched event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event` field. `None` when the event had none or an empty one: the standard's default
    /// type, `message`.
    pub event: Option<String>,
    /// The `data` lines, joined with `\n` (never `None`: an event without data is not dispatched).
    pub data: String,
    /// The last `id` field since the previous event (on this event's lines, or on a blank-line
    /// block without data, which is not dispatched); `Some("")` when that field was empty, which
    /// resets the last event ID. Each `id` line is reported once, so relaying events one by one
    /// reproduces the stream's ids; the standard's sticky `lastEventId` is
    /// [`SseDecoder::last_event_id`].
    pub id: Option<String>,
}

/// A stream that cannot be decoded. The only cause: an event larger than [`MAX_SSE_EVENT_BYTES`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseDecodeError(String);

impl SseDecodeError {
    pub fn message(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for SseDecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "invalid server-sent event stream: {}", self.0)
    }
}

impl std::error::Error for SseDecodeError {}

/// Buffers bytes as they arrive and yields whole events. After an error it is poisoned: every
/// later call returns the same error. After [`finish`](Self::finish) it takes no more bytes.
#[derive(Debug, Default)]
pub struct SseDecoder {
    /// Bytes not yet parsed: the unfinished line (and lines `next_event` has not reached yet).
    buf: BytesMut,
    /// Bytes at the head of `buf` already searched for a line break, without finding one.
    scanned: usize,
    /// The leading BOM, if any, has been dropped (or the stream turned out not to start with one).
    bom_checked: bool,
    /// The last line ended with `\r`: a `\n` right after it belongs to the same line break.
    after_cr: bool,
    /// Size of the event being built: its lines so far, each line break counted as one byte.
    event_bytes: usize,
    fields: Fields,
    ended: bool,
    poisoned: Option<SseDecodeError>,
}

impl SseDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends bytes read from the network (ignored once poisoned or finished).
    pub fn push(&mut self, bytes: &[u8]) {
        if self.poisoned.is_none() && !self.ended {
            self.buf.extend_from_slice(bytes);
        }
    }

    /// The next whole event, `Ok(None)` when more bytes are needed.
    pub fn next_event(&mut self) -> Result<Option<SseEvent>, SseDecodeError> {
        if let Some(err) = &self.poisoned {
            return Err(err.clone());
        }
        match self.decode() {
            Ok(event) => Ok(event),
            Err(err) => {
                self.discard();
                self.poisoned = Some(err.clone());
                Err(err)
            }
        }
    }

    /// Whether the body so far stops inside an event: bytes of an unfinished line are buffered,
    /// or lines were read that no blank line has closed yet (comments included). A body ending now
    /// was cut mid-event. Meaningful once `next_event` has returned `Ok(None)`.
    pub fn has_partial(&self) -> bool {
        !self.buf.is_empty() || self.event_bytes > 0
    }

    /// The end of the body. As the standard has it, whatever has not been dispatched is discarded:
    /// the unfinished line and the event being built (so call it once `next_event` has returned
    /// `Ok(None)`). Returns whether anything was discarded, i.e. [`has_partial`](Self::has_partial);
    /// later pushes are ignored.
    pub fn finish(&mut self) -> bool {
        let cut = self.has_partial();
        self.discard();
        self.ended = true;
        cut
    }

    /// Bytes held for the event being built: unparsed bytes, its data and type. Once `next_event`
    /// has returned `Ok(None)` or an error, at most [`MAX_SSE_EVENT_BYTES`].
    pub fn buffered(&self) -> usize {
        self.buf.len() + self.fields.data.len() + self.fields.event_type.len()
    }

    /// The standard's last event ID: the value of the last valid `id` field, empty if none (or if
    /// that field was empty). It is the `lastEventId` a browser gives the events after it.
    pub fn last_event_id(&self) -> &str {
        &self.fields.last_event_id
    }

    /// The reconnection time in milliseconds from the last valid `retry` field (a value too large
    /// for `u64` saturates). edgeport does not reconnect; it is kept for a relay or a log.
    pub fn retry(&self) -> Option<u64> {
        self.fields.retry
    }

    /// Drops what belongs to no dispatched event (not the last event ID or the retry time, which
    /// belong to the stream).
    fn discard(&mut self) {
        self.buf.clear();
        self.scanned = 0;
        self.event_bytes = 0;
        self.fields.data.clear();
        self.fields.event_type.clear();
    }

    fn decode(&mut self) -> Result<Option<SseEvent>, SseDecodeError> {
        if !self.bom_checked {
            let head = self
                .buf
                .get(..BOM.len().min(self.buf.len()))
                .unwrap_or_default();
            if !BOM.starts_with(head) {
                self.bom_checked = true;
            } else if head.len() == BOM.len() {
                self.buf.advance(BOM.len());
                self.bom_checked = true;
            } else {
                // Too few bytes to tell; a short prefix can only wait (the cap is far away).
                return Ok(None);
            }
        }
        loop {
            if self.after_cr {
                match self.buf.first() {
                    None => return Ok(None),
                    Some(b'\n') => self.buf.advance(1),
                    Some(_) => {}
                }
                self.after_cr = false;
            }
            let unscanned = self.buf.get(self.scanned..).unwrap_or_default();
            let Some(found) = unscanned.iter().position(|b| matches!(b, b'\r' | b'\n')) else {
                self.scanned = self.buf.len();
                let size = self.event_bytes.saturating_add(self.buf.len());
                return check_size(size).map(|()| None);
            };
            let end = self.scanned + found;
            self.after_cr = self.buf.get(end) == Some(&b'\r');
            self.scanned = 0;
            if end == 0 {
                self.buf.advance(1);
                self.event_bytes = 0;
                if let Some(event) = self.fields.dispatch() {
                    return Ok(Some(event));
                }
                continue;
            }
            self.event_bytes = self.event_bytes.saturating_add(end + 1);
            check_size(self.event_bytes)?;
            self.fields.line(self.buf.get(..end).unwrap_or_default());
            self.buf.advance(end + 1);
        }
    }
}

/// The standard's buffers: what the lines read so far have set.
#[derive(Debug, Default)]
struct Fields {
    /// The data buffer, as raw bytes (decoded at dispatch: never more than the bytes received).
    data: Vec<u8>,
    /// The event type buffer, raw.
    event_type: Vec<u8>,
    /// An `id` field seen since the previous dispatched event.
    pending_id: Option<String>,
    /// The last event ID buffer (it outlives events).
    last_event_id: String,
    /// The reconnection time from the last valid `retry` field, in milliseconds.
    retry: Option<u64>,
}

impl Fields {
    /// Applies one non-blank line (without its line break).
    fn line(&mut self, line: &[u8]) {
        if line.first() == Some(&b':') {
            return;
        }
        let mut parts = line.splitn(2, |b| *b == b':');
        let field = parts.next().unwrap_or_default();
        let value = parts.next().unwrap_or_default();
        let value = value.strip_prefix(b" ").unwrap_or(value);
        match field {
            b"data" => {
                self.data.extend_from_slice(value);
                self.data.push(b'\n');
            }
            b"event" => {
                self.event_type.clear();
                self.event_type.extend_from_slice(value);
            }
            b"id" if !value.contains(&0) => {
                let id = String::from_utf8_lossy(value).into_owned();
                self.last_event_id.clone_from(&id);
                self.pending_id = Some(id);
            }
            b"retry" if !value.is_empty() && value.iter().all(u8::is_ascii_digit) => {
                self.retry = Some(value.iter().fold(0u64, |n, d| {
                    n.saturating_mul(10).saturating_add(u64::from(d - b'0'))
                }));
            }
            _ => {}
        }
    }

    /// A blank line: the event being built, if it has data.
    fn dispatch(&mut self) -> Option<SseEvent> {
        let mut data = std::mem::take(&mut self.data);
        let event_type = std::mem::take(&mut self.event_type);
        if data.is_empty() {
            return None;
        }
        // Every data line appended one; the last is not part of the data.
        data.pop();
        Some(SseEvent {
            event: (!event_type.is_empty()).then(|| utf8(event_type)),
            data: utf8(data),
            id: self.pending_id.take(),
        })
    }
}

fn check_size(size: usize) -> Result<(), SseDecodeError> {
    if size > MAX_SSE_EVENT_BYTES {
        return Err(SseDecodeError(format!(
            "an event is longer than {MAX_SSE_EVENT_BYTES} bytes"
        )));
    }
    Ok(())
}

/// The standard's UTF-8 decode: invalid sequences become U+FFFD (no copy when the bytes are valid).
fn utf8(bytes: Vec<u8>) -> String {
    match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(err) => String::from_utf8_lossy(err.as_bytes()).into_owned(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn ev(event: Option<&str>, data: &str, id: Option<&str>) -> SseEvent {
        SseEvent {
            event: event.map(str::to_owned),
            data: data.to_owned(),
            id: id.map(str::to_owned),
        }
    }

    fn data(data: &str) -> SseEvent {
        ev(None, data, None)
    }

    /// Every event `pieces` decode to, pushed one after the other, and whether the body was cut.
    fn decode_pieces(pieces: &[&[u8]]) -> (Vec<SseEvent>, bool) {
        let mut d = SseDecoder::new();
        let mut events = Vec::new();
        for piece in pieces {
            d.push(piece);
            while let Some(event) = d.next_event().unwrap() {
                events.push(event);
            }
        }
        let partial = d.has_partial();
        assert_eq!(d.finish(), partial);
        assert!(!d.has_partial());
        (events, partial)
    }

    /// `decode_pieces` over the whole body, checked against every two-piece split and one byte
    /// at a time.
    fn decode(body: &[u8]) -> (Vec<SseEvent>, bool) {
        let whole = decode_pieces(&[body]);
        for at in 0..=body.len() {
            let (a, b) = body.split_at(at);
            assert_eq!(decode_pieces(&[a, b]), whole, "split at {at}");
        }
        let bytes: Vec<&[u8]> = body.chunks(1).collect();
        assert_eq!(decode_pieces(&bytes), whole, "byte by byte");
        whole
    }

    fn events(body: &str) -> Vec<SseEvent> {
        let (events, partial) = decode(body.as_bytes());
        assert!(!partial, "{body:?} ends mid-event");
        events
    }

    #[test]
    fn the_three_line_breaks_and_mixes_of_them() {
        let want = vec![data("a\nb"), data("c")];
        for body in [
            "data: a\ndata: b\n\ndata: c\n\n",
            "data: a\r\ndata: b\r\n\r\ndata: c\r\n\r\n",
            "data: a\rdata: b\r\rdata: c\r\r",
            "data: a\r\ndata: b\n\rdata: c\r\n\n",
        ] {
            assert_eq!(events(body), want, "{body:?}");
        }
    }

    #[test]
    fn a_cr_then_lf_in_the_next_push_is_one_line_break() {
        let (got, partial) = decode_pieces(&[b"data: a\r", b"\ndata: b\r", b"\n\r", b"\n"]);
        assert_eq!((got, partial), (vec![data("a\nb")], false));
        // `\r\r` is a line break and a blank line, at once: the event does not wait for a `\n`.
        let mut d = SseDecoder::new();
        d.push(b"data: a\r\r");
        assert_eq!(d.next_event().unwrap(), Some(data("a")));
        assert!(!d.has_partial());
    }

    #[test]
    fn a_leading_bom_is_dropped_once() {
        assert_eq!(events("\u{feff}data: a\n\n"), vec![data("a")]);
        // Only at the start: later, it is part of a field name (unknown, ignored) or of a value.
        assert_eq!(
            events("\u{feff}\u{feff}data: a\n\ndata: \u{feff}b\n\n"),
            vec![data("\u{feff}b")]
        );
        // Split across pushes, and a prefix of it that turns out to be something else.
        let (got, _) = decode_pieces(&[b"\xEF", b"\xBB", b"\xBFdata: a\n\n"]);
        assert_eq!(got, vec![data("a")]);
        let (got, _) = decode_pieces(&[b"\xEF\xBB", b"\n\ndata: a\n\n"]);
        assert_eq!(got, vec![data("a")]);
    }

    #[test]
    fn one_space_after_the_colon_is_stripped() {
        assert_eq!(
            events("data:a\n\ndata: a\n\ndata:  a\n\ndata:\ta\n\n"),
            vec![data("a"), data("a"), data(" a"), data("\ta")]
        );
        // Only the first colon separates: JSON and URLs keep theirs.
        assert_eq!(
            events("data: {\"a\":\"http://x\"}\n\n"),
            vec![data("{\"a\":\"http://x\"}")]
        );
    }

    #[test]
    fn comments_are_ignored() {
        assert_eq!(
            events(": hello\ndata: a\n:\n: data: b\n\n: keep-alive\n\n"),
            vec![data("a")]
        );
    }

    #[test]
    fn data_lines_join_with_newlines() {
        assert_eq!(
            events("data: a\ndata\ndata:\ndata: b\n\n"),
            vec![data("a\n\n\nb")]
        );
        // An empty data line is an event with empty data; a final newline in data is kept but one.
        assert_eq!(
            events("data\n\ndata:\n\ndata\ndata\n\n"),
            vec![data(""), data(""), data("\n")]
        );
    }

    #[test]
    fn no_event_without_data() {
        // Blank lines, comment-only blocks, a block with only an event type: nothing dispatched,
        // and the type does not leak into the next event.
        assert_eq!(
            events("\n\n\n: x\n\nevent: ping\n\ndata: a\n\n"),
            vec![data("a")]
        );
    }

    #[test]
    fn event_types() {
        assert_eq!(
            events(
                "event: add\ndata: 1\n\ndata: 2\n\nevent: x\nevent:\ndata: 3\n\nevent\ndata: 4\n\n"
            ),
            vec![ev(Some("add"), "1", None), data("2"), data("3"), data("4"),]
        );
        // The last one wins, wherever it is among the data lines.
        assert_eq!(
            events("event: a\ndata: 1\nevent: message\n\n"),
            vec![ev(Some("message"), "1", None)]
        );
    }

    #[test]
    fn ids_are_reported_once_and_the_last_event_id_sticks() {
        let mut d = SseDecoder::new();
        d.push(b"id: 1\ndata: a\n\ndata: b\n\nid: 2\n\ndata: c\n\nid\ndata: d\n\nid: 3\x004\ndata: e\n\n");
        let mut got = Vec::new();
        let mut last_ids = Vec::new();
        while let Some(event) = d.next_event().unwrap() {
            got.push(event);
            last_ids.push(d.last_event_id().to_owned());
        }
        assert_eq!(
            got,
            vec![
                ev(None, "a", Some("1")),
                data("b"),
                // Set on a block without data, which was not dispatched: carried to the next event.
                ev(None, "c", Some("2")),
                // An empty id resets the last event ID.
                ev(None, "d", Some("")),
                // An id holding NUL is ignored.
                data("e"),
            ]
        );
        assert_eq!(last_ids, ["1", "1", "2", "", ""]);
    }

    #[test]
    fn retry_takes_ascii_digits_only() {
        let mut d = SseDecoder::new();
        assert_eq!(d.retry(), None);
        for (line, want) in [
            ("retry: 1000\n", Some(1000)),
            ("retry: 10s\n", Some(1000)),
            ("retry: -5\n", Some(1000)),
            ("retry: 1 000\n", Some(1000)),
            ("retry:\n", Some(1000)),
            ("retry\n", Some(1000)),
            ("retry: ٣\n", Some(1000)),
            ("retry:0\n", Some(0)),
            ("retry: 99999999999999999999999\n", Some(u64::MAX)),
        ] {
            d.push(line.as_bytes());
            assert_eq!(d.next_event().unwrap(), None);
            assert_eq!(d.retry(), want, "{line:?}");
        }
    }

    #[test]
    fn unknown_fields_are_ignored() {
        assert_eq!(
            events("foo: bar\ndata : x\nDATA: y\nDatA\nevent : z\ndata: a\nrandom line\n\n"),
            vec![data("a")]
        );
    }

    #[test]
    fn invalid_utf8_becomes_replacement_characters() {
        let (got, _) = decode(b"event: \xFFx\ndata: a\xC3\ndata: \xE2\x82\xACb\xF0\x9F\n\n");
        assert_eq!(
            got,
            vec![ev(Some("\u{fffd}x"), "a\u{fffd}\n€b\u{fffd}", None)]
        );
    }

    #[test]
    fn a_multibyte_character_split_between_pushes() {
        let body = "data: é€💥\n\n".as_bytes();
        for at in 7..body.len() - 2 {
            let (a, b) = body.split_at(at);
            assert_eq!(
                decode_pieces(&[a, b]).0,
                vec![data("é€💥")],
                "split at {at}"
            );
        }
    }

    #[test]
    fn the_end_of_the_body_discards_an_unfinished_event() {
        for body in [
            &b"data: a"[..],
            b"data: a\n",
            b"data: a\r",
            b": comment\n",
            b"event: x\n",
            b"\xEF\xBB",
        ] {
            let (got, partial) = decode(body);
            assert_eq!((got, partial), (vec![], true), "{body:?}");
        }
        let (got, partial) = decode(b"data: a\n\ndata: b\n");
        assert_eq!((got, partial), (vec![data("a")], true));
        // A `\r` that may yet be followed by `\n` is a whole line break.
        assert_eq!(decode(b"data: a\r\r"), (vec![data("a")], false));
        assert_eq!(decode(b""), (vec![], false));
        assert_eq!(decode(b"\xEF\xBB\xBF"), (vec![], false));
        // Nothing is taken after the end.
        let mut d = SseDecoder::new();
        d.push(b"data: a\n");
        assert_eq!(d.next_event().unwrap(), None);
        assert!(d.finish());
        d.push(b"\ndata: b\n\n");
        assert_eq!(d.next_event().unwrap(), None);
        assert!(!d.has_partial());
    }

    #[test]
    fn an_event_at_the_cap_passes_and_one_byte_more_fails() {
        // `data: ` + payload + `\n` is the whole event (the blank line that ends it not counted).
        let payload = MAX_SSE_EVENT_BYTES - "data: \n".len();
        let body = format!("data: {}\n\n", "x".repeat(payload));
        let mut d = SseDecoder::new();
        d.push(body.as_bytes());
        assert_eq!(d.next_event().unwrap().unwrap().data.len(), payload);

        let body = format!("data: {}\n\n", "x".repeat(payload + 1));
        let mut d = SseDecoder::new();
        d.push(body.as_bytes());
        let err = d.next_event().unwrap_err();
        assert!(
            err.to_string().contains("longer than 1048576 bytes"),
            "{err}"
        );
        assert_eq!(d.buffered(), 0);
        // Poisoned: the same error again, even with good bytes after it.
        d.push(b"data: a\n\n");
        assert_eq!(d.next_event().unwrap_err(), err);
        assert!(!d.has_partial());
    }

    #[test]
    fn comments_and_many_short_lines_count_toward_the_cap() {
        let line = ": keep-alive\n";
        let mut d = SseDecoder::new();
        let mut pushed = 0;
        let err = loop {
            d.push(line.as_bytes());
            pushed += line.len();
            match d.next_event() {
                Ok(None) => assert!(pushed <= MAX_SSE_EVENT_BYTES),
                Ok(Some(event)) => panic!("{event:?}"),
                Err(err) => break err,
            }
        };
        assert!(pushed > MAX_SSE_EVENT_BYTES && pushed <= MAX_SSE_EVENT_BYTES + line.len());
        assert!(err.message().contains("longer than"));
        // The same comments closed by blank lines are fine forever.
        let mut d = SseDecoder::new();
        for _ in 0..2 * MAX_SSE_EVENT_BYTES / line.len() {
            d.push(b": keep-alive\n\n");
            assert_eq!(d.next_event().unwrap(), None);
        }
    }

    #[test]
    fn work_per_byte_is_constant() {
        // A line of nearly the cap, and an event of nearly the cap in short data lines, pushed a
        // byte at a time: rescanning the buffer on each push would take ~10^11 steps here.
        let line = format!("data: {}\n\n", "x".repeat(MAX_SSE_EVENT_BYTES - 16));
        let lines = "data: x\n".repeat(MAX_SSE_EVENT_BYTES / 9) + "\n";
        for body in [line, lines] {
            let mut d = SseDecoder::new();
            let mut got = Vec::new();
            for byte in body.as_bytes().chunks(1) {
                d.push(byte);
                if let Some(event) = d.next_event().unwrap() {
                    got.push(event);
                }
            }
            assert_eq!(got.len(), 1);
            assert!(!d.has_partial());
        }
    }

    #[test]
    fn an_unterminated_line_fails_at_the_cap() {
        let mut d = SseDecoder::new();
        d.push(b"data: ");
        let piece = vec![b'x'; 4096];
        let mut pushed = 6;
        let err = loop {
            d.push(&piece);
            pushed += piece.len();
            match d.next_event() {
                Ok(None) => assert!(d.buffered() <= MAX_SSE_EVENT_BYTES),
                Ok(Some(event)) => panic!("{event:?}"),
                Err(err) => break err,
            }
        };
        assert!(pushed <= MAX_SSE_EVENT_BYTES + piece.len(), "{pushed}");
        assert!(err.message().contains("longer than"));
    }
}
