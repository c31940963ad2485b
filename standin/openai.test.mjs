// Tests for the stand-in's OpenAI side (/v1/chat/completions): node --test standin/
import { test, before, after, beforeEach } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import OpenAI from "openai";
import { startStandin } from "./server.mjs";
import { OPENAI_TEST_KEYS, OPENAI_TEST_ORGANIZATION, OPENAI_TEST_PROJECT, TEST_CREDENTIALS } from "./credentials.mjs";
import {
  BEDROCK_ONLY_FIELDS, OPENAI_CHAT_OPERATION, OPENAI_TEXT_PREFIX, SSE_DONE,
  OPENAI_RESPONSES_OPERATION, OPENAI_RESPONSES_RETRIEVE_OPERATION, OPENAI_RESPONSES_DELETE_OPERATION,
} from "./openai.mjs";

const PATH = "/v1/chat/completions";
const MODEL = "gpt-4o-mini";
const USER = "What is the capital of France?";
const BODY = { model: MODEL, messages: [{ role: "system", content: "Be brief." }, { role: "user", content: USER }] };
const EXPECTED_TEXT = `${OPENAI_TEXT_PREFIX}${USER}`;

let s;
before(async () => {
  s = await startStandin({ port: 0 });
});
after(async () => {
  await s.close();
});
beforeEach(() => s.reset());

/** POST with exact headers; resolves {status, headers, text, chunks:[{at, bytes}], error?}. */
function post({ path = PATH, body = BODY, key = OPENAI_TEST_KEYS.valid, headers = {}, method = "POST", abortAfterMs } = {}) {
  return new Promise((resolve) => {
    const chunks = [];
    const raw = typeof body === "string" ? body : JSON.stringify(body);
    const h = { "content-type": "application/json", ...(key ? { authorization: `Bearer ${key}` } : {}), ...headers };
    let status = 0;
    let respHeaders = {};
    const finish = (error) =>
      resolve({ status, headers: respHeaders, text: Buffer.concat(chunks.map((c) => c.bytes)).toString("utf8"), chunks, error });
    const q = http.request({ host: "127.0.0.1", port: s.port, method, path, headers: h, agent: false }, (resp) => {
      status = resp.statusCode;
      respHeaders = resp.headers;
      resp.on("data", (d) => chunks.push({ at: Date.now(), bytes: Buffer.from(d) }));
      resp.on("end", () => finish());
      resp.on("aborted", () => finish(new Error("aborted")));
      resp.on("error", (e) => finish(e));
    });
    q.on("error", (e) => finish(e));
    q.end(raw);
    if (abortAfterMs !== undefined) {
      setTimeout(() => {
        q.destroy();
        setTimeout(() => finish(new Error("client aborted")), 60);
      }, abortAfterMs);
    }
  });
}

const json = (r) => JSON.parse(r.text);
/** SSE body → the `data:` payloads (parsed JSON, or the string: "[DONE]" / garbage). Asserts the framing. */
function events(text) {
  assert.ok(text.endsWith("\n\n") || text === "", `SSE ends with a blank line: ${JSON.stringify(text.slice(-40))}`);
  return text
    .split("\n\n")
    .filter(Boolean)
    .map((ev) => {
      assert.match(ev, /^data: /, `every event is one data line: ${JSON.stringify(ev.slice(0, 80))}`);
      const d = ev.slice(6);
      try {
        return JSON.parse(d);
      } catch {
        return d;
      }
    });
}
const contentOf = (evs) => evs.filter((e) => e?.choices?.[0]?.delta?.content).map((e) => e.choices[0].delta.content).join("");
const streamBody = (extra = {}) => ({ ...BODY, stream: true, ...extra });
const client = (opts = {}) => new OpenAI({ apiKey: OPENAI_TEST_KEYS.valid, baseURL: s.openaiBaseURL, maxRetries: 0, ...opts });

// ------------------------------------------------------------------ JSON answer, auth, records

test("JSON: a realistic chat.completion echoing the model and the last user text", async () => {
  const r = await post();
  assert.equal(r.status, 200);
  assert.match(r.headers["content-type"], /^application\/json/);
  assert.match(r.headers["x-request-id"], /^req_[0-9a-f]{32}$/);
  assert.equal(r.headers["openai-version"], "2020-10-01");
  assert.ok(r.headers["x-ratelimit-remaining-requests"]);
  const b = json(r);
  assert.match(b.id, /^chatcmpl-[A-Za-z0-9]{29}$/);
  assert.equal(b.object, "chat.completion");
  assert.ok(Number.isInteger(b.created) && Math.abs(b.created - Date.now() / 1000) < 5);
  assert.equal(b.model, MODEL);
  assert.equal(b.choices.length, 1);
  assert.deepEqual(b.choices[0], {
    index: 0,
    message: { role: "assistant", content: EXPECTED_TEXT, refusal: null, annotations: [] },
    logprobs: null,
    finish_reason: "stop",
  });
  const u = b.usage;
  assert.equal(u.total_tokens, u.prompt_tokens + u.completion_tokens);
  assert.ok(u.prompt_tokens > 0 && u.completion_tokens > 0);
  assert.deepEqual(u.prompt_tokens_details, { cached_tokens: 0, audio_tokens: 0 });
  assert.equal(u.completion_tokens_details.reasoning_tokens, 0);
  // same request, same text (deterministic); content parts count as text too
  const parts = await post({ body: { model: "gpt-4.1", messages: [{ role: "user", content: [{ type: "text", text: "Hi" }, { type: "text", text: "there" }] }] } });
  assert.equal(json(parts).choices[0].message.content, `${OPENAI_TEXT_PREFIX}Hi there`);
  assert.equal(json(parts).model, "gpt-4.1");
});

test("requests are recorded like the Bedrock ones, the key masked, organization and project seen", async () => {
  await post({ key: OPENAI_TEST_KEYS.other, headers: { "OpenAI-Organization": OPENAI_TEST_ORGANIZATION, "OpenAI-Project": OPENAI_TEST_PROJECT } });
  const [rec] = s.requests();
  assert.equal(rec.operation, OPENAI_CHAT_OPERATION);
  assert.equal(rec.method, "POST");
  assert.equal(rec.path, PATH);
  assert.equal(rec.model, MODEL);
  assert.deepEqual(rec.body, BODY);
  assert.equal(rec.headers.authorization, "Bearer sk-sta***");
  assert.ok(!JSON.stringify(rec).includes(OPENAI_TEST_KEYS.other), "the key appears nowhere in the record");
  assert.deepEqual(rec.signature, { ok: true, auth: "bearer", key: "other" });
  assert.deepEqual(rec.openai, { key: "other", organization: OPENAI_TEST_ORGANIZATION, project: OPENAI_TEST_PROJECT, stream: false, includeUsage: false });
  assert.equal(rec.status, 200);
  assert.equal(rec.scripted, false);
  assert.equal(rec.streamEnd, "complete");
  assert.deepEqual(s.counters.byOperation, { [OPENAI_CHAT_OPERATION]: 1 });
});

