// scripts/dev.sh's seeding (scripts/seed-dev.mjs), run for real through `wrangler kv bulk put` into a
// local KV directory that the real Worker (workerd) then reads: with AWS credentials in the
// environment it writes a sealed `@bedrock` record (the region from AWS_REGION / AWS_DEFAULT_REGION,
// no custom host), with OPENAI_API_KEY an `@openai` one, and grants them to the dev key; without them
// only `@demo`. Nothing reaches AWS: the Worker's calls to bedrock-runtime.<region>.amazonaws.com are
// delivered to the stand-in (which checks the SigV4 signature with AWS's signer), and the seeding
// itself runs with every proxy pointed at a closed port.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import http from "node:http";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import { fileURLToPath } from "node:url";
import { openProvider } from "../scripts/catalog-lib.mjs";
import { startGateway, rawChat, TEST_CREDENTIALS, OPENAI_TEST_KEYS } from "./harness.mjs";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const NAMESPACE_ID = readFileSync(path.join(ROOT, "wrangler.toml"), "utf8").match(/binding = "CATALOG"\s*\nid = "([0-9a-f]+)"/)[1];
const DEV_KEY = "ek_local_dev_demo_key";
const AWS_VARS = ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_BEARER_TOKEN_BEDROCK", "OPENAI_API_KEY", "OPENAI_BASE_URL"];

const dirs = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** Runs the seeding into a fresh directory with `vars` as the only AWS/OpenAI environment. */
function seed(vars) {
  const dir = mkdtempSync(path.join(tmpdir(), "edgeport-dev-seed-"));
  dirs.push(dir);
  const env = { ...process.env, WRANGLER_SEND_METRICS: "false", HTTPS_PROXY: "http://127.0.0.1:9", HTTP_PROXY: "http://127.0.0.1:9" };
  for (const k of AWS_VARS) delete env[k];
  Object.assign(env, vars);
  const args = [path.join(ROOT, "scripts", "seed-dev.mjs"), "http://127.0.0.1:8788", "--persist-to", dir, "--dev-vars", path.join(dir, ".dev.vars")];
  return new Promise((resolve) => {
    execFile("node", args, { cwd: ROOT, env, encoding: "utf8", timeout: 120_000 }, (err, stdout, stderr) => {
      const catalogKey = readFileSync(path.join(dir, ".dev.vars"), "utf8").match(/CATALOG_KEY="([^"]+)"/)?.[1];
      resolve({ status: err ? err.code ?? err.signal : 0, stdout, stderr, dir, catalogKey });
    });
  });
}

/**
 * A Miniflare outboundService: Bedrock Runtime's real hosts are delivered to the stand-in (their
 * host header kept, so the signature still verifies); every host asked for is noted.
 */
function bedrockToStandin(getStandin, hosts) {
  return async (request) => {
    const u = new URL(request.url);
    hosts.push(u.host);
    if (!/^bedrock-runtime\.[a-z0-9-]+\.amazonaws\.com$/.test(u.hostname)) return new Response("not in this test", { status: 599 });
    const standin = getStandin();
    const body = Buffer.from(await request.arrayBuffer());
    const headers = {};
    for (const [k, v] of request.headers) if (k !== "content-length" && k !== "transfer-encoding") headers[k] = v;
    headers.host ??= u.host;
    headers["content-length"] = String(body.length);
    return new Promise((resolve, reject) => {
      const q = http.request({ host: "127.0.0.1", port: standin.port, method: request.method, path: u.pathname + u.search, headers, agent: false }, (res) => {
        const h = new Headers();
        for (const [k, v] of Object.entries(res.headers)) for (const one of [v].flat()) h.append(k, one);
        resolve(new Response(Readable.toWeb(res), { status: res.statusCode, headers: h }));
      });
      q.on("error", reject);
      q.end(body);
    });
  };
}

/** The real Worker on the seeded directory, with the seeded CATALOG_KEY. */
async function gatewayOn(seeded, hosts) {
  let gw;
  gw = await startGateway({
    vars: { CATALOG_KEY: seeded.catalogKey, CATALOG_CACHE_TTL_MS: "0" },
    miniflare: {
      kvPersist: path.join(seeded.dir, "v3", "kv"),
      kvNamespaces: { CATALOG: NAMESPACE_ID },
      outboundService: bedrockToStandin(() => gw.standin, hosts),
    },
  });
  return gw;
}

