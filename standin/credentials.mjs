// The credentials the stand-in knows from the start. Anything else is rejected as
// UnrecognizedClientException, except credentials the stand-in's own STS AssumeRole issued.
export const TEST_CREDENTIALS = Object.freeze({
  /** Long-term access key, no session token. */
  longTerm: Object.freeze({
    accessKeyId: "AKIDEDGEPORTTEST1",
    secretAccessKey: "edgeport/test/secret/key/ONE+1234567890abc",
  }),
  /** Temporary access key: the session token is required (x-amz-security-token). */
  temporary: Object.freeze({
    accessKeyId: "ASIAEDGEPORTTEMP1",
    secretAccessKey: "edgeport/temp/secret/TWO+abcdefghijklmnop",
    sessionToken: "EDGEPORTSESSIONTOKEN//example+token==",
  }),
  /** Bedrock API key: `Authorization: Bearer <apiKey>`, no SigV4. */
  apiKey: "bedrock-api-key-EDGEPORT-TEST-abc123",
});

/** Also as a plain list of the SigV4 key pairs. */
export const TEST_KEYS = Object.freeze([TEST_CREDENTIALS.longTerm, TEST_CREDENTIALS.temporary]);
export const TEST_API_KEY = TEST_CREDENTIALS.apiKey;

// ---------------------------------------------------------------- OpenAI (/v1/chat/completions)
// `Authorization: Bearer <key>` with one of these keys; anything else → 401 invalid_api_key.
// Two valid keys so a test can tell which catalog record / header the gateway used (the request
// record names the key: record.openai.key = "valid" | "other").
export const OPENAI_TEST_KEYS = Object.freeze({
  valid: "sk-standin-openai-test-0001",
  other: "sk-standin-openai-test-0002",
});
/** `OpenAI-Organization` / `OpenAI-Project` are optional; when sent they must be these (else 401 mismatched_*). */
export const OPENAI_TEST_ORGANIZATION = "org-standin-test-0001";
export const OPENAI_TEST_PROJECT = "proj_standin_test_0001";
