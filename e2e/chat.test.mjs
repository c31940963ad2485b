// Issue 2 end to end: OpenAI chat completions → the real Worker in workerd → the Bedrock stand-in.
import { test, before, after, beforeEach } from "node:test";
import assert from "node:assert/strict";
import OpenAI from "openai";
import { Portkey } from "portkey-ai";
import {
  startGateway, openaiClient, longTermHeaders, temporaryHeaders, rawChat, secretLeaks, standinRecord,
  TEST_CREDENTIALS, WRONG_SECRET,
} from "./harness.mjs";

const CLAUDE = "us.anthropic.claude-3-7-sonnet-20250219-v1:0";
const ARN = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc123xyz";
const HELLO = "Hello! How can I assist you today? Whether you have questions, need information, or just want to chat, I'm here to help.";
const USER = [{ role: "user", content: "hi" }];

let gw;
before(async () => {
  gw = await startGateway({ slugs: { demo: true } });
});
after(async () => {
  await gw?.close();
});
beforeEach(() => gw.standin.reset());

const only = () => {
  const reqs = gw.standin.requests();
  assert.equal(reqs.length, 1, `the stand-in received ${reqs.length} requests`);
  return reqs[0];
};

/** Asserts the OpenAI error shape {"error":{"message","type","param","code"}}. */
function assertErrorShape(json) {
  assert.ok(json && typeof json.error === "object", `not an OpenAI error body: ${JSON.stringify(json)}`);
  assert.deepEqual(Object.keys(json.error).sort(), ["code", "message", "param", "type"]);
  assert.equal(typeof json.error.message, "string");
  assert.ok(json.error.message.length > 10, "the message says something a person can act on");
  assert.equal(typeof json.error.type, "string");
}

function assertCompletion(out, model) {
  gw.record(out);
  assert.equal(out.object, "chat.completion");
  assert.match(out.id, /^chatcmpl-/);
  assert.equal(typeof out.created, "number");
  assert.equal(out.model, model);
  assert.equal(out.choices.length, 1);
  assert.equal(out.choices[0].message.role, "assistant");
  assert.equal(out.choices[0].message.content, HELLO);
  assert.equal(out.choices[0].finish_reason, "stop");
  assert.equal(out.usage.prompt_tokens, 7);
  assert.equal(out.usage.completion_tokens, 30);
  assert.equal(out.usage.total_tokens, 37);
}

test("GET /v1/health", async () => {
  const res = await fetch(gw.url + "/v1/health");
  assert.equal(res.status, 200);
  const body = gw.record(await res.json());
  assert.equal(body.status, "ok");
});

test("header credentials (long-term key): a correct completion, signed and verified", async () => {
  const client = openaiClient(gw, longTermHeaders(gw));
  const out = await client.chat.completions.create({ model: CLAUDE, messages: USER });
  assertCompletion(out, CLAUDE);
  const r = only();
  assert.equal(r.operation, "converse");
  assert.equal(r.signature.ok, true);
  assert.equal(r.signature.accessKeyId, TEST_CREDENTIALS.longTerm.accessKeyId);
  assert.equal(r.signature.region, "us-east-1");
  assert.equal(r.signature.service, "bedrock");
  assert.ok(!r.signature.signedHeaders.includes("x-amz-security-token"));
  assert.deepEqual(r.body, { messages: [{ role: "user", content: [{ text: "hi" }] }] });
});

test("the ids of two completions differ", async () => {
  const client = openaiClient(gw, longTermHeaders(gw));
  const a = await client.chat.completions.create({ model: CLAUDE, messages: USER });
  const b = await client.chat.completions.create({ model: CLAUDE, messages: USER });
  assert.notEqual(a.id, b.id);
});

test("header credentials with a session token (temporary key)", async () => {
  const client = openaiClient(gw, temporaryHeaders(gw));
  const out = await client.chat.completions.create({ model: CLAUDE, messages: USER });
  assertCompletion(out, CLAUDE);
  const r = only();
  assert.equal(r.signature.ok, true);
  assert.equal(r.signature.accessKeyId, TEST_CREDENTIALS.temporary.accessKeyId);
  assert.ok(r.signature.signedHeaders.includes("x-amz-security-token"), "the session token is signed");
  assert.equal(r.headers["x-amz-security-token"], TEST_CREDENTIALS.temporary.sessionToken);
});

