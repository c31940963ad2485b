//! Stored prompts: chat-completion templates in KV at `prompt:<id>` (plain JSON, no secrets),
//! rendered with the caller's `variables`.
//!
//! Placeholders are mustache-style `{{name}}` (spaces inside the braces allowed; `{{{name}}}` and
//! `{{& name}}` mean the same, since nothing is HTML-escaped: the text goes to a model, not a
//! page). Names are letters, digits, `_`, `-` and `.` (a dotted name is one variable, not a path).
//! Sections, inverted sections, partials, comments and delimiter changes are not supported: a
//! template holding one fails closed. Any other `{{` is literal text; a literal `{{name}}` cannot
//! be produced. Values are inserted verbatim and never re-scanned.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::{ErrorCode, ErrorKind, GatewayError, Result};
use crate::limits::MAX_REQUEST_BODY_BYTES;
use crate::platform::Kv;

pub const PROMPT_SCHEMA: u32 = 1;

pub fn prompt_key(id: &str) -> String {
    format!("prompt:{id}")
}

/// A prompt id: letters, digits, `-` and `_`.
pub fn valid_prompt_id(id: &str) -> bool {
    crate::catalog::valid_slug(id)
}

/// A prompt as stored.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct StoredPrompt {
    pub schema: u32,
    pub template: PromptTemplate,
}

/// A chat-completions body with placeholders in its messages.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PromptTemplate {
    /// Chat-completion messages; placeholders are rendered in their text.
    pub messages: Vec<Value>,
    /// A Bedrock model id, or `@slug/model-id`.
    pub model: String,
    /// `@slug`: used as `x-portkey-provider` when the caller sends none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// Other chat-completion fields (`max_tokens`, `temperature`, `tools`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub params: Option<Map<String, Value>>,
}

/// Why a record cannot be used: a 500 for the caller, and the same words in the operator's log.
fn invalid_record(id: &str, why: &str) -> GatewayError {
    GatewayError::internal(format!(
        "the stored prompt `{id}` cannot be used ({why}); ask the operator to re-save it"
    ))
    .with_code(ErrorCode::PromptRecordInvalid)
}

fn not_found(id: &str) -> GatewayError {
    GatewayError::not_found(format!(
        "no stored prompt `{id}`; prompt ids are letters, digits, - and _ (README: Stored prompts)"
    ))
    .with_code(ErrorCode::PromptNotFound)
}

/// Reads and checks `prompt:<id>`. Unknown → 404; a record that does not parse, has another
/// schema, or holds an unsupported template → 500 (fails closed).
pub async fn load_prompt<K: Kv>(kv: &K, id: &str) -> Result<PromptTemplate> {
    if !valid_prompt_id(id) {
        return Err(not_found(id));
    }
    let raw = kv
        .get(&prompt_key(id))
        .await
        .map_err(|_| {
            GatewayError::new(
                503,
                ErrorKind::Overloaded,
                "the prompt catalog is unavailable; retry shortly",
            )
        })?
        .ok_or_else(|| not_found(id))?;
    parse_record(id, &raw)
}

/// Parses and checks a stored record (also what `add-prompt` checks before writing).
pub fn parse_record(id: &str, raw: &str) -> Result<PromptTemplate> {
    let value: Value =
        serde_json::from_str(raw).map_err(|_| invalid_record(id, "not valid JSON"))?;
    match value.get("schema").and_then(Value::as_u64) {
        Some(s) if s == u64::from(PROMPT_SCHEMA) => {}
        Some(s) => {
            return Err(invalid_record(
                id,
                &format!("schema {s} is not {PROMPT_SCHEMA}"),
            ))
        }
        None => return Err(invalid_record(id, "no schema")),
    }
    let stored: StoredPrompt = serde_json::from_value(value)
        .map_err(|e| invalid_record(id, &format!("not a prompt record: {e}")))?;
    let t = stored.template;
    if t.messages.is_empty() {
        return Err(invalid_record(id, "template.messages is empty"));
    }
    if t.model.trim().is_empty() {
        return Err(invalid_record(id, "template.model is empty"));
    }
    if let Some(p) = &t.provider {
        if !p.strip_prefix('@').is_some_and(crate::catalog::valid_slug) {
            return Err(invalid_record(id, "template.provider must be `@slug`"));
        }
    }
    for reserved in ["messages", "model", "variables"] {
        if t.params.as_ref().is_some_and(|p| p.contains_key(reserved)) {
            return Err(invalid_record(
                id,
                &format!("template.params must not hold `{reserved}`"),
            ));
        }
    }
    for (i, m) in t.messages.iter().enumerate() {
        if !m.is_object() {
            return Err(invalid_record(
                id,
                &format!("template.messages[{i}] is not an object"),
            ));
        }
        for text in texts(m) {
            if let Some(tag) = scan(text).into_iter().find_map(|p| match p {
                Piece::Unsupported(tag) => Some(tag),
                _ => None,
            }) {
                return Err(invalid_record(
                    id,
                    &format!("template.messages[{i}] uses `{{{{{tag}`: sections, partials, comments and delimiter changes are not supported"),
                ));
            }
        }
    }
    Ok(t)
}

