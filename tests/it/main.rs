//! The native integration tests, one binary: the real gateway pipeline against a fake outside
//! world (tests/it/common), recorded fixtures, signing vectors and property tests. One binary
//! links once; shared helpers live in `common` and `streams`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
#[path = "common/streams.rs"]
mod streams;

mod access;
mod features;
mod hardening;
mod input_caps;
mod limits;
mod mapping;
mod media;
mod messages;
mod observability;
mod openai;
mod pipeline;
mod prompts;
mod properties;
mod responses;
mod routing;
mod routing_conditional;
mod signing;
mod sse_decoder;
mod stream_fixtures;