test("Bearer key: missing, wrong, Bedrock's, mismatched organization / project → 401 OpenAI-shaped", async () => {
  const none = await post({ key: null });
  assert.equal(none.status, 401);
  assert.equal(json(none).error.type, "invalid_request_error");
  assert.equal(json(none).error.code, null);
  assert.match(json(none).error.message, /^You didn't provide an API key/);

  const wrong = await post({ key: "sk-wrong-key-abcdefghijklmnop-9999" });
  assert.equal(wrong.status, 401);
  const e = json(wrong).error;
  assert.deepEqual(Object.keys(e), ["message", "type", "param", "code"]);
  assert.equal(e.code, "invalid_api_key");
  assert.equal(e.type, "invalid_request_error");
  assert.equal(e.param, null);
  assert.match(e.message, /^Incorrect API key provided: sk-\*+9999\. /);
  assert.ok(!e.message.includes("wrong-key"), "the key is masked");

  assert.equal((await post({ key: TEST_CREDENTIALS.apiKey })).status, 401, "the Bedrock API key is not an OpenAI key");
  assert.equal((await post({ key: null, headers: { authorization: `Basic ${Buffer.from(":x").toString("base64")}` } })).status, 401);

  const org = await post({ headers: { "openai-organization": "org-someone-else" } });
  assert.equal(org.status, 401);
  assert.equal(json(org).error.code, "mismatched_organization");
  const proj = await post({ headers: { "openai-project": "proj_other" } });
  assert.equal(json(proj).error.code, "mismatched_project");

  const recs = s.requests();
  assert.deepEqual(recs.map((r) => r.signature.ok), [false, false, false, false, false, false]);
  assert.equal(recs[0].signature.auth, "none");
  assert.equal(recs[1].signature.code, "invalid_api_key");
  assert.equal(recs[1].headers.authorization, "Bearer sk-wro***");
  assert.equal(recs[4].openai.organization, "org-someone-else");
  assert.equal(s.counters.byOperation[OPENAI_CHAT_OPERATION], 6, "auth failures are counted");
});

test("configure({openai: {keys, organizations}}) adds keys and organizations until reset", async () => {
  s.configure({ openai: { keys: { ci: "sk-ci-key-1" }, organizations: ["org-ci"] } });
  assert.equal((await post({ key: "sk-ci-key-1", headers: { "openai-organization": "org-ci" } })).status, 200);
  assert.equal((await post({ key: OPENAI_TEST_KEYS.valid })).status, 200, "the test keys stay valid");
  assert.equal(s.requests()[0].openai.key, "ci");
  s.reset();
  assert.equal((await post({ key: "sk-ci-key-1" })).status, 401);
  const viaHttp = await fetch(`${s.url}/__standin/configure`, { method: "POST", body: JSON.stringify({ openai: { keys: { ci: "sk-ci-key-2" } } }) });
  assert.equal(viaHttp.status, 200);
  assert.equal((await post({ key: "sk-ci-key-2" })).status, 200);
});

test("a scripted entry is consumed only by an authenticated, valid request", async () => {
  s.script({ match: { operation: OPENAI_CHAT_OPERATION }, status: 429 });
  assert.equal((await post({ key: "sk-nope" })).status, 401);
  assert.equal((await post({ body: { ...BODY, top_k: 5 } })).status, 400);
  assert.equal(s.pending().length, 1);
  assert.equal((await post()).status, 429);
  assert.equal(s.pending().length, 0);
});

// ------------------------------------------------------------------ validation

test("validation: model and messages required, messages non-empty, roles and content checked", async () => {
  const cases = [
    [{ messages: BODY.messages }, "you must provide a model parameter", null, null],
    [{ model: 4, messages: BODY.messages }, "Invalid type for 'model': expected a string, but got an integer instead.", "model", "invalid_type"],
    [{ model: MODEL }, "Missing required parameter: 'messages'.", "messages", "missing_required_parameter"],
    [{ model: MODEL, messages: [] }, /^Invalid 'messages': empty array/, "messages", "empty_array"],
    [{ model: MODEL, messages: "hi" }, /^Invalid type for 'messages'/, "messages", "invalid_type"],
    [{ model: MODEL, messages: [{ content: "x" }] }, "Missing required parameter: 'messages[0].role'.", "messages[0].role", "missing_required_parameter"],
    [{ model: MODEL, messages: [{ role: "human", content: "x" }] }, /^Invalid value: 'human'\. Supported values are/, "messages[0].role", "invalid_value"],
    [{ model: MODEL, messages: [{ role: "user" }] }, "Missing required parameter: 'messages[0].content'.", "messages[0].content", "missing_required_parameter"],
    [{ model: MODEL, messages: [{ role: "user", content: "x" }, { role: "tool", content: "42" }] }, /messages\[1\]\.tool_call_id/, "messages[1].tool_call_id", "missing_required_parameter"],
    [{ ...BODY, stream_options: { include_usage: true } }, "The 'stream_options' parameter is only allowed when 'stream' is enabled.", "stream_options", null],
    [{ ...BODY, tool_choice: "required" }, /'tool_choice' is only allowed when 'tools' are specified/, "tool_choice", null],
    [{ ...BODY, tools: [{ type: "function" }] }, /tools\[0\]\.function\.name/, "tools[0].function.name", "missing_required_parameter"],
  ];
  for (const [body, message, param, code] of cases) {
    const r = await post({ body });
    assert.equal(r.status, 400, JSON.stringify(body));
    const e = json(r).error;
    if (message instanceof RegExp) assert.match(e.message, message);
    else assert.equal(e.message, message);
    assert.equal(e.type, "invalid_request_error");
    assert.equal(e.param, param, JSON.stringify(body));
    assert.equal(e.code, code, JSON.stringify(body));
  }
  assert.equal(s.requests()[0].openai.validationError, "you must provide a model parameter");
  // an assistant message with tool calls and no content, and a tool answer, are fine
  const ok = await post({
    body: {
      model: MODEL,
      messages: [
        { role: "user", content: "weather?" },
        { role: "assistant", content: null, tool_calls: [{ id: "call_1", type: "function", function: { name: "w", arguments: "{}" } }] },
        { role: "tool", tool_call_id: "call_1", content: "sunny" },
      ],
    },
  });
  assert.equal(ok.status, 200);
});

test("validation: a body that is not JSON → 400 'could not parse the JSON body'", async () => {
  for (const body of ["{not json", "", "[1,2]"]) {
    const r = await post({ body });
    assert.equal(r.status, 400, JSON.stringify(body));
    assert.match(json(r).error.message, /could not parse the JSON body|Invalid type for request body/);
  }
});

test("validation: fields OpenAI does not know (Bedrock's, Anthropic's) → 400 unrecognized request argument", async () => {
  for (const field of BEDROCK_ONLY_FIELDS) {
    const r = await post({ body: { ...BODY, [field]: field === "top_k" ? 5 : {} } });
    assert.equal(r.status, 400, field);
    assert.deepEqual(json(r).error, { message: `Unrecognized request argument supplied: ${field}`, type: "invalid_request_error", param: null, code: null });
  }
  const two = await post({ body: { ...BODY, additionalModelRequestFields: {}, inferenceConfig: { maxTokens: 5 } } });
  assert.equal(json(two).error.message, "Unrecognized request arguments supplied: additionalModelRequestFields, inferenceConfig");
  // every field OpenAI knows passes
  const known = {
    ...BODY,
    temperature: 0.2, top_p: 1, n: 1, stop: ["\n\n"], max_tokens: 100, max_completion_tokens: 100, presence_penalty: 0,
    frequency_penalty: 0, logit_bias: {}, user: "u1", seed: 7, logprobs: false, response_format: { type: "text" },
    metadata: { a: "b" }, store: false, parallel_tool_calls: true, reasoning_effort: "low", service_tier: "auto",
    safety_identifier: "x", prompt_cache_key: "k", verbosity: "low", modalities: ["text"],
  };
  assert.equal((await post({ body: known })).status, 200);
  // strictFields: false (OpenAI-compatible servers that take extra fields)
  s.configure({ openai: { strictFields: false } });
  assert.equal((await post({ body: { ...BODY, top_k: 5 } })).status, 200);
  s.reset();
  assert.equal((await post({ body: { ...BODY, top_k: 5 } })).status, 400, "reset restores strictFields");
});

// ------------------------------------------------------------------ tools, length

test("tools: tool_choice required or a named function → a tool call with schema-valid arguments", async () => {
  const tools = [
    { type: "function", function: { name: "get_time", description: "time", parameters: { type: "object", properties: {} } } },
    {
      type: "function",
      function: {
        name: "get_weather",
        parameters: {
          type: "object",
          properties: { city: { type: "string" }, unit: { type: "string", enum: ["celsius", "fahrenheit"] }, days: { type: "integer", minimum: 1 }, verbose: { type: "boolean" } },
          required: ["city", "unit", "days"],
        },
      },
    },
  ];
  const req = await post({ body: { ...BODY, tools, tool_choice: "required" } });
  const c = json(req).choices[0];
  assert.equal(c.finish_reason, "tool_calls");
  assert.equal(c.message.content, null);
  assert.equal(c.message.tool_calls.length, 1);
  assert.match(c.message.tool_calls[0].id, /^call_/);
  assert.equal(c.message.tool_calls[0].type, "function");
  assert.deepEqual(c.message.tool_calls[0].function, { name: "get_time", arguments: "{}" });

  const named = await post({ body: { ...BODY, tools, tool_choice: { type: "function", function: { name: "get_weather" } } } });
  const f = json(named).choices[0].message.tool_calls[0].function;
  assert.equal(f.name, "get_weather");
  assert.deepEqual(JSON.parse(f.arguments), { city: "standin", unit: "celsius", days: 1 });

  const auto = await post({ body: { ...BODY, tools, tool_choice: "auto" } });
  assert.equal(json(auto).choices[0].message.content, EXPECTED_TEXT);
  assert.equal(json(auto).choices[0].finish_reason, "stop");

  s.script({ toolCall: { name: "get_weather", arguments: { city: "Paris", unit: "celsius", days: 2 } } });
  const scripted = await post({ body: { ...BODY, tools } });
  assert.deepEqual(JSON.parse(json(scripted).choices[0].message.tool_calls[0].function.arguments), { city: "Paris", unit: "celsius", days: 2 });

  // streamed: a first chunk naming the function, argument fragments, finish_reason tool_calls
  const st = await post({ body: { ...BODY, tools, tool_choice: { type: "function", function: { name: "get_weather" } }, stream: true } });
  const evs = events(st.text);
  assert.equal(evs.at(-1), "[DONE]");
  const first = evs[0].choices[0].delta;
  assert.equal(first.role, "assistant");
  assert.equal(first.tool_calls[0].function.name, "get_weather");
  assert.equal(first.tool_calls[0].function.arguments, "");
  const args = evs.slice(1, -2).map((e) => e.choices[0].delta.tool_calls[0].function.arguments).join("");
  assert.deepEqual(JSON.parse(args), { city: "standin", unit: "celsius", days: 1 });
  assert.ok(evs.length > 4, "arguments come in several fragments");
  assert.equal(evs.at(-2).choices[0].finish_reason, "tool_calls");
});

test("max_tokens / max_completion_tokens below the answer's length → cut, finish_reason length", async () => {
  const r = await post({ body: { ...BODY, max_completion_tokens: 3 } });
  assert.equal(json(r).choices[0].message.content, "Hello from the");
  assert.equal(json(r).choices[0].finish_reason, "length");
  assert.equal(json(r).usage.completion_tokens, 3);
  const st = await post({ body: streamBody({ max_tokens: 2 }) });
  const evs = events(st.text);
  assert.equal(contentOf(evs), "Hello from");
  assert.equal(evs.at(-2).choices[0].finish_reason, "length");
});

// ------------------------------------------------------------------ SSE

test("stream: SSE exactly as OpenAI sends it (role chunk, content deltas, finish chunk, [DONE])", async () => {
  const r = await post({ body: streamBody() });
  assert.equal(r.status, 200);
  assert.equal(r.headers["content-type"], "text/event-stream; charset=utf-8");
  assert.equal(r.headers["transfer-encoding"], "chunked");
  assert.ok(r.headers["x-request-id"]);
  assert.ok(r.text.endsWith(SSE_DONE));
  const evs = events(r.text);
  assert.equal(evs.at(-1), "[DONE]");
  const chunks = evs.slice(0, -1);
  const id = chunks[0].id;
  for (const c of chunks) {
    assert.equal(c.id, id);
    assert.match(id, /^chatcmpl-/);
    assert.equal(c.object, "chat.completion.chunk");
    assert.equal(c.model, MODEL);
    assert.equal(c.choices.length, 1);
    assert.equal(c.choices[0].index, 0);
    assert.ok(!("usage" in c), "no usage field without include_usage");
    assert.equal(typeof c.obfuscation, "string");
  }
  assert.deepEqual(chunks[0].choices[0].delta, { role: "assistant", content: "", refusal: null });
  assert.equal(chunks[0].choices[0].finish_reason, null);
  const content = chunks.slice(1, -1);
  assert.ok(content.length >= 3, "several content deltas");
  for (const c of content) {
    assert.deepEqual(Object.keys(c.choices[0].delta), ["content"]);
    assert.equal(c.choices[0].finish_reason, null);
  }
  assert.equal(contentOf(chunks), EXPECTED_TEXT);
  assert.deepEqual(chunks.at(-1).choices[0].delta, {});
  assert.equal(chunks.at(-1).choices[0].finish_reason, "stop");
  const rec = s.requests()[0];
  assert.equal(rec.streamEnd, "complete");
  assert.equal(rec.framesSentAt.length, evs.length);
  assert.equal(rec.openai.stream, true);
});

test("stream_options.include_usage: usage null on every chunk, then a chunk with empty choices and usage", async () => {
  const r = await post({ body: streamBody({ stream_options: { include_usage: true, include_obfuscation: false } }) });
  const evs = events(r.text);
  assert.equal(evs.at(-1), "[DONE]");
  const u = evs.at(-2);
  assert.deepEqual(u.choices, []);
  assert.equal(u.usage.total_tokens, u.usage.prompt_tokens + u.usage.completion_tokens);
  assert.ok(u.usage.completion_tokens_details && u.usage.prompt_tokens_details);
  for (const c of evs.slice(0, -2)) {
    assert.equal(c.usage, null);
    assert.ok(!("obfuscation" in c), "include_obfuscation: false");
  }
  assert.equal(evs.at(-3).choices[0].finish_reason, "stop");
  assert.equal(s.requests()[0].openai.includeUsage, true);
});

test("stream: one write per event with a real pause between (default 5 ms; pauseMs; 0 = setImmediate)", async () => {
  s.script({ stream: { pauseMs: 25 } });
  const r = await post({ body: streamBody() });
  const t = s.requests()[0].framesSentAt;
  assert.equal(t.length, events(r.text).length);
  for (let i = 1; i < t.length; i++) assert.ok(t[i] - t[i - 1] >= 20, `gap ${i}: ${t[i] - t[i - 1]}`);
  assert.equal(r.chunks.length, t.length, "each event arrives as its own read");
  assert.ok(r.chunks.every((c) => c.bytes.toString().endsWith("\n\n")), "reads end on event boundaries");

  s.reset();
  const d = await post({ body: streamBody() });
  const td = s.requests()[0].framesSentAt;
  assert.ok(td.at(-1) - td[0] >= 4 * (td.length - 1) - 2, "default 5 ms between events");
  assert.ok(d.chunks.length >= td.length - 1);

  s.reset();
  s.configure({ openai: { streamPauseMs: 0 } });
  const z = await post({ body: streamBody() });
  assert.equal(z.status, 200);
  assert.ok(z.text.endsWith(SSE_DONE));
});

test("stream: splitAt / chunkSize cut the bytes anywhere (events straddle reads)", async () => {
  s.script({ stream: { chunkSize: 40, pauseMs: 1 } });
  const r = await post({ body: streamBody() });
  assert.ok(r.chunks.length > 20);
  assert.ok(r.chunks.some((c) => !c.bytes.toString().endsWith("\n\n")), "some reads end inside an event");
  assert.equal(contentOf(events(r.text)), EXPECTED_TEXT);
});

// ------------------------------------------------------------------ scripted HTTP errors

test("scripted 429: rate_limit_exceeded with retry-after and x-ratelimit-* headers", async () => {
  s.script({ match: { operation: OPENAI_CHAT_OPERATION }, status: 429 });
  const r = await post();
  assert.equal(r.status, 429);
  assert.equal(r.headers["retry-after"], "1");
  assert.equal(r.headers["x-ratelimit-remaining-requests"], "0");
  assert.equal(r.headers["x-ratelimit-limit-requests"], "10000");
  assert.ok(r.headers["x-ratelimit-reset-requests"]);
  const e = json(r).error;
  assert.equal(e.code, "rate_limit_exceeded");
  assert.equal(e.type, "requests");
  assert.match(e.message, new RegExp(`^Rate limit reached for ${MODEL} in organization`));
  assert.equal(s.requests()[0].scripted, true);

  s.script({ status: 429, retryAfter: null, retryAfterMs: 250, headers: { "x-ratelimit-reset-tokens": "2s", "openai-version": null }, message: "slow down" });
  const r2 = await post();
  assert.equal(r2.headers["retry-after"], undefined);
  assert.equal(r2.headers["openai-version"], undefined, "a null header removes a default");
  assert.equal(r2.headers["retry-after-ms"], "250");
  assert.equal(r2.headers["x-ratelimit-reset-tokens"], "2s");
  assert.equal(json(r2).error.message, "slow down");

  s.script({ quota: true });
  const q = await post();
  assert.equal(q.status, 429);
  assert.equal(json(q).error.code, "insufficient_quota");
  assert.equal(json(q).error.type, "insufficient_quota");
});

test("scripted 500 / 502 / 503 / 504 / 404 and overrides; streams get the same HTTP errors", async () => {
  const expect = {
    500: { type: "server_error", code: null },
    502: { type: "cf_bad_gateway", code: 502 },
    503: { type: "server_error", code: null },
    504: { type: "cf_gateway_timeout", code: 504 },
    404: { type: "invalid_request_error", code: "model_not_found" },
  };
  for (const [status, want] of Object.entries(expect)) {
    s.script({ status: Number(status) });
    const r = await post({ body: streamBody() });
    assert.equal(r.status, Number(status));
    assert.match(r.headers["content-type"], /^application\/json/);
    const e = json(r).error;
    assert.equal(e.type, want.type, status);
    assert.equal(e.code, want.code, status);
    assert.equal(typeof e.message, "string");
    assert.equal(e.param, null);
  }
  s.script({ status: 503, error: { code: "overloaded", message: "busy" } });
  assert.deepEqual(json(await post()).error, { message: "busy", type: "server_error", param: null, code: "overloaded" });
  s.script({ status: 400, error: { param: "temperature", code: "invalid_value" } });
  const b = json(await post()).error;
  assert.equal(b.param, "temperature");
  assert.equal(b.type, "invalid_request_error");
  s.script({ status: 502, body: "<html><body>502 Bad Gateway</body></html>" });
  const html = await post();
  assert.equal(html.status, 502);
  assert.match(html.headers["content-type"], /^text\/html/);
  assert.match(html.text, /^<html>/);
  s.script({ status: 500, json: { weird: true } });
  assert.deepEqual(json(await post()), { weird: true });
});

test("scripted answers: text, usage, finishReason, responseModel, json as is", async () => {
  s.script({ text: "Paris.", usage: { prompt_tokens: 11, completion_tokens: 2 }, responseModel: "gpt-4o-mini-2024-07-18" });
  const b = json(await post());
  assert.equal(b.choices[0].message.content, "Paris.");
  assert.equal(b.model, "gpt-4o-mini-2024-07-18");
  assert.equal(b.usage.prompt_tokens, 11);
  assert.equal(b.usage.completion_tokens, 2);
  assert.equal(b.usage.total_tokens, 13);
  s.script({ text: "one two three four", finishReason: "content_filter" });
  const st = events((await post({ body: streamBody() })).text);
  assert.equal(contentOf(st), "one two three four");
  assert.equal(st.at(-2).choices[0].finish_reason, "content_filter");
  s.script({ json: { id: "chatcmpl-x", object: "chat.completion", choices: [] } });
  assert.deepEqual(json(await post()), { id: "chatcmpl-x", object: "chat.completion", choices: [] });
});

test("match: operation, provider, model and stream keep OpenAI and Bedrock scripts apart", async () => {
  s.script({ match: { operation: "converse" }, status: 500 });
  s.script({ match: { provider: "bedrock" }, status: 500 });
  assert.equal((await post()).status, 200, "Bedrock entries are not consumed by OpenAI requests");
  assert.equal(s.pending().length, 2);
  s.reset();
  s.script({ match: { provider: "openai", model: "gpt-4.1" }, status: 503 });
  assert.equal((await post()).status, 200, "other model");
  assert.equal((await post({ body: { ...BODY, model: "gpt-4.1" } })).status, 503);
  s.script({ match: { operation: OPENAI_CHAT_OPERATION, stream: true }, status: 500 });
  assert.equal((await post()).status, 200, "JSON request, stream entry");
  assert.equal((await post({ body: streamBody() })).status, 500);
  s.script({ match: { operation: OPENAI_CHAT_OPERATION, stream: false }, status: 500 });
  assert.equal((await post({ body: streamBody() })).status, 200);
  assert.equal((await post()).status, 500);
});

test("HTTP control API takes OpenAI entries; reset clears; unknown /v1 paths → 404 Invalid URL", async () => {
  const r = await fetch(`${s.url}/__standin/script`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ match: { operation: OPENAI_CHAT_OPERATION }, text: "over http" }),
  });
  assert.equal(r.status, 200);
  assert.equal(json(await post()).choices[0].message.content, "over http");
  const reqs = await (await fetch(`${s.url}/__standin/requests`)).json();
  assert.equal(reqs[0].operation, OPENAI_CHAT_OPERATION);
  assert.equal(reqs[0].headers.authorization, "Bearer sk-sta***");

  const u = await post({ path: "/v1/completions" });
  assert.equal(u.status, 404);
  assert.deepEqual(json(u).error, { message: "Invalid URL (POST /v1/completions)", type: "invalid_request_error", param: null, code: null });
  assert.equal((await post({ method: "GET", body: "" })).status, 404);
});

