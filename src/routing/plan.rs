//! Decisions over a parsed config: which target first, which next after a failure, retry or not,
//! how long to wait, which target a load balancer picks. Pure: randomness comes in as numbers.
//!
//! A target is named by its path, the indexes from the config down (`[1, 0]` is
//! `config.targets[1].targets[0]`).

use serde_json::{Map, Value};

use super::cache::Cache;
use super::conditions::Facts;
use super::config::{Mode, Node, Retry};
use crate::error::{ErrorCode, GatewayError, Result};

/// Backoff before retry n (0-based): 100 ms · 2^n, at most this.
pub const MAX_BACKOFF_MS: u64 = 1_000;

pub fn node_at<'a>(root: &'a Node, path: &[usize]) -> Option<&'a Node> {
    path.iter().try_fold(root, |node, &i| node.targets.get(i))
}

/// Index of the target a weighted draw `r` in [0, 1) lands on; weight 0 is never chosen.
pub fn pick_weighted(weights: &[f64], r: f64) -> Option<usize> {
    let total: f64 = weights.iter().filter(|w| **w > 0.0).sum();
    if total <= 0.0 {
        return None;
    }
    let mut point = r.clamp(0.0, 1.0) * total;
    let mut last = None;
    for (i, w) in weights.iter().enumerate() {
        if *w <= 0.0 {
            continue;
        }
        if point < *w {
            return Some(i);
        }
        point -= w;
        last = Some(i);
    }
    // r == 1.0 or rounding: the last positive weight.
    last
}

/// The target a conditional strategy picks: the first matching condition's, else the default.
pub fn pick_conditional(node: &Node, facts: &Facts) -> Option<usize> {
    let strategy = node.strategy.as_ref()?;
    strategy
        .conditions
        .iter()
        .find(|c| c.query.matches(facts))
        .map(|c| c.then)
        .or(strategy.default)
}

/// From the node at `path` down to a leaf: single and fallback take their first target,
/// loadbalance draws one by weight (`random` yields numbers in [0, 1)), conditional asks the
/// request's `facts`. A conditional without a match and without a default is a 400.
pub fn enter(
    root: &Node,
    mut path: Vec<usize>,
    facts: &Facts,
    random: &mut dyn FnMut() -> f64,
) -> Result<Vec<usize>> {
    while let Some(node) = node_at(root, &path) {
        if node.targets.is_empty() {
            break;
        }
        let next = match node.mode() {
            Mode::Single | Mode::Fallback => 0,
            Mode::LoadBalance => {
                let weights: Vec<f64> = node.targets.iter().map(|t| t.weight).collect();
                pick_weighted(&weights, random()).unwrap_or(0)
            }
            Mode::Conditional => pick_conditional(node, facts).ok_or_else(|| {
                GatewayError::invalid_param(
                    "x-portkey-config",
                    format!(
                        "x-portkey-config: no condition of {} matched the request and its strategy has no default",
                        option_index(&path)
                    ),
                )
                .with_code(ErrorCode::NoMatchingCondition)
            })?,
        };
        path.push(next);
    }
    Ok(path)
}

/// The first target to try.
pub fn first(root: &Node, facts: &Facts, random: &mut dyn FnMut() -> f64) -> Result<Vec<usize>> {
    enter(root, Vec::new(), facts, random)
}

/// After the target at `path` failed with `status` (its retries spent): the next target, or
/// `None` when that error is the answer. From the innermost strategy outwards, the first fallback
/// that lists the status (or lists none) and has a target left moves on to it; a fallback whose
/// list does not hold the status passes the error up, as single, loadbalance and conditional
/// always do. `Err` when the next target is a conditional that matches nothing.
pub fn next_after_failure(
    root: &Node,
    path: &[usize],
    status: u16,
    facts: &Facts,
    random: &mut dyn FnMut() -> f64,
) -> Result<Option<Vec<usize>>> {
    for depth in (0..path.len()).rev() {
        let Some(parent) = node_at(root, &path[..depth]) else {
            return Ok(None);
        };
        let Some(strategy) = &parent.strategy else {
            continue;
        };
        if strategy.mode != Mode::Fallback {
            continue;
        }
        let listed = match &strategy.on_status_codes {
            Some(codes) => codes.contains(&status),
            None => !(200..300).contains(&status),
        };
        let sibling = path[depth] + 1;
        if listed && sibling < parent.targets.len() {
            let mut next = path[..depth].to_vec();
            next.push(sibling);
            return enter(root, next, facts, random).map(Some);
        }
    }
    Ok(None)
}

