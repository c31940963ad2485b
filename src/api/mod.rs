//! Caller-facing APIs: the wire types callers send and receive.

pub mod anthropic;
pub mod openai;
pub mod portkey;
