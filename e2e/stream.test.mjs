// Issue 3 end to end: stream: true → ConverseStream → OpenAI SSE through the real Worker.
import { test, before, after, beforeEach } from "node:test";
import assert from "node:assert/strict";
import OpenAI from "openai";
import { startGateway, openaiClient, longTermHeaders, rawChat, sseData, secretLeaks, waitFor, sleep } from "./harness.mjs";

const NOVA = "us.amazon.nova-micro-v1:0";
const CLAUDE = "us.anthropic.claude-sonnet-4-20250514-v1:0";
const USER = [{ role: "user", content: "What is the capital of France?" }];
const STREAM = { model: NOVA, messages: USER, stream: true };

let gw;
before(async () => {
  gw = await startGateway({ slugs: { demo: true } });
});
after(async () => {
  await gw?.close();
});
beforeEach(() => gw.standin.reset());

const client = (extra = {}) => openaiClient(gw, longTermHeaders(gw, extra));

async function collect(stream) {
  const chunks = [];
  for await (const c of stream) chunks.push(c);
  gw.record(chunks);
  return chunks;
}

const text = (chunks) => chunks.map((c) => c.choices?.[0]?.delta?.content ?? "").join("");

/** SSE payloads with the per-request fields (id, created) removed, for comparing two runs. */
const normalised = (sse) =>
  sseData(sse).map((d) => {
    if (d === "[DONE]") return d;
    const j = JSON.parse(d);
    delete j.id;
    delete j.created;
    return JSON.stringify(j);
  });

const ev = (type, payload) => ({ type, payload });
const toolEvents = [
  ev("messageStart", { role: "assistant" }),
  ev("contentBlockStart", { contentBlockIndex: 0, start: { toolUse: { toolUseId: "tooluse_weather_A", name: "get_weather" } } }),
  ev("contentBlockDelta", { contentBlockIndex: 0, delta: { toolUse: { input: '{"city":' } } }),
  ev("contentBlockStart", { contentBlockIndex: 1, start: { toolUse: { toolUseId: "tooluse_time_B", name: "get_time" } } }),
  ev("contentBlockDelta", { contentBlockIndex: 1, delta: { toolUse: { input: '{"tz":"Europe/' } } }),
  ev("contentBlockDelta", { contentBlockIndex: 0, delta: { toolUse: { input: ' "Paris", "unit": "c"}' } } }),
  ev("contentBlockDelta", { contentBlockIndex: 1, delta: { toolUse: { input: 'Paris"}' } } }),
  ev("contentBlockStop", { contentBlockIndex: 0 }),
  ev("contentBlockStop", { contentBlockIndex: 1 }),
  ev("messageStop", { stopReason: "tool_use" }),
  ev("metadata", { usage: { inputTokens: 10, outputTokens: 20, totalTokens: 30 }, metrics: { latencyMs: 120 } }),
];

test("text stream via the SDK (for await), default recorded stream", async () => {
  const chunks = await collect(await client().chat.completions.create(STREAM));
  assert.ok(chunks.length > 5);
  assert.deepEqual(chunks[0].choices[0].delta, { role: "assistant", content: "" });
  const ids = new Set(chunks.map((c) => c.id));
  assert.equal(ids.size, 1, "one id across the stream");
  assert.equal(new Set(chunks.map((c) => c.created)).size, 1);
  assert.ok(chunks.every((c) => c.model === NOVA && c.object === "chat.completion.chunk"));
  assert.match(text(chunks), /^The capital of France is Paris/);
  const last = chunks.at(-1);
  assert.equal(last.choices[0].finish_reason, "stop");
  assert.deepEqual(last.choices[0].delta, {});
  const r = gw.standin.requests()[0];
  assert.equal(r.operation, "converse-stream");
  assert.equal(r.signature.ok, true);
  assert.equal(r.path, "/model/us.amazon.nova-micro-v1%3A0/converse-stream");
  assert.equal(r.streamEnd, "complete");
});

