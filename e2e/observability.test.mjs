// Logs, traces, usage and cost end to end (README: Logs, traces, usage and cost): the real SDKs (openai,
// @anthropic-ai/sdk, portkey-ai) → the real Worker in workerd → the stand-in. Each test reads the
// Worker's own log line for its request (`gw.logs`, "log: {json}"), found by the trace id it sent (or
// the one the answer carries), and checks the answer headers the SDK handed back.
//
// What the stand-in can and cannot script, and so what is asserted:
// - Converse JSON and InvokeModel JSON are scripted whole (`json`), so usage with prompt-cache reads and
//   writes is exact; ConverseStream (`stream.events`) and InvokeModelWithResponseStream
//   (`anthropicEvents`) likewise, event by event.
// - ConverseStream reports usage only in its last event (`metadata`): a chat stream the client leaves
//   early has `usage: null` (and `cost_usd: null`). InvokeModelWithResponseStream reports input tokens
//   in `message_start`: a /v1/messages stream left early has that usage.
// - Prices: src/usage/prices.rs as of the commit under test (rows named below); every figure is
//   computed by hand in the test, in the same order of operations as the gateway (count × rate / 1e6,
//   then input + output + cache read + cache write), so the floats compare exactly.
import { test, before, after, beforeEach } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import OpenAI from "openai";
import Anthropic from "@anthropic-ai/sdk";
import { Portkey } from "portkey-ai";
import {
  startGateway, openaiClient, rawChat, secretLeaks, isolateFailures, standinRecord, openaiRecord, waitFor, sleep,
} from "./harness.mjs";

const SONNET_45_US = "us.anthropic.claude-sonnet-4-5-20250929-v1:0";
const SONNET_45_GLOBAL = "global.anthropic.claude-sonnet-4-5-20250929-v1:0";
const HAIKU_45_US = "us.anthropic.claude-haiku-4-5-20251001-v1:0";
const HAIKU_45_GLOBAL = "global.anthropic.claude-haiku-4-5-20251001-v1:0";
const CLAUDE_37 = "us.anthropic.claude-3-7-sonnet-20250219-v1:0";
const MADE_UP = "us.anthropic.claude-made-up-20991231-v1:0";
const APP_PROFILE_ARN = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/obse2e0001";
const GPT = "gpt-4o-mini";
const USER = [{ role: "user", content: "hi" }];

/** USD per million tokens, from src/usage/prices.rs. */
const RATES = {
  // claude("bedrock/claude-sonnet-4-5/regional", ..., cached(3.3, 16.5, 0.33, 4.125))
  "bedrock/claude-sonnet-4-5/regional": { input: 3.3, output: 16.5, read: 0.33, write: 4.125 },
  // claude_global("bedrock/claude-sonnet-4-5/global", ..., cached(3.0, 15.0, 0.3, 3.75))
  "bedrock/claude-sonnet-4-5/global": { input: 3.0, output: 15.0, read: 0.3, write: 3.75 },
  // claude("bedrock/claude-haiku-4-5/regional", ..., cached(1.1, 5.5, 0.11, 1.375))
  "bedrock/claude-haiku-4-5/regional": { input: 1.1, output: 5.5, read: 0.11, write: 1.375 },
  // claude_global("bedrock/claude-haiku-4-5/global", ..., cached(1.0, 5.0, 0.1, 1.25))
  "bedrock/claude-haiku-4-5/global": { input: 1.0, output: 5.0, read: 0.1, write: 1.25 },
  // claude("bedrock/claude-3-7-sonnet", ..., cached(3.0, 15.0, 0.3, 3.75))
  "bedrock/claude-3-7-sonnet": { input: 3.0, output: 15.0, read: 0.3, write: 3.75 },
  // openai("openai/gpt-4o-mini", ..., read_cached(0.15, 0.6, 0.075)): no cache-write rate
  "openai/gpt-4o-mini": { input: 0.15, output: 0.6, read: 0.075, write: null },
};

/** The gateway's arithmetic (usage/prices.rs `cost`): each kind count × rate / 1e6, summed in this order. */
function usd(u, row) {
  const r = RATES[row];
  const part = (n, rate) => (n === 0 ? 0 : (n * rate) / 1e6);
  return part(u.input_tokens, r.input) + part(u.output_tokens, r.output) + part(u.cache_read_tokens, r.read) + part(u.cache_write_tokens, r.write);
}

let gw;
before(async () => {
  // A short idle timeout: a stream nobody reads any more (a client that left without the runtime
  // cancelling the body) is cut after it, so its line comes within seconds.
  gw = await startGateway({ slugs: { east: true }, vars: { STREAM_IDLE_TIMEOUT_MS: "3000" } });
  await gw.seedProvider("west", standinRecord(gw.standin.url, { region: "us-west-2" }));
  await gw.seedProvider("gov", standinRecord(gw.standin.url, { region: "us-gov-west-1" }));
  await gw.seedProvider("openai-prod", openaiRecord(gw.standin));
});
after(async () => {
  await gw?.close();
});
beforeEach(() => gw.standin.reset());

// ------------------------------------------------------------------ helpers

let seq = 0;
/** A trace id no other request of this file uses: the key to its log line. */
const tid = (name) => `obs-${name}-${++seq}`;

/** Every request log line the Worker wrote so far (parsed). */
function requestLines() {
  const out = [];
  for (const l of gw.logs) {
    if (!l.startsWith("log: {")) continue;
    try {
      const o = JSON.parse(l.slice(5));
      if (o && typeof o.route === "string") out.push(o);
    } catch {}
  }
  return out;
}

/** The one log line of the request with this trace id (a stream's comes when it ends: waited for). */
async function lineOf(traceId, { timeoutMs = 5000 } = {}) {
  const found = await waitFor(() => {
    const ls = requestLines().filter((l) => l.trace_id === traceId);
    return ls.length ? ls : null;
  }, timeoutMs);
  await sleep(20); // a second line for the same id would be a bug: give it a moment to show
  const lines = requestLines().filter((l) => l.trace_id === traceId);
  assert.equal(lines.length, 1, `expected one log line for trace ${traceId}, got ${lines.length}: ${JSON.stringify(found)}`);
  return lines[0];
}

const HEX = (n) => new RegExp(`^[0-9a-f]{${n}}$`);
const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;
/** traceparent → {trace, span, flags}, asserting W3C validity (version 00, lowercase hex, not all zero). */
function traceparent(v) {
  const m = TRACEPARENT.exec(v ?? "");
  assert.ok(m, `not a W3C traceparent: ${v}`);
  assert.notEqual(m[1], "0".repeat(32));
  assert.notEqual(m[2], "0".repeat(16));
  return { trace: m[1], span: m[2], flags: m[3] };
}
const sha256Prefix = (text, n) => createHash("sha256").update(text).digest("hex").slice(0, n);

/** The openai SDK through the catalog slug @east (us-east-1), the gateway key as Bearer. */
const chat = (headers = {}, provider = "@east") => openaiClient(gw, { "x-portkey-provider": provider, ...headers });
/** The Anthropic SDK (base URL without /v1) through @east. */
const claude = (headers = {}) =>
  new Anthropic({
    apiKey: "unused-anthropic-key",
    baseURL: gw.url,
    defaultHeaders: { "x-portkey-api-key": gw.gatewayKey, "x-portkey-provider": "@east", ...headers },
    maxRetries: 0,
    timeout: 20_000,
  });

async function collect(stream) {
  const out = [];
  for await (const c of stream) out.push(c);
  gw.record(out);
  return out;
}

