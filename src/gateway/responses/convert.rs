//! A Responses API request → the chat-completions body the providers' chat mapping reads.
//!
//! Why through the chat body: the Bedrock chat mapping already turns every part a Responses
//! request can carry (text, images (data, https, s3), documents, tool calls and results,
//! thinking with its signature, structured output, reasoning effort, Bedrock's own fields) into
//! Converse, with its limits and checks; a second mapping would repeat all of it. Items become
//! chat messages here, with `input[i]` paths in every error this step finds; an error the chat
//! mapping finds later is re-pathed by [`repath`].
//!
//! | Responses | chat |
//! | --- | --- |
//! | `instructions` | a first `system` message |
//! | `input` string | one `user` message |
//! | message items (`user`/`system`/`developer`) with `input_text` / `input_image` / `input_file` | the same role with `text` / `image_url` / `file` parts |
//! | `assistant` message items (`output_text`, `refusal`), `function_call`, `reasoning` items in a row | one `assistant` message: thinking parts, text, `tool_calls` |
//! | `function_call_output` | a `tool` message |
//! | `max_output_tokens` | `max_tokens` |
//! | `text.format` (`json_schema`, `json_object`) | `response_format` |
//! | `reasoning.effort` | `reasoning_effort` |
//! | `tools` (`function`), `tool_choice` | `tools`, `tool_choice` |
//! | `temperature`, `top_p`, `stop`, `metadata`, `user`, `parallel_tool_calls` | the same |
//! | anything else (`top_k`, `thinking`, `guardrailConfig`, ...) | passed on as the chat route reads it |

use serde_json::{json, Map, Value};

use crate::api::openai::responses::{RequestEcho, REDACTED_PREFIX};
use crate::error::{ErrorCode, GatewayError, Result};

/// Responses fields this step reads (not passed on to the chat mapping).
const MAPPED: &[&str] = &[
    "model",
    "input",
    "instructions",
    "max_output_tokens",
    "temperature",
    "top_p",
    "stop",
    "stream",
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "text",
    "reasoning",
    "metadata",
    "user",
    "store",
    "previous_response_id",
    "include",
    "truncation",
    "stream_options",
    "prompt_cache_key",
    "safety_identifier",
    "service_tier",
];

type Harmless = fn(&Value) -> bool;

/// Responses features with no Bedrock equivalent: refused unless the value asks for nothing.
const REFUSED: &[(&str, Harmless, &str)] = &[
    ("background", |v| v.is_null() || v == &Value::Bool(false), "background responses are not supported: edgeport answers while the request is open"),
    ("conversation", Value::is_null, "conversations are not supported: use previous_response_id, or send the items yourself"),
    ("prompt", Value::is_null, "stored OpenAI prompts are not supported: use POST /v1/prompts/{id}/completions"),
    ("top_logprobs", |v| v.is_null() || v.as_u64() == Some(0), "Bedrock returns no log probabilities"),
    ("max_tool_calls", Value::is_null, "max_tool_calls limits built-in tools, which Bedrock cannot run"),
    ("service_tier", |v| v.is_null() || v.as_str().is_some_and(|s| s == "auto" || s == "default"), "only `auto` and `default` service tiers are served; Bedrock's latency setting is `performanceConfig`"),
];

/// Built-in tools OpenAI runs on its side; Bedrock cannot.
const BUILT_IN_TOOLS: &[&str] = &[
    "web_search",
    "web_search_preview",
    "web_search_preview_2025_03_11",
    "file_search",
    "code_interpreter",
    "computer_use",
    "computer_use_preview",
    "image_generation",
    "mcp",
    "local_shell",
    "shell",
    "apply_patch",
    "custom",
];

