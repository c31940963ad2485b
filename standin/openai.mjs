// OpenAI's Chat Completions API on the stand-in: POST /v1/chat/completions (JSON and SSE), Bearer key
// check, OpenAI-shaped errors, request validation and scripted faults. Served by the same server (and
// port) as the Bedrock routes; routes.mjs sends every /v1/* request here (handleOpenAI).
import crypto from "node:crypto";
import { OPENAI_TEST_KEYS, OPENAI_TEST_ORGANIZATION, OPENAI_TEST_PROJECT } from "./credentials.mjs";
import { sendPlanned, garbageBytes } from "./eventstream.mjs";
import { takeScript, beforeAnswer, dripJson, modelMode } from "./routes.mjs";
import { answerFor, answerSummary, framePieces } from "./model.mjs";
import { embeddingFor, float32Base64, tokenCountFor, seedFor, colourFor, makePng } from "./media.mjs";

/** The operation name of POST /v1/chat/completions (request records, counters, `match.operation`). */
export const OPENAI_CHAT_OPERATION = "openai-chat";

/** The default answer is this prefix followed by the text of the last user message. */
export const OPENAI_TEXT_PREFIX = "Hello from the OpenAI stand-in: ";

/**
 * The top-level request fields OpenAI's Chat Completions API knows (API reference, as typed by the
 * `openai` npm package's ChatCompletionCreateParams). With `strictFields` (the default) any other
 * top-level field is answered 400 "Unrecognized request argument supplied: <name>", like OpenAI does.
 */
export const OPENAI_CHAT_FIELDS = Object.freeze([
  "messages", "model", "audio", "frequency_penalty", "function_call", "functions", "logit_bias", "logprobs",
  "max_completion_tokens", "max_tokens", "metadata", "modalities", "moderation", "n", "parallel_tool_calls",
  "prediction", "presence_penalty", "prompt_cache_key", "prompt_cache_options", "prompt_cache_retention",
  "reasoning_effort", "response_format", "safety_identifier", "seed", "service_tier", "stop", "store", "stream",
  "stream_options", "temperature", "tool_choice", "tools", "top_logprobs", "top_p", "user", "verbosity",
  "web_search_options",
]);

/**
 * Fields of Bedrock (Converse / InvokeModel) and Anthropic request bodies that OpenAI does not know: a
 * gateway passing one of them through to OpenAI gets the 400 above. (Not used by the check itself, which
 * rejects everything outside OPENAI_CHAT_FIELDS; a list for tests and docs.)
 */
export const BEDROCK_ONLY_FIELDS = Object.freeze([
  "additionalModelRequestFields", "additionalModelResponseFieldPaths", "inferenceConfig", "toolConfig",
  "guardrailConfig", "performanceConfig", "promptVariables", "requestMetadata", "system", "anthropic_version",
  "anthropic_beta", "top_k", "stop_sequences", "thinking",
]);

/** The operation names of the Responses API routes (request records, counters, `match.operation`). */
export const OPENAI_RESPONSES_OPERATION = "openai-responses";
export const OPENAI_RESPONSES_RETRIEVE_OPERATION = "openai-responses-retrieve";
export const OPENAI_RESPONSES_DELETE_OPERATION = "openai-responses-delete";

/**
 * The top-level request fields of POST /v1/responses (the `openai` npm package's ResponseCreateParams).
 * With `strictFields` any other field is a 400 "Unrecognized request argument supplied", as for chat.
 */
export const OPENAI_RESPONSES_FIELDS = Object.freeze([
  "access_programs", "background", "context_management", "conversation", "image", "include", "input", "instructions",
  "max_output_tokens", "max_tool_calls", "metadata", "model", "moderation", "parallel_tool_calls", "previous_response_id",
  "prompt", "prompt_cache_key", "prompt_cache_options", "prompt_cache_retention", "reasoning", "safety_identifier",
  "service_tier", "store", "stream", "stream_options", "temperature", "text", "tool_choice", "tools", "top_logprobs",
  "top_p", "truncation", "user",
]);

/** The operation names of POST /v1/embeddings and POST /v1/images/generations. */
export const OPENAI_EMBEDDINGS_OPERATION = "openai-embeddings";
export const OPENAI_IMAGES_OPERATION = "openai-images";

/** The request fields of POST /v1/embeddings (the `openai` package's EmbeddingCreateParams). */
export const OPENAI_EMBEDDINGS_FIELDS = Object.freeze(["input", "model", "dimensions", "encoding_format", "user"]);

/** The request fields of POST /v1/images/generations (the `openai` package's ImageGenerateParams). */
export const OPENAI_IMAGES_FIELDS = Object.freeze([
  "prompt", "background", "model", "moderation", "n", "output_compression", "output_format", "partial_images", "quality",
  "response_format", "size", "stream", "style", "user",
]);

/** The embedding length when the request has no `dimensions`. */
export const OPENAI_DEFAULT_EMBEDDING_DIMENSIONS = 1536;

/** The SSE terminator OpenAI sends after the last chunk. */
export const SSE_DONE = "data: [DONE]\n\n";

const ROLES = ["system", "assistant", "user", "function", "tool", "developer"];

/** The stand-in-wide OpenAI settings: startStandin({openai: {...}}) and configure({openai: {...}}). */
export function openaiConfig(o = {}) {
  return {
    streamPauseMs: o.streamPauseMs ?? 5,
    strictFields: o.strictFields ?? true,
    keys: { ...OPENAI_TEST_KEYS, ...(o.keys ?? {}) },
    organizations: o.organizations ?? [OPENAI_TEST_ORGANIZATION],
    projects: o.projects ?? [OPENAI_TEST_PROJECT],
  };
}

/**
 * /v1/* → route (service "openai"): POST /v1/chat/completions, POST /v1/responses, GET and DELETE
 * /v1/responses/{id}; anything else is "unknown".
 */
export function openaiRoute(method, path) {
  if (path === "/v1/chat/completions" && method === "POST") return { operation: OPENAI_CHAT_OPERATION, service: "openai", path };
  if (path === "/v1/responses" && method === "POST") return { operation: OPENAI_RESPONSES_OPERATION, service: "openai", path };
  if (path === "/v1/embeddings" && method === "POST") return { operation: OPENAI_EMBEDDINGS_OPERATION, service: "openai", path };
  if (path === "/v1/images/generations" && method === "POST") return { operation: OPENAI_IMAGES_OPERATION, service: "openai", path };
  const m = /^\/v1\/responses\/([^/]+)$/.exec(path);
  if (m && (method === "GET" || method === "DELETE")) {
    let responseId = m[1];
    try {
      responseId = decodeURIComponent(m[1]);
    } catch {}
    const operation = method === "GET" ? OPENAI_RESPONSES_RETRIEVE_OPERATION : OPENAI_RESPONSES_DELETE_OPERATION;
    return { operation, service: "openai", path, responseId };
  }
  return { operation: "unknown", service: "openai", path };
}

// ---------------------------------------------------------------- helpers

const randomId = (n) => {
  const a = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  return Array.from(crypto.randomBytes(n), (b) => a[b % a.length]).join("");
};

/** `sk-sta***`: the first 6 characters of a key, then stars (request records). */
export function maskKey(key) {
  if (typeof key !== "string" || !key) return key;
  return `${key.slice(0, 6)}***`;
}

/** How OpenAI shows a wrong key in its 401 message: the first 3 and last 4 characters. */
function maskKeyLikeOpenAI(key) {
  if (key.length <= 8) return "*".repeat(key.length);
  return `${key.slice(0, 3)}${"*".repeat(Math.max(4, key.length - 7))}${key.slice(-4)}`;
}

function headerOf(rawHeaders, name) {
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) if (rawHeaders[i].toLowerCase() === name) return rawHeaders[i + 1];
  return undefined;
}

function typeName(v) {
  if (v === null) return "null";
  if (Array.isArray(v)) return "an array";
  if (typeof v === "number") return Number.isInteger(v) ? "an integer" : "a decimal";
  if (typeof v === "string") return "a string";
  if (typeof v === "boolean") return "a boolean";
  return "an object";
}

const err = (status, message, param = null, code = null, type = "invalid_request_error") => ({
  status,
  error: { message, type, param, code },
});

// ---------------------------------------------------------------- errors

