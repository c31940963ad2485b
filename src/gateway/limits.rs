//! Limits and budgets at the gateway: admission before the upstream call, the record of what the
//! request used after it, and `GET /v1/usage`. The counting itself is [`crate::budget`], run by
//! one Durable Object per subject.

use serde_json::{json, Map, Value};

use crate::budget::{Amount, LimitKind, Op, Refusal, Reply, Subject, Usage};
use crate::error::{ErrorCode, ErrorKind, GatewayError, Result};
use crate::platform::{LimiterSink, Platform, Spawner};
use crate::providers::Upstream;
use crate::usage::prices::{self, Provider, Tokens};

/// Output tokens reserved for a request that sets no maximum.
pub const DEFAULT_OUTPUT_ESTIMATE: u64 = 4096;

/// How an admitted request ended, for its subjects.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Settled {
    /// It used this much.
    Used(Amount),
    /// It was answered but its usage is unknown (a stream that never reported it, a client that
    /// left before it did): what it reserved is counted as used.
    AsReserved,
    /// It never started (another subject refused it): the request itself is given back too.
    Cancelled,
}

/// What a request reserved at each of its subjects; released or settled when it ends.
#[derive(Debug, Clone, Default)]
pub struct Admission {
    held: Vec<(Subject, Amount)>,
    /// The key's rate limits after admission (the answer's `x-ratelimit-*` headers).
    pub rate: Option<Usage>,
}

impl Admission {
    /// Settles every reservation with how the request ended, after the answer.
    pub fn settle(
        self,
        limiter: Option<LimiterSink>,
        spawner: &Spawner,
        now_ms: u64,
        how: Settled,
    ) {
        let Some(limiter) = limiter else {
            return;
        };
        for (subject, reserved) in self.held {
            let (used, cancelled) = match how {
                Settled::Used(used) => (used, false),
                Settled::AsReserved => (reserved, false),
                Settled::Cancelled => (Amount::default(), true),
            };
            let call = limiter(
                subject.name,
                Op::Record {
                    limits: subject.limits,
                    now_ms,
                    reserved,
                    used,
                    cancelled,
                },
            );
            spawner(Box::pin(async move {
                // A lost record only leaves the reservation until the period ends.
                let _ = call.await;
            }));
        }
    }
}

/// What a request is expected to use, as an amount priced like the answer will be; also whether
/// the model has a price. A chat request's expectation: its body's bytes / 4 as input tokens (a
/// generous count for JSON text), plus its maximum output (`max_tokens`, `max_completion_tokens`,
/// `max_output_tokens`; [`DEFAULT_OUTPUT_ESTIMATE`] when it sets none).
pub fn estimate_usage(tokens: &Tokens, upstream: &Upstream, model: &str) -> (Amount, bool) {
    let provider = match upstream {
        Upstream::Bedrock(b) => Provider::Bedrock {
            region: Some(b.region.as_str()),
        },
        Upstream::OpenAi(_) => Provider::OpenAi,
    };
    let cost = prices::cost(provider, model, tokens);
    (
        Amount {
            tokens: tokens.input.saturating_add(tokens.output),
            usd: cost.map_or(0.0, |c| c.total),
        },
        cost.is_some(),
    )
}

/// The largest output a JSON body asks for.
pub fn max_output(body: &Map<String, Value>) -> Option<u64> {
    ["max_tokens", "max_completion_tokens", "max_output_tokens"]
        .iter()
        .find_map(|k| body.get(*k).and_then(Value::as_u64))
}

/// Admission for one attempt: what an earlier attempt of the request reserved is given back
/// first (it failed, or this one would not run), then this call's subjects are asked.
pub async fn admit_attempt<P: Platform>(
    platform: &P,
    outcome: &mut crate::gateway::Outcome,
    target: &crate::gateway::target::Target,
    body_bytes: usize,
    max_out: Option<u64>,
) -> Result<()> {
    let expected = Tokens {
        input: (body_bytes as u64).div_ceil(4),
        output: max_out.unwrap_or(DEFAULT_OUTPUT_ESTIMATE),
        ..Tokens::default()
    };
    admit_usage(platform, outcome, target, expected).await
}

/// [`admit_attempt`] for a request whose expected usage is not read from its body's size (an
/// image generation: its images).
pub async fn admit_usage<P: Platform>(
    platform: &P,
    outcome: &mut crate::gateway::Outcome,
    target: &crate::gateway::target::Target,
    expected: Tokens,
) -> Result<()> {
    if let Some(earlier) = outcome.admission.take() {
        earlier.settle(
            platform.limiter(),
            &platform.spawner(),
            platform.now_millis(),
            Settled::Used(Amount::default()),
        );
    }
    if target.limits.is_empty() {
        return Ok(());
    }
    let (estimate, priced) = estimate_usage(&expected, &target.upstream, &target.model_id);
    outcome.admission = Some(admit(platform, &target.limits, estimate, priced).await?);
    Ok(())
}

