//! Which upstream a request goes to, with which credentials: from `x-portkey-*` headers, the
//! `@slug/model` form of `model`, and the catalog.

use crate::api::portkey::{KeySource, PortkeyHeaders};
use crate::catalog::keys::{self, GatewayKeyRecord};
use std::rc::Rc;

use crate::catalog::memo::Memo;
use crate::catalog::{self, ProviderRecord, SealedProvider};
use crate::error::{ErrorCode, GatewayError, Result};
use crate::gateway::Settings;
use crate::net::BaseUrl;
use crate::platform::Platform;
use crate::providers::bedrock::target::BedrockTarget;
use crate::providers::openai::target::OpenAiTarget;
use crate::providers::Upstream;

/// A resolved upstream: which provider, where, as whom, which model.
#[derive(Debug, Clone)]
pub struct Target {
    pub upstream: Upstream,
    /// The model id, `@slug/` prefix removed.
    pub model_id: String,
    /// `bedrock` or `@slug`, for logs and the `x-portkey-provider` answer header.
    pub provider_label: String,
    /// The catalog record's default request fields.
    pub default_params: Option<serde_json::Map<String, serde_json::Value>>,
    /// Name of the gateway key used, for logs.
    pub key_name: Option<String>,
    /// The gateway key's hash (its identity: names are labels and may repeat).
    pub key_hash: Option<String>,
    /// The limits this call is under: the key's, the provider slug's.
    pub limits: Vec<crate::budget::Subject>,
}

impl Target {
    /// The catalog record's default fields fill what the caller did not send; `reserved` fields
    /// (the model, the messages, the route's own switches) are never defaulted.
    pub fn apply_defaults(
        &self,
        body: &mut serde_json::Map<String, serde_json::Value>,
        reserved: &[&str],
    ) {
        for (k, v) in self.default_params.iter().flatten() {
            if !reserved.contains(&k.as_str()) && !body.contains_key(k) {
                body.insert(k.clone(), v.clone());
            }
        }
    }

    /// [`Target::apply_defaults`] for the routes that read only some fields (embeddings,
    /// images): a default the route does not read (a chat record's `max_tokens`) is not applied.
    pub fn apply_route_defaults(
        &self,
        body: &mut serde_json::Map<String, serde_json::Value>,
        reads: &[&str],
        reserved: &[&str],
    ) {
        for (k, v) in self.default_params.iter().flatten() {
            if reads.contains(&k.as_str())
                && !reserved.contains(&k.as_str())
                && !body.contains_key(k)
            {
                body.insert(k.clone(), v.clone());
            }
        }
    }

    /// Who the cache files answers under: the gateway key, or for a caller without one, a
    /// digest of the credentials it sends upstream (never the credentials).
    pub fn cache_caller(&self) -> String {
        if let Some(hash) = &self.key_hash {
            return format!("key:{hash}");
        }
        crate::routing::cache::credential_fingerprint(&self.upstream.credential_parts())
    }
}

pub use crate::catalog::split_slug_model;

/// Who is calling, by the gateway key they presented.
#[derive(Debug, Clone)]
pub enum Caller {
    Anonymous,
    Unknown(KeySource),
    Disabled,
    Key(Rc<GatewayKeyRecord>),
}

/// The presented key (read from the headers once: `x-portkey-api-key`, then `x-api-key` (the
/// Anthropic SDKs and Claude Code send the key there), else `Authorization: Bearer` outside
/// OpenAI header mode). Looked up once per request, before anything else it names is read from
/// KV.
/// A record read in the last `CATALOG_CACHE_TTL_MS` is reused (see [`catalog::memo`]).
pub async fn authenticate<P: Platform>(
    platform: &P,
    settings: &Settings,
    headers: &PortkeyHeaders,
) -> Result<Caller> {
    let presented = headers
        .gateway_key
        .as_ref()
        .map(|(k, source)| (k.as_str(), *source));
    let Some((key, source)) = presented else {
        return Ok(Caller::Anonymous);
    };
    let hash = keys::key_hash(key);
    let memo = platform.isolate().get::<Memo<GatewayKeyRecord>>();
    let ttl = settings.catalog_cache_ttl_ms;
    let record = match memo.get(&hash, platform.now_millis(), ttl) {
        Some(r) => Some(r),
        None => {
            let found = keys::lookup_hash(platform.kv(), &hash).await?.map(Rc::new);
            if let Some(r) = &found {
                memo.put(&hash, r.clone(), platform.now_millis(), ttl);
            }
            found
        }
    };
    Ok(match record {
        None => Caller::Unknown(source),
        Some(r) if !r.enabled => Caller::Disabled,
        Some(r) => Caller::Key(r),
    })
}

