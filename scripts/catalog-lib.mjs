// The catalog's storage formats, for operators' tools and the tests. The Worker reads the same
// formats in src/catalog/ (Rust): keep the two in step.
//
// - provider:<slug>      {"schema":3,"provider":"bedrock","aws_region",...,"sealed":"v1.<sealed>"}
//   `sealed` is AES-256-GCM(CATALOG_KEY, random 12-byte nonce, aad = "provider:<slug>") of the whole
//   record's JSON ({provider, aws_region, auth, custom_host?, sts_endpoint?, default_params?,
//   s3_buckets?}), stored as "v1." + base64(nonce ‖ ciphertext ‖ tag). The plain fields beside it
//   are copies for listing; the Worker refuses a record whose copies differ from the sealed ones.
//   Schema 2 (older) sealed only `auth`; `reseal` upgrades it.
//   OpenAI: {"schema":3,"provider":"openai","base_url"?,"organization"?,"project"?,"default_params"?,
//   "sealed"} with sealed = the JSON of {provider: "openai", auth: {type: "api_key", api_key}, base_url?,
//   organization?, project?, default_params?}; base_url includes /v1 (the Worker's default is
//   https://api.openai.com/v1).
//   Both may carry a PLAIN `limits` object beside `sealed` (not sealed: changing it needs no
//   CATALOG_KEY and leaves `sealed` byte-identical), see LIMIT_FIELDS.
// - gateway_key:<sha256> {"schema":1,"hash","name","providers":[...],"models"?:[...],"enabled","limits"?}
// - limits (src/budget/mod.rs `Limits`): {"rpm"?, "tpm"?, "tokens_per_day"?: whole numbers > 0,
//   "usd_per_month"?: a number > 0}; absent (or {}) = unlimited.
import { createCipheriv, createDecipheriv, createHash, randomBytes } from "node:crypto";
import { isDeepStrictEqual } from "node:util";

export const PROVIDER_SCHEMA = 3;
export const KEY_SCHEMA = 1;

function keyBytes(catalogKeyB64) {
  const key = Buffer.from(String(catalogKeyB64 ?? "").trim(), "base64");
  if (key.length !== 32) throw new Error("CATALOG_KEY must be base64 of 32 random bytes (node scripts/catalog.mjs new-catalog-key)");
  return key;
}

export function newCatalogKey() {
  return randomBytes(32).toString("base64");
}

export function providerKvKey(slug) {
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(slug)) throw new Error(`invalid slug "${slug}": letters, digits, - and _`);
  return `provider:${slug}`;
}

export function seal(catalogKeyB64, aad, plaintext) {
  const nonce = randomBytes(12);
  const cipher = createCipheriv("aes-256-gcm", keyBytes(catalogKeyB64), nonce);
  cipher.setAAD(Buffer.from(aad));
  const ct = Buffer.concat([cipher.update(Buffer.from(plaintext)), cipher.final()]);
  return "v1." + Buffer.concat([nonce, ct, cipher.getAuthTag()]).toString("base64");
}

export function open(catalogKeyB64, aad, sealed) {
  if (!sealed.startsWith("v1.")) throw new Error("unknown sealed format");
  const raw = Buffer.from(sealed.slice(3), "base64");
  const decipher = createDecipheriv("aes-256-gcm", keyBytes(catalogKeyB64), raw.subarray(0, 12));
  decipher.setAAD(Buffer.from(aad));
  decipher.setAuthTag(raw.subarray(raw.length - 16));
  return Buffer.concat([decipher.update(raw.subarray(12, raw.length - 16)), decipher.final()]).toString("utf8");
}

/** The providers a catalog record may name. */
export const PROVIDERS = Object.freeze(["bedrock", "openai"]);

/** OpenAI's own API: an OpenAI record without base_url goes here (the Worker's default). */
export const OPENAI_DEFAULT_BASE_URL = "https://api.openai.com/v1";