/// Asks every subject of the call to admit it; the first refusal answers (and what the others
/// reserved is released).
pub async fn admit<P: Platform>(
    platform: &P,
    subjects: &[Subject],
    estimate: Amount,
    priced: bool,
) -> Result<Admission> {
    let mut admission = Admission::default();
    if subjects.is_empty() {
        return Ok(admission);
    }
    let Some(limiter) = platform.limiter() else {
        return Err(unavailable("the LIMITER Durable Object binding is missing"));
    };
    for subject in subjects {
        if subject.limits.usd_per_month.is_some() && !priced {
            release(platform, admission).await;
            return Err(GatewayError::new(
                412,
                ErrorKind::RateLimit,
                format!("{} has a USD budget, and this model has no price in the gateway's price table, so its cost cannot be counted; use a priced model (README: Logs, traces, usage and cost)", subject.describe()),
            )
            .with_code(ErrorCode::BudgetUnpricedModel));
        }
        let op = Op::Admit {
            limits: subject.limits,
            now_ms: platform.now_millis(),
            estimate,
        };
        let reply = match limiter(subject.name.clone(), op).await {
            Ok(reply) => reply,
            Err(why) => {
                release(platform, admission).await;
                return Err(unavailable(&why));
            }
        };
        if let Some(refusal) = reply.refusal.filter(|_| !reply.admitted) {
            release(platform, admission).await;
            return Err(refused(
                subject,
                &refusal,
                &reply.usage,
                platform.now_millis(),
            ));
        }
        if subject.name.starts_with("key:") {
            admission.rate = Some(reply.usage.clone());
        }
        admission.held.push((subject.clone(), reply.reserved));
    }
    Ok(admission)
}

/// Gives back what `admission` reserved, the request included (it did not go ahead). Awaited, so
/// the next attempt of the same request (a fallback target) already sees it given back.
pub async fn release<P: Platform>(platform: &P, admission: Admission) {
    let Some(limiter) = platform.limiter() else {
        return;
    };
    for (subject, reserved) in admission.held {
        let op = Op::Record {
            limits: subject.limits,
            now_ms: platform.now_millis(),
            reserved,
            used: Amount::default(),
            cancelled: true,
        };
        // A lost record only leaves the reservation until the period ends.
        let _ = limiter(subject.name, op).await;
    }
}

fn unavailable(why: &str) -> GatewayError {
    GatewayError::new(
        503,
        ErrorKind::Overloaded,
        format!("limits are set for this request but cannot be checked ({why}); retry shortly"),
    )
    .with_code(ErrorCode::LimitsUnavailable)
}

/// `20s`, `1m30s`, `120ms`: how OpenAI writes `x-ratelimit-reset-*`.
pub fn duration(ms: u64) -> String {
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let (m, s) = (ms / 60_000, (ms % 60_000) as f64 / 1000.0);
    let secs = format!("{s:.3}");
    let secs = secs.trim_end_matches('0').trim_end_matches('.');
    if m > 0 {
        format!("{m}m{secs}s")
    } else {
        format!("{secs}s")
    }
}

/// The `x-ratelimit-*` headers of a subject's rate limits, as OpenAI sends them.
pub fn rate_headers(usage: &Usage) -> Vec<(String, String)> {
    let mut h = Vec::new();
    if let Some(rpm) = usage.limits.rpm {
        h.push(("x-ratelimit-limit-requests".into(), rpm.to_string()));
        h.push((
            "x-ratelimit-remaining-requests".into(),
            usage.remaining_requests.unwrap_or(0).to_string(),
        ));
        h.push((
            "x-ratelimit-reset-requests".into(),
            duration(usage.reset_requests_ms.unwrap_or(0)),
        ));
    }
    if let Some(tpm) = usage.limits.tpm {
        h.push(("x-ratelimit-limit-tokens".into(), tpm.to_string()));
        h.push((
            "x-ratelimit-remaining-tokens".into(),
            usage.remaining_tokens.unwrap_or(0).max(0).to_string(),
        ));
        h.push((
            "x-ratelimit-reset-tokens".into(),
            duration(usage.reset_tokens_ms.unwrap_or(0)),
        ));
    }
    h
}

