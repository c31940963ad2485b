//! Gateway configs (`x-portkey-config`) through the real pipeline: fallback, retry, load
//! balancing, override_params, nested strategies, saved configs, and grants per target.

use crate::common::*;
use crate::streams;
use serde_json::{json, Value};

const NOVA: &str = "us.amazon.nova-micro-v1:0";
const CLAUDE: &str = "us.anthropic.claude-sonnet-4-20250514-v1:0";

fn chat(model: &str) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": "Hello!"}]})
}

fn record(region: &str, key_id: &str) -> Value {
    json!({"schema": 2, "provider": "bedrock", "aws_region": region,
        "auth": {"type": "access_key", "access_key_id": key_id, "secret_access_key": "catalog/secret/never-shown"}})
}

/// `@east` (us-east-1, AKIDEAST) and `@west` (us-west-2, AKIDWEST).
fn world() -> FakeWorld {
    let w = FakeWorld::default();
    w.put_record("east", record("us-east-1", "AKIDEAST"));
    w.put_record("west", record("us-west-2", "AKIDWEST"));
    w
}

fn ok(world: &FakeWorld) {
    world.answer(Canned::json(
        200,
        &fixture_body("pydantic-ai/test_bedrock_model", 0),
    ));
}

fn throttled() -> Canned {
    Canned::aws_error(429, "ThrottlingException", "Too many requests")
}

fn with_config(config: &Value) -> Vec<(&'static str, String)> {
    vec![
        ("x-portkey-api-key", TEST_GATEWAY_KEY.to_owned()),
        ("x-portkey-config", config.to_string()),
    ]
}

fn post(world: &FakeWorld, path: &str, headers: &[(&str, String)], body: &Value) -> Answer {
    let h: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
    run(world, &settings(), request(path, &h, body))
}

/// (url, access key id) of every upstream call, in order.
fn calls(world: &FakeWorld) -> Vec<(String, String)> {
    world
        .sent
        .borrow()
        .iter()
        .map(|r| {
            let auth = r
                .headers
                .iter()
                .find(|(k, _)| k == "authorization")
                .map(|(_, v)| v.clone())
                .unwrap_or_default();
            let key = auth
                .split("Credential=")
                .nth(1)
                .and_then(|c| c.split('/').next())
                .unwrap_or_default()
                .to_owned();
            (r.url.clone(), key)
        })
        .collect()
}

fn converse_url(region: &str, model: &str) -> String {
    format!(
        "https://bedrock-runtime.{region}.amazonaws.com/model/{}/converse",
        model.replace(':', "%3A")
    )
}

#[test]
fn fallback_from_a_throttled_target_to_the_next_slug() {
    let w = world();
    w.answer(throttled());
    ok(&w);
    let config = json!({"strategy": {"mode": "fallback"}, "targets": [{"provider": "@east"}, {"provider": "@west"}]});
    let a = post(
        &w,
        "/v1/chat/completions",
        &with_config(&config),
        &chat(NOVA),
    );
    assert_eq!(a.status, 200, "{}", a.text());
    assert_eq!(
        calls(&w),
        vec![
            (converse_url("us-east-1", NOVA), "AKIDEAST".to_owned()),
            (converse_url("us-west-2", NOVA), "AKIDWEST".to_owned()),
        ]
    );
    assert_eq!(
        a.header("x-portkey-last-used-option-index"),
        Some("config.targets[1]")
    );
    assert_eq!(a.header("x-portkey-retry-attempt-count"), Some("0"));
    assert_eq!(a.header("x-portkey-provider"), Some("@west"));
    assert_eq!(a.json()["object"], "chat.completion");
}

