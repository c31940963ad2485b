//! What one request cost in US dollars, from its usage: one dated price table ([`PRICES`]), one
//! lookup, one function ([`cost`]).
//!
//! **Prices read on 2026-12-01.** The stored copy of AWS's page (https://aws.amazon.com/bedrock/pricing/)
//! has no price tables and OpenAI's (https://openai.com/api/pricing/) was not stored, so every row
//! comes from two independent dated price datasets that cite those pages, and is in the table only
//! where both give the same figures (the [`Source`] constants below name them and their dates). A
//! model, region or kind of usage they do not both price has no row or no rate, and its cost is
//! `None`: never a guess.
//!
//! The rules the table encodes:
//! - Bedrock bills a request by its source region (the region of the runtime endpoint it was sent
//!   to), also when it goes through a geographic inference profile (`us.`, `eu.`, ...). Most rows are
//!   US list prices (us-east-1, us-west-2); other regions list these models at other prices, so a
//!   request elsewhere has no cost.
//! - Anthropic's models are listed at one price in every commercial region (both datasets give the
//!   same figures for the `us.`, `eu.`, `apac.`, `jp.`, `au.` profiles); GovCloud costs more and is
//!   not in the table.
//! - Claude Sonnet 4.5, Haiku 4.5, Opus 4.5 and later: the `global.` profile is the list price, the
//!   same from every source region; in-region ids and geographic profiles cost 10% more.
//! - Claude prompt caching: a cache write costs 1.25× input (the 5-minute cache: Bedrock's 1-hour
//!   cache writes cost more and [`Tokens`] does not tell them apart), a cache read 0.1×.
//! - Nova prompt caching: a cache read costs 0.25× input. What a cache write costs was not found
//!   (neither dataset states it), so a Nova request with cache writes has no cost.
//! - Claude Sonnet 4 and 4.5 bill a request of more than 200K input tokens (the 1M context) at
//!   long-context rates only one dataset gives for Bedrock: such a request has no cost.
//! - On-demand standard tier only: Bedrock batch, flex and priority tiers, provisioned throughput,
//!   OpenAI's batch, flex and priority tiers and its regional-processing uplift are not modelled.

/// A price dataset and the date it states its figures for (its snapshot or release date).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Source {
    pub url: &'static str,
    pub as_of: &'static str,
}

/// LiteLLM's price table as shipped in `litellm` 1.110.2 (uploaded to PyPI 2026-11-20), file
/// `litellm/model_prices_and_context_window_backup.json` (its `model_prices_and_context_window.json`).
pub const LITELLM: Source = Source {
    url: "https://pypi.org/project/litellm/1.110.2/",
    as_of: "2026-11-20",
};
/// pydantic's genai-prices, AWS Bedrock (its rows cite https://aws.amazon.com/bedrock/pricing/).
pub const GENAI_PRICES_AWS: Source = Source {
    url: "https://github.com/pydantic/genai-prices/blob/47df840a5ab10bbcffb8e5ac01b9899032245d1b/prices/providers/aws.yml",
    as_of: "2026-08-21",
};
/// pydantic's genai-prices, OpenAI.
pub const GENAI_PRICES_OPENAI: Source = Source {
    url: "https://github.com/pydantic/genai-prices/blob/47df840a5ab10bbcffb8e5ac01b9899032245d1b/prices/providers/openai.yml",
    as_of: "2026-08-21",
};
/// Portkey's model prices, AWS Bedrock (in cents per token there).
pub const PORTKEY_BEDROCK: Source = Source {
    url: "https://github.com/Portkey-AI/models/blob/f654307ec968cc9c8a54f2139fb79ede59c3d688/pricing/bedrock.json",
    as_of: "2026-08-21",
};
/// Portkey's model prices, OpenAI (in cents per token there).
pub const PORTKEY_OPENAI: Source = Source {
    url: "https://github.com/Portkey-AI/models/blob/f654307ec968cc9c8a54f2139fb79ede59c3d688/pricing/openai.json",
    as_of: "2026-08-21",
};

/// Where the request went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider<'a> {
    /// Amazon Bedrock. `region` is the source region (the runtime endpoint's); `None` prices only
    /// `global.` profiles, whose price does not depend on it.
    Bedrock {
        region: Option<&'a str>,
    },
    OpenAi,
}

