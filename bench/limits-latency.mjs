#!/usr/bin/env node
// Not a test (not in CI): the latency the limits add. The built Worker (build/, `bash scripts/build.sh`)
// in workerd through miniflare with the Limiter Durable Object bound, the stand-in's OpenAI API as the
// upstream, all on 127.0.0.1.
//   node bench/limits-latency.mjs [N]     (default N = 300 requests per key; warm-up 30 each)
// N sequential JSON chat requests (gpt-4o-mini through one OpenAI catalog slug, the same body) for a
// gateway key without limits and for one with `rpm` + `tokens_per_day` (far above what the run uses,
// so every request is admitted), interleaved one by one so drift hits both alike. Each request's time
// is request start → whole JSON body read. A limited request waits for one Durable Object call (the
// admission) before the upstream call; its record is written after the answer (waitUntil).
// Prints the median and p90 of each and the difference (the added ms).
import { startGateway, openaiRecord } from "../e2e/harness.mjs";
import { gatewayKeyRecord, providerRecord } from "../scripts/catalog-lib.mjs";

const N = Math.min(Math.max(Number(process.argv[2] ?? 300) | 0, 1), 5000);
const WARMUP = 30;
const CAP_MS = 180_000;

const gw = await startGateway();
try {
  await gw.kv.put("provider:bench-oa", JSON.stringify(providerRecord(gw.catalogKey, "bench-oa", openaiRecord(gw.standin))));
  const keys = {
    unlimited: { key: "ek_bench_limits_none_0123456789abcdef", limits: null },
    limited: { key: "ek_bench_limits_rpm_tpd_0123456789abcd", limits: { rpm: 1_000_000, tokens_per_day: 1_000_000_000 } },
  };
  for (const [name, k] of Object.entries(keys)) {
    const { kvKey, record } = gatewayKeyRecord(k.key, { name: `bench-${name}`, providers: ["bench-oa"] });
    if (k.limits) record.limits = k.limits;
    await gw.kv.put(kvKey, JSON.stringify(record));
  }
  const body = JSON.stringify({ model: "gpt-4o-mini", messages: [{ role: "user", content: "What is the capital of France?" }], max_tokens: 32 });

  async function once(key) {
    const t0 = performance.now();
    const res = await fetch(gw.url + "/v1/chat/completions", {
      method: "POST",
      headers: { "content-type": "application/json", "x-portkey-api-key": key, "x-portkey-provider": "@bench-oa" },
      body,
    });
    const text = await res.text();
    const ms = performance.now() - t0;
    if (res.status !== 200) throw new Error(`HTTP ${res.status}: ${text.slice(0, 300)}`);
    return { ms, limited: res.headers.get("x-ratelimit-limit-requests") !== null };
  }

  for (let i = 0; i < WARMUP; i++) {
    await once(keys.unlimited.key);
    await once(keys.limited.key);
  }
  const times = { unlimited: [], limited: [] };
  const started = performance.now();
  for (let i = 0; i < N && performance.now() - started < CAP_MS; i++) {
    // Alternate which goes first, so neither always follows the other's background record.
    const order = i % 2 === 0 ? ["unlimited", "limited"] : ["limited", "unlimited"];
    for (const name of order) {
      const r = await once(keys[name].key);
      if (r.limited !== (name === "limited")) throw new Error(`${name}: x-ratelimit-* ${r.limited ? "present" : "absent"}`);
      times[name].push(r.ms);
    }
  }
  const usage = await (await fetch(gw.url + "/v1/usage", { headers: { "x-portkey-api-key": keys.limited.key } })).json();

  const q = (xs, p) => {
    const s = [...xs].sort((a, b) => a - b);
    return s[Math.min(s.length - 1, Math.max(0, Math.ceil(p * s.length) - 1))];
  };
  const stats = (xs) => ({ n: xs.length, median: q(xs, 0.5), p90: q(xs, 0.9), mean: xs.reduce((a, b) => a + b, 0) / xs.length });
  const u = stats(times.unlimited);
  const l = stats(times.limited);
  const f = (x) => x.toFixed(2).padStart(7);
  console.log(`limits latency: ${u.n} + ${l.n} sequential JSON chat requests (gpt-4o-mini via an OpenAI slug on the stand-in), loopback, workerd via miniflare`);
  console.log(`                         median      p90     mean  (ms)`);
  console.log(`key without limits     ${f(u.median)}  ${f(u.p90)}  ${f(u.mean)}`);
  console.log(`key with rpm + tpd     ${f(l.median)}  ${f(l.p90)}  ${f(l.mean)}`);
  console.log(`added by the limits    ${f(l.median - u.median)}  ${f(l.p90 - u.p90)}  ${f(l.mean - u.mean)}`);
  console.log(`(the limited key's counter: requests_today ${usage.requests_today}, tokens_reserved ${usage.tokens_reserved})`);
} finally {
  await gw.close();
}
