// The queue end to end in headless Chromium: Ferry.open over real
// IndexedDB, Files of every size class enqueued and synced to the reference
// server, then downloaded and decrypted by libsodium itself; and a page
// reload in the middle of a multipart upload that continues without
// re-sending a finished part.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import sodium from 'libsodium-wrappers';
import { serveRepo, launchChromium } from './browser.mjs';
import { startServer } from './server.mjs';
import {
  MIB, content, toB64, apiCall, newCollection as newCollectionOn, serverFiles as serverFilesOn,
  serverThumbnail as serverThumbnailOn, jpegSize,
} from './library.mjs';

let site;
let server;
let browser;
let context;

before(async () => {
  await sodium.ready;
  // Parts take 250 ms longer, so a reload reliably lands mid-upload.
  const slowParts = JSON.stringify({ rules: [{ route: 's3:UploadPart', latencyMs: 250 }] });
  [site, server, browser] = await Promise.all([
    serveRepo(), startServer(['--admin', '--faults', slowParts]), launchChromium(),
  ]);
  // One profile for all pages, as two loads of the same site share IndexedDB.
  context = await browser.newContext();
});
after(async () => {
  await browser?.close();
  await server?.stop();
  site?.close();
});

const api = (path, init) => apiCall(server, path, init);
const newCollection = () => newCollectionOn(server);
const serverFiles = (collection) => serverFilesOn(server, collection);
const serverThumbnail = (collection, record) => serverThumbnailOn(server, collection, record);

async function openPage() {
  const page = await context.newPage();
  page.on('pageerror', (err) => console.log('# page error:', err.message));
  await page.goto(`${site.origin}/tests/js/fixtures/page.html`);
  return page;
}

test('Files of every size class upload through Ferry and decrypt with libsodium', async () => {
  const collection = await newCollection();
  const sizes = [0, 1, 4 * MIB, 4 * MIB + 1, 9 * MIB + 5];
  const page = await openPage();
  const result = await page.evaluate(async ({ api, token, collectionId, collectionKey, sizes, contentSource }) => {
    const content = new Function(`return ${contentSource}`)();
    const { default: init, Ferry } = await import('/pkg/index.js');
    await init();
    const ferry = await Ferry.open({ endpoint: api, token, database: 'sizes', chunksPerPart: 2 });
    await ferry.setCollectionKey(collectionId, Uint8Array.from(collectionKey));
    const files = sizes.map((size, i) => new File([content(size, i)], `photo-${i}.jpg`, { type: 'image/jpeg', lastModified: 1_700_000_000_000 + i }));
    const events = { item: [], progress: [], run: [] };
    for (const name of Object.keys(events)) ferry.on(name, (payload) => events[name].push(payload));
    ferry.on('item', () => { throw new Error('a broken listener'); });
    // A listener's error is the host's bug: reported as any uncaught
    // callback error is, not swallowed.
    const reported = [];
    globalThis.addEventListener('error', (event) => { reported.push(event.error?.message); event.preventDefault(); });
    let unknownEvent = null;
    try { ferry.on('finished', () => {}); } catch (err) { unknownEvent = { code: err.code, name: err.name }; }
    const ids = await ferry.enqueue(files.map((file) => ({ collectionId, file })));
    // Reads of each file's bytes (its stored copy, whole or sliced), and
    // streams of them, by name.
    const readsOf = {};
    const streamsOf = {};
    const sliceOf = new WeakMap();
    const { slice, arrayBuffer, stream } = Blob.prototype;
    Blob.prototype.slice = function (...args) {
      const part = slice.apply(this, args);
      sliceOf.set(part, sliceOf.get(this) ?? this.name);
      return part;
    };
    const count = (tally, blob) => {
      const name = sliceOf.get(blob) ?? blob.name;
      if (name) tally[name] = (tally[name] ?? 0) + 1;
    };
    Blob.prototype.arrayBuffer = function () {
      count(readsOf, this);
      return arrayBuffer.call(this);
    };
    Blob.prototype.stream = function () {
      count(streamsOf, this);
      return stream.call(this);
    };
    const before = await ferry.status();
    const report = await ferry.sync({ trigger: 'foreground' });
    Object.assign(Blob.prototype, { slice, arrayBuffer, stream });
    const status = await ferry.status();
    const done = await ferry.items({ state: 'done' });
    // The stored copies of uploaded files are released (asynchronously).
    const storedCopies = async () => {
      const db = await new Promise((resolve, reject) => {
        const request = indexedDB.open('sizes');
        request.onsuccess = () => resolve(request.result);
        request.onerror = () => reject(request.error);
      });
      const count = await new Promise((resolve) => {
        const request = db.transaction('sources').objectStore('sources').count();
        request.onsuccess = () => resolve(request.result);
      });
      db.close();
      return count;
    };
    let copiesLeft = await storedCopies();
    for (let i = 0; i < 100 && copiesLeft > 0; i++) {
      await new Promise((r) => setTimeout(r, 20));
      copiesLeft = await storedCopies();
    }
    ferry.close();
    return { ids, before, report, status, done, events, unknownEvent, copiesLeft, reported, readsOf, streamsOf };
  }, { api: server.api, token: server.token, collectionId: collection.id, collectionKey: [...collection.key], sizes, contentSource: content.toString() });

  assert.equal(result.ids.length, 5);
  assert.equal(result.before.queued, 5);
  assert.equal(result.report.stoppedBecause, 'idle');
  assert.equal(result.report.filesDone, 5);
  assert.equal(result.status.done, 5);
  assert.equal(result.status.queued, 0);
  assert.equal(result.status.blocked, null);
  assert.equal(result.done.length, 5);
  assert.equal(result.copiesLeft, 0, 'no copy of an uploaded file stays in IndexedDB');
  assert.ok(result.done.every((item) => typeof item.fileId === 'number'));
  // A file of one chunk at most is read once for its hash, its metadata
  // and its encryption; a larger one through a stream, not a slice per
  // piece, and once: no title here is shared, so no file can be another's
  // duplicate and each is hashed as it is encrypted.
  const reads = JSON.stringify({ readsOf: result.readsOf, streamsOf: result.streamsOf });
  assert.equal(result.readsOf['photo-1.jpg'], 1, reads);
  assert.equal(result.readsOf['photo-2.jpg'], 1, reads);
  assert.equal(result.streamsOf['photo-2.jpg'], undefined, reads);
  assert.equal(result.streamsOf['photo-4.jpg'], 1, reads);
  assert.ok((result.readsOf['photo-4.jpg'] ?? 0) <= 1, reads);

  // Events: every item reported done, progress only grows and ends at the
  // encrypted size, one run report, and a throwing listener broke nothing.
  assert.deepEqual(result.unknownEvent, { code: 'BAD_INPUT', name: 'FerryError' });
  assert.ok(result.reported.length >= 5, `the broken listener's errors were reported: ${result.reported.length}`);
  assert.ok(result.reported.every((message) => message === 'a broken listener'), JSON.stringify(result.reported));
  for (const id of result.ids) {
    assert.ok(result.events.item.some((e) => e.id === id && e.state === 'done'), `item ${id} reported done`);
    const progress = result.events.progress.filter((e) => e.id === id);
    assert.ok(progress.length >= 1, `progress for ${id}`);
    for (let i = 1; i < progress.length; i++) {
      const [a, b] = [progress[i - 1], progress[i]];
      assert.ok(b.bytesSent >= a.bytesSent && b.bytesHashed >= a.bytesHashed, `progress went back: ${JSON.stringify([a, b])}`);
    }
    assert.ok(progress.some((e) => e.bytesHashed === e.size && e.size === sizes[result.ids.indexOf(id)]), 'hashing reported to the end');
    const last = progress.at(-1);
    assert.equal(last.bytesSent, last.encryptedSize, 'progress ends with the whole file sent');
  }
  assert.equal(result.events.run.length, 1);
  assert.deepEqual(result.events.run[0], result.report);

  const files = await serverFiles(collection);
  assert.equal(files.length, 5, 'each file exactly once');
  sizes.forEach((size, i) => {
    const file = files.find((f) => f.metadata.title === `photo-${i}.jpg`);
    assert.ok(file, `photo-${i}.jpg is on the server`);
    const expected = content(size, i);
    assert.ok(Buffer.from(expected).equals(file.plaintext), `photo-${i}.jpg (${size} bytes) round-trips`);
    assert.equal(file.metadata.hash, toB64(sodium.crypto_generichash(64, expected, null)));
    assert.equal(file.metadata.fileType, 0);
    assert.equal(file.metadata.creationTime, (1_700_000_000_000 + i) * 1000);
  });
});

