// Issue 4 end to end: everything Bedrock users send through /v1/chat/completions, with the openai
// SDK → the real Worker in workerd → the Bedrock stand-in (which verifies every signature). One
// test per feature: the Converse body the stand-in received, and what the SDK handed back.
import { test, before, after, beforeEach } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import OpenAI from "openai";
import { startGateway, openaiClient, longTermHeaders, secretLeaks } from "./harness.mjs";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const fixture = (name) => JSON.parse(readFileSync(path.join(ROOT, "fixtures/recorded", `${name}.json`), "utf8"));

const NOVA = "us.amazon.nova-micro-v1:0";
const SONNET_45 = "us.anthropic.claude-sonnet-4-5-20250929-v1:0";
const SONNET_46 = "us.anthropic.claude-sonnet-4-6";
const CLAUDE_37 = "us.anthropic.claude-3-7-sonnet-20250219-v1:0";
const NOT_STRICT = { "x-portkey-strict-open-ai-compliance": "false" };

// A local image server: the Worker downloads https/http image URLs itself. 127.0.0.1 is an
// internal address, so the gateway trusts the image server's exact scheme, host and port too.
const imageFixture = fixture("pydantic-ai/test_image_url_input").interactions[0].response.body_base64;
const JPEG = Buffer.from(imageFixture, "base64");
let images;
let imagesUrl;
const imageHits = [];

let gw;
before(async () => {
  images = http.createServer((req, res) => {
    imageHits.push(req.url);
    if (req.url === "/potato.jpg") {
      res.writeHead(200, { "content-type": "image/jpeg", "content-length": JPEG.length });
      res.end(JPEG);
    } else if (req.url === "/page.html") {
      res.writeHead(200, { "content-type": "text/html" });
      res.end("<html>not an image</html>");
    } else {
      res.writeHead(404);
      res.end();
    }
  });
  await new Promise((r) => images.listen(0, "127.0.0.1", r));
  imagesUrl = `http://127.0.0.1:${images.address().port}`;
  gw = await startGateway({ trust: [imagesUrl] });
});
after(async () => {
  if (gw) assert.deepEqual(secretLeaks(gw), []);
  await gw?.close();
  await new Promise((r) => images?.close(r));
});
beforeEach(() => gw.standin.reset());

const client = (extra = {}) => openaiClient(gw, longTermHeaders(gw, extra));
const converse = () => {
  const reqs = gw.standin.requests().filter((r) => r.operation === "converse" || r.operation === "converse-stream");
  assert.equal(reqs.length, 1, `the stand-in received ${reqs.length} runtime requests`);
  assert.equal(reqs[0].signature.ok, true);
  return reqs[0].body;
};
const collect = async (stream) => {
  const out = [];
  for await (const c of stream) out.push(gw.record(c));
  return out;
};
const text = (chunks) => chunks.map((c) => c.choices[0]?.delta?.content ?? "").join("");

/** The SDK raises BadRequestError with the field named. */
async function rejects400(promise, param, says) {
  await assert.rejects(promise, (e) => {
    assert.ok(e instanceof OpenAI.BadRequestError, `${e}`);
    assert.equal(e.status, 400);
    assert.equal(e.param, param);
    assert.match(e.message, says);
    return true;
  });
}

// ---- Tools ----

