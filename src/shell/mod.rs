//! The Worker shell: adapts workers-rs (KV, fetch, the JS clock, console) to [`Platform`], and
//! worker requests/responses to the core's types. No gateway logic lives here.

use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use worker::js_sys::futures::JsFuture;
use worker::{web_sys, Env, Headers, KvStore, Response, ResponseBody};

use crate::gateway::{self, Body, GatewayRequest, GatewayResponse, RequestHeaders, Settings, Vars};
use crate::platform::{
    ByteStream, HostBody, IsolateMemory, Kv, Platform, UpstreamBody, UpstreamRequest,
    UpstreamResponse,
};

/// The catalog's KV binding name (wrangler.toml).
const CATALOG_BINDING: &str = "CATALOG";

pub struct WorkerPlatform {
    kv: WorkerKv,
    isolate: Rc<IsolateMemory>,
    /// The `ANALYTICS` Analytics Engine binding, when configured.
    analytics: Option<worker::AnalyticsEngineDataset>,
    /// The `LIMITER` Durable Object namespace is read from it on use.
    env: Rc<Env>,
    /// `waitUntil`, for work after the answer.
    ctx: Rc<worker::Context>,
}

mod limiter;

/// The Analytics Engine binding's name (README: Analytics).
const ANALYTICS_BINDING: &str = "ANALYTICS";

thread_local! {
    /// What the isolate keeps across requests (the providers' caches).
    static ISOLATE: Rc<IsolateMemory> = Rc::new(IsolateMemory::default());
    /// The operator's settings (see [`settings`]).
    static SETTINGS: std::cell::RefCell<Option<Rc<Settings>>> = const { std::cell::RefCell::new(None) };
}

