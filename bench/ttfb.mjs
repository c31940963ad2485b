#!/usr/bin/env node
// Not a test: measures the time-to-first-byte the Worker adds in front of Bedrock (the stand-in).
//   node bench/ttfb.mjs [N]     (default N=50 per series; each series capped at 60 s)
// For converse-stream: TTFB = request start → first body bytes (first SSE chunk through the Worker,
// first event-stream frame direct). For converse: request start → whole JSON body read.
// Direct calls are signed here with @smithy/signature-v4, as an AWS SDK would sign them.
import { SignatureV4 } from "@smithy/signature-v4";
import { Sha256 } from "@aws-crypto/sha256-js";
import { startGateway, longTermHeaders, TEST_CREDENTIALS } from "../e2e/harness.mjs";

const N = Number(process.argv[2] ?? 50);
const CAP_MS = 60_000;
const MODEL = "us.amazon.nova-micro-v1:0";
const USER = [{ role: "user", content: "What is the capital of France?" }];

const signer = new SignatureV4({
  service: "bedrock",
  region: "us-east-1",
  sha256: Sha256,
  credentials: { accessKeyId: TEST_CREDENTIALS.longTerm.accessKeyId, secretAccessKey: TEST_CREDENTIALS.longTerm.secretAccessKey },
});

async function direct(standinUrl, op) {
  const u = new URL(standinUrl);
  const path = `/model/${encodeURIComponent(MODEL)}/${op}`;
  const body = JSON.stringify({ messages: [{ role: "user", content: [{ text: USER[0].content }] }] });
  const signed = await signer.sign({
    method: "POST",
    protocol: "http:",
    hostname: u.hostname,
    port: Number(u.port),
    path,
    headers: { host: u.host, "content-type": "application/json", accept: op === "converse" ? "application/json" : "application/vnd.amazon.eventstream" },
    body,
  });
  return fetch(`${standinUrl}${path}`, { method: "POST", headers: signed.headers, body });
}

function viaGateway(gw, stream) {
  return fetch(gw.url + "/v1/chat/completions", {
    method: "POST",
    headers: { "content-type": "application/json", ...longTermHeaders(gw) },
    body: JSON.stringify({ model: MODEL, messages: USER, stream }),
  });
}

/** Runs `call` and returns [ms to first body bytes, ms to end]. */
async function timeIt(call) {
  const t0 = performance.now();
  const res = await call();
  if (res.status !== 200) throw new Error(`HTTP ${res.status}: ${await res.text()}`);
  const reader = res.body.getReader();
  let first = null;
  for (;;) {
    const { done } = await reader.read();
    if (first === null) first = performance.now() - t0;
    if (done) break;
  }
  return [first, performance.now() - t0];
}

const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};
const fmt = (x) => x.toFixed(2).padStart(8);

async function series(label, calls) {
  // calls: {name: () => Promise<Response>}; interleaved so drift hits both alike.
  const results = Object.fromEntries(Object.keys(calls).map((k) => [k, { first: [], total: [] }]));
  for (const f of Object.values(calls)) for (let i = 0; i < 5; i++) await timeIt(f); // warm-up
  const start = Date.now();
  for (let i = 0; i < N && Date.now() - start < CAP_MS; i++) {
    for (const [k, f] of Object.entries(calls)) {
      const [first, total] = await timeIt(f);
      results[k].first.push(first);
      results[k].total.push(total);
    }
  }
  console.log(`\n${label} (n=${results[Object.keys(calls)[0]].first.length} each, ms)`);
  console.log(`${"".padEnd(26)}${"median".padStart(8)}${"p95".padStart(9)}`);
  for (const [k, r] of Object.entries(results)) {
    console.log(`${(k + " first byte").padEnd(26)}${fmt(pct(r.first, 50))} ${fmt(pct(r.first, 95))}`);
    console.log(`${(k + " complete").padEnd(26)}${fmt(pct(r.total, 50))} ${fmt(pct(r.total, 95))}`);
  }
  return results;
}

const gw = await startGateway();
try {
  const s = await series("converse-stream (default recorded stream, 33 frames)", {
    direct: () => direct(gw.standin.url, "converse-stream"),
    worker: () => viaGateway(gw, true),
  });
  const m = (r) => pct(r.first, 50);
  console.log(`stream TTFB: worker ${m(s.worker).toFixed(2)} ms vs direct ${m(s.direct).toFixed(2)} ms → added ${(m(s.worker) - m(s.direct)).toFixed(2)} ms (median), ratio ${(m(s.worker) / m(s.direct)).toFixed(2)}x; p95 added ${(pct(s.worker.first, 95) - pct(s.direct.first, 95)).toFixed(2)} ms`);
  const c = await series("converse (non-streaming)", {
    direct: () => direct(gw.standin.url, "converse"),
    worker: () => viaGateway(gw, false),
  });
  const t = (r) => pct(r.total, 50);
  console.log(`non-streaming latency: worker ${t(c.worker).toFixed(2)} ms vs direct ${t(c.direct).toFixed(2)} ms → added ${(t(c.worker) - t(c.direct)).toFixed(2)} ms (median), ratio ${(t(c.worker) / t(c.direct)).toFixed(2)}x; p95 added ${(pct(c.worker.total, 95) - pct(c.direct.total, 95)).toFixed(2)} ms`);
  const bad = gw.standin.requests().filter((r) => !r.signature?.ok);
  if (bad.length) console.log(`WARNING: ${bad.length} requests failed signature verification`);
} finally {
  await gw.close();
}
