//! The request's path through the gateway: route, resolve the provider, call Bedrock, answer.
//! Pure: it talks to the world only through [`Platform`].

pub mod cache;
pub mod chat;
pub mod embeddings;
pub mod images;
pub mod json_route;
pub mod limits;
pub mod log;
pub mod messages;
pub mod metadata;
pub mod prompts;
pub mod responses;
pub mod routed;
pub mod target;

use serde_json::{json, Map};

use crate::api::portkey::PortkeyHeaders;
use crate::error::{ApiFlavor, ErrorCode, GatewayError};
use crate::platform::Platform;
use crate::trace::TraceContext;

pub use crate::http::{Body, GatewayRequest, GatewayResponse, RequestHeaders};
pub use crate::settings::{Settings, Vars};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    Health,
    ChatCompletions,
    Messages,
    CountTokens,
    PromptCompletions,
    Responses,
    Embeddings,
    Images,
    /// `GET` (or `DELETE`) `/v1/responses/{id}`.
    StoredResponse {
        delete: bool,
    },
    /// `GET /v1/usage`: the gateway key's counts and limits.
    Usage,
    /// `GET /v1/admin/usage/<subject>`: any subject's, for operators (`ADMIN_TOKEN`).
    AdminUsage,
    MethodNotAllowed,
    NotFound,
}

impl Route {
    /// The route's name on the log line.
    fn name(self) -> &'static str {
        match self {
            Route::Health => "health",
            Route::ChatCompletions => "chat",
            Route::Messages => "messages",
            Route::CountTokens => "count_tokens",
            Route::PromptCompletions => "prompt",
            Route::Responses => "responses",
            Route::Embeddings => "embeddings",
            Route::Images => "images",
            Route::StoredResponse { delete: false } => "responses.get",
            Route::StoredResponse { delete: true } => "responses.delete",
            Route::Usage => "usage",
            Route::AdminUsage => "admin.usage",
            Route::MethodNotAllowed => "method_not_allowed",
            Route::NotFound => "not_found",
        }
    }

    /// The routes that call a model or read what one answered: the body's size, the metadata
    /// and the gateway key are checked first.
    fn admits(self) -> bool {
        matches!(
            self,
            Route::ChatCompletions
                | Route::Messages
                | Route::CountTokens
                | Route::PromptCompletions
                | Route::Responses
                | Route::Embeddings
                | Route::Images
                | Route::StoredResponse { .. }
                | Route::Usage
        )
    }
}

fn route(method: &str, path: &str) -> Route {
    let path = path.trim_end_matches('/');
    let path = path.strip_prefix("/v1").unwrap_or(path);
    let (want, route) = match path {
        "" | "/health" => ("GET", Route::Health),
        "/chat/completions" => ("POST", Route::ChatCompletions),
        "/messages" => ("POST", Route::Messages),
        "/messages/count_tokens" => ("POST", Route::CountTokens),
        "/responses" => ("POST", Route::Responses),
        "/embeddings" => ("POST", Route::Embeddings),
        "/images/generations" => ("POST", Route::Images),
        "/usage" => ("GET", Route::Usage),
        p if p.starts_with("/admin/usage/") => ("GET", Route::AdminUsage),
        p if responses::stored_id(p).is_some() => {
            return if method.eq_ignore_ascii_case("DELETE") {
                Route::StoredResponse { delete: true }
            } else if method.eq_ignore_ascii_case("GET") || method.eq_ignore_ascii_case("HEAD") {
                Route::StoredResponse { delete: false }
            } else {
                Route::MethodNotAllowed
            };
        }
        p if prompts::prompt_id(p).is_some() => ("POST", Route::PromptCompletions),
        _ => return Route::NotFound,
    };
    if method.eq_ignore_ascii_case(want) || (want == "GET" && method.eq_ignore_ascii_case("HEAD")) {
        route
    } else {
        Route::MethodNotAllowed
    }
}

/// Errors under `/v1/messages` are Anthropic-shaped (the Anthropic SDKs read them), others OpenAI's.
fn flavor_of(path: &str) -> ApiFlavor {
    let path = path.trim_end_matches('/');
    let path = path.strip_prefix("/v1").unwrap_or(path);
    if path == "/messages" || path.starts_with("/messages/") {
        ApiFlavor::Anthropic
    } else {
        ApiFlavor::OpenAi
    }
}

