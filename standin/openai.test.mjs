// Tests for the stand-in's OpenAI side (/v1/chat/completions): node --test standin/
import { test, before, after, beforeEach } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import OpenAI from "openai";
import { startStandin } from "./server.mjs";
import { OPENAI_TEST_KEYS, OPENAI_TEST_ORGANIZATION, OPENAI_TEST_PROJECT, TEST_CREDENTIALS } from "./credentials.mjs";
import { BEDROCK_ONLY_FIELDS, OPENAI_CHAT_OPERATION, OPENAI_TEXT_PREFIX, SSE_DONE } from "./openai.mjs";

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
