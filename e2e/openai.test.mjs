// Issue 10 step 2 end to end: OpenAI as an upstream, and the OpenAI → Bedrock fallback users set up.
// The real SDKs (openai, portkey-ai, @anthropic-ai/sdk) → the real Worker in workerd → the stand-in, which
// plays both OpenAI (/v1/chat/completions, Bearer key checked, unknown fields refused) and Bedrock (SigV4
// checked). Catalog slugs: @openai-prod (the stand-in's OpenAI base URL and valid key) and @bedrock-prod
// (the stand-in's Bedrock record); the fallback config is the one Portkey's Bedrock guide ends with.
//
// Contract assumptions (see the report of this branch):
// - answer header x-portkey-provider: `openai` (header mode, inline api_key), `@slug` for catalog targets,
//   `bedrock` for an inline Bedrock target;
// - OpenAI errors keep their status, OpenAI-shaped, the message names OpenAI and carries OpenAI's message;
// - our timeouts: 408 request_timeout (x-portkey-request-timeout, config request_timeout), else 504
//   upstream_timeout; a dropped connection before the answer → 502;
// - a stream failing before its first content chunk is an HTTP error (≥ 400), after content an in-stream
//   `data: {"error": ...}` then `data: [DONE]`;
// - /v1/messages with an OpenAI target → 400 (Anthropic-shaped, invalid_request_error), nothing sent;
// - header mode + a config: a target without a provider is the request's own (header-mode OpenAI).
import { test, before, after, beforeEach } from "node:test";
import assert from "node:assert/strict";
import OpenAI from "openai";
import Anthropic from "@anthropic-ai/sdk";
import { Portkey } from "portkey-ai";
import {
  startGateway, openaiClient, rawChat, sseData, secretLeaks, isolateFailures, openaiRecord, openaiModeHeaders, standinRecord,
  TEST_CREDENTIALS, OPENAI_TEST_KEYS,
} from "./harness.mjs";
import { OPENAI_TEXT_PREFIX, BEDROCK_ONLY_FIELDS, SSE_DONE } from "../standin/openai.mjs";
import { OPENAI_TEST_ORGANIZATION, OPENAI_TEST_PROJECT } from "../standin/credentials.mjs";

const GPT = "gpt-4o-mini";
const HAIKU = "anthropic.claude-3-haiku-20240307-v1:0";
const QUESTION = "What is the capital of France?";
const USER = [{ role: "user", content: QUESTION }];
/** The stand-in's OpenAI answer to USER. */
const OPENAI_TEXT = OPENAI_TEXT_PREFIX + QUESTION;
/** The stand-in's default Converse answer (Bedrock). */
const BEDROCK_TEXT = "Hello! How can I assist you today? Whether you have questions, need information, or just want to chat, I'm here to help.";
/** The stand-in's default ConverseStream answer starts so. */
const BEDROCK_STREAM_TEXT = /^The capital of France is Paris/;
/** The stand-in's default InvokeModel (Anthropic Messages) answer. */
const CLAUDE_HELLO = "Hello! I'm Claude, an AI assistant made by Anthropic. How can I help you today?";
const WRONG_OPENAI_KEY = "sk-e2e-wrong-openai-key-NOT-VALID-0000000000";
/** The Worker's UPSTREAM_TIMEOUT_MS here (504 upstream_timeout without x-portkey-request-timeout). */
const UPSTREAM_TIMEOUT_MS = 2500;
/** request_timeout (ms) given to an OpenAI target that times out. */
const TIMEOUT = 800;

let gw;
before(async () => {
  gw = await startGateway({
    vars: { UPSTREAM_TIMEOUT_MS: String(UPSTREAM_TIMEOUT_MS), STREAM_IDLE_TIMEOUT_MS: "2000" },
    slugs: { "bedrock-prod": true },
  });
  await gw.seedProvider("openai-prod", openaiRecord(gw.standin));
  // The same key with the stand-in's organization and project, and provider defaults.
  await gw.seedProvider("openai-tuned", openaiRecord(gw.standin, {
    organization: OPENAI_TEST_ORGANIZATION,
    project: OPENAI_TEST_PROJECT,
    defaultParams: { temperature: 0.3, max_completion_tokens: 200 },
  }));
});
after(async () => {
  await gw?.close();
});
beforeEach(() => gw.standin.reset());

// ------------------------------------------------------------------ helpers

const json = (v) => (typeof v === "string" ? v : JSON.stringify(v));
/** The openai SDK with the gateway key (Authorization: Bearer) and a config. */
const client = (config, headers = {}) => openaiClient(gw, { "x-portkey-config": json(config), ...headers });
/** The openai SDK in header mode: the OpenAI key as apiKey, the gateway key in x-portkey-api-key. */
const openaiMode = (extra = {}, apiKey = OPENAI_TEST_KEYS.valid) =>
  new OpenAI({ apiKey, baseURL: gw.url + "/v1", defaultHeaders: openaiModeHeaders(gw, extra), maxRetries: 0, timeout: 20_000 });
const openaiOnly = (fault) => gw.standin.script({ match: { provider: "openai" }, ...fault });

const slugFallback = (first = {}) => ({
  strategy: { mode: "fallback" },
  targets: [{ provider: "@openai-prod", ...first }, { provider: "@bedrock-prod", override_params: { model: HAIKU } }],
});
const inlineOpenAI = (extra = {}) => ({ provider: "openai", api_key: OPENAI_TEST_KEYS.valid, custom_host: gw.standin.openaiBaseURL, ...extra });
const inlineBedrock = (extra = {}) => ({
  provider: "bedrock",
  aws_access_key_id: TEST_CREDENTIALS.longTerm.accessKeyId,
  aws_secret_access_key: TEST_CREDENTIALS.longTerm.secretAccessKey,
  aws_region: "us-east-1",
  custom_host: gw.standin.url,
  override_params: { model: HAIKU },
  ...extra,
});
const inlineFallback = (first = {}, second = {}) => ({ strategy: { mode: "fallback" }, targets: [inlineOpenAI(first), inlineBedrock(second)] });

