//! The gateway's own HTTP types: the request as the Worker shell hands it over and the answer it
//! gets back. A leaf: every layer may use them, they use nothing above them.

use bytes::Bytes;
use serde_json::Value;

use crate::error::{ApiFlavor, GatewayError};
use crate::stream::driver::SseStream;

/// An incoming request, as the Worker shell hands it over.
pub struct GatewayRequest {
    pub method: String,
    pub path: String,
    pub headers: RequestHeaders,
    pub body: Bytes,
    /// The shell stopped reading the body at [`crate::limits::MAX_REQUEST_BODY_BYTES`] (or its
    /// `content-length` said more): the request is answered 413.
    pub oversized: bool,
}

/// Request headers with lowercase names. `Debug` shows names only: values carry keys and AWS
/// secrets.
#[derive(Clone, Default)]
pub struct RequestHeaders(pub Vec<(String, String)>);

impl std::fmt::Debug for RequestHeaders {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(|(k, _)| format!("{k}: <redacted>")))
            .finish()
    }
}

impl RequestHeaders {
    pub fn new<I, K, V>(pairs: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: Into<String>,
    {
        RequestHeaders(
            pairs
                .into_iter()
                .map(|(k, v)| (k.as_ref().to_ascii_lowercase(), v.into()))
                .collect(),
        )
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        crate::platform::header(&self.0, name)
    }
}

pub enum Body {
    Full(Bytes),
    Stream(SseStream),
}

pub struct GatewayResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Body,
}

impl GatewayResponse {
    pub fn json(status: u16, value: &Value) -> Self {
        GatewayResponse {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: Body::Full(Bytes::from(value.to_string())),
        }
    }

    /// A JSON answer already encoded (a large answer is encoded once, straight from its typed
    /// value, not through a `Value`).
    pub fn json_bytes(status: u16, body: Vec<u8>) -> Self {
        GatewayResponse {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: Body::Full(Bytes::from(body)),
        }
    }

    /// The error in its API's shape. An error whose status cannot carry a body (an upstream's
    /// 304, a 1xx, anything outside 400-599) is answered as a 502 instead: one rule here, whatever
    /// path the status came by.
    pub fn error(flavor: ApiFlavor, err: &GatewayError) -> Self {
        if (400..=599).contains(&err.status) {
            let mut resp = Self::json(err.status, &flavor.error_body(err));
            resp.headers.extend(err.headers.iter().cloned());
            return resp;
        }
        let replaced = GatewayError::upstream_invalid_status(err.status);
        Self::json(replaced.status, &flavor.error_body(&replaced))
    }

    pub fn sse(stream: SseStream) -> Self {
        GatewayResponse {
            status: 200,
            headers: vec![
                (
                    "content-type".into(),
                    "text/event-stream; charset=utf-8".into(),
                ),
                ("cache-control".into(), "no-cache".into()),
            ],
            body: Body::Stream(stream),
        }
    }
}

/// The path of a URL the runtime serialized (WHATWG): what follows the authority, up to a query
/// or fragment. Not parsed again: the runtime already did, and its serialization of an http(s)
/// URL always has `scheme://authority/path`.
pub fn path_of(url: &str) -> String {
    let after_scheme = url.find("://").map_or(url, |i| &url[i + 3..]);
    let path = after_scheme.find('/').map_or("/", |i| &after_scheme[i..]);
    let end = path.find(['?', '#']).unwrap_or(path.len());
    path[..end].to_owned()
}

#[cfg(test)]
mod tests {
    #[test]
    fn paths_of_serialized_urls() {
        assert_eq!(
            super::path_of("http://127.0.0.1:8787/v1/chat/completions"),
            "/v1/chat/completions"
        );
        assert_eq!(
            super::path_of("https://gw.example/v1/messages?beta=true#x"),
            "/v1/messages"
        );
        assert_eq!(super::path_of("https://gw.example/"), "/");
        assert_eq!(super::path_of("https://gw.example"), "/");
        assert_eq!(super::path_of("https://[::1]:8787/v1/health"), "/v1/health");
        assert_eq!(super::path_of("https://gw.example/a%2Fb"), "/a%2Fb");
    }
}
