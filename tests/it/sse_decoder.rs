//! The SSE decoder against the streams it will read: OpenAI's `chat.completion.chunk` events, cut
//! anywhere by the network, with any of the three line breaks; a hostile upstream that never ends
//! an event; and, as properties, arbitrary bytes in arbitrary splits and the crate's own encoder.
//!
//! The contract: however the bytes are cut, the same events (and the same error, and the same
//! "cut mid-event" answer) as from the body in one piece; an event over `MAX_SSE_EVENT_BYTES` is an
//! error before more than the cap and one read are held.

use crate::streams::split;
use std::fmt::Debug;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use edgeport::limits::MAX_SSE_EVENT_BYTES;
use edgeport::stream::sse;
use edgeport::stream::sse_decoder::{SseDecodeError, SseDecoder, SseEvent};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::{json, Value};

// ---- decoding ----

/// Everything a body decodes to.
#[derive(Debug, PartialEq)]
struct Decoded {
    events: Vec<SseEvent>,
    error: Option<SseDecodeError>,
    /// The body ended mid-event (`has_partial`, which `finish` returns too).
    partial: bool,
    last_event_id: String,
    retry: Option<u64>,
}

fn decode<'a>(pieces: impl IntoIterator<Item = &'a [u8]>) -> Decoded {
    let mut d = SseDecoder::new();
    let mut events = Vec::new();
    let mut error = None;
    'body: for piece in pieces {
        d.push(piece);
        loop {
            match d.next_event() {
                Ok(Some(event)) => events.push(event),
                Ok(None) => break,
                Err(err) => {
                    error = Some(err);
                    break 'body;
                }
            }
        }
        // At most one unfinished event, and an event is at most the cap.
        assert!(d.buffered() <= MAX_SSE_EVENT_BYTES, "{}", d.buffered());
    }
    let partial = d.has_partial();
    assert_eq!(d.finish(), partial);
    Decoded {
        events,
        error,
        partial,
        last_event_id: d.last_event_id().to_owned(),
        retry: d.retry(),
    }
}

fn whole(body: &[u8]) -> Decoded {
    decode([body])
}

/// A small deterministic generator for random cuts (xorshift64*), so a failure repeats.
struct Cuts(u64);

impl Cuts {
    fn next(&mut self, below: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let n = self.0.wrapping_mul(0x2545_F491_4F6C_DD1D);
        (n % below as u64) as usize + 1
    }

    fn sizes(&mut self, count: usize, max: usize) -> Vec<usize> {
        (0..count).map(|_| self.next(max)).collect()
    }
}

// ---- OpenAI's stream ----

fn chunk(delta: Value, finish_reason: Value) -> Value {
    json!({
        "id": "chatcmpl-Bcase0ZJ2X9hTnq3yK8Lp5vW7mR1s",
        "object": "chat.completion.chunk",
        "created": 1_750_000_000,
        "model": "gpt-4o-2024-08-06",
        "service_tier": "default",
        "system_fingerprint": "fp_07871e2ad8",
        "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish_reason}],
        "usage": null,
    })
}

/// The `data` of each event of a streamed chat completion with a tool call, `include_usage` set,
/// as OpenAI sends them: the role, text deltas (multi-byte characters among them), a tool call's
/// name and then its arguments in pieces, the finish reason, the usage chunk, `[DONE]`.
fn openai_events() -> Vec<String> {
    let mut chunks = vec![chunk(
        json!({"role": "assistant", "content": "", "refusal": null}),
        Value::Null,
    )];
    for text in [
        "Bonjour",
        " ! Ça",
        " va ?",
        " 💥 ",
        "日本語",
        "\n\n- «a»",
        " \"quoted\"\t\\",
    ] {
        chunks.push(chunk(json!({"content": text}), Value::Null));
    }
    chunks.push(chunk(
        json!({"tool_calls": [{"index": 0, "id": "call_Qz3bUo7m", "type": "function",
            "function": {"name": "get_weather", "arguments": ""}}]}),
        Value::Null,
    ));
    for args in ["{\"", "city", "\":\"", "Zürich", "\"}"] {
        chunks.push(chunk(
            json!({"tool_calls": [{"index": 0, "function": {"arguments": args}}]}),
            Value::Null,
        ));
    }
    chunks.push(chunk(json!({}), json!("tool_calls")));
    let mut usage = chunk(json!({}), Value::Null);
    usage["choices"] = json!([]);
    usage["usage"] = json!({
        "prompt_tokens": 81, "completion_tokens": 43, "total_tokens": 124,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0,
            "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0},
    });
    chunks.push(usage);
    let mut out: Vec<String> = chunks.iter().map(Value::to_string).collect();
    out.push("[DONE]".to_owned());
    out
}

