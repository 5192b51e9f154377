// The wasm's size as the budget counts it (README, "Size"): what a service
// worker downloads and compiles on every cold wake-up. One measurement for
// the build's report and the packaging test's check, so the two agree;
// `gzip -9` from the shell differs from zlib by over a kilobyte.
import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { fileURLToPath } from 'node:url';

export const WASM_GZIP_BUDGET = 150_000;
export const WASM_PATH = fileURLToPath(new URL('../pkg/ferry_sync_bg.wasm', import.meta.url));

export function wasmSize(path = WASM_PATH) {
  const wasm = readFileSync(path);
  return { raw: wasm.length, gzip: gzipSync(wasm, { level: 9 }).length };
}

export function describeSize({ raw, gzip }) {
  const over = gzip > WASM_GZIP_BUDGET ? ', OVER' : '';
  return `pkg/ferry_sync_bg.wasm: ${raw} bytes raw, ${gzip} bytes gzip (budget ${WASM_GZIP_BUDGET}${over})`;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  console.log(`[build] ${describeSize(wasmSize())}`);
}
