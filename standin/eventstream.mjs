// AWS binary event stream (application/vnd.amazon.eventstream): frame encoding, decoding and the
// fault-injecting writer used by the stand-in.
//
// A frame: [total_len u32 BE][headers_len u32 BE][prelude crc32][headers][payload][message crc32].
import zlib from "node:zlib";
import { EventStreamCodec } from "@smithy/eventstream-codec";
import { fromUtf8, toUtf8 } from "@smithy/util-utf8";

export const codec = new EventStreamCodec(toUtf8, fromUtf8);

const str = (value) => ({ type: "string", value: String(value) });
const enc = (headers, body) => codec.encode({ headers, body });

/** An `event` frame with a JSON payload (what ConverseStream / InvokeModelWithResponseStream send). */
export function encodeEvent(eventType, payload) {
  const body = payload instanceof Uint8Array ? payload : fromUtf8(JSON.stringify(payload ?? {}));
  return enc(
    { ":event-type": str(eventType), ":content-type": str("application/json"), ":message-type": str("event") },
    body,
  );
}

/** An `exception` frame, e.g. encodeException("throttlingException", "Too many requests"). */
export function encodeException(exceptionType, message) {
  return enc(
    { ":exception-type": str(exceptionType), ":content-type": str("application/json"), ":message-type": str("exception") },
    fromUtf8(JSON.stringify({ message: message ?? "" })),
  );
}

/** An `error` frame (`:error-code` / `:error-message` headers, empty payload). */
export function encodeError(code, message) {
  return enc(
    { ":error-code": str(code), ":error-message": str(message ?? ""), ":message-type": str("error") },
    new Uint8Array(0),
  );
}

/** An InvokeModelWithResponseStream `chunk` frame carrying one provider-native (Anthropic) event. */
export function encodeChunk(inner) {
  const bytes = Buffer.from(JSON.stringify(inner), "utf8").toString("base64");
  return encodeEvent("chunk", { bytes });
}

let crcTable;
export function crc32(bytes) {
  if (!crcTable) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let crc = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) crc = crcTable[(crc ^ bytes[i]) & 0xff] ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

/** True when `bytes` is a whole sequence of well-formed frames (lengths and prelude CRCs check out). */
export function looksLikeEventStream(bytes) {
  if (!bytes || bytes.length < 16) return false;
  try {
    return splitFrames(bytes).length > 0;
  } catch {
    return false;
  }
}

/** Cuts a byte sequence into frames by their length prefixes; throws on a malformed prelude. */
export function splitFrames(bytes) {
  const buf = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const frames = [];
  let off = 0;
  while (off < buf.length) {
    if (buf.length - off < 16) throw new Error(`truncated frame at byte ${off}`);
    const total = view.getUint32(off, false);
    const headersLen = view.getUint32(off + 4, false);
    const preludeCrc = view.getUint32(off + 8, false);
    if (total < 16 || off + total > buf.length || headersLen > total - 16) {
      throw new Error(`bad frame length at byte ${off}`);
    }
    if (crc32(buf.subarray(off, off + 8)) !== preludeCrc) throw new Error(`bad prelude crc at byte ${off}`);
    frames.push(buf.subarray(off, off + total));
    off += total;
  }
  return frames;
}

/** Decodes every frame: [{headers: {name: value}, payload: Uint8Array, json: parsed payload or null}]. */
export function decodeFrames(bytes) {
  return splitFrames(bytes).map((frame) => {
    const msg = codec.decode(frame);
    const headers = {};
    for (const [k, v] of Object.entries(msg.headers)) headers[k] = v.value;
    let json = null;
    try {
      json = msg.body.length ? JSON.parse(toUtf8(msg.body)) : null;
    } catch {
      json = null;
    }
    return { headers, payload: msg.body, json };
  });
}

