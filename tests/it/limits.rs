//! Limits and budgets through the real pipeline: admission before the upstream call, the
//! answers (429 / 412 with their headers), usage settled when the request ends, `GET /v1/usage`.
//! The fake world's Durable Objects run the same `budget::State` as the real one.

use crate::common::*;
use crate::streams;
use edgeport::budget::Op;
use serde_json::{json, Value};

const NOVA: &str = "us.amazon.nova-micro-v1:0";
const LIMITED_KEY: &str = "ek_limited_key_0123456789abcdef";

fn world(limits: Value) -> FakeWorld {
    let w = FakeWorld::default().with_limiter();
    w.put_key(
        LIMITED_KEY,
        json!({"name": "limited", "providers": ["*"], "enabled": true, "limits": limits}),
    );
    w.put_record(
        "east",
        json!({"provider": "bedrock", "aws_region": "us-east-1",
            "auth": {"type": "access_key", "access_key_id": "AKIDCATALOG", "secret_access_key": "catalog/secret/never-shown"}}),
    );
    w
}

/// A provider `@capped` with `limits`: a plain field beside the sealed record.
fn cap_slug(w: &FakeWorld, limits: Value) {
    w.put_record(
        "capped",
        json!({"provider": "bedrock", "aws_region": "us-east-1",
            "auth": {"type": "access_key", "access_key_id": "AKIDCATALOG", "secret_access_key": "catalog/secret/never-shown"}}),
    );
    let raw = w.kv.0.borrow().get("provider:capped").cloned().unwrap();
    let mut stored: Value = serde_json::from_str(&raw).unwrap();
    stored["limits"] = limits;
    w.kv.0
        .borrow_mut()
        .insert("provider:capped".into(), stored.to_string());
}

fn chat() -> Value {
    json!({"model": NOVA, "max_tokens": 50, "messages": [{"role": "user", "content": "Hello!"}]})
}

fn headers(key: &str) -> Vec<(&str, &str)> {
    vec![("x-portkey-api-key", key), ("x-portkey-provider", "@east")]
}

/// A Converse answer using `input` + `output` tokens.
fn answer(input: u64, output: u64) -> Canned {
    Canned::json(
        200,
        &serde_json::to_vec(&json!({
            "output": {"message": {"role": "assistant", "content": [{"text": "Hi"}]}},
            "stopReason": "end_turn",
            "usage": {"inputTokens": input, "outputTokens": output, "totalTokens": input + output}
        }))
        .unwrap(),
    )
}

fn post(w: &FakeWorld, key: &str, body: &Value) -> Answer {
    run(
        w,
        &settings(),
        request("/v1/chat/completions", &headers(key), body),
    )
}

fn usage(w: &FakeWorld, key: &str) -> Value {
    let req = request_method("GET", "/v1/usage", &[("x-portkey-api-key", key)]);
    let a = run(w, &settings(), req);
    assert_eq!(a.status, 200, "{}", a.text());
    a.json()
}

#[test]
fn rpm_answers_429_with_openai_headers_and_nothing_is_sent() {
    let w = world(json!({"rpm": 3}));
    for i in 0..3 {
        w.answer(answer(7, 30));
        let a = post(&w, LIMITED_KEY, &chat());
        assert_eq!(a.status, 200, "{i}: {}", a.text());
        assert_eq!(a.header("x-ratelimit-limit-requests"), Some("3"));
        assert_eq!(
            a.header("x-ratelimit-remaining-requests"),
            Some(&*(2 - i).to_string())
        );
    }
    let sent = w.sent.borrow().len();
    let a = post(&w, LIMITED_KEY, &chat());
    assert_eq!(a.status, 429, "{}", a.text());
    let body = a.json();
    assert_eq!(body["error"]["code"], "rate_limit_exceeded");
    assert_eq!(body["error"]["type"], "rate_limit_error");
    assert_eq!(a.header("retry-after"), Some("20"));
    let ms: u64 = a.header("retry-after-ms").unwrap().parse().unwrap();
    assert!((19_000..=20_000).contains(&ms), "{ms}");
    assert_eq!(a.header("x-ratelimit-remaining-requests"), Some("0"));
    assert_eq!(a.header("x-ratelimit-reset-requests"), Some("1m0s"));
    assert_eq!(
        w.sent.borrow().len(),
        sent,
        "a refused request is not sent upstream"
    );
    // Twenty seconds later one more fits.
    *w.now.borrow_mut() += 20_000;
    w.answer(answer(7, 30));
    assert_eq!(post(&w, LIMITED_KEY, &chat()).status, 200);
}

