// The operators' CLI (scripts/catalog.mjs) against a local KV store, through real wrangler: what it
// writes is sealed, listable without secrets, and keys can be disabled and removed.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { newCatalogKey, open, openProvider, openProviderAuth, seal } from "../scripts/catalog-lib.mjs";

const SECRET = "cli/secret/NEVER+in+kv+1234567890";
let dir;
let env;
const cli = (...args) =>
  execFileSync("node", ["scripts/catalog.mjs", ...args, "--persist-to", dir], { env, encoding: "utf8" });
const wrangler = (...args) =>
  execFileSync("node_modules/.bin/wrangler", [...args, "--binding", "CATALOG", "--local", "--persist-to", dir], { env, encoding: "utf8" });

function allFiles(d) {
  return readdirSync(d).flatMap((f) => {
    const p = path.join(d, f);
    return statSync(p).isDirectory() ? allFiles(p) : [p];
  });
}

before(() => {
  dir = mkdtempSync(path.join(tmpdir(), "edgeport-cli-"));
  env = { ...process.env, CATALOG_KEY: newCatalogKey(), WRANGLER_SEND_METRICS: "false" };
});
after(() => rmSync(dir, { recursive: true, force: true }));

test("add-provider seals the auth; list-providers shows no secret", () => {
  const out = cli("add-provider", "prod", "--region", "us-gov-west-1", "--access-key-id", "AKIDCLI", "--secret-access-key", SECRET,
    "--custom-host", "https://bedrock-runtime.us-gov-west-1.amazonaws.com");
  assert.match(out, /provider @prod saved/);
  cli("add-provider", "role", "--region", "us-east-1", "--role-arn", "arn:aws:iam::1:role/r", "--external-id", "x");
  const list = cli("list-providers");
  assert.match(list, /@prod\tus-gov-west-1\taccess_key\thttps:\/\/bedrock-runtime\.us-gov-west-1\.amazonaws\.com/);
  assert.match(list, /@role\tus-east-1\tassumed_role/);
  assert.ok(!list.includes(SECRET));
  const stored = JSON.parse(wrangler("kv", "key", "get", "provider:prod", "--text"));
  // Schema 3: the whole record sealed; the plain fields are copies.
  assert.equal(stored.schema, 3);
  assert.match(stored.sealed, /^v1\./);
  assert.equal(stored.auth, undefined);
  assert.equal(openProviderAuth(env.CATALOG_KEY, "prod", stored).secret_access_key, SECRET);
  assert.equal(openProvider(env.CATALOG_KEY, "prod", stored).customHost, stored.custom_host);
  for (const f of allFiles(dir)) assert.ok(!readFileSync(f).includes(SECRET), `${f} holds the secret`);
});

test("a record is unreadable with another CATALOG_KEY, and reseal rotates it", () => {
  const other = newCatalogKey();
  const list = execFileSync("node", ["scripts/catalog.mjs", "list-providers", "--persist-to", dir], { env: { ...env, CATALOG_KEY: other }, encoding: "utf8" });
  assert.match(list, /@prod\tus-gov-west-1\tUNREADABLE/);
  execFileSync("node", ["scripts/catalog.mjs", "reseal", "--old-key", env.CATALOG_KEY, "--persist-to", dir], { env: { ...env, CATALOG_KEY: other }, encoding: "utf8" });
  env.CATALOG_KEY = other;
  assert.match(cli("list-providers"), /@prod\tus-gov-west-1\taccess_key/);
});

test("reseal upgrades a schema 2 record (only auth sealed) to schema 3, same key", () => {
  const auth = { type: "access_key", access_key_id: "AKIDOLD", secret_access_key: SECRET };
  const legacy = { schema: 2, provider: "bedrock", aws_region: "eu-west-1", custom_host: "https://bedrock-runtime.eu-west-1.amazonaws.com",
    auth: seal(env.CATALOG_KEY, "provider:legacy", JSON.stringify(auth)) };
  wrangler("kv", "key", "put", "provider:legacy", JSON.stringify(legacy));
  assert.match(cli("reseal"), /@legacy resealed \(schema 2 -> 3\)/);
  const stored = JSON.parse(wrangler("kv", "key", "get", "provider:legacy", "--text"));
  assert.equal(stored.schema, 3);
  const opened = openProvider(env.CATALOG_KEY, "legacy", stored);
  assert.deepEqual([opened.region, opened.customHost, opened.auth.secret_access_key], ["eu-west-1", legacy.custom_host, SECRET]);
  cli("remove-provider", "legacy");
});

test("add-key prints the key once and stores only its hash; disable and remove work", () => {
  const out = cli("add-key", "team-a", "--providers", "prod,@role", "--models", "m1");
  const key = out.split("\n").find((l) => l.startsWith("ek_"));
  assert.ok(key && key.length > 40, out);
  const keys = cli("list-keys");
  assert.match(keys, /team-a\tenabled\tprod,role\tm1/);
  const hash = keys.split("\t")[0];
  const listed = JSON.parse(wrangler("kv", "key", "list", "--prefix", "gateway_key:"));
  assert.equal(listed.length, 1);
  for (const f of allFiles(dir)) assert.ok(!readFileSync(f).includes(key), "the key itself is never stored");
  assert.match(cli("disable-key", hash), /disabled/);
  assert.match(cli("list-keys"), /DISABLED/);
  cli("remove-key", hash);
  assert.equal(cli("list-keys").trim(), "");
  cli("remove-provider", "role");
  assert.ok(!cli("list-providers").includes("@role"));
});

