// The SDKs' higher-level helpers end to end, with the stand-in answering like a model (answers: "model",
// standin/README.md "Model answers"): the answer has the shape the request asks for, so the SDKs' own parsing
// and validation run for real. The openai SDK (chat.completions.parse / .stream with zodResponseFormat,
// zodFunction tools, runTools, responses.parse / .stream), the Anthropic SDK (tools, tool_result,
// messages.stream, thinking, messages.parse), the Converse tool path on a Nova model, reasoning_effort on
// Claude 3.7, and a paced stream. Every value a test gets is validated with zod, not just looked at.
// The LangChain side (Python) is e2e/python/langchain_demo.py, run by e2e/python.test.mjs.
import { test, before, after, beforeEach } from "node:test";
import assert from "node:assert/strict";
import Anthropic from "@anthropic-ai/sdk";
import OpenAI from "openai";
import { LengthFinishReasonError } from "openai/error";
import { z } from "zod";
import { zodFunction, zodResponseFormat, zodResponsesFunction, zodTextFormat } from "openai/helpers/zod";
import { zodOutputFormat } from "@anthropic-ai/sdk/helpers/zod";
import { startGateway, openaiClient, secretLeaks, isolateFailures } from "./harness.mjs";

const CLAUDE45 = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"; // structured output is mapped for Claude 4.5+
const CLAUDE37 = "us.anthropic.claude-3-7-sonnet-20250219-v1:0";
const NOVA = "us.amazon.nova-micro-v1:0";
const WEATHER_Q = "What's the weather in Paris?";
const WEATHER_RESULT = "18°C and sunny";

let gw;
before(async () => {
  gw = await startGateway({ standin: { answers: "model", paceMs: 0 }, slugs: { demo: true } });
});
after(async () => {
  await gw?.close();
});
beforeEach(() => gw.standin.reset());

/** The openai SDK on the gateway, the catalog provider @demo. */
const oai = (extra = {}) => openaiClient(gw, { "x-portkey-provider": "@demo", ...extra });

/** The Anthropic SDK on the gateway (base URL without /v1; the gateway key as x-api-key). */
const claude = () => new Anthropic({ apiKey: gw.gatewayKey, baseURL: gw.url, maxRetries: 0, timeout: 20_000 });

/** The stand-in's requests: [`operation:kind`] (kind: the model answer's text / json / tool). */
const ops = () => gw.standin.requests().map((r) => `${r.operation}:${r.modelAnswer?.kind}`);
const lastBody = () => gw.standin.requests().at(-1).body;

const echo = (model, said) => `[${model}] You said: "${said}"`;
const fromTool = (model, tool, result, said) => `[${model}] From ${tool}: "${result}" You said: "${said}"`;

// ---------------------------------------------------------------- schemas (zod 4)

const Trip = z.object({
  city: z.string(),
  country: z.string(),
  kind: z.enum(["beach", "city", "mountain"]),
  days: z.array(z.object({ day: z.number().int().min(1).max(14), activity: z.string().min(1) })).min(1),
  budget: z.object({ amount: z.number().nonnegative(), currency: z.string().length(3) }),
  notes: z.string().nullable(),
});
const TRIP_Q = "Plan a beach trip to Lisbon for 3 days";

const Weather = z.object({
  city: z.string(),
  unit: z.enum(["celsius", "fahrenheit"]),
  days: z.number().int().min(1).max(7),
});
const weatherTool = () =>
  zodFunction({ name: "get_weather", description: "Get the current weather for a city", parameters: Weather });

/** The same tool as plain JSON Schema (the Converse and Anthropic tests send it as is). */
const WEATHER_SCHEMA = {
  type: "object",
  properties: {
    city: { type: "string", description: "City name" },
    unit: { type: "string", enum: ["celsius", "fahrenheit"] },
    days: { type: "integer", minimum: 1, maximum: 7 },
  },
  required: ["city", "unit"],
  additionalProperties: false,
};
const WeatherLoose = Weather.partial({ days: true }).strict();

// ---------------------------------------------------------------- text

