//! AWS Signature Version 4, header form, as `aws-sigv4` computes it with its default settings for
//! non-S3 services: path normalized and percent-encoded twice, no `x-amz-content-sha256` header,
//! the session token signed, `authorization`, `user-agent`, `x-amzn-trace-id` and
//! `transfer-encoding` left unsigned. Written out because the `aws-sigv4` crate (with `http`,
//! `time` and the smithy runtime behind it) was a tenth of the Worker's size; `aws-sigv4` stays as
//! this module's oracle in the tests (tests/it/signing.rs). Pure: the time comes from the caller.

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use sha2::{Digest, Sha256};

use crate::credentials::AwsCredentials;

/// Why a request could not be signed. Neither variant carries the request's text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignError {
    /// The URL does not parse, or has no host.
    Url,
    /// A header name or value (the session token included) is not valid in HTTP.
    Header,
    /// The HMAC key was refused (cannot happen: HMAC takes any key length).
    Key,
}

/// Headers that proxies and runtimes change; never part of the signature.
const UNSIGNED_HEADERS: &[&str] = &[
    "authorization",
    "user-agent",
    "x-amzn-trace-id",
    "transfer-encoding",
];

/// RFC 3986 unreserved characters stay as they are; everything else is percent-encoded.
const QUERY_ENCODE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');
const PATH_ENCODE: &AsciiSet = &QUERY_ENCODE.remove(b'/');

/// The headers that sign `method url` with `headers` and `body` for `service` in `region` at
/// `now_millis`, in the order to add them: `x-amz-date`, `authorization` and, with a session
/// token, `x-amz-security-token`.
#[allow(clippy::too_many_arguments)]
pub fn signing_headers(
    method: &str,
    url: &str,
    headers: &[(String, String)],
    body: &[u8],
    creds: &AwsCredentials,
    region: &str,
    service: &str,
    now_millis: u64,
) -> Result<Vec<(String, String)>, SignError> {
    let url = url::Url::parse(url).map_err(|_| SignError::Url)?;
    let host = url.host_str().ok_or(SignError::Url)?;
    let date_time = amz_date_time(now_millis / 1000);
    let date = &date_time[..8];

    // Canonical headers: lowercase names in order of first appearance, values trimmed, repeated
    // names joined with commas; then host (unless given), the date and the token.
    let mut canonical: Vec<(String, Vec<String>)> = Vec::with_capacity(headers.len() + 3);
    let mut set = |name: &str, value: String, replace: bool| match canonical
        .iter_mut()
        .find(|(n, _)| n == name)
    {
        Some((_, values)) if replace => *values = vec![value],
        Some((_, values)) => values.push(value),
        None => canonical.push((name.to_owned(), vec![value])),
    };
    for (name, value) in headers {
        let name = name.to_ascii_lowercase();
        if !is_header_name(&name) || !is_header_value(value) {
            return Err(SignError::Header);
        }
        set(&name, trim_spaces(value), false);
    }
    if !headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("host")) {
        let host = match url.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_owned(),
        };
        set("host", host, false);
    }
    set("x-amz-date", date_time.clone(), true);
    if let Some(token) = &creds.session_token {
        if !is_header_value(token) {
            return Err(SignError::Header);
        }
        set("x-amz-security-token", token.clone(), true);
    }
    canonical.retain(|(name, _)| !UNSIGNED_HEADERS.contains(&name.as_str()));
    canonical.sort_by(|a, b| a.0.cmp(&b.0));
    let signed_headers = canonical
        .iter()
        .map(|(name, _)| name.as_str())
        .collect::<Vec<_>>()
        .join(";");

    let mut creq = String::with_capacity(256);
    for line in [
        method,
        &utf8_percent_encode(&normalize_path(url.path()), PATH_ENCODE).to_string(),
        &canonical_query(url.query().unwrap_or_default()),
    ] {
        creq.push_str(line);
        creq.push('\n');
    }
    for (name, values) in &canonical {
        creq.push_str(name);
        creq.push(':');
        creq.push_str(&values.join(","));
        creq.push('\n');
    }
    creq.push('\n');
    creq.push_str(&signed_headers);
    creq.push('\n');
    creq.push_str(&hex(&Sha256::digest(body)));

    let scope = format!("{date}/{region}/{service}/aws4_request");
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{date_time}\n{scope}\n{}",
        hex(&Sha256::digest(creq.as_bytes()))
    );
    let key = signing_key(creds, date, region, service)?;
    let signature = hex(&hmac(&key, string_to_sign.as_bytes())?);

    let mut out = vec![
        ("x-amz-date".to_owned(), date_time),
        (
            "authorization".to_owned(),
            format!(
                "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed_headers}, Signature={signature}",
                creds.access_key_id
            ),
        ),
    ];
    if let Some(token) = &creds.session_token {
        out.push(("x-amz-security-token".to_owned(), token.clone()));
    }
    Ok(out)
}

