//! The real gateway pipeline (routing, provider resolution, mapping, signing, answers) against a
//! fake outside world: an in-memory KV and an upstream that answers recorded Bedrock bytes.

use crate::common::*;
use crate::streams;
use edgeport::gateway::Settings;
use serde_json::{json, Value};

fn chat(model: &str) -> Value {
    json!({"model": model, "messages": [{"role": "system", "content": "You are a chatbot."}, {"role": "user", "content": "Hello!"}]})
}

fn demo_record(custom_host: Option<&str>) -> Value {
    let mut r = json!({"schema": 2, "provider": "bedrock", "aws_region": "us-west-2",
        "auth": {"type": "access_key", "access_key_id": "AKIDCATALOG", "secret_access_key": "catalog/secret/never-shown"}});
    if let Some(h) = custom_host {
        r["custom_host"] = json!(h);
    }
    r
}

#[test]
fn header_credentials_recorded_answer() {
    let world = FakeWorld::default();
    world.answer(Canned::json(
        200,
        &fixture_body("pydantic-ai/test_bedrock_model", 0),
    ));
    let a = run(
        &world,
        &settings(),
        request(
            "/v1/chat/completions",
            HEADER_CREDS,
            &chat("us.amazon.nova-micro-v1:0"),
        ),
    );
    assert_eq!(a.status, 200, "{}", a.text());
    let sent = world.last_sent();
    assert_eq!(sent.url, "https://bedrock-runtime.us-east-1.amazonaws.com/model/us.amazon.nova-micro-v1%3A0/converse");
    // Exactly the body the recorded client sent, for the same conversation.
    assert_eq!(
        world.last_body(),
        json!({"messages": [{"role": "user", "content": [{"text": "Hello!"}]}], "system": [{"text": "You are a chatbot."}]})
    );
    let auth = sent
        .headers
        .iter()
        .find(|(k, _)| k == "authorization")
        .unwrap()
        .1
        .clone();
    assert!(
        auth.starts_with(
            "AWS4-HMAC-SHA256 Credential=AKIDEDGEPORTTEST1/20260101/us-east-1/bedrock/aws4_request"
        ),
        "{auth}"
    );
    let body = a.json();
    assert_eq!(body["object"], "chat.completion");
    assert_eq!(body["model"], "us.amazon.nova-micro-v1:0");
    assert!(body["id"].as_str().unwrap().starts_with("chatcmpl-"));
    assert_eq!(body["created"], 1_767_225_600u64);
    assert_eq!(
        body["choices"],
        json!([{"index": 0, "message": {"role": "assistant", "content": "Hello! How can I assist you today? Whether you have questions, need information, or just want to chat, I'm here to help."}, "logprobs": null, "finish_reason": "stop"}])
    );
    assert_eq!(body["usage"]["prompt_tokens"], 7);
    assert_eq!(body["usage"]["completion_tokens"], 30);
    assert_eq!(body["usage"]["total_tokens"], 37);
    assert!(a.header("x-portkey-trace-id").is_some());
    assert_eq!(a.header("x-portkey-provider"), Some("bedrock"));
}

#[test]
fn ids_are_unique() {
    let world = FakeWorld::default();
    for _ in 0..2 {
        world.answer(Canned::json(
            200,
            &fixture_body("pydantic-ai/test_bedrock_model", 0),
        ));
    }
    let a = run(
        &world,
        &settings(),
        request("/v1/chat/completions", HEADER_CREDS, &chat("m")),
    );
    let b = run(
        &world,
        &settings(),
        request("/v1/chat/completions", HEADER_CREDS, &chat("m")),
    );
    assert_ne!(a.json()["id"], b.json()["id"]);
}

