#!/usr/bin/env node
// Not a test, not in CI: the side-by-side performance harness of issue 11.
//
//   node bench/perf.mjs [--seconds 10] [--connections 8] [--only json,catalog,stream33,stream219]
//                       [--workers floor,edgeport,portkey] [--cold 5] [--warmup 2] [--smoke]
//                       [--profile [--top 30]] [--build build] [--rounds 1]
//
// Each Worker runs alone in plain `workerd serve` (the npm workerd binary; no wrangler, no miniflare)
// from a config generated under bench/out/, in front of a fast upstream stand-in on loopback
// (bench/perf-upstream.mjs: a canned Converse JSON answer and recorded ConverseStream bodies, no SigV4
// check). autocannon drives each (Worker, mode) cell for --seconds with --connections connections.
//
// Workers:
//   floor     bench/floor: a trivial Rust pass-through Worker (parse the JSON body, fetch the upstream,
//             return its bytes), built with the same worker-build pipeline (bash bench/floor/build.sh).
//   edgeport  build/index.js + build/index_bg.wasm (bash scripts/build.sh), KV CATALOG served by an
//             in-memory KV service (bench/perf-kv.js) seeded with a sealed provider record and a gateway key.
//   portkey   /work/shared/bench/portkey-worker.js (Portkey gateway 1.15.2, nodejs_compat), if present
//             (PORTKEY_WORKER=path to use another copy).
// --rounds N: every cell N times, interleaved (round by round, mode by mode, Worker after Worker,
// all Workers' workerd running side by side); the table shows medians, and for × floor the median of
// each round's ratio with its range. Cold starts are measured first, one Worker at a time.
// --build: the directory of the built edgeport to measure (default build/; e.g. a copy built with
// another opt-level).
// Modes: json (header credentials, custom host = stand-in), catalog (edgeport only: `@bench/<model>` +
// gateway key, the provider record in KV), stream33 / stream219 (header credentials, a recorded
// 33-event / 219-event ConverseStream answer).
//
// Own cost per request = 1/rps(worker) − 1/rps(floor, same mode; catalog compares with the floor's json)
// in ms; for streams also per event. Cold start = spawn of workerd → first 200 on the json request,
// median of --cold spawns. Each cell starts with --warmup s (default 2) of unmeasured load. --smoke: 1 s per cell, 1 connection, 1 cold start (a bounded check that
// everything answers; prints the same table).
// --profile: each Worker's workerd also listens for the V8 inspector; during every measured cell the
// harness records a CPU profile (Chrome DevTools protocol over `ws`, 100 µs sampling) written to
// bench/out/<worker>-<mode>.cpuprofile (open it in Chrome DevTools or speedscope) and prints the --top
// functions by self time, grouped as wasm (edgeport's Rust, by function name: build with
// EDGEPORT_KEEP_WASM_NAMES=1 bash scripts/build.sh to keep the name section the release build strips), JS glue, workerd internals ((program), (garbage collector)) and idle. The profiler costs
// throughput: compare req/s only from runs without it.
import { spawn } from "node:child_process";
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import autocannon from "autocannon";
import WebSocket from "ws";
import { startUpstream, STREAM_EVENTS } from "./perf-upstream.mjs";
import { gatewayKeyRecord, newCatalogKey, providerRecord } from "../scripts/catalog-lib.mjs";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, "..");
const OUT = path.join(HERE, "out");
const WORKERD = path.join(ROOT, "node_modules/@cloudflare/workerd-linux-64/bin/workerd");
const PORTKEY = process.env.PORTKEY_WORKER ?? "/work/shared/bench/portkey-worker.js";
const MODEL = "us.amazon.nova-micro-v1:0";
const GATEWAY_KEY = "ek_bench_all_providers_0123456789abcdef";
const AWS = { id: "AKIABENCHBENCHBENCH0", secret: "benchSecretKeyBenchSecretKeyBenchSecret0" };

// ---- arguments ----
const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
const SMOKE = args.includes("--smoke");
const SECONDS = Number(opt("seconds", SMOKE ? 1 : 10));
const CONNECTIONS = Number(opt("connections", SMOKE ? 1 : 8));
const COLD = Number(opt("cold", SMOKE ? 1 : 5));
const WARMUP = Number(opt("warmup", SMOKE ? 0.3 : 2)); // unmeasured load before each cell, s
const MODES = opt("only", "json,catalog,stream33,stream219").split(",");
const WORKERS = opt("workers", "floor,edgeport,portkey").split(",");
const PROFILE = args.includes("--profile");
const ROUNDS = Math.max(1, Number(opt("rounds", 1)));
const TOP = Number(opt("top", 30));
for (const m of MODES) if (!["json", "catalog", "stream33", "stream219"].includes(m)) die(`unknown mode ${m}`);