// ------------------------------------------------------------------ faults

test("stallBeforeHeaders: a number answers late, true never answers; dropBeforeHeaders resets", async () => {
  s.script({ stallBeforeHeaders: 150 });
  const t0 = Date.now();
  const late = await post();
  assert.equal(late.status, 200);
  assert.ok(Date.now() - t0 >= 140);
  assert.equal(s.requests()[0].stalled, "before-headers");

  s.reset();
  s.script({ stallBeforeHeaders: true });
  const never = await post({ body: streamBody(), abortAfterMs: 250 });
  assert.equal(never.status, 0, "no headers arrived");
  await new Promise((r) => setTimeout(r, 20));
  const rec = s.requests()[0];
  assert.equal(rec.stalled, "before-headers");
  assert.equal(rec.clientAborted, true);
  assert.equal(rec.streamEnd, "aborted");

  s.reset();
  s.script({ dropBeforeHeaders: true });
  const dropped = await post({ body: streamBody() });
  assert.equal(dropped.status, 0);
  assert.match(String(dropped.error?.code ?? dropped.error?.message), /ECONNRESET|socket hang up/);
  assert.equal(s.requests()[0].streamEnd, "dropped");
});

test("stream.dropBeforeContent / dropAfterChunks: headers, n events, then a reset (no [DONE])", async () => {
  s.script({ stream: { dropBeforeContent: true } });
  const r = await post({ body: streamBody() });
  assert.equal(r.status, 200);
  assert.ok(r.error, "the stream ends in an error, not a clean end");
  const evs = events(r.text);
  assert.equal(evs.length, 1);
  assert.equal(evs[0].choices[0].delta.role, "assistant");
  assert.equal(contentOf(evs), "");
  assert.equal(s.requests()[0].streamEnd, "dropped");

  s.script({ stream: { dropAfterChunks: 0 } });
  const zero = await post({ body: streamBody() });
  assert.equal(zero.status, 200);
  assert.equal(zero.text, "");
  assert.ok(zero.error);

  s.script({ stream: { dropAfterChunks: 4 } });
  const four = await post({ body: streamBody() });
  const e4 = events(four.text);
  assert.equal(e4.length, 4);
  assert.equal(contentOf(e4), "Hello from the");
  assert.ok(four.error);
});

