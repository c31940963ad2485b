//! OpenAI chat-completion request → Bedrock Converse request.

use std::collections::{HashMap, HashSet};

use base64::Engine;
use serde_json::{Map, Value};

use crate::api::openai::{
    ChatCompletionRequest, ChatMessage, ContentPart, FileData, MessageContent, ToolCall, ToolChoice,
};
use crate::error::{GatewayError, Result};
use crate::limits::{MAX_DOCUMENTS, MAX_TOOLS};
use crate::providers::bedrock::invoke::Betas;
use crate::providers::bedrock::models::{Family, ModelInfo, Reasoning, TopK};
use crate::providers::bedrock::wire::{
    CachePoint, ContentBlock, ConverseRequest, DocumentBlock, ImageBlock, InferenceConfig,
    InputSchema, JsonSchemaDefinition, MediaSource, Message, OutputConfig, ReasoningContentBlock,
    ReasoningText, Role, S3Location, SystemBlock, TextFormat, TextFormatStructure, ToolConfig,
    ToolEntry, ToolResultBlock, ToolResultContent, ToolSpec, ToolUseBlock,
};

/// Fields OpenAI defines that Bedrock cannot honour. Sending them is a 400 naming the field rather
/// than a silent drop; the predicate says which values are harmless (the OpenAI defaults).
/// Says whether a field's value is harmless.
type Harmless = fn(&Value) -> bool;

const UNSUPPORTED_FIELDS: &[(&str, Harmless)] = &[
    ("n", |v| v.is_null() || v.as_u64() == Some(1)),
    ("logprobs", |v| v.is_null() || v == &Value::Bool(false)),
    ("top_logprobs", Value::is_null),
    ("logit_bias", |v| {
        v.is_null() || v.as_object().is_some_and(Map::is_empty)
    }),
    ("presence_penalty", |v| {
        v.is_null() || v.as_f64() == Some(0.0)
    }),
    ("frequency_penalty", |v| {
        v.is_null() || v.as_f64() == Some(0.0)
    }),
    ("seed", Value::is_null),
    ("audio", Value::is_null),
    ("prediction", Value::is_null),
    ("modalities", |v| {
        v.is_null() || v == &serde_json::json!(["text"])
    }),
];

/// What the mapping needs besides the body: the model (from its id, or resolved through
/// GetInferenceProfile) and the caller's `anthropic-beta` header.
#[derive(Debug, Clone)]
pub struct MappingContext {
    /// The id the request goes to (for messages).
    pub model_id: String,
    pub model: ModelInfo,
    /// `anthropic-beta` / `x-portkey-anthropic-beta`, comma-separated.
    pub anthropic_beta_header: Option<String>,
}

impl MappingContext {
    /// A context for `model_id` read from the id alone.
    pub fn for_model(model_id: &str) -> Self {
        MappingContext {
            model_id: model_id.to_owned(),
            model: ModelInfo::from_id(model_id),
            anthropic_beta_header: None,
        }
    }
}

/// Maps a chat-completion request onto Converse. https images must already be inlined as
/// `data:` URLs (`gateway::media` does it); the mapping itself does no I/O.
pub fn to_converse(req: &ChatCompletionRequest, ctx: &MappingContext) -> Result<ConverseRequest> {
    reject_unsupported(&req.extra)?;
    let mut out = ConverseRequest {
        inference_config: inference_config(req)?,
        ..ConverseRequest::default()
    };
    let mut docs = DocumentNames::default();
    let mut turns: Vec<Message> = Vec::new();
    for (i, message) in req.messages.iter().enumerate() {
        match message {
            ChatMessage::System { content } | ChatMessage::Developer { content } => {
                out.system.extend(system_blocks(content, i)?);
            }
            ChatMessage::User { content } => {
                push_turn(
                    &mut turns,
                    Role::User,
                    content_blocks(content, i, false, &mut docs)?,
                );
            }
            ChatMessage::Assistant {
                content,
                tool_calls,
            } => {
                let mut blocks = match content {
                    Some(c) => content_blocks(c, i, true, &mut docs)?,
                    None => Vec::new(),
                };
                for (j, call) in tool_calls.iter().flatten().enumerate() {
                    blocks.push(tool_use(call, i, j)?);
                }
                push_turn(&mut turns, Role::Assistant, blocks);
            }
            ChatMessage::Tool {
                content,
                tool_call_id,
            } => {
                let block = ContentBlock::ToolResult(ToolResultBlock {
                    tool_use_id: tool_call_id.clone(),
                    content: tool_result_content(content, i, &mut docs)?,
                });
                push_turn(&mut turns, Role::User, vec![block]);
            }
        }
    }
    if turns.is_empty() {
        return Err(GatewayError::invalid_param(
            "messages",
            "messages must include at least one user, assistant or tool message",
        ));
    }
    out.messages = turns;
    out.tool_config = tool_config(req, &out.messages)?;
    out.additional_model_request_fields = additional_model_request_fields(req, ctx)?;
    out.additional_model_response_field_paths = req
        .additional_model_response_field_paths
        .clone()
        .filter(|p| !p.is_empty());
    out.guardrail_config = guardrail_config(req)?;
    out.performance_config = req.performance_config.clone().filter(|v| !v.is_null());
    out.request_metadata = request_metadata(req)?;
    out.output_config = output_config(req, ctx)?;
    // `parallel_tool_calls`: Converse has no such switch, and Claude's `disable_parallel_tool_use`
    // lives inside `tool_choice`, which Converse builds itself from `toolConfig`: there is no
    // faithful mapping. Accepted (SDKs and agent frameworks send it routinely) and not sent; the
    // caller's tool loop already handles several calls in one turn.
    let _ = req.parallel_tool_calls;
    Ok(out)
}

