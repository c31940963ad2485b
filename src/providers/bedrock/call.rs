//! One call to Bedrock Runtime: built, signed, sent within the caller's timeout, and its errors
//! mapped. Every Bedrock route uses it.

use bytes::Bytes;

use crate::error::{GatewayError, Result};
use crate::platform::{Platform, UpstreamRequest, UpstreamResponse};
use crate::providers::bedrock::endpoint::{self, Operation};
use crate::providers::bedrock::errors;
use crate::providers::bedrock::target::BedrockTarget;
use crate::providers::options::{self, UpstreamOptions};

/// Signs and sends one call to Bedrock Runtime. Non-2xx answers become errors that keep
/// Bedrock's status and name its error type; a status that cannot be passed on is a 502. A
/// stream's body ends with an error after `idle_timeout_ms` of silence.
pub async fn send<P: Platform>(
    platform: &P,
    target: &BedrockTarget,
    model_id: &str,
    opts: &UpstreamOptions,
    op: Operation,
    body: Bytes,
) -> Result<UpstreamResponse> {
    let accept = if op.is_stream() {
        "application/vnd.amazon.eventstream"
    } else {
        "application/json"
    };
    // Forwarded headers first: the provider's own are set after them (and signing adds its own).
    let mut headers: Vec<(String, String)> = opts.forward.clone();
    headers.extend([
        ("content-type".into(), "application/json".into()),
        ("accept".into(), accept.into()),
    ]);
    let mut upstream = UpstreamRequest {
        method: "POST",
        url: endpoint::model_url(&target.base, model_id, op),
        headers,
        body,
    };
    target.auth.apply(
        &mut upstream,
        &target.region,
        "bedrock",
        platform.now_millis(),
    )?;
    let answered = options::send(
        platform,
        upstream,
        opts.timeout,
        opts.idle_timeout_ms,
        "Bedrock",
    )
    .await?;
    let resp = answered.map_err(|e| {
        GatewayError::bad_gateway(format!(
            "could not reach Bedrock at {}: {e}",
            target.base.authority()
        ))
    })?;
    match resp.status {
        200 => Ok(resp),
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
        other => Err(GatewayError::upstream_invalid_status(other)),
    }
}
