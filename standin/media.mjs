// Embeddings and image generation on the stand-in: Bedrock InvokeModel bodies of the embedding and image
// model families (request validation in Bedrock's words, deterministic answers in Bedrock's shapes), and
// the deterministic vectors / PNGs the OpenAI side (/v1/embeddings, /v1/images/generations) answers with.
// Pure functions: the HTTP glue is in routes.mjs (invokeMedia) and openai.mjs. Exported so end-to-end
// tests can compute what to expect.
import crypto from "node:crypto";
import zlib from "node:zlib";

// ---------------------------------------------------------------- model ids

/** Foundation model id → family. The path's id may also be a system profile (`us.` ...) or an ARN. */
export const MEDIA_MODELS = Object.freeze({
  "amazon.titan-embed-text-v2:0": "titan-embed-text-v2",
  "amazon.titan-embed-image-v1": "titan-embed-image-v1",
  "cohere.embed-english-v3": "cohere-embed-v3",
  "cohere.embed-multilingual-v3": "cohere-embed-v3",
  "cohere.embed-v4:0": "cohere-embed-v4",
  "amazon.nova-2-multimodal-embeddings-v1:0": "nova-embeddings",
  "amazon.nova-canvas-v1:0": "nova-canvas",
  "amazon.titan-image-generator-v2:0": "titan-image",
  "amazon.titan-image-generator-v1": "titan-image",
  "stability.sd3-5-large-v1:0": "stability",
  "stability.stable-image-core-v1:0": "stability",
  "stability.stable-image-core-v1:1": "stability",
  "stability.stable-image-ultra-v1:0": "stability",
  "stability.stable-image-ultra-v1:1": "stability",
});

/** Ids that name the same model (Bedrock's Cohere Embed v4 page calls it `cohere.embed-v4`). */
const ALIASES = { "cohere.embed-v4": "cohere.embed-v4:0" };

export const EMBEDDING_FAMILIES = Object.freeze(["titan-embed-text-v2", "titan-embed-image-v1", "cohere-embed-v3", "cohere-embed-v4", "nova-embeddings"]);
export const IMAGE_FAMILIES = Object.freeze(["nova-canvas", "titan-image", "stability"]);

/**
 * The foundation model id a path id names: an ARN's last `/` segment, without a system inference profile's
 * region prefix (`us.`, `eu.`, `apac.`, `global.`, `us-gov.`, `jp.`, `au.`, `ca.`).
 * `arn:aws:bedrock:us-east-1::foundation-model/amazon.titan-embed-text-v2:0` → `amazon.titan-embed-text-v2:0`.
 */
export function baseModelId(id) {
  if (typeof id !== "string") return null;
  let m = id.includes("/") ? id.slice(id.lastIndexOf("/") + 1) : id;
  m = m.replace(/^(us|eu|apac|global|us-gov|jp|au|ca)\./, "");
  return ALIASES[m] ?? m;
}

/** {model (foundation id), family} for an embedding / image model id (any form above), else null. */
export function mediaModelOf(id) {
  const model = baseModelId(id);
  const family = model ? MEDIA_MODELS[model] : undefined;
  return family ? { model, family } : null;
}

// ---------------------------------------------------------------- determinism

const sha256 = (x) => crypto.createHash("sha256").update(x).digest();

/** Input tokens: max(1, ⌈UTF-8 bytes / 4⌉). */
export function tokenCountFor(text) {
  return Math.max(1, Math.ceil(Buffer.byteLength(String(text ?? ""), "utf8") / 4));
}

/** Every image (or audio / video) input counts as this many input tokens. */
export const IMAGE_TOKEN_COUNT = 1000;

/** The `input` embeddingFor takes for an image (or other media) input: `image:<sha256 hex of the bytes>`. */
export function imageInputKey(bytes, kind = "image") {
  return `${kind}:${sha256(bytes).toString("hex")}`;
}

/** `dimensions` bytes: SHA-256 blocks of (model, input): block i = sha256(sha256(model NUL input) ‖ u32be(i)). */
export function embeddingBytes(modelId, input, dimensions) {
  const n = Math.max(0, dimensions | 0);
  const out = Buffer.alloc(n);
  const seed = sha256(`${modelId}\u0000${input}`);
  const counter = Buffer.alloc(4);
  for (let i = 0, block = 0; i < n; block++, i += 32) {
    counter.writeUInt32BE(block);
    sha256(Buffer.concat([seed, counter])).copy(out, i, 0, Math.min(32, n - i));
  }
  return out;
}

/**
 * The deterministic embedding: `dimensions` numbers (byte − 128) / 256 over embeddingBytes(model, input):
 * multiples of 1/256 in [−0.5, 0.49609375], exact in float32 (a float32 base64 round trip is lossless).
 * A shorter vector is a prefix of a longer one. Not normalized (Titan's `normalize` is accepted, not applied).
 */
export function embeddingFor(modelId, input, dimensions) {
  return Array.from(embeddingBytes(modelId, input, dimensions), (b) => (b - 128) / 256);
}

/** The bits of a vector: 1 where the value is ≥ 0 (byte ≥ 128), else 0. */
export function embeddingBits(floats) {
  return floats.map((f) => (f >= 0 ? 1 : 0));
}

