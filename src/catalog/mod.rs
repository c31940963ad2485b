//! The Model Catalog: provider records and gateway keys in Workers KV.
//!
//! This module is the only place that reads a record. Provider records live at `provider:<slug>`.
//! Schema 3 seals the *whole* record (AES-256-GCM, see [`sealing`]): credentials, region, hosts,
//! STS endpoint, default fields and S3 buckets, so someone who can write KV but does not hold
//! `CATALOG_KEY` can neither read a secret nor redirect a provider's credentials to another host.
//! The plain copies beside the sealed value are for listing only and must match it. Schema 2
//! (only `auth` sealed) is read only while `CATALOG_ACCEPT_SCHEMA_2=true` (the upgrade window for
//! `catalog.mjs reseal`); any other record fails closed.

pub mod keys;
pub mod memo;
pub mod prompts;
pub mod sealing;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::{ErrorCode, ErrorKind, GatewayError, Result};
use crate::platform::Kv;
use sealing::SealingKey;

pub const RECORD_SCHEMA: u32 = 3;
/// The schema before the whole record was sealed.
pub const LEGACY_RECORD_SCHEMA: u32 = 2;

pub fn provider_key(slug: &str) -> String {
    format!("provider:{slug}")
}

/// A provider as stored. Schema 3: `sealed` holds [`SealedProvider`]; the other fields are plain
/// copies for listing. Schema 2: `auth` holds the sealed [`ProviderAuth`] and the rest is plain.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StoredProvider {
    pub schema: u32,
    pub provider: String,
    /// Bedrock records.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws_region: Option<String>,
    /// OpenAI records: the API's base URL, `/v1` included.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    /// Schema 3: `v1.<base64>`, the sealed JSON of [`SealedProvider`], the KV key as associated
    /// data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sealed: Option<String>,
    /// Schema 2: `v1.<base64>`, the sealed JSON of [`ProviderAuth`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<String>,
    /// Buckets `s3://` media may name (absent: any the provider's credentials can read).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s3_buckets: Option<Vec<String>>,
    /// A trusted upstream base URL (PrivateLink, GovCloud, FIPS, a local stand-in).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_host: Option<String>,
    /// A trusted STS endpoint for assumed roles (default `https://sts.<region>.amazonaws.com`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sts_endpoint: Option<String>,
    /// Request fields applied when the caller did not send them (e.g. `max_tokens`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_params: Option<Map<String, Value>>,
    /// Rate limits and budgets for every key using this provider. Plain, not sealed: changing
    /// them (`catalog.mjs set-limits`) needs no `CATALOG_KEY`, and they open no credential.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<crate::budget::Limits>,
}

/// Everything the Worker acts on, sealed together (schema 3): one variant per provider, tagged by
/// `provider`. Adding a provider is a variant here and a folder under `providers/`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "provider", rename_all = "lowercase")]
pub enum SealedProvider {
    Bedrock(BedrockRecord),
    Openai(OpenAiRecord),
}

/// A Bedrock provider.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct BedrockRecord {
    pub aws_region: String,
    pub auth: ProviderAuth,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_host: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sts_endpoint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_params: Option<Map<String, Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s3_buckets: Option<Vec<String>>,
}

/// An OpenAI (or OpenAI-compatible) provider.
#[derive(Clone, Serialize, Deserialize, PartialEq)]
pub struct OpenAiRecord {
    pub auth: OpenAiAuth,
    /// The API's base URL, `/v1` included (default `https://api.openai.com/v1`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_params: Option<Map<String, Value>>,
}

impl std::fmt::Debug for OpenAiRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenAiRecord")
            .field("base_url", &self.base_url)
            .field("auth", &"<redacted>")
            .finish()
    }
}

/// How the gateway authenticates to OpenAI. `Debug` hides the key.
#[derive(Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum OpenAiAuth {
    ApiKey { api_key: String },
}

impl SealedProvider {
    /// The stored record: the sealed value and its plain copies.
    pub fn seal(&self, key: &SealingKey, slug: &str) -> Result<StoredProvider> {
        let json = serde_json::to_vec(self)
            .map_err(|_| GatewayError::internal("could not encode the record"))?;
        let sealed = key
            .seal(&provider_key(slug), &json)
            .map_err(|e| GatewayError::internal(e.to_string()))?;
        let mut stored = StoredProvider {
            schema: RECORD_SCHEMA,
            provider: self.name().to_owned(),
            aws_region: None,
            base_url: None,
            organization: None,
            project: None,
            sealed: Some(sealed),
            auth: None,
            s3_buckets: None,
            custom_host: None,
            sts_endpoint: None,
            default_params: None,
            limits: None,
        };
        match self {
            SealedProvider::Bedrock(r) => {
                stored.aws_region = Some(r.aws_region.clone());
                stored.custom_host.clone_from(&r.custom_host);
                stored.sts_endpoint.clone_from(&r.sts_endpoint);
                stored.default_params.clone_from(&r.default_params);
                stored.s3_buckets.clone_from(&r.s3_buckets);
            }
            SealedProvider::Openai(r) => {
                stored.base_url.clone_from(&r.base_url);
                stored.organization.clone_from(&r.organization);
                stored.project.clone_from(&r.project);
                stored.default_params.clone_from(&r.default_params);
            }
        }
        Ok(stored)
    }

