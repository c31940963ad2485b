//! Bedrock InvokeModelWithResponseStream (Claude) → Anthropic Messages SSE.
//!
//! Each `chunk` frame carries `bytes`: base64 of Anthropic's own streaming event. [`process_frame`]
//! turns one frame into the events it yields, `event: <type>\ndata: <json>\n\n` each, unchanged
//! except for:
//!
//! | event | change |
//! | --- | --- |
//! | `message_start` | `message.usage` added when Bedrock left it out (SDKs read it) |
//! | `message_delta` | held until the next event, so the metrics below can fill its `usage` |
//! | last event (`message_stop`) | `amazon-bedrock-invocationMetrics` removed, folded into the held `message_delta.usage` ([`METRICS_TO_USAGE`]) |
//!
//! [`anthropic_sse`] is the I/O around it. Exceptions before the first event are returned as
//! errors (the caller answers an HTTP error); later ones, a corrupt frame or a dropped body become
//! `event: error` with `{"type":"error","error":{"type","message"}}`, and the stream ends.

use base64::Engine;
use bytes::Bytes;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::api::anthropic::StreamEvent;
use crate::error::GatewayError;
use crate::platform::ByteStream;
use crate::providers::bedrock::errors::{frame_event, malformed};
use crate::providers::bedrock::invoke::INVOCATION_METRICS;
use crate::stream::driver::{sse_stream, SseMapper, SseStream};
use crate::stream::eventstream::Frame;
use crate::stream::sse;

/// `amazon-bedrock-invocationMetrics` field → Anthropic `usage` field. A usage field the model
/// already reported wins.
pub const METRICS_TO_USAGE: &[(&str, &str)] = &[
    ("inputTokenCount", "input_tokens"),
    ("outputTokenCount", "output_tokens"),
    ("cacheReadInputTokenCount", "cache_read_input_tokens"),
    ("cacheWriteInputTokenCount", "cache_creation_input_tokens"),
];

/// A `chunk` event's payload.
#[derive(Debug, Clone, Deserialize)]
pub struct PayloadPart {
    /// Base64 of the provider-native event JSON.
    pub bytes: String,
}

/// A `message_delta` held back: its text as Bedrock sent it, and its parsed form.
#[derive(Debug, Clone)]
struct HeldDelta {
    raw: Bytes,
    event: Map<String, Value>,
    changed: bool,
}

/// What a stream remembers between frames.
#[derive(Debug, Default, Clone)]
pub struct InvokeStreamState {
    /// A `message_delta` waiting for the event after it.
    held_delta: Option<HeldDelta>,
    stopped: bool,
    /// The usage of `message_start`, then each `message_delta` (as the request is priced).
    tokens: Option<crate::usage::prices::Tokens>,
}

impl InvokeStreamState {
    pub fn new() -> Self {
        Self::default()
    }

    /// The usage reported so far.
    pub fn tokens(&self) -> Option<crate::usage::prices::Tokens> {
        self.tokens
    }

    /// Counts from an Anthropic `usage` object; a later event's counts replace earlier ones.
    fn count(&mut self, usage: Option<&Value>) {
        let Some(u) = usage.filter(|u| u.is_object()) else {
            return;
        };
        if let Some(new) = crate::usage::extract::from_usage(u) {
            let old = self.tokens.unwrap_or_default();
            let keep =
                |field: &str, new: u64, old: u64| if u.get(field).is_some() { new } else { old };
            self.tokens = Some(crate::usage::prices::Tokens {
                input: keep("input_tokens", new.input, old.input),
                output: keep("output_tokens", new.output, old.output),
                cache_read: keep("cache_read_input_tokens", new.cache_read, old.cache_read),
                cache_write: keep(
                    "cache_creation_input_tokens",
                    new.cache_write,
                    old.cache_write,
                ),
                images: 0,
            });
        }
    }

    /// Whether `message_stop` has been seen (a stream that ends before it was cut short).
    pub fn finished(&self) -> bool {
        self.stopped
    }
}

/// One decoded frame → the events it yields. Exception and error frames become errors.
///
/// An event edgeport does not change goes out byte for byte as Bedrock sent it (key order
/// included); a changed one is written again.
pub fn process_frame(
    frame: &Frame,
    state: &mut InvokeStreamState,
) -> Result<Vec<StreamEvent>, GatewayError> {
    if frame_event(frame)? != Some("chunk") {
        return Ok(Vec::new());
    }
    let part: PayloadPart = serde_json::from_slice(&frame.payload).map_err(|e| {
        malformed(format!(
            "Bedrock sent a chunk event that did not parse: {e}"
        ))
    })?;
    let raw = Bytes::from(
        base64::engine::general_purpose::STANDARD
            .decode(part.bytes.trim())
            .map_err(|e| malformed(format!("Bedrock sent a chunk that is not base64: {e}")))?,
    );
    let mut event: Map<String, Value> = serde_json::from_slice(&raw).map_err(|e| {
        malformed(format!(
            "Bedrock sent a chunk that is not an Anthropic event: {e}"
        ))
    })?;
    let kind = event
        .get("type")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty() && t.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'))
        .map(str::to_owned)
        .ok_or_else(|| {
            malformed("Bedrock sent an Anthropic event without a valid type".to_owned())
        })?;
    let metrics = event.remove(INVOCATION_METRICS);
    // A line break inside the JSON would end the SSE `data:` line: such text is written again.
    let mut changed = metrics.is_some() || raw.iter().any(|b| matches!(b, b'\n' | b'\r'));

    let mut out = Vec::new();
    match kind.as_str() {
        "message_start" => {
            changed |= ensure_start_usage(&mut event);
            state.count(event.get("message").and_then(|m| m.get("usage")));
        }
        "message_delta" => {
            flush_delta(state, &mut out);
            state.held_delta = Some(HeldDelta {
                raw,
                event,
                changed,
            });
            return Ok(out);
        }
        "message_stop" => state.stopped = true,
        _ => {}
    }
    if let (Some(Value::Object(metrics)), Some(held)) = (&metrics, state.held_delta.as_mut()) {
        held.changed |= fold_metrics(&mut held.event, metrics);
    }
    flush_delta(state, &mut out);
    out.push(StreamEvent {
        name: kind,
        data: if changed { to_json(&event) } else { raw },
    });
    Ok(out)
}

