//! Operator settings: the Worker's vars and secrets, read once per request into one typed value
//! that every layer receives (README: Deploying lists every var).

/// Operator settings, from Worker vars and secrets. `Debug` hides secrets (their types do).
#[derive(Debug, Clone)]
pub struct Settings {
    /// Hosts a caller may name in `x-portkey-custom-host` (and image URLs may point at) even
    /// with catalog credentials, and even when they are internal addresses; matched on scheme,
    /// host and port exactly (see [`crate::net::TrustedHosts`]).
    pub trusted_custom_hosts: crate::net::TrustedHosts,
    /// Opens sealed catalog records (secret `CATALOG_KEY`).
    pub catalog_key: Option<crate::catalog::sealing::SealingKey>,
    /// Base credentials for assumed roles (secrets `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
    /// optional `AWS_SESSION_TOKEN`).
    pub base_credentials: Option<crate::credentials::AwsCredentials>,
    /// Requests with credentials in headers need a gateway key too (default). The var
    /// `ALLOW_HEADER_CREDENTIALS_WITHOUT_KEY=true` turns that off.
    pub header_credentials_need_key: bool,
    /// `CATALOG_KEY` is set but is not base64 of 32 bytes: catalog requests fail closed, saying so.
    pub catalog_key_malformed: bool,
    /// Schema 2 provider records (only `auth` sealed) are still read while
    /// `CATALOG_ACCEPT_SCHEMA_2=true`: the window for `catalog.mjs reseal` during an upgrade.
    pub accept_schema_2: bool,
    /// How long to wait for an upstream's answer headers when the caller sets no
    /// `x-portkey-request-timeout` (var `UPSTREAM_TIMEOUT_MS`).
    pub upstream_timeout_ms: u64,
    /// The longest silence between two upstream stream reads (var `STREAM_IDLE_TIMEOUT_MS`).
    pub stream_idle_timeout_ms: u64,
    /// How long an isolate reuses a gateway key or provider record it read from KV (var
    /// `CATALOG_CACHE_TTL_MS`, 0 to 300,000; 0 reads KV on every request).
    pub catalog_cache_ttl_ms: u64,
    /// Metadata keys whose values become Analytics Engine blobs (var `ANALYTICS_METADATA_KEYS`,
    /// comma-separated; at most [`crate::limits::MAX_ANALYTICS_METADATA_KEYS`]).
    pub analytics_metadata_keys: std::rc::Rc<Vec<String>>,
    /// The secret `ADMIN_TOKEN`: operators' routes (`GET /v1/admin/usage/<subject>`) exist only
    /// with it.
    pub admin_token: Option<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            trusted_custom_hosts: crate::net::TrustedHosts::default(),
            catalog_key: None,
            base_credentials: None,
            header_credentials_need_key: true,
            catalog_key_malformed: false,
            accept_schema_2: false,
            upstream_timeout_ms: crate::limits::DEFAULT_UPSTREAM_TIMEOUT_MS,
            stream_idle_timeout_ms: crate::limits::DEFAULT_STREAM_IDLE_TIMEOUT_MS,
            catalog_cache_ttl_ms: crate::limits::DEFAULT_CATALOG_CACHE_TTL_MS,
            analytics_metadata_keys: Default::default(),
            admin_token: None,
        }
    }
}

/// The raw vars and secrets the Worker shell reads.
#[derive(Default)]
pub struct Vars<'a> {
    pub trusted_custom_hosts: Option<&'a str>,
    pub catalog_key: Option<&'a str>,
    pub aws_access_key_id: Option<&'a str>,
    pub aws_secret_access_key: Option<&'a str>,
    pub aws_session_token: Option<&'a str>,
    pub allow_header_credentials_without_key: Option<&'a str>,
    pub catalog_accept_schema_2: Option<&'a str>,
    pub upstream_timeout_ms: Option<&'a str>,
    pub stream_idle_timeout_ms: Option<&'a str>,
    pub catalog_cache_ttl_ms: Option<&'a str>,
    pub analytics_metadata_keys: Option<&'a str>,
    pub admin_token: Option<&'a str>,
}