/// `config.targets[1].targets[0]` (the `x-portkey-last-used-option-index` answer header).
pub fn option_index(path: &[usize]) -> String {
    let mut out = String::from("config");
    for i in path {
        out.push_str(&format!(".targets[{i}]"));
    }
    out
}

/// What one target changes about the request: its own settings over those it inherits.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Attempt {
    /// `@slug`, `bedrock` or `openai`; `None` keeps the request's own provider.
    pub provider: Option<String>,
    /// The target's own credentials (inherited like `provider`, and reset where a target names
    /// another provider).
    pub credentials: Option<super::config::InlineCredentials>,
    pub custom_host: Option<String>,
    /// The config's, then each nested target's, merged (the innermost wins per key).
    pub override_params: Map<String, Value>,
    pub request_timeout: Option<u64>,
    pub strict_open_ai_compliance: Option<bool>,
    pub retry: Option<Retry>,
    pub cache: Option<Cache>,
    /// `config.targets[i]...`
    pub index: String,
}

/// The settings for the target at `path`, inherited along the way down.
pub fn attempt(root: &Node, path: &[usize]) -> Attempt {
    let mut out = Attempt {
        index: option_index(path),
        ..Attempt::default()
    };
    let mut node = Some(root);
    let mut rest = path.iter();
    while let Some(n) = node {
        if n.provider.is_some() {
            out.provider.clone_from(&n.provider);
            out.credentials.clone_from(&n.credentials);
        }
        if n.custom_host.is_some() {
            out.custom_host.clone_from(&n.custom_host);
        }
        if n.request_timeout.is_some() {
            out.request_timeout = n.request_timeout;
        }
        if n.strict_open_ai_compliance.is_some() {
            out.strict_open_ai_compliance = n.strict_open_ai_compliance;
        }
        if n.retry.is_some() {
            out.retry.clone_from(&n.retry);
        }
        if n.cache.is_some() {
            out.cache = n.cache;
        }
        for (k, v) in &n.override_params {
            out.override_params.insert(k.clone(), v.clone());
        }
        node = rest.next().and_then(|i| n.targets.get(*i));
    }
    out
}

/// Whether a failure with `status` is retried on the same target after `done` retries.
pub fn should_retry(retry: Option<&Retry>, status: u16, done: u32) -> bool {
    retry.is_some_and(|r| done < r.attempts && r.retries_on(status))
}

/// The wait before retry `done` (0-based): 100 ms, 200 ms, 400 ms, ... at most [`MAX_BACKOFF_MS`].
pub fn backoff_ms(done: u32) -> u64 {
    100u64
        .saturating_mul(1u64 << done.min(16))
        .min(MAX_BACKOFF_MS)
}

#[cfg(test)]
mod tests {
    use super::super::config::parse;
    use super::*;
    use serde_json::json;

    fn cfg(s: &str) -> Node {
        parse(s).unwrap()
    }

    static F: std::sync::LazyLock<Facts> = std::sync::LazyLock::new(Facts::default);

    #[test]
    fn weights() {
        assert_eq!(pick_weighted(&[1.0, 1.0], 0.0), Some(0));
        assert_eq!(pick_weighted(&[1.0, 1.0], 0.49), Some(0));
        assert_eq!(pick_weighted(&[1.0, 1.0], 0.5), Some(1));
        assert_eq!(pick_weighted(&[1.0, 1.0], 1.0), Some(1));
        assert_eq!(pick_weighted(&[0.0, 3.0], 0.0), Some(1));
        assert_eq!(pick_weighted(&[3.0, 0.0], 0.999), Some(0));
        assert_eq!(pick_weighted(&[1.0, 3.0], 0.3), Some(1));
        assert_eq!(pick_weighted(&[0.0, 0.0], 0.3), None);
        for i in 0..100 {
            let r = f64::from(i) / 100.0;
            assert_eq!(pick_weighted(&[0.0, 1.0, 0.0], r), Some(1));
        }
    }

