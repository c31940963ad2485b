//! `POST /v1/chat/completions` → Bedrock Converse / ConverseStream.

use bytes::Bytes;
use serde_json::Value;

use crate::api::openai::{ChatCompletionRequest, ChatMessage};
use crate::error::{ApiFlavor, GatewayError, Result};
use crate::gateway::target::Caller;
use crate::gateway::upstream::{send, UpstreamOptions};
use crate::gateway::{cache, routed, target};
use crate::gateway::{
    media, random_id, respond, GatewayRequest, GatewayResponse, Outcome, RequestHeaders, Settings,
};
use crate::platform::Platform;
use crate::providers::bedrock::endpoint::Operation;
use crate::providers::bedrock::inference_profile::{self, ControlPlane};
use crate::providers::bedrock::request::MappingContext;
use crate::providers::bedrock::response::{to_chat_completion, AnswerContext};
use crate::providers::bedrock::stream::{openai_sse, StreamContext};
use crate::providers::bedrock::wire::ConverseResponse;
use crate::providers::bedrock::{request, s3};
use crate::routing::cache::CacheScope;
use crate::routing::{self, Attempt, Facts};

pub async fn handle<P: Platform>(
    platform: &P,
    settings: &Settings,
    caller: &Caller,
    req: &GatewayRequest,
    outcome: &mut Outcome,
) -> GatewayResponse {
    let result = run(platform, settings, caller, req, outcome).await;
    respond(ApiFlavor::OpenAi, result, outcome)
}

/// Parses the body with errors a person can act on: bad JSON, a missing or non-array `messages`,
/// a missing `model`.
pub fn parse_body(body: &[u8]) -> Result<Value> {
    let value = parse_object(body)?;
    check_body(&value)?;
    Ok(value)
}

/// The body as a JSON object (nothing else checked yet: a config may still set fields).
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

fn check_body(value: &Value) -> Result<()> {
    let obj = value
        .as_object()
        .ok_or_else(|| GatewayError::invalid_request("the request body must be a JSON object"))?;
    match obj.get("messages") {
        Some(Value::Array(m)) if !m.is_empty() => {}
        Some(Value::Array(_)) => {
            return Err(GatewayError::invalid_param(
                "messages",
                "messages must not be empty",
            ))
        }
        Some(_) => {
            return Err(GatewayError::invalid_param(
                "messages",
                "messages must be an array",
            ))
        }
        None => {
            return Err(GatewayError::invalid_param(
                "messages",
                "messages is required",
            ))
        }
    }
    if !obj.get("model").is_some_and(Value::is_string) {
        return Err(GatewayError::invalid_param(
            "model",
            "model is required (a Bedrock model id, or @slug/model-id)",
        ));
    }
    Ok(())
}

async fn run<P: Platform>(
    platform: &P,
    settings: &Settings,
    caller: &Caller,
    req: &GatewayRequest,
    outcome: &mut Outcome,
) -> Result<GatewayResponse> {
    let config = routing::from_request(platform.kv(), &req.headers, caller).await?;
    let body = parse_object(&req.body)?;
    let facts = Facts::new(req.headers.get("x-portkey-metadata"), &body);
    // https images are downloaded once, not once per target.
    let mut inlined: Option<Vec<ChatMessage>> = None;
    let run = routed::run(
        platform,
        config.as_ref(),
        &facts,
        async |attempt: &Attempt| {
            let headers = routing::overlay_headers(&req.headers, attempt);
            let mut body = body.clone();
            if let Some(obj) = body.as_object_mut() {
                routing::apply_overrides(obj, attempt);
            }
            let call = Call {
                caller,
                headers: &headers,
                cache: attempt.cache,
            };
            try_target(platform, settings, &call, body, &mut inlined, outcome).await
        },
    );
    let (result, routed) = run.await;
    outcome.routed = routed;
    result
}

/// One target's view of the request: its headers, and its cache settings.
struct Call<'a> {
    caller: &'a Caller,
    headers: &'a RequestHeaders,
    cache: Option<routing::cache::Cache>,
}

