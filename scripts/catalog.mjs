#!/usr/bin/env node
// Operators' tool for the Model Catalog: providers and gateway keys, written through `wrangler kv`
// to the local (wrangler dev) or remote (deployed) CATALOG namespace.
//
//   node scripts/catalog.mjs <command> [options] [--remote] [--persist-to DIR]
//
// Commands:
//   new-catalog-key                       print a fresh CATALOG_KEY (then: wrangler secret put CATALOG_KEY)
//   add-provider <slug> --region R AUTH [--custom-host URL] [--sts-endpoint URL] [--default-params JSON]
//       [--s3-buckets b1,b2]   (the only buckets s3:// images and documents may name) [LIMITS]
//       AUTH: --access-key-id A --secret-access-key S [--session-token T]
//           | --role-arn ARN [--external-id X] [--session-name N] [--duration-seconds D]
//           | --api-key K
//   add-provider <slug> --openai --api-key sk-... [--base-url URL] [--organization O] [--project P]
//       [--default-params JSON] [LIMITS]   (OpenAI, or an OpenAI-compatible API: the base URL
//                                           includes /v1; default https://api.openai.com/v1)
//     (adding an existing slug replaces it: that is how credentials are rotated; its limits are kept
//      unless LIMITS are given, which then replace them)
//   LIMITS: [--rpm N] [--tpm N] [--tokens-per-day N] [--usd-per-month X]   (N a whole number > 0,
//       X a number > 0; written as the record's plain `limits` object, only the ones given)
//   list-providers                        slugs, regions (or "openai"), auth kind, hosts / base
//                                         URLs and limits (never secrets)
//   remove-provider <slug>
//   reseal [--old-key B64]                re-seal every provider with CATALOG_KEY as schema 3: after
//                                         rotating the key (--old-key: the previous one), or to
//                                         upgrade schema 2 records (same key)
//   add-key <name> --providers a,b|* [--models m1,m2] [LIMITS]   prints the new key once
//   list-keys                             hash prefix, name, state, providers, models, limits
//   disable-key <hash-prefix> | enable-key <hash-prefix> | remove-key <hash-prefix>
//   set-limits <key-name | key-hash-prefix | @slug> [LIMITS] [--clear-rpm] [--clear-tpm]
//       [--clear-tokens-per-day] [--clear-usd-per-month] [--clear]
//                                         changes only the record's `limits` (every other byte kept;
//                                         no CATALOG_KEY needed). --clear-<limit> removes one,
//                                         --clear removes all (with LIMITS: replaces all by those)
//   usage [--url https://worker] [--json] every key and slug with limits: the limits, and the
//                                         counts from the Worker's GET /v1/admin/usage/<subject>
//                                         (token: env EDGEPORT_ADMIN_TOKEN, the Worker's ADMIN_TOKEN)
//   add-prompt <id> --file template.json  a stored prompt (checked first; replaces one with that id)
//   list-prompts                          ids, models, providers and the variables each uses
//   remove-prompt <id>
//
// CATALOG_KEY comes from the environment, or from .dev.vars for the local namespace (only
// add-provider, list-providers and reseal need it: prompts, keys and limits are not sealed).
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import {
  checkLimits, formatLimits, gatewayKeyRecord, LIMIT_FIELDS, newCatalogKey, newGatewayKey, OPENAI_DEFAULT_BASE_URL, openProvider,
  openProviderAuth, parseLimitValue, promptKvKey, promptRecord, promptVariables, providerKvKey, providerRecord, setRecordLimits,
} from "./catalog-lib.mjs";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

/** Options that take no value. */
const SWITCHES = new Set(["remote", "local", "openai", "json", "clear", ...LIMIT_FIELDS.map((s) => `clear-${s.option}`)]);

function parseArgs(argv) {
  const positional = [];
  const flags = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith("--")) { positional.push(a); continue; }
    const name = a.slice(2);
    if (SWITCHES.has(name)) { flags[name] = true; continue; }
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

/**
 * What wrangler prints when its own local runtime lost the store for a moment: the local KV store is
 * one SQLite database, and a `wrangler dev` (or test Worker) running on the same directory may hold
 * its lock while this command's runtime opens it. Remotely, a dropped connection to the API.
 */
