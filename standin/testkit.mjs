// Request helpers for the stand-in's own tests (the same as standin.test.mjs's): raw HTTP with exact headers,
// and SigV4 signing like the AWS SDK for JavaScript v3. Not a test file itself (node --test runs *.test.mjs).
import http from "node:http";
import { SignatureV4 } from "@smithy/signature-v4";
import { Sha256 } from "@aws-crypto/sha256-js";
import { TEST_CREDENTIALS } from "./credentials.mjs";

/** Raw HTTP request to 127.0.0.1:port; resolves {status, headers, body (Buffer), error?}. */
export function send(port, { method = "POST", path, headers = {}, body }) {
  return new Promise((resolve) => {
    const chunks = [];
    const q = http.request({ host: "127.0.0.1", port, method, path, headers, agent: false }, (resp) => {
      resp.on("data", (d) => chunks.push(Buffer.from(d)));
      const finish = (error) => resolve({ status: resp.statusCode, headers: resp.headers, body: Buffer.concat(chunks), error });
      resp.on("end", () => finish());
      resp.on("aborted", () => finish(new Error("aborted")));
      resp.on("error", (e) => finish(e));
    });
    q.on("error", (e) => resolve({ status: 0, error: e, body: Buffer.concat(chunks) }));
    q.end(body);
  });
}

/** A request signed like the AWS SDK for JavaScript v3 (path already percent-encoded, signed double-encoded). */
export async function signed(port, { method = "POST", path, body, credentials = TEST_CREDENTIALS.longTerm, region = "us-east-1", headers = {} }) {
  const signer = new SignatureV4({ service: "bedrock", region, credentials, sha256: Sha256, applyChecksum: true, uriEscapePath: true });
  const req = await signer.sign({
    method,
    protocol: "http:",
    hostname: "127.0.0.1",
    port,
    path,
    query: {},
    headers: { host: `127.0.0.1:${port}`, ...(body !== undefined ? { "content-type": "application/json", accept: "application/json" } : {}), ...headers },
    body,
  });
  return { method, path, headers: req.headers, body };
}

/** InvokeModel on `modelId` with a JSON body (an object is JSON-encoded; a string is sent as is). */
export async function invoke(port, modelId, body, opts = {}) {
  const raw = typeof body === "string" ? body : JSON.stringify(body);
  const r = await send(port, await signed(port, { path: `/model/${encodeURIComponent(modelId)}/${opts.operation ?? "invoke"}`, body: raw, ...opts }));
  let json;
  try {
    json = JSON.parse(r.body.toString("utf8"));
  } catch {}
  return { ...r, json, errorType: String(r.headers?.["x-amzn-errortype"] ?? "").split(":")[0] };
}
