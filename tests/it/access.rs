//! Issue 6 through the real pipeline: gateway keys, sealed catalog records that fail closed,
//! assumed roles through STS with one shared refresh, API-key providers, trusted hosts.

use crate::common::*;
use edgeport::gateway::{Settings, Vars};
use serde_json::{json, Value};

fn chat() -> Value {
    json!({"model": "anthropic.claude-3-haiku-20240307-v1:0", "messages": [{"role": "user", "content": "hi"}]})
}

fn ok_answer(world: &FakeWorld) {
    world.answer(Canned::json(
        200,
        &fixture_body("pydantic-ai/test_bedrock_model", 0),
    ));
}

fn record(auth: Value) -> Value {
    json!({"schema": 2, "provider": "bedrock", "aws_region": "us-east-1", "auth": auth})
}

fn keys_record() -> Value {
    record(
        json!({"type": "access_key", "access_key_id": "AKIDCAT", "secret_access_key": "cat/secret/NEVER"}),
    )
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

const TEAM_KEY: &str = "ek_team_a_only_prod_and_haiku_000000000";
const OFF_KEY: &str = "ek_disabled_key_00000000000000000000000";

fn world_with_keys() -> FakeWorld {
    let world = FakeWorld::default();
    world.put_record("prod", keys_record());
    world.put_record("dev", keys_record());
    world.put_key(TEAM_KEY, json!({"name": "team-a", "providers": ["prod"], "models": ["anthropic.claude-3-haiku-20240307-v1:0"], "enabled": true}));
    world.put_key(
        OFF_KEY,
        json!({"name": "off", "providers": ["*"], "enabled": false}),
    );
    world
}

#[test]
fn gateway_key_statuses_openai_and_anthropic_shapes() {
    let world = world_with_keys();
    let s = settings();
    type Case<'a> = (&'a [(&'a str, &'a str)], u16, &'a str);
    let cases: [Case; 6] = [
        (
            &[("x-portkey-provider", "@prod")],
            401,
            "missing_gateway_key",
        ),
        (
            &[
                ("x-portkey-provider", "@prod"),
                ("x-portkey-api-key", "ek_nope"),
            ],
            401,
            "invalid_gateway_key",
        ),
        (
            &[
                ("x-portkey-provider", "@prod"),
                ("authorization", "Bearer ek_nope"),
            ],
            401,
            "invalid_gateway_key",
        ),
        (
            &[
                ("x-portkey-provider", "@prod"),
                ("x-portkey-api-key", OFF_KEY),
            ],
            401,
            "invalid_gateway_key",
        ),
        (
            &[
                ("x-portkey-provider", "@dev"),
                ("x-portkey-api-key", TEAM_KEY),
            ],
            403,
            "provider_not_granted",
        ),
        (
            &[
                ("x-portkey-provider", "@prod"),
                (
                    "authorization",
                    "Bearer ek_team_a_only_prod_and_haiku_000000000",
                ),
            ],
            200,
            "",
        ),
    ];
    for (headers, status, code) in cases {
        if status == 200 {
            ok_answer(&world);
        }
        let a = post(&world, &s, "/v1/chat/completions", headers, &chat());
        assert_eq!(a.status, status, "{headers:?}: {}", a.text());
        if status != 200 {
            assert_eq!(a.json()["error"]["code"], code);
        }
    }
    // A model outside the key's list.
    let a = post(
        &world,
        &s,
        "/v1/chat/completions",
        &[("x-portkey-api-key", TEAM_KEY)],
        &json!({"model": "@prod/anthropic.claude-3-opus", "messages": [{"role": "user", "content": "x"}]}),
    );
    assert_eq!(
        (a.status, a.json()["error"]["code"].clone()),
        (403, json!("model_not_granted"))
    );
    // Anthropic-shaped on /v1/messages.
    let a = post(
        &world,
        &s,
        "/v1/messages",
        &[("x-portkey-provider", "@prod")],
        &json!({"model": "anthropic.claude-3-haiku-20240307-v1:0", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]}),
    );
    assert_eq!(a.status, 401);
    assert_eq!(a.json()["error"]["type"], "authentication_error");
    let a = post(
        &world,
        &s,
        "/v1/messages",
        &[
            ("x-portkey-provider", "@dev"),
            (
                "authorization",
                "Bearer ek_team_a_only_prod_and_haiku_000000000",
            ),
        ],
        &json!({"model": "anthropic.claude-3-haiku-20240307-v1:0", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]}),
    );
    assert_eq!(
        (a.status, a.json()["error"]["type"].clone()),
        (403, json!("permission_error"))
    );
    assert_eq!(
        world.sent.borrow().len(),
        1,
        "only the granted request reached Bedrock"
    );
}