/// One call through one target: resolve, (look in the cache,) map, send, (store,) answer.
async fn try_target<P: Platform>(
    platform: &P,
    settings: &Settings,
    call: &Call<'_>,
    mut body: Value,
    inlined: &mut Option<Vec<ChatMessage>>,
    outcome: &mut Outcome,
) -> Result<GatewayResponse> {
    check_body(&body)?;
    let model = body
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let headers = call.headers;
    // A previous target's cache status says nothing about this one.
    outcome.cache = None;
    let target = target::resolve(platform, settings, call.caller, headers, &model).await?;
    if let Some(obj) = body.as_object_mut() {
        target.apply_defaults(obj, &["model", "messages"]);
    }
    let strict = headers.strict_compliance();
    // Keyed on the body as sent upstream (overrides and defaults applied), before it is mapped;
    // copied only when the call is cacheable.
    let mut material = serde_json::Map::new();
    if call.cache.is_some() {
        material = body.as_object().cloned().unwrap_or_default();
        if let Some(beta) = anthropic_beta_header(headers) {
            material.insert("anthropic-beta".into(), Value::String(beta));
        }
    }
    let mut chat: ChatCompletionRequest = serde_json::from_value(body)
        .map_err(|e| GatewayError::from_json_error("the request body", &e))?;
    outcome.provider = Some(target.provider_label.clone());
    outcome.key = target.key_name.clone();
    outcome.model = Some(target.model_id.clone());
    let stream = chat.stream.unwrap_or(false);
    outcome.stream = stream;
    let scope = CacheScope {
        route: "chat",
        caller: &target.cache_caller(),
        provider: &target.provider_label,
        model: &target.model_id,
        strict,
    };
    let (entry, hit) = cache::open(
        platform, call.cache, stream, &scope, &material, headers, outcome,
    )
    .await;
    if let Some(hit) = hit {
        return Ok(hit);
    }
    // What the mapping needs from the world, fetched first so the mapping stays pure: the model
    // behind an application inference profile (cached), and https images as bytes.
    let plane = ControlPlane {
        region: &target.region,
        runtime: &target.base,
        auth: &target.auth,
    };
    let model = inference_profile::model_info(platform, &plane, &target.model_id).await;
    match inlined {
        Some(messages) => chat.messages.clone_from(messages),
        None => {
            media::inline_remote_images(platform, settings, &mut chat.messages).await?;
            *inlined = Some(chat.messages.clone());
        }
    }
    let ctx = MappingContext {
        model_id: target.model_id.clone(),
        model,
        anthropic_beta_header: anthropic_beta_header(headers),
    };
    let converse = request::to_converse(&chat, &ctx)?;
    if let Some(buckets) = &target.s3_buckets {
        let value = serde_json::to_value(&converse)
            .map_err(|_| GatewayError::internal("could not encode the Bedrock request"))?;
        s3::check_buckets(&value, buckets)?;
    }
    let body = serde_json::to_vec(&converse)
        .map_err(|_| GatewayError::internal("could not encode the Bedrock request"))?;
    let op = if stream {
        Operation::ConverseStream
    } else {
        Operation::Converse
    };
    let opts = UpstreamOptions::from_headers(headers, settings)?;
    let upstream = send(platform, &target, &opts, op, Bytes::from(body)).await?;

    let id = random_id("chatcmpl-");
    let created = platform.now_millis() / 1000;
    if stream {
        let ctx = StreamContext {
            id,
            created,
            model: target.model_id.clone(),
            strict,
            include_usage: chat
                .stream_options
                .as_ref()
                .and_then(|o| o.include_usage)
                .unwrap_or(false),
        };
        let sse = openai_sse(upstream.body, ctx).await?;
        return Ok(GatewayResponse::sse(sse));
    }
    let raw = upstream
        .collect(crate::limits::MAX_UPSTREAM_JSON_BYTES)
        .await
        .map_err(|e| {
            GatewayError::bad_gateway(format!(
                "the connection to Bedrock failed while reading the answer: {e}"
            ))
        })?;
    let converse: ConverseResponse = serde_json::from_slice(&raw).map_err(|_| {
        GatewayError::bad_gateway("Bedrock answered with a body that is not a Converse response")
    })?;
    let ctx = AnswerContext {
        id,
        created,
        model: target.model_id.clone(),
        strict,
    };
    let completion = to_chat_completion(converse, &ctx);
    let value = serde_json::to_value(&completion)
        .map_err(|_| GatewayError::internal("could not encode the answer"))?;
    if let Some(entry) = &entry {
        cache::store(platform, entry, &value.to_string()).await;
    }
    Ok(GatewayResponse::json(200, &value))
}

/// `anthropic-beta` and `x-portkey-anthropic-beta`, joined (comma-separated).
fn anthropic_beta_header(headers: &RequestHeaders) -> Option<String> {
    let joined: Vec<&str> = ["anthropic-beta", "x-portkey-anthropic-beta"]
        .into_iter()
        .filter_map(|h| headers.get(h))
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .collect();
    (!joined.is_empty()).then(|| joined.join(","))
}
