//! `/v1/images/generations` on Bedrock: Amazon Nova Canvas and Titan Image Generator (one call,
//! `TEXT_IMAGE`, `numberOfImages`), and Stability's models (one image per call: `n` calls).
//!
//! | OpenAI field | Nova Canvas / Titan Image | Stability (SD3.5 Large, Stable Image Core / Ultra) |
//! |---|---|---|
//! | `prompt` | `textToImageParams.text` | `prompt` |
//! | `n` | `imageGenerationConfig.numberOfImages` | `n` calls |
//! | `size` | `width`, `height` (the sizes the model accepts) | the nearest `aspect_ratio` (within 3 %) |
//! | `quality` | `standard`; `hd`/`high`/`premium` → `premium` | not read |
//! | `output_format` | `png` only | `png`, `jpeg` |
//! | `seed`, `cfg_scale`, `negative_prompt` | `seed`, `cfgScale`, `negativeText` | `seed` (+ i per image), -, `negative_prompt` |
//! | `style` | Nova Canvas' styles | not read |

use bytes::Bytes;
use futures_util::stream::{self, StreamExt, TryStreamExt};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::api::openai::images::ImageGenerationRequest;
use crate::error::{ErrorCode, GatewayError, Result};
use crate::limits::MAX_UPSTREAM_IMAGES_BYTES;
use crate::platform::Platform;
use crate::providers::bedrock::call::send;
use crate::providers::bedrock::endpoint::Operation;
use crate::providers::bedrock::models::{Family, ModelInfo};
use crate::providers::bedrock::target::BedrockTarget;
use crate::providers::options::UpstreamOptions;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageModel {
    NovaCanvas,
    TitanImage,
    Stability,
}

/// Titan Image Generator's sizes (width, height).
const TITAN_SIZES: &[(u32, u32)] = &[
    (1024, 1024),
    (768, 768),
    (512, 512),
    (768, 1152),
    (384, 576),
    (1152, 768),
    (576, 384),
    (768, 1280),
    (384, 640),
    (1280, 768),
    (640, 384),
    (896, 1152),
    (448, 576),
    (1152, 896),
    (576, 448),
    (768, 1408),
    (384, 704),
    (1408, 768),
    (704, 384),
    (640, 1408),
    (320, 704),
    (1408, 640),
    (704, 320),
    (1152, 640),
    (1173, 640),
];

/// Stability's aspect ratios on Bedrock.
const ASPECT_RATIOS: &[(&str, u32, u32)] = &[
    ("1:1", 1, 1),
    ("16:9", 16, 9),
    ("9:16", 9, 16),
    ("21:9", 21, 9),
    ("9:21", 9, 21),
    ("3:2", 3, 2),
    ("2:3", 2, 3),
    ("5:4", 5, 4),
    ("4:5", 4, 5),
];

/// Nova Canvas' styles (`textToImageParams.style`).
const NOVA_STYLES: &[&str] = &[
    "3D_ANIMATED_FAMILY_FILM",
    "DESIGN_SKETCH",
    "FLAT_VECTOR_ILLUSTRATION",
    "GRAPHIC_NOVEL_ILLUSTRATION",
    "MAXIMALISM",
    "MIDCENTURY_RETRO",
    "PHOTOREALISM",
    "SOFT_DIGITAL_PAINTING",
];

impl ImageModel {
    pub fn of(info: &ModelInfo) -> Option<Self> {
        let name = info.name.as_str();
        match info.family {
            Family::Nova if name.starts_with("nova-canvas") => Some(ImageModel::NovaCanvas),
            Family::Titan if name.starts_with("titan-image-generator") => {
                Some(ImageModel::TitanImage)
            }
            Family::Stability if name.starts_with("sd3") || name.starts_with("stable-image") => {
                Some(ImageModel::Stability)
            }
            _ => None,
        }
    }

    /// The largest seed the model takes.
    fn max_seed(self) -> u64 {
        match self {
            ImageModel::NovaCanvas => 858_993_459,
            ImageModel::TitanImage => 2_147_483_646,
            ImageModel::Stability => 4_294_967_294,
        }
    }

    /// Prompt length in characters the model takes.
    fn max_prompt(self) -> usize {
        match self {
            ImageModel::NovaCanvas => 1024,
            ImageModel::TitanImage => 512,
            ImageModel::Stability => crate::limits::MAX_IMAGE_PROMPT_CHARS,
        }
    }
}

