//! The one stream loop every streamed answer shares: read the upstream body, decode frames as
//! bytes arrive (AWS event-stream frames, server-sent events: any [`Decoder`]), and yield each
//! frame's encoded output at once. The mapping (frame → items) and the encoding belong to an
//! [`SseMapper`]; this loop only does I/O and the failure rules, and it raises the "ended in
//! error" flag itself.

use std::cell::Cell;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::{Stream, StreamExt};

use crate::error::{ErrorCode, ErrorKind, GatewayError};
use crate::platform::{ByteStream, EndSignal};
use crate::usage::prices::Tokens;

/// SSE bytes for the caller, and whether the stream ended with an in-stream error (set by the
/// driver when it reports one; read by the gateway's log line). Not `Send`: the Worker is
/// single-threaded.
pub struct SseStream {
    bytes: Pin<Box<dyn Stream<Item = Bytes>>>,
    failed: Rc<Cell<bool>>,
    /// The answer's token usage as far as the stream got (set by the driver from its mapper).
    usage: Rc<Cell<Option<Tokens>>>,
    /// Fired when whatever runs at the stream's end has run (see [`EndSignal`]).
    ended: Option<EndSignal>,
}

impl SseStream {
    /// Whether an in-stream error was sent.
    pub fn failed(&self) -> bool {
        self.failed.get()
    }

    /// The token usage the upstream reported so far (all of it once the stream ended).
    pub fn usage(&self) -> Option<Tokens> {
        self.usage.get()
    }

    /// A stream wrapped around this one (a logger, an adapter) that keeps its error flag, usage
    /// and end signal.
    pub fn wrap(self, f: impl FnOnce(Self) -> Pin<Box<dyn Stream<Item = Bytes>>>) -> Self {
        let failed = self.failed.clone();
        let usage = self.usage.clone();
        let ended = self.ended.clone();
        SseStream {
            bytes: f(self),
            failed,
            usage,
            ended,
        }
    }

    /// This stream fires `signal` when it is over (the one who fires it says so).
    pub fn with_end_signal(mut self, signal: EndSignal) -> Self {
        self.ended = Some(signal);
        self
    }

    /// What the runtime should wait for after the answer is sent, if anything.
    pub fn end_signal(&self) -> Option<EndSignal> {
        self.ended.clone()
    }

    /// Bytes that never report an in-stream error (cached answers, tests).
    pub fn from_bytes(bytes: Pin<Box<dyn Stream<Item = Bytes>>>) -> Self {
        SseStream {
            bytes,
            failed: Rc::new(Cell::new(false)),
            usage: Rc::new(Cell::new(None)),
            ended: None,
        }
    }
}

impl Stream for SseStream {
    type Item = Bytes;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        self.bytes.as_mut().poll_next(cx)
    }
}

/// Turns bytes into frames, incrementally: a network read may end anywhere.
pub trait Decoder: Default {
    type Frame;
    type Error: std::fmt::Display;
    fn push(&mut self, bytes: &[u8]);
    /// The next whole frame, `Ok(None)` when more bytes are needed.
    fn next_frame(&mut self) -> Result<Option<Self::Frame>, Self::Error>;
    /// Bytes of an unfinished frame are buffered (a body ending now was cut mid-frame).
    fn has_partial(&self) -> bool;
}

impl Decoder for crate::stream::eventstream::FrameDecoder {
    type Frame = crate::stream::eventstream::Frame;
    type Error = crate::stream::eventstream::DecodeError;
    fn push(&mut self, bytes: &[u8]) {
        crate::stream::eventstream::FrameDecoder::push(self, bytes)
    }
    fn next_frame(&mut self) -> Result<Option<Self::Frame>, Self::Error> {
        crate::stream::eventstream::FrameDecoder::next_frame(self)
    }
    fn has_partial(&self) -> bool {
        crate::stream::eventstream::FrameDecoder::has_partial(self)
    }
}