test("tools: toolSpecs, tool_choice required → any, tool_calls back with JSON arguments", async () => {
  const recorded = fixture("pydantic-ai/test_bedrock_model_structured_output").interactions[0].request.body;
  gw.standin.script({ match: { operation: "converse" }, fixture: "pydantic-ai/test_bedrock_model_structured_output", fixtureIndex: 0 });
  const tools = recorded.toolConfig.tools.map((t) => ({
    type: "function",
    function: { name: t.toolSpec.name, description: t.toolSpec.description, parameters: t.toolSpec.inputSchema.json },
  }));
  const out = gw.record(
    await client().chat.completions.create({
      model: NOVA,
      messages: [
        { role: "system", content: "You are a helpful chatbot." },
        { role: "user", content: recorded.messages[0].content[0].text },
      ],
      tools,
      tool_choice: "required",
      parallel_tool_calls: false,
    }),
  );
  const { inferenceConfig, ...expected } = recorded;
  assert.deepEqual(converse(), expected);
  assert.equal(out.choices[0].finish_reason, "tool_calls");
  assert.equal(out.choices[0].message.content, null);
  const [call] = out.choices[0].message.tool_calls;
  assert.equal(call.id, "tooluse_Mj06ft-ITJik1Otgpkc1uA");
  assert.equal(call.function.name, "temperature");
  assert.deepEqual(JSON.parse(call.function.arguments), { city: "London", date: "2022-01-01" });

  // The answer goes back as toolUse + toolResult, with tool_choice none keeping a valid toolConfig.
  gw.standin.reset();
  await client().chat.completions.create({
    model: NOVA,
    messages: [
      { role: "user", content: "London?" },
      { role: "assistant", content: null, tool_calls: [call] },
      { role: "tool", tool_call_id: call.id, content: "30°C" },
    ],
    tools,
    tool_choice: "none",
  });
  const body = converse();
  assert.deepEqual(body.messages[1].content, [{ toolUse: { toolUseId: call.id, name: "temperature", input: { city: "London", date: "2022-01-01" } } }]);
  assert.deepEqual(body.messages[2].content, [{ toolResult: { toolUseId: call.id, content: [{ text: "30°C" }] } }]);
  assert.equal(body.toolConfig.tools.length, 2);
  assert.equal(body.toolConfig.toolChoice, undefined);
});

test("tools: streamed tool calls assemble in the SDK", async () => {
  gw.standin.script({ match: { operation: "converse-stream" }, stream: { fixture: "pydantic-ai/test_bedrock_model_iter_stream" } });
  const final = gw.record(
    await client()
      .chat.completions.stream({
        model: NOVA,
        messages: [{ role: "user", content: "weather?" }],
        tools: [{ type: "function", function: { name: "temperature", parameters: { type: "object" } } }],
        tool_choice: { type: "function", function: { name: "temperature" } },
      })
      .finalChatCompletion(),
  );
  assert.deepEqual(converse().toolConfig.toolChoice, { tool: { name: "temperature" } });
  assert.equal(final.choices[0].finish_reason, "tool_calls");
  const calls = final.choices[0].message.tool_calls;
  assert.ok(calls.length >= 1);
  for (const c of calls) JSON.parse(c.function.arguments);
});

// ---- Vision and documents ----

test("vision: an image URL is downloaded by the Worker and sent as bytes", async () => {
  gw.standin.script({ match: { operation: "converse" }, fixture: "pydantic-ai/test_image_url_input", fixtureIndex: 0 });
  const out = gw.record(
    await client().chat.completions.create({
      model: "us.amazon.nova-pro-v1:0",
      messages: [
        { role: "system", content: "You are a helpful chatbot." },
        { role: "user", content: [{ type: "text", text: "What is this vegetable?" }, { type: "image_url", image_url: { url: `${imagesUrl}/potato.jpg` } }] },
      ],
    }),
  );
  const { inferenceConfig, ...expected } = fixture("pydantic-ai/test_image_url_input").interactions[1].request.body;
  assert.deepEqual(converse(), expected);
  assert.match(out.choices[0].message.content, /potato/);

  // Streaming too.
  gw.standin.reset();
  const chunks = await collect(
    await client().chat.completions.create({
      model: NOVA,
      stream: true,
      messages: [{ role: "user", content: [{ type: "image_url", image_url: { url: `${imagesUrl}/potato.jpg` } }] }],
    }),
  );
  assert.equal(converse().messages[0].content[0].image.source.bytes, imageFixture);
  assert.ok(text(chunks).length > 0);
});

