//! STS AssumeRole: the form request, the XML answer (parsed with `roxmltree`, not patterns), and an
//! isolate-wide cache that refreshes temporary credentials a few minutes before they expire, with
//! one refresh shared by all requests that arrive meanwhile.

use std::cell::RefCell;

use bytes::Bytes;
use sha2::{Digest, Sha256};

use crate::error::{ErrorKind, GatewayError, Result};
use crate::limits::MAX_CACHED_CREDENTIALS;
use crate::lru::Lru;
use crate::platform::{Platform, UpstreamRequest};
use crate::providers::bedrock::endpoint::BaseUrl;
use crate::providers::bedrock::signing::{sign_request, AwsCredentials};

/// Refresh this long before `Expiration`.
pub const REFRESH_MARGIN_MS: u64 = 5 * 60 * 1000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssumeRole {
    pub role_arn: String,
    pub external_id: Option<String>,
    pub session_name: String,
    pub duration_seconds: Option<u32>,
}

/// Form values escaped as AWS does: everything but RFC 3986 unreserved characters.
fn form_escape(s: &str) -> String {
    crate::providers::bedrock::endpoint::encode_segment(s)
}

/// The unsigned AssumeRole call to `endpoint`.
pub fn request(endpoint: &BaseUrl, role: &AssumeRole) -> UpstreamRequest {
    let mut body = format!(
        "Action=AssumeRole&Version=2011-06-15&RoleArn={}&RoleSessionName={}",
        form_escape(&role.role_arn),
        form_escape(&role.session_name)
    );
    if let Some(id) = &role.external_id {
        body.push_str(&format!("&ExternalId={}", form_escape(id)));
    }
    if let Some(d) = role.duration_seconds {
        body.push_str(&format!("&DurationSeconds={d}"));
    }
    UpstreamRequest {
        method: "POST",
        url: format!("{}/", endpoint.as_str()),
        headers: vec![(
            "content-type".into(),
            "application/x-www-form-urlencoded; charset=utf-8".into(),
        )],
        body: Bytes::from(body),
    }
}

fn child_text<'a>(node: roxmltree::Node<'a, 'a>, name: &str) -> Option<&'a str> {
    node.children()
        .find(|c| c.tag_name().name() == name)
        .and_then(|c| c.text())
        .map(str::trim)
}

/// `AssumeRoleResponse/AssumeRoleResult/Credentials` → credentials and expiry (ms since epoch).
pub fn parse_response(xml: &str) -> Result<(AwsCredentials, u64)> {
    let bad = || GatewayError::bad_gateway("STS answered AssumeRole with an unreadable document");
    let doc = roxmltree::Document::parse(xml).map_err(|_| bad())?;
    let creds = doc
        .descendants()
        .find(|n| n.tag_name().name() == "Credentials")
        .ok_or_else(bad)?;
    let field = |name| child_text(creds, name).map(str::to_owned).ok_or_else(bad);
    let expiration = field("Expiration")?;
    let expires = expiration_millis(&expiration).ok_or_else(bad)?;
    Ok((
        AwsCredentials {
            access_key_id: field("AccessKeyId")?,
            secret_access_key: field("SecretAccessKey")?,
            session_token: Some(field("SessionToken")?),
        },
        expires,
    ))
}

/// An RFC 3339 UTC time as AWS writes `Expiration` (`2026-01-01T01:00:00Z`, optionally with a
/// fraction of a second) → ms since the epoch; `None` for anything else (offsets included). The
/// rules of `aws-smithy-types`' `DateTime` parser, leap second included (tests compare the two).
fn expiration_millis(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    let digits = |d: &[u8]| -> Option<u64> {
        d.iter().try_fold(0u64, |n, c| {
            c.is_ascii_digit().then(|| n * 10 + u64::from(c - b'0'))
        })
    };
    let num = |from: usize, to: usize| b.get(from..to).and_then(digits);
    let shape = b.len() >= 20
        && b[4] == b'-'
        && b[7] == b'-'
        && matches!(b[10], b'T' | b't')
        && b[13] == b':'
        && b[16] == b':'
        && b[b.len() - 1] == b'Z';
    if !shape {
        return None;
    }
    let (year, month, day) = (num(0, 4)?, num(5, 7)?, num(8, 10)?);
    let (hour, minute, mut second) = (num(11, 13)?, num(14, 16)?, num(17, 19)?);
    let mut millis = match &b[19..b.len() - 1] {
        [] => 0,
        [b'.', fraction @ ..] if !fraction.is_empty() => {
            digits(fraction)?;
            let ms = &fraction[..fraction.len().min(3)];
            digits(ms)? * 10u64.pow(3 - ms.len() as u32)
        }
        _ => return None,
    };
    let leap_year = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let month_days = match month {
        2 if leap_year => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        1..=12 => 31,
        _ => return None,
    };
    // A leap second is read as the last millisecond before it, and only exists at a month's end.
    if second == 60 && hour == 23 && minute == 59 && day == month_days {
        (second, millis) = (59, 999);
    }
    if year < 1970 || day == 0 || day > month_days || hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    // Howard Hinnant's days_from_civil, for years from 1970.
    let (y, m) = if month <= 2 {
        (year - 1, month + 9)
    } else {
        (year, month - 3)
    };
    let doe = y % 400 * 365 + y % 400 / 4 - y % 400 / 100 + (153 * m + 2) / 5 + day - 1;
    let days = y / 400 * 146_097 + doe - 719_468;
    Some(((days * 24 + hour) * 60 + minute) * 60_000 + second * 1000 + millis)
}

