//! Conditional routing and the simple cache in gateway configs, through the real pipeline.

use crate::common::*;
use crate::streams;
use serde_json::{json, Value};

const NOVA: &str = "us.amazon.nova-micro-v1:0";
const CLAUDE: &str = "us.anthropic.claude-sonnet-4-20250514-v1:0";
/// A second key with the same *name* as TEST_GATEWAY_KEY: names are labels, not identities.
const OTHER_KEY: &str = "ek_test_other_team_fedcba9876543210";

fn chat(model: &str) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": "Hello!"}]})
}

fn record(region: &str, key_id: &str) -> Value {
    json!({"schema": 2, "provider": "bedrock", "aws_region": region,
        "auth": {"type": "access_key", "access_key_id": key_id, "secret_access_key": "catalog/secret/never-shown"}})
}

/// `@east` (us-east-1) and `@west` (us-west-2).
fn world() -> FakeWorld {
    let w = FakeWorld::default();
    w.put_record("east", record("us-east-1", "AKIDEAST"));
    w.put_record("west", record("us-west-2", "AKIDWEST"));
    w.put_key(
        OTHER_KEY,
        json!({"name": "test-all", "providers": ["*"], "enabled": true}),
    );
    w
}

fn ok(world: &FakeWorld) {
    world.answer(Canned::json(
        200,
        &fixture_body("pydantic-ai/test_bedrock_model", 0),
    ));
}