/** The default OpenAI error body for a status (overridden field by field by a script's `error` / `message`). */
export function defaultOpenAIError(status, model) {
  const m = model ?? "gpt-4o-mini";
  switch (status) {
    case 400:
      return { message: "Invalid request (stand-in scripted error).", type: "invalid_request_error", param: null, code: null };
    case 401:
      return { message: "Incorrect API key provided: sk-sta*******************0000. You can find your API key at https://platform.openai.com/account/api-keys.", type: "invalid_request_error", param: null, code: "invalid_api_key" };
    case 403:
      return { message: "Country, region, or territory not supported", type: "request_forbidden", param: null, code: "unsupported_country_region_territory" };
    case 404:
      return { message: `The model \`${m}\` does not exist or you do not have access to it.`, type: "invalid_request_error", param: null, code: "model_not_found" };
    case 429:
      return {
        message: `Rate limit reached for ${m} in organization ${OPENAI_TEST_ORGANIZATION} on requests per min (RPM): Limit 500, Used 500, Requested 1. Please try again in 120ms. Visit https://platform.openai.com/account/rate-limits to learn more.`,
        type: "requests",
        param: null,
        code: "rate_limit_exceeded",
      };
    case 500:
      return { message: "The server had an error while processing your request. Sorry about that!", type: "server_error", param: null, code: null };
    case 502:
      return { message: "Bad gateway.", type: "cf_bad_gateway", param: null, code: 502 };
    case 503:
      return { message: "The server is overloaded or not ready yet.", type: "server_error", param: null, code: null };
    case 504:
      return { message: "Gateway timeout.", type: "cf_gateway_timeout", param: null, code: 504 };
    default:
      return status >= 500
        ? { message: "The server had an error while processing your request. Sorry about that!", type: "server_error", param: null, code: null }
        : { message: `Stand-in scripted error (HTTP ${status}).`, type: "invalid_request_error", param: null, code: null };
  }
}

const QUOTA_ERROR = {
  message: "You exceeded your current quota, please check your plan and billing details. For more information on this error, read the docs: https://platform.openai.com/docs/guides/error-codes/api-errors.",
  type: "insufficient_quota",
  param: null,
  code: "insufficient_quota",
};

/** The response headers OpenAI sends with every answer (plus the entry's `headers`; a null value removes one). */
function openaiHeaders(ctx, extra = {}) {
  const { record, entry } = ctx;
  const h = {
    "x-request-id": `req_${crypto.randomBytes(16).toString("hex")}`,
    "openai-version": "2020-10-01",
    "openai-organization": record.openai?.organization ?? OPENAI_TEST_ORGANIZATION,
    "openai-processing-ms": String(Math.max(1, Date.now() - record.at)),
    "x-ratelimit-limit-requests": "10000",
    "x-ratelimit-limit-tokens": "30000000",
    "x-ratelimit-remaining-requests": "9999",
    "x-ratelimit-remaining-tokens": "29999970",
    "x-ratelimit-reset-requests": "6ms",
    "x-ratelimit-reset-tokens": "0s",
    ...(record.openai?.project ? { "openai-project": record.openai.project } : {}),
    ...extra,
    ...(entry?.headers ?? {}),
  };
  for (const k of Object.keys(h)) if (h[k] === null || h[k] === undefined) delete h[k];
  return h;
}

function sendOpenAIJson(ctx, status, json, extraHeaders = {}) {
  const { res } = ctx;
  const body = Buffer.from(JSON.stringify(json));
  res.writeHead(status, { "content-type": "application/json", "content-length": body.length, ...openaiHeaders(ctx, extraHeaders) });
  res.end(body);
}

/** An error answer (no script headers: used before a script entry is taken). */
function sendBareError(ctx, status, error, extraHeaders = {}) {
  sendOpenAIJson({ ...ctx, entry: null }, status, { error }, extraHeaders);
}

/** A scripted HTTP error: `status` ≥ 400 and/or `error: {...}` / `quota: true`. */
function scriptedError(ctx) {
  const { entry, body } = ctx;
  if (!entry) return false;
  const status = entry.status ?? (entry.error || entry.quota ? (entry.quota ? 429 : 400) : undefined);
  if (!(status >= 400)) return false;
  const extra = {};
  if (status === 429) {
    extra["x-ratelimit-remaining-requests"] = "0";
    extra["x-ratelimit-reset-requests"] = "120ms";
    const ra = entry.retryAfter === undefined ? 1 : entry.retryAfter;
    if (ra !== null) extra["retry-after"] = String(ra);
  }
  if (entry.retryAfterMs !== undefined && entry.retryAfterMs !== null) extra["retry-after-ms"] = String(entry.retryAfterMs);
  if (typeof entry.body === "string") {
    const raw = Buffer.from(entry.body);
    const ct = entry.contentType ?? (/^\s*</.test(entry.body) ? "text/html" : "text/plain");
    ctx.res.writeHead(status, { "content-type": ct, "content-length": raw.length, ...openaiHeaders(ctx, extra) });
    ctx.res.end(raw);
    return true;
  }
  if (entry.json !== undefined) {
    sendOpenAIJson(ctx, status, entry.json, extra);
    return true;
  }
  const error = {
    ...(entry.quota ? QUOTA_ERROR : defaultOpenAIError(status, body?.model)),
    ...(entry.message !== undefined ? { message: entry.message } : {}),
    ...(entry.error ?? {}),
  };
  sendOpenAIJson(ctx, status, { error }, extra);
  return true;
}

/** `raw: true`: status line, headers and body straight to the socket (any number), then close. */
function sendRaw(ctx) {
  const { res, entry, record } = ctx;
  const status = entry.status ?? 200;
  const body = Buffer.from(
    typeof entry.body === "string" ? entry.body : JSON.stringify(entry.json ?? { error: defaultOpenAIError(status >= 400 ? status : 500) }),
  );
  const headers = { ...openaiHeaders(ctx, { "content-type": "application/json" }), "content-length": String(body.length), connection: "close" };
  const head =
    `HTTP/1.1 ${status} ${entry.reason ?? "Stand-in Status"}\r\n` +
    Object.entries(headers)
      .map(([k, v]) => `${k}: ${v}\r\n`)
      .join("") +
    "\r\n";
  record.dropPlanned = true;
  record.rawStatus = status;
  res.statusCode = status;
  res.socket?.end(Buffer.concat([Buffer.from(head, "latin1"), body]));
  record.streamEnd = "raw";
}

// ---------------------------------------------------------------- auth and validation

/** Bearer key, organization and project as OpenAI checks them. */
export function authenticateOpenAI(cfg, rawHeaders) {
  const auth = headerOf(rawHeaders, "authorization");
  const organization = headerOf(rawHeaders, "openai-organization") ?? null;
  const project = headerOf(rawHeaders, "openai-project") ?? null;
  const base = { organization, project };
  const bearer = /^\s*Bearer\s+(.*?)\s*$/i.exec(auth ?? "");
  if (!bearer || !bearer[1]) {
    return {
      ...base,
      ok: false,
      auth: auth ? "other" : "none",
      key: null,
      ...err(
        401,
        "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password field (with blank username) if you're accessing the API from your browser and are prompted for a username. You can obtain an API key from https://platform.openai.com/account/api-keys.",
      ),
    };
  }
  const key = bearer[1];
  const name = Object.keys(cfg.keys).find((k) => cfg.keys[k] === key) ?? null;
  if (!name) {
    return {
      ...base,
      ok: false,
      auth: "bearer",
      key: null,
      ...err(401, `Incorrect API key provided: ${maskKeyLikeOpenAI(key)}. You can find your API key at https://platform.openai.com/account/api-keys.`, null, "invalid_api_key"),
    };
  }
  if (organization !== null && !cfg.organizations.includes(organization)) {
    return { ...base, ok: false, auth: "bearer", key: name, ...err(401, "OpenAI-Organization header should match organization for API key", null, "mismatched_organization") };
  }
  if (project !== null && !cfg.projects.includes(project)) {
    return { ...base, ok: false, auth: "bearer", key: name, ...err(401, "OpenAI-Project header should match project for API key", null, "mismatched_project") };
  }
  return { ...base, ok: true, auth: "bearer", key: name };
}

const PARSE_ERROR =
  "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON. If you have trouble figuring out how to fix this, please contact us through our help center at help.openai.com.)";

/**
 * Validates a Chat Completions body the way OpenAI answers the mistakes that matter here.
 * Returns null or {status: 400, error: {message, type, param, code}}.
 */
