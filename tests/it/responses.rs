//! The Responses API (README: Responses API), against recorded Bedrock answers and the real
//! pipeline: Converse → the `response` object, ConverseStream → the Responses event stream (with
//! the invariants the OpenAI SDKs enforce), stream failures, and `POST /v1/responses` /
//! `GET` / `DELETE /v1/responses/{id}` through `gateway::handle` against a fake world (the store
//! in KV, `previous_response_id`, `item_reference`, scopes, OpenAI targets, fallbacks, logs).

use std::collections::HashMap;

use bytes::Bytes;
use edgeport::error::GatewayError;
use edgeport::gateway::responses::{convert, store};
use edgeport::providers::bedrock::responses::{
    final_event, responses_sse, to_response, Finished, ResponsesContext,
};
use edgeport::providers::bedrock::wire::ConverseResponse;
use edgeport::stream::eventstream::FrameDecoder;
use futures_util::StreamExt;
use serde_json::{json, Map, Value};

use crate::common::*;
use crate::streams::*;

const ID: &str = "resp_0123456789abcdef01234567";
const HEX: &str = "0123456789abcdef01234567";
const CREATED: u64 = 1_750_000_000;
const MODEL: &str = "us.anthropic.claude-sonnet-4-5";

fn map(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        other => panic!("not an object: {other}"),
    }
}

/// The context of a request `{"model", "input": "hi"}` (its settings echoed as read).
fn ctx(show_summary: bool, show_encrypted: bool) -> ResponsesContext {
    let echo = convert::read(&map(json!({"model": MODEL, "input": "hi"})))
        .unwrap()
        .echo;
    ResponsesContext {
        id: ID.to_owned(),
        created_at: CREATED,
        model: MODEL.to_owned(),
        echo,
        show_summary,
        show_encrypted,
    }
}

/// Every combination of what a caller may see of reasoning.
fn every_ctx() -> [ResponsesContext; 4] {
    [
        ctx(true, true),
        ctx(false, false),
        ctx(true, false),
        ctx(false, true),
    ]
}

/// The Converse JSON answer of interaction `i` of a recorded fixture.
fn converse_json(name: &str, i: usize) -> Value {
    let v = fixture(name)["interactions"][i]["response"]["json"].clone();
    assert!(v.is_object(), "{name}#{i} has no JSON answer");
    v
}

fn converse(v: &Value) -> ConverseResponse {
    serde_json::from_value(v.clone()).unwrap()
}

/// `to_response` as JSON: the response the caller sees, and the items kept for the store.
fn mapped(answer: &Value, ctx: &ResponsesContext) -> (Value, Vec<Value>) {
    let finished = to_response(converse(answer), ctx);
    finished_json(&finished)
}

fn finished_json(f: &Finished) -> (Value, Vec<Value>) {
    (
        serde_json::to_value(&f.response).unwrap(),
        f.items
            .iter()
            .map(|i| serde_json::to_value(i).unwrap())
            .collect(),
    )
}

fn message(n: usize, text: &str) -> Value {
    json!({"type": "message", "id": format!("msg_{HEX}_{n}"), "status": "completed", "role": "assistant",
           "content": [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}]})
}

fn function_call(n: usize, call_id: &str, name: &str, arguments: &str) -> Value {
    json!({"type": "function_call", "id": format!("fc_{HEX}_{n}"), "call_id": call_id, "name": name,
           "arguments": arguments, "status": "completed"})
}

fn reasoning(n: usize, summary: Option<&str>, encrypted: Option<&str>) -> Value {
    let mut r = json!({"type": "reasoning", "id": format!("rs_{HEX}_{n}"),
        "summary": summary.map(|s| vec![json!({"type": "summary_text", "text": s})]).unwrap_or_default(),
        "status": "completed"});
    if let Some(e) = encrypted {
        r["encrypted_content"] = json!(e);
    }
    r
}

fn usage(input: u64, cached: u64, written: u64, output: u64, total: u64) -> Value {
    json!({"input_tokens": input, "input_tokens_details": {"cached_tokens": cached, "cache_write_tokens": written},
           "output_tokens": output, "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": total})
}

// ---- 1. Converse JSON → the response object ----

#[test]
fn a_text_answer_is_the_whole_response_object() {
    let (response, items) = mapped(
        &converse_json("pydantic-ai/test_bedrock_model", 0),
        &ctx(false, false),
    );
    let text = "Hello! How can I assist you today? Whether you have questions, need information, or just want to chat, I'm here to help.";
    assert_eq!(
        response,
        json!({
            "id": ID, "object": "response", "created_at": CREATED, "status": "completed",
            "error": null, "incomplete_details": null,
            "instructions": null, "max_output_tokens": null, "metadata": {}, "parallel_tool_calls": true,
            "previous_response_id": null, "reasoning": {"effort": null, "summary": null}, "store": true,
            "temperature": null, "text": {"format": {"type": "text"}}, "tool_choice": "auto", "tools": [],
            "top_p": null, "truncation": "disabled", "user": null,
            "model": MODEL,
            "output": [message(0, text)],
            "usage": usage(7, 0, 0, 30, 37),
        })
    );
    assert_eq!(items, vec![message(0, text)]);
}

#[test]
fn thinking_text_and_a_tool_call_with_every_visibility() {
    let answer = converse_json("pydantic-ai/test_bedrock_anthropic_tool_with_thinking", 0);
    let thinking =
        answer["output"]["message"]["content"][0]["reasoningContent"]["reasoningText"].clone();
    let (text, signature) = (
        thinking["text"].as_str().unwrap(),
        thinking["signature"].as_str().unwrap(),
    );
    assert!(signature.starts_with("ErcBCkgIBhAB"));
    let said = "I'll need to check what country you're from to answer that question.";
    let call = function_call(
        2,
        "tooluse_W9DaUFg4Tj2cRPpndqxWSg",
        "get_user_country",
        "{}",
    );
    for c in every_ctx() {
        let (response, items) = mapped(&answer, &c);
        let shown = reasoning(
            0,
            c.show_summary.then_some(text),
            c.show_encrypted.then_some(signature),
        );
        assert_eq!(
            response["output"],
            json!([shown, message(1, said), call]),
            "summary {} encrypted {}",
            c.show_summary,
            c.show_encrypted
        );
        // The store keeps both, whatever the caller saw.
        assert_eq!(
            items,
            vec![
                reasoning(0, Some(text), Some(signature)),
                message(1, said),
                call.clone()
            ]
        );
        // A tool call is a finished answer: `completed` (Bedrock's `tool_use`).
        assert_eq!(
            (
                response["status"].clone(),
                response["incomplete_details"].clone()
            ),
            (json!("completed"), Value::Null)
        );
        assert_eq!(response["usage"], usage(397, 0, 0, 130, 527));
    }
}

#[test]
fn text_then_a_tool_call_with_arguments_as_json_text() {
    let answer = converse_json("pydantic-ai/test_bedrock_model_retry", 0);
    let (response, _) = mapped(&answer, &ctx(false, false));
    let output = response["output"].as_array().unwrap();
    assert_eq!(output.len(), 2);
    assert_eq!(
        output[0],
        message(
            0,
            answer["output"]["message"]["content"][0]["text"]
                .as_str()
                .unwrap()
        )
    );
    let tool = &answer["output"]["message"]["content"][1]["toolUse"];
    assert_eq!(
        output[1],
        function_call(
            1,
            tool["toolUseId"].as_str().unwrap(),
            tool["name"].as_str().unwrap(),
            &tool["input"].to_string()
        )
    );
    let args: Value = serde_json::from_str(output[1]["arguments"].as_str().unwrap()).unwrap();
    assert_eq!(args, tool["input"]);
    assert!(output[1]["arguments"].as_str().unwrap().starts_with('{'));
}

#[test]
fn a_tool_id_of_any_shape_is_the_call_id_and_reasoning_without_signature_has_no_encrypted_content()
{
    // Kimi: unsigned reasoning, then a tool call whose id is not Anthropic's `tooluse_...`.
    let answer = converse_json("pydantic-ai/test_bedrock_moonshotai_tool_call", 0);
    let text = answer["output"]["message"]["content"][0]["reasoningContent"]["reasoningText"]
        ["text"]
        .as_str()
        .unwrap();
    let (response, items) = mapped(&answer, &ctx(true, true));
    let call = function_call(
        1,
        "functions.get_temperature:0",
        "get_temperature",
        r#"{"city":"London"}"#,
    );
    assert_eq!(
        response["output"],
        json!([reasoning(0, Some(text), None), call])
    );
    assert_eq!(items, vec![reasoning(0, Some(text), None), call]);
}

#[test]
fn reasoning_after_the_text_keeps_bedrocks_order() {
    // DeepSeek R1 answers its text block before its reasoning block.
    let answer = converse_json("pydantic-ai/test_bedrock_model_thinking_part_deepseek", 0);
    let blocks = answer["output"]["message"]["content"].as_array().unwrap();
    let (response, _) = mapped(&answer, &ctx(true, true));
    assert_eq!(
        response["output"],
        json!([
            message(0, blocks[0]["text"].as_str().unwrap()),
            reasoning(
                1,
                blocks[1]["reasoningContent"]["reasoningText"]["text"].as_str(),
                None
            ),
        ])
    );
}

#[test]
fn redacted_thinking_is_encrypted_content_with_the_redacted_prefix_and_no_summary() {
    let answer = converse_json("pydantic-ai/test_bedrock_model_thinking_part_redacted", 0);
    let data = answer["output"]["message"]["content"][0]["reasoningContent"]["redactedContent"]
        .as_str()
        .unwrap();
    let text = answer["output"]["message"]["content"][1]["text"]
        .as_str()
        .unwrap();
    for c in every_ctx() {
        let (response, items) = mapped(&answer, &c);
        let encrypted = format!("redacted:{data}");
        assert_eq!(
            response["output"],
            json!([
                reasoning(0, None, c.show_encrypted.then_some(encrypted.as_str())),
                message(1, text)
            ])
        );
        assert_eq!(items[0], reasoning(0, None, Some(&encrypted)));
    }
}

/// Text Bedrock answers with citations (a document was sent with citations on) is in a
/// `citationsContent` block; the ConverseStream of the same kind of answer streams it as text.
#[test]
fn cited_text_is_part_of_the_answer() {
    let (response, _) = mapped(
        &converse_json("langchain-aws/test_pdf_citations", 0),
        &ctx(false, false),
    );
    let text: String = response["output"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["type"] == "message")
        .flat_map(|i| {
            i["content"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p["text"].as_str().unwrap().to_owned())
        })
        .collect();
    assert_eq!(text, "The title of this document is \"Dummy PDF file\".");
}

#[test]
fn server_tool_results_are_not_items_and_ids_stay_dense() {
    // Nova's code interpreter: toolUse, its toolResult block, then the final tool call.
    let answer = converse_json("pydantic-ai/test_bedrock_model_with_code_execution_tool", 0);
    let (response, _) = mapped(&answer, &ctx(false, false));
    assert_eq!(
        response["output"],
        json!([
            function_call(
                0,
                "tooluse_dV5ehBNfl1hUE-UTM9cIww",
                "nova_code_interpreter",
                r#"{"snippet":"1234 * 5678"}"#
            ),
            function_call(
                1,
                "tooluse_DaRsVjwcShCI_3pOsIsWqg",
                "final_result",
                r#"{"result":7006652}"#
            ),
        ])
    );
}