#[test]
fn header_credentials_need_a_key_unless_turned_off() {
    let world = FakeWorld::default();
    let creds: Vec<(&str, &str)> = HEADER_CREDS
        .iter()
        .copied()
        .filter(|(k, _)| *k != "x-portkey-api-key")
        .collect();
    let a = post(&world, &settings(), "/v1/chat/completions", &creds, &chat());
    assert_eq!(
        (a.status, a.json()["error"]["code"].clone()),
        (401, json!("missing_gateway_key"))
    );

    let open = Settings::from_vars(&Vars {
        allow_header_credentials_without_key: Some("true"),
        ..Default::default()
    });
    ok_answer(&world);
    let a = post(&world, &open, "/v1/chat/completions", &creds, &chat());
    assert_eq!(a.status, 200, "{}", a.text());
    // An SDK's placeholder Bearer is not a key when keys are not required...
    let mut with_dummy = creds.clone();
    with_dummy.push(("authorization", "Bearer dummy"));
    ok_answer(&world);
    assert_eq!(
        post(&world, &open, "/v1/chat/completions", &with_dummy, &chat()).status,
        200
    );
    // ... but an explicit x-portkey-api-key must be right.
    let mut wrong = creds.clone();
    wrong.push(("x-portkey-api-key", "ek_wrong"));
    assert_eq!(
        post(&world, &open, "/v1/chat/completions", &wrong, &chat()).status,
        401
    );
}

#[test]
fn sealed_records_fail_closed() {
    let world = world_with_keys();
    let s = settings();
    let h: &[(&str, &str)] = &[
        ("x-portkey-api-key", TEST_GATEWAY_KEY),
        ("x-portkey-provider", "@prod"),
    ];
    // Sealed with another key.
    let other = edgeport::catalog::sealing::SealingKey::from_base64(
        "CQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQk=",
    )
    .unwrap();
    world.put_record_sealed_with(
        &other,
        "prod",
        record(json!({"type": "access_key", "access_key_id": "A", "secret_access_key": "foreign/SECRET"})),
    );
    let a = post(&world, &s, "/v1/chat/completions", h, &chat());
    assert_eq!(
        (a.status, a.json()["error"]["code"].clone()),
        (500, json!("catalog_record_invalid"))
    );
    // Moved from another slug (the slug is the associated data).
    let dev_raw = world.kv.0.borrow().get("provider:dev").cloned().unwrap();
    world
        .kv
        .0
        .borrow_mut()
        .insert("provider:prod".into(), dev_raw);
    assert_eq!(
        post(&world, &s, "/v1/chat/completions", h, &chat()).status,
        500
    );
    // Tampered ciphertext.
    let mut tampered: Value =
        serde_json::from_str(&world.kv.0.borrow().get("provider:dev").cloned().unwrap()).unwrap();
    let sealed = tampered["sealed"].as_str().unwrap().to_owned();
    let flipped = format!(
        "{}{}",
        &sealed[..sealed.len() - 4],
        if sealed.ends_with("AAA=") {
            "BAA="
        } else {
            "AAA="
        }
    );
    tampered["sealed"] = flipped.into();
    world.put_record("prod", tampered);
    assert_eq!(
        post(&world, &s, "/v1/chat/completions", h, &chat()).status,
        500
    );
    // Plaintext secrets (an old or hand-written record) are refused, not used.
    world.kv.0.borrow_mut().insert("provider:prod".into(), json!({"schema": 1, "provider": "bedrock", "aws_region": "us-east-1", "auth": {"type": "access_key", "access_key_id": "A", "secret_access_key": "plain/SECRET"}}).to_string());
    assert_eq!(
        post(&world, &s, "/v1/chat/completions", h, &chat()).status,
        500
    );
    // No CATALOG_KEY at all.
    world.put_record("prod", keys_record());
    assert_eq!(
        post(
            &world,
            &Settings::default(),
            "/v1/chat/completions",
            h,
            &chat()
        )
        .status,
        500
    );
    assert!(world.sent.borrow().is_empty(), "nothing went upstream");
    let logs = world.logs.borrow().join("\n");
    assert!(logs.contains("catalog_record_invalid"));
    for secret in ["foreign/SECRET", "plain/SECRET", "cat/secret/NEVER"] {
        assert!(!logs.contains(secret));
    }
}