export function validateChatRequest(body, { strictFields = true } = {}) {
  if (body === undefined || body === null || typeof body === "string") return err(400, PARSE_ERROR);
  if (typeof body !== "object" || Array.isArray(body)) return err(400, `Invalid type for request body: expected an object, but got ${typeName(body)} instead.`, null, "invalid_type");
  if (strictFields) {
    const unknown = Object.keys(body).filter((k) => !OPENAI_CHAT_FIELDS.includes(k));
    if (unknown.length === 1) return err(400, `Unrecognized request argument supplied: ${unknown[0]}`);
    if (unknown.length > 1) return err(400, `Unrecognized request arguments supplied: ${unknown.join(", ")}`);
  }
  if (body.model === undefined || body.model === null || body.model === "") return err(400, "you must provide a model parameter");
  if (typeof body.model !== "string") return err(400, `Invalid type for 'model': expected a string, but got ${typeName(body.model)} instead.`, "model", "invalid_type");
  if (body.messages === undefined || body.messages === null) return err(400, "Missing required parameter: 'messages'.", "messages", "missing_required_parameter");
  if (!Array.isArray(body.messages)) return err(400, `Invalid type for 'messages': expected an array of objects, but got ${typeName(body.messages)} instead.`, "messages", "invalid_type");
  if (body.messages.length === 0) {
    return err(400, "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.", "messages", "empty_array");
  }
  for (const [i, m] of body.messages.entries()) {
    const p = `messages[${i}]`;
    if (!m || typeof m !== "object" || Array.isArray(m)) return err(400, `Invalid type for '${p}': expected an object, but got ${typeName(m)} instead.`, p, "invalid_type");
    if (m.role === undefined) return err(400, `Missing required parameter: '${p}.role'.`, `${p}.role`, "missing_required_parameter");
    if (!ROLES.includes(m.role)) {
      return err(400, `Invalid value: '${m.role}'. Supported values are: 'system', 'assistant', 'user', 'function', 'tool', and 'developer'.`, `${p}.role`, "invalid_value");
    }
    if (m.role !== "assistant" && (m.content === undefined || m.content === null)) {
      return err(400, `Missing required parameter: '${p}.content'.`, `${p}.content`, "missing_required_parameter");
    }
    if (m.content !== undefined && m.content !== null && typeof m.content !== "string" && !Array.isArray(m.content)) {
      return err(400, `Invalid type for '${p}.content': expected one of a string or array of objects, but got ${typeName(m.content)} instead.`, `${p}.content`, "invalid_type");
    }
    if (m.role === "tool" && typeof m.tool_call_id !== "string") {
      return err(400, `Missing required parameter: '${p}.tool_call_id'.`, `${p}.tool_call_id`, "missing_required_parameter");
    }
  }
  if (body.stream !== undefined && body.stream !== null && typeof body.stream !== "boolean") {
    return err(400, `Invalid type for 'stream': expected a boolean, but got ${typeName(body.stream)} instead.`, "stream", "invalid_type");
  }
  if (body.stream_options !== undefined && body.stream_options !== null && body.stream !== true) {
    return err(400, "The 'stream_options' parameter is only allowed when 'stream' is enabled.", "stream_options");
  }
  if (body.tools !== undefined && body.tools !== null) {
    if (!Array.isArray(body.tools)) return err(400, `Invalid type for 'tools': expected an array of objects, but got ${typeName(body.tools)} instead.`, "tools", "invalid_type");
    for (const [i, t] of body.tools.entries()) {
      const p = `tools[${i}]`;
      if (!t || typeof t !== "object") return err(400, `Invalid type for '${p}': expected an object, but got ${typeName(t)} instead.`, p, "invalid_type");
      if (t.type !== "function" && t.type !== "custom") {
        return err(400, `Invalid value: '${t.type}'. Supported values are: 'function' and 'custom'.`, `${p}.type`, "invalid_value");
      }
      const fn = t.type === "function" ? t.function : t.custom;
      if (!fn || typeof fn.name !== "string") return err(400, `Missing required parameter: '${p}.${t.type}.name'.`, `${p}.${t.type}.name`, "missing_required_parameter");
    }
  }
  if (body.tool_choice !== undefined && body.tool_choice !== null && !(Array.isArray(body.tools) && body.tools.length)) {
    return err(400, "Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are specified.", "tool_choice");
  }
  return null;
}

// ---------------------------------------------------------------- answers

function textOf(content) {
  if (typeof content === "string") return content;
  if (Array.isArray(content)) return content.filter((p) => p && p.type === "text" && typeof p.text === "string").map((p) => p.text).join(" ");
  return "";
}

/** The text of the last user message. */
export function lastUserText(messages) {
  for (let i = (messages?.length ?? 0) - 1; i >= 0; i--) if (messages[i]?.role === "user") return textOf(messages[i].content);
  return "";
}

/** Default answer text: "Hello from the OpenAI stand-in: <last user text>". */
export function defaultOpenAIText(body) {
  return `${OPENAI_TEXT_PREFIX}${lastUserText(body?.messages)}`.trimEnd();
}

/** The answer cut into stream pieces: words with their leading space ("Hello", " from", " the", ...). */
export function textPieces(text) {
  return text.match(/\s*\S+/g) ?? (text ? [text] : []);
}

/** A deterministic prompt token count: 3 + per message 4 + ceil(characters / 4). */
export function promptTokens(messages) {
  let n = 3;
  for (const m of messages ?? []) n += 4 + Math.ceil((typeof m?.content === "string" ? m.content : JSON.stringify(m?.content ?? "")).length / 4);
  return n;
}

function usageOf(prompt, completion, over = {}) {
  const p = over.prompt_tokens ?? prompt;
  const c = over.completion_tokens ?? completion;
  return {
    prompt_tokens: p,
    completion_tokens: c,
    total_tokens: over.total_tokens ?? p + c,
    prompt_tokens_details: { cached_tokens: over.cached_tokens ?? 0, audio_tokens: 0 },
    completion_tokens_details: { reasoning_tokens: over.reasoning_tokens ?? 0, audio_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 },
  };
}

/** Placeholder arguments that satisfy a JSON schema's required properties (`{}` when none). */
export function argumentsFor(schema, depth = 0) {
  if (!schema || typeof schema !== "object" || depth > 6) return {};
  const out = {};
  for (const name of Array.isArray(schema.required) ? schema.required : []) out[name] = valueFor(schema.properties?.[name], depth + 1);
  return out;
}

function valueFor(s, depth) {
  if (!s || typeof s !== "object") return "standin";
  if (Array.isArray(s.enum) && s.enum.length) return s.enum[0];
  if (s.const !== undefined) return s.const;
  const t = Array.isArray(s.type) ? s.type.find((x) => x !== "null") : s.type;
  switch (t) {
    case "string":
      return "standin";
    case "integer":
    case "number":
      return s.minimum ?? 1;
    case "boolean":
      return true;
    case "array":
      return s.minItems ? Array.from({ length: s.minItems }, () => valueFor(s.items, depth + 1)) : [];
    case "object":
      return argumentsFor(s, depth);
    default:
      return s.properties ? argumentsFor(s, depth) : "standin";
  }
}

/** The function tool the request (or the script's `toolCall`) requires, or null for a text answer. */
function forcedTool(body, entry) {
  const fns = (Array.isArray(body.tools) ? body.tools : []).filter((t) => t?.type === "function" && t.function?.name);
  const byName = (n) => fns.find((t) => t.function.name === n);
  const tc = entry?.toolCall;
  if (tc) {
    const name = typeof tc === "object" && tc.name ? tc.name : fns[0]?.function.name ?? "standin_tool";
    const t = byName(name);
    const args = typeof tc === "object" && tc.arguments !== undefined ? tc.arguments : argumentsFor(t?.function.parameters);
    return { name, arguments: typeof args === "string" ? args : JSON.stringify(args) };
  }
  if (!fns.length) return null;
  const choice = body.tool_choice;
  let t = null;
  if (choice === "required") t = fns[0];
  else if (choice && typeof choice === "object" && choice.type === "function") t = byName(choice.function?.name) ?? fns[0];
  else if (choice && typeof choice === "object" && choice.type === "allowed_tools" && choice.allowed_tools?.mode === "required") {
    const first = (choice.allowed_tools.tools ?? []).find((x) => x?.type === "function");
    t = (first && byName(first.function?.name)) ?? fns[0];
  }
  return t ? { name: t.function.name, arguments: JSON.stringify(argumentsFor(t.function.parameters)) } : null;
}

/** Everything one answer is made of, for JSON and for SSE. */
function plan(ctx) {
  const { body, entry } = ctx;
  const base = {
    id: entry?.id ?? `chatcmpl-${randomId(29)}`,
    created: Math.floor(ctx.state.now() / 1000),
    model: entry?.responseModel ?? body.model,
    systemFingerprint: entry?.systemFingerprint === undefined ? "fp_standin01" : entry.systemFingerprint,
  };
  if (modelMode(ctx.state) && entry?.text === undefined && !entry?.toolCall) return modelPlan(ctx, base);
  const tool = forcedTool(body, entry);
  const prompt = promptTokens(body.messages);
  if (tool) {
    const call = { id: `call_${randomId(24)}`, type: "function", function: tool };
    const completion = 8 + Math.ceil(tool.arguments.length / 4);
    return { ...base, tool: call, pieces: [], finishReason: entry?.finishReason ?? "tool_calls", usage: usageOf(prompt, completion, entry?.usage) };
  }
  const text = entry?.text ?? defaultOpenAIText(body);
  let pieces = textPieces(text);
  let finishReason = "stop";
  const limit = body.max_completion_tokens ?? body.max_tokens;
  if (Number.isInteger(limit) && limit > 0 && pieces.length > limit && entry?.text === undefined) {
    pieces = pieces.slice(0, limit);
    finishReason = "length";
  }
  return {
    ...base,
    tool: null,
    text: pieces.join(""),
    pieces,
    finishReason: entry?.finishReason ?? finishReason,
    usage: usageOf(prompt, Math.max(1, pieces.length), entry?.usage),
  };
}

