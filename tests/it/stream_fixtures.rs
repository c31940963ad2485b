//! Bedrock ConverseStream → OpenAI SSE, against recorded Bedrock streams and synthetic ones.
//!
//! The contract: however the network cuts the bytes, the caller gets the same chunks; each frame
//! is written as soon as it is decoded; every stream ends with `[DONE]`, after an in-stream error
//! if it broke, and a stream that fails before its first event is an HTTP error instead.

use crate::streams;
use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use edgeport::error::GatewayError;
use edgeport::providers::bedrock::errors::from_stream_exception;
use edgeport::providers::bedrock::stream::{
    finish, openai_sse, process_frame, ConverseStreamState, StreamContext,
};
use edgeport::stream::eventstream::FrameDecoder;
use futures_util::{Stream, StreamExt};
use serde_json::{json, Value};
use streams::*;

const ID: &str = "chatcmpl-0123456789";
const CREATED: u64 = 1_750_000_000;
const MODEL: &str = "us.anthropic.claude-sonnet-4-5";

fn ctx(strict: bool, include_usage: bool) -> StreamContext {
    StreamContext {
        id: ID.to_owned(),
        created: CREATED,
        model: MODEL.to_owned(),
        strict,
        include_usage,
    }
}

/// Drives `openai_sse` to the end and returns every byte it wrote.
fn run(pieces: Vec<Result<Bytes, String>>, ctx: StreamContext) -> Result<Vec<u8>, GatewayError> {
    futures_executor::block_on(async {
        let stream = openai_sse(byte_stream(pieces), ctx).await?;
        let items: Vec<Bytes> = stream.collect().await;
        Ok(items.concat())
    })
}

fn run_ok(pieces: Vec<Result<Bytes, String>>, ctx: StreamContext) -> Vec<u8> {
    run(pieces, ctx).unwrap_or_else(|e| panic!("stream failed before its first event: {e}"))
}

fn whole(body: &[u8]) -> Vec<Result<Bytes, String>> {
    vec![Ok(Bytes::copy_from_slice(body))]
}

/// The JSON of each `data:` event; asserts the SSE framing and that `[DONE]` is the last event.
fn chunks(sse: &[u8]) -> Vec<Value> {
    let text = std::str::from_utf8(sse).unwrap();
    assert!(
        text.ends_with("data: [DONE]\n\n"),
        "stream does not end with [DONE]: {text}"
    );
    let events: Vec<&str> = text.strip_suffix("\n\n").unwrap().split("\n\n").collect();
    assert_eq!(
        events.iter().filter(|e| **e == "data: [DONE]").count(),
        1,
        "{text}"
    );
    events[..events.len() - 1]
        .iter()
        .map(|e| {
            let json = e
                .strip_prefix("data: ")
                .unwrap_or_else(|| panic!("not a data event: {e:?}"));
            serde_json::from_str(json).unwrap()
        })
        .collect()
}

/// An expected choice chunk; `usage: null` is added when the stream includes usage.
fn chunk(delta: Value, finish_reason: Value, include_usage: bool) -> Value {
    let mut c = json!({
        "id": ID, "object": "chat.completion.chunk", "created": CREATED, "model": MODEL,
        "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish_reason}],
    });
    if include_usage {
        c["usage"] = Value::Null;
    }
    c
}

fn usage_chunk(usage: Value) -> Value {
    json!({
        "id": ID, "object": "chat.completion.chunk", "created": CREATED, "model": MODEL,
        "choices": [], "usage": usage,
    })
}

fn role(include_usage: bool) -> Value {
    chunk(
        json!({"role": "assistant", "content": ""}),
        Value::Null,
        include_usage,
    )
}

fn usage(prompt: u64, completion: u64, cache_read: u64, cache_write: u64) -> Value {
    json!({
        "prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cache_read},
        "cache_read_input_tokens": cache_read, "cache_creation_input_tokens": cache_write,
    })
}

fn deltas(chunks: &[Value]) -> Vec<&Value> {
    chunks
        .iter()
        .filter_map(|c| c["choices"].get(0).map(|ch| &ch["delta"]))
        .collect()
}

fn content(chunks: &[Value]) -> String {
    deltas(chunks)
        .iter()
        .filter_map(|d| d["content"].as_str())
        .collect()
}

fn error_chunk(chunks: &[Value]) -> Option<&Value> {
    chunks.iter().find(|c| c.get("error").is_some())
}

// ---- every recorded stream, every way of cutting it ----

