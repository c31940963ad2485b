//! The request's path through the gateway: route, resolve the provider, call Bedrock, answer.
//! Pure: it talks to the world only through [`Platform`].

pub mod cache;
pub mod chat;
pub mod media;
pub mod messages;
pub mod prompts;
pub mod routed;
pub mod target;
pub mod upstream;

use bytes::Bytes;
use serde_json::{json, Value};

use crate::error::{ApiFlavor, GatewayError};
use crate::platform::Platform;
use crate::providers::bedrock::stream::SseStream;

/// An incoming request, as the Worker shell hands it over.
pub struct GatewayRequest {
    pub method: String,
    pub path: String,
    pub headers: RequestHeaders,
    pub body: Bytes,
    /// The shell stopped reading the body at [`crate::limits::MAX_REQUEST_BODY_BYTES`] (or its
    /// `content-length` said more): the request is answered 413.
    pub oversized: bool,
}

/// Request headers with lowercase names. `Debug` shows names only: values carry keys and AWS
/// secrets.
#[derive(Clone, Default)]
pub struct RequestHeaders(pub Vec<(String, String)>);

impl std::fmt::Debug for RequestHeaders {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(|(k, _)| format!("{k}: <redacted>")))
            .finish()
    }
}

impl RequestHeaders {
    pub fn new<I, K, V>(pairs: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: Into<String>,
    {
        RequestHeaders(
            pairs
                .into_iter()
                .map(|(k, v)| (k.as_ref().to_ascii_lowercase(), v.into()))
                .collect(),
        )
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        crate::platform::header(&self.0, name)
    }

    /// `x-portkey-strict-open-ai-compliance` (or the Python SDK's `...-openai-...` spelling):
    /// strict unless explicitly `false`.
    pub fn strict_compliance(&self) -> bool {
        let v = self
            .get("x-portkey-strict-open-ai-compliance")
            .or_else(|| self.get("x-portkey-strict-openai-compliance"));
        !matches!(v.map(|s| s.trim().to_ascii_lowercase()), Some(s) if s == "false")
    }
}

pub enum Body {
    Full(Bytes),
    Stream(SseStream),
}

pub struct GatewayResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Body,
}

impl GatewayResponse {
    pub fn json(status: u16, value: &Value) -> Self {
        GatewayResponse {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: Body::Full(Bytes::from(value.to_string())),
        }
    }

    /// The error in its API's shape. An error whose status cannot carry a body (an upstream's
    /// 304, a 1xx, anything outside 400-599) is answered as a 502 instead: one rule here, whatever
    /// path the status came by.
    pub fn error(flavor: ApiFlavor, err: &GatewayError) -> Self {
        if (400..=599).contains(&err.status) {
            return Self::json(err.status, &flavor.error_body(err));
        }
        let replaced = upstream::invalid_status(err.status);
        Self::json(replaced.status, &flavor.error_body(&replaced))
    }

    pub fn sse(stream: SseStream) -> Self {
        GatewayResponse {
            status: 200,
            headers: vec![
                (
                    "content-type".into(),
                    "text/event-stream; charset=utf-8".into(),
                ),
                ("cache-control".into(), "no-cache".into()),
            ],
            body: Body::Stream(stream),
        }
    }
}

