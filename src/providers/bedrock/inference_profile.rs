//! Application inference profile ARNs name no model: GetInferenceProfile on the control plane
//! tells which foundation model is behind one (`models[0].modelArn`), and so its family.
//!
//! The answer is cached twice, so the control plane is not called per request: in the isolate
//! ([`ProfileCache`], an hour) and in KV (`inference_profile:<region>:<arn>`, a day; a profile's
//! model does not change). The call is signed like the runtime call (service `bedrock`, same
//! credentials) and goes to the control plane of the region, or to the custom host when one is
//! set (PrivateLink, GovCloud and the stand-in serve both APIs on it).

use std::cell::RefCell;

use bytes::Bytes;
use serde::Deserialize;

use crate::error::{GatewayError, Result};
use crate::limits::MAX_CACHED_PROFILES;
use crate::lru::Lru;
use crate::platform::{Kv, Platform, UpstreamRequest};
use crate::providers::bedrock::endpoint;
use crate::providers::bedrock::endpoint::BaseUrl;
use crate::providers::bedrock::errors;
use crate::providers::bedrock::models::{is_application_profile, ModelInfo};
use crate::providers::bedrock::signing::UpstreamAuth;

/// How long the isolate trusts an answer.
pub const ISOLATE_TTL_MS: u64 = 60 * 60 * 1000;
/// How long KV keeps an answer.
pub const KV_TTL_SECONDS: u64 = 24 * 60 * 60;

/// GetInferenceProfile answers (only what edgeport reads).
#[derive(Debug, Clone, Deserialize, Default)]
pub struct InferenceProfile {
    #[serde(default)]
    pub models: Vec<InferenceProfileModel>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct InferenceProfileModel {
    #[serde(default)]
    pub model_arn: String,
}

/// Profile → foundation model ARN, for the isolate; at most [`MAX_CACHED_PROFILES`] entries (least
/// recently used evicted), since callers choose the profile ids (and custom hosts) looked up.
pub struct ProfileCache {
    entries: RefCell<Lru<(String, u64)>>,
}

impl Default for ProfileCache {
    fn default() -> Self {
        ProfileCache {
            entries: RefCell::new(Lru::new(MAX_CACHED_PROFILES)),
        }
    }
}

impl ProfileCache {
    fn get(&self, key: &str, now: u64) -> Option<String> {
        self.entries
            .borrow_mut()
            .get_mut(key)
            .filter(|(_, expires)| now < *expires)
            .map(|(arn, _)| arn.clone())
    }

    fn put(&self, key: &str, model_arn: &str, now: u64) {
        self.entries.borrow_mut().insert(
            key,
            (model_arn.to_owned(), now.saturating_add(ISOLATE_TTL_MS)),
        );
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        self.entries.borrow().len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.borrow().is_empty()
    }
}

/// Where a Bedrock call for a target goes, and as whom.
pub struct ControlPlane<'a> {
    pub region: &'a str,
    /// The runtime base URL of the target: the regional endpoint, or a custom host.
    pub runtime: &'a BaseUrl,
    pub auth: &'a UpstreamAuth,
}

impl ControlPlane<'_> {
    /// The regional control plane, or the custom host itself.
    fn base(&self) -> Result<BaseUrl> {
        if *self.runtime == endpoint::runtime(self.region)? {
            endpoint::control_plane(self.region)
        } else {
            Ok(self.runtime.clone())
        }
    }

    /// The cache key. Answers from a custom host are kept apart from AWS's own, so a host a
    /// caller chose cannot plant a wrong model for everyone else.
    fn cache_key(&self, profile: &str) -> Result<String> {
        let base = self.base()?;
        if base == endpoint::control_plane(self.region)? {
            Ok(format!("inference_profile:{}:{profile}", self.region))
        } else {
            Ok(format!(
                "inference_profile:{}@{}:{profile}",
                self.region,
                base.authority()
            ))
        }
    }
}