fn reject_unsupported(extra: &Map<String, Value>) -> Result<()> {
    for (field, harmless) in UNSUPPORTED_FIELDS {
        if let Some(value) = extra.get(*field) {
            if !harmless(value) {
                return Err(GatewayError::invalid_param(
                    field,
                    format!("`{field}` is not supported by Bedrock; remove it from the request"),
                ));
            }
        }
    }
    Ok(())
}

fn inference_config(req: &ChatCompletionRequest) -> Result<InferenceConfig> {
    Ok(InferenceConfig {
        max_tokens: req.max_completion_tokens.or(req.max_tokens),
        temperature: req.temperature,
        top_p: req.top_p,
        stop_sequences: req
            .stop
            .clone()
            .map(|s| s.into_vec())
            .filter(|v| !v.is_empty()),
    })
}

/// Bedrock wants alternating turns: a message of the same role as the previous one is merged
/// into it (consecutive tool results become one user turn).
fn push_turn(turns: &mut Vec<Message>, role: Role, blocks: Vec<ContentBlock>) {
    if blocks.is_empty() {
        return;
    }
    match turns.last_mut() {
        Some(last) if last.role == role => last.content.extend(blocks),
        _ => turns.push(Message {
            role,
            content: blocks,
        }),
    }
}

fn param(i: usize, rest: &str) -> String {
    format!("messages[{i}]{rest}")
}

fn system_blocks(content: &MessageContent, i: usize) -> Result<Vec<SystemBlock>> {
    match content {
        MessageContent::Text(t) => Ok(non_empty(t).map(SystemBlock::Text).into_iter().collect()),
        MessageContent::Parts(parts) => {
            let mut out = Vec::new();
            for (j, part) in parts.iter().enumerate() {
                match part {
                    ContentPart::Text {
                        text,
                        cache_control,
                    } => {
                        out.extend(non_empty(text).map(SystemBlock::Text));
                        if cache_control.is_some() {
                            out.push(SystemBlock::CachePoint(CachePoint::DEFAULT));
                        }
                    }
                    _ => {
                        return Err(GatewayError::invalid_param(
                            &param(i, &format!(".content[{j}]")),
                            "system and developer messages may only contain text parts",
                        ))
                    }
                }
            }
            Ok(out)
        }
    }
}

fn non_empty(text: &str) -> Option<String> {
    (!text.is_empty()).then(|| text.to_owned())
}

fn content_blocks(
    content: &MessageContent,
    i: usize,
    assistant: bool,
    docs: &mut DocumentNames,
) -> Result<Vec<ContentBlock>> {
    let parts = match content {
        MessageContent::Text(t) => {
            return Ok(non_empty(t).map(ContentBlock::Text).into_iter().collect())
        }
        MessageContent::Parts(parts) => parts,
    };
    let mut out = Vec::new();
    for (j, part) in parts.iter().enumerate() {
        let at = || param(i, &format!(".content[{j}]"));
        let cache = match part {
            ContentPart::Text {
                text,
                cache_control,
            } => {
                out.extend(non_empty(text).map(ContentBlock::Text));
                cache_control.is_some()
            }
            ContentPart::ImageUrl {
                image_url,
                cache_control,
            } => {
                out.push(ContentBlock::Image(image_block(image_url, &at())?));
                cache_control.is_some()
            }
            ContentPart::File {
                file,
                cache_control,
            } => {
                out.push(match file_block(file, &at(), docs)? {
                    Media::Image(image) => ContentBlock::Image(image),
                    Media::Document(doc) => ContentBlock::Document(doc),
                });
                cache_control.is_some()
            }
            ContentPart::Thinking {
                thinking,
                signature,
            } if assistant => {
                out.push(ContentBlock::ReasoningContent(ReasoningContentBlock {
                    reasoning_text: Some(ReasoningText {
                        text: thinking.clone(),
                        signature: signature.clone(),
                    }),
                    redacted_content: None,
                }));
                false
            }
            ContentPart::RedactedThinking { data } if assistant => {
                out.push(ContentBlock::ReasoningContent(ReasoningContentBlock {
                    reasoning_text: None,
                    redacted_content: Some(data.clone()),
                }));
                false
            }
            ContentPart::Thinking { .. } | ContentPart::RedactedThinking { .. } => {
                return Err(GatewayError::invalid_param(
                    &at(),
                    "thinking blocks are only valid in assistant messages",
                ))
            }
        };
        if cache {
            out.push(ContentBlock::CachePoint(CachePoint::DEFAULT));
        }
    }
    Ok(out)
}

