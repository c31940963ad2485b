// Tests for the Bedrock stand-in: node --test standin/
import { test, before, after, beforeEach } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import crypto from "node:crypto";
import { SignatureV4 } from "@smithy/signature-v4";
import { Sha256 } from "@aws-crypto/sha256-js";
import { startStandin } from "./server.mjs";
import { TEST_CREDENTIALS } from "./credentials.mjs";
import { codec, decodeFrames, splitFrames } from "./eventstream.mjs";
import { fixtureStreamBytes } from "./fixtures.mjs";

const MODEL = "us.anthropic.claude-3-7-sonnet-20250219-v1:0";
const MODEL_PATH = encodeURIComponent(MODEL); // ...-v1%3A0
const CONVERSE_BODY = JSON.stringify({ messages: [{ role: "user", content: [{ text: "What is the capital of France?" }] }] });

let s;
before(async () => {
  s = await startStandin({ port: 0 });
});
after(async () => {
  await s.close();
});
beforeEach(() => s.reset());

/** Raw HTTP request with exact headers; resolves {status, headers, body, chunks:[{at, bytes}], error?}. */
function send({ method = "POST", path, headers = {}, body }) {
  return new Promise((resolve) => {
    const chunks = [];
    const q = http.request({ host: "127.0.0.1", port: s.port, method, path, headers, agent: false }, (resp) => {
      resp.on("data", (d) => chunks.push({ at: Date.now(), bytes: Buffer.from(d) }));
      const finish = (error) =>
        resolve({
          status: resp.statusCode,
          headers: resp.headers,
          body: Buffer.concat(chunks.map((c) => c.bytes)),
          chunks,
          error,
        });
      resp.on("end", () => finish());
      resp.on("aborted", () => finish(new Error("aborted")));
      resp.on("error", (e) => finish(e));
    });
    q.on("error", (e) => resolve({ status: 0, error: e, body: Buffer.concat(chunks.map((c) => c.bytes)), chunks }));
    q.end(body);
  });
}

/** Signs like the AWS SDK for JavaScript v3 (adds x-amz-content-sha256 unless applyChecksum: false). */
async function signed({
  method = "POST",
  path,
  body,
  credentials = TEST_CREDENTIALS.longTerm,
  service = "bedrock",
  region = "us-east-1",
  headers = {},
  signingDate,
  applyChecksum = true,
  uriEscapePath = true,
  contentType = "application/json",
}) {
  const signer = new SignatureV4({ service, region, credentials, sha256: Sha256, applyChecksum, uriEscapePath });
  const req = await signer.sign(
    {
      method,
      protocol: "http:",
      hostname: "127.0.0.1",
      port: s.port,
      path,
      query: {},
      headers: { host: `127.0.0.1:${s.port}`, ...(body !== undefined ? { "content-type": contentType } : {}), ...headers },
      body,
    },
    signingDate ? { signingDate } : {},
  );
  return { method, path, headers: req.headers, body };
}

/** An independent, botocore-style SigV4 (content-type;host;x-amz-date[;x-amz-security-token], no content-sha header). */
function botoSign({ method = "POST", path, body = "", credentials = TEST_CREDENTIALS.longTerm, region = "us-east-1", service = "bedrock", canonicalPath }) {
  const amzDate = new Date().toISOString().replace(/[-:]/g, "").replace(/\.\d{3}Z$/, "Z");
  const date = amzDate.slice(0, 8);
  const headers = { "content-type": "application/json", host: `127.0.0.1:${s.port}`, "x-amz-date": amzDate };
  if (credentials.sessionToken) headers["x-amz-security-token"] = credentials.sessionToken;
  const names = Object.keys(headers).sort();
  // Non-S3 services: each already-encoded segment is encoded again (%3A → %253A).
  const cpath = canonicalPath ?? path.split("/").map((seg) => encodeURIComponent(seg)).join("/");
  const hash = (x) => crypto.createHash("sha256").update(x).digest("hex");
  const canonical = [method, cpath, "", ...names.map((n) => `${n}:${headers[n]}`), "", names.join(";"), hash(body)].join("\n");
  const scope = `${date}/${region}/${service}/aws4_request`;
  const sts = ["AWS4-HMAC-SHA256", amzDate, scope, hash(canonical)].join("\n");
  let key = `AWS4${credentials.secretAccessKey}`;
  for (const part of [date, region, service, "aws4_request"]) key = crypto.createHmac("sha256", key).update(part).digest();
  const sig = crypto.createHmac("sha256", key).update(sts).digest("hex");
  headers.authorization = `AWS4-HMAC-SHA256 Credential=${credentials.accessKeyId}/${scope}, SignedHeaders=${names.join(";")}, Signature=${sig}`;
  return { method, path, headers, body };
}

const json = (r) => JSON.parse(r.body.toString("utf8"));
const errType = (r) => String(r.headers["x-amzn-errortype"] ?? "").split(":")[0];

// ------------------------------------------------------------------ SigV4

