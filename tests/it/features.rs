//! Everything Bedrock users send through `/v1/chat/completions` (issue 4): one test per feature,
//! each asserting the exact Converse body Bedrock received and the exact OpenAI answer, as JSON
//! and as a stream. Where recorded traffic exists, its real request body is the expected body.

use crate::common::*;
use crate::streams;
use base64::Engine;
use serde_json::{json, Value};

const CHAT: &str = "/v1/chat/completions";

/// Runs `body` with header credentials (plus `extra` headers).
fn post(world: &FakeWorld, extra: &[(&str, &str)], body: &Value) -> Answer {
    let mut headers = HEADER_CREDS.to_vec();
    headers.extend_from_slice(extra);
    run(world, &settings(), request(CHAT, &headers, body))
}

const NOT_STRICT: &[(&str, &str)] = &[("x-portkey-strict-open-ai-compliance", "false")];

/// The Converse body a recorded client sent, without the empty `system` / `inferenceConfig`
/// that edgeport leaves out.
fn recorded_request(name: &str, i: usize) -> Value {
    let mut body = fixture(name)["interactions"][i]["request"]["body"].clone();
    let obj = body.as_object_mut().unwrap();
    for key in ["system", "inferenceConfig"] {
        let empty = match obj.get(key) {
            Some(Value::Array(a)) => a.is_empty(),
            Some(Value::Object(o)) => o.is_empty(),
            _ => false,
        };
        if empty {
            obj.remove(key);
        }
    }
    body
}

fn recorded_answer(name: &str, i: usize) -> Canned {
    Canned::json(200, &fixture_body(name, i))
}

/// The whole expected completion, with the answer's own id.
fn completion(a: &Answer, model: &str, message: Value, finish: &str, usage: Value) -> Value {
    let got = a.json();
    json!({"id": got["id"], "object": "chat.completion", "created": 1_767_225_600u64, "model": model,
        "choices": [{"index": 0, "message": message, "logprobs": null, "finish_reason": finish}],
        "usage": usage})
}

fn usage(prompt: u64, completion: u64) -> Value {
    json!({"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": 0}, "cache_read_input_tokens": 0, "cache_creation_input_tokens": 0})
}

fn assert_400(a: &Answer, param: &str, says: &str) {
    assert_eq!(a.status, 400, "{}", a.text());
    let err = &a.json()["error"];
    assert_eq!(err["param"], param, "{err}");
    assert_eq!(err["type"], "invalid_request_error");
    assert!(
        err["message"].as_str().unwrap().contains(says),
        "{err} should say {says:?}"
    );
}

/// SSE chunks (without `[DONE]`, which is checked), ids and times replaced by fixed values.
fn sse_chunks(a: &Answer) -> Vec<Value> {
    assert_eq!(a.status, 200, "{}", a.text());
    let text = a.text();
    assert!(text.ends_with("data: [DONE]\n\n"), "{text}");
    text.strip_suffix("\n\n")
        .unwrap()
        .split("\n\n")
        .filter(|e| *e != "data: [DONE]")
        .map(|e| {
            let mut v: Value = serde_json::from_str(e.strip_prefix("data: ").unwrap()).unwrap();
            v["id"] = json!("ID");
            v["created"] = json!(0);
            v
        })
        .collect()
}

fn chunk(model: &str, delta: Value, finish: Value) -> Value {
    json!({"id": "ID", "object": "chat.completion.chunk", "created": 0, "model": model,
        "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}]})
}

fn stream_of(events: &[(&str, Value)]) -> Canned {
    let mut body = Vec::new();
    for (event_type, payload) in events {
        body.extend(streams::event(event_type, payload.clone()));
    }
    Canned::stream(&body)
}

fn text_stream(text: &str, stop: &str) -> Canned {
    stream_of(&[
        ("messageStart", json!({"role": "assistant"})),
        (
            "contentBlockDelta",
            json!({"contentBlockIndex": 0, "delta": {"text": text}}),
        ),
        ("contentBlockStop", json!({"contentBlockIndex": 0})),
        ("messageStop", json!({"stopReason": stop})),
        (
            "metadata",
            json!({"usage": {"inputTokens": 3, "outputTokens": 2, "totalTokens": 5}, "metrics": {"latencyMs": 1}}),
        ),
    ])
}

fn simple(model: &str) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": "Hi"}]})
}

fn hi() -> Value {
    json!({"messages": [{"role": "user", "content": [{"text": "Hi"}]}]})
}

/// `hi()` plus fields.
fn hi_with(fields: Value) -> Value {
    let mut body = hi();
    for (k, v) in fields.as_object().unwrap() {
        body[k] = v.clone();
    }
    body
}

fn ok_answer() -> Canned {
    recorded_answer("pydantic-ai/test_bedrock_model", 0)
}

// ---- Tools ----

pub fn temperature_tools() -> Value {
    json!([
        {"type": "function", "function": {"name": "temperature",
            "description": "<summary>Get the temperature in a city on a specific date.</summary>\n<returns>\n<description>The temperature in degrees Celsius.</description>\n</returns>",
            "parameters": {"additionalProperties": false, "properties": {"city": {"description": "The city name.", "type": "string"}, "date": {"description": "The date.", "format": "date", "type": "string"}}, "required": ["city", "date"], "type": "object"}}},
        {"type": "function", "function": {"name": "final_result", "description": "The final response which ends this conversation",
            "parameters": {"properties": {"temperature": {"type": "string"}, "date": {"format": "date", "type": "string"}, "city": {"type": "string"}}, "required": ["temperature", "date", "city"], "title": "Response", "type": "object"}}}
    ])
}

#[test]
fn tools_and_required_tool_choice_json() {
    let world = FakeWorld::default();
    world.answer(recorded_answer(
        "pydantic-ai/test_bedrock_model_structured_output",
        0,
    ));
    let body = json!({"model": "us.amazon.nova-micro-v1:0", "messages": [
        {"role": "system", "content": "You are a helpful chatbot."},
        {"role": "user", "content": "What was the temperature in London 1st January 2022?"}],
        "tools": temperature_tools(), "tool_choice": "required", "parallel_tool_calls": false});
    let a = post(&world, &[], &body);
    assert_eq!(
        world.last_body(),
        recorded_request("pydantic-ai/test_bedrock_model_structured_output", 0)
    );
    assert_eq!(
        a.json(),
        completion(
            &a,
            "us.amazon.nova-micro-v1:0",
            json!({"role": "assistant", "content": null, "tool_calls": [{"id": "tooluse_Mj06ft-ITJik1Otgpkc1uA", "type": "function",
                "function": {"name": "temperature", "arguments": "{\"city\":\"London\",\"date\":\"2022-01-01\"}"}}]}),
            "tool_calls",
            usage(571, 22)
        )
    );
}

#[test]
fn tool_choice_modes_and_tool_history() {
    let tools =
        json!([{"type": "function", "function": {"name": "w", "parameters": {"type": "object"}}}]);
    let spec = json!({"toolSpec": {"name": "w", "inputSchema": {"json": {"type": "object"}}}});
    let history = json!([
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "tool_calls": [{"id": "t1", "type": "function", "function": {"name": "w", "arguments": "{\"city\":\"Paris\"}"}}]},
        {"role": "tool", "tool_call_id": "t1", "content": [{"type": "text", "text": "sunny"}]},
        {"role": "tool", "tool_call_id": "t1", "content": []}]);
    let history_turns = json!([
        {"role": "user", "content": [{"text": "weather?"}]},
        {"role": "assistant", "content": [{"toolUse": {"toolUseId": "t1", "name": "w", "input": {"city": "Paris"}}}]},
        {"role": "user", "content": [
            {"toolResult": {"toolUseId": "t1", "content": [{"text": "sunny"}]}},
            {"toolResult": {"toolUseId": "t1", "content": [{"text": ""}]}}]}]);
    let cases = [
        (
            json!("auto"),
            json!({"tools": [spec], "toolChoice": {"auto": {}}}),
        ),
        (
            json!({"type": "function", "function": {"name": "w"}}),
            json!({"tools": [spec], "toolChoice": {"tool": {"name": "w"}}}),
        ),
        // none: no tool use, yet the history's tool blocks still need a toolConfig.
        (json!("none"), json!({"tools": [spec]})),
    ];
    for (choice, tool_config) in cases {
        let world = FakeWorld::default();
        world.answer(ok_answer());
        let a = post(
            &world,
            &[],
            &json!({"model": "m", "messages": history, "tools": tools, "tool_choice": choice}),
        );
        assert_eq!(a.status, 200, "{}", a.text());
        assert_eq!(
            world.last_body(),
            json!({"messages": history_turns, "toolConfig": tool_config}),
            "{choice}"
        );
    }
    // A tool conversation sent without `tools` still gets a valid toolConfig.
    let world = FakeWorld::default();
    world.answer(ok_answer());
    post(&world, &[], &json!({"model": "m", "messages": history}));
    assert_eq!(
        world.last_body()["toolConfig"],
        json!({"tools": [{"toolSpec": {"name": "w", "inputSchema": {"json": {"type": "object", "properties": {}}}}}]})
    );
    // Invalid arguments JSON is a 400 naming the call.
    let world = FakeWorld::default();
    let bad = json!({"model": "m", "messages": [{"role": "user", "content": "x"},
        {"role": "assistant", "tool_calls": [{"id": "t", "type": "function", "function": {"name": "w", "arguments": "{city:"}}]}]});
    assert_400(
        &post(&world, &[], &bad),
        "messages[1].tool_calls[0].function.arguments",
        "JSON",
    );
    assert!(world.sent.borrow().is_empty());
}

