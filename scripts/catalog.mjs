#!/usr/bin/env node
// Operators' tool for the Model Catalog: providers and gateway keys, written through `wrangler kv`
// to the local (wrangler dev) or remote (deployed) CATALOG namespace.
//
//   node scripts/catalog.mjs <command> [options] [--remote] [--persist-to DIR]
//
// Commands:
//   new-catalog-key                       print a fresh CATALOG_KEY (then: wrangler secret put CATALOG_KEY)
//   add-provider <slug> --region R AUTH [--custom-host URL] [--sts-endpoint URL] [--default-params JSON]
//       [--s3-buckets b1,b2]   (the only buckets s3:// images and documents may name)
//       AUTH: --access-key-id A --secret-access-key S [--session-token T]
//           | --role-arn ARN [--external-id X] [--session-name N] [--duration-seconds D]
//           | --api-key K
//   add-provider <slug> --openai --api-key sk-... [--base-url URL] [--organization O] [--project P]
//       [--default-params JSON]   (OpenAI, or an OpenAI-compatible API: the base URL includes /v1;
//                                  default https://api.openai.com/v1)
//     (adding an existing slug replaces it: that is how credentials are rotated)
//   list-providers                        slugs, regions (or "openai"), auth kind and hosts / base
//                                         URLs (never secrets)
//   remove-provider <slug>
//   reseal [--old-key B64]                re-seal every provider with CATALOG_KEY as schema 3: after
//                                         rotating the key (--old-key: the previous one), or to
//                                         upgrade schema 2 records (same key)
//   add-key <name> --providers a,b|* [--models m1,m2]   prints the new key once
//   list-keys
//   disable-key <hash-prefix> | enable-key <hash-prefix> | remove-key <hash-prefix>
//   add-prompt <id> --file template.json  a stored prompt (checked first; replaces one with that id)
//   list-prompts                          ids, models, providers and the variables each uses
//   remove-prompt <id>
//
// CATALOG_KEY comes from the environment, or from .dev.vars for the local namespace (the prompt
// commands do not need it: prompts are not sealed).
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import {
  gatewayKeyRecord, newCatalogKey, newGatewayKey, OPENAI_DEFAULT_BASE_URL, openProvider, openProviderAuth, promptKvKey, promptRecord,
  promptVariables, providerKvKey, providerRecord,
} from "./catalog-lib.mjs";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

function parseArgs(argv) {
  const positional = [];
  const flags = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith("--")) { positional.push(a); continue; }
    const name = a.slice(2);
    if (name === "remote" || name === "local" || name === "openai") { flags[name] = true; continue; }
    const value = argv[i + 1];
    if (value === undefined || value.startsWith("--")) throw new Error(`--${name} needs a value`);
    flags[name] = value;
    i++;
  }
  return { positional, flags };
}

function die(message) {
  console.error(`catalog: ${message}`);
  process.exit(2);
}

function catalogKey(flags) {
  if (process.env.CATALOG_KEY) return process.env.CATALOG_KEY;
  const devVars = path.join(ROOT, ".dev.vars");
  if (!flags.remote && existsSync(devVars)) {
    const m = readFileSync(devVars, "utf8").match(/^CATALOG_KEY\s*=\s*"?([^"\n]+)"?/m);
    if (m) return m[1];
  }
  die("set CATALOG_KEY in the environment (the same value as the Worker secret)");
}

function wrangler(flags, args, input) {
  const where = flags.remote ? ["--remote"] : ["--local"];
  if (flags["persist-to"]) where.push("--persist-to", flags["persist-to"]);
  const bin = path.join(ROOT, "node_modules", ".bin", "wrangler");
  return execFileSync(bin, [...args, "--binding", "CATALOG", ...where], {
    cwd: ROOT,
    encoding: "utf8",
    input,
    env: { ...process.env, WRANGLER_SEND_METRICS: "false" },
    stdio: ["pipe", "pipe", "pipe"],
  });
}

const kv = {
  put: (flags, key, value) => wrangler(flags, ["kv", "key", "put", key, value]),
  get: (flags, key) => wrangler(flags, ["kv", "key", "get", key, "--text"]),
  del: (flags, key) => wrangler(flags, ["kv", "key", "delete", key]),
  list: (flags, prefix) => JSON.parse(wrangler(flags, ["kv", "key", "list", "--prefix", prefix])),
};

