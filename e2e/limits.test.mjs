// Rate limits and budgets end to end (src/budget, src/gateway/limits.rs, the Limiter Durable Object in
// src/shell/limiter.rs): the real SDKs (openai, @anthropic-ai/sdk) → the real Worker in workerd (the
// LIMITER Durable Object bound with SQLite storage, as wrangler.toml) → the stand-in.
//
// Every test makes its own gateway key(s) (and provider slugs when it limits a slug), so no two tests
// share a counter. Limits are written into the KV records directly: a gateway key record's `limits`
// object, a provider record's plain `limits` field beside the sealed part.
//
// What the counts are made of (so every figure below is exact):
// - a request's estimate (reserved at admission) = ceil(request body bytes / 4) + max_tokens (or
//   max_completion_tokens / max_output_tokens; 4096 when absent), priced by the price table;
// - what it used (recorded when its log line is written) = input + output + cache read + cache write
//   tokens and cost_usd of that line. The stand-in's scripted usage fixes both: OpenAI's
//   prompt/completion tokens (`usage`), Bedrock InvokeModel's Anthropic usage (`json`,
//   `anthropicEvents`).
// - Prices (src/usage/prices.rs): openai/gpt-4o-mini 0.15 / 0.60 USD per million input / output
//   tokens; bedrock/claude-haiku-4-5/regional (us. profile) 1.10 / 5.50.
//
// A request's record reaches the Durable Object after its answer (waitUntil): the tests wait for
// `tokens_reserved: 0` on GET /v1/usage before they rely on a count.
//
// The last test (`wrangler dev`) runs scripts/dev.sh twice on free ports; EDGEPORT_E2E_NO_WRANGLER=1
// skips it.
import { test, before, after, beforeEach } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import OpenAI from "openai";
import Anthropic from "@anthropic-ai/sdk";
import { startGateway, openaiRecord, standinRecord, secretLeaks, isolateFailures, waitFor, sleep } from "./harness.mjs";
import { gatewayKeyRecord, providerRecord } from "../scripts/catalog-lib.mjs";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const GPT = "gpt-4o-mini";
const HAIKU = "us.anthropic.claude-haiku-4-5-20251001-v1:0";
const USER = [{ role: "user", content: "hi" }];
const ADMIN_TOKEN = "limits-e2e-admin-token-0123456789";
/** OpenAI's duration format for x-ratelimit-reset-*: 120ms, 1.5s, 1m30s. */
const DURATION = /^(\d+ms|(\d+m)?\d+(\.\d+)?s)$/;
const RATE_HEADERS = [
  "x-ratelimit-limit-requests",
  "x-ratelimit-remaining-requests",
  "x-ratelimit-reset-requests",
  "x-ratelimit-limit-tokens",
  "x-ratelimit-remaining-tokens",
  "x-ratelimit-reset-tokens",
];

/** gpt-4o-mini's cost as the gateway computes it (count × rate / 1e6, input then output). */
const gptUsd = (input, output) => (input * 0.15) / 1e6 + (output * 0.6) / 1e6;
/** Claude Haiku 4.5 (us. profile, regional rate). */
const haikuUsd = (input, output) => (input * 1.1) / 1e6 + (output * 5.5) / 1e6;

let gw;
before(async () => {
  gw = await startGateway({ vars: { ADMIN_TOKEN } });
});
after(async () => {
  await gw?.close();
});
beforeEach(() => gw.standin.reset());

// ------------------------------------------------------------------ helpers

let seq = 0;
/** A gateway key nobody else uses (its counters start at zero). */
const newKey = (tag) => `ek_lim_${tag}_${++seq}_${randomBytes(9).toString("hex")}`;
/** A provider slug nobody else uses. */
const newSlug = (tag) => `lim-${tag}-${++seq}-${randomBytes(3).toString("hex")}`;

/** A gateway key record with `limits` (none: unlimited) granted `providers`. */
async function seedKey(g, key, providers, limits) {
  const { kvKey, record } = gatewayKeyRecord(key, { name: `limits-${key.slice(7, 20)}`, providers });
  if (limits) record.limits = limits;
  await g.kv.put(kvKey, JSON.stringify(record));
}

/** A provider record (OpenAI or Bedrock, on the stand-in) with its plain `limits` field. */
async function seedSlug(g, slug, kind, limits) {
  const plain = kind === "openai" ? openaiRecord(g.standin) : standinRecord(g.standin.url);
  const stored = providerRecord(g.catalogKey, slug, plain);
  if (limits) stored.limits = limits;
  await g.kv.put(`provider:${slug}`, JSON.stringify(stored));
}

/** The openai SDK with the gateway key as Bearer, through `provider`. */
const openai = (g, key, provider, opts = {}) =>
  new OpenAI({
    apiKey: key,
    baseURL: g.url + "/v1",
    defaultHeaders: { "x-portkey-provider": provider, ...(opts.headers ?? {}) },
    maxRetries: 0,
    timeout: 20_000,
    ...(opts.client ?? {}),
  });

/** The Anthropic SDK (base URL without /v1) with the gateway key in x-portkey-api-key. */
const claude = (g, key, provider) =>
  new Anthropic({
    apiKey: "unused-anthropic-key",
    baseURL: g.url,
    defaultHeaders: { "x-portkey-api-key": key, "x-portkey-provider": provider },
    maxRetries: 0,
    timeout: 20_000,
  });