/** Model mode (model.mjs): the answer in the shape the request asks for; `paced` streams at `paceMs`. */
function modelPlan(ctx, base) {
  const { body, entry, record } = ctx;
  const a = answerFor("openai-chat", body);
  record.modelAnswer = answerSummary(a);
  const usage = usageOf(a.usage.input, a.usage.output, entry?.usage);
  if (a.toolCall) {
    const call = { id: a.toolCall.id, type: "function", function: { name: a.toolCall.name, arguments: a.toolCall.arguments } };
    return { ...base, tool: call, pieces: [], finishReason: entry?.finishReason ?? "tool_calls", usage, paced: true };
  }
  const finishReason = entry?.finishReason ?? (a.stop === "max_tokens" ? "length" : "stop");
  return { ...base, tool: null, text: a.text, pieces: framePieces(a.text), finishReason, usage, paced: true };
}

/** The chat.completion JSON for a plan. */
export function chatCompletionJson(p) {
  const message = p.tool
    ? { role: "assistant", content: null, tool_calls: [p.tool], refusal: null, annotations: [] }
    : { role: "assistant", content: p.text, refusal: null, annotations: [] };
  return {
    id: p.id,
    object: "chat.completion",
    created: p.created,
    model: p.model,
    choices: [{ index: 0, message, logprobs: null, finish_reason: p.finishReason }],
    usage: p.usage,
    service_tier: "default",
    system_fingerprint: p.systemFingerprint,
  };
}

/** The chat.completion.chunk objects for a plan, in order (usage chunk last when includeUsage). */
export function chatCompletionChunks(p, { includeUsage = false, obfuscation = true } = {}) {
  const chunks = [];
  const chunk = (delta, finish = null) => {
    const c = {
      id: p.id,
      object: "chat.completion.chunk",
      created: p.created,
      model: p.model,
      service_tier: "default",
      system_fingerprint: p.systemFingerprint,
      choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
    };
    if (includeUsage) c.usage = null;
    if (obfuscation) c.obfuscation = crypto.createHash("sha256").update(`${p.id}:${chunks.length}`).digest("base64url").slice(0, 1 + ((chunks.length * 5) % 12));
    chunks.push(c);
  };
  if (p.tool) {
    chunk({ role: "assistant", content: null, tool_calls: [{ index: 0, id: p.tool.id, type: "function", function: { name: p.tool.function.name, arguments: "" } }], refusal: null });
    const a = p.tool.function.arguments;
    for (let i = 0; i < a.length; i += 8) chunk({ tool_calls: [{ index: 0, function: { arguments: a.slice(i, i + 8) } }] });
  } else {
    chunk({ role: "assistant", content: "", refusal: null });
    for (const piece of p.pieces) chunk({ content: piece });
  }
  chunk({}, p.finishReason);
  if (includeUsage) {
    chunks.push({
      id: p.id,
      object: "chat.completion.chunk",
      created: p.created,
      model: p.model,
      service_tier: "default",
      system_fingerprint: p.systemFingerprint,
      choices: [],
      usage: p.usage,
      ...(obfuscation ? { obfuscation: "standin" } : {}),
    });
  }
  return chunks;
}

/** One SSE event: `data: <json>\n\n` (strings are written as they are). */
export const sseEvent = (x) => Buffer.from(typeof x === "string" ? x : `data: ${JSON.stringify(x)}\n\n`, "utf8");

/**
 * Applies the `stream` faults of a script entry to the list of SSE events (Buffers).
 * Order: errorAfterChunks, garbageAfterChunks, dropBeforeContent / dropAfterChunks; stallAfterChunks
 * counts events of the result. Returns {events, dropAfter, stall} for writeFrames.
 */
export function applyChunkFaults(events, s = {}, model) {
  let out = events.slice();
  let dropAfter = null;
  let stall = null;
  const at = (n) => Math.max(0, Math.min(Number.isInteger(n) ? n : 0, out.length));
  if (s.errorAfterChunks) {
    const e = s.errorAfterChunks === true ? {} : s.errorAfterChunks;
    const { after = 0, then, status = 500, ...fields } = e;
    const error = { ...defaultOpenAIError(status, model), ...fields };
    out = out.slice(0, at(after)).concat([sseEvent({ error })]);
    if (then === "stall") stall = { after: out.length, ms: null };
    if (then === "drop") dropAfter = out.length;
  }
  if (s.garbageAfterChunks) {
    const g = s.garbageAfterChunks === true ? {} : s.garbageAfterChunks;
    const n = at(g.after);
    const junk = typeof g.text === "string" || g.bytes === undefined ? Buffer.from(g.text ?? "data: {not json\n\n", "utf8") : garbageBytes(g);
    out = g.then === "continue" ? out.slice(0, n).concat([junk], out.slice(n)) : out.slice(0, n).concat([junk]);
    if (g.then === "stall") stall = { after: out.length, ms: null };
    if (g.then === "drop") dropAfter = out.length;
  }
  if (s.dropBeforeContent) dropAfter = Math.min(1, out.length);
  if (Number.isInteger(s.dropAfterChunks)) dropAfter = at(s.dropAfterChunks);
  if (dropAfter !== null) out = out.slice(0, dropAfter);
  if (s.stallAfterChunks) {
    const st = s.stallAfterChunks;
    stall = { after: at(st.after), ms: Number.isFinite(st.ms) ? st.ms : null };
  }
  return { events: out, dropAfter, stall };
}

/**
 * A stream's delivery options: the entry's `stream`, a `drip`, and otherwise the pause between events
 * (the model answers' pace, or the configured OpenAI stream pause).
 */
function streamOptions({ entry, state }, p) {
  const s = { ...(entry?.stream ?? {}) };
  if (entry?.drip) {
    s.chunkSize = Math.max(1, entry.drip.bytes ?? 1);
    s.pauseMs = entry.drip.everyMs ?? 5;
  }
  if (s.pauseMs === undefined && !s.chunkSize && !(Array.isArray(s.splitAt) && s.splitAt.length)) {
    s.pauseMs = p.paced ? state.config.paceMs : state.config.openai.streamPauseMs;
  }
  return s;
}

async function sendSse(ctx, p) {
  const { res, entry, record, body } = ctx;
  const s = streamOptions(ctx, p);
  let events;
  if (Array.isArray(s.chunks)) {
    events = s.chunks.map(sseEvent);
  } else {
    const chunks = chatCompletionChunks(p, {
      includeUsage: body.stream_options?.include_usage === true,
      obfuscation: body.stream_options?.include_obfuscation !== false,
    });
    events = chunks.map(sseEvent).concat(s.done === false ? [] : [Buffer.from(SSE_DONE)]);
  }
  const { events: out, dropAfter, stall } = applyChunkFaults(events, s, body.model);
  await sendEvents(res, ctx, record, entry, s, out, dropAfter, stall);
}

async function sendJsonAnswer(ctx, status, json) {
  const { entry, record } = ctx;
  if (!entry?.drip) {
    sendOpenAIJson(ctx, status, json);
    record.streamEnd = "complete";
    return;
  }
  return dripJson(ctx, status, json, openaiHeaders(ctx));
}

// ---------------------------------------------------------------- the handler

/** Masks Authorization (and api-key) in a copy of the request headers. */
function maskedHeaders(headers) {
  const h = { ...headers };
  if (typeof h.authorization === "string") h.authorization = h.authorization.replace(/^(\s*Bearer\s+)(.*)$/i, (_m, b, k) => b + maskKey(k));
  if (typeof h["api-key"] === "string") h["api-key"] = maskKey(h["api-key"]);
  return h;
}

/**
 * Handles one /v1/* request (the record is already in the log). `body` is the parsed body (JSON, else
 * the string), `rawBody` the text.
 */
