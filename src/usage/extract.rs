//! Token usage read from an answer, whichever API shaped it: the one place each API's usage
//! fields become [`Tokens`] (input without cache reads and writes, as Bedrock counts it).

use serde_json::Value;

use super::prices::Tokens;

fn n(v: &Value, path: &str) -> u64 {
    v.pointer(path).and_then(Value::as_u64).unwrap_or(0)
}

/// The `usage` of a JSON answer: a chat completion (`prompt_tokens`, which include cached and
/// cache-written tokens), an Anthropic message (`input_tokens` without them), or a Responses
/// `response` (`input_tokens` with them, `input_tokens_details`). `None` without usage.
pub fn from_answer(answer: &Value) -> Option<Tokens> {
    from_usage(answer.get("usage")?)
}

/// A `usage` object of any of those shapes (see [`from_answer`]).
pub fn from_usage(u: &Value) -> Option<Tokens> {
    if !u.is_object() {
        return None;
    }
    if u.get("prompt_tokens").is_some() {
        let cache_read = n(u, "/prompt_tokens_details/cached_tokens");
        let cache_write = n(u, "/cache_creation_input_tokens");
        return Some(Tokens {
            input: n(u, "/prompt_tokens")
                .saturating_sub(cache_read)
                .saturating_sub(cache_write),
            output: n(u, "/completion_tokens"),
            cache_read,
            cache_write,
            images: 0,
        });
    }
    if u.get("input_tokens_details").is_some() {
        let cache_read = n(u, "/input_tokens_details/cached_tokens");
        let cache_write = n(u, "/input_tokens_details/cache_write_tokens");
        return Some(Tokens {
            input: n(u, "/input_tokens")
                .saturating_sub(cache_read)
                .saturating_sub(cache_write),
            output: n(u, "/output_tokens"),
            cache_read,
            cache_write,
            images: 0,
        });
    }
    u.get("input_tokens")?;
    Some(Tokens {
        input: n(u, "/input_tokens"),
        output: n(u, "/output_tokens"),
        cache_read: n(u, "/cache_read_input_tokens"),
        cache_write: n(u, "/cache_creation_input_tokens"),
        images: 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn t(input: u64, output: u64, cache_read: u64, cache_write: u64) -> Option<Tokens> {
        Some(Tokens {
            input,
            output,
            cache_read,
            cache_write,
            images: 0,
        })
    }

    #[test]
    fn every_shape() {
        // edgeport's chat answer (Bedrock): prompt = input + reads + writes.
        let chat = json!({"usage": {"prompt_tokens": 1210, "completion_tokens": 5, "total_tokens": 1215,
            "prompt_tokens_details": {"cached_tokens": 1000}, "cache_read_input_tokens": 1000, "cache_creation_input_tokens": 200}});
        assert_eq!(from_answer(&chat), t(10, 5, 1000, 200));
        // OpenAI's own chat answer: no cache writes.
        let openai = json!({"usage": {"prompt_tokens": 100, "completion_tokens": 7, "prompt_tokens_details": {"cached_tokens": 64}}});
        assert_eq!(from_answer(&openai), t(36, 7, 64, 0));
        let messages = json!({"usage": {"input_tokens": 10, "output_tokens": 5, "cache_read_input_tokens": 1000, "cache_creation_input_tokens": 200}});
        assert_eq!(from_answer(&messages), t(10, 5, 1000, 200));
        let response = json!({"usage": {"input_tokens": 1210, "output_tokens": 5,
            "input_tokens_details": {"cached_tokens": 1000, "cache_write_tokens": 200}, "output_tokens_details": {"reasoning_tokens": 0}}});
        assert_eq!(from_answer(&response), t(10, 5, 1000, 200));
        assert_eq!(from_answer(&json!({"id": "x"})), None);
        assert_eq!(from_answer(&json!({"usage": null})), None);
        // Upstream numbers that do not add up never underflow.
        let odd = json!({"usage": {"prompt_tokens": 1, "completion_tokens": 1, "prompt_tokens_details": {"cached_tokens": 5}}});
        assert_eq!(from_answer(&odd), t(0, 1, 5, 0));
    }
}