/** A Converse JSON answer with this usage (Bedrock's field names). */
const converseAnswer = (usage, text = "Observed.") => ({
  metrics: { latencyMs: 120 },
  output: { message: { role: "assistant", content: [{ text }] } },
  stopReason: "end_turn",
  usage: { ...usage, totalTokens: usage.inputTokens + usage.outputTokens + (usage.cacheReadInputTokens ?? 0) + (usage.cacheWriteInputTokens ?? 0) },
});
/** ConverseStream events ending with `metadata` carrying this usage. */
const converseEvents = (usage, words = ["Streamed ", "and ", "observed."]) => [
  { type: "messageStart", payload: { role: "assistant" } },
  ...words.map((w) => ({ type: "contentBlockDelta", payload: { contentBlockIndex: 0, delta: { text: w } } })),
  { type: "contentBlockStop", payload: { contentBlockIndex: 0 } },
  { type: "messageStop", payload: { stopReason: "end_turn" } },
  { type: "metadata", payload: { usage: { ...usage, totalTokens: usage.inputTokens + usage.outputTokens }, metrics: { latencyMs: 300 } } },
];
const converseRequests = () => gw.standin.requests().filter((r) => r.operation === "converse" || r.operation === "converse-stream");

// ------------------------------------------------------------------ 1. traces

test("trace: Portkey ids in (openai SDK) → x-portkey-trace-id echoed, a W3C traceparent derived from them, the same trace on two requests; the line names trace, span, parent, name", async () => {
  const headers = {
    "x-portkey-trace-id": "checkout-42",
    "x-portkey-span-id": "span-a",
    "x-portkey-parent-span-id": "root",
    "x-portkey-span-name": "summarize",
  };
  const already = requestLines().filter((l) => l.trace_id === "checkout-42").length;
  const first = await chat(headers).chat.completions.create({ model: CLAUDE_37, messages: USER }).withResponse();
  gw.record(first.data);
  assert.equal(first.response.headers.get("x-portkey-trace-id"), "checkout-42");
  const tp1 = traceparent(first.response.headers.get("traceparent"));
  // Portkey ids that are not W3C hex map through a SHA-256 prefix (README: Traces).
  assert.equal(tp1.trace, sha256Prefix("checkout-42", 32));
  assert.equal(tp1.span, sha256Prefix("span-a", 16));
  assert.equal(tp1.flags, "01");
  assert.equal(first.response.headers.get("tracestate"), null, "no tracestate was sent, none comes back");

  // The same trace, a span of its own (no x-portkey-span-id this time).
  const { "x-portkey-span-id": _, ...noSpan } = headers;
  const second = await chat(noSpan).chat.completions.create({ model: CLAUDE_37, messages: USER }).withResponse();
  gw.record(second.data);
  assert.equal(second.response.headers.get("x-portkey-trace-id"), "checkout-42");
  const tp2 = traceparent(second.response.headers.get("traceparent"));
  assert.equal(tp2.trace, tp1.trace, "one Portkey trace id is always the same W3C trace id");
  assert.notEqual(tp2.span, tp1.span);

  const lines = await waitFor(() => {
    const ls = requestLines().filter((l) => l.trace_id === "checkout-42");
    return ls.length >= already + 2 ? ls.slice(already) : null;
  });
  assert.ok(lines, "both requests logged");
  const [a, b] = lines;
  assert.equal(a.trace_id, "checkout-42");
  assert.equal(a.span_id, "span-a");
  assert.equal(a.parent_span_id, "root");
  assert.equal(a.span_name, "summarize");
  assert.equal(a.route, "chat");
  assert.equal(a.status, 200);
  assert.equal(b.span_id, tp2.span, "without x-portkey-span-id the line's span is the traceparent's");
  assert.equal(b.parent_span_id, "root");
  // Each upstream attempt is a child span with its own id.
  for (const l of [a, b]) {
    assert.equal(l.attempts.length, 1);
    assert.match(l.attempts[0].span_id, HEX(16));
    assert.notEqual(l.attempts[0].span_id, tp1.span);
    assert.notEqual(l.attempts[0].span_id, tp2.span);
  }
});

test("trace: the portkey-ai SDK's traceID / spanId / parentSpanId / spanName / metadata options reach the line", async () => {
  const portkey = new Portkey({
    apiKey: gw.gatewayKey,
    baseURL: gw.url + "/v1",
    provider: "@east",
    traceID: "portkey-sdk-trace-7",
    spanId: "pk-span-1",
    parentSpanId: "pk-root",
    spanName: "answer question",
    metadata: { team: "blue", feature: "checkout" },
    maxRetries: 0,
  });
  const out = gw.record(await portkey.chat.completions.create({ model: CLAUDE_37, messages: USER }));
  assert.equal(out.object, "chat.completion");
  assert.equal(out.getHeaders?.()["trace-id"], "portkey-sdk-trace-7");
  const line = await lineOf("portkey-sdk-trace-7");
  assert.equal(line.span_id, "pk-span-1");
  assert.equal(line.parent_span_id, "pk-root");
  assert.equal(line.span_name, "answer question");
  assert.deepEqual(line.metadata, { team: "blue", feature: "checkout" });
});

test("trace: only W3C traceparent + tracestate → same trace id and flags, a NEW span id, tracestate echoed; the line's parent is the caller's span", async () => {
  const callerTrace = "4bf92f3577b34da6a3ce929d0e0e4736";
  const callerSpan = "00f067aa0ba902b7";
  const tracestate = "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE";
  for (const flags of ["00", "01"]) {
    const { data, response } = await chat({ traceparent: `00-${callerTrace}-${callerSpan}-${flags}`, tracestate })
      .chat.completions.create({ model: CLAUDE_37, messages: USER })
      .withResponse();
    gw.record(data);
    const tp = traceparent(response.headers.get("traceparent"));
    assert.equal(tp.trace, callerTrace);
    assert.equal(tp.flags, flags, "the caller's sampling flag is kept");
    assert.notEqual(tp.span, callerSpan, "the gateway's span is a new span");
    assert.equal(response.headers.get("tracestate"), tracestate);
    assert.equal(response.headers.get("x-portkey-trace-id"), callerTrace);
    await waitFor(() => requestLines().some((l) => l.span_id === tp.span));
    const line = requestLines().filter((l) => l.span_id === tp.span);
    assert.equal(line.length, 1, `one line with span ${tp.span}`);
    assert.equal(line[0].trace_id, callerTrace);
    assert.equal(line[0].parent_span_id, callerSpan);
    assert.equal(line[0].span_name, undefined);
    assert.notEqual(line[0].attempts[0].span_id, tp.span);
  }
});

test("trace: nothing sent → trace and span generated, valid, the same on the answer and the line; no parent, no tracestate", async () => {
  const seen = new Set();
  for (let i = 0; i < 2; i++) {
    const { data, response } = await chat().chat.completions.create({ model: CLAUDE_37, messages: USER }).withResponse();
    gw.record(data);
    const traceId = response.headers.get("x-portkey-trace-id");
    assert.match(traceId, HEX(32));
    const tp = traceparent(response.headers.get("traceparent"));
    assert.equal(tp.trace, traceId);
    assert.equal(tp.flags, "01");
    assert.equal(response.headers.get("tracestate"), null);
    assert.ok(!seen.has(traceId), "a new trace per request");
    seen.add(traceId);
    const line = await lineOf(traceId);
    assert.equal(line.span_id, tp.span);
    assert.ok(!("parent_span_id" in line) && !("span_name" in line), JSON.stringify(line));
  }
});

