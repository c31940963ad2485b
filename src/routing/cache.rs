//! Simple cache (`cache: {mode: "simple", max_age}`): which answers are stored, under which KV
//! key, for how long. Pure; the gateway reads and writes KV with what this decides.
//!
//! The key is a SHA-256 over who asks (the gateway key's hash, or for callers without a key a
//! fingerprint of their upstream credentials), where the request goes (provider label, model),
//! the route and the compliance mode (both change the answer's shape), and the canonical body
//! without `stream` and `model` (the resolved model is keyed on its own). One team never reads
//! another team's answers, and the key itself holds nothing readable.

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::error::{ErrorCode, GatewayError, Result};

/// `max_age` when the config gives none: one day.
pub const DEFAULT_MAX_AGE_SECONDS: u64 = 86_400;

/// Workers KV refuses expirations shorter than this; shorter `max_age`s are raised to it.
pub const MIN_KV_TTL_SECONDS: u64 = 60;

/// `x-portkey-cache-status` values (Portkey's).
pub const HIT: &str = "HIT";
pub const MISS: &str = "MISS";
pub const DISABLED: &str = "DISABLED";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cache {
    /// Seconds, as the config gave it.
    pub max_age: u64,
}

impl Cache {
    /// The KV expiration: `max_age`, at least [`MIN_KV_TTL_SECONDS`].
    pub fn ttl_seconds(&self) -> u64 {
        self.max_age.max(MIN_KV_TTL_SECONDS)
    }
}

fn invalid(message: String) -> GatewayError {
    GatewayError::invalid_param("x-portkey-config", message).with_code(ErrorCode::InvalidConfig)
}

/// Parses `{mode: simple, max_age?}` (also `maxAge`). `semantic` is a 400: edgeport has no
/// embeddings to compare prompts with.
pub fn parse(v: &Value, at: &str) -> Result<Cache> {
    let obj = v
        .as_object()
        .ok_or_else(|| invalid(format!("x-portkey-config: {at}.cache must be an object")))?;
    match obj.get("mode").and_then(Value::as_str) {
        Some(m) if m.eq_ignore_ascii_case("simple") => {}
        Some(m) if m.eq_ignore_ascii_case("semantic") => {
            return Err(invalid(format!(
                "x-portkey-config: {at}.cache.mode `semantic` is not supported by edgeport (`simple` is)"
            )))
        }
        _ => {
            return Err(invalid(format!(
                "x-portkey-config: {at}.cache.mode must be `simple`"
            )))
        }
    }
    let max_age = match obj
        .get("max_age")
        .or_else(|| obj.get("maxAge"))
        .filter(|v| !v.is_null())
    {
        None => DEFAULT_MAX_AGE_SECONDS,
        Some(a) => a
            .as_u64()
            .or_else(|| {
                a.as_f64()
                    .filter(|f| f.is_finite() && *f >= 0.0)
                    .map(|f| f as u64)
            })
            .ok_or_else(|| {
                invalid(format!(
                    "x-portkey-config: {at}.cache.max_age must be a number of seconds"
                ))
            })?,
    };
    Ok(Cache { max_age })
}

/// The same JSON with every object's keys in order, so that field order never splits entries.
fn canonical(v: &Value) -> Value {
    match v {
        Value::Object(o) => {
            let mut keys: Vec<&String> = o.keys().collect();
            keys.sort();
            Value::Object(
                keys.into_iter()
                    .map(|k| (k.clone(), canonical(&o[k])))
                    .collect::<Map<String, Value>>(),
            )
        }
        Value::Array(a) => Value::Array(a.iter().map(canonical).collect()),
        other => other.clone(),
    }
}

/// Everything an answer depends on, besides the body.
#[derive(Debug, Clone, Copy)]
pub struct CacheScope<'a> {
    /// `chat` or `messages`.
    pub route: &'a str,
    /// Who asks: `key:<gateway key hash>`, or `anon:<credential fingerprint>`.
    pub caller: &'a str,
    /// `@slug` or `bedrock`.
    pub provider: &'a str,
    pub model: &'a str,
    pub strict: bool,
}

/// `cache:<sha256 hex>` for this request body in this scope.
pub fn cache_key(scope: &CacheScope<'_>, body: &Map<String, Value>) -> String {
    let mut body = body.clone();
    body.remove("stream");
    body.remove("model");
    let material = serde_json::json!([
        "v1",
        scope.route,
        scope.caller,
        scope.provider,
        scope.model,
        scope.strict,
        canonical(&Value::Object(body)),
    ]);
    format!("cache:{}", hex(&Sha256::digest(material.to_string())))
}

/// A caller without a gateway key is known only by the credentials it sends upstream: a digest,
/// so that a made-up key never reads answers paid for with a real one.
pub fn credential_fingerprint(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0u8]);
    }
    format!("anon:{}", hex(&h.finalize()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(o) => o,
            _ => Map::new(),
        }
    }

    const SCOPE: CacheScope<'static> = CacheScope {
        route: "chat",
        caller: "key:abc",
        provider: "@east",
        model: "m",
        strict: true,
    };

    #[test]
    fn parse_modes_and_max_age() {
        assert_eq!(
            parse(&json!({"mode": "simple"}), "config").ok(),
            Some(Cache {
                max_age: DEFAULT_MAX_AGE_SECONDS
            })
        );
        assert_eq!(
            parse(&json!({"mode": "simple", "maxAge": 120}), "config").ok(),
            Some(Cache { max_age: 120 })
        );
        assert_eq!(
            parse(&json!({"mode": "simple", "max_age": 5}), "config")
                .ok()
                .map(|c| c.ttl_seconds()),
            Some(MIN_KV_TTL_SECONDS)
        );
        for bad in [
            json!({"mode": "semantic"}),
            json!({}),
            json!({"mode": "simple", "max_age": "x"}),
            json!({"mode": "simple", "max_age": -1}),
            json!("simple"),
        ] {
            let e = parse(&bad, "config").err();
            assert_eq!(e.map(|e| e.status), Some(400), "{bad}");
        }
    }

    #[test]
    fn keys() {
        let body = json!({"model": "@east/m", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 5});
        let k = cache_key(&SCOPE, &obj(body.clone()));
        assert!(k.starts_with("cache:") && k.len() == 6 + 64, "{k}");
        // Field order, `stream: false` and the model's spelling do not matter.
        let reordered = json!({"max_tokens": 5, "stream": false, "model": "m",
            "messages": [{"content": "hi", "role": "user"}]});
        assert_eq!(cache_key(&SCOPE, &obj(reordered)), k);
        // Everything else does.
        let other_body =
            json!({"model": "m", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 6});
        assert_ne!(cache_key(&SCOPE, &obj(other_body)), k);
        for scope in [
            CacheScope {
                caller: "key:other",
                ..SCOPE
            },
            CacheScope {
                provider: "@west",
                ..SCOPE
            },
            CacheScope {
                model: "n",
                ..SCOPE
            },
            CacheScope {
                route: "messages",
                ..SCOPE
            },
            CacheScope {
                strict: false,
                ..SCOPE
            },
        ] {
            assert_ne!(cache_key(&scope, &obj(body.clone())), k, "{scope:?}");
        }
    }

    #[test]
    fn fingerprints_and_force_refresh() {
        let a = credential_fingerprint(&["AKID", "secret"]);
        assert!(a.starts_with("anon:") && !a.contains("secret"));
        assert_ne!(a, credential_fingerprint(&["AKID", "other"]));
        assert_ne!(
            credential_fingerprint(&["ab", "c"]),
            credential_fingerprint(&["a", "bc"])
        );
    }
}
