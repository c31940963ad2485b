// POST /v1/embeddings and POST /v1/images/generations end to end (README: Embeddings and image generation):
// the real SDKs (openai, portkey-ai) → the real Worker in workerd → the stand-in, which plays Bedrock
// InvokeModel for every embedding / image family (validating each family's body as Bedrock does, answering
// deterministically) and OpenAI's /v1/embeddings and /v1/images/generations.
//
// What is exact and why:
// - every InvokeModel body the stand-in received is compared whole (deepEqual) with the body the README's
//   mapping tables say; concurrent calls arrive in any order, so bodies are compared as sorted lists;
// - every vector is compared with `embeddingFor(foundation model id, input, dimensions)` of standin/media.mjs
//   (images: `imageInputKey(bytes)`; Titan Multimodal text+image: "<text>\nimage:<sha>"; Cohere v4 inputs:
//   "inputs:<text>\nimage:<sha>"); its values are multiples of 1/256, exact in float32, so base64 round trips
//   compare with deepEqual too;
// - usage is the stand-in's x-amzn-bedrock-input-token-count summed: tokenCountFor(text) per text, 1000 per
//   image;
// - images are the stand-in's PNGs: pngInfo reads their tEXt chunks (prompt, seed, index, size, ...);
// - costs are src/usage/prices.rs' rows, computed in the gateway's order (count × rate / 1e6 per kind, then
//   input + output + cache read + cache write + images), so the floats compare exactly.
//
// The suite's gateway: catalog slugs @demo (the stand-in's Bedrock side, us-east-1) and @openai-prod (its
// OpenAI side). The stand-in is reset before every test; each test reads its own log line by trace id.
import { test, before, after, beforeEach } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import OpenAI from "openai";
import { Portkey } from "portkey-ai";
import {
  startGateway, openaiRecord, openaiModeHeaders, longTermHeaders, secretLeaks, isolateFailures, waitFor, sleep,
} from "./harness.mjs";
import { gatewayKeyRecord } from "../scripts/catalog-lib.mjs";
import {
  embeddingFor, tokenCountFor, quantizeEmbedding, float32FromBase64, pngInfo, seedFor, imageInputKey, makePng, IMAGE_TOKEN_COUNT,
} from "../standin/media.mjs";

const TITAN = "amazon.titan-embed-text-v2:0";
const TITAN_MM = "amazon.titan-embed-image-v1";
const COHERE_EN = "cohere.embed-english-v3";
const COHERE_ML = "cohere.embed-multilingual-v3";
const COHERE_V4 = "cohere.embed-v4:0";
const NOVA_EMBED = "amazon.nova-2-multimodal-embeddings-v1:0";
const NOVA_CANVAS = "amazon.nova-canvas-v1:0";
const TITAN_IMAGE = "amazon.titan-image-generator-v2:0";
const SD35 = "stability.sd3-5-large-v1:0";
const CORE = "stability.stable-image-core-v1:1";
const ULTRA = "stability.stable-image-ultra-v1:1";
/** A chat model (foundation id: no GetInferenceProfile call is needed to know it is not an embedding model). */
const HAIKU = "anthropic.claude-3-haiku-20240307-v1:0";
const OPENAI_EMBED = "text-embedding-3-small";
const OPENAI_IMAGE = "gpt-image-1";

/** Price rows (src/usage/prices.rs): USD per million input tokens / per image. */
const EMBED_PRICE = {
  [TITAN]: ["bedrock/titan-embed-text-v2", 0.02],
  [COHERE_EN]: ["bedrock/cohere-embed-english-v3", 0.1],
  [COHERE_ML]: ["bedrock/cohere-embed-multilingual-v3", 0.1],
  [COHERE_V4]: ["bedrock/cohere-embed-v4", 0.12],
};
const IMAGE_PRICE = {
  [SD35]: ["bedrock/stability-sd3-5-large", 0.08],
  [CORE]: ["bedrock/stability-stable-image-core", 0.04],
  [ULTRA]: ["bedrock/stability-stable-image-ultra", 0.14],
};
/** The gateway's arithmetic: input × rate / 1e6, + output, cache read, cache write (0 here), + images × rate. */
const embedUsd = (tokens, rate) => (tokens * rate) / 1e6 + 0 + 0 + 0 + 0;
const imageUsd = (n, rate) => 0 + 0 + 0 + 0 + (n * rate) / 1;

/** Two small real PNGs (the stand-in reads their size for Cohere's `images` metadata). */
const PNG_RED = makePng(8, 8, { rgb: [255, 0, 0] });
const PNG_BLUE = makePng(16, 4, { rgb: [0, 0, 255] });
const dataUrl = (png, mime = "image/png") => `data:${mime};base64,${png.toString("base64")}`;
const RED = dataUrl(PNG_RED);
const BLUE = dataUrl(PNG_BLUE);
const RED_KEY = imageInputKey(PNG_RED);
const BLUE_KEY = imageInputKey(PNG_BLUE);

let gw;
before(async () => {
  gw = await startGateway({ slugs: { demo: true } });
  await gw.seedProvider("openai-prod", openaiRecord(gw.standin));
});
after(async () => {
  await gw?.close();
});
beforeEach(() => gw.standin.reset());

// ------------------------------------------------------------------ helpers

let seq = 0;
/** A trace id no other request of this file uses: the key to its log line. */
const tid = (name) => `media-${name}-${++seq}`;
const traced = (id) => ({ headers: { "x-portkey-trace-id": id } });

/**
 * The openai SDK through @demo with the gateway key as Bearer. Its fetch is wrapped so each test can see
 * what went over the wire: `client.wire` = [{url, sent (the JSON body), status, text (the raw answer)}].
 */
function sdk(headers = {}, { provider = "@demo" } = {}) {
  const wire = [];
  const client = new OpenAI({
    apiKey: gw.gatewayKey,
    baseURL: gw.url + "/v1",
    defaultHeaders: { ...(provider ? { "x-portkey-provider": provider } : {}), ...headers },
    maxRetries: 0,
    timeout: 20_000,
    fetch: async (url, init) => {
      const res = await fetch(url, init);
      const text = await res.clone().text();
      gw.bodies.push(text);
      wire.push({ url: String(url), sent: typeof init?.body === "string" ? JSON.parse(init.body) : init?.body, status: res.status, text });
      return res;
    },
  });
  client.wire = wire;
  return client;
}

