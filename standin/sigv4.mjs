// SigV4 verification with AWS's own signer (@smithy/signature-v4): the request is rebuilt exactly as it
// came over the wire (path not decoded, only the client's SignedHeaders), signed again with the secret
// we know for the access key, and the two signatures are compared in constant time.
import crypto from "node:crypto";
import { SignatureV4 } from "@smithy/signature-v4";
import { Sha256 } from "@aws-crypto/sha256-js";
import { TEST_CREDENTIALS } from "./credentials.mjs";

export const MAX_SKEW_MS = 15 * 60 * 1000;
const EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

export const MESSAGES = {
  mismatch:
    "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.",
  invalidToken: "The security token included in the request is invalid.",
  expiredToken: "The security token included in the request is expired",
  missing: "Missing Authentication Token",
};

/** Known access keys: the fixed test keys plus whatever STS issued. */
export class CredentialStore {
  constructor() {
    this.keys = new Map();
    this.reset();
  }
  reset() {
    this.keys.clear();
    this.add({ ...TEST_CREDENTIALS.longTerm, source: "static" });
    this.add({ ...TEST_CREDENTIALS.temporary, source: "static" });
  }
  /** {accessKeyId, secretAccessKey, sessionToken?, expiresAt? (ms), source?} */
  add(cred) {
    this.keys.set(cred.accessKeyId, { ...cred });
  }
  get(accessKeyId) {
    return this.keys.get(accessKeyId);
  }
}

/** Parses `AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/bedrock/aws4_request, SignedHeaders=a;b, Signature=hex`. */
export function parseAuthorization(header) {
  const m = /^\s*(AWS4-HMAC-SHA256)\s+(.*)$/s.exec(header ?? "");
  if (!m) return null;
  const parts = {};
  for (const piece of m[2].split(",")) {
    const eq = piece.indexOf("=");
    if (eq < 0) continue;
    parts[piece.slice(0, eq).trim()] = piece.slice(eq + 1).trim();
  }
  if (!parts.Credential || !parts.SignedHeaders || !parts.Signature) return null;
  const scope = parts.Credential.split("/");
  if (scope.length !== 5 || scope[4] !== "aws4_request") return null;
  const [accessKeyId, date, region, service] = scope;
  return {
    algorithm: m[1],
    accessKeyId,
    date,
    region,
    service,
    signedHeaders: parts.SignedHeaders.split(";").map((h) => h.trim().toLowerCase()).filter(Boolean),
    signature: parts.Signature.toLowerCase(),
  };
}

/** `20260101T000000Z` → Date, or null. */
export function parseAmzDate(s) {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(s ?? "");
  if (!m) return null;
  const d = new Date(Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]));
  return Number.isNaN(d.getTime()) ? null : d;
}

const amz = (d) => d.toISOString().replace(/[-:]/g, "").replace(/\.\d{3}Z$/, "Z");

/** All values of a header from Node's rawHeaders, joined with "," as SigV4 does. */
function rawHeaderValue(rawHeaders, name) {
  const values = [];
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    if (rawHeaders[i].toLowerCase() === name) values.push(rawHeaders[i + 1].trim());
  }
  return values.length ? values.join(",") : undefined;
}

function parseQuery(search) {
  const query = {};
  if (!search) return query;
  for (const pair of search.split("&")) {
    if (!pair) continue;
    const eq = pair.indexOf("=");
    const dec = (s) => {
      try {
        return decodeURIComponent(s);
      } catch {
        return s;
      }
    };
    const k = dec(eq < 0 ? pair : pair.slice(0, eq));
    const v = dec(eq < 0 ? "" : pair.slice(eq + 1));
    if (k in query) query[k] = [].concat(query[k], v);
    else query[k] = v;
  }
  return query;
}

function safeEqualHex(a, b) {
  const x = Buffer.from(String(a), "utf8");
  const y = Buffer.from(String(b), "utf8");
  if (x.length !== y.length) {
    crypto.timingSafeEqual(x, x); // keep the timing roughly independent of where they differ
    return false;
  }
  return crypto.timingSafeEqual(x, y);
}

const fail = (base, errorType, error) => ({ ...base, ok: false, status: 403, errorType, error });

/**
 * Verifies the SigV4 signature of a received request.
 * @param {object} p
 * @param {string} p.method
 * @param {string} p.url         request target as received (`/model/x%3A0/converse?a=b`), not decoded
 * @param {string[]} p.rawHeaders Node's req.rawHeaders
 * @param {Buffer} p.body         raw body bytes
 * @param {string} p.expectedService `bedrock` or `sts`
 * @param {CredentialStore} p.store
 * @param {number} [p.now]        server clock, ms
 * @param {number} [p.maxSkewMs]
 * @returns {Promise<{ok, auth, accessKeyId, region, service, signedHeaders, status?, errorType?, error?}>}
 */
