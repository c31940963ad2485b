//! The log line, traces, usage, cost and the Analytics Engine data point, through the real
//! pipeline against the fake world.

use crate::common::*;
use crate::streams;
use edgeport::gateway::Settings;
use edgeport::platform::DataPoint;
use serde_json::{json, Value};

const SONNET: &str = "us.anthropic.claude-sonnet-4-5-20250929-v1:0";

fn chat(model: &str) -> Value {
    json!({"model": model, "user": "u-7", "messages": [{"role": "user", "content": "Hello!"}]})
}

/// A Converse answer with every kind of token.
fn converse_with_cache() -> Vec<u8> {
    serde_json::to_vec(&json!({
        "output": {"message": {"role": "assistant", "content": [{"text": "Hi"}]}},
        "stopReason": "end_turn",
        "usage": {"inputTokens": 100, "outputTokens": 50, "totalTokens": 1350,
                  "cacheReadInputTokens": 1000, "cacheWriteInputTokens": 200}
    }))
    .unwrap()
}

fn lines(w: &FakeWorld) -> Vec<Value> {
    w.logs
        .borrow()
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|l| l.get("route").is_some())
        .collect()
}

fn last_line(w: &FakeWorld) -> Value {
    lines(w).pop().expect("a request log line")
}

fn headers<'a>(extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut h = HEADER_CREDS.to_vec();
    h.extend_from_slice(extra);
    h
}

fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len
        && s.bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

#[test]
fn a_json_answer_logs_its_usage_and_cost() {
    let w = FakeWorld::default();
    w.answer(Canned::json(200, &converse_with_cache()));
    let a = run(
        &w,
        &settings(),
        request("/v1/chat/completions", &headers(&[]), &chat(SONNET)),
    );
    assert_eq!(a.status, 200, "{}", a.text());
    let line = last_line(&w);
    assert_eq!(line["route"], "chat");
    assert_eq!(
        line["usage"],
        json!({"input_tokens": 100, "output_tokens": 50, "cache_read_tokens": 1000, "cache_write_tokens": 200})
    );
    // us. profile: the regional row (10% over global): 100×3.3 + 50×16.5 + 1000×0.33 + 200×4.125
    // = 330 + 825 + 330 + 825 = 2310 USD per million tokens.
    let cost = line["cost_usd"].as_f64().unwrap();
    assert!((cost - 0.00231).abs() < 1e-12, "{cost}");
    assert_eq!(line["price"], "bedrock/claude-sonnet-4-5/regional");
    assert_eq!(line["key"], "test-all");
    assert!(is_hex(line["key_hash"].as_str().unwrap(), 12), "{line}");
    assert_eq!(line["metadata"], json!({"_user": "u-7"}));
    assert_eq!(line["attempts"].as_array().unwrap().len(), 1);
    assert_eq!(line["attempts"][0]["status"], 200);
    assert!(line["upstream_ms"].is_u64());
}

#[test]
fn an_unpriced_model_costs_null_and_a_failure_has_no_usage() {
    let w = FakeWorld::default();
    w.answer(Canned::json(200, &converse_with_cache()));
    run(
        &w,
        &settings(),
        request(
            "/v1/chat/completions",
            &headers(&[]),
            &chat("acme.unknown-model-v1:0"),
        ),
    );
    let line = last_line(&w);
    assert!(line["usage"].is_object());
    assert_eq!(line["cost_usd"], Value::Null);
    assert_eq!(line["price"], Value::Null);

    w.answer(Canned::aws_error(400, "ValidationException", "bad input"));
    let a = run(
        &w,
        &settings(),
        request("/v1/chat/completions", &headers(&[]), &chat(SONNET)),
    );
    assert_eq!(a.status, 400);
    let line = last_line(&w);
    assert_eq!(line["error"], "ValidationException");
    assert_eq!(line["usage"], Value::Null);
    assert_eq!(line["cost_usd"], Value::Null);
    assert_eq!(line["upstream_ms"], Value::Null);
    assert_eq!(line["attempts"][0]["status"], 400);
    assert_eq!(line["attempts"][0]["error"], "ValidationException");
}