/** POST with fetch: {status, headers, text, json, ms}. */
async function post(g, route, key, provider, body, extraHeaders = {}) {
  const t0 = performance.now();
  const res = await fetch(g.url + route, {
    method: "POST",
    headers: { "content-type": "application/json", "x-portkey-api-key": key, "x-portkey-provider": provider, ...extraHeaders },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  const text = await res.text();
  g.bodies.push(text);
  let json = null;
  try {
    json = JSON.parse(text);
  } catch {}
  return { status: res.status, headers: res.headers, text, json, ms: performance.now() - t0, at: performance.now() };
}

/** GET /v1/usage for `key`. */
async function usage(g, key) {
  const res = await fetch(g.url + "/v1/usage", { headers: { "x-portkey-api-key": key } });
  const text = await res.text();
  g.bodies.push(text);
  assert.equal(res.status, 200, text);
  return JSON.parse(text);
}

/** GET /v1/admin/usage/<subject> (a slug's counts). */
async function adminUsage(g, subject) {
  const res = await fetch(`${g.url}/v1/admin/usage/${subject}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
  const text = await res.text();
  assert.equal(res.status, 200, text);
  return JSON.parse(text);
}

/** /v1/usage once every admitted request's record has landed (nothing reserved) and `ok(u)` holds. */
async function settled(g, key, ok = () => true, timeoutMs = 5000) {
  const u = await waitFor(async () => {
    const v = await usage(g, key);
    return v.tokens_reserved === 0 && ok(v) ? v : null;
  }, timeoutMs, 25);
  assert.ok(u, `usage of the key never settled: ${JSON.stringify(await usage(g, key))}`);
  return u;
}

async function settledSubject(g, subject, ok = () => true) {
  const u = await waitFor(async () => {
    const v = await adminUsage(g, subject);
    return v.tokens_reserved === 0 && ok(v) ? v : null;
  }, 5000, 25);
  assert.ok(u, `usage of ${subject} never settled: ${JSON.stringify(await adminUsage(g, subject))}`);
  return u;
}

const openaiCalls = (g) => g.standin.requests().filter((r) => r.operation === "openai-chat").length;
const bedrockCalls = (g) => g.standin.requests().filter((r) => r.operation.startsWith("invoke")).length;
const rateHeaders = (headers) => RATE_HEADERS.filter((h) => headers.get(h) !== null);

/** An Anthropic Messages JSON answer (InvokeModel) with this usage. */
const invokeAnswer = (input, output) => ({
  id: "msg_bdrk_01limits",
  type: "message",
  role: "assistant",
  model: "claude-haiku-4-5-20251001",
  content: [{ type: "text", text: "Counted." }],
  stop_reason: "end_turn",
  stop_sequence: null,
  usage: { input_tokens: input, output_tokens: output },
});

/** InvokeModelWithResponseStream's inner events with this usage. */
const anthropicEvents = (input, output) => [
  {
    type: "message_start",
    message: {
      id: "msg_bdrk_01limitsstream",
      type: "message",
      role: "assistant",
      model: "claude-haiku-4-5-20251001",
      content: [],
      stop_reason: null,
      stop_sequence: null,
      usage: { input_tokens: input, output_tokens: 1 },
    },
  },
  { type: "content_block_start", index: 0, content_block: { type: "text", text: "" } },
  { type: "content_block_delta", index: 0, delta: { type: "text_delta", text: "Streamed." } },
  { type: "content_block_stop", index: 0 },
  { type: "message_delta", delta: { stop_reason: "end_turn", stop_sequence: null }, usage: { output_tokens: output } },
  { type: "message_stop", "amazon-bedrock-invocationMetrics": { inputTokenCount: input, outputTokenCount: output, invocationLatency: 50, firstByteLatency: 10 } },
];

async function drain(stream) {
  const out = [];
  for await (const c of stream) out.push(c);
  gw.record(out);
  return out;
}

/** The next UTC midnight / first of next UTC month, as the gateway writes them (no milliseconds). */
const iso = (ms) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");
function nextDay(now = Date.now()) {
  const d = new Date(now);
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate() + 1);
}
function nextMonth(now = Date.now()) {
  const d = new Date(now);
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1);
}

/**
 * A 412 budget refusal: the budget's name and the reset's ISO time in the message, Retry-After the
 * seconds until that reset. `resets` = [reset computed before the request, after it] (a request may
 * straddle UTC midnight).
 */
function assertBudget412({ status, message, headers, code }, kind, resets) {
  assert.equal(status, 412, message);
  if (code !== undefined) assert.equal(code, "budget_exhausted");
  assert.ok(message.includes(`the ${kind} budget`), message);
  const named = resets.map(iso);
  assert.ok(named.some((r) => message.includes(`resets at ${r}`)), `${message} should name the reset ${named.join(" or ")}`);
  const retryAfter = Number(headers.get("retry-after"));
  const left = (resets[1] - Date.now()) / 1000;
  assert.ok(Number.isInteger(retryAfter) && Math.abs(retryAfter - left) <= 5, `retry-after ${retryAfter}, ${left} s to the reset`);
  assert.deepEqual(rateHeaders(headers), [], "a budget-only key's 412 carries no x-ratelimit-*");
}

/** Runs `fn` and returns the error it throws (failing when it does not). */
async function refusal(fn) {
  try {
    const out = await fn();
    assert.fail(`expected a refusal, got ${JSON.stringify(out).slice(0, 300)}`);
  } catch (e) {
    if (e instanceof assert.AssertionError) throw e;
    return e;
  }
}

// ------------------------------------------------------------------ 1. rpm: 429, Retry-After, x-ratelimit-*

test("rpm 3 (openai SDK, chat): requests 1-3 answer 200 with x-ratelimit-*, the 4th 429 with Retry-After, retry-after-ms and x-ratelimit-*, OpenAI body rate_limit_exceeded, not sent upstream", async () => {
  const slug = newSlug("oa");
  await seedSlug(gw, slug, "openai");
  const key = newKey("rpm3");
  await seedKey(gw, key, [slug], { rpm: 3 });
  const client = openai(gw, key, `@${slug}`);
  for (let i = 0; i < 3; i++) {
    const { data, response } = await client.chat.completions.create({ model: GPT, messages: USER, max_tokens: 16 }).withResponse();
    gw.record(data);
    assert.equal(response.status, 200);
    assert.equal(response.headers.get("x-ratelimit-limit-requests"), "3");
    assert.equal(response.headers.get("x-ratelimit-remaining-requests"), String(2 - i));
    assert.match(response.headers.get("x-ratelimit-reset-requests"), DURATION);
    // No tpm on this key: no token headers (and the stand-in's own x-ratelimit-* are not passed on).
    assert.equal(response.headers.get("x-ratelimit-limit-tokens"), null);
  }
  assert.equal(openaiCalls(gw), 3);

  const err = await refusal(() => client.chat.completions.create({ model: GPT, messages: USER, max_tokens: 16 }));
  assert.ok(err instanceof OpenAI.RateLimitError, String(err));
  assert.equal(err.status, 429);
  assert.equal(err.code, "rate_limit_exceeded");
  assert.match(err.message, /3 requests per minute/);

  // The same refusal, byte for byte: body and headers.
  const raw = await post(gw, "/v1/chat/completions", key, `@${slug}`, { model: GPT, messages: USER, max_tokens: 16 });
  assert.equal(raw.status, 429, raw.text);
  assert.deepEqual(Object.keys(raw.json), ["error"]);
  assert.equal(raw.json.error.code, "rate_limit_exceeded");
  assert.equal(raw.json.error.type, "rate_limit_error");
  assert.equal(raw.json.error.param, null);
  assert.match(raw.json.error.message, /^rate limit of this gateway key reached \(3 requests per minute\); retry in /);
  const ms = Number(raw.headers.get("retry-after-ms"));
  // One request refills every 20 s; three were taken moments ago.
  assert.ok(Number.isInteger(ms) && ms > 15_000 && ms <= 20_000, `retry-after-ms ${ms}`);
  assert.equal(raw.headers.get("retry-after"), String(Math.ceil(ms / 1000)));
  assert.equal(raw.headers.get("x-ratelimit-limit-requests"), "3");
  assert.equal(raw.headers.get("x-ratelimit-remaining-requests"), "0");
  assert.match(raw.headers.get("x-ratelimit-reset-requests"), DURATION);
  assert.equal(openaiCalls(gw), 3, "refused requests never reach the upstream");

  const u = await settled(gw, key);
  assert.equal(u.requests_today, 3, "refusals are not counted");
  assert.equal(u.remaining_requests, 0);
  assert.deepEqual(u.limits, { rpm: 3 });
});

test("rpm 3 (Anthropic SDK, /v1/messages): the 4th is 429 with an Anthropic-shaped body and the same headers", async () => {
  const slug = newSlug("br");
  await seedSlug(gw, slug, "bedrock");
  const key = newKey("rpm3msg");
  await seedKey(gw, key, [slug], { rpm: 3 });
  const client = claude(gw, key, `@${slug}`);
  for (let i = 0; i < 3; i++) {
    const { data, response } = await client.messages.create({ model: HAIKU, max_tokens: 16, messages: USER }).withResponse();
    gw.record(data);
    assert.equal(data.type, "message");
    assert.equal(response.headers.get("x-ratelimit-limit-requests"), "3");
    assert.equal(response.headers.get("x-ratelimit-remaining-requests"), String(2 - i));
    assert.match(response.headers.get("x-ratelimit-reset-requests"), DURATION);
  }
  const err = await refusal(() => client.messages.create({ model: HAIKU, max_tokens: 16, messages: USER }));
  assert.ok(err instanceof Anthropic.RateLimitError, String(err));
  assert.equal(err.status, 429);
  assert.equal(err.error?.type, "error");
  assert.equal(err.error?.error?.type, "rate_limit_error");

  const raw = await post(gw, "/v1/messages", key, `@${slug}`, { model: HAIKU, max_tokens: 16, messages: USER });
  assert.equal(raw.status, 429, raw.text);
  assert.deepEqual(Object.keys(raw.json).sort(), ["error", "type"]);
  assert.equal(raw.json.type, "error");
  assert.deepEqual(Object.keys(raw.json.error).sort(), ["message", "type"]);
  assert.equal(raw.json.error.type, "rate_limit_error");
  assert.match(raw.json.error.message, /3 requests per minute/);
  const ms = Number(raw.headers.get("retry-after-ms"));
  assert.ok(ms > 15_000 && ms <= 20_000, `retry-after-ms ${ms}`);
  assert.equal(raw.headers.get("retry-after"), String(Math.ceil(ms / 1000)));
  assert.equal(raw.headers.get("x-ratelimit-limit-requests"), "3");
  assert.equal(raw.headers.get("x-ratelimit-remaining-requests"), "0");
  assert.match(raw.headers.get("x-ratelimit-reset-requests"), DURATION);
  assert.equal(bedrockCalls(gw), 3);
});

test("the openai SDK's own retry (maxRetries 1) honours retry-after-ms: rpm 60, the call after the burst waits ≈ retry-after-ms and reaches the upstream once", async (t) => {
  const slug = newSlug("oa");
  await seedSlug(gw, slug, "openai");
  const key = newKey("rpm60");
  await seedKey(gw, key, [slug], { rpm: 60 });
  const seen = [];
  const client = openai(gw, key, `@${slug}`, {
    client: {
      maxRetries: 1,
      // Every HTTP exchange the SDK makes: when it was sent, when its answer came, what it said.
      fetch: async (url, init) => {
        const sent = performance.now();
        const res = await fetch(url, init);
        seen.push({ sent, answered: performance.now(), status: res.status, retryAfterMs: res.headers.get("retry-after-ms"), retryAfter: res.headers.get("retry-after") });
        return res;
      },
    },
  });
  const body = { model: GPT, messages: USER, max_tokens: 8 };
  for (let round = 1; ; round++) {
    // Use the burst up (60, plus what refills meanwhile: one a second) until the gateway refuses.
    let burst = 0;
    for (;;) {
      const r = await post(gw, "/v1/chat/completions", key, `@${slug}`, body);
      if (r.status === 429) break;
      assert.equal(r.status, 200, r.text);
      assert.ok(++burst <= 80, "the burst never ended");
    }
    seen.length = 0;
    const before = openaiCalls(gw);
    const t0 = performance.now();
    const out = await client.chat.completions.create(body);
    const elapsed = performance.now() - t0;
    gw.record(out);
    if (seen[0].status === 200 && round < 3) continue; // a request refilled between the refusal and this call: again
    assert.deepEqual(seen.map((s) => s.status), [429, 200], JSON.stringify(seen));
    const wait = Number(seen[0].retryAfterMs);
    assert.ok(wait > 0 && wait <= 1000, `retry-after-ms ${wait} (one request a second)`);
    assert.equal(seen[0].retryAfter, "1");
    // The SDK slept the header's time between the refusal and the retry (timers may fire ≤ 1 ms early).
    assert.ok(seen[1].sent - seen[0].answered >= wait - 1, `retried after ${seen[1].sent - seen[0].answered} ms, told ${wait}`);
    assert.ok(elapsed >= wait, `the call took ${elapsed} ms, the header said ${wait}`);
    assert.ok(elapsed < 5000, `the call took ${elapsed} ms`);
    assert.equal(openaiCalls(gw) - before, 1, "the stand-in got exactly one call for it");
    assert.equal(out.object, "chat.completion");
    t.diagnostic(`round ${round}: burst ${burst} admitted, then retry-after-ms ${wait}; the SDK retried ${(seen[1].sent - seen[0].answered).toFixed(1)} ms after the 429, the call took ${elapsed.toFixed(1)} ms`);
    break;
  }
});

test("tpm 1000: each admission reserves its estimate (ceil(bytes / 4) + max_tokens) from the bucket, x-ratelimit-*-tokens say so, then 429; the actual usage replaces the estimate", async () => {
  const oa = newSlug("oa");
  await seedSlug(gw, oa, "openai");
  const key = newKey("tpm");
  await seedKey(gw, key, [oa], { tpm: 1000 });
  const maxTokens = 480;
  const body = JSON.stringify({ model: GPT, messages: USER, max_tokens: maxTokens });
  const estimate = Math.ceil(Buffer.byteLength(body) / 4) + maxTokens;
  assert.ok(estimate > 500 && estimate < 1000, `estimate ${estimate}: two fit above zero, the third does not`);
  for (let i = 0; i < 3; i++) gw.standin.script({ match: { operation: "openai-chat" }, usage: { prompt_tokens: 30, completion_tokens: 20 }, delayMs: 300 });
  // Three together (each held 300 ms upstream): the first two reserve 2 × estimate, the bucket drops below zero.
  const rs = await Promise.all([0, 1, 2].map(() => post(gw, "/v1/chat/completions", key, `@${oa}`, body)));
  const ok = rs.filter((r) => r.status === 200).sort((a, b) => Number(b.headers.get("x-ratelimit-remaining-tokens")) - Number(a.headers.get("x-ratelimit-remaining-tokens")));
  const limited = rs.filter((r) => r.status === 429);
  assert.equal(ok.length, 2, rs.map((r) => r.status).join());
  assert.equal(limited.length, 1);
  for (const r of [...ok, ...limited]) {
    assert.equal(r.headers.get("x-ratelimit-limit-tokens"), "1000");
    assert.match(r.headers.get("x-ratelimit-reset-tokens"), DURATION);
    assert.equal(r.headers.get("x-ratelimit-limit-requests"), null, "no rpm on this key");
  }
  // The refill between the two admissions is a few tokens at most (1000 a minute).
  const first = Number(ok[0].headers.get("x-ratelimit-remaining-tokens"));
  assert.ok(first >= 1000 - estimate && first <= 1000 - estimate + 5, `remaining after the first: ${first}`);
  assert.equal(ok[1].headers.get("x-ratelimit-remaining-tokens"), "0", "below zero is shown as 0");
  const e = limited[0];
  assert.equal(e.json.error.code, "rate_limit_exceeded");
  assert.match(e.json.error.message, /1000 tokens per minute/);
  const ms = Number(e.headers.get("retry-after-ms"));
  // Until the bucket is back above zero: (2 × estimate − 1000 + 1) tokens at 1000 a minute.
  assert.ok(ms > 0 && ms <= ((2 * estimate - 1000 + 1) * 60_000) / 1000, `retry-after-ms ${ms}`);
  assert.equal(e.headers.get("retry-after"), String(Math.max(1, Math.ceil(ms / 1000))));
  assert.equal(openaiCalls(gw), 2);
  // Both used 50: the estimates come back, 100 spent.
  const u = await settled(gw, key, (v) => v.tokens_today === 100);
  assert.ok(u.remaining_tokens >= 900 && u.remaining_tokens <= 1000, `remaining_tokens ${u.remaining_tokens}`);
  assert.equal(u.requests_today, 2);
});

// ------------------------------------------------------------------ 2. budgets: 412 budget_exhausted

/**
 * Four requests, one per route and mode, whose scripted usage is known; returns what each recorded
 * (tokens, USD) as the usage shows it after each.
 */
async function spendOnEveryRoute(key, oa, br, [chatJson, chatStream, msgJson, msgStream]) {
  const steps = [];
  const wait = async (expectRequests) => {
    const u = await settled(gw, key, (v) => v.requests_today === expectRequests);
    steps.push({ tokens: u.tokens_today, usd: u.usd_this_month });
  };
  gw.standin.script({ match: { operation: "openai-chat", stream: false }, usage: { prompt_tokens: chatJson[0], completion_tokens: chatJson[1] } });
  gw.record(await openai(gw, key, `@${oa}`).chat.completions.create({ model: GPT, messages: USER, max_tokens: 16 }));
  await wait(1);
  gw.standin.script({ match: { operation: "openai-chat", stream: true }, usage: { prompt_tokens: chatStream[0], completion_tokens: chatStream[1] } });
  const chunks = await drain(
    await openai(gw, key, `@${oa}`).chat.completions.create({ model: GPT, messages: USER, max_tokens: 16, stream: true, stream_options: { include_usage: true } }),
  );
  assert.equal(chunks.at(-1).usage.prompt_tokens, chatStream[0]);
  await wait(2);
  gw.standin.script({ match: { operation: "invoke" }, json: invokeAnswer(...msgJson) });
  const m = gw.record(await claude(gw, key, `@${br}`).messages.create({ model: HAIKU, max_tokens: 16, messages: USER }));
  assert.equal(m.usage.output_tokens, msgJson[1]);
  await wait(3);
  gw.standin.script({ match: { operation: "invoke-with-response-stream" }, anthropicEvents: anthropicEvents(...msgStream) });
  const final = gw.record(await claude(gw, key, `@${br}`).messages.stream({ model: HAIKU, max_tokens: 16, messages: USER }).finalMessage());
  assert.equal(final.usage.output_tokens, msgStream[1]);
  await wait(4);
  return steps;
}

/** After the budget is crossed: chat JSON and stream, messages JSON and stream all refused with 412, none sent upstream. */
async function assertAllRefused(key, oa, br, kind, resetOf) {
  const calls = gw.standin.requests().length;
  const r0 = resetOf();
  const chatJson = await refusal(() => openai(gw, key, `@${oa}`).chat.completions.create({ model: GPT, messages: USER, max_tokens: 16 }));
  const chatStream = await refusal(async () =>
    drain(await openai(gw, key, `@${oa}`).chat.completions.create({ model: GPT, messages: USER, max_tokens: 16, stream: true, stream_options: { include_usage: true } })),
  );
  const msgJson = await refusal(() => claude(gw, key, `@${br}`).messages.create({ model: HAIKU, max_tokens: 16, messages: USER }));
  const msgStream = await refusal(() => claude(gw, key, `@${br}`).messages.stream({ model: HAIKU, max_tokens: 16, messages: USER }).finalMessage());
  const resets = [r0, resetOf()];
  for (const [name, e] of [["chat", chatJson], ["chat stream", chatStream]]) {
    assert.ok(e instanceof OpenAI.APIError, `${name}: ${e}`);
    assert.equal(e.type, "rate_limit_error", name);
    assertBudget412({ status: e.status, message: e.error?.message ?? "", headers: e.headers, code: e.code }, kind, resets);
  }
  for (const [name, e] of [["messages", msgJson], ["messages stream", msgStream]]) {
    assert.ok(e instanceof Anthropic.APIError, `${name}: ${e}`);
    assert.equal(e.error?.type, "error", name);
    assert.equal(e.error?.error?.type, "rate_limit_error", name);
    assertBudget412({ status: e.status, message: e.error?.error?.message ?? "", headers: e.headers }, kind, resets);
  }
  // The raw OpenAI body: code budget_exhausted.
  const raw = await post(gw, "/v1/chat/completions", key, `@${oa}`, { model: GPT, messages: USER, max_tokens: 16, stream: true });
  assert.equal(raw.status, 412);
  assert.equal(raw.json.error.code, "budget_exhausted");
  assert.match(raw.headers.get("content-type"), /application\/json/, "a refused stream is a JSON error, not SSE");
  assert.equal(gw.standin.requests().length, calls, "refused requests never reach the upstream");
}

test("tokens_per_day: recorded usage of chat JSON + chat stream + messages JSON + messages stream crosses it; then 412 budget_exhausted (JSON and stream, chat and messages) naming tokens_per_day and the next UTC midnight", async () => {
  const oa = newSlug("oa");
  const br = newSlug("br");
  await seedSlug(gw, oa, "openai");
  await seedSlug(gw, br, "bedrock");
  const key = newKey("tpd");
  await seedKey(gw, key, [oa, br], { tokens_per_day: 1000 });
  // 300+100, then 200+100, then 100+50, then 100+60 = 400, 700, 850, 1010 ≥ 1000.
  const steps = await spendOnEveryRoute(key, oa, br, [[300, 100], [200, 100], [100, 50], [100, 60]]);
  assert.deepEqual(steps.map((s) => s.tokens), [400, 700, 850, 1010], "JSON and streams, chat and messages, all counted");
  const u = await usage(gw, key);
  assert.equal(u.requests_today, 4);
  assert.equal(u.tokens_this_month, 1010);
  assert.ok(Math.abs(u.usd_this_month - (gptUsd(300, 100) + gptUsd(200, 100) + haikuUsd(100, 50) + haikuUsd(100, 60))) < 1e-12, String(u.usd_this_month));
  assert.equal(u.day_resets_at_ms, nextDay());
  await assertAllRefused(key, oa, br, "tokens_per_day", nextDay);
  assert.equal((await usage(gw, key)).requests_today, 4, "refusals are not counted");
});

test("usd_per_month: recorded cost crosses it; then 412 budget_exhausted naming usd_per_month and the first of next UTC month", async () => {
  const oa = newSlug("oa");
  const br = newSlug("br");
  await seedSlug(gw, oa, "openai");
  await seedSlug(gw, br, "bedrock");
  const key = newKey("usd");
  await seedKey(gw, key, [oa, br], { usd_per_month: 0.01 });
  // gpt-4o-mini 2000+2000 = 0.0015 twice, Haiku 500+500 = 0.0033, 500+700 = 0.0044: 0.0015, 0.003, 0.0063, 0.0107 ≥ 0.01.
  const steps = await spendOnEveryRoute(key, oa, br, [[2000, 2000], [2000, 2000], [500, 500], [500, 700]]);
  const expected = [gptUsd(2000, 2000)];
  expected.push(expected[0] + gptUsd(2000, 2000));
  expected.push(expected[1] + haikuUsd(500, 500));
  expected.push(expected[2] + haikuUsd(500, 700));
  steps.forEach((s, i) => assert.ok(Math.abs(s.usd - expected[i]) < 1e-12, `step ${i}: ${s.usd} ≠ ${expected[i]}`));
  assert.ok(expected[2] < 0.01 && expected[3] >= 0.01);
  const u = await usage(gw, key);
  assert.equal(u.tokens_today, 4000 + 4000 + 1000 + 1200);
  assert.equal(u.month_resets_at_ms, nextMonth());
  await assertAllRefused(key, oa, br, "usd_per_month", nextMonth);
});

test(
  "a stream from an OpenAI target without stream_options.include_usage is counted against tokens_per_day",
  async () => {
    const oa = newSlug("oa");
    await seedSlug(gw, oa, "openai");
    const key = newKey("noinclude");
    await seedKey(gw, key, [oa], { tokens_per_day: 1000 });
    gw.standin.script({ match: { operation: "openai-chat", stream: true }, usage: { prompt_tokens: 600, completion_tokens: 400 } });
    const chunks = await drain(await openai(gw, key, `@${oa}`).chat.completions.create({ model: GPT, messages: USER, max_tokens: 16, stream: true }));
    assert.ok(chunks.length > 2);
    const u = await settled(gw, key, (v) => v.requests_today === 1);
    assert.ok(u.tokens_today > 0, `tokens_today ${u.tokens_today} after a streamed request`);
  },
);

// ------------------------------------------------------------------ 3. a slug's budget

test("a slug budget (provider record `limits`) counts every key using the slug and stops them all; another slug still works", async () => {
  const capped = newSlug("capped");
  const free = newSlug("free");
  await seedSlug(gw, capped, "openai", { tokens_per_day: 500 });
  await seedSlug(gw, free, "openai");
  const k1 = newKey("slug1");
  const k2 = newKey("slug2");
  // The keys themselves are unlimited: only the slug counts.
  await seedKey(gw, k1, [capped, free]);
  await seedKey(gw, k2, [capped, free]);
  gw.standin.script({ match: { operation: "openai-chat" }, usage: { prompt_tokens: 150, completion_tokens: 50 } });
  gw.record(await openai(gw, k1, `@${capped}`).chat.completions.create({ model: GPT, messages: USER, max_tokens: 16 }));
  await settledSubject(gw, `slug:${capped}`, (v) => v.tokens_today === 200);
  gw.standin.script({ match: { operation: "openai-chat" }, usage: { prompt_tokens: 300, completion_tokens: 100 } });
  const { response } = await openai(gw, k2, `@${capped}`).chat.completions.create({ model: GPT, messages: USER, max_tokens: 16 }).withResponse();
  assert.deepEqual(rateHeaders(response.headers), [], "a slug's limits give no x-ratelimit-* (those are the key's)");
  const s = await settledSubject(gw, `slug:${capped}`, (v) => v.requests_today === 2);
  assert.equal(s.tokens_today, 600, "both keys' usage on the slug");
  assert.deepEqual(s.limits, { tokens_per_day: 500 });
  assert.equal(s.subject, `slug:${capped}`);

  const calls = openaiCalls(gw);
  for (const key of [k1, k2]) {
    const r0 = nextDay();
    const e = await refusal(() => openai(gw, key, `@${capped}`).chat.completions.create({ model: GPT, messages: USER, max_tokens: 16 }));
    assert.ok(e instanceof OpenAI.APIError, String(e));
    assertBudget412({ status: e.status, message: e.error.message, headers: e.headers, code: e.code }, "tokens_per_day", [r0, nextDay()]);
    assert.ok(e.error.message.includes(`provider \`@${capped}\``), e.error.message);
    const st = await refusal(async () => drain(await openai(gw, key, `@${capped}`).chat.completions.create({ model: GPT, messages: USER, max_tokens: 16, stream: true })));
    assert.equal(st.status, 412);
    assert.equal(st.code, "budget_exhausted");
  }
  assert.equal(openaiCalls(gw), calls);
  for (const key of [k1, k2]) {
    const out = gw.record(await openai(gw, key, `@${free}`).chat.completions.create({ model: GPT, messages: USER, max_tokens: 16 }));
    assert.equal(out.object, "chat.completion");
  }
  assert.equal(openaiCalls(gw), calls + 2);
  // The keys' own counters were never touched.
  for (const key of [k1, k2]) assert.equal((await usage(gw, key)).requests_today, 0);
});