test("echo: chat JSON and stream (openai SDK) name the model and quote the user; the stream's chunks add up to the JSON answer", async () => {
  const said = "Hello there, gateway! Please say this back to me.";
  const messages = [{ role: "system", content: "Be brief." }, { role: "user", content: said }];
  const out = gw.record(await oai().chat.completions.create({ model: CLAUDE45, messages }));
  assert.equal(out.choices[0].message.content, echo(CLAUDE45, said));
  assert.equal(out.choices[0].finish_reason, "stop");
  assert.equal(out.model, CLAUDE45);
  assert.ok(out.usage.prompt_tokens > 0 && out.usage.completion_tokens > 0);

  const stream = await oai().chat.completions.create({ model: CLAUDE45, messages, stream: true, stream_options: { include_usage: true } });
  const pieces = [];
  let usage = null;
  for await (const c of stream) {
    gw.record(c);
    if (c.choices[0]?.delta?.content) pieces.push(c.choices[0].delta.content);
    if (c.usage) usage = c.usage;
  }
  assert.ok(pieces.length >= 3, `the text came in ${pieces.length} chunks`);
  assert.equal(pieces.join(""), out.choices[0].message.content);
  assert.deepEqual(usage, out.usage, "the same request, the same usage");
  assert.deepEqual(ops(), ["converse:text", "converse-stream:text"]);
});

// ---------------------------------------------------------------- structured output (openai SDK)

test("structured output: chat.completions.parse + zodResponseFormat → message.parsed passes the zod schema (nested object, enum, array, nullable)", async () => {
  const params = { model: CLAUDE45, messages: [{ role: "user", content: TRIP_Q }], response_format: zodResponseFormat(Trip, "trip") };
  const out = gw.record(await oai().chat.completions.parse(params));
  const msg = out.choices[0].message;
  assert.equal(out.choices[0].finish_reason, "stop");
  assert.deepEqual(Trip.parse(msg.parsed), msg.parsed, "parsed is exactly what the schema accepts");
  assert.deepEqual(JSON.parse(msg.content), msg.parsed);
  // Values drawn from the words: the city, its country, the enum value named.
  assert.equal(msg.parsed.city, "Lisbon");
  assert.equal(msg.parsed.country, "Portugal");
  assert.equal(msg.parsed.kind, "beach");
  assert.ok(msg.parsed.days.length >= 1);
  // The gateway sent the schema as Converse structured output.
  const fmt = lastBody().outputConfig.textFormat;
  assert.equal(fmt.type, "json_schema");
  assert.equal(fmt.structure.jsonSchema.name, "trip");
  assert.deepEqual(JSON.parse(fmt.structure.jsonSchema.schema).required.sort(), Object.keys(Trip.shape).sort());
  // Deterministic: the same request, the same object.
  const again = await oai().chat.completions.parse(params);
  assert.deepEqual(again.choices[0].message.parsed, msg.parsed);
  assert.deepEqual(ops(), ["converse:json", "converse:json"]);
});

test("structured output streamed: chat.completions.stream with zodResponseFormat → growing partial objects, finalChatCompletion().parsed validates and equals the JSON answer", async () => {
  const params = { model: CLAUDE45, messages: [{ role: "user", content: TRIP_Q }], response_format: zodResponseFormat(Trip, "trip") };
  const json = await oai().chat.completions.parse(params);
  const stream = oai().chat.completions.stream(params);
  const partials = [];
  stream.on("content.delta", (e) => partials.push(structuredClone(e.parsed)));
  let done = null;
  stream.on("content.done", (e) => (done = e.parsed));
  const final = gw.record(await stream.finalChatCompletion());
  assert.ok(partials.length >= 5, `${partials.length} content deltas`);
  // Partial objects only grow: every key of one is in the next; the first is not a whole Trip yet.
  for (let i = 1; i < partials.length; i++) {
    if (partials[i - 1]) for (const k of Object.keys(partials[i - 1])) assert.ok(k in partials[i], `delta ${i} kept ${k}`);
  }
  assert.equal(Trip.safeParse(partials.find(Boolean)).success, false);
  const parsed = final.choices[0].message.parsed;
  assert.deepEqual(Trip.parse(parsed), parsed);
  assert.deepEqual(parsed, json.choices[0].message.parsed);
  assert.deepEqual(done, parsed);
  assert.deepEqual(ops(), ["converse:json", "converse-stream:json"]);
});

