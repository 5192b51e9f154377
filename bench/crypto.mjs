// Secretstream encryption throughput: Ferry (wasm) against libsodium-wrappers
// in the same Node process, 4 MiB chunks, with WebCrypto AES-256-GCM (native
// code, hardware AES) as the reference line. Prints MB/s and ratios.
import sodium from 'libsodium-wrappers';
import init, * as ferry from '../pkg/index.js';

await sodium.ready;
await init();

const CHUNK = 4 * 1024 * 1024;
const TOTAL_MIB = Number(process.env.FERRY_BENCH_MIB ?? 256);
const CHUNKS = TOTAL_MIB / 4;
const ROUNDS = 3;
const data = new Uint8Array(CHUNK);
for (let i = 0; i < CHUNK; i += 65536) crypto.getRandomValues(data.subarray(i, i + 65536));

async function measure(name, run) {
  await run(2); // warm-up: JIT, wasm tier-up, allocator
  let best = Infinity;
  for (let r = 0; r < ROUNDS; r++) {
    const start = performance.now();
    await run(CHUNKS);
    best = Math.min(best, performance.now() - start);
  }
  const mbps = (CHUNKS * CHUNK) / 1e6 / (best / 1000);
  return { name, mbps };
}

const ferryResult = await measure('ferry-sync FileEncryptor (wasm)', async (n) => {
  const enc = new ferry.FileEncryptor(ferry.generateKey());
  for (let i = 0; i < n; i++) enc.push(data, i === n - 1);
  enc.free();
});

const sodiumResult = await measure('libsodium-wrappers secretstream', async (n) => {
  const key = sodium.crypto_secretstream_xchacha20poly1305_keygen();
  const { state } = sodium.crypto_secretstream_xchacha20poly1305_init_push(key);
  for (let i = 0; i < n; i++) {
    sodium.crypto_secretstream_xchacha20poly1305_push(state, data, null,
      i === n - 1 ? sodium.crypto_secretstream_xchacha20poly1305_TAG_FINAL : 0);
  }
});

const aesKey = await crypto.subtle.generateKey({ name: 'AES-GCM', length: 256 }, false, ['encrypt']);
const aesResult = await measure('WebCrypto AES-256-GCM (native reference)', async (n) => {
  for (let i = 0; i < n; i++) {
    await crypto.subtle.encrypt({ name: 'AES-GCM', iv: crypto.getRandomValues(new Uint8Array(12)) }, aesKey, data);
  }
});

console.log(`\nSecretstream encryption, ${TOTAL_MIB} MiB in 4 MiB chunks, best of ${ROUNDS}, Node ${process.version}`);
console.log('| implementation | MB/s | vs libsodium-wrappers |');
console.log('|---|---:|---:|');
for (const r of [ferryResult, sodiumResult, aesResult]) {
  console.log(`| ${r.name} | ${r.mbps.toFixed(0)} | ${(r.mbps / sodiumResult.mbps).toFixed(2)}× |`);
}
