//! `/v1/chat/completions` on Bedrock: Converse / ConverseStream. What the mapping needs from the
//! world is fetched first (the model behind an application inference profile, https images as
//! bytes) so the mapping itself stays pure.

use bytes::Bytes;

use crate::api::openai::ChatCompletionRequest;
use crate::error::{GatewayError, Result};
use crate::platform::{Platform, UpstreamResponse};
use crate::providers::bedrock::call::send;
use crate::providers::bedrock::endpoint::Operation;
use crate::providers::bedrock::inference_profile;
use crate::providers::bedrock::media;
use crate::providers::bedrock::request::{self, MappingContext};
use crate::providers::bedrock::response::{to_chat_completion, AnswerContext};
use crate::providers::bedrock::s3;
use crate::providers::bedrock::stream::{openai_sse, StreamContext};
use crate::providers::bedrock::target::BedrockTarget;
use crate::providers::bedrock::wire::ConverseResponse;
use crate::providers::{random_id, Answer, ChatCall};
use crate::settings::Settings;

/// One chat call on Bedrock. `downloaded` keeps the downloaded images across a config's
/// attempts (https images are downloaded once, not once per target).
pub async fn complete<P: Platform>(
    platform: &P,
    settings: &Settings,
    target: &BedrockTarget,
    call: &ChatCall<'_>,
    chat: ChatCompletionRequest,
    downloaded: &mut media::Downloaded,
) -> Result<Answer> {
    let include_usage = chat
        .stream_options
        .as_ref()
        .and_then(|o| o.include_usage)
        .unwrap_or(false);
    let stream = chat.stream.unwrap_or(false);
    let upstream = send_converse(platform, settings, target, call, chat, downloaded).await?;
    let id = random_id("chatcmpl-");
    let created = platform.now_millis() / 1000;
    if stream {
        let ctx = StreamContext {
            id,
            created,
            model: call.model_id.to_owned(),
            strict: call.strict,
            include_usage,
        };
        return Ok(Answer::Stream(
            openai_sse(upstream.body.into_stream(), ctx).await?,
        ));
    }
    let converse = read_converse(upstream).await?;
    let ctx = AnswerContext {
        id,
        created,
        model: call.model_id.to_owned(),
        strict: call.strict,
    };
    let completion = to_chat_completion(converse, &ctx);
    let value = serde_json::to_value(&completion)
        .map_err(|_| GatewayError::internal("could not encode the answer"))?;
    Ok(Answer::Json(value))
}

/// Maps a chat request to Converse (ConverseStream when it streams) and sends it; the answer's
/// status is checked, its body not read yet.
pub async fn send_converse<P: Platform>(
    platform: &P,
    settings: &Settings,
    target: &BedrockTarget,
    call: &ChatCall<'_>,
    mut chat: ChatCompletionRequest,
    downloaded: &mut media::Downloaded,
) -> Result<UpstreamResponse> {
    let model =
        inference_profile::model_info(platform, &target.control_plane(), call.model_id).await;
    media::inline_remote_images(platform, settings, &mut chat.messages, downloaded).await?;
    let ctx = MappingContext {
        model_id: call.model_id.to_owned(),
        model,
        anthropic_beta_header: call.anthropic_beta_header.clone(),
    };
    let converse = request::to_converse(&chat, &ctx)?;
    if let Some(buckets) = &target.s3_buckets {
        let value = serde_json::to_value(&converse)
            .map_err(|_| GatewayError::internal("could not encode the Bedrock request"))?;
        s3::check_buckets(&value, buckets)?;
    }
    let body = serde_json::to_vec(&converse)
        .map_err(|_| GatewayError::internal("could not encode the Bedrock request"))?;
    let op = if chat.stream.unwrap_or(false) {
        Operation::ConverseStream
    } else {
        Operation::Converse
    };
    send(
        platform,
        target,
        call.model_id,
        &call.options,
        op,
        Bytes::from(body),
    )
    .await
}

/// A Converse answer's body, read whole (up to the JSON answer limit) and parsed.
pub async fn read_converse(upstream: UpstreamResponse) -> Result<ConverseResponse> {
    let raw = upstream
        .collect(crate::limits::MAX_UPSTREAM_JSON_BYTES)
        .await
        .map_err(|e| {
            GatewayError::bad_gateway(format!(
                "the connection to Bedrock failed while reading the answer: {e}"
            ))
        })?;
    serde_json::from_slice(&raw).map_err(|_| {
        GatewayError::bad_gateway("Bedrock answered with a body that is not a Converse response")
    })
}