test("a correctly signed converse is accepted and recorded", async () => {
  const r = await send(await signed({ path: `/model/${MODEL_PATH}/converse`, body: CONVERSE_BODY }));
  assert.equal(r.status, 200);
  assert.equal(json(r).output.message.role, "assistant");
  const [rec] = s.requests();
  assert.equal(rec.operation, "converse");
  assert.equal(rec.model, MODEL);
  assert.equal(rec.path, `/model/${MODEL_PATH}/converse`);
  assert.deepEqual(rec.body, JSON.parse(CONVERSE_BODY));
  assert.equal(rec.signature.ok, true);
  assert.equal(rec.signature.accessKeyId, TEST_CREDENTIALS.longTerm.accessKeyId);
  assert.equal(rec.signature.region, "us-east-1");
  assert.equal(rec.signature.service, "bedrock");
  assert.equal(s.counters.byOperation.converse, 1);
});

test("botocore-style signature with %3A in the path verifies (double-encoded canonical URI)", async () => {
  const r = await send(botoSign({ path: `/model/${MODEL_PATH}/converse`, body: CONVERSE_BODY }));
  assert.equal(r.status, 200, r.body.toString());
  assert.deepEqual(s.requests()[0].signature.signedHeaders, ["content-type", "host", "x-amz-date"]);
  // Signing the path without the second encoding (the classic bug) must fail.
  const bad = await send(botoSign({ path: `/model/${MODEL_PATH}/converse`, body: CONVERSE_BODY, canonicalPath: `/model/${MODEL_PATH}/converse` }));
  assert.equal(bad.status, 403);
  assert.equal(errType(bad), "InvalidSignatureException");
  const viaSdk = await send(await signed({ path: `/model/${MODEL_PATH}/converse`, body: CONVERSE_BODY, uriEscapePath: false }));
  assert.equal(viaSdk.status, 403);
});

test("an ARN model id (every : and / escaped) verifies and is recorded decoded", async () => {
  const arn = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/mi1dadi0g15f";
  const r = await send(botoSign({ path: `/model/${encodeURIComponent(arn)}/converse`, body: CONVERSE_BODY }));
  assert.equal(r.status, 200, r.body.toString());
  assert.equal(s.requests()[0].model, arn);
});

test("wrong secret → 403 InvalidSignatureException", async () => {
  const creds = { ...TEST_CREDENTIALS.longTerm, secretAccessKey: "not-the-secret" };
  const r = await send(await signed({ path: `/model/${MODEL_PATH}/converse`, body: CONVERSE_BODY, credentials: creds }));
  assert.equal(r.status, 403);
  assert.equal(r.headers["x-amzn-errortype"], "InvalidSignatureException:http://internal.amazon.com/coral/com.amazon.coral.service/");
  assert.match(json(r).message, /^The request signature we calculated does not match/);
  assert.equal(s.requests()[0].signature.ok, false);
});

test("tampered body, unsigned host, wrong service, skewed clock, unknown key are rejected", async () => {
  const path = `/model/${MODEL_PATH}/converse`;
  const tampered = botoSign({ path, body: CONVERSE_BODY });
  tampered.body = CONVERSE_BODY.replace("France", "Spain");
  let r = await send(tampered);
  assert.equal(r.status, 403);
  assert.equal(errType(r), "InvalidSignatureException");

  const sdkTampered = await signed({ path, body: CONVERSE_BODY }); // with x-amz-content-sha256
  sdkTampered.body = CONVERSE_BODY.replace("France", "Spain");
  r = await send(sdkTampered);
  assert.equal(r.status, 403);

  const noHost = await signed({ path, body: CONVERSE_BODY });
  noHost.headers.authorization = noHost.headers.authorization.replace("content-type;host;", "content-type;");
  r = await send(noHost);
  assert.equal(r.status, 403);
  assert.match(json(r).message, /'Host'.*SignedHeader/);

  r = await send(await signed({ path, body: CONVERSE_BODY, service: "sts" }));
  assert.equal(r.status, 403);
  assert.match(json(r).message, /scoped to correct service: 'bedrock'/);

  r = await send(await signed({ path, body: CONVERSE_BODY, signingDate: new Date(Date.now() - 20 * 60 * 1000) }));
  assert.equal(r.status, 403);
  assert.equal(errType(r), "InvalidSignatureException");
  assert.match(json(r).message, /^Signature expired/);

  r = await send(await signed({ path, body: CONVERSE_BODY, credentials: { accessKeyId: "AKIDUNKNOWN", secretAccessKey: "x" } }));
  assert.equal(r.status, 403);
  assert.equal(errType(r), "UnrecognizedClientException");
  assert.equal(json(r).message, "The security token included in the request is invalid.");

  r = await send({ path, headers: { "content-type": "application/json" }, body: CONVERSE_BODY });
  assert.equal(r.status, 403);
  assert.equal(errType(r), "MissingAuthenticationTokenException");
});

test("session-token key: token required and checked", async () => {
  const path = `/model/${MODEL_PATH}/converse`;
  const temp = TEST_CREDENTIALS.temporary;
  let r = await send(await signed({ path, body: CONVERSE_BODY, credentials: temp }));
  assert.equal(r.status, 200, r.body.toString());
  r = await send(botoSign({ path, body: CONVERSE_BODY, credentials: temp }));
  assert.equal(r.status, 200, r.body.toString());

  r = await send(await signed({ path, body: CONVERSE_BODY, credentials: { accessKeyId: temp.accessKeyId, secretAccessKey: temp.secretAccessKey } }));
  assert.equal(r.status, 403);
  assert.equal(errType(r), "UnrecognizedClientException");
  assert.equal(json(r).message, "The security token included in the request is invalid.");

  r = await send(await signed({ path, body: CONVERSE_BODY, credentials: { ...temp, sessionToken: "wrong" } }));
  assert.equal(r.status, 403);
  assert.equal(errType(r), "UnrecognizedClientException");
});

