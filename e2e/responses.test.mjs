// The OpenAI Responses API end to end: real clients (the openai npm SDK, the Vercel AI SDK's
// @ai-sdk/openai, fetch for raw bytes) → the real Worker in workerd → the stand-in, which plays Bedrock
// (SigV4 checked; what Converse received is read back from its request log) and OpenAI's own /v1/responses
// (for an OpenAI target: the body as sent, the answer unchanged).
//
// Contract (the gateway's spec for this route): POST /v1/responses (also /responses); GET and DELETE
// /v1/responses/{id}; stored by default (store omitted or true), scoped to the gateway key; unknown or
// other-scope ids → 404 {error: {type: invalid_request_error, code: response_not_found, param: null}};
// ids resp_<hex>; message items msg_…, function_call items fc_… whose call_id is Bedrock's toolUseId;
// usage {input_tokens, input_tokens_details.cached_tokens, output_tokens, output_tokens_details.reasoning_tokens,
// total_tokens}; status incomplete (incomplete_details.reason max_output_tokens) when Bedrock stops at max
// tokens; built-in tools → 400 naming the type, param tools[i]; stream errors after the answer started →
// a response.failed event; errors before any output → a real HTTP error; every chat header and config works.
// By analogy with the chat route (README): instructions → Converse `system`, `text.format` json_schema →
// outputConfig.textFormat as response_format does, `reasoning.effort` → thinking as reasoning_effort does,
// max_output_tokens → inferenceConfig.maxTokens, input_tokens = Bedrock input + cache read + cache write.
import { test, before, after, beforeEach } from "node:test";
import assert from "node:assert/strict";
import OpenAI from "openai";
import { createOpenAI } from "@ai-sdk/openai";
import { generateText, streamText, tool, jsonSchema, stepCountIs } from "ai";
import { startGateway, openaiClient, rawChat, secretLeaks, isolateFailures, openaiRecord } from "./harness.mjs";
import { OPENAI_TEXT_PREFIX, OPENAI_RESPONSES_OPERATION } from "../standin/openai.mjs";

const NOVA = "us.amazon.nova-micro-v1:0";
const CLAUDE_37 = "us.anthropic.claude-3-7-sonnet-20250219-v1:0";
const SONNET_45 = "us.anthropic.claude-sonnet-4-5-20250929-v1:0";
const GPT = "gpt-4o-mini";
const QUESTION = "What is the capital of France?";
/** The stand-in's default Converse answer (and its usage: 7 in, 30 out). */
const HELLO = "Hello! How can I assist you today? Whether you have questions, need information, or just want to chat, I'm here to help.";
/** The stand-in's default ConverseStream answer starts so. */
const STREAM_TEXT = /^The capital of France is Paris/;
/** A second gateway key (another scope for stored responses). */
const OTHER_KEY = "ek_e2e_other_scope_9d3c1b7a5e2f4c6b8a0d";
const PROVIDER = { "x-portkey-provider": "@demo" };
const WEATHER_PARAMS = { type: "object", properties: { city: { type: "string" } }, required: ["city"], additionalProperties: false };
const WEATHER = { type: "function", name: "get_weather", description: "The weather in a city", parameters: WEATHER_PARAMS, strict: true };
const TOOL_USE_ID = "tooluse_weather_e2e_01";
const TOOL_OUTPUT = '{"temperature":21,"unit":"c"}';
/** What a whole stream of one message looks like (runs of deltas collapsed). */
const TEXT_EVENT_ORDER = [
  "response.created", "response.in_progress", "response.output_item.added", "response.content_part.added",
  "response.output_text.delta", "response.output_text.done", "response.content_part.done", "response.output_item.done",
  "response.completed",
];

let gw;
before(async () => {
  gw = await startGateway({ slugs: { demo: true } });
  await gw.seedProvider("openai-prod", openaiRecord(gw.standin));
  await gw.seedKey(OTHER_KEY, { name: "e2e-other", providers: ["*"] });
});
after(async () => {
  await gw?.close();
});
beforeEach(() => gw.standin.reset());

// ------------------------------------------------------------------ helpers

const client = (headers = PROVIDER, key = gw.gatewayKey) => openaiClient(gw, headers, key);

/** The stand-in's Bedrock runtime requests (Converse / ConverseStream), each signature checked. */
function converseCalls() {
  const reqs = gw.standin.requests().filter((r) => r.operation === "converse" || r.operation === "converse-stream");
  for (const r of reqs) assert.equal(r.signature.ok, true, `${r.operation}: ${r.signature.error}`);
  return reqs;
}
/** The one Converse body the stand-in received. */
function converse() {
  const reqs = converseCalls();
  assert.equal(reqs.length, 1, `the stand-in received ${reqs.length} Converse requests`);
  return reqs[0].body;
}
const openaiResponsesCalls = () => gw.standin.requests().filter((r) => r.operation === OPENAI_RESPONSES_OPERATION);

/** A Converse JSON answer of text and/or tool uses. */
function converseAnswer(content, { stopReason = "end_turn", usage = { inputTokens: 12, outputTokens: 3, totalTokens: 15 } } = {}) {
  return { output: { message: { role: "assistant", content } }, stopReason, usage, metrics: { latencyMs: 10 } };
}
const scriptToolUse = () =>
  gw.standin.script({
    match: { operation: "converse" },
    json: converseAnswer([{ toolUse: { toolUseId: TOOL_USE_ID, name: "get_weather", input: { city: "Paris" } } }], { stopReason: "tool_use" }),
  });
const ev = (type, payload) => ({ type, payload });
const toolStreamEvents = [
  ev("messageStart", { role: "assistant" }),
  ev("contentBlockStart", { contentBlockIndex: 0, start: { toolUse: { toolUseId: TOOL_USE_ID, name: "get_weather" } } }),
  ev("contentBlockDelta", { contentBlockIndex: 0, delta: { toolUse: { input: '{"city":' } } }),
  ev("contentBlockDelta", { contentBlockIndex: 0, delta: { toolUse: { input: ' "Paris"}' } } }),
  ev("contentBlockStop", { contentBlockIndex: 0 }),
  ev("messageStop", { stopReason: "tool_use" }),
  ev("metadata", { usage: { inputTokens: 10, outputTokens: 20, totalTokens: 30 }, metrics: { latencyMs: 120 } }),
];