/**
 * The stand-in's requests, checked: every OpenAI call authenticated with `key` and valid (no Bedrock-only
 * field passed through), every Bedrock call signed for HAIKU. Returns the operations in order.
 */
function calls({ key = "valid" } = {}) {
  const reqs = gw.standin.requests();
  for (const r of reqs) {
    if (r.operation === "openai-chat") {
      assert.equal(r.openai?.validationError, undefined, `OpenAI refused the body: ${r.openai?.validationError}`);
      assert.equal(r.signature.key, key, `OpenAI saw key ${r.signature.key}, want ${key}`);
      assert.deepEqual(Object.keys(r.body ?? {}).filter((k) => BEDROCK_ONLY_FIELDS.includes(k)), [], "Bedrock-only fields sent to OpenAI");
    } else if (["converse", "converse-stream", "invoke", "invoke-with-response-stream"].includes(r.operation)) {
      assert.equal(r.signature.ok, true, `${r.operation}: ${r.signature.error}`);
      assert.equal(r.model, HAIKU);
    }
  }
  return reqs.map((r) => r.operation);
}
const openaiRequests = () => gw.standin.requests().filter((r) => r.operation === "openai-chat");

async function collect(stream) {
  const chunks = [];
  for await (const c of stream) chunks.push(c);
  gw.record(chunks);
  return chunks;
}
const text = (chunks) => chunks.map((c) => c.choices?.[0]?.delta?.content ?? "").join("");

function assertBedrockJson(data) {
  gw.record(data);
  assert.equal(data.object, "chat.completion");
  assert.equal(data.choices[0].message.content, BEDROCK_TEXT);
  assert.equal(data.model, HAIKU, "the answer names the model that answered");
}

function assertOpenAIJson(data) {
  gw.record(data);
  assert.equal(data.object, "chat.completion");
  assert.equal(data.choices[0].message.content, OPENAI_TEXT);
  assert.equal(data.model, GPT);
}

/** A Bedrock stream, and nothing of the OpenAI attempt before it (its chunks carry `obfuscation`). */
function assertBedrockStream(chunks) {
  assert.match(text(chunks), BEDROCK_STREAM_TEXT);
  assert.equal(new Set(chunks.map((c) => c.id)).size, 1, "one id across the stream");
  assert.ok(chunks.every((c) => c.obfuscation === undefined), "an OpenAI chunk of the failed attempt reached the client");
  assert.ok(chunks.every((c) => c.model === HAIKU), `models ${[...new Set(chunks.map((c) => c.model))]}`);
}

function assertOpenAIStream(chunks, expected = OPENAI_TEXT) {
  assert.equal(text(chunks), expected);
  assert.deepEqual(chunks.map((c) => c.choices[0]?.finish_reason).filter(Boolean), ["stop"]);
  assert.ok(chunks.every((c) => c.object === "chat.completion.chunk" && c.model === GPT));
}

/** An OpenAI-shaped error body ({error: {message, type, param, code}}); returns the error. */
function assertOpenAIError(res, status, what = "") {
  assert.equal(res.status, status, `${what}: ${res.text.slice(0, 300)}`);
  assert.ok(res.json?.error && typeof res.json.error.message === "string", `${what}: not OpenAI-shaped: ${res.text.slice(0, 300)}`);
  assert.equal(typeof res.json.error.type, "string", what);
  return res.json.error;
}

const lastUsed = (response) => response.headers.get("x-portkey-last-used-option-index");

// ------------------------------------------------------------------ the fallback users write: @openai-prod → @bedrock-prod

test("fallback config, no fault: the OpenAI target answers (JSON and stream), config.targets[0], Bedrock never called", async () => {
  const { data, response } = await client(slugFallback()).chat.completions.create({ model: GPT, messages: USER }).withResponse();
  assertOpenAIJson(data);
  assert.equal(lastUsed(response), "config.targets[0]");
  assert.equal(response.headers.get("x-portkey-provider"), "@openai-prod");
  assert.deepEqual(calls(), ["openai-chat"]);
  assert.deepEqual(openaiRequests()[0].body, { model: GPT, messages: USER }, "the body as the caller sent it");

  gw.standin.reset();
  const { data: stream, response: r2 } = await client(slugFallback()).chat.completions.create({ model: GPT, messages: USER, stream: true }).withResponse();
  assertOpenAIStream(await collect(stream));
  assert.equal(lastUsed(r2), "config.targets[0]");
  assert.equal(r2.headers.get("x-portkey-provider"), "@openai-prod");
  assert.deepEqual(calls(), ["openai-chat"]);
});

const JSON_FAULTS = [
  ["429", { status: 429 }],
  ["500", { status: 500 }],
  ["503", { status: 503 }],
  ["no answer within request_timeout", { stallBeforeHeaders: true }, { request_timeout: TIMEOUT }],
  ["a dropped connection", { dropBeforeHeaders: true }],
];

for (const [name, fault, first] of JSON_FAULTS) {
  test(`fallback (JSON): OpenAI ${name} → @bedrock-prod answers with override_params.model, config.targets[1]`, async () => {
    openaiOnly(fault);
    const t0 = Date.now();
    const { data, response } = await client(slugFallback(first)).chat.completions.create({ model: GPT, messages: USER }).withResponse();
    assertBedrockJson(data);
    assert.equal(lastUsed(response), "config.targets[1]");
    assert.equal(response.headers.get("x-portkey-provider"), "@bedrock-prod");
    assert.deepEqual(calls(), ["openai-chat", "converse"], "the stand-in saw the OpenAI call, then the Bedrock one");
    if (first?.request_timeout) assert.ok(Date.now() - t0 < TIMEOUT + 2500, `took ${Date.now() - t0} ms`);
  });
}

const STREAM_FAULTS = [
  ["429", { status: 429 }],
  ["500", { status: 500 }],
  ["no answer within request_timeout", { stallBeforeHeaders: true }, { request_timeout: TIMEOUT }],
  ["a stream dropped before content", { stream: { dropBeforeContent: true } }],
  ["an error event before content", { stream: { errorAfterChunks: { after: 1, status: 500 } } }],
  ["a stream stalled before content", { stream: { stallAfterChunks: { after: 1 } } }, { request_timeout: TIMEOUT }],
];

