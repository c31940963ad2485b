// The stand-in's "model" answers (`answers: "model"`): deterministic answers in the shape a request asks
// for, on every chat route (Converse, ConverseStream, InvokeModel / InvokeModelWithResponseStream for Claude,
// OpenAI chat completions and Responses). Pure functions: a request body → one `answer` (what a model would
// say) → the API's JSON or stream events. routes.mjs and openai.mjs call them when the mode is "model" and
// no script entry says what to answer. README.md "Model answers" describes the rules.
import crypto from "node:crypto";

/** The answer modes: "recorded" (default: recorded fixtures and fixed texts) and "model". */
export const ANSWER_MODES = Object.freeze(["recorded", "model"]);
/** The pause between stream frames in model mode unless told otherwise (ms). */
export const DEFAULT_MODEL_PACE_MS = 30;

// ---------------------------------------------------------------- small helpers

const isObj = (v) => v !== null && typeof v === "object" && !Array.isArray(v);
const sha = (...parts) => crypto.createHash("sha256").update(parts.map((p) => (typeof p === "string" ? p : JSON.stringify(p) ?? "")).join("\u0000")).digest();
const ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
/** A deterministic id of `n` alphanumerics from `seed`. */
export function stableId(seed, n = 24) {
  let out = "";
  for (let i = 0; out.length < n; i++) for (const b of sha(seed, String(i))) if (out.length < n) out += ALNUM[b % ALNUM.length];
  return out;
}

/** Tokens for a number of characters: ⌈chars / 4⌉, at least 1. */
export const tokensFor = (chars) => Math.max(1, Math.ceil(chars / 4));

/** The characters of the text in a request part (string leaves; a long blob without spaces counts 200). */
export function textLength(v, depth = 0) {
  if (typeof v === "string") return v.length > 200 && !/\s/.test(v) ? 200 : v.length;
  if (depth > 40 || v === null || typeof v !== "object") return typeof v === "number" ? String(v).length : 0;
  let n = 0;
  if (Array.isArray(v)) for (const x of v) n += textLength(x, depth + 1);
  else for (const [k, x] of Object.entries(v)) if (k !== "cache_control" && k !== "cachePoint") n += textLength(x, depth + 1);
  return n;
}

/** Text cut into stream pieces: `words` words each (leading whitespace kept), at least one piece. */
export function framePieces(text, words = 3) {
  const w = String(text).match(/\s*\S+/g);
  if (!w) return [String(text)];
  const out = [];
  for (let i = 0; i < w.length; i += words) out.push(w.slice(i, i + words).join(""));
  // trailing whitespace (rare) stays with the last piece
  const rest = String(text).slice(out.join("").length);
  if (rest) out[out.length - 1] += rest;
  return out;
}

/** A string cut into pieces of `size` characters (tool arguments). */
export function charPieces(s, size = 16) {
  const out = [];
  for (let i = 0; i < s.length; i += size) out.push(s.slice(i, i + size));
  return out.length ? out : [""];
}

/** JSON the way a model (or Python's json.dumps) writes it: `{"a": 1, "b": [1, 2]}`. */
export function modelJson(v) {
  if (Array.isArray(v)) return `[${v.map(modelJson).join(", ")}]`;
  if (isObj(v)) return `{${Object.entries(v).map(([k, x]) => `${JSON.stringify(k)}: ${modelJson(x)}`).join(", ")}}`;
  return JSON.stringify(v === undefined ? null : v);
}

// ---------------------------------------------------------------- text hints (values drawn from the user's words)

/** Capitalised words that begin a sentence or a question, not names. */
const STARTERS = new Set(
  ("a an and are at be but call can check could did do does find for get give hello hey hi how i i'd i'll i'm if in is it " +
    "let list look make my no of on or please show so tell thank thanks that the then there this use was we what what's " +
    "when where which who why will with would write yes you your")
    .split(" "),
);

/**
 * Capitalised phrases of a text ("San Francisco", "CA"). The first word of a sentence is left out (prompts
 * mostly open with a verb or a question word: "Compare Paris and London" → "Paris", "London"), and so are
 * openers like "What" or "I"; sentence-initial words come back only when nothing else is capitalised.
 */