/** POST /v1/responses (or `path`) with fetch; {status, headers, text, json}. */
async function rawResponses(body, headers = PROVIDER, path = "/v1/responses") {
  const res = await fetch(gw.url + path, {
    method: "POST",
    headers: Object.fromEntries(
      Object.entries({ "content-type": "application/json", "x-portkey-api-key": gw.gatewayKey, ...headers }).filter(([, v]) => v != null),
    ),
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  const text = await res.text();
  gw.record(text);
  let json = null;
  try {
    json = JSON.parse(text);
  } catch {}
  return { status: res.status, headers: res.headers, text, json };
}

/** A Responses SSE body → [{event, data}], data parsed (null when it is not JSON). */
function namedEvents(text) {
  return text
    .split(/\r?\n\r?\n/)
    .filter((b) => b.trim())
    .map((block) => {
      const lines = block.split(/\r?\n/);
      const event = lines.find((l) => l.startsWith("event:"))?.slice(6).trim() ?? null;
      const raw = lines.filter((l) => l.startsWith("data:")).map((l) => l.slice(5).trimStart()).join("\n");
      let data = null;
      try {
        data = JSON.parse(raw);
      } catch {}
      return { event, data, raw };
    });
}

/** Every event named (`event:` = data.type), sequence_number 0, 1, 2, ...; returns the data list. */
function assertEventFraming(events) {
  assert.ok(events.length > 0, "no events");
  for (const [i, e] of events.entries()) {
    assert.ok(e.data && typeof e.data.type === "string", `event ${i} is not a JSON event: ${e.raw.slice(0, 120)}`);
    assert.equal(e.event, e.data.type, `event ${i}: the SSE event name is the payload's type`);
    assert.equal(e.data.sequence_number, i, `event ${i} (${e.data.type}): sequence_number ${e.data.sequence_number}`);
  }
  return events.map((e) => e.data);
}

const collapse = (types) => types.filter((t, i) => !(t.endsWith(".delta") && types[i - 1] === t));

/** An OpenAI-shaped error body; returns its error. */
function assertOpenAIError(res, status, what = "") {
  assert.equal(res.status, status, `${what}: ${res.status} ${res.text.slice(0, 300)}`);
  assert.ok(res.json?.error && typeof res.json.error.message === "string", `${what}: not OpenAI-shaped: ${res.text.slice(0, 300)}`);
  assert.deepEqual(Object.keys(res.json.error).sort(), ["code", "message", "param", "type"], what);
  return res.json.error;
}

/** Resolves p, or rejects after ms (a hung stream fails the test instead of the suite). */
function within(p, ms, what) {
  let timer;
  return Promise.race([p, new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: no end after ${ms} ms`)), ms)))]).finally(() =>
    clearTimeout(timer),
  );
}

function assertMessageItem(item, text) {
  assert.equal(item.type, "message");
  assert.match(item.id, /^msg_/);
  assert.equal(item.status, "completed");
  assert.equal(item.role, "assistant");
  assert.equal(item.content.length, 1);
  assert.equal(item.content[0].type, "output_text");
  assert.equal(item.content[0].text, text);
  assert.deepEqual(item.content[0].annotations, []);
}

function assertUsageShape(u) {
  assert.ok(u, "usage present");
  for (const k of ["input_tokens", "output_tokens", "total_tokens"]) assert.equal(typeof u[k], "number", k);
  assert.equal(typeof u.input_tokens_details?.cached_tokens, "number", "input_tokens_details.cached_tokens");
  assert.equal(typeof u.output_tokens_details?.reasoning_tokens, "number", "output_tokens_details.reasoning_tokens");
  assert.equal(u.total_tokens, u.input_tokens + u.output_tokens);
}

// ------------------------------------------------------------------ openai SDK: create

test("responses.create: string input + instructions → one message, output_text, usage, completed, resp_ id; Converse got system + user", async () => {
  gw.standin.script({
    match: { operation: "converse" },
    json: converseAnswer([{ text: "Paris." }], { usage: { inputTokens: 10, outputTokens: 7, totalTokens: 1217, cacheReadInputTokens: 1000, cacheWriteInputTokens: 200 } }),
  });
  const { data: r, response } = await client().responses.create({ model: NOVA, input: QUESTION, instructions: "Answer in one word." }).withResponse();
  gw.record(r);
  assert.equal(response.status, 200);
  assert.equal(response.headers.get("x-portkey-provider"), "@demo");
  assert.match(r.id, /^resp_[0-9a-f]+$/);
  assert.equal(r.object, "response");
  assert.equal(r.status, "completed");
  assert.equal(typeof r.created_at, "number");
  assert.ok(Math.abs(r.created_at - Date.now() / 1000) < 60, `created_at ${r.created_at}`);
  assert.equal(r.model, NOVA);
  assert.equal(r.error ?? null, null);
  assert.equal(r.incomplete_details ?? null, null);
  assert.equal(r.output.length, 1);
  assertMessageItem(r.output[0], "Paris.");
  assert.equal(r.output_text, "Paris.");
  assertUsageShape(r.usage);
  assert.equal(r.usage.input_tokens, 1210, "input + cache read + cache write, as prompt_tokens on chat");
  assert.equal(r.usage.input_tokens_details.cached_tokens, 1000);
  assert.equal(r.usage.output_tokens, 7);
  assert.equal(r.usage.output_tokens_details.reasoning_tokens, 0);
  assert.equal(r.usage.total_tokens, 1217);

  const body = converse();
  assert.deepEqual(body.system, [{ text: "Answer in one word." }]);
  assert.deepEqual(body.messages, [{ role: "user", content: [{ text: QUESTION }] }]);
  assert.equal(converseCalls()[0].model, NOVA);
});

test("responses.create: the default answer, two calls have different ids; input items (developer + user parts); max_output_tokens → maxTokens", async () => {
  const c = client();
  const a = gw.record(await c.responses.create({ model: NOVA, input: "hi" }));
  const b = gw.record(await c.responses.create({ model: NOVA, input: "hi" }));
  assert.equal(a.output_text, HELLO);
  assert.notEqual(a.id, b.id);
  assert.deepEqual([a.usage.input_tokens, a.usage.output_tokens, a.usage.total_tokens], [7, 30, 37], "the Converse usage");

  gw.standin.reset();
  const items = gw.record(await c.responses.create({
    model: NOVA,
    input: [
      { role: "developer", content: "Be brief." },
      { type: "message", role: "user", content: [{ type: "input_text", text: "Capital of" }, { type: "input_text", text: "France?" }] },
    ],
    max_output_tokens: 64,
    temperature: 0,
  }));
  assert.equal(items.output_text, HELLO);
  const body = converse();
  assert.deepEqual(body.system, [{ text: "Be brief." }]);
  assert.deepEqual(body.messages, [{ role: "user", content: [{ text: "Capital of" }, { text: "France?" }] }]);
  assert.equal(body.inferenceConfig.maxTokens, 64);
  assert.equal(body.inferenceConfig.temperature, 0);
});

test("POST /responses (without /v1) and @slug/model in the body work too", async () => {
  const res = await rawResponses({ model: NOVA, input: "hi" }, PROVIDER, "/responses");
  assert.equal(res.status, 200, res.text);
  assert.equal(res.json.object, "response");
  assert.equal(res.json.output[0].content[0].text, HELLO);

  gw.standin.reset();
  const r = gw.record(await client({}).responses.create({ model: `@demo/${NOVA}`, input: "hi" }));
  assert.equal(r.output_text, HELLO);
  assert.equal(converseCalls()[0].model, NOVA);
});

test("Bedrock stops at max tokens → status incomplete, incomplete_details.reason max_output_tokens (JSON and stream)", async () => {
  gw.standin.script({ match: { operation: "converse" }, text: "The capital of", stopReason: "max_tokens" });
  const r = gw.record(await client().responses.create({ model: NOVA, input: QUESTION, max_output_tokens: 3 }));
  assert.equal(r.status, "incomplete");
  assert.equal(r.incomplete_details?.reason, "max_output_tokens");
  assert.equal(r.output_text, "The capital of");

  gw.standin.script({ match: { operation: "converse-stream" }, text: "The capital of", stopReason: "max_tokens" });
  const res = await rawResponses({ model: NOVA, input: QUESTION, max_output_tokens: 3, stream: true });
  assert.equal(res.status, 200, res.text.slice(0, 300));
  const events = assertEventFraming(namedEvents(res.text));
  const last = events.at(-1);
  assert.equal(last.type, "response.incomplete", `last event ${last.type}`);
  assert.equal(last.response.status, "incomplete");
  assert.equal(last.response.incomplete_details?.reason, "max_output_tokens");
});

// ------------------------------------------------------------------ openai SDK: stream

test("responses.stream: text deltas arrive, finalResponse() matches; events in OpenAI's order, sequence_number 0, 1, 2, ...", async () => {
  const stream = client().responses.stream({ model: NOVA, input: QUESTION, instructions: "Be brief." });
  const events = [];
  let deltas = "";
  stream.on("response.output_text.delta", (e) => (deltas += e.delta));
  for await (const e of stream) events.push(e);
  const final = gw.record(await stream.finalResponse());
  gw.record(events);
  assert.match(deltas, STREAM_TEXT);
  assert.ok(events.filter((e) => e.type === "response.output_text.delta").length > 3, "the text came in several deltas");
  assert.deepEqual(collapse(events.map((e) => e.type)), TEXT_EVENT_ORDER);
  assert.deepEqual(events.map((e) => e.sequence_number), events.map((_, i) => i));
  assert.equal(final.status, "completed");
  assert.equal(final.output_text, deltas);
  assert.match(final.id, /^resp_[0-9a-f]+$/);
  assert.equal(events[0].response.id, final.id);
  assert.equal(events[0].response.status, "in_progress");
  assert.equal(events.at(-1).response.id, final.id);
  assertMessageItem(final.output[0], deltas);
  const done = events.find((e) => e.type === "response.output_text.done");
  assert.equal(done.text, deltas);
  const added = events.find((e) => e.type === "response.output_item.added");
  assert.equal(added.item.id, final.output[0].id);
  assert.ok(events.filter((e) => e.item_id !== undefined).every((e) => e.item_id === final.output[0].id), "item_id is the message's id");
  assertUsageShape(final.usage);
  assert.ok(final.usage.output_tokens > 0);

  const r = converseCalls();
  assert.equal(r.length, 1);
  assert.equal(r[0].operation, "converse-stream");
  assert.deepEqual(r[0].body.system, [{ text: "Be brief." }]);
  assert.equal(r[0].streamEnd, "complete");
});

test("stream, raw bytes: text/event-stream, `event: <type>` + `data: <json>` per event, ends with response.completed", async () => {
  gw.standin.script({ match: { operation: "converse-stream" }, text: "Paris is the capital of France." });
  const res = await rawResponses({ model: NOVA, input: QUESTION, stream: true });
  assert.equal(res.status, 200, res.text.slice(0, 300));
  assert.match(res.headers.get("content-type"), /^text\/event-stream/);
  const events = assertEventFraming(namedEvents(res.text).filter((e) => e.raw !== "[DONE]"));
  assert.deepEqual(collapse(events.map((e) => e.type)), TEXT_EVENT_ORDER);
  const text = events.filter((e) => e.type === "response.output_text.delta").map((e) => e.delta).join("");
  assert.equal(text, "Paris is the capital of France.");
  const completed = events.at(-1).response;
  assert.equal(completed.status, "completed");
  assertMessageItem(completed.output[0], text);
  assertUsageShape(completed.usage);
});

// ------------------------------------------------------------------ function tools

test("function tool (strict): a function_call item (call_id = Bedrock's toolUseId, JSON-string arguments); Converse got the toolSpec", async () => {
  scriptToolUse();
  const r = gw.record(await client().responses.create({ model: NOVA, input: "Weather in Paris?", tools: [WEATHER] }));
  assert.equal(r.status, "completed");
  const calls = r.output.filter((o) => o.type === "function_call");
  assert.equal(calls.length, 1, JSON.stringify(r.output));
  const [fc] = calls;
  assert.match(fc.id, /^fc_/);
  assert.equal(fc.call_id, TOOL_USE_ID);
  assert.equal(fc.name, "get_weather");
  assert.equal(typeof fc.arguments, "string");
  assert.deepEqual(JSON.parse(fc.arguments), { city: "Paris" });
  assert.equal(fc.status, "completed");
  assert.equal(r.output_text, "");

  const body = converse();
  assert.equal(body.toolConfig.tools.length, 1);
  const spec = body.toolConfig.tools[0].toolSpec;
  assert.equal(spec.name, "get_weather");
  assert.equal(spec.description, "The weather in a city");
  assert.deepEqual(spec.inputSchema.json, WEATHER_PARAMS);
});

test("function tool, streamed: output_item.added (function_call), function_call_arguments.delta / .done, final function_call", async () => {
  gw.standin.script({ match: { operation: "converse-stream" }, stream: { events: toolStreamEvents } });
  const stream = client().responses.stream({ model: NOVA, input: "Weather in Paris?", tools: [WEATHER] });
  const events = [];
  for await (const e of stream) events.push(e);
  const final = gw.record(await stream.finalResponse());
  gw.record(events);
  assert.deepEqual(events.map((e) => e.sequence_number), events.map((_, i) => i));
  const types = collapse(events.map((e) => e.type));
  assert.deepEqual(types, [
    "response.created", "response.in_progress", "response.output_item.added", "response.function_call_arguments.delta",
    "response.function_call_arguments.done", "response.output_item.done", "response.completed",
  ]);
  const added = events.find((e) => e.type === "response.output_item.added");
  assert.equal(added.item.type, "function_call");
  assert.equal(added.item.call_id, TOOL_USE_ID);
  assert.equal(added.item.name, "get_weather");
  const deltas = events.filter((e) => e.type === "response.function_call_arguments.delta").map((e) => e.delta).join("");
  assert.deepEqual(JSON.parse(deltas), { city: "Paris" });
  const argsDone = events.find((e) => e.type === "response.function_call_arguments.done");
  assert.deepEqual(JSON.parse(argsDone.arguments), { city: "Paris" });
  const [fc] = final.output;
  assert.equal(final.output.length, 1);
  assert.equal(fc.type, "function_call");
  assert.match(fc.id, /^fc_/);
  assert.equal(fc.call_id, TOOL_USE_ID);
  assert.deepEqual(JSON.parse(fc.arguments), { city: "Paris" });
  assert.equal(fc.status, "completed");
  assert.equal(events.at(-1).response.output[0].call_id, TOOL_USE_ID);
});

/** The Converse messages of a tool round trip: the question, toolUse, toolResult (same id). */
function assertToolRoundTrip(body, question = "Weather in Paris?") {
  assert.deepEqual(body.messages, [
    { role: "user", content: [{ text: question }] },
    { role: "assistant", content: [{ toolUse: { toolUseId: TOOL_USE_ID, name: "get_weather", input: { city: "Paris" } } }] },
    { role: "user", content: [{ toolResult: { toolUseId: TOOL_USE_ID, content: [{ text: TOOL_OUTPUT }] } }] },
  ]);
  assert.ok(body.toolConfig?.tools?.some((t) => t.toolSpec?.name === "get_weather"), "a toolConfig naming the tool");
}

test("tool round trip, full input: [...input, function_call item, function_call_output] → text; Bedrock got toolUse + toolResult with the same id", async () => {
  const c = client();
  const input = [{ role: "user", content: "Weather in Paris?" }];
  scriptToolUse();
  const first = gw.record(await c.responses.create({ model: NOVA, input, tools: [WEATHER] }));
  const fc = first.output.find((o) => o.type === "function_call");
  assert.ok(fc, JSON.stringify(first.output));

  gw.standin.reset();
  gw.standin.script({ match: { operation: "converse" }, text: "It is 21 °C in Paris." });
  const second = gw.record(await c.responses.create({
    model: NOVA,
    input: [...input, fc, { type: "function_call_output", call_id: fc.call_id, output: TOOL_OUTPUT }],
    tools: [WEATHER],
  }));
  assert.equal(second.status, "completed");
  assert.equal(second.output_text, "It is 21 °C in Paris.");
  assert.equal(second.output.length, 1);
  assertMessageItem(second.output[0], "It is 21 °C in Paris.");
  assertToolRoundTrip(converse());

  // The item as the caller would write it by hand (no id, no status) works the same.
  gw.standin.reset();
  const third = gw.record(await c.responses.create({
    model: NOVA,
    input: [...input, { type: "function_call", call_id: fc.call_id, name: fc.name, arguments: fc.arguments }, { type: "function_call_output", call_id: fc.call_id, output: TOOL_OUTPUT }],
    tools: [WEATHER],
  }));
  assert.equal(third.output_text, HELLO);
  assertToolRoundTrip(converse());
});

test("tool round trip with previous_response_id + only the function_call_output item", async () => {
  const c = client();
  scriptToolUse();
  const first = gw.record(await c.responses.create({ model: NOVA, input: "Weather in Paris?", tools: [WEATHER] }));
  const fc = first.output.find((o) => o.type === "function_call");
  assert.equal(fc?.call_id, TOOL_USE_ID);

  gw.standin.reset();
  gw.standin.script({ match: { operation: "converse" }, text: "It is 21 °C in Paris." });
  const second = gw.record(await c.responses.create({
    model: NOVA,
    previous_response_id: first.id,
    input: [{ type: "function_call_output", call_id: fc.call_id, output: TOOL_OUTPUT }],
    tools: [WEATHER],
  }));
  assert.equal(second.output_text, "It is 21 °C in Paris.");
  assert.equal(second.previous_response_id, first.id);
  assertToolRoundTrip(converse());

  // Streamed, the same turn.
  gw.standin.reset();
  const streamed = gw.record(await client().responses.stream({
    model: NOVA,
    previous_response_id: first.id,
    input: [{ type: "function_call_output", call_id: fc.call_id, output: TOOL_OUTPUT }],
    tools: [WEATHER],
  }).finalResponse());
  assert.match(streamed.output_text, STREAM_TEXT);
  assertToolRoundTrip(converse());
});

// ------------------------------------------------------------------ conversation state

test("two turns via previous_response_id: the second Converse request carries the first turn's question and answer", async () => {
  const c = client();
  gw.standin.script({ match: { operation: "converse" }, text: "Paris." });
  const first = gw.record(await c.responses.create({ model: NOVA, input: QUESTION, instructions: "Be brief." }));
  assert.equal(first.output_text, "Paris.");

  gw.standin.reset();
  gw.standin.script({ match: { operation: "converse" }, text: "Berlin." });
  const second = gw.record(await c.responses.create({ model: NOVA, input: "And of Germany?", previous_response_id: first.id }));
  assert.equal(second.output_text, "Berlin.");
  assert.notEqual(second.id, first.id);
  assert.equal(second.previous_response_id, first.id);
  assert.deepEqual(converse().messages, [
    { role: "user", content: [{ text: QUESTION }] },
    { role: "assistant", content: [{ text: "Paris." }] },
    { role: "user", content: [{ text: "And of Germany?" }] },
  ]);

  // A third turn streamed on top of the second: the whole history.
  gw.standin.reset();
  const third = gw.record(await c.responses.stream({ model: NOVA, input: "And of Italy?", previous_response_id: second.id }).finalResponse());
  assert.match(third.output_text, STREAM_TEXT);
  assert.deepEqual(converse().messages.map((m) => [m.role, m.content[0].text]), [
    ["user", QUESTION], ["assistant", "Paris."], ["user", "And of Germany?"], ["assistant", "Berlin."], ["user", "And of Italy?"],
  ]);
  // The streamed answer was stored too.
  const got = gw.record(await c.responses.retrieve(third.id));
  assert.equal(got.output_text, third.output_text);
});

test("retrieve returns the stored response; delete → {id, object, deleted: true}; then retrieve → 404 response_not_found", async () => {
  const c = client();
  gw.standin.script({ match: { operation: "converse" }, text: "Paris." });
  const r = gw.record(await c.responses.create({ model: NOVA, input: QUESTION }));
  const got = gw.record(await c.responses.retrieve(r.id));
  assert.equal(got.id, r.id);
  assert.equal(got.object, "response");
  assert.equal(got.status, "completed");
  assert.equal(got.output_text, "Paris.");
  assert.deepEqual(got.output, r.output);
  assert.deepEqual(got.usage, r.usage);
  assert.equal(converseCalls().length, 1, "retrieve does not call Bedrock");

  const del = await c.responses.delete(r.id);
  gw.record(del ?? {});
  assert.deepEqual(del, { id: r.id, object: "response", deleted: true });
  const err = await c.responses.retrieve(r.id).catch((e) => e);
  assert.ok(err instanceof OpenAI.NotFoundError, `got ${err?.constructor?.name}: ${err?.message}`);
  assert.equal(err.status, 404);
  assert.equal(err.code, "response_not_found");
  assert.equal(err.type, "invalid_request_error");
  assert.equal(err.param ?? null, null);

  // Raw: the 404 body, and a delete of a deleted id.
  for (const method of ["GET", "DELETE"]) {
    const res = await fetch(`${gw.url}/v1/responses/${r.id}`, { method, headers: { "x-portkey-api-key": gw.gatewayKey } });
    const text = await res.text();
    gw.record(text);
    const e = assertOpenAIError({ status: res.status, text, json: JSON.parse(text) }, 404, method);
    assert.equal(e.type, "invalid_request_error");
    assert.equal(e.code, "response_not_found");
    assert.equal(e.param, null);
  }
  // An id that never existed, and GET without /v1.
  const unknown = await fetch(`${gw.url}/responses/resp_0123456789abcdef0123456789abcdef`, { headers: { "x-portkey-api-key": gw.gatewayKey } });
  assert.equal(unknown.status, 404);
  assert.equal((await unknown.json()).error.code, "response_not_found");
});

test("stored responses are scoped to the gateway key: another key → 404 (retrieve, delete, previous_response_id)", async () => {
  const r = gw.record(await client().responses.create({ model: NOVA, input: QUESTION }));
  const other = client(PROVIDER, OTHER_KEY);
  const err = await other.responses.retrieve(r.id).catch((e) => e);
  assert.ok(err instanceof OpenAI.NotFoundError, `got ${err?.constructor?.name}: ${err?.message}`);
  assert.equal(err.code, "response_not_found");
  const delErr = await other.responses.delete(r.id).catch((e) => e);
  assert.ok(delErr instanceof OpenAI.NotFoundError, `delete: got ${delErr?.constructor?.name}`);
  const prevErr = await other.responses.create({ model: NOVA, input: "x", previous_response_id: r.id }).catch((e) => e);
  assert.ok(prevErr instanceof OpenAI.BadRequestError, `previous_response_id: got ${prevErr?.constructor?.name}: ${prevErr?.message}`);
  assert.equal(prevErr.code, "previous_response_not_found");
  // Still there for its own key.
  assert.equal((await client().responses.retrieve(r.id)).id, r.id);
  assert.equal(converseCalls().length, 1, "only the first create reached Bedrock");
  // No key at all → 401.
  const anon = await fetch(`${gw.url}/v1/responses/${r.id}`);
  assert.equal(anon.status, 401);
  gw.record(await anon.text());
});

test("store: false → not retrievable (404) and previous_response_id → 400 previous_response_not_found, param previous_response_id", async () => {
  const c = client();
  const r = gw.record(await c.responses.create({ model: NOVA, input: QUESTION, store: false }));
  assert.equal(r.status, "completed");
  assert.equal(r.output_text, HELLO);
  const err = await c.responses.retrieve(r.id).catch((e) => e);
  assert.ok(err instanceof OpenAI.NotFoundError, `got ${err?.constructor?.name}: ${err?.message}`);

  gw.standin.reset();
  const res = await rawResponses({ model: NOVA, input: "And?", previous_response_id: r.id });
  const e = assertOpenAIError(res, 400, "previous_response_id of an unstored response");
  assert.equal(e.type, "invalid_request_error");
  assert.equal(e.code, "previous_response_not_found");
  assert.equal(e.param, "previous_response_id");
  const sdkErr = await c.responses.create({ model: NOVA, input: "And?", previous_response_id: r.id }).catch((x) => x);
  assert.ok(sdkErr instanceof OpenAI.BadRequestError, `got ${sdkErr?.constructor?.name}`);
  assert.equal(sdkErr.param, "previous_response_id");
  assert.deepEqual(gw.standin.requests(), [], "nothing sent to Bedrock");

  // A streamed store: false answer is not kept either.
  const s = gw.record(await c.responses.stream({ model: NOVA, input: QUESTION, store: false }).finalResponse());
  const err2 = await c.responses.retrieve(s.id).catch((x) => x);
  assert.ok(err2 instanceof OpenAI.NotFoundError, `stream: got ${err2?.constructor?.name}`);
});

// ------------------------------------------------------------------ structured output, reasoning

test("text.format json_schema → outputConfig.textFormat exactly as chat's response_format; output_text parses; responses.parse with zod", async () => {
  const schema = { type: "object", properties: { city: { type: "string" }, country: { type: "string" } }, required: ["city", "country"], additionalProperties: false };
  const ANSWER = '{"city":"Paris","country":"France"}';
  gw.standin.script({ match: { operation: "converse" }, text: ANSWER });
  const r = gw.record(await client().responses.create({
    model: SONNET_45,
    input: "Where is the Eiffel Tower?",
    text: { format: { type: "json_schema", name: "City", schema, strict: true } },
  }));
  assert.deepEqual(JSON.parse(r.output_text), { city: "Paris", country: "France" });
  const format = converse().outputConfig.textFormat;
  assert.equal(format.type, "json_schema");
  assert.equal(format.structure.jsonSchema.name, "City");
  assert.deepEqual(JSON.parse(format.structure.jsonSchema.schema), schema);

  // The chat route with the same schema: the same outputConfig.
  gw.standin.reset();
  gw.standin.script({ match: { operation: "converse" }, text: ANSWER });
  const chat = await rawChat(gw, {
    model: SONNET_45,
    messages: [{ role: "user", content: "Where is the Eiffel Tower?" }],
    response_format: { type: "json_schema", json_schema: { name: "City", schema, strict: true } },
  }, PROVIDER);
  assert.equal(chat.status, 200, chat.text);
  const chatBody = converse();
  gw.standin.reset();
  gw.standin.script({ match: { operation: "converse" }, text: ANSWER });
  await client().responses.create({ model: SONNET_45, input: "Where is the Eiffel Tower?", text: { format: { type: "json_schema", name: "City", schema, strict: true } } });
  assert.deepEqual(converse().outputConfig, chatBody.outputConfig);

  // responses.parse with a zod schema (zod is in node_modules through the SDKs).
  const { z } = await import("zod");
  const { zodTextFormat } = await import("openai/helpers/zod");
  gw.standin.reset();
  gw.standin.script({ match: { operation: "converse" }, text: ANSWER });
  const parsed = gw.record(await client().responses.parse({
    model: SONNET_45,
    input: "Where is the Eiffel Tower?",
    text: { format: zodTextFormat(z.object({ city: z.string(), country: z.string() }), "City") },
  }));
  assert.deepEqual(parsed.output_parsed, { city: "Paris", country: "France" });
  const zodFormat = converse().outputConfig.textFormat;
  assert.equal(zodFormat.structure.jsonSchema.name, "City");
  assert.deepEqual(JSON.parse(zodFormat.structure.jsonSchema.schema).required, ["city", "country"]);
});

test("reasoning: {effort: 'low'} → the same thinking as chat's reasoning_effort: 'low'", async () => {
  gw.standin.script({ match: { operation: "converse" }, text: "Paris." });
  const r = gw.record(await client().responses.create({ model: CLAUDE_37, input: QUESTION, reasoning: { effort: "low" }, max_output_tokens: 8000 }));
  assert.equal(r.output_text, "Paris.");
  const body = converse();
  assert.deepEqual(body.additionalModelRequestFields, { thinking: { type: "enabled", budget_tokens: 1600 } });
  assert.equal(body.inferenceConfig.maxTokens, 8000);

  gw.standin.reset();
  const chat = await rawChat(gw, { model: CLAUDE_37, messages: [{ role: "user", content: QUESTION }], reasoning_effort: "low", max_tokens: 8000 }, PROVIDER);
  assert.equal(chat.status, 200, chat.text);
  const chatBody = converse();
  assert.deepEqual(body.additionalModelRequestFields, chatBody.additionalModelRequestFields);
  assert.deepEqual(body.inferenceConfig, chatBody.inferenceConfig);
});

// ------------------------------------------------------------------ refused

const BUILTIN = [
  ["web_search", { type: "web_search" }],
  ["file_search", { type: "file_search", vector_store_ids: ["vs_e2e"] }],
  ["code_interpreter", { type: "code_interpreter", container: { type: "auto" } }],
  ["computer_use_preview", { type: "computer_use_preview", display_width: 1024, display_height: 768, environment: "browser" }],
];

for (const [name, spec] of BUILTIN) {
  test(`built-in tool ${name} → 400 invalid_request_error naming it, param tools[0], nothing sent`, async () => {
    const res = await rawResponses({ model: NOVA, input: QUESTION, tools: [spec] });
    const e = assertOpenAIError(res, 400, name);
    assert.equal(e.type, "invalid_request_error");
    assert.ok(e.message.includes(name), `the message names ${name}: ${e.message}`);
    assert.equal(e.param, "tools[0]");
    const err = await client().responses.create({ model: NOVA, input: QUESTION, tools: [spec] }).catch((x) => x);
    assert.ok(err instanceof OpenAI.BadRequestError, `got ${err?.constructor?.name}`);
    // Second in the list: tools[1].
    const second = await rawResponses({ model: NOVA, input: QUESTION, tools: [WEATHER, spec] });
    assert.equal(assertOpenAIError(second, 400, `${name} second`).param, "tools[1]");
    assert.deepEqual(gw.standin.requests(), []);
  });
}

// ------------------------------------------------------------------ errors

test("a stream failing after output started → response.failed (status failed, error code/message), then the stream ends", async () => {
  const faults = [
    ["an exception mid-stream", { exceptionAfterFrames: { after: 5, type: "modelStreamErrorException", message: "The model stream broke." } }, /stream broke/],
    ["a dropped connection", { dropAfterFrames: 6 }, null],
    ["a CRC mismatch", { corruptCrcAtFrame: 6 }, null],
  ];
  for (const [what, fault, message] of faults) {
    gw.standin.reset();
    gw.standin.script({ match: { operation: "converse-stream" }, stream: fault });
    const res = await within(rawResponses({ model: NOVA, input: QUESTION, stream: true }), 15_000, what);
    assert.equal(res.status, 200, `${what}: ${res.text.slice(0, 300)}`);
    const events = assertEventFraming(namedEvents(res.text).filter((e) => e.raw !== "[DONE]"));
    const last = events.at(-1);
    assert.equal(last.type, "response.failed", `${what}: last event ${last.type}: ${JSON.stringify(last).slice(0, 300)}`);
    assert.equal(last.response.status, "failed");
    assert.equal(typeof last.response.error?.code, "string", `${what}: response.error.code`);
    assert.equal(typeof last.response.error?.message, "string", `${what}: response.error.message`);
    if (message) assert.match(last.response.error.message, message);
    assert.equal(last.response.id, events[0].response.id);
    assert.ok(events.some((e) => e.type === "response.output_text.delta"), `${what}: content came first`);
    assert.ok(!events.some((e) => e.type === "response.completed"), `${what}: not completed`);
  }
});

test("openai SDK: responses.stream over a failing stream ends (no hang): response.failed → finalResponse() status failed, or an error", async () => {
  gw.standin.script({ match: { operation: "converse-stream" }, stream: { exceptionAfterFrames: { after: 5, type: "modelStreamErrorException", message: "The model stream broke." } } });
  const stream = client().responses.stream({ model: NOVA, input: QUESTION });
  const seen = [];
  const outcome = await within(
    (async () => {
      for await (const e of stream) seen.push(e.type);
      return stream.finalResponse();
    })().catch((e) => e),
    15_000,
    "responses.stream",
  );
  gw.record(seen);
  assert.ok(seen.includes("response.output_text.delta"), "content arrived first");
  // openai 7.57 does not raise on response.failed (only on an `error` event or a broken stream): the
  // iteration ends with that event and finalResponse() resolves with the failed response.
  assert.ok(!(outcome instanceof Error), `the SDK raised: ${outcome?.constructor?.name}: ${outcome?.message}`);
  assert.equal(seen.at(-1), "response.failed");
  assert.equal(outcome.status, "failed");
  assert.match(outcome.error?.message ?? "", /stream broke/);
  assert.ok(!seen.includes("response.completed"));

  // A dropped Bedrock connection: the same (the gateway turns it into response.failed, the SDK ends).
  gw.standin.script({ match: { operation: "converse-stream" }, stream: { dropAfterFrames: 6 } });
  const dropped = client().responses.stream({ model: NOVA, input: QUESTION });
  const final = await within(dropped.finalResponse().catch((e) => e), 15_000, "responses.stream, dropped");
  assert.ok(!(final instanceof Error), `the SDK raised: ${final?.constructor?.name}: ${final?.message}`);
  assert.equal(final.status, "failed");
  assert.equal(typeof final.error?.code, "string");
});

test("an error before any output → a real HTTP error status with an OpenAI error body (stream and JSON), SDK error classes", async () => {
  // Throttled as the first stream frame.
  gw.standin.script({ match: { operation: "converse-stream" }, stream: { exceptionBefore: { type: "throttlingException", message: "Too many tokens, please wait." } } });
  const a = await rawResponses({ model: NOVA, input: QUESTION, stream: true });
  const ea = assertOpenAIError(a, 429, "exception as the first frame");
  assert.match(ea.message, /Too many tokens/);
  assert.match(a.headers.get("content-type") ?? "", /application\/json/);

  // An HTTP 429 from Bedrock, streamed and not.
  for (const stream of [true, false]) {
    gw.standin.script({ match: { operation: stream ? "converse-stream" : "converse" }, status: 429, errorType: "ThrottlingException", message: "Rate exceeded." });
    const b = await rawResponses({ model: NOVA, input: QUESTION, stream });
    assert.match(assertOpenAIError(b, 429, `HTTP 429, stream ${stream}`).message, /Rate exceeded/);
  }

  // Validation from Bedrock → 400, 503 kept.
  gw.standin.script({ match: { operation: "converse-stream" }, stream: { exceptionBefore: { type: "validationException", message: "bad input" } } });
  assertOpenAIError(await rawResponses({ model: NOVA, input: QUESTION, stream: true }), 400, "validationException first");
  gw.standin.script({ match: { operation: "converse" }, status: 503, errorType: "ServiceUnavailableException", message: "down" });
  assertOpenAIError(await rawResponses({ model: NOVA, input: QUESTION }), 503, "503");

  // The SDK: RateLimitError from create (JSON and stream) and from responses.stream().
  const c = client();
  gw.standin.script({ match: { operation: "converse" }, status: 429, errorType: "ThrottlingException", message: "slow down" });
  const e1 = await c.responses.create({ model: NOVA, input: QUESTION }).catch((e) => e);
  assert.ok(e1 instanceof OpenAI.RateLimitError, `create: got ${e1?.constructor?.name}`);
  gw.standin.script({ match: { operation: "converse-stream" }, stream: { exceptionBefore: { type: "throttlingException", message: "slow down" } } });
  const e2 = await within(c.responses.stream({ model: NOVA, input: QUESTION }).finalResponse().catch((e) => e), 15_000, "stream 429");
  assert.ok(e2 instanceof OpenAI.RateLimitError, `stream: got ${e2?.constructor?.name}: ${e2?.message}`);
});

test("request errors: invalid JSON, no model, no provider → 400 OpenAI-shaped; wrong gateway key → 401; GET on POST route → 405", async () => {
  assertOpenAIError(await rawResponses("{not json"), 400, "invalid JSON");
  assertOpenAIError(await rawResponses({ input: QUESTION }), 400, "no model");
  const noProvider = await rawResponses({ model: NOVA, input: QUESTION }, {});
  assert.equal(assertOpenAIError(noProvider, 400, "no provider").param, "x-portkey-provider");
  const bad = await client(PROVIDER, "ek_wrong_key").responses.create({ model: NOVA, input: QUESTION }).catch((e) => e);
  assert.ok(bad instanceof OpenAI.AuthenticationError, `got ${bad?.constructor?.name}`);
  const get = await fetch(`${gw.url}/v1/responses`, { headers: { "x-portkey-api-key": gw.gatewayKey } });
  assert.equal(get.status, 405);
  gw.record(await get.text());
  assert.deepEqual(gw.standin.requests(), []);
});

// ------------------------------------------------------------------ Vercel AI SDK (@ai-sdk/openai uses the Responses API)

/** The AI SDK's OpenAI provider pointed at the gateway; `sent` collects the request bodies it posts. */
const aiProvider = (sent = []) =>
  createOpenAI({
    baseURL: gw.url + "/v1",
    apiKey: gw.gatewayKey,
    headers: PROVIDER,
    fetch: async (url, init) => {
      if (typeof init?.body === "string") sent.push(JSON.parse(init.body));
      return fetch(url, init);
    },
  });

test("AI SDK generateText: text and usage", async () => {
  const result = await generateText({ model: aiProvider()(NOVA), prompt: QUESTION, system: "Be brief." });
  gw.record(result.text);
  assert.equal(result.text, HELLO);
  assert.equal(result.finishReason, "stop");
  assert.equal(result.usage.inputTokens, 7);
  assert.equal(result.usage.outputTokens, 30);
  assert.equal(result.usage.totalTokens, 37);
  const body = converse();
  assert.deepEqual(body.system, [{ text: "Be brief." }]);
  assert.deepEqual(body.messages, [{ role: "user", content: [{ text: QUESTION }] }]);
  assert.match(result.response.id, /^resp_/);
});

test("AI SDK streamText: the textStream chunks joined are the final text", async () => {
  const result = streamText({ model: aiProvider()(NOVA), prompt: QUESTION });
  const chunks = [];
  await within(
    (async () => {
      for await (const c of result.textStream) chunks.push(c);
    })(),
    15_000,
    "textStream",
  );
  const text = await result.text;
  gw.record(text);
  assert.ok(chunks.length > 3, `${chunks.length} chunks`);
  assert.equal(chunks.join(""), text);
  assert.match(text, STREAM_TEXT);
  assert.equal(await result.finishReason, "stop");
  const usage = await result.usage;
  assert.ok(usage.outputTokens > 0);
  assert.equal(converseCalls()[0].operation, "converse-stream");
});

test("AI SDK tool round trip (stopWhen: stepCountIs(3)): step 1 calls the tool, step 2 answers with text", async () => {
  scriptToolUse();
  gw.standin.script({ match: { operation: "converse" }, text: "It is 21 °C in Paris." });
  const executed = [];
  const result = await generateText({
    model: aiProvider()(NOVA),
    prompt: "Weather in Paris?",
    tools: {
      get_weather: tool({
        description: "The weather in a city",
        inputSchema: jsonSchema(WEATHER_PARAMS),
        execute: async (input) => {
          executed.push(input);
          return { temperature: 21, unit: "c" };
        },
      }),
    },
    stopWhen: stepCountIs(3),
  });
  gw.record(result.text);
  assert.equal(result.steps.length, 2);
  assert.equal(result.steps[0].toolCalls.length, 1);
  assert.equal(result.steps[0].toolCalls[0].toolName, "get_weather");
  assert.equal(result.steps[0].toolCalls[0].toolCallId, TOOL_USE_ID);
  assert.deepEqual(executed, [{ city: "Paris" }]);
  assert.equal(result.steps[1].toolCalls.length, 0);
  assert.equal(result.text, "It is 21 °C in Paris.");
  const calls = converseCalls();
  assert.equal(calls.length, 2);
  assert.deepEqual(calls[1].body.messages[1], { role: "assistant", content: [{ toolUse: { toolUseId: TOOL_USE_ID, name: "get_weather", input: { city: "Paris" } } }] });
  assert.deepEqual(calls[1].body.messages[2].content.map((b) => b.toolResult?.toolUseId), [TOOL_USE_ID]);
  assert.deepEqual(JSON.parse(calls[1].body.messages[2].content[0].toolResult.content[0].text), { temperature: 21, unit: "c" });
});

test("AI SDK tool loop when step 1 has text and a tool call: step 2 sends item_reference for the stored message, Bedrock gets the whole turn", async () => {
  gw.standin.script({
    match: { operation: "converse" },
    json: converseAnswer([{ text: "Let me check." }, { toolUse: { toolUseId: TOOL_USE_ID, name: "get_weather", input: { city: "Paris" } } }], { stopReason: "tool_use" }),
  });
  gw.standin.script({ match: { operation: "converse" }, text: "It is 21 °C in Paris." });
  const sent = [];
  const result = await generateText({
    model: aiProvider(sent)(NOVA),
    prompt: "Weather in Paris?",
    tools: { get_weather: tool({ description: "The weather in a city", inputSchema: jsonSchema(WEATHER_PARAMS), execute: async () => ({ temperature: 21, unit: "c" }) }) },
    stopWhen: stepCountIs(3),
  });
  gw.record(result.text);
  assert.equal(result.steps.length, 2);
  assert.equal(result.steps[0].text, "Let me check.");
  // What the AI SDK sent for step 2: the stored message by reference, the call and its output in full.
  assert.equal(sent.length, 2);
  const msgId = result.steps[0].response.body.output.find((o) => o.type === "message").id;
  assert.deepEqual(sent[1].input.map((i) => i.type ?? i.role), ["user", "item_reference", "function_call", "function_call_output"]);
  assert.deepEqual(sent[1].input[1], { type: "item_reference", id: msgId });
  assert.equal(result.text, "It is 21 °C in Paris.");
  const calls = converseCalls();
  assert.equal(calls.length, 2);
  const [user, assistant, results] = calls[1].body.messages;
  assert.deepEqual(user, { role: "user", content: [{ text: "Weather in Paris?" }] });
  assert.deepEqual(assistant, {
    role: "assistant",
    content: [{ text: "Let me check." }, { toolUse: { toolUseId: TOOL_USE_ID, name: "get_weather", input: { city: "Paris" } } }],
  });
  assert.equal(results.content[0].toolResult.toolUseId, TOOL_USE_ID);
  assert.equal(calls[1].body.messages.length, 3);
});

// ------------------------------------------------------------------ OpenAI targets: /v1/responses passed through

test("@openai-prod: responses.create reaches OpenAI's /v1/responses with the body as sent (model without @slug/), the answer unchanged", async () => {
  // The answer the stand-in gives, fixed so it can be compared whole.
  const direct = new OpenAI({ apiKey: (await import("../standin/credentials.mjs")).OPENAI_TEST_KEYS.valid, baseURL: gw.standin.openaiBaseURL, maxRetries: 0 });
  const fixed = await direct.responses.create({ model: GPT, input: QUESTION }).asResponse().then((r) => r.json());
  gw.standin.reset();
  gw.standin.script({ match: { operation: OPENAI_RESPONSES_OPERATION }, json: fixed });
  const body = { model: GPT, input: QUESTION, instructions: "Be brief.", temperature: 0.2, tools: [WEATHER], metadata: { team: "e2e" }, max_output_tokens: 300 };
  const { data, response } = await client({ "x-portkey-provider": "@openai-prod" }).responses.create(body).withResponse();
  gw.record(data);
  assert.equal(response.headers.get("x-portkey-provider"), "@openai-prod");
  const { output_text: _derived, ...wire } = data;
  assert.deepEqual(wire, fixed, "the answer as OpenAI sent it");
  const [r] = openaiResponsesCalls();
  assert.equal(r.path, "/v1/responses");
  assert.deepEqual(r.body, body);
  assert.equal(r.openai.validationError, undefined);
  assert.equal(r.headers.authorization, "Bearer sk-sta***", "the record's key");
  assert.ok(!JSON.stringify(r.headers).includes(gw.gatewayKey));
  assert.deepEqual(Object.keys(r.headers).filter((h) => h.startsWith("x-portkey-")), []);
  assert.deepEqual(converseCalls(), []);

  gw.standin.reset();
  const slug = gw.record(await client({}).responses.create({ model: `@openai-prod/${GPT}`, input: QUESTION }));
  assert.equal(slug.output_text, `${OPENAI_TEXT_PREFIX}${QUESTION}`);
  assert.deepEqual(openaiResponsesCalls()[0].body, { model: GPT, input: QUESTION });
});

test("@openai-prod streamed: the events OpenAI sent, relayed unchanged; previous_response_id reaches OpenAI", async () => {
  const fetchDirect = async (b) => {
    const { OPENAI_TEST_KEYS } = await import("../standin/credentials.mjs");
    const res = await fetch(gw.standin.openaiBaseURL + "/responses", { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${OPENAI_TEST_KEYS.valid}` }, body: JSON.stringify(b) });
    return res.text();
  };
  const sse = await fetchDirect({ model: GPT, input: QUESTION, stream: true });
  const blocks = sse.split("\n\n").filter(Boolean).map((b) => b + "\n\n");
  gw.standin.reset();
  gw.standin.script({ match: { operation: OPENAI_RESPONSES_OPERATION, stream: true }, stream: { chunks: blocks } });
  const res = await rawResponses({ model: GPT, input: QUESTION, stream: true }, { "x-portkey-provider": "@openai-prod" });
  assert.equal(res.status, 200, res.text.slice(0, 300));
  assert.match(res.headers.get("content-type"), /^text\/event-stream/);
  assert.deepEqual(namedEvents(res.text).map((e) => e.data), namedEvents(sse).map((e) => e.data), "every event as OpenAI sent it");
  assert.deepEqual(openaiResponsesCalls()[0].body, { model: GPT, input: QUESTION, stream: true });

  // The SDK over the relay, and a second turn: previous_response_id goes to OpenAI as sent.
  gw.standin.reset();
  const c = client({ "x-portkey-provider": "@openai-prod" });
  const stream = c.responses.stream({ model: GPT, input: QUESTION });
  let deltas = "";
  for await (const e of stream) if (e.type === "response.output_text.delta") deltas += e.delta;
  const final = gw.record(await stream.finalResponse());
  assert.equal(deltas, `${OPENAI_TEXT_PREFIX}${QUESTION}`);
  assert.equal(final.output_text, deltas);
  assert.equal(final.id, openaiResponsesCalls()[0].openai.responseId, "OpenAI's own id");
  const next = gw.record(await c.responses.create({ model: GPT, input: "And Germany?", previous_response_id: final.id }));
  assert.equal(next.output_text, `${OPENAI_TEXT_PREFIX}And Germany?`);
  const r2 = openaiResponsesCalls()[1];
  assert.deepEqual(r2.body, { model: GPT, input: "And Germany?", previous_response_id: final.id });
  assert.equal(r2.openai.historyItems, 2, "OpenAI found its stored first turn");
});

