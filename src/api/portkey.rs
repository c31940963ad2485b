//! The Portkey-style request headers (`x-portkey-*`, and the standard ones that carry keys and
//! betas), read once at the gateway's edge into one typed value that every layer receives. Values
//! are trimmed; empty values count as absent. Validation that needs the operator's settings
//! (timeouts, forwarded headers, custom-host trust) happens where those are known.

use crate::http::RequestHeaders;

/// Where the caller's gateway key came from: an explicit `x-portkey-api-key` is always checked; a
/// Bearer token or an `x-api-key` (which the OpenAI and Anthropic SDKs always send) may be an
/// SDK's placeholder when gateway keys are not required.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeySource {
    PortkeyHeader,
    ApiKeyHeader,
    Bearer,
}

impl KeySource {
    /// Whether an unknown key from here may be an SDK placeholder (ignored when keys are not
    /// required) rather than a wrong key (always refused).
    pub fn may_be_placeholder(self) -> bool {
        !matches!(self, KeySource::PortkeyHeader)
    }
}

/// `x-portkey-aws-*`: the caller's own AWS credentials (`x-portkey-provider: bedrock`).
#[derive(Clone, Default, PartialEq)]
pub struct AwsHeaders {
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    pub session_token: Option<String>,
    pub region: Option<String>,
    pub auth_type: Option<String>,
    pub role_arn: Option<String>,
    pub external_id: Option<String>,
}

/// One request's Portkey headers. `Debug` shows which are present, never their values.
#[derive(Clone, PartialEq)]
pub struct PortkeyHeaders {
    /// `x-portkey-provider`: `@slug`, `bedrock`, `openai`.
    pub provider: Option<String>,
    /// The gateway key: `x-portkey-api-key`, `x-api-key`, else `Authorization: Bearer` (never in
    /// OpenAI header mode, where `Authorization` is the OpenAI key).
    pub gateway_key: Option<(String, KeySource)>,
    /// The OpenAI key: `Authorization: Bearer` in OpenAI header mode, or a config target's
    /// `api_key`.
    pub openai_key: Option<String>,
    pub aws: AwsHeaders,
    /// `x-portkey-custom-host` (checked against the trust rules when a target is resolved).
    pub custom_host: Option<String>,
    /// `x-portkey-config`: inline JSON or a saved config's id.
    pub config: Option<String>,
    /// `x-portkey-trace-id`, the span headers, `traceparent`, `tracestate`, `baggage`.
    pub trace: crate::trace::TraceHeaders,
    /// `x-portkey-metadata` (JSON text).
    pub metadata: Option<String>,
    /// `x-portkey-strict-open-ai-compliance` (or `...-openai-...`): strict unless `false`.
    pub strict: bool,
    /// `x-portkey-request-timeout` as sent (validated by the upstream options).
    pub request_timeout: Option<String>,
    /// `x-portkey-forward-headers`: the names listed, with the caller's value of each (if sent).
    pub forward: Vec<(String, Option<String>)>,
    /// `anthropic-beta` and `x-portkey-anthropic-beta` values, with the header each came from.
    pub anthropic_beta: Vec<(String, String)>,
    /// `x-portkey-cache-force-refresh: true`
    pub cache_force_refresh: bool,
}

impl Default for PortkeyHeaders {
    /// A request without any of these headers (strict compliance on).
    fn default() -> Self {
        Self::parse(&RequestHeaders::default())
    }
}

impl std::fmt::Debug for PortkeyHeaders {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PortkeyHeaders")
            .field("provider", &self.provider)
            .field("gateway_key", &self.gateway_key.as_ref().map(|(_, s)| s))
            .field(
                "openai_key",
                &self.openai_key.as_ref().map(|_| "<redacted>"),
            )
            .field(
                "aws",
                &self.aws.access_key_id.as_ref().map(|_| "<redacted>"),
            )
            .field("custom_host", &self.custom_host)
            .field("config", &self.config.is_some())
            .finish_non_exhaustive()
    }
}