function die(msg) {
  console.error(`perf: ${msg}`);
  process.exit(2);
}

// ---- processes: every workerd we start is its own process group, stopped by its pid ----
const children = new Set();
function killGroup(child) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, "SIGKILL");
  } catch {}
}
function cleanup() {
  for (const c of children) killGroup(c);
}
process.on("exit", cleanup);
for (const sig of ["SIGINT", "SIGTERM"]) process.on(sig, () => { cleanup(); process.exit(130); });

async function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
    s.on("error", reject);
  });
}

const rel = (p) => JSON.stringify(path.relative(OUT, p));

// ---- workerd configs (capnp text) ----
function config({ name, port, modules, bindings = "", compatibilityDate, flags = [], extraServices = "" }) {
  const file = path.join(OUT, `${name}.capnp`);
  writeFileSync(
    file,
    `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [
    (name = "main", worker = .w),
    (name = "net", network = (allow = ["public", "private", "local"])),${extraServices}
  ],
  sockets = [ (name = "http", address = "127.0.0.1:${port}", http = (), service = "main") ],
);
const w :Workerd.Worker = (
  modules = [ ${modules.join(", ")} ],
  compatibilityDate = "${compatibilityDate}",
  compatibilityFlags = [${flags.map((f) => JSON.stringify(f)).join(", ")}],
  bindings = [ ${bindings} ],
  globalOutbound = "net",
);
`,
  );
  return file;
}

function floorConfig(port) {
  const dir = path.join(HERE, "floor", "build");
  for (const f of ["index.js", "index_bg.wasm"]) if (!existsSync(path.join(dir, f))) die(`bench/floor/build/${f} is missing: run bash bench/floor/build.sh`);
  return config({
    name: "floor",
    port,
    compatibilityDate: "2026-04-01",
    modules: [`(name = "index.js", esModule = embed ${rel(path.join(dir, "index.js"))})`, `(name = "index_bg.wasm", wasm = embed ${rel(path.join(dir, "index_bg.wasm"))})`],
  });
}

function edgeportConfig(port, upstream) {
  const dir = path.resolve(ROOT, opt("build", "build"));
  for (const f of ["index.js", "index_bg.wasm"]) if (!existsSync(path.join(dir, f))) die(`build/${f} is missing: run bash scripts/build.sh`);
  const catalogKey = newCatalogKey();
  const provider = providerRecord(catalogKey, "bench", {
    region: "us-east-1",
    auth: { type: "access_key", access_key_id: AWS.id, secret_access_key: AWS.secret },
    customHost: upstream.json,
  });
  const { kvKey, record } = gatewayKeyRecord(GATEWAY_KEY, { name: "bench", providers: ["*"] });
  const kvData = { "provider:bench": JSON.stringify(provider), [kvKey]: JSON.stringify(record) };
  writeFileSync(path.join(OUT, "kv-data.json"), JSON.stringify(kvData));
  const trusted = [upstream.json, upstream.stream33, upstream.stream219].join(",");
  return config({
    name: "edgeport",
    port,
    compatibilityDate: "2026-04-01",
    flags: ["enable_request_signal"], // as wrangler.toml
    modules: [`(name = "index.js", esModule = embed ${rel(path.join(dir, "index.js"))})`, `(name = "index_bg.wasm", wasm = embed ${rel(path.join(dir, "index_bg.wasm"))})`],
    bindings: [
      `(name = "CATALOG", kvNamespace = "kv")`,
      `(name = "TRUSTED_CUSTOM_HOSTS", text = ${JSON.stringify(trusted)})`,
      `(name = "CATALOG_KEY", text = ${JSON.stringify(catalogKey)})`,
    ].join(", "),
    extraServices: `
    (name = "kv", worker = (
      modules = [ (name = "kv.js", esModule = embed ${rel(path.join(HERE, "perf-kv.js"))}) ],
      compatibilityDate = "2026-04-01",
      bindings = [ (name = "DATA", json = embed "kv-data.json") ],
    )),`,
  });
}

