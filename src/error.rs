//! One error type for the whole gateway, and how it becomes an OpenAI- or Anthropic-shaped answer.
//!
//! Messages are written for the person reading the SDK's exception. They never carry a secret:
//! nothing here formats credentials, and upstream messages are Bedrock's own text.

use serde::Serialize;
use serde_json::{json, Value};

/// What kind of failure, in the vocabulary of both caller APIs. One table maps it to status and
/// type names (`ErrorKind::openai_type`, `ErrorKind::anthropic_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    InvalidRequest,
    /// A body over the gateway's limit (413): Anthropic names it `request_too_large`.
    TooLarge,
    Authentication,
    Permission,
    NotFound,
    RateLimit,
    Timeout,
    Upstream,
    Overloaded,
    Internal,
}

impl ErrorKind {
    pub fn openai_type(self) -> &'static str {
        match self {
            ErrorKind::InvalidRequest | ErrorKind::NotFound | ErrorKind::TooLarge => {
                "invalid_request_error"
            }
            ErrorKind::Authentication => "authentication_error",
            ErrorKind::Permission => "permission_error",
            ErrorKind::RateLimit => "rate_limit_error",
            ErrorKind::Timeout => "timeout_error",
            ErrorKind::Upstream | ErrorKind::Overloaded | ErrorKind::Internal => "api_error",
        }
    }

    pub fn anthropic_type(self) -> &'static str {
        match self {
            ErrorKind::InvalidRequest | ErrorKind::Timeout => "invalid_request_error",
            ErrorKind::TooLarge => "request_too_large",
            ErrorKind::Authentication => "authentication_error",
            ErrorKind::Permission => "permission_error",
            ErrorKind::NotFound => "not_found_error",
            ErrorKind::RateLimit => "rate_limit_error",
            ErrorKind::Overloaded => "overloaded_error",
            ErrorKind::Upstream | ErrorKind::Internal => "api_error",
        }
    }

    /// The kind a status code means, for upstream answers that carry only a status.
    pub fn from_status(status: u16) -> Self {
        match status {
            413 => ErrorKind::TooLarge,
            400 | 422 => ErrorKind::InvalidRequest,
            // Bedrock ModelErrorException / ModelStreamErrorException: the model failed, not the caller.
            424 => ErrorKind::Upstream,
            401 => ErrorKind::Authentication,
            403 => ErrorKind::Permission,
            404 => ErrorKind::NotFound,
            408 => ErrorKind::Timeout,
            429 => ErrorKind::RateLimit,
            503 | 529 => ErrorKind::Overloaded,
            s if s >= 500 => ErrorKind::Upstream,
            _ => ErrorKind::InvalidRequest,
        }
    }
}

/// The gateway's own error codes (OpenAI's `code` field): a closed set, one table from variant to
/// its wire name. Codes an upstream gave (AWS error types, OpenAI's codes) are passed on with
/// [`GatewayError::with_upstream_code`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    BaseCredentialsMissing,
    BudgetExhausted,
    BudgetUnpricedModel,
    CatalogRecordInvalid,
    ConversationTooLarge,
    CountTokensModelUnresolved,
    CustomHostNotTrusted,
    InvalidBody,
    InvalidConfig,
    InvalidGatewayKey,
    InvalidUpstreamAnswer,
    InvalidUpstreamEvent,
    LimitsUnavailable,
    MissingGatewayKey,
    MissingProvider,
    MissingVariable,
    ModelNotGranted,
    ModelNotSupportedOnRoute,
    NoMatchingCondition,
    PromptNotFound,
    PromptRecordInvalid,
    PreviousResponseNotFound,
    PromptTooLarge,
    RateLimitExceeded,
    ProviderNotGranted,
    ProviderNotSupportedOnRoute,
    RequestTimeout,
    RequestTooLarge,
    ResponseNotFound,
    RouteNotFound,
    S3BucketNotAllowed,
    UnknownConfig,
    UnknownProvider,
    UnsupportedProvider,
    UnsupportedTool,
    UpstreamInvalidStatus,
    UpstreamStreamCorrupt,
    UpstreamStreamInterrupted,
    UpstreamTimeout,
    UpstreamUnreachable,
}