#[test]
fn stop_reasons_set_status_and_incomplete_details() {
    let (response, _) = mapped(
        &converse_json("pydantic-ai/test_bedrock_model_max_tokens", 0),
        &ctx(false, false),
    );
    assert_eq!(response["status"], "incomplete");
    assert_eq!(
        response["incomplete_details"],
        json!({"reason": "max_output_tokens"})
    );
    assert_eq!(
        response["output"],
        json!([message(0, "The capital of France is")])
    );
    assert_eq!(response["usage"], usage(13, 0, 0, 5, 18));

    let answer = |stop: &str| {
        json!({"output": {"message": {"role": "assistant", "content": [{"text": "x"}]}}, "stopReason": stop,
               "usage": {"inputTokens": 1, "outputTokens": 1, "totalTokens": 2}})
    };
    for (stop, status, reason) in [
        ("end_turn", "completed", Value::Null),
        ("tool_use", "completed", Value::Null),
        ("stop_sequence", "completed", Value::Null),
        (
            "max_tokens",
            "incomplete",
            json!({"reason": "max_output_tokens"}),
        ),
        (
            "model_context_window_exceeded",
            "incomplete",
            json!({"reason": "max_output_tokens"}),
        ),
        (
            "guardrail_intervened",
            "incomplete",
            json!({"reason": "content_filter"}),
        ),
        (
            "content_filtered",
            "incomplete",
            json!({"reason": "content_filter"}),
        ),
    ] {
        let (response, _) = mapped(&answer(stop), &ctx(false, false));
        assert_eq!(response["status"], status, "{stop}");
        assert_eq!(response["incomplete_details"], reason, "{stop}");
        assert_eq!(response["error"], Value::Null);
    }
}

#[test]
fn usage_counts_cache_reads_and_writes_as_input() {
    // inputTokens 3, cacheReadInputTokens 1712, cacheWriteInputTokens 236, outputTokens 121.
    let (response, _) = mapped(
        &converse_json(
            "pydantic-ai/test_bedrock_cache_messages_with_document_as_last_content",
            1,
        ),
        &ctx(false, false),
    );
    assert_eq!(
        response["usage"],
        usage(3 + 1712 + 236, 1712, 236, 121, 2072)
    );
    // Cache reads only.
    let (response, _) = mapped(
        &converse_json("pydantic-ai/test_bedrock_cache_write_and_read", 1),
        &ctx(false, false),
    );
    assert_eq!(response["usage"], usage(1324, 1322, 0, 5, 1329));
    // Cache writes only.
    let (response, _) = mapped(
        &converse_json("pydantic-ai/test_bedrock_cache_write_and_read", 0),
        &ctx(false, false),
    );
    assert_eq!(response["usage"], usage(1324, 0, 1322, 5, 1329));
}

/// Every recorded Converse answer: one item per text / toolUse / reasoning block, in order, each
/// id `<kind>_<hex>_<n>` naming this response; arguments are the input as JSON text.
#[test]
fn every_recorded_converse_answer() {
    let mut answers = 0;
    for file in recorded_files() {
        let doc: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        for (i, it) in doc["interactions"].as_array().unwrap().iter().enumerate() {
            if it["request"]["operation"] != "converse" || it["response"]["status"] != 200 {
                continue;
            }
            let answer = &it["response"]["json"];
            let name = format!("{}#{i}", file.display());
            for c in every_ctx() {
                let (response, items) = mapped(answer, &c);
                let blocks: Vec<&Value> = answer["output"]["message"]["content"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|b| {
                        b.get("text").is_some()
                            || b.get("citationsContent").is_some()
                            || b.get("toolUse").is_some()
                            || b.get("reasoningContent").is_some()
                    })
                    .collect();
                let output = response["output"].as_array().unwrap();
                assert_eq!(output.len(), blocks.len(), "{name}");
                assert_eq!(items.len(), blocks.len(), "{name}");
                for (n, (item, block)) in output.iter().zip(&blocks).enumerate() {
                    assert_item_id(item, n, ID);
                    match item["type"].as_str().unwrap() {
                        "message" => {
                            let cited: String = block["citationsContent"]["content"]
                                .as_array()
                                .into_iter()
                                .flatten()
                                .filter_map(|c| c["text"].as_str())
                                .collect();
                            let text = block["text"].as_str().unwrap_or(&cited);
                            assert_eq!(item, &message(n, text), "{name}")
                        }
                        "function_call" => {
                            let tool = &block["toolUse"];
                            assert_eq!(item["call_id"], tool["toolUseId"], "{name}");
                            assert_eq!(item["name"], tool["name"], "{name}");
                            let args: Value =
                                serde_json::from_str(item["arguments"].as_str().unwrap()).unwrap();
                            assert_eq!(args, tool["input"], "{name}");
                        }
                        "reasoning" => {
                            let r = &block["reasoningContent"];
                            let text = r["reasoningText"]["text"]
                                .as_str()
                                .filter(|t| !t.is_empty());
                            let encrypted = match r["redactedContent"].as_str() {
                                Some(d) => Some(format!("redacted:{d}")),
                                None => r["reasoningText"]["signature"].as_str().map(str::to_owned),
                            };
                            let text = if r.get("redactedContent").is_some() {
                                None
                            } else {
                                text
                            };
                            assert_eq!(
                                item,
                                &reasoning(
                                    n,
                                    text.filter(|_| c.show_summary),
                                    encrypted.as_deref().filter(|_| c.show_encrypted)
                                ),
                                "{name}"
                            );
                            assert_eq!(
                                items[n],
                                reasoning(n, text, encrypted.as_deref()),
                                "{name}"
                            );
                        }
                        other => panic!("{name}: item type {other}"),
                    }
                    if item["type"] != "reasoning" {
                        assert_eq!(&items[n], item, "{name}: the store keeps what was answered");
                    }
                }
                let u = &answer["usage"];
                let n = |k: &str| u[k].as_u64().unwrap_or(0);
                assert_eq!(
                    response["usage"],
                    usage(
                        n("inputTokens") + n("cacheReadInputTokens") + n("cacheWriteInputTokens"),
                        n("cacheReadInputTokens"),
                        n("cacheWriteInputTokens"),
                        n("outputTokens"),
                        n("totalTokens")
                    ),
                    "{name}"
                );
            }
            answers += 1;
        }
    }
    assert!(answers > 80, "only {answers} recorded Converse answers");
}

fn recorded_files() -> Vec<std::path::PathBuf> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/recorded");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .flat_map(|d| std::fs::read_dir(d.unwrap().path()).unwrap())
        .map(|f| f.unwrap().path())
        .filter(|f| f.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
}

/// `<kind>_<hex of the response id>_<n>`, and the id names its response.
fn assert_item_id(item: &Value, n: usize, response_id: &str) {
    let kind = match item["type"].as_str().unwrap() {
        "message" => "msg",
        "function_call" => "fc",
        "reasoning" => "rs",
        other => panic!("item type {other}"),
    };
    let hex = response_id.strip_prefix("resp_").unwrap();
    let id = item["id"].as_str().unwrap();
    assert_eq!(id, format!("{kind}_{hex}_{n}"));
    assert_eq!(store::response_of_item(id).as_deref(), Some(response_id));
}

// ---- 2. ConverseStream → the Responses event stream ----

/// Drives `responses_sse` to the end, then appends the final event from the `StreamEnd` (as the
/// gateway does once the response is stored). Returns the bytes and the finished answer.
fn drive(
    pieces: Vec<Result<Bytes, String>>,
    c: &ResponsesContext,
) -> Result<(Vec<u8>, Option<Finished>), GatewayError> {
    futures_executor::block_on(async {
        let (sse, end) = responses_sse(byte_stream(pieces), c.clone()).await?;
        let mut out: Vec<u8> = sse.collect::<Vec<Bytes>>().await.concat();
        let end = std::mem::take(&mut *end.borrow_mut());
        if let Some(f) = &end.finished {
            out.extend(final_event(f, end.next_sequence));
        }
        Ok((out, end.finished))
    })
}

fn drive_ok(
    pieces: Vec<Result<Bytes, String>>,
    c: &ResponsesContext,
) -> (Vec<u8>, Option<Finished>) {
    drive(pieces, c).unwrap_or_else(|e| panic!("the stream failed before its first event: {e}"))
}

fn whole(body: &[u8]) -> Vec<Result<Bytes, String>> {
    vec![Ok(Bytes::copy_from_slice(body))]
}

/// The events of a Responses stream. Asserts the framing: `event: <type>\ndata: <json>\n\n`,
/// the event name equal to the data's `type`.
fn events(sse: &[u8]) -> Vec<Value> {
    let text = std::str::from_utf8(sse).unwrap();
    let body = text
        .strip_suffix("\n\n")
        .unwrap_or_else(|| panic!("the stream does not end with a blank line: {text}"));
    body.split("\n\n")
        .map(|e| {
            let (name, data) = e.split_once('\n').unwrap_or_else(|| panic!("{e:?}"));
            let name = name
                .strip_prefix("event: ")
                .unwrap_or_else(|| panic!("{e:?}"));
            let data = data
                .strip_prefix("data: ")
                .unwrap_or_else(|| panic!("{e:?}"));
            assert!(!data.contains('\n'), "{e:?}");
            let v: Value = serde_json::from_str(data).unwrap();
            assert_eq!(v["type"], name, "the event line names the data's type");
            v
        })
        .collect()
}

const TERMINAL: [&str; 3] = [
    "response.completed",
    "response.incomplete",
    "response.failed",
];

