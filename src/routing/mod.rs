//! Gateway configs (`x-portkey-config`): retry, fallback, load balancing and conditions over
//! targets, and the simple cache.
//!
//! `config` parses a config (inline JSON or a saved id), `plan` decides which target goes next
//! (`conditions` evaluates conditional queries), `cache` decides what is cached under which key.
//! A target is not a second way to resolve a provider: each attempt is an overlay of headers
//! (`x-portkey-provider`, `x-portkey-custom-host`, ...) and body fields (`override_params`) on
//! the caller's request, which then goes through `gateway::target::resolve` like any request, so
//! gateway key grants and custom-host trust rules apply per target.

pub mod cache;
pub mod conditions;
pub mod config;
pub mod plan;

use serde_json::{Map, Value};

pub use conditions::Facts;
use config::InlineCredentials;
pub use config::{ConfigRef, Node};
pub use plan::Attempt;

use crate::api::portkey::{AwsHeaders, PortkeyHeaders};
use crate::error::{ErrorCode, ErrorKind, GatewayError, Result};
use crate::platform::Kv;

/// The request's config: `None` without `x-portkey-config`; a saved id is read from KV
/// (`config:<id>`, plain JSON), for callers with a valid gateway key only (saved configs are the
/// operator's): `may_read_saved` says whether this caller may, and why not.
pub async fn from_request<K: Kv>(
    kv: &K,
    headers: &PortkeyHeaders,
    may_read_saved: impl FnOnce() -> Result<()>,
) -> Result<Option<Node>> {
    let Some(raw) = headers.config.as_deref() else {
        return Ok(None);
    };
    match config::parse_header(raw)? {
        ConfigRef::Inline(node) => Ok(Some(*node)),
        ConfigRef::Saved(id) => {
            may_read_saved()?;
            let stored = kv
                .get(&config::saved_config_key(&id))
                .await
                .map_err(|_| {
                    GatewayError::new(
                        503,
                        ErrorKind::Overloaded,
                        "the config store is unavailable; retry shortly",
                    )
                })?
                .ok_or_else(|| {
                    GatewayError::invalid_param(
                        "x-portkey-config",
                        format!("x-portkey-config: no saved config `{id}`"),
                    )
                    .with_code(ErrorCode::UnknownConfig)
                })?;
            let node = config::parse(&stored)?;
            // A saved config is the operator's, shared by every key holder: credentials in it would
            // be treated as the caller's own (signed toward a caller's custom host, no grants).
            // They belong in the catalog.
            if node.has_credentials() {
                return Err(GatewayError::internal(format!(
                    "saved config `{id}` holds credentials (api_key / aws_*): put them in a catalog provider and name it with @slug"
                ))
                .with_code(ErrorCode::InvalidConfig));
            }
            Ok(Some(node))
        }
    }
}

/// The caller's headers with the target's settings in place of theirs.
pub fn overlay_headers(headers: &PortkeyHeaders, attempt: &Attempt) -> PortkeyHeaders {
    let mut out = headers.clone();
    if attempt.provider.is_some() {
        out.provider.clone_from(&attempt.provider);
    }
    if attempt.custom_host.is_some() {
        out.custom_host.clone_from(&attempt.custom_host);
    }
    if let Some(t) = attempt.request_timeout {
        out.request_timeout = Some(t.to_string());
    }
    if let Some(strict) = attempt.strict_open_ai_compliance {
        out.strict = strict;
    }
    match &attempt.credentials {
        Some(InlineCredentials::OpenAi { api_key }) => out.openai_key = Some(api_key.clone()),
        Some(InlineCredentials::Bedrock {
            access_key_id,
            secret_access_key,
            region,
            session_token,
        }) => {
            // Inline credentials are access keys: a role the caller's headers named is not
            // assumed with them.
            out.aws = AwsHeaders {
                access_key_id: Some(access_key_id.clone()),
                secret_access_key: Some(secret_access_key.clone()),
                region: Some(region.clone()),
                session_token: session_token.clone(),
                ..AwsHeaders::default()
            };
        }
        // The OpenAI key stays what the caller's own OpenAI header mode gave (if anything): a
        // target switching to `openai` never turns another header into an OpenAI key.
        None => {}
    }
    out
}

/// `override_params` over the body (top-level fields replaced). When the target names its
/// provider, an `@slug/` prefix on the model is dropped: the target's provider wins.
pub fn apply_overrides(body: &mut Map<String, Value>, attempt: &Attempt) {
    for (k, v) in &attempt.override_params {
        body.insert(k.clone(), v.clone());
    }
    if attempt.provider.is_some() {
        if let Some(Value::String(model)) = body.get_mut("model") {
            if let Some((_, id)) = crate::catalog::split_slug_model(model) {
                *model = id.to_owned();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn overlay() {
        let headers = PortkeyHeaders::parse(&crate::http::RequestHeaders::new([
            ("x-portkey-provider", "@old"),
            ("x-portkey-strict-openai-compliance", "true"),
            ("x-portkey-api-key", "k"),
        ]));
        let a = Attempt {
            provider: Some("@new".into()),
            custom_host: Some("https://h".into()),
            request_timeout: Some(5),
            strict_open_ai_compliance: Some(false),
            ..Attempt::default()
        };
        let h = overlay_headers(&headers, &a);
        assert_eq!(h.provider.as_deref(), Some("@new"));
        assert_eq!(h.custom_host.as_deref(), Some("https://h"));
        assert_eq!(h.request_timeout.as_deref(), Some("5"));
        assert_eq!(h.gateway_key.as_ref().map(|(k, _)| k.as_str()), Some("k"));
        assert!(!h.strict);
        let same = overlay_headers(&headers, &Attempt::default());
        assert!(same == headers);
    }

    #[test]
    fn overrides() {
        let mut body = json!({"model": "@x/m", "max_tokens": 1, "messages": []});
        let Value::Object(obj) = &mut body else {
            unreachable!()
        };
        let mut a = Attempt::default();
        a.override_params.insert("max_tokens".into(), json!(9));
        apply_overrides(obj, &a);
        assert_eq!(
            body,
            json!({"model": "@x/m", "max_tokens": 9, "messages": []})
        );
        let Value::Object(obj) = &mut body else {
            unreachable!()
        };
        a.provider = Some("@y".into());
        apply_overrides(obj, &a);
        assert_eq!(body["model"], "m");
    }
}