/// Handles one request. Never panics on input; every failure is an OpenAI-shaped answer, or an
/// Anthropic-shaped one under `/v1/messages`.
pub async fn handle<P: Platform>(
    platform: &P,
    settings: &Settings,
    req: GatewayRequest,
) -> GatewayResponse {
    let started = platform.now_millis();
    // The Portkey headers, read once: everything below receives this value.
    let headers = PortkeyHeaders::parse(&req.headers);
    let trace = TraceContext::from_headers(&headers.trace);
    let route = route(&req.method, &req.path);
    let mut outcome = Outcome::default();
    let flavor = flavor_of(&req.path);
    // The model routes: the body's size, the gateway key and the metadata are checked before
    // anything else (the body parsed, a saved config or prompt read).
    let mut metadata = Map::new();
    let caller = if route.admits() {
        let admitted = admit(platform, settings, &req, &headers).await;
        if let Ok(key) = admitted.as_ref().map(target::Caller::key) {
            outcome.key = key.map(|k| k.name.clone());
            outcome.key_hash = key.map(|k| k.hash.clone());
        }
        let admitted = admitted.and_then(|caller| {
            metadata = metadata::parse(headers.metadata.as_deref())?;
            Ok(caller)
        });
        Some(admitted)
    } else {
        None
    };
    let mut resp = match (route, caller) {
        (_, Some(Err(err))) => respond(flavor, Err(err), &mut outcome),
        (Route::Health, _) => {
            GatewayResponse::json(200, &json!({"status": "ok", "service": "edgeport"}))
        }
        (Route::ChatCompletions, Some(Ok(caller))) => {
            chat::handle(platform, settings, &caller, &req, &headers, &mut outcome).await
        }
        (Route::Messages, Some(Ok(caller))) => {
            messages::handle(platform, settings, &caller, &req, &headers, &mut outcome).await
        }
        (Route::CountTokens, Some(Ok(caller))) => {
            messages::handle_count_tokens(platform, settings, &caller, &req, &headers, &mut outcome).await
        }
        (Route::PromptCompletions, Some(Ok(caller))) => {
            prompts::handle(platform, settings, &caller, &req, &headers, &mut outcome).await
        }
        (Route::Responses, Some(Ok(caller))) => {
            responses::handle(platform, settings, &caller, &req, &headers, &mut outcome).await
        }
        (Route::Embeddings, Some(Ok(caller))) => {
            embeddings::handle(platform, settings, &caller, &req, &headers, &mut outcome).await
        }
        (Route::Images, Some(Ok(caller))) => {
            images::handle(platform, settings, &caller, &req, &headers, &mut outcome).await
        }
        (Route::StoredResponse { delete }, Some(Ok(caller))) => {
            let path = req.path.trim_end_matches('/');
            let id = responses::stored_id(path.strip_prefix("/v1").unwrap_or(path)).unwrap_or("");
            responses::handle_stored(platform, &caller, &headers, id, delete, &mut outcome).await
        }
        (Route::Usage, Some(Ok(caller))) => {
            let result = match caller.require() {
                Ok(key) => limits::usage_of_key(platform, key).await,
                Err(e) => Err(e),
            };
            respond(ApiFlavor::OpenAi, result.map(|v| GatewayResponse::json(200, &v)), &mut outcome)
        }
        (Route::AdminUsage, _) => {
            let path = req.path.trim_end_matches('/');
            let subject = path.rsplit('/').next().unwrap_or("");
            let result = limits::usage_of_subject(platform, settings, &req.headers, subject).await;
            respond(ApiFlavor::OpenAi, result.map(|v| GatewayResponse::json(200, &v)), &mut outcome)
        }
        (Route::ChatCompletions | Route::Messages | Route::CountTokens | Route::PromptCompletions | Route::Responses | Route::Embeddings | Route::Images | Route::StoredResponse { .. } | Route::Usage, None) => {
            respond(flavor, Err(GatewayError::internal("the request was not admitted")), &mut outcome)
        }
        (Route::MethodNotAllowed, _) => GatewayResponse::error(
            flavor_of(&req.path),
            &GatewayError::new(
                405,
                crate::error::ErrorKind::InvalidRequest,
                format!("{} is not allowed on {}", req.method, req.path),
            ),
        ),
        (Route::NotFound, _) => GatewayResponse::error(
            flavor_of(&req.path),
            &GatewayError::not_found(format!(
                "no route {} {}; edgeport serves POST /v1/chat/completions, POST /v1/responses, GET and DELETE /v1/responses/{{id}}, POST /v1/embeddings, POST /v1/images/generations, POST /v1/prompts/{{id}}/completions, POST /v1/messages, POST /v1/messages/count_tokens, GET /v1/usage and GET /v1/health",
                req.method, req.path
            ))
            .with_code(ErrorCode::RouteNotFound),
        ),
    };
    resp.headers
        .push(("x-portkey-trace-id".into(), trace.trace_id.clone()));
    resp.headers
        .push(("traceparent".into(), trace.traceparent()));
    if let Some(state) = &trace.tracestate {
        resp.headers.push(("tracestate".into(), state.clone()));
    }
    if let Some(p) = &outcome.provider {
        resp.headers.push(("x-portkey-provider".into(), p.clone()));
    }
    if let Some(r) = &outcome.routed {
        resp.headers.push((
            "x-portkey-retry-attempt-count".into(),
            r.retries.to_string(),
        ));
        resp.headers
            .push(("x-portkey-last-used-option-index".into(), r.index.clone()));
    }
    if let Some(rate) = outcome
        .admission
        .as_ref()
        .and_then(|a| a.rate.as_ref())
        .filter(|_| (200..300).contains(&resp.status))
    {
        resp.headers.extend(limits::rate_headers(rate));
    }
    // Error answers are never cached, and say nothing about the cache.
    if let Some(status) = outcome.cache.filter(|_| (200..300).contains(&resp.status)) {
        resp.headers
            .push(("x-portkey-cache-status".into(), status.to_owned()));
    }
    let baggage = headers
        .trace
        .baggage
        .as_deref()
        .map(crate::trace::parse_baggage)
        .unwrap_or_default();
    let metadata = metadata::merged(metadata, &baggage, outcome.user.as_deref());
    let line = log::request_log(
        &req,
        route.name(),
        trace,
        metadata,
        resp.status,
        outcome,
        started,
    );
    let sink = log::LineSink {
        log: platform.log_sink(),
        analytics: platform.analytics(),
        metadata_keys: settings.analytics_metadata_keys.clone(),
        // The limiter is only looked up when there is something to settle.
        limiter: line.has_admission().then(|| platform.limiter()).flatten(),
        spawner: platform.spawner(),
    };
    match resp.body {
        // A stream's line is written when it ends, saying how.
        Body::Stream(stream) => {
            let ended = crate::platform::EndSignal::default();
            let logged = stream.wrap(|inner| {
                Box::pin(log::LoggedStream {
                    inner,
                    sink,
                    line: Some(line),
                    now: platform.clock(),
                    ended: ended.clone(),
                })
            });
            resp.body = Body::Stream(logged.with_end_signal(ended));
        }
        Body::Full(_) => log::emit(line, platform.now_millis(), &sink),
    }
    resp
}