#[test]
fn inference_config_mapping() {
    let world = FakeWorld::default();
    world.answer(Canned::json(
        200,
        &fixture_body("pydantic-ai/test_bedrock_model", 0),
    ));
    let body = json!({"model": "m", "messages": [{"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}],
        "max_completion_tokens": 77, "max_tokens": 5, "temperature": 0, "top_p": 0.5, "stop": "END"});
    let a = run(
        &world,
        &settings(),
        request("/v1/chat/completions", HEADER_CREDS, &body),
    );
    assert_eq!(a.status, 200, "{}", a.text());
    assert_eq!(
        world.last_body(),
        json!({"messages": [{"role": "user", "content": [{"text": "a"}, {"text": "b"}]}],
               "inferenceConfig": {"maxTokens": 77, "temperature": 0.0, "topP": 0.5, "stopSequences": ["END"]}})
    );
}

#[test]
fn roles_merge_and_tools_round_trip() {
    let world = FakeWorld::default();
    world.answer(Canned::json(
        200,
        &fixture_body("pydantic-ai/test_bedrock_model", 0),
    ));
    let body = json!({"model": "m", "messages": [
        {"role": "developer", "content": "be brief"},
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "content": null, "tool_calls": [
            {"id": "t1", "type": "function", "function": {"name": "w", "arguments": "{\"city\":\"Paris\"}"}},
            {"id": "t2", "type": "function", "function": {"name": "w", "arguments": "{\"city\":\"Rome\"}"}}]},
        {"role": "tool", "tool_call_id": "t1", "content": "sunny"},
        {"role": "tool", "tool_call_id": "t2", "content": ""},
        {"role": "user", "content": "thanks"}],
        "tools": [{"type": "function", "function": {"name": "w", "description": "weather", "parameters": {"type": "object"}}}]});
    let a = run(
        &world,
        &settings(),
        request("/v1/chat/completions", HEADER_CREDS, &body),
    );
    assert_eq!(a.status, 200, "{}", a.text());
    assert_eq!(
        world.last_body(),
        json!({"messages": [
            {"role": "user", "content": [{"text": "weather?"}]},
            {"role": "assistant", "content": [
                {"toolUse": {"toolUseId": "t1", "name": "w", "input": {"city": "Paris"}}},
                {"toolUse": {"toolUseId": "t2", "name": "w", "input": {"city": "Rome"}}}]},
            {"role": "user", "content": [
                {"toolResult": {"toolUseId": "t1", "content": [{"text": "sunny"}]}},
                {"toolResult": {"toolUseId": "t2", "content": [{"text": ""}]}},
                {"text": "thanks"}]}],
            "system": [{"text": "be brief"}],
            "toolConfig": {"tools": [{"toolSpec": {"name": "w", "description": "weather", "inputSchema": {"json": {"type": "object"}}}}]}})
    );
}

#[test]
fn tool_use_answer_with_thinking_and_cache_usage() {
    let world = FakeWorld::default();
    world.answer(Canned::json(
        200,
        &fixture_body("pydantic-ai/test_bedrock_anthropic_tool_with_thinking", 0),
    ));
    let a = run(
        &world,
        &settings(),
        request(
            "/v1/chat/completions",
            HEADER_CREDS,
            &chat("us.anthropic.claude-3-7-sonnet-20250219-v1:0"),
        ),
    );
    let body = a.json();
    let choice = &body["choices"][0];
    assert_eq!(choice["finish_reason"], "tool_calls");
    assert_eq!(
        choice["message"]["content"],
        "I'll need to check what country you're from to answer that question."
    );
    assert_eq!(
        choice["message"]["tool_calls"],
        json!([{"id": "tooluse_W9DaUFg4Tj2cRPpndqxWSg", "type": "function", "function": {"name": "get_user_country", "arguments": "{}"}}])
    );
    assert!(
        choice["message"].get("content_blocks").is_none(),
        "strict compliance hides thinking"
    );

    // Strict compliance off: thinking comes back with its signature, before the text.
    world.answer(Canned::json(
        200,
        &fixture_body("pydantic-ai/test_bedrock_anthropic_tool_with_thinking", 0),
    ));
    let mut headers = HEADER_CREDS.to_vec();
    headers.push(("x-portkey-strict-open-ai-compliance", "false"));
    let a = run(
        &world,
        &settings(),
        request("/v1/chat/completions", &headers, &chat("m")),
    );
    let blocks = a.json()["choices"][0]["message"]["content_blocks"].clone();
    assert_eq!(blocks[0]["type"], "thinking");
    assert!(blocks[0]["signature"]
        .as_str()
        .unwrap()
        .starts_with("ErcBCkgIBhAB"));
    assert_eq!(
        blocks[1],
        json!({"type": "text", "text": "I'll need to check what country you're from to answer that question."})
    );
}

#[test]
fn cache_tokens_count_as_prompt_tokens() {
    let world = FakeWorld::default();
    world.answer(Canned::json(
        200,
        &fixture_body("pydantic-ai/test_bedrock_cache_write_and_read", 1),
    ));
    let a = run(
        &world,
        &settings(),
        request("/v1/chat/completions", HEADER_CREDS, &chat("m")),
    );
    assert_eq!(
        a.json()["usage"],
        json!({"prompt_tokens": 1324, "completion_tokens": 5, "total_tokens": 1329, "prompt_tokens_details": {"cached_tokens": 1322},
               "cache_read_input_tokens": 1322, "cache_creation_input_tokens": 0})
    );
}

#[test]
fn catalog_slug_in_header_and_in_model() {
    let world = FakeWorld::default();
    world.put_record("prod", demo_record(None));
    for (headers, model) in [
        (
            vec![
                ("x-portkey-api-key", TEST_GATEWAY_KEY),
                ("x-portkey-provider", "@prod"),
            ],
            "anthropic.claude-v2:1",
        ),
        (
            vec![(
                "authorization",
                "Bearer ek_test_all_providers_0123456789abcdef",
            )],
            "@prod/anthropic.claude-v2:1",
        ),
    ] {
        world.answer(Canned::json(
            200,
            &fixture_body("pydantic-ai/test_bedrock_model", 0),
        ));
        let a = run(
            &world,
            &settings(),
            request("/v1/chat/completions", &headers, &chat(model)),
        );
        assert_eq!(a.status, 200, "{}", a.text());
        assert_eq!(a.json()["model"], "anthropic.claude-v2:1");
        let sent = world.last_sent();
        assert_eq!(sent.url, "https://bedrock-runtime.us-west-2.amazonaws.com/model/anthropic.claude-v2%3A1/converse");
        let auth = &sent
            .headers
            .iter()
            .find(|(k, _)| k == "authorization")
            .unwrap()
            .1;
        assert!(auth.contains("Credential=AKIDCATALOG/20260101/us-west-2/bedrock/aws4_request"));
        assert_eq!(a.header("x-portkey-provider"), Some("@prod"));
    }
}

#[test]
fn session_token_is_signed_as_security_token() {
    let world = FakeWorld::default();
    world.answer(Canned::json(
        200,
        &fixture_body("pydantic-ai/test_bedrock_model", 0),
    ));
    let mut headers = HEADER_CREDS.to_vec();
    headers.push(("x-portkey-aws-session-token", "TOKEN123"));
    run(
        &world,
        &settings(),
        request("/v1/chat/completions", &headers, &chat("m")),
    );
    let sent = world.last_sent();
    assert!(sent
        .headers
        .contains(&("x-amz-security-token".to_owned(), "TOKEN123".to_owned())));
}

#[test]
fn custom_host_rules() {
    let world = FakeWorld::default();
    world.put_record("prod", demo_record(None));
    world.put_record(
        "gov",
        demo_record(Some("https://bedrock-runtime.us-gov-west-1.amazonaws.com")),
    );

    // Caller credentials may go to the caller's public host.
    world.answer(Canned::json(
        200,
        &fixture_body("pydantic-ai/test_bedrock_model", 0),
    ));
    let mut h = HEADER_CREDS.to_vec();
    h.push(("x-portkey-custom-host", "https://proxy.example.com/bedrock"));
    let a = run(
        &world,
        &settings(),
        request("/v1/chat/completions", &h, &chat("m")),
    );
    assert_eq!(a.status, 200, "{}", a.text());
    assert_eq!(
        world.last_sent().url,
        "https://proxy.example.com/bedrock/model/m/converse"
    );

    // ... but not to an internal address unless the operator listed it.
    let mut h = HEADER_CREDS.to_vec();
    h.push(("x-portkey-custom-host", "http://169.254.169.254"));
    let a = run(
        &world,
        &settings(),
        request("/v1/chat/completions", &h, &chat("m")),
    );
    assert_eq!(a.status, 403);
    assert_eq!(a.json()["error"]["code"], "custom_host_not_trusted");

    // Catalog credentials never go to a host the caller chose.
    let sent_before = world.sent.borrow().len();
    let a = run(
        &world,
        &settings(),
        request(
            "/v1/chat/completions",
            &[
                ("x-portkey-api-key", TEST_GATEWAY_KEY),
                ("x-portkey-provider", "@prod"),
                ("x-portkey-custom-host", "https://evil.example.com"),
            ],
            &chat("m"),
        ),
    );
    assert_eq!(a.status, 403);
    assert_eq!(a.json()["error"]["type"], "permission_error");
    assert_eq!(world.sent.borrow().len(), sent_before, "nothing was sent");

    // ... unless the host is on TRUSTED_CUSTOM_HOSTS.
    let mut trusted = settings();
    trusted.trusted_custom_hosts = Settings::with_trusted_hosts(
        "vpce-1.bedrock-runtime.us-east-1.vpce.amazonaws.com, http://127.0.0.1:8788",
    )
    .trusted_custom_hosts;
    world.answer(Canned::json(
        200,
        &fixture_body("pydantic-ai/test_bedrock_model", 0),
    ));
    let a = run(
        &world,
        &trusted,
        request(
            "/v1/chat/completions",
            &[
                ("x-portkey-api-key", TEST_GATEWAY_KEY),
                ("x-portkey-provider", "@prod"),
                (
                    "x-portkey-custom-host",
                    "https://vpce-1.bedrock-runtime.us-east-1.vpce.amazonaws.com",
                ),
            ],
            &chat("m"),
        ),
    );
    assert_eq!(a.status, 200, "{}", a.text());

    // A record's own custom host is trusted and signed for.
    world.answer(Canned::json(
        200,
        &fixture_body("pydantic-ai/test_bedrock_model", 0),
    ));
    let a = run(
        &world,
        &settings(),
        request(
            "/v1/chat/completions",
            &[
                ("x-portkey-api-key", TEST_GATEWAY_KEY),
                ("x-portkey-provider", "@gov"),
            ],
            &chat("m"),
        ),
    );
    assert_eq!(a.status, 200);
    assert_eq!(
        world.last_sent().url,
        "https://bedrock-runtime.us-gov-west-1.amazonaws.com/model/m/converse"
    );
}

#[test]
fn bedrock_errors_keep_status_and_type() {
    let world = FakeWorld::default();
    world.answer(Canned::aws_error(
        429,
        "ThrottlingException",
        "Too many requests, please wait before trying again.",
    ));
    let a = run(
        &world,
        &settings(),
        request("/v1/chat/completions", HEADER_CREDS, &chat("m")),
    );
    assert_eq!(a.status, 429);
    assert_eq!(
        a.json(),
        json!({"error": {"message": "Bedrock ThrottlingException: Too many requests, please wait before trying again.", "type": "rate_limit_error", "param": null, "code": "ThrottlingException"}})
    );

    // The recorded invalid-model answer (its type header was trimmed by the recorder).
    world.answer(Canned::json(
        400,
        &fixture_body("pydantic-ai/test_bedrock_error", 0),
    ));
    let a = run(
        &world,
        &settings(),
        request("/v1/chat/completions", HEADER_CREDS, &chat("m")),
    );
    assert_eq!(a.status, 400);
    assert_eq!(
        a.json()["error"]["message"],
        "Bedrock error: The provided model identifier is invalid."
    );

    *world.unreachable.borrow_mut() = true;
    let a = run(
        &world,
        &settings(),
        request("/v1/chat/completions", HEADER_CREDS, &chat("m")),
    );
    assert_eq!(a.status, 502);
    assert_eq!(a.json()["error"]["code"], "upstream_unreachable");
}

#[test]
fn bad_input_gets_clear_errors() {
    let world = FakeWorld::default();
    world.put_record("prod", demo_record(None));
    type Case<'a> = (Vec<(&'a str, &'a str)>, Value, u16, &'a str);
    let cases: Vec<Case> = vec![
        (
            HEADER_CREDS.to_vec(),
            json!({"model": "m"}),
            400,
            "messages",
        ),
        (
            HEADER_CREDS.to_vec(),
            json!({"model": "m", "messages": []}),
            400,
            "messages",
        ),
        (
            HEADER_CREDS.to_vec(),
            json!({"model": "m", "messages": "hi"}),
            400,
            "messages",
        ),
        (
            HEADER_CREDS.to_vec(),
            json!({"messages": [{"role": "user", "content": "x"}]}),
            400,
            "model",
        ),
        (
            HEADER_CREDS.to_vec(),
            json!({"model": "m", "messages": [{"role": "robot", "content": "x"}]}),
            400,
            "robot",
        ),
        (
            HEADER_CREDS.to_vec(),
            json!({"model": "m", "messages": [{"role": "user", "content": "x"}], "n": 2}),
            400,
            "`n`",
        ),
        (
            HEADER_CREDS.to_vec(),
            json!({"model": "m", "messages": [{"role": "user", "content": "x"}], "logprobs": true}),
            400,
            "logprobs",
        ),
        (
            HEADER_CREDS.to_vec(),
            json!({"model": "m", "messages": [{"role": "assistant", "tool_calls": [{"id": "1", "type": "function", "function": {"name": "f", "arguments": "{nope"}}]}]}),
            400,
            "arguments",
        ),
        (
            vec![],
            json!({"model": "m", "messages": [{"role": "user", "content": "x"}]}),
            401,
            "a gateway key is required",
        ),
        (
            vec![("x-portkey-api-key", TEST_GATEWAY_KEY)],
            json!({"model": "m", "messages": [{"role": "user", "content": "x"}]}),
            400,
            "x-portkey-provider",
        ),
        (
            vec![
                ("x-portkey-api-key", TEST_GATEWAY_KEY),
                ("x-portkey-provider", "azure-openai"),
            ],
            json!({"model": "m", "messages": [{"role": "user", "content": "x"}]}),
            400,
            "not supported",
        ),
        (
            vec![
                ("x-portkey-api-key", TEST_GATEWAY_KEY),
                ("x-portkey-provider", "@missing"),
            ],
            json!({"model": "m", "messages": [{"role": "user", "content": "x"}]}),
            400,
            "no provider `@missing`",
        ),
        (
            vec![
                ("x-portkey-api-key", TEST_GATEWAY_KEY),
                ("x-portkey-provider", "bedrock"),
            ],
            json!({"model": "m", "messages": [{"role": "user", "content": "x"}]}),
            400,
            "x-portkey-aws-access-key-id",
        ),
        (
            vec![
                ("x-portkey-api-key", TEST_GATEWAY_KEY),
                ("x-portkey-provider", "bedrock"),
                ("x-portkey-aws-access-key-id", "A"),
                ("x-portkey-aws-secret-access-key", "S"),
                ("x-portkey-aws-region", "evil.com/"),
            ],
            json!({"model": "m", "messages": [{"role": "user", "content": "x"}]}),
            400,
            "region",
        ),
    ];
    for (headers, body, status, needle) in cases {
        let a = run(
            &world,
            &settings(),
            request("/v1/chat/completions", &headers, &body),
        );
        assert_eq!(a.status, status, "{body}: {}", a.text());
        let err = a.json();
        assert!(
            err["error"]["message"].as_str().unwrap().contains(needle),
            "{body}: {err}"
        );
        assert!(err["error"].get("param").is_some() && err["error"].get("code").is_some());
    }
    // Not JSON at all.
    let mut req = request("/v1/chat/completions", HEADER_CREDS, &json!(null));
    req.body = bytes::Bytes::from_static(b"{not json");
    let a = run(&world, &settings(), req);
    assert_eq!(a.status, 400);
    assert!(a.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("not valid JSON"));
    assert!(
        world.sent.borrow().is_empty(),
        "no bad request reached Bedrock"
    );
}