/// Image formats Bedrock accepts, by MIME type.
const IMAGE_FORMATS: &[(&str, &str)] = &[
    ("image/png", "png"),
    ("image/jpeg", "jpeg"),
    ("image/jpg", "jpeg"),
    ("image/gif", "gif"),
    ("image/webp", "webp"),
];

/// Document formats Bedrock accepts, by MIME type, and the file extensions that imply them
/// (used for `s3://` files sent without `mime_type`).
const DOCUMENT_FORMATS: &[(&str, &str, &str)] = &[
    ("application/pdf", "pdf", "pdf"),
    ("text/csv", "csv", "csv"),
    ("application/msword", "doc", "doc"),
    (
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "docx",
        "docx",
    ),
    ("application/vnd.ms-excel", "xls", "xls"),
    (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "xlsx",
        "xlsx",
    ),
    ("text/html", "html", "html"),
    ("text/plain", "txt", "txt"),
    ("text/markdown", "md", "md"),
];

fn image_format(mime: &str, at: &str) -> Result<String> {
    IMAGE_FORMATS
        .iter()
        .find(|(m, _)| m.eq_ignore_ascii_case(mime.trim()))
        .map(|(_, f)| (*f).to_owned())
        .ok_or_else(|| {
            GatewayError::invalid_param(
                at,
                format!("image type `{mime}` is not supported; use png, jpeg, gif or webp"),
            )
        })
}

/// `data:<mime>;base64,<data>` → (mime, data), the data checked to be base64 so the caller gets
/// a 400 naming the part rather than a Bedrock ValidationException.
fn data_url<'a>(url: &'a str, at: &str, what: &str) -> Result<(&'a str, &'a str)> {
    let rest = url.strip_prefix("data:").unwrap_or(url);
    let (meta, data) = rest.split_once(',').ok_or_else(|| {
        GatewayError::invalid_param(at, format!("{what} data URL has no `,` before its data"))
    })?;
    let mime = meta.strip_suffix(";base64").ok_or_else(|| {
        GatewayError::invalid_param(
            at,
            format!("{what} data URLs must be base64 (`data:<type>;base64,...`)"),
        )
    })?;
    let data = data.trim();
    base64::engine::general_purpose::STANDARD
        .decode(data)
        .map_err(|_| {
            GatewayError::invalid_param(at, format!("{what} data URL is not valid base64"))
        })?;
    Ok((mime, data))
}

fn image_block(image: &crate::api::openai::ImageUrl, at: &str) -> Result<ImageBlock> {
    let url = image.url.trim();
    if url.starts_with("data:") {
        let (mime, data) = data_url(url, at, "image")?;
        return Ok(ImageBlock {
            format: image_format(mime, at)?,
            source: MediaSource::Bytes(data.to_owned()),
        });
    }
    if url.starts_with("s3://") {
        let mime = image.mime_type.as_deref().ok_or_else(|| {
            GatewayError::invalid_param(
                &format!("{at}.image_url.mime_type"),
                "image_url.mime_type is required for s3:// images (image/png, image/jpeg, image/gif or image/webp)",
            )
        })?;
        return Ok(ImageBlock {
            format: image_format(mime, at)?,
            source: MediaSource::S3Location(S3Location {
                uri: url.to_owned(),
                bucket_owner: image.bucket_owner.clone(),
            }),
        });
    }
    Err(GatewayError::invalid_param(
        at,
        "image_url must be a data: URL, an https:// URL or an s3:// URL",
    ))
}

/// A `file` part becomes an image (image MIME types) or a document.
enum Media {
    Image(ImageBlock),
    Document(DocumentBlock),
}

