//! Bedrock ConverseStream → OpenAI `chat.completion.chunk` SSE.
//!
//! [`process_frame`] is the mapping: one decoded frame in, the chunks it yields out, with the
//! little state a stream needs ([`ConverseStreamState`]). [`openai_sse`] is the I/O around it:
//! read bytes, decode frames, write each frame's chunks the moment they exist.
//!
//! Mapping (see `shared/reference/bedrock-wire.md`):
//!
//! | Bedrock event | OpenAI chunk `delta` |
//! | --- | --- |
//! | `messageStart` | `{role: "assistant", content: ""}` |
//! | `contentBlockDelta.text` | `{content}` (+ `content_blocks[{index, delta:{text}}]` when not strict) |
//! | `contentBlockStart.toolUse` | `{tool_calls:[{index, id, type, function:{name, arguments:""}}]}` |
//! | `contentBlockDelta.toolUse.input` | `{tool_calls:[{index, function:{arguments}}]}` |
//! | `contentBlockDelta.reasoningContent` | strict: nothing; else `content_blocks[{index, delta:{thinking / signature / data}}]` |
//! | `messageStop` | `{}` + `finish_reason` |
//! | `messageStop.additionalModelResponseFields` | on the finish chunk: `{additional_model_response_fields}` |
//! | `metadata.trace` | not strict: a `choices: []` chunk with top-level `trace` (before usage) |
//! | `metadata.usage` | a `choices: []` chunk with `usage` (when `include_usage`) |
//!
//! The tool call `index` is the call's position among tool calls; the `content_blocks` index is
//! Bedrock's `contentBlockIndex`, so a client can rebuild the blocks in order.

use std::collections::HashMap;

use serde::de::DeserializeOwned;
use serde_json::{json, Value};

use crate::api::openai::{
    ChatCompletionChunk, ChunkChoice, Delta, FunctionDelta, ToolCallDelta, Usage,
};
use crate::error::GatewayError;
use crate::platform::ByteStream;
use crate::providers::bedrock::errors::{frame_event, malformed};
use crate::providers::bedrock::response::{finish_reason, usage};
use crate::providers::bedrock::wire::{
    ContentBlockDeltaEvent, ContentBlockStartEvent, MessageStopEvent, MetadataEvent,
};
pub use crate::stream::driver::SseStream;
use crate::stream::driver::{sse_stream, SseMapper};
use crate::stream::eventstream::Frame;
use crate::stream::sse;

/// What every chunk of one answer shares, and what the caller asked for.
#[derive(Debug, Clone)]
pub struct StreamContext {
    pub id: String,
    pub created: u64,
    pub model: String,
    /// `x-portkey-strict-open-ai-compliance` (default true): no reasoning, OpenAI finish reasons.
    pub strict: bool,
    /// `stream_options.include_usage`.
    pub include_usage: bool,
}

/// What a stream remembers between frames.
#[derive(Debug, Default, Clone)]
pub struct ConverseStreamState {
    role_sent: bool,
    /// Bedrock `contentBlockIndex` → the tool call's OpenAI index (its position among tool calls;
    /// a map, so a stream of many tool calls costs no scan per delta).
    tool_blocks: HashMap<u32, u32>,
    /// Tool calls started so far.
    tool_calls: usize,
    finish_sent: bool,
    /// Usage that arrived and is not sent yet (it goes out after the finish chunk).
    pending_usage: Option<Usage>,
    /// Bedrock's `trace` (strict compliance off), sent after the finish chunk, before usage.
    pending_trace: Option<Value>,
    usage_sent: bool,
    /// Bedrock's counts, as the request is priced.
    tokens: Option<crate::usage::prices::Tokens>,
}

impl ConverseStreamState {
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether `messageStop` has been seen (a stream that ends before it was cut short).
    pub fn finished(&self) -> bool {
        self.finish_sent
    }
}

