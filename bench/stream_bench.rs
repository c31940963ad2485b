//! Streaming micro-benchmark: Bedrock event-stream decode + ConverseStream → OpenAI chunk mapping +
//! SSE encoding, over every recorded ConverseStream body in `fixtures/recorded/`.
//!
//! Run: `cargo bench --bench stream_bench` (optionally `-- <max rounds> <max seconds>`).
//! It builds with the release profile (opt-level "z", LTO: the settings the Worker ships with).
//! Not part of `cargo test` or CI. Reports input MB/s, ns per event (one event = one decoded
//! frame) and heap allocations per event, counted by a `#[global_allocator]` around `System`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../tests/it/common/streams.rs"]
mod streams;

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use edgeport::providers::bedrock::stream::{
    finish, openai_sse, process_frame, ConverseStreamState, StreamContext,
};
use edgeport::stream::eventstream::FrameDecoder;
use edgeport::stream::sse;
use futures_util::StreamExt;
use streams::{byte_stream, pieces_of, recorded_streams};

struct Counting;

static ALLOCS: AtomicU64 = AtomicU64::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn ctx(strict: bool) -> StreamContext {
    StreamContext {
        id: "chatcmpl-bench0123456789".to_owned(),
        created: 1_750_000_000,
        model: "us.anthropic.claude-sonnet-4-5".to_owned(),
        strict,
        include_usage: true,
    }
}

/// Decoding only.
fn decode_only(bodies: &[Vec<u8>]) -> usize {
    let mut out = 0;
    for body in bodies {
        let mut d = FrameDecoder::new();
        d.push(body);
        while let Some(f) = d.next_frame().unwrap() {
            out += f.payload.len();
        }
    }
    out
}

/// Decode + map + encode, synchronously (the pure core without the async driver).
fn pure_core(bodies: &[Vec<u8>], strict: bool) -> usize {
    let ctx = ctx(strict);
    let mut out = 0;
    for body in bodies {
        let mut d = FrameDecoder::new();
        let mut state = ConverseStreamState::new();
        d.push(body);
        while let Some(f) = d.next_frame().unwrap() {
            let chunks = process_frame(&f, &mut state, &ctx).unwrap();
            let mut buf = Vec::new();
            for c in &chunks {
                sse::write_data(&mut buf, c);
            }
            out += buf.len();
        }
        out += finish(&mut state, &ctx).len();
    }
    out
}

/// The real driver (`openai_sse`), body delivered in reads of `read` bytes.
fn driver(pieces: &[Vec<Result<Bytes, String>>], strict: bool) -> usize {
    let mut out = 0;
    for p in pieces {
        let p = p.clone();
        out += futures_executor::block_on(async {
            let s = openai_sse(byte_stream(p), ctx(strict)).await.unwrap();
            s.fold(0, |n, b| async move { n + b.len() }).await
        });
    }
    out
}

struct Row {
    name: String,
    rounds: u64,
    elapsed: Duration,
    allocs: u64,
}

fn measure(name: &str, max_rounds: u64, max_time: Duration, mut f: impl FnMut() -> usize) -> Row {
    black_box(f()); // warm up
    let start = Instant::now();
    let allocs_before = ALLOCS.load(Ordering::Relaxed);
    let mut rounds = 0;
    while rounds < max_rounds && start.elapsed() < max_time {
        black_box(f());
        rounds += 1;
    }
    Row {
        name: name.to_owned(),
        rounds,
        elapsed: start.elapsed(),
        allocs: ALLOCS.load(Ordering::Relaxed) - allocs_before,
    }
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let max_rounds: u64 = args.first().and_then(|a| a.parse().ok()).unwrap_or(2_000);
    let max_secs: f64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(2.0);
    let max_time = Duration::from_secs_f64(max_secs);

    let streams = recorded_streams();
    let bodies: Vec<Vec<u8>> = streams.iter().map(|s| s.body.clone()).collect();
    let bytes: usize = bodies.iter().map(Vec::len).sum();
    let events: usize = bodies
        .iter()
        .map(|b| {
            let mut d = FrameDecoder::new();
            d.push(b);
            std::iter::from_fn(|| d.next_frame().unwrap()).count()
        })
        .sum();
    println!(
        "{} recorded ConverseStream bodies, {} bytes, {} events per round (≤{max_rounds} rounds, ≤{max_secs}s per row)\n",
        bodies.len(),
        bytes,
        events
    );

    let whole: Vec<_> = bodies.iter().map(|b| pieces_of(b, [b.len()])).collect();
    let reads_1k: Vec<_> = bodies
        .iter()
        .map(|b| pieces_of(b, std::iter::repeat(1024)))
        .collect();
    let reads_64: Vec<_> = bodies
        .iter()
        .map(|b| pieces_of(b, std::iter::repeat(64)))
        .collect();

    let rows = [
        measure("decode only", max_rounds, max_time, || decode_only(&bodies)),
        measure("decode+map+encode, strict", max_rounds, max_time, || {
            pure_core(&bodies, true)
        }),
        measure(
            "decode+map+encode, not strict",
            max_rounds,
            max_time,
            || pure_core(&bodies, false),
        ),
        measure("openai_sse, whole body", max_rounds, max_time, || {
            driver(&whole, false)
        }),
        measure("openai_sse, 1 KiB reads", max_rounds, max_time, || {
            driver(&reads_1k, false)
        }),
        measure("openai_sse, 64 B reads", max_rounds, max_time, || {
            driver(&reads_64, false)
        }),
    ];

    println!(
        "{:<32} {:>7} {:>10} {:>12} {:>14}",
        "scenario", "rounds", "MB/s", "ns/event", "allocs/event"
    );
    for r in rows {
        let secs = r.elapsed.as_secs_f64();
        let total_events = (events as u64 * r.rounds) as f64;
        println!(
            "{:<32} {:>7} {:>10.1} {:>12.0} {:>14.1}",
            r.name,
            r.rounds,
            (bytes as f64 * r.rounds as f64) / secs / 1e6,
            secs * 1e9 / total_events,
            r.allocs as f64 / total_events,
        );
    }
}
