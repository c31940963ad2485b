// Tests for the stand-in's embedding and image answers (media.mjs): Bedrock InvokeModel bodies signed with
// SigV4, and OpenAI's /v1/embeddings and /v1/images/generations. node --test standin/
import { test, before, after, beforeEach } from "node:test";
import assert from "node:assert/strict";
import zlib from "node:zlib";
import OpenAI from "openai";
import { startStandin } from "./server.mjs";
import { OPENAI_TEST_KEYS } from "./credentials.mjs";
import { send, invoke as invokeOn } from "./testkit.mjs";
import {
  embeddingFor, tokenCountFor, quantizeEmbedding, imageInputKey, pngInfo, makePng, seedFor, float32FromBase64,
  baseModelId, mediaModelOf, IMAGE_TOKEN_COUNT, STABILITY_SIZES, TITAN_IMAGE_SIZES, novaCanvasSizeError,
} from "./media.mjs";
import { OPENAI_EMBEDDINGS_OPERATION, OPENAI_IMAGES_OPERATION } from "./openai.mjs";

const TITAN_V2 = "amazon.titan-embed-text-v2:0";
const TITAN_MM = "amazon.titan-embed-image-v1";
const COHERE_V3 = "cohere.embed-english-v3";
const COHERE_V4 = "cohere.embed-v4:0";
const NOVA_MME = "amazon.nova-2-multimodal-embeddings-v1:0";
const NOVA_CANVAS = "amazon.nova-canvas-v1:0";
const TITAN_IMAGE = "amazon.titan-image-generator-v2:0";
const SD35 = "stability.sd3-5-large-v1:0";
const CORE = "stability.stable-image-core-v1:1";

let s;
before(async () => {
  s = await startStandin({ port: 0 });
});
after(async () => {
  await s.close();
});
beforeEach(() => s.reset());

const invoke = (model, body, opts) => invokeOn(s.port, model, body, opts);
const PNG_1X1 = makePng(1, 1, { rgb: [1, 2, 3] });
const PNG_B64 = PNG_1X1.toString("base64");
const PNG_URI = `data:image/png;base64,${PNG_B64}`;
const float32Exact = (v) => v.every((x) => Math.fround(x) === x);

/** A 400 ValidationException whose message matches `re`. */
function assertInvalid(r, re) {
  assert.equal(r.status, 400, JSON.stringify(r.json));
  assert.equal(r.errorType, "ValidationException");
  assert.match(r.json.message, re);
}

/** Every image row inflates to the expected size (1-bit palette rows). */
function assertPngPixels(buf) {
  const info = pngInfo(buf);
  const chunks = [];
  let off = 8;
  while (off < buf.length) {
    const len = buf.readUInt32BE(off);
    if (buf.toString("latin1", off + 4, off + 8) === "IDAT") chunks.push(buf.subarray(off + 8, off + 8 + len));
    off += 12 + len;
  }
  const raw = zlib.inflateSync(Buffer.concat(chunks));
  assert.equal(raw.length, info.height * (1 + Math.ceil(info.width / 8)));
  return info;
}

// ------------------------------------------------------------------ helpers and ids

test("media.mjs: model ids, embeddingFor determinism and float32 exactness, tokens", () => {
  assert.equal(baseModelId(`us.${TITAN_V2}`), TITAN_V2);
  assert.equal(baseModelId(`global.${COHERE_V4}`), COHERE_V4);
  assert.equal(baseModelId(`arn:aws:bedrock:us-east-1::foundation-model/${TITAN_V2}`), TITAN_V2);
  assert.equal(baseModelId(`arn:aws:bedrock:eu-west-1:123456789012:inference-profile/eu.${NOVA_CANVAS}`), NOVA_CANVAS);
  assert.equal(baseModelId("cohere.embed-v4"), COHERE_V4);
  assert.deepEqual(mediaModelOf(`apac.${SD35}`), { model: SD35, family: "stability" });
  assert.equal(mediaModelOf("anthropic.claude-3-haiku-20240307-v1:0"), null);

  const a = embeddingFor(TITAN_V2, "hello", 1024);
  assert.equal(a.length, 1024);
  assert.deepEqual(embeddingFor(TITAN_V2, "hello", 1024), a);
  assert.deepEqual(embeddingFor(TITAN_V2, "hello", 256), a.slice(0, 256), "a shorter vector is a prefix");
  assert.notDeepEqual(embeddingFor(TITAN_V2, "hello!", 256), a.slice(0, 256));
  assert.notDeepEqual(embeddingFor(COHERE_V3, "hello", 256), a.slice(0, 256));
  assert.ok(float32Exact(a));
  assert.deepEqual(Array.from(new Float32Array(a)), a, "a float32 round trip is exact");
  assert.ok(a.every((x) => x >= -0.5 && x < 0.5 && Number.isInteger(x * 256)));

  assert.equal(tokenCountFor("abcd"), 1);
  assert.equal(tokenCountFor("abcde"), 2);
  assert.equal(tokenCountFor(""), 1);
  assert.equal(tokenCountFor("é"), 1);

  const q = embeddingFor(COHERE_V3, "x", 16);
  assert.deepEqual(quantizeEmbedding(q, "int8"), q.map((f) => f * 256));
  assert.deepEqual(quantizeEmbedding(q, "uint8"), q.map((f) => f * 256 + 128));
  const bits = q.map((f) => (f >= 0 ? 1 : 0));
  assert.deepEqual(quantizeEmbedding(q, "bits"), bits);
  const packed = [parseInt(bits.slice(0, 8).join(""), 2), parseInt(bits.slice(8).join(""), 2)];
  assert.deepEqual(quantizeEmbedding(q, "ubinary"), packed);
  assert.deepEqual(quantizeEmbedding(q, "binary"), packed.map((b) => b - 128));
  assert.ok(seedFor("a dog") >= 1 && seedFor("a dog") <= 4294967294);
  assert.equal(seedFor("a dog"), seedFor("a dog"));
  assert.equal(novaCanvasSizeError(1024, 1024), null);
  assert.equal(TITAN_IMAGE_SIZES.length, 25);
});