/// HMAC-SHA256 (RustCrypto's `hmac`). HMAC takes keys of any length, so this cannot fail; the
/// `Result` only keeps a panic out of the signer.
fn hmac(key: &[u8], message: &[u8]) -> Result<[u8; 32], SignError> {
    use hmac::Mac;
    let mac = hmac::Hmac::<Sha256>::new_from_slice(key).map_err(|_| SignError::Key)?;
    Ok(mac.chain_update(message).finalize().into_bytes().into())
}

/// The day's signing key for `creds` in `region` and `service` (four HMACs), remembered per isolate:
/// one request's signature then costs two SHA-256 runs and one HMAC. An entry is used only for a
/// caller who presents the same secret (compared in constant time); another secret under the same
/// key id derives its own key, which replaces the entry. At most
/// [`crate::limits::MAX_CACHED_SIGNING_KEYS`] entries (least recently used evicted).
fn signing_key(
    creds: &AwsCredentials,
    date: &str,
    region: &str,
    service: &str,
) -> Result<[u8; 32], SignError> {
    use subtle::ConstantTimeEq;
    thread_local! {
        static KEYS: std::cell::RefCell<crate::lru::Lru<(String, [u8; 32])>> =
            std::cell::RefCell::new(crate::lru::Lru::new(crate::limits::MAX_CACHED_SIGNING_KEYS));
    }
    let scope = format!("{date}/{region}/{service}/{}", creds.access_key_id);
    let secret = creds.secret_access_key.as_bytes();
    let known = KEYS.with(|keys| {
        keys.borrow_mut()
            .get_mut(&scope)
            .filter(|(s, _)| bool::from(s.as_bytes().ct_eq(secret)))
            .map(|(_, key)| *key)
    });
    if let Some(key) = known {
        return Ok(key);
    }
    let mut key = hmac(
        format!("AWS4{}", creds.secret_access_key).as_bytes(),
        date.as_bytes(),
    )?;
    for part in [region, service, "aws4_request"] {
        key = hmac(&key, part.as_bytes())?;
    }
    KEYS.with(|keys| {
        keys.borrow_mut()
            .insert(&scope, (creds.secret_access_key.clone(), key))
    });
    Ok(key)
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    out
}

/// `YYYYMMDDTHHMMSSZ` (UTC) for seconds since the epoch.
fn amz_date_time(secs: u64) -> String {
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Howard Hinnant's civil_from_days, for days since 1970-01-01 (never negative here).
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    format!(
        "{year:04}{month:02}{day:02}T{:02}{:02}{:02}Z",
        rem / 3_600,
        rem % 3_600 / 60,
        rem % 60
    )
}

/// RFC 3986 dot-segment removal, with empty segments dropped as well (AWS's rule for non-S3
/// services); the trailing slash is kept.
fn normalize_path(path: &str) -> String {
    let path = if path.starts_with('/') {
        path.to_owned()
    } else {
        format!("/{path}")
    };
    if !path.contains('.') && !path.contains("//") {
        return path;
    }
    let mut segments: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    let mut out = format!("/{}", segments.join("/"));
    if ["/", "/.", "/./", "/..", "/../"]
        .iter()
        .any(|end| path.ends_with(end))
        && !out.ends_with('/')
    {
        out.push('/');
    }
    out
}

