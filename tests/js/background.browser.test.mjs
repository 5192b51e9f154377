// Background runs with no page open: a registered module service worker
// receives real `sync`, `periodicsync` and `push` events, dispatched through
// the Chrome DevTools Protocol, and uploads what a page queued earlier.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import sodium from 'libsodium-wrappers';
import { serveRepo, launchChromium } from './browser.mjs';
import { startServer } from './server.mjs';
import { MIB, content, newCollection, serverFiles } from './library.mjs';

let site;
let server;
let browser;

before(async () => {
  await sodium.ready;
  [site, server, browser] = await Promise.all([serveRepo(), startServer(['--admin']), launchChromium()]);
});
after(async () => {
  await browser?.close();
  await server?.stop();
  site?.close();
});

const SCOPE = '/tests/js/fixtures/';

/** A context with Ferry's service worker registered, and a CDP session to drive it. */
async function backgroundContext(database, extra = '') {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${site.origin}${SCOPE}page.html`);
  const script = `${SCOPE}ferry-sw.js?api=${encodeURIComponent(server.api)}&token=${server.token}&db=${database}${extra}`;
  await page.evaluate(async (script) => {
    await navigator.serviceWorker.register(script, { type: 'module', scope: '/tests/js/fixtures/' });
    await navigator.serviceWorker.ready;
  }, script);
  const cdp = await context.newCDPSession(page);
  const registrations = new Map();
  cdp.on('ServiceWorker.workerRegistrationUpdated', ({ registrations: list }) => {
    for (const r of list) if (!r.isDeleted) registrations.set(r.scopeURL, r.registrationId);
  });
  const versions = [];
  cdp.on('ServiceWorker.workerVersionUpdated', ({ versions: list }) => versions.push(...list));
  await cdp.send('ServiceWorker.enable');
  const started = Date.now();
  while (!registrations.has(`${site.origin}${SCOPE}`)) {
    assert.ok(Date.now() - started < 10_000, 'the registration is reported');
    await new Promise((r) => setTimeout(r, 20));
  }
  const registrationId = registrations.get(`${site.origin}${SCOPE}`);
  return { context, page, cdp, registrationId, versions };
}

/** Queues files from a page, as the app would before going to the background. */
async function enqueueFromPage(page, database, collection, files) {
  await page.evaluate(async ({ api, token, database, collectionId, collectionKey, files, contentSource }) => {
    const content = new Function(`return ${contentSource}`)();
    const { default: init, Ferry } = await import('/pkg/index.js');
    await init();
    const ferry = await Ferry.open({ endpoint: api, token, database });
    await ferry.setCollectionKey(collectionId, Uint8Array.from(collectionKey));
    await ferry.enqueue(files.map(({ name, size, seed }) => ({ collectionId, file: new File([content(size, seed)], name) })));
    ferry.close();
  }, { api: server.api, token: server.token, database, collectionId: collection.id, collectionKey: [...collection.key], files, contentSource: content.toString() });
}

async function waitForFiles(collection, count, timeoutMs = 60_000) {
  const started = Date.now();
  for (;;) {
    const files = await serverFiles(server, collection);
    if (files.length >= count) return files;
    assert.ok(Date.now() - started < timeoutMs, `${count} files within ${timeoutMs} ms (have ${files.length})`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function runsOf(page, database) {
  return page.evaluate(async ({ api, token, database }) => {
    const { default: init, Ferry } = await import('/pkg/index.js');
    await init();
    const ferry = await Ferry.open({ endpoint: api, token, database });
    const runs = await ferry.runs();
    ferry.close();
    return runs;
  }, { api: server.api, token: server.token, database });
}

test('sync, periodicsync and push events upload queued files with no page open', async () => {
  const database = 'bg-events';
  const collection = await newCollection(server);
  const { context, page, registrationId } = await backgroundContext(database);
  const origin = site.origin;
  // A blank page keeps the CDP session; no page of the app's origin is open.
  const blank = await context.newPage();
  const session = await context.newCDPSession(blank);
  await session.send('ServiceWorker.enable');

  const batches = [
    { event: 'sync', files: [{ name: 'a.jpg', size: 3000, seed: 1 }, { name: 'b.mov', size: 9 * MIB + 3, seed: 2 }] },
    { event: 'periodicsync', files: [{ name: 'c.jpg', size: 4 * MIB + 1, seed: 3 }] },
    { event: 'push', files: [{ name: 'd.jpg', size: 70_000, seed: 4 }] },
  ];
  let expected = 0;
  let appPage = page;
  for (const { event, files } of batches) {
    if (!appPage) {
      appPage = await context.newPage();
      await appPage.goto(`${origin}${SCOPE}page.html`);
    }
    await enqueueFromPage(appPage, database, collection, files);
    await appPage.close();
    appPage = null;
    expected += files.length;
    if (event === 'sync') {
      await session.send('ServiceWorker.dispatchSyncEvent', { origin, registrationId, tag: 'ferry-sync', lastChance: false });
    } else if (event === 'periodicsync') {
      await session.send('ServiceWorker.dispatchPeriodicSyncEvent', { origin, registrationId, tag: 'ferry-sync' });
    } else {
      // A payload that is not a tickle is ignored; the tickle runs.
      await session.send('ServiceWorker.deliverPushMessage', { origin, registrationId, data: 'not json' });
      await session.send('ServiceWorker.deliverPushMessage', { origin, registrationId, data: JSON.stringify({ action: 'sync' }) });
    }
    const onServer = await waitForFiles(collection, expected);
    assert.equal(onServer.length, expected, `after ${event}: each file exactly once`);
  }

  const files = await serverFiles(server, collection);
  for (const { files: batch } of batches) {
    for (const { name, size, seed } of batch) {
      const file = files.find((f) => f.metadata.title === name);
      assert.ok(file && Buffer.from(content(size, seed)).equals(file.plaintext), `${name} round-trips`);
    }
  }
  const reader = await context.newPage();
  await reader.goto(`${origin}${SCOPE}page.html`);
  // The page side: registration where the platform allows it, and a run
  // asked of the worker by message (what happens on `online`), answered
  // with its report.
  await enqueueFromPage(reader, database, collection, [{ name: 'e.jpg', size: 2500, seed: 5 }]);
  const viaMessage = await reader.evaluate(async () => {
    const { registerBackground } = await import('/pkg/sw.js');
    const registration = await navigator.serviceWorker.ready;
    const reply = new Promise((resolve) => navigator.serviceWorker.addEventListener('message', (e) => resolve(e.data), { once: true }));
    registration.active.postMessage({ type: 'ferry-sync', trigger: 'sync', budgetMs: 20_000 });
    const answered = await reply;
    // Registered after the message run: Chromium fires a registered sync at once.
    const granted = await registerBackground(registration, { runOnOnline: false });
    return { granted, reply: answered };
  });
  assert.equal(viaMessage.granted.sync, true, 'Chromium has Background Sync');
  assert.equal(typeof viaMessage.granted.periodicSync, 'boolean');
  assert.equal(viaMessage.reply.type, 'ferry-sync');
  assert.equal(viaMessage.reply.report.trigger, 'sync');
  assert.equal(viaMessage.reply.report.budgetMs, 20_000);
  assert.equal(viaMessage.reply.report.filesDone, 1);
  expected += 1;
  assert.equal((await serverFiles(server, collection)).length, expected);
  const runs = await runsOf(reader, database);
  const triggers = new Set(runs.map((r) => r.trigger));
  for (const trigger of ['sync', 'periodicsync', 'push']) assert.ok(triggers.has(trigger), `a ${trigger} run was recorded: ${[...triggers]}`);
  for (const run of runs.filter((r) => r.trigger === 'push')) assert.equal(run.budgetMs, 25_000);
  await context.close();
});

test('killed 20 times with several files in flight, the worker lands every file exactly once', async () => {
  const database = 'bg-kills';
  const collection = await newCollection(server);
  const { context, page, registrationId, cdp, versions } = await backgroundContext(database);
  // A library's mix: two multipart videos among a dozen photos, four
  // files in flight at once (the default).
  const files = [
    { name: 'long-1.mov', size: 30 * MIB + 7, seed: 11 },
    { name: 'long-2.mov', size: 21 * MIB, seed: 12 },
    ...Array.from({ length: 12 }, (_, i) => ({ name: `photo-${i}.jpg`, size: 5000 + i * 61_000, seed: 30 + i })),
  ];
  await enqueueFromPage(page, database, collection, files);
  await page.goto('about:blank');
  const origin = site.origin;
  // Slow parts, so a kill lands mid-upload.
  await fetch(`${server.api}/admin/faults`, {
    method: 'PUT',
    headers: { 'X-Auth-Token': server.token, 'Content-Type': 'application/json' },
    body: JSON.stringify({ rules: [{ route: 's3:UploadPart', latencyMs: 300 }] }),
  });
  let kills = 0;
  let seed = 20261126;
  const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  try {
    for (let kill = 0; kill < 20; kill++) {
      await cdp.send('ServiceWorker.dispatchSyncEvent', { origin, registrationId, tag: 'ferry-sync', lastChance: false });
      await new Promise((r) => setTimeout(r, 150 + random() * 900));
      const running = versions.filter((v) => v.registrationId === registrationId && v.runningStatus === 'running').at(-1);
      if (running) {
        await cdp.send('ServiceWorker.stopWorker', { versionId: running.versionId });
        kills++;
      }
    }
  } finally {
    await fetch(`${server.api}/admin/faults`, {
      method: 'PUT',
      headers: { 'X-Auth-Token': server.token, 'Content-Type': 'application/json' },
      body: JSON.stringify({ rules: [] }),
    });
  }
  assert.ok(kills >= 15, `the worker was killed while running (${kills} of 20)`);
  // Then one uninterrupted background run (or a few) finishes the queue.
  for (let i = 0; i < 10 && (await serverFiles(server, collection)).length < files.length; i++) {
    await cdp.send('ServiceWorker.dispatchSyncEvent', { origin, registrationId, tag: 'ferry-sync', lastChance: false });
    await waitForFiles(collection, files.length, 20_000).catch(() => {});
  }
  const onServer = await serverFiles(server, collection);
  assert.equal(onServer.length, files.length, 'each file exactly once');
  // What went to the store again: a kill can cut off only what is in
  // flight, at most four parts or files at once (the larger of
  // parallelFiles and parallelParts); anything recorded is never sent again.
  const { finished } = await (await fetch(`${server.api}/admin/requests`, { headers: { 'X-Auth-Token': server.token } })).json();
  const redone = Object.entries(finished)
    .filter(([key]) => /^s3:(UploadPart|PutObject) \//.test(key))
    .reduce((sum, [, n]) => sum + Math.max(0, n - 1), 0);
  assert.ok(redone <= kills * 4, `${redone} objects or parts stored again over ${kills} kills`);
  for (const { name, size, seed: s } of files) {
    const file = onServer.find((f) => f.metadata.title === name);
    assert.ok(file && Buffer.from(content(size, s)).equals(file.plaintext), `${name} round-trips`);
  }
  // The runs the kills cut short are on record, found by the runs after
  // them. Later kills land on workers whose run had already finished (all
  // files were up), and a kill before a run's first record leaves none:
  // so at least one, and never more than the kills.
  await page.goto(`${site.origin}${SCOPE}page.html`);
  const runs = await runsOf(page, database);
  const killed = runs.filter((r) => r.stoppedBecause === 'killed');
  const seen = runs.map((r) => `${r.stoppedBecause}:${r.filesDone}:${r.bytesUploaded}`).join(' ');
  assert.ok(killed.length >= 1 && killed.length <= kills, `${killed.length} killed runs for ${kills} kills: ${seen}`);
  assert.ok(killed.every((r) => r.trigger === 'sync' && r.startedAt > 0 && r.elapsedMs >= 0 && r.nextRunHint === 0), seen);
  await context.close();
});

test('a 25 s budget over a 2 MB/s uplink stops on its own before the deadline, progress recorded', async () => {
  const collection = await newCollection(server);
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${site.origin}${SCOPE}page.html`);
  const cdp = await context.newCDPSession(page);
  await cdp.send('Network.enable');
  await cdp.send('Network.emulateNetworkConditions', {
    offline: false, latency: 40, downloadThroughput: 10 * MIB, uploadThroughput: 2 * 1000 * 1000,
  });
  const result = await page.evaluate(async ({ api, token, collectionId, collectionKey }) => {
    const { default: init, Ferry } = await import('/pkg/index.js');
    await init();
    const ferry = await Ferry.open({ endpoint: api, token, database: 'throttled' });
    await ferry.setCollectionKey(collectionId, Uint8Array.from(collectionKey));
    const big = new Uint8Array(120 * 1024 * 1024);
    for (let i = 0; i < big.length; i += 65536) crypto.getRandomValues(big.subarray(i, i + 65536));
    await ferry.enqueue([{ collectionId, file: new File([big], 'long.jpg') }]);
    const t = performance.now();
    const report = await ferry.sync({ trigger: 'ios-push' });
    const wallMs = performance.now() - t;
    const [item] = await ferry.items({});
    ferry.close();
    return { report, wallMs, item };
  }, { api: server.api, token: server.token, collectionId: collection.id, collectionKey: [...collection.key] });
  const { report, wallMs, item } = result;
  assert.equal(report.budgetMs, 25_000, 'the trigger\'s budget');
  assert.equal(report.stoppedBecause, 'budget', JSON.stringify(report));
  assert.ok(wallMs <= 25_000 + 500, `stopped ${(wallMs - 25_000).toFixed(0)} ms past the budget`);
  assert.ok(report.elapsedMs <= 25_000, `${report.elapsedMs} ms`);
  assert.ok(report.bytesUploaded > 0, 'parts finished within the budget');
  // The item counts its file's parts; the run also counts the thumbnail,
  // which goes first (at most 100 KB).
  const thumbnailBytes = report.bytesUploaded - item.bytesSent;
  assert.ok(item.bytesSent > 0 && thumbnailBytes >= 0 && thumbnailBytes <= 100 * 1024,
    `what went up is recorded: ${item.bytesSent} of ${report.bytesUploaded} bytes`);
  assert.equal(report.nextRunHint, 0, 'work is left');
  await context.close();
});

