// Issue 6 end to end: gateway keys, sealed catalog records that fail closed, assumed roles through
// STS (called once, refreshed once), API-key providers, trusted hosts — through workerd, with the
// stand-in verifying every signature.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import OpenAI from "openai";
import {
  startGateway, openaiClient, rawChat, secretLeaks, standinRecord, sleep, longTermHeaders, TEST_CREDENTIALS, SECRETS,
} from "./harness.mjs";
import { providerRecord, newCatalogKey } from "../scripts/catalog-lib.mjs";

const MODEL = "anthropic.claude-3-haiku-20240307-v1:0";
const USER = [{ role: "user", content: "hi" }];
const ROLE = "arn:aws:iam::123456789012:role/edgeport-bedrock";
const TEAM_KEY = "ek_e2e_team_a_prod_only_0000000000000000";
const OFF_KEY = "ek_e2e_disabled_00000000000000000000000000";
let gw;

before(async () => {
  gw = await startGateway({
    vars: {
      // The Worker's base credentials for AssumeRole (secrets in production).
      AWS_ACCESS_KEY_ID: TEST_CREDENTIALS.longTerm.accessKeyId,
      AWS_SECRET_ACCESS_KEY: TEST_CREDENTIALS.longTerm.secretAccessKey,
    },
  });
  const host = gw.standin.url;
  await gw.seedProvider("prod", standinRecord(host));
  await gw.seedProvider("dev", standinRecord(host));
  await gw.seedProvider("role", standinRecord(host, {
    auth: { type: "assumed_role", role_arn: ROLE, external_id: "ext-42" },
    stsEndpoint: host,
  }));
  await gw.seedProvider("keyed", standinRecord(host, { auth: { type: "api_key", api_key: TEST_CREDENTIALS.apiKey } }));
  // A GovCloud-style record whose host is a name, not the address: the signature covers it.
  await gw.seedProvider("named", standinRecord(`http://localhost:${gw.standin.port}`));
  await gw.seedKey(TEAM_KEY, { name: "team-a", providers: ["prod"], models: [MODEL] });
  await gw.seedKey(OFF_KEY, { name: "off", providers: ["*"], enabled: false });
  gw.standin.setRole(ROLE, { externalId: "ext-42" });
});
after(async () => {
  await gw?.close();
});

const chat = (headers, body = { model: MODEL, messages: USER }) => rawChat(gw, body, headers);

test("gateway keys: missing 401, unknown 401, disabled 401, provider not granted 403, model not granted 403", async () => {
  const cases = [
    [{ "x-portkey-provider": "@prod", "x-portkey-api-key": null }, 401, "missing_gateway_key"],
    [{ "x-portkey-provider": "@prod", "x-portkey-api-key": "ek_unknown" }, 401, "invalid_gateway_key"],
    [{ "x-portkey-provider": "@prod", "x-portkey-api-key": null, authorization: "Bearer ek_unknown" }, 401, "invalid_gateway_key"],
    [{ "x-portkey-provider": "@prod", "x-portkey-api-key": OFF_KEY }, 401, "invalid_gateway_key"],
    [{ "x-portkey-provider": "@dev", "x-portkey-api-key": TEAM_KEY }, 403, "provider_not_granted"],
  ];
  const before = gw.standin.requests().length;
  for (const [headers, status, code] of cases) {
    const r = await chat(headers);
    assert.equal(r.status, status, JSON.stringify(headers));
    assert.deepEqual(Object.keys(r.json.error).sort(), ["code", "message", "param", "type"]);
    assert.equal(r.json.error.code, code);
  }
  const r = await chat({ "x-portkey-api-key": TEAM_KEY }, { model: "@prod/anthropic.claude-3-opus", messages: USER });
  assert.equal(r.status, 403);
  assert.equal(r.json.error.code, "model_not_granted");
  assert.equal(gw.standin.requests().length, before, "no refused request reached Bedrock");
  // The granted key works, as the OpenAI SDK sends it (Authorization: Bearer).
  const ok = await openaiClient(gw, { "x-portkey-provider": "@prod" }, TEAM_KEY).chat.completions.create({ model: MODEL, messages: USER });
  assert.equal(ok.object, "chat.completion");
});

test("the SDKs raise AuthenticationError / PermissionDeniedError", async () => {
  const noKey = await openaiClient(gw, { "x-portkey-provider": "@prod" }, "ek_not_a_key").chat.completions.create({ model: MODEL, messages: USER }).catch((e) => e);
  assert.ok(noKey instanceof OpenAI.AuthenticationError, String(noKey));
  const denied = await openaiClient(gw, { "x-portkey-provider": "@dev" }, TEAM_KEY).chat.completions.create({ model: MODEL, messages: USER }).catch((e) => e);
  assert.ok(denied instanceof OpenAI.PermissionDeniedError, String(denied));
});