#[test]
fn recorded_streams_exist() {
    let names: Vec<String> = recorded_streams().into_iter().map(|s| s.name).collect();
    for expected in [
        "pydantic-ai/test_bedrock_model_stream#0",
        "pydantic-ai/test_bedrock_model_iter_stream#0",
        "pydantic-ai/test_bedrock_model_thinking_part_stream#0",
        "pydantic-ai/test_bedrock_model_thinking_part_redacted_stream#0",
        "langchain-aws/test_thinking[v0]#0",
        "langchain-aws/test_agent_loop_streaming[v1]#0",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "missing {expected} in {names:?}"
        );
    }
}

#[test]
fn every_recorded_stream_is_the_same_however_it_is_cut() {
    for stream in recorded_streams() {
        let body = &stream.body;
        for ctx in [ctx(true, true), ctx(false, false)] {
            let expected = run_ok(whole(body), ctx.clone());
            let parsed = chunks(&expected);
            assert!(
                error_chunk(&parsed).is_none(),
                "{}: {parsed:?}",
                stream.name
            );
            assert!(
                deltas(&parsed).iter().any(|d| d.get("role").is_some()),
                "{}: no role chunk",
                stream.name
            );

            let one_byte = run_ok(pieces_of(body, std::iter::repeat(1)), ctx.clone());
            assert!(
                one_byte == expected,
                "{}: 1-byte pieces differ",
                stream.name
            );

            for seed in 1..=8 {
                let mut rng = Prng::new(seed);
                let max = [3, 17, 64, 700][seed as usize % 4];
                let sizes: Vec<usize> = (0..body.len()).map(|_| rng.size(max)).collect();
                let got = run_ok(pieces_of(body, sizes), ctx.clone());
                assert!(
                    got == expected,
                    "{}: random pieces (seed {seed}) differ",
                    stream.name
                );
            }
        }
    }
}

/// Where each frame starts, read from the length prefixes (independently of the decoder).
fn frame_starts(body: &[u8]) -> Vec<usize> {
    let mut starts = Vec::new();
    let mut at = 0;
    while at + 4 <= body.len() {
        starts.push(at);
        at += u32::from_be_bytes(body[at..at + 4].try_into().unwrap()) as usize;
    }
    assert_eq!(at, body.len(), "recorded bodies are whole frames");
    starts.push(at);
    starts
}

/// Every byte offset of every recorded stream. Running the whole stream once per offset is
/// quadratic (minutes in a debug build for the 45 KB thinking streams), so each offset is cut in
/// a window of the real bytes: the frame it falls in and the next one, compared with the same
/// window fed whole. Whole-stream splits are checked at every offset for small streams below.
#[test]
fn every_recorded_stream_split_in_two_at_every_offset() {
    let mut splits = 0;
    for stream in recorded_streams() {
        let body = &stream.body;
        let starts = frame_starts(body);
        let frames = starts.len() - 1;
        for k in 0..frames {
            let window = &body[starts[k]..starts[(k + 2).min(frames)]];
            let expected = run(whole(window), ctx(false, true)).map_err(|e| e.to_string());
            // 1..=len: inside the frame, the 4-byte length prefix included, and at its end.
            for at in 1..=(starts[k + 1] - starts[k]).min(window.len() - 1) {
                let got = run(pieces_of(window, [at]), ctx(false, true)).map_err(|e| e.to_string());
                assert!(
                    got == expected,
                    "{}: split at byte {} differs",
                    stream.name,
                    starts[k] + at
                );
                splits += 1;
            }
        }
    }
    assert!(splits > 100_000, "only {splits} splits");
}

#[test]
fn small_recorded_streams_split_in_two_at_every_offset_whole() {
    for name in [
        "pydantic-ai/test_bedrock_model_iter_stream#1",
        "pydantic-ai/test_bedrock_model_stream_empty_text_delta",
    ] {
        let body = recorded(name);
        let expected = run_ok(whole(&body), ctx(false, true));
        for at in 1..body.len() {
            let got = run_ok(pieces_of(&body, [at]), ctx(false, true));
            assert!(got == expected, "{name}: split at byte {at} differs");
        }
    }
}

// ---- exact chunks ----

const PARIS: [&str; 29] = [
    "The",
    " capital of France is Paris.",
    " Paris is not",
    " only the capital city but",
    " also the most",
    " populous city in France",
    ", and",
    " it is",
    " a",
    " major center",
    " for",
    " culture",
    ", commerce, fashion",
    ", and international diplomacy",
    ". Known",
    " for its",
    " historical",
    " landmarks, such",
    " as the Eiffel Tower, the",
    " Louvre Museum, and Notre",
    "-Dame Cathedral",
    ", Paris is often",
    " referred to as \"",
    "The City of Light",
    "\"",
    " or \"The",
    " City",
    " of Love",
    ".\"",
];

