#!/usr/bin/env node
// The fault soak (issue 9): concurrent clients send a mix of JSON and streaming requests on
// /v1/chat/completions and /v1/messages through the real Worker in workerd, each with one fault the
// Bedrock stand-in is scripted to commit (drops, stalls, garbage, oversized frames, odd statuses,
// slow drips, 5xx, throttling, a body over the cap), drawn from a seeded random sequence.
//
// Checked per request: it ends within its budget (the timeout that applies + a margin: no hang); a
// stream ends with [DONE] (OpenAI) / message_stop (Anthropic) or an in-stream error; the outcome is
// one expected for its fault; error bodies are OpenAI- / Anthropic-shaped. Checked at the end: no
// Worker log line with a panic, a wasm trap, "Reinitializing" or "hung"; no test secret in any log
// line or body; the Worker still answers.
//
// e2e/soak.test.mjs runs it bounded (CI). By hand, bigger:
//   node bench/soak.mjs --requests 3000 --concurrency 16 --duration 600 [--seed 42]
//                       [--upstream-timeout 1500] [--idle-timeout 1000] [--margin 4000] [--json out.json]
//                       [--faults "kind,kind"] [--exclude "kind,kind"] [--list]
import { fileURLToPath } from "node:url";
import { startGateway, longTermHeaders, sseData, secretLeaks, isolateFailures, postEarly } from "../e2e/harness.mjs";

export const DEFAULTS = {
  seed: undefined, // random (printed) unless given
  requests: 300,
  concurrency: 8,
  durationMs: 45_000, // no new request starts after this
  upstreamTimeoutMs: 1500,
  idleTimeoutMs: 1000,
  marginMs: 4000, // allowed lateness on a busy machine
  hangGraceMs: 6000, // beyond its budget, a request is abandoned and counted as a hang
};

export const MAX_REQUEST_BODY_BYTES = 20 * 1024 * 1024;

/** mulberry32: a small seeded PRNG. */
export function rng(seed) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  next.int = (lo, hi) => lo + Math.floor(next() * (hi - lo + 1));
  next.pick = (list) => list[Math.floor(next() * list.length)];
  return next;
}

// Outcomes: "complete", "stream error" (a 200 stream ending in an in-stream error), "http NNN".
const COMPLETE = "complete";
const STREAM_ERROR = "stream error";
const http = (n) => `http ${n}`;

/**
 * The faults. applies: which requests can carry it ("json", "stream"). entry(r, cfg, op): the stand-in
 * script entry (the soak adds `match`). expect: allowed outcomes; code: the OpenAI error code expected (codes: per status, where it differs)
 * with an http outcome (chat route). extraMs(cfg): how long the fault may legitimately take beyond a
 * normal answer. weight: how often it is drawn.
 */
