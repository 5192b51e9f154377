// The queue in headless Chromium against the reference server, each
// measurement beside a baseline taken in the same run:
//  1. one large file through Ferry (hash, encrypt, multipart upload, POST
//     /files) against a plain fetch PUT of the same bytes to the same store;
//  2. 1,000 files of 256 KiB through Ferry against 1,000 plain PUTs;
//  3. peak wasm memory while uploading a 2 GiB file (read from a host
//     reader, so the page never holds it);
//  4. enqueueing 100,000 items in one call, and status() latency with them queued.
// FERRY_BENCH_QUEUE_MIB (default 256), FERRY_BENCH_SMALL (1000),
// FERRY_BENCH_HUGE_MIB (2048) and FERRY_BENCH_ITEMS (100000) scale it down.
import { serveRepo, launchChromium } from '../tests/js/browser.mjs';
import { startServer } from '../tests/js/server.mjs';

const MIB = Number(process.env.FERRY_BENCH_QUEUE_MIB ?? 256);
const SMALL = Number(process.env.FERRY_BENCH_SMALL ?? 1000);
const HUGE_MIB = Number(process.env.FERRY_BENCH_HUGE_MIB ?? 2048);
const ITEMS = Number(process.env.FERRY_BENCH_ITEMS ?? 100_000);