for (const [name, fault, first] of STREAM_FAULTS) {
  test(`fallback (stream): OpenAI ${name} → @bedrock-prod streams, config.targets[1]`, async () => {
    openaiOnly({ ...fault, match: { provider: "openai", stream: true } });
    const { data: stream, response } = await client(slugFallback(first))
      .chat.completions.create({ model: GPT, messages: USER, stream: true })
      .withResponse();
    assert.equal(response.status, 200);
    assertBedrockStream(await collect(stream));
    assert.equal(lastUsed(response), "config.targets[1]");
    assert.equal(response.headers.get("x-portkey-provider"), "@bedrock-prod");
    assert.deepEqual(calls(), ["openai-chat", "converse-stream"]);
  });
}

test("retry on the OpenAI target: a 429 then success → x-portkey-retry-attempt-count: 1, Bedrock never called", async () => {
  openaiOnly({ status: 429 });
  const { data, response } = await client(slugFallback({ retry: { attempts: 2 } })).chat.completions.create({ model: GPT, messages: USER }).withResponse();
  assertOpenAIJson(data);
  assert.equal(response.headers.get("x-portkey-retry-attempt-count"), "1");
  assert.equal(lastUsed(response), "config.targets[0]");
  assert.deepEqual(calls(), ["openai-chat", "openai-chat"]);
});

test("both targets fail → the last (Bedrock) error as is, config.targets[1]", async () => {
  openaiOnly({ status: 500 });
  gw.standin.script({ match: { provider: "bedrock" }, status: 429, errorType: "ThrottlingException", message: "Too many requests, please wait." });
  const err = await client(slugFallback()).chat.completions.create({ model: GPT, messages: USER }).catch((e) => e);
  assert.ok(err instanceof OpenAI.RateLimitError, `got ${err?.constructor?.name}: ${err?.message}`);
  assert.equal(err.headers.get("x-portkey-last-used-option-index"), "config.targets[1]");
  assert.deepEqual(calls(), ["openai-chat", "converse"]);
});

// ------------------------------------------------------------------ inline credentials in the config

test("inline credentials (provider openai + api_key, provider bedrock + aws_*): no fault → OpenAI answers", async () => {
  const { data, response } = await client(inlineFallback()).chat.completions.create({ model: GPT, messages: USER }).withResponse();
  assertOpenAIJson(data);
  assert.equal(lastUsed(response), "config.targets[0]");
  assert.equal(response.headers.get("x-portkey-provider"), "openai");
  assert.deepEqual(calls(), ["openai-chat"]);
});

test("inline credentials: OpenAI 429 → the inline Bedrock target answers (JSON)", async () => {
  openaiOnly({ status: 429 });
  const { data, response } = await client(inlineFallback()).chat.completions.create({ model: GPT, messages: USER }).withResponse();
  assertBedrockJson(data);
  assert.equal(lastUsed(response), "config.targets[1]");
  assert.equal(response.headers.get("x-portkey-provider"), "bedrock");
  assert.deepEqual(calls(), ["openai-chat", "converse"]);
  assert.equal(gw.standin.requests()[1].signature.accessKeyId, TEST_CREDENTIALS.longTerm.accessKeyId);
});

test("inline credentials: OpenAI times out (request_timeout) / drops the stream before content → Bedrock streams", async () => {
  openaiOnly({ match: { provider: "openai", stream: true }, stallBeforeHeaders: true });
  const s1 = await client(inlineFallback({ request_timeout: TIMEOUT })).chat.completions.create({ model: GPT, messages: USER, stream: true }).withResponse();
  assertBedrockStream(await collect(s1.data));
  assert.equal(lastUsed(s1.response), "config.targets[1]");
  assert.deepEqual(calls(), ["openai-chat", "converse-stream"]);

  gw.standin.reset();
  openaiOnly({ match: { provider: "openai", stream: true }, stream: { dropBeforeContent: true } });
  const s2 = await client(inlineFallback()).chat.completions.create({ model: GPT, messages: USER, stream: true }).withResponse();
  assertBedrockStream(await collect(s2.data));
  assert.equal(lastUsed(s2.response), "config.targets[1]");
  assert.equal(s2.response.headers.get("x-portkey-provider"), "bedrock");
  assert.deepEqual(calls(), ["openai-chat", "converse-stream"]);
});

test("inline Bedrock temporary credentials (aws_session_token) as the fallback", async () => {
  openaiOnly({ status: 500 });
  const temp = {
    aws_access_key_id: TEST_CREDENTIALS.temporary.accessKeyId,
    aws_secret_access_key: TEST_CREDENTIALS.temporary.secretAccessKey,
    aws_session_token: TEST_CREDENTIALS.temporary.sessionToken,
  };
  const { data, response } = await client(inlineFallback({}, temp)).chat.completions.create({ model: GPT, messages: USER }).withResponse();
  assertBedrockJson(data);
  assert.equal(lastUsed(response), "config.targets[1]");
  assert.equal(gw.standin.requests()[1].signature.accessKeyId, TEST_CREDENTIALS.temporary.accessKeyId);
});

test("inline credentials follow the gateway-key rule: without a key → 401 missing_gateway_key, nothing sent", async () => {
  for (const config of [inlineFallback(), { provider: "openai", api_key: OPENAI_TEST_KEYS.valid, custom_host: gw.standin.openaiBaseURL }]) {
    const res = await rawChat(gw, { model: GPT, messages: USER }, { "x-portkey-api-key": null, "x-portkey-config": json(config) });
    assert.equal(res.status, 401, res.text);
    assert.equal(res.json.error.code, "missing_gateway_key");
  }
  assert.deepEqual(gw.standin.requests(), []);
});

// ------------------------------------------------------------------ header-mode OpenAI