/// The body's size, then the caller's key (at most one KV read per request, whatever a config
/// does; none while the isolate remembers the key).
async fn admit<P: Platform>(
    platform: &P,
    settings: &Settings,
    req: &GatewayRequest,
    headers: &PortkeyHeaders,
) -> crate::error::Result<target::Caller> {
    if req.oversized || req.body.len() > crate::limits::MAX_REQUEST_BODY_BYTES {
        return Err(body_too_large());
    }
    let caller = target::authenticate(platform, settings, headers).await?;
    caller.admit(settings)?;
    Ok(caller)
}

/// 413, in the route's shape (the shell answers it before reading a body that says it is larger).
pub fn body_too_large() -> GatewayError {
    GatewayError::new(
        413,
        crate::error::ErrorKind::TooLarge,
        format!(
            "the request body is larger than {} bytes, the gateway's limit",
            crate::limits::MAX_REQUEST_BODY_BYTES
        ),
    )
    .with_code(ErrorCode::RequestTooLarge)
}

/// A handler's result as the answer: an error becomes its API's error shape, and its code is
/// noted for the log line.
pub fn respond(
    flavor: ApiFlavor,
    result: crate::error::Result<GatewayResponse>,
    outcome: &mut Outcome,
) -> GatewayResponse {
    match result {
        Ok(resp) => resp,
        Err(err) => {
            outcome.error = Some(
                err.code
                    .clone()
                    .unwrap_or_else(|| err.kind.openai_type().to_owned()),
            );
            GatewayResponse::error(flavor, &err)
        }
    }
}