/// `file` parts: `file_data` as a base64 data URL (or bare base64 with `mime_type`), or an
/// `s3://` URI in `file_id` or `file_data` (`mime_type` or the key's extension gives the format).
fn file_block(file: &FileData, at: &str, docs: &mut DocumentNames) -> Result<Media> {
    let s3 = [file.file_id.as_deref(), file.file_data.as_deref()]
        .into_iter()
        .flatten()
        .map(str::trim)
        .find(|v| v.starts_with("s3://"));
    let (mime, source) = if let Some(uri) = s3 {
        let from_extension = || {
            let ext = uri.rsplit_once('.')?.1.to_ascii_lowercase();
            DOCUMENT_FORMATS
                .iter()
                .find(|(_, _, e)| *e == ext)
                .map(|(m, _, _)| (*m).to_owned())
        };
        let mime = file
            .mime_type
            .clone()
            .or_else(from_extension)
            .ok_or_else(|| {
                GatewayError::invalid_param(
                    &format!("{at}.file.mime_type"),
                    "file.mime_type is required for s3:// files whose name has no known extension",
                )
            })?;
        let source = MediaSource::S3Location(S3Location {
            uri: uri.to_owned(),
            bucket_owner: file.bucket_owner.clone(),
        });
        (mime, source)
    } else if let Some(data) = file.file_data.as_deref().map(str::trim) {
        if data.starts_with("data:") {
            let (mime, data) = data_url(data, &format!("{at}.file.file_data"), "file")?;
            (mime.to_owned(), MediaSource::Bytes(data.to_owned()))
        } else if data.starts_with("http://") || data.starts_with("https://") {
            return Err(GatewayError::invalid_param(
                &format!("{at}.file.file_data"),
                "documents are not fetched from URLs; send them base64 (`data:application/pdf;base64,...`) or as s3:// URIs",
            ));
        } else {
            let mime = file.mime_type.clone().ok_or_else(|| {
                GatewayError::invalid_param(
                    &format!("{at}.file.file_data"),
                    "file_data must be a data URL (`data:application/pdf;base64,...`), or send file.mime_type with bare base64",
                )
            })?;
            base64::engine::general_purpose::STANDARD
                .decode(data)
                .map_err(|_| {
                    GatewayError::invalid_param(
                        &format!("{at}.file.file_data"),
                        "file_data is not valid base64",
                    )
                })?;
            (mime, MediaSource::Bytes(data.to_owned()))
        }
    } else if file.file_id.is_some() {
        return Err(GatewayError::invalid_param(
            &format!("{at}.file.file_id"),
            "file_id must be an s3:// URI: Bedrock cannot read files uploaded to OpenAI",
        ));
    } else {
        return Err(GatewayError::invalid_param(
            &format!("{at}.file"),
            "a file part needs file_data (a base64 data URL) or an s3:// file_id",
        ));
    };
    let mime = mime.trim().to_ascii_lowercase();
    if mime.starts_with("image/") {
        return Ok(Media::Image(ImageBlock {
            format: image_format(&mime, at)?,
            source,
        }));
    }
    let format = DOCUMENT_FORMATS
        .iter()
        .find(|(m, _, _)| *m == mime)
        .map(|(_, f, _)| (*f).to_owned())
        .ok_or_else(|| {
            GatewayError::invalid_param(
                at,
                format!("document type `{mime}` is not supported; use pdf, csv, doc, docx, xls, xlsx, html, txt or md"),
            )
        })?;
    Ok(Media::Document(DocumentBlock {
        format,
        name: docs.name(file.filename.as_deref(), at)?,
        source,
    }))
}

/// Bedrock document names: letters, digits, single spaces, hyphens, parentheses and square
/// brackets, unique within a request. Filenames are cleaned to fit; unnamed documents are
/// `Document 1`, `Document 2`, ... Also where the document count is capped, since every document
/// is named here.
#[derive(Default)]
struct DocumentNames {
    used: HashSet<String>,
    /// Per base name, the suffix to try next: every `base (k)` below it is taken, and names are
    /// never released, so the search resumes there instead of at 2 (linear in the documents).
    next_suffix: HashMap<String, usize>,
}

impl DocumentNames {
    /// The next document's name; `at` is its part, named in the error when it is one too many.
    fn name(&mut self, filename: Option<&str>, at: &str) -> Result<String> {
        if self.used.len() >= MAX_DOCUMENTS {
            return Err(GatewayError::invalid_param(
                at,
                format!("a request may hold at most {MAX_DOCUMENTS} documents (file parts that are not images)"),
            ));
        }
        Ok(self.unique(filename))
    }

    fn unique(&mut self, filename: Option<&str>) -> String {
        let mut base = clean_filename(filename);
        if base.is_empty() {
            base = format!("Document {}", self.used.len() + 1);
        }
        let mut name = base.clone();
        if self.used.contains(&name) {
            let n = self.next_suffix.entry(base.clone()).or_insert(2);
            loop {
                name = format!("{base} ({n})");
                *n = n.saturating_add(1);
                if !self.used.contains(&name) {
                    break;
                }
            }
        }
        self.used.insert(name.clone());
        name
    }
}

/// A filename's stem with what Bedrock refuses in a name turned into single spaces; empty when
/// nothing is left.
fn clean_filename(filename: Option<&str>) -> String {
    let stem = filename
        .map(|f| match f.rsplit_once('.') {
            Some((stem, ext)) if !stem.is_empty() && ext.len() <= 5 => stem,
            _ => f,
        })
        .unwrap_or_default();
    let cleaned: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-()[]".contains(c) {
                c
            } else {
                ' '
            }
        })
        .collect();
    let mut base: String = cleaned.split_whitespace().collect::<Vec<_>>().join(" ");
    base.truncate(180);
    base
}

