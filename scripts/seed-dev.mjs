// Seeds the local (wrangler dev) catalog for the run command: a CATALOG_KEY in .dev.vars (made
// once per checkout), a demo provider sealed with it and pointing at the Bedrock stand-in, a demo
// gateway key and a demo stored prompt (`support-bot`); and, when the environment has them, real
// providers: `@bedrock` from AWS credentials, `@openai` from OPENAI_API_KEY (sealed like any
// other; nothing is sent to AWS or OpenAI here).
//
//   node scripts/seed-dev.mjs [STANDIN_URL] [--persist-to DIR] [--dev-vars FILE]
//
// Prints `key=<gateway key>` and `seeded=<slugs>` on stdout (scripts/dev.sh reads them), and a
// line per real provider on stderr. Every record goes in with one `wrangler kv bulk put`.
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { gatewayKeyRecord, newCatalogKey, promptRecord, providerRecord } from "./catalog-lib.mjs";
import { TEST_CREDENTIALS } from "../standin/credentials.mjs";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
export const DEV_GATEWAY_KEY = "ek_local_dev_demo_key";

/**
 * The real providers the environment describes: [{slug, record options, note}] (empty without
 * credentials). AWS: AWS_BEARER_TOKEN_BEDROCK (a Bedrock API key) wins over AWS_ACCESS_KEY_ID +
 * AWS_SECRET_ACCESS_KEY (+ AWS_SESSION_TOKEN); the region is AWS_REGION, else AWS_DEFAULT_REGION,
 * else us-east-1. OpenAI: OPENAI_API_KEY (+ OPENAI_BASE_URL for an OpenAI-compatible API).
 */
export function providersFromEnv(env) {
  const out = [];
  const region = env.AWS_REGION || env.AWS_DEFAULT_REGION || "us-east-1";
  const regionFrom = env.AWS_REGION ? "AWS_REGION" : env.AWS_DEFAULT_REGION ? "AWS_DEFAULT_REGION" : "the default";
  let auth = null;
  let from = "";
  if (env.AWS_BEARER_TOKEN_BEDROCK) {
    auth = { type: "api_key", api_key: env.AWS_BEARER_TOKEN_BEDROCK };
    from = "AWS_BEARER_TOKEN_BEDROCK";
  } else if (env.AWS_ACCESS_KEY_ID && env.AWS_SECRET_ACCESS_KEY) {
    auth = { type: "access_key", access_key_id: env.AWS_ACCESS_KEY_ID, secret_access_key: env.AWS_SECRET_ACCESS_KEY };
    if (env.AWS_SESSION_TOKEN) auth.session_token = env.AWS_SESSION_TOKEN;
    from = env.AWS_SESSION_TOKEN ? "AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN" : "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY";
  }
  if (auth) {
    out.push({
      slug: "bedrock",
      options: { region, auth },
      note: `@bedrock: real Amazon Bedrock in ${region} (region from ${regionFrom}), credentials from ${from}`,
    });
  }
  if (env.OPENAI_API_KEY) {
    const options = { provider: "openai", auth: { type: "api_key", api_key: env.OPENAI_API_KEY } };
    if (env.OPENAI_BASE_URL) options.baseUrl = env.OPENAI_BASE_URL;
    out.push({
      slug: "openai",
      options,
      note: `@openai: ${env.OPENAI_BASE_URL || "https://api.openai.com/v1"} with OPENAI_API_KEY`,
    });
  }
  return out;
}

/** The CATALOG_KEY of a .dev.vars file, made (and the file written, owner-only) when missing. */
function catalogKey(devVars) {
  let text = existsSync(devVars) ? readFileSync(devVars, "utf8") : "";
  let key = text.match(/^CATALOG_KEY\s*=\s*"?([^"\n]+)"?/m)?.[1];
  if (!key) {
    key = newCatalogKey();
    text += `${text && !text.endsWith("\n") ? "\n" : ""}CATALOG_KEY="${key}"\n`;
    writeFileSync(devVars, text, { mode: 0o600 });
  }
  return key;
}

/** Every record, as `wrangler kv bulk put` takes them: [{key, value}]. */
export function devRecords(key, standinUrl, real) {
  const records = [];
  const put = (k, v) => records.push({ key: k, value: JSON.stringify(v) });
  put("provider:demo", providerRecord(key, "demo", {
    region: "us-east-1",
    auth: { type: "access_key", access_key_id: TEST_CREDENTIALS.longTerm.accessKeyId, secret_access_key: TEST_CREDENTIALS.longTerm.secretAccessKey },
    customHost: standinUrl,
  }));
  for (const p of real) put(`provider:${p.slug}`, providerRecord(key, p.slug, p.options));
  const { kvKey, record } = gatewayKeyRecord(DEV_GATEWAY_KEY, { name: "local-dev", providers: ["demo", ...real.map((p) => p.slug)] });
  put(kvKey, record);
  put("prompt:support-bot", promptRecord({
    messages: [{ role: "system", content: "You are {{persona}}." }, { role: "user", content: "{{question}}" }],
    model: "us.amazon.nova-micro-v1:0",
    provider: "@demo",
    params: { max_tokens: 256 },
  }));
  return records;
}

function main(argv) {
  const flag = (name) => {
    const i = argv.indexOf(name);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const standinUrl = argv[0] && !argv[0].startsWith("--") ? argv[0] : "http://127.0.0.1:8788";
  const persistTo = flag("--persist-to");
  const key = catalogKey(flag("--dev-vars") ?? path.join(ROOT, ".dev.vars"));
  const real = providersFromEnv(process.env);
  const tmp = mkdtempSync(path.join(os.tmpdir(), "edgeport-seed-"));
  try {
    const file = path.join(tmp, "records.json");
    writeFileSync(file, JSON.stringify(devRecords(key, standinUrl, real)), { mode: 0o600 });
    const where = ["--binding", "CATALOG", "--local", ...(persistTo ? ["--persist-to", persistTo] : [])];
    execFileSync(path.join(ROOT, "node_modules", ".bin", "wrangler"), ["kv", "bulk", "put", file, ...where], {
      cwd: ROOT,
      stdio: ["ignore", "ignore", "inherit"],
      env: { ...process.env, WRANGLER_SEND_METRICS: "false" },
    });
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  for (const p of real) console.error(`seeded ${p.note}`);
  console.log(`key=${DEV_GATEWAY_KEY}`);
  console.log(`seeded=${["demo", ...real.map((p) => p.slug)].join(",")}`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) main(process.argv.slice(2));
