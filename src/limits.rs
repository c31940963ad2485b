//! Every size, count, depth and time edgeport accepts from outside, in one place. The README's
//! "Limits" table lists each of these (a test checks that it does); code elsewhere refers to these
//! names instead of repeating a number.
//!
//! How the numbers were chosen: a Worker isolate has 128 MB of memory and shares it among the
//! requests it serves at once, so every buffer a caller or an upstream can make us hold is capped
//! well below that; counts follow Bedrock's own limits where Bedrock has one (so the caller gets a
//! clear 400 from us rather than a slower one from AWS), and are generous where it has none.

// ---- What a caller sends ----

/// Request body (JSON, images inline as base64 included). Larger → 413 before it is parsed.
pub const MAX_REQUEST_BODY_BYTES: usize = 20 * 1024 * 1024;
/// How much of an oversized body is read and dropped before the 413 (so the client sees the 413
/// rather than a reset connection); beyond it the connection may be reset. Cloudflare's own
/// request size limit on most plans.
pub const MAX_DRAINED_BYTES: usize = 100 * 1024 * 1024;
/// Images given by `http(s)://` URL, downloaded by the gateway (Bedrock's per-request image limit).
pub const MAX_REMOTE_IMAGES: usize = 20;
/// One downloaded image (Bedrock's limit for one image).
pub const MAX_IMAGE_BYTES: usize = 3_750_000;
/// All downloaded images of one request together.
pub const MAX_REMOTE_IMAGE_TOTAL_BYTES: usize = 15 * 1024 * 1024;
/// Redirects followed per image download (each hop's host is checked).
pub const MAX_IMAGE_REDIRECTS: usize = 3;
/// Document parts (`file`, `document`) in one request.
pub const MAX_DOCUMENTS: usize = 20;
/// Tools (function definitions) in one request.
pub const MAX_TOOLS: usize = 256;
/// Entries in `anthropic-beta` / `x-portkey-anthropic-beta` / `anthropic_beta` together.
pub const MAX_BETAS: usize = 32;
/// Length of one beta name.
pub const MAX_BETA_LEN: usize = 128;
/// A stored Responses conversation (every item so far and the answer, as JSON): one KV value,
/// written on each turn. A turn that would store more → 400 (`conversation_too_large`) before
/// Bedrock is called; send `store: false` and the items yourself to go on.
pub const MAX_STORED_CONVERSATION_BYTES: usize = 16 * 1024 * 1024;
/// Stored responses one Responses request may read: its `previous_response_id` and the responses
/// its `item_reference` items name (one KV read each).
pub const MAX_REFERENCED_RESPONSES: usize = 16;
/// How long a stored response is kept (OpenAI keeps them 30 days too), in seconds.
pub const RESPONSE_STORE_TTL_SECONDS: u64 = 30 * 24 * 60 * 60;
/// A Portkey trace id, span id, parent span id or span name (`x-portkey-trace-id`, ...): printable
/// ASCII up to this length; anything else is ignored (a new id is generated).
pub const MAX_TRACE_ID_LEN: usize = 128;
/// A `tracestate` echoed on the answer (W3C allows 32 members of 256 bytes; real ones are short);
/// longer → not echoed.
pub const MAX_TRACESTATE_LEN: usize = 512;
/// A `baggage` header (W3C's limit); longer → ignored whole.
pub const MAX_BAGGAGE_BYTES: usize = 8192;
/// Baggage members read into the metadata (W3C: at least 64 must be supported); the rest ignored.
pub const MAX_BAGGAGE_MEMBERS: usize = 64;
/// `x-portkey-metadata`: keys per request (after `baggage` and `_user` are merged in), the length
/// of a key, of a value. Values must be strings. Beyond → 400 naming the header (baggage members
/// and `_user` that do not fit are left out instead).
pub const MAX_METADATA_KEYS: usize = 32;
pub const MAX_METADATA_KEY_LEN: usize = 128;
pub const MAX_METADATA_VALUE_LEN: usize = 512;
/// `ANALYTICS_METADATA_KEYS`: metadata keys written as Analytics Engine blobs (after the 10 fixed
/// blobs; Analytics Engine takes 20); more are ignored.
pub const MAX_ANALYTICS_METADATA_KEYS: usize = 10;
/// `/v1/embeddings`: inputs in one request (OpenAI's own limit).
pub const MAX_EMBEDDING_INPUTS: usize = 2048;
/// `/v1/embeddings`: one inline image (Cohere Embed's limit, the smallest of the families).
pub const MAX_EMBEDDING_IMAGE_BYTES: usize = 5 * 1024 * 1024;
/// `/v1/embeddings`: InvokeModel calls one request may make (models that embed one input per call,
/// Titan and Nova, make one per input; Cohere one per 96). Each call is a Worker subrequest.
pub const MAX_EMBEDDING_CALLS: usize = 256;
/// `/v1/embeddings`: InvokeModel calls in flight at once (a Worker keeps six connections open).
pub const EMBEDDING_CONCURRENCY: usize = 6;
/// `/v1/embeddings`: numbers in one answer (inputs × dimensions), checked before Bedrock is called
/// (with the dimensions asked for, or the model's default) and on what it answers.
pub const MAX_EMBEDDING_VALUES: usize = 1024 * 1024;
/// `/v1/images/generations`: `n` (Nova Canvas' and Titan's own limit per call).
pub const MAX_IMAGES_PER_REQUEST: usize = 5;
/// `/v1/images/generations`: the prompt, in characters (Stability's limit; Nova Canvas and Titan
/// take fewer and say so).
pub const MAX_IMAGE_PROMPT_CHARS: usize = 10_000;
/// An `x-portkey-config` (inline or saved) as JSON text.
pub const MAX_CONFIG_BYTES: usize = 64 * 1024;
/// Targets in one `x-portkey-config`, counted over every nesting level.
pub const MAX_CONFIG_TARGETS: usize = 32;
/// Nesting depth of `targets` in one config.
pub const MAX_CONFIG_DEPTH: usize = 8;
/// Retries per target (Portkey's own limit).
pub const MAX_RETRY_ATTEMPTS: u32 = 5;
/// Upstream calls one request may make through a config (first tries, retries and fallbacks).
pub const MAX_UPSTREAM_ATTEMPTS: u32 = 16;
/// `x-portkey-request-timeout` (and a config's `request_timeout`): 1 ms up to this.
pub const MAX_REQUEST_TIMEOUT_MS: u64 = 60 * 60 * 1000;