fn tool_use(call: &ToolCall, i: usize, j: usize) -> Result<ContentBlock> {
    let input: Value = if call.function.arguments.trim().is_empty() {
        Value::Object(Map::new())
    } else {
        serde_json::from_str(&call.function.arguments).map_err(|e| {
            GatewayError::invalid_param(
                &param(i, &format!(".tool_calls[{j}].function.arguments")),
                format!("tool call arguments must be a JSON string: {e}"),
            )
        })?
    };
    Ok(ContentBlock::ToolUse(ToolUseBlock {
        tool_use_id: call.id.clone(),
        name: call.function.name.clone(),
        input,
    }))
}

fn tool_result_content(
    content: &MessageContent,
    i: usize,
    docs: &mut DocumentNames,
) -> Result<Vec<ToolResultContent>> {
    let mut out = Vec::new();
    match content {
        MessageContent::Text(t) => out.extend(non_empty(t).map(ToolResultContent::Text)),
        MessageContent::Parts(parts) => {
            for (j, part) in parts.iter().enumerate() {
                let at = param(i, &format!(".content[{j}]"));
                match part {
                    ContentPart::Text { text, .. } => {
                        out.extend(non_empty(text).map(ToolResultContent::Text))
                    }
                    ContentPart::ImageUrl { image_url, .. } => {
                        out.push(ToolResultContent::Image(image_block(image_url, &at)?))
                    }
                    ContentPart::File { file, .. } => {
                        out.push(match file_block(file, &at, docs)? {
                            Media::Image(image) => ToolResultContent::Image(image),
                            Media::Document(doc) => ToolResultContent::Document(doc),
                        })
                    }
                    _ => {
                        return Err(GatewayError::invalid_param(
                            &at,
                            "tool messages may contain text, image_url and file parts",
                        ))
                    }
                }
            }
        }
    }
    // Bedrock rejects an empty toolResult content list; an empty result is still a result.
    if out.is_empty() {
        out.push(ToolResultContent::Text(String::new()));
    }
    Ok(out)
}

fn tool_config(req: &ChatCompletionRequest, turns: &[Message]) -> Result<Option<ToolConfig>> {
    if req.tools.as_ref().is_some_and(|t| t.len() > MAX_TOOLS) {
        return Err(GatewayError::invalid_param(
            "tools",
            format!("a request may define at most {MAX_TOOLS} tools"),
        ));
    }
    let mut tools = Vec::new();
    for (k, tool) in req.tools.iter().flatten().enumerate() {
        if tool.kind != "function" {
            return Err(GatewayError::invalid_param(
                &format!("tools[{k}].type"),
                "only function tools are supported",
            ));
        }
        tools.push(ToolEntry::ToolSpec(ToolSpec {
            name: tool.function.name.clone(),
            description: tool.function.description.clone(),
            input_schema: InputSchema {
                json: tool
                    .function
                    .parameters
                    .clone()
                    .unwrap_or_else(|| serde_json::json!({"type": "object", "properties": {}})),
            },
        }));
        if tool.cache_control.is_some() {
            tools.push(ToolEntry::CachePoint(CachePoint::DEFAULT));
        }
    }
    let history_has_tools = turns
        .iter()
        .flat_map(|m| &m.content)
        .any(|b| matches!(b, ContentBlock::ToolUse(_) | ContentBlock::ToolResult(_)));
    let choice = match &req.tool_choice {
        None => None,
        Some(ToolChoice::Mode(m)) => match m.as_str() {
            "auto" => Some(serde_json::json!({"auto": {}})),
            "required" => Some(serde_json::json!({"any": {}})),
            "none" => {
                // Converse has no "none" choice, so none means: offer no tools. But Bedrock
                // rejects a history holding tool blocks without a toolConfig; there the specs are
                // kept (with no toolChoice) and the model could still call one (README says so).
                if history_has_tools && !tools.is_empty() {
                    return Ok(Some(ToolConfig {
                        tools,
                        tool_choice: None,
                    }));
                }
                return Ok(None);
            }
            other => {
                return Err(GatewayError::invalid_param(
                    "tool_choice",
                    format!("tool_choice `{other}` is not one of auto, required, none"),
                ))
            }
        },
        Some(ToolChoice::Named { function }) => {
            Some(serde_json::json!({"tool": {"name": function.name}}))
        }
    };
    if tools.is_empty() {
        if choice.is_some() {
            return Err(GatewayError::invalid_param(
                "tool_choice",
                "tool_choice needs a non-empty tools list",
            ));
        }
        // Bedrock refuses toolUse / toolResult blocks without a toolConfig. A caller that sends
        // a tool conversation without `tools` (a summary turn, say) still gets a valid request:
        // the tools named in the history, with an open schema.
        if history_has_tools {
            return Ok(Some(ToolConfig {
                tools: history_tools(turns)?,
                tool_choice: None,
            }));
        }
        return Ok(None);
    }
    Ok(Some(ToolConfig {
        tools,
        tool_choice: choice,
    }))
}