export async function handleOpenAI(ctx) {
  const { state, req, res, route, record } = ctx;
  record.headers = maskedHeaders(record.headers);
  const cfg = state.config.openai;

  if (route.operation === "unknown") {
    record.signature = { ok: false, auth: "skipped", error: "unknown operation" };
    return sendBareError(ctx, 404, { message: `Invalid URL (${req.method} ${route.path})`, type: "invalid_request_error", param: null, code: null });
  }

  const a = authenticateOpenAI(cfg, req.rawHeaders);
  record.openai = { key: a.key, organization: a.organization, project: a.project };
  record.signature = { ok: a.ok, auth: a.auth, key: a.key, ...(a.ok ? {} : { error: a.error.message, code: a.error.code }) };
  if (!a.ok) return sendBareError(ctx, a.status, a.error);

  if (route.operation === OPENAI_RESPONSES_OPERATION) return handleResponsesCreate(ctx);
  if (route.operation === OPENAI_EMBEDDINGS_OPERATION || route.operation === OPENAI_IMAGES_OPERATION) return handleMedia(ctx);
  if (route.operation === OPENAI_RESPONSES_RETRIEVE_OPERATION || route.operation === OPENAI_RESPONSES_DELETE_OPERATION) {
    return handleStoredResponse(ctx);
  }

  const body = ctx.rawBody && typeof ctx.body === "string" ? null : ctx.body;
  const invalid = validateChatRequest(ctx.rawBody ? body : undefined, cfg);
  if (body && typeof body === "object" && typeof body.model === "string") record.model = body.model;
  if (invalid) {
    record.openai.validationError = invalid.error.message;
    return sendBareError(ctx, invalid.status, invalid.error);
  }
  record.openai.stream = body.stream === true;
  record.openai.includeUsage = body.stream_options?.include_usage === true;

  const entry = takeScript(state, { ...route, model: body.model, stream: body.stream === true });
  record.scripted = !!entry;
  const c = { ...ctx, body, entry };
  if (!(await beforeAnswer(res, entry, record))) return;
  if (entry?.raw) return sendRaw(c);
  if (scriptedError(c)) return;
  const status = entry?.status ?? 200;
  if (entry?.json !== undefined && !entry.stream) return sendJsonAnswer(c, status, entry.json);
  const p = plan(c);
  if (body.stream === true) return sendSse(c, p);
  return sendJsonAnswer(c, status, chatCompletionJson(p));
}

// ---------------------------------------------------------------- the Responses API (/v1/responses)

const hexId = (prefix) => `${prefix}${crypto.randomBytes(24).toString("hex")}`;

const INPUT_ROLES = ["user", "assistant", "system", "developer"];

/**
 * Validates a POST /v1/responses body the way OpenAI answers the mistakes that matter here.
 * Returns null or {status: 400, error: {message, type, param, code}}.
 */
export function validateResponsesRequest(body, { strictFields = true } = {}) {
  if (body === undefined || body === null || typeof body === "string") return err(400, PARSE_ERROR);
  if (typeof body !== "object" || Array.isArray(body)) return err(400, `Invalid type for request body: expected an object, but got ${typeName(body)} instead.`, null, "invalid_type");
  if (strictFields) {
    const unknown = Object.keys(body).filter((k) => !OPENAI_RESPONSES_FIELDS.includes(k));
    if (unknown.length === 1) return err(400, `Unrecognized request argument supplied: ${unknown[0]}`);
    if (unknown.length > 1) return err(400, `Unrecognized request arguments supplied: ${unknown.join(", ")}`);
  }
  if (body.model === undefined || body.model === null || body.model === "") return err(400, "Missing required parameter: 'model'.", "model", "missing_required_parameter");
  if (typeof body.model !== "string") return err(400, `Invalid type for 'model': expected a string, but got ${typeName(body.model)} instead.`, "model", "invalid_type");
  if (body.input !== undefined && typeof body.input !== "string" && !Array.isArray(body.input)) {
    return err(400, `Invalid type for 'input': expected one of a string or array of input items, but got ${typeName(body.input)} instead.`, "input", "invalid_type");
  }
  for (const [i, item] of (Array.isArray(body.input) ? body.input : []).entries()) {
    const p = `input[${i}]`;
    if (!item || typeof item !== "object" || Array.isArray(item)) return err(400, `Invalid type for '${p}': expected an object, but got ${typeName(item)} instead.`, p, "invalid_type");
    const missing = (f) => err(400, `Missing required parameter: '${p}.${f}'.`, `${p}.${f}`, "missing_required_parameter");
    const type = item.type ?? (item.role !== undefined ? "message" : undefined);
    if (type === undefined) return missing("type");
    if (type === "message") {
      if (item.role === undefined) return missing("role");
      if (!INPUT_ROLES.includes(item.role)) {
        return err(400, `Invalid value: '${item.role}'. Supported values are: 'user', 'assistant', 'system', and 'developer'.`, `${p}.role`, "invalid_value");
      }
      if (item.content === undefined || item.content === null) return missing("content");
    } else if (type === "function_call") {
      for (const f of ["call_id", "name", "arguments"]) if (typeof item[f] !== "string") return missing(f);
    } else if (type === "function_call_output") {
      if (typeof item.call_id !== "string") return missing("call_id");
      if (item.output === undefined || item.output === null) return missing("output");
    }
  }
  if (body.stream !== undefined && body.stream !== null && typeof body.stream !== "boolean") {
    return err(400, `Invalid type for 'stream': expected a boolean, but got ${typeName(body.stream)} instead.`, "stream", "invalid_type");
  }
  if (body.stream_options !== undefined && body.stream_options !== null && body.stream !== true) {
    return err(400, "The 'stream_options' parameter is only allowed when 'stream' is enabled.", "stream_options");
  }
  if (body.tools !== undefined && body.tools !== null) {
    if (!Array.isArray(body.tools)) return err(400, `Invalid type for 'tools': expected an array, but got ${typeName(body.tools)} instead.`, "tools", "invalid_type");
    for (const [i, t] of body.tools.entries()) {
      const p = `tools[${i}]`;
      if (!t || typeof t !== "object") return err(400, `Invalid type for '${p}': expected an object, but got ${typeName(t)} instead.`, p, "invalid_type");
      if (typeof t.type !== "string") return err(400, `Missing required parameter: '${p}.type'.`, `${p}.type`, "missing_required_parameter");
      if (t.type === "function" && typeof t.name !== "string") return err(400, `Missing required parameter: '${p}.name'.`, `${p}.name`, "missing_required_parameter");
    }
  }
  return null;
}

function inputPartsText(content) {
  if (typeof content === "string") return content;
  if (Array.isArray(content)) {
    return content.filter((p) => p && (p.type === "input_text" || p.type === "text" || p.type === "output_text") && typeof p.text === "string").map((p) => p.text).join(" ");
  }
  return "";
}

/** The text of the last user message of a Responses `input` (a string input is that text). */
export function lastUserInputText(input) {
  if (typeof input === "string") return input;
  if (!Array.isArray(input)) return "";
  for (let i = input.length - 1; i >= 0; i--) {
    const it = input[i];
    if (it && (it.type === undefined || it.type === "message") && it.role === "user") return inputPartsText(it.content);
  }
  return "";
}

/** `input` as a list of items (a string is one user message). */
export function inputItems(input) {
  if (typeof input === "string") return [{ type: "message", role: "user", content: input }];
  return Array.isArray(input) ? input : [];
}

/** Deterministic input tokens: 3 + per item 4 + ceil(characters / 4) (instructions count as one item). */
export function responseInputTokens(items, instructions) {
  let n = 3;
  const all = typeof instructions === "string" && instructions ? [{ content: instructions }, ...items] : items;
  for (const it of all) {
    const c = it?.content ?? it?.output ?? it?.arguments ?? it;
    n += 4 + Math.ceil((typeof c === "string" ? c : JSON.stringify(c ?? "")).length / 4);
  }
  return n;
}

function responsesUsage(input, output, over = {}) {
  const i = over.input_tokens ?? input;
  const o = over.output_tokens ?? output;
  return {
    input_tokens: i,
    input_tokens_details: { cached_tokens: over.cached_tokens ?? 0 },
    output_tokens: o,
    output_tokens_details: { reasoning_tokens: over.reasoning_tokens ?? 0 },
    total_tokens: over.total_tokens ?? i + o,
  };
}

/** The function tool a Responses request (or the script's `toolCall`) requires, or null for a text answer. */
function forcedResponsesTool(body, entry) {
  const fns = (Array.isArray(body.tools) ? body.tools : []).filter((t) => t?.type === "function" && typeof t.name === "string");
  const byName = (n) => fns.find((t) => t.name === n);
  const tc = entry?.toolCall;
  if (tc) {
    const name = typeof tc === "object" && tc.name ? tc.name : fns[0]?.name ?? "standin_tool";
    const args = typeof tc === "object" && tc.arguments !== undefined ? tc.arguments : argumentsFor(byName(name)?.parameters);
    return { name, arguments: typeof args === "string" ? args : JSON.stringify(args), callId: typeof tc === "object" ? tc.callId : undefined };
  }
  if (!fns.length) return null;
  const choice = body.tool_choice;
  let t = null;
  if (choice === "required") t = fns[0];
  else if (choice && typeof choice === "object" && choice.type === "function") t = byName(choice.name) ?? fns[0];
  else if (choice && typeof choice === "object" && choice.type === "allowed_tools" && choice.mode === "required") {
    const first = (choice.tools ?? []).find((x) => x?.type === "function");
    t = (first && byName(first.name)) ?? fns[0];
  }
  return t ? { name: t.name, arguments: JSON.stringify(argumentsFor(t.parameters)) } : null;
}