/// End of the upstream body: a `message_delta` still held.
pub fn finish(state: &mut InvokeStreamState) -> Vec<StreamEvent> {
    let mut out = Vec::new();
    flush_delta(state, &mut out);
    out
}

fn flush_delta(state: &mut InvokeStreamState, out: &mut Vec<StreamEvent>) {
    if let Some(held) = state.held_delta.take() {
        state.count(held.event.get("usage"));
        out.push(StreamEvent {
            name: "message_delta".into(),
            data: if held.changed {
                to_json(&held.event)
            } else {
                held.raw
            },
        });
    }
}

fn to_json(event: &Map<String, Value>) -> Bytes {
    // A map of JSON values always serializes; the fallback keeps the stream well-formed anyway.
    Bytes::from(serde_json::to_vec(event).unwrap_or_else(|_| b"{}".to_vec()))
}

/// `message_start.message.usage` must exist: the SDKs build the final message's usage on it.
fn ensure_start_usage(event: &mut Map<String, Value>) -> bool {
    if let Some(Value::Object(message)) = event.get_mut("message") {
        if !message.get("usage").is_some_and(Value::is_object) {
            message.insert(
                "usage".into(),
                json!({"input_tokens": 0, "output_tokens": 0}),
            );
            return true;
        }
    }
    false
}

/// Fills `usage` fields the delta lacks from the metrics; whether anything changed.
fn fold_metrics(delta: &mut Map<String, Value>, metrics: &Map<String, Value>) -> bool {
    let usage = delta
        .entry("usage")
        .or_insert_with(|| Value::Object(Map::new()));
    let Value::Object(usage) = usage else {
        return false;
    };
    let mut changed = false;
    for (metric, field) in METRICS_TO_USAGE {
        if let Some(n) = metrics.get(*metric).filter(|n| n.is_u64()) {
            if !usage.contains_key(*field) {
                usage.insert((*field).to_owned(), n.clone());
                changed = true;
            }
        }
    }
    changed
}

/// `event: <name>\ndata: <json>\n\n` for each event.
pub fn encode(events: &[StreamEvent]) -> Bytes {
    let mut out = Vec::with_capacity(256 * events.len());
    for e in events {
        out.extend_from_slice(b"event: ");
        out.extend_from_slice(e.name.as_bytes());
        out.extend_from_slice(b"\ndata: ");
        out.extend_from_slice(&e.data);
        out.extend_from_slice(b"\n\n");
    }
    Bytes::from(out)
}

/// The in-stream error: `event: error` with Anthropic's error body.
pub fn encode_error(err: &GatewayError) -> Bytes {
    sse::event("error", &err.anthropic_body())
}

/// Reads `body` and yields Anthropic SSE bytes, one item per frame that yields events.
///
/// It waits for the first frame that yields something: if the stream opens with an exception,
/// or fails before any event, the caller gets `Err` and answers a real HTTP error.
pub async fn anthropic_sse(body: ByteStream) -> Result<SseStream, GatewayError> {
    sse_stream(
        body,
        AnthropicMapper {
            state: InvokeStreamState::new(),
        },
    )
    .await
}

/// InvokeModelWithResponseStream frames → Anthropic events, for the shared stream loop.
struct AnthropicMapper {
    state: InvokeStreamState,
}

impl SseMapper for AnthropicMapper {
    type Decoder = crate::stream::eventstream::FrameDecoder;
    const UPSTREAM: &'static str = "Bedrock";
    type Item = StreamEvent;
    const STOP_EVENT: &'static str = "message_stop";

    fn map_frame(&mut self, frame: &Frame) -> Result<Vec<StreamEvent>, GatewayError> {
        process_frame(frame, &mut self.state)
    }

    fn encode(&self, events: &[StreamEvent]) -> Vec<u8> {
        encode(events).to_vec()
    }

    fn finished(&self) -> bool {
        self.state.finished()
    }

    fn end(&mut self) -> Vec<u8> {
        encode(&finish(&mut self.state)).to_vec()
    }

    /// Whatever is held, then `event: error`.
    fn fail(&mut self, err: &GatewayError) -> Vec<u8> {
        let mut out = encode(&finish(&mut self.state)).to_vec();
        out.extend_from_slice(&encode_error(err));
        out
    }

    fn usage(&self) -> Option<crate::usage::prices::Tokens> {
        self.state.tokens()
    }
}