test('a reload mid-multipart continues without re-sending finished parts', async () => {
  const collection = await newCollection();
  const size = 30 * MIB; // 8 chunks: 4 parts of 2 chunks
  // Request counts are the server's; measure against what came before.
  const baseline = (await (await api('/admin/requests')).json()).counts;
  const params = { api: server.api, token: server.token, collectionId: collection.id, collectionKey: [...collection.key], size, contentSource: content.toString() };
  const first = await openPage();
  await first.evaluate(async ({ api, token, collectionId, collectionKey, size, contentSource }) => {
    const content = new Function(`return ${contentSource}`)();
    const { default: init, Ferry } = await import('/pkg/index.js');
    await init();
    const ferry = await Ferry.open({ endpoint: api, token, database: 'reload', chunksPerPart: 2, parallelParts: 2 });
    await ferry.setCollectionKey(collectionId, Uint8Array.from(collectionKey));
    await ferry.enqueue([{ collectionId, file: new File([content(size, 7)], 'video.mp4', { type: 'video/mp4' }) }]);
    ferry.sync({}); // not awaited: the reload interrupts it
  }, params);

  const partsSent = async () => {
    const { counts } = await (await api('/admin/requests')).json();
    return Object.entries(counts).filter(([k]) => k.startsWith('s3:UploadPart /') && !(k in baseline));
  };
  // Up to two parts go out together (one while the link is unmeasured);
  // the page is reloaded as the third starts.
  const started = Date.now();
  while ((await partsSent()).length < 3) {
    assert.ok(Date.now() - started < 60_000, 'three parts within a minute');
    await new Promise((r) => setTimeout(r, 20));
  }
  await first.reload(); // the page and its run die here
  await first.close();
  const { counts } = await (await api('/admin/requests')).json();
  assert.equal(counts['s3:CompleteMultipartUpload'], baseline['s3:CompleteMultipartUpload'], 'the reload came before the upload finished');

  const second = await openPage();
  const result = await second.evaluate(async ({ api, token }) => {
    const { default: init, Ferry } = await import('/pkg/index.js');
    await init();
    const ferry = await Ferry.open({ endpoint: api, token, database: 'reload', chunksPerPart: 2, parallelParts: 2 });
    const [before] = await ferry.items({});
    const report = await ferry.sync({});
    const status = await ferry.status();
    const items = await ferry.items({});
    ferry.close();
    return { report, status, items, recordedBytes: before.bytesSent };
  }, params);
  assert.equal(result.report.filesDone, 1, JSON.stringify(result));
  // What the database held after the reload: whole parts of 2 chunks.
  const recorded = result.recordedBytes / (2 * (4 * MIB + 17));
  assert.ok(Number.isInteger(recorded) && recorded >= 1 && recorded <= 2, `${recorded} parts recorded`);
  assert.equal(result.status.done, 1);

  const parts = await partsSent();
  assert.equal(parts.length, 4, JSON.stringify(parts));
  const resent = parts.filter(([, count]) => count > 1);
  assert.ok(resent.every(([key]) => Number(key.split('#').at(-1)) > recorded),
    `recorded parts (${recorded}) were not sent again: ${JSON.stringify(parts)}`);
  assert.ok(parts.every(([, count]) => count <= 2), 'a part in flight is redone at most once');

  const files = await serverFiles(collection);
  assert.equal(files.length, 1);
  assert.ok(Buffer.from(content(size, 7)).equals(files[0].plaintext));
  assert.equal(files[0].metadata.fileType, 1, 'video from the MIME type');
});