test("x-portkey-config fallback on /v1/responses: @openai-prod 429 → @demo (Bedrock) answers, config.targets[1]", async () => {
  gw.standin.script({ match: { provider: "openai" }, status: 429 });
  const config = { strategy: { mode: "fallback" }, targets: [{ provider: "@openai-prod" }, { provider: "@demo", override_params: { model: NOVA } }] };
  const { data, response } = await client({ "x-portkey-config": JSON.stringify(config) }).responses.create({ model: GPT, input: QUESTION }).withResponse();
  gw.record(data);
  assert.equal(data.output_text, HELLO);
  assert.equal(response.headers.get("x-portkey-last-used-option-index"), "config.targets[1]");
  assert.equal(response.headers.get("x-portkey-provider"), "@demo");
  assert.deepEqual(gw.standin.requests().map((r) => r.operation), [OPENAI_RESPONSES_OPERATION, "converse"]);
  assert.equal(converseCalls()[0].model, NOVA);
});

// ------------------------------------------------------------------ final checks

test("no secret (AWS secrets, OpenAI keys, gateway keys) in any log line or body; no isolate failure", () => {
  assert.ok(gw.logs.length > 20, `only ${gw.logs.length} log lines`);
  assert.deepEqual(secretLeaks(gw, [gw.gatewayKey, OTHER_KEY, gw.catalogKey]), []);
  assert.deepEqual(isolateFailures(gw), []);
});