test("trace: a streamed answer carries the trace headers too, and its line (written at the end) the same ids", async () => {
  const id = tid("stream");
  const { data: stream, response } = await chat({ "x-portkey-trace-id": id, "x-portkey-span-name": "stream it" })
    .chat.completions.create({ model: CLAUDE_37, messages: USER, stream: true })
    .withResponse();
  assert.equal(response.headers.get("x-portkey-trace-id"), id);
  const tp = traceparent(response.headers.get("traceparent"));
  assert.equal(tp.trace, sha256Prefix(id, 32));
  await collect(stream);
  const line = await lineOf(id);
  assert.equal(line.stream, true);
  assert.equal(line.end, "complete");
  assert.equal(line.span_id, tp.span);
  assert.equal(line.span_name, "stream it");
});

test("trace: invalid values are ignored — a 129-character trace id, a bad span name, malformed traceparents, an oversized tracestate", async () => {
  // 128 printable characters: kept as is.
  const max = "t".repeat(128);
  let res = await rawChat(gw, { model: CLAUDE_37, messages: USER }, { "x-portkey-provider": "@east", "x-portkey-trace-id": max });
  assert.equal(res.status, 200, res.text);
  assert.equal(res.headers.get("x-portkey-trace-id"), max);
  assert.equal(traceparent(res.headers.get("traceparent")).trace, sha256Prefix(max, 32));

  // 129: ignored, a new trace id (32 hex) on the answer and the line.
  const tooLong = "t".repeat(129);
  const { data, response } = await chat({ "x-portkey-trace-id": tooLong, "x-portkey-span-id": "s".repeat(129), "x-portkey-span-name": "n".repeat(129) })
    .chat.completions.create({ model: CLAUDE_37, messages: USER })
    .withResponse();
  gw.record(data);
  const generated = response.headers.get("x-portkey-trace-id");
  assert.match(generated, HEX(32));
  const tp = traceparent(response.headers.get("traceparent"));
  assert.equal(tp.trace, generated);
  const line = await lineOf(generated);
  assert.equal(line.span_id, tp.span, "a too-long span id is ignored: the span id is new");
  assert.ok(!("span_name" in line), "a too-long span name is left out");
  assert.ok(!requestLines().some((l) => l.trace_id === tooLong));

  // A too-long Portkey trace id with a valid traceparent: traceparent's trace is used.
  const w3cTrace = "0af7651916cd43dd8448eb211c80319c";
  res = await rawChat(gw, { model: CLAUDE_37, messages: USER }, {
    "x-portkey-provider": "@east",
    "x-portkey-trace-id": tooLong,
    traceparent: `00-${w3cTrace}-b7ad6b7169203331-01`,
  });
  assert.equal(res.status, 200, res.text);
  assert.equal(res.headers.get("x-portkey-trace-id"), w3cTrace);
  assert.equal(traceparent(res.headers.get("traceparent")).trace, w3cTrace);
  assert.equal((await lineOf(w3cTrace)).parent_span_id, "b7ad6b7169203331");

  // A span name with a control character (tab) is not printable: left out.
  res = await rawChat(gw, { model: CLAUDE_37, messages: USER }, { "x-portkey-provider": "@east", "x-portkey-trace-id": tid("tab"), "x-portkey-span-name": "a\tb" });
  assert.equal(res.status, 200, res.text);
  assert.ok(!("span_name" in (await lineOf(res.headers.get("x-portkey-trace-id")))));

  // Malformed traceparents: a new trace, flags 01, no parent, and the answer still 200.
  const malformed = [
    "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", // uppercase
    "00-00000000000000000000000000000000-00f067aa0ba902b7-01", // all-zero trace id
    "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", // all-zero parent id
    "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01", // 31 hex digits
    "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", // version ff
    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra", // version 00 with a fifth field
    "garbage",
  ];
  for (const bad of malformed) {
    const r = await rawChat(gw, { model: CLAUDE_37, messages: USER }, { "x-portkey-provider": "@east", traceparent: bad, tracestate: "k=v" });
    assert.equal(r.status, 200, `${bad}: ${r.text}`);
    const t = r.headers.get("x-portkey-trace-id");
    assert.match(t, HEX(32), bad);
    assert.notEqual(t, "4bf92f3577b34da6a3ce929d0e0e4736", bad);
    const p = traceparent(r.headers.get("traceparent"));
    assert.equal(p.trace, t, bad);
    assert.equal(p.flags, "01", bad);
    const l = await lineOf(t);
    assert.ok(!("parent_span_id" in l), `${bad}: ${JSON.stringify(l)}`);
  }

  // tracestate: up to 512 bytes echoed, longer not.
  const state = (n) => "k=" + "v".repeat(n - 2);
  res = await rawChat(gw, { model: CLAUDE_37, messages: USER }, { "x-portkey-provider": "@east", tracestate: state(512) });
  assert.equal(res.headers.get("tracestate"), state(512));
  res = await rawChat(gw, { model: CLAUDE_37, messages: USER }, { "x-portkey-provider": "@east", tracestate: state(513) });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("tracestate"), null);
});

// ------------------------------------------------------------------ 2. one span per attempt

const FALLBACK = { strategy: { mode: "fallback" }, targets: [{ provider: "@east" }, { provider: "@west" }] };
const withConfig = (config, id) => openaiClient(gw, { "x-portkey-config": JSON.stringify(config), "x-portkey-trace-id": id });

/** Every attempt: a distinct 16-hex span id (not the gateway's), the fields the README lists. */
function assertAttempts(line, expected) {
  assert.equal(line.attempts.length, expected.length, JSON.stringify(line.attempts));
  const ids = new Set(line.attempts.map((a) => a.span_id));
  assert.equal(ids.size, expected.length, "distinct span ids");
  assert.ok(!ids.has(line.span_id), "an attempt's span is not the gateway's");
  line.attempts.forEach((a, i) => {
    assert.match(a.span_id, HEX(16));
    assert.ok(Number.isInteger(a.ms) && a.ms >= 0, `ms ${a.ms}`);
    const { span_id, ms, ...rest } = a;
    assert.deepEqual(rest, expected[i], `attempt ${i}`);
  });
}

test("attempts: a fallback (503 on @east, @west answers) → two spans in order; target / retries match the answer headers", async () => {
  gw.standin.script({ match: { operation: "converse" }, status: 503, errorType: "ServiceUnavailableException", message: "Service unavailable." });
  const id = tid("fallback");
  const { data, response } = await withConfig(FALLBACK, id).chat.completions.create({ model: CLAUDE_37, messages: USER }).withResponse();
  gw.record(data);
  assert.deepEqual(gw.standin.requests().map((r) => [r.signature.region, r.status]), [["us-east-1", 503], ["us-west-2", 200]]);
  const line = await lineOf(id);
  assertAttempts(line, [
    { target: "config.targets[0]", retry: 0, status: 503, error: "ServiceUnavailableException" },
    { target: "config.targets[1]", retry: 0, status: 200 },
  ]);
  assert.equal(line.status, 200);
  assert.equal(line.error, null);
  assert.equal(line.target, response.headers.get("x-portkey-last-used-option-index"));
  assert.equal(line.target, "config.targets[1]");
  assert.equal(String(line.retries), response.headers.get("x-portkey-retry-attempt-count"));
  assert.equal(line.retries, 0);
  assert.equal(line.provider, "@west");
  assert.equal(line.upstream_ms, line.attempts[1].ms, "upstream_ms is the answering attempt's");
});