fn headers(config: &Value, extra: &[(&'static str, &str)]) -> Vec<(&'static str, String)> {
    let mut h = vec![
        ("x-portkey-api-key", TEST_GATEWAY_KEY.to_owned()),
        ("x-portkey-config", config.to_string()),
    ];
    for (k, v) in extra {
        h.retain(|(name, _)| name != k);
        h.push((*k, (*v).to_owned()));
    }
    h
}

fn post(world: &FakeWorld, path: &str, headers: &[(&str, String)], body: &Value) -> Answer {
    let h: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
    run(world, &settings(), request(path, &h, body))
}

/// The region of every upstream call, in order.
fn regions(world: &FakeWorld) -> Vec<String> {
    world
        .sent
        .borrow()
        .iter()
        .map(|r| {
            r.url
                .trim_start_matches("https://bedrock-runtime.")
                .split('.')
                .next()
                .unwrap_or_default()
                .to_owned()
        })
        .collect()
}

fn conditional() -> Value {
    json!({
        "strategy": {"mode": "conditional",
            "conditions": [
                {"query": {"metadata.user_plan": {"$eq": "paid"}}, "then": "finetuned"},
                {"query": {"$and": [{"params.max_tokens": {"$gte": 1000}}, {"params.user": {"$ne": "batch"}}]}, "then": "finetuned"}],
            "default": "base"},
        "targets": [
            {"name": "base", "provider": "@east"},
            {"name": "finetuned", "provider": "@west", "override_params": {"model": CLAUDE}}]})
}

#[test]
fn conditional_routes_by_metadata_and_params() {
    let w = world();
    let config = conditional();
    let cases: [(&str, Value, &str, &str); 4] = [
        (
            r#"{"user_plan":"paid"}"#,
            chat(NOVA),
            "us-west-2",
            "config.targets[1]",
        ),
        (
            r#"{"user_plan":"free"}"#,
            chat(NOVA),
            "us-east-1",
            "config.targets[0]",
        ),
        (
            "{}",
            json!({"model": NOVA, "max_tokens": 2000, "messages": [{"role": "user", "content": "Hello!"}]}),
            "us-west-2",
            "config.targets[1]",
        ),
        (
            "{}",
            json!({"model": NOVA, "max_tokens": 2000, "user": "batch", "messages": [{"role": "user", "content": "Hello!"}]}),
            "us-east-1",
            "config.targets[0]",
        ),
    ];
    for (metadata, body, region, index) in cases {
        w.sent.borrow_mut().clear();
        ok(&w);
        let h = headers(&config, &[("x-portkey-metadata", metadata)]);
        let a = post(&w, "/v1/chat/completions", &h, &body);
        assert_eq!(a.status, 200, "{metadata}: {}", a.text());
        assert_eq!(regions(&w), vec![region.to_owned()], "{metadata} {body}");
        assert_eq!(a.header("x-portkey-last-used-option-index"), Some(index));
        assert_eq!(a.header("x-portkey-cache-status"), None);
    }
    // The chosen target's override_params apply.
    ok(&w);
    let h = headers(
        &config,
        &[("x-portkey-metadata", r#"{"user_plan":"paid"}"#)],
    );
    post(&w, "/v1/chat/completions", &h, &chat(NOVA));
    assert!(w.last_sent().url.contains("claude-sonnet-4"));
    // Metadata that is not a JSON object of strings is refused before anything is routed.
    w.sent.borrow_mut().clear();
    for bad in ["not json", r#"{"user_plan": 1}"#] {
        let h = headers(&config, &[("x-portkey-metadata", bad)]);
        let a = post(&w, "/v1/chat/completions", &h, &chat(NOVA));
        assert_eq!(a.status, 400, "{bad}");
        assert_eq!(a.json()["error"]["param"], "x-portkey-metadata");
    }
    assert!(w.sent.borrow().is_empty());
}

#[test]
fn conditional_nested_in_fallback_and_on_messages() {
    let w = world();
    // A conditional whose choice fails hands the error up; the outer fallback moves on.
    w.answer(Canned::aws_error(429, "ThrottlingException", "slow down"));
    w.answer(Canned::json(
        200,
        json!({"id": "msg_bdrk_01", "type": "message", "role": "assistant", "model": "claude",
            "content": [{"type": "text", "text": "Hello!"}], "stop_reason": "end_turn",
            "stop_sequence": null, "usage": {"input_tokens": 1, "output_tokens": 1}})
        .to_string()
        .as_bytes(),
    ));
    let config = json!({"strategy": {"mode": "fallback"}, "targets": [
        {"strategy": {"mode": "conditional", "conditions": [
            {"query": {"$or": [{"metadata.team": {"$in": ["a", "b"]}}, {"metadata.team": {"$eq": "c"}}]}, "then": "w"}]},
         "targets": [{"name": "e", "provider": "@east"}, {"name": "w", "provider": "@west"}]},
        {"provider": "@east"}]});
    let h = headers(&config, &[("x-portkey-metadata", r#"{"team":"b"}"#)]);
    let body =
        json!({"model": CLAUDE, "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]});
    let a = post(&w, "/v1/messages", &h, &body);
    assert_eq!(a.status, 200, "{}", a.text());
    assert_eq!(regions(&w), vec!["us-west-2", "us-east-1"]);
    assert_eq!(
        a.header("x-portkey-last-used-option-index"),
        Some("config.targets[1]")
    );
    // No condition matches and there is no default: a 400 naming the header, nothing sent.
    w.sent.borrow_mut().clear();
    let h = headers(&config, &[("x-portkey-metadata", r#"{"team":"z"}"#)]);
    let a = post(&w, "/v1/messages", &h, &body);
    assert_eq!(a.status, 400, "{}", a.text());
    assert_eq!(a.json()["error"]["type"], "invalid_request_error");
    assert!(a.text().contains("x-portkey-config"), "{}", a.text());
    assert!(w.sent.borrow().is_empty());
}

#[test]
fn conditional_config_errors_are_400() {
    let w = world();
    for config in [
        json!({"strategy": {"mode": "conditional", "conditions": [{"query": {"metadata.a": "b"}, "then": "nope"}]},
            "targets": [{"name": "x", "provider": "@east"}]}),
        json!({"strategy": {"mode": "conditional", "conditions": [], "default": "nope"},
            "targets": [{"name": "x", "provider": "@east"}]}),
        json!({"strategy": {"mode": "conditional", "conditions": [{"query": {"metadata.a": {"$regex": "^b"}}, "then": "x"}]},
            "targets": [{"name": "x", "provider": "@east"}]}),
        json!({"cache": {"mode": "semantic"}, "provider": "@east"}),
    ] {
        let a = post(
            &w,
            "/v1/chat/completions",
            &headers(&config, &[]),
            &chat(NOVA),
        );
        assert_eq!(a.status, 400, "{config}: {}", a.text());
        assert_eq!(a.json()["error"]["param"], "x-portkey-config");
    }
    assert!(w.sent.borrow().is_empty());
}

fn cached() -> Value {
    json!({"provider": "@east", "cache": {"mode": "simple", "max_age": 300}})
}

fn cache_entries(w: &FakeWorld) -> Vec<(String, String, Option<u64>)> {
    let ttls = w.kv.1.borrow();
    let mut out: Vec<_> =
        w.kv.0
            .borrow()
            .iter()
            .filter(|(k, _)| k.starts_with("cache:"))
            .map(|(k, v)| (k.clone(), v.clone(), ttls.get(k).copied().flatten()))
            .collect();
    out.sort();
    out
}

#[test]
fn cache_miss_then_hit_calls_upstream_once() {
    let w = world();
    ok(&w);
    let h = headers(&cached(), &[]);
    let first = post(&w, "/v1/chat/completions", &h, &chat(NOVA));
    assert_eq!(first.status, 200, "{}", first.text());
    assert_eq!(first.header("x-portkey-cache-status"), Some("MISS"));
    let entries = cache_entries(&w);
    assert_eq!(entries.len(), 1);
    let (key, stored, ttl) = &entries[0];
    assert!(key.len() == "cache:".len() + 64, "{key}");
    assert_eq!(*ttl, Some(300));
    assert!(!stored.contains("never-shown") && !stored.contains("AKID"));

    // Same request, other field order, `stream: false`: a hit, upstream not called again.
    let again = json!({"messages": [{"content": "Hello!", "role": "user"}], "stream": false, "model": NOVA});
    let second = post(&w, "/v1/chat/completions", &h, &again);
    assert_eq!(second.status, 200);
    assert_eq!(second.header("x-portkey-cache-status"), Some("HIT"));
    assert_eq!(second.json(), first.json()); // the stored answer as is, id included
    assert_eq!(second.header("x-portkey-provider"), Some("@east"));
    assert_eq!(w.sent.borrow().len(), 1);
}

#[test]
fn cache_entries_are_per_key_body_and_target() {
    let w = world();
    let h = headers(&cached(), &[]);
    ok(&w);
    post(&w, "/v1/chat/completions", &h, &chat(NOVA));
    // Another gateway key (same name), another body, another provider: all misses.
    let other_key = headers(&cached(), &[("x-portkey-api-key", OTHER_KEY)]);
    let mut other_body = chat(NOVA);
    other_body["max_tokens"] = json!(5);
    let west = headers(
        &json!({"provider": "@west", "cache": {"mode": "simple"}}),
        &[],
    );
    for (h, body) in [
        (&other_key, chat(NOVA)),
        (&h, other_body),
        (&west, chat(NOVA)),
    ] {
        ok(&w);
        let a = post(&w, "/v1/chat/completions", h, &body);
        assert_eq!(a.header("x-portkey-cache-status"), Some("MISS"));
    }
    assert_eq!(w.sent.borrow().len(), 4);
    let entries = cache_entries(&w);
    assert_eq!(entries.len(), 4);
    // max_age absent: one day.
    assert!(entries.iter().any(|(_, _, ttl)| *ttl == Some(86_400)));
}

#[test]
fn force_refresh_skips_the_read_and_rewrites() {
    let w = world();
    let h = headers(&cached(), &[]);
    ok(&w);
    let first = post(&w, "/v1/chat/completions", &h, &chat(NOVA));
    ok(&w);
    let refresh = headers(&cached(), &[("x-portkey-cache-force-refresh", "true")]);
    let second = post(&w, "/v1/chat/completions", &refresh, &chat(NOVA));
    assert_eq!(second.header("x-portkey-cache-status"), Some("MISS"));
    assert_eq!(w.sent.borrow().len(), 2);
    assert_ne!(first.json()["id"], second.json()["id"]);
    // The rewritten answer is what the next hit returns.
    let third = post(&w, "/v1/chat/completions", &h, &chat(NOVA));
    assert_eq!(third.header("x-portkey-cache-status"), Some("HIT"));
    assert_eq!(third.json()["id"], second.json()["id"]);
    assert_eq!(w.sent.borrow().len(), 2);
}

#[test]
fn errors_and_streams_are_not_cached() {
    let w = world();
    let h = headers(&cached(), &[]);
    w.answer(Canned::aws_error(400, "ValidationException", "bad"));
    let a = post(&w, "/v1/chat/completions", &h, &chat(NOVA));
    assert_eq!(a.status, 400);
    assert_eq!(a.header("x-portkey-cache-status"), None);
    assert!(cache_entries(&w).is_empty());

    let mut stream = streams::event("messageStart", json!({"role": "assistant"}));
    stream.extend(streams::event(
        "contentBlockDelta",
        json!({"contentBlockIndex": 0, "delta": {"text": "Hi"}}),
    ));
    stream.extend(streams::event(
        "messageStop",
        json!({"stopReason": "end_turn"}),
    ));
    let mut body = chat(NOVA);
    body["stream"] = json!(true);
    for _ in 0..2 {
        w.answer(Canned::stream(&stream));
        let a = post(&w, "/v1/chat/completions", &h, &body);
        assert_eq!(a.status, 200, "{}", a.text());
        assert!(a.text().contains("data: [DONE]"));
        assert_eq!(a.header("x-portkey-cache-status"), Some("DISABLED"));
    }
    assert!(cache_entries(&w).is_empty());
    assert_eq!(w.sent.borrow().len(), 3);

    // Without `cache` in the config: no header, nothing stored.
    ok(&w);
    let plain = headers(&json!({"provider": "@east"}), &[]);
    let a = post(&w, "/v1/chat/completions", &plain, &chat(NOVA));
    assert_eq!(a.status, 200);
    assert_eq!(a.header("x-portkey-cache-status"), None);
    assert!(cache_entries(&w).is_empty());
}

#[test]
fn short_max_age_is_raised_to_kv_minimum_and_messages_are_cached() {
    let w = world();
    let config = json!({"provider": "@east", "cache": {"mode": "simple", "maxAge": 5}});
    let h = headers(&config, &[]);
    w.answer(Canned::json(
        200,
        json!({"id": "msg_bdrk_01", "type": "message", "role": "assistant", "model": "claude",
            "content": [{"type": "text", "text": "Hello!"}], "stop_reason": "end_turn",
            "stop_sequence": null, "usage": {"input_tokens": 1, "output_tokens": 1}})
        .to_string()
        .as_bytes(),
    ));
    let body =
        json!({"model": CLAUDE, "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]});
    let first = post(&w, "/v1/messages", &h, &body);
    assert_eq!(first.status, 200, "{}", first.text());
    assert_eq!(first.header("x-portkey-cache-status"), Some("MISS"));
    let second = post(&w, "/v1/messages", &h, &body);
    assert_eq!(second.header("x-portkey-cache-status"), Some("HIT"));
    assert_eq!(second.json(), first.json());
    assert_eq!(w.sent.borrow().len(), 1);
    let entries = cache_entries(&w);
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].2, Some(60));
    // The same body on chat completions is a different entry.
    ok(&w);
    let a = post(&w, "/v1/chat/completions", &h, &body);
    assert_eq!(
        a.header("x-portkey-cache-status"),
        Some("MISS"),
        "{}",
        a.text()
    );
}

#[test]
fn callers_without_a_key_share_nothing_across_credentials() {
    let w = world();
    let s = edgeport::gateway::Settings::from_vars(&edgeport::gateway::Vars {
        catalog_key: Some(TEST_CATALOG_KEY),
        allow_header_credentials_without_key: Some("true"),
        ..Default::default()
    });
    let config = json!({"cache": {"mode": "simple"}}).to_string();
    let mut h: Vec<(&str, &str)> = HEADER_CREDS
        .iter()
        .filter(|(k, _)| *k != "x-portkey-api-key")
        .copied()
        .collect();
    h.push(("x-portkey-config", &config));
    ok(&w);
    let a = run(&w, &s, request("/v1/chat/completions", &h, &chat(NOVA)));
    assert_eq!(
        a.header("x-portkey-cache-status"),
        Some("MISS"),
        "{}",
        a.text()
    );
    let a = run(&w, &s, request("/v1/chat/completions", &h, &chat(NOVA)));
    assert_eq!(a.header("x-portkey-cache-status"), Some("HIT"));
    // Same access key id, a made-up secret: a miss (and Bedrock would decide).
    for (k, v) in h.iter_mut() {
        if *k == "x-portkey-aws-secret-access-key" {
            *v = "made/up/secret";
        }
    }
    ok(&w);
    let a = run(&w, &s, request("/v1/chat/completions", &h, &chat(NOVA)));
    assert_eq!(a.header("x-portkey-cache-status"), Some("MISS"));
    assert_eq!(w.sent.borrow().len(), 2);
}
