#!/usr/bin/env node
// Turns the recorded Bedrock cassettes (fixtures/bedrock-recorded/, VCR YAML) into plain JSON under
// fixtures/recorded/<source>/<cassette>.json, one file per cassette. Deterministic: re-running gives
// identical files. Usage: node scripts/extract-fixtures.mjs [--check]
//   --check  compare with the files on disk instead of writing; exit 1 when they differ.
import fs from "node:fs";
import path from "node:path";
import zlib from "node:zlib";
import { fileURLToPath } from "node:url";
import yaml from "js-yaml";
import { decodeFrames, looksLikeEventStream } from "../standin/eventstream.mjs";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const inDir = path.join(root, "fixtures", "bedrock-recorded");
const outDir = path.join(root, "fixtures", "recorded");
const check = process.argv.includes("--check");

const toBytes = (v) => {
  if (v == null) return null;
  if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
  if (typeof v === "string") return Buffer.from(v, "utf8");
  return null;
};

function parseJsonBytes(bytes) {
  if (!bytes || bytes.length === 0) return undefined;
  const text = bytes.toString("utf8");
  if (!/^\s*[[{"]/.test(text) && !/^\s*(-?\d|true|false|null)/.test(text)) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function headerValue(headers, name) {
  if (!headers || typeof headers !== "object") return null;
  for (const [k, v] of Object.entries(headers)) {
    if (k.toLowerCase() !== name) continue;
    const first = Array.isArray(v) ? v[0] : v;
    const s = first instanceof Uint8Array ? Buffer.from(first).toString("utf8") : first == null ? null : String(first);
    if (!s || s.includes("REDACTED")) return null;
    return s;
  }
  return null;
}

function operationOf(uri) {
  let u;
  try {
    u = new URL(uri);
  } catch {
    return { path: String(uri ?? ""), operation: "other" };
  }
  const p = u.pathname;
  const m = /^\/model\/[^/]+\/(converse|converse-stream|invoke|invoke-with-response-stream|count-tokens)$/.exec(p);
  const isAws = /\.amazonaws\.com$/.test(u.hostname);
  if (m && isAws) return { path: p + u.search, operation: m[1] };
  return { path: p + u.search, operation: "other" };
}

function extractRequest(req) {
  const { path: p, operation } = operationOf(req.uri);
  const bytes = toBytes(req.body);
  const json = parseJsonBytes(bytes);
  return {
    method: String(req.method ?? "GET").toUpperCase(),
    uri: String(req.uri ?? ""),
    path: p,
    operation,
    body: json === undefined ? null : json,
  };
}

function extractResponse(resp) {
  const status = Number(resp?.status?.code ?? resp?.status ?? 0);
  const declared = headerValue(resp?.headers, "content-type");
  if (resp && resp.parsed_body !== undefined) {
    return { status, content_type: declared ?? "application/json", json: resp.parsed_body, body_base64: null };
  }
  const bytes = toBytes(resp?.body?.string ?? resp?.body ?? resp?.content);
  if (!bytes || bytes.length === 0) {
    return { status, content_type: declared, json: null, body_base64: null };
  }
  if (looksLikeEventStream(bytes)) {
    return { status, content_type: "application/vnd.amazon.eventstream", json: null, body_base64: bytes.toString("base64") };
  }
  const json = parseJsonBytes(bytes);
  if (json !== undefined) {
    return { status, content_type: declared ?? "application/json", json, body_base64: null };
  }
  return { status, content_type: declared ?? "application/octet-stream", json: null, body_base64: bytes.toString("base64") };
}

function pairsOf(doc) {
  if (Array.isArray(doc?.interactions)) return doc.interactions.map((i) => [i.request, i.response]);
  if (Array.isArray(doc?.requests)) {
    const responses = doc.responses ?? [];
    if (responses.length !== doc.requests.length) {
      throw new Error(`requests (${doc.requests.length}) and responses (${responses.length}) differ in length`);
    }
    return doc.requests.map((r, i) => [r, responses[i]]);
  }
  throw new Error("no interactions / requests found");
}

function listCassettes() {
  const out = [];
  for (const source of fs.readdirSync(inDir).sort()) {
    const dir = path.join(inDir, source);
    if (!fs.statSync(dir).isDirectory()) continue;
    for (const name of fs.readdirSync(dir).sort()) {
      if (/\.ya?ml(\.gz)?$/.test(name)) out.push({ source, name, file: path.join(dir, name) });
    }
  }
  return out;
}

let differences = 0;
let count = 0;
for (const { source, name, file } of listCassettes()) {
  let raw = fs.readFileSync(file);
  if (name.endsWith(".gz")) raw = zlib.gunzipSync(raw);
  const doc = yaml.load(raw.toString("utf8"));
  const interactions = pairsOf(doc).map(([req, resp]) => ({ request: extractRequest(req), response: extractResponse(resp) }));
  const outName = name.replace(/\.ya?ml(\.gz)?$/, "") + ".json";
  const outFile = path.join(outDir, source, outName);
  const text = JSON.stringify({ source: `${source}/${name}`, interactions }, null, 2) + "\n";
  if (check) {
    const old = fs.existsSync(outFile) ? fs.readFileSync(outFile, "utf8") : null;
    if (old !== text) {
      differences++;
      console.log(`DIFFERS ${source}/${outName}`);
    }
  } else {
    fs.mkdirSync(path.dirname(outFile), { recursive: true });
    fs.writeFileSync(outFile, text);
  }
  count++;
  const summary = interactions
    .map(({ request, response }) => {
      let s = `${request.operation} ${response.status}`;
      if (response.content_type === "application/vnd.amazon.eventstream") {
        s += ` (${decodeFrames(Buffer.from(response.body_base64, "base64")).length} events)`;
      }
      return s;
    })
    .join(", ");
  console.log(`${source}/${outName}: ${summary}`);
}
if (check) {
  console.log(differences ? `${differences} of ${count} files differ` : `all ${count} files up to date`);
  process.exit(differences ? 1 : 0);
}
console.log(`wrote ${count} files under ${path.relative(root, outDir)}/`);