test("pngInfo reads size and tEXt / iTXt chunks and rejects a bad CRC", () => {
  const png = makePng(33, 17, { rgb: [9, 8, 7], text: { prompt: "Ünïcode ✓ 日本", seed: 5, index: 0 } });
  const info = assertPngPixels(png);
  assert.equal(info.width, 33);
  assert.equal(info.height, 17);
  assert.deepEqual(info.text, { prompt: "Ünïcode ✓ 日本", seed: "5", index: "0" });
  assert.equal(pngInfo(png.toString("base64")).width, 33, "base64 accepted");
  const bad = Buffer.from(png);
  bad[bad.length - 20] ^= 0xff;
  assert.throws(() => pngInfo(bad), /CRC/);
  assert.throws(() => pngInfo(Buffer.from("not a png")), /signature/);
});

// ------------------------------------------------------------------ Titan Text Embeddings V2

test("Titan Text Embeddings V2: the answer, the token header and determinism", async () => {
  const r = await invoke(TITAN_V2, { inputText: "Hello, embeddings!" });
  assert.equal(r.status, 200);
  assert.deepEqual(Object.keys(r.json), ["embedding", "inputTextTokenCount", "embeddingsByType"]);
  assert.deepEqual(r.json.embedding, embeddingFor(TITAN_V2, "Hello, embeddings!", 1024));
  assert.equal(r.json.inputTextTokenCount, tokenCountFor("Hello, embeddings!"));
  assert.deepEqual(r.json.embeddingsByType, { float: r.json.embedding });
  assert.equal(r.headers["x-amzn-bedrock-input-token-count"], String(tokenCountFor("Hello, embeddings!")));
  assert.match(r.headers["x-amzn-bedrock-invocation-latency"], /^\d+$/);
  assert.match(r.headers["content-type"], /application\/json/);

  const again = await invoke(`us.${TITAN_V2}`, { inputText: "Hello, embeddings!" });
  assert.deepEqual(again.json.embedding, r.json.embedding, "same input, same vector (profile id stripped)");
  const arn = await invoke(`arn:aws:bedrock:us-east-1::foundation-model/${TITAN_V2}`, { inputText: "Hello, embeddings!" });
  assert.deepEqual(arn.json.embedding, r.json.embedding, "ARN stripped");

  const [rec] = s.requests();
  assert.equal(rec.operation, "invoke");
  assert.equal(rec.model, TITAN_V2);
  assert.deepEqual(rec.media, { model: TITAN_V2, family: "titan-embed-text-v2", inputTokens: tokenCountFor("Hello, embeddings!") });
});

test("Titan Text Embeddings V2: dimensions, normalize and embeddingTypes", async () => {
  const r = await invoke(TITAN_V2, { inputText: "x", dimensions: 256, normalize: true, embeddingTypes: ["binary", "float"] });
  assert.equal(r.status, 200);
  const v = embeddingFor(TITAN_V2, "x", 256);
  assert.deepEqual(r.json.embedding, v);
  assert.deepEqual(r.json.embeddingsByType.float, v);
  assert.deepEqual(r.json.embeddingsByType.binary, v.map((f) => (f >= 0 ? 1 : 0)));
  const binOnly = await invoke(TITAN_V2, { inputText: "x", dimensions: 512, embeddingTypes: ["binary"] });
  assert.deepEqual(Object.keys(binOnly.json.embeddingsByType), ["binary"]);
  assert.equal(binOnly.json.embedding.length, 512, "embedding is always the floats");
});

