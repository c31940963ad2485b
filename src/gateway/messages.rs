//! `POST /v1/messages` → Bedrock InvokeModel / InvokeModelWithResponseStream (Claude, native body),
//! and `POST /v1/messages/count_tokens` → Bedrock CountTokens. Every error is Anthropic-shaped.

use serde_json::Value;

use crate::api::anthropic::{MessageTokensCount, MessagesRequest};
use crate::api::portkey::PortkeyHeaders;
use crate::error::{ApiFlavor, ErrorCode, GatewayError, Result};
use crate::gateway::target::{self, Caller, Target};
use crate::gateway::{cache, respond, routed, GatewayRequest, GatewayResponse, Outcome, Settings};
use crate::platform::Platform;
use crate::providers::bedrock::messages as bedrock_messages;
use crate::providers::bedrock::models::ModelInfo;
use crate::providers::options::UpstreamOptions;
use crate::providers::{Answer, Upstream};
use crate::routing::cache::{Cache, CacheScope};
use crate::routing::{self, Attempt, Facts};

/// Anthropic's Messages API is served for Claude on Bedrock; a target of another provider is a
/// 400 (so a config's fallback moves on to the next target).
fn not_on_this_route(upstream: &Upstream) -> GatewayError {
    GatewayError::invalid_param(
        "x-portkey-provider",
        format!(
            "{} targets do not serve /v1/messages: use POST /v1/chat/completions, or a Bedrock target for Claude",
            upstream.name()
        ),
    )
    .with_code(ErrorCode::ProviderNotSupportedOnRoute)
}

/// `POST /v1/messages`
pub async fn handle<P: Platform>(
    platform: &P,
    settings: &Settings,
    caller: &Caller,
    req: &GatewayRequest,
    headers: &PortkeyHeaders,
    outcome: &mut Outcome,
) -> GatewayResponse {
    let result = messages(platform, settings, caller, req, headers, outcome).await;
    respond(ApiFlavor::Anthropic, result, outcome)
}

/// `POST /v1/messages/count_tokens`
pub async fn handle_count_tokens<P: Platform>(
    platform: &P,
    settings: &Settings,
    caller: &Caller,
    req: &GatewayRequest,
    headers: &PortkeyHeaders,
    outcome: &mut Outcome,
) -> GatewayResponse {
    let result = count_tokens(platform, settings, caller, req, headers, outcome).await;
    respond(ApiFlavor::Anthropic, result, outcome)
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
    headers: &PortkeyHeaders,
    body: &Value,
    attempt: &Attempt,
) -> Result<(PortkeyHeaders, MessagesRequest)> {
    let headers = routing::overlay_headers(headers, attempt);
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
    headers: &PortkeyHeaders,
    mut messages: MessagesRequest,
    outcome: &mut Outcome,
) -> Result<(MessagesRequest, Target, ModelInfo)> {
    let target = target::resolve(platform, settings, caller, headers, &messages.model).await?;
    target.apply_defaults(
        &mut messages.rest,
        &["model", "messages", "stream", "anthropic_beta"],
    );
    outcome.resolved(&target);
    let info = match &target.upstream {
        Upstream::Bedrock(bedrock) => {
            bedrock_messages::check_model(platform, bedrock, &target.model_id).await?
        }
        other => return Err(not_on_this_route(other)),
    };
    Ok((messages, target, info))
}

async fn messages<P: Platform>(
    platform: &P,
    settings: &Settings,
    caller: &Caller,
    req: &GatewayRequest,
    headers: &PortkeyHeaders,
    outcome: &mut Outcome,
) -> Result<GatewayResponse> {
    let config =
        routing::from_request(platform.kv(), headers, || caller.require().map(|_| ())).await?;
    let body = parse_object(&req.body)?;
    let facts = Facts::new(headers.metadata.as_deref(), &body);
    // Anthropic's end-user id.
    outcome.user = body
        .pointer("/metadata/user_id")
        .and_then(serde_json::Value::as_str)
        .map(str::to_owned);
    let run = routed::run(
        platform,
        config.as_ref(),
        &facts,
        async |attempt: &Attempt| {
            let (headers, messages) = overlaid(headers, &body, attempt)?;
            let call = Call {
                caller,
                headers: &headers,
                cache: attempt.cache,
                body_bytes: req.body.len(),
            };
            try_target(platform, settings, call, messages, outcome).await
        },
    );
    let (result, routed, attempts) = run.await;
    outcome.routed = routed;
    outcome.attempts = attempts;
    result
}