test("stream.errorAfterChunks: an in-stream error event, then the end (no [DONE])", async () => {
  s.script({ stream: { errorAfterChunks: { after: 3 } } });
  const r = await post({ body: streamBody() });
  assert.equal(r.error, undefined, "a clean end");
  const evs = events(r.text);
  assert.equal(evs.length, 4);
  assert.deepEqual(evs[3], {
    error: { message: "The server had an error while processing your request. Sorry about that!", type: "server_error", param: null, code: null },
  });
  assert.ok(!r.text.includes("[DONE]"));

  s.script({ stream: { errorAfterChunks: { after: 0, status: 429, message: "Rate limited mid-stream" } } });
  const first = events((await post({ body: streamBody() })).text);
  assert.equal(first.length, 1);
  assert.equal(first[0].error.code, "rate_limit_exceeded");
  assert.equal(first[0].error.message, "Rate limited mid-stream");
});

test("stream.stallAfterChunks: silence of ms after n events, or until the client leaves", async () => {
  s.script({ stream: { stallAfterChunks: { after: 2, ms: 200 }, pauseMs: 0 } });
  const r = await post({ body: streamBody() });
  const t = s.requests()[0].framesSentAt;
  assert.ok(t[2] - t[1] >= 190, `gap ${t[2] - t[1]}`);
  assert.ok(r.text.endsWith(SSE_DONE));
  assert.equal(s.requests()[0].stalled, "mid-stream");

  s.reset();
  s.script({ stream: { stallAfterChunks: { after: 3 } } });
  const cut = await post({ body: streamBody(), abortAfterMs: 250 });
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(events(cut.text).length, 3);
  const rec = s.requests()[0];
  assert.equal(rec.stalled, "mid-stream");
  assert.equal(rec.streamEnd, "aborted");
  assert.equal(rec.clientAborted, true);
});

