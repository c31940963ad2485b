//! `/v1/responses` on OpenAI: the caller's body passed through as it is (model id without
//! `@slug/`), with the provider's key; the JSON answer as OpenAI sent it, the event stream
//! relayed event by event with its event names. OpenAI keeps the responses it stores itself
//! (`store`, `previous_response_id` are OpenAI's).
//!
//! Events without content (`response.created`, `response.in_progress`, `response.queued`) are
//! held until the first event with content, so a stream that fails before any output is still
//! an HTTP error the caller (and a config's fallback) can act on. After that, OpenAI's own
//! `error` and `response.failed` events are relayed as they came and end the stream.

use serde_json::{json, Map, Value};

use crate::error::{GatewayError, Result};
use crate::platform::{ByteStream, Platform};
use crate::providers::openai::chat::{read_object, send};
use crate::providers::openai::errors;
use crate::providers::openai::target::OpenAiTarget;
use crate::providers::{Answer, ChatCall};
use crate::stream::driver::{sse_stream, SseMapper, SseStream};
use crate::stream::sse;
use crate::stream::sse_decoder::{SseDecoder, SseEvent};

/// One Responses call on OpenAI.
pub async fn complete<P: Platform>(
    platform: &P,
    target: &OpenAiTarget,
    call: &ChatCall<'_>,
    body: Map<String, Value>,
) -> Result<Answer> {
    let stream = body.get("stream").and_then(Value::as_bool).unwrap_or(false);
    let resp = send(platform, target, call, target.responses_url(), body, stream).await?;
    if stream {
        return Ok(Answer::Stream(
            relay(resp.body.into_stream(), &target.api_key).await?,
        ));
    }
    Ok(Answer::Json(read_object(resp, "a response").await?))
}

/// The relayed stream; `Err` when it fails before its first content.
pub async fn relay(body: ByteStream, api_key: &str) -> Result<SseStream> {
    let relay = Relay {
        api_key: api_key.to_owned(),
        ..Relay::default()
    };
    sse_stream(body, relay).await
}

/// Content-less events held before the first content.
const MAX_HELD: usize = 4;

/// Events that end a response.
const TERMINAL: &[&str] = &[
    "response.completed",
    "response.incomplete",
    "response.failed",
    "error",
];

const CONTENT_LESS: &[&str] = &[
    "response.created",
    "response.in_progress",
    "response.queued",
];

#[derive(Default)]
struct Relay {
    api_key: String,
    held: Vec<Relayed>,
    started: bool,
    done: bool,
    /// The last `sequence_number` seen (our own error event follows it).
    last_sequence: Option<u64>,
    /// The final response's usage.
    tokens: Option<crate::usage::prices::Tokens>,
}

/// One event as it came: its `event:` name and its data.
#[derive(Debug, Clone)]
struct Relayed {
    event: Option<String>,
    data: String,
}

/// A failure OpenAI reported before any content: an HTTP error for the caller. Responses errors
/// carry `code` (`server_error`, `rate_limit_exceeded`, ...) where chat errors carry `type`.
fn early_failure(event: &Value) -> GatewayError {
    let error = match event.get("type").and_then(Value::as_str) {
        Some("response.failed") => event.pointer("/response/error").cloned(),
        _ => event.get("error").cloned().or_else(|| Some(event.clone())),
    }
    .unwrap_or(Value::Null);
    let code = error.get("code").cloned().unwrap_or(Value::Null);
    let kind = error
        .get("type")
        .filter(|t| t.is_string())
        .cloned()
        .unwrap_or(code.clone());
    let message = error.get("message").cloned().unwrap_or(Value::Null);
    errors::from_stream_event(&json!({"error": {"message": message, "type": kind, "code": code}}))
}

impl SseMapper for Relay {
    type Decoder = SseDecoder;
    type Item = Relayed;
    const UPSTREAM: &'static str = "OpenAI";
    const STOP_EVENT: &'static str = "response.completed";