test("text stream through a @slug", async () => {
  const c = openaiClient(gw, { "x-portkey-provider": "@demo" });
  const chunks = await collect(await c.chat.completions.create(STREAM));
  assert.match(text(chunks), /Paris/);
});

test("the raw bytes: text/event-stream, data: lines, ending with data: [DONE]", async () => {
  const res = await rawChat(gw, STREAM, longTermHeaders(gw));
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type"), /^text\/event-stream/);
  assert.ok(res.text.startsWith("data: {"), res.text.slice(0, 50));
  assert.ok(res.text.endsWith("data: [DONE]\n\n"), JSON.stringify(res.text.slice(-60)));
  const data = sseData(res.text);
  assert.equal(data.filter((d) => d === "[DONE]").length, 1);
  for (const d of data.slice(0, -1)) JSON.parse(d);
});

test(".stream() helper: finalChatCompletion()", async () => {
  const helper = client().chat.completions.stream({ model: NOVA, messages: USER });
  const final = gw.record(await helper.finalChatCompletion());
  assert.match(final.choices[0].message.content, /^The capital of France is Paris/);
  assert.equal(final.choices[0].finish_reason, "stop");
  assert.equal(final.model, NOVA);
});

test("parallel tool calls: distinct indexes and ids, arguments JSON.parse", async () => {
  gw.standin.script({ match: { operation: "converse-stream" }, stream: { events: toolEvents } });
  const chunks = await collect(await client().chat.completions.create({ ...STREAM, model: CLAUDE }));
  const starts = chunks.flatMap((c) => c.choices[0]?.delta?.tool_calls ?? []).filter((t) => t.id);
  assert.deepEqual(starts.map((t) => [t.index, t.id, t.type, t.function.name, t.function.arguments]), [
    [0, "tooluse_weather_A", "function", "get_weather", ""],
    [1, "tooluse_time_B", "function", "get_time", ""],
  ]);
  assert.equal(chunks.at(-1).choices[0].finish_reason, "tool_calls");

  gw.standin.script({ match: { operation: "converse-stream" }, stream: { events: toolEvents } });
  const final = gw.record(await client().chat.completions.stream({ model: CLAUDE, messages: USER }).finalChatCompletion());
  const calls = final.choices[0].message.tool_calls;
  assert.equal(calls.length, 2);
  assert.deepEqual(calls.map((c) => c.id), ["tooluse_weather_A", "tooluse_time_B"]);
  assert.deepEqual(JSON.parse(calls[0].function.arguments), { city: "Paris", unit: "c" });
  assert.deepEqual(JSON.parse(calls[1].function.arguments), { tz: "Europe/Paris" });
  assert.equal(final.choices[0].finish_reason, "tool_calls");
});

test("reasoning with strict compliance off: content_blocks with thinking + signature", async () => {
  gw.standin.script({ match: { operation: "converse-stream" }, stream: { fixture: "pydantic-ai/test_bedrock_model_thinking_part_stream" } });
  const chunks = await collect(await client({ "x-portkey-strict-open-ai-compliance": "false" }).chat.completions.create({ ...STREAM, model: CLAUDE }));
  const blocks = chunks.flatMap((c) => c.choices[0]?.delta?.content_blocks ?? []);
  const thinking = blocks.filter((b) => b.delta?.thinking !== undefined).map((b) => b.delta.thinking).join("");
  const signature = blocks.filter((b) => b.delta?.signature !== undefined).map((b) => b.delta.signature).join("");
  assert.ok(thinking.length > 10, "thinking text present");
  assert.ok(signature.length > 10, "signature present");
  const thinkIdx = new Set(blocks.filter((b) => b.delta?.thinking !== undefined || b.delta?.signature !== undefined).map((b) => b.index));
  assert.equal(thinkIdx.size, 1, "thinking and signature belong to one block");
  const answer = text(chunks);
  assert.ok(answer.length > 0);
  assert.ok(!answer.includes(thinking.slice(0, 40)), "thinking is not content");
  // text mirrored in content_blocks
  const mirrored = blocks.filter((b) => b.delta?.text !== undefined).map((b) => b.delta.text).join("");
  assert.equal(mirrored, answer);
});

