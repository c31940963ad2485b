// Synthesised answers: Converse JSON / ConverseStream events / Anthropic Messages (InvokeModel) JSON and
// streaming events, from a text. Used for the defaults and for `text:` script entries.
import crypto from "node:crypto";

export const DEFAULT_INVOKE_TEXT = "Hello! I'm Claude, an AI assistant made by Anthropic. How can I help you today?";
export const DEFAULT_USAGE = { inputTokens: 12, outputTokens: 21 };

/** `us.anthropic.claude-3-7-sonnet-20250219-v1:0` → `claude-3-7-sonnet-20250219`. */
export function anthropicModelName(modelId) {
  const m = /anthropic\.(claude[^:/]*?)(-v\d+)?(:\d+)?$/.exec(modelId ?? "");
  return m ? m[1] : "claude-sonnet-4-5-20250929";
}

/** Splits a text into stream-sized pieces (words with their leading space), at least one piece. */
export function pieces(text, size = 3) {
  const words = String(text).match(/\s*\S+/g) ?? [String(text)];
  const out = [];
  for (let i = 0; i < words.length; i += size) out.push(words.slice(i, i + size).join(""));
  return out.length ? out : [""];
}

const usageOf = (u) => ({
  inputTokens: u?.inputTokens ?? DEFAULT_USAGE.inputTokens,
  outputTokens: u?.outputTokens ?? DEFAULT_USAGE.outputTokens,
});

export function converseJson(text, { stopReason = "end_turn", usage } = {}) {
  const u = usageOf(usage);
  return {
    metrics: { latencyMs: 312 },
    output: { message: { content: [{ text }], role: "assistant" } },
    stopReason,
    usage: { inputTokens: u.inputTokens, outputTokens: u.outputTokens, totalTokens: u.inputTokens + u.outputTokens },
  };
}

/** ConverseStream events [{type, payload}] for a plain text answer (with the real service's `p` padding). */
export function converseStreamEvents(text, { stopReason = "end_turn", usage } = {}) {
  const u = usageOf(usage);
  const p = "abcdefghijklmnopqrstuvwxyz".slice(0, 12);
  return [
    { type: "messageStart", payload: { p, role: "assistant" } },
    ...pieces(text).map((t) => ({ type: "contentBlockDelta", payload: { contentBlockIndex: 0, delta: { text: t }, p } })),
    { type: "contentBlockStop", payload: { contentBlockIndex: 0, p } },
    { type: "messageStop", payload: { p, stopReason } },
    {
      type: "metadata",
      payload: {
        metrics: { latencyMs: 412 },
        p,
        usage: { inputTokens: u.inputTokens, outputTokens: u.outputTokens, totalTokens: u.inputTokens + u.outputTokens },
      },
    },
  ];
}

const msgId = () => "msg_bdrk_01" + crypto.randomBytes(12).toString("base64url").replace(/[-_]/g, "x").slice(0, 22);

/** Native Anthropic Messages answer, as InvokeModel returns for Claude models. */
export function anthropicMessage(text, { modelId, stopReason = "end_turn", usage } = {}) {
  const u = usageOf(usage);
  return {
    id: msgId(),
    type: "message",
    role: "assistant",
    model: anthropicModelName(modelId),
    content: [{ type: "text", text }],
    stop_reason: stopReason,
    stop_sequence: null,
    usage: { input_tokens: u.inputTokens, output_tokens: u.outputTokens },
  };
}

/** The Anthropic streaming events InvokeModelWithResponseStream wraps in `chunk` frames. */
export function anthropicStreamEvents(text, { modelId, stopReason = "end_turn", usage } = {}) {
  const u = usageOf(usage);
  return [
    {
      type: "message_start",
      message: {
        id: msgId(),
        type: "message",
        role: "assistant",
        model: anthropicModelName(modelId),
        content: [],
        stop_reason: null,
        stop_sequence: null,
        usage: { input_tokens: u.inputTokens, output_tokens: 1 },
      },
    },
    { type: "content_block_start", index: 0, content_block: { type: "text", text: "" } },
    ...pieces(text).map((t) => ({ type: "content_block_delta", index: 0, delta: { type: "text_delta", text: t } })),
    { type: "content_block_stop", index: 0 },
    { type: "message_delta", delta: { stop_reason: stopReason, stop_sequence: null }, usage: { output_tokens: u.outputTokens } },
    {
      type: "message_stop",
      "amazon-bedrock-invocationMetrics": {
        inputTokenCount: u.inputTokens,
        outputTokenCount: u.outputTokens,
        invocationLatency: 687,
        firstByteLatency: 312,
      },
    },
  ];
}
