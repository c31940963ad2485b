//! What the pure core needs from its host: outbound HTTP, KV, the clock and a log. The Worker
//! shell (`shell/`) implements it with workers-rs; native tests implement it with fakes of the
//! *outside world* (an upstream that answers recorded bytes), never of edgeport's own code.

use std::future::Future;
use std::pin::Pin;

use bytes::Bytes;
use futures_util::Stream;

/// A body that arrives in pieces. Errors are transport failures (connection reset, abort).
pub type ByteStream = Pin<Box<dyn Stream<Item = Result<Bytes, String>>>>;

/// A request to an upstream (Bedrock, STS): built and signed by the core, sent by the platform.
/// `Debug` shows the method, URL, header names and body size: header values hold the signature,
/// session tokens and API keys.
#[derive(Clone, PartialEq)]
pub struct UpstreamRequest {
    pub method: &'static str,
    pub url: String,
    /// Lowercase names. Never includes `host`: the platform derives it from the URL, and the
    /// signature covers exactly that authority.
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
}

impl std::fmt::Debug for UpstreamRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamRequest")
            .field("method", &self.method)
            .field("url", &self.url)
            .field(
                "headers",
                &self
                    .headers
                    .iter()
                    .map(|(k, _)| k.as_str())
                    .collect::<Vec<_>>(),
            )
            .field("body_bytes", &self.body.len())
            .finish()
    }
}

pub struct UpstreamResponse {
    pub status: u16,
    /// Lowercase names.
    pub headers: Vec<(String, String)>,
    pub body: UpstreamBody,
}

/// A body the host can hand over whole, in one step, instead of piece by piece (in the Worker:
/// `arrayBuffer()` on the fetch answer, one promise instead of a reader and a promise per chunk).
pub trait HostBody {
    /// The whole body. Only called when its length is known and within the caller's limit.
    fn read_all(self: Box<Self>) -> Pin<Box<dyn Future<Output = Result<Bytes, String>>>>;
    /// The body as it arrives.
    fn into_stream(self: Box<Self>) -> ByteStream;
}

/// An upstream answer's body: pieces as they arrive, or a host body not read yet (read whole
/// when the answer is small JSON, as a stream otherwise). Every body carries the idle bound
/// [`crate::providers::options::send`] put on it.
pub struct UpstreamBody {
    inner: BodyInner,
    idle: Option<IdleBound>,
}

enum BodyInner {
    Stream(ByteStream),
    Host(Box<dyn HostBody>),
}

struct IdleBound {
    ms: u64,
    timer: Timer,
    clock: Clock,
}

impl From<ByteStream> for UpstreamBody {
    fn from(stream: ByteStream) -> Self {
        UpstreamBody {
            inner: BodyInner::Stream(stream),
            idle: None,
        }
    }
}

impl UpstreamBody {
    pub fn host(body: Box<dyn HostBody>) -> Self {
        UpstreamBody {
            inner: BodyInner::Host(body),
            idle: None,
        }
    }

    /// Ended with an error once nothing arrived for `idle_ms` (see [`with_idle_timeout`]).
    pub fn with_idle_timeout(mut self, idle_ms: u64, timer: Timer, clock: Clock) -> Self {
        self.idle = Some(IdleBound {
            ms: idle_ms,
            timer,
            clock,
        });
        self
    }

    /// The body as it arrives, idle bound included.
    pub fn into_stream(self) -> ByteStream {
        let stream = match self.inner {
            BodyInner::Stream(s) => s,
            BodyInner::Host(h) => h.into_stream(),
        };
        match self.idle {
            Some(b) => with_idle_timeout(stream, b.ms, b.timer, b.clock),
            None => stream,
        }
    }
}

