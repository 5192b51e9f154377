export * from './ferry_sync.js';
import type { FerryErrorCode, InitInput, InitOutput } from './ferry_sync.js';

/**
 * Loads the WebAssembly module; call once before anything else. With no
 * argument it loads `ferry_sync_bg.wasm` beside this file (fetch in browsers
 * and workers, the file system in Node).
 */
export default function init(input?: InitInput | Promise<InitInput>): Promise<InitOutput>;

/** Every error Ferry throws. Branch on `code`; messages may change. */
export declare class FerryError extends Error {
  readonly name: 'FerryError';
  readonly code: FerryErrorCode;
  /**
   * With `STORAGE_FULL` from `enqueue`: how many of the items, from the first, the storage left held
   * when it was measured (the browser takes back the refused batch's space a moment later).
   */
  readonly fits?: number;
}