    #[test]
    fn fallback_order_and_status_lists() {
        let c = cfg(
            r#"{"strategy":{"mode":"fallback","on_status_codes":[429]},"targets":[{"provider":"@a"},{"provider":"@b"},{"provider":"@c"}]}"#,
        );
        let mut r = || 0.0;
        let p = first(&c, &F, &mut r).unwrap();
        assert_eq!(p, vec![0]);
        assert_eq!(
            next_after_failure(&c, &p, 429, &F, &mut r).unwrap(),
            Some(vec![1])
        );
        assert_eq!(next_after_failure(&c, &p, 400, &F, &mut r).unwrap(), None);
        assert_eq!(next_after_failure(&c, &[2], 429, &F, &mut r).unwrap(), None);
        let any = cfg(r#"{"strategy":{"mode":"fallback"},"targets":[{},{}]}"#);
        assert_eq!(
            next_after_failure(&any, &[0], 400, &F, &mut r).unwrap(),
            Some(vec![1])
        );
        assert_eq!(
            next_after_failure(&any, &[0], 403, &F, &mut r).unwrap(),
            Some(vec![1])
        );
    }

    #[test]
    fn nested() {
        // An inner fallback over [a, b] that only moves on for 429, inside an outer fallback that
        // moves on for anything.
        let c = cfg(r#"{"strategy":{"mode":"fallback"},"targets":[
                {"strategy":{"mode":"fallback","on_status_codes":[429]},"targets":[{"provider":"@a"},{"provider":"@b"}]},
                {"strategy":{"mode":"loadbalance"},"targets":[{"provider":"@c","weight":0},{"provider":"@d"}]}]}"#);
        let mut r = || 0.0;
        assert_eq!(first(&c, &F, &mut r).unwrap(), vec![0, 0]);
        assert_eq!(
            next_after_failure(&c, &[0, 0], 429, &F, &mut r).unwrap(),
            Some(vec![0, 1])
        );
        // The inner list does not hold 500: the outer fallback moves on (to the balancer, which
        // never picks weight 0).
        assert_eq!(
            next_after_failure(&c, &[0, 0], 500, &F, &mut r).unwrap(),
            Some(vec![1, 1])
        );
        assert_eq!(
            next_after_failure(&c, &[0, 1], 429, &F, &mut r).unwrap(),
            Some(vec![1, 1])
        );
        assert_eq!(
            next_after_failure(&c, &[1, 1], 429, &F, &mut r).unwrap(),
            None
        );
        assert_eq!(option_index(&[0, 1]), "config.targets[0].targets[1]");
        assert_eq!(attempt(&c, &[1, 1]).provider.as_deref(), Some("@d"));
    }