test("structured output cut short: max_completion_tokens below the answer → finish_reason length → the SDK's LengthFinishReasonError (JSON and stream)", async () => {
  const params = { model: CLAUDE45, max_completion_tokens: 12, messages: [{ role: "user", content: TRIP_Q }], response_format: zodResponseFormat(Trip, "trip") };
  await assert.rejects(oai().chat.completions.parse(params), (e) => e instanceof LengthFinishReasonError);
  assert.equal(lastBody().inferenceConfig.maxTokens, 12);
  await assert.rejects(oai().chat.completions.stream(params).finalChatCompletion(), (e) => e instanceof LengthFinishReasonError);
  assert.deepEqual(gw.standin.requests().map((r) => r.modelAnswer.stop), ["max_tokens", "max_tokens"]);
});

test("structured output on Nova: response_format json_schema is a 400 (the gateway suggests a tool); Bedrock is never called", async () => {
  await assert.rejects(
    oai().chat.completions.parse({ model: NOVA, messages: [{ role: "user", content: TRIP_Q }], response_format: zodResponseFormat(Trip, "trip") }),
    (e) => e instanceof OpenAI.BadRequestError && /tool/i.test(e.message),
  );
  assert.deepEqual(ops(), []);
});

// ---------------------------------------------------------------- tools (openai SDK)

test("tools: zodFunction through chat.completions.parse → parsed_arguments pass zod; a tool message back → the answer quotes the result", async () => {
  const c = oai();
  const messages = [{ role: "user", content: WEATHER_Q }];
  const first = gw.record(await c.chat.completions.parse({ model: CLAUDE45, messages, tools: [weatherTool()] }));
  assert.equal(first.choices[0].finish_reason, "tool_calls");
  const msg = first.choices[0].message;
  assert.equal(msg.tool_calls.length, 1);
  const call = msg.tool_calls[0];
  assert.equal(call.function.name, "get_weather");
  assert.deepEqual(Weather.parse(call.function.parsed_arguments), call.function.parsed_arguments);
  assert.equal(call.function.parsed_arguments.city, "Paris");
  assert.deepEqual(JSON.parse(call.function.arguments), call.function.parsed_arguments);
  // Bedrock got the zod schema as the tool's input schema.
  const spec = lastBody().toolConfig.tools[0].toolSpec;
  assert.equal(spec.name, "get_weather");
  assert.deepEqual(spec.inputSchema.json.required.sort(), ["city", "days", "unit"]);

  const second = gw.record(
    await c.chat.completions.parse({
      model: CLAUDE45,
      tools: [weatherTool()],
      messages: [...messages, { role: "assistant", content: null, tool_calls: [{ id: call.id, type: "function", function: { name: call.function.name, arguments: call.function.arguments } }] }, { role: "tool", tool_call_id: call.id, content: WEATHER_RESULT }],
    }),
  );
  assert.equal(second.choices[0].finish_reason, "stop");
  assert.equal(second.choices[0].message.content, fromTool(CLAUDE45, "get_weather", WEATHER_RESULT, WEATHER_Q));
  assert.equal(second.choices[0].message.tool_calls ?? undefined, undefined);
  const kinds = lastBody().messages.map((m) => m.content.map((b) => Object.keys(b)[0]).join("+"));
  assert.deepEqual(kinds, ["text", "toolUse", "toolResult"]);
  assert.deepEqual(ops(), ["converse:tool", "converse:text"]);
});

