//! Claude on Bedrock through InvokeModel: the Anthropic body in its Bedrock form, the answer back,
//! and CountTokens.
//!
//! The native body is the caller's Anthropic body with three changes, nothing else:
//! `model` and `stream` removed (Bedrock takes them from the path and the operation),
//! `anthropic_version: "bedrock-2023-05-31"` set, and `anthropic_beta` built from the
//! `anthropic-beta` / `x-portkey-anthropic-beta` headers merged with a body `anthropic_beta`.

use std::collections::HashSet;

use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::api::anthropic::{AnthropicBeta, MessagesRequest};
use crate::error::{ErrorCode, GatewayError, Result};
use crate::limits::{MAX_BETAS, MAX_BETA_LEN};

/// The `anthropic_version` Bedrock wants in native Claude bodies.
pub const BEDROCK_ANTHROPIC_VERSION: &str = "bedrock-2023-05-31";

/// The key Bedrock adds to the last streaming event (and never belongs in Anthropic's API).
pub const INVOCATION_METRICS: &str = "amazon-bedrock-invocationMetrics";

/// Headers whose comma-separated values become `anthropic_beta`.
const BETA_HEADERS: &[&str] = &["anthropic-beta", "x-portkey-anthropic-beta"];

/// Betas from the headers first, then the body's, each once.
pub fn betas(headers: &[(String, String)], req: &MessagesRequest) -> Result<Vec<String>> {
    let mut out = Betas::default();
    for (name, value) in headers {
        if BETA_HEADERS.contains(&name.as_str()) {
            out.add_csv(value, name)?;
        }
    }
    match &req.anthropic_beta {
        None => {}
        Some(AnthropicBeta::One(s)) => out.add_csv(s, "anthropic_beta")?,
        Some(AnthropicBeta::Many(list)) => {
            for s in list {
                out.add_csv(s, "anthropic_beta")?;
            }
        }
    }
    Ok(out.into_vec())
}

/// Beta names gathered from headers and a body, each once in first-seen order, within
/// [`MAX_BETAS`] names of at most [`MAX_BETA_LEN`] bytes (both routes use it).
#[derive(Debug, Default)]
pub struct Betas {
    names: Vec<String>,
    seen: HashSet<String>,
}

impl Betas {
    /// Adds the names in `raw` (`a, b,,c`); `param` says where they came from, for errors.
    pub fn add_csv(&mut self, raw: &str, param: &str) -> Result<()> {
        for name in raw.split(',').map(str::trim).filter(|b| !b.is_empty()) {
            self.add(name, param)?;
        }
        Ok(())
    }

    fn add(&mut self, name: &str, param: &str) -> Result<()> {
        if name.len() > MAX_BETA_LEN {
            return Err(GatewayError::invalid_param(
                param,
                format!("a beta name is at most {MAX_BETA_LEN} bytes long"),
            ));
        }
        if self.seen.contains(name) {
            return Ok(());
        }
        if self.names.len() >= MAX_BETAS {
            return Err(GatewayError::invalid_param(
                param,
                format!(
                    "at most {MAX_BETAS} different betas may be named (headers and body together)"
                ),
            ));
        }
        self.seen.insert(name.to_owned());
        self.names.push(name.to_owned());
        Ok(())
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    pub fn into_vec(self) -> Vec<String> {
        self.names
    }
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
        // The budget is the caller's number: u64::MAX must not overflow.
        body.insert("max_tokens".into(), Value::from(budget.saturating_add(1)));
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
            .with_code(ErrorCode::InvalidUpstreamAnswer)
    })?;
    message.remove(INVOCATION_METRICS);
    Ok(message)
}