test("Titan Text Embeddings V2: validation (unknown, missing, empty, too long, bad dimension, bad type)", async () => {
  assertInvalid(await invoke(TITAN_V2, { inputText: "x", foo: 1 }), /^Malformed input request: #: extraneous key \[foo\] is not permitted, please reformat/);
  assertInvalid(await invoke(TITAN_V2, { dimensions: 256 }), /required key \[inputText\] not found/);
  assertInvalid(await invoke(TITAN_V2, { inputText: "" }), /#\/inputText: expected minLength: 1, actual: 0/);
  assertInvalid(await invoke(TITAN_V2, { inputText: "a".repeat(50001) }), /expected maxLength: 50000/);
  assertInvalid(await invoke(TITAN_V2, { inputText: "x", dimensions: 384 }), /#\/dimensions: 384 is not a valid enum value/);
  assertInvalid(await invoke(TITAN_V2, { inputText: "x", dimensions: "256" }), /#\/dimensions: expected type: Integer, found: String/);
  assertInvalid(await invoke(TITAN_V2, { inputText: "x", embeddingTypes: ["int8"] }), /#\/embeddingTypes\/0: int8 is not a valid enum value/);
  assertInvalid(await invoke(TITAN_V2, { inputText: 5 }), /expected type: String, found: Integer/);
  assertInvalid(await invoke(TITAN_V2, "not json"), /Malformed input request/);
  assertInvalid(await invoke(TITAN_V2, ""), /Malformed input request/);
  const rec = s.requests()[0];
  assert.match(rec.media.validationError, /extraneous key \[foo\]/);
});

// ------------------------------------------------------------------ Titan Multimodal Embeddings G1

test("Titan Multimodal Embeddings G1: text, image, both; embeddingConfig", async () => {
  const t = await invoke(TITAN_MM, { inputText: "a red square" });
  assert.equal(t.status, 200);
  assert.deepEqual(t.json, { embedding: embeddingFor(TITAN_MM, "a red square", 1024), inputTextTokenCount: tokenCountFor("a red square"), message: null });
  assert.equal(t.headers["x-amzn-bedrock-input-token-count"], String(tokenCountFor("a red square")));

  const i = await invoke(TITAN_MM, { inputImage: PNG_B64, embeddingConfig: { outputEmbeddingLength: 384 } });
  assert.equal(i.status, 200);
  assert.deepEqual(i.json.embedding, embeddingFor(TITAN_MM, imageInputKey(PNG_1X1), 384));
  assert.equal(i.json.inputTextTokenCount, 0);
  assert.equal(i.headers["x-amzn-bedrock-input-token-count"], String(IMAGE_TOKEN_COUNT));

  const both = await invoke(TITAN_MM, { inputText: "a red square", inputImage: PNG_B64, embeddingConfig: { outputEmbeddingLength: 256 } });
  assert.equal(both.json.embedding.length, 256);
  assert.equal(both.headers["x-amzn-bedrock-input-token-count"], String(tokenCountFor("a red square") + IMAGE_TOKEN_COUNT));
});

test("Titan Multimodal Embeddings G1: validation", async () => {
  assertInvalid(await invoke(TITAN_MM, {}), /at least one of \[inputText, inputImage\]/);
  assertInvalid(await invoke(TITAN_MM, { inputImage: PNG_URI }), /without a data: URI prefix/);
  assertInvalid(await invoke(TITAN_MM, { inputImage: "not base64!!" }), /invalid base64/);
  assertInvalid(await invoke(TITAN_MM, { inputText: "x", embeddingConfig: { outputEmbeddingLength: 512 } }), /outputEmbeddingLength: 512 is not a valid enum value/);
  assertInvalid(await invoke(TITAN_MM, { inputText: "x", dimensions: 256 }), /extraneous key \[dimensions\]/);
});

// ------------------------------------------------------------------ Cohere Embed v3 / v4

test("Cohere Embed v3: embeddings_floats, then embeddings_by_type", async () => {
  const texts = ["first text", "second, longer text"];
  const r = await invoke(COHERE_V3, { texts, input_type: "search_document", truncate: "END" });
  assert.equal(r.status, 200);
  assert.match(r.json.id, /^[0-9a-f-]{36}$/);
  assert.equal(r.json.response_type, "embeddings_floats");
  assert.deepEqual(r.json.embeddings, texts.map((t) => embeddingFor(COHERE_V3, t, 1024)));
  assert.deepEqual(r.json.texts, texts);
  assert.equal(r.headers["x-amzn-bedrock-input-token-count"], String(tokenCountFor(texts[0]) + tokenCountFor(texts[1])));

  const t = await invoke(COHERE_V3, { texts, input_type: "search_query", embedding_types: ["float", "int8", "uint8", "binary", "ubinary"] });
  assert.equal(t.json.response_type, "embeddings_by_type");
  const f = texts.map((x) => embeddingFor(COHERE_V3, x, 1024));
  assert.deepEqual(t.json.embeddings.float, f);
  assert.deepEqual(t.json.embeddings.int8, f.map((v) => quantizeEmbedding(v, "int8")));
  assert.deepEqual(t.json.embeddings.uint8, f.map((v) => quantizeEmbedding(v, "uint8")));
  assert.equal(t.json.embeddings.binary[0].length, 128);
  assert.deepEqual(t.json.embeddings.ubinary, f.map((v) => quantizeEmbedding(v, "ubinary")));
  assert.ok(t.json.embeddings.int8[0].every((x) => Number.isInteger(x) && x >= -128 && x <= 127));

  const m = await invoke("cohere.embed-multilingual-v3", { texts: ["x"], input_type: "clustering" });
  assert.deepEqual(m.json.embeddings[0], embeddingFor("cohere.embed-multilingual-v3", "x", 1024));
});

test("Cohere Embed v3: an image (one data URI, input_type image)", async () => {
  const r = await invoke(COHERE_V3, { images: [PNG_URI], input_type: "image" });
  assert.equal(r.status, 200);
  assert.deepEqual(r.json.embeddings, [embeddingFor(COHERE_V3, imageInputKey(PNG_1X1), 1024)]);
  assert.deepEqual(r.json.texts, []);
  assert.deepEqual(r.json.images, [{ width: 1, height: 1, format: "png", bit_depth: 8 }]);
  assert.equal(r.headers["x-amzn-bedrock-input-token-count"], String(IMAGE_TOKEN_COUNT));
});

test("Cohere Embed v3: validation (too many texts, texts and images, missing input_type, ...)", async () => {
  const many = Array.from({ length: 97 }, (_, i) => `t${i}`);
  assertInvalid(await invoke(COHERE_V3, { texts: many, input_type: "search_document" }), /#\/texts: expected maximum item count: 96, found: 97/);
  assert.equal((await invoke(COHERE_V3, { texts: many.slice(0, 96), input_type: "search_document" })).status, 200);
  assertInvalid(await invoke(COHERE_V3, { texts: ["x"], images: [PNG_URI], input_type: "image" }), /only one of 'texts' or 'images'/);
  assertInvalid(await invoke(COHERE_V3, { texts: ["x"] }), /required key \[input_type\] not found/);
  assertInvalid(await invoke(COHERE_V3, { texts: ["x"], input_type: "query" }), /#\/input_type: query is not a valid enum value/);
  assertInvalid(await invoke(COHERE_V3, { input_type: "search_query" }), /one of 'texts' or 'images' must be provided/);
  assertInvalid(await invoke(COHERE_V3, { texts: [], input_type: "search_query" }), /expected minimum item count: 1/);
  assertInvalid(await invoke(COHERE_V3, { texts: ["a".repeat(2049)], input_type: "search_query" }), /#\/texts\/0: expected maxLength: 2048/);
  assertInvalid(await invoke(COHERE_V3, { images: [PNG_URI, PNG_URI], input_type: "image" }), /#\/images: expected maximum item count: 1/);
  assertInvalid(await invoke(COHERE_V3, { images: [PNG_URI], input_type: "search_query" }), /'images' requires input_type 'image'/);
  assertInvalid(await invoke(COHERE_V3, { images: [PNG_B64], input_type: "image" }), /valid data URI/);
  assertInvalid(await invoke(COHERE_V3, { images: ["data:image/gif;base64,R0lGOD"], input_type: "image" }), /unsupported image type image\/gif/);
  assertInvalid(await invoke(COHERE_V3, { texts: ["x"], input_type: "search_query", truncate: "LEFT" }), /#\/truncate: LEFT is not a valid enum value/);
  assertInvalid(await invoke(COHERE_V3, { texts: ["x"], input_type: "search_query", embedding_types: ["base64"] }), /embedding_types\/0: base64 is not a valid enum value/);
  assertInvalid(await invoke(COHERE_V3, { texts: ["x"], input_type: "search_query", output_dimension: 256 }), /extraneous key \[output_dimension\]/);
});

test("Cohere Embed v4: embeddings_by_type always, output_dimension, images, inputs", async () => {
  const r = await invoke(COHERE_V4, { texts: ["a", "b"], input_type: "search_document" });
  assert.equal(r.status, 200);
  assert.equal(r.json.response_type, "embeddings_by_type");
  assert.deepEqual(Object.keys(r.json.embeddings), ["float"]);
  assert.deepEqual(r.json.embeddings.float, ["a", "b"].map((t) => embeddingFor(COHERE_V4, t, 1536)));

  const d = await invoke(`us.${COHERE_V4}`, { texts: ["a"], input_type: "classification", output_dimension: 256, embedding_types: ["int8", "float"], truncate: "RIGHT", max_tokens: 1000 });
  assert.deepEqual(d.json.embeddings.float, [embeddingFor(COHERE_V4, "a", 256)]);
  assert.equal(d.json.embeddings.int8[0].length, 256);
  const alias = await invoke("cohere.embed-v4", { texts: ["a"], input_type: "classification", output_dimension: 256 });
  assert.deepEqual(alias.json.embeddings.float, d.json.embeddings.float, "cohere.embed-v4 is the same model");

  const imgs = await invoke(COHERE_V4, { images: [PNG_URI, PNG_URI, PNG_URI], input_type: "search_document" });
  assert.equal(imgs.status, 200);
  assert.equal(imgs.json.embeddings.float.length, 3);
  assert.equal(imgs.headers["x-amzn-bedrock-input-token-count"], String(3 * IMAGE_TOKEN_COUNT));

  const mixed = await invoke(COHERE_V4, {
    inputs: [{ content: [{ type: "text", text: "page 1" }, { type: "image_url", image_url: PNG_URI }] }, { content: [{ type: "image_url", image_url: { url: PNG_URI } }] }],
    input_type: "search_document",
  });
  assert.equal(mixed.status, 200, JSON.stringify(mixed.json));
  assert.deepEqual(mixed.json.embeddings.float[0], embeddingFor(COHERE_V4, `inputs:page 1\n${imageInputKey(PNG_1X1)}`, 1536));
  assert.equal(mixed.headers["x-amzn-bedrock-input-token-count"], String(tokenCountFor("page 1") + 2 * IMAGE_TOKEN_COUNT));
});

test("Cohere Embed v4: validation", async () => {
  assertInvalid(await invoke(COHERE_V4, { texts: ["x"], input_type: "search_query", output_dimension: 768 }), /#\/output_dimension: 768 is not a valid enum value/);
  assertInvalid(await invoke(COHERE_V4, { images: [PNG_URI], input_type: "image" }), /#\/input_type: image is not a valid enum value/);
  assertInvalid(await invoke(COHERE_V4, { texts: ["x"], input_type: "search_query", truncate: "END" }), /#\/truncate: END is not a valid enum value/);
  assertInvalid(await invoke(COHERE_V4, { texts: ["x"], images: [PNG_URI], input_type: "search_query" }), /only one of 'texts', 'images' or 'inputs'/);
  assertInvalid(await invoke(COHERE_V4, { images: Array(97).fill(PNG_URI), input_type: "search_query" }), /#\/images: expected maximum item count: 96/);
  assertInvalid(await invoke(COHERE_V4, { texts: ["x"], input_type: "search_query", max_tokens: 0 }), /#\/max_tokens: 0 is not greater or equal to 1/);
});

// ------------------------------------------------------------------ Nova Multimodal Embeddings

const novaText = (extra = {}, text = { truncationMode: "END", value: "nova text" }) => ({
  taskType: "SINGLE_EMBEDDING",
  singleEmbeddingParams: { embeddingPurpose: "GENERIC_INDEX", text, ...extra },
});

test("Nova Multimodal Embeddings: text (default 3072) and image", async () => {
  const r = await invoke(NOVA_MME, { schemaVersion: "nova-multimodal-embed-v1", ...novaText() });
  assert.equal(r.status, 200);
  assert.deepEqual(r.json, { embeddings: [{ embeddingType: "TEXT", embedding: embeddingFor(NOVA_MME, "nova text", 3072) }] });
  assert.equal(r.headers["x-amzn-bedrock-input-token-count"], String(tokenCountFor("nova text")));

  const d = await invoke(`us.${NOVA_MME}`, novaText({ embeddingDimension: 384 }));
  assert.deepEqual(d.json.embeddings[0].embedding, embeddingFor(NOVA_MME, "nova text", 384));

  const img = await invoke(NOVA_MME, {
    taskType: "SINGLE_EMBEDDING",
    singleEmbeddingParams: { embeddingPurpose: "IMAGE_RETRIEVAL", embeddingDimension: 256, image: { format: "png", detailLevel: "STANDARD_IMAGE", source: { bytes: PNG_B64 } } },
  });
  assert.equal(img.status, 200, JSON.stringify(img.json));
  assert.deepEqual(img.json.embeddings, [{ embeddingType: "IMAGE", embedding: embeddingFor(NOVA_MME, imageInputKey(PNG_1X1), 256) }]);
  assert.equal(img.headers["x-amzn-bedrock-input-token-count"], String(IMAGE_TOKEN_COUNT));
});

test("Nova Multimodal Embeddings: validation", async () => {
  assertInvalid(await invoke(NOVA_MME, { taskType: "SINGLE_EMBEDDING", singleEmbeddingParams: { text: { truncationMode: "END", value: "x" } } }), /required key \[embeddingPurpose\] not found/);
  assertInvalid(await invoke(NOVA_MME, novaText({ embeddingDimension: 512 })), /embeddingDimension: 512 is not a valid enum value/);
  assertInvalid(await invoke(NOVA_MME, novaText({ image: { format: "png", source: { bytes: PNG_B64 } } })), /exactly one of text, image, audio or video/);
  assertInvalid(await invoke(NOVA_MME, novaText({}, { value: "x" })), /required key \[truncationMode\] not found/);
  assertInvalid(await invoke(NOVA_MME, { ...novaText(), taskType: "SEGMENTED_EMBEDDING" }), /must be SINGLE_EMBEDDING/);
  assertInvalid(await invoke(NOVA_MME, { ...novaText(), schemaVersion: "v2" }), /#\/schemaVersion: v2 is not a valid enum value/);
  assertInvalid(await invoke(NOVA_MME, { ...novaText(), inputText: "x" }), /extraneous key \[inputText\]/);
  assertInvalid(await invoke(NOVA_MME, novaText({ embeddingPurpose: "SEARCH" })), /embeddingPurpose: SEARCH is not a valid enum value/);
});

// ------------------------------------------------------------------ Nova Canvas / Titan Image Generator

const textImage = (text, config, params = {}) => ({ taskType: "TEXT_IMAGE", textToImageParams: { text, ...params }, ...(config ? { imageGenerationConfig: config } : {}) });

test("Nova Canvas: n PNGs of the requested size with prompt, seed, index and model", async () => {
  const r = await invoke(NOVA_CANVAS, textImage("a lighthouse", { numberOfImages: 3, width: 512, height: 768, seed: 7, quality: "premium", cfgScale: 6.5 }, { negativeText: "fog", style: "PHOTOREALISM" }));
  assert.equal(r.status, 200);
  assert.deepEqual(Object.keys(r.json), ["images"], "no error key on success");
  assert.equal(r.json.images.length, 3);
  r.json.images.forEach((b64, i) => {
    const info = assertPngPixels(Buffer.from(b64, "base64"));
    assert.equal(info.width, 512);
    assert.equal(info.height, 768);
    assert.equal(info.text.prompt, "a lighthouse");
    assert.equal(info.text.seed, "7");
    assert.equal(info.text.index, String(i));
    assert.equal(info.text.model, NOVA_CANVAS);
    assert.equal(info.text.style, "PHOTOREALISM");
  });
  assert.notEqual(r.json.images[0], r.json.images[1], "each image differs (colour, index)");
  assert.equal(r.headers["x-amzn-bedrock-input-token-count"], undefined);
  assert.match(r.headers["x-amzn-bedrock-invocation-latency"], /^\d+$/);
  const again = await invoke(`us.${NOVA_CANVAS}`, textImage("a lighthouse", { numberOfImages: 3, width: 512, height: 768, seed: 7, quality: "premium", cfgScale: 6.5 }, { negativeText: "fog", style: "PHOTOREALISM" }));
  assert.deepEqual(again.json.images.map((x) => pngInfo(x).text.index), ["0", "1", "2"]);

  const d = await invoke(NOVA_CANVAS, textImage("default size"));
  const info = pngInfo(d.json.images[0]);
  assert.deepEqual([info.width, info.height, info.text.seed], [1024, 1024, "12"]);
  assert.equal(s.requests()[0].media.imageCount, 3);
});

test("five 1024×1024 images take well under a second", async () => {
  const t0 = Date.now();
  const r = await invoke(NOVA_CANVAS, textImage("fast", { numberOfImages: 5, width: 1024, height: 1024 }));
  assert.equal(r.status, 200);
  assert.equal(r.json.images.length, 5);
  assert.ok(Date.now() - t0 < 1000, `took ${Date.now() - t0} ms`);
});

test("Nova Canvas: size and field validation", async () => {
  assertInvalid(await invoke(NOVA_CANVAS, textImage("x", { width: 1000, height: 1024 })), /divisible by 16/);
  assertInvalid(await invoke(NOVA_CANVAS, textImage("x", { width: 304, height: 1024 })), /between 320 and 4096/);
  assertInvalid(await invoke(NOVA_CANVAS, textImage("x", { width: 4112, height: 1024 })), /between 320 and 4096/);
  assertInvalid(await invoke(NOVA_CANVAS, textImage("x", { width: 2048, height: 320 })), /aspect ratio must be between 1:4 and 4:1/);
  assertInvalid(await invoke(NOVA_CANVAS, textImage("x", { width: 4096, height: 2048 })), /4,194,304/);
  assert.equal((await invoke(NOVA_CANVAS, textImage("x", { width: 2048, height: 2048 }))).status, 200);
  assert.equal((await invoke(NOVA_CANVAS, textImage("x", { width: 1280, height: 320 }))).status, 200, "4:1 is allowed");
  assertInvalid(await invoke(NOVA_CANVAS, textImage("x", { numberOfImages: 6 })), /numberOfImages: 6 is not less or equal to 5/);
  assertInvalid(await invoke(NOVA_CANVAS, textImage("x", { seed: 858993460 })), /seed: 858993460 is not less or equal to 858993459/);
  assertInvalid(await invoke(NOVA_CANVAS, textImage("x", { cfgScale: 11 })), /cfgScale: 11 is not less or equal to 10/);
  assertInvalid(await invoke(NOVA_CANVAS, textImage("x", { quality: "hd" })), /quality: hd is not a valid enum value/);
  assertInvalid(await invoke(NOVA_CANVAS, textImage("a".repeat(1025))), /text: expected maxLength: 1024/);
  assertInvalid(await invoke(NOVA_CANVAS, textImage("")), /text: expected minLength: 1/);
  assertInvalid(await invoke(NOVA_CANVAS, textImage("x", null, { style: "OIL" })), /style: OIL is not a valid enum value/);
  assertInvalid(await invoke(NOVA_CANVAS, { textToImageParams: { text: "x" } }), /required key \[taskType\] not found/);
  assertInvalid(await invoke(NOVA_CANVAS, { taskType: "TEXT_IMAGE" }), /required key \[textToImageParams\] not found/);
  assertInvalid(await invoke(NOVA_CANVAS, { taskType: "INPAINTING", inPaintingParams: {} }), /extraneous key \[inPaintingParams\]/);
  assertInvalid(await invoke(NOVA_CANVAS, { taskType: "IMAGE_VARIATION" }), /not supported by the stand-in/);
  assertInvalid(await invoke(NOVA_CANVAS, { ...textImage("x"), prompt: "x" }), /extraneous key \[prompt\]/);
});

test("Titan Image Generator v2: documented sizes only, 512-character text, seed range", async () => {
  const r = await invoke(TITAN_IMAGE, textImage("a fox", { numberOfImages: 2, width: 1173, height: 640, seed: 2147483646 }));
  assert.equal(r.status, 200);
  const info = pngInfo(r.json.images[1]);
  assert.deepEqual([info.width, info.height, info.text.index, info.text.seed, info.text.model], [1173, 640, "1", "2147483646", TITAN_IMAGE]);
  assert.equal(pngInfo((await invoke(TITAN_IMAGE, textImage("a fox"))).json.images[0]).text.seed, "42", "Titan's default seed");
  assertInvalid(await invoke(TITAN_IMAGE, textImage("x", { width: 1024, height: 768 })), /image size 1024x768 is not supported/);
  assertInvalid(await invoke(TITAN_IMAGE, textImage("x", { width: 2048, height: 2048 })), /not supported/);
  assertInvalid(await invoke(TITAN_IMAGE, textImage("a".repeat(513))), /text: expected maxLength: 512/);
  assertInvalid(await invoke(TITAN_IMAGE, textImage("x", { seed: 2147483647 })), /seed: 2147483647 is not less or equal to 2147483646/);
  assertInvalid(await invoke(TITAN_IMAGE, textImage("x", null, { style: "PHOTOREALISM" })), /extraneous key \[style\]/);
});

// ------------------------------------------------------------------ Stability

test("Stability SD3.5 Large / Stable Image Core / Ultra: one image, seeds, finish_reasons", async () => {
  const r = await invoke(SD35, { prompt: "a dog on a skateboard", aspect_ratio: "16:9", seed: 1234, negative_prompt: "cats", output_format: "png", mode: "text-to-image" });
  assert.equal(r.status, 200);
  assert.deepEqual(Object.keys(r.json), ["seeds", "finish_reasons", "images"]);
  assert.deepEqual(r.json.seeds, [1234]);
  assert.deepEqual(r.json.finish_reasons, [null]);
  const info = pngInfo(r.json.images[0]);
  assert.deepEqual([info.width, info.height], STABILITY_SIZES["16:9"]);
  assert.deepEqual([info.text.prompt, info.text.seed, info.text.index, info.text.model], ["a dog on a skateboard", "1234", "0", SD35]);

  const dflt = await invoke(CORE, { prompt: "a dog on a skateboard" });
  assert.deepEqual(dflt.json.seeds, [seedFor("a dog on a skateboard")], "seed absent → derived from the prompt");
  assert.deepEqual([pngInfo(dflt.json.images[0]).width, pngInfo(dflt.json.images[0]).height], [1024, 1024]);
  const zero = await invoke("stability.stable-image-ultra-v1:1", { prompt: "a dog on a skateboard", seed: 0, aspect_ratio: "9:21", output_format: "jpeg" });
  assert.deepEqual(zero.json.seeds, [seedFor("a dog on a skateboard")], "seed 0 → derived");
  const z = pngInfo(zero.json.images[0]);
  assert.deepEqual([z.width, z.height, z.text.output_format], [640, 1536, "jpeg"]);
  for (const m of ["stability.stable-image-core-v1:0", "stability.stable-image-ultra-v1:0", `us.${SD35}`]) {
    assert.equal((await invoke(m, { prompt: "p" })).status, 200, m);
  }
});

test("Stability: validation (aspect ratio, prompt, seed, unknown field, image-to-image)", async () => {
  assertInvalid(await invoke(SD35, { prompt: "x", aspect_ratio: "4:3" }), /#\/aspect_ratio: 4:3 is not a valid enum value/);
  assertInvalid(await invoke(SD35, { aspect_ratio: "1:1" }), /required key \[prompt\] not found/);
  assertInvalid(await invoke(SD35, { prompt: "a".repeat(10001) }), /prompt: expected maxLength: 10000/);
  assertInvalid(await invoke(SD35, { prompt: "x", seed: 4294967295 }), /seed: 4294967295 is not less or equal to 4294967294/);
  assertInvalid(await invoke(SD35, { prompt: "x", output_format: "webp" }), /output_format: webp is not a valid enum value/);
  assertInvalid(await invoke(SD35, { prompt: "x", cfg_scale: 7 }), /extraneous key \[cfg_scale\]/);
  assertInvalid(await invoke(SD35, { prompt: "x", mode: "image-to-image", image: PNG_B64, strength: 0.5 }), /image-to-image .* not supported by the stand-in/);
  assertInvalid(await invoke(CORE, { prompt: "x", mode: "image-to-image" }), /#\/mode: image-to-image is not a valid enum value/);
  assertInvalid(await invoke(CORE, { prompt: "x", image: PNG_B64 }), /extraneous key \[image\]/);
  assertInvalid(await invoke(CORE, { text_prompts: [{ text: "x" }] }), /extraneous key \[text_prompts\]/);
});

// ------------------------------------------------------------------ scripts, other operations

test("scripts: errors, json, finishReason, delay, drop and raw for media models", async () => {
  s.script({ match: { operation: "invoke", model: TITAN_V2 }, errorType: "ThrottlingException", message: "Too many requests, please wait before trying again." });
  const t = await invoke(TITAN_V2, { inputText: "x" });
  assert.equal(t.status, 429);
  assert.equal(t.errorType, "ThrottlingException");
  assert.equal(t.json.message, "Too many requests, please wait before trying again.");
  assert.equal(s.requests()[0].scripted, true);

  s.script({ match: { operation: "invoke", model: COHERE_V3 }, status: 500 });
  assert.equal((await invoke(COHERE_V3, { texts: ["x"], input_type: "search_query" })).errorType, "InternalServerException");

  s.script({ match: { operation: "invoke", model: SD35 }, json: { seeds: [5], finish_reasons: ["Filter reason: prompt"], images: [] } });
  const filtered = await invoke(SD35, { prompt: "something filtered" });
  assert.equal(filtered.status, 200);
  assert.deepEqual(filtered.json, { seeds: [5], finish_reasons: ["Filter reason: prompt"], images: [] });

  s.script({ match: { operation: "invoke", model: CORE }, finishReason: "Filter reason: output image" });
  const short = await invoke(CORE, { prompt: "p" });
  assert.deepEqual(short.json, { finish_reasons: ["Filter reason: output image"] }, "the documented filtered answer");

  s.script({ match: { operation: "invoke", model: NOVA_CANVAS }, errorType: "ValidationException", message: "This request has been blocked by our content filters." });
  assertInvalid(await invoke(NOVA_CANVAS, textImage("x")), /blocked by our content filters/);

  s.script({ match: { operation: "invoke", model: NOVA_MME }, delayMs: 150 });
  const t0 = Date.now();
  assert.equal((await invoke(NOVA_MME, novaText())).status, 200);
  assert.ok(Date.now() - t0 >= 140);

  s.script({ match: { operation: "invoke", model: TITAN_V2 }, dropBeforeHeaders: true });
  const dropped = await invoke(TITAN_V2, { inputText: "x" });
  assert.equal(dropped.status, 0);
  assert.ok(dropped.error);

  s.script({ match: { operation: "invoke", model: TITAN_MM }, raw: true, status: 503, reason: "Slow Down", errorType: "ServiceUnavailableException", json: { message: "later" } });
  const raw = await invoke(TITAN_MM, { inputText: "x" });
  assert.equal(raw.status, 503);
  assert.deepEqual(raw.json, { message: "later" });

  s.script({ match: { operation: "invoke", model: TITAN_V2 }, headers: { "x-amzn-bedrock-input-token-count": "999" } });
  assert.equal((await invoke(TITAN_V2, { inputText: "x" })).headers["x-amzn-bedrock-input-token-count"], "999");
  assert.equal(s.pending().length, 0);
});

test("other operations and models: Claude and unknown ids keep the Anthropic answer; Converse / streaming refused", async () => {
  const claude = await invoke("anthropic.claude-3-haiku-20240307-v1:0", { anthropic_version: "bedrock-2023-05-31", max_tokens: 10, messages: [{ role: "user", content: "hi" }] });
  assert.equal(claude.json.type, "message");
  const unknown = await invoke("meta.llama3-8b-instruct-v1:0", { prompt: "hi" });
  assert.equal(unknown.json.type, "message");

  assertInvalid(await invoke(TITAN_V2, { messages: [{ role: "user", content: [{ text: "x" }] }] }, { operation: "converse" }), /doesn't support the model/);
  assertInvalid(await invoke(NOVA_CANVAS, { inputText: "x" }, { operation: "invoke-with-response-stream" }), /unsupported for streaming/);
});

test("an application inference profile mapped to a media model answers as that model", async () => {
  const arn = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/emb123";
  s.setInferenceProfile(arn, { modelArn: `arn:aws:bedrock:us-east-1::foundation-model/${TITAN_V2}` });
  const r = await invoke(arn, { inputText: "via a profile" });
  assert.equal(r.status, 200);
  assert.deepEqual(r.json.embedding, embeddingFor(TITAN_V2, "via a profile", 1024));
});

// ------------------------------------------------------------------ OpenAI /v1/embeddings and /v1/images/generations

function post(path, body, { key = OPENAI_TEST_KEYS.valid } = {}) {
  const raw = typeof body === "string" ? body : JSON.stringify(body);
  return send(s.port, { path, headers: { "content-type": "application/json", ...(key ? { authorization: `Bearer ${key}` } : {}) }, body: raw }).then((r) => ({
    ...r,
    json: (() => {
      try {
        return JSON.parse(r.body.toString("utf8"));
      } catch {
        return undefined;
      }
    })(),
  }));
}
const client = () => new OpenAI({ apiKey: OPENAI_TEST_KEYS.valid, baseURL: s.openaiBaseURL, maxRetries: 0 });

test("OpenAI /v1/embeddings: float and base64 answers, usage, records", async () => {
  const r = await post("/v1/embeddings", { model: "text-embedding-3-small", input: ["hello", "world!"], encoding_format: "float" });
  assert.equal(r.status, 200);
  assert.equal(r.json.object, "list");
  assert.equal(r.json.model, "text-embedding-3-small");
  assert.deepEqual(r.json.data.map((d) => [d.object, d.index]), [["embedding", 0], ["embedding", 1]]);
  assert.deepEqual(r.json.data[1].embedding, embeddingFor("openai:text-embedding-3-small", "world!", 1536));
  assert.deepEqual(r.json.usage, { prompt_tokens: tokenCountFor("hello") + tokenCountFor("world!"), total_tokens: tokenCountFor("hello") + tokenCountFor("world!") });
  assert.ok(r.headers["x-request-id"]);

  const b = await post("/v1/embeddings", { model: "text-embedding-3-large", input: "hello", encoding_format: "base64", dimensions: 256, user: "u1" });
  assert.equal(typeof b.json.data[0].embedding, "string");
  assert.deepEqual(float32FromBase64(b.json.data[0].embedding), embeddingFor("openai:text-embedding-3-large", "hello", 256), "exact float32 round trip");

  const tokens = await post("/v1/embeddings", { model: "text-embedding-3-small", input: [[1, 2, 3], [4, 5]] });
  assert.equal(tokens.status, 200);
  assert.equal(tokens.json.usage.prompt_tokens, 5);
  assert.deepEqual(tokens.json.data[0].embedding, embeddingFor("openai:text-embedding-3-small", "tokens:1,2,3", 1536));

  const sdk = await client().embeddings.create({ model: "text-embedding-3-small", input: "hello" });
  assert.deepEqual(Array.from(sdk.data[0].embedding), embeddingFor("openai:text-embedding-3-small", "hello", 1536), "the SDK's default base64 decodes to the same floats");

  const recs = s.requests().filter((x) => x.operation === OPENAI_EMBEDDINGS_OPERATION);
  assert.equal(recs.length, 4);
  assert.equal(recs[0].model, "text-embedding-3-small");
  assert.deepEqual(recs[0].openai.embeddings, { inputs: 2, dimensions: 1536, encodingFormat: "float" });
  assert.equal(recs[0].headers.authorization, "Bearer sk-sta***");
  assert.equal(s.counters.byOperation[OPENAI_EMBEDDINGS_OPERATION], 4);
});

test("OpenAI /v1/embeddings: validation, auth and scripts", async () => {
  const cases = [
    [{ input: "x" }, /you must provide a model parameter/],
    [{ model: "text-embedding-3-small" }, /Missing required parameter: 'input'/],
    [{ model: "text-embedding-3-small", input: "" }, /'\$\.input' is invalid/],
    [{ model: "text-embedding-3-small", input: [] }, /'\$\.input' is invalid/],
    [{ model: "text-embedding-3-small", input: Array(2049).fill("x") }, /'\$\.input' is invalid/],
    [{ model: "text-embedding-3-small", input: ["x", 1] }, /'\$\.input' is invalid/],
    [{ model: "text-embedding-3-small", input: "x", encoding_format: "int8" }, /Invalid value: 'int8'. Supported values are: 'float' and 'base64'/],
    [{ model: "text-embedding-3-small", input: "x", dimensions: 0 }, /integer below minimum value/],
    [{ model: "text-embedding-3-small", input: "x", dimensions: "256" }, /Invalid type for 'dimensions'/],
    [{ model: "text-embedding-ada-002", input: "x", dimensions: 256 }, /does not support specifying dimensions/],
    [{ model: "text-embedding-3-small", input: "x", inputText: "x" }, /Unrecognized request argument supplied: inputText/],
  ];
  for (const [body, re] of cases) {
    const r = await post("/v1/embeddings", body);
    assert.equal(r.status, 400, JSON.stringify(body).slice(0, 80));
    assert.equal(r.json.error.type, "invalid_request_error");
    assert.match(r.json.error.message, re);
  }
  assert.equal((await post("/v1/embeddings", "{bad json")).status, 400);
  const noKey = await post("/v1/embeddings", { model: "m", input: "x" }, { key: null });
  assert.equal(noKey.status, 401);
  const wrongKey = await post("/v1/embeddings", { model: "m", input: "x" }, { key: "sk-wrong-key-123456" });
  assert.equal(wrongKey.json.error.code, "invalid_api_key");

  s.script({ match: { operation: OPENAI_EMBEDDINGS_OPERATION, model: "text-embedding-3-small" }, status: 429 });
  const limited = await post("/v1/embeddings", { model: "text-embedding-3-small", input: "x" });
  assert.equal(limited.status, 429);
  assert.equal(limited.json.error.code, "rate_limit_exceeded");
  assert.equal(limited.headers["retry-after"], "1");
  s.script({ match: { provider: "openai" }, json: { object: "list", data: [], model: "m", usage: { prompt_tokens: 0, total_tokens: 0 } } });
  assert.deepEqual((await post("/v1/embeddings", { model: "m", input: "x" })).json.data, []);
  await assert.rejects(
    (async () => {
      s.script({ match: { operation: OPENAI_EMBEDDINGS_OPERATION }, status: 500 });
      await client().embeddings.create({ model: "text-embedding-3-small", input: "x" });
    })(),
    (e) => e.status === 500,
  );
});

test("OpenAI /v1/images/generations: b64_json PNGs, url served by the stand-in, gpt-image usage", async () => {
  const r = await post("/v1/images/generations", { model: "dall-e-2", prompt: "a red fox", n: 2, size: "256x256", response_format: "b64_json" });
  assert.equal(r.status, 200);
  assert.equal(typeof r.json.created, "number");
  assert.equal(r.json.data.length, 2);
  r.json.data.forEach((d, i) => {
    const info = assertPngPixels(Buffer.from(d.b64_json, "base64"));
    assert.deepEqual([info.width, info.height, info.text.prompt, info.text.index, info.text.model], [256, 256, "a red fox", String(i), "dall-e-2"]);
  });

  const u = await post("/v1/images/generations", { model: "dall-e-3", prompt: "a blue whale", size: "1792x1024", response_format: "url", quality: "hd", style: "natural" });
  assert.equal(u.status, 200);
  assert.equal(u.json.data[0].revised_prompt, "a blue whale");
  const url = new URL(u.json.data[0].url);
  assert.equal(url.host, `127.0.0.1:${s.port}`);
  const img = await send(s.port, { method: "GET", path: url.pathname });
  assert.equal(img.status, 200);
  assert.equal(img.headers["content-type"], "image/png");
  const info = pngInfo(img.body);
  assert.deepEqual([info.width, info.height, info.text.prompt], [1792, 1024, "a blue whale"]);

  const g = await client().images.generate({ model: "gpt-image-1", prompt: "a green frog", size: "1536x1024", quality: "low", output_format: "jpeg" });
  assert.equal(g.data.length, 1);
  const gi = pngInfo(g.data[0].b64_json);
  assert.deepEqual([gi.width, gi.height, gi.text.output_format], [1536, 1024, "jpeg"]);
  assert.equal(g.size, "1536x1024");
  assert.equal(g.usage.input_tokens, tokenCountFor("a green frog"));
  assert.ok(g.usage.total_tokens > g.usage.input_tokens);

  const dflt = await post("/v1/images/generations", { prompt: "no model" });
  assert.equal(pngInfo(dflt.json.data[0].b64_json).text.model, "dall-e-2");
  const recs = s.requests().filter((x) => x.operation === OPENAI_IMAGES_OPERATION);
  assert.equal(recs.length, 4);
  assert.deepEqual(recs[0].openai.images, { n: 2, size: "256x256", responseFormat: "b64_json" });
  assert.equal(recs[3].model, "dall-e-2");
  s.reset();
  assert.equal((await send(s.port, { method: "GET", path: url.pathname })).status, 404, "stored images go with reset");
});

test("OpenAI /v1/images/generations: validation and scripts", async () => {
  const cases = [
    [{ model: "dall-e-2" }, /Missing required parameter: 'prompt'/],
    [{ prompt: "" }, /empty string/],
    [{ prompt: "x", n: 11 }, /Expected a value <= 10, but got 11/],
    [{ prompt: "x", n: 0 }, /Expected a value >= 1, but got 0/],
    [{ model: "dall-e-3", prompt: "x", n: 2 }, /Expected a value <= 1, but got 2/],
    [{ model: "dall-e-2", prompt: "x", size: "1792x1024" }, /Invalid value: '1792x1024'. Supported values are: '256x256', '512x512', and '1024x1024'/],
    [{ model: "gpt-image-1", prompt: "x", size: "512x512" }, /Invalid value: '512x512'/],
    [{ prompt: "x", response_format: "png" }, /Supported values are: 'url' and 'b64_json'/],
    [{ prompt: "x", quality: "ultra" }, /Invalid value: 'ultra'/],
    [{ prompt: "x", seed: 1 }, /Unrecognized request argument supplied: seed/],
    [{ model: "dall-e-2", prompt: "a".repeat(1001) }, /string too long/],
    [{ model: "gpt-image-1", prompt: "x", stream: true }, /not supported by the stand-in/],
  ];
  for (const [body, re] of cases) {
    const r = await post("/v1/images/generations", body);
    assert.equal(r.status, 400, JSON.stringify(body).slice(0, 80));
    assert.match(r.json.error.message, re);
  }
  s.script({ match: { operation: OPENAI_IMAGES_OPERATION, model: "dall-e-3" }, status: 400, error: { code: "content_policy_violation", message: "Your request was rejected as a result of our safety system." } });
  const blocked = await post("/v1/images/generations", { model: "dall-e-3", prompt: "x" });
  assert.equal(blocked.status, 400);
  assert.equal(blocked.json.error.code, "content_policy_violation");
  assert.equal(s.requests().at(-1).scripted, true);
});