    #[test]
    fn inheritance() {
        let c = cfg(
            r#"{"retry":{"attempts":2},"override_params":{"max_tokens":5,"temperature":0},"request_timeout":50,"provider":"@base",
                "strategy":{"mode":"fallback"},"targets":[
                  {"override_params":{"max_tokens":9},"custom_host":"https://h"},
                  {"provider":"bedrock","retry":{"attempts":0},"request_timeout":7}]}"#,
        );
        let a = attempt(&c, &[0]);
        assert_eq!(a.provider.as_deref(), Some("@base"));
        assert_eq!(a.custom_host.as_deref(), Some("https://h"));
        assert_eq!(
            Value::Object(a.override_params),
            json!({"max_tokens": 9, "temperature": 0})
        );
        assert_eq!(a.retry.as_ref().map(|r| r.attempts), Some(2));
        assert_eq!(a.request_timeout, Some(50));
        assert_eq!(a.index, "config.targets[0]");
        let b = attempt(&c, &[1]);
        assert_eq!(b.provider.as_deref(), Some("bedrock"));
        assert_eq!(b.custom_host, None);
        assert_eq!(b.retry.as_ref().map(|r| r.attempts), Some(0));
        assert_eq!(b.request_timeout, Some(7));
    }

    #[test]
    fn retries() {
        let r = Retry {
            attempts: 2,
            on_status_codes: None,
        };
        assert!(should_retry(Some(&r), 429, 0));
        assert!(should_retry(Some(&r), 503, 1));
        assert!(!should_retry(Some(&r), 503, 2));
        assert!(!should_retry(Some(&r), 400, 0));
        assert!(!should_retry(None, 429, 0));
        assert_eq!(
            (0..6).map(backoff_ms).collect::<Vec<_>>(),
            vec![100, 200, 400, 800, 1000, 1000]
        );
    }

    #[test]
    fn single_takes_the_first_target() {
        let c = cfg(
            r#"{"strategy":{"mode":"single"},"targets":[{"provider":"@a"},{"provider":"@b"}]}"#,
        );
        let mut r = || 0.9;
        assert_eq!(first(&c, &F, &mut r).unwrap(), vec![0]);
        assert_eq!(next_after_failure(&c, &[0], 429, &F, &mut r).unwrap(), None);
        let bare = cfg(r#"{"provider":"@a"}"#);
        assert_eq!(first(&bare, &F, &mut r).unwrap(), Vec::<usize>::new());
        assert_eq!(attempt(&bare, &[]).index, "config");
    }

    #[test]
    fn conditional_picks_by_name_then_default() {
        let c = cfg(r#"{"strategy":{"mode":"fallback"},"targets":[
            {"strategy":{"mode":"conditional","conditions":[
                {"query":{"metadata.user_plan":{"$eq":"paid"}},"then":"finetuned"},
                {"query":{"params.max_tokens":{"$gt":1000}},"then":"big"}],
             "default":"base"},
             "targets":[{"name":"base","provider":"@base"},{"name":"finetuned","provider":"@ft"},
                        {"name":"big","strategy":{"mode":"loadbalance"},"targets":[{"provider":"@x","weight":0},{"provider":"@y"}]}]},
            {"provider":"@last"}]}"#);
        let mut r = || 0.0;
        let facts = |meta: &str, body: serde_json::Value| Facts::new(Some(meta), &body);
        let paid = facts(r#"{"user_plan":"paid"}"#, json!({"max_tokens": 2000}));
        assert_eq!(first(&c, &paid, &mut r).unwrap(), vec![0, 1]);
        let big = facts(r#"{"user_plan":"free"}"#, json!({"max_tokens": 2000}));
        assert_eq!(first(&c, &big, &mut r).unwrap(), vec![0, 2, 1]);
        assert_eq!(
            option_index(&[0, 2, 1]),
            "config.targets[0].targets[2].targets[1]"
        );
        let plain = facts("{}", json!({}));
        let p = first(&c, &plain, &mut r).unwrap();
        assert_eq!(p, vec![0, 0]);
        assert_eq!(attempt(&c, &p).provider.as_deref(), Some("@base"));
        // A conditional passes failures up; the outer fallback moves on.
        assert_eq!(
            next_after_failure(&c, &p, 429, &plain, &mut r).unwrap(),
            Some(vec![1])
        );
        // No match and no default: a 400 naming the header.
        let strict = cfg(
            r#"{"strategy":{"mode":"conditional","conditions":[{"query":{"metadata.a":"b"},"then":"t"}]},"targets":[{"name":"t"}]}"#,
        );
        let err = first(&strict, &plain, &mut r).unwrap_err();
        assert_eq!(err.status, 400);
        assert_eq!(err.param.as_deref(), Some("x-portkey-config"));
        let a = facts(r#"{"a":"b"}"#, json!({}));
        assert_eq!(first(&strict, &a, &mut r).unwrap(), vec![0]);
    }

    #[test]
    fn cache_is_inherited() {
        let c = cfg(
            r#"{"cache":{"mode":"simple","max_age":90},"strategy":{"mode":"fallback"},"targets":[{},{"cache":{"mode":"simple","maxAge":600}}]}"#,
        );
        assert_eq!(attempt(&c, &[0]).cache.map(|c| c.max_age), Some(90));
        assert_eq!(attempt(&c, &[1]).cache.map(|c| c.max_age), Some(600));
        assert_eq!(attempt(&cfg("{}"), &[]).cache, None);
    }
}
