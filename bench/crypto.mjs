// Crypto throughput: Ferry (wasm) against libsodium-wrappers, each pair
// measured in one process, alternating round by round so that load on the
// machine falls on both alike. Secretstream encryption and decryption (4 MiB
// chunks) and BLAKE2b-512 (4 MiB updates), first in Node, then in headless
// Chromium with both libraries loaded in the same page. WebCrypto
// AES-256-GCM (native code, hardware AES) is a reference line.
//
// FERRY_BENCH_MIB (default 256) sets the bytes per measurement,
// FERRY_BENCH_ROUNDS (default 9) the rounds (the best counts), and
// FERRY_BENCH_BROWSER=0 skips Chromium.
import sodium from 'libsodium-wrappers';
import init, * as ferry from '../pkg/index.js';
import { serveRepo, launchChromium } from '../tests/js/browser.mjs';

const MIB = Number(process.env.FERRY_BENCH_MIB ?? 256);
const ROUNDS = Number(process.env.FERRY_BENCH_ROUNDS ?? 9);
const BROWSER = process.env.FERRY_BENCH_BROWSER !== '0';

// Self-contained (its source is evaluated in the page too): uses only its
// arguments and globals every runtime has. In Node it times with the
// process's CPU time, which other work on a busy machine does not inflate;
// a page has only the wall clock.
async function measureAll({ ferry, sodium, mib, rounds }) {
  const cpu = typeof process !== 'undefined' && typeof process.cpuUsage === 'function';
  const now = cpu
    ? () => { const { user, system } = process.cpuUsage(); return (user + system) / 1000; }
    : () => performance.now();
  const CHUNK = 4 * 1024 * 1024;
  const n = Math.max(1, Math.floor(mib / 4));
  const data = new Uint8Array(CHUNK);
  for (let i = 0; i < CHUNK; i += 65536) crypto.getRandomValues(data.subarray(i, i + 65536));
  const TAG_FINAL = sodium.crypto_secretstream_xchacha20poly1305_TAG_FINAL;
  const equal = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);

  // The ciphertext both decrypt: libsodium's, n chunks of one stream.
  const streamKey = sodium.crypto_secretstream_xchacha20poly1305_keygen();
  const pushed = sodium.crypto_secretstream_xchacha20poly1305_init_push(streamKey);
  const chunks = [];
  for (let i = 0; i < n; i++) {
    chunks.push(sodium.crypto_secretstream_xchacha20poly1305_push(pushed.state, data, null, i === n - 1 ? TAG_FINAL : 0));
  }

  const cases = {
    'secretstream encrypt': {
      ferry(count) {
        const enc = new ferry.FileEncryptor(ferry.generateKey());
        for (let i = 0; i < count; i++) enc.push(data, i === count - 1);
        enc.free();
      },
      sodium(count) {
        const key = sodium.crypto_secretstream_xchacha20poly1305_keygen();
        const { state } = sodium.crypto_secretstream_xchacha20poly1305_init_push(key);
        for (let i = 0; i < count; i++) {
          sodium.crypto_secretstream_xchacha20poly1305_push(state, data, null, i === count - 1 ? TAG_FINAL : 0);
        }
      },
    },
    'secretstream decrypt': {
      ferry(count) {
        const dec = new ferry.FileDecryptor(streamKey, pushed.header);
        for (let i = 0; i < count; i++) dec.pull(chunks[i]);
        dec.free();
      },
      sodium(count) {
        const state = sodium.crypto_secretstream_xchacha20poly1305_init_pull(pushed.header, streamKey);
        for (let i = 0; i < count; i++) {
          if (!sodium.crypto_secretstream_xchacha20poly1305_pull(state, chunks[i], null)) throw new Error('libsodium refused its own chunk');
        }
      },
    },
    'BLAKE2b-512': {
      ferry(count) {
        const h = new ferry.Blake2b512();
        for (let i = 0; i < count; i++) h.update(data);
        const digest = h.finalize();
        h.free();
        return digest;
      },
      sodium(count) {
        const state = sodium.crypto_generichash_init(null, 64);
        for (let i = 0; i < count; i++) sodium.crypto_generichash_update(state, data);
        return sodium.crypto_generichash_final(state, 64);
      },
    },
  };

  // Not a test, but a broken implementation must not be timed as a fast one.
  if (!equal(cases['BLAKE2b-512'].ferry(2), cases['BLAKE2b-512'].sodium(2))) throw new Error('the BLAKE2b digests differ');
  const probe = new ferry.FileDecryptor(streamKey, pushed.header);
  if (!equal(probe.pull(chunks[0]).data, data)) throw new Error('Ferry does not decrypt libsodium\'s chunk');
  probe.free();

  const results = [];
  for (const [name, impls] of Object.entries(cases)) {
    // Warm-up: JIT, wasm tier-up (optimised code is compiled in the
    // background), allocator.
    impls.ferry(Math.min(n, 8));
    impls.sodium(Math.min(n, 8));
    const best = { ferry: Infinity, sodium: Infinity };
    for (let r = 0; r < rounds; r++) {
      for (const who of r % 2 ? ['sodium', 'ferry'] : ['ferry', 'sodium']) {
        const start = now();
        impls[who](n);
        best[who] = Math.min(best[who], now() - start);
      }
    }
    const mbps = (ms) => (n * CHUNK) / 1e6 / (ms / 1000);
    results.push({ name, ferry: mbps(best.ferry), sodium: mbps(best.sodium) });
  }
  // WebCrypto works on other threads: only the wall clock sees it.

  const aesKey = await crypto.subtle.generateKey({ name: 'AES-GCM', length: 256 }, false, ['encrypt']);
  let aesBest = Infinity;
  for (let r = 0; r < rounds; r++) {
    const start = performance.now();
    for (let i = 0; i < n; i++) {
      await crypto.subtle.encrypt({ name: 'AES-GCM', iv: crypto.getRandomValues(new Uint8Array(12)) }, aesKey, data);
    }
    aesBest = Math.min(aesBest, performance.now() - start);
  }
  results.push({ name: 'WebCrypto AES-256-GCM encrypt (reference)', aes: (n * CHUNK) / 1e6 / (aesBest / 1000) });
  return { clock: cpu ? 'CPU time' : 'wall clock', results };
}

