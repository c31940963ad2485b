//! edgeport's signer against the public AWS SigV4 test vectors (tests/sigv4-vectors), and the
//! Bedrock-specific traps: the double-encoded model id and the host with a port.

use std::fs;
use std::path::Path;

use bytes::Bytes;
use edgeport::platform::UpstreamRequest;
use edgeport::providers::bedrock::signing::{sign_request, AwsCredentials};
use serde_json::Value;

/// 2015-08-30T12:36:00Z, the vectors' timestamp.
const VECTOR_TIME_MS: u64 = 1_440_938_160_000;

fn header<'a>(req: &'a UpstreamRequest, name: &str) -> Option<&'a str> {
    req.headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

fn run_vector(name: &str) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/sigv4-vectors")
        .join(name);
    let context: Value =
        serde_json::from_str(&fs::read_to_string(dir.join("context.json")).unwrap()).unwrap();
    let request = fs::read_to_string(dir.join("request.txt")).unwrap();
    let (head, body) = request.split_once("\n\n").unwrap_or((&request, ""));
    let mut lines = head.lines();
    let first: Vec<&str> = lines.next().unwrap().split(' ').collect();
    let (method, path) = (first[0], first[1]);
    let mut host = String::new();
    let mut headers = Vec::new();
    for line in lines {
        let (k, v) = line.split_once(':').unwrap();
        match k.to_ascii_lowercase().as_str() {
            "host" => host = v.to_owned(),
            // The signer adds the date itself, from the time we give it.
            "x-amz-date" | "content-length" => {}
            other => headers.push((other.to_owned(), v.to_owned())),
        }
    }
    let method: &'static str = match method {
        "GET" => "GET",
        "POST" => "POST",
        m => panic!("unexpected method {m}"),
    };
    let mut req = UpstreamRequest {
        method,
        url: format!("https://{host}{path}"),
        headers,
        body: Bytes::from(body.to_owned()),
    };
    let c = &context["credentials"];
    let creds = AwsCredentials {
        access_key_id: c["access_key_id"].as_str().unwrap().to_owned(),
        secret_access_key: c["secret_access_key"].as_str().unwrap().to_owned(),
        session_token: c["token"].as_str().map(str::to_owned),
    };
    sign_request(
        &mut req,
        &creds,
        context["region"].as_str().unwrap(),
        context["service"].as_str().unwrap(),
        VECTOR_TIME_MS,
    )
    .unwrap();
    let expected = fs::read_to_string(dir.join("header-signed-request.txt")).unwrap();
    let expected_auth = expected
        .lines()
        .find_map(|l| l.strip_prefix("Authorization:"))
        .unwrap();
    assert_eq!(
        header(&req, "authorization"),
        Some(expected_auth),
        "vector {name}"
    );
    assert_eq!(header(&req, "x-amz-date"), Some("20150830T123600Z"));
    assert_eq!(header(&req, "x-amz-security-token"), c["token"].as_str());
}

#[test]
fn aws_test_vectors() {
    for name in [
        "get-vanilla",
        "post-vanilla",
        "get-vanilla-with-session-token",
        "post-header-key-sort",
    ] {
        run_vector(name);
    }
}

fn creds() -> AwsCredentials {
    AwsCredentials {
        access_key_id: "AKIDEXAMPLE".into(),
        secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into(),
        session_token: None,
    }
}

fn signed_headers(auth: &str) -> &str {
    auth.split("SignedHeaders=")
        .nth(1)
        .unwrap()
        .split(',')
        .next()
        .unwrap()
}

#[test]
fn bedrock_signs_what_boto3_signs() {
    let mut req = UpstreamRequest {
        method: "POST",
        url: "https://bedrock-runtime.us-east-1.amazonaws.com/model/us.anthropic.claude-3-7-sonnet-20250219-v1%3A0/converse".into(),
        headers: vec![("content-type".into(), "application/json".into())],
        body: Bytes::from_static(b"{}"),
    };
    sign_request(&mut req, &creds(), "us-east-1", "bedrock", VECTOR_TIME_MS).unwrap();
    let auth = header(&req, "authorization").unwrap();
    assert!(auth.starts_with(
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/bedrock/aws4_request"
    ));
    assert_eq!(signed_headers(auth), "content-type;host;x-amz-date");
    // No x-amz-content-sha256 header, as boto3 sends none.
    assert_eq!(header(&req, "x-amz-content-sha256"), None);
    assert_eq!(header(&req, "x-amz-security-token"), None);
}

