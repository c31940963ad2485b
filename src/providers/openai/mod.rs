//! OpenAI (and OpenAI-compatible APIs) as an upstream: chat completions, responses, embeddings and images passed through with
//! the provider's key, JSON or SSE relayed event by event. Its own auth (a Bearer key), errors and
//! stream mapping live here.

pub mod chat;
pub mod errors;
pub mod media;
pub mod responses;
pub mod stream;
pub mod target;
