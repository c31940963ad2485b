//! The Model Catalog: provider records in Workers KV, keyed by slug.
//!
//! A record's schema is versioned (`schema`), and this module is the only place that reads one.
//! KV key: `provider:<slug>`.

use serde::{Deserialize, Serialize};

use crate::error::{GatewayError, Result};
use crate::platform::Kv;
use crate::providers::bedrock::signing::AwsCredentials;

pub const RECORD_SCHEMA: u32 = 1;

pub fn provider_key(slug: &str) -> String {
    format!("provider:{slug}")
}

/// A provider saved in the catalog (schema 1).
#[derive(Clone, Serialize, Deserialize, PartialEq)]
pub struct ProviderRecord {
    pub schema: u32,
    pub provider: String,
    pub aws_region: String,
    pub auth: RecordAuth,
    /// A trusted upstream base URL (PrivateLink, GovCloud, FIPS, a local stand-in).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_host: Option<String>,
}

impl std::fmt::Debug for ProviderRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderRecord")
            .field("provider", &self.provider)
            .field("aws_region", &self.aws_region)
            .field("custom_host", &self.custom_host)
            .finish_non_exhaustive()
    }
}

#[derive(Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum RecordAuth {
    AccessKey {
        access_key_id: String,
        secret_access_key: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        session_token: Option<String>,
    },
}

impl RecordAuth {
    pub fn credentials(&self) -> AwsCredentials {
        match self {
            RecordAuth::AccessKey {
                access_key_id,
                secret_access_key,
                session_token,
            } => AwsCredentials {
                access_key_id: access_key_id.clone(),
                secret_access_key: secret_access_key.clone(),
                session_token: session_token.clone(),
            },
        }
    }
}

/// A slug names a catalog entry: letters, digits, `-` and `_`.
pub fn valid_slug(slug: &str) -> bool {
    !slug.is_empty()
        && slug.len() <= 64
        && slug
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Reads and parses the record for `slug`. A missing slug is a 400 the caller can act on; a
/// record that does not parse is logged by the caller and fails closed as a 500.
pub async fn load_provider<K: Kv>(kv: &K, slug: &str) -> Result<ProviderRecord> {
    if !valid_slug(slug) {
        return Err(GatewayError::invalid_param(
            "x-portkey-provider",
            format!("`@{slug}` is not a valid provider slug (letters, digits, - and _)"),
        ));
    }
    let raw = kv
        .get(&provider_key(slug))
        .await
        .map_err(|_| GatewayError::new(503, crate::error::ErrorKind::Overloaded, "the provider catalog is unavailable; retry shortly"))?
        .ok_or_else(|| {
            GatewayError::invalid_param(
                "x-portkey-provider",
                format!("no provider `@{slug}` in the catalog; check the slug or add it (see README: Adding a provider)"),
            )
            .with_code("unknown_provider")
        })?;
    let record: ProviderRecord = serde_json::from_str(&raw).map_err(|_| {
        GatewayError::internal(format!(
            "the catalog record for `@{slug}` is unreadable; ask the operator to rewrite it"
        ))
        .with_code("catalog_record_invalid")
    })?;
    if record.schema != RECORD_SCHEMA {
        return Err(GatewayError::internal(format!(
            "the catalog record for `@{slug}` has schema {}, this gateway reads schema {RECORD_SCHEMA}",
            record.schema
        ))
        .with_code("catalog_record_invalid"));
    }
    if record.provider != "bedrock" {
        return Err(GatewayError::invalid_param(
            "x-portkey-provider",
            format!(
                "provider `@{slug}` is a `{}` provider; edgeport serves bedrock",
                record.provider
            ),
        ));
    }
    Ok(record)
}
