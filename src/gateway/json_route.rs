//! The config loop the routes whose body is one JSON object share (chat completions, responses,
//! embeddings, image generation): the config and the body read once, then each of the config's
//! attempts handed to the route with its own headers (the target's overlay) and body
//! (`override_params` applied).

use serde_json::{Map, Value};

use crate::api::portkey::PortkeyHeaders;
use crate::error::Result;
use crate::gateway::target::Caller;
use crate::gateway::{routed, GatewayRequest, GatewayResponse, Outcome};
use crate::platform::Platform;
use crate::routing::cache::Cache;
use crate::routing::{self, Attempt, Facts};

/// One attempt's view of the request.
pub struct AttemptInput<'a> {
    pub caller: &'a Caller,
    pub headers: PortkeyHeaders,
    pub body: Map<String, Value>,
    /// The config's `cache` for this target.
    pub cache: Option<Cache>,
    /// The request body's size (the limits' token estimate).
    pub body_bytes: usize,
}

impl AttemptInput<'_> {
    /// The body's `model` (required: a target is resolved from it).
    pub fn model(&self) -> Result<String> {
        crate::api::openai::fields::model(&self.body)
    }
}

/// The route's answer: [`run`], its error (if any) in OpenAI's shape.
pub async fn answer<P: Platform>(
    platform: &P,
    caller: &Caller,
    req: &GatewayRequest,
    headers: &PortkeyHeaders,
    outcome: &mut Outcome,
    each: impl AsyncFnMut(AttemptInput<'_>, &mut Outcome) -> Result<GatewayResponse>,
) -> GatewayResponse {
    let result = run(platform, caller, req, headers, outcome, each).await;
    crate::gateway::respond(crate::error::ApiFlavor::OpenAi, result, outcome)
}

/// Runs `each` once, or through the config's targets (retries, fallbacks, load balancing).
pub async fn run<P: Platform>(
    platform: &P,
    caller: &Caller,
    req: &GatewayRequest,
    headers: &PortkeyHeaders,
    outcome: &mut Outcome,
    mut each: impl AsyncFnMut(AttemptInput<'_>, &mut Outcome) -> Result<GatewayResponse>,
) -> Result<GatewayResponse> {
    let config =
        routing::from_request(platform.kv(), headers, || caller.require().map(|_| ())).await?;
    let body = crate::gateway::chat::parse_object(&req.body)?;
    let facts = Facts::new(headers.metadata.as_deref(), &body);
    outcome.user = body.get("user").and_then(Value::as_str).map(str::to_owned);
    let run = routed::run(
        platform,
        config.as_ref(),
        &facts,
        async |attempt: &Attempt| {
            let mut body = match &body {
                Value::Object(map) => map.clone(),
                _ => Map::new(),
            };
            routing::apply_overrides(&mut body, attempt);
            let input = AttemptInput {
                caller,
                headers: routing::overlay_headers(headers, attempt),
                body,
                cache: attempt.cache,
                body_bytes: req.body.len(),
            };
            each(input, outcome).await
        },
    );
    let (result, routed, attempts) = run.await;
    outcome.routed = routed;
    outcome.attempts = attempts;
    result
}