/// A refusal as the caller's error: 429 with `Retry-After` for a rate, 412 for a budget.
fn refused(subject: &Subject, refusal: &Refusal, usage: &Usage, now_ms: u64) -> GatewayError {
    let who = subject.describe();
    let seconds = refusal.retry_after_ms.div_ceil(1000).max(1);
    if refusal.kind.is_budget() {
        let (limit, period) = match refusal.kind {
            LimitKind::TokensPerDay => (
                format!("{} tokens", usage.limits.tokens_per_day.unwrap_or(0)),
                "per UTC day",
            ),
            _ => (
                format!("{} USD", usage.limits.usd_per_month.unwrap_or(0.0)),
                "per UTC month",
            ),
        };
        let resets = refusal.resets_at_ms.unwrap_or(now_ms);
        return GatewayError::new(
            412,
            ErrorKind::RateLimit,
            format!(
                "the {} budget of {who} ({limit} {period}) is used up; it resets at {}",
                refusal.kind.name(),
                crate::budget::calendar::iso(resets),
            ),
        )
        .with_code(ErrorCode::BudgetExhausted)
        .with_header("retry-after", seconds.to_string());
    }
    let what = match refusal.kind {
        LimitKind::Rpm => format!("{} requests per minute", usage.limits.rpm.unwrap_or(0)),
        _ => format!("{} tokens per minute", usage.limits.tpm.unwrap_or(0)),
    };
    let mut err = GatewayError::new(
        429,
        ErrorKind::RateLimit,
        format!(
            "rate limit of {who} reached ({what}); retry in {}",
            duration(refusal.retry_after_ms)
        ),
    )
    .with_code(ErrorCode::RateLimitExceeded)
    .with_header("retry-after", seconds.to_string())
    .with_header("retry-after-ms", refusal.retry_after_ms.to_string());
    err.headers.extend(rate_headers(usage));
    err
}

/// A subject's counts now (no change to them).
async fn view<P: Platform>(
    platform: &P,
    limiter: &LimiterSink,
    subject: String,
    limits: crate::budget::Limits,
) -> Result<Usage> {
    let op = Op::View {
        limits,
        now_ms: platform.now_millis(),
    };
    let reply: Reply = limiter(subject, op)
        .await
        .map_err(|why| unavailable(&why))?;
    Ok(reply.usage)
}

/// `usage` as the answer's object, named by `(field, value)` (`key` or `subject`).
fn usage_object(usage: &Usage, (field, value): (&str, &str)) -> Result<Value> {
    let mut out = serde_json::to_value(usage)
        .map_err(|_| GatewayError::internal("could not encode the usage"))?;
    if let Some(o) = out.as_object_mut() {
        o.insert("object".into(), json!("usage"));
        o.insert(field.into(), json!(value));
    }
    Ok(out)
}

/// `GET /v1/usage`: the gateway key's counts and limits.
pub async fn usage_of_key<P: Platform>(
    platform: &P,
    key: &crate::catalog::keys::GatewayKeyRecord,
) -> Result<Value> {
    let limits = key.limits.unwrap_or_default();
    let usage = match platform.limiter() {
        Some(limiter) => view(platform, &limiter, format!("key:{}", key.hash), limits).await?,
        // Without the binding nothing is counted.
        None => Usage::default(),
    };
    usage_object(&usage, ("key", &key.name))
}

/// `GET /v1/admin/usage/<subject>` (`key:<hash>` or `slug:<slug>`), for operators (the catalog
/// CLI's `usage`): `Authorization: Bearer <ADMIN_TOKEN>` (the secret; without it the route does
/// not exist). The subject's limits are read from its catalog record.
pub async fn usage_of_subject<P: Platform>(
    platform: &P,
    settings: &crate::settings::Settings,
    headers: &crate::http::RequestHeaders,
    subject: &str,
) -> Result<Value> {
    let Some(token) = settings.admin_token.as_deref() else {
        return Err(GatewayError::not_found(
            "no route: the admin routes need the ADMIN_TOKEN secret",
        )
        .with_code(ErrorCode::RouteNotFound));
    };
    let sent = headers
        .get("authorization")
        .and_then(|a| a.trim().strip_prefix("Bearer "))
        .unwrap_or("");
    let same = sent.len() == token.len()
        && subtle::ConstantTimeEq::ct_eq(sent.as_bytes(), token.as_bytes()).into();
    if !same {
        return Err(GatewayError::authentication(
            "the admin token is missing or wrong",
        ));
    }
    let kv = platform.kv();
    let limits = match subject.split_once(':') {
        Some(("key", hash)) if hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit()) => {
            crate::catalog::keys::lookup_hash(kv, hash)
                .await?
                .and_then(|k| k.limits)
        }
        Some(("slug", slug)) if crate::catalog::valid_slug(slug) => {
            let raw = crate::platform::Kv::get(kv, &crate::catalog::provider_key(slug))
                .await
                .map_err(|e| unavailable(&e))?;
            raw.and_then(|r| serde_json::from_str::<crate::catalog::StoredProvider>(&r).ok())
                .and_then(|p| p.limits)
        }
        _ => {
            return Err(GatewayError::invalid_request(
                "the subject must be key:<sha256 hex of the key> or slug:<slug>",
            ))
        }
    };
    let Some(limiter) = platform.limiter() else {
        return Err(unavailable("the LIMITER Durable Object binding is missing"));
    };
    let usage = view(
        platform,
        &limiter,
        subject.to_owned(),
        limits.unwrap_or_default(),
    )
    .await?;
    usage_object(&usage, ("subject", subject))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_as_openai_writes_them() {
        assert_eq!(duration(120), "120ms");
        assert_eq!(duration(1000), "1s");
        assert_eq!(duration(20_000), "20s");
        assert_eq!(duration(1_500), "1.5s");
        assert_eq!(duration(90_000), "1m30s");
        assert_eq!(duration(360_000), "6m0s");
    }
}
