//! The shape of a gateway config (`x-portkey-config`), parsed from JSON by hand so that both the
//! snake_case and the camelCase spellings the Portkey SDKs send are accepted, and so that error
//! messages name the place in the config without ever echoing a value (a config may carry keys).

use serde_json::{Map, Value};

use super::cache::Cache;
use super::conditions::{parse_query, Query};
use crate::error::{ErrorCode, GatewayError, Result};

pub use crate::limits::MAX_RETRY_ATTEMPTS;
use crate::limits::{
    MAX_CONFIG_BYTES, MAX_CONFIG_DEPTH, MAX_CONFIG_TARGETS, MAX_REQUEST_TIMEOUT_MS,
};

/// Statuses a retry may name: the ones where trying the same request again can succeed. A 400,
/// 401, 403 (or 404, 413, 422) fails again the same way; retrying it only multiplies load.
pub fn retryable_status(status: u16) -> bool {
    matches!(status, 408 | 409 | 425 | 429 | 500..=599)
}

/// Retried when `retry.on_status_codes` is absent.
pub const DEFAULT_RETRY_STATUSES: &[u16] = &[429, 500, 502, 503, 504];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The first target only.
    Single,
    /// Targets in order until one answers (or fails with a status not listed).
    Fallback,
    /// One target, chosen by weight.
    LoadBalance,
    /// The target the first matching condition names, else the default.
    Conditional,
}

/// `{"query": {...}, "then": "target-name"}`, with the name resolved to the target's index.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    pub query: Query,
    pub then: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Strategy {
    pub mode: Mode,
    /// Statuses that move a fallback on; `None` = any non-2xx.
    pub on_status_codes: Option<Vec<u16>>,
    /// Conditional mode: tried in order.
    pub conditions: Vec<Condition>,
    /// Conditional mode: the target when no condition matches.
    pub default: Option<usize>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Retry {
    /// Retries after the first try (0..=5).
    pub attempts: u32,
    /// Statuses retried; `None` = [`DEFAULT_RETRY_STATUSES`].
    pub on_status_codes: Option<Vec<u16>>,
}

impl Retry {
    pub fn retries_on(&self, status: u16) -> bool {
        match &self.on_status_codes {
            Some(codes) => codes.contains(&status),
            None => DEFAULT_RETRY_STATUSES.contains(&status),
        }
    }
}

/// The config itself, or one of its targets: a leaf (a provider) or, with `targets`, a strategy
/// over nested nodes. Settings a node leaves out are inherited from its parents.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub strategy: Option<Strategy>,
    pub targets: Vec<Node>,
    /// `@slug`, `bedrock` or `openai` (`virtual_key: slug` is stored as `@slug`).
    pub provider: Option<String>,
    /// Credentials written into the config (Portkey's `api_key`, `aws_*` fields). `Debug` hides
    /// them.
    pub credentials: Option<InlineCredentials>,
    pub custom_host: Option<String>,
    pub override_params: Map<String, Value>,
    /// Load-balancing weight among siblings (default 1).
    pub weight: f64,
    pub retry: Option<Retry>,
    pub request_timeout: Option<u64>,
    pub strict_open_ai_compliance: Option<bool>,
    /// The name conditions route to.
    pub name: Option<String>,
    pub cache: Option<Cache>,
}

/// A target's own credentials, as Portkey's OSS configs write them. They are header credentials
/// by another name: the gateway-key rule for header credentials applies, and they never reach a
/// log or an error message.
#[derive(Clone, PartialEq)]
pub enum InlineCredentials {
    OpenAi {
        api_key: String,
    },
    Bedrock {
        access_key_id: String,
        secret_access_key: String,
        region: String,
        session_token: Option<String>,
    },
}

impl std::fmt::Debug for InlineCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            InlineCredentials::OpenAi { .. } => f.write_str("OpenAi(<redacted>)"),
            InlineCredentials::Bedrock { region, .. } => write!(f, "Bedrock({region}, <redacted>)"),
        }
    }
}

impl Node {
    /// Whether this node or any target below it carries its own credentials.
    pub fn has_credentials(&self) -> bool {
        self.credentials.is_some() || self.targets.iter().any(Node::has_credentials)
    }