async function setFaults(config) {
  await api('/admin/faults', { method: 'PUT', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(config) });
}

test('faults on every route: each file lands exactly once, duplicates are skipped', async () => {
  const collection = await newCollection();
  const count = 40;
  await setFaults({ seed: 1125, rules: [{ route: '*', errorRate: 0.2 }] });
  let result;
  try {
    const page = await openPage();
    result = await page.evaluate(async ({ api, token, collectionId, collectionKey, count, contentSource }) => {
      const content = new Function(`return ${contentSource}`)();
      const { default: init, Ferry } = await import('/pkg/index.js');
      await init();
      const ferry = await Ferry.open({ endpoint: api, token, database: 'faults' });
      await ferry.setCollectionKey(collectionId, Uint8Array.from(collectionKey));
      const file = (i) => new File([content(1000 + i * 397, 50 + i)], `IMG_${i}.jpg`, { type: 'image/jpeg' });
      const items = Array.from({ length: count }, (_, i) => ({ collectionId, file: file(i) }));
      // The first five again: same bytes, same title, same album.
      for (let i = 0; i < 5; i++) items.push({ collectionId, file: file(i) });
      await ferry.enqueue(items);
      const reports = [];
      // A file unlucky several times in a row backs off for a minute or
      // more (the retry is waited for in a run only within 30 s): runs go
      // on as the hint says, until a time no backoff here reaches.
      const giveUpAt = Date.now() + 240_000;
      for (;;) {
        const report = await ferry.sync({});
        reports.push(report.stoppedBecause);
        const s = await ferry.status();
        if (s.queued + s.hashing + s.uploading + s.waiting === 0 || Date.now() > giveUpAt) break;
        const hint = Math.min(report.nextRunHint ?? 1000, giveUpAt - Date.now());
        if (hint > 0) await new Promise((r) => setTimeout(r, hint));
      }
      const status = await ferry.status();
      // What is left part-way says why, if the loop gave up.
      const left = status.done === count ? [] : (await ferry.items({ limit: 100 })).filter((i) => !['done', 'skipped'].includes(i.state));
      ferry.close();
      return { status, reports, left };
    }, { api: server.api, token: server.token, collectionId: collection.id, collectionKey: [...collection.key], count, contentSource: content.toString() });
    const { injected } = await (await api('/admin/faults')).json();
    assert.ok(injected.length > 20, `faults were injected: ${injected.length}`);
  } finally {
    await setFaults({ rules: [{ route: 's3:UploadPart', latencyMs: 250 }] });
  }
  assert.equal(result.status.done, count, JSON.stringify(result));
  assert.equal(result.status.skipped, 5);
  assert.equal(result.status.failed, 0);
  const files = await serverFiles(collection);
  assert.equal(files.length, count, 'each file exactly once');
  for (let i = 0; i < count; i++) {
    const file = files.find((f) => f.metadata.title === `IMG_${i}.jpg`);
    assert.ok(Buffer.from(content(1000 + i * 397, 50 + i)).equals(file.plaintext), `IMG_${i}.jpg`);
  }
});