/// An STS error document → a 4xx naming STS's code and message (never credentials).
pub fn parse_error(status: u16, xml: &str) -> GatewayError {
    let doc = roxmltree::Document::parse(xml).ok();
    let error = doc
        .as_ref()
        .and_then(|d| d.descendants().find(|n| n.tag_name().name() == "Error"));
    let code = error
        .and_then(|e| child_text(e, "Code"))
        .unwrap_or("STSError");
    let message = error
        .and_then(|e| child_text(e, "Message"))
        .unwrap_or("AssumeRole failed");
    // Whatever STS says, the caller cannot fix it by retrying as is: authorization failures are
    // 403, STS throttling stays 429, STS outages 502.
    let status = match status {
        429 => 429,
        s if s >= 500 => 502,
        _ => 403,
    };
    GatewayError::new(
        status,
        ErrorKind::from_status(status),
        format!("STS AssumeRole failed ({code}): {message}"),
    )
    .with_upstream_code(code)
}

#[derive(Clone)]
struct Cached {
    creds: AwsCredentials,
    expires_ms: u64,
}

#[derive(Default)]
struct Slot {
    cached: Option<Cached>,
    /// When a request started refreshing this slot; others wait for it.
    refreshing_since: Option<u64>,
}

/// Temporary credentials per (base credentials, role, external id, session name, duration, region,
/// endpoint), for the isolate, least recently used evicted beyond [`MAX_CACHED_CREDENTIALS`].
///
/// Why polling and not a shared future or lock: workerd ties every promise to the request that
/// created it, and cancels a request whose only pending work is another request's promise as
/// "hung". Waiting requests therefore sleep on their own timers and look again, so one STS call
/// still serves all of them.
pub struct CredentialCache {
    slots: RefCell<Lru<Slot>>,
}

/// The cache for roles callers assume with their own header credentials, kept apart from the
/// operator's catalog roles ([`CredentialCache`]), so callers sending many made-up credentials
/// cannot push the operator's temporary credentials out.
#[derive(Default)]
pub struct CallerRoleCache(pub CredentialCache);

impl std::ops::Deref for CallerRoleCache {
    type Target = CredentialCache;
    fn deref(&self) -> &CredentialCache {
        &self.0
    }
}

impl Default for CredentialCache {
    fn default() -> Self {
        CredentialCache {
            slots: RefCell::new(Lru::new(MAX_CACHED_CREDENTIALS)),
        }
    }
}