fn sts_xml(n: u32, expiration: &str) -> Vec<u8> {
    format!(r#"<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleResult><Credentials><AccessKeyId>ASIATEMP{n}</AccessKeyId><SecretAccessKey>temp/secret/{n}</SecretAccessKey><SessionToken>session-token-{n}</SessionToken><Expiration>{expiration}</Expiration></Credentials></AssumeRoleResult></AssumeRoleResponse>"#).into_bytes()
}

fn role_settings() -> Settings {
    Settings::from_vars(&Vars {
        catalog_key: Some(TEST_CATALOG_KEY),
        aws_access_key_id: Some("AKIDBASE"),
        aws_secret_access_key: Some("base/secret/NEVER"),
        ..Default::default()
    })
}

#[test]
fn assumed_role_is_cached_and_refreshed_once() {
    let world = FakeWorld::default();
    let mut r = record(
        json!({"type": "assumed_role", "role_arn": "arn:aws:iam::123456789012:role/bedrock", "external_id": "ext-1"}),
    );
    r["sts_endpoint"] = "https://sts.example.test".into();
    world.put_record("role", r);
    let s = role_settings();
    let h: &[(&str, &str)] = &[
        ("x-portkey-api-key", TEST_GATEWAY_KEY),
        ("x-portkey-provider", "@role"),
    ];
    // now = 2026-01-01T00:00:00Z; credentials expire at 01:00.
    world.answer(Canned {
        status: 200,
        headers: vec![],
        pieces: vec![Ok(sts_xml(1, "2026-01-01T01:00:00Z").into())],
    });
    for _ in 0..3 {
        ok_answer(&world);
        let a = post(&world, &s, "/v1/chat/completions", h, &chat());
        assert_eq!(a.status, 200, "{}", a.text());
    }
    let sent = world.sent.borrow().clone();
    let sts: Vec<_> = sent
        .iter()
        .filter(|r| r.url.starts_with("https://sts.example.test"))
        .collect();
    assert_eq!(sts.len(), 1, "one AssumeRole for three requests");
    let body = String::from_utf8_lossy(&sts[0].body).into_owned();
    assert!(
        body.contains("Action=AssumeRole")
            && body.contains("ExternalId=ext-1")
            && body.contains("RoleSessionName=edgeport-role")
    );
    let auth = &sts[0]
        .headers
        .iter()
        .find(|(k, _)| k == "authorization")
        .unwrap()
        .1;
    assert!(
        auth.contains("AKIDBASE/20260101/us-east-1/sts/aws4_request"),
        "{auth}"
    );
    let bedrock = sent.last().unwrap();
    assert!(bedrock
        .headers
        .contains(&("x-amz-security-token".into(), "session-token-1".into())));
    assert!(bedrock
        .headers
        .iter()
        .any(|(k, v)| k == "authorization" && v.contains("ASIATEMP1/")));

    // Within the refresh margin (5 minutes before expiry): exactly one refresh.
    *world.now.borrow_mut() = 1_767_225_600_000 + 56 * 60 * 1000;
    world.answer(Canned {
        status: 200,
        headers: vec![],
        pieces: vec![Ok(sts_xml(2, "2026-01-01T02:00:00Z").into())],
    });
    for _ in 0..2 {
        ok_answer(&world);
        assert_eq!(
            post(&world, &s, "/v1/chat/completions", h, &chat()).status,
            200
        );
    }
    let sent = world.sent.borrow().clone();
    assert_eq!(
        sent.iter()
            .filter(|r| r.url.starts_with("https://sts.example.test"))
            .count(),
        2
    );
    assert!(sent
        .last()
        .unwrap()
        .headers
        .contains(&("x-amz-security-token".into(), "session-token-2".into())));
}

#[test]
fn concurrent_requests_share_one_sts_call() {
    let world = FakeWorld::default();
    world.put_record(
        "role",
        record(json!({"type": "assumed_role", "role_arn": "arn:aws:iam::1:role/r"})),
    );
    let s = role_settings();
    world.answer(Canned {
        status: 200,
        headers: vec![],
        pieces: vec![Ok(sts_xml(1, "2026-01-01T01:00:00Z").into())],
    });
    ok_answer(&world);
    ok_answer(&world);
    let h: &[(&str, &str)] = &[
        ("x-portkey-api-key", TEST_GATEWAY_KEY),
        ("x-portkey-provider", "@role"),
    ];
    let (a, b) = futures_executor::block_on(futures_util::future::join(
        edgeport::gateway::handle(&world, &s, request("/v1/chat/completions", h, &chat())),
        edgeport::gateway::handle(&world, &s, request("/v1/chat/completions", h, &chat())),
    ));
    assert_eq!((a.status, b.status), (200, 200));
    assert_eq!(
        world
            .sent
            .borrow()
            .iter()
            .filter(|r| r.url.starts_with("https://sts.us-east-1.amazonaws.com"))
            .count(),
        1
    );
}

#[test]
fn sts_errors_are_403_with_sts_message_and_no_secret() {
    let world = FakeWorld::default();
    world.put_record("role", record(json!({"type": "assumed_role", "role_arn": "arn:aws:iam::1:role/r", "external_id": "bad"})));
    world.answer(Canned { status: 403, headers: vec![], pieces: vec![Ok(b"<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>User: arn:aws:iam::1:user/base is not authorized to perform: sts:AssumeRole</Message></Error></ErrorResponse>".to_vec().into())] });
    let a = post(
        &world,
        &role_settings(),
        "/v1/chat/completions",
        &[
            ("x-portkey-api-key", TEST_GATEWAY_KEY),
            ("x-portkey-provider", "@role"),
        ],
        &chat(),
    );
    assert_eq!(a.status, 403);
    let err = a.json();
    assert_eq!(err["error"]["code"], "AccessDenied");
    // The operator's IAM identity and STS's text stay in the operator's log.
    let message = err["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("could not assume its role (AccessDenied)"),
        "{message}"
    );
    assert!(!message.contains("arn:aws:iam::1:user/base"), "{message}");
    assert!(world
        .logs
        .borrow()
        .iter()
        .any(|l| l.contains("catalog_assume_role_failed") && l.contains("not authorized")));
    assert!(!a.text().contains("base/secret/NEVER"));
    // No base credentials configured: a clear 500 for the operator.
    let a = post(
        &world,
        &settings(),
        "/v1/chat/completions",
        &[
            ("x-portkey-api-key", TEST_GATEWAY_KEY),
            ("x-portkey-provider", "@role"),
        ],
        &chat(),
    );
    assert_eq!(
        (a.status, a.json()["error"]["code"].clone()),
        (500, json!("base_credentials_missing"))
    );
}

#[test]
fn api_key_providers_send_bearer_not_sigv4() {
    let world = FakeWorld::default();
    world.put_record(
        "keyed",
        record(json!({"type": "api_key", "api_key": "bedrock-api-key-SECRET"})),
    );
    ok_answer(&world);
    let a = post(
        &world,
        &settings(),
        "/v1/chat/completions",
        &[
            ("x-portkey-api-key", TEST_GATEWAY_KEY),
            ("x-portkey-provider", "@keyed"),
        ],
        &chat(),
    );
    assert_eq!(a.status, 200, "{}", a.text());
    let sent = world.last_sent();
    assert!(sent.headers.contains(&(
        "authorization".into(),
        "Bearer bedrock-api-key-SECRET".into()
    )));
    assert!(!sent.headers.iter().any(|(k, _)| k == "x-amz-date"));
    assert!(!world
        .logs
        .borrow()
        .join("\n")
        .contains("bedrock-api-key-SECRET"));
}

#[test]
fn govcloud_and_privatelink_records_sign_for_their_host() {
    let world = FakeWorld::default();
    for (slug, host) in [
        ("gov", "https://bedrock-runtime.us-gov-west-1.amazonaws.com"),
        (
            "vpce",
            "https://vpce-0abc.bedrock-runtime.us-east-1.vpce.amazonaws.com:8443",
        ),
    ] {
        let mut r = keys_record();
        r["custom_host"] = host.into();
        world.put_record(slug, r);
        ok_answer(&world);
        let model = format!("@{slug}/anthropic.claude-3-haiku-20240307-v1:0");
        let a = post(
            &world,
            &settings(),
            "/v1/chat/completions",
            &[("x-portkey-api-key", TEST_GATEWAY_KEY)],
            &json!({"model": model, "messages": [{"role": "user", "content": "x"}]}),
        );
        assert_eq!(a.status, 200, "{}", a.text());
        let sent = world.last_sent();
        assert_eq!(
            sent.url,
            format!("{host}/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse")
        );
    }
}

#[test]
fn record_default_params_fill_what_the_caller_left_out() {
    let world = FakeWorld::default();
    let mut r = keys_record();
    r["default_params"] = json!({"max_tokens": 321, "temperature": 0.2, "model": "never-used"});
    world.put_record("prod", r);
    ok_answer(&world);
    let body = json!({"model": "@prod/anthropic.claude-3-haiku-20240307-v1:0", "temperature": 0, "messages": [{"role": "user", "content": "x"}]});
    let a = post(
        &world,
        &settings(),
        "/v1/chat/completions",
        &[("x-portkey-api-key", TEST_GATEWAY_KEY)],
        &body,
    );
    assert_eq!(a.status, 200, "{}", a.text());
    // max_tokens from the record; the caller's temperature 0 wins; model is never defaulted.
    assert_eq!(
        world.last_body()["inferenceConfig"],
        json!({"maxTokens": 321, "temperature": 0.0})
    );
    assert!(world
        .last_sent()
        .url
        .contains("/model/anthropic.claude-3-haiku-20240307-v1%3A0/"));

    // The same on /v1/messages (native body).
    world.answer(Canned::json(200, json!({"id": "msg_1", "type": "message", "role": "assistant", "content": [], "stop_reason": "end_turn", "usage": {"input_tokens": 1, "output_tokens": 1}}).to_string().as_bytes()));
    let body = json!({"model": "@prod/anthropic.claude-3-haiku-20240307-v1:0", "messages": [{"role": "user", "content": "x"}]});
    let a = post(
        &world,
        &settings(),
        "/v1/messages",
        &[("x-portkey-api-key", TEST_GATEWAY_KEY)],
        &body,
    );
    assert_eq!(a.status, 200, "{}", a.text());
    let sent = world.last_body();
    assert_eq!(
        (sent["max_tokens"].clone(), sent["temperature"].clone()),
        (json!(321), json!(0.2))
    );
    assert!(sent.get("model").is_none());
}

#[test]
fn header_credentials_can_assume_a_role_named_in_headers() {
    let world = FakeWorld::default();
    world.answer(Canned {
        status: 200,
        headers: vec![],
        pieces: vec![Ok(sts_xml(7, "2026-01-01T01:00:00Z").into())],
    });
    ok_answer(&world);
    let mut h = HEADER_CREDS.to_vec();
    h.push(("x-portkey-aws-auth-type", "assumedRole"));
    h.push((
        "x-portkey-aws-role-arn",
        "arn:aws:iam::123456789012:role/caller",
    ));
    h.push(("x-portkey-aws-external-id", "ext-9"));
    let a = post(
        &world,
        &role_settings(),
        "/v1/chat/completions",
        &h,
        &chat(),
    );
    assert_eq!(a.status, 200, "{}", a.text());
    let sent = world.sent.borrow().clone();
    assert_eq!(sent[0].url, "https://sts.us-east-1.amazonaws.com/");
    let sts_auth = &sent[0]
        .headers
        .iter()
        .find(|(k, _)| k == "authorization")
        .unwrap()
        .1;
    assert!(
        sts_auth.contains("Credential=AKIDEDGEPORTTEST1/"),
        "signed with the caller's keys, not the Worker's: {sts_auth}"
    );
    assert!(String::from_utf8_lossy(&sent[0].body).contains("ExternalId=ext-9"));
    assert!(sent[1]
        .headers
        .contains(&("x-amz-security-token".into(), "session-token-7".into())));
    // A role without its ARN, or an unknown auth type, is a 400.
    let mut h = HEADER_CREDS.to_vec();
    h.push(("x-portkey-aws-auth-type", "assumedRole"));
    let a = post(
        &world,
        &role_settings(),
        "/v1/chat/completions",
        &h,
        &chat(),
    );
    assert_eq!(
        (a.status, a.json()["error"]["param"].clone()),
        (400, json!("x-portkey-aws-role-arn"))
    );
    let mut h = HEADER_CREDS.to_vec();
    h.push(("x-portkey-aws-auth-type", "magic"));
    assert_eq!(
        post(
            &world,
            &role_settings(),
            "/v1/chat/completions",
            &h,
            &chat()
        )
        .status,
        400
    );
}

// ---- Hosts as `fetch` reads them (issue 9, item 2) and trusted hosts by scheme and port (item 7) ----

/// Spellings of internal addresses that the WHATWG URL parser (the one `fetch` uses) turns into
/// loopback, metadata or other special-purpose addresses.
const INTERNAL_SPELLINGS: &[&str] = &[
    "http://2130706433:9300",
    "http://127.1:9300",
    "http://0x7f.1:9300",
    "http://0177.0.0.1:9300",
    "http://0x7f000001:9300",
    "http://127.0.0.1.:9300",
    "http://[::ffff:7f00:1]:9300",
    "http://[::ffff:127.0.0.1]:9300",
    "http://[::127.0.0.1]:9300",
    "http://[64:ff9b::a9fe:a9fe]",
    "http://[2002:a9fe:a9fe::1]",
    "http://0.0.0.0:9300",
    "http://0:9300",
    "http://192.0.0.1",
    "http://198.18.0.1",
    "http://240.0.0.1",
    "http://2852039166/latest/meta-data", // 169.254.169.254
    "http://metadata/computeMetadata/v1",
    "http://LOCALHOST.:9300",
];

#[test]
fn numeric_and_embedded_internal_hosts_are_refused_before_anything_is_sent() {
    let world = FakeWorld::default();
    for host in INTERNAL_SPELLINGS {
        let mut h = HEADER_CREDS.to_vec();
        h.push(("x-portkey-custom-host", host));
        let a = post(&world, &settings(), "/v1/chat/completions", &h, &chat());
        assert_eq!(a.status, 403, "{host}: {}", a.text());
        assert_eq!(
            a.json()["error"]["code"],
            "custom_host_not_trusted",
            "{host}"
        );
        assert_eq!(a.json()["error"]["param"], "x-portkey-custom-host");
    }
    assert!(world.sent.borrow().is_empty(), "nothing was fetched");
}

#[test]
fn custom_hosts_are_sent_to_in_their_canonical_form() {
    // A trusted numeric spelling is fetched as the address that was checked.
    let world = FakeWorld::default();
    let trusted = Settings::from_vars(&Vars {
        trusted_custom_hosts: Some("http://127.0.0.1:8788"),
        ..Default::default()
    });
    let mut h = HEADER_CREDS.to_vec();
    h.push(("x-portkey-custom-host", "http://2130706433:8788/prefix/"));
    ok_answer(&world);
    let a = post(&world, &trusted, "/v1/chat/completions", &h, &chat());
    assert_eq!(a.status, 200, "{}", a.text());
    assert_eq!(
        world.last_sent().url,
        "http://127.0.0.1:8788/prefix/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse"
    );
}

#[test]
fn a_trusted_host_is_trusted_for_its_scheme_and_port_only() {
    let world = world_with_keys();
    let trusted = Settings::from_vars(&Vars {
        catalog_key: Some(TEST_CATALOG_KEY),
        trusted_custom_hosts: Some("http://127.0.0.1:8788, bedrock.example.com"),
        ..Default::default()
    });
    let with_host = |host: &'static str| {
        vec![
            ("x-portkey-api-key", TEST_GATEWAY_KEY),
            ("x-portkey-provider", "@prod"),
            ("x-portkey-custom-host", host),
        ]
    };
    // Catalog credentials go to the listed scheme, host and port, in any spelling of the host.
    for host in [
        "http://127.0.0.1:8788",
        "http://2130706433:8788",
        "https://bedrock.example.com",
        "bedrock.example.com:443",
        "https://BEDROCK.example.com./",
    ] {
        ok_answer(&world);
        let a = post(
            &world,
            &trusted,
            "/v1/chat/completions",
            &with_host(host),
            &chat(),
        );
        assert_eq!(a.status, 200, "{host}: {}", a.text());
    }
    let sent = world.sent.borrow().len();
    // ... and nowhere else on the same host.
    for host in [
        "https://127.0.0.1:8788",
        "http://127.0.0.1:8789",
        "http://127.0.0.1",
        "http://bedrock.example.com",
        "https://bedrock.example.com:8443",
    ] {
        let a = post(
            &world,
            &trusted,
            "/v1/chat/completions",
            &with_host(host),
            &chat(),
        );
        assert_eq!(a.status, 403, "{host}: {}", a.text());
        assert_eq!(
            a.json()["error"]["code"],
            "custom_host_not_trusted",
            "{host}"
        );
    }
    assert_eq!(world.sent.borrow().len(), sent, "nothing more was sent");
}

