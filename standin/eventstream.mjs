// AWS binary event stream (application/vnd.amazon.eventstream): frame encoding, decoding and the
// fault-injecting writer used by the stand-in.
//
// A frame: [total_len u32 BE][headers_len u32 BE][prelude crc32][headers][payload][message crc32].
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

/**
 * Applies the frame-level faults of a `stream` script entry to a list of frames.
 * Returns {frames, dropAfter} where dropAfter is the frame count after which the socket is destroyed.
 */
export function applyFrameFaults(frames, opts = {}) {
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
  if (Number.isInteger(opts.dropAfterFrames)) {
    dropAfter = Math.max(0, Math.min(opts.dropAfterFrames, out.length));
    out = out.slice(0, dropAfter);
  }
  return { frames: out, dropAfter };
}

/**
 * Writes frames to an http.ServerResponse as separate socket writes.
 * - default: one write per frame, `pauseMs` (real timer) between frames;
 * - `splitAt` (byte offsets into the whole stream) and/or `chunkSize`: the concatenated bytes are cut at
 *   those offsets only (pieces may straddle frame boundaries), with `pauseMs` (default 5 ms) between pieces.
 * Calls onFrameSent(index, ms) when the last byte of each frame has been written.
 * If dropAfter is set, destroys the socket after the writes instead of ending the response.
 */
export async function writeFrames(res, frames, opts = {}, onFrameSent = () => {}, dropAfter = null) {
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
  for (let i = 0; i + 1 < points.length; i++) {
    if (res.destroyed || res.socket?.destroyed) return false;
    if (i > 0) await (pause > 0 ? sleep(pause) : tick());
    const piece = all.subarray(points[i], points[i + 1]);
    if (piece.length === 0) continue;
    res.write(piece);
    const now = Date.now();
    while (nextFrame < ends.length && ends[nextFrame] <= points[i + 1]) onFrameSent(nextFrame++, now);
  }
  if (dropAfter !== null) {
    await tick();
    await sleep(10); // let the bytes reach the kernel before the reset
    res.socket?.destroy();
    return false;
  }
  res.end();
  return true;
}