test("header mode: x-portkey-provider: openai + Bearer <OpenAI key>, gateway key in x-portkey-api-key (or x-api-key)", async () => {
  const { data, response } = await openaiMode().chat.completions.create({ model: GPT, messages: USER }).withResponse();
  assertOpenAIJson(data);
  assert.equal(response.headers.get("x-portkey-provider"), "openai");
  assert.deepEqual(calls(), ["openai-chat"]);
  const [r] = openaiRequests();
  assert.equal(r.path, "/v1/chat/completions", "the custom host is the base URL including /v1");
  assert.deepEqual(Object.keys(r.headers).filter((h) => h.startsWith("x-portkey-")), [], "x-portkey-* headers are not sent to OpenAI");
  assert.ok(!JSON.stringify(r.headers).includes(gw.gatewayKey), "the gateway key is not sent to OpenAI");

  gw.standin.reset();
  const viaXApiKey = await openaiMode({ "x-portkey-api-key": null, "x-api-key": gw.gatewayKey }).chat.completions.create({ model: GPT, messages: USER });
  assertOpenAIJson(viaXApiKey);
  assert.deepEqual(calls(), ["openai-chat"]);
  assert.ok(!JSON.stringify(openaiRequests()[0].headers).includes(gw.gatewayKey));
});

test("header mode: Authorization is never the gateway key (no x-portkey-api-key → 401 missing_gateway_key, nothing sent)", async () => {
  for (const authorization of [`Bearer ${OPENAI_TEST_KEYS.valid}`, `Bearer ${gw.gatewayKey}`]) {
    const res = await rawChat(gw, { model: GPT, messages: USER }, openaiModeHeaders(gw, { "x-portkey-api-key": null, authorization }));
    assert.equal(res.status, 401, res.text);
    assert.equal(res.json.error.code, "missing_gateway_key", authorization.slice(0, 12));
  }
  assert.deepEqual(gw.standin.requests(), []);
});

test("header mode: a wrong OpenAI key → OpenAI's 401 passed through (AuthenticationError), naming OpenAI", async () => {
  const err = await openaiMode({}, WRONG_OPENAI_KEY).chat.completions.create({ model: GPT, messages: USER }).catch((e) => e);
  assert.ok(err instanceof OpenAI.AuthenticationError, `got ${err?.constructor?.name}: ${err?.message}`);
  assert.equal(err.status, 401);
  assert.notEqual(err.code, "invalid_gateway_key");
  assert.notEqual(err.code, "missing_gateway_key");
  assert.match(err.message, /openai/i);
  assert.match(err.message, /Incorrect API key provided/);
  assert.deepEqual(calls({ key: null }), ["openai-chat"], "OpenAI refused the key (not the gateway)");
});

test("header mode as the first target: a config falling back to an inline Bedrock target (JSON and stream)", async () => {
  const config = { strategy: { mode: "fallback" }, targets: [{}, inlineBedrock()] };
  const c = openaiMode({ "x-portkey-config": json(config) });
  const ok = await c.chat.completions.create({ model: GPT, messages: USER }).withResponse();
  assertOpenAIJson(ok.data);
  assert.equal(lastUsed(ok.response), "config.targets[0]");
  assert.equal(ok.response.headers.get("x-portkey-provider"), "openai");
  assert.deepEqual(calls(), ["openai-chat"]);

  gw.standin.reset();
  openaiOnly({ status: 500 });
  const fb = await c.chat.completions.create({ model: GPT, messages: USER }).withResponse();
  assertBedrockJson(fb.data);
  assert.equal(lastUsed(fb.response), "config.targets[1]");
  assert.equal(fb.response.headers.get("x-portkey-provider"), "bedrock");
  assert.deepEqual(calls(), ["openai-chat", "converse"]);

  gw.standin.reset();
  openaiOnly({ match: { provider: "openai", stream: true }, status: 429 });
  const s = await c.chat.completions.create({ model: GPT, messages: USER, stream: true }).withResponse();
  assertBedrockStream(await collect(s.data));
  assert.equal(lastUsed(s.response), "config.targets[1]");
  assert.deepEqual(calls(), ["openai-chat", "converse-stream"]);
});

test("custom hosts follow the trust rules: a record's OpenAI key never goes to a host the caller names; untrusted internal hosts refused", async () => {
  const USER_BODY = { model: GPT, messages: USER };
  const evil = "https://openai-proxy.example.com/v1";
  const untrustedLoopback = `http://127.0.0.1:${Number(gw.standin.port) + 1}/v1`;
  const cases = [
    ["@slug + x-portkey-custom-host", { "x-portkey-provider": "@openai-prod", "x-portkey-custom-host": evil }],
    ["@slug target + custom_host", { "x-portkey-config": json({ provider: "@openai-prod", custom_host: evil }) }],
    ["header mode, loopback not listed", openaiModeHeaders(gw, { "x-portkey-custom-host": untrustedLoopback, authorization: `Bearer ${OPENAI_TEST_KEYS.valid}` })],
    ["inline api_key, loopback not listed", { "x-portkey-config": json(inlineOpenAI({ custom_host: untrustedLoopback })) }],
  ];
  for (const [what, headers] of cases) {
    const res = await rawChat(gw, USER_BODY, headers);
    assert.equal(res.status, 403, `${what}: ${res.text}`);
    assert.equal(res.json.error.code, "custom_host_not_trusted", what);
  }
  assert.deepEqual(gw.standin.requests(), []);
  // The stand-in's own origin is trusted (any path under it): header mode reaches it.
  const ok = await rawChat(gw, USER_BODY, openaiModeHeaders(gw, { authorization: `Bearer ${OPENAI_TEST_KEYS.valid}` }));
  assert.equal(ok.status, 200, ok.text);
});

