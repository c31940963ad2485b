//! OpenAI as an upstream, through the real pipeline against a fake OpenAI: catalog records,
//! header mode, inline config credentials, pass-through bodies, the SSE relay, error statuses,
//! and the OpenAI → Bedrock fallback.

use crate::common::*;
use serde_json::{json, Value};

const OPENAI_KEY: &str = "sk-test-openai-prod-0123456789";
const HAIKU: &str = "anthropic.claude-3-haiku-20240307-v1:0";

fn world() -> FakeWorld {
    let w = FakeWorld::default();
    w.put_record(
        "openai-prod",
        json!({"provider": "openai", "auth": {"type": "api_key", "api_key": OPENAI_KEY},
               "base_url": "https://openai.example/v1", "organization": "org-1"}),
    );
    w.put_record(
        "bedrock-prod",
        json!({"aws_region": "us-east-1", "auth": {"type": "access_key", "access_key_id": "AKIDPROD",
               "secret_access_key": "bedrock/secret/never"}}),
    );
    w
}

fn completion() -> Value {
    json!({"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini",
           "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi from OpenAI"},
                        "finish_reason": "stop"}],
           "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}})
}

fn chunk(delta: Value, finish: Value) -> String {
    format!(
        "data: {}\n\n",
        json!({"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-mini",
               "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
    )
}

fn sse(pieces: &[String]) -> Canned {
    Canned {
        status: 200,
        headers: vec![("content-type".into(), "text/event-stream".into())],
        pieces: pieces
            .iter()
            .map(|p| Ok(bytes::Bytes::from(p.clone())))
            .collect(),
    }
}

fn chat(model: &str) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": "hi"}]})
}

fn post(world: &FakeWorld, headers: &[(&str, &str)], body: &Value) -> Answer {
    run(
        world,
        &settings(),
        request("/v1/chat/completions", headers, body),
    )
}

#[test]
fn catalog_openai_json_passes_through_with_the_providers_key() {
    let w = world();
    w.answer(Canned::json(200, completion().to_string().as_bytes()));
    let mut body = chat("@openai-prod/gpt-4o-mini");
    body["top_k"] = json!(5); // a Bedrock-only field: not sent to OpenAI
    body["temperature"] = json!(0);
    let a = post(&w, &[("x-portkey-api-key", TEST_GATEWAY_KEY)], &body);
    assert_eq!(a.status, 200, "{}", a.text());
    assert_eq!(a.json(), completion());
    assert_eq!(a.header("x-portkey-provider"), Some("@openai-prod"));
    let sent = w.last_sent();
    assert_eq!(sent.url, "https://openai.example/v1/chat/completions");
    assert!(sent
        .headers
        .contains(&("authorization".into(), format!("Bearer {OPENAI_KEY}"))));
    assert!(sent
        .headers
        .contains(&("openai-organization".into(), "org-1".into())));
    assert_eq!(
        w.last_body(),
        json!({"model": "gpt-4o-mini", "temperature": 0, "messages": [{"role": "user", "content": "hi"}]})
    );
}

#[test]
fn the_stream_is_relayed_and_holds_the_role_chunk_until_content() {
    let w = world();
    w.answer(sse(&[
        chunk(json!({"role": "assistant", "content": ""}), Value::Null),
        chunk(json!({"content": "Hel"}), Value::Null),
        chunk(json!({"content": "lo"}), Value::Null),
        chunk(json!({}), json!("stop")),
        "data: [DONE]\n\n".into(),
    ]));
    let mut body = chat("@openai-prod/gpt-4o-mini");
    body["stream"] = json!(true);
    let a = post(&w, &[("x-portkey-api-key", TEST_GATEWAY_KEY)], &body);
    assert_eq!(a.status, 200);
    let text = a.text();
    let data: Vec<&str> = text
        .split("\n\n")
        .filter_map(|e| e.strip_prefix("data: "))
        .collect();
    assert_eq!(data.len(), 5, "{text}");
    assert!(data[0].contains("\"role\":\"assistant\""));
    assert!(data[1].contains("Hel") && data[2].contains("lo"));
    assert_eq!(data[4], "[DONE]");
    assert!(w
        .last_sent()
        .headers
        .contains(&("accept".into(), "text/event-stream".into())));
}

#[test]
fn a_stream_failing_before_content_is_an_http_error_after_content_an_in_stream_one() {
    let w = world();
    // Role chunk, then the connection drops: nothing with content was sent.
    w.answer(sse(&[chunk(
        json!({"role": "assistant", "content": ""}),
        Value::Null,
    )]));
    let mut body = chat("@openai-prod/gpt-4o-mini");
    body["stream"] = json!(true);
    let h = [("x-portkey-api-key", TEST_GATEWAY_KEY)];
    let a = post(&w, &h, &body);
    assert_eq!(a.status, 502, "{}", a.text());
    // An error event first: its type decides the status.
    w.answer(sse(&[
        "data: {\"error\":{\"message\":\"overloaded\",\"type\":\"server_error\"}}\n\n".into(),
    ]));
    assert_eq!(post(&w, &h, &body).status, 500);
    // After content: an in-stream error, then [DONE].
    w.answer(sse(&[chunk(json!({"content": "Hel"}), Value::Null)]));
    let a = post(&w, &h, &body);
    assert_eq!(a.status, 200);
    let text = a.text();
    assert!(text.contains("Hel") && text.contains("\"error\""), "{text}");
    assert!(text.trim_end().ends_with("data: [DONE]"));
}

#[test]
fn openai_errors_keep_their_status_and_never_show_the_key() {
    let w = world();
    w.answer(Canned::json(
        429,
        br#"{"error":{"message":"Rate limit reached","type":"requests","code":"rate_limit_exceeded"}}"#,
    ));
    let h = [("x-portkey-api-key", TEST_GATEWAY_KEY)];
    let a = post(&w, &h, &chat("@openai-prod/gpt-4o-mini"));
    assert_eq!(a.status, 429);
    assert_eq!(a.json()["error"]["code"], "rate_limit_exceeded");
    assert!(a.json()["error"]["message"]
        .as_str()
        .unwrap()
        .starts_with("OpenAI: "));
    w.answer(Canned::json(
        401,
        format!(r#"{{"error":{{"message":"Incorrect API key provided: {OPENAI_KEY}","type":"invalid_request_error","code":"invalid_api_key"}}}}"#).as_bytes(),
    ));
    let a = post(&w, &h, &chat("@openai-prod/gpt-4o-mini"));
    assert_eq!(a.status, 401);
    assert!(!a.text().contains(OPENAI_KEY), "{}", a.text());
    w.answer(Canned::json(304, b""));
    assert_eq!(post(&w, &h, &chat("@openai-prod/gpt-4o-mini")).status, 502);
}

#[test]
fn header_mode_authorization_is_the_openai_key_not_the_gateway_key() {
    let w = world();
    w.answer(Canned::json(200, completion().to_string().as_bytes()));
    let h = [
        ("x-portkey-provider", "openai"),
        ("authorization", "Bearer sk-callers-own-key-0000"),
        ("x-portkey-api-key", TEST_GATEWAY_KEY),
    ];
    let a = post(&w, &h, &chat("gpt-4o-mini"));
    assert_eq!(a.status, 200, "{}", a.text());
    assert_eq!(a.header("x-portkey-provider"), Some("openai"));
    let sent = w.last_sent();
    assert_eq!(sent.url, "https://api.openai.com/v1/chat/completions");
    assert!(sent.headers.contains(&(
        "authorization".into(),
        "Bearer sk-callers-own-key-0000".into()
    )));
    // Without a gateway key elsewhere, the Bearer is not taken as one: 401.
    let a = post(
        &w,
        &[
            ("x-portkey-provider", "openai"),
            ("authorization", &format!("Bearer {TEST_GATEWAY_KEY}")),
        ],
        &chat("gpt-4o-mini"),
    );
    assert_eq!(a.status, 401, "{}", a.text());
    // No OpenAI key at all: 400 naming Authorization.
    let a = post(
        &w,
        &[
            ("x-portkey-provider", "openai"),
            ("x-portkey-api-key", TEST_GATEWAY_KEY),
        ],
        &chat("gpt-4o-mini"),
    );
    assert_eq!(a.status, 400);
    assert_eq!(a.json()["error"]["param"], "authorization");
}

#[test]
fn a_config_target_switching_to_openai_never_sends_the_gateway_key() {
    let w = world();
    let config = json!({"provider": "openai", "custom_host": "https://openai.example/v1"});
    let a = post(
        &w,
        &[
            ("authorization", &format!("Bearer {TEST_GATEWAY_KEY}")),
            ("x-portkey-config", &config.to_string()),
        ],
        &chat("gpt-4o-mini"),
    );
    assert_eq!(a.status, 400, "{}", a.text());
    assert!(w.sent.borrow().is_empty());
}

fn fallback_config(first: Value) -> String {
    json!({"strategy": {"mode": "fallback"}, "targets": [first,
        {"provider": "@bedrock-prod", "override_params": {"model": HAIKU}}]})
    .to_string()
}

fn bedrock_ok(w: &FakeWorld) {
    w.answer(Canned::json(
        200,
        &fixture_body("pydantic-ai/test_bedrock_model", 0),
    ));
}

#[test]
fn openai_to_bedrock_fallback() {
    for failure in [
        Canned::json(
            429,
            br#"{"error":{"message":"slow down","type":"requests","code":"rate_limit_exceeded"}}"#,
        ),
        Canned::json(
            500,
            br#"{"error":{"message":"boom","type":"server_error"}}"#,
        ),
    ] {
        let w = world();
        w.answer(failure);
        bedrock_ok(&w);
        let config = fallback_config(json!({"provider": "@openai-prod"}));
        let h = [
            ("x-portkey-api-key", TEST_GATEWAY_KEY),
            ("x-portkey-config", config.as_str()),
        ];
        let a = post(&w, &h, &chat("gpt-4o-mini"));
        assert_eq!(a.status, 200, "{}", a.text());
        assert_eq!(
            a.header("x-portkey-last-used-option-index"),
            Some("config.targets[1]")
        );
        assert_eq!(a.header("x-portkey-provider"), Some("@bedrock-prod"));
        let sent = w.sent.borrow();
        assert_eq!(sent.len(), 2);
        assert!(sent[0].url.starts_with("https://openai.example/v1"));
        assert!(sent[1]
            .url
            .contains("bedrock-runtime.us-east-1.amazonaws.com"));
        assert!(sent[1].url.contains(&HAIKU.replace(':', "%3A")));
    }
}

#[test]
fn inline_credentials_in_a_config() {
    let w = world();
    w.answer(Canned::json(500, b"{}"));
    bedrock_ok(&w);
    let config = json!({"strategy": {"mode": "fallback"}, "targets": [
        {"provider": "openai", "api_key": "sk-inline-0000000000", "custom_host": "https://openai.example/v1"},
        {"provider": "bedrock", "aws_access_key_id": "AKIDINLINE", "aws_secret_access_key": "inline/secret/x",
         "aws_region": "eu-west-1", "override_params": {"model": HAIKU}}]})
    .to_string();
    let h = [
        ("x-portkey-api-key", TEST_GATEWAY_KEY),
        ("x-portkey-config", config.as_str()),
    ];
    let a = post(&w, &h, &chat("gpt-4o-mini"));
    assert_eq!(a.status, 200, "{}", a.text());
    let sent = w.sent.borrow();
    assert!(sent[0]
        .headers
        .contains(&("authorization".into(), "Bearer sk-inline-0000000000".into())));
    let sigv4 = &sent[1]
        .headers
        .iter()
        .find(|(k, _)| k == "authorization")
        .unwrap()
        .1;
    assert!(sigv4.contains("Credential=AKIDINLINE/") && sigv4.contains("/eu-west-1/"));
    drop(sent);
    assert!(!w
        .logs
        .borrow()
        .iter()
        .any(|l| l.contains("sk-inline") || l.contains("inline/secret")));
    // Inline credentials are header credentials: a gateway key is required.
    let a = post(
        &w,
        &[("x-portkey-config", config.as_str())],
        &chat("gpt-4o-mini"),
    );
    assert_eq!(a.status, 401);
}

#[test]
fn messages_with_an_openai_target_is_a_400_and_a_fallback_moves_on() {
    let w = world();
    let body = json!({"model": "@openai-prod/gpt-4o-mini", "max_tokens": 5,
                      "messages": [{"role": "user", "content": "hi"}]});
    let a = run(
        &w,
        &settings(),
        request(
            "/v1/messages",
            &[("x-portkey-api-key", TEST_GATEWAY_KEY)],
            &body,
        ),
    );
    assert_eq!(a.status, 400, "{}", a.text());
    assert_eq!(a.json()["type"], "error");
    w.answer(Canned::json(
        200,
        json!({"id": "msg_1", "type": "message", "role": "assistant", "model": "claude",
               "content": [{"type": "text", "text": "Hello!"}], "stop_reason": "end_turn",
               "usage": {"input_tokens": 1, "output_tokens": 1}})
        .to_string()
        .as_bytes(),
    ));
    let config = fallback_config(json!({"provider": "@openai-prod"}));
    let a = run(
        &w,
        &settings(),
        request(
            "/v1/messages",
            &[
                ("x-portkey-api-key", TEST_GATEWAY_KEY),
                ("x-portkey-config", config.as_str()),
            ],
            &json!({"model": "gpt-4o-mini", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}),
        ),
    );
    assert_eq!(a.status, 200, "{}", a.text());
    assert_eq!(w.sent.borrow().len(), 1);
}

/// A saved config is shared by every key holder: credentials in it are refused (they would be
/// treated as the caller's own and could be signed toward a caller's custom host).
#[test]
fn saved_configs_may_not_hold_credentials() {
    let w = world();
    w.kv.0.borrow_mut().insert(
        "config:pc-leaky".into(),
        json!({"provider": "openai", "api_key": "sk-operator-secret-0000"}).to_string(),
    );
    let a = post(
        &w,
        &[
            ("x-portkey-api-key", TEST_GATEWAY_KEY),
            ("x-portkey-config", "pc-leaky"),
            ("x-portkey-custom-host", "https://attacker.example/v1"),
        ],
        &chat("gpt-4o-mini"),
    );
    assert_eq!(a.status, 500, "{}", a.text());
    assert!(!a.text().contains("sk-operator-secret"));
    assert!(w.sent.borrow().is_empty());
}

/// Forwarded headers never replace what a provider sets from its record.
#[test]
fn forwarded_headers_cannot_replace_the_records_organization() {
    let w = world();
    let h = [
        ("x-portkey-api-key", TEST_GATEWAY_KEY),
        ("x-portkey-forward-headers", "openai-organization"),
        ("openai-organization", "org-attacker"),
    ];
    let a = post(&w, &h, &chat("@openai-prod/gpt-4o-mini"));
    assert_eq!(a.status, 400, "{}", a.text());
    assert!(w.sent.borrow().is_empty());
}

/// Review findings: a stream that is complete without any content (a role chunk, then `[DONE]`)
/// is answered, not reported as interrupted; an in-stream error never shows the key.
#[test]
fn content_less_complete_streams_and_in_stream_errors() {
    let w = world();
    w.answer(sse(&[
        chunk(json!({"role": "assistant", "content": ""}), Value::Null),
        "data: [DONE]\n\n".into(),
    ]));
    let mut body = chat("@openai-prod/gpt-4o-mini");
    body["stream"] = json!(true);
    let h = [("x-portkey-api-key", TEST_GATEWAY_KEY)];
    let a = post(&w, &h, &body);
    assert_eq!(a.status, 200, "{}", a.text());
    assert!(a.text().ends_with("data: [DONE]\n\n"), "{}", a.text());
    w.answer(sse(&[format!(
        "data: {{\"error\":{{\"message\":\"bad key {OPENAI_KEY}\",\"type\":\"invalid_request_error\"}}}}\n\n"
    )]));
    let a = post(&w, &h, &body);
    assert!(a.status >= 400);
    assert!(!a.text().contains(OPENAI_KEY), "{}", a.text());
}
