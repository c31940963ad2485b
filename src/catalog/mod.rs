//! The Model Catalog: provider records and gateway keys in Workers KV.
//!
//! This module is the only place that reads a record. Provider records live at `provider:<slug>`;
//! their `auth` is sealed (AES-256-GCM, see [`sealing`]) so a KV dump shows no secret. The
//! schema is versioned (`schema`); a record of another schema fails closed.

pub mod keys;
pub mod prompts;
pub mod sealing;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::{ErrorKind, GatewayError, Result};
use crate::platform::Kv;
use crate::providers::bedrock::signing::AwsCredentials;
use sealing::SealingKey;

pub const RECORD_SCHEMA: u32 = 2;

pub fn provider_key(slug: &str) -> String {
    format!("provider:{slug}")
}

/// A provider as stored (schema 2). Everything secret is inside `auth`, sealed.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StoredProvider {
    pub schema: u32,
    pub provider: String,
    pub aws_region: String,
    /// `v1.<base64>`: the sealed JSON of [`ProviderAuth`], with the KV key as associated data.
    pub auth: String,
    /// A trusted upstream base URL (PrivateLink, GovCloud, FIPS, a local stand-in).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_host: Option<String>,
    /// A trusted STS endpoint for assumed roles (default `https://sts.<region>.amazonaws.com`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sts_endpoint: Option<String>,
    /// Request fields applied when the caller did not send them (e.g. `max_tokens`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_params: Option<Map<String, Value>>,
}

/// How the gateway authenticates to Bedrock for this provider. `Debug` hides secrets.
#[derive(Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ProviderAuth {
    /// Access keys (+ optional session token).
    AccessKey {
        access_key_id: String,
        secret_access_key: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        session_token: Option<String>,
    },
    /// A role assumed with STS, using the Worker's base credentials (secrets AWS_ACCESS_KEY_ID /
    /// AWS_SECRET_ACCESS_KEY).
    AssumedRole {
        role_arn: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        external_id: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        session_name: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        duration_seconds: Option<u32>,
    },
    /// A Bedrock API key, sent as `Authorization: Bearer`.
    ApiKey { api_key: String },
}

impl std::fmt::Debug for ProviderAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ProviderAuth::AccessKey { access_key_id, .. } => {
                write!(f, "AccessKey({access_key_id}, <redacted>)")
            }
            ProviderAuth::AssumedRole { role_arn, .. } => write!(f, "AssumedRole({role_arn})"),
            ProviderAuth::ApiKey { .. } => f.write_str("ApiKey(<redacted>)"),
        }
    }
}

impl ProviderAuth {
    pub fn access_key(creds: &AwsCredentials) -> Self {
        ProviderAuth::AccessKey {
            access_key_id: creds.access_key_id.clone(),
            secret_access_key: creds.secret_access_key.clone(),
            session_token: creds.session_token.clone(),
        }
    }
}

/// A provider record, opened.
#[derive(Debug, Clone)]
pub struct ProviderRecord {
    pub slug: String,
    pub aws_region: String,
    pub auth: ProviderAuth,
    pub custom_host: Option<String>,
    pub sts_endpoint: Option<String>,
    pub default_params: Option<Map<String, Value>>,
}

/// Seals `auth` for `slug` (used by tests; operators use scripts/catalog.mjs, same format).
pub fn seal_auth(key: &SealingKey, slug: &str, auth: &ProviderAuth) -> Result<String> {
    let json =
        serde_json::to_vec(auth).map_err(|_| GatewayError::internal("could not encode auth"))?;
    key.seal(&provider_key(slug), &json)
        .map_err(|e| GatewayError::internal(e.to_string()))
}

/// A slug names a catalog entry: letters, digits, `-` and `_`.
pub fn valid_slug(slug: &str) -> bool {
    !slug.is_empty()
        && slug.len() <= 64
        && slug
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Why a record could not be used, for the operator's log line (never a secret).
fn unreadable(slug: &str, why: &str) -> GatewayError {
    GatewayError::internal(format!(
        "the catalog record for `@{slug}` cannot be used ({why}); ask the operator to re-save it"
    ))
    .with_code("catalog_record_invalid")
}

/// Reads and opens the record for `slug`. A missing slug is a 400 the caller can act on; a record
/// that does not parse or open (wrong key, tampered, moved) fails closed as a 500.
pub async fn load_provider<K: Kv>(
    kv: &K,
    key: Option<&SealingKey>,
    slug: &str,
) -> Result<ProviderRecord> {
    if !valid_slug(slug) {
        return Err(GatewayError::invalid_param(
            "x-portkey-provider",
            format!("`@{slug}` is not a valid provider slug (letters, digits, - and _)"),
        ));
    }
    let raw = kv
        .get(&provider_key(slug))
        .await
        .map_err(|_| GatewayError::new(503, ErrorKind::Overloaded, "the provider catalog is unavailable; retry shortly"))?
        .ok_or_else(|| {
            GatewayError::invalid_param(
                "x-portkey-provider",
                format!("no provider `@{slug}` in the catalog; check the slug or add it (README: Operating the catalog)"),
            )
            .with_code("unknown_provider")
        })?;
    let stored: StoredProvider =
        serde_json::from_str(&raw).map_err(|_| unreadable(slug, "not a provider record"))?;
    if stored.schema != RECORD_SCHEMA {
        return Err(unreadable(
            slug,
            &format!("schema {} is not {RECORD_SCHEMA}", stored.schema),
        ));
    }
    if stored.provider != "bedrock" {
        return Err(GatewayError::invalid_param(
            "x-portkey-provider",
            format!(
                "provider `@{slug}` is a `{}` provider; edgeport serves bedrock",
                stored.provider
            ),
        ));
    }
    let key = key.ok_or_else(|| unreadable(slug, "the CATALOG_KEY secret is not set"))?;
    let plain = key
        .open(&provider_key(slug), &stored.auth)
        .map_err(|e| unreadable(slug, &e.to_string()))?;
    let auth: ProviderAuth = serde_json::from_slice(&plain)
        .map_err(|_| unreadable(slug, "sealed auth has an unknown shape"))?;
    Ok(ProviderRecord {
        slug: slug.to_owned(),
        aws_region: stored.aws_region,
        auth,
        custom_host: stored.custom_host,
        sts_endpoint: stored.sts_endpoint,
        default_params: stored.default_params,
    })
}