test("the exact Converse body: system, temperature 0 kept, stop string → array, max_tokens, top_p", async () => {
  const client = openaiClient(gw, longTermHeaders(gw));
  await client.chat.completions.create({
    model: CLAUDE,
    messages: [
      { role: "system", content: "Be brief." },
      { role: "user", content: "hi" },
      { role: "assistant", content: "Hello." },
      { role: "user", content: [{ type: "text", text: "Capital of France?" }] },
    ],
    temperature: 0,
    top_p: 0.5,
    max_tokens: 64,
    stop: "END",
  });
  const r = only();
  assert.equal(r.signature.ok, true);
  assert.deepEqual(r.body, {
    system: [{ text: "Be brief." }],
    messages: [
      { role: "user", content: [{ text: "hi" }] },
      { role: "assistant", content: [{ text: "Hello." }] },
      { role: "user", content: [{ text: "Capital of France?" }] },
    ],
    inferenceConfig: { maxTokens: 64, temperature: 0, topP: 0.5, stopSequences: ["END"] },
  });
});

test("stop as an array, max_completion_tokens wins over max_tokens", async () => {
  const client = openaiClient(gw, longTermHeaders(gw));
  await client.chat.completions.create({ model: CLAUDE, messages: USER, stop: ["a", "b"], max_completion_tokens: 10 });
  assert.deepEqual(only().body.inferenceConfig, { maxTokens: 10, stopSequences: ["a", "b"] });
});

test("model id percent-encoding: `:` → %3A, and the signature verifies", async () => {
  const client = openaiClient(gw, longTermHeaders(gw));
  await client.chat.completions.create({ model: CLAUDE, messages: USER });
  const r = only();
  assert.equal(r.path, "/model/us.anthropic.claude-3-7-sonnet-20250219-v1%3A0/converse");
  assert.equal(r.model, CLAUDE);
  assert.equal(r.signature.ok, true);
});

test("an application-inference-profile ARN model id is fully escaped and verifies", async () => {
  const client = openaiClient(gw, longTermHeaders(gw));
  const out = await client.chat.completions.create({ model: ARN, messages: USER });
  assert.equal(out.model, ARN);
  // The gateway also looks the profile up once (GetInferenceProfile, cached) to learn its family.
  const runtime = gw.standin.requests().filter((q) => q.operation !== "get-inference-profile");
  assert.equal(runtime.length, 1);
  const r = runtime[0];
  assert.equal(
    r.path,
    "/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Aapplication-inference-profile%2Fabc123xyz/converse",
  );
  assert.equal(r.model, ARN);
  assert.equal(r.signature.ok, true);
});

test("@slug via x-portkey-provider (catalog credentials, catalog custom_host)", async () => {
  const client = openaiClient(gw, { "x-portkey-provider": "@demo" });
  const { data: out, response } = await client.chat.completions
    .create({ model: CLAUDE, messages: USER })
    .withResponse();
  assertCompletion(out, CLAUDE);
  assert.equal(response.headers.get("x-portkey-provider"), "@demo");
  const r = only();
  assert.equal(r.signature.ok, true);
  assert.equal(r.signature.accessKeyId, TEST_CREDENTIALS.longTerm.accessKeyId);
});

test("@slug/model in the body, no provider header", async () => {
  const client = openaiClient(gw, {});
  const out = await client.chat.completions.create({ model: `@demo/${CLAUDE}`, messages: USER });
  assertCompletion(out, CLAUDE);
  const r = only();
  assert.equal(r.model, CLAUDE);
  assert.equal(r.signature.ok, true);
});

test("@slug/ARN in the body", async () => {
  const client = openaiClient(gw, {});
  await client.chat.completions.create({ model: `@demo/${ARN}`, messages: USER });
  const r = only();
  assert.equal(r.model, ARN);
  assert.equal(r.signature.ok, true);
});

test("custom host: a trusted x-portkey-custom-host may be used with @slug", async () => {
  // The catalog record points elsewhere; the header names the trusted stand-in.
  await gw.seedProvider("elsewhere", standinRecord("http://127.0.0.1:9"));
  const client = openaiClient(gw, { "x-portkey-provider": "@elsewhere", "x-portkey-custom-host": gw.standin.url });
  const out = await client.chat.completions.create({ model: CLAUDE, messages: USER });
  assertCompletion(out, CLAUDE);
  assert.equal(only().signature.ok, true);
});