test("stream.garbageAfterChunks: garbage lines instead of (or among) the events", async () => {
  s.script({ stream: { garbageAfterChunks: { after: 2 } } });
  const r = await post({ body: streamBody() });
  assert.equal(r.text.split("\n\n").filter(Boolean).length, 3);
  assert.ok(r.text.endsWith("data: {not json\n\n"));

  s.script({ stream: { garbageAfterChunks: { after: 2, text: "event: ping\n: keep-alive\nnot an sse line\n\n", then: "continue" } } });
  const c = await post({ body: streamBody() });
  assert.ok(c.text.includes("not an sse line"));
  assert.ok(c.text.endsWith(SSE_DONE));

  s.script({ stream: { garbageAfterChunks: { after: 1, bytes: 64, seed: 7, then: "drop" } } });
  const b = await post({ body: streamBody() });
  assert.ok(b.error);
  assert.equal(Buffer.concat(b.chunks.map((x) => x.bytes)).length - Buffer.byteLength(b.text.split("\n\n")[0] + "\n\n"), 64);
});

test("stream.chunks and done: false script the events themselves", async () => {
  s.script({ stream: { chunks: [{ id: "c1", object: "chat.completion.chunk", choices: [{ index: 0, delta: { content: "x" } }] }, ": comment\n\n", SSE_DONE] } });
  const r = await post({ body: streamBody() });
  assert.equal(r.text, `data: {"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"x"}}]}\n\n: comment\n\n${SSE_DONE}`);
  s.script({ stream: { done: false } });
  const n = await post({ body: streamBody() });
  assert.ok(!n.text.includes("[DONE]"));
  assert.equal(contentOf(events(n.text)), EXPECTED_TEXT);
});

test("raw status lines and drip", async () => {
  s.script({ raw: true, status: 1000, reason: "Odd" });
  const net = await import("node:net");
  const got = await new Promise((resolve) => {
    const sock = net.connect(s.port, "127.0.0.1");
    const parts = [];
    sock.on("data", (d) => parts.push(d));
    sock.on("close", () => resolve(Buffer.concat(parts).toString("latin1")));
    const b = JSON.stringify(BODY);
    sock.write(`POST ${PATH} HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${OPENAI_TEST_KEYS.valid}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(b)}\r\n\r\n${b}`);
  });
  assert.match(got, /^HTTP\/1\.1 1000 Odd\r\n/);
  assert.equal(s.requests()[0].rawStatus, 1000);

  s.script({ drip: { bytes: 40, everyMs: 2 } });
  const d = await post();
  assert.ok(d.chunks.length > 5);
  assert.equal(json(d).choices[0].message.content, EXPECTED_TEXT);
});

// ------------------------------------------------------------------ the real openai SDK

test("openai SDK: chat.completions.create works against the stand-in (JSON)", async () => {
  const c = client({ organization: OPENAI_TEST_ORGANIZATION, project: OPENAI_TEST_PROJECT });
  const r = await c.chat.completions.create({ model: MODEL, messages: [{ role: "user", content: USER }] });
  assert.equal(r.choices[0].message.content, EXPECTED_TEXT);
  assert.equal(r.model, MODEL);
  assert.ok(r.usage.total_tokens > 0);
  const rec = s.requests()[0];
  assert.equal(rec.openai.organization, OPENAI_TEST_ORGANIZATION);
  assert.equal(rec.openai.project, OPENAI_TEST_PROJECT);
  assert.equal(rec.signature.key, "valid");
  // with tools
  const t = await c.chat.completions.create({
    model: MODEL,
    messages: [{ role: "user", content: "weather in Paris?" }],
    tools: [{ type: "function", function: { name: "get_weather", parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] } } }],
    tool_choice: "required",
  });
  assert.deepEqual(JSON.parse(t.choices[0].message.tool_calls[0].function.arguments), { city: "standin" });
});

test("openai SDK: streaming with include_usage, and the SDK's stream helper", async () => {
  const c = client();
  const stream = await c.chat.completions.create({ model: MODEL, messages: [{ role: "user", content: USER }], stream: true, stream_options: { include_usage: true } });
  let text = "";
  let usage = null;
  let n = 0;
  for await (const chunk of stream) {
    n++;
    text += chunk.choices[0]?.delta?.content ?? "";
    if (chunk.usage) usage = chunk.usage;
  }
  assert.equal(text, EXPECTED_TEXT);
  assert.ok(n >= 5);
  assert.ok(usage.total_tokens > 0);
  const helper = c.chat.completions.stream({ model: MODEL, messages: [{ role: "user", content: "Hi" }] });
  const final = await helper.finalChatCompletion();
  assert.equal(final.choices[0].message.content, `${OPENAI_TEXT_PREFIX}Hi`);
});

