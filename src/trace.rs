//! Trace context, as Portkey and W3C spell it: `x-portkey-trace-id`, `x-portkey-span-id`,
//! `x-portkey-parent-span-id`, `x-portkey-span-name`, and `traceparent` / `tracestate` /
//! `baggage` (W3C Trace Context and Baggage). Read once per request; what is missing or invalid
//! is generated. The gateway's span is this request; each upstream attempt is a child span.
//!
//! Portkey's ids are free text; W3C's are hex of fixed length. The answer's `traceparent` always
//! carries W3C-valid ids: the caller's when they are valid, else ids derived from the caller's
//! Portkey ids (a SHA-256 prefix, so one Portkey trace id always maps to the same W3C trace id),
//! else new random ones.
//!
//! Why hand-written: the W3C `traceparent` and `baggage` grammars are a few lines each, and the
//! OpenTelemetry crates that parse them pull in a runtime this Worker does not have.

use sha2::{Digest, Sha256};

use crate::limits::{MAX_BAGGAGE_BYTES, MAX_BAGGAGE_MEMBERS, MAX_TRACESTATE_LEN, MAX_TRACE_ID_LEN};

/// The trace headers as sent (trimmed; empty = absent).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TraceHeaders {
    pub trace_id: Option<String>,
    pub span_id: Option<String>,
    pub parent_span_id: Option<String>,
    pub span_name: Option<String>,
    pub traceparent: Option<String>,
    pub tracestate: Option<String>,
    pub baggage: Option<String>,
}

/// One request's trace: who it belongs to and which span the gateway is.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceContext {
    /// Portkey's trace id (echoed as `x-portkey-trace-id`): the caller's, else the W3C one.
    pub trace_id: String,
    /// The gateway's span (Portkey's `x-portkey-span-id` when sent, else a W3C span id).
    pub span_id: String,
    pub parent_span_id: Option<String>,
    pub span_name: Option<String>,
    /// 32 lowercase hex digits, not all zero.
    pub w3c_trace_id: String,
    /// 16 lowercase hex digits, not all zero: the gateway's span in `traceparent`.
    pub w3c_span_id: String,
    /// `traceparent` flags (2 hex digits; `01` = sampled, the default).
    pub flags: String,
    /// The caller's `tracestate`, echoed unchanged.
    pub tracestate: Option<String>,
}

fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        && s.bytes().any(|b| b != b'0')
}

/// A Portkey id or name: printable ASCII, at most [`MAX_TRACE_ID_LEN`].
fn printable(v: Option<&str>) -> Option<String> {
    v.filter(|s| {
        s.len() <= MAX_TRACE_ID_LEN && s.bytes().all(|b| b.is_ascii_graphic() || b == b' ')
    })
    .map(str::to_owned)
}

/// `00-<trace-id>-<parent-id>-<flags>` → its parts (version 00 exactly; later versions are read
/// by their first four fields, as the spec asks).
pub fn parse_traceparent(v: &str) -> Option<(String, String, String)> {
    let mut parts = v.trim().split('-');
    let version = parts.next()?;
    let trace = parts.next()?;
    let parent = parts.next()?;
    let flags = parts.next()?;
    let valid_version = version.len() == 2
        && version != "ff"
        && version
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase());
    if !valid_version || (version == "00" && parts.next().is_some()) {
        return None;
    }
    let flags_ok = flags.len() == 2
        && flags
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    (is_hex(trace, 32) && is_hex(parent, 16) && flags_ok)
        .then(|| (trace.to_owned(), parent.to_owned(), flags.to_owned()))
}

/// `len` hex digits derived from `text` (never all zero).
fn derived(text: &str, len: usize) -> String {
    let digest = Sha256::digest(text.as_bytes());
    let mut out: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    out.truncate(len);
    if !is_hex(&out, len) {
        out.replace_range(len - 1.., "1");
    }
    out
}

/// `len` random hex digits (never all zero).
pub fn random_hex(len: usize) -> String {
    let mut bytes = [0u8; 16];
    // crypto.getRandomValues in the Worker does not fail; if it did, the id would still be valid.
    let _ = getrandom::fill(&mut bytes);
    let mut out: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    out.truncate(len);
    if !is_hex(&out, len) {
        out.replace_range(len - 1.., "1");
    }
    out
}

impl TraceContext {
    pub fn from_headers(h: &TraceHeaders) -> Self {
        let parent = h.traceparent.as_deref().and_then(parse_traceparent);
        let portkey_trace = printable(h.trace_id.as_deref());
        let w3c_trace_id = match (&portkey_trace, &parent) {
            (Some(t), _) if is_hex(t, 32) => t.clone(),
            // Portkey's trace id is the caller's name for the trace: it wins over traceparent's.
            (Some(t), _) => derived(t, 32),
            (None, Some((trace, _, _))) => trace.clone(),
            (None, None) => random_hex(32),
        };
        let span = printable(h.span_id.as_deref());
        let w3c_span_id = match &span {
            Some(s) if is_hex(s, 16) => s.clone(),
            Some(s) => derived(s, 16),
            None => random_hex(16),
        };
        TraceContext {
            trace_id: portkey_trace.unwrap_or_else(|| w3c_trace_id.clone()),
            span_id: span.unwrap_or_else(|| w3c_span_id.clone()),
            parent_span_id: printable(h.parent_span_id.as_deref())
                .or_else(|| parent.as_ref().map(|(_, p, _)| p.clone())),
            span_name: printable(h.span_name.as_deref()),
            w3c_trace_id,
            w3c_span_id,
            flags: parent.map_or_else(|| "01".to_owned(), |(_, _, f)| f),
            tracestate: h.tracestate.clone().filter(|t| {
                t.len() <= MAX_TRACESTATE_LEN && t.bytes().all(|b| (0x20..0x7f).contains(&b))
            }),
        }
    }

