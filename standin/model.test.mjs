// Tests for the stand-in's model answers (`answers: "model"`, model.mjs): node --test standin/
import { test, before, after, beforeEach } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { startStandin } from "./server.mjs";
import { OPENAI_TEST_KEYS } from "./credentials.mjs";
import { decodeFrames } from "./eventstream.mjs";
import { invoke, send } from "./testkit.mjs";
import { fixtureJson, DEFAULT_CONVERSE_FIXTURE } from "./fixtures.mjs";
import { OPENAI_TEXT_PREFIX } from "./openai.mjs";
import { valueForSchema, answerFor, capitalisedPhrases, toolMatchScore, modelJson, framePieces } from "./model.mjs";

const CLAUDE = "us.anthropic.claude-sonnet-4-5-20250929-v1:0";
const GPT = "gpt-4o-mini";

let s; // model mode, no pacing
before(async () => {
  s = await startStandin({ port: 0, answers: "model", paceMs: 0 });
});
after(async () => {
  await s.close();
});
beforeEach(() => s.reset());

// ---------------------------------------------------------------- a tiny JSON-schema validator (for the tests)

function deepEq(a, b) {
  return JSON.stringify(a) === JSON.stringify(b);
}
function refOf(ref, root) {
  let node = root;
  for (const k of ref.replace(/^#\/?/, "").split("/").filter(Boolean)) node = node?.[k.replace(/~1/g, "/").replace(/~0/g, "~")];
  assert.ok(node, `unresolved ${ref}`);
  return node;
}
const isType = (t, v) =>
  t === "null" ? v === null
  : t === "integer" ? Number.isInteger(v)
  : t === "number" ? typeof v === "number" && Number.isFinite(v)
  : t === "array" ? Array.isArray(v)
  : t === "object" ? v !== null && typeof v === "object" && !Array.isArray(v)
  : typeof v === t;

/** The errors of `value` against `schema` (the keywords the stand-in's generator claims to handle). */
function validate(schema, value, root = schema, path = "$", errors = []) {
  if (schema === true || schema === undefined) return errors;
  if (schema === false) return errors.push(`${path}: not allowed`), errors;
  const e = (m) => errors.push(`${path}: ${m}`);
  if (schema.$ref) validate(refOf(schema.$ref, root), value, root, path, errors);
  for (const sub of schema.allOf ?? []) validate(sub, value, root, path, errors);
  if (schema.anyOf && !schema.anyOf.some((x) => !validate(x, value, root, path, []).length)) e("no anyOf branch fits");
  if (schema.oneOf && schema.oneOf.filter((x) => !validate(x, value, root, path, []).length).length !== 1) e("not exactly one oneOf branch");
  if ("const" in schema && !deepEq(schema.const, value)) e(`≠ const ${JSON.stringify(schema.const)}`);
  if (schema.enum && !schema.enum.some((x) => deepEq(x, value))) e(`${JSON.stringify(value)} not in enum`);
  if (schema.type && ![schema.type].flat().some((t) => isType(t, value))) e(`${JSON.stringify(value)} is not ${schema.type}`);
  if (typeof value === "number") {
    if (schema.minimum !== undefined && value < schema.minimum) e(`< minimum ${schema.minimum}`);
    if (schema.maximum !== undefined && value > schema.maximum) e(`> maximum ${schema.maximum}`);
    if (typeof schema.exclusiveMinimum === "number" && value <= schema.exclusiveMinimum) e("≤ exclusiveMinimum");
    if (typeof schema.exclusiveMaximum === "number" && value >= schema.exclusiveMaximum) e("≥ exclusiveMaximum");
    if (schema.multipleOf && Math.abs(value / schema.multipleOf - Math.round(value / schema.multipleOf)) > 1e-9) e("not a multipleOf");
  }
  if (typeof value === "string") {
    if (schema.minLength !== undefined && value.length < schema.minLength) e("too short");
    if (schema.maxLength !== undefined && value.length > schema.maxLength) e("too long");
    if (schema.pattern && !new RegExp(schema.pattern, "u").test(value)) e(`does not match ${schema.pattern}`);
    if (schema.format === "date" && !/^\d{4}-\d{2}-\d{2}$/.test(value)) e("not a date");
    if (schema.format === "date-time" && Number.isNaN(Date.parse(value))) e("not a date-time");
    if (schema.format === "email" && !/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(value)) e("not an email");
    if (schema.format === "uuid" && !/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(value)) e("not a uuid");
  }
  if (Array.isArray(value)) {
    if (schema.minItems !== undefined && value.length < schema.minItems) e("too few items");
    if (schema.maxItems !== undefined && value.length > schema.maxItems) e("too many items");
    if (schema.uniqueItems && new Set(value.map((x) => JSON.stringify(x))).size !== value.length) e("items not unique");
    const prefix = schema.prefixItems ?? [];
    value.forEach((x, i) => validate(i < prefix.length ? prefix[i] : schema.items, x, root, `${path}[${i}]`, errors));
  }
  if (isType("object", value)) {
    for (const r of schema.required ?? []) if (!(r in value)) e(`missing ${r}`);
    for (const [k, v] of Object.entries(value)) {
      if (schema.properties && k in schema.properties) validate(schema.properties[k], v, root, `${path}.${k}`, errors);
      else if (schema.additionalProperties === false) e(`extra property ${k}`);
      else if (typeof schema.additionalProperties === "object") validate(schema.additionalProperties, v, root, `${path}.${k}`, errors);
    }
    if (schema.minProperties !== undefined && Object.keys(value).length < schema.minProperties) e("too few properties");
    if (schema.maxProperties !== undefined && Object.keys(value).length > schema.maxProperties) e("too many properties");
  }
  return errors;
}

// ---------------------------------------------------------------- schemas and tools of the tests

/** What pydantic's `Forecast.model_json_schema()` emits (an enum and a nested model in $defs, Optional, Literal). */
const FORECAST_SCHEMA = {
  $defs: {
    Unit: { enum: ["celsius", "fahrenheit"], title: "Unit", type: "string" },
    DayForecast: {
      properties: {
        date: { format: "date", title: "Date", type: "string" },
        high: { maximum: 60, minimum: -60, title: "High", type: "number" },
        conditions: { anyOf: [{ type: "string" }, { type: "null" }], default: null, title: "Conditions" },
        tags: { items: { type: "string" }, title: "Tags", type: "array", uniqueItems: true },
      },
      required: ["date", "high", "conditions", "tags"],
      title: "DayForecast",
      type: "object",
      additionalProperties: false,
    },
  },
  properties: {
    city: { title: "City", type: "string" },
    unit: { $ref: "#/$defs/Unit", default: "celsius" },
    days: { items: { $ref: "#/$defs/DayForecast" }, minItems: 1, maxItems: 5, title: "Days", type: "array" },
    kind: { const: "forecast", title: "Kind", type: "string" },
    confidence: { exclusiveMinimum: 0, maximum: 1, title: "Confidence", type: "number" },
    note: { anyOf: [{ type: "string" }, { type: "null" }], default: null, title: "Note" },
  },
  required: ["city", "unit", "days", "kind", "confidence", "note"],
  title: "Forecast",
  type: "object",
  additionalProperties: false,
};
const FORECAST_TEXT = "Give me the forecast for Berlin in fahrenheit, please.";

const WEATHER_TOOL = {
  name: "get_weather",
  description: "Current conditions for a place.",
  schema: {
    type: "object",
    properties: {
      city: { type: "string", description: "The city" },
      unit: { type: "string", enum: ["celsius", "fahrenheit"] },
      days: { type: "integer", minimum: 1, maximum: 7 },
    },
    required: ["city", "unit", "days"],
    additionalProperties: false,
  },
};
const WEATHER_TEXT = "What will the weather be in Lisbon over the next 3 days, in fahrenheit?";

const ORDER_TOOL = {
  name: "place_order",
  description: "Places an order.",
  schema: {
    type: "object",
    properties: {
      customer: { $ref: "#/$defs/Customer" },
      lines: { type: "array", minItems: 1, items: { type: "object", properties: { sku: { type: "string", minLength: 3 }, qty: { type: "integer", minimum: 1, maximum: 99 } }, required: ["sku", "qty"], additionalProperties: false } },
      express: { type: "boolean" },
      deliver_on: { type: "string", format: "date" },
    },
    required: ["customer", "lines", "express", "deliver_on"],
    additionalProperties: false,
    $defs: { Customer: { type: "object", properties: { email: { type: "string", format: "email" }, name: { type: "string" } }, required: ["email", "name"] } },
  },
};

// ---------------------------------------------------------------- the APIs: one request builder and one reader each

/**
 * spec: {user, tools?: [tool], choice?: "any" | {name} | "none", result?: {name, content}, schema?, thinking?, maxTokens?}.
 * Each API turns it into its own request and reads the answer back as {text, tools: [{name, input}], reasoning:
 * {text, signature} | null, order: ["reasoning" | "text" | "tool"], stop, usage: {input, output}, record, raw}.
 */
const converseBody = (spec) => {
  const messages = [{ role: "user", content: [{ text: spec.user }] }];
  if (spec.result) {
    messages.push({ role: "assistant", content: [{ toolUse: { toolUseId: "tooluse_1", name: spec.result.name, input: {} } }] });
    messages.push({ role: "user", content: [{ toolResult: { toolUseId: "tooluse_1", content: [{ text: spec.result.content }], status: "success" } }] });
  }
  const body = { messages, inferenceConfig: spec.maxTokens ? { maxTokens: spec.maxTokens } : {} };
  if (spec.tools) {
    body.toolConfig = { tools: spec.tools.map((t) => ({ toolSpec: { name: t.name, description: t.description, inputSchema: { json: t.schema } } })) };
    if (spec.choice === "any") body.toolConfig.toolChoice = { any: {} };
    else if (spec.choice?.name) body.toolConfig.toolChoice = { tool: { name: spec.choice.name } };
  }
  if (spec.schema) body.outputConfig = { textFormat: { type: "json_schema", structure: { jsonSchema: { name: "Forecast", schema: JSON.stringify(spec.schema) } } } };
  if (spec.thinking) body.additionalModelRequestFields = { thinking: { type: "enabled", budget_tokens: 1024 } };
  return body;
};

const anthropicBody = (spec) => {
  const messages = [{ role: "user", content: spec.user }];
  if (spec.result) {
    messages.push({ role: "assistant", content: [{ type: "tool_use", id: "toolu_1", name: spec.result.name, input: {} }] });
    messages.push({ role: "user", content: [{ type: "tool_result", tool_use_id: "toolu_1", content: [{ type: "text", text: spec.result.content }] }] });
  }
  const body = { anthropic_version: "bedrock-2023-05-31", max_tokens: spec.maxTokens ?? 2048, messages };
  if (spec.tools) body.tools = spec.tools.map((t) => ({ name: t.name, description: t.description, input_schema: t.schema }));
  if (spec.choice === "any") body.tool_choice = { type: "any" };
  else if (spec.choice === "none") body.tool_choice = { type: "none" };
  else if (spec.choice?.name) body.tool_choice = { type: "tool", name: spec.choice.name };
  if (spec.schema) body.output_config = { format: { type: "json_schema", schema: spec.schema } };
  if (spec.thinking) body.thinking = { type: "enabled", budget_tokens: 1024 };
  return body;
};

const chatBody = (spec, stream) => {
  const messages = [{ role: "system", content: "Be brief." }, { role: "user", content: spec.user }];
  if (spec.result) {
    messages.push({ role: "assistant", content: null, tool_calls: [{ id: "call_1", type: "function", function: { name: spec.result.name, arguments: "{}" } }] });
    messages.push({ role: "tool", tool_call_id: "call_1", content: spec.result.content });
  }
  const body = { model: GPT, messages, ...(stream ? { stream: true, stream_options: { include_usage: true } } : {}) };
  if (spec.maxTokens) body.max_completion_tokens = spec.maxTokens;
  if (spec.tools) body.tools = spec.tools.map((t) => ({ type: "function", function: { name: t.name, description: t.description, parameters: t.schema } }));
  if (spec.choice === "any") body.tool_choice = "required";
  else if (spec.choice === "none") body.tool_choice = "none";
  else if (spec.choice?.name) body.tool_choice = { type: "function", function: { name: spec.choice.name } };
  if (spec.schema) body.response_format = { type: "json_schema", json_schema: { name: "Forecast", schema: spec.schema, strict: true } };
  if (spec.thinking) body.reasoning_effort = "high";
  return body;
};

const responsesBody = (spec, stream) => {
  const input = [{ role: "user", content: spec.user }];
  if (spec.result) {
    input.push({ type: "function_call", call_id: "call_1", name: spec.result.name, arguments: "{}" });
    input.push({ type: "function_call_output", call_id: "call_1", output: spec.result.content });
  }
  const body = { model: GPT, input, ...(stream ? { stream: true } : {}) };
  if (spec.maxTokens) body.max_output_tokens = spec.maxTokens;
  if (spec.tools) body.tools = spec.tools.map((t) => ({ type: "function", name: t.name, description: t.description, parameters: t.schema }));
  if (spec.choice === "any") body.tool_choice = "required";
  else if (spec.choice === "none") body.tool_choice = "none";
  else if (spec.choice?.name) body.tool_choice = { type: "function", name: spec.choice.name };
  if (spec.schema) body.text = { format: { type: "json_schema", name: "Forecast", schema: spec.schema, strict: true } };
  return body;
};

async function bedrock(st, operation, body) {
  const r = await invoke(st.port, CLAUDE, body, { operation });
  assert.equal(r.status, 200, r.body.toString());
  return { r, record: st.requests().at(-1) };
}

/** Reads Converse content blocks / Anthropic content / assembled stream blocks into the common shape. */
function readBlocks(blocks, stop, usage, record, raw) {
  const out = { text: "", tools: [], reasoning: null, order: [], stop, usage, record, raw };
  for (const b of blocks) {
    if (b.kind === "reasoning") out.reasoning = { text: b.text, signature: b.signature };
    if (b.kind === "text") out.text += b.text;
    if (b.kind === "tool") out.tools.push({ name: b.name, input: b.input, id: b.id });
    out.order.push(b.kind);
  }
  return out;
}

async function viaOpenAI(st, path, body) {
  const res = await fetch(`${st.openaiBaseURL}${path}`, {
    method: "POST",
    headers: { authorization: `Bearer ${OPENAI_TEST_KEYS.valid}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  assert.equal(res.status, 200, text);
  return { text, record: st.requests().at(-1) };
}

const APIS = {
  async converse(spec, st = s) {
    const { r, record } = await bedrock(st, "converse", converseBody(spec));
    const blocks = r.json.output.message.content.map((c) =>
      c.reasoningContent ? { kind: "reasoning", ...c.reasoningContent.reasoningText }
      : c.toolUse ? { kind: "tool", name: c.toolUse.name, input: c.toolUse.input, id: c.toolUse.toolUseId }
      : { kind: "text", text: c.text },
    );
    return readBlocks(blocks, r.json.stopReason, { input: r.json.usage.inputTokens, output: r.json.usage.outputTokens }, record, r.json);
  },
  async "converse-stream"(spec, st = s) {
    const { r, record } = await bedrock(st, "converse-stream", converseBody(spec));
    const frames = decodeFrames(r.body);
    const types = frames.map((f) => f.headers[":event-type"]);
    assert.equal(types[0], "messageStart");
    assert.deepEqual(types.slice(-2), ["messageStop", "metadata"]);
    const blocks = [];
    let stop;
    let usage;
    for (const { headers, json } of frames) {
      const t = headers[":event-type"];
      if (t === "contentBlockStart" && json.start?.toolUse) blocks[json.contentBlockIndex] = { kind: "tool", name: json.start.toolUse.name, id: json.start.toolUse.toolUseId, json: "" };
      if (t === "contentBlockDelta") {
        const d = json.delta;
        const b = (blocks[json.contentBlockIndex] ??= d.reasoningContent ? { kind: "reasoning", text: "", signature: "" } : { kind: "text", text: "" });
        if (d.reasoningContent?.text) b.text += d.reasoningContent.text;
        if (d.reasoningContent?.signature) b.signature += d.reasoningContent.signature;
        if (d.text !== undefined) b.text += d.text;
        if (d.toolUse) b.json += d.toolUse.input;
      }
      if (t === "messageStop") stop = json.stopReason;
      if (t === "metadata") usage = { input: json.usage.inputTokens, output: json.usage.outputTokens };
    }
    for (const b of blocks) if (b.kind === "tool") b.input = JSON.parse(b.json);
    return { ...readBlocks(blocks, stop, usage, record, frames), frames: frames.length };
  },
  async invoke(spec, st = s) {
    const { r, record } = await bedrock(st, "invoke", anthropicBody(spec));
    const blocks = r.json.content.map((c) =>
      c.type === "thinking" ? { kind: "reasoning", text: c.thinking, signature: c.signature }
      : c.type === "tool_use" ? { kind: "tool", name: c.name, input: c.input, id: c.id }
      : { kind: "text", text: c.text },
    );
    return readBlocks(blocks, r.json.stop_reason, { input: r.json.usage.input_tokens, output: r.json.usage.output_tokens }, record, r.json);
  },
  async "invoke-with-response-stream"(spec, st = s) {
    const { r, record } = await bedrock(st, "invoke-with-response-stream", anthropicBody(spec));
    const frames = decodeFrames(r.body);
    const events = frames.map((f) => JSON.parse(Buffer.from(f.json.bytes, "base64").toString("utf8")));
    assert.equal(events[0].type, "message_start");
    assert.equal(events.at(-1).type, "message_stop");
    const blocks = [];
    let stop;
    let output;
    for (const ev of events) {
      if (ev.type === "content_block_start") {
        const cb = ev.content_block;
        blocks[ev.index] = cb.type === "thinking" ? { kind: "reasoning", text: "", signature: "" } : cb.type === "tool_use" ? { kind: "tool", name: cb.name, id: cb.id, json: "" } : { kind: "text", text: "" };
      }
      if (ev.type === "content_block_delta") {
        const b = blocks[ev.index];
        if (ev.delta.type === "thinking_delta") b.text += ev.delta.thinking;
        if (ev.delta.type === "signature_delta") b.signature += ev.delta.signature;
        if (ev.delta.type === "text_delta") b.text += ev.delta.text;
        if (ev.delta.type === "input_json_delta") b.json += ev.delta.partial_json;
      }
      if (ev.type === "message_delta") [stop, output] = [ev.delta.stop_reason, ev.usage.output_tokens];
    }
    for (const b of blocks) if (b.kind === "tool") b.input = JSON.parse(b.json);
    return { ...readBlocks(blocks, stop, { input: events[0].message.usage.input_tokens, output }, record, events), frames: frames.length };
  },
  async "openai-chat"(spec, st = s) {
    const { text, record } = await viaOpenAI(st, "/chat/completions", chatBody(spec, false));
    const j = JSON.parse(text);
    const m = j.choices[0].message;
    const blocks = [];
    if (typeof m.content === "string") blocks.push({ kind: "text", text: m.content });
    for (const c of m.tool_calls ?? []) blocks.push({ kind: "tool", name: c.function.name, input: JSON.parse(c.function.arguments), id: c.id });
    return readBlocks(blocks, j.choices[0].finish_reason, { input: j.usage.prompt_tokens, output: j.usage.completion_tokens }, record, j);
  },
  async "openai-chat-sse"(spec, st = s) {
    const { text, record } = await viaOpenAI(st, "/chat/completions", chatBody(spec, true));
    const datas = text.split("\n\n").filter(Boolean).map((e) => e.replace(/^data: /, ""));
    assert.equal(datas.at(-1), "[DONE]");
    const chunks = datas.slice(0, -1).map((d) => JSON.parse(d));
    let content = null;
    const calls = [];
    let stop;
    for (const c of chunks) {
      const ch = c.choices[0];
      if (!ch) continue;
      if (typeof ch.delta.content === "string") content = (content ?? "") + ch.delta.content;
      for (const tc of ch.delta.tool_calls ?? []) {
        calls[tc.index] ??= { kind: "tool", name: tc.function.name, id: tc.id, json: "" };
        calls[tc.index].json += tc.function.arguments ?? "";
      }
      if (ch.finish_reason) stop = ch.finish_reason;
    }
    const usage = chunks.at(-1).usage;
    const blocks = [...(content ? [{ kind: "text", text: content }] : []), ...calls.map((c) => ({ ...c, input: JSON.parse(c.json) }))];
    return { ...readBlocks(blocks, stop, { input: usage.prompt_tokens, output: usage.completion_tokens }, record, chunks), frames: datas.length };
  },
  async "openai-responses"(spec, st = s) {
    const { text, record } = await viaOpenAI(st, "/responses", responsesBody(spec, false));
    return readResponse(JSON.parse(text), record);
  },
  async "openai-responses-sse"(spec, st = s) {
    const { text, record } = await viaOpenAI(st, "/responses", responsesBody(spec, true));
    const events = text.split("\n\n").filter(Boolean).map((e) => JSON.parse(e.split("\n").find((l) => l.startsWith("data: ")).slice(6)));
    const done = events.at(-1);
    assert.match(done.type, /^response\.(completed|incomplete)$/);
    const deltas = events.filter((e) => e.type === "response.output_text.delta").map((e) => e.delta).join("");
    const out = readResponse(done.response, record);
    if (out.order.includes("text")) assert.equal(deltas, out.text, "the deltas add up to the text");
    return { ...out, frames: events.length };
  },
};

function readResponse(resp, record) {
  const blocks = resp.output.map((it) =>
    it.type === "function_call" ? { kind: "tool", name: it.name, input: JSON.parse(it.arguments), id: it.call_id } : { kind: "text", text: it.content.map((c) => c.text).join("") },
  );
  const stop = resp.status === "incomplete" ? "incomplete" : blocks.some((b) => b.kind === "tool") ? "function_call" : "completed";
  return readBlocks(blocks, stop, { input: resp.usage.input_tokens, output: resp.usage.output_tokens }, record, resp);
}

const MODEL_OF = (api) => (api.startsWith("openai") ? GPT : CLAUDE);
const TOOL_STOP = { converse: "tool_use", "converse-stream": "tool_use", invoke: "tool_use", "invoke-with-response-stream": "tool_use", "openai-chat": "tool_calls", "openai-chat-sse": "tool_calls", "openai-responses": "function_call", "openai-responses-sse": "function_call" };
const TEXT_STOP = { converse: "end_turn", "converse-stream": "end_turn", invoke: "end_turn", "invoke-with-response-stream": "end_turn", "openai-chat": "stop", "openai-chat-sse": "stop", "openai-responses": "completed", "openai-responses-sse": "completed" };

// ---------------------------------------------------------------- every API

for (const api of Object.keys(APIS)) {
  test(`${api}: names the model and echoes the last user text; usage from the text lengths`, async () => {
    const user = "Hello stand-in, how are you today?";
    const a = await APIS[api]({ user });
    assert.equal(a.text, `[${MODEL_OF(api)}] You said: "${user}"`);
    assert.deepEqual(a.tools, []);
    assert.equal(a.stop, TEXT_STOP[api]);
    assert.ok(a.usage.input >= Math.ceil(user.length / 4) && a.usage.input < 40, `input tokens ${a.usage.input}`);
    assert.equal(a.usage.output, Math.ceil(a.text.length / 4));
    assert.deepEqual(a.record.modelAnswer, { kind: "text", tool: null, reasoning: false, stop: "end_turn" });
    // deterministic: the same request, the same answer
    const again = await APIS[api]({ user });
    assert.equal(again.text, a.text);
  });

  test(`${api}: a tool the text asks for is called with arguments valid against its schema`, async () => {
    const a = await APIS[api]({ user: WEATHER_TEXT, tools: [ORDER_TOOL, WEATHER_TOOL] });
    assert.equal(a.tools.length, 1, JSON.stringify(a.raw));
    const [call] = a.tools;
    assert.equal(call.name, "get_weather");
    assert.deepEqual(validate(WEATHER_TOOL.schema, call.input), []);
    assert.deepEqual(call.input, { city: "Lisbon", unit: "fahrenheit", days: 3 }, "values drawn from the user's words");
    assert.equal(a.stop, TOOL_STOP[api]);
    assert.equal(a.text, "");
    assert.ok(call.id, "the call has an id");
    // a text that asks for no tool: a text answer (tool_choice auto)
    const plain = await APIS[api]({ user: "Tell me a story.", tools: [WEATHER_TOOL] });
    assert.deepEqual(plain.tools, []);
    assert.match(plain.text, /You said: "Tell me a story\."/);
  });

  test(`${api}: a forced tool choice calls the tool (named or any), nested $ref / array / format schema valid`, async () => {
    const named = await APIS[api]({ user: "Hello there", tools: [WEATHER_TOOL, ORDER_TOOL], choice: { name: "place_order" } });
    assert.equal(named.tools.length, 1);
    assert.equal(named.tools[0].name, "place_order");
    assert.deepEqual(validate(ORDER_TOOL.schema, named.tools[0].input), []);
    assert.equal(named.stop, TOOL_STOP[api]);
    const any = await APIS[api]({ user: "Hello there", tools: [ORDER_TOOL, WEATHER_TOOL], choice: "any" });
    assert.equal(any.tools[0].name, "place_order", "any: the first tool when none is asked for");
    assert.deepEqual(validate(ORDER_TOOL.schema, any.tools[0].input), []);
    const best = await APIS[api]({ user: WEATHER_TEXT, tools: [ORDER_TOOL, WEATHER_TOOL], choice: "any" });
    assert.equal(best.tools[0].name, "get_weather", "any: the tool the text asks for");
  });

  test(`${api}: a tool result in the last message → a text answer quoting it`, async () => {
    const a = await APIS[api]({ user: WEATHER_TEXT, tools: [WEATHER_TOOL], result: { name: "get_weather", content: "Sunny, high of 75F all week" } });
    assert.deepEqual(a.tools, [], "no second call");
    assert.equal(a.stop, TEXT_STOP[api]);
    assert.match(a.text, /Sunny, high of 75F all week/);
    assert.match(a.text, /get_weather/);
    assert.ok(a.text.startsWith(`[${MODEL_OF(api)}]`));
  });

  test(`${api}: a JSON schema asked for → JSON valid against it ($defs, enum, nested array, Optional, const)`, async () => {
    const a = await APIS[api]({ user: FORECAST_TEXT, schema: FORECAST_SCHEMA });
    const value = JSON.parse(a.text);
    assert.deepEqual(validate(FORECAST_SCHEMA, value), []);
    assert.equal(value.city, "Berlin");
    assert.equal(value.unit, "fahrenheit", "the enum value the text mentions");
    assert.equal(value.kind, "forecast");
    assert.ok(value.days.length >= 1);
    assert.equal(a.stop, TEXT_STOP[api]);
    assert.equal(a.record.modelAnswer.kind, "json");
  });
}

for (const api of ["converse", "converse-stream", "invoke", "invoke-with-response-stream"]) {
  test(`${api}: thinking asked for → reasoning with a signature before the answer`, async () => {
    const a = await APIS[api]({ user: "Why is the sky blue?", thinking: true });
    assert.deepEqual(a.order, ["reasoning", "text"]);
    assert.match(a.reasoning.text, /Why is the sky blue\?/);
    assert.match(a.reasoning.signature, /^[A-Za-z0-9+/]{100,}={0,2}$/);
    assert.equal(a.text, `[${CLAUDE}] You said: "Why is the sky blue?"`);
    assert.ok(a.usage.output > Math.ceil(a.text.length / 4), "the reasoning counts as output");
    // with a tool call: reasoning, then the call
    const t = await APIS[api]({ user: WEATHER_TEXT, tools: [WEATHER_TOOL], thinking: true });
    assert.deepEqual(t.order, ["reasoning", "tool"]);
    assert.match(t.reasoning.text, /get_weather/);
    // the same request, the same signature
    const again = await APIS[api]({ user: "Why is the sky blue?", thinking: true });
    assert.equal(again.reasoning.signature, a.reasoning.signature);
  });
}

test("Converse: the other reasoning switches (reasoningConfig, reasoning_config, reasoning_effort) and thinking disabled", async () => {
  for (const fields of [{ reasoningConfig: { type: "enabled", maxReasoningEffort: "low" } }, { reasoning_config: "high" }, { reasoning_effort: "medium" }, { thinking: { type: "adaptive" } }]) {
    const r = await invoke(s.port, "us.amazon.nova-2-lite-v1:0", { messages: [{ role: "user", content: [{ text: "Hi" }] }], additionalModelRequestFields: fields }, { operation: "converse" });
    assert.ok(r.json.output.message.content[0].reasoningContent?.reasoningText?.signature, JSON.stringify(fields));
  }
  const off = await invoke(s.port, CLAUDE, { messages: [{ role: "user", content: [{ text: "Hi" }] }], additionalModelRequestFields: { thinking: { type: "disabled" } } }, { operation: "converse" });
  assert.deepEqual(Object.keys(off.json.output.message.content[0]), ["text"]);
});

test("OpenAI: reasoning_effort adds no reasoning field (chat has none); tool_choice none → text; max tokens cut the text", async () => {
  const r = await APIS["openai-chat"]({ user: "Hi", thinking: true });
  assert.deepEqual(r.order, ["text"]);
  assert.deepEqual(Object.keys(r.raw.choices[0].message).sort(), ["annotations", "content", "refusal", "role"]);
  const none = await APIS["openai-chat"]({ user: WEATHER_TEXT, tools: [WEATHER_TOOL], choice: "none" });
  assert.deepEqual(none.tools, []);
  const cut = await APIS["openai-chat"]({ user: "one two three four five six seven eight nine ten eleven twelve", maxTokens: 5 });
  assert.equal(cut.stop, "length");
  assert.ok(cut.text.length <= 20);
  const rcut = await APIS["openai-responses"]({ user: "one two three four five six seven eight nine ten eleven twelve", maxTokens: 5 });
  assert.equal(rcut.stop, "incomplete");
  const bcut = await APIS.converse({ user: "one two three four five six seven eight nine ten eleven twelve", maxTokens: 5 });
  assert.equal(bcut.stop, "max_tokens");
});

test("Anthropic: the beta output_format also asks for JSON; tool_choice none → text", async () => {
  const body = anthropicBody({ user: FORECAST_TEXT });
  body.output_format = { type: "json_schema", schema: FORECAST_SCHEMA };
  const r = await invoke(s.port, CLAUDE, body);
  assert.deepEqual(validate(FORECAST_SCHEMA, JSON.parse(r.json.content[0].text)), []);
  const none = await APIS.invoke({ user: WEATHER_TEXT, tools: [WEATHER_TOOL], choice: "none" });
  assert.deepEqual(none.tools, []);
});

test("OpenAI: json_object → a JSON object; Responses previous_response_id + function_call_output → quotes the output", async () => {
  const { text } = await viaOpenAI(s, "/chat/completions", { model: GPT, messages: [{ role: "user", content: "List Paris" }], response_format: { type: "json_object" } });
  assert.deepEqual(JSON.parse(JSON.parse(text).choices[0].message.content), { model: GPT, you_said: "List Paris" });
  const first = JSON.parse((await viaOpenAI(s, "/responses", responsesBody({ user: WEATHER_TEXT, tools: [WEATHER_TOOL] }))).text);
  const call = first.output[0];
  assert.equal(call.type, "function_call");
  const second = JSON.parse(
    (await viaOpenAI(s, "/responses", { model: GPT, previous_response_id: first.id, input: [{ type: "function_call_output", call_id: call.call_id, output: "Rain, 12C" }], tools: responsesBody({ user: "", tools: [WEATHER_TOOL] }).tools })).text,
  );
  assert.equal(second.output[0].type, "message");
  assert.equal(second.output[0].content[0].text, `[${GPT}] From get_weather: "Rain, 12C" You said: "${WEATHER_TEXT}"`);
});

// ---------------------------------------------------------------- pacing

test("streams: several frames spaced by paceMs; paceMs 0 is fast", async () => {
  const pace = 25;
  const paced = await startStandin({ port: 0, answers: "model", paceMs: pace });
  try {
    const user = "Please repeat this fairly long sentence back to me so that the answer needs a good number of frames.";
    for (const api of ["converse-stream", "invoke-with-response-stream", "openai-chat-sse", "openai-responses-sse"]) {
      const t0 = Date.now();
      const slow = await APIS[api]({ user }, paced);
      const slowMs = Date.now() - t0;
      const sent = slow.record.framesSentAt;
      assert.ok(sent.length >= 8, `${api}: ${sent.length} frames`);
      assert.equal(sent.length, slow.frames);
      const span = sent.at(-1) - sent[0];
      assert.ok(span >= (sent.length - 1) * pace * 0.5, `${api}: ${sent.length} frames in ${span} ms`);
      assert.ok(slowMs >= (sent.length - 1) * pace * 0.5);
      const t1 = Date.now();
      const fast = await APIS[api]({ user });
      const fastMs = Date.now() - t1;
      assert.equal(fast.text, slow.text, `${api}: the same answer either way`);
      const fastSpan = fast.record.framesSentAt.at(-1) - fast.record.framesSentAt[0];
      assert.ok(fastSpan < (sent.length - 1) * pace * 0.5 && fastMs < slowMs, `${api}: paceMs 0 took ${fastSpan} ms`);
    }
    // configure changes the pace (and reset brings the option back)
    paced.configure({ paceMs: 0 });
    const quick = await APIS["converse-stream"]({ user }, paced);
    assert.ok(quick.record.framesSentAt.at(-1) - quick.record.framesSentAt[0] < 100);
    paced.reset();
    assert.equal(paced.requests().length, 0);
  } finally {
    await paced.close();
  }
});

// ---------------------------------------------------------------- modes, scripts, control API, CLI

test("default mode is unchanged: the recorded Converse answer and the fixed OpenAI text", async () => {
  const d = await startStandin({ port: 0 });
  try {
    const r = await invoke(d.port, CLAUDE, converseBody({ user: "What is the weather in Paris?", tools: [WEATHER_TOOL], thinking: true }), { operation: "converse" });
    assert.deepEqual(r.json, fixtureJson(DEFAULT_CONVERSE_FIXTURE, 0, "converse").json);
    const { text } = await viaOpenAI(d, "/chat/completions", { model: GPT, messages: [{ role: "user", content: "Hi" }] });
    assert.equal(JSON.parse(text).choices[0].message.content, `${OPENAI_TEXT_PREFIX}Hi`);
    assert.equal(d.requests()[0].modelAnswer, undefined);
    // switched on through the HTTP control API (until reset)
    const c = await send(d.port, { path: "/__standin/configure", headers: { "content-type": "application/json" }, body: JSON.stringify({ answers: "model", paceMs: 0 }) });
    assert.equal(c.status, 200);
    const m = await invoke(d.port, CLAUDE, converseBody({ user: "Hi" }), { operation: "converse" });
    assert.equal(m.json.output.message.content[0].text, `[${CLAUDE}] You said: "Hi"`);
    const bad = await send(d.port, { path: "/__standin/configure", headers: { "content-type": "application/json" }, body: JSON.stringify({ answers: "llm" }) });
    assert.equal(bad.status, 400);
    d.reset();
    const back = await invoke(d.port, CLAUDE, converseBody({ user: "Hi" }), { operation: "converse" });
    assert.deepEqual(back.json, fixtureJson(DEFAULT_CONVERSE_FIXTURE, 0, "converse").json);
  } finally {
    await d.close();
  }
  await assert.rejects(startStandin({ port: 0, answers: "nope" }), /answers must be one of/);
});

test("script entries win in model mode; an entry with only a delay or faults gets the model answer", async () => {
  s.script({ match: { operation: "converse" }, text: "Scripted." });
  const a = await APIS.converse({ user: "Hi" });
  assert.equal(a.text, "Scripted.");
  assert.equal(a.record.modelAnswer, undefined);
  s.script({ match: { operation: "openai-chat" }, text: "Scripted chat." });
  assert.equal((await APIS["openai-chat"]({ user: WEATHER_TEXT, tools: [WEATHER_TOOL] })).text, "Scripted chat.", "no model tool call either");
  s.script({ match: { operation: "converse-stream" }, stream: { fixture: "pydantic-ai/test_bedrock_model_stream" } });
  const replay = await APIS["converse-stream"]({ user: "Hi" });
  assert.match(replay.text, /Paris/);
  s.script({ match: { operation: "invoke" }, delayMs: 30 });
  const delayed = await APIS.invoke({ user: "Hi" });
  assert.equal(delayed.text, `[${CLAUDE}] You said: "Hi"`);
  assert.equal(delayed.record.scripted, true);
  s.script({ match: { operation: "converse-stream" }, stream: { exceptionAfterFrames: { after: 2, type: "throttlingException", message: "slow down" } } });
  const r = await invoke(s.port, CLAUDE, converseBody({ user: "Hi" }), { operation: "converse-stream" });
  const frames = decodeFrames(r.body);
  assert.equal(frames.length, 3);
  assert.equal(frames[2].headers[":exception-type"], "throttlingException");
  s.script({ match: { operation: "converse" }, status: 429, errorType: "ThrottlingException" });
  assert.equal((await invoke(s.port, CLAUDE, converseBody({ user: "Hi" }), { operation: "converse" })).status, 429);
});

test("count-tokens in model mode: the wrapped body's input tokens (a configured countTokens still wins)", async () => {
  const inner = anthropicBody({ user: "Count these words for me please" });
  const body = { input: { invokeModel: { body: Buffer.from(JSON.stringify(inner)).toString("base64") } } };
  const r = await invoke(s.port, CLAUDE, body, { operation: "count-tokens" });
  const viaInvoke = await APIS.invoke({ user: "Count these words for me please" });
  assert.equal(r.json.inputTokens, viaInvoke.usage.input);
  s.configure({ countTokens: 7 });
  assert.equal((await invoke(s.port, CLAUDE, body, { operation: "count-tokens" })).json.inputTokens, 7);
});

test("CLI: --answers model --pace-ms 0", async () => {
  const server = fileURLToPath(new URL("./server.mjs", import.meta.url));
  const child = spawn(process.execPath, [server, "--port", "0", "--answers", "model", "--pace-ms", "0", "--quiet"], { stdio: ["ignore", "pipe", "inherit"] });
  try {
    const url = await new Promise((resolve, reject) => {
      let out = "";
      child.stdout.on("data", (d) => {
        out += d;
        const m = /standin listening on (http:\/\/\S+)/.exec(out);
        if (m && /standin answers: model \(0 ms/.test(out)) resolve(m[1]);
      });
      child.on("exit", (code) => reject(new Error(`exited ${code}: ${out}`)));
    });
    const port = Number(new URL(url).port);
    const r = await invoke(port, CLAUDE, converseBody({ user: "From the CLI" }), { operation: "converse" });
    assert.equal(r.json.output.message.content[0].text, `[${CLAUDE}] You said: "From the CLI"`);
  } finally {
    child.kill("SIGTERM");
  }
});

// ---------------------------------------------------------------- the generator itself

test("valueForSchema: $ref / $defs, anyOf / oneOf, const, default, nullable, bounds, formats, maps, recursion", () => {
  const schemas = [
    FORECAST_SCHEMA,
    ORDER_TOOL.schema,
    { type: "object", properties: { id: { type: "string", format: "uuid" }, at: { type: "string", format: "date-time" }, n: { type: "integer", exclusiveMinimum: 10, exclusiveMaximum: 12 }, step: { type: "number", multipleOf: 0.25, minimum: 2.1 } }, required: ["id", "at", "n", "step"] },
    { type: "object", properties: { pet: { oneOf: [{ $ref: "#/definitions/Cat" }, { $ref: "#/definitions/Dog" }] } }, required: ["pet"], definitions: { Cat: { type: "object", properties: { kind: { const: "cat" }, lives: { type: "integer", minimum: 1, maximum: 9 } }, required: ["kind", "lives"] }, Dog: { type: "object", properties: { kind: { const: "dog" } }, required: ["kind"] } } },
    { type: "object", properties: { scores: { type: "object", additionalProperties: { type: "number", minimum: 0 } }, pair: { type: "array", prefixItems: [{ type: "string" }, { type: "integer" }], items: false } }, required: ["scores", "pair"] },
    { $ref: "#/$defs/Node", $defs: { Node: { type: "object", properties: { label: { type: "string", minLength: 2, maxLength: 8 }, children: { type: "array", items: { $ref: "#/$defs/Node" } } }, required: ["label", "children"] } } },
    { type: "object", properties: { mode: { type: ["string", "null"], enum: ["fast", "slow", null] }, level: { type: ["integer", "null"], minimum: 3 }, flag: { allOf: [{ type: "boolean" }], default: false } }, required: ["mode", "level", "flag"], additionalProperties: false },
    { type: "array", items: { enum: ["a", "b", "c"] }, minItems: 3, uniqueItems: true },
    { type: "string", pattern: "^[a-z]+$" },
  ];
  for (const schema of schemas) {
    const v = valueForSchema(schema, { text: "Plan a trip to Rome with Maria on 2025-07-01 for 2 people" });
    assert.deepEqual(validate(schema, v), [], `${JSON.stringify(schema).slice(0, 80)} → ${JSON.stringify(v)}`);
    assert.deepEqual(valueForSchema(schema, { text: "Plan a trip to Rome with Maria on 2025-07-01 for 2 people" }), v, "deterministic");
  }
  const order = valueForSchema(ORDER_TOOL.schema, { text: "Ship to maria@example.org on 2025-07-01" });
  assert.equal(order.customer.email, "maria@example.org");
  assert.equal(order.deliver_on, "2025-07-01");
  assert.equal(valueForSchema({ type: "object", properties: { flag: { type: "boolean", default: false } }, required: ["flag"] }).flag, false, "default used");
  assert.deepEqual(valueForSchema({ type: "object", properties: { a: { type: "number" }, b: { type: "number" } }, required: ["a", "b"] }, { text: "add 3 and 4.5" }), { a: 3, b: 4.5 });
  assert.deepEqual(valueForSchema({ type: "object", properties: { numbers: { type: "array", items: { type: "integer" } } }, required: ["numbers"] }, { text: "sum 3, 5 and 8" }), { numbers: [3, 5, 8] });
});

test("helpers: capitalised phrases, tool matching, model JSON, frame pieces, answerFor purity", () => {
  assert.deepEqual(capitalisedPhrases("What is the weather in San Francisco, CA?"), ["San Francisco", "CA"]);
  assert.deepEqual(capitalisedPhrases("Compare Paris and London. I think Rome too"), ["Paris", "London", "Rome"]);
  assert.deepEqual(capitalisedPhrases("Paris is nice"), ["Paris"]);
  assert.ok(toolMatchScore({ name: "get_weather" }, "how's the weather") > 0);
  assert.ok(toolMatchScore({ name: "getStockPrice" }, "stock prices for ACME") >= 2);
  assert.ok(toolMatchScore({ name: "get_weather" }, "call get_weather now") >= 3);
  assert.equal(toolMatchScore({ name: "get_weather" }, "get me a coffee"), 0, "generic words do not count");
  assert.equal(modelJson({ a: 1, b: [1, "x"], c: { d: null } }), '{"a": 1, "b": [1, "x"], "c": {"d": null}}');
  assert.deepEqual(framePieces("one two three four five"), ["one two three", " four five"]);
  assert.equal(framePieces("a  b c d ").join(""), "a  b c d ");
  const body = converseBody({ user: WEATHER_TEXT, tools: [WEATHER_TOOL] });
  const copy = structuredClone(body);
  assert.deepEqual(answerFor("converse", body, { model: "m" }).toolCall, answerFor("converse", body, { model: "m" }).toolCall);
  assert.deepEqual(body, copy, "the request is not changed");
});