#[test]
fn routes_and_health() {
    let world = FakeWorld::default();
    let mut req = request("/v1/health", &[], &json!(null));
    req.method = "GET".into();
    let a = run(&world, &settings(), req);
    assert_eq!((a.status, a.json()["status"].clone()), (200, json!("ok")));
    let a = run(
        &world,
        &settings(),
        request("/v1/images/variations", &[], &json!({})),
    );
    assert_eq!(a.status, 404);
    assert_eq!(a.json()["error"]["code"], "route_not_found");
}

#[test]
fn secrets_never_reach_answers_or_logs() {
    let world = FakeWorld::default();
    world.put_record("prod", demo_record(None));
    world.answer(Canned::aws_error(
        403,
        "InvalidSignatureException",
        "The request signature we calculated does not match",
    ));
    let a = run(
        &world,
        &settings(),
        request("/v1/chat/completions", HEADER_CREDS, &chat("m")),
    );
    let b = run(
        &world,
        &settings(),
        request(
            "/v1/chat/completions",
            &[
                ("x-portkey-api-key", TEST_GATEWAY_KEY),
                ("x-portkey-provider", "@prod"),
                ("x-portkey-custom-host", "https://evil.example.com"),
            ],
            &chat("m"),
        ),
    );
    let mut everything = a.text() + &b.text();
    for (k, v) in a.headers.iter().chain(b.headers.iter()) {
        everything += &format!("{k}:{v}\n");
    }
    everything += &world.logs.borrow().join("\n");
    assert!(!world.logs.borrow().is_empty());
    for secret in [
        "edgeport/test/secret/key/ONE+1234567890abc",
        "catalog/secret/never-shown",
        "Signature=",
    ] {
        assert!(!everything.contains(secret), "{secret} leaked");
    }
}