impl ErrorCode {
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BaseCredentialsMissing => "base_credentials_missing",
            ErrorCode::BudgetExhausted => "budget_exhausted",
            ErrorCode::BudgetUnpricedModel => "budget_unpriced_model",
            ErrorCode::CatalogRecordInvalid => "catalog_record_invalid",
            ErrorCode::ConversationTooLarge => "conversation_too_large",
            ErrorCode::CountTokensModelUnresolved => "count_tokens_model_unresolved",
            ErrorCode::CustomHostNotTrusted => "custom_host_not_trusted",
            ErrorCode::InvalidBody => "invalid_body",
            ErrorCode::InvalidConfig => "invalid_config",
            ErrorCode::InvalidGatewayKey => "invalid_gateway_key",
            ErrorCode::InvalidUpstreamAnswer => "invalid_upstream_answer",
            ErrorCode::InvalidUpstreamEvent => "invalid_upstream_event",
            ErrorCode::LimitsUnavailable => "limits_unavailable",
            ErrorCode::MissingGatewayKey => "missing_gateway_key",
            ErrorCode::MissingProvider => "missing_provider",
            ErrorCode::MissingVariable => "missing_variable",
            ErrorCode::ModelNotGranted => "model_not_granted",
            ErrorCode::ModelNotSupportedOnRoute => "model_not_supported_on_route",
            ErrorCode::NoMatchingCondition => "no_matching_condition",
            ErrorCode::PromptNotFound => "prompt_not_found",
            ErrorCode::PromptRecordInvalid => "prompt_record_invalid",
            ErrorCode::PreviousResponseNotFound => "previous_response_not_found",
            ErrorCode::PromptTooLarge => "prompt_too_large",
            ErrorCode::RateLimitExceeded => "rate_limit_exceeded",
            ErrorCode::ProviderNotGranted => "provider_not_granted",
            ErrorCode::ProviderNotSupportedOnRoute => "provider_not_supported_on_route",
            ErrorCode::RequestTimeout => "request_timeout",
            ErrorCode::RequestTooLarge => "request_too_large",
            ErrorCode::ResponseNotFound => "response_not_found",
            ErrorCode::RouteNotFound => "route_not_found",
            ErrorCode::S3BucketNotAllowed => "s3_bucket_not_allowed",
            ErrorCode::UnknownConfig => "unknown_config",
            ErrorCode::UnknownProvider => "unknown_provider",
            ErrorCode::UnsupportedProvider => "unsupported_provider",
            ErrorCode::UnsupportedTool => "unsupported_tool",
            ErrorCode::UpstreamInvalidStatus => "upstream_invalid_status",
            ErrorCode::UpstreamStreamCorrupt => "upstream_stream_corrupt",
            ErrorCode::UpstreamStreamInterrupted => "upstream_stream_interrupted",
            ErrorCode::UpstreamTimeout => "upstream_timeout",
            ErrorCode::UpstreamUnreachable => "upstream_unreachable",
        }
    }
}

/// An error on its way to the caller.
#[derive(Debug, Clone, PartialEq)]
pub struct GatewayError {
    pub status: u16,
    pub kind: ErrorKind,
    pub message: String,
    /// The request field at fault, when there is one (OpenAI's `param`).
    pub param: Option<String>,
    /// A stable machine-readable code (OpenAI's `code`): ours, or the AWS error type.
    pub code: Option<String>,
    /// Headers the answer carries (`Retry-After`, `x-ratelimit-*` on a limit's 429).
    pub headers: Vec<(String, String)>,
}

impl std::fmt::Display for GatewayError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message, self.status)
    }
}

impl std::error::Error for GatewayError {}

pub type Result<T, E = GatewayError> = std::result::Result<T, E>;

impl GatewayError {
    /// An upstream status that is neither success nor an error we can pass on (1xx, 3xx, 2xx
    /// other than 200, anything from 600): a 502, never the status itself (a 304 or a 600 cannot
    /// carry our error body, and would leave the caller hanging).
    pub fn upstream_invalid_status(status: u16) -> Self {
        GatewayError::bad_gateway(format!(
            "the upstream answered with HTTP status {status}, which is not a valid answer"
        ))
        .with_code(crate::error::ErrorCode::UpstreamInvalidStatus)
    }