/// Operator settings, from Worker vars and secrets. `Debug` hides secrets (their types do).
#[derive(Debug, Clone)]
pub struct Settings {
    /// Hosts a caller may name in `x-portkey-custom-host` (and image URLs may point at) even
    /// with catalog credentials, and even when they are internal addresses; matched on scheme,
    /// host and port exactly (see [`crate::net::TrustedHosts`]).
    pub trusted_custom_hosts: crate::net::TrustedHosts,
    /// Opens sealed catalog records (secret `CATALOG_KEY`).
    pub catalog_key: Option<crate::catalog::sealing::SealingKey>,
    /// Base credentials for assumed roles (secrets `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
    /// optional `AWS_SESSION_TOKEN`).
    pub base_credentials: Option<crate::providers::bedrock::signing::AwsCredentials>,
    /// Requests with credentials in headers need a gateway key too (default). The var
    /// `ALLOW_HEADER_CREDENTIALS_WITHOUT_KEY=true` turns that off.
    pub header_credentials_need_key: bool,
    /// `CATALOG_KEY` is set but is not base64 of 32 bytes: catalog requests fail closed, saying so.
    pub catalog_key_malformed: bool,
    /// Schema 2 provider records (only `auth` sealed) are still read while
    /// `CATALOG_ACCEPT_SCHEMA_2=true`: the window for `catalog.mjs reseal` during an upgrade.
    pub accept_schema_2: bool,
    /// How long to wait for an upstream's answer headers when the caller sets no
    /// `x-portkey-request-timeout` (var `UPSTREAM_TIMEOUT_MS`).
    pub upstream_timeout_ms: u64,
    /// The longest silence between two upstream stream reads (var `STREAM_IDLE_TIMEOUT_MS`).
    pub stream_idle_timeout_ms: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            trusted_custom_hosts: crate::net::TrustedHosts::default(),
            catalog_key: None,
            base_credentials: None,
            header_credentials_need_key: true,
            catalog_key_malformed: false,
            accept_schema_2: false,
            upstream_timeout_ms: crate::limits::DEFAULT_UPSTREAM_TIMEOUT_MS,
            stream_idle_timeout_ms: crate::limits::DEFAULT_STREAM_IDLE_TIMEOUT_MS,
        }
    }
}

/// The raw vars and secrets the Worker shell reads.
#[derive(Default)]
pub struct Vars<'a> {
    pub trusted_custom_hosts: Option<&'a str>,
    pub catalog_key: Option<&'a str>,
    pub aws_access_key_id: Option<&'a str>,
    pub aws_secret_access_key: Option<&'a str>,
    pub aws_session_token: Option<&'a str>,
    pub allow_header_credentials_without_key: Option<&'a str>,
    pub catalog_accept_schema_2: Option<&'a str>,
    pub upstream_timeout_ms: Option<&'a str>,
    pub stream_idle_timeout_ms: Option<&'a str>,
}

impl Settings {
    pub fn from_vars(vars: &Vars<'_>) -> Self {
        // Entries that do not parse are kept in `rejected()` for the shell to log.
        let trusted = crate::net::TrustedHosts::parse(vars.trusted_custom_hosts.unwrap_or(""));
        let non_empty = |v: Option<&str>| {
            v.map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };
        let base_credentials = match (
            non_empty(vars.aws_access_key_id),
            non_empty(vars.aws_secret_access_key),
        ) {
            (Some(access_key_id), Some(secret_access_key)) => {
                Some(crate::providers::bedrock::signing::AwsCredentials {
                    access_key_id,
                    secret_access_key,
                    session_token: non_empty(vars.aws_session_token),
                })
            }
            _ => None,
        };
        let catalog_key = non_empty(vars.catalog_key)
            .map(|k| crate::catalog::sealing::SealingKey::from_base64(&k));
        let is_true = |v: Option<&str>| v.is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
        // A malformed number falls back to the default (the operator sees it in the README, and
        // a bad value must not turn a timeout off).
        let millis = |v: Option<&str>, default: u64| {
            v.and_then(|v| v.trim().parse::<u64>().ok())
                .filter(|ms| (1..=crate::limits::MAX_REQUEST_TIMEOUT_MS).contains(ms))
                .unwrap_or(default)
        };
        Settings {
            trusted_custom_hosts: trusted,
            catalog_key_malformed: matches!(catalog_key, Some(Err(_))),
            catalog_key: catalog_key.and_then(Result::ok),
            base_credentials,
            header_credentials_need_key: !is_true(vars.allow_header_credentials_without_key),
            accept_schema_2: is_true(vars.catalog_accept_schema_2),
            upstream_timeout_ms: millis(
                vars.upstream_timeout_ms,
                crate::limits::DEFAULT_UPSTREAM_TIMEOUT_MS,
            ),
            stream_idle_timeout_ms: millis(
                vars.stream_idle_timeout_ms,
                crate::limits::DEFAULT_STREAM_IDLE_TIMEOUT_MS,
            ),
        }
    }

    /// Settings with only the trusted hosts set (tests, and the common case).
    pub fn with_trusted_hosts(hosts: &str) -> Self {
        Self::from_vars(&Vars {
            trusted_custom_hosts: Some(hosts),
            ..Vars::default()
        })
    }