function portkeyConfig(port) {
  if (!existsSync(PORTKEY)) return null;
  return config({
    name: "portkey",
    port,
    compatibilityDate: "2024-12-05",
    flags: ["nodejs_compat"],
    modules: [`(name = "pk.js", esModule = embed ${rel(PORTKEY)})`],
  });
}

/**
 * workerd serve <cfg> as its own process group. Its stdout / stderr (edgeport's per-request log line
 * included) go straight to bench/out/<name>.log, not through this process: reading them here would
 * spend the load generator's CPU.
 */
function startWorkerd(cfg, inspectorPort) {
  const logFile = cfg.replace(/\.capnp$/, ".log");
  const fd = openSync(logFile, "w");
  const extra = inspectorPort ? [`--inspector-addr=127.0.0.1:${inspectorPort}`] : [];
  const child = spawn(WORKERD, ["serve", cfg, ...extra], { cwd: OUT, detached: true, stdio: ["ignore", fd, fd] });
  closeSync(fd);
  children.add(child);
  child.on("exit", () => children.delete(child));
  child.output = () => {
    try {
      return readFileSync(logFile, "utf8").slice(0, 2000);
    } catch {
      return "";
    }
  };
  return child;
}

async function stopWorkerd(child) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise((r) => child.once("exit", r));
  killGroup(child);
  await Promise.race([gone, new Promise((r) => setTimeout(r, 3000))]);
}

// ---- requests ----
function request(worker, mode, base, upstream) {
  const stream = mode.startsWith("stream");
  const host = mode === "stream33" ? upstream.stream33 : mode === "stream219" ? upstream.stream219 : upstream.json;
  const messages = [{ role: "user", content: "What is the capital of France?" }];
  const headers = { "content-type": "application/json" };
  let model = MODEL;
  if (worker === "floor") {
    headers["x-upstream"] = host;
  } else if (mode === "catalog") {
    headers.authorization = `Bearer ${GATEWAY_KEY}`;
    model = `@bench/${MODEL}`;
  } else {
    Object.assign(headers, {
      "x-portkey-provider": "bedrock",
      "x-portkey-aws-access-key-id": AWS.id,
      "x-portkey-aws-secret-access-key": AWS.secret,
      "x-portkey-aws-region": "us-east-1",
      "x-portkey-custom-host": host,
    });
    if (worker === "edgeport") headers["x-portkey-api-key"] = GATEWAY_KEY;
  }
  return { url: `${base}/v1/chat/completions`, method: "POST", headers, body: JSON.stringify({ model, messages, stream, max_tokens: 64 }) };
}

/** One request, checked: 200, and for streams the expected number of SSE data lines (or upstream frames). */
async function check(worker, mode, req) {
  const res = await fetch(req.url, { method: req.method, headers: req.headers, body: req.body });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`${worker} ${mode}: HTTP ${res.status}: ${text.slice(0, 300)}`);
  if (!mode.startsWith("stream")) return `${text.length} B`;
  const events = (text.match(/^data:/gm) ?? []).length;
  return `${text.length} B, ${events} data lines`;
}

/**
 * One load cell: autocannon for SECONDS, stopped early at MAX_REQUESTS responses (bounded in time and
 * count). Latencies come from autocannon's per-response timings (sub-millisecond; its own histogram
 * rounds to whole ms); req/s = 200 answers / wall time of the cell.
 */
const MAX_REQUESTS = 2_000_000;
function run(req, seconds = SECONDS) {
  return new Promise((resolve, reject) => {
    const times = [];
    let statuses = 0;
    const t0 = performance.now();
    const inst = autocannon(
      { url: req.url, method: req.method, headers: req.headers, body: req.body, connections: CONNECTIONS, duration: seconds, timeout: 10 },
      (err, result) => {
        clearTimeout(guard);
        if (err) return reject(err);
        const wall = (performance.now() - t0) / 1000;
        times.sort((a, b) => a - b);
        const q = (p) => (times.length ? times[Math.min(times.length - 1, Math.floor(p * times.length))] : NaN);
        resolve({ ok: times.length, rps: times.length / wall, p50: q(0.5), p99: q(0.99), non2xx: statuses, errors: result.errors, timeouts: result.timeouts });
      },
    );
    inst.on("response", (_client, status, _bytes, ms) => {
      if (status >= 200 && status < 300) times.push(ms);
      else statuses++;
      if (times.length + statuses >= MAX_REQUESTS) inst.stop();
    });
    const guard = setTimeout(() => inst.stop(), (seconds + 20) * 1000);
  });
}

