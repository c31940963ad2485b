//! Bedrock Converse / ConverseStream wire types: plain serde structs, camelCase on the wire.
//!
//! Request types serialize exactly what edgeport sends. Response types deserialize leniently:
//! every field is optional or defaulted, and unknown fields (the stream's `"p"` padding, blocks
//! edgeport does not map yet) are ignored.

use serde::{Deserialize, Serialize};
use serde_json::Value;

// ---- request ----

#[derive(Debug, Clone, Serialize, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ConverseRequest {
    pub messages: Vec<Message>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub system: Vec<SystemBlock>,
    #[serde(skip_serializing_if = "InferenceConfig::is_empty")]
    pub inference_config: InferenceConfig,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_config: Option<ToolConfig>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub additional_model_request_fields: Option<serde_json::Map<String, Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub additional_model_response_field_paths: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub guardrail_config: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub performance_config: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_metadata: Option<serde_json::Map<String, Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output_config: Option<OutputConfig>,
}

/// Structured output: `outputConfig.textFormat` (as recorded in `test_bedrock_zai_native_output`).
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct OutputConfig {
    pub text_format: TextFormat,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TextFormat {
    /// `json_schema`
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub structure: TextFormatStructure,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TextFormatStructure {
    pub json_schema: JsonSchemaDefinition,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct JsonSchemaDefinition {
    /// The schema as a JSON *string*, as Bedrock wants it.
    pub schema: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    User,
    Assistant,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Message {
    pub role: Role,
    pub content: Vec<ContentBlock>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub enum ContentBlock {
    Text(String),
    Image(ImageBlock),
    Document(DocumentBlock),
    ToolUse(ToolUseBlock),
    ToolResult(ToolResultBlock),
    ReasoningContent(ReasoningContentBlock),
    CachePoint(CachePoint),
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub enum SystemBlock {
    Text(String),
    CachePoint(CachePoint),
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CachePoint {
    #[serde(rename = "type")]
    pub kind: &'static str,
}

impl CachePoint {
    pub const DEFAULT: CachePoint = CachePoint { kind: "default" };
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ImageBlock {
    pub format: String,
    pub source: MediaSource,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct DocumentBlock {
    pub format: String,
    pub name: String,
    pub source: MediaSource,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub enum MediaSource {
    /// Base64 of the raw bytes (the JSON encoding of a Smithy blob).
    Bytes(String),
    S3Location(S3Location),
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct S3Location {
    pub uri: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bucket_owner: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ToolUseBlock {
    pub tool_use_id: String,
    pub name: String,
    #[serde(default)]
    pub input: Value,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ToolResultBlock {
    pub tool_use_id: String,
    pub content: Vec<ToolResultContent>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub enum ToolResultContent {
    Text(String),
    Json(Value),
    Image(ImageBlock),
    Document(DocumentBlock),
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ReasoningContentBlock {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_text: Option<ReasoningText>,
    /// Base64 of the encrypted reasoning.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redacted_content: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ReasoningText {
    pub text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
}

#[derive(Debug, Clone, Serialize, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct InferenceConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_sequences: Option<Vec<String>>,
}

impl InferenceConfig {
    pub fn is_empty(&self) -> bool {
        self == &InferenceConfig::default()
    }
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ToolConfig {
    pub tools: Vec<ToolEntry>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<Value>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub enum ToolEntry {
    ToolSpec(ToolSpec),
    CachePoint(CachePoint),
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ToolSpec {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub input_schema: InputSchema,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct InputSchema {
    pub json: Value,
}

// ---- Converse answer ----

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ConverseResponse {
    #[serde(default)]
    pub output: ConverseOutput,
    #[serde(default)]
    pub stop_reason: String,
    #[serde(default)]
    pub usage: Option<TokenUsage>,
    #[serde(default)]
    pub additional_model_response_fields: Option<Value>,
    #[serde(default)]
    pub trace: Option<Value>,
}

#[derive(Debug, Clone, Deserialize, Default)]
pub struct ConverseOutput {
    #[serde(default)]
    pub message: Option<ResponseMessage>,
}

#[derive(Debug, Clone, Deserialize, Default)]
pub struct ResponseMessage {
    #[serde(default)]
    pub content: Vec<ResponseBlock>,
}

/// One answer content block. A struct of options rather than an enum, so blocks edgeport does
/// not know (tool results of server tools) pass without failing the whole answer.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ResponseBlock {
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default)]
    pub tool_use: Option<ToolUseBlock>,
    #[serde(default)]
    pub reasoning_content: Option<ReasoningContentBlock>,
    /// Text the model wrote with citations (documents with `citations` enabled): the text is
    /// part of the answer; the citations themselves are not mapped.
    #[serde(default)]
    pub citations_content: Option<CitationsContent>,
}

impl ResponseBlock {
    /// The block's answer text: a text block's, or a cited block's content.
    pub fn answer_text(&mut self) -> Option<String> {
        if let Some(t) = self.text.take() {
            return Some(t);
        }
        let cited = self.citations_content.take()?;
        Some(cited.content.into_iter().filter_map(|c| c.text).collect())
    }
}

#[derive(Debug, Clone, Deserialize, Default)]
pub struct CitationsContent {
    #[serde(default)]
    pub content: Vec<CitedText>,
}

#[derive(Debug, Clone, Deserialize, Default)]
pub struct CitedText {
    #[serde(default)]
    pub text: Option<String>,
}

#[derive(Debug, Clone, Copy, Deserialize, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TokenUsage {
    #[serde(default)]
    pub input_tokens: u64,
    #[serde(default)]
    pub output_tokens: u64,
    #[serde(default)]
    pub total_tokens: u64,
    #[serde(default)]
    pub cache_read_input_tokens: u64,
    #[serde(default)]
    pub cache_write_input_tokens: u64,
}

// ---- ConverseStream events (payloads of `:event-type` frames) ----

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ContentBlockStartEvent {
    #[serde(default)]
    pub content_block_index: u32,
    #[serde(default)]
    pub start: ContentBlockStart,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ContentBlockStart {
    #[serde(default)]
    pub tool_use: Option<ToolUseStart>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ToolUseStart {
    pub tool_use_id: String,
    pub name: String,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ContentBlockDeltaEvent {
    #[serde(default)]
    pub content_block_index: u32,
    #[serde(default)]
    pub delta: ContentBlockDelta,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ContentBlockDelta {
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default)]
    pub tool_use: Option<ToolUseDelta>,
    #[serde(default)]
    pub reasoning_content: Option<ReasoningDelta>,
}

#[derive(Debug, Clone, Deserialize, Default)]
pub struct ToolUseDelta {
    #[serde(default)]
    pub input: String,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ReasoningDelta {
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default)]
    pub signature: Option<String>,
    #[serde(default)]
    pub redacted_content: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct MessageStopEvent {
    #[serde(default)]
    pub stop_reason: String,
    #[serde(default)]
    pub additional_model_response_fields: Option<Value>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct MetadataEvent {
    #[serde(default)]
    pub usage: Option<TokenUsage>,
    #[serde(default)]
    pub trace: Option<Value>,
}

/// Error bodies: `{"message": ...}` (some services spell it `Message`).
#[derive(Debug, Clone, Deserialize, Default)]
pub struct AwsErrorBody {
    #[serde(default, alias = "Message")]
    pub message: Option<String>,
}
