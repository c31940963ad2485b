//! `/v1/embeddings` and `/v1/images/generations` through the real pipeline against a fake world:
//! the InvokeModel bodies each family gets, answers put back in order, usage and cost on the log
//! line, errors, configs and the OpenAI pass-through.

use crate::common::*;
use base64::Engine;
use serde_json::{json, Value};

const TITAN: &str = "amazon.titan-embed-text-v2:0";
const COHERE: &str = "cohere.embed-english-v3";
const CANVAS: &str = "amazon.nova-canvas-v1:0";
const SD35: &str = "stability.sd3-5-large-v1:0";

fn post(w: &FakeWorld, path: &str, extra: &[(&str, &str)], body: &Value) -> Answer {
    let mut h = HEADER_CREDS.to_vec();
    h.extend_from_slice(extra);
    run(w, &settings(), request(path, &h, body))
}

/// A JSON InvokeModel answer with Bedrock's token count header.
fn invoke_answer(body: Value, tokens: u64) -> Canned {
    let mut c = Canned::json(200, body.to_string().as_bytes());
    c.headers.push((
        "x-amzn-bedrock-input-token-count".into(),
        tokens.to_string(),
    ));
    c
}

fn sent_bodies(w: &FakeWorld) -> Vec<Value> {
    w.sent
        .borrow()
        .iter()
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect()
}

fn last_line(w: &FakeWorld) -> Value {
    w.logs
        .borrow()
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .rfind(|l| l.get("route").is_some())
        .expect("a request log line")
}