test("vision: download failures are 400s naming the part; internal addresses are not fetched", async () => {
  const ask = (url) =>
    client().chat.completions.create({ model: NOVA, messages: [{ role: "user", content: [{ type: "text", text: "?" }, { type: "image_url", image_url: { url } }] }] });
  const at = "messages[0].content[1].image_url.url";
  await rejects400(ask(`${imagesUrl}/missing.png`), at, /HTTP 404/);
  await rejects400(ask(`${imagesUrl}/page.html`), at, /not a png, jpeg, gif or webp/);
  const before = imageHits.length;
  await rejects400(ask("http://169.254.169.254/latest/meta-data/iam"), at, /private, loopback/);
  // The image server in spellings the runtime's URL parser reads as 127.0.0.1, and on a scheme
  // or port the trusted entry does not name.
  const port = Number(new URL(imagesUrl).port);
  for (const url of [
    `http://2130706433:${port + 1}/potato.jpg`,
    `http://0x7f.1:${port + 1}/potato.jpg`,
    `http://[::ffff:127.0.0.1]:${port}/potato.jpg`,
    `https://127.0.0.1:${port}/potato.jpg`,
  ]) {
    await rejects400(ask(url), at, /private, loopback/);
  }
  assert.equal(imageHits.length, before);
  assert.equal(gw.standin.requests().length, 0, "Bedrock is not called");
});

test("vision: s3:// images with mime_type and bucketOwner; mime_type is required", async () => {
  await client().chat.completions.create({
    model: NOVA,
    messages: [{ role: "user", content: [{ type: "image_url", image_url: { url: "s3://photos/cat.png", mime_type: "image/png", bucketOwner: "123456789012" } }] }],
  });
  assert.deepEqual(converse().messages[0].content, [
    { image: { format: "png", source: { s3Location: { uri: "s3://photos/cat.png", bucketOwner: "123456789012" } } } },
  ]);
  await rejects400(
    client().chat.completions.create({ model: NOVA, messages: [{ role: "user", content: [{ type: "image_url", image_url: { url: "s3://photos/cat.png" } }] }] }),
    "messages[0].content[0].image_url.mime_type",
    /mime_type is required/,
  );
});

test("documents: file parts (base64 PDF, S3) → document blocks", async () => {
  const recorded = fixture("pydantic-ai/test_document_url_input").interactions[1].request.body;
  const pdf = recorded.messages[0].content[1].document.source.bytes;
  gw.standin.script({ match: { operation: "converse" }, fixture: "pydantic-ai/test_document_url_input", fixtureIndex: 0 });
  const out = gw.record(
    await client().chat.completions.create({
      model: "anthropic.claude-v2",
      messages: [
        { role: "system", content: "You are a helpful chatbot." },
        { role: "user", content: [{ type: "text", text: "What is the main content on this document?" }, { type: "file", file: { file_data: `data:application/pdf;base64,${pdf}` } }] },
      ],
    }),
  );
  const { inferenceConfig, ...expected } = recorded;
  assert.deepEqual(converse(), expected);
  assert.match(out.choices[0].message.content, /Dummy PDF file/);

  gw.standin.reset();
  await client().chat.completions.create({
    model: NOVA,
    messages: [{ role: "user", content: [{ type: "file", file: { file_id: "s3://docs/annual report.pdf", filename: "annual_report.pdf" } }] }],
  });
  assert.deepEqual(converse().messages[0].content, [
    { document: { format: "pdf", name: "annual report", source: { s3Location: { uri: "s3://docs/annual report.pdf" } } } },
  ]);
});

// ---- Thinking and reasoning ----