export const FAULTS = [
  { kind: "none", weight: 12, applies: ["json", "stream"], entry: () => ({}), expect: [COMPLETE] },
  {
    kind: "stall before headers",
    weight: 6,
    applies: ["json", "stream"],
    entry: () => ({ stallBeforeHeaders: true }),
    expect: [http(504)],
    code: "upstream_timeout",
    extraMs: (c) => c.upstreamTimeoutMs,
  },
  {
    kind: "slow headers (inside the timeout)",
    weight: 3,
    applies: ["json", "stream"],
    entry: (r, c) => ({ stallBeforeHeaders: r.int(100, Math.floor(c.upstreamTimeoutMs / 2)) }),
    expect: [COMPLETE],
    extraMs: (c) => c.upstreamTimeoutMs / 2,
  },
  {
    kind: "stall mid-stream",
    weight: 6,
    applies: ["stream"],
    entry: (r) => ({ stream: { stallAfterFrames: { after: r.int(1, 3) } } }),
    expect: [STREAM_ERROR, http(504), http(502)],
    extraMs: (c) => c.idleTimeoutMs,
  },
  {
    kind: "pause mid-stream (inside the idle timeout)",
    weight: 3,
    applies: ["stream"],
    entry: (r, c) => ({ stream: { stallAfterFrames: { after: r.int(1, 3), ms: r.int(50, Math.floor(c.idleTimeoutMs / 2)) } } }),
    expect: [COMPLETE],
    extraMs: (c) => c.idleTimeoutMs / 2,
  },
  // A connection dropped before any answer, and a raw status line of ≥ 1000 (below), are protocol
  // failures workerd's fetch usually reports at once (502). Since issue 11 (upstream fetch through
  // web-sys, bodies read whole) about 1 in 1,500–2,000 soak requests of these two kinds instead saw
  // workerd's fetch settle only at the gateway's upstream timeout: a 504 `upstream_timeout`, still a
  // clear, well-shaped error inside the request's time budget (the same behaviour as the raw 1xx case).
  // Not reproduced with the code before (2,400 requests, same seeds); its cause inside workerd is not
  // known. Both endings are accepted; anything else, or a later end, fails the soak.
  {
    kind: "drop before headers",
    weight: 4,
    applies: ["json", "stream"],
    entry: () => ({ dropBeforeHeaders: true }),
    expect: [http(502), http(504)],
    code: "upstream_unreachable",
    codes: { 504: "upstream_timeout" },
    extraMs: (c) => c.upstreamTimeoutMs,
  },
  {
    kind: "drop mid-frame",
    weight: 5,
    applies: ["stream"],
    entry: (r) => ({ stream: { dropMidFrame: { frame: r.int(0, 3), bytes: r.int(1, 40) } } }),
    expect: [STREAM_ERROR, http(502)],
  },
  { kind: "drop after frames", weight: 3, applies: ["stream"], entry: (r) => ({ stream: { dropAfterFrames: r.int(1, 4) } }), expect: [STREAM_ERROR, http(502)] },
  {
    kind: "garbage bytes",
    weight: 5,
    applies: ["stream"],
    entry: (r) => ({ stream: { garbageAfterFrames: { after: r.int(0, 3), bytes: r.int(1, 2048), seed: r.int(1, 1e9) } } }),
    expect: [STREAM_ERROR, http(502)],
  },
  {
    kind: "garbage text body",
    weight: 2,
    applies: ["stream"],
    entry: () => ({ stream: { garbageAfterFrames: { after: 0, text: "<html><body><h1>502 Bad Gateway</h1></body></html>\n" } } }),
    expect: [STREAM_ERROR, http(502)],
  },
  { kind: "corrupt CRC", weight: 2, applies: ["stream"], entry: (r) => ({ stream: { corruptCrcAtFrame: r.int(0, 3) } }), expect: [STREAM_ERROR, http(502)] },
  {
    kind: "oversized frame 2 MiB",
    weight: 2,
    applies: ["stream"],
    entry: (r) => ({ stream: { oversizedFrame: { after: r.int(0, 2), totalLength: 2 * 1024 * 1024 } } }),
    expect: [STREAM_ERROR, http(502)],
    extraMs: () => 2000,
  },
  {
    kind: "oversized frame 16 MiB",
    weight: 1,
    applies: ["stream"],
    entry: (r) => ({ stream: { oversizedFrame: { after: r.int(0, 2), totalLength: 16 * 1024 * 1024 } } }),
    expect: [STREAM_ERROR, http(502)],
    extraMs: () => 4000,
  },
  {
    kind: "oversized prelude 16 MiB",
    weight: 2,
    applies: ["stream"],
    entry: (r) => ({ stream: { oversizedFrame: { after: r.int(0, 2), totalLength: 16 * 1024 * 1024, preludeOnly: true, then: r.pick(["end", "stall", "drop"]) } } }),
    // Refused on the prelude; or, read as "need more bytes" until the silence / end.
    expect: [STREAM_ERROR, http(502), http(504)],
    extraMs: (c) => c.idleTimeoutMs,
  },
  { kind: "status 304", weight: 3, applies: ["json", "stream"], entry: () => ({ status: 304 }), expect: [http(502)], code: "upstream_invalid_status" },
  { kind: "status 600", weight: 2, applies: ["json", "stream"], entry: () => ({ status: 600 }), expect: [http(502)], code: "upstream_invalid_status" },
  { kind: "status 999", weight: 1, applies: ["json", "stream"], entry: () => ({ status: 999 }), expect: [http(502)], code: "upstream_invalid_status" },
  { kind: "status 201", weight: 1, applies: ["json", "stream"], entry: () => ({ status: 201 }), expect: [http(502)], code: "upstream_invalid_status" },
  { kind: "status 302", weight: 1, applies: ["json", "stream"], entry: () => ({ status: 302, headers: { location: "http://127.0.0.1:9/" } }), expect: [http(502)], code: "upstream_invalid_status" },
  // workerd's fetch usually hands these to the Worker as the answer's status (checked by hand: 100,
  // 101, 150, 199, 600, 1234 all arrive as Response.status), so they are the gateway's to refuse. Now
  // and then it takes an informational status as what HTTP says it is, an interim answer, and keeps
  // waiting for the final one that never comes: then the gateway's upstream timeout ends it (seen in
  // a clean-clone run: 1 in ~20). Both are clear errors within the time budget.
  {
    kind: "status 1xx (raw)",
    weight: 2,
    applies: ["json", "stream"],
    entry: (r) => ({ raw: true, status: r.pick([100, 102, 150, 199]), reason: "Informational" }),
    expect: [http(502), http(504)],
    code: "upstream_invalid_status",
    codes: { 504: "upstream_timeout" },
  },
  {
    kind: "status ≥ 1000 (raw)",
    weight: 1,
    applies: ["json", "stream"],
    entry: (r) => ({ raw: true, status: r.pick([1000, 1234, 9999]), reason: "Huge" }),
    expect: [http(502), http(504)],
    code: "upstream_invalid_status",
    codes: { 504: "upstream_timeout" },
    extraMs: (c) => c.upstreamTimeoutMs,
  },
  { kind: "http 500", weight: 3, applies: ["json", "stream"], entry: () => ({ status: 500, errorType: "InternalServerException", message: "soak 500" }), expect: [http(500)] },
  { kind: "http 503", weight: 2, applies: ["json", "stream"], entry: () => ({ status: 503, errorType: "ServiceUnavailableException", message: "soak 503" }), expect: [http(503)] },
  { kind: "throttling 429", weight: 4, applies: ["json", "stream"], entry: () => ({ status: 429, errorType: "ThrottlingException", message: "soak slow down" }), expect: [http(429)] },
  {
    kind: "throttling in first frame",
    weight: 2,
    applies: ["stream"],
    entry: () => ({ stream: { exceptionBefore: { type: "throttlingException", message: "soak slow down" } } }),
    expect: [http(429)],
  },
  {
    kind: "exception mid-stream",
    weight: 2,
    applies: ["stream"],
    entry: (r) => ({ stream: { exceptionAfterFrames: { after: r.int(1, 3), type: r.pick(["modelStreamErrorException", "internalServerException", "throttlingException"]), message: "soak mid-stream" } } }),
    expect: [STREAM_ERROR],
  },
  {
    kind: "slow drip",
    weight: 3,
    applies: ["json", "stream"],
    // ≤ 6.6 KB (the recorded stream) 32-128 bytes every 2-8 ms: ≤ ~1.7 s, gaps far below the idle timeout
    entry: (r) => ({ drip: { bytes: r.int(32, 128), everyMs: r.int(2, 8) } }),
    expect: [COMPLETE],
    extraMs: () => 5000,
  },
  { kind: "body over 20 MiB", weight: 1, applies: ["json", "stream"], entry: () => null, expect: [http(413)], code: "request_too_large", extraMs: () => 3000 },
];

