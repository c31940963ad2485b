//! `POST /v1/messages` and `/v1/messages/count_tokens` through the real pipeline, against a fake
//! outside world: the native body Bedrock gets, the SSE the caller gets (however the network cuts
//! the bytes), count_tokens, and Anthropic-shaped errors everywhere.

use crate::common::*;
use crate::streams;
use base64::Engine;
use bytes::Bytes;
use edgeport::providers::bedrock::invoke_stream::InvokeStreamState;
use edgeport::providers::bedrock::invoke_stream::{anthropic_sse, encode, finish, process_frame};
use edgeport::stream::eventstream::FrameDecoder;
use futures_util::StreamExt;
use serde_json::{json, Value};

const CLAUDE: &str = "us.anthropic.claude-sonnet-4-20250514-v1:0";

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// An InvokeModelWithResponseStream `chunk` frame carrying one Anthropic event.
fn chunk(event: &Value) -> Vec<u8> {
    streams::event(
        "chunk",
        json!({"bytes": b64(event.to_string().as_bytes()), "p": "abcd"}),
    )
}

fn assert_anthropic_error(a: &Answer, status: u16, kind: &str) -> String {
    assert_eq!(a.status, status, "{}", a.text());
    let body = a.json();
    assert_eq!(body["type"], "error", "{body}");
    assert_eq!(body["error"]["type"], kind, "{body}");
    let obj = body["error"].as_object().unwrap();
    assert_eq!(obj.len(), 2, "only type and message: {body}");
    let message = body["error"]["message"].as_str().unwrap().to_owned();
    assert!(message.len() > 10, "{message}");
    message
}

fn hello_message() -> Value {
    json!({"id": "msg_bdrk_01", "type": "message", "role": "assistant", "model": "claude-sonnet-4-20250514",
        "content": [{"type": "text", "text": "Hello!"}], "stop_reason": "end_turn", "stop_sequence": null,
        "usage": {"input_tokens": 12, "output_tokens": 5}})
}

