//! `/v1/embeddings` on Bedrock: the request split into InvokeModel calls per model family, the
//! calls sent a few at a time, and the vectors put back in input order.
//!
//! | family | per call | request body |
//! |---|---|---|
//! | Titan Text Embeddings v2 | 1 text | `inputText`, `dimensions`, `normalize`, `embeddingTypes` |
//! | Titan Multimodal Embeddings G1 | 1 text and/or image | `inputText`, `inputImage`, `embeddingConfig` |
//! | Cohere Embed v3 | 96 texts, or 1 image | `texts` / `images`, `input_type`, `truncate`, `embedding_types` |
//! | Cohere Embed v4 | 96 texts, images or text+image inputs | v3's, `inputs`, `output_dimension` |
//! | Nova multimodal embeddings | 1 text or image | `taskType`, `singleEmbeddingParams` |

use bytes::Bytes;
use futures_util::stream::{self, StreamExt, TryStreamExt};
use serde::de::{MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::collections::HashMap;

use crate::api::openai::embeddings::{EmbeddingInput, EmbeddingsRequest, Vector};
use crate::error::{ErrorCode, GatewayError, Result};
use crate::limits::{EMBEDDING_CONCURRENCY, MAX_EMBEDDING_CALLS, MAX_EMBEDDING_VALUES};
use crate::platform::Platform;
use crate::providers::bedrock::call::send;
use crate::providers::bedrock::endpoint::Operation;
use crate::providers::bedrock::models::{Family, ModelInfo};
use crate::providers::bedrock::target::BedrockTarget;
use crate::providers::options::UpstreamOptions;

/// The embedding model families edgeport maps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmbedModel {
    TitanText,
    TitanMultimodal,
    CohereV3,
    CohereV4,
    NovaMultimodal,
}

/// Cohere's texts (or images, or inputs) per call.
const COHERE_BATCH: usize = 96;
const COHERE_INPUT_TYPES: &[&str] = &[
    "search_document",
    "search_query",
    "classification",
    "clustering",
];
const NOVA_PURPOSES: &[&str] = &[
    "GENERIC_INDEX",
    "GENERIC_RETRIEVAL",
    "TEXT_RETRIEVAL",
    "IMAGE_RETRIEVAL",
    "VIDEO_RETRIEVAL",
    "DOCUMENT_RETRIEVAL",
    "AUDIO_RETRIEVAL",
    "CLASSIFICATION",
    "CLUSTERING",
];

impl EmbedModel {
    /// The family of a model, or `None` when it is not an embedding model edgeport maps.
    pub fn of(info: &ModelInfo) -> Option<Self> {
        let name = info.name.as_str();
        match info.family {
            Family::Titan if name.starts_with("titan-embed-text-v2") => Some(EmbedModel::TitanText),
            Family::Titan if name.starts_with("titan-embed-image-v1") => {
                Some(EmbedModel::TitanMultimodal)
            }
            Family::Cohere
                if name.starts_with("embed-english-v3")
                    || name.starts_with("embed-multilingual-v3") =>
            {
                Some(EmbedModel::CohereV3)
            }
            Family::Cohere if name.starts_with("embed-v4") => Some(EmbedModel::CohereV4),
            Family::Nova if name.starts_with("nova-2-multimodal-embeddings") => {
                Some(EmbedModel::NovaMultimodal)
            }
            _ => None,
        }
    }

    /// The dimensions a caller may ask for, the first being the model's default.
    fn dimensions(self) -> &'static [u64] {
        match self {
            EmbedModel::TitanText => &[1024, 512, 256],
            EmbedModel::TitanMultimodal => &[1024, 384, 256],
            EmbedModel::CohereV3 => &[1024],
            EmbedModel::CohereV4 => &[1536, 1024, 512, 256],
            EmbedModel::NovaMultimodal => &[3072, 1024, 384, 256],
        }
    }

    /// The `embedding_types` it answers.
    fn types(self) -> &'static [&'static str] {
        match self {
            EmbedModel::TitanText => &["float", "binary"],
            EmbedModel::TitanMultimodal | EmbedModel::NovaMultimodal => &["float"],
            EmbedModel::CohereV3 | EmbedModel::CohereV4 => {
                &["float", "int8", "uint8", "binary", "ubinary"]
            }
        }
    }

    fn takes_images(self) -> bool {
        !matches!(self, EmbedModel::TitanText)
    }
}

