// Drops the "name" custom section from a wasm module, in place: node scripts/strip-wasm-names.mjs FILE
// worker-build always runs wasm-opt with --debuginfo, which keeps the section (function names for stack
// traces, ~18% of the gzipped module); nothing at run time reads it. Every other section is copied byte
// for byte.
import { readFileSync, writeFileSync } from "node:fs";

const file = process.argv[2];
const wasm = readFileSync(file);
if (wasm.readUInt32BE(0) !== 0x0061736d) throw new Error(`${file} is not a wasm module`);

function leb(at) {
  let value = 0;
  let shift = 0;
  for (;;) {
    const byte = wasm[at++];
    value += (byte & 0x7f) * 2 ** shift;
    shift += 7;
    if (byte < 0x80) return [value, at];
  }
}

const kept = [wasm.subarray(0, 8)];
let at = 8;
while (at < wasm.length) {
  const start = at;
  const [size, body] = leb(at + 1);
  at = body + size;
  if (wasm[start] === 0) {
    const [nameLength, name] = leb(body);
    if (wasm.toString("utf8", name, name + nameLength) === "name") continue;
  }
  kept.push(wasm.subarray(start, at));
}
if (at !== wasm.length) throw new Error(`${file}: a section runs past the end`);
writeFileSync(file, Buffer.concat(kept));
