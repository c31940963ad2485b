//! Caller-facing APIs: the wire types callers send and receive.

pub mod openai;
