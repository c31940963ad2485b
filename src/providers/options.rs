//! The caller's per-request options for any upstream call (`x-portkey-request-timeout`,
//! `x-portkey-forward-headers`) with the operator's defaults, and the timeout race every provider
//! runs its call in.

use std::future::Future;

use futures_util::future::{select, Either};

use crate::api::portkey::PortkeyHeaders;
use crate::error::{ErrorCode, ErrorKind, GatewayError, Result};
use crate::limits::MAX_REQUEST_TIMEOUT_MS;
use crate::platform::{Platform, UpstreamRequest, UpstreamResponse};
use crate::settings::Settings;

/// Caller headers that are never forwarded, whatever `x-portkey-forward-headers` says: they carry
/// the caller's or the gateway's credentials, they would change what is signed and sent, or a
/// provider sets them from its record (an OpenAI organization or project). Providers also add
/// forwarded headers before their own, so their own always win.
const NEVER_FORWARDED: &[&str] = &[
    "openai-organization",
    "openai-project",
    "api-key",
    "authorization",
    "host",
    "content-type",
    "content-length",
    "accept",
    "accept-encoding",
    "connection",
    "cookie",
    "transfer-encoding",
    "x-api-key",
];

/// The caller's per-request options for the upstream call, with the operator's defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct UpstreamOptions {
    /// How long to wait for the upstream's answer headers (a stream then runs as long as frames
    /// keep coming), and whether the caller chose it.
    pub timeout: Timeout,
    /// The longest silence between two stream reads.
    pub idle_timeout_ms: u64,
    /// `x-portkey-forward-headers`: caller headers passed upstream (and signed).
    pub forward: Vec<(String, String)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timeout {
    /// `x-portkey-request-timeout` (or a config's `request_timeout`): expiring is a 408.
    Caller(u64),
    /// The operator's `UPSTREAM_TIMEOUT_MS`: expiring is a 504.
    Default(u64),
}

impl Default for UpstreamOptions {
    fn default() -> Self {
        UpstreamOptions {
            timeout: Timeout::Default(crate::limits::DEFAULT_UPSTREAM_TIMEOUT_MS),
            idle_timeout_ms: crate::limits::DEFAULT_STREAM_IDLE_TIMEOUT_MS,
            forward: Vec::new(),
        }
    }
}

/// `x-portkey-request-timeout`: whole milliseconds, 1 up to [`MAX_REQUEST_TIMEOUT_MS`].
pub fn parse_request_timeout(raw: &str) -> Result<u64> {
    raw.trim()
        .parse::<u64>()
        .ok()
        .filter(|ms| (1..=MAX_REQUEST_TIMEOUT_MS).contains(ms))
        .ok_or_else(|| {
            GatewayError::invalid_param(
                "x-portkey-request-timeout",
                format!("x-portkey-request-timeout must be a whole number of milliseconds from 1 to {MAX_REQUEST_TIMEOUT_MS}"),
            )
        })
}

impl UpstreamOptions {
    pub fn from_headers(headers: &PortkeyHeaders, settings: &Settings) -> Result<Self> {
        let timeout = match headers.request_timeout.as_deref() {
            None => Timeout::Default(settings.upstream_timeout_ms),
            Some(raw) => Timeout::Caller(parse_request_timeout(raw)?),
        };
        let mut forward = Vec::new();
        for (name, value) in &headers.forward {
            if NEVER_FORWARDED.contains(&name.as_str())
                || name.starts_with("x-amz-")
                || name.starts_with("x-portkey-")
            {
                return Err(GatewayError::invalid_param(
                    "x-portkey-forward-headers",
                    format!("header `{name}` cannot be forwarded upstream"),
                ));
            }
            if let Some(value) = value {
                forward.push((name.clone(), value.clone()));
            }
        }
        Ok(UpstreamOptions {
            timeout,
            idle_timeout_ms: settings.stream_idle_timeout_ms,
            forward,
        })
    }
}

/// Every outbound call goes through here: the answer's headers within `timeout`, then a body that
/// ends with an error after `idle_ms` of silence (JSON and error bodies too, not only streams: a
/// body that stalls midway is never waited on forever). `upstream` names the provider in the
/// timeout error; a transport failure stays the inner `Err` for the caller to word.
pub async fn send<P: Platform>(
    platform: &P,
    req: UpstreamRequest,
    timeout: Timeout,
    idle_ms: u64,
    upstream: &str,
) -> Result<std::result::Result<UpstreamResponse, String>> {
    let answered = within(platform, platform.fetch(req), timeout, upstream).await?;
    Ok(answered.map(|mut resp| {
        resp.body = resp
            .body
            .with_idle_timeout(idle_ms, platform.timer(), platform.clock());
        resp
    }))
}

/// The bound on the gateway's own side calls (STS, GetInferenceProfile, image downloads), which the
/// caller's timeout does not cover.
pub fn side_call() -> (Timeout, u64) {
    (
        Timeout::Default(crate::limits::SIDE_CALL_TIMEOUT_MS),
        crate::limits::SIDE_CALL_TIMEOUT_MS,
    )
}

/// Waits for `fetch` (an upstream call's answer headers) at most as long as `timeout` says;
/// `upstream` names the provider in the error. A transport failure stays the inner `Err`.
async fn within<P: Platform>(
    platform: &P,
    fetch: impl Future<Output = std::result::Result<UpstreamResponse, String>>,
    timeout: Timeout,
    upstream: &str,
) -> Result<std::result::Result<UpstreamResponse, String>> {
    let ms = match timeout {
        Timeout::Caller(ms) | Timeout::Default(ms) => ms,
    };
    match select(Box::pin(fetch), (platform.timer())(ms)).await {
        Either::Left((answer, _)) => Ok(answer),
        Either::Right(_) => Err(timed_out(timeout, upstream)),
    }
}

fn timed_out(timeout: Timeout, upstream: &str) -> GatewayError {
    match timeout {
        Timeout::Caller(ms) => GatewayError::new(
            408,
            ErrorKind::Timeout,
            format!("{upstream} did not answer within {ms} ms (x-portkey-request-timeout)"),
        )
        .with_code(ErrorCode::RequestTimeout),
        Timeout::Default(ms) => GatewayError::new(
            504,
            ErrorKind::Timeout,
            format!("{upstream} did not answer within {ms} ms (the gateway's upstream timeout)"),
        )
        .with_code(ErrorCode::UpstreamTimeout),
    }
}