test("header credentials need a gateway key by default", async () => {
  const r = await chat({
    "x-portkey-api-key": null,
    "x-portkey-provider": "bedrock",
    "x-portkey-aws-access-key-id": TEST_CREDENTIALS.longTerm.accessKeyId,
    "x-portkey-aws-secret-access-key": TEST_CREDENTIALS.longTerm.secretAccessKey,
    "x-portkey-aws-region": "us-east-1",
    "x-portkey-custom-host": gw.standin.url,
  });
  assert.equal(r.status, 401);
  assert.equal(r.json.error.code, "missing_gateway_key");
});

test("an assumed-role provider works; STS is called once for many requests, concurrent ones included", async () => {
  gw.standin.reset();
  gw.standin.setRole(ROLE, { externalId: "ext-42" });
  const first = await chat({ "x-portkey-provider": "@role" });
  assert.equal(first.status, 200, first.text);
  const rest = await Promise.all(Array.from({ length: 6 }, () => chat({ "x-portkey-provider": "@role" })));
  for (const r of rest) assert.equal(r.status, 200, r.text);
  assert.equal(gw.standin.counters.sts, 1);
  const sts = gw.standin.requests().find((r) => r.operation === "assume-role");
  assert.equal(sts.signature.ok, true);
  assert.equal(sts.signature.service, "sts");
  assert.match(sts.rawBody ?? String(sts.body), /ExternalId=ext-42/);
  const issued = gw.standin.issuedCredentials().at(-1);
  const bedrock = gw.standin.requests().filter((r) => r.operation === "converse");
  assert.equal(bedrock.length, 7);
  for (const r of bedrock) {
    assert.equal(r.signature.ok, true);
    assert.equal(r.signature.accessKeyId, issued.accessKeyId);
  }
});

test("credentials near expiry are refreshed exactly once, shared by concurrent requests", async () => {
  gw.standin.reset();
  // 302 s of validity and a 5-minute refresh margin: due for refresh after ~2 s.
  gw.standin.setRole(ROLE, { externalId: "ext-42", durationSeconds: 302 });
  // Drop the credentials cached by the earlier test: another role session name keeps them apart.
  await gw.seedProvider("role2", standinRecord(gw.standin.url, {
    auth: { type: "assumed_role", role_arn: ROLE, external_id: "ext-42", session_name: "refresh-test" },
    stsEndpoint: gw.standin.url,
  }));
  const h = { "x-portkey-provider": "@role2" };
  assert.equal((await chat(h)).status, 200);
  const fresh = gw.standin.counters.sts;
  await sleep(2500);
  const burst = await Promise.all(Array.from({ length: 5 }, () => chat(h)));
  for (const r of burst) assert.equal(r.status, 200, r.text);
  assert.equal(gw.standin.counters.sts - fresh, 1, "one refresh for the burst");
});

test("assumed-role credentials (with their session token) also sign the control-plane look-up", async () => {
  const arn = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/role-profile";
  gw.standin.reset();
  gw.standin.setRole(ROLE, { externalId: "ext-42" });
  gw.standin.setInferenceProfile(arn, { modelArn: "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-sonnet-4-5-20250929-v1:0" });
  const r = await chat({ "x-portkey-api-key": gw.gatewayKey }, { model: `@role/${arn}`, messages: USER, top_k: 5 });
  assert.equal(r.status, 200, r.text);
  const lookup = gw.standin.requests().find((q) => q.operation === "get-inference-profile");
  assert.ok(lookup, "the profile was looked up");
  assert.equal(lookup.signature.ok, true);
  assert.ok(lookup.headers["x-amz-security-token"], "the session token is signed on the control plane too");
  const converse = gw.standin.requests().find((q) => q.operation === "converse");
  assert.equal(converse.body.additionalModelRequestFields.top_k, 5, "the family (Claude) was known from the profile");
});

test("STS refusing the role (bad external id) → 403 with STS's code; its message only in the operator's log", async () => {
  await gw.seedProvider("badrole", standinRecord(gw.standin.url, {
    auth: { type: "assumed_role", role_arn: ROLE, external_id: "wrong" },
    stsEndpoint: gw.standin.url,
  }));
  const r = await chat({ "x-portkey-provider": "@badrole" });
  assert.equal(r.status, 403);
  assert.equal(r.json.error.code, "AccessDenied");
  assert.match(r.json.error.message, /`@badrole` could not assume its role \(AccessDenied\)/);
  assert.ok(gw.logs.some((l) => l.includes("catalog_assume_role_failed") && l.includes("STS AssumeRole failed")));
});

test("a Bedrock API key provider authenticates with Bearer", async () => {
  gw.standin.reset();
  const r = await chat({ "x-portkey-provider": "@keyed" });
  assert.equal(r.status, 200, r.text);
  const seen = gw.standin.requests().at(-1);
  assert.equal(seen.signature.ok, true);
  assert.match(seen.headers.authorization, /^Bearer /);
});