#[test]
fn a_daily_token_budget_counts_recorded_usage_then_answers_412_until_the_next_day() {
    let w = world(json!({"tokens_per_day": 100}));
    for _ in 0..3 {
        w.answer(answer(20, 20));
    }
    // The estimate (ceil(bytes / 4) + 50) is under 100: admitted; each uses 40.
    assert_eq!(post(&w, LIMITED_KEY, &chat()).status, 200);
    assert_eq!(post(&w, LIMITED_KEY, &chat()).status, 200);
    let u = usage(&w, LIMITED_KEY);
    assert_eq!(
        (u["tokens_today"].clone(), u["tokens_reserved"].clone()),
        (json!(80), json!(0))
    );
    assert_eq!(u["requests_today"], 2);
    // 80 < 100: one more may start, and takes the day past its budget (the documented bound).
    assert_eq!(post(&w, LIMITED_KEY, &chat()).status, 200);
    let a = post(&w, LIMITED_KEY, &chat());
    assert_eq!(a.status, 412, "{}", a.text());
    let err = &a.json()["error"];
    assert_eq!(err["code"], "budget_exhausted");
    let message = err["message"].as_str().unwrap();
    assert!(
        message.contains("tokens_per_day") && message.contains("2026-01-02T00:00:00Z"),
        "{message}"
    );
    // On /v1/messages: Anthropic-shaped.
    let body = json!({"model": "us.anthropic.claude-haiku-4-5-20251001-v1:0", "max_tokens": 10, "messages": [{"role": "user", "content": "Hi"}]});
    let a = run(
        &w,
        &settings(),
        request("/v1/messages", &headers(LIMITED_KEY), &body),
    );
    assert_eq!(a.status, 412);
    assert_eq!(a.json()["type"], "error");
    // The next UTC day starts from zero.
    *w.now.borrow_mut() += 86_400_000;
    w.answer(answer(20, 20));
    assert_eq!(post(&w, LIMITED_KEY, &chat()).status, 200);
}

#[test]
fn a_stream_is_counted_when_it_ends() {
    let w = world(json!({"tokens_per_day": 1000000}));
    let mut body = streams::event("messageStart", json!({"role": "assistant"}));
    body.extend(streams::event(
        "contentBlockDelta",
        json!({"contentBlockIndex": 0, "delta": {"text": "Hi"}}),
    ));
    body.extend(streams::message_stop("end_turn"));
    body.extend(streams::metadata(
        json!({"inputTokens": 11, "outputTokens": 22, "totalTokens": 33}),
    ));
    w.answer(Canned::stream(&body));
    let mut req = chat();
    req["stream"] = json!(true);
    assert_eq!(post(&w, LIMITED_KEY, &req).status, 200);
    let u = usage(&w, LIMITED_KEY);
    assert_eq!(u["tokens_today"], 33);
    assert_eq!(u["tokens_reserved"], 0);
}

#[test]
fn a_usd_budget_counts_cost_and_refuses_models_without_a_price() {
    let w = world(json!({"usd_per_month": 0.0001}));
    w.answer(answer(1000, 1000));
    // Nova Micro: 1000 × 0.035 + 1000 × 0.14 per million = 0.000175 USD: over the budget after one.
    assert_eq!(post(&w, LIMITED_KEY, &chat()).status, 200);
    let u = usage(&w, LIMITED_KEY);
    assert!(
        (u["usd_this_month"].as_f64().unwrap() - 0.000175).abs() < 1e-12,
        "{u}"
    );
    let a = post(&w, LIMITED_KEY, &chat());
    assert_eq!(a.status, 412);
    assert!(a.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("usd_per_month"));
    // A model the price table does not know cannot be counted in USD: refused, not sent.
    let w = world(json!({"usd_per_month": 10.0}));
    let mut body = chat();
    body["model"] = json!("acme.unknown-v1:0");
    let a = post(&w, LIMITED_KEY, &body);
    assert_eq!(a.status, 412);
    assert_eq!(a.json()["error"]["code"], "budget_unpriced_model");
    assert!(w.sent.borrow().is_empty());
}

