//! Conditional routing (`strategy.mode: conditional`): queries over the request's metadata
//! (`x-portkey-metadata`) and body fields, in Portkey's MongoDB-like shape:
//! `{"metadata.user_plan": {"$eq": "paid"}, "$or": [{...}, {...}]}`.
//!
//! Queries are parsed once with the config (unknown operators and fields are a 400 there), and
//! evaluated against [`Facts`] here, purely.

use serde_json::{Map, Value};

use crate::error::{ErrorCode, GatewayError, Result};

/// A comparison on one field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    In,
    Nin,
    Gt,
    Gte,
    Lt,
    Lte,
}

impl Op {
    fn from_name(name: &str) -> Option<Op> {
        Some(match name {
            "$eq" => Op::Eq,
            "$ne" => Op::Ne,
            "$in" => Op::In,
            "$nin" => Op::Nin,
            "$gt" => Op::Gt,
            "$gte" => Op::Gte,
            "$lt" => Op::Lt,
            "$lte" => Op::Lte,
            _ => return None,
        })
    }
}

/// Where a field is read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// `metadata.<key>`: the `x-portkey-metadata` header (a JSON object).
    Metadata,
    /// `params.<field>`: the request body as the caller sent it.
    Params,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Query {
    /// Every query holds (`$and`, and several fields in one object).
    All(Vec<Query>),
    /// At least one holds (`$or`).
    Any(Vec<Query>),
    /// `source.path...` compared with `value`.
    Field {
        source: Source,
        path: Vec<String>,
        op: Op,
        value: Value,
    },
}

/// What queries are evaluated against.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    pub metadata: Map<String, Value>,
    pub params: Map<String, Value>,
}

impl Facts {
    /// The metadata header (ignored unless a JSON object) and the body's fields.
    pub fn new(metadata_header: Option<&str>, body: &Value) -> Facts {
        let metadata = metadata_header
            .and_then(|m| serde_json::from_str::<Value>(m).ok())
            .and_then(|m| match m {
                Value::Object(o) => Some(o),
                _ => None,
            })
            .unwrap_or_default();
        let params = body.as_object().cloned().unwrap_or_default();
        Facts { metadata, params }
    }

    fn lookup(&self, source: Source, path: &[String]) -> Option<&Value> {
        let root = match source {
            Source::Metadata => &self.metadata,
            Source::Params => &self.params,
        };
        let (first, rest) = path.split_first()?;
        rest.iter()
            .try_fold(root.get(first)?, |v, k| v.as_object()?.get(k))
    }
}

fn invalid(message: String) -> GatewayError {
    GatewayError::invalid_param("x-portkey-config", message).with_code(ErrorCode::InvalidConfig)
}

/// Parses one query object; `at` names it in errors (values are never echoed).
pub fn parse_query(v: &Value, at: &str) -> Result<Query> {
    let obj = v
        .as_object()
        .ok_or_else(|| invalid(format!("x-portkey-config: {at} must be an object")))?;
    let mut all = Vec::new();
    for (key, value) in obj {
        match key.as_str() {
            "$and" | "$or" => {
                let list = value.as_array().filter(|l| !l.is_empty()).ok_or_else(|| {
                    invalid(format!(
                        "x-portkey-config: {at}.{key} must be a non-empty array of queries"
                    ))
                })?;
                let parsed = list
                    .iter()
                    .enumerate()
                    .map(|(i, q)| parse_query(q, &format!("{at}.{key}[{i}]")))
                    .collect::<Result<Vec<_>>>()?;
                all.push(if key == "$and" {
                    Query::All(parsed)
                } else {
                    Query::Any(parsed)
                });
            }
            _ if key.starts_with('$') => {
                return Err(invalid(format!(
                "x-portkey-config: {at} uses an unknown combinator (edgeport knows $and and $or)"
            )))
            }
            field => all.extend(parse_field(field, value, at)?),
        }
    }
    Ok(Query::All(all))
}