test("catalog credentials are never sent to a caller-chosen untrusted host (403, stand-in received nothing)", async () => {
  const port = new URL(gw.standin.url).port;
  const res = await rawChat(gw, { model: CLAUDE, messages: USER }, {
    "x-portkey-provider": "@demo",
    "x-portkey-custom-host": `http://localhost:${port}`,
  });
  assert.equal(res.status, 403);
  assertErrorShape(res.json);
  assert.equal(res.json.error.param, "x-portkey-custom-host");
  assert.equal(gw.standin.requests().length, 0);
  // The same through the body's @slug form.
  const res2 = await rawChat(gw, { model: `@demo/${CLAUDE}`, messages: USER }, { "x-portkey-custom-host": `http://localhost:${port}` });
  assert.equal(res2.status, 403);
  assert.equal(gw.standin.requests().length, 0);
});

test("header credentials to an internal untrusted host are refused", async () => {
  const port = new URL(gw.standin.url).port;
  const res = await rawChat(gw, { model: CLAUDE, messages: USER }, longTermHeaders(gw, { "x-portkey-custom-host": `http://localhost:${port}` }));
  assert.equal(res.status, 403);
  assertErrorShape(res.json);
  assert.equal(gw.standin.requests().length, 0);
});

test("a wrong secret → 403 PermissionDeniedError naming InvalidSignatureException", async () => {
  const client = openaiClient(gw, longTermHeaders(gw, { "x-portkey-aws-secret-access-key": WRONG_SECRET }));
  const err = await client.chat.completions.create({ model: CLAUDE, messages: USER }).catch((e) => e);
  assert.ok(err instanceof OpenAI.PermissionDeniedError, `got ${err?.constructor?.name}: ${err?.message}`);
  assert.equal(err.status, 403);
  assert.match(err.message, /InvalidSignatureException/);
  assert.equal(err.code, "InvalidSignatureException");
  gw.record(JSON.stringify(err.error ?? {}) + err.message);
  assert.equal(only().signature.errorType, "InvalidSignatureException");
});

test("a session token missing for a temporary key → 403 UnrecognizedClientException", async () => {
  const h = temporaryHeaders(gw);
  delete h["x-portkey-aws-session-token"];
  const err = await openaiClient(gw, h).chat.completions.create({ model: CLAUDE, messages: USER }).catch((e) => e);
  assert.ok(err instanceof OpenAI.PermissionDeniedError, `got ${err?.constructor?.name}`);
  assert.match(err.message, /UnrecognizedClientException/);
});

test("throttling → 429 RateLimitError naming ThrottlingException", async () => {
  gw.standin.script({ status: 429, errorType: "ThrottlingException", message: "Too many requests, please wait before trying again." });
  const err = await openaiClient(gw, longTermHeaders(gw)).chat.completions.create({ model: CLAUDE, messages: USER }).catch((e) => e);
  assert.ok(err instanceof OpenAI.RateLimitError, `got ${err?.constructor?.name}: ${err?.message}`);
  assert.equal(err.status, 429);
  assert.match(err.message, /ThrottlingException/);
  assert.match(err.message, /Too many requests/);
  assert.equal(err.code, "ThrottlingException");
});

test("Bedrock validation error → 400 BadRequestError naming ValidationException", async () => {
  gw.standin.script({ status: 400, errorType: "ValidationException", message: "The provided model identifier is invalid." });
  const err = await openaiClient(gw, longTermHeaders(gw)).chat.completions.create({ model: CLAUDE, messages: USER }).catch((e) => e);
  assert.ok(err instanceof OpenAI.BadRequestError, `got ${err?.constructor?.name}: ${err?.message}`);
  assert.equal(err.status, 400);
  assert.match(err.message, /ValidationException/);
  assert.match(err.message, /model identifier is invalid/);
});

test("Bedrock 503 → InternalServerError (status kept)", async () => {
  gw.standin.script({ status: 503, errorType: "ServiceUnavailableException", message: "Service unavailable." });
  const err = await openaiClient(gw, longTermHeaders(gw)).chat.completions.create({ model: CLAUDE, messages: USER }).catch((e) => e);
  assert.ok(err instanceof OpenAI.InternalServerError, `got ${err?.constructor?.name}`);
  assert.equal(err.status, 503);
});

