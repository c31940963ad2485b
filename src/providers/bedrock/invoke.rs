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
