// The package entry. scripts/build.sh copies this file to pkg/index.js and
// fills in the path of the FerryError module that wasm-bindgen emitted, so
// that the class users import is the very one Rust instantiates.
import initWasm from './ferry_sync.js';

export * from './ferry_sync.js';
export { FerryError } from '__FERRY_ERROR_MODULE__';

/**
 * Loads and instantiates the WebAssembly module. With no argument it finds
 * `ferry_sync_bg.wasm` next to this file: by `fetch` in browsers and workers,
 * from disk in Node (whose `fetch` cannot read `file:` URLs).
 */
export default async function init(input) {
  return initWasm({ module_or_path: input ?? (await defaultWasmSource()) });
}

async function defaultWasmSource() {
  const url = new URL('./ferry_sync_bg.wasm', import.meta.url);
  if (url.protocol !== 'file:') return url;
  const fs =
    globalThis.process?.getBuiltinModule?.('node:fs') ??
    (await import(/* @vite-ignore */ ['node', 'fs'].join(':')));
  return fs.readFileSync(url);
}