test("thinking: explicit objects pass through; reasoning_effort → adaptive (4.6) or a budget", async () => {
  await client().chat.completions.create({ model: CLAUDE_37, messages: [{ role: "user", content: "hi" }], thinking: { type: "enabled", budget_tokens: 2048 }, max_tokens: 4096 });
  assert.deepEqual(converse().additionalModelRequestFields, { thinking: { type: "enabled", budget_tokens: 2048 } });

  gw.standin.reset();
  await client().chat.completions.create({ model: CLAUDE_37, messages: [{ role: "user", content: "hi" }], reasoning_effort: "medium", max_completion_tokens: 4000 });
  assert.deepEqual(converse().additionalModelRequestFields, { thinking: { type: "enabled", budget_tokens: 2000 } });

  gw.standin.reset();
  await client().chat.completions.create({ model: CLAUDE_37, messages: [{ role: "user", content: "hi" }], reasoning_effort: "none" });
  assert.equal(converse().additionalModelRequestFields, undefined);

  await rejects400(
    client().chat.completions.create({ model: CLAUDE_37, messages: [{ role: "user", content: "hi" }], reasoning_effort: "low", max_tokens: 1000 }),
    "max_tokens",
    /above 1024/,
  );

  // Recorded: Sonnet 4.6 with effort high.
  gw.standin.reset();
  const name = "pydantic-ai/test_bedrock_model_thinking_part_anthropic_adaptive_effort";
  gw.standin.script({ match: { operation: "converse" }, fixture: name, fixtureIndex: 0 });
  const out = gw.record(
    await client(NOT_STRICT).chat.completions.create({ model: SONNET_46, messages: [{ role: "user", content: "How do I cross the street?" }], reasoning_effort: "high" }),
  );
  const { inferenceConfig, system, ...expected } = fixture(name).interactions[0].request.body;
  assert.deepEqual(converse(), expected);
  const blocks = out.choices[0].message.content_blocks;
  assert.deepEqual(blocks.map((b) => b.type), ["thinking", "text"]);
  assert.ok(blocks[0].signature.length > 20);
  assert.equal(blocks[1].text, out.choices[0].message.content);
});

test("thinking: strict answers are text only; multi-turn thinking goes back as reasoningContent", async () => {
  const name = "pydantic-ai/test_bedrock_model_thinking_part_anthropic_adaptive";
  gw.standin.script({ match: { operation: "converse" }, fixture: name, fixtureIndex: 0 });
  const first = gw.record(await client().chat.completions.create({ model: SONNET_46, messages: [{ role: "user", content: "How do I cross the street?" }], thinking: { type: "adaptive" } }));
  assert.equal(first.choices[0].message.content_blocks, undefined);
  assert.match(first.choices[0].message.content, /^Here are the basic steps/);

  // The caller replays the thinking it got with strict compliance off.
  const recorded = fixture(name).interactions[1].request.body;
  const [user, assistant, next] = recorded.messages;
  gw.standin.reset();
  gw.standin.script({ match: { operation: "converse" }, fixture: name, fixtureIndex: 1 });
  await client(NOT_STRICT).chat.completions.create({
    model: SONNET_46,
    thinking: { type: "adaptive" },
    messages: [
      { role: "user", content: user.content[0].text },
      {
        role: "assistant",
        content: [
          { type: "thinking", thinking: assistant.content[0].reasoningContent.reasoningText.text, signature: assistant.content[0].reasoningContent.reasoningText.signature },
          { type: "text", text: assistant.content[1].text },
        ],
      },
      { role: "user", content: next.content[0].text },
    ],
  });
  const { inferenceConfig, system, ...expected } = recorded;
  assert.deepEqual(converse(), expected);
});

test("thinking: streamed reasoning as content_blocks (strict off), none when strict", async () => {
  const stream = { fixture: "pydantic-ai/test_bedrock_model_thinking_part_stream" };
  gw.standin.script({ match: { operation: "converse-stream" }, stream });
  const loose = await collect(
    await client(NOT_STRICT).chat.completions.create({ model: CLAUDE_37, stream: true, messages: [{ role: "user", content: "hi" }], reasoning_effort: "low", max_tokens: 8000 }),
  );
  assert.deepEqual(converse().additionalModelRequestFields, { thinking: { type: "enabled", budget_tokens: 1600 } });
  const thinking = loose.flatMap((c) => c.choices[0]?.delta?.content_blocks ?? []).filter((b) => b.delta?.thinking);
  assert.ok(thinking.length > 3);
  gw.standin.reset();
  gw.standin.script({ match: { operation: "converse-stream" }, stream });
  const strict = await collect(await client().chat.completions.create({ model: CLAUDE_37, stream: true, messages: [{ role: "user", content: "hi" }] }));
  assert.ok(strict.every((c) => c.choices[0]?.delta?.content_blocks === undefined));
  assert.equal(text(strict), text(loose));
});

// ---- Guardrails and pass-through fields ----