test(
  "a request the slug's budget refuses takes nothing from the key's own limits (rpm, requests_today)",
  async () => {
    const capped = newSlug("kcapped");
    const free = newSlug("kfree");
    await seedSlug(gw, capped, "openai", { tokens_per_day: 100 });
    await seedSlug(gw, free, "openai");
    const key = newKey("keyslug");
    await seedKey(gw, key, [capped, free], { rpm: 3 });
    gw.standin.script({ match: { operation: "openai-chat" }, usage: { prompt_tokens: 150, completion_tokens: 50 } });
    const first = await post(gw, "/v1/chat/completions", key, `@${capped}`, { model: GPT, messages: USER, max_tokens: 16 });
    assert.equal(first.status, 200, first.text);
    await settledSubject(gw, `slug:${capped}`, (v) => v.tokens_today === 200);
    for (let i = 0; i < 2; i++) {
      const r = await post(gw, "/v1/chat/completions", key, `@${capped}`, { model: GPT, messages: USER, max_tokens: 16 });
      assert.equal(r.status, 412, r.text);
    }
    const r = await post(gw, "/v1/chat/completions", key, `@${free}`, { model: GPT, messages: USER, max_tokens: 16 });
    const u = await settled(gw, key);
    assert.deepEqual({ status: r.status, requests_today: u.requests_today }, { status: 200, requests_today: 2 }, r.text);
  },
);