test('401 blocks the queue; setToken and resume() carry on', async () => {
  const collection = await newCollection();
  const page = await openPage();
  const result = await page.evaluate(async ({ api, token, collectionId, collectionKey }) => {
    const { default: init, Ferry } = await import('/pkg/index.js');
    await init();
    const ferry = await Ferry.open({ endpoint: api, token: 'an-expired-session', database: 'auth' });
    await ferry.setCollectionKey(collectionId, Uint8Array.from(collectionKey));
    await ferry.enqueue([{ collectionId, file: new File([new Uint8Array(5000).fill(3)], 'a.jpg') }]);
    const blocked = await ferry.sync({});
    const whileBlocked = await ferry.status();
    const again = await ferry.sync({});
    ferry.setToken(token);
    await ferry.resume();
    const resumed = await ferry.sync({});
    const after = await ferry.status();
    ferry.close();
    return { blocked, whileBlocked, again, resumed, after };
  }, { api: server.api, token: server.token, collectionId: collection.id, collectionKey: [...collection.key] });
  assert.equal(result.blocked.stoppedBecause, 'auth');
  assert.equal(result.whileBlocked.blocked, 'auth');
  assert.equal(result.whileBlocked.failed, 0, 'nothing dropped');
  assert.equal(result.again.stoppedBecause, 'auth', 'stays blocked until resume()');
  assert.equal(result.resumed.filesDone, 1);
  assert.equal(result.after.blocked, null);
  assert.equal((await serverFiles(collection)).length, 1);
});

test('an AbortSignal ends sync early; the next sync finishes the upload', async () => {
  const collection = await newCollection();
  const page = await openPage();
  const result = await page.evaluate(async ({ api, token, collectionId, collectionKey }) => {
    const { default: init, Ferry } = await import('/pkg/index.js');
    await init();
    const ferry = await Ferry.open({ endpoint: api, token, database: 'signal', chunksPerPart: 2 });
    await ferry.setCollectionKey(collectionId, Uint8Array.from(collectionKey));
    await ferry.enqueue([{ collectionId, file: new File([new Uint8Array(30 * 1024 * 1024).fill(9)], 'long.mp4') }]);
    const controller = new AbortController();
    const firstPart = new Promise((resolve) => ferry.on('progress', resolve));
    const stopped = ferry.sync({ signal: controller.signal });
    await firstPart;
    const abortedAt = performance.now();
    controller.abort();
    const early = await stopped;
    const stoppedWithinMs = performance.now() - abortedAt;
    const between = await ferry.status();
    const preAborted = new AbortController();
    preAborted.abort();
    const none = await ferry.sync({ signal: preAborted.signal });
    let badSignal = null;
    try { await ferry.sync({ signal: 'stop' }); } catch (err) { badSignal = err.code; }
    const finished = await ferry.sync({});
    const after = await ferry.status();
    ferry.close();
    return { early, stoppedWithinMs, between, none, badSignal, finished, after };
  }, { api: server.api, token: server.token, collectionId: collection.id, collectionKey: [...collection.key] });
  assert.equal(result.early.stoppedBecause, 'budget');
  assert.equal(result.early.filesDone, 0);
  assert.ok(result.stoppedWithinMs < 1000, `stopped ${result.stoppedWithinMs} ms after the abort`);
  assert.equal(result.between.done, 0);
  assert.equal(result.none.stoppedBecause, 'budget');
  assert.equal(result.none.bytesUploaded, 0);
  assert.equal(result.badSignal, 'BAD_INPUT');
  assert.equal(result.finished.filesDone, 1);
  assert.equal(result.after.done, 1);
  const files = await serverFiles(collection);
  assert.equal(files.length, 1);
  assert.ok(files[0].plaintext.equals(Buffer.alloc(30 * MIB, 9)));
});

test('an abort or close() is answered within a second while the run waits for a retry', async () => {
  const collection = await newCollection();
  const setFaults = (rules) => api('/admin/faults', {
    method: 'PUT', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ rules }),
  });
  // Every URL request answers 503: the run waits in-run for each retry
  // (about 1 s, 2 s, 4 s, ...), then asks again.
  await setFaults([{ route: 'GET /files/upload-urls', errorRate: 1.0 }]);
  try {
    const page = await openPage();
    const result = await page.evaluate(async ({ api, token, collectionId, collectionKey }) => {
      const { default: init, Ferry } = await import('/pkg/index.js');
      await init();
      const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
      const settledWithin = async (promise, stop) => {
        const outcome = promise.then((report) => ({ report }), (err) => ({ error: err.code ?? String(err) }));
        // Inside the third wait (from about 3 s to 7 s in).
        await sleep(3500);
        const at = performance.now();
        stop();
        const result = await outcome;
        return { ...result, ms: performance.now() - at };
      };
      const open = async (database) => {
        const ferry = await Ferry.open({ endpoint: api, token, database });
        await ferry.setCollectionKey(collectionId, Uint8Array.from(collectionKey));
        await ferry.enqueue([{ collectionId, file: new File([new Uint8Array(5000).fill(3)], 'a.jpg') }]);
        return ferry;
      };
      const first = await open('abort-wait');
      const controller = new AbortController();
      const aborted = await settledWithin(first.sync({ signal: controller.signal }), () => controller.abort());
      const item = (await first.items())[0];
      first.close();
      const second = await open('close-wait');
      const closed = await settledWithin(second.sync({}), () => second.close());
      return { aborted, item, closed };
    }, { api: server.api, token: server.token, collectionId: collection.id, collectionKey: [...collection.key] });
    assert.ok(result.aborted.ms < 1000, `the abort was answered after ${result.aborted.ms} ms`);
    assert.equal(result.aborted.report?.stoppedBecause, 'budget', JSON.stringify(result.aborted));
    assert.equal(result.item.state, 'waiting', 'nothing lost: the item waits for the next run');
    assert.equal(result.item.error?.code, 'RETRYING');
    assert.ok(result.closed.ms < 1000, `close() was answered after ${result.closed.ms} ms`);
  } finally {
    await setFaults([{ route: 's3:UploadPart', latencyMs: 250 }]);
  }
});