#[test]
fn when_every_target_fails_the_last_error_is_the_answer() {
    let w = world();
    w.answer(throttled());
    w.answer(Canned::aws_error(
        503,
        "ServiceUnavailableException",
        "Service unavailable.",
    ));
    let config = json!({"strategy": {"mode": "fallback"}, "targets": [{"virtual_key": "east"}, {"virtualKey": "west"}]});
    let a = post(
        &w,
        "/v1/chat/completions",
        &with_config(&config),
        &chat(NOVA),
    );
    assert_eq!(a.status, 503, "{}", a.text());
    assert_eq!(
        a.json()["error"]["message"],
        "Bedrock ServiceUnavailableException: Service unavailable."
    );
    assert_eq!(
        a.header("x-portkey-last-used-option-index"),
        Some("config.targets[1]")
    );
    assert_eq!(calls(&w).len(), 2);
}

#[test]
fn on_status_codes_limits_fallback() {
    let w = world();
    w.answer(Canned::aws_error(400, "ValidationException", "bad input"));
    let config = json!({"strategy": {"mode": "fallback", "on_status_codes": [429]},
        "targets": [{"provider": "@east"}, {"provider": "@west"}]});
    let a = post(
        &w,
        "/v1/chat/completions",
        &with_config(&config),
        &chat(NOVA),
    );
    assert_eq!(a.status, 400, "{}", a.text());
    assert_eq!(
        calls(&w).len(),
        1,
        "a 400 does not fall back when only 429 is listed"
    );
    assert_eq!(
        a.header("x-portkey-last-used-option-index"),
        Some("config.targets[0]")
    );

    // camelCase spelling, and a listed status moves on.
    w.sent.borrow_mut().clear();
    w.answer(throttled());
    ok(&w);
    let config = json!({"strategy": {"mode": "fallback", "onStatusCodes": [429]},
        "targets": [{"provider": "@east"}, {"provider": "@west"}]});
    let a = post(
        &w,
        "/v1/chat/completions",
        &with_config(&config),
        &chat(NOVA),
    );
    assert_eq!(a.status, 200, "{}", a.text());
    assert_eq!(calls(&w).len(), 2);
}

#[test]
fn retries_with_backoff_and_the_retry_header() {
    let w = world();
    w.answer(throttled());
    w.answer(Canned::aws_error(500, "InternalServerException", "oops"));
    ok(&w);
    let before = *w.now.borrow();
    let config = json!({"retry": {"attempts": 3}, "provider": "@east"});
    let a = post(
        &w,
        "/v1/chat/completions",
        &with_config(&config),
        &chat(NOVA),
    );
    assert_eq!(a.status, 200, "{}", a.text());
    assert_eq!(a.header("x-portkey-retry-attempt-count"), Some("2"));
    assert_eq!(a.header("x-portkey-last-used-option-index"), Some("config"));
    assert_eq!(calls(&w).len(), 3);
    assert!(calls(&w).iter().all(|(_, k)| k == "AKIDEAST"));
    // 100 ms, then 200 ms, on the platform's timer.
    assert!(*w.now.borrow() - before >= 300);

    // Attempts spent: the error is the answer, with the count.
    w.sent.borrow_mut().clear();
    for _ in 0..3 {
        w.answer(throttled());
    }
    let config = json!({"retry": {"attempts": 2}, "provider": "@east"});
    let a = post(
        &w,
        "/v1/chat/completions",
        &with_config(&config),
        &chat(NOVA),
    );
    assert_eq!(a.status, 429);
    assert_eq!(a.header("x-portkey-retry-attempt-count"), Some("2"));
    assert_eq!(calls(&w).len(), 3);

    // Statuses not listed are not retried.
    w.sent.borrow_mut().clear();
    w.answer(throttled());
    let config = json!({"retry": {"attempts": 2, "on_status_codes": [503]}, "provider": "@east"});
    let a = post(
        &w,
        "/v1/chat/completions",
        &with_config(&config),
        &chat(NOVA),
    );
    assert_eq!(a.status, 429);
    assert_eq!(a.header("x-portkey-retry-attempt-count"), Some("0"));
    assert_eq!(calls(&w).len(), 1);
}