/// The stream's bytes, each line ended with `eol`.
fn openai_body(eol: &str) -> Vec<u8> {
    let mut body = String::new();
    for data in openai_events() {
        body.push_str(&format!("data: {data}{eol}{eol}"));
    }
    body.into_bytes()
}

fn openai_decoded() -> Vec<SseEvent> {
    openai_events()
        .into_iter()
        .map(|data| SseEvent {
            event: None,
            data,
            id: None,
        })
        .collect()
}

#[test]
fn openai_stream_decodes_to_its_chunks() {
    let got = whole(&openai_body("\n"));
    assert_eq!(got.error, None);
    assert!(!got.partial);
    assert_eq!(got.events, openai_decoded());
    let (last, chunks) = got.events.split_last().unwrap();
    assert_eq!(last.data, "[DONE]");
    for event in chunks {
        let chunk: Value = serde_json::from_str(&event.data).unwrap();
        assert_eq!(chunk["object"], "chat.completion.chunk");
    }
    let text: String = chunks
        .iter()
        .filter_map(|e| {
            let chunk: Value = serde_json::from_str(&e.data).ok()?;
            chunk["choices"][0]["delta"]["content"]
                .as_str()
                .map(str::to_owned)
        })
        .collect();
    assert_eq!(text, "Bonjour ! Ça va ? 💥 日本語\n\n- «a» \"quoted\"\t\\");
}

#[test]
fn openai_stream_split_at_every_byte_offset() {
    let want = openai_decoded();
    for eol in ["\n", "\r\n", "\r"] {
        let body = openai_body(eol);
        for at in 0..=body.len() {
            let (a, b) = body.split_at(at);
            let got = decode([a, b]);
            assert!(got.error.is_none() && !got.partial, "{eol:?} at {at}");
            assert_eq!(got.events, want, "{eol:?} split at {at}");
        }
        let got = decode(body.chunks(1));
        assert_eq!(got.events, want, "{eol:?} byte by byte");
    }
}

#[test]
fn openai_stream_in_random_pieces() {
    let body = openai_body("\n");
    let want = whole(&body);
    let mut cuts = Cuts(0x5EED_F0A1);
    for round in 0..300 {
        let max = [3, 17, 64, 300, 2048][round % 5];
        let sizes = cuts.sizes(1 + round % 40, max);
        assert_eq!(decode(split(&body, &sizes)), want, "sizes {sizes:?}");
    }
}

#[test]
fn the_three_line_breaks_decode_alike() {
    let want = openai_decoded();
    for eol in ["\n", "\r\n", "\r"] {
        assert_eq!(whole(&openai_body(eol)).events, want, "{eol:?}");
    }
    // Mixed within one stream, line by line (never `\r` then `\n`: that is one line break).
    let pairs = [
        ("\n", "\r\n"),
        ("\r\n", "\r"),
        ("\r", "\r\n"),
        ("\n", "\r"),
        ("\r\n", "\n"),
        ("\r", "\r"),
    ];
    let mut body = Vec::new();
    for (data, (end, blank)) in openai_events().iter().zip(pairs.iter().cycle()) {
        body.extend_from_slice(format!("data: {data}{end}{blank}").as_bytes());
    }
    assert_eq!(whole(&body).events, want);
}

#[test]
fn a_split_inside_a_multibyte_character() {
    let body = openai_body("\n");
    for ch in ["Ç", "💥", "日", "ü", "«"] {
        let at = body
            .windows(ch.len())
            .position(|w| w == ch.as_bytes())
            .unwrap();
        for inside in 1..ch.len() {
            let (a, b) = body.split_at(at + inside);
            assert_eq!(decode([a, b]).events, openai_decoded(), "{ch} + {inside}");
            // And with the character's bytes one per push.
            let pieces = [&body[..at + 1], &body[at + 1..at + 2], &body[at + 2..]];
            assert_eq!(decode(pieces).events, openai_decoded(), "{ch}");
        }
    }
}