#[test]
fn a_stream_logs_the_usage_it_carried_when_it_ends() {
    let w = FakeWorld::default();
    let mut body = streams::event("messageStart", json!({"role": "assistant"}));
    body.extend(streams::event(
        "contentBlockDelta",
        json!({"contentBlockIndex": 0, "delta": {"text": "Hi"}}),
    ));
    body.extend(streams::event(
        "contentBlockStop",
        json!({"contentBlockIndex": 0}),
    ));
    body.extend(streams::event(
        "messageStop",
        json!({"stopReason": "end_turn"}),
    ));
    body.extend(streams::event("metadata", json!({"usage": {"inputTokens": 10, "outputTokens": 2, "totalTokens": 12}, "metrics": {"latencyMs": 5}})));
    w.answer(Canned::stream(&body));
    let mut req = chat(SONNET);
    req["stream"] = json!(true);
    let a = run(
        &w,
        &settings(),
        request("/v1/chat/completions", &headers(&[]), &req),
    );
    assert_eq!(a.status, 200);
    let line = last_line(&w);
    assert_eq!(line["end"], "complete");
    assert_eq!(
        line["usage"],
        json!({"input_tokens": 10, "output_tokens": 2, "cache_read_tokens": 0, "cache_write_tokens": 0})
    );
    let cost = line["cost_usd"].as_f64().unwrap();
    assert!(
        (cost - (10.0 * 3.3 + 2.0 * 16.5) / 1e6).abs() < 1e-12,
        "{cost}"
    );
    assert!(line["upstream_end_ms"].is_u64());
}