test("the strict-openai-compliance spelling is accepted too", async () => {
  gw.standin.script({ match: { operation: "converse-stream" }, stream: { fixture: "pydantic-ai/test_bedrock_model_thinking_part_stream" } });
  const chunks = await collect(await client({ "x-portkey-strict-openai-compliance": "false" }).chat.completions.create({ ...STREAM, model: CLAUDE }));
  assert.ok(chunks.some((c) => c.choices[0]?.delta?.content_blocks?.some((b) => b.delta?.signature)));
});

test("reasoning with strict compliance (default): no reasoning anywhere", async () => {
  gw.standin.script({ match: { operation: "converse-stream" }, stream: { fixture: "pydantic-ai/test_bedrock_model_thinking_part_stream" } });
  const res = await rawChat(gw, { ...STREAM, model: CLAUDE }, longTermHeaders(gw));
  assert.equal(res.status, 200);
  assert.ok(!res.text.includes("content_blocks"));
  assert.ok(!res.text.includes("signature"));
  assert.ok(!res.text.includes("thinking"));
  assert.ok(res.text.endsWith("data: [DONE]\n\n"));
});

test("usage with cache tokens (stream_options.include_usage)", async () => {
  const events = [
    ev("messageStart", { role: "assistant" }),
    ev("contentBlockDelta", { contentBlockIndex: 0, delta: { text: "Hi" } }),
    ev("contentBlockStop", { contentBlockIndex: 0 }),
    ev("messageStop", { stopReason: "end_turn" }),
    ev("metadata", { usage: { inputTokens: 10, outputTokens: 5, totalTokens: 1015, cacheReadInputTokens: 1000, cacheWriteInputTokens: 200 }, metrics: { latencyMs: 50 } }),
  ];
  gw.standin.script({ match: { operation: "converse-stream" }, stream: { events } });
  const chunks = await collect(await client().chat.completions.create({ ...STREAM, model: CLAUDE, stream_options: { include_usage: true } }));
  const last = chunks.at(-1);
  assert.deepEqual(last.choices, []);
  assert.equal(last.usage.prompt_tokens, 1210);
  assert.equal(last.usage.completion_tokens, 5);
  assert.equal(last.usage.total_tokens, 1215);
  assert.equal(last.usage.prompt_tokens_details.cached_tokens, 1000);
  for (const c of chunks.slice(0, -1)) assert.equal(c.usage, null, "every other chunk has usage: null");
  assert.equal(chunks.at(-2).choices[0].finish_reason, "stop");
});

test("no usage chunk without include_usage", async () => {
  const chunks = await collect(await client().chat.completions.create(STREAM));
  assert.ok(chunks.every((c) => c.choices.length === 1));
});

test("first-frame exception → HTTP 429 RateLimitError, not a 200 stream", async () => {
  gw.standin.script({ match: { operation: "converse-stream" }, stream: { exceptionBefore: { type: "throttlingException", message: "Too many tokens, please wait." } } });
  const err = await client().chat.completions.create(STREAM).then(collect).catch((e) => e);
  assert.ok(err instanceof OpenAI.RateLimitError, `got ${err?.constructor?.name}: ${err?.message}`);
  assert.equal(err.status, 429);
  assert.match(err.message, /ThrottlingException/i);
});

test("first-frame validationException → 400, serviceUnavailableException → 503", async () => {
  gw.standin.script({ match: { operation: "converse-stream" }, stream: { exceptionBefore: { type: "validationException", message: "bad input" } } });
  const a = await rawChat(gw, STREAM, longTermHeaders(gw));
  assert.equal(a.status, 400);
  assert.equal(JSON.parse(a.text).error.code, "ValidationException");
  gw.standin.script({ match: { operation: "converse-stream" }, stream: { exceptionBefore: { type: "serviceUnavailableException", message: "down" } } });
  const b = await rawChat(gw, STREAM, longTermHeaders(gw));
  assert.equal(b.status, 503);
});

