//! Issue 9 through the real pipeline: each test shows one way a caller or an upstream could get
//! around the gateway's rules before, and what the gateway does now.

use crate::common::*;
use crate::streams;
use edgeport::gateway::{Settings, Vars};
use edgeport::limits;
use serde_json::{json, Value};

const HAIKU: &str = "anthropic.claude-3-haiku-20240307-v1:0";

fn chat() -> Value {
    json!({"model": HAIKU, "messages": [{"role": "user", "content": "hi"}]})
}

fn stream_chat() -> Value {
    json!({"model": HAIKU, "stream": true, "messages": [{"role": "user", "content": "hi"}]})
}

fn messages_body() -> Value {
    json!({"model": HAIKU, "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]})
}

fn ok_answer(world: &FakeWorld) {
    world.answer(Canned::json(
        200,
        &fixture_body("pydantic-ai/test_bedrock_model", 0),
    ));
}

fn post(
    world: &FakeWorld,
    settings: &Settings,
    path: &str,
    headers: &[(&str, &str)],
    body: &Value,
) -> Answer {
    run(world, settings, request(path, headers, body))
}

fn sts_xml(n: u32) -> Vec<u8> {
    format!(r#"<AssumeRoleResponse><AssumeRoleResult><Credentials><AccessKeyId>ASIATEMP{n}</AccessKeyId><SecretAccessKey>temp/secret/{n}</SecretAccessKey><SessionToken>session-token-{n}</SessionToken><Expiration>2026-01-01T01:00:00Z</Expiration></Credentials></AssumeRoleResult></AssumeRoleResponse>"#).into_bytes()
}

fn role_headers(secret: &'static str) -> Vec<(&'static str, &'static str)> {
    vec![
        ("x-portkey-api-key", TEST_GATEWAY_KEY),
        ("x-portkey-provider", "bedrock"),
        ("x-portkey-aws-access-key-id", "AKIDVICTIM"),
        ("x-portkey-aws-secret-access-key", secret),
        ("x-portkey-aws-region", "us-east-1"),
        ("x-portkey-aws-auth-type", "assumedRole"),
        (
            "x-portkey-aws-role-arn",
            "arn:aws:iam::123456789012:role/victim",
        ),
    ]
}

/// Item 1: knowing another caller's access key id and role ARN is not enough to be handed their
/// temporary credentials: the cache is keyed by every secret, so the thief's request goes to STS
/// with the thief's (wrong) secret and STS refuses it.
#[test]
fn assumed_role_credentials_are_not_shared_by_access_key_id() {
    let world = FakeWorld::default();
    world.answer(Canned {
        status: 200,
        headers: vec![],
        pieces: vec![Ok(sts_xml(1).into())],
    });
    ok_answer(&world);
    let a = post(
        &world,
        &settings(),
        "/v1/chat/completions",
        &role_headers("victim/secret/REAL+0000000000"),
        &chat(),
    );
    assert_eq!(a.status, 200, "{}", a.text());
    assert_eq!(world.caller_roles().len(), 1);
    // The thief: same key id and role, any secret.
    world.answer(Canned::aws_error(
        403,
        "SignatureDoesNotMatch",
        "The request signature we calculated does not match",
    ));
    let a = post(
        &world,
        &settings(),
        "/v1/chat/completions",
        &role_headers("thief/guess/0000000000000000"),
        &chat(),
    );
    assert_eq!(a.status, 403, "{}", a.text());
    let sent = world.sent.borrow().clone();
    assert_eq!(
        sent.len(),
        3,
        "the thief's request went to STS, not to Bedrock with cached credentials"
    );
    assert_eq!(sent[2].url, "https://sts.us-east-1.amazonaws.com/");
    assert!(!sent
        .iter()
        .skip(2)
        .any(|r| r.headers.iter().any(|(_, v)| v.contains("session-token-1"))));
    // The failed attempt left no slot behind.
    assert_eq!(world.caller_roles().len(), 1);
    // Callers' roles are kept apart from the operator's catalog roles.
    assert_eq!(world.credentials().len(), 0);
    // The owner still gets the cached credentials, without another STS call.
    ok_answer(&world);
    let a = post(
        &world,
        &settings(),
        "/v1/chat/completions",
        &role_headers("victim/secret/REAL+0000000000"),
        &chat(),
    );
    assert_eq!(a.status, 200);
    assert_eq!(world.sent.borrow().len(), 4);
}

/// Item 4: the isolate's credential cache stays bounded whatever callers send.
#[test]
fn the_credential_cache_is_bounded() {
    use edgeport::providers::bedrock::endpoint;
    use edgeport::providers::bedrock::signing::AwsCredentials;
    use edgeport::providers::bedrock::sts::{assumed_credentials, AssumeRole};
    let world = FakeWorld::default();
    let role = AssumeRole {
        role_arn: "arn:aws:iam::1:role/r".into(),
        external_id: None,
        session_name: "edgeport".into(),
        duration_seconds: None,
    };
    let endpoint = endpoint::sts("us-east-1").unwrap();
    for i in 0..(limits::MAX_CACHED_CREDENTIALS + 50) {
        world.answer(Canned {
            status: 200,
            headers: vec![],
            pieces: vec![Ok(sts_xml(1).into())],
        });
        let base = AwsCredentials {
            access_key_id: format!("AKID{i}"),
            secret_access_key: "s".into(),
            session_token: None,
        };
        futures_executor::block_on(assumed_credentials(
            &world,
            &world.credentials(),
            &base,
            "us-east-1",
            &endpoint,
            &role,
        ))
        .unwrap();
    }
    assert_eq!(world.credentials().len(), limits::MAX_CACHED_CREDENTIALS);
}

/// Item 3: statuses the gateway cannot pass on become a 502 in the route's own error shape.
#[test]
fn odd_upstream_statuses_are_502() {
    for status in [101u16, 201, 204, 304, 307, 600, 999] {
        let world = FakeWorld::default();
        world.answer(Canned::json(status, b"{}"));
        let a = post(
            &world,
            &settings(),
            "/v1/chat/completions",
            HEADER_CREDS,
            &chat(),
        );
        assert_eq!(a.status, 502, "{status}: {}", a.text());
        assert_eq!(
            a.json()["error"]["code"],
            "upstream_invalid_status",
            "{status}"
        );
        let world = FakeWorld::default();
        world.answer(Canned::json(status, b"{}"));
        let a = post(
            &world,
            &settings(),
            "/v1/messages",
            HEADER_CREDS,
            &messages_body(),
        );
        assert_eq!(a.status, 502, "{status}: {}", a.text());
        assert_eq!(
            (a.json()["type"].clone(), a.json()["error"]["type"].clone()),
            (json!("error"), json!("api_error"))
        );
        let world = FakeWorld::default();
        world.answer(Canned::json(status, b""));
        let a = post(
            &world,
            &settings(),
            "/v1/chat/completions",
            HEADER_CREDS,
            &stream_chat(),
        );
        assert_eq!(a.status, 502, "{status} (stream): {}", a.text());
    }
}

/// Item 4: a body over the cap is a 413 in the route's shape, before the key is looked up.
#[test]
fn oversized_bodies_are_413_before_anything_else() {
    let world = FakeWorld::default();
    let mut req = request(
        "/v1/chat/completions",
        &[("x-portkey-api-key", "ek_unknown_key_not_checked_000000")],
        &chat(),
    );
    req.body = bytes::Bytes::from(vec![b' '; limits::MAX_REQUEST_BODY_BYTES + 1]);
    let a = run(&world, &settings(), req);
    assert_eq!(
        (a.status, a.json()["error"]["code"].clone()),
        (413, json!("request_too_large")),
        "{}",
        a.text()
    );
    // The shell's flag (content-length too large, or a chunked body that crossed the cap).
    let mut req = request("/v1/messages", HEADER_CREDS, &messages_body());
    req.oversized = true;
    let a = run(&world, &settings(), req);
    assert_eq!(a.status, 413);
    assert_eq!(a.json()["error"]["type"], "request_too_large");
    assert_eq!(a.json()["type"], "error");
    assert!(world.sent.borrow().is_empty());
}

/// Item 4: upstream JSON bodies are read up to a cap, not whole.
#[test]
fn upstream_bodies_are_capped() {
    let world = FakeWorld::default();
    let mut big = Canned::json(200, b"{}");
    big.headers.retain(|(k, _)| k != "content-length");
    big.headers.push((
        "content-length".into(),
        (limits::MAX_UPSTREAM_JSON_BYTES + 1).to_string(),
    ));
    world.answer(big);
    let a = post(
        &world,
        &settings(),
        "/v1/chat/completions",
        HEADER_CREDS,
        &chat(),
    );
    assert_eq!(a.status, 502, "{}", a.text());
    // Without a length: stops reading once the pieces cross the cap. A compressed body's length
    // says nothing of what it decodes to (fetch decodes it): it is never read whole, only piece by
    // piece up to the cap, whatever its content-length says (its body then never ends: read whole,
    // it would wait for the idle bound instead).
    let piece = bytes::Bytes::from(vec![b'x'; 1024 * 1024]);
    let compressed = vec![
        ("content-length".to_owned(), "1000".to_owned()),
        ("content-encoding".to_owned(), "gzip".to_owned()),
    ];
    for (headers, stall) in [(vec![], None), (compressed, Some(Stall::Body))] {
        let world = FakeWorld::default();
        world.answer(Canned {
            status: 200,
            headers,
            pieces: (0..=limits::MAX_UPSTREAM_JSON_BYTES / piece.len())
                .map(|_| Ok(piece.clone()))
                .collect(),
        });
        *world.stall_next.borrow_mut() = stall;
        let a = post(
            &world,
            &settings(),
            "/v1/chat/completions",
            HEADER_CREDS,
            &chat(),
        );
        assert_eq!(a.status, 502);
        assert!(a.text().contains("larger than"), "{}", a.text());
    }
}

/// Item 6: configs are bounded in targets and depth, retries never repeat a 400/401/403, and one
/// request makes at most MAX_UPSTREAM_ATTEMPTS upstream calls whatever the config says.
#[test]
fn configs_cannot_amplify() {
    let world = FakeWorld::default();
    let config_headers = |config: &Value| {
        let mut h: Vec<(&str, String)> = HEADER_CREDS
            .iter()
            .map(|(k, v)| (*k, (*v).to_owned()))
            .collect();
        h.push(("x-portkey-config", config.to_string()));
        h
    };
    let send = |config: &Value| {
        let h = config_headers(config);
        let h: Vec<(&str, &str)> = h.iter().map(|(k, v)| (*k, v.as_str())).collect();
        post(&world, &settings(), "/v1/chat/completions", &h, &chat())
    };
    let many: Vec<Value> = (0..=limits::MAX_CONFIG_TARGETS)
        .map(|_| json!({"provider": "bedrock"}))
        .collect();
    let a = send(&json!({"strategy": {"mode": "fallback"}, "targets": many}));
    assert_eq!(
        (a.status, a.json()["error"]["code"].clone()),
        (400, json!("invalid_config"))
    );
    let mut deep = json!({"provider": "bedrock"});
    for _ in 0..=limits::MAX_CONFIG_DEPTH {
        deep = json!({"strategy": {"mode": "fallback"}, "targets": [deep]});
    }
    assert_eq!(send(&deep).status, 400);
    for status in [400, 401, 403] {
        let a = send(&json!({"retry": {"attempts": 3, "on_status_codes": [429, status]}}));
        assert_eq!(a.status, 400, "{status}");
        assert!(a.text().contains(&status.to_string()));
    }
    assert!(world.sent.borrow().is_empty());
    // The most a valid config can ask: 32 targets × 6 tries. It gets 16 upstream calls.
    let targets: Vec<Value> = (0..limits::MAX_CONFIG_TARGETS)
        .map(|_| json!({"provider": "bedrock"}))
        .collect();
    for _ in 0..200 {
        world.answer(Canned::aws_error(429, "ThrottlingException", "slow down"));
    }
    let a = send(
        &json!({"strategy": {"mode": "fallback"}, "retry": {"attempts": 5}, "targets": targets}),
    );
    assert_eq!(a.status, 429);
    assert_eq!(
        world.sent.borrow().len(),
        limits::MAX_UPSTREAM_ATTEMPTS as usize
    );
}

/// Item 6: saved configs and stored prompts are the operator's: only a valid key reads them, even
/// where header credentials work without a key.
#[test]
fn saved_configs_and_prompts_need_a_key() {
    let world = FakeWorld::default();
    world.kv.0.borrow_mut().insert(
        "config:pc-x".into(),
        json!({"provider": "bedrock"}).to_string(),
    );
    let open = Settings::from_vars(&Vars {
        catalog_key: Some(TEST_CATALOG_KEY),
        allow_header_credentials_without_key: Some("true"),
        ..Default::default()
    });
    let creds: Vec<(&str, &str)> = HEADER_CREDS
        .iter()
        .copied()
        .filter(|(k, _)| *k != "x-portkey-api-key")
        .collect();
    let mut h = creds.clone();
    h.push(("x-portkey-config", "pc-x"));
    let a = post(&world, &open, "/v1/chat/completions", &h, &chat());
    assert_eq!(a.status, 401, "{}", a.text());
    let a = post(
        &world,
        &open,
        "/v1/prompts/pp-1/completions",
        &creds,
        &json!({"variables": {}}),
    );
    assert_eq!(a.status, 401, "{}", a.text());
    assert!(world.sent.borrow().is_empty());
    // Header credentials themselves still work without a key there.
    ok_answer(&world);
    assert_eq!(
        post(&world, &open, "/v1/chat/completions", &creds, &chat()).status,
        200
    );
}

/// Item 8: `x-api-key` is a gateway key (after x-portkey-api-key, before Authorization).
#[test]
fn x_api_key_is_the_gateway_key() {
    let world = FakeWorld::default();
    let mut h: Vec<(&str, &str)> = HEADER_CREDS
        .iter()
        .copied()
        .filter(|(k, _)| *k != "x-portkey-api-key")
        .collect();
    h.push(("x-api-key", TEST_GATEWAY_KEY));
    h.push(("authorization", "Bearer sk-placeholder"));
    ok_answer(&world);
    assert_eq!(
        post(&world, &settings(), "/v1/chat/completions", &h, &chat()).status,
        200
    );
    // A wrong x-api-key is refused; x-portkey-api-key wins over it.
    let mut wrong = h.clone();
    wrong.retain(|(k, _)| *k != "x-api-key");
    wrong.push(("x-api-key", "ek_wrong_000000000000000000000000"));
    assert_eq!(
        post(
            &world,
            &settings(),
            "/v1/messages",
            &wrong,
            &messages_body()
        )
        .status,
        401
    );
    wrong.push(("x-portkey-api-key", TEST_GATEWAY_KEY));
    ok_answer(&world);
    assert_eq!(
        post(&world, &settings(), "/v1/chat/completions", &wrong, &chat()).status,
        200
    );
}

/// Item 8: a stalled upstream ends at the default timeout (504), the caller's own timeout is a
/// 408, and out-of-range timeouts are 400s (2147483648 no longer wraps to "at once").
#[test]
fn timeouts() {
    let quick = Settings::from_vars(&Vars {
        catalog_key: Some(TEST_CATALOG_KEY),
        upstream_timeout_ms: Some("1500"),
        stream_idle_timeout_ms: Some("1000"),
        ..Default::default()
    });
    let world = FakeWorld::default();
    *world.stall_next.borrow_mut() = Some(Stall::Headers);
    let a = post(
        &world,
        &quick,
        "/v1/chat/completions",
        HEADER_CREDS,
        &chat(),
    );
    assert_eq!(
        (a.status, a.json()["error"]["code"].clone()),
        (504, json!("upstream_timeout")),
        "{}",
        a.text()
    );
    *world.stall_next.borrow_mut() = Some(Stall::Headers);
    let mut h = HEADER_CREDS.to_vec();
    h.push(("x-portkey-request-timeout", "250"));
    let a = post(&world, &quick, "/v1/chat/completions", &h, &chat());
    assert_eq!(
        (a.status, a.json()["error"]["code"].clone()),
        (408, json!("request_timeout"))
    );
    for bad in ["0", "-1", "abc", "2147483648", "3600001"] {
        let mut h = HEADER_CREDS.to_vec();
        h.push(("x-portkey-request-timeout", bad));
        let a = post(&world, &quick, "/v1/chat/completions", &h, &chat());
        assert_eq!(
            (a.status, a.json()["error"]["param"].clone()),
            (400, json!("x-portkey-request-timeout")),
            "{bad}"
        );
    }
    // A stream that stalls after its first frames: an in-stream error, then [DONE].
    let mut body = streams::event("messageStart", json!({"role": "assistant"}));
    body.extend(streams::event(
        "contentBlockDelta",
        json!({"contentBlockIndex": 0, "delta": {"text": "Hel"}}),
    ));
    world.answer(Canned::stream(&body));
    *world.stall_next.borrow_mut() = Some(Stall::Body);
    let a = post(
        &world,
        &quick,
        "/v1/chat/completions",
        HEADER_CREDS,
        &stream_chat(),
    );
    assert_eq!(a.status, 200);
    let text = a.text();
    assert!(text.contains("sent nothing for 1000 ms"), "{text}");
    assert!(text.trim_end().ends_with("data: [DONE]"), "{text}");
    // The same on /v1/messages: an `event: error`.
    let frame = |event: Value| {
        use base64::Engine;
        let b = base64::engine::general_purpose::STANDARD.encode(event.to_string());
        streams::event("chunk", json!({"bytes": b}))
    };
    let start = frame(
        json!({"type": "message_start", "message": {"id": "m", "type": "message", "role": "assistant", "model": "claude", "content": [], "usage": {"input_tokens": 1, "output_tokens": 0}}}),
    );
    world.answer(Canned::stream(&start));
    *world.stall_next.borrow_mut() = Some(Stall::Body);
    let mut m = messages_body();
    m["stream"] = json!(true);
    let a = post(&world, &quick, "/v1/messages", HEADER_CREDS, &m);
    assert!(a.text().contains("event: error"), "{}", a.text());
}

fn catalog_world() -> FakeWorld {
    let world = FakeWorld::default();
    world.put_record("prod", json!({"aws_region": "us-east-1", "s3_buckets": ["media-prod"],
        "auth": {"type": "access_key", "access_key_id": "AKIDCAT", "secret_access_key": "cat/secret/NEVER"}}));
    world
}

const PROD: &[(&str, &str)] = &[
    ("x-portkey-api-key", TEST_GATEWAY_KEY),
    ("x-portkey-provider", "@prod"),
];

/// Item 7: the whole record is sealed; a plain field edited in KV without CATALOG_KEY (to send the
/// provider's credentials elsewhere) fails closed, and schema 2 records are read only during the
/// upgrade window.
#[test]
fn records_are_authenticated_whole() {
    let world = catalog_world();
    // Every request reads the record again (no isolate cache): each edit is seen at once.
    let settings = || Settings {
        catalog_cache_ttl_ms: 0,
        ..settings()
    };
    ok_answer(&world);
    assert_eq!(
        post(&world, &settings(), "/v1/chat/completions", PROD, &chat()).status,
        200
    );
    let raw = world.kv.0.borrow().get("provider:prod").cloned().unwrap();
    for (field, value) in [
        ("custom_host", json!("https://attacker.example")),
        ("aws_region", json!("eu-west-1")),
        ("sts_endpoint", json!("https://attacker.example")),
        ("default_params", json!({"max_tokens": 1})),
        ("s3_buckets", Value::Null),
    ] {
        let mut edited: Value = serde_json::from_str(&raw).unwrap();
        edited[field] = value;
        world
            .kv
            .0
            .borrow_mut()
            .insert("provider:prod".into(), edited.to_string());
        let a = post(&world, &settings(), "/v1/chat/completions", PROD, &chat());
        assert_eq!(
            (a.status, a.json()["error"]["code"].clone()),
            (500, json!("catalog_record_invalid")),
            "{field}"
        );
    }
    assert_eq!(
        world.sent.borrow().len(),
        1,
        "nothing was sent with an edited record"
    );
    // Schema 2 (only auth sealed): refused, unless the operator opened the upgrade window.
    let key = edgeport::catalog::sealing::SealingKey::from_base64(TEST_CATALOG_KEY).unwrap();
    let auth = key
        .seal(
            "provider:prod",
            br#"{"type":"access_key","access_key_id":"AKIDOLD","secret_access_key":"old/secret"}"#,
        )
        .unwrap();
    let legacy =
        json!({"schema": 2, "provider": "bedrock", "aws_region": "us-east-1", "auth": auth});
    world
        .kv
        .0
        .borrow_mut()
        .insert("provider:prod".into(), legacy.to_string());
    let a = post(&world, &settings(), "/v1/chat/completions", PROD, &chat());
    assert_eq!(a.status, 500);
    assert!(
        world.logs.borrow().iter().any(|l| l.contains("reseal")) || a.text().contains("reseal"),
        "{}",
        a.text()
    );
    let window = Settings::from_vars(&Vars {
        catalog_key: Some(TEST_CATALOG_KEY),
        catalog_accept_schema_2: Some("true"),
        ..Default::default()
    });
    ok_answer(&world);
    assert_eq!(
        post(&world, &window, "/v1/chat/completions", PROD, &chat()).status,
        200
    );
}

/// Item 8: a malformed CATALOG_KEY says so (it is not silently "not set").
#[test]
fn a_malformed_catalog_key_says_so() {
    let world = catalog_world();
    let bad = Settings::from_vars(&Vars {
        catalog_key: Some("not-base64-of-32-bytes"),
        ..Default::default()
    });
    assert!(bad.catalog_key_malformed);
    let a = post(&world, &bad, "/v1/chat/completions", PROD, &chat());
    assert_eq!(a.status, 500);
    assert!(a.text().contains("not base64 of 32 bytes"), "{}", a.text());
    assert!(!Settings::from_vars(&Vars::default()).catalog_key_malformed);
}

/// The S3 bucket allow-list: `s3://` media may only name the record's buckets.
#[test]
fn s3_media_only_from_listed_buckets() {
    let world = catalog_world();
    let with_image = |uri: &str| {
        json!({"model": HAIKU, "messages": [{"role": "user", "content": [
            {"type": "text", "text": "what is this"},
            {"type": "image_url", "image_url": {"url": uri, "mime_type": "image/png"}}]}]})
    };
    let a = post(
        &world,
        &settings(),
        "/v1/chat/completions",
        PROD,
        &with_image("s3://payroll/2026.png"),
    );
    assert_eq!(
        (a.status, a.json()["error"]["code"].clone()),
        (403, json!("s3_bucket_not_allowed")),
        "{}",
        a.text()
    );
    assert!(world.sent.borrow().is_empty());
    ok_answer(&world);
    let a = post(
        &world,
        &settings(),
        "/v1/chat/completions",
        PROD,
        &with_image("s3://media-prod/cat.png"),
    );
    assert_eq!(a.status, 200, "{}", a.text());
}

/// Item 8: what `Debug` prints of a request's headers and a signed upstream request holds no secret.
#[test]
fn debug_output_holds_no_secret() {
    let headers = edgeport::gateway::RequestHeaders::new(
        HEADER_CREDS.iter().map(|(k, v)| (*k, (*v).to_owned())),
    );
    let shown = format!("{headers:?}");
    assert!(shown.contains("x-portkey-aws-secret-access-key"));
    assert!(
        !shown.contains("edgeport/test/secret") && !shown.contains(TEST_GATEWAY_KEY),
        "{shown}"
    );
    let world = FakeWorld::default();
    ok_answer(&world);
    let mut h = HEADER_CREDS.to_vec();
    h.push(("x-portkey-aws-session-token", "session/TOKEN/secret"));
    post(&world, &settings(), "/v1/chat/completions", &h, &chat());
    let sent = format!("{:?}", world.last_sent());
    assert!(sent.contains("authorization"));
    assert!(
        !sent.contains("Signature=") && !sent.contains("session/TOKEN"),
        "{sent}"
    );
}

/// STS errors for a caller's own credentials are scrubbed like Bedrock's (no echoed secrets).
#[test]
fn sts_errors_are_scrubbed() {
    let world = FakeWorld::default();
    let secret = "victim/secret/REAL+0000000000";
    world.answer(Canned {
        status: 403,
        headers: vec![],
        pieces: vec![Ok(format!("<ErrorResponse><Error><Code>SignatureDoesNotMatch</Code><Message>bad {secret} The Canonical String for this request should have been POST / ...</Message></Error></ErrorResponse>").into_bytes().into())],
    });
    let a = post(
        &world,
        &settings(),
        "/v1/chat/completions",
        &role_headers("victim/secret/REAL+0000000000"),
        &chat(),
    );
    assert_eq!(a.status, 403);
    assert!(
        !a.text().contains(secret) && !a.text().contains("Canonical String"),
        "{}",
        a.text()
    );
}

/// Item 4: inference-profile answers are kept per isolate up to a bound.
#[test]
fn the_profile_cache_is_bounded() {
    use edgeport::providers::bedrock::endpoint;
    use edgeport::providers::bedrock::inference_profile::{foundation_model_arn, ControlPlane};
    use edgeport::providers::bedrock::signing::{AwsCredentials, UpstreamAuth};
    let world = FakeWorld::default();
    let runtime = endpoint::runtime("us-east-1").unwrap();
    let auth = UpstreamAuth::Sigv4(AwsCredentials {
        access_key_id: "AKID".into(),
        secret_access_key: "s".into(),
        session_token: None,
    });
    let plane = ControlPlane {
        region: "us-east-1",
        runtime: &runtime,
        auth: &auth,
    };
    for i in 0..(limits::MAX_CACHED_PROFILES + 40) {
        world.answer(Canned::json(200, br#"{"models":[{"modelArn":"arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-haiku-20240307-v1:0"}]}"#));
        let profile =
            format!("arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/p{i}");
        futures_executor::block_on(foundation_model_arn(&world, &plane, &profile)).unwrap();
    }
    assert_eq!(world.profiles().len(), limits::MAX_CACHED_PROFILES);
}

/// The /v1/messages body goes to Bedrock as sent, under the same caps on tools and documents.
#[test]
fn messages_route_caps_tools_and_documents() {
    let world = FakeWorld::default();
    let mut body = messages_body();
    body["tools"] = json!((0..=limits::MAX_TOOLS)
        .map(|i| json!({"name": format!("t{i}"), "input_schema": {"type": "object"}}))
        .collect::<Vec<_>>());
    let a = post(&world, &settings(), "/v1/messages", HEADER_CREDS, &body);
    assert_eq!(a.status, 400, "{}", a.text());
    assert!(a.text().contains("tools"));
    let doc = json!({"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "x"}});
    let mut body = messages_body();
    body["messages"][0]["content"] = json!(vec![doc; limits::MAX_DOCUMENTS + 1]);
    let a = post(&world, &settings(), "/v1/messages", HEADER_CREDS, &body);
    assert_eq!(a.status, 400, "{}", a.text());
    assert!(world.sent.borrow().is_empty());
}

/// Review finding: only stream bodies had an idle bound. A JSON answer (or an error body) that
/// stalls midway, and a side call (STS) that never answers, now end too.
#[test]
fn json_bodies_and_side_calls_are_bounded_too() {
    let quick = Settings::from_vars(&Vars {
        catalog_key: Some(TEST_CATALOG_KEY),
        upstream_timeout_ms: Some("1500"),
        stream_idle_timeout_ms: Some("1000"),
        ..Default::default()
    });
    let world = FakeWorld::default();
    world.answer(Canned::json(200, br#"{"output": {"message": "#));
    *world.stall_next.borrow_mut() = Some(Stall::Body);
    let a = post(
        &world,
        &quick,
        "/v1/chat/completions",
        HEADER_CREDS,
        &chat(),
    );
    assert_eq!(a.status, 502, "{}", a.text());
    // Its length is known and small: it is read whole (one step in the Worker), and must arrive
    // whole within the idle bound.
    assert!(
        a.text()
            .contains("23-byte answer did not arrive whole within 1000 ms"),
        "{}",
        a.text()
    );
    // Without a length it is read piece by piece: the bound is on the silence between pieces.
    let mut unknown = Canned::json(200, br#"{"output": {"message": "#);
    unknown.headers.retain(|(k, _)| k != "content-length");
    world.answer(unknown);
    *world.stall_next.borrow_mut() = Some(Stall::Body);
    let a = post(
        &world,
        &quick,
        "/v1/chat/completions",
        HEADER_CREDS,
        &chat(),
    );
    assert_eq!(a.status, 502, "{}", a.text());
    assert!(
        a.text().contains("sent nothing for 1000 ms"),
        "{}",
        a.text()
    );
    // The same for an error body that stalls: the 429 still comes out (its body cut).
    world.answer(Canned::aws_error(429, "ThrottlingException", "slow"));
    *world.stall_next.borrow_mut() = Some(Stall::Body);
    assert_eq!(
        post(
            &world,
            &quick,
            "/v1/chat/completions",
            HEADER_CREDS,
            &chat()
        )
        .status,
        429
    );
    // STS that never answers: a 504 after the side-call bound, not a hang.
    *world.stall_next.borrow_mut() = Some(Stall::Headers);
    let a = post(
        &world,
        &quick,
        "/v1/chat/completions",
        &role_headers("owner/secret/0000000000"),
        &chat(),
    );
    assert_eq!(
        (a.status, a.json()["error"]["code"].clone()),
        (504, json!("upstream_timeout")),
        "{}",
        a.text()
    );
    assert!(a.text().contains("STS"), "{}", a.text());
}

/// Review finding: the first attempt's whole message list was reused by later attempts, so a
/// fallback target whose `override_params` set `messages` got the first target's messages.
#[test]
fn a_fallback_targets_own_messages_are_sent() {
    let world = FakeWorld::default();
    world.answer(Canned::aws_error(500, "InternalServerException", "boom"));
    ok_answer(&world);
    let config = json!({"strategy": {"mode": "fallback"}, "targets": [
        {"provider": "bedrock"},
        {"provider": "bedrock", "override_params": {"messages": [{"role": "user", "content": "second"}]}}]});
    let mut h = HEADER_CREDS.to_vec();
    let config = config.to_string();
    h.push(("x-portkey-config", &config));
    let a = post(&world, &settings(), "/v1/chat/completions", &h, &chat());
    assert_eq!(a.status, 200, "{}", a.text());
    let sent = world.last_body();
    assert_eq!(
        sent["messages"][0]["content"][0]["text"], "second",
        "{sent}"
    );
}
