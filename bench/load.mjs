#!/usr/bin/env node
// Not a test: a bounded load run through the Worker versus straight at the same stand-in.
//   node bench/load.mjs [concurrency=16] [requests=400] [seconds=30]
// Each series stops at `requests` completed requests or `seconds`, whichever comes first.
// Reports throughput (req/s) and latency percentiles for non-streaming Converse and for
// ConverseStream read to the end, and the Worker/direct ratios. Loopback only.
import { SignatureV4 } from "@smithy/signature-v4";
import { Sha256 } from "@aws-crypto/sha256-js";
import { startGateway, longTermHeaders, TEST_CREDENTIALS } from "../e2e/harness.mjs";

const CONCURRENCY = Number(process.argv[2] ?? 16);
const REQUESTS = Number(process.argv[3] ?? 400);
const SECONDS = Number(process.argv[4] ?? 30);
const MODEL = "us.amazon.nova-micro-v1:0";
const BODY = { model: MODEL, messages: [{ role: "user", content: "What is the capital of France?" }] };

const signer = new SignatureV4({
  service: "bedrock", region: "us-east-1", sha256: Sha256, uriEscapePath: true, applyChecksum: false,
  credentials: { accessKeyId: TEST_CREDENTIALS.longTerm.accessKeyId, secretAccessKey: TEST_CREDENTIALS.longTerm.secretAccessKey },
});

async function direct(standinUrl, op) {
  const url = new URL(`${standinUrl}/model/${encodeURIComponent(MODEL)}/${op}`);
  const body = JSON.stringify({ messages: [{ role: "user", content: [{ text: BODY.messages[0].content }] }] });
  const signed = await signer.sign({
    method: "POST", protocol: "http:", hostname: url.hostname, port: Number(url.port), path: url.pathname,
    headers: { host: url.host, "content-type": "application/json" }, body,
  });
  const res = await fetch(url, { method: "POST", headers: signed.headers, body });
  await res.arrayBuffer();
  if (res.status !== 200) throw new Error(`direct ${op}: ${res.status}`);
}

async function viaWorker(gw, stream) {
  const res = await fetch(gw.url + "/v1/chat/completions", {
    method: "POST",
    headers: { "content-type": "application/json", ...longTermHeaders(gw) },
    body: JSON.stringify({ ...BODY, stream }),
  });
  await res.arrayBuffer();
  if (res.status !== 200) throw new Error(`worker: ${res.status}`);
}

async function series(name, fn) {
  const latencies = [];
  const deadline = Date.now() + SECONDS * 1000;
  let started = 0;
  const t0 = performance.now();
  async function worker() {
    while (started < REQUESTS && Date.now() < deadline) {
      started++;
      const t = performance.now();
      await fn();
      latencies.push(performance.now() - t);
    }
  }
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  const secs = (performance.now() - t0) / 1000;
  latencies.sort((a, b) => a - b);
  const pct = (p) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))];
  const out = { name, n: latencies.length, rps: latencies.length / secs, p50: pct(0.5), p95: pct(0.95) };
  console.log(`${name.padEnd(28)} n=${String(out.n).padStart(4)}  ${out.rps.toFixed(0).padStart(5)} req/s  p50 ${out.p50.toFixed(2)} ms  p95 ${out.p95.toFixed(2)} ms`);
  return out;
}

const gw = await startGateway();
try {
  gw.standin.configure?.({});
  // Warm up both paths.
  for (let i = 0; i < 20; i++) { await direct(gw.standin.url, "converse"); await viaWorker(gw, false); }
  console.log(`concurrency ${CONCURRENCY}, up to ${REQUESTS} requests or ${SECONDS} s per series`);
  const d1 = await series("direct converse", () => direct(gw.standin.url, "converse"));
  const w1 = await series("edgeport converse", () => viaWorker(gw, false));
  const d2 = await series("direct converse-stream", () => direct(gw.standin.url, "converse-stream"));
  const w2 = await series("edgeport converse-stream", () => viaWorker(gw, true));
  console.log(`throughput ratio (edgeport/direct): converse ${(w1.rps / d1.rps).toFixed(2)}, stream ${(w2.rps / d2.rps).toFixed(2)}`);
  console.log(`p50 latency ratio (edgeport/direct): converse ${(w1.p50 / d1.p50).toFixed(2)}, stream ${(w2.p50 / d2.p50).toFixed(2)}`);
} finally {
  await gw.close();
}