test("bearer API key accepted, wrong bearer rejected", async () => {
  const path = `/model/${MODEL_PATH}/converse`;
  let r = await send({ path, headers: { authorization: `Bearer ${TEST_CREDENTIALS.apiKey}`, "content-type": "application/json" }, body: CONVERSE_BODY });
  assert.equal(r.status, 200);
  assert.equal(s.requests()[0].signature.auth, "bearer");
  r = await send({ path, headers: { authorization: "Bearer nope", "content-type": "application/json" }, body: CONVERSE_BODY });
  assert.equal(r.status, 403);
  assert.equal(errType(r), "UnrecognizedClientException");
});

// ------------------------------------------------------------------ streams

const decodeTypes = (buf) => decodeFrames(buf).map((f) => f.headers[":event-type"] ?? f.headers[":exception-type"]);

test("converse-stream default replays the recorded pydantic-ai stream", async () => {
  const r = await send(await signed({ path: `/model/${MODEL_PATH}/converse-stream`, body: CONVERSE_BODY }));
  assert.equal(r.status, 200);
  assert.equal(r.headers["content-type"], "application/vnd.amazon.eventstream");
  const recorded = fixtureStreamBytes("pydantic-ai/test_bedrock_model_stream");
  assert.ok(r.body.equals(recorded));
  const events = splitFrames(r.body).map((f) => codec.decode(f));
  assert.equal(events.length, 33);
  assert.equal(events[0].headers[":event-type"].value, "messageStart");
  assert.equal(events.at(-1).headers[":event-type"].value, "metadata");
  const text = decodeFrames(r.body)
    .filter((f) => f.headers[":event-type"] === "contentBlockDelta")
    .map((f) => f.json.delta.text)
    .join("");
  assert.match(text, /^The capital of France is Paris\./);
  const rec = s.requests()[0];
  assert.equal(rec.framesSentAt.length, 33);
  assert.equal(rec.streamEnd, "complete");
});

test("splitAt cuts the stream into separate writes at the given byte offsets", async () => {
  s.script({ stream: { fixture: "pydantic-ai/test_bedrock_model_stream", splitAt: [2, 7, 200], pauseMs: 15 } });
  const r = await send(await signed({ path: `/model/${MODEL_PATH}/converse-stream`, body: CONVERSE_BODY }));
  const recorded = fixtureStreamBytes("pydantic-ai/test_bedrock_model_stream");
  assert.ok(r.body.equals(recorded));
  assert.deepEqual(r.chunks.slice(0, 3).map((c) => c.bytes.length), [2, 5, 193]);
  const rec = s.requests()[0];
  assert.equal(rec.framesSentAt.length, 33);
  assert.ok(rec.scripted);
  // frame 0 (143 bytes) completes in the third write, at least two pauses after the first
  assert.ok(rec.framesSentAt[0] - rec.at >= 25, "pauses are real timers");
});

test("chunkSize and pauseMs: small writes, timestamps per frame", async () => {
  s.script({ text: "one two three four five six seven", stream: { chunkSize: 50, pauseMs: 1 } });
  const r = await send(await signed({ path: `/model/${MODEL_PATH}/converse-stream`, body: CONVERSE_BODY }));
  assert.ok(r.chunks.length > 5);
  assert.ok(r.chunks.every((c) => c.bytes.length <= 50));
  const frames = decodeFrames(r.body);
  assert.deepEqual(frames.map((f) => f.headers[":event-type"]), ["messageStart", "contentBlockDelta", "contentBlockDelta", "contentBlockDelta", "contentBlockStop", "messageStop", "metadata"]);
  assert.equal(frames.filter((f) => f.json.delta).map((f) => f.json.delta.text).join(""), "one two three four five six seven");
  assert.equal(s.requests()[0].framesSentAt.length, 7);
});

test("scripted events: exception frames, exceptionBefore, exceptionAfterFrames", async () => {
  const path = `/model/${MODEL_PATH}/converse-stream`;
  s.script({
    stream: {
      events: [
        { type: "messageStart", payload: { role: "assistant" } },
        { type: "contentBlockDelta", payload: { contentBlockIndex: 0, delta: { text: "Hi" } } },
        { exception: "throttlingException", message: "Too many tokens" },
      ],
    },
  });
  let r = await send(await signed({ path, body: CONVERSE_BODY }));
  let frames = decodeFrames(r.body);
  assert.equal(frames.length, 3);
  assert.equal(frames[2].headers[":message-type"], "exception");
  assert.equal(frames[2].headers[":exception-type"], "throttlingException");
  assert.deepEqual(frames[2].json, { message: "Too many tokens" });

  s.script({ stream: { exceptionBefore: { type: "internalServerException", message: "boom" } } });
  r = await send(await signed({ path, body: CONVERSE_BODY }));
  assert.equal(decodeTypes(r.body)[0], "internalServerException");

  s.script({ stream: { exceptionAfterFrames: { after: 4, type: "modelStreamErrorException", message: "mid-stream" } } });
  r = await send(await signed({ path, body: CONVERSE_BODY }));
  const types = decodeTypes(r.body);
  assert.equal(types.length, 5);
  assert.deepEqual(types.slice(0, 2), ["messageStart", "contentBlockDelta"]);
  assert.equal(types[4], "modelStreamErrorException");

  s.script({ stream: { events: [{ error: { code: "InternalFailure", message: "bad" } }] } });
  r = await send(await signed({ path, body: CONVERSE_BODY }));
  frames = decodeFrames(r.body);
  assert.equal(frames[0].headers[":message-type"], "error");
  assert.equal(frames[0].headers[":error-code"], "InternalFailure");
});