// ------------------------------------------------------------------ 4. fallback past a limited target

test("a fallback config moves past a target whose slug budget is exhausted (x-portkey-last-used-option-index: config.targets[1])", async () => {
  const capped = newSlug("fbcapped");
  const free = newSlug("fbfree");
  await seedSlug(gw, capped, "openai", { tokens_per_day: 100 });
  await seedSlug(gw, free, "openai");
  const key = newKey("fb");
  await seedKey(gw, key, [capped, free]);
  gw.standin.script({ match: { operation: "openai-chat" }, usage: { prompt_tokens: 150, completion_tokens: 50 } });
  gw.record(await openai(gw, key, `@${capped}`).chat.completions.create({ model: GPT, messages: USER, max_tokens: 16 }));
  await settledSubject(gw, `slug:${capped}`, (v) => v.tokens_today === 200);
  const direct = await post(gw, "/v1/chat/completions", key, `@${capped}`, { model: GPT, messages: USER, max_tokens: 16 });
  assert.equal(direct.status, 412, "the capped slug alone is refused");

  const config = { strategy: { mode: "fallback" }, targets: [{ provider: `@${capped}` }, { provider: `@${free}` }] };
  const calls = openaiCalls(gw);
  const client = new OpenAI({
    apiKey: key,
    baseURL: gw.url + "/v1",
    defaultHeaders: { "x-portkey-config": JSON.stringify(config) },
    maxRetries: 0,
    timeout: 20_000,
  });
  const { data, response } = await client.chat.completions.create({ model: GPT, messages: USER, max_tokens: 16 }).withResponse();
  gw.record(data);
  assert.equal(response.status, 200);
  assert.equal(response.headers.get("x-portkey-last-used-option-index"), "config.targets[1]");
  assert.equal(openaiCalls(gw), calls + 1, "only the second target reached the upstream");
  // A stream takes the same way.
  const s = await client.chat.completions.create({ model: GPT, messages: USER, max_tokens: 16, stream: true }).withResponse();
  await drain(s.data);
  assert.equal(s.response.headers.get("x-portkey-last-used-option-index"), "config.targets[1]");
  assert.equal(openaiCalls(gw), calls + 2);
  const after = await settledSubject(gw, `slug:${capped}`);
  assert.equal(after.requests_today, 1, "the refused target's admissions are not counted");
  assert.equal(after.tokens_today, 200);
});

