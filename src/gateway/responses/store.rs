//! Stored responses (`store`, default true): one KV value per response under
//! `response:<scope>:<id>`, kept [`RESPONSE_STORE_TTL_SECONDS`]. It holds the response as the
//! caller saw it (for `GET /v1/responses/{id}`) and the whole conversation up to and including
//! its output (every item, reasoning with its signature), so `previous_response_id` costs one
//! read however long the conversation is.
//!
//! The scope is who may read it back: the gateway key (its hash), or for a caller without one, a
//! digest of the credentials it presented (as the cache files answers). Another scope's id is
//! simply not there: a 404, never a hint that it exists.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::api::portkey::PortkeyHeaders;
use crate::gateway::target::Caller;
use crate::limits::{MAX_STORED_CONVERSATION_BYTES, RESPONSE_STORE_TTL_SECONDS};
use crate::platform::{Kv, KvWriter};

/// One stored response.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    /// The `response` object as it was answered.
    pub response: Value,
    /// The conversation: earlier items, this request's input, this response's output.
    pub items: Vec<Value>,
}

/// Who may read stored responses back: `key:<hash>` for a gateway key; for a caller without one,
/// a digest of the credentials the request carries (`None` when it carries none: nothing is
/// stored for it).
pub fn scope(caller: &Caller, headers: &PortkeyHeaders) -> Option<String> {
    if let Some(key) = caller.key() {
        return Some(format!("key:{}", key.hash));
    }
    let aws = &headers.aws;
    let parts = [
        aws.access_key_id.as_deref(),
        aws.secret_access_key.as_deref(),
        aws.session_token.as_deref(),
        aws.role_arn.as_deref(),
        aws.external_id.as_deref(),
        headers.openai_key.as_deref(),
        // An inline config's targets may carry credentials of their own.
        headers
            .config
            .as_deref()
            .filter(|c| c.trim_start().starts_with('{')),
    ];
    if parts.iter().all(Option::is_none) {
        return None;
    }
    let parts: Vec<&str> = parts.iter().map(|p| p.unwrap_or("")).collect();
    Some(crate::routing::cache::credential_fingerprint(&parts))
}

/// Whether `id` can be a stored response's id (`resp_` + 24 lowercase hex digits): anything
/// else is not looked up.
pub fn valid_id(id: &str) -> bool {
    id.strip_prefix("resp_").is_some_and(|hex| {
        hex.len() == 24
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

/// The response an output item id (`<kind>_<hex>_<n>`) belongs to.
pub fn response_of_item(item_id: &str) -> Option<String> {
    let (_, rest) = item_id.split_once('_')?;
    let (hex, n) = rest.split_once('_')?;
    let id = format!("resp_{hex}");
    (valid_id(&id) && !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())).then_some(id)
}

fn kv_key(scope: &str, id: &str) -> String {
    format!("response:{scope}:{id}")
}

/// The stored response `id` in `scope`; `Ok(None)` when there is none (or it does not parse).
pub async fn load<K: Kv>(kv: &K, scope: &str, id: &str) -> Result<Option<Record>, String> {
    if !valid_id(id) {
        return Ok(None);
    }
    let Some(text) = kv.get(&kv_key(scope, id)).await? else {
        return Ok(None);
    };
    Ok(serde_json::from_str(&text).ok())
}

pub async fn delete<K: Kv>(kv: &K, scope: &str, id: &str) -> Result<(), String> {
    kv.delete(&kv_key(scope, id)).await
}

/// The record as KV text, if it fits [`MAX_STORED_CONVERSATION_BYTES`].
pub fn encode(record: &Record) -> Option<String> {
    serde_json::to_string(record)
        .ok()
        .filter(|t| t.len() <= MAX_STORED_CONVERSATION_BYTES)
}

/// Writes `text` (from [`encode`]) as response `id`.
pub async fn save(writer: &KvWriter, scope: &str, id: &str, text: String) -> Result<(), String> {
    writer(kv_key(scope, id), text, Some(RESPONSE_STORE_TTL_SECONDS)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids() {
        assert!(valid_id("resp_0123456789abcdef01234567"));
        assert!(!valid_id("resp_0123456789ABCDEF01234567"));
        assert!(!valid_id("resp_0123456789abcdef0123456"));
        assert!(!valid_id("resp_0123456789abcdef01234567:x"));
        assert!(!valid_id("msg_0123456789abcdef01234567"));
        assert_eq!(
            response_of_item("msg_0123456789abcdef01234567_3").as_deref(),
            Some("resp_0123456789abcdef01234567")
        );
        assert_eq!(response_of_item("msg_0123456789abcdef01234567_"), None);
        assert_eq!(response_of_item("msg_nothex_1"), None);
        assert_eq!(response_of_item("fc_1"), None);
    }

    #[test]
    fn a_caller_without_key_or_credentials_has_no_scope() {
        let headers = PortkeyHeaders::default();
        assert_eq!(scope(&Caller::Anonymous, &headers), None);
        let mut with = headers.clone();
        with.aws.access_key_id = Some("AKIA1".into());
        with.aws.secret_access_key = Some("s1".into());
        let a = scope(&Caller::Anonymous, &with).unwrap();
        let mut other = with.clone();
        other.aws.secret_access_key = Some("s2".into());
        assert_ne!(a, scope(&Caller::Anonymous, &other).unwrap());
        assert!(!a.contains("AKIA1") && !a.contains("s1"));
    }
}