/**
 * The stored provider record (schema 3). `provider` is "bedrock" (the default) or "openai".
 *
 * Bedrock: {region, auth, customHost?, stsEndpoint?, defaultParams?, s3Buckets?}; `auth` is one of
 *   {type:"access_key", access_key_id, secret_access_key, session_token?}
 *   {type:"assumed_role", role_arn, external_id?, session_name?, duration_seconds?}
 *   {type:"api_key", api_key}
 * s3Buckets: the only buckets s3:// media may name (absent: any the credentials can read).
 *
 * OpenAI: {provider: "openai", auth: {type:"api_key", api_key}, baseUrl?, organization?, project?,
 * defaultParams?}. baseUrl is the API's base URL including /v1 (an OpenAI-compatible endpoint, a proxy);
 * absent: OPENAI_DEFAULT_BASE_URL.
 */
export function providerRecord(catalogKeyB64, slug, { limits, ...opts }) {
  if (limits !== undefined) checkLimits(limits);
  const record = sealedProviderRecord(catalogKeyB64, slug, opts);
  // Plain, after `sealed`: the Worker reads it beside the sealed record, never inside it.
  if (limits && Object.keys(limits).length) record.limits = limits;
  return record;
}

function sealedProviderRecord(catalogKeyB64, slug, opts) {
  const provider = opts.provider ?? "bedrock";
  if (provider === "openai") return openaiRecord(catalogKeyB64, slug, opts);
  if (provider !== "bedrock") throw new Error(`unknown provider "${provider}" (one of ${PROVIDERS.join(", ")})`);
  const { region, auth, customHost, stsEndpoint, defaultParams, s3Buckets } = opts;
  if (!region) throw new Error("a region is required");
  if (s3Buckets !== undefined && !(Array.isArray(s3Buckets) && s3Buckets.every((b) => typeof b === "string" && /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(b)))) {
    throw new Error("s3 buckets must be S3 bucket names");
  }
  const plain = { provider: "bedrock", aws_region: region };
  if (customHost) plain.custom_host = customHost;
  if (stsEndpoint) plain.sts_endpoint = stsEndpoint;
  if (defaultParams) plain.default_params = defaultParams;
  if (s3Buckets) plain.s3_buckets = s3Buckets;
  const sealed = seal(catalogKeyB64, providerKvKey(slug), JSON.stringify({ ...plain, auth }));
  return { schema: PROVIDER_SCHEMA, ...plain, sealed };
}

function openaiRecord(catalogKeyB64, slug, { auth, baseUrl, organization, project, defaultParams, ...rest }) {
  for (const [k, v] of Object.entries(rest)) {
    if (v !== undefined && k !== "provider") throw new Error(`${k} is not an OpenAI record field (Bedrock only)`);
  }
  if (!auth || auth.type !== "api_key" || typeof auth.api_key !== "string" || !auth.api_key.trim()) {
    throw new Error('an OpenAI record needs auth {type: "api_key", api_key}');
  }
  if (Object.keys(auth).some((k) => k !== "type" && k !== "api_key")) throw new Error("OpenAI auth holds only type and api_key");
  if (baseUrl !== undefined) {
    let u;
    try {
      u = new URL(baseUrl);
    } catch {
      throw new Error(`base URL "${baseUrl}" is not a URL`);
    }
    if (u.protocol !== "https:" && u.protocol !== "http:") throw new Error("the base URL must be http(s)");
    if (u.username || u.password || u.search || u.hash) throw new Error("the base URL takes no credentials, query or fragment");
  }
  for (const [name, v] of [["organization", organization], ["project", project]]) {
    if (v !== undefined && (typeof v !== "string" || !v.trim())) throw new Error(`${name} must be a non-empty string`);
  }
  if (defaultParams !== undefined && (!defaultParams || typeof defaultParams !== "object" || Array.isArray(defaultParams))) {
    throw new Error("default params must be a JSON object");
  }
  const plain = {};
  if (baseUrl) plain.base_url = baseUrl;
  if (organization) plain.organization = organization;
  if (project) plain.project = project;
  if (defaultParams) plain.default_params = defaultParams;
  const sealed = seal(catalogKeyB64, providerKvKey(slug), JSON.stringify({ provider: "openai", auth, ...plain }));
  return { schema: PROVIDER_SCHEMA, provider: "openai", ...plain, sealed };
}

