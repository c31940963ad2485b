//! Provider-level mapping tests that need no fake world: a request in, the exact upstream body
//! out, against recorded traffic where it exists.

use crate::common::*;
use edgeport::api::openai::ChatCompletionRequest;
use edgeport::providers::bedrock::request::{to_converse, MappingContext};
use serde_json::{json, Value};

/// The Converse body a recorded client sent, without the empty `system` / `inferenceConfig`
/// that edgeport leaves out.
fn recorded_converse(name: &str, i: usize) -> Value {
    let mut body = fixture(name)["interactions"][i]["request"]["body"].clone();
    if let Some(obj) = body.as_object_mut() {
        obj.retain(|_, v| {
            !matches!(v, Value::Array(a) if a.is_empty())
                && !matches!(v, Value::Object(o) if o.is_empty())
        });
    }
    body
}

#[test]
fn openai_tools_to_converse_as_the_recorded_client_sent_them() {
    let body = json!({"model": "us.amazon.nova-micro-v1:0", "messages": [
        {"role": "system", "content": "You are a helpful chatbot."},
        {"role": "user", "content": "What was the temperature in London 1st January 2022?"}],
        "tools": crate::features::temperature_tools(), "tool_choice": "required", "parallel_tool_calls": false});
    let chat: ChatCompletionRequest = serde_json::from_value(body).unwrap();
    let converse = to_converse(
        &chat,
        &MappingContext::for_model("us.amazon.nova-micro-v1:0"),
    )
    .unwrap();
    assert_eq!(
        serde_json::to_value(&converse).unwrap(),
        recorded_converse("pydantic-ai/test_bedrock_model_structured_output", 0)
    );
}

#[test]
fn openai_pass_through_keeps_only_openai_fields() {
    use edgeport::providers::openai::chat::OPENAI_CHAT_FIELDS;
    for field in [
        "messages",
        "model",
        "tools",
        "stream_options",
        "response_format",
        "reasoning_effort",
    ] {
        assert!(OPENAI_CHAT_FIELDS.contains(&field), "{field}");
    }
    for bedrock_only in [
        "top_k",
        "additionalModelRequestFields",
        "guardrailConfig",
        "anthropic_beta",
        "thinking",
    ] {
        assert!(
            !OPENAI_CHAT_FIELDS.contains(&bedrock_only),
            "{bedrock_only}"
        );
    }
}

/// A recorded answer with a cited block (a PDF with `citations` on): the cited text is part of
/// the chat answer (it was dropped before).
#[test]
fn cited_text_is_part_of_the_chat_answer() {
    use edgeport::providers::bedrock::response::{to_chat_completion, AnswerContext};
    let answer =
        fixture("langchain-aws/test_pdf_citations")["interactions"][0]["response"]["json"].clone();
    let resp = serde_json::from_value(answer).unwrap();
    let ctx = AnswerContext {
        id: "chatcmpl-1".into(),
        created: 1,
        model: "m".into(),
        strict: true,
    };
    let out = serde_json::to_value(to_chat_completion(resp, &ctx)).unwrap();
    assert_eq!(
        out["choices"][0]["message"]["content"],
        "The title of this document is \"Dummy PDF file\"."
    );
}
