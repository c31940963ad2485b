//! Server-sent events, as OpenAI and Anthropic stream them: one JSON object per event.

use bytes::Bytes;
use serde::Serialize;

/// The OpenAI stream terminator.
pub const DONE: &[u8] = b"data: [DONE]\n\n";

/// What is sent if a value cannot be serialized (it cannot happen for edgeport's own types, which
/// have string keys only, but the stream must still say something rather than panic).
const ENCODE_FAILED: &[u8] =
    br#"{"error":{"message":"edgeport failed to encode a stream event","type":"api_error","code":null}}"#;

/// `data: {json}\n\n`
pub fn data(json: &impl Serialize) -> Bytes {
    let mut out = Vec::with_capacity(128);
    write_data(&mut out, json);
    Bytes::from(out)
}

/// `event: name\ndata: {json}\n\n`. A line break cannot be part of an SSE field, so any `\r` or
/// `\n` in `name` is left out rather than allowed to end the event early. (The data cannot hold
/// one: JSON escapes them in strings.)
pub fn event(name: &str, json: &impl Serialize) -> Bytes {
    let mut out = Vec::with_capacity(128 + name.len());
    write_event(&mut out, name, json);
    Bytes::from(out)
}

/// Appends `event: name\ndata: {json}\n\n` to `out` (see [`event`]).
pub fn write_event(out: &mut Vec<u8>, name: &str, json: &impl Serialize) {
    write_name(out, name);
    write_data(out, json);
}

fn write_name(out: &mut Vec<u8>, name: &str) {
    out.extend_from_slice(b"event: ");
    out.extend(name.bytes().filter(|b| !matches!(b, b'\r' | b'\n')));
    out.push(b'\n');
}

/// Appends an upstream's event as it came: its `event:` name (when it had one), then its data,
/// one `data:` line per line (SSE joins them back).
pub fn write_relayed(out: &mut Vec<u8>, name: Option<&str>, data: &str) {
    if let Some(name) = name {
        write_name(out, name);
    }
    for line in data.split('\n') {
        out.extend_from_slice(b"data: ");
        out.extend_from_slice(line.trim_end_matches('\r').as_bytes());
        out.push(b'\n');
    }
    out.push(b'\n');
}

/// Appends `data: {json}\n\n` to `out`, so several events can share one buffer.
pub fn write_data(out: &mut Vec<u8>, json: &impl Serialize) {
    out.extend_from_slice(b"data: ");
    let start = out.len();
    if serde_json::to_writer(&mut *out, json).is_err() {
        out.truncate(start);
        out.extend_from_slice(ENCODE_FAILED);
    }
    out.extend_from_slice(b"\n\n");
}

/// An OpenAI-shaped in-stream error event, then `[DONE]`: how every OpenAI-shaped stream ends
/// when it fails after its first bytes.
pub fn openai_error_then_done(err: &crate::error::GatewayError) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    write_data(&mut out, &err.openai_stream_body());
    out.extend_from_slice(DONE);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn shapes() {
        assert_eq!(&data(&json!({"a": 1}))[..], b"data: {\"a\":1}\n\n");
        assert_eq!(
            &event("ping", &json!({"type": "ping"}))[..],
            b"event: ping\ndata: {\"type\":\"ping\"}\n\n"
        );
        assert_eq!(DONE, b"data: [DONE]\n\n");
    }
}