/// What a Responses request asks for besides the conversation.
#[derive(Debug, Clone)]
pub struct ResponsesRequest {
    pub model: String,
    pub stream: bool,
    /// `store` (default true): keep the response for `GET` and `previous_response_id`.
    pub store: bool,
    pub previous_response_id: Option<String>,
    /// `include` names `reasoning.encrypted_content` (how OpenAI clients ask for what they must
    /// send back when nothing is stored).
    pub include_encrypted: bool,
    /// `input` as a list of items (a string becomes one user message item).
    pub input: Vec<Value>,
    pub echo: RequestEcho,
}

/// `body[outer][inner]`.
fn field<'a>(body: &'a Map<String, Value>, outer: &str, inner: &str) -> Option<&'a Value> {
    body.get(outer).and_then(|v| v.get(inner))
}

fn obj<'a>(v: &'a Value, at: &str) -> Result<&'a Map<String, Value>> {
    v.as_object()
        .ok_or_else(|| GatewayError::invalid_param(at, format!("{at} must be an object")))
}

fn opt_str<'a>(o: &'a Map<String, Value>, key: &str, at: &str) -> Result<Option<&'a str>> {
    match o.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(GatewayError::invalid_param(
            &format!("{at}.{key}"),
            format!("{at}.{key} must be a string"),
        )),
    }
}

fn req_str<'a>(o: &'a Map<String, Value>, key: &str, at: &str) -> Result<&'a str> {
    opt_str(o, key, at)?.ok_or_else(|| {
        GatewayError::invalid_param(&format!("{at}.{key}"), format!("{at}.{key} is required"))
    })
}

fn opt_bool(o: &Map<String, Value>, key: &str) -> Result<Option<bool>> {
    match o.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(GatewayError::invalid_param(
            key,
            format!("{key} must be a boolean"),
        )),
    }
}

/// Reads what the request asks for (the body as a JSON object, after a config's overrides).
pub fn read(body: &Map<String, Value>) -> Result<ResponsesRequest> {
    for (field, harmless, why) in REFUSED {
        if let Some(v) = body.get(*field) {
            if !harmless(v) {
                return Err(GatewayError::invalid_param(
                    field,
                    format!("`{field}` is not supported: {why}"),
                ));
            }
        }
    }
    let model = match body.get("model") {
        Some(Value::String(m)) if !m.trim().is_empty() => m.clone(),
        _ => {
            return Err(GatewayError::invalid_param(
                "model",
                "model is required (the provider's model id, or @slug/model-id)",
            ))
        }
    };
    let input = match body.get("input") {
        Some(Value::String(s)) => vec![json!({"type": "message", "role": "user", "content": s})],
        Some(Value::Array(items)) if !items.is_empty() => items.clone(),
        Some(Value::Array(_))
            if body
                .get("previous_response_id")
                .is_some_and(Value::is_string) =>
        {
            Vec::new()
        }
        Some(Value::Array(_)) => {
            return Err(GatewayError::invalid_param(
                "input",
                "input must not be empty",
            ))
        }
        None | Some(Value::Null) => {
            return Err(GatewayError::invalid_param(
                "input",
                "input is required (a string, or a list of input items)",
            ))
        }
        Some(_) => {
            return Err(GatewayError::invalid_param(
                "input",
                "input must be a string or a list of input items",
            ))
        }
    };
    let instructions = match body.get("instructions") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => {
            return Err(GatewayError::invalid_param(
                "instructions",
                "instructions must be a string",
            ))
        }
    };
    let previous_response_id = opt_str(body, "previous_response_id", "body")
        .map_err(|_| {
            GatewayError::invalid_param(
                "previous_response_id",
                "previous_response_id must be a string",
            )
        })?
        .map(str::to_owned);
    let include = match body.get("include") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(v)) => v.iter().filter_map(Value::as_str).collect(),
        Some(_) => {
            return Err(GatewayError::invalid_param(
                "include",
                "include must be a list of strings",
            ))
        }
    };
    let truncation = match body.get("truncation") {
        None | Some(Value::Null) => "disabled".to_owned(),
        Some(Value::String(t)) if t == "disabled" || t == "auto" => t.clone(),
        Some(_) => {
            return Err(GatewayError::invalid_param(
                "truncation",
                "truncation must be `disabled` or `auto`",
            ))
        }
    };
    let number = |key: &str| body.get(key).and_then(Value::as_f64);
    let echo = RequestEcho {
        instructions,
        max_output_tokens: body.get("max_output_tokens").and_then(Value::as_u64),
        metadata: body
            .get("metadata")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default(),
        parallel_tool_calls: opt_bool(body, "parallel_tool_calls")?.unwrap_or(true),
        previous_response_id: previous_response_id.clone(),
        reasoning: json!({
            "effort": field(body, "reasoning", "effort").cloned().unwrap_or(Value::Null),
            "summary": field(body, "reasoning", "summary").cloned().unwrap_or(Value::Null),
        }),
        store: opt_bool(body, "store")?.unwrap_or(true),
        temperature: number("temperature"),
        text: match body.get("text") {
            Some(Value::Object(t)) if t.contains_key("format") => Value::Object(t.clone()),
            _ => json!({"format": {"type": "text"}}),
        },
        tool_choice: body
            .get("tool_choice")
            .filter(|v| !v.is_null())
            .cloned()
            .unwrap_or_else(|| json!("auto")),
        tools: body
            .get("tools")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default(),
        top_p: number("top_p"),
        truncation,
        user: body.get("user").and_then(Value::as_str).map(str::to_owned),
    };
    Ok(ResponsesRequest {
        model,
        stream: opt_bool(body, "stream")?.unwrap_or(false),
        store: echo.store,
        previous_response_id,
        include_encrypted: include.contains(&"reasoning.encrypted_content"),
        input,
        echo,
    })
}