/// A model that is not an embedding model edgeport maps: a 400 naming the ones it does.
pub fn not_an_embedding_model(model_id: &str) -> GatewayError {
    GatewayError::invalid_param(
        "model",
        format!(
            "`{model_id}` is not an embedding model edgeport maps: use amazon.titan-embed-text-v2:0, amazon.titan-embed-image-v1, cohere.embed-english-v3, cohere.embed-multilingual-v3, cohere.embed-v4:0 or amazon.nova-2-multimodal-embeddings-v1:0"
        ),
    )
    .with_code(ErrorCode::ModelNotSupportedOnRoute)
}

/// One InvokeModel call: its body and the inputs (by index) whose vectors it answers, in order.
#[derive(Debug, Clone, PartialEq)]
pub struct EmbedCall {
    pub body: Value,
    pub inputs: Vec<usize>,
}

/// The dimensions of the vectors `req` asks for (the model's default when it names none).
pub fn dimension(model: EmbedModel, req: &EmbeddingsRequest) -> Result<u64> {
    let dims = model.dimensions();
    match req.dimensions {
        None => Ok(dims[0]),
        Some(d) if dims.contains(&d) => Ok(d),
        Some(d) => Err(GatewayError::invalid_param(
            "dimensions",
            format!(
                "dimensions {d} is not available for this model: it answers {}",
                list(dims)
            ),
        )),
    }
}

/// The calls that embed every input of `req`, checked against the model's options first.
pub fn plan(model: EmbedModel, req: &EmbeddingsRequest) -> Result<Vec<EmbedCall>> {
    let dimension = dimension(model, req)?;
    let values = req.input.len().saturating_mul(dimension as usize);
    if values > MAX_EMBEDDING_VALUES {
        return Err(GatewayError::invalid_param(
            "input",
            format!(
                "{} inputs of {dimension} dimensions make {values} numbers; at most {MAX_EMBEDDING_VALUES} are answered per request: send fewer inputs or ask fewer dimensions",
                req.input.len()
            ),
        ));
    }
    let kind = req.embedding_type();
    if !model.types().contains(&kind) {
        return Err(GatewayError::invalid_param(
            "embedding_types",
            format!(
                "embedding type `{kind}` is not available for this model: it answers {}",
                model.types().join(", ")
            ),
        ));
    }
    truncation(model, req.truncate.as_deref())?;
    for (i, input) in req.input.iter().enumerate() {
        let at = format!("input[{i}]");
        if input.image().is_some() && !model.takes_images() {
            return Err(GatewayError::invalid_param(
                &at,
                format!("{at} is an image and this model embeds text only: use amazon.titan-embed-image-v1, cohere.embed-v4:0 or amazon.nova-2-multimodal-embeddings-v1:0 for images"),
            ));
        }
        if matches!(input, EmbeddingInput::TextAndImage { .. })
            && matches!(model, EmbedModel::CohereV3 | EmbedModel::NovaMultimodal)
        {
            return Err(GatewayError::invalid_param(
                &at,
                format!("{at} holds text and an image, which this model embeds separately: send them as two inputs"),
            ));
        }
    }
    let calls = match model {
        EmbedModel::TitanText => one_per_input(req, |input| {
            let mut body = Map::new();
            body.insert("inputText".into(), json!(input.text().unwrap_or_default()));
            if req.dimensions.is_some() {
                body.insert("dimensions".into(), json!(dimension));
            }
            if let Some(n) = req.normalize {
                body.insert("normalize".into(), json!(n));
            }
            if req.embedding_types.is_some() {
                body.insert("embeddingTypes".into(), json!([kind]));
            }
            Value::Object(body)
        }),
        EmbedModel::TitanMultimodal => one_per_input(req, |input| {
            let mut body = Map::new();
            if let Some(text) = input.text() {
                body.insert("inputText".into(), json!(text));
            }
            if let Some(image) = input.image() {
                body.insert("inputImage".into(), json!(image.base64));
            }
            if req.dimensions.is_some() {
                body.insert(
                    "embeddingConfig".into(),
                    json!({"outputEmbeddingLength": dimension}),
                );
            }
            Value::Object(body)
        }),
        EmbedModel::NovaMultimodal => {
            let purpose = one_of(
                "embedding_purpose",
                req.embedding_purpose.as_deref().unwrap_or("GENERIC_INDEX"),
                NOVA_PURPOSES,
            )?;
            one_per_input(req, |input| {
                let mut params = Map::new();
                params.insert("embeddingPurpose".into(), json!(purpose));
                params.insert("embeddingDimension".into(), json!(dimension));
                match input {
                    EmbeddingInput::Image(image) => params.insert(
                        "image".into(),
                        json!({"format": image.format, "source": {"bytes": image.base64}}),
                    ),
                    other => params.insert(
                        "text".into(),
                        json!({"truncationMode": truncation(model, req.truncate.as_deref()).ok().flatten().unwrap_or("END"),
                            "value": other.text().unwrap_or_default()}),
                    ),
                };
                json!({"taskType": "SINGLE_EMBEDDING", "singleEmbeddingParams": params})
            })
        }
        EmbedModel::CohereV3 | EmbedModel::CohereV4 => cohere_calls(model, req, dimension)?,
    };
    if calls.len() > MAX_EMBEDDING_CALLS {
        return Err(GatewayError::invalid_param(
            "input",
            format!(
                "this model embeds one input per call: at most {MAX_EMBEDDING_CALLS} inputs per request (Cohere's models take {COHERE_BATCH} per call)"
            ),
        ));
    }
    Ok(calls)
}