test("attempts: retries then a fallback (429, 429 on @east with one retry; @west answers) → three spans, retry counted per target", async () => {
  for (let i = 0; i < 2; i++) {
    gw.standin.script({ match: { operation: "converse" }, status: 429, errorType: "ThrottlingException", message: "Too many requests, please wait." });
  }
  const config = { strategy: { mode: "fallback" }, targets: [{ provider: "@east", retry: { attempts: 1 } }, { provider: "@west" }] };
  const id = tid("retry-fallback");
  const { data, response } = await withConfig(config, id).chat.completions.create({ model: CLAUDE_37, messages: USER }).withResponse();
  gw.record(data);
  assert.deepEqual(gw.standin.requests().map((r) => r.signature.region), ["us-east-1", "us-east-1", "us-west-2"]);
  const line = await lineOf(id);
  assertAttempts(line, [
    { target: "config.targets[0]", retry: 0, status: 429, error: "ThrottlingException" },
    { target: "config.targets[0]", retry: 1, status: 429, error: "ThrottlingException" },
    { target: "config.targets[1]", retry: 0, status: 200 },
  ]);
  assert.equal(line.target, response.headers.get("x-portkey-last-used-option-index"));
  assert.equal(String(line.retries), response.headers.get("x-portkey-retry-attempt-count"));
  assert.equal(line.retries, 0, "the target that answered spent no retries");
});

test("attempts: a retry config (429, 500, then 200 on one target) → three spans, retries: 2 as the header says", async () => {
  gw.standin.script({ match: { operation: "converse" }, status: 429, errorType: "ThrottlingException", message: "slow down" });
  gw.standin.script({ match: { operation: "converse" }, status: 500, errorType: "InternalServerException", message: "oops" });
  const id = tid("retry");
  const { data, response } = await withConfig({ retry: { attempts: 3 }, provider: "@east" }, id)
    .chat.completions.create({ model: CLAUDE_37, messages: USER })
    .withResponse();
  gw.record(data);
  const line = await lineOf(id);
  assertAttempts(line, [
    { target: "config", retry: 0, status: 429, error: "ThrottlingException" },
    { target: "config", retry: 1, status: 500, error: "InternalServerException" },
    { target: "config", retry: 2, status: 200 },
  ]);
  assert.equal(response.headers.get("x-portkey-retry-attempt-count"), "2");
  assert.equal(response.headers.get("x-portkey-last-used-option-index"), "config");
  assert.equal(line.retries, 2);
  assert.equal(line.target, "config");
  // Backoff happened between the attempts: the request took at least 100 + 200 ms.
  assert.ok(line.ms >= 300, `ms ${line.ms}`);
});

test("attempts: every target fails → the line has the last error, every span, and no usage; no config → one span without target", async () => {
  gw.standin.script({ match: { operation: "converse" }, status: 429, errorType: "ThrottlingException", message: "Too many requests." });
  gw.standin.script({ match: { operation: "converse" }, status: 503, errorType: "ServiceUnavailableException", message: "Unavailable." });
  const id = tid("all-fail");
  const err = await withConfig(FALLBACK, id).chat.completions.create({ model: CLAUDE_37, messages: USER }).catch((e) => e);
  assert.ok(err instanceof OpenAI.InternalServerError, String(err));
  assert.equal(err.status, 503);
  const line = await lineOf(id);
  assertAttempts(line, [
    { target: "config.targets[0]", retry: 0, status: 429, error: "ThrottlingException" },
    { target: "config.targets[1]", retry: 0, status: 503, error: "ServiceUnavailableException" },
  ]);
  assert.equal(line.status, 503);
  assert.equal(line.error, "ServiceUnavailableException");
  assert.equal(line.target, err.headers.get("x-portkey-last-used-option-index"));
  assert.equal(line.usage, null);
  assert.equal(line.cost_usd, null);
  assert.equal(line.upstream_ms, null, "no attempt answered");

  const plain = tid("no-config");
  gw.record(await chat({ "x-portkey-trace-id": plain }).chat.completions.create({ model: CLAUDE_37, messages: USER }));
  const one = await lineOf(plain);
  assertAttempts(one, [{ retry: 0, status: 200 }]);
  assert.equal(one.target, null);
  assert.equal(one.retries, null);
});

// ------------------------------------------------------------------ 3. usage and cost

test("usage + cost: JSON chat on Claude Sonnet 4.5 (us. profile, us-east-1) with prompt-cache reads and writes", async () => {
  gw.standin.script({
    match: { operation: "converse" },
    json: converseAnswer({ inputTokens: 1200, outputTokens: 345, cacheReadInputTokens: 5000, cacheWriteInputTokens: 800 }),
  });
  const id = tid("cost-json");
  const out = gw.record(await chat({ "x-portkey-trace-id": id }).chat.completions.create({ model: SONNET_45_US, messages: USER }));
  // What the SDK got: prompt tokens include cache reads and writes.
  assert.equal(out.usage.prompt_tokens, 1200 + 5000 + 800);
  assert.equal(out.usage.completion_tokens, 345);
  assert.equal(out.usage.prompt_tokens_details.cached_tokens, 5000);
  const line = await lineOf(id);
  assert.deepEqual(line.usage, { input_tokens: 1200, output_tokens: 345, cache_read_tokens: 5000, cache_write_tokens: 800 });
  assert.equal(line.price, "bedrock/claude-sonnet-4-5/regional");
  // us. profile = regional row (10% over global): $3.30 in, $16.50 out, $0.33 cache read, $4.125 cache write per M.
  //   1200 × 3.30 / 1e6  = 0.00396
  //    345 × 16.50 / 1e6 = 0.0056925
  //   5000 × 0.33 / 1e6  = 0.00165
  //    800 × 4.125 / 1e6 = 0.0033
  //                 total  0.0146025 USD
  const expected = (1200 * 3.3) / 1e6 + (345 * 16.5) / 1e6 + (5000 * 0.33) / 1e6 + (800 * 4.125) / 1e6;
  assert.equal(line.cost_usd, expected);
  assert.ok(Math.abs(line.cost_usd - 0.0146025) < 1e-12, String(line.cost_usd));
  assert.equal(line.model, SONNET_45_US);
  assert.equal(line.provider, "@east");
  assert.equal(line.key, "e2e-all");
  assert.match(line.key_hash, HEX(12));
  assert.equal(line.stream, false);
  assert.ok(!("end" in line));
  assert.ok(Number.isInteger(line.ms) && Number.isInteger(line.upstream_ms) && line.upstream_ms <= line.ms);
});

test("usage + cost: the global. profile from us-west-2 is the global row (list price)", async () => {
  gw.standin.script({
    match: { operation: "converse" },
    json: converseAnswer({ inputTokens: 1200, outputTokens: 345, cacheReadInputTokens: 5000, cacheWriteInputTokens: 800 }),
  });
  const id = tid("cost-global");
  gw.record(await chat({ "x-portkey-trace-id": id }, "@west").chat.completions.create({ model: SONNET_45_GLOBAL, messages: USER }));
  assert.equal(gw.standin.requests()[0].signature.region, "us-west-2");
  const line = await lineOf(id);
  assert.equal(line.price, "bedrock/claude-sonnet-4-5/global");
  //   1200 × 3.00 / 1e6 + 345 × 15.00 / 1e6 + 5000 × 0.30 / 1e6 + 800 × 3.75 / 1e6
  // = 0.0036 + 0.005175 + 0.0015 + 0.003 = 0.013275 USD
  assert.equal(line.cost_usd, (1200 * 3.0) / 1e6 + (345 * 15.0) / 1e6 + (5000 * 0.3) / 1e6 + (800 * 3.75) / 1e6);
  assert.ok(Math.abs(line.cost_usd - 0.013275) < 1e-12, String(line.cost_usd));
});