// ------------------------------------------------------------------ 5. exact counts after concurrent requests

test("GET /v1/usage: exact counts after 20 concurrent requests (10 JSON, 10 streams) that all succeed; nothing reserved after", async (t) => {
  const oa = newSlug("oa");
  await seedSlug(gw, oa, "openai");
  const key = newKey("twenty");
  const limits = { rpm: 1000, tokens_per_day: 1_000_000, usd_per_month: 100 };
  await seedKey(gw, key, [oa], limits);
  for (let i = 0; i < 20; i++) gw.standin.script({ match: { operation: "openai-chat" }, usage: { prompt_tokens: 100, completion_tokens: 20 }, delayMs: 100 });
  const client = openai(gw, key, `@${oa}`);
  const results = await Promise.all(
    Array.from({ length: 20 }, async (_, i) => {
      if (i % 2 === 0) return client.chat.completions.create({ model: GPT, messages: USER, max_tokens: 16 }).withResponse();
      const r = await client.chat.completions.create({ model: GPT, messages: USER, max_tokens: 16, stream: true, stream_options: { include_usage: true } }).withResponse();
      return { data: await drain(r.data), response: r.response };
    }),
  );
  for (const r of results) {
    assert.equal(r.response.status, 200);
    assert.equal(r.response.headers.get("x-ratelimit-limit-requests"), "1000");
  }
  // Each admission took one request from the bucket: the 20 answers' remaining counts are 20 distinct values.
  const remaining = results.map((r) => Number(r.response.headers.get("x-ratelimit-remaining-requests")));
  assert.equal(new Set(remaining).size, 20, `remaining-requests ${remaining}`);
  assert.equal(openaiCalls(gw), 20);
  const u = await settled(gw, key, (v) => v.tokens_today === 2400);
  let usd = 0;
  for (let i = 0; i < 20; i++) usd += gptUsd(100, 20);
  assert.equal(u.object, "usage");
  assert.deepEqual(u.limits, limits);
  assert.equal(u.requests_today, 20);
  assert.equal(u.requests_this_month, 20);
  assert.equal(u.tokens_today, 2400);
  assert.equal(u.tokens_this_month, 2400);
  assert.equal(u.tokens_reserved, 0);
  assert.ok(Math.abs(u.usd_this_month - usd) < 1e-12, `usd_this_month ${u.usd_this_month}, expected ${usd}`);
  assert.ok(Math.abs(u.usd_reserved) < 1e-12, `usd_reserved ${u.usd_reserved}`);
  t.diagnostic(`usd_this_month ${u.usd_this_month} (expected ${usd}), usd_reserved ${u.usd_reserved}`);
  assert.equal(u.day_resets_at_ms, nextDay());
  assert.equal(u.month_resets_at_ms, nextMonth());
});

