//! The one log line of each request (README: Logs), its cost, and its Analytics Engine data
//! point. A JSON answer's line is written when the answer is; a stream's when it ends, saying
//! how. Never holds a secret: keys appear as their name and a hash prefix, credentials not at all.

use std::rc::Rc;

use bytes::Bytes;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::gateway::{routed, Billing, Outcome};
use crate::http::GatewayRequest;
use crate::platform::{AnalyticsSink, Clock, DataPoint, EndSignal, LimiterSink, LogSink, Spawner};
use crate::routing::cache::HIT;
use crate::trace::TraceContext;
use crate::usage::prices::{self, Provider, Tokens};

/// Token counts as the line shows them.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct UsageLog {
    /// Input tokens neither read from nor written to a prompt cache.
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_read_tokens: u64,
    pub cache_write_tokens: u64,
    /// Images generated (image models; absent from the line when 0).
    #[serde(skip_serializing_if = "is_zero")]
    pub images: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl From<Tokens> for UsageLog {
    fn from(t: Tokens) -> Self {
        UsageLog {
            input_tokens: t.input,
            output_tokens: t.output,
            cache_read_tokens: t.cache_read,
            cache_write_tokens: t.cache_write,
            images: t.images,
        }
    }
}

/// The one log line of a request. Never holds secrets.
#[derive(Debug, Serialize)]
pub struct RequestLog {
    pub trace_id: String,
    /// The gateway's span (this request).
    pub span_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent_span_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub span_name: Option<String>,
    pub method: String,
    pub path: String,
    pub route: &'static str,
    pub status: u16,
    pub provider: Option<String>,
    /// The gateway key's name.
    pub key: Option<String>,
    /// The first 12 hex digits of the gateway key's hash (names are labels and may repeat).
    pub key_hash: Option<String>,
    pub model: Option<String>,
    pub stream: bool,
    /// The error code (edgeport's, or the upstream's).
    pub error: Option<String>,
    /// The config target that answered (or failed last).
    pub target: Option<String>,
    pub retries: Option<u32>,
    pub cache: Option<&'static str>,
    pub metadata: Map<String, Value>,
    pub usage: Option<UsageLog>,
    /// USD, from the price table; `null` when the model (or its region) has no price.
    pub cost_usd: Option<f64>,
    /// The price row used, or `cache_hit` / `not_billed` (cost 0).
    pub price: Option<&'static str>,
    /// Milliseconds from the request's arrival to its answer (a stream: to its end).
    pub ms: u64,
    /// The answering attempt: from its start to its answer (JSON: read whole; a stream: its
    /// first event).
    pub upstream_ms: Option<u64>,
    /// A stream: from the answering attempt's start to the stream's end.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upstream_end_ms: Option<u64>,
    /// How a stream ended (`complete`, `error`, `client_closed`); absent for other answers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end: Option<&'static str>,
    /// Every upstream attempt, each its own span (parent: `span_id`).
    pub attempts: routed::Attempts,
    #[serde(skip)]
    started: u64,
    /// When the answering attempt started (for `upstream_end_ms`).
    #[serde(skip)]
    upstream_started: Option<u64>,
    #[serde(skip)]
    tokens: Option<Tokens>,
    #[serde(skip)]
    billing: Option<Billing>,
    /// The gateway key's whole hash (the Analytics Engine index).
    #[serde(skip)]
    key_hash_full: Option<String>,
    /// What the request reserved under its limits, settled with its usage when the line is
    /// written.
    #[serde(skip)]
    admission: Option<crate::gateway::limits::Admission>,
}

/// Everything known when the answer's status is: the line, without its times and cost.
pub fn request_log(
    req: &GatewayRequest,
    route: &'static str,
    trace: TraceContext,
    metadata: Map<String, Value>,
    status: u16,
    outcome: Outcome,
    started: u64,
) -> RequestLog {
    let (target, retries) = match outcome.routed {
        Some(r) => (Some(r.index), Some(r.retries)),
        None => (None, None),
    };
    let mut attempts = outcome.attempts;
    // An answer from the cache asked nothing upstream: the attempt that found it is not a span.
    if outcome.cache == Some(HIT) {
        attempts.pop();
    }
    let answered = attempts.last().filter(|a| (200..300).contains(&a.status));
    RequestLog {
        trace_id: trace.trace_id,
        span_id: trace.span_id,
        parent_span_id: trace.parent_span_id,
        span_name: trace.span_name,
        method: req.method.clone(),
        path: req.path.clone(),
        route,
        status,
        provider: outcome.provider,
        key: outcome.key,
        key_hash: outcome
            .key_hash
            .as_ref()
            .map(|h| h.chars().take(12).collect::<String>()),
        model: outcome.model,
        stream: outcome.stream,
        error: outcome.error,
        target,
        retries,
        cache: outcome.cache,
        metadata,
        usage: None,
        cost_usd: None,
        price: None,
        ms: 0,
        upstream_ms: answered.map(|a| a.ms),
        upstream_end_ms: None,
        end: None,
        upstream_started: answered.map(|a| a.started_at),
        attempts,
        started,
        tokens: outcome.usage,
        billing: outcome.billing,
        key_hash_full: outcome.key_hash,
        admission: outcome.admission,
    }
}

impl RequestLog {
    /// Whether the request holds reservations under limits (settled when the line is written).
    pub fn has_admission(&self) -> bool {
        self.admission.is_some()
    }

    /// A stream's usage, read when it ends.
    pub fn set_tokens(&mut self, tokens: Option<Tokens>) {
        if tokens.is_some() {
            self.tokens = tokens;
        }
    }