test("ALLOW_HEADER_CREDENTIALS_WITHOUT_KEY=true: header-mode and inline OpenAI credentials work without a gateway key; @slugs still need one", async () => {
  const open = await startGateway({ vars: { ALLOW_HEADER_CREDENTIALS_WITHOUT_KEY: "true" } });
  try {
    await open.seedProvider("openai-prod", openaiRecord(open.standin));
    const headerMode = await rawChat(open, { model: GPT, messages: USER }, {
      "x-portkey-api-key": null,
      "x-portkey-provider": "openai",
      "x-portkey-custom-host": open.standin.openaiBaseURL,
      authorization: `Bearer ${OPENAI_TEST_KEYS.valid}`,
    });
    assert.equal(headerMode.status, 200, headerMode.text);
    assert.equal(headerMode.json.choices[0].message.content, OPENAI_TEXT);
    const inline = await rawChat(open, { model: GPT, messages: USER }, {
      "x-portkey-api-key": null,
      "x-portkey-config": json({ provider: "openai", api_key: OPENAI_TEST_KEYS.valid, custom_host: open.standin.openaiBaseURL }),
    });
    assert.equal(inline.status, 200, inline.text);
    assert.equal(open.standin.requests().filter((r) => r.operation === "openai-chat" && r.signature.key === "valid").length, 2);
    const slug = await rawChat(open, { model: GPT, messages: USER }, { "x-portkey-api-key": null, "x-portkey-provider": "@openai-prod" });
    assert.equal(slug.status, 401, slug.text);
    assert.deepEqual(secretLeaks(open, [WRONG_OPENAI_KEY]), []);
  } finally {
    await open.close();
  }
});

// ------------------------------------------------------------------ load balancing across OpenAI and Bedrock

test("loadbalance across @openai-prod and @bedrock-prod: over 20 requests both are used, each answer from the target named", async () => {
  const config = {
    strategy: { mode: "loadbalance" },
    targets: [{ provider: "@openai-prod", weight: 1 }, { provider: "@bedrock-prod", weight: 1, override_params: { model: HAIKU } }],
  };
  const used = { "config.targets[0]": 0, "config.targets[1]": 0 };
  for (let i = 0; i < 20; i++) {
    const { data, response } = await client(config).chat.completions.create({ model: GPT, messages: USER }).withResponse();
    const idx = lastUsed(response);
    used[idx]++;
    if (idx === "config.targets[0]") {
      assertOpenAIJson(data);
      assert.equal(response.headers.get("x-portkey-provider"), "@openai-prod");
    } else {
      assert.equal(idx, "config.targets[1]");
      assertBedrockJson(data);
      assert.equal(response.headers.get("x-portkey-provider"), "@bedrock-prod");
    }
  }
  assert.ok(used["config.targets[0]"] > 0 && used["config.targets[1]"] > 0, JSON.stringify(used));
  const ops = calls();
  assert.equal(ops.filter((o) => o === "openai-chat").length, used["config.targets[0]"]);
  assert.equal(ops.filter((o) => o === "converse").length, used["config.targets[1]"]);
});

test("loadbalance: weight 0 on one provider → only the other (both ways, JSON and stream)", async () => {
  for (const [weights, idx, op] of [[[0, 1], "config.targets[1]", "converse"], [[1, 0], "config.targets[0]", "openai-chat"]]) {
    gw.standin.reset();
    const config = {
      strategy: { mode: "loadbalance" },
      targets: [{ provider: "@openai-prod", weight: weights[0] }, { provider: "@bedrock-prod", weight: weights[1], override_params: { model: HAIKU } }],
    };
    for (let i = 0; i < 8; i++) {
      const { data, response } = await client(config).chat.completions.create({ model: GPT, messages: USER }).withResponse();
      gw.record(data);
      assert.equal(lastUsed(response), idx);
    }
    const s = await client(config).chat.completions.create({ model: GPT, messages: USER, stream: true }).withResponse();
    const chunks = await collect(s.data);
    if (op === "converse") assertBedrockStream(chunks);
    else assertOpenAIStream(chunks);
    assert.deepEqual(calls(), [...Array(8).fill(op), op === "converse" ? "converse-stream" : "openai-chat"]);
  }
});

// ------------------------------------------------------------------ direct OpenAI through the gateway

test("@openai-prod, JSON: OpenAI's answer passed through; the record's key, not the gateway key, reaches OpenAI", async () => {
  openaiOnly({ id: "chatcmpl-e2e-fixed-id", responseModel: "gpt-4o-mini-2024-07-18", systemFingerprint: "fp_e2e_0001" });
  const { data, response } = await openaiClient(gw, { "x-portkey-provider": "@openai-prod" })
    .chat.completions.create({ model: GPT, messages: USER })
    .withResponse();
  gw.record(data);
  assert.equal(response.headers.get("x-portkey-provider"), "@openai-prod");
  assert.equal(data.id, "chatcmpl-e2e-fixed-id");
  assert.equal(data.model, "gpt-4o-mini-2024-07-18");
  assert.equal(data.system_fingerprint, "fp_e2e_0001");
  assert.equal(data.service_tier, "default");
  assert.equal(data.choices[0].message.content, OPENAI_TEXT);
  assert.equal(data.choices[0].finish_reason, "stop");
  assert.equal(data.usage.total_tokens, data.usage.prompt_tokens + data.usage.completion_tokens);
  assert.deepEqual(data.usage.completion_tokens_details, { reasoning_tokens: 0, audio_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 });
  assert.deepEqual(calls(), ["openai-chat"]);
  const [r] = openaiRequests();
  assert.equal(r.headers.authorization, "Bearer sk-sta***", "the record's key, as a Bearer");
  assert.ok(!JSON.stringify(r.headers).includes(gw.gatewayKey), "the gateway key is not sent to OpenAI");
  assert.deepEqual(Object.keys(r.headers).filter((h) => h.startsWith("x-portkey-")), []);
  assert.equal(r.openai.organization, null, "no organization on this record");
});

test("@slug in the model (\"@openai-prod/gpt-4o-mini\"): OpenAI gets the bare model", async () => {
  const { data, response } = await openaiClient(gw).chat.completions.create({ model: `@openai-prod/${GPT}`, messages: USER }).withResponse();
  assertOpenAIJson(data);
  assert.equal(response.headers.get("x-portkey-provider"), "@openai-prod");
  assert.equal(openaiRequests()[0].body.model, GPT);
});

