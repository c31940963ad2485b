//! The Worker shell: adapts workers-rs (KV, fetch, the JS clock, console) to [`Platform`], and
//! worker requests/responses to the core's types. No gateway logic lives here.

use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use worker::{
    AbortController, Env, Fetch, Headers, KvStore, Method, Request, RequestInit, Response,
};

use crate::gateway::{self, Body, GatewayRequest, GatewayResponse, RequestHeaders, Settings, Vars};
use crate::platform::{ByteStream, IsolateMemory, Kv, Platform, UpstreamRequest, UpstreamResponse};

/// The catalog's KV binding name (wrangler.toml).
const CATALOG_BINDING: &str = "CATALOG";

pub struct WorkerPlatform {
    kv: WorkerKv,
    isolate: Rc<IsolateMemory>,
}

thread_local! {
    /// What the isolate keeps across requests (the providers' caches).
    static ISOLATE: Rc<IsolateMemory> = Rc::new(IsolateMemory::default());
    /// Whether this isolate already logged what is wrong with its settings.
    static SETTINGS_CHECKED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Settings problems an operator must hear about, once per isolate (not once per request).
fn log_settings_problems(settings: &Settings) {
    if SETTINGS_CHECKED.with(|c| c.replace(true)) {
        return;
    }
    for bad in settings.trusted_custom_hosts.rejected() {
        worker::console_log!(
            "{}",
            serde_json::json!({"event": "settings_invalid", "var": "TRUSTED_CUSTOM_HOSTS",
                "entry": bad.position, "why": bad.reason.to_string()})
        );
    }
    if settings.catalog_key_malformed {
        worker::console_log!(
            "{}",
            serde_json::json!({"event": "settings_invalid", "var": "CATALOG_KEY",
                "why": "not base64 of 32 bytes"})
        );
    }
}

pub struct WorkerKv(Option<KvStore>);

impl Kv for WorkerKv {
    async fn get(&self, key: &str) -> Result<Option<String>, String> {
        let Some(store) = &self.0 else {
            return Err(format!("the {CATALOG_BINDING} KV binding is missing"));
        };
        store.get(key).text().await.map_err(|e| e.to_string())
    }

    async fn put(&self, key: &str, value: &str, ttl_seconds: Option<u64>) -> Result<(), String> {
        let Some(store) = &self.0 else {
            return Err(format!("the {CATALOG_BINDING} KV binding is missing"));
        };
        let mut put = store.put(key, value).map_err(|e| e.to_string())?;
        if let Some(ttl) = ttl_seconds {
            put = put.expiration_ttl(ttl);
        }
        put.execute().await.map_err(|e| e.to_string())
    }
}

impl Platform for WorkerPlatform {
    type Kv = WorkerKv;

    fn kv(&self) -> &WorkerKv {
        &self.kv
    }

    fn isolate(&self) -> &IsolateMemory {
        &self.isolate
    }

    fn fetch(
        &self,
        req: UpstreamRequest,
    ) -> Pin<Box<dyn Future<Output = Result<UpstreamResponse, String>> + '_>> {
        Box::pin(fetch_upstream(req))
    }

    fn sleep(&self, ms: u64) -> Pin<Box<dyn Future<Output = ()> + '_>> {
        Box::pin(worker::Delay::from(std::time::Duration::from_millis(ms)))
    }

    fn now_millis(&self) -> u64 {
        worker::Date::now().as_millis()
    }

    fn log(&self, line: &str) {
        worker::console_log!("{line}");
    }

    fn clock(&self) -> crate::platform::Clock {
        Rc::new(|| worker::Date::now().as_millis())
    }

    fn timer(&self) -> crate::platform::Timer {
        Rc::new(|ms: u64| Box::pin(Timer::new(ms)) as Pin<Box<dyn Future<Output = ()>>>)
    }

    fn log_sink(&self) -> crate::platform::LogSink {
        Rc::new(|line: &str| worker::console_log!("{line}"))
    }
}

