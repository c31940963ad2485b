// The operators' CLI for stored prompts (add-prompt, list-prompts, remove-prompt) against a local
// KV store, through real wrangler: what it writes is the record the Worker reads, and a template
// the Worker would refuse is never written.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

let dir;
let env;
const cli = (...args) =>
  execFileSync("node", ["scripts/catalog.mjs", ...args, "--persist-to", dir], { env, encoding: "utf8", stdio: ["pipe", "pipe", "pipe"] });
const wrangler = (...args) =>
  execFileSync("node_modules/.bin/wrangler", [...args, "--binding", "CATALOG", "--local", "--persist-to", dir], { env, encoding: "utf8" });
const file = (name, value) => {
  const p = path.join(dir, name);
  writeFileSync(p, typeof value === "string" ? value : JSON.stringify(value));
  return p;
};

const TEMPLATE = {
  messages: [{ role: "system", content: "You are {{persona}}." }, { role: "user", content: [{ type: "text", text: "{{ question }} ({{persona}})" }] }],
  model: "us.amazon.nova-micro-v1:0",
  provider: "@demo",
  params: { max_tokens: 64, temperature: 0.2 },
};

before(() => {
  dir = mkdtempSync(path.join(tmpdir(), "edgeport-prompts-cli-"));
  // No CATALOG_KEY: prompts are not sealed.
  env = { ...process.env, WRANGLER_SEND_METRICS: "false" };
  delete env.CATALOG_KEY;
});
after(() => rmSync(dir, { recursive: true, force: true }));

test("add-prompt stores a schema-1 record; list-prompts shows model, provider and variables", () => {
  const out = cli("add-prompt", "support-bot", "--file", file("t.json", TEMPLATE));
  assert.match(out, /prompt support-bot saved \(us\.amazon\.nova-micro-v1:0; variables: persona, question\)/);
  const stored = JSON.parse(wrangler("kv", "key", "get", "prompt:support-bot", "--text"));
  assert.deepEqual(stored, { schema: 1, template: TEMPLATE });
  // A whole record is accepted as well.
  cli("add-prompt", "plain_2", "--file", file("r.json", { schema: 1, template: { messages: [{ role: "user", content: "hi" }], model: "m" } }));
  const list = cli("list-prompts");
  assert.match(list, /^plain_2\tm\t-\t-$/m);
  assert.match(list, /^support-bot\tus\.amazon\.nova-micro-v1:0\t@demo\tpersona,question$/m);
});

test("add-prompt refuses what the Worker would refuse, and writes nothing", () => {
  for (const [bad, why] of [
    [{ ...TEMPLATE, messages: [] }, /messages must be a non-empty array/],
    [{ ...TEMPLATE, model: undefined }, /model/],
    [{ ...TEMPLATE, provider: "openai" }, /provider must be @slug/],
    [{ ...TEMPLATE, parms: {} }, /unknown template field parms/],
    [{ ...TEMPLATE, params: { model: "x" } }, /must not hold model/],
    [{ ...TEMPLATE, messages: [{ role: "user", content: "{{#items}}x{{/items}}" }] }, /sections, partials/],
    [{ schema: 2, template: TEMPLATE }, /schema must be 1/],
    ["{not json", /t-bad\.json/],
  ]) {
    assert.throws(() => cli("add-prompt", "refused", "--file", file("t-bad.json", bad)), (e) => {
      assert.match(String(e.stderr), why);
      return true;
    });
  }
  assert.throws(() => cli("add-prompt", "bad.id", "--file", file("t.json", TEMPLATE)), (e) => /letters, digits/.test(String(e.stderr)));
  assert.ok(!cli("list-prompts").includes("refused"));
});

test("list-prompts flags a broken record; remove-prompt deletes", () => {
  wrangler("kv", "key", "put", "prompt:broken", "{");
  assert.match(cli("list-prompts"), /^broken\tINVALID/m);
  assert.match(cli("remove-prompt", "broken"), /prompt broken removed/);
  cli("remove-prompt", "plain_2");
  assert.equal(cli("list-prompts").trim().split("\n").length, 1);
  assert.match(cli("list-prompts"), /^support-bot\t/);
});