#[test]
fn tool_calls_stream() {
    let world = FakeWorld::default();
    world.answer(stream_of(&[
        ("messageStart", json!({"role": "assistant"})),
        ("contentBlockStart", json!({"contentBlockIndex": 0, "start": {"toolUse": {"toolUseId": "tu1", "name": "temperature"}}})),
        ("contentBlockDelta", json!({"contentBlockIndex": 0, "delta": {"toolUse": {"input": "{\"city\":"}}})),
        ("contentBlockDelta", json!({"contentBlockIndex": 0, "delta": {"toolUse": {"input": "\"London\"}"}}})),
        ("contentBlockStop", json!({"contentBlockIndex": 0})),
        ("messageStop", json!({"stopReason": "tool_use"})),
    ]));
    let body = json!({"model": "us.amazon.nova-micro-v1:0", "stream": true, "messages": [{"role": "user", "content": "London?"}],
        "tools": temperature_tools(), "tool_choice": {"type": "function", "function": {"name": "temperature"}}});
    let a = post(&world, &[], &body);
    let sent = world.last_sent();
    assert!(sent.url.ends_with("/converse-stream"));
    assert_eq!(
        world.last_body()["toolConfig"]["toolChoice"],
        json!({"tool": {"name": "temperature"}})
    );
    let m = "us.amazon.nova-micro-v1:0";
    assert_eq!(
        sse_chunks(&a),
        vec![
            chunk(m, json!({"role": "assistant", "content": ""}), Value::Null),
            chunk(
                m,
                json!({"tool_calls": [{"index": 0, "id": "tu1", "type": "function", "function": {"name": "temperature", "arguments": ""}}]}),
                Value::Null
            ),
            chunk(
                m,
                json!({"tool_calls": [{"index": 0, "function": {"arguments": "{\"city\":"}}]}),
                Value::Null
            ),
            chunk(
                m,
                json!({"tool_calls": [{"index": 0, "function": {"arguments": "\"London\"}"}}]}),
                Value::Null
            ),
            chunk(m, json!({}), json!("tool_calls")),
        ]
    );
}

// ---- Vision and documents ----

fn recorded_image() -> (Vec<u8>, String) {
    let b64 = fixture("pydantic-ai/test_image_url_input")["interactions"][0]["response"]
        ["body_base64"]
        .as_str()
        .unwrap()
        .to_owned();
    (
        base64::engine::general_purpose::STANDARD
            .decode(&b64)
            .unwrap(),
        b64,
    )
}

fn image_answer(bytes: &[u8], content_type: &str) -> Canned {
    Canned {
        status: 200,
        headers: vec![("content-type".into(), content_type.into())],
        pieces: vec![Ok(bytes::Bytes::copy_from_slice(bytes))],
    }
}

fn image_request(url: &str, stream: bool) -> Value {
    json!({"model": "us.amazon.nova-pro-v1:0", "stream": stream, "messages": [
        {"role": "system", "content": "You are a helpful chatbot."},
        {"role": "user", "content": [{"type": "text", "text": "What is this vegetable?"}, {"type": "image_url", "image_url": {"url": url}}]}]})
}

#[test]
fn https_image_is_fetched_and_inlined() {
    let (bytes, _) = recorded_image();
    let url =
        "https://t3.ftcdn.net/jpg/00/85/79/92/360_F_85799278_0BBGV9OAdQDTLnKwAPBCcg1J7QtiieJY.jpg";
    for stream in [false, true] {
        let world = FakeWorld::default();
        world.answer(image_answer(&bytes, "image/jpeg"));
        world.answer(if stream {
            text_stream("A potato.", "end_turn")
        } else {
            recorded_answer("pydantic-ai/test_image_url_input", 1)
        });
        let a = post(&world, &[], &image_request(url, stream));
        let sent = world.sent.borrow().clone();
        assert_eq!(sent.len(), 2);
        // The download is a plain GET: no signature, no credentials.
        assert_eq!((sent[0].method, sent[0].url.as_str()), ("GET", url));
        assert!(!sent[0].headers.iter().any(|(k, _)| k == "authorization"));
        assert_eq!(
            serde_json::from_slice::<Value>(&sent[1].body).unwrap(),
            recorded_request("pydantic-ai/test_image_url_input", 1)
        );
        if stream {
            let chunks = sse_chunks(&a);
            assert_eq!(
                chunks[1]["choices"][0]["delta"],
                json!({"content": "A potato."})
            );
        } else {
            let text = fixture("pydantic-ai/test_image_url_input")["interactions"][1]["response"]
                ["json"]["output"]["message"]["content"][0]["text"]
                .clone();
            assert_eq!(
                a.json(),
                completion(
                    &a,
                    "us.amazon.nova-pro-v1:0",
                    json!({"role": "assistant", "content": text}),
                    "stop",
                    usage(1837, 82)
                )
            );
        }
    }
}

