//! Upstream providers. The gateway resolves each attempt to an [`Upstream`] and hands the call to
//! that provider's module, which builds the request, reads the answer and maps the stream. A
//! provider's auth, caches and errors live in its own folder.

pub mod bedrock;
pub mod openai;
pub mod options;

use serde_json::Value;

use crate::stream::driver::SseStream;

/// What a provider answers a chat or messages call with.
pub enum Answer {
    Json(Value),
    Stream(SseStream),
}

/// A chat call's settings every provider reads (the request body itself is passed beside it).
pub struct ChatCall<'a> {
    /// The model id as the caller chose it (`@slug/` removed).
    pub model_id: &'a str,
    /// `x-portkey-strict-open-ai-compliance` (true unless `false`).
    pub strict: bool,
    /// `anthropic-beta` and `x-portkey-anthropic-beta`, joined.
    pub anthropic_beta_header: Option<String>,
    pub options: options::UpstreamOptions,
}

/// `prefix` + 24 random hex digits (ids for completions and traces).
pub fn random_id(prefix: &str) -> String {
    let mut bytes = [0u8; 12];
    // crypto.getRandomValues in the Worker does not fail; if it ever did, the id would be zeros,
    // not a panic.
    let _ = getrandom::fill(&mut bytes);
    let mut out = String::with_capacity(prefix.len() + 24);
    out.push_str(prefix);
    for b in bytes {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// Where one attempt goes, by provider.
#[derive(Debug, Clone)]
pub enum Upstream {
    Bedrock(bedrock::target::BedrockTarget),
    OpenAi(openai::target::OpenAiTarget),
}

impl Upstream {
    /// The provider's name in messages.
    pub fn name(&self) -> &'static str {
        match self {
            Upstream::Bedrock(_) => "Bedrock",
            Upstream::OpenAi(_) => "OpenAI",
        }
    }

    /// What identifies the caller's credentials (a cache is filed under their digest when the
    /// caller has no gateway key).
    pub fn credential_parts(&self) -> Vec<&str> {
        match self {
            Upstream::Bedrock(b) => b.credential_parts(),
            Upstream::OpenAi(o) => o.credential_parts(),
        }
    }
}