test("the body reaches OpenAI as sent: every OpenAI field kept, nothing Bedrock-only added", async () => {
  const tools = [{ type: "function", function: { name: "get_weather", description: "Weather", parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] } } }];
  const body = {
    model: GPT,
    messages: [{ role: "developer", content: "Be brief." }, { role: "user", content: [{ type: "text", text: QUESTION }] }],
    temperature: 0.2,
    top_p: 0.9,
    max_completion_tokens: 300,
    stop: ["\n\n"],
    seed: 7,
    n: 1,
    presence_penalty: 0.1,
    frequency_penalty: 0.2,
    logit_bias: { "50256": -100 },
    user: "e2e-user",
    response_format: { type: "text" },
    tools,
    tool_choice: "auto",
    parallel_tool_calls: false,
    metadata: { team: "e2e" },
    store: false,
    service_tier: "default",
    reasoning_effort: "low",
    logprobs: false,
  };
  const { data } = await openaiClient(gw, { "x-portkey-provider": "@openai-prod" }).chat.completions.create(body).withResponse();
  gw.record(data);
  assert.equal(data.choices[0].message.content, OPENAI_TEXT);
  assert.deepEqual(calls(), ["openai-chat"]);
  assert.deepEqual(openaiRequests()[0].body, body);

  // Fields OpenAI's chat API does not know (Bedrock-only ones like top_k, additionalModelRequestFields)
  // are left out, so one body can go to both providers of a fallback list: the stand-in (which, like
  // OpenAI, refuses unknown fields) gets the body without them.
  gw.standin.reset();
  const res = await rawChat(gw, { model: GPT, messages: USER, top_k: 5, additionalModelRequestFields: { x: 1 } },
    { "x-portkey-provider": "@openai-prod" });
  assert.equal(res.status, 200, res.text);
  assert.deepEqual(openaiRequests()[0].body, { model: GPT, messages: USER });
});

test("a record's organization, project and default_params: OpenAI-Organization / OpenAI-Project sent, defaults fill omitted fields", async () => {
  const out = await openaiClient(gw, { "x-portkey-provider": "@openai-tuned" }).chat.completions.create({ model: GPT, messages: USER });
  gw.record(out);
  assert.equal(out.choices[0].message.content, OPENAI_TEXT);
  const [r] = openaiRequests();
  assert.equal(r.openai.organization, OPENAI_TEST_ORGANIZATION);
  assert.equal(r.openai.project, OPENAI_TEST_PROJECT);
  assert.equal(r.body.temperature, 0.3);
  assert.equal(r.body.max_completion_tokens, 200);

  gw.standin.reset();
  await openaiClient(gw, { "x-portkey-provider": "@openai-tuned" }).chat.completions.create({ model: GPT, messages: USER, temperature: 1 });
  assert.equal(openaiRequests()[0].body.temperature, 1, "the caller's value wins");
  assert.deepEqual(calls(), ["openai-chat"]);
});

test("config override_params on an OpenAI target replace the body's fields", async () => {
  const out = await client({ provider: "@openai-prod", override_params: { max_tokens: 3, temperature: 0 } }).chat.completions.create({ model: GPT, messages: USER });
  gw.record(out);
  const [r] = openaiRequests();
  assert.equal(r.body.max_tokens, 3);
  assert.equal(r.body.temperature, 0);
  assert.equal(out.choices[0].finish_reason, "length", "OpenAI saw max_tokens 3");
});

test("streaming: relayed chunk by chunk (each event reaches the client before the stand-in sends the next)", async () => {
  const PAUSE = 300;
  const WORDS = ["Alpha", "Bravo", "Charlie"];
  openaiOnly({ text: WORDS.join(" "), stream: { pauseMs: PAUSE } });
  const t0 = Date.now();
  const res = await fetch(gw.url + "/v1/chat/completions", {
    method: "POST",
    headers: { "content-type": "application/json", ...openaiModeHeaders(gw), authorization: `Bearer ${OPENAI_TEST_KEYS.valid}` },
    body: JSON.stringify({ model: GPT, messages: USER, stream: true }),
  });
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type"), /^text\/event-stream/);
  assert.equal(res.headers.get("x-portkey-provider"), "openai");
  const reader = res.body.getReader();
  const dec = new TextDecoder();
  let all = "";
  const arrived = {};
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    all += dec.decode(value, { stream: true });
    const now = Date.now();
    for (const w of [...WORDS, "[DONE]"]) if (arrived[w] === undefined && all.includes(w)) arrived[w] = now;
  }
  const total = Date.now() - t0;
  gw.record(all);
  const [r] = openaiRequests();
  // Events: 0 role, 1-3 the words, 4 finish, 5 [DONE].
  const sent = r.framesSentAt;
  assert.equal(sent.length, 6, `${sent.length} events sent`);
  WORDS.forEach((w, i) => {
    assert.ok(arrived[w] !== undefined, `${w} never arrived`);
    assert.ok(arrived[w] < sent[i + 2], `${w} arrived ${arrived[w] - sent[i + 1]} ms after its event, after the next one was sent (${sent[i + 2] - sent[i + 1]} ms later)`);
    assert.ok(arrived[w] - sent[i + 1] < PAUSE / 2, `${w} took ${arrived[w] - sent[i + 1]} ms through the gateway`);
  });
  assert.ok(total >= 5 * PAUSE - 20 && total < 5 * PAUSE + 1500, `total ${total} ms`);
  assert.ok(all.endsWith(SSE_DONE), JSON.stringify(all.slice(-60)));
  const data = sseData(all);
  assert.equal(data.filter((d) => d === "[DONE]").length, 1);
  const chunks = data.slice(0, -1).map((d) => JSON.parse(d));
  assert.equal(text(chunks), WORDS.join(" "));
});