#[test]
fn text_stream_exact_chunks() {
    let body = recorded("pydantic-ai/test_bedrock_model_stream");
    let got = chunks(&run_ok(whole(&body), ctx(true, false)));
    let mut expected = vec![role(false)];
    expected.extend(
        PARIS
            .iter()
            .map(|t| chunk(json!({"content": t}), Value::Null, false)),
    );
    expected.push(chunk(json!({}), json!("stop"), false));
    assert_eq!(got, expected);
    // No include_usage: no `usage` key anywhere.
    assert!(got.iter().all(|c| c.get("usage").is_none()));
}

#[test]
fn text_stream_with_usage_exact_chunks() {
    let body = recorded("pydantic-ai/test_bedrock_model_stream");
    let got = chunks(&run_ok(whole(&body), ctx(true, true)));
    let mut expected = vec![role(true)];
    expected.extend(
        PARIS
            .iter()
            .map(|t| chunk(json!({"content": t}), Value::Null, true)),
    );
    expected.push(chunk(json!({}), json!("stop"), true));
    expected.push(usage_chunk(usage(13, 82, 0, 0)));
    assert_eq!(got, expected);
}

#[test]
fn text_stream_not_strict_mirrors_text_into_content_blocks() {
    let body = recorded("pydantic-ai/test_bedrock_model_stream");
    let got = chunks(&run_ok(whole(&body), ctx(false, false)));
    assert_eq!(
        got[1],
        chunk(
            json!({"content": "The", "content_blocks": [{"index": 0, "delta": {"text": "The"}}]}),
            Value::Null,
            false
        )
    );
    // Not strict: Bedrock's own stop reason.
    assert_eq!(
        got.last().unwrap(),
        &chunk(json!({}), json!("end_turn"), false)
    );
}

#[test]
fn tool_call_exact_chunks() {
    let body = recorded("pydantic-ai/test_bedrock_model_iter_stream");
    let got = chunks(&run_ok(whole(&body), ctx(true, true)));
    // Claude writes its plan as text first, then calls the tool.
    assert!(content(&got).starts_with("<thinking> To find the temperature"));
    assert_eq!(got[0], role(true));
    let expected = vec![
        chunk(
            json!({"tool_calls": [{"index": 0, "id": "tooluse_lAG_zP8QRHmSYOwZzzaCqA", "type": "function",
                   "function": {"name": "get_temperature", "arguments": ""}}]}),
            Value::Null,
            true,
        ),
        chunk(
            json!({"tool_calls": [{"index": 0, "function": {"arguments": "{\"city\":\"Paris\"}"}}]}),
            Value::Null,
            true,
        ),
        chunk(json!({}), json!("tool_calls"), true),
        usage_chunk(usage(471, 91, 0, 0)),
    ];
    assert_eq!(got[got.len() - 4..], expected);
}

/// Rebuilds the tool calls a client would: by index, id and name from the first delta,
/// arguments concatenated.
fn tool_calls(chunks: &[Value]) -> Vec<(String, String, String)> {
    let mut calls: Vec<(String, String, String)> = Vec::new();
    for d in deltas(chunks) {
        for tc in d["tool_calls"].as_array().into_iter().flatten() {
            let i = tc["index"].as_u64().unwrap() as usize;
            if i == calls.len() {
                calls.push((
                    tc["id"]
                        .as_str()
                        .expect("first delta has the id")
                        .to_owned(),
                    tc["function"]["name"].as_str().unwrap().to_owned(),
                    String::new(),
                ));
            }
            calls[i]
                .2
                .push_str(tc["function"]["arguments"].as_str().unwrap());
        }
    }
    calls
}

#[test]
fn text_then_tool_call_arguments_parse() {
    let body = recorded("langchain-aws/test_agent_loop_streaming[v0]");
    let got = chunks(&run_ok(
        pieces_of(&body, std::iter::repeat(5)),
        ctx(true, false),
    ));
    assert_eq!(
        content(&got),
        "I'll check the current weather in San Francisco, CA for you."
    );
    let calls = tool_calls(&got);
    assert_eq!(calls.len(), 1);
    assert_eq!(
        (calls[0].0.as_str(), calls[0].1.as_str()),
        ("tooluse_Zsi5nODkqYT50BEZ9GG8ud", "get_weather")
    );
    let args: Value = serde_json::from_str(&calls[0].2).unwrap();
    assert_eq!(args, json!({"location": "San Francisco, CA"}));
    // Bedrock's content block index is 1; the tool call index is 0.
    assert!(deltas(&got)
        .iter()
        .flat_map(|d| d["tool_calls"].as_array().into_iter().flatten())
        .all(|tc| tc["index"] == 0));
    assert_eq!(
        got.last().unwrap()["choices"][0]["finish_reason"],
        "tool_calls"
    );
}