/// What a handler learned, for the log line and answer headers. Never holds secrets.
#[derive(Debug, Default)]
pub struct Outcome {
    pub provider: Option<String>,
    /// The gateway key's name (never the key).
    pub key: Option<String>,
    pub model: Option<String>,
    pub error: Option<String>,
    pub stream: bool,
    /// With `x-portkey-config`: the target that answered (or failed last) and its retries.
    pub routed: Option<routed::Routed>,
    /// With a config's `cache`: HIT, MISS or DISABLED (`x-portkey-cache-status`).
    pub cache: Option<&'static str>,
    /// The gateway key's hash (its identity; the log shows a prefix).
    pub key_hash: Option<String>,
    /// The body's `user` (the log's metadata `_user` when the caller set none).
    pub user: Option<String>,
    /// Every upstream attempt, in order.
    pub attempts: routed::Attempts,
    /// The answer's token usage (a stream's is read from the stream when it ends).
    pub usage: Option<crate::usage::prices::Tokens>,
    /// Who billed the tokens, for the cost.
    pub billing: Option<Billing>,
    /// What the answering attempt reserved under its limits (settled when the request ends).
    pub admission: Option<limits::Admission>,
}

/// Who billed a request's tokens.
#[derive(Debug, Clone, PartialEq)]
pub enum Billing {
    Bedrock {
        region: String,
    },
    OpenAi,
    /// `count_tokens`: Bedrock does not bill it.
    NotBilled,
}

impl Outcome {
    /// The target an attempt resolved to: provider, key, model, billing.
    pub fn resolved(&mut self, target: &target::Target) {
        self.provider = Some(target.provider_label.clone());
        self.key = target.key_name.clone();
        self.model = Some(target.model_id.clone());
        self.billing = Some(match &target.upstream {
            crate::providers::Upstream::Bedrock(b) => Billing::Bedrock {
                region: b.region.clone(),
            },
            crate::providers::Upstream::OpenAi(_) => Billing::OpenAi,
        });
    }
}

pub use crate::providers::random_id;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        assert_eq!(
            route("POST", "/v1/chat/completions"),
            Route::ChatCompletions
        );
        assert_eq!(route("POST", "/chat/completions"), Route::ChatCompletions);
        assert_eq!(
            route("GET", "/v1/chat/completions"),
            Route::MethodNotAllowed
        );
        assert_eq!(route("GET", "/v1/health"), Route::Health);
        assert_eq!(route("GET", "/"), Route::Health);
        assert_eq!(route("GET", "/v1/nope"), Route::NotFound);
        assert_eq!(route("POST", "/v1/messages"), Route::Messages);
        assert_eq!(route("POST", "/messages"), Route::Messages);
        assert_eq!(
            route("POST", "/v1/messages/count_tokens"),
            Route::CountTokens
        );
        assert_eq!(route("POST", "/messages/count_tokens"), Route::CountTokens);
        assert_eq!(route("GET", "/v1/messages"), Route::MethodNotAllowed);
        assert_eq!(
            route("POST", "/v1/prompts/pp-1/completions"),
            Route::PromptCompletions
        );
        assert_eq!(
            route("POST", "/prompts/pp-1/completions"),
            Route::PromptCompletions
        );
        assert_eq!(
            route("GET", "/v1/prompts/pp-1/completions"),
            Route::MethodNotAllowed
        );
        assert_eq!(
            route("POST", "/v1/prompts/a/b/completions"),
            Route::NotFound
        );
        assert_eq!(route("POST", "/v1/prompts//completions"), Route::NotFound);
        assert_eq!(route("POST", "/v1/responses"), Route::Responses);
        assert_eq!(route("GET", "/v1/responses"), Route::MethodNotAllowed);
        assert_eq!(
            route("GET", "/v1/responses/resp_1"),
            Route::StoredResponse { delete: false }
        );
        assert_eq!(
            route("DELETE", "/responses/resp_1"),
            Route::StoredResponse { delete: true }
        );
        assert_eq!(
            route("POST", "/v1/responses/resp_1"),
            Route::MethodNotAllowed
        );
        assert_eq!(route("GET", "/v1/responses/a/b"), Route::NotFound);
        assert_eq!(route("POST", "/v1/embeddings"), Route::Embeddings);
        assert_eq!(route("POST", "/embeddings"), Route::Embeddings);
        assert_eq!(route("GET", "/v1/embeddings"), Route::MethodNotAllowed);
        assert_eq!(route("POST", "/v1/images/generations"), Route::Images);
        assert_eq!(route("POST", "/v1/images/edits"), Route::NotFound);
        assert_eq!(flavor_of("/v1/messages/batches"), ApiFlavor::Anthropic);
        assert_eq!(flavor_of("/messages"), ApiFlavor::Anthropic);
        assert_eq!(flavor_of("/v1/messagesx"), ApiFlavor::OpenAi);
    }
}
