//! `POST /v1/images/generations` → Bedrock InvokeModel (Nova Canvas, Titan Image Generator,
//! Stability), or OpenAI's `/images/generations`. Answers are never cached (each generation is
//! new, and they are large).

use crate::api::openai::images::{
    ImageData, ImageGenerationRequest, ImagesResponse, IMAGES_FIELDS,
};
use crate::api::portkey::PortkeyHeaders;
use crate::error::{GatewayError, Result};
use crate::gateway::json_route::{self, AttemptInput};
use crate::gateway::target::{self, Caller};
use crate::gateway::{limits, GatewayRequest, GatewayResponse, Outcome, Settings};
use crate::platform::Platform;
use crate::providers::bedrock::images::{self as bedrock_images, ImageModel};
use crate::providers::bedrock::inference_profile;
use crate::providers::options::UpstreamOptions;
use crate::providers::{openai, ChatCall, Upstream};
use crate::usage::prices::Tokens;

pub async fn handle<P: Platform>(
    platform: &P,
    settings: &Settings,
    caller: &Caller,
    req: &GatewayRequest,
    headers: &PortkeyHeaders,
    outcome: &mut Outcome,
) -> GatewayResponse {
    json_route::answer(
        platform,
        caller,
        req,
        headers,
        outcome,
        async |input, outcome| try_target(platform, settings, input, outcome).await,
    )
    .await
}

async fn try_target<P: Platform>(
    platform: &P,
    settings: &Settings,
    input: AttemptInput<'_>,
    outcome: &mut Outcome,
) -> Result<GatewayResponse> {
    let model = input.model()?;
    let headers = &input.headers;
    let target = target::resolve(platform, settings, input.caller, headers, &model).await?;
    let mut body = input.body;
    target.apply_route_defaults(&mut body, IMAGES_FIELDS, &["model", "prompt"]);
    outcome.resolved(&target);
    let call = ChatCall {
        model_id: &target.model_id,
        strict: headers.strict,
        anthropic_beta_header: None,
        options: UpstreamOptions::from_headers(headers, settings)?,
    };
    let answer = match &target.upstream {
        Upstream::Bedrock(b) => {
            let request = ImageGenerationRequest::from_object(&body)?;
            let info =
                inference_profile::model_info(platform, &b.control_plane(), &target.model_id).await;
            let family = ImageModel::of(&info)
                .ok_or_else(|| bedrock_images::not_an_image_model(&target.model_id))?;
            let bodies = bedrock_images::plan(family, &request)?;
            let expected = Tokens {
                images: u64::from(request.n),
                ..Tokens::default()
            };
            limits::admit_usage(platform, outcome, &target, expected).await?;
            let images = bedrock_images::generate(
                platform,
                b,
                &target.model_id,
                &call.options,
                family,
                &request,
                bodies,
            )
            .await?;
            outcome.usage = Some(Tokens {
                images: images.len() as u64,
                ..Tokens::default()
            });
            let answer = ImagesResponse {
                created: platform.now_millis() / 1000,
                data: images
                    .into_iter()
                    .map(|b64_json| ImageData { b64_json })
                    .collect(),
            };
            // Up to 24 MiB of base64: encoded once, straight to the answer's bytes.
            serde_json::to_vec(&answer)
                .map_err(|_| GatewayError::internal("could not encode the answer"))?
        }
        Upstream::OpenAi(o) => {
            let n = body
                .get("n")
                .and_then(serde_json::Value::as_u64)
                .unwrap_or(1);
            let expected = Tokens {
                images: n,
                ..Tokens::default()
            };
            limits::admit_usage(platform, outcome, &target, expected).await?;
            let value = openai::media::images(platform, o, &call, body).await?;
            outcome.usage = crate::usage::extract::from_answer(&value);
            value.to_string().into_bytes()
        }
    };
    Ok(GatewayResponse::json_bytes(200, answer))
}