/// The reasoning of a recorded stream, read straight from its frames (independent of the mapping).
fn recorded_reasoning(body: &[u8]) -> (String, String, Vec<String>) {
    let mut d = FrameDecoder::new();
    d.push(body);
    let (mut thinking, mut signature, mut redacted) = (String::new(), String::new(), Vec::new());
    while let Some(f) = d.next_frame().unwrap() {
        let p: Value = serde_json::from_slice(&f.payload).unwrap();
        let r = &p["delta"]["reasoningContent"];
        thinking.push_str(r["text"].as_str().unwrap_or_default());
        signature.push_str(r["signature"].as_str().unwrap_or_default());
        if let Some(data) = r["redactedContent"].as_str() {
            redacted.push(data.to_owned());
        }
    }
    (thinking, signature, redacted)
}

#[test]
fn reasoning_strict_sends_no_thinking() {
    let body = recorded("pydantic-ai/test_bedrock_model_thinking_part_stream");
    let sse = run_ok(whole(&body), ctx(true, false));
    let got = chunks(&sse);
    let (thinking, signature, _) = recorded_reasoning(&body);
    assert!(!thinking.is_empty() && !signature.is_empty());
    assert_eq!(
        content(&got),
        "Hello! It's nice to meet you. How can I help you today?"
    );
    let text = String::from_utf8(sse).unwrap();
    assert!(!text.contains("content_blocks"));
    assert!(!text.contains("greeted me") && !text.contains(&signature[..20]));
    assert_eq!(got.len(), 1 + 5 + 1, "role, 5 text deltas, finish");
}

#[test]
fn reasoning_not_strict_exact_chunks() {
    let body = recorded("pydantic-ai/test_bedrock_model_thinking_part_stream");
    let got = chunks(&run_ok(whole(&body), ctx(false, true)));
    let (thinking, signature, _) = recorded_reasoning(&body);

    let thinking_deltas: Vec<&Value> = got
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content_blocks"].get(0))
        .filter(|b| b["index"] == 0)
        .collect();
    let rebuilt: String = thinking_deltas
        .iter()
        .filter_map(|b| b["delta"]["thinking"].as_str())
        .collect();
    assert_eq!(rebuilt, thinking);
    assert_eq!(
        got[1],
        chunk(
            json!({"content_blocks": [{"index": 0, "delta": {"thinking": "The"}}]}),
            Value::Null,
            true
        )
    );
    assert_eq!(
        got[15],
        chunk(
            json!({"content_blocks": [{"index": 0, "delta": {"signature": signature}}]}),
            Value::Null,
            true
        )
    );
    assert_eq!(
        got[16],
        chunk(
            json!({"content": "Hello! It", "content_blocks": [{"index": 1, "delta": {"text": "Hello! It"}}]}),
            Value::Null,
            true
        )
    );
    // Thinking never leaks into `content`.
    assert_eq!(
        content(&got),
        "Hello! It's nice to meet you. How can I help you today?"
    );
    let n = got.len();
    assert_eq!(got[n - 2], chunk(json!({}), json!("end_turn"), true));
    assert_eq!(got[n - 1], usage_chunk(usage(36, 73, 0, 0)));
}

#[test]
fn redacted_reasoning_not_strict() {
    let body = recorded("pydantic-ai/test_bedrock_model_thinking_part_redacted_stream");
    let got = chunks(&run_ok(whole(&body), ctx(false, false)));
    let (_, _, redacted) = recorded_reasoning(&body);
    assert_eq!(redacted.len(), 2);
    assert_eq!(
        got[1],
        chunk(
            json!({"content_blocks": [{"index": 0, "delta": {"data": redacted[0]}}]}),
            Value::Null,
            false
        )
    );
    assert_eq!(
        got[2],
        chunk(
            json!({"content_blocks": [{"index": 1, "delta": {"data": redacted[1]}}]}),
            Value::Null,
            false
        )
    );
    assert!(content(&got).starts_with("I notice you've sent"));

    // Strict: the redacted blocks are not sent at all.
    let strict = run_ok(whole(&body), ctx(true, false));
    assert!(!String::from_utf8(strict)
        .unwrap()
        .contains(&redacted[0][..32]));
}