/// The chat body for `req`, its conversation being `history` (a stored response's items) then
/// `req.input`. Returns it with the origin of each chat message (for [`repath`]).
pub fn to_chat(
    body: &Map<String, Value>,
    req: &ResponsesRequest,
    history: &[Value],
) -> Result<(Map<String, Value>, Vec<String>)> {
    let mut chat = Map::new();
    // Fields the chat route reads that Responses does not define (Bedrock's own, `top_k`, ...).
    for (k, v) in body {
        if !MAPPED.contains(&k.as_str()) && !REFUSED.iter().any(|(f, _, _)| f == k) {
            chat.insert(k.clone(), v.clone());
        }
    }
    chat.insert("model".into(), Value::String(req.model.clone()));
    chat.insert("stream".into(), Value::Bool(req.stream));
    if req.stream {
        chat.insert("stream_options".into(), json!({"include_usage": true}));
    }
    let mut conv = Conversation::default();
    if let Some(text) = &req.echo.instructions {
        conv.push(json!({"role": "system", "content": text}), "instructions");
    }
    for (i, item) in history.iter().enumerate() {
        conv.item(item, &format!("the stored conversation's item {i}"))?;
    }
    for (i, item) in req.input.iter().enumerate() {
        conv.item(item, &format!("input[{i}]"))?;
    }
    conv.flush();
    chat.insert("messages".into(), Value::Array(conv.messages));
    if let Some(n) = body.get("max_output_tokens").filter(|v| !v.is_null()) {
        chat.insert("max_tokens".into(), n.clone());
    }
    for key in [
        "temperature",
        "top_p",
        "stop",
        "metadata",
        "user",
        "parallel_tool_calls",
    ] {
        if let Some(v) = body.get(key).filter(|v| !v.is_null()) {
            chat.insert(key.into(), v.clone());
        }
    }
    if let Some(format) = field(body, "text", "format").filter(|v| !v.is_null()) {
        if let Some(rf) = response_format(format)? {
            chat.insert("response_format".into(), rf);
        }
    }
    match body.get("reasoning") {
        None | Some(Value::Null) => {}
        Some(Value::Object(r)) => {
            if let Some(effort) = r.get("effort").filter(|v| !v.is_null()) {
                chat.insert("reasoning_effort".into(), effort.clone());
            }
        }
        Some(_) => {
            return Err(GatewayError::invalid_param(
                "reasoning",
                "reasoning must be an object",
            ))
        }
    }
    if let Some(tools) = body.get("tools").filter(|v| !v.is_null()) {
        let tools = tools
            .as_array()
            .ok_or_else(|| GatewayError::invalid_param("tools", "tools must be a list"))?;
        let mapped = tools
            .iter()
            .enumerate()
            .map(|(i, t)| tool(t, i))
            .collect::<Result<Vec<_>>>()?;
        if !mapped.is_empty() {
            chat.insert("tools".into(), Value::Array(mapped));
        }
    }
    if let Some(choice) = body.get("tool_choice").filter(|v| !v.is_null()) {
        chat.insert("tool_choice".into(), tool_choice(choice)?);
    }
    Ok((chat, conv.origins))
}