/** POST with fetch (the gateway key, @demo unless overridden): {status, headers, text, json}. */
async function post(route, body, headers = {}) {
  const res = await fetch(gw.url + route, {
    method: "POST",
    headers: Object.fromEntries(
      Object.entries({ "content-type": "application/json", "x-portkey-api-key": gw.gatewayKey, "x-portkey-provider": "@demo", ...headers }).filter(
        ([, v]) => v != null,
      ),
    ),
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  const text = await res.text();
  gw.bodies.push(text);
  let json = null;
  try {
    json = JSON.parse(text);
  } catch {}
  return { status: res.status, headers: res.headers, text, json };
}

/** Runs `fn` and returns what it throws (failing when it does not). */
async function refusal(fn) {
  try {
    const out = await fn();
    assert.fail(`expected an error, got ${JSON.stringify(out).slice(0, 300)}`);
  } catch (e) {
    if (e instanceof assert.AssertionError) throw e;
    return e;
  }
}

const invokePath = (model) => `/model/${encodeURIComponent(model)}/invoke`;
/** The stand-in's InvokeModel records, checked: signed, for `model` (path and record), answered `status`. */
function invokes(model, { status = 200 } = {}) {
  const recs = gw.standin.requests().filter((r) => r.operation === "invoke");
  for (const r of recs) {
    assert.equal(r.signature.ok, true, `${r.path}: ${r.signature.error}`);
    if (model) {
      assert.equal(r.model, model);
      assert.equal(r.path, invokePath(model));
    }
    if (status !== null) assert.equal(r.status, status, `${r.path} answered ${r.status}: ${r.media?.validationError ?? ""}`);
    assert.equal(r.media?.validationError, undefined, `the stand-in (as Bedrock) refused the body: ${r.media?.validationError}`);
  }
  return recs;
}
const byJson = (list) => [...list].sort((a, b) => (JSON.stringify(a) < JSON.stringify(b) ? -1 : 1));
/** The bodies received equal `expected`, in any order (concurrent calls arrive in any order). */
const sameBodies = (recs, expected) => assert.deepEqual(byJson(recs.map((r) => r.body)), byJson(expected));
/** The tokens the stand-in counted (its x-amzn-bedrock-input-token-count), summed. */
const standinTokens = (recs) => recs.reduce((n, r) => n + r.media.inputTokens, 0);

/** OpenAI's embeddings answer for these vectors. */
const embeddingsAnswer = (model, vectors, tokens) => ({
  object: "list",
  data: vectors.map((embedding, index) => ({ object: "embedding", index, embedding })),
  model,
  usage: { prompt_tokens: tokens, total_tokens: tokens },
});

/** Every request log line the Worker wrote so far (parsed). */
function requestLines() {
  const out = [];
  for (const l of gw.logs) {
    if (!l.startsWith("log: {")) continue;
    try {
      const o = JSON.parse(l.slice(5));
      if (o && typeof o.route === "string") out.push(o);
    } catch {}
  }
  return out;
}

/** The one log line of the request with this trace id. */
async function lineOf(traceId) {
  await waitFor(() => requestLines().some((l) => l.trace_id === traceId), 5000);
  await sleep(20); // a second line for the same id would be a bug: give it a moment to show
  const lines = requestLines().filter((l) => l.trace_id === traceId);
  assert.equal(lines.length, 1, `expected one log line for trace ${traceId}, got ${lines.length}`);
  return lines[0];
}

/** An embeddings request's line: route, status, provider, model, usage (no output) and cost from the table. */
async function assertEmbeddingLine(traceId, model, tokens, { provider = "@demo" } = {}) {
  const line = await lineOf(traceId);
  assert.equal(line.route, "embeddings");
  assert.equal(line.path, "/v1/embeddings");
  assert.equal(line.status, 200);
  assert.equal(line.error, null);
  assert.equal(line.provider, provider);
  assert.equal(line.model, model);
  assert.deepEqual(line.usage, { input_tokens: tokens, output_tokens: 0, cache_read_tokens: 0, cache_write_tokens: 0 });
  const price = EMBED_PRICE[model];
  assert.equal(line.price, price ? price[0] : null, `price row of ${model}`);
  assert.equal(line.cost_usd, price ? embedUsd(tokens, price[1]) : null, `cost of ${tokens} tokens of ${model}`);
  return line;
}

/** An image request's line: route images, usage.images, cost per image (null for Nova Canvas / Titan Image). */
async function assertImageLine(traceId, model, images) {
  const line = await lineOf(traceId);
  assert.equal(line.route, "images");
  assert.equal(line.path, "/v1/images/generations");
  assert.equal(line.status, 200);
  assert.equal(line.provider, "@demo");
  assert.equal(line.model, model);
  assert.deepEqual(line.usage, { input_tokens: 0, output_tokens: 0, cache_read_tokens: 0, cache_write_tokens: 0, images });
  const price = IMAGE_PRICE[model];
  assert.equal(line.price, price ? price[0] : null, `price row of ${model}`);
  assert.equal(line.cost_usd, price ? imageUsd(images, price[1]) : null, `cost of ${images} images of ${model}`);
  return line;
}

/** An OpenAI-shaped error body: {error: {message, type, param, code}} and nothing else. */
function assertOpenAiError(body, { param, code } = {}) {
  assert.deepEqual(Object.keys(body ?? {}), ["error"], JSON.stringify(body));
  assert.deepEqual(Object.keys(body.error).sort(), ["code", "message", "param", "type"], JSON.stringify(body));
  assert.equal(typeof body.error.message, "string");
  assert.equal(typeof body.error.type, "string");
  if (param !== undefined) assert.equal(body.error.param, param, body.error.message);
  if (code !== undefined) assert.equal(body.error.code, code, body.error.message);
}

const idx = (n) => Array.from({ length: n }, (_, i) => i);

/**
 * When each stand-in call's answer was written: the stand-in sets a record's `status` when its answer
 * finishes, so every record seen still unanswered (polled every 2 ms) gets a setter noting the moment.
 * Exact for calls held longer than the poll interval (the delayed ones). Returns {finished: Map(id → ms), stop}.
 */
function watchFinishes() {
  const finished = new Map();
  const watched = new Set();
  const poll = setInterval(() => {
    for (const r of gw.standin.requests()) {
      if (watched.has(r.id)) continue;
      watched.add(r.id);
      if (r.status !== null) continue;
      let value = r.status;
      Object.defineProperty(r, "status", {
        enumerable: true,
        configurable: true,
        get: () => value,
        set: (v) => {
          value = v;
          if (v !== null && !finished.has(r.id)) finished.set(r.id, performance.now());
        },
      });
    }
  }, 2);
  return { finished, stop: () => clearInterval(poll) };
}

// ------------------------------------------------------------------ 1. one test per embedding family

test("Titan Text v2: one InvokeModel call per text with dimensions / normalize; Cohere's input_type and Nova's embedding_purpose ignored; vectors, usage, log line and cost", async () => {
  const texts = ["The quick brown fox", "jumps over the lazy dog, twice"];
  const client = sdk();
  const id = tid("titan");
  const { data, response } = await client.embeddings
    .create(
      { model: TITAN, input: texts, dimensions: 512, normalize: true, encoding_format: "float", input_type: "search_query", embedding_purpose: "CLUSTERING", user: "alice" },
      traced(id),
    )
    .withResponse();
  assert.equal(response.status, 200);
  assert.equal(response.headers.get("x-portkey-provider"), "@demo");
  const recs = invokes(TITAN);
  assert.equal(recs.length, 2, "one call per text");
  sameBodies(recs, texts.map((t) => ({ inputText: t, dimensions: 512, normalize: true })));
  const tokens = texts.reduce((n, t) => n + tokenCountFor(t), 0);
  assert.equal(standinTokens(recs), tokens);
  assert.deepEqual(data, embeddingsAnswer(TITAN, texts.map((t) => embeddingFor(TITAN, t, 512)), tokens));
  // encoding_format float: the wire had JSON numbers.
  assert.equal(client.wire[0].sent.encoding_format, "float");
  assert.ok(JSON.parse(client.wire[0].text).data.every((d) => Array.isArray(d.embedding) && d.embedding.every((x) => typeof x === "number")));
  const line = await assertEmbeddingLine(id, TITAN, tokens);
  assert.equal(line.metadata._user, "alice", "the body's user on the log line");
  assert.deepEqual(line.attempts.map((a) => a.status), [200], "one attempt, however many calls");
});

test("Titan Text v2: embedding_types [binary] → embeddingTypes, answered as 0/1 integers (default 1024 dimensions, no dimensions field sent)", async () => {
  const text = "binary please";
  const { data } = await sdk().embeddings.create({ model: TITAN, input: text, embedding_types: ["binary"], encoding_format: "float" }).withResponse();
  const recs = invokes(TITAN);
  sameBodies(recs, [{ inputText: text, embeddingTypes: ["binary"] }]);
  const bits = quantizeEmbedding(embeddingFor(TITAN, text, 1024), "bits");
  assert.deepEqual(data, embeddingsAnswer(TITAN, [bits], tokenCountFor(text)));
  assert.ok(data.data[0].embedding.every((b) => b === 0 || b === 1));
});

test("Titan Multimodal G1: text, image (data URL → inputImage without the prefix) and a {text, image} pair, one call each, dimensions → embeddingConfig.outputEmbeddingLength", async () => {
  const input = ["a red square", RED, { text: "a blue strip", image: BLUE }];
  const id = tid("titan-mm");
  const { data } = await sdk().embeddings.create({ model: TITAN_MM, input, dimensions: 384, encoding_format: "float" }, traced(id)).withResponse();
  const recs = invokes(TITAN_MM);
  assert.equal(recs.length, 3);
  const cfg = { outputEmbeddingLength: 384 };
  sameBodies(recs, [
    { inputText: "a red square", embeddingConfig: cfg },
    { inputImage: PNG_RED.toString("base64"), embeddingConfig: cfg },
    { inputText: "a blue strip", inputImage: PNG_BLUE.toString("base64"), embeddingConfig: cfg },
  ]);
  const tokens = tokenCountFor("a red square") + IMAGE_TOKEN_COUNT + tokenCountFor("a blue strip") + IMAGE_TOKEN_COUNT;
  assert.equal(standinTokens(recs), tokens, "the stand-in's header counts (1000 per image)");
  const vectors = [
    embeddingFor(TITAN_MM, "a red square", 384),
    embeddingFor(TITAN_MM, RED_KEY, 384),
    embeddingFor(TITAN_MM, `a blue strip\n${BLUE_KEY}`, 384),
  ];
  assert.deepEqual(data, embeddingsAnswer(TITAN_MM, vectors, tokens));
  await assertEmbeddingLine(id, TITAN_MM, tokens); // no price row: cost null
});

test("Cohere Embed v3 (english): texts in one call with input_type / truncate / embedding_types int8 (JSON integers), each image its own call with input_type image", async () => {
  const input = ["first document", RED, "second document", BLUE];
  const id = tid("cohere-en");
  const { data } = await sdk()
    .embeddings.create(
      { model: COHERE_EN, input, input_type: "search_query", truncate: "END", embedding_types: ["int8"], encoding_format: "float", normalize: true },
      traced(id),
    )
    .withResponse();
  const recs = invokes(COHERE_EN);
  assert.equal(recs.length, 3, "texts together, each image alone");
  const common = { truncate: "END", embedding_types: ["int8"] };
  sameBodies(recs, [
    { texts: ["first document", "second document"], input_type: "search_query", ...common },
    { images: [RED], input_type: "image", ...common },
    { images: [BLUE], input_type: "image", ...common },
  ]);
  const tokens = tokenCountFor("first document") + tokenCountFor("second document") + 2 * IMAGE_TOKEN_COUNT;
  assert.equal(standinTokens(recs), tokens);
  const keys = ["first document", RED_KEY, "second document", BLUE_KEY];
  const vectors = keys.map((k) => quantizeEmbedding(embeddingFor(COHERE_EN, k, 1024), "int8"));
  assert.deepEqual(data, embeddingsAnswer(COHERE_EN, vectors, tokens));
  assert.ok(data.data.every((d) => d.embedding.every((v) => Number.isInteger(v) && v >= -128 && v <= 127)), "int8 → integers");
  await assertEmbeddingLine(id, COHERE_EN, tokens);
});

test("Cohere Embed v3 (multilingual): a string input, defaults (search_document, float); the SDK's default base64 decoded to the same floats", async () => {
  const text = "Bonjour le monde, ça va ?";
  const client = sdk();
  const id = tid("cohere-ml");
  const { data } = await client.embeddings.create({ model: COHERE_ML, input: text }, traced(id)).withResponse();
  const recs = invokes(COHERE_ML);
  sameBodies(recs, [{ texts: [text], input_type: "search_document" }]);
  assert.equal(client.wire[0].sent.encoding_format, "base64", "the openai SDK asks for base64 by default");
  assert.equal(typeof JSON.parse(client.wire[0].text).data[0].embedding, "string", "the wire carried base64");
  assert.deepEqual(data, embeddingsAnswer(COHERE_ML, [embeddingFor(COHERE_ML, text, 1024)], tokenCountFor(text)));
  await assertEmbeddingLine(id, COHERE_ML, tokenCountFor(text));
});

test("Cohere Embed v4: texts, images (one call for all) and a {text, image} input (inputs), dimensions → output_dimension, input_type / truncate RIGHT; base64 answer (fetch) decodes to the floats", async () => {
  const input = ["hello v4", RED, { text: "caption", image: BLUE }, BLUE, "goodbye v4"];
  const id = tid("cohere-v4");
  const res = await post("/v1/embeddings", { model: COHERE_V4, input, dimensions: 512, input_type: "classification", truncate: "RIGHT", encoding_format: "base64" }, { "x-portkey-trace-id": id });
  assert.equal(res.status, 200, res.text);
  const recs = invokes(COHERE_V4);
  assert.equal(recs.length, 3);
  const common = { input_type: "classification", truncate: "RIGHT", output_dimension: 512 };
  sameBodies(recs, [
    { texts: ["hello v4", "goodbye v4"], ...common },
    { images: [RED, BLUE], ...common },
    { inputs: [{ content: [{ type: "text", text: "caption" }, { type: "image_url", image_url: BLUE }] }], ...common },
  ]);
  const tokens = tokenCountFor("hello v4") + tokenCountFor("goodbye v4") + 2 * IMAGE_TOKEN_COUNT + tokenCountFor("caption") + IMAGE_TOKEN_COUNT;
  assert.equal(standinTokens(recs), tokens);
  const keys = ["hello v4", RED_KEY, `inputs:caption\n${BLUE_KEY}`, BLUE_KEY, "goodbye v4"];
  assert.ok(res.json.data.every((d) => typeof d.embedding === "string"), "base64 strings");
  const decoded = { ...res.json, data: res.json.data.map((d) => ({ ...d, embedding: float32FromBase64(d.embedding) })) };
  assert.deepEqual(decoded, embeddingsAnswer(COHERE_V4, keys.map((k) => embeddingFor(COHERE_V4, k, 512)), tokens));
  await assertEmbeddingLine(id, COHERE_V4, tokens);
});

test("Nova multimodal embeddings: text and image, one call each; embedding_purpose, dimensions → embeddingDimension, truncate → truncationMode; and the defaults (GENERIC_INDEX, 3072, END)", async () => {
  const id = tid("nova-embed");
  const { data } = await sdk()
    .embeddings.create({ model: NOVA_EMBED, input: ["hello nova", RED], embedding_purpose: "TEXT_RETRIEVAL", dimensions: 1024, truncate: "START", encoding_format: "float", input_type: "search_query" }, traced(id))
    .withResponse();
  let recs = invokes(NOVA_EMBED);
  const params = { embeddingPurpose: "TEXT_RETRIEVAL", embeddingDimension: 1024 };
  sameBodies(recs, [
    { taskType: "SINGLE_EMBEDDING", singleEmbeddingParams: { ...params, text: { truncationMode: "START", value: "hello nova" } } },
    { taskType: "SINGLE_EMBEDDING", singleEmbeddingParams: { ...params, image: { format: "png", source: { bytes: PNG_RED.toString("base64") } } } },
  ]);
  const tokens = tokenCountFor("hello nova") + IMAGE_TOKEN_COUNT;
  assert.equal(standinTokens(recs), tokens);
  assert.deepEqual(data, embeddingsAnswer(NOVA_EMBED, [embeddingFor(NOVA_EMBED, "hello nova", 1024), embeddingFor(NOVA_EMBED, RED_KEY, 1024)], tokens));
  await assertEmbeddingLine(id, NOVA_EMBED, tokens); // no price row: cost null

  gw.standin.reset();
  const { data: plain } = await sdk().embeddings.create({ model: NOVA_EMBED, input: "defaults" }).withResponse();
  recs = invokes(NOVA_EMBED);
  sameBodies(recs, [
    { taskType: "SINGLE_EMBEDDING", singleEmbeddingParams: { embeddingPurpose: "GENERIC_INDEX", embeddingDimension: 3072, text: { truncationMode: "END", value: "defaults" } } },
  ]);
  assert.deepEqual(plain, embeddingsAnswer(NOVA_EMBED, [embeddingFor(NOVA_EMBED, "defaults", 3072)], tokenCountFor("defaults")));
});

// ------------------------------------------------------------------ 1b. model ids, credentials, OpenAI header mode

test("model ids: a system inference profile (us.) and an application profile ARN (GetInferenceProfile names the family) reach the right family; @slug/ prefix in the body; header credentials", async () => {
  // us. profile through header credentials: the path carries the profile, the vectors are the foundation model's, priced by its row.
  const profile = `us.${COHERE_V4}`;
  const hdr = sdk(longTermHeaders(gw), { provider: null });
  const id = tid("profile");
  const { data } = await hdr.embeddings.create({ model: profile, input: "via a profile", encoding_format: "float", dimensions: 256 }, traced(id)).withResponse();
  const recs = invokes(profile);
  sameBodies(recs, [{ texts: ["via a profile"], input_type: "search_document", output_dimension: 256 }]);
  assert.equal(recs[0].signature.accessKeyId, gw.standin.credentials.longTerm.accessKeyId);
  assert.deepEqual(data, embeddingsAnswer(profile, [embeddingFor(COHERE_V4, "via a profile", 256)], tokenCountFor("via a profile")));
  const line = await lineOf(id);
  assert.equal(line.provider, "bedrock");
  assert.equal(line.price, "bedrock/cohere-embed-v4");
  assert.equal(line.cost_usd, embedUsd(tokenCountFor("via a profile"), 0.12));

  // An application inference profile ARN: the family comes from GetInferenceProfile; no price (cost null).
  gw.standin.reset();
  const arn = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/mediae2e01";
  gw.standin.setInferenceProfile(arn, { modelArn: `arn:aws:bedrock:us-east-1::foundation-model/${TITAN}` });
  const id2 = tid("arn");
  const out = await sdk().embeddings.create({ model: arn, input: "via an ARN", encoding_format: "float" }, traced(id2));
  assert.equal(gw.standin.counters.getInferenceProfile, 1);
  const arnRecs = invokes(arn);
  sameBodies(arnRecs, [{ inputText: "via an ARN" }]);
  assert.deepEqual(out.data[0].embedding, embeddingFor(TITAN, "via an ARN", 1024));
  const arnLine = await lineOf(id2);
  assert.equal(arnLine.usage.input_tokens, tokenCountFor("via an ARN"));
  assert.equal(arnLine.cost_usd, null);

  // @demo/ in the body, no provider header: the model answered without the prefix.
  gw.standin.reset();
  const pre = await sdk({}, { provider: null }).images.generate({ model: `@demo/${CORE}`, prompt: "prefixed" });
  assert.equal(invokes(CORE).length, 1);
  assert.equal(pngInfo(pre.data[0].b64_json).text.model, CORE);
  const emb = await sdk({}, { provider: null }).embeddings.create({ model: `@demo/${TITAN}`, input: "prefixed", encoding_format: "float" });
  assert.equal(emb.model, TITAN);
});

test("OpenAI header mode (x-portkey-provider: openai, the caller's OpenAI key): embeddings and images passed through as OpenAI answers them", async () => {
  const client = new OpenAI({ apiKey: gw.standin.openaiKeys.valid, baseURL: gw.url + "/v1", defaultHeaders: openaiModeHeaders(gw), maxRetries: 0, timeout: 20_000 });
  const emb = await client.embeddings.create({ model: OPENAI_EMBED, input: ["header", "mode"], dimensions: 64 });
  gw.record(emb);
  assert.deepEqual(emb.data.map((d) => d.embedding), ["header", "mode"].map((t) => embeddingFor(`openai:${OPENAI_EMBED}`, t, 64)));
  const img = await client.images.generate({ model: "dall-e-3", prompt: "a header", size: "1792x1024" });
  gw.record(img);
  assert.equal(img.data[0].revised_prompt, "a header");
  assert.deepEqual([pngInfo(img.data[0].b64_json).width, pngInfo(img.data[0].b64_json).height], [1792, 1024]);
  const reqs = gw.standin.requests();
  assert.deepEqual(reqs.map((r) => [r.operation, r.status, r.signature.key]), [["openai-embeddings", 200, "valid"], ["openai-images", 200, "valid"]]);
  // OpenAI's own errors keep their status through the pass-through.
  gw.standin.script({ match: { operation: "openai-embeddings" }, status: 429 });
  const err = await refusal(() => client.embeddings.create({ model: OPENAI_EMBED, input: "x" }));
  assert.ok(err instanceof OpenAI.RateLimitError, String(err));
  assert.match(err.message, /^429 OpenAI:/);
});

test("one failing call among many fails the whole request (no partial answer); x-portkey-request-timeout applies to each call (408)", async () => {
  const texts = idx(10).map((i) => `partial ${i}`);
  gw.standin.script({ match: { operation: "invoke", model: TITAN }, delayMs: 30, status: 429, errorType: "ThrottlingException", message: "slow down" });
  const client = sdk();
  const err = await refusal(() => client.embeddings.create({ model: TITAN, input: texts, encoding_format: "float" }));
  assert.ok(err instanceof OpenAI.RateLimitError, String(err));
  assertOpenAiError(JSON.parse(client.wire[0].text));
  assert.ok(invokes(TITAN, { status: null }).length <= 10);

  gw.standin.reset();
  gw.standin.script({ match: { operation: "invoke", model: COHERE_EN }, delayMs: 1500 });
  const t0 = performance.now();
  const slow = await refusal(() => sdk({ "x-portkey-request-timeout": "300" }).embeddings.create({ model: COHERE_EN, input: "slow" }));
  assert.equal(slow.status, 408, String(slow));
  assert.equal(slow.code, "request_timeout");
  assert.ok(performance.now() - t0 < 1400, "answered at the timeout, not when Bedrock answered");
  gw.standin.reset();
  gw.standin.script({ match: { operation: "invoke", model: SD35 }, delayMs: 1500 });
  const slowImg = await refusal(() => sdk({ "x-portkey-request-timeout": "300" }).images.generate({ model: SD35, prompt: "slow", n: 2 }));
  assert.equal(slowImg.status, 408, String(slowImg));
});

test("usage: the x-amzn-bedrock-input-token-count header is what counts; Titan's inputTextTokenCount when it is absent; a wrong answer shape is a 502", async () => {
  // The header (scripted 77) wins over the body's inputTextTokenCount.
  gw.standin.script({ match: { operation: "invoke", model: TITAN }, headers: { "x-amzn-bedrock-input-token-count": "77" } });
  let out = await sdk().embeddings.create({ model: TITAN, input: "counted by the header", encoding_format: "float" });
  assert.deepEqual(out.usage, { prompt_tokens: 77, total_tokens: 77 });
  // No header at all (a raw answer): Titan's inputTextTokenCount.
  const floats = embeddingFor(TITAN, "no header", 256);
  gw.standin.script({ match: { operation: "invoke", model: TITAN }, raw: true, status: 200, reason: "OK", json: { embedding: floats, inputTextTokenCount: 9, embeddingsByType: { float: floats } } });
  out = await sdk().embeddings.create({ model: TITAN, input: "no header", dimensions: 256, encoding_format: "float" });
  assert.deepEqual(out.usage, { prompt_tokens: 9, total_tokens: 9 });
  assert.deepEqual(out.data[0].embedding, floats);
  // Cohere answering one vector for two texts: 502, never a short answer.
  gw.standin.script({ match: { operation: "invoke", model: COHERE_EN }, json: { id: "x", response_type: "embeddings_floats", embeddings: [[0.5]], texts: ["a"] } });
  const client = sdk();
  const err = await refusal(() => client.embeddings.create({ model: COHERE_EN, input: ["a", "b"], encoding_format: "float" }));
  assert.equal(err.status, 502, String(err));
  assertOpenAiError(JSON.parse(client.wire[0].text));
});

// ------------------------------------------------------------------ 2. encodings

test("encoding_format: base64 (fetch) decodes as little-endian float32 to the floats; int8 with base64 decodes to the integers; float is JSON numbers; the SDK default (base64) decodes to the same numbers", async () => {
  const texts = ["encode me", "and me too"];
  const floats = texts.map((t) => embeddingFor(TITAN, t, 256));

  const b64 = await post("/v1/embeddings", { model: TITAN, input: texts, dimensions: 256, encoding_format: "base64" });
  assert.equal(b64.status, 200, b64.text);
  assert.deepEqual(b64.json.data.map((d) => float32FromBase64(d.embedding)), floats);
  // Little-endian float32, by hand for the first value.
  const raw = Buffer.from(b64.json.data[0].embedding, "base64");
  assert.equal(raw.length, 256 * 4);
  assert.equal(raw.readFloatLE(0), floats[0][0]);

  const flt = await post("/v1/embeddings", { model: TITAN, input: texts, dimensions: 256, encoding_format: "float" });
  assert.equal(flt.status, 200, flt.text);
  assert.deepEqual(flt.json.data.map((d) => d.embedding), floats);
  assert.equal(flt.json.usage.prompt_tokens, b64.json.usage.prompt_tokens);

  const client = sdk();
  const viaSdk = await client.embeddings.create({ model: TITAN, input: texts, dimensions: 256 });
  assert.equal(client.wire[0].sent.encoding_format, "base64");
  assert.deepEqual(viaSdk.data.map((d) => d.embedding), floats);

  const ints = await post("/v1/embeddings", { model: COHERE_EN, input: texts, embedding_types: ["int8"], encoding_format: "base64" });
  assert.equal(ints.status, 200, ints.text);
  assert.deepEqual(
    ints.json.data.map((d) => float32FromBase64(d.embedding)),
    texts.map((t) => quantizeEmbedding(embeddingFor(COHERE_EN, t, 1024), "int8")),
  );
  const intsSdk = await sdk().embeddings.create({ model: COHERE_V4, input: texts, embedding_types: ["uint8"], dimensions: 256 });
  assert.deepEqual(
    intsSdk.data.map((d) => d.embedding),
    texts.map((t) => quantizeEmbedding(embeddingFor(COHERE_V4, t, 256), "uint8")),
  );
});

// ------------------------------------------------------------------ 3. batches, in input order

test("200 texts on Titan: 200 calls, at most 6 at a time, finishing out of order (the first six held 300…50 ms), answered in input order", async (t) => {
  const texts = idx(200).map((i) => `titan batch text ${i}${"!".repeat(i % 5)}`);
  const DELAYS = [300, 250, 200, 150, 100, 50];
  for (const delayMs of DELAYS) gw.standin.script({ match: { operation: "invoke", model: TITAN }, delayMs });
  const { finished, stop } = watchFinishes();
  const id = tid("titan-200");
  const t0 = performance.now();
  let data;
  try {
    ({ data } = await sdk().embeddings.create({ model: TITAN, input: texts, dimensions: 256, encoding_format: "float" }, traced(id)).withResponse());
  } finally {
    stop();
  }
  const ms = performance.now() - t0;
  const recs = invokes(TITAN);
  assert.equal(recs.length, 200);
  assert.deepEqual(recs.map((r) => r.body.inputText).sort(), [...texts].sort(), "each text sent exactly once");
  assert.ok(recs.every((r) => Object.keys(r.body).join() === "inputText,dimensions" || Object.keys(r.body).join() === "dimensions,inputText"));
  const tokens = texts.reduce((n, t) => n + tokenCountFor(t), 0);
  assert.deepEqual(data, embeddingsAnswer(TITAN, texts.map((t) => embeddingFor(TITAN, t, 256)), tokens));

  // The six first calls (inputs 0-5, in whatever order they arrived) took the delays in arrival order:
  // their answers were written in the reverse order.
  const first = recs.slice(0, 6);
  assert.ok(first.every((r) => r.scripted) && !recs[6].scripted);
  assert.deepEqual(first.map((r) => texts.indexOf(r.body.inputText)).sort((a, b) => a - b), idx(6), "the first six calls are inputs 0-5");
  assert.ok(first.every((r) => finished.has(r.id)), "the held calls were watched");
  const order = [...first].sort((a, b) => finished.get(a.id) - finished.get(b.id));
  assert.deepEqual(order.map((r) => r.id), [...first].reverse().map((r) => r.id), "answered in reverse order of arrival");
  // Six at a time: the seventh call started only after input 0's call (held DELAYS[i] ms) was answered.
  const r0 = first.find((r) => r.body.inputText === texts[0]);
  const held = DELAYS[first.indexOf(r0)];
  assert.ok(recs[6].at >= r0.at + held, `7th call at +${recs[6].at - r0.at} ms, input 0 held ${held} ms`);
  assert.equal(gw.standin.pending().length, 0);
  await assertEmbeddingLine(id, TITAN, tokens);
  t.diagnostic(`200 Titan calls through the gateway in ${ms.toFixed(0)} ms`);
});

test("200 texts on Cohere v3: calls of 96 / 96 / 8 texts (the first held 200 ms so it finishes last), vectors in input order", async () => {
  const texts = idx(200).map((i) => `cohere batch text ${i} ${"abc".repeat(i % 4)}`);
  gw.standin.script({ match: { operation: "invoke", model: COHERE_EN }, delayMs: 200 });
  const id = tid("cohere-200");
  const { data } = await sdk().embeddings.create({ model: COHERE_EN, input: texts, encoding_format: "float" }, traced(id)).withResponse();
  const recs = invokes(COHERE_EN);
  assert.equal(recs.length, 3);
  sameBodies(recs, [
    { texts: texts.slice(0, 96), input_type: "search_document" },
    { texts: texts.slice(96, 192), input_type: "search_document" },
    { texts: texts.slice(192), input_type: "search_document" },
  ]);
  assert.deepEqual(byJson(recs.map((r) => r.body.texts.length)), byJson([96, 96, 8]));
  assert.ok(recs[0].scripted, "the first call to arrive was the one held");
  const tokens = texts.reduce((n, t) => n + tokenCountFor(t), 0);
  assert.equal(standinTokens(recs), tokens);
  assert.deepEqual(data, embeddingsAnswer(COHERE_EN, texts.map((t) => embeddingFor(COHERE_EN, t, 1024)), tokens));
  await assertEmbeddingLine(id, COHERE_EN, tokens);
});

// ------------------------------------------------------------------ 4. image generation

/** The PNGs of an images answer, read (every CRC checked). */
const pngs = (data) => data.data.map((d) => pngInfo(d.b64_json));

test("Nova Canvas: n=2, size, quality hd → premium, seed, negative_prompt, style, cfg_scale in one call; two PNGs, index 0 and 1, of the size asked; cost null", async () => {
  const prompt = "a lighthouse at dawn";
  const id = tid("nova-canvas");
  const { data } = await sdk()
    .images.generate(
      { model: NOVA_CANVAS, prompt, n: 2, size: "1280x720", quality: "hd", seed: 12345, negative_prompt: "fog", style: "PHOTOREALISM", cfg_scale: 6.5 },
      traced(id),
    )
    .withResponse();
  const recs = invokes(NOVA_CANVAS);
  sameBodies(recs, [
    {
      taskType: "TEXT_IMAGE",
      textToImageParams: { text: prompt, negativeText: "fog", style: "PHOTOREALISM" },
      imageGenerationConfig: { numberOfImages: 2, width: 1280, height: 720, quality: "premium", cfgScale: 6.5, seed: 12345 },
    },
  ]);
  assert.deepEqual(Object.keys(data).sort(), ["created", "data"]);
  assert.ok(Number.isInteger(data.created) && Math.abs(data.created - Date.now() / 1000) < 60);
  assert.equal(data.data.length, 2);
  assert.ok(data.data.every((d) => Object.keys(d).join() === "b64_json"));
  const info = pngs(data);
  info.forEach((p, i) => {
    assert.equal(p.width, 1280);
    assert.equal(p.height, 720);
    assert.deepEqual(
      { prompt: p.text.prompt, index: p.text.index, seed: p.text.seed, quality: p.text.quality, style: p.text.style, negative: p.text.negative, model: p.text.model },
      { prompt, index: String(i), seed: "12345", quality: "premium", style: "PHOTOREALISM", negative: "fog", model: NOVA_CANVAS },
    );
  });
  await assertImageLine(id, NOVA_CANVAS, 2);
});

test("Titan Image Generator v2: one of its sizes, default quality standard, seed; one PNG; quality low → standard", async () => {
  const prompt = "a paper crane";
  const id = tid("titan-image");
  const { data } = await sdk().images.generate({ model: TITAN_IMAGE, prompt, size: "1152x768", seed: 99, quality: "low" }, traced(id)).withResponse();
  sameBodies(invokes(TITAN_IMAGE), [
    { taskType: "TEXT_IMAGE", textToImageParams: { text: prompt }, imageGenerationConfig: { numberOfImages: 1, width: 1152, height: 768, quality: "standard", seed: 99 } },
  ]);
  const [p] = pngs(data);
  assert.equal(data.data.length, 1);
  assert.deepEqual([p.width, p.height, p.text.prompt, p.text.seed, p.text.index, p.text.quality], [1152, 768, prompt, "99", "0", "standard"]);
  await assertImageLine(id, TITAN_IMAGE, 1);
});

test("Stability SD3.5 Large: n=2 → two calls, size 1792x1024 → aspect_ratio 16:9, seed then seed+1; the first call held so it finishes last, images still in order", async () => {
  const prompt = "a fox in the snow";
  gw.standin.script({ match: { operation: "invoke", model: SD35 }, delayMs: 200 });
  const id = tid("sd35");
  const { data } = await sdk().images.generate({ model: SD35, prompt, n: 2, size: "1792x1024", seed: 7 }, traced(id)).withResponse();
  const recs = invokes(SD35);
  assert.equal(recs.length, 2);
  sameBodies(recs, [
    { prompt, aspect_ratio: "16:9", seed: 7 },
    { prompt, aspect_ratio: "16:9", seed: 8 },
  ]);
  assert.ok(recs[0].scripted);
  const info = pngs(data);
  assert.deepEqual(info.map((p) => p.text.seed), ["7", "8"], "images in seed order");
  for (const p of info) {
    assert.deepEqual([p.width, p.height, p.text.prompt, p.text.aspect_ratio, p.text.model], [1344, 768, prompt, "16:9", SD35]);
  }
  await assertImageLine(id, SD35, 2);
});

test("Stable Image Core: size 1536x1024 → 3:2, output_format jpeg, negative_prompt; no seed given → the model's own; cost 0.04", async () => {
  const prompt = "a bowl of lemons";
  const id = tid("core");
  const { data } = await sdk().images.generate({ model: CORE, prompt, size: "1536x1024", output_format: "jpeg", negative_prompt: "blurry" }, traced(id)).withResponse();
  sameBodies(invokes(CORE), [{ prompt, aspect_ratio: "3:2", output_format: "jpeg", negative_prompt: "blurry" }]);
  const [p] = pngs(data);
  assert.deepEqual(
    [p.width, p.height, p.text.prompt, p.text.aspect_ratio, p.text.output_format, p.text.negative, p.text.seed],
    [1216, 832, prompt, "3:2", "jpeg", "blurry", String(seedFor(prompt))],
  );
  await assertImageLine(id, CORE, 1);
});

test("Stable Image Ultra: aspect_ratio given wins over size; n=3 → three calls two at a time, seeds s, s+1, s+2 in order; cost 0.14 per image", async () => {
  const prompt = "a tall glass tower";
  const DELAYS = [150, 50];
  for (const delayMs of DELAYS) gw.standin.script({ match: { operation: "invoke", model: ULTRA }, delayMs });
  const id = tid("ultra");
  const { data } = await sdk().images.generate({ model: ULTRA, prompt, size: "1024x1024", aspect_ratio: "9:16", n: 3, seed: 41 }, traced(id)).withResponse();
  const recs = invokes(ULTRA);
  sameBodies(recs, [41, 42, 43].map((seed) => ({ prompt, aspect_ratio: "9:16", seed })));
  // Two at a time: the third call (seed 43) started only after the first image's call (seed 41) was answered.
  assert.deepEqual(recs.slice(0, 2).map((r) => r.body.seed).sort(), [41, 42]);
  assert.equal(recs[2].body.seed, 43);
  const first = recs.find((r) => r.body.seed === 41);
  assert.ok(recs[2].at >= first.at + DELAYS[recs.indexOf(first)], `3rd call at +${recs[2].at - first.at} ms`);
  const info = pngs(data);
  assert.deepEqual(info.map((p) => [p.width, p.height, p.text.seed, p.text.aspect_ratio]), [
    [768, 1344, "41", "9:16"],
    [768, 1344, "42", "9:16"],
    [768, 1344, "43", "9:16"],
  ]);
  await assertImageLine(id, ULTRA, 3);
});

test(
  "Stability: seed + i past the largest seed stays a fixed seed (never 0, which Stability reads as 'random')",
  async () => {
    const prompt = "wrap around";
    const out = await sdk().images.generate({ model: CORE, prompt, n: 2, seed: 4294967294 });
    const seeds = invokes(CORE).map((r) => r.body.seed);
    assert.ok(seeds.every((s) => Number.isInteger(s) && s >= 1 && s <= 4294967294), `seeds sent: ${seeds}`);
    assert.deepEqual(pngs(out).map((p) => p.text.seed).length, 2);
  },
);

test("response_format url → 400 BadRequestError explaining why (Bedrock returns bytes, no storage to host them; use b64_json); nothing sent to Bedrock", async () => {
  for (const model of [NOVA_CANVAS, SD35]) {
    const client = sdk();
    const err = await refusal(() => client.images.generate({ model, prompt: "x", response_format: "url" }));
    assert.ok(err instanceof OpenAI.BadRequestError, String(err));
    assert.equal(err.status, 400);
    assert.equal(err.param, "response_format");
    assert.match(err.message, /url/);
    assert.match(err.message, /b64_json/);
    assert.match(err.message, /storage|host/i);
    assertOpenAiError(JSON.parse(client.wire[0].text), { param: "response_format" });
  }
  assert.equal(gw.standin.requests().length, 0);
});

test("Stability's content filter (finish_reasons) → 400 content_policy_violation; Nova Canvas' filter (ValidationException) → 400", async () => {
  gw.standin.script({ match: { operation: "invoke", model: CORE }, finishReason: "Filter reason: prompt" });
  let err = await refusal(() => sdk().images.generate({ model: CORE, prompt: "something filtered" }));
  assert.ok(err instanceof OpenAI.BadRequestError, String(err));
  assert.equal(err.code, "content_policy_violation");
  assert.match(err.message, /Filter reason: prompt/);

  gw.standin.script({ match: { operation: "invoke", model: NOVA_CANVAS }, errorType: "ValidationException", message: "This request has been blocked by our content filters." });
  err = await refusal(() => sdk().images.generate({ model: NOVA_CANVAS, prompt: "something filtered" }));
  assert.ok(err instanceof OpenAI.BadRequestError, String(err));
  assert.match(err.message, /blocked by our content filters/);
});

// ------------------------------------------------------------------ 5. configs: fallback, OpenAI targets, cache

const json = (v) => JSON.stringify(v);
const demoTarget = (model) => ({ provider: "@demo", override_params: { model } });

test("fallback: Titan fails (500, then ThrottlingException) → Cohere answers with the same body (its input_type read); last-used-option-index, log target and attempts", async () => {
  const config = { strategy: { mode: "fallback" }, targets: [demoTarget(TITAN), demoTarget(COHERE_EN)] };
  for (const fault of [{ status: 500 }, { status: 429, errorType: "ThrottlingException", message: "Too many requests" }]) {
    gw.standin.reset();
    gw.standin.script({ match: { operation: "invoke", model: TITAN }, ...fault });
    const id = tid("fallback");
    const { data, response } = await sdk({ "x-portkey-config": json(config) }, { provider: null })
      .embeddings.create({ model: TITAN, input: ["fall back to cohere"], input_type: "search_query", encoding_format: "float" }, traced(id))
      .withResponse();
    assert.equal(response.headers.get("x-portkey-last-used-option-index"), "config.targets[1]");
    const recs = invokes(null, { status: null });
    assert.deepEqual(recs.map((r) => [r.model, r.status]), [[TITAN, fault.status], [COHERE_EN, 200]]);
    assert.deepEqual(recs[0].body, { inputText: "fall back to cohere" });
    assert.deepEqual(recs[1].body, { texts: ["fall back to cohere"], input_type: "search_query" });
    const tokens = tokenCountFor("fall back to cohere");
    assert.deepEqual(data, embeddingsAnswer(COHERE_EN, [embeddingFor(COHERE_EN, "fall back to cohere", 1024)], tokens));
    const line = await assertEmbeddingLine(id, COHERE_EN, tokens);
    assert.equal(line.target, "config.targets[1]");
    assert.deepEqual(
      line.attempts.map((a) => [a.target, a.status]),
      [["config.targets[0]", fault.status], ["config.targets[1]", 200]],
    );
  }
});

test("fallback to an OpenAI target (embeddings): Cohere v4 throttled → @openai-prod gets only OpenAI's fields (no input_type / truncate / embedding_types), the SDK's base64 passed through and decoded", async () => {
  const config = { strategy: { mode: "fallback" }, targets: [demoTarget(COHERE_V4), { provider: "@openai-prod", override_params: { model: OPENAI_EMBED } }] };
  gw.standin.script({ match: { operation: "invoke", model: COHERE_V4 }, status: 429, errorType: "ThrottlingException" });
  const texts = ["to openai", "and back"];
  const client = sdk({ "x-portkey-config": json(config) }, { provider: null });
  const id = tid("fallback-openai");
  const { data, response } = await client.embeddings
    .create({ model: COHERE_V4, input: texts, dimensions: 256, input_type: "search_query", truncate: "LEFT", embedding_types: ["float"], user: "u-1" }, traced(id))
    .withResponse();
  assert.equal(response.headers.get("x-portkey-last-used-option-index"), "config.targets[1]");
  const reqs = gw.standin.requests();
  assert.deepEqual(reqs.map((r) => r.operation), ["invoke", "openai-embeddings"]);
  const oa = reqs[1];
  assert.equal(oa.openai?.validationError, undefined, `OpenAI refused the body: ${oa.openai?.validationError}`);
  assert.deepEqual(oa.body, { model: OPENAI_EMBED, input: texts, dimensions: 256, encoding_format: "base64", user: "u-1" });
  assert.equal(oa.signature.ok, true);
  assert.equal(oa.signature.key, "valid", "the record's sealed OpenAI key");
  const tokens = texts.reduce((n, t) => n + tokenCountFor(t), 0);
  assert.deepEqual(data.data.map((d) => d.embedding), texts.map((t) => embeddingFor(`openai:${OPENAI_EMBED}`, t, 256)));
  assert.deepEqual(data.usage, { prompt_tokens: tokens, total_tokens: tokens });
  const line = await lineOf(id);
  assert.equal(line.route, "embeddings");
  assert.equal(line.provider, "@openai-prod");
  assert.equal(line.model, OPENAI_EMBED);
  assert.equal(line.usage.input_tokens, tokens);
  assert.equal(line.price, "openai/text-embedding-3-small");
  assert.equal(line.cost_usd, embedUsd(tokens, 0.02));
});

test("fallback to an OpenAI target (images): Nova Canvas filtered → @openai-prod gets only OpenAI's fields (no seed / negative_prompt / cfg_scale); b64_json PNG", async () => {
  const config = { strategy: { mode: "fallback" }, targets: [demoTarget(NOVA_CANVAS), { provider: "@openai-prod", override_params: { model: OPENAI_IMAGE } }] };
  gw.standin.script({ match: { operation: "invoke", model: NOVA_CANVAS }, errorType: "ValidationException", message: "This request has been blocked by our content filters." });
  const prompt = "a cat wearing a hat";
  const id = tid("fallback-openai-images");
  const { data, response } = await sdk({ "x-portkey-config": json(config) }, { provider: null })
    .images.generate({ model: NOVA_CANVAS, prompt, size: "1024x1024", quality: "high", seed: 5, negative_prompt: "dogs", cfg_scale: 7 }, traced(id))
    .withResponse();
  assert.equal(response.headers.get("x-portkey-last-used-option-index"), "config.targets[1]");
  const reqs = gw.standin.requests();
  assert.deepEqual(reqs.map((r) => [r.operation, r.status]), [["invoke", 400], ["openai-images", 200]]);
  assert.deepEqual(reqs[0].body.imageGenerationConfig, { numberOfImages: 1, width: 1024, height: 1024, quality: "premium", cfgScale: 7, seed: 5 });
  assert.equal(reqs[1].openai?.validationError, undefined, `OpenAI refused the body: ${reqs[1].openai?.validationError}`);
  assert.deepEqual(reqs[1].body, { model: OPENAI_IMAGE, prompt, size: "1024x1024", quality: "high" });
  assert.equal(data.data.length, 1);
  const p = pngInfo(data.data[0].b64_json);
  assert.equal(p.text.prompt, prompt);
  assert.deepEqual([p.width, p.height], [1024, 1024]);
  const line = await lineOf(id);
  assert.equal(line.route, "images");
  assert.equal(line.provider, "@openai-prod");
  assert.equal(line.target, "config.targets[1]");
});

test("a config's simple cache applies to embeddings (keyed on the body as sent: float and base64 are two entries), never to images", async () => {
  const config = { cache: { mode: "simple" } };
  const client = sdk({ "x-portkey-config": json(config) });
  const body = { model: TITAN, input: `cache me ${randomBytes(4).toString("hex")}`, encoding_format: "float" };
  const first = await client.embeddings.create(body).withResponse();
  assert.equal(first.response.headers.get("x-portkey-cache-status"), "MISS");
  const second = await client.embeddings.create(body).withResponse();
  assert.equal(second.response.headers.get("x-portkey-cache-status"), "HIT");
  assert.deepEqual(second.data, first.data);
  assert.equal(invokes(TITAN).length, 1, "the hit called nobody");
  const other = await client.embeddings.create({ ...body, encoding_format: "base64" }).withResponse();
  assert.equal(other.response.headers.get("x-portkey-cache-status"), "MISS");
  assert.equal(invokes(TITAN).length, 2);

  gw.standin.reset();
  for (let i = 0; i < 2; i++) {
    const { response } = await client.images.generate({ model: CORE, prompt: "never cached" }).withResponse();
    assert.notEqual(response.headers.get("x-portkey-cache-status"), "HIT");
  }
  assert.equal(invokes(CORE).length, 2, "both image requests reached Bedrock");
});

// ------------------------------------------------------------------ 6. errors through the SDK

test("Bedrock errors mapped: ThrottlingException → 429 RateLimitError, ValidationException → 400 BadRequestError, InternalServerException → 500; OpenAI-shaped bodies", async () => {
  const cases = [
    [{ status: 429, errorType: "ThrottlingException", message: "Too many tokens" }, OpenAI.RateLimitError, 429, /ThrottlingException/],
    [{ errorType: "ValidationException", message: "Malformed input request: bad" }, OpenAI.BadRequestError, 400, /ValidationException.*Malformed input request: bad/],
    [{ status: 500, errorType: "InternalServerException", message: "oops" }, OpenAI.InternalServerError, 500, /oops/],
  ];
  for (const [fault, Cls, status, message] of cases) {
    gw.standin.reset();
    gw.standin.script({ match: { operation: "invoke", model: COHERE_EN }, ...fault });
    const client = sdk();
    const err = await refusal(() => client.embeddings.create({ model: COHERE_EN, input: "x" }));
    assert.ok(err instanceof Cls, `${fault.errorType}: ${err}`);
    assert.equal(err.status, status);
    assert.match(err.message, message);
    assertOpenAiError(JSON.parse(client.wire[0].text));
  }
  // Images too.
  gw.standin.reset();
  gw.standin.script({ match: { operation: "invoke", model: SD35 }, status: 429, errorType: "ThrottlingException" });
  const err = await refusal(() => sdk().images.generate({ model: SD35, prompt: "x" }));
  assert.ok(err instanceof OpenAI.RateLimitError, String(err));
});

test("refused before any call: token arrays (400 naming input), a chat model (400 model_not_supported_on_route), unknown fields (400 naming them), a value the family lacks, text+image for Cohere v3", async () => {
  const cases = [
    ["/v1/embeddings", { model: TITAN, input: [1, 2, 3] }, "input", /token arrays/],
    ["/v1/embeddings", { model: TITAN, input: [[1, 2], [3]] }, "input", /token arrays/],
    ["/v1/embeddings", { model: HAIKU, input: "x" }, "model", /not an embedding model/, "model_not_supported_on_route"],
    ["/v1/embeddings", { model: NOVA_CANVAS, input: "x" }, "model", /not an embedding model/, "model_not_supported_on_route"],
    ["/v1/images/generations", { model: HAIKU, prompt: "x" }, "model", /not an image generation model/, "model_not_supported_on_route"],
    ["/v1/images/generations", { model: TITAN, prompt: "x" }, "model", /not an image generation model/, "model_not_supported_on_route"],
    ["/v1/embeddings", { model: TITAN, input: "x", top_k: 3 }, "top_k", /top_k/],
    ["/v1/images/generations", { model: SD35, prompt: "x", mask: "m" }, "mask", /mask/],
    ["/v1/embeddings", { model: TITAN, input: "x", dimensions: 384 }, "dimensions", /256|512|1024/],
    ["/v1/embeddings", { model: COHERE_EN, input: [{ text: "t", image: RED }] }, "input[0]", /two inputs/],
    ["/v1/embeddings", { model: TITAN, input: [RED] }, "input[0]", /text only/],
    ["/v1/images/generations", { model: TITAN_IMAGE, prompt: "x", size: "1000x1000" }, "size", /1000x1000/],
    ["/v1/images/generations", { model: NOVA_CANVAS, prompt: "x", n: 6 }, "n", /1 to 5/],
  ];
  for (const [route, body, param, message, code] of cases) {
    const client = sdk();
    const call = route === "/v1/embeddings" ? () => client.embeddings.create({ ...body, encoding_format: "float" }) : () => client.images.generate(body);
    const err = await refusal(call);
    assert.ok(err instanceof OpenAI.BadRequestError, `${JSON.stringify(body)}: ${err}`);
    assert.equal(err.param, param, `${JSON.stringify(body)}: ${err.message}`);
    assert.match(err.message, message);
    if (code) assert.equal(err.code, code);
    assertOpenAiError(JSON.parse(client.wire[0].text), { param });
  }
  assert.equal(gw.standin.requests().length, 0, "nothing reached the stand-in");
  // The refused request's log line.
  const id = tid("refused");
  await refusal(() => sdk().embeddings.create({ model: HAIKU, input: "x" }, traced(id)));
  const line = await lineOf(id);
  assert.equal(line.route, "embeddings");
  assert.equal(line.status, 400);
  assert.equal(line.usage, null);
  assert.equal(line.cost_usd, null);
});

test(
  "truncate (a Cohere / Nova field) sent to Titan is ignored like input_type, so one body goes through a fallback list of families",
  async () => {
    const plain = await post("/v1/embeddings", { model: TITAN, input: "x", truncate: "END", encoding_format: "float" });
    assert.equal(plain.status, 200, plain.text);
    assert.deepEqual(invokes(TITAN).map((r) => r.body), [{ inputText: "x" }]);
    gw.standin.reset();
    gw.standin.script({ match: { operation: "invoke", model: COHERE_EN }, status: 429, errorType: "ThrottlingException" });
    const config = { strategy: { mode: "fallback" }, targets: [demoTarget(COHERE_EN), demoTarget(TITAN)] };
    const res = await post("/v1/embeddings", { model: COHERE_EN, input: "x", input_type: "search_query", truncate: "END", encoding_format: "float" }, {
      "x-portkey-provider": null,
      "x-portkey-config": json(config),
    });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.headers.get("x-portkey-last-used-option-index"), "config.targets[1]");
  },
);

// ------------------------------------------------------------------ 7. portkey-ai SDK

test("portkey-ai SDK (Node): portkey.embeddings.create and portkey.images.generate with provider @demo", async () => {
  const portkey = new Portkey({ apiKey: gw.gatewayKey, baseURL: gw.url + "/v1", provider: "@demo", maxRetries: 0 });
  const texts = ["portkey one", "portkey two"];
  const emb = await portkey.embeddings.create({ model: COHERE_V4, input: texts, dimensions: 256, input_type: "search_query" });
  gw.record(emb);
  sameBodies(invokes(COHERE_V4), [{ texts, input_type: "search_query", output_dimension: 256 }]);
  assert.equal(emb.object, "list");
  assert.equal(emb.model, COHERE_V4);
  // portkey-ai (Node) posts the body as given: no encoding_format, so JSON floats come back.
  assert.deepEqual(emb.data.map((d) => d.embedding), texts.map((t) => embeddingFor(COHERE_V4, t, 256)));
  assert.deepEqual(emb.data.map((d) => d.index), [0, 1]);
  const tokens = texts.reduce((n, t) => n + tokenCountFor(t), 0);
  assert.deepEqual(emb.usage, { prompt_tokens: tokens, total_tokens: tokens });

  gw.standin.reset();
  const prompt = "a portkey postcard";
  const img = await portkey.images.generate({ model: SD35, prompt, n: 2, size: "1536x1024", seed: 100 });
  gw.record(img);
  sameBodies(invokes(SD35), [100, 101].map((seed) => ({ prompt, aspect_ratio: "3:2", seed })));
  assert.deepEqual(img.data.map((d) => pngInfo(d.b64_json)).map((p) => [p.width, p.height, p.text.seed, p.text.prompt]), [
    [1216, 832, "100", prompt],
    [1216, 832, "101", prompt],
  ]);
});

// ------------------------------------------------------------------ 8. limits

test("a key with tokens_per_day: embeddings usage (the stand-in's token counts) is recorded; the request after it crosses the budget is 412 budget_exhausted; a usd_per_month key pays Stability per image and refuses unpriced Nova Canvas", async () => {
  const key = `ek_media_tpd_${randomBytes(9).toString("hex")}`;
  const { kvKey, record } = gatewayKeyRecord(key, { name: "media-tpd", providers: ["demo"] });
  record.limits = { tokens_per_day: 50 };
  await gw.kv.put(kvKey, JSON.stringify(record));
  const client = new OpenAI({ apiKey: key, baseURL: gw.url + "/v1", defaultHeaders: { "x-portkey-provider": "@demo" }, maxRetries: 0, timeout: 20_000 });
  const usage = async () => {
    const res = await fetch(gw.url + "/v1/usage", { headers: { "x-portkey-api-key": key } });
    const u = await res.json();
    gw.bodies.push(JSON.stringify(u));
    return u;
  };
  const settled = async (tokens) => {
    const u = await waitFor(async () => {
      const v = await usage();
      return v.tokens_reserved === 0 && v.tokens_today === tokens ? v : null;
    }, 5000, 25);
    assert.ok(u, `usage never settled at ${tokens}: ${JSON.stringify(await usage())}`);
    return u;
  };
  const text = "t".repeat(120); // 30 tokens at the stand-in
  assert.equal(tokenCountFor(text), 30);
  await client.embeddings.create({ model: TITAN, input: text });
  let u = await settled(30);
  assert.equal(u.requests_today, 1);
  await client.embeddings.create({ model: COHERE_EN, input: [text] });
  u = await settled(60);
  assert.ok(Math.abs(u.usd_this_month - (embedUsd(30, 0.02) + embedUsd(30, 0.1))) < 1e-15, String(u.usd_this_month));
  const calls = gw.standin.requests().length;
  const err = await refusal(() => client.embeddings.create({ model: TITAN, input: "one more" }));
  assert.equal(err.status, 412);
  assert.equal(err.code, "budget_exhausted");
  assert.match(err.message, /tokens_per_day/);
  assert.equal(gw.standin.requests().length, calls, "the refused request reached nobody");

  // usd_per_month 0.1: SD3.5 at 0.08 per image: one image, then another (0.16 ≥ 0.1), then refused.
  const usdKey = `ek_media_usd_${randomBytes(9).toString("hex")}`;
  const k2 = gatewayKeyRecord(usdKey, { name: "media-usd", providers: ["demo"] });
  k2.record.limits = { usd_per_month: 0.1 };
  await gw.kv.put(k2.kvKey, JSON.stringify(k2.record));
  const c2 = new OpenAI({ apiKey: usdKey, baseURL: gw.url + "/v1", defaultHeaders: { "x-portkey-provider": "@demo" }, maxRetries: 0, timeout: 20_000 });
  const unpriced = await refusal(() => c2.images.generate({ model: NOVA_CANVAS, prompt: "unpriced" }));
  assert.equal(unpriced.status, 412);
  assert.equal(unpriced.code, "budget_unpriced_model");
  await c2.images.generate({ model: SD35, prompt: "priced" });
  const usd = async () => {
    const res = await fetch(gw.url + "/v1/usage", { headers: { "x-portkey-api-key": usdKey } });
    return res.json();
  };
  assert.ok(await waitFor(async () => {
    const v = await usd();
    return v.usd_reserved === 0 && Math.abs(v.usd_this_month - 0.08) < 1e-12;
  }, 5000, 25), JSON.stringify(await usd()));
  await c2.images.generate({ model: SD35, prompt: "priced again" });
  assert.ok(await waitFor(async () => {
    const v = await usd();
    return v.usd_reserved === 0 && Math.abs(v.usd_this_month - 0.16) < 1e-12;
  }, 5000, 25), JSON.stringify(await usd()));
  const over = await refusal(() => c2.images.generate({ model: SD35, prompt: "over budget" }));
  assert.equal(over.status, 412);
  assert.equal(over.code, "budget_exhausted");
  assert.match(over.message, /usd_per_month/);
});

// ------------------------------------------------------------------ final checks

test("no secret (AWS secrets, the OpenAI keys, the gateway key) in any log line or body, and no isolate failure", () => {
  assert.deepEqual(secretLeaks(gw, [gw.gatewayKey]), []);
  assert.deepEqual(isolateFailures(gw), []);
});