/// One decoded frame → the chunks it yields. Exception and error frames become errors.
pub fn process_frame(
    frame: &Frame,
    state: &mut ConverseStreamState,
    ctx: &StreamContext,
) -> Result<Vec<ChatCompletionChunk>, GatewayError> {
    let Some(event) = frame_event(frame)? else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    match event {
        "messageStart" => ensure_role(state, ctx, &mut out),
        "contentBlockStart" => {
            let event: ContentBlockStartEvent = parse(frame, "contentBlockStart")?;
            if let Some(tool) = event.start.tool_use {
                let index = tool_index(state.tool_calls);
                state.tool_calls = state.tool_calls.saturating_add(1);
                // A repeated block index keeps its first call, as a scan in order would find.
                state
                    .tool_blocks
                    .entry(event.content_block_index)
                    .or_insert(index);
                ensure_role(state, ctx, &mut out);
                out.push(choice_chunk(
                    ctx,
                    Delta {
                        tool_calls: Some(vec![ToolCallDelta {
                            index,
                            id: Some(tool.tool_use_id),
                            kind: Some("function"),
                            function: FunctionDelta {
                                name: Some(tool.name),
                                arguments: String::new(),
                            },
                        }]),
                        ..Delta::default()
                    },
                    None,
                ));
            }
        }
        "contentBlockDelta" => {
            let event: ContentBlockDeltaEvent = parse(frame, "contentBlockDelta")?;
            let block = event.content_block_index;
            let delta = event.delta;
            if let Some(text) = delta.text.filter(|t| !t.is_empty()) {
                let blocks = (!ctx.strict).then(|| vec![block_delta(block, json!({"text": text}))]);
                ensure_role(state, ctx, &mut out);
                out.push(choice_chunk(
                    ctx,
                    Delta {
                        content: Some(text),
                        content_blocks: blocks,
                        ..Delta::default()
                    },
                    None,
                ));
            }
            if let Some(tool) = delta.tool_use.filter(|t| !t.input.is_empty()) {
                let Some(&index) = state.tool_blocks.get(&block) else {
                    return Err(malformed(format!(
                        "a toolUse delta for content block {block} came without its contentBlockStart"
                    )));
                };
                ensure_role(state, ctx, &mut out);
                out.push(choice_chunk(
                    ctx,
                    Delta {
                        tool_calls: Some(vec![ToolCallDelta {
                            index,
                            id: None,
                            kind: None,
                            function: FunctionDelta {
                                name: None,
                                arguments: tool.input,
                            },
                        }]),
                        ..Delta::default()
                    },
                    None,
                ));
            }
            if let Some(reasoning) = delta.reasoning_content.filter(|_| !ctx.strict) {
                let parts = [
                    ("thinking", reasoning.text),
                    ("signature", reasoning.signature),
                    ("data", reasoning.redacted_content),
                ];
                let blocks: Vec<Value> = parts
                    .into_iter()
                    .filter_map(|(key, value)| value.map(|v| block_delta(block, json!({ key: v }))))
                    .collect();
                if !blocks.is_empty() {
                    ensure_role(state, ctx, &mut out);
                    out.push(choice_chunk(
                        ctx,
                        Delta {
                            content_blocks: Some(blocks),
                            ..Delta::default()
                        },
                        None,
                    ));
                }
            }
        }
        "messageStop" => {
            let event: MessageStopEvent = parse(frame, "messageStop")?;
            ensure_role(state, ctx, &mut out);
            if !state.finish_sent {
                state.finish_sent = true;
                let reason = finish_reason(&event.stop_reason, ctx.strict);
                let delta = Delta {
                    additional_model_response_fields: event
                        .additional_model_response_fields
                        .filter(|v| !v.is_null()),
                    ..Delta::default()
                };
                out.push(choice_chunk(ctx, delta, Some(reason)));
            }
            push_usage(state, ctx, &mut out);
        }
        "metadata" => {
            let event: MetadataEvent = parse(frame, "metadata")?;
            if let Some(u) = event.usage {
                state.pending_usage = Some(usage(&u));
                state.tokens = Some(crate::providers::bedrock::response::tokens(&u));
            }
            // Bedrock only sends a trace when the request enabled one (guardrail `trace`).
            if !ctx.strict {
                state.pending_trace = event.trace.filter(|t| !t.is_null());
            }
            // Bedrock sends metadata after messageStop; usage must follow the finish chunk.
            if state.finish_sent {
                push_usage(state, ctx, &mut out);
            }
        }
        // contentBlockStop and event types edgeport does not know carry nothing to send.
        _ => {}
    }
    Ok(out)
}

/// End of the upstream body: the finish chunk if `messageStop` never came, and usage not yet sent.
pub fn finish(state: &mut ConverseStreamState, ctx: &StreamContext) -> Vec<ChatCompletionChunk> {
    let mut out = Vec::new();
    ensure_role(state, ctx, &mut out);
    if !state.finish_sent {
        state.finish_sent = true;
        out.push(choice_chunk(
            ctx,
            Delta::default(),
            Some(finish_reason("", ctx.strict)),
        ));
    }
    push_usage(state, ctx, &mut out);
    out
}