test("guardrails: guardrailConfig / guardrail_config, trace back when strict is off, intervention → content_filter", async () => {
  const name = "pydantic-ai/test_bedrock_model_guardrail_config";
  const recorded = fixture(name).interactions[0];
  gw.standin.script({ match: { operation: "converse" }, fixture: name, fixtureIndex: 0 });
  const messages = [
    { role: "system", content: "You are a helpful chatbot." },
    { role: "user", content: "What is the capital of France?" },
  ];
  const out = gw.record(
    await client(NOT_STRICT).chat.completions.create({
      model: NOVA,
      messages,
      guardrail_config: { guardrailIdentifier: "xbgw7g293v7o", guardrailVersion: "DRAFT", trace: "enabled" },
    }),
  );
  const { inferenceConfig, ...expected } = recorded.request.body;
  assert.deepEqual(converse(), expected);
  assert.deepEqual(out.trace, recorded.response.json.trace);

  gw.standin.reset();
  gw.standin.script({ match: { operation: "converse" }, text: "Sorry, that is blocked.", stopReason: "guardrail_intervened" });
  const blocked = gw.record(
    await client().chat.completions.create({ model: NOVA, messages, guardrailConfig: { guardrailIdentifier: "g", guardrailVersion: "1" } }),
  );
  assert.equal(blocked.choices[0].finish_reason, "content_filter");
  assert.equal(blocked.trace, undefined);

  // Streaming: streamProcessingMode goes to ConverseStream only.
  gw.standin.reset();
  gw.standin.script({ match: { operation: "converse-stream" }, text: "Blocked.", stopReason: "guardrail_intervened" });
  const chunks = await collect(
    await client(NOT_STRICT).chat.completions.create({
      model: NOVA,
      stream: true,
      messages,
      guardrailConfig: { guardrailIdentifier: "g", guardrailVersion: "1", streamProcessingMode: "async" },
    }),
  );
  assert.deepEqual(converse().guardrailConfig, { guardrailIdentifier: "g", guardrailVersion: "1", streamProcessingMode: "async" });
  assert.equal(chunks.at(-1).choices[0].finish_reason, "guardrail_intervened");
});

test("pass-through: additionalModelRequestFields (caller wins), response field paths and fields back", async () => {
  gw.standin.script({
    match: { operation: "converse" },
    json: {
      output: { message: { role: "assistant", content: [{ text: "ok" }] } },
      stopReason: "stop_sequence",
      usage: { inputTokens: 3, outputTokens: 1, totalTokens: 4 },
      additionalModelResponseFields: { stop_sequence: "END" },
    },
  });
  const out = gw.record(
    await client().chat.completions.create({
      model: SONNET_45,
      messages: [{ role: "user", content: "hi" }],
      top_k: 20,
      additionalModelRequestFields: { top_k: 5, custom: { a: 1 } },
      additionalModelResponseFieldPaths: ["/stop_sequence"],
    }),
  );
  const body = converse();
  assert.deepEqual(body.additionalModelRequestFields, { top_k: 5, custom: { a: 1 } });
  assert.deepEqual(body.additionalModelResponseFieldPaths, ["/stop_sequence"]);
  assert.deepEqual(out.choices[0].message.additional_model_response_fields, { stop_sequence: "END" });
  assert.equal(out.choices[0].finish_reason, "stop");
});

test("pass-through: top_k per family, anthropic-beta header, performanceConfig, metadata and user", async () => {
  await client({ "anthropic-beta": "context-1m-2025-08-07,interleaved-thinking-2025-05-14" }).chat.completions.create({
    model: SONNET_45,
    messages: [{ role: "user", content: "hi" }],
    top_k: 20,
    metadata: { team: "search" },
    user: "u-42",
  });
  let body = converse();
  assert.deepEqual(body.additionalModelRequestFields, { top_k: 20, anthropic_beta: ["context-1m-2025-08-07", "interleaved-thinking-2025-05-14"] });
  assert.deepEqual(body.requestMetadata, { team: "search", user: "u-42" });

  gw.standin.reset();
  await client().chat.completions.create({ model: NOVA, messages: [{ role: "user", content: "hi" }], top_k: 20, performanceConfig: { latency: "optimized" } });
  body = converse();
  assert.deepEqual(body.additionalModelRequestFields, { inferenceConfig: { topK: 20 } });
  assert.deepEqual(body.performanceConfig, { latency: "optimized" });
});

