// Budget fidelity in headless Chromium: 5 real runs of the `ios-push`
// budget (25 s) over an uplink throttled to 2 MB/s with the DevTools
// Protocol, against the reference server. Reports how far each run went
// past its budget and how much of what the link could carry it used.
import { serveRepo, launchChromium } from '../tests/js/browser.mjs';
import { startServer } from '../tests/js/server.mjs';

const RUNS = 5;
const UPLINK = 2_000_000; // bytes per second
const BUDGET = 25_000;

const [site, server, browser] = await Promise.all([serveRepo(), startServer(), launchChromium()]);
try {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${site.origin}/tests/js/fixtures/page.html`);
  const cdp = await context.newCDPSession(page);
  await cdp.send('Network.enable');
  await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 40, downloadThroughput: 10e6, uploadThroughput: UPLINK });
  const reports = await page.evaluate(async ({ api, token, runs }) => {
    const { default: init, Ferry, generateKey, toBase64 } = await import('/pkg/index.js');
    await init();
    const headers = { 'X-Auth-Token': token, 'Content-Type': 'application/json' };
    const b64 = (n) => toBase64(crypto.getRandomValues(new Uint8Array(n)));
    const { collection } = await (await fetch(`${api}/collections`, {
      method: 'POST', headers,
      body: JSON.stringify({ encryptedKey: b64(48), keyDecryptionNonce: b64(24), encryptedName: b64(16), nameDecryptionNonce: b64(24), type: 'album' }),
    })).json();
    const ferry = await Ferry.open({ endpoint: api, token, database: 'budget-bench' });
    await ferry.setCollectionKey(collection.id, generateKey());
    // More than five runs can carry: photos of 3 MiB and videos of 40 MiB.
    const files = [];
    for (let i = 0; i < 30; i++) {
      const bytes = new Uint8Array(i % 5 === 0 ? 40 << 20 : 3 << 20);
      for (let j = 0; j < bytes.length; j += 65536) crypto.getRandomValues(bytes.subarray(j, j + 65536));
      files.push({ collectionId: collection.id, file: new File([bytes], `f${i}.jpg`) });
    }
    await ferry.enqueue(files);
    const out = [];
    for (let i = 0; i < runs; i++) {
      const t = performance.now();
      const report = await ferry.sync({ trigger: 'ios-push' });
      out.push({ ...report, wallMs: performance.now() - t });
    }
    ferry.close();
    return out;
  }, { api: server.api, token: server.token, runs: RUNS });
  const overruns = reports.map((r) => Math.max(0, r.wallMs - BUDGET)).sort((a, b) => a - b);
  const utilisation = reports.map((r) => r.bytesUploaded / (UPLINK * (BUDGET / 1000)));
  console.log(`\nBudget fidelity in headless Chromium: ${RUNS} runs of 25 s (ios-push) over a 2 MB/s uplink`);
  console.log('| run | stopped because | wall time | overrun | bytes uploaded | utilisation |');
  console.log('|---:|---|---:|---:|---:|---:|');
  reports.forEach((r, i) => console.log(`| ${i + 1} | ${r.stoppedBecause} | ${(r.wallMs / 1000).toFixed(2)} s | ${Math.max(0, r.wallMs - BUDGET).toFixed(0)} ms | ${(r.bytesUploaded / 1e6).toFixed(1)} MB | ${utilisation[i].toFixed(2)} |`));
  console.log(`worst overrun ${overruns.at(-1).toFixed(0)} ms (target p99 ≤ 500 ms); mean utilisation ${(utilisation.reduce((a, b) => a + b, 0) / RUNS).toFixed(2)} (target ≥ 0.8)`);
} finally {
  await browser.close();
  await server.stop();
  site.close();
}
