//! OpenAI chat-completions wire types, as callers send and expect them.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// `POST /v1/chat/completions` body. Fields edgeport maps are typed; everything else lands in
/// `extra`, which the mapping checks so that nothing is silently dropped.
#[derive(Debug, Clone, Deserialize)]
pub struct ChatCompletionRequest {
    pub model: String,
    pub messages: Vec<ChatMessage>,
    #[serde(default)]
    pub stream: Option<bool>,
    #[serde(default)]
    pub stream_options: Option<StreamOptions>,
    #[serde(default)]
    pub max_tokens: Option<u32>,
    #[serde(default)]
    pub max_completion_tokens: Option<u32>,
    #[serde(default)]
    pub temperature: Option<f64>,
    #[serde(default)]
    pub top_p: Option<f64>,
    #[serde(default)]
    pub stop: Option<Stop>,
    #[serde(default)]
    pub tools: Option<Vec<Tool>>,
    #[serde(default)]
    pub tool_choice: Option<ToolChoice>,
    /// Converse has no switch for it: accepted and not sent (see `request.rs`).
    #[serde(default)]
    pub parallel_tool_calls: Option<bool>,
    /// `none | minimal | low | medium | high`.
    #[serde(default)]
    pub reasoning_effort: Option<String>,
    /// Anthropic-style `{type: enabled, budget_tokens}` / `{type: adaptive}`, passed through.
    #[serde(default)]
    pub thinking: Option<Value>,
    #[serde(default)]
    pub top_k: Option<u32>,
    #[serde(default)]
    pub response_format: Option<ResponseFormat>,
    /// `{guardrailIdentifier, guardrailVersion, trace?, streamProcessingMode?}`.
    #[serde(default, alias = "guardrail_config", rename = "guardrailConfig")]
    pub guardrail_config: Option<Value>,
    /// Merged over the fields edgeport derives (the caller's keys win).
    #[serde(
        default,
        alias = "additional_model_request_fields",
        rename = "additionalModelRequestFields"
    )]
    pub additional_model_request_fields: Option<Map<String, Value>>,
    #[serde(
        default,
        alias = "additional_model_response_field_paths",
        rename = "additionalModelResponseFieldPaths"
    )]
    pub additional_model_response_field_paths: Option<Vec<String>>,
    #[serde(default, alias = "performance_config", rename = "performanceConfig")]
    pub performance_config: Option<Value>,
    /// String values only; becomes Converse `requestMetadata`.
    #[serde(default)]
    pub metadata: Option<Map<String, Value>>,
    /// Sent as `requestMetadata.user`.
    #[serde(default)]
    pub user: Option<String>,
    /// A string (comma-separated) or an array; Claude only.
    #[serde(default)]
    pub anthropic_beta: Option<Value>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `{"type": "text" | "json_object" | "json_schema", "json_schema": {name, schema, description?, strict?}}`.