    /// The usage and its cost: 0 for a cache hit (nothing was asked upstream) and for what
    /// Bedrock does not bill; the price table's figure otherwise (`null` when it has none).
    fn price(&mut self) {
        let Some(tokens) = self.tokens else {
            return;
        };
        self.usage = Some(tokens.into());
        let (cost, price) = if self.cache == Some(HIT) {
            (Some(0.0), Some("cache_hit"))
        } else {
            let provider = match &self.billing {
                Some(Billing::NotBilled) => {
                    self.cost_usd = Some(0.0);
                    self.price = Some("not_billed");
                    return;
                }
                Some(Billing::Bedrock { region }) => Provider::Bedrock {
                    region: Some(region.as_str()),
                },
                Some(Billing::OpenAi) => Provider::OpenAi,
                None => return,
            };
            match self
                .model
                .as_deref()
                .and_then(|m| prices::cost(provider, m, &tokens))
            {
                Some(c) => (Some(c.total), Some(c.price.id)),
                None => (None, None),
            }
        };
        self.cost_usd = cost;
        self.price = price;
    }

    /// The Analytics Engine data point of this line (README: Analytics): index = the gateway
    /// key's hash; blobs and doubles in the documented order; `metadata_keys` name the metadata
    /// values that follow the fixed blobs.
    pub fn data_point(&self, metadata_keys: &[String]) -> DataPoint {
        let usage = self.usage.unwrap_or(UsageLog {
            input_tokens: 0,
            output_tokens: 0,
            cache_read_tokens: 0,
            cache_write_tokens: 0,
            images: 0,
        });
        let text = |v: Option<&str>| clip(v.unwrap_or(""));
        let mut blobs = vec![
            self.route.to_owned(),
            text(self.provider.as_deref()),
            text(self.model.as_deref()),
            self.status.to_string(),
            text(self.error.as_deref()),
            text(self.key.as_deref()),
            text(self.cache),
            text(self.end),
            text(self.price),
            text(Some(&self.trace_id)),
        ];
        blobs.extend(
            metadata_keys
                .iter()
                .map(|k| text(self.metadata.get(k).and_then(Value::as_str))),
        );
        let n = |v: u64| v as f64;
        DataPoint {
            index: self
                .key_hash_full
                .clone()
                .unwrap_or_else(|| "anonymous".to_owned()),
            blobs,
            doubles: vec![
                n(usage.input_tokens),
                n(usage.output_tokens),
                n(usage.cache_read_tokens),
                n(usage.cache_write_tokens),
                self.cost_usd.unwrap_or(0.0),
                if self.cost_usd.is_some() { 1.0 } else { 0.0 },
                n(self.ms),
                n(self.upstream_ms.unwrap_or(0)),
                n(self.upstream_end_ms.unwrap_or(0)),
                n(u64::from(self.retries.unwrap_or(0))),
                n(self.attempts.len() as u64),
                f64::from(self.status),
                if self.stream { 1.0 } else { 0.0 },
                n(usage.images),
            ],
        }
    }
}

/// A blob's longest value (Analytics Engine allows 16 KB of blobs per point; 20 of these fit).
const MAX_BLOB_BYTES: usize = 256;

fn clip(v: &str) -> String {
    let mut end = v.len().min(MAX_BLOB_BYTES);
    while !v.is_char_boundary(end) {
        end -= 1;
    }
    v[..end].to_owned()
}

/// Where finished lines go: the log, and Analytics Engine when it is bound; the limits that
/// count the request's usage.
#[derive(Clone)]
pub struct LineSink {
    pub log: LogSink,
    pub analytics: Option<AnalyticsSink>,
    pub metadata_keys: Rc<Vec<String>>,
    pub limiter: Option<LimiterSink>,
    pub spawner: Spawner,
}

/// Writes `line` with its duration up to `now`, its cost, and its data point; settles what the
/// request reserved under its limits with what it used (nothing for a cache hit).
pub fn emit(mut line: RequestLog, now: u64, sink: &LineSink) {
    line.ms = now.saturating_sub(line.started);
    line.price();
    if let Some(admission) = line.admission.take() {
        use crate::gateway::limits::Settled;
        let answered = (200..300).contains(&line.status);
        let how = match (line.tokens, line.cache == Some(HIT)) {
            // Nothing was asked upstream.
            (_, true) => Settled::Used(crate::budget::Amount::default()),
            (Some(t), false) => Settled::Used(crate::budget::Amount {
                tokens: t
                    .input
                    .saturating_add(t.output)
                    .saturating_add(t.cache_read)
                    .saturating_add(t.cache_write),
                usd: line.cost_usd.unwrap_or(0.0),
            }),
            // Answered without a usage report: counted as reserved, never as free.
            (None, false) if answered => Settled::AsReserved,
            (None, false) => Settled::Used(crate::budget::Amount::default()),
        };
        admission.settle(sink.limiter.clone(), &sink.spawner, now, how);
    }
    if let Ok(text) = serde_json::to_string(&line) {
        (sink.log)(&text);
    }
    if let Some(write) = &sink.analytics {
        write(&line.data_point(&sink.metadata_keys));
    }
}

/// A streamed answer that writes its request's log line when it ends, once, saying how:
/// `complete`, `error` (an in-stream error was sent after the 200) or `client_closed`.
pub struct LoggedStream {
    pub inner: crate::stream::driver::SseStream,
    pub sink: LineSink,
    pub line: Option<RequestLog>,
    pub now: Clock,
    /// Fired once the line is written.
    pub ended: EndSignal,
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
            let now = (self.now)();
            line.upstream_end_ms = line.upstream_started.map(|s| now.saturating_sub(s));
            line.set_tokens(self.inner.usage());
            emit(line, now, &self.sink);
        }
        self.ended.fire();
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
