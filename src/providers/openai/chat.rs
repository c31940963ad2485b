//! `/v1/chat/completions` on OpenAI: the caller's body passed through (only fields OpenAI's chat
//! API knows: a field meant for Bedrock in a fallback list must not fail the OpenAI target), with
//! the provider's key; the JSON answer as OpenAI sent it, the stream relayed event by event.

use bytes::Bytes;
use serde_json::{Map, Value};

use crate::error::{ErrorCode, GatewayError, Result};
use crate::platform::{Platform, UpstreamRequest, UpstreamResponse};
use crate::providers::openai::errors;
use crate::providers::openai::stream::relay;
use crate::providers::openai::target::OpenAiTarget;
use crate::providers::options;
use crate::providers::{Answer, ChatCall};

/// The request fields of OpenAI's chat completions API; others are left out.
pub const OPENAI_CHAT_FIELDS: &[&str] = &[
    "messages",
    "model",
    "audio",
    "frequency_penalty",
    "function_call",
    "functions",
    "logit_bias",
    "logprobs",
    "max_completion_tokens",
    "max_tokens",
    "metadata",
    "modalities",
    "n",
    "parallel_tool_calls",
    "prediction",
    "presence_penalty",
    "prompt_cache_key",
    "reasoning_effort",
    "response_format",
    "safety_identifier",
    "seed",
    "service_tier",
    "stop",
    "store",
    "stream",
    "stream_options",
    "temperature",
    "tool_choice",
    "tools",
    "top_logprobs",
    "top_p",
    "user",
    "verbosity",
    "web_search_options",
];

/// One chat call on OpenAI.
pub async fn complete<P: Platform>(
    platform: &P,
    target: &OpenAiTarget,
    call: &ChatCall<'_>,
    mut body: Map<String, Value>,
) -> Result<Answer> {
    body.retain(|k, _| OPENAI_CHAT_FIELDS.contains(&k.as_str()));
    let stream = body.get("stream").and_then(Value::as_bool).unwrap_or(false);
    let resp = send(platform, target, call, target.chat_url(), body, stream).await?;
    if stream {
        return Ok(Answer::Stream(
            relay(resp.body.into_stream(), &target.api_key).await?,
        ));
    }
    Ok(Answer::Json(read_object(resp, "a chat completion").await?))
}

/// Sends `body` (its `model` set to the call's model id) to `url` with the provider's key; an
/// error status becomes the caller's error (the key scrubbed from it).
pub async fn send<P: Platform>(
    platform: &P,
    target: &OpenAiTarget,
    call: &ChatCall<'_>,
    url: String,
    mut body: Map<String, Value>,
    stream: bool,
) -> Result<UpstreamResponse> {
    body.insert("model".into(), Value::String(call.model_id.to_owned()));
    let accept = if stream {
        "text/event-stream"
    } else {
        "application/json"
    };
    // Forwarded headers first: the provider's own (key, organization, project) are set after them.
    let mut headers: Vec<(String, String)> = call.options.forward.clone();
    headers.extend([
        ("content-type".into(), "application/json".into()),
        ("accept".into(), accept.into()),
        ("authorization".into(), format!("Bearer {}", target.api_key)),
    ]);
    if let Some(org) = &target.organization {
        headers.push(("openai-organization".into(), org.clone()));
    }
    if let Some(project) = &target.project {
        headers.push(("openai-project".into(), project.clone()));
    }
    let encoded = serde_json::to_vec(&body)
        .map_err(|_| GatewayError::internal("could not encode the OpenAI request"))?;
    let req = UpstreamRequest {
        method: "POST",
        url,
        headers,
        body: Bytes::from(encoded),
    };
    let answered = options::send(
        platform,
        req,
        call.options.timeout,
        call.options.idle_timeout_ms,
        "OpenAI",
    )
    .await?;
    let resp = answered.map_err(|e| {
        GatewayError::bad_gateway(format!(
            "could not reach OpenAI at {}: {e}",
            target.base.authority()
        ))
    })?;
    match resp.status {
        200 => Ok(resp),
        status @ 400..=599 => {
            let body = resp
                .collect(crate::limits::MAX_UPSTREAM_SMALL_BYTES)
                .await
                .unwrap_or_default();
            Err(errors::scrub(
                errors::from_http(status, &body),
                &target.api_key,
            ))
        }
        other => Err(GatewayError::upstream_invalid_status(other)),
    }
}

/// A JSON answer's body: one object (`what` names it in the error).
pub async fn read_object(resp: UpstreamResponse, what: &str) -> Result<Value> {
    read_object_within(resp, what, crate::limits::MAX_UPSTREAM_JSON_BYTES).await
}

/// [`read_object`] with another size limit.
pub async fn read_object_within(resp: UpstreamResponse, what: &str, limit: usize) -> Result<Value> {
    let raw = resp.collect(limit).await.map_err(|e| {
        GatewayError::bad_gateway(format!(
            "the connection to OpenAI failed while reading the answer: {e}"
        ))
    })?;
    match serde_json::from_slice::<Value>(&raw) {
        Ok(value @ Value::Object(_)) => Ok(value),
        _ => Err(GatewayError::bad_gateway(format!(
            "OpenAI answered with a body that is not {what}"
        ))
        .with_code(ErrorCode::InvalidUpstreamAnswer)),
    }
}