#[test]
fn empty_text_delta_sends_nothing() {
    let body = recorded("pydantic-ai/test_bedrock_model_stream_empty_text_delta");
    let got = chunks(&run_ok(whole(&body), ctx(true, false)));
    assert_eq!(
        got,
        vec![
            role(false),
            chunk(
                json!({"content": "Hello! How can I help"}),
                Value::Null,
                false
            ),
            chunk(json!({"content": " you today?"}), Value::Null, false),
            chunk(json!({}), json!("stop"), false),
        ]
    );
}

#[test]
fn server_tool_stream_keeps_tool_indexes_dense() {
    // Code execution: a server toolUse, its toolResult block (ignored), then the final tool call.
    let body = recorded("pydantic-ai/test_bedrock_model_code_execution_tool_stream");
    let got = chunks(&run_ok(whole(&body), ctx(true, false)));
    let calls = tool_calls(&got);
    let names: Vec<&str> = calls.iter().map(|c| c.1.as_str()).collect();
    assert_eq!(names, ["nova_code_interpreter", "final_result"]);
    for (_, _, args) in &calls {
        serde_json::from_str::<Value>(args).unwrap();
    }
}

// ---- synthetic streams ----

fn concat(frames: &[Vec<u8>]) -> Vec<u8> {
    frames.concat()
}

fn message_start() -> Vec<u8> {
    event("messageStart", json!({"role": "assistant"}))
}

fn text(index: u32, t: &str) -> Vec<u8> {
    event(
        "contentBlockDelta",
        json!({"contentBlockIndex": index, "delta": {"text": t}, "p": "abcdef"}),
    )
}

#[test]
fn parallel_tool_calls_get_distinct_indexes() {
    let body = concat(&[
        message_start(),
        text(0, "Checking both."),
        tool_start(1, "tooluse_A", "get_weather"),
        tool_start(2, "tooluse_B", "get_time"),
        tool_input(1, "{\"city\":"),
        tool_input(2, "{\"tz\":\"CET\"}"),
        tool_input(1, "\"Paris\"}"),
        message_stop("tool_use"),
        metadata(json!({"inputTokens": 5, "outputTokens": 7, "totalTokens": 12})),
    ]);
    let got = chunks(&run_ok(
        pieces_of(&body, std::iter::repeat(7)),
        ctx(true, false),
    ));
    assert_eq!(
        tool_calls(&got),
        vec![
            (
                "tooluse_A".to_owned(),
                "get_weather".to_owned(),
                "{\"city\":\"Paris\"}".to_owned()
            ),
            (
                "tooluse_B".to_owned(),
                "get_time".to_owned(),
                "{\"tz\":\"CET\"}".to_owned()
            ),
        ]
    );
    assert_eq!(
        got[3],
        chunk(
            json!({"tool_calls": [{"index": 1, "id": "tooluse_B", "type": "function",
                   "function": {"name": "get_time", "arguments": ""}}]}),
            Value::Null,
            false
        )
    );
    assert_eq!(
        got.last().unwrap(),
        &chunk(json!({}), json!("tool_calls"), false)
    );
}

#[test]
fn usage_counts_cache_tokens_and_follows_the_finish_chunk() {
    let body = concat(&[
        message_start(),
        text(0, "Hi"),
        message_stop("end_turn"),
        metadata(
            json!({"inputTokens": 10, "outputTokens": 3, "totalTokens": 120,
                        "cacheReadInputTokens": 100, "cacheWriteInputTokens": 7}),
        ),
    ]);
    let got = chunks(&run_ok(whole(&body), ctx(true, true)));
    assert_eq!(
        got,
        vec![
            role(true),
            chunk(json!({"content": "Hi"}), Value::Null, true),
            chunk(json!({}), json!("stop"), true),
            usage_chunk(usage(117, 3, 100, 7)),
        ]
    );

    // Metadata before messageStop: usage still comes after the finish chunk.
    let body = concat(&[
        message_start(),
        metadata(json!({"inputTokens": 1, "outputTokens": 2})),
        message_stop("max_tokens"),
    ]);
    let got = chunks(&run_ok(whole(&body), ctx(true, true)));
    assert_eq!(
        got,
        vec![
            role(true),
            chunk(json!({}), json!("length"), true),
            usage_chunk(usage(1, 2, 0, 0))
        ]
    );

    // No metadata at all: no usage chunk, still a clean end.
    let body = concat(&[message_start(), message_stop("end_turn")]);
    let got = chunks(&run_ok(whole(&body), ctx(true, true)));
    assert_eq!(got, vec![role(true), chunk(json!({}), json!("stop"), true)]);
}