fn image_chat(url: &str) -> Value {
    json!({"model": "us.amazon.nova-pro-v1:0", "messages": [
        {"role": "user", "content": [{"type": "text", "text": "?"}, {"type": "image_url", "image_url": {"url": url}}]}]})
}

fn assert_image_400(a: &Answer, says: &str) {
    assert_eq!(a.status, 400, "{}", a.text());
    assert_eq!(
        a.json()["error"]["param"],
        "messages[0].content[1].image_url.url"
    );
    let message = a.json()["error"]["message"].as_str().unwrap().to_owned();
    assert!(message.contains(says), "{message} should say {says:?}");
}

#[test]
fn image_urls_with_internal_hosts_in_any_spelling_are_never_fetched() {
    for url in INTERNAL_SPELLINGS
        .iter()
        .map(|h| format!("{h}/x.png"))
        .chain(["http://0x7f.1/x.png".to_owned()])
    {
        let world = FakeWorld::default();
        let a = post(
            &world,
            &settings(),
            "/v1/chat/completions",
            HEADER_CREDS,
            &image_chat(&url),
        );
        assert_image_400(&a, "private, loopback");
        assert!(world.sent.borrow().is_empty(), "{url} was fetched");
    }
    // Credentials in an image URL are refused and not repeated.
    let world = FakeWorld::default();
    let a = post(
        &world,
        &settings(),
        "/v1/chat/completions",
        HEADER_CREDS,
        &image_chat("https://user:secret-pw@img.example.com/x.png"),
    );
    assert_image_400(&a, "username or password");
    assert!(!a.text().contains("secret-pw"));
    assert!(world.sent.borrow().is_empty());
}

