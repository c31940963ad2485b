// Issue 11 end to end: a warm isolate remembers gateway key and provider records for
// CATALOG_CACHE_TTL_MS, so the catalog path reads no KV; a change in KV (a disabled key, rotated
// credentials) takes effect when that time has passed, and at once with CATALOG_CACHE_TTL_MS=0.
// Through workerd with real KV (miniflare), the stand-in verifying every signature.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { startGateway, rawChat, standinRecord, sleep, TEST_CREDENTIALS } from "./harness.mjs";

const MODEL = "anthropic.claude-3-haiku-20240307-v1:0";
const KEY = "ek_e2e_memory_team_000000000000000000000";
const gateways = [];
after(async () => {
  for (const gw of gateways) await gw.close();
});

async function gateway(ttl) {
  const gw = await startGateway({ vars: { CATALOG_CACHE_TTL_MS: String(ttl) } });
  gateways.push(gw);
  await gw.seedProvider("mem", standinRecord(gw.standin.url));
  await gw.seedKey(KEY, { name: "memory", providers: ["mem"] });
  return gw;
}

const call = (gw) => rawChat(gw, { model: `@mem/${MODEL}`, messages: [{ role: "user", content: "hi" }] }, { "x-portkey-api-key": KEY });
const wrongSecret = (gw) => standinRecord(gw.standin.url, {
  auth: { type: "access_key", access_key_id: TEST_CREDENTIALS.longTerm.accessKeyId, secret_access_key: "rotated-but-wrong-secret-000000000000000" },
});

test("records are remembered for CATALOG_CACHE_TTL_MS, then read again", async () => {
  const TTL = 1500;
  const gw = await gateway(TTL);
  assert.equal((await call(gw)).status, 200);
  // The operator disables the key and rotates the provider's credentials (to a wrong secret).
  await gw.seedKey(KEY, { name: "memory", providers: ["mem"], enabled: false });
  await gw.seedProvider("mem", wrongSecret(gw));
  const started = Date.now();
  const within = await call(gw);
  if (Date.now() - started < TTL - 200) assert.equal(within.status, 200, "the isolate still uses what it read");
  await sleep(TTL + 300);
  const after = await call(gw);
  assert.equal(after.status, 401, after.text);
  assert.equal(after.json.error.code, "invalid_gateway_key");
  // Re-enabled: the rotated record is read now, and the stand-in refuses its signature.
  await gw.seedKey(KEY, { name: "memory", providers: ["mem"] });
  await sleep(TTL + 300);
  const rotated = await call(gw);
  assert.equal(rotated.status, 403, rotated.text);
});

test("CATALOG_CACHE_TTL_MS=0: every request reads KV, a change applies at once", async () => {
  const gw = await gateway(0);
  assert.equal((await call(gw)).status, 200);
  await gw.seedKey(KEY, { name: "memory", providers: ["mem"], enabled: false });
  assert.equal((await call(gw)).status, 401);
  await gw.seedKey(KEY, { name: "memory", providers: ["mem"] });
  await gw.seedProvider("mem", wrongSecret(gw));
  assert.equal((await call(gw)).status, 403);
});
