// bench/perf.mjs only: an upstream stand-in that answers as fast as loopback allows. No SigV4 check,
// no request parsing beyond draining the body: POST …/converse → a canned Converse JSON answer;
// POST …/converse-stream → a recorded ConverseStream body (application/vnd.amazon.eventstream), the
// 33-event one on the json and stream33 servers, the 219-event one (a recorded thinking answer) on the
// stream219 server. Separate from standin/ (the faithful, verifying stand-in of the tests).
import http from "node:http";
import { readFileSync, existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const SHARED = process.env.BENCH_STREAMS ?? "/work/shared/bench";

/** Events in each recorded stream (the `data:` lines a gateway sends for them differ by gateway). */
export const STREAM_EVENTS = { stream33: 33, stream219: 219 };

function recorded(n) {
  for (const dir of [path.join(HERE, "streams"), SHARED]) {
    const f = path.join(dir, `converse-stream-${n}-events.b64`);
    if (existsSync(f)) return Buffer.from(readFileSync(f, "utf8").trim(), "base64");
  }
  throw new Error(`converse-stream-${n}-events.b64 not found in bench/streams or ${SHARED}`);
}

const CONVERSE = Buffer.from(
  JSON.stringify({
    metrics: { latencyMs: 312 },
    output: { message: { content: [{ text: "The capital of France is Paris." }], role: "assistant" } },
    stopReason: "end_turn",
    usage: { inputTokens: 14, outputTokens: 8, totalTokens: 22 },
  }),
);

function server(stream) {
  const s = http.createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      if (req.url.endsWith("/converse-stream")) {
        res.writeHead(200, { "content-type": "application/vnd.amazon.eventstream", "content-length": stream.length, "x-amzn-requestid": "bench" });
        res.end(stream);
      } else {
        res.writeHead(200, { "content-type": "application/json", "content-length": CONVERSE.length, "x-amzn-requestid": "bench" });
        res.end(CONVERSE);
      }
    });
  });
  s.keepAliveTimeout = 60_000;
  return new Promise((resolve) => s.listen(0, "127.0.0.1", () => resolve(s)));
}

export async function startUpstream() {
  const s33 = recorded(33);
  const s219 = recorded(219);
  const servers = await Promise.all([server(s33), server(s33), server(s219)]);
  const url = (s) => `http://127.0.0.1:${s.address().port}`;
  return {
    json: url(servers[0]),
    stream33: url(servers[1]),
    stream219: url(servers[2]),
    close: () => Promise.all(servers.map((s) => new Promise((r) => { s.closeAllConnections(); s.close(r); }))),
  };
}
