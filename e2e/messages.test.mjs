// Issue 5 end to end: the Anthropic SDK → /v1/messages on the real Worker in workerd → Bedrock
// InvokeModel / InvokeModelWithResponseStream / CountTokens on the stand-in.
import { test, before, after, beforeEach } from "node:test";
import assert from "node:assert/strict";
import Anthropic from "@anthropic-ai/sdk";
import { startGateway, longTermHeaders, secretLeaks, TEST_CREDENTIALS } from "./harness.mjs";

const CLAUDE = "us.anthropic.claude-sonnet-4-20250514-v1:0";
const FOUNDATION = "anthropic.claude-sonnet-4-20250514-v1:0";
const HELLO = "Hello! I'm Claude, an AI assistant made by Anthropic. How can I help you today?";
const USER = [{ role: "user", content: "hi" }];

let gw;
before(async () => {
  gw = await startGateway();
});
after(async () => {
  await gw?.close();
});
beforeEach(() => gw.standin.reset());

/** The Anthropic SDK pointed at the gateway (base URL without /v1). */
function claude(extraHeaders = {}, opts = {}) {
  return new Anthropic({
    apiKey: "dummy",
    baseURL: gw.url,
    defaultHeaders: longTermHeaders(gw, extraHeaders),
    maxRetries: 0,
    timeout: 20_000,
    ...opts,
  });
}

const only = () => {
  const reqs = gw.standin.requests();
  assert.equal(reqs.length, 1, `the stand-in received ${reqs.length} requests`);
  return reqs[0];
};

/** JSON round trip: drops undefined-valued keys the SDK's stream accumulator adds. */
const plain = (v) => JSON.parse(JSON.stringify(v));

test("a plain message: native body, signed, answer passed through", async () => {
  const out = gw.record(
    await claude().messages.create({ model: CLAUDE, max_tokens: 256, temperature: 0, messages: USER }),
  );
  assert.equal(out.type, "message");
  assert.equal(out.role, "assistant");
  assert.deepEqual(out.content, [{ type: "text", text: HELLO }]);
  assert.equal(out.stop_reason, "end_turn");
  assert.deepEqual(out.usage, { input_tokens: 12, output_tokens: 21 });
  const r = only();
  assert.equal(r.operation, "invoke");
  assert.equal(r.model, CLAUDE);
  assert.equal(r.signature.ok, true);
  assert.equal(r.signature.accessKeyId, TEST_CREDENTIALS.longTerm.accessKeyId);
  assert.deepEqual(r.body, {
    anthropic_version: "bedrock-2023-05-31",
    max_tokens: 256,
    temperature: 0,
    messages: [{ role: "user", content: "hi" }],
  });
});

test("Authorization: Bearer (authToken), anthropic-beta header → anthropic_beta", async () => {
  const client = claude({ "anthropic-beta": "interleaved-thinking-2025-05-14,token-efficient-tools-2025-02-19" }, {
    apiKey: null,
    authToken: "dummy-gateway-token",
  });
  const out = await client.messages.create({ model: CLAUDE, max_tokens: 10, messages: USER });
  assert.equal(out.content[0].text, HELLO);
  const r = only();
  assert.deepEqual(r.body.anthropic_beta, ["interleaved-thinking-2025-05-14", "token-efficient-tools-2025-02-19"]);
  assert.equal(r.body.model, undefined);
});