/**
 * What a record says, opened. Bedrock: {provider: "bedrock", region, auth, customHost, stsEndpoint,
 * defaultParams, s3Buckets} (schema 2 too); OpenAI: {provider: "openai", auth, baseUrl, organization,
 * project, defaultParams}. Both feed providerRecord back (reseal).
 */
export function openProvider(catalogKeyB64, slug, record) {
  if (record.schema === 3) {
    const r = JSON.parse(open(catalogKeyB64, providerKvKey(slug), record.sealed));
    if (r.provider === "openai") {
      return { provider: "openai", auth: r.auth, baseUrl: r.base_url, organization: r.organization, project: r.project,
        defaultParams: r.default_params };
    }
    return { provider: "bedrock", region: r.aws_region, auth: r.auth, customHost: r.custom_host, stsEndpoint: r.sts_endpoint,
      defaultParams: r.default_params, s3Buckets: r.s3_buckets };
  }
  if (record.schema === 2) {
    return { provider: "bedrock", region: record.aws_region, auth: JSON.parse(open(catalogKeyB64, providerKvKey(slug), record.auth)),
      customHost: record.custom_host, stsEndpoint: record.sts_endpoint, defaultParams: record.default_params };
  }
  throw new Error(`unknown provider record schema ${record.schema}`);
}

export function openProviderAuth(catalogKeyB64, slug, record) {
  return openProvider(catalogKeyB64, slug, record).auth;
}

export function hashKey(key) {
  return createHash("sha256").update(key).digest("hex");
}

/** A new high-entropy gateway key (shown once; only its hash is stored). */
export function newGatewayKey() {
  return "ek_" + randomBytes(32).toString("base64url");
}

export function gatewayKeyRecord(key, { name, providers = [], models, enabled = true, limits }) {
  if (limits !== undefined) checkLimits(limits);
  const hash = hashKey(key);
  const record = { schema: KEY_SCHEMA, hash, name, providers, enabled };
  if (models && models.length) record.models = models;
  if (limits && Object.keys(limits).length) record.limits = limits;
  return { kvKey: `gateway_key:${hash}`, record };
}

// ------------------------------------------------------------------ limits

/**
 * The limits a key or provider record may carry (src/budget/mod.rs `Limits`), with the CLI option
 * that sets each: rpm / tpm / tokens_per_day are whole numbers (u64 in the Worker) > 0,
 * usd_per_month a number > 0.
 */
export const LIMIT_FIELDS = Object.freeze([
  { field: "rpm", option: "rpm", integer: true, what: "requests per minute" },
  { field: "tpm", option: "tpm", integer: true, what: "tokens per minute" },
  { field: "tokens_per_day", option: "tokens-per-day", integer: true, what: "tokens per UTC day" },
  { field: "usd_per_month", option: "usd-per-month", integer: false, what: "USD per UTC month" },
]);

/** Whether `v` is a usable value for `spec` (a LIMIT_FIELDS entry). */
function limitOk(spec, v) {
  if (spec.integer) return Number.isSafeInteger(v) && v > 0;
  return typeof v === "number" && Number.isFinite(v) && v > 0;
}

function limitRule(spec) {
  return spec.integer ? `a whole number > 0 (at most ${Number.MAX_SAFE_INTEGER})` : "a number > 0 (e.g. 25 or 12.50)";
}

/**
 * The value of `--<option> <text>`: decimal digits only for the whole numbers, a plain decimal for
 * USD (no sign, exponent, hex, Infinity). Throws a message naming the option.
 */
export function parseLimitValue(spec, text) {
  const s = String(text);
  const v = (spec.integer ? /^[0-9]+$/ : /^([0-9]+\.?[0-9]*|\.[0-9]+)$/).test(s) ? Number(s) : NaN;
  if (!limitOk(spec, v)) throw new Error(`--${spec.option} ${JSON.stringify(s)}: ${spec.what} must be ${limitRule(spec)}`);
  return v;
}

