// The Python SDKs (openai, anthropic, portkey-ai from PyPI) against the real Worker: runs
// e2e/python/smoke.py, e2e/python/openai_fallback.py, e2e/python/responses.py and e2e/python/media.py in the virtualenv scripts/setup.sh made (pinned
// by requirements.txt).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { pythonVenv, startGateway, openaiRecord, secretLeaks } from "./harness.mjs";

let gw;
before(async () => {
  gw = await startGateway({ slugs: { demo: true, "bedrock-prod": true } });
  await gw.seedProvider("openai-prod", openaiRecord(gw.standin));
});
after(async () => {
  await gw?.close();
});

/** Runs a script of e2e/python with the gateway URL, the gateway key and the stand-in URL; resolves its stdout. */
function runPython(script) {
  const python = `${pythonVenv()}/bin/python`;
  assert.ok(existsSync(python), `${python} is missing: run bash scripts/setup.sh`);
  return new Promise((resolve, reject) => {
    execFile(python, [script, gw.url, gw.gatewayKey, gw.standin.url], { timeout: 60_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${stdout}\n${stderr}`));
      else resolve(stdout);
    });
  });
}

test("openai, anthropic and portkey-ai Python SDKs work unchanged", async () => {
  const out = await runPython("e2e/python/smoke.py");
  assert.match(out, /all Python SDK checks passed/);
  gw.bodies.push(out);
});

test("the OpenAI → Bedrock fallback from Python (openai + createHeaders(config), portkey_ai.Portkey(config)), JSON and stream", async () => {
  const out = await runPython("e2e/python/openai_fallback.py");
  assert.match(out, /all OpenAI fallback checks passed/);
  gw.bodies.push(out);
});

test("the Responses API from Python: responses.create, responses.stream (events, get_final_response()), previous_response_id", async () => {
  const out = await runPython("e2e/python/responses.py");
  assert.match(out, /all Python Responses API checks passed/);
  gw.bodies.push(out);
});

test("embeddings and image generation from Python: openai (+ createHeaders, a fallback config) and portkey_ai.Portkey on /v1/embeddings and /v1/images/generations", async () => {
  const out = await runPython("e2e/python/media.py");
  assert.match(out, /all Python media checks passed/);
  gw.bodies.push(out);
});

test("no secret (the OpenAI keys included) in any log line or body", () => {
  assert.deepEqual(secretLeaks(gw, [gw.gatewayKey]), []);
});