    fn map_frame(&mut self, event: &SseEvent) -> Result<Vec<Relayed>, GatewayError> {
        if self.done {
            return Ok(Vec::new());
        }
        let data = event.data.trim();
        let value = errors::event_json(data)?;
        if let Some(n) = value.get("sequence_number").and_then(Value::as_u64) {
            self.last_sequence = Some(n);
        }
        let kind = value
            .get("type")
            .and_then(Value::as_str)
            .or(event.event.as_deref())
            .unwrap_or("");
        let terminal = TERMINAL.contains(&kind);
        if let Some(tokens) = value
            .get("response")
            .and_then(crate::usage::extract::from_answer)
        {
            self.tokens = Some(tokens);
        }
        let failed = kind == "error" || kind == "response.failed";
        if failed && !self.started {
            return Err(errors::scrub(early_failure(&value), &self.api_key));
        }
        let relayed = Relayed {
            event: event.event.clone(),
            data: data.to_owned(),
        };
        self.done = terminal;
        if !self.started && CONTENT_LESS.contains(&kind) && self.held.len() < MAX_HELD {
            self.held.push(relayed);
            return Ok(Vec::new());
        }
        self.started = true;
        let mut out = std::mem::take(&mut self.held);
        out.push(relayed);
        Ok(out)
    }

    fn encode(&self, items: &[Relayed]) -> Vec<u8> {
        let mut out = Vec::with_capacity(items.iter().map(|i| i.data.len() + 40).sum());
        for item in items {
            sse::write_relayed(&mut out, item.event.as_deref(), &item.data);
        }
        out
    }

    fn finished(&self) -> bool {
        self.done
    }

    fn end(&mut self) -> Vec<u8> {
        let held = std::mem::take(&mut self.held);
        self.encode(&held)
    }

    fn usage(&self) -> Option<crate::usage::prices::Tokens> {
        self.tokens
    }

    /// An `error` event, as OpenAI's Responses stream spells one (flat `code` / `message`).
    fn fail(&mut self, err: &GatewayError) -> Vec<u8> {
        let err = errors::scrub(err.clone(), &self.api_key);
        let sequence = self.last_sequence.map_or(0, |n| n.saturating_add(1));
        let event = json!({"type": "error", "code": err.code, "message": err.message,
            "param": null, "sequence_number": sequence});
        self.encode(&[Relayed {
            event: Some("error".into()),
            data: event.to_string(),
        }])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(event: &str, data: Value) -> SseEvent {
        SseEvent {
            event: Some(event.into()),
            data: data.to_string(),
            id: None,
        }
    }

    #[test]
    fn lifecycle_events_wait_for_content_and_failures_before_it_are_errors() {
        let mut r = Relay::default();
        let created = frame(
            "response.created",
            json!({"type": "response.created", "sequence_number": 0}),
        );
        assert!(r.map_frame(&created).unwrap().is_empty());
        let failed = frame(
            "response.failed",
            json!({"type": "response.failed", "response": {"error": {"code": "server_error", "message": "boom"}}}),
        );
        let err = r.map_frame(&failed).unwrap_err();
        assert_eq!(err.status, 500);
        assert!(err.message.contains("boom"));

        let mut r = Relay::default();
        assert!(r.map_frame(&created).unwrap().is_empty());
        let delta = frame(
            "response.output_text.delta",
            json!({"type": "response.output_text.delta", "delta": "hi", "sequence_number": 1}),
        );
        let out = r.map_frame(&delta).unwrap();
        assert_eq!(out.len(), 2);
        let bytes = String::from_utf8(r.encode(&out)).unwrap();
        assert!(
            bytes.starts_with("event: response.created\ndata: {"),
            "{bytes}"
        );
        assert!(!r.finished());
        let done = frame(
            "response.completed",
            json!({"type": "response.completed", "sequence_number": 2}),
        );
        assert_eq!(r.map_frame(&done).unwrap().len(), 1);
        assert!(r.finished());
        let tail = String::from_utf8(r.fail(&GatewayError::bad_gateway("cut"))).unwrap();
        assert!(tail.contains("\"sequence_number\":3"), "{tail}");
    }
}