test("a tool-use round trip", async () => {
  const tools = [{ name: "get_weather", description: "Weather", input_schema: { type: "object", properties: { city: { type: "string" } } } }];
  gw.standin.script({
    match: { operation: "invoke" },
    json: {
      id: "msg_bdrk_tool1", type: "message", role: "assistant", model: "claude-sonnet-4-20250514",
      content: [
        { type: "text", text: "Let me check." },
        { type: "tool_use", id: "toolu_bdrk_01", name: "get_weather", input: { city: "Paris" } },
      ],
      stop_reason: "tool_use", stop_sequence: null, usage: { input_tokens: 30, output_tokens: 12 },
    },
  });
  const client = claude();
  const first = gw.record(await client.messages.create({
    model: CLAUDE, max_tokens: 256, tools, tool_choice: { type: "auto" }, messages: [{ role: "user", content: "Weather in Paris?" }],
  }));
  assert.equal(first.stop_reason, "tool_use");
  const call = first.content.find((b) => b.type === "tool_use");
  assert.deepEqual(call.input, { city: "Paris" });
  const history = [
    { role: "user", content: "Weather in Paris?" },
    { role: "assistant", content: first.content },
    { role: "user", content: [{ type: "tool_result", tool_use_id: call.id, content: "sunny, 21°C" }] },
  ];
  const second = await client.messages.create({ model: CLAUDE, max_tokens: 256, tools, messages: history });
  assert.equal(second.content[0].text, HELLO);
  const reqs = gw.standin.requests();
  assert.equal(reqs.length, 2);
  assert.deepEqual(reqs[0].body.tools, tools);
  assert.deepEqual(reqs[0].body.tool_choice, { type: "auto" });
  assert.deepEqual(reqs[1].body.messages, history);
});

test("thinking with its signature is replayed in the next turn", async () => {
  const thinking = { type: "thinking", thinking: "The user greets me; answer briefly.", signature: "EqQBCkYIBxgCKkBsig+nature/==" };
  gw.standin.script({
    match: { operation: "invoke" },
    json: {
      id: "msg_bdrk_think1", type: "message", role: "assistant", model: "claude-sonnet-4-20250514",
      content: [thinking, { type: "redacted_thinking", data: "EmwKAhgBEgy3va3pzix/LafPsn4aDF==" }, { type: "text", text: "Hi!" }],
      stop_reason: "end_turn", stop_sequence: null, usage: { input_tokens: 40, output_tokens: 60 },
    },
  });
  const client = claude();
  const params = { model: CLAUDE, max_tokens: 2048, thinking: { type: "enabled", budget_tokens: 1024 } };
  const first = gw.record(await client.messages.create({ ...params, messages: USER }));
  assert.deepEqual(first.content[0], thinking);
  await client.messages.create({
    ...params,
    messages: [...USER, { role: "assistant", content: first.content }, { role: "user", content: "and again?" }],
  });
  const reqs = gw.standin.requests();
  assert.deepEqual(reqs[0].body.thinking, { type: "enabled", budget_tokens: 1024 });
  assert.deepEqual(reqs[1].body.messages[1].content, first.content);
});

test("messages.stream(): finalMessage() equals the non-streamed answer", async () => {
  const text = "The capital of France is Paris, a city on the Seine.";
  gw.standin.script({ match: { operation: "invoke" }, text, usage: { inputTokens: 17, outputTokens: 13 } });
  gw.standin.script({
    match: { operation: "invoke-with-response-stream" }, text, usage: { inputTokens: 17, outputTokens: 13 },
    stream: { chunkSize: 7 },
  });
  const client = claude();
  const whole = gw.record(await client.messages.create({ model: CLAUDE, max_tokens: 100, messages: USER }));
  const stream = client.messages.stream({ model: CLAUDE, max_tokens: 100, messages: USER });
  const seen = [];
  let deltas = "";
  stream.on("streamEvent", (e) => seen.push(e.type));
  stream.on("text", (t) => (deltas += t));
  const final = gw.record(await stream.finalMessage());
  // Message ids differ per answer; parsed_output is the SDK's own field for structured outputs.
  const { id: _a, ...w } = plain(whole);
  const { id: _b, parsed_output: _p, ...f } = plain(final);
  assert.deepEqual(f, w);
  assert.equal(deltas, text);
  assert.equal(seen[0], "message_start");
  assert.equal(seen.at(-1), "message_stop");
  const r = gw.standin.requests()[1];
  assert.equal(r.operation, "invoke-with-response-stream");
  assert.equal(r.body.stream, undefined);
});