test("a record's own host is signed for (the host actually fetched)", async () => {
  gw.standin.reset();
  const r = await chat({ "x-portkey-provider": "@named" });
  assert.equal(r.status, 200, r.text);
  const seen = gw.standin.requests().at(-1);
  assert.equal(seen.headers.host, `localhost:${gw.standin.port}`);
  assert.equal(seen.signature.ok, true);
});

test("tampered, foreign-key and plaintext records fail closed", async () => {
  const good = providerRecord(gw.catalogKey, "t1", standinRecord(gw.standin.url));
  const tampered = { ...good, sealed: good.sealed.slice(0, -6) + (good.sealed.endsWith("AAAA==") ? "BBBB==" : "AAAA==") };
  await gw.seedProvider("t1", JSON.stringify(tampered));
  await gw.seedProvider("t2", JSON.stringify(providerRecord(newCatalogKey(), "t2", standinRecord(gw.standin.url))));
  await gw.seedProvider("t3", JSON.stringify(providerRecord(gw.catalogKey, "prod", standinRecord(gw.standin.url)))); // moved slug
  await gw.seedProvider("t4", JSON.stringify({ schema: 1, provider: "bedrock", aws_region: "us-east-1",
    auth: { type: "access_key", access_key_id: "AKIDPLAIN", secret_access_key: "plain/secret/in/kv" } }));
  gw.standin.reset();
  for (const slug of ["t1", "t2", "t3", "t4"]) {
    const r = await chat({ "x-portkey-provider": `@${slug}` });
    assert.equal(r.status, 500, slug);
    assert.equal(r.json.error.code, "catalog_record_invalid");
  }
  assert.equal(gw.standin.requests().length, 0, "nothing was sent upstream");
  assert.ok(gw.logs.some((l) => l.includes("catalog_record_invalid")));
  assert.ok(!gw.logs.some((l) => l.includes("plain/secret/in/kv")));
});

test("custom hosts are judged as workerd's fetch reads them: numeric spellings of loopback are refused, nothing is sent", async () => {
  // An untrusted listener on loopback: the repro reached it through these spellings.
  const hits = [];
  const trap = http.createServer((req, res) => {
    hits.push(req.url);
    res.writeHead(500);
    res.end();
  });
  await new Promise((r) => trap.listen(0, "127.0.0.1", r));
  try {
    const port = trap.address().port;
    for (const host of [
      `http://2130706433:${port}`,
      `http://127.1:${port}`,
      `http://0x7f.1:${port}`,
      `http://0177.0.0.1:${port}`,
      `http://[::ffff:127.0.0.1]:${port}`,
      `http://[::127.0.0.1]:${port}`,
      `http://0.0.0.0:${port}`,
    ]) {
      const r = await rawChat(gw, { model: MODEL, messages: USER }, longTermHeaders(gw, { "x-portkey-custom-host": host }));
      assert.equal(r.status, 403, `${host}: ${r.text}`);
      assert.equal(r.json.error.code, "custom_host_not_trusted", host);
    }
    assert.deepEqual(hits, []);
  } finally {
    await new Promise((r) => trap.close(r));
  }
});

test("a trusted http://127.0.0.1:PORT entry: any spelling of that address and port, not https, not another port", async () => {
  gw.standin.reset();
  const port = Number(gw.standin.port);
  // The numeric spelling is the trusted stand-in, fetched (and signed) as 127.0.0.1.
  const ok = await chat({ "x-portkey-provider": "@prod", "x-portkey-custom-host": `http://2130706433:${port}` });
  assert.equal(ok.status, 200, ok.text);
  assert.equal(gw.standin.requests().at(-1).signature.ok, true);
  const sent = gw.standin.requests().length;
  for (const host of [`https://127.0.0.1:${port}`, `http://127.0.0.1:${port + 1}`, "http://127.0.0.1"]) {
    const r = await chat({ "x-portkey-provider": "@prod", "x-portkey-custom-host": host });
    assert.equal(r.status, 403, `${host}: ${r.text}`);
    assert.equal(r.json.error.code, "custom_host_not_trusted", host);
  }
  assert.equal(gw.standin.requests().length, sent, "nothing more reached the stand-in");
});

test("no secret (AWS keys, session tokens, API keys, gateway keys) in any log line or body", () => {
  const extra = [TEST_CREDENTIALS.apiKey, TEAM_KEY, OFF_KEY, gw.gatewayKey, gw.catalogKey, ...gw.standin.issuedCredentials().flatMap((c) => [c.secretAccessKey, c.sessionToken])];
  const leaks = secretLeaks(gw);
  for (const line of [...gw.logs, ...gw.bodies]) for (const s of [...SECRETS, ...extra]) if (s && line.includes(s)) leaks.push(line.slice(0, 200));
  assert.deepEqual(leaks, []);
});