/// The cache key: a digest over *every* secret of the base credentials and every role parameter.
/// A hit therefore proves the caller presented exactly the credentials the cached ones were
/// obtained with; knowing someone's access key id and role ARN is not enough. The digest (not
/// the secrets) is what the isolate keeps as the key.
pub fn cache_key(
    base: &AwsCredentials,
    region: &str,
    endpoint: &BaseUrl,
    role: &AssumeRole,
) -> String {
    let duration = role
        .duration_seconds
        .map(|d| d.to_string())
        .unwrap_or_default();
    let parts: [&str; 9] = [
        &base.access_key_id,
        &base.secret_access_key,
        base.session_token.as_deref().unwrap_or(""),
        &role.role_arn,
        role.external_id.as_deref().unwrap_or(""),
        &role.session_name,
        &duration,
        region,
        endpoint.as_str(),
    ];
    let mut h = Sha256::new();
    for p in parts {
        // Length-prefixed, so no two different tuples hash the same input.
        h.update((p.len() as u64).to_le_bytes());
        h.update(p.as_bytes());
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// How long waiters poll for another request's refresh, and when a refresh counts as abandoned.
const WAIT_STEP_MS: u64 = 10;
const REFRESH_TIMEOUT_MS: u64 = 15_000;

enum Next {
    Use(AwsCredentials),
    Wait,
    Refresh,
}

impl CredentialCache {
    fn next(&self, key: &str, now: u64) -> Next {
        let mut slots = self.slots.borrow_mut();
        let slot = slots.get_or_insert_with(key, Slot::default);
        if let Some(c) = &slot.cached {
            if now + REFRESH_MARGIN_MS < c.expires_ms {
                return Next::Use(c.creds.clone());
            }
        }
        match slot.refreshing_since {
            Some(since) if now.saturating_sub(since) < REFRESH_TIMEOUT_MS => Next::Wait,
            _ => {
                slot.refreshing_since = Some(now);
                Next::Refresh
            }
        }
    }

    /// Ends a refresh. A failed one leaves no slot behind (unless an older, still valid answer is
    /// there), so failures with made-up credentials cannot fill the cache.
    fn finish(&self, key: &str, fresh: Option<Cached>) {
        let mut slots = self.slots.borrow_mut();
        let keep = match slots.get_mut(key) {
            None => return,
            Some(slot) => {
                slot.refreshing_since = None;
                if fresh.is_some() {
                    slot.cached = fresh;
                }
                slot.cached.is_some()
            }
        };
        if !keep {
            slots.remove(key);
        }
    }

    /// Slots held (tests and logs).
    pub fn len(&self) -> usize {
        self.slots.borrow().len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.borrow().is_empty()
    }
}

/// Clears the "refreshing" mark even when the refreshing request is dropped midway (its client
/// went away), so waiters take over instead of waiting for the timeout.
struct RefreshGuard<'a> {
    cache: &'a CredentialCache,
    key: &'a str,
    done: bool,
}

impl Drop for RefreshGuard<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.cache.finish(self.key, None);
        }
    }
}

/// Credentials for `role`, from the cache or one AssumeRole call signed with `base`.
pub async fn assumed_credentials<P: Platform>(
    platform: &P,
    cache: &CredentialCache,
    base: &AwsCredentials,
    region: &str,
    endpoint: &BaseUrl,
    role: &AssumeRole,
) -> Result<AwsCredentials> {
    let key = cache_key(base, region, endpoint, role);
    let started = platform.now_millis();
    loop {
        match cache.next(&key, platform.now_millis()) {
            Next::Use(creds) => return Ok(creds),
            Next::Wait if platform.now_millis().saturating_sub(started) < REFRESH_TIMEOUT_MS => {
                platform.sleep(WAIT_STEP_MS).await;
            }
            Next::Wait => {
                return Err(GatewayError::new(
                    503,
                    ErrorKind::Overloaded,
                    "temporary credentials are still being fetched from STS; retry shortly",
                ))
            }
            Next::Refresh => {
                let mut guard = RefreshGuard {
                    cache,
                    key: &key,
                    done: false,
                };
                let result = fetch_credentials(platform, base, region, endpoint, role).await;
                guard.done = true;
                let fresh = result.as_ref().ok().map(|(creds, expires_ms)| Cached {
                    creds: creds.clone(),
                    expires_ms: *expires_ms,
                });
                cache.finish(&key, fresh);
                return result.map(|(creds, _)| creds);
            }
        }
    }
}