test("corruptCrcAtFrame breaks that frame's message CRC only", async () => {
  s.script({ stream: { corruptCrcAtFrame: 2 } });
  const r = await send(await signed({ path: `/model/${MODEL_PATH}/converse-stream`, body: CONVERSE_BODY }));
  const frames = splitFrames(r.body); // preludes are intact
  assert.equal(frames.length, 33);
  codec.decode(frames[0]);
  codec.decode(frames[1]);
  assert.throws(() => codec.decode(frames[2]), /checksum/i);
  codec.decode(frames[3]);
});

test("dropAfterFrames destroys the connection after n frames", async () => {
  s.script({ stream: { dropAfterFrames: 3 } });
  const r = await send(await signed({ path: `/model/${MODEL_PATH}/converse-stream`, body: CONVERSE_BODY }));
  assert.equal(r.status, 200);
  assert.ok(r.error, "client sees the connection end abnormally");
  const recorded = splitFrames(fixtureStreamBytes("pydantic-ai/test_bedrock_model_stream"));
  assert.ok(r.body.equals(Buffer.concat(recorded.slice(0, 3))));
  assert.equal(s.requests()[0].streamEnd, "dropped");
});

test("scripted HTTP errors and match filters", async () => {
  s.script({ match: { operation: "converse-stream" }, status: 429, errorType: "ThrottlingException", message: "Too many requests, please wait before trying again." });
  s.script({ match: { model: "other-model" }, text: "not for you" });
  let r = await send(await signed({ path: `/model/${MODEL_PATH}/converse`, body: CONVERSE_BODY }));
  assert.equal(r.status, 200);
  assert.equal(s.requests()[0].scripted, false);
  r = await send(await signed({ path: `/model/${MODEL_PATH}/converse-stream`, body: CONVERSE_BODY }));
  assert.equal(r.status, 429);
  assert.equal(r.headers["x-amzn-errortype"], "ThrottlingException:http://internal.amazon.com/coral/com.amazon.coral.service/");
  assert.deepEqual(json(r), { message: "Too many requests, please wait before trying again." });
  assert.equal(s.pending().length, 1);
  s.script({ fixture: "pydantic-ai/test_bedrock_error" });
  r = await send(await signed({ path: `/model/${MODEL_PATH}/converse`, body: CONVERSE_BODY }));
  assert.equal(r.status, 400);
  assert.equal(errType(r), "ValidationException");
  assert.deepEqual(json(r), { message: "The provided model identifier is invalid." });
});

test("invoke and invoke-with-response-stream answer like Claude on Bedrock", async () => {
  const body = JSON.stringify({ anthropic_version: "bedrock-2023-05-31", max_tokens: 100, messages: [{ role: "user", content: "hi" }] });
  let r = await send(await signed({ path: `/model/${MODEL_PATH}/invoke`, body }));
  assert.equal(r.status, 200);
  const msg = json(r);
  assert.match(msg.id, /^msg_bdrk_/);
  assert.equal(msg.model, "claude-3-7-sonnet-20250219");
  assert.equal(msg.content[0].type, "text");
  assert.equal(msg.stop_reason, "end_turn");

  r = await send(await signed({ path: `/model/${MODEL_PATH}/invoke-with-response-stream`, body }));
  assert.equal(r.status, 200);
  const inner = decodeFrames(r.body).map((f) => {
    assert.equal(f.headers[":event-type"], "chunk");
    return JSON.parse(Buffer.from(f.json.bytes, "base64").toString("utf8"));
  });
  assert.equal(inner[0].type, "message_start");
  assert.equal(inner.at(-1).type, "message_stop");
  assert.equal(typeof inner.at(-1)["amazon-bedrock-invocationMetrics"].outputTokenCount, "number");
  assert.equal(inner.filter((e) => e.type === "content_block_delta").map((e) => e.delta.text).join(""), msg.content[0].text);

  s.script({ anthropicEvents: [{ type: "message_start", message: { id: "msg_x" } }, { type: "message_stop" }], stream: { splitAt: [10] } });
  r = await send(await signed({ path: `/model/${MODEL_PATH}/invoke-with-response-stream`, body }));
  assert.equal(decodeFrames(r.body).length, 2);
  assert.equal(r.chunks[0].bytes.length, 10);
});

test("count-tokens: default, scripted, validation", async () => {
  const path = `/model/${MODEL_PATH}/count-tokens`;
  const good = JSON.stringify({ input: { invokeModel: { body: Buffer.from(JSON.stringify({ messages: [] })).toString("base64") } } });
  let r = await send(await signed({ path, body: good }));
  assert.deepEqual(json(r), { inputTokens: 42 });
  s.script({ inputTokens: 375 });
  r = await send(await signed({ path, body: good }));
  assert.deepEqual(json(r), { inputTokens: 375 });
  r = await send(await signed({ path, body: JSON.stringify({ messages: [] }) }));
  assert.equal(r.status, 400);
  assert.equal(errType(r), "ValidationException");
});