/// `text.format` → `response_format`.
fn response_format(format: &Value) -> Result<Option<Value>> {
    let f = obj(format, "text.format")?;
    match opt_str(f, "type", "text.format")? {
        None | Some("text") => Ok(None),
        Some("json_object") => Ok(Some(json!({"type": "json_object"}))),
        Some("json_schema") => {
            let mut schema = Map::new();
            for key in ["name", "schema", "description", "strict"] {
                if let Some(v) = f.get(key) {
                    schema.insert(key.into(), v.clone());
                }
            }
            if !f.get("schema").is_some_and(Value::is_object) {
                return Err(GatewayError::invalid_param(
                    "text.format.schema",
                    "text.format.schema must be a JSON Schema object",
                ));
            }
            Ok(Some(json!({"type": "json_schema", "json_schema": schema})))
        }
        Some(other) => Err(GatewayError::invalid_param(
            "text.format.type",
            format!(
                "text.format.type `{other}` is not supported: use text, json_object or json_schema"
            ),
        )),
    }
}

/// One Responses tool → a chat tool. Built-in tools are refused by name.
fn tool(t: &Value, i: usize) -> Result<Value> {
    let at = format!("tools[{i}]");
    let o = obj(t, &at)?;
    let kind = req_str(o, "type", &at)?;
    if kind != "function" {
        let why = if BUILT_IN_TOOLS.contains(&kind) {
            format!("`{kind}` is a built-in tool that OpenAI runs on its side; Bedrock cannot run it: define a `function` tool and run it in your application")
        } else {
            format!("tool type `{kind}` is not supported: only `function` tools are served")
        };
        return Err(GatewayError::invalid_param(&at, why).with_code(ErrorCode::UnsupportedTool));
    }
    let name = req_str(o, "name", &at)?;
    let mut function = Map::new();
    function.insert("name".into(), Value::String(name.to_owned()));
    if let Some(d) = opt_str(o, "description", &at)? {
        function.insert("description".into(), Value::String(d.to_owned()));
    }
    if let Some(p) = o.get("parameters").filter(|v| !v.is_null()) {
        function.insert("parameters".into(), p.clone());
    }
    let mut out = json!({"type": "function", "function": function});
    if let (Some(cc), Some(m)) = (o.get("cache_control"), out.as_object_mut()) {
        m.insert("cache_control".into(), cc.clone());
    }
    Ok(out)
}

fn tool_choice(choice: &Value) -> Result<Value> {
    match choice {
        Value::String(s) if matches!(s.as_str(), "auto" | "none" | "required") => Ok(choice.clone()),
        Value::Object(o) => match opt_str(o, "type", "tool_choice")? {
            Some("function") => {
                let name = req_str(o, "name", "tool_choice")?;
                Ok(json!({"type": "function", "function": {"name": name}}))
            }
            Some(other) => Err(GatewayError::invalid_param(
                "tool_choice",
                format!("tool_choice type `{other}` is not supported: use auto, none, required or {{\"type\": \"function\", \"name\": ...}}"),
            )),
            None => Err(GatewayError::invalid_param(
                "tool_choice.type",
                "tool_choice.type is required",
            )),
        },
        _ => Err(GatewayError::invalid_param(
            "tool_choice",
            "tool_choice must be auto, none, required or {\"type\": \"function\", \"name\": ...}",
        )),
    }
}

