//! The OpenAI-compatible surface: `POST /v1/chat/completions`.

pub mod responses;
pub mod types;

pub use types::*;