#[test]
fn image_redirects_to_internal_hosts_in_any_spelling_are_refused() {
    for location in [
        "http://[::ffff:127.0.0.1]/",
        "http://2852039166/latest/meta-data/",
        "//0x7f.1/x.png",
        // WHATWG reads `\` as `/` in http(s) URLs: this is the host 127.0.0.1, not a path.
        "/\\127.0.0.1/x.png",
    ] {
        let world = FakeWorld::default();
        world.answer(Canned {
            status: 302,
            headers: vec![("location".into(), location.into())],
            pieces: vec![],
        });
        let a = post(
            &world,
            &settings(),
            "/v1/chat/completions",
            HEADER_CREDS,
            &image_chat("https://img.example.com/a.png"),
        );
        assert_image_400(&a, "private, loopback");
        assert_eq!(
            world.sent.borrow().len(),
            1,
            "{location}: only the first hop"
        );
    }
}

#[test]
fn trusted_image_hosts_are_trusted_for_their_scheme_and_port_only() {
    let trusted = Settings::from_vars(&Vars {
        catalog_key: Some(TEST_CATALOG_KEY),
        trusted_custom_hosts: Some("http://127.0.0.1:8788"),
        ..Default::default()
    });
    for url in [
        "https://127.0.0.1:8788/x.png",
        "http://127.0.0.1:8789/x.png",
        "http://127.0.0.1/x.png",
    ] {
        let world = FakeWorld::default();
        let a = post(
            &world,
            &trusted,
            "/v1/chat/completions",
            HEADER_CREDS,
            &image_chat(url),
        );
        assert_image_400(&a, "private, loopback");
        assert!(world.sent.borrow().is_empty(), "{url}");
    }
    // The listed one is fetched (the non-image answer proves the request went out).
    let world = FakeWorld::default();
    world.answer(Canned::json(200, b"{}"));
    let a = post(
        &world,
        &trusted,
        "/v1/chat/completions",
        HEADER_CREDS,
        &image_chat("http://2130706433:8788/x.png"),
    );
    assert_image_400(&a, "not a png");
    assert_eq!(world.last_sent().url, "http://127.0.0.1:8788/x.png");
}

