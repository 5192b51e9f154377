// A stopped service worker woken by a `sync` event (dispatched over the
// Chrome DevTools Protocol): the time from the event to the first bytes at
// the object store, for Ferry's worker uploading a queued photo (its
// encrypted thumbnail goes first) against a worker answering the same
// event with one plain fetch PUT. The store's request log is polled every
// few milliseconds for the first PUT's head; both sides are timed alike.
// FERRY_BENCH_WAKES (default 15) sets the rounds.
import { serveRepo, launchChromium } from '../tests/js/browser.mjs';
import { startServer } from '../tests/js/server.mjs';
import { newCollection, content } from '../tests/js/library.mjs';

const ROUNDS = Number(process.env.FERRY_BENCH_WAKES ?? 15);
const [site, server, browser] = await Promise.all([serveRepo(), startServer(['--admin']), launchChromium()]);
const headers = { 'X-Auth-Token': server.token };
const puts = async () => {
  const { started } = await (await fetch(`${server.api}/admin/requests`, { headers })).json();
  return (started['s3:PutObject'] ?? 0) + (started['s3:UploadPart'] ?? 0);
};

/** A context whose page registered `script` for `scope`, with CDP to drive the worker. */
async function withWorker(scope, script) {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${site.origin}/tests/js/fixtures/page.html`);
  await page.evaluate(async ({ script, scope }) => {
    // Not `serviceWorker.ready`: the page need not be in the worker's scope.
    const registration = await navigator.serviceWorker.register(script, { type: 'module', scope });
    const worker = registration.installing ?? registration.waiting ?? registration.active;
    while (worker.state !== 'activated') await new Promise((r) => worker.addEventListener('statechange', r, { once: true }));
  }, { script, scope });
  const cdp = await context.newCDPSession(page);
  let registrationId;
  cdp.on('ServiceWorker.workerRegistrationUpdated', ({ registrations }) => {
    for (const r of registrations) if (r.scopeURL === `${site.origin}${scope}` && !r.isDeleted) registrationId = r.registrationId;
  });
  await cdp.send('ServiceWorker.enable');
  while (!registrationId) await new Promise((r) => setTimeout(r, 10));
  return { context, page, cdp, registrationId };
}

/** Stops the worker, dispatches `sync` with `tag`, and times the first PUT at the store. */
async function wake({ cdp, registrationId }, tag) {
  await cdp.send('ServiceWorker.stopAllWorkers');
  await new Promise((r) => setTimeout(r, 300));
  const before = await puts();
  const t0 = performance.now();
  await cdp.send('ServiceWorker.dispatchSyncEvent', { origin: site.origin, registrationId, tag, lastChance: false });
  while ((await puts()) === before) {
    if (performance.now() - t0 > 20_000) throw new Error('no PUT within 20 s');
  }
  return performance.now() - t0;
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
try {
  const collection = await newCollection(server);
  const scope = '/tests/js/fixtures/';
  const ferry = await withWorker(scope, `${scope}ferry-sw.js?api=${encodeURIComponent(server.api)}&token=${server.token}&db=wake`);
  const plain = await withWorker('/bench/fixtures/', '/bench/fixtures/plain-sw.js');
  const ferryMs = [];
  const plainMs = [];
  for (let round = 0; round < ROUNDS; round++) {
    // One photo queued by the page, then the worker stopped and woken.
    await ferry.page.evaluate(async ({ api, token, collectionId, collectionKey, round, contentSource }) => {
      const content = new Function(`return ${contentSource}`)();
      const { default: init, Ferry } = await import('/pkg/index.js');
      await init();
      const queue = await Ferry.open({ endpoint: api, token, database: 'wake' });
      await queue.setCollectionKey(collectionId, Uint8Array.from(collectionKey));
      await queue.enqueue([{ collectionId, file: new File([content(200_000, round)], `wake-${round}.jpg`) }]);
      queue.close();
    }, { api: server.api, token: server.token, collectionId: collection.id, collectionKey: [...collection.key], round, contentSource: content.toString() });
    ferryMs.push(await wake(ferry, 'ferry-sync'));
    const { urls: [url] } = await (await fetch(`${server.api}/files/upload-urls?count=1`, { headers })).json();
    plainMs.push(await wake(plain, url.url));
    // Let Ferry's run finish before the next round's enqueue.
    await new Promise((r) => setTimeout(r, 1500));
  }
  const [f, p] = [median(ferryMs), median(plainMs)];
  console.log(`\nA stopped service worker woken by sync, until the first PUT reaches the store (median of ${ROUNDS})`);
  console.log('| worker | median | all |');
  console.log('|---|---:|---|');
  console.log(`| plain fetch PUT (baseline) | ${p.toFixed(0)} ms | ${plainMs.map((x) => x.toFixed(0)).join(' ')} |`);
  console.log(`| Ferry (wasm loaded, database opened, run started, thumbnail encrypted) | ${f.toFixed(0)} ms | ${ferryMs.map((x) => x.toFixed(0)).join(' ')} |`);
  console.log(`| Ferry − baseline | ${(f - p).toFixed(0)} ms | |`);
} finally {
  await browser.close();
  await server.stop();
  site.close();
}