#[test]
fn retry_then_fallback_counts_retries_on_the_final_target() {
    let w = world();
    w.answer(throttled());
    w.answer(throttled());
    w.answer(throttled());
    ok(&w);
    let config = json!({"retry": {"attempts": 1}, "strategy": {"mode": "fallback"},
        "targets": [{"provider": "@east"}, {"provider": "@west"}]});
    let a = post(
        &w,
        "/v1/chat/completions",
        &with_config(&config),
        &chat(NOVA),
    );
    assert_eq!(a.status, 200, "{}", a.text());
    let keys: Vec<String> = calls(&w).into_iter().map(|(_, k)| k).collect();
    assert_eq!(keys, ["AKIDEAST", "AKIDEAST", "AKIDWEST", "AKIDWEST"]);
    assert_eq!(a.header("x-portkey-retry-attempt-count"), Some("1"));
    assert_eq!(
        a.header("x-portkey-last-used-option-index"),
        Some("config.targets[1]")
    );
}

#[test]
fn loadbalance_by_weight() {
    let w = world();
    let zero = json!({"strategy": {"mode": "loadbalance"},
        "targets": [{"provider": "@east", "weight": 0}, {"provider": "@west", "weight": 1}]});
    for _ in 0..20 {
        ok(&w);
        let a = post(&w, "/v1/chat/completions", &with_config(&zero), &chat(NOVA));
        assert_eq!(a.status, 200, "{}", a.text());
        assert_eq!(
            a.header("x-portkey-last-used-option-index"),
            Some("config.targets[1]")
        );
    }
    assert!(calls(&w).iter().all(|(_, k)| k == "AKIDWEST"));

    w.sent.borrow_mut().clear();
    let even = json!({"strategy": {"mode": "loadbalance"},
        "targets": [{"provider": "@east", "weight": 0.5}, {"provider": "@west", "weight": 0.5}]});
    for _ in 0..64 {
        ok(&w);
        let a = post(&w, "/v1/chat/completions", &with_config(&even), &chat(NOVA));
        assert_eq!(a.status, 200, "{}", a.text());
    }
    let keys: Vec<String> = calls(&w).into_iter().map(|(_, k)| k).collect();
    // 64 fair draws all landing on one side: 2^-63.
    assert!(keys.iter().any(|k| k == "AKIDEAST"), "{keys:?}");
    assert!(keys.iter().any(|k| k == "AKIDWEST"), "{keys:?}");
}

#[test]
fn override_params_config_then_target() {
    let w = world();
    ok(&w);
    let config = json!({"override_params": {"max_tokens": 5, "temperature": 0.5},
        "strategy": {"mode": "single"},
        "targets": [{"provider": "@east", "overrideParams": {"model": "us.amazon.nova-lite-v1:0", "max_tokens": 7}}]});
    let a = post(
        &w,
        "/v1/chat/completions",
        &with_config(&config),
        &json!({"model": "@west/whatever", "max_tokens": 1, "messages": [{"role": "user", "content": "Hello!"}]}),
    );
    assert_eq!(a.status, 200, "{}", a.text());
    // The target's provider wins over the body's @slug; its model and max_tokens over the config's.
    assert_eq!(
        calls(&w),
        vec![(
            converse_url("us-east-1", "us.amazon.nova-lite-v1:0"),
            "AKIDEAST".to_owned()
        )]
    );
    assert_eq!(
        w.last_body()["inferenceConfig"],
        json!({"maxTokens": 7, "temperature": 0.5})
    );
    assert_eq!(a.json()["model"], "us.amazon.nova-lite-v1:0");
}