/// The model behind `model_id`: read from the id itself, or, for an application inference
/// profile ARN, looked up (cached). A failed look-up is logged and gives an unknown model: the
/// request still goes out, and only fields that depend on the model family are refused.
pub async fn model_info<P: Platform>(
    platform: &P,
    plane: &ControlPlane<'_>,
    model_id: &str,
) -> ModelInfo {
    if !is_application_profile(model_id) {
        return ModelInfo::from_id(model_id);
    }
    match foundation_model_arn(platform, plane, model_id).await {
        Ok(arn) => ModelInfo::from_id(&arn),
        Err(err) => {
            platform.log(
                &serde_json::json!({"event": "inference_profile_lookup_failed", "profile": model_id,
                    "status": err.status, "error": err.message})
                .to_string(),
            );
            ModelInfo::unknown()
        }
    }
}

/// `models[0].modelArn` of an inference profile: isolate cache, then KV, then the control plane.
pub async fn foundation_model_arn<P: Platform>(
    platform: &P,
    plane: &ControlPlane<'_>,
    profile: &str,
) -> Result<String> {
    let key = plane.cache_key(profile)?;
    let cache = platform.isolate().get::<ProfileCache>();
    if let Some(arn) = cache.get(&key, platform.now_millis()) {
        return Ok(arn);
    }
    // KV failures only cost a control-plane call.
    if let Ok(Some(arn)) = platform.kv().get(&key).await {
        if !arn.is_empty() {
            cache.put(&key, &arn, platform.now_millis());
            return Ok(arn);
        }
    }
    let arn = get_inference_profile(platform, plane, profile).await?;
    cache.put(&key, &arn, platform.now_millis());
    if let Err(e) = platform.kv().put(&key, &arn, Some(KV_TTL_SECONDS)).await {
        platform.log(
            &serde_json::json!({"event": "inference_profile_kv_put_failed", "error": e})
                .to_string(),
        );
    }
    platform.log(
        &serde_json::json!({"event": "inference_profile_lookup", "profile": profile, "model_arn": arn})
            .to_string(),
    );
    Ok(arn)
}

/// `GET /inference-profiles/{id}`, signed for `bedrock`.
async fn get_inference_profile<P: Platform>(
    platform: &P,
    plane: &ControlPlane<'_>,
    profile: &str,
) -> Result<String> {
    let base = plane.base()?;
    let mut req = UpstreamRequest {
        method: "GET",
        url: endpoint::inference_profile_url(&base, profile),
        headers: vec![("accept".into(), "application/json".into())],
        body: Bytes::new(),
    };
    plane
        .auth
        .apply(&mut req, plane.region, "bedrock", platform.now_millis())?;
    let (timeout, idle) = crate::providers::options::side_call();
    let answered =
        crate::providers::options::send(platform, req, timeout, idle, "the Bedrock control plane")
            .await?;
    let resp = answered.map_err(|e| {
        GatewayError::bad_gateway(format!(
            "could not reach the Bedrock control plane at {}: {e}",
            base.authority()
        ))
    })?;
    let status = resp.status;
    let error_type = resp.header("x-amzn-errortype").map(str::to_owned);
    let body = resp
        .collect(crate::limits::MAX_UPSTREAM_SMALL_BYTES)
        .await
        .map_err(|e| {
            GatewayError::bad_gateway(format!(
                "the connection to the Bedrock control plane failed: {e}"
            ))
        })?;
    if !(200..300).contains(&status) {
        return Err(errors::scrub(
            errors::from_http(status, error_type.as_deref(), &body),
            plane.auth,
        ));
    }
    let answer: InferenceProfile = serde_json::from_slice(&body).map_err(|_| {
        GatewayError::bad_gateway("GetInferenceProfile answered with a body edgeport cannot read")
    })?;
    answer
        .models
        .into_iter()
        .map(|m| m.model_arn)
        .find(|arn| !arn.is_empty())
        .ok_or_else(|| GatewayError::bad_gateway("GetInferenceProfile named no model"))
}
