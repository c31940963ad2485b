//! Bedrock Converse answer → OpenAI chat completion, and the two tables both the JSON and the
//! streaming paths share: finish reasons and token usage.

use serde_json::{json, Value};

use crate::api::openai::{
    AssistantMessage, ChatCompletion, Choice, FunctionCall, PromptTokensDetails, ToolCall, Usage,
};
use crate::providers::bedrock::wire::{ConverseResponse, TokenUsage};

/// Bedrock `stopReason` → OpenAI `finish_reason` under strict compliance. With strict compliance
/// off, the raw Bedrock value is returned.
const FINISH_REASONS: &[(&str, &str)] = &[
    ("end_turn", "stop"),
    ("stop_sequence", "stop"),
    ("max_tokens", "length"),
    ("model_context_window_exceeded", "length"),
    ("tool_use", "tool_calls"),
    ("guardrail_intervened", "content_filter"),
    ("content_filtered", "content_filter"),
];

pub fn finish_reason(stop_reason: &str, strict: bool) -> String {
    if !strict && !stop_reason.is_empty() {
        return stop_reason.to_owned();
    }
    FINISH_REASONS
        .iter()
        .find(|(bedrock, _)| *bedrock == stop_reason)
        .map_or("stop", |(_, openai)| openai)
        .to_owned()
}

/// The one place Bedrock token counts become OpenAI usage: prompt tokens include cache reads and
/// writes; `cached_tokens` is the cache reads. The counts are the upstream's numbers, so sums
/// saturate rather than overflow.
pub fn usage(u: &TokenUsage) -> Usage {
    let prompt = u
        .input_tokens
        .saturating_add(u.cache_read_input_tokens)
        .saturating_add(u.cache_write_input_tokens);
    Usage {
        prompt_tokens: prompt,
        completion_tokens: u.output_tokens,
        total_tokens: prompt.saturating_add(u.output_tokens),
        prompt_tokens_details: PromptTokensDetails {
            cached_tokens: u.cache_read_input_tokens,
        },
        cache_read_input_tokens: u.cache_read_input_tokens,
        cache_creation_input_tokens: u.cache_write_input_tokens,
    }
}

/// Bedrock's token counts as the usage a request is priced by.
pub fn tokens(u: &TokenUsage) -> crate::usage::prices::Tokens {
    crate::usage::prices::Tokens {
        input: u.input_tokens,
        output: u.output_tokens,
        cache_read: u.cache_read_input_tokens,
        cache_write: u.cache_write_input_tokens,
        images: 0,
    }
}

/// What the caller asked for that shapes the answer.
#[derive(Debug, Clone)]
pub struct AnswerContext {
    pub id: String,
    pub created: u64,
    pub model: String,
    /// `x-portkey-strict-open-ai-compliance` (default true).
    pub strict: bool,
}

pub fn to_chat_completion(resp: ConverseResponse, ctx: &AnswerContext) -> ChatCompletion {
    let mut text = String::new();
    let mut has_text = false;
    let mut tool_calls = Vec::new();
    let mut blocks: Vec<Value> = Vec::new();
    for mut block in resp.output.message.into_iter().flat_map(|m| m.content) {
        if let Some(t) = block.answer_text() {
            has_text = true;
            text.push_str(&t);
            blocks.push(json!({"type": "text", "text": t}));
        }
        if let Some(tool) = block.tool_use {
            tool_calls.push(ToolCall {
                id: tool.tool_use_id,
                kind: "function".to_owned(),
                function: FunctionCall {
                    name: tool.name,
                    arguments: tool.input.to_string(),
                },
            });
        }
        if let Some(reasoning) = block.reasoning_content {
            if let Some(r) = reasoning.reasoning_text {
                blocks.push(
                    json!({"type": "thinking", "thinking": r.text, "signature": r.signature}),
                );
            }
            if let Some(data) = reasoning.redacted_content {
                blocks.push(json!({"type": "redacted_thinking", "data": data}));
            }
        }
    }
    let message = AssistantMessage {
        role: "assistant",
        content: (has_text || tool_calls.is_empty()).then_some(text),
        tool_calls: (!tool_calls.is_empty()).then_some(tool_calls),
        content_blocks: (!ctx.strict && !blocks.is_empty()).then_some(blocks),
        additional_model_response_fields: resp
            .additional_model_response_fields
            .filter(|v| !v.is_null()),
    };
    ChatCompletion {
        id: ctx.id.clone(),
        object: "chat.completion",
        created: ctx.created,
        model: ctx.model.clone(),
        choices: vec![Choice {
            index: 0,
            message,
            logprobs: None,
            finish_reason: finish_reason(&resp.stop_reason, ctx.strict),
        }],
        usage: usage(&resp.usage.unwrap_or_default()),
        // Bedrock only sends a trace when the request enabled one (guardrail `trace`).
        trace: resp.trace.filter(|t| !ctx.strict && !t.is_null()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finish_reasons_strict_and_raw() {
        assert_eq!(finish_reason("end_turn", true), "stop");
        assert_eq!(finish_reason("stop_sequence", true), "stop");
        assert_eq!(finish_reason("max_tokens", true), "length");
        assert_eq!(finish_reason("tool_use", true), "tool_calls");
        assert_eq!(
            finish_reason("guardrail_intervened", true),
            "content_filter"
        );
        assert_eq!(finish_reason("content_filtered", true), "content_filter");
        assert_eq!(
            finish_reason("guardrail_intervened", false),
            "guardrail_intervened"
        );
    }

    #[test]
    fn usage_counts_cache_in_prompt_tokens() {
        let u = usage(&TokenUsage {
            input_tokens: 10,
            output_tokens: 5,
            total_tokens: 0,
            cache_read_input_tokens: 100,
            cache_write_input_tokens: 7,
        });
        assert_eq!(u.prompt_tokens, 117);
        assert_eq!(u.total_tokens, 122);
        assert_eq!(u.prompt_tokens_details.cached_tokens, 100);
    }

    #[test]
    fn usage_saturates_on_huge_counts() {
        let u = usage(&TokenUsage {
            input_tokens: u64::MAX,
            output_tokens: u64::MAX,
            total_tokens: u64::MAX,
            cache_read_input_tokens: u64::MAX,
            cache_write_input_tokens: 1,
        });
        assert_eq!((u.prompt_tokens, u.total_tokens), (u64::MAX, u64::MAX));
    }
}