/// What one request used, as the provider bills it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tokens {
    /// Input tokens neither read from nor written to a prompt cache, as Bedrock's `inputTokens`
    /// (OpenAI's `prompt_tokens` include the cached ones: pass `prompt_tokens - cached_tokens`).
    /// For an embedding model, the tokens embedded.
    pub input: u64,
    /// Output tokens, reasoning tokens included.
    pub output: u64,
    /// Input tokens read from a prompt cache (`cacheReadInputTokens`, OpenAI's `cached_tokens`).
    pub cache_read: u64,
    /// Input tokens written to a prompt cache (`cacheWriteInputTokens`).
    pub cache_write: u64,
    /// Images generated, for the models that bill per image.
    pub images: u64,
}

/// What one request cost, in USD, by kind, and the price row that applied.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cost {
    pub total: f64,
    pub input: f64,
    pub output: f64,
    pub cache_read: f64,
    pub cache_write: f64,
    pub images: f64,
    pub price: &'static Price,
}

/// One row of [`PRICES`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Price {
    /// Names the row in logs: `bedrock/claude-sonnet-4-5/global`, `openai/gpt-4o`.
    pub id: &'static str,
    pub route: Route,
    /// The model ids the row prices, exactly (Bedrock: without profile prefix).
    pub models: &'static [&'static str],
    pub regions: Regions,
    pub rates: Rates,
    /// More input tokens than this in one request (fresh, cache read and cache write together) are
    /// billed at rates not in the table.
    pub max_input: Option<u64>,
    pub sources: &'static [Source],
}

/// How the request reached the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// A Bedrock in-region model id or a geographic inference profile (`us.`, `eu.`, ...).
    BedrockRegional,
    /// A Bedrock `global.` inference profile.
    BedrockGlobal,
    OpenAi,
}

/// The source regions a row's rates apply in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Regions {
    /// Any region, or none given: OpenAI, and Bedrock's `global.` profiles.
    Everywhere,
    /// Every commercial AWS region (not GovCloud, China, ISO or the European Sovereign Cloud).
    Commercial,
    Only(&'static [&'static str]),
}

/// USD per million tokens, and per image. `None`: this kind of usage is not priced, and a request
/// that has some has no cost.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rates {
    pub input: Option<f64>,
    pub output: Option<f64>,
    pub cache_read: Option<f64>,
    pub cache_write: Option<f64>,
    pub image: Option<f64>,
}

/// The cost of one request, or `None` when the table has no price for it: an unknown model, a
/// region the model's row does not cover, an ARN that names no foundation model (application
/// inference profile, custom or provisioned model), or usage of a kind the row does not price.
pub fn cost(provider: Provider<'_>, model_id: &str, usage: &Tokens) -> Option<Cost> {
    let price = find(provider, model_id)?;
    let all_input = usage
        .input
        .saturating_add(usage.cache_read)
        .saturating_add(usage.cache_write);
    if price.max_input.is_some_and(|max| all_input > max) {
        return None;
    }
    let rates = &price.rates;
    let input = charge(usage.input, rates.input, 1e6)?;
    let output = charge(usage.output, rates.output, 1e6)?;
    let cache_read = charge(usage.cache_read, rates.cache_read, 1e6)?;
    let cache_write = charge(usage.cache_write, rates.cache_write, 1e6)?;
    let images = charge(usage.images, rates.image, 1.0)?;
    Some(Cost {
        total: input + output + cache_read + cache_write + images,
        input,
        output,
        cache_read,
        cache_write,
        images,
        price,
    })
}