#[test]
fn signatures_differ_by_port_and_by_encoding() {
    let sign = |url: &str| {
        let mut req = UpstreamRequest {
            method: "POST",
            url: url.into(),
            headers: vec![("content-type".into(), "application/json".into())],
            body: Bytes::from_static(b"{}"),
        };
        sign_request(&mut req, &creds(), "us-east-1", "bedrock", VECTOR_TIME_MS).unwrap();
        header(&req, "authorization").unwrap().to_owned()
    };
    let a = sign("http://127.0.0.1:8788/model/m%3A0/converse");
    let b = sign("http://127.0.0.1:8789/model/m%3A0/converse");
    let c = sign("http://127.0.0.1:8788/model/m:0/converse");
    assert_ne!(a, b, "the port is part of the signed host");
    assert_ne!(a, c, "the escaped path is what is signed");
    // Default ports are not part of the host, as AWS's SDKs sign it.
    assert_eq!(
        sign("https://h.example/model/m/converse"),
        sign("https://h.example:443/model/m/converse")
    );
}

#[test]
fn session_token_is_signed() {
    let mut req = UpstreamRequest {
        method: "POST",
        url: "https://bedrock-runtime.us-east-1.amazonaws.com/model/m/converse".into(),
        headers: vec![("content-type".into(), "application/json".into())],
        body: Bytes::from_static(b"{}"),
    };
    let mut c = creds();
    c.session_token = Some("TOKEN".into());
    sign_request(&mut req, &c, "us-east-1", "bedrock", VECTOR_TIME_MS).unwrap();
    assert_eq!(header(&req, "x-amz-security-token"), Some("TOKEN"));
    assert_eq!(
        signed_headers(header(&req, "authorization").unwrap()),
        "content-type;host;x-amz-date;x-amz-security-token"
    );
    assert!(
        !format!("{c:?}").contains("wJalr"),
        "Debug never prints the secret"
    );
}

/// What AWS's own `aws-sigv4` crate (the signer edgeport used before `sigv4.rs`, default settings)
/// adds to the request.
fn oracle(
    req: &UpstreamRequest,
    creds: &AwsCredentials,
    region: &str,
    now_ms: u64,
) -> Vec<(String, String)> {
    use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
    use std::time::{Duration, UNIX_EPOCH};
    let identity = aws_credential_types::Credentials::new(
        &creds.access_key_id,
        &creds.secret_access_key,
        creds.session_token.clone(),
        None,
        "oracle",
    )
    .into();
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name("bedrock")
        .time(UNIX_EPOCH + Duration::from_millis(now_ms))
        .settings(SigningSettings::default())
        .build()
        .unwrap()
        .into();
    let signable = SignableRequest::new(
        req.method,
        req.url.as_str(),
        req.headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        SignableBody::Bytes(&req.body),
    )
    .unwrap();
    let (instructions, _) = sign(signable, &params).unwrap().into_parts();
    instructions
        .into_parts()
        .0
        .into_iter()
        .map(|h| (h.name().to_owned(), h.value().to_owned()))
        .collect()
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]

    /// Bedrock-shaped requests (an escaped model id, optional query, headers in any case with
    /// stray spaces, repeated, a `host` of their own, unsigned ones) sign exactly as `aws-sigv4`
    /// signs them.
    #[test]
    fn signs_exactly_as_aws_sigv4(
        base in proptest::sample::select(vec![
            "https://bedrock-runtime.us-east-1.amazonaws.com",
            "http://127.0.0.1:8788/prefix",
            "https://[2001:db8::1]:8443",
            "https://vpce-1.example.com/a.b/c",
        ]),
        method in proptest::sample::select(vec!["GET", "POST"]),
        model in ".{0,40}",
        dots in proptest::sample::select(vec!["", "/.", "/..", "//x", "/./y/"]),
        query in proptest::option::of("[a-zA-Z0-9 +%&=/:._~-]{0,30}"),
        headers in proptest::collection::vec(
            (
                proptest::sample::select(vec![
                    "content-type", "Content-Type", "accept", "X-Amzn-Bedrock-Trace",
                    "user-agent", "x-amzn-trace-id", "Host", "x-amz-date", "anthropic-beta",
                ]),
                "[ \\t]{0,2}[!-~]{0,12}( {1,3}[!-~]{1,8}){0,2}[ \\t]{0,2}",
            ),
            0..6,
        ),
        body in proptest::collection::vec(proptest::num::u8::ANY, 0..64),
        token in proptest::option::of("[A-Za-z0-9/+=]{1,40}"),
        region in proptest::sample::select(vec!["us-east-1", "eu-central-2"]),
        now_ms in 0u64..4_102_444_800_000,
    ) {
        let mut url = format!("{base}/model/{}{dots}/converse", edgeport::providers::bedrock::endpoint::encode_segment(&model));
        if let Some(q) = query {
            url = format!("{url}?{q}");
        }
        let req = UpstreamRequest {
            method,
            url: url::Url::parse(&url).unwrap().to_string(),
            headers: headers.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
            body: Bytes::from(body),
        };
        let mut c = creds();
        c.session_token = token;
        let mut signed = UpstreamRequest { headers: req.headers.clone(), body: req.body.clone(), url: req.url.clone(), method };
        sign_request(&mut signed, &c, region, "bedrock", now_ms).unwrap();
        let added = signed.headers[req.headers.len()..].to_vec();
        proptest::prop_assert_eq!(added, oracle(&req, &c, region, now_ms), "{}", req.url);
    }
}