test("usage + cost: a streamed chat — usage from the stream's last event, end: complete", async () => {
  const usage = { inputTokens: 900, outputTokens: 64, cacheReadInputTokens: 2048, cacheWriteInputTokens: 0 };
  gw.standin.script({ match: { operation: "converse-stream" }, stream: { events: converseEvents(usage) } });
  const id = tid("cost-stream");
  const chunks = await collect(
    await chat({ "x-portkey-trace-id": id }).chat.completions.create({
      model: SONNET_45_GLOBAL,
      messages: USER,
      stream: true,
      stream_options: { include_usage: true },
    }),
  );
  assert.equal(chunks.map((c) => c.choices[0]?.delta?.content ?? "").join(""), "Streamed and observed.");
  const last = chunks.at(-1);
  assert.equal(last.usage.prompt_tokens, 900 + 2048);
  const line = await lineOf(id);
  assert.equal(line.stream, true);
  assert.equal(line.end, "complete");
  assert.deepEqual(line.usage, { input_tokens: 900, output_tokens: 64, cache_read_tokens: 2048, cache_write_tokens: 0 });
  assert.equal(line.price, "bedrock/claude-sonnet-4-5/global");
  // 900 × 3.00 / 1e6 + 64 × 15.00 / 1e6 + 2048 × 0.30 / 1e6 = 0.0027 + 0.00096 + 0.0006144 = 0.0042744 USD
  assert.equal(line.cost_usd, usd(line.usage, line.price));
  assert.ok(Math.abs(line.cost_usd - 0.0042744) < 1e-12, String(line.cost_usd));
  assert.ok(Number.isInteger(line.upstream_end_ms) && line.upstream_end_ms >= line.upstream_ms);
});

test("usage + cost: /v1/messages JSON (Anthropic SDK) with cache read and creation tokens, Haiku 4.5 us. profile", async () => {
  gw.standin.script({
    match: { operation: "invoke" },
    json: {
      id: "msg_bdrk_01obs",
      type: "message",
      role: "assistant",
      model: "claude-haiku-4-5-20251001",
      content: [{ type: "text", text: "Hi there." }],
      stop_reason: "end_turn",
      stop_sequence: null,
      usage: { input_tokens: 40, output_tokens: 12, cache_read_input_tokens: 3000, cache_creation_input_tokens: 500 },
    },
  });
  const id = tid("cost-messages");
  const out = gw.record(await claude({ "x-portkey-trace-id": id }).messages.create({ model: HAIKU_45_US, max_tokens: 100, messages: USER }));
  assert.equal(out.usage.cache_read_input_tokens, 3000);
  const line = await lineOf(id);
  assert.equal(line.route, "messages");
  assert.deepEqual(line.usage, { input_tokens: 40, output_tokens: 12, cache_read_tokens: 3000, cache_write_tokens: 500 });
  assert.equal(line.price, "bedrock/claude-haiku-4-5/regional");
  // 40 × 1.10 / 1e6 + 12 × 5.50 / 1e6 + 3000 × 0.11 / 1e6 + 500 × 1.375 / 1e6
  // = 0.000044 + 0.000066 + 0.00033 + 0.0006875 = 0.0011275 USD
  assert.equal(line.cost_usd, (40 * 1.1) / 1e6 + (12 * 5.5) / 1e6 + (3000 * 0.11) / 1e6 + (500 * 1.375) / 1e6);
  assert.ok(Math.abs(line.cost_usd - 0.0011275) < 1e-12, String(line.cost_usd));
});

/** Anthropic stream events: message_start with the input usage, text deltas, message_delta with the output. */
const anthropicEvents = ({ input, output, read = 0, write = 0 }, words = ["Streamed ", "by ", "Claude."]) => [
  {
    type: "message_start",
    message: {
      id: "msg_bdrk_01obsstream",
      type: "message",
      role: "assistant",
      model: "claude-haiku-4-5-20251001",
      content: [],
      stop_reason: null,
      stop_sequence: null,
      usage: { input_tokens: input, cache_read_input_tokens: read, cache_creation_input_tokens: write, output_tokens: 1 },
    },
  },
  { type: "content_block_start", index: 0, content_block: { type: "text", text: "" } },
  ...words.map((w) => ({ type: "content_block_delta", index: 0, delta: { type: "text_delta", text: w } })),
  { type: "content_block_stop", index: 0 },
  { type: "message_delta", delta: { stop_reason: "end_turn", stop_sequence: null }, usage: { output_tokens: output } },
  { type: "message_stop", "amazon-bedrock-invocationMetrics": { inputTokenCount: input, outputTokenCount: output, invocationLatency: 500, firstByteLatency: 100 } },
];

test("usage + cost: /v1/messages stream (Anthropic SDK) — input from message_start, output from message_delta, end: complete", async () => {
  gw.standin.script({ match: { operation: "invoke-with-response-stream" }, anthropicEvents: anthropicEvents({ input: 25, output: 77, read: 4096, write: 1024 }) });
  const id = tid("cost-messages-stream");
  const stream = claude({ "x-portkey-trace-id": id }).messages.stream({ model: HAIKU_45_GLOBAL, max_tokens: 100, messages: USER });
  const final = gw.record(await stream.finalMessage());
  assert.equal(final.content[0].text, "Streamed by Claude.");
  assert.equal(final.usage.output_tokens, 77);
  const line = await lineOf(id);
  assert.equal(line.route, "messages");
  assert.equal(line.stream, true);
  assert.equal(line.end, "complete");
  assert.deepEqual(line.usage, { input_tokens: 25, output_tokens: 77, cache_read_tokens: 4096, cache_write_tokens: 1024 });
  assert.equal(line.price, "bedrock/claude-haiku-4-5/global");
  // 25 × 1.00 / 1e6 + 77 × 5.00 / 1e6 + 4096 × 0.10 / 1e6 + 1024 × 1.25 / 1e6
  // = 0.000025 + 0.000385 + 0.0004096 + 0.00128 = 0.0020996 USD
  assert.equal(line.cost_usd, (25 * 1.0) / 1e6 + (77 * 5.0) / 1e6 + (4096 * 0.1) / 1e6 + (1024 * 1.25) / 1e6);
  assert.ok(Math.abs(line.cost_usd - 0.0020996) < 1e-12, String(line.cost_usd));
});

test("usage + cost: /v1/responses JSON and stream (openai SDK) on a Bedrock target", async () => {
  gw.standin.script({
    match: { operation: "converse" },
    json: converseAnswer({ inputTokens: 300, outputTokens: 40, cacheReadInputTokens: 1000, cacheWriteInputTokens: 200 }),
  });
  const id = tid("cost-responses");
  const r = gw.record(await chat({ "x-portkey-trace-id": id }).responses.create({ model: SONNET_45_US, input: "hi", store: false }));
  assert.equal(r.status, "completed");
  assert.equal(r.usage.input_tokens, 300 + 1000 + 200);
  let line = await lineOf(id);
  assert.equal(line.route, "responses");
  assert.deepEqual(line.usage, { input_tokens: 300, output_tokens: 40, cache_read_tokens: 1000, cache_write_tokens: 200 });
  assert.equal(line.price, "bedrock/claude-sonnet-4-5/regional");
  // 300 × 3.30 / 1e6 + 40 × 16.50 / 1e6 + 1000 × 0.33 / 1e6 + 200 × 4.125 / 1e6
  // = 0.00099 + 0.00066 + 0.00033 + 0.000825 = 0.002805 USD
  assert.equal(line.cost_usd, usd(line.usage, line.price));
  assert.ok(Math.abs(line.cost_usd - 0.002805) < 1e-12, String(line.cost_usd));

  gw.standin.script({ match: { operation: "converse-stream" }, stream: { events: converseEvents({ inputTokens: 50, outputTokens: 8, cacheReadInputTokens: 0, cacheWriteInputTokens: 0 }) } });
  const sid = tid("cost-responses-stream");
  const events = await collect(await chat({ "x-portkey-trace-id": sid }).responses.create({ model: SONNET_45_US, input: "hi", store: false, stream: true }));
  assert.equal(events.at(-1).type, "response.completed");
  line = await lineOf(sid);
  assert.equal(line.route, "responses");
  assert.equal(line.end, "complete");
  assert.deepEqual(line.usage, { input_tokens: 50, output_tokens: 8, cache_read_tokens: 0, cache_write_tokens: 0 });
  // 50 × 3.30 / 1e6 + 8 × 16.50 / 1e6 = 0.000165 + 0.000132 = 0.000297 USD
  assert.equal(line.cost_usd, (50 * 3.3) / 1e6 + (8 * 16.5) / 1e6);
  assert.equal(line.price, "bedrock/claude-sonnet-4-5/regional");
});

