//! Which upstream a request goes to, with which credentials: from `x-portkey-*` headers, the
//! `@slug/model` form of `model`, and the catalog.

use crate::catalog::keys::{self, GatewayKeyRecord, KeySource};
use crate::catalog::{self, ProviderAuth};
use crate::error::{GatewayError, Result};
use crate::gateway::{RequestHeaders, Settings};
use crate::platform::Platform;
use crate::providers::bedrock::endpoint;
use crate::providers::bedrock::endpoint::{valid_region, BaseUrl};
use crate::providers::bedrock::signing::{AwsCredentials, UpstreamAuth};
use crate::providers::bedrock::sts::{self, AssumeRole};

/// A resolved upstream: where, as whom, which model.
#[derive(Debug, Clone)]
pub struct Target {
    pub region: String,
    /// Runtime base URL (custom host or the regional Bedrock Runtime endpoint).
    pub base: BaseUrl,
    pub auth: UpstreamAuth,
    /// The Bedrock model id, `@slug/` prefix removed.
    pub model_id: String,
    /// `bedrock` or `@slug`, for logs and the `x-portkey-provider` answer header.
    pub provider_label: String,
    /// The catalog record's default request fields.
    pub default_params: Option<serde_json::Map<String, serde_json::Value>>,
    /// Name of the gateway key used, for logs.
    pub key_name: Option<String>,
    /// The gateway key's hash (its identity: names are labels and may repeat).
    pub key_hash: Option<String>,
    /// The catalog record's S3 bucket allow-list for `s3://` media (`None`: not restricted;
    /// header credentials are the caller's own and never restricted).
    pub s3_buckets: Option<Vec<String>>,
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

    /// Who the cache files answers under: the gateway key, or for a caller without one, a
    /// digest of the credentials it sends upstream (never the credentials).
    pub fn cache_caller(&self) -> String {
        if let Some(hash) = &self.key_hash {
            return format!("key:{hash}");
        }
        match &self.auth {
            UpstreamAuth::Sigv4(c) => crate::routing::cache::credential_fingerprint(&[
                "sigv4",
                &c.access_key_id,
                &c.secret_access_key,
                c.session_token.as_deref().unwrap_or(""),
            ]),
            UpstreamAuth::Bearer(k) => {
                crate::routing::cache::credential_fingerprint(&["bearer", k])
            }
        }
    }
}

/// `@slug/model-id` → (`slug`, `model-id`).
pub fn split_slug_model(model: &str) -> Option<(&str, &str)> {
    model.strip_prefix('@')?.split_once('/')
}

/// Who is calling, by the gateway key they presented.
#[derive(Debug, Clone)]
pub enum Caller {
    Anonymous,
    Unknown(KeySource),
    Disabled,
    Key(GatewayKeyRecord),
}

/// The presented key: `x-portkey-api-key` first, then `x-api-key` (the Anthropic SDKs and
/// Claude Code send the key there), else `Authorization: Bearer`. Read once per request, before
/// anything else the request names is read from KV.
pub async fn authenticate<P: Platform>(platform: &P, headers: &RequestHeaders) -> Result<Caller> {
    let presented = headers
        .get("x-portkey-api-key")
        .map(|k| (k.trim(), KeySource::PortkeyHeader))
        .filter(|(k, _)| !k.is_empty())
        .or_else(|| {
            headers
                .get("x-api-key")
                .map(|k| (k.trim(), KeySource::ApiKeyHeader))
                .filter(|(k, _)| !k.is_empty())
        })
        .or_else(|| {
            headers
                .get("authorization")
                .and_then(|a| {
                    a.trim()
                        .strip_prefix("Bearer ")
                        .or_else(|| a.trim().strip_prefix("bearer "))
                })
                .map(|k| (k.trim(), KeySource::Bearer))
        })
        .filter(|(k, _)| !k.is_empty());
    let Some((key, source)) = presented else {
        return Ok(Caller::Anonymous);
    };
    Ok(match keys::lookup(platform.kv(), key).await? {
        None => Caller::Unknown(source),
        Some(r) if !r.enabled => Caller::Disabled,
        Some(r) => Caller::Key(r),
    })
}

fn missing_key() -> GatewayError {
    GatewayError::authentication(
        "a gateway key is required: send it as `x-portkey-api-key`, `x-api-key` or `Authorization: Bearer`",
    )
    .with_code("missing_gateway_key")
}