/// The opened record for `slug`, reused for `CATALOG_CACHE_TTL_MS` (see [`catalog::memo`]).
async fn provider_record<P: Platform>(
    platform: &P,
    settings: &Settings,
    slug: &str,
) -> Result<Rc<ProviderRecord>> {
    let memo = platform.isolate().get::<Memo<ProviderRecord>>();
    let ttl = settings.catalog_cache_ttl_ms;
    if let Some(r) = memo.get(slug, platform.now_millis(), ttl) {
        return Ok(r);
    }
    let access = catalog::CatalogAccess {
        key: settings.catalog_key.as_ref(),
        key_malformed: settings.catalog_key_malformed,
        accept_schema_2: settings.accept_schema_2,
    };
    let record = Rc::new(catalog::load_provider(platform.kv(), access, slug).await?);
    memo.put(slug, record.clone(), platform.now_millis(), ttl);
    Ok(record)
}

fn missing_key() -> GatewayError {
    GatewayError::authentication(
        "a gateway key is required: send it as `x-portkey-api-key`, `x-api-key` or `Authorization: Bearer`",
    )
    .with_code(ErrorCode::MissingGatewayKey)
}

fn invalid_key() -> GatewayError {
    GatewayError::authentication("the gateway key is not valid (unknown or disabled)")
        .with_code(ErrorCode::InvalidGatewayKey)
}

impl Caller {
    /// A valid, enabled key, or 401.
    pub fn require(&self) -> Result<&GatewayKeyRecord> {
        match self {
            Caller::Key(r) => Ok(r),
            Caller::Anonymous => Err(missing_key()),
            Caller::Unknown(_) | Caller::Disabled => Err(invalid_key()),
        }
    }

    /// The key, when the caller has a valid one.
    pub fn key(&self) -> Option<&GatewayKeyRecord> {
        match self {
            Caller::Key(r) => Some(r),
            _ => None,
        }
    }

    /// The gate every model route passes first, before the body is parsed or anything else is
    /// read: a caller who cannot succeed on any path is refused here. Without a valid key only
    /// header credentials can work, and only when the operator allows them without a key; then an
    /// SDK's placeholder key (Bearer or x-api-key) counts as no key, while a wrong
    /// `x-portkey-api-key` or a disabled key is still refused.
    pub fn admit(&self, settings: &Settings) -> Result<()> {
        match (self, settings.header_credentials_need_key) {
            (Caller::Key(_), _) => Ok(()),
            (Caller::Anonymous, false) => Ok(()),
            (Caller::Unknown(source), false) if source.may_be_placeholder() => Ok(()),
            _ => self.require().map(|_| ()),
        }
    }
}

/// The target for one attempt. `caller` was authenticated once for the request (see
/// [`Caller::admit`]).
pub async fn resolve<P: Platform>(
    platform: &P,
    settings: &Settings,
    caller: &Caller,
    headers: &PortkeyHeaders,
    model: &str,
) -> Result<Target> {
    let header_provider = headers.provider.as_deref();
    // A model of the form `@slug/model` picks the catalog entry per request (it wins over the header).
    if let Some((slug, model_id)) = split_slug_model(model) {
        return from_catalog(platform, settings, headers, caller, slug, model_id).await;
    }
    match header_provider {
        Some(p) if p.starts_with('@') => {
            from_catalog(platform, settings, headers, caller, &p[1..], model).await
        }
        Some(p) if p.eq_ignore_ascii_case("bedrock") => {
            caller.admit(settings)?;
            require_model(model)?;
            let key = caller.key();
            // The caller's own credentials may go to the caller's own host, unless it is an
            // internal address that only the operator can allow.
            let custom = custom_host(settings, headers, false)?;
            let bedrock = BedrockTarget::from_headers(platform, &headers.aws, custom).await?;
            Ok(Target {
                upstream: Upstream::Bedrock(bedrock),
                model_id: model.to_owned(),
                provider_label: "bedrock".to_owned(),
                default_params: None,
                key_name: key.map(|k| k.name.clone()),
                key_hash: key.map(|k| k.hash.clone()),
                limits: key_limits(key),
            })
        }
        Some(p) if p.eq_ignore_ascii_case("openai") => {
            caller.admit(settings)?;
            require_model(model)?;
            let key = caller.key();
            let api_key = headers.openai_key.as_deref().ok_or_else(|| {
                GatewayError::invalid_param(
                    "authorization",
                    "`Authorization: Bearer <OpenAI API key>` is required with x-portkey-provider: openai (send the gateway key as x-portkey-api-key)",
                )
            })?;
            let custom = custom_host(settings, headers, false)?;
            Ok(Target {
                upstream: Upstream::OpenAi(OpenAiTarget::from_key(api_key, custom)?),
                model_id: model.to_owned(),
                provider_label: "openai".to_owned(),
                default_params: None,
                key_name: key.map(|k| k.name.clone()),
                key_hash: key.map(|k| k.hash.clone()),
                limits: key_limits(key),
            })
        }
        Some("") | None => Err(GatewayError::invalid_param(
            "x-portkey-provider",
            "no provider: send `x-portkey-provider: @your-slug` (a catalog provider), `x-portkey-provider: bedrock` with x-portkey-aws-* credentials, or a model like `@your-slug/model-id`",
        )
        .with_code(ErrorCode::MissingProvider)),
        Some(other) => Err(GatewayError::invalid_param(
            "x-portkey-provider",
            format!("provider `{other}` is not supported: edgeport serves `bedrock`, `openai` and catalog providers (`@slug`)"),
        )
        .with_code(ErrorCode::UnsupportedProvider)),
    }
}

