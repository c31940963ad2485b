//! OpenAI's SSE relayed event by event. Each event's data is checked to be JSON (an error event
//! becomes our error) and written on as it came. Chunks that carry nothing yet (the opening
//! `role: assistant` chunk) are held until the first chunk with content, so a stream that fails
//! before any content is still an HTTP error the caller (and a config's fallback) can act on.

use serde_json::Value;

use crate::error::GatewayError;
use crate::platform::ByteStream;
use crate::providers::openai::errors;
use crate::stream::driver::{sse_stream, SseMapper, SseStream};
use crate::stream::sse;
use crate::stream::sse_decoder::{SseDecoder, SseEvent};

/// The relayed stream; `Err` when it fails before its first content. `api_key` is scrubbed from
/// any error OpenAI sends in the stream.
pub async fn relay(body: ByteStream, api_key: &str) -> Result<SseStream, GatewayError> {
    let relay = Relay {
        api_key: api_key.to_owned(),
        ..Relay::default()
    };
    sse_stream(body, relay).await
}

/// Content-less chunks held before the first content.
const MAX_HELD: usize = 4;

#[derive(Default)]
struct Relay {
    api_key: String,
    /// Chunks without content seen before the first chunk with content.
    held: Vec<String>,
    started: bool,
    done: bool,
    /// The usage chunk's counts (`stream_options.include_usage`).
    tokens: Option<crate::usage::prices::Tokens>,
}

/// Whether a chunk says anything a client acts on: content, a tool call, a refusal, a finish
/// reason, or usage (the `include_usage` chunk has no choices).
fn has_content(chunk: &Value) -> bool {
    let Some(choices) = chunk.get("choices").and_then(Value::as_array) else {
        return true;
    };
    if choices.is_empty() {
        return true;
    }
    choices.iter().any(|c| {
        let delta = c.get("delta");
        let filled = |k: &str| {
            delta
                .and_then(|d| d.get(k))
                .is_some_and(|v| !v.is_null() && v != "" && v != &Value::Array(vec![]))
        };
        c.get("finish_reason").is_some_and(|f| !f.is_null())
            || filled("content")
            || filled("tool_calls")
            || filled("refusal")
            || filled("function_call")
    })
}

impl SseMapper for Relay {
    type Decoder = SseDecoder;
    type Item = String;
    const UPSTREAM: &'static str = "OpenAI";
    const STOP_EVENT: &'static str = "[DONE]";

    fn map_frame(&mut self, event: &SseEvent) -> Result<Vec<String>, GatewayError> {
        if self.done {
            return Ok(Vec::new());
        }
        let data = event.data.trim();
        if data == "[DONE]" {
            self.done = true;
            return Ok(Vec::new());
        }
        let chunk = errors::event_json(data)?;
        if chunk.get("error").is_some() {
            return Err(errors::scrub(
                errors::from_stream_event(&chunk),
                &self.api_key,
            ));
        }
        if let Some(tokens) = crate::usage::extract::from_answer(&chunk) {
            self.tokens = Some(tokens);
        }
        // At most a few content-less chunks are held (OpenAI sends one); past that the stream
        // counts as started, so an upstream cannot make us buffer without bound.
        if !self.started && !has_content(&chunk) && self.held.len() < MAX_HELD {
            self.held.push(data.to_owned());
            return Ok(Vec::new());
        }
        self.started = true;
        let mut out = std::mem::take(&mut self.held);
        out.push(data.to_owned());
        Ok(out)
    }

    fn encode(&self, items: &[String]) -> Vec<u8> {
        let mut out = Vec::with_capacity(items.iter().map(|i| i.len() + 8).sum());
        for item in items {
            sse::write_relayed(&mut out, None, item);
        }
        out
    }

    fn finished(&self) -> bool {
        self.done
    }

    fn end(&mut self) -> Vec<u8> {
        let held = std::mem::take(&mut self.held);
        let mut out = self.encode(&held);
        out.extend_from_slice(sse::DONE);
        out
    }

    fn fail(&mut self, err: &GatewayError) -> Vec<u8> {
        sse::openai_error_then_done(err)
    }

    fn usage(&self) -> Option<crate::usage::prices::Tokens> {
        self.tokens
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn role_chunks_wait_for_content() {
        assert!(!has_content(
            &json!({"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": null}]})
        ));
        assert!(has_content(
            &json!({"choices": [{"index": 0, "delta": {"content": "Hi"}, "finish_reason": null}]})
        ));
        assert!(has_content(
            &json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
        ));
        assert!(has_content(
            &json!({"choices": [], "usage": {"total_tokens": 3}})
        ));
    }
}