impl UpstreamResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        header(&self.headers, name)
    }

    /// Reads the whole body, at most `limit` bytes (JSON answers only; streams are never
    /// collected). A longer body is an error as soon as it crosses the limit: an upstream cannot
    /// make the isolate buffer without bound. A host body of known length up to
    /// [`crate::limits::WHOLE_READ_MAX_BYTES`] (and not compressed: its decoded size is then not known) is read
    /// in one step, and must arrive whole within the idle bound.
    pub async fn collect(self, limit: usize) -> Result<Bytes, String> {
        use futures_util::StreamExt;
        let length = self
            .header("content-length")
            .and_then(|l| l.trim().parse::<u64>().ok());
        if length.is_some_and(|l| l > limit as u64) {
            return Err(format!("the answer is larger than {limit} bytes"));
        }
        let identity = self
            .header("content-encoding")
            .is_none_or(|e| e.trim().is_empty() || e.trim().eq_ignore_ascii_case("identity"));
        let whole = identity && length.is_some_and(|l| l <= crate::limits::WHOLE_READ_MAX_BYTES);
        let UpstreamBody { inner, idle } = self.body;
        let inner = match inner {
            BodyInner::Host(host) if whole => {
                let read = host.read_all();
                let bytes = match idle {
                    None => read.await?,
                    Some(bound) => {
                        use futures_util::future::{select, Either};
                        match select(read, (bound.timer)(bound.ms)).await {
                            Either::Left((bytes, _)) => bytes?,
                            Either::Right(_) => {
                                return Err(format!(
                                "the upstream's {}-byte answer did not arrive whole within {} ms",
                                length.unwrap_or(0),
                                bound.ms
                            ))
                            }
                        }
                    }
                };
                if bytes.len() > limit {
                    return Err(format!("the answer is larger than {limit} bytes"));
                }
                return Ok(bytes);
            }
            other => other,
        };
        let mut body = UpstreamBody { inner, idle }.into_stream();
        let mut out = Vec::new();
        while let Some(piece) = body.next().await {
            let piece = piece?;
            if out.len().saturating_add(piece.len()) > limit {
                return Err(format!("the answer is larger than {limit} bytes"));
            }
            out.extend_from_slice(&piece);
        }
        Ok(Bytes::from(out))
    }
}

/// Case-insensitive lookup in a lowercase header list.
pub fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// A `'static` log line writer (see [`Platform::log_sink`]).
pub type LogSink = std::rc::Rc<dyn Fn(&str)>;

/// A `'static` clock: milliseconds since the Unix epoch (see [`Platform::clock`]).
pub type Clock = std::rc::Rc<dyn Fn() -> u64>;

/// A `'static` timer: a future that completes after the given milliseconds (see
/// [`Platform::timer`]).
/// Fired when work that outlives the request handler (a streamed answer) is over. The shell keeps
/// the request alive until then (`waitUntil`), so what runs at a stream's end (its log line, its
/// data point) is not cut off when the client leaves early.
#[derive(Clone, Default)]
pub struct EndSignal(std::rc::Rc<EndState>);

#[derive(Default)]
struct EndState {
    done: std::cell::Cell<bool>,
    waker: std::cell::RefCell<Option<std::task::Waker>>,
}

impl EndSignal {
    pub fn fire(&self) {
        self.0.done.set(true);
        if let Some(w) = self.0.waker.borrow_mut().take() {
            w.wake();
        }
    }

    pub fn fired(&self) -> bool {
        self.0.done.get()
    }

    /// Resolves once [`EndSignal::fire`] was called.
    pub fn wait(&self) -> impl Future<Output = ()> + 'static {
        let state = self.0.clone();
        futures_util::future::poll_fn(move |cx| {
            if state.done.get() {
                std::task::Poll::Ready(())
            } else {
                *state.waker.borrow_mut() = Some(cx.waker().clone());
                std::task::Poll::Pending
            }
        })
    }
}

/// One Analytics Engine data point: its index, blobs and doubles in order.
#[derive(Debug, Clone, PartialEq)]
pub struct DataPoint {
    pub index: String,
    pub blobs: Vec<String>,
    pub doubles: Vec<f64>,
}

/// Writes data points to the Analytics Engine dataset (outlives the request handler).
pub type AnalyticsSink = std::rc::Rc<dyn Fn(&DataPoint)>;

/// One operation on a subject's limits (the `Limiter` Durable Object named after the subject).
pub type LimiterSink = std::rc::Rc<
    dyn Fn(
        String,
        crate::budget::Op,
    ) -> Pin<Box<dyn Future<Output = Result<crate::budget::Reply, String>>>>,
>;

/// Runs work after the answer is sent, keeping the request alive until it is done (`waitUntil`).
pub type Spawner = std::rc::Rc<dyn Fn(Pin<Box<dyn Future<Output = ()>>>)>;

/// A KV write that outlives the request handler (a streamed response stored when it ends):
/// key, value, TTL in seconds.
pub type KvWriter = std::rc::Rc<
    dyn Fn(String, String, Option<u64>) -> Pin<Box<dyn Future<Output = Result<(), String>>>>,
>;

pub type Timer = std::rc::Rc<dyn Fn(u64) -> Pin<Box<dyn Future<Output = ()>>>>;