#[test]
fn count_tokens_is_not_billed() {
    let w = FakeWorld::default();
    w.answer(Canned::json(200, br#"{"inputTokens": 42}"#));
    let body = json!({"model": "us.anthropic.claude-sonnet-4-5-20250929-v1:0", "messages": [{"role": "user", "content": "Hi"}]});
    let a = run(
        &w,
        &settings(),
        request("/v1/messages/count_tokens", &headers(&[]), &body),
    );
    assert_eq!(a.status, 200, "{}", a.text());
    let line = last_line(&w);
    assert_eq!(line["route"], "count_tokens");
    assert_eq!(line["usage"]["input_tokens"], 42);
    assert_eq!(line["cost_usd"], 0.0);
    assert_eq!(line["price"], "not_billed");
}

#[test]
fn trace_headers_in_and_out() {
    let w = FakeWorld::default();
    // Portkey's ids win; the W3C traceparent carries ids derived from them.
    for _ in 0..2 {
        w.answer(Canned::json(200, &converse_with_cache()));
    }
    let portkey = [
        ("x-portkey-trace-id", "checkout-42"),
        ("x-portkey-span-id", "span-a"),
        ("x-portkey-parent-span-id", "root"),
        ("x-portkey-span-name", "summarize"),
    ];
    let a = run(
        &w,
        &settings(),
        request("/v1/chat/completions", &headers(&portkey), &chat(SONNET)),
    );
    let b = run(
        &w,
        &settings(),
        request("/v1/chat/completions", &headers(&portkey), &chat(SONNET)),
    );
    assert_eq!(a.header("x-portkey-trace-id"), Some("checkout-42"));
    let tp = a.header("traceparent").unwrap().to_owned();
    let parts: Vec<&str> = tp.split('-').collect();
    assert!(
        parts[0] == "00" && is_hex(parts[1], 32) && is_hex(parts[2], 16) && parts[3] == "01",
        "{tp}"
    );
    assert_eq!(
        b.header("traceparent"),
        Some(tp.as_str()),
        "the same Portkey ids, the same W3C ids"
    );
    let line = last_line(&w);
    assert_eq!(
        (
            &line["trace_id"],
            &line["span_id"],
            &line["parent_span_id"],
            &line["span_name"]
        ),
        (
            &json!("checkout-42"),
            &json!("span-a"),
            &json!("root"),
            &json!("summarize")
        )
    );

    // W3C in: the trace and flags are kept, the gateway's span is new, tracestate echoed.
    w.answer(Canned::json(200, &converse_with_cache()));
    let w3c = [
        (
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00",
        ),
        ("tracestate", "vendor=opaque"),
        ("baggage", "team=red,env=prod%20eu"),
        ("x-portkey-metadata", r#"{"team":"blue"}"#),
    ];
    let a = run(
        &w,
        &settings(),
        request("/v1/chat/completions", &headers(&w3c), &chat(SONNET)),
    );
    assert_eq!(
        a.header("x-portkey-trace-id"),
        Some("4bf92f3577b34da6a3ce929d0e0e4736")
    );
    let tp = a.header("traceparent").unwrap();
    assert!(
        tp.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-") && tp.ends_with("-00"),
        "{tp}"
    );
    assert!(!tp.contains("00f067aa0ba902b7"));
    assert_eq!(a.header("tracestate"), Some("vendor=opaque"));
    let line = last_line(&w);
    assert_eq!(line["parent_span_id"], "00f067aa0ba902b7");
    // The explicit metadata key wins over baggage; `_user` from the body.
    assert_eq!(
        line["metadata"],
        json!({"team": "blue", "env": "prod eu", "_user": "u-7"})
    );
}

#[test]
fn every_attempt_is_a_span() {
    let w = FakeWorld::default();
    w.answer(Canned::aws_error(500, "InternalServerException", "boom"));
    w.answer(Canned::aws_error(429, "ThrottlingException", "slow"));
    w.answer(Canned::json(200, &converse_with_cache()));
    let config = json!({"strategy": {"mode": "fallback"}, "targets": [
        {"provider": "bedrock", "retry": {"attempts": 1}},
        {"provider": "bedrock"}]})
    .to_string();
    let a = run(
        &w,
        &settings(),
        request(
            "/v1/chat/completions",
            &headers(&[("x-portkey-config", &config)]),
            &chat(SONNET),
        ),
    );
    assert_eq!(a.status, 200, "{}", a.text());
    let line = last_line(&w);
    let attempts = line["attempts"].as_array().unwrap();
    let summary: Vec<(Value, Value, Value, Value)> = attempts
        .iter()
        .map(|s| {
            (
                s["target"].clone(),
                s["retry"].clone(),
                s["status"].clone(),
                s["error"].clone(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            (
                json!("config.targets[0]"),
                json!(0),
                json!(500),
                json!("InternalServerException")
            ),
            (
                json!("config.targets[0]"),
                json!(1),
                json!(429),
                json!("ThrottlingException")
            ),
            (
                json!("config.targets[1]"),
                json!(0),
                json!(200),
                Value::Null
            ),
        ]
    );
    let ids: std::collections::HashSet<&str> = attempts
        .iter()
        .map(|s| s["span_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 3);
    assert!(ids.iter().all(|id| is_hex(id, 16)));
    assert_eq!(line["target"], "config.targets[1]");
    assert_eq!(
        a.header("x-portkey-last-used-option-index"),
        Some("config.targets[1]")
    );
}

#[test]
fn metadata_over_its_limits_is_a_400_before_anything_is_sent() {
    let w = FakeWorld::default();
    let many = serde_json::to_string(
        &(0..33)
            .map(|i| (format!("k{i}"), json!("v")))
            .collect::<serde_json::Map<_, _>>(),
    )
    .unwrap();
    let long_key = format!(r#"{{"{}":"v"}}"#, "k".repeat(129));
    let long_value = format!(r#"{{"k":"{}"}}"#, "v".repeat(513));
    for bad in [
        many.as_str(),
        &long_key,
        &long_value,
        r#"{"n": 1}"#,
        "not json",
    ] {
        let a = run(
            &w,
            &settings(),
            request(
                "/v1/chat/completions",
                &headers(&[("x-portkey-metadata", bad)]),
                &chat(SONNET),
            ),
        );
        assert_eq!(a.status, 400, "{bad}");
        assert_eq!(a.json()["error"]["param"], "x-portkey-metadata");
        assert_eq!(a.json()["error"]["type"], "invalid_request_error");
    }
    // Anthropic-shaped on /v1/messages.
    let body =
        json!({"model": SONNET, "max_tokens": 10, "messages": [{"role": "user", "content": "Hi"}]});
    let a = run(
        &w,
        &settings(),
        request(
            "/v1/messages",
            &headers(&[("x-portkey-metadata", "[]")]),
            &body,
        ),
    );
    assert_eq!(a.status, 400);
    assert_eq!(a.json()["type"], "error");
    assert!(w.sent.borrow().is_empty());
}

#[test]
fn the_analytics_data_point_layout() {
    let w = FakeWorld::default();
    *w.analytics.borrow_mut() = Some(Vec::new());
    let s = Settings {
        analytics_metadata_keys: std::rc::Rc::new(vec!["team".into(), "missing".into()]),
        ..settings()
    };
    w.answer(Canned::json(200, &converse_with_cache()));
    let h = headers(&[
        ("x-portkey-metadata", r#"{"team":"blue"}"#),
        ("x-portkey-trace-id", "t-1"),
    ]);
    run(&w, &s, request("/v1/chat/completions", &h, &chat(SONNET)));
    let line = last_line(&w);
    let points = w.analytics.borrow().clone().unwrap();
    assert_eq!(points.len(), 1);
    let hash_prefix = line["key_hash"].as_str().unwrap();
    let p: &DataPoint = &points[0];
    assert!(
        p.index.starts_with(hash_prefix) && is_hex(&p.index, 64),
        "{}",
        p.index
    );
    assert_eq!(
        p.blobs,
        vec![
            "chat",
            "bedrock",
            SONNET,
            "200",
            "",
            "test-all",
            "",
            "",
            "bedrock/claude-sonnet-4-5/regional",
            "t-1",
            "blue",
            ""
        ]
        .into_iter()
        .map(str::to_owned)
        .collect::<Vec<_>>()
    );
    let ms = line["ms"].as_f64().unwrap();
    let upstream = line["upstream_ms"].as_f64().unwrap();
    assert_eq!(
        p.doubles,
        vec![
            100.0,
            50.0,
            1000.0,
            200.0,
            line["cost_usd"].as_f64().unwrap(),
            1.0,
            ms,
            upstream,
            0.0,
            0.0,
            1.0,
            200.0,
            0.0,
            0.0
        ]
    );
    // Without the binding nothing is written (and nothing fails).
    let w = FakeWorld::default();
    w.answer(Canned::json(200, &converse_with_cache()));
    let a = run(
        &w,
        &s,
        request("/v1/chat/completions", &headers(&[]), &chat(SONNET)),
    );
    assert_eq!(a.status, 200);
    assert!(w.analytics.borrow().is_none());
}

#[test]
fn the_key_is_checked_before_the_metadata() {
    let w = FakeWorld::default();
    let h = [
        ("x-portkey-provider", "bedrock"),
        ("x-portkey-metadata", "nope"),
    ];
    let a = run(
        &w,
        &settings(),
        request("/v1/chat/completions", &h, &chat(SONNET)),
    );
    assert_eq!(a.status, 401, "{}", a.text());
}

#[test]
fn a_cache_hit_is_not_an_upstream_attempt_and_count_tokens_is_one() {
    let w = FakeWorld::default();
    w.answer(Canned::json(200, &converse_with_cache()));
    let config = json!({"cache": {"mode": "simple"}}).to_string();
    let h = headers(&[("x-portkey-config", &config)]);
    for _ in 0..2 {
        run(
            &w,
            &settings(),
            request("/v1/chat/completions", &h, &chat(SONNET)),
        );
    }
    let line = last_line(&w);
    assert_eq!(line["cache"], "HIT");
    assert_eq!(line["attempts"], json!([]));
    assert_eq!(line["upstream_ms"], Value::Null);
    assert_eq!(
        (&line["cost_usd"], &line["price"]),
        (&json!(0.0), &json!("cache_hit"))
    );
    assert_eq!(line["usage"]["cache_read_tokens"], 1000);
    assert_eq!(w.sent.borrow().len(), 1);

    w.answer(Canned::json(200, br#"{"inputTokens": 42}"#));
    let body = json!({"model": SONNET, "messages": [{"role": "user", "content": "Hi"}]});
    run(
        &w,
        &settings(),
        request("/v1/messages/count_tokens", &headers(&[]), &body),
    );
    let line = last_line(&w);
    assert_eq!(line["attempts"].as_array().unwrap().len(), 1);
    assert_eq!(line["attempts"][0]["status"], 200);
    assert!(line["upstream_ms"].is_u64());
}
