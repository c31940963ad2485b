//! Bedrock Converse / ConverseStream → the OpenAI Responses API: the `response` object, and the
//! Responses event stream, frame by frame.
//!
//! One output item per Converse content block, in the order the blocks start:
//!
//! | Converse block | output item | streamed as |
//! | --- | --- | --- |
//! | `text` | `message` with one `output_text` part | `output_item.added`, `content_part.added`, `output_text.delta`…, `output_text.done`, `content_part.done`, `output_item.done` |
//! | `toolUse` | `function_call` (`call_id` = `toolUseId`, `arguments` = the input as JSON text) | `output_item.added`, `function_call_arguments.delta`…, `.done`, `output_item.done` |
//! | `reasoningContent` | `reasoning` (the thinking as its summary; `encrypted_content` = the signature, or `redacted:` + redacted data) | `output_item.added`, `reasoning_summary_part.added`, `reasoning_summary_text.delta`…, `.done`, `reasoning_summary_part.done`, `output_item.done` |
//!
//! Reasoning items are always in the output (as OpenAI's reasoning models return them); their
//! summary text and `encrypted_content` only when asked for ([`ResponsesContext::show_summary`],
//! [`ResponsesContext::show_encrypted`]). [`Finished::items`] keeps both (what a stored response
//! replays to Bedrock). Item ids are `<kind>_<response id's hex>_<n>`, so an `item_reference`
//! names the stored response that holds the item.
//! `stopReason` `max_tokens` / `model_context_window_exceeded` → `incomplete`
//! (`max_output_tokens`); `guardrail_intervened` / `content_filtered` → `incomplete`
//! (`content_filter`); anything else → `completed`.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::api::openai::responses::{
    IncompleteDetails, InputTokensDetails, OutputItem, OutputText, OutputTokensDetails,
    RequestEcho, ResponseError, ResponseObject, ResponseUsage, SummaryText, REDACTED_PREFIX,
};
use crate::error::{ErrorCode, GatewayError};
use crate::platform::ByteStream;
use crate::providers::bedrock::errors::{frame_event, malformed};
use crate::providers::bedrock::response::usage;
use crate::providers::bedrock::wire::{
    ContentBlockDeltaEvent, ContentBlockStartEvent, ConverseResponse, MessageStopEvent,
    MetadataEvent, TokenUsage,
};
use crate::stream::driver::{sse_stream, SseMapper, SseStream};
use crate::stream::eventstream::Frame;

/// What every answer of one request shares.
#[derive(Debug, Clone)]
pub struct ResponsesContext {
    pub id: String,
    pub created_at: u64,
    pub model: String,
    pub echo: RequestEcho,
    /// Reasoning summaries (strict compliance off, or `reasoning.summary` set).
    pub show_summary: bool,
    /// Reasoning `encrypted_content` (strict compliance off, or `include` names
    /// `reasoning.encrypted_content`).
    pub show_encrypted: bool,
}

impl ResponsesContext {
    /// The `response` object with `status`, `output` and `usage`.
    pub fn response(
        &self,
        status: &'static str,
        output: Vec<OutputItem>,
        usage: Option<ResponseUsage>,
    ) -> ResponseObject {
        ResponseObject {
            id: self.id.clone(),
            object: "response",
            created_at: self.created_at,
            status,
            error: None,
            incomplete_details: None,
            echo: self.echo.clone(),
            model: self.model.clone(),
            output,
            usage,
        }
    }

    /// The id of the `n`th output item of kind `kind` (`msg`, `fc`, `rs`).
    pub fn item_id(&self, kind: &str, n: usize) -> String {
        let hex = self.id.strip_prefix("resp_").unwrap_or(&self.id);
        format!("{kind}_{hex}_{n}")
    }

    fn shown(&self, item: &OutputItem) -> OutputItem {
        item.shown(self.show_summary, self.show_encrypted)
    }