#[test]
fn https_image_failures_are_400s_naming_the_part() {
    let at = "messages[1].content[1].image_url.url";
    let url = "https://img.example.com/x.png";
    let world = FakeWorld::default();
    world.answer(Canned::json(404, b"{}"));
    assert_400(
        &post(&world, &[], &image_request(url, false)),
        at,
        "HTTP 404",
    );

    let world = FakeWorld::default();
    world.answer(image_answer(b"<html>hi</html>", "text/html"));
    assert_400(
        &post(&world, &[], &image_request(url, false)),
        at,
        "not a png, jpeg, gif or webp",
    );

    let world = FakeWorld::default();
    world.answer(image_answer(b"<svg/>", "image/svg+xml"));
    assert_400(
        &post(&world, &[], &image_request(url, false)),
        at,
        "image/svg+xml",
    );

    let world = FakeWorld::default();
    let mut big = image_answer(b"\x89PNG\r\n\x1a\n", "image/png");
    big.headers
        .push(("content-length".into(), "9000000".into()));
    world.answer(big);
    assert_400(
        &post(&world, &[], &image_request(url, false)),
        at,
        "larger than 3750000 bytes",
    );

    let world = FakeWorld::default();
    let mut chunked = image_answer(b"\x89PNG\r\n\x1a\n", "image/png");
    chunked.pieces = (0..5)
        .map(|_| Ok(bytes::Bytes::from(vec![0u8; 1_000_000])))
        .collect();
    world.answer(chunked);
    assert_400(
        &post(&world, &[], &image_request(url, false)),
        at,
        "larger than",
    );

    let world = FakeWorld::default();
    *world.unreachable.borrow_mut() = true;
    assert_400(
        &post(&world, &[], &image_request(url, false)),
        at,
        "could not be fetched",
    );

    // Unless the operator trusts the host (TRUSTED_CUSTOM_HOSTS): a local image server.
    let world = FakeWorld::default();
    let (bytes, b64) = recorded_image();
    world.answer(image_answer(&bytes, "image/jpeg"));
    world.answer(ok_answer());
    let trusted = edgeport::gateway::Settings::from_vars(&edgeport::gateway::Vars {
        catalog_key: Some(TEST_CATALOG_KEY),
        trusted_custom_hosts: Some("http://127.0.0.1:9000"),
        ..Default::default()
    });
    let mut headers = HEADER_CREDS.to_vec();
    headers.push(("x-portkey-strict-open-ai-compliance", "true"));
    let a = run(
        &world,
        &trusted,
        request(
            CHAT,
            &headers,
            &image_request("http://127.0.0.1:9000/p.jpg", false),
        ),
    );
    assert_eq!(a.status, 200, "{}", a.text());
    assert_eq!(
        world.last_body()["messages"][0]["content"][1]["image"]["source"]["bytes"],
        json!(b64)
    );

    // Internal addresses are never fetched.
    for internal in [
        "http://169.254.169.254/latest/meta-data",
        "https://127.0.0.1/a.png",
        "https://[::1]/a.png",
        "http://localhost:8080/a.png",
    ] {
        let world = FakeWorld::default();
        assert_400(
            &post(&world, &[], &image_request(internal, false)),
            at,
            "private, loopback",
        );
        assert!(world.sent.borrow().is_empty(), "{internal}");
    }
}

