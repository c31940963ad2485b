// Seeds the local (wrangler dev) catalog for the run command: a CATALOG_KEY in .dev.vars (made
// once per checkout), a demo provider sealed with it and pointing at the Bedrock stand-in, and a
// demo gateway key and a demo stored prompt (`support-bot`). Prints the gateway key.
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { gatewayKeyRecord, newCatalogKey, promptRecord, providerRecord } from "./catalog-lib.mjs";
import { TEST_CREDENTIALS } from "../standin/credentials.mjs";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const standinUrl = process.argv[2] ?? "http://127.0.0.1:8788";
export const DEV_GATEWAY_KEY = "ek_local_dev_demo_key";

const devVars = path.join(ROOT, ".dev.vars");
let text = existsSync(devVars) ? readFileSync(devVars, "utf8") : "";
let key = text.match(/^CATALOG_KEY\s*=\s*"?([^"\n]+)"?/m)?.[1];
if (!key) {
  key = newCatalogKey();
  text += `${text && !text.endsWith("\n") ? "\n" : ""}CATALOG_KEY="${key}"\n`;
  writeFileSync(devVars, text, { mode: 0o600 });
}

function put(kvKey, value) {
  execFileSync(path.join(ROOT, "node_modules", ".bin", "wrangler"), ["kv", "key", "put", kvKey, JSON.stringify(value), "--binding", "CATALOG", "--local"], {
    cwd: ROOT,
    stdio: ["ignore", "ignore", "inherit"],
    env: { ...process.env, WRANGLER_SEND_METRICS: "false" },
  });
}

put("provider:demo", providerRecord(key, "demo", {
  region: "us-east-1",
  auth: { type: "access_key", access_key_id: TEST_CREDENTIALS.longTerm.accessKeyId, secret_access_key: TEST_CREDENTIALS.longTerm.secretAccessKey },
  customHost: standinUrl,
}));
const { kvKey, record } = gatewayKeyRecord(DEV_GATEWAY_KEY, { name: "local-dev", providers: ["demo"] });
put(kvKey, record);
put("prompt:support-bot", promptRecord({
  messages: [{ role: "system", content: "You are {{persona}}." }, { role: "user", content: "{{question}}" }],
  model: "us.amazon.nova-micro-v1:0",
  provider: "@demo",
  params: { max_tokens: 256 },
}));
console.log(DEV_GATEWAY_KEY);