test("tools streamed: chat.completions.stream with zodFunction → the arguments in several deltas, finalChatCompletion parsed_arguments; the round trip streamed", async () => {
  const c = oai();
  const messages = [{ role: "user", content: WEATHER_Q }];
  const stream = c.chat.completions.stream({ model: CLAUDE45, messages, tools: [weatherTool()] });
  const argDeltas = [];
  let argsDone = null;
  stream.on("tool_calls.function.arguments.delta", (e) => argDeltas.push(e.arguments_delta));
  stream.on("tool_calls.function.arguments.done", (e) => (argsDone = e.parsed_arguments));
  const final = gw.record(await stream.finalChatCompletion());
  assert.ok(argDeltas.length >= 2, `${argDeltas.length} argument deltas`);
  const call = final.choices[0].message.tool_calls[0];
  assert.equal(final.choices[0].finish_reason, "tool_calls");
  assert.equal(argDeltas.join(""), call.function.arguments);
  assert.deepEqual(Weather.parse(call.function.parsed_arguments), call.function.parsed_arguments);
  assert.equal(call.function.parsed_arguments.city, "Paris");
  assert.deepEqual(argsDone, call.function.parsed_arguments);
  assert.match(call.id, /^tooluse_/);

  const back = c.chat.completions.stream({
    model: CLAUDE45,
    tools: [weatherTool()],
    messages: [...messages, { role: "assistant", content: null, tool_calls: [{ id: call.id, type: "function", function: { name: call.function.name, arguments: call.function.arguments } }] }, { role: "tool", tool_call_id: call.id, content: WEATHER_RESULT }],
  });
  const text = [];
  back.on("content.delta", (e) => text.push(e.delta));
  const answer = gw.record(await back.finalChatCompletion());
  assert.ok(text.length >= 3);
  assert.equal(answer.choices[0].message.content, fromTool(CLAUDE45, "get_weather", WEATHER_RESULT, WEATHER_Q));
  assert.equal(text.join(""), answer.choices[0].message.content);
  assert.deepEqual(ops(), ["converse-stream:tool", "converse-stream:text"]);
});

test("runTools with plain function tools (JSON Schema, no zod helper): the SDK's loop calls the function with valid arguments and ends on a text quoting it (JSON and stream)", async () => {
  const Stock = z.object({ ticker: z.string().regex(/^[A-Z]{1,5}$/), currency: z.enum(["USD", "EUR"]) }).strict();
  for (const stream of [false, true]) {
    gw.standin.reset();
    const calls = [];
    const runner = oai().chat.completions.runTools({
      model: CLAUDE45,
      stream,
      messages: [{ role: "user", content: "What is the stock price of the company, in EUR?" }],
      tools: [
        {
          type: "function",
          function: {
            name: "get_stock_price",
            description: "The latest price of a stock",
            parameters: {
              type: "object",
              properties: { ticker: { type: "string", pattern: "^[A-Z]{1,5}$" }, currency: { type: "string", enum: ["USD", "EUR"] } },
              required: ["ticker", "currency"],
              additionalProperties: false,
            },
            parse: (s) => Stock.parse(JSON.parse(s)), // a schema violation would fail the run
            function: (args) => {
              calls.push(args);
              return `${args.ticker} trades at 123.45 ${args.currency}`;
            },
          },
        },
      ],
    });
    const content = await runner.finalContent();
    assert.equal(calls.length, 1, `stream ${stream}: one call`);
    assert.equal(calls[0].currency, "EUR", "the enum value the text names");
    assert.equal(content, fromTool(CLAUDE45, "get_stock_price", `${calls[0].ticker} trades at 123.45 EUR`, "What is the stock price of the company, in EUR?"));
    gw.record(runner.messages);
    assert.deepEqual(runner.messages.map((m) => m.role), ["user", "assistant", "tool", "assistant"]);
    const op = stream ? "converse-stream" : "converse";
    assert.deepEqual(ops(), [`${op}:tool`, `${op}:text`]);
  }
});

// ---------------------------------------------------------------- the Converse tool path on Nova