/// One open-schema spec per tool named in the history's toolUse blocks, in first-use order (a
/// toolResult alone names no tool; Bedrock then only needs some toolConfig, so a placeholder is
/// offered). As many distinct names as `tools` may hold.
fn history_tools(turns: &[Message]) -> Result<Vec<ToolEntry>> {
    let mut seen: HashSet<&str> = HashSet::new();
    let mut names: Vec<&str> = Vec::new();
    for block in turns.iter().flat_map(|m| &m.content) {
        if let ContentBlock::ToolUse(t) = block {
            if seen.insert(&t.name) {
                if names.len() == MAX_TOOLS {
                    return Err(GatewayError::invalid_param(
                        "messages",
                        format!("the tool calls in messages name more than {MAX_TOOLS} tools; a request may use at most {MAX_TOOLS}"),
                    ));
                }
                names.push(&t.name);
            }
        }
    }
    if names.is_empty() {
        names.push("tool");
    }
    Ok(names
        .into_iter()
        .map(|name| {
            ToolEntry::ToolSpec(ToolSpec {
                name: name.to_owned(),
                description: None,
                input_schema: InputSchema {
                    json: serde_json::json!({"type": "object", "properties": {}}),
                },
            })
        })
        .collect())
}

/// `reasoning_effort` levels: the share of `max_tokens` given to a thinking budget, and the
/// effort word for models that take one. The one table for both.
const EFFORTS: &[(&str, u32, &str)] = &[
    ("minimal", 10, "low"),
    ("low", 20, "low"),
    ("medium", 50, "medium"),
    ("high", 80, "high"),
];

/// The smallest thinking budget Claude accepts; `max_tokens` must exceed it.
const MIN_THINKING_BUDGET: u32 = 1024;

/// Fields for `additionalModelRequestFields` derived from the OpenAI request, then the caller's
/// own `additionalModelRequestFields` merged over them, key by key at the top level: **the
/// caller's keys win**, so anything edgeport derives can be overridden or corrected by hand.
fn additional_model_request_fields(
    req: &ChatCompletionRequest,
    ctx: &MappingContext,
) -> Result<Option<Map<String, Value>>> {
    let mut fields = Map::new();
    // An explicit `thinking` object wins over `reasoning_effort`.
    match (&req.thinking, &req.reasoning_effort) {
        (Some(thinking), _) if !thinking.is_null() => {
            if !thinking.is_object() {
                return Err(GatewayError::invalid_param(
                    "thinking",
                    "thinking must be an object like {\"type\": \"enabled\", \"budget_tokens\": 2048} or {\"type\": \"adaptive\"}",
                ));
            }
            fields.insert("thinking".into(), thinking.clone());
        }
        (_, Some(effort)) => reasoning_fields(effort, req, ctx, &mut fields)?,
        _ => {}
    }
    if let Some(k) = req.top_k {
        match ctx.model.top_k() {
            Some(TopK::TopLevel(name)) => {
                fields.insert(name.into(), k.into());
            }
            Some(TopK::NovaInferenceConfig) => {
                fields.insert("inferenceConfig".into(), serde_json::json!({"topK": k}));
            }
            None => {
                return Err(GatewayError::invalid_param(
                    "top_k",
                    format!(
                        "top_k is not known to work with {} on Bedrock; send the model's own field in additionalModelRequestFields",
                        model_words(ctx)
                    ),
                ))
            }
        }
    }
    let betas = anthropic_betas(req, ctx)?;
    if !betas.is_empty() {
        fields.insert("anthropic_beta".into(), betas.into());
    }
    if let Some(user) = &req.additional_model_request_fields {
        for (k, v) in user {
            fields.insert(k.clone(), v.clone());
        }
    }
    Ok((!fields.is_empty()).then_some(fields))
}

/// The model, for error messages: an unresolved one says why edgeport does not know it.
fn model_words(ctx: &MappingContext) -> String {
    if ctx.model.family == Family::Unknown {
        format!(
            "`{}` (edgeport could not tell which model it is; for an application inference profile, the GetInferenceProfile look-up failed)",
            ctx.model_id
        )
    } else {
        format!("`{}`", ctx.model_id)
    }
}

