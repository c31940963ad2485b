//! `POST /v1/embeddings` → Bedrock InvokeModel per embedding family, or OpenAI's `/embeddings`.

use crate::api::openai::embeddings::{EmbeddingsRequest, EmbeddingsResponse, EMBEDDINGS_FIELDS};
use crate::api::portkey::PortkeyHeaders;
use crate::error::{GatewayError, Result};
use crate::gateway::json_route::{self, AttemptInput};
use crate::gateway::target::{self, Caller};
use crate::gateway::{cache, limits, GatewayRequest, GatewayResponse, Outcome, Settings};
use crate::platform::Platform;
use crate::providers::bedrock::embeddings::{self as bedrock_embeddings, EmbedModel};
use crate::providers::bedrock::inference_profile;
use crate::providers::options::UpstreamOptions;
use crate::providers::{openai, ChatCall, Upstream};
use crate::routing::cache::CacheScope;
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

/// One target: resolve, (look in the cache,) embed, (store,) answer.
async fn try_target<P: Platform>(
    platform: &P,
    settings: &Settings,
    input: AttemptInput<'_>,
    outcome: &mut Outcome,
) -> Result<GatewayResponse> {
    let model = input.model()?;
    // A previous target's cache status says nothing about this one.
    outcome.cache = None;
    let headers = &input.headers;
    let target = target::resolve(platform, settings, input.caller, headers, &model).await?;
    let mut body = input.body;
    target.apply_route_defaults(&mut body, EMBEDDINGS_FIELDS, &["model", "input"]);
    outcome.resolved(&target);
    let call = ChatCall {
        model_id: &target.model_id,
        strict: headers.strict,
        anthropic_beta_header: None,
        options: UpstreamOptions::from_headers(headers, settings)?,
    };
    // Bedrock's mapping reads the checked request (a 400 before the cache or the limits).
    let bedrock = match &target.upstream {
        Upstream::Bedrock(b) => {
            let request = EmbeddingsRequest::from_object(&body)?;
            let info =
                inference_profile::model_info(platform, &b.control_plane(), &target.model_id).await;
            let family = EmbedModel::of(&info)
                .ok_or_else(|| bedrock_embeddings::not_an_embedding_model(&target.model_id))?;
            let calls = bedrock_embeddings::plan(family, &request)?;
            Some((b, request, family, calls))
        }
        Upstream::OpenAi(_) => None,
    };
    let scope = CacheScope {
        route: "embeddings",
        caller: &target.cache_caller(),
        provider: &target.provider_label,
        model: &target.model_id,
        strict: true,
    };
    let (entry, hit) = cache::open(
        platform,
        input.cache,
        false,
        &scope,
        &body,
        headers,
        outcome,
    )
    .await;
    if let Some(hit) = hit {
        return Ok(hit);
    }
    // Embeddings have no output: the body's size is the whole estimate.
    limits::admit_attempt(platform, outcome, &target, input.body_bytes, Some(0)).await?;
    let encoded = match (&target.upstream, bedrock) {
        (_, Some((b, request, family, calls))) => {
            let done = bedrock_embeddings::embed(
                platform,
                b,
                &target.model_id,
                &call.options,
                family,
                &request,
                calls,
            )
            .await?;
            outcome.usage = Some(Tokens {
                input: done.tokens,
                ..Tokens::default()
            });
            let answer = EmbeddingsResponse::new(
                &target.model_id,
                done.vectors,
                done.tokens,
                request.encoding_format,
            );
            serde_json::to_string(&answer)
                .map_err(|_| GatewayError::internal("could not encode the answer"))?
        }
        (Upstream::OpenAi(o), None) => {
            let value = openai::media::embeddings(platform, o, &call, body).await?;
            outcome.usage = crate::usage::extract::from_answer(&value);
            value.to_string()
        }
        (Upstream::Bedrock(_), None) => {
            return Err(GatewayError::internal(
                "the request was read for another provider",
            ))
        }
    };
    if let Some(entry) = &entry {
        cache::store(platform, entry, &encoded).await;
    }
    Ok(GatewayResponse::json_bytes(200, encoded.into_bytes()))
}
