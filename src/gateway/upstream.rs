//! One call to Bedrock Runtime: built, signed, sent, and its errors mapped. Both routes use it,
//! with the caller's per-request options (`x-portkey-request-timeout`, `x-portkey-forward-headers`).

use bytes::Bytes;
use futures_util::future::{select, Either};

use crate::error::{ErrorKind, GatewayError, Result};
use crate::gateway::target::Target;
use crate::gateway::{RequestHeaders, Settings};
use crate::limits::MAX_REQUEST_TIMEOUT_MS;
use crate::platform::{with_idle_timeout, Platform, UpstreamRequest, UpstreamResponse};
use crate::providers::bedrock::endpoint;
use crate::providers::bedrock::endpoint::Operation;
use crate::providers::bedrock::errors;

/// Caller headers that are never forwarded, whatever `x-portkey-forward-headers` says: they carry
/// the caller's or the gateway's credentials, or they would change what is signed and sent.
const NEVER_FORWARDED: &[&str] = &[
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
    pub fn from_headers(headers: &RequestHeaders, settings: &Settings) -> Result<Self> {
        let timeout = match headers.get("x-portkey-request-timeout").map(str::trim) {
            None | Some("") => Timeout::Default(settings.upstream_timeout_ms),
            Some(raw) => Timeout::Caller(parse_request_timeout(raw)?),
        };
        let mut forward = Vec::new();
        for name in headers
            .get("x-portkey-forward-headers")
            .unwrap_or("")
            .split(',')
            .map(|n| n.trim().to_ascii_lowercase())
            .filter(|n| !n.is_empty())
        {
            if NEVER_FORWARDED.contains(&name.as_str())
                || name.starts_with("x-amz-")
                || name.starts_with("x-portkey-")
            {
                return Err(GatewayError::invalid_param(
                    "x-portkey-forward-headers",
                    format!("header `{name}` cannot be forwarded to Bedrock"),
                ));
            }
            if let Some(value) = headers.get(&name) {
                forward.push((name, value.to_owned()));
            }
        }
        Ok(UpstreamOptions {
            timeout,
            idle_timeout_ms: settings.stream_idle_timeout_ms,
            forward,
        })
    }
}

/// Signs and sends one call to Bedrock Runtime. Non-2xx answers become errors that keep
/// Bedrock's status and name its error type; a status that cannot be passed on is a 502. A
/// stream's body ends with an error after `idle_timeout_ms` of silence.
pub async fn send<P: Platform>(
    platform: &P,
    target: &Target,
    opts: &UpstreamOptions,
    op: Operation,
    body: Bytes,
) -> Result<UpstreamResponse> {
    let accept = if op.is_stream() {
        "application/vnd.amazon.eventstream"
    } else {
        "application/json"
    };
    let mut headers = vec![
        ("content-type".into(), "application/json".into()),
        ("accept".into(), accept.into()),
    ];
    headers.extend(opts.forward.iter().cloned());
    let mut upstream = UpstreamRequest {
        method: "POST",
        url: endpoint::model_url(&target.base, &target.model_id, op),
        headers,
        body,
    };
    target.auth.apply(
        &mut upstream,
        &target.region,
        "bedrock",
        platform.now_millis(),
    )?;
    let fetch = platform.fetch(upstream);
    let ms = match opts.timeout {
        Timeout::Caller(ms) | Timeout::Default(ms) => ms,
    };
    let answered = match select(fetch, (platform.timer())(ms)).await {
        Either::Left((answer, _)) => answer,
        Either::Right(_) => return Err(timed_out(opts.timeout)),
    };
    let mut resp = answered.map_err(|e| {
        GatewayError::bad_gateway(format!(
            "could not reach Bedrock at {}: {e}",
            target.base.authority()
        ))
    })?;
    match resp.status {
        200 => {
            if op.is_stream() {
                resp.body = with_idle_timeout(
                    resp.body,
                    opts.idle_timeout_ms,
                    platform.timer(),
                    platform.clock(),
                );
            }
            Ok(resp)
        }
        400..=599 => {
            let status = resp.status;
            let error_type = resp.header("x-amzn-errortype").map(str::to_owned);
            let body = resp
                .collect(crate::limits::MAX_UPSTREAM_SMALL_BYTES)
                .await
                .unwrap_or_default();
            Err(errors::scrub(
                errors::from_http(status, error_type.as_deref(), &body),
                &target.auth,
            ))
        }
        other => Err(invalid_status(other)),
    }
}

/// An upstream status that is neither success nor an error we can pass on (1xx, 3xx, 2xx other
/// than 200, anything from 600): a 502, never the status itself (a 304 or a 600 cannot carry
/// our error body, and would leave the caller hanging).
pub fn invalid_status(status: u16) -> GatewayError {
    GatewayError::upstream_invalid_status(status)
}

fn timed_out(timeout: Timeout) -> GatewayError {
    match timeout {
        Timeout::Caller(ms) => GatewayError::new(
            408,
            ErrorKind::Timeout,
            format!("Bedrock did not answer within {ms} ms (x-portkey-request-timeout)"),
        )
        .with_code("request_timeout"),
        Timeout::Default(ms) => GatewayError::new(
            504,
            ErrorKind::Timeout,
            format!("Bedrock did not answer within {ms} ms (the gateway's upstream timeout)"),
        )
        .with_code("upstream_timeout"),
    }
}