/** Runs the CLI expecting it to refuse; returns its stderr. */
function cliRefuses(...args) {
  try {
    cli(...args);
  } catch (e) {
    assert.equal(e.status, 2, `exit status ${e.status}: ${e.stderr}`);
    return String(e.stderr);
  }
  assert.fail(`catalog ${args.join(" ")} succeeded`);
}

test("add-provider --openai seals the API key; list-providers shows openai and the base URL; reseal keeps the record", () => {
  const KEY = "sk-cli-openai-NEVER+in+kv-0123456789abcdef";
  const BASE = "https://openai-proxy.example.com/v1";
  const out = cli("add-provider", "oa", "--openai", "--api-key", KEY, "--base-url", BASE, "--organization", "org-cli",
    "--project", "proj_cli", "--default-params", '{"temperature":0.2}');
  assert.match(out, /provider @oa saved \(openai, https:\/\/openai-proxy\.example\.com\/v1\)/);
  assert.ok(!out.includes(KEY));
  assert.match(cli("add-provider", "oa-default", "--openai", "--api-key", KEY), /provider @oa-default saved \(openai, https:\/\/api\.openai\.com\/v1\)/);

  const list = cli("list-providers");
  assert.match(list, /@oa\topenai\tapi_key\thttps:\/\/openai-proxy\.example\.com\/v1/);
  assert.match(list, /@oa-default\topenai\tapi_key\thttps:\/\/api\.openai\.com\/v1/);
  assert.match(list, /@prod\tus-gov-west-1\taccess_key/, "Bedrock rows unchanged");
  assert.ok(!list.includes(KEY));

  // Schema 3, the whole record sealed; the plain fields are copies of the sealed ones, the key only sealed.
  const stored = JSON.parse(wrangler("kv", "key", "get", "provider:oa", "--text"));
  assert.deepEqual(Object.keys(stored).sort(), ["base_url", "default_params", "organization", "project", "provider", "schema", "sealed"]);
  assert.deepEqual([stored.schema, stored.provider, stored.base_url, stored.organization, stored.project], [3, "openai", BASE, "org-cli", "proj_cli"]);
  assert.deepEqual(stored.default_params, { temperature: 0.2 });
  assert.match(stored.sealed, /^v1\./);
  const sealed = JSON.parse(open(env.CATALOG_KEY, "provider:oa", stored.sealed));
  assert.deepEqual(sealed, {
    provider: "openai", auth: { type: "api_key", api_key: KEY }, base_url: BASE, organization: "org-cli", project: "proj_cli",
    default_params: { temperature: 0.2 },
  });
  const { sealed: _s, schema: _v, ...plain } = stored;
  const { auth: _a, ...sealedPlain } = sealed;
  assert.deepEqual(plain, sealedPlain, "the plain copies equal the sealed ones");
  assert.deepEqual(openProvider(env.CATALOG_KEY, "oa", stored), {
    provider: "openai", auth: { type: "api_key", api_key: KEY }, baseUrl: BASE, organization: "org-cli", project: "proj_cli",
    defaultParams: { temperature: 0.2 },
  });
  // Without --base-url nothing is stored: the Worker's default applies.
  const bare = JSON.parse(wrangler("kv", "key", "get", "provider:oa-default", "--text"));
  assert.deepEqual(Object.keys(bare).sort(), ["provider", "schema", "sealed"]);
  assert.deepEqual(JSON.parse(open(env.CATALOG_KEY, "provider:oa-default", bare.sealed)), { provider: "openai", auth: { type: "api_key", api_key: KEY } });
  for (const f of allFiles(dir)) assert.ok(!readFileSync(f).includes(KEY), `${f} holds the OpenAI key`);

  // Rotating CATALOG_KEY re-seals the OpenAI records too, fields unchanged.
  const next = newCatalogKey();
  const resealed = execFileSync("node", ["scripts/catalog.mjs", "reseal", "--old-key", env.CATALOG_KEY, "--persist-to", dir],
    { env: { ...env, CATALOG_KEY: next }, encoding: "utf8" });
  assert.match(resealed, /@oa resealed \(schema 3 -> 3\)/);
  env.CATALOG_KEY = next;
  const again = JSON.parse(wrangler("kv", "key", "get", "provider:oa", "--text"));
  assert.notEqual(again.sealed, stored.sealed);
  assert.deepEqual({ ...again, sealed: null }, { ...stored, sealed: null });
  assert.equal(openProvider(next, "oa", again).auth.api_key, KEY);
  assert.match(cli("list-providers"), /@oa\topenai\tapi_key\thttps:\/\/openai-proxy\.example\.com\/v1/);

  // Mixed or missing options are refused, and nothing is written.
  assert.match(cliRefuses("add-provider", "bad", "--openai", "--base-url", BASE), /--api-key/);
  assert.match(cliRefuses("add-provider", "bad", "--openai", "--api-key", KEY, "--region", "us-east-1"), /--region/);
  assert.match(cliRefuses("add-provider", "bad", "--openai", "--api-key", KEY, "--custom-host", BASE), /--custom-host/);
  assert.match(cliRefuses("add-provider", "bad", "--region", "us-east-1", "--api-key", "k", "--base-url", BASE), /--base-url/);
  assert.match(cliRefuses("add-provider", "bad", "--openai", "--api-key", KEY, "--base-url", "ftp://example.com/v1"), /http/);
  assert.match(cliRefuses("add-provider", "bad", "--openai", "--api-key", KEY, "--default-params", "[1]"), /JSON object/);
  assert.ok(!cli("list-providers").includes("@bad"));

  cli("remove-provider", "oa");
  cli("remove-provider", "oa-default");
  assert.ok(!cli("list-providers").includes("@oa"));
});