#[test]
fn nested_strategies() {
    let w = world();
    w.put_record("north", record("eu-north-1", "AKIDNORTH"));
    // Outer fallback: first an inner fallback over east → west, then north.
    let config = json!({"strategy": {"mode": "fallback"}, "targets": [
        {"strategy": {"mode": "fallback", "on_status_codes": [429]},
         "targets": [{"provider": "@east"}, {"provider": "@west"}]},
        {"strategy": {"mode": "loadbalance"},
         "targets": [{"provider": "@east", "weight": 0}, {"provider": "@north"}]}]});
    w.answer(throttled());
    w.answer(Canned::aws_error(500, "InternalServerException", "oops"));
    ok(&w);
    let a = post(
        &w,
        "/v1/chat/completions",
        &with_config(&config),
        &chat(NOVA),
    );
    assert_eq!(a.status, 200, "{}", a.text());
    let keys: Vec<String> = calls(&w).into_iter().map(|(_, k)| k).collect();
    assert_eq!(keys, ["AKIDEAST", "AKIDWEST", "AKIDNORTH"]);
    assert_eq!(
        a.header("x-portkey-last-used-option-index"),
        Some("config.targets[1].targets[1]")
    );
}

#[test]
fn saved_config_from_kv() {
    let w = world();
    w.kv.0.borrow_mut().insert(
        "config:pc-prod-1".into(),
        json!({"strategy": {"mode": "fallback"}, "targets": [{"provider": "@east"}, {"provider": "@west"}]}).to_string(),
    );
    w.answer(throttled());
    ok(&w);
    let h = vec![
        ("x-portkey-api-key", TEST_GATEWAY_KEY.to_owned()),
        ("x-portkey-config", "pc-prod-1".to_owned()),
    ];
    let a = post(&w, "/v1/chat/completions", &h, &chat(NOVA));
    assert_eq!(a.status, 200, "{}", a.text());
    assert_eq!(
        a.header("x-portkey-last-used-option-index"),
        Some("config.targets[1]")
    );

    let h = vec![
        ("x-portkey-api-key", TEST_GATEWAY_KEY.to_owned()),
        ("x-portkey-config", "pc-missing".to_owned()),
    ];
    let a = post(&w, "/v1/chat/completions", &h, &chat(NOVA));
    assert_eq!(a.status, 400, "{}", a.text());
    assert_eq!(a.json()["error"]["param"], "x-portkey-config");
    assert_eq!(a.json()["error"]["code"], "unknown_config");
}

#[test]
fn invalid_configs_are_400_naming_the_header() {
    let w = world();
    for raw in [
        "{not json",
        r#"{"strategy":{"mode":"roundrobin"},"targets":[{"provider":"@east"}]}"#,
        r#"{"strategy":{"mode":"fallback"},"targets":[]}"#,
        r#"{"retry":{"attempts":9},"provider":"@east"}"#,
        r#"{"provider":"azure-openai"}"#,
        "id with spaces",
    ] {
        for path in ["/v1/chat/completions", "/v1/messages"] {
            let h = vec![
                ("x-portkey-api-key", TEST_GATEWAY_KEY.to_owned()),
                ("x-portkey-config", raw.to_owned()),
            ];
            let a = post(&w, path, &h, &chat(CLAUDE));
            assert_eq!(a.status, 400, "{raw}: {}", a.text());
            assert!(a.text().contains("x-portkey-config"), "{raw}: {}", a.text());
        }
    }
    assert!(w.sent.borrow().is_empty());
}

#[test]
fn grants_apply_per_target() {
    let w = world();
    const EAST_ONLY: &str = "ek_east_only_key_0000000000000000000000";
    w.put_key(
        EAST_ONLY,
        json!({"name": "east-only", "providers": ["east"], "enabled": true}),
    );
    let h = |config: &Value| {
        vec![
            ("x-portkey-api-key", EAST_ONLY.to_owned()),
            ("x-portkey-config", config.to_string()),
        ]
    };
    // Decision: a refused target is a failure like any other: with the default (any non-2xx)
    // fallback moves on to the next target...
    ok(&w);
    let config = json!({"strategy": {"mode": "fallback"}, "targets": [{"provider": "@west"}, {"provider": "@east"}]});
    let a = post(&w, "/v1/chat/completions", &h(&config), &chat(NOVA));
    assert_eq!(a.status, 200, "{}", a.text());
    assert_eq!(
        calls(&w),
        vec![(converse_url("us-east-1", NOVA), "AKIDEAST".to_owned())]
    );
    // ...and with a list that does not hold 403 the refusal is the answer; nothing is sent.
    w.sent.borrow_mut().clear();
    let config = json!({"strategy": {"mode": "fallback", "on_status_codes": [429]},
        "targets": [{"provider": "@west"}, {"provider": "@east"}]});
    let a = post(&w, "/v1/chat/completions", &h(&config), &chat(NOVA));
    assert_eq!(a.status, 403, "{}", a.text());
    assert_eq!(a.json()["error"]["code"], "provider_not_granted");
    assert!(w.sent.borrow().is_empty());
    // A refused target is never retried (403 is not a retry status).
    let config = json!({"retry": {"attempts": 3}, "provider": "@west"});
    let a = post(&w, "/v1/chat/completions", &h(&config), &chat(NOVA));
    assert_eq!(a.status, 403);
    assert_eq!(a.header("x-portkey-retry-attempt-count"), Some("0"));
}