// ------------------------------------------------------------------ 6. bounded concurrency

test("50 concurrent requests against a tokens_per_day of exactly 10 estimates: at most 10 admitted, the rest 412 while those are in flight; recorded usage within the documented bound", async (t) => {
  const oa = newSlug("oa");
  await seedSlug(gw, oa, "openai");
  const key = newKey("fifty");
  const maxTokens = 100;
  const body = JSON.stringify({ model: GPT, messages: [{ role: "user", content: "How many of us get in?" }], max_tokens: maxTokens });
  const estimate = Math.ceil(Buffer.byteLength(body) / 4) + maxTokens;
  const limit = 10 * estimate;
  await seedKey(gw, key, [oa], { tokens_per_day: limit });
  // Every admitted request uses 7 tokens more than its estimate (the bound allows for that), and the
  // stand-in holds each one 1.5 s, so all 50 are in flight together.
  const used = { prompt_tokens: estimate - maxTokens + 7, completion_tokens: maxTokens };
  const usedTokens = used.prompt_tokens + used.completion_tokens;
  for (let i = 0; i < 50; i++) gw.standin.script({ match: { operation: "openai-chat" }, usage: used, delayMs: 1500 });
  const t0 = performance.now();
  const results = await Promise.all(Array.from({ length: 50 }, () => post(gw, "/v1/chat/completions", key, `@${oa}`, body)));
  const ok = results.filter((r) => r.status === 200);
  const refused = results.filter((r) => r.status === 412);
  assert.equal(ok.length + refused.length, 50, `statuses ${results.map((r) => r.status)}`);
  assert.ok(ok.length <= 10, `${ok.length} admitted`);
  assert.equal(ok.length, 10, "exactly the budget's 10 estimates");
  for (const r of refused) assert.equal(r.json.error.code, "budget_exhausted");
  // All refusals came while the admitted ones were still held upstream.
  const lastRefusal = Math.max(...refused.map((r) => r.at)) - t0;
  const firstAnswer = Math.min(...ok.map((r) => r.at)) - t0;
  assert.ok(lastRefusal < firstAnswer && firstAnswer >= 1500, `last 412 at ${lastRefusal} ms, first 200 at ${firstAnswer} ms`);
  assert.equal(openaiCalls(gw), ok.length, "only admitted requests reached the upstream");

  const u = await settled(gw, key, (v) => v.tokens_today === ok.length * usedTokens);
  assert.equal(u.requests_today, ok.length);
  // The documented bound: at most one request admitted past the point where recorded + reserved reach
  // the limit (its usage), plus whatever in-flight requests used beyond their estimates.
  const bound = limit + usedTokens + ok.length * Math.max(0, usedTokens - estimate);
  assert.ok(u.tokens_today <= bound, `recorded ${u.tokens_today} > bound ${bound}`);
  t.diagnostic(`estimate ${estimate}, limit ${limit}: ${ok.length} admitted, ${refused.length} refused (last 412 at ${lastRefusal.toFixed(0)} ms, first 200 at ${firstAnswer.toFixed(0)} ms); recorded ${u.tokens_today} ≤ bound ${bound}`);
  // And the next one is refused.
  const next = await post(gw, "/v1/chat/completions", key, `@${oa}`, body);
  assert.equal(next.status, 412);
});

