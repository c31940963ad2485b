//! Where a Bedrock call goes: hosts, paths and the model id's percent-encoding.

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use crate::error::{GatewayError, Result};

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

/// A validated upstream base URL: `scheme://host[:port][/prefix]`, no trailing slash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseUrl(String);

impl BaseUrl {
    /// Bedrock Runtime in `region`.
    pub fn runtime(region: &str) -> Result<Self> {
        Ok(BaseUrl(format!(
            "https://bedrock-runtime.{}.amazonaws.com",
            valid_region(region)?
        )))
    }

    /// The Bedrock control plane (GetInferenceProfile) in `region`.
    pub fn control_plane(region: &str) -> Result<Self> {
        Ok(BaseUrl(format!(
            "https://bedrock.{}.amazonaws.com",
            valid_region(region)?
        )))
    }

    /// STS in `region`.
    pub fn sts(region: &str) -> Result<Self> {
        Ok(BaseUrl(format!(
            "https://sts.{}.amazonaws.com",
            valid_region(region)?
        )))
    }

    /// A custom host (`x-portkey-custom-host` or a record's `custom_host`). A bare host gets
    /// `https://`. Only http(s) with a host; no query, fragment or credentials.
    pub fn custom(raw: &str) -> Result<Self> {
        let raw = raw.trim().trim_end_matches('/');
        let with_scheme = if raw.contains("://") {
            raw.to_owned()
        } else {
            format!("https://{raw}")
        };
        let bad = || {
            GatewayError::invalid_param(
                "x-portkey-custom-host",
                "custom host must be an http(s) URL like https://bedrock-runtime.us-gov-west-1.amazonaws.com",
            )
        };
        let uri: http::Uri = with_scheme.parse().map_err(|_| bad())?;
        let scheme_ok = matches!(uri.scheme_str(), Some("https") | Some("http"));
        let authority = uri.authority().ok_or_else(bad)?;
        if !scheme_ok
            || authority.as_str().contains('@')
            || authority.host().is_empty()
            || uri.query().is_some()
            || with_scheme.contains('#')
        {
            return Err(bad());
        }
        Ok(BaseUrl(with_scheme))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `host[:port]` of this base URL.
    pub fn authority(&self) -> &str {
        let rest = self.0.split_once("://").map_or(self.0.as_str(), |(_, r)| r);
        rest.split('/').next().unwrap_or(rest)
    }

    /// The host without port or IPv6 brackets, lowercased.
    pub fn host(&self) -> String {
        let auth = self.authority();
        let host = if let Some(rest) = auth.strip_prefix('[') {
            rest.split(']').next().unwrap_or(rest)
        } else {
            auth.rsplit_once(':').map_or(auth, |(h, _)| h)
        };
        host.to_ascii_lowercase()
    }

    pub fn model_url(&self, model_id: &str, op: Operation) -> String {
        format!(
            "{}/model/{}/{}",
            self.0,
            encode_segment(model_id),
            op.suffix()
        )
    }

    pub fn inference_profile_url(&self, profile: &str) -> String {
        format!("{}/inference-profiles/{}", self.0, encode_segment(profile))
    }
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
        let base = BaseUrl::runtime("us-east-1").unwrap();
        assert_eq!(
            base.model_url("us.anthropic.claude-3-7-sonnet-20250219-v1:0", Operation::Converse),
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
    }
}
