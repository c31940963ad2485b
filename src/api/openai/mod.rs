//! The OpenAI-compatible surface: chat completions, responses, embeddings, image generation.

pub mod embeddings;
pub(crate) mod fields;
pub mod images;
pub mod responses;
pub mod types;

pub use types::*;