export async function verifySigV4({ method, url, rawHeaders, body, expectedService, store, now = Date.now(), maxSkewMs = MAX_SKEW_MS }) {
  const authHeader = rawHeaderValue(rawHeaders, "authorization");
  const base = { auth: "sigv4", accessKeyId: null, region: null, service: null, signedHeaders: [] };
  if (!authHeader) return fail({ ...base, auth: "none" }, "MissingAuthenticationTokenException", MESSAGES.missing);

  const parsed = parseAuthorization(authHeader);
  if (!parsed) {
    return fail(base, "IncompleteSignatureException", `Authorization header is not a well-formed AWS4-HMAC-SHA256 header: '${authHeader.slice(0, 80)}'`);
  }
  const info = { ...base, accessKeyId: parsed.accessKeyId, region: parsed.region, service: parsed.service, signedHeaders: parsed.signedHeaders };

  const cred = store.get(parsed.accessKeyId);
  if (!cred) return fail(info, "UnrecognizedClientException", MESSAGES.invalidToken);

  const token = rawHeaderValue(rawHeaders, "x-amz-security-token");
  if (cred.sessionToken ? token !== cred.sessionToken : token !== undefined) {
    return fail(info, "UnrecognizedClientException", MESSAGES.invalidToken);
  }
  if (cred.expiresAt && now >= cred.expiresAt) return fail(info, "ExpiredTokenException", MESSAGES.expiredToken);

  if (parsed.service !== expectedService) {
    return fail(info, "InvalidSignatureException", `Credential should be scoped to correct service: '${expectedService}'. `);
  }
  if (!parsed.signedHeaders.includes("host")) {
    return fail(info, "InvalidSignatureException", "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.");
  }
  const amzDate = rawHeaderValue(rawHeaders, "x-amz-date");
  const signingDate = parseAmzDate(amzDate);
  if (!signingDate) {
    return fail(info, "IncompleteSignatureException", "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.");
  }
  if (!parsed.signedHeaders.includes("x-amz-date")) {
    return fail(info, "InvalidSignatureException", "'X-Amz-Date' must be a 'SignedHeader' in the AWS Authorization.");
  }
  if (Math.abs(now - signingDate.getTime()) > maxSkewMs) {
    const nowD = new Date(now);
    const earlier = signingDate.getTime() < now;
    const bound = new Date(earlier ? now - maxSkewMs : now + maxSkewMs);
    const mins = Math.round(maxSkewMs / 60000);
    return fail(
      info,
      "InvalidSignatureException",
      `Signature expired: ${amzDate} is now ${earlier ? "earlier" : "later"} than ${amz(bound)} (${amz(nowD)} ${earlier ? "-" : "+"} ${mins} min.)`,
    );
  }
  if (parsed.date !== amzDate.slice(0, 8)) {
    return fail(
      info,
      "InvalidSignatureException",
      `Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '${parsed.date}' != '${amzDate.slice(0, 8)}', from '${amzDate}'.`,
    );
  }

  // Rebuild the request as the client signed it: only its signed headers, path exactly as received.
  const q = url.indexOf("?");
  const path = q < 0 ? url : url.slice(0, q);
  const query = parseQuery(q < 0 ? "" : url.slice(q + 1));
  const headers = {};
  for (const name of parsed.signedHeaders) {
    const v = rawHeaderValue(rawHeaders, name);
    if (v !== undefined) headers[name] = v;
  }
  const declaredHash = headers["x-amz-content-sha256"];
  if (declaredHash !== undefined) {
    const actual = body?.length ? crypto.createHash("sha256").update(body).digest("hex") : EMPTY_SHA256;
    if (declaredHash !== actual) {
      return fail(info, "InvalidSignatureException", "The provided 'x-amz-content-sha256' header does not match what was computed.");
    }
  }
  const hostHeader = headers.host ?? "";
  const [hostname, port] = hostHeader.split(":");
  const request = {
    method,
    protocol: "https:",
    hostname,
    port: port ? Number(port) : undefined,
    path,
    query,
    headers,
    body: body && body.length ? body : undefined,
  };
  const signer = new SignatureV4({
    service: parsed.service,
    region: parsed.region,
    credentials: {
      accessKeyId: cred.accessKeyId,
      secretAccessKey: cred.secretAccessKey,
      // Only hand the token to the signer when the client signed it: the signer adds (and signs)
      // x-amz-security-token itself whenever credentials carry one.
      ...(parsed.signedHeaders.includes("x-amz-security-token") ? { sessionToken: cred.sessionToken ?? token } : {}),
    },
    sha256: Sha256,
    uriEscapePath: true,
    applyChecksum: false,
  });
  let expected;
  try {
    const signed = await signer.sign(request, { signingDate, signableHeaders: new Set(parsed.signedHeaders) });
    const m = /Signature=([0-9a-f]+)/.exec(signed.headers.authorization ?? "");
    expected = m?.[1];
    const sh = /SignedHeaders=([^,]+)/.exec(signed.headers.authorization ?? "")?.[1];
    // Sanity check: the signer must have signed exactly the client's list (it adds x-amz-date itself).
    if (sh !== [...parsed.signedHeaders].sort().join(";")) expected = undefined;
  } catch (e) {
    return fail(info, "InvalidSignatureException", `Could not verify signature: ${e.message}`);
  }
  if (!expected || !safeEqualHex(expected, parsed.signature)) {
    return fail(info, "InvalidSignatureException", MESSAGES.mismatch);
  }
  return { ...info, ok: true, status: 200, sessionToken: parsed.signedHeaders.includes("x-amz-security-token") ? "signed" : token ? "unsigned" : "none" };
}
