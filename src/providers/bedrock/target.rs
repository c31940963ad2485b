//! Where a Bedrock call goes and as whom: the region, the runtime base URL, the credentials
//! (access keys, an API key, or a role assumed through STS) and the record's S3 buckets, from the
//! caller's `x-portkey-aws-*` headers or from a catalog record.

use crate::api::portkey::AwsHeaders;
use crate::catalog::{BedrockRecord, ProviderAuth};
use crate::error::{ErrorCode, GatewayError, Result};
use crate::net::BaseUrl;
use crate::platform::Platform;
use crate::providers::bedrock::endpoint::{self, valid_region};
use crate::providers::bedrock::inference_profile::ControlPlane;
use crate::providers::bedrock::signing::{AwsCredentials, UpstreamAuth};
use crate::providers::bedrock::sts::{self, AssumeRole};
use crate::settings::Settings;

/// A resolved Bedrock upstream.
#[derive(Debug, Clone)]
pub struct BedrockTarget {
    pub region: String,
    /// Runtime base URL (custom host or the regional Bedrock Runtime endpoint).
    pub base: BaseUrl,
    pub auth: UpstreamAuth,
    /// The catalog record's S3 bucket allow-list for `s3://` media (`None`: not restricted;
    /// header credentials are the caller's own and never restricted).
    pub s3_buckets: Option<Vec<String>>,
}

impl BedrockTarget {
    /// The control plane for this target's look-ups (inference profiles).
    pub fn control_plane(&self) -> ControlPlane<'_> {
        ControlPlane {
            region: &self.region,
            runtime: &self.base,
            auth: &self.auth,
        }
    }

    /// The credential parts a cache entry of a caller without a gateway key is filed under
    /// (digested by the caller; never stored).
    pub fn credential_parts(&self) -> Vec<&str> {
        match &self.auth {
            UpstreamAuth::Sigv4(c) => vec![
                "sigv4",
                &c.access_key_id,
                &c.secret_access_key,
                c.session_token.as_deref().unwrap_or(""),
            ],
            UpstreamAuth::Bearer(k) => vec!["bearer", k],
        }
    }

    /// The caller's own credentials from `x-portkey-aws-*` headers (and the role they assume, if
    /// any); `custom` is the caller's custom host, already checked by the gateway's trust rules.
    pub async fn from_headers<P: Platform>(
        platform: &P,
        headers: &AwsHeaders,
        custom: Option<BaseUrl>,
    ) -> Result<Self> {
        let need = |value: &Option<String>, name: &str| -> Result<String> {
            value.clone().ok_or_else(|| {
                GatewayError::invalid_param(
                    name,
                    format!("`{name}` is required with x-portkey-provider: bedrock"),
                )
            })
        };
        let credentials = AwsCredentials {
            access_key_id: need(&headers.access_key_id, "x-portkey-aws-access-key-id")?,
            secret_access_key: need(
                &headers.secret_access_key,
                "x-portkey-aws-secret-access-key",
            )?,
            session_token: headers.session_token.clone(),
        };
        let region = valid_region(&need(&headers.region, "x-portkey-aws-region")?)?.to_owned();
        let base = match custom {
            Some(base) => base,
            None => endpoint::runtime(&region)?,
        };
        let auth = match header_role(headers)? {
            // The caller's own credentials assume the caller's role; the Worker's base
            // credentials are never used for a role a caller names.
            Some(role) => {
                let endpoint = endpoint::sts(&region)?;
                let creds = sts::assumed_credentials(
                    platform,
                    &platform.isolate().get::<sts::CallerRoleCache>(),
                    &credentials,
                    &region,
                    &endpoint,
                    &role,
                )
                .await?;
                UpstreamAuth::Sigv4(creds)
            }
            None => UpstreamAuth::Sigv4(credentials),
        };
        Ok(BedrockTarget {
            region,
            base,
            auth,
            s3_buckets: None,
        })
    }

    /// A catalog record's upstream. `custom` is a caller's custom host the operator trusts;
    /// `session_token` may accompany a slug (STS credentials per request).
    pub async fn from_record<P: Platform>(
        platform: &P,
        settings: &Settings,
        slug: &str,
        record: &BedrockRecord,
        custom: Option<BaseUrl>,
        session_token: Option<&str>,
    ) -> Result<Self> {
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
        let base = match (custom, &record.custom_host) {
            (Some(base), _) => base,
            (None, Some(host)) => trusted(host, "custom_host")?,
            (None, None) => endpoint::runtime(&region)?,
        };
        let auth = match &record.auth {
            ProviderAuth::AccessKey {
                access_key_id,
                secret_access_key,
                session_token: stored,
            } => UpstreamAuth::Sigv4(AwsCredentials {
                access_key_id: access_key_id.clone(),
                secret_access_key: secret_access_key.clone(),
                session_token: session_token.map(str::to_owned).or_else(|| stored.clone()),
            }),
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
                    .with_code(ErrorCode::BaseCredentialsMissing)
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
        Ok(BedrockTarget {
            region,
            base,
            auth,
            s3_buckets: record.s3_buckets.clone(),
        })
    }
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
    .with_upstream_code(code)
}

/// `x-portkey-aws-auth-type: assumedRole` with `x-portkey-aws-role-arn` (and optional
/// `x-portkey-aws-external-id`): the role the header credentials assume. Other auth types in
/// headers are refused rather than ignored.
fn header_role(headers: &AwsHeaders) -> Result<Option<AssumeRole>> {
    match headers.auth_type.as_deref() {
        None => Ok(None),
        Some(t) if t.eq_ignore_ascii_case("assumedRole") => {
            let role_arn = headers.role_arn.clone().ok_or_else(|| {
                GatewayError::invalid_param(
                    "x-portkey-aws-role-arn",
                    "`x-portkey-aws-role-arn` is required with x-portkey-aws-auth-type: assumedRole",
                )
            })?;
            Ok(Some(AssumeRole {
                role_arn,
                external_id: headers.external_id.clone(),
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
