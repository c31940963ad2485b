// End-to-end harness: the Bedrock stand-in in-process and the real built Worker (build/index.js +
// build/index_bg.wasm) in workerd through miniflare, on real HTTP ports on 127.0.0.1.
import path from "node:path";
import http from "node:http";
import { Readable } from "node:stream";
import { fileURLToPath } from "node:url";
import { existsSync, readFileSync } from "node:fs";
import { createHash } from "node:crypto";
import os from "node:os";
import { Miniflare } from "miniflare";
import OpenAI from "openai";
import { startStandin } from "../standin/server.mjs";
import { TEST_CREDENTIALS, OPENAI_TEST_KEYS } from "../standin/credentials.mjs";
import { gatewayKeyRecord, newCatalogKey, providerRecord } from "../scripts/catalog-lib.mjs";

export { TEST_CREDENTIALS, OPENAI_TEST_KEYS };

/**
 * The virtualenv with the pinned Python SDKs: scripts/env.sh and scripts/setup.sh compute the
 * same path (the tools cache, keyed by the requirements file's hash).
 */
export function pythonVenv() {
  const req = readFileSync(path.join(ROOT, "e2e", "python", "requirements.txt"));
  const hash = createHash("sha256").update(req).digest("hex").slice(0, 12);
  const tools = process.env.EDGEPORT_TOOLS ?? path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), ".cache"), "edgeport", "tools");
  return path.join(tools, `pyvenv-${hash}`);
}

/** The gateway key every suite seeds (granted every provider) and sends by default. */
export const TEST_GATEWAY_KEY = "ek_e2e_all_providers_4f1c2b9a7e3d5c8b1a0f";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const BUILD = path.join(ROOT, "build");

/** Every value that must never appear in a log line or a response body. */
export const SECRETS = [
  TEST_CREDENTIALS.longTerm.secretAccessKey,
  TEST_CREDENTIALS.temporary.secretAccessKey,
  TEST_CREDENTIALS.temporary.sessionToken,
  "wrong/secret/key/DOES+NOT+MATCH0000000",
  "Signature=",
  // The stand-in's OpenAI keys (a caller's Bearer in header mode, inline config api_key, sealed records).
  OPENAI_TEST_KEYS.valid,
  OPENAI_TEST_KEYS.other,
];

export const WRONG_SECRET = "wrong/secret/key/DOES+NOT+MATCH0000000";

/**
 * A provider (the plain form seedProvider seals) for the stand-in's long-term key. `extra` may set
 * region, auth, customHost, stsEndpoint, defaultParams.
 */
export function standinRecord(standinUrl, extra = {}) {
  return {
    region: "us-east-1",
    auth: {
      type: "access_key",
      access_key_id: TEST_CREDENTIALS.longTerm.accessKeyId,
      secret_access_key: TEST_CREDENTIALS.longTerm.secretAccessKey,
    },
    customHost: standinUrl,
    ...extra,
  };
}

/**
 * An OpenAI provider (the plain form seedProvider seals) for the stand-in's OpenAI side: its valid key,
 * base URL `<stand-in>/v1`. `extra` may set baseUrl, organization, project, defaultParams, auth.
 */
export function openaiRecord(standin, extra = {}) {
  return {
    provider: "openai",
    auth: { type: "api_key", api_key: OPENAI_TEST_KEYS.valid },
    baseUrl: standin.openaiBaseURL,
    ...extra,
  };
}

/**
 * Header-mode OpenAI (`x-portkey-provider: openai`): the OpenAI key goes in Authorization (the openai
 * SDK's apiKey, or `authorization` here for fetch), so the gateway key goes in x-portkey-api-key; the
 * stand-in's OpenAI base URL as the custom host.
 */
export function openaiModeHeaders(gw, extra = {}) {
  return {
    "x-portkey-provider": "openai",
    "x-portkey-api-key": gw.gatewayKey,
    "x-portkey-custom-host": gw.standin.openaiBaseURL,
    ...extra,
  };
}

/**
 * Lines in a Worker log that mean the isolate broke: a wasm trap, a Rust panic (console_error_panic_hook
 * prints "panicked at" to console.error), workers-rs re-creating the wasm instance after a critical error,
 * or workerd cancelling a request whose code hung. (`upstream_unreachable`, an error code, is not one.)
 */
export const ISOLATE_FAILURE = /Reinitializing|panicked|RuntimeError|\bunreachable\b|\bhung\b/;

/**
 * Log lines that match ISOLATE_FAILURE: every structured line, and the raw workerd lines that are not
 * structured (JSON) lines already counted.
 */