test('bad input: typed errors, reasons on items, the rest of the queue untouched', async () => {
  const collection = await newCollection();
  const page = await openPage();
  const result = await page.evaluate(async ({ api, token, collectionId, collectionKey }) => {
    const { default: init, Ferry, FerryError } = await import('/pkg/index.js');
    await init();
    const code = async (promise) => {
      try { await promise; return 'no error'; } catch (err) { return err instanceof FerryError ? err.code : `not a FerryError: ${err}`; }
    };
    const hosts = {
      negative: { size: -5, lastModified: 0, read: async () => new Uint8Array(0) },
      throws: { size: 1000, lastModified: 0, read: async () => { throw new Error('the disk went away'); } },
      short: { size: 1000, lastModified: 0, read: async (offset, length) => new Uint8Array(length - 1) },
    };
    const ferry = await Ferry.open({ endpoint: api, token, database: 'bad', resolveSource: (ref) => hosts[ref] ?? null });
    await ferry.setCollectionKey(collectionId, Uint8Array.from(collectionKey));
    const errors = {
      notArray: await code(ferry.enqueue('photo.jpg')),
      noFile: await code(ferry.enqueue([{ collectionId }])),
      fileNotBlob: await code(ferry.enqueue([{ collectionId, file: 'photo.jpg' }])),
      badSource: await code(ferry.enqueue([{ collectionId, source: '/etc/passwd', title: 'x' }])),
      noKey: await code(ferry.enqueue([{ collectionId: collectionId + 1000, file: new File([new Uint8Array(3)], 'k.jpg') }])),
      badType: await code(ferry.enqueue([{ collectionId, file: new File([new Uint8Array(3)], 't.jpg'), fileType: 'gif' }])),
      livePhoto: await code(ferry.enqueue([{ collectionId, file: new File([new Uint8Array(3)], 'l.heic'), fileType: 'livePhoto' }])),
      badOpen: await code(Ferry.open({ endpoint: api })),
      badId: await code(ferry.retry(-1)),
      nanBudget: await code(ferry.sync({ budgetMs: NaN })),
      negativeBudget: await code(ferry.sync({ budgetMs: -1 })),
      unknownTrigger: await code(ferry.sync({ trigger: 'cron' })),
      badPolicies: await code(Ferry.open({ endpoint: api, token, database: 'bad-policies', policies: { videosMinBudgetMs: -5 } })),
    };
    // A zero budget is a well-defined no-op, reported and recorded.
    const zero = await ferry.sync({ budgetMs: 0, trigger: 'push' });
    const closedFerry = await Ferry.open({ endpoint: api, token, database: 'closed' });
    closedFerry.close();
    errors.closed = await code(closedFerry.sync({}));
    errors.closedStatus = await code(closedFerry.status());
    const afterErrors = await ferry.status();
    const ids = await ferry.enqueue([
      { collectionId, file: new File([new Uint8Array(2000).fill(1)], 'good.jpg') },
      { collectionId, source: 'host:negative', title: 'negative.jpg' },
      { collectionId, source: 'host:throws', title: 'throws.jpg' },
      { collectionId, source: 'host:short', title: 'short.jpg' },
      { collectionId, source: 'host:gone', title: 'gone.jpg' },
    ]);
    await ferry.sync({ budgetMs: 3000 });
    const items = await ferry.items({});
    ferry.close();
    return { errors, afterErrors, ids, items, zero };
  }, { api: server.api, token: server.token, collectionId: collection.id, collectionKey: [...collection.key] });

  assert.deepEqual(result.errors, {
    notArray: 'BAD_INPUT', noFile: 'BAD_ITEM', fileNotBlob: 'BAD_ITEM', badSource: 'BAD_ITEM',
    noKey: 'MISSING_COLLECTION_KEY', badType: 'BAD_ITEM', livePhoto: 'BAD_ITEM', badOpen: 'BAD_INPUT', badId: 'BAD_INPUT',
    nanBudget: 'BAD_INPUT', negativeBudget: 'BAD_INPUT', unknownTrigger: 'BAD_INPUT', badPolicies: 'BAD_INPUT',
    closed: 'CLOSED', closedStatus: 'CLOSED',
  });
  assert.equal(result.zero.stoppedBecause, 'budget');
  assert.equal(result.zero.filesDone, 0);
  assert.equal(result.zero.budgetMs, 0);
  assert.equal(result.afterErrors.queued, 0, 'refused batches queue nothing');
  const byTitle = Object.fromEntries(result.items.map((i) => [i.title, i]));
  assert.equal(byTitle['good.jpg'].state, 'done');
  assert.equal(byTitle['negative.jpg'].state, 'failed');
  assert.equal(byTitle['negative.jpg'].error.code, 'BAD_SOURCE');
  assert.equal(byTitle['gone.jpg'].state, 'failed');
  assert.equal(byTitle['gone.jpg'].error.code, 'SOURCE_GONE');
  for (const title of ['throws.jpg', 'short.jpg']) {
    assert.equal(byTitle[title].state, 'waiting', `${title} is retried later`);
    assert.equal(byTitle[title].error.code, 'RETRYING');
    assert.ok(byTitle[title].error.message.length > 10);
  }
  assert.match(byTitle['throws.jpg'].error.message, /disk went away/);
  assert.match(byTitle['short.jpg'].error.message, /got 999/);
  assert.equal((await serverFiles(collection)).length, 1);
});

