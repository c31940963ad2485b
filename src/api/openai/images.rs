//! `POST /v1/images/generations`: OpenAI's request, read and checked for the Bedrock mappings,
//! and its answer.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::api::openai::fields::{model, refuse_unknown, string_field};
use crate::error::{GatewayError, Result};
use crate::limits::{MAX_IMAGES_PER_REQUEST, MAX_IMAGE_PROMPT_CHARS};

/// OpenAI's fields a Bedrock image model can honour, and the Bedrock model fields edgeport maps
/// (each family reads its own and ignores the others').
pub const IMAGES_FIELDS: &[&str] = &[
    "prompt",
    "model",
    "n",
    "size",
    "quality",
    "response_format",
    "output_format",
    "style",
    "user",
    // Bedrock model fields (README: "Image generation").
    "seed",
    "negative_prompt",
    "cfg_scale",
    "aspect_ratio",
];

/// The image generation request, checked.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ImageGenerationRequest {
    pub model: String,
    pub prompt: String,
    pub n: u32,
    /// `WIDTHxHEIGHT`; `None` for absent or `auto`.
    pub size: Option<(u32, u32)>,
    pub quality: Option<String>,
    pub output_format: Option<String>,
    pub style: Option<String>,
    pub user: Option<String>,
    pub seed: Option<u64>,
    pub negative_prompt: Option<String>,
    pub cfg_scale: Option<f64>,
    pub aspect_ratio: Option<String>,
}

impl ImageGenerationRequest {
    /// Reads and checks the body for a Bedrock image model.
    pub fn from_object(obj: &Map<String, Value>) -> Result<Self> {
        refuse_unknown(obj, IMAGES_FIELDS, "for Bedrock image models")?;
        let model = model(obj)?;
        let prompt = string_field(obj, "prompt")?
            .filter(|p| !p.trim().is_empty())
            .ok_or_else(|| GatewayError::invalid_param("prompt", "prompt is required"))?;
        if prompt.chars().count() > MAX_IMAGE_PROMPT_CHARS {
            return Err(GatewayError::invalid_param(
                "prompt",
                format!("prompt is longer than {MAX_IMAGE_PROMPT_CHARS} characters"),
            ));
        }
        match string_field(obj, "response_format")?.as_deref() {
            None | Some("b64_json") => {}
            Some("url") => {
                return Err(GatewayError::invalid_param(
                    "response_format",
                    "response_format `url` is not served for Bedrock image models: Bedrock returns the image bytes and edgeport keeps no storage to host them at a URL; use response_format `b64_json`",
                ))
            }
            Some(other) => {
                return Err(GatewayError::invalid_param(
                    "response_format",
                    format!("response_format `{other}` is not supported: use b64_json"),
                ))
            }
        }
        let n = match obj.get("n") {
            None | Some(Value::Null) => 1,
            Some(v) => v
                .as_u64()
                .filter(|n| (1..=MAX_IMAGES_PER_REQUEST as u64).contains(n))
                .ok_or_else(|| {
                    GatewayError::invalid_param(
                        "n",
                        format!("n must be an integer from 1 to {MAX_IMAGES_PER_REQUEST}"),
                    )
                })? as u32,
        };
        let size = match string_field(obj, "size")?.as_deref() {
            None | Some("auto") => None,
            Some(s) => Some(parse_size(s).ok_or_else(|| {
                GatewayError::invalid_param(
                    "size",
                    format!("size `{s}` is not WIDTHxHEIGHT (like 1024x1024) or auto"),
                )
            })?),
        };
        let seed = match obj.get("seed") {
            None | Some(Value::Null) => None,
            Some(v) => Some(v.as_u64().ok_or_else(|| {
                GatewayError::invalid_param("seed", "seed must be a non-negative integer")
            })?),
        };
        let cfg_scale = match obj.get("cfg_scale") {
            None | Some(Value::Null) => None,
            Some(v) => Some(v.as_f64().ok_or_else(|| {
                GatewayError::invalid_param("cfg_scale", "cfg_scale must be a number")
            })?),
        };
        Ok(ImageGenerationRequest {
            model,
            prompt,
            n,
            size,
            quality: string_field(obj, "quality")?,
            output_format: string_field(obj, "output_format")?,
            style: string_field(obj, "style")?,
            user: string_field(obj, "user")?,
            seed,
            negative_prompt: string_field(obj, "negative_prompt")?,
            cfg_scale,
            aspect_ratio: string_field(obj, "aspect_ratio")?,
        })
    }
}

/// `1024x1024` → (1024, 1024); sides from 1 to 100,000.
fn parse_size(s: &str) -> Option<(u32, u32)> {
    let (w, h) = s.split_once('x')?;
    let side = |t: &str| t.parse::<u32>().ok().filter(|v| (1..=100_000).contains(v));
    Some((side(w)?, side(h)?))
}

/// `{"created", "data": [{"b64_json"}]}` as OpenAI answers it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ImagesResponse {
    pub created: u64,
    pub data: Vec<ImageData>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ImageData {
    pub b64_json: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: Value) -> Result<ImageGenerationRequest> {
        ImageGenerationRequest::from_object(v.as_object().expect("object"))
    }

    #[test]
    fn reads_the_fields() {
        let r = parse(
            json!({"model": "m", "prompt": "a fox", "n": 3, "size": "1792x1024", "quality": "hd",
            "response_format": "b64_json", "seed": 7, "negative_prompt": "blur", "cfg_scale": 6.5}),
        )
        .expect("valid");
        assert_eq!(
            (r.n, r.size, r.seed, r.cfg_scale),
            (3, Some((1792, 1024)), Some(7), Some(6.5))
        );
        let r = parse(json!({"model": "m", "prompt": "x", "size": "auto"})).expect("valid");
        assert_eq!((r.n, r.size), (1, None));
    }

    #[test]
    fn refusals_name_the_field() {
        let long = "p".repeat(MAX_IMAGE_PROMPT_CHARS + 1);
        let cases = [
            (
                json!({"model": "m", "prompt": "x", "response_format": "url"}),
                "response_format",
                "no storage",
            ),
            (json!({"model": "m", "prompt": "x", "n": 0}), "n", "from 1"),
            (
                json!({"model": "m", "prompt": "x", "n": MAX_IMAGES_PER_REQUEST + 1}),
                "n",
                "from 1",
            ),
            (
                json!({"model": "m", "prompt": "x", "size": "big"}),
                "size",
                "WIDTHxHEIGHT",
            ),
            (
                json!({"model": "m", "prompt": "x", "size": "0x10"}),
                "size",
                "WIDTHxHEIGHT",
            ),
            (json!({"model": "m", "prompt": " "}), "prompt", "required"),
            (
                json!({"model": "m", "prompt": long}),
                "prompt",
                "longer than",
            ),
            (
                json!({"model": "m", "prompt": "x", "background": "transparent"}),
                "background",
                "not supported",
            ),
            (
                json!({"model": "m", "prompt": "x", "seed": -1}),
                "seed",
                "non-negative",
            ),
            (json!({"prompt": "x"}), "model", "required"),
        ];
        for (body, param, words) in cases {
            let err = parse(body.clone()).expect_err(&body.to_string());
            assert_eq!(err.param.as_deref(), Some(param), "{body}: {}", err.message);
            assert!(err.message.contains(words), "{body}: {}", err.message);
        }
    }
}
