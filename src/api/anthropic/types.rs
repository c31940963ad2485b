//! Anthropic Messages wire types, as callers send and expect them.
//!
//! Claude on Bedrock speaks Anthropic's own body, so the request is a pass-through map: edgeport
//! types only the fields it must read or remove, and every other field (tools, images, documents,
//! thinking, cache_control, citations, `temperature: 0` ...) reaches Bedrock exactly as sent.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// `POST /v1/messages` and `POST /v1/messages/count_tokens` body.
#[derive(Debug, Clone, Deserialize)]
pub struct MessagesRequest {
    /// A Bedrock model id (or ARN), or `@slug/model-id`. Not part of Bedrock's body.
    pub model: String,
    /// Chooses InvokeModelWithResponseStream. Not part of Bedrock's body.
    #[serde(default)]
    pub stream: Option<bool>,
    /// Betas named in the body (Bedrock's own field), merged with the `anthropic-beta` header.
    #[serde(default)]
    pub anthropic_beta: Option<AnthropicBeta>,
    /// Whatever the caller sent besides, untouched.
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

/// `anthropic_beta` as one comma-separated string or a list.
#[derive(Debug, Clone, PartialEq)]
pub enum AnthropicBeta {
    One(String),
    Many(Vec<String>),
}

/// By hand rather than `#[serde(untagged)]`, for the reason given in `api::openai::types`.
impl<'de> Deserialize<'de> for AnthropicBeta {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Value::deserialize(d)? {
            Value::String(s) => Ok(AnthropicBeta::One(s)),
            v => serde_json::from_value(v)
                .map(AnthropicBeta::Many)
                .map_err(|_| {
                    serde::de::Error::custom(
                        "data did not match any variant of untagged enum AnthropicBeta",
                    )
                }),
        }
    }
}

impl AnthropicBeta {
    pub fn names(&self) -> Vec<String> {
        match self {
            AnthropicBeta::One(s) => split_betas(s),
            AnthropicBeta::Many(list) => list.iter().flat_map(|s| split_betas(s)).collect(),
        }
    }
}

/// `a, b,,c` → `["a", "b", "c"]`
pub fn split_betas(raw: &str) -> Vec<String> {
    raw.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The answer of `POST /v1/messages/count_tokens`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MessageTokensCount {
    pub input_tokens: u64,
}

/// An Anthropic streaming event on its way out: `event: <name>\ndata: <data>\n\n`.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamEvent {
    pub name: String,
    /// The event's JSON text, on one line.
    pub data: bytes::Bytes,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anthropic_beta_reads_as_the_untagged_derive_did() {
        #[allow(dead_code)]
        mod derived {
            /// The derive the type had.
            #[derive(Debug, serde::Deserialize)]
            #[serde(untagged)]
            pub enum AnthropicBeta {
                One(String),
                Many(Vec<String>),
            }
        }
        for json in [
            r#""a,b""#,
            r#"["a","b"]"#,
            r#"[]"#,
            r#"[1]"#,
            r#"3"#,
            r#"null"#,
            r#"{}"#,
        ] {
            let ours = serde_json::from_str::<AnthropicBeta>(json).map(|b| match b {
                AnthropicBeta::One(s) => format!("One({s:?})"),
                AnthropicBeta::Many(v) => format!("Many({v:?})"),
            });
            let derived =
                serde_json::from_str::<derived::AnthropicBeta>(json).map(|d| format!("{d:?}"));
            match (ours, derived) {
                (Ok(a), Ok(b)) => assert_eq!(a, b, "{json}"),
                (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string(), "{json}"),
                (a, b) => panic!("{json}: {a:?} vs {b:?}"),
            }
        }
    }
}
