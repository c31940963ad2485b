//! The request's path through the gateway: route, resolve the provider, call Bedrock, answer.
//! Pure: it talks to the world only through [`Platform`].

pub mod cache;
pub mod chat;
pub mod messages;
pub mod prompts;
pub mod responses;
pub mod routed;
pub mod target;

use bytes::Bytes;
use serde_json::{json, Value};

use crate::api::portkey::PortkeyHeaders;
use crate::error::{ApiFlavor, ErrorCode, GatewayError};
use crate::platform::Platform;

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
    /// `GET` (or `DELETE`) `/v1/responses/{id}`.
    StoredResponse {
        delete: bool,
    },
    MethodNotAllowed,
    NotFound,
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
    let trace_id = headers
        .trace_id
        .clone()
        .filter(|t| t.len() <= 128 && t.bytes().all(|b| b.is_ascii_graphic()))
        .unwrap_or_else(|| random_id(""));
    let route = route(&req.method, &req.path);
    let mut outcome = Outcome::default();
    let flavor = flavor_of(&req.path);
    // The model routes: the body's size and the gateway key are checked before anything else
    // (the body parsed, a saved config or prompt read).
    let caller = match route {
        Route::ChatCompletions
        | Route::Messages
        | Route::CountTokens
        | Route::PromptCompletions
        | Route::Responses
        | Route::StoredResponse { .. } => Some(admit(platform, settings, &req, &headers).await),
        _ => None,
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
        (Route::StoredResponse { delete }, Some(Ok(caller))) => {
            let path = req.path.trim_end_matches('/');
            let id = responses::stored_id(path.strip_prefix("/v1").unwrap_or(path)).unwrap_or("");
            responses::handle_stored(platform, &caller, &headers, id, delete, &mut outcome).await
        }
        (Route::ChatCompletions | Route::Messages | Route::CountTokens | Route::PromptCompletions | Route::Responses | Route::StoredResponse { .. }, None) => {
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
                "no route {} {}; edgeport serves POST /v1/chat/completions, POST /v1/responses, GET and DELETE /v1/responses/{{id}}, POST /v1/prompts/{{id}}/completions, POST /v1/messages, POST /v1/messages/count_tokens and GET /v1/health",
                req.method, req.path
            ))
            .with_code(ErrorCode::RouteNotFound),
        ),
    };
    resp.headers
        .push(("x-portkey-trace-id".into(), trace_id.clone()));
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
    // Error answers are never cached, and say nothing about the cache.
    if let Some(status) = outcome.cache.filter(|_| (200..300).contains(&resp.status)) {
        resp.headers
            .push(("x-portkey-cache-status".into(), status.to_owned()));
    }
    let line = request_log(&req, &headers, trace_id, resp.status, outcome, started);
    match resp.body {
        // A stream's line is written when it ends, saying how.
        Body::Stream(stream) => {
            resp.body = Body::Stream(stream.wrap(|inner| {
                Box::pin(LoggedStream {
                    inner,
                    sink: platform.log_sink(),
                    line: Some(line),
                    now: platform.clock(),
                })
            }));
        }
        Body::Full(_) => emit(line, platform.now_millis(), |l| platform.log(l)),
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

/// A streamed answer that writes its request's log line when it ends, once, saying how: `complete`,
/// `error` (an in-stream error was sent after the 200) or `client_closed`.
struct LoggedStream {
    inner: crate::stream::driver::SseStream,
    sink: crate::platform::LogSink,
    line: Option<RequestLog>,
    now: crate::platform::Clock,
}

impl futures_util::Stream for LoggedStream {
    type Item = Bytes;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Bytes>> {
        let poll = futures_util::StreamExt::poll_next_unpin(&mut self.inner, cx);
        if let std::task::Poll::Ready(None) = poll {
            let how = if self.inner.failed() {
                "error"
            } else {
                "complete"
            };
            self.finish(how);
        }
        poll
    }
}

impl LoggedStream {
    fn finish(&mut self, how: &'static str) {
        if let Some(mut line) = self.line.take() {
            line.end = Some(how);
            emit(line, (self.now)(), |l| (self.sink)(l));
        }
    }
}

impl Drop for LoggedStream {
    fn drop(&mut self) {
        let how = if self.inner.failed() {
            "error"
        } else {
            "client_closed"
        };
        self.finish(how);
    }
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
}

/// The one log line of a request (README: Logs). Never holds secrets.
#[derive(serde::Serialize)]
struct RequestLog {
    trace_id: String,
    method: String,
    path: String,
    status: u16,
    provider: Option<String>,
    key: Option<String>,
    model: Option<String>,
    stream: bool,
    error: Option<String>,
    target: Option<String>,
    retries: Option<u32>,
    cache: Option<&'static str>,
    metadata: Option<Value>,
    /// Milliseconds from the request's arrival to its answer (a stream: to its end).
    ms: u64,
    /// How a stream ended (`complete`, `error`, `client_closed`); absent for other answers.
    #[serde(skip_serializing_if = "Option::is_none")]
    end: Option<&'static str>,
    #[serde(skip)]
    started: u64,
}

fn request_log(
    req: &GatewayRequest,
    headers: &PortkeyHeaders,
    trace_id: String,
    status: u16,
    outcome: Outcome,
    started: u64,
) -> RequestLog {
    let metadata = headers
        .metadata
        .as_deref()
        .and_then(|m| serde_json::from_str::<Value>(m).ok())
        .filter(Value::is_object);
    let (target, retries) = match outcome.routed {
        Some(r) => (Some(r.index), Some(r.retries)),
        None => (None, None),
    };
    RequestLog {
        trace_id,
        method: req.method.clone(),
        path: req.path.clone(),
        status,
        provider: outcome.provider,
        key: outcome.key,
        model: outcome.model,
        stream: outcome.stream,
        error: outcome.error,
        target,
        retries,
        cache: outcome.cache,
        metadata,
        ms: 0,
        end: None,
        started,
    }
}

/// Writes `line` with its duration up to `now`.
fn emit(mut line: RequestLog, now: u64, write: impl FnOnce(&str)) {
    line.ms = now.saturating_sub(line.started);
    if let Ok(text) = serde_json::to_string(&line) {
        write(&text);
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
        assert_eq!(flavor_of("/v1/messages/batches"), ApiFlavor::Anthropic);
        assert_eq!(flavor_of("/messages"), ApiFlavor::Anthropic);
        assert_eq!(flavor_of("/v1/messagesx"), ApiFlavor::OpenAi);
    }
}