const TRANSIENT = /Network connection lost|SQLITE_BUSY|database is locked|ECONNRESET/;
/** Attempts per wrangler command, and the pause before each retry (ms, doubling). */
const WRANGLER_ATTEMPTS = 4;
const RETRY_PAUSE_MS = 500;

/**
 * Runs one `wrangler kv ...` command. Every command the CLI runs is idempotent (a put of the same
 * value, a get, a list, a delete), so a transient failure is retried, at most WRANGLER_ATTEMPTS times.
 */
function wrangler(flags, args, input) {
  const where = flags.remote ? ["--remote"] : ["--local"];
  if (flags["persist-to"]) where.push("--persist-to", flags["persist-to"]);
  const bin = path.join(ROOT, "node_modules", ".bin", "wrangler");
  for (let attempt = 1; ; attempt++) {
    try {
      return execFileSync(bin, [...args, "--binding", "CATALOG", ...where], {
        cwd: ROOT,
        encoding: "utf8",
        input,
        env: { ...process.env, WRANGLER_SEND_METRICS: "false" },
        stdio: ["pipe", "pipe", "pipe"],
      });
    } catch (e) {
      if (attempt >= WRANGLER_ATTEMPTS || !TRANSIENT.test(`${e.stderr ?? ""}${e.stdout ?? ""}`)) throw e;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, RETRY_PAUSE_MS * 2 ** (attempt - 1));
    }
  }
}