#[test]
fn first_frame_exception_is_an_http_error() {
    let body = exception(
        "throttlingException",
        "Too many requests, please wait before trying again.",
    );
    let err = run(pieces_of(&body, std::iter::repeat(3)), ctx(true, true)).unwrap_err();
    assert_eq!(err.status, 429);
    assert_eq!(err.code.as_deref(), Some("ThrottlingException"));
    assert_eq!(err.kind.openai_type(), "rate_limit_error");
    assert!(err.message.contains("Too many requests"), "{}", err.message);

    let err = run(
        whole(&exception("validationException", "bad input")),
        ctx(true, true),
    )
    .unwrap_err();
    assert_eq!(err.status, 400);
    let err = run(
        whole(&exception("serviceUnavailableException", "later")),
        ctx(true, true),
    )
    .unwrap_err();
    assert_eq!(err.status, 503);
}

#[test]
fn first_frame_error_frame_is_an_http_error() {
    let err = run(
        whole(&error_frame("InternalFailure", "boom")),
        ctx(true, false),
    )
    .unwrap_err();
    assert_eq!(err.status, 500);
    assert_eq!(err.code.as_deref(), Some("InternalFailure"));
    assert!(err.message.contains("boom"));
    let err = run(
        whole(&error_frame("ThrottlingException", "slow")),
        ctx(true, false),
    )
    .unwrap_err();
    assert_eq!(err.status, 429);
}

#[test]
fn failures_before_any_frame_are_http_errors() {
    let err = run(vec![], ctx(true, false)).unwrap_err();
    assert_eq!(err.status, 502);
    let err = run(vec![Err("connection reset".to_owned())], ctx(true, false)).unwrap_err();
    assert_eq!(err.status, 502);
    assert!(err.message.contains("connection reset"));
    let start = message_start();
    let err = run(whole(&start[..start.len() - 1]), ctx(true, false)).unwrap_err();
    assert_eq!(err.status, 502);
    let mut corrupt = message_start();
    let last = corrupt.len() - 1;
    corrupt[last] ^= 0xFF;
    let err = run(whole(&corrupt), ctx(true, false)).unwrap_err();
    assert_eq!(err.code.as_deref(), Some("upstream_stream_corrupt"));
}

/// Asserts the stream sent `Hello`, then an in-stream error, then `[DONE]` and nothing else.
fn assert_broken_after_content(sse: &[u8]) -> Value {
    let got = chunks(sse);
    assert_eq!(got.len(), 3, "{got:?}");
    assert_eq!(
        got[1],
        chunk(json!({"content": "Hello"}), Value::Null, false)
    );
    let err = got[2].clone();
    assert_eq!(
        err.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["error"]
    );
    for key in ["message", "type", "code"] {
        assert!(err["error"].get(key).is_some(), "{err}");
    }
    err
}

#[test]
fn exception_after_content_is_an_in_stream_error() {
    let body = concat(&[
        message_start(),
        text(0, "Hello"),
        exception("modelStreamErrorException", "The model stream broke."),
        text(0, "never sent"),
    ]);
    let err = assert_broken_after_content(&run_ok(whole(&body), ctx(true, false)));
    // Status and type come from the one exception table (errors.rs).
    let expected = from_stream_exception(
        "modelStreamErrorException",
        br#"{"message":"The model stream broke."}"#,
    );
    assert_eq!(err, expected.openai_stream_body());
    assert_eq!(
        err["error"]["message"],
        "Bedrock ModelStreamErrorException: The model stream broke."
    );
    assert_eq!(err["error"]["code"], "ModelStreamErrorException");
    let body = concat(&[
        message_start(),
        text(0, "Hello"),
        exception("throttlingException", "slow"),
    ]);
    let err = assert_broken_after_content(&run_ok(whole(&body), ctx(true, false)));
    assert_eq!(err["error"]["type"], "rate_limit_error");
}