    /// The response the caller sees.
    fn finish(
        &self,
        items: &[OutputItem],
        stop_reason: &str,
        usage: Option<ResponseUsage>,
    ) -> ResponseObject {
        let shown = items.iter().map(|i| self.shown(i)).collect();
        let (status, reason) = status_of(stop_reason);
        let mut r = self.response(status, shown, usage);
        r.incomplete_details = reason.map(|reason| IncompleteDetails { reason });
        r
    }
}

/// A finished answer: the response as the caller sees it, and every output item (reasoning
/// included) for the store.
#[derive(Debug, Clone)]
pub struct Finished {
    pub response: ResponseObject,
    pub items: Vec<OutputItem>,
    /// Bedrock's counts, as the request is priced and limited.
    pub tokens: Option<crate::usage::prices::Tokens>,
}

fn status_of(stop_reason: &str) -> (&'static str, Option<&'static str>) {
    match stop_reason {
        "max_tokens" | "model_context_window_exceeded" => ("incomplete", Some("max_output_tokens")),
        "guardrail_intervened" | "content_filtered" => ("incomplete", Some("content_filter")),
        _ => ("completed", None),
    }
}

/// Bedrock's token counts as Responses usage (through the one chat usage mapping).
pub fn response_usage(u: &TokenUsage) -> ResponseUsage {
    let chat = usage(u);
    ResponseUsage {
        input_tokens: chat.prompt_tokens,
        input_tokens_details: InputTokensDetails {
            cached_tokens: chat.prompt_tokens_details.cached_tokens,
            cache_write_tokens: chat.cache_creation_input_tokens,
        },
        output_tokens: chat.completion_tokens,
        output_tokens_details: OutputTokensDetails::default(),
        total_tokens: chat.total_tokens,
    }
}

/// A Converse answer → the finished response.
pub fn to_response(resp: ConverseResponse, ctx: &ResponsesContext) -> Finished {
    let mut items = Vec::new();
    for mut block in resp.output.message.into_iter().flat_map(|m| m.content) {
        if let Some(reasoning) = block.reasoning_content.take() {
            let (text, encrypted) = match (reasoning.reasoning_text, reasoning.redacted_content) {
                (_, Some(data)) => (None, Some(format!("{REDACTED_PREFIX}{data}"))),
                (Some(t), None) => (Some(t.text), t.signature),
                (None, None) => (None, None),
            };
            items.push(OutputItem::Reasoning {
                id: ctx.item_id("rs", items.len()),
                summary: text.map(SummaryText::new).into_iter().collect(),
                encrypted_content: encrypted,
                status: "completed",
            });
        }
        if let Some(text) = block.answer_text() {
            items.push(OutputItem::Message {
                id: ctx.item_id("msg", items.len()),
                status: "completed",
                role: "assistant",
                content: vec![OutputText::new(text)],
            });
        }
        if let Some(tool) = block.tool_use {
            items.push(OutputItem::FunctionCall {
                id: ctx.item_id("fc", items.len()),
                call_id: tool.tool_use_id,
                name: tool.name,
                arguments: tool.input.to_string(),
                status: "completed",
            });
        }
    }
    let usage = resp.usage.as_ref().map(response_usage);
    let response = ctx.finish(&items, &resp.stop_reason, usage);
    Finished {
        response,
        items,
        tokens: resp
            .usage
            .as_ref()
            .map(crate::providers::bedrock::response::tokens),
    }
}

/// What a Responses stream leaves behind when it ends: the finished answer, and the next
/// `sequence_number` (the gateway writes the final event after storing the answer).
#[derive(Debug, Default)]
pub struct StreamEnd {
    pub finished: Option<Finished>,
    pub next_sequence: u64,
}

/// ConverseStream → Responses events. The stream ends with every event but the last
/// (`response.completed` / `response.incomplete`): that one is written by the caller from
/// [`StreamEnd`] (after storing the response), with [`final_event`]. A failure ends it with
/// `response.failed` and leaves `finished` empty.
pub async fn responses_sse(
    body: ByteStream,
    ctx: ResponsesContext,
) -> Result<(SseStream, Rc<RefCell<StreamEnd>>), GatewayError> {
    let end = Rc::new(RefCell::new(StreamEnd::default()));
    let mapper = ResponsesMapper {
        ctx,
        state: State::default(),
        end: end.clone(),
    };
    Ok((sse_stream(body, mapper).await?, end))
}

