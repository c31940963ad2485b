//! Claude on Bedrock through InvokeModel: the Anthropic body in its Bedrock form, the answer back,
//! and CountTokens.
//!
//! The native body is the caller's Anthropic body with three changes, nothing else:
//! `model` and `stream` removed (Bedrock takes them from the path and the operation),
//! `anthropic_version: "bedrock-2023-05-31"` set, and `anthropic_beta` built from the
//! `anthropic-beta` / `x-portkey-anthropic-beta` headers merged with a body `anthropic_beta`.

use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::api::anthropic::{split_betas, MessagesRequest};
use crate::error::{GatewayError, Result};
use crate::gateway::RequestHeaders;

/// The `anthropic_version` Bedrock wants in native Claude bodies.
pub const BEDROCK_ANTHROPIC_VERSION: &str = "bedrock-2023-05-31";

/// The key Bedrock adds to the last streaming event (and never belongs in Anthropic's API).
pub const INVOCATION_METRICS: &str = "amazon-bedrock-invocationMetrics";

/// Headers whose comma-separated values become `anthropic_beta`.
const BETA_HEADERS: &[&str] = &["anthropic-beta", "x-portkey-anthropic-beta"];

/// Betas from the headers first, then the body's, each once.
pub fn betas(headers: &RequestHeaders, req: &MessagesRequest) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let from_headers = headers
        .0
        .iter()
        .filter(|(k, _)| BETA_HEADERS.contains(&k.as_str()))
        .flat_map(|(_, v)| split_betas(v));
    let from_body = req.anthropic_beta.iter().flat_map(|b| b.names());
    for name in from_headers.chain(from_body) {
        if !out.contains(&name) {
            out.push(name);
        }
    }
    out
}

/// The InvokeModel body for `req`.
pub fn native_body(req: &MessagesRequest, betas: Vec<String>) -> Map<String, Value> {
    let mut body = req.rest.clone();
    body.insert(
        "anthropic_version".into(),
        Value::String(BEDROCK_ANTHROPIC_VERSION.into()),
    );
    if !betas.is_empty() {
        body.insert(
            "anthropic_beta".into(),
            Value::Array(betas.into_iter().map(Value::String).collect()),
        );
    }
    body
}

/// Anthropic's count_tokens body has no `max_tokens`, but the InvokeModel body CountTokens
/// validates requires one (above a thinking budget). It does not change the input count.
pub fn count_tokens_native_body(mut body: Map<String, Value>) -> Map<String, Value> {
    if !body.contains_key("max_tokens") {
        let budget = body
            .get("thinking")
            .and_then(|t| t.get("budget_tokens"))
            .and_then(Value::as_u64)
            .unwrap_or(0);
        body.insert("max_tokens".into(), Value::from(budget + 1));
    }
    body
}

/// CountTokens request: `{"input":{"invokeModel":{"body": base64(native body)}}}`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CountTokensRequest {
    pub input: CountTokensInput,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct CountTokensInput {
    pub invoke_model: InvokeModelInput,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct InvokeModelInput {
    /// Base64 of the InvokeModel JSON body.
    pub body: String,
}

/// CountTokens answer.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct CountTokensResponse {
    pub input_tokens: u64,
}

impl CountTokensRequest {
    pub fn new(native: &Map<String, Value>) -> Result<Self> {
        let json = serde_json::to_vec(native)
            .map_err(|_| GatewayError::internal("could not encode the Bedrock request"))?;
        Ok(CountTokensRequest {
            input: CountTokensInput {
                invoke_model: InvokeModelInput {
                    body: base64::engine::general_purpose::STANDARD.encode(json),
                },
            },
        })
    }
}

/// The Anthropic Message InvokeModel answers, as the caller gets it: Bedrock's JSON, minus
/// Bedrock's metrics.
pub fn answer(raw: &[u8]) -> Result<Map<String, Value>> {
    let mut message: Map<String, Value> = serde_json::from_slice(raw).map_err(|_| {
        GatewayError::bad_gateway("Bedrock answered with a body that is not an Anthropic message")
            .with_code("invalid_upstream_answer")
    })?;
    message.remove(INVOCATION_METRICS);
    Ok(message)
}

/// What a model id says about the model family behind it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Family {
    /// `anthropic.claude-...`, with or without a region prefix or ARN around it.
    Claude { foundation_model: String },
    /// Another vendor's model (`amazon.nova-...`, `meta.llama...`).
    Other { vendor: String },
    /// An application inference profile, custom or provisioned model ARN: only a look-up knows.
    Unknown,
}

/// Region prefixes of system inference profiles (`us.anthropic.claude-...`).
fn is_region_prefix(p: &str) -> bool {
    !p.is_empty()
        && p.len() <= 8
        && p.bytes().all(|b| b.is_ascii_lowercase() || b == b'-')
        && !p.contains("--")
}

/// The family of a model id, and for Claude the foundation model id CountTokens takes.
pub fn family(model_id: &str) -> Family {
    let id = model_id.trim();
    let id = if let Some(rest) = id.strip_prefix("arn:") {
        // arn:aws:bedrock:<region>:<account>:<resource-type>/<resource-id>
        let resource = rest.splitn(5, ':').nth(4).unwrap_or_default();
        match resource.split_once('/') {
            Some(("foundation-model" | "inference-profile", rid)) => rid,
            _ => return Family::Unknown,
        }
    } else {
        id
    };
    let mut parts = id.splitn(3, '.');
    let (first, second) = (parts.next().unwrap_or_default(), parts.next());
    let foundation = match second {
        Some(_) if first == "anthropic" => id,
        Some(v) if v == "anthropic" && is_region_prefix(first) => {
            id.split_once('.').map_or(id, |(_, rest)| rest)
        }
        Some(v) if is_region_prefix(first) && parts.next().is_some() => {
            return Family::Other { vendor: v.into() }
        }
        _ => {
            return Family::Other {
                vendor: first.into(),
            }
        }
    };
    Family::Claude {
        foundation_model: foundation.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families() {
        let claude = |m: &str| Family::Claude {
            foundation_model: m.into(),
        };
        let c = "anthropic.claude-sonnet-4-20250514-v1:0";
        assert_eq!(family(c), claude(c));
        for p in ["us", "eu", "apac", "global", "us-gov", "jp"] {
            assert_eq!(family(&format!("{p}.{c}")), claude(c), "{p}");
        }
        assert_eq!(
            family(&format!("arn:aws:bedrock:us-east-1::foundation-model/{c}")),
            claude(c)
        );
        assert_eq!(
            family(&format!(
                "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.{c}"
            )),
            claude(c)
        );
        assert_eq!(
            family("arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc"),
            Family::Unknown
        );
        assert_eq!(
            family("us.amazon.nova-micro-v1:0"),
            Family::Other {
                vendor: "amazon".into()
            }
        );
        assert_eq!(
            family("meta.llama3-70b-instruct-v1:0"),
            Family::Other {
                vendor: "meta".into()
            }
        );
        assert_eq!(
            family("claude-3"),
            Family::Other {
                vendor: "claude-3".into()
            }
        );
    }
}
