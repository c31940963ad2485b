//! The one model table: what edgeport knows about a Bedrock model from its id. Every mapping
//! that depends on the model (thinking, `top_k`, structured output, `anthropic_beta`) asks here.
//!
//! Ids come in four shapes, all handled by [`ModelInfo::from_id`]:
//! - foundation model ids: `anthropic.claude-sonnet-4-5-20250929-v1:0`, `amazon.nova-micro-v1:0`;
//! - system inference profiles: the same with a geography prefix (`us.`, `eu.`, `apac.`,
//!   `global.`, `us-gov.`, `jp.`, `au.`, `ca.`);
//! - ARNs of foundation models and system profiles (`...:foundation-model/<id>`,
//!   `...:inference-profile/<id>`), which name the model in their last part;
//! - application inference profile ARNs (`...:application-inference-profile/<id>`), which do not:
//!   their model comes from GetInferenceProfile (see `inference_profile.rs`).

/// Who made the model: decides which native request fields it understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    Claude,
    Nova,
    Titan,
    Llama,
    Mistral,
    DeepSeek,
    Qwen,
    /// OpenAI's open-weight gpt-oss models.
    GptOss,
    Cohere,
    Ai21,
    Writer,
    Zai,
    Moonshot,
    MiniMax,
    Gemma,
    Nemotron,
    /// Stability AI's image models.
    Stability,
    /// An id edgeport cannot place (an unresolved application profile, a custom model ARN).
    Unknown,
}

/// Geography prefixes of system inference profiles.
const PROFILE_PREFIXES: &[&str] = &["us", "eu", "apac", "global", "us-gov", "jp", "au", "ca"];

/// Provider part of a model id (`anthropic` in `anthropic.claude-...`) → family.
const PROVIDERS: &[(&str, Family)] = &[
    ("anthropic", Family::Claude),
    ("amazon", Family::Nova), // refined below: titan models are amazon too
    ("meta", Family::Llama),
    ("mistral", Family::Mistral),
    ("deepseek", Family::DeepSeek),
    ("qwen", Family::Qwen),
    ("openai", Family::GptOss),
    ("cohere", Family::Cohere),
    ("ai21", Family::Ai21),
    ("writer", Family::Writer),
    ("zai", Family::Zai),
    ("moonshot", Family::Moonshot),
    ("moonshotai", Family::Moonshot),
    ("minimax", Family::MiniMax),
    ("google", Family::Gemma),
    ("nvidia", Family::Nemotron),
    ("stability", Family::Stability),
];

/// How a family takes `top_k` inside `additionalModelRequestFields` (recorded in
/// `test_bedrock_top_k_anthropic_variant` / `test_bedrock_top_k_nova_variant`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TopK {
    /// `{"top_k": n}`
    TopLevel(&'static str),
    /// `{"inferenceConfig": {"topK": n}}` (Nova)
    NovaInferenceConfig,
}

/// How a family is asked to reason (`reasoning_effort`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reasoning {
    /// `thinking: {type: adaptive}` + `output_config: {effort}` (Claude Opus/Sonnet 4.6 and later),
    /// as recorded in `test_bedrock_model_thinking_part_anthropic_adaptive_effort`.
    ClaudeAdaptive,
    /// `thinking: {type: enabled, budget_tokens}` (earlier Claude models with extended thinking).
    ClaudeBudget,
    /// `reasoning_effort: low|medium|high` (gpt-oss, recorded in `test_bedrock_thinking_*_openai_variant`).
    GptOssEffort,
    /// `reasoning_config: low|high` (Qwen 3, recorded in `test_bedrock_thinking_*_qwen_variant`).
    QwenConfig,
    /// `reasoningConfig: {type: enabled, maxReasoningEffort}` (Nova 2).
    NovaReasoningConfig,
    /// No knob on Bedrock (the model always or never reasons).
    None,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelInfo {
    pub family: Family,
    /// The model part of the id, profile prefix and ARN removed (`claude-sonnet-4-6`).
    pub name: String,
}

impl ModelInfo {
    pub fn unknown() -> Self {
        ModelInfo {
            family: Family::Unknown,
            name: String::new(),
        }
    }