test("usage + cost: an OpenAI target (gpt-4o-mini) with cached prompt tokens", async () => {
  gw.standin.script({ match: { operation: "openai-chat" }, usage: { prompt_tokens: 1000, completion_tokens: 50, total_tokens: 1050, cached_tokens: 600 } });
  const id = tid("cost-openai");
  const out = gw.record(await chat({ "x-portkey-trace-id": id }, "@openai-prod").chat.completions.create({ model: GPT, messages: USER }));
  assert.equal(out.usage.prompt_tokens, 1000);
  const line = await lineOf(id);
  assert.equal(line.provider, "@openai-prod");
  // OpenAI's prompt_tokens include the cached ones: 1000 − 600 = 400 fresh.
  assert.deepEqual(line.usage, { input_tokens: 400, output_tokens: 50, cache_read_tokens: 600, cache_write_tokens: 0 });
  assert.equal(line.price, "openai/gpt-4o-mini");
  // 400 × 0.15 / 1e6 + 50 × 0.60 / 1e6 + 600 × 0.075 / 1e6 = 0.00006 + 0.00003 + 0.000045 = 0.000135 USD
  assert.equal(line.cost_usd, (400 * 0.15) / 1e6 + (50 * 0.6) / 1e6 + (600 * 0.075) / 1e6);
});

test("usage + cost: count_tokens → cost_usd 0, price not_billed", async () => {
  gw.standin.script({ match: { operation: "count-tokens" }, inputTokens: 375 });
  const id = tid("count");
  const out = await claude({ "x-portkey-trace-id": id }).messages.countTokens({ model: SONNET_45_US, messages: USER });
  assert.deepEqual(gw.record(out), { input_tokens: 375 });
  const line = await lineOf(id);
  assert.equal(line.route, "count_tokens");
  assert.equal(line.status, 200);
  assert.equal(line.cost_usd, 0);
  assert.equal(line.price, "not_billed");
  assert.equal(line.model, "anthropic.claude-sonnet-4-5-20250929-v1:0", "count_tokens logs the foundation model");
  assert.deepEqual(line.usage, { input_tokens: 375, output_tokens: 0, cache_read_tokens: 0, cache_write_tokens: 0 });

  // An upstream error on CountTokens: its status and code, nothing billed or counted.
  gw.standin.script({ match: { operation: "count-tokens" }, status: 400, errorType: "ValidationException", message: "bad count" });
  const eid = tid("count-400");
  const err = await claude({ "x-portkey-trace-id": eid }).messages.countTokens({ model: SONNET_45_US, messages: USER }).catch((e) => e);
  assert.ok(err instanceof Anthropic.BadRequestError, String(err));
  const el = await lineOf(eid);
  assert.equal(el.status, 400);
  assert.equal(el.error, "ValidationException");
  assert.equal(el.usage, null);
  assert.equal(el.cost_usd, null);
});

test(
  "attempts: count_tokens' CountTokens call is an attempt span with upstream_ms",
  async () => {
    const id = tid("count-attempts");
    gw.record(await claude({ "x-portkey-trace-id": id }).messages.countTokens({ model: SONNET_45_US, messages: USER }));
    assert.equal(gw.standin.requests().filter((r) => r.operation === "count-tokens").length, 1);
    const line = await lineOf(id);
    assertAttempts(line, [{ retry: 0, status: 200 }]);
    assert.ok(Number.isInteger(line.upstream_ms), `upstream_ms ${line.upstream_ms}`);
  },
);

test("usage + cost: a simple-cache HIT costs 0 (price cache_hit) and logs the stored answer's usage", async () => {
  const usage = { inputTokens: 700, outputTokens: 90, cacheReadInputTokens: 0, cacheWriteInputTokens: 0 };
  gw.standin.script({ match: { operation: "converse" }, json: converseAnswer(usage, "Cache me.") });
  const config = { provider: "@east", cache: { mode: "simple" } };
  const messages = [{ role: "user", content: `cache probe ${Date.now()}` }];
  const missId = tid("cache-miss");
  const miss = await withConfig(config, missId).chat.completions.create({ model: SONNET_45_GLOBAL, messages }).withResponse();
  gw.record(miss.data);
  assert.equal(miss.response.headers.get("x-portkey-cache-status"), "MISS");
  const hitId = tid("cache-hit");
  const hit = await withConfig(config, hitId).chat.completions.create({ model: SONNET_45_GLOBAL, messages }).withResponse();
  gw.record(hit.data);
  assert.equal(hit.response.headers.get("x-portkey-cache-status"), "HIT");
  assert.equal(hit.data.choices[0].message.content, "Cache me.");
  assert.equal(converseRequests().length, 1, "the HIT did not reach the stand-in");

  const m = await lineOf(missId);
  const h = await lineOf(hitId);
  const logged = { input_tokens: 700, output_tokens: 90, cache_read_tokens: 0, cache_write_tokens: 0 };
  assert.equal(m.cache, "MISS");
  assert.deepEqual(m.usage, logged);
  assert.equal(m.price, "bedrock/claude-sonnet-4-5/global");
  // 700 × 3.00 / 1e6 + 90 × 15.00 / 1e6 = 0.0021 + 0.00135 = 0.00345 USD
  assert.equal(m.cost_usd, (700 * 3.0) / 1e6 + (90 * 15.0) / 1e6);
  assert.equal(h.cache, "HIT");
  assert.deepEqual(h.usage, logged, "the stored answer's usage");
  assert.equal(h.cost_usd, 0);
  assert.equal(h.price, "cache_hit");
});

test(
  "attempts: a simple-cache HIT lists no upstream attempt and no upstream_ms (nothing was asked upstream)",
  async () => {
    const config = { provider: "@east", cache: { mode: "simple" } };
    const messages = [{ role: "user", content: `cache attempts probe ${Date.now()}` }];
    gw.record(await withConfig(config, tid("cache-attempts-miss")).chat.completions.create({ model: CLAUDE_37, messages }));
    const id = tid("cache-attempts-hit");
    const hit = await withConfig(config, id).chat.completions.create({ model: CLAUDE_37, messages }).withResponse();
    gw.record(hit.data);
    assert.equal(hit.response.headers.get("x-portkey-cache-status"), "HIT");
    assert.equal(converseRequests().length, 1, "one upstream call in all");
    const line = await lineOf(id);
    assert.equal(line.cache, "HIT");
    assert.deepEqual(line.attempts, [], "no upstream attempt");
    assert.equal(line.upstream_ms, null);
  },
);

