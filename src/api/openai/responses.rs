//! OpenAI Responses API answer types (`POST /v1/responses`): the `response` object, its output
//! items and the streamed events. The request is read as JSON by `gateway::responses::convert`.

use serde::Serialize;
use serde_json::{Map, Value};

/// The `response` object. Fields the caller set are echoed (as OpenAI does), so SDKs that
/// validate the whole object (the Python SDK's pydantic model) read it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ResponseObject {
    pub id: String,
    pub object: &'static str,
    pub created_at: u64,
    /// `in_progress`, `completed`, `incomplete` or `failed`.
    pub status: &'static str,
    pub error: Option<ResponseError>,
    pub incomplete_details: Option<IncompleteDetails>,
    #[serde(flatten)]
    pub echo: RequestEcho,
    pub model: String,
    pub output: Vec<OutputItem>,
    pub usage: Option<ResponseUsage>,
}

/// What the request said, repeated on the answer.
#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct RequestEcho {
    pub instructions: Option<String>,
    pub max_output_tokens: Option<u64>,
    pub metadata: Map<String, Value>,
    pub parallel_tool_calls: bool,
    pub previous_response_id: Option<String>,
    pub reasoning: Value,
    pub store: bool,
    pub temperature: Option<f64>,
    pub text: Value,
    pub tool_choice: Value,
    pub tools: Vec<Value>,
    pub top_p: Option<f64>,
    pub truncation: String,
    pub user: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ResponseError {
    pub code: String,
    pub message: String,
}

impl ResponseError {
    /// A gateway error as a failed response's `error`: OpenAI's code vocabulary
    /// (`rate_limit_exceeded`, else `server_error`), edgeport's own code in the message.
    pub fn from_gateway(err: &crate::error::GatewayError) -> Self {
        let code = if err.status == 429 {
            "rate_limit_exceeded"
        } else {
            "server_error"
        };
        let message = match &err.code {
            Some(c) => format!("{} ({c})", err.message),
            None => err.message.clone(),
        };
        ResponseError {
            code: code.to_owned(),
            message,
        }
    }
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct IncompleteDetails {
    /// `max_output_tokens` or `content_filter`.
    pub reason: &'static str,
}

/// Token counts. `input_tokens` includes cache reads and writes, as OpenAI counts them.
#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct ResponseUsage {
    pub input_tokens: u64,
    pub input_tokens_details: InputTokensDetails,
    pub output_tokens: u64,
    pub output_tokens_details: OutputTokensDetails,
    pub total_tokens: u64,
}

#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct InputTokensDetails {
    /// Cache reads.
    pub cached_tokens: u64,
    /// Cache writes (Bedrock prompt caching).
    pub cache_write_tokens: u64,
}

#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct OutputTokensDetails {
    /// Bedrock does not count thinking tokens apart from the answer: always 0.
    pub reasoning_tokens: u64,
}

/// One output item, tagged by `type`.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum OutputItem {
    Message {
        id: String,
        status: &'static str,
        role: &'static str,
        content: Vec<OutputText>,
    },
    FunctionCall {
        id: String,
        call_id: String,
        name: String,
        arguments: String,
        status: &'static str,
    },
    /// Thinking: its text as the summary; `encrypted_content` is what Bedrock needs to accept it
    /// back (the signature, or `redacted:` + the redacted data).
    Reasoning {
        id: String,
        summary: Vec<SummaryText>,
        #[serde(skip_serializing_if = "Option::is_none")]
        encrypted_content: Option<String>,
        status: &'static str,
    },
}

impl OutputItem {
    pub fn id(&self) -> &str {
        match self {
            OutputItem::Message { id, .. }
            | OutputItem::FunctionCall { id, .. }
            | OutputItem::Reasoning { id, .. } => id,
        }
    }

    /// As the caller sees it: a reasoning item's summary and encrypted content only when asked
    /// for (the stored item keeps both).
    pub fn shown(&self, summary: bool, encrypted: bool) -> OutputItem {
        match self {
            OutputItem::Reasoning {
                id,
                summary: s,
                encrypted_content,
                status,
            } => OutputItem::Reasoning {
                id: id.clone(),
                summary: if summary {
                    s.iter().filter(|t| !t.text.is_empty()).cloned().collect()
                } else {
                    Vec::new()
                },
                encrypted_content: encrypted_content.clone().filter(|_| encrypted),
                status,
            },
            other => other.clone(),
        }
    }
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct OutputText {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub text: String,
    pub annotations: Vec<Value>,
    pub logprobs: Vec<Value>,
}

impl OutputText {
    pub fn new(text: String) -> Self {
        OutputText {
            kind: "output_text",
            text,
            annotations: Vec::new(),
            logprobs: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SummaryText {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub text: String,
}

impl SummaryText {
    pub fn new(text: String) -> Self {
        SummaryText {
            kind: "summary_text",
            text,
        }
    }
}

/// The prefix that marks redacted thinking in a reasoning item's `encrypted_content`.
pub const REDACTED_PREFIX: &str = "redacted:";

/// The text every output item's texts make together (what the SDKs call `output_text`).
pub fn output_text(items: &[OutputItem]) -> String {
    let mut out = String::new();
    for item in items {
        if let OutputItem::Message { content, .. } = item {
            for part in content {
                out.push_str(&part.text);
            }
        }
    }
    out
}