test("response_format: json_schema → outputConfig; json_object and unsupported models are 400s", async () => {
  gw.standin.script({ match: { operation: "converse" }, fixture: "pydantic-ai/test_bedrock_zai_native_output", fixtureIndex: 0 });
  const schema = { type: "object", properties: { city: { type: "string" }, country: { type: "string" } }, required: ["city", "country"], additionalProperties: false };
  const out = gw.record(
    await client().chat.completions.create({
      model: "zai.glm-4.7-flash",
      messages: [{ role: "user", content: "Where is the Eiffel Tower?" }],
      response_format: { type: "json_schema", json_schema: { name: "City", schema, strict: true } },
    }),
  );
  const format = converse().outputConfig.textFormat;
  assert.equal(format.type, "json_schema");
  assert.equal(format.structure.jsonSchema.name, "City");
  assert.deepEqual(JSON.parse(format.structure.jsonSchema.schema), schema);
  assert.deepEqual(JSON.parse(out.choices[0].message.content), { city: "Paris", country: "France" });

  await rejects400(
    client().chat.completions.create({ model: SONNET_45, messages: [{ role: "user", content: "x" }], response_format: { type: "json_object" } }),
    "response_format",
    /json_schema/,
  );
  await rejects400(
    client().chat.completions.create({ model: NOVA, messages: [{ role: "user", content: "x" }], response_format: { type: "json_schema", json_schema: { name: "x", schema } } }),
    "response_format",
    /does not support structured output/,
  );
  await rejects400(client().chat.completions.create({ model: NOVA, messages: [{ role: "user", content: "x" }], n: 2 }), "n", /not supported/);
  await rejects400(client().chat.completions.create({ model: NOVA, messages: [{ role: "user", content: "x" }], logprobs: true }), "logprobs", /not supported/);
});

// ---- Inference profiles ----

test("inference profiles: system ids as is; application ARNs looked up once (signed, custom host) and cached", async () => {
  await client().chat.completions.create({ model: "eu.anthropic.claude-sonnet-4-5-20250929-v1:0", messages: [{ role: "user", content: "hi" }], top_k: 3 });
  assert.deepEqual(converse().additionalModelRequestFields, { top_k: 3 });
  assert.equal(gw.standin.counters.getInferenceProfile, 0);

  // The stand-in's default profile is Claude Sonnet 4.5: top_k becomes Claude's field.
  const arn = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/e2efeatures1";
  gw.standin.reset();
  await client().chat.completions.create({ model: arn, messages: [{ role: "user", content: "hi" }], top_k: 9 });
  assert.deepEqual(converse().additionalModelRequestFields, { top_k: 9 });
  const lookup = gw.standin.requests().find((r) => r.operation === "get-inference-profile");
  assert.equal(lookup.method, "GET");
  assert.equal(lookup.signature.ok, true);
  assert.equal(lookup.signature.service, "bedrock");
  assert.equal(gw.standin.counters.getInferenceProfile, 1);

  gw.standin.reset();
  const chunks = await collect(await client().chat.completions.create({ model: arn, stream: true, messages: [{ role: "user", content: "hi" }], top_k: 9 }));
  assert.ok(text(chunks).length > 0);
  assert.deepEqual(converse().additionalModelRequestFields, { top_k: 9 });
  assert.equal(gw.standin.counters.getInferenceProfile, 0, "cached: no second look-up");

  // A Nova profile: Nova's top_k field.
  const novaArn = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/e2efeatures2";
  gw.standin.reset();
  gw.standin.setInferenceProfile(novaArn, { modelArn: "arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-pro-v1:0" });
  await client().chat.completions.create({ model: novaArn, messages: [{ role: "user", content: "hi" }], top_k: 9 });
  assert.deepEqual(converse().additionalModelRequestFields, { inferenceConfig: { topK: 9 } });
  assert.ok((await gw.kv.get(`inference_profile:us-east-1@${new URL(gw.standin.url).host}:${novaArn}`)).includes("nova-pro"));
});