/// `truncate` as the model spells it: Cohere v4 says LEFT / RIGHT where Cohere v3 and Nova say
/// START / END (the same sides), so either spelling goes through a fallback list; Titan has no such
/// option and ignores it. `None`: send nothing.
fn truncation(model: EmbedModel, asked: Option<&str>) -> Result<Option<&'static str>> {
    let Some(asked) = asked else {
        return Ok(None);
    };
    let side = match asked {
        "NONE" => "NONE",
        "START" | "LEFT" => "START",
        "END" | "RIGHT" => "END",
        other => {
            return Err(GatewayError::invalid_param(
                "truncate",
                format!("truncate `{other}` is not one of NONE, START (LEFT), END (RIGHT)"),
            ))
        }
    };
    Ok(match (model, side) {
        (EmbedModel::TitanText | EmbedModel::TitanMultimodal, _) => None,
        (EmbedModel::CohereV4, "START") => Some("LEFT"),
        (EmbedModel::CohereV4, "END") => Some("RIGHT"),
        (_, side) => Some(side),
    })
}

/// `value` when it is one of `allowed`, else a 400 naming `param` and the values it takes.
fn one_of<'a>(param: &str, value: &'a str, allowed: &[&str]) -> Result<&'a str> {
    if allowed.contains(&value) {
        return Ok(value);
    }
    Err(GatewayError::invalid_param(
        param,
        format!("{param} `{value}` is not one of {}", allowed.join(", ")),
    ))
}

fn list(dims: &[u64]) -> String {
    dims.iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

fn one_per_input(
    req: &EmbeddingsRequest,
    body: impl Fn(&EmbeddingInput) -> Value,
) -> Vec<EmbedCall> {
    req.input
        .iter()
        .enumerate()
        .map(|(i, input)| EmbedCall {
            body: body(input),
            inputs: vec![i],
        })
        .collect()
}

/// Cohere: texts in batches of 96; images one per call (v3) or in batches (v4); text+image inputs
/// (v4) in batches through `inputs`.
fn cohere_calls(
    model: EmbedModel,
    req: &EmbeddingsRequest,
    dimension: u64,
) -> Result<Vec<EmbedCall>> {
    let input_type = one_of(
        "input_type",
        req.input_type.as_deref().unwrap_or("search_document"),
        COHERE_INPUT_TYPES,
    )?;
    let truncate = truncation(model, req.truncate.as_deref())?;
    let common = |body: &mut Map<String, Value>, images_only: bool| {
        // Cohere v3 marks image calls with input_type `image`.
        let t = if images_only && model == EmbedModel::CohereV3 {
            "image"
        } else {
            input_type
        };
        body.insert("input_type".into(), json!(t));
        if let Some(t) = truncate {
            body.insert("truncate".into(), json!(t));
        }
        if let Some(types) = &req.embedding_types {
            body.insert("embedding_types".into(), json!(types));
        }
        if model == EmbedModel::CohereV4 && req.dimensions.is_some() {
            body.insert("output_dimension".into(), json!(dimension));
        }
    };
    let (mut texts, mut images, mut mixed) = (Vec::new(), Vec::new(), Vec::new());
    for (i, input) in req.input.iter().enumerate() {
        match input {
            EmbeddingInput::Text(_) => texts.push(i),
            EmbeddingInput::Image(_) => images.push(i),
            EmbeddingInput::TextAndImage { .. } => mixed.push(i),
        }
    }
    let mut calls = Vec::new();
    for chunk in texts.chunks(COHERE_BATCH) {
        let mut body = Map::new();
        let list: Vec<&str> = chunk.iter().filter_map(|&i| req.input[i].text()).collect();
        body.insert("texts".into(), json!(list));
        common(&mut body, false);
        calls.push(EmbedCall {
            body: Value::Object(body),
            inputs: chunk.to_vec(),
        });
    }
    let per_image_call = if model == EmbedModel::CohereV3 {
        1
    } else {
        COHERE_BATCH
    };
    for chunk in images.chunks(per_image_call) {
        let mut body = Map::new();
        let list: Vec<String> = chunk
            .iter()
            .filter_map(|&i| req.input[i].image().map(|im| im.data_url()))
            .collect();
        body.insert("images".into(), json!(list));
        common(&mut body, true);
        calls.push(EmbedCall {
            body: Value::Object(body),
            inputs: chunk.to_vec(),
        });
    }
    for chunk in mixed.chunks(COHERE_BATCH) {
        let mut body = Map::new();
        let list: Vec<Value> = chunk
            .iter()
            .map(|&i| {
                let input = &req.input[i];
                json!({"content": [
                    {"type": "text", "text": input.text().unwrap_or_default()},
                    {"type": "image_url", "image_url": input.image().map(|im| im.data_url()).unwrap_or_default()},
                ]})
            })
            .collect();
        body.insert("inputs".into(), json!(list));
        common(&mut body, false);
        calls.push(EmbedCall {
            body: Value::Object(body),
            inputs: chunk.to_vec(),
        });
    }
    Ok(calls)
}

fn invalid_answer(what: &str) -> GatewayError {
    GatewayError::bad_gateway(format!("Bedrock answered with {what}"))
        .with_code(ErrorCode::InvalidUpstreamAnswer)
}

/// Titan's answer (text and multimodal): one vector.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TitanAnswer {
    embedding: Option<Vec<f64>>,
    input_text_token_count: Option<u64>,
    embeddings_by_type: Option<HashMap<String, Vec<f64>>>,
}