// ------------------------------------------------------------------ STS, control plane

function parseXmlCreds(xml) {
  const get = (tag) => new RegExp(`<${tag}>([^<]*)</${tag}>`).exec(xml)?.[1];
  return { accessKeyId: get("AccessKeyId"), secretAccessKey: get("SecretAccessKey"), sessionToken: get("SessionToken"), expiration: get("Expiration") };
}

const assumeRoleBody = (extra = "") =>
  `Action=AssumeRole&Version=2011-06-15&RoleArn=${encodeURIComponent("arn:aws:iam::123456789012:role/edgeport-bedrock")}&RoleSessionName=edgeport${extra}`;

test("STS AssumeRole issues credentials that then work on converse", async () => {
  const r = await send(await signed({ path: "/", body: assumeRoleBody(), service: "sts", contentType: "application/x-www-form-urlencoded; charset=utf-8" }));
  assert.equal(r.status, 200, r.body.toString());
  const xml = r.body.toString();
  assert.match(xml, /^<AssumeRoleResponse xmlns="https:\/\/sts.amazonaws.com\/doc\/2011-06-15\/">/);
  const creds = parseXmlCreds(xml);
  assert.match(creds.accessKeyId, /^ASIA[A-Z2-7]{16}$/);
  const exp = Date.parse(creds.expiration);
  assert.ok(Math.abs(exp - Date.now() - 3600_000) < 5000);
  assert.equal(s.counters.sts, 1);

  const conv = await send(botoSign({ path: `/model/${MODEL_PATH}/converse`, body: CONVERSE_BODY, credentials: creds }));
  assert.equal(conv.status, 200, conv.body.toString());
  assert.equal(s.requests()[1].signature.accessKeyId, creds.accessKeyId);

  const noToken = await send(botoSign({ path: `/model/${MODEL_PATH}/converse`, body: CONVERSE_BODY, credentials: { ...creds, sessionToken: undefined } }));
  assert.equal(noToken.status, 403);

  // Expiry: move the server clock past the expiration.
  s.configure({ now: () => exp + 1000, maxSkewMs: 10 * 3600_000 });
  const expired = await send(botoSign({ path: `/model/${MODEL_PATH}/converse`, body: CONVERSE_BODY, credentials: creds }));
  assert.equal(expired.status, 403);
  assert.equal(errType(expired), "ExpiredTokenException");
});

test("STS: ExternalId rule, durations, bedrock-scoped signature rejected", async () => {
  const roleArn = "arn:aws:iam::123456789012:role/edgeport-bedrock";
  s.setRole(roleArn, { externalId: "ext-123" });
  const form = { contentType: "application/x-www-form-urlencoded; charset=utf-8", service: "sts", path: "/" };
  let r = await send(await signed({ ...form, body: assumeRoleBody() }));
  assert.equal(r.status, 403);
  assert.match(r.body.toString(), /<Code>AccessDenied<\/Code>/);
  assert.match(r.body.toString(), /is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::123456789012:role\/edgeport-bedrock/);
  r = await send(await signed({ ...form, body: assumeRoleBody("&ExternalId=wrong") }));
  assert.equal(r.status, 403);
  r = await send(await signed({ ...form, body: assumeRoleBody("&ExternalId=ext-123&DurationSeconds=900") }));
  assert.equal(r.status, 200);
  assert.ok(Math.abs(Date.parse(parseXmlCreds(r.body.toString()).expiration) - Date.now() - 900_000) < 5000);
  s.configure({ stsDurationSeconds: 5 });
  r = await send(await signed({ ...form, body: assumeRoleBody("&ExternalId=ext-123") }));
  assert.ok(Math.abs(Date.parse(parseXmlCreds(r.body.toString()).expiration) - Date.now() - 5000) < 2000);
  r = await send(await signed({ ...form, service: "bedrock", body: assumeRoleBody("&ExternalId=ext-123") }));
  assert.equal(r.status, 403);
  assert.match(r.body.toString(), /<Code>SignatureDoesNotMatch<\/Code>/);
  assert.equal(s.counters.sts, 5);
  assert.equal(s.issuedCredentials().length, 2);
});

test("GetInferenceProfile: ARN in the path, scripted models, counted", async () => {
  const arn = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/mi1dadi0g15f";
  const path = `/inference-profiles/${encodeURIComponent(arn)}`;
  let r = await send(botoSign({ method: "GET", path }));
  assert.equal(r.status, 200, r.body.toString());
  let p = json(r);
  assert.equal(p.inferenceProfileArn, arn);
  assert.equal(p.inferenceProfileId, "mi1dadi0g15f");
  assert.equal(p.type, "APPLICATION");
  assert.equal(p.status, "ACTIVE");
  assert.equal(p.models[0].modelArn, "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-sonnet-4-5-20250929-v1:0");

  s.setInferenceProfile(arn, { modelArn: "arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-pro-v1:0" });
  r = await send(await signed({ method: "GET", path: "/inference-profiles/mi1dadi0g15f" }));
  p = json(r);
  assert.equal(p.models[0].modelArn, "arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-pro-v1:0");

  s.setInferenceProfile("gone", null);
  r = await send(await signed({ method: "GET", path: "/inference-profiles/gone" }));
  assert.equal(r.status, 404);
  assert.equal(errType(r), "ResourceNotFoundException");
  assert.equal(s.counters.getInferenceProfile, 3);
});