/// Reads `body` and yields SSE bytes, one item per decoded frame that yields chunks.
///
/// It waits for the first frame before answering: if the stream opens with an exception, or the
/// body fails before any frame, the caller gets `Err` and can answer a real HTTP error. After
/// that, every failure becomes an in-stream error chunk followed by `[DONE]`.
pub async fn openai_sse(body: ByteStream, ctx: StreamContext) -> Result<SseStream, GatewayError> {
    let prefix = chunk_prefix(&ctx);
    sse_stream(
        body,
        OpenAiMapper {
            state: ConverseStreamState::new(),
            ctx,
            prefix,
        },
    )
    .await
}

/// ConverseStream frames → OpenAI chunks, for the shared stream loop.
struct OpenAiMapper {
    state: ConverseStreamState,
    ctx: StreamContext,
    /// `data: {"id":…,"object":…,"created":…,"model":…,` — what every chunk of this answer starts
    /// with, serialized once (see [`write_chunk`]).
    prefix: Vec<u8>,
}

/// The start every chunk of the answer shares: its id, object, created and model, as serde writes
/// them (the fields of [`ChatCompletionChunk`] in order), after `data: `.
fn chunk_prefix(ctx: &StreamContext) -> Vec<u8> {
    let mut out = b"data: {\"id\":".to_vec();
    let json = |out: &mut Vec<u8>, s: &str| {
        if serde_json::to_writer(&mut *out, s).is_err() {
            out.extend_from_slice(b"\"\"");
        }
    };
    json(&mut out, &ctx.id);
    out.extend_from_slice(b",\"object\":\"chat.completion.chunk\",\"created\":");
    out.extend_from_slice(ctx.created.to_string().as_bytes());
    out.extend_from_slice(b",\"model\":");
    json(&mut out, &ctx.model);
    out.push(b',');
    out
}

/// One chunk as `data: <json>\n\n`: the shared prefix, then only what differs per chunk (choices,
/// usage, trace), so a streamed event does not serialize (and escape) the id and model again. The
/// bytes are exactly serde's for the whole struct (a test compares them).
fn write_chunk(out: &mut Vec<u8>, prefix: &[u8], chunk: &ChatCompletionChunk) {
    #[derive(serde::Serialize)]
    struct Rest<'a> {
        choices: &'a [ChunkChoice],
        #[serde(skip_serializing_if = "Option::is_none")]
        usage: &'a Option<Option<Usage>>,
        #[serde(skip_serializing_if = "Option::is_none")]
        trace: &'a Option<Value>,
    }
    let start = out.len();
    out.extend_from_slice(prefix);
    let rest = Rest {
        choices: &chunk.choices,
        usage: &chunk.usage,
        trace: &chunk.trace,
    };
    let at = out.len();
    if serde_json::to_writer(&mut *out, &rest).is_err() || out.get(at) != Some(&b'{') {
        // Never expected (these types always serialize); fall back to the whole chunk.
        out.truncate(start);
        sse::write_data(out, chunk);
        return;
    }
    // `{"choices":…}` → `"choices":…}` after the prefix's comma.
    out.remove(at);
    out.extend_from_slice(b"\n\n");
}

impl SseMapper for OpenAiMapper {
    type Decoder = crate::stream::eventstream::FrameDecoder;
    const UPSTREAM: &'static str = "Bedrock";
    type Item = ChatCompletionChunk;
    const STOP_EVENT: &'static str = "messageStop";

    fn map_frame(&mut self, frame: &Frame) -> Result<Vec<ChatCompletionChunk>, GatewayError> {
        process_frame(frame, &mut self.state, &self.ctx)
    }

    fn encode(&self, chunks: &[ChatCompletionChunk]) -> Vec<u8> {
        let mut out = Vec::with_capacity(256 * chunks.len() + sse::DONE.len());
        for chunk in chunks {
            write_chunk(&mut out, &self.prefix, chunk);
        }
        out
    }

    fn finished(&self) -> bool {
        self.state.finished()
    }

    /// The trailing chunks (finish, usage) and `[DONE]`.
    fn end(&mut self) -> Vec<u8> {
        let trailing = finish(&mut self.state, &self.ctx);
        let mut out = self.encode(&trailing);
        out.extend_from_slice(sse::DONE);
        out
    }