/// The last event of a finished stream: `response.completed`, or `response.incomplete`.
pub fn final_event(finished: &Finished, sequence: u64) -> Vec<u8> {
    let kind = if finished.response.status == "incomplete" {
        "response.incomplete"
    } else {
        "response.completed"
    };
    let mut out = Vec::new();
    write_event(
        &mut out,
        &json!({"type": kind, "sequence_number": sequence, "response": finished.response}),
    );
    out
}

/// `event: <type>\ndata: <json>\n\n`, as OpenAI sends Responses events.
fn write_event(out: &mut Vec<u8>, event: &Value) {
    let kind = event.get("type").and_then(Value::as_str).unwrap_or("");
    crate::stream::sse::write_event(out, kind, event);
}

#[derive(Debug, Default)]
struct State {
    sequence: u64,
    started: bool,
    /// Output items in order (`output_index` = position).
    items: Vec<Building>,
    /// Bedrock `contentBlockIndex` → position in `items`.
    blocks: HashMap<u32, usize>,
    stop_reason: Option<String>,
    usage: Option<TokenUsage>,
    /// Bytes of text and arguments held so far (bounded like a JSON answer).
    held: usize,
}

#[derive(Debug)]
struct Building {
    /// The whole item (a message's one part and a reasoning item's one summary part are there
    /// from the start, empty).
    item: OutputItem,
    open: bool,
    /// A shown reasoning summary part was announced.
    summary_started: bool,
}

struct ResponsesMapper {
    ctx: ResponsesContext,
    state: State,
    end: Rc<RefCell<StreamEnd>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BlockStop {
    #[serde(default)]
    content_block_index: u32,
}

fn parse<T: DeserializeOwned>(frame: &Frame, event: &str) -> Result<T, GatewayError> {
    serde_json::from_slice(&frame.payload).map_err(|err| {
        malformed(format!(
            "Bedrock sent a {event} event that did not parse: {err}"
        ))
    })
}

/// An item as announced by `output_item.added`: in progress, its parts still empty.
fn announced(item: &OutputItem) -> OutputItem {
    match item.clone() {
        OutputItem::Message { id, role, .. } => OutputItem::Message {
            id,
            status: "in_progress",
            role,
            content: Vec::new(),
        },
        OutputItem::FunctionCall {
            id, call_id, name, ..
        } => OutputItem::FunctionCall {
            id,
            call_id,
            name,
            arguments: String::new(),
            status: "in_progress",
        },
        OutputItem::Reasoning { id, .. } => OutputItem::Reasoning {
            id,
            summary: Vec::new(),
            encrypted_content: None,
            status: "in_progress",
        },
    }
}

impl ResponsesMapper {
    fn event(&mut self, out: &mut Vec<Value>, mut event: Value) {
        if let Some(o) = event.as_object_mut() {
            o.insert("sequence_number".into(), json!(self.state.sequence));
        }
        self.state.sequence += 1;
        out.push(event);
    }

    fn start(&mut self, out: &mut Vec<Value>) {
        if self.state.started {
            return;
        }
        self.state.started = true;
        let snapshot = self.ctx.response("in_progress", Vec::new(), None);
        self.event(
            out,
            json!({"type": "response.created", "response": snapshot}),
        );
        self.event(
            out,
            json!({"type": "response.in_progress", "response": snapshot}),
        );
    }

    fn hold(&mut self, bytes: usize) -> Result<(), GatewayError> {
        self.state.held = self.state.held.saturating_add(bytes);
        if self.state.held > crate::limits::MAX_UPSTREAM_JSON_BYTES {
            return Err(GatewayError::bad_gateway(format!(
                "Bedrock's answer is larger than {} bytes, the gateway's limit for one response",
                crate::limits::MAX_UPSTREAM_JSON_BYTES
            ))
            .with_code(ErrorCode::InvalidUpstreamAnswer));
        }
        Ok(())
    }

