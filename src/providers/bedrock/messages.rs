//! `/v1/messages` and `/v1/messages/count_tokens` on Bedrock: Claude's native body through
//! InvokeModel / InvokeModelWithResponseStream, and CountTokens.

use bytes::Bytes;
use serde_json::{Map, Value};

use crate::api::anthropic::MessagesRequest;
use crate::api::portkey::PortkeyHeaders;
use crate::error::{ErrorCode, GatewayError, Result};
use crate::platform::Platform;
use crate::providers::bedrock::call::send;
use crate::providers::bedrock::endpoint::Operation;
use crate::providers::bedrock::inference_profile;
use crate::providers::bedrock::invoke::{self, CountTokensRequest, CountTokensResponse};
use crate::providers::bedrock::invoke_stream::anthropic_sse;
use crate::providers::bedrock::models::{self, Family, ModelInfo};
use crate::providers::bedrock::target::BedrockTarget;
use crate::providers::options::UpstreamOptions;
use crate::providers::Answer;

/// The model table decides (application profiles are looked up, cached); an id nobody can place
/// goes to InvokeModel, which decides. Non-Claude models are a 400 pointing to the chat route.
pub async fn check_model<P: Platform>(
    platform: &P,
    target: &BedrockTarget,
    model_id: &str,
) -> Result<ModelInfo> {
    let info = inference_profile::model_info(platform, &target.control_plane(), model_id).await;
    if !matches!(info.family, Family::Claude | Family::Unknown) {
        return Err(GatewayError::invalid_param(
            "model",
            format!(
                "`{model_id}` is not a Claude model: /v1/messages serves Anthropic Claude models on Bedrock; use POST /v1/chat/completions for other models"
            ),
        )
        .with_code(ErrorCode::ModelNotSupportedOnRoute));
    }
    Ok(info)
}

/// The native body Bedrock gets: the caller's fields, betas from the headers and the body.
pub fn native_body(
    headers: &PortkeyHeaders,
    messages: &MessagesRequest,
) -> Result<Map<String, Value>> {
    let betas = invoke::betas(&headers.anthropic_beta, messages)?;
    Ok(invoke::native_body(messages, betas))
}

fn read_failed(e: String) -> GatewayError {
    GatewayError::bad_gateway(format!(
        "the connection to Bedrock failed while reading the answer: {e}"
    ))
}

/// InvokeModel (JSON) or InvokeModelWithResponseStream (Anthropic SSE, relayed as it arrives).
pub async fn invoke<P: Platform>(
    platform: &P,
    target: &BedrockTarget,
    model_id: &str,
    opts: &UpstreamOptions,
    native: &Map<String, Value>,
    stream: bool,
) -> Result<Answer> {
    let body = serde_json::to_vec(native)
        .map_err(|_| GatewayError::internal("could not encode the Bedrock request"))?;
    let op = if stream {
        Operation::InvokeStream
    } else {
        Operation::Invoke
    };
    let upstream = send(platform, target, model_id, opts, op, Bytes::from(body)).await?;
    if stream {
        return Ok(Answer::Stream(
            anthropic_sse(upstream.body.into_stream()).await?,
        ));
    }
    let raw = upstream
        .collect(crate::limits::MAX_UPSTREAM_JSON_BYTES)
        .await
        .map_err(read_failed)?;
    Ok(Answer::Json(Value::Object(invoke::answer(&raw)?)))
}

/// CountTokens on the foundation model: profile prefixes are stripped, and application inference
/// profiles resolved to their model (as the recorded pydantic-ai traffic shows). Returns the
/// foundation model id used and the count.
pub async fn count_tokens<P: Platform>(
    platform: &P,
    target: &BedrockTarget,
    model_id: &str,
    info: &ModelInfo,
    headers: &PortkeyHeaders,
    messages: &MessagesRequest,
    opts: &UpstreamOptions,
) -> Result<(String, u64)> {
    let profile = models::is_application_profile(model_id);
    let foundation = if profile {
        inference_profile::foundation_model_arn(platform, &target.control_plane(), model_id).await?
    } else {
        model_id.to_owned()
    };
    if info.family == Family::Unknown && !profile {
        return Err(GatewayError::invalid_param(
            "model",
            format!(
                "count_tokens needs a Claude model id (like anthropic.claude-sonnet-4-20250514-v1:0, a us./eu./apac./global. profile, or an application inference profile ARN); `{model_id}` is none of these"
            ),
        )
        .with_code(ErrorCode::CountTokensModelUnresolved));
    }
    let foundation = models::foundation_model_id(&foundation);
    let native = invoke::count_tokens_native_body(native_body(headers, messages)?);
    let body = serde_json::to_vec(&CountTokensRequest::new(&native)?)
        .map_err(|_| GatewayError::internal("could not encode the Bedrock request"))?;
    let upstream = send(
        platform,
        target,
        &foundation,
        opts,
        Operation::CountTokens,
        Bytes::from(body),
    )
    .await?;
    let raw = upstream
        .collect(crate::limits::MAX_UPSTREAM_JSON_BYTES)
        .await
        .map_err(read_failed)?;
    let counted: CountTokensResponse = serde_json::from_slice(&raw).map_err(|_| {
        GatewayError::bad_gateway("Bedrock answered with a body that is not a CountTokens answer")
            .with_code(ErrorCode::InvalidUpstreamAnswer)
    })?;
    Ok((foundation, counted.input_tokens))
}