/// Settings problems an operator must hear about, once per isolate (when they are read).
fn log_settings_problems(settings: &Settings) {
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

    async fn delete(&self, key: &str) -> Result<(), String> {
        let Some(store) = &self.0 else {
            return Err(format!("the {CATALOG_BINDING} KV binding is missing"));
        };
        store.delete(key).await.map_err(|e| e.to_string())
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

    fn kv_writer(&self) -> crate::platform::KvWriter {
        let kv = WorkerKv(self.kv.0.clone());
        Rc::new(move |key: String, value: String, ttl: Option<u64>| {
            let kv = WorkerKv(kv.0.clone());
            Box::pin(async move { kv.put(&key, &value, ttl).await })
                as Pin<Box<dyn Future<Output = Result<(), String>>>>
        })
    }

    fn limiter(&self) -> Option<crate::platform::LimiterSink> {
        self.env.durable_object(limiter::LIMITER_BINDING).ok()?;
        let env = self.env.clone();
        Some(Rc::new(move |subject: String, op: crate::budget::Op| {
            let env = env.clone();
            Box::pin(async move { limiter::call(&env, &subject, &op).await })
                as Pin<Box<dyn Future<Output = Result<crate::budget::Reply, String>>>>
        }))
    }

    fn spawner(&self) -> crate::platform::Spawner {
        let ctx = self.ctx.clone();
        Rc::new(move |work| ctx.wait_until(work))
    }

    fn analytics(&self) -> Option<crate::platform::AnalyticsSink> {
        let dataset = self.analytics.clone()?;
        Some(Rc::new(move |point: &crate::platform::DataPoint| {
            let written = worker::AnalyticsEngineDataPointBuilder::new()
                .indexes([point.index.as_str()])
                .blobs(point.blobs.iter().map(String::as_str))
                .doubles(point.doubles.iter().copied())
                .write_to(&dataset);
            if let Err(e) = written {
                worker::console_log!(
                    "{}",
                    serde_json::json!({"event": "analytics_write_failed", "why": e.to_string()})
                );
            }
        }))
    }

    fn log_sink(&self) -> crate::platform::LogSink {
        Rc::new(|line: &str| worker::console_log!("{line}"))
    }
}

/// A JS exception as text (workerd's messages name no secrets: they are about the connection).
fn js_error(e: wasm_bindgen::JsValue) -> String {
    worker::Error::from(e).to_string()
}

/// `fetch` through web-sys directly: the answer stays a JS `Response` until the core decides how
/// to read its body (whole with one `arrayBuffer()` for small JSON, or chunk by chunk).
async fn fetch_upstream(req: UpstreamRequest) -> Result<UpstreamResponse, String> {
    use wasm_bindgen::JsCast;
    let headers = web_sys::Headers::new().map_err(js_error)?;
    for (k, v) in &req.headers {
        headers.set(k, v).map_err(js_error)?;
    }
    let init = web_sys::RequestInit::new();
    init.set_method(req.method);
    init.set_headers(&headers);
    // No upstream edgeport calls redirects legitimately; image downloads follow redirects
    // themselves so each hop is checked (providers/bedrock/media.rs).
    init.set_redirect(web_sys::RequestRedirect::Manual);
    // fetch() refuses a body on GET (GetInferenceProfile, image downloads).
    if !(req.body.is_empty() && matches!(req.method, "GET" | "HEAD")) {
        init.set_body(&js_sys::Uint8Array::from(req.body.as_ref()));
    }
    let controller = web_sys::AbortController::new().map_err(js_error)?;
    init.set_signal(Some(&controller.signal()));
    // Until the answer's headers arrive, dropping this future (a timeout won the race, the
    // client left) aborts the fetch; afterwards the body's guard takes over.
    let abort = AbortGuard(Some(controller));
    let global: web_sys::WorkerGlobalScope = js_sys::global().unchecked_into();
    let answer = JsFuture::from(global.fetch_with_str_and_init(&req.url, &init))
        .await
        .map_err(js_error)?;
    let resp: web_sys::Response = answer.unchecked_into();
    let status = resp.status();
    let headers = Headers(resp.headers())
        .entries()
        .map(|(k, v)| (k.to_ascii_lowercase(), v))
        .collect();
    Ok(UpstreamResponse {
        status,
        headers,
        body: UpstreamBody::host(Box::new(JsBody { resp, abort })),
    })
}

/// Aborts its fetch when dropped, unless disarmed (the body was read to its end): when the client
/// goes away, workerd cancels our response, this is dropped, and the read from upstream stops.
struct AbortGuard(Option<web_sys::AbortController>);

impl AbortGuard {
    fn disarm(&mut self) {
        self.0 = None;
    }
}

impl Drop for AbortGuard {
    fn drop(&mut self) {
        if let Some(c) = self.0.take() {
            c.abort();
        }
    }
}

/// An upstream answer's body, not read yet.
struct JsBody {
    resp: web_sys::Response,
    abort: AbortGuard,
}

impl HostBody for JsBody {
    fn read_all(self: Box<Self>) -> Pin<Box<dyn Future<Output = Result<Bytes, String>>>> {
        let JsBody { resp, mut abort } = *self;
        Box::pin(async move {
            let buffer = JsFuture::from(resp.array_buffer().map_err(js_error)?)
                .await
                .map_err(js_error)?;
            abort.disarm();
            Ok(Bytes::from(js_sys::Uint8Array::new(&buffer).to_vec()))
        })
    }

    fn into_stream(self: Box<Self>) -> ByteStream {
        use wasm_bindgen::JsCast;
        let JsBody { resp, abort } = *self;
        match resp.body() {
            Some(body) => Box::pin(JsChunks {
                reader: body.get_reader().unchecked_into(),
                read: None,
                abort,
                done: false,
            }),
            None => Box::pin(futures_util::stream::empty()),
        }
    }
}

#[wasm_bindgen::prelude::wasm_bindgen]
extern "C" {
    /// What `ReadableStreamDefaultReader.read()` resolves to.
    type ReadResult;
    #[wasm_bindgen(method, getter)]
    fn done(this: &ReadResult) -> bool;
    #[wasm_bindgen(method, getter)]
    fn value(this: &ReadResult) -> wasm_bindgen::JsValue;
}

/// The body's chunks, one `read()` each. Hand-written rather than workers-rs' `stream()`
/// (wasm-streams), which releases the reader's lock when it is dropped: by the Streams spec that
/// creates a `TypeError` (with its stack trace) even after the stream ended, which the profile
/// showed as the largest single cost of a JSON request. Here a finished reader is just dropped;
/// an unfinished one aborts its fetch (the [`AbortGuard`]).
struct JsChunks {
    reader: web_sys::ReadableStreamDefaultReader,
    read: Option<JsFuture>,
    abort: AbortGuard,
    done: bool,
}

impl Stream for JsChunks {
    type Item = Result<Bytes, String>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        use wasm_bindgen::JsCast;
        if self.done {
            return Poll::Ready(None);
        }
        let this = &mut *self;
        let read = this
            .read
            .get_or_insert_with(|| JsFuture::from(this.reader.read()));
        let result = match Pin::new(read).poll(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(result) => result,
        };
        this.read = None;
        match result {
            Ok(value) => {
                let result: ReadResult = value.unchecked_into();
                if result.done() {
                    this.done = true;
                    this.abort.disarm();
                    return Poll::Ready(None);
                }
                let chunk = js_sys::Uint8Array::new(&result.value());
                Poll::Ready(Some(Ok(Bytes::from(chunk.to_vec()))))
            }
            Err(e) => {
                this.done = true;
                Poll::Ready(Some(Err(js_error(e))))
            }
        }
    }
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

/// The operator's settings, read from the Worker's vars and secrets once per isolate: bindings
/// are fixed for an isolate's life (a deploy or a changed secret starts new isolates).
fn settings(env: &Env) -> Rc<Settings> {
    if let Some(s) = SETTINGS.with(|s| s.borrow().clone()) {
        return s;
    }
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
    let admin_token = read("ADMIN_TOKEN");
    let (schema_2, upstream_timeout, idle_timeout, cache_ttl, analytics_keys) = (
        read("CATALOG_ACCEPT_SCHEMA_2"),
        read("UPSTREAM_TIMEOUT_MS"),
        read("STREAM_IDLE_TIMEOUT_MS"),
        read("CATALOG_CACHE_TTL_MS"),
        read("ANALYTICS_METADATA_KEYS"),
    );
    let settings = Rc::new(Settings::from_vars(&Vars {
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
        analytics_metadata_keys: analytics_keys.as_deref(),
        admin_token: admin_token.as_deref(),
    }));
    log_settings_problems(&settings);
    SETTINGS.with(|s| *s.borrow_mut() = Some(settings.clone()));
    settings
}

/// One request, on the runtime's own `Request` and `Response` objects (workers-rs' wrappers read
/// `request.cf` and copy bodies we do not need).
pub async fn serve(
    req: web_sys::Request,
    env: Env,
    ctx: worker::Context,
) -> worker::Result<web_sys::Response> {
    let ctx = Rc::new(ctx);
    let env = Rc::new(env);
    let platform = WorkerPlatform {
        kv: WorkerKv(env.kv(CATALOG_BINDING).ok()),
        isolate: ISOLATE.with(Rc::clone),
        analytics: env.analytics_engine(ANALYTICS_BINDING).ok(),
        env: env.clone(),
        ctx: ctx.clone(),
    };
    let settings = settings(&env);
    let headers = RequestHeaders::new(Headers(req.headers()).entries());
    let (body, oversized) = read_body(&req, &headers).await;
    let greq = GatewayRequest {
        method: req.method(),
        path: crate::http::path_of(&req.url()),
        headers,
        body,
        oversized,
    };
    let mut resp = gateway::handle(&platform, &settings, greq).await;
    // A stream's end (its log line, its data point) runs after the answer was handed over, also
    // when the client leaves early: the request stays alive until then, and the stream is cut when
    // the client is gone (the request's signal, or nothing read for the idle timeout).
    if let Body::Stream(stream) = resp.body {
        let ended = stream.end_signal();
        let (stream, watch) = cut_when_client_leaves(stream, req.signal());
        if let Some(ended) = ended {
            ctx.wait_until(watch.until_ended(ended, settings.stream_idle_timeout_ms));
        }
        resp.body = Body::Stream(stream);
    }
    into_response(resp)
}

type StreamSlot = Rc<std::cell::RefCell<Option<Pin<Box<crate::stream::driver::SseStream>>>>>;

/// `stream`, dropped at once when `signal` aborts (the client went away; workerd sets it with the
/// `enable_request_signal` compatibility flag), or by [`Watch::until_ended`] when the runtime has
/// not read from it for the idle timeout. Without this, a stream whose reader stopped pulling
/// (local workerd does not always cancel the body of a client that left) would wait, never
/// polled and never dropped, and its end (log line, usage) would not run. It then ends as
/// `client_closed`.
fn cut_when_client_leaves(
    stream: crate::stream::driver::SseStream,
    signal: web_sys::AbortSignal,
) -> (crate::stream::driver::SseStream, Watch) {
    use wasm_bindgen::closure::Closure;
    use wasm_bindgen::JsCast;
    struct Cut {
        slot: StreamSlot,
        last_read: Rc<std::cell::Cell<u64>>,
        signal: web_sys::AbortSignal,
        _on_abort: Closure<dyn FnMut()>,
    }
    impl Stream for Cut {
        type Item = Bytes;
        fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
            self.last_read.set(worker::Date::now().as_millis());
            let mut slot = self.slot.borrow_mut();
            match slot.as_mut() {
                Some(inner) => inner.as_mut().poll_next(cx),
                None => Poll::Ready(None),
            }
        }
    }
    impl Drop for Cut {
        fn drop(&mut self) {
            self.signal.set_onabort(None);
        }
    }
    let slot: StreamSlot = Rc::new(std::cell::RefCell::new(None));
    let last_read = Rc::new(std::cell::Cell::new(worker::Date::now().as_millis()));
    let watch = Watch {
        slot: slot.clone(),
        last_read: last_read.clone(),
    };
    let stream = stream.wrap(|inner| {
        *slot.borrow_mut() = Some(Box::pin(inner));
        let cut = slot.clone();
        let on_abort = Closure::<dyn FnMut()>::new(move || {
            // Never during a poll: the abort event is its own task.
            if let Ok(mut s) = cut.try_borrow_mut() {
                s.take();
            }
        });
        signal.set_onabort(Some(on_abort.as_ref().unchecked_ref()));
        Box::pin(Cut {
            slot,
            last_read,
            signal,
            _on_abort: on_abort,
        })
    });
    (stream, watch)
}

