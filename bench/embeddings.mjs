#!/usr/bin/env node
// Not a test (not in CI): what the gateway adds to a batch of embeddings. The built Worker (build/,
// `bash scripts/build.sh`) in workerd through miniflare, the stand-in playing Bedrock, all on 127.0.0.1.
//   node bench/embeddings.mjs [ROUNDS]     (default 15 rounds after 3 warm-up rounds)
// Each round, interleaved so drift hits all alike:
//   - gateway, Titan: POST /v1/embeddings with 200 texts → 200 InvokeModel calls, 6 at a time;
//   - floor, Titan: the same 200 InvokeModel calls signed (AWS's SigV4 signer) and sent by Node straight
//     to the stand-in, 6 at a time;
//   - gateway, Cohere: 200 texts → 3 calls (96/96/8); floor: those 3 calls direct.
// Prints the median and min of each (ms) and the gateway/floor ratios.
import { startGateway } from "../e2e/harness.mjs";
import { invoke } from "../standin/testkit.mjs";

const ROUNDS = Math.min(Math.max(Number(process.argv[2] ?? 15) | 0, 1), 200);
const WARMUP = 3;
const CAP_MS = 300_000;
const TITAN = "amazon.titan-embed-text-v2:0";
const COHERE = "cohere.embed-english-v3";
const TEXTS = Array.from({ length: 200 }, (_, i) => `document number ${i}: the quick brown fox jumps over the lazy dog`);

const gw = await startGateway({ slugs: { demo: true } });
try {
  const port = gw.standin.port;
  async function viaGateway(model) {
    const t0 = performance.now();
    const res = await fetch(gw.url + "/v1/embeddings", {
      method: "POST",
      headers: { "content-type": "application/json", "x-portkey-api-key": gw.gatewayKey, "x-portkey-provider": "@demo" },
      body: JSON.stringify({ model, input: TEXTS, encoding_format: "base64" }),
    });
    const json = await res.json();
    if (res.status !== 200 || json.data.length !== TEXTS.length) throw new Error(`gateway: ${res.status}`);
    return performance.now() - t0;
  }
  /** `bodies` sent straight to the stand-in, at most 6 at once (as the gateway sends them). */
  async function direct(model, bodies) {
    const t0 = performance.now();
    let next = 0;
    const worker = async () => {
      while (next < bodies.length) {
        const r = await invoke(port, model, bodies[next++]);
        if (r.status !== 200) throw new Error(`direct: ${r.status}`);
      }
    };
    await Promise.all(Array.from({ length: 6 }, worker));
    return performance.now() - t0;
  }
  const titanBodies = TEXTS.map((t) => ({ inputText: t }));
  const cohereBodies = [0, 96, 192].map((s) => ({ texts: TEXTS.slice(s, s + 96), input_type: "search_document" }));
  const cases = {
    "gateway titan": () => viaGateway(TITAN),
    "floor titan": () => direct(TITAN, titanBodies),
    "gateway cohere": () => viaGateway(COHERE),
    "floor cohere": () => direct(COHERE, cohereBodies),
  };
  const times = Object.fromEntries(Object.keys(cases).map((k) => [k, []]));
  const started = Date.now();
  for (let round = 0; round < WARMUP + ROUNDS && Date.now() - started < CAP_MS; round++) {
    for (const [name, run] of Object.entries(cases)) {
      const ms = await run();
      if (round >= WARMUP) times[name].push(ms);
    }
    gw.standin.reset();
  }
  const median = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
  const fmt = (n) => n.toFixed(1);
  for (const [name, t] of Object.entries(times)) console.log(`${name.padEnd(15)} median ${fmt(median(t))} ms, min ${fmt(Math.min(...t))} ms (${t.length} rounds)`);
  for (const family of ["titan", "cohere"]) {
    const g = median(times[`gateway ${family}`]);
    const f = median(times[`floor ${family}`]);
    console.log(`${family}: gateway / floor = ${(g / f).toFixed(2)} (${fmt(g - f)} ms added for 200 texts)`);
  }
} finally {
  await gw.close();
}
