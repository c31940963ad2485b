//! OpenAI chat-completions wire types, as callers send and expect them.

use serde::de::{Error as _, Unexpected};
use serde::{Deserialize, Deserializer, Serialize};
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
#[derive(Debug, Clone)]
pub enum Stop {
    One(String),
    Many(Vec<String>),
}

impl<'de> Deserialize<'de> for Stop {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        untagged(d, "Stop", |v| match v {
            Value::String(s) => Some(Stop::One(s)),
            v => serde_json::from_value(v).ok().map(Stop::Many),
        })
    }
}

impl Stop {
    pub fn into_vec(self) -> Vec<String> {
        match self {
            Stop::One(s) => vec![s],
            Stop::Many(v) => v,
        }
    }
}

/// Tagged by `role`; read by `internally_tagged` (end of file) over this externally tagged derive.
#[derive(Debug, Clone, Deserialize)]
#[serde(remote = "Self", rename_all = "lowercase")]
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

impl<'de> Deserialize<'de> for ChatMessage {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        internally_tagged(d, "role", ChatMessage::deserialize)
    }
}

/// Message content: a plain string or a list of typed parts.
#[derive(Debug, Clone)]
pub enum MessageContent {
    Text(String),
    Parts(Vec<ContentPart>),
}

impl<'de> Deserialize<'de> for MessageContent {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        untagged(d, "MessageContent", |v| match v {
            Value::String(s) => Some(MessageContent::Text(s)),
            v => serde_json::from_value(v).ok().map(MessageContent::Parts),
        })
    }
}

/// Tagged by `type`; read by `internally_tagged` (end of file) over this externally tagged derive.
#[derive(Debug, Clone, Deserialize)]
#[serde(remote = "Self", rename_all = "snake_case")]
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

impl<'de> Deserialize<'de> for ContentPart {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        internally_tagged(d, "type", ContentPart::deserialize)
    }
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
#[derive(Debug, Clone)]
pub enum ToolChoice {
    Mode(String),
    Named { function: NamedFunction },
}

impl<'de> Deserialize<'de> for ToolChoice {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        untagged(d, "ToolChoice", |v| match v {
            Value::String(s) => Some(ToolChoice::Mode(s)),
            Value::Object(mut m) => m
                .remove("function")
                .and_then(|f| serde_json::from_value(f).ok())
                .map(|function| ToolChoice::Named { function }),
            _ => None,
        })
    }
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

// Tagged and untagged enums by hand: serde's derive buffers them through its private `Content`
// type, which instantiated every nested type's deserializer a second time (~8 KB of the gzipped
// Worker). These read a `Value` once and hand it to the plain derived code, with serde's messages.

/// `{tag: "name", ...rest}` read as the externally tagged `{"name": {...rest}}` that `read` (a
/// `#[serde(remote = "Self")]` derive) takes.
fn internally_tagged<'de, D: Deserializer<'de>, T>(
    d: D,
    tag: &'static str,
    read: fn(Value) -> Result<T, serde_json::Error>,
) -> Result<T, D::Error> {
    let mut fields = Map::<String, Value>::deserialize(d)?;
    let name = match fields.remove(tag) {
        Some(Value::String(name)) => name,
        Some(other) => {
            let kind = match &other {
                Value::Null => Unexpected::Unit,
                Value::Bool(b) => Unexpected::Bool(*b),
                Value::Number(n) => match (n.as_u64(), n.as_i64()) {
                    (Some(u), _) => Unexpected::Unsigned(u),
                    (_, Some(i)) => Unexpected::Signed(i),
                    _ => Unexpected::Float(n.as_f64().unwrap_or_default()),
                },
                Value::Object(_) => Unexpected::Map,
                _ => Unexpected::Seq,
            };
            return Err(D::Error::invalid_type(kind, &"variant identifier"));
        }
        None => return Err(D::Error::missing_field(tag)),
    };
    read(Value::Object(Map::from_iter([(
        name,
        Value::Object(fields),
    )])))
    .map_err(D::Error::custom)
}