/** Throws unless `limits` is an object whose known fields are valid (unknown fields are left alone). */
export function checkLimits(limits) {
  if (!limits || typeof limits !== "object" || Array.isArray(limits)) throw new Error("limits must be an object");
  for (const spec of LIMIT_FIELDS) {
    const v = limits[spec.field];
    if (v !== undefined && !limitOk(spec, v)) throw new Error(`limits.${spec.field} is ${JSON.stringify(v)}: it must be ${limitRule(spec)}`);
  }
  return limits;
}

/** `rpm=60,tpm=100000,tokens_per_day=2000000,usd_per_month=12.5`, or "-" for none. */
export function formatLimits(limits) {
  if (!limits || typeof limits !== "object") return "-";
  const known = LIMIT_FIELDS.map((s) => s.field).filter((f) => limits[f] !== undefined);
  const other = Object.keys(limits).filter((f) => !known.includes(f)).sort();
  const parts = [...known, ...other].map((f) => `${f}=${typeof limits[f] === "object" ? JSON.stringify(limits[f]) : limits[f]}`);
  return parts.length ? parts.join(",") : "-";
}

/**
 * The top-level members of the JSON object `text`: [{key, start, valueStart, valueEnd}] (start: the
 * key's opening quote; valueEnd: just past the value), and where its braces are. `text` must parse.
 */
function topLevelMembers(text) {
  let i = 0;
  const fail = () => { throw new Error("the record is not a JSON object"); };
  const ws = () => { while (i < text.length && " \t\n\r".includes(text[i])) i++; };
  const str = () => {
    const start = i++;
    while (i < text.length && text[i] !== '"') i += text[i] === "\\" ? 2 : 1;
    if (i >= text.length) fail();
    i++;
    return JSON.parse(text.slice(start, i));
  };
  const value = () => {
    if (text[i] === '"') return void str();
    if (text[i] === "{" || text[i] === "[") {
      let depth = 0;
      do {
        const c = text[i];
        if (c === '"') { str(); continue; }
        if (c === "{" || c === "[") depth++;
        else if (c === "}" || c === "]") depth--;
        i++;
      } while (depth > 0 && i < text.length);
      if (depth) fail();
      return;
    }
    while (i < text.length && !",}] \t\n\r".includes(text[i])) i++;
  };
  ws();
  if (text[i] !== "{") fail();
  const open = i++;
  const members = [];
  ws();
  if (text[i] !== "}") {
    for (;;) {
      ws();
      if (text[i] !== '"') fail();
      const start = i;
      const key = str();
      ws();
      if (text[i++] !== ":") fail();
      ws();
      const valueStart = i;
      value();
      members.push({ key, start, valueStart, valueEnd: i });
      ws();
      if (text[i] === ",") { i++; continue; }
      if (text[i] === "}") break;
      fail();
    }
  }
  return { open, close: i, members };
}

/**
 * `raw` (a stored record's exact text) with its top-level `limits` member set to `limits`, or removed
 * when `limits` is undefined. Every other byte is kept: the sealed value, and the plain copies the
 * Worker compares with it (a JSON round trip could rewrite `1.0` as `1`, and the Worker would then
 * refuse the record). A new member goes last. Throws if the edit would change anything else.
 */