test("Nova over Converse: tools → toolConfig (required → any), tool_calls with schema-valid arguments, JSON and streamed; the result goes back as toolResult", async () => {
  const c = oai();
  const tools = [{ type: "function", function: { name: "get_weather", description: "Current weather", parameters: WEATHER_SCHEMA } }];
  const messages = [{ role: "user", content: "Weather for Berlin, please, in fahrenheit" }];
  const out = gw.record(await c.chat.completions.create({ model: NOVA, messages, tools, tool_choice: "required" }));
  const body = lastBody();
  assert.deepEqual(body.toolConfig.toolChoice, { any: {} });
  assert.deepEqual(body.toolConfig.tools[0].toolSpec.inputSchema.json, WEATHER_SCHEMA);
  assert.equal(gw.standin.requests().at(-1).model, NOVA);
  const call = out.choices[0].message.tool_calls[0];
  assert.equal(out.choices[0].finish_reason, "tool_calls");
  const args = WeatherLoose.parse(JSON.parse(call.function.arguments));
  assert.equal(args.city, "Berlin");
  assert.equal(args.unit, "fahrenheit");

  // streamed: tool_calls deltas (id and name first, the arguments in pieces)
  const chunks = [];
  for await (const ch of await c.chat.completions.create({ model: NOVA, messages, tools, tool_choice: "required", stream: true })) chunks.push(gw.record(ch));
  const deltas = chunks.flatMap((ch) => ch.choices[0]?.delta?.tool_calls ?? []);
  assert.ok(deltas.filter((d) => d.function?.arguments).length >= 2, "arguments in several chunks");
  assert.equal(deltas[0].function.name, "get_weather");
  // The same arguments (the JSON answer's string is re-serialised from Converse's object, keys sorted; the
  // stream relays the model's own pieces, in its order).
  assert.deepEqual(JSON.parse(deltas.map((d) => d.function?.arguments ?? "").join("")), args);
  assert.equal(chunks.findLast((ch) => ch.choices[0]?.finish_reason)?.choices[0].finish_reason, "tool_calls");

  const answer = gw.record(
    await c.chat.completions.create({
      model: NOVA,
      tools,
      messages: [...messages, out.choices[0].message, { role: "tool", tool_call_id: call.id, content: "Berlin: 64°F, cloudy" }],
    }),
  );
  assert.equal(answer.choices[0].message.content, fromTool(NOVA, "get_weather", "Berlin: 64°F, cloudy", messages[0].content));
  const result = lastBody().messages.at(-1).content[0].toolResult;
  assert.equal(result.toolUseId, call.id);
  assert.deepEqual(result.content, [{ text: "Berlin: 64°F, cloudy" }]);
  assert.deepEqual(ops(), ["converse:tool", "converse-stream:tool", "converse:text"]);
});

test("tool choice on Converse: a named function → toolChoice.tool, called even when the text asks for nothing; none → no toolConfig and a plain answer", async () => {
  const c = oai();
  const tools = [
    { type: "function", function: { name: "get_time", description: "Time in a timezone", parameters: { type: "object", properties: { timezone: { type: "string" } }, required: ["timezone"] } } },
    { type: "function", function: { name: "get_weather", description: "Current weather", parameters: WEATHER_SCHEMA } },
  ];
  const named = gw.record(
    await c.chat.completions.create({ model: NOVA, messages: [{ role: "user", content: "hello" }], tools, tool_choice: { type: "function", function: { name: "get_time" } }, parallel_tool_calls: false }),
  );
  assert.deepEqual(lastBody().toolConfig.toolChoice, { tool: { name: "get_time" } });
  const call = named.choices[0].message.tool_calls[0];
  assert.equal(call.function.name, "get_time");
  assert.equal(typeof z.object({ timezone: z.string() }).strict().parse(JSON.parse(call.function.arguments)).timezone, "string");
  const none = gw.record(await c.chat.completions.create({ model: NOVA, messages: [{ role: "user", content: WEATHER_Q }], tools, tool_choice: "none" }));
  assert.equal(lastBody().toolConfig, undefined);
  assert.equal(none.choices[0].message.content, echo(NOVA, WEATHER_Q));
  assert.equal(none.choices[0].message.tool_calls, undefined);
  assert.deepEqual(ops(), ["converse:tool", "converse:text"]);
});

