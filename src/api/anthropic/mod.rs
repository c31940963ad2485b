//! The Anthropic-compatible surface: `POST /v1/messages` and `POST /v1/messages/count_tokens`.

pub mod types;

pub use types::*;
