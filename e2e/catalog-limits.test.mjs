// The catalog CLI's limits (scripts/catalog.mjs: add-key / add-provider LIMITS, set-limits, usage,
// the limits in list-keys / list-providers), run for real through wrangler against a local KV store
// that the real Worker (harness startGateway, workerd) reads too: miniflare is pointed at the very
// directory the CLI's `--persist-to` writes (<dir>/v3/kv, the namespace id of wrangler.toml), so
// what the CLI writes is what the Worker serves, limits, counts and all. CATALOG_CACHE_TTL_MS=0: the
// Worker reads KV on every request, so a changed limit applies to the next one.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { hashKey, open, seal } from "../scripts/catalog-lib.mjs";
import { startGateway, rawChat, secretLeaks, isolateFailures, waitFor, TEST_CREDENTIALS, OPENAI_TEST_KEYS } from "./harness.mjs";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const CLI = path.join(ROOT, "scripts", "catalog.mjs");
const NAMESPACE_ID = readFileSync(path.join(ROOT, "wrangler.toml"), "utf8").match(/binding = "CATALOG"\s*\nid = "([0-9a-f]+)"/)[1];
const ADMIN_TOKEN = "admin-token-for-the-cli-e2e-0123456789";
const CLAUDE_37 = "us.anthropic.claude-3-7-sonnet-20250219-v1:0";
const USER = [{ role: "user", content: "hi" }];
/** A Converse answer with this usage (the stand-in returns it as is). */
const converseAnswer = (inputTokens, outputTokens) => ({
  output: { message: { role: "assistant", content: [{ text: "Metered." }] } },
  stopReason: "end_turn",
  usage: { inputTokens, outputTokens, totalTokens: inputTokens + outputTokens },
  metrics: { latencyMs: 10 },
});

let dir;
let gw;
let env;