test("Responses API (openai SDK): responses.parse / responses.stream with zodTextFormat → output_parsed passes zod; a zodResponsesFunction tool → a function_call with valid arguments", async () => {
  const c = oai();
  const City = z.object({ city: z.string(), country: z.string(), highlights: z.array(z.string()).min(1) });
  const format = zodTextFormat(City, "city");
  const parsed = gw.record(await c.responses.parse({ model: CLAUDE45, input: "Describe Tokyo", text: { format } }));
  assert.deepEqual(City.parse(parsed.output_parsed), parsed.output_parsed);
  assert.equal(parsed.output_parsed.city, "Tokyo");
  const streamed = gw.record(await c.responses.stream({ model: CLAUDE45, input: "Describe Tokyo", text: { format } }).finalResponse());
  assert.deepEqual(streamed.output_parsed, parsed.output_parsed);
  const tool = zodResponsesFunction({ name: "get_weather", description: "Current weather", parameters: Weather });
  const called = gw.record(await c.responses.parse({ model: CLAUDE45, input: WEATHER_Q, tools: [tool] }));
  const fc = called.output.find((o) => o.type === "function_call");
  assert.equal(fc.name, "get_weather");
  assert.deepEqual(Weather.parse(fc.parsed_arguments), fc.parsed_arguments);
  assert.equal(fc.parsed_arguments.city, "Paris");
  assert.deepEqual(ops(), ["converse:json", "converse-stream:json", "converse:tool"]);
});

// ---------------------------------------------------------------- reasoning via reasoning_effort (Claude 3.7)

test("reasoning_effort on Claude 3.7 → Converse thinking with a budget; strict off: content_blocks thinking + signature before the text (JSON and stream); strict on: text only", async () => {
  const said = "Why is the sky blue?";
  const params = { model: CLAUDE37, max_completion_tokens: 8000, reasoning_effort: "medium", messages: [{ role: "user", content: said }] };
  const loose = oai({ "x-portkey-strict-open-ai-compliance": "false" });
  const out = gw.record(await loose.chat.completions.create(params));
  const thinking = lastBody().additionalModelRequestFields.thinking;
  assert.equal(thinking.type, "enabled");
  assert.ok(thinking.budget_tokens >= 1024 && thinking.budget_tokens < 8000, `budget ${thinking.budget_tokens}`);
  const msg = out.choices[0].message;
  assert.equal(msg.content, echo(CLAUDE37, said));
  const blocks = msg.content_blocks;
  assert.deepEqual(blocks.map((b) => b.type), ["thinking", "text"]);
  assert.match(blocks[0].thinking, /Why is the sky blue/);
  assert.equal(Buffer.from(blocks[0].signature, "base64").length, 96);
  assert.equal(blocks[1].text, msg.content);

  const chunks = [];
  for await (const ch of await loose.chat.completions.create({ ...params, stream: true })) chunks.push(gw.record(ch));
  const cb = chunks.flatMap((ch) => ch.choices[0]?.delta?.content_blocks ?? []);
  const thinkingText = cb.filter((b) => b.delta?.thinking).map((b) => b.delta.thinking);
  const signatures = cb.filter((b) => b.delta?.signature);
  assert.ok(thinkingText.length >= 2, "thinking in several chunks");
  assert.equal(thinkingText.join(""), blocks[0].thinking);
  assert.deepEqual(signatures.map((b) => b.delta.signature), [blocks[0].signature]);
  const firstText = cb.findIndex((b) => b.delta?.text);
  assert.ok(firstText > cb.indexOf(signatures[0]), "the signature ends the thinking before the text starts");
  assert.equal(chunks.map((ch) => ch.choices[0]?.delta?.content ?? "").join(""), msg.content);

  const strict = gw.record(await oai().chat.completions.create(params));
  assert.equal(strict.choices[0].message.content, msg.content);
  assert.equal(strict.choices[0].message.content_blocks, undefined);
  assert.equal(gw.standin.requests().at(-1).modelAnswer.reasoning, true, "Bedrock still thought");
});

// ---------------------------------------------------------------- the Anthropic SDK

const ANTHROPIC_MODEL = `@demo/${CLAUDE45}`;
const anthropicTools = [{ name: "get_weather", description: "Get the current weather for a city", input_schema: WEATHER_SCHEMA }];