#[test]
fn custom_host_follows_the_trust_rules() {
    let w = world();
    // Catalog credentials toward a host the caller chose: refused before anything is sent.
    let config = json!({"provider": "@east", "custom_host": "https://proxy.example.com"});
    let a = post(
        &w,
        "/v1/chat/completions",
        &with_config(&config),
        &chat(NOVA),
    );
    assert_eq!(a.status, 403, "{}", a.text());
    assert_eq!(a.json()["error"]["code"], "custom_host_not_trusted");
    assert!(w.sent.borrow().is_empty());
    // Header credentials may go to the caller's own host.
    ok(&w);
    let mut h: Vec<(&str, String)> = HEADER_CREDS
        .iter()
        .filter(|(k, _)| *k != "x-portkey-provider")
        .map(|(k, v)| (*k, (*v).to_owned()))
        .collect();
    h.push((
        "x-portkey-config",
        json!({"provider": "bedrock", "customHost": "https://proxy.example.com"}).to_string(),
    ));
    let a = post(&w, "/v1/chat/completions", &h, &chat(NOVA));
    assert_eq!(a.status, 200, "{}", a.text());
    assert!(w
        .last_sent()
        .url
        .starts_with("https://proxy.example.com/model/"));
    assert_eq!(a.header("x-portkey-provider"), Some("bedrock"));
}

fn complete_stream() -> Vec<u8> {
    let mut b = streams::event("messageStart", json!({"role": "assistant"}));
    b.extend(streams::event(
        "contentBlockDelta",
        json!({"contentBlockIndex": 0, "delta": {"text": "Hi"}}),
    ));
    b.extend(streams::event(
        "contentBlockStop",
        json!({"contentBlockIndex": 0}),
    ));
    b.extend(streams::event(
        "messageStop",
        json!({"stopReason": "end_turn"}),
    ));
    b
}

#[test]
fn streams_fall_back_on_a_first_frame_throttling_exception() {
    let w = world();
    w.answer(Canned::stream(&streams::exception(
        "throttlingException",
        "Too many tokens",
    )));
    w.answer(Canned::stream(&complete_stream()));
    let config = json!({"strategy": {"mode": "fallback"}, "targets": [{"provider": "@east"}, {"provider": "@west"}]});
    let mut body = chat(NOVA);
    body["stream"] = json!(true);
    let a = post(&w, "/v1/chat/completions", &with_config(&config), &body);
    assert_eq!(a.status, 200, "{}", a.text());
    let text = a.text();
    assert!(text.contains("\"content\":\"Hi\""), "{text}");
    assert!(text.ends_with("data: [DONE]\n\n"), "{text}");
    assert!(!text.contains("error"), "{text}");
    let urls: Vec<String> = calls(&w).into_iter().map(|(u, _)| u).collect();
    assert!(urls[0].contains("us-east-1") && urls[0].ends_with("/converse-stream"));
    assert!(urls[1].contains("us-west-2"));
    assert_eq!(
        a.header("x-portkey-last-used-option-index"),
        Some("config.targets[1]")
    );

    // Once content went out, an exception is an in-stream error: no second try.
    w.sent.borrow_mut().clear();
    let mut late = streams::event("messageStart", json!({"role": "assistant"}));
    late.extend(streams::exception("throttlingException", "slow down"));
    w.answer(Canned::stream(&late));
    let a = post(&w, "/v1/chat/completions", &with_config(&config), &body);
    assert_eq!(a.status, 200);
    assert!(a.text().contains("data: {\"error\""), "{}", a.text());
    assert_eq!(calls(&w).len(), 1);
}