export function setRecordLimits(raw, limits) {
  const before = JSON.parse(raw);
  if (!before || typeof before !== "object" || Array.isArray(before)) throw new Error("the record is not a JSON object");
  const { close, members } = topLevelMembers(raw);
  const at = members.map((m, j) => (m.key === "limits" ? j : -1)).filter((j) => j >= 0);
  if (at.length > 1) throw new Error("the record has `limits` twice; rewrite it");
  const j = at[0];
  const json = limits === undefined ? undefined : JSON.stringify(limits);
  let text;
  if (j === undefined) {
    if (json === undefined) return raw;
    const last = members[members.length - 1];
    text = last
      ? raw.slice(0, last.valueEnd) + `,"limits":${json}` + raw.slice(last.valueEnd)
      : raw.slice(0, close) + `"limits":${json}` + raw.slice(close);
  } else if (json !== undefined) {
    text = raw.slice(0, members[j].valueStart) + json + raw.slice(members[j].valueEnd);
  } else if (members.length === 1) {
    text = raw.slice(0, members[0].start) + raw.slice(close);
  } else if (j > 0) {
    text = raw.slice(0, members[j - 1].valueEnd) + raw.slice(members[j].valueEnd);
  } else {
    text = raw.slice(0, members[0].start) + raw.slice(members[1].start);
  }
  const expected = { ...before };
  delete expected.limits;
  if (limits !== undefined) expected.limits = limits;
  if (!isDeepStrictEqual(JSON.parse(text), expected)) throw new Error("could not edit the record's limits in place");
  return text;
}

// Stored prompts (plain JSON, no secrets): the same checks the Worker makes when it reads one
// (src/catalog/prompts.rs), so a record the Worker would refuse is never written.
export const PROMPT_SCHEMA = 1;
const ID = /^[A-Za-z0-9_-]{1,64}$/;

export function promptKvKey(id) {
  if (!ID.test(id)) throw new Error("a prompt id is letters, digits, - and _ (at most 64)");
  return `prompt:${id}`;
}

function promptTexts(message) {
  if (typeof message.content === "string") return [message.content];
  if (Array.isArray(message.content)) {
    return message.content.filter((p) => p?.type === "text" && typeof p.text === "string").map((p) => p.text);
  }
  return [];
}

// The variable names a template uses, in order of first use.
export function promptVariables(template) {
  const names = [];
  for (const m of template.messages) {
    for (const t of promptTexts(m)) {
      for (const match of t.matchAll(/\{\{(?:\{ *([A-Za-z0-9_.-]+) *\}\}\}|(?:& *| *)([A-Za-z0-9_.-]+) *\}\})/g)) {
        const name = match[1] ?? match[2];
        if (!names.includes(name)) names.push(name);
      }
    }
  }
  return names;
}

// A record from a template file: the bare template (`{messages, model, provider?, params?}`) or a
// whole record (`{schema: 1, template}`).
export function promptRecord(input) {
  const record = input && typeof input === "object" && "template" in input ? input : { schema: PROMPT_SCHEMA, template: input };
  const bad = (why) => { throw new Error(`not a usable prompt: ${why}`); };
  if (record.schema !== PROMPT_SCHEMA) bad(`schema must be ${PROMPT_SCHEMA}`);
  for (const k of Object.keys(record)) if (!["schema", "template"].includes(k)) bad(`unknown field ${k}`);
  const t = record.template;
  if (!t || typeof t !== "object" || Array.isArray(t)) bad("template must be an object");
  for (const k of Object.keys(t)) if (!["messages", "model", "provider", "params"].includes(k)) bad(`unknown template field ${k} (other chat fields go in params)`);
  if (!Array.isArray(t.messages) || t.messages.length === 0) bad("template.messages must be a non-empty array");
  t.messages.forEach((m, i) => {
    if (!m || typeof m !== "object" || Array.isArray(m)) bad(`template.messages[${i}] must be an object`);
    for (const text of promptTexts(m)) {
      if (/\{\{ *[#^/>!=][^}]*\}\}/.test(text)) bad(`template.messages[${i}]: sections, partials, comments and delimiter changes are not supported`);
    }
  });
  if (typeof t.model !== "string" || !t.model.trim()) bad("template.model must be a model id");
  if (t.provider !== undefined && !(typeof t.provider === "string" && /^@[A-Za-z0-9_-]{1,64}$/.test(t.provider))) bad("template.provider must be @slug");
  if (t.params !== undefined) {
    if (!t.params || typeof t.params !== "object" || Array.isArray(t.params)) bad("template.params must be an object");
    for (const k of ["messages", "model", "variables"]) if (k in t.params) bad(`template.params must not hold ${k}`);
  }
  return record;
}