/** Everything one Responses answer is made of (JSON and SSE): the final response and its items. */
function responsesPlan(ctx, history) {
  const { body, entry, state } = ctx;
  const items = [...history, ...inputItems(body.input)];
  const inputTokens = responseInputTokens(items, body.instructions);
  const base = {
    id: entry?.id ?? hexId("resp_"),
    createdAt: Math.floor(state.now() / 1000),
    model: entry?.responseModel ?? body.model,
  };
  const model = modelMode(state) && entry?.text === undefined && !entry?.toolCall ? answerFor("openai-responses", { ...body, history }) : null;
  const tool = model ? null : forcedResponsesTool(body, entry);
  let item;
  let status = "completed";
  let incomplete = null;
  let pieces = [];
  let outputTokens;
  let inputCount = inputTokens;
  if (model) {
    // model mode (model.mjs): the answer in the shape the request asks for
    ctx.record.modelAnswer = answerSummary(model);
    inputCount = model.usage.input;
    outputTokens = model.usage.output;
    if (model.toolCall) {
      const t = model.toolCall;
      item = { id: hexId("fc_"), type: "function_call", status: "completed", arguments: t.arguments, call_id: t.id, name: t.name };
    } else {
      pieces = framePieces(model.text);
      if (model.stop === "max_tokens") {
        status = "incomplete";
        incomplete = { reason: "max_output_tokens" };
      }
      item = { id: hexId("msg_"), type: "message", status, content: [{ type: "output_text", annotations: [], logprobs: [], text: model.text }], role: "assistant" };
    }
  } else if (tool) {
    item = { id: hexId("fc_"), type: "function_call", status: "completed", arguments: tool.arguments, call_id: tool.callId ?? `call_${randomId(24)}`, name: tool.name };
    outputTokens = 8 + Math.ceil(tool.arguments.length / 4);
  } else {
    const text = entry?.text ?? `${OPENAI_TEXT_PREFIX}${lastUserInputText(body.input)}`.trimEnd();
    pieces = textPieces(text);
    const limit = body.max_output_tokens;
    if (Number.isInteger(limit) && limit > 0 && pieces.length > limit && entry?.text === undefined) {
      pieces = pieces.slice(0, limit);
      status = "incomplete";
      incomplete = { reason: "max_output_tokens" };
    }
    item = { id: hexId("msg_"), type: "message", status, content: [{ type: "output_text", annotations: [], logprobs: [], text: pieces.join("") }], role: "assistant" };
    outputTokens = Math.max(1, pieces.length);
  }
  const usage = responsesUsage(inputCount, outputTokens, entry?.usage);
  const final = responseObject(base, body, {
    status,
    output: [item],
    usage,
    completedAt: status === "completed" ? Math.floor(state.now() / 1000) : null,
    incomplete,
  });
  return { ...base, item, pieces, final, items, paced: !!model };
}

/** A `response` object as OpenAI returns it, the request's settings echoed. */
function responseObject(base, body, { status, output, usage, completedAt = null, incomplete = null, error = null }) {
  return {
    id: base.id,
    object: "response",
    created_at: base.createdAt,
    status,
    background: body.background ?? false,
    completed_at: completedAt,
    error,
    incomplete_details: incomplete,
    instructions: body.instructions ?? null,
    max_output_tokens: body.max_output_tokens ?? null,
    max_tool_calls: body.max_tool_calls ?? null,
    model: base.model,
    output,
    parallel_tool_calls: body.parallel_tool_calls ?? true,
    previous_response_id: body.previous_response_id ?? null,
    prompt_cache_key: body.prompt_cache_key ?? null,
    prompt_cache_retention: body.prompt_cache_retention ?? null,
    reasoning: { effort: body.reasoning?.effort ?? null, summary: body.reasoning?.summary ?? null },
    safety_identifier: body.safety_identifier ?? null,
    service_tier: "default",
    store: body.store ?? true,
    temperature: body.temperature ?? 1,
    text: { format: body.text?.format ?? { type: "text" }, verbosity: body.text?.verbosity ?? "medium" },
    tool_choice: body.tool_choice ?? "auto",
    tools: body.tools ?? [],
    top_logprobs: body.top_logprobs ?? 0,
    top_p: body.top_p ?? 1,
    truncation: body.truncation ?? "disabled",
    usage,
    user: body.user ?? null,
    metadata: body.metadata ?? {},
  };
}

/**
 * The Responses stream events for a plan, in order, each `{type, sequence_number, ...}`:
 * response.created, response.in_progress, output_item.added, then for text content_part.added,
 * output_text.delta per word, output_text.done, content_part.done (for a function call
 * function_call_arguments.delta in 8-character pieces, function_call_arguments.done), output_item.done,
 * and response.completed (response.incomplete when cut by max_output_tokens).
 */
export function responseStreamEvents(p, body, { obfuscation = true } = {}) {
  const events = [];
  const push = (type, fields) => events.push({ type, sequence_number: events.length, ...fields });
  const obf = () => crypto.createHash("sha256").update(`${p.id}:${events.length}`).digest("base64url").slice(0, 1 + ((events.length * 5) % 12));
  const pending = responseObject(p, body, { status: "in_progress", output: [], usage: null });
  push("response.created", { response: pending });
  push("response.in_progress", { response: pending });
  const item = p.item;
  const at = { item_id: item.id, output_index: 0 };
  if (item.type === "function_call") {
    push("response.output_item.added", { output_index: 0, item: { ...item, status: "in_progress", arguments: "" } });
    const a = item.arguments;
    for (let i = 0; i < a.length; i += 8) push("response.function_call_arguments.delta", { ...at, delta: a.slice(i, i + 8), ...(obfuscation ? { obfuscation: obf() } : {}) });
    push("response.function_call_arguments.done", { ...at, arguments: a, name: item.name });
  } else {
    const text = item.content[0].text;
    push("response.output_item.added", { output_index: 0, item: { id: item.id, type: "message", status: "in_progress", content: [], role: "assistant" } });
    push("response.content_part.added", { ...at, content_index: 0, part: { type: "output_text", annotations: [], logprobs: [], text: "" } });
    for (const piece of p.pieces) push("response.output_text.delta", { ...at, content_index: 0, delta: piece, logprobs: [], ...(obfuscation ? { obfuscation: obf() } : {}) });
    push("response.output_text.done", { ...at, content_index: 0, text, logprobs: [] });
    push("response.content_part.done", { ...at, content_index: 0, part: { type: "output_text", annotations: [], logprobs: [], text } });
  }
  push("response.output_item.done", { output_index: 0, item });
  push(p.final.status === "incomplete" ? "response.incomplete" : "response.completed", { response: p.final });
  return events;
}

/** One named SSE event: `event: <type>\ndata: <json>\n\n` (strings are written as they are). */
export const sseNamedEvent = (x) => Buffer.from(typeof x === "string" ? x : `event: ${x.type}\ndata: ${JSON.stringify(x)}\n\n`, "utf8");

/**
 * Applies a Responses stream's `stream` faults to its events (objects): `dropBeforeContent` (every
 * event before the first delta, then a reset), `errorAfterChunks: {after, as: "failed" | "error",
 * status, code, message, then}` (`after` events, then `response.failed` with the response's `error`, or
 * an `error` event). The other faults (dropAfterChunks, stallAfterChunks, garbageAfterChunks) are
 * applyChunkFaults'. Returns {events (Buffers), dropAfter, stall}.
 */
export function applyResponsesFaults(events, s = {}, p, body) {
  let evs = events.slice();
  const rest = { ...s };
  delete rest.errorAfterChunks;
  delete rest.dropBeforeContent;
  const at = (n) => Math.max(0, Math.min(Number.isInteger(n) ? n : 0, evs.length));
  if (s.errorAfterChunks) {
    const e = s.errorAfterChunks === true ? {} : s.errorAfterChunks;
    const { after = 0, then, status = 500, as = "failed", ...fields } = e;
    const error = { ...defaultOpenAIError(status, body.model), ...fields };
    evs = evs.slice(0, at(after));
    const seq = evs.length;
    if (as === "error") {
      evs.push({ type: "error", code: error.code ?? null, message: error.message, param: error.param ?? null, sequence_number: seq });
    } else {
      const failed = responseObject(p, body, { status: "failed", output: [], usage: null, error: { code: error.code ?? "server_error", message: error.message } });
      evs.push({ type: "response.failed", sequence_number: seq, response: failed });
    }
    if (then === "stall") rest.stallAfterChunks = { after: evs.length };
    if (then === "drop") rest.dropAfterChunks = evs.length;
  }
  if (s.dropBeforeContent) {
    const i = evs.findIndex((x) => typeof x === "object" && /\.delta$/.test(x.type));
    rest.dropAfterChunks = i < 0 ? evs.length : i;
  }
  return applyChunkFaults(evs.map(sseNamedEvent), rest, body.model);
}

