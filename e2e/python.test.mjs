// The Python SDKs (openai, anthropic, portkey-ai from PyPI) against the real Worker: runs
// e2e/python/smoke.py in the virtualenv scripts/setup.sh made (pinned by requirements.txt).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { pythonVenv, startGateway } from "./harness.mjs";

let gw;
before(async () => {
  gw = await startGateway({ slugs: { demo: true } });
});
after(async () => {
  await gw?.close();
});

test("openai, anthropic and portkey-ai Python SDKs work unchanged", async () => {
  const python = `${pythonVenv()}/bin/python`;
  assert.ok(existsSync(python), `${python} is missing: run bash scripts/setup.sh`);
  const out = await new Promise((resolve, reject) => {
    execFile(python, ["e2e/python/smoke.py", gw.url, gw.gatewayKey, gw.standin.url], { timeout: 60_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${stdout}\n${stderr}`));
      else resolve(stdout);
    });
  });
  assert.match(out, /all Python SDK checks passed/);
  gw.bodies.push(out);
});
