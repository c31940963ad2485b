//! `POST /v1/embeddings`: OpenAI's request, read into what every provider mapping needs, and its
//! answer.
//!
//! The request is read field by field (not with `deny_unknown_fields`) so that each error names
//! the exact field: `input[3]`, `embedding_types[0]`.

use base64::Engine;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::api::openai::fields::{model, refuse_unknown, string_field};
use crate::error::{GatewayError, Result};
use crate::limits::{MAX_EMBEDDING_IMAGE_BYTES, MAX_EMBEDDING_INPUTS};

/// OpenAI's fields, and the Bedrock model fields edgeport maps (each family reads its own and
/// ignores the others', so one body can go through a fallback list of different families).
pub const EMBEDDINGS_FIELDS: &[&str] = &[
    "model",
    "input",
    "encoding_format",
    "dimensions",
    "user",
    // Bedrock model fields (README: "Embeddings").
    "input_type",
    "embedding_types",
    "truncate",
    "normalize",
    "embedding_purpose",
];

/// One thing to embed.
#[derive(Debug, Clone, PartialEq)]
pub enum EmbeddingInput {
    Text(String),
    Image(InlineImage),
    /// Titan Multimodal's combined text and image vector.
    TextAndImage {
        text: String,
        image: InlineImage,
    },
}

impl EmbeddingInput {
    pub fn text(&self) -> Option<&str> {
        match self {
            EmbeddingInput::Text(t) | EmbeddingInput::TextAndImage { text: t, .. } => Some(t),
            EmbeddingInput::Image(_) => None,
        }
    }

    pub fn image(&self) -> Option<&InlineImage> {
        match self {
            EmbeddingInput::Image(i) | EmbeddingInput::TextAndImage { image: i, .. } => Some(i),
            EmbeddingInput::Text(_) => None,
        }
    }
}

/// An image given inline as a `data:image/<format>;base64,` URL (checked to decode).
#[derive(Debug, Clone, PartialEq)]
pub struct InlineImage {
    /// `png`, `jpeg`, `gif` or `webp`.
    pub format: &'static str,
    /// The base64 text as the caller sent it.
    pub base64: String,
}

impl InlineImage {
    /// The image as a `data:` URL again (Cohere takes them so).
    pub fn data_url(&self) -> String {
        format!("data:image/{};base64,{}", self.format, self.base64)
    }
}

/// How the vectors are answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EncodingFormat {
    #[default]
    Float,
    /// Little-endian float32, base64 (what the OpenAI SDKs ask for by default).
    Base64,
}

/// The embeddings request, checked.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct EmbeddingsRequest {
    pub model: String,
    pub input: Vec<EmbeddingInput>,
    pub encoding_format: EncodingFormat,
    pub dimensions: Option<u64>,
    pub user: Option<String>,
    /// Cohere: `search_document` (default), `search_query`, `classification`, `clustering`.
    pub input_type: Option<String>,
    /// Cohere: one of `float`, `int8`, `uint8`, `binary`, `ubinary`.
    pub embedding_types: Option<Vec<String>>,
    /// Cohere: `NONE`, `START`/`END` (v3), `LEFT`/`RIGHT` (v4); Nova: `START`, `END`, `NONE`.
    pub truncate: Option<String>,
    /// Titan Text v2.
    pub normalize: Option<bool>,
    /// Nova multimodal embeddings (`GENERIC_INDEX` by default).
    pub embedding_purpose: Option<String>,
}