async function inChromium() {
  const [site, browser] = await Promise.all([serveRepo(), launchChromium()]);
  try {
    const page = await browser.newPage();
    await page.goto(`${site.origin}/tests/js/fixtures/page.html`);
    await page.addScriptTag({
      type: 'importmap',
      content: JSON.stringify({ imports: { libsodium: '/node_modules/libsodium/dist/modules-esm/libsodium.mjs' } }),
    });
    const measured = await page.evaluate(async ({ source, mib, rounds }) => {
      const { default: sodium } = await import('/node_modules/libsodium-wrappers/dist/modules-esm/libsodium-wrappers.mjs');
      const ferry = await import('/pkg/index.js');
      await sodium.ready;
      await ferry.default();
      const measure = (0, eval)(`(${source})`);
      return measure({ ferry, sodium, mib, rounds });
    }, { source: measureAll.toString(), mib: MIB, rounds: ROUNDS });
    return { where: `Chromium ${browser.version()}`, ...measured };
  } finally {
    await browser.close();
    site.close();
  }
}

await sodium.ready;
await init();
const runs = [{ where: `Node ${process.version}`, ...(await measureAll({ ferry, sodium, mib: MIB, rounds: ROUNDS })) }];
if (BROWSER) runs.push(await inChromium());

console.log(`\nCrypto throughput, ${MIB} MiB per measurement (4 MiB chunks or updates), best of ${ROUNDS}`);
console.log('| measurement | where | ferry-sync MB/s | libsodium-wrappers MB/s | ferry ÷ libsodium |');
console.log('|---|---|---:|---:|---:|');
for (const { where, clock, results } of runs) {
  for (const r of results) {
    if (r.aes) console.log(`| ${r.name} | ${where}, wall clock | ${r.aes.toFixed(0)} | | |`);
    else console.log(`| ${r.name} | ${where}, ${clock} | ${r.ferry.toFixed(0)} | ${r.sodium.toFixed(0)} | ${(r.ferry / r.sodium).toFixed(2)}× |`);
  }
}