impl Decoder for crate::stream::sse_decoder::SseDecoder {
    type Frame = crate::stream::sse_decoder::SseEvent;
    type Error = crate::stream::sse_decoder::SseDecodeError;
    fn push(&mut self, bytes: &[u8]) {
        crate::stream::sse_decoder::SseDecoder::push(self, bytes)
    }
    fn next_frame(&mut self) -> Result<Option<Self::Frame>, Self::Error> {
        self.next_event()
    }
    fn has_partial(&self) -> bool {
        crate::stream::sse_decoder::SseDecoder::has_partial(self)
    }
}

/// How a stream failed, in terms that name no provider: the provider's name is added when it
/// becomes the caller's error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamFailure {
    /// A frame that cannot be decoded (CRC mismatch, malformed, over the size cap).
    Corrupt(String),
    /// The body ended mid-frame or before the stop event, or the connection failed or went idle.
    Interrupted(String),
}

impl StreamFailure {
    pub fn into_error(self, upstream: &str) -> GatewayError {
        match self {
            StreamFailure::Corrupt(why) => GatewayError::new(
                502,
                ErrorKind::Upstream,
                format!("{upstream} stream is corrupt: {why}"),
            )
            .with_code(ErrorCode::UpstreamStreamCorrupt),
            StreamFailure::Interrupted(why) => GatewayError::new(
                502,
                ErrorKind::Upstream,
                format!("{upstream} stream was interrupted: {why}"),
            )
            .with_code(ErrorCode::UpstreamStreamInterrupted),
        }
    }
}

/// Turns decoded frames into one caller API's SSE.
pub trait SseMapper {
    type Decoder: Decoder;
    type Item;
    /// The upstream's name in error messages (`Bedrock`, `OpenAI`).
    const UPSTREAM: &'static str;
    /// The upstream event that ends a complete answer (for the "ended before ..." error).
    const STOP_EVENT: &'static str;

    /// One decoded frame → the items it yields (pure; exceptions are `Err`).
    fn map_frame(
        &mut self,
        frame: &<Self::Decoder as Decoder>::Frame,
    ) -> Result<Vec<Self::Item>, GatewayError>;
    /// The SSE bytes of `items`.
    fn encode(&self, items: &[Self::Item]) -> Vec<u8>;
    /// Whether the upstream's stop event has been seen.
    fn finished(&self) -> bool;
    /// What follows a clean end (trailing items, a terminator); may be empty.
    fn end(&mut self) -> Vec<u8>;
    /// What a failure after the first bytes becomes: an in-stream error, and the stream's end.
    fn fail(&mut self, err: &GatewayError) -> Vec<u8>;
    /// The token usage the upstream reported so far (for the log line and cost).
    fn usage(&self) -> Option<Tokens> {
        None
    }
}

fn failure<M: SseMapper>(f: StreamFailure) -> GatewayError {
    f.into_error(M::UPSTREAM)
}