const CHAT_MODEL = (n) => `us.amazon.nova-soak-${n}-v1:0`;
const CLAUDE_MODEL = (n) => `us.anthropic.claude-soak-${n}-v1:0`;
const OP = { chat: { json: "converse", stream: "converse-stream" }, messages: { json: "invoke", stream: "invoke-with-response-stream" } };

/** The faults a run uses: cfg.faults (kinds to keep) and cfg.exclude (kinds to drop), by name. */
export function selectedFaults(cfg) {
  const known = new Set(FAULTS.map((f) => f.kind));
  for (const k of [...(cfg.faults ?? []), ...(cfg.exclude ?? [])]) if (!known.has(k)) throw new Error(`unknown fault kind ${JSON.stringify(k)}; kinds: ${[...known].join(", ")}`);
  return FAULTS.filter((f) => (!cfg.faults?.length || cfg.faults.includes(f.kind)) && !(cfg.exclude ?? []).includes(f.kind));
}

/** The job list: every (fault, route, shape) it applies to once, then seeded draws by weight. */
export function plan(cfg) {
  const r = rng(cfg.seed);
  const jobs = [];
  const FAULTS = selectedFaults(cfg);
  const routes = ["chat", "messages"];
  const add = (fault, route, shape) => jobs.push({ fault, route, shape, auth: r() < 0.7 ? "headers" : "catalog" });
  for (const fault of FAULTS) for (const route of routes) for (const shape of fault.applies) add(fault, route, shape);
  // shuffle the coverage part so that the slow kinds are not all at once
  for (let i = jobs.length - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [jobs[i], jobs[j]] = [jobs[j], jobs[i]];
  }
  const total = FAULTS.reduce((n, f) => n + f.weight, 0);
  while (jobs.length < cfg.requests) {
    let x = r() * total;
    const fault = FAULTS.find((f) => (x -= f.weight) < 0) ?? FAULTS[0];
    add(fault, r.pick(routes), r.pick(fault.applies));
  }
  jobs.length = Math.min(jobs.length, cfg.requests);
  return jobs.map((j, i) => {
    const n = i + 1;
    const model = j.route === "chat" ? CHAT_MODEL(n) : CLAUDE_MODEL(n);
    const entry = j.fault.entry(r, cfg, OP[j.route][j.shape]);
    const budgetMs = 1000 + (j.fault.extraMs?.(cfg) ?? 0) + cfg.marginMs;
    return { n, ...j, model, entry, budgetMs };
  });
}