test("AWS keys and OPENAI_API_KEY in the environment: sealed @bedrock (their region, no custom host) and @openai, granted to the dev key; the Worker signs for that region", async () => {
  const t = TEST_CREDENTIALS.temporary;
  const s = await seed({
    AWS_ACCESS_KEY_ID: t.accessKeyId,
    AWS_SECRET_ACCESS_KEY: t.secretAccessKey,
    AWS_SESSION_TOKEN: t.sessionToken,
    AWS_DEFAULT_REGION: "us-west-2",
    AWS_REGION: "eu-west-1",
    OPENAI_API_KEY: OPENAI_TEST_KEYS.valid,
  });
  assert.equal(s.status, 0, s.stderr);
  assert.match(s.stdout, /^key=ek_local_dev_demo_key$/m);
  assert.match(s.stdout, /^seeded=demo,bedrock,openai$/m);
  assert.match(s.stderr, /@bedrock: real Amazon Bedrock in eu-west-1 \(region from AWS_REGION\), credentials from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN/);
  assert.match(s.stderr, /@openai: https:\/\/api\.openai\.com\/v1 with OPENAI_API_KEY/);
  for (const secret of [t.secretAccessKey, t.sessionToken, OPENAI_TEST_KEYS.valid]) {
    assert.ok(!s.stdout.includes(secret) && !s.stderr.includes(secret), "no secret is printed");
  }

  const hosts = [];
  const gw = await gatewayOn(s, hosts);
  try {
    const raw = await gw.kv.get("provider:bedrock");
    const record = JSON.parse(raw);
    assert.deepEqual(Object.keys(record).sort(), ["aws_region", "provider", "schema", "sealed"]);
    assert.equal(record.aws_region, "eu-west-1");
    for (const secret of [t.secretAccessKey, t.sessionToken, t.accessKeyId]) assert.ok(!raw.includes(secret), "sealed, not in plain text");
    const opened = openProvider(s.catalogKey, "bedrock", record);
    assert.deepEqual(opened.auth, { type: "access_key", access_key_id: t.accessKeyId, secret_access_key: t.secretAccessKey, session_token: t.sessionToken });
    assert.equal(opened.custom_host, undefined);
    const openai = JSON.parse(await gw.kv.get("provider:openai"));
    assert.ok(!JSON.stringify(openai).includes(OPENAI_TEST_KEYS.valid));
    assert.equal(openProvider(s.catalogKey, "openai", openai).auth.api_key, OPENAI_TEST_KEYS.valid);

    // The dev key reaches @bedrock; the call goes to eu-west-1's real host (delivered to the stand-in
    // here), signed for eu-west-1 with the seeded credentials.
    const r = await rawChat(gw, { model: "us.amazon.nova-micro-v1:0", messages: [{ role: "user", content: "hi" }] },
      { "x-portkey-api-key": DEV_KEY, "x-portkey-provider": "@bedrock" });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(hosts, ["bedrock-runtime.eu-west-1.amazonaws.com"]);
    const sent = gw.standin.requests().at(-1);
    assert.equal(sent.headers.host, "bedrock-runtime.eu-west-1.amazonaws.com");
    assert.deepEqual([sent.signature.ok, sent.signature.region, sent.signature.accessKeyId], [true, "eu-west-1", t.accessKeyId]);
  } finally {
    await gw.close();
  }
});

test("AWS_BEARER_TOKEN_BEDROCK: @bedrock with the API key; AWS_DEFAULT_REGION when AWS_REGION is unset", async () => {
  const s = await seed({ AWS_BEARER_TOKEN_BEDROCK: TEST_CREDENTIALS.apiKey, AWS_DEFAULT_REGION: "ap-northeast-1", AWS_ACCESS_KEY_ID: "AKIAIGNOREDBYTHEAPIKEY" , AWS_SECRET_ACCESS_KEY: "ignored" });
  assert.equal(s.status, 0, s.stderr);
  assert.match(s.stdout, /^seeded=demo,bedrock$/m);
  assert.match(s.stderr, /in ap-northeast-1 \(region from AWS_DEFAULT_REGION\), credentials from AWS_BEARER_TOKEN_BEDROCK/);
  const hosts = [];
  const gw = await gatewayOn(s, hosts);
  try {
    const record = JSON.parse(await gw.kv.get("provider:bedrock"));
    assert.equal(record.aws_region, "ap-northeast-1");
    assert.deepEqual(openProvider(s.catalogKey, "bedrock", record).auth, { type: "api_key", api_key: TEST_CREDENTIALS.apiKey });
    const r = await rawChat(gw, { model: "us.amazon.nova-micro-v1:0", messages: [{ role: "user", content: "hi" }] },
      { "x-portkey-api-key": DEV_KEY, "x-portkey-provider": "@bedrock" });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(hosts, ["bedrock-runtime.ap-northeast-1.amazonaws.com"]);
    assert.equal(gw.standin.requests().at(-1).signature.auth, "bearer");
  } finally {
    await gw.close();
  }
});

test("without AWS or OpenAI variables nothing changes: @demo only, and the dev key is not granted @bedrock", async () => {
  const s = await seed({ AWS_ACCESS_KEY_ID: "AKIAONLYHALFOFAPAIR" });
  assert.equal(s.status, 0, s.stderr);
  assert.match(s.stdout, /^seeded=demo$/m);
  assert.equal(s.stderr.includes("@bedrock"), false);
  const gw = await gatewayOn(s, []);
  try {
    assert.equal(await gw.kv.get("provider:bedrock"), null);
    assert.equal(await gw.kv.get("provider:openai"), null);
    assert.ok(await gw.kv.get("provider:demo"));
    const r = await rawChat(gw, { model: "us.amazon.nova-micro-v1:0", messages: [{ role: "user", content: "hi" }] },
      { "x-portkey-api-key": DEV_KEY, "x-portkey-provider": "@bedrock" });
    assert.equal(r.status, 403, r.text);
  } finally {
    await gw.close();
  }
});