#[test]
fn a_slug_budget_applies_to_every_key_and_a_fallback_moves_past_it() {
    let w = world(json!({}));
    cap_slug(&w, json!({"rpm": 1}));
    let capped = |key: &str| -> Vec<(String, String)> {
        vec![
            ("x-portkey-api-key".into(), key.into()),
            ("x-portkey-provider".into(), "@capped".into()),
        ]
    };
    w.answer(answer(1, 1));
    let h = capped(TEST_GATEWAY_KEY);
    let h: Vec<(&str, &str)> = h.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    assert_eq!(
        run(
            &w,
            &settings(),
            request("/v1/chat/completions", &h, &chat())
        )
        .status,
        200
    );
    // Another key on the same slug: the slug's minute is used up.
    let h2 = capped(LIMITED_KEY);
    let h2: Vec<(&str, &str)> = h2.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    let a = run(
        &w,
        &settings(),
        request("/v1/chat/completions", &h2, &chat()),
    );
    assert_eq!(a.status, 429);
    assert!(a.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("@capped"));
    // A fallback config moves past the limited target.
    w.answer(answer(1, 1));
    let config = json!({"strategy": {"mode": "fallback"}, "targets": [{"provider": "@capped"}, {"provider": "@east"}]}).to_string();
    let h3 = [
        ("x-portkey-api-key", TEST_GATEWAY_KEY),
        ("x-portkey-config", config.as_str()),
    ];
    let a = run(
        &w,
        &settings(),
        request("/v1/chat/completions", &h3, &chat()),
    );
    assert_eq!(a.status, 200, "{}", a.text());
    assert_eq!(
        a.header("x-portkey-last-used-option-index"),
        Some("config.targets[1]")
    );
}

#[test]
fn a_failed_attempt_gives_its_reservation_back_and_a_key_without_limits_is_not_counted() {
    let w = world(json!({"tokens_per_day": 1000000}));
    w.answer(Canned::aws_error(400, "ValidationException", "bad"));
    assert_eq!(post(&w, LIMITED_KEY, &chat()).status, 400);
    let u = usage(&w, LIMITED_KEY);
    assert_eq!(
        (
            u["requests_today"].clone(),
            u["tokens_today"].clone(),
            u["tokens_reserved"].clone()
        ),
        (json!(1), json!(0), json!(0))
    );
    // The test key has no limits: no Durable Object op at all.
    let ops_before = w.limiter_ops.borrow().len();
    w.answer(answer(1, 1));
    let a = post(&w, TEST_GATEWAY_KEY, &chat());
    assert_eq!(a.status, 200);
    assert_eq!(a.header("x-ratelimit-limit-requests"), None);
    assert_eq!(w.limiter_ops.borrow().len(), ops_before);
    // The ops a limited request makes: one admission, one record.
    w.answer(answer(2, 3));
    let before = w.limiter_ops.borrow().len();
    post(&w, LIMITED_KEY, &chat());
    let ops: Vec<&'static str> = w.limiter_ops.borrow()[before..]
        .iter()
        .map(|(_, op)| match op {
            Op::Admit { .. } => "admit",
            Op::Record { .. } => "record",
            Op::View { .. } => "view",
        })
        .collect();
    assert_eq!(ops, vec!["admit", "record"]);
}

#[test]
fn limits_without_the_binding_fail_closed() {
    let w = FakeWorld::default();
    w.put_key(
        LIMITED_KEY,
        json!({"name": "limited", "providers": ["*"], "enabled": true, "limits": {"rpm": 5}}),
    );
    let h = [
        ("x-portkey-api-key", LIMITED_KEY),
        ("x-portkey-provider", "bedrock"),
        ("x-portkey-aws-access-key-id", "AKIDX"),
        ("x-portkey-aws-secret-access-key", "secret/x/y"),
        ("x-portkey-aws-region", "us-east-1"),
    ];
    let a = run(
        &w,
        &settings(),
        request("/v1/chat/completions", &h, &chat()),
    );
    assert_eq!(a.status, 503);
    assert_eq!(a.json()["error"]["code"], "limits_unavailable");
    assert!(w.sent.borrow().is_empty());
}

