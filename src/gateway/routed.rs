//! The loop over a config's targets: try, retry with backoff, fall back. Every decision is made
//! by `routing::plan`; this only calls, waits and counts.

use crate::error::Result;
use crate::gateway::GatewayResponse;
use crate::limits::MAX_UPSTREAM_ATTEMPTS;
use crate::platform::Platform;
use crate::routing::{plan, Attempt, Facts, Node};

/// Where a configured request ended: the target last tried and the retries spent on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Routed {
    /// `x-portkey-last-used-option-index`
    pub index: String,
    /// `x-portkey-retry-attempt-count`
    pub retries: u32,
}

/// One upstream attempt (a first try, a retry, a fallback target): its own span, a child of the
/// gateway's span, on the request's log line.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct AttemptSpan {
    /// 16 hex digits (a W3C span id).
    pub span_id: String,
    /// The config target (`config.targets[1]`), absent without a config.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// 0 for a target's first try.
    pub retry: u32,
    /// The answer's status (a stream: 200 once its first event was read).
    pub status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// From the attempt's start to its answer (JSON: read whole; a stream: its first event) or
    /// its failure.
    pub ms: u64,
    /// When it started (ms since the epoch).
    #[serde(skip)]
    pub started_at: u64,
}

/// Every attempt of one request, in order.
pub type Attempts = Vec<AttemptSpan>;

/// Runs one attempt and records it as a span in `attempts`.
pub async fn timed<P: Platform>(
    platform: &P,
    target: Option<String>,
    retry: u32,
    attempts: &mut Attempts,
    attempt: impl std::future::Future<Output = Result<GatewayResponse>>,
) -> Result<GatewayResponse> {
    let started = platform.now_millis();
    let result = attempt.await;
    attempts.push(AttemptSpan {
        span_id: crate::trace::random_hex(16),
        target,
        retry,
        status: match &result {
            Ok(resp) => resp.status,
            Err(e) => e.status,
        },
        error: result.as_ref().err().map(|e| {
            e.code
                .clone()
                .unwrap_or_else(|| e.kind.openai_type().to_owned())
        }),
        ms: platform.now_millis().saturating_sub(started),
        started_at: started,
    });
    result
}

/// A number in [0, 1) from the platform's random source (crypto.getRandomValues in the Worker).
pub fn random_unit() -> f64 {
    let mut bytes = [0u8; 8];
    // If the source ever failed, the draw would be 0 (the first positive weight), not a panic.
    let _ = getrandom::fill(&mut bytes);
    (u64::from_le_bytes(bytes) >> 11) as f64 / (1u64 << 53) as f64
}

/// Runs `try_target` once without a config, or through the config's targets. A stream counts
/// as answered once its first frame was read (the stream drivers return `Err` before that).
/// Every attempt is recorded in the returned [`Attempts`].
pub async fn run<P: Platform>(
    platform: &P,
    config: Option<&Node>,
    facts: &Facts,
    mut try_target: impl AsyncFnMut(&Attempt) -> Result<GatewayResponse>,
) -> (Result<GatewayResponse>, Option<Routed>, Attempts) {
    let mut attempts = Attempts::new();
    let mut timed = async |attempt: &Attempt, retry: u32, attempts: &mut Attempts| {
        let target = config.map(|_| attempt.index.clone());
        timed(platform, target, retry, attempts, try_target(attempt)).await
    };
    let Some(root) = config else {
        let result = timed(&Attempt::default(), 0, &mut attempts).await;
        return (result, None, attempts);
    };
    let mut random = random_unit;
    let mut path = match plan::first(root, facts, &mut random) {
        Ok(path) => path,
        Err(e) => return (Err(e), None, attempts),
    };
    // Every try (first tries, retries, fallbacks) counts against one budget per request.
    let mut tries = 0u32;
    loop {
        let attempt = plan::attempt(root, &path);
        let mut retries = 0;
        let result = loop {
            tries += 1;
            match timed(&attempt, retries, &mut attempts).await {
                Err(e)
                    if tries < MAX_UPSTREAM_ATTEMPTS
                        && plan::should_retry(attempt.retry.as_ref(), e.status, retries) =>
                {
                    platform.sleep(plan::backoff_ms(retries)).await;
                    retries += 1;
                }
                other => break other,
            }
        };
        let routed = Some(Routed {
            index: attempt.index.clone(),
            retries,
        });
        match result {
            Ok(resp) => return (Ok(resp), routed, attempts),
            Err(e) if tries >= MAX_UPSTREAM_ATTEMPTS => return (Err(e), routed, attempts),
            Err(e) => match plan::next_after_failure(root, &path, e.status, facts, &mut random) {
                Ok(Some(next)) => path = next,
                Ok(None) => return (Err(e), routed, attempts),
                Err(no_match) => return (Err(no_match), routed, attempts),
            },
        }
    }
}