test('a FileSystemFileHandle is re-read each run; a changed file restarts with its new content', async () => {
  const collection = await newCollection();
  const page = await openPage();
  const result = await page.evaluate(async ({ api, token, collectionId, collectionKey, contentSource }) => {
    const content = new Function(`return ${contentSource}`)();
    const { default: init, Ferry } = await import('/pkg/index.js');
    await init();
    // The origin-private file system gives real handles without a picker.
    const root = await navigator.storage.getDirectory();
    const handle = await root.getFileHandle('watched.mp4', { create: true });
    const write = async (bytes) => {
      const writable = await handle.createWritable();
      await writable.write(bytes);
      await writable.close();
    };
    await write(content(20 * 1024 * 1024, 1));
    // One part per step, so the change lands between two parts.
    const ferry = await Ferry.open({ endpoint: api, token, database: 'handles', chunksPerPart: 2, parallelParts: 1 });
    await ferry.setCollectionKey(collectionId, Uint8Array.from(collectionKey));
    await ferry.enqueue([{ collectionId, handle }]);
    // Stop after the first part, change the file, then run again.
    const controller = new AbortController();
    ferry.on('progress', () => controller.abort());
    const first = await ferry.sync({ signal: controller.signal });
    await new Promise((r) => setTimeout(r, 1100)); // a later lastModified
    await write(content(20 * 1024 * 1024, 2));
    const changes = [];
    ferry.on('item', (item) => changes.push(item.error?.code ?? item.state));
    const second = await ferry.sync({});
    const items = await ferry.items({});
    ferry.close();
    await root.removeEntry('watched.mp4');
    return { first, second, changes, items };
  }, { api: server.api, token: server.token, collectionId: collection.id, collectionKey: [...collection.key], contentSource: content.toString() });

  assert.equal(result.first.stoppedBecause, 'budget');
  assert.equal(result.second.filesDone, 1, JSON.stringify(result));
  assert.ok(result.changes.includes('SOURCE_CHANGED'), `the change was noticed: ${result.changes}`);
  assert.equal(result.items[0].title, 'watched.mp4', 'the title comes from the handle');
  assert.equal(result.items[0].state, 'done');
  const files = await serverFiles(collection);
  assert.equal(files.length, 1);
  assert.ok(Buffer.from(content(20 * MIB, 2)).equals(files[0].plaintext), 'the server has the changed file');
  assert.equal(files[0].metadata.fileType, 1, 'a handle has no MIME type: video from the .mp4 name');
});