async function waitFor200(req, child, deadlineMs) {
  const t0 = performance.now();
  for (;;) {
    if (child.exitCode !== null) throw new Error(`workerd exited (${child.exitCode}): ${child.output()}`);
    try {
      const res = await fetch(req.url, { method: req.method, headers: req.headers, body: req.body });
      await res.arrayBuffer();
      if (res.status === 200) return performance.now() - t0;
    } catch {}
    if (performance.now() - t0 > deadlineMs) throw new Error(`no 200 within ${deadlineMs} ms: ${child.output()}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

// ---- CPU profiles (--profile) ----
/** A Chrome DevTools protocol session on workerd's inspector for the service "main". */
async function inspect(port) {
  let targets;
  for (let i = 0; ; i++) {
    try {
      targets = await (await fetch(`http://127.0.0.1:${port}/json/list`)).json();
      if (targets.length) break;
    } catch {}
    if (i > 200) throw new Error(`no inspector target on port ${port}`);
    await new Promise((r) => setTimeout(r, 25));
  }
  const target = targets.find((t) => t.id === "main" || t.title === "main") ?? targets[0];
  const ws = new WebSocket(target.webSocketDebuggerUrl ?? `ws://127.0.0.1:${port}/main`, { maxPayload: 1 << 30 });
  await new Promise((resolve, reject) => {
    ws.once("open", resolve);
    ws.once("error", reject);
  });
  let id = 0;
  const pending = new Map();
  ws.on("message", (data) => {
    const msg = JSON.parse(data.toString());
    if (msg.id && pending.has(msg.id)) {
      const { resolve, reject } = pending.get(msg.id);
      pending.delete(msg.id);
      if (msg.error) reject(new Error(JSON.stringify(msg.error)));
      else resolve(msg.result);
    }
  });
  const send = (method, params = {}) =>
    new Promise((resolve, reject) => {
      const n = ++id;
      pending.set(n, { resolve, reject });
      ws.send(JSON.stringify({ id: n, method, params }));
    });
  return { send, close: () => ws.close() };
}

/**
 * Where a request's time goes: each sampled function falls in the first area whose rule matches
 * its name (wasm functions by their Rust path, JS glue by the wasm-bindgen import it wraps, the
 * runtime by its builtin). Areas are what the README's "where the time goes" table lists.
 */
const AREAS = [
  ["idle (workerd waiting on I/O)", (k, n) => n === "(idle)"],
  ["runtime: fetch, Request/Response, Headers (also in the floor)", (k, n) => k === "runtime" && /^(fetch|Request|Response|Headers|get|set|append|entries|next|decode|encode)$/.test(n)],
  ["body reads (reader.read, releaseLock, getReader, arrayBuffer)", (k, n) => /__wbg_(read|releaseLock|getReader|arrayBuffer|body)_/.test(n) || (k === "runtime" && /^(read|releaseLock|getReader|arrayBuffer)$/.test(n))],
  ["response stream bridge (ReadableStream, enqueue, pull)", (k, n) => /__wbg_(enqueue|close|byobRequest|respond|new_with_length)_|wasm_streams|IntoUnderlying/.test(n) || (k === "runtime" && /^(ReadableStream|enqueue|close|pull)$/.test(n))],
  ["log line (console.log)", (k, n) => /__wbg_log_/.test(n) || (k === "runtime" && n === "log")],
  ["timers (setTimeout/clearTimeout, Delay)", (k, n) => /setTimeout|clearTimeout|Delay/.test(n)],
  ["promise and task glue (queueMicrotask, JsFuture, wasm↔js calls)", (k, n) => /queueMicrotask|future_to_promise|JsFuture|js_sys::futures|wasm_bindgen_futures|wasm-to-js|js-to-wasm|__wbindgen|Closure|AssertUnwindSafe|__wbg_(call|then|resolve|new_0|new_from_slice|instanceof)_/.test(n) || (k === "runtime" && /^(then|Promise|resolve)$/.test(n))],
  ["SigV4 and hashing (aws-sigv4, sha2, hmac)", (k, n) => /sha2|sigv4|hmac|digest|signing/.test(n)],
  ["event-stream decode (frames, CRC)", (k, n) => /eventstream|crc32/.test(n)],
  ["JSON parse and write (serde_json)", (k, n) => /serde_json|serde_core|serde::|itoa|ryu/.test(n)],
  ["allocation (dlmalloc, Vec/String growth, memcpy)", (k, n) => /dlmalloc|__rdl_|raw_vec|alloc::|memcpy|memmove|memset|to_vec|bytes::/.test(n)],
  ["URL parsing (url crate)", (k, n) => /^url::|<url::|idna/.test(n)],
  ["formatting (core::fmt)", (k, n) => /core\[[0-9a-f]+\]::fmt|fmt::/.test(n)],
  ["edgeport's own logic (mapping, routing, checks)", (k, n) => k === "wasm" && /edgeport::/.test(n)],
  ["other wasm", (k) => k === "wasm"],
  ["other JS glue", (k) => k === "js"],
  ["(program): the runtime's native work, unattributed", (k, n) => n === "(program)" || n === "(root)" || n === ""],
  ["garbage collector", (k, n) => n === "(garbage collector)"],
  ["other runtime", () => true],
];