/// The query's pairs form-decoded, re-encoded (unreserved characters only), sorted.
fn canonical_query(query: &str) -> String {
    let mut pairs: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| {
            (
                utf8_percent_encode(&k, QUERY_ENCODE).to_string(),
                utf8_percent_encode(&v, QUERY_ENCODE).to_string(),
            )
        })
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// Spaces trimmed at both ends and runs of spaces collapsed (other whitespace is kept).
fn trim_spaces(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for word in value.split(' ').filter(|w| !w.is_empty()) {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

/// An HTTP token (RFC 9110), as a header name must be.
fn is_header_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Visible ASCII, spaces and tabs: what a header value may hold.
fn is_header_value(value: &str) -> bool {
    value
        .bytes()
        .all(|b| b == b'\t' || (b' '..=b'~').contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc_4231() {
        // Test cases 2 (short key) and 6 (key longer than the block).
        assert_eq!(
            hex(&hmac(b"Jefe", b"what do ya want for nothing?").unwrap()),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert_eq!(
            hex(&hmac(
                &[0xaa; 131],
                b"Test Using Larger Than Block-Size Key - Hash Key First"
            )
            .unwrap()),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    #[test]
    fn a_remembered_signing_key_serves_only_the_secret_it_was_derived_from() {
        let creds = |secret: &str| AwsCredentials {
            access_key_id: "AKIDCACHETEST".into(),
            secret_access_key: secret.into(),
            session_token: None,
        };
        let derive = |c: &AwsCredentials| {
            let mut key = hmac(
                format!("AWS4{}", c.secret_access_key).as_bytes(),
                b"20260101",
            )
            .unwrap();
            for part in ["us-east-1", "bedrock", "aws4_request"] {
                key = hmac(&key, part.as_bytes()).unwrap();
            }
            key
        };
        let (owner, thief) = (creds("owner/secret"), creds("thief/guess"));
        let first = signing_key(&owner, "20260101", "us-east-1", "bedrock").unwrap();
        assert_eq!(first, derive(&owner));
        assert_eq!(
            signing_key(&owner, "20260101", "us-east-1", "bedrock").unwrap(),
            first
        );
        // Same key id, another secret: its own key, never the remembered one.
        let other = signing_key(&thief, "20260101", "us-east-1", "bedrock").unwrap();
        assert_eq!(other, derive(&thief));
        assert_ne!(other, first);
        assert_eq!(
            signing_key(&owner, "20260101", "us-east-1", "bedrock").unwrap(),
            first
        );
        // Another day, region or service: another key.
        assert_ne!(
            signing_key(&owner, "20260102", "us-east-1", "bedrock").unwrap(),
            first
        );
        assert_ne!(
            signing_key(&owner, "20260101", "eu-west-1", "bedrock").unwrap(),
            first
        );
        assert_ne!(
            signing_key(&owner, "20260101", "us-east-1", "sts").unwrap(),
            first
        );
    }

    #[test]
    fn date_times_in_utc() {
        assert_eq!(amz_date_time(0), "19700101T000000Z");
        assert_eq!(amz_date_time(1_440_938_160), "20150830T123600Z");
        assert_eq!(amz_date_time(951_782_400), "20000229T000000Z");
        assert_eq!(amz_date_time(4_107_542_399), "21000228T235959Z");
        assert_eq!(amz_date_time(4_107_542_400), "21000301T000000Z");
    }

    #[test]
    fn paths_lose_dot_and_empty_segments() {
        for (raw, want) in [
            ("", "/"),
            ("/", "/"),
            ("/model/m%3A0/converse", "/model/m%3A0/converse"),
            ("/a//b/", "/a/b/"),
            ("/a/./b/../c", "/a/c"),
            ("/../a", "/a"),
            ("/a/b/..", "/a/"),
            ("/a.b/c", "/a.b/c"),
        ] {
            assert_eq!(normalize_path(raw), want, "{raw}");
        }
    }

    #[test]
    fn queries_sort_and_reencode() {
        assert_eq!(canonical_query(""), "");
        assert_eq!(canonical_query("b=2&a=x+y&a=%2F&c"), "a=%2F&a=x%20y&b=2&c=");
    }

    #[test]
    fn header_values_keep_inner_tabs_and_drop_extra_spaces() {
        assert_eq!(trim_spaces("  a   b \tc  "), "a b \tc");
        assert!(!is_header_value("a\nb"));
        assert!(!is_header_value("ü"));
        assert!(!is_header_name("a b"));
    }
}
