//! `POST /v1/messages` → Bedrock InvokeModel / InvokeModelWithResponseStream (Claude, native body),
//! and `POST /v1/messages/count_tokens` → Bedrock CountTokens. Every error is Anthropic-shaped.

use bytes::Bytes;
use serde_json::Value;

use crate::api::anthropic::{MessageTokensCount, MessagesRequest};
use crate::error::{ApiFlavor, GatewayError, Result};
use crate::gateway::target::{self, Caller, Target};
use crate::gateway::{
    cache, respond, routed, GatewayRequest, GatewayResponse, Outcome, RequestHeaders, Settings,
};
use crate::platform::Platform;
use crate::providers::bedrock::endpoint::Operation;
use crate::providers::bedrock::inference_profile::{self, ControlPlane};
use crate::providers::bedrock::invoke::{self, CountTokensRequest, CountTokensResponse};
use crate::providers::bedrock::invoke_stream::anthropic_sse;
use crate::providers::bedrock::models::{self, Family, ModelInfo};
use crate::routing::cache::{Cache, CacheScope};
use crate::routing::{self, Attempt, Facts};

use crate::gateway::upstream::{send, UpstreamOptions};

/// `POST /v1/messages`
pub async fn handle<P: Platform>(
    platform: &P,
    settings: &Settings,
    caller: &Caller,
    req: &GatewayRequest,
    outcome: &mut Outcome,
) -> GatewayResponse {
    let result = messages(platform, settings, caller, req, outcome).await;
    respond(ApiFlavor::Anthropic, result, outcome)
}

/// `POST /v1/messages/count_tokens`
pub async fn handle_count_tokens<P: Platform>(
    platform: &P,
    settings: &Settings,
    caller: &Caller,
    req: &GatewayRequest,
    outcome: &mut Outcome,
) -> GatewayResponse {
    let result = count_tokens(platform, settings, caller, req, outcome).await;
    respond(ApiFlavor::Anthropic, result, outcome)
}

/// Parses the body with errors a person can act on.
pub fn parse_request(body: &[u8]) -> Result<MessagesRequest> {
    request_from_value(parse_object(body)?)
}

/// The body as a JSON object (a config may still set fields).
fn parse_object(body: &[u8]) -> Result<Value> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| GatewayError::from_json_error("the request body", &e))?;
    if !value.is_object() {
        return Err(GatewayError::invalid_request(
            "the request body must be a JSON object",
        ));
    }
    Ok(value)
}

fn request_from_value(value: Value) -> Result<MessagesRequest> {
    let obj = value
        .as_object()
        .ok_or_else(|| GatewayError::invalid_request("the request body must be a JSON object"))?;
    if !obj.get("model").is_some_and(Value::is_string) {
        return Err(GatewayError::invalid_param(
            "model",
            "model: Field required (a Claude model id on Bedrock, or @slug/model-id)",
        ));
    }
    if !obj.get("messages").is_some_and(Value::is_array) {
        return Err(GatewayError::invalid_param(
            "messages",
            "messages: Field required (an array of messages)",
        ));
    }
    check_counts(obj)?;
    serde_json::from_value(value).map_err(|e| GatewayError::from_json_error("the request body", &e))
}

/// The native body goes to Bedrock as sent, but the same caps as on the chat route hold: tools
/// and document blocks are counted (a bounded walk over what was already parsed).
fn check_counts(obj: &serde_json::Map<String, Value>) -> Result<()> {
    use crate::limits::{MAX_DOCUMENTS, MAX_TOOLS};
    if obj
        .get("tools")
        .and_then(Value::as_array)
        .is_some_and(|t| t.len() > MAX_TOOLS)
    {
        return Err(GatewayError::invalid_param(
            "tools",
            format!("at most {MAX_TOOLS} tools may be sent in one request"),
        ));
    }
    let documents = obj
        .get("messages")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|m| m.get("content").and_then(Value::as_array))
        .flatten()
        .filter(|block| block.get("type").and_then(Value::as_str) == Some("document"))
        .count();
    if documents > MAX_DOCUMENTS {
        return Err(GatewayError::invalid_param(
            "messages",
            format!("at most {MAX_DOCUMENTS} document blocks may be sent in one request"),
        ));
    }
    Ok(())
}