export function isolateFailures(gw) {
  const raw = (gw.stdio ?? []).filter((l) => {
    try {
      return typeof JSON.parse(l)?.message !== "string";
    } catch {
      return true;
    }
  });
  return [...gw.logs, ...raw].filter((l) => ISOLATE_FAILURE.test(l));
}

/**
 * Starts the stand-in and the Worker. opts.vars: extra Worker vars; opts.trust: more
 * TRUSTED_CUSTOM_HOSTS entries besides the stand-in's own `http://127.0.0.1:PORT`; opts.slugs:
 * {slug: record|true} seeded into the CATALOG KV (true = the stand-in record); opts.miniflare: extra Miniflare options
 * (e.g. outboundService); opts.doPersist: the Durable Objects' persist directory; opts.standin: extra
 * startStandin options, e.g. {answers: "model", paceMs: 0} (standin/README.md "Model answers"). Returns { url, standin, kv, logs, stdio, bodies, seedProvider, record(body), close }.
 * `logs` has every structured log line of workerd ("level: message": console.* of the Worker, the
 * panic hook's console.error included); `stdio` has every raw line workerd wrote on stdout / stderr
 * (also the runtime's own lines that miniflare's structured-log filter drops).
 */
export async function startGateway(opts = {}) {
  for (const f of ["index.js", "index_bg.wasm"]) {
    if (!existsSync(path.join(BUILD, f))) throw new Error(`build/${f} is missing: run bash scripts/build.sh first`);
  }
  const standin = await startStandin({ ...(opts.standin ?? {}), port: 0 });
  const catalogKey = newCatalogKey();
  const logs = [];
  const stdio = [];
  const rawLines = (stream) => {
    let rest = "";
    stream.on("data", (chunk) => {
      const text = rest + chunk;
      const lines = text.split("\n");
      rest = lines.pop();
      for (const l of lines) if (l) stdio.push(l);
    });
    stream.on("end", () => rest && stdio.push(rest));
  };
  const bodies = []; // every response body a test saw (for the secret scan)
  let mf;
  try {
    mf = new Miniflare({
      host: "127.0.0.1",
      port: 0,
      modules: true,
      scriptPath: path.join(BUILD, "index.js"),
      modulesRoot: BUILD,
      modulesRules: [{ type: "CompiledWasm", include: ["**/*.wasm"] }],
      compatibilityDate: "2026-04-01",
      // As wrangler.toml: the request's signal aborts when the client leaves (a stream is cut then).
      compatibilityFlags: ["enable_request_signal"],
      kvNamespaces: ["CATALOG"],
      // The Limiter Durable Object (wrangler.toml: the LIMITER binding, migration
      // new_sqlite_classes). useSQLite is what new_sqlite_classes means to workerd: without it
      // `ctx.storage.sql` throws. opts.doPersist: a directory that keeps the objects' SQLite files
      // across restarts (otherwise miniflare keeps them in a temporary directory dispose() removes).
      durableObjects: { LIMITER: { className: "Limiter", useSQLite: true } },
      ...(opts.doPersist ? { durableObjectsPersist: opts.doPersist } : {}),
      // Trusted entries name scheme, host and port: the stand-in speaks plain http.
      bindings: {
        TRUSTED_CUSTOM_HOSTS: [standin.url, ...(opts.trust ?? [])].join(","),
        CATALOG_KEY: catalogKey,
        ...(opts.vars ?? {}),
      },
      handleStructuredLogs: ({ level, message }) => {
        logs.push(`${level}: ${message}`);
      },
      handleRuntimeStdio: (stdout, stderr) => {
        rawLines(stdout);
        rawLines(stderr);
      },
      telemetry: { enabled: false },
      ...(opts.stsToStandin ? { outboundService: stsToStandin(standin) } : {}),
      ...(opts.miniflare ?? {}),
    });
    const url = (await mf.ready).toString().replace(/\/$/, "");
    const kv = await mf.getKVNamespace("CATALOG");
    // A string is stored as is (tampering tests); an object is sealed with this gateway's key.
    const seedProvider = async (slug, record = standinRecord(standin.url)) =>
      kv.put(`provider:${slug}`, typeof record === "string" ? record : JSON.stringify(providerRecord(catalogKey, slug, record)));
    const seedKey = async (key, grant) => {
      const { kvKey, record } = gatewayKeyRecord(key, grant);
      await kv.put(kvKey, JSON.stringify(record));
    };
    await seedKey(TEST_GATEWAY_KEY, { name: "e2e-all", providers: ["*"] });
    for (const [slug, rec] of Object.entries(opts.slugs ?? {})) {
      await seedProvider(slug, rec === true ? undefined : rec);
    }
    let closed = false;
    return {
      url,
      standin,
      kv,
      logs,
      stdio,
      bodies,
      mf,
      seedProvider,
      seedKey,
      catalogKey,
      gatewayKey: TEST_GATEWAY_KEY,
      /** Keep a response body for the final secret scan. */
      record(body) {
        bodies.push(typeof body === "string" ? body : JSON.stringify(body));
        return body;
      },
      async close() {
        if (closed) return;
        closed = true;
        await mf.dispose().catch(() => {});
        await standin.close();
      },
    };
  } catch (e) {
    await mf?.dispose().catch(() => {});
    await standin.close();
    throw e;
  }
}

