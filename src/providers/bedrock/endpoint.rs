//! Where a Bedrock call goes: hosts, paths and the model id's percent-encoding.

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use crate::error::{GatewayError, Result};
use crate::net;
pub use crate::net::BaseUrl;

/// The Bedrock operations edgeport calls, with their path suffix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Converse,
    ConverseStream,
    Invoke,
    InvokeStream,
    CountTokens,
}

impl Operation {
    fn suffix(self) -> &'static str {
        match self {
            Operation::Converse => "converse",
            Operation::ConverseStream => "converse-stream",
            Operation::Invoke => "invoke",
            Operation::InvokeStream => "invoke-with-response-stream",
            Operation::CountTokens => "count-tokens",
        }
    }

    pub fn is_stream(self) -> bool {
        matches!(self, Operation::ConverseStream | Operation::InvokeStream)
    }
}

/// RFC 3986 unreserved characters stay; everything else (`:` and `/` in ARNs included) is escaped,
/// so a model id is exactly one path segment, as the AWS SDKs send it.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

pub fn encode_segment(id: &str) -> String {
    utf8_percent_encode(id, SEGMENT).to_string()
}

/// An AWS endpoint built from a valid region: it always parses.
fn aws(service: &str, region: &str) -> Result<BaseUrl> {
    let raw = format!("https://{service}.{}.amazonaws.com", valid_region(region)?);
    net::parse_http_url(&raw)
        .map(BaseUrl::from_url)
        .map_err(|_| GatewayError::internal(format!("no {service} endpoint for the region")))
}

/// Bedrock Runtime in `region`.
pub fn runtime(region: &str) -> Result<BaseUrl> {
    aws("bedrock-runtime", region)
}

/// The Bedrock control plane (GetInferenceProfile) in `region`.
pub fn control_plane(region: &str) -> Result<BaseUrl> {
    aws("bedrock", region)
}

/// STS in `region`.
pub fn sts(region: &str) -> Result<BaseUrl> {
    aws("sts", region)
}

/// `POST {base}/model/{id}/{operation}`, the model id one escaped segment.
pub fn model_url(base: &BaseUrl, model_id: &str, op: Operation) -> String {
    format!(
        "{}/model/{}/{}",
        base.as_str(),
        encode_segment(model_id),
        op.suffix()
    )
}

/// `GET {base}/inference-profiles/{id}`.
pub fn inference_profile_url(base: &BaseUrl, profile: &str) -> String {
    format!(
        "{}/inference-profiles/{}",
        base.as_str(),
        encode_segment(profile)
    )
}

/// Regions are DNS labels; anything else could steer the host name (`evil.com/x`), so refuse it.
pub fn valid_region(region: &str) -> Result<&str> {
    let ok = !region.is_empty()
        && region.len() <= 32
        && region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if ok {
        Ok(region)
    } else {
        Err(GatewayError::invalid_param(
            "x-portkey-aws-region",
            format!("`{region}` is not an AWS region name (like us-east-1)"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_ids_are_one_escaped_segment() {
        let base = runtime("us-east-1").unwrap();
        assert_eq!(
            model_url(&base, "us.anthropic.claude-3-7-sonnet-20250219-v1:0", Operation::Converse),
            "https://bedrock-runtime.us-east-1.amazonaws.com/model/us.anthropic.claude-3-7-sonnet-20250219-v1%3A0/converse"
        );
        assert_eq!(
            encode_segment(
                "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.x"
            ),
            "arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Ainference-profile%2Fus.anthropic.x"
        );
    }

    #[test]
    fn regions_cannot_steer_the_host() {
        assert!(valid_region("us-gov-west-1").is_ok());
        assert!(valid_region("evil.com/x").is_err());
        assert!(valid_region("").is_err());
    }

    #[test]
    fn custom_hosts() {
        let b = BaseUrl::custom("http://127.0.0.1:8788/").unwrap();
        assert_eq!(b.as_str(), "http://127.0.0.1:8788");
        assert_eq!(b.authority(), "127.0.0.1:8788");
        assert_eq!(b.host(), "127.0.0.1");
        let g = BaseUrl::custom("bedrock-runtime.us-gov-west-1.amazonaws.com").unwrap();
        assert_eq!(
            g.as_str(),
            "https://bedrock-runtime.us-gov-west-1.amazonaws.com"
        );
        assert_eq!(
            BaseUrl::custom("http://[fd00::1]:80")
                .map(|b| b.host())
                .ok()
                .as_deref(),
            Some("fd00::1")
        );
        assert!(BaseUrl::custom("ftp://x").is_err());
        assert!(BaseUrl::custom("https://user:pw@x").is_err());
        assert!(BaseUrl::custom("https://x/?a=b").is_err());
        assert!(BaseUrl::custom("https://x/#a").is_err());
        assert!(BaseUrl::custom("https://x/?").is_err());
    }

    #[test]
    fn custom_hosts_are_kept_in_the_form_fetch_uses() {
        for (raw, canonical, authority) in [
            (
                "http://2130706433:9300",
                "http://127.0.0.1:9300",
                "127.0.0.1:9300",
            ),
            (
                "http://127.1:9300/",
                "http://127.0.0.1:9300",
                "127.0.0.1:9300",
            ),
            (
                "http://0x7f.1:9300",
                "http://127.0.0.1:9300",
                "127.0.0.1:9300",
            ),
            ("http://[::127.0.0.1]", "http://[::7f00:1]", "[::7f00:1]"),
            (
                "HTTPS://Proxy.Example.COM:443/Bedrock/",
                "https://proxy.example.com/Bedrock",
                "proxy.example.com",
            ),
            (
                "proxy.example.com:8443/a/../b",
                "https://proxy.example.com:8443/b",
                "proxy.example.com:8443",
            ),
        ] {
            let b = BaseUrl::custom(raw).unwrap();
            assert_eq!((b.as_str(), b.authority()), (canonical, authority), "{raw}");
            assert_eq!(b.url().as_str().trim_end_matches('/'), canonical);
        }
        assert_eq!(
            BaseUrl::custom("http://[::127.0.0.1]").unwrap().host(),
            "::7f00:1"
        );
        // The reason is given, the value never (it could hold credentials).
        let err = BaseUrl::custom("https://user:secret-pw@x").unwrap_err();
        assert!(!err.message.contains("secret-pw"), "{}", err.message);
        assert!(
            err.message.contains("username or password"),
            "{}",
            err.message
        );
    }
}