/** Classifies a finished response: {outcome, problems}. */
function classify(job, status, text) {
  const problems = [];
  let json = null;
  try {
    json = JSON.parse(text);
  } catch {}
  if (status !== 200) {
    if (job.route === "chat") {
      if (!(json?.error && typeof json.error.message === "string" && typeof json.error.type === "string")) problems.push(`not an OpenAI-shaped error: ${text.slice(0, 120)}`);
      else if (job.fault.code && job.fault.expect.includes(http(status)) && json.error.code !== (job.fault.codes?.[status] ?? job.fault.code)) {
        problems.push(`code ${json.error.code}, want ${job.fault.codes?.[status] ?? job.fault.code}`);
      }
    } else if (!(json?.type === "error" && typeof json.error?.type === "string" && typeof json.error?.message === "string")) {
      problems.push(`not an Anthropic-shaped error: ${text.slice(0, 120)}`);
    }
    return { outcome: http(status), problems };
  }
  if (job.shape === "json") {
    const ok = job.route === "chat" ? json?.object === "chat.completion" && Array.isArray(json.choices) : json?.type === "message" && Array.isArray(json.content);
    if (!ok) problems.push(`200 with an unexpected body: ${text.slice(0, 120)}`);
    return { outcome: COMPLETE, problems };
  }
  if (job.route === "chat") {
    const data = sseData(text);
    if (data.at(-1) !== "[DONE]" || !text.endsWith("\n\n")) return { outcome: "truncated", problems: [`stream did not end with [DONE]: ${JSON.stringify(text.slice(-120))}`] };
    let prev = null;
    try {
      prev = JSON.parse(data.at(-2) ?? "null");
    } catch {
      problems.push(`unparsable event before [DONE]: ${data.at(-2)?.slice(0, 120)}`);
    }
    if (prev?.error) {
      if (typeof prev.error.message !== "string") problems.push("in-stream error without a message");
      return { outcome: STREAM_ERROR, problems };
    }
    if (!data.some((d) => /"finish_reason":"[a-z_]+"/.test(d))) problems.push("[DONE] without a finish_reason or an error");
    return { outcome: COMPLETE, problems };
  }
  const events = text.trim().split("\n\n");
  const last = events.at(-1)?.split("\n")[0];
  if (!text.endsWith("\n\n")) return { outcome: "truncated", problems: [`stream did not end with a whole event: ${JSON.stringify(text.slice(-120))}`] };
  if (last === "event: message_stop") return { outcome: COMPLETE, problems };
  if (last === "event: error") {
    try {
      const e = JSON.parse(events.at(-1).split("\n")[1].replace(/^data: /, ""));
      if (e.type !== "error" || typeof e.error?.type !== "string") problems.push(`odd error event: ${events.at(-1).slice(0, 120)}`);
    } catch {
      problems.push(`unparsable error event: ${events.at(-1).slice(0, 120)}`);
    }
    return { outcome: STREAM_ERROR, problems };
  }
  return { outcome: "truncated", problems: [`stream ended with ${JSON.stringify(last)}, not message_stop or error`] };
}