    /// Opens the output item of `block` and announces it.
    fn open(&mut self, out: &mut Vec<Value>, block: u32, item: OutputItem) -> usize {
        let index = self.state.items.len();
        self.state.blocks.insert(block, index);
        let id = item.id().to_owned();
        self.event(
            out,
            json!({"type": "response.output_item.added", "output_index": index, "item": announced(&item)}),
        );
        if let OutputItem::Message { .. } = item {
            self.event(
                out,
                json!({"type": "response.content_part.added", "item_id": id, "output_index": index,
                    "content_index": 0, "part": OutputText::new(String::new())}),
            );
        }
        self.state.items.push(Building {
            item,
            open: true,
            summary_started: false,
        });
        index
    }

    /// The open item of `block`, opened as `make(its id)` (a `kind` id) if this is its first
    /// event.
    fn item_for(
        &mut self,
        out: &mut Vec<Value>,
        block: u32,
        kind: &str,
        make: fn(String) -> OutputItem,
    ) -> usize {
        match self.state.blocks.get(&block) {
            Some(&p) if self.state.items.get(p).is_some_and(|b| b.open) => p,
            _ => {
                let item = make(self.ctx.item_id(kind, self.state.items.len()));
                self.open(out, block, item)
            }
        }
    }

    fn close(&mut self, out: &mut Vec<Value>, index: usize) {
        let Some(b) = self.state.items.get_mut(index) else {
            return;
        };
        if !b.open {
            return;
        }
        b.open = false;
        match &mut b.item {
            OutputItem::Message { status, .. }
            | OutputItem::FunctionCall { status, .. }
            | OutputItem::Reasoning { status, .. } => *status = "completed",
        }
        if let OutputItem::FunctionCall { arguments, .. } = &mut b.item {
            if arguments.is_empty() {
                // A tool call without input deltas takes no arguments (as the JSON answer says).
                arguments.push_str("{}");
            }
        }
        let summary_started = b.summary_started;
        let item = self.ctx.shown(&b.item);
        let id = item.id().to_owned();
        match &item {
            OutputItem::Message { content, .. } => {
                let part = content
                    .first()
                    .cloned()
                    .unwrap_or_else(|| OutputText::new(String::new()));
                self.event(
                    out,
                    json!({"type": "response.output_text.done", "item_id": id, "output_index": index,
                        "content_index": 0, "text": part.text, "logprobs": []}),
                );
                self.event(
                    out,
                    json!({"type": "response.content_part.done", "item_id": id, "output_index": index,
                        "content_index": 0, "part": part}),
                );
            }
            OutputItem::FunctionCall { arguments, .. } => self.event(
                out,
                json!({"type": "response.function_call_arguments.done", "item_id": id,
                    "output_index": index, "arguments": arguments}),
            ),
            OutputItem::Reasoning { summary, .. } if summary_started => {
                let text = summary.first().map(|s| s.text.clone()).unwrap_or_default();
                self.event(
                    out,
                    json!({"type": "response.reasoning_summary_text.done", "item_id": id,
                        "output_index": index, "summary_index": 0, "text": text}),
                );
                self.event(
                    out,
                    json!({"type": "response.reasoning_summary_part.done", "item_id": id,
                        "output_index": index, "summary_index": 0, "part": SummaryText::new(text)}),
                );
            }
            OutputItem::Reasoning { .. } => {}
        }
        self.event(
            out,
            json!({"type": "response.output_item.done", "output_index": index, "item": item}),
        );
    }

    fn close_all(&mut self, out: &mut Vec<Value>) {
        for p in 0..self.state.items.len() {
            self.close(out, p);
        }
    }