#[test]
fn a_stream_without_a_usage_report_counts_what_it_reserved() {
    let w = world(json!({"tokens_per_day": 1000000}));
    // No metadata event: the stream ends after messageStop without usage.
    let mut body = streams::event("messageStart", json!({"role": "assistant"}));
    body.extend(streams::event(
        "contentBlockDelta",
        json!({"contentBlockIndex": 0, "delta": {"text": "Hi"}}),
    ));
    body.extend(streams::message_stop("end_turn"));
    w.answer(Canned::stream(&body));
    let mut req = chat();
    req["stream"] = json!(true);
    let bytes = req.to_string().len() as u64;
    assert_eq!(post(&w, LIMITED_KEY, &req).status, 200);
    let u = usage(&w, LIMITED_KEY);
    // ceil(bytes / 4) + max_tokens 50: never free.
    assert_eq!(u["tokens_today"], bytes.div_ceil(4) + 50);
    assert_eq!(u["tokens_reserved"], 0);
}

#[test]
fn a_request_another_subject_refuses_gives_the_key_its_request_back() {
    let w = world(json!({"rpm": 3}));
    cap_slug(&w, json!({"tokens_per_day": 1}));
    let h = [
        ("x-portkey-api-key", LIMITED_KEY),
        ("x-portkey-provider", "@capped"),
    ];
    w.answer(answer(5, 5));
    assert_eq!(
        run(
            &w,
            &settings(),
            request("/v1/chat/completions", &h, &chat())
        )
        .status,
        200
    );
    for _ in 0..3 {
        assert_eq!(
            run(
                &w,
                &settings(),
                request("/v1/chat/completions", &h, &chat())
            )
            .status,
            412
        );
    }
    // The slug refused them: the key's minute still has two requests.
    let u = usage(&w, LIMITED_KEY);
    assert_eq!(
        (u["requests_today"].clone(), u["remaining_requests"].clone()),
        (json!(1), json!(2))
    );
    w.answer(answer(1, 1));
    assert_eq!(post(&w, LIMITED_KEY, &chat()).status, 200);
}

#[test]
fn image_requests_record_the_images_made_against_a_usd_budget() {
    // Stable Image Core: 0.04 USD per image. A budget is checked against what was recorded: the
    // first request (2 images, 0.08) is admitted under 0.05, the next one is not.
    let w = world(json!({"usd_per_month": 0.05}));
    let image = |seed: u64| {
        Canned::json(
            200,
            json!({"seeds": [seed], "finish_reasons": [null], "images": ["AAAA"]})
                .to_string()
                .as_bytes(),
        )
    };
    w.answer(image(1));
    w.answer(image(2));
    let body = json!({"model": "stability.stable-image-core-v1:1", "prompt": "p", "n": 2});
    let post_image = |body: &Value| {
        run(
            &w,
            &settings(),
            request("/v1/images/generations", &headers(LIMITED_KEY), body),
        )
    };
    let a = post_image(&body);
    assert_eq!(a.status, 200, "{}", a.text());
    let u = usage(&w, LIMITED_KEY);
    assert!(
        (u["usd_this_month"].as_f64().unwrap() - 0.08).abs() < 1e-12,
        "{u}"
    );
    // 0.08 spent ≥ 0.05: refused before anything is sent.
    let sent = w.sent.borrow().len();
    let a = post_image(&body);
    assert_eq!(a.status, 412, "{}", a.text());
    assert_eq!(w.sent.borrow().len(), sent);

    // Embeddings count their input tokens against a token budget.
    let w = world(json!({"tokens_per_day": 1000}));
    let mut c = Canned::json(
        200,
        json!({"embedding": [0.5], "inputTextTokenCount": 700})
            .to_string()
            .as_bytes(),
    );
    c.headers
        .push(("x-amzn-bedrock-input-token-count".into(), "700".into()));
    w.answer(c);
    let embed = json!({"model": "amazon.titan-embed-text-v2:0", "input": "x"});
    let a = run(
        &w,
        &settings(),
        request("/v1/embeddings", &headers(LIMITED_KEY), &embed),
    );
    assert_eq!(a.status, 200, "{}", a.text());
    assert_eq!(usage(&w, LIMITED_KEY)["tokens_today"], 700);
}
