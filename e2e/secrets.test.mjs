// No secret (secret keys, session token, a SigV4 signature) in any Worker log line or any answer,
// across successes, auth failures, Bedrock errors, stream faults and bad input. No panics either.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startGateway, longTermHeaders, temporaryHeaders, rawChat, secretLeaks, standinRecord, WRONG_SECRET, TEST_CREDENTIALS } from "./harness.mjs";

const MODEL = "us.anthropic.claude-3-7-sonnet-20250219-v1:0";
const USER = [{ role: "user", content: "hi" }];
let gw;
before(async () => {
  gw = await startGateway({ slugs: { demo: true } });
  // A record with a session token that the stand-in will reject: its error must not echo it.
  await gw.seedProvider("temp", standinRecord(gw.standin.url, {
    auth: { type: "access_key", access_key_id: TEST_CREDENTIALS.temporary.accessKeyId, secret_access_key: TEST_CREDENTIALS.temporary.secretAccessKey, session_token: TEST_CREDENTIALS.temporary.sessionToken },
  }));
  await gw.seedProvider("broken", '{"schema":1,"provider":"bedrock","aws_region":"us-east-1","auth":{"type":"access_key","access_key_id":"AKIDEDGEPORTTEST1","secret_access_key":"edgeport/test/secret/key/ONE+1234567890abc"},"custom_host":42}');
});
after(async () => {
  await gw?.close();
});

test("exercise every path with secrets in flight", async () => {
  const port = new URL(gw.standin.url).port;
  const cases = [
    [{ model: MODEL, messages: USER }, longTermHeaders(gw)],
    [{ model: MODEL, messages: USER, stream: true }, longTermHeaders(gw)],
    [{ model: MODEL, messages: USER }, temporaryHeaders(gw)],
    [{ model: MODEL, messages: USER, stream: true }, temporaryHeaders(gw)],
    [{ model: MODEL, messages: USER }, longTermHeaders(gw, { "x-portkey-aws-secret-access-key": WRONG_SECRET })],
    [{ model: MODEL, messages: USER, stream: true }, longTermHeaders(gw, { "x-portkey-aws-secret-access-key": WRONG_SECRET })],
    [{ model: MODEL, messages: USER }, longTermHeaders(gw, { "x-portkey-aws-session-token": TEST_CREDENTIALS.temporary.sessionToken })],
    [{ model: MODEL, messages: USER }, { "x-portkey-provider": "@temp" }],
    [{ model: MODEL, messages: USER }, { "x-portkey-provider": "@broken" }],
    [{ model: MODEL, messages: USER }, { "x-portkey-provider": "@demo", "x-portkey-custom-host": `http://localhost:${port}` }],
    [{ model: MODEL, messages: USER }, longTermHeaders(gw, { "x-portkey-custom-host": "http://127.0.0.1:9" })],
    [{ model: MODEL, messages: USER }, longTermHeaders(gw, { "x-portkey-custom-host": "not a url" })],
    [{ model: MODEL, messages: USER }, longTermHeaders(gw, { "x-portkey-aws-region": "../../evil" })],
    ["{bad json " + TEST_CREDENTIALS.longTerm.secretAccessKey, {}],
    [{ model: MODEL }, longTermHeaders(gw)],
    [{ model: MODEL, messages: USER, n: 3 }, longTermHeaders(gw)],
  ];
  for (const [body, headers] of cases) {
    const res = await rawChat(gw, body, headers);
    assert.ok(res.status < 600);
  }
  // Bedrock errors and stream faults.
  const s = gw.standin;
  const scripted = [
    { status: 429, errorType: "ThrottlingException", message: "slow" },
    { match: { operation: "converse-stream" }, stream: { exceptionBefore: { type: "throttlingException", message: "slow" } } },
    { match: { operation: "converse-stream" }, stream: { exceptionAfterFrames: { after: 4, type: "internalServerException", message: "x" } } },
    { match: { operation: "converse-stream" }, stream: { corruptCrcAtFrame: 3 } },
    { match: { operation: "converse-stream" }, stream: { dropAfterFrames: 3 } },
  ];
  for (const entry of scripted) {
    s.script(entry);
    await rawChat(gw, { model: MODEL, messages: USER, stream: !!entry.match }, longTermHeaders(gw));
  }
  assert.ok(gw.logs.length >= cases.length);
});

test("no secret and no 'Signature=' in any log line or response body", () => {
  assert.deepEqual(secretLeaks(gw), []);
});

test("no panic in the Worker's logs", () => {
  const bad = gw.logs.filter((l) => /panicked|RuntimeError|unreachable|Critical/i.test(l));
  assert.deepEqual(bad, []);
});