// ------------------------------------------------------------------ 7. counts survive a restart

/** The Limiter objects' SQLite files under a persist directory (metadata excluded). */
function objectFiles(dir) {
  const out = [];
  const walk = (d) => {
    for (const f of readdirSync(d)) {
      const p = path.join(d, f);
      if (statSync(p).isDirectory()) walk(p);
      else if (f.endsWith(".sqlite") && f !== "metadata.sqlite") out.push(p);
    }
  };
  walk(dir);
  return out;
}

test("counts survive a restart (doPersist): the same /v1/usage, and admission continues from them (rpm bucket, tokens_per_day)", async () => {
  const dir = mkdtempSync(path.join(tmpdir(), "edgeport-limits-do-"));
  const oa = "persist-oa";
  const rate = newKey("persist");
  const budget = newKey("persistbudget");
  const seed = async (g) => {
    await seedSlug(g, oa, "openai");
    await seedKey(g, rate, [oa], { rpm: 3, tokens_per_day: 1000 });
    await seedKey(g, budget, [oa], { tokens_per_day: 500 });
  };
  let g1;
  let g2;
  try {
    g1 = await startGateway({ doPersist: dir });
    await seed(g1);
    for (let i = 0; i < 2; i++) {
      g1.standin.script({ match: { operation: "openai-chat" }, usage: { prompt_tokens: 150, completion_tokens: 50 } });
      gw.record(await openai(g1, rate, `@${oa}`).chat.completions.create({ model: GPT, messages: USER, max_tokens: 16 }));
    }
    g1.standin.script({ match: { operation: "openai-chat" }, usage: { prompt_tokens: 500, completion_tokens: 100 } });
    gw.record(await openai(g1, budget, `@${oa}`).chat.completions.create({ model: GPT, messages: USER, max_tokens: 16 }));
    const before1 = await settled(g1, rate, (v) => v.tokens_today === 400);
    const before2 = await settled(g1, budget, (v) => v.tokens_today === 600);
    assert.equal(before1.requests_today, 2);
    assert.equal(before1.remaining_requests, 1);
    assert.equal((await post(g1, "/v1/chat/completions", budget, `@${oa}`, { model: GPT, messages: USER })).status, 412);
    await g1.close();
    g1 = null;

    g2 = await startGateway({ doPersist: dir });
    await seed(g2); // a new KV (and CATALOG_KEY): the same records
    const after1 = await usage(g2, rate);
    const after2 = await usage(g2, budget);
    for (const f of ["requests_today", "requests_this_month", "tokens_today", "tokens_this_month", "tokens_reserved", "usd_this_month", "usd_reserved"]) {
      assert.equal(after1[f], before1[f], `${f} of the rpm key`);
      assert.equal(after2[f], before2[f], `${f} of the budget key`);
    }
    assert.equal(after1.remaining_requests, 1, "the rpm bucket did not start full again");
    // Admission continues: the rpm key's last request of the burst, then 429; the budget key still 412.
    g2.standin.script({ match: { operation: "openai-chat" }, usage: { prompt_tokens: 100, completion_tokens: 100 } });
    const { response } = await openai(g2, rate, `@${oa}`).chat.completions.create({ model: GPT, messages: USER, max_tokens: 16 }).withResponse();
    assert.equal(response.headers.get("x-ratelimit-remaining-requests"), "0");
    const r429 = await post(g2, "/v1/chat/completions", rate, `@${oa}`, { model: GPT, messages: USER, max_tokens: 16 });
    assert.equal(r429.status, 429, r429.text);
    const r412 = await post(g2, "/v1/chat/completions", budget, `@${oa}`, { model: GPT, messages: USER, max_tokens: 16 });
    assert.equal(r412.status, 412, r412.text);
    assert.equal(r412.json.error.code, "budget_exhausted");
    const last = await settled(g2, rate, (v) => v.tokens_today === 600);
    assert.equal(last.requests_today, 3);
    assert.ok(Math.abs(last.usd_this_month - (gptUsd(150, 50) * 2 + gptUsd(100, 100))) < 1e-12);
  } finally {
    await g1?.close();
    await g2?.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

// ------------------------------------------------------------------ 8. no limits, no Durable Object

test("a key without limits: no x-ratelimit-* on its answers, no Limiter object created by its requests, /v1/usage all zeros", async () => {
  const dir = mkdtempSync(path.join(tmpdir(), "edgeport-limits-none-"));
  let g;
  try {
    g = await startGateway({ doPersist: dir });
    const oa = newSlug("oa");
    const br = newSlug("br");
    await seedSlug(g, oa, "openai");
    await seedSlug(g, br, "bedrock");
    const key = newKey("nolimits");
    await seedKey(g, key, [oa, br]);
    const c = openai(g, key, `@${oa}`);
    const a = await c.chat.completions.create({ model: GPT, messages: USER, max_tokens: 16 }).withResponse();
    gw.record(a.data);
    const s = await c.chat.completions.create({ model: GPT, messages: USER, max_tokens: 16, stream: true }).withResponse();
    await drain(s.data);
    const m = await claude(g, key, `@${br}`).messages.create({ model: HAIKU, max_tokens: 16, messages: USER }).withResponse();
    gw.record(m.data);
    for (const r of [a, s, m]) {
      assert.equal(r.response.status, 200);
      assert.deepEqual(rateHeaders(r.response.headers), [], "no x-ratelimit-* header (the stand-in's own are not passed on either)");
    }
    await sleep(200); // a record would come after the answer
    assert.deepEqual(objectFiles(dir), [], "no Limiter object was created by these requests");
    const u = await usage(g, key);
    assert.deepEqual(u.limits, {});
    for (const f of ["requests_today", "requests_this_month", "tokens_today", "tokens_reserved", "tokens_this_month", "usd_this_month", "usd_reserved"]) {
      assert.equal(u[f], 0, f);
    }
    assert.equal(u.remaining_requests, undefined);
    // (GET /v1/usage itself asks the key's object for its view, which creates it: the check above is not vacuous.)
    assert.equal(objectFiles(dir).length, 1);
  } finally {
    await g?.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

// ------------------------------------------------------------------ 7b. the same restart with real `wrangler dev`

/** A free TCP port on 127.0.0.1. */
function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** scripts/dev.sh in its own process group; resolves once the gateway answers /v1/health. */
async function startDev(gatewayPort, standinPort) {
  const child = spawn("bash", ["scripts/dev.sh"], {
    cwd: ROOT,
    detached: true, // its own process group: stopped by that group's id
    env: { ...process.env, GATEWAY_PORT: String(gatewayPort), STANDIN_PORT: String(standinPort), WRANGLER_SEND_METRICS: "false", NO_UPDATE_NOTIFIER: "1" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout.on("data", (d) => (output += d));
  child.stderr.on("data", (d) => (output += d));
  const exited = new Promise((r) => child.once("exit", r));
  const url = `http://127.0.0.1:${gatewayPort}`;
  const up = await waitFor(async () => {
    if (child.exitCode !== null) return "exited";
    try {
      const res = await fetch(url + "/v1/health", { signal: AbortSignal.timeout(1000) });
      return res.status === 200 ? "up" : null;
    } catch {
      return null;
    }
  }, 50_000, 250);
  const stop = async () => {
    if (child.exitCode === null) {
      try {
        process.kill(-child.pid, "SIGTERM");
      } catch {}
      const done = await Promise.race([exited.then(() => true), sleep(8000).then(() => false)]);
      if (!done) {
        try {
          process.kill(-child.pid, "SIGKILL");
        } catch {}
        await exited;
      }
    }
    // Whatever the group left behind (workerd) goes with it.
    await sleep(300);
    try {
      process.kill(-child.pid, "SIGKILL");
    } catch {}
  };
  if (up !== "up") {
    await stop();
    throw new Error(`scripts/dev.sh did not come up (${up}): ${output.slice(-2000)}`);
  }
  return { url, stop, output: () => output };
}

test(
  "counts survive a restart of real `wrangler dev` (scripts/dev.sh, its .wrangler/state): the same /v1/usage after the restart, and admission continues (rpm bucket, tokens_per_day)",
  { skip: process.env.EDGEPORT_E2E_NO_WRANGLER ? "EDGEPORT_E2E_NO_WRANGLER is set" : false, timeout: 150_000 },
  async (t) => {
    const t0 = Date.now();
    const gatewayPort = await freePort();
    const standinPort = await freePort();
    // Fresh keys (their Limiter objects are new in the persisted state), granted the demo provider
    // dev.sh seeds, written into the same local KV (.wrangler/state) before dev.sh starts.
    // rpm 1: one request a minute, so a restart that takes under a minute cannot hide a bucket that
    // started full again. tokens_per_day 1: the first request's usage crosses it.
    const rate = newKey("wranglerrpm");
    const budget = newKey("wranglertpd");
    for (const [key, limits] of [[rate, { rpm: 1 }], [budget, { tokens_per_day: 1 }]]) {
      const { kvKey, record } = gatewayKeyRecord(key, { name: "limits-wrangler", providers: ["demo"] });
      record.limits = limits;
      execFileSync(path.join(ROOT, "node_modules", ".bin", "wrangler"), ["kv", "key", "put", kvKey, JSON.stringify(record), "--binding", "CATALOG", "--local"], {
        cwd: ROOT,
        stdio: ["ignore", "ignore", "pipe"],
        env: { ...process.env, WRANGLER_SEND_METRICS: "false" },
      });
    }
    const chat = (url, key) =>
      fetch(url + "/v1/chat/completions", {
        method: "POST",
        headers: { "content-type": "application/json", "x-portkey-api-key": key, "x-portkey-provider": "@demo" },
        body: JSON.stringify({ model: "us.amazon.nova-micro-v1:0", messages: USER, max_tokens: 32 }),
      }).then(async (r) => ({ status: r.status, headers: r.headers, text: await r.text() }));
    const devUsage = async (url, key) => (await fetch(url + "/v1/usage", { headers: { "x-portkey-api-key": key } })).json();
    const landed = (url, key) =>
      waitFor(async () => {
        const v = await devUsage(url, key);
        return v.tokens_reserved === 0 && v.tokens_today > 0 ? v : null;
      }, 5000, 50);
    const FIELDS = ["requests_today", "requests_this_month", "tokens_today", "tokens_this_month", "tokens_reserved", "usd_this_month", "usd_reserved"];

    let dev = await startDev(gatewayPort, standinPort);
    const before = {};
    let admittedAt;
    try {
      admittedAt = Date.now();
      const r = await chat(dev.url, rate);
      assert.equal(r.status, 200, r.text);
      assert.equal(r.headers.get("x-ratelimit-remaining-requests"), "0");
      const b = await chat(dev.url, budget);
      assert.equal(b.status, 200, b.text);
      before.rate = await landed(dev.url, rate);
      before.budget = await landed(dev.url, budget);
      assert.ok(before.rate && before.budget, "the records landed");
      assert.equal((await chat(dev.url, budget)).status, 412, "the budget is crossed before the restart");
    } finally {
      await dev.stop();
    }
    const firstRun = Date.now() - t0;

    dev = await startDev(gatewayPort, standinPort);
    try {
      const restartedIn = Date.now() - admittedAt;
      assert.ok(restartedIn < 55_000, `the restart took ${restartedIn} ms: too long for rpm 1 to tell`);
      for (const key of ["rate", "budget"]) {
        const after = await devUsage(dev.url, key === "rate" ? rate : budget);
        for (const f of FIELDS) assert.equal(after[f], before[key][f], `${key}: ${f}`);
      }
      // The rpm bucket continued: still empty, and the refusal's wait counts from the admission before the restart.
      const r = await chat(dev.url, rate);
      assert.equal(r.status, 429, r.text);
      const wait = Number(r.headers.get("retry-after-ms"));
      const since = Date.now() - admittedAt;
      assert.ok(wait > 0 && wait <= 60_000 - since + 2000, `retry-after-ms ${wait}, ${since} ms after the admission`);
      // The budget continued: still used up.
      const b = await chat(dev.url, budget);
      assert.equal(b.status, 412, b.text);
      assert.equal(JSON.parse(b.text).error.code, "budget_exhausted");
      t.diagnostic(`wrangler dev: first run ${firstRun} ms, restart ${restartedIn} ms after the admission, 429 retry-after-ms ${wait}`);
    } finally {
      await dev.stop();
    }
    t.diagnostic(`whole test ${Date.now() - t0} ms`);
  },
);

// ------------------------------------------------------------------ every line, no secrets

test("no secret in any log line or body seen; no isolate failure", async () => {
  await sleep(50);
  assert.deepEqual(secretLeaks(gw, [gw.gatewayKey, gw.catalogKey]), []);
  assert.deepEqual(isolateFailures(gw), []);
});
