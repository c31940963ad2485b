//! OpenAI's errors → gateway errors: the status is kept (so retries and fallbacks behave as with
//! Bedrock), the message names OpenAI, the code is OpenAI's `code` (or its `type`).

use serde::Deserialize;

use crate::error::{ErrorKind, GatewayError};

#[derive(Deserialize)]
struct Envelope {
    error: Option<Body>,
}

#[derive(Deserialize)]
struct Body {
    message: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    code: Option<serde_json::Value>,
}

/// A non-2xx OpenAI answer (`status` is 400-599).
pub fn from_http(status: u16, body: &[u8]) -> GatewayError {
    let parsed = serde_json::from_slice::<Envelope>(body)
        .ok()
        .and_then(|e| e.error);
    from_parts(status, parsed)
}

/// An `{"error": {...}}` event inside a stream: OpenAI sends no status with it, so its type
/// decides (a server error is a 500, anything else a 502).
pub fn from_stream_event(value: &serde_json::Value) -> GatewayError {
    let body = serde_json::from_value::<Envelope>(value.clone())
        .ok()
        .and_then(|e| e.error);
    let status = match body.as_ref().and_then(|b| b.kind.as_deref()) {
        Some("server_error") => 500,
        Some("rate_limit_error" | "rate_limit_exceeded") => 429,
        _ => 502,
    };
    from_parts(status, body)
}

fn from_parts(status: u16, body: Option<Body>) -> GatewayError {
    let message = body
        .as_ref()
        .and_then(|b| b.message.clone())
        .unwrap_or_else(|| format!("OpenAI answered HTTP {status}"));
    let code = body.as_ref().and_then(|b| match &b.code {
        Some(serde_json::Value::String(c)) => Some(c.clone()),
        _ => b.kind.clone(),
    });
    let mut err = GatewayError::new(
        status,
        ErrorKind::from_status(status),
        format!("OpenAI: {message}"),
    );
    if let Some(code) = code {
        err = err.with_upstream_code(code);
    }
    err
}

/// One stream event's data as JSON; anything else is a 502 (both OpenAI relays read events so).
pub fn event_json(data: &str) -> Result<serde_json::Value, GatewayError> {
    serde_json::from_str(data).map_err(|_| {
        GatewayError::new(
            502,
            ErrorKind::Upstream,
            "OpenAI sent a stream event that is not JSON",
        )
        .with_code(crate::error::ErrorCode::InvalidUpstreamEvent)
    })
}

/// The key is the caller's or the operator's secret: never in a message, even if the upstream
/// echoed it.
pub fn scrub(mut err: GatewayError, api_key: &str) -> GatewayError {
    if api_key.len() >= 8 {
        err.message = err.message.replace(api_key, "[redacted]");
    }
    err
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_status_and_code() {
        let e = from_http(
            429,
            br#"{"error":{"message":"Rate limit reached","type":"requests","code":"rate_limit_exceeded"}}"#,
        );
        assert_eq!(
            (e.status, e.code.as_deref()),
            (429, Some("rate_limit_exceeded"))
        );
        assert_eq!(e.message, "OpenAI: Rate limit reached");
        let e = from_http(500, b"<html>");
        assert_eq!(
            (e.status, e.message.as_str()),
            (500, "OpenAI: OpenAI answered HTTP 500")
        );
        let e = scrub(
            from_http(401, br#"{"error":{"message":"bad key sk-secret-12345","type":"invalid_request_error","code":"invalid_api_key"}}"#),
            "sk-secret-12345",
        );
        assert!(!e.message.contains("sk-secret"));
    }
}
