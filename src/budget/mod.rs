//! Rate limits and budgets per gateway key and per provider slug (README: Limits and budgets).
//!
//! Each subject (`key:<hash>`, `slug:<slug>`) has one [`State`], kept by one Durable Object (the
//! shell's `Limiter`), so every location sees the same counts. The object applies one [`Op`] at a
//! time to its state with [`State::apply`] (pure; this module is all of the logic) and stores it.
//! The limits travel with each op (they live in the catalog records, which the object does not
//! read), so a change takes effect on the next request.
//!
//! - `rpm` / `tpm`: token buckets that refill continuously (`rpm` per minute), starting full, so
//!   a burst of `rpm` requests is admitted and then one every `60 s / rpm`. A request takes one
//!   request and reserves its token estimate from the `tpm` bucket (admitted while the bucket is
//!   above zero); its actual tokens replace the estimate when it ends. Over → 429.
//! - `tokens_per_day` (UTC day) / `usd_per_month` (UTC calendar month): admitted while the recorded
//!   usage plus what in-flight requests reserved is below the limit; each admitted request reserves
//!   its estimate until its actual usage is recorded. Over → 412 until the period resets.
//!
//! The consistency bound: at most one request is admitted past the point where recorded usage
//! plus reservations reach a budget, so usage can exceed it by that request's usage, plus whatever
//! in-flight requests used beyond their estimates.

use serde::{Deserialize, Serialize};

pub mod calendar;

/// A subject's limits. All optional; none = unlimited.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Limits {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rpm: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tpm: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens_per_day: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usd_per_month: Option<f64>,
}

impl Limits {
    pub fn is_empty(&self) -> bool {
        self.rpm.is_none()
            && self.tpm.is_none()
            && self.tokens_per_day.is_none()
            && self.usd_per_month.is_none()
    }
}

/// Who a limit applies to: `key:<hash>` (a gateway key) or `slug:<slug>` (a catalog provider, for
/// every key using it), with its limits.
#[derive(Debug, Clone, PartialEq)]
pub struct Subject {
    pub name: String,
    pub limits: Limits,
}

impl Subject {
    pub fn key(hash: &str, limits: Option<Limits>) -> Option<Subject> {
        limits.filter(|l| !l.is_empty()).map(|limits| Subject {
            name: format!("key:{hash}"),
            limits,
        })
    }

    pub fn slug(slug: &str, limits: Option<Limits>) -> Option<Subject> {
        limits.filter(|l| !l.is_empty()).map(|limits| Subject {
            name: format!("slug:{slug}"),
            limits,
        })
    }

    /// Whose limit it is, in an error message.
    pub fn describe(&self) -> String {
        match self.name.split_once(':') {
            Some(("slug", slug)) => format!("provider `@{slug}`"),
            _ => "this gateway key".to_owned(),
        }
    }
}

/// What a request is expected to use (reserved at admission), or used.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Amount {
    pub tokens: u64,
    pub usd: f64,
}

/// One operation on a subject's state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Op {
    /// May a request start? Reserves `estimate` when it may.
    Admit {
        limits: Limits,
        now_ms: u64,
        estimate: Amount,
    },
    /// An admitted request ended: `used` replaces what it `reserved` (a failed one records
    /// nothing used). `cancelled`: it never started (another subject refused it), so its request
    /// is given back too.
    Record {
        limits: Limits,
        now_ms: u64,
        reserved: Amount,
        used: Amount,
        #[serde(default)]
        cancelled: bool,
    },
    /// The counts, without changing them.
    View { limits: Limits, now_ms: u64 },
}

/// Which limit refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LimitKind {
    Rpm,
    Tpm,
    TokensPerDay,
    UsdPerMonth,
}

impl LimitKind {
    /// A budget (412) rather than a rate (429).
    pub fn is_budget(self) -> bool {
        matches!(self, LimitKind::TokensPerDay | LimitKind::UsdPerMonth)
    }

    pub fn name(self) -> &'static str {
        match self {
            LimitKind::Rpm => "rpm",
            LimitKind::Tpm => "tpm",
            LimitKind::TokensPerDay => "tokens_per_day",
            LimitKind::UsdPerMonth => "usd_per_month",
        }
    }
}

