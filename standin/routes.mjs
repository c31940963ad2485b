// Operation dispatch: which Bedrock / STS operation a request is, authentication, scripted or default
// answers. The state object is created by server.mjs (createState).
import crypto from "node:crypto";
import { verifySigV4, CredentialStore, MESSAGES } from "./sigv4.mjs";
import { TEST_CREDENTIALS } from "./credentials.mjs";
import {
  encodeEvent,
  encodeException,
  encodeError,
  encodeChunk,
  splitFrames,
  applyFrameFaults,
  sendPlanned,
  stallFor,
} from "./eventstream.mjs";
import { fixtureJson, fixtureFrames, loadFixture, DEFAULT_CONVERSE_FIXTURE, DEFAULT_STREAM_FIXTURE } from "./fixtures.mjs";
import {
  DEFAULT_INVOKE_TEXT,
  converseJson,
  converseStreamEvents,
  anthropicMessage,
  anthropicStreamEvents,
} from "./answers.mjs";
import { openaiRoute, openaiConfig, handleOpenAI } from "./openai.mjs";
import { mediaModelOf, mediaInvokeAnswer, MediaValidationError } from "./media.mjs";
import {
  ANSWER_MODES,
  DEFAULT_MODEL_PACE_MS,
  answerFor,
  answerSummary,
  converseJsonOf,
  converseStreamEventsOf,
  anthropicMessageOf,
  anthropicStreamEventsOf,
  countTokensFor,
} from "./model.mjs";

export const ERROR_TYPE_SUFFIX = ":http://internal.amazon.com/coral/com.amazon.coral.service/";
export const ACCOUNT_ID = "123456789012";
export const DEFAULT_PROFILE_MODEL = "anthropic.claude-sonnet-4-5-20250929-v1:0";
export const OPERATIONS = ["converse", "converse-stream", "invoke", "invoke-with-response-stream", "count-tokens"];
const STREAMING = new Set(["converse-stream", "invoke-with-response-stream"]);

export const STATUS_BY_ERROR_TYPE = {
  ValidationException: 400,
  AccessDeniedException: 403,
  UnrecognizedClientException: 403,
  InvalidSignatureException: 403,
  IncompleteSignatureException: 403,
  MissingAuthenticationTokenException: 403,
  ExpiredTokenException: 403,
  ResourceNotFoundException: 404,
  UnknownOperationException: 404,
  ModelTimeoutException: 408,
  ModelErrorException: 424,
  ThrottlingException: 429,
  ModelNotReadyException: 429,
  ServiceQuotaExceededException: 400,
  InternalServerException: 500,
  ServiceUnavailableException: 503,
};
const TYPE_BY_STATUS = {
  400: "ValidationException",
  403: "AccessDeniedException",
  404: "ResourceNotFoundException",
  408: "ModelTimeoutException",
  424: "ModelErrorException",
  429: "ThrottlingException",
  500: "InternalServerException",
  503: "ServiceUnavailableException",
};

/** Checks the answer settings (`answers`, `paceMs`) of startStandin / configure; throws on a bad value. */
export function checkAnswerSettings(cfg) {
  if (cfg.answers !== undefined && !ANSWER_MODES.includes(cfg.answers)) {
    throw new Error(`answers must be one of ${ANSWER_MODES.join(", ")} (got ${JSON.stringify(cfg.answers)})`);
  }
  if (cfg.paceMs !== undefined && !(Number.isFinite(cfg.paceMs) && cfg.paceMs >= 0)) {
    throw new Error(`paceMs must be a number ≥ 0 (got ${JSON.stringify(cfg.paceMs)})`);
  }
}

/** Whether the stand-in answers like a model (`answers: "model"`) rather than with the recorded answers. */
export const modelMode = (state) => state.config.answers === "model";

/**
 * Whether a script entry says what to answer (then it wins over the model answer); an entry with only
 * delays, faults or headers is applied to the model answer.
 */
export function entryAnswers(entry) {
  if (!entry) return false;
  return (
    entry.text !== undefined ||
    entry.json !== undefined ||
    entry.toolCall !== undefined ||
    entry.inputTokens !== undefined ||
    !!entry.fixture ||
    !!entry.stream?.fixture ||
    Array.isArray(entry.stream?.events) ||
    Array.isArray(entry.stream?.chunks) ||
    Array.isArray(entry.anthropicEvents)
  );
}