const kv = {
  put: (flags, key, value) => wrangler(flags, ["kv", "key", "put", key, value]),
  get: (flags, key) => wrangler(flags, ["kv", "key", "get", key, "--text"]),
  // The stored bytes as they are (without --text wrangler adds no newline); null when absent.
  raw: (flags, key) => {
    const out = wrangler(flags, ["kv", "key", "get", key]);
    return out === "Value not found\n" ? null : out;
  },
  /**
   * Many records' texts at once ({name: text|null}): `wrangler kv bulk get` (one call per 100 keys
   * instead of one per key); should it fail or answer in a shape not understood (an open-beta
   * command), the keys are read one by one.
   */
  rawMany: (flags, names) => {
    const out = {};
    for (let i = 0; i < names.length; i += 100) {
      const chunk = names.slice(i, i + 100);
      let got = null;
      const tmp = mkdtempSync(path.join(os.tmpdir(), "edgeport-catalog-"));
      try {
        const file = path.join(tmp, "keys.json");
        writeFileSync(file, JSON.stringify(chunk));
        const text = wrangler(flags, ["kv", "bulk", "get", file]);
        const parsed = JSON.parse(text.slice(0, text.lastIndexOf("}") + 1));
        if (chunk.every((k) => parsed?.[k] && (typeof parsed[k].value === "string" || parsed[k].value === null))) got = parsed;
      } catch {
        got = null;
      } finally {
        rmSync(tmp, { recursive: true, force: true });
      }
      for (const k of chunk) out[k] = got ? got[k].value : kv.raw(flags, k);
    }
    return out;
  },
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

/** Every record under `prefix`: [{kvKey, raw, record}] (record: the parsed JSON, or null). */
function records(flags, prefix) {
  const names = kv.list(flags, prefix).map((k) => k.name);
  const texts = kv.rawMany(flags, names);
  return names.filter((n) => texts[n] !== null).map((kvKey) => {
    let record = null;
    try { record = JSON.parse(texts[kvKey]); } catch {}
    return { kvKey, raw: texts[kvKey], record };
  });
}

const COMMON_FLAGS = ["remote", "local", "persist-to"];
const LIMIT_OPTIONS = LIMIT_FIELDS.map((s) => s.option);
const CLEAR_OPTIONS = ["clear", ...LIMIT_FIELDS.map((s) => `clear-${s.option}`)];

/** Refuses options `command` does not take (a mistyped limit would otherwise be dropped silently). */
function onlyFlags(command, flags, allowed) {
  const unknown = Object.keys(flags).filter((f) => !COMMON_FLAGS.includes(f) && !allowed.includes(f));
  if (unknown.length) die(`${command} does not take ${unknown.map((f) => `--${f}`).join(", ")}`);
}

/** The limits given as options (only those), checked; undefined when none is given. */
function limitsFrom(flags) {
  const limits = {};
  for (const spec of LIMIT_FIELDS) {
    if (flags[spec.option] === undefined) continue;
    try { limits[spec.field] = parseLimitValue(spec, flags[spec.option]); } catch (e) { die(e.message); }
  }
  return Object.keys(limits).length ? limits : undefined;
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

/**
 * The gateway key `which` names: its name (as list-keys shows it) or at least 8 hex characters of its
 * hash. Every record is read, so a name that two keys share, or that is also another key's hash
 * prefix, is refused as ambiguous. Returns {kvKey, raw, record}.
 */
function findKeyByNameOrHash(flags, which) {
  const byHash = /^[0-9a-f]{8,64}$/.test(which);
  const hits = records(flags, "gateway_key:").filter(({ kvKey, record }) =>
    record?.name === which || (byHash && kvKey.slice("gateway_key:".length).startsWith(which)));
  if (hits.length === 0) die(`no gateway key is named "${which}"${byHash ? " or has a hash starting with it" : ""} (see list-keys)`);
  if (hits.length > 1) {
    const list = hits.map((h) => `${h.kvKey.slice("gateway_key:".length, "gateway_key:".length + 12)} (${h.record.name})`).join(", ");
    die(`"${which}" matches ${hits.length} keys: ${list}; give more of the hash (list-keys)`);
  }
  // The exact stored bytes (bulk get decodes values as text), read again for the edit.
  const raw = kv.raw(flags, hits[0].kvKey);
  if (raw === null) die(`the key ${which} was removed meanwhile`);
  let record = {};
  try { record = JSON.parse(raw); } catch {}
  return { kvKey: hits[0].kvKey, raw, record };
}

function findKey(flags, prefix) {
  if (!prefix || prefix.length < 8) die("give at least 8 characters of the key's hash (see list-keys)");
  const matches = kv.list(flags, `gateway_key:${prefix}`);
  if (matches.length !== 1) die(`${matches.length} keys match ${prefix}`);
  return matches[0].name;
}

async function main() {
  const { positional, flags } = parseArgs(process.argv.slice(2));
  const [command, arg] = positional;
  switch (command) {
    case "new-catalog-key":
      console.log(newCatalogKey());
      return;
    case "add-provider": {
      if (!arg) die("add-provider <slug> ...");
      onlyFlags(command, flags, [...BEDROCK_FLAGS, ...OPENAI_FLAGS, "openai", "api-key", "default-params", ...LIMIT_OPTIONS]);
      // Everything is checked before anything is read or written.
      const kvKey = providerKvKey(arg);
      let limits = limitsFrom(flags);
      const opts = providerFrom(flags);
      const key = catalogKey(flags);
      let kept = false;
      if (!limits) {
        // Replacing a record (rotating credentials) keeps its limits: a budget is not lifted by accident.
        const old = kv.raw(flags, kvKey);
        let oldLimits;
        try { oldLimits = old === null ? undefined : JSON.parse(old).limits; } catch {}
        if (oldLimits && typeof oldLimits === "object" && Object.keys(oldLimits).length) {
          try { limits = checkLimits(oldLimits); kept = true; } catch (e) { die(`the replaced record's ${e.message}; give the limits again (--rpm ...)`); }
        }
      }
      const record = providerRecord(key, arg, { ...opts, limits });
      kv.put(flags, kvKey, JSON.stringify(record));
      const lim = record.limits ? `; limits ${formatLimits(record.limits)}${kept ? " (kept from the replaced record)" : ""}` : "";
      if (record.provider === "openai") console.log(`provider @${arg} saved (openai, ${record.base_url ?? OPENAI_DEFAULT_BASE_URL}${lim})`);
      else console.log(`provider @${arg} saved (${record.aws_region}${record.custom_host ? `, ${record.custom_host}` : ""}${lim})`);
      return;
    }
    case "list-providers": {
      const key = catalogKey(flags);
      for (const { kvKey: name, record } of records(flags, "provider:")) {
        const slug = name.slice("provider:".length);
        if (!record) { console.log(`@${slug}\tUNREADABLE (not JSON)`); continue; }
        let kind;
        try { kind = openProviderAuth(key, slug, record).type; } catch { kind = "UNREADABLE with this CATALOG_KEY"; }
        const lim = formatLimits(record.limits);
        if (record.provider === "openai") console.log(`@${slug}\topenai\t${kind}\t${record.base_url ?? OPENAI_DEFAULT_BASE_URL}\t${lim}`);
        else console.log(`@${slug}\t${record.aws_region}\t${kind}\t${record.custom_host ?? "-"}\t${lim}`);
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
        // The plain limits are not in the sealed record: carried over as they are.
        if (record.limits !== undefined) fresh.limits = record.limits;
        kv.put(flags, name, JSON.stringify(fresh));
        console.log(`@${slug} resealed (schema ${record.schema} -> ${fresh.schema})`);
      }
      return;
    }
    case "add-key": {
      if (!arg) die("add-key <name> --providers a,b");
      onlyFlags(command, flags, ["providers", "models", ...LIMIT_OPTIONS]);
      const providers = (flags.providers ?? die("--providers is required (slugs, or *)")).split(",").map((s) => s.trim().replace(/^@/, "")).filter(Boolean);
      const models = flags.models ? flags.models.split(",").map((s) => s.trim()).filter(Boolean) : undefined;
      const limits = limitsFrom(flags);
      const key = newGatewayKey();
      const { kvKey, record } = gatewayKeyRecord(key, { name: arg, providers, models, limits });
      kv.put(flags, kvKey, JSON.stringify(record));
      console.log(`gateway key "${arg}" (hash ${record.hash.slice(0, 12)}...) for ${providers.join(",")}${limits ? `, limits ${formatLimits(limits)}` : ""}:`);
      console.log(key);
      console.log("Shown once: only its hash is stored.");
      return;
    }
    case "list-keys":
      for (const { kvKey: name, record: r } of records(flags, "gateway_key:")) {
        if (!r) { console.log(`${name.slice("gateway_key:".length, "gateway_key:".length + 12)}\tUNREADABLE (not JSON)`); continue; }
        console.log(`${r.hash.slice(0, 12)}\t${r.name}\t${r.enabled ? "enabled" : "DISABLED"}\t${r.providers.join(",")}\t${r.models?.join(",") ?? "*"}\t${formatLimits(r.limits)}`);
      }
      return;
    case "set-limits":
      setLimits(flags, arg);
      return;
    case "usage":
      await usage(flags);
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
      die("commands: new-catalog-key, add-provider, list-providers, remove-provider, reseal, add-key, list-keys, disable-key, enable-key, remove-key, set-limits, usage, add-prompt, list-prompts, remove-prompt");
  }
}

/**
 * set-limits: the new limits of one key or provider, written by editing only the record's `limits`
 * member in its stored text (setRecordLimits), so the sealed value and the plain copies the Worker
 * compares with it stay byte-identical. Needs no CATALOG_KEY.
 */
function setLimits(flags, which) {
  if (!which) die("set-limits <key-name | key-hash-prefix | @slug> [--rpm N] [--tpm N] [--tokens-per-day N] [--usd-per-month X] [--clear-<limit>] [--clear]");
  onlyFlags("set-limits", flags, [...LIMIT_OPTIONS, ...CLEAR_OPTIONS]);
  const set = limitsFrom(flags) ?? {};
  const clear = LIMIT_FIELDS.filter((s) => flags[`clear-${s.option}`]);
  if (!Object.keys(set).length && !clear.length && !flags.clear) {
    die("nothing to change: give --rpm/--tpm/--tokens-per-day/--usd-per-month, --clear-<limit> (one) or --clear (all)");
  }
  const both = clear.filter((s) => set[s.field] !== undefined);
  if (both.length) die(`--${both[0].option} and --clear-${both[0].option} contradict each other`);

  let target;
  if (which.startsWith("@")) {
    const slug = which.slice(1);
    const kvKey = providerKvKey(slug);
    const raw = kv.raw(flags, kvKey);
    if (raw === null) die(`no provider @${slug} (see list-providers)`);
    target = { kvKey, raw, label: `provider @${slug}` };
  } else {
    const { kvKey, raw, record } = findKeyByNameOrHash(flags, which);
    target = { kvKey, raw, label: `key "${record.name}" (${kvKey.slice("gateway_key:".length, "gateway_key:".length + 12)})` };
  }
  let record;
  try { record = JSON.parse(target.raw); } catch { die(`${target.label}: the stored record is not JSON; rewrite it`); }
  if (!record || typeof record !== "object" || Array.isArray(record)) die(`${target.label}: the stored record is not a JSON object`);
  const old = record.limits;
  if (old !== undefined && !flags.clear && (!old || typeof old !== "object" || Array.isArray(old))) {
    die(`${target.label}: its stored limits are not an object; --clear replaces them`);
  }
  const merged = flags.clear ? {} : { ...(old ?? {}) };
  for (const s of clear) delete merged[s.field];
  Object.assign(merged, set);
  // Known limits first, in their usual order; unknown ones (a newer Worker's?) kept after them.
  const next = {};
  for (const s of LIMIT_FIELDS) if (merged[s.field] !== undefined) next[s.field] = merged[s.field];
  for (const [k, v] of Object.entries(merged)) if (!(k in next)) next[k] = v;
  try { checkLimits(next); } catch (e) { die(`${target.label}: stored ${e.message}; set it again or --clear-<limit> it`); }
  const text = setRecordLimits(target.raw, Object.keys(next).length ? next : undefined);
  if (text === target.raw) {
    console.log(`${target.label}: limits unchanged (${formatLimits(old)})`);
    return;
  }
  kv.put(flags, target.kvKey, text);
  const was = formatLimits(old) === "-" ? "none" : formatLimits(old);
  console.log(`${target.label}: ${Object.keys(next).length ? `limits ${formatLimits(next)}` : "no limits"} (were ${was})`);
}

/** The Worker's counts for `subject`: {usage} or {error, global} (global: the same for every subject). */
async function fetchUsage(base, token, subject) {
  let res;
  try {
    res = await fetch(`${base}/v1/admin/usage/${subject}`, {
      headers: { authorization: `Bearer ${token}` },
      signal: AbortSignal.timeout(15_000),
    });
  } catch (e) {
    return { error: `cannot reach ${base} (${e.cause?.code ?? e.cause?.message ?? e.message})`, global: true };
  }
  const text = await res.text();
  let body = null;
  try { body = JSON.parse(text); } catch {}
  if (res.status === 200 && body && typeof body === "object") return { usage: body };
  if (res.status === 401) return { error: "the Worker refused EDGEPORT_ADMIN_TOKEN (401): it is not the Worker's ADMIN_TOKEN", global: true };
  if (res.status === 404) {
    return { error: "the Worker has no admin route (404): set its ADMIN_TOKEN secret (16+ characters), or check --url", global: true };
  }
  const message = body?.error?.message ?? text.slice(0, 200);
  return { error: `the Worker answered ${res.status}: ${message}`, global: false };
}

const num = (n) => (typeof n === "number" ? String(n) : "?");
function usd(x) {
  if (typeof x !== "number") return "?";
  if (x === 0) return "0";
  const fixed = x.toFixed(6).replace(/0+$/, "").replace(/\.$/, "");
  return fixed === "0" ? x.toPrecision(2) : fixed;
}

/** A rate cell: the limit, or with counts "N left of L". */
function rateCell(limit, left) {
  if (limit === undefined) return "-";
  return left === undefined ? String(limit) : `${left} left of ${limit}`;
}

/** A budget cell: the limit, or with counts "used of L" (plus what requests in flight reserved). */
function budgetCell(limit, used, reserved, fmt) {
  if (used === undefined) return limit === undefined ? "-" : fmt(limit);
  const r = reserved ? ` (+${fmt(reserved)} reserved)` : "";
  return limit === undefined ? `${fmt(used)}${r}` : `${fmt(used)}${r} of ${fmt(limit)}`;
}

function table(rows) {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  return rows.map((r) => r.map((cell, c) => (c === r.length - 1 ? cell : cell.padEnd(widths[c]))).join("  ").trimEnd()).join("\n");
}

/**
 * usage: every key and provider record that has limits, with the Worker's counts when --url and
 * EDGEPORT_ADMIN_TOKEN are given. Exit 0 with the limits only when they are not; exit 1 when the
 * Worker was asked and some counts could not be read.
 */
async function usage(flags) {
  onlyFlags("usage", flags, ["url", "json"]);
  let base = null;
  if (flags.url !== undefined) {
    let u;
    try { u = new URL(flags.url); } catch { die(`--url ${JSON.stringify(flags.url)} is not a URL`); }
    if (u.protocol !== "https:" && u.protocol !== "http:") die("--url must be http(s)");
    if (u.search || u.hash || u.username || u.password) die("--url takes no query, fragment or credentials");
    base = u.toString().replace(/\/+$/, "").replace(/\/v1$/, "");
  }
  const token = process.env.EDGEPORT_ADMIN_TOKEN ?? "";
  let missing = null;
  if (!base) missing = "no --url: give the Worker's URL (e.g. --url https://edgeport.<account>.workers.dev) to read its counts";
  else if (!token) missing = "EDGEPORT_ADMIN_TOKEN is not set (the Worker's ADMIN_TOKEN secret)";
  else if (token.length < 16) missing = "EDGEPORT_ADMIN_TOKEN is shorter than 16 characters: the Worker never accepts such a token";

  const subjects = [];
  const hasLimits = (l) => l && typeof l === "object" && !Array.isArray(l) && Object.keys(l).length > 0;
  for (const { kvKey, record: r } of records(flags, "gateway_key:")) {
    if (!r || !hasLimits(r.limits)) continue;
    const hash = kvKey.slice("gateway_key:".length);
    subjects.push({ subject: `key:${hash}`, kind: "key", name: r.name, hash, enabled: r.enabled, limits: r.limits });
  }
  for (const { kvKey, record: r } of records(flags, "provider:")) {
    if (!r || !hasLimits(r.limits)) continue;
    const slug = kvKey.slice("provider:".length);
    subjects.push({ subject: `slug:${slug}`, kind: "slug", slug, limits: r.limits });
  }

  let failed = false;
  for (const s of subjects) s.usage = null;
  for (const s of subjects) {
    if (missing) break;
    const got = await fetchUsage(base, token, s.subject);
    if (got.usage) {
      s.usage = got.usage;
      // The Worker reads the limits from its own KV: different ones mean another namespace (--remote?).
      const theirs = got.usage.limits ?? {};
      if (LIMIT_FIELDS.some((f) => theirs[f.field] !== s.limits[f.field])) {
        s.warning = `the Worker reads other limits for ${s.subject} (${formatLimits(theirs) === "-" ? "none" : formatLimits(theirs)}): is --url the Worker of this namespace${flags.remote ? "" : " (add --remote?)"}, or is a change not yet visible to it?`;
      }
      continue;
    }
    failed = true;
    if (got.global) { missing = got.error; s.error = got.error; for (const t of subjects) if (!t.usage) t.error ??= got.error; break; }
    s.error = got.error;
  }
  if (failed) process.exitCode = 1;

  const counted = subjects.some((s) => s.usage);
  if (flags.json) {
    console.log(JSON.stringify({ url: base, counts: counted, counts_missing: missing, subjects }, null, 2));
    return;
  }
  if (!subjects.length) {
    console.log("no gateway key or provider has limits");
    return;
  }
  const rows = [["SUBJECT", "RPM", "TPM", "TOKENS/DAY", "USD/MONTH", ...(counted ? ["REQUESTS"] : [])]];
  for (const s of subjects) {
    const who = s.kind === "key" ? `key ${s.name} (${s.hash.slice(0, 12)})${s.enabled === false ? " DISABLED" : ""}` : `slug @${s.slug}`;
    const u = s.usage;
    const l = s.limits;
    rows.push([
      who,
      rateCell(l.rpm, u ? num(u.remaining_requests) : undefined),
      rateCell(l.tpm, u ? num(u.remaining_tokens) : undefined),
      budgetCell(l.tokens_per_day, u?.tokens_today, u?.tokens_reserved, num),
      budgetCell(l.usd_per_month, u?.usd_this_month, u?.usd_reserved, usd),
      ...(counted ? [u ? `${num(u.requests_today)} today, ${num(u.requests_this_month)} this month` : "?"] : []),
    ]);
  }
  console.log(table(rows));
  if (counted) console.log(`\ncounts from ${base}: rates are what is left of the limit now; budgets are used of the limit (tokens: this UTC day, USD: this UTC month)`);
  for (const s of subjects) {
    if (s.warning) console.log(`warning: ${s.warning}`);
    if (s.error && s.error !== missing) console.log(`${s.subject}: counts missing: ${s.error}`);
  }
  if (missing) console.log(`\ncounts missing: ${missing}`);
}

main().catch((e) => {
  // wrangler's stderr can echo the command line (which holds the record); print only the message.
  die(e.stderr ? String(e.stderr).split("\n").find((l) => l.includes("ERROR")) ?? "wrangler failed" : e.message);
});