fn require_model(model: &str) -> Result<()> {
    if model.trim().is_empty() {
        return Err(GatewayError::invalid_param(
            "model",
            "model is required (the provider's model id)",
        ));
    }
    Ok(())
}

async fn from_catalog<P: Platform>(
    platform: &P,
    settings: &Settings,
    headers: &PortkeyHeaders,
    caller: &Caller,
    slug: &str,
    model: &str,
) -> Result<Target> {
    require_model(model)?;
    let key = caller.require()?;
    if !key.allows_provider(slug) {
        return Err(GatewayError::permission(format!(
            "this gateway key may not use provider `@{slug}`"
        ))
        .with_code(ErrorCode::ProviderNotGranted));
    }
    if !key.allows_model(model) {
        return Err(GatewayError::permission(format!(
            "this gateway key may not use model `{model}`"
        ))
        .with_param("model")
        .with_code(ErrorCode::ModelNotGranted));
    }
    let record = provider_record(platform, settings, slug).await?;
    // Catalog credentials are never signed toward a host the caller chose, unless the operator
    // listed that host.
    let custom = custom_host(settings, headers, true)?;
    let session_token = headers.aws.session_token.as_deref();
    let upstream = match &record.provider {
        SealedProvider::Bedrock(r) => Upstream::Bedrock(
            BedrockTarget::from_record(platform, settings, slug, r, custom, session_token).await?,
        ),
        SealedProvider::Openai(r) => Upstream::OpenAi(OpenAiTarget::from_record(r, custom)?),
    };
    Ok(Target {
        upstream,
        model_id: model.to_owned(),
        provider_label: format!("@{slug}"),
        default_params: record.default_params(),
        key_name: Some(key.name.clone()),
        key_hash: Some(key.hash.clone()),
        limits: key_limits(Some(key))
            .into_iter()
            .chain(crate::budget::Subject::slug(slug, record.limits))
            .collect(),
    })
}

/// The gateway key's limits, as a subject.
fn key_limits(key: Option<&GatewayKeyRecord>) -> Vec<crate::budget::Subject> {
    key.and_then(|k| crate::budget::Subject::key(&k.hash, k.limits))
        .into_iter()
        .collect()
}

/// The caller's `x-portkey-custom-host`, checked (see [`caller_host`]).
fn custom_host(
    settings: &Settings,
    headers: &PortkeyHeaders,
    catalog_credentials: bool,
) -> Result<Option<BaseUrl>> {
    headers
        .custom_host
        .as_deref()
        .map(|raw| caller_host(settings, raw, catalog_credentials))
        .transpose()
}

/// A caller-supplied custom host. Trusted hosts (TRUSTED_CUSTOM_HOSTS, scheme, host and port
/// exactly) are always allowed. Others are refused with catalog credentials, and refused when
/// they name an internal address (judged on the canonical host, as `fetch` will connect to it).
fn caller_host(settings: &Settings, raw: &str, catalog_credentials: bool) -> Result<BaseUrl> {
    let base = BaseUrl::custom(raw)?;
    if settings.is_trusted_host(base.url()) {
        return Ok(base);
    }
    if catalog_credentials {
        return Err(GatewayError::permission(
            "x-portkey-custom-host cannot be combined with catalog credentials unless the host is listed in TRUSTED_CUSTOM_HOSTS",
        )
        .with_param("x-portkey-custom-host")
        .with_code(ErrorCode::CustomHostNotTrusted));
    }
    if crate::net::is_internal_url(base.url()) {
        return Err(GatewayError::permission(
            "x-portkey-custom-host points at a private, loopback, metadata or other special-purpose address; the operator must list it in TRUSTED_CUSTOM_HOSTS",
        )
        .with_param("x-portkey-custom-host")
        .with_code(ErrorCode::CustomHostNotTrusted));
    }
    Ok(base)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slug_models() {
        assert_eq!(
            split_slug_model("@prod/anthropic.claude"),
            Some(("prod", "anthropic.claude"))
        );
        assert_eq!(
            split_slug_model("@prod/arn:aws:bedrock:us-east-1:1:application-inference-profile/x"),
            Some((
                "prod",
                "arn:aws:bedrock:us-east-1:1:application-inference-profile/x"
            ))
        );
        assert_eq!(split_slug_model("anthropic.claude"), None);
    }
}