function authFrom(flags) {
  if (flags["access-key-id"] || flags["secret-access-key"]) {
    if (!flags["access-key-id"] || !flags["secret-access-key"]) die("--access-key-id and --secret-access-key go together");
    return { type: "access_key", access_key_id: flags["access-key-id"], secret_access_key: flags["secret-access-key"],
      ...(flags["session-token"] ? { session_token: flags["session-token"] } : {}) };
  }
  if (flags["role-arn"]) {
    return { type: "assumed_role", role_arn: flags["role-arn"],
      ...(flags["external-id"] ? { external_id: flags["external-id"] } : {}),
      ...(flags["session-name"] ? { session_name: flags["session-name"] } : {}),
      ...(flags["duration-seconds"] ? { duration_seconds: Number(flags["duration-seconds"]) } : {}) };
  }
  if (flags["api-key"]) return { type: "api_key", api_key: flags["api-key"] };
  die("give one auth: --access-key-id/--secret-access-key, --role-arn, or --api-key");
}

const BEDROCK_FLAGS = ["region", "access-key-id", "secret-access-key", "session-token", "role-arn", "external-id", "session-name",
  "duration-seconds", "custom-host", "sts-endpoint", "s3-buckets"];
const OPENAI_FLAGS = ["base-url", "organization", "project"];

function jsonObject(flags, name) {
  if (flags[name] === undefined) return undefined;
  let v;
  try { v = JSON.parse(flags[name]); } catch (e) { die(`--${name} is not JSON: ${e.message}`); }
  if (!v || typeof v !== "object" || Array.isArray(v)) die(`--${name} must be a JSON object`);
  return v;
}

/** The plain record add-provider writes: OpenAI with --openai, else Bedrock. */
function providerFrom(flags) {
  if (flags.openai) {
    const bedrockOnly = BEDROCK_FLAGS.filter((f) => flags[f] !== undefined);
    if (bedrockOnly.length) die(`${bedrockOnly.map((f) => `--${f}`).join(", ")}: Bedrock options, not for --openai (the base URL is --base-url)`);
    if (!flags["api-key"]) die("--openai needs --api-key sk-...");
    return {
      provider: "openai",
      auth: { type: "api_key", api_key: flags["api-key"] },
      baseUrl: flags["base-url"],
      organization: flags.organization,
      project: flags.project,
      defaultParams: jsonObject(flags, "default-params"),
    };
  }
  const openaiOnly = OPENAI_FLAGS.filter((f) => flags[f] !== undefined);
  if (openaiOnly.length) die(`${openaiOnly.map((f) => `--${f}`).join(", ")}: OpenAI options (add --openai); a Bedrock host is --custom-host`);
  return {
    region: flags.region ?? die("--region is required (or --openai for an OpenAI provider)"),
    auth: authFrom(flags),
    customHost: flags["custom-host"],
    stsEndpoint: flags["sts-endpoint"],
    defaultParams: jsonObject(flags, "default-params"),
    s3Buckets: flags["s3-buckets"] ? flags["s3-buckets"].split(",").map((b) => b.trim()).filter(Boolean) : undefined,
  };
}

function findKey(flags, prefix) {
  if (!prefix || prefix.length < 8) die("give at least 8 characters of the key's hash (see list-keys)");
  const matches = kv.list(flags, `gateway_key:${prefix}`);
  if (matches.length !== 1) die(`${matches.length} keys match ${prefix}`);
  return matches[0].name;
}