test("Anthropic SDK: a tool (input_schema) → tool_use with schema-valid input; tool_result back → a text quoting it", async () => {
  const a = claude();
  const messages = [{ role: "user", content: WEATHER_Q }];
  const first = gw.record(await a.messages.create({ model: ANTHROPIC_MODEL, max_tokens: 1024, tools: anthropicTools, messages }));
  assert.equal(first.stop_reason, "tool_use");
  const use = first.content.find((b) => b.type === "tool_use");
  assert.equal(use.name, "get_weather");
  assert.deepEqual(WeatherLoose.parse(use.input), use.input);
  assert.equal(use.input.city, "Paris");
  assert.match(use.id, /^toolu_/);
  assert.equal(gw.standin.requests().at(-1).operation, "invoke");

  const second = gw.record(
    await a.messages.create({
      model: ANTHROPIC_MODEL,
      max_tokens: 1024,
      tools: anthropicTools,
      messages: [...messages, { role: "assistant", content: first.content }, { role: "user", content: [{ type: "tool_result", tool_use_id: use.id, content: WEATHER_RESULT }] }],
    }),
  );
  assert.equal(second.stop_reason, "end_turn");
  assert.deepEqual(second.content, [{ type: "text", text: fromTool(CLAUDE45, "get_weather", WEATHER_RESULT, WEATHER_Q) }]);
  assert.deepEqual(ops(), ["invoke:tool", "invoke:text"]);
});

test("Anthropic SDK streamed: messages.stream → input_json_delta pieces, finalMessage tool_use; the tool_result round trip streamed", async () => {
  const a = claude();
  const messages = [{ role: "user", content: WEATHER_Q }];
  const s1 = a.messages.stream({ model: ANTHROPIC_MODEL, max_tokens: 1024, tools: anthropicTools, messages });
  const json = [];
  s1.on("inputJson", (delta) => delta && json.push(delta));
  const first = gw.record(await s1.finalMessage());
  assert.ok(json.length >= 2, `${json.length} input_json_delta pieces`);
  const use = first.content.find((b) => b.type === "tool_use");
  assert.deepEqual(JSON.parse(json.join("")), use.input);
  assert.deepEqual(WeatherLoose.parse(use.input), use.input);
  assert.equal(use.input.city, "Paris");
  assert.equal(first.stop_reason, "tool_use");

  const s2 = a.messages.stream({
    model: ANTHROPIC_MODEL,
    max_tokens: 1024,
    tools: anthropicTools,
    messages: [...messages, { role: "assistant", content: first.content }, { role: "user", content: [{ type: "tool_result", tool_use_id: use.id, content: WEATHER_RESULT }] }],
  });
  const text = [];
  s2.on("text", (t) => text.push(t));
  const second = gw.record(await s2.finalMessage());
  assert.ok(text.length >= 3);
  assert.equal(second.content[0].text, fromTool(CLAUDE45, "get_weather", WEATHER_RESULT, WEATHER_Q));
  assert.equal(text.join(""), second.content[0].text);
  assert.deepEqual(ops(), ["invoke-with-response-stream:tool", "invoke-with-response-stream:text"]);
});