/// The first shape `read` accepts, or serde's error for an untagged enum that matched none.
fn untagged<'de, D: Deserializer<'de>, T>(
    d: D,
    name: &str,
    read: fn(Value) -> Option<T>,
) -> Result<T, D::Error> {
    read(Value::deserialize(d)?).ok_or_else(|| {
        D::Error::custom(format!(
            "data did not match any variant of untagged enum {name}"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The derives these enums had, as the oracle of the hand-written impls (read through `Debug`).
    #[allow(dead_code)]
    mod derived {
        use super::super::{FileData, ImageUrl, NamedFunction, ToolCall};
        use serde::Deserialize;
        use serde_json::Value;

        #[derive(Debug, Deserialize)]
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

        #[derive(Debug, Deserialize)]
        #[serde(untagged)]
        pub enum MessageContent {
            Text(String),
            Parts(Vec<ContentPart>),
        }

        #[derive(Debug, Deserialize)]
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
            Thinking {
                thinking: String,
                #[serde(default)]
                signature: Option<String>,
            },
            RedactedThinking {
                data: String,
            },
        }

        #[derive(Debug, Deserialize)]
        #[serde(untagged)]
        pub enum Stop {
            One(String),
            Many(Vec<String>),
        }

        #[derive(Debug, Deserialize)]
        #[serde(untagged)]
        pub enum ToolChoice {
            Mode(String),
            Named { function: NamedFunction },
        }
    }

    /// Both readers, from a `Value` (as the gateway reads bodies) and from text: the same value
    /// (by `Debug`) or the same error message.
    fn same<
        New: std::fmt::Debug + for<'a> Deserialize<'a>,
        Old: std::fmt::Debug + for<'a> Deserialize<'a>,
    >(
        json: &str,
    ) {
        let value: Value = serde_json::from_str(json).unwrap();
        let new = serde_json::from_value::<New>(value.clone()).map(|v| format!("{v:?}"));
        let old = serde_json::from_value::<Old>(value).map(|v| format!("{v:?}"));
        match (&new, &old) {
            (Ok(a), Ok(b)) => assert_eq!(a, b, "{json}"),
            (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string(), "{json}"),
            _ => panic!("{json}: {new:?} vs {old:?}"),
        }
        let new = serde_json::from_str::<New>(json).map(|v| format!("{v:?}"));
        let old = serde_json::from_str::<Old>(json).map(|v| format!("{v:?}"));
        assert_eq!(new.is_ok(), old.is_ok(), "{json}: {new:?} vs {old:?}");
        if let (Ok(a), Ok(b)) = (new, old) {
            assert_eq!(a, b, "{json}");
        }
    }

    #[test]
    fn messages_read_as_the_derives_read_them() {
        for json in [
            r#"{"role":"system","content":"be brief"}"#,
            r#"{"role":"developer","content":[{"type":"text","text":"x"}]}"#,
            r#"{"content":"hi","role":"user","name":"ignored"}"#,
            r#"{"role":"user","content":[{"type":"text","text":"a","cache_control":{"type":"ephemeral"}},
                {"type":"image_url","image_url":{"url":"https://x/y.png","detail":"low"}},
                {"type":"file","file":{"file_data":"data:application/pdf;base64,AA==","filename":"f.pdf"}}]}"#,
            r#"{"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{}"}}]}"#,
            r#"{"role":"assistant","content":[{"type":"thinking","thinking":"t","signature":"s"},{"type":"redacted_thinking","data":"d"},{"type":"text","text":"ok"}]}"#,
            r#"{"role":"assistant"}"#,
            r#"{"role":"tool","content":"42","tool_call_id":"c1"}"#,
            r#"{"role":"tool","content":"42"}"#,
            r#"{"role":"robot","content":"hi"}"#,
            r#"{"content":"hi"}"#,
            r#"{"role":null,"content":"hi"}"#,
            r#"{"role":2,"content":"hi"}"#,
            r#"{"role":-2,"content":"hi"}"#,
            r#"{"role":2.5,"content":"hi"}"#,
            r#"{"role":[],"content":"hi"}"#,
            r#"{"role":true,"content":"hi"}"#,
            r#"{"role":{},"content":"hi"}"#,
            r#"{"role":"user"}"#,
            r#"{"role":"user","content":7}"#,
            r#"{"role":"user","content":null}"#,
            r#"{"role":"user","content":[{"type":"video","url":"x"}]}"#,
            r#"{"role":"user","content":[{"text":"no type"}]}"#,
            r#"{"role":"user","content":[{"type":"text"}]}"#,
            r#"{"role":"user","content":[{"type":"image_url","image_url":"https://x/y.png"}]}"#,
            r#"{"role":"user","content":["just text"]}"#,
            r#"{"role":"user","content":[]}"#,
        ] {
            same::<ChatMessage, derived::ChatMessage>(json);
        }
        // Not an object: refused by both, in other words (the derive also took serde's sequence
        // form of a tagged enum, `["user", "hi"]`, which no OpenAI client sends; now refused).
        for json in [
            r#"[]"#,
            r#""user""#,
            r#"null"#,
            r#"["user","hi"]"#,
            r#"[{"type":"text","text":"x"}]"#,
        ] {
            let err = serde_json::from_str::<ChatMessage>(json).unwrap_err();
            assert!(err.to_string().contains("expected a map"), "{json}: {err}");
        }
        assert!(serde_json::from_str::<derived::ChatMessage>(r#"["user","hi"]"#).is_ok());
    }

    #[test]
    fn stop_and_tool_choice_read_as_the_derives_read_them() {
        for json in [
            r#""END""#,
            r#"["a","b"]"#,
            r#"[]"#,
            r#"[1]"#,
            r#"3"#,
            r#"null"#,
            r#"{}"#,
        ] {
            same::<Stop, derived::Stop>(json);
        }
        for json in [
            r#""auto""#,
            r#"{"type":"function","function":{"name":"f"}}"#,
            r#"{"function":{"name":"f"},"extra":1}"#,
            r#"{"type":"function"}"#,
            r#"{"function":{}}"#,
            r#"{"function":"f"}"#,
            r#"["auto"]"#,
            r#"true"#,
        ] {
            same::<ToolChoice, derived::ToolChoice>(json);
        }
    }
}