before(async () => {
  dir = mkdtempSync(path.join(tmpdir(), "edgeport-cli-limits-"));
  gw = await startGateway({
    vars: { ADMIN_TOKEN, CATALOG_CACHE_TTL_MS: "0" },
    miniflare: { kvPersist: path.join(dir, "v3", "kv"), kvNamespaces: { CATALOG: NAMESPACE_ID } },
  });
  env = { ...process.env, CATALOG_KEY: gw.catalogKey, WRANGLER_SEND_METRICS: "false" };
  delete env.EDGEPORT_ADMIN_TOKEN;
});
after(async () => {
  await gw?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Runs the CLI (without blocking this process: the Worker's stand-in lives here). {status, stdout, stderr}. */
function run(args, { extraEnv = {}, unset = [], persistTo = dir } = {}) {
  const e = { ...env, ...extraEnv };
  for (const k of unset) delete e[k];
  return new Promise((resolve) => {
    execFile("node", [CLI, ...args, "--persist-to", persistTo], { cwd: ROOT, env: e, encoding: "utf8", timeout: 180_000 }, (err, stdout, stderr) => {
      resolve({ status: err ? (typeof err.code === "number" ? err.code : `killed: ${err.signal ?? err.code}`) : 0, stdout, stderr });
    });
  });
}

/** Runs the CLI expecting success; returns stdout. */
async function cli(...args) {
  const r = await run(args);
  assert.equal(r.status, 0, `catalog ${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
}

/** Runs the CLI expecting a refusal (exit 2); returns stderr. */
async function refused(...args) {
  const r = await run(args);
  assert.equal(r.status, 2, `catalog ${args.join(" ")} should be refused: status ${r.status}, ${r.stdout}${r.stderr}`);
  return r.stderr;
}

/** A record's exact stored text, as the Worker's KV binding reads it (null when absent). */
const raw = (key) => gw.kv.get(key);

/** Every record in the namespace: {key: text}. */
async function snapshot() {
  const out = {};
  let cursor;
  for (let page = 0; page < 100; page++) {
    const r = await gw.kv.list({ cursor });
    for (const { name } of r.keys) out[name] = await gw.kv.get(name);
    if (r.list_complete) break;
    cursor = r.cursor;
  }
  return out;
}

/** The gateway key add-key printed. */
const printedKey = (out) => out.split("\n").find((l) => l.startsWith("ek_"));

/** A chat through `@slug` with `key`. */
const chat = (slug, key, model = CLAUDE_37) =>
  rawChat(gw, { model, messages: USER, max_tokens: 64 }, { "x-portkey-api-key": key, "x-portkey-provider": `@${slug}` });

/** The Worker's admin view of a subject. */
async function adminUsage(subject, token = ADMIN_TOKEN) {
  const res = await fetch(`${gw.url}/v1/admin/usage/${subject}`, { headers: { authorization: `Bearer ${token}` } });
  return { status: res.status, json: await res.json() };
}

const bedrockAuth = ["--access-key-id", TEST_CREDENTIALS.longTerm.accessKeyId, "--secret-access-key", TEST_CREDENTIALS.longTerm.secretAccessKey];

// ------------------------------------------------------------------ add-key / add-provider options

const ALL = { rpm: 60, tpm: 100000, tokens_per_day: 2000000, usd_per_month: 12.5 };
const hashes = {};

test("add-key --rpm --tpm --tokens-per-day --usd-per-month writes exactly those limits; list-keys shows them; the Worker reads them", async () => {
  const outAll = await cli("add-key", "lim-all", "--providers", "prod", "--rpm", "60", "--tpm", "100000", "--tokens-per-day", "2000000",
    "--usd-per-month", "12.5");
  assert.match(outAll, /gateway key "lim-all" \(hash [0-9a-f]{12}\.\.\.\) for prod, limits rpm=60,tpm=100000,tokens_per_day=2000000,usd_per_month=12\.5:/);
  const keyAll = printedKey(outAll);
  hashes.all = hashKey(keyAll);
  const recAll = await raw(`gateway_key:${hashes.all}`);
  assert.deepEqual(JSON.parse(recAll), { schema: 1, hash: hashes.all, name: "lim-all", providers: ["prod"], enabled: true, limits: ALL });
  assert.ok(recAll.endsWith(`"limits":{"rpm":60,"tpm":100000,"tokens_per_day":2000000,"usd_per_month":12.5}}`), recAll);

  const keyOne = printedKey(await cli("add-key", "lim-one", "--providers", "*", "--usd-per-month", "7"));
  hashes.one = hashKey(keyOne);
  assert.deepEqual(JSON.parse(await raw(`gateway_key:${hashes.one}`)).limits, { usd_per_month: 7 });

  const keyNone = printedKey(await cli("add-key", "lim-none", "--providers", "prod"));
  hashes.none = hashKey(keyNone);
  assert.ok(!("limits" in JSON.parse(await raw(`gateway_key:${hashes.none}`))), "no option, no limits field");

  const list = await cli("list-keys");
  assert.match(list, new RegExp(`^${hashes.all.slice(0, 12)}\\tlim-all\\tenabled\\tprod\\t\\*\\trpm=60,tpm=100000,tokens_per_day=2000000,usd_per_month=12\\.5$`, "m"));
  assert.match(list, new RegExp(`^${hashes.one.slice(0, 12)}\\tlim-one\\tenabled\\t\\*\\t\\*\\tusd_per_month=7$`, "m"));
  assert.match(list, new RegExp(`^${hashes.none.slice(0, 12)}\\tlim-none\\tenabled\\tprod\\t\\*\\t-$`, "m"));

  // The Worker parses the records: GET /v1/usage answers each key's own limits.
  for (const [key, limits] of [[keyAll, ALL], [keyOne, { usd_per_month: 7 }], [keyNone, {}]]) {
    const res = await fetch(`${gw.url}/v1/usage`, { headers: { "x-portkey-api-key": key } });
    assert.equal(res.status, 200);
    assert.deepEqual((await res.json()).limits, limits);
  }
});

test("add-provider LIMITS (Bedrock and OpenAI): plain limits beside the sealed record, not inside it; the Worker opens both", async () => {
  const out = await cli("add-provider", "prod", "--region", "us-east-1", ...bedrockAuth, "--custom-host", gw.standin.url,
    "--tpm", "50000", "--usd-per-month", "10");
  assert.match(out, /provider @prod saved \(us-east-1, http:\/\/127\.0\.0\.1:\d+; limits tpm=50000,usd_per_month=10\)/);
  const prod = JSON.parse(await raw("provider:prod"));
  assert.deepEqual(Object.keys(prod), ["schema", "provider", "aws_region", "custom_host", "sealed", "limits"]);
  assert.deepEqual(prod.limits, { tpm: 50000, usd_per_month: 10 });
  const sealedProd = JSON.parse(open(gw.catalogKey, "provider:prod", prod.sealed));
  assert.deepEqual(Object.keys(sealedProd).sort(), ["auth", "aws_region", "custom_host", "provider"], "limits are not sealed");

  assert.match(await cli("add-provider", "oa", "--openai", "--api-key", OPENAI_TEST_KEYS.valid, "--base-url", gw.standin.openaiBaseURL, "--rpm", "100"),
    /provider @oa saved \(openai, http:\/\/127\.0\.0\.1:\d+\/v1; limits rpm=100\)/);
  const oa = JSON.parse(await raw("provider:oa"));
  assert.deepEqual(Object.keys(oa), ["schema", "provider", "base_url", "sealed", "limits"]);
  assert.deepEqual(oa.limits, { rpm: 100 });
  assert.deepEqual(JSON.parse(open(gw.catalogKey, "provider:oa", oa.sealed)),
    { provider: "openai", auth: { type: "api_key", api_key: OPENAI_TEST_KEYS.valid }, base_url: gw.standin.openaiBaseURL });

  const list = await cli("list-providers");
  assert.match(list, /^@prod\tus-east-1\taccess_key\thttp:\/\/127\.0\.0\.1:\d+\ttpm=50000,usd_per_month=10$/m);
  assert.match(list, /^@oa\topenai\tapi_key\thttp:\/\/127\.0\.0\.1:\d+\/v1\trpm=100$/m);

  // The Worker opens both and counts against the slugs' limits.
  assert.equal((await chat("prod", gw.gatewayKey)).status, 200);
  assert.equal((await chat("oa", gw.gatewayKey, "gpt-4o-mini")).status, 200);
  const p = await adminUsage("slug:prod");
  assert.equal(p.status, 200);
  assert.deepEqual([p.json.limits, p.json.requests_today], [{ tpm: 50000, usd_per_month: 10 }, 1]);
  assert.deepEqual((await adminUsage("slug:oa")).json.limits, { rpm: 100 });
});

test("add-provider on an existing slug keeps its limits unless LIMITS are given; reseal keeps them", async () => {
  await cli("add-provider", "rot", "--region", "us-east-1", ...bedrockAuth, "--custom-host", gw.standin.url, "--rpm", "5");
  assert.match(await cli("add-provider", "rot", "--region", "us-east-1", ...bedrockAuth, "--custom-host", gw.standin.url),
    /limits rpm=5 \(kept from the replaced record\)/);
  assert.deepEqual(JSON.parse(await raw("provider:rot")).limits, { rpm: 5 });
  await cli("add-provider", "rot", "--region", "us-east-1", ...bedrockAuth, "--custom-host", gw.standin.url, "--tokens-per-day", "900");
  assert.deepEqual(JSON.parse(await raw("provider:rot")).limits, { tokens_per_day: 900 }, "given LIMITS replace the old ones");

  const before = JSON.parse(await raw("provider:rot"));
  assert.match(await cli("reseal"), /@rot resealed \(schema 3 -> 3\)/);
  const afterReseal = JSON.parse(await raw("provider:rot"));
  assert.notEqual(afterReseal.sealed, before.sealed);
  assert.deepEqual({ ...afterReseal, sealed: null }, { ...before, sealed: null }, "reseal keeps the limits");
  assert.equal((await chat("rot", gw.gatewayKey)).status, 200);
  await cli("remove-provider", "rot");
});

// ------------------------------------------------------------------ set-limits

test("set-limits on a key (by name, by hash prefix): only `limits` changes, every other byte kept; --clear-<limit> and --clear", async () => {
  const key = `gateway_key:${hashes.all}`;
  const original = await raw(key);
  const head = original.slice(0, original.indexOf(`,"limits":`));

  assert.match(await cli("set-limits", "lim-all", "--rpm", "30", "--clear-tpm"),
    new RegExp(`key "lim-all" \\(${hashes.all.slice(0, 12)}\\): limits rpm=30,tokens_per_day=2000000,usd_per_month=12\\.5 \\(were rpm=60,tpm=100000,tokens_per_day=2000000,usd_per_month=12\\.5\\)`));
  let now = await raw(key);
  assert.deepEqual(JSON.parse(now), { ...JSON.parse(original), limits: { rpm: 30, tokens_per_day: 2000000, usd_per_month: 12.5 } });
  assert.equal(now, `${head},"limits":{"rpm":30,"tokens_per_day":2000000,"usd_per_month":12.5}}`);

  await cli("set-limits", hashes.all.slice(0, 10), "--usd-per-month", "3.25", "--tpm", "1000");
  now = await raw(key);
  assert.equal(now, `${head},"limits":{"rpm":30,"tpm":1000,"tokens_per_day":2000000,"usd_per_month":3.25}}`);

  await cli("set-limits", "lim-all", "--clear-rpm", "--clear-tpm", "--clear-tokens-per-day", "--clear-usd-per-month");
  assert.equal(await raw(key), head + "}", "no limit left: no limits field at all");
  assert.match(await cli("set-limits", "lim-all", "--clear"), /limits unchanged/);

  // --clear with LIMITS replaces them all.
  await cli("set-limits", "lim-all", "--rpm", "1", "--tpm", "2");
  assert.match(await cli("set-limits", "lim-all", "--clear", "--usd-per-month", "4"), /limits usd_per_month=4 \(were rpm=1,tpm=2\)/);
  assert.equal(await raw(key), `${head},"limits":{"usd_per_month":4}}`);
  await cli("set-limits", "lim-all", "--clear");
  assert.equal(await raw(key), head + "}");

  // The Worker reads each version: no limits now.
  await cli("set-limits", "lim-none", "--rpm", "2");
  assert.deepEqual(JSON.parse(await raw(`gateway_key:${hashes.none}`)).limits, { rpm: 2 });
  assert.deepEqual((await adminUsage(`key:${hashes.none}`)).json.limits, { rpm: 2 });
  assert.deepEqual((await adminUsage(`key:${hashes.all}`)).json.limits, {});
});

test("set-limits @slug needs no CATALOG_KEY, leaves `sealed` and every other byte as they were, and the Worker still opens the record", async () => {
  const original = await raw("provider:prod");
  const head = original.slice(0, original.indexOf(`,"limits":`));
  const r = await run(["set-limits", "@prod", "--rpm", "20", "--clear-usd-per-month"], { unset: ["CATALOG_KEY"] });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /provider @prod: limits rpm=20,tpm=50000 \(were tpm=50000,usd_per_month=10\)/);
  const now = await raw("provider:prod");
  assert.equal(now, `${head},"limits":{"rpm":20,"tpm":50000}}`);
  assert.equal(JSON.parse(now).sealed, JSON.parse(original).sealed);
  assert.deepEqual({ ...JSON.parse(now), limits: null }, { ...JSON.parse(original), limits: null });
  assert.equal((await chat("prod", gw.gatewayKey)).status, 200, "the Worker opens the edited record");
  assert.deepEqual((await adminUsage("slug:prod")).json.limits, { rpm: 20, tpm: 50000 });

  const oaBefore = await raw("provider:oa");
  assert.match((await run(["set-limits", "@oa", "--clear"], { unset: ["CATALOG_KEY"] })).stdout, /provider @oa: no limits \(were rpm=100\)/);
  assert.equal(await raw("provider:oa"), oaBefore.slice(0, oaBefore.indexOf(`,"limits":`)) + "}");
  assert.equal((await chat("oa", gw.gatewayKey, "gpt-4o-mini")).status, 200);
});

test("set-limits edits the stored text, not a JSON round trip: a record whose plain copies say 1.0 stays usable", async () => {
  // A record as another writer (serde, say) could store it: `1.0`, which JSON.parse + stringify turns
  // into `1`. The Worker compares the plain copies with the sealed ones as JSON values, where 1.0 ≠ 1.
  const auth = `{"type":"access_key","access_key_id":"${TEST_CREDENTIALS.longTerm.accessKeyId}","secret_access_key":"${TEST_CREDENTIALS.longTerm.secretAccessKey}"}`;
  const recordFor = (slug) => {
    const plain = `"provider":"bedrock","aws_region":"us-east-1","custom_host":"${gw.standin.url}","default_params":{"temperature":1.0}`;
    return `{"schema":3,${plain},"sealed":"${seal(gw.catalogKey, `provider:${slug}`, `{${plain},"auth":${auth}}`)}"}`;
  };
  const text = recordFor("float");
  assert.notEqual(JSON.stringify(JSON.parse(text)), text, "a round trip would rewrite it");
  await gw.kv.put("provider:float", text);
  assert.equal((await chat("float", gw.gatewayKey)).status, 200);
  // What a round trip would have written is refused by the Worker (so editing in place matters):
  const roundTripped = recordFor("float-rt");
  await gw.kv.put("provider:float-rt", JSON.stringify({ ...JSON.parse(roundTripped), limits: { rpm: 100 } }));
  const bad = await chat("float-rt", gw.gatewayKey);
  assert.equal(bad.status, 500, bad.text);
  assert.match(bad.text, /plain fields differ/);

  await cli("set-limits", "@float", "--rpm", "100");
  assert.equal(await raw("provider:float"), text.slice(0, -1) + `,"limits":{"rpm":100}}`);
  assert.equal((await chat("float", gw.gatewayKey)).status, 200, "the Worker still opens it");
  assert.deepEqual((await adminUsage("slug:float")).json.limits, { rpm: 100 });
  await cli("set-limits", "@float", "--clear");
  assert.equal(await raw("provider:float"), text);
  await gw.kv.delete("provider:float");
  await gw.kv.delete("provider:float-rt");
});

// ------------------------------------------------------------------ refusals

test("bad values, unknown options, unknown or ambiguous keys are refused with a message, and nothing is written", async () => {
  await cli("add-key", "twin", "--providers", "prod");
  await cli("add-key", "twin", "--providers", "prod");
  const before = await snapshot();

  const cases = [
    [["add-key", "bad", "--providers", "prod", "--rpm", "0"], /--rpm "0": requests per minute must be a whole number > 0/],
    [["add-key", "bad", "--providers", "prod", "--rpm", "-1"], /--rpm "-1": requests per minute must be a whole number > 0/],
    [["add-key", "bad", "--providers", "prod", "--rpm", "1.5"], /--rpm "1\.5": requests per minute must be a whole number/],
    [["add-key", "bad", "--providers", "prod", "--rpm", "1e3"], /--rpm "1e3"/],
    [["add-key", "bad", "--providers", "prod", "--tpm", "abc"], /--tpm "abc": tokens per minute must be a whole number > 0/],
    [["add-key", "bad", "--providers", "prod", "--tokens-per-day", "2.5"], /--tokens-per-day "2\.5": tokens per UTC day must be a whole number/],
    [["add-key", "bad", "--providers", "prod", "--tokens-per-day", "9007199254740993"], /at most 9007199254740991/],
    [["add-key", "bad", "--providers", "prod", "--usd-per-month", "0"], /--usd-per-month "0": USD per UTC month must be a number > 0/],
    [["add-key", "bad", "--providers", "prod", "--usd-per-month", "-5"], /--usd-per-month "-5": USD per UTC month must be a number > 0/],
    [["add-key", "bad", "--providers", "prod", "--usd-per-month", "Infinity"], /--usd-per-month "Infinity"/],
    [["add-key", "bad", "--providers", "prod", "--usd-per-month", "ten"], /--usd-per-month "ten"/],
    [["add-key", "bad", "--providers", "prod", "--rpm", "--tpm", "5"], /--rpm needs a value/],
    [["add-key", "bad", "--providers", "prod", "--rpms", "5"], /add-key does not take --rpms/],
    [["add-provider", "bad", "--region", "us-east-1", ...bedrockAuth, "--rpm", "0"], /--rpm "0"/],
    [["add-provider", "bad", "--openai", "--api-key", OPENAI_TEST_KEYS.valid, "--usd-per-month", "-1"], /--usd-per-month "-1"/],
    [["add-provider", "bad", "--openai", "--api-key", OPENAI_TEST_KEYS.valid, "--usd", "1"], /add-provider does not take --usd/],
    [["set-limits", "lim-one", "--rpm", "0"], /--rpm "0"/],
    [["set-limits", "lim-one", "--usd-per-month", "0.0"], /--usd-per-month "0\.0"/],
    [["set-limits", "lim-one"], /nothing to change/],
    [["set-limits", "lim-one", "--rpm", "5", "--clear-rpm"], /--rpm and --clear-rpm contradict each other/],
    [["set-limits", "lim-one", "--per-day", "5"], /set-limits does not take --per-day/],
    [["set-limits", "nobody", "--rpm", "5"], /no gateway key is named "nobody"/],
    [["set-limits", "@nowhere", "--rpm", "5"], /no provider @nowhere/],
    [["set-limits", "@bad slug", "--rpm", "5"], /invalid slug/],
    [["set-limits", "twin", "--rpm", "5"], /"twin" matches 2 keys: [0-9a-f]{12} \(twin\), [0-9a-f]{12} \(twin\); give more of the hash/],
    [["usage", "--url", "ftp://example.com"], /--url must be http/],
  ];
  for (const [args, message] of cases) assert.match(await refused(...args), message, args.join(" "));
  assert.deepEqual(await snapshot(), before, "nothing was written");
  assert.ok(!(await cli("list-providers")).includes("@bad"));
});

// ------------------------------------------------------------------ usage

test("usage: the limits of every limited key and slug; counts from the running Worker, exact after a few requests", async () => {
  await cli("add-provider", "metered-p", "--region", "us-east-1", ...bedrockAuth, "--custom-host", gw.standin.url,
    "--tpm", "50000", "--usd-per-month", "10");
  const out = await cli("add-key", "metered", "--providers", "metered-p", "--rpm", "3", "--tokens-per-day", "100000", "--usd-per-month", "5");
  const key = printedKey(out);
  const hash = hashKey(key);
  const h12 = hash.slice(0, 12);

  // Without --url: the limits only, and why the counts are missing.
  let r = await run(["usage"]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^SUBJECT +RPM +TPM +TOKENS\/DAY +USD\/MONTH$/m);
  assert.match(r.stdout, new RegExp(`^key metered \\(${h12}\\) +3 +- +100000 +5$`, "m"));
  assert.match(r.stdout, /^slug @metered-p +- +50000 +- +10$/m);
  assert.match(r.stdout, /^slug @prod +20 +50000 +- +-$/m);
  assert.match(r.stdout, /counts missing: no --url/);
  assert.ok(!r.stdout.includes("lim-all") && !r.stdout.includes("e2e-all") && !r.stdout.includes("@oa"), "unlimited keys and slugs are not listed");
  r = await run(["usage", "--json"]);
  const limitsOnly = JSON.parse(r.stdout);
  assert.deepEqual([limitsOnly.counts, limitsOnly.url], [false, null]);
  assert.match(limitsOnly.counts_missing, /no --url/);
  assert.deepEqual(limitsOnly.subjects.find((s) => s.subject === `key:${hash}`),
    { subject: `key:${hash}`, kind: "key", name: "metered", hash, enabled: true, limits: { rpm: 3, tokens_per_day: 100000, usd_per_month: 5 }, usage: null });
  assert.deepEqual(limitsOnly.subjects.map((s) => s.subject).sort(),
    [`key:${hash}`, `key:${hashes.none}`, `key:${hashes.one}`, "slug:metered-p", "slug:prod"].sort());

  // --url without the token, with a wrong one: no counts, and why.
  r = await run(["usage", "--url", gw.url]);
  assert.equal(r.status, 0);
  assert.match(r.stdout, /counts missing: EDGEPORT_ADMIN_TOKEN is not set/);
  r = await run(["usage", "--url", gw.url], { extraEnv: { EDGEPORT_ADMIN_TOKEN: "short" } });
  assert.match(r.stdout, /shorter than 16 characters/);
  r = await run(["usage", "--url", gw.url], { extraEnv: { EDGEPORT_ADMIN_TOKEN: "not-the-admin-token-0123456789" } });
  assert.equal(r.status, 1);
  assert.match(r.stdout, /counts missing: the Worker refused EDGEPORT_ADMIN_TOKEN \(401\)/);

  // Three requests under rpm 3, each answered with 1000 input + 200 output tokens; the fourth
  // refused (429, counted nowhere: the key refuses it before the slug is asked).
  gw.standin.reset();
  for (let i = 0; i < 3; i++) {
    gw.standin.script({ match: { operation: "converse" }, json: converseAnswer(1000, 200) });
    const res = await chat("metered-p", key);
    assert.equal(res.status, 200, res.text);
    assert.deepEqual([res.json.usage.prompt_tokens, res.json.usage.completion_tokens], [1000, 200]);
  }
  const fourth = await chat("metered-p", key);
  assert.equal(fourth.status, 429, fourth.text);
  // Usage is recorded after each answer: wait (bounded) until nothing is reserved any more.
  const settled = await waitFor(async () => {
    const [k, s] = await Promise.all([adminUsage(`key:${hash}`), adminUsage("slug:metered-p")]);
    return k.json.tokens_reserved === 0 && s.json.tokens_reserved === 0 && k.json.tokens_today === 3600 && s.json.tokens_today === 3600;
  }, 10_000, 100);
  assert.ok(settled, "the three requests' usage was recorded");

  // claude-3-7-sonnet costs 3 / 15 USD per million input / output tokens (src/usage/prices.rs, row
  // bedrock/claude-3-7-sonnet), computed as the gateway does and summed per request as the Limiter does.
  const perRequest = (1000 * 3.0) / 1e6 + (200 * 15.0) / 1e6;
  let usd = 0;
  for (let i = 0; i < 3; i++) usd += perRequest;

  r = await run(["usage", "--url", gw.url, "--json"], { extraEnv: { EDGEPORT_ADMIN_TOKEN: ADMIN_TOKEN } });
  assert.equal(r.status, 0, r.stdout + r.stderr);
  const counted = JSON.parse(r.stdout);
  assert.deepEqual([counted.url, counted.counts, counted.counts_missing], [gw.url, true, null]);
  const k = counted.subjects.find((s) => s.subject === `key:${hash}`);
  const s = counted.subjects.find((x) => x.subject === "slug:metered-p");
  const pick = (u) => ({
    limits: u.limits, requests_today: u.requests_today, requests_this_month: u.requests_this_month, tokens_today: u.tokens_today,
    tokens_this_month: u.tokens_this_month, tokens_reserved: u.tokens_reserved, usd_this_month: u.usd_this_month, usd_reserved: u.usd_reserved,
  });
  const counts = { requests_today: 3, requests_this_month: 3, tokens_today: 3600, tokens_this_month: 3600, tokens_reserved: 0, usd_this_month: usd, usd_reserved: 0 };
  assert.deepEqual(pick(k.usage), { limits: { rpm: 3, tokens_per_day: 100000, usd_per_month: 5 }, ...counts });
  assert.deepEqual(pick(s.usage), { limits: { tpm: 50000, usd_per_month: 10 }, ...counts });
  assert.equal(k.usage.subject, `key:${hash}`);
  assert.ok(k.usage.remaining_requests <= 1, `rpm 3, three taken: ${k.usage.remaining_requests} left`);
  assert.ok(!("warning" in k) && !("error" in k));
  // Every other limited subject has counts too (from the same Worker).
  assert.ok(counted.subjects.every((x) => x.usage && x.usage.subject === x.subject), r.stdout);

  // The table: budgets as used of limit, rates as left of limit, requests per day and month.
  r = await run(["usage", "--url", gw.url], { extraEnv: { EDGEPORT_ADMIN_TOKEN: ADMIN_TOKEN } });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^SUBJECT +RPM +TPM +TOKENS\/DAY +USD\/MONTH +REQUESTS$/m);
  assert.match(r.stdout, new RegExp(`^key metered \\(${h12}\\) +[01] left of 3 +- +3600 of 100000 +0\\.018 of 5 +3 today, 3 this month$`, "m"));
  assert.match(r.stdout, /^slug @metered-p +- +\d+ left of 50000 +3600 +0\.018 of 10 +3 today, 3 this month$/m);
  assert.match(r.stdout, /counts from http:\/\/127\.0\.0\.1:\d+/);
  assert.ok(!r.stdout.includes("counts missing"));

  // set-limits takes effect at the Worker on the next request: rpm 10 starts a full bucket.
  await cli("set-limits", "metered", "--rpm", "10");
  gw.standin.script({ match: { operation: "converse" }, json: converseAnswer(1000, 200) });
  assert.equal((await chat("metered-p", key)).status, 200);
  assert.ok(await waitFor(async () => (await adminUsage(`key:${hash}`)).json.tokens_today === 4800, 10_000, 100));
  r = await run(["usage", "--url", gw.url], { extraEnv: { EDGEPORT_ADMIN_TOKEN: ADMIN_TOKEN } });
  assert.match(r.stdout, new RegExp(`^key metered \\(${h12}\\) +\\d+ left of 10 +- +4800 of 100000 +0\\.024 of 5 +4 today, 4 this month$`, "m"));

  // A namespace the Worker does not read (another --persist-to here; local vs --remote in real life):
  // the Worker reports other limits for the subject, and usage says so.
  const elsewhere = mkdtempSync(path.join(tmpdir(), "edgeport-cli-limits-other-"));
  try {
    const other = hashKey(printedKey((await run(["add-key", "elsewhere", "--providers", "prod", "--rpm", "7"], { persistTo: elsewhere })).stdout));
    const w = await run(["usage", "--url", gw.url], { persistTo: elsewhere, extraEnv: { EDGEPORT_ADMIN_TOKEN: ADMIN_TOKEN } });
    assert.equal(w.status, 0, w.stderr);
    // The Worker has no rpm for it, so no bucket to report: "?".
    assert.match(w.stdout, new RegExp(`^key elsewhere \\(${other.slice(0, 12)}\\) +\\? left of 7 +- +0 +0 +0 today, 0 this month$`, "m"));
    assert.match(w.stdout, new RegExp(`^warning: the Worker reads other limits for key:${other} \\(none\\): is --url the Worker of this namespace \\(add --remote\\?\\)`, "m"));
  } finally {
    rmSync(elsewhere, { recursive: true, force: true });
  }

  // Nothing secret in what the CLI printed, the Worker's logs or the bodies.
  for (const text of [r.stdout, r.stderr, JSON.stringify(counted)]) {
    assert.ok(!text.includes(ADMIN_TOKEN) && !text.includes(key) && !text.includes(TEST_CREDENTIALS.longTerm.secretAccessKey));
  }
  assert.deepEqual(secretLeaks(gw, [ADMIN_TOKEN, key]), []);
  assert.deepEqual(isolateFailures(gw), []);
});