test("HTTP error before the stream (429) → RateLimitError", async () => {
  gw.standin.script({ match: { operation: "converse-stream" }, status: 429, errorType: "ThrottlingException", message: "slow down" });
  const err = await client().chat.completions.create(STREAM).then(collect).catch((e) => e);
  assert.ok(err instanceof OpenAI.RateLimitError, `got ${err?.constructor?.name}`);
});

test("exception after content → in-stream error (SDK raises APIError) and raw bytes end with [DONE]", async () => {
  const script = { match: { operation: "converse-stream" }, stream: { exceptionAfterFrames: { after: 5, type: "modelStreamErrorException", message: "The model stream broke." } } };
  gw.standin.script(script);
  const got = [];
  const err = await (async () => {
    for await (const c of await client().chat.completions.create(STREAM)) got.push(c);
  })().catch((e) => e);
  assert.ok(err instanceof OpenAI.APIError, `got ${err?.constructor?.name}: ${err}`);
  assert.match(err.message, /stream broke/);
  assert.ok(got.length >= 2, "content arrived before the error");

  gw.standin.script(script);
  const res = await rawChat(gw, STREAM, longTermHeaders(gw));
  assert.equal(res.status, 200);
  const data = sseData(res.text);
  assert.equal(data.at(-1), "[DONE]");
  const e = JSON.parse(data.at(-2));
  assert.deepEqual(Object.keys(e), ["error"]);
  assert.equal(e.error.code, "ModelStreamErrorException");
  assert.equal(typeof e.error.type, "string");
  assert.match(e.error.message, /stream broke/);
});

for (const [name, fault] of [["a CRC mismatch mid-stream", { corruptCrcAtFrame: 6 }], ["a dropped connection", { dropAfterFrames: 6 }]]) {
  test(`${name} → in-stream error + [DONE], never a silent end`, async () => {
    gw.standin.script({ match: { operation: "converse-stream" }, stream: fault });
    const res = await rawChat(gw, STREAM, longTermHeaders(gw));
    assert.equal(res.status, 200);
    const data = sseData(res.text);
    assert.equal(data.at(-1), "[DONE]", JSON.stringify(res.text.slice(-200)));
    const e = JSON.parse(data.at(-2));
    assert.ok(e.error && typeof e.error.message === "string", `no error event: ${data.at(-2)}`);
    assert.ok(!data.some((d) => d.includes('"finish_reason":"stop"')), "not finished as if complete");

    gw.standin.script({ match: { operation: "converse-stream" }, stream: fault });
    const err = await collect(await client().chat.completions.create(STREAM)).catch((x) => x);
    assert.ok(err instanceof OpenAI.APIError, `SDK did not raise: ${err?.constructor?.name}`);
  });
}

test("awkward split offsets give the same SSE as the unsplit stream", async () => {
  const whole = normalised((await rawChat(gw, STREAM, longTermHeaders(gw))).text);
  assert.ok(whole.length > 10);
  const splits = [
    { splitAt: [1], pauseMs: 1 },
    { splitAt: [2, 3], pauseMs: 1 }, // inside the 4-byte prelude
    { splitAt: [6, 11, 13], pauseMs: 1 }, // headers_len, prelude CRC
    { splitAt: [20, 40, 60], pauseMs: 1 }, // inside headers
    { chunkSize: 7, pauseMs: 0 },
    { chunkSize: 1, pauseMs: 0 }, // 1-byte chunks
  ];
  for (const stream of splits) {
    gw.standin.script({ match: { operation: "converse-stream" }, stream });
    const got = normalised((await rawChat(gw, STREAM, longTermHeaders(gw))).text);
    assert.deepEqual(got, whole, `split ${JSON.stringify(stream)}`);
  }
  // Many frames in one read: the whole stream in one write.
  gw.standin.script({ match: { operation: "converse-stream" }, stream: { splitAt: [100000], pauseMs: 0 } });
  assert.deepEqual(normalised((await rawChat(gw, STREAM, longTermHeaders(gw))).text), whole);
});

