// Shared by the node:test suites: the built package, libsodium, and a seeded
// PRNG so a failing random case can be replayed with FERRY_TEST_SEED.
import sodium from 'libsodium-wrappers';
import init, * as ferry from '../../pkg/index.js';

await sodium.ready;
await init();

export { ferry, sodium };
export const CHUNK = 4 * 1024 * 1024;

export const seed = Number(process.env.FERRY_TEST_SEED ?? Date.now() % 2 ** 31);
console.log(`# FERRY_TEST_SEED=${seed}`);

// mulberry32: small, fast, good enough to pick sizes and fill buffers.
export function rng(s = seed) {
  let a = s >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

export function randomBytes(length, next) {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i += 4) {
    const word = (next() * 2 ** 32) >>> 0;
    for (let j = 0; j < 4 && i + j < length; j++) out[i + j] = (word >>> (8 * j)) & 0xff;
  }
  return out;
}

export function equalBytes(a, b) {
  return a.length === b.length && Buffer.compare(Buffer.from(a), Buffer.from(b)) === 0;
}