    /// The model behind a foundation model id, system profile id or ARN, or a
    /// GetInferenceProfile `modelArn`. Application profile ARNs give [`Family::Unknown`].
    pub fn from_id(id: &str) -> Self {
        if is_application_profile(id) {
            return Self::unknown();
        }
        // ARNs name the model after the last `/`; a bare id may also hold `/` (never mind).
        let id = if id.starts_with("arn:") {
            id.rsplit('/').next().unwrap_or(id)
        } else {
            id
        };
        let mut parts = id.splitn(3, '.');
        let (first, second, rest) = (parts.next(), parts.next(), parts.next());
        let (provider, name) = match (first, second, rest) {
            (Some(p), Some(provider), Some(rest))
                if PROFILE_PREFIXES.contains(&p) && provider_family(provider).is_some() =>
            {
                (provider, rest.to_owned())
            }
            (Some(p), Some(second), rest) => {
                let name = match rest {
                    Some(r) => format!("{second}.{r}"),
                    None => second.to_owned(),
                };
                (p, name)
            }
            _ => return Self::unknown(),
        };
        let family = match provider_family(provider) {
            Some(Family::Nova) if name.starts_with("titan") => Family::Titan,
            Some(f) => f,
            None => Family::Unknown,
        };
        ModelInfo { family, name }
    }

    /// `claude-opus-4-6-v1` → (name `opus`, 4, 6); `claude-3-7-sonnet-20250219-v1:0` → (`sonnet`, 3, 7).
    fn claude_version(&self) -> Option<(&str, u32, u32)> {
        let rest = self.name.strip_prefix("claude-")?;
        let mut kind = None;
        let mut numbers = Vec::new();
        for token in rest.split(['-', ':']) {
            match token {
                "opus" | "sonnet" | "haiku" => kind = Some(token),
                // Dates (20250219) and `v1` end the version.
                t if t.len() <= 2 && t.bytes().all(|b| b.is_ascii_digit()) => {
                    if let Ok(n) = t.parse::<u32>() {
                        numbers.push(n);
                    }
                }
                _ if kind.is_some() && !numbers.is_empty() => break,
                _ => {}
            }
        }
        let major = *numbers.first()?;
        let minor = numbers.get(1).copied().unwrap_or(0);
        Some((kind?, major, minor))
    }

    pub fn reasoning(&self) -> Reasoning {
        match self.family {
            Family::Claude => match self.claude_version() {
                // Opus / Sonnet 4.6 and later decide their own budget (adaptive thinking).
                Some(("opus" | "sonnet", major, minor)) if (major, minor) >= (4, 6) => {
                    Reasoning::ClaudeAdaptive
                }
                _ => Reasoning::ClaudeBudget,
            },
            Family::GptOss => Reasoning::GptOssEffort,
            Family::Qwen => Reasoning::QwenConfig,
            Family::Nova if self.name.starts_with("nova-2") => Reasoning::NovaReasoningConfig,
            _ => Reasoning::None,
        }
    }

    pub fn top_k(&self) -> Option<TopK> {
        match self.family {
            Family::Claude | Family::Mistral => Some(TopK::TopLevel("top_k")),
            Family::Cohere => Some(TopK::TopLevel("k")),
            Family::Nova => Some(TopK::NovaInferenceConfig),
            _ => None,
        }
    }

    /// Whether Converse `outputConfig.textFormat` (JSON schema) is available: Claude Haiku,
    /// Sonnet and Opus 4.5 and later, and the open-weight families Bedrock lists (Bedrock checks
    /// the exact model within those).
    pub fn structured_output(&self) -> bool {
        match self.family {
            Family::Claude => self
                .claude_version()
                .is_some_and(|(_, major, minor)| (major, minor) >= (4, 5)),
            Family::Qwen
            | Family::DeepSeek
            | Family::Mistral
            | Family::Gemma
            | Family::Nemotron
            | Family::MiniMax
            | Family::Moonshot
            | Family::Zai
            | Family::GptOss => true,
            // An unresolved model: let Bedrock decide rather than refuse a model that may work.
            Family::Unknown => true,
            Family::Nova | Family::Titan | Family::Llama | Family::Cohere | Family::Ai21 => false,
            Family::Writer | Family::Stability => false,
        }
    }

    pub fn is_claude(&self) -> bool {
        self.family == Family::Claude
    }
}

fn provider_family(provider: &str) -> Option<Family> {
    PROVIDERS
        .iter()
        .find(|(p, _)| *p == provider)
        .map(|(_, f)| *f)
}

/// The foundation model id behind a foundation model id, a system profile id or an ARN of
/// either (what CountTokens takes): `us.anthropic.claude-x-v1:0` → `anthropic.claude-x-v1:0`,
/// `arn:...:foundation-model/anthropic.claude-x` → `anthropic.claude-x`.
pub fn foundation_model_id(id: &str) -> String {
    let id = if id.starts_with("arn:") {
        id.rsplit('/').next().unwrap_or(id)
    } else {
        id
    };
    match id.split_once('.') {
        Some((prefix, rest))
            if PROFILE_PREFIXES.contains(&prefix)
                && rest
                    .split_once('.')
                    .is_some_and(|(provider, _)| provider_family(provider).is_some()) =>
        {
            rest.to_owned()
        }
        _ => id.to_owned(),
    }
}

