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

use crate::error::{ErrorCode, ErrorKind, GatewayError, Result};
use crate::http::RequestHeaders;
use crate::platform::Kv;

/// The request's config: `None` without `x-portkey-config`; a saved id is read from KV
/// (`config:<id>`, plain JSON), for callers with a valid gateway key only (saved configs are the
/// operator's).
pub async fn from_request<K: Kv>(
    kv: &K,
    headers: &RequestHeaders,
    caller: &crate::gateway::target::Caller,
) -> Result<Option<Node>> {
    let Some(raw) = headers
        .get("x-portkey-config")
        .map(str::trim)
        .filter(|v| !v.is_empty())
    else {
        return Ok(None);
    };
    match config::parse_header(raw)? {
        ConfigRef::Inline(node) => Ok(Some(*node)),
        ConfigRef::Saved(id) => {
            caller.require()?;
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
            config::parse(&stored).map(Some)
        }
    }
}

/// The caller's headers with the target's settings in place of theirs.
pub fn overlay_headers(headers: &RequestHeaders, attempt: &Attempt) -> RequestHeaders {
    let strict = attempt.strict_open_ai_compliance.map(|s| s.to_string());
    let replaced: [(&str, Option<String>); 4] = [
        ("x-portkey-provider", attempt.provider.clone()),
        ("x-portkey-custom-host", attempt.custom_host.clone()),
        (
            "x-portkey-request-timeout",
            attempt.request_timeout.map(|t| t.to_string()),
        ),
        ("x-portkey-strict-open-ai-compliance", strict.clone()),
    ];
    let mut out = headers.clone();
    if strict.is_some() {
        out.0
            .retain(|(k, _)| k != "x-portkey-strict-openai-compliance");
    }
    for (name, value) in replaced {
        if let Some(value) = value {
            out.0.retain(|(k, _)| k != name);
            out.0.push((name.to_owned(), value));
        }
    }
    let mut set = |name: &str, value: Option<String>| {
        out.0.retain(|(k, _)| k != name);
        if let Some(value) = value {
            out.0.push((name.to_owned(), value));
        }
    };
    match &attempt.credentials {
        Some(InlineCredentials::OpenAi { api_key }) => {
            set("authorization", Some(format!("Bearer {api_key}")));
        }
        Some(InlineCredentials::Bedrock {
            access_key_id,
            secret_access_key,
            region,
            session_token,
        }) => {
            set("x-portkey-aws-access-key-id", Some(access_key_id.clone()));
            set(
                "x-portkey-aws-secret-access-key",
                Some(secret_access_key.clone()),
            );
            set("x-portkey-aws-region", Some(region.clone()));
            set("x-portkey-aws-session-token", session_token.clone());
            // Inline credentials are access keys: a role the caller's headers named is not
            // assumed with them.
            set("x-portkey-aws-auth-type", None);
            set("x-portkey-aws-role-arn", None);
            set("x-portkey-aws-external-id", None);
        }
        None => {
            // `Authorization` is an OpenAI key only in the caller's own OpenAI header mode (or
            // from the target's `api_key`): a target that switches to `openai` never sends the
            // caller's gateway key to OpenAI.
            if attempt.provider.as_deref() == Some("openai") && !headers.openai_header_mode() {
                set("authorization", None);
            }
        }
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
            if let Some((_, id)) = crate::gateway::target::split_slug_model(model) {
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
        let headers = RequestHeaders::new([
            ("x-portkey-provider", "@old"),
            ("x-portkey-strict-openai-compliance", "true"),
            ("x-portkey-api-key", "k"),
        ]);
        let a = Attempt {
            provider: Some("@new".into()),
            custom_host: Some("https://h".into()),
            request_timeout: Some(5),
            strict_open_ai_compliance: Some(false),
            ..Attempt::default()
        };
        let h = overlay_headers(&headers, &a);
        assert_eq!(h.get("x-portkey-provider"), Some("@new"));
        assert_eq!(h.get("x-portkey-custom-host"), Some("https://h"));
        assert_eq!(h.get("x-portkey-request-timeout"), Some("5"));
        assert_eq!(h.get("x-portkey-api-key"), Some("k"));
        assert!(!h.strict_compliance());
        let same = overlay_headers(&headers, &Attempt::default());
        assert_eq!(same.0, headers.0);
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