test("invalid JSON → 400 OpenAI-shaped", async () => {
  const res = await rawChat(gw, "{not json", longTermHeaders(gw));
  assert.equal(res.status, 400);
  assertErrorShape(res.json);
  assert.equal(res.json.error.type, "invalid_request_error");
  assert.match(res.json.error.message, /JSON/);
});

test("missing messages → 400 naming `messages`", async () => {
  const res = await rawChat(gw, { model: CLAUDE }, longTermHeaders(gw));
  assert.equal(res.status, 400);
  assertErrorShape(res.json);
  assert.equal(res.json.error.param, "messages");
  assert.equal(gw.standin.requests().length, 0);
});

test("missing provider → 400 naming x-portkey-provider", async () => {
  const res = await rawChat(gw, { model: CLAUDE, messages: USER }, {});
  assert.equal(res.status, 400);
  assertErrorShape(res.json);
  assert.equal(res.json.error.param, "x-portkey-provider");
});

test("unknown provider → 400 OpenAI-shaped", async () => {
  const res = await rawChat(gw, { model: CLAUDE, messages: USER }, { "x-portkey-provider": "azure-openai" });
  assert.equal(res.status, 400);
  assertErrorShape(res.json);
  assert.match(res.json.error.message, /azure-openai/);
  const err = await openaiClient(gw, { "x-portkey-provider": "azure-openai" }).chat.completions.create({ model: CLAUDE, messages: USER }).catch((e) => e);
  assert.ok(err instanceof OpenAI.BadRequestError);
});

test("unknown slug → 4xx naming the slug", async () => {
  const res = await rawChat(gw, { model: CLAUDE, messages: USER }, { "x-portkey-provider": "@nope" });
  assert.ok(res.status >= 400 && res.status < 500, `status ${res.status}`);
  assertErrorShape(res.json);
  assert.match(res.json.error.message, /@nope/);
  const res2 = await rawChat(gw, { model: `@nope/${CLAUDE}`, messages: USER }, {});
  assert.ok(res2.status >= 400 && res2.status < 500);
  assertErrorShape(res2.json);
  assert.equal(gw.standin.requests().length, 0);
});

test("missing header credentials → 400 naming the header", async () => {
  const h = longTermHeaders(gw);
  delete h["x-portkey-aws-secret-access-key"];
  const res = await rawChat(gw, { model: CLAUDE, messages: USER }, h);
  assert.equal(res.status, 400);
  assertErrorShape(res.json);
  assert.equal(res.json.error.param, "x-portkey-aws-secret-access-key");
});

test("unknown route → 404 JSON", async () => {
  const res = await fetch(gw.url + "/v1/nope", { method: "POST", body: "{}" });
  assert.equal(res.status, 404);
  assert.match(res.headers.get("content-type") ?? "", /application\/json/);
  const json = gw.record(await res.json());
  assertErrorShape(json);
});

test("GET on /v1/chat/completions → 405 JSON", async () => {
  const res = await fetch(gw.url + "/v1/chat/completions");
  assert.equal(res.status, 405);
  assertErrorShape(gw.record(await res.json()));
});

test("garbage inputs never crash the Worker (always JSON, health still OK)", async () => {
  const bodies = ["", "null", "[]", '{"messages":"x","model":"m"}', '{"messages":[{"role":"wizard","content":"x"}],"model":"m"}',
    '{"messages":[{"role":"user"}],"model":"m"}', '{"messages":[],"model":"m"}', '{"messages":[{"role":"user","content":"x"}],"model":5}',
    "\u0000\u00ff", '{"messages":[{"role":"user","content":[{"type":"image_url"}]}],"model":"m"}'];
  for (const b of bodies) {
    const res = await rawChat(gw, b, longTermHeaders(gw));
    assert.ok(res.status >= 400 && res.status < 500, `${JSON.stringify(b.slice(0, 60))} → ${res.status} ${res.text.slice(0, 200)}`);
    assertErrorShape(res.json);
  }
  const health = await fetch(gw.url + "/v1/health");
  assert.equal(health.status, 200);
  await health.text();
});