/// Nova's answer: `embeddings: [{embeddingType, embedding}]`.
#[derive(Deserialize)]
struct NovaAnswer {
    embeddings: Vec<NovaEmbedding>,
}

#[derive(Deserialize)]
struct NovaEmbedding {
    embedding: Vec<f64>,
}

#[derive(Deserialize)]
struct CohereAnswer {
    embeddings: CohereEmbeddings,
}

/// Cohere's `embeddings`: a list of float vectors (`embeddings_floats`), or one list per type
/// (`embeddings_by_type`). Read straight into vectors: an answer of 96 × 1536 numbers is never
/// held as generic JSON values.
enum CohereEmbeddings {
    Floats(Vec<Vec<f64>>),
    ByType(HashMap<String, Vec<Vec<f64>>>),
}

impl<'de> Deserialize<'de> for CohereEmbeddings {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct Shape;
        impl<'de> Visitor<'de> for Shape {
            type Value = CohereEmbeddings;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a list of vectors or an object of lists by type")
            }
            fn visit_seq<A: SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> std::result::Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some(v) = seq.next_element::<Vec<f64>>()? {
                    out.push(v);
                }
                Ok(CohereEmbeddings::Floats(out))
            }
            fn visit_map<A: MapAccess<'de>>(
                self,
                mut map: A,
            ) -> std::result::Result<Self::Value, A::Error> {
                let mut out = HashMap::new();
                while let Some((k, v)) = map.next_entry::<String, Vec<Vec<f64>>>()? {
                    out.insert(k, v);
                }
                Ok(CohereEmbeddings::ByType(out))
            }
        }
        d.deserialize_any(Shape)
    }
}

/// A vector of the kind asked: floats as they are, integer kinds as integers (a number that is
/// not one is a bad answer).
fn vector(values: Vec<f64>, kind: &str) -> Option<Vector> {
    if kind == "float" {
        return Some(Vector::Floats(values));
    }
    values
        .into_iter()
        .map(|v| (v.fract() == 0.0 && v.abs() < 9.0e15).then_some(v as i64))
        .collect::<Option<Vec<_>>>()
        .map(Vector::Ints)
}