/**
 * A float embedding as another embedding type (what Cohere's `embedding_types` / Titan's `embeddingTypes` ask for):
 * `float` as is; `int8` = value × 256 (= byte − 128, −128..127); `uint8` = value × 256 + 128 (= byte, 0..255);
 * `ubinary` = the bits (embeddingBits) packed 8 per byte, most significant first (⌈n/8⌉ values 0..255);
 * `binary` = ubinary − 128 (−128..127, Cohere's signed packing); `bits` = the bits unpacked (Titan's `binary`).
 */
export function quantizeEmbedding(floats, type) {
  switch (type) {
    case "float":
      return floats.slice();
    case "int8":
      return floats.map((f) => Math.round(f * 256));
    case "uint8":
      return floats.map((f) => Math.round(f * 256) + 128);
    case "bits":
      return embeddingBits(floats);
    case "ubinary":
    case "binary": {
      const bits = embeddingBits(floats);
      const out = [];
      for (let i = 0; i < bits.length; i += 8) {
        let v = 0;
        for (let j = 0; j < 8; j++) v = (v << 1) | (bits[i + j] ?? 0);
        out.push(type === "binary" ? v - 128 : v);
      }
      return out;
    }
    default:
      throw new Error(`unknown embedding type ${type}`);
  }
}

/** Little-endian float32 bytes of a vector, base64 (OpenAI's `encoding_format: "base64"`). */
export function float32Base64(floats) {
  const b = Buffer.alloc(floats.length * 4);
  floats.forEach((f, i) => b.writeFloatLE(f, i * 4));
  return b.toString("base64");
}

/** The inverse of float32Base64. */
export function float32FromBase64(b64) {
  const b = Buffer.from(b64, "base64");
  return Array.from({ length: b.length / 4 }, (_, i) => b.readFloatLE(i * 4));
}

/** A deterministic seed 1..4294967294 from a prompt (Stability's `seed` 0 / absent, the OpenAI images' `seed` tEXt). */
export function seedFor(prompt) {
  return (sha256(`seed\u0000${prompt ?? ""}`).readUInt32BE(0) % 4294967294) + 1;
}

// ---------------------------------------------------------------- PNG

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

