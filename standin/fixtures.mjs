// Loads the JSON fixtures written by scripts/extract-fixtures.mjs (fixtures/recorded/<source>/<name>.json).
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { splitFrames } from "./eventstream.mjs";

export const RECORDED_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "fixtures", "recorded");

const cache = new Map();

/** Normalises "pydantic-ai/test_x", "pydantic-ai/test_x.yaml", "pydantic-ai/test_x.json". */
export function fixtureKey(name) {
  return String(name).replace(/\.(ya?ml(\.gz)?|json)$/, "");
}

/** The whole fixture file: {source, interactions:[{request, response}]}. Throws when missing. */
export function loadFixture(name) {
  const key = fixtureKey(name);
  if (!cache.has(key)) {
    const file = path.join(RECORDED_DIR, `${key}.json`);
    if (!file.startsWith(RECORDED_DIR + path.sep)) throw new Error(`bad fixture name: ${name}`);
    if (!fs.existsSync(file)) {
      throw new Error(`fixture not found: ${key} (looked for ${file}; run node scripts/extract-fixtures.mjs)`);
    }
    cache.set(key, JSON.parse(fs.readFileSync(file, "utf8")));
  }
  return cache.get(key);
}

/** Names of all fixtures ("pydantic-ai/test_bedrock_model", ...). */
export function listFixtures() {
  if (!fs.existsSync(RECORDED_DIR)) return [];
  const out = [];
  for (const source of fs.readdirSync(RECORDED_DIR).sort()) {
    const dir = path.join(RECORDED_DIR, source);
    if (!fs.statSync(dir).isDirectory()) continue;
    for (const f of fs.readdirSync(dir).sort()) if (f.endsWith(".json")) out.push(`${source}/${f.slice(0, -5)}`);
  }
  return out;
}

function pick(name, predicate, index) {
  const fx = loadFixture(name);
  const matching = fx.interactions.filter(predicate);
  const it = matching[index ?? 0];
  if (!it) throw new Error(`fixture ${fixtureKey(name)} has no matching interaction #${index ?? 0}`);
  return it;
}

/** Raw event-stream bytes of the n-th streaming response in a fixture. */
export function fixtureStreamBytes(name, index = 0) {
  const it = pick(name, (i) => i.response.content_type === "application/vnd.amazon.eventstream" && i.response.body_base64, index);
  return Buffer.from(it.response.body_base64, "base64");
}

/** The recorded frames (Uint8Array each) of the n-th streaming response in a fixture. */
export function fixtureFrames(name, index = 0) {
  return splitFrames(fixtureStreamBytes(name, index));
}

/** {status, json} of the n-th JSON response in a fixture (optionally only for one operation). */
export function fixtureJson(name, index = 0, operation) {
  const it = pick(name, (i) => i.response.json != null && (!operation || i.request.operation === operation), index);
  return { status: it.response.status, json: it.response.json };
}

export const DEFAULT_CONVERSE_FIXTURE = "pydantic-ai/test_bedrock_model";
export const DEFAULT_STREAM_FIXTURE = "pydantic-ai/test_bedrock_model_stream";