#[test]
fn native_body_keeps_every_field_and_falsy_values() {
    let world = FakeWorld::default();
    world.answer(Canned::json(200, hello_message().to_string().as_bytes()));
    let body = json!({
        "model": CLAUDE, "max_tokens": 1024, "temperature": 0, "top_k": 0, "top_p": 0.0,
        "stop_sequences": [], "system": "", "metadata": {"user_id": ""}, "stream": false,
        "messages": [{"role": "user", "content": [
            {"type": "text", "text": "hi", "cache_control": {"type": "ephemeral"}},
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0K"}}]}],
        "tools": [{"name": "w", "description": "", "input_schema": {"type": "object", "properties": {}}}],
        "tool_choice": {"type": "auto", "disable_parallel_tool_use": false},
        "thinking": {"type": "enabled", "budget_tokens": 1024},
        "anthropic_beta": ["token-efficient-tools-2025-02-19", "interleaved-thinking-2025-05-14"]
    });
    let mut headers = HEADER_CREDS.to_vec();
    headers.push(("anthropic-version", "2023-06-01"));
    headers.push(("authorization", "Bearer dummy"));
    headers.push((
        "anthropic-beta",
        "interleaved-thinking-2025-05-14, context-1m-2025-08-07",
    ));
    headers.push((
        "x-portkey-anthropic-beta",
        "fine-grained-tool-streaming-2025-05-14",
    ));
    let a = run(
        &world,
        &settings(),
        request("/v1/messages", &headers, &body),
    );
    assert_eq!(a.status, 200, "{}", a.text());
    assert_eq!(a.json(), hello_message());
    let sent = world.last_sent();
    assert_eq!(
        sent.url,
        "https://bedrock-runtime.us-east-1.amazonaws.com/model/us.anthropic.claude-sonnet-4-20250514-v1%3A0/invoke"
    );
    let mut want = body.as_object().unwrap().clone();
    want.remove("model");
    want.remove("stream");
    want.insert("anthropic_version".into(), json!("bedrock-2023-05-31"));
    want.insert(
        "anthropic_beta".into(),
        json!([
            "interleaved-thinking-2025-05-14",
            "context-1m-2025-08-07",
            "fine-grained-tool-streaming-2025-05-14",
            "token-efficient-tools-2025-02-19"
        ]),
    );
    assert_eq!(world.last_body(), Value::Object(want));
    // Integers stay integers: `temperature: 0` is sent as 0, not dropped.
    let raw = String::from_utf8(sent.body.to_vec()).unwrap();
    assert!(raw.contains("\"temperature\":0"), "{raw}");
    assert!(a.header("x-portkey-trace-id").is_some());
    assert_eq!(a.header("x-portkey-provider"), Some("bedrock"));
}

#[test]
fn without_v1_and_without_betas() {
    let world = FakeWorld::default();
    world.answer(Canned::json(200, hello_message().to_string().as_bytes()));
    let body = json!({"model": "anthropic.claude-3-haiku-20240307-v1:0", "max_tokens": 10,
        "messages": [{"role": "user", "content": "hi"}]});
    let a = run(
        &world,
        &settings(),
        request("/messages", HEADER_CREDS, &body),
    );
    assert_eq!(a.status, 200, "{}", a.text());
    assert_eq!(
        world.last_body(),
        json!({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 10,
               "messages": [{"role": "user", "content": "hi"}]})
    );
}

#[test]
fn invocation_metrics_never_reach_the_caller() {
    let world = FakeWorld::default();
    let mut m = hello_message();
    m["amazon-bedrock-invocationMetrics"] = json!({"inputTokenCount": 12});
    world.answer(Canned::json(200, m.to_string().as_bytes()));
    let body = json!({"model": CLAUDE, "max_tokens": 10, "messages": []});
    let a = run(
        &world,
        &settings(),
        request("/v1/messages", HEADER_CREDS, &body),
    );
    assert_eq!(a.json(), hello_message());
}

#[test]
fn non_claude_models_point_to_chat_completions() {
    for model in ["us.amazon.nova-micro-v1:0", "meta.llama3-70b-instruct-v1:0"] {
        let world = FakeWorld::default();
        let body = json!({"model": model, "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]});
        let a = run(
            &world,
            &settings(),
            request("/v1/messages", HEADER_CREDS, &body),
        );
        let message = assert_anthropic_error(&a, 400, "invalid_request_error");
        assert!(message.contains("/v1/chat/completions"), "{message}");
        assert!(world.sent.borrow().is_empty());
    }
}

#[test]
fn bad_requests_are_anthropic_shaped() {
    let world = FakeWorld::default();
    let mut req = request("/v1/messages", HEADER_CREDS, &json!({}));
    req.body = Bytes::from_static(b"{not json");
    assert_anthropic_error(&run(&world, &settings(), req), 400, "invalid_request_error");
    let a = run(
        &world,
        &settings(),
        request("/v1/messages", HEADER_CREDS, &json!({"messages": []})),
    );
    assert!(assert_anthropic_error(&a, 400, "invalid_request_error").contains("model"));
    // No key at all: refused before anything else.
    let a = run(
        &world,
        &settings(),
        request(
            "/v1/messages",
            &[],
            &json!({"model": CLAUDE, "messages": []}),
        ),
    );
    assert_anthropic_error(&a, 401, "authentication_error");
    // A key, but no provider.
    let a = run(
        &world,
        &settings(),
        request(
            "/v1/messages",
            &[("x-api-key", TEST_GATEWAY_KEY)],
            &json!({"model": CLAUDE, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 5}),
        ),
    );
    assert!(assert_anthropic_error(&a, 400, "invalid_request_error").contains("provider"));
    assert!(world.sent.borrow().is_empty());
}

#[test]
fn unknown_routes_and_methods_under_messages_are_anthropic_shaped() {
    let world = FakeWorld::default();
    let a = run(
        &world,
        &settings(),
        request("/v1/messages/batches", HEADER_CREDS, &json!({})),
    );
    assert_anthropic_error(&a, 404, "not_found_error");
    let mut req = request("/v1/messages", HEADER_CREDS, &json!({}));
    req.method = "GET".into();
    assert_anthropic_error(&run(&world, &settings(), req), 405, "invalid_request_error");
    let mut req = request("/v1/messages/count_tokens", HEADER_CREDS, &json!({}));
    req.method = "PUT".into();
    assert_anthropic_error(&run(&world, &settings(), req), 405, "invalid_request_error");
}

#[test]
fn bedrock_errors_keep_status_and_get_anthropic_types() {
    let cases = [
        ("ValidationException", 400, "invalid_request_error"),
        ("AccessDeniedException", 403, "permission_error"),
        ("ResourceNotFoundException", 404, "not_found_error"),
        ("ThrottlingException", 429, "rate_limit_error"),
        ("InternalServerException", 500, "api_error"),
        ("ServiceUnavailableException", 503, "overloaded_error"),
    ];
    for (aws, status, kind) in cases {
        for stream in [false, true] {
            let world = FakeWorld::default();
            world.answer(Canned::aws_error(status, aws, "scripted failure"));
            let body = json!({"model": CLAUDE, "max_tokens": 10, "stream": stream, "messages": [{"role": "user", "content": "hi"}]});
            let a = run(
                &world,
                &settings(),
                request("/v1/messages", HEADER_CREDS, &body),
            );
            let message = assert_anthropic_error(&a, status, kind);
            assert!(
                message.contains(aws) && message.contains("scripted failure"),
                "{message}"
            );
        }
    }
}

// ---------------------------------------------------------------- streaming

fn stream_events() -> Vec<Value> {
    vec![
        json!({"type": "message_start", "message": {"id": "msg_bdrk_01", "type": "message", "role": "assistant",
            "model": "claude-sonnet-4-20250514", "content": [], "stop_reason": null, "stop_sequence": null,
            "usage": {"input_tokens": 12, "output_tokens": 1}}}),
        json!({"type": "content_block_start", "index": 0, "content_block": {"type": "thinking", "thinking": ""}}),
        json!({"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "Let me think."}}),
        json!({"type": "content_block_delta", "index": 0, "delta": {"type": "signature_delta", "signature": "EqQBCkYIBxgCKkA="}}),
        json!({"type": "content_block_stop", "index": 0}),
        json!({"type": "ping"}),
        json!({"type": "content_block_start", "index": 1, "content_block": {"type": "text", "text": ""}}),
        json!({"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": "Hello"}}),
        json!({"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": " there\nfriend"}}),
        json!({"type": "content_block_stop", "index": 1}),
        json!({"type": "content_block_start", "index": 2, "content_block": {"type": "tool_use", "id": "toolu_1", "name": "w", "input": {}}}),
        json!({"type": "content_block_delta", "index": 2, "delta": {"type": "input_json_delta", "partial_json": "{\"city\":"}}),
        json!({"type": "content_block_delta", "index": 2, "delta": {"type": "input_json_delta", "partial_json": "\"Paris\"}"}}),
        json!({"type": "content_block_stop", "index": 2}),
        json!({"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": null}, "usage": {"output_tokens": 21}}),
        json!({"type": "message_stop", "amazon-bedrock-invocationMetrics": {"inputTokenCount": 12, "outputTokenCount": 21,
            "invocationLatency": 687, "firstByteLatency": 312, "cacheReadInputTokenCount": 3}}),
    ]
}

fn stream_body(events: &[Value]) -> Vec<u8> {
    events.iter().flat_map(chunk).collect()
}

/// The exact SSE the caller must get for [`stream_events`].
fn expected_sse() -> String {
    let mut events = stream_events();
    let n = events.len();
    events[n - 2]["usage"] =
        json!({"output_tokens": 21, "input_tokens": 12, "cache_read_input_tokens": 3});
    events[n - 1] = json!({"type": "message_stop"});
    events
        .iter()
        .map(|e| format!("event: {}\ndata: {}\n\n", e["type"].as_str().unwrap(), e))
        .collect()
}

fn collect(pieces: Vec<Result<Bytes, String>>) -> Result<String, edgeport::error::GatewayError> {
    futures_executor::block_on(async {
        let mut sse = anthropic_sse(streams::byte_stream(pieces)).await?;
        let mut out = Vec::new();
        while let Some(b) = sse.next().await {
            out.extend_from_slice(&b);
        }
        Ok(String::from_utf8(out).unwrap())
    })
}

/// Parses SSE text into (event, data JSON) pairs.
fn parse_sse(text: &str) -> Vec<(String, Value)> {
    text.split("\n\n")
        .filter(|e| !e.is_empty())
        .map(|e| {
            let mut lines = e.lines();
            let name = lines
                .next()
                .unwrap()
                .strip_prefix("event: ")
                .unwrap()
                .to_owned();
            let data = lines.next().unwrap().strip_prefix("data: ").unwrap();
            assert!(lines.next().is_none(), "one data line per event: {e:?}");
            (name, serde_json::from_str(data).unwrap())
        })
        .collect()
}

#[test]
fn stream_framing_through_the_pipeline() {
    let world = FakeWorld::default();
    world.answer(Canned::stream(&stream_body(&stream_events())));
    let body = json!({"model": CLAUDE, "max_tokens": 2048, "stream": true, "messages": [{"role": "user", "content": "hi"}]});
    let a = run(
        &world,
        &settings(),
        request("/v1/messages", HEADER_CREDS, &body),
    );
    assert_eq!(a.status, 200, "{}", a.text());
    assert_eq!(
        a.header("content-type"),
        Some("text/event-stream; charset=utf-8")
    );
    let sent = world.last_sent();
    assert!(
        sent.url.ends_with("/invoke-with-response-stream"),
        "{}",
        sent.url
    );
    assert!(!world
        .last_body()
        .as_object()
        .unwrap()
        .contains_key("stream"));
    assert_eq!(parse_sse(&a.text()), parse_sse(&expected_sse()));
    assert_eq!(a.text(), expected_sse());
    assert!(!a.text().contains("invocationMetrics"));
}

#[test]
fn stream_split_at_every_byte_offset_gives_the_same_events() {
    let body = stream_body(&stream_events());
    let want = expected_sse();
    for cut in 1..body.len() {
        let pieces = vec![
            Ok(Bytes::copy_from_slice(&body[..cut])),
            Ok(Bytes::copy_from_slice(&body[cut..])),
        ];
        assert_eq!(collect(pieces).unwrap(), want, "cut at {cut}");
    }
    // And byte by byte, and in random sizes.
    let ones = streams::pieces_of(&body, std::iter::repeat(1));
    assert_eq!(collect(ones).unwrap(), want);
    let mut rng = streams::Prng::new(5);
    for _ in 0..50 {
        let sizes: Vec<usize> = (0..body.len()).map(|_| rng.size(40)).collect();
        assert_eq!(collect(streams::pieces_of(&body, sizes)).unwrap(), want);
    }
}

#[test]
fn each_frame_is_written_as_soon_as_it_is_decoded() {
    // Frame by frame: feeding one frame yields that frame's event (message_delta waits for the next).
    let events = stream_events();
    let mut decoder = FrameDecoder::new();
    let mut state = InvokeStreamState::new();
    for (i, e) in events.iter().enumerate() {
        decoder.push(&chunk(e));
        let frame = decoder.next_frame().unwrap().unwrap();
        let out = process_frame(&frame, &mut state).unwrap();
        let names: Vec<&str> = out.iter().map(|e| e.name.as_str()).collect();
        match e["type"].as_str().unwrap() {
            "message_delta" => assert!(out.is_empty()),
            "message_stop" => assert_eq!(names, ["message_delta", "message_stop"]),
            t => assert_eq!(names, [t], "frame {i}"),
        }
    }
    assert!(state.finished());
    assert!(finish(&mut state).is_empty());
}

#[test]
fn message_start_always_carries_usage() {
    let mut events = stream_events();
    events[0]["message"]
        .as_object_mut()
        .unwrap()
        .remove("usage");
    let out = collect(vec![Ok(Bytes::from(stream_body(&events)))]).unwrap();
    let parsed = parse_sse(&out);
    assert_eq!(parsed[0].0, "message_start");
    assert_eq!(
        parsed[0].1["message"]["usage"],
        json!({"input_tokens": 0, "output_tokens": 0})
    );
    // The metrics then fill input_tokens in message_delta.
    let delta = parsed.iter().find(|(n, _)| n == "message_delta").unwrap();
    assert_eq!(delta.1["usage"]["input_tokens"], 12);
}

#[test]
fn an_exception_before_the_first_event_is_an_http_error() {
    for (exception, status, kind) in [
        ("throttlingException", 429, "rate_limit_error"),
        ("validationException", 400, "invalid_request_error"),
        ("serviceUnavailableException", 503, "overloaded_error"),
        ("internalServerException", 500, "api_error"),
    ] {
        let world = FakeWorld::default();
        let mut body = streams::exception(exception, "scripted stream failure");
        body.extend(stream_body(&stream_events()));
        world.answer(Canned::stream(&body));
        let req = json!({"model": CLAUDE, "max_tokens": 10, "stream": true, "messages": [{"role": "user", "content": "hi"}]});
        let a = run(
            &world,
            &settings(),
            request("/v1/messages", HEADER_CREDS, &req),
        );
        let message = assert_anthropic_error(&a, status, kind);
        assert!(message.contains("scripted stream failure"), "{message}");
    }
}

fn assert_ends_with_error(text: &str, kind: &str, needle: &str) -> Vec<(String, Value)> {
    let parsed = parse_sse(text);
    let (name, data) = parsed.last().unwrap();
    assert_eq!(name, "error", "{text}");
    assert_eq!(data["type"], "error");
    assert_eq!(data["error"]["type"], kind, "{data}");
    assert!(
        data["error"]["message"].as_str().unwrap().contains(needle),
        "{data}"
    );
    assert_eq!(data["error"].as_object().unwrap().len(), 2);
    assert_eq!(parsed.iter().filter(|(n, _)| n == "error").count(), 1);
    parsed
}

#[test]
fn a_later_exception_is_an_error_event_and_the_stream_ends() {
    let events = stream_events();
    let mut body = stream_body(&events[..8]);
    body.extend(streams::exception("throttlingException", "Too many tokens"));
    body.extend(stream_body(&events[8..]));
    let out = collect(vec![Ok(Bytes::from(body))]).unwrap();
    let parsed = assert_ends_with_error(&out, "rate_limit_error", "Too many tokens");
    assert_eq!(parsed.len(), 9);

    let mut body = stream_body(&events[..3]);
    body.extend(streams::error_frame("InternalFailure", "boom"));
    let out = collect(vec![Ok(Bytes::from(body))]).unwrap();
    assert_ends_with_error(&out, "api_error", "boom");
}

#[test]
fn corrupt_crc_dropped_connection_and_early_end_are_error_events() {
    let events = stream_events();
    let good = stream_body(&events[..4]);
    // A flipped message CRC in frame 5.
    let mut bad = chunk(&events[4]);
    let at = bad.len() - 2;
    bad[at] ^= 0xff;
    let mut body = good.clone();
    body.extend(bad);
    body.extend(stream_body(&events[5..]));
    let out = collect(vec![Ok(Bytes::from(body))]).unwrap();
    let parsed = assert_ends_with_error(&out, "api_error", "corrupt");
    assert_eq!(parsed.len(), 5);

    // The connection drops mid-frame.
    let full = stream_body(&events);
    let out = collect(vec![
        Ok(Bytes::copy_from_slice(&full[..good.len() + 7])),
        Err("connection reset".into()),
    ])
    .unwrap();
    assert_ends_with_error(&out, "api_error", "connection reset");

    // The body ends mid-frame, or cleanly but before message_stop.
    let out = collect(vec![Ok(Bytes::copy_from_slice(&full[..good.len() + 7]))]).unwrap();
    assert_ends_with_error(&out, "api_error", "middle of a frame");
    let out = collect(vec![Ok(Bytes::from(good))]).unwrap();
    assert_ends_with_error(&out, "api_error", "message_stop");

    // Nothing at all: an HTTP error.
    let err = collect(vec![]).unwrap_err();
    assert_eq!(err.status, 502);
}

#[test]
fn encode_is_event_then_data() {
    let mut state = InvokeStreamState::new();
    let mut d = FrameDecoder::new();
    d.push(&chunk(&json!({"type": "ping"})));
    let out = process_frame(&d.next_frame().unwrap().unwrap(), &mut state).unwrap();
    assert_eq!(
        &encode(&out)[..],
        b"event: ping\ndata: {\"type\":\"ping\"}\n\n"
    );
}

#[test]
fn unchanged_events_pass_byte_for_byte_and_line_breaks_are_rewritten() {
    // Bedrock's own key order ("type" first) stays as sent.
    let raw =
        br#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"a"}}"#;
    let pretty = b"{\"type\": \"ping\",\n \"x\": 1}";
    let mut body = Vec::new();
    for inner in [&raw[..], &pretty[..]] {
        body.extend(streams::event("chunk", json!({"bytes": b64(inner)})));
    }
    let mut decoder = FrameDecoder::new();
    decoder.push(&body);
    let mut state = InvokeStreamState::new();
    let mut out = Vec::new();
    while let Some(frame) = decoder.next_frame().unwrap() {
        out.extend(process_frame(&frame, &mut state).unwrap());
    }
    assert_eq!(
        String::from_utf8(encode(&out).to_vec()).unwrap(),
        format!(
            "event: content_block_delta\ndata: {}\n\nevent: ping\ndata: {{\"type\":\"ping\",\"x\":1}}\n\n",
            String::from_utf8_lossy(raw)
        )
    );
    // A type that could break the SSE framing is refused, not written.
    let mut decoder = FrameDecoder::new();
    decoder.push(&chunk(&json!({"type": "ping\nevent: x"})));
    let err = process_frame(&decoder.next_frame().unwrap().unwrap(), &mut state).unwrap_err();
    assert_eq!(err.status, 502);
}

// ---------------------------------------------------------------- count_tokens

#[test]
fn count_tokens_sends_the_native_body_to_the_foundation_model() {
    let world = FakeWorld::default();
    world.answer(Canned::json(
        200,
        &fixture_body("pydantic-ai/test_bedrock_count_tokens_tool_config", 0),
    ));
    let body = json!({"model": CLAUDE, "system": "be brief", "temperature": 0,
        "messages": [{"role": "user", "content": "What is the weather in Paris?"}],
        "tools": [{"name": "get_weather", "input_schema": {"type": "object"}}]});
    let mut headers = HEADER_CREDS.to_vec();
    headers.push(("anthropic-beta", "context-1m-2025-08-07"));
    let a = run(
        &world,
        &settings(),
        request("/v1/messages/count_tokens", &headers, &body),
    );
    assert_eq!(a.status, 200, "{}", a.text());
    assert_eq!(a.json(), json!({"input_tokens": 375}));
    let sent = world.last_sent();
    // As the recorded client sent it: the foundation model id, region prefix stripped.
    assert_eq!(
        sent.url,
        fixture("pydantic-ai/test_bedrock_count_tokens_tool_config")["interactions"][0]["request"]
            ["uri"]
            .as_str()
            .unwrap()
    );
    let wire = world.last_body();
    let inner = base64::engine::general_purpose::STANDARD
        .decode(wire["input"]["invokeModel"]["body"].as_str().unwrap())
        .unwrap();
    let inner: Value = serde_json::from_slice(&inner).unwrap();
    assert_eq!(
        inner,
        json!({"anthropic_version": "bedrock-2023-05-31", "anthropic_beta": ["context-1m-2025-08-07"],
            "max_tokens": 1, "system": "be brief", "temperature": 0,
            "messages": [{"role": "user", "content": "What is the weather in Paris?"}],
            "tools": [{"name": "get_weather", "input_schema": {"type": "object"}}]})
    );
    assert_eq!(wire.as_object().unwrap().len(), 1);
}

#[test]
fn count_tokens_max_tokens_exceeds_a_thinking_budget() {
    let world = FakeWorld::default();
    world.answer(Canned::json(200, br#"{"inputTokens": 11}"#));
    let body = json!({"model": "global.anthropic.claude-sonnet-4-5-20250929-v1:0",
        "thinking": {"type": "enabled", "budget_tokens": 2048},
        "messages": [{"role": "user", "content": "hi"}]});
    let a = run(
        &world,
        &settings(),
        request("/messages/count_tokens", HEADER_CREDS, &body),
    );
    assert_eq!(a.json(), json!({"input_tokens": 11}));
    assert!(world
        .last_sent()
        .url
        .ends_with("/model/anthropic.claude-sonnet-4-5-20250929-v1%3A0/count-tokens"));
    let wire = world.last_body();
    let inner: Value = serde_json::from_slice(
        &base64::engine::general_purpose::STANDARD
            .decode(wire["input"]["invokeModel"]["body"].as_str().unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(inner["max_tokens"], 2049);
}

#[test]
fn count_tokens_errors() {
    // Bedrock's own error (recorded).
    let world = FakeWorld::default();
    let mut c = Canned::json(
        400,
        &fixture_body("pydantic-ai/test_bedrock_count_tokens_error", 0),
    );
    c.headers
        .push(("x-amzn-errortype".into(), "ValidationException".into()));
    world.answer(c);
    let body = json!({"model": "anthropic.does-not-exist-v1:0", "messages": [{"role": "user", "content": "hello"}]});
    let a = run(
        &world,
        &settings(),
        request("/v1/messages/count_tokens", HEADER_CREDS, &body),
    );
    let message = assert_anthropic_error(&a, 400, "invalid_request_error");
    assert!(
        message.contains("The provided model identifier is invalid."),
        "{message}"
    );

    // An application inference profile ARN is resolved to its foundation model (GetInferenceProfile
    // on the control plane, then cached), as in the recorded pydantic-ai traffic.
    let world = FakeWorld::default();
    let arn = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc123";
    world.answer(Canned::json(200, json!({"inferenceProfileArn": arn, "models": [
        {"modelArn": "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-sonnet-4-20250514-v1:0"}]}).to_string().as_bytes()));
    world.answer(Canned::json(
        200,
        &fixture_body("pydantic-ai/test_bedrock_inference_profile_count_tokens", 0),
    ));
    let body = json!({"model": arn, "messages": [{"role": "user", "content": "hello"}]});
    let a = run(
        &world,
        &settings(),
        request("/v1/messages/count_tokens", HEADER_CREDS, &body),
    );
    assert_eq!(a.status, 200, "{}", a.text());
    assert_eq!(a.json(), json!({"input_tokens": 11}));
    let sent = world.sent.borrow().clone();
    assert_eq!(sent[0].method, "GET");
    assert_eq!(sent[0].url, "https://bedrock.us-east-1.amazonaws.com/inference-profiles/arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Aapplication-inference-profile%2Fabc123");
    assert_eq!(sent[1].url, "https://bedrock-runtime.us-east-1.amazonaws.com/model/anthropic.claude-sonnet-4-20250514-v1%3A0/count-tokens");

    // Non-Claude.
    let body = json!({"model": "amazon.nova-pro-v1:0", "messages": [{"role": "user", "content": "hello"}]});
    let a = run(
        &world,
        &settings(),
        request("/v1/messages/count_tokens", HEADER_CREDS, &body),
    );
    assert!(
        assert_anthropic_error(&a, 400, "invalid_request_error").contains("/v1/chat/completions")
    );
}