/// The strings of a message that hold placeholders: string content and `text` parts.
fn texts(message: &Value) -> Vec<&str> {
    match message.get("content") {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(parts)) => parts
            .iter()
            .filter(|p| p.get("type").and_then(Value::as_str) == Some("text"))
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect(),
        _ => Vec::new(),
    }
}

fn texts_mut(message: &mut Value) -> Vec<&mut String> {
    match message.get_mut("content") {
        Some(Value::String(s)) => vec![s],
        Some(Value::Array(parts)) => parts
            .iter_mut()
            .filter(|p| p.get("type").and_then(Value::as_str) == Some("text"))
            .filter_map(|p| match p.get_mut("text") {
                Some(Value::String(s)) => Some(s),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

#[derive(Debug, PartialEq)]
enum Piece<'a> {
    Text(&'a str),
    Var(&'a str),
    /// A mustache tag edgeport does not implement (`#`, `^`, `/`, `>`, `!`, `=`).
    Unsupported(char),
}

fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.')
}

/// Splits a template string into literal text and placeholders.
fn scan(s: &str) -> Vec<Piece<'_>> {
    let mut out = Vec::new();
    let mut literal_from = 0;
    let mut i = 0;
    let bytes = s.as_bytes();
    let mut brace = NextBrace::default();
    while let Some(off) = s[i..].find("{{") {
        let open = i + off;
        match placeholder_at(s, open, &mut brace) {
            Some((piece, end)) => {
                if literal_from < open {
                    out.push(Piece::Text(&s[literal_from..open]));
                }
                out.push(piece);
                literal_from = end;
                i = end;
            }
            None => i = open + 1,
        }
        if i >= bytes.len() {
            break;
        }
    }
    if literal_from < s.len() {
        out.push(Piece::Text(&s[literal_from..]));
    }
    out
}

/// The first `}` at or after a position, remembered: [`scan`] asks with rising positions, so a
/// template full of unclosed `{{#` is searched once instead of once per tag.
#[derive(Default)]
struct NextBrace {
    /// `(from, found)`: the first `}` at or after `from` is `found`.
    last: Option<(usize, Option<usize>)>,
}

impl NextBrace {
    fn find(&mut self, s: &str, from: usize) -> Option<usize> {
        if let Some((searched, found)) = self.last {
            // Still the answer when no `}` can lie between `from` and `found`.
            if from >= searched && found.is_none_or(|f| f >= from) {
                return found;
            }
        }
        let found = s.get(from..)?.find('}').map(|o| from + o);
        self.last = Some((from, found));
        found
    }
}

/// A placeholder starting at `open` (which holds `{{`): the piece and the byte after it.
fn placeholder_at<'a>(
    s: &'a str,
    open: usize,
    brace: &mut NextBrace,
) -> Option<(Piece<'a>, usize)> {
    let b = s.as_bytes();
    let mut j = open + 2;
    let triple = b.get(j) == Some(&b'{');
    if triple {
        j += 1;
    }
    while b.get(j) == Some(&b' ') {
        j += 1;
    }
    if !triple {
        match b.get(j) {
            Some(c @ (b'#' | b'^' | b'/' | b'>' | b'!' | b'=')) => {
                // Only a well-formed tag counts (`{{# x }}`, no `}` inside); `{{#` in prose
                // stays literal. scripts/catalog-lib.mjs refuses the same shapes.
                let close = brace.find(s, j)?;
                return s[close..]
                    .starts_with("}}")
                    .then(|| (Piece::Unsupported(char::from(*c)), close + 2));
            }
            Some(b'&') => {
                j += 1;
                while b.get(j) == Some(&b' ') {
                    j += 1;
                }
            }
            _ => {}
        }
    }
    let start = j;
    while b.get(j).copied().is_some_and(is_name_byte) {
        j += 1;
    }
    if j == start {
        return None;
    }
    let name = &s[start..j];
    while b.get(j) == Some(&b' ') {
        j += 1;
    }
    let close: &[u8] = if triple { b"}}}" } else { b"}}" };
    b.get(j..j + close.len())
        .filter(|c| *c == close)
        .map(|_| (Piece::Var(name), j + close.len()))
}

/// A variable's text: strings as they are, numbers and booleans printed, objects and arrays as
/// JSON. `null` counts as missing.
fn value_text(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        Value::Bool(_) | Value::Number(_) | Value::Array(_) | Value::Object(_) => {
            Some(v.to_string())
        }
    }
}

fn too_large() -> GatewayError {
    GatewayError::new(
        413,
        ErrorKind::TooLarge,
        format!("the rendered prompt would be larger than {MAX_REQUEST_BODY_BYTES} bytes, the request body limit; send shorter variables"),
    )
    .with_param("variables")
    .with_code(ErrorCode::PromptTooLarge)
}

/// Renders the template's messages with `variables`. A placeholder whose variable is missing (or
/// null) → 400 naming `variables.<name>` (the first one; the message lists all).
///
/// The rendered texts together may not exceed [`MAX_REQUEST_BODY_BYTES`] (413): a variable used
/// many times would otherwise multiply the caller's bytes without bound.
pub fn render_messages(
    template: &PromptTemplate,
    variables: &Map<String, Value>,
) -> Result<Vec<Value>> {
    let mut messages = template.messages.clone();
    let mut missing: Vec<String> = Vec::new();
    let mut missing_seen: HashSet<String> = HashSet::new();
    // Each variable's text, made once however often it is used.
    let mut values: HashMap<String, Option<String>> = HashMap::new();
    let mut total: usize = 0;
    for m in &mut messages {
        for text in texts_mut(m) {
            let mut out = String::with_capacity(text.len());
            for piece in scan(text) {
                let add = match piece {
                    Piece::Text(t) => t,
                    Piece::Var(name) => {
                        if !values.contains_key(name) {
                            let text = variables.get(name).and_then(value_text);
                            values.insert(name.to_owned(), text);
                        }
                        match values.get(name).and_then(Option::as_deref) {
                            Some(v) => v,
                            None => {
                                if missing_seen.insert(name.to_owned()) {
                                    missing.push(name.to_owned());
                                }
                                ""
                            }
                        }
                    }
                    // parse_record refused these already.
                    Piece::Unsupported(_) => "",
                };
                total = total.saturating_add(add.len());
                if total > MAX_REQUEST_BODY_BYTES {
                    return Err(too_large());
                }
                out.push_str(add);
            }
            *text = out;
        }
    }
    if let Some(first) = missing.first() {
        let list: Vec<String> = missing.iter().map(|n| format!("`{n}`")).collect();
        return Err(GatewayError::invalid_param(
            &format!("variables.{first}"),
            format!(
                "the prompt needs variables {} (missing or null in `variables`)",
                list.join(", ")
            ),
        )
        .with_code(ErrorCode::MissingVariable));
    }
    Ok(messages)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scans_placeholders_and_literals() {
        assert_eq!(
            scan("a {{x}} b {{ y }} {{{z}}} {{& w}}"),
            vec![
                Piece::Text("a "),
                Piece::Var("x"),
                Piece::Text(" b "),
                Piece::Var("y"),
                Piece::Text(" "),
                Piece::Var("z"),
                Piece::Text(" "),
                Piece::Var("w"),
            ]
        );
        assert_eq!(
            scan("{{ }} {{a b}} {{"),
            vec![Piece::Text("{{ }} {{a b}} {{")]
        );
        assert_eq!(scan("{{{x}}"), vec![Piece::Text("{"), Piece::Var("x")]);
        assert_eq!(scan("{{#list}}"), vec![Piece::Unsupported('#')]);
        assert_eq!(scan("{{ /list }}"), vec![Piece::Unsupported('/')]);
        assert_eq!(scan("{{#a}b}}"), vec![Piece::Text("{{#a}b}}")]);
        assert_eq!(
            scan("é{{x}}é"),
            vec![Piece::Text("é"), Piece::Var("x"), Piece::Text("é")]
        );
    }
}