async function sendResponsesSse(ctx, p) {
  const { res, entry, record, body } = ctx;
  const s = streamOptions(ctx, p);
  const events = Array.isArray(s.chunks) ? s.chunks : responseStreamEvents(p, body, { obfuscation: body.stream_options?.include_obfuscation !== false });
  const { events: out, dropAfter, stall } = applyResponsesFaults(events, s, p, body);
  await sendEvents(res, ctx, record, entry, s, out, dropAfter, stall);
}

const responseNotFound = (id) => ({ message: `Response with id '${id}' not found.`, type: "invalid_request_error", param: null, code: null });

/** POST /v1/responses (authenticated): validation, previous_response_id, script, JSON or SSE, storage. */
async function handleResponsesCreate(ctx) {
  const { state, res, route, record } = ctx;
  const cfg = state.config.openai;
  const body = ctx.rawBody && typeof ctx.body === "string" ? null : ctx.body;
  const invalid = validateResponsesRequest(ctx.rawBody ? body : undefined, cfg);
  if (body && typeof body === "object" && typeof body.model === "string") record.model = body.model;
  if (invalid) {
    record.openai.validationError = invalid.error.message;
    return sendBareError(ctx, invalid.status, invalid.error);
  }
  record.openai.stream = body.stream === true;
  record.openai.previousResponseId = body.previous_response_id ?? null;
  let history = [];
  if (typeof body.previous_response_id === "string") {
    const prev = state.openaiResponses.get(body.previous_response_id);
    if (!prev || prev.key !== record.openai.key) {
      const error = { message: `Previous response with id '${body.previous_response_id}' not found.`, type: "invalid_request_error", param: "previous_response_id", code: "previous_response_not_found" };
      record.openai.validationError = error.message;
      return sendBareError(ctx, 400, error);
    }
    history = prev.items;
  }
  record.openai.historyItems = history.length;

  const entry = takeScript(state, { ...route, model: body.model, stream: body.stream === true });
  record.scripted = !!entry;
  const c = { ...ctx, body, entry };
  if (!(await beforeAnswer(res, entry, record))) return;
  if (entry?.raw) return sendRaw(c);
  if (scriptedError(c)) return;
  const status = entry?.status ?? 200;
  if (entry?.json !== undefined && !entry.stream) return sendJsonAnswer(c, status, entry.json);
  const p = responsesPlan(c, history);
  const faulted = !!(entry?.stream && Object.keys(entry.stream).some((k) => !["pauseMs", "splitAt", "chunkSize"].includes(k)));
  if (body.store !== false && !faulted) {
    state.openaiResponses.set(p.id, { response: p.final, key: record.openai.key, items: [...p.items, p.item] });
  }
  record.openai.responseId = p.id;
  if (body.stream === true) return sendResponsesSse(c, p);
  return sendJsonAnswer(c, status, p.final);
}

/** GET / DELETE /v1/responses/{id} (authenticated): the stored response, scoped to the key that made it. */
async function handleStoredResponse(ctx) {
  const { state, res, route, record } = ctx;
  const entry = takeScript(state, route);
  record.scripted = !!entry;
  const c = { ...ctx, body: null, entry };
  if (!(await beforeAnswer(res, entry, record))) return;
  if (entry?.raw) return sendRaw(c);
  if (scriptedError(c)) return;
  if (entry?.json !== undefined) return sendJsonAnswer(c, entry.status ?? 200, entry.json);
  const id = route.responseId;
  const stored = state.openaiResponses.get(id);
  if (!stored || stored.key !== record.openai.key) return sendOpenAIJson(c, 404, { error: responseNotFound(id) });
  if (route.operation === OPENAI_RESPONSES_DELETE_OPERATION) {
    state.openaiResponses.delete(id);
    return sendOpenAIJson(c, 200, { id, object: "response", deleted: true });
  }
  return sendJsonAnswer(c, 200, stored.response);
}

/** Writes a planned SSE answer (chat or Responses) with its faults, noting on `record` when each
 * frame went out and how the stream ended. */
async function sendEvents(res, ctx, record, entry, s, out, dropAfter, stall) {
  res.writeHead(entry?.status && entry.status < 400 ? entry.status : 200, {
    "content-type": "text/event-stream; charset=utf-8",
    "cache-control": "no-cache",
    ...openaiHeaders(ctx),
  });
  res.flushHeaders();
  await sendPlanned(res, record, out, s, dropAfter, stall);
}

// ---------------------------------------------------------------- /v1/embeddings and /v1/images/generations

const INVALID_EMBEDDING_INPUT = "'$.input' is invalid. Please check the API reference: https://platform.openai.com/docs/api-reference.";

/** `input` as a list of {key (embeddingFor's input), tokens}, or null when OpenAI would refuse it. */
export function embeddingInputs(input) {
  const isTokens = (a) => Array.isArray(a) && a.length > 0 && a.every((t) => Number.isInteger(t) && t >= 0);
  if (typeof input === "string") return input.length ? [{ key: input, tokens: tokenCountFor(input) }] : null;
  if (!Array.isArray(input) || input.length === 0 || input.length > 2048) return null;
  if (input.every((x) => typeof x === "string")) return input.every((x) => x.length) ? input.map((x) => ({ key: x, tokens: tokenCountFor(x) })) : null;
  if (isTokens(input)) return [{ key: `tokens:${input.join(",")}`, tokens: input.length }];
  if (input.every(isTokens)) return input.map((a) => ({ key: `tokens:${a.join(",")}`, tokens: a.length }));
  return null;
}

const intOutOfRange = (param, v, min, max) =>
  v < min
    ? err(400, `Invalid '${param}': integer below minimum value. Expected a value >= ${min}, but got ${v} instead.`, param, "integer_below_min_value")
    : err(400, `Invalid '${param}': integer above maximum value. Expected a value <= ${max}, but got ${v} instead.`, param, "integer_above_max_value");

const supported = (values) => (values.length === 1 ? `'${values[0]}'` : `${values.slice(0, -1).map((v) => `'${v}'`).join(", ")}${values.length > 2 ? "," : ""} and '${values[values.length - 1]}'`);
const invalidValue = (param, v, values) => err(400, `Invalid value: '${v}'. Supported values are: ${supported(values)}.`, param, "invalid_value");

/** The common part: body parse errors, unknown fields, `model`. */
function validateCommon(body, fields, strictFields, { modelRequired = true } = {}) {
  if (body === undefined || body === null || typeof body === "string") return err(400, PARSE_ERROR);
  if (typeof body !== "object" || Array.isArray(body)) return err(400, `Invalid type for request body: expected an object, but got ${typeName(body)} instead.`, null, "invalid_type");
  if (strictFields) {
    const unknown = Object.keys(body).filter((k) => !fields.includes(k));
    if (unknown.length === 1) return err(400, `Unrecognized request argument supplied: ${unknown[0]}`);
    if (unknown.length > 1) return err(400, `Unrecognized request arguments supplied: ${unknown.join(", ")}`);
  }
  if (modelRequired && (body.model === undefined || body.model === null || body.model === "")) return err(400, "you must provide a model parameter");
  if (body.model !== undefined && body.model !== null && typeof body.model !== "string") {
    return err(400, `Invalid type for 'model': expected a string, but got ${typeName(body.model)} instead.`, "model", "invalid_type");
  }
  if (body.user !== undefined && body.user !== null && typeof body.user !== "string") {
    return err(400, `Invalid type for 'user': expected a string, but got ${typeName(body.user)} instead.`, "user", "invalid_type");
  }
  return null;
}

/** Validates a POST /v1/embeddings body like OpenAI. Returns null or {status: 400, error}. */
export function validateEmbeddingsRequest(body, { strictFields = true } = {}) {
  const common = validateCommon(body, OPENAI_EMBEDDINGS_FIELDS, strictFields);
  if (common) return common;
  if (body.input === undefined || body.input === null) return err(400, "Missing required parameter: 'input'.", "input", "missing_required_parameter");
  if (!embeddingInputs(body.input)) return err(400, INVALID_EMBEDDING_INPUT);
  const f = body.encoding_format;
  if (f !== undefined && f !== null && f !== "float" && f !== "base64") return invalidValue("encoding_format", f, ["float", "base64"]);
  const d = body.dimensions;
  if (d !== undefined && d !== null) {
    if (typeof d !== "number" || !Number.isInteger(d)) return err(400, `Invalid type for 'dimensions': expected an integer, but got ${typeName(d)} instead.`, "dimensions", "invalid_type");
    if (d < 1) return intOutOfRange("dimensions", d, 1);
    if (body.model === "text-embedding-ada-002") return err(400, "This model does not support specifying dimensions.");
  }
  return null;
}