#[test]
fn non_ascii_hosts_are_refused_with_a_400_and_never_fetched() {
    // The Worker maps no Unicode host (Cargo.toml pins idna_adapter 1.0.0), so a host with a
    // non-ASCII label, fullwidth spellings of internal names included, is refused, not judged.
    for host in [
        "https://bücher.example/",
        "http://ｌｏｃａｌｈｏｓｔ:9300/",
        "http://１２７.０.０.１/",
    ] {
        let world = FakeWorld::default();
        let mut h = HEADER_CREDS.to_vec();
        h.push(("x-portkey-custom-host", host));
        let a = post(&world, &settings(), "/v1/chat/completions", &h, &chat());
        assert_eq!(a.status, 400, "{host}: {}", a.text());
        assert_eq!(a.json()["error"]["param"], "x-portkey-custom-host");
        let message = a.json()["error"]["message"].as_str().unwrap().to_owned();
        assert!(message.contains("not an ASCII domain name"), "{message}");
        assert!(world.sent.borrow().is_empty(), "{host} was fetched");

        let image = format!("{host}x.png");
        let a = post(
            &world,
            &settings(),
            "/v1/chat/completions",
            HEADER_CREDS,
            &image_chat(&image),
        );
        assert_image_400(&a, "not an ASCII domain name");
        assert!(world.sent.borrow().is_empty(), "{image} was fetched");
    }
    // A redirect to one is not followed.
    let world = FakeWorld::default();
    world.answer(Canned {
        status: 302,
        headers: vec![("location".into(), "https://bücher.example/x.png".into())],
        pieces: vec![],
    });
    let a = post(
        &world,
        &settings(),
        "/v1/chat/completions",
        HEADER_CREDS,
        &image_chat("https://img.example.com/a.png"),
    );
    assert_image_400(&a, "not a valid URL");
    assert_eq!(world.sent.borrow().len(), 1, "only the first hop");
    // The punycode form of the name is an ordinary host.
    let world = FakeWorld::default();
    ok_answer(&world);
    let mut h = HEADER_CREDS.to_vec();
    h.push(("x-portkey-custom-host", "https://xn--bcher-kva.example"));
    let a = post(&world, &settings(), "/v1/chat/completions", &h, &chat());
    assert_eq!(a.status, 200, "{}", a.text());
    assert!(world
        .last_sent()
        .url
        .starts_with("https://xn--bcher-kva.example/model/"));
}