/** A copy of the frame with its trailing message CRC flipped. */
export function corruptMessageCrc(frame) {
  const out = Uint8Array.from(frame);
  for (let i = out.length - 4; i < out.length; i++) out[i] ^= 0xff;
  return out;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const tick = () => new Promise((r) => setImmediate(r));

/** CRC32 (zlib's when Node has it: oversized frames are megabytes). */
const fastCrc = (bytes) => (typeof zlib.crc32 === "function" ? zlib.crc32(bytes) >>> 0 : crc32(bytes));

/**
 * An `event` frame of exactly `totalLength` bytes (prelude, headers and CRCs valid), its payload JSON
 * padded with "x" text: `{"contentBlockIndex":0,"delta":{"text":"xxxx..."}}` (converse-stream) or a
 * `chunk` whose payload is `{"bytes":"...","p":"xxxx..."}`. Built by hand: the codec refuses > 16 MiB.
 */
export function encodeOversizedEvent(totalLength, eventType = "contentBlockDelta") {
  const headers = Buffer.concat(
    [
      [":event-type", eventType],
      [":content-type", "application/json"],
      [":message-type", "event"],
    ].map(([name, value]) => {
      const n = Buffer.from(name);
      const v = Buffer.from(value);
      const h = Buffer.alloc(1 + n.length + 1 + 2 + v.length);
      h[0] = n.length;
      n.copy(h, 1);
      h[1 + n.length] = 7; // string
      h.writeUInt16BE(v.length, 2 + n.length);
      v.copy(h, 4 + n.length);
      return h;
    }),
  );
  const head = eventType === "chunk" ? '{"bytes":"","p":"' : '{"contentBlockIndex":0,"delta":{"text":"';
  const tail = eventType === "chunk" ? '"}' : '"}}';
  const payloadLen = totalLength - 12 - headers.length - 4;
  const pad = payloadLen - head.length - tail.length;
  if (pad < 0) throw new Error(`oversized frame of ${totalLength} bytes is too small`);
  const out = Buffer.alloc(totalLength, 0x78); // "x"
  out.writeUInt32BE(totalLength, 0);
  out.writeUInt32BE(headers.length, 4);
  out.writeUInt32BE(fastCrc(out.subarray(0, 8)), 8);
  headers.copy(out, 12);
  out.write(head, 12 + headers.length, "latin1");
  out.write(tail, totalLength - 4 - tail.length, "latin1");
  out.writeUInt32BE(fastCrc(out.subarray(0, totalLength - 4)), totalLength - 4);
  return out;
}

/** Only the 12-byte prelude of a frame announcing `totalLength` bytes (valid prelude CRC). */
export function encodePrelude(totalLength, headersLength = 0) {
  const out = Buffer.alloc(12);
  out.writeUInt32BE(totalLength >>> 0, 0);
  out.writeUInt32BE(headersLength >>> 0, 4);
  out.writeUInt32BE(crc32(out.subarray(0, 8)), 8);
  return out;
}

/** Deterministic pseudo-random bytes (mulberry32), or the UTF-8 of `text`. */
export function garbageBytes({ bytes = 256, seed = 1, text } = {}) {
  if (typeof text === "string") return Buffer.from(text, "utf8");
  const out = Buffer.alloc(bytes);
  let a = seed >>> 0;
  for (let i = 0; i < bytes; i++) {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = ((t ^ (t >>> 14)) >>> 0) & 0xff;
  }
  return out;
}

/**
 * Applies the frame-level faults of a `stream` script entry to a list of frames.
 * Returns {frames, dropAfter, stall} where dropAfter is the frame count after which the socket is
 * destroyed and stall ({after, ms}; ms null = until the client goes away) a pause after that many frames.
 * Order: exceptionAfterFrames, exceptionBefore, corruptCrcAtFrame, oversizedFrame, garbageAfterFrames,
 * dropMidFrame, dropAfterFrames; stallAfterFrames counts frames of the result.
 */
export function applyFrameFaults(frames, opts = {}, eventType = "contentBlockDelta") {
  let out = frames.slice();
  if (opts.exceptionAfterFrames) {
    const { after = 0, type = "internalServerException", message = "Injected stream failure" } = opts.exceptionAfterFrames;
    out = out.slice(0, after).concat([encodeException(type, message)]);
  }
  if (opts.exceptionBefore) {
    const { type = "internalServerException", message = "Injected stream failure" } = opts.exceptionBefore;
    out = [encodeException(type, message)].concat(out);
  }
  if (Number.isInteger(opts.corruptCrcAtFrame) && out[opts.corruptCrcAtFrame]) {
    out[opts.corruptCrcAtFrame] = corruptMessageCrc(out[opts.corruptCrcAtFrame]);
  }
  let dropAfter = null;
  let stall = null;
  const at = (n) => Math.max(0, Math.min(Number.isInteger(n) ? n : 0, out.length));
  if (opts.oversizedFrame) {
    // {after, totalLength, preludeOnly, then: "end" | "stall" | "drop"}: a frame announcing totalLength
    // bytes after `after` frames, sent whole or as its 12-byte prelude only; nothing follows it.
    const o = opts.oversizedFrame;
    const n = at(o.after);
    const total = o.totalLength ?? 16 * 1024 * 1024;
    const big = o.preludeOnly ? encodePrelude(total, 80) : encodeOversizedEvent(total, eventType);
    out = out.slice(0, n).concat([big]);
    if (o.then === "stall") stall = { after: out.length, ms: null };
    if (o.then === "drop") dropAfter = out.length;
  }
  if (opts.garbageAfterFrames) {
    // {after, bytes, seed, text, then}: garbage instead of the frames from `after` on.
    const g = opts.garbageAfterFrames;
    const n = at(g.after);
    out = out.slice(0, n).concat([garbageBytes(g)]);
    if (g.then === "stall") stall = { after: out.length, ms: null };
    if (g.then === "drop") dropAfter = out.length;
  }
  if (opts.dropMidFrame !== undefined && opts.dropMidFrame !== null && out.length) {
    // n or {frame: n, bytes}: frames before n whole, then the first `bytes` (default half) of frame n, then a reset.
    const d = typeof opts.dropMidFrame === "object" ? opts.dropMidFrame : { frame: opts.dropMidFrame };
    const n = Math.min(at(d.frame), out.length - 1);
    const f = out[n];
    const keep = Math.max(1, Math.min(f.length - 1, d.bytes ?? Math.floor(f.length / 2)));
    out = out.slice(0, n).concat([f.subarray(0, keep)]);
    dropAfter = out.length;
  }
  if (Number.isInteger(opts.dropAfterFrames)) {
    dropAfter = Math.max(0, Math.min(opts.dropAfterFrames, out.length));
    out = out.slice(0, dropAfter);
  }
  if (opts.stallAfterFrames) {
    // {after, ms}: the writer stops for ms (null / absent = until the client goes away) after `after` frames.
    const st = opts.stallAfterFrames;
    stall = { after: at(st.after), ms: Number.isFinite(st.ms) ? st.ms : null };
  }
  return { frames: out, dropAfter, stall };
}

/** Resolves after ms, or when the response's connection closes (ms null: only then). True if still open. */
export async function stallFor(res, ms) {
  if (res.destroyed || res.socket?.destroyed) return false;
  await new Promise((resolve) => {
    let timer = null;
    const done = () => {
      if (timer) clearTimeout(timer);
      res.off("close", done);
      resolve();
    };
    res.once("close", done);
    if (ms !== null && ms !== undefined) timer = setTimeout(done, ms);
  });
  return !(res.destroyed || res.socket?.destroyed || res.writableEnded);
}

/**
 * Writes frames to an http.ServerResponse as separate socket writes.
 * - default: one write per frame, `pauseMs` (real timer) between frames;
 * - `splitAt` (byte offsets into the whole stream) and/or `chunkSize`: the concatenated bytes are cut at
 *   those offsets only (pieces may straddle frame boundaries), with `pauseMs` (default 5 ms) between pieces.
 * Calls onFrameSent(index, ms) when the last byte of each frame has been written.
 * If dropAfter is set, destroys the socket after the writes instead of ending the response.
 * If stall ({after, ms}) is set, pauses once after `after` frames are written (ms null: until the client
 * goes away; then returns false). onStall(ms) is called when the pause begins.
 */
/** Writes a planned answer's frames with their faults (writeFrames), noting on `record` when each frame
 * went out, what was planned, a stall, and how the stream ended (complete, dropped, aborted). The
 * headers must have been written. */
export async function sendPlanned(res, record, out, s, dropAfter, stall) {
  record.framesSentAt = [];
  record.sentAt = record.framesSentAt;
  record.framesPlanned = out.length;
  if (dropAfter !== null) record.dropPlanned = true;
  const onStall = (t) => {
    record.stalled = "mid-stream";
    record.stalledAt = t;
  };
  const done = await writeFrames(res, out, s, (_i, t) => record.framesSentAt.push(t), dropAfter, stall, onStall);
  record.streamEnd = done ? "complete" : dropAfter !== null ? "dropped" : "aborted";
}

export async function writeFrames(res, frames, opts = {}, onFrameSent = () => {}, dropAfter = null, stall = null, onStall = () => {}) {
  const ends = [];
  let total = 0;
  for (const f of frames) ends.push((total += f.length));
  const all = Buffer.concat(frames.map((f) => Buffer.from(f.buffer, f.byteOffset, f.length)));
  const cuts = new Set();
  const splitting = (Array.isArray(opts.splitAt) && opts.splitAt.length) || opts.chunkSize > 0;
  if (splitting) {
    for (const c of opts.splitAt ?? []) if (c > 0 && c < total) cuts.add(c);
    if (opts.chunkSize > 0) for (let c = opts.chunkSize; c < total; c += opts.chunkSize) cuts.add(c);
  } else {
    for (const e of ends) if (e < total) cuts.add(e);
  }
  const points = [0, ...[...cuts].sort((a, b) => a - b), total];
  const pause = opts.pauseMs ?? (splitting ? 5 : 0);
  let nextFrame = 0;
  let stalled = false;
  const maybeStall = async () => {
    if (stalled || !stall || nextFrame < stall.after) return true;
    stalled = true;
    onStall(Date.now());
    return stallFor(res, stall.ms);
  };
  for (let i = 0; i + 1 < points.length; i++) {
    if (res.destroyed || res.socket?.destroyed) return false;
    if (i > 0) await (pause > 0 ? sleep(pause) : tick());
    if (!(await maybeStall())) return false;
    const piece = all.subarray(points[i], points[i + 1]);
    if (piece.length === 0) continue;
    res.write(piece);
    const now = Date.now();
    while (nextFrame < ends.length && ends[nextFrame] <= points[i + 1]) onFrameSent(nextFrame++, now);
  }
  if (stall && !stalled && !(await maybeStall())) return false;
  if (dropAfter !== null) {
    await tick();
    await sleep(10); // let the bytes reach the kernel before the reset
    res.socket?.destroy();
    return false;
  }
  res.end();
  return true;
}