test("usage + cost: no price → cost_usd null (a made-up model, an application inference profile ARN, a GovCloud region)", async () => {
  const cases = [
    [MADE_UP, "@east"],
    [APP_PROFILE_ARN, "@east"],
    [SONNET_45_US, "@gov"],
  ];
  for (const [model, provider] of cases) {
    gw.standin.reset();
    gw.standin.script({ match: { operation: "converse" }, json: converseAnswer({ inputTokens: 10, outputTokens: 5 }) });
    const id = tid("no-price");
    const out = gw.record(await chat({ "x-portkey-trace-id": id }, provider).chat.completions.create({ model, messages: USER }));
    assert.equal(out.object, "chat.completion");
    const line = await lineOf(id);
    assert.equal(line.status, 200, `${model} via ${provider}`);
    assert.deepEqual(line.usage, { input_tokens: 10, output_tokens: 5, cache_read_tokens: 0, cache_write_tokens: 0 }, model);
    assert.equal(line.cost_usd, null, `${model} via ${provider}: ${line.cost_usd} (${line.price})`);
    assert.equal(line.price, null, model);
  }
});

test("usage + cost: an upstream 4xx → the status and Bedrock's error code, no usage, no cost", async () => {
  gw.standin.script({ match: { operation: "converse" }, status: 400, errorType: "ValidationException", message: "The provided request is not valid." });
  const id = tid("upstream-400");
  const err = await chat({ "x-portkey-trace-id": id }).chat.completions.create({ model: SONNET_45_US, messages: USER }).catch((e) => e);
  assert.ok(err instanceof OpenAI.BadRequestError, String(err));
  gw.record(err.error ?? {});
  const line = await lineOf(id);
  assert.equal(line.status, 400);
  assert.equal(line.error, "ValidationException");
  assert.equal(line.usage, null);
  assert.equal(line.cost_usd, null);
  assert.equal(line.price, null);
  assert.equal(line.upstream_ms, null);
  assertAttempts(line, [{ retry: 0, status: 400, error: "ValidationException" }]);

  // The same on /v1/messages (the Anthropic SDK's BadRequestError).
  gw.standin.script({ match: { operation: "invoke" }, status: 400, errorType: "ValidationException", message: "messages: bad" });
  const mid = tid("upstream-400-messages");
  const merr = await claude({ "x-portkey-trace-id": mid }).messages.create({ model: HAIKU_45_US, max_tokens: 10, messages: USER }).catch((e) => e);
  assert.ok(merr instanceof Anthropic.BadRequestError, String(merr));
  const ml = await lineOf(mid);
  assert.equal(ml.status, 400);
  assert.equal(ml.error, "ValidationException");
  assert.equal(ml.usage, null);
  assert.equal(ml.cost_usd, null);
});

test("usage: an in-stream error after the 200 → end: error, the line written at the stream's end", async () => {
  gw.standin.script({
    match: { operation: "converse-stream" },
    stream: { events: converseEvents({ inputTokens: 900, outputTokens: 64 }), exceptionAfterFrames: { after: 3, type: "throttlingException", message: "Too many tokens." } },
  });
  const id = tid("stream-error");
  const stream = await chat({ "x-portkey-trace-id": id }).chat.completions.create({ model: SONNET_45_GLOBAL, messages: USER, stream: true });
  let got = "";
  const err = await (async () => {
    for await (const c of stream) got += c.choices[0]?.delta?.content ?? "";
  })().catch((e) => e);
  assert.ok(err instanceof OpenAI.APIError, `the SDK raises the in-stream error: ${err}`);
  assert.equal(got, "Streamed and ");
  const line = await lineOf(id);
  assert.equal(line.status, 200);
  assert.equal(line.stream, true);
  assert.equal(line.end, "error");
  assert.equal(line.usage, null, "the metadata event never came");
  assert.equal(line.cost_usd, null);
});

test("usage: a client that leaves a chat stream early → end: client_closed; ConverseStream sends usage only at its end, so usage is null", async () => {
  gw.standin.script({
    match: { operation: "converse-stream" },
    // messageStart + one delta, then a pause (the client leaves during it), then the rest. The
    // gateway learns the client left when the runtime cancels the body (at its next write), or
    // when nothing has read from the stream for the idle timeout (3 s here): then it is cut.
    stream: { events: converseEvents({ inputTokens: 900, outputTokens: 64 }), stallAfterFrames: { after: 2, ms: 1500 } },
  });
  const id = tid("client-closed-chat");
  const stream = await chat({ "x-portkey-trace-id": id }).chat.completions.create({ model: SONNET_45_GLOBAL, messages: USER, stream: true });
  let got = "";
  for await (const c of stream) {
    got += c.choices[0]?.delta?.content ?? "";
    if (got) break; // the SDK aborts the request
  }
  assert.equal(got, "Streamed ");
  const line = await lineOf(id, { timeoutMs: 15000 });
  assert.equal(line.stream, true);
  assert.equal(line.end, "client_closed");
  assert.equal(line.status, 200);
  assert.equal(line.usage, null, "no usage had arrived");
  assert.equal(line.cost_usd, null);
});

test("usage: a client that leaves a /v1/messages stream early → end: client_closed with message_start's usage", async () => {
  gw.standin.script({
    match: { operation: "invoke-with-response-stream" },
    // message_start, content_block_start, one delta; then a pause the client leaves in (noticed
    // at the next frame, as above).
    anthropicEvents: anthropicEvents({ input: 2100, output: 300, read: 0, write: 0 }),
    stream: { stallAfterFrames: { after: 3, ms: 1500 } },
  });
  const id = tid("client-closed-messages");
  const stream = await claude({ "x-portkey-trace-id": id }).messages.create({ model: HAIKU_45_GLOBAL, max_tokens: 500, messages: USER, stream: true });
  let got = "";
  for await (const ev of stream) {
    if (ev.type === "content_block_delta") got += ev.delta.text;
    if (got) break;
  }
  assert.equal(got, "Streamed ");
  const line = await lineOf(id, { timeoutMs: 15000 });
  assert.equal(line.end, "client_closed");
  // message_start said input 2100 and output 1 (what had arrived); message_delta never came.
  assert.deepEqual(line.usage, { input_tokens: 2100, output_tokens: 1, cache_read_tokens: 0, cache_write_tokens: 0 });
  assert.equal(line.price, "bedrock/claude-haiku-4-5/global");
  // 2100 × 1.00 / 1e6 + 1 × 5.00 / 1e6 = 0.0021 + 0.000005 = 0.002105 USD
  assert.equal(line.cost_usd, (2100 * 1.0) / 1e6 + (1 * 5.0) / 1e6);
});

// ------------------------------------------------------------------ 4. metadata

test("metadata: a JSON object of strings is logged as sent; _user from the chat body's user unless the header sets it", async () => {
  // (ASCII only: fetch sends header values as Latin-1 bytes, not UTF-8.)
  const meta = { team: "blue", feature: "checkout", "feature.flag": "new checkout / v2 = on" };
  let id = tid("meta");
  gw.record(
    await chat({ "x-portkey-trace-id": id, "x-portkey-metadata": JSON.stringify(meta) }).chat.completions.create({ model: CLAUDE_37, messages: USER }),
  );
  assert.deepEqual((await lineOf(id)).metadata, meta);

  id = tid("meta-user");
  gw.record(
    await chat({ "x-portkey-trace-id": id, "x-portkey-metadata": JSON.stringify({ team: "blue" }) }).chat.completions.create({
      model: CLAUDE_37,
      messages: USER,
      user: "alice",
    }),
  );
  assert.deepEqual((await lineOf(id)).metadata, { team: "blue", _user: "alice" });

  id = tid("meta-user-header");
  gw.record(
    await chat({ "x-portkey-trace-id": id, "x-portkey-metadata": JSON.stringify({ _user: "bob" }) }).chat.completions.create({
      model: CLAUDE_37,
      messages: USER,
      user: "alice",
    }),
  );
  assert.deepEqual((await lineOf(id)).metadata, { _user: "bob" });

  id = tid("meta-none");
  gw.record(await chat({ "x-portkey-trace-id": id }).chat.completions.create({ model: CLAUDE_37, messages: USER }));
  assert.deepEqual((await lineOf(id)).metadata, {});
});