/// Why a request was refused, and when to come back.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Refusal {
    pub kind: LimitKind,
    /// Milliseconds until a retry can succeed (a rate: the bucket's refill; a budget: its reset).
    pub retry_after_ms: u64,
    /// When the period resets (ms since the epoch): budgets only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resets_at_ms: Option<u64>,
}

/// A subject's counts, as `GET /v1/usage` shows them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Usage {
    pub limits: Limits,
    /// Requests admitted (UTC day, UTC month).
    pub requests_today: u64,
    pub requests_this_month: u64,
    /// Recorded tokens (UTC day), and reserved by requests in flight.
    pub tokens_today: u64,
    pub tokens_reserved: u64,
    pub tokens_this_month: u64,
    /// Recorded USD (UTC month), and reserved by requests in flight.
    pub usd_this_month: f64,
    pub usd_reserved: f64,
    /// The rate buckets now: what is left, and ms until full.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remaining_requests: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reset_requests_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remaining_tokens: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reset_tokens_ms: Option<u64>,
    /// When the day and the month reset (ms since the epoch).
    pub day_resets_at_ms: u64,
    pub month_resets_at_ms: u64,
}

/// What an op answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reply {
    /// `Admit`: whether the request may start (it then holds `reserved`).
    pub admitted: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refusal: Option<Refusal>,
    pub reserved: Amount,
    pub usage: Usage,
}

/// A continuously refilling bucket of `capacity` per minute.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
struct Bucket {
    level: f64,
    at_ms: u64,
    /// The capacity it was last filled to (a changed limit starts full again).
    capacity: u64,
}

const MINUTE_MS: f64 = 60_000.0;

impl Bucket {
    /// Refilled up to `now` for `capacity` per minute.
    fn refill(&mut self, capacity: u64, now_ms: u64) {
        if self.capacity != capacity {
            *self = Bucket {
                level: capacity as f64,
                at_ms: now_ms,
                capacity,
            };
            return;
        }
        let elapsed = now_ms.saturating_sub(self.at_ms) as f64;
        let cap = capacity as f64;
        self.level = (self.level + elapsed * cap / MINUTE_MS).min(cap);
        self.at_ms = self.at_ms.max(now_ms);
    }

    /// Ms until the level reaches `target`.
    fn ms_until(&self, target: f64) -> u64 {
        if self.level >= target || self.capacity == 0 {
            return 0;
        }
        ((target - self.level) * MINUTE_MS / self.capacity as f64).ceil() as u64
    }
}

/// One subject's state, as its Durable Object stores it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct State {
    requests: Bucket,
    tokens: Bucket,
    /// Days since the epoch (UTC) the day counters are for.
    day: u64,
    day_requests: u64,
    day_tokens: u64,
    /// Months since year 0 (`year * 12 + month - 1`) the month counters are for.
    month: u64,
    month_requests: u64,
    month_tokens: u64,
    month_usd: f64,
    reserved_tokens: u64,
    reserved_usd: f64,
}

impl State {
    /// Applies `op` and answers it.
    pub fn apply(&mut self, op: &Op) -> Reply {
        match *op {
            Op::Admit {
                limits,
                now_ms,
                estimate,
            } => self.admit(&limits, now_ms, estimate),
            Op::Record {
                limits,
                now_ms,
                reserved,
                used,
                cancelled,
            } => {
                self.roll(now_ms);
                if cancelled {
                    self.day_requests = self.day_requests.saturating_sub(1);
                    self.month_requests = self.month_requests.saturating_sub(1);
                    if let Some(rpm) = limits.rpm {
                        self.requests.refill(rpm, now_ms);
                        self.requests.level = (self.requests.level + 1.0).min(rpm as f64);
                    }
                }
                self.reserved_tokens = self.reserved_tokens.saturating_sub(reserved.tokens);
                self.reserved_usd = (self.reserved_usd - reserved.usd.max(0.0)).max(0.0);
                self.day_tokens = self.day_tokens.saturating_add(used.tokens);
                self.month_tokens = self.month_tokens.saturating_add(used.tokens);
                self.month_usd += used.usd.max(0.0);
                if let Some(tpm) = limits.tpm {
                    self.tokens.refill(tpm, now_ms);
                    self.tokens.level += reserved.tokens as f64 - used.tokens as f64;
                    self.tokens.level = self.tokens.level.min(tpm as f64);
                }
                self.reply(true, None, Amount::default(), &limits, now_ms)
            }
            Op::View { limits, now_ms } => {
                let mut copy = self.clone();
                copy.roll(now_ms);
                copy.refill(&limits, now_ms);
                copy.reply(true, None, Amount::default(), &limits, now_ms)
            }
        }
    }

