//! SigV4 signing with AWS's `aws-sigv4` crate. The time comes from the caller (the JS clock in the
//! Worker), because `SystemTime::now()` panics on wasm32-unknown-unknown.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;

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
    let identity = Credentials::new(
        &creds.access_key_id,
        &creds.secret_access_key,
        creds.session_token.clone(),
        None,
        "edgeport",
    )
    .into();
    let time: SystemTime = UNIX_EPOCH + Duration::from_millis(now_millis);
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(service)
        .time(time)
        .settings(SigningSettings::default())
        .build()
        .map_err(|_| GatewayError::internal("could not build the request signature parameters"))?
        .into();
    let signable = SignableRequest::new(
        req.method,
        req.url.as_str(),
        req.headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        SignableBody::Bytes(&req.body),
    )
    .map_err(|_| GatewayError::internal("the upstream URL cannot be signed"))?;
    let (instructions, _signature) = sign(signable, &params)
        .map_err(|_| GatewayError::internal("signing the upstream request failed"))?
        .into_parts();
    let (headers, _params) = instructions.into_parts();
    for h in headers {
        req.headers
            .push((h.name().to_owned(), h.value().to_owned()));
    }
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