/// The body with one target's overlay: its headers, and `override_params` over the fields.
fn overlaid(
    req: &GatewayRequest,
    body: &Value,
    attempt: &Attempt,
) -> Result<(RequestHeaders, MessagesRequest)> {
    let headers = routing::overlay_headers(&req.headers, attempt);
    let mut body = body.clone();
    if let Some(obj) = body.as_object_mut() {
        routing::apply_overrides(obj, attempt);
    }
    Ok((headers, request_from_value(body)?))
}

/// The request parsed, the target resolved, and the model checked to be Claude.
async fn prepare<P: Platform>(
    platform: &P,
    settings: &Settings,
    caller: &Caller,
    headers: &RequestHeaders,
    mut messages: MessagesRequest,
    outcome: &mut Outcome,
) -> Result<(MessagesRequest, Target, ModelInfo)> {
    let target = target::resolve(platform, settings, caller, headers, &messages.model).await?;
    target.apply_defaults(
        &mut messages.rest,
        &["model", "messages", "stream", "anthropic_beta"],
    );
    outcome.provider = Some(target.provider_label.clone());
    outcome.key = target.key_name.clone();
    outcome.model = Some(target.model_id.clone());
    // The model table decides (application profiles are looked up, cached); an id nobody can
    // place goes to InvokeModel, which decides.
    let plane = ControlPlane {
        region: &target.region,
        runtime: &target.base,
        auth: &target.auth,
    };
    let info = inference_profile::model_info(platform, &plane, &target.model_id).await;
    if !matches!(info.family, Family::Claude | Family::Unknown) {
        return Err(GatewayError::invalid_param(
            "model",
            format!(
                "`{}` is not a Claude model: /v1/messages serves Anthropic Claude models on Bedrock; use POST /v1/chat/completions for other models",
                target.model_id
            ),
        )
        .with_code("model_not_supported_on_route"));
    }
    Ok((messages, target, info))
}

async fn messages<P: Platform>(
    platform: &P,
    settings: &Settings,
    caller: &Caller,
    req: &GatewayRequest,
    outcome: &mut Outcome,
) -> Result<GatewayResponse> {
    let config = routing::from_request(platform.kv(), &req.headers, caller).await?;
    let body = parse_object(&req.body)?;
    let facts = Facts::new(req.headers.get("x-portkey-metadata"), &body);
    let run = routed::run(
        platform,
        config.as_ref(),
        &facts,
        async |attempt: &Attempt| {
            let (headers, messages) = overlaid(req, &body, attempt)?;
            try_target(
                platform,
                settings,
                caller,
                &headers,
                attempt.cache,
                messages,
                outcome,
            )
            .await
        },
    );
    let (result, routed) = run.await;
    outcome.routed = routed;
    result
}

/// One call through one target.
async fn try_target<P: Platform>(
    platform: &P,
    settings: &Settings,
    caller: &Caller,
    headers: &RequestHeaders,
    cache: Option<Cache>,
    messages: MessagesRequest,
    outcome: &mut Outcome,
) -> Result<GatewayResponse> {
    let (messages, target, _) =
        prepare(platform, settings, caller, headers, messages, outcome).await?;
    // A previous target's cache status says nothing about this one.
    outcome.cache = None;
    let stream = messages.stream.unwrap_or(false);
    outcome.stream = stream;
    let betas = invoke::betas(headers, &messages)?;
    let native = invoke::native_body(&messages, betas);
    // Keyed on the body Bedrock gets (betas included); streams are never cached.
    let scope = CacheScope {
        route: "messages",
        caller: &target.cache_caller(),
        provider: &target.provider_label,
        model: &target.model_id,
        strict: true,
    };
    let (entry, hit) =
        cache::open(platform, cache, stream, &scope, &native, headers, outcome).await;
    if let Some(hit) = hit {
        return Ok(hit);
    }
    let body = serde_json::to_vec(&native)
        .map_err(|_| GatewayError::internal("could not encode the Bedrock request"))?;
    let op = if stream {
        Operation::InvokeStream
    } else {
        Operation::Invoke
    };
    let opts = UpstreamOptions::from_headers(headers, settings)?;
    let upstream = send(platform, &target, &opts, op, Bytes::from(body)).await?;
    if stream {
        return Ok(GatewayResponse::sse(anthropic_sse(upstream.body).await?));
    }
    let raw = upstream
        .collect(crate::limits::MAX_UPSTREAM_JSON_BYTES)
        .await
        .map_err(|e| {
            GatewayError::bad_gateway(format!(
                "the connection to Bedrock failed while reading the answer: {e}"
            ))
        })?;
    let message = Value::Object(invoke::answer(&raw)?);
    if let Some(entry) = &entry {
        cache::store(platform, entry, &message.to_string()).await;
    }
    Ok(GatewayResponse::json(200, &message))
}