    /// A new day or month starts from zero (reservations of the old one are dropped with it).
    fn roll(&mut self, now_ms: u64) {
        let day = calendar::day(now_ms);
        if day != self.day {
            self.day = day;
            self.day_requests = 0;
            self.day_tokens = 0;
            self.reserved_tokens = 0;
        }
        let month = calendar::month(now_ms);
        if month != self.month {
            self.month = month;
            self.month_requests = 0;
            self.month_tokens = 0;
            self.month_usd = 0.0;
            self.reserved_usd = 0.0;
        }
    }

    fn refill(&mut self, limits: &Limits, now_ms: u64) {
        if let Some(rpm) = limits.rpm {
            self.requests.refill(rpm, now_ms);
        }
        if let Some(tpm) = limits.tpm {
            self.tokens.refill(tpm, now_ms);
        }
    }

    fn admit(&mut self, limits: &Limits, now_ms: u64, estimate: Amount) -> Reply {
        self.roll(now_ms);
        self.refill(limits, now_ms);
        if let Some(refusal) = self.refusal(limits, now_ms) {
            return self.reply(false, Some(refusal), Amount::default(), limits, now_ms);
        }
        if limits.rpm.is_some() {
            self.requests.level -= 1.0;
        }
        if limits.tpm.is_some() {
            self.tokens.level -= estimate.tokens as f64;
        }
        self.day_requests = self.day_requests.saturating_add(1);
        self.month_requests = self.month_requests.saturating_add(1);
        self.reserved_tokens = self.reserved_tokens.saturating_add(estimate.tokens);
        self.reserved_usd += estimate.usd.max(0.0);
        self.reply(true, None, estimate, limits, now_ms)
    }

    /// The first limit a new request would break: budgets first (they last longest).
    fn refusal(&self, limits: &Limits, now_ms: u64) -> Option<Refusal> {
        if let Some(max) = limits.tokens_per_day {
            if self.day_tokens.saturating_add(self.reserved_tokens) >= max {
                let resets = calendar::next_day_ms(now_ms);
                return Some(Refusal {
                    kind: LimitKind::TokensPerDay,
                    retry_after_ms: resets.saturating_sub(now_ms),
                    resets_at_ms: Some(resets),
                });
            }
        }
        if let Some(max) = limits.usd_per_month {
            if self.month_usd + self.reserved_usd >= max {
                let resets = calendar::next_month_ms(now_ms);
                return Some(Refusal {
                    kind: LimitKind::UsdPerMonth,
                    retry_after_ms: resets.saturating_sub(now_ms),
                    resets_at_ms: Some(resets),
                });
            }
        }
        if limits.rpm.is_some() && self.requests.level < 1.0 {
            return Some(Refusal {
                kind: LimitKind::Rpm,
                retry_after_ms: self.requests.ms_until(1.0).max(1),
                resets_at_ms: None,
            });
        }
        if limits.tpm.is_some() && self.tokens.level <= 0.0 {
            return Some(Refusal {
                kind: LimitKind::Tpm,
                retry_after_ms: self.tokens.ms_until(1.0).max(1),
                resets_at_ms: None,
            });
        }
        None
    }

