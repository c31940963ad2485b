//! OpenAI chat-completion request → Bedrock Converse request.

use base64::Engine;
use serde_json::{Map, Value};

use crate::api::openai::{
    ChatCompletionRequest, ChatMessage, ContentPart, MessageContent, ToolCall, ToolChoice,
};
use crate::error::{GatewayError, Result};
use crate::providers::bedrock::wire::{
    CachePoint, ContentBlock, ConverseRequest, ImageBlock, InferenceConfig, InputSchema,
    MediaSource, Message, ReasoningContentBlock, ReasoningText, Role, S3Location, SystemBlock,
    ToolConfig, ToolEntry, ToolResultBlock, ToolResultContent, ToolSpec, ToolUseBlock,
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

/// Maps a chat-completion request onto Converse. `model_id` is the Bedrock model id (any
/// `@slug/` prefix already removed).
pub fn to_converse(req: &ChatCompletionRequest) -> Result<ConverseRequest> {
    reject_unsupported(&req.extra)?;
    let mut out = ConverseRequest {
        inference_config: inference_config(req)?,
        ..ConverseRequest::default()
    };
    let mut turns: Vec<Message> = Vec::new();
    for (i, message) in req.messages.iter().enumerate() {
        match message {
            ChatMessage::System { content } | ChatMessage::Developer { content } => {
                out.system.extend(system_blocks(content, i)?);
            }
            ChatMessage::User { content } => {
                push_turn(&mut turns, Role::User, user_blocks(content, i)?);
            }
            ChatMessage::Assistant {
                content,
                tool_calls,
            } => {
                let mut blocks = match content {
                    Some(c) => assistant_blocks(c, i)?,
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
                    content: tool_result_content(content, i)?,
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

fn user_blocks(content: &MessageContent, i: usize) -> Result<Vec<ContentBlock>> {
    content_blocks(content, i, false)
}

fn assistant_blocks(content: &MessageContent, i: usize) -> Result<Vec<ContentBlock>> {
    content_blocks(content, i, true)
}

fn content_blocks(
    content: &MessageContent,
    i: usize,
    assistant: bool,
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
            ContentPart::File { .. } => {
                return Err(GatewayError::invalid_param(
                    &at(),
                    "file parts are not supported yet; send text or image_url parts",
                ))
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

/// Image formats Bedrock accepts, by MIME subtype.
const IMAGE_FORMATS: &[(&str, &str)] = &[
    ("image/png", "png"),
    ("image/jpeg", "jpeg"),
    ("image/jpg", "jpeg"),
    ("image/gif", "gif"),
    ("image/webp", "webp"),
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

fn image_block(image: &crate::api::openai::ImageUrl, at: &str) -> Result<ImageBlock> {
    let url = image.url.trim();
    if let Some(rest) = url.strip_prefix("data:") {
        let (meta, data) = rest.split_once(',').ok_or_else(|| {
            GatewayError::invalid_param(at, "image data URL has no `,` before its data")
        })?;
        let mime = meta.strip_suffix(";base64").ok_or_else(|| {
            GatewayError::invalid_param(
                at,
                "image data URLs must be base64 (`data:image/png;base64,...`)",
            )
        })?;
        let format = image_format(mime, at)?;
        // Validate here so the caller gets a 400 naming the part, not a Bedrock ValidationException.
        base64::engine::general_purpose::STANDARD
            .decode(data.trim())
            .map_err(|_| GatewayError::invalid_param(at, "image data URL is not valid base64"))?;
        return Ok(ImageBlock {
            format,
            source: MediaSource::Bytes(data.trim().to_owned()),
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
        "image_url must be a data: URL or an s3:// URL",
    ))
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

fn tool_result_content(content: &MessageContent, i: usize) -> Result<Vec<ToolResultContent>> {
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
                    _ => {
                        return Err(GatewayError::invalid_param(
                            &at,
                            "tool messages may contain text and image_url parts",
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
                // Converse has no "none": offer no tools. A history that holds tool blocks still
                // needs a toolConfig, so keep the specs there but the model is told not to use them
                // by their absence elsewhere.
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
        return Ok(None);
    }
    Ok(Some(ToolConfig {
        tools,
        tool_choice: choice,
    }))
}