async fn fetch_upstream(req: UpstreamRequest) -> Result<UpstreamResponse, String> {
    let headers = Headers::new();
    for (k, v) in &req.headers {
        headers.set(k, v).map_err(|e| e.to_string())?;
    }
    let mut init = RequestInit::new();
    // No upstream edgeport calls redirects legitimately; image downloads follow redirects
    // themselves so each hop is checked (providers/bedrock/media.rs).
    init.with_method(Method::from(req.method.to_owned()))
        .with_headers(headers)
        .with_redirect(worker::RequestRedirect::Manual);
    // fetch() refuses a body on GET (GetInferenceProfile, image downloads).
    if !(req.body.is_empty() && matches!(req.method, "GET" | "HEAD")) {
        init.with_body(Some(js_sys::Uint8Array::from(req.body.as_ref()).into()));
    }
    let request = Request::new_with_init(&req.url, &init).map_err(|e| e.to_string())?;
    let controller = AbortController::default();
    let signal = controller.signal();
    // Until the answer's headers arrive, dropping this future (a timeout won the race, the
    // client left) aborts the fetch; afterwards the body's AbortOnDrop takes over.
    let mut pending = AbortOnDrop {
        inner: futures_util::stream::empty::<()>(),
        controller: Some(controller),
    };
    let mut resp = Fetch::Request(request)
        .send_with_signal(&signal)
        .await
        .map_err(|e| e.to_string())?;
    let controller = pending.controller.take().unwrap_or_default();
    let status = resp.status_code();
    let headers = resp
        .headers()
        .entries()
        .map(|(k, v)| (k.to_ascii_lowercase(), v))
        .collect();
    let body: ByteStream = match resp.stream() {
        Ok(stream) => Box::pin(AbortOnDrop {
            inner: stream.map(|r| r.map(Bytes::from).map_err(|e| e.to_string())),
            controller: Some(controller),
        }),
        Err(_) => Box::pin(futures_util::stream::empty()),
    };
    Ok(UpstreamResponse {
        status,
        headers,
        body,
    })
}

/// `worker::Delay` wakes the task that polled it *first*. A stream's idle timer is armed in one
/// task (the read that found the stream quiet) and awaited by later ones (each read workerd makes
/// of our response body is its own task), so a plain Delay would wake a finished task and never
/// fire. This timer hands the Delay a waker that forwards to whichever task polled it last.
struct Timer {
    delay: Pin<Box<worker::Delay>>,
    forward: std::sync::Arc<ForwardWaker>,
}

#[derive(Default)]
struct ForwardWaker(std::sync::Mutex<Option<std::task::Waker>>);

impl futures_util::task::ArcWake for ForwardWaker {
    fn wake_by_ref(arc: &std::sync::Arc<Self>) {
        let current = arc.0.lock().ok().and_then(|w| w.clone());
        if let Some(waker) = current {
            waker.wake();
        }
    }
}

impl Timer {
    fn new(ms: u64) -> Self {
        Timer {
            delay: Box::pin(worker::Delay::from(std::time::Duration::from_millis(ms))),
            forward: std::sync::Arc::default(),
        }
    }
}

impl Future for Timer {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if let Ok(mut current) = self.forward.0.lock() {
            *current = Some(cx.waker().clone());
        }
        let waker = futures_util::task::waker(self.forward.clone());
        self.delay.as_mut().poll(&mut Context::from_waker(&waker))
    }
}

/// An upstream body that aborts its fetch when dropped: when the client goes away, workerd
/// cancels our response stream, this is dropped, and the read from Bedrock stops.
struct AbortOnDrop<S> {
    inner: S,
    controller: Option<AbortController>,
}

impl<S: Stream + Unpin> Stream for AbortOnDrop<S> {
    type Item = S::Item;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let poll = self.inner.poll_next_unpin(cx);
        if let Poll::Ready(None) = poll {
            // Finished normally: nothing to abort.
            self.controller = None;
        }
        poll
    }
}

impl<S> Drop for AbortOnDrop<S> {
    fn drop(&mut self) {
        if let Some(c) = self.controller.take() {
            c.abort();
        }
    }
}