test("stream_options.include_usage honoured: a usage chunk when asked, none otherwise", async () => {
  const c = openaiClient(gw, { "x-portkey-provider": "@openai-prod" });
  const withUsage = await collect(await c.chat.completions.create({ model: GPT, messages: USER, stream: true, stream_options: { include_usage: true } }));
  const last = withUsage.at(-1);
  assert.deepEqual(last.choices, []);
  assert.ok(last.usage && last.usage.total_tokens === last.usage.prompt_tokens + last.usage.completion_tokens, JSON.stringify(last));
  assert.ok(last.usage.completion_tokens > 0);
  assert.ok(withUsage.slice(0, -1).every((ch) => ch.usage == null));
  assert.equal(text(withUsage), OPENAI_TEXT);
  assert.equal(openaiRequests()[0].openai.includeUsage, true);

  gw.standin.reset();
  const without = await collect(await c.chat.completions.create({ model: GPT, messages: USER, stream: true }));
  assert.ok(without.every((ch) => ch.usage == null), "no usage chunk unless asked");
  assert.ok(without.every((ch) => ch.choices.length > 0), "no empty-choices chunk unless asked");
  assert.equal(text(without), OPENAI_TEXT);
});

for (const status of [400, 404, 429, 500, 503]) {
  test(`OpenAI ${status} → ${status}, OpenAI-shaped, the message naming OpenAI (JSON and stream)`, async () => {
    for (const stream of [false, true]) {
      gw.standin.reset();
      openaiOnly({ status, message: `Scripted OpenAI failure ${status}.` });
      const res = await rawChat(gw, { model: GPT, messages: USER, ...(stream ? { stream: true } : {}) }, { "x-portkey-provider": "@openai-prod" });
      const e = assertOpenAIError(res, status, `stream ${stream}`);
      assert.match(e.message, /openai/i, e.message);
      assert.match(e.message, new RegExp(`Scripted OpenAI failure ${status}`), e.message);
      assert.equal(res.headers.get("x-portkey-provider"), "@openai-prod");
      assert.deepEqual(calls(), ["openai-chat"]);
    }
  });
}

test("the SDK's error classes: 429 RateLimitError, 500 InternalServerError", async () => {
  const c = openaiClient(gw, { "x-portkey-provider": "@openai-prod" });
  openaiOnly({ status: 429 });
  const e1 = await c.chat.completions.create({ model: GPT, messages: USER }).catch((e) => e);
  assert.ok(e1 instanceof OpenAI.RateLimitError, `got ${e1?.constructor?.name}`);
  openaiOnly({ status: 500 });
  const e2 = await c.chat.completions.create({ model: GPT, messages: USER, stream: true }).catch((e) => e);
  assert.ok(e2 instanceof OpenAI.InternalServerError, `got ${e2?.constructor?.name}`);
});

test("our timeouts: x-portkey-request-timeout / config request_timeout → 408 request_timeout; none → 504 upstream_timeout", async () => {
  openaiOnly({ stallBeforeHeaders: true });
  let t0 = Date.now();
  const a = await rawChat(gw, { model: GPT, messages: USER }, { "x-portkey-provider": "@openai-prod", "x-portkey-request-timeout": "500" });
  assert.equal(assertOpenAIError(a, 408, "header timeout").code, "request_timeout");
  assert.ok(Date.now() - t0 < 500 + 2000, `took ${Date.now() - t0} ms`);

  gw.standin.reset();
  openaiOnly({ stallBeforeHeaders: true });
  const b = await rawChat(gw, { model: GPT, messages: USER }, { "x-portkey-config": json({ provider: "@openai-prod", request_timeout: 500 }) });
  assert.equal(assertOpenAIError(b, 408, "config timeout").code, "request_timeout");

  gw.standin.reset();
  for (const stream of [false, true]) {
    gw.standin.reset();
    openaiOnly({ stallBeforeHeaders: true });
    t0 = Date.now();
    const c = await rawChat(gw, { model: GPT, messages: USER, stream }, { "x-portkey-provider": "@openai-prod" });
    assert.equal(assertOpenAIError(c, 504, `UPSTREAM_TIMEOUT_MS, stream ${stream}`).code, "upstream_timeout");
    const ms = Date.now() - t0;
    assert.ok(ms >= UPSTREAM_TIMEOUT_MS - 100 && ms < UPSTREAM_TIMEOUT_MS + 2500, `took ${ms} ms`);
  }
});

test("a dropped connection → 502; a stream failing before its first content chunk is an HTTP error", async () => {
  const h = { "x-portkey-provider": "@openai-prod" };
  openaiOnly({ dropBeforeHeaders: true });
  assertOpenAIError(await rawChat(gw, { model: GPT, messages: USER }, h), 502, "dropped before headers");

  const STREAM = { model: GPT, messages: USER, stream: true };
  gw.standin.reset();
  openaiOnly({ stream: { dropBeforeContent: true } });
  assertOpenAIError(await rawChat(gw, STREAM, h), 502, "stream dropped before content");

  gw.standin.reset();
  openaiOnly({ stream: { errorAfterChunks: { after: 1, status: 500, message: "The server broke before content." } } });
  const ev = await rawChat(gw, STREAM, h);
  assert.ok(ev.status >= 500 && ev.status < 600, `an error event before content: ${ev.status} ${ev.text.slice(0, 200)}`);
  assertOpenAIError(ev, ev.status, "error event before content");

  gw.standin.reset();
  openaiOnly({ stream: { stallAfterChunks: { after: 1 } } });
  const t0 = Date.now();
  const st = await rawChat(gw, STREAM, { ...h, "x-portkey-request-timeout": String(TIMEOUT) });
  assert.ok([408, 502, 504].includes(st.status), `a stall before content: ${st.status} ${st.text.slice(0, 200)}`);
  assertOpenAIError(st, st.status, "stall before content");
  assert.ok(Date.now() - t0 < TIMEOUT + 3000, `took ${Date.now() - t0} ms`);
});