#[test]
fn s3_images_and_data_urls() {
    let world = FakeWorld::default();
    world.answer(ok_answer());
    let body = json!({"model": "m", "messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "s3://bucket/cat.png", "mime_type": "image/png", "bucketOwner": "123456789012"}},
        {"type": "image_url", "image_url": {"url": "s3://bucket/dog.webp", "mime_type": "image/webp"}},
        {"type": "image_url", "image_url": {"url": "data:image/gif;base64,R0lGODlhAQABAAAAACw="}}]}]});
    let a = post(&world, &[], &body);
    assert_eq!(a.status, 200, "{}", a.text());
    assert_eq!(
        world.last_body(),
        json!({"messages": [{"role": "user", "content": [
            {"image": {"format": "png", "source": {"s3Location": {"uri": "s3://bucket/cat.png", "bucketOwner": "123456789012"}}}},
            {"image": {"format": "webp", "source": {"s3Location": {"uri": "s3://bucket/dog.webp"}}}},
            {"image": {"format": "gif", "source": {"bytes": "R0lGODlhAQABAAAAACw="}}}]}]})
    );
    let world = FakeWorld::default();
    let missing = json!({"model": "m", "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "s3://b/k.png"}}]}]});
    assert_400(
        &post(&world, &[], &missing),
        "messages[0].content[0].image_url.mime_type",
        "mime_type is required",
    );
}

#[test]
fn file_parts_become_documents() {
    // The recorded pydantic-ai request: a base64 PDF, no filename → "Document 1".
    let recorded = recorded_request("pydantic-ai/test_document_url_input", 1);
    let pdf = recorded["messages"][0]["content"][1]["document"]["source"]["bytes"]
        .as_str()
        .unwrap()
        .to_owned();
    let world = FakeWorld::default();
    world.answer(recorded_answer("pydantic-ai/test_document_url_input", 1));
    let body = json!({"model": "anthropic.claude-v2", "messages": [
        {"role": "system", "content": "You are a helpful chatbot."},
        {"role": "user", "content": [{"type": "text", "text": "What is the main content on this document?"},
            {"type": "file", "file": {"file_data": format!("data:application/pdf;base64,{pdf}")}}]}]});
    let a = post(&world, &[], &body);
    assert_eq!(world.last_body(), recorded);
    assert_eq!(a.json()["choices"][0]["finish_reason"], "stop");
    assert_eq!(a.json()["usage"], usage(68, 42));

    // S3 documents (format from mime_type or the key's extension), names cleaned and unique.
    let world = FakeWorld::default();
    world.answer(text_stream("ok", "end_turn"));
    let body = json!({"model": "m", "stream": true, "messages": [{"role": "user", "content": [
        {"type": "file", "file": {"file_id": "s3://bucket/reports/q1.xlsx", "filename": "Q1 report_final.xlsx", "bucketOwner": "123456789012"}},
        {"type": "file", "file": {"file_data": "s3://bucket/data", "mime_type": "text/csv", "filename": "Q1 report final.csv"}, "cache_control": {"type": "ephemeral"}},
        {"type": "file", "file": {"file_data": "aGVsbG8=", "mime_type": "text/markdown"}}]}]});
    let a = post(&world, &[], &body);
    assert_eq!(sse_chunks(&a).len(), 3);
    assert_eq!(
        world.last_body(),
        json!({"messages": [{"role": "user", "content": [
            {"document": {"format": "xlsx", "name": "Q1 report final", "source": {"s3Location": {"uri": "s3://bucket/reports/q1.xlsx", "bucketOwner": "123456789012"}}}},
            {"document": {"format": "csv", "name": "Q1 report final (2)", "source": {"s3Location": {"uri": "s3://bucket/data"}}}},
            {"cachePoint": {"type": "default"}},
            {"document": {"format": "md", "name": "Document 3", "source": {"bytes": "aGVsbG8="}}}]}]})
    );

    let world = FakeWorld::default();
    for (file, param, says) in [
        (
            json!({"file_id": "file-abc123"}),
            "messages[0].content[0].file.file_id",
            "s3://",
        ),
        (
            json!({"file_data": "data:application/zip;base64,aGk="}),
            "messages[0].content[0]",
            "application/zip",
        ),
        (
            json!({"file_id": "s3://b/noext"}),
            "messages[0].content[0].file.mime_type",
            "mime_type is required",
        ),
        (
            json!({"file_data": "https://example.com/a.pdf"}),
            "messages[0].content[0].file.file_data",
            "not fetched from URLs",
        ),
    ] {
        let body = json!({"model": "m", "messages": [{"role": "user", "content": [{"type": "file", "file": file}]}]});
        assert_400(&post(&world, &[], &body), param, says);
    }
}

// ---- Thinking and reasoning ----

#[test]
fn explicit_thinking_objects_pass_through() {
    // Recorded: {type: enabled, budget_tokens: 1024} and {type: adaptive}.
    for (fixture_name, model, thinking) in [
        (
            "pydantic-ai/test_bedrock_model_thinking_part_anthropic",
            "us.anthropic.claude-sonnet-4-20250514-v1:0",
            json!({"type": "enabled", "budget_tokens": 1024}),
        ),
        (
            "pydantic-ai/test_bedrock_model_thinking_part_anthropic_adaptive",
            "us.anthropic.claude-sonnet-4-6",
            json!({"type": "adaptive"}),
        ),
    ] {
        let world = FakeWorld::default();
        world.answer(recorded_answer(fixture_name, 0));
        // An explicit thinking object wins over reasoning_effort.
        let body = json!({"model": model, "messages": [{"role": "user", "content": "How do I cross the street?"}],
            "thinking": thinking, "reasoning_effort": "low"});
        let a = post(&world, &[], &body);
        assert_eq!(world.last_body(), recorded_request(fixture_name, 0));
        let answer = a.json();
        let message = &answer["choices"][0]["message"];
        assert!(message["content"]
            .as_str()
            .unwrap()
            .starts_with("Here are the basic steps"));
        assert!(
            message.get("content_blocks").is_none() && message.get("reasoning_content").is_none()
        );
    }
}

#[test]
fn reasoning_effort_adaptive_models() {
    // Recorded (pydantic-ai, Claude Sonnet 4.6): adaptive thinking with the effort.
    let name = "pydantic-ai/test_bedrock_model_thinking_part_anthropic_adaptive_effort";
    let world = FakeWorld::default();
    world.answer(recorded_answer(name, 0));
    let body = json!({"model": "us.anthropic.claude-sonnet-4-6", "messages": [{"role": "user", "content": "How do I cross the street?"}],
        "reasoning_effort": "high"});
    let a = post(&world, NOT_STRICT, &body);
    assert_eq!(world.last_body(), recorded_request(name, 0));
    // Strict compliance off: thinking with its signature, then the text, as content_blocks.
    let out = &fixture(name)["interactions"][0]["response"]["json"]["output"]["message"]["content"];
    let reasoning = &out[0]["reasoningContent"]["reasoningText"];
    let text = out[1]["text"].as_str().unwrap();
    let answer = a.json();
    assert_eq!(
        answer["choices"][0]["message"],
        json!({"role": "assistant", "content": text, "content_blocks": [
            {"type": "thinking", "thinking": reasoning["text"], "signature": reasoning["signature"]},
            {"type": "text", "text": text}]})
    );
    assert_eq!(answer["choices"][0]["finish_reason"], "end_turn");

    // minimal → effort low; Opus 4.6 too; max_tokens at or under 1024 is refused.
    let world = FakeWorld::default();
    world.answer(ok_answer());
    post(
        &world,
        &[],
        &json!({"model": "global.anthropic.claude-opus-4-6-v1", "messages": [{"role": "user", "content": "Hi"}],
        "reasoning_effort": "minimal", "max_tokens": 4096}),
    );
    assert_eq!(
        world.last_body(),
        hi_with(
            json!({"inferenceConfig": {"maxTokens": 4096}, "additionalModelRequestFields": {"thinking": {"type": "adaptive"}, "output_config": {"effort": "low"}}})
        )
    );
    let a = post(
        &world,
        &[],
        &json!({"model": "us.anthropic.claude-sonnet-4-6", "messages": [{"role": "user", "content": "Hi"}],
        "reasoning_effort": "low", "max_tokens": 1024}),
    );
    assert_400(&a, "max_tokens", "above 1024");
}

#[test]
fn reasoning_effort_budget_models_and_other_families() {
    let claude = "us.anthropic.claude-3-7-sonnet-20250219-v1:0";
    for (effort, max_tokens, budget) in [
        ("minimal", 2000, 1024),
        ("low", 10_000, 2000),
        ("medium", 4000, 2000),
        ("high", 10_000, 8000),
    ] {
        let world = FakeWorld::default();
        world.answer(ok_answer());
        let a = post(
            &world,
            &[],
            &json!({"model": claude, "messages": [{"role": "user", "content": "Hi"}],
            "reasoning_effort": effort, "max_completion_tokens": max_tokens}),
        );
        assert_eq!(a.status, 200, "{}", a.text());
        assert_eq!(
            world.last_body(),
            hi_with(
                json!({"inferenceConfig": {"maxTokens": max_tokens}, "additionalModelRequestFields": {"thinking": {"type": "enabled", "budget_tokens": budget}}})
            ),
            "{effort}"
        );
    }
    let world = FakeWorld::default();
    // none: no thinking at all.
    world.answer(ok_answer());
    post(
        &world,
        &[],
        &json!({"model": claude, "messages": [{"role": "user", "content": "Hi"}], "reasoning_effort": "none"}),
    );
    assert_eq!(world.last_body(), hi());
    let with = |extra: Value| {
        let mut b = json!({"model": claude, "messages": [{"role": "user", "content": "Hi"}]});
        for (k, v) in extra.as_object().unwrap() {
            b[k] = v.clone();
        }
        b
    };
    assert_400(
        &post(&world, &[], &with(json!({"reasoning_effort": "high"}))),
        "max_tokens",
        "needs max_tokens",
    );
    assert_400(
        &post(
            &world,
            &[],
            &with(json!({"reasoning_effort": "high", "max_tokens": 1024})),
        ),
        "max_tokens",
        "above 1024",
    );
    assert_400(
        &post(&world, &[], &with(json!({"reasoning_effort": "extreme"}))),
        "reasoning_effort",
        "not one of",
    );

    // Recorded: gpt-oss takes reasoning_effort, Qwen reasoning_config.
    for (name, model, effort) in [
        (
            "pydantic-ai/test_bedrock_thinking_high_openai_variant",
            "openai.gpt-oss-120b-1:0",
            "high",
        ),
        (
            "pydantic-ai/test_bedrock_thinking_high_qwen_variant",
            "qwen.qwen3-32b-v1:0",
            "high",
        ),
    ] {
        let world = FakeWorld::default();
        world.answer(recorded_answer(name, 0));
        let mut body = fixture(name)["interactions"][0]["request"]["body"].clone();
        let text = body["messages"][0]["content"][0]["text"].clone();
        let a = post(
            &world,
            &[],
            &json!({"model": model, "messages": [{"role": "user", "content": text}], "reasoning_effort": effort}),
        );
        assert_eq!(a.status, 200, "{}", a.text());
        body.as_object_mut().unwrap().remove("system");
        body.as_object_mut().unwrap().remove("inferenceConfig");
        assert_eq!(world.last_body(), body);
    }
    // Nova 2 takes reasoningConfig; Nova 1 has no reasoning: a 400, not a silent drop.
    let world = FakeWorld::default();
    world.answer(ok_answer());
    post(
        &world,
        &[],
        &json!({"model": "us.amazon.nova-2-lite-v1:0", "messages": [{"role": "user", "content": "Hi"}], "reasoning_effort": "medium"}),
    );
    assert_eq!(
        world.last_body(),
        hi_with(
            json!({"additionalModelRequestFields": {"reasoningConfig": {"type": "enabled", "maxReasoningEffort": "medium"}}})
        )
    );
    assert_400(
        &post(
            &world,
            &[],
            &json!({"model": "us.amazon.nova-micro-v1:0", "messages": [{"role": "user", "content": "Hi"}], "reasoning_effort": "low"}),
        ),
        "reasoning_effort",
        "no reasoning setting",
    );
}

#[test]
fn reasoning_stream_with_effort() {
    let body_bytes = streams::recorded("pydantic-ai/test_bedrock_model_thinking_part_stream");
    let model = "us.anthropic.claude-3-7-sonnet-20250219-v1:0";
    let request = json!({"model": model, "stream": true, "messages": [{"role": "user", "content": "Hello"}],
        "reasoning_effort": "medium", "max_tokens": 4096});
    // Strict: text only.
    let world = FakeWorld::default();
    world.answer(Canned::stream(&body_bytes));
    let strict = sse_chunks(&post(&world, &[], &request));
    assert_eq!(
        world.last_body()["additionalModelRequestFields"],
        json!({"thinking": {"type": "enabled", "budget_tokens": 2048}})
    );
    assert!(strict
        .iter()
        .all(|c| c["choices"][0]["delta"].get("content_blocks").is_none()));
    // Not strict: thinking deltas as content_blocks, then text.
    let world = FakeWorld::default();
    world.answer(Canned::stream(&body_bytes));
    let loose = sse_chunks(&post(&world, NOT_STRICT, &request));
    assert_eq!(
        loose[1],
        chunk(
            model,
            json!({"content_blocks": [{"index": 0, "delta": {"thinking": "The"}}]}),
            Value::Null
        )
    );
    assert_eq!(
        loose.last().unwrap()["choices"][0]["finish_reason"],
        "end_turn"
    );
}

#[test]
fn thinking_blocks_replay_as_reasoning_content() {
    // Recorded second turn of the adaptive conversation: the assistant's thinking (with its
    // signature) goes back as reasoningContent before its text.
    let name = "pydantic-ai/test_bedrock_model_thinking_part_anthropic_adaptive";
    let expected = recorded_request(name, 1);
    let turns = expected["messages"].as_array().unwrap();
    let reasoning = &turns[1]["content"][0]["reasoningContent"]["reasoningText"];
    let world = FakeWorld::default();
    world.answer(recorded_answer(name, 1));
    let body = json!({"model": "us.anthropic.claude-sonnet-4-6", "thinking": {"type": "adaptive"}, "messages": [
        {"role": "user", "content": turns[0]["content"][0]["text"]},
        {"role": "assistant", "content": [
            {"type": "thinking", "thinking": reasoning["text"], "signature": reasoning["signature"]},
            {"type": "text", "text": turns[1]["content"][1]["text"]}]},
        {"role": "user", "content": turns[2]["content"][0]["text"]}]});
    let a = post(&world, &[], &body);
    assert_eq!(a.status, 200, "{}", a.text());
    assert_eq!(world.last_body(), expected);

    // Redacted thinking, recorded likewise.
    let name = "pydantic-ai/test_bedrock_model_thinking_part_redacted";
    let expected = recorded_request(name, 1);
    let turns = expected["messages"].as_array().unwrap();
    let mut assistant = Vec::new();
    for block in turns[1]["content"].as_array().unwrap() {
        if let Some(data) = block["reasoningContent"]["redactedContent"].as_str() {
            assistant.push(json!({"type": "redacted_thinking", "data": data}));
        } else {
            assistant.push(json!({"type": "text", "text": block["text"]}));
        }
    }
    let world = FakeWorld::default();
    world.answer(recorded_answer(name, 1));
    let body = json!({"model": "us.anthropic.claude-3-7-sonnet-20250219-v1:0", "thinking": {"type": "enabled", "budget_tokens": 1024}, "messages": [
        {"role": "user", "content": turns[0]["content"][0]["text"]},
        {"role": "assistant", "content": assistant},
        {"role": "user", "content": turns[2]["content"][0]["text"]}]});
    let a = post(&world, NOT_STRICT, &body);
    assert_eq!(a.status, 200, "{}", a.text());
    assert_eq!(world.last_body(), expected);
    let blocks = a.json()["choices"][0]["message"]["content_blocks"].clone();
    assert_eq!(blocks[0]["type"], "redacted_thinking");
}

// ---- Guardrails and pass-through fields ----

#[test]
fn guardrail_config_and_trace() {
    let name = "pydantic-ai/test_bedrock_model_guardrail_config";
    let recorded = fixture(name)["interactions"][0]["response"]["json"].clone();
    let question = json!([
        {"role": "system", "content": "You are a helpful chatbot."},
        {"role": "user", "content": "What is the capital of France?"}]);
    for (spelling, strict) in [("guardrailConfig", true), ("guardrail_config", false)] {
        let world = FakeWorld::default();
        world.answer(recorded_answer(name, 0));
        let mut body = json!({"model": "us.amazon.nova-micro-v1:0", "messages": question,
            // streamProcessingMode exists on ConverseStream only.
            spelling: {"guardrailIdentifier": "xbgw7g293v7o", "guardrailVersion": "DRAFT", "trace": "enabled", "streamProcessingMode": "async"}});
        body["stream"] = json!(false);
        let a = post(&world, if strict { &[] } else { NOT_STRICT }, &body);
        assert_eq!(world.last_body(), recorded_request(name, 0));
        let text = recorded["output"]["message"]["content"][0]["text"].clone();
        let mut expected = completion(
            &a,
            "us.amazon.nova-micro-v1:0",
            json!({"role": "assistant", "content": text}),
            if strict { "stop" } else { "end_turn" },
            a.json()["usage"].clone(),
        );
        if !strict {
            // The trace comes back when the request enabled it and strict compliance is off.
            expected["choices"][0]["message"]["content_blocks"] =
                json!([{"type": "text", "text": text}]);
            expected["trace"] = recorded["trace"].clone();
        }
        assert_eq!(a.json(), expected, "{spelling}");
    }
    // An intervention.
    let blocked = json!({"output": {"message": {"role": "assistant", "content": [{"text": "Sorry, I can't help with that."}]}},
        "stopReason": "guardrail_intervened", "usage": {"inputTokens": 5, "outputTokens": 0, "totalTokens": 5},
        "trace": {"guardrail": {"actionReason": "Guardrail blocked."}}});
    let world = FakeWorld::default();
    world.answer(Canned::json(200, blocked.to_string().as_bytes()));
    let body = json!({"model": "m", "messages": [{"role": "user", "content": "bad"}],
        "guardrailConfig": {"guardrailIdentifier": "g", "guardrailVersion": "1"}});
    let a = post(&world, &[], &body);
    assert_eq!(
        a.json(),
        completion(
            &a,
            "m",
            json!({"role": "assistant", "content": "Sorry, I can't help with that."}),
            "content_filter",
            usage(5, 0)
        )
    );
    world.answer(Canned::json(200, blocked.to_string().as_bytes()));
    let a = post(&world, NOT_STRICT, &body);
    assert_eq!(
        a.json()["choices"][0]["finish_reason"],
        "guardrail_intervened"
    );
    assert_eq!(a.json()["trace"], blocked["trace"]);

    // Missing fields are 400s naming them.
    let body = json!({"model": "m", "messages": [{"role": "user", "content": "x"}], "guardrail_config": {"guardrailIdentifier": "g"}});
    assert_400(
        &post(&world, &[], &body),
        "guardrailConfig.guardrailVersion",
        "required",
    );
}

#[test]
fn guardrail_stream() {
    let trace = json!({"guardrail": {"outputAssessments": {"g": [{"topicPolicy": {"topics": [{"name": "x", "action": "BLOCKED"}]}}]}}});
    let events = [
        ("messageStart", json!({"role": "assistant"})),
        (
            "contentBlockDelta",
            json!({"contentBlockIndex": 0, "delta": {"text": "Blocked."}}),
        ),
        ("contentBlockStop", json!({"contentBlockIndex": 0})),
        ("messageStop", json!({"stopReason": "guardrail_intervened"})),
        (
            "metadata",
            json!({"usage": {"inputTokens": 4, "outputTokens": 1, "totalTokens": 5}, "metrics": {"latencyMs": 1}, "trace": trace}),
        ),
    ];
    let body = json!({"model": "m", "stream": true, "stream_options": {"include_usage": true}, "messages": [{"role": "user", "content": "x"}],
        "guardrailConfig": {"guardrailIdentifier": "g", "guardrailVersion": "1", "trace": "enabled", "streamProcessingMode": "async"}});
    let world = FakeWorld::default();
    world.answer(stream_of(&events));
    let loose = sse_chunks(&post(&world, NOT_STRICT, &body));
    assert_eq!(
        world.last_body()["guardrailConfig"],
        json!({"guardrailIdentifier": "g", "guardrailVersion": "1", "trace": "enabled", "streamProcessingMode": "async"})
    );
    let n = loose.len();
    let mut finish = chunk("m", json!({}), json!("guardrail_intervened"));
    finish["usage"] = Value::Null;
    assert_eq!(loose[n - 3], finish);
    assert_eq!(
        loose[n - 2],
        json!({"id": "ID", "object": "chat.completion.chunk", "created": 0, "model": "m", "choices": [], "usage": null, "trace": trace})
    );
    assert_eq!(loose[n - 1]["usage"]["prompt_tokens"], 4);
    // Strict: content_filter, no trace.
    world.answer(stream_of(&events));
    let strict = sse_chunks(&post(&world, &[], &body));
    assert_eq!(
        strict[strict.len() - 2]["choices"][0]["finish_reason"],
        "content_filter"
    );
    assert!(strict.iter().all(|c| c.get("trace").is_none()));
}

#[test]
fn additional_model_fields_merge_and_come_back() {
    let world = FakeWorld::default();
    world.answer(Canned::json(200, json!({"output": {"message": {"role": "assistant", "content": [{"text": "ok"}]}},
        "stopReason": "stop_sequence", "usage": {"inputTokens": 1, "outputTokens": 1, "totalTokens": 2},
        "additionalModelResponseFields": {"stop_sequence": "END"}}).to_string().as_bytes()));
    // Derived top_k is overridden by the caller's own additionalModelRequestFields (user keys win).
    let body = json!({"model": "us.anthropic.claude-sonnet-4-5-20250929-v1:0", "messages": [{"role": "user", "content": "Hi"}],
        "top_k": 20, "additionalModelRequestFields": {"top_k": 5, "foo": {"bar": 1}},
        "additionalModelResponseFieldPaths": ["/stop_sequence"]});
    let a = post(&world, &[], &body);
    assert_eq!(
        world.last_body(),
        hi_with(
            json!({"additionalModelRequestFields": {"top_k": 5, "foo": {"bar": 1}}, "additionalModelResponseFieldPaths": ["/stop_sequence"]})
        )
    );
    assert_eq!(
        a.json(),
        completion(
            &a,
            "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
            json!({"role": "assistant", "content": "ok", "additional_model_response_fields": {"stop_sequence": "END"}}),
            "stop",
            usage(1, 1)
        )
    );
    // Streaming: on the finish chunk.
    world.answer(stream_of(&[
        ("messageStart", json!({"role": "assistant"})),
        ("contentBlockDelta", json!({"contentBlockIndex": 0, "delta": {"text": "ok"}})),
        ("messageStop", json!({"stopReason": "stop_sequence", "additionalModelResponseFields": {"stop_sequence": "END"}})),
    ]));
    let mut body = body;
    body["stream"] = json!(true);
    let chunks = sse_chunks(&post(&world, &[], &body));
    assert_eq!(
        chunks.last().unwrap(),
        &chunk(
            "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
            json!({"additional_model_response_fields": {"stop_sequence": "END"}}),
            json!("stop")
        )
    );
}

#[test]
fn top_k_per_family() {
    for (name, model) in [
        (
            "pydantic-ai/test_bedrock_top_k_anthropic_variant",
            "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
        ),
        (
            "pydantic-ai/test_bedrock_top_k_nova_variant",
            "us.amazon.nova-micro-v1:0",
        ),
    ] {
        let world = FakeWorld::default();
        world.answer(recorded_answer(name, 0));
        let a = post(
            &world,
            &[],
            &json!({"model": model, "top_k": 20, "messages": [{"role": "user", "content": "Reply with the single word: ok"}]}),
        );
        assert_eq!(world.last_body(), recorded_request(name, 0));
        assert_eq!(
            a.json(),
            completion(
                &a,
                model,
                json!({"role": "assistant", "content": "ok"}),
                "stop",
                a.json()["usage"].clone()
            )
        );
    }
    let world = FakeWorld::default();
    assert_400(
        &post(
            &world,
            &[],
            &json!({"model": "meta.llama3-8b-instruct-v1:0", "top_k": 5, "messages": [{"role": "user", "content": "x"}]}),
        ),
        "top_k",
        "additionalModelRequestFields",
    );
}

#[test]
fn anthropic_beta_from_body_and_header() {
    let world = FakeWorld::default();
    world.answer(ok_answer());
    let body = json!({"model": "us.anthropic.claude-sonnet-4-5-20250929-v1:0", "messages": [{"role": "user", "content": "Hi"}],
        "anthropic_beta": "context-1m-2025-08-07, interleaved-thinking-2025-05-14"});
    post(
        &world,
        &[(
            "anthropic-beta",
            "interleaved-thinking-2025-05-14,token-efficient-tools-2025-02-19",
        )],
        &body,
    );
    assert_eq!(
        world.last_body(),
        hi_with(
            json!({"additionalModelRequestFields": {"anthropic_beta": ["context-1m-2025-08-07", "interleaved-thinking-2025-05-14", "token-efficient-tools-2025-02-19"]}})
        )
    );
    // The header alone, on a stream.
    world.answer(text_stream("ok", "end_turn"));
    let mut b = simple("us.anthropic.claude-sonnet-4-5-20250929-v1:0");
    b["stream"] = json!(true);
    post(
        &world,
        &[("x-portkey-anthropic-beta", "context-1m-2025-08-07")],
        &b,
    );
    assert_eq!(
        world.last_body()["additionalModelRequestFields"],
        json!({"anthropic_beta": ["context-1m-2025-08-07"]})
    );
    // Not Claude: the header is ignored, the body field refused.
    world.answer(ok_answer());
    post(
        &world,
        &[("anthropic-beta", "x")],
        &simple("us.amazon.nova-micro-v1:0"),
    );
    assert_eq!(world.last_body(), hi());
    let mut b = simple("us.amazon.nova-micro-v1:0");
    b["anthropic_beta"] = json!(["x"]);
    assert_400(
        &post(&world, &[], &b),
        "anthropic_beta",
        "only applies to Claude",
    );
}

#[test]
fn performance_config_and_request_metadata() {
    let name = "pydantic-ai/test_bedrock_model_performance_config";
    let world = FakeWorld::default();
    world.answer(recorded_answer(name, 0));
    let body = json!({"model": "us.amazon.nova-pro-v1:0", "performance_config": {"latency": "optimized"}, "messages": [
        {"role": "system", "content": "You are a helpful chatbot."}, {"role": "user", "content": "What is the capital of France?"}]});
    let a = post(&world, &[], &body);
    assert_eq!(world.last_body(), recorded_request(name, 0));
    assert_eq!(a.json()["usage"], usage(13, 67));

    world.answer(text_stream("ok", "end_turn"));
    let body = json!({"model": "m", "stream": true, "messages": [{"role": "user", "content": "Hi"}],
        "performanceConfig": {"latency": "standard"}, "metadata": {"team": "search", "env": "prod"}, "user": "u-42"});
    post(&world, &[], &body);
    assert_eq!(
        world.last_body(),
        hi_with(
            json!({"performanceConfig": {"latency": "standard"}, "requestMetadata": {"team": "search", "env": "prod", "user": "u-42"}})
        )
    );
    let body = json!({"model": "m", "messages": [{"role": "user", "content": "Hi"}], "metadata": {"n": 1}});
    assert_400(&post(&world, &[], &body), "metadata.n", "strings");
}

#[test]
fn cache_control_becomes_cache_points() {
    let world = FakeWorld::default();
    world.answer(ok_answer());
    let body = json!({"model": "m", "messages": [
        {"role": "system", "content": [{"type": "text", "text": "long system", "cache_control": {"type": "ephemeral"}}]},
        {"role": "user", "content": [{"type": "text", "text": "doc", "cache_control": {"type": "ephemeral"}}, {"type": "text", "text": "q"}]}],
        "tools": [{"type": "function", "function": {"name": "w", "parameters": {"type": "object"}}, "cache_control": {"type": "ephemeral"}}]});
    post(&world, &[], &body);
    assert_eq!(
        world.last_body(),
        json!({"messages": [{"role": "user", "content": [{"text": "doc"}, {"cachePoint": {"type": "default"}}, {"text": "q"}]}],
            "system": [{"text": "long system"}, {"cachePoint": {"type": "default"}}],
            "toolConfig": {"tools": [{"toolSpec": {"name": "w", "inputSchema": {"json": {"type": "object"}}}}, {"cachePoint": {"type": "default"}}]}})
    );
}

#[test]
fn response_format_json_schema_and_refusals() {
    // Recorded (pydantic-ai, GLM 4.7): Converse structured output with the schema as a string.
    let name = "pydantic-ai/test_bedrock_zai_native_output";
    let world = FakeWorld::default();
    world.answer(recorded_answer(name, 0));
    let schema = json!({"properties": {"city": {"type": "string"}, "country": {"type": "string"}}, "required": ["city", "country"], "type": "object", "additionalProperties": false});
    let body = json!({"model": "zai.glm-4.7-flash", "messages": [
        {"role": "system", "content": "You are a helpful chatbot."}, {"role": "user", "content": "Where is the Eiffel Tower?"}],
        "response_format": {"type": "json_schema", "json_schema": {"name": "City", "schema": schema, "strict": true}}});
    let a = post(&world, &[], &body);
    let mut expected = recorded_request(name, 0);
    // Compare the schema structurally: the recorded string has Python's key order.
    let sent = world.last_body();
    let sent_schema: Value = serde_json::from_str(
        sent["outputConfig"]["textFormat"]["structure"]["jsonSchema"]["schema"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    let recorded_schema: Value = serde_json::from_str(
        expected["outputConfig"]["textFormat"]["structure"]["jsonSchema"]["schema"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(sent_schema, recorded_schema);
    expected["outputConfig"]["textFormat"]["structure"]["jsonSchema"]["schema"] =
        sent["outputConfig"]["textFormat"]["structure"]["jsonSchema"]["schema"].clone();
    assert_eq!(sent, expected);
    assert_eq!(
        a.json(),
        completion(
            &a,
            "zai.glm-4.7-flash",
            json!({"role": "assistant", "content": "{ \"city\": \"Paris\", \"country\": \"France\" }"}),
            "stop",
            usage(21, 15)
        )
    );
    // Streaming sends the same outputConfig.
    world.answer(text_stream("{}", "end_turn"));
    let mut b = body.clone();
    b["stream"] = json!(true);
    b["model"] = json!("us.anthropic.claude-sonnet-4-5-20250929-v1:0");
    post(&world, &[], &b);
    assert_eq!(
        world.last_body()["outputConfig"]["textFormat"]["type"],
        "json_schema"
    );

    let refuse = |format: Value, model: &str, param: &str, says: &str| {
        let world = FakeWorld::default();
        let body = json!({"model": model, "messages": [{"role": "user", "content": "x"}], "response_format": format});
        assert_400(&post(&world, &[], &body), param, says);
    };
    refuse(
        json!({"type": "json_object"}),
        "zai.glm-4.7-flash",
        "response_format",
        "json_schema",
    );
    refuse(
        json!({"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}}),
        "us.amazon.nova-micro-v1:0",
        "response_format",
        "does not support structured output",
    );
    refuse(
        json!({"type": "json_schema", "json_schema": {"name": "x"}}),
        "zai.glm-4.7-flash",
        "response_format.json_schema.schema",
        "JSON schema",
    );
    // text is the default: nothing sent.
    let world = FakeWorld::default();
    world.answer(ok_answer());
    post(
        &world,
        &[],
        &json!({"model": "m", "messages": [{"role": "user", "content": "Hi"}], "response_format": {"type": "text"}}),
    );
    assert_eq!(world.last_body(), hi());
}

#[test]
fn unsupported_openai_fields_are_400s() {
    let world = FakeWorld::default();
    for (field, value) in [
        ("n", json!(2)),
        ("logprobs", json!(true)),
        ("seed", json!(1)),
        ("presence_penalty", json!(0.5)),
    ] {
        let mut body = simple("m");
        body[field] = value;
        assert_400(&post(&world, &[], &body), field, "not supported");
    }
    assert!(world.sent.borrow().is_empty());
}

// ---- Inference profiles ----

#[test]
fn system_profiles_are_used_as_is() {
    let world = FakeWorld::default();
    world.answer(ok_answer());
    let a = post(
        &world,
        &[],
        &json!({"model": "eu.anthropic.claude-sonnet-4-5-20250929-v1:0", "top_k": 3, "messages": [{"role": "user", "content": "Hi"}]}),
    );
    assert_eq!(a.status, 200);
    let sent = world.sent.borrow().clone();
    assert_eq!(
        sent.len(),
        1,
        "no control-plane look-up for a system profile"
    );
    assert!(sent[0]
        .url
        .ends_with("/model/eu.anthropic.claude-sonnet-4-5-20250929-v1%3A0/converse"));
    assert_eq!(
        world.last_body(),
        hi_with(json!({"additionalModelRequestFields": {"top_k": 3}}))
    );
}

const PROFILE_ARN: &str =
    "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/mi1dadi0g15f";

fn profile_answer(model_arn: &str) -> Canned {
    Canned::json(200, json!({"inferenceProfileArn": PROFILE_ARN, "inferenceProfileId": "mi1dadi0g15f", "type": "APPLICATION",
        "models": [{"modelArn": model_arn}]}).to_string().as_bytes())
}

#[test]
fn application_profiles_are_looked_up_once_and_cached() {
    let name = "pydantic-ai/test_bedrock_inference_profile_converse";
    let world = FakeWorld::default();
    world.answer(profile_answer(
        "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-sonnet-4-5-20250929-v1:0",
    ));
    world.answer(recorded_answer(name, 0));
    let body = json!({"model": PROFILE_ARN, "top_k": 7, "messages": [{"role": "user", "content": "Say \"hello\" and nothing else."}]});
    let a = post(&world, &[], &body);
    assert_eq!(a.status, 200, "{}", a.text());
    let sent = world.sent.borrow().clone();
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[0].method, "GET");
    assert_eq!(
        sent[0].url,
        "https://bedrock.us-east-1.amazonaws.com/inference-profiles/arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Aapplication-inference-profile%2Fmi1dadi0g15f"
    );
    let auth = &sent[0]
        .headers
        .iter()
        .find(|(k, _)| k == "authorization")
        .unwrap()
        .1;
    assert!(
        auth.contains("Credential=AKIDEDGEPORTTEST1/20260101/us-east-1/bedrock/aws4_request"),
        "{auth}"
    );
    assert!(sent[0].body.is_empty());
    // The recorded runtime path, and Claude's field for top_k now that the family is known.
    assert_eq!(
        sent[1].url,
        format!(
            "https://bedrock-runtime.us-east-1.amazonaws.com{}",
            fixture(name)["interactions"][0]["request"]["path"]
                .as_str()
                .unwrap()
        )
    );
    let mut expected = recorded_request(name, 0);
    expected["additionalModelRequestFields"] = json!({"top_k": 7});
    assert_eq!(world.last_body(), expected);
    assert_eq!(a.json()["choices"][0]["message"]["content"], "Hello");
    // Cached in KV with the documented key.
    assert_eq!(
        world
            .kv
            .0
            .borrow()
            .get(&format!("inference_profile:us-east-1:{PROFILE_ARN}"))
            .cloned(),
        Some(
            "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-sonnet-4-5-20250929-v1:0"
                .to_owned()
        )
    );

    // Second request (streaming): the isolate cache answers, no control-plane call.
    world.answer(text_stream("Hello", "end_turn"));
    let mut b = body.clone();
    b["stream"] = json!(true);
    sse_chunks(&post(&world, &[], &b));
    assert_eq!(world.sent.borrow().len(), 3);
    assert_eq!(
        world.last_body()["additionalModelRequestFields"],
        json!({"top_k": 7})
    );

    // A fresh isolate reads KV instead.
    let fresh = FakeWorld::default();
    for (k, v) in world.kv.0.borrow().iter() {
        fresh.kv.0.borrow_mut().insert(k.clone(), v.clone());
    }
    fresh.answer(ok_answer());
    post(&fresh, &[], &body);
    assert_eq!(fresh.sent.borrow().len(), 1);
    assert_eq!(
        fresh.last_body()["additionalModelRequestFields"],
        json!({"top_k": 7})
    );
}

#[test]
fn application_profiles_behind_a_custom_host_and_failed_lookups() {
    // The custom host plays the control plane too; its answers are cached apart from AWS's.
    let world = FakeWorld::default();
    world.answer(profile_answer(
        "arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-pro-v1:0",
    ));
    world.answer(ok_answer());
    let host = [(
        "x-portkey-custom-host",
        "https://vpce-123.bedrock.example.com",
    )];
    let body =
        json!({"model": PROFILE_ARN, "top_k": 4, "messages": [{"role": "user", "content": "Hi"}]});
    let a = post(&world, &host, &body);
    assert_eq!(a.status, 200, "{}", a.text());
    let sent = world.sent.borrow().clone();
    assert!(sent[0]
        .url
        .starts_with("https://vpce-123.bedrock.example.com/inference-profiles/arn%3Aaws"));
    assert!(sent[1]
        .url
        .starts_with("https://vpce-123.bedrock.example.com/model/arn%3Aaws"));
    assert_eq!(
        world.last_body()["additionalModelRequestFields"],
        json!({"inferenceConfig": {"topK": 4}})
    );
    assert!(world.kv.0.borrow().contains_key(&format!(
        "inference_profile:us-east-1@vpce-123.bedrock.example.com:{PROFILE_ARN}"
    )));

    // A failed look-up does not fail a plain request; it is logged, and family-specific fields
    // are refused with the reason.
    let world = FakeWorld::default();
    world.answer(Canned::aws_error(
        403,
        "AccessDeniedException",
        "not allowed: bedrock:GetInferenceProfile",
    ));
    world.answer(ok_answer());
    let a = post(
        &world,
        &[],
        &json!({"model": PROFILE_ARN, "messages": [{"role": "user", "content": "Hi"}]}),
    );
    assert_eq!(a.status, 200, "{}", a.text());
    assert!(world
        .logs
        .borrow()
        .iter()
        .any(|l| l.contains("inference_profile_lookup_failed")));
    world.answer(Canned::aws_error(
        403,
        "AccessDeniedException",
        "not allowed",
    ));
    let a = post(&world, &[], &body);
    assert_400(&a, "top_k", "GetInferenceProfile look-up failed");
}

#[test]
fn https_image_redirects_are_followed_and_checked_at_every_hop() {
    let (bytes, _) = recorded_image();
    // A relative redirect to the same public host is followed.
    let world = FakeWorld::default();
    world.answer(Canned {
        status: 302,
        headers: vec![("location".into(), "/real.jpg".into())],
        pieces: vec![],
    });
    world.answer(image_answer(&bytes, "image/jpeg"));
    world.answer(recorded_answer("pydantic-ai/test_image_url_input", 1));
    let a = run(
        &world,
        &settings(),
        request(
            "/v1/chat/completions",
            HEADER_CREDS,
            &image_request("https://img.example.com/a.jpg", false),
        ),
    );
    assert_eq!(a.status, 200, "{}", a.text());
    assert_eq!(
        world.sent.borrow()[1].url,
        "https://img.example.com/real.jpg"
    );

    // A redirect into the metadata service is refused before it is fetched.
    let world = FakeWorld::default();
    world.answer(Canned {
        status: 301,
        headers: vec![(
            "location".into(),
            "http://169.254.169.254/latest/meta-data/".into(),
        )],
        pieces: vec![],
    });
    let a = run(
        &world,
        &settings(),
        request(
            "/v1/chat/completions",
            HEADER_CREDS,
            &image_request("https://img.example.com/a.jpg", false),
        ),
    );
    assert_eq!(a.status, 400, "{}", a.text());
    assert!(a.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("private, loopback and metadata"));
    assert_eq!(
        world.sent.borrow().len(),
        1,
        "only the first hop was fetched"
    );

    // Endless redirects stop.
    let world = FakeWorld::default();
    for _ in 0..4 {
        world.answer(Canned {
            status: 302,
            headers: vec![("location".into(), "https://img.example.com/loop".into())],
            pieces: vec![],
        });
    }
    let a = run(
        &world,
        &settings(),
        request(
            "/v1/chat/completions",
            HEADER_CREDS,
            &image_request("https://img.example.com/loop", false),
        ),
    );
    assert_eq!(a.status, 400);
    assert!(a.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("redirects more than"));
}