test('50 MiB, a batch of 200 and a real photo: every byte round-trips, thumbnails are made, the database holds no key', async () => {
  const collection = await newCollection();
  const big = 50 * MIB;
  const page = await openPage();
  const params = { api: server.api, token: server.token, collectionId: collection.id, collectionKey: [...collection.key], big, contentSource: content.toString() };
  const result = await page.evaluate(async ({ api, token, collectionId, collectionKey, big, contentSource }) => {
    const content = new Function(`return ${contentSource}`)();
    const { default: init, Ferry } = await import('/pkg/index.js');
    await init();
    // A real 1600×1200 photo, drawn and encoded by the browser.
    const canvas = new OffscreenCanvas(1600, 1200);
    const context = canvas.getContext('2d');
    const gradient = context.createLinearGradient(0, 0, 1600, 1200);
    gradient.addColorStop(0, '#1d4ed8');
    gradient.addColorStop(1, '#f59e0b');
    context.fillStyle = gradient;
    context.fillRect(0, 0, 1600, 1200);
    const photo = await canvas.convertToBlob({ type: 'image/png' });
    const photoBytes = [...new Uint8Array(await photo.arrayBuffer())];

    // The sizes of what the device is asked to decode for a thumbnail.
    const decoded = [];
    const decode = globalThis.createImageBitmap;
    globalThis.createImageBitmap = (source, ...rest) => {
      decoded.push(source.size);
      return decode(source, ...rest);
    };
    const ferry = await Ferry.open({ endpoint: api, token, database: 'large' });
    await ferry.setCollectionKey(collectionId, Uint8Array.from(collectionKey));
    const items = [
      { collectionId, file: new File([content(big, 50)], 'big.mov', { type: 'video/quicktime' }) },
      { collectionId, file: new File([photo], 'sunset.png', { type: 'image/png' }) },
    ];
    for (let i = 0; i < 200; i++) items.push({ collectionId, file: new File([content(1000 + i, 1000 + i)], `batch-${i}.jpg`) });
    const ids = await ferry.enqueue(items);
    const report = await ferry.sync({});
    const status = await ferry.status();
    ferry.close();
    return { ids, report, status, photoBytes, decoded };
  }, params);
  assert.equal(result.ids.length, 202);
  assert.equal(result.report.filesDone, 202, JSON.stringify(result.report));
  assert.equal(result.status.done, 202);

  const files = await serverFiles(collection);
  assert.equal(files.length, 202, 'each file exactly once');
  const byTitle = new Map(files.map((f) => [f.metadata.title, f]));
  assert.ok(Buffer.from(content(big, 50)).equals(byTitle.get('big.mov').plaintext), '50 MiB round-trips');
  assert.equal(byTitle.get('big.mov').metadata.fileType, 1);
  for (let i = 0; i < 200; i++) {
    const file = byTitle.get(`batch-${i}.jpg`);
    assert.ok(file && Buffer.from(content(1000 + i, 1000 + i)).equals(file.plaintext), `batch-${i}.jpg round-trips`);
    assert.equal(file.metadata.hash, toB64(sodium.crypto_generichash(64, content(1000 + i, 1000 + i), null)));
  }
  const photo = byTitle.get('sunset.png');
  assert.ok(Buffer.from(result.photoBytes).equals(photo.plaintext));

  // The photo's thumbnail was made on the device: a JPEG of at most 720 px
  // and 100 KB with the photo's aspect ratio; files that are not images
  // get the small placeholder.
  const { jpeg } = await serverThumbnail(collection, photo.record);
  assert.ok(jpeg.length <= 100 * 1024, `${jpeg.length} bytes`);
  assert.deepEqual(jpegSize(jpeg), { width: 720, height: 540 });
  const placeholder = await serverThumbnail(collection, byTitle.get('batch-0.jpg').record);
  assert.ok(placeholder.jpeg.length < 200, 'a placeholder for what does not decode');
  // A video gets the placeholder without being decoded: the decoder would
  // read all of it first.
  assert.ok((await serverThumbnail(collection, byTitle.get('big.mov').record)).jpeg.length < 200);
  assert.ok(result.decoded.includes(result.photoBytes.length), 'the photo was decoded');
  assert.ok(!result.decoded.includes(big), `the video was not: ${result.decoded.length} decodes`);

  // A dump of every store, keys and values, holds neither the collection
  // key nor any file key, raw or in base64.
  const secrets = [collection.key];
  for (const title of ['big.mov', 'sunset.png', 'batch-7.jpg']) secrets.push((await serverThumbnail(collection, byTitle.get(title).record)).fileKey);
  const found = await page.evaluate(async ({ secrets }) => {
    const db = await new Promise((resolve, reject) => {
      const request = indexedDB.open('large');
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error);
    });
    const chunks = [];
    const flatten = (value) => {
      if (value instanceof ArrayBuffer) chunks.push(new Uint8Array(value));
      else if (ArrayBuffer.isView(value)) chunks.push(new Uint8Array(value.buffer, value.byteOffset, value.byteLength));
      else if (typeof value === 'string') chunks.push(new TextEncoder().encode(value));
      else if (value instanceof CryptoKey) chunks.push(new TextEncoder().encode(`${value.extractable}`));
      else if (Array.isArray(value)) value.forEach(flatten);
      else if (value && typeof value === 'object') Object.entries(value).forEach(([k, v]) => { flatten(k); flatten(v); });
      else chunks.push(new TextEncoder().encode(String(value)));
    };
    let records = 0;
    for (const name of db.objectStoreNames) {
      await new Promise((resolve, reject) => {
        const request = db.transaction(name).objectStore(name).openCursor();
        request.onsuccess = () => {
          const cursor = request.result;
          if (!cursor) return resolve();
          records++;
          flatten(cursor.key);
          flatten(cursor.value);
          cursor.continue();
        };
        request.onerror = () => reject(request.error);
      });
    }
    db.close();
    const haystack = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
    let at = 0;
    for (const c of chunks) { haystack.set(c, at); at += c.length; }
    const contains = (needle) => {
      outer: for (let i = 0; i + needle.length <= haystack.length; i++) {
        for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
        return true;
      }
      return false;
    };
    const b64 = (bytes) => new TextEncoder().encode(btoa(String.fromCharCode(...bytes)));
    return { records, bytes: haystack.length, found: secrets.map((s) => contains(Uint8Array.from(s)) || contains(b64(s))) };
  }, { secrets: secrets.map((s) => [...s]) });
  assert.ok(found.records > 200, `the dump saw the queue: ${found.records} records`);
  assert.deepEqual(found.found, secrets.map(() => false), 'no key in the dump');
});