impl Settings {
    pub fn from_vars(vars: &Vars<'_>) -> Self {
        // Entries that do not parse are kept in `rejected()` for the shell to log.
        let trusted = crate::net::TrustedHosts::parse(vars.trusted_custom_hosts.unwrap_or(""));
        let non_empty = |v: Option<&str>| {
            v.map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };
        let base_credentials = match (
            non_empty(vars.aws_access_key_id),
            non_empty(vars.aws_secret_access_key),
        ) {
            (Some(access_key_id), Some(secret_access_key)) => {
                Some(crate::credentials::AwsCredentials {
                    access_key_id,
                    secret_access_key,
                    session_token: non_empty(vars.aws_session_token),
                })
            }
            _ => None,
        };
        let catalog_key = non_empty(vars.catalog_key)
            .map(|k| crate::catalog::sealing::SealingKey::from_base64(&k));
        let is_true = |v: Option<&str>| v.is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
        // A malformed number falls back to the default (the operator sees it in the README, and
        // a bad value must not turn a timeout off).
        let millis = |v: Option<&str>, default: u64| {
            v.and_then(|v| v.trim().parse::<u64>().ok())
                .filter(|ms| (1..=crate::limits::MAX_REQUEST_TIMEOUT_MS).contains(ms))
                .unwrap_or(default)
        };
        Settings {
            trusted_custom_hosts: trusted,
            catalog_key_malformed: matches!(catalog_key, Some(Err(_))),
            catalog_key: catalog_key.and_then(Result::ok),
            base_credentials,
            header_credentials_need_key: !is_true(vars.allow_header_credentials_without_key),
            accept_schema_2: is_true(vars.catalog_accept_schema_2),
            upstream_timeout_ms: millis(
                vars.upstream_timeout_ms,
                crate::limits::DEFAULT_UPSTREAM_TIMEOUT_MS,
            ),
            stream_idle_timeout_ms: millis(
                vars.stream_idle_timeout_ms,
                crate::limits::DEFAULT_STREAM_IDLE_TIMEOUT_MS,
            ),
            // 0 is a valid choice here (no caching); a malformed value keeps the default.
            catalog_cache_ttl_ms: vars
                .catalog_cache_ttl_ms
                .and_then(|v| v.trim().parse::<u64>().ok())
                .filter(|ms| *ms <= crate::limits::MAX_CATALOG_CACHE_TTL_MS)
                .unwrap_or(crate::limits::DEFAULT_CATALOG_CACHE_TTL_MS),
            analytics_metadata_keys: std::rc::Rc::new(
                vars.analytics_metadata_keys
                    .unwrap_or("")
                    .split(',')
                    .map(str::trim)
                    .filter(|k| !k.is_empty() && k.len() <= crate::limits::MAX_METADATA_KEY_LEN)
                    .take(crate::limits::MAX_ANALYTICS_METADATA_KEYS)
                    .map(str::to_owned)
                    .collect(),
            ),
            // Short tokens are refused: the route must not be guessable.
            admin_token: non_empty(vars.admin_token).filter(|t| t.len() >= 16),
        }
    }

    /// Settings with only the trusted hosts set (tests, and the common case).
    pub fn with_trusted_hosts(hosts: &str) -> Self {
        Self::from_vars(&Vars {
            trusted_custom_hosts: Some(hosts),
            ..Vars::default()
        })
    }

    /// `url`'s scheme, host and port are exactly those of a TRUSTED_CUSTOM_HOSTS entry.
    pub fn is_trusted_host(&self, url: &url::Url) -> bool {
        self.trusted_custom_hosts.allows(url)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn analytics_keys_and_the_admin_token_are_bounded() {
        let keys: Vec<String> = (0..12).map(|i| format!("k{i}")).collect();
        let long = "k".repeat(crate::limits::MAX_METADATA_KEY_LEN + 1);
        let list = format!("{}, ,{long}", keys.join(","));
        let s = Settings::from_vars(&Vars {
            analytics_metadata_keys: Some(&list),
            admin_token: Some("short-token"),
            ..Vars::default()
        });
        assert_eq!(
            *s.analytics_metadata_keys,
            keys[..crate::limits::MAX_ANALYTICS_METADATA_KEYS]
        );
        assert_eq!(
            s.admin_token, None,
            "a token under 16 characters is refused"
        );
        let s = Settings::from_vars(&Vars {
            analytics_metadata_keys: Some(&format!("{long},team")),
            admin_token: Some(" 0123456789abcdef "),
            ..Vars::default()
        });
        assert_eq!(*s.analytics_metadata_keys, vec!["team".to_owned()]);
        assert_eq!(s.admin_token.as_deref(), Some("0123456789abcdef"));
    }
}