    pub fn mode(&self) -> Mode {
        self.strategy.as_ref().map_or(Mode::Single, |s| s.mode)
    }
}

fn invalid(message: impl Into<String>) -> GatewayError {
    GatewayError::invalid_param("x-portkey-config", message).with_code(ErrorCode::InvalidConfig)
}

/// The value under `snake` or `camel` (either spelling; the first present wins).
fn field<'a>(obj: &'a Map<String, Value>, snake: &str, camel: &str) -> Option<&'a Value> {
    obj.get(snake)
        .or_else(|| obj.get(camel))
        .filter(|v| !v.is_null())
}

fn status_list(v: &Value, at: &str) -> Result<Vec<u16>> {
    let arr = v.as_array().ok_or_else(|| {
        invalid(format!(
            "x-portkey-config: {at} must be an array of status codes"
        ))
    })?;
    arr.iter()
        .map(|c| {
            c.as_u64()
                .or_else(|| c.as_str().and_then(|s| s.trim().parse().ok()))
                .filter(|c| (100..=599).contains(c))
                .and_then(|c| u16::try_from(c).ok())
                .ok_or_else(|| {
                    invalid(format!(
                        "x-portkey-config: {at} must hold HTTP status codes (100-599)"
                    ))
                })
        })
        .collect()
}

fn parse_strategy(v: &Value, at: &str, targets: &[Node]) -> Result<Strategy> {
    let obj = v
        .as_object()
        .ok_or_else(|| invalid(format!("x-portkey-config: {at}.strategy must be an object")))?;
    let mode = match field(obj, "mode", "mode").and_then(Value::as_str) {
        Some(m) if m.eq_ignore_ascii_case("single") => Mode::Single,
        Some(m) if m.eq_ignore_ascii_case("fallback") => Mode::Fallback,
        Some(m) if m.eq_ignore_ascii_case("loadbalance") => Mode::LoadBalance,
        Some(m) if m.eq_ignore_ascii_case("conditional") => Mode::Conditional,
        _ => {
            return Err(invalid(format!(
                "x-portkey-config: {at}.strategy.mode must be one of single, fallback, loadbalance, conditional"
            )))
        }
    };
    let on_status_codes = field(obj, "on_status_codes", "onStatusCodes")
        .map(|c| status_list(c, &format!("{at}.strategy.on_status_codes")))
        .transpose()?;
    let (conditions, default) = if mode == Mode::Conditional {
        parse_conditions(obj, at, targets)?
    } else {
        (Vec::new(), None)
    };
    Ok(Strategy {
        mode,
        on_status_codes,
        conditions,
        default,
    })
}

/// The index of the target named `name` under `place` (`then`, `default`).
fn target_named(targets: &[Node], name: Option<&Value>, place: &str) -> Result<usize> {
    let name = name.and_then(Value::as_str).ok_or_else(|| {
        invalid(format!(
            "x-portkey-config: {place} must be the name of a target"
        ))
    })?;
    targets
        .iter()
        .position(|t| t.name.as_deref() == Some(name))
        .ok_or_else(|| {
            invalid(format!(
                "x-portkey-config: {place} names no target (give the target a matching `name`)"
            ))
        })
}