/// Checks what the OpenAI SDKs rely on while they accumulate a Responses stream, rebuilding every
/// item from its `added` event and its deltas; returns the last event (`response.completed`,
/// `response.incomplete` or `response.failed`).
fn check_events(events: &[Value], c: &ResponsesContext) -> Value {
    assert!(events.len() >= 3, "{events:?}");
    assert_eq!(events[0]["type"], "response.created");
    assert_eq!(events[1]["type"], "response.in_progress");
    for e in &events[..2] {
        assert_eq!(e["response"]["id"], c.id.as_str());
        assert_eq!(e["response"]["status"], "in_progress");
        assert_eq!(e["response"]["output"], json!([]));
    }
    for (i, e) in events.iter().enumerate() {
        assert_eq!(
            e["sequence_number"], i as u64,
            "sequence numbers from 0 without gaps: {e}"
        );
    }
    let (last, body) = events.split_last().unwrap();
    let terminal = last["type"].as_str().unwrap();
    assert!(TERMINAL.contains(&terminal), "the last event is {terminal}");
    assert!(
        body.iter()
            .all(|e| !TERMINAL.contains(&e["type"].as_str().unwrap())),
        "exactly one terminal event, last"
    );
    let mut items: Vec<Value> = Vec::new();
    let mut done: Vec<Option<Value>> = Vec::new();
    for e in &body[2..] {
        let kind = e["type"].as_str().unwrap();
        assert!(
            !matches!(kind, "response.created" | "response.in_progress"),
            "{e}"
        );
        let index = e["output_index"]
            .as_u64()
            .unwrap_or_else(|| panic!("no output_index: {e}")) as usize;
        if kind == "response.output_item.added" {
            assert_eq!(
                index,
                items.len(),
                "output_index is the number of items added before"
            );
            let item = &e["item"];
            assert_eq!(item["status"], "in_progress", "{e}");
            assert_item_id(item, index, &c.id);
            match item["type"].as_str().unwrap() {
                "message" => {
                    assert_eq!(item["content"], json!([]), "{e}");
                    assert_eq!(item["role"], "assistant");
                }
                "function_call" => assert_eq!(item["arguments"], "", "{e}"),
                "reasoning" => {
                    assert_eq!(item["summary"], json!([]), "{e}");
                    assert!(item.get("encrypted_content").is_none(), "{e}");
                }
                other => panic!("item type {other}"),
            }
            items.push(item.clone());
            done.push(None);
            continue;
        }
        assert!(index < items.len(), "an event for an item never added: {e}");
        assert!(
            done[index].is_none(),
            "an event after the item's output_item.done: {e}"
        );
        let item = &mut items[index];
        if kind != "response.output_item.done" {
            assert_eq!(e["item_id"], item["id"], "{e}");
        }
        let text_of = |list: &Value, at: &str, e: &Value| -> usize {
            let i = e[at].as_u64().unwrap() as usize;
            assert!(
                i < list.as_array().unwrap().len(),
                "{at} {i} was never added: {e}"
            );
            i
        };
        match kind {
            "response.content_part.added" => {
                assert_eq!(item["type"], "message", "{e}");
                assert_eq!(
                    e["content_index"],
                    item["content"].as_array().unwrap().len() as u64
                );
                assert_eq!(
                    e["part"],
                    json!({"type": "output_text", "text": "", "annotations": [], "logprobs": []})
                );
                item["content"]
                    .as_array_mut()
                    .unwrap()
                    .push(e["part"].clone());
            }
            "response.output_text.delta" => {
                let i = text_of(&item["content"], "content_index", e);
                let delta = e["delta"].as_str().unwrap();
                assert!(!delta.is_empty(), "{e}");
                let t = format!("{}{delta}", item["content"][i]["text"].as_str().unwrap());
                item["content"][i]["text"] = json!(t);
            }
            "response.output_text.done" => {
                let i = text_of(&item["content"], "content_index", e);
                assert_eq!(e["text"], item["content"][i]["text"], "{e}");
            }
            "response.content_part.done" => {
                let i = text_of(&item["content"], "content_index", e);
                assert_eq!(e["part"], item["content"][i], "{e}");
            }
            "response.function_call_arguments.delta" => {
                assert_eq!(item["type"], "function_call", "{e}");
                let delta = e["delta"].as_str().unwrap();
                assert!(!delta.is_empty(), "{e}");
                let a = format!("{}{delta}", item["arguments"].as_str().unwrap());
                item["arguments"] = json!(a);
            }
            "response.function_call_arguments.done" => {
                // A call without input deltas takes no arguments: `{}`, as the JSON answer says.
                if item["arguments"] == "" {
                    assert_eq!(e["arguments"], "{}", "{e}");
                    item["arguments"] = json!("{}");
                }
                assert_eq!(e["arguments"], item["arguments"], "{e}");
            }
            "response.reasoning_summary_part.added" => {
                assert!(c.show_summary, "a summary the caller did not ask for: {e}");
                assert_eq!(item["type"], "reasoning", "{e}");
                assert_eq!(
                    e["summary_index"],
                    item["summary"].as_array().unwrap().len() as u64
                );
                assert_eq!(e["part"], json!({"type": "summary_text", "text": ""}));
                item["summary"]
                    .as_array_mut()
                    .unwrap()
                    .push(e["part"].clone());
            }
            "response.reasoning_summary_text.delta" => {
                let i = text_of(&item["summary"], "summary_index", e);
                let t = format!(
                    "{}{}",
                    item["summary"][i]["text"].as_str().unwrap(),
                    e["delta"].as_str().unwrap()
                );
                item["summary"][i]["text"] = json!(t);
            }
            "response.reasoning_summary_text.done" => {
                let i = text_of(&item["summary"], "summary_index", e);
                assert_eq!(e["text"], item["summary"][i]["text"], "{e}");
            }
            "response.reasoning_summary_part.done" => {
                let i = text_of(&item["summary"], "summary_index", e);
                assert_eq!(e["part"], item["summary"][i], "{e}");
            }
            "response.output_item.done" => {
                let d = &e["item"];
                assert_eq!(d["id"], item["id"], "{e}");
                let mut expected = item.clone();
                expected["status"] = json!("completed");
                if let Some(enc) = d.get("encrypted_content") {
                    assert_eq!(item["type"], "reasoning");
                    assert!(
                        c.show_encrypted,
                        "encrypted content the caller did not ask for: {e}"
                    );
                    expected["encrypted_content"] = enc.clone();
                }
                assert_eq!(d, &expected, "the item as its deltas built it");
                done[index] = Some(d.clone());
            }
            other => panic!("unexpected event {other}: {e}"),
        }
    }
    let response = &last["response"];
    assert_eq!(response["id"], c.id.as_str());
    match terminal {
        "response.failed" => {
            assert_eq!(response["status"], "failed");
            assert_eq!(response["incomplete_details"], Value::Null);
            let code = response["error"]["code"].as_str().unwrap();
            assert!(
                code == "server_error" || code == "rate_limit_exceeded",
                "{code}"
            );
            assert!(response["error"]["message"].is_string());
            let ids: Vec<&Value> = response["output"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| &i["id"])
                .collect();
            let added: Vec<&Value> = items.iter().map(|i| &i["id"]).collect();
            assert_eq!(ids, added, "the failed response holds the items announced");
        }
        _ => {
            let finished: Vec<Value> = done
                .into_iter()
                .map(|d| d.expect("every added item is done before the response is"))
                .collect();
            assert_eq!(
                response["output"],
                Value::Array(finished),
                "the final output is the items streamed"
            );
            assert_eq!(response["error"], Value::Null);
            let status = if terminal == "response.completed" {
                "completed"
            } else {
                "incomplete"
            };
            assert_eq!(response["status"], status);
            assert_eq!(
                response["incomplete_details"].is_null(),
                status == "completed"
            );
        }
    }
    last.clone()
}

/// The Converse JSON answer a ConverseStream body amounts to, read straight from its frames
/// (independently of the mapping): content blocks in the order they start (text and tool input
/// concatenated, reasoning text, signature or redacted data), the stop reason and the usage.
fn converse_of_stream(body: &[u8]) -> Value {
    #[derive(Default)]
    struct Block {
        text: Option<String>,
        tool: Option<(String, String, String)>,
        reasoning: Option<(String, String, Option<String>)>,
    }
    let mut d = FrameDecoder::new();
    d.push(body);
    let mut order: Vec<u64> = Vec::new();
    let mut blocks: HashMap<u64, Block> = HashMap::new();
    let (mut stop, mut usage) = (Value::Null, Value::Null);
    fn block<'a>(
        blocks: &'a mut HashMap<u64, Block>,
        order: &mut Vec<u64>,
        i: u64,
    ) -> &'a mut Block {
        if !blocks.contains_key(&i) {
            order.push(i);
        }
        blocks.entry(i).or_default()
    }
    while let Some(f) = d.next_frame().unwrap() {
        let p: Value = serde_json::from_slice(&f.payload).unwrap();
        let i = p["contentBlockIndex"].as_u64().unwrap_or(0);
        match f.event_type.as_deref() {
            Some("contentBlockStart") => {
                if let Some(t) = p["start"].get("toolUse") {
                    let b = block(&mut blocks, &mut order, i);
                    b.tool = Some((
                        t["toolUseId"].as_str().unwrap().into(),
                        t["name"].as_str().unwrap().into(),
                        String::new(),
                    ));
                }
            }
            Some("contentBlockDelta") => {
                let delta = &p["delta"];
                if let Some(t) = delta["text"].as_str().filter(|t| !t.is_empty()) {
                    let b = block(&mut blocks, &mut order, i);
                    b.text.get_or_insert_default().push_str(t);
                }
                if let Some(input) = delta["toolUse"]["input"].as_str() {
                    let b = block(&mut blocks, &mut order, i);
                    b.tool.as_mut().unwrap().2.push_str(input);
                }
                if let Some(r) = delta.get("reasoningContent") {
                    let b = block(&mut blocks, &mut order, i);
                    let (text, sig, redacted) = b.reasoning.get_or_insert_default();
                    text.push_str(r["text"].as_str().unwrap_or_default());
                    sig.push_str(r["signature"].as_str().unwrap_or_default());
                    if let Some(data) = r["redactedContent"].as_str() {
                        redacted.get_or_insert_default().push_str(data);
                    }
                }
            }
            Some("messageStop") => stop = p["stopReason"].clone(),
            Some("metadata") => usage = p["usage"].clone(),
            _ => {}
        }
    }
    let content: Vec<Value> = order
        .iter()
        .map(|i| {
            let b = &blocks[i];
            if let Some(t) = &b.text {
                json!({"text": t})
            } else if let Some((id, name, input)) = &b.tool {
                let input: Value = if input.is_empty() { json!({}) } else { serde_json::from_str(input).unwrap() };
                json!({"toolUse": {"toolUseId": id, "name": name, "input": input}})
            } else {
                let (text, sig, redacted) = b.reasoning.as_ref().unwrap();
                match redacted {
                    Some(data) => json!({"reasoningContent": {"redactedContent": data}}),
                    None if sig.is_empty() => json!({"reasoningContent": {"reasoningText": {"text": text}}}),
                    None => json!({"reasoningContent": {"reasoningText": {"text": text, "signature": sig}}}),
                }
            }
        })
        .collect();
    json!({"output": {"message": {"role": "assistant", "content": content}}, "stopReason": stop, "usage": usage})
}

/// Function call arguments as JSON values (a stream keeps Bedrock's spacing; the JSON answer's
/// input is re-encoded).
fn arguments_parsed(mut v: Value) -> Value {
    let items = if v.get("output").is_some() {
        v["output"].as_array_mut()
    } else {
        v.as_array_mut()
    };
    for item in items.into_iter().flatten() {
        if item["type"] == "function_call" {
            item["arguments"] = serde_json::from_str(item["arguments"].as_str().unwrap()).unwrap();
        }
    }
    v
}

#[test]
fn recorded_streams_cover_text_tools_and_reasoning() {
    let names: Vec<String> = recorded_streams().into_iter().map(|s| s.name).collect();
    assert!(names.len() >= 15, "{names:?}");
    for expected in [
        "langchain-aws/test_agent_loop_streaming[v1]#0",
        "langchain-aws/test_thinking[v0]#0",
        "pydantic-ai/test_bedrock_model_thinking_part_redacted_stream#0",
        "pydantic-ai/test_bedrock_model_code_execution_tool_stream#0",
        "pydantic-ai/test_bedrock_model_stream_empty_text_delta#0",
    ] {
        assert!(names.iter().any(|n| n == expected), "missing {expected}");
    }
}

/// The checker is not vacuous: a stream an SDK would reject, it rejects.
#[test]
fn the_checker_rejects_what_the_sdks_reject() {
    let body = recorded("pydantic-ai/test_bedrock_model_thinking_part_stream");
    let good = events(&drive_ok(whole(&body), &ctx(true, true)).0);
    check_events(&good, &ctx(true, true));
    let position = |kind: &str| good.iter().position(|e| e["type"] == kind).unwrap();
    let renumber = |mut v: Vec<Value>| {
        for (i, e) in v.iter_mut().enumerate() {
            e["sequence_number"] = json!(i);
        }
        v
    };
    let mut broken: Vec<(&str, Vec<Value>, ResponsesContext)> = Vec::new();
    let mut v = good.clone();
    v.remove(position("response.content_part.added"));
    broken.push(("a delta before its part", renumber(v), ctx(true, true)));
    let mut v = good.clone();
    v.remove(position("response.reasoning_summary_part.added"));
    broken.push((
        "a summary delta before its part",
        renumber(v),
        ctx(true, true),
    ));
    let mut v = good.clone();
    let at = position("response.output_text.delta");
    v[at]["item_id"] = json!("msg_other");
    broken.push(("a delta naming another item", v, ctx(true, true)));
    let mut v = good.clone();
    v[5]["sequence_number"] = json!(6);
    broken.push(("a sequence gap", v, ctx(true, true)));
    let mut v = good.clone();
    let at = position("response.output_text.delta");
    v[at]["delta"] = json!("changed");
    broken.push(("a final text that is not its deltas", v, ctx(true, true)));
    let mut v = good.clone();
    v.remove(good.len() - 2);
    broken.push(("an item never done", renumber(v), ctx(true, true)));
    broken.push(("a summary nobody asked for", good.clone(), ctx(false, true)));
    broken.push((
        "encrypted content nobody asked for",
        good.clone(),
        ctx(true, false),
    ));
    let mut v = good.clone();
    v.swap(0, 1);
    broken.push(("in_progress before created", renumber(v), ctx(true, true)));
    let mut v = good.clone();
    let added = v
        .iter()
        .rposition(|e| e["type"] == "response.output_item.added")
        .unwrap();
    v[added]["output_index"] = json!(0);
    broken.push(("an output_index already used", v, ctx(true, true)));
    for (why, events, c) in broken {
        let caught = std::panic::catch_unwind(|| check_events(&events, &c));
        assert!(caught.is_err(), "the checker accepted {why}");
    }
}

