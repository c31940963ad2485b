//! `/v1/embeddings` and `/v1/images/generations` on OpenAI: the caller's body passed through
//! (only the fields OpenAI's API knows: a field meant for a Bedrock model in a fallback list must
//! not fail the OpenAI target), the JSON answer as OpenAI sent it.

use serde_json::{Map, Value};

use crate::error::Result;
use crate::platform::Platform;
use crate::providers::openai::chat::{read_object_within, send};
use crate::providers::openai::target::OpenAiTarget;
use crate::providers::ChatCall;

/// The request fields of OpenAI's embeddings API.
pub const OPENAI_EMBEDDINGS_FIELDS: &[&str] =
    &["model", "input", "encoding_format", "dimensions", "user"];

/// The request fields of OpenAI's image generation API.
pub const OPENAI_IMAGES_FIELDS: &[&str] = &[
    "prompt",
    "model",
    "n",
    "size",
    "quality",
    "response_format",
    "output_format",
    "output_compression",
    "background",
    "moderation",
    "style",
    "user",
];

/// `POST {base}/embeddings`.
pub async fn embeddings<P: Platform>(
    platform: &P,
    target: &OpenAiTarget,
    call: &ChatCall<'_>,
    mut body: Map<String, Value>,
) -> Result<Value> {
    body.retain(|k, _| OPENAI_EMBEDDINGS_FIELDS.contains(&k.as_str()));
    let resp = send(platform, target, call, target.embeddings_url(), body, false).await?;
    read_object_within(
        resp,
        "an embeddings answer",
        crate::limits::MAX_UPSTREAM_JSON_BYTES,
    )
    .await
}

/// `POST {base}/images/generations`.
pub async fn images<P: Platform>(
    platform: &P,
    target: &OpenAiTarget,
    call: &ChatCall<'_>,
    mut body: Map<String, Value>,
) -> Result<Value> {
    body.retain(|k, _| OPENAI_IMAGES_FIELDS.contains(&k.as_str()));
    let resp = send(platform, target, call, target.images_url(), body, false).await?;
    read_object_within(
        resp,
        "an images answer",
        crate::limits::MAX_UPSTREAM_IMAGES_BYTES,
    )
    .await
}