#[test]
fn crc_corrupted_mid_stream_is_an_in_stream_error() {
    let third = text(0, "corrupted");
    let mut body = concat(&[message_start(), text(0, "Hello")]);
    let at = body.len() + third.len() - 8; // inside the payload of the third frame
    body.extend(third);
    body[at] ^= 0x20;
    body.extend(message_stop("end_turn"));
    for pieces in [whole(&body), pieces_of(&body, std::iter::repeat(1))] {
        let err = assert_broken_after_content(&run_ok(pieces, ctx(true, false)));
        assert_eq!(err["error"]["code"], "upstream_stream_corrupt");
        assert!(
            err["error"]["message"]
                .as_str()
                .unwrap()
                .contains("checksum"),
            "{err}"
        );
    }
}

#[test]
fn body_ending_mid_frame_is_an_in_stream_error() {
    let stop = message_stop("end_turn");
    for cut in [1, 4, 11, 12, 20, stop.len() - 1] {
        let mut body = concat(&[message_start(), text(0, "Hello")]);
        body.extend_from_slice(&stop[..cut]);
        let err = assert_broken_after_content(&run_ok(whole(&body), ctx(true, false)));
        assert_eq!(
            err["error"]["code"], "upstream_stream_interrupted",
            "cut at {cut}"
        );
    }
}

#[test]
fn body_ending_without_message_stop_is_an_in_stream_error() {
    let body = concat(&[message_start(), text(0, "Hello")]);
    let err = assert_broken_after_content(&run_ok(whole(&body), ctx(true, false)));
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("messageStop"),
        "{err}"
    );
}

#[test]
fn transport_error_is_an_in_stream_error() {
    let body = concat(&[message_start(), text(0, "Hello")]);
    let mut pieces = pieces_of(&body, [10, 40]);
    pieces.push(Err("connection reset by peer".to_owned()));
    pieces.push(Ok(Bytes::from(message_stop("end_turn"))));
    let err = assert_broken_after_content(&run_ok(pieces, ctx(true, false)));
    assert_eq!(err["error"]["code"], "upstream_stream_interrupted");
    assert!(err["error"]["message"]
        .as_str()
        .unwrap()
        .contains("connection reset by peer"));
}

#[test]
fn unknown_events_and_fields_are_ignored() {
    let body = concat(&[
        message_start(),
        event("somethingNew", json!({"whatever": [1, 2, 3]})),
        event(
            "contentBlockDelta",
            json!({"contentBlockIndex": 0, "delta": {"citation": {"title": "x"}}}),
        ),
        text(0, "Hello"),
        event(
            "contentBlockStop",
            json!({"contentBlockIndex": 0, "p": "abc"}),
        ),
        message_stop("end_turn"),
    ]);
    let got = chunks(&run_ok(whole(&body), ctx(true, false)));
    assert_eq!(
        got,
        vec![
            role(false),
            chunk(json!({"content": "Hello"}), Value::Null, false),
            chunk(json!({}), json!("stop"), false)
        ]
    );
}

#[test]
fn unparseable_payloads_are_stream_errors_not_panics() {
    let mut decoder = FrameDecoder::new();
    decoder.push(&event("messageStop", json!({"stopReason": 42})));
    let frame = decoder.next_frame().unwrap().unwrap();
    let mut state = ConverseStreamState::new();
    let err = process_frame(&frame, &mut state, &ctx(true, false)).unwrap_err();
    assert_eq!(err.code.as_deref(), Some("invalid_upstream_event"));

    // A toolUse delta with no contentBlockStart for its block.
    let body = concat(&[message_start(), text(0, "Hello"), tool_input(3, "{}")]);
    let err = assert_broken_after_content(&run_ok(whole(&body), ctx(true, false)));
    assert_eq!(err["error"]["code"], "invalid_upstream_event");
}

#[test]
fn finish_without_message_stop_closes_the_choice() {
    let mut state = ConverseStreamState::new();
    let c = ctx(true, true);
    let got: Vec<Value> = finish(&mut state, &c)
        .iter()
        .map(|c| serde_json::to_value(c).unwrap())
        .collect();
    assert_eq!(got, vec![role(true), chunk(json!({}), json!("stop"), true)]);
    assert!(finish(&mut state, &c).is_empty(), "finish is idempotent");
}

// ---- no buffering ----

/// A body fed by the test: `Pending` until the test pushes the next piece.
#[derive(Clone, Default)]
struct Feed(Rc<RefCell<(VecDeque<Bytes>, bool, usize)>>);

impl Feed {
    fn push(&self, bytes: Vec<u8>) {
        self.0.borrow_mut().0.push_back(Bytes::from(bytes));
    }
    fn close(&self) {
        self.0.borrow_mut().1 = true;
    }
    /// How many pieces the driver has taken.
    fn taken(&self) -> usize {
        self.0.borrow().2
    }
}