    /// The in-stream error chunk and `[DONE]`.
    fn fail(&mut self, err: &GatewayError) -> Vec<u8> {
        sse::openai_error_then_done(err)
    }

    fn usage(&self) -> Option<crate::usage::prices::Tokens> {
        self.state.tokens
    }
}

fn ensure_role(
    state: &mut ConverseStreamState,
    ctx: &StreamContext,
    out: &mut Vec<ChatCompletionChunk>,
) {
    if !state.role_sent {
        state.role_sent = true;
        let delta = Delta {
            role: Some("assistant"),
            content: Some(String::new()),
            ..Delta::default()
        };
        out.push(choice_chunk(ctx, delta, None));
    }
}

/// After the finish chunk: the trace chunk (if any), then the usage chunk (always last).
fn push_usage(
    state: &mut ConverseStreamState,
    ctx: &StreamContext,
    out: &mut Vec<ChatCompletionChunk>,
) {
    if let Some(trace) = state.pending_trace.take() {
        out.push(chunk(
            ctx,
            Vec::new(),
            ctx.include_usage.then_some(None),
            Some(trace),
        ));
    }
    if !ctx.include_usage || state.usage_sent {
        return;
    }
    if let Some(u) = state.pending_usage.take() {
        state.usage_sent = true;
        out.push(chunk(ctx, Vec::new(), Some(Some(u)), None));
    }
}

fn choice_chunk(
    ctx: &StreamContext,
    delta: Delta,
    finish_reason: Option<String>,
) -> ChatCompletionChunk {
    let choice = ChunkChoice {
        index: 0,
        delta,
        logprobs: None,
        finish_reason,
    };
    chunk(ctx, vec![choice], ctx.include_usage.then_some(None), None)
}

/// A chunk of this answer: the id, created and model every chunk shares.
fn chunk(
    ctx: &StreamContext,
    choices: Vec<ChunkChoice>,
    usage: Option<Option<Usage>>,
    trace: Option<Value>,
) -> ChatCompletionChunk {
    ChatCompletionChunk {
        id: ctx.id.clone(),
        object: "chat.completion.chunk",
        created: ctx.created,
        model: ctx.model.clone(),
        choices,
        usage,
        trace,
    }
}

fn block_delta(index: u32, delta: Value) -> Value {
    json!({"index": index, "delta": delta})
}

fn tool_index(position: usize) -> u32 {
    u32::try_from(position).unwrap_or(u32::MAX)
}

fn parse<T: DeserializeOwned>(frame: &Frame, event: &str) -> Result<T, GatewayError> {
    serde_json::from_slice(&frame.payload).map_err(|err| {
        malformed(format!(
            "Bedrock sent a {event} event that did not parse: {err}"
        ))
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn chunks_written_from_the_shared_prefix_are_serdes_bytes() {
        let ctx = StreamContext {
            id: "chatcmpl-\"quoted\"\\é".into(),
            created: 1_750_000_000,
            model: "us.anthropic.claude-sonnet-4-5\u{2028}</script>".into(),
            strict: false,
            include_usage: true,
        };
        let prefix = chunk_prefix(&ctx);
        let usage = Usage {
            prompt_tokens: 3,
            completion_tokens: 4,
            total_tokens: 7,
            ..Usage::default()
        };
        let chunks = [
            choice_chunk(
                &ctx,
                Delta {
                    role: Some("assistant"),
                    content: Some(String::new()),
                    ..Delta::default()
                },
                None,
            ),
            choice_chunk(
                &ctx,
                Delta {
                    content: Some("line\nbreak \"and\" \u{1F600}".into()),
                    ..Delta::default()
                },
                Some("stop".into()),
            ),
            chunk(&ctx, Vec::new(), Some(Some(usage)), None),
            chunk(
                &ctx,
                Vec::new(),
                None,
                Some(json!({"guardrail": {"x": [1, 2]}})),
            ),
            chunk(&ctx, Vec::new(), Some(None), None),
        ];
        for c in &chunks {
            let mut ours = Vec::new();
            write_chunk(&mut ours, &prefix, c);
            let mut serde = Vec::new();
            sse::write_data(&mut serde, c);
            assert_eq!(
                String::from_utf8(ours).unwrap(),
                String::from_utf8(serde).unwrap()
            );
        }
    }
}