/** A chat / messages body of more than MAX_REQUEST_BODY_BYTES. */
function hugeBody(job) {
  const pad = "x".repeat(MAX_REQUEST_BODY_BYTES + 1);
  return JSON.stringify(
    job.route === "chat"
      ? { model: job.model, stream: job.shape === "stream", messages: [{ role: "user", content: pad }] }
      : { model: job.model, max_tokens: 32, stream: job.shape === "stream", messages: [{ role: "user", content: pad }] },
  );
}

async function runJob(gw, cfg, job) {
  if (job.entry) gw.standin.script({ match: { model: job.model }, ...job.entry });
  const headers =
    job.auth === "headers"
      ? { "content-type": "application/json", ...longTermHeaders(gw) }
      : { "content-type": "application/json", "x-portkey-api-key": gw.gatewayKey, "x-portkey-provider": "@demo" };
  const stream = job.shape === "stream";
  const body =
    job.fault.kind === "body over 20 MiB"
      ? hugeBody(job)
      : JSON.stringify(
          job.route === "chat"
            ? { model: job.model, stream, messages: [{ role: "user", content: `soak request ${job.n}` }] }
            : { model: job.model, max_tokens: 64, stream, messages: [{ role: "user", content: `soak request ${job.n}` }] },
        );
  const path = job.route === "chat" ? "/v1/chat/completions" : "/v1/messages";
  const limit = job.budgetMs + cfg.hangGraceMs;
  const t0 = Date.now();
  let status = 0;
  let text = "";
  let result;
  let resent = 0;
  try {
    if (job.fault.kind === "body over 20 MiB") {
      // node:http with expect: 100-continue, as curl sends a large body: the refusal comes before the
      // upload (a plain upload is mostly answered by a reset in workerd when the Worker does not read it).
      const r = await postEarly(gw, path, body, headers, { timeoutMs: limit, expectContinue: true });
      resent = (r.attempts ?? 1) - 1;
      status = r.status;
      text = r.text;
      if (r.timedOut) throw Object.assign(new Error("timed out"), { name: "TimeoutError" });
      if (!r.status) throw new Error(r.error ?? "no answer");
      result = classify(job, status, text);
    } else {
      const res = await fetch(gw.url + path, { method: "POST", headers, body, signal: AbortSignal.timeout(limit) });
      status = res.status;
      const dec = new TextDecoder();
      for await (const chunk of res.body) text += dec.decode(chunk, { stream: true });
      result = classify(job, status, text);
    }
  } catch (e) {
    if (e.name === "TimeoutError" || e.name === "AbortError") {
      result = { outcome: "hang", problems: [`no end after ${limit} ms (status ${status || "none"}, ${text.length} bytes)`] };
    } else {
      result = { outcome: "client error", problems: [`${e.name}: ${e.message}`] };
    }
  }
  const ms = Date.now() - t0;
  if (job.fault.kind !== "body over 20 MiB") gw.record(text); // postEarly keeps its own
  const problems = [...result.problems];
  if (!job.fault.expect.includes(result.outcome)) problems.unshift(`outcome ${result.outcome}, want ${job.fault.expect.join(" | ")}`);
  if (result.outcome !== "hang" && ms > job.budgetMs) problems.push(`took ${ms} ms, budget ${job.budgetMs} ms`);
  return { n: job.n, kind: job.fault.kind, route: job.route, shape: job.shape, auth: job.auth, status, outcome: result.outcome, ms, problems, resent, entry: job.entry };
}