test("unknown operation → 404 UnknownOperationException", async () => {
  const r = await send(await signed({ path: "/foo/bar", body: "{}" }));
  assert.equal(r.status, 404);
  assert.equal(errType(r), "UnknownOperationException");
});

test("HTTP control API: script, requests, counters, reset", async () => {
  const post = (p, body) => fetch(`${s.url}/__standin/${p}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body ?? {}) });
  assert.equal((await post("script", { match: { operation: "converse" }, text: "scripted over http" })).status, 200);
  const r = await send(await signed({ path: `/model/${MODEL_PATH}/converse`, body: CONVERSE_BODY }));
  assert.equal(json(r).output.message.content[0].text, "scripted over http");
  const reqs = await (await fetch(`${s.url}/__standin/requests`)).json();
  assert.equal(reqs.length, 1);
  assert.equal(reqs[0].signature.ok, true);
  assert.equal(reqs[0].model, MODEL);
  assert.deepEqual(await (await fetch(`${s.url}/__standin/counters`)).json(), { sts: 0, getInferenceProfile: 0, byOperation: { converse: 1 } });
  await post("reset");
  assert.equal((await (await fetch(`${s.url}/__standin/requests`)).json()).length, 0);
  assert.equal((await post("script", { stream: { fixture: "pydantic-ai/no_such_fixture" } })).status, 400);
});

test("pauseMs between whole frames; a client abort mid-stream is recorded", async () => {
  s.script({ text: "a b c d e f g h i", stream: { pauseMs: 20 } });
  const r = await send(await signed({ path: `/model/${MODEL_PATH}/converse-stream`, body: CONVERSE_BODY }));
  const t = s.requests()[0].framesSentAt;
  assert.equal(t.length, decodeFrames(r.body).length);
  for (let i = 1; i < t.length; i++) assert.ok(t[i] - t[i - 1] >= 15, `gap ${i}: ${t[i] - t[i - 1]}`);
  assert.ok(r.chunks.length >= t.length - 1, "frames arrive as separate reads");

  s.reset();
  s.script({ stream: { pauseMs: 30 } });
  const req = await signed({ path: `/model/${MODEL_PATH}/converse-stream`, body: CONVERSE_BODY });
  await new Promise((resolve) => {
    const q = http.request({ host: "127.0.0.1", port: s.port, method: "POST", path: req.path, headers: req.headers, agent: false }, (resp) => {
      resp.once("data", () => {
        q.destroy();
        setTimeout(resolve, 80);
      });
    });
    q.end(req.body);
  });
  const rec = s.requests()[0];
  assert.equal(rec.clientAborted, true);
  assert.equal(rec.streamEnd, "aborted");
  assert.ok(rec.framesSentAt.length < 33);
});

// ------------------------------------------------------------------ misbehaviour (fault soak, issue 9)

const STREAM_PATH = `/model/${MODEL_PATH}/converse-stream`;

/** Sends a signed request and aborts it after `ms`; resolves what arrived by then. */
function sendAndAbortAfter(req, ms, { onResponse } = {}) {
  return new Promise((resolve) => {
    const chunks = [];
    let status = 0;
    const q = http.request({ host: "127.0.0.1", port: s.port, method: req.method, path: req.path, headers: req.headers, agent: false }, (resp) => {
      status = resp.statusCode;
      onResponse?.(resp);
      resp.on("data", (d) => chunks.push({ at: Date.now(), bytes: Buffer.from(d) }));
      resp.on("error", () => {});
    });
    q.on("error", () => {});
    q.end(req.body);
    setTimeout(() => {
      q.destroy();
      setTimeout(() => resolve({ status, chunks, body: Buffer.concat(chunks.map((c) => c.bytes)) }), 60);
    }, ms);
  });
}

/** A signed request written on a plain socket; resolves every byte the server sent until it closed. */
async function sendRawSocket(req) {
  const net = await import("node:net");
  return new Promise((resolve) => {
    const sock = net.connect(s.port, "127.0.0.1");
    const got = [];
    sock.on("data", (d) => got.push(d));
    sock.on("close", () => resolve(Buffer.concat(got).toString("latin1")));
    sock.on("error", () => {});
    const head = [`${req.method} ${req.path} HTTP/1.1`, ...Object.entries(req.headers).map(([k, v]) => `${k}: ${v}`), `content-length: ${Buffer.byteLength(req.body)}`, "", ""].join("\r\n");
    sock.write(head + req.body);
  });
}

test("stallBeforeHeaders: a number answers late, true never answers (until the client leaves)", async () => {
  s.script({ stallBeforeHeaders: 150 });
  const t0 = Date.now();
  const r = await send(await signed({ path: `/model/${MODEL_PATH}/converse`, body: CONVERSE_BODY }));
  assert.equal(r.status, 200);
  assert.ok(Date.now() - t0 >= 140, `answered after ${Date.now() - t0} ms`);
  assert.equal(s.requests()[0].stalled, "before-headers");

  s.reset();
  s.script({ stallBeforeHeaders: true });
  const got = await sendAndAbortAfter(await signed({ path: STREAM_PATH, body: CONVERSE_BODY }), 250);
  assert.equal(got.status, 0, "no headers arrived");
  const rec = s.requests()[0];
  assert.equal(rec.stalled, "before-headers");
  assert.equal(rec.clientAborted, true);
  assert.equal(rec.streamEnd, "aborted");
});

test("dropBeforeHeaders: the connection is reset without an answer", async () => {
  s.script({ dropBeforeHeaders: true });
  const r = await send(await signed({ path: `/model/${MODEL_PATH}/converse`, body: CONVERSE_BODY }));
  assert.equal(r.status, 0);
  assert.ok(r.error);
  assert.equal(s.requests()[0].streamEnd, "dropped");
});

test("stream.stallAfterFrames: a pause of ms after n frames, or forever", async () => {
  s.script({ stream: { stallAfterFrames: { after: 2, ms: 200 } } });
  const r = await send(await signed({ path: STREAM_PATH, body: CONVERSE_BODY }));
  assert.equal(decodeFrames(r.body).length, 33);
  const rec = s.requests()[0];
  assert.equal(rec.stalled, "mid-stream");
  assert.ok(rec.framesSentAt[2] - rec.framesSentAt[1] >= 190, `gap ${rec.framesSentAt[2] - rec.framesSentAt[1]}`);
  assert.equal(rec.streamEnd, "complete");

  s.reset();
  s.script({ stream: { stallAfterFrames: { after: 3 } } });
  const got = await sendAndAbortAfter(await signed({ path: STREAM_PATH, body: CONVERSE_BODY }), 300);
  assert.equal(got.status, 200);
  const recorded = splitFrames(fixtureStreamBytes("pydantic-ai/test_bedrock_model_stream"));
  assert.ok(got.body.equals(Buffer.concat(recorded.slice(0, 3))), "exactly three frames, then silence");
  const rec2 = s.requests()[0];
  assert.equal(rec2.framesSentAt.length, 3);
  assert.equal(rec2.streamEnd, "aborted");
  assert.equal(rec2.clientAborted, true);
});

test("stream.dropMidFrame: whole frames, part of the next, then a reset", async () => {
  const recorded = splitFrames(fixtureStreamBytes("pydantic-ai/test_bedrock_model_stream"));
  s.script({ stream: { dropMidFrame: 4 } });
  let r = await send(await signed({ path: STREAM_PATH, body: CONVERSE_BODY }));
  assert.equal(r.status, 200);
  assert.ok(r.error, "the client sees an abnormal end");
  const half = Math.floor(recorded[4].length / 2);
  assert.ok(r.body.equals(Buffer.concat([...recorded.slice(0, 4), recorded[4].subarray(0, half)])));
  assert.equal(s.requests()[0].streamEnd, "dropped");

  s.reset();
  s.script({ stream: { dropMidFrame: { frame: 0, bytes: 5 } } }); // inside the first prelude
  r = await send(await signed({ path: STREAM_PATH, body: CONVERSE_BODY }));
  assert.ok(r.body.equals(recorded[0].subarray(0, 5)));
  assert.ok(r.error);
});

test("stream.garbageAfterFrames: seeded random bytes or text instead of frames", async () => {
  const recorded = splitFrames(fixtureStreamBytes("pydantic-ai/test_bedrock_model_stream"));
  s.script({ stream: { garbageAfterFrames: { after: 2, bytes: 300, seed: 7 } } });
  const a = await send(await signed({ path: STREAM_PATH, body: CONVERSE_BODY }));
  s.script({ stream: { garbageAfterFrames: { after: 2, bytes: 300, seed: 7 } } });
  const b = await send(await signed({ path: STREAM_PATH, body: CONVERSE_BODY }));
  assert.equal(a.status, 200);
  assert.ok(!a.error, "the response ends normally");
  const head = Buffer.concat(recorded.slice(0, 2));
  assert.ok(a.body.subarray(0, head.length).equals(head));
  assert.equal(a.body.length, head.length + 300);
  assert.ok(a.body.equals(b.body), "same seed, same bytes");
  assert.throws(() => splitFrames(a.body));

  s.script({ stream: { garbageAfterFrames: { after: 0, text: "<html><body>502 Bad Gateway</body></html>" } } });
  const c = await send(await signed({ path: STREAM_PATH, body: CONVERSE_BODY }));
  assert.equal(c.body.toString(), "<html><body>502 Bad Gateway</body></html>");
});

test("stream.oversizedFrame: 2 MiB and 16 MiB frames, whole or as a prelude only", async () => {
  const recorded = splitFrames(fixtureStreamBytes("pydantic-ai/test_bedrock_model_stream"));
  s.script({ stream: { oversizedFrame: { after: 1, totalLength: 2 * 1024 * 1024 } } });
  let r = await send(await signed({ path: STREAM_PATH, body: CONVERSE_BODY }));
  let frames = splitFrames(r.body); // lengths and prelude CRCs check out
  assert.equal(frames.length, 2);
  assert.ok(frames[0].length === recorded[0].length);
  assert.equal(frames[1].length, 2 * 1024 * 1024);
  const big = codec.decode(frames[1]); // message CRC too
  assert.equal(big.headers[":event-type"].value, "contentBlockDelta");
  const payload = JSON.parse(Buffer.from(big.body).toString("utf8"));
  assert.ok(payload.delta.text.length > 2_000_000);

  s.script({ stream: { oversizedFrame: { after: 0, totalLength: 16 * 1024 * 1024 } } });
  r = await send(await signed({ path: STREAM_PATH, body: CONVERSE_BODY }));
  frames = splitFrames(r.body);
  assert.equal(frames.length, 1);
  assert.equal(frames[0].length, 16 * 1024 * 1024);

  s.script({ stream: { oversizedFrame: { after: 2, totalLength: 16 * 1024 * 1024, preludeOnly: true } } });
  r = await send(await signed({ path: STREAM_PATH, body: CONVERSE_BODY }));
  const head = Buffer.concat(recorded.slice(0, 2));
  assert.equal(r.body.length, head.length + 12);
  const prelude = r.body.subarray(head.length);
  assert.equal(prelude.readUInt32BE(0), 16 * 1024 * 1024);
  assert.ok(!r.error);

  s.script({ stream: { oversizedFrame: { after: 0, totalLength: 2 * 1024 * 1024, preludeOnly: true, then: "stall" } } });
  const got = await sendAndAbortAfter(await signed({ path: STREAM_PATH, body: CONVERSE_BODY }), 200);
  assert.equal(got.body.length, 12);
  assert.equal(s.requests().at(-1).streamEnd, "aborted");

  // invoke-with-response-stream: a `chunk` event
  const body = JSON.stringify({ anthropic_version: "bedrock-2023-05-31", max_tokens: 10, messages: [{ role: "user", content: "hi" }] });
  s.script({ stream: { oversizedFrame: { after: 1, totalLength: 2 * 1024 * 1024 } } });
  r = await send(await signed({ path: `/model/${MODEL_PATH}/invoke-with-response-stream`, body }));
  assert.equal(codec.decode(splitFrames(r.body)[1]).headers[":event-type"].value, "chunk");
});

test("statuses: 304, 204 and 600/999 through Node, 1xx and anything else as a raw status line", async () => {
  for (const status of [304, 204, 201]) {
    s.script({ status, json: { x: 1 } });
    const r = await send(await signed({ path: `/model/${MODEL_PATH}/converse`, body: CONVERSE_BODY }));
    assert.equal(r.status, status);
    assert.equal(r.body.length, status === 201 ? 7 : 0);
  }
  for (const status of [600, 999]) {
    s.script({ status });
    const r = await send(await signed({ path: `/model/${MODEL_PATH}/converse`, body: CONVERSE_BODY }));
    assert.equal(r.status, status);
    assert.ok(r.body.length > 0);
  }
  s.script({ status: 304 });
  const st = await send(await signed({ path: STREAM_PATH, body: CONVERSE_BODY }));
  assert.equal(st.status, 304);
  assert.equal(st.body.length, 0);

  for (const [status, reason] of [[150, "Weird"], [101, "Switching Protocols"], [1234, "Huge"], [999, "Max"]]) {
    s.script({ raw: true, status, reason, json: { message: "raw" } });
    const text = await sendRawSocket(await signed({ path: `/model/${MODEL_PATH}/converse`, body: CONVERSE_BODY }));
    assert.ok(text.startsWith(`HTTP/1.1 ${status} ${reason}\r\n`), text.slice(0, 40));
    assert.ok(text.endsWith('\r\n\r\n{"message":"raw"}'));
    assert.equal(s.requests().at(-1).rawStatus, status);
  }
});

test("drip: a JSON answer (or a stream) a few bytes at a time", async () => {
  s.script({ drip: { bytes: 16, everyMs: 2 } });
  const r = await send(await signed({ path: `/model/${MODEL_PATH}/converse`, body: CONVERSE_BODY }));
  assert.equal(r.status, 200);
  assert.equal(json(r).output.message.role, "assistant");
  assert.ok(r.chunks.length > 10 && r.chunks.every((c) => c.bytes.length <= 16));
  assert.ok(r.chunks.at(-1).at - r.chunks[0].at >= 10);
  assert.equal(s.requests()[0].streamEnd, "complete");

  s.script({ text: "drip drop", drip: { bytes: 1, everyMs: 0 } });
  const st = await send(await signed({ path: STREAM_PATH, body: CONVERSE_BODY }));
  assert.ok(st.chunks.length > 100 && st.chunks.every((c) => c.bytes.length === 1));
  s.script({ text: "drip drop" });
  const whole = await send(await signed({ path: STREAM_PATH, body: CONVERSE_BODY }));
  assert.ok(st.body.equals(whole.body));
});

test("5xx and throttling errors", async () => {
  const cases = [
    [{ status: 500 }, 500, "InternalServerException"],
    [{ status: 503, errorType: "ServiceUnavailableException" }, 503, "ServiceUnavailableException"],
    [{ status: 429, errorType: "ThrottlingException", message: "Too many requests" }, 429, "ThrottlingException"],
    [{ errorType: "ModelNotReadyException" }, 429, "ModelNotReadyException"],
  ];
  for (const [entry, status, type] of cases) {
    s.script(entry);
    const r = await send(await signed({ path: STREAM_PATH, body: CONVERSE_BODY }));
    assert.equal(r.status, status);
    assert.equal(errType(r), type);
  }
});