    fn delta(
        &mut self,
        out: &mut Vec<Value>,
        event: ContentBlockDeltaEvent,
    ) -> Result<(), GatewayError> {
        let block = event.content_block_index;
        let delta = event.delta;
        if let Some(text) = delta.text.filter(|t| !t.is_empty()) {
            self.hold(text.len())?;
            let index = self.item_for(out, block, "msg", |id| OutputItem::Message {
                id,
                status: "in_progress",
                role: "assistant",
                content: vec![OutputText::new(String::new())],
            });
            let OutputItem::Message { id, content, .. } = &mut self.state.items[index].item else {
                return Err(mixed(block));
            };
            if let Some(part) = content.first_mut() {
                part.text.push_str(&text);
            }
            let id = id.clone();
            self.event(
                out,
                json!({"type": "response.output_text.delta", "item_id": id, "output_index": index,
                    "content_index": 0, "delta": text, "logprobs": []}),
            );
        }
        if let Some(tool) = delta.tool_use.filter(|t| !t.input.is_empty()) {
            self.hold(tool.input.len())?;
            let Some(&index) = self.state.blocks.get(&block) else {
                return Err(malformed(format!(
                    "a toolUse delta for content block {block} came without its contentBlockStart"
                )));
            };
            let OutputItem::FunctionCall { id, arguments, .. } = &mut self.state.items[index].item
            else {
                return Err(mixed(block));
            };
            arguments.push_str(&tool.input);
            let id = id.clone();
            self.event(
                out,
                json!({"type": "response.function_call_arguments.delta", "item_id": id,
                    "output_index": index, "delta": tool.input}),
            );
        }
        if let Some(r) = delta.reasoning_content {
            let held = [&r.text, &r.signature, &r.redacted_content]
                .iter()
                .map(|s| s.as_ref().map_or(0, String::len))
                .sum();
            self.hold(held)?;
            let index = self.item_for(out, block, "rs", |id| OutputItem::Reasoning {
                id,
                summary: vec![SummaryText::new(String::new())],
                encrypted_content: None,
                status: "in_progress",
            });
            let show_summary = self.ctx.show_summary;
            let b = &mut self.state.items[index];
            let OutputItem::Reasoning {
                id,
                summary,
                encrypted_content,
                ..
            } = &mut b.item
            else {
                return Err(mixed(block));
            };
            if let Some(sig) = r.signature {
                encrypted_content
                    .get_or_insert_with(String::new)
                    .push_str(&sig);
            }
            if let Some(data) = r.redacted_content {
                encrypted_content
                    .get_or_insert_with(|| REDACTED_PREFIX.to_owned())
                    .push_str(&data);
            }
            let Some(text) = r.text.filter(|t| !t.is_empty()) else {
                return Ok(());
            };
            if let Some(s) = summary.first_mut() {
                s.text.push_str(&text);
            }
            if !show_summary {
                return Ok(());
            }
            let id = id.clone();
            let first = !b.summary_started;
            b.summary_started = true;
            if first {
                self.event(
                    out,
                    json!({"type": "response.reasoning_summary_part.added", "item_id": id,
                        "output_index": index, "summary_index": 0, "part": SummaryText::new(String::new())}),
                );
            }
            self.event(
                out,
                json!({"type": "response.reasoning_summary_text.delta", "item_id": id,
                    "output_index": index, "summary_index": 0, "delta": text}),
            );
        }
        Ok(())
    }

    fn finished_answer(&self) -> Finished {
        let items: Vec<OutputItem> = self
            .state
            .items
            .iter()
            .map(|b| b.item.shown(true, true))
            .collect();
        let usage = self.state.usage.as_ref().map(response_usage);
        let stop = self.state.stop_reason.clone().unwrap_or_default();
        let response = self.ctx.finish(&items, &stop, usage);
        Finished {
            response,
            items,
            tokens: self.usage(),
        }
    }
}

fn mixed(block: u32) -> GatewayError {
    malformed(format!(
        "content block {block} mixed text, tool input and reasoning deltas"
    ))
}

impl SseMapper for ResponsesMapper {
    type Decoder = crate::stream::eventstream::FrameDecoder;
    type Item = Value;
    const UPSTREAM: &'static str = "Bedrock";
    const STOP_EVENT: &'static str = "messageStop";