impl EmbeddingsRequest {
    /// Reads and checks the body (after a config's overrides and the catalog's defaults).
    pub fn from_object(obj: &Map<String, Value>) -> Result<Self> {
        refuse_unknown(obj, EMBEDDINGS_FIELDS, "on /v1/embeddings")?;
        let model = model(obj)?;
        let input = read_input(obj.get("input"))?;
        let encoding_format = match string_field(obj, "encoding_format")?.as_deref() {
            None | Some("float") => EncodingFormat::Float,
            Some("base64") => EncodingFormat::Base64,
            Some(other) => {
                return Err(GatewayError::invalid_param(
                    "encoding_format",
                    format!("encoding_format `{other}` is not supported: use float or base64"),
                ))
            }
        };
        let dimensions = match obj.get("dimensions") {
            None | Some(Value::Null) => None,
            Some(v) => Some(v.as_u64().filter(|d| *d > 0).ok_or_else(|| {
                GatewayError::invalid_param("dimensions", "dimensions must be a positive integer")
            })?),
        };
        let embedding_types = match obj.get("embedding_types") {
            None | Some(Value::Null) => None,
            Some(Value::Array(list)) => {
                // One name: a longer list is refused before anything in it is read.
                let names = Some(list)
                    .filter(|l| l.len() == 1)
                    .and_then(|l| l.iter().map(|v| v.as_str().map(str::to_owned)).collect::<Option<Vec<_>>>())
                    .ok_or_else(|| {
                        GatewayError::invalid_param(
                            "embedding_types",
                            "embedding_types must name exactly one type (each answer item holds one vector): float, int8, uint8, binary or ubinary",
                        )
                    })?;
                Some(names)
            }
            Some(_) => {
                return Err(GatewayError::invalid_param(
                    "embedding_types",
                    "embedding_types must be an array of one type name",
                ))
            }
        };
        if let Some(kind) = embedding_types.as_ref().and_then(|t| t.first()) {
            if !["float", "int8", "uint8", "binary", "ubinary"].contains(&kind.as_str()) {
                return Err(GatewayError::invalid_param(
                    "embedding_types",
                    format!(
                        "embedding type `{kind}` is not one of float, int8, uint8, binary, ubinary"
                    ),
                ));
            }
        }
        let normalize = match obj.get("normalize") {
            None | Some(Value::Null) => None,
            Some(Value::Bool(b)) => Some(*b),
            Some(_) => {
                return Err(GatewayError::invalid_param(
                    "normalize",
                    "normalize must be true or false",
                ))
            }
        };
        Ok(EmbeddingsRequest {
            model,
            input,
            encoding_format,
            dimensions,
            user: string_field(obj, "user")?,
            input_type: string_field(obj, "input_type")?,
            embedding_types,
            truncate: string_field(obj, "truncate")?,
            normalize,
            embedding_purpose: string_field(obj, "embedding_purpose")?,
        })
    }

    /// The embedding type asked for (`float` unless `embedding_types` names another).
    pub fn embedding_type(&self) -> &str {
        self.embedding_types
            .as_ref()
            .and_then(|t| t.first())
            .map_or("float", String::as_str)
    }
}

/// `input`: a string, or an array of strings or of `{text?, image?}` objects. Strings that are
/// `data:image/...;base64,` URLs are images. Token arrays are refused: Bedrock's models take text.
fn read_input(value: Option<&Value>) -> Result<Vec<EmbeddingInput>> {
    let token_arrays = || {
        GatewayError::invalid_param(
            "input",
            "token arrays are not supported: Bedrock's embedding models take text; send the text itself",
        )
    };
    match value {
        None | Some(Value::Null) => Err(GatewayError::invalid_param(
            "input",
            "input is required (a string or an array of strings)",
        )),
        Some(v @ Value::String(_)) => Ok(vec![read_item(v, "input")?]),
        Some(Value::Array(items)) => {
            if items.is_empty() {
                return Err(GatewayError::invalid_param(
                    "input",
                    "input must not be empty",
                ));
            }
            if items.len() > MAX_EMBEDDING_INPUTS {
                return Err(GatewayError::invalid_param(
                    "input",
                    format!("at most {MAX_EMBEDDING_INPUTS} inputs may be embedded in one request"),
                ));
            }
            if items.iter().any(|i| i.is_number() || i.is_array()) {
                return Err(token_arrays());
            }
            items
                .iter()
                .enumerate()
                .map(|(i, item)| read_item(item, &format!("input[{i}]")))
                .collect()
        }
        Some(_) => Err(GatewayError::invalid_param(
            "input",
            "input must be a string or an array of strings",
        )),
    }
}