/// Chat messages being built from items; an assistant turn gathers consecutive assistant
/// messages, function calls and reasoning items.
#[derive(Default)]
struct Conversation {
    messages: Vec<Value>,
    origins: Vec<String>,
    assistant: Option<Assistant>,
}

struct Assistant {
    parts: Vec<Value>,
    tool_calls: Vec<Value>,
    origin: String,
}

impl Conversation {
    fn push(&mut self, message: Value, origin: &str) {
        self.flush();
        self.messages.push(message);
        self.origins.push(origin.to_owned());
    }

    fn assistant(&mut self, origin: &str) -> &mut Assistant {
        self.assistant.get_or_insert_with(|| Assistant {
            parts: Vec::new(),
            tool_calls: Vec::new(),
            origin: origin.to_owned(),
        })
    }

    fn flush(&mut self) {
        if let Some(a) = self.assistant.take() {
            let mut m = Map::new();
            m.insert("role".into(), json!("assistant"));
            m.insert(
                "content".into(),
                if a.parts.is_empty() {
                    Value::Null
                } else {
                    Value::Array(a.parts)
                },
            );
            if !a.tool_calls.is_empty() {
                m.insert("tool_calls".into(), Value::Array(a.tool_calls));
            }
            self.messages.push(Value::Object(m));
            self.origins.push(a.origin);
        }
    }

    fn item(&mut self, item: &Value, at: &str) -> Result<()> {
        let o = obj(item, at)?;
        match opt_str(o, "type", at)? {
            None | Some("message") => self.message(o, at),
            Some("function_call") => {
                let call = json!({
                    "id": req_str(o, "call_id", at)?,
                    "type": "function",
                    "function": {
                        "name": req_str(o, "name", at)?,
                        "arguments": req_str(o, "arguments", at)?,
                    },
                });
                self.assistant(at).tool_calls.push(call);
                Ok(())
            }
            Some("function_call_output") => {
                let call_id = req_str(o, "call_id", at)?;
                let content = match o.get("output") {
                    Some(Value::String(s)) => Value::String(s.clone()),
                    Some(Value::Array(parts)) => {
                        Value::Array(input_parts(parts, &format!("{at}.output"))?)
                    }
                    _ => {
                        return Err(GatewayError::invalid_param(
                            &format!("{at}.output"),
                            format!("{at}.output must be a string or a list of input parts"),
                        ))
                    }
                };
                self.push(
                    json!({"role": "tool", "tool_call_id": call_id, "content": content}),
                    at,
                );
                Ok(())
            }
            Some("reasoning") => {
                // Bedrock accepts earlier thinking back only with its signature: a reasoning item
                // without one (another provider's) has nothing Bedrock can verify and is left out.
                let Some(encrypted) = opt_str(o, "encrypted_content", at)? else {
                    return Ok(());
                };
                let part = if let Some(data) = encrypted.strip_prefix(REDACTED_PREFIX) {
                    json!({"type": "redacted_thinking", "data": data})
                } else {
                    json!({"type": "thinking", "thinking": reasoning_text(o), "signature": encrypted})
                };
                self.assistant(at).parts.push(part);
                Ok(())
            }
            Some("item_reference") => Err(GatewayError::invalid_param(
                at,
                format!("{at}: item_reference is not supported; send the item itself, or continue with previous_response_id"),
            )),
            Some(other) => Err(GatewayError::invalid_param(
                &format!("{at}.type"),
                format!("{at}: input item type `{other}` is not supported (message, function_call, function_call_output and reasoning are)"),
            )),
        }
    }