/// The vectors one call answered (as many as it embedded inputs), and the token count its body
/// states (Titan's `inputTextTokenCount`), if any.
pub fn read_answer(
    model: EmbedModel,
    raw: &[u8],
    expected: usize,
    kind: &str,
    dimension: u64,
) -> Result<(Vec<Vector>, Option<u64>)> {
    let bad = || invalid_answer("a body that is not this embedding model's answer");
    let (vectors, tokens) = match model {
        EmbedModel::TitanText | EmbedModel::TitanMultimodal => {
            let mut answer: TitanAnswer = serde_json::from_slice(raw).map_err(|_| bad())?;
            let mut by_type = answer.embeddings_by_type.take().unwrap_or_default();
            let v = if kind == "float" {
                answer.embedding.take().or_else(|| by_type.remove("float"))
            } else {
                by_type.remove(kind)
            };
            (
                vec![v.and_then(|v| vector(v, kind)).ok_or_else(bad)?],
                answer.input_text_token_count,
            )
        }
        EmbedModel::NovaMultimodal => {
            let answer: NovaAnswer = serde_json::from_slice(raw).map_err(|_| bad())?;
            let v = answer.embeddings.into_iter().next().ok_or_else(bad)?;
            (vec![Vector::Floats(v.embedding)], None)
        }
        EmbedModel::CohereV3 | EmbedModel::CohereV4 => {
            let answer: CohereAnswer = serde_json::from_slice(raw).map_err(|_| bad())?;
            let list = match answer.embeddings {
                CohereEmbeddings::Floats(list) if kind == "float" => list,
                CohereEmbeddings::ByType(mut by_type) => by_type.remove(kind).ok_or_else(bad)?,
                CohereEmbeddings::Floats(_) => return Err(bad()),
            };
            let vectors = list
                .into_iter()
                .map(|v| vector(v, kind))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(bad)?;
            (vectors, None)
        }
    };
    if vectors.len() != expected {
        return Err(invalid_answer(&format!(
            "{} vectors for {expected} inputs",
            vectors.len()
        )));
    }
    // A vector is never longer than the dimensions asked (packed binary ones are shorter): what
    // an upstream answers beyond that is not held.
    if let Some(long) = vectors.iter().find(|v| v.len() as u64 > dimension) {
        return Err(invalid_answer(&format!(
            "a vector of {} numbers for {dimension} dimensions",
            long.len()
        )));
    }
    Ok((vectors, tokens))
}

/// What the calls answered: the vectors in input order, and the tokens embedded.
pub struct Embedded {
    pub vectors: Vec<Vector>,
    pub tokens: u64,
}