function main() {
  const { positional, flags } = parseArgs(process.argv.slice(2));
  const [command, arg] = positional;
  switch (command) {
    case "new-catalog-key":
      console.log(newCatalogKey());
      return;
    case "add-provider": {
      if (!arg) die("add-provider <slug> ...");
      const record = providerRecord(catalogKey(flags), arg, providerFrom(flags));
      kv.put(flags, providerKvKey(arg), JSON.stringify(record));
      if (record.provider === "openai") console.log(`provider @${arg} saved (openai, ${record.base_url ?? OPENAI_DEFAULT_BASE_URL})`);
      else console.log(`provider @${arg} saved (${record.aws_region}${record.custom_host ? `, ${record.custom_host}` : ""})`);
      return;
    }
    case "list-providers": {
      const key = catalogKey(flags);
      for (const { name } of kv.list(flags, "provider:")) {
        const slug = name.slice("provider:".length);
        const record = JSON.parse(kv.get(flags, name));
        let kind;
        try { kind = openProviderAuth(key, slug, record).type; } catch { kind = "UNREADABLE with this CATALOG_KEY"; }
        if (record.provider === "openai") console.log(`@${slug}\topenai\t${kind}\t${record.base_url ?? OPENAI_DEFAULT_BASE_URL}`);
        else console.log(`@${slug}\t${record.aws_region}\t${kind}\t${record.custom_host ?? "-"}`);
      }
      return;
    }
    case "remove-provider":
      kv.del(flags, providerKvKey(arg ?? die("remove-provider <slug>")));
      console.log(`provider @${arg} removed`);
      return;
    case "reseal": {
      const newKey = catalogKey(flags);
      const oldKey = flags["old-key"] ?? newKey;
      for (const { name } of kv.list(flags, "provider:")) {
        const slug = name.slice("provider:".length);
        const record = JSON.parse(kv.get(flags, name));
        const fresh = providerRecord(newKey, slug, openProvider(oldKey, slug, record));
        kv.put(flags, name, JSON.stringify(fresh));
        console.log(`@${slug} resealed (schema ${record.schema} -> ${fresh.schema})`);
      }
      return;
    }
    case "add-key": {
      if (!arg) die("add-key <name> --providers a,b");
      const providers = (flags.providers ?? die("--providers is required (slugs, or *)")).split(",").map((s) => s.trim().replace(/^@/, "")).filter(Boolean);
      const models = flags.models ? flags.models.split(",").map((s) => s.trim()).filter(Boolean) : undefined;
      const key = newGatewayKey();
      const { kvKey, record } = gatewayKeyRecord(key, { name: arg, providers, models });
      kv.put(flags, kvKey, JSON.stringify(record));
      console.log(`gateway key "${arg}" (hash ${record.hash.slice(0, 12)}...) for ${providers.join(",")}:`);
      console.log(key);
      console.log("Shown once: only its hash is stored.");
      return;
    }
    case "list-keys":
      for (const { name } of kv.list(flags, "gateway_key:")) {
        const r = JSON.parse(kv.get(flags, name));
        console.log(`${r.hash.slice(0, 12)}\t${r.name}\t${r.enabled ? "enabled" : "DISABLED"}\t${r.providers.join(",")}\t${r.models?.join(",") ?? "*"}`);
      }
      return;
    case "disable-key":
    case "enable-key": {
      const name = findKey(flags, arg);
      const r = JSON.parse(kv.get(flags, name));
      r.enabled = command === "enable-key";
      kv.put(flags, name, JSON.stringify(r));
      console.log(`${r.name} ${r.enabled ? "enabled" : "disabled"}`);
      return;
    }
    case "remove-key":
      kv.del(flags, findKey(flags, arg));
      console.log("key removed");
      return;
    case "add-prompt": {
      if (!arg) die("add-prompt <id> --file template.json");
      const key = promptKvKey(arg);
      const file = flags.file ?? die("--file is required (a JSON template)");
      let input;
      try { input = JSON.parse(readFileSync(file, "utf8")); } catch (e) { die(`${file}: ${e.message}`); }
      const record = promptRecord(input);
      kv.put(flags, key, JSON.stringify(record));
      const vars = promptVariables(record.template);
      console.log(`prompt ${arg} saved (${record.template.model}; variables: ${vars.join(", ") || "none"})`);
      return;
    }
    case "list-prompts":
      for (const { name } of kv.list(flags, "prompt:")) {
        const id = name.slice("prompt:".length);
        let line;
        try {
          const r = promptRecord(JSON.parse(kv.get(flags, name)));
          line = `${r.template.model}\t${r.template.provider ?? "-"}\t${promptVariables(r.template).join(",") || "-"}`;
        } catch (e) {
          line = `INVALID (${e.message})`;
        }
        console.log(`${id}\t${line}`);
      }
      return;
    case "remove-prompt":
      kv.del(flags, promptKvKey(arg ?? die("remove-prompt <id>")));
      console.log(`prompt ${arg} removed`);
      return;
    default:
      die("commands: new-catalog-key, add-provider, list-providers, remove-provider, reseal, add-key, list-keys, disable-key, enable-key, remove-key, add-prompt, list-prompts, remove-prompt");
  }
}

try {
  main();
} catch (e) {
  // wrangler's stderr can echo the command line (which holds the record); print only the message.
  die(e.stderr ? String(e.stderr).split("\n").find((l) => l.includes("ERROR")) ?? "wrangler failed" : e.message);
}
