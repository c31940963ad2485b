//! AWS Bedrock: request mapping, answer mapping, stream mapping, signing, errors.

pub mod call;
pub mod chat;
pub mod embeddings;
pub mod endpoint;
pub mod errors;
pub mod images;
pub mod inference_profile;
pub mod invoke;
pub mod invoke_stream;
pub mod media;
pub mod messages;
pub mod models;
pub mod request;
pub mod response;
pub mod responses;
pub mod s3;
pub mod signing;
pub mod sigv4;
pub mod stream;
pub mod sts;
pub mod target;
pub mod wire;
