//! Issue 9, items 4, 5 and 8 on the mapping side: caps on documents, tools and betas (a 400 that
//! names the field and the limit) and on rendered prompts (413); linear work on many same-name
//! inputs and on unclosed template tags; event-stream frames above `MAX_FRAME_BYTES` refused at
//! their prelude; upstream counts at `u64::MAX` that saturate instead of overflowing.

use crate::common::*;
use crate::streams;
use bytes::Bytes;
use edgeport::api::anthropic::MessagesRequest;
use edgeport::api::openai::ChatCompletionRequest;
use edgeport::api::portkey::PortkeyHeaders;
use edgeport::catalog::prompts::{parse_record, render_messages, PromptTemplate};
use edgeport::error::GatewayError;
use edgeport::gateway::RequestHeaders;
use edgeport::limits::{
    MAX_BETAS, MAX_BETA_LEN, MAX_DOCUMENTS, MAX_FRAME_BYTES, MAX_REQUEST_BODY_BYTES, MAX_TOOLS,
};
use edgeport::providers::bedrock::invoke::{self, count_tokens_native_body};
use edgeport::providers::bedrock::invoke_stream::{self, InvokeStreamState};
use edgeport::providers::bedrock::request::{to_converse, MappingContext};
use edgeport::providers::bedrock::response::{to_chat_completion, AnswerContext};
use edgeport::providers::bedrock::stream::{self, openai_sse, ConverseStreamState, StreamContext};
use edgeport::providers::bedrock::wire::ConverseResponse;
use edgeport::stream::eventstream::FrameDecoder;
use futures_util::StreamExt;
use serde_json::{json, Map, Value};

const CLAUDE: &str = "us.anthropic.claude-sonnet-4-5-20250929-v1:0";
const NOVA: &str = "us.amazon.nova-micro-v1:0";
const PDF: &str = "data:application/pdf;base64,JVBERi0xLjQK";

fn chat(body: Value) -> ChatCompletionRequest {
    serde_json::from_value(body).unwrap()
}

fn map(body: Value, ctx: &MappingContext) -> Result<Value, GatewayError> {
    to_converse(&chat(body), ctx).map(|c| serde_json::to_value(c).unwrap())
}

fn claude() -> MappingContext {
    MappingContext::for_model(CLAUDE)
}

fn assert_cap(err: GatewayError, param: &str, limit: usize) {
    assert_eq!(err.status, 400, "{err}");
    assert_eq!(err.param.as_deref(), Some(param), "{err}");
    assert!(err.message.contains(&limit.to_string()), "{err}");
}

fn file_part(filename: &str) -> Value {
    json!({"type": "file", "file": {"file_data": PDF, "filename": filename}})
}

fn user(parts: Vec<Value>) -> Value {
    json!({"model": CLAUDE, "messages": [{"role": "user", "content": parts}]})
}

// ---- documents ----

#[test]
fn documents_up_to_the_cap_are_named_uniquely() {
    let parts = vec![file_part("report.pdf"); MAX_DOCUMENTS];
    let out = map(user(parts), &claude()).unwrap();
    let names: Vec<&str> = out["messages"][0]["content"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["document"]["name"].as_str().unwrap())
        .collect();
    let mut want = vec!["report".to_owned()];
    want.extend((2..=MAX_DOCUMENTS).map(|n| format!("report ({n})")));
    assert_eq!(names, want);
}