test("after content: an error event or a dropped stream → in-stream error, then data: [DONE] (the SDK raises)", async () => {
  const h = { "x-portkey-provider": "@openai-prod" };
  const STREAM = { model: GPT, messages: USER, stream: true };
  for (const fault of [{ errorAfterChunks: { after: 3, status: 500, message: "The model broke mid-answer." } }, { dropAfterChunks: 3 }]) {
    gw.standin.reset();
    openaiOnly({ stream: fault });
    const res = await rawChat(gw, STREAM, h);
    assert.equal(res.status, 200, res.text.slice(0, 200));
    const data = sseData(res.text);
    assert.equal(data.at(-1), "[DONE]", JSON.stringify(res.text.slice(-200)));
    const e = JSON.parse(data.at(-2));
    assert.ok(e.error && typeof e.error.message === "string", `no error event: ${data.at(-2)}`);
    if (fault.errorAfterChunks) assert.match(e.error.message, /The model broke mid-answer/);
    const before = data.slice(0, -2).map((d) => JSON.parse(d));
    assert.ok(text(before).length > 0, "content came first");
    assert.ok(!before.some((c) => c.choices?.[0]?.finish_reason), "not finished as if complete");

    gw.standin.reset();
    openaiOnly({ stream: fault });
    const got = [];
    const err = await (async () => {
      for await (const c of await openaiClient(gw, h).chat.completions.create(STREAM)) got.push(c);
    })().catch((x) => x);
    gw.record(got);
    assert.ok(err instanceof OpenAI.APIError, `SDK did not raise: ${err?.constructor?.name}: ${err}`);
    assert.ok(got.length >= 2, "content arrived before the error");
  }
});

// ------------------------------------------------------------------ /v1/messages with an OpenAI target

test("/v1/messages with @openai-prod → 400 (Anthropic-shaped), nothing sent", async () => {
  const claude = new Anthropic({ apiKey: gw.gatewayKey, baseURL: gw.url, defaultHeaders: { "x-portkey-provider": "@openai-prod" }, maxRetries: 0 });
  const err = await claude.messages.create({ model: GPT, max_tokens: 64, messages: USER }).catch((e) => e);
  assert.ok(err instanceof Anthropic.BadRequestError, `got ${err?.constructor?.name}: ${err?.message}`);
  assert.equal(err.status, 400);
  assert.equal(err.error?.type, "error");
  assert.equal(err.error?.error?.type, "invalid_request_error");
  assert.match(err.error?.error?.message ?? "", /openai/i);

  const res = await fetch(gw.url + "/v1/messages", {
    method: "POST",
    headers: { "content-type": "application/json", "x-api-key": gw.gatewayKey },
    body: JSON.stringify({ model: `@openai-prod/${GPT}`, max_tokens: 64, messages: USER }),
  });
  const body = await res.json();
  gw.record(body);
  assert.equal(res.status, 400);
  assert.equal(body.type, "error");
  assert.equal(body.error.type, "invalid_request_error");
  assert.deepEqual(gw.standin.requests(), []);
});

test("/v1/messages in a fallback list: the OpenAI target's 400 moves on to the Bedrock target (JSON and stream)", async () => {
  const claude = new Anthropic({ apiKey: gw.gatewayKey, baseURL: gw.url, defaultHeaders: { "x-portkey-config": json(slugFallback()) }, maxRetries: 0 });
  const { data, response } = await claude.messages.create({ model: "claude-3-haiku", max_tokens: 64, messages: USER }).withResponse();
  gw.record(data);
  assert.equal(data.type, "message");
  assert.deepEqual(data.content, [{ type: "text", text: CLAUDE_HELLO }]);
  assert.equal(response.headers.get("x-portkey-last-used-option-index"), "config.targets[1]");
  assert.equal(response.headers.get("x-portkey-provider"), "@bedrock-prod");
  assert.deepEqual(calls(), ["invoke"], "OpenAI is never called on /v1/messages");

  gw.standin.reset();
  const s = claude.messages.stream({ model: "claude-3-haiku", max_tokens: 64, messages: USER });
  const final = await s.finalMessage();
  gw.record(final);
  assert.deepEqual(final.content, [{ type: "text", text: CLAUDE_HELLO }]);
  assert.deepEqual(calls(), ["invoke-with-response-stream"]);
});

// ------------------------------------------------------------------ the portkey-ai Node SDK

test("portkey-ai SDK with the fallback config: OpenAI 429 → Bedrock (JSON); no fault → OpenAI", async () => {
  const portkey = new Portkey({ baseURL: gw.url + "/v1", apiKey: gw.gatewayKey, config: slugFallback() });
  const ok = await portkey.chat.completions.create({ model: GPT, messages: USER });
  gw.record(ok);
  assert.equal(ok.choices[0].message.content, OPENAI_TEXT);
  assert.equal(ok.getHeaders()["last-used-option-index"], "config.targets[0]");
  assert.deepEqual(calls(), ["openai-chat"]);

  gw.standin.reset();
  openaiOnly({ status: 429 });
  const out = await portkey.chat.completions.create({ model: GPT, messages: USER });
  gw.record(out);
  assert.equal(out.choices[0].message.content, BEDROCK_TEXT);
  assert.equal(out.getHeaders()["last-used-option-index"], "config.targets[1]");
  assert.equal(out.getHeaders()["provider"], "@bedrock-prod");
  assert.deepEqual(calls(), ["openai-chat", "converse"]);
});

test("portkey-ai SDK with the fallback config: OpenAI drops the stream before content → Bedrock streams", async () => {
  const portkey = new Portkey({ baseURL: gw.url + "/v1", apiKey: gw.gatewayKey, config: slugFallback() });
  openaiOnly({ match: { provider: "openai", stream: true }, stream: { dropBeforeContent: true } });
  const chunks = await collect(await portkey.chat.completions.create({ model: GPT, messages: USER, stream: true }));
  assert.match(text(chunks), BEDROCK_STREAM_TEXT);
  assert.ok(chunks.every((c) => c.obfuscation === undefined));
  assert.deepEqual(calls(), ["openai-chat", "converse-stream"]);
});

// ------------------------------------------------------------------ final checks

test("no secret (OpenAI keys, AWS secrets, the gateway key) in any log line or body; no isolate failure", () => {
  assert.ok(gw.logs.length > 20, `only ${gw.logs.length} log lines`);
  assert.deepEqual(secretLeaks(gw, [WRONG_OPENAI_KEY, gw.gatewayKey, gw.catalogKey]), []);
  assert.deepEqual(isolateFailures(gw), []);
});