#[test]
fn streams_log_how_they_ended() {
    let world = FakeWorld::default();
    let body =
        json!({"model": "m", "stream": true, "messages": [{"role": "user", "content": "x"}]});
    // Complete.
    world.answer(Canned::stream(&streams::recorded(
        "pydantic-ai/test_bedrock_model_stream",
    )));
    let a = run(
        &world,
        &settings(),
        request("/v1/chat/completions", HEADER_CREDS, &body),
    );
    assert_eq!(a.status, 200);
    // An exception after content: the status was 200; the stream's one log line, written at its
    // end, says error.
    let mut bytes = streams::event("messageStart", json!({"role": "assistant"}));
    bytes.extend(streams::event(
        "contentBlockDelta",
        json!({"contentBlockIndex": 0, "delta": {"text": "Hi"}}),
    ));
    bytes.extend(streams::exception("throttlingException", "slow down"));
    world.answer(Canned::stream(&bytes));
    let a = run(
        &world,
        &settings(),
        request("/v1/chat/completions", HEADER_CREDS, &body),
    );
    assert!(a.text().contains("data: {\"error\""));
    let ends: Vec<Value> = world
        .logs
        .borrow()
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["stream"] == true)
        .collect();
    assert_eq!(ends.len(), 2, "one line per streamed request: {ends:?}");
    assert!(ends
        .iter()
        .all(|l| l["status"] == 200 && l["path"] == "/v1/chat/completions"));
    assert_eq!(ends[0]["end"], "complete");
    assert_eq!(ends[1]["end"], "error");
    assert!(ends[1]["trace_id"].is_string());
}