#[test]
fn one_document_over_the_cap_is_a_400_naming_the_part() {
    // Spread over a user turn and a tool result: the cap is per request.
    let mut first = vec![file_part("a.pdf"); MAX_DOCUMENTS - 1];
    first.push(json!({"type": "text", "text": "and"}));
    let body = json!({"model": CLAUDE, "messages": [
        {"role": "user", "content": first},
        {"role": "assistant", "content": null,
         "tool_calls": [{"id": "t1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "t1", "content": [file_part("b.pdf"), file_part("c.pdf")]},
    ]});
    let err = map(body, &claude()).unwrap_err();
    assert_cap(err, "messages[2].content[1]", MAX_DOCUMENTS);
}

#[test]
fn image_files_are_not_documents() {
    let image = json!({"type": "file", "file": {"file_data": "data:image/png;base64,iVBORw0K"}});
    let mut parts = vec![image; MAX_DOCUMENTS + 5];
    parts.push(file_part("x.pdf"));
    assert!(map(user(parts), &claude()).is_ok());
}

// ---- tools ----

fn tool(name: &str) -> Value {
    json!({"type": "function", "function": {"name": name, "parameters": {"type": "object"}}})
}

#[test]
fn tools_over_the_cap_are_a_400() {
    let tools: Vec<Value> = (0..MAX_TOOLS).map(|i| tool(&format!("t{i}"))).collect();
    let mut body = user(vec![json!({"type": "text", "text": "hi"})]);
    body["tools"] = Value::Array(tools.clone());
    let out = map(body.clone(), &claude()).unwrap();
    assert_eq!(
        out["toolConfig"]["tools"].as_array().unwrap().len(),
        MAX_TOOLS
    );
    let mut more = tools;
    more.push(tool("one_more"));
    body["tools"] = Value::Array(more);
    assert_cap(map(body, &claude()).unwrap_err(), "tools", MAX_TOOLS);
}

/// A conversation whose assistant turn calls `calls` tools named `names(i)`, without `tools`.
fn history(calls: usize, names: impl Fn(usize) -> String) -> Value {
    let tool_calls: Vec<Value> = (0..calls)
        .map(|i| {
            json!({"id": format!("c{i}"), "type": "function",
            "function": {"name": names(i), "arguments": ""}})
        })
        .collect();
    json!({"model": CLAUDE, "messages": [
        {"role": "user", "content": "go"},
        {"role": "assistant", "content": null, "tool_calls": tool_calls},
        {"role": "tool", "tool_call_id": "c0", "content": "done"},
    ]})
}

#[test]
fn history_tools_are_deduplicated_in_first_use_order_in_linear_time() {
    // 50,000 calls over the largest allowed set of names: one open spec per name.
    let body = history(50_000, |i| format!("tool_{}", (i * 7) % MAX_TOOLS));
    let out = map(body, &claude()).unwrap();
    let names: Vec<&str> = out["toolConfig"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["toolSpec"]["name"].as_str().unwrap())
        .collect();
    let want: Vec<String> = (0..MAX_TOOLS)
        .map(|i| format!("tool_{}", (i * 7) % MAX_TOOLS))
        .collect();
    assert_eq!(names, want);
}

#[test]
fn history_naming_more_tools_than_the_cap_is_a_400() {
    let body = history(MAX_TOOLS + 1, |i| format!("tool_{i}"));
    assert_cap(map(body, &claude()).unwrap_err(), "messages", MAX_TOOLS);
}

// ---- betas, chat route ----

fn beta_names(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("beta-{i}")).collect()
}

fn with_header(header: &str) -> MappingContext {
    MappingContext {
        anthropic_beta_header: Some(header.to_owned()),
        ..claude()
    }
}

fn betas_sent(out: &Value) -> Vec<String> {
    serde_json::from_value(out["additionalModelRequestFields"]["anthropic_beta"].clone()).unwrap()
}

#[test]
fn chat_betas_are_capped_together_and_counted_once() {
    let text = vec![json!({"type": "text", "text": "hi"})];
    // Half in the body, the rest in the header, the body's repeated in the header: exactly the cap.
    let names = beta_names(MAX_BETAS);
    let (body_half, header_half) = names.split_at(MAX_BETAS / 2);
    let mut body = user(text.clone());
    body["anthropic_beta"] = json!(body_half);
    let header = format!("{},{}", header_half.join(","), body_half.join(", "));
    let out = map(body.clone(), &with_header(&header)).unwrap();
    assert_eq!(betas_sent(&out), names);

    // One more distinct name, in the header: a 400 naming the header.
    let over = format!("{header},one-more");
    assert_cap(
        map(body.clone(), &with_header(&over)).unwrap_err(),
        "anthropic-beta",
        MAX_BETAS,
    );
    // Over the cap in the body alone: a 400 naming the body field.
    body["anthropic_beta"] = json!(beta_names(MAX_BETAS + 1).join(","));
    assert_cap(
        map(body, &claude()).unwrap_err(),
        "anthropic_beta",
        MAX_BETAS,
    );
}

#[test]
fn chat_beta_names_are_capped_in_length() {
    let mut body = user(vec![json!({"type": "text", "text": "hi"})]);
    body["anthropic_beta"] = json!(["a".repeat(MAX_BETA_LEN)]);
    assert!(map(body.clone(), &claude()).is_ok());
    body["anthropic_beta"] = json!(["a".repeat(MAX_BETA_LEN + 1)]);
    assert_cap(
        map(body, &claude()).unwrap_err(),
        "anthropic_beta",
        MAX_BETA_LEN,
    );
}

#[test]
fn chat_header_betas_are_ignored_for_other_models() {
    // The header is set per client, for every model: not read at all for a non-Claude model.
    let body = json!({"model": NOVA, "messages": [{"role": "user", "content": "hi"}]});
    let ctx = MappingContext {
        anthropic_beta_header: Some(beta_names(MAX_BETAS * 2).join(",")),
        ..MappingContext::for_model(NOVA)
    };
    let out = map(body, &ctx).unwrap();
    assert!(out.get("additionalModelRequestFields").is_none(), "{out}");
}

#[test]
fn chat_repeated_betas_are_deduplicated_in_linear_time() {
    let mut body = user(vec![json!({"type": "text", "text": "hi"})]);
    body["anthropic_beta"] = json!(vec!["same-beta"; 200_000]);
    let out = map(body, &with_header(&["other-beta"; 100_000].join(","))).unwrap();
    assert_eq!(betas_sent(&out), ["same-beta", "other-beta"]);
}

// ---- betas, /v1/messages ----

fn messages_request(beta: Value) -> MessagesRequest {
    serde_json::from_value(
        json!({"model": CLAUDE, "max_tokens": 10, "anthropic_beta": beta,
        "messages": [{"role": "user", "content": "hi"}]}),
    )
    .unwrap()
}

#[test]
fn messages_betas_from_headers_and_body_are_capped_together() {
    let names = beta_names(MAX_BETAS);
    let headers = PortkeyHeaders::parse(&RequestHeaders::new([
        ("anthropic-beta", names[..10].join(",")),
        ("x-portkey-anthropic-beta", names[10..20].join(",")),
    ]))
    .anthropic_beta;
    let ok = messages_request(json!(names[5..].to_vec()));
    assert_eq!(invoke::betas(&headers, &ok).unwrap(), names);

    let over = messages_request(json!(beta_names(MAX_BETAS + 1)));
    assert_cap(
        invoke::betas(&headers, &over).unwrap_err(),
        "anthropic_beta",
        MAX_BETAS,
    );
    let long = vec![("anthropic-beta".to_owned(), "b".repeat(MAX_BETA_LEN + 1))];
    assert_cap(
        invoke::betas(&long, &messages_request(Value::Null)).unwrap_err(),
        "anthropic-beta",
        MAX_BETA_LEN,
    );
    let repeated = vec![("anthropic-beta".to_owned(), ["x"; 100_000].join(","))];
    let req = messages_request(json!("x, y"));
    assert_eq!(invoke::betas(&repeated, &req).unwrap(), ["x", "y"]);
}

#[test]
fn messages_route_answers_too_many_betas_with_an_anthropic_400() {
    let world = FakeWorld::default();
    let mut headers = HEADER_CREDS.to_vec();
    let many = beta_names(MAX_BETAS + 1).join(",");
    headers.push(("anthropic-beta", &many));
    let body = json!({"model": CLAUDE, "max_tokens": 10,
        "messages": [{"role": "user", "content": "hi"}]});
    for path in ["/v1/messages", "/v1/messages/count_tokens"] {
        let a = run(&world, &settings(), request(path, &headers, &body));
        assert_eq!(a.status, 400, "{path}: {}", a.text());
        let err = a.json();
        assert_eq!(err["error"]["type"], "invalid_request_error", "{err}");
        assert!(
            err["error"]["message"]
                .as_str()
                .unwrap()
                .contains(&MAX_BETAS.to_string()),
            "{err}"
        );
    }
}

// ---- frames ----

/// A prelude announcing `len` bytes, with a valid checksum.
fn prelude(len: u32) -> Vec<u8> {
    let mut out = Vec::from(len.to_be_bytes());
    out.extend(0u32.to_be_bytes());
    let crc = crc32fast::hash(&out);
    out.extend(crc.to_be_bytes());
    out
}

#[test]
fn a_two_mib_frame_fails_at_its_prelude() {
    let two_mib = u32::try_from(2 * 1024 * 1024).unwrap();
    assert!(two_mib as usize > MAX_FRAME_BYTES);
    let mut d = FrameDecoder::new();
    d.push(&prelude(two_mib));
    let err = d.next_frame().unwrap_err();
    assert!(err.to_string().contains("frame length"), "{err}");
    assert_eq!(d.buffered(), 0);
}

fn stream_ctx() -> StreamContext {
    StreamContext {
        id: "chatcmpl-1".into(),
        created: 1,
        model: CLAUDE.into(),
        strict: true,
        include_usage: true,
    }
}

fn sse(pieces: Vec<Vec<u8>>) -> Result<String, GatewayError> {
    let pieces = pieces
        .into_iter()
        .map(|p| Ok(Bytes::from(p)))
        .collect::<Vec<_>>();
    futures_executor::block_on(async {
        let s = openai_sse(streams::byte_stream(pieces), stream_ctx()).await?;
        let out: Vec<Bytes> = s.collect().await;
        Ok(String::from_utf8(out.concat()).unwrap())
    })
}

#[test]
fn a_hostile_frame_is_a_502_before_the_first_event_and_in_stream_after_it() {
    let two_mib = u32::try_from(2 * 1024 * 1024).unwrap();
    // Only the prelude arrives: the decoder does not wait for the 2 MiB it announces.
    let err = sse(vec![prelude(two_mib)]).unwrap_err();
    assert_eq!(err.status, 502, "{err}");

    let start = streams::event("messageStart", json!({"role": "assistant"}));
    let delta = streams::event(
        "contentBlockDelta",
        json!({"contentBlockIndex": 0, "delta": {"text": "Hi"}}),
    );
    let text = sse(vec![start, delta, prelude(two_mib)]).unwrap();
    assert!(text.contains("\"content\":\"Hi\""), "{text}");
    assert!(text.contains("\"error\""), "{text}");
    assert!(text.ends_with("data: [DONE]\n\n"), "{text}");
}

// ---- upstream counts ----

const HUGE: &[u64] = &[u64::MAX, i64::MAX as u64];

#[test]
fn converse_usage_at_u64_max_saturates() {
    for &n in HUGE {
        let raw = json!({"output": {"message": {"role": "assistant", "content": [{"text": "x"}]}},
            "stopReason": "end_turn",
            "usage": {"inputTokens": n, "outputTokens": n, "totalTokens": n,
                "cacheReadInputTokens": n, "cacheWriteInputTokens": n}});
        let resp: ConverseResponse = serde_json::from_value(raw).unwrap();
        let ctx = AnswerContext {
            id: "x".into(),
            created: 1,
            model: CLAUDE.into(),
            strict: true,
        };
        let out = serde_json::to_value(to_chat_completion(resp, &ctx)).unwrap();
        assert_eq!(out["usage"]["prompt_tokens"], u64::MAX, "{out}");
        assert_eq!(out["usage"]["total_tokens"], u64::MAX, "{out}");
        assert_eq!(out["usage"]["completion_tokens"], n, "{out}");
    }
}

#[test]
fn stream_usage_at_u64_max_saturates() {
    for &n in HUGE {
        let mut state = ConverseStreamState::new();
        let frames = [
            streams::event("messageStop", json!({"stopReason": "end_turn"})),
            streams::event(
                "metadata",
                json!({"usage": {"inputTokens": n, "outputTokens": 1, "totalTokens": n,
                    "cacheReadInputTokens": n, "cacheWriteInputTokens": 7}}),
            ),
        ];
        let mut chunks = Vec::new();
        for bytes in frames {
            let mut d = FrameDecoder::new();
            d.push(&bytes);
            let frame = d.next_frame().unwrap().unwrap();
            chunks.extend(stream::process_frame(&frame, &mut state, &stream_ctx()).unwrap());
        }
        let usage = serde_json::to_value(&chunks.last().unwrap().usage).unwrap();
        assert_eq!(usage["prompt_tokens"], u64::MAX, "{usage}");
        assert_eq!(usage["total_tokens"], u64::MAX, "{usage}");
    }
}

#[test]
fn invocation_metrics_at_u64_max_pass_through() {
    for &n in HUGE {
        let mut state = InvokeStreamState::new();
        let event = |v: Value| {
            use base64::Engine;
            let b64 = base64::engine::general_purpose::STANDARD.encode(v.to_string());
            let bytes = streams::event("chunk", json!({ "bytes": b64 }));
            let mut d = FrameDecoder::new();
            d.push(&bytes);
            d.next_frame().unwrap().unwrap()
        };
        let mut out = Vec::new();
        for v in [
            json!({"type": "message_delta", "delta": {"stop_reason": "end_turn"}}),
            json!({"type": "message_stop", "amazon-bedrock-invocationMetrics":
                {"inputTokenCount": n, "outputTokenCount": n, "cacheReadInputTokenCount": n}}),
        ] {
            out.extend(invoke_stream::process_frame(&event(v), &mut state).unwrap());
        }
        let delta: Value = serde_json::from_slice(&out[0].data).unwrap();
        assert_eq!(delta["usage"]["input_tokens"], n, "{delta}");
        assert_eq!(delta["usage"]["cache_read_input_tokens"], n, "{delta}");
    }
}

#[test]
fn a_thinking_budget_of_u64_max_does_not_overflow_max_tokens() {
    for &n in HUGE {
        let mut body = Map::new();
        body.insert(
            "thinking".into(),
            json!({"type": "enabled", "budget_tokens": n}),
        );
        let out = count_tokens_native_body(body);
        assert_eq!(out["max_tokens"], n.saturating_add(1));
    }
}

// ---- stored prompts ----

fn template(text: &str) -> PromptTemplate {
    PromptTemplate {
        messages: vec![json!({"role": "user", "content": text})],
        model: CLAUDE.into(),
        provider: None,
        params: None,
    }
}

#[test]
fn a_rendered_prompt_is_capped_at_the_request_body_limit() {
    // 30 uses of a 1 MiB variable would be 30 MiB: refused, not built.
    let t = template(&"{{x}} ".repeat(30));
    let mut vars = Map::new();
    vars.insert("x".into(), Value::from("v".repeat(1024 * 1024)));
    let err = render_messages(&t, &vars).unwrap_err();
    assert_eq!(err.status, 413, "{err}");
    assert_eq!(err.param.as_deref(), Some("variables"));
    assert!(
        err.message.contains(&MAX_REQUEST_BODY_BYTES.to_string()),
        "{err}"
    );
    // Within the limit it renders.
    let t = template(&"{{x}} ".repeat(5));
    let out = render_messages(&t, &vars).unwrap();
    assert_eq!(
        out[0]["content"].as_str().unwrap().len(),
        5 * (1024 * 1024 + 1)
    );
}

#[test]
fn a_template_of_unclosed_tags_is_scanned_in_linear_time() {
    // Each `{{#` looked for its closing brace to the end of the text: ~N²/2 byte reads, 4.5·10¹²
    // for these 3 MB. Now the search happens once.
    let text = "{{#".repeat(1_000_000);
    let record = json!({"schema": 1, "template": {"model": CLAUDE,
        "messages": [{"role": "user", "content": text}]}});
    let t = parse_record("p", &record.to_string()).unwrap();
    let out = render_messages(&t, &Map::new()).unwrap();
    assert_eq!(out[0]["content"].as_str().unwrap(), text);
}
