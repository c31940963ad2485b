//! Gateway keys: what callers present (`x-portkey-api-key` or `Authorization: Bearer`). Stored as
//! `gateway_key:<sha256 hex of the key>`; the key itself is never stored. Keys are high-entropy
//! random strings (`scripts/catalog.mjs` makes them), so an unsalted SHA-256 is enough.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::{GatewayError, Result};
use crate::platform::Kv;

pub fn key_hash(key: &str) -> String {
    let digest = Sha256::digest(key.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn gateway_key_kv_key(hash: &str) -> String {
    format!("gateway_key:{hash}")
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct GatewayKeyRecord {
    pub schema: u32,
    /// The hash this record is stored under, checked again in constant time on use.
    pub hash: String,
    /// A label for operators and logs.
    pub name: String,
    /// Catalog slugs this key may use (`*` for all).
    #[serde(default)]
    pub providers: Vec<String>,
    /// Model ids this key may call; absent means any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub models: Option<Vec<String>>,
    pub enabled: bool,
    /// Rate limits and budgets (README: Limits and budgets); absent: unlimited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<crate::budget::Limits>,
}

impl GatewayKeyRecord {
    pub fn allows_provider(&self, slug: &str) -> bool {
        self.providers
            .iter()
            .any(|p| p == "*" || p.trim_start_matches('@') == slug)
    }

    pub fn allows_model(&self, model: &str) -> bool {
        self.models
            .as_ref()
            .is_none_or(|m| m.iter().any(|x| x == model))
    }
}

pub use crate::api::portkey::KeySource;

/// Looks the presented key up. `Ok(None)`: unknown key. Disabled keys are returned (the caller
/// decides the status), so that "unknown" and "disabled" read the same to the outside: 401.
pub async fn lookup<K: Kv>(kv: &K, key: &str) -> Result<Option<GatewayKeyRecord>> {
    lookup_hash(kv, &key_hash(key)).await
}

/// [`lookup`] by the presented key's hash.
pub async fn lookup_hash<K: Kv>(kv: &K, hash: &str) -> Result<Option<GatewayKeyRecord>> {
    let raw = kv.get(&gateway_key_kv_key(hash)).await.map_err(|_| {
        GatewayError::new(
            503,
            crate::error::ErrorKind::Overloaded,
            "the key store is unavailable; retry shortly",
        )
    })?;
    let Some(raw) = raw else { return Ok(None) };
    let record: GatewayKeyRecord = serde_json::from_str(&raw).map_err(|_| {
        GatewayError::internal("a gateway key record is unreadable; ask the operator to rewrite it")
    })?;
    // The KV lookup already matched the hash; compare again in constant time so a record
    // stored under the wrong name can never admit a different key.
    if !bool::from(record.hash.as_bytes().ct_eq(hash.as_bytes())) {
        return Ok(None);
    }
    Ok(Some(record))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_is_sha256_hex() {
        assert_eq!(
            key_hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn grants() {
        let r = GatewayKeyRecord {
            schema: 1,
            hash: String::new(),
            name: "t".into(),
            providers: vec!["prod".into()],
            models: Some(vec!["m1".into()]),
            enabled: true,
            limits: None,
        };
        assert!(r.allows_provider("prod") && !r.allows_provider("dev"));
        assert!(r.allows_model("m1") && !r.allows_model("m2"));
    }
}