fn present(v: Option<&str>) -> Option<String> {
    v.map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

fn bearer(headers: &RequestHeaders) -> Option<String> {
    let auth = headers.get("authorization")?.trim();
    present(
        auth.strip_prefix("Bearer ")
            .or_else(|| auth.strip_prefix("bearer ")),
    )
}

impl PortkeyHeaders {
    /// Reads the headers of one request.
    pub fn parse(headers: &RequestHeaders) -> Self {
        let get = |name: &str| present(headers.get(name));
        let provider = get("x-portkey-provider");
        let openai_mode = provider
            .as_deref()
            .is_some_and(|p| p.eq_ignore_ascii_case("openai"));
        let gateway_key = get("x-portkey-api-key")
            .map(|k| (k, KeySource::PortkeyHeader))
            .or_else(|| get("x-api-key").map(|k| (k, KeySource::ApiKeyHeader)))
            .or_else(|| {
                // In OpenAI header mode `Authorization` carries the caller's OpenAI key.
                (!openai_mode)
                    .then(|| bearer(headers))
                    .flatten()
                    .map(|k| (k, KeySource::Bearer))
            });
        let strict = headers
            .get("x-portkey-strict-open-ai-compliance")
            .or_else(|| headers.get("x-portkey-strict-openai-compliance"))
            .is_none_or(|v| !v.trim().eq_ignore_ascii_case("false"));
        let forward = headers
            .get("x-portkey-forward-headers")
            .unwrap_or("")
            .split(',')
            .map(|n| n.trim().to_ascii_lowercase())
            .filter(|n| !n.is_empty())
            .map(|name| {
                let value = headers.get(&name).map(str::to_owned);
                (name, value)
            })
            .collect();
        let anthropic_beta = headers
            .0
            .iter()
            .filter(|(k, _)| k == "anthropic-beta" || k == "x-portkey-anthropic-beta")
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        PortkeyHeaders {
            openai_key: openai_mode.then(|| bearer(headers)).flatten(),
            provider,
            gateway_key,
            aws: AwsHeaders {
                access_key_id: get("x-portkey-aws-access-key-id"),
                secret_access_key: get("x-portkey-aws-secret-access-key"),
                session_token: get("x-portkey-aws-session-token"),
                region: get("x-portkey-aws-region"),
                auth_type: get("x-portkey-aws-auth-type"),
                role_arn: get("x-portkey-aws-role-arn"),
                external_id: get("x-portkey-aws-external-id"),
            },
            custom_host: get("x-portkey-custom-host"),
            config: get("x-portkey-config"),
            trace: crate::trace::TraceHeaders {
                trace_id: get("x-portkey-trace-id"),
                span_id: get("x-portkey-span-id"),
                parent_span_id: get("x-portkey-parent-span-id"),
                span_name: get("x-portkey-span-name"),
                traceparent: get("traceparent"),
                tracestate: get("tracestate"),
                baggage: get("baggage"),
            },
            metadata: get("x-portkey-metadata"),
            strict,
            request_timeout: get("x-portkey-request-timeout"),
            forward,
            anthropic_beta,
            cache_force_refresh: headers
                .get("x-portkey-cache-force-refresh")
                .is_some_and(|v| v.trim().eq_ignore_ascii_case("true")),
        }
    }

    /// The betas of the headers, joined with commas (as Bedrock's Converse mapping takes them).
    pub fn anthropic_beta_joined(&self) -> Option<String> {
        let joined: Vec<&str> = self
            .anthropic_beta
            .iter()
            .map(|(_, v)| v.trim())
            .filter(|v| !v.is_empty())
            .collect();
        (!joined.is_empty()).then(|| joined.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_once_and_tells_the_bearer_meanings_apart() {
        let h = PortkeyHeaders::parse(&RequestHeaders::new([
            ("Authorization", "Bearer ek_gateway"),
            ("X-Portkey-Provider", " @prod "),
            ("x-portkey-strict-openai-compliance", "False"),
            ("anthropic-beta", "a,b"),
            ("x-portkey-anthropic-beta", "c"),
            ("x-portkey-forward-headers", "X-Team, x-missing"),
            ("x-team", "blue"),
        ]));
        assert_eq!(
            h.gateway_key,
            Some(("ek_gateway".to_owned(), KeySource::Bearer))
        );
        assert_eq!(h.provider.as_deref(), Some("@prod"));
        assert!(!h.strict && h.openai_key.is_none());
        assert_eq!(h.anthropic_beta_joined().as_deref(), Some("a,b,c"));
        assert_eq!(
            h.forward,
            vec![
                ("x-team".to_owned(), Some("blue".to_owned())),
                ("x-missing".to_owned(), None)
            ]
        );
        let openai = PortkeyHeaders::parse(&RequestHeaders::new([
            ("authorization", "Bearer sk-openai"),
            ("x-portkey-provider", "openai"),
            ("x-portkey-api-key", "ek_gateway"),
        ]));
        assert_eq!(openai.openai_key.as_deref(), Some("sk-openai"));
        assert_eq!(
            openai.gateway_key,
            Some(("ek_gateway".to_owned(), KeySource::PortkeyHeader))
        );
        let only_bearer = PortkeyHeaders::parse(&RequestHeaders::new([
            ("authorization", "Bearer sk-openai"),
            ("x-portkey-provider", "openai"),
        ]));
        assert_eq!(only_bearer.gateway_key, None);
        assert!(PortkeyHeaders::default().gateway_key.is_none());
        assert!(PortkeyHeaders::default().strict);
        let refresh = PortkeyHeaders::parse(&RequestHeaders::new([
            ("x-portkey-cache-force-refresh", " TRUE "),
            ("x-portkey-strict-open-ai-compliance", "false"),
        ]));
        assert!(refresh.cache_force_refresh && !refresh.strict);
        let debug = format!("{openai:?}");
        assert!(
            !debug.contains("sk-openai") && !debug.contains("ek_gateway"),
            "{debug}"
        );
    }
}