test('a page and the service worker started at the same moment never upload in parallel', async () => {
  const database = 'bg-race';
  const collection = await newCollection(server);
  const { context, page, registrationId, cdp } = await backgroundContext(database);
  await enqueueFromPage(page, database, collection, [
    { name: 'r1.mov', size: 9 * MIB, seed: 21 }, { name: 'r2.jpg', size: 5 * MIB, seed: 22 }, { name: 'r3.jpg', size: 4000, seed: 23 },
  ]);
  const [pageReport] = await Promise.all([
    page.evaluate(async ({ api, token, database }) => {
      const { default: init, Ferry } = await import('/pkg/index.js');
      await init();
      const ferry = await Ferry.open({ endpoint: api, token, database });
      const report = await ferry.sync({});
      ferry.close();
      return report;
    }, { api: server.api, token: server.token, database }),
    cdp.send('ServiceWorker.dispatchSyncEvent', { origin: site.origin, registrationId, tag: 'ferry-sync', lastChance: false }),
  ]);
  assert.ok(['idle', 'busy'].includes(pageReport.stoppedBecause), JSON.stringify(pageReport));
  await waitForFiles(collection, 3);
  // Let the worker's run end and record itself.
  let runs = [];
  for (let i = 0; i < 100; i++) {
    runs = await runsOf(page, database);
    if (runs.length >= 2) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  const working = runs.filter((r) => r.stoppedBecause !== 'busy');
  assert.ok(runs.length >= 2, `both runs recorded: ${JSON.stringify(runs)}`);
  for (let i = 0; i < working.length; i++) {
    for (let j = i + 1; j < working.length; j++) {
      const [a, b] = [working[i], working[j]];
      const overlap = a.startedAt < b.startedAt + b.elapsedMs && b.startedAt < a.startedAt + a.elapsedMs;
      assert.ok(!overlap, `two runs uploaded at once: ${JSON.stringify([a, b])}`);
    }
  }
  const files = await serverFiles(server, collection);
  assert.equal(files.length, 3, 'each file exactly once');
  await context.close();
});