test("openai SDK: RateLimitError on the scripted 429, AuthenticationError, in-stream APIError, connection errors", async () => {
  const c = client();
  const msg = [{ role: "user", content: USER }];
  s.script({ match: { operation: OPENAI_CHAT_OPERATION }, status: 429 });
  await assert.rejects(c.chat.completions.create({ model: MODEL, messages: msg }), (e) => {
    assert.ok(e instanceof OpenAI.RateLimitError, e.constructor.name);
    assert.equal(e.status, 429);
    assert.equal(e.code, "rate_limit_exceeded");
    assert.equal(e.headers.get("retry-after"), "1");
    return true;
  });
  s.script({ status: 429 });
  await assert.rejects(c.chat.completions.create({ model: MODEL, messages: msg, stream: true }), OpenAI.RateLimitError);

  await assert.rejects(new OpenAI({ apiKey: "sk-bad", baseURL: s.openaiBaseURL, maxRetries: 0 }).chat.completions.create({ model: MODEL, messages: msg }), (e) => {
    assert.ok(e instanceof OpenAI.AuthenticationError);
    assert.equal(e.code, "invalid_api_key");
    return true;
  });
  await assert.rejects(c.chat.completions.create({ model: MODEL, messages: msg, top_k: 3 }), (e) => e instanceof OpenAI.BadRequestError && /top_k/.test(e.message));

  s.script({ stream: { errorAfterChunks: { after: 2 } } });
  const st = await c.chat.completions.create({ model: MODEL, messages: msg, stream: true });
  await assert.rejects(
    (async () => {
      for await (const _ of st);
    })(),
    (e) => e instanceof OpenAI.APIError && /server had an error/.test(e.message),
  );

  s.script({ dropBeforeHeaders: true });
  await assert.rejects(c.chat.completions.create({ model: MODEL, messages: msg }), OpenAI.APIConnectionError);

  // a stream dropped before any content: the SDK's iteration fails (undici "terminated"), no chunk had content
  s.script({ stream: { dropBeforeContent: true } });
  const dropped = await c.chat.completions.create({ model: MODEL, messages: msg, stream: true });
  let seen = "";
  await assert.rejects(async () => {
    for await (const ch of dropped) seen += ch.choices[0]?.delta?.content ?? "";
  }, /terminated/);
  assert.equal(seen, "");

  // the SDK's own retries: two 500s, then the answer (default maxRetries 2; retry-after-ms keeps it fast)
  s.script({ status: 500, retryAfterMs: 10 });
  s.script({ status: 500, retryAfterMs: 10 });
  const retried = await client({ maxRetries: 2 }).chat.completions.create({ model: MODEL, messages: msg });
  assert.equal(retried.choices[0].message.content, EXPECTED_TEXT);
  assert.equal(s.requests().filter((r) => r.operation === OPENAI_CHAT_OPERATION).slice(-3).map((r) => r.status).join(","), "500,500,200");
});

test("the Bedrock side is unchanged next to OpenAI: an OpenAI key on a Bedrock route is refused", async () => {
  const r = await post({ path: "/model/us.anthropic.claude-3-7-sonnet-20250219-v1%3A0/converse", body: { messages: [] } });
  assert.equal(r.status, 403);
  assert.match(r.headers["x-amzn-errortype"], /^UnrecognizedClientException/);
});

// ------------------------------------------------------------------ the Responses API (/v1/responses)

const RPATH = "/v1/responses";
const RBODY = { model: MODEL, input: USER, instructions: "Be brief." };
const WEATHER = {
  type: "function",
  name: "get_weather",
  description: "Weather in a city",
  parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"], additionalProperties: false },
  strict: true,
};

/** A Responses SSE body → [{event, data}] (data parsed); asserts the `event:` + `data:` framing. */
function namedEvents(text) {
  assert.ok(text.endsWith("\n\n"), `SSE ends with a blank line: ${JSON.stringify(text.slice(-40))}`);
  return text
    .split("\n\n")
    .filter(Boolean)
    .map((ev) => {
      const m = /^event: ([^\n]+)\ndata: ([^\n]+)$/.exec(ev);
      assert.ok(m, `every event is one event line and one data line: ${JSON.stringify(ev.slice(0, 120))}`);
      const data = JSON.parse(m[2]);
      assert.equal(data.type, m[1], "the event name is the payload's type");
      return data;
    });
}

test("responses: JSON, a realistic response object echoing the request; the request recorded", async () => {
  const r = await post({ path: RPATH, body: { ...RBODY, metadata: { team: "e2e" }, temperature: 0.2 } });
  assert.equal(r.status, 200);
  assert.match(r.headers["x-request-id"], /^req_[0-9a-f]{32}$/);
  const b = json(r);
  assert.match(b.id, /^resp_[0-9a-f]{48}$/);
  assert.equal(b.object, "response");
  assert.equal(b.status, "completed");
  assert.ok(Math.abs(b.created_at - Date.now() / 1000) < 5);
  assert.equal(typeof b.completed_at, "number");
  assert.equal(b.model, MODEL);
  assert.equal(b.instructions, "Be brief.");
  assert.equal(b.error, null);
  assert.equal(b.incomplete_details, null);
  assert.equal(b.store, true);
  assert.equal(b.temperature, 0.2);
  assert.deepEqual(b.metadata, { team: "e2e" });
  assert.deepEqual(b.text, { format: { type: "text" }, verbosity: "medium" });
  assert.equal(b.output.length, 1);
  const [m] = b.output;
  assert.match(m.id, /^msg_[0-9a-f]{48}$/);
  assert.deepEqual({ ...m, id: "x" }, {
    id: "x", type: "message", status: "completed", role: "assistant",
    content: [{ type: "output_text", annotations: [], logprobs: [], text: EXPECTED_TEXT }],
  });
  assert.equal(b.output_text, undefined, "output_text is the SDK's convenience, not on the wire");
  const u = b.usage;
  assert.deepEqual(Object.keys(u), ["input_tokens", "input_tokens_details", "output_tokens", "output_tokens_details", "total_tokens"]);
  assert.equal(u.total_tokens, u.input_tokens + u.output_tokens);
  assert.equal(u.output_tokens, EXPECTED_TEXT.split(" ").length);
  assert.deepEqual(u.input_tokens_details, { cached_tokens: 0 });
  assert.deepEqual(u.output_tokens_details, { reasoning_tokens: 0 });

  const [rec] = s.requests();
  assert.equal(rec.operation, OPENAI_RESPONSES_OPERATION);
  assert.equal(rec.path, RPATH);
  assert.equal(rec.model, MODEL);
  assert.deepEqual(rec.body, { ...RBODY, metadata: { team: "e2e" }, temperature: 0.2 });
  assert.deepEqual(rec.signature, { ok: true, auth: "bearer", key: "valid" });
  assert.equal(rec.openai.stream, false);
  assert.equal(rec.openai.responseId, b.id);
  assert.equal(rec.openai.previousResponseId, null);
  assert.equal(rec.headers.authorization, "Bearer sk-sta***");

  // input as items: the last user message's text parts
  const items = await post({ path: RPATH, body: { model: MODEL, input: [
    { role: "developer", content: "Be brief." },
    { type: "message", role: "user", content: [{ type: "input_text", text: "Hi" }, { type: "input_text", text: "there" }] },
  ] } });
  assert.equal(json(items).output[0].content[0].text, `${OPENAI_TEXT_PREFIX}Hi there`);
});

