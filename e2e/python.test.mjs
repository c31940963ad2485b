// The Python SDKs (openai, anthropic, portkey-ai, langchain-openai from PyPI) against the real Worker: runs
// e2e/python/smoke.py, e2e/python/openai_fallback.py, e2e/python/responses.py and e2e/python/media.py in the virtualenv scripts/setup.sh made (pinned
// by requirements.txt), against a gateway whose stand-in gives its recorded answers; and e2e/python/langchain_demo.py
// against a second gateway whose stand-in answers like a model (answers: "model", standin/README.md "Model answers").
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { pythonVenv, startGateway, openaiRecord, secretLeaks } from "./harness.mjs";

let gw;
let modelGw; // the stand-in in model mode (LangChain needs answers in the shape it asks for)
before(async () => {
  gw = await startGateway({ slugs: { demo: true, "bedrock-prod": true } });
  await gw.seedProvider("openai-prod", openaiRecord(gw.standin));
  modelGw = await startGateway({ standin: { answers: "model", paceMs: 0 }, slugs: { demo: true } });
});
after(async () => {
  await gw?.close();
  await modelGw?.close();
});

/**
 * Runs a script of e2e/python with the gateway URL, the gateway key and the stand-in URL (of `on`, the
 * recorded-answers gateway unless told); resolves its stdout.
 */
function runPython(script, on = gw) {
  const python = `${pythonVenv()}/bin/python`;
  assert.ok(existsSync(python), `${python} is missing: run bash scripts/setup.sh`);
  return new Promise((resolve, reject) => {
    execFile(python, [script, on.url, on.gatewayKey, on.standin.url], { timeout: 60_000 }, (err, stdout, stderr) => {
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

test("LangChain (langchain-openai ChatOpenAI) on a model-mode stand-in: invoke / stream echo, with_structured_output into nested pydantic models (JSON, streamed, partial objects), bind_tools round trip (JSON and streamed chunks)", async () => {
  const out = await runPython("e2e/python/langchain_demo.py", modelGw);
  assert.match(out, /all LangChain checks passed/);
  modelGw.bodies.push(out);
  // The Worker reached Bedrock's Converse and ConverseStream for every step (the script resets the stand-in
  // between its parts: the last part's tool round trip, JSON then streamed).
  const ops = modelGw.standin.requests().map((r) => `${r.operation}:${r.modelAnswer?.kind}`);
  assert.deepEqual(ops, ["converse:tool", "converse:text", "converse-stream:tool", "converse-stream:text"]);
});

test("no secret (the OpenAI keys included) in any log line or body", () => {
  assert.deepEqual(secretLeaks(gw, [gw.gatewayKey]), []);
  assert.deepEqual(secretLeaks(modelGw, [modelGw.gatewayKey]), []);
});