/** The /v1/embeddings answer: one embeddingFor("openai:" + model, input, dimensions ?? 1536) per input. */
export function embeddingsJson(body) {
  const dims = body.dimensions ?? OPENAI_DEFAULT_EMBEDDING_DIMENSIONS;
  const inputs = embeddingInputs(body.input);
  const tokens = inputs.reduce((n, x) => n + x.tokens, 0);
  return {
    object: "list",
    data: inputs.map((x, index) => {
      const v = embeddingFor(`openai:${body.model}`, x.key, dims);
      return { object: "embedding", index, embedding: body.encoding_format === "base64" ? float32Base64(v) : v };
    }),
    model: body.model,
    usage: { prompt_tokens: tokens, total_tokens: tokens },
  };
}

const IMAGE_MODELS = {
  "dall-e-2": { sizes: ["256x256", "512x512", "1024x1024"], maxN: 10, maxPrompt: 1000, quality: ["standard"] },
  "dall-e-3": { sizes: ["1024x1024", "1792x1024", "1024x1792"], maxN: 1, maxPrompt: 4000, quality: ["standard", "hd"], style: true },
  "gpt-image-1": { sizes: ["auto", "1024x1024", "1536x1024", "1024x1536"], maxN: 10, maxPrompt: 32000, quality: ["auto", "low", "medium", "high"], gptImage: true },
};
/** The rules for a model: its own, gpt-image-1's for other gpt-image-* models, lenient ones for others. */
function imageModelRules(model) {
  if (IMAGE_MODELS[model]) return IMAGE_MODELS[model];
  if (/^gpt-image-/.test(model)) return { ...IMAGE_MODELS["gpt-image-1"] };
  return { sizes: null, maxN: 10, maxPrompt: 32000, quality: ["auto", "standard", "hd", "low", "medium", "high"], style: true };
}

/** Validates a POST /v1/images/generations body like OpenAI. Returns null or {status: 400, error}. */
export function validateImagesRequest(body, { strictFields = true } = {}) {
  const common = validateCommon(body, OPENAI_IMAGES_FIELDS, strictFields, { modelRequired: false });
  if (common) return common;
  const model = body.model ?? "dall-e-2";
  const rules = imageModelRules(model);
  const p = body.prompt;
  if (p === undefined || p === null) return err(400, "Missing required parameter: 'prompt'.", "prompt", "missing_required_parameter");
  if (typeof p !== "string") return err(400, `Invalid type for 'prompt': expected a string, but got ${typeName(p)} instead.`, "prompt", "invalid_type");
  if (!p.length) return err(400, "Invalid 'prompt': empty string. Expected a string with minimum length 1, but got an empty string instead.", "prompt", "empty_string");
  if (p.length > rules.maxPrompt) {
    return err(400, `Invalid 'prompt': string too long. Expected a string with maximum length ${rules.maxPrompt}, but got a string with length ${p.length} instead.`, "prompt", "string_above_max_length");
  }
  const n = body.n;
  if (n !== undefined && n !== null) {
    if (typeof n !== "number" || !Number.isInteger(n)) return err(400, `Invalid type for 'n': expected an integer, but got ${typeName(n)} instead.`, "n", "invalid_type");
    if (n < 1 || n > rules.maxN) return intOutOfRange("n", n, 1, rules.maxN);
  }
  const size = body.size;
  if (size !== undefined && size !== null) {
    if (rules.sizes ? !rules.sizes.includes(size) : !(size === "auto" || (/^(\d+)x(\d+)$/.test(size) && size.split("x").every((x) => +x >= 16 && +x <= 4096)))) {
      return invalidValue("size", size, rules.sizes ?? ["auto", "<width>x<height>"]);
    }
  }
  const enums = [
    ["quality", rules.quality],
    ["response_format", ["url", "b64_json"]],
    ["output_format", ["png", "jpeg", "webp"]],
    ["background", ["transparent", "opaque", "auto"]],
    ["moderation", ["low", "auto"]],
    ["style", ["vivid", "natural"]],
  ];
  for (const [k, values] of enums) if (body[k] !== undefined && body[k] !== null && !values.includes(body[k])) return invalidValue(k, body[k], values);
  if (body.style !== undefined && body.style !== null && !rules.style) return err(400, `The 'style' parameter is not supported for ${model}.`, "style");
  const c = body.output_compression;
  if (c !== undefined && c !== null && !(Number.isInteger(c) && c >= 0 && c <= 100)) return intOutOfRange("output_compression", c, 0, 100);
  if (body.stream === true || (body.partial_images ?? 0) > 0) {
    return err(400, "Streaming image generation (stream, partial_images) is not supported by the stand-in.", "stream");
  }
  return null;
}

/** The /v1/images/generations answer (PNGs from media.mjs; `url` items are served by the stand-in until reset). */
export function imagesJson(body, { now, store, baseUrl } = {}) {
  const model = body.model ?? "dall-e-2";
  const rules = imageModelRules(model);
  const size = body.size && body.size !== "auto" ? body.size : "1024x1024";
  const [width, height] = size.split("x").map(Number);
  const prompt = body.prompt;
  const seed = seedFor(prompt);
  const data = [];
  for (let index = 0; index < (body.n ?? 1); index++) {
    const png = makePng(width, height, {
      rgb: colourFor(`openai:${model}`, prompt, seed, index),
      text: { prompt, seed, index, model, quality: body.quality, style: body.style, output_format: body.output_format, background: body.background, width, height },
    });
    const item = {};
    if (body.response_format === "url" && store) {
      const id = crypto.randomBytes(12).toString("hex");
      store.set(id, png);
      if (store.size > 256) store.delete(store.keys().next().value);
      item.url = `${baseUrl}/__standin/media/${id}.png`;
    } else {
      item.b64_json = png.toString("base64");
    }
    if (model === "dall-e-3") item.revised_prompt = prompt;
    data.push(item);
  }
  const json = { created: Math.floor((now ?? Date.now()) / 1000), data };
  if (rules.gptImage) {
    const input = tokenCountFor(prompt);
    const output = 1056 * data.length;
    Object.assign(json, {
      background: body.background ?? "opaque",
      output_format: body.output_format ?? "png",
      quality: body.quality ?? "medium",
      size: `${width}x${height}`,
      usage: { input_tokens: input, input_tokens_details: { text_tokens: input, image_tokens: 0 }, output_tokens: output, total_tokens: input + output },
    });
  }
  return json;
}

/** POST /v1/embeddings and /v1/images/generations (authenticated): validation, script, answer. */
async function handleMedia(ctx) {
  const { state, req, res, route, record } = ctx;
  const cfg = state.config.openai;
  const images = route.operation === OPENAI_IMAGES_OPERATION;
  const body = ctx.rawBody && typeof ctx.body === "string" ? null : ctx.body;
  const invalid = (images ? validateImagesRequest : validateEmbeddingsRequest)(ctx.rawBody ? body : undefined, cfg);
  if (body && typeof body === "object" && typeof body.model === "string") record.model = body.model;
  else if (images && body && typeof body === "object" && body.model === undefined) record.model = "dall-e-2";
  if (invalid) {
    record.openai.validationError = invalid.error.message;
    return sendBareError(ctx, invalid.status, invalid.error);
  }
  if (images) record.openai.images = { n: body.n ?? 1, size: body.size ?? null, responseFormat: body.response_format ?? null };
  else record.openai.embeddings = { inputs: embeddingInputs(body.input).length, dimensions: body.dimensions ?? OPENAI_DEFAULT_EMBEDDING_DIMENSIONS, encodingFormat: body.encoding_format ?? "float" };

  const entry = takeScript(state, { ...route, model: record.model, stream: false });
  record.scripted = !!entry;
  const c = { ...ctx, body, entry };
  if (!(await beforeAnswer(res, entry, record))) return;
  if (entry?.raw) return sendRaw(c);
  if (scriptedError(c)) return;
  const status = entry?.status ?? 200;
  if (entry?.json !== undefined) return sendJsonAnswer(c, status, entry.json);
  if (!images) return sendJsonAnswer(c, status, embeddingsJson(body));
  const host = req.headers.host ?? "127.0.0.1";
  return sendJsonAnswer(c, status, imagesJson(body, { now: state.now(), store: state.mediaStore, baseUrl: `http://${host}` }));
}