/** Self time per function of a .cpuprofile, as shares of all samples, grouped by kind and area. */
function summarise(profile) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const counts = new Map();
  for (const s of profile.samples) counts.set(s, (counts.get(s) ?? 0) + 1);
  const self = new Map();
  const areas = new Map();
  let total = 0;
  for (const [nodeId, c] of counts) {
    const f = byId.get(nodeId).callFrame;
    const kind = f.url?.startsWith("wasm://") || /^\$?(wasm-function|.*::)/.test(f.functionName) ? "wasm" : f.url ? "js" : "runtime";
    const key = `${kind}\t${f.functionName || "(anonymous)"}${kind === "js" ? ` ${path.basename(f.url)}:${f.lineNumber + 1}` : ""}`;
    self.set(key, (self.get(key) ?? 0) + c);
    const area = AREAS.find(([, rule]) => rule(kind, f.functionName))[0];
    areas.set(area, (areas.get(area) ?? 0) + c);
    total += c;
  }
  const kinds = new Map();
  for (const [k, c] of self) {
    const kind = ["(idle)", "(program)", "(garbage collector)"].find((n) => k.endsWith(`\t${n}`)) ?? k.split("\t")[0];
    kinds.set(kind, (kinds.get(kind) ?? 0) + c);
  }
  const top = [...self].sort((a, b) => b[1] - a[1]).slice(0, TOP);
  return { total, kinds: [...kinds].sort((a, b) => b[1] - a[1]), top, areas: AREAS.map(([a]) => [a, areas.get(a) ?? 0]).filter(([, c]) => c > 0) };
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

// ---- main ----
mkdirSync(OUT, { recursive: true });
if (!existsSync(WORKERD)) die(`no workerd binary at ${WORKERD} (npm install)`);
/** Share of all cores busy over `ms` (from /proc/stat; undefined where there is none): other work on the machine. */
async function busyShare(ms) {
  const read = () => {
    try {
      const f = readFileSync("/proc/stat", "utf8").split("\n")[0].trim().split(/\s+/).slice(1).map(Number);
      return { idle: f[3] + (f[4] ?? 0), total: f.reduce((a, b) => a + b, 0) };
    } catch {
      return null;
    }
  };
  const a = read();
  await new Promise((r) => setTimeout(r, ms));
  const b = read();
  return a && b && b.total > a.total ? 1 - (b.idle - a.idle) / (b.total - a.total) : undefined;
}
const busy0 = await busyShare(1000);
const upstream = await startUpstream();
const started = new Date();
const load0 = os.loadavg();
console.log(
  `perf: ${started.toISOString()} · ${os.cpus().length} cores (${os.cpus()[0]?.model?.trim()}) · load average before ${load0.map((l) => l.toFixed(2)).join(" ")} · ` +
    `${SECONDS} s × ${CONNECTIONS} connections per cell${SMOKE ? " (smoke)" : ""} · workerd ${WORKERD.includes("workerd-linux-64") ? "(npm @cloudflare/workerd-linux-64)" : ""}`,
);
const busyText = busy0 === undefined ? "" : `, ${(busy0 * 100).toFixed(0)} % of the cores already busy with other work in the second before`;
console.log(`perf: upstream stand-in ${upstream.json} (json), ${upstream.stream33} (33 events), ${upstream.stream219} (219 events); load generator, stand-in and workerd share the machine`);