impl Stream for Feed {
    type Item = Result<Bytes, String>;
    fn poll_next(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let mut inner = self.0.borrow_mut();
        match inner.0.pop_front() {
            Some(b) => {
                inner.2 += 1;
                Poll::Ready(Some(Ok(b)))
            }
            None if inner.1 => Poll::Ready(None),
            None => Poll::Pending,
        }
    }
}

#[test]
fn each_frame_is_written_before_the_next_one_arrives() {
    let feed = Feed::default();
    let mut cx = Context::from_waker(Waker::noop());
    let mut opening = Box::pin(openai_sse(Box::pin(feed.clone()), ctx(true, false)));
    assert!(opening.as_mut().poll(&mut cx).is_pending(), "no frame yet");

    // The first frame arrives in two reads.
    let start = message_start();
    feed.push(start[..5].to_vec());
    assert!(opening.as_mut().poll(&mut cx).is_pending());
    feed.push(start[5..].to_vec());
    let Poll::Ready(Ok(mut sse)) = opening.as_mut().poll(&mut cx) else {
        panic!("openai_sse should answer once the first frame is decoded");
    };

    let mut next = |sse: &mut edgeport::providers::bedrock::stream::SseStream| match sse
        .poll_next_unpin(&mut cx)
    {
        Poll::Ready(Some(b)) => Some(b),
        Poll::Ready(None) => panic!("stream ended early"),
        Poll::Pending => None,
    };
    let role_bytes = next(&mut sse).expect("the role chunk is ready at once");
    assert_eq!(chunks_no_done(&role_bytes), vec![role(false)]);
    assert!(
        next(&mut sse).is_none(),
        "nothing more until Bedrock sends more"
    );

    for (i, t) in ["Hel", "lo", " world"].iter().enumerate() {
        feed.push(text(0, t));
        let got = next(&mut sse).expect("the chunk is written as soon as its frame is decoded");
        assert_eq!(
            chunks_no_done(&got),
            vec![chunk(json!({"content": t}), Value::Null, false)]
        );
        assert_eq!(
            feed.taken(),
            3 + i,
            "the driver read exactly one more piece"
        );
        assert!(next(&mut sse).is_none());
    }

    feed.push(message_stop("end_turn"));
    let got = next(&mut sse).unwrap();
    assert_eq!(
        chunks_no_done(&got),
        vec![chunk(json!({}), json!("stop"), false)]
    );
    feed.close();
    assert_eq!(&next(&mut sse).unwrap()[..], b"data: [DONE]\n\n");
    assert!(matches!(sse.poll_next_unpin(&mut cx), Poll::Ready(None)));
}

fn chunks_no_done(sse: &[u8]) -> Vec<Value> {
    let text = std::str::from_utf8(sse).unwrap();
    text.strip_suffix("\n\n")
        .unwrap()
        .split("\n\n")
        .map(|e| serde_json::from_str(e.strip_prefix("data: ").unwrap()).unwrap())
        .collect()
}

/// Issue 11: frames that arrive in one read leave as one piece (one write through the runtime's
/// stream bridge instead of one per frame); frames that arrive one read at a time leave one piece
/// each, at once. Same bytes either way.
#[test]
fn frames_of_one_read_leave_together_and_frames_of_separate_reads_leave_at_once() {
    let body = recorded_streams()
        .into_iter()
        .max_by_key(|s| s.body.len())
        .unwrap()
        .body;
    let pieces_of_run = |pieces: Vec<Result<Bytes, String>>| -> Vec<Bytes> {
        futures_executor::block_on(async {
            let stream = openai_sse(byte_stream(pieces), ctx(false, true))
                .await
                .unwrap();
            stream.collect().await
        })
    };
    // One frame per read: the prelude's first 4 bytes are the frame's length.
    let mut per_frame = Vec::new();
    let mut rest = &body[..];
    while rest.len() >= 4 {
        let n = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        per_frame.push(Ok(Bytes::copy_from_slice(&rest[..n])));
        rest = &rest[n..];
    }
    let frames = per_frame.len();
    assert!(frames > 20, "{frames}");
    let separate = pieces_of_run(per_frame);
    let together = pieces_of_run(whole(&body));
    assert_eq!(separate.concat(), together.concat());
    assert!(
        together.len() <= 2,
        "one read: its frames in one piece, then the end ({} pieces)",
        together.len()
    );
    assert!(
        separate.len() > frames / 2,
        "{} pieces for {frames} frames read one by one",
        separate.len()
    );
}