test('quota exceeded blocks the queue with `quota`; nothing is lost', async () => {
  // A server of its own with a 3 MB quota.
  const small = await startServer(['--quota-bytes', String(3_000_000)]);
  try {
    const page = await openPage();
    const key = sodium.randombytes_buf(32);
    const result = await page.evaluate(async ({ api, token, key }) => {
      const { default: init, Ferry, toBase64 } = await import('/pkg/index.js');
      await init();
      const b64 = (n) => toBase64(crypto.getRandomValues(new Uint8Array(n)));
      const response = await fetch(`${api}/collections`, {
        method: 'POST',
        headers: { 'X-Auth-Token': token, 'Content-Type': 'application/json' },
        body: JSON.stringify({ encryptedKey: b64(48), keyDecryptionNonce: b64(24), encryptedName: b64(16), nameDecryptionNonce: b64(24), type: 'album' }),
      });
      const collectionId = (await response.json()).collection.id;
      const ferry = await Ferry.open({ endpoint: api, token, database: 'quota' });
      await ferry.setCollectionKey(collectionId, Uint8Array.from(key));
      const fill = (n, v) => new Uint8Array(n).fill(v);
      await ferry.enqueue([
        { collectionId, file: new File([fill(2_000_000, 1)], 'one.jpg') },
        { collectionId, file: new File([fill(2_000_000, 2)], 'two.jpg') },
      ]);
      const report = await ferry.sync({});
      const status = await ferry.status();
      const items = await ferry.items({});
      ferry.close();
      return { report, status, items };
    }, { api: small.api, token: small.token, key: [...key] });
    assert.equal(result.report.stoppedBecause, 'quota', JSON.stringify(result.report));
    assert.equal(result.status.blocked, 'quota');
    assert.equal(result.status.done, 1);
    // Both files go at once (four files in flight), so either may be the
    // one the quota turns away.
    const over = result.items.filter((i) => i.state !== 'done');
    assert.equal(over.length, 1, JSON.stringify(result.items));
    assert.notEqual(over[0].state, 'failed', 'the file waits for space; it is not dropped');
  } finally {
    await small.stop();
  }
});

// What Chromium holds for a File picked from disk: a reference to the disk
// file (kept by reference in IndexedDB too). Deleted on disk, a File that
// was read before fails every later read with NotFoundError; one never read
// reports size 0 and reads as empty. Either way the item fails with
// SOURCE_GONE and nothing of it reaches the server, whether the file went
// before Ferry read it or after Ferry had started on it, and the rest goes
// on.
test('a picked file deleted on disk fails with SOURCE_GONE, before or after it was read', async () => {
  const { mkdtempSync, writeFileSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const collection = await newCollection();
  const dir = mkdtempSync(join(tmpdir(), 'ferry-picked-'));
  const files = { 'started.jpg': 9 * MIB + 3, 'unread.jpg': 300_001, 'kept.jpg': 200_003 };
  for (const [name, size] of Object.entries(files)) writeFileSync(join(dir, name), Buffer.from(content(size, size)));
  const page = await openPage();
  await page.evaluate(async ({ api, token, collectionId, collectionKey }) => {
    const input = Object.assign(document.createElement('input'), { type: 'file', multiple: true, id: 'picker' });
    document.body.append(input);
    const { default: init, Ferry } = await import('/pkg/index.js');
    await init();
    // One file at a time, so that one file is still unread when the run stops.
    window.ferry = await Ferry.open({ endpoint: api, token, database: 'picked', parallelFiles: 1 });
    await window.ferry.setCollectionKey(collectionId, Uint8Array.from(collectionKey));
  }, { api: server.api, token: server.token, collectionId: collection.id, collectionKey: [...collection.key] });
  await page.setInputFiles('#picker', Object.keys(files).map((name) => join(dir, name)));
  await page.evaluate(async (collectionId) => {
    await window.ferry.enqueue([...document.querySelector('#picker').files].map((file) => ({ collectionId, file })));
  }, collection.id);

  // The first item's first step lands (its file opened and its head read
  // for the metadata), and the run is stopped there.
  const first = await page.evaluate(async () => {
    const stop = new AbortController();
    const started = (item) => {
      if (item.title === 'started.jpg' && item.state !== 'queued') stop.abort();
    };
    window.ferry.on('item', started);
    const report = await window.ferry.sync({ signal: stop.signal });
    window.ferry.off('item', started);
    return { report, items: await window.ferry.items() };
  });
  assert.equal(first.report.stoppedBecause, 'budget', JSON.stringify(first.report));
  const started = first.items.find((i) => i.title === 'started.jpg');
  assert.equal(started.size, files['started.jpg'], 'read before it went');
  assert.equal(first.items.find((i) => i.title === 'unread.jpg').size, null, 'never read');

  rmSync(join(dir, 'started.jpg'));
  rmSync(join(dir, 'unread.jpg'));
  const items = await page.evaluate(async () => {
    await window.ferry.sync();
    const out = await window.ferry.items();
    window.ferry.close();
    return out;
  });
  const byTitle = Object.fromEntries(items.map((i) => [i.title, i]));
  for (const gone of ['started.jpg', 'unread.jpg']) {
    assert.equal(byTitle[gone].state, 'failed', JSON.stringify(byTitle[gone]));
    assert.equal(byTitle[gone].error.code, 'SOURCE_GONE');
    assert.match(byTitle[gone].error.message, /no longer there/);
  }
  assert.equal(byTitle['kept.jpg'].state, 'done');
  const onServer = await serverFiles(collection);
  assert.deepEqual(onServer.map((f) => f.metadata.title), ['kept.jpg'], 'nothing of the deleted files was uploaded');
  rmSync(dir, { recursive: true, force: true });
});
