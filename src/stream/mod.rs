//! Byte-level streaming: AWS event-stream decoding and SSE encoding.

pub mod driver;
pub mod eventstream;
pub mod sse;
pub mod sse_decoder;