/// `arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc`: the model is
/// only known to the control plane.
pub fn is_application_profile(id: &str) -> bool {
    id.starts_with("arn:") && id.contains(":application-inference-profile/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn foundation_ids() {
        let c = "anthropic.claude-sonnet-4-20250514-v1:0";
        for id in [
            c.to_owned(),
            format!("us.{c}"),
            format!("global.{c}"),
            format!("us-gov.{c}"),
            format!("arn:aws:bedrock:us-east-1::foundation-model/{c}"),
            format!("arn:aws:bedrock:us-east-1:123456789012:inference-profile/eu.{c}"),
        ] {
            assert_eq!(foundation_model_id(&id), c, "{id}");
        }
    }

    #[test]
    fn families_from_ids() {
        let cases = [
            ("us.anthropic.claude-sonnet-4-6", Family::Claude, "claude-sonnet-4-6"),
            ("anthropic.claude-3-7-sonnet-20250219-v1:0", Family::Claude, "claude-3-7-sonnet-20250219-v1:0"),
            ("global.anthropic.claude-opus-4-6-v1", Family::Claude, "claude-opus-4-6-v1"),
            ("us-gov.anthropic.claude-3-5-sonnet-20240620-v1:0", Family::Claude, "claude-3-5-sonnet-20240620-v1:0"),
            ("us.amazon.nova-micro-v1:0", Family::Nova, "nova-micro-v1:0"),
            ("amazon.titan-text-express-v1", Family::Titan, "titan-text-express-v1"),
            ("openai.gpt-oss-120b-1:0", Family::GptOss, "gpt-oss-120b-1:0"),
            ("qwen.qwen3-32b-v1:0", Family::Qwen, "qwen3-32b-v1:0"),
            ("us.deepseek.r1-v1:0", Family::DeepSeek, "r1-v1:0"),
            ("arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-sonnet-4-5-20250929-v1:0", Family::Claude, "claude-sonnet-4-5-20250929-v1:0"),
            ("arn:aws:bedrock:us-east-1:123456789012:inference-profile/eu.meta.llama3-2-1b-instruct-v1:0", Family::Llama, "llama3-2-1b-instruct-v1:0"),
        ];
        for (id, family, name) in cases {
            let m = ModelInfo::from_id(id);
            assert_eq!((m.family, m.name.as_str()), (family, name), "{id}");
        }
        assert_eq!(
            ModelInfo::from_id(
                "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/x"
            )
            .family,
            Family::Unknown
        );
        assert_eq!(ModelInfo::from_id("m").family, Family::Unknown);
    }

    #[test]
    fn adaptive_thinking_for_opus_and_sonnet_4_6_and_later() {
        let r = |id| ModelInfo::from_id(id).reasoning();
        assert_eq!(
            r("us.anthropic.claude-sonnet-4-6"),
            Reasoning::ClaudeAdaptive
        );
        assert_eq!(r("anthropic.claude-opus-4-6-v1"), Reasoning::ClaudeAdaptive);
        assert_eq!(r("anthropic.claude-opus-4-7"), Reasoning::ClaudeAdaptive);
        assert_eq!(
            r("us.anthropic.claude-sonnet-4-5-20250929-v1:0"),
            Reasoning::ClaudeBudget
        );
        assert_eq!(r("anthropic.claude-haiku-4-6"), Reasoning::ClaudeBudget);
        assert_eq!(
            r("us.anthropic.claude-3-7-sonnet-20250219-v1:0"),
            Reasoning::ClaudeBudget
        );
        assert_eq!(
            r("us.anthropic.claude-opus-4-20250514-v1:0"),
            Reasoning::ClaudeBudget
        );
        assert_eq!(r("openai.gpt-oss-120b-1:0"), Reasoning::GptOssEffort);
        assert_eq!(
            r("us.amazon.nova-2-lite-v1:0"),
            Reasoning::NovaReasoningConfig
        );
        assert_eq!(r("us.amazon.nova-micro-v1:0"), Reasoning::None);
    }

    #[test]
    fn structured_output_support() {
        let s = |id| ModelInfo::from_id(id).structured_output();
        assert!(s("us.anthropic.claude-sonnet-4-5-20250929-v1:0"));
        assert!(s("us.anthropic.claude-haiku-4-5-20251001-v1:0"));
        assert!(!s("us.anthropic.claude-3-7-sonnet-20250219-v1:0"));
        assert!(!s("us.amazon.nova-micro-v1:0"));
        assert!(s("zai.glm-4.7-flash"));
    }
}
