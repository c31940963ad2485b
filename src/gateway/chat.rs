//! `POST /v1/chat/completions` → Bedrock Converse / ConverseStream.

use serde_json::Value;

use crate::api::openai::ChatCompletionRequest;
use crate::api::portkey::PortkeyHeaders;
use crate::error::{ApiFlavor, GatewayError, Result};
use crate::gateway::target::Caller;
use crate::gateway::{cache, json_route, target};
use crate::gateway::{respond, GatewayRequest, GatewayResponse, Outcome, Settings};
use crate::platform::Platform;
use crate::providers::options::UpstreamOptions;
use crate::providers::{self, Answer, ChatCall, Upstream};
use crate::routing;
use crate::routing::cache::CacheScope;

pub async fn handle<P: Platform>(
    platform: &P,
    settings: &Settings,
    caller: &Caller,
    req: &GatewayRequest,
    headers: &PortkeyHeaders,
    outcome: &mut Outcome,
) -> GatewayResponse {
    let result = run(platform, settings, caller, req, headers, outcome).await;
    respond(ApiFlavor::OpenAi, result, outcome)
}

/// The body as a JSON object (nothing else checked yet: a config may still set fields).
pub(crate) fn parse_object(body: &[u8]) -> Result<Value> {
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
            "model is required (the provider's model id, or @slug/model-id)",
        ));
    }
    Ok(())
}

async fn run<P: Platform>(
    platform: &P,
    settings: &Settings,
    caller: &Caller,
    req: &GatewayRequest,
    headers: &PortkeyHeaders,
    outcome: &mut Outcome,
) -> Result<GatewayResponse> {
    // https images are downloaded once, not once per target.
    let mut downloaded = providers::bedrock::media::Downloaded::new();
    json_route::run(
        platform,
        caller,
        req,
        headers,
        outcome,
        async |input, outcome| {
            let call = Call {
                caller: input.caller,
                headers: &input.headers,
                cache: input.cache,
                body_bytes: input.body_bytes,
            };
            let body = Value::Object(input.body);
            try_target(platform, settings, &call, body, &mut downloaded, outcome).await
        },
    )
    .await
}

/// One target's view of the request: its headers, and its cache settings.
struct Call<'a> {
    caller: &'a Caller,
    headers: &'a PortkeyHeaders,
    cache: Option<routing::cache::Cache>,
    /// The request body's size (the limits' token estimate).
    body_bytes: usize,
}

/// One call through one target: resolve, (look in the cache,) map, send, (store,) answer.
async fn try_target<P: Platform>(
    platform: &P,
    settings: &Settings,
    call: &Call<'_>,
    mut body: Value,
    downloaded: &mut providers::bedrock::media::Downloaded,
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
    let strict = headers.strict;
    let max_out = body
        .as_object()
        .and_then(crate::gateway::limits::max_output);
    // Keyed on the body as sent upstream (overrides and defaults applied), before it is mapped;
    // copied only when the call is cacheable.
    let mut material = serde_json::Map::new();
    if call.cache.is_some() {
        material = body.as_object().cloned().unwrap_or_default();
        if let Some(beta) = headers.anthropic_beta_joined() {
            material.insert("anthropic-beta".into(), Value::String(beta));
        }
    }
    // Bedrock's mapping reads the typed request; OpenAI gets the body as the caller wrote it.
    let request = match &target.upstream {
        Upstream::Bedrock(_) => Request::Typed(Box::new(
            serde_json::from_value::<ChatCompletionRequest>(body)
                .map_err(|e| GatewayError::from_json_error("the request body", &e))?,
        )),
        Upstream::OpenAi(_) => Request::Raw(match body {
            Value::Object(map) => map,
            _ => {
                return Err(GatewayError::invalid_request(
                    "the request body must be a JSON object",
                ))
            }
        }),
    };
    outcome.resolved(&target);
    let stream = match &request {
        Request::Typed(chat) => chat.stream.unwrap_or(false),
        Request::Raw(map) => map.get("stream").and_then(Value::as_bool).unwrap_or(false),
    };
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
    crate::gateway::limits::admit_attempt(platform, outcome, &target, call.body_bytes, max_out)
        .await?;
    let call = ChatCall {
        model_id: &target.model_id,
        strict,
        anthropic_beta_header: headers.anthropic_beta_joined(),
        options: UpstreamOptions::from_headers(headers, settings)?,
    };
    let answer = match (&target.upstream, request) {
        (Upstream::Bedrock(bedrock), Request::Typed(chat)) => {
            providers::bedrock::chat::complete(
                platform, settings, bedrock, &call, *chat, downloaded,
            )
            .await?
        }
        (Upstream::OpenAi(openai), Request::Raw(body)) => {
            providers::openai::chat::complete(platform, openai, &call, body).await?
        }
        _ => {
            return Err(GatewayError::internal(
                "the request was read for another provider",
            ))
        }
    };
    match answer {
        Answer::Stream(sse) => Ok(GatewayResponse::sse(sse)),
        Answer::Json(value) => {
            outcome.usage = crate::usage::extract::from_answer(&value);
            if let Some(entry) = &entry {
                cache::store(platform, entry, &value.to_string()).await;
            }
            Ok(GatewayResponse::json(200, &value))
        }
    }
}

/// The chat body as the target's provider reads it.
enum Request {
    Typed(Box<ChatCompletionRequest>),
    Raw(serde_json::Map<String, Value>),
}
