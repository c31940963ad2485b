// Gateway configs (x-portkey-config) end to end: the openai SDK → the real Worker in workerd → the
// Bedrock stand-in. Two catalog slugs point at the stand-in with different regions, so the
// stand-in's request log (signature.region) tells which target was called.
import { test, before, after, beforeEach } from "node:test";
import assert from "node:assert/strict";
import OpenAI from "openai";
import { startGateway, openaiClient, rawChat, secretLeaks, standinRecord } from "./harness.mjs";

const CLAUDE = "us.anthropic.claude-3-7-sonnet-20250219-v1:0";
const USER = [{ role: "user", content: "hi" }];
const FALLBACK = { strategy: { mode: "fallback" }, targets: [{ provider: "@east" }, { provider: "@west" }] };

let gw;
before(async () => {
  gw = await startGateway({ slugs: { east: true } });
  await gw.seedProvider("west", standinRecord(gw.standin.url, { region: "us-west-2" }));
});
after(async () => {
  await gw?.close();
});
beforeEach(() => gw.standin.reset());

const regions = () => gw.standin.requests().map((r) => r.signature.region);
const throttle = (operation = "converse") =>
  gw.standin.script({ match: { operation }, status: 429, errorType: "ThrottlingException", message: "Too many requests, please wait." });
const client = (config) => openaiClient(gw, { "x-portkey-config": typeof config === "string" ? config : JSON.stringify(config) });

test("fallback: a 429 on the first target moves on to the second slug", async () => {
  throttle();
  const { data, response } = await client(FALLBACK).chat.completions.create({ model: CLAUDE, messages: USER }).withResponse();
  gw.record(data);
  assert.equal(data.object, "chat.completion");
  assert.deepEqual(regions(), ["us-east-1", "us-west-2"]);
  assert.ok(gw.standin.requests().every((r) => r.signature.ok));
  assert.equal(response.headers.get("x-portkey-last-used-option-index"), "config.targets[1]");
  assert.equal(response.headers.get("x-portkey-retry-attempt-count"), "0");
  assert.equal(response.headers.get("x-portkey-provider"), "@west");
});

test("retry: a 429 then success on the same target → x-portkey-retry-attempt-count: 1", async () => {
  throttle();
  const { data, response } = await client({ retry: { attempts: 2 }, provider: "@east" })
    .chat.completions.create({ model: CLAUDE, messages: USER })
    .withResponse();
  gw.record(data);
  assert.equal(data.object, "chat.completion");
  assert.deepEqual(regions(), ["us-east-1", "us-east-1"]);
  assert.equal(response.headers.get("x-portkey-retry-attempt-count"), "1");
  assert.equal(response.headers.get("x-portkey-last-used-option-index"), "config");
});

test("loadbalance: weight 0 is never chosen", async () => {
  const config = { strategy: { mode: "loadbalance" }, targets: [{ provider: "@east", weight: 0 }, { provider: "@west", weight: 1 }] };
  for (let i = 0; i < 8; i++) {
    const { data, response } = await client(config).chat.completions.create({ model: CLAUDE, messages: USER }).withResponse();
    gw.record(data);
    assert.equal(response.headers.get("x-portkey-last-used-option-index"), "config.targets[1]");
  }
  assert.deepEqual(regions(), Array(8).fill("us-west-2"));
});

test("streams fall back on a first-frame throttling exception", async () => {
  gw.standin.script({
    match: { operation: "converse-stream" },
    stream: { exceptionBefore: { type: "throttlingException", message: "Too many tokens, please wait." } },
  });
  const { data: stream, response } = await client(FALLBACK)
    .chat.completions.create({ model: CLAUDE, messages: USER, stream: true })
    .withResponse();
  let text = "";
  let finish = null;
  for await (const chunk of stream) {
    gw.record(chunk);
    text += chunk.choices[0]?.delta?.content ?? "";
    finish = chunk.choices[0]?.finish_reason ?? finish;
  }
  assert.ok(text.length > 0);
  assert.equal(finish, "stop");
  assert.deepEqual(regions(), ["us-east-1", "us-west-2"]);
  assert.equal(response.headers.get("x-portkey-last-used-option-index"), "config.targets[1]");
});

test("nested targets: x-portkey-last-used-option-index names the path", async () => {
  throttle();
  const config = {
    strategy: { mode: "fallback" },
    targets: [{ provider: "@east" }, { strategy: { mode: "loadbalance" }, targets: [{ provider: "@east", weight: 0 }, { provider: "@west" }] }],
  };
  const { data, response } = await client(config).chat.completions.create({ model: CLAUDE, messages: USER }).withResponse();
  gw.record(data);
  assert.equal(response.headers.get("x-portkey-last-used-option-index"), "config.targets[1].targets[1]");
  assert.deepEqual(regions(), ["us-east-1", "us-west-2"]);
});

test("override_params and a saved config id", async () => {
  await gw.kv.put("config:pc-e2e", JSON.stringify({ provider: "@west", overrideParams: { max_tokens: 7 } }));
  const out = await client("pc-e2e").chat.completions.create({ model: CLAUDE, messages: USER });
  gw.record(out);
  const [r] = gw.standin.requests();
  assert.equal(r.signature.region, "us-west-2");
  assert.deepEqual(r.body.inferenceConfig, { maxTokens: 7 });
});

test("all targets fail → the last error as is; invalid configs → 400 naming x-portkey-config", async () => {
  throttle();
  gw.standin.script({ match: { operation: "converse" }, status: 503, errorType: "ServiceUnavailableException", message: "Service unavailable." });
  const err = await client(FALLBACK).chat.completions.create({ model: CLAUDE, messages: USER }).catch((e) => e);
  assert.ok(err instanceof OpenAI.InternalServerError, `got ${err?.constructor?.name}: ${err?.message}`);
  assert.equal(err.status, 503);
  assert.equal(err.headers.get("x-portkey-last-used-option-index"), "config.targets[1]");

  for (const bad of ["{nope", JSON.stringify({ strategy: { mode: "conditional" }, targets: [{}] }), "pc-unknown"]) {
    const res = await rawChat(gw, { model: CLAUDE, messages: USER }, { "x-portkey-config": bad });
    assert.equal(res.status, 400, res.text);
    assert.equal(res.json.error.param, "x-portkey-config");
  }
});

test("no secret leaked in logs or bodies", () => {
  assert.deepEqual(secretLeaks(gw), []);
});