// ---- What an upstream sends ----

/// A JSON answer (Converse, InvokeModel, count tokens) read whole.
pub const MAX_UPSTREAM_JSON_BYTES: usize = 16 * 1024 * 1024;
/// An image generation answer (base64 images) read whole.
pub const MAX_UPSTREAM_IMAGES_BYTES: usize = 24 * 1024 * 1024;
/// An error body, an STS answer, a GetInferenceProfile answer.
pub const MAX_UPSTREAM_SMALL_BYTES: usize = 256 * 1024;
/// Upstream JSON and error bodies of known length up to this size (and not compressed) are read in
/// one step, not piece by piece; the idle bound then applies to the whole body.
pub const WHOLE_READ_MAX_BYTES: u64 = 1024 * 1024;
/// One event-stream frame (prelude, headers, payload). Bedrock's frames are a few KB.
pub const MAX_FRAME_BYTES: usize = 1024 * 1024;
/// One server-sent event: its lines up to the blank line that ends it, comments included, each line
/// break counted as one byte; a line still waiting for its break counts too, so it is not buffered
/// past this either. OpenAI's chunks are a few hundred bytes and its largest events a few KB; each
/// event's data is parsed as JSON once buffered, so SSE gets the same bound as event-stream frames.
pub const MAX_SSE_EVENT_BYTES: usize = 1024 * 1024;
/// Default wait for an upstream's answer headers when the caller sets no timeout (the OpenAI and
/// Anthropic SDKs' own default). Operators may change it with the var `UPSTREAM_TIMEOUT_MS`.
pub const DEFAULT_UPSTREAM_TIMEOUT_MS: u64 = 10 * 60 * 1000;
/// Default longest silence between two stream reads before the stream is ended with an in-stream
/// error. Operators may change it with the var `STREAM_IDLE_TIMEOUT_MS`.
pub const DEFAULT_STREAM_IDLE_TIMEOUT_MS: u64 = 2 * 60 * 1000;

/// The gateway's own side calls (STS AssumeRole, GetInferenceProfile, image downloads): their
/// answer headers, and the longest silence in their bodies.
pub const SIDE_CALL_TIMEOUT_MS: u64 = 30_000;

// ---- What one isolate keeps ----

/// Assumed-role credential sets cached per isolate (least recently used evicted).
pub const MAX_CACHED_CREDENTIALS: usize = 256;
/// Inference profile answers cached per isolate (least recently used evicted).
pub const MAX_CACHED_PROFILES: usize = 512;
/// SigV4 signing keys (one per access key, day, region and service) remembered per isolate (least
/// recently used evicted).
pub const MAX_CACHED_SIGNING_KEYS: usize = 256;
/// Gateway key records, and opened provider records, cached per isolate (each kind; least recently
/// used evicted).
pub const MAX_CACHED_RECORDS: usize = 512;
/// How long an isolate trusts a key or provider record it read (var `CATALOG_CACHE_TTL_MS`; 0 reads
/// KV on every request): how long a disabled key or a rotated record may still be used there.
pub const DEFAULT_CATALOG_CACHE_TTL_MS: u64 = 30_000;
/// The longest `CATALOG_CACHE_TTL_MS` accepted.
pub const MAX_CATALOG_CACHE_TTL_MS: u64 = 300_000;

#[cfg(test)]
mod tests {
    /// The README's Limits table names every constant of this file.
    #[test]
    fn the_readme_lists_every_limit() {
        let readme = include_str!("../README.md");
        let source = include_str!("limits.rs");
        let names: Vec<&str> = source
            .lines()
            .filter_map(|l| l.strip_prefix("pub const "))
            .filter_map(|l| l.split(':').next())
            .collect();
        assert!(names.len() > 15, "{names:?}");
        for name in names {
            assert!(
                readme.contains(&format!("`{name}`")),
                "README's Limits table lacks `{name}`"
            );
        }
    }
}
