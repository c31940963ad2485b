//! `x-portkey-metadata` as Portkey validates it: a JSON object of string values, within
//! [`MAX_METADATA_KEYS`] keys of [`MAX_METADATA_KEY_LEN`] / values of [`MAX_METADATA_VALUE_LEN`]
//! bytes (beyond → 400). The log line's metadata is that object, then `baggage` members it does
//! not name, then `_user` from the body's `user` when absent; merged entries that do not fit the
//! limits are left out.

use serde_json::{Map, Value};

use crate::error::{GatewayError, Result};
use crate::limits::{MAX_METADATA_KEYS, MAX_METADATA_KEY_LEN, MAX_METADATA_VALUE_LEN};

const HEADER: &str = "x-portkey-metadata";

fn invalid(why: impl Into<String>) -> GatewayError {
    GatewayError::invalid_param(HEADER, why)
}

/// The header's object, checked; `None` when absent.
pub fn parse(raw: Option<&str>) -> Result<Map<String, Value>> {
    let Some(raw) = raw else {
        return Ok(Map::new());
    };
    let value: Value = serde_json::from_str(raw)
        .map_err(|_| invalid("x-portkey-metadata must be a JSON object of string values"))?;
    let Value::Object(map) = value else {
        return Err(invalid(
            "x-portkey-metadata must be a JSON object of string values",
        ));
    };
    if map.len() > MAX_METADATA_KEYS {
        return Err(invalid(format!(
            "x-portkey-metadata has {} keys; at most {MAX_METADATA_KEYS} are accepted",
            map.len()
        )));
    }
    for (k, v) in &map {
        if k.is_empty() || k.len() > MAX_METADATA_KEY_LEN {
            return Err(invalid(format!(
                "x-portkey-metadata keys must be 1 to {MAX_METADATA_KEY_LEN} bytes long"
            )));
        }
        match v {
            Value::String(s) if s.len() <= MAX_METADATA_VALUE_LEN => {}
            Value::String(_) => {
                return Err(invalid(format!(
                "x-portkey-metadata value of `{k}` is longer than {MAX_METADATA_VALUE_LEN} bytes"
            )))
            }
            _ => {
                return Err(invalid(format!(
                    "x-portkey-metadata value of `{k}` must be a string"
                )))
            }
        }
    }
    Ok(map)
}

/// The metadata a request is logged with.
pub fn merged(
    mut explicit: Map<String, Value>,
    baggage: &[(String, String)],
    user: Option<&str>,
) -> Map<String, Value> {
    let fits = |k: &str, v: &str| {
        !k.is_empty() && k.len() <= MAX_METADATA_KEY_LEN && v.len() <= MAX_METADATA_VALUE_LEN
    };
    let extra = baggage
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .chain(user.map(|u| ("_user", u)));
    for (k, v) in extra {
        if explicit.len() >= MAX_METADATA_KEYS {
            break;
        }
        if fits(k, v) && !explicit.contains_key(k) {
            explicit.insert(k.to_owned(), Value::String(v.to_owned()));
        }
    }
    explicit
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn string_values_within_limits() {
        assert_eq!(parse(None).unwrap(), Map::new());
        assert_eq!(
            Value::Object(parse(Some(r#"{"team":"blue"}"#)).unwrap()),
            json!({"team": "blue"})
        );
        for bad in [
            "not json".to_owned(),
            "[1]".to_owned(),
            r#"{"n": 1}"#.to_owned(),
            format!(r#"{{"k": "{}"}}"#, "v".repeat(MAX_METADATA_VALUE_LEN + 1)),
            format!(r#"{{"{}": "v"}}"#, "k".repeat(MAX_METADATA_KEY_LEN + 1)),
            serde_json::to_string(
                &(0..=MAX_METADATA_KEYS)
                    .map(|i| (format!("k{i}"), json!("v")))
                    .collect::<Map<_, _>>(),
            )
            .unwrap(),
        ] {
            let err = parse(Some(&bad)).unwrap_err();
            assert_eq!(
                (err.status, err.param.as_deref()),
                (400, Some(HEADER)),
                "{bad}"
            );
        }
    }

    #[test]
    fn explicit_wins_then_baggage_then_user() {
        let explicit = parse(Some(r#"{"team":"blue"}"#)).unwrap();
        let baggage = vec![
            ("team".to_owned(), "red".to_owned()),
            ("env".to_owned(), "prod".to_owned()),
            ("long".to_owned(), "x".repeat(MAX_METADATA_VALUE_LEN + 1)),
        ];
        assert_eq!(
            Value::Object(merged(explicit.clone(), &baggage, Some("u-1"))),
            json!({"team": "blue", "env": "prod", "_user": "u-1"})
        );
        let mut with_user = explicit;
        with_user.insert("_user".into(), json!("explicit"));
        assert_eq!(merged(with_user, &[], Some("body"))["_user"], "explicit");
        let full: Map<String, Value> = (0..MAX_METADATA_KEYS)
            .map(|i| (format!("k{i}"), json!("v")))
            .collect();
        assert_eq!(merged(full, &baggage, Some("u")).len(), MAX_METADATA_KEYS);
    }
}
