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
