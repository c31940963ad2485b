//! Recorded and synthetic Bedrock event streams, shared by `tests/stream_fixtures.rs` and
//! `bench/stream_bench.rs` (both include this file with `#[path]`).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use aws_smithy_eventstream::frame::write_message_to;
use aws_smithy_types::event_stream::{Header, HeaderValue, Message};
use base64::Engine;
use bytes::Bytes;
use edgeport::platform::ByteStream;

/// One recorded ConverseStream answer body.
pub struct RecordedStream {
    /// `<source>/<test name>#<interaction>`
    pub name: String,
    pub body: Vec<u8>,
}

fn recorded_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/recorded")
}

/// Every 200 `converse-stream` answer in `fixtures/recorded/<source>/<name>.json`.
pub fn recorded_streams() -> Vec<RecordedStream> {
    let mut files = Vec::new();
    for source in std::fs::read_dir(recorded_dir()).expect("fixtures/recorded exists") {
        let source = source.unwrap().path();
        if !source.is_dir() {
            continue;
        }
        for file in std::fs::read_dir(&source).unwrap() {
            let file = file.unwrap().path();
            if file.extension().is_some_and(|e| e == "json") {
                files.push(file);
            }
        }
    }
    files.sort();
    let mut out = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
        let source = file
            .parent()
            .and_then(|p| p.file_name())
            .unwrap()
            .to_string_lossy();
        let stem = file.file_stem().unwrap().to_string_lossy();
        let interactions = doc["interactions"].as_array().cloned().unwrap_or_default();
        for (i, it) in interactions.iter().enumerate() {
            let response = &it["response"];
            let is_stream = it["request"]["operation"] == "converse-stream"
                && response["status"] == 200
                && response["content_type"] == "application/vnd.amazon.eventstream";
            let Some(b64) = response["body_base64"].as_str().filter(|_| is_stream) else {
                continue;
            };
            let body = base64::engine::general_purpose::STANDARD
                .decode(b64)
                .unwrap();
            if !body.is_empty() {
                out.push(RecordedStream {
                    name: format!("{source}/{stem}#{i}"),
                    body,
                });
            }
        }
    }
    out
}

/// The body of one recorded stream by `<source>/<test name>` (first interaction unless `#i`).
pub fn recorded(name: &str) -> Vec<u8> {
    let name = if name.contains('#') {
        name.to_owned()
    } else {
        format!("{name}#0")
    };
    recorded_streams()
        .into_iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no recorded stream {name}"))
        .body
}

fn encode(message: Message) -> Vec<u8> {
    let mut out = Vec::new();
    write_message_to(&message, &mut out).unwrap();
    out
}

fn string(name: &'static str, value: &str) -> Header {
    Header::new(name, HeaderValue::String(value.to_owned().into()))
}

/// An `event` frame with JSON payload.
pub fn event(event_type: &str, payload: serde_json::Value) -> Vec<u8> {
    encode(
        Message::new(payload.to_string().into_bytes())
            .add_header(string(":event-type", event_type))
            .add_header(string(":content-type", "application/json"))
            .add_header(string(":message-type", "event")),
    )
}

/// An `exception` frame, as Bedrock sends `throttlingException` & co.
pub fn exception(exception_type: &str, message: &str) -> Vec<u8> {
    encode(
        Message::new(
            serde_json::json!({ "message": message })
                .to_string()
                .into_bytes(),
        )
        .add_header(string(":exception-type", exception_type))
        .add_header(string(":content-type", "application/json"))
        .add_header(string(":message-type", "exception")),
    )
}

/// An `error` frame (`:error-code`, `:error-message`, no payload).
pub fn error_frame(code: &str, message: &str) -> Vec<u8> {
    encode(
        Message::new(Bytes::new())
            .add_header(string(":error-code", code))
            .add_header(string(":error-message", message))
            .add_header(string(":message-type", "error")),
    )
}

/// A body that yields exactly these pieces.
pub fn byte_stream(pieces: Vec<Result<Bytes, String>>) -> ByteStream {
    Box::pin(futures_util::stream::iter(pieces))
}

/// `body` cut into pieces of the given sizes (the last piece takes the rest).
pub fn pieces_of(
    body: &[u8],
    sizes: impl IntoIterator<Item = usize>,
) -> Vec<Result<Bytes, String>> {
    let mut out = Vec::new();
    let mut rest = body;
    let mut sizes = sizes.into_iter();
    while !rest.is_empty() {
        let n = sizes.next().unwrap_or(rest.len()).clamp(1, rest.len());
        let (piece, tail) = rest.split_at(n);
        out.push(Ok(Bytes::copy_from_slice(piece)));
        rest = tail;
    }
    out
}

/// A small deterministic PRNG (xorshift64*), so "random" splits are reproducible.
pub struct Prng(u64);

impl Prng {
    pub fn new(seed: u64) -> Self {
        Prng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// In `1..=max`.
    pub fn size(&mut self, max: usize) -> usize {
        1 + (self.next_u64() % max as u64) as usize
    }
}

/// `body` cut at sizes taken in turn from `sizes` (the whole body when `sizes` is empty).
pub fn split<'a>(body: &'a [u8], sizes: &[usize]) -> Vec<&'a [u8]> {
    if sizes.is_empty() {
        return vec![body];
    }
    let mut out = Vec::new();
    let mut rest = body;
    for size in sizes.iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let (piece, tail) = rest.split_at((*size).clamp(1, rest.len()));
        out.push(piece);
        rest = tail;
    }
    out
}

// ---- ConverseStream events, built for tests ----

/// A `messageStop` frame.
pub fn message_stop(reason: &str) -> Vec<u8> {
    event("messageStop", serde_json::json!({"stopReason": reason}))
}

/// A `metadata` frame with `usage`.
pub fn metadata(usage: serde_json::Value) -> Vec<u8> {
    event(
        "metadata",
        serde_json::json!({"usage": usage, "metrics": {"latencyMs": 12}}),
    )
}

/// A `contentBlockStart` frame opening a tool call.
pub fn tool_start(index: u32, id: &str, name: &str) -> Vec<u8> {
    event(
        "contentBlockStart",
        serde_json::json!({"contentBlockIndex": index, "start": {"toolUse": {"toolUseId": id, "name": name}}}),
    )
}

/// A `contentBlockDelta` frame with tool input.
pub fn tool_input(index: u32, input: &str) -> Vec<u8> {
    event(
        "contentBlockDelta",
        serde_json::json!({"contentBlockIndex": index, "delta": {"toolUse": {"input": input}}}),
    )
}