fn read_item(item: &Value, at: &str) -> Result<EmbeddingInput> {
    match item {
        Value::String(s) if s.starts_with("data:") => {
            Ok(EmbeddingInput::Image(inline_image(s, at)?))
        }
        Value::String(s) if s.is_empty() => Err(GatewayError::invalid_param(
            at,
            format!("{at} is an empty string: there is nothing to embed"),
        )),
        Value::String(s) => Ok(EmbeddingInput::Text(s.clone())),
        Value::Object(obj) => {
            if let Some(field) = obj.keys().find(|k| !matches!(k.as_str(), "text" | "image")) {
                return Err(GatewayError::invalid_param(
                    at,
                    format!("{at}.{field} is not supported: an input object holds `text` and/or `image` (a data:image/...;base64, URL)"),
                ));
            }
            let text = match obj.get("text") {
                None => None,
                Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
                Some(_) => {
                    return Err(GatewayError::invalid_param(
                        at,
                        format!("{at}.text must be a non-empty string"),
                    ))
                }
            };
            let image = match obj.get("image") {
                None => None,
                Some(Value::String(s)) => Some(inline_image(s, &format!("{at}.image"))?),
                Some(_) => {
                    return Err(GatewayError::invalid_param(
                        at,
                        format!("{at}.image must be a data:image/...;base64, URL"),
                    ))
                }
            };
            match (text, image) {
                (Some(text), Some(image)) => Ok(EmbeddingInput::TextAndImage { text, image }),
                (Some(text), None) => Ok(EmbeddingInput::Text(text)),
                (None, Some(image)) => Ok(EmbeddingInput::Image(image)),
                (None, None) => Err(GatewayError::invalid_param(
                    at,
                    format!("{at} holds neither text nor image"),
                )),
            }
        }
        _ => Err(GatewayError::invalid_param(
            at,
            format!("{at} must be a string or an object with text and/or image"),
        )),
    }
}

/// A `data:image/<png|jpeg|gif|webp>;base64,<data>` URL, its data decoded once to check it (and
/// its size).
fn inline_image(url: &str, at: &str) -> Result<InlineImage> {
    let bad = |why: &str| GatewayError::invalid_param(at, format!("{at}: {why}"));
    let rest = url
        .strip_prefix("data:")
        .ok_or_else(|| bad("an image must be a data:image/...;base64, URL"))?;
    let (head, data) = rest
        .split_once(',')
        .ok_or_else(|| bad("the data URL has no `,`"))?;
    let media = head
        .strip_suffix(";base64")
        .ok_or_else(|| bad("the data URL must be base64 (`;base64,`)"))?;
    let format = match media.to_ascii_lowercase().as_str() {
        "image/png" => "png",
        "image/jpeg" | "image/jpg" => "jpeg",
        "image/gif" => "gif",
        "image/webp" => "webp",
        _ => {
            return Err(bad(
                "the image must be image/png, image/jpeg, image/gif or image/webp",
            ))
        }
    };
    // 4 base64 characters hold 3 bytes: a longer text is refused before it is decoded.
    if data.len() / 4 * 3 > MAX_EMBEDDING_IMAGE_BYTES + 3 {
        return Err(bad(&format!(
            "the image is larger than {MAX_EMBEDDING_IMAGE_BYTES} bytes"
        )));
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(data)
        .map_err(|_| bad("the image's base64 does not decode"))?;
    if bytes.is_empty() || bytes.len() > MAX_EMBEDDING_IMAGE_BYTES {
        return Err(bad(&format!(
            "the image must hold 1 to {MAX_EMBEDDING_IMAGE_BYTES} bytes"
        )));
    }
    Ok(InlineImage {
        format,
        base64: data.to_owned(),
    })
}

/// One vector of the answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Vector {
    Floats(Vec<f64>),
    /// `int8`, `uint8`, `binary`, `ubinary` embeddings.
    Ints(Vec<i64>),
}

