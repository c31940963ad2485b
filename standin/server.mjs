#!/usr/bin/env node
// The Bedrock stand-in: one HTTP server on 127.0.0.1 playing Bedrock Runtime, the Bedrock control plane
// (GetInferenceProfile), STS (AssumeRole) and OpenAI's /v1/chat/completions (openai.mjs), with a
// scripting / inspection API under /__standin/*.
// In-process: `const s = await startStandin({port: 0})`. CLI: `node standin/server.mjs --port 8788`.
import http from "node:http";
import { fileURLToPath } from "node:url";
import { createState, resetState, pushScript, handleOperation, sendJson, checkAnswerSettings } from "./routes.mjs";
import { TEST_CREDENTIALS, OPENAI_TEST_KEYS, OPENAI_TEST_ORGANIZATION, OPENAI_TEST_PROJECT } from "./credentials.mjs";
import { DEFAULT_MODEL_PACE_MS } from "./model.mjs";

export { TEST_CREDENTIALS, OPENAI_TEST_KEYS, OPENAI_TEST_ORGANIZATION, OPENAI_TEST_PROJECT };

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

const snapshotCounters = (c) => ({ sts: c.sts, getInferenceProfile: c.getInferenceProfile, byOperation: { ...c.byOperation } });

/**
 * Starts a stand-in.
 * @param {object} [opts]
 * @param {number} [opts.port=0]               0 = random free port
 * @param {number} [opts.stsDurationSeconds]   lifetime of STS-issued credentials (overrides the request's DurationSeconds)
 * @param {number} [opts.maxSkewMs=900000]     allowed x-amz-date skew
 * @param {() => number} [opts.now]            server clock (ms), for signature-expiry / credential-expiry tests
 * @param {number} [opts.countTokens=42]       default CountTokens answer
 * @param {Record<string, object|null>} [opts.inferenceProfiles] profile id or ARN → partial GetInferenceProfile answer
 *                                              (`{modelArn}` shortcut allowed); null → 404 ResourceNotFoundException
 * @param {Record<string, {externalId?: string, durationSeconds?: number, deny?: boolean}>} [opts.roles] role ARN → STS rules
 * @param {boolean} [opts.log=false]           log each request to stderr
 * @param {{streamPauseMs?: number, strictFields?: boolean, keys?: Record<string, string>,
 *          organizations?: string[], projects?: string[]}} [opts.openai]  OpenAI settings (README "OpenAI")
 * @param {"recorded"|"model"} [opts.answers="recorded"]  "recorded": the recorded fixtures and fixed texts the
 *                                              tests replay; "model": answers in the shape the request asks for
 *                                              (model.mjs; README "Model answers")
 * @param {number} [opts.paceMs=30]            model mode: ms between stream frames (0 = as fast as possible)
 */