/**
 * Runs the soak. Returns {cfg, results, problems, isolateFailures, secretLeaks, healthy, wallMs, summary}.
 * opts.gateway: an already started gateway (else one is started with the short timeouts and closed).
 */
export async function runSoak(opts = {}) {
  const cfg = { ...DEFAULTS, ...Object.fromEntries(Object.entries(opts).filter(([, v]) => v !== undefined)) };
  if (cfg.seed === undefined) cfg.seed = Math.floor(Math.random() * 2 ** 31);
  const own = !opts.gateway;
  const gw =
    opts.gateway ??
    (await startGateway({
      vars: { UPSTREAM_TIMEOUT_MS: String(cfg.upstreamTimeoutMs), STREAM_IDLE_TIMEOUT_MS: String(cfg.idleTimeoutMs) },
      slugs: { demo: true },
    }));
  const log = cfg.print ?? ((s) => process.stdout.write(s + "\n"));
  log(`soak: seed ${cfg.seed}, ${cfg.requests} requests, ${cfg.concurrency} clients, ${cfg.durationMs} ms to start them, UPSTREAM_TIMEOUT_MS ${cfg.upstreamTimeoutMs}, STREAM_IDLE_TIMEOUT_MS ${cfg.idleTimeoutMs}`);
  const jobs = plan(cfg);
  const results = [];
  const t0 = Date.now();
  let next = 0;
  try {
    await Promise.all(
      Array.from({ length: cfg.concurrency }, async () => {
        while (next < jobs.length && Date.now() - t0 < cfg.durationMs) {
          const job = jobs[next++];
          results.push(await runJob(gw, cfg, job));
        }
      }),
    );
    const wallMs = Date.now() - t0;
    // The Worker still answers, and the stand-in has no script entry left over for a request that ran.
    const health = await fetch(gw.url + "/v1/health", { signal: AbortSignal.timeout(5000) }).then((r) => r.status).catch(() => 0);
    await new Promise((r) => setTimeout(r, 200)); // let the last log lines arrive
    const out = {
      cfg,
      results,
      wallMs,
      healthy: health === 200,
      problems: results.filter((r) => r.problems.length),
      isolateFailures: isolateFailures(gw),
      secretLeaks: secretLeaks(gw),
      notRun: jobs.length - results.length,
    };
    out.summary = summarise(out);
    log(out.summary);
    return out;
  } finally {
    if (own) await gw.close();
  }
}