    /// The answer's `traceparent`: this trace, the gateway's span.
    pub fn traceparent(&self) -> String {
        format!(
            "00-{}-{}-{}",
            self.w3c_trace_id, self.w3c_span_id, self.flags
        )
    }
}

/// `baggage` members as (key, value) pairs, values percent-decoded; properties (`;...`) and
/// members that do not parse are left out. At most [`MAX_BAGGAGE_MEMBERS`]; a header over
/// [`MAX_BAGGAGE_BYTES`] is ignored whole.
pub fn parse_baggage(v: &str) -> Vec<(String, String)> {
    if v.len() > MAX_BAGGAGE_BYTES {
        return Vec::new();
    }
    let token = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
    };
    v.split(',')
        .filter_map(|member| {
            let kv = member.split(';').next()?;
            let (k, value) = kv.split_once('=')?;
            let (k, value) = (k.trim(), value.trim());
            let decoded = percent_decode(value)?;
            token(k).then(|| (k.to_owned(), decoded))
        })
        .take(MAX_BAGGAGE_MEMBERS)
        .collect()
}

/// `%XX` sequences decoded; `None` for a bad escape or bytes that are not UTF-8.
fn percent_decode(v: &str) -> Option<String> {
    let bytes = v.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = v.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> TraceHeaders {
        let get = |k: &str| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        };
        TraceHeaders {
            trace_id: get("trace"),
            span_id: get("span"),
            parent_span_id: get("parent"),
            span_name: get("name"),
            traceparent: get("traceparent"),
            tracestate: get("tracestate"),
            baggage: get("baggage"),
        }
    }

    #[test]
    fn traceparent_grammar() {
        let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        assert_eq!(
            parse_traceparent(tp),
            Some((
                "4bf92f3577b34da6a3ce929d0e0e4736".into(),
                "00f067aa0ba902b7".into(),
                "01".into()
            ))
        );
        for bad in [
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            "garbage",
        ] {
            assert_eq!(parse_traceparent(bad), None, "{bad}");
        }
        // A later version is read by its first four fields.
        assert!(
            parse_traceparent("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x")
                .is_some()
        );
    }

    #[test]
    fn w3c_in_w3c_out() {
        let t = TraceContext::from_headers(&headers(&[
            (
                "traceparent",
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00",
            ),
            ("tracestate", "vendor=x"),
        ]));
        assert_eq!(t.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(t.parent_span_id.as_deref(), Some("00f067aa0ba902b7"));
        assert_eq!(t.flags, "00");
        assert!(is_hex(&t.w3c_span_id, 16) && t.w3c_span_id != "00f067aa0ba902b7");
        assert_eq!(t.span_id, t.w3c_span_id);
        assert_eq!(t.tracestate.as_deref(), Some("vendor=x"));
        assert!(parse_traceparent(&t.traceparent()).is_some());
    }

    #[test]
    fn portkey_ids_win_and_map_to_stable_w3c_ids() {
        let h = headers(&[
            ("trace", "checkout-42"),
            ("span", "span-a"),
            ("parent", "root"),
            ("name", "summarize"),
            (
                "traceparent",
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            ),
        ]);
        let a = TraceContext::from_headers(&h);
        let b = TraceContext::from_headers(&h);
        assert_eq!(a.trace_id, "checkout-42");
        assert_eq!(a.span_id, "span-a");
        assert_eq!(a.parent_span_id.as_deref(), Some("root"));
        assert_eq!(a.span_name.as_deref(), Some("summarize"));
        assert_eq!(a.w3c_trace_id, b.w3c_trace_id);
        assert!(is_hex(&a.w3c_trace_id, 32) && is_hex(&a.w3c_span_id, 16));
        assert!(parse_traceparent(&a.traceparent()).is_some());
    }

    #[test]
    fn nothing_sent_means_new_valid_ids_and_bad_values_are_ignored() {
        let t = TraceContext::from_headers(&TraceHeaders::default());
        assert!(is_hex(&t.trace_id, 32) && t.trace_id == t.w3c_trace_id);
        assert!(t.parent_span_id.is_none() && t.flags == "01");
        let long = "x".repeat(MAX_TRACE_ID_LEN + 1);
        let t = TraceContext::from_headers(&headers(&[
            ("trace", &long),
            ("span", "a\u{7}b"),
            ("tracestate", &long.repeat(5)),
        ]));
        assert!(is_hex(&t.trace_id, 32));
        assert!(is_hex(&t.span_id, 16));
        assert!(t.tracestate.is_none());
    }

    #[test]
    fn baggage_members() {
        assert_eq!(
            parse_baggage(
                "team=blue, user id=x, env=prod%20eu;prop=1, bad, =v, k=%zz, k2=caf%C3%A9"
            ),
            vec![
                ("team".to_owned(), "blue".to_owned()),
                ("env".to_owned(), "prod eu".to_owned()),
                ("k2".to_owned(), "café".to_owned()),
            ]
        );
        let many: Vec<String> = (0..200).map(|i| format!("k{i}=v")).collect();
        assert_eq!(parse_baggage(&many.join(",")).len(), MAX_BAGGAGE_MEMBERS);
        assert!(parse_baggage(&"k=v,".repeat(MAX_BAGGAGE_BYTES)).is_empty());
    }
}
