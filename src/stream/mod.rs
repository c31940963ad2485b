//! Byte-level streaming: AWS event-stream decoding and SSE encoding.

pub mod eventstream;
pub mod sse;