fn parse_field(field: &str, value: &Value, at: &str) -> Result<Vec<Query>> {
    let (source, rest) = if let Some(rest) = field.strip_prefix("metadata.") {
        (Source::Metadata, rest)
    } else if let Some(rest) = field.strip_prefix("params.") {
        (Source::Params, rest)
    } else {
        return Err(invalid(format!(
            "x-portkey-config: {at} queries fields named `metadata.<key>` or `params.<field>`"
        )));
    };
    let path: Vec<String> = rest.split('.').map(str::to_owned).collect();
    if path.iter().any(String::is_empty) {
        return Err(invalid(format!(
            "x-portkey-config: {at} has a field with an empty name"
        )));
    }
    let ops = match value {
        Value::Object(ops) if ops.keys().any(|k| k.starts_with('$')) => ops,
        // A plain value is an equality test.
        other => {
            return Ok(vec![Query::Field {
                source,
                path,
                op: Op::Eq,
                value: other.clone(),
            }])
        }
    };
    ops.iter()
        .map(|(name, operand)| {
            let op = match Op::from_name(name) {
                Some(op) => op,
                None if name == "$regex" => {
                    return Err(invalid(format!(
                        "x-portkey-config: {at}: `$regex` is not supported by edgeport ($eq, $ne, $in, $nin, $gt, $gte, $lt, $lte are)"
                    )))
                }
                None => {
                    return Err(invalid(format!(
                        "x-portkey-config: {at} uses an unknown operator (edgeport knows $eq, $ne, $in, $nin, $gt, $gte, $lt, $lte)"
                    )))
                }
            };
            if matches!(op, Op::In | Op::Nin) && !operand.is_array() {
                return Err(invalid(format!(
                    "x-portkey-config: {at}: `{name}` takes an array"
                )));
            }
            Ok(Query::Field {
                source,
                path: path.clone(),
                op,
                value: operand.clone(),
            })
        })
        .collect()
}

/// A number, or a string that reads as one (metadata values are strings).
fn as_number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// `$gt` & co.: numbers compare as numbers (a numeric string counts when the other side is a
/// number), two strings compare as text; anything else never matches (JavaScript's rules, minus
/// its surprises).
fn order(actual: &Value, wanted: &Value) -> Option<std::cmp::Ordering> {
    match (actual, wanted) {
        (Value::String(a), Value::String(b)) => Some(a.cmp(b)),
        _ if actual.is_number() || wanted.is_number() => {
            as_number(actual)?.partial_cmp(&as_number(wanted)?)
        }
        _ => None,
    }
}