/// Every recorded ConverseStream, with every visibility of reasoning: the SDK invariants hold, the
/// final response is `to_response` of the equivalent JSON answer, the stored items too, and the
/// bytes are the same however the body is cut.
#[test]
fn every_recorded_stream_keeps_the_sdk_invariants_and_equals_the_json_answer() {
    for stream in recorded_streams() {
        let body = &stream.body;
        let equivalent = converse_of_stream(body);
        for c in every_ctx() {
            let (sse, finished) = drive_ok(whole(body), &c);
            let last = check_events(&events(&sse), &c);
            assert_ne!(last["type"], "response.failed", "{}", stream.name);
            let finished = finished.expect("a complete stream leaves its answer");
            let (response, items) = finished_json(&finished);
            assert_eq!(
                last["response"], response,
                "{}: the final event is the finished response",
                stream.name
            );
            let (json_response, json_items) = mapped(&equivalent, &c);
            assert_eq!(
                arguments_parsed(response),
                arguments_parsed(json_response),
                "{}: streamed and JSON answers agree (summary {}, encrypted {})",
                stream.name,
                c.show_summary,
                c.show_encrypted
            );
            assert_eq!(
                arguments_parsed(Value::Array(items)),
                arguments_parsed(Value::Array(json_items)),
                "{}: stored items",
                stream.name
            );
            if c.show_summary && c.show_encrypted {
                let one_byte = drive_ok(pieces_of(body, std::iter::repeat(1)), &c).0;
                assert!(one_byte == sse, "{}: 1-byte pieces differ", stream.name);
                for seed in 1..=4 {
                    let mut rng = Prng::new(seed);
                    let max = [3, 17, 64, 700][seed as usize % 4];
                    let sizes: Vec<usize> = (0..body.len()).map(|_| rng.size(max)).collect();
                    let got = drive_ok(pieces_of(body, sizes), &c).0;
                    assert!(
                        got == sse,
                        "{}: random pieces (seed {seed}) differ",
                        stream.name
                    );
                }
            }
        }
    }
}

#[test]
fn small_recorded_streams_split_in_two_at_every_byte() {
    for name in [
        "langchain-aws/test_agent_loop_streaming[v1]",
        "pydantic-ai/test_bedrock_model_stream_empty_text_delta",
        "pydantic-ai/test_bedrock_model_code_execution_tool_stream",
    ] {
        let body = recorded(name);
        let c = ctx(true, true);
        let expected = drive_ok(whole(&body), &c).0;
        for at in 1..body.len() {
            let got = drive_ok(pieces_of(&body, [at]), &c).0;
            assert!(got == expected, "{name}: split at byte {at} differs");
        }
    }
}

/// The same model answer recorded both ways (Converse and ConverseStream, same usage): the same
/// response but for the tool call's id, Bedrock's own.
#[test]
fn a_recorded_json_twin_gives_the_same_response() {
    let c = ctx(true, true);
    let (sse, _) = drive_ok(
        whole(&recorded("langchain-aws/test_agent_loop_streaming[v1]")),
        &c,
    );
    let streamed = check_events(&events(&sse), &c)["response"].clone();
    let (json_response, _) = mapped(&converse_json("langchain-aws/test_agent_loop[v1]", 0), &c);
    let mut streamed = arguments_parsed(streamed);
    assert_eq!(
        streamed["output"][0]["call_id"],
        "tooluse_q8A6U9X7S4apz8TPXNx4Kq"
    );
    assert_eq!(
        json_response["output"][0]["call_id"],
        "tooluse_Hc3MXzVAJJ7C28xbJu45mA"
    );
    streamed["output"][0]["call_id"] = json_response["output"][0]["call_id"].clone();
    assert_eq!(streamed, arguments_parsed(json_response));
    assert_eq!(
        streamed["output"][0],
        json!({"type": "function_call", "id": format!("fc_{HEX}_0"), "call_id": "tooluse_Hc3MXzVAJJ7C28xbJu45mA",
               "name": "get_weather", "arguments": {"location": "San Francisco, CA"}, "status": "completed"})
    );
}

/// The event sequence of a recorded thinking stream, event by event.
#[test]
fn a_thinking_stream_exact_event_sequence() {
    let body = recorded("pydantic-ai/test_bedrock_model_thinking_part_stream");
    let c = ctx(true, true);
    let got = events(&drive_ok(whole(&body), &c).0);
    let kinds: Vec<&str> = got.iter().map(|e| e["type"].as_str().unwrap()).collect();
    let thinking_deltas = kinds
        .iter()
        .filter(|k| **k == "response.reasoning_summary_text.delta")
        .count();
    let text_deltas = kinds
        .iter()
        .filter(|k| **k == "response.output_text.delta")
        .count();
    assert_eq!((thinking_deltas, text_deltas), (14, 5));
    let mut expected = vec![
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.reasoning_summary_part.added",
    ];
    expected.extend(["response.reasoning_summary_text.delta"; 14]);
    expected.extend([
        "response.reasoning_summary_text.done",
        "response.reasoning_summary_part.done",
        "response.output_item.done",
        "response.output_item.added",
        "response.content_part.added",
    ]);
    expected.extend(["response.output_text.delta"; 5]);
    expected.extend([
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]);
    assert_eq!(kinds, expected);
    let last = got.last().unwrap();
    assert_eq!(
        last["response"]["output"][1],
        message(1, "Hello! It's nice to meet you. How can I help you today?")
    );
    assert_eq!(last["response"]["usage"], usage(36, 0, 0, 73, 109));
    assert!(
        last["response"]["output"][0]["encrypted_content"]
            .as_str()
            .unwrap()
            .len()
            > 100
    );

    // Summary hidden: the reasoning item is announced and done, with no summary events.
    let c = ctx(false, false);
    let got = events(&drive_ok(whole(&body), &c).0);
    assert!(got
        .iter()
        .all(|e| !e["type"].as_str().unwrap().contains("reasoning_summary")));
    let last = check_events(&got, &c);
    assert_eq!(last["response"]["output"][0], reasoning(0, None, None));
}

fn message_start() -> Vec<u8> {
    event("messageStart", json!({"role": "assistant"}))
}

fn text(index: u32, t: &str) -> Vec<u8> {
    event(
        "contentBlockDelta",
        json!({"contentBlockIndex": index, "delta": {"text": t}}),
    )
}

fn block_stop(index: u32) -> Vec<u8> {
    event("contentBlockStop", json!({"contentBlockIndex": index}))
}