/**
 * A Miniflare outboundService (opts.stsToStandin): the Worker's calls to the real STS
 * (https://sts.<region>.amazonaws.com, where header-credential assumed roles go) and to the stand-in are
 * delivered to the stand-in as received (the signed host header kept); anything else is fetched as is.
 */
export function stsToStandin(standin) {
  return async (request) => {
    const u = new URL(request.url);
    const sts = /^sts\.[a-z0-9-]+\.amazonaws\.com$/.test(u.hostname);
    const local = u.hostname === "127.0.0.1" && u.port === String(standin.port);
    if (!sts && !local) return fetch(request);
    const body = Buffer.from(await request.arrayBuffer());
    const headers = {};
    for (const [k, v] of request.headers) if (k !== "content-length" && k !== "transfer-encoding") headers[k] = v;
    headers.host ??= u.host;
    headers["content-length"] = String(body.length);
    return new Promise((resolve, reject) => {
      const q = http.request(
        { host: "127.0.0.1", port: standin.port, method: request.method, path: u.pathname + u.search, headers, agent: false },
        (res) => {
          const h = new Headers();
          for (const [k, v] of Object.entries(res.headers)) for (const one of [v].flat()) h.append(k, one);
          const noBody = [204, 205, 304].includes(res.statusCode) || request.method === "HEAD";
          resolve(new Response(noBody ? null : Readable.toWeb(res), { status: res.statusCode, headers: h }));
        },
      );
      q.on("error", reject);
      q.end(body);
    });
  };
}

/** The OpenAI SDK pointed at the gateway. */
export function openaiClient(gw, headers = {}, apiKey = gw.gatewayKey) {
  return new OpenAI({ apiKey, baseURL: gw.url + "/v1", defaultHeaders: headers, maxRetries: 0, timeout: 20_000 });
}

/** x-portkey-* headers for the stand-in's long-term key (no session token). */
export function longTermHeaders(gw, extra = {}) {
  return {
    "x-portkey-api-key": gw.gatewayKey,
    "x-portkey-provider": "bedrock",
    "x-portkey-aws-access-key-id": TEST_CREDENTIALS.longTerm.accessKeyId,
    "x-portkey-aws-secret-access-key": TEST_CREDENTIALS.longTerm.secretAccessKey,
    "x-portkey-aws-region": "us-east-1",
    "x-portkey-custom-host": gw.standin.url,
    ...extra,
  };
}

/** x-portkey-* headers for the stand-in's temporary key (session token required). */
export function temporaryHeaders(gw, extra = {}) {
  return {
    "x-portkey-api-key": gw.gatewayKey,
    "x-portkey-provider": "bedrock",
    "x-portkey-aws-access-key-id": TEST_CREDENTIALS.temporary.accessKeyId,
    "x-portkey-aws-secret-access-key": TEST_CREDENTIALS.temporary.secretAccessKey,
    "x-portkey-aws-session-token": TEST_CREDENTIALS.temporary.sessionToken,
    "x-portkey-aws-region": "us-east-1",
    "x-portkey-custom-host": gw.standin.url,
    ...extra,
  };
}

/** POST /v1/chat/completions with fetch; returns {status, headers, text, json}. */
export async function rawChat(gw, body, headers = {}, init = {}) {
  const res = await fetch(gw.url + "/v1/chat/completions", {
    method: "POST",
    // The suite's gateway key unless the test sets (or removes, with null) x-portkey-api-key.
    headers: Object.fromEntries(
      Object.entries({ "content-type": "application/json", "x-portkey-api-key": gw.gatewayKey, ...headers }).filter(([, v]) => v != null),
    ),
    body: typeof body === "string" ? body : JSON.stringify(body),
    ...init,
  });
  const text = await res.text();
  gw.bodies.push(text);
  let json = null;
  try {
    json = JSON.parse(text);
  } catch {}
  return { status: res.status, headers: res.headers, text, json };
}