test("non-streaming tool calls, finish_reason tool_calls, usage with cache tokens", async () => {
  gw.standin.script({
    match: { operation: "converse" },
    json: {
      output: { message: { role: "assistant", content: [
        { text: "Checking." },
        { toolUse: { toolUseId: "tooluse_1", name: "get_weather", input: { city: "Paris" } } },
        { toolUse: { toolUseId: "tooluse_2", name: "get_time", input: { tz: "CET" } } },
      ] } },
      stopReason: "tool_use",
      usage: { inputTokens: 10, outputTokens: 7, totalTokens: 1217, cacheReadInputTokens: 1000, cacheWriteInputTokens: 200 },
      metrics: { latencyMs: 10 },
    },
  });
  const out = gw.record(await openaiClient(gw, longTermHeaders(gw)).chat.completions.create({
    model: CLAUDE, messages: USER,
    tools: [{ type: "function", function: { name: "get_weather", parameters: { type: "object", properties: { city: { type: "string" } } } } }],
  }));
  const m = out.choices[0].message;
  assert.equal(out.choices[0].finish_reason, "tool_calls");
  assert.equal(m.content, "Checking.");
  assert.deepEqual(m.tool_calls.map((c) => [c.id, c.type, c.function.name, JSON.parse(c.function.arguments)]), [
    ["tooluse_1", "function", "get_weather", { city: "Paris" }],
    ["tooluse_2", "function", "get_time", { tz: "CET" }],
  ]);
  assert.equal(out.usage.prompt_tokens, 1210);
  assert.equal(out.usage.completion_tokens, 7);
  assert.equal(out.usage.total_tokens, 1217);
  assert.equal(out.usage.prompt_tokens_details.cached_tokens, 1000);
  const sent = only().body;
  assert.equal(sent.toolConfig.tools[0].toolSpec.name, "get_weather");
});

test("finish_reason mapping: max_tokens → length, guardrail_intervened → content_filter", async () => {
  for (const [stopReason, want] of [["max_tokens", "length"], ["stop_sequence", "stop"], ["guardrail_intervened", "content_filter"], ["content_filtered", "content_filter"]]) {
    gw.standin.script({ match: { operation: "converse" }, text: "x", stopReason });
    const out = await openaiClient(gw, longTermHeaders(gw)).chat.completions.create({ model: CLAUDE, messages: USER });
    assert.equal(out.choices[0].finish_reason, want, stopReason);
  }
});

test("x-portkey-trace-id is echoed", async () => {
  const res = await rawChat(gw, { model: CLAUDE, messages: USER }, longTermHeaders(gw, { "x-portkey-trace-id": "trace-e2e-123" }));
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("x-portkey-trace-id"), "trace-e2e-123");
  assert.ok(gw.logs.some((l) => l.includes("trace-e2e-123")));
});

test("x-portkey-request-timeout: a slow Bedrock → 408 (APIError with status 408)", async () => {
  gw.standin.script({ match: { operation: "converse" }, delayMs: 1500 });
  const t0 = Date.now();
  const err = await openaiClient(gw, longTermHeaders(gw, { "x-portkey-request-timeout": "300" }))
    .chat.completions.create({ model: CLAUDE, messages: USER })
    .catch((e) => e);
  assert.ok(err instanceof OpenAI.APIError, String(err));
  assert.equal(err.status, 408);
  assert.equal(err.error?.code ?? err.code, "request_timeout");
  assert.ok(Date.now() - t0 < 1400, "answered before Bedrock did");
});

test("x-portkey-forward-headers: listed caller headers reach Bedrock, signed", async () => {
  const out = await openaiClient(gw, longTermHeaders(gw, { "x-portkey-forward-headers": "x-tenant-id", "x-tenant-id": "acme" }))
    .chat.completions.create({ model: CLAUDE, messages: USER });
  assert.equal(out.object, "chat.completion");
  const r = only();
  assert.equal(r.headers["x-tenant-id"], "acme");
  assert.ok(r.signature.signedHeaders.includes("x-tenant-id"), String(r.signature.signedHeaders));
  assert.equal(r.signature.ok, true);
});

test("the portkey-ai SDK: one chat completion with a @slug provider", async () => {
  const portkey = new Portkey({ apiKey: gw.gatewayKey, baseURL: gw.url + "/v1", provider: "@demo", maxRetries: 0 });
  const out = await portkey.chat.completions.create({ model: CLAUDE, messages: USER });
  gw.record(out);
  assert.equal(out.choices[0].message.content, HELLO);
  const r = only();
  assert.equal(r.signature.ok, true);
  assert.equal(r.model, CLAUDE);
});

test("no secret in any log line or response body (final check)", async () => {
  assert.ok(gw.logs.length > 10, `only ${gw.logs.length} log lines were captured`);
  assert.deepEqual(secretLeaks(gw), []);
});