fn parse_conditions(
    obj: &Map<String, Value>,
    at: &str,
    targets: &[Node],
) -> Result<(Vec<Condition>, Option<usize>)> {
    let list = match field(obj, "conditions", "conditions") {
        Some(Value::Array(list)) => list,
        _ => {
            return Err(invalid(format!(
                "x-portkey-config: {at}.strategy.conditions must be an array (conditional mode)"
            )))
        }
    };
    let conditions = list
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let place = format!("{at}.strategy.conditions[{i}]");
            let c = c
                .as_object()
                .ok_or_else(|| invalid(format!("x-portkey-config: {place} must be an object")))?;
            let query = c
                .get("query")
                .ok_or_else(|| invalid(format!("x-portkey-config: {place}.query is required")))?;
            Ok(Condition {
                query: parse_query(query, &format!("{place}.query"))?,
                then: target_named(targets, c.get("then"), &format!("{place}.then"))?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let default = field(obj, "default", "default")
        .map(|d| target_named(targets, Some(d), &format!("{at}.strategy.default")))
        .transpose()?;
    Ok((conditions, default))
}

fn parse_retry(v: &Value, at: &str) -> Result<Retry> {
    let obj = v
        .as_object()
        .ok_or_else(|| invalid(format!("x-portkey-config: {at}.retry must be an object")))?;
    let attempts = match field(obj, "attempts", "attempts") {
        None => 0,
        Some(a) => a
            .as_u64()
            .filter(|a| *a <= u64::from(MAX_RETRY_ATTEMPTS))
            .and_then(|a| u32::try_from(a).ok())
            .ok_or_else(|| {
                invalid(format!(
                    "x-portkey-config: {at}.retry.attempts must be a whole number from 0 to {MAX_RETRY_ATTEMPTS}"
                ))
            })?,
    };
    let on_status_codes = field(obj, "on_status_codes", "onStatusCodes")
        .map(|c| status_list(c, &format!("{at}.retry.on_status_codes")))
        .transpose()?;
    if let Some(bad) = on_status_codes
        .iter()
        .flatten()
        .find(|s| !retryable_status(**s))
    {
        return Err(invalid(format!(
            "x-portkey-config: {at}.retry.on_status_codes holds {bad}, which a retry cannot fix; retries take 408, 409, 425, 429 and 5xx (use a fallback strategy to move to another target instead)"
        )));
    }
    Ok(Retry {
        attempts,
        on_status_codes,
    })
}

fn parse_provider(obj: &Map<String, Value>, at: &str) -> Result<Option<String>> {
    let provider = match field(obj, "provider", "provider") {
        None => None,
        Some(Value::String(p)) => {
            let p = p.trim();
            if let Some(slug) = p.strip_prefix('@') {
                if !crate::catalog::valid_slug(slug) {
                    return Err(invalid(format!(
                        "x-portkey-config: {at}.provider is not a valid `@slug` (letters, digits, - and _)"
                    )));
                }
                Some(format!("@{slug}"))
            } else if p.eq_ignore_ascii_case("bedrock") {
                Some("bedrock".to_owned())
            } else if p.eq_ignore_ascii_case("openai") {
                Some("openai".to_owned())
            } else {
                return Err(invalid(format!(
                    "x-portkey-config: {at}.provider must be `@slug` (a catalog provider), `bedrock` or `openai` (with credentials in the target or the headers)"
                )));
            }
        }
        Some(_) => {
            return Err(invalid(format!(
                "x-portkey-config: {at}.provider must be a string"
            )))
        }
    };
    let virtual_key = match field(obj, "virtual_key", "virtualKey") {
        None => None,
        Some(Value::String(v)) => {
            let slug = v.trim();
            let slug = slug.strip_prefix('@').unwrap_or(slug);
            if !crate::catalog::valid_slug(slug) {
                return Err(invalid(format!(
                    "x-portkey-config: {at}.virtual_key is not a valid slug (letters, digits, - and _)"
                )));
            }
            Some(format!("@{slug}"))
        }
        Some(_) => {
            return Err(invalid(format!(
                "x-portkey-config: {at}.virtual_key must be a string"
            )))
        }
    };
    match (provider, virtual_key) {
        (Some(p), Some(v)) if p != v => Err(invalid(format!(
            "x-portkey-config: {at} names both a provider and a different virtual_key; name one"
        ))),
        (p, v) => Ok(p.or(v)),
    }
}

/// Counts targets over every level before anything is parsed, so a huge or deep config costs
/// one bounded walk and a clear 400.
fn check_size(v: &Value, depth: usize, count: &mut usize) -> Result<()> {
    let Some(Value::Array(list)) = v.as_object().and_then(|o| o.get("targets")) else {
        return Ok(());
    };
    if depth >= MAX_CONFIG_DEPTH {
        return Err(invalid(format!(
            "x-portkey-config: targets are nested more than {MAX_CONFIG_DEPTH} levels deep"
        )));
    }
    *count = count.saturating_add(list.len());
    if *count > MAX_CONFIG_TARGETS {
        return Err(invalid(format!(
            "x-portkey-config: more than {MAX_CONFIG_TARGETS} targets in all"
        )));
    }
    list.iter()
        .try_for_each(|t| check_size(t, depth + 1, count))
}

/// A string field (either spelling), or an error naming the place (never the value).
fn string_field(
    obj: &Map<String, Value>,
    snake: &str,
    camel: &str,
    at: &str,
) -> Result<Option<String>> {
    match field(obj, snake, camel) {
        None => Ok(None),
        Some(Value::String(v)) if !v.trim().is_empty() => Ok(Some(v.trim().to_owned())),
        Some(_) => Err(invalid(format!(
            "x-portkey-config: {at}.{snake} must be a non-empty string"
        ))),
    }
}

/// `api_key` (OpenAI) or `aws_access_key_id` + `aws_secret_access_key` + `aws_region` (+
/// `aws_session_token`) (Bedrock), for the target's `provider`.
fn parse_credentials(
    obj: &Map<String, Value>,
    at: &str,
    provider: Option<&str>,
) -> Result<Option<InlineCredentials>> {
    let api_key = string_field(obj, "api_key", "apiKey", at)?;
    let access_key_id = string_field(obj, "aws_access_key_id", "awsAccessKeyId", at)?;
    let secret_access_key = string_field(obj, "aws_secret_access_key", "awsSecretAccessKey", at)?;
    let region = string_field(obj, "aws_region", "awsRegion", at)?;
    let session_token = string_field(obj, "aws_session_token", "awsSessionToken", at)?;
    let aws = access_key_id.is_some() || secret_access_key.is_some();
    match (provider, api_key, aws) {
        (_, None, false) => Ok(None),
        (Some("openai"), Some(api_key), false) => Ok(Some(InlineCredentials::OpenAi { api_key })),
        (Some("bedrock"), None, true) => match (access_key_id, secret_access_key, region) {
            (Some(access_key_id), Some(secret_access_key), Some(region)) => {
                Ok(Some(InlineCredentials::Bedrock {
                    access_key_id,
                    secret_access_key,
                    region,
                    session_token,
                }))
            }
            _ => Err(invalid(format!(
                "x-portkey-config: {at} needs aws_access_key_id, aws_secret_access_key and aws_region together"
            ))),
        },
        _ => Err(invalid(format!(
            "x-portkey-config: {at}: `api_key` goes with provider `openai`, `aws_*` credentials with provider `bedrock`"
        ))),
    }
}

fn parse_node(v: &Value, at: &str) -> Result<Node> {
    let obj = v
        .as_object()
        .ok_or_else(|| invalid(format!("x-portkey-config: {at} must be a JSON object")))?;
    let targets = match field(obj, "targets", "targets") {
        None => Vec::new(),
        Some(Value::Array(list)) => list
            .iter()
            .enumerate()
            .map(|(i, t)| parse_node(t, &format!("{at}.targets[{i}]")))
            .collect::<Result<Vec<_>>>()?,
        Some(_) => {
            return Err(invalid(format!(
                "x-portkey-config: {at}.targets must be an array"
            )))
        }
    };
    let strategy = field(obj, "strategy", "strategy")
        .map(|s| parse_strategy(s, at, &targets))
        .transpose()?;
    if strategy.is_some() && targets.is_empty() {
        return Err(invalid(format!(
            "x-portkey-config: {at} has a strategy but no targets"
        )));
    }
    if matches!(&strategy, Some(s) if s.mode == Mode::LoadBalance)
        && targets.iter().all(|t| t.weight <= 0.0)
    {
        return Err(invalid(format!(
            "x-portkey-config: {at} load-balances targets that all have weight 0"
        )));
    }
    let override_params = match field(obj, "override_params", "overrideParams") {
        None => Map::new(),
        Some(Value::Object(o)) => o.clone(),
        Some(_) => {
            return Err(invalid(format!(
                "x-portkey-config: {at}.override_params must be an object"
            )))
        }
    };
    let weight = match field(obj, "weight", "weight") {
        None => 1.0,
        Some(w) => w
            .as_f64()
            .filter(|w| w.is_finite() && *w >= 0.0)
            .ok_or_else(|| {
                invalid(format!(
                    "x-portkey-config: {at}.weight must be a number ≥ 0"
                ))
            })?,
    };
    let custom_host = match field(obj, "custom_host", "customHost") {
        None => None,
        Some(Value::String(h)) if !h.trim().is_empty() => Some(h.trim().to_owned()),
        Some(_) => {
            return Err(invalid(format!(
                "x-portkey-config: {at}.custom_host must be a URL string"
            )))
        }
    };
    let request_timeout = match field(obj, "request_timeout", "requestTimeout") {
        None => None,
        Some(t) => Some(
            t.as_u64()
                .filter(|t| (1..=MAX_REQUEST_TIMEOUT_MS).contains(t))
                .ok_or_else(|| {
                    invalid(format!(
                        "x-portkey-config: {at}.request_timeout must be a whole number of milliseconds from 1 to {MAX_REQUEST_TIMEOUT_MS}"
                    ))
                })?,
        ),
    };
    let strict_open_ai_compliance =
        match field(obj, "strict_open_ai_compliance", "strictOpenAiCompliance") {
            None => None,
            Some(Value::Bool(b)) => Some(*b),
            Some(_) => {
                return Err(invalid(format!(
                    "x-portkey-config: {at}.strict_open_ai_compliance must be true or false"
                )))
            }
        };
    let provider = parse_provider(obj, at)?;
    let credentials = parse_credentials(obj, at, provider.as_deref())?;
    Ok(Node {
        strategy,
        targets,
        provider,
        credentials,
        custom_host,
        override_params,
        weight,
        retry: field(obj, "retry", "retry")
            .map(|r| parse_retry(r, at))
            .transpose()?,
        request_timeout,
        strict_open_ai_compliance,
        name: match field(obj, "name", "name") {
            None => None,
            Some(Value::String(n)) => Some(n.clone()),
            Some(_) => {
                return Err(invalid(format!(
                    "x-portkey-config: {at}.name must be a string"
                )))
            }
        },
        cache: field(obj, "cache", "cache")
            .map(|c| super::cache::parse(c, at))
            .transpose()?,
    })
}

/// Parses a config from its JSON text.
pub fn parse(json: &str) -> Result<Node> {
    if json.len() > MAX_CONFIG_BYTES {
        return Err(invalid(format!(
            "x-portkey-config is longer than {MAX_CONFIG_BYTES} bytes"
        )));
    }
    let value: Value = serde_json::from_str(json).map_err(|e| {
        invalid(format!(
            "x-portkey-config is not valid JSON (line {}, column {})",
            e.line(),
            e.column()
        ))
    })?;
    check_size(&value, 0, &mut 0)?;
    parse_node(&value, "config")
}

/// What the `x-portkey-config` header holds: a config, or the id of one saved in KV.
#[derive(Debug, Clone, PartialEq)]
pub enum ConfigRef {
    Inline(Box<Node>),
    Saved(String),
}

/// A saved config's id: letters, digits, `-` and `_`.
pub fn valid_config_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The KV key a saved config lives under.
pub fn saved_config_key(id: &str) -> String {
    format!("config:{id}")
}

/// Reads the header: JSON (starts with `{`) or a saved config id.
pub fn parse_header(raw: &str) -> Result<ConfigRef> {
    let raw = raw.trim();
    if raw.starts_with('{') {
        return parse(raw).map(|n| ConfigRef::Inline(Box::new(n)));
    }
    if valid_config_id(raw) {
        return Ok(ConfigRef::Saved(raw.to_owned()));
    }
    Err(invalid(
        "x-portkey-config must be a JSON config or the id of a saved config (letters, digits, - and _)",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn both_spellings() {
        let snake = parse(r#"{"strategy":{"mode":"fallback","on_status_codes":[429]},"retry":{"attempts":2,"on_status_codes":[503]},"override_params":{"max_tokens":5},"request_timeout":100,
            "targets":[{"virtual_key":"a","custom_host":"https://h"},{"provider":"@b","weight":2}]}"#).unwrap_or_else(|e| panic!("{e}"));
        let camel = parse(r#"{"strategy":{"mode":"fallback","onStatusCodes":[429]},"retry":{"attempts":2,"onStatusCodes":[503]},"overrideParams":{"max_tokens":5},"requestTimeout":100,
            "targets":[{"virtualKey":"a","customHost":"https://h"},{"provider":"@b","weight":2}]}"#).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(snake, camel);
        assert_eq!(snake.mode(), Mode::Fallback);
        assert_eq!(snake.targets[0].provider.as_deref(), Some("@a"));
        assert_eq!(snake.targets[0].custom_host.as_deref(), Some("https://h"));
        assert_eq!(snake.targets[1].weight, 2.0);
        assert_eq!(
            snake.retry,
            Some(Retry {
                attempts: 2,
                on_status_codes: Some(vec![503])
            })
        );
        assert_eq!(snake.override_params.get("max_tokens"), Some(&json!(5)));
        assert_eq!(snake.request_timeout, Some(100));
    }

    #[test]
    fn invalid_configs_name_the_header_and_never_echo_values() {
        for bad in [
            "{",
            "[]",
            r#"{"strategy":{"mode":"conditional"},"targets":[{}]}"#,
            r#"{"strategy":{"mode":"conditional","conditions":[{"query":{"metadata.a":"secret"},"then":"secret"}]},"targets":[{"name":"b"}]}"#,
            r#"{"strategy":{"mode":"conditional","conditions":[],"default":"secret"},"targets":[{"name":"b"}]}"#,
            r#"{"strategy":{"mode":"conditional","conditions":[{"then":"b"}]},"targets":[{"name":"b"}]}"#,
            r#"{"strategy":{"mode":"conditional","conditions":[{"query":{"metadata.a":{"$regex":"secret"}},"then":"b"}]},"targets":[{"name":"b"}]}"#,
            r#"{"cache":{"mode":"semantic"}}"#,
            r#"{"cache":"secret"}"#,
            r#"{"strategy":{"mode":"nope"},"targets":[{}]}"#,
            r#"{"strategy":{"mode":"fallback"}}"#,
            r#"{"strategy":{"mode":"fallback"},"targets":"x"}"#,
            r#"{"retry":{"attempts":6}}"#,
            r#"{"retry":{"attempts":-1}}"#,
            r#"{"provider":"openai-sk-secret"}"#,
            r#"{"virtual_key":"bad slug!"}"#,
            r#"{"strategy":{"mode":"loadbalance"},"targets":[{"weight":0}]}"#,
            r#"{"targets":[{"weight":-1}],"strategy":{"mode":"loadbalance"}}"#,
            r#"{"strategy":{"mode":"fallback","on_status_codes":[42]},"targets":[{}]}"#,
            r#"{"override_params":"x"}"#,
            r#"{"provider":"@a","virtual_key":"b"}"#,
        ] {
            let err = parse_header(bad)
                .err()
                .unwrap_or_else(|| panic!("{bad} parsed"));
            assert_eq!(err.status, 400, "{bad}");
            assert_eq!(err.param.as_deref(), Some("x-portkey-config"), "{bad}");
            assert!(err.message.contains("x-portkey-config"), "{bad}");
            assert!(!err.message.contains("secret"), "{}", err.message);
        }
        assert!(parse_header("not a config!").is_err());
    }

    #[test]
    fn saved_ids() {
        assert_eq!(
            parse_header(" pc-prod_1 ").ok(),
            Some(ConfigRef::Saved("pc-prod_1".into()))
        );
        assert_eq!(saved_config_key("pc-1"), "config:pc-1");
        assert!(!valid_config_id("a/b"));
        assert!(!valid_config_id(""));
    }

    #[test]
    fn retry_statuses() {
        let r = Retry {
            attempts: 1,
            on_status_codes: None,
        };
        assert!(r.retries_on(429) && r.retries_on(503) && !r.retries_on(400));
        let r = Retry {
            attempts: 1,
            on_status_codes: Some(vec![400]),
        };
        assert!(r.retries_on(400) && !r.retries_on(429));
    }
}