const [site, server, browser] = await Promise.all([serveRepo(), startServer(), launchChromium()]);
try {
  const page = await (await browser.newContext()).newPage();
  await page.goto(`${site.origin}/tests/js/fixtures/page.html`);
  const result = await page.evaluate(async ({ api, token, mib, small, hugeMib, items }) => {
    const { default: init, Ferry, generateKey, toBase64 } = await import('/pkg/index.js');
    const wasm = await init();
    const headers = { 'X-Auth-Token': token, 'Content-Type': 'application/json' };
    const call = async (path, init = {}) => (await fetch(api + path, { headers, ...init })).json();
    const b64 = (n) => toBase64(crypto.getRandomValues(new Uint8Array(n)));
    const { collection } = await call('/collections', {
      method: 'POST',
      body: JSON.stringify({ encryptedKey: b64(48), keyDecryptionNonce: b64(24), encryptedName: b64(16), nameDecryptionNonce: b64(24), type: 'album' }),
    });
    const random = (n) => {
      const bytes = new Uint8Array(n);
      for (let i = 0; i < n; i += 65536) crypto.getRandomValues(bytes.subarray(i, i + 65536));
      return bytes;
    };
    const urls = async (count) => {
      const out = [];
      while (out.length < count) out.push(...(await call(`/files/upload-urls?count=${Math.min(50, count - out.length)}`)).urls);
      return out;
    };
    const out = {};

    // 1. One large file. The baseline's body is a Blob: DevTools (which
    // drives this page) copies a typed-array request body into its own
    // events, and past a few hundred MiB that alone fails.
    const big = new Blob([random(mib * 1024 * 1024)]);
    let [url] = await urls(1);
    let t = performance.now();
    const put = await fetch(url.url, { method: 'PUT', body: big });
    if (!put.ok) throw new Error(`baseline PUT: ${put.status}`);
    out.plainMs = performance.now() - t;
    const ferry = await Ferry.open({ endpoint: api, token, database: 'bench' });
    await ferry.setCollectionKey(collection.id, generateKey());
    await ferry.enqueue([{ collectionId: collection.id, file: new File([big], 'big.mp4') }]);
    t = performance.now();
    let report = await ferry.sync({});
    out.ferryMs = performance.now() - t;
    if (report.filesDone !== 1) throw new Error(JSON.stringify(report));

    // 2. Many small files.
    const smallFiles = Array.from({ length: small }, (_, i) => random(256 * 1024));
    const smallUrls = await urls(small);
    // Both sides retry: on loopback under this load, a few requests fail
    // with a network error (a connection closed as it was reused).
    const putWithRetry = async (url, bytes) => {
      for (let attempt = 0; ; attempt++) {
        try {
          const response = await fetch(url, { method: 'PUT', body: new Blob([bytes]) });
          if (response.ok) return;
        } catch (err) {
          if (attempt >= 3) throw err;
        }
      }
    };
    t = performance.now();
    for (let i = 0; i < small; i += 8) {
      await Promise.all(smallFiles.slice(i, i + 8).map((bytes, j) => putWithRetry(smallUrls[i + j].url, bytes)));
    }
    out.smallPlainMs = performance.now() - t;
    await ferry.enqueue(smallFiles.map((bytes, i) => ({ collectionId: collection.id, file: new File([bytes], `small-${i}.jpg`) })));
    t = performance.now();
    let done = 0;
    out.smallRuns = 0;
    while (done < small) {
      report = await ferry.sync({});
      done += report.filesDone;
      out.smallRuns++;
      if (report.stoppedBecause !== 'idle' || report.nextRunHint === null) {
        if (done < small) throw new Error(JSON.stringify(report));
        break;
      }
      await new Promise((r) => setTimeout(r, report.nextRunHint));
    }
    out.smallFerryMs = performance.now() - t;
    ferry.close();

    // 3. Peak wasm memory on a huge file from a host reader.
    const chunk = random(1024 * 1024);
    const huge = await Ferry.open({
      endpoint: api, token, database: 'bench-huge',
      resolveSource: () => ({
        size: hugeMib * 1024 * 1024,
        lastModified: 1,
        read: async (offset, length) => {
          const bytes = new Uint8Array(length);
          for (let at = 0; at < length; at += chunk.length) bytes.set(chunk.subarray(0, Math.min(chunk.length, length - at)), at);
          bytes[0] ^= offset & 0xff; // not all parts alike
          return bytes;
        },
      }),
    });
    await huge.setCollectionKey(collection.id, generateKey());
    await huge.enqueue([{ collectionId: collection.id, source: 'host:huge', title: 'huge.mov' }]);
    out.memoryBeforeMiB = wasm.memory.buffer.byteLength / 1048576;
    t = performance.now();
    report = await huge.sync({});
    out.hugeMs = performance.now() - t;
    if (report.filesDone !== 1) throw new Error(JSON.stringify(report));
    out.memoryAfterMiB = wasm.memory.buffer.byteLength / 1048576;
    huge.close();

    // 4. Enqueue at scale (host references: nothing is stored but the records).
    const queued = await Ferry.open({ endpoint: api, token, database: 'bench-enqueue' });
    await queued.setCollectionKey(collection.id, generateKey());
    const batch = Array.from({ length: items }, (_, i) => ({ collectionId: collection.id, source: `host:f${i}`, title: `IMG_${i}.jpg` }));
    t = performance.now();
    await queued.enqueue(batch);
    out.enqueueMs = performance.now() - t;
    const samples = [];
    for (let i = 0; i < 50; i++) {
      t = performance.now();
      await queued.status();
      samples.push(performance.now() - t);
    }
    samples.sort((a, b) => a - b);
    out.statusMedianMs = samples[25];
    out.statusP95Ms = samples[47];
    queued.close();
    return out;
  }, { api: server.api, token: server.token, mib: MIB, small: SMALL, hugeMib: HUGE_MIB, items: ITEMS });

  const mbps = (mib, ms) => (mib * 1024 * 1024) / 1e6 / (ms / 1000);
  const perSecond = (ms) => SMALL / (ms / 1000);
  console.log(`\nQueue in headless Chromium (${process.env.CHROMIUM ?? '/usr/bin/chromium'}), reference server on loopback`);
  console.log('| measurement | result | vs baseline |');
  console.log('|---|---:|---:|');
  console.log(`| plain fetch PUT of ${MIB} MiB (baseline) | ${mbps(MIB, result.plainMs).toFixed(0)} MB/s | 1.00× |`);
  console.log(`| Ferry: hash, encrypt, multipart upload, POST /files of ${MIB} MiB | ${mbps(MIB, result.ferryMs).toFixed(0)} MB/s | ${(result.plainMs / result.ferryMs).toFixed(2)}× |`);
  console.log(`| plain PUTs of ${SMALL} × 256 KiB, 8 at a time (baseline) | ${perSecond(result.smallPlainMs).toFixed(0)} files/s | 1.00× |`);
  console.log(`| Ferry: ${SMALL} × 256 KiB, each hashed, encrypted, PUT with its thumbnail, POST /files (${result.smallRuns} runs) | ${perSecond(result.smallFerryMs).toFixed(0)} files/s | ${(result.smallPlainMs / result.smallFerryMs).toFixed(2)}× |`);
  console.log(`| wasm memory before / after uploading ${HUGE_MIB} MiB (${mbps(HUGE_MIB, result.hugeMs).toFixed(0)} MB/s) | ${result.memoryBeforeMiB.toFixed(0)} / ${result.memoryAfterMiB.toFixed(0)} MiB | |`);
  console.log(`| enqueue ${ITEMS.toLocaleString('en')} items in one call | ${(result.enqueueMs / 1000).toFixed(1)} s | |`);
  console.log(`| status() with ${ITEMS.toLocaleString('en')} queued, median / p95 | ${result.statusMedianMs.toFixed(2)} / ${result.statusP95Ms.toFixed(2)} ms | |`);
} finally {
  await browser.close();
  await server.stop();
  site.close();
}