/** The figures as a text table. */
export function summarise({ cfg, results, wallMs, problems, isolateFailures: broke, secretLeaks: leaks, healthy, notRun }) {
  const byKind = new Map();
  for (const r of results) {
    const k = byKind.get(r.kind) ?? { n: 0, outcomes: {}, maxMs: 0, bad: 0 };
    k.n++;
    k.outcomes[r.outcome] = (k.outcomes[r.outcome] ?? 0) + 1;
    k.maxMs = Math.max(k.maxMs, r.ms);
    if (r.problems.length) k.bad++;
    byKind.set(r.kind, k);
  }
  const rows = [["fault", "injected", "outcomes", "max ms", "problems"]];
  for (const f of FAULTS) {
    const k = byKind.get(f.kind);
    if (!k) continue;
    const outcomes = Object.entries(k.outcomes)
      .sort((a, b) => b[1] - a[1])
      .map(([o, n]) => `${o} ×${n}`)
      .join(", ");
    rows.push([f.kind, String(k.n), outcomes, String(k.maxMs), String(k.bad)]);
  }
  const totals = {};
  for (const r of results) totals[r.outcome] = (totals[r.outcome] ?? 0) + 1;
  rows.push(["all", String(results.length), Object.entries(totals).sort((a, b) => b[1] - a[1]).map(([o, n]) => `${o} ×${n}`).join(", "), String(Math.max(0, ...results.map((r) => r.ms))), String(problems.length)]);
  const w = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  const line = (r) => "| " + r.map((c, i) => (i === 1 || i >= 3 ? c.padStart(w[i]) : c.padEnd(w[i]))).join(" | ") + " |";
  const out = [line(rows[0]), "|" + w.map((n, i) => (i === 1 || i >= 3 ? "-".repeat(n + 1) + ":" : "-".repeat(n + 2))).join("|") + "|", ...rows.slice(1).map(line)];
  const streams = results.filter((r) => r.shape === "stream" && r.status === 200);
  out.push(
    "",
    `seed ${cfg.seed}: ${results.length} requests (${notRun} not started: time budget) in ${(wallMs / 1000).toFixed(1)} s with ${cfg.concurrency} clients; ` +
      `${results.filter((r) => r.shape === "stream").length} streamed (${streams.length} got a 200 stream: ${streams.filter((r) => r.outcome === COMPLETE).length} complete, ${streams.filter((r) => r.outcome === STREAM_ERROR).length} ended by an in-stream error, ${streams.filter((r) => r.outcome !== COMPLETE && r.outcome !== STREAM_ERROR).length} neither); ` +
      `chat ${results.filter((r) => r.route === "chat").length} / messages ${results.filter((r) => r.route === "messages").length}; ` +
      `hangs ${results.filter((r) => r.outcome === "hang").length}; max duration ${Math.max(0, ...results.map((r) => r.ms))} ms; ` +
      `oversized uploads sent again after workerd reset the connection before the answer was read: ${results.reduce((n, r) => n + (r.resent ?? 0), 0)}`,
    `Worker log: ${broke.length} isolate-failure lines${broke.length ? ": " + broke.slice(0, 3).map((l) => l.slice(0, 160)).join(" / ") : ""}; secrets in logs/bodies: ${leaks.length}; health after: ${healthy ? "ok" : "FAILED"}`,
  );
  if (problems.length) {
    out.push(`${problems.length} requests with problems (first 15):`);
    for (const p of problems.slice(0, 15)) out.push(`  #${p.n} ${p.kind} ${p.route} ${p.shape} (${p.auth}) → ${p.outcome} in ${p.ms} ms: ${p.problems.join("; ")}`);
  }
  return out.join("\n");
}

// ---------------------------------------------------------------- CLI
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const args = process.argv.slice(2);
  const get = (name) => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const num = (name, scale = 1) => (get(name) === undefined ? undefined : Number(get(name)) * scale);
  if (args.includes("--help") || args.includes("-h")) {
    console.log("usage: node bench/soak.mjs [--requests 3000] [--concurrency 16] [--duration 600 (s)] [--seed N] [--upstream-timeout 1500] [--idle-timeout 1000] [--margin 4000] [--json out.json] [--faults k1,k2] [--exclude k1,k2] [--list]");
    process.exit(0);
  }
  if (args.includes("--list")) {
    for (const f of FAULTS) console.log(`${f.kind}\t(weight ${f.weight}; ${f.applies.join(", ")}; expect ${f.expect.join(" | ")})`);
    process.exit(0);
  }
  const kinds = (name) => (get(name) === undefined ? undefined : get(name).split(",").map((k) => k.trim()).filter(Boolean));
  const out = await runSoak({
    seed: num("--seed"),
    requests: num("--requests") ?? 3000,
    concurrency: num("--concurrency") ?? 16,
    durationMs: num("--duration", 1000) ?? 600_000,
    upstreamTimeoutMs: num("--upstream-timeout"),
    idleTimeoutMs: num("--idle-timeout"),
    marginMs: num("--margin"),
    faults: kinds("--faults"),
    exclude: kinds("--exclude"),
  });
  if (get("--json")) {
    const fs = await import("node:fs");
    fs.writeFileSync(get("--json"), JSON.stringify({ ...out, results: out.results.map(({ entry, ...r }) => r) }, null, 2));
  }
  const ok = !out.problems.length && !out.isolateFailures.length && !out.secretLeaks.length && out.healthy;
  process.exit(ok ? 0 : 1);
}
