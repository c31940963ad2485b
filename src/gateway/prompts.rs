//! `POST /v1/prompts/{id}/completions`: a stored prompt rendered with `variables`, then exactly
//! the chat-completions flow (provider, keys, configs, streaming) on the rendered body.

use bytes::Bytes;
use serde_json::{Map, Value};

use crate::api::portkey::PortkeyHeaders;
use crate::catalog::prompts::{self, PromptTemplate};
use crate::error::{ApiFlavor, ErrorCode, GatewayError, Result};
use crate::gateway::target::Caller;
use crate::gateway::{chat, respond, GatewayRequest, GatewayResponse, Outcome, Settings};
use crate::platform::Platform;

/// The `{id}` of `/v1/prompts/{id}/completions` (or without `/v1`).
pub fn prompt_id(path: &str) -> Option<&str> {
    let path = path.trim_end_matches('/');
    let path = path.strip_prefix("/v1").unwrap_or(path);
    let id = path
        .strip_prefix("/prompts/")?
        .strip_suffix("/completions")?;
    (!id.is_empty() && !id.contains('/')).then_some(id)
}

pub async fn handle<P: Platform>(
    platform: &P,
    settings: &Settings,
    caller: &Caller,
    req: &GatewayRequest,
    headers: &PortkeyHeaders,
    outcome: &mut Outcome,
) -> GatewayResponse {
    match rendered_request(platform, caller, req, headers).await {
        Ok((rendered, headers)) => {
            chat::handle(platform, settings, caller, &rendered, &headers, outcome).await
        }
        Err(err) => {
            if err.has_code(ErrorCode::PromptRecordInvalid) {
                platform.log(
                    &serde_json::json!({"event": "prompt_record_invalid", "path": req.path, "why": err.message})
                        .to_string(),
                );
            }
            respond(ApiFlavor::OpenAi, Err(err), outcome)
        }
    }
}

/// The chat-completions request this prompt call stands for.
async fn rendered_request<P: Platform>(
    platform: &P,
    caller: &Caller,
    req: &GatewayRequest,
    headers: &PortkeyHeaders,
) -> Result<(GatewayRequest, PortkeyHeaders)> {
    let id = prompt_id(&req.path).ok_or_else(|| {
        GatewayError::not_found("no prompt id in the path").with_code(ErrorCode::PromptNotFound)
    })?;
    // Stored prompts are the operator's: only a valid gateway key reads them, so callers without
    // one learn nothing about them (not even which ids exist).
    caller.require()?;
    let body: Value = serde_json::from_slice(&req.body)
        .map_err(|e| GatewayError::from_json_error("the request body", &e))?;
    let Value::Object(body) = body else {
        return Err(GatewayError::invalid_request(
            "the request body must be a JSON object",
        ));
    };
    let template = prompts::load_prompt(platform.kv(), id).await?;
    let rendered = render_body(&template, body)?;
    let mut headers = headers.clone();
    if headers.provider.is_none() {
        headers.provider.clone_from(&template.provider);
    }
    let rendered = GatewayRequest {
        method: req.method.clone(),
        path: req.path.clone(),
        headers: req.headers.clone(),
        body: Bytes::from(Value::Object(rendered).to_string()),
        oversized: false,
    };
    Ok((rendered, headers))
}

/// The chat-completions body: the template's params, model and rendered messages, then every
/// caller field except `variables` over them. The caller's `messages` follow the template's.
pub fn render_body(
    template: &PromptTemplate,
    mut body: Map<String, Value>,
) -> Result<Map<String, Value>> {
    let variables = match body.remove("variables") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(v)) => v,
        Some(_) => {
            return Err(GatewayError::invalid_param(
                "variables",
                "variables must be an object of name → value",
            ))
        }
    };
    let mut messages = prompts::render_messages(template, &variables)?;
    match body.remove("messages") {
        None | Some(Value::Null) => {}
        Some(Value::Array(more)) => messages.extend(more),
        Some(_) => {
            return Err(GatewayError::invalid_param(
                "messages",
                "messages must be an array (they follow the prompt's messages)",
            ))
        }
    }
    let mut out = template.params.clone().unwrap_or_default();
    out.insert("model".into(), Value::String(template.model.clone()));
    out.insert("messages".into(), Value::Array(messages));
    for (k, v) in body {
        out.insert(k, v);
    }
    Ok(out)
}