export async function startStandin(opts = {}) {
  const state = createState(opts);

  async function control(req, res, body) {
    const p = req.url.split("?")[0].replace(/^\/__standin/, "");
    let json = null;
    if (body.length) {
      try {
        json = JSON.parse(body.toString("utf8"));
      } catch {
        return sendJson(res, 400, { message: "control API bodies are JSON" });
      }
    }
    try {
      if (req.method === "GET" && (p === "/health" || p === "" || p === "/")) return sendJson(res, 200, { ok: true });
      if (req.method === "GET" && p === "/requests") return sendJson(res, 200, api.requests());
      if (req.method === "GET" && p === "/counters") return sendJson(res, 200, api.counters);
      if (req.method === "GET" && p === "/pending") return sendJson(res, 200, api.pending());
      if (req.method === "GET" && p === "/issued") return sendJson(res, 200, api.issuedCredentials());
      const media = /^\/media\/([A-Za-z0-9_-]+)\.png$/.exec(p);
      if (req.method === "GET" && media) {
        // an image generated for an OpenAI `response_format: "url"` request (until reset)
        const png = state.mediaStore.get(media[1]);
        if (!png) return sendJson(res, 404, { message: `no stored image ${media[1]}` });
        res.writeHead(200, { "content-type": "image/png", "content-length": png.length });
        return res.end(png);
      }
      if (req.method === "POST" && p === "/reset") return api.reset(), sendJson(res, 200, { ok: true });
      if (req.method === "POST" && p === "/script") {
        for (const e of Array.isArray(json) ? json : [json]) api.script(e);
        return sendJson(res, 200, { ok: true, pending: state.queue.length });
      }
      if (req.method === "POST" && p === "/inference-profile") {
        api.setInferenceProfile(json?.id, json?.profile === undefined ? {} : json.profile);
        return sendJson(res, 200, { ok: true });
      }
      if (req.method === "POST" && p === "/role") {
        const { roleArn, ...rule } = json ?? {};
        api.setRole(roleArn, rule);
        return sendJson(res, 200, { ok: true });
      }
      if (req.method === "POST" && p === "/configure") return api.configure(json ?? {}), sendJson(res, 200, { ok: true });
    } catch (e) {
      return sendJson(res, 400, { message: e.message });
    }
    return sendJson(res, 404, { message: `unknown control call ${req.method} ${req.url}` });
  }

  const server = http.createServer({ noDelay: true, keepAlive: true }, async (req, res) => {
    try {
      const body = await readBody(req);
      if (req.url.startsWith("/__standin")) return await control(req, res, body);
      await handleOperation(state, req, res, body);
      if (opts.log) {
        const r = state.log[state.log.length - 1];
        process.stderr.write(`standin: ${req.method} ${req.url} -> ${r?.operation} ${res.statusCode} sig=${r?.signature?.ok}\n`);
      }
    } catch (e) {
      if (opts.log) process.stderr.write(`standin: error ${e.stack}\n`);
      if (!res.headersSent) sendJson(res, 500, { message: `stand-in error: ${e.message}` }, { "x-amzn-errortype": "InternalServerException:" });
      else res.destroy(e);
    }
  });
  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port ?? 0, "127.0.0.1", () => {
      server.off("error", reject);
      resolve();
    });
  });
  const port = server.address().port;

  const api = {
    url: `http://127.0.0.1:${port}`,
    port,
    /** The OpenAI base URL (what the openai SDK's `baseURL` and a gateway's custom host take). */
    openaiBaseURL: `http://127.0.0.1:${port}/v1`,
    credentials: TEST_CREDENTIALS,
    openaiKeys: OPENAI_TEST_KEYS,
    /** Stops listening and drops open connections. */
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections?.();
      }),
    /** Clears the script queue, the request log and the counters (scripted profiles/roles/config back to opts). */
    reset: () => resetState(state),
    /** Queues a one-shot scripted answer (see README.md). */
    script: (entry) => pushScript(state, entry),
    /** The request log (copy of the array; records are live until their response ends). */
    requests: () => state.log.slice(),
    /** Queued script entries not yet consumed. */
    pending: () => structuredClone(state.queue),
    get counters() {
      return snapshotCounters(state.counters);
    },
    /** Credentials issued by AssumeRole so far: [{accessKeyId, secretAccessKey, sessionToken, expiration, roleArn, externalId}]. */
    issuedCredentials: () => state.issued.slice(),
    /** Sets the GetInferenceProfile answer for an id or ARN (partial object merged onto defaults; null → 404). */
    setInferenceProfile: (idOrArn, profile) => {
      if (!idOrArn) throw new Error("setInferenceProfile needs an id or ARN");
      state.profiles.set(idOrArn, profile);
    },
    /** STS rules for a role ARN: {externalId?, durationSeconds?, deny?}. */
    setRole: (roleArn, rule = {}) => {
      if (!roleArn) throw new Error("setRole needs a roleArn");
      state.roles.set(roleArn, rule);
    },
    /** Changes {stsDurationSeconds, maxSkewMs, countTokens, answers, paceMs, openai} (and `now` in-process) until the next reset. */
    configure: (cfg = {}) => {
      checkAnswerSettings(cfg);
      for (const k of ["stsDurationSeconds", "maxSkewMs", "countTokens", "now", "answers", "paceMs"]) if (k in cfg) state.config[k] = cfg[k];
      if ("countTokens" in cfg) state.config.countTokensSet = cfg.countTokens !== undefined && cfg.countTokens !== null;
      if (cfg.openai) {
        const o = state.config.openai;
        Object.assign(o, cfg.openai, { keys: { ...o.keys, ...(cfg.openai.keys ?? {}) } });
      }
    },
  };
  return api;
}

// ---------------------------------------------------------------- CLI
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const args = process.argv.slice(2);
  const get = (name) => {
    const i = args.indexOf(name);
    if (i >= 0) return args[i + 1];
    const eq = args.find((a) => a.startsWith(name + "="));
    return eq ? eq.slice(name.length + 1) : undefined;
  };
  if (args.includes("--help") || args.includes("-h")) {
    console.log(
      "usage: node standin/server.mjs [--port 8788] [--answers recorded|model] [--pace-ms N] [--sts-duration-seconds N] [--openai-stream-pause-ms N] [--quiet]",
    );
    process.exit(0);
  }
  const sts = get("--sts-duration-seconds");
  const pause = get("--openai-stream-pause-ms");
  const answers = get("--answers");
  const paceMs = get("--pace-ms");
  const s = await startStandin({
    answers,
    paceMs: paceMs !== undefined ? Number(paceMs) : undefined,
    port: Number(get("--port") ?? process.env.STANDIN_PORT ?? 8788),
    stsDurationSeconds: sts ? Number(sts) : undefined,
    openai: pause !== undefined ? { streamPauseMs: Number(pause) } : undefined,
    log: !args.includes("--quiet"),
  });
  console.log(`standin listening on ${s.url}`);
  if (answers === "model") console.log(`standin answers: model (${paceMs ?? DEFAULT_MODEL_PACE_MS} ms between stream frames)`);
  const stop = async () => {
    await s.close();
    process.exit(0);
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
}