fn hello_message() -> Value {
    json!({"id": "msg_bdrk_01", "type": "message", "role": "assistant", "model": "claude-sonnet-4-20250514",
        "content": [{"type": "text", "text": "Hello!"}], "stop_reason": "end_turn", "stop_sequence": null,
        "usage": {"input_tokens": 12, "output_tokens": 5}})
}

#[test]
fn messages_route_falls_back_with_anthropic_shaped_errors() {
    let w = world();
    w.answer(throttled());
    w.answer(Canned::json(200, hello_message().to_string().as_bytes()));
    let config = json!({"strategy": {"mode": "fallback"}, "targets": [{"provider": "@east"},
        {"provider": "@west", "override_params": {"max_tokens": 99}}]});
    let body =
        json!({"model": CLAUDE, "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]});
    let a = post(&w, "/v1/messages", &with_config(&config), &body);
    assert_eq!(a.status, 200, "{}", a.text());
    assert_eq!(a.json()["content"][0]["text"], "Hello!");
    let urls: Vec<String> = calls(&w).into_iter().map(|(u, _)| u).collect();
    assert!(urls[0].contains("us-east-1") && urls[0].ends_with("/invoke"));
    assert!(urls[1].contains("us-west-2"));
    assert_eq!(w.last_body()["max_tokens"], 99);
    assert_eq!(
        a.header("x-portkey-last-used-option-index"),
        Some("config.targets[1]")
    );

    // All fail: the last error, Anthropic-shaped.
    w.answer(throttled());
    w.answer(throttled());
    let a = post(&w, "/v1/messages", &with_config(&config), &body);
    assert_eq!(a.status, 429);
    assert_eq!(a.json()["type"], "error");
    assert_eq!(a.json()["error"]["type"], "rate_limit_error");
}

#[test]
fn count_tokens_uses_the_first_target_once() {
    let w = world();
    w.answer(Canned::json(200, br#"{"inputTokens": 42}"#));
    let config = json!({"strategy": {"mode": "fallback"}, "targets": [{"provider": "@west"}, {"provider": "@east"}]});
    let body = json!({"model": CLAUDE, "messages": [{"role": "user", "content": "hi"}]});
    let a = post(
        &w,
        "/v1/messages/count_tokens",
        &with_config(&config),
        &body,
    );
    assert_eq!(a.status, 200, "{}", a.text());
    assert_eq!(a.json(), json!({"input_tokens": 42}));
    let (url, key) = calls(&w).remove(0);
    assert!(
        url.contains("us-west-2") && url.ends_with("/count-tokens"),
        "{url}"
    );
    assert_eq!(key, "AKIDWEST");
    assert_eq!(
        a.header("x-portkey-last-used-option-index"),
        Some("config.targets[0]")
    );
}

#[test]
fn without_a_config_nothing_changes() {
    let w = world();
    w.answer(throttled());
    let h = vec![
        ("x-portkey-api-key", TEST_GATEWAY_KEY.to_owned()),
        ("x-portkey-provider", "@east".to_owned()),
    ];
    let a = post(&w, "/v1/chat/completions", &h, &chat(NOVA));
    assert_eq!(a.status, 429);
    assert_eq!(calls(&w).len(), 1);
    assert_eq!(a.header("x-portkey-retry-attempt-count"), None);
    assert_eq!(a.header("x-portkey-last-used-option-index"), None);
}