#[test]
fn a_stream_cut_mid_event_is_partial() {
    let body = openai_body("\n");
    let ends: Vec<usize> = (0..body.len())
        .filter(|&i| body[..i].ends_with(b"\n\n"))
        .collect();
    for cut in 1..body.len() {
        let got = whole(&body[..cut]);
        assert_eq!(got.partial, !ends.contains(&cut), "cut at {cut}");
        assert!(openai_decoded().starts_with(&got.events));
    }
}

// ---- a hostile upstream ----

/// Pushes `prefix` and then `piece` until the decoder fails; checks that it never holds more than
/// the cap plus one push, and fails within the cap plus one push.
fn fails_fast(prefix: &[u8], piece: &[u8]) -> SseDecodeError {
    let mut d = SseDecoder::new();
    d.push(prefix);
    assert_eq!(d.next_event().unwrap(), None);
    let mut pushed = prefix.len();
    loop {
        d.push(piece);
        pushed += piece.len();
        assert!(d.buffered() <= MAX_SSE_EVENT_BYTES + piece.len());
        match d.next_event() {
            Ok(Some(event)) => panic!("dispatched {} bytes", event.data.len()),
            Ok(None) => assert!(d.buffered() <= MAX_SSE_EVENT_BYTES),
            Err(err) => {
                assert!(
                    pushed <= prefix.len() + MAX_SSE_EVENT_BYTES + piece.len(),
                    "{pushed} bytes pushed before the error"
                );
                assert_eq!(d.buffered(), 0);
                assert!(err.to_string().contains("longer than"), "{err}");
                return err;
            }
        }
    }
}

#[test]
fn an_event_over_the_cap_fails_fast() {
    // A line that never ends, in reads of 64 KiB and of 1 byte short of the cap.
    fails_fast(b"data: ", &[b'x'; 64 * 1024]);
    fails_fast(b"data: ", &vec![b'x'; MAX_SSE_EVENT_BYTES - 1]);
    // Chunks that are each fine, with no blank line between them: one event growing.
    let line = format!("data: {}\n", openai_events()[1]);
    fails_fast(b"", line.as_bytes());
    // Comments alone, with no blank line: nothing to dispatch, still counted.
    fails_fast(b"", b": keep-alive\n");
    // After an error the decoder stays failed.
    let mut d = SseDecoder::new();
    d.push(&vec![b'x'; MAX_SSE_EVENT_BYTES + 1]);
    let err = d.next_event().unwrap_err();
    d.push(&openai_body("\n"));
    assert_eq!(d.next_event().unwrap_err(), err);
}

#[test]
fn events_before_an_oversized_one_still_come_out() {
    let mut body = openai_body("\n");
    let good = openai_decoded().len();
    body.extend_from_slice(b"data: ");
    body.extend(std::iter::repeat_n(b'x', MAX_SSE_EVENT_BYTES));
    body.extend_from_slice(b"\n\n");
    body.extend_from_slice(&openai_body("\n"));
    for sizes in [vec![], vec![1000], vec![64 * 1024, 7]] {
        let got = decode(split(&body, &sizes));
        assert_eq!(got.events.len(), good, "{sizes:?}");
        assert!(got.error.is_some());
    }
    // Just under the cap is an event like any other (a very large tool-call argument).
    let payload = "y".repeat(MAX_SSE_EVENT_BYTES - "data: \n".len());
    let body = format!("data: {payload}\n\ndata: [DONE]\n\n");
    let got = decode(split(body.as_bytes(), &[64 * 1024]));
    assert_eq!(got.error, None);
    assert_eq!(got.events.len(), 2);
    assert_eq!(got.events[0].data, payload);
}

// ---- properties ----

/// Runs `test` over `default_cases` inputs (or `PROPTEST_CASES`, as in `properties.rs`).
fn check<S>(name: &str, default_cases: u32, strategy: S, test: impl Fn(S::Value) -> TestResult)
where
    S: Strategy,
    S::Value: Debug,
{
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(default_cases);
    let config = Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    };
    let start = Instant::now();
    let mut runner = TestRunner::new(config);
    if let Err(e) = runner.run(&strategy, test) {
        panic!("property `{name}` failed: {e}");
    }
    eprintln!(
        "property {name}: {cases} cases passed in {:.2}s",
        start.elapsed().as_secs_f64()
    );
}

type TestResult = Result<(), TestCaseError>;