impl Query {
    /// Whether the request's facts satisfy the query. A missing field equals nothing (so `$ne`
    /// and `$nin` hold) and orders against nothing.
    pub fn matches(&self, facts: &Facts) -> bool {
        use std::cmp::Ordering::{Equal, Greater, Less};
        match self {
            Query::All(qs) => qs.iter().all(|q| q.matches(facts)),
            Query::Any(qs) => qs.iter().any(|q| q.matches(facts)),
            Query::Field {
                source,
                path,
                op,
                value,
            } => {
                let actual = facts.lookup(*source, path);
                let listed = || {
                    value
                        .as_array()
                        .is_some_and(|l| actual.is_some_and(|a| l.contains(a)))
                };
                let ord = || actual.and_then(|a| order(a, value));
                match op {
                    Op::Eq => actual == Some(value),
                    Op::Ne => actual != Some(value),
                    Op::In => listed(),
                    Op::Nin => !listed(),
                    Op::Gt => ord() == Some(Greater),
                    Op::Gte => matches!(ord(), Some(Greater | Equal)),
                    Op::Lt => ord() == Some(Less),
                    Op::Lte => matches!(ord(), Some(Less | Equal)),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn q(v: Value) -> Query {
        parse_query(&v, "q").unwrap_or_else(|e| panic!("{}", e.message))
    }

    fn facts() -> Facts {
        Facts::new(
            Some(r#"{"user_plan":"paid","tier":"3","region":"eu"}"#),
            &json!({"model": "m", "max_tokens": 512, "user": "u1", "metadata": {"a": 1}}),
        )
    }

    #[test]
    fn operators() {
        let f = facts();
        let cases = [
            (json!({"metadata.user_plan": {"$eq": "paid"}}), true),
            (json!({"metadata.user_plan": "paid"}), true),
            (json!({"metadata.user_plan": {"$eq": "free"}}), false),
            (json!({"metadata.user_plan": {"$ne": "free"}}), true),
            (json!({"metadata.missing": {"$ne": "free"}}), true),
            (json!({"metadata.missing": {"$eq": "free"}}), false),
            (json!({"metadata.region": {"$in": ["eu", "uk"]}}), true),
            (json!({"metadata.region": {"$in": ["us"]}}), false),
            (json!({"metadata.region": {"$nin": ["us"]}}), true),
            (json!({"metadata.missing": {"$nin": ["us"]}}), true),
            (json!({"metadata.missing": {"$in": ["us"]}}), false),
            (json!({"params.max_tokens": {"$gt": 100}}), true),
            (json!({"params.max_tokens": {"$gt": 512}}), false),
            (json!({"params.max_tokens": {"$gte": 512}}), true),
            (json!({"params.max_tokens": {"$lt": 1000}}), true),
            (json!({"params.max_tokens": {"$lte": 511}}), false),
            (
                json!({"params.max_tokens": {"$gt": 100, "$lt": 200}}),
                false,
            ),
            (json!({"metadata.tier": {"$gte": 3}}), true),
            (json!({"metadata.tier": {"$lt": 3}}), false),
            (json!({"metadata.region": {"$gt": "de"}}), true),
            (json!({"metadata.missing": {"$lt": 5}}), false),
            (json!({"metadata.region": {"$gt": 5}}), false),
            (json!({"params.model": {"$eq": "m"}}), true),
            (json!({"params.user": {"$eq": "u1"}}), true),
            (json!({"params.metadata.a": {"$eq": 1}}), true),
            // Metadata holds strings: "3" is not 3 for equality.
            (json!({"metadata.tier": {"$eq": 3}}), false),
        ];
        for (query, want) in cases {
            assert_eq!(q(query.clone()).matches(&f), want, "{query}");
        }
    }

    #[test]
    fn combinators() {
        let f = facts();
        let paid = json!({"metadata.user_plan": "paid"});
        let free = json!({"metadata.user_plan": "free"});
        let eu = json!({"metadata.region": "eu"});
        assert!(q(json!({"$and": [paid, eu]})).matches(&f));
        assert!(!q(json!({"$and": [paid, free]})).matches(&f));
        assert!(q(json!({"$or": [free, eu]})).matches(&f));
        assert!(!q(json!({"$or": [free, {"metadata.region": "us"}]})).matches(&f));
        // Several fields in one object: all must hold.
        assert!(!q(json!({"metadata.user_plan": "paid", "metadata.region": "us"})).matches(&f));
        assert!(q(json!({"metadata.user_plan": "paid", "$or": [free, eu]})).matches(&f));
        assert!(q(json!({})).matches(&f));
    }

    #[test]
    fn metadata_that_is_not_an_object_is_empty() {
        let f = Facts::new(Some("[1]"), &json!({}));
        assert!(!q(json!({"metadata.a": {"$eq": "x"}})).matches(&f));
        let f = Facts::new(Some("{nope"), &json!({}));
        assert!(f.metadata.is_empty());
    }

    #[test]
    fn bad_queries_are_400_without_values() {
        for bad in [
            json!([]),
            json!({"metadata.a": {"$regex": "^secret"}}),
            json!({"metadata.a": {"$like": "secret"}}),
            json!({"metadata.a": {"$in": "secret"}}),
            json!({"$not": [{"metadata.a": "secret"}]}),
            json!({"$and": []}),
            json!({"$or": "secret"}),
            json!({"url.pathname": "secret"}),
            json!({"metadata.": "secret"}),
        ] {
            let e = parse_query(&bad, "config.strategy.conditions[0].query")
                .err()
                .unwrap_or_else(|| panic!("{bad} parsed"));
            assert_eq!(e.status, 400);
            assert_eq!(e.param.as_deref(), Some("x-portkey-config"));
            assert!(!e.message.contains("secret"), "{}", e.message);
        }
    }
}