test("Anthropic SDK with thinking: a thinking block with a signature before the tool_use and before the text (JSON and messages.stream, a whole round trip)", async () => {
  const a = claude();
  const thinking = { type: "enabled", budget_tokens: 1024 };
  const messages = [{ role: "user", content: WEATHER_Q }];
  const first = gw.record(await a.messages.create({ model: ANTHROPIC_MODEL, max_tokens: 4096, thinking, tools: anthropicTools, messages }));
  assert.deepEqual(lastBody().thinking, thinking);
  assert.deepEqual(first.content.map((b) => b.type), ["thinking", "tool_use"]);
  assert.match(first.content[0].thinking, /get_weather/);
  assert.equal(Buffer.from(first.content[0].signature, "base64").length, 96);

  // The next turn sends the thinking block back, as the API requires with thinking and tools.
  const s = a.messages.stream({
    model: ANTHROPIC_MODEL,
    max_tokens: 4096,
    thinking,
    tools: anthropicTools,
    messages: [...messages, { role: "assistant", content: first.content }, { role: "user", content: [{ type: "tool_result", tool_use_id: first.content[1].id, content: WEATHER_RESULT }] }],
  });
  const events = [];
  s.on("streamEvent", (e) => events.push(e.type === "content_block_delta" ? e.delta.type : e.type));
  const final = gw.record(await s.finalMessage());
  assert.deepEqual(final.content.map((b) => b.type), ["thinking", "text"]);
  const [think, text] = final.content;
  assert.match(think.thinking, /18°C and sunny/);
  assert.equal(Buffer.from(think.signature, "base64").length, 96);
  assert.equal(text.text, fromTool(CLAUDE45, "get_weather", WEATHER_RESULT, WEATHER_Q));
  assert.ok(events.filter((t) => t === "thinking_delta").length >= 2, "thinking in several deltas");
  assert.equal(events.filter((t) => t === "signature_delta").length, 1);
  assert.ok(events.indexOf("signature_delta") < events.indexOf("text_delta"), "the signature comes before any text");
  // The stand-in saw the earlier thinking block go back with its signature.
  const sent = lastBody().messages[1].content;
  assert.deepEqual(sent[0], { type: "thinking", thinking: first.content[0].thinking, signature: first.content[0].signature });
  assert.deepEqual(ops(), ["invoke:tool", "invoke-with-response-stream:text"]);
});

test("Anthropic SDK structured output: messages.parse and messages.stream + zodOutputFormat → output_config.format passed through, parsed_output passes zod", async () => {
  const City = z.object({ city: z.string(), country: z.string(), sights: z.array(z.string()).min(1), population: z.number().int().positive() });
  const out = gw.record(
    await claude().messages.parse({ model: ANTHROPIC_MODEL, max_tokens: 1024, messages: [{ role: "user", content: "Describe Tokyo" }], output_config: { format: zodOutputFormat(City) } }),
  );
  assert.deepEqual(City.parse(out.parsed_output), out.parsed_output);
  assert.equal(out.parsed_output.city, "Tokyo");
  assert.equal(out.parsed_output.country, "Japan");
  assert.equal(lastBody().output_config.format.type, "json_schema");
  const streamed = gw.record(
    await claude().messages.stream({ model: ANTHROPIC_MODEL, max_tokens: 1024, messages: [{ role: "user", content: "Describe Tokyo" }], output_config: { format: zodOutputFormat(City) } }).finalMessage(),
  );
  assert.deepEqual(streamed.parsed_output, out.parsed_output);
  assert.deepEqual(ops(), ["invoke:json", "invoke-with-response-stream:json"]);
});

// ---------------------------------------------------------------- pacing

test("a paced stream (paceMs 20): the chunks arrive one by one, spread over time, not in one burst", async () => {
  gw.standin.configure({ paceMs: 20 });
  const said = "Tell me a long story about a lighthouse keeper who counts the waves every night until dawn comes";
  const t0 = Date.now();
  const arrivals = [];
  const stream = await oai().chat.completions.create({ model: CLAUDE45, messages: [{ role: "user", content: said }], stream: true });
  for await (const ch of stream) {
    gw.record(ch);
    if (ch.choices[0]?.delta?.content) arrivals.push(Date.now());
  }
  const text = echo(CLAUDE45, said);
  const frames = Math.ceil(text.split(/\s+/).length / 3);
  assert.ok(arrivals.length >= frames - 1, `${arrivals.length} content chunks for ${frames} frames`);
  // Loose bounds: the frames leave 20 ms apart, so the content spans at least half of that per gap...
  const span = arrivals.at(-1) - arrivals[0];
  assert.ok(span >= (arrivals.length - 1) * 10, `content spread over ${span} ms`);
  // ...and most gaps are real pauses (a relay that buffered the answer would deliver it in one burst).
  const gaps = arrivals.slice(1).map((t, i) => t - arrivals[i]);
  assert.ok(gaps.filter((g) => g >= 8).length >= gaps.length / 2, `gaps ${gaps.join(",")}`);
  assert.ok(Date.now() - t0 < 10_000);
});

test("no secret in any log line or body; the isolate never broke", () => {
  assert.deepEqual(secretLeaks(gw, [gw.gatewayKey]), []);
  assert.deepEqual(isolateFailures(gw), []);
});