async fn count_tokens<P: Platform>(
    platform: &P,
    settings: &Settings,
    caller: &Caller,
    req: &GatewayRequest,
    outcome: &mut Outcome,
) -> Result<GatewayResponse> {
    // One attempt, through the config's first target (count_tokens is not retried).
    let config = routing::from_request(platform.kv(), &req.headers, caller).await?;
    let body = parse_object(&req.body)?;
    let attempt = match &config {
        Some(root) => {
            let facts = Facts::new(req.headers.get("x-portkey-metadata"), &body);
            let path = routing::plan::first(root, &facts, &mut routed::random_unit)?;
            outcome.routed = Some(routed::Routed {
                index: routing::plan::option_index(&path),
                retries: 0,
            });
            routing::plan::attempt(root, &path)
        }
        None => Attempt::default(),
    };
    let (headers, messages) = overlaid(req, &body, &attempt)?;
    let headers = &headers;
    let (messages, mut target, info) =
        prepare(platform, settings, caller, headers, messages, outcome).await?;
    // CountTokens takes a foundation model id: profile prefixes are stripped, and application
    // inference profiles resolved to their model (as the recorded pydantic-ai traffic shows).
    let foundation = if models::is_application_profile(&target.model_id) {
        let plane = ControlPlane {
            region: &target.region,
            runtime: &target.base,
            auth: &target.auth,
        };
        inference_profile::foundation_model_arn(platform, &plane, &target.model_id).await?
    } else {
        target.model_id.clone()
    };
    if info.family == Family::Unknown && !models::is_application_profile(&target.model_id) {
        return Err(GatewayError::invalid_param(
            "model",
            format!(
                "count_tokens needs a Claude model id (like anthropic.claude-sonnet-4-20250514-v1:0, a us./eu./apac./global. profile, or an application inference profile ARN); `{}` is none of these",
                target.model_id
            ),
        )
        .with_code("count_tokens_model_unresolved"));
    }
    target.model_id = models::foundation_model_id(&foundation);
    outcome.model = Some(target.model_id.clone());
    let betas = invoke::betas(headers, &messages)?;
    let native = invoke::count_tokens_native_body(invoke::native_body(&messages, betas));
    let body = serde_json::to_vec(&CountTokensRequest::new(&native)?)
        .map_err(|_| GatewayError::internal("could not encode the Bedrock request"))?;
    let opts = UpstreamOptions::from_headers(headers, settings)?;
    let upstream = send(
        platform,
        &target,
        &opts,
        Operation::CountTokens,
        Bytes::from(body),
    )
    .await?;
    let raw = upstream
        .collect(crate::limits::MAX_UPSTREAM_JSON_BYTES)
        .await
        .map_err(|e| {
            GatewayError::bad_gateway(format!(
                "the connection to Bedrock failed while reading the answer: {e}"
            ))
        })?;
    let counted: CountTokensResponse = serde_json::from_slice(&raw).map_err(|_| {
        GatewayError::bad_gateway("Bedrock answered with a body that is not a CountTokens answer")
            .with_code("invalid_upstream_answer")
    })?;
    let answer = serde_json::to_value(MessageTokensCount {
        input_tokens: counted.input_tokens,
    })
    .map_err(|_| GatewayError::internal("could not encode the answer"))?;
    Ok(GatewayResponse::json(200, &answer))
}
