//! AWS Bedrock: request mapping, answer mapping, stream mapping, signing, errors.

pub mod endpoint;
pub mod errors;
pub mod request;
pub mod response;
pub mod signing;
pub mod stream;
pub mod wire;