#[test]
fn forward_headers_are_sent_and_signed_and_sensitive_ones_refused() {
    let world = FakeWorld::default();
    world.answer(Canned::json(
        200,
        &fixture_body("pydantic-ai/test_bedrock_model", 0),
    ));
    let mut h = HEADER_CREDS.to_vec();
    h.push(("x-portkey-forward-headers", "X-Request-Tenant, x-missing"));
    h.push(("x-request-tenant", "acme"));
    let a = run(
        &world,
        &settings(),
        request("/v1/chat/completions", &h, &chat("m")),
    );
    assert_eq!(a.status, 200, "{}", a.text());
    let sent = world.last_sent();
    assert!(sent
        .headers
        .contains(&("x-request-tenant".into(), "acme".into())));
    let auth = &sent
        .headers
        .iter()
        .find(|(k, _)| k == "authorization")
        .unwrap()
        .1;
    assert!(
        auth.contains("SignedHeaders=accept;content-type;host;x-amz-date;x-request-tenant"),
        "{auth}"
    );
    for bad in [
        "authorization",
        "x-amz-security-token",
        "x-portkey-aws-secret-access-key",
        "host",
    ] {
        let mut h = HEADER_CREDS.to_vec();
        h.push(("x-portkey-forward-headers", bad));
        let a = run(
            &world,
            &settings(),
            request("/v1/chat/completions", &h, &chat("m")),
        );
        assert_eq!(a.status, 400, "{bad}");
        assert_eq!(a.json()["error"]["param"], "x-portkey-forward-headers");
    }
    let mut h = HEADER_CREDS.to_vec();
    h.push(("x-portkey-request-timeout", "soon"));
    let a = run(
        &world,
        &settings(),
        request("/v1/chat/completions", &h, &chat("m")),
    );
    assert_eq!(
        (a.status, a.json()["error"]["param"].clone()),
        (400, json!("x-portkey-request-timeout"))
    );
}