/// Watches a streamed answer for a reader that went away without the runtime saying so.
struct Watch {
    slot: StreamSlot,
    last_read: Rc<std::cell::Cell<u64>>,
}

impl Watch {
    /// Resolves when the stream ended; drops it first if nothing read from it for `idle_ms`.
    async fn until_ended(self, ended: crate::platform::EndSignal, idle_ms: u64) {
        loop {
            let tick = worker::Delay::from(std::time::Duration::from_millis(idle_ms));
            match futures_util::future::select(Box::pin(ended.wait()), tick).await {
                futures_util::future::Either::Left(_) => return,
                futures_util::future::Either::Right(_) => {
                    let now = worker::Date::now().as_millis();
                    if now.saturating_sub(self.last_read.get()) >= idle_ms {
                        if let Ok(mut s) = self.slot.try_borrow_mut() {
                            s.take();
                        }
                        return;
                    }
                }
            }
        }
    }
}

/// The request body, kept only up to [`MAX_REQUEST_BODY_BYTES`]. A larger body (by its
/// `content-length` or as it arrives) is marked oversized and the rest is read and dropped, up to
/// [`MAX_DRAINED_BYTES`]: workerd resets the connection of a request whose body was left unread,
/// and the client would see that instead of the 413. Nothing past the cap is kept in memory. A
/// body that fails to read is empty (the JSON parse then says so).
async fn read_body(req: &web_sys::Request, headers: &RequestHeaders) -> (Bytes, bool) {
    use crate::limits::{MAX_DRAINED_BYTES, MAX_REQUEST_BODY_BYTES};
    use wasm_bindgen::JsCast;
    let Some(body) = req.body() else {
        return (Bytes::new(), false);
    };
    let length = headers
        .get("content-length")
        .and_then(|l| l.trim().parse::<u64>().ok());
    // A body of known length within the cap (request bodies are never decoded, so that is its
    // size) is read in one step: one promise, no reader.
    if length.is_some_and(|l| l <= MAX_REQUEST_BODY_BYTES as u64) {
        let read = match req.array_buffer() {
            Ok(promise) => JsFuture::from(promise).await,
            Err(e) => Err(e),
        };
        return match read {
            Ok(buffer) => {
                let bytes = js_sys::Uint8Array::new(&buffer);
                if bytes.length() as usize > MAX_REQUEST_BODY_BYTES {
                    (Bytes::new(), true)
                } else {
                    (Bytes::from(bytes.to_vec()), false)
                }
            }
            Err(_) => (Bytes::new(), false),
        };
    }
    let mut stream = JsChunks {
        reader: body.get_reader().unchecked_into(),
        read: None,
        abort: AbortGuard(None),
        done: false,
    };
    let mut oversized = length.is_some_and(|l| l > MAX_REQUEST_BODY_BYTES as u64);
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

fn into_response(resp: GatewayResponse) -> worker::Result<web_sys::Response> {
    let headers = web_sys::Headers::new()?;
    for (k, v) in &resp.headers {
        headers.append(k, v)?;
    }
    let init = web_sys::ResponseInit::new();
    init.set_status(resp.status);
    init.set_headers(&headers);
    Ok(match resp.body {
        Body::Full(bytes) => web_sys::Response::new_with_opt_buffer_source_and_init(
            Some(&js_sys::Uint8Array::from(bytes.as_ref())),
            &init,
        )?,
        Body::Stream(stream) => {
            let stream = stream.map(|b| Ok::<Vec<u8>, worker::Error>(b.to_vec()));
            // workers-rs turns the Rust stream into a ReadableStream (wasm-streams, pulled by the
            // runtime one piece at a time).
            let ResponseBody::Stream(readable) = Response::from_stream(stream)?.into_parts().1
            else {
                return Err(worker::Error::RustError(
                    "a streamed answer without a body".into(),
                ));
            };
            web_sys::Response::new_with_opt_readable_stream_and_init(Some(&readable), &init)?
        }
    })
}