/// The row that prices `model_id` on `provider`.
fn find(provider: Provider<'_>, model_id: &str) -> Option<&'static Price> {
    let (route, model, region) = match provider {
        Provider::OpenAi => (Route::OpenAi, model_id, None),
        Provider::Bedrock { region } => {
            let (route, model) = bedrock_model(model_id)?;
            (route, model, region)
        }
    };
    PRICES
        .iter()
        .find(|p| p.route == route && p.models.contains(&model) && p.regions.contains(region))
}

/// Geographic inference profile prefixes (`global.` is its own route).
const GEO_PREFIXES: &[&str] = &["us", "eu", "apac", "jp", "au", "ca", "us-gov"];

/// The foundation model a Bedrock id names and how it is reached; `None` for an ARN that names
/// none (application inference profile, custom, imported or provisioned model).
fn bedrock_model(model_id: &str) -> Option<(Route, &str)> {
    let id = match model_id.strip_prefix("arn:") {
        None => model_id,
        Some(arn) => {
            // partition:service:region:account:resource, the resource keeping its own colons.
            let resource = arn.splitn(5, ':').nth(4)?;
            resource
                .strip_prefix("foundation-model/")
                .or_else(|| resource.strip_prefix("inference-profile/"))?
        }
    };
    Some(match id.split_once('.') {
        Some(("global", model)) => (Route::BedrockGlobal, model),
        Some((prefix, model)) if GEO_PREFIXES.contains(&prefix) => (Route::BedrockRegional, model),
        _ => (Route::BedrockRegional, id),
    })
}

/// Commercial AWS regions by name (`us-gov-`, `us-iso`, `cn-`, `eusc-` are not).
const COMMERCIAL_REGION_PREFIXES: &[&str] = &[
    "us-east-", "us-west-", "ca-", "mx-", "sa-", "eu-", "il-", "me-", "af-", "ap-",
];

impl Regions {
    fn contains(self, region: Option<&str>) -> bool {
        match (self, region) {
            (Regions::Everywhere, _) => true,
            (_, None) => false,
            (Regions::Commercial, Some(region)) => COMMERCIAL_REGION_PREFIXES
                .iter()
                .any(|prefix| region.starts_with(prefix)),
            (Regions::Only(list), Some(region)) => list.contains(&region),
        }
    }
}

/// `count` units at `rate` USD per `per` units; `None` when some are used and `rate` is unknown.
/// f64 throughout: no count overflows it.
fn charge(count: u64, rate: Option<f64>, per: f64) -> Option<f64> {
    if count == 0 {
        return Some(0.0);
    }
    rate.map(|rate| count as f64 * rate / per)
}

// ---- The table ----

const fn tokens(input: f64, output: f64) -> Rates {
    Rates {
        input: Some(input),
        output: Some(output),
        cache_read: None,
        cache_write: None,
        image: None,
    }
}

const fn cached(input: f64, output: f64, cache_read: f64, cache_write: f64) -> Rates {
    Rates {
        cache_read: Some(cache_read),
        cache_write: Some(cache_write),
        ..tokens(input, output)
    }
}

/// Cache reads priced, cache writes not (Nova: not found; OpenAI: none).
const fn read_cached(input: f64, output: f64, cache_read: f64) -> Rates {
    Rates {
        cache_read: Some(cache_read),
        ..tokens(input, output)
    }
}

/// Embeddings: input tokens only.
const fn embedding(input: f64) -> Rates {
    tokens(input, 0.0)
}

/// Image generation: per image, the prompt free ("for image-generation models, you are charged for
/// every image generated", https://aws.amazon.com/bedrock/pricing/).
const fn per_image(usd: f64) -> Rates {
    Rates {
        image: Some(usd),
        ..tokens(0.0, 0.0)
    }
}

const fn row(
    id: &'static str,
    route: Route,
    regions: Regions,
    models: &'static [&'static str],
    rates: Rates,
) -> Price {
    Price {
        id,
        route,
        models,
        regions,
        rates,
        max_input: None,
        sources: &[LITELLM, GENAI_PRICES_AWS],
    }
}