pub fn not_an_image_model(model_id: &str) -> GatewayError {
    GatewayError::invalid_param(
        "model",
        format!(
            "`{model_id}` is not an image generation model edgeport maps: use amazon.nova-canvas-v1:0, amazon.titan-image-generator-v2:0, stability.sd3-5-large-v1:0, stability.stable-image-core-v1:1 or stability.stable-image-ultra-v1:1"
        ),
    )
    .with_code(ErrorCode::ModelNotSupportedOnRoute)
}

/// The InvokeModel bodies for `req` (one for Nova Canvas and Titan, `n` for Stability).
pub fn plan(model: ImageModel, req: &ImageGenerationRequest) -> Result<Vec<Value>> {
    if req.prompt.chars().count() > model.max_prompt() {
        return Err(GatewayError::invalid_param(
            "prompt",
            format!(
                "this model takes prompts of at most {} characters",
                model.max_prompt()
            ),
        ));
    }
    if let Some(seed) = req.seed.filter(|s| *s > model.max_seed()) {
        return Err(GatewayError::invalid_param(
            "seed",
            format!(
                "seed {seed} is larger than this model's {}",
                model.max_seed()
            ),
        ));
    }
    match model {
        ImageModel::NovaCanvas | ImageModel::TitanImage => Ok(vec![amazon_body(model, req)?]),
        ImageModel::Stability => stability_bodies(req),
    }
}