impl Vector {
    pub fn len(&self) -> usize {
        match self {
            Vector::Floats(v) => v.len(),
            Vector::Ints(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// `{"object": "list", "data": [...], "model", "usage"}` as OpenAI answers it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct EmbeddingsResponse {
    pub object: &'static str,
    pub data: Vec<EmbeddingItem>,
    pub model: String,
    pub usage: EmbeddingsUsage,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct EmbeddingItem {
    pub object: &'static str,
    pub index: usize,
    pub embedding: EmbeddingValue,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(untagged)]
pub enum EmbeddingValue {
    Floats(Vec<f64>),
    Ints(Vec<i64>),
    Base64(String),
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
pub struct EmbeddingsUsage {
    pub prompt_tokens: u64,
    pub total_tokens: u64,
}

impl EmbeddingsResponse {
    /// The answer for `vectors` (in input order), encoded as asked.
    pub fn new(model: &str, vectors: Vec<Vector>, tokens: u64, format: EncodingFormat) -> Self {
        let data = vectors
            .into_iter()
            .enumerate()
            .map(|(index, v)| EmbeddingItem {
                object: "embedding",
                index,
                embedding: match (v, format) {
                    (Vector::Floats(f), EncodingFormat::Base64) => {
                        EmbeddingValue::Base64(float32_base64(&f))
                    }
                    (Vector::Floats(f), EncodingFormat::Float) => EmbeddingValue::Floats(f),
                    // Integers are exact in float32: base64 (the OpenAI SDKs' default, decoded
                    // as float32 by them) carries them too.
                    (Vector::Ints(i), EncodingFormat::Base64) => EmbeddingValue::Base64(
                        float32_base64(&i.iter().map(|v| *v as f64).collect::<Vec<_>>()),
                    ),
                    (Vector::Ints(i), EncodingFormat::Float) => EmbeddingValue::Ints(i),
                },
            })
            .collect();
        EmbeddingsResponse {
            object: "list",
            data,
            model: model.to_owned(),
            usage: EmbeddingsUsage {
                prompt_tokens: tokens,
                total_tokens: tokens,
            },
        }
    }
}

/// OpenAI's `base64` encoding: each value as a little-endian float32, the bytes in base64.
pub fn float32_base64(values: &[f64]) -> String {
    let mut bytes = Vec::with_capacity(values.len() * 4);
    for v in values {
        bytes.extend_from_slice(&(*v as f32).to_le_bytes());
    }
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: Value) -> Result<EmbeddingsRequest> {
        EmbeddingsRequest::from_object(v.as_object().expect("object"))
    }

    #[test]
    fn reads_strings_arrays_images_and_objects() {
        let png = "data:image/png;base64,iVBORw0KGgo=";
        let r = parse(
            json!({"model": "m", "input": ["a", png, {"text": "t", "image": png}, {"image": png}]}),
        )
        .expect("valid");
        assert_eq!(r.input.len(), 4);
        assert_eq!(r.input[0], EmbeddingInput::Text("a".into()));
        assert!(
            matches!(&r.input[1], EmbeddingInput::Image(i) if i.format == "png" && i.data_url() == png)
        );
        assert!(matches!(&r.input[2], EmbeddingInput::TextAndImage { text, .. } if text == "t"));
        assert!(matches!(&r.input[3], EmbeddingInput::Image(_)));
        assert_eq!(
            parse(json!({"model": "m", "input": "x"}))
                .expect("valid")
                .input
                .len(),
            1
        );
    }

    #[test]
    fn refuses_what_it_cannot_map_naming_the_field() {
        let cases = [
            (
                json!({"model": "m", "input": [1, 2, 3]}),
                "input",
                "token arrays",
            ),
            (
                json!({"model": "m", "input": [[1, 2]]}),
                "input",
                "token arrays",
            ),
            (json!({"model": "m", "input": []}), "input", "empty"),
            (
                json!({"model": "m", "input": ["a", ""]}),
                "input[1]",
                "empty string",
            ),
            (
                json!({"model": "m", "input": ["a", 3, "b"]}),
                "input",
                "token arrays",
            ),
            (
                json!({"model": "m", "input": [{"txt": "a"}]}),
                "input[0]",
                "input[0].txt",
            ),
            (
                json!({"model": "m", "input": ["data:image/bmp;base64,AAAA"]}),
                "input[0]",
                "image/png",
            ),
            (
                json!({"model": "m", "input": ["data:image/png;base64,@@@"]}),
                "input[0]",
                "does not decode",
            ),
            (
                json!({"model": "m", "input": "a", "encoding_format": "int"}),
                "encoding_format",
                "float or base64",
            ),
            (
                json!({"model": "m", "input": "a", "dimensions": 0}),
                "dimensions",
                "positive",
            ),
            (
                json!({"model": "m", "input": "a", "dimensions": "256"}),
                "dimensions",
                "positive",
            ),
            (
                json!({"model": "m", "input": "a", "embedding_types": ["float", "int8"]}),
                "embedding_types",
                "exactly one",
            ),
            (
                json!({"model": "m", "input": "a", "embedding_types": ["f16"]}),
                "embedding_types",
                "not one of",
            ),
            (
                json!({"model": "m", "input": "a", "logit_bias": {}}),
                "logit_bias",
                "not supported",
            ),
            (json!({"input": "a"}), "model", "required"),
            (json!({"model": "m"}), "input", "required"),
            (
                json!({"model": "m", "input": "a", "normalize": "yes"}),
                "normalize",
                "true or false",
            ),
        ];
        for (body, param, words) in cases {
            let err = parse(body.clone()).expect_err(&body.to_string());
            assert_eq!(err.status, 400, "{body}");
            assert_eq!(err.param.as_deref(), Some(param), "{body}: {}", err.message);
            assert!(err.message.contains(words), "{body}: {}", err.message);
        }
    }

    #[test]
    fn too_many_inputs_and_too_large_images_are_refused_before_work() {
        let many: Vec<Value> = (0..=MAX_EMBEDDING_INPUTS)
            .map(|i| json!(format!("t{i}")))
            .collect();
        let err = parse(json!({"model": "m", "input": many})).expect_err("too many");
        assert!(err.message.contains("at most"), "{}", err.message);
        let big = format!(
            "data:image/png;base64,{}",
            "A".repeat(MAX_EMBEDDING_IMAGE_BYTES / 3 * 4 + 16)
        );
        let err = parse(json!({"model": "m", "input": big})).expect_err("too large");
        assert!(err.message.contains("larger than"), "{}", err.message);
    }

    #[test]
    fn base64_is_little_endian_float32() {
        let encoded = float32_base64(&[1.0, -2.5, 0.1]);
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .expect("base64");
        let back: Vec<f32> = bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        assert_eq!(back, vec![1.0f32, -2.5, 0.1f32]);
        let answer = EmbeddingsResponse::new(
            "m",
            vec![Vector::Floats(vec![0.5]), Vector::Ints(vec![-3, 4])],
            7,
            EncodingFormat::Float,
        );
        assert_eq!(
            serde_json::to_value(&answer).expect("json"),
            json!({"object": "list", "model": "m", "usage": {"prompt_tokens": 7, "total_tokens": 7},
                "data": [{"object": "embedding", "index": 0, "embedding": [0.5]},
                         {"object": "embedding", "index": 1, "embedding": [-3, 4]}]})
        );
    }
}