fn split_sizes() -> BoxedStrategy<Vec<usize>> {
    prop_oneof![
        vec(1usize..=4, 0..32),
        vec(1usize..=64, 0..16),
        vec(1usize..=2048, 0..4),
    ]
    .boxed()
}

/// Pieces of SSE, broken SSE and other bytes: field names with and without their colon and
/// space, the three line breaks, the BOM and parts of it, NUL, digits, invalid and cut UTF-8.
fn sse_bytes() -> BoxedStrategy<Vec<u8>> {
    let token = prop_oneof![
        4 => select(vec![
            &b"data"[..], b"data:", b"data: ", b"event: ", b"event:", b"id: ", b"id", b"retry: ",
            b"retry:", b":", b": ", b" ", b"\r", b"\n", b"\r\n", b"\n\n", b"\r\r", b"\xEF\xBB\xBF",
            b"\xEF\xBB", b"\0", b"42", b"x", b"[DONE]", b"{\"a\":1}", b"\xC3\xA9", b"\xF0\x9F\x92",
            b"\xFF", b"\xE2\x82\xAC", b"data: a\n\n", b"event: e\rdata: b\r\n\r\n", b"id: 7\n",
        ])
        .prop_map(<[u8]>::to_vec),
        1 => vec(any::<u8>(), 0..8),
    ];
    vec(token, 0..48).prop_map(|tokens| tokens.concat()).boxed()
}

#[test]
fn arbitrary_bytes_in_any_split_decode_as_whole() {
    let with_events = AtomicU64::new(0);
    check(
        "arbitrary_bytes_in_any_split_decode_as_whole",
        1024,
        (sse_bytes(), split_sizes()),
        |(body, sizes)| {
            let want = whole(&body);
            if !want.events.is_empty() {
                with_events.fetch_add(1, Ordering::Relaxed);
            }
            prop_assert_eq!(decode(split(&body, &sizes)), want);
            Ok(())
        },
    );
    // The strategy reaches past the line parser: many cases dispatch events.
    let with_events = with_events.load(Ordering::Relaxed);
    eprintln!("  {with_events} cases dispatched events");
    assert!(with_events > 0);
}

fn json_value() -> BoxedStrategy<Value> {
    let text = prop_oneof![
        any::<String>(),
        "[a\r\n\u{2028}é💥:\" \\\\]{0,12}",
        Just("[DONE]".to_owned()),
    ];
    let leaf = prop_oneof![
        text.clone().prop_map(Value::String),
        any::<i64>().prop_map(Value::from),
        any::<bool>().prop_map(Value::Bool),
        Just(Value::Null),
    ];
    leaf.prop_recursive(3, 16, 4, move |inner| {
        prop_oneof![
            vec(inner.clone(), 0..4).prop_map(Value::Array),
            vec((text.clone(), inner), 0..4)
                .prop_map(|fields| Value::Object(fields.into_iter().collect())),
        ]
    })
    .boxed()
}

#[test]
fn the_crates_encoder_decodes_back() {
    let name = prop_oneof![any::<String>(), "[a-z_\r\n :é]{0,10}"];
    let strategy = (
        vec((prop::option::of(name), json_value()), 1..6),
        any::<bool>(),
        split_sizes(),
    );
    check(
        "the_crates_encoder_decodes_back",
        512,
        strategy,
        |(events, done, sizes)| {
            let mut body = Vec::new();
            for (i, (name, value)) in events.iter().enumerate() {
                match name {
                    Some(name) => body.extend_from_slice(&sse::event(name, value)),
                    None if i % 2 == 0 => sse::write_data(&mut body, value),
                    None => body.extend_from_slice(&sse::data(value)),
                }
            }
            if done {
                body.extend_from_slice(sse::DONE);
            }
            let got = decode(split(&body, &sizes));
            prop_assert_eq!(&got.error, &None);
            prop_assert!(!got.partial);
            let mut want: Vec<SseEvent> = events
                .iter()
                .map(|(name, value)| SseEvent {
                    // The encoder leaves line breaks out of a name; an empty one is no type.
                    event: name
                        .as_deref()
                        .map(|n| n.replace(['\r', '\n'], ""))
                        .filter(|n| !n.is_empty()),
                    data: value.to_string(),
                    id: None,
                })
                .collect();
            if done {
                want.push(SseEvent {
                    data: "[DONE]".to_owned(),
                    ..SseEvent::default()
                });
            }
            prop_assert_eq!(got.events, want);
            Ok(())
        },
    );
}