    /// `url`'s scheme, host and port are exactly those of a TRUSTED_CUSTOM_HOSTS entry.
    pub fn is_trusted_host(&self, url: &url::Url) -> bool {
        self.trusted_custom_hosts.allows(url)
    }
}

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
    let trace_id = req
        .headers
        .get("x-portkey-trace-id")
        .filter(|t| !t.is_empty() && t.len() <= 128 && t.bytes().all(|b| b.is_ascii_graphic()))
        .map(str::to_owned)
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
        | Route::PromptCompletions => Some(admit(platform, settings, &req).await),
        _ => None,
    };
    let mut resp = match (route, caller) {
        (_, Some(Err(err))) => respond(flavor, Err(err), &mut outcome),
        (Route::Health, _) => {
            GatewayResponse::json(200, &json!({"status": "ok", "service": "edgeport"}))
        }
        (Route::ChatCompletions, Some(Ok(caller))) => {
            chat::handle(platform, settings, &caller, &req, &mut outcome).await
        }
        (Route::Messages, Some(Ok(caller))) => {
            messages::handle(platform, settings, &caller, &req, &mut outcome).await
        }
        (Route::CountTokens, Some(Ok(caller))) => {
            messages::handle_count_tokens(platform, settings, &caller, &req, &mut outcome).await
        }
        (Route::PromptCompletions, Some(Ok(caller))) => {
            prompts::handle(platform, settings, &caller, &req, &mut outcome).await
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
            .with_code("route_not_found"),
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
    log_request(platform, &req, &trace_id, resp.status, &outcome, started);
    if let Body::Stream(stream) = resp.body {
        resp.body = Body::Stream(Box::pin(LoggedStream {
            inner: stream,
            sink: platform.log_sink(),
            trace_id,
            started,
            now: platform.clock(),
            error: false,
            ended: false,
        }));
    }
    resp
}

/// The body's size, then the caller's key (one KV read per request, whatever a config does).
async fn admit<P: Platform>(
    platform: &P,
    settings: &Settings,
    req: &GatewayRequest,
) -> crate::error::Result<target::Caller> {
    if req.oversized || req.body.len() > crate::limits::MAX_REQUEST_BODY_BYTES {
        return Err(body_too_large());
    }
    let caller = target::authenticate(platform, &req.headers).await?;
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
    .with_code("request_too_large")
}

/// A streamed answer that logs how it ended, once: `complete`, `error` (an in-stream error was
/// sent: the head log line said 200, this one says what happened after) or `client_closed`.
struct LoggedStream {
    inner: crate::providers::bedrock::stream::SseStream,
    sink: crate::platform::LogSink,
    trace_id: String,
    started: u64,
    now: crate::platform::Clock,
    error: bool,
    ended: bool,
}

impl futures_util::Stream for LoggedStream {
    type Item = Bytes;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Bytes>> {
        let poll = self.inner.as_mut().poll_next(cx);
        match &poll {
            // Our own encoders write errors as `data: {"error"...` (OpenAI) or `event: error`
            // (Anthropic) at the start of a yielded piece.
            std::task::Poll::Ready(Some(bytes)) => {
                if contains(bytes, b"data: {\"error\"") || contains(bytes, b"event: error\n") {
                    self.error = true;
                }
            }
            std::task::Poll::Ready(None) => {
                let how = if self.error { "error" } else { "complete" };
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
        let how = if self.error { "error" } else { "client_closed" };
        self.finish(how);
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
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
    trace_id: &str,
    status: u16,
    outcome: &Outcome,
    started: u64,
) {
    let metadata = req
        .headers
        .get("x-portkey-metadata")
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

/// `prefix` + 24 random hex digits (ids for completions and traces).
pub fn random_id(prefix: &str) -> String {
    let mut bytes = [0u8; 12];
    // crypto.getRandomValues in the Worker does not fail; if it ever did, the id would be zeros,
    // not a panic.
    let _ = getrandom::fill(&mut bytes);
    let mut out = String::with_capacity(prefix.len() + 24);
    out.push_str(prefix);
    for b in bytes {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

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

    #[test]
    fn strict_compliance_both_spellings() {
        assert!(RequestHeaders::default().strict_compliance());
        let off = RequestHeaders::new([("X-Portkey-Strict-OpenAI-Compliance", "false")]);
        assert!(!off.strict_compliance());
        let off2 = RequestHeaders::new([("x-portkey-strict-open-ai-compliance", "False")]);
        assert!(!off2.strict_compliance());
    }
}