const rows = [];
const cold = {};
let failed = false;
// Every Worker's cold starts first (each a fresh process), then all of them run side by side (an
// idle workerd costs nothing) and the cells go round by round: mode by mode, Worker after Worker,
// so the floor and the gateways are measured minutes apart at most, under the same machine load.
const live = [];
for (const worker of WORKERS) {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const cfg = worker === "floor" ? floorConfig(port) : worker === "edgeport" ? edgeportConfig(port, upstream) : worker === "portkey" ? portkeyConfig(port) : die(`unknown worker ${worker}`);
  if (!cfg) {
    console.log(`perf: ${worker}: skipped (${PORTKEY} not found)`);
    continue;
  }
  // Cold start: spawn → first 200 on the json request, median of COLD spawns (each a fresh process).
  const coldReq = request(worker, "json", base, upstream);
  const colds = [];
  for (let i = 0; i < COLD; i++) {
    const child = startWorkerd(cfg);
    try {
      colds.push(await waitFor200(coldReq, child, 30_000));
    } finally {
      await stopWorkerd(child);
    }
  }
  cold[worker] = colds;
  console.log(`perf: ${worker}: cold starts ${colds.map((c) => c.toFixed(0)).join(", ")} ms`);
  live.push({ worker, base, cfg, coldReq });
}
try {
  for (const w of live) {
    const inspectorPort = PROFILE ? await freePort() : undefined;
    w.child = startWorkerd(w.cfg, inspectorPort);
    w.cdp = PROFILE ? await inspect(inspectorPort) : undefined;
    if (w.cdp) {
      await w.cdp.send("Profiler.enable");
      await w.cdp.send("Profiler.setSamplingInterval", { interval: 100 });
    }
    await waitFor200(w.coldReq, w.child, 30_000);
  }
  const broken = new Set();
  for (let round = 1; round <= ROUNDS; round++) {
    for (const mode of MODES) {
      for (const w of live) {
        const { worker, base, cdp } = w;
        if (mode === "catalog" && worker !== "edgeport") continue;
        if (broken.has(`${worker} ${mode}`)) continue;
        const req = request(worker, mode, base, upstream);
        let sample;
        try {
          sample = await check(worker, mode, req);
        } catch (e) {
          console.log(`perf: ${e.message}`);
          failed = true;
          broken.add(`${worker} ${mode}`);
          rows.push({ worker, mode, round, error: e.message });
          continue;
        }
        if (WARMUP > 0) await run(req, WARMUP);
        if (cdp) await cdp.send("Profiler.start");
        const r = await run(req);
        if (cdp) {
          const { profile } = await cdp.send("Profiler.stop");
          const file = path.join(OUT, `${worker}-${mode}${ROUNDS > 1 ? `-${round}` : ""}.cpuprofile`);
          writeFileSync(file, JSON.stringify(profile));
          const sum = summarise(profile);
          const pct = (c) => `${((100 * c) / sum.total).toFixed(1)} %`;
          const perReq = (c) => `${(((profile.endTime - profile.startTime) * (c / sum.total)) / r.ok).toFixed(1)} µs/req`;
          console.log(`perf: ${worker} ${mode}: CPU profile ${path.relative(ROOT, file)} (${sum.total} samples over ${r.ok} requests)`);
          console.log(`  by kind: ${sum.kinds.map(([k, c]) => `${k} ${pct(c)} (${perReq(c)})`).join(", ")}`);
          console.log(`  by area (share of samples; µs/request as profiled, the profiler slows everything):`);
          for (const [area, c] of sum.areas) console.log(`  | ${area} | ${pct(c)} | ${perReq(c)} |`);
          console.log(`  top functions by self time:`);
          for (const [k, c] of sum.top) console.log(`  ${pct(c).padStart(7)} ${perReq(c).padStart(13)}  ${k.replace("\t", "  ")}`);
        }
        rows.push({ worker, mode, round, ...r });
        console.log(`perf: round ${round}: ${worker} ${mode}: ${r.rps.toFixed(0)} req/s, p50 ${r.p50.toFixed(2)} ms, p99 ${r.p99.toFixed(2)} ms, ${r.ok} × 200, ${r.non2xx} other statuses, ${r.errors} errors, ${r.timeouts} timeouts (one answer: ${sample})`);
        if (r.non2xx || r.errors || r.timeouts) failed = true;
      }
    }
  }
} finally {
  for (const w of live) {
    w.cdp?.close();
    if (w.child) await stopWorkerd(w.child);
  }
}
await upstream.close();