    fn message(&mut self, o: &Map<String, Value>, at: &str) -> Result<()> {
        let role = req_str(o, "role", at)?;
        match role {
            "user" | "system" | "developer" => {
                let content = match o.get("content") {
                    Some(Value::String(s)) => Value::String(s.clone()),
                    Some(Value::Array(parts)) => {
                        Value::Array(input_parts(parts, &format!("{at}.content"))?)
                    }
                    _ => return Err(content_error(at)),
                };
                self.push(json!({"role": role, "content": content}), at);
                Ok(())
            }
            "assistant" => {
                let texts: Vec<Value> = match o.get("content") {
                    Some(Value::String(s)) => vec![json!({"type": "text", "text": s})],
                    Some(Value::Array(parts)) => parts
                        .iter()
                        .enumerate()
                        .map(|(j, p)| output_part(p, &format!("{at}.content[{j}]")))
                        .collect::<Result<_>>()?,
                    _ => return Err(content_error(at)),
                };
                self.assistant(at).parts.extend(texts);
                Ok(())
            }
            other => Err(GatewayError::invalid_param(
                &format!("{at}.role"),
                format!(
                    "{at}.role `{other}` is not supported (user, system, developer, assistant)"
                ),
            )),
        }
    }
}

fn content_error(at: &str) -> GatewayError {
    GatewayError::invalid_param(
        &format!("{at}.content"),
        format!("{at}.content must be a string or a list of content parts"),
    )
}

/// A reasoning item's text: its `content` (`reasoning_text`) parts, else its summary.
fn reasoning_text(o: &Map<String, Value>) -> String {
    let texts = |key: &str| -> Vec<String> {
        o.get(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|p| p.get("text").and_then(Value::as_str).map(str::to_owned))
            .collect()
    };
    let content = texts("content");
    if content.is_empty() {
        texts("summary").join("\n\n")
    } else {
        content.concat()
    }
}

/// An assistant message's part: `output_text` or `refusal`, as text.
fn output_part(p: &Value, at: &str) -> Result<Value> {
    let o = obj(p, at)?;
    match opt_str(o, "type", at)? {
        Some("output_text") | Some("input_text") | Some("text") => {
            Ok(json!({"type": "text", "text": req_str(o, "text", at)?}))
        }
        Some("refusal") => Ok(json!({"type": "text", "text": req_str(o, "refusal", at)?})),
        _ => Err(GatewayError::invalid_param(
            &format!("{at}.type"),
            format!("{at}: an assistant message's parts must be output_text or refusal"),
        )),
    }
}

/// `input_text` / `input_image` / `input_file` parts → chat parts.
fn input_parts(parts: &[Value], at: &str) -> Result<Vec<Value>> {
    parts
        .iter()
        .enumerate()
        .map(|(j, p)| input_part(p, &format!("{at}[{j}]")))
        .collect()
}

