//! Upstream providers. edgeport speaks to AWS Bedrock.

pub mod bedrock;