/** The mutable state behind one stand-in. */
export function createState(opts = {}) {
  checkAnswerSettings(opts);
  const state = {
    opts,
    store: new CredentialStore(),
    queue: [],
    log: [],
    seq: 0,
    counters: null,
    profiles: new Map(),
    roles: new Map(),
    issued: [],
    config: {},
    now: () => (typeof state.config.now === "function" ? state.config.now() : Date.now()),
  };
  resetState(state);
  return state;
}

/** Clears the script queue, the request log and the counters; scripted profiles/roles/config go back to opts. */
export function resetState(state) {
  const o = state.opts;
  state.queue.length = 0;
  state.log.length = 0;
  state.issued.length = 0; // the issued credentials themselves stay valid until they expire
  state.openaiResponses = new Map(); // stored Responses API answers: id → {response, key, items}
  state.mediaStore = new Map(); // generated images served at /__standin/media/<id>.png (OpenAI `response_format: "url"`)
  state.counters = { sts: 0, getInferenceProfile: 0, byOperation: {} };
  state.profiles = new Map(Object.entries(o.inferenceProfiles ?? {}));
  state.roles = new Map(Object.entries(o.roles ?? {}));
  state.config = {
    stsDurationSeconds: o.stsDurationSeconds,
    maxSkewMs: o.maxSkewMs,
    countTokens: o.countTokens ?? 42,
    countTokensSet: o.countTokens !== undefined, // model mode counts the body unless a number was set
    now: o.now,
    openai: openaiConfig(o.openai),
    answers: o.answers ?? "recorded",
    paceMs: o.paceMs ?? DEFAULT_MODEL_PACE_MS,
  };
}

export function pushScript(state, entry) {
  if (!entry || typeof entry !== "object") throw new Error("script entry must be an object");
  if (entry.stream?.fixture) loadFixture(entry.stream.fixture); // fail early on a bad name
  if (entry.fixture) loadFixture(entry.fixture);
  state.queue.push(structuredClone(entry));
}

/** Which operation a request is. The path is matched as received (model id stays percent-encoded). */
export function routeOf(method, url) {
  const q = url.indexOf("?");
  const path = q < 0 ? url : url.slice(0, q);
  if (path === "/v1" || path.startsWith("/v1/")) return openaiRoute(method, path); // OpenAI (openai.mjs)
  const dec = (s) => {
    try {
      return decodeURIComponent(s);
    } catch {
      return s;
    }
  };
  let m = /^\/model\/([^/]+)\/([a-z-]+)$/.exec(path);
  if (m && OPERATIONS.includes(m[2])) {
    return method === "POST"
      ? { operation: m[2], service: "bedrock", path, model: dec(m[1]), rawModel: m[1] }
      : { operation: "unknown", path, model: dec(m[1]) };
  }
  m = /^\/inference-profiles\/([^/]+)$/.exec(path);
  if (m && method === "GET") return { operation: "get-inference-profile", service: "bedrock", path, profileId: dec(m[1]) };
  if (path === "/" && method === "POST") return { operation: "assume-role", service: "sts", path };
  return { operation: "unknown", path };
}

const requestId = () => crypto.randomUUID();

function baseHeaders(entry) {
  return { "x-amzn-requestid": requestId(), ...(entry?.headers ?? {}) };
}

export function sendJson(res, status, json, headers = {}) {
  const body = Buffer.from(JSON.stringify(json));
  res.writeHead(status, { "content-type": "application/json", "content-length": body.length, ...headers });
  res.end(body);
}

export function sendJsonError(res, status, errorType, message, headers = {}, json) {
  sendJson(res, status ?? STATUS_BY_ERROR_TYPE[errorType] ?? 400, json ?? { message }, {
    "x-amzn-errortype": `${errorType}${ERROR_TYPE_SUFFIX}`,
    ...headers,
  });
}