fn input_part(p: &Value, at: &str) -> Result<Value> {
    let o = obj(p, at)?;
    let mut part = match req_str(o, "type", at)? {
        "input_text" => json!({"type": "text", "text": req_str(o, "text", at)?}),
        "input_image" => {
            if o.get("file_id").is_some_and(|v| !v.is_null()) && o.get("image_url").is_none() {
                return Err(GatewayError::invalid_param(
                    &format!("{at}.file_id"),
                    "input_image.file_id is not supported: Bedrock cannot read files uploaded to OpenAI; send image_url (a data URL, https or s3:// URL)",
                ));
            }
            let url = match o.get("image_url") {
                Some(Value::String(u)) => u.clone(),
                Some(Value::Object(u)) => req_str(u, "url", &format!("{at}.image_url"))?.to_owned(),
                _ => {
                    return Err(GatewayError::invalid_param(
                        &format!("{at}.image_url"),
                        format!("{at}.image_url is required (a data URL, https or s3:// URL)"),
                    ))
                }
            };
            let mut image = Map::new();
            image.insert("url".into(), Value::String(url));
            for key in ["detail", "mime_type", "format", "bucket_owner"] {
                if let Some(v) = o.get(key).filter(|v| !v.is_null()) {
                    image.insert(key.into(), v.clone());
                }
            }
            json!({"type": "image_url", "image_url": image})
        }
        "input_file" => {
            let mut file = Map::new();
            if let Some(data) = opt_str(o, "file_data", at)? {
                file.insert("file_data".into(), Value::String(data.to_owned()));
            }
            match (opt_str(o, "file_url", at)?, opt_str(o, "file_id", at)?) {
                (Some(url), _) if url.starts_with("s3://") => {
                    file.insert("file_id".into(), Value::String(url.to_owned()));
                }
                (Some(_), _) => {
                    return Err(GatewayError::invalid_param(
                        &format!("{at}.file_url"),
                        "input_file.file_url must be an s3:// URI (other URLs are not downloaded); or send file_data as a base64 data URL",
                    ))
                }
                (None, Some(id)) => {
                    file.insert("file_id".into(), Value::String(id.to_owned()));
                }
                (None, None) => {}
            }
            for key in ["filename", "mime_type", "bucket_owner"] {
                if let Some(v) = o.get(key).filter(|v| !v.is_null()) {
                    file.insert(key.into(), v.clone());
                }
            }
            json!({"type": "file", "file": file})
        }
        other => {
            return Err(GatewayError::invalid_param(
                &format!("{at}.type"),
                format!("{at}: content part type `{other}` is not supported (input_text, input_image, input_file)"),
            ))
        }
    };
    if let (Some(cc), Some(m)) = (o.get("cache_control"), part.as_object_mut()) {
        m.insert("cache_control".into(), cc.clone());
    }
    Ok(part)
}