test("the raw stream: event/data framing, usage in message_start, metrics folded not leaked", async () => {
  const res = await fetch(gw.url + "/v1/messages", {
    method: "POST",
    headers: { "content-type": "application/json", "anthropic-version": "2023-06-01", ...longTermHeaders(gw) },
    body: JSON.stringify({ model: CLAUDE, max_tokens: 100, stream: true, messages: USER }),
  });
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type"), /^text\/event-stream/);
  const text = gw.record(await res.text());
  assert.ok(!text.includes("invocationMetrics"), text);
  const events = text.split("\n\n").filter(Boolean).map((e) => {
    const [ev, data] = e.split("\n");
    assert.match(ev, /^event: /);
    assert.match(data, /^data: /);
    const json = JSON.parse(data.slice(6));
    assert.equal(ev.slice(7), json.type);
    return json;
  });
  assert.deepEqual(events[0].message.usage, { input_tokens: 12, output_tokens: 1 });
  const delta = events.find((e) => e.type === "message_delta");
  assert.deepEqual(delta.usage, { output_tokens: 21, input_tokens: 12 });
  assert.deepEqual(events.at(-1), { type: "message_stop" });
});

test("messages.countTokens → CountTokens on the foundation model", async () => {
  gw.standin.script({ match: { operation: "count-tokens" }, inputTokens: 375 });
  const out = await claude().messages.countTokens({
    model: CLAUDE,
    system: "be brief",
    messages: [{ role: "user", content: "What is the weather in Paris?" }],
  });
  assert.deepEqual(out, { input_tokens: 375 });
  const r = only();
  assert.equal(r.operation, "count-tokens");
  assert.equal(r.model, FOUNDATION);
  assert.equal(r.signature.ok, true);
  const inner = JSON.parse(Buffer.from(r.body.input.invokeModel.body, "base64").toString("utf8"));
  assert.equal(inner.anthropic_version, "bedrock-2023-05-31");
  assert.equal(inner.model, undefined);
  assert.equal(inner.system, "be brief");
  assert.deepEqual(inner.messages, [{ role: "user", content: "What is the weather in Paris?" }]);
});

test("count_tokens with an application inference profile ARN counts on its foundation model (looked up once)", async () => {
  const arn = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc123xyz";
  gw.standin.setInferenceProfile(arn, { modelArn: `arn:aws:bedrock:us-east-1::foundation-model/${FOUNDATION}` });
  const lookups = gw.standin.counters.getInferenceProfile;
  for (let i = 0; i < 3; i++) {
    gw.standin.script({ match: { operation: "count-tokens" }, inputTokens: 11 });
    const out = await claude().messages.countTokens({ model: arn, messages: USER });
    assert.deepEqual(out, { input_tokens: 11 });
  }
  const counted = gw.standin.requests().filter((r) => r.operation === "count-tokens").at(-1);
  assert.equal(counted.model, FOUNDATION);
  assert.equal(counted.signature.ok, true);
  assert.equal(gw.standin.counters.getInferenceProfile - lookups, 1, "the profile is looked up once, then cached");
});

const ERRORS = [
  ["ValidationException", 400, "BadRequestError", "invalid_request_error"],
  ["AccessDeniedException", 403, "PermissionDeniedError", "permission_error"],
  ["ResourceNotFoundException", 404, "NotFoundError", "not_found_error"],
  ["ThrottlingException", 429, "RateLimitError", "rate_limit_error"],
  ["InternalServerException", 500, "InternalServerError", "api_error"],
  // Bedrock's 503 stays 503: the SDK raises ServiceUnavailableError; the body says overloaded_error.
  ["ServiceUnavailableException", 503, "ServiceUnavailableError", "overloaded_error"],
];

for (const [errorType, status, cls, type] of ERRORS) {
  test(`Bedrock ${errorType} → ${status} ${type} → Anthropic.${cls}`, async () => {
    for (const op of ["invoke", "invoke-with-response-stream", "count-tokens"]) {
      gw.standin.script({ match: { operation: op }, errorType, message: `scripted ${errorType}` });
    }
    const client = claude();
    const check = (e) => {
      assert.ok(e instanceof Anthropic[cls], `${e?.constructor?.name}: ${e}`);
      assert.equal(e.status, status);
      assert.equal(e.error.type, "error");
      assert.equal(e.error.error.type, type);
      assert.match(e.error.error.message, new RegExp(`scripted ${errorType}`));
      gw.record(e.error);
      return true;
    };
    await assert.rejects(client.messages.create({ model: CLAUDE, max_tokens: 10, messages: USER }), check);
    await assert.rejects(client.messages.stream({ model: CLAUDE, max_tokens: 10, messages: USER }).finalMessage(), check);
    await assert.rejects(client.messages.countTokens({ model: CLAUDE, messages: USER }), check);
  });
}