test("metadata: /v1/messages takes _user from metadata.user_id (Anthropic SDK), the header's _user wins", async () => {
  let id = tid("meta-messages");
  gw.record(
    await claude({ "x-portkey-trace-id": id, "x-portkey-metadata": JSON.stringify({ app: "support" }) }).messages.create({
      model: HAIKU_45_US,
      max_tokens: 10,
      messages: USER,
      metadata: { user_id: "carol" },
    }),
  );
  assert.deepEqual((await lineOf(id)).metadata, { app: "support", _user: "carol" });

  id = tid("meta-messages-header");
  gw.record(
    await claude({ "x-portkey-trace-id": id, "x-portkey-metadata": JSON.stringify({ _user: "dave" }) }).messages.create({
      model: HAIKU_45_US,
      max_tokens: 10,
      messages: USER,
      metadata: { user_id: "carol" },
    }),
  );
  assert.deepEqual((await lineOf(id)).metadata, { _user: "dave" });
});

test("metadata: baggage members merge (percent-decoded, properties dropped); an x-portkey-metadata key wins", async () => {
  let id = tid("baggage");
  gw.record(
    await chat({ "x-portkey-trace-id": id, baggage: "team=red,env=prod%20eu" }).chat.completions.create({ model: CLAUDE_37, messages: USER }),
  );
  assert.deepEqual((await lineOf(id)).metadata, { team: "red", env: "prod eu" });

  id = tid("baggage-merge");
  gw.record(
    await chat({
      "x-portkey-trace-id": id,
      "x-portkey-metadata": JSON.stringify({ team: "blue" }),
      baggage: "team=red,env=prod%20eu;ttl=30",
    }).chat.completions.create({ model: CLAUDE_37, messages: USER, user: "erin" }),
  );
  assert.deepEqual((await lineOf(id)).metadata, { team: "blue", env: "prod eu", _user: "erin" });
});

test("metadata: exactly at the limits is accepted (32 keys, 128-byte key, 512-byte value); merged members that do not fit are left out", async () => {
  const full = Object.fromEntries(Array.from({ length: 32 }, (_, i) => [`k${i}`, "v"]));
  let id = tid("meta-32");
  gw.record(
    await chat({ "x-portkey-trace-id": id, "x-portkey-metadata": JSON.stringify(full), baggage: "extra=1" }).chat.completions.create({
      model: CLAUDE_37,
      messages: USER,
      user: "frank",
    }),
  );
  assert.deepEqual((await lineOf(id)).metadata, full, "no 33rd key from baggage or _user");

  const edge = { ["k".repeat(128)]: "v".repeat(512) };
  id = tid("meta-edge");
  gw.record(await chat({ "x-portkey-trace-id": id, "x-portkey-metadata": JSON.stringify(edge) }).chat.completions.create({ model: CLAUDE_37, messages: USER }));
  assert.deepEqual((await lineOf(id)).metadata, edge);
});

test("metadata: over the limits or not an object of strings → 400 invalid_request_error naming x-portkey-metadata (BadRequestError); nothing reaches the stand-in", async () => {
  const bad = {
    "33 keys": JSON.stringify(Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`k${i}`, "v"]))),
    "a 129-byte key": JSON.stringify({ ["k".repeat(129)]: "v" }),
    "a 513-byte value": JSON.stringify({ k: "v".repeat(513) }),
    "a number value": JSON.stringify({ n: 1 }),
    "a nested object": JSON.stringify({ o: { a: "b" } }),
    "an empty key": JSON.stringify({ "": "v" }),
    "not JSON": "not json",
    "an array": JSON.stringify(["a"]),
  };
  for (const [what, value] of Object.entries(bad)) {
    const id = tid("meta-bad");
    const err = await chat({ "x-portkey-trace-id": id, "x-portkey-metadata": value })
      .chat.completions.create({ model: CLAUDE_37, messages: USER })
      .catch((e) => e);
    assert.ok(err instanceof OpenAI.BadRequestError, `${what}: ${err}`);
    assert.equal(err.status, 400, what);
    assert.equal(err.param, "x-portkey-metadata", what);
    assert.equal(err.type, "invalid_request_error", what);
    assert.match(err.message, /x-portkey-metadata/, what);
    gw.record(err.error ?? {});
    const line = await lineOf(id);
    assert.equal(line.status, 400, what);
    assert.equal(line.usage, null, what);
    assert.deepEqual(line.attempts, [], what);
  }
  // The same refusal on /v1/messages, Anthropic-shaped.
  const merr = await claude({ "x-portkey-metadata": JSON.stringify({ n: 1 }) })
    .messages.create({ model: HAIKU_45_US, max_tokens: 10, messages: USER })
    .catch((e) => e);
  assert.ok(merr instanceof Anthropic.BadRequestError, String(merr));
  assert.equal(merr.error?.error?.type, "invalid_request_error");
  assert.match(merr.message, /x-portkey-metadata/);
  assert.deepEqual(gw.standin.requests(), [], "nothing reached the stand-in");
});

test(
  "metadata: the gateway key is checked before x-portkey-metadata (no key → 401, wrong key → 401); a keyed 400 names its key on the line",
  async () => {
    const body = { model: CLAUDE_37, messages: USER };
    let r = await rawChat(gw, body, { "x-portkey-provider": "@east", "x-portkey-api-key": null, "x-portkey-metadata": "nope" });
    assert.equal(r.status, 401, r.text);
    assert.equal(r.json?.error?.code, "missing_gateway_key");
    r = await rawChat(gw, body, { "x-portkey-provider": "@east", "x-portkey-api-key": "ek_e2e_wrong_key_000000000000000000", "x-portkey-metadata": "nope" });
    assert.equal(r.status, 401, r.text);
    const id = tid("meta-keyed-400");
    r = await rawChat(gw, body, { "x-portkey-provider": "@east", "x-portkey-trace-id": id, "x-portkey-metadata": "nope" });
    assert.equal(r.status, 400);
    const line = await lineOf(id);
    assert.equal(line.key, "e2e-all");
    assert.match(line.key_hash ?? "", HEX(12));
  },
);

// ------------------------------------------------------------------ 5. every line, no secrets

test("every request line is one JSON object with the documented fields", () => {
  const lines = requestLines();
  assert.ok(lines.length > 40, `only ${lines.length} request lines`);
  const always = ["trace_id", "span_id", "method", "path", "route", "status", "provider", "key", "key_hash", "model", "stream", "error",
    "target", "retries", "cache", "metadata", "usage", "cost_usd", "price", "ms", "upstream_ms", "attempts"];
  for (const l of lines) {
    for (const f of always) assert.ok(f in l, `${f} missing in ${JSON.stringify(l)}`);
    if (l.stream && l.status === 200) assert.ok(["complete", "error", "client_closed"].includes(l.end), JSON.stringify(l));
    if (l.cost_usd !== null) assert.ok(l.usage !== null && typeof l.price === "string", JSON.stringify(l));
  }
});

test("no secret (AWS secrets, session token, Signature=, OpenAI keys, the gateway key) in any log line or body; no isolate failure", async () => {
  await sleep(50);
  assert.ok(gw.logs.length > 40, `only ${gw.logs.length} log lines`);
  assert.deepEqual(secretLeaks(gw, [gw.gatewayKey, gw.catalogKey]), []);
  assert.deepEqual(isolateFailures(gw), []);
});