fn invalid_key() -> GatewayError {
    GatewayError::authentication("the gateway key is not valid (unknown or disabled)")
        .with_code("invalid_gateway_key")
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
    headers: &RequestHeaders,
    model: &str,
) -> Result<Target> {
    let header_provider = headers.get("x-portkey-provider").map(str::trim);
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
            let key = caller.key();
            let mut target = from_headers(settings, headers, model)?;
            if let Some(role) = header_role(headers)? {
                // The caller's own credentials assume the caller's role; the Worker's base
                // credentials are never used for a role a caller names.
                let UpstreamAuth::Sigv4(base) = &target.auth else {
                    return Err(GatewayError::internal("header credentials are always access keys"));
                };
                let endpoint = endpoint::sts(&target.region)?;
                let creds = sts::assumed_credentials(
                    platform,
                    &platform.isolate().get::<sts::CredentialCache>(),
                    base,
                    &target.region,
                    &endpoint,
                    &role,
                )
                .await?;
                target.auth = UpstreamAuth::Sigv4(creds);
            }
            target.key_name = key.map(|k| k.name.clone());
            target.key_hash = key.map(|k| k.hash.clone());
            Ok(target)
        }
        Some("") | None => Err(GatewayError::invalid_param(
            "x-portkey-provider",
            "no provider: send `x-portkey-provider: @your-slug` (a catalog provider), `x-portkey-provider: bedrock` with x-portkey-aws-* credentials, or a model like `@your-slug/model-id`",
        )
        .with_code("missing_provider")),
        Some(other) => Err(GatewayError::invalid_param(
            "x-portkey-provider",
            format!("provider `{other}` is not supported: edgeport serves `bedrock` and catalog providers (`@slug`)"),
        )
        .with_code("unsupported_provider")),
    }
}

fn require_model(model: &str) -> Result<()> {
    if model.trim().is_empty() {
        return Err(GatewayError::invalid_param(
            "model",
            "model is required (a Bedrock model id)",
        ));
    }
    Ok(())
}

/// STS's message about the operator's own role (it names the Worker's IAM identity and the
/// role's policy) is for the operator's log; the caller learns the status and STS's error code.
fn hide_operator_detail<P: Platform>(platform: &P, slug: &str, err: GatewayError) -> GatewayError {
    platform.log(
        &serde_json::json!({"event": "catalog_assume_role_failed", "provider": format!("@{slug}"),
            "status": err.status, "error": err.message})
        .to_string(),
    );
    let code = err.code.clone().unwrap_or_else(|| "STSError".to_owned());
    GatewayError::new(
        err.status,
        err.kind,
        format!("provider `@{slug}` could not assume its role ({code}); the operator's log has the details"),
    )
    .with_code(code)
}

/// `x-portkey-aws-auth-type: assumedRole` with `x-portkey-aws-role-arn` (and optional
/// `x-portkey-aws-external-id`): the role the header credentials assume. Other auth types in
/// headers are refused rather than ignored.
fn header_role(headers: &RequestHeaders) -> Result<Option<AssumeRole>> {
    match headers.get("x-portkey-aws-auth-type").map(str::trim) {
        None | Some("") => Ok(None),
        Some(t) if t.eq_ignore_ascii_case("assumedRole") => {
            let role_arn = headers
                .get("x-portkey-aws-role-arn")
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .ok_or_else(|| {
                    GatewayError::invalid_param(
                        "x-portkey-aws-role-arn",
                        "`x-portkey-aws-role-arn` is required with x-portkey-aws-auth-type: assumedRole",
                    )
                })?;
            Ok(Some(AssumeRole {
                role_arn: role_arn.to_owned(),
                external_id: headers
                    .get("x-portkey-aws-external-id")
                    .map(str::trim)
                    .filter(|v| !v.is_empty())
                    .map(str::to_owned),
                session_name: "edgeport".to_owned(),
                duration_seconds: None,
            }))
        }
        Some(t) if t.eq_ignore_ascii_case("accessKey") => Ok(None),
        Some(other) => Err(GatewayError::invalid_param(
            "x-portkey-aws-auth-type",
            format!("x-portkey-aws-auth-type `{other}` is not supported in headers: use accessKey or assumedRole (API keys work through catalog providers)"),
        )),
    }
}

fn from_headers(settings: &Settings, headers: &RequestHeaders, model: &str) -> Result<Target> {
    require_model(model)?;
    let need = |name: &str| -> Result<String> {
        headers
            .get(name)
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
            .ok_or_else(|| {
                GatewayError::invalid_param(
                    name,
                    format!("`{name}` is required with x-portkey-provider: bedrock"),
                )
            })
    };
    let credentials = AwsCredentials {
        access_key_id: need("x-portkey-aws-access-key-id")?,
        secret_access_key: need("x-portkey-aws-secret-access-key")?,
        session_token: headers
            .get("x-portkey-aws-session-token")
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned),
    };
    let region = valid_region(&need("x-portkey-aws-region")?)?.to_owned();
    let base = match headers.get("x-portkey-custom-host") {
        // The caller's own credentials may go to the caller's own host, unless it is an internal
        // address that only the operator can allow.
        Some(raw) => caller_host(settings, raw, false)?,
        None => endpoint::runtime(&region)?,
    };
    Ok(Target {
        region,
        base,
        auth: UpstreamAuth::Sigv4(credentials),
        model_id: model.to_owned(),
        provider_label: "bedrock".to_owned(),
        default_params: None,
        key_name: None,
        key_hash: None,
        s3_buckets: None,
    })
}