export function capitalisedPhrases(text) {
  const t = String(text ?? "");
  const out = [];
  const initials = [];
  for (const m of t.matchAll(/\p{Lu}[\p{L}\p{N}'’-]*(?:[ \t]+\p{Lu}[\p{L}\p{N}'’-]*)*/gu)) {
    let words = m[0].split(/\s+/).map((w) => w.replace(/['’-]+$/, ""));
    if (/(^|[.!?:;\n]\s*|^\s*["“'(])$/.test(t.slice(0, m.index))) {
      if (!STARTERS.has(words[0].toLowerCase())) initials.push(words[0]);
      words = words.slice(1);
    }
    while (words.length && STARTERS.has(words[0].toLowerCase())) words = words.slice(1);
    const p = words.join(" ");
    if (p && !out.includes(p)) out.push(p);
  }
  return out.length ? out : [...new Set(initials)];
}

/** The first "San Francisco, CA"-like place in a text (a phrase and an optional ", Region"). */
function placeOf(text) {
  const phrases = capitalisedPhrases(text);
  if (!phrases.length) return null;
  const first = phrases[0];
  const m = new RegExp(`${first.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")},\\s*(\\p{Lu}[\\p{L}.]*(?:\\s+\\p{Lu}[\\p{L}.]*)*)`, "u").exec(text);
  return m ? `${first}, ${m[1]}` : first;
}

/** The numbers of a text, in order (dates and times left out: they feed `format: date` values). */
const numbersIn = (text) =>
  [...String(text ?? "").replace(/\d{4}-\d{2}-\d{2}(?:[T ][\d:.]+(?:Z|[+-]\d{2}:?\d{2})?)?|\b\d{1,2}:\d{2}(?::\d{2})?\b/g, " ").matchAll(/(?<![\w.])-?\d+(?:\.\d+)?(?![\w])/g)].map((m) => Number(m[0]));

/** The words of a name: `get_weather` / `getWeather` / `get-weather` → ["get", "weather"]. */
export function nameWords(name) {
  return String(name ?? "")
    .replace(/([a-z0-9])([A-Z])/g, "$1 $2")
    .split(/[^A-Za-z0-9]+/)
    .filter(Boolean)
    .map((w) => w.toLowerCase());
}

const title = (name) => {
  const w = nameWords(name).join(" ");
  return w ? w[0].toUpperCase() + w.slice(1) : "Value";
};
const snippet = (text, n = 60) => {
  const t = String(text ?? "").replace(/\s+/g, " ").trim();
  return t.length <= n ? t : t.slice(0, n).replace(/\s+\S*$/, "") + "…";
};

// ---------------------------------------------------------------- JSON schema → a valid value

/** Countries a `country` property may take from the text, and the country of a few well-known cities. */
const COUNTRIES = (
  "Argentina Australia Austria Belgium Brazil Canada Chile China Colombia Czechia Denmark Egypt Finland France Germany " +
  "Greece Hungary India Indonesia Ireland Israel Italy Japan Kenya Mexico Morocco Netherlands Nigeria Norway Peru " +
  "Poland Portugal Romania Russia Spain Sweden Switzerland Thailand Turkey Ukraine Vietnam"
).split(" ").concat(["New Zealand", "South Africa", "South Korea", "United Kingdom", "United States", "USA", "UK"]);
const CITY_COUNTRY = {
  Amsterdam: "Netherlands", Athens: "Greece", Bangkok: "Thailand", Barcelona: "Spain", Beijing: "China", Berlin: "Germany",
  Boston: "United States", Brussels: "Belgium", "Buenos Aires": "Argentina", Cairo: "Egypt", Chicago: "United States",
  Copenhagen: "Denmark", Dublin: "Ireland", Helsinki: "Finland", Istanbul: "Turkey", Lisbon: "Portugal", London: "United Kingdom",
  "Los Angeles": "United States", Madrid: "Spain", Melbourne: "Australia", "Mexico City": "Mexico", Milan: "Italy", Mumbai: "India",
  Munich: "Germany", Nairobi: "Kenya", "New York": "United States", Oslo: "Norway", Paris: "France", Prague: "Czechia",
  Rome: "Italy", "San Francisco": "United States", Seattle: "United States", Seoul: "South Korea", Stockholm: "Sweden",
  Sydney: "Australia", Tokyo: "Japan", Toronto: "Canada", Vancouver: "Canada", Vienna: "Austria", Warsaw: "Poland", Zurich: "Switzerland",
};

const LOCATION_WORDS = ["city", "location", "place", "town", "destination", "origin", "address", "where", "venue", "region", "area"];
const PERSON_WORDS = ["name", "person", "author", "user", "username", "who", "recipient", "sender", "contact", "owner"];
const FREE_TEXT_WORDS = ["query", "q", "search", "prompt", "question", "text", "input", "message", "content", "topic", "subject", "keywords", "keyword", "term", "terms", "expression", "request", "instruction", "instructions"];

/**
 * A value valid against `schema`, deterministic for the same schema and hints.
 * hints: {text (words to draw values from: capitalised words for city/location/name, numbers for numeric
 * properties, a mentioned enum value), name (the property name), root (the schema $ref / $defs resolve
 * against; default `schema`)}.
 * Handles $ref / $defs / definitions, allOf (merged), anyOf / oneOf (the first non-null choice), const, enum,
 * default (a non-null one), nullable types (["string", "null"]), objects (every property when shallow, the
 * required ones deeper; additionalProperties false respected), arrays (minItems / maxItems / uniqueItems,
 * prefixItems), minimum / maximum / exclusive bounds / multipleOf, minLength / maxLength, pattern (best
 * effort), formats date, date-time, time, email, uri, uuid, ipv4, ipv6, hostname, duration.
 */
export function valueForSchema(schema, hints = {}) {
  const text = String(hints.text ?? "");
  const ctx = {
    root: hints.root ?? schema,
    text,
    phrases: capitalisedPhrases(text),
    place: placeOf(text),
    numbers: numbersIn(text),
    usedNumbers: 0,
  };
  return gen(schema, ctx, hints.name ?? "", 0, undefined);
}

function refTarget(ref, root) {
  if (typeof ref !== "string" || !ref.startsWith("#")) return {};
  if (ref === "#") return root;
  let node = root;
  for (const raw of ref.slice(1).split("/").filter((x, i) => i > 0 || x !== "")) {
    const key = decodeURIComponent(raw).replace(/~1/g, "/").replace(/~0/g, "~");
    if (!node || typeof node !== "object" || !(key in node)) return {};
    node = node[key];
  }
  return node ?? {};
}

function mergeSchemas(a, b) {
  const out = { ...b, ...a };
  if (a.properties || b.properties) out.properties = { ...(b.properties ?? {}), ...(a.properties ?? {}) };
  if (a.required || b.required) out.required = [...new Set([...(a.required ?? []), ...(b.required ?? [])])];
  if (a.type && b.type && a.type !== b.type) {
    const ta = [a.type].flat();
    const tb = [b.type].flat();
    const both = ta.filter((t) => tb.includes(t) || (t === "integer" && tb.includes("number")));
    out.type = both.length ? (both.length === 1 ? both[0] : both) : a.type;
  }
  for (const k of ["minimum", "exclusiveMinimum", "minLength", "minItems", "minProperties"]) {
    if (a[k] !== undefined && b[k] !== undefined) out[k] = Math.max(a[k], b[k]);
  }
  for (const k of ["maximum", "exclusiveMaximum", "maxLength", "maxItems", "maxProperties"]) {
    if (a[k] !== undefined && b[k] !== undefined) out[k] = Math.min(a[k], b[k]);
  }
  return out;
}

/** $ref followed (siblings kept), allOf merged: a schema without either. */
function resolve(schema, ctx, depth = 0) {
  if (schema === true || schema === undefined || schema === null) return {};
  if (schema === false || typeof schema !== "object") return {};
  let s = schema;
  for (let i = 0; s.$ref !== undefined && i < 32; i++) {
    const { $ref, ...rest } = s;
    const target = refTarget($ref, ctx.root);
    s = { ...(typeof target === "object" ? target : {}), ...rest };
  }
  if (Array.isArray(s.allOf) && depth < 16) {
    const { allOf, ...rest } = s;
    let merged = rest;
    for (const part of allOf) merged = mergeSchemas(merged, resolve(part, ctx, depth + 1));
    s = depth < 15 && (merged.$ref !== undefined || Array.isArray(merged.allOf)) ? resolve(merged, ctx, depth + 1) : merged;
  }
  return s;
}

const isNullSchema = (s) => s.type === "null" || (Array.isArray(s.type) && s.type.length === 1 && s.type[0] === "null") || (s.const === null) || (Array.isArray(s.enum) && s.enum.length === 1 && s.enum[0] === null);

function typeOf(s) {
  if (Array.isArray(s.type)) return s.type.find((t) => t !== "null") ?? "null";
  if (typeof s.type === "string") return s.type;
  if (s.properties || s.required || s.additionalProperties !== undefined || s.patternProperties) return "object";
  if (s.items !== undefined || s.prefixItems) return "array";
  if (s.minimum !== undefined || s.maximum !== undefined || s.exclusiveMinimum !== undefined || s.exclusiveMaximum !== undefined || s.multipleOf !== undefined) return "number";
  return "string";
}

function gen(schema, ctx, name, depth, index) {
  const s = resolve(schema, ctx);
  if (depth > 24) return minimal(s);
  if ("const" in s) return s.const;
  if (Array.isArray(s.enum) && s.enum.length) return pickEnum(s.enum, ctx, index);
  const alts = Array.isArray(s.anyOf) ? s.anyOf : Array.isArray(s.oneOf) ? s.oneOf : null;
  if (alts) {
    const { anyOf, oneOf, ...rest } = s;
    const choice = alts.map((a) => resolve(a, ctx)).find((a) => !isNullSchema(a));
    if (!choice) return null;
    // the choice with the outer schema's own constraints (type, properties, required, default ...)
    return gen(mergeSchemas(choice, rest), ctx, name, depth + 1, index);
  }
  if (s.default !== undefined && s.default !== null && index === undefined) return structuredClone(s.default);
  switch (typeOf(s)) {
    case "null":
      return null;
    case "boolean":
      return true;
    case "integer":
      return numberFor(s, ctx, name, true, index);
    case "number":
      return numberFor(s, ctx, name, false, index);
    case "array":
      return arrayFor(s, ctx, name, depth);
    case "object":
      return objectFor(s, ctx, depth);
    default:
      return stringFor(s, ctx, name, index);
  }
}

/** The smallest valid-looking value (when nesting goes too deep). */
function minimal(s) {
  if ("const" in s) return s.const;
  if (Array.isArray(s.enum) && s.enum.length) return s.enum[0];
  if (Array.isArray(s.type) && s.type.includes("null")) return null;
  switch (typeOf(s)) {
    case "object":
      return {};
    case "array":
      return [];
    case "integer":
    case "number":
      return s.minimum ?? 0;
    case "boolean":
      return false;
    case "null":
      return null;
    default:
      return "x".repeat(s.minLength ?? 0);
  }
}

function pickEnum(values, ctx, index) {
  const lower = ctx.text.toLowerCase();
  const mentioned = values.filter((v) => typeof v === "string" && v && new RegExp(`\\b${v.toLowerCase().replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}\\b`).test(lower));
  if (index !== undefined) return values[index % values.length];
  return mentioned.length ? mentioned[0] : values.find((v) => v !== null) ?? values[0];
}

function numberFor(s0, ctx, name, integer, index) {
  // draft-4 style boolean exclusiveMinimum / exclusiveMaximum → the numeric form
  const s = { ...s0 };
  if (s.exclusiveMinimum === true) [s.exclusiveMinimum, s.minimum] = [s.minimum, undefined];
  if (s.exclusiveMaximum === true) [s.exclusiveMaximum, s.maximum] = [s.maximum, undefined];
  if (typeof s.exclusiveMinimum !== "number") delete s.exclusiveMinimum;
  if (typeof s.exclusiveMaximum !== "number") delete s.exclusiveMaximum;
  const lo = s.exclusiveMinimum;
  const hi = s.exclusiveMaximum;
  const min = s.minimum;
  const max = s.maximum;
  const ok = (v) =>
    Number.isFinite(v) &&
    (!integer || Number.isInteger(v)) &&
    (min === undefined || v >= min) &&
    (max === undefined || v <= max) &&
    (lo === undefined || v > lo) &&
    (hi === undefined || v < hi) &&
    (!s.multipleOf || Math.abs(v / s.multipleOf - Math.round(v / s.multipleOf)) < 1e-9);
  // a number of the user's text, in order
  while (ctx.usedNumbers < ctx.numbers.length) {
    const v = ctx.numbers[ctx.usedNumbers++];
    if (ok(v)) return v;
  }
  const words = nameWords(name);
  const has = (...ws) => ws.some((w) => words.includes(w));
  let v;
  if (has("year")) v = 2025;
  else if (has("month")) v = 6;
  else if (has("day")) v = 15;
  else if (has("hour", "hours")) v = 12;
  else if (has("age")) v = 30;
  else if (has("latitude", "lat")) v = 48.8566;
  else if (has("longitude", "lon", "lng")) v = 2.3522;
  else if (has("price", "amount", "cost", "total")) v = integer ? 10 : 9.99;
  else if (has("percent", "percentage")) v = 50;
  else if (has("page", "offset", "index")) v = has("offset", "index") ? 0 : 1;
  else if (has("rating", "score", "stars")) v = 4;
  else if (has("temperature", "temp")) v = 21;
  else v = 1 + (sha(name || "n")[0] % 9) + (integer ? 0 : 0.5);
  if (index !== undefined) v += index;
  if (integer) v = Math.round(v);
  return clampNumber(v, s, integer, ok);
}

function clampNumber(v, s, integer, ok) {
  if (ok(v)) return v;
  const step = s.multipleOf || (integer ? 1 : 0);
  let lower = s.minimum ?? (typeof s.exclusiveMinimum === "number" ? s.exclusiveMinimum + (step || 0.5) : undefined);
  let upper = s.maximum ?? (typeof s.exclusiveMaximum === "number" ? s.exclusiveMaximum - (step || 0.5) : undefined);
  if (lower !== undefined && upper !== undefined && lower > upper) upper = lower;
  let x = Math.min(Math.max(v, lower ?? -Infinity), upper ?? Infinity);
  if (step) {
    x = Math.ceil(x / step - 1e-9) * step;
    if (upper !== undefined && x > upper) x = Math.floor(upper / step + 1e-9) * step;
    x = Number(x.toFixed(10));
  }
  if (integer) x = Math.ceil(x);
  if (ok(x)) return x;
  // a middle point as a last try
  if (lower !== undefined && upper !== undefined) {
    const mid = integer ? Math.ceil((lower + upper) / 2) : (lower + upper) / 2;
    if (ok(mid)) return mid;
  }
  return x;
}

function formatValue(format, ctx) {
  switch (format) {
    case "date":
      return /\b\d{4}-\d{2}-\d{2}\b/.exec(ctx.text)?.[0] ?? "2025-06-15";
    case "date-time":
      return (/\b\d{4}-\d{2}-\d{2}\b/.exec(ctx.text)?.[0] ?? "2025-06-15") + "T12:00:00Z";
    case "time":
      return "12:00:00";
    case "email":
    case "idn-email":
      return /[\w.+-]+@[\w-]+(\.[\w-]+)+/.exec(ctx.text)?.[0] ?? "user@example.com";
    case "uri":
    case "url":
    case "iri":
    case "uri-reference":
      return /https?:\/\/[^\s"'<>]+/.exec(ctx.text)?.[0] ?? "https://example.com/";
    case "uuid": {
      const h = sha("uuid", ctx.text).toString("hex");
      return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
    }
    case "ipv4":
      return "192.0.2.1";
    case "ipv6":
      return "2001:db8::1";
    case "hostname":
    case "idn-hostname":
      return "example.com";
    case "duration":
      return "PT1H";
    default:
      return undefined;
  }
}

function stringFor(s, ctx, name, index) {
  let v = s.format ? formatValue(s.format, ctx) : undefined;
  const words = nameWords(name);
  const has = (list) => words.some((w) => list.includes(w));
  if (v === undefined && name) {
    // "<name> is X" / "<name>: X" / "<name> = X" in the text
    const re = new RegExp(`\\b${nameWords(name).join("[ _-]?")}\\s*(?:is|=|:)\\s*("[^"]+"|[\\w.@/+-]+)`, "i");
    const m = words.length ? re.exec(ctx.text) : null;
    if (m) v = m[1].replace(/^"|"$/g, "");
  }
  if (v === undefined && has(["email"])) v = formatValue("email", ctx);
  if (v === undefined && has(["url", "uri", "link", "website", "homepage"])) v = formatValue("uri", ctx);
  if (v === undefined && has(["datetime", "timestamp"])) v = formatValue("date-time", ctx);
  if (v === undefined && has(["date", "birthday", "deadline"])) v = formatValue("date", ctx);
  if (v === undefined && has(["file", "filename", "path"])) v = words.includes("path") ? "/tmp/example.txt" : "example.txt";
  if (v === undefined && has(LOCATION_WORDS)) {
    const phrases = ctx.phrases;
    if (index !== undefined && phrases.length) v = phrases[index % phrases.length];
    else v = words.includes("city") || words.includes("town") ? phrases.find((p) => !COUNTRIES.includes(p)) : ctx.place;
    v ??= "Paris";
  }
  if (v === undefined && has(["country"])) {
    v = ctx.phrases.find((p) => COUNTRIES.includes(p)) ?? ctx.phrases.map((p) => CITY_COUNTRY[p]).find(Boolean) ?? "France";
  }
  if (v === undefined && has(["state", "province"])) v = /,\s*(.+)$/.exec(ctx.place ?? "")?.[1] ?? "California";
  if (v === undefined && has(PERSON_WORDS)) {
    v = index !== undefined && ctx.phrases.length ? ctx.phrases[index % ctx.phrases.length] : ctx.phrases[0] ?? "Ada Lovelace";
  }
  if (v === undefined && has(["language", "lang", "locale"])) v = words.includes("locale") ? "en-US" : "English";
  if (v === undefined && has(["currency"])) v = "USD";
  if (v === undefined && has(["timezone", "tz"])) v = "UTC";
  if (v === undefined && has(["id", "identifier", "key", "code", "sku"])) v = `${words[0] ?? "id"}-${stableId([name, ctx.text, index], 8).toLowerCase()}`;
  if (v === undefined && has(FREE_TEXT_WORDS) && ctx.text.trim()) v = snippet(ctx.text, 200);
  if (v === undefined) {
    const t = snippet(ctx.text);
    const label = name ? title(name) : "Answer";
    v = index !== undefined ? `${label} ${index + 1}` + (t ? `: ${t}` : "") : t ? `${label}: ${t}` : label.toLowerCase();
  }
  v = String(v);
  if (s.maxLength !== undefined && v.length > s.maxLength) v = v.slice(0, s.maxLength);
  if (s.minLength !== undefined && v.length < s.minLength) v = v.padEnd(s.minLength, v ? "." : "x");
  if (typeof s.pattern === "string") {
    let re = null;
    try {
      re = new RegExp(s.pattern, "u");
    } catch {}
    if (re && !re.test(v)) {
      const candidates = [v.toLowerCase(), v.toUpperCase(), v.replace(/\s+/g, "_"), v.replace(/[^A-Za-z0-9]/g, ""), "2025-06-15", "12:00", "abc", "ABC", "a1", "A1", "123", "1", "a", "x", "example", "user@example.com", "https://example.com/", "+15555550100", ""];
      const hit = candidates.find((c) => re.test(c) && (s.minLength === undefined || c.length >= s.minLength) && (s.maxLength === undefined || c.length <= s.maxLength));
      if (hit !== undefined) v = hit;
    }
  }
  return v;
}

function arrayFor(s, ctx, name, depth) {
  const min = s.minItems ?? 0;
  const max = s.maxItems ?? Infinity;
  const out = [];
  const prefix = Array.isArray(s.prefixItems) ? s.prefixItems : Array.isArray(s.items) ? s.items : [];
  for (const p of prefix) if (out.length < max) out.push(gen(p, ctx, name, depth + 1, undefined));
  const itemSchema = prefix.length ? (Array.isArray(s.items) ? s.additionalItems : s.items) ?? {} : s.items ?? {};
  if (itemSchema === false) return out;
  const item = resolve(itemSchema, ctx);
  let want;
  if (prefix.length) want = Math.max(min, out.length);
  else {
    const numeric = ["number", "integer"].includes(typeOf(item)) && !item.enum && !("const" in item) && !item.anyOf && !item.oneOf;
    want = Math.max(min, depth < 3 ? 2 : depth < 6 ? 1 : 0);
    // "add 3, 5 and 8" → all the numbers of the text
    if (numeric && ctx.numbers.length - ctx.usedNumbers >= 2) want = Math.max(min, ctx.numbers.length - ctx.usedNumbers);
    if (Array.isArray(item.enum) && s.uniqueItems) want = Math.min(want, item.enum.length);
  }
  want = Math.min(want, max);
  const seen = new Set(out.map((x) => JSON.stringify(x)));
  for (let tries = 0; out.length < want && tries < want * 4 + 4; tries++) {
    let v = gen(itemSchema, ctx, singular(name), depth + 1, tries);
    if (s.uniqueItems && seen.has(JSON.stringify(v)) && typeof v === "string") v = `${v} (${out.length + 1})`;
    const key = JSON.stringify(v);
    if (s.uniqueItems && seen.has(key)) continue;
    seen.add(key);
    out.push(v);
  }
  return out;
}

const singular = (name) => (/ies$/.test(name) ? name.replace(/ies$/, "y") : /ses$/.test(name) ? name.replace(/es$/, "") : /[^s]s$/.test(name) ? name.slice(0, -1) : name);

function objectFor(s, ctx, depth) {
  const props = isObj(s.properties) ? s.properties : {};
  const required = Array.isArray(s.required) ? s.required : [];
  const out = {};
  const maxProps = s.maxProperties ?? Infinity;
  // required ones first (maxProperties never drops them), then the optional ones while shallow
  for (const name of required) out[name] = gen(props[name] ?? (isObj(s.additionalProperties) ? s.additionalProperties : {}), ctx, name, depth + 1, undefined);
  for (const name of Object.keys(props)) {
    if (name in out || props[name] === false) continue;
    if (depth >= 3 || Object.keys(out).length >= maxProps) continue;
    out[name] = gen(props[name], ctx, name, depth + 1, undefined);
  }
  // a map (no properties; additionalProperties / patternProperties a schema): one entry while shallow,
  // more when minProperties asks
  const ap = s.additionalProperties;
  const noProps = !Object.keys(props).length;
  const pattern = isObj(s.patternProperties) ? Object.entries(s.patternProperties)[0] : null;
  const mapSchema = isObj(ap) ? ap : ap === false ? null : pattern ? null : {};
  const want = Math.min(maxProps, Math.max(s.minProperties ?? 0, noProps && depth < 3 && (isObj(ap) || pattern) ? 1 : 0));
  for (let i = 0; Object.keys(out).length < want && i < want + 8; i++) {
    if (pattern) {
      const key = keyFor(pattern[0], i);
      if (!(key in out)) out[key] = gen(pattern[1], ctx, key, depth + 1, undefined);
    } else if (mapSchema) {
      const key = i === 0 ? "example" : `example_${i + 1}`;
      if (!(key in out)) out[key] = gen(mapSchema, ctx, key, depth + 1, undefined);
    } else break;
  }
  return out;
}

function keyFor(pattern, i) {
  let re = null;
  try {
    re = new RegExp(pattern, "u");
  } catch {}
  for (const c of [`key${i + 1}`, `x-key${i + 1}`, `K${i + 1}`, `${i + 1}`, `a${i + 1}`]) if (!re || re.test(c)) return c;
  return `key${i + 1}`;
}

// ---------------------------------------------------------------- a request, read the same way for every API

/**
 * What a request says, per API: {api, model, userText, tools: [{name, description, schema}], choice: {mode:
 * "auto" | "any" | "tool" | "none", name?}, results: [{id, name, content, error}] (tool results the last
 * message carries), schema: {schema, name} | null, jsonObject, thinking, maxTokens, inputChars}.
 */
export function conversationOf(api, body, { model } = {}) {
  const b = isObj(body) ? body : {};
  switch (api) {
    case "converse":
      return converseConversation(b, model);
    case "anthropic":
      return anthropicConversation(b, model);
    case "openai-chat":
      return chatConversation(b, model ?? b.model);
    case "openai-responses":
      return responsesConversation(b, model ?? b.model);
    default:
      throw new Error(`unknown api ${api}`);
  }
}

const parseSchema = (s) => {
  if (typeof s === "string") {
    try {
      return JSON.parse(s);
    } catch {
      return null;
    }
  }
  return isObj(s) ? s : null;
};

function converseConversation(b, model) {
  const messages = Array.isArray(b.messages) ? b.messages : [];
  const blocks = (m) => (Array.isArray(m?.content) ? m.content : []);
  let userText = "";
  for (let i = messages.length - 1; i >= 0; i--) {
    const m = messages[i];
    const texts = blocks(m).filter((c) => typeof c?.text === "string").map((c) => c.text);
    if (m?.role === "user" && texts.length) {
      userText = texts.join(" ");
      break;
    }
  }
  const names = new Map();
  for (const m of messages) for (const c of blocks(m)) if (c?.toolUse?.toolUseId) names.set(c.toolUse.toolUseId, c.toolUse.name);
  const last = messages[messages.length - 1];
  const results =
    last?.role === "user"
      ? blocks(last)
          .filter((c) => isObj(c?.toolResult))
          .map((c) => ({
            id: c.toolResult.toolUseId,
            name: names.get(c.toolResult.toolUseId) ?? null,
            error: c.toolResult.status === "error",
            content: (Array.isArray(c.toolResult.content) ? c.toolResult.content : [])
              .map((x) => (typeof x?.text === "string" ? x.text : x?.json !== undefined ? JSON.stringify(x.json) : ""))
              .filter(Boolean)
              .join(" "),
          }))
      : [];
  const tc = b.toolConfig ?? {};
  const tools = (Array.isArray(tc.tools) ? tc.tools : [])
    .filter((t) => t?.toolSpec?.name)
    .map((t) => ({ name: t.toolSpec.name, description: t.toolSpec.description ?? "", schema: parseSchema(t.toolSpec.inputSchema?.json) ?? {} }));
  const ch = tc.toolChoice ?? {};
  const choice = ch.any ? { mode: "any" } : ch.tool ? { mode: "tool", name: ch.tool.name } : { mode: "auto" };
  const js = b.outputConfig?.textFormat?.structure?.jsonSchema;
  const schema = js && b.outputConfig.textFormat.type !== "text" ? { schema: parseSchema(js.schema) ?? {}, name: js.name ?? null } : null;
  const f = isObj(b.additionalModelRequestFields) ? b.additionalModelRequestFields : {};
  const on = (v) => v !== undefined && v !== null && v !== false && v !== "disabled" && v !== "none" && !(isObj(v) && (v.type === "disabled" || v.type === "none"));
  const thinking =
    (isObj(f.thinking) && ["enabled", "adaptive"].includes(f.thinking.type)) ||
    on(f.reasoning_config) ||
    (isObj(f.reasoningConfig) && f.reasoningConfig.type === "enabled") ||
    on(f.reasoning_effort);
  return {
    api: "converse",
    model,
    userText,
    tools,
    choice,
    results,
    schema,
    jsonObject: false,
    thinking,
    maxTokens: b.inferenceConfig?.maxTokens,
    inputChars: textLength([b.system, messages, tc.tools ?? []]),
  };
}

/** The text of Anthropic content (a string or blocks; untyped `{text}` blocks too, as Nova's native body has). */
const anthropicText = (content) =>
  typeof content === "string"
    ? content
    : Array.isArray(content)
      ? content.filter((c) => (c?.type === "text" || c?.type === undefined) && typeof c?.text === "string").map((c) => c.text).join(" ")
      : "";

function anthropicConversation(b, model) {
  const messages = Array.isArray(b.messages) ? b.messages : [];
  let userText = "";
  for (let i = messages.length - 1; i >= 0; i--) {
    const m = messages[i];
    if (m?.role !== "user") continue;
    const t = anthropicText(m.content);
    if (typeof m.content === "string" || (Array.isArray(m.content) && m.content.some((c) => typeof c?.text === "string" && (c.type === "text" || c.type === undefined)))) {
      userText = t;
      break;
    }
  }
  if (!messages.length && typeof b.prompt === "string") userText = b.prompt.replace(/^\s*Human:\s*/, "").replace(/\s*Assistant:\s*$/, "");
  const names = new Map();
  for (const m of messages) for (const c of Array.isArray(m?.content) ? m.content : []) if (c?.type === "tool_use") names.set(c.id, c.name);
  const last = messages[messages.length - 1];
  const results =
    last?.role === "user" && Array.isArray(last.content)
      ? last.content
          .filter((c) => c?.type === "tool_result")
          .map((c) => ({ id: c.tool_use_id, name: names.get(c.tool_use_id) ?? null, error: c.is_error === true, content: anthropicText(c.content) }))
      : [];
  const tools = (Array.isArray(b.tools) ? b.tools : [])
    .filter((t) => t?.name && (t.type === undefined || t.type === null || t.type === "custom") && t.input_schema)
    .map((t) => ({ name: t.name, description: t.description ?? "", schema: isObj(t.input_schema) ? t.input_schema : {} }));
  const tc = b.tool_choice ?? {};
  const choice = tc.type === "any" ? { mode: "any" } : tc.type === "tool" ? { mode: "tool", name: tc.name } : tc.type === "none" ? { mode: "none" } : { mode: "auto" };
  const fmt = isObj(b.output_config?.format) ? b.output_config.format : isObj(b.output_format) ? b.output_format : null;
  const schema = fmt && fmt.type === "json_schema" ? { schema: parseSchema(fmt.schema) ?? {}, name: fmt.name ?? null } : null;
  return {
    api: "anthropic",
    model,
    userText,
    tools,
    choice,
    results,
    schema,
    jsonObject: false,
    thinking: isObj(b.thinking) && ["enabled", "adaptive"].includes(b.thinking.type),
    maxTokens: b.max_tokens,
    inputChars: textLength([b.system, messages, b.tools ?? [], b.prompt]),
  };
}

const openaiText = (content) =>
  typeof content === "string"
    ? content
    : Array.isArray(content)
      ? content.filter((p) => p && ["text", "input_text", "output_text"].includes(p.type) && typeof p.text === "string").map((p) => p.text).join(" ")
      : "";

function openaiChoice(tc, kind) {
  if (tc === "none") return { mode: "none" };
  if (tc === "required") return { mode: "any" };
  if (isObj(tc) && tc.type === "function") return { mode: "tool", name: kind === "chat" ? tc.function?.name : tc.name };
  if (isObj(tc) && tc.type === "allowed_tools") {
    const a = kind === "chat" ? tc.allowed_tools ?? {} : tc;
    const allowed = (a.tools ?? []).filter((t) => t?.type === "function").map((t) => (kind === "chat" ? t.function?.name : t.name) ?? t.name);
    return { mode: a.mode === "required" ? "any" : "auto", allowed };
  }
  return { mode: "auto" };
}

function chatConversation(b, model) {
  const messages = Array.isArray(b.messages) ? b.messages : [];
  let userText = "";
  for (let i = messages.length - 1; i >= 0; i--) {
    if (messages[i]?.role === "user") {
      userText = openaiText(messages[i].content);
      break;
    }
  }
  const names = new Map();
  for (const m of messages) for (const c of Array.isArray(m?.tool_calls) ? m.tool_calls : []) names.set(c?.id, c?.function?.name);
  const results = [];
  for (let i = messages.length - 1; i >= 0 && (messages[i]?.role === "tool" || messages[i]?.role === "function"); i--) {
    const m = messages[i];
    results.unshift({ id: m.tool_call_id ?? null, name: m.role === "function" ? m.name : names.get(m.tool_call_id) ?? null, error: false, content: openaiText(m.content) });
  }
  const tools = (Array.isArray(b.tools) ? b.tools : [])
    .filter((t) => t?.type === "function" && t.function?.name)
    .map((t) => ({ name: t.function.name, description: t.function.description ?? "", schema: isObj(t.function.parameters) ? t.function.parameters : {} }));
  const rf = b.response_format;
  const schema = isObj(rf) && rf.type === "json_schema" ? { schema: parseSchema(rf.json_schema?.schema) ?? {}, name: rf.json_schema?.name ?? null } : null;
  return {
    api: "openai-chat",
    model,
    userText,
    tools,
    choice: openaiChoice(b.tool_choice, "chat"),
    results,
    schema,
    jsonObject: isObj(rf) && rf.type === "json_object",
    thinking: false,
    maxTokens: b.max_completion_tokens ?? b.max_tokens,
    inputChars: textLength([messages, b.tools ?? []]),
  };
}

/** `body.input` may be preceded by `history` (items of a previous_response_id), as openai.mjs keeps them. */
function responsesConversation(b, model) {
  const items = [...(Array.isArray(b.history) ? b.history : []), ...(typeof b.input === "string" ? [{ type: "message", role: "user", content: b.input }] : Array.isArray(b.input) ? b.input : [])];
  let userText = "";
  for (let i = items.length - 1; i >= 0; i--) {
    const it = items[i];
    if (it && (it.type === undefined || it.type === "message") && it.role === "user") {
      userText = openaiText(it.content);
      break;
    }
  }
  const names = new Map();
  for (const it of items) if (it?.type === "function_call") names.set(it.call_id, it.name);
  const results = [];
  for (let i = items.length - 1; i >= 0 && items[i]?.type === "function_call_output"; i--) {
    const it = items[i];
    results.unshift({ id: it.call_id, name: names.get(it.call_id) ?? null, error: false, content: typeof it.output === "string" ? it.output : openaiText(it.output) });
  }
  const tools = (Array.isArray(b.tools) ? b.tools : [])
    .filter((t) => t?.type === "function" && typeof t.name === "string")
    .map((t) => ({ name: t.name, description: t.description ?? "", schema: isObj(t.parameters) ? t.parameters : {} }));
  const fmt = b.text?.format;
  const schema = isObj(fmt) && fmt.type === "json_schema" ? { schema: parseSchema(fmt.schema) ?? {}, name: fmt.name ?? null } : null;
  return {
    api: "openai-responses",
    model,
    userText,
    tools,
    choice: openaiChoice(b.tool_choice, "responses"),
    results,
    schema,
    jsonObject: isObj(fmt) && fmt.type === "json_object",
    thinking: false,
    maxTokens: b.max_output_tokens,
    inputChars: textLength([b.instructions, items, b.tools ?? []]),
  };
}

// ---------------------------------------------------------------- deciding what to answer

/** Generic words of tool names that say nothing about what the tool does. */
const GENERIC_NAME_WORDS = new Set(
  "get set fetch list find lookup look query search run call do make create update delete remove add read write load save send check retrieve compute calculate tool tools func function fn api info data current the a an of for by to from with".split(" "),
);

/** The same word, give or take a plural: weather / weather, city / cities, price / prices, box / boxes. */
export function sameWord(a, b) {
  const forms = (w) => [w, `${w}s`, `${w}es`, w.replace(/y$/, "ies")];
  return forms(a).includes(b) || forms(b).includes(a);
}

/**
 * How strongly the user's text asks for a tool: 2 when it names the tool (`get_weather`, "get weather"),
 * plus 1 per word of the name that is not generic (`weather`, not `get`; plural or singular) found in the
 * text. 0: the tool is not asked for.
 */
export function toolMatchScore(tool, text) {
  const lower = String(text ?? "").toLowerCase();
  const words = nameWords(tool.name);
  if (!words.length) return 0;
  const full = new RegExp(`(^|[^a-z0-9])${words.join("[\\s_.-]*")}([^a-z0-9]|$)`);
  let score = full.test(lower) || lower.includes(String(tool.name).toLowerCase()) ? 2 : 0;
  const textWords = lower.match(/[a-z0-9]+/g) ?? [];
  for (const w of words) if (w.length >= 3 && !GENERIC_NAME_WORDS.has(w) && textWords.some((t) => sameWord(w, t))) score += 1;
  return score;
}

/**
 * The one tool the answer calls, or null: none when `choice.mode` is "none"; when the last message carries
 * tool results only a forced choice calls again; "tool" → that tool; "any" → the best match or the first
 * tool; "auto" → the best-matching tool (score > 0; ties: the first offered).
 */
export function chooseTool(conv) {
  let tools = conv.tools;
  if (Array.isArray(conv.choice.allowed)) tools = tools.filter((t) => conv.choice.allowed.includes(t.name));
  if (!tools.length || conv.choice.mode === "none") return null;
  if (conv.choice.mode === "tool") return tools.find((t) => t.name === conv.choice.name) ?? tools[0];
  let best = null;
  let bestScore = 0;
  for (const t of tools) {
    const sc = toolMatchScore(t, conv.userText);
    if (sc > bestScore) [best, bestScore] = [t, sc];
  }
  if (conv.choice.mode === "any") return best ?? tools[0];
  if (conv.results.length) return null;
  return best;
}

/** The opaque, deterministic signature of a reasoning text (base64 of 96 bytes). */
export function reasoningSignature(model, text) {
  const a = sha("signature", model ?? "", text);
  const b2 = sha(a, "2");
  const c = sha(b2, "3");
  return Buffer.concat([a, b2, c]).toString("base64");
}

/** Cuts a text to about `maxTokens` tokens (4 characters each), at a word boundary when there is one. */
export function limitText(text, maxTokens) {
  if (!Number.isInteger(maxTokens) || maxTokens <= 0 || tokensFor(text.length) <= maxTokens) return { text, cut: false };
  const n = maxTokens * 4;
  let t = text.slice(0, n);
  const sp = t.search(/\s\S*$/);
  if (sp > 0 && sp > n / 2) t = t.slice(0, sp);
  return { text: t, cut: true };
}

/**
 * The answer a request gets in model mode:
 * {model, kind: "tool" | "json" | "text", text, toolCall: {id, name, input, arguments (JSON string)} | null,
 * reasoning: {text, signature} | null, stop: "end_turn" | "tool_use" | "max_tokens",
 * usage: {input, output}, conversation}.
 * `api` is "converse" | "anthropic" | "openai-chat" | "openai-responses"; `opts.model` the model id to name
 * (the path's id on Bedrock; OpenAI: the body's `model`). Deterministic: the same request, the same answer.
 */
export function answerFor(api, body, opts = {}) {
  const conv = conversationOf(api, body, opts);
  const model = conv.model ?? "model";
  const tool = chooseTool(conv);
  const said = `You said: "${conv.userText}"`;
  let kind;
  let text = null;
  let toolCall = null;
  let plan;
  if (tool) {
    const input = valueForSchema(tool.schema, { text: [conv.userText, ...conv.results.map((r) => r.content)].join("\n") });
    const obj = isObj(input) ? input : {}; // a tool's input is an object (a schema without properties: {})
    const seed = [api, model, conv.userText, conv.results, tool.name, conv.inputChars];
    const prefix = api === "converse" ? "tooluse_" : api === "anthropic" ? "toolu_bdrk_01" : "call_";
    toolCall = { id: prefix + stableId(seed, api === "converse" ? 22 : 24), name: tool.name, input: obj, arguments: JSON.stringify(obj) };
    kind = "tool";
    plan = `The ${tool.name} tool can do what they ask, so I will call it with ${modelJson(obj)}.`;
  } else {
    const quoted = conv.results.map((r) => (r.error ? `${r.name ?? "The tool"} failed: "${r.content}"` : `From ${r.name ?? "the tool"}: "${r.content}"`));
    const resultText = quoted.join(" ");
    if (conv.schema) {
      const hintText = [conv.userText, ...conv.results.map((r) => r.content)].join("\n");
      text = modelJson(valueForSchema(conv.schema.schema, { text: hintText }));
      kind = "json";
      plan = `They want JSON matching the ${conv.schema.name ? `${conv.schema.name} ` : ""}schema.${quoted.length ? ` ${resultText}` : ""}`;
    } else if (conv.jsonObject) {
      text = modelJson({ model, you_said: conv.userText, ...(quoted.length ? { tool_results: conv.results.map((r) => r.content) } : {}) });
      kind = "json";
      plan = "They want a JSON object.";
    } else if (quoted.length) {
      text = `[${model}] ${resultText} ${said}`;
      kind = "text";
      plan = `${resultText} I will answer with that.`;
    } else {
      text = `[${model}] ${said}`;
      kind = "text";
      plan = "I will repeat their words back to them.";
    }
  }
  let stop = tool ? "tool_use" : "end_turn";
  if (text !== null) {
    const lim = limitText(text, conv.maxTokens);
    text = lim.text;
    if (lim.cut) stop = "max_tokens";
  }
  let reasoning = null;
  if (conv.thinking) {
    const rt = `The user wrote: "${snippet(conv.userText, 200)}". ${plan}`;
    reasoning = { text: rt, signature: reasoningSignature(model, rt) };
  }
  const outChars = (text?.length ?? 0) + (toolCall ? toolCall.arguments.length + toolCall.name.length : 0) + (reasoning?.text.length ?? 0);
  return {
    model,
    kind,
    text,
    toolCall,
    reasoning,
    stop,
    usage: { input: tokensFor(conv.inputChars), output: tokensFor(outChars) },
    conversation: conv,
  };
}

/** What the request record keeps about a model answer. */
export function answerSummary(a) {
  return { kind: a.kind, tool: a.toolCall?.name ?? null, reasoning: !!a.reasoning, stop: a.stop };
}

// ---------------------------------------------------------------- Bedrock renderings

const P = "abcdefghijkl"; // the `p` padding real ConverseStream events carry

/** Converse JSON for an answer. */
export function converseJsonOf(a) {
  const content = [];
  if (a.reasoning) content.push({ reasoningContent: { reasoningText: { text: a.reasoning.text, signature: a.reasoning.signature } } });
  if (a.text !== null) content.push({ text: a.text });
  if (a.toolCall) content.push({ toolUse: { toolUseId: a.toolCall.id, name: a.toolCall.name, input: a.toolCall.input } });
  const u = a.usage;
  return {
    metrics: { latencyMs: 100 + u.output * 5 },
    output: { message: { role: "assistant", content } },
    stopReason: a.stop,
    usage: { inputTokens: u.input, outputTokens: u.output, totalTokens: u.input + u.output },
  };
}

/** ConverseStream events [{type, payload}] for an answer: reasoning, then text or a tool call. */
export function converseStreamEventsOf(a) {
  const ev = [{ type: "messageStart", payload: { p: P, role: "assistant" } }];
  let i = 0;
  const delta = (delta) => ev.push({ type: "contentBlockDelta", payload: { contentBlockIndex: i, delta, p: P } });
  const stopBlock = () => ev.push({ type: "contentBlockStop", payload: { contentBlockIndex: i++, p: P } });
  if (a.reasoning) {
    for (const t of framePieces(a.reasoning.text)) delta({ reasoningContent: { text: t } });
    delta({ reasoningContent: { signature: a.reasoning.signature } });
    stopBlock();
  }
  if (a.text !== null) {
    for (const t of framePieces(a.text)) delta({ text: t });
    stopBlock();
  }
  if (a.toolCall) {
    ev.push({ type: "contentBlockStart", payload: { contentBlockIndex: i, start: { toolUse: { toolUseId: a.toolCall.id, name: a.toolCall.name } }, p: P } });
    for (const piece of charPieces(a.toolCall.arguments)) delta({ toolUse: { input: piece } });
    stopBlock();
  }
  const u = a.usage;
  ev.push({ type: "messageStop", payload: { p: P, stopReason: a.stop } });
  ev.push({ type: "metadata", payload: { metrics: { latencyMs: 100 + u.output * 5 }, p: P, usage: { inputTokens: u.input, outputTokens: u.output, totalTokens: u.input + u.output } } });
  return ev;
}

/** `us.anthropic.claude-3-7-sonnet-20250219-v1:0` → `claude-3-7-sonnet-20250219` (as answers.mjs). */
function anthropicModelName(modelId) {
  const m = /anthropic\.(claude[^:/]*?)(-v\d+)?(:\d+)?$/.exec(modelId ?? "");
  return m ? m[1] : "claude-sonnet-4-5-20250929";
}

const anthropicMsgId = () => "msg_bdrk_01" + crypto.randomBytes(12).toString("base64url").replace(/[-_]/g, "x").slice(0, 22);

function anthropicContent(a) {
  const content = [];
  if (a.reasoning) content.push({ type: "thinking", thinking: a.reasoning.text, signature: a.reasoning.signature });
  if (a.text !== null) content.push({ type: "text", text: a.text });
  if (a.toolCall) content.push({ type: "tool_use", id: a.toolCall.id, name: a.toolCall.name, input: a.toolCall.input });
  return content;
}

/** The Anthropic Messages JSON InvokeModel returns for an answer. */
export function anthropicMessageOf(a, modelId) {
  return {
    id: anthropicMsgId(),
    type: "message",
    role: "assistant",
    model: anthropicModelName(modelId),
    content: anthropicContent(a),
    stop_reason: a.stop,
    stop_sequence: null,
    usage: { input_tokens: a.usage.input, output_tokens: a.usage.output },
  };
}

/** The Anthropic stream events (InvokeModelWithResponseStream `chunk`s) for an answer. */
export function anthropicStreamEventsOf(a, modelId) {
  const ev = [
    {
      type: "message_start",
      message: { id: anthropicMsgId(), type: "message", role: "assistant", model: anthropicModelName(modelId), content: [], stop_reason: null, stop_sequence: null, usage: { input_tokens: a.usage.input, output_tokens: 1 } },
    },
  ];
  let index = 0;
  if (a.reasoning) {
    ev.push({ type: "content_block_start", index, content_block: { type: "thinking", thinking: "", signature: "" } });
    for (const t of framePieces(a.reasoning.text)) ev.push({ type: "content_block_delta", index, delta: { type: "thinking_delta", thinking: t } });
    ev.push({ type: "content_block_delta", index, delta: { type: "signature_delta", signature: a.reasoning.signature } });
    ev.push({ type: "content_block_stop", index: index++ });
  }
  if (a.text !== null) {
    ev.push({ type: "content_block_start", index, content_block: { type: "text", text: "" } });
    for (const t of framePieces(a.text)) ev.push({ type: "content_block_delta", index, delta: { type: "text_delta", text: t } });
    ev.push({ type: "content_block_stop", index: index++ });
  }
  if (a.toolCall) {
    ev.push({ type: "content_block_start", index, content_block: { type: "tool_use", id: a.toolCall.id, name: a.toolCall.name, input: {} } });
    ev.push({ type: "content_block_delta", index, delta: { type: "input_json_delta", partial_json: "" } });
    for (const piece of charPieces(a.toolCall.arguments)) ev.push({ type: "content_block_delta", index, delta: { type: "input_json_delta", partial_json: piece } });
    ev.push({ type: "content_block_stop", index: index++ });
  }
  ev.push({ type: "message_delta", delta: { stop_reason: a.stop, stop_sequence: null }, usage: { output_tokens: a.usage.output } });
  ev.push({
    type: "message_stop",
    "amazon-bedrock-invocationMetrics": { inputTokenCount: a.usage.input, outputTokenCount: a.usage.output, invocationLatency: 100 + a.usage.output * 5, firstByteLatency: 100 },
  });
  return ev;
}

/** CountTokens in model mode: the input tokens of the body it wraps (InvokeModel body or Converse messages). */
export function countTokensFor(body, modelId) {
  const input = isObj(body) ? body.input : null;
  if (isObj(input?.invokeModel) && typeof input.invokeModel.body === "string") {
    try {
      const inner = JSON.parse(Buffer.from(input.invokeModel.body, "base64").toString("utf8"));
      return tokensFor(conversationOf("anthropic", inner, { model: modelId }).inputChars);
    } catch {
      return 1;
    }
  }
  if (isObj(input?.converse)) return tokensFor(conversationOf("converse", input.converse, { model: modelId }).inputChars);
  return 1;
}
