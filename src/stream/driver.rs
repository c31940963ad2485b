//! The one stream loop both SSE routes share: read the upstream body, decode event-stream frames
//! as bytes arrive, and yield each frame's encoded output at once. The mapping (frame → events)
//! and the encoding belong to an [`SseMapper`]; this loop only does I/O and the failure rules.

use std::collections::VecDeque;
use std::pin::Pin;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};

use crate::error::GatewayError;
use crate::platform::ByteStream;
use crate::providers::bedrock::errors::{corrupt, interrupted};
use crate::stream::eventstream::{Frame, FrameDecoder};

/// SSE bytes for the caller. Not `Send`: the Worker is single-threaded.
pub type SseStream = Pin<Box<dyn Stream<Item = Bytes>>>;

/// Turns decoded frames into one caller API's SSE.
pub trait SseMapper {
    type Item;
    /// The upstream event that ends a complete answer (for the "ended before ..." error).
    const STOP_EVENT: &'static str;

    /// One decoded frame → the items it yields (pure; exceptions are `Err`).
    fn map_frame(&mut self, frame: &Frame) -> Result<Vec<Self::Item>, GatewayError>;
    /// The SSE bytes of `items`.
    fn encode(&self, items: &[Self::Item]) -> Vec<u8>;
    /// Whether the upstream's stop event has been seen.
    fn finished(&self) -> bool;
    /// What follows a clean end (trailing items, a terminator); may be empty.
    fn end(&mut self) -> Vec<u8>;
    /// What a failure after the first bytes becomes: an in-stream error, and the stream's end.
    fn fail(&mut self, err: &GatewayError) -> Vec<u8>;
}

/// Reads `body` until the first frame that yields output, so that a stream opening with an
/// exception (or a body failing before any event) is an `Err` the caller answers as a real HTTP
/// error. After that, every failure is reported in-stream by the mapper, and nothing is read
/// after it. Each decoded frame's bytes are yielded as soon as it is decoded.
pub async fn sse_stream<M: SseMapper + 'static>(
    mut body: ByteStream,
    mut mapper: M,
) -> Result<SseStream, GatewayError> {
    let mut decoder = FrameDecoder::new();
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
            Err(err) => return Err(corrupt(&err)),
        }
        match body.next().await {
            Some(Ok(bytes)) => decoder.push(&bytes),
            Some(Err(err)) => return Err(interrupted(&err)),
            None if decoder.has_partial() => {
                return Err(interrupted("the body ended in the middle of a frame"))
            }
            None => return Err(interrupted("the body ended before any event")),
        }
    };
    let queued = VecDeque::from([Bytes::from(mapper.encode(&first))]);
    let driver = Driver {
        body,
        decoder,
        mapper,
        queued,
        done: false,
    };
    Ok(Box::pin(futures_util::stream::unfold(
        driver,
        |mut d| async move {
            let bytes = d.next_bytes().await?;
            Some((bytes, d))
        },
    )))
}

struct Driver<M> {
    body: ByteStream,
    decoder: FrameDecoder,
    mapper: M,
    queued: VecDeque<Bytes>,
    done: bool,
}

impl<M: SseMapper> Driver<M> {
    async fn next_bytes(&mut self) -> Option<Bytes> {
        if let Some(bytes) = self.queued.pop_front() {
            return Some(bytes);
        }
        loop {
            if self.done {
                return None;
            }
            match self.decoder.next_frame() {
                Ok(Some(frame)) => match self.mapper.map_frame(&frame) {
                    Ok(items) if items.is_empty() => continue,
                    Ok(items) => return Some(Bytes::from(self.mapper.encode(&items))),
                    Err(err) => return Some(self.fail(&err)),
                },
                Ok(None) => {}
                Err(err) => return Some(self.fail(&corrupt(&err))),
            }
            match self.body.next().await {
                Some(Ok(bytes)) => self.decoder.push(&bytes),
                Some(Err(err)) => return Some(self.fail(&interrupted(&err))),
                None if self.decoder.has_partial() => {
                    return Some(self.fail(&interrupted("the body ended in the middle of a frame")))
                }
                None if !self.mapper.finished() => {
                    let why = format!("the body ended before {}", M::STOP_EVENT);
                    return Some(self.fail(&interrupted(why.as_str())));
                }
                None => {
                    self.done = true;
                    let end = self.mapper.end();
                    return (!end.is_empty()).then(|| Bytes::from(end));
                }
            }
        }
    }

    fn fail(&mut self, err: &GatewayError) -> Bytes {
        self.done = true;
        Bytes::from(self.mapper.fail(err))
    }
}