/// Anthropic on Bedrock, in-region ids and geographic profiles: every commercial region.
const fn claude(id: &'static str, models: &'static [&'static str], rates: Rates) -> Price {
    row(
        id,
        Route::BedrockRegional,
        Regions::Commercial,
        models,
        rates,
    )
}

/// Anthropic on Bedrock, `global.` profiles.
const fn claude_global(id: &'static str, models: &'static [&'static str], rates: Rates) -> Price {
    row(id, Route::BedrockGlobal, Regions::Everywhere, models, rates)
}

/// Bedrock US list prices (us-east-1 and us-west-2 are listed alike).
const fn us(id: &'static str, models: &'static [&'static str], rates: Rates) -> Price {
    row(
        id,
        Route::BedrockRegional,
        Regions::Only(&["us-east-1", "us-west-2"]),
        models,
        rates,
    )
}

const fn openai(id: &'static str, models: &'static [&'static str], rates: Rates) -> Price {
    row(id, Route::OpenAi, Regions::Everywhere, models, rates).from(&[LITELLM, GENAI_PRICES_OPENAI])
}

impl Price {
    /// Other sources than the template's.
    const fn from(self, sources: &'static [Source]) -> Price {
        Price { sources, ..self }
    }

    /// Claude Sonnet 4 and 4.5: over 200K input tokens, see the module doc.
    const fn long_context_above_200k(self) -> Price {
        Price {
            max_input: Some(200_000),
            ..self
        }
    }
}

/// Every price edgeport knows: USD per million tokens (input, output, cache read, cache write), or
/// per image. Sources: LiteLLM and genai-prices unless a row says otherwise.
#[rustfmt::skip]
pub static PRICES: &[Price] = &[
    // ---- Anthropic on Bedrock (LiteLLM lists Claude 3 Haiku for GovCloud only) ----
    claude("bedrock/claude-3-haiku", &["anthropic.claude-3-haiku-20240307-v1:0"], tokens(0.25, 1.25)).from(&[GENAI_PRICES_AWS, PORTKEY_BEDROCK]),
    claude("bedrock/claude-3-5-haiku", &["anthropic.claude-3-5-haiku-20241022-v1:0"], cached(0.8, 4.0, 0.08, 1.0)),
    claude("bedrock/claude-3-7-sonnet", &["anthropic.claude-3-7-sonnet-20250219-v1:0"], cached(3.0, 15.0, 0.3, 3.75)),
    claude("bedrock/claude-sonnet-4/regional", &["anthropic.claude-sonnet-4-20250514-v1:0"], cached(3.0, 15.0, 0.3, 3.75)).long_context_above_200k(),
    claude_global("bedrock/claude-sonnet-4/global", &["anthropic.claude-sonnet-4-20250514-v1:0"], cached(3.0, 15.0, 0.3, 3.75)).long_context_above_200k(),
    claude("bedrock/claude-sonnet-4-5/regional", &["anthropic.claude-sonnet-4-5-20250929-v1:0"], cached(3.3, 16.5, 0.33, 4.125)).long_context_above_200k(),
    claude_global("bedrock/claude-sonnet-4-5/global", &["anthropic.claude-sonnet-4-5-20250929-v1:0"], cached(3.0, 15.0, 0.3, 3.75)).long_context_above_200k(),
    claude("bedrock/claude-sonnet-4-6/regional", &["anthropic.claude-sonnet-4-6"], cached(3.3, 16.5, 0.33, 4.125)),
    claude_global("bedrock/claude-sonnet-4-6/global", &["anthropic.claude-sonnet-4-6"], cached(3.0, 15.0, 0.3, 3.75)),
    claude("bedrock/claude-opus-4-1", &["anthropic.claude-opus-4-1-20250805-v1:0"], cached(15.0, 75.0, 1.5, 18.75)),
    claude("bedrock/claude-opus-4-5/regional", &["anthropic.claude-opus-4-5-20251101-v1:0"], cached(5.5, 27.5, 0.55, 6.875)),
    claude_global("bedrock/claude-opus-4-5/global", &["anthropic.claude-opus-4-5-20251101-v1:0"], cached(5.0, 25.0, 0.5, 6.25)),
    claude("bedrock/claude-opus-4-6/regional", &["anthropic.claude-opus-4-6-v1"], cached(5.5, 27.5, 0.55, 6.875)),
    claude_global("bedrock/claude-opus-4-6/global", &["anthropic.claude-opus-4-6-v1"], cached(5.0, 25.0, 0.5, 6.25)),
    claude("bedrock/claude-haiku-4-5/regional", &["anthropic.claude-haiku-4-5-20251001-v1:0"], cached(1.1, 5.5, 0.11, 1.375)),
    claude_global("bedrock/claude-haiku-4-5/global", &["anthropic.claude-haiku-4-5-20251001-v1:0"], cached(1.0, 5.0, 0.1, 1.25)),
    // ---- Amazon Nova ----
    us("bedrock/nova-micro", &["amazon.nova-micro-v1:0"], read_cached(0.035, 0.14, 0.00875)),
    us("bedrock/nova-lite", &["amazon.nova-lite-v1:0"], read_cached(0.06, 0.24, 0.015)),
    us("bedrock/nova-pro", &["amazon.nova-pro-v1:0"], read_cached(0.8, 3.2, 0.2)),
    us("bedrock/nova-premier", &["amazon.nova-premier-v1:0"], read_cached(2.5, 12.5, 0.625)),
    // ---- Meta Llama ----
    us("bedrock/llama3-1-8b", &["meta.llama3-1-8b-instruct-v1:0"], tokens(0.22, 0.22)),
    us("bedrock/llama3-1-70b", &["meta.llama3-1-70b-instruct-v1:0"], tokens(0.72, 0.72)),
    us("bedrock/llama3-2-1b", &["meta.llama3-2-1b-instruct-v1:0"], tokens(0.1, 0.1)),
    us("bedrock/llama3-2-3b", &["meta.llama3-2-3b-instruct-v1:0"], tokens(0.15, 0.15)),
    us("bedrock/llama3-2-11b", &["meta.llama3-2-11b-instruct-v1:0"], tokens(0.16, 0.16)),
    us("bedrock/llama3-2-90b", &["meta.llama3-2-90b-instruct-v1:0"], tokens(0.72, 0.72)),
    us("bedrock/llama3-3-70b", &["meta.llama3-3-70b-instruct-v1:0"], tokens(0.72, 0.72)),
    us("bedrock/llama4-scout-17b", &["meta.llama4-scout-17b-instruct-v1:0"], tokens(0.17, 0.66)),
    us("bedrock/llama4-maverick-17b", &["meta.llama4-maverick-17b-instruct-v1:0"], tokens(0.24, 0.97)),
    // ---- Mistral ----
    us("bedrock/mistral-large-2402", &["mistral.mistral-large-2402-v1:0"], tokens(4.0, 12.0)),
    us("bedrock/mistral-large-2407", &["mistral.mistral-large-2407-v1:0"], tokens(2.0, 6.0)).from(&[LITELLM, PORTKEY_BEDROCK]),
    us("bedrock/mistral-small-2402", &["mistral.mistral-small-2402-v1:0"], tokens(1.0, 3.0)),
    us("bedrock/mixtral-8x7b", &["mistral.mixtral-8x7b-instruct-v0:1"], tokens(0.45, 0.7)),
    us("bedrock/mistral-7b", &["mistral.mistral-7b-instruct-v0:2"], tokens(0.15, 0.2)),
    us("bedrock/pixtral-large-2502", &["mistral.pixtral-large-2502-v1:0"], tokens(2.0, 6.0)),
    // ---- Embeddings (text input only: Cohere Embed v4 bills image input apart) ----
    us("bedrock/titan-embed-text-v2", &["amazon.titan-embed-text-v2:0"], embedding(0.02)).from(&[LITELLM, PORTKEY_BEDROCK]),
    us("bedrock/cohere-embed-english-v3", &["cohere.embed-english-v3"], embedding(0.1)).from(&[LITELLM, PORTKEY_BEDROCK]),
    us("bedrock/cohere-embed-multilingual-v3", &["cohere.embed-multilingual-v3"], embedding(0.1)).from(&[LITELLM, PORTKEY_BEDROCK]),
    us("bedrock/cohere-embed-v4", &["cohere.embed-v4:0"], embedding(0.12)).from(&[LITELLM, PORTKEY_BEDROCK]),
    // ---- Image generation, USD per image ----
    us("bedrock/stability-sd3-5-large", &["stability.sd3-5-large-v1:0"], per_image(0.08)).from(&[LITELLM, PORTKEY_BEDROCK]),
    us("bedrock/stability-stable-image-core", &["stability.stable-image-core-v1:0", "stability.stable-image-core-v1:1"], per_image(0.04)).from(&[LITELLM, PORTKEY_BEDROCK]),
    us("bedrock/stability-stable-image-ultra", &["stability.stable-image-ultra-v1:0", "stability.stable-image-ultra-v1:1"], per_image(0.14)).from(&[LITELLM, PORTKEY_BEDROCK]),
    // ---- OpenAI: a family and the dated snapshots priced like it ----
    openai("openai/gpt-4o", &["gpt-4o", "gpt-4o-2024-08-06", "gpt-4o-2024-11-20"], read_cached(2.5, 10.0, 1.25)),
    // The first gpt-4o snapshot: priced higher, no prompt caching.
    openai("openai/gpt-4o-2024-05-13", &["gpt-4o-2024-05-13"], tokens(5.0, 15.0)).from(&[LITELLM, PORTKEY_OPENAI]),
    openai("openai/gpt-4o-mini", &["gpt-4o-mini", "gpt-4o-mini-2024-07-18"], read_cached(0.15, 0.6, 0.075)),
    openai("openai/gpt-4.1", &["gpt-4.1", "gpt-4.1-2025-04-14"], read_cached(2.0, 8.0, 0.5)),
    openai("openai/gpt-4.1-mini", &["gpt-4.1-mini", "gpt-4.1-mini-2025-04-14"], read_cached(0.4, 1.6, 0.1)),
    openai("openai/gpt-4.1-nano", &["gpt-4.1-nano", "gpt-4.1-nano-2025-04-14"], read_cached(0.1, 0.4, 0.025)),
    openai("openai/o3", &["o3", "o3-2025-04-16"], read_cached(2.0, 8.0, 0.5)),
    openai("openai/o4-mini", &["o4-mini", "o4-mini-2025-04-16"], read_cached(1.1, 4.4, 0.275)),
    openai("openai/gpt-5", &["gpt-5", "gpt-5-2025-08-07"], read_cached(1.25, 10.0, 0.125)),
    openai("openai/gpt-5-mini", &["gpt-5-mini", "gpt-5-mini-2025-08-07"], read_cached(0.25, 2.0, 0.025)),
    openai("openai/gpt-5-nano", &["gpt-5-nano", "gpt-5-nano-2025-08-07"], read_cached(0.05, 0.4, 0.005)),
    openai("openai/text-embedding-3-small", &["text-embedding-3-small"], embedding(0.02)),
    openai("openai/text-embedding-3-large", &["text-embedding-3-large"], embedding(0.13)),
    openai("openai/text-embedding-ada-002", &["text-embedding-ada-002"], embedding(0.1)),
];

#[cfg(test)]
mod tests {
    use super::*;

    fn bedrock(region: &str) -> Provider<'_> {
        Provider::Bedrock {
            region: Some(region),
        }
    }

    fn close(actual: f64, expected: f64) -> bool {
        (actual - expected).abs() <= 1e-12 * expected.abs().max(1.0)
    }

    #[track_caller]
    fn assert_usd(actual: f64, expected: f64) {
        assert!(close(actual, expected), "{actual} != {expected}");
    }

    const CACHED: Tokens = Tokens {
        input: 1_000,
        output: 500,
        cache_read: 2_000,
        cache_write: 4_000,
        images: 0,
    };

    #[test]
    fn claude_sonnet_4_5_regional_with_cache_read_and_write() {
        let c = cost(
            bedrock("us-east-1"),
            "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
            &CACHED,
        )
        .unwrap();
        // 1000 × $3.30/M + 500 × $16.50/M + 2000 × $0.33/M + 4000 × $4.125/M
        assert_usd(c.input, 0.0033);
        assert_usd(c.output, 0.00825);
        assert_usd(c.cache_read, 0.00066);
        assert_usd(c.cache_write, 0.0165);
        assert_usd(c.total, 0.02871);
        assert_eq!(c.price.id, "bedrock/claude-sonnet-4-5/regional");
        // The in-region id costs the same, in any commercial region.
        let in_region = cost(
            bedrock("eu-west-1"),
            "anthropic.claude-sonnet-4-5-20250929-v1:0",
            &CACHED,
        )
        .unwrap();
        assert_usd(in_region.total, 0.02871);
    }

    #[test]
    fn claude_sonnet_4_5_global_is_the_list_price_and_regional_ten_percent_more() {
        let id = "global.anthropic.claude-sonnet-4-5-20250929-v1:0";
        let c = cost(bedrock("us-east-1"), id, &CACHED).unwrap();
        // 1000 × $3/M + 500 × $15/M + 2000 × $0.30/M + 4000 × $3.75/M
        assert_usd(c.input, 0.003);
        assert_usd(c.output, 0.0075);
        assert_usd(c.cache_read, 0.0006);
        assert_usd(c.cache_write, 0.015);
        assert_usd(c.total, 0.0261);
        assert_eq!(c.price.id, "bedrock/claude-sonnet-4-5/global");
        // A global profile's price does not depend on the source region.
        let anywhere = cost(Provider::Bedrock { region: None }, id, &CACHED).unwrap();
        assert_usd(anywhere.total, 0.0261);
        let regional = cost(bedrock("us-east-1"), &id["global.".len()..], &CACHED).unwrap();
        assert_usd(regional.total, c.total * 1.1);
    }

    #[test]
    fn claude_caching_is_1_25x_input_to_write_and_0_1x_to_read() {
        for p in PRICES.iter().filter(|p| p.id.starts_with("bedrock/claude")) {
            let (Some(input), Some(read), Some(write)) =
                (p.rates.input, p.rates.cache_read, p.rates.cache_write)
            else {
                continue;
            };
            assert!(close(write, input * 1.25), "{}", p.id);
            assert!(close(read, input * 0.1), "{}", p.id);
        }
    }

    #[test]
    fn nova_lite_with_cache_read() {
        let usage = Tokens {
            input: 10_000,
            output: 1_000,
            cache_read: 50_000,
            ..Tokens::default()
        };
        let c = cost(bedrock("us-west-2"), "us.amazon.nova-lite-v1:0", &usage).unwrap();
        // 10000 × $0.06/M + 1000 × $0.24/M + 50000 × $0.015/M
        assert_usd(c.input, 0.0006);
        assert_usd(c.output, 0.00024);
        assert_usd(c.cache_read, 0.00075);
        assert_usd(c.total, 0.00159);
        assert_eq!(c.price.id, "bedrock/nova-lite");
        // The cache write rate was not found: no guess.
        let write = Tokens {
            cache_write: 1,
            ..usage
        };
        assert_eq!(
            cost(bedrock("us-west-2"), "us.amazon.nova-lite-v1:0", &write),
            None
        );
    }

    #[test]
    fn llama_3_3_70b() {
        let usage = Tokens {
            input: 2_000_000,
            output: 1_000_000,
            ..Tokens::default()
        };
        let c = cost(
            bedrock("us-east-1"),
            "us.meta.llama3-3-70b-instruct-v1:0",
            &usage,
        )
        .unwrap();
        assert_usd(c.input, 1.44);
        assert_usd(c.output, 0.72);
        assert_usd(c.total, 2.16);
        assert_eq!(c.price.id, "bedrock/llama3-3-70b");
    }

    #[test]
    fn openai_snapshot_with_cached_input() {
        // prompt_tokens 10000 of which cached_tokens 4000.
        let usage = Tokens {
            input: 6_000,
            output: 1_000,
            cache_read: 4_000,
            ..Tokens::default()
        };
        let c = cost(Provider::OpenAi, "gpt-4o-2024-08-06", &usage).unwrap();
        // 6000 × $2.50/M + 1000 × $10/M + 4000 × $1.25/M
        assert_usd(c.input, 0.015);
        assert_usd(c.output, 0.01);
        assert_usd(c.cache_read, 0.005);
        assert_usd(c.total, 0.03);
        assert_eq!(c.price.id, "openai/gpt-4o");
        // The first gpt-4o snapshot is priced apart and has no cached rate.
        assert_eq!(cost(Provider::OpenAi, "gpt-4o-2024-05-13", &usage), None);
        let uncached = Tokens {
            cache_read: 0,
            ..usage
        };
        let first = cost(Provider::OpenAi, "gpt-4o-2024-05-13", &uncached).unwrap();
        assert_usd(first.total, 6_000.0 * 5.0 / 1e6 + 1_000.0 * 15.0 / 1e6);
    }

    #[test]
    fn embeddings_are_per_input_token() {
        let usage = Tokens {
            input: 1_000_000,
            ..Tokens::default()
        };
        let titan = cost(bedrock("us-east-1"), "amazon.titan-embed-text-v2:0", &usage).unwrap();
        assert_usd(titan.total, 0.02);
        let cohere = cost(bedrock("us-west-2"), "cohere.embed-v4:0", &usage).unwrap();
        assert_usd(cohere.total, 0.12);
        let openai = cost(
            Provider::OpenAi,
            "text-embedding-3-small",
            &Tokens {
                input: 500,
                ..Tokens::default()
            },
        )
        .unwrap();
        assert_usd(openai.total, 0.00001);
    }

    #[test]
    fn image_models_are_per_image() {
        let usage = Tokens {
            images: 3,
            input: 77,
            ..Tokens::default()
        };
        let c = cost(
            bedrock("us-west-2"),
            "stability.stable-image-ultra-v1:1",
            &usage,
        )
        .unwrap();
        assert_usd(c.images, 0.42);
        assert_usd(c.input, 0.0);
        assert_usd(c.total, 0.42);
        // A text model does not bill images: no guess.
        assert_eq!(
            cost(bedrock("us-east-1"), "amazon.nova-pro-v1:0", &usage),
            None
        );
    }

    #[test]
    fn every_profile_prefix_reaches_the_base_model() {
        let usage = Tokens {
            input: 1_000_000,
            ..Tokens::default()
        };
        let regional = [
            ("anthropic.claude-haiku-4-5-20251001-v1:0", "us-east-1"),
            ("us.anthropic.claude-haiku-4-5-20251001-v1:0", "us-east-2"),
            (
                "eu.anthropic.claude-haiku-4-5-20251001-v1:0",
                "eu-central-1",
            ),
            (
                "apac.anthropic.claude-haiku-4-5-20251001-v1:0",
                "ap-southeast-1",
            ),
            (
                "jp.anthropic.claude-haiku-4-5-20251001-v1:0",
                "ap-northeast-1",
            ),
            (
                "au.anthropic.claude-haiku-4-5-20251001-v1:0",
                "ap-southeast-2",
            ),
            (
                "ca.anthropic.claude-haiku-4-5-20251001-v1:0",
                "ca-central-1",
            ),
        ];
        for (id, region) in regional {
            let c = cost(bedrock(region), id, &usage).unwrap();
            assert_eq!(c.price.id, "bedrock/claude-haiku-4-5/regional", "{id}");
            assert_usd(c.total, 1.1);
        }
        let global = cost(
            bedrock("eu-west-1"),
            "global.anthropic.claude-haiku-4-5-20251001-v1:0",
            &usage,
        )
        .unwrap();
        assert_eq!(global.price.id, "bedrock/claude-haiku-4-5/global");
        assert_usd(global.total, 1.0);
        // Foundation-model and system-profile ARNs name their model.
        let arn =
            "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-haiku-4-5-20251001-v1:0";
        assert_usd(cost(bedrock("us-east-1"), arn, &usage).unwrap().total, 1.1);
        let arn = "arn:aws:bedrock:us-east-1:123456789012:inference-profile/global.anthropic.claude-haiku-4-5-20251001-v1:0";
        assert_usd(cost(bedrock("us-east-1"), arn, &usage).unwrap().total, 1.0);
    }

    #[test]
    fn unknown_models_regions_and_arns_have_no_cost() {
        let usage = Tokens {
            input: 10,
            output: 10,
            ..Tokens::default()
        };
        let none = |provider, id| assert_eq!(cost(provider, id, &usage), None, "{id}");
        none(bedrock("us-east-1"), "anthropic.claude-unknown-v1:0");
        none(bedrock("us-east-1"), "");
        none(Provider::OpenAi, "gpt-4o-2099-01-01");
        none(Provider::OpenAi, "us.anthropic.claude-sonnet-4-6");
        none(bedrock("us-east-1"), "gpt-4o");
        // ARNs that name no foundation model.
        none(
            bedrock("us-east-1"),
            "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/a1b2c3d4e5f6",
        );
        none(
            bedrock("us-east-1"),
            "arn:aws:bedrock:us-east-1:123456789012:custom-model/anthropic.claude-3-haiku-20240307-v1:0:200k/abc123",
        );
        none(bedrock("us-east-1"), "arn:aws:bedrock");
        // A model priced in the US only, called elsewhere; an unknown region.
        none(bedrock("eu-west-1"), "eu.amazon.nova-lite-v1:0");
        none(
            Provider::Bedrock { region: None },
            "us.meta.llama3-3-70b-instruct-v1:0",
        );
        none(
            Provider::Bedrock { region: None },
            "anthropic.claude-opus-4-6-v1",
        );
        // GovCloud is priced apart.
        none(
            bedrock("us-gov-west-1"),
            "us-gov.anthropic.claude-sonnet-4-5-20250929-v1:0",
        );
        // No global profile price for a model priced in-region only.
        none(
            bedrock("us-east-1"),
            "global.anthropic.claude-3-7-sonnet-20250219-v1:0",
        );
    }

    #[test]
    fn long_context_claude_sonnet_4_5_has_no_cost() {
        let at_limit = Tokens {
            input: 100_000,
            cache_read: 100_000,
            ..Tokens::default()
        };
        let id = "global.anthropic.claude-sonnet-4-5-20250929-v1:0";
        assert!(cost(bedrock("us-east-1"), id, &at_limit).is_some());
        let over = Tokens {
            cache_write: 1,
            ..at_limit
        };
        assert_eq!(cost(bedrock("us-east-1"), id, &over), None);
    }

    #[test]
    fn huge_counts_neither_overflow_nor_panic() {
        let huge = Tokens {
            input: u64::MAX,
            output: u64::MAX,
            cache_read: u64::MAX,
            cache_write: u64::MAX,
            images: u64::MAX,
        };
        let text = Tokens { images: 0, ..huge };
        let c = cost(bedrock("us-east-1"), "anthropic.claude-opus-4-6-v1", &text).unwrap();
        assert!(c.total.is_finite() && c.total > 1e14);
        let image_usage = Tokens {
            cache_read: 0,
            cache_write: 0,
            ..huge
        };
        let image = cost(
            bedrock("us-west-2"),
            "stability.sd3-5-large-v1:0",
            &image_usage,
        )
        .unwrap();
        assert!(image.total.is_finite());
        // The long-context bound adds with saturation.
        let sonnet = "us.anthropic.claude-sonnet-4-20250514-v1:0";
        assert_eq!(cost(bedrock("us-east-1"), sonnet, &text), None);
    }

    #[test]
    fn every_row_is_reachable_and_well_formed() {
        let mut ids = std::collections::HashSet::new();
        for p in PRICES {
            assert!(ids.insert(p.id), "duplicate row id {}", p.id);
            assert!(!p.models.is_empty(), "{}", p.id);
            assert!(p.sources.len() >= 2, "{} needs two sources", p.id);
            let r = p.rates;
            for rate in [r.input, r.output, r.cache_read, r.cache_write, r.image]
                .into_iter()
                .flatten()
            {
                assert!(rate.is_finite() && rate >= 0.0, "{}", p.id);
            }
            let region = match p.regions {
                Regions::Only(list) => list.first().copied(),
                Regions::Commercial | Regions::Everywhere => Some("us-east-1"),
            };
            for model in p.models {
                // No earlier row shadows this one.
                let id = match p.route {
                    Route::BedrockGlobal => format!("global.{model}"),
                    _ => (*model).to_string(),
                };
                let provider = match p.route {
                    Route::OpenAi => Provider::OpenAi,
                    _ => Provider::Bedrock { region },
                };
                let found = find(provider, &id).map(|f| f.id);
                assert_eq!(found, Some(p.id), "{id}");
            }
        }
    }
}