#[derive(Debug, Clone, Deserialize)]
pub struct ResponseFormat {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub json_schema: Option<JsonSchemaFormat>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct JsonSchemaFormat {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub schema: Option<Value>,
    #[serde(default)]
    pub strict: Option<bool>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct StreamOptions {
    #[serde(default)]
    pub include_usage: Option<bool>,
}

/// `stop` is a string or an array of strings.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Stop {
    One(String),
    Many(Vec<String>),
}

impl Stop {
    pub fn into_vec(self) -> Vec<String> {
        match self {
            Stop::One(s) => vec![s],
            Stop::Many(v) => v,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "role", rename_all = "lowercase")]
pub enum ChatMessage {
    System {
        content: MessageContent,
    },
    Developer {
        content: MessageContent,
    },
    User {
        content: MessageContent,
    },
    Assistant {
        #[serde(default)]
        content: Option<MessageContent>,
        #[serde(default)]
        tool_calls: Option<Vec<ToolCall>>,
    },
    Tool {
        content: MessageContent,
        tool_call_id: String,
    },
}

/// Message content: a plain string or a list of typed parts.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum MessageContent {
    Text(String),
    Parts(Vec<ContentPart>),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ContentPart {
    Text {
        text: String,
        #[serde(default)]
        cache_control: Option<Value>,
    },
    ImageUrl {
        image_url: ImageUrl,
        #[serde(default)]
        cache_control: Option<Value>,
    },
    File {
        file: FileData,
        #[serde(default)]
        cache_control: Option<Value>,
    },
    /// An earlier assistant turn's reasoning, replayed so multi-turn thinking works.
    Thinking {
        thinking: String,
        #[serde(default)]
        signature: Option<String>,
    },
    RedactedThinking {
        data: String,
    },
}

#[derive(Debug, Clone, Deserialize)]
pub struct ImageUrl {
    pub url: String,
    #[serde(default)]
    pub detail: Option<String>,
    /// Required for `s3://` URLs (a Portkey extension).
    #[serde(default)]
    pub mime_type: Option<String>,
    /// Optional owner account of an S3 bucket.
    #[serde(default, alias = "bucketOwner")]
    pub bucket_owner: Option<String>,
    #[serde(default)]
    pub format: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct FileData {
    #[serde(default)]
    pub file_data: Option<String>,
    #[serde(default)]
    pub file_id: Option<String>,
    #[serde(default)]
    pub filename: Option<String>,
    #[serde(default)]
    pub mime_type: Option<String>,
    #[serde(default, alias = "bucketOwner")]
    pub bucket_owner: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ToolCall {
    pub id: String,
    #[serde(rename = "type", default = "function_type")]
    pub kind: String,
    pub function: FunctionCall,
}

fn function_type() -> String {
    "function".to_owned()
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FunctionCall {
    pub name: String,
    pub arguments: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Tool {
    #[serde(rename = "type", default = "function_type")]
    pub kind: String,
    pub function: FunctionDef,
    #[serde(default)]
    pub cache_control: Option<Value>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct FunctionDef {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub parameters: Option<Value>,
}

/// `"auto" | "none" | "required"` or `{"type":"function","function":{"name"}}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum ToolChoice {
    Mode(String),
    Named { function: NamedFunction },
}

#[derive(Debug, Clone, Deserialize)]
pub struct NamedFunction {
    pub name: String,
}

// ---- answers ----

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ChatCompletion {
    pub id: String,
    pub object: &'static str,
    pub created: u64,
    pub model: String,
    pub choices: Vec<Choice>,
    pub usage: Usage,
    /// Non-OpenAI extra (strict compliance off): Bedrock's `trace` (the guardrail assessment),
    /// present only when the request enabled a guardrail trace.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trace: Option<Value>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Choice {
    pub index: u32,
    pub message: AssistantMessage,
    pub logprobs: Option<Value>,
    pub finish_reason: String,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct AssistantMessage {
    pub role: &'static str,
    pub content: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<ToolCall>>,
    /// Non-OpenAI extra (strict compliance off): thinking, redacted thinking and text blocks in order.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_blocks: Option<Vec<Value>>,
    /// Bedrock's `additionalModelResponseFields`: only present when the request asked for them
    /// (`additionalModelResponseFieldPaths`), so returned whatever the compliance mode.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub additional_model_response_fields: Option<Value>,
}

/// Token counts. `prompt_tokens` includes cache reads and writes, as OpenAI counts them.
#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct Usage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub total_tokens: u64,
    pub prompt_tokens_details: PromptTokensDetails,
    /// Anthropic-style cache counters, kept for callers that bill cache writes separately.
    pub cache_read_input_tokens: u64,
    pub cache_creation_input_tokens: u64,
}

#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct PromptTokensDetails {
    pub cached_tokens: u64,
}

/// One SSE chunk of a streamed completion.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ChatCompletionChunk {
    pub id: String,
    pub object: &'static str,
    pub created: u64,
    pub model: String,
    pub choices: Vec<ChunkChoice>,
    /// Present (as `null` until the last chunk) only when `stream_options.include_usage` is set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<Option<Usage>>,
    /// Strict compliance off: Bedrock's `trace`, on a `choices: []` chunk after the finish chunk.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trace: Option<Value>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ChunkChoice {
    pub index: u32,
    pub delta: Delta,
    pub logprobs: Option<Value>,
    pub finish_reason: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct Delta {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<ToolCallDelta>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_blocks: Option<Vec<Value>>,
    /// On the finish chunk, when Bedrock's `messageStop` carried them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub additional_model_response_fields: Option<Value>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ToolCallDelta {
    pub index: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<&'static str>,
    pub function: FunctionDelta,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FunctionDelta {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub arguments: String,
}