#[test]
fn images_by_url_are_capped_in_total_naming_the_part_that_crossed() {
    use edgeport::limits::{MAX_IMAGE_BYTES, MAX_REMOTE_IMAGE_TOTAL_BYTES};
    // Each image is under the per-image limit; together they cross the request's total.
    let each = MAX_IMAGE_BYTES - 1;
    let fit = MAX_REMOTE_IMAGE_TOTAL_BYTES / each;
    let world = FakeWorld::default();
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.resize(each, 0);
    for _ in 0..=fit {
        world.answer(Canned {
            status: 200,
            headers: vec![("content-type".into(), "image/png".into())],
            pieces: vec![Ok(bytes::Bytes::from(png.clone()))],
        });
    }
    let parts: Vec<Value> = (0..=fit)
        .map(|i| json!({"type": "image_url", "image_url": {"url": format!("https://img.example.com/{i}.png")}}))
        .collect();
    let body = json!({"model": "us.amazon.nova-pro-v1:0", "messages": [{"role": "user", "content": parts}]});
    let a = post(
        &world,
        &settings(),
        "/v1/chat/completions",
        HEADER_CREDS,
        &body,
    );
    assert_eq!(a.status, 400, "{}", a.text());
    let err = &a.json()["error"];
    assert_eq!(
        err["param"],
        format!("messages[0].content[{fit}].image_url.url")
    );
    assert!(
        err["message"].as_str().unwrap().contains(&format!(
            "larger than {MAX_REMOTE_IMAGE_TOTAL_BYTES} bytes together"
        )),
        "{err}"
    );
}

