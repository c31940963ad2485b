//! The simple cache's reads and writes in KV (what and where is decided by `routing::cache`).
//! A KV failure is logged and the request goes on as a miss: the cache never fails a request.

use bytes::Bytes;

use crate::api::portkey::PortkeyHeaders;
use crate::gateway::{Body, GatewayResponse, Outcome};
use crate::platform::{Kv, Platform};
use crate::routing::cache::{self, Cache};

/// Where one cacheable answer is looked up and stored.
pub struct Entry {
    pub key: String,
    pub cache: Cache,
}

/// The cache step of one target's call, the same on every route: no `cache` → no entry; a
/// stream → `DISABLED` and no entry; otherwise the entry for `scope` + `material` and, unless
/// `x-portkey-cache-force-refresh` says otherwise, the stored answer if there is one.
pub async fn open<P: Platform>(
    platform: &P,
    cache: Option<Cache>,
    stream: bool,
    scope: &cache::CacheScope<'_>,
    material: &serde_json::Map<String, serde_json::Value>,
    headers: &PortkeyHeaders,
    outcome: &mut Outcome,
) -> (Option<Entry>, Option<GatewayResponse>) {
    let Some(cache) = cache else {
        return (None, None);
    };
    if stream {
        outcome.cache = Some(cache::DISABLED);
        return (None, None);
    }
    let entry = Entry {
        key: cache::cache_key(scope, material),
        cache,
    };
    let refresh = headers.cache_force_refresh;
    let hit = lookup(platform, &entry, refresh, outcome).await;
    (Some(entry), hit)
}

/// The stored answer, or `None` (and `MISS` on the outcome). `force_refresh` skips the read.
pub async fn lookup<P: Platform>(
    platform: &P,
    entry: &Entry,
    force_refresh: bool,
    outcome: &mut Outcome,
) -> Option<GatewayResponse> {
    outcome.cache = Some(cache::MISS);
    if force_refresh {
        return None;
    }
    match platform.kv().get(&entry.key).await {
        Ok(Some(body)) if serde_json::from_str::<serde_json::Value>(&body).is_ok() => {
            outcome.cache = Some(cache::HIT);
            // What the answer used when it was made (a hit costs nothing upstream).
            outcome.usage = serde_json::from_str::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| crate::usage::extract::from_answer(&v));
            Some(GatewayResponse {
                status: 200,
                headers: vec![("content-type".into(), "application/json".into())],
                body: Body::Full(Bytes::from(body)),
            })
        }
        Ok(_) => None,
        Err(e) => {
            log_failure(platform, "cache_read_failed", &e);
            None
        }
    }
}

/// Stores a 200 answer's JSON for `max_age` (at least KV's minimum TTL).
pub async fn store<P: Platform>(platform: &P, entry: &Entry, body: &str) {
    if let Err(e) = platform
        .kv()
        .put(&entry.key, body, Some(entry.cache.ttl_seconds()))
        .await
    {
        log_failure(platform, "cache_write_failed", &e);
    }
}

fn log_failure<P: Platform>(platform: &P, event: &str, error: &str) {
    platform.log(&serde_json::json!({"event": event, "error": error}).to_string());
}
