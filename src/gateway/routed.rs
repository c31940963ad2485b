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

/// A number in [0, 1) from the platform's random source (crypto.getRandomValues in the Worker).
pub fn random_unit() -> f64 {
    let mut bytes = [0u8; 8];
    // If the source ever failed, the draw would be 0 (the first positive weight), not a panic.
    let _ = getrandom::fill(&mut bytes);
    (u64::from_le_bytes(bytes) >> 11) as f64 / (1u64 << 53) as f64
}

/// Runs `try_target` once without a config, or through the config's targets. A stream counts
/// as answered once its first frame was read (the stream drivers return `Err` before that).
pub async fn run<P: Platform>(
    platform: &P,
    config: Option<&Node>,
    facts: &Facts,
    mut try_target: impl AsyncFnMut(&Attempt) -> Result<GatewayResponse>,
) -> (Result<GatewayResponse>, Option<Routed>) {
    let Some(root) = config else {
        return (try_target(&Attempt::default()).await, None);
    };
    let mut random = random_unit;
    let mut path = match plan::first(root, facts, &mut random) {
        Ok(path) => path,
        Err(e) => return (Err(e), None),
    };
    // Every try (first tries, retries, fallbacks) counts against one budget per request.
    let mut tries = 0u32;
    loop {
        let attempt = plan::attempt(root, &path);
        let mut retries = 0;
        let result = loop {
            tries += 1;
            match try_target(&attempt).await {
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
            Ok(resp) => return (Ok(resp), routed),
            Err(e) if tries >= MAX_UPSTREAM_ATTEMPTS => return (Err(e), routed),
            Err(e) => match plan::next_after_failure(root, &path, e.status, facts, &mut random) {
                Ok(Some(next)) => path = next,
                Ok(None) => return (Err(e), routed),
                Err(no_match) => return (Err(no_match), routed),
            },
        }
    }
}