/// Sends the calls [`plan`] made for `req` (at most [`EMBEDDING_CONCURRENCY`] at once; the first
/// failure ends the request and the calls still running are dropped) and puts the vectors back in
/// input order.
pub async fn embed<P: Platform>(
    platform: &P,
    target: &BedrockTarget,
    model_id: &str,
    opts: &UpstreamOptions,
    model: EmbedModel,
    req: &EmbeddingsRequest,
    calls: Vec<EmbedCall>,
) -> Result<Embedded> {
    let dimension = dimension(model, req)?;
    let kind = req.embedding_type();
    let answers: Vec<(Vec<usize>, Vec<Vector>, u64)> =
        stream::iter(calls.into_iter().map(|call| async move {
            let body = serde_json::to_vec(&call.body)
                .map_err(|_| GatewayError::internal("could not encode the Bedrock request"))?;
            let upstream = send(
                platform,
                target,
                model_id,
                opts,
                Operation::Invoke,
                Bytes::from(body),
            )
            .await?;
            // Bedrock counts the input tokens of every InvokeModel call in this header.
            let header_tokens = upstream
                .header("x-amzn-bedrock-input-token-count")
                .and_then(|t| t.trim().parse::<u64>().ok());
            // What the call's vectors can take as JSON (a number is at most ~24 characters), and
            // room for the rest of the answer: an upstream sending more is cut there.
            let room = call
                .inputs
                .len()
                .saturating_mul(dimension as usize)
                .saturating_mul(32)
                .saturating_add(64 * 1024)
                .min(crate::limits::MAX_UPSTREAM_JSON_BYTES);
            let raw = upstream.collect(room).await.map_err(|e| {
                GatewayError::bad_gateway(format!(
                    "the connection to Bedrock failed while reading the answer: {e}"
                ))
            })?;
            let (vectors, body_tokens) =
                read_answer(model, &raw, call.inputs.len(), kind, dimension)?;
            Ok::<_, GatewayError>((
                call.inputs,
                vectors,
                header_tokens.or(body_tokens).unwrap_or(0),
            ))
        }))
        .buffered(EMBEDDING_CONCURRENCY)
        .try_collect()
        .await?;
    let mut slots: Vec<Option<Vector>> = vec![None; req.input.len()];
    let mut tokens = 0u64;
    let mut values = 0usize;
    for (inputs, vectors, t) in answers {
        tokens = tokens.saturating_add(t);
        for (i, v) in inputs.into_iter().zip(vectors) {
            values = values.saturating_add(v.len());
            if let Some(slot) = slots.get_mut(i) {
                *slot = Some(v);
            }
        }
    }
    if values > MAX_EMBEDDING_VALUES {
        return Err(invalid_answer(&format!(
            "{values} numbers, more than the {MAX_EMBEDDING_VALUES} a request may answer"
        )));
    }
    let vectors = slots
        .into_iter()
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| invalid_answer("fewer vectors than inputs"))?;
    Ok(Embedded { vectors, tokens })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(v: Value) -> EmbeddingsRequest {
        EmbeddingsRequest::from_object(v.as_object().expect("object")).expect("valid request")
    }

    fn model(id: &str) -> EmbedModel {
        EmbedModel::of(&ModelInfo::from_id(id)).expect(id)
    }

    const PNG: &str = "data:image/png;base64,iVBORw0KGgo=";

    #[test]
    fn families_from_ids_profiles_and_arns() {
        assert_eq!(model("amazon.titan-embed-text-v2:0"), EmbedModel::TitanText);
        assert_eq!(
            model("amazon.titan-embed-image-v1"),
            EmbedModel::TitanMultimodal
        );
        assert_eq!(model("cohere.embed-english-v3"), EmbedModel::CohereV3);
        assert_eq!(model("cohere.embed-multilingual-v3"), EmbedModel::CohereV3);
        assert_eq!(model("us.cohere.embed-v4:0"), EmbedModel::CohereV4);
        assert_eq!(
            model("arn:aws:bedrock:us-east-1::foundation-model/cohere.embed-v4:0"),
            EmbedModel::CohereV4
        );
        assert_eq!(
            model("amazon.nova-2-multimodal-embeddings-v1:0"),
            EmbedModel::NovaMultimodal
        );
        for other in [
            "amazon.titan-embed-text-v1",
            "anthropic.claude-3-7-sonnet-20250219-v1:0",
            "amazon.nova-canvas-v1:0",
        ] {
            assert_eq!(EmbedModel::of(&ModelInfo::from_id(other)), None, "{other}");
        }
    }

    #[test]
    fn titan_text_one_call_per_input_with_its_options() {
        let r =
            req(json!({"model": "m", "input": ["a", "b"], "dimensions": 256, "normalize": false}));
        let calls = plan(EmbedModel::TitanText, &r).expect("plan");
        assert_eq!(
            calls,
            vec![
                EmbedCall {
                    body: json!({"inputText": "a", "dimensions": 256, "normalize": false}),
                    inputs: vec![0]
                },
                EmbedCall {
                    body: json!({"inputText": "b", "dimensions": 256, "normalize": false}),
                    inputs: vec![1]
                },
            ]
        );
        let r = req(json!({"model": "m", "input": "a"}));
        assert_eq!(
            plan(EmbedModel::TitanText, &r).expect("plan")[0].body,
            json!({"inputText": "a"})
        );
        let r = req(json!({"model": "m", "input": "a", "embedding_types": ["binary"]}));
        assert_eq!(
            plan(EmbedModel::TitanText, &r).expect("plan")[0].body,
            json!({"inputText": "a", "embeddingTypes": ["binary"]})
        );
    }

    #[test]
    fn cohere_batches_of_96_in_order_images_apart() {
        let texts: Vec<String> = (0..200).map(|i| format!("t{i}")).collect();
        let r = req(
            json!({"model": "m", "input": texts, "input_type": "search_query", "truncate": "END"}),
        );
        let calls = plan(EmbedModel::CohereV3, &r).expect("plan");
        assert_eq!(
            calls.iter().map(|c| c.inputs.len()).collect::<Vec<_>>(),
            vec![96, 96, 8]
        );
        assert_eq!(calls[2].inputs, (192..200).collect::<Vec<_>>());
        assert_eq!(calls[0].body["texts"][0], "t0");
        assert_eq!(calls[0].body["input_type"], "search_query");
        assert_eq!(calls[0].body["truncate"], "END");
        assert!(calls[0].body.get("embedding_types").is_none());

        let r = req(json!({"model": "m", "input": ["a", PNG, "b", PNG]}));
        let calls = plan(EmbedModel::CohereV3, &r).expect("plan");
        assert_eq!(calls.len(), 3, "texts together, each image alone");
        assert_eq!(
            calls[0],
            EmbedCall {
                body: json!({"texts": ["a", "b"], "input_type": "search_document"}),
                inputs: vec![0, 2]
            }
        );
        assert_eq!(
            calls[1],
            EmbedCall {
                body: json!({"images": [PNG], "input_type": "image"}),
                inputs: vec![1]
            }
        );

        let r = req(
            json!({"model": "m", "input": ["a", PNG, {"text": "c", "image": PNG}, PNG], "dimensions": 512, "embedding_types": ["int8"]}),
        );
        let calls = plan(EmbedModel::CohereV4, &r).expect("plan");
        assert_eq!(calls.len(), 3);
        assert_eq!(
            calls[1],
            EmbedCall {
                body: json!({"images": [PNG, PNG], "input_type": "search_document", "embedding_types": ["int8"], "output_dimension": 512}),
                inputs: vec![1, 3]
            }
        );
        assert_eq!(
            calls[2].body["inputs"],
            json!([{"content": [{"type": "text", "text": "c"}, {"type": "image_url", "image_url": PNG}]}])
        );
    }

    #[test]
    fn nova_and_titan_multimodal_bodies() {
        let r = req(
            json!({"model": "m", "input": ["hello", PNG], "dimensions": 1024, "embedding_purpose": "TEXT_RETRIEVAL"}),
        );
        let calls = plan(EmbedModel::NovaMultimodal, &r).expect("plan");
        assert_eq!(
            calls[0].body,
            json!({"taskType": "SINGLE_EMBEDDING", "singleEmbeddingParams": {
            "embeddingPurpose": "TEXT_RETRIEVAL", "embeddingDimension": 1024, "text": {"truncationMode": "END", "value": "hello"}}})
        );
        assert_eq!(
            calls[1].body["singleEmbeddingParams"]["image"],
            json!({"format": "png", "source": {"bytes": "iVBORw0KGgo="}})
        );
        let r =
            req(json!({"model": "m", "input": [{"text": "t", "image": PNG}], "dimensions": 384}));
        let calls = plan(EmbedModel::TitanMultimodal, &r).expect("plan");
        assert_eq!(
            calls[0].body,
            json!({"inputText": "t", "inputImage": "iVBORw0KGgo=", "embeddingConfig": {"outputEmbeddingLength": 384}})
        );
    }

    #[test]
    fn options_a_model_does_not_have_are_refused_before_any_call() {
        let cases = [
            (
                EmbedModel::TitanText,
                json!({"model": "m", "input": "a", "dimensions": 384}),
                "dimensions",
                "1024, 512, 256",
            ),
            (
                EmbedModel::CohereV3,
                json!({"model": "m", "input": "a", "dimensions": 512}),
                "dimensions",
                "1024",
            ),
            (
                EmbedModel::TitanText,
                json!({"model": "m", "input": PNG}),
                "input[0]",
                "text only",
            ),
            (
                EmbedModel::CohereV3,
                json!({"model": "m", "input": [{"text": "a", "image": PNG}]}),
                "input[0]",
                "two inputs",
            ),
            (
                EmbedModel::CohereV3,
                json!({"model": "m", "input": "a", "input_type": "query"}),
                "input_type",
                "search_query",
            ),
            (
                EmbedModel::CohereV4,
                json!({"model": "m", "input": "a", "truncate": "MIDDLE"}),
                "truncate",
                "NONE, START (LEFT), END (RIGHT)",
            ),
            (
                EmbedModel::TitanMultimodal,
                json!({"model": "m", "input": "a", "embedding_types": ["int8"]}),
                "embedding_types",
                "float",
            ),
            (
                EmbedModel::NovaMultimodal,
                json!({"model": "m", "input": "a", "embedding_purpose": "x"}),
                "embedding_purpose",
                "GENERIC_INDEX",
            ),
        ];
        for (m, body, param, words) in cases {
            let err = plan(m, &req(body.clone())).expect_err(&body.to_string());
            assert_eq!(err.param.as_deref(), Some(param), "{body}: {}", err.message);
            assert!(err.message.contains(words), "{body}: {}", err.message);
        }
        let many: Vec<String> = (0..=MAX_EMBEDDING_CALLS).map(|i| format!("t{i}")).collect();
        let err = plan(
            EmbedModel::TitanText,
            &req(json!({"model": "m", "input": many.clone()})),
        )
        .expect_err("too many calls");
        assert!(
            err.message.contains("one input per call"),
            "{}",
            err.message
        );
        assert_eq!(
            plan(
                EmbedModel::CohereV3,
                &req(json!({"model": "m", "input": many}))
            )
            .expect("cohere batches")
            .len(),
            3
        );
        let big: Vec<String> = (0..400).map(|i| format!("t{i}")).collect();
        let err = plan(
            EmbedModel::NovaMultimodal,
            &req(json!({"model": "m", "input": big})),
        )
        .expect_err("too many values");
        assert!(err.message.contains("numbers"), "{}", err.message);
    }

    #[test]
    fn truncate_is_spelled_as_each_model_spells_it_and_ignored_by_titan() {
        let r = req(json!({"model": "m", "input": "a", "truncate": "END"}));
        assert_eq!(
            plan(EmbedModel::CohereV4, &r).expect("v4")[0].body["truncate"],
            "RIGHT"
        );
        assert_eq!(
            plan(EmbedModel::CohereV3, &r).expect("v3")[0].body["truncate"],
            "END"
        );
        assert_eq!(
            plan(EmbedModel::TitanText, &r).expect("titan")[0].body,
            json!({"inputText": "a"})
        );
        let r = req(json!({"model": "m", "input": "a", "truncate": "LEFT"}));
        assert_eq!(
            plan(EmbedModel::CohereV3, &r).expect("v3")[0].body["truncate"],
            "START"
        );
        assert_eq!(
            plan(EmbedModel::NovaMultimodal, &r).expect("nova")[0].body["singleEmbeddingParams"]
                ["text"]["truncationMode"],
            "START"
        );
        assert_eq!(
            plan(EmbedModel::TitanMultimodal, &r).expect("titan mm")[0].body,
            json!({"inputText": "a"})
        );
    }

    #[test]
    fn answers_of_every_shape() {
        let titan = json!({"embedding": [0.5, -0.25], "inputTextTokenCount": 3, "embeddingsByType": {"float": [0.5, -0.25]}});
        assert_eq!(
            read_answer(
                EmbedModel::TitanText,
                titan.to_string().as_bytes(),
                1,
                "float",
                1024
            )
            .expect("titan"),
            (vec![Vector::Floats(vec![0.5, -0.25])], Some(3))
        );
        let binary = json!({"embeddingsByType": {"binary": [1, 0, 1]}, "inputTextTokenCount": 2});
        assert_eq!(
            read_answer(
                EmbedModel::TitanText,
                binary.to_string().as_bytes(),
                1,
                "binary",
                1024
            )
            .expect("binary")
            .0,
            vec![Vector::Ints(vec![1, 0, 1])]
        );
        let floats_v3 = json!({"id": "x", "response_type": "embeddings_floats", "embeddings": [[0.1], [0.2]], "texts": ["a", "b"]});
        assert_eq!(
            read_answer(
                EmbedModel::CohereV3,
                floats_v3.to_string().as_bytes(),
                2,
                "float",
                1024
            )
            .expect("v3")
            .0,
            vec![Vector::Floats(vec![0.1]), Vector::Floats(vec![0.2])]
        );
        let by_type =
            json!({"response_type": "embeddings_by_type", "embeddings": {"int8": [[-3, 4]]}});
        assert_eq!(
            read_answer(
                EmbedModel::CohereV4,
                by_type.to_string().as_bytes(),
                1,
                "int8",
                1536
            )
            .expect("v4")
            .0,
            vec![Vector::Ints(vec![-3, 4])]
        );
        let nova = json!({"embeddings": [{"embeddingType": "TEXT", "embedding": [0.75]}]});
        assert_eq!(
            read_answer(
                EmbedModel::NovaMultimodal,
                nova.to_string().as_bytes(),
                1,
                "float",
                3072
            )
            .expect("nova")
            .0,
            vec![Vector::Floats(vec![0.75])]
        );
        // Wrong counts and shapes are a 502, never a panic or a short answer.
        for (m, answer, n) in [
            (EmbedModel::CohereV3, floats_v3.clone(), 3),
            (EmbedModel::CohereV3, json!({"embeddings": "x"}), 1),
            (EmbedModel::TitanText, json!({"embedding": ["a"]}), 1),
            (EmbedModel::NovaMultimodal, json!({"embeddings": []}), 1),
            (
                EmbedModel::TitanText,
                json!({"embedding": [0.5, 0.5, 0.5]}),
                1,
            ),
        ] {
            let err = read_answer(m, answer.to_string().as_bytes(), n, "float", 2)
                .expect_err(&answer.to_string());
            assert_eq!(err.status, 502, "{answer}");
        }
    }
}
