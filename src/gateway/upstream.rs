//! One call to Bedrock Runtime: built, signed, sent, and its errors mapped. Both routes use it,
//! with the caller's per-request options (`x-portkey-request-timeout`, `x-portkey-forward-headers`).

use bytes::Bytes;
use futures_util::future::{select, Either};

use crate::error::{ErrorKind, GatewayError, Result};
use crate::gateway::target::Target;
use crate::gateway::RequestHeaders;
use crate::platform::{Platform, UpstreamRequest, UpstreamResponse};
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

/// The caller's per-request options for the upstream call.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UpstreamOptions {
    /// `x-portkey-request-timeout`: how long to wait for Bedrock's answer (its headers; a stream
    /// then runs as long as Bedrock sends).
    pub timeout_ms: Option<u64>,
    /// `x-portkey-forward-headers`: caller headers passed upstream (and signed).
    pub forward: Vec<(String, String)>,
}

impl UpstreamOptions {
    pub fn from_headers(headers: &RequestHeaders) -> Result<Self> {
        let timeout_ms =
            match headers.get("x-portkey-request-timeout").map(str::trim) {
                None | Some("") => None,
                Some(raw) => Some(raw.parse::<u64>().ok().filter(|ms| *ms > 0).ok_or_else(
                    || {
                        GatewayError::invalid_param(
                            "x-portkey-request-timeout",
                            "x-portkey-request-timeout must be a positive number of milliseconds",
                        )
                    },
                )?),
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
            timeout_ms,
            forward,
        })
    }
}

/// Signs and sends one call to Bedrock Runtime. Non-2xx answers become errors that keep
/// Bedrock's status and name its error type.
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
        url: target.base.model_url(&target.model_id, op),
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
    let answered = match opts.timeout_ms {
        None => fetch.await,
        Some(ms) => match select(fetch, platform.sleep(ms)).await {
            Either::Left((answer, _)) => answer,
            Either::Right(_) => {
                return Err(GatewayError::new(
                    408,
                    ErrorKind::Timeout,
                    format!("Bedrock did not answer within {ms} ms (x-portkey-request-timeout)"),
                )
                .with_code("request_timeout"))
            }
        },
    };
    let resp = answered.map_err(|e| {
        GatewayError::bad_gateway(format!(
            "could not reach Bedrock at {}: {e}",
            target.base.authority()
        ))
    })?;
    if (200..300).contains(&resp.status) {
        return Ok(resp);
    }
    let status = resp.status;
    let error_type = resp.header("x-amzn-errortype").map(str::to_owned);
    let body = resp.collect().await.unwrap_or_default();
    Err(errors::scrub(
        errors::from_http(status, error_type.as_deref(), &body),
        &target.auth,
    ))
}