    /// `bedrock`, `openai`: the `provider` field.
    pub fn name(&self) -> &'static str {
        match self {
            SealedProvider::Bedrock(_) => "bedrock",
            SealedProvider::Openai(_) => "openai",
        }
    }

    /// Whether the plain copies say what the sealed record says.
    fn matches_plain(&self, stored: &StoredProvider) -> bool {
        if stored.provider != self.name() || stored.default_params != *self.default_params() {
            return false;
        }
        match self {
            SealedProvider::Bedrock(r) => {
                stored.aws_region.as_deref() == Some(r.aws_region.as_str())
                    && r.custom_host == stored.custom_host
                    && r.sts_endpoint == stored.sts_endpoint
                    && r.s3_buckets == stored.s3_buckets
                    && stored.base_url.is_none()
                    && stored.organization.is_none()
                    && stored.project.is_none()
            }
            SealedProvider::Openai(r) => {
                r.base_url == stored.base_url
                    && r.organization == stored.organization
                    && r.project == stored.project
                    && stored.aws_region.is_none()
                    && stored.custom_host.is_none()
                    && stored.sts_endpoint.is_none()
                    && stored.s3_buckets.is_none()
            }
        }
    }

    pub fn default_params(&self) -> &Option<Map<String, Value>> {
        match self {
            SealedProvider::Bedrock(r) => &r.default_params,
            SealedProvider::Openai(r) => &r.default_params,
        }
    }
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

/// A provider record, opened.
#[derive(Debug, Clone)]
pub struct ProviderRecord {
    pub slug: String,
    pub provider: SealedProvider,
    /// The stored record's limits (plain).
    pub limits: Option<crate::budget::Limits>,
}

impl ProviderRecord {
    pub fn default_params(&self) -> Option<Map<String, Value>> {
        self.provider.default_params().clone()
    }
}

/// How the catalog is opened: the operator's key (or why there is none) and whether schema 2
/// records are still read.
#[derive(Debug, Clone, Copy)]
pub struct CatalogAccess<'a> {
    pub key: Option<&'a SealingKey>,
    pub key_malformed: bool,
    pub accept_schema_2: bool,
}

/// `@slug/model-id` → (`slug`, `model-id`): a catalog provider chosen in the body's `model`.
pub fn split_slug_model(model: &str) -> Option<(&str, &str)> {
    model.strip_prefix('@')?.split_once('/')
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
    .with_code(ErrorCode::CatalogRecordInvalid)
}

/// Reads and opens the record for `slug`. A missing slug is a 400 the caller can act on; a record
/// that does not parse or open (wrong key, tampered, moved) fails closed as a 500.
pub async fn load_provider<K: Kv>(
    kv: &K,
    access: CatalogAccess<'_>,
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
            .with_code(ErrorCode::UnknownProvider)
        })?;
    let stored: StoredProvider =
        serde_json::from_str(&raw).map_err(|_| unreadable(slug, "not a provider record"))?;
    let limits = stored.limits.filter(|l| !l.is_empty());
    let key = match (access.key, access.key_malformed) {
        (Some(key), _) => key,
        (None, true) => {
            return Err(unreadable(
                slug,
                "the CATALOG_KEY secret is not base64 of 32 bytes",
            ))
        }
        (None, false) => return Err(unreadable(slug, "the CATALOG_KEY secret is not set")),
    };
    let open = |sealed: &str| {
        key.open(&provider_key(slug), sealed)
            .map_err(|e| unreadable(slug, &e.to_string()))
    };
    let record = match (stored.schema, &stored.sealed, &stored.auth) {
        (RECORD_SCHEMA, Some(sealed), None) => {
            let record: SealedProvider = serde_json::from_slice(&open(sealed)?)
                .map_err(|_| unreadable(slug, "the sealed record has an unknown shape"))?;
            if !record.matches_plain(&stored) {
                return Err(unreadable(
                    slug,
                    "its plain fields differ from the sealed ones (edited without CATALOG_KEY?)",
                ));
            }
            record
        }
        (LEGACY_RECORD_SCHEMA, None, Some(auth)) if access.accept_schema_2 => {
            if stored.provider != "bedrock" {
                return Err(unreadable(slug, "schema 2 records are Bedrock records"));
            }
            SealedProvider::Bedrock(BedrockRecord {
                auth: serde_json::from_slice(&open(auth)?)
                    .map_err(|_| unreadable(slug, "sealed auth has an unknown shape"))?,
                aws_region: stored.aws_region.unwrap_or_default(),
                custom_host: stored.custom_host,
                sts_endpoint: stored.sts_endpoint,
                default_params: stored.default_params,
                s3_buckets: None,
            })
        }
        (LEGACY_RECORD_SCHEMA, _, _) => {
            return Err(unreadable(
                slug,
                "schema 2 seals only the credentials; run `node scripts/catalog.mjs reseal` (or set CATALOG_ACCEPT_SCHEMA_2=true while you do)",
            ))
        }
        (schema, _, _) => {
            return Err(unreadable(
                slug,
                &format!("schema {schema} is not {RECORD_SCHEMA}"),
            ))
        }
    };
    Ok(ProviderRecord {
        slug: slug.to_owned(),
        provider: record,
        limits,
    })
}
