// Stored prompts end to end: prompt:<id> in the Worker's KV, POST /v1/prompts/{id}/completions
// through the real Worker in workerd (portkey-ai's prompts API and fetch), the Bedrock stand-in
// receiving the rendered Converse body.
import { test, before, after, beforeEach } from "node:test";
import assert from "node:assert/strict";
import { Portkey } from "portkey-ai";
import { startGateway, sseData, secretLeaks } from "./harness.mjs";

const NOVA = "us.amazon.nova-micro-v1:0";
const HELLO = "Hello! How can I assist you today? Whether you have questions, need information, or just want to chat, I'm here to help.";
const PERSONA = {
  schema: 1,
  template: {
    messages: [
      { role: "system", content: "You are {{persona}}." },
      { role: "user", content: [{ type: "text", text: "{{ question }} (asked {{times}} times, urgent: {{urgent}})" }] },
    ],
    model: NOVA,
    provider: "@demo",
    params: { max_tokens: 64, temperature: 0.2 },
  },
};

let gw;
before(async () => {
  gw = await startGateway({ slugs: { demo: true } });
  await gw.kv.put("prompt:persona", JSON.stringify(PERSONA));
  await gw.kv.put("prompt:broken", "{\"schema\":1,\"template\":{\"messages\":[]");
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

const VARS = { persona: "a pirate", question: "Where is the treasure?", times: 3, urgent: true };
const RENDERED = {
  system: [{ text: "You are a pirate." }],
  messages: [{ role: "user", content: [{ text: "Where is the treasure? (asked 3 times, urgent: true)" }] }],
};

async function post(id, body, headers = {}, prefix = "/v1") {
  const res = await fetch(`${gw.url}${prefix}/prompts/${id}/completions`, {
    method: "POST",
    headers: Object.fromEntries(
      Object.entries({ "content-type": "application/json", "x-portkey-api-key": gw.gatewayKey, ...headers }).filter(([, v]) => v != null),
    ),
    body: JSON.stringify(body),
  });
  const text = await res.text();
  gw.bodies.push(text);
  let json = null;
  try { json = JSON.parse(text); } catch {}
  return { status: res.status, headers: res.headers, text, json };
}

test("portkey-ai prompts.completions.create: the rendered Converse body, signed, and a chat.completion", async () => {
  // The SDK turns strict OpenAI compliance off unless told: on here, so finish_reason is OpenAI's.
  const portkey = new Portkey({ apiKey: gw.gatewayKey, baseURL: gw.url + "/v1", maxRetries: 0, strictOpenAiCompliance: true });
  const out = gw.record(await portkey.prompts.completions.create({ promptID: "persona", variables: VARS }));
  assert.equal(out.object, "chat.completion");
  assert.match(out.id, /^chatcmpl-/);
  assert.equal(out.model, NOVA);
  assert.equal(out.choices[0].message.content, HELLO);
  assert.equal(out.choices[0].finish_reason, "stop");
  const r = only();
  assert.equal(r.operation, "converse");
  assert.equal(r.path, "/model/us.amazon.nova-micro-v1%3A0/converse");
  assert.equal(r.signature.ok, true);
  assert.deepEqual(r.body, { ...RENDERED, inferenceConfig: { maxTokens: 64, temperature: 0.2 } });
});

test("fetch without /v1; body fields override the template", async () => {
  const res = await post("persona", { variables: VARS, max_tokens: 9, top_p: 0.5 }, {}, "");
  assert.equal(res.status, 200, res.text);
  assert.equal(res.json.choices[0].message.content, HELLO);
  assert.equal(res.headers.get("x-portkey-provider"), "@demo");
  assert.deepEqual(only().body, { ...RENDERED, inferenceConfig: { maxTokens: 9, temperature: 0.2, topP: 0.5 } });
});

test("a streamed prompt: ConverseStream, SSE chunks, data: [DONE]", async () => {
  const res = await post("persona", { variables: VARS, stream: true });
  assert.equal(res.status, 200, res.text);
  assert.match(res.headers.get("content-type"), /^text\/event-stream/);
  const data = sseData(res.text);
  assert.equal(data.at(-1), "[DONE]");
  const chunks = data.slice(0, -1).map((d) => JSON.parse(d));
  assert.ok(chunks.every((c) => c.object === "chat.completion.chunk" && c.model === NOVA));
  assert.match(chunks.map((c) => c.choices?.[0]?.delta?.content ?? "").join(""), /^The capital of France is Paris/);
  const r = only();
  assert.equal(r.operation, "converse-stream");
  assert.equal(r.signature.ok, true);
  assert.deepEqual(r.body, { ...RENDERED, inferenceConfig: { maxTokens: 64, temperature: 0.2 } });
});

test("a missing variable is a 400 naming it; nothing reaches Bedrock", async () => {
  const res = await post("persona", { variables: { persona: "a pirate", times: 1, urgent: false } });
  assert.equal(res.status, 400, res.text);
  assert.equal(res.json.error.param, "variables.question");
  assert.equal(res.json.error.code, "missing_variable");
  assert.equal(res.json.error.type, "invalid_request_error");
  const portkey = new Portkey({ apiKey: gw.gatewayKey, baseURL: gw.url + "/v1", maxRetries: 0 });
  const err = await portkey.prompts.completions.create({ promptID: "persona", variables: {} }).catch((e) => e);
  assert.equal(err.status, 400);
  assert.equal(gw.standin.requests().length, 0);
});

test("unknown prompt 404, broken record 500, no key 401", async () => {
  let res = await post("nope", { variables: {} });
  assert.equal(res.status, 404, res.text);
  assert.equal(res.json.error.code, "prompt_not_found");
  res = await post("broken", { variables: {} });
  assert.equal(res.status, 500, res.text);
  assert.equal(res.json.error.code, "prompt_record_invalid");
  assert.ok(gw.logs.some((l) => l.includes("prompt_record_invalid") && l.includes("broken")), "a log line names the record");
  res = await post("persona", { variables: VARS }, { "x-portkey-api-key": null });
  assert.equal(res.status, 401, res.text);
  assert.equal(res.json.error.code, "missing_gateway_key");
  assert.equal(gw.standin.requests().length, 0);
});

test("no secret in any log line or response body", () => {
  assert.deepEqual(secretLeaks(gw), []);
});