#[test]
fn upstream_messages_never_echo_credentials() {
    let world = FakeWorld::default();
    let mut h = HEADER_CREDS.to_vec();
    h.push((
        "x-portkey-aws-session-token",
        "SESSIONTOKEN-very-secret-123",
    ));
    world.answer(Canned::aws_error(
        403,
        "InvalidSignatureException",
        "The request signature we calculated does not match the signature you provided.\n\nThe Canonical String for this request should have been\n'POST\n/model/m/converse\n\nx-amz-security-token:SESSIONTOKEN-very-secret-123'",
    ));
    let a = run(
        &world,
        &settings(),
        request("/v1/chat/completions", &h, &chat("m")),
    );
    assert_eq!(a.status, 403);
    let msg = a.json()["error"]["message"].as_str().unwrap().to_owned();
    assert_eq!(msg, "Bedrock InvalidSignatureException: The request signature we calculated does not match the signature you provided.");
    world.answer(Canned::aws_error(
        400,
        "ValidationException",
        "bad key edgeport/test/secret/key/ONE+1234567890abc here",
    ));
    let a = run(
        &world,
        &settings(),
        request("/v1/chat/completions", HEADER_CREDS, &chat("m")),
    );
    assert!(!a
        .text()
        .contains("edgeport/test/secret/key/ONE+1234567890abc"));
    assert!(a.text().contains("[redacted]"));
}