/**
 * POST with node:http, tolerant of an early answer: a gateway that refuses a large body (413) before
 * reading it may have the connection reset while the client still uploads (workerd closes a connection
 * whose request body was not read). fetch() then fails even though the answer was sent. Here the answer
 * counts once its headers are in, and errors after that only end the body read; when the reset wins
 * the race and no answer was read at all, the request is sent again (`retries`, default 2).
 * expectContinue: send `expect: 100-continue` (as curl does for bodies over 1 MiB) and upload only on
 * `100 Continue` (or after 1 s without an answer): an early answer then arrives before any upload.
 * body: string, Buffer, an (async) iterable of chunks (sent chunked), or a function returning one (needed
 * for retries of an iterable). Resolves {status, headers, text, json, ms, attempts, uploaded, error?,
 * timedOut?} (status 0: no answer).
 */
export async function postEarly(gw, path, body, headers = {}, { timeoutMs = 20_000, retries = 2, expectContinue = false } = {}) {
  const make = typeof body === "function" ? body : () => body;
  for (let attempt = 1; ; attempt++) {
    const r = await postEarlyOnce(gw, path, make(), headers, timeoutMs, expectContinue);
    const reset = !r.status && /ECONNRESET|EPIPE|socket hang up/i.test(r.error ?? "");
    if (!reset || attempt > retries) return { ...r, attempts: attempt };
  }
}

function postEarlyOnce(gw, path, body, headers, timeoutMs, expectContinue) {
  const u = new URL(gw.url + path);
  const t0 = Date.now();
  return new Promise((resolve) => {
    let status = 0;
    let resHeaders = {};
    const chunks = [];
    let settled = false;
    const finish = (extra = {}) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      const text = Buffer.concat(chunks).toString("utf8");
      gw.bodies.push(text);
      let json = null;
      try {
        json = JSON.parse(text);
      } catch {}
      resolve({ status, headers: resHeaders, text, json, ms: Date.now() - t0, uploaded, ...extra });
      q.destroy();
    };
    let uploaded = false;
    const timer = setTimeout(() => finish({ timedOut: true }), timeoutMs);
    const whole = typeof body === "string" || body instanceof Uint8Array;
    const h = {
      ...headers,
      ...(whole ? { "content-length": String(Buffer.byteLength(body)) } : {}),
      ...(expectContinue ? { expect: "100-continue" } : {}),
    };
    const q = http.request({ host: u.hostname, port: u.port, path: u.pathname + u.search, method: "POST", headers: h, agent: false }, (res) => {
      status = res.statusCode;
      resHeaders = res.headers;
      res.on("data", (d) => chunks.push(d));
      res.on("end", () => finish());
      res.on("error", (e) => finish({ error: e.message }));
      res.on("aborted", () => finish({ error: "aborted" }));
    });
    q.on("error", (e) => {
      // An upload cut short after the answer arrived is fine: wait for the answer's end.
      if (!status) finish({ error: e.message });
    });
    const upload = async () => {
      if (uploaded || settled) return;
      uploaded = true;
      try {
        if (whole) {
          q.end(body);
          return;
        }
        for await (const c of body) {
          if (settled || q.destroyed) return;
          if (!q.write(c)) await new Promise((r) => (q.once("drain", r), q.once("close", r)));
        }
        q.end();
      } catch {}
    };
    if (!expectContinue) upload();
    else {
      q.on("continue", upload);
      q.flushHeaders();
      setTimeout(() => !status && upload(), 1000);
    }
  });
}

/** Parses SSE text into the list of `data:` payloads (strings). */
export function sseData(text) {
  return text
    .split(/\r?\n\r?\n/)
    .map((ev) => ev.split(/\r?\n/).filter((l) => l.startsWith("data:")).map((l) => l.slice(5).trimStart()).join("\n"))
    .filter((d) => d.length > 0);
}

/** Asserts nothing secret (SECRETS, and `extra`) appears in logs or bodies seen. Returns the offending lines. */
export function secretLeaks(gw, extra = []) {
  const out = [];
  const secrets = [...SECRETS, ...extra.filter(Boolean)];
  for (const [where, list] of [["log", gw.logs], ["stdio", gw.stdio ?? []], ["body", gw.bodies]]) {
    for (const line of list) for (const s of secrets) if (line.includes(s)) out.push(`${where} contains ${JSON.stringify(s)}: ${line.slice(0, 300)}`);
  }
  return out;
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Polls fn until truthy or timeout. */
export async function waitFor(fn, timeoutMs = 3000, stepMs = 20) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) return v;
    await sleep(stepMs);
  }
}