// ---- the table ----
/** One (worker, mode) cell over its rounds: the median req/s, and its rounds' ratios to the floor's same round. */
const cells = [];
for (const w of live) {
  for (const mode of MODES) {
    const own = rows.filter((r) => r.worker === w.worker && r.mode === mode);
    if (!own.length) continue;
    if (own.some((r) => r.error)) {
      cells.push({ worker: w.worker, mode, error: true });
      continue;
    }
    const floorRound = (round) => rows.find((r) => r.worker === "floor" && r.mode === (mode === "catalog" ? "json" : mode) && r.round === round && r.rps);
    const ratios = own.map((r) => floorRound(r.round) && r.rps / floorRound(r.round).rps).filter((x) => x !== undefined);
    const floorRps = median(own.map((r) => floorRound(r.round)?.rps).filter(Boolean));
    cells.push({ worker: w.worker, mode, rps: median(own.map((r) => r.rps)), p50: median(own.map((r) => r.p50)), p99: median(own.map((r) => r.p99)), floorRps, ratios });
  }
}
const fmt = (n, d = 0) => (n === undefined || Number.isNaN(n) ? "—" : n.toLocaleString("en-US", { minimumFractionDigits: d, maximumFractionDigits: d }));
const LABEL = {
  floor: "floor (trivial Rust pass-through)",
  edgeport: "edgeport (build/)",
  portkey: "Portkey 1.15.2 (TS)",
};
const MODE_LABEL = { json: "JSON, header credentials", catalog: "JSON, catalog (@slug + gateway key)", stream33: "stream, 33 events", stream219: "stream, 219 events" };
console.log("");
console.log(`Measured ${started.toISOString().slice(0, 16).replace("T", " ")} UTC, ${os.cpus().length} cores shared by autocannon, the stand-in and workerd (load average before the run: ${load0.map((l) => l.toFixed(2)).join(" ")}${busyText}); ${SECONDS} s × ${CONNECTIONS} connections per cell${ROUNDS > 1 ? `, ${ROUNDS} interleaved rounds (medians; × floor: the median of each round's ratio, [lowest–highest])` : ""}.`);
console.log("");
console.log("| Worker | mode | req/s | p50 ms | p99 ms | own cost ms/request | × floor req/s | own cost µs/event |");
console.log("| --- | --- | --- | --- | --- | --- | --- | --- |");
for (const c of cells) {
  if (c.error) {
    console.log(`| ${LABEL[c.worker]} | ${MODE_LABEL[c.mode]} | failed | | | | | |`);
    continue;
  }
  const isFloor = c.worker === "floor";
  const own = c.floorRps && !isFloor ? 1000 / c.rps - 1000 / c.floorRps : undefined;
  const events = STREAM_EVENTS[c.mode];
  const perEvent = own !== undefined && events ? (own * 1000) / events : undefined;
  const ratio = c.ratios.length ? median(c.ratios) : undefined;
  const spread = c.ratios.length > 1 ? ` [${fmt(Math.min(...c.ratios), 2)}–${fmt(Math.max(...c.ratios), 2)}]` : "";
  console.log(`| ${LABEL[c.worker]} | ${MODE_LABEL[c.mode]} | ${fmt(c.rps)} | ${fmt(c.p50, 2)} | ${fmt(c.p99, 2)} | ${isFloor ? "— (the floor)" : fmt(own, 3)} | ${isFloor ? "1" : fmt(ratio, 2) + spread} | ${isFloor || !events ? "—" : fmt(perEvent, 1)} |`);
}
console.log("");
console.log("| Worker | cold start, spawn → first 200 (median) | all spawns, ms |");
console.log("| --- | --- | --- |");
for (const [w, cs] of Object.entries(cold)) console.log(`| ${LABEL[w]} | ${fmt(median(cs))} ms | ${cs.map((c) => c.toFixed(0)).join(", ")} |`);
console.log(`\nload average after the run: ${os.loadavg().map((l) => l.toFixed(2)).join(" ")}`);
process.exit(failed ? 1 : 0);