test("no buffering: each chunk reaches the client before the stand-in sends the next frame", async () => {
  const PAUSE = 300;
  const events = [
    ev("messageStart", { role: "assistant" }),
    ev("contentBlockDelta", { contentBlockIndex: 0, delta: { text: "Alpha" } }),
    ev("contentBlockDelta", { contentBlockIndex: 0, delta: { text: "Bravo" } }),
    ev("contentBlockDelta", { contentBlockIndex: 0, delta: { text: "Charlie" } }),
    ev("contentBlockStop", { contentBlockIndex: 0 }),
    ev("messageStop", { stopReason: "end_turn" }),
  ];
  gw.standin.script({ match: { operation: "converse-stream" }, stream: { events, pauseMs: PAUSE } });
  const t0 = Date.now();
  const res = await fetch(gw.url + "/v1/chat/completions", {
    method: "POST",
    headers: { "content-type": "application/json", ...longTermHeaders(gw) },
    body: JSON.stringify(STREAM),
  });
  assert.equal(res.status, 200);
  const reader = res.body.getReader();
  const dec = new TextDecoder();
  let all = "";
  const arrived = {}; // word → client receive time
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    all += dec.decode(value, { stream: true });
    const now = Date.now();
    for (const w of ["Alpha", "Bravo", "Charlie", "[DONE]"]) if (arrived[w] === undefined && all.includes(w)) arrived[w] = now;
  }
  const total = Date.now() - t0;
  gw.record(all);
  const sent = gw.standin.requests()[0].framesSentAt;
  assert.equal(sent.length, events.length);
  // frame i+1 carries word i; the next frame (i+2) is sent PAUSE ms later
  ["Alpha", "Bravo", "Charlie"].forEach((w, i) => {
    assert.ok(arrived[w] !== undefined, `${w} never arrived`);
    assert.ok(arrived[w] < sent[i + 2], `${w} arrived at +${arrived[w] - sent[i + 1]} ms after its frame, after the next frame was sent (+${sent[i + 2] - sent[i + 1]} ms)`);
    assert.ok(arrived[w] - sent[i + 1] < PAUSE / 2, `${w} took ${arrived[w] - sent[i + 1]} ms through the gateway`);
  });
  const expected = (events.length - 1) * PAUSE;
  assert.ok(total >= expected - 20 && total < expected + 700, `total ${total} ms, expected ≈ ${expected} ms`);
  assert.ok(all.endsWith("data: [DONE]\n\n"));
});

test("a client that aborts mid-stream cancels the upstream read", async () => {
  gw.standin.script({ match: { operation: "converse-stream" }, stream: { pauseMs: 150 } }); // 33 frames ≈ 5 s
  const ac = new AbortController();
  const res = await fetch(gw.url + "/v1/chat/completions", {
    method: "POST",
    headers: { "content-type": "application/json", ...longTermHeaders(gw) },
    body: JSON.stringify(STREAM),
    signal: ac.signal,
  });
  const reader = res.body.getReader();
  const first = await reader.read();
  assert.ok(!first.done);
  const abortedAt = Date.now();
  ac.abort();
  await reader.read().catch(() => {});
  const rec = await waitFor(() => {
    const r = gw.standin.requests()[0];
    return r && (r.clientAborted || r.streamEnd === "aborted") ? r : null;
  }, 3000);
  assert.ok(rec, `the stand-in did not see the connection close: ${JSON.stringify({ streamEnd: gw.standin.requests()[0]?.streamEnd, clientAborted: gw.standin.requests()[0]?.clientAborted })}`);
  const r = gw.standin.requests()[0];
  assert.ok(r.framesSentAt.length < r.framesPlanned, "the stand-in stopped before the end");
  assert.ok(Date.now() - abortedAt < 3000);
  await sleep(50);
});

test("no secret in any log line or response body (final check)", async () => {
  assert.ok(gw.logs.length > 10);
  assert.deepEqual(secretLeaks(gw), []);
});
