//! Bedrock errors → gateway errors. HTTP errors keep Bedrock's status; stream exceptions (which
//! arrive inside a 200) get the status their type has as an HTTP error.

use crate::error::{ErrorCode, ErrorKind, GatewayError};
use crate::providers::bedrock::signing::UpstreamAuth;
use crate::providers::bedrock::wire::AwsErrorBody;
use crate::stream::eventstream::Frame;

/// AWS error type (as in `x-amzn-errortype`, or a stream's `:exception-type` in camelCase) →
/// HTTP status. One table for both paths; matched case-insensitively.
const ERROR_STATUS: &[(&str, u16)] = &[
    ("ValidationException", 400),
    ("AccessDeniedException", 403),
    ("UnrecognizedClientException", 403),
    ("InvalidSignatureException", 403),
    ("ExpiredTokenException", 403),
    ("ResourceNotFoundException", 404),
    ("ModelTimeoutException", 408),
    ("ModelErrorException", 424),
    ("ModelStreamErrorException", 424),
    ("ThrottlingException", 429),
    ("ModelNotReadyException", 429),
    ("ServiceQuotaExceededException", 429),
    ("InternalServerException", 500),
    ("ServiceUnavailableException", 503),
];

/// `ValidationException:http://internal.amazon.com/...` → `ValidationException`.
pub fn error_type_name(raw: &str) -> &str {
    raw.split(':').next().unwrap_or(raw).trim()
}

pub fn status_for_type(error_type: &str) -> Option<u16> {
    ERROR_STATUS
        .iter()
        .find(|(t, _)| t.eq_ignore_ascii_case(error_type))
        .map(|(_, s)| *s)
}

/// A non-2xx Bedrock answer. `error_type` is the raw `x-amzn-errortype` header, if any.
pub fn from_http(status: u16, error_type: Option<&str>, body: &[u8]) -> GatewayError {
    let name = error_type.map(error_type_name).filter(|n| !n.is_empty());
    let message = aws_message(body).unwrap_or_else(|| format!("Bedrock answered HTTP {status}"));
    let mut err = GatewayError::new(
        status,
        ErrorKind::from_status(status),
        bedrock_message(name, &message),
    );
    if let Some(name) = name {
        err = err.with_upstream_code(name);
    }
    err
}

/// An exception frame inside a stream (`:exception-type` like `throttlingException`).
pub fn from_stream_exception(exception_type: &str, payload: &[u8]) -> GatewayError {
    let status = status_for_type(exception_type).unwrap_or(500);
    let message = aws_message(payload).unwrap_or_else(|| "Bedrock stream failed".to_owned());
    // Stream exception types are camelCase; name them as AWS names the HTTP error types.
    let mut name = exception_type.to_owned();
    if let Some(first) = name.get_mut(0..1) {
        first.make_ascii_uppercase();
    }
    GatewayError::new(
        status,
        ErrorKind::from_status(status),
        bedrock_message(Some(&name), &message),
    )
    .with_upstream_code(name)
}

fn bedrock_message(name: Option<&str>, message: &str) -> String {
    match name {
        Some(n) => format!("Bedrock {n}: {message}"),
        None => format!("Bedrock error: {message}"),
    }
}

fn aws_message(body: &[u8]) -> Option<String> {
    serde_json::from_slice::<AwsErrorBody>(body)
        .ok()
        .and_then(|b| b.message)
        .or_else(|| {
            let text = String::from_utf8_lossy(body);
            let text = text.trim();
            // A non-JSON body (a proxy's HTML page) is summarised, not echoed at length.
            (!text.is_empty() && text.len() <= 500 && !text.starts_with('<'))
                .then(|| text.to_owned())
        })
}

/// AWS signature errors from some services append the canonical request they expected, which
/// holds header values (a session token among them). Cut that part, and remove any credential
/// of this request that an upstream message might echo.
pub fn scrub(mut err: GatewayError, auth: &UpstreamAuth) -> GatewayError {
    for marker in [
        "The Canonical String for this request",
        "The String-to-Sign",
    ] {
        if let Some(i) = err.message.find(marker) {
            err.message.truncate(i);
            err.message = err.message.trim_end().to_owned();
        }
    }
    let secrets: Vec<&str> = match auth {
        UpstreamAuth::Sigv4(c) => [
            Some(c.secret_access_key.as_str()),
            c.session_token.as_deref(),
        ]
        .into_iter()
        .flatten()
        .collect(),
        UpstreamAuth::Bearer(key) => vec![key.as_str()],
    };
    for secret in secrets.into_iter().filter(|s| s.len() >= 8) {
        err.message = err.message.replace(secret, "[redacted]");
    }
    err
}

// ---- stream failures shared by the ConverseStream and InvokeModelWithResponseStream drivers ----

/// The event type of an `event` frame; `exception` and `error` frames are errors; other message
/// types yield `None` (ignored, like unknown events).
pub fn frame_event(frame: &Frame) -> Result<Option<&str>, GatewayError> {
    match frame.message_type.as_str() {
        "event" => Ok(Some(frame.event_type.as_deref().unwrap_or_default())),
        "exception" => {
            let kind = frame
                .exception_type
                .as_deref()
                .unwrap_or("unknownException");
            Err(from_stream_exception(kind, &frame.payload))
        }
        "error" => Err(error_frame(frame)),
        _ => Ok(None),
    }
}

/// A `:message-type: error` frame: `:error-code` / `:error-message` headers.
pub fn error_frame(frame: &Frame) -> GatewayError {
    let code = frame.error_code.as_deref().unwrap_or("UnknownError");
    let status = status_for_type(code).unwrap_or(500);
    let message = frame
        .error_message
        .as_deref()
        .unwrap_or("Bedrock stream failed");
    GatewayError::new(
        status,
        ErrorKind::from_status(status),
        format!("Bedrock {code}: {message}"),
    )
    .with_upstream_code(code)
}

/// A stream event whose payload does not parse.
pub fn malformed(message: String) -> GatewayError {
    GatewayError::new(502, ErrorKind::Upstream, message).with_code(ErrorCode::InvalidUpstreamEvent)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttling_keeps_429_and_names_the_type() {
        let e = from_http(
            429,
            Some("ThrottlingException:http://internal.amazon.com/coral/com.amazon.coral.service/"),
            br#"{"message":"Too many requests, please wait before trying again."}"#,
        );
        assert_eq!(e.status, 429);
        assert_eq!(e.kind.openai_type(), "rate_limit_error");
        assert_eq!(e.code.as_deref(), Some("ThrottlingException"));
        assert_eq!(
            e.message,
            "Bedrock ThrottlingException: Too many requests, please wait before trying again."
        );
    }

    #[test]
    fn stream_exceptions_get_http_statuses() {
        let e = from_stream_exception("throttlingException", br#"{"message":"slow"}"#);
        assert_eq!(
            (e.status, e.code.as_deref()),
            (429, Some("ThrottlingException"))
        );
        assert_eq!(
            from_stream_exception("validationException", b"{}").status,
            400
        );
        assert_eq!(
            from_stream_exception("serviceUnavailableException", b"{}").status,
            503
        );
        assert_eq!(from_stream_exception("somethingNew", b"{}").status, 500);
    }
}