const xmlEscape = (s) =>
  String(s ?? "").replace(/[<>&'"]/g, (c) => ({ "<": "&lt;", ">": "&gt;", "&": "&amp;", "'": "&apos;", '"': "&quot;" })[c]);

function sendXml(res, status, xml, headers = {}) {
  const body = Buffer.from(xml);
  res.writeHead(status, { "content-type": "text/xml", "content-length": body.length, ...headers });
  res.end(body);
}

function sendStsError(res, status, code, message, headers = {}) {
  const rid = requestId();
  sendXml(
    res,
    status,
    `<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">\n  <Error>\n    <Type>Sender</Type>\n    <Code>${xmlEscape(code)}</Code>\n    <Message>${xmlEscape(message)}</Message>\n  </Error>\n  <RequestId>${rid}</RequestId>\n</ErrorResponse>\n`,
    { "x-amzn-requestid": rid, ...headers },
  );
}

const STS_CODE_BY_AUTH_ERROR = {
  InvalidSignatureException: "SignatureDoesNotMatch",
  UnrecognizedClientException: "InvalidClientTokenId",
  ExpiredTokenException: "ExpiredToken",
  MissingAuthenticationTokenException: "MissingAuthenticationToken",
  IncompleteSignatureException: "IncompleteSignature",
};

function headerOf(rawHeaders, name) {
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) if (rawHeaders[i].toLowerCase() === name) return rawHeaders[i + 1];
  return undefined;
}

async function authenticate(state, req, route, body) {
  const auth = headerOf(req.rawHeaders, "authorization");
  const bearer = /^\s*Bearer\s+(.+?)\s*$/i.exec(auth ?? "");
  if (bearer) {
    const ok = route.service === "bedrock" && bearer[1] === TEST_CREDENTIALS.apiKey;
    return ok
      ? { ok: true, auth: "bearer", accessKeyId: null, region: null, service: null, signedHeaders: [] }
      : {
          ok: false,
          auth: "bearer",
          accessKeyId: null,
          region: null,
          service: null,
          signedHeaders: [],
          status: 403,
          errorType: "UnrecognizedClientException",
          error: MESSAGES.invalidToken,
        };
  }
  return verifySigV4({
    method: req.method,
    url: req.url,
    rawHeaders: req.rawHeaders,
    body,
    expectedService: route.service,
    store: state.store,
    now: state.now(),
    maxSkewMs: state.config.maxSkewMs,
  });
}

/** The first queued script entry whose `match` fits the request (removed from the queue), or null. */
export function takeScript(state, route) {
  const provider = route.service === "openai" ? "openai" : "bedrock";
  const stream = route.stream ?? STREAMING.has(route.operation);
  const i = state.queue.findIndex((e) => {
    const m = e.match;
    if (!m) return true;
    if (m.provider && m.provider !== provider) return false;
    if (m.operation && m.operation !== route.operation) return false;
    if (m.model && m.model !== route.model && m.model !== route.profileId) return false;
    if (m.stream !== undefined && m.stream !== null && !!m.stream !== stream) return false;
    return true;
  });
  return i < 0 ? null : state.queue.splice(i, 1)[0];
}

function parseBody(buf, contentType) {
  const text = buf.toString("utf8");
  if (!text) return { body: null, text };
  if (/json/i.test(contentType ?? "") || /^\s*[[{]/.test(text)) {
    try {
      return { body: JSON.parse(text), text };
    } catch {
      /* fall through */
    }
  }
  return { body: text, text };
}

/**
 * Handles one (non-control) request. `body` is the raw body Buffer.
 */
export async function handleOperation(state, req, res, body) {
  const route = routeOf(req.method, req.url);
  const contentType = headerOf(req.rawHeaders, "content-type");
  const { body: parsedBody, text } = parseBody(body, contentType);
  const record = {
    id: ++state.seq,
    at: Date.now(),
    operation: route.operation,
    method: req.method,
    path: route.path,
    url: req.url,
    model: route.model ?? route.profileId ?? null,
    headers: { ...req.headers },
    body: parsedBody,
    rawBody: text,
    signature: null,
    status: null,
    scripted: false,
  };
  if (/x-www-form-urlencoded/i.test(contentType ?? "")) record.form = Object.fromEntries(new URLSearchParams(text));
  state.log.push(record);
  const c = state.counters;
  c.byOperation[route.operation] = (c.byOperation[route.operation] ?? 0) + 1;
  if (route.operation === "assume-role") c.sts++;
  if (route.operation === "get-inference-profile") c.getInferenceProfile++;
  res.on("finish", () => (record.status = res.statusCode));
  res.on("close", () => {
    record.status = res.statusCode;
    if (!res.writableFinished && !record.dropPlanned) record.clientAborted = true;
  });

  if (route.service === "openai") return handleOpenAI({ state, req, res, route, record, body: parsedBody, rawBody: text });

  if (route.operation === "unknown") {
    record.signature = { ok: false, auth: "skipped", error: "unknown operation" };
    return sendJsonError(res, 404, "UnknownOperationException", `Unknown operation: ${req.method} ${route.path}`, baseHeaders());
  }

  const sig = await authenticate(state, req, route, body);
  record.signature = {
    ok: sig.ok,
    auth: sig.auth,
    accessKeyId: sig.accessKeyId,
    region: sig.region,
    service: sig.service,
    signedHeaders: sig.signedHeaders,
    ...(sig.ok ? {} : { errorType: sig.errorType, error: sig.error }),
  };
  if (!sig.ok) {
    if (route.service === "sts") return sendStsError(res, sig.status ?? 403, STS_CODE_BY_AUTH_ERROR[sig.errorType] ?? sig.errorType, sig.error);
    return sendJsonError(res, sig.status ?? 403, sig.errorType, sig.error, baseHeaders());
  }

  const entry = takeScript(state, route);
  record.scripted = !!entry;
  if (!(await beforeAnswer(res, entry, record))) return;

  const ctx = { state, req, res, route, entry, record, body: parsedBody };
  switch (route.operation) {
    case "assume-role":
      return assumeRole(ctx);
    case "get-inference-profile":
      return getInferenceProfile(ctx);
    default:
      return runtime(ctx);
  }
}

/**
 * The faults that come before any answer: `delayMs`, `stallBeforeHeaders` (ms, or true = until the
 * client goes away), `dropBeforeHeaders`. Resolves false when the request is over (dropped / aborted).
 */
export async function beforeAnswer(res, entry, record) {
  if (entry?.delayMs) await new Promise((r) => setTimeout(r, entry.delayMs));
  if (res.destroyed) return false;
  if (entry?.stallBeforeHeaders) {
    // true: never answer (until the client goes away); a number: answer after that many ms.
    record.stalled = "before-headers";
    const ms = entry.stallBeforeHeaders === true ? null : Number(entry.stallBeforeHeaders);
    if (!(await stallFor(res, ms))) {
      record.streamEnd = "aborted";
      return false;
    }
  }
  if (entry?.dropBeforeHeaders) {
    record.dropPlanned = true;
    record.streamEnd = "dropped";
    res.socket?.destroy();
    return false;
  }
  return true;
}

// ---------------------------------------------------------------- runtime operations

function scriptedError(ctx) {
  const { entry, res } = ctx;
  if (!entry) return false;
  const status = entry.status ?? (entry.errorType ? STATUS_BY_ERROR_TYPE[entry.errorType] ?? 400 : undefined);
  if (!(entry.errorType || (status && status >= 400))) return false;
  const type = entry.errorType ?? TYPE_BY_STATUS[status] ?? "InternalServerException";
  if (ctx.route.service === "sts") {
    sendStsError(res, status, type, entry.message ?? "Scripted error", entry.headers ?? {});
  } else {
    sendJsonError(res, status, type, entry.message ?? "Scripted error", baseHeaders(entry), entry.json);
  }
  return true;
}

/** The recorded interaction a `fixture` entry replays (prefers one of the same operation). */
function fixtureInteraction(name, operation, index = 0) {
  const all = loadFixture(name).interactions;
  const same = all.filter((i) => i.request.operation === operation);
  const list = same.length ? same : all;
  const it = list[index];
  if (!it) throw new Error(`fixture ${name} has no interaction #${index}`);
  return it;
}

function streamFrames(ctx) {
  const { entry, route } = ctx;
  if (ctx.answer) {
    return route.operation === "invoke-with-response-stream"
      ? anthropicStreamEventsOf(ctx.answer, route.model).map((ev) => encodeChunk(ev))
      : converseStreamEventsOf(ctx.answer).map((ev) => encodeEvent(ev.type, ev.payload));
  }
  const s = entry?.stream ?? {};
  const opts = { modelId: route.model, stopReason: entry?.stopReason, usage: entry?.usage };
  if (s.fixture) return fixtureFrames(s.fixture, s.index ?? 0);
  if (Array.isArray(s.events)) return s.events.map((ev) => frameOf(ev));
  if (Array.isArray(entry?.anthropicEvents)) return entry.anthropicEvents.map((ev) => encodeChunk(ev));
  if (entry?.fixture) {
    const it = fixtureInteraction(entry.fixture, route.operation, entry.fixtureIndex ?? 0);
    if (it.response.body_base64) return splitFrames(Buffer.from(it.response.body_base64, "base64"));
  }
  if (route.operation === "invoke-with-response-stream") {
    return anthropicStreamEvents(entry?.text ?? DEFAULT_INVOKE_TEXT, opts).map((ev) => encodeChunk(ev));
  }
  if (entry?.text !== undefined) return converseStreamEvents(entry.text, opts).map((ev) => encodeEvent(ev.type, ev.payload));
  return fixtureFrames(DEFAULT_STREAM_FIXTURE);
}

/** One `events:` item → frame. */
export function frameOf(ev) {
  if (ev.exception) return encodeException(ev.exception, ev.message);
  if (ev.error) return encodeError(ev.error.code, ev.error.message);
  if (ev.chunk) return encodeChunk(ev.chunk);
  if (ev.raw) return Buffer.from(ev.raw, "base64");
  if (ev.type) return encodeEvent(ev.type, ev.payload ?? {});
  throw new Error(`cannot encode stream event ${JSON.stringify(ev)}`);
}

async function sendStream(ctx) {
  const { res, entry, record, route } = ctx;
  let frames;
  try {
    frames = streamFrames(ctx);
  } catch (e) {
    return sendJsonError(res, 500, "InternalServerException", `stand-in: ${e.message}`, baseHeaders(entry));
  }
  const s = { ...(entry?.stream ?? {}) };
  if (entry?.drip) {
    // slow drip: `bytes` bytes every `everyMs` ms (the same as stream.chunkSize + stream.pauseMs)
    s.chunkSize = Math.max(1, entry.drip.bytes ?? 1);
    s.pauseMs = entry.drip.everyMs ?? 5;
  }
  if (ctx.answer && s.pauseMs === undefined) s.pauseMs = ctx.state.config.paceMs; // model answers: a model's pace
  const eventType = route.operation === "invoke-with-response-stream" ? "chunk" : "contentBlockDelta";
  const { frames: out, dropAfter, stall } = applyFrameFaults(frames, s, eventType);
  const headers = { "content-type": "application/vnd.amazon.eventstream", ...baseHeaders(entry) };
  if (route.operation === "invoke-with-response-stream") headers["x-amzn-bedrock-content-type"] = "application/json";
  res.writeHead(entry?.status && entry.status < 400 ? entry.status : 200, headers);
  res.flushHeaders();
  await sendPlanned(res, record, out, s, dropAfter, stall);
}

/**
 * `raw: true`: the status line, headers and body written straight to the socket (any status number,
 * 1xx included, which Node's writeHead cannot send as a final answer), then the connection is closed.
 */
function sendRaw(ctx) {
  const { res, entry, record } = ctx;
  const status = entry.status ?? 200;
  const body = Buffer.from(
    typeof entry.body === "string" ? entry.body : JSON.stringify(entry.json ?? { message: entry.message ?? `stand-in raw status ${status}` }),
  );
  const headers = {
    "content-type": "application/json",
    "content-length": String(body.length),
    connection: "close",
    "x-amzn-requestid": requestId(),
    ...(entry.errorType ? { "x-amzn-errortype": `${entry.errorType}${ERROR_TYPE_SUFFIX}` } : {}),
    ...(entry.headers ?? {}),
  };
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

/** A JSON answer, dripped (`drip: {bytes, everyMs}`) when the entry asks for it. */
async function replyJson(ctx, status, json) {
  if (!ctx.entry?.drip) return sendJson(ctx.res, status, json, baseHeaders(ctx.entry));
  return dripJson(ctx, status, json, baseHeaders(ctx.entry));
}

/** `json` sent `entry.drip.bytes` bytes every `entry.drip.everyMs` ms (Bedrock's and OpenAI's side alike). */
export async function dripJson(ctx, status, json, headers) {
  const { res, entry, record } = ctx;
  const body = Buffer.from(JSON.stringify(json));
  res.writeHead(status, { "content-type": "application/json", "content-length": body.length, ...headers });
  res.flushHeaders();
  const n = Math.max(1, entry.drip.bytes ?? 1);
  const every = entry.drip.everyMs ?? 5;
  for (let off = 0; off < body.length; off += n) {
    if (res.destroyed || res.socket?.destroyed) {
      record.streamEnd = "aborted";
      return;
    }
    if (off > 0) await new Promise((r) => setTimeout(r, every));
    res.write(body.subarray(off, off + n));
  }
  res.end();
  record.streamEnd = "complete";
}

function runtime(ctx) {
  const { res, entry, route } = ctx;
  if (entry?.raw) return sendRaw(ctx);
  if (scriptedError(ctx)) return;
  const op = route.operation;

  if (op === "count-tokens") {
    const err = validateCountTokens(ctx.body);
    if (err && !entry?.json) return sendJsonError(res, 400, "ValidationException", err, baseHeaders(entry));
  }

  // Embedding and image models (media.mjs): InvokeModel only. Converse / streaming on them is refused as
  // Bedrock does, unless a script entry says what to answer.
  const media = op === "count-tokens" ? null : mediaOf(ctx);
  if (media && !entry && (op === "converse" || op === "converse-stream")) {
    return sendJsonError(res, 400, "ValidationException", "This action doesn't support the model that you provided. Try again with a supported text or chat model.", baseHeaders());
  }
  if (media && !entry && op === "invoke-with-response-stream") {
    return sendJsonError(res, 400, "ValidationException", "The model is unsupported for streaming.", baseHeaders());
  }
  if (media && op === "invoke" && !entry?.fixture) return invokeMedia(ctx, media);

  // Model mode (model.mjs): an answer in the shape the request asks for, unless the entry says what to answer.
  if (modelMode(ctx.state) && !entryAnswers(entry)) {
    if (op === "count-tokens") {
      if (!ctx.state.config.countTokensSet) return replyJson(ctx, entry?.status ?? 200, { inputTokens: countTokensFor(ctx.body, route.model) });
    } else {
      return modelRuntime(ctx);
    }
  }

  const wantsStream = STREAMING.has(op) && !(entry && entry.json !== undefined && !entry.stream);
  if (entry?.fixture && !entry.stream) {
    const it = fixtureInteraction(entry.fixture, op, entry.fixtureIndex ?? 0);
    const r = it.response;
    if (!r.body_base64 || r.content_type !== "application/vnd.amazon.eventstream") {
      if (r.status >= 400) {
        return sendJsonError(res, r.status, entry.errorType ?? TYPE_BY_STATUS[r.status] ?? "InternalServerException", null, baseHeaders(entry), r.json ?? {});
      }
      if (r.json != null) return sendJson(res, r.status, r.json, baseHeaders(entry));
      const raw = Buffer.from(r.body_base64 ?? "", "base64");
      res.writeHead(r.status, { "content-type": r.content_type ?? "application/octet-stream", "content-length": raw.length, ...baseHeaders(entry) });
      return res.end(raw);
    }
  }
  if (wantsStream) return sendStream(ctx);

  const status = entry?.status ?? 200;
  if (entry?.json !== undefined) return replyJson(ctx, status, entry.json);
  const o = { modelId: route.model, stopReason: entry?.stopReason, usage: entry?.usage };
  switch (op) {
    case "converse":
      if (entry?.text !== undefined) return replyJson(ctx, status, converseJson(entry.text, o));
      return replyJson(ctx, status, fixtureJson(DEFAULT_CONVERSE_FIXTURE, 0, "converse").json);
    case "invoke":
      return replyJson(ctx, status, anthropicMessage(entry?.text ?? DEFAULT_INVOKE_TEXT, o));
    case "count-tokens":
      return replyJson(ctx, status, { inputTokens: entry?.inputTokens ?? ctx.state.config.countTokens });
    default:
      return replyJson(ctx, status, {});
  }
}

/** Converse / ConverseStream / InvokeModel / InvokeModelWithResponseStream in model mode. */
function modelRuntime(ctx) {
  const { route, entry, record } = ctx;
  const op = route.operation;
  const answer = answerFor(op.startsWith("converse") ? "converse" : "anthropic", ctx.body, { model: route.model });
  record.modelAnswer = answerSummary(answer);
  if (STREAMING.has(op)) return sendStream({ ...ctx, answer });
  const status = entry?.status ?? 200;
  if (op === "converse") return replyJson(ctx, status, converseJsonOf(answer));
  return replyJson(ctx, status, anthropicMessageOf(answer, route.model));
}

/**
 * The embedding / image model a runtime request names ({model, family} from media.mjs), or null: the path's
 * id (foundation id, system profile, ARN), or an application inference profile whose scripted `modelArn`
 * (setInferenceProfile) names one.
 */
function mediaOf(ctx) {
  const direct = mediaModelOf(ctx.route.model);
  if (direct) return direct;
  const { found, value } = findProfile(ctx.state, ctx.route.model ?? "");
  const arn = found && value ? value.modelArn ?? value.models?.[0]?.modelArn : null;
  return arn ? mediaModelOf(arn) : null;
}

/**
 * InvokeModel on an embedding / image model: the body validated as Bedrock does (400 ValidationException),
 * then the deterministic answer of media.mjs, with `x-amzn-bedrock-invocation-latency` and (embeddings)
 * `x-amzn-bedrock-input-token-count`. A script entry's `json` is sent as is (even for an invalid body);
 * `finishReason` (Stability) answers `{"finish_reasons": [reason]}` like a filtered request.
 */
async function invokeMedia(ctx, media) {
  const { res, entry, record } = ctx;
  record.media = { model: media.model, family: media.family };
  let answer = null;
  try {
    answer = mediaInvokeAnswer(media, ctx.body);
  } catch (e) {
    if (!(e instanceof MediaValidationError)) throw e;
    record.media.validationError = e.message;
    if (entry?.json === undefined && entry?.finishReason === undefined) {
      return sendJsonError(res, 400, "ValidationException", e.message, baseHeaders(entry));
    }
  }
  const headers = { "x-amzn-requestid": requestId(), "x-amzn-bedrock-invocation-latency": String(Math.max(1, Date.now() - record.at)) };
  if (answer?.kind === "embedding") {
    headers["x-amzn-bedrock-input-token-count"] = String(answer.inputTokens);
    record.media.inputTokens = answer.inputTokens;
  }
  if (answer?.kind === "image") record.media.imageCount = answer.imageCount;
  Object.assign(headers, entry?.headers ?? {});
  let json = answer?.json;
  if (entry?.finishReason !== undefined) json = { finish_reasons: [entry.finishReason] };
  if (entry?.json !== undefined) json = entry.json;
  const status = entry?.status ?? 200;
  if (entry?.drip) return dripJson(ctx, status, json, headers);
  return sendJson(res, status, json, headers);
}

/** CountTokens input: {"input":{"invokeModel":{"body":"<base64 JSON>"}}} or {"input":{"converse":{"messages":[...]}}}. */
export function validateCountTokens(body) {
  const input = body && typeof body === "object" ? body.input : undefined;
  if (!input || typeof input !== "object") return "1 validation error detected: Value null at 'input' failed to satisfy constraint: Member must not be null";
  if (input.invokeModel !== undefined) {
    const b = input.invokeModel?.body;
    if (typeof b !== "string" || !/^[A-Za-z0-9+/]*={0,2}$/.test(b) || b.length === 0) {
      return "1 validation error detected: Value at 'input.invokeModel.body' failed to satisfy constraint: Member must be a base64-encoded blob";
    }
    try {
      JSON.parse(Buffer.from(b, "base64").toString("utf8"));
    } catch {
      return "The provided request body is not valid JSON.";
    }
    return null;
  }
  if (input.converse !== undefined) {
    if (!Array.isArray(input.converse?.messages)) return "1 validation error detected: Value null at 'input.converse.messages' failed to satisfy constraint: Member must not be null";
    return null;
  }
  return "1 validation error detected: input must contain exactly one of invokeModel or converse";
}

// ---------------------------------------------------------------- control plane

function profileDefaults(idOrArn, region) {
  const arnM = /^arn:aws[\w-]*:bedrock:([^:]*):(\d*):(application-inference-profile|inference-profile)\/(.+)$/.exec(idOrArn);
  const r = arnM?.[1] || region || "us-east-1";
  const acct = arnM?.[2] || ACCOUNT_ID;
  const id = arnM ? arnM[4] : idOrArn;
  const system = arnM ? arnM[3] === "inference-profile" : /^(us|eu|apac|global|us-gov|jp|au|ca)\.[a-z]/.test(id);
  const base = system ? id.replace(/^[a-z-]+\./, "") : DEFAULT_PROFILE_MODEL;
  return {
    inferenceProfileName: system ? `${id}` : `edgeport-test-${id}`,
    description: system ? "System-defined cross-region inference profile" : "Application inference profile (stand-in)",
    createdAt: "2025-10-01T00:00:00Z",
    updatedAt: "2025-10-01T00:00:00Z",
    inferenceProfileArn: `arn:aws:bedrock:${r}:${acct}:${system ? "inference-profile" : "application-inference-profile"}/${id}`,
    models: [{ modelArn: `arn:aws:bedrock:${r}::foundation-model/${base}` }],
    inferenceProfileId: id,
    status: "ACTIVE",
    type: system ? "SYSTEM_DEFINED" : "APPLICATION",
  };
}

function findProfile(state, key) {
  if (state.profiles.has(key)) return { found: true, value: state.profiles.get(key) };
  const tail = /\/([^/]+)$/.exec(key)?.[1];
  if (tail && state.profiles.has(tail)) return { found: true, value: state.profiles.get(tail) };
  for (const [k, v] of state.profiles) {
    if (k.startsWith("arn:") && k.endsWith(`/${key}`)) return { found: true, value: v };
  }
  return { found: false };
}

function getInferenceProfile(ctx) {
  const { state, res, entry, route, record } = ctx;
  if (scriptedError(ctx)) return;
  if (entry?.json !== undefined) return sendJson(res, entry.status ?? 200, entry.json, baseHeaders(entry));
  const key = route.profileId;
  const { found, value } = findProfile(state, key);
  if (found && value === null) {
    return sendJsonError(res, 404, "ResourceNotFoundException", `Inference profile ${key} not found.`, baseHeaders(entry));
  }
  const defaults = profileDefaults(key, record.signature?.region);
  const v = found ? value : {};
  const models = v.models ?? (v.modelArn ? [{ modelArn: v.modelArn }] : defaults.models);
  const { modelArn: _ignored, ...rest } = v;
  return sendJson(res, 200, { ...defaults, ...rest, models }, baseHeaders(entry));
}

// ---------------------------------------------------------------- STS

const randomUpper = (n) => {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  const bytes = crypto.randomBytes(n);
  return Array.from(bytes, (b) => alphabet[b % 32]).join("");
};

function assumeRole(ctx) {
  const { state, res, entry, record } = ctx;
  const form = Object.fromEntries(new URLSearchParams(record.rawBody ?? ""));
  record.form = form;
  if (form.Action !== "AssumeRole") {
    return sendStsError(res, 400, "InvalidAction", `Could not find operation ${form.Action ?? "(none)"} for version ${form.Version ?? "NO_VERSION_SPECIFIED"}`);
  }
  if (form.Version !== "2011-06-15") return sendStsError(res, 400, "InvalidAction", `Could not find operation AssumeRole for version ${form.Version ?? "NO_VERSION_SPECIFIED"}`);
  if (!form.RoleArn || !form.RoleSessionName) {
    const which = !form.RoleArn ? "roleArn" : "roleSessionName";
    return sendStsError(res, 400, "ValidationError", `1 validation error detected: Value null at '${which}' failed to satisfy constraint: Member must not be null`);
  }
  if (scriptedError(ctx)) return;
  const role = state.roles.get(form.RoleArn) ?? {};
  const callerArn = `arn:aws:iam::${ACCOUNT_ID}:user/edgeport-test`;
  const denied = () =>
    sendStsError(res, 403, "AccessDenied", `User: ${callerArn} is not authorized to perform: sts:AssumeRole on resource: ${form.RoleArn}`);
  if (role.deny) return denied();
  if (role.externalId !== undefined && role.externalId !== null && form.ExternalId !== role.externalId) return denied();
  let requested;
  if (form.DurationSeconds !== undefined) {
    requested = Number(form.DurationSeconds);
    if (!Number.isInteger(requested) || requested < 900 || requested > 43200) {
      return sendStsError(res, 400, "ValidationError", `1 validation error detected: Value '${form.DurationSeconds}' at 'durationSeconds' failed to satisfy constraint: Member must have value greater than or equal to 900`);
    }
  }
  const duration = entry?.durationSeconds ?? role.durationSeconds ?? state.config.stsDurationSeconds ?? requested ?? 3600;
  const now = state.now();
  const expiresAt = now + duration * 1000;
  const cred = {
    accessKeyId: "ASIA" + randomUpper(16),
    secretAccessKey: crypto.randomBytes(30).toString("base64"),
    sessionToken: "IQoJb3JpZ2luX2VjE" + crypto.randomBytes(96).toString("base64"),
    expiresAt,
    source: "sts",
    roleArn: form.RoleArn,
  };
  state.store.add(cred);
  const expiration = new Date(expiresAt).toISOString().replace(/\.\d{3}Z$/, "Z");
  state.issued.push({ accessKeyId: cred.accessKeyId, secretAccessKey: cred.secretAccessKey, sessionToken: cred.sessionToken, expiration, roleArn: form.RoleArn, externalId: form.ExternalId ?? null });
  record.issued = { accessKeyId: cred.accessKeyId, expiration, durationSeconds: duration };
  const roleName = form.RoleArn.split("/").pop();
  const rid = requestId();
  const xml = `<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleResult>
    <SourceIdentity></SourceIdentity>
    <AssumedRoleUser>
      <AssumedRoleId>AROA${randomUpper(17)}:${xmlEscape(form.RoleSessionName)}</AssumedRoleId>
      <Arn>arn:aws:sts::${ACCOUNT_ID}:assumed-role/${xmlEscape(roleName)}/${xmlEscape(form.RoleSessionName)}</Arn>
    </AssumedRoleUser>
    <Credentials>
      <AccessKeyId>${cred.accessKeyId}</AccessKeyId>
      <SecretAccessKey>${xmlEscape(cred.secretAccessKey)}</SecretAccessKey>
      <SessionToken>${xmlEscape(cred.sessionToken)}</SessionToken>
      <Expiration>${expiration}</Expiration>
    </Credentials>
  </AssumeRoleResult>
  <ResponseMetadata>
    <RequestId>${rid}</RequestId>
  </ResponseMetadata>
</AssumeRoleResponse>
`;
  return sendXml(res, 200, xml, { "x-amzn-requestid": rid, ...(entry?.headers ?? {}) });
}