/// An error the chat mapping raised about `messages[i]...` → the Responses item it came from.
pub fn repath(mut err: GatewayError, origins: &[String]) -> GatewayError {
    let Some(param) = err.param.clone() else {
        return err;
    };
    let Some(rest) = param.strip_prefix("messages[") else {
        return err;
    };
    let Some((index, tail)) = rest.split_once(']') else {
        return err;
    };
    let Some(origin) = index.parse::<usize>().ok().and_then(|i| origins.get(i)) else {
        return err;
    };
    let chat_path = format!("messages[{index}]");
    err.message = err.message.replace(&chat_path, origin);
    err.param = Some(format!("{origin}{tail}"));
    err
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    fn chat(body: Value) -> Result<Value> {
        let body = map(body);
        let req = read(&body)?;
        to_chat(&body, &req, &[]).map(|(c, _)| Value::Object(c))
    }

    #[test]
    fn a_string_input_with_instructions() {
        let c = chat(json!({"model": "m", "input": "hi", "instructions": "be brief", "max_output_tokens": 20})).unwrap();
        assert_eq!(
            c["messages"],
            json!([{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}])
        );
        assert_eq!(c["max_tokens"], 20);
        assert_eq!(c["stream"], false);
    }

    #[test]
    fn an_assistant_turn_gathers_reasoning_text_and_calls() {
        let c = chat(json!({"model": "m", "input": [
            {"role": "user", "content": [{"type": "input_text", "text": "weather?"}]},
            {"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": "think"}], "encrypted_content": "sig"},
            {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "let me look", "annotations": []}]},
            {"type": "function_call", "call_id": "c1", "name": "get", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "c1", "output": "sunny"},
        ]}))
        .unwrap();
        assert_eq!(
            c["messages"],
            json!([
                {"role": "user", "content": [{"type": "text", "text": "weather?"}]},
                {"role": "assistant", "content": [
                    {"type": "thinking", "thinking": "think", "signature": "sig"},
                    {"type": "text", "text": "let me look"}],
                 "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "get", "arguments": "{}"}}]},
                {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
            ])
        );
    }

    #[test]
    fn redacted_reasoning_and_reasoning_without_a_signature() {
        let c = chat(json!({"model": "m", "input": [
            {"role": "user", "content": "q"},
            {"type": "reasoning", "summary": [], "encrypted_content": "redacted:abc"},
            {"type": "reasoning", "summary": [{"type": "summary_text", "text": "foreign"}]},
            {"role": "assistant", "content": "a"},
        ]}))
        .unwrap();
        assert_eq!(
            c["messages"][1]["content"],
            json!([{"type": "redacted_thinking", "data": "abc"}, {"type": "text", "text": "a"}])
        );
    }

    #[test]
    fn tools_formats_and_effort() {
        let c = chat(json!({"model": "m", "input": "x",
            "tools": [{"type": "function", "name": "f", "description": "d", "parameters": {"type": "object"}, "strict": true}],
            "tool_choice": {"type": "function", "name": "f"},
            "text": {"format": {"type": "json_schema", "name": "s", "schema": {"type": "object"}, "strict": true}},
            "reasoning": {"effort": "low", "summary": "auto"}}))
        .unwrap();
        assert_eq!(
            c["tools"],
            json!([{"type": "function", "function": {"name": "f", "description": "d", "parameters": {"type": "object"}}}])
        );
        assert_eq!(
            c["tool_choice"],
            json!({"type": "function", "function": {"name": "f"}})
        );
        assert_eq!(
            c["response_format"],
            json!({"type": "json_schema", "json_schema": {"name": "s", "schema": {"type": "object"}, "strict": true}})
        );
        assert_eq!(c["reasoning_effort"], "low");
    }

    #[test]
    fn built_in_tools_are_refused_by_name() {
        for kind in [
            "web_search",
            "file_search",
            "code_interpreter",
            "computer_use_preview",
        ] {
            let err = chat(json!({"model": "m", "input": "x", "tools": [{"type": "function", "name": "f"}, {"type": kind}]})).unwrap_err();
            assert_eq!(err.status, 400);
            assert_eq!(err.param.as_deref(), Some("tools[1]"));
            assert!(err.message.contains(kind), "{}", err.message);
            assert!(err.has_code(ErrorCode::UnsupportedTool));
        }
    }

    #[test]
    fn refused_fields_and_bad_items_name_their_path() {
        let err = chat(json!({"model": "m", "input": "x", "background": true})).unwrap_err();
        assert_eq!(err.param.as_deref(), Some("background"));
        let err = chat(json!({"model": "m", "input": [{"role": "user", "content": [{"type": "input_audio"}]}]})).unwrap_err();
        assert_eq!(err.param.as_deref(), Some("input[0].content[0].type"));
        let err = chat(json!({"model": "m", "input": [{"type": "item_reference", "id": "x"}]}))
            .unwrap_err();
        assert_eq!(err.param.as_deref(), Some("input[0]"));
        let err = chat(json!({"model": "m", "input": []})).unwrap_err();
        assert_eq!(err.param.as_deref(), Some("input"));
        let err = chat(json!({"model": "m", "input": "x", "store": "yes"})).unwrap_err();
        assert_eq!(err.param.as_deref(), Some("store"));
    }

    #[test]
    fn history_comes_before_the_input_and_errors_are_repathed() {
        let body = map(
            json!({"model": "m", "input": [{"role": "user", "content": "second"}], "previous_response_id": "resp_1"}),
        );
        let req = read(&body).unwrap();
        let history = vec![
            json!({"type": "message", "role": "user", "content": "first"}),
            json!({"type": "message", "id": "msg_1", "status": "completed", "role": "assistant", "content": [{"type": "output_text", "text": "one", "annotations": [], "logprobs": []}]}),
        ];
        let (c, origins) = to_chat(&body, &req, &history).unwrap();
        assert_eq!(
            Value::Object(c)["messages"],
            json!([{"role": "user", "content": "first"}, {"role": "assistant", "content": [{"type": "text", "text": "one"}]}, {"role": "user", "content": "second"}])
        );
        let err = GatewayError::invalid_param(
            "messages[2].content[0].image_url",
            "messages[2].content[0].image_url is bad",
        );
        let err = repath(err, &origins);
        assert_eq!(err.param.as_deref(), Some("input[0].content[0].image_url"));
        assert_eq!(err.message, "input[0].content[0].image_url is bad");
    }
}