fn reasoning_fields(
    effort: &str,
    req: &ChatCompletionRequest,
    ctx: &MappingContext,
    fields: &mut Map<String, Value>,
) -> Result<()> {
    let effort = effort.trim().to_ascii_lowercase();
    if effort == "none" {
        return Ok(());
    }
    let Some(&(_, percent, word)) = EFFORTS.iter().find(|(e, _, _)| *e == effort) else {
        return Err(GatewayError::invalid_param(
            "reasoning_effort",
            format!("reasoning_effort `{effort}` is not one of none, minimal, low, medium, high"),
        ));
    };
    let max_tokens = req.max_completion_tokens.or(req.max_tokens);
    let too_small = || {
        GatewayError::invalid_param(
            "max_tokens",
            format!(
                "reasoning_effort needs max_tokens above {MIN_THINKING_BUDGET} for `{}`: thinking takes at least {MIN_THINKING_BUDGET} tokens of it",
                ctx.model_id
            ),
        )
    };
    match ctx.model.reasoning() {
        Reasoning::ClaudeAdaptive => {
            if max_tokens.is_some_and(|m| m <= MIN_THINKING_BUDGET) {
                return Err(too_small());
            }
            fields.insert("thinking".into(), serde_json::json!({"type": "adaptive"}));
            fields.insert("output_config".into(), serde_json::json!({"effort": word}));
        }
        Reasoning::ClaudeBudget => {
            let max = max_tokens.ok_or_else(|| {
                GatewayError::invalid_param(
                    "max_tokens",
                    format!(
                        "reasoning_effort needs max_tokens (above {MIN_THINKING_BUDGET}) for `{}`: the thinking budget is a share of it",
                        ctx.model_id
                    ),
                )
            })?;
            if max <= MIN_THINKING_BUDGET {
                return Err(too_small());
            }
            let budget = (u64::from(max) * u64::from(percent) / 100).max(u64::from(MIN_THINKING_BUDGET));
            fields.insert(
                "thinking".into(),
                serde_json::json!({"type": "enabled", "budget_tokens": budget}),
            );
        }
        Reasoning::GptOssEffort => {
            fields.insert("reasoning_effort".into(), word.into());
        }
        Reasoning::QwenConfig => {
            let level = if percent >= 50 { "high" } else { "low" };
            fields.insert("reasoning_config".into(), level.into());
        }
        Reasoning::NovaReasoningConfig => {
            fields.insert(
                "reasoningConfig".into(),
                serde_json::json!({"type": "enabled", "maxReasoningEffort": word}),
            );
        }
        Reasoning::None => {
            return Err(GatewayError::invalid_param(
                "reasoning_effort",
                format!(
                    "{} has no reasoning setting on Bedrock that edgeport knows; remove reasoning_effort (or set it to none), or send the model's own field in additionalModelRequestFields",
                    model_words(ctx)
                ),
            ))
        }
    }
    Ok(())
}

/// `anthropic_beta` (body: a comma string or an array) and the `anthropic-beta` header, as one
/// array, for Claude. On other models the body field is a 400 and the header is ignored
/// (headers are often set once per client, for every model).
fn anthropic_betas(req: &ChatCompletionRequest, ctx: &MappingContext) -> Result<Vec<Value>> {
    let mut betas = Betas::default();
    let not_strings = || {
        GatewayError::invalid_param(
            "anthropic_beta",
            "anthropic_beta must be a string or an array of strings",
        )
    };
    match &req.anthropic_beta {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) => betas.add_csv(s, "anthropic_beta")?,
        Some(Value::Array(items)) => {
            for item in items {
                betas.add_csv(item.as_str().ok_or_else(not_strings)?, "anthropic_beta")?;
            }
        }
        Some(_) => return Err(not_strings()),
    }
    if !ctx.model.is_claude() {
        if !betas.is_empty() {
            return Err(GatewayError::invalid_param(
                "anthropic_beta",
                format!(
                    "anthropic_beta only applies to Claude models, not `{}`",
                    ctx.model_id
                ),
            ));
        }
        return Ok(Vec::new());
    }
    if let Some(h) = &ctx.anthropic_beta_header {
        betas.add_csv(h, "anthropic-beta")?;
    }
    Ok(betas.into_vec().into_iter().map(Value::String).collect())
}

/// Keys of Converse `guardrailConfig`, with the snake_case spellings callers also send.
const GUARDRAIL_KEYS: &[(&str, &str)] = &[
    ("guardrailIdentifier", "guardrail_identifier"),
    ("guardrailVersion", "guardrail_version"),
    ("trace", "trace"),
    ("streamProcessingMode", "stream_processing_mode"),
];

/// `guardrailConfig` / `guardrail_config` → Converse `guardrailConfig`. `streamProcessingMode`
/// exists only on ConverseStream: it is sent when streaming and given, dropped otherwise.
fn guardrail_config(req: &ChatCompletionRequest) -> Result<Option<Value>> {
    let Some(raw) = req.guardrail_config.as_ref().filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    let obj = raw.as_object().ok_or_else(|| {
        GatewayError::invalid_param(
            "guardrailConfig",
            "guardrailConfig must be an object {guardrailIdentifier, guardrailVersion, trace?}",
        )
    })?;
    let mut out = Map::new();
    for (key, value) in obj {
        let Some((camel, _)) = GUARDRAIL_KEYS
            .iter()
            .find(|(camel, snake)| key == camel || key == snake)
        else {
            return Err(GatewayError::invalid_param(
                &format!("guardrailConfig.{key}"),
                "unknown guardrailConfig field; Bedrock takes guardrailIdentifier, guardrailVersion, trace and streamProcessingMode",
            ));
        };
        out.insert((*camel).to_owned(), value.clone());
    }
    for required in ["guardrailIdentifier", "guardrailVersion"] {
        if !out.get(required).is_some_and(Value::is_string) {
            return Err(GatewayError::invalid_param(
                &format!("guardrailConfig.{required}"),
                format!("guardrailConfig.{required} is required (a string)"),
            ));
        }
    }
    if !req.stream.unwrap_or(false) {
        out.remove("streamProcessingMode");
    }
    Ok(Some(Value::Object(out)))
}