fn floats_of_base64(s: &str) -> Vec<f32> {
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .unwrap()
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

#[test]
fn titan_embeds_each_input_in_its_own_call_answered_in_order() {
    let w = FakeWorld::default();
    for i in 0..3 {
        w.answer(invoke_answer(
            json!({"embedding": [i as f64, 0.5], "inputTextTokenCount": 2}),
            2 + i,
        ));
    }
    let a = post(
        &w,
        "/v1/embeddings",
        &[],
        &json!({"model": TITAN, "input": ["a", "b", "c"], "dimensions": 256, "user": "u-1"}),
    );
    assert_eq!(a.status, 200, "{}", a.text());
    assert_eq!(
        a.json(),
        json!({"object": "list", "model": TITAN, "usage": {"prompt_tokens": 9, "total_tokens": 9}, "data": [
            {"object": "embedding", "index": 0, "embedding": [0.0, 0.5]},
            {"object": "embedding", "index": 1, "embedding": [1.0, 0.5]},
            {"object": "embedding", "index": 2, "embedding": [2.0, 0.5]}]})
    );
    let sent = w.sent.borrow();
    assert_eq!(sent.len(), 3);
    assert!(
        sent[0]
            .url
            .ends_with("/model/amazon.titan-embed-text-v2%3A0/invoke"),
        "{}",
        sent[0].url
    );
    assert!(sent
        .iter()
        .all(|r| r.headers.iter().any(|(k, _)| k == "authorization")));
    drop(sent);
    assert_eq!(
        sent_bodies(&w),
        vec![
            json!({"inputText": "a", "dimensions": 256}),
            json!({"inputText": "b", "dimensions": 256}),
            json!({"inputText": "c", "dimensions": 256}),
        ]
    );
    let line = last_line(&w);
    assert_eq!(
        (line["route"].as_str(), line["status"].as_u64()),
        (Some("embeddings"), Some(200))
    );
    assert_eq!(
        line["usage"],
        json!({"input_tokens": 9, "output_tokens": 0, "cache_read_tokens": 0, "cache_write_tokens": 0})
    );
    // 9 tokens at 0.02 USD per million.
    assert!(
        (line["cost_usd"].as_f64().unwrap() - 9.0 * 0.02 / 1e6).abs() < 1e-15,
        "{line}"
    );
    assert_eq!(line["price"], "bedrock/titan-embed-text-v2");
    assert_eq!(line["metadata"]["_user"], "u-1");
}

#[test]
fn base64_answers_are_little_endian_float32_of_the_same_values() {
    let w = FakeWorld::default();
    w.answer(invoke_answer(
        json!({"embedding": [0.1, -2.5, 3.0], "inputTextTokenCount": 1}),
        1,
    ));
    let a = post(
        &w,
        "/v1/embeddings",
        &[],
        &json!({"model": TITAN, "input": "x", "encoding_format": "base64"}),
    );
    assert_eq!(a.status, 200, "{}", a.text());
    let encoded = a.json()["data"][0]["embedding"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(floats_of_base64(&encoded), vec![0.1f32, -2.5, 3.0]);
    // The Titan body does not carry encoding_format: it is the gateway's to apply.
    assert_eq!(w.last_body(), json!({"inputText": "x"}));
}

#[test]
fn cohere_batches_200_texts_in_three_calls_and_keeps_their_order() {
    let w = FakeWorld::default();
    for (start, n) in [(0, 96), (96, 96), (192, 8)] {
        let vectors: Vec<Value> = (start..start + n).map(|i| json!([i as f64])).collect();
        w.answer(invoke_answer(
            json!({"id": "e", "response_type": "embeddings_floats", "embeddings": vectors}),
            n as u64,
        ));
    }
    let texts: Vec<String> = (0..200).map(|i| format!("text {i}")).collect();
    let a = post(
        &w,
        "/v1/embeddings",
        &[],
        &json!({"model": COHERE, "input": texts, "input_type": "search_query"}),
    );
    assert_eq!(a.status, 200, "{}", a.text());
    let body = a.json();
    let data = body["data"].as_array().unwrap();
    assert_eq!(data.len(), 200);
    for (i, item) in data.iter().enumerate() {
        assert_eq!(
            (item["index"].as_u64(), item["embedding"][0].as_f64()),
            (Some(i as u64), Some(i as f64))
        );
    }
    assert_eq!(body["usage"]["prompt_tokens"], 200);
    let bodies = sent_bodies(&w);
    assert_eq!(bodies.len(), 3);
    assert_eq!(
        bodies[2],
        json!({"texts": (192..200).map(|i| format!("text {i}")).collect::<Vec<_>>(), "input_type": "search_query"})
    );
}

#[test]
fn refusals_before_any_call() {
    let w = FakeWorld::default();
    let cases = [
        (
            json!({"model": TITAN, "input": [[1, 2, 3]]}),
            "input",
            "token arrays",
        ),
        (
            json!({"model": "anthropic.claude-3-haiku-20240307-v1:0", "input": "x"}),
            "model",
            "not an embedding model",
        ),
        (
            json!({"model": TITAN, "input": "x", "dimensions": 300}),
            "dimensions",
            "1024, 512, 256",
        ),
        (
            json!({"model": TITAN, "input": "x", "functions": []}),
            "functions",
            "not supported",
        ),
    ];
    for (body, param, words) in cases {
        let a = post(&w, "/v1/embeddings", &[], &body);
        assert_eq!(a.status, 400, "{body}: {}", a.text());
        let err = &a.json()["error"];
        assert_eq!(err["param"], param, "{body}: {err}");
        assert!(
            err["message"].as_str().unwrap().contains(words),
            "{body}: {err}"
        );
    }
    assert!(w.sent.borrow().is_empty(), "nothing was sent upstream");
    let a = post(
        &w,
        "/v1/images/generations",
        &[],
        &json!({"model": CANVAS, "prompt": "p", "response_format": "url"}),
    );
    assert_eq!(a.status, 400);
    assert!(a.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("b64_json"));
    assert!(w.sent.borrow().is_empty());
}

#[test]
fn a_failing_call_fails_the_request_with_bedrocks_status_and_a_config_falls_back() {
    let w = FakeWorld::default();
    w.answer(invoke_answer(
        json!({"embedding": [0.5], "inputTextTokenCount": 1}),
        1,
    ));
    w.answer(Canned::aws_error(
        429,
        "ThrottlingException",
        "Too many requests, please wait before trying again.",
    ));
    let a = post(
        &w,
        "/v1/embeddings",
        &[],
        &json!({"model": TITAN, "input": ["a", "b"]}),
    );
    assert_eq!(a.status, 429, "{}", a.text());
    assert_eq!(a.json()["error"]["type"], "rate_limit_error");

    // Fallback: the first target (Titan) fails, the second (Cohere) answers the same body.
    let w = FakeWorld::default();
    w.answer(Canned::aws_error(500, "InternalServerException", "boom"));
    w.answer(invoke_answer(
        json!({"embeddings": [[0.25], [0.75]], "response_type": "embeddings_floats"}),
        4,
    ));
    let config = json!({"strategy": {"mode": "fallback"}, "targets": [
        {"override_params": {"model": TITAN}}, {"override_params": {"model": COHERE}}]});
    let a = post(
        &w,
        "/v1/embeddings",
        &[("x-portkey-config", &config.to_string())],
        &json!({"model": "any", "input": ["a", "b"]}),
    );
    assert_eq!(a.status, 200, "{}", a.text());
    assert_eq!(a.json()["model"], COHERE);
    assert_eq!(
        a.header("x-portkey-last-used-option-index"),
        Some("config.targets[1]")
    );
    let bodies = sent_bodies(&w);
    assert_eq!(
        bodies[1],
        json!({"texts": ["a", "b"], "input_type": "search_document"})
    );
}

#[test]
fn embeddings_are_cached_when_a_config_asks() {
    let w = FakeWorld::default();
    w.answer(invoke_answer(
        json!({"embedding": [0.5], "inputTextTokenCount": 1}),
        1,
    ));
    let config = json!({"cache": {"mode": "simple"}}).to_string();
    let body = json!({"model": TITAN, "input": "same"});
    let first = post(
        &w,
        "/v1/embeddings",
        &[("x-portkey-config", &config)],
        &body,
    );
    assert_eq!(
        (first.status, first.header("x-portkey-cache-status")),
        (200, Some("MISS"))
    );
    let second = post(
        &w,
        "/v1/embeddings",
        &[("x-portkey-config", &config)],
        &body,
    );
    assert_eq!(
        (second.status, second.header("x-portkey-cache-status")),
        (200, Some("HIT"))
    );
    assert_eq!(second.json(), first.json());
    assert_eq!(w.sent.borrow().len(), 1);
}

#[test]
fn nova_canvas_makes_n_images_in_one_call_and_logs_them() {
    let w = FakeWorld::default();
    w.answer(invoke_answer(
        json!({"images": ["AAAA", "BBBB"], "error": null}),
        0,
    ));
    let a = post(
        &w,
        "/v1/images/generations",
        &[],
        &json!({"model": CANVAS, "prompt": "a lighthouse", "n": 2, "size": "1024x1024", "quality": "hd", "seed": 3}),
    );
    assert_eq!(a.status, 200, "{}", a.text());
    let body = a.json();
    assert_eq!(
        body["data"],
        json!([{"b64_json": "AAAA"}, {"b64_json": "BBBB"}])
    );
    assert!(body["created"].is_u64());
    assert_eq!(
        w.last_body(),
        json!({"taskType": "TEXT_IMAGE", "textToImageParams": {"text": "a lighthouse"},
        "imageGenerationConfig": {"numberOfImages": 2, "width": 1024, "height": 1024, "quality": "premium", "seed": 3}})
    );
    assert!(w
        .last_sent()
        .url
        .ends_with("/model/amazon.nova-canvas-v1%3A0/invoke"));
    let line = last_line(&w);
    assert_eq!(line["route"], "images");
    assert_eq!(line["usage"]["images"], 2);
    // Nova Canvas' price depends on size and quality: no row, no guess.
    assert_eq!(line["cost_usd"], Value::Null);
}

#[test]
fn stability_makes_one_call_per_image_priced_per_image() {
    let w = FakeWorld::default();
    for i in 0..3 {
        w.answer(invoke_answer(
            json!({"seeds": [100 + i], "finish_reasons": [null], "images": [format!("IMG{i}")]}),
            0,
        ));
    }
    let a = post(
        &w,
        "/v1/images/generations",
        &[],
        &json!({"model": SD35, "prompt": "p", "n": 3, "size": "1536x1024", "seed": 100}),
    );
    assert_eq!(a.status, 200, "{}", a.text());
    assert_eq!(
        a.json()["data"],
        json!([{"b64_json": "IMG0"}, {"b64_json": "IMG1"}, {"b64_json": "IMG2"}])
    );
    let bodies = sent_bodies(&w);
    assert_eq!(
        bodies[1],
        json!({"prompt": "p", "aspect_ratio": "3:2", "seed": 101})
    );
    let line = last_line(&w);
    assert!(
        (line["cost_usd"].as_f64().unwrap() - 0.24).abs() < 1e-12,
        "{line}"
    );

    // A filtered prompt: Stability answers 200 with a reason and no image.
    let w = FakeWorld::default();
    w.answer(invoke_answer(
        json!({"seeds": [1], "finish_reasons": ["Filter reason: prompt"], "images": []}),
        0,
    ));
    let a = post(
        &w,
        "/v1/images/generations",
        &[],
        &json!({"model": SD35, "prompt": "p"}),
    );
    assert_eq!(a.status, 400, "{}", a.text());
    assert_eq!(a.json()["error"]["code"], "content_policy_violation");
}

#[test]
fn openai_targets_get_openais_fields_only() {
    let w = FakeWorld::default();
    w.put_record(
        "oa",
        json!({"provider": "openai", "auth": {"type": "api_key", "api_key": "sk-test-oa-0123456789"},
               "base_url": "https://openai.example/v1"}),
    );
    w.answer(Canned::json(
        200,
        json!({"object": "list", "model": "text-embedding-3-small",
        "data": [{"object": "embedding", "index": 0, "embedding": "AAAAPw=="}],
        "usage": {"prompt_tokens": 5, "total_tokens": 5}})
        .to_string()
        .as_bytes(),
    ));
    let h = [("x-portkey-api-key", TEST_GATEWAY_KEY)];
    let a = run(
        &w,
        &settings(),
        request(
            "/v1/embeddings",
            &h,
            &json!({"model": "@oa/text-embedding-3-small",
        "input": "hi", "encoding_format": "base64", "input_type": "search_query", "dimensions": 512}),
        ),
    );
    assert_eq!(a.status, 200, "{}", a.text());
    assert_eq!(w.last_sent().url, "https://openai.example/v1/embeddings");
    assert_eq!(
        w.last_body(),
        json!({"model": "text-embedding-3-small", "input": "hi", "encoding_format": "base64", "dimensions": 512})
    );
    assert_eq!(last_line(&w)["usage"]["input_tokens"], 5);

    w.answer(Canned::json(
        200,
        json!({"created": 1, "data": [{"url": "https://img.example/1.png"}]})
            .to_string()
            .as_bytes(),
    ));
    let a = run(
        &w,
        &settings(),
        request(
            "/v1/images/generations",
            &h,
            &json!({"model": "@oa/dall-e-3",
        "prompt": "p", "response_format": "url", "seed": 4, "size": "1024x1024"}),
        ),
    );
    assert_eq!(a.status, 200, "{}", a.text());
    assert_eq!(
        w.last_sent().url,
        "https://openai.example/v1/images/generations"
    );
    assert_eq!(
        w.last_body(),
        json!({"model": "dall-e-3", "prompt": "p", "response_format": "url", "size": "1024x1024"})
    );
}

#[test]
fn chat_defaults_of_a_catalog_record_do_not_reach_an_embeddings_body() {
    let w = FakeWorld::default();
    w.put_record(
        "emb",
        json!({"aws_region": "us-east-1", "auth": {"type": "access_key", "access_key_id": "AKIDEMB",
               "secret_access_key": "emb/secret"}, "default_params": {"max_tokens": 99, "dimensions": 512}}),
    );
    w.answer(invoke_answer(
        json!({"embedding": [0.5], "inputTextTokenCount": 1}),
        1,
    ));
    let h = [("x-portkey-api-key", TEST_GATEWAY_KEY)];
    let a = run(
        &w,
        &settings(),
        request(
            "/v1/embeddings",
            &h,
            &json!({"model": format!("@emb/{TITAN}"), "input": "x"}),
        ),
    );
    assert_eq!(a.status, 200, "{}", a.text());
    assert_eq!(w.last_body(), json!({"inputText": "x", "dimensions": 512}));
}

#[test]
fn an_upstream_cannot_make_the_gateway_hold_more_than_the_vectors_it_owes() {
    // 256 dimensions: the call's answer is read up to 256 × 32 bytes + 64 KiB; this one is larger.
    let w = FakeWorld::default();
    let huge: Vec<f64> = (0..20_000).map(|i| i as f64 + 0.123_456_789).collect();
    w.answer(invoke_answer(
        json!({"embedding": huge, "inputTextTokenCount": 1}),
        1,
    ));
    let a = post(
        &w,
        "/v1/embeddings",
        &[],
        &json!({"model": TITAN, "input": "x", "dimensions": 256}),
    );
    assert_eq!(a.status, 502, "{}", a.text());
    // Within the bound but longer than the dimensions asked: a 502 too.
    let w = FakeWorld::default();
    w.answer(invoke_answer(
        json!({"embedding": vec![0.5; 300], "inputTextTokenCount": 1}),
        1,
    ));
    let a = post(
        &w,
        "/v1/embeddings",
        &[],
        &json!({"model": TITAN, "input": "x", "dimensions": 256}),
    );
    assert_eq!(a.status, 502, "{}", a.text());
    assert!(a.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("300 numbers for 256 dimensions"));
}

#[test]
fn image_answers_beyond_their_share_of_the_images_budget_are_a_502() {
    // n = 5 Stability calls share MAX_UPSTREAM_IMAGES_BYTES: each answer may hold a fifth of it.
    let share = edgeport::limits::MAX_UPSTREAM_IMAGES_BYTES / 5;
    let w = FakeWorld::default();
    let big = "A".repeat(share + 1);
    for _ in 0..5 {
        w.answer(invoke_answer(
            json!({"seeds": [1], "finish_reasons": [null], "images": [big]}),
            0,
        ));
    }
    let a = post(
        &w,
        "/v1/images/generations",
        &[],
        &json!({"model": SD35, "prompt": "p", "n": 5}),
    );
    assert_eq!(a.status, 502, "{}", &a.text()[..200.min(a.text().len())]);
    assert!(a.text().len() < 4096, "the images are not passed on");
    // Just within the share: answered.
    let w = FakeWorld::default();
    let fits = "A".repeat(share - 200);
    for _ in 0..5 {
        w.answer(invoke_answer(
            json!({"seeds": [1], "finish_reasons": [null], "images": [fits]}),
            0,
        ));
    }
    let a = post(
        &w,
        "/v1/images/generations",
        &[],
        &json!({"model": SD35, "prompt": "p", "n": 5}),
    );
    assert_eq!(a.status, 200);
    assert_eq!(a.json()["data"].as_array().unwrap().len(), 5);
}