    pub fn new(status: u16, kind: ErrorKind, message: impl Into<String>) -> Self {
        GatewayError {
            status,
            kind,
            message: message.into(),
            param: None,
            code: None,
            headers: Vec::new(),
        }
    }

    /// A header the answer carries.
    pub fn with_header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_owned(), value.into()));
        self
    }

    pub fn with_param(mut self, param: impl Into<String>) -> Self {
        self.param = Some(param.into());
        self
    }

    /// One of the gateway's own codes.
    pub fn with_code(mut self, code: ErrorCode) -> Self {
        self.code = Some(code.as_str().to_owned());
        self
    }

    /// A code the upstream gave (an AWS error type, OpenAI's `code`), passed on as is.
    pub fn with_upstream_code(mut self, code: impl Into<String>) -> Self {
        self.code = Some(code.into());
        self
    }

    /// Whether this error carries one of the gateway's own codes.
    pub fn has_code(&self, code: ErrorCode) -> bool {
        self.code.as_deref() == Some(code.as_str())
    }

    pub fn invalid_request(message: impl Into<String>) -> Self {
        Self::new(400, ErrorKind::InvalidRequest, message)
    }

    /// A field the caller sent is wrong; `param` names it.
    pub fn invalid_param(param: &str, message: impl Into<String>) -> Self {
        Self::invalid_request(message).with_param(param)
    }

    pub fn authentication(message: impl Into<String>) -> Self {
        Self::new(401, ErrorKind::Authentication, message)
    }

    pub fn permission(message: impl Into<String>) -> Self {
        Self::new(403, ErrorKind::Permission, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(404, ErrorKind::NotFound, message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(500, ErrorKind::Internal, message)
    }

    /// The upstream could not be reached at all (DNS, connection refused, reset before headers).
    pub fn bad_gateway(message: impl Into<String>) -> Self {
        Self::new(502, ErrorKind::Upstream, message)
            .with_code(crate::error::ErrorCode::UpstreamUnreachable)
    }

    /// A JSON body that did not parse into the expected shape.
    pub fn from_json_error(what: &str, err: &serde_json::Error) -> Self {
        let message = if err.is_syntax() || err.is_eof() {
            format!("{what} is not valid JSON: {err}")
        } else {
            format!("{what} has an invalid shape: {err}")
        };
        Self::invalid_request(message).with_code(crate::error::ErrorCode::InvalidBody)
    }

    /// `{"error":{"message","type","param","code"}}`
    pub fn openai_body(&self) -> Value {
        json!({"error": {
            "message": self.message,
            "type": self.kind.openai_type(),
            "param": self.param,
            "code": self.code,
        }})
    }

    /// `{"type":"error","error":{"type","message"}}`
    pub fn anthropic_body(&self) -> Value {
        json!({"type": "error", "error": {"type": self.kind.anthropic_type(), "message": self.message}})
    }

    /// The in-stream error chunk of an OpenAI SSE stream (no `param`, as OpenAI sends it).
    pub fn openai_stream_body(&self) -> Value {
        json!({"error": {
            "message": self.message,
            "type": self.kind.openai_type(),
            "code": self.code,
        }})
    }
}

/// Which caller API shapes the error body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ApiFlavor {
    OpenAi,
    Anthropic,
}

impl ApiFlavor {
    pub fn error_body(self, err: &GatewayError) -> Value {
        match self {
            ApiFlavor::OpenAi => err.openai_body(),
            ApiFlavor::Anthropic => err.anthropic_body(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openai_shape_has_all_four_fields() {
        let err = GatewayError::invalid_param("messages", "messages is required");
        assert_eq!(
            err.openai_body(),
            json!({"error": {"message": "messages is required", "type": "invalid_request_error", "param": "messages", "code": null}})
        );
    }

    #[test]
    fn anthropic_shape() {
        let err = GatewayError::new(429, ErrorKind::RateLimit, "slow down");
        assert_eq!(
            err.anthropic_body(),
            json!({"type": "error", "error": {"type": "rate_limit_error", "message": "slow down"}})
        );
    }
}