    fn reply(
        &self,
        admitted: bool,
        refusal: Option<Refusal>,
        reserved: Amount,
        limits: &Limits,
        now_ms: u64,
    ) -> Reply {
        let usage = Usage {
            limits: *limits,
            requests_today: self.day_requests,
            requests_this_month: self.month_requests,
            tokens_today: self.day_tokens,
            tokens_reserved: self.reserved_tokens,
            tokens_this_month: self.month_tokens,
            usd_this_month: self.month_usd,
            usd_reserved: self.reserved_usd,
            remaining_requests: limits
                .rpm
                .map(|_| self.requests.level.max(0.0).floor() as u64),
            reset_requests_ms: limits.rpm.map(|rpm| self.requests.ms_until(rpm as f64)),
            remaining_tokens: limits.tpm.map(|_| self.tokens.level.floor() as i64),
            reset_tokens_ms: limits.tpm.map(|tpm| self.tokens.ms_until(tpm as f64)),
            day_resets_at_ms: calendar::next_day_ms(now_ms),
            month_resets_at_ms: calendar::next_month_ms(now_ms),
        };
        Reply {
            admitted,
            refusal,
            reserved,
            usage,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: u64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z

    fn admit(s: &mut State, limits: Limits, now: u64, tokens: u64) -> Reply {
        s.apply(&Op::Admit {
            limits,
            now_ms: now,
            estimate: Amount { tokens, usd: 0.0 },
        })
    }

    #[test]
    fn rpm_admits_a_burst_then_one_per_interval() {
        let limits = Limits {
            rpm: Some(3),
            ..Limits::default()
        };
        let mut s = State::default();
        for i in 0..3 {
            let r = admit(&mut s, limits, T0, 0);
            assert!(r.admitted, "{i}");
            assert_eq!(r.usage.remaining_requests, Some(2 - i));
        }
        let r = admit(&mut s, limits, T0 + 1, 0);
        assert!(!r.admitted);
        let refusal = r.refusal.unwrap();
        assert_eq!(refusal.kind, LimitKind::Rpm);
        // One request refills every 20 s.
        assert!(
            (19_990..=20_000).contains(&refusal.retry_after_ms),
            "{refusal:?}"
        );
        assert!(admit(&mut s, limits, T0 + 20_000, 0).admitted);
        assert!(!admit(&mut s, limits, T0 + 20_001, 0).admitted);
        assert_eq!(
            s.apply(&Op::View {
                limits,
                now_ms: T0 + 20_001
            })
            .usage
            .requests_today,
            4
        );
    }

    #[test]
    fn tpm_reserves_the_estimate_and_settles_on_the_actual() {
        let limits = Limits {
            tpm: Some(1000),
            ..Limits::default()
        };
        let mut s = State::default();
        assert!(admit(&mut s, limits, T0, 800).admitted);
        assert!(
            admit(&mut s, limits, T0, 800).admitted,
            "still above zero (200)"
        );
        let r = admit(&mut s, limits, T0, 800);
        assert_eq!(r.refusal.unwrap().kind, LimitKind::Tpm);
        // Both used 100: 1600 reserved back, 200 spent.
        for _ in 0..2 {
            s.apply(&Op::Record {
                limits,
                now_ms: T0,
                reserved: Amount {
                    tokens: 800,
                    usd: 0.0,
                },
                used: Amount {
                    tokens: 100,
                    usd: 0.0,
                },
                cancelled: false,
            });
        }
        let v = s.apply(&Op::View { limits, now_ms: T0 });
        assert_eq!(v.usage.remaining_tokens, Some(800));
        assert_eq!(v.usage.tokens_today, 200);
        assert_eq!(v.usage.tokens_reserved, 0);
    }

    #[test]
    fn a_daily_token_budget_admits_until_usage_and_reservations_reach_it_then_resets() {
        let limits = Limits {
            tokens_per_day: Some(1000),
            ..Limits::default()
        };
        let mut s = State::default();
        // 10 concurrent requests of 100: exactly 10 admitted, the 11th refused.
        let admitted = (0..50)
            .filter(|_| admit(&mut s, limits, T0, 100).admitted)
            .count();
        assert_eq!(admitted, 10);
        let r = admit(&mut s, limits, T0, 100);
        let refusal = r.refusal.unwrap();
        assert_eq!(refusal.kind, LimitKind::TokensPerDay);
        assert!(refusal.kind.is_budget());
        assert_eq!(refusal.resets_at_ms, Some(T0 + 86_400_000));
        // The next UTC day starts from zero.
        assert!(admit(&mut s, limits, T0 + 86_400_000, 100).admitted);
    }

    #[test]
    fn a_monthly_usd_budget_counts_recorded_cost() {
        let limits = Limits {
            usd_per_month: Some(1.0),
            ..Limits::default()
        };
        let mut s = State::default();
        let est = Amount {
            tokens: 10,
            usd: 0.4,
        };
        for _ in 0..2 {
            assert!(
                s.apply(&Op::Admit {
                    limits,
                    now_ms: T0,
                    estimate: est
                })
                .admitted
            );
        }
        // 0.8 reserved: one more may start (it takes the budget past its limit, the bound).
        assert!(
            s.apply(&Op::Admit {
                limits,
                now_ms: T0,
                estimate: est
            })
            .admitted
        );
        assert!(
            !s.apply(&Op::Admit {
                limits,
                now_ms: T0,
                estimate: est
            })
            .admitted
        );
        for _ in 0..3 {
            s.apply(&Op::Record {
                limits,
                now_ms: T0,
                reserved: est,
                used: Amount {
                    tokens: 10,
                    usd: 0.1,
                },
                cancelled: false,
            });
        }
        let v = s.apply(&Op::View { limits, now_ms: T0 });
        assert!((v.usage.usd_this_month - 0.3).abs() < 1e-9);
        assert!(
            s.apply(&Op::Admit {
                limits,
                now_ms: T0,
                estimate: est
            })
            .admitted
        );
        // February resets it.
        let feb = T0 + 31 * 86_400_000;
        let v = s.apply(&Op::View {
            limits,
            now_ms: feb,
        });
        assert_eq!(v.usage.usd_this_month, 0.0);
        assert_eq!(v.usage.month_resets_at_ms, feb + 28 * 86_400_000);
    }

    #[test]
    fn a_cancelled_request_gives_its_request_back() {
        let limits = Limits {
            rpm: Some(1),
            ..Limits::default()
        };
        let mut s = State::default();
        let r = admit(&mut s, limits, T0, 5);
        assert!(r.admitted);
        assert!(!admit(&mut s, limits, T0, 5).admitted);
        s.apply(&Op::Record {
            limits,
            now_ms: T0,
            reserved: r.reserved,
            used: Amount::default(),
            cancelled: true,
        });
        let v = s.apply(&Op::View { limits, now_ms: T0 });
        assert_eq!((v.usage.requests_today, v.usage.tokens_reserved), (0, 0));
        assert!(admit(&mut s, limits, T0, 5).admitted);
    }

    #[test]
    fn no_limits_admits_everything_and_counts() {
        let mut s = State::default();
        for _ in 0..1000 {
            assert!(admit(&mut s, Limits::default(), T0, 5).admitted);
        }
        assert_eq!(
            s.apply(&Op::View {
                limits: Limits::default(),
                now_ms: T0
            })
            .usage
            .requests_today,
            1000
        );
    }

    #[test]
    fn a_changed_limit_starts_its_bucket_full_and_ops_round_trip_as_json() {
        let mut s = State::default();
        let three = Limits {
            rpm: Some(3),
            ..Limits::default()
        };
        for _ in 0..3 {
            admit(&mut s, three, T0, 0);
        }
        let five = Limits {
            rpm: Some(5),
            ..Limits::default()
        };
        assert!(admit(&mut s, five, T0, 0).admitted);
        let op = Op::Admit {
            limits: five,
            now_ms: T0,
            estimate: Amount {
                tokens: 1,
                usd: 0.5,
            },
        };
        let text = serde_json::to_string(&op).unwrap();
        assert_eq!(serde_json::from_str::<Op>(&text).unwrap(), op);
        let state = serde_json::to_string(&s).unwrap();
        assert_eq!(serde_json::from_str::<State>(&state).unwrap(), s);
    }
}