test("responses: the Bearer key is checked as on chat (401s), GET/DELETE too", async () => {
  const none = await post({ path: RPATH, body: RBODY, key: null });
  assert.equal(none.status, 401);
  assert.match(json(none).error.message, /^You didn't provide an API key/);
  const wrong = await post({ path: RPATH, body: RBODY, key: "sk-wrong-key-abcdefghijklmnop-9999" });
  assert.equal(wrong.status, 401);
  assert.equal(json(wrong).error.code, "invalid_api_key");
  assert.equal((await post({ path: `${RPATH}/resp_abc`, method: "GET", body: "", key: null })).status, 401);
  assert.equal((await post({ path: `${RPATH}/resp_abc`, method: "DELETE", body: "", key: "sk-nope" })).status, 401);
  assert.deepEqual(s.requests().map((r) => r.signature.ok), [false, false, false, false]);
  assert.deepEqual(s.requests().map((r) => r.operation), [
    OPENAI_RESPONSES_OPERATION, OPENAI_RESPONSES_OPERATION, OPENAI_RESPONSES_RETRIEVE_OPERATION, OPENAI_RESPONSES_DELETE_OPERATION,
  ]);
});

test("responses: validation (unknown fields, model, input items, tools)", async () => {
  const cases = [
    [{ ...RBODY, messages: [] }, "Unrecognized request argument supplied: messages", null, null],
    [{ ...RBODY, top_k: 3, inferenceConfig: {} }, "Unrecognized request arguments supplied: top_k, inferenceConfig", null, null],
    [{ input: "x" }, "Missing required parameter: 'model'.", "model", "missing_required_parameter"],
    [{ model: MODEL, input: 5 }, /^Invalid type for 'input'/, "input", "invalid_type"],
    [{ model: MODEL, input: [{ role: "wizard", content: "x" }] }, /^Invalid value: 'wizard'/, "input[0].role", "invalid_value"],
    [{ model: MODEL, input: [{ role: "user" }] }, "Missing required parameter: 'input[0].content'.", "input[0].content", "missing_required_parameter"],
    [{ model: MODEL, input: [{ type: "function_call_output", output: "x" }] }, "Missing required parameter: 'input[0].call_id'.", "input[0].call_id", "missing_required_parameter"],
    [{ ...RBODY, tools: [{ type: "function", parameters: {} }] }, "Missing required parameter: 'tools[0].name'.", "tools[0].name", "missing_required_parameter"],
    [{ ...RBODY, stream_options: { include_obfuscation: false } }, /only allowed when 'stream' is enabled/, "stream_options", null],
  ];
  for (const [body, message, param, code] of cases) {
    const r = await post({ path: RPATH, body });
    assert.equal(r.status, 400, JSON.stringify(body));
    const e = json(r).error;
    if (message instanceof RegExp) assert.match(e.message, message);
    else assert.equal(e.message, message);
    assert.equal(e.param, param, JSON.stringify(body));
    assert.equal(e.code, code, JSON.stringify(body));
  }
  // built-in tools are OpenAI's to run: accepted
  assert.equal((await post({ path: RPATH, body: { ...RBODY, tools: [{ type: "web_search" }] } })).status, 200);
  // a scripted entry waits for a valid request
  s.script({ match: { operation: OPENAI_RESPONSES_OPERATION }, status: 429 });
  assert.equal((await post({ path: RPATH, body: { input: "x" } })).status, 400);
  assert.equal((await post({ path: RPATH, body: RBODY })).status, 429);
});

test("responses: stream, the event sequence OpenAI sends (named events, sequence_number from 0)", async () => {
  const r = await post({ path: RPATH, body: { ...RBODY, stream: true } });
  assert.equal(r.status, 200);
  assert.match(r.headers["content-type"], /^text\/event-stream/);
  assert.ok(!r.text.includes("[DONE]"), "the Responses API sends no [DONE]");
  const evs = namedEvents(r.text);
  const words = EXPECTED_TEXT.split(" ").length;
  assert.deepEqual(evs.map((e) => e.type), [
    "response.created", "response.in_progress", "response.output_item.added", "response.content_part.added",
    ...Array(words).fill("response.output_text.delta"),
    "response.output_text.done", "response.content_part.done", "response.output_item.done", "response.completed",
  ]);
  assert.deepEqual(evs.map((e) => e.sequence_number), evs.map((_, i) => i));
  assert.equal(evs[0].response.status, "in_progress");
  assert.deepEqual(evs[0].response.output, []);
  assert.equal(evs[0].response.usage, null);
  const id = evs[0].response.id;
  assert.ok(evs.filter((e) => e.response).every((e) => e.response.id === id), "one response id");
  const itemId = evs[2].item.id;
  assert.ok(evs.slice(3, -2).every((e) => e.item_id === itemId && e.output_index === 0 && e.content_index === 0));
  const deltas = evs.filter((e) => e.type === "response.output_text.delta");
  assert.equal(deltas.map((e) => e.delta).join(""), EXPECTED_TEXT);
  assert.ok(deltas.every((e) => typeof e.obfuscation === "string"));
  assert.equal(evs.at(-4).text, EXPECTED_TEXT);
  const done = evs.at(-1).response;
  assert.equal(done.status, "completed");
  assert.deepEqual(done.output, [evs.at(-2).item]);
  assert.equal(done.output[0].content[0].text, EXPECTED_TEXT);
  assert.ok(done.usage.total_tokens > 0);
  assert.equal(s.requests()[0].openai.stream, true);
  assert.equal(s.requests()[0].framesSentAt.length, evs.length, "one write per event");

  const plain = await post({ path: RPATH, body: { ...RBODY, stream: true, stream_options: { include_obfuscation: false } } });
  assert.ok(namedEvents(plain.text).every((e) => e.obfuscation === undefined));
});

test("responses: function tools (tool_choice required, a named function, scripted toolCall), JSON and streamed", async () => {
  const a = json(await post({ path: RPATH, body: { ...RBODY, tools: [WEATHER], tool_choice: "required" } }));
  assert.equal(a.output.length, 1);
  const [fc] = a.output;
  assert.match(fc.id, /^fc_[0-9a-f]{48}$/);
  assert.match(fc.call_id, /^call_[A-Za-z0-9]{24}$/);
  assert.deepEqual({ ...fc, id: "x", call_id: "y" }, { id: "x", type: "function_call", status: "completed", arguments: '{"city":"standin"}', call_id: "y", name: "get_weather" });
  assert.deepEqual(a.tools, [WEATHER]);
  assert.equal(a.tool_choice, "required");

  const named = json(await post({ path: RPATH, body: { ...RBODY, tools: [{ type: "function", name: "t0", parameters: {} }, WEATHER], tool_choice: { type: "function", name: "get_weather" } } }));
  assert.equal(named.output[0].name, "get_weather");
  assert.equal(json(await post({ path: RPATH, body: { ...RBODY, tools: [WEATHER] } })).output[0].type, "message", "auto → text");

  s.script({ match: { operation: OPENAI_RESPONSES_OPERATION }, toolCall: { name: "get_weather", arguments: { city: "Paris" }, callId: "call_fixed" } });
  const scripted = json(await post({ path: RPATH, body: { ...RBODY, tools: [WEATHER] } }));
  assert.equal(scripted.output[0].call_id, "call_fixed");
  assert.equal(scripted.output[0].arguments, '{"city":"Paris"}');

  const st = namedEvents((await post({ path: RPATH, body: { ...RBODY, tools: [WEATHER], tool_choice: "required", stream: true } })).text);
  const types = st.map((e) => e.type);
  assert.deepEqual([types[0], types[1], types[2]], ["response.created", "response.in_progress", "response.output_item.added"]);
  assert.deepEqual(types.slice(-3), ["response.function_call_arguments.done", "response.output_item.done", "response.completed"]);
  assert.equal(st[2].item.arguments, "");
  assert.equal(st[2].item.status, "in_progress");
  const args = st.filter((e) => e.type === "response.function_call_arguments.delta").map((e) => e.delta);
  assert.ok(args.length >= 2);
  assert.equal(args.join(""), '{"city":"standin"}');
  assert.equal(st.at(-3).arguments, '{"city":"standin"}');
  assert.equal(st.at(-3).name, "get_weather");
  assert.deepEqual(st.at(-1).response.output, [st.at(-2).item]);
});

test("responses: stored by default; retrieve and delete scoped to the key; previous_response_id continues; store: false is not kept", async () => {
  const first = json(await post({ path: RPATH, body: RBODY }));
  const got = await post({ path: `${RPATH}/${first.id}`, method: "GET", body: "" });
  assert.equal(got.status, 200);
  assert.deepEqual(json(got), first);
  assert.equal((await post({ path: `${RPATH}/${first.id}`, method: "GET", body: "", key: OPENAI_TEST_KEYS.other })).status, 404, "another key");

  const second = json(await post({ path: RPATH, body: { model: MODEL, input: "And Germany?", previous_response_id: first.id } }));
  assert.equal(second.previous_response_id, first.id);
  assert.equal(second.output[0].content[0].text, `${OPENAI_TEXT_PREFIX}And Germany?`);
  assert.ok(second.usage.input_tokens > first.usage.input_tokens, "the history counts as input");
  const rec = s.requests().at(-1);
  assert.equal(rec.openai.previousResponseId, first.id);
  assert.equal(rec.openai.historyItems, 2, "the first turn's input and output");

  const del = await post({ path: `${RPATH}/${first.id}`, method: "DELETE", body: "" });
  assert.deepEqual(json(del), { id: first.id, object: "response", deleted: true });
  const gone = await post({ path: `${RPATH}/${first.id}`, method: "GET", body: "" });
  assert.equal(gone.status, 404);
  assert.deepEqual(json(gone).error, { message: `Response with id '${first.id}' not found.`, type: "invalid_request_error", param: null, code: null });
  assert.equal((await post({ path: `${RPATH}/${first.id}`, method: "DELETE", body: "" })).status, 404);

  const prev = await post({ path: RPATH, body: { model: MODEL, input: "x", previous_response_id: first.id } });
  assert.equal(prev.status, 400);
  assert.deepEqual(json(prev).error, {
    message: `Previous response with id '${first.id}' not found.`, type: "invalid_request_error", param: "previous_response_id", code: "previous_response_not_found",
  });

  const unstored = json(await post({ path: RPATH, body: { ...RBODY, store: false } }));
  assert.equal(unstored.store, false);
  assert.equal((await post({ path: `${RPATH}/${unstored.id}`, method: "GET", body: "" })).status, 404);
  assert.equal(s.requests().filter((r) => r.operation === OPENAI_RESPONSES_RETRIEVE_OPERATION).length, 4);
  s.reset();
  assert.equal((await post({ path: `${RPATH}/${second.id}`, method: "GET", body: "" })).status, 404, "reset forgets stored responses");
});

test("responses: max_output_tokens cuts the answer → status incomplete (JSON: incomplete_details; stream: response.incomplete)", async () => {
  const b = json(await post({ path: RPATH, body: { ...RBODY, max_output_tokens: 3 } }));
  assert.equal(b.status, "incomplete");
  assert.deepEqual(b.incomplete_details, { reason: "max_output_tokens" });
  assert.equal(b.output[0].content[0].text, "Hello from the");
  assert.equal(b.output[0].status, "incomplete");
  const evs = namedEvents((await post({ path: RPATH, body: { ...RBODY, max_output_tokens: 3, stream: true } })).text);
  assert.equal(evs.at(-1).type, "response.incomplete");
  assert.equal(evs.at(-1).response.incomplete_details.reason, "max_output_tokens");
});

test("responses: scripted faults (HTTP errors, response.failed / error events, drops), text, usage, id", async () => {
  s.script({ match: { operation: OPENAI_RESPONSES_OPERATION }, text: "Paris.", usage: { input_tokens: 11, output_tokens: 2, cached_tokens: 4, reasoning_tokens: 1 }, id: "resp_fixed", responseModel: "gpt-4o-mini-2024-07-18" });
  const b = json(await post({ path: RPATH, body: RBODY }));
  assert.equal(b.id, "resp_fixed");
  assert.equal(b.model, "gpt-4o-mini-2024-07-18");
  assert.equal(b.output[0].content[0].text, "Paris.");
  assert.deepEqual(b.usage, { input_tokens: 11, input_tokens_details: { cached_tokens: 4 }, output_tokens: 2, output_tokens_details: { reasoning_tokens: 1 }, total_tokens: 13 });

  s.script({ match: { operation: OPENAI_RESPONSES_OPERATION, stream: true }, status: 429 });
  const limited = await post({ path: RPATH, body: { ...RBODY, stream: true } });
  assert.equal(limited.status, 429);
  assert.equal(json(limited).error.code, "rate_limit_exceeded");

  s.script({ match: { operation: OPENAI_RESPONSES_OPERATION }, stream: { errorAfterChunks: { after: 5, message: "The model broke." } } });
  const failed = namedEvents((await post({ path: RPATH, body: { ...RBODY, stream: true } })).text);
  assert.deepEqual(failed.map((e) => e.type).slice(-2), ["response.output_text.delta", "response.failed"]);
  assert.equal(failed.length, 6);
  assert.equal(failed.at(-1).sequence_number, 5);
  assert.equal(failed.at(-1).response.status, "failed");
  assert.deepEqual(failed.at(-1).response.error, { code: "server_error", message: "The model broke." });
  assert.equal(failed.at(-1).response.id, failed[0].response.id);

  s.script({ match: { operation: OPENAI_RESPONSES_OPERATION }, stream: { errorAfterChunks: { after: 4, as: "error", status: 429 } } });
  const errored = namedEvents((await post({ path: RPATH, body: { ...RBODY, stream: true } })).text);
  assert.deepEqual(errored.at(-1), { type: "error", code: "rate_limit_exceeded", message: errored.at(-1).message, param: null, sequence_number: 4 });

  s.script({ match: { operation: OPENAI_RESPONSES_OPERATION }, stream: { dropBeforeContent: true } });
  const dropped = await post({ path: RPATH, body: { ...RBODY, stream: true } });
  assert.ok(dropped.error, "the connection was reset");
  assert.deepEqual(dropped.text.split("\n\n").filter(Boolean).map((e) => e.split("\n")[0]), [
    "event: response.created", "event: response.in_progress", "event: response.output_item.added", "event: response.content_part.added",
  ]);
  assert.equal(s.requests().at(-1).streamEnd, "dropped");
  assert.equal((await post({ path: `${RPATH}/${failed[0].response.id}`, method: "GET", body: "" })).status, 404, "a faulted stream is not stored");
});

test("responses, openai SDK: create, stream helper, tools, retrieve/delete, previous_response_id, failures", async () => {
  const c = client();
  const r = await c.responses.create({ model: MODEL, input: USER, instructions: "Be brief." });
  assert.equal(r.output_text, EXPECTED_TEXT);
  assert.equal(r.status, "completed");

  const st = c.responses.stream({ model: MODEL, input: "Stream me" });
  let text = "";
  for await (const e of st) if (e.type === "response.output_text.delta") text += e.delta;
  const final = await st.finalResponse();
  assert.equal(text, `${OPENAI_TEXT_PREFIX}Stream me`);
  assert.equal(final.output_text, text);

  const ft = await c.responses.stream({ model: MODEL, input: "weather?", tools: [WEATHER], tool_choice: "required" }).finalResponse();
  assert.equal(ft.output[0].type, "function_call");
  assert.deepEqual(JSON.parse(ft.output[0].arguments), { city: "standin" });

  const next = await c.responses.create({ model: MODEL, input: "Again", previous_response_id: r.id });
  assert.equal(next.previous_response_id, r.id);
  assert.equal((await c.responses.retrieve(r.id)).id, r.id);
  assert.deepEqual(await c.responses.delete(r.id), { id: r.id, object: "response", deleted: true });
  await assert.rejects(c.responses.retrieve(r.id), OpenAI.NotFoundError);
  await assert.rejects(c.responses.create({ model: MODEL, input: "x", previous_response_id: r.id }), (e) => e instanceof OpenAI.BadRequestError && e.code === "previous_response_not_found");

  // response.failed: the SDK's iteration ends, finalResponse() has status failed and the error
  s.script({ match: { operation: OPENAI_RESPONSES_OPERATION }, stream: { errorAfterChunks: { after: 5 } } });
  const fs = c.responses.stream({ model: MODEL, input: USER });
  for await (const _ of fs);
  const f = await fs.finalResponse();
  assert.equal(f.status, "failed");
  assert.equal(f.error.code, "server_error");
  // an `error` event: the iteration throws APIError
  s.script({ match: { operation: OPENAI_RESPONSES_OPERATION }, stream: { errorAfterChunks: { after: 5, as: "error" } } });
  await assert.rejects(async () => {
    for await (const _ of c.responses.stream({ model: MODEL, input: USER }));
  }, OpenAI.APIError);
  s.script({ match: { operation: OPENAI_RESPONSES_OPERATION }, status: 429 });
  await assert.rejects(c.responses.create({ model: MODEL, input: USER }), OpenAI.RateLimitError);
});
