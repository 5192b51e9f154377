// The device's storage running out, in headless Chromium with the origin's
// quota turned down over the DevTools Protocol: an `enqueue` of files that
// do not fit stores nothing, says how many would fit, and leaves the queue
// as it was and usable.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { browserSuite, fixturePage } from './suite.mjs';
import { MIB, newCollection as newCollectionOn, serverFiles as serverFilesOn } from './library.mjs';

const suite = browserSuite();

test('an enqueue past the storage quota stores nothing, says how much fits, and the queue goes on', async () => {
  const { server, site } = suite;
  const collection = await newCollectionOn(server);
  const { context, page, cdp } = await fixturePage(suite);
  page.on('pageerror', (err) => console.log('# page error:', err.message));
  // Room for about two of the 6 MiB files below, after what Ferry itself keeps.
  await cdp.send('Storage.overrideQuotaForOrigin', { origin: site.origin, quotaSize: 14 * MIB });

  const result = await page.evaluate(async ({ api, token, collectionId, collectionKey, MIB }) => {
    const { default: init, Ferry, FerryError } = await import('/pkg/index.js');
    await init();
    const ferry = await Ferry.open({ endpoint: api, token, database: 'quota' });
    await ferry.setCollectionKey(collectionId, Uint8Array.from(collectionKey));
    const file = (name, size) => new File([crypto.getRandomValues(new Uint8Array(64 * 1024)), new Uint8Array(size - 64 * 1024)], name, { type: 'image/jpeg' });
    const early = await ferry.enqueue([{ collectionId, file: file('early.jpg', 200 * 1024) }]);

    const big = [1, 2, 3, 4, 5].map((i) => ({ collectionId, file: file(`big-${i}.jpg`, 6 * MIB) }));
    const usage = async () => (await navigator.storage.estimate()).usage;
    const usageBefore = await usage();
    let refused = null;
    try {
      await ferry.enqueue(big);
    } catch (err) {
      refused = { isFerryError: err instanceof FerryError, code: err.code, fits: err.fits, message: err.message };
    }
    const afterRefusal = await ferry.status();
    const items = await ferry.items({});
    const storedCopies = await new Promise((resolve, reject) => {
      const request = indexedDB.open('quota');
      request.onerror = () => reject(request.error);
      request.onsuccess = () => {
        const db = request.result;
        const count = db.transaction('sources').objectStore('sources').count();
        count.onsuccess = () => { db.close(); resolve(count.result); };
      };
    });
    // What it said would fit does fit, once the browser has taken back the
    // space of the refused batch (it frees deleted files asynchronously).
    for (let i = 0; i < 50 && (await usage()) > usageBefore + 256 * 1024; i++) {
      await new Promise((r) => setTimeout(r, 100));
    }
    const fitted = refused?.fits > 0 ? await ferry.enqueue(big.slice(0, refused.fits)) : [];
    const report = await ferry.sync({ trigger: 'foreground' });
    const status = await ferry.status();
    ferry.close();
    return { early, refused, afterRefusal, items: items.length, storedCopies, fitted: fitted.length, report, status };
  }, { api: server.api, token: server.token, collectionId: collection.id, collectionKey: [...collection.key], MIB });
  await context.close();

  assert.ok(result.refused, 'the enqueue past the quota was refused');
  assert.equal(result.refused.isFerryError, true);
  assert.equal(result.refused.code, 'STORAGE_FULL', result.refused.message);
  assert.equal(typeof result.refused.fits, 'number');
  assert.ok(result.refused.fits >= 1 && result.refused.fits < 5, `fits: ${result.refused.fits}`);
  assert.match(result.refused.message, /of the 5 items would fit; nothing was queued/);
  // Nothing of the refused batch is queued or stored.
  assert.equal(result.afterRefusal.queued, 1);
  assert.equal(result.items, 1);
  assert.equal(result.storedCopies, 1, 'only the earlier file is stored');
  // The queue goes on: the earlier file and what fitted upload.
  assert.equal(result.fitted, result.refused.fits);
  assert.equal(result.report.filesDone, 1 + result.refused.fits, JSON.stringify(result.report));
  assert.equal(result.status.done, 1 + result.refused.fits);
  const files = await serverFilesOn(server, collection);
  assert.equal(files.length, 1 + result.refused.fits);
});

// Where blob storage is memory only (a private window, as each context
// here is), Chromium drops a Blob past what it holds: it is stored without
// complaint and reads as NotReadableError ever after. Queued, it would fail
// as a file gone at its first read; `enqueue` refuses the batch instead.
test('a file the browser dropped is refused at enqueue with STORAGE_FULL; the queue keeps what it had', async () => {
  const { server } = suite;
  const collection = await newCollectionOn(server);
  const { context, page } = await fixturePage(suite);
  const result = await page.evaluate(async ({ api, token, collectionId, collectionKey, MIB }) => {
    const { default: init, Ferry, FerryError } = await import('/pkg/index.js');
    await init();
    const ferry = await Ferry.open({ endpoint: api, token, database: 'dropped' });
    await ferry.setCollectionKey(collectionId, Uint8Array.from(collectionKey));
    const photo = (name) => new File([crypto.getRandomValues(new Uint8Array(64 * 1024))], name, { type: 'image/jpeg' });
    const early = await ferry.enqueue([{ collectionId, file: photo('early.jpg') }]);
    const readable = async (blob) => {
      try {
        await blob.slice(blob.size - 1).arrayBuffer();
        return true;
      } catch {
        return false;
      }
    };
    // Files of 256 MiB, kept, until the browser drops one.
    const held = [];
    let dropped = null;
    while (!dropped && held.length < 16) {
      const file = new File([new Uint8Array(256 * MIB)], `video-${held.length}.mp4`, { type: 'video/mp4' });
      if (await readable(file)) held.push(file);
      else dropped = file;
    }
    if (!dropped) return { error: `the browser kept ${held.length} files of 256 MiB` };
    let refused = null;
    try {
      await ferry.enqueue([{ collectionId, file: photo('late.jpg') }, { collectionId, file: dropped }]);
    } catch (err) {
      refused = { isFerryError: err instanceof FerryError, code: err.code, fits: err.fits, message: err.message };
    }
    const status = await ferry.status();
    const items = (await ferry.items({})).map((item) => item.title);
    const storedCopies = await new Promise((resolve, reject) => {
      const request = indexedDB.open('dropped');
      request.onerror = () => reject(request.error);
      request.onsuccess = () => {
        const db = request.result;
        const count = db.transaction('sources').objectStore('sources').count();
        count.onsuccess = () => { db.close(); resolve(count.result); };
      };
    });
    ferry.close();
    return { early: early.length, held: held.length, refused, status, items, storedCopies };
  }, { api: server.api, token: server.token, collectionId: collection.id, collectionKey: [...collection.key], MIB });
  await context.close();

  assert.equal(result.error, undefined, result.error);
  assert.ok(result.refused, `the batch with a dropped file was queued (${result.held} files held first)`);
  assert.equal(result.refused.isFerryError, true);
  assert.equal(result.refused.code, 'STORAGE_FULL', result.refused.message);
  assert.match(result.refused.message, /dropped its copy/);
  // The photo before it is stored or dropped alike, as storage allows.
  assert.ok([0, 1].includes(result.refused.fits), `fits: ${result.refused.fits}`);
  // Nothing of the batch is queued or stored; what was queued stays.
  assert.equal(result.status.queued, 1);
  assert.deepEqual(result.items, ['early.jpg']);
  assert.equal(result.storedCopies, 1);
});