/// What one attempt brings besides the body: who calls, its headers, its cache settings and the
/// body's size (the limits' estimate).
struct Call<'a> {
    caller: &'a Caller,
    headers: &'a PortkeyHeaders,
    cache: Option<Cache>,
    body_bytes: usize,
}

/// One call through one target.
async fn try_target<P: Platform>(
    platform: &P,
    settings: &Settings,
    call: Call<'_>,
    messages: MessagesRequest,
    outcome: &mut Outcome,
) -> Result<GatewayResponse> {
    let Call {
        caller,
        headers,
        cache,
        body_bytes,
    } = call;
    let (messages, target, _) =
        prepare(platform, settings, caller, headers, messages, outcome).await?;
    // A previous target's cache status says nothing about this one.
    outcome.cache = None;
    let stream = messages.stream.unwrap_or(false);
    outcome.stream = stream;
    let Upstream::Bedrock(bedrock) = &target.upstream else {
        return Err(not_on_this_route(&target.upstream));
    };
    let native = bedrock_messages::native_body(headers, &messages)?;
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
    let max_out = messages
        .rest
        .get("max_tokens")
        .and_then(serde_json::Value::as_u64);
    crate::gateway::limits::admit_attempt(platform, outcome, &target, body_bytes, max_out).await?;
    let opts = UpstreamOptions::from_headers(headers, settings)?;
    let answer =
        bedrock_messages::invoke(platform, bedrock, &target.model_id, &opts, &native, stream)
            .await?;
    match answer {
        Answer::Stream(sse) => Ok(GatewayResponse::sse(sse)),
        Answer::Json(message) => {
            outcome.usage = crate::usage::extract::from_answer(&message);
            if let Some(entry) = &entry {
                cache::store(platform, entry, &message.to_string()).await;
            }
            Ok(GatewayResponse::json(200, &message))
        }
    }
}

async fn count_tokens<P: Platform>(
    platform: &P,
    settings: &Settings,
    caller: &Caller,
    req: &GatewayRequest,
    headers: &PortkeyHeaders,
    outcome: &mut Outcome,
) -> Result<GatewayResponse> {
    // One attempt, through the config's first target (count_tokens is not retried).
    let config =
        routing::from_request(platform.kv(), headers, || caller.require().map(|_| ())).await?;
    let body = parse_object(&req.body)?;
    let attempt = match &config {
        Some(root) => {
            let facts = Facts::new(headers.metadata.as_deref(), &body);
            let path = routing::plan::first(root, &facts, &mut routed::random_unit)?;
            outcome.routed = Some(routed::Routed {
                index: routing::plan::option_index(&path),
                retries: 0,
            });
            routing::plan::attempt(root, &path)
        }
        None => Attempt::default(),
    };
    let target = config.as_ref().map(|_| attempt.index.clone());
    let mut attempts = routed::Attempts::new();
    let once = count_once(
        platform, settings, caller, headers, &body, &attempt, outcome,
    );
    let result = routed::timed(platform, target, 0, &mut attempts, once).await;
    outcome.attempts = attempts;
    result
}

/// count_tokens through one target.
async fn count_once<P: Platform>(
    platform: &P,
    settings: &Settings,
    caller: &Caller,
    headers: &PortkeyHeaders,
    body: &serde_json::Value,
    attempt: &Attempt,
    outcome: &mut Outcome,
) -> Result<GatewayResponse> {
    let (headers, messages) = overlaid(headers, body, attempt)?;
    let headers = &headers;
    let (messages, target, info) =
        prepare(platform, settings, caller, headers, messages, outcome).await?;
    let Upstream::Bedrock(bedrock) = &target.upstream else {
        return Err(not_on_this_route(&target.upstream));
    };
    let opts = UpstreamOptions::from_headers(headers, settings)?;
    let (foundation, counted) = bedrock_messages::count_tokens(
        platform,
        bedrock,
        &target.model_id,
        &info,
        headers,
        &messages,
        &opts,
    )
    .await?;
    outcome.model = Some(foundation);
    // CountTokens is not billed: the tokens are logged, the cost is 0.
    outcome.billing = Some(crate::gateway::Billing::NotBilled);
    outcome.usage = Some(crate::usage::prices::Tokens {
        input: counted,
        ..Default::default()
    });
    let answer = serde_json::to_value(MessageTokensCount {
        input_tokens: counted,
    })
    .map_err(|_| GatewayError::internal("could not encode the answer"))?;
    Ok(GatewayResponse::json(200, &answer))
}
