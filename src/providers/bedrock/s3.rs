//! The per-provider S3 bucket allow-list: `s3://` images and documents make Bedrock read objects
//! with the provider's IAM identity, so any holder of a gateway key could otherwise have the
//! provider read any object that identity can. A record's `s3_buckets` narrows that to the listed
//! buckets.

use serde_json::Value;

use crate::error::{ErrorCode, GatewayError, Result};

/// Every `s3Location.uri` in a Converse request must name an allowed bucket. Walks the request
/// as JSON (bounded by the request's own size) so it sees every place Converse takes S3 media.
pub fn check_buckets(converse: &Value, allowed: &[String]) -> Result<()> {
    let mut stack = vec![converse];
    while let Some(v) = stack.pop() {
        match v {
            Value::Object(map) => {
                if let Some(uri) = map
                    .get("s3Location")
                    .and_then(|l| l.get("uri"))
                    .and_then(Value::as_str)
                {
                    let bucket = bucket_of(uri);
                    if !allowed.iter().any(|b| Some(b.as_str()) == bucket) {
                        return Err(GatewayError::permission(format!(
                            "this provider may not read s3://{}/ (its record lists the buckets it may read)",
                            bucket.unwrap_or("")
                        ))
                        .with_code(ErrorCode::S3BucketNotAllowed));
                    }
                }
                stack.extend(map.values());
            }
            Value::Array(items) => stack.extend(items),
            _ => {}
        }
    }
    Ok(())
}

/// `s3://bucket/key` → `bucket`.
fn bucket_of(uri: &str) -> Option<&str> {
    let rest = uri.strip_prefix("s3://")?;
    let bucket = rest.split('/').next().unwrap_or(rest);
    (!bucket.is_empty()).then_some(bucket)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_listed_buckets_pass() {
        let allowed = vec!["media-prod".to_owned()];
        let req = |uri: &str| {
            json!({"messages": [{"role": "user", "content": [
                {"image": {"format": "png", "source": {"s3Location": {"uri": uri}}}}]}]})
        };
        assert!(check_buckets(&req("s3://media-prod/a/b.png"), &allowed).is_ok());
        let err = check_buckets(&req("s3://payroll/x.png"), &allowed).unwrap_err();
        assert_eq!(
            (err.status, err.code.as_deref()),
            (403, Some("s3_bucket_not_allowed"))
        );
        // A prefix of an allowed name is another bucket.
        assert!(check_buckets(&req("s3://media-prod-old/x.png"), &allowed).is_err());
        assert!(check_buckets(&req("s3:///x.png"), &allowed).is_err());
        assert!(check_buckets(&json!({"messages": []}), &[]).is_ok());
    }
}
