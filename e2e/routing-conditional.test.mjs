// Conditional routing and the simple cache in gateway configs, end to end: the openai SDK → the
// real Worker in workerd (KV in miniflare) → the Bedrock stand-in. The two slugs differ by region,
// so the stand-in's request log tells which target was called.
import { test, before, after, beforeEach } from "node:test";
import assert from "node:assert/strict";
import { startGateway, openaiClient, rawChat, secretLeaks, standinRecord } from "./harness.mjs";

const CLAUDE = "us.anthropic.claude-3-7-sonnet-20250219-v1:0";
const USER = [{ role: "user", content: "hi" }];

let gw;
before(async () => {
  gw = await startGateway({ slugs: { east: true } });
  await gw.seedProvider("west", standinRecord(gw.standin.url, { region: "us-west-2" }));
});
after(async () => {
  await gw?.close();
});
beforeEach(() => gw.standin.reset());

const regions = () => gw.standin.requests().map((r) => r.signature.region);
const client = (config, extra = {}) => openaiClient(gw, { "x-portkey-config": JSON.stringify(config), ...extra });

test("conditional: x-portkey-metadata picks the target by name, else the default", async () => {
  const config = {
    strategy: {
      mode: "conditional",
      conditions: [
        { query: { "metadata.user_plan": { $eq: "paid" } }, then: "finetuned" },
        { query: { $or: [{ "metadata.team": { $in: ["research", "ml"] } }, { "params.max_tokens": { $gte: 4000 } }] }, then: "finetuned" },
      ],
      default: "base",
    },
    targets: [
      { name: "base", provider: "@east" },
      { name: "finetuned", provider: "@west" },
    ],
  };
  const cases = [
    [{ user_plan: "paid" }, {}, "us-west-2", "config.targets[1]"],
    [{ user_plan: "free" }, {}, "us-east-1", "config.targets[0]"],
    [{ team: "ml" }, {}, "us-west-2", "config.targets[1]"],
    [{}, { max_tokens: 4096 }, "us-west-2", "config.targets[1]"],
    [{}, {}, "us-east-1", "config.targets[0]"],
  ];
  for (const [metadata, params, region, index] of cases) {
    gw.standin.reset();
    const { data, response } = await client(config, { "x-portkey-metadata": JSON.stringify(metadata) })
      .chat.completions.create({ model: CLAUDE, messages: USER, ...params })
      .withResponse();
    gw.record(data);
    assert.equal(data.object, "chat.completion");
    assert.deepEqual(regions(), [region], JSON.stringify(metadata));
    assert.equal(response.headers.get("x-portkey-last-used-option-index"), index);
    assert.equal(response.headers.get("x-portkey-provider"), region === "us-west-2" ? "@west" : "@east");
  }

  // A `then` naming no target → 400 naming x-portkey-config; nothing reaches the stand-in.
  gw.standin.reset();
  const bad = { ...config, strategy: { ...config.strategy, default: "nope" } };
  const res = await rawChat(gw, { model: CLAUDE, messages: USER }, { "x-portkey-config": JSON.stringify(bad) });
  assert.equal(res.status, 400, res.text);
  assert.equal(res.json.error.param, "x-portkey-config");
  assert.deepEqual(regions(), []);
});

test("cache: the second identical request is a HIT and the stand-in sees one call", async () => {
  const config = { provider: "@east", cache: { mode: "simple", max_age: 120 } };
  const body = { model: CLAUDE, messages: [{ role: "user", content: `cache me ${Date.now()}` }], max_tokens: 32 };
  const first = await client(config).chat.completions.create(body).withResponse();
  gw.record(first.data);
  assert.equal(first.response.headers.get("x-portkey-cache-status"), "MISS");
  const second = await client(config).chat.completions.create(body).withResponse();
  gw.record(second.data);
  assert.equal(second.response.headers.get("x-portkey-cache-status"), "HIT");
  assert.deepEqual(second.data, first.data);
  assert.equal(gw.standin.requests().length, 1);

  // Force refresh: a MISS, the stand-in called again.
  const refreshed = await client(config, { "x-portkey-cache-force-refresh": "true" }).chat.completions.create(body).withResponse();
  assert.equal(refreshed.response.headers.get("x-portkey-cache-status"), "MISS");
  assert.equal(gw.standin.requests().length, 2);

  // Streams are not cached.
  const stream = await client(config).chat.completions.create({ ...body, stream: true }).withResponse();
  for await (const chunk of stream.data) gw.record(chunk);
  assert.equal(stream.response.headers.get("x-portkey-cache-status"), "DISABLED");
  assert.equal(gw.standin.requests().length, 3);

  // The stored value is the answer, no credential, under cache:<sha256>.
  const { keys } = await gw.kv.list({ prefix: "cache:" });
  assert.equal(keys.length, 1);
  assert.match(keys[0].name, /^cache:[0-9a-f]{64}$/);
  const stored = await gw.kv.get(keys[0].name);
  assert.equal(JSON.parse(stored).object, "chat.completion");
  gw.record(stored);

  // Semantic mode is refused.
  const res = await rawChat(gw, body, { "x-portkey-config": JSON.stringify({ provider: "@east", cache: { mode: "semantic" } }) });
  assert.equal(res.status, 400, res.text);
  assert.equal(res.json.error.param, "x-portkey-config");
});

test("no secret leaked in logs or bodies", () => {
  assert.deepEqual(secretLeaks(gw), []);
});