pub async fn serve(mut req: Request, env: Env) -> worker::Result<Response> {
    let platform = WorkerPlatform {
        kv: WorkerKv(env.kv(CATALOG_BINDING).ok()),
        isolate: ISOLATE.with(Rc::clone),
    };
    // Vars and secrets read the same way: a missing one is None.
    let read = |name: &str| -> Option<String> {
        env.secret(name)
            .ok()
            .map(|v| v.to_string())
            .or_else(|| env.var(name).ok().map(|v| v.to_string()))
    };
    let (trusted, catalog_key, access_key_id, secret_access_key, session_token, allow) = (
        read("TRUSTED_CUSTOM_HOSTS"),
        read("CATALOG_KEY"),
        read("AWS_ACCESS_KEY_ID"),
        read("AWS_SECRET_ACCESS_KEY"),
        read("AWS_SESSION_TOKEN"),
        read("ALLOW_HEADER_CREDENTIALS_WITHOUT_KEY"),
    );
    let (schema_2, upstream_timeout, idle_timeout, cache_ttl) = (
        read("CATALOG_ACCEPT_SCHEMA_2"),
        read("UPSTREAM_TIMEOUT_MS"),
        read("STREAM_IDLE_TIMEOUT_MS"),
        read("CATALOG_CACHE_TTL_MS"),
    );
    let settings = Settings::from_vars(&Vars {
        trusted_custom_hosts: trusted.as_deref(),
        catalog_key: catalog_key.as_deref(),
        aws_access_key_id: access_key_id.as_deref(),
        aws_secret_access_key: secret_access_key.as_deref(),
        aws_session_token: session_token.as_deref(),
        allow_header_credentials_without_key: allow.as_deref(),
        catalog_accept_schema_2: schema_2.as_deref(),
        upstream_timeout_ms: upstream_timeout.as_deref(),
        stream_idle_timeout_ms: idle_timeout.as_deref(),
        catalog_cache_ttl_ms: cache_ttl.as_deref(),
    });
    log_settings_problems(&settings);
    let headers = RequestHeaders::new(req.headers().entries());
    let (body, oversized) = read_body(&mut req, &headers).await;
    let greq = GatewayRequest {
        method: req.method().to_string(),
        path: req.path(),
        headers,
        body,
        oversized,
    };
    let resp = gateway::handle(&platform, &settings, greq).await;
    into_response(resp)
}

/// The request body, kept only up to [`MAX_REQUEST_BODY_BYTES`]. A larger body (by its
/// `content-length` or as it arrives) is marked oversized and the rest is read and dropped, up to
/// [`MAX_DRAINED_BYTES`]: workerd resets the connection of a request whose body was left unread,
/// and the client would see that instead of the 413. Nothing past the cap is kept in memory. A
/// body that fails to read is empty (the JSON parse then says so).
async fn read_body(req: &mut Request, headers: &RequestHeaders) -> (Bytes, bool) {
    use crate::limits::{MAX_DRAINED_BYTES, MAX_REQUEST_BODY_BYTES};
    let Ok(mut stream) = req.stream() else {
        return (Bytes::new(), false);
    };
    let mut oversized = headers
        .get("content-length")
        .and_then(|l| l.trim().parse::<u64>().ok())
        .is_some_and(|l| l > MAX_REQUEST_BODY_BYTES as u64);
    let mut out = Vec::new();
    let mut seen = 0usize;
    while let Some(piece) = stream.next().await {
        let Ok(piece) = piece else {
            return (Bytes::new(), oversized);
        };
        seen = seen.saturating_add(piece.len());
        if oversized || seen > MAX_REQUEST_BODY_BYTES {
            oversized = true;
            out = Vec::new();
            if seen > MAX_DRAINED_BYTES {
                break;
            }
            continue;
        }
        out.extend_from_slice(&piece);
    }
    if oversized {
        return (Bytes::new(), true);
    }
    (Bytes::from(out), false)
}

fn into_response(resp: GatewayResponse) -> worker::Result<Response> {
    let headers = Headers::new();
    for (k, v) in &resp.headers {
        headers.append(k, v)?;
    }
    let out = match resp.body {
        Body::Full(bytes) => Response::from_bytes(bytes.to_vec())?,
        Body::Stream(stream) => {
            Response::from_stream(stream.map(|b| Ok::<Vec<u8>, worker::Error>(b.to_vec())))?
        }
    };
    Ok(out.with_status(resp.status).with_headers(headers))
}