/// `metadata` (string values) and `user` → Converse `requestMetadata` (kept in Bedrock's
/// invocation logs). A `metadata.user` wins over `user`.
fn request_metadata(req: &ChatCompletionRequest) -> Result<Option<Map<String, Value>>> {
    let mut out = Map::new();
    if let Some(user) = req.user.as_deref().filter(|u| !u.is_empty()) {
        out.insert("user".into(), user.into());
    }
    for (k, v) in req.metadata.iter().flatten() {
        if !v.is_string() {
            return Err(GatewayError::invalid_param(
                &format!("metadata.{k}"),
                "metadata values must be strings",
            ));
        }
        out.insert(k.clone(), v.clone());
    }
    Ok((!out.is_empty()).then_some(out))
}

/// `response_format`: `json_schema` → Converse structured output (`outputConfig.textFormat`)
/// where the model supports it; `json_object` has no Bedrock equivalent (structured output
/// needs a schema) and `text` is the default.
fn output_config(
    req: &ChatCompletionRequest,
    ctx: &MappingContext,
) -> Result<Option<OutputConfig>> {
    let Some(format) = &req.response_format else {
        return Ok(None);
    };
    match format.kind.as_str() {
        "text" => Ok(None),
        "json_schema" => {
            let spec = format.json_schema.as_ref().ok_or_else(|| {
                GatewayError::invalid_param(
                    "response_format.json_schema",
                    "response_format json_schema needs a json_schema object {name, schema}",
                )
            })?;
            let schema = spec.schema.as_ref().filter(|s| s.is_object()).ok_or_else(|| {
                GatewayError::invalid_param(
                    "response_format.json_schema.schema",
                    "response_format.json_schema.schema must be a JSON schema object",
                )
            })?;
            if !ctx.model.structured_output() {
                return Err(GatewayError::invalid_param(
                    "response_format",
                    format!(
                        "`{}` does not support structured output on Bedrock (Claude 4.5 and later, and Qwen, DeepSeek, Mistral, Gemma, Nemotron, MiniMax, Kimi, GLM and gpt-oss models do); use a tool with tool_choice instead",
                        ctx.model_id
                    ),
                ));
            }
            Ok(Some(OutputConfig {
                text_format: TextFormat {
                    kind: "json_schema",
                    structure: TextFormatStructure {
                        json_schema: JsonSchemaDefinition {
                            schema: schema.to_string(),
                            name: spec.name.clone(),
                            description: spec.description.clone(),
                        },
                    },
                },
            }))
        }
        "json_object" => Err(GatewayError::invalid_param(
            "response_format",
            "response_format json_object has no Bedrock equivalent: Bedrock's structured output needs a schema; send {\"type\": \"json_schema\", \"json_schema\": {\"name\", \"schema\"}}",
        )),
        other => Err(GatewayError::invalid_param(
            "response_format",
            format!("response_format type `{other}` is not one of text, json_schema"),
        )),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    /// The naming as it was first written (a scan of every used name per candidate suffix), to
    /// show the linear version names exactly the same.
    fn naive(filenames: &[Option<&str>]) -> Vec<String> {
        let mut used: Vec<String> = Vec::new();
        for f in filenames {
            let mut base = clean_filename(*f);
            if base.is_empty() {
                base = format!("Document {}", used.len() + 1);
            }
            let mut name = base.clone();
            let mut n = 2;
            while used.contains(&name) {
                name = format!("{base} ({n})");
                n += 1;
            }
            used.push(name);
        }
        used
    }

    #[test]
    fn document_names_match_the_scan_they_replace() {
        let pattern = [
            Some("report.pdf"),
            Some("report (2).pdf"),
            None,
            Some("report.pdf"),
            Some("Document 1.txt"),
            None,
            Some("report (3)"),
            Some("report.pdf"),
            Some("a/b?c.csv"),
            Some("a b c.csv"),
        ];
        let filenames: Vec<Option<&str>> = pattern.iter().copied().cycle().take(300).collect();
        let mut docs = DocumentNames::default();
        let got: Vec<String> = filenames.iter().map(|f| docs.unique(*f)).collect();
        assert_eq!(got, naive(&filenames));
        assert_eq!(
            &got[..4],
            ["report", "report (2)", "Document 3", "report (3)"]
        );
    }

    #[test]
    fn thousands_of_same_name_documents_are_named_in_linear_time() {
        // Each name costs O(1) set look-ups; the scan this replaced did ~N³/6 string compares
        // here (10^12 for N = 20,000), which would not finish.
        let mut docs = DocumentNames::default();
        for i in 1..=20_000 {
            let name = docs.unique(Some("report.pdf"));
            if i == 1 {
                assert_eq!(name, "report");
            } else {
                assert_eq!(name, format!("report ({i})"));
            }
        }
        assert_eq!(docs.used.len(), 20_000);
    }
}