    fn map_frame(&mut self, frame: &Frame) -> Result<Vec<Value>, GatewayError> {
        let Some(event) = frame_event(frame)? else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        match event {
            // Nothing is sent for messageStart: the answer starts with its first content, so an
            // exception right after it is still an HTTP error (and a config's fallback moves on).
            "messageStart" => {}
            "contentBlockStart" => {
                let event: ContentBlockStartEvent = parse(frame, "contentBlockStart")?;
                if let Some(tool) = event.start.tool_use {
                    self.start(&mut out);
                    self.hold(tool.name.len() + tool.tool_use_id.len())?;
                    let id = self.ctx.item_id("fc", self.state.items.len());
                    self.open(
                        &mut out,
                        event.content_block_index,
                        OutputItem::FunctionCall {
                            id,
                            call_id: tool.tool_use_id,
                            name: tool.name,
                            arguments: String::new(),
                            status: "in_progress",
                        },
                    );
                }
            }
            "contentBlockDelta" => {
                let event: ContentBlockDeltaEvent = parse(frame, "contentBlockDelta")?;
                self.start(&mut out);
                self.delta(&mut out, event)?;
            }
            "contentBlockStop" => {
                let event: BlockStop = parse(frame, "contentBlockStop")?;
                if let Some(&p) = self.state.blocks.get(&event.content_block_index) {
                    self.close(&mut out, p);
                }
            }
            "messageStop" => {
                let event: MessageStopEvent = parse(frame, "messageStop")?;
                self.start(&mut out);
                self.close_all(&mut out);
                self.state.stop_reason = Some(event.stop_reason);
            }
            "metadata" => {
                let event: MetadataEvent = parse(frame, "metadata")?;
                if event.usage.is_some() {
                    self.state.usage = event.usage;
                }
            }
            _ => {}
        }
        Ok(out)
    }

    fn encode(&self, events: &[Value]) -> Vec<u8> {
        let mut out = Vec::with_capacity(256 * events.len());
        for e in events {
            write_event(&mut out, e);
        }
        out
    }

    fn finished(&self) -> bool {
        self.state.stop_reason.is_some()
    }

    fn end(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        self.start(&mut out);
        self.close_all(&mut out);
        let mut end = self.end.borrow_mut();
        end.finished = Some(self.finished_answer());
        end.next_sequence = self.state.sequence;
        self.encode(&out)
    }

    fn usage(&self) -> Option<crate::usage::prices::Tokens> {
        self.state
            .usage
            .as_ref()
            .map(crate::providers::bedrock::response::tokens)
    }

    fn fail(&mut self, err: &GatewayError) -> Vec<u8> {
        let mut out = Vec::new();
        self.start(&mut out);
        let mut failed = self.finished_answer().response;
        failed.status = "failed";
        failed.incomplete_details = None;
        // A failed response is not stored.
        failed.echo.store = false;
        failed.error = Some(ResponseError::from_gateway(err));
        self.event(
            &mut out,
            json!({"type": "response.failed", "response": failed}),
        );
        self.encode(&out)
    }
}

/// What a Responses call on Bedrock answers with.
pub enum ResponsesAnswer {
    Json(Box<Finished>),
    /// Every event but the last; the last is written from the [`StreamEnd`] (see
    /// [`responses_sse`]).
    Stream(SseStream, Rc<RefCell<StreamEnd>>),
}

/// One Responses call on Bedrock: the conversation (already a chat request) to Converse or
/// ConverseStream, the answer as a `response`.
pub async fn complete<P: crate::platform::Platform>(
    platform: &P,
    settings: &crate::settings::Settings,
    target: &crate::providers::bedrock::target::BedrockTarget,
    call: &crate::providers::ChatCall<'_>,
    chat: crate::api::openai::ChatCompletionRequest,
    downloaded: &mut crate::providers::bedrock::media::Downloaded,
    ctx: ResponsesContext,
) -> Result<ResponsesAnswer, GatewayError> {
    use crate::providers::bedrock::chat::{read_converse, send_converse};
    let stream = chat.stream.unwrap_or(false);
    let upstream = send_converse(platform, settings, target, call, chat, downloaded).await?;
    if stream {
        let (sse, end) = responses_sse(upstream.body.into_stream(), ctx).await?;
        return Ok(ResponsesAnswer::Stream(sse, end));
    }
    let converse = read_converse(upstream).await?;
    Ok(ResponsesAnswer::Json(Box::new(to_response(converse, &ctx))))
}