/// Reads `body` until the first frame that yields output, so that a stream opening with an
/// exception (or a body failing before any event) is an `Err` the caller answers as a real HTTP
/// error. After that, every failure is reported in-stream by the mapper, and nothing is read
/// after it. Each decoded frame's bytes are yielded as soon as it is decoded.
pub async fn sse_stream<M: SseMapper + 'static>(
    mut body: ByteStream,
    mut mapper: M,
) -> Result<SseStream, GatewayError> {
    let mut decoder = M::Decoder::default();
    let first = loop {
        match decoder.next_frame() {
            Ok(Some(frame)) => {
                let items = mapper.map_frame(&frame)?;
                if items.is_empty() {
                    continue;
                }
                break items;
            }
            Ok(None) => {}
            Err(err) => return Err(failure::<M>(StreamFailure::Corrupt(err.to_string()))),
        }
        match body.next().await {
            Some(Ok(bytes)) => decoder.push(&bytes),
            Some(Err(err)) => return Err(failure::<M>(StreamFailure::Interrupted(err))),
            None if decoder.has_partial() => {
                return Err(failure::<M>(StreamFailure::Interrupted(
                    "the body ended in the middle of a frame".into(),
                )))
            }
            // A complete answer without any output of its own (only its stop event): its end.
            None if mapper.finished() => {
                let end = Bytes::from(mapper.end());
                let stream = SseStream::from_bytes(Box::pin(futures_util::stream::iter(
                    (!end.is_empty()).then_some(end),
                )));
                stream.usage.set(mapper.usage());
                return Ok(stream);
            }
            None => {
                return Err(failure::<M>(StreamFailure::Interrupted(
                    "the body ended before any event".into(),
                )))
            }
        }
    };
    let first = mapper.encode(&first);
    let failed = Rc::new(Cell::new(false));
    let usage = Rc::new(Cell::new(mapper.usage()));
    let driver = Driver {
        body,
        decoder,
        mapper,
        first,
        done: false,
        failed: failed.clone(),
        usage: usage.clone(),
    };
    let bytes = futures_util::stream::unfold(driver, |mut d| async move {
        let bytes = d.next_bytes().await?;
        Some((bytes, d))
    });
    Ok(SseStream {
        bytes: Box::pin(bytes),
        failed,
        usage,
        ended: None,
    })
}

struct Driver<M: SseMapper> {
    body: ByteStream,
    decoder: M::Decoder,
    mapper: M,
    /// The first frame's output (read before the answer's status was chosen), not yet yielded.
    first: Vec<u8>,
    done: bool,
    failed: Rc<Cell<bool>>,
    usage: Rc<Cell<Option<Tokens>>>,
}

impl<M: SseMapper> Driver<M> {
    /// The output of every frame already decodable, as one piece: frames that arrived in the same
    /// read reach the caller together (one write through the runtime instead of one per frame,
    /// and none of them waits), then the next read.
    async fn next_bytes(&mut self) -> Option<Bytes> {
        let mut out = std::mem::take(&mut self.first);
        loop {
            if self.done {
                return (!out.is_empty()).then(|| Bytes::from(out));
            }
            match self.decoder.next_frame() {
                Ok(Some(frame)) => match self.mapper.map_frame(&frame) {
                    Ok(items) if items.is_empty() => {
                        self.usage.set(self.mapper.usage());
                        continue;
                    }
                    Ok(items) => {
                        self.usage.set(self.mapper.usage());
                        out.extend_from_slice(&self.mapper.encode(&items));
                        continue;
                    }
                    Err(err) => {
                        out.extend_from_slice(&self.fail(&err));
                        return Some(Bytes::from(out));
                    }
                },
                Ok(None) => {}
                Err(err) => {
                    let failed = self.fail(&failure::<M>(StreamFailure::Corrupt(err.to_string())));
                    out.extend_from_slice(&failed);
                    return Some(Bytes::from(out));
                }
            }
            if !out.is_empty() {
                return Some(Bytes::from(out));
            }
            match self.body.next().await {
                Some(Ok(bytes)) => self.decoder.push(&bytes),
                Some(Err(err)) => {
                    return Some(self.fail(&failure::<M>(StreamFailure::Interrupted(err))))
                }
                None if self.decoder.has_partial() => {
                    return Some(self.fail(&failure::<M>(StreamFailure::Interrupted(
                        "the body ended in the middle of a frame".into(),
                    ))))
                }
                None if !self.mapper.finished() => {
                    let why = format!("the body ended before {}", M::STOP_EVENT);
                    return Some(self.fail(&failure::<M>(StreamFailure::Interrupted(why))));
                }
                None => {
                    self.done = true;
                    let end = self.mapper.end();
                    self.usage.set(self.mapper.usage());
                    return (!end.is_empty()).then(|| Bytes::from(end));
                }
            }
        }
    }

    fn fail(&mut self, err: &GatewayError) -> Bytes {
        self.done = true;
        self.failed.set(true);
        Bytes::from(self.mapper.fail(err))
    }
}