async fn fetch_credentials<P: Platform>(
    platform: &P,
    base: &AwsCredentials,
    region: &str,
    endpoint: &BaseUrl,
    role: &AssumeRole,
) -> Result<(AwsCredentials, u64)> {
    let mut req = request(endpoint, role);
    sign_request(&mut req, base, region, "sts", platform.now_millis())?;
    let (timeout, idle) = crate::providers::options::side_call();
    let answered = crate::providers::options::send(platform, req, timeout, idle, "STS").await?;
    let resp = answered.map_err(|e| {
        GatewayError::bad_gateway(format!(
            "could not reach STS at {}: {e}",
            endpoint.authority()
        ))
    })?;
    let status = resp.status;
    let body = resp
        .collect(crate::limits::MAX_UPSTREAM_SMALL_BYTES)
        .await
        .map_err(|e| GatewayError::bad_gateway(format!("the connection to STS failed: {e}")))?;
    let text = String::from_utf8_lossy(&body);
    if !(200..300).contains(&status) {
        // STS may echo the canonical request, and with it what was signed: scrubbed like
        // Bedrock's own errors.
        let auth = crate::providers::bedrock::signing::UpstreamAuth::Sigv4(base.clone());
        return Err(crate::providers::bedrock::errors::scrub(
            parse_error(status, &text),
            &auth,
        ));
    }
    let (creds, expires_ms) = parse_response(&text)?;
    platform.log(
        &serde_json::json!({"event": "sts_assume_role", "role_arn": role.role_arn, "expires_ms": expires_ms})
            .to_string(),
    );
    Ok((creds, expires_ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_credentials_and_errors() {
        let xml = r#"<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleResult><Credentials>
            <AccessKeyId>ASIAX</AccessKeyId><SecretAccessKey>sek</SecretAccessKey><SessionToken>tok</SessionToken>
            <Expiration>2026-01-01T01:00:00Z</Expiration></Credentials></AssumeRoleResult></AssumeRoleResponse>"#;
        let (c, exp) = parse_response(xml).unwrap();
        assert_eq!(
            (c.access_key_id.as_str(), c.session_token.as_deref()),
            ("ASIAX", Some("tok"))
        );
        assert_eq!(exp, 1_767_229_200_000);
        let err = parse_error(403, "<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>not authorized</Message></Error></ErrorResponse>");
        assert_eq!(
            (err.status, err.code.as_deref()),
            (403, Some("AccessDenied"))
        );
        assert!(err.message.contains("not authorized"));
        assert!(parse_response("<nope").is_err());
    }

    #[test]
    fn expiration_is_read_as_aws_smithy_types_reads_it() {
        use aws_smithy_types::date_time::Format;
        let theirs = |s: &str| {
            aws_smithy_types::DateTime::from_str(s, Format::DateTime)
                .ok()
                .and_then(|d| d.to_millis().ok())
                .and_then(|ms| u64::try_from(ms).ok())
        };
        let mut inputs: Vec<String> = [
            "2026-01-01T01:00:00Z",
            "2026-01-01t01:00:00Z",
            "2011-07-15T23:28:33.359Z",
            "2011-07-15T23:28:33.3Z",
            "2011-07-15T23:28:33.123456789012Z",
            "1970-01-01T00:00:00Z",
            "1969-12-31T23:59:59Z",
            "2000-02-29T12:00:00Z",
            "2100-02-29T12:00:00Z",
            "2016-12-31T23:59:60Z",
            "2016-12-30T23:59:60Z",
            "2016-06-30T23:59:60.5Z",
            "2026-01-01T01:00:00+00:00",
            "2026-01-01T01:00:00.Z",
            "2026-01-01T01:00:00z",
            "2026-01-01 01:00:00Z",
            "2026-13-01T01:00:00Z",
            "2026-00-01T01:00:00Z",
            "2026-04-31T01:00:00Z",
            "2026-01-01T24:00:00Z",
            "2026-01-01T23:60:00Z",
            "2026-1-01T01:00:00Z",
            "+026-01-01T01:00:00Z",
            "2026-01-01T01:00:00",
            "",
        ]
        .map(str::to_owned)
        .to_vec();
        // Every day of 1970-2100 at a varying time of day.
        let mut ms: u64 = 0;
        while ms < 4_102_444_800_000 {
            let t = aws_smithy_types::DateTime::from_millis(ms as i64);
            inputs.push(t.fmt(Format::DateTime).unwrap());
            ms += 86_400_000 + 3_600_123;
        }
        for s in &inputs {
            assert_eq!(expiration_millis(s), theirs(s), "{s:?}");
        }
    }

    #[test]
    fn form_body() {
        let r = request(
            &crate::providers::bedrock::endpoint::sts("us-east-1").unwrap(),
            &AssumeRole {
                role_arn: "arn:aws:iam::1:role/r".into(),
                external_id: Some("x y".into()),
                session_name: "edgeport".into(),
                duration_seconds: Some(900),
            },
        );
        assert_eq!(r.url, "https://sts.us-east-1.amazonaws.com/");
        assert_eq!(
            String::from_utf8_lossy(&r.body),
            "Action=AssumeRole&Version=2011-06-15&RoleArn=arn%3Aaws%3Aiam%3A%3A1%3Arole%2Fr&RoleSessionName=edgeport&ExternalId=x%20y&DurationSeconds=900"
        );
    }
}