export function crc32(buf) {
  let c = 0xffffffff;
  for (let i = 0; i < buf.length; i++) c = CRC_TABLE[(c ^ buf[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

function chunk(type, data) {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const td = Buffer.concat([Buffer.from(type, "latin1"), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(td));
  return Buffer.concat([len, td, crc]);
}

const isLatin1 = (s) => /^[\x20-\x7e\xa0-\xff\n]*$/.test(s);

/** One text chunk: tEXt when the value is Latin-1, else iTXt (UTF-8, uncompressed). */
function textChunk(key, value) {
  const k = String(key).slice(0, 79);
  const v = String(value);
  if (isLatin1(v)) return chunk("tEXt", Buffer.concat([Buffer.from(k, "latin1"), Buffer.from([0]), Buffer.from(v, "latin1")]));
  return chunk("iTXt", Buffer.concat([Buffer.from(k, "latin1"), Buffer.from([0, 0, 0, 0, 0]), Buffer.from(v, "utf8")]));
}

const idatCache = new Map(); // "WxH" → deflated all-zero indexed rows (the same for every colour)

function idatFor(width, height) {
  const key = `${width}x${height}`;
  let d = idatCache.get(key);
  if (!d) {
    d = zlib.deflateSync(Buffer.alloc(height * (1 + Math.ceil(width / 8))), { level: 9 });
    if (idatCache.size >= 64) idatCache.delete(idatCache.keys().next().value);
    idatCache.set(key, d);
  }
  return d;
}

/**
 * A valid PNG of width × height, one solid colour: colour type 3 (palette), bit depth 1, a one-entry PLTE
 * `rgb`, every pixel index 0 (so it deflates to almost nothing: 5 × 1024² costs a few ms). `text` entries
 * become tEXt chunks (iTXt when not Latin-1), before IDAT.
 */
export function makePng(width, height, { rgb = [128, 128, 128], text = {} } = {}) {
  if (!(Number.isInteger(width) && width > 0 && Number.isInteger(height) && height > 0)) throw new Error(`bad PNG size ${width}x${height}`);
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 1; // bit depth
  ihdr[9] = 3; // indexed colour
  const parts = [PNG_SIGNATURE, chunk("IHDR", ihdr), chunk("PLTE", Buffer.from(rgb.map((x) => x & 0xff)))];
  for (const [k, v] of Object.entries(text)) if (v !== undefined && v !== null) parts.push(textChunk(k, v));
  parts.push(chunk("IDAT", idatFor(width, height)), chunk("IEND", Buffer.alloc(0)));
  return Buffer.concat(parts);
}

/** The solid colour of an image: the first 3 bytes of sha256(model, prompt, seed, index). */
export function colourFor(model, prompt, seed, index) {
  const h = sha256(`${model}\u0000${prompt}\u0000${seed}\u0000${index}`);
  return [h[0], h[1], h[2]];
}

/**
 * Reads a PNG (Buffer or base64 string): {width, height, bitDepth, colorType, text: {key: value}, chunks: [type]}.
 * Checks the signature and every chunk's CRC (throws on a bad one); text values are strings (tEXt, iTXt).
 */
export function pngInfo(input) {
  const buf = typeof input === "string" ? Buffer.from(input, "base64") : Buffer.from(input);
  if (buf.length < 8 || !buf.subarray(0, 8).equals(PNG_SIGNATURE)) throw new Error("not a PNG (bad signature)");
  const out = { width: 0, height: 0, bitDepth: 0, colorType: 0, text: {}, chunks: [] };
  let off = 8;
  while (off + 12 <= buf.length) {
    const len = buf.readUInt32BE(off);
    const type = buf.toString("latin1", off + 4, off + 8);
    const data = buf.subarray(off + 8, off + 8 + len);
    if (off + 12 + len > buf.length) throw new Error(`PNG chunk ${type} runs past the end`);
    if (buf.readUInt32BE(off + 8 + len) !== crc32(buf.subarray(off + 4, off + 8 + len))) throw new Error(`PNG chunk ${type}: bad CRC`);
    out.chunks.push(type);
    if (type === "IHDR") {
      out.width = data.readUInt32BE(0);
      out.height = data.readUInt32BE(4);
      out.bitDepth = data[8];
      out.colorType = data[9];
    } else if (type === "tEXt") {
      const z = data.indexOf(0);
      out.text[data.toString("latin1", 0, z)] = data.toString("latin1", z + 1);
    } else if (type === "iTXt") {
      const z = data.indexOf(0);
      let p = z + 3; // compression flag, method
      p = data.indexOf(0, p) + 1; // language tag
      p = data.indexOf(0, p) + 1; // translated keyword
      out.text[data.toString("latin1", 0, z)] = data.toString("utf8", p);
    }
    off += 12 + len;
    if (type === "IEND") break;
  }
  if (out.chunks[0] !== "IHDR" || out.chunks[out.chunks.length - 1] !== "IEND") throw new Error("PNG without IHDR first / IEND last");
  return out;
}

/** Width and height of a PNG or (baseline / progressive) JPEG, else null. */
export function imageSizeOf(bytes) {
  try {
    if (bytes.length >= 24 && bytes.subarray(0, 8).equals(PNG_SIGNATURE)) {
      return { format: "png", width: bytes.readUInt32BE(16), height: bytes.readUInt32BE(20) };
    }
    if (bytes[0] === 0xff && bytes[1] === 0xd8) {
      let off = 2;
      while (off + 9 < bytes.length) {
        if (bytes[off] !== 0xff) return null;
        const marker = bytes[off + 1];
        const len = bytes.readUInt16BE(off + 2);
        if (marker >= 0xc0 && marker <= 0xcf && ![0xc4, 0xc8, 0xcc].includes(marker)) {
          return { format: "jpeg", height: bytes.readUInt16BE(off + 5), width: bytes.readUInt16BE(off + 7) };
        }
        off += 2 + len;
      }
    }
  } catch {}
  return null;
}

// ---------------------------------------------------------------- validation (Bedrock's words)

/** A request the real service would refuse: 400 ValidationException with `message`. */
export class MediaValidationError extends Error {}

/** Bedrock's JSON-schema wording: "Malformed input request: #/dimensions: 100 is not a valid enum value, please ...". */
const malformed = (detail) => `Malformed input request: ${detail}, please reformat your input and try again.`;
const fail = (detail) => {
  throw new MediaValidationError(malformed(detail));
};
/** A check that is not a schema one (sizes, combinations): the message as is. */
const refuse = (message) => {
  throw new MediaValidationError(message);
};

function jtype(v) {
  if (v === null) return "Null";
  if (Array.isArray(v)) return "JSONArray";
  if (typeof v === "string") return "String";
  if (typeof v === "boolean") return "Boolean";
  if (typeof v === "number") return Number.isInteger(v) ? "Integer" : "BigDecimal";
  return "JSONObject";
}
const isObj = (v) => v !== null && typeof v === "object" && !Array.isArray(v);
const at = (path, k) => `${path}/${k}`;

function object(v, path, allowed, required = []) {
  if (!isObj(v)) fail(`${path}: expected type: JSONObject, found: ${jtype(v)}`);
  for (const k of Object.keys(v)) if (!allowed.includes(k)) fail(`${path}: extraneous key [${k}] is not permitted`);
  for (const k of required) if (v[k] === undefined) fail(`${path}: required key [${k}] not found`);
  return v;
}
function string(v, path, { min, max } = {}) {
  if (typeof v !== "string") fail(`${path}: expected type: String, found: ${jtype(v)}`);
  if (min !== undefined && v.length < min) fail(`${path}: expected minLength: ${min}, actual: ${v.length}`);
  if (max !== undefined && v.length > max) fail(`${path}: expected maxLength: ${max}, actual: ${v.length}`);
  return v;
}
function integer(v, path, { min, max } = {}) {
  if (typeof v !== "number" || !Number.isInteger(v)) fail(`${path}: expected type: Integer, found: ${jtype(v)}`);
  if (min !== undefined && v < min) fail(`${path}: ${v} is not greater or equal to ${min}`);
  if (max !== undefined && v > max) fail(`${path}: ${v} is not less or equal to ${max}`);
  return v;
}
function number(v, path, { min, max } = {}) {
  if (typeof v !== "number" || !Number.isFinite(v)) fail(`${path}: expected type: Number, found: ${jtype(v)}`);
  if (min !== undefined && v < min) fail(`${path}: ${v} is not greater or equal to ${min}`);
  if (max !== undefined && v > max) fail(`${path}: ${v} is not less or equal to ${max}`);
  return v;
}
function boolean(v, path) {
  if (typeof v !== "boolean") fail(`${path}: expected type: Boolean, found: ${jtype(v)}`);
  return v;
}
function oneOf(v, path, values) {
  if (!values.includes(v)) fail(`${path}: ${typeof v === "string" ? v : JSON.stringify(v)} is not a valid enum value`);
  return v;
}
function array(v, path, { min, max } = {}) {
  if (!Array.isArray(v)) fail(`${path}: expected type: JSONArray, found: ${jtype(v)}`);
  if (min !== undefined && v.length < min) fail(`${path}: expected minimum item count: ${min}, found: ${v.length}`);
  if (max !== undefined && v.length > max) fail(`${path}: expected maximum item count: ${max}, found: ${v.length}`);
  return v;
}
const opt = (o, k, check) => (o[k] === undefined ? undefined : check(o[k]));

/** Strict base64 (no data: prefix, no whitespace), decoded; non-empty. */
function base64Bytes(v, path) {
  string(v, path, { min: 1 });
  if (v.startsWith("data:")) refuse(`${path.replace(/^#\/?/, "") || "input"}: the image must be base64 without a data: URI prefix`);
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(v) || v.length % 4 === 1) refuse(`${path.replace(/^#\/?/, "")}: invalid base64 encoding`);
  const bytes = Buffer.from(v, "base64");
  if (!bytes.length) refuse(`${path.replace(/^#\/?/, "")}: invalid base64 encoding`);
  return bytes;
}

/** A data URI `data:image/<mime>;base64,<data>` (mimes allowed), decoded: {mime, bytes}. */
function dataUri(v, path, mimes, maxBytes = 5 * 1024 * 1024) {
  string(v, path);
  const m = /^data:(image\/[a-z0-9.+-]+);base64,(.*)$/s.exec(v);
  if (!m) refuse(`invalid request: ${path.replace(/^#\//, "")} must be a valid data URI (data:image/<type>;base64,<data>)`);
  if (!mimes.includes(m[1])) refuse(`invalid request: ${path.replace(/^#\//, "")}: unsupported image type ${m[1]}; supported: ${mimes.join(", ")}`);
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(m[2]) || !m[2].length) refuse(`invalid request: ${path.replace(/^#\//, "")}: invalid base64 data`);
  const bytes = Buffer.from(m[2], "base64");
  if (bytes.length > maxBytes) refuse(`invalid request: ${path.replace(/^#\//, "")}: image is larger than ${maxBytes} bytes`);
  return { mime: m[1], bytes };
}

// ---------------------------------------------------------------- embeddings

const TITAN_V2_DIMENSIONS = [256, 512, 1024];
const TITAN_MM_DIMENSIONS = [256, 384, 1024];
const COHERE_V3_INPUT_TYPES = ["search_document", "search_query", "classification", "clustering", "image"];
const COHERE_V4_INPUT_TYPES = ["search_document", "search_query", "classification", "clustering"];
const COHERE_TYPES = ["float", "int8", "uint8", "binary", "ubinary"];
const COHERE_V4_DIMENSIONS = [256, 512, 1024, 1536];
const NOVA_PURPOSES = [
  "GENERIC_INDEX", "GENERIC_RETRIEVAL", "TEXT_RETRIEVAL", "IMAGE_RETRIEVAL", "VIDEO_RETRIEVAL", "DOCUMENT_RETRIEVAL",
  "AUDIO_RETRIEVAL", "CLASSIFICATION", "CLUSTERING",
];
const NOVA_DIMENSIONS = [256, 384, 1024, 3072];

function titanEmbedTextV2(model, body) {
  object(body, "#", ["inputText", "dimensions", "normalize", "embeddingTypes"], ["inputText"]);
  const text = string(body.inputText, "#/inputText", { min: 1, max: 50000 });
  const dims = opt(body, "dimensions", (v) => oneOf(integer(v, "#/dimensions"), "#/dimensions", TITAN_V2_DIMENSIONS)) ?? 1024;
  opt(body, "normalize", (v) => boolean(v, "#/normalize"));
  const types = opt(body, "embeddingTypes", (v) => {
    array(v, "#/embeddingTypes", { min: 1, max: 2 });
    v.forEach((t, i) => oneOf(t, `#/embeddingTypes/${i}`, ["float", "binary"]));
    return v;
  }) ?? ["float"];
  const floats = embeddingFor(model, text, dims);
  const byType = {};
  for (const t of types) byType[t] = t === "binary" ? quantizeEmbedding(floats, "bits") : floats;
  const n = tokenCountFor(text);
  return { json: { embedding: floats, inputTextTokenCount: n, embeddingsByType: byType }, inputTokens: n };
}

function titanEmbedImage(model, body) {
  object(body, "#", ["inputText", "inputImage", "embeddingConfig"]);
  if (body.inputText === undefined && body.inputImage === undefined) refuse(malformed("#: at least one of [inputText, inputImage] is required"));
  const text = opt(body, "inputText", (v) => string(v, "#/inputText", { min: 1 }));
  const image = opt(body, "inputImage", (v) => base64Bytes(v, "#/inputImage"));
  const dims =
    opt(body, "embeddingConfig", (c) => {
      object(c, "#/embeddingConfig", ["outputEmbeddingLength"]);
      return opt(c, "outputEmbeddingLength", (v) => oneOf(integer(v, "#/embeddingConfig/outputEmbeddingLength"), "#/embeddingConfig/outputEmbeddingLength", TITAN_MM_DIMENSIONS));
    }) ?? 1024;
  // Both: one vector for the pair (Bedrock averages the text and image vectors; the stand-in hashes the pair).
  const input = [text, image ? imageInputKey(image) : undefined].filter((x) => x !== undefined).join("\n");
  const textTokens = text !== undefined ? tokenCountFor(text) : 0;
  return {
    json: { embedding: embeddingFor(model, input, dims), inputTextTokenCount: textTokens, message: null },
    inputTokens: textTokens + (image ? IMAGE_TOKEN_COUNT : 0),
  };
}

/** Cohere's images: [{width, height, format, bit_depth}] for image inputs (null size when unreadable). */
const imageMeta = (bytes, mime) => {
  const s = imageSizeOf(bytes);
  return { width: s?.width ?? null, height: s?.height ?? null, format: s?.format ?? mime.replace("image/", ""), bit_depth: 8 };
};

function cohereEmbed(model, body, v4) {
  const allowed = ["texts", "images", "input_type", "truncate", "embedding_types", ...(v4 ? ["inputs", "output_dimension", "max_tokens"] : [])];
  object(body, "#", allowed, ["input_type"]);
  const inputType = oneOf(string(body.input_type, "#/input_type"), "#/input_type", v4 ? COHERE_V4_INPUT_TYPES : COHERE_V3_INPUT_TYPES);
  const given = ["texts", "images", ...(v4 ? ["inputs"] : [])].filter((k) => body[k] !== undefined);
  if (given.length > 1) refuse(`invalid request: only one of ${v4 ? "'texts', 'images' or 'inputs'" : "'texts' or 'images'"} can be provided, not ${given.map((k) => `'${k}'`).join(" and ")}`);
  if (given.length === 0) refuse(`invalid request: one of ${v4 ? "'texts', 'images' or 'inputs'" : "'texts' or 'images'"} must be provided`);
  opt(body, "truncate", (v) => oneOf(string(v, "#/truncate"), "#/truncate", v4 ? ["NONE", "LEFT", "RIGHT"] : ["NONE", "START", "END"]));
  const types = opt(body, "embedding_types", (v) => {
    array(v, "#/embedding_types", { min: 1, max: 5 });
    v.forEach((t, i) => oneOf(t, `#/embedding_types/${i}`, COHERE_TYPES));
    return [...new Set(v)];
  });
  const dims = v4 ? opt(body, "output_dimension", (v) => oneOf(integer(v, "#/output_dimension"), "#/output_dimension", COHERE_V4_DIMENSIONS)) ?? 1536 : 1024;
  if (v4) opt(body, "max_tokens", (v) => integer(v, "#/max_tokens", { min: 1, max: 128000 }));

  const inputs = []; // strings handed to embeddingFor
  let tokens = 0;
  let texts = [];
  let images;
  if (body.texts !== undefined) {
    array(body.texts, "#/texts", { min: 1, max: 96 });
    body.texts.forEach((t, i) => string(t, `#/texts/${i}`, v4 ? {} : { max: 2048 }));
    if (!v4 && inputType === "image") refuse("invalid request: input_type 'image' requires 'images', not 'texts'");
    texts = body.texts;
    for (const t of texts) {
      inputs.push(t);
      tokens += tokenCountFor(t);
    }
  } else if (body.images !== undefined) {
    array(body.images, "#/images", { min: 1, max: v4 ? 96 : 1 });
    if (!v4 && inputType !== "image") refuse("invalid request: 'images' requires input_type 'image'");
    const mimes = v4 ? ["image/png", "image/jpeg", "image/webp", "image/gif"] : ["image/png", "image/jpeg"];
    images = body.images.map((u, i) => {
      const { mime, bytes } = dataUri(u, `#/images/${i}`, mimes);
      inputs.push(imageInputKey(bytes));
      tokens += IMAGE_TOKEN_COUNT;
      return imageMeta(bytes, mime);
    });
  } else {
    array(body.inputs, "#/inputs", { min: 1, max: 96 });
    body.inputs.forEach((item, i) => {
      const p = `#/inputs/${i}`;
      object(item, p, ["content"], ["content"]);
      array(item.content, `${p}/content`, { min: 1 });
      const parts = item.content.map((part, j) => {
        const pp = `${p}/content/${j}`;
        if (!isObj(part)) fail(`${pp}: expected type: JSONObject, found: ${jtype(part)}`);
        const type = oneOf(part.type, `${pp}/type`, ["text", "image_url"]);
        if (type === "text") {
          object(part, pp, ["type", "text"], ["text"]);
          tokens += tokenCountFor(string(part.text, `${pp}/text`));
          return part.text;
        }
        object(part, pp, ["type", "image_url"], ["image_url"]);
        const url = isObj(part.image_url) ? (object(part.image_url, `${pp}/image_url`, ["url", "detail"], ["url"]), part.image_url.url) : part.image_url;
        const { bytes } = dataUri(url, `${pp}/image_url`, ["image/png", "image/jpeg", "image/webp", "image/gif"]);
        tokens += IMAGE_TOKEN_COUNT;
        return imageInputKey(bytes);
      });
      inputs.push(`inputs:${parts.join("\n")}`);
    });
  }

  const vectors = inputs.map((x) => embeddingFor(model, x, dims));
  const json = { id: crypto.randomUUID() };
  if (!v4 && !types) {
    json.embeddings = vectors;
    json.response_type = "embeddings_floats";
  } else {
    json.embeddings = {};
    for (const t of types ?? ["float"]) json.embeddings[t] = vectors.map((v) => quantizeEmbedding(v, t));
    json.response_type = "embeddings_by_type";
  }
  json.texts = texts;
  if (images) json.images = images;
  return { json, inputTokens: tokens };
}

function novaEmbeddings(model, body) {
  object(body, "#", ["schemaVersion", "taskType", "singleEmbeddingParams"], ["taskType", "singleEmbeddingParams"]);
  opt(body, "schemaVersion", (v) => oneOf(v, "#/schemaVersion", ["nova-multimodal-embed-v1"]));
  oneOf(body.taskType, "#/taskType", ["SINGLE_EMBEDDING", "SEGMENTED_EMBEDDING"]);
  if (body.taskType !== "SINGLE_EMBEDDING") refuse("taskType must be SINGLE_EMBEDDING for a synchronous InvokeModel call (SEGMENTED_EMBEDDING is for StartAsyncInvoke)");
  const p = "#/singleEmbeddingParams";
  const sp = object(body.singleEmbeddingParams, p, ["embeddingPurpose", "embeddingDimension", "text", "image", "audio", "video"], ["embeddingPurpose"]);
  oneOf(sp.embeddingPurpose, `${p}/embeddingPurpose`, NOVA_PURPOSES);
  const dims = opt(sp, "embeddingDimension", (v) => oneOf(integer(v, `${p}/embeddingDimension`), `${p}/embeddingDimension`, NOVA_DIMENSIONS)) ?? 3072;
  const given = ["text", "image", "audio", "video"].filter((k) => sp[k] !== undefined);
  if (given.length !== 1) refuse(`singleEmbeddingParams must contain exactly one of text, image, audio or video (found ${given.length ? given.join(", ") : "none"})`);
  const kind = given[0];
  const source = (src, sp2) => {
    object(src, sp2, ["bytes", "s3Location"]);
    if (src.s3Location !== undefined) refuse(`${sp2.replace(/^#\//, "")}: s3Location sources are not supported by the stand-in (send bytes)`);
    if (src.bytes === undefined) fail(`${sp2}: required key [bytes] not found`);
    return base64Bytes(src.bytes, `${sp2}/bytes`);
  };
  if (kind === "text") {
    const t = object(sp.text, `${p}/text`, ["truncationMode", "value", "source"], ["truncationMode"]);
    oneOf(t.truncationMode, `${p}/text/truncationMode`, ["START", "END", "NONE"]);
    if (t.source !== undefined) refuse("text.source (S3) is not supported by the stand-in: send text.value");
    if (t.value === undefined) fail(`${p}/text: required key [value] not found`);
    const value = string(t.value, `${p}/text/value`, { min: 1, max: 50000 });
    return { json: { embeddings: [{ embeddingType: "TEXT", embedding: embeddingFor(model, value, dims) }] }, inputTokens: tokenCountFor(value) };
  }
  if (kind === "image") {
    const im = object(sp.image, `${p}/image`, ["format", "source", "detailLevel"], ["format", "source"]);
    oneOf(im.format, `${p}/image/format`, ["png", "jpeg", "gif", "webp"]);
    opt(im, "detailLevel", (v) => oneOf(v, `${p}/image/detailLevel`, ["STANDARD_IMAGE", "DOCUMENT_IMAGE"]));
    const bytes = source(im.source, `${p}/image/source`);
    return { json: { embeddings: [{ embeddingType: "IMAGE", embedding: embeddingFor(model, imageInputKey(bytes), dims) }] }, inputTokens: IMAGE_TOKEN_COUNT };
  }
  if (kind === "audio") {
    const a = object(sp.audio, `${p}/audio`, ["format", "source"], ["format", "source"]);
    oneOf(a.format, `${p}/audio/format`, ["mp3", "wav", "ogg"]);
    const bytes = source(a.source, `${p}/audio/source`);
    return { json: { embeddings: [{ embeddingType: "AUDIO", embedding: embeddingFor(model, imageInputKey(bytes, "audio"), dims) }] }, inputTokens: IMAGE_TOKEN_COUNT };
  }
  const v = object(sp.video, `${p}/video`, ["format", "source", "embeddingMode"], ["format", "source", "embeddingMode"]);
  oneOf(v.format, `${p}/video/format`, ["mp4", "mov", "mkv", "webm", "flv", "mpeg", "mpg", "wmv", "3gp"]);
  const mode = oneOf(v.embeddingMode, `${p}/video/embeddingMode`, ["AUDIO_VIDEO_COMBINED", "AUDIO_VIDEO_SEPARATE"]);
  const key = imageInputKey(source(v.source, `${p}/video/source`), "video");
  const embeddings =
    mode === "AUDIO_VIDEO_COMBINED"
      ? [{ embeddingType: "AUDIO_VIDEO_COMBINED", embedding: embeddingFor(model, key, dims) }]
      : [
          { embeddingType: "VIDEO", embedding: embeddingFor(model, `${key}:video`, dims) },
          { embeddingType: "AUDIO", embedding: embeddingFor(model, `${key}:audio`, dims) },
        ];
  return { json: { embeddings }, inputTokens: IMAGE_TOKEN_COUNT };
}

// ---------------------------------------------------------------- images

/** Titan Image Generator's sizes (width × height), from its Bedrock documentation. */
export const TITAN_IMAGE_SIZES = Object.freeze([
  "1024x1024", "768x768", "512x512", "768x1152", "384x576", "1152x768", "576x384", "768x1280", "384x640", "1280x768",
  "640x384", "896x1152", "448x576", "1152x896", "576x448", "768x1408", "384x704", "1408x768", "704x384", "640x1408",
  "320x704", "1408x640", "704x320", "1152x640", "1173x640",
]);

export const NOVA_CANVAS_STYLES = Object.freeze([
  "3D_ANIMATED_FAMILY_FILM", "DESIGN_SKETCH", "FLAT_VECTOR_ILLUSTRATION", "GRAPHIC_NOVEL_ILLUSTRATION", "MAXIMALISM",
  "MIDCENTURY_RETRO", "PHOTOREALISM", "SOFT_DIGITAL_PAINTING",
]);

/** Task types the real models have that the stand-in does not generate (400 saying so). */
const OTHER_IMAGE_TASKS = ["INPAINTING", "OUTPAINTING", "IMAGE_VARIATION", "COLOR_GUIDED_GENERATION", "BACKGROUND_REMOVAL", "VIRTUAL_TRY_ON"];

/** Nova Canvas's size rule: each side 320..4096 and a multiple of 16, ratio within 1:4..4:1, ≤ 4,194,304 pixels. */
export function novaCanvasSizeError(width, height) {
  if (width < 320 || width > 4096 || height < 320 || height > 4096) return `The width and height must each be between 320 and 4096 pixels (got ${width}x${height}).`;
  if (width % 16 || height % 16) return `The width and height must be divisible by 16 (got ${width}x${height}).`;
  if (width > 4 * height || height > 4 * width) return `The aspect ratio must be between 1:4 and 4:1 (got ${width}x${height}).`;
  if (width * height > 4194304) return `The total pixel count must be at most 4,194,304 (got ${width}x${height} = ${width * height}).`;
  return null;
}

function novaOrTitanImage(model, body, nova) {
  object(body, "#", ["taskType", "textToImageParams", "imageGenerationConfig"], ["taskType"]);
  oneOf(body.taskType, "#/taskType", ["TEXT_IMAGE", ...OTHER_IMAGE_TASKS.filter((t) => nova || t !== "VIRTUAL_TRY_ON")]);
  if (body.taskType !== "TEXT_IMAGE") refuse(`taskType ${body.taskType} is not supported by the stand-in (TEXT_IMAGE only)`);
  if (body.textToImageParams === undefined) fail("#: required key [textToImageParams] not found");
  const maxText = nova ? 1024 : 512;
  const tp = "#/textToImageParams";
  const t = object(body.textToImageParams, tp, ["text", "negativeText", "conditionImage", "controlMode", "controlStrength", ...(nova ? ["style"] : [])], ["text"]);
  const text = string(t.text, `${tp}/text`, { min: 1, max: maxText });
  opt(t, "negativeText", (v) => string(v, `${tp}/negativeText`, { min: 1, max: maxText }));
  const style = opt(t, "style", (v) => oneOf(v, `${tp}/style`, NOVA_CANVAS_STYLES));
  opt(t, "conditionImage", (v) => base64Bytes(v, `${tp}/conditionImage`));
  opt(t, "controlMode", (v) => oneOf(v, `${tp}/controlMode`, ["CANNY_EDGE", "SEGMENTATION"]));
  opt(t, "controlStrength", (v) => number(v, `${tp}/controlStrength`, { min: 0, max: 1 }));
  if ((t.controlMode !== undefined || t.controlStrength !== undefined) && t.conditionImage === undefined) {
    refuse("textToImageParams.controlMode and controlStrength require conditionImage");
  }
  const gp = "#/imageGenerationConfig";
  const g = body.imageGenerationConfig === undefined ? {} : object(body.imageGenerationConfig, gp, ["numberOfImages", "width", "height", "quality", "cfgScale", "seed"]);
  const count = opt(g, "numberOfImages", (v) => integer(v, `${gp}/numberOfImages`, { min: 1, max: 5 })) ?? 1;
  const width = opt(g, "width", (v) => integer(v, `${gp}/width`)) ?? 1024;
  const height = opt(g, "height", (v) => integer(v, `${gp}/height`)) ?? 1024;
  const quality = opt(g, "quality", (v) => oneOf(v, `${gp}/quality`, ["standard", "premium"])) ?? "standard";
  opt(g, "cfgScale", (v) => number(v, `${gp}/cfgScale`, { min: 1.1, max: 10 }));
  const seed = opt(g, "seed", (v) => integer(v, `${gp}/seed`, { min: 0, max: nova ? 858993459 : 2147483646 })) ?? (nova ? 12 : 42);
  if (nova) {
    const e = novaCanvasSizeError(width, height);
    if (e) refuse(e);
  } else if (!TITAN_IMAGE_SIZES.includes(`${width}x${height}`)) {
    refuse(`The image size ${width}x${height} is not supported. Supported sizes (width x height): ${TITAN_IMAGE_SIZES.join(", ")}.`);
  }
  const images = [];
  for (let index = 0; index < count; index++) {
    const png = makePng(width, height, {
      rgb: colourFor(model, text, seed, index),
      text: { prompt: text, seed, index, model, negative: t.negativeText, style, quality, width, height },
    });
    images.push(png.toString("base64"));
  }
  return { json: { images }, imageCount: count, width, height };
}

/** Stability's output size per aspect ratio (Stability AI's documented 1-megapixel dimensions). */
export const STABILITY_SIZES = Object.freeze({
  "16:9": [1344, 768],
  "1:1": [1024, 1024],
  "21:9": [1536, 640],
  "2:3": [832, 1216],
  "3:2": [1216, 832],
  "4:5": [896, 1088],
  "5:4": [1088, 896],
  "9:16": [768, 1344],
  "9:21": [640, 1536],
});

function stabilityImage(model, body) {
  object(body, "#", ["prompt", "negative_prompt", "aspect_ratio", "output_format", "seed", "mode", "image", "strength"], ["prompt"]);
  const prompt = string(body.prompt, "#/prompt", { min: 1, max: 10000 });
  const negative = opt(body, "negative_prompt", (v) => string(v, "#/negative_prompt", { max: 10000 }));
  const ratio = opt(body, "aspect_ratio", (v) => oneOf(v, "#/aspect_ratio", Object.keys(STABILITY_SIZES))) ?? "1:1";
  const format = opt(body, "output_format", (v) => oneOf(v, "#/output_format", ["png", "jpeg"])) ?? "png";
  const seedIn = opt(body, "seed", (v) => integer(v, "#/seed", { min: 0, max: 4294967294 })) ?? 0;
  const imageToImage = model === "stability.sd3-5-large-v1:0" || model.startsWith("stability.stable-image-ultra");
  const mode = opt(body, "mode", (v) => oneOf(v, "#/mode", imageToImage ? ["text-to-image", "image-to-image"] : ["text-to-image"])) ?? "text-to-image";
  if (mode === "image-to-image" || body.image !== undefined || body.strength !== undefined) {
    if (!imageToImage) fail(`#: extraneous key [${body.image !== undefined ? "image" : "strength"}] is not permitted`);
    refuse("image-to-image (mode, image, strength) is not supported by the stand-in: text-to-image only");
  }
  const seed = seedIn === 0 ? seedFor(prompt) : seedIn;
  const [width, height] = STABILITY_SIZES[ratio];
  const png = makePng(width, height, {
    rgb: colourFor(model, prompt, seed, 0),
    text: { prompt, seed, index: 0, model, negative, aspect_ratio: ratio, output_format: format, width, height },
  });
  return { json: { seeds: [seed], finish_reasons: [null], images: [png.toString("base64")] }, imageCount: 1, width, height, seed };
}

// ---------------------------------------------------------------- entry point

/**
 * The answer to an InvokeModel body for a media model (`mediaModelOf(id)`):
 * {kind: "embedding" | "image", json, inputTokens?, imageCount?} or throws MediaValidationError (→ 400).
 */
export function mediaInvokeAnswer({ model, family }, body) {
  if (body === undefined || body === null || typeof body === "string") {
    refuse(body ? "Malformed input request: expected a JSON object body, please reformat your input and try again." : malformed("#: expected type: JSONObject, found: Null"));
  }
  switch (family) {
    case "titan-embed-text-v2":
      return { kind: "embedding", ...titanEmbedTextV2(model, body) };
    case "titan-embed-image-v1":
      return { kind: "embedding", ...titanEmbedImage(model, body) };
    case "cohere-embed-v3":
      return { kind: "embedding", ...cohereEmbed(model, body, false) };
    case "cohere-embed-v4":
      return { kind: "embedding", ...cohereEmbed(model, body, true) };
    case "nova-embeddings":
      return { kind: "embedding", ...novaEmbeddings(model, body) };
    case "nova-canvas":
      return { kind: "image", ...novaOrTitanImage(model, body, true) };
    case "titan-image":
      return { kind: "image", ...novaOrTitanImage(model, body, false) };
    case "stability":
      return { kind: "image", ...stabilityImage(model, body) };
    default:
      throw new Error(`no media family ${family}`);
  }
}