async fn from_catalog<P: Platform>(
    platform: &P,
    settings: &Settings,
    headers: &RequestHeaders,
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
        .with_code("provider_not_granted"));
    }
    if !key.allows_model(model) {
        return Err(GatewayError::permission(format!(
            "this gateway key may not use model `{model}`"
        ))
        .with_param("model")
        .with_code("model_not_granted"));
    }
    let access = catalog::CatalogAccess {
        key: settings.catalog_key.as_ref(),
        key_malformed: settings.catalog_key_malformed,
        accept_schema_2: settings.accept_schema_2,
    };
    let record = catalog::load_provider(platform.kv(), access, slug).await?;
    let region = valid_region(&record.aws_region)
        .map_err(|_| {
            GatewayError::internal(format!(
                "the catalog record for `@{slug}` has an invalid region"
            ))
        })?
        .to_owned();
    let trusted = |raw: &str, what: &str| {
        BaseUrl::custom(raw).map_err(|_| {
            GatewayError::internal(format!(
                "the catalog record for `@{slug}` has an invalid {what}"
            ))
        })
    };
    let base = match (headers.get("x-portkey-custom-host"), &record.custom_host) {
        // Catalog credentials are never signed toward a host the caller chose, unless the
        // operator listed that host.
        (Some(raw), _) => caller_host(settings, raw, true)?,
        (None, Some(host)) => trusted(host, "custom_host")?,
        (None, None) => endpoint::runtime(&region)?,
    };
    let session_token = headers
        .get("x-portkey-aws-session-token")
        .map(str::trim)
        .filter(|t| !t.is_empty());
    let auth = match &record.auth {
        ProviderAuth::AccessKey {
            access_key_id,
            secret_access_key,
            session_token: stored,
        } => {
            UpstreamAuth::Sigv4(AwsCredentials {
                access_key_id: access_key_id.clone(),
                secret_access_key: secret_access_key.clone(),
                // STS credentials per request may accompany a slug.
                session_token: session_token.map(str::to_owned).or_else(|| stored.clone()),
            })
        }
        ProviderAuth::ApiKey { api_key } => UpstreamAuth::Bearer(api_key.clone()),
        ProviderAuth::AssumedRole {
            role_arn,
            external_id,
            session_name,
            duration_seconds,
        } => {
            let base_creds = settings.base_credentials.as_ref().ok_or_else(|| {
                GatewayError::internal(format!(
                    "provider `@{slug}` assumes a role, but the Worker has no base credentials (secrets AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)"
                ))
                .with_code("base_credentials_missing")
            })?;
            let endpoint = match &record.sts_endpoint {
                Some(e) => trusted(e, "sts_endpoint")?,
                None => endpoint::sts(&region)?,
            };
            let role = AssumeRole {
                role_arn: role_arn.clone(),
                external_id: external_id.clone(),
                session_name: session_name
                    .clone()
                    .unwrap_or_else(|| format!("edgeport-{slug}")),
                duration_seconds: *duration_seconds,
            };
            let creds = sts::assumed_credentials(
                platform,
                &platform.isolate().get::<sts::CredentialCache>(),
                base_creds,
                &region,
                &endpoint,
                &role,
            )
            .await
            .map_err(|e| hide_operator_detail(platform, slug, e))?;
            UpstreamAuth::Sigv4(creds)
        }
    };
    Ok(Target {
        region,
        base,
        auth,
        model_id: model.to_owned(),
        provider_label: format!("@{slug}"),
        default_params: record.default_params,
        key_name: Some(key.name.clone()),
        key_hash: Some(key.hash.clone()),
        s3_buckets: record.s3_buckets,
    })
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
        .with_code("custom_host_not_trusted"));
    }
    if crate::net::is_internal_url(base.url()) {
        return Err(GatewayError::permission(
            "x-portkey-custom-host points at a private, loopback, metadata or other special-purpose address; the operator must list it in TRUSTED_CUSTOM_HOSTS",
        )
        .with_param("x-portkey-custom-host")
        .with_code("custom_host_not_trusted"));
    }
    Ok(base)
}

/// A bare host (`127.1`, `::1`, `[::1]`, `localhost.`) is internal, by the rule in [`crate::net`]. A
/// host that does not parse counts as internal.
pub fn is_internal_host(host: &str) -> bool {
    let host = host.trim();
    let parsed = if host.contains(':') && !host.starts_with('[') {
        url::Host::parse(&format!("[{host}]"))
    } else {
        url::Host::parse(host)
    };
    parsed.map_or(true, |h| crate::net::is_internal_host(&h))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_hosts_follow_the_net_rule() {
        for h in [
            "127.1",
            "2130706433",
            "::1",
            "[::ffff:7f00:1]",
            "localhost.",
            "",
            "a b",
        ] {
            assert!(is_internal_host(h), "{h}");
        }
        for h in [
            "8.8.8.8",
            "2606:4700::1",
            "bedrock-runtime.us-east-1.amazonaws.com",
        ] {
            assert!(!is_internal_host(h), "{h}");
        }
    }

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