test("an unknown gateway key → 401 AuthenticationError", async () => {
  const client = claude({ "x-portkey-api-key": "not-a-real-gateway-key" });
  await assert.rejects(client.messages.create({ model: CLAUDE, max_tokens: 10, messages: USER }), (e) => {
    assert.ok(e instanceof Anthropic.AuthenticationError, String(e));
    assert.equal(e.error.error.type, "authentication_error");
    return true;
  });
  assert.equal(gw.standin.requests().length, 0);
});

test("an exception inside the stream → the SDK raises with the error's type", async () => {
  gw.standin.script({
    match: { operation: "invoke-with-response-stream" },
    stream: { exceptionAfterFrames: { after: 3, type: "throttlingException", message: "Too many tokens, slow down" } },
  });
  const res = await fetch(gw.url + "/v1/messages", {
    method: "POST",
    headers: { "content-type": "application/json", ...longTermHeaders(gw) },
    body: JSON.stringify({ model: CLAUDE, max_tokens: 100, stream: true, messages: USER }),
  });
  assert.equal(res.status, 200);
  const text = gw.record(await res.text());
  assert.ok(text.endsWith("\n\n"), text);
  const events = text.trim().split("\n\n");
  assert.equal(events.length, 4, text); // message_start, content_block_start, one delta, the error
  const last = events.at(-1).split("\n");
  assert.equal(last[0], "event: error");
  const err = JSON.parse(last[1].replace(/^data: /, ""));
  assert.deepEqual(Object.keys(err).sort(), ["error", "type"]);
  assert.equal(err.type, "error");
  assert.deepEqual(Object.keys(err.error).sort(), ["message", "type"]);
  assert.equal(err.error.type, "rate_limit_error");
  assert.match(err.error.message, /Too many tokens, slow down/);

  gw.standin.script({
    match: { operation: "invoke-with-response-stream" },
    stream: { exceptionAfterFrames: { after: 3, type: "serviceUnavailableException", message: "Bedrock is busy" } },
  });
  await assert.rejects(claude().messages.stream({ model: CLAUDE, max_tokens: 100, messages: USER }).finalMessage(), (e) => {
    assert.ok(e instanceof Anthropic.APIError, String(e));
    assert.equal(e.error.error.type, "overloaded_error");
    assert.match(e.message, /Bedrock is busy/);
    return true;
  });
});

test("a dropped stream ends with an error event, not silently", async () => {
  gw.standin.script({ match: { operation: "invoke-with-response-stream" }, stream: { dropAfterFrames: 3 } });
  await assert.rejects(claude().messages.stream({ model: CLAUDE, max_tokens: 100, messages: USER }).finalMessage(), (e) => {
    assert.ok(e instanceof Anthropic.APIError, String(e));
    assert.equal(e.error?.error?.type, "api_error");
    return true;
  });
});

test("a non-Claude model → 400 pointing to /v1/chat/completions", async () => {
  await assert.rejects(claude().messages.create({ model: "us.amazon.nova-micro-v1:0", max_tokens: 10, messages: USER }), (e) => {
    assert.ok(e instanceof Anthropic.BadRequestError, String(e));
    assert.equal(e.error.error.type, "invalid_request_error");
    assert.match(e.error.error.message, /\/v1\/chat\/completions/);
    return true;
  });
  assert.equal(gw.standin.requests().length, 0);
});

test("unknown paths and methods under /v1/messages answer Anthropic-shaped errors", async () => {
  const res = await fetch(gw.url + "/v1/messages/batches", { method: "POST", body: "{}" });
  assert.equal(res.status, 404);
  const body = gw.record(await res.json());
  assert.equal(body.type, "error");
  assert.equal(body.error.type, "not_found_error");
  const res2 = await fetch(gw.url + "/messages", { method: "GET" });
  assert.equal(res2.status, 405);
  assert.equal((await res2.json()).type, "error");
});

test("no secret in any log line or body", () => {
  assert.deepEqual(secretLeaks(gw), []);
});