#[test]
fn interleaved_parallel_tool_calls_a_call_without_input_and_max_tokens() {
    let body = [
        message_start(),
        text(0, "Checking."),
        tool_start(1, "tooluse_A", "get_weather"),
        tool_start(2, "tooluse_B", "get_time"),
        tool_input(1, "{\"city\":"),
        tool_start(3, "tooluse_C", "no_args"),
        tool_input(2, "{\"tz\":\"CET\"}"),
        tool_input(1, "\"Paris\"}"),
        block_stop(2),
        message_stop("max_tokens"),
        metadata(json!({"inputTokens": 5, "outputTokens": 7, "totalTokens": 112, "cacheReadInputTokens": 100})),
    ]
    .concat();
    let c = ctx(false, false);
    let (sse, finished) = drive_ok(pieces_of(&body, std::iter::repeat(7)), &c);
    let last = check_events(&events(&sse), &c);
    assert_eq!(last["type"], "response.incomplete");
    assert_eq!(
        last["response"]["output"],
        json!([
            message(0, "Checking."),
            function_call(1, "tooluse_A", "get_weather", r#"{"city":"Paris"}"#),
            function_call(2, "tooluse_B", "get_time", r#"{"tz":"CET"}"#),
            function_call(3, "tooluse_C", "no_args", "{}"),
        ])
    );
    assert_eq!(
        last["response"]["incomplete_details"],
        json!({"reason": "max_output_tokens"})
    );
    assert_eq!(last["response"]["usage"], usage(105, 100, 0, 7, 112));
    assert_eq!(
        last["response"],
        serde_json::to_value(finished.unwrap().response).unwrap()
    );
}

// ---- 3. stream failures ----

/// Asserts a broken stream: the SDK invariants, exactly one `response.failed` (last), and no
/// finished answer left for the store. Returns the failed response.
fn assert_failed(pieces: Vec<Result<Bytes, String>>, c: &ResponsesContext) -> Value {
    let (sse, finished) = drive_ok(pieces, c);
    let got = events(&sse);
    let last = check_events(&got, c);
    assert_eq!(last["type"], "response.failed", "{got:?}");
    assert_eq!(
        got.iter()
            .filter(|e| e["type"] == "response.failed")
            .count(),
        1
    );
    assert!(
        finished.is_none(),
        "a failed stream leaves nothing to store"
    );
    last["response"].clone()
}

fn frame_starts(body: &[u8]) -> Vec<usize> {
    let mut starts = Vec::new();
    let mut at = 0;
    while at + 4 <= body.len() {
        starts.push(at);
        at += u32::from_be_bytes(body[at..at + 4].try_into().unwrap()) as usize;
    }
    starts.push(at);
    starts
}

#[test]
fn a_recorded_stream_cut_anywhere_after_its_first_event_fails_with_response_failed() {
    let body = recorded("pydantic-ai/test_bedrock_model_thinking_part_stream");
    let starts = frame_starts(&body);
    let c = ctx(true, true);
    // Cut inside the first content frame (only messageStart read): nothing was sent yet, so an
    // HTTP error (a config's fallback can move on).
    assert!(drive(whole(&body[..starts[1] + 3]), &c).is_err());
    // Cut inside every later frame, and at every frame boundary before messageStop.
    for k in 2..starts.len() - 1 {
        for cut in [starts[k] + 3, starts[k] + (starts[k + 1] - starts[k]) / 2] {
            let failed = assert_failed(whole(&body[..cut]), &c);
            assert_eq!(failed["error"]["code"], "server_error");
            let message = failed["error"]["message"].as_str().unwrap();
            assert!(message.contains("upstream_stream_interrupted"), "{message}");
        }
    }
    let stop = starts.len() - 3; // messageStop, then metadata
    let failed = assert_failed(whole(&body[..starts[stop]]), &c);
    assert!(
        failed["error"]["message"]
            .as_str()
            .unwrap()
            .contains("messageStop"),
        "{failed}"
    );
}

#[test]
fn a_crc_error_mid_stream_fails_with_response_failed() {
    let mut body = recorded("pydantic-ai/test_bedrock_model_thinking_part_stream");
    let starts = frame_starts(&body);
    let at = starts[20] - 8; // inside the payload of frame 19
    body[at] ^= 0x20;
    for pieces in [whole(&body), pieces_of(&body, std::iter::repeat(13))] {
        let failed = assert_failed(pieces, &ctx(true, true));
        assert_eq!(failed["error"]["code"], "server_error");
        let message = failed["error"]["message"].as_str().unwrap();
        assert!(
            message.contains("checksum") && message.contains("upstream_stream_corrupt"),
            "{message}"
        );
        // What was streamed before it is in the failed response, still in progress.
        assert_eq!(failed["output"][0]["type"], "reasoning");
    }
}

#[test]
fn an_exception_after_content_fails_with_the_matching_code() {
    for (exception_type, code, named) in [
        (
            "throttlingException",
            "rate_limit_exceeded",
            "ThrottlingException",
        ),
        (
            "modelStreamErrorException",
            "server_error",
            "ModelStreamErrorException",
        ),
        (
            "serviceUnavailableException",
            "server_error",
            "ServiceUnavailableException",
        ),
        ("validationException", "server_error", "ValidationException"),
    ] {
        let body = [
            message_start(),
            text(0, "Hello"),
            exception(exception_type, "it broke"),
            text(0, " never sent"),
            message_stop("end_turn"),
        ]
        .concat();
        let failed = assert_failed(whole(&body), &ctx(false, false));
        assert_eq!(failed["error"]["code"], code, "{exception_type}");
        let message = failed["error"]["message"].as_str().unwrap();
        assert!(
            message.contains("it broke") && message.contains(named),
            "{message}"
        );
        // The message announced so far, with its text.
        assert_eq!(failed["output"][0]["content"][0]["text"], "Hello");
        assert_eq!(failed["output"][0]["status"], "in_progress");
        assert_eq!(failed["usage"], Value::Null);
    }
    // After every block and messageStop, before metadata: still a failure, nothing to store.
    let body = [
        message_start(),
        text(0, "Hello"),
        block_stop(0),
        message_stop("end_turn"),
        exception("internalServerException", "late"),
    ]
    .concat();
    let failed = assert_failed(whole(&body), &ctx(false, false));
    assert_eq!(failed["output"], json!([message(0, "Hello")]));
}

#[test]
fn an_exception_before_any_output_is_an_http_error() {
    let err = drive(
        whole(&exception("throttlingException", "Too many requests")),
        &ctx(true, true),
    )
    .unwrap_err();
    assert_eq!(err.status, 429);
    assert!(err.message.contains("Too many requests"));
    let err = drive(
        pieces_of(
            &exception("serviceUnavailableException", "later"),
            std::iter::repeat(3),
        ),
        &ctx(true, true),
    )
    .unwrap_err();
    assert_eq!(err.status, 503);
    let err = drive(
        whole(&error_frame("InternalFailure", "boom")),
        &ctx(true, true),
    )
    .unwrap_err();
    assert_eq!(err.status, 500);
    let err = drive(vec![Err("connection reset".into())], &ctx(true, true)).unwrap_err();
    assert_eq!(err.status, 502);
}

/// README: "A failure before any output is an HTTP error (so a config's fallback moves on)".
/// ConverseStream always opens with `messageStart`, which carries no output.
#[test]

fn an_exception_right_after_message_start_is_an_http_error() {
    let body = [
        message_start(),
        exception("throttlingException", "Too many requests"),
    ]
    .concat();
    let result = drive(whole(&body), &ctx(true, true));
    let err = result
        .map(|(sse, _)| String::from_utf8(sse).unwrap())
        .unwrap_err();
    assert_eq!(err.status, 429);
}

// ---- 4. through the pipeline ----

mod pipeline {
    use super::*;
    use edgeport::gateway::{self, Body, GatewayRequest, RequestHeaders, Settings, Vars};

    const HAIKU: &str = "anthropic.claude-3-haiku-20240307-v1:0";
    const CATALOG_SECRET: &str = "bedrock/secret/never-shown";
    const OPENAI_KEY: &str = "sk-test-openai-prod-0123456789";
    const OTHER_KEY: &str = "ek_test_other_team_0123456789abcdef0000";
    const KEYED: &[(&str, &str)] = &[("x-portkey-api-key", TEST_GATEWAY_KEY)];
    const TTL: u64 = 2_592_000;

    fn world() -> FakeWorld {
        let w = FakeWorld::default();
        w.put_record(
            "prod",
            json!({"aws_region": "us-east-1", "auth": {"type": "access_key", "access_key_id": "AKIDPROD",
                   "secret_access_key": CATALOG_SECRET}}),
        );
        w.put_record(
            "openai-prod",
            json!({"provider": "openai", "auth": {"type": "api_key", "api_key": OPENAI_KEY},
                   "base_url": "https://openai.example/v1"}),
        );
        w.put_key(
            OTHER_KEY,
            json!({"name": "other", "providers": ["*"], "enabled": true}),
        );
        w
    }

    fn model() -> String {
        format!("@prod/{HAIKU}")
    }

    /// A model with structured output and thinking.
    const SONNET: &str = "us.anthropic.claude-sonnet-4-5-20250929-v1:0";

    fn post(w: &FakeWorld, headers: &[(&str, &str)], body: &Value) -> Answer {
        run(w, &settings(), request("/v1/responses", headers, body))
    }

    fn call(
        w: &FakeWorld,
        s: &Settings,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
    ) -> Answer {
        run(
            w,
            s,
            GatewayRequest {
                method: method.into(),
                path: path.into(),
                headers: RequestHeaders::new(headers.iter().map(|(k, v)| (*k, (*v).to_owned()))),
                body: Bytes::new(),
                oversized: false,
            },
        )
    }

    fn get(w: &FakeWorld, headers: &[(&str, &str)], id: &str) -> Answer {
        call(
            w,
            &settings(),
            "GET",
            &format!("/v1/responses/{id}"),
            headers,
        )
    }

    fn key_scope(key: &str) -> String {
        format!("key:{}", edgeport::catalog::keys::key_hash(key))
    }

    fn kv_key(id: &str) -> String {
        format!("response:{}:{id}", key_scope(TEST_GATEWAY_KEY))
    }

    /// The stored record of response `id` (gateway key scope).
    fn stored(w: &FakeWorld, id: &str) -> Option<Value> {
        w.kv.0
            .borrow()
            .get(&kv_key(id))
            .map(|t| serde_json::from_str(t).unwrap())
    }

    fn response_keys(w: &FakeWorld) -> Vec<String> {
        let mut keys: Vec<String> =
            w.kv.0
                .borrow()
                .keys()
                .filter(|k| k.starts_with("response:"))
                .cloned()
                .collect();
        keys.sort();
        keys
    }

    fn answer_json(w: &FakeWorld, name: &str, i: usize) {
        w.answer(Canned::json(200, &fixture_body(name, i)));
    }

    fn hello(w: &FakeWorld) {
        answer_json(w, "pydantic-ai/test_bedrock_model", 0);
    }

    const HELLO: &str = "Hello! How can I assist you today? Whether you have questions, need information, or just want to chat, I'm here to help.";

    fn sse_events(a: &Answer) -> Vec<Value> {
        assert!(
            a.header("content-type")
                .unwrap()
                .starts_with("text/event-stream"),
            "{}",
            a.text()
        );
        events(&a.body)
    }

    fn assert_error(a: &Answer, status: u16, code: &str) -> Value {
        assert_eq!(a.status, status, "{}", a.text());
        let e = a.json()["error"].clone();
        assert_eq!(e["code"], code, "{e}");
        e
    }

    fn id_of(a: &Answer) -> String {
        let id = a.json()["id"].as_str().unwrap().to_owned();
        assert!(store::valid_id(&id), "{id}");
        id
    }

    #[test]
    fn json_answer_the_converse_body_and_the_stored_record() {
        let w = world();
        hello(&w);
        let body = json!({"model": model(), "instructions": "You are a chatbot.", "input": "Hello!",
            "max_output_tokens": 100, "temperature": 0.5,
            "tools": [{"type": "function", "name": "get_weather", "description": "Weather of a city",
                       "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}, "strict": true}],
            "tool_choice": "auto"});
        let a = post(&w, KEYED, &body);
        assert_eq!(a.status, 200, "{}", a.text());
        assert_eq!(a.header("x-portkey-provider"), Some("@prod"));
        let sent = w.last_sent();
        assert_eq!(
            sent.url,
            "https://bedrock-runtime.us-east-1.amazonaws.com/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse"
        );
        assert_eq!(
            w.last_body(),
            json!({"messages": [{"role": "user", "content": [{"text": "Hello!"}]}],
                   "system": [{"text": "You are a chatbot."}],
                   "inferenceConfig": {"maxTokens": 100, "temperature": 0.5},
                   "toolConfig": {"tools": [{"toolSpec": {"name": "get_weather", "description": "Weather of a city",
                       "inputSchema": {"json": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}}],
                       "toolChoice": {"auto": {}}}})
        );
        let r = a.json();
        let id = id_of(&a);
        let hex = id.strip_prefix("resp_").unwrap();
        assert_eq!(
            r,
            json!({"id": id, "object": "response", "created_at": 1_767_225_600u64, "status": "completed",
                "error": null, "incomplete_details": null, "instructions": "You are a chatbot.", "max_output_tokens": 100,
                "metadata": {}, "parallel_tool_calls": true, "previous_response_id": null,
                "reasoning": {"effort": null, "summary": null}, "store": true, "temperature": 0.5,
                "text": {"format": {"type": "text"}}, "tool_choice": "auto", "tools": body["tools"], "top_p": null,
                "truncation": "disabled", "user": null, "model": HAIKU,
                "output": [{"type": "message", "id": format!("msg_{hex}_0"), "status": "completed", "role": "assistant",
                            "content": [{"type": "output_text", "text": HELLO, "annotations": [], "logprobs": []}]}],
                "usage": usage(7, 0, 0, 30, 37)})
        );
        // Stored under the key's scope, for 30 days: the response as answered, and the
        // conversation (the input as items, then the output).
        let key = kv_key(&id);
        assert_eq!(w.kv.1.borrow().get(&key), Some(&Some(TTL)));
        assert_eq!(
            stored(&w, &id).unwrap(),
            json!({"response": r, "items": [{"type": "message", "role": "user", "content": "Hello!"}, r["output"][0]]})
        );
        assert_eq!(response_keys(&w), vec![key]);
        // GET answers it as it was answered.
        let g = get(&w, KEYED, &id);
        assert_eq!(g.status, 200, "{}", g.text());
        assert_eq!(g.json(), r);
    }

    /// The Responses request becomes exactly the Converse body the chat route sends for the same
    /// chat request (structured output, tools, sampling, metadata).
    #[test]
    fn the_converse_body_is_the_chat_routes_for_the_equivalent_chat_request() {
        let schema = json!({"type": "object", "properties": {"city": {"type": "string"}, "population": {"type": "integer"}},
                            "required": ["city", "population"], "additionalProperties": false});
        let tools = json!([{"type": "function", "name": "lookup", "description": "Look a city up",
                            "parameters": {"type": "object", "properties": {"q": {"type": "string"}}}}]);
        let sonnet = format!("@prod/{SONNET}");
        let responses = json!({"model": sonnet, "instructions": "Answer in JSON.",
            "input": [{"role": "user", "content": [{"type": "input_text", "text": "Largest city of France?"}]}],
            "max_output_tokens": 300, "top_p": 0.9, "stop": ["END"], "metadata": {"team": "a"},
            "text": {"format": {"type": "json_schema", "name": "city", "schema": schema, "strict": true}},
            "tools": tools, "tool_choice": "required"});
        let chat = json!({"model": sonnet,
            "messages": [{"role": "system", "content": "Answer in JSON."},
                         {"role": "user", "content": [{"type": "text", "text": "Largest city of France?"}]}],
            "max_tokens": 300, "top_p": 0.9, "stop": ["END"], "metadata": {"team": "a"},
            "response_format": {"type": "json_schema", "json_schema": {"name": "city", "schema": schema, "strict": true}},
            "tools": [{"type": "function", "function": {"name": "lookup", "description": "Look a city up",
                       "parameters": {"type": "object", "properties": {"q": {"type": "string"}}}}}],
            "tool_choice": "required"});
        for stream in [false, true] {
            let w = world();
            let (mut r, mut c) = (responses.clone(), chat.clone());
            if stream {
                r["stream"] = json!(true);
                c["stream"] = json!(true);
                w.answer(Canned::stream(&recorded(
                    "pydantic-ai/test_bedrock_model_stream",
                )));
                w.answer(Canned::stream(&recorded(
                    "pydantic-ai/test_bedrock_model_stream",
                )));
            } else {
                hello(&w);
                hello(&w);
            }
            let a = post(&w, KEYED, &r);
            assert_eq!(a.status, 200, "{}", a.text());
            let b = run(&w, &settings(), request("/v1/chat/completions", KEYED, &c));
            assert_eq!(b.status, 200, "{}", b.text());
            let sent = w.sent.borrow();
            assert_eq!(sent[0].url, sent[1].url);
            let body = |i: usize| serde_json::from_slice::<Value>(&sent[i].body).unwrap();
            assert_eq!(body(0), body(1), "stream {stream}");
            assert_eq!(
                body(0)["inferenceConfig"],
                json!({"maxTokens": 300, "topP": 0.9, "stopSequences": ["END"]})
            );
            assert_eq!(body(0)["requestMetadata"], json!({"team": "a"}));
            assert!(
                body(0).to_string().contains("population"),
                "the schema is sent: {}",
                body(0)
            );
        }
    }

    #[test]
    fn a_streamed_answer_is_the_responses_event_stream_and_is_stored() {
        let w = world();
        let body_bytes = recorded("pydantic-ai/test_bedrock_model_thinking_part_stream");
        w.answer(Canned::stream(&body_bytes));
        let a = post(
            &w,
            KEYED,
            &json!({"model": format!("@prod/{SONNET}"), "input": "Hello", "stream": true, "max_output_tokens": 2000,
                    "reasoning": {"effort": "low", "summary": "auto"}}),
        );
        assert_eq!(a.status, 200, "{}", a.text());
        assert!(w.last_sent().url.ends_with("/converse-stream"));
        let got = sse_events(&a);
        let id = got[0]["response"]["id"].as_str().unwrap().to_owned();
        let mut c = ctx(true, false); // strict: the summary was asked for, encrypted content was not
        c.id = id.clone();
        let last = check_events(&got, &c);
        assert_eq!(last["type"], "response.completed");
        let response = &last["response"];
        assert_eq!(response["model"], SONNET);
        assert_eq!(
            response["reasoning"],
            json!({"effort": "low", "summary": "auto"})
        );
        // reasoning.effort is thinking, as reasoning_effort on the chat route.
        assert!(
            w.last_body()["additionalModelRequestFields"]
                .to_string()
                .contains("thinking"),
            "{}",
            w.last_body()
        );
        assert_eq!(
            response["output"][1]["content"][0]["text"],
            "Hello! It's nice to meet you. How can I help you today?"
        );
        assert!(response["output"][0].get("encrypted_content").is_none());
        // Stored as answered; the stored item keeps the signature the caller did not see.
        let record = stored(&w, &id).unwrap();
        assert_eq!(&record["response"], response);
        assert_eq!(
            record["items"][0],
            json!({"type": "message", "role": "user", "content": "Hello"})
        );
        let (_, signature, _) = reasoning_of(&body_bytes);
        assert_eq!(record["items"][1]["encrypted_content"], json!(signature));
        assert_eq!(record["items"][2], response["output"][1]);
        assert_eq!(w.kv.1.borrow().get(&kv_key(&id)), Some(&Some(TTL)));
        assert_eq!(get(&w, KEYED, &id).json(), *response);
    }

    /// Thinking text, signature and redacted data of a recorded stream, read from its frames.
    fn reasoning_of(body: &[u8]) -> (String, String, Vec<String>) {
        let answer = converse_of_stream(body);
        let mut out = (String::new(), String::new(), Vec::new());
        for b in answer["output"]["message"]["content"].as_array().unwrap() {
            let r = &b["reasoningContent"];
            out.0
                .push_str(r["reasoningText"]["text"].as_str().unwrap_or_default());
            out.1
                .push_str(r["reasoningText"]["signature"].as_str().unwrap_or_default());
            if let Some(d) = r["redactedContent"].as_str() {
                out.2.push(d.to_owned());
            }
        }
        out
    }

    #[test]
    fn previous_response_id_continues_the_conversation() {
        let w = world();
        hello(&w);
        let first = post(
            &w,
            KEYED,
            &json!({"model": model(), "instructions": "Be nice.", "input": "Hello!"}),
        );
        let first_id = id_of(&first);
        answer_json(&w, "pydantic-ai/test_bedrock_model_top_p", 0);
        let second = post(
            &w,
            KEYED,
            &json!({"model": model(), "previous_response_id": first_id, "input": [{"role": "user", "content": "And you?"}]}),
        );
        assert_eq!(second.status, 200, "{}", second.text());
        // The first turn's input and answer, then the new input; instructions are not carried over.
        assert_eq!(
            w.last_body(),
            json!({"messages": [
                {"role": "user", "content": [{"text": "Hello!"}]},
                {"role": "assistant", "content": [{"text": HELLO}]},
                {"role": "user", "content": [{"text": "And you?"}]}]})
        );
        let r = second.json();
        assert_eq!(r["previous_response_id"], json!(first_id));
        let second_id = id_of(&second);
        let record = stored(&w, &second_id).unwrap();
        let items = record["items"].as_array().unwrap();
        assert_eq!(items.len(), 4);
        assert_eq!(items[1], first.json()["output"][0]);
        assert_eq!(items[2], json!({"role": "user", "content": "And you?"}));
        assert_eq!(items[3], r["output"][0]);
        // A third turn reads one record, the second's (which holds the whole conversation).
        hello(&w);
        w.kv.2.borrow_mut().clear();
        let third = post(
            &w,
            KEYED,
            &json!({"model": model(), "previous_response_id": second_id, "input": "Bye"}),
        );
        assert_eq!(third.status, 200, "{}", third.text());
        assert_eq!(w.last_body()["messages"].as_array().unwrap().len(), 5);
        let reads: Vec<String> =
            w.kv.2
                .borrow()
                .iter()
                .filter(|k| k.starts_with("response:"))
                .cloned()
                .collect();
        assert_eq!(reads, vec![kv_key(&second_id)]);
    }

    #[test]
    fn item_references_are_replaced_by_the_stored_items() {
        let w = world();
        let fixture_name = "pydantic-ai/test_bedrock_anthropic_tool_with_thinking";
        answer_json(&w, fixture_name, 0);
        let first = post(
            &w,
            KEYED,
            &json!({"model": model(), "input": "What is the largest city in my country?"}),
        );
        assert_eq!(first.status, 200, "{}", first.text());
        let output = first.json()["output"].clone();
        // Strict compliance: the caller sees the reasoning item, without its summary or signature.
        assert_eq!(output[0]["type"], "reasoning");
        assert_eq!(output[0]["summary"], json!([]));
        assert!(output[0].get("encrypted_content").is_none());
        let thinking = converse_json(fixture_name, 0)["output"]["message"]["content"][0]
            ["reasoningContent"]["reasoningText"]
            .clone();
        answer_json(&w, fixture_name, 1);
        let second = post(
            &w,
            KEYED,
            &json!({"model": model(), "input": [
                {"role": "user", "content": "What is the largest city in my country?"},
                {"type": "item_reference", "id": output[0]["id"]},
                {"type": "item_reference", "id": output[1]["id"]},
                {"type": "item_reference", "id": output[2]["id"]},
                {"type": "function_call_output", "call_id": "tooluse_W9DaUFg4Tj2cRPpndqxWSg", "output": "Mexico"}]}),
        );
        assert_eq!(second.status, 200, "{}", second.text());
        // The thinking goes back with its signature, the one thing Bedrock accepts it back with.
        assert_eq!(
            w.last_body()["messages"],
            json!([
                {"role": "user", "content": [{"text": "What is the largest city in my country?"}]},
                {"role": "assistant", "content": [
                    {"reasoningContent": {"reasoningText": {"text": thinking["text"], "signature": thinking["signature"]}}},
                    {"text": "I'll need to check what country you're from to answer that question."},
                    {"toolUse": {"toolUseId": "tooluse_W9DaUFg4Tj2cRPpndqxWSg", "name": "get_user_country", "input": {}}}]},
                {"role": "user", "content": [{"toolResult": {"toolUseId": "tooluse_W9DaUFg4Tj2cRPpndqxWSg", "content": [{"text": "Mexico"}]}}]}])
        );
        // The stored conversation holds the items themselves, not the references.
        let record = stored(&w, &id_of(&second)).unwrap();
        assert_eq!(
            record["items"][1]["encrypted_content"],
            thinking["signature"]
        );
        assert!(!record.to_string().contains("item_reference"));
        // An unknown item (of a well-formed response id) is a 400 naming the input item.
        let bogus = format!("msg_{}_0", "f".repeat(24));
        let a = post(
            &w,
            KEYED,
            &json!({"model": model(), "input": [{"type": "item_reference", "id": bogus}]}),
        );
        assert_eq!(a.status, 400, "{}", a.text());
        assert_eq!(a.json()["error"]["param"], "input[0]");
        assert_eq!(w.sent.borrow().len(), 2);
    }

    #[test]
    fn another_key_sees_nothing() {
        let w = world();
        hello(&w);
        let id = id_of(&post(
            &w,
            KEYED,
            &json!({"model": model(), "input": "Hello!"}),
        ));
        let other = [("x-portkey-api-key", OTHER_KEY)];
        let e = assert_error(&get(&w, &other, &id), 404, "response_not_found");
        assert!(e["message"].as_str().unwrap().contains(&id));
        let e = assert_error(
            &post(
                &w,
                &other,
                &json!({"model": model(), "previous_response_id": id, "input": "again"}),
            ),
            400,
            "previous_response_not_found",
        );
        assert_eq!(e["param"], "previous_response_id");
        // Nor its items.
        let item = stored(&w, &id).unwrap()["items"][1]["id"].clone();
        let a = post(
            &w,
            &other,
            &json!({"model": model(), "input": [{"type": "item_reference", "id": item}]}),
        );
        assert_eq!(a.status, 400, "{}", a.text());
        assert_eq!(a.json()["error"]["param"], "input[0]");
        assert_eq!(w.sent.borrow().len(), 1);
        // DELETE by the other key removes nothing.
        assert_eq!(
            call(
                &w,
                &settings(),
                "DELETE",
                &format!("/v1/responses/{id}"),
                &other
            )
            .status,
            404
        );
        assert_eq!(get(&w, KEYED, &id).status, 200);
    }

    #[test]
    fn delete_then_get_is_a_404() {
        let w = world();
        hello(&w);
        let id = id_of(&post(
            &w,
            KEYED,
            &json!({"model": model(), "input": "Hello!"}),
        ));
        let d = call(
            &w,
            &settings(),
            "DELETE",
            &format!("/v1/responses/{id}"),
            KEYED,
        );
        assert_eq!(d.status, 200, "{}", d.text());
        assert_eq!(
            d.json(),
            json!({"id": id, "object": "response", "deleted": true})
        );
        assert!(response_keys(&w).is_empty());
        assert_error(&get(&w, KEYED, &id), 404, "response_not_found");
        assert_error(
            &call(
                &w,
                &settings(),
                "DELETE",
                &format!("/v1/responses/{id}"),
                KEYED,
            ),
            404,
            "response_not_found",
        );
        assert_error(
            &post(
                &w,
                KEYED,
                &json!({"model": model(), "previous_response_id": id, "input": "x"}),
            ),
            400,
            "previous_response_not_found",
        );
    }

    #[test]
    fn store_false_writes_nothing() {
        let w = world();
        hello(&w);
        let a = post(
            &w,
            KEYED,
            &json!({"model": model(), "input": "Hello!", "store": false}),
        );
        assert_eq!(a.status, 200, "{}", a.text());
        assert_eq!(a.json()["store"], false);
        assert!(response_keys(&w).is_empty());
        assert_error(&get(&w, KEYED, &id_of(&a)), 404, "response_not_found");
        // Streamed too.
        w.answer(Canned::stream(&recorded(
            "pydantic-ai/test_bedrock_model_stream",
        )));
        let a = post(
            &w,
            KEYED,
            &json!({"model": model(), "input": "Hello!", "store": false, "stream": true}),
        );
        let got = sse_events(&a);
        assert!(got
            .iter()
            .all(|e| e["response"].is_null() || e["response"]["store"] == false));
        assert_eq!(got.last().unwrap()["type"], "response.completed");
        assert!(response_keys(&w).is_empty());
    }

    fn open_settings() -> Settings {
        Settings::from_vars(&Vars {
            catalog_key: Some(TEST_CATALOG_KEY),
            allow_header_credentials_without_key: Some("true"),
            ..Default::default()
        })
    }

    fn header_creds(secret: &'static str) -> Vec<(&'static str, &'static str)> {
        let mut h: Vec<(&str, &str)> = HEADER_CREDS
            .iter()
            .copied()
            .filter(|(k, _)| *k != "x-portkey-api-key" && *k != "x-portkey-aws-secret-access-key")
            .collect();
        h.push(("x-portkey-aws-secret-access-key", secret));
        h
    }

    #[test]
    fn header_credentials_without_a_key_are_scoped_by_a_credential_digest() {
        let w = world();
        let s = open_settings();
        const SECRET: &str = "edgeport/test/secret/key/ONE+1234567890abc";
        const OTHER_SECRET: &str = "edgeport/test/secret/key/TWO+1234567890abc";
        let mine = header_creds(SECRET);
        hello(&w);
        let a = run(
            &w,
            &s,
            request(
                "/v1/responses",
                &mine,
                &json!({"model": HAIKU, "input": "Hello!"}),
            ),
        );
        assert_eq!(a.status, 200, "{}", a.text());
        assert_eq!(a.json()["store"], true);
        let id = id_of(&a);
        let keys = response_keys(&w);
        assert_eq!(keys.len(), 1);
        assert!(
            keys[0].starts_with("response:anon:") && keys[0].ends_with(&id),
            "{keys:?}"
        );
        // Read back with the same credentials, continued with them.
        assert_eq!(
            call(&w, &s, "GET", &format!("/v1/responses/{id}"), &mine).status,
            200
        );
        hello(&w);
        let next = run(
            &w,
            &s,
            request(
                "/v1/responses",
                &mine,
                &json!({"model": HAIKU, "previous_response_id": id, "input": "More"}),
            ),
        );
        assert_eq!(next.status, 200, "{}", next.text());
        // Another secret for the same access key id: nothing there.
        let theirs = header_creds(OTHER_SECRET);
        assert_error(
            &call(&w, &s, "GET", &format!("/v1/responses/{id}"), &theirs),
            404,
            "response_not_found",
        );
        let a = run(
            &w,
            &s,
            request(
                "/v1/responses",
                &theirs,
                &json!({"model": HAIKU, "previous_response_id": id, "input": "x"}),
            ),
        );
        assert_error(&a, 400, "previous_response_not_found");
        assert_error(
            &call(&w, &s, "DELETE", &format!("/v1/responses/{id}"), &theirs),
            404,
            "response_not_found",
        );
        // No KV key, and nothing stored, holds the credentials.
        for (k, v) in w.kv.0.borrow().iter() {
            for secret in [SECRET, OTHER_SECRET, "AKIDEDGEPORTTEST1"] {
                assert!(!k.contains(secret), "{k}");
                assert!(!v.contains(secret), "{k}: {v}");
            }
        }
        for l in w.logs.borrow().iter() {
            assert!(!l.contains(SECRET) && !l.contains(OTHER_SECRET), "{l}");
        }
    }

    #[test]
    fn malformed_ids_are_404s_without_a_store_read() {
        let w = world();
        let long = format!("resp_{}", "a".repeat(10 * 1024));
        for path in [
            "/v1/responses/../x".to_owned(),
            "/v1/responses/..%2Fx".to_owned(),
            "/v1/responses/resp_XYZ".to_owned(),
            "/v1/responses/resp_0123456789ABCDEF01234567".to_owned(),
            "/v1/responses/msg_0123456789abcdef01234567_0".to_owned(),
            format!("/v1/responses/{long}"),
            format!("/v1/responses/{}", "x".repeat(10 * 1024)),
        ] {
            for method in ["GET", "DELETE"] {
                let a = call(&w, &settings(), method, &path, KEYED);
                assert_eq!(a.status, 404, "{method} {path}: {}", a.text());
                assert!(
                    a.text().len() < 1024,
                    "the answer does not repeat a long id"
                );
            }
        }
        assert!(
            w.kv.2.borrow().iter().all(|k| !k.starts_with("response:")),
            "{:?}",
            w.kv.2.borrow()
        );
        let a = get(&w, KEYED, "resp_XYZ");
        assert_eq!(a.json()["error"]["code"], "response_not_found");
        // previous_response_id of the wrong shape: a 400, no read either.
        let a = post(
            &w,
            KEYED,
            &json!({"model": model(), "previous_response_id": long, "input": "x"}),
        );
        assert_error(&a, 400, "previous_response_not_found");
        assert!(a.text().len() < 1024);
        assert!(w.kv.2.borrow().iter().all(|k| !k.starts_with("response:")));
        assert!(w.sent.borrow().is_empty());
    }

    fn record_with_one_item(n: usize) -> (String, String, String) {
        let hex = format!("{:024x}", n + 1);
        let id = format!("resp_{hex}");
        let item = format!("msg_{hex}_0");
        let record = json!({"response": {"id": id, "object": "response"}, "items": [
            {"type": "message", "id": item, "status": "completed", "role": "assistant",
             "content": [{"type": "output_text", "text": format!("answer {n}"), "annotations": [], "logprobs": []}]}]});
        (id, item, record.to_string())
    }

    /// A world holding 18 stored responses of one item each, and a request whose input names the
    /// items of the first `k` of them (between two user messages).
    fn referencing(k: usize) -> (FakeWorld, Value) {
        let w = world();
        let mut items = Vec::new();
        for n in 0..18 {
            let (id, item, record) = record_with_one_item(n);
            w.kv.0.borrow_mut().insert(kv_key(&id), record);
            items.push(json!({"type": "item_reference", "id": item}));
        }
        let mut input = vec![json!({"role": "user", "content": "q"})];
        input.extend(items[..k].iter().cloned());
        input.push(json!({"role": "user", "content": "go on"}));
        (w, json!({"model": model(), "input": input}))
    }

    fn stored_reads(w: &FakeWorld) -> usize {
        w.kv.2
            .borrow()
            .iter()
            .filter(|k| k.starts_with("response:"))
            .count()
    }

    #[test]
    fn items_of_16_stored_responses_are_read_and_more_is_a_400() {
        let (w, body) = referencing(16);
        hello(&w);
        let a = post(&w, KEYED, &body);
        assert_eq!(a.status, 200, "{}", a.text());
        let assistant = &w.last_body()["messages"][1];
        assert_eq!(assistant["role"], "assistant");
        assert_eq!(assistant["content"].as_array().unwrap().len(), 16);
        assert_eq!(assistant["content"][15], json!({"text": "answer 15"}));
        assert_eq!(stored_reads(&w), 16);

        let (w, body) = referencing(18);
        let a = post(&w, KEYED, &body);
        assert_eq!(a.status, 400, "{}", a.text());
        assert_eq!(a.json()["error"]["param"], "input");
        assert!(a.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("16"));
        assert!(w.sent.borrow().is_empty(), "Bedrock is not called");
    }

    /// limits.rs: MAX_REFERENCED_RESPONSES = 16 "stored responses one Responses request may name
    /// through item_reference items (one KV read each)".
    #[test]

    fn items_of_17_stored_responses_are_a_400() {
        let (w, body) = referencing(17);
        hello(&w);
        let a = post(&w, KEYED, &body);
        assert_eq!(a.status, 400, "{}", a.text());
        assert_eq!(a.json()["error"]["param"], "input");
        assert!(
            stored_reads(&w) <= 16,
            "{} stored responses read",
            stored_reads(&w)
        );
        assert!(w.sent.borrow().is_empty(), "Bedrock is not called");
    }

    #[test]
    fn a_conversation_over_the_store_limit_is_a_400_before_bedrock() {
        let w = world();
        let id = format!("resp_{:024x}", 99);
        let big = "x".repeat(edgeport::limits::MAX_STORED_CONVERSATION_BYTES);
        let record = json!({"response": {"id": id}, "items": [{"type": "message", "role": "user", "content": big}]});
        w.kv.0.borrow_mut().insert(kv_key(&id), record.to_string());
        drop(record);
        let a = post(
            &w,
            KEYED,
            &json!({"model": model(), "previous_response_id": id, "input": "more"}),
        );
        let e = assert_error(&a, 400, "conversation_too_large");
        assert!(
            e["message"].as_str().unwrap().contains("store: false"),
            "{e}"
        );
        assert!(w.sent.borrow().is_empty());
        assert_eq!(response_keys(&w), vec![kv_key(&id)]);
    }

    #[test]
    fn built_in_tools_are_refused() {
        let w = world();
        for (i, tool) in [
            "web_search",
            "file_search",
            "code_interpreter",
            "image_generation",
            "mcp",
        ]
        .iter()
        .enumerate()
        {
            let a = post(
                &w,
                KEYED,
                &json!({"model": model(), "input": "x", "tools": [{"type": "function", "name": "f", "parameters": {"type": "object"}}, {"type": tool}]}),
            );
            let e = assert_error(&a, 400, "unsupported_tool");
            assert_eq!(e["param"], "tools[1]", "{i}");
            assert!(e["message"].as_str().unwrap().contains(tool), "{e}");
        }
        assert!(w.sent.borrow().is_empty());
    }

    /// The answer of `req` as it is polled: each piece of a stream, in order.
    fn pieces(w: &FakeWorld, req: GatewayRequest, mut each: impl FnMut(&str)) -> u16 {
        futures_executor::block_on(async {
            let resp = gateway::handle(w, &settings(), req).await;
            let Body::Stream(mut s) = resp.body else {
                panic!("not a stream");
            };
            while let Some(piece) = s.next().await {
                each(std::str::from_utf8(&piece).unwrap());
            }
            resp.status
        })
    }

    #[test]
    fn a_streamed_response_is_stored_before_its_completed_event_is_sent() {
        let w = world();
        let body = recorded("pydantic-ai/test_bedrock_model_stream");
        let frames = frame_starts(&body);
        // One piece per frame.
        w.answer(Canned {
            status: 200,
            headers: vec![(
                "content-type".into(),
                "application/vnd.amazon.eventstream".into(),
            )],
            pieces: frames
                .windows(2)
                .map(|f| Ok(Bytes::copy_from_slice(&body[f[0]..f[1]])))
                .collect(),
        });
        let mut id = None;
        let mut completed = 0;
        let mut pieces_seen = 0;
        let req = request(
            "/v1/responses",
            KEYED,
            &json!({"model": model(), "input": "Capital of France?", "stream": true}),
        );
        let status = pieces(&w, req, |piece| {
            pieces_seen += 1;
            if id.is_none() {
                let first = events(piece.as_bytes());
                id = Some(first[0]["response"]["id"].as_str().unwrap().to_owned());
            }
            let id = id.as_deref().unwrap();
            if piece.contains("event: response.completed") {
                completed += 1;
                let record = stored(&w, id).expect("stored before response.completed is sent");
                let event = &events(piece.as_bytes())[0];
                assert_eq!(record["response"], event["response"]);
            } else {
                assert!(stored(&w, id).is_none(), "stored before the stream ended");
            }
        });
        assert_eq!((status, completed), (200, 1));
        assert!(pieces_seen > 20, "{pieces_seen}");
    }

    #[test]
    fn a_failed_stream_is_not_stored() {
        let w = world();
        let body = [
            message_start(),
            text(0, "Hello"),
            exception("modelStreamErrorException", "broke"),
        ]
        .concat();
        w.answer(Canned::stream(&body));
        let a = post(
            &w,
            KEYED,
            &json!({"model": model(), "input": "Hi", "stream": true}),
        );
        assert_eq!(a.status, 200, "{}", a.text());
        let got = sse_events(&a);
        let last = got.last().unwrap();
        assert_eq!(last["type"], "response.failed");
        assert_eq!(last["response"]["error"]["code"], "server_error");
        assert!(response_keys(&w).is_empty());
        let id = last["response"]["id"].as_str().unwrap();
        assert_error(&get(&w, KEYED, id), 404, "response_not_found");
        let line: Value = serde_json::from_str(&w.logs.borrow()[0]).unwrap();
        assert_eq!(
            (
                line["path"].clone(),
                line["stream"].clone(),
                line["end"].clone()
            ),
            (json!("/v1/responses"), json!(true), json!("error"))
        );
        // An exception as the first frame is an HTTP error.
        w.answer(Canned::stream(&exception(
            "throttlingException",
            "slow down",
        )));
        let a = post(
            &w,
            KEYED,
            &json!({"model": model(), "input": "Hi", "stream": true}),
        );
        assert_eq!(a.status, 429, "{}", a.text());
        assert!(response_keys(&w).is_empty());
    }

    #[test]
    fn an_openai_target_gets_the_body_as_it_is_and_its_answer_comes_back_unchanged() {
        let w = world();
        let answer = json!({"id": "resp_openai_1", "object": "response", "status": "completed", "model": "gpt-4o-mini",
            "output": [{"type": "message", "id": "msg_abc", "role": "assistant", "status": "completed",
                        "content": [{"type": "output_text", "text": "Hi from OpenAI", "annotations": []}]}],
            "usage": {"input_tokens": 3, "output_tokens": 4, "total_tokens": 7}, "store": true});
        w.answer(Canned::json(200, answer.to_string().as_bytes()));
        let body = json!({"model": "@openai-prod/gpt-4o-mini", "input": "hi", "instructions": "be brief",
            "previous_response_id": "resp_openai_0", "tools": [{"type": "web_search"}], "include": ["reasoning.encrypted_content"]});
        let a = post(&w, KEYED, &body);
        assert_eq!(a.status, 200, "{}", a.text());
        assert_eq!(a.json(), answer);
        let sent = w.last_sent();
        assert_eq!(sent.url, "https://openai.example/v1/responses");
        assert!(sent
            .headers
            .contains(&("authorization".into(), format!("Bearer {OPENAI_KEY}"))));
        let mut expected = body.clone();
        expected["model"] = json!("gpt-4o-mini");
        assert_eq!(w.last_body(), expected);
        assert!(
            response_keys(&w).is_empty(),
            "OpenAI keeps its responses itself"
        );

        // The event stream, relayed event by event with its event names.
        let events_in = [
            json!({"type": "response.created", "sequence_number": 0, "response": {"id": "resp_o", "status": "in_progress", "output": []}}),
            json!({"type": "response.in_progress", "sequence_number": 1, "response": {"id": "resp_o", "status": "in_progress", "output": []}}),
            json!({"type": "response.output_item.added", "sequence_number": 2, "output_index": 0, "item": {"type": "message", "id": "msg_o", "status": "in_progress", "role": "assistant", "content": []}}),
            json!({"type": "response.output_text.delta", "sequence_number": 3, "item_id": "msg_o", "output_index": 0, "content_index": 0, "delta": "Hi"}),
            json!({"type": "response.completed", "sequence_number": 4, "response": {"id": "resp_o", "status": "completed", "output": []}}),
        ];
        let sse: String = events_in
            .iter()
            .map(|e| format!("event: {}\ndata: {e}\n\n", e["type"].as_str().unwrap()))
            .collect();
        w.answer(Canned {
            status: 200,
            headers: vec![("content-type".into(), "text/event-stream".into())],
            pieces: pieces_of(sse.as_bytes(), std::iter::repeat(50)),
        });
        let mut body = json!({"model": "@openai-prod/gpt-4o-mini", "input": "hi", "stream": true});
        let a = post(&w, KEYED, &body);
        assert_eq!(a.status, 200, "{}", a.text());
        assert_eq!(a.text(), sse);
        assert!(w
            .last_sent()
            .headers
            .contains(&("accept".into(), "text/event-stream".into())));
        body["model"] = json!("gpt-4o-mini");
        assert_eq!(w.last_body(), body);
    }

    /// A Bedrock turn stored by edgeport, continued on an OpenAI target: the items are sent inline
    /// (without Bedrock's reasoning), not the id OpenAI does not know.
    #[test]
    fn an_openai_target_gets_edgeports_stored_items_inline() {
        let w = world();
        answer_json(
            &w,
            "pydantic-ai/test_bedrock_anthropic_tool_with_thinking",
            0,
        );
        let first = post(
            &w,
            KEYED,
            &json!({"model": model(), "input": "Where am I?"}),
        );
        let id = id_of(&first);
        let output = first.json()["output"].clone();
        w.answer(Canned::json(
            200,
            br#"{"id":"resp_x","object":"response","output":[]}"#,
        ));
        let a = post(
            &w,
            KEYED,
            &json!({"model": "@openai-prod/gpt-4o-mini", "previous_response_id": id,
            "input": [{"type": "function_call_output", "call_id": "tooluse_W9DaUFg4Tj2cRPpndqxWSg", "output": "Mexico"}]}),
        );
        assert_eq!(a.status, 200, "{}", a.text());
        assert_eq!(
            w.last_body(),
            json!({"model": "gpt-4o-mini", "input": [
                {"type": "message", "role": "user", "content": "Where am I?"},
                output[1], output[2],
                {"type": "function_call_output", "call_id": "tooluse_W9DaUFg4Tj2cRPpndqxWSg", "output": "Mexico"}]})
        );
    }

    #[test]
    fn a_fallback_answers_from_the_second_target() {
        for first in [
            json!({"provider": "@openai-prod"}),
            json!({"provider": "@prod", "override_params": {"model": "anthropic.claude-v2:1"}}),
        ] {
            let w = world();
            if first["provider"] == "@openai-prod" {
                w.answer(Canned::json(
                    500,
                    br#"{"error":{"message":"boom","type":"server_error"}}"#,
                ));
            } else {
                w.answer(Canned::aws_error(500, "InternalServerException", "boom"));
            }
            hello(&w);
            let config = json!({"strategy": {"mode": "fallback"}, "targets": [first,
                {"provider": "@prod", "override_params": {"model": HAIKU}}]})
            .to_string();
            let h = [
                ("x-portkey-api-key", TEST_GATEWAY_KEY),
                ("x-portkey-config", config.as_str()),
            ];
            let a = post(&w, &h, &json!({"model": "gpt-4o-mini", "input": "Hello!"}));
            assert_eq!(a.status, 200, "{}", a.text());
            assert_eq!(
                a.header("x-portkey-last-used-option-index"),
                Some("config.targets[1]")
            );
            assert_eq!(a.header("x-portkey-provider"), Some("@prod"));
            let r = a.json();
            assert_eq!(r["model"], HAIKU);
            assert_eq!(r["output"][0]["content"][0]["text"], HELLO);
            let sent = w.sent.borrow();
            assert_eq!(sent.len(), 2, "{first}");
            assert!(sent[1].url.contains(&HAIKU.replace(':', "%3A")));
            drop(sent);
            assert!(stored(&w, &id_of(&a)).is_some());
        }
    }

    /// Reasoning summary and encrypted content: shown with strict compliance off; in strict mode
    /// only what `reasoning.summary` and `include` ask for. The store keeps both either way.
    #[test]
    fn reasoning_visibility_follows_strict_compliance_summary_and_include() {
        let name = "pydantic-ai/test_bedrock_anthropic_tool_with_thinking";
        let thinking = converse_json(name, 0)["output"]["message"]["content"][0]
            ["reasoningContent"]["reasoningText"]
            .clone();
        let summary = json!([{"type": "summary_text", "text": thinking["text"]}]);
        let lax = [
            ("x-portkey-api-key", TEST_GATEWAY_KEY),
            ("x-portkey-strict-open-ai-compliance", "false"),
        ];
        type Case<'a> = (&'a [(&'a str, &'a str)], Value, bool, bool);
        let cases: [Case; 4] = [
            (KEYED, json!({}), false, false),
            (
                KEYED,
                json!({"reasoning": {"summary": "auto"}}),
                true,
                false,
            ),
            (
                KEYED,
                json!({"include": ["reasoning.encrypted_content"]}),
                false,
                true,
            ),
            (&lax, json!({}), true, true),
        ];
        for (headers, extra, shows_summary, shows_encrypted) in cases {
            let w = world();
            answer_json(&w, name, 0);
            let mut body = json!({"model": model(), "input": "Where?"});
            body.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            let a = post(&w, headers, &body);
            assert_eq!(a.status, 200, "{}", a.text());
            let item = &a.json()["output"][0];
            assert_eq!(
                item["summary"],
                if shows_summary {
                    summary.clone()
                } else {
                    json!([])
                },
                "{extra}"
            );
            assert_eq!(
                item.get("encrypted_content"),
                shows_encrypted.then_some(&thinking["signature"]),
                "{extra}"
            );
            let kept = &stored(&w, &id_of(&a)).unwrap()["items"][1];
            assert_eq!(
                (&kept["summary"], &kept["encrypted_content"]),
                (&summary, &thinking["signature"])
            );
        }
    }

    #[test]
    fn a_configs_cache_does_not_apply() {
        let w = world();
        let config = json!({"provider": "@prod", "cache": {"mode": "simple"}}).to_string();
        let h = [
            ("x-portkey-api-key", TEST_GATEWAY_KEY),
            ("x-portkey-config", config.as_str()),
        ];
        let mut ids = Vec::new();
        for _ in 0..2 {
            hello(&w);
            let a = post(&w, &h, &json!({"model": HAIKU, "input": "Hello!"}));
            assert_eq!(a.status, 200, "{}", a.text());
            assert_eq!(a.header("x-portkey-cache-status"), Some("DISABLED"));
            ids.push(id_of(&a));
        }
        assert_ne!(ids[0], ids[1]);
        assert_eq!(w.sent.borrow().len(), 2);
    }

    #[test]
    fn errors_name_the_input_item_they_come_from() {
        let w = world();
        let a = post(
            &w,
            KEYED,
            &json!({"model": model(), "input": [
                {"role": "user", "content": "look"},
                {"role": "user", "content": [{"type": "input_text", "text": "at"}, {"type": "input_image", "image_url": "ftp://example.com/a.png"}]}]}),
        );
        assert_eq!(a.status, 400, "{}", a.text());
        let e = a.json()["error"].clone();
        assert!(
            e["param"]
                .as_str()
                .unwrap()
                .starts_with("input[1].content[1]"),
            "{e}"
        );
        assert!(!e.to_string().contains("messages["), "{e}");
        assert!(w.sent.borrow().is_empty());
    }

    /// README: "A failure before any output is an HTTP error (so a config's fallback moves on)".
    #[test]

    fn a_stream_throttled_before_any_output_falls_back() {
        let w = world();
        w.answer(Canned::stream(
            &[
                message_start(),
                exception("throttlingException", "Too many requests"),
            ]
            .concat(),
        ));
        w.answer(Canned::stream(&recorded(
            "pydantic-ai/test_bedrock_model_stream",
        )));
        let config = json!({"strategy": {"mode": "fallback"}, "targets": [
            {"provider": "@prod", "override_params": {"model": "anthropic.claude-v2:1"}},
            {"provider": "@prod", "override_params": {"model": HAIKU}}]})
        .to_string();
        let h = [
            ("x-portkey-api-key", TEST_GATEWAY_KEY),
            ("x-portkey-config", config.as_str()),
        ];
        let a = post(
            &w,
            &h,
            &json!({"model": "m", "input": "Hello!", "stream": true}),
        );
        assert_eq!(a.status, 200, "{}", a.text());
        assert_eq!(
            a.header("x-portkey-last-used-option-index"),
            Some("config.targets[1]"),
            "{}",
            a.text()
        );
        assert_eq!(sse_events(&a).last().unwrap()["type"], "response.completed");
    }

    /// keep(): "`store` says whether it was kept".
    #[test]

    fn a_failed_streams_response_says_it_was_not_stored() {
        let w = world();
        w.answer(Canned::stream(
            &[
                message_start(),
                text(0, "Hello"),
                exception("modelStreamErrorException", "broke"),
            ]
            .concat(),
        ));
        let a = post(
            &w,
            KEYED,
            &json!({"model": model(), "input": "Hi", "stream": true}),
        );
        let got = sse_events(&a);
        let last = got.last().unwrap();
        assert_eq!(last["type"], "response.failed");
        assert!(response_keys(&w).is_empty());
        assert_eq!(last["response"]["store"], false);
    }

    #[test]
    fn the_log_line_says_path_model_provider_stream_and_no_secrets() {
        let w = world();
        hello(&w);
        let a = post(
            &w,
            KEYED,
            &json!({"model": model(), "input": "Hello!", "user": "u-1"}),
        );
        assert_eq!(a.status, 200);
        w.answer(Canned::stream(&recorded(
            "pydantic-ai/test_bedrock_model_stream",
        )));
        let a = post(
            &w,
            KEYED,
            &json!({"model": model(), "input": "Hello!", "stream": true}),
        );
        assert_eq!(a.status, 200);
        let logs = w.logs.borrow();
        let lines: Vec<Value> = logs
            .iter()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2, "{logs:?}");
        for (line, stream) in lines.iter().zip([false, true]) {
            assert_eq!(line["method"], "POST");
            assert_eq!(line["path"], "/v1/responses");
            assert_eq!(line["status"], 200);
            assert_eq!(line["model"], HAIKU);
            assert_eq!(line["provider"], "@prod");
            assert_eq!(line["key"], "test-all");
            assert_eq!(line["stream"], stream);
            assert_eq!(line["error"], Value::Null);
        }
        assert_eq!(lines[1]["end"], "complete");
        for l in logs.iter() {
            for secret in [TEST_GATEWAY_KEY, CATALOG_SECRET, "AKIDPROD", "Hello!"] {
                assert!(!l.contains(secret), "{secret} in {l}");
            }
        }
    }
}

#[test]
fn an_answer_larger_than_the_json_limit_fails_in_stream_instead_of_growing() {
    // 17 deltas of 1,000,000 bytes each pass the frame cap but not the 16 MiB a response may hold.
    let chunk = "x".repeat(1_000_000);
    let mut body = message_start();
    for _ in 0..17 {
        body.extend(text(0, &chunk));
    }
    body.extend(message_stop("end_turn"));
    let failed = assert_failed(whole(&body), &ctx(true, true));
    assert_eq!(failed["error"]["code"], "server_error");
    let message = failed["error"]["message"].as_str().unwrap();
    assert!(message.contains("larger than 16777216 bytes"), "{message}");
}
