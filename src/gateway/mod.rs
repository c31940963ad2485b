//! The request's path through the gateway: route, resolve the provider, call Bedrock, answer.
//! Pure: it talks to the world only through [`Platform`].

pub mod cache;
pub mod chat;
pub mod messages;
pub mod prompts;
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
        | Route::PromptCompletions => Some(admit(platform, settings, &req, &headers).await),
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
        (Route::ChatCompletions | Route::Messages | Route::CountTokens | Route::PromptCompletions, None) => {
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
                "no route {} {}; edgeport serves POST /v1/chat/completions, POST /v1/prompts/{{id}}/completions, POST /v1/messages, POST /v1/messages/count_tokens and GET /v1/health",
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
    log_request(
        platform,
        &req,
        &headers,
        &trace_id,
        resp.status,
        &outcome,
        started,
    );
    if let Body::Stream(stream) = resp.body {
        resp.body = Body::Stream(stream.wrap(|inner| {
            Box::pin(LoggedStream {
                inner,
                sink: platform.log_sink(),
                trace_id,
                started,
                now: platform.clock(),
                ended: false,
            })
        }));
    }
    resp
}

/// The body's size, then the caller's key (one KV read per request, whatever a config does).
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

/// A streamed answer that logs how it ended, once: `complete`, `error` (an in-stream error was
/// sent: the head log line said 200, this one says what happened after) or `client_closed`.
struct LoggedStream {
    inner: crate::stream::driver::SseStream,
    sink: crate::platform::LogSink,
    trace_id: String,
    started: u64,
    now: crate::platform::Clock,
    ended: bool,
}

impl futures_util::Stream for LoggedStream {
    type Item = Bytes;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Bytes>> {
        let poll = futures_util::StreamExt::poll_next_unpin(&mut self.inner, cx);
        match &poll {
            // Our own encoders write errors as `data: {"error"...` (OpenAI) or `event: error`
            // (Anthropic) at the start of a yielded piece.
            std::task::Poll::Ready(Some(_)) => {}
            std::task::Poll::Ready(None) => {
                let how = if self.inner.failed() {
                    "error"
                } else {
                    "complete"
                };
                self.finish(how);
            }
            std::task::Poll::Pending => {}
        }
        poll
    }
}

impl LoggedStream {
    fn finish(&mut self, how: &str) {
        if self.ended {
            return;
        }
        self.ended = true;
        let line = json!({
            "trace_id": self.trace_id,
            "event": "stream_end",
            "end": how,
            "ms": (self.now)().saturating_sub(self.started),
        });
        (self.sink)(&line.to_string());
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

fn log_request<P: Platform>(
    platform: &P,
    req: &GatewayRequest,
    headers: &PortkeyHeaders,
    trace_id: &str,
    status: u16,
    outcome: &Outcome,
    started: u64,
) {
    let metadata = headers
        .metadata
        .as_deref()
        .and_then(|m| serde_json::from_str::<Value>(m).ok())
        .filter(Value::is_object);
    let line = json!({
        "trace_id": trace_id,
        "method": req.method,
        "path": req.path,
        "status": status,
        "provider": outcome.provider,
        "key": outcome.key,
        "model": outcome.model,
        "stream": outcome.stream,
        "error": outcome.error,
        "target": outcome.routed.as_ref().map(|r| &r.index),
        "retries": outcome.routed.as_ref().map(|r| r.retries),
        "cache": outcome.cache,
        "metadata": metadata,
        "ms": platform.now_millis().saturating_sub(started),
    });
    platform.log(&line.to_string());
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
        assert_eq!(flavor_of("/v1/messages/batches"), ApiFlavor::Anthropic);
        assert_eq!(flavor_of("/messages"), ApiFlavor::Anthropic);
        assert_eq!(flavor_of("/v1/messagesx"), ApiFlavor::OpenAi);
    }
}
