//! SigV4 signing (`sigv4.rs`, checked against AWS's `aws-sigv4` crate in the tests). The time comes
//! from the caller (the JS clock in the Worker), because `SystemTime::now()` panics on
//! wasm32-unknown-unknown.

use crate::error::{GatewayError, Result};
use crate::platform::UpstreamRequest;

pub use crate::credentials::AwsCredentials;

/// Signs `req` in place for `service` in `region` at `now_millis`: adds `x-amz-date`,
/// `authorization` and, with a session token, `x-amz-security-token`. The canonical request uses
/// the double percent-encoding of the path that AWS's SDKs use for non-S3 services, and the host
/// (with a non-default port) of the URL actually fetched.
pub fn sign_request(
    req: &mut UpstreamRequest,
    creds: &AwsCredentials,
    region: &str,
    service: &str,
    now_millis: u64,
) -> Result<()> {
    let signing = super::sigv4::signing_headers(
        req.method,
        &req.url,
        &req.headers,
        &req.body,
        creds,
        region,
        service,
        now_millis,
    )
    .map_err(|e| match e {
        super::sigv4::SignError::Url => GatewayError::internal("the upstream URL cannot be signed"),
        super::sigv4::SignError::Header | super::sigv4::SignError::Key => {
            GatewayError::internal("signing the upstream request failed")
        }
    })?;
    req.headers.extend(signing);
    Ok(())
}

/// How a request to Bedrock is authenticated. `Debug` hides secrets.
#[derive(Clone, PartialEq, Eq)]
pub enum UpstreamAuth {
    Sigv4(AwsCredentials),
    /// A Bedrock API key.
    Bearer(String),
}

impl std::fmt::Debug for UpstreamAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UpstreamAuth::Sigv4(c) => write!(f, "Sigv4({c:?})"),
            UpstreamAuth::Bearer(_) => f.write_str("Bearer(<redacted>)"),
        }
    }
}

impl UpstreamAuth {
    /// Signs `req` (SigV4 for `service` in `region`) or sets the API key.
    pub fn apply(
        &self,
        req: &mut UpstreamRequest,
        region: &str,
        service: &str,
        now_millis: u64,
    ) -> Result<()> {
        match self {
            UpstreamAuth::Sigv4(creds) => sign_request(req, creds, region, service, now_millis),
            UpstreamAuth::Bearer(key) => {
                req.headers
                    .push(("authorization".into(), format!("Bearer {key}")));
                Ok(())
            }
        }
    }
}