/// `body`, ended with an error once nothing arrived for `idle_ms` (the stream drivers report it
/// in-stream). One timer runs per quiet spell, not one per chunk: when it fires early (data came
/// meanwhile) it is re-armed for the time left, measured on `clock`.
pub fn with_idle_timeout(body: ByteStream, idle_ms: u64, timer: Timer, clock: Clock) -> ByteStream {
    let last = clock();
    Box::pin(IdleTimeout {
        inner: body,
        idle_ms,
        timer,
        clock,
        last,
        sleep: None,
        fired: false,
    })
}

struct IdleTimeout {
    inner: ByteStream,
    idle_ms: u64,
    timer: Timer,
    clock: Clock,
    /// When the last piece arrived.
    last: u64,
    sleep: Option<Pin<Box<dyn Future<Output = ()>>>>,
    fired: bool,
}

impl Stream for IdleTimeout {
    type Item = Result<Bytes, String>;

    fn poll_next(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        use std::task::Poll;
        if self.fired {
            return Poll::Ready(None);
        }
        match self.inner.as_mut().poll_next(cx) {
            Poll::Ready(Some(piece)) => {
                self.last = (self.clock)();
                return Poll::Ready(Some(piece));
            }
            Poll::Ready(None) => return Poll::Ready(None),
            Poll::Pending => {}
        }
        loop {
            if self.sleep.is_none() {
                let quiet = (self.clock)().saturating_sub(self.last);
                if quiet >= self.idle_ms {
                    self.fired = true;
                    let idle = self.idle_ms;
                    return Poll::Ready(Some(Err(format!(
                        "the upstream sent nothing for {idle} ms"
                    ))));
                }
                let wait = (self.timer)(self.idle_ms - quiet);
                self.sleep = Some(wait);
            }
            let Some(sleep) = self.sleep.as_mut() else {
                return Poll::Pending;
            };
            match sleep.as_mut().poll(cx) {
                Poll::Ready(()) => self.sleep = None,
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

/// Values an isolate keeps across the requests it serves, one per type, created on first use.
/// The host only stores them; what they are (STS credentials, inference profiles) is the owning
/// module's business, and each bounds its own size.
#[derive(Default)]
pub struct IsolateMemory(
    std::cell::RefCell<std::collections::HashMap<std::any::TypeId, std::rc::Rc<dyn std::any::Any>>>,
);

impl IsolateMemory {
    pub fn get<T: Default + 'static>(&self) -> std::rc::Rc<T> {
        let id = std::any::TypeId::of::<T>();
        if let Some(found) = self.0.borrow().get(&id).cloned() {
            if let Ok(value) = found.downcast::<T>() {
                return value;
            }
        }
        let value = std::rc::Rc::new(T::default());
        self.0.borrow_mut().insert(id, value.clone());
        value
    }
}

#[allow(async_fn_in_trait)]
pub trait Kv {
    async fn get(&self, key: &str) -> Result<Option<String>, String>;
    async fn put(&self, key: &str, value: &str, ttl_seconds: Option<u64>) -> Result<(), String>;
    async fn delete(&self, key: &str) -> Result<(), String>;
}

pub trait Platform {
    type Kv: Kv;

    /// The catalog namespace.
    fn kv(&self) -> &Self::Kv;

    /// Memory this isolate keeps across requests (a provider's caches), one value per type.
    fn isolate(&self) -> &IsolateMemory;

    /// Sends a request upstream; the answer's body streams.
    fn fetch(
        &self,
        req: UpstreamRequest,
    ) -> Pin<Box<dyn Future<Output = Result<UpstreamResponse, String>> + '_>>;

    /// Waits `ms` milliseconds on this request's own timer.
    fn sleep(&self, ms: u64) -> Pin<Box<dyn Future<Output = ()> + '_>>;

    /// Milliseconds since the Unix epoch (the JS clock in the Worker).
    fn now_millis(&self) -> u64;

    /// One structured log line. Callers never pass secrets.
    fn log(&self, line: &str);

    /// A log that outlives the request handler: streamed answers log their end through it.
    fn log_sink(&self) -> LogSink;

    /// The limits' Durable Objects, when the Worker has the `LIMITER` binding.
    fn limiter(&self) -> Option<LimiterSink>;

    /// Work that runs after the answer (recording a request's usage).
    fn spawner(&self) -> Spawner;

    /// The Analytics Engine dataset, when the Worker has the `ANALYTICS` binding.
    fn analytics(&self) -> Option<AnalyticsSink>;

    /// KV writes for work that outlives the request handler (the end of a stream).
    fn kv_writer(&self) -> KvWriter;

    /// The clock, for work that outlives the request handler (the end of a stream).
    fn clock(&self) -> Clock;

    /// Timers for work that outlives the request handler (a stream's idle timeout) and for
    /// timeouts raced against an upstream call.
    fn timer(&self) -> Timer;
}
