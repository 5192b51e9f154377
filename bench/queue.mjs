// The queue in headless Chromium against the reference server:
//  1. an encrypted upload of one large file through Ferry, against a plain
//     fetch PUT of the same number of bytes to the same store (baseline);
//  2. enqueueing many items in one call, and status() latency with them queued.
// FERRY_BENCH_QUEUE_MIB (default 64) and FERRY_BENCH_ITEMS (default 100000).
import { serveRepo, launchChromium } from '../tests/js/browser.mjs';
import { startServer } from '../tests/js/server.mjs';

// 64 MiB: at 256 MiB the headless renderer crashed here (File + IndexedDB copy), under investigation.
const MIB = Number(process.env.FERRY_BENCH_QUEUE_MIB ?? 64);
const ITEMS = Number(process.env.FERRY_BENCH_ITEMS ?? 100_000);

const [site, server, browser] = await Promise.all([serveRepo(), startServer(), launchChromium()]);
try {
  const page = await (await browser.newContext()).newPage();
  await page.goto(`${site.origin}/tests/js/fixtures/page.html`);
  const result = await page.evaluate(async ({ api, token, mib, items }) => {
    const { default: init, Ferry, generateKey, toBase64 } = await import('/pkg/index.js');
    await init();
    const headers = { 'X-Auth-Token': token, 'Content-Type': 'application/json' };
    const call = async (path, init = {}) => (await fetch(api + path, { headers, ...init })).json();
    const b64 = (n) => toBase64(crypto.getRandomValues(new Uint8Array(n)));
    const { collection } = await call('/collections', {
      method: 'POST',
      body: JSON.stringify({ encryptedKey: b64(48), keyDecryptionNonce: b64(24), encryptedName: b64(16), nameDecryptionNonce: b64(24), type: 'album' }),
    });
    const bytes = new Uint8Array(mib * 1024 * 1024);
    for (let i = 0; i < bytes.length; i += 65536) crypto.getRandomValues(bytes.subarray(i, i + 65536));

    // Baseline: the same bytes in one presigned PUT, no encryption.
    const { urls } = await call('/files/upload-urls?count=1');
    let t = performance.now();
    const put = await fetch(urls[0].url, { method: 'PUT', body: bytes });
    if (!put.ok) throw new Error(`baseline PUT: ${put.status}`);
    const plainMs = performance.now() - t;

    const ferry = await Ferry.open({ endpoint: api, token, database: 'bench' });
    await ferry.setCollectionKey(collection.id, generateKey());
    await ferry.enqueue([{ collectionId: collection.id, file: new File([bytes], 'big.mp4') }]);
    t = performance.now();
    const report = await ferry.sync({});
    const ferryMs = performance.now() - t;
    if (report.filesDone !== 1) throw new Error(JSON.stringify(report));

    // Enqueue at scale (host references: nothing is stored but the records).
    const queued = await Ferry.open({ endpoint: api, token, database: 'bench-enqueue' });
    await queued.setCollectionKey(collection.id, generateKey());
    const batch = Array.from({ length: items }, (_, i) => ({ collectionId: collection.id, source: `host:f${i}`, title: `IMG_${i}.jpg` }));
    t = performance.now();
    await queued.enqueue(batch);
    const enqueueMs = performance.now() - t;
    const samples = [];
    for (let i = 0; i < 50; i++) {
      t = performance.now();
      await queued.status();
      samples.push(performance.now() - t);
    }
    samples.sort((a, b) => a - b);
    return { plainMs, ferryMs, enqueueMs, statusMedianMs: samples[25], statusP95Ms: samples[47] };
  }, { api: server.api, token: server.token, mib: MIB, items: ITEMS });

  const mbps = (ms) => (MIB * 1024 * 1024) / 1e6 / (ms / 1000);
  console.log(`\nQueue in headless Chromium (${process.env.CHROMIUM ?? '/usr/bin/chromium'}), reference server on loopback`);
  console.log('| measurement | result | vs baseline |');
  console.log('|---|---:|---:|');
  console.log(`| plain fetch PUT of ${MIB} MiB (baseline) | ${mbps(result.plainMs).toFixed(0)} MB/s | 1.00× |`);
  console.log(`| Ferry: hash, encrypt, multipart upload, POST /files of ${MIB} MiB | ${mbps(result.ferryMs).toFixed(0)} MB/s | ${(result.plainMs / result.ferryMs).toFixed(2)}× |`);
  console.log(`| enqueue ${ITEMS.toLocaleString('en')} items in one call | ${(result.enqueueMs / 1000).toFixed(1)} s | |`);
  console.log(`| status() with ${ITEMS.toLocaleString('en')} queued, median / p95 | ${result.statusMedianMs.toFixed(2)} / ${result.statusP95Ms.toFixed(2)} ms | |`);
} finally {
  await browser.close();
  await server.stop();
  site.close();
}