fn amazon_body(model: ImageModel, req: &ImageGenerationRequest) -> Result<Value> {
    let (width, height) = req.size.unwrap_or((1024, 1024));
    match model {
        ImageModel::TitanImage if !TITAN_SIZES.contains(&(width, height)) => {
            return Err(GatewayError::invalid_param(
                "size",
                format!(
                    "size {width}x{height} is not one Titan Image Generator makes: use {}",
                    TITAN_SIZES
                        .iter()
                        .map(|(w, h)| format!("{w}x{h}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ))
        }
        ImageModel::NovaCanvas => {
            let ok = [width, height]
                .iter()
                .all(|s| (320..=4096).contains(s) && s % 16 == 0)
                && u64::from(width) * u64::from(height) <= 4_194_304
                && width <= height * 4
                && height <= width * 4;
            if !ok {
                return Err(GatewayError::invalid_param(
                    "size",
                    format!("size {width}x{height} is not one Nova Canvas makes: each side from 320 to 4096 and a multiple of 16, at most 4,194,304 pixels, between 1:4 and 4:1"),
                ));
            }
        }
        _ => {}
    }
    if req.output_format.as_deref().is_some_and(|f| f != "png") {
        return Err(GatewayError::invalid_param(
            "output_format",
            "this model makes png images only",
        ));
    }
    let quality = match req.quality.as_deref() {
        None | Some("auto" | "standard" | "low" | "medium") => "standard",
        Some("hd" | "high" | "premium") => "premium",
        Some(other) => {
            return Err(GatewayError::invalid_param(
                "quality",
                format!("quality `{other}` is not supported: use standard or hd (premium)"),
            ))
        }
    };
    let mut text = Map::new();
    text.insert("text".into(), json!(req.prompt));
    if let Some(negative) = &req.negative_prompt {
        text.insert("negativeText".into(), json!(negative));
    }
    if let Some(style) = &req.style {
        if model != ImageModel::NovaCanvas || !NOVA_STYLES.contains(&style.as_str()) {
            return Err(GatewayError::invalid_param(
                "style",
                format!(
                    "style `{style}` is not supported: Nova Canvas takes {}",
                    NOVA_STYLES.join(", ")
                ),
            ));
        }
        text.insert("style".into(), json!(style));
    }
    let mut config = Map::new();
    config.insert("numberOfImages".into(), json!(req.n));
    config.insert("width".into(), json!(width));
    config.insert("height".into(), json!(height));
    config.insert("quality".into(), json!(quality));
    if let Some(cfg) = req.cfg_scale {
        if !(1.1..=10.0).contains(&cfg) {
            return Err(GatewayError::invalid_param(
                "cfg_scale",
                "cfg_scale must be from 1.1 to 10",
            ));
        }
        config.insert("cfgScale".into(), json!(cfg));
    }
    if let Some(seed) = req.seed {
        config.insert("seed".into(), json!(seed));
    }
    Ok(
        json!({"taskType": "TEXT_IMAGE", "textToImageParams": text, "imageGenerationConfig": config}),
    )
}

/// `aspect_ratio` as given, else the one nearest to `size` (within 3 %), else 1:1.
fn aspect_ratio(req: &ImageGenerationRequest) -> Result<&'static str> {
    let names = || {
        ASPECT_RATIOS
            .iter()
            .map(|(n, _, _)| *n)
            .collect::<Vec<_>>()
            .join(", ")
    };
    if let Some(given) = &req.aspect_ratio {
        return ASPECT_RATIOS
            .iter()
            .find(|(n, _, _)| n == given)
            .map(|(n, _, _)| *n)
            .ok_or_else(|| {
                GatewayError::invalid_param(
                    "aspect_ratio",
                    format!("aspect_ratio `{given}` is not one of {}", names()),
                )
            });
    }
    let Some((w, h)) = req.size else {
        return Ok("1:1");
    };
    let ratio = f64::from(w) / f64::from(h);
    ASPECT_RATIOS
        .iter()
        .map(|(n, a, b)| (*n, (ratio / (f64::from(*a) / f64::from(*b))).ln().abs()))
        .filter(|(_, distance)| *distance <= 0.03)
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(n, _)| n)
        .ok_or_else(|| {
            GatewayError::invalid_param(
                "size",
                format!(
                    "size {w}x{h} is not near an aspect ratio Stability's models make: {}",
                    names()
                ),
            )
        })
}

fn stability_bodies(req: &ImageGenerationRequest) -> Result<Vec<Value>> {
    let ratio = aspect_ratio(req)?;
    let format = match req.output_format.as_deref() {
        None => None,
        Some(f @ ("png" | "jpeg")) => Some(f),
        Some(other) => {
            return Err(GatewayError::invalid_param(
                "output_format",
                format!("output_format `{other}` is not supported: use png or jpeg"),
            ))
        }
    };
    Ok((0..req.n)
        .map(|i| {
            let mut body = Map::new();
            body.insert("prompt".into(), json!(req.prompt));
            body.insert("aspect_ratio".into(), json!(ratio));
            if let Some(f) = format {
                body.insert("output_format".into(), json!(f));
            }
            if let Some(negative) = &req.negative_prompt {
                body.insert("negative_prompt".into(), json!(negative));
            }
            // One image per call: the seed given numbers the first, the others follow it, wrapping
            // to 1 (0 asks Stability for a random seed, so it is never a next one; a 0 given stays 0).
            if let Some(seed) = req.seed {
                let max = ImageModel::Stability.max_seed();
                let seed = if seed == 0 {
                    0
                } else {
                    (seed - 1 + u64::from(i)) % max + 1
                };
                body.insert("seed".into(), json!(seed));
            }
            Value::Object(body)
        })
        .collect())
}

/// The images of one answer.
#[derive(Deserialize)]
struct ImagesAnswer {
    #[serde(default)]
    images: Vec<String>,
    #[serde(default)]
    finish_reasons: Vec<Option<String>>,
    #[serde(default)]
    error: Option<String>,
}

fn read_answer(raw: &[u8], expected: usize) -> Result<Vec<String>> {
    let answer: ImagesAnswer = serde_json::from_slice(raw).map_err(|_| {
        GatewayError::bad_gateway("Bedrock answered with a body that is not an image answer")
            .with_code(ErrorCode::InvalidUpstreamAnswer)
    })?;
    if let Some(reason) = answer
        .finish_reasons
        .iter()
        .flatten()
        .next()
        .or(answer.error.as_ref())
    {
        // Stability's content filter answers 200 with a reason instead of the image.
        return Err(
            GatewayError::invalid_request(format!("Bedrock generated no image: {reason}"))
                .with_upstream_code("content_policy_violation"),
        );
    }
    if answer.images.len() != expected {
        return Err(GatewayError::bad_gateway(format!(
            "Bedrock answered {} images for {expected}",
            answer.images.len()
        ))
        .with_code(ErrorCode::InvalidUpstreamAnswer));
    }
    Ok(answer.images)
}

/// Sends the bodies [`plan`] made for `req` (Stability's calls at most two at once) and answers the
/// images' base64 in order.
pub async fn generate<P: Platform>(
    platform: &P,
    target: &BedrockTarget,
    model_id: &str,
    opts: &UpstreamOptions,
    model: ImageModel,
    req: &ImageGenerationRequest,
    bodies: Vec<Value>,
) -> Result<Vec<String>> {
    let per_call = if model == ImageModel::Stability {
        1
    } else {
        req.n as usize
    };
    // All images of a request are held at once: the budget is shared among the calls.
    let budget = MAX_UPSTREAM_IMAGES_BYTES / bodies.len().max(1);
    let answers: Vec<Vec<String>> = stream::iter(bodies.into_iter().map(|body| async move {
        let body = serde_json::to_vec(&body)
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
        let raw = upstream.collect(budget).await.map_err(|e| {
            GatewayError::bad_gateway(format!(
                "the connection to Bedrock failed while reading the images: {e}"
            ))
        })?;
        read_answer(&raw, per_call)
    }))
    .buffered(2)
    .try_collect()
    .await?;
    Ok(answers.into_iter().flatten().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(v: Value) -> ImageGenerationRequest {
        ImageGenerationRequest::from_object(v.as_object().expect("object")).expect("valid")
    }

    fn model(id: &str) -> Option<ImageModel> {
        ImageModel::of(&ModelInfo::from_id(id))
    }

    #[test]
    fn families() {
        assert_eq!(
            model("amazon.nova-canvas-v1:0"),
            Some(ImageModel::NovaCanvas)
        );
        assert_eq!(
            model("amazon.titan-image-generator-v2:0"),
            Some(ImageModel::TitanImage)
        );
        assert_eq!(
            model("stability.sd3-5-large-v1:0"),
            Some(ImageModel::Stability)
        );
        assert_eq!(
            model("us.stability.stable-image-ultra-v1:1"),
            Some(ImageModel::Stability)
        );
        assert_eq!(
            model("stability.stable-image-core-v1:0"),
            Some(ImageModel::Stability)
        );
        assert_eq!(model("amazon.titan-embed-text-v2:0"), None);
        assert_eq!(model("amazon.nova-lite-v1:0"), None);
    }

    #[test]
    fn nova_canvas_body() {
        let r = req(
            json!({"model": "m", "prompt": "a fox", "n": 2, "size": "1792x1024", "quality": "hd", "seed": 42,
            "negative_prompt": "blur", "cfg_scale": 7.5, "style": "PHOTOREALISM"}),
        );
        assert_eq!(
            plan(ImageModel::NovaCanvas, &r).expect("plan"),
            vec![json!({"taskType": "TEXT_IMAGE",
            "textToImageParams": {"text": "a fox", "negativeText": "blur", "style": "PHOTOREALISM"},
            "imageGenerationConfig": {"numberOfImages": 2, "width": 1792, "height": 1024, "quality": "premium", "cfgScale": 7.5, "seed": 42}})]
        );
        let r = req(json!({"model": "m", "prompt": "x"}));
        assert_eq!(
            plan(ImageModel::TitanImage, &r).expect("plan")[0]["imageGenerationConfig"],
            json!({"numberOfImages": 1, "width": 1024, "height": 1024, "quality": "standard"})
        );
    }

    #[test]
    fn stability_one_body_per_image_with_the_nearest_ratio() {
        let r = req(
            json!({"model": "m", "prompt": "p", "n": 3, "size": "1792x1024", "seed": 10, "output_format": "jpeg"}),
        );
        let bodies = plan(ImageModel::Stability, &r).expect("plan");
        assert_eq!(bodies.len(), 3);
        assert_eq!(
            bodies[0],
            json!({"prompt": "p", "aspect_ratio": "16:9", "output_format": "jpeg", "seed": 10})
        );
        assert_eq!(bodies[2]["seed"], 12);
        let r = req(json!({"model": "m", "prompt": "p", "n": 2, "seed": 4_294_967_294u64}));
        let bodies = plan(ImageModel::Stability, &r).expect("wraps");
        assert_eq!(
            (bodies[0]["seed"].as_u64(), bodies[1]["seed"].as_u64()),
            (Some(4_294_967_294), Some(1))
        );
        let r = req(json!({"model": "m", "prompt": "p", "n": 2, "seed": 0}));
        assert!(plan(ImageModel::Stability, &r)
            .expect("random")
            .iter()
            .all(|b| b["seed"] == 0));
        for (size, ratio) in [
            ("1024x1024", "1:1"),
            ("1024x1536", "2:3"),
            ("1536x1024", "3:2"),
            ("1024x1792", "9:16"),
        ] {
            let r = req(json!({"model": "m", "prompt": "p", "size": size}));
            assert_eq!(
                plan(ImageModel::Stability, &r).expect(size)[0]["aspect_ratio"],
                ratio,
                "{size}"
            );
        }
        let r =
            req(json!({"model": "m", "prompt": "p", "aspect_ratio": "21:9", "size": "1024x1024"}));
        assert_eq!(
            plan(ImageModel::Stability, &r).expect("given")[0]["aspect_ratio"],
            "21:9"
        );
    }

    #[test]
    fn refusals() {
        let cases = [
            (
                ImageModel::TitanImage,
                json!({"model": "m", "prompt": "p", "size": "1792x1024"}),
                "size",
                "1173x640",
            ),
            (
                ImageModel::NovaCanvas,
                json!({"model": "m", "prompt": "p", "size": "1000x1000"}),
                "size",
                "multiple of 16",
            ),
            (
                ImageModel::NovaCanvas,
                json!({"model": "m", "prompt": "p", "size": "4096x4096"}),
                "size",
                "pixels",
            ),
            (
                ImageModel::NovaCanvas,
                json!({"model": "m", "prompt": "p", "size": "320x2048"}),
                "size",
                "1:4",
            ),
            (
                ImageModel::NovaCanvas,
                json!({"model": "m", "prompt": "p", "output_format": "jpeg"}),
                "output_format",
                "png",
            ),
            (
                ImageModel::NovaCanvas,
                json!({"model": "m", "prompt": "p", "quality": "ultra"}),
                "quality",
                "standard",
            ),
            (
                ImageModel::NovaCanvas,
                json!({"model": "m", "prompt": "p", "style": "vivid"}),
                "style",
                "PHOTOREALISM",
            ),
            (
                ImageModel::TitanImage,
                json!({"model": "m", "prompt": "p", "style": "PHOTOREALISM"}),
                "style",
                "Nova Canvas",
            ),
            (
                ImageModel::NovaCanvas,
                json!({"model": "m", "prompt": "p", "seed": 858_993_460u64}),
                "seed",
                "larger",
            ),
            (
                ImageModel::NovaCanvas,
                json!({"model": "m", "prompt": "p", "cfg_scale": 11}),
                "cfg_scale",
                "1.1",
            ),
            (
                ImageModel::TitanImage,
                json!({"model": "m", "prompt": "p".repeat(513)}),
                "prompt",
                "512",
            ),
            (
                ImageModel::Stability,
                json!({"model": "m", "prompt": "p", "size": "1000x100"}),
                "size",
                "aspect ratio",
            ),
            (
                ImageModel::Stability,
                json!({"model": "m", "prompt": "p", "aspect_ratio": "7:3"}),
                "aspect_ratio",
                "16:9",
            ),
            (
                ImageModel::Stability,
                json!({"model": "m", "prompt": "p", "output_format": "gif"}),
                "output_format",
                "png or jpeg",
            ),
        ];
        for (m, body, param, words) in cases {
            let err = plan(m, &req(body.clone())).expect_err(&body.to_string());
            assert_eq!(err.param.as_deref(), Some(param), "{body}: {}", err.message);
            assert!(err.message.contains(words), "{body}: {}", err.message);
        }
    }

    #[test]
    fn answers() {
        assert_eq!(
            read_answer(br#"{"images": ["AAA", "BBB"]}"#, 2).expect("ok"),
            vec!["AAA", "BBB"]
        );
        assert_eq!(
            read_answer(
                br#"{"seeds": [1], "finish_reasons": [null], "images": ["AAA"]}"#,
                1
            )
            .expect("ok"),
            vec!["AAA"]
        );
        let filtered = read_answer(
            br#"{"seeds": [1], "finish_reasons": ["Filter reason: prompt"], "images": []}"#,
            1,
        )
        .expect_err("filtered");
        assert_eq!(
            (filtered.status, filtered.code.as_deref()),
            (400, Some("content_policy_violation"))
        );
        assert!(filtered.message.contains("Filter reason: prompt"));
        assert_eq!(
            read_answer(br#"{"images": ["A"]}"#, 2)
                .expect_err("short")
                .status,
            502
        );
        assert_eq!(read_answer(b"nope", 1).expect_err("not json").status, 502);
    }
}
