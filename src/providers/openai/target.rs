//! Where an OpenAI call goes and with which key: a catalog record, the caller's
//! `Authorization: Bearer` in header mode, or a config target's inline `api_key`.

use crate::catalog::{OpenAiAuth, OpenAiRecord};
use crate::error::{GatewayError, Result};
use crate::net::BaseUrl;

/// OpenAI's own API.
pub const DEFAULT_BASE_URL: &str = "https://api.openai.com/v1";

/// A resolved OpenAI upstream. `Debug` hides the key.
#[derive(Clone)]
pub struct OpenAiTarget {
    /// The API's base URL, `/v1` included.
    pub base: BaseUrl,
    pub api_key: String,
    pub organization: Option<String>,
    pub project: Option<String>,
}

impl std::fmt::Debug for OpenAiTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenAiTarget")
            .field("base", &self.base.as_str())
            .field("api_key", &"<redacted>")
            .finish()
    }
}

impl OpenAiTarget {
    /// A catalog record's upstream; `custom` is a caller's custom host the operator trusts.
    pub fn from_record(record: &OpenAiRecord, custom: Option<BaseUrl>) -> Result<Self> {
        let base = match (custom, &record.base_url) {
            (Some(base), _) => base,
            (None, Some(url)) => BaseUrl::custom(url).map_err(|_| {
                GatewayError::internal("an OpenAI catalog record has an invalid base_url")
            })?,
            (None, None) => default_base()?,
        };
        let OpenAiAuth::ApiKey { api_key } = &record.auth;
        Ok(OpenAiTarget {
            base,
            api_key: api_key.clone(),
            organization: record.organization.clone(),
            project: record.project.clone(),
        })
    }

    /// The caller's own key (header mode or a config's inline `api_key`).
    pub fn from_key(api_key: &str, custom: Option<BaseUrl>) -> Result<Self> {
        Ok(OpenAiTarget {
            base: match custom {
                Some(base) => base,
                None => default_base()?,
            },
            api_key: api_key.to_owned(),
            organization: None,
            project: None,
        })
    }

    pub fn credential_parts(&self) -> Vec<&str> {
        vec!["openai", &self.api_key]
    }

    /// `{base}/responses`
    pub fn responses_url(&self) -> String {
        format!("{}/responses", self.base.as_str())
    }

    /// `{base}/embeddings`
    pub fn embeddings_url(&self) -> String {
        format!("{}/embeddings", self.base.as_str())
    }

    /// `{base}/images/generations`
    pub fn images_url(&self) -> String {
        format!("{}/images/generations", self.base.as_str())
    }

    /// `{base}/chat/completions`
    pub fn chat_url(&self) -> String {
        format!("{}/chat/completions", self.base.as_str())
    }
}

fn default_base() -> Result<BaseUrl> {
    BaseUrl::custom(DEFAULT_BASE_URL)
}