/// Issue 11: a warm isolate serves the catalog path from memory: the key and the opened provider
/// record are read from KV once per `CATALOG_CACHE_TTL_MS`, and a change made in KV (a disabled
/// key, a rotated record) takes effect when that time has passed.
#[test]
fn key_and_provider_records_are_reused_for_the_ttl_then_read_again() {
    let world = world_with_keys();
    let s = settings();
    assert_eq!(s.catalog_cache_ttl_ms, 30_000);
    let headers: &[(&str, &str)] = &[
        ("x-portkey-api-key", TEAM_KEY),
        ("x-portkey-provider", "@prod"),
    ];
    let reads = |w: &FakeWorld| w.kv.2.borrow().len();
    ok_answer(&world);
    assert_eq!(
        post(&world, &s, "/v1/chat/completions", headers, &chat()).status,
        200
    );
    assert_eq!(reads(&world), 2, "{:?}", world.kv.2.borrow());
    for _ in 0..3 {
        ok_answer(&world);
        assert_eq!(
            post(&world, &s, "/v1/chat/completions", headers, &chat()).status,
            200
        );
    }
    assert_eq!(
        reads(&world),
        2,
        "a warm isolate reads neither record again"
    );

    // The operator disables the key and rotates the record's credentials.
    world.put_key(
        TEAM_KEY,
        json!({"name": "team-a", "providers": ["prod"], "enabled": false}),
    );
    world.put_record(
        "prod",
        record(json!({"type": "access_key", "access_key_id": "AKIDROTATED", "secret_access_key": "rotated/secret"})),
    );
    *world.now.borrow_mut() += 29_000;
    ok_answer(&world);
    assert_eq!(
        post(&world, &s, "/v1/chat/completions", headers, &chat()).status,
        200,
        "still within the TTL"
    );
    assert!(world
        .last_sent()
        .headers
        .iter()
        .any(|(k, v)| k == "authorization" && v.contains("AKIDCAT/")));
    *world.now.borrow_mut() += 1_000;
    let a = post(&world, &s, "/v1/chat/completions", headers, &chat());
    assert_eq!(
        (a.status, a.json()["error"]["code"].clone()),
        (401, json!("invalid_gateway_key"))
    );

    // Re-enabled: the new key record and the rotated provider record are read, and used.
    world.put_key(
        TEAM_KEY,
        json!({"name": "team-a", "providers": ["prod"], "enabled": true}),
    );
    *world.now.borrow_mut() += 30_000;
    ok_answer(&world);
    assert_eq!(
        post(&world, &s, "/v1/chat/completions", headers, &chat()).status,
        200
    );
    assert!(world
        .last_sent()
        .headers
        .iter()
        .any(|(k, v)| k == "authorization" && v.contains("AKIDROTATED/")));
}

#[test]
fn unknown_keys_and_slugs_are_never_remembered() {
    let world = world_with_keys();
    let s = settings();
    let unknown: &[(&str, &str)] = &[
        ("x-portkey-api-key", "ek_not_yet_created_000000000000000000"),
        ("x-portkey-provider", "@prod"),
    ];
    assert_eq!(
        post(&world, &s, "/v1/chat/completions", unknown, &chat()).status,
        401
    );
    // Created a moment later: it works at once.
    world.put_key(
        "ek_not_yet_created_000000000000000000",
        json!({"name": "new", "providers": ["*"], "enabled": true}),
    );
    ok_answer(&world);
    assert_eq!(
        post(&world, &s, "/v1/chat/completions", unknown, &chat()).status,
        200
    );
    let missing: &[(&str, &str)] = &[
        ("x-portkey-api-key", TEAM_KEY),
        ("x-portkey-provider", "@later"),
    ];
    let team = world_with_keys();
    team.put_key(
        TEAM_KEY,
        json!({"name": "team-a", "providers": ["*"], "enabled": true}),
    );
    let a = post(&team, &s, "/v1/chat/completions", missing, &chat());
    assert_eq!(a.status, 400, "{}", a.text());
    team.put_record("later", keys_record());
    ok_answer(&team);
    assert_eq!(
        post(&team, &s, "/v1/chat/completions", missing, &chat()).status,
        200
    );
}

#[test]
fn catalog_cache_ttl_zero_reads_kv_on_every_request() {
    let world = world_with_keys();
    let s = Settings::from_vars(&Vars {
        catalog_key: Some(TEST_CATALOG_KEY),
        catalog_cache_ttl_ms: Some("0"),
        ..Default::default()
    });
    assert_eq!(s.catalog_cache_ttl_ms, 0);
    let headers: &[(&str, &str)] = &[
        ("x-portkey-api-key", TEAM_KEY),
        ("x-portkey-provider", "@prod"),
    ];
    for _ in 0..3 {
        ok_answer(&world);
        assert_eq!(
            post(&world, &s, "/v1/chat/completions", headers, &chat()).status,
            200
        );
    }
    assert_eq!(world.kv.2.borrow().len(), 6);
    // Out of range or malformed: the default.
    for bad in ["300001", "-1", "soon"] {
        let s = Settings::from_vars(&Vars {
            catalog_cache_ttl_ms: Some(bad),
            ..Default::default()
        });
        assert_eq!(s.catalog_cache_ttl_ms, 30_000, "{bad}");
    }
}
