// Reading a large file in real Chromium, as the engine does: a stored copy
// of 256 MiB, in a fresh private context (where blob storage is memory
// only), read through `readBlob` in 4 MiB pieces twice over (hashing, then
// encryption), then from half-way with pauses, as a later run resumes.
// Read by a slice per piece, blob storage filled and the copy read as
// NotReadableError part-way through the first pass.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { serveRepo, launchChromium } from './browser.mjs';

const [site, browser] = await Promise.all([serveRepo(), launchChromium()]);
after(async () => {
  await browser.close();
  site.close();
});

test('a 256 MiB stored copy reads whole, twice, in 4 MiB pieces, and from half-way with pauses', async () => {
  const context = await browser.newContext();
  try {
    const page = await context.newPage();
    await page.goto(`${site.origin}/tests/js/fixtures/page.html`);
    const result = await page.evaluate(async () => {
      const { readBlob, forgetKeptFiles } = await import('/src/web/platform.js');
      const MIB = 1024 * 1024;
      const SIZE = 256 * MIB;
      // Each 4 MiB piece starts with its own index, so a piece read from
      // the wrong place shows.
      const bytes = new Uint8Array(SIZE);
      for (let i = 0; i < SIZE; i += 65536) crypto.getRandomValues(bytes.subarray(i, i + 65536));
      for (let piece = 0; piece < SIZE / (4 * MIB); piece++) new DataView(bytes.buffer).setUint32(piece * 4 * MIB, piece);
      const request = indexedDB.open('reads', 1);
      request.onupgradeneeded = () => request.result.createObjectStore('copies');
      const db = await new Promise((resolve, reject) => {
        request.onsuccess = () => resolve(request.result);
        request.onerror = () => reject(request.error);
      });
      const put = db.transaction('copies', 'readwrite');
      put.objectStore('copies').put(new Blob([bytes]), 1);
      await new Promise((resolve, reject) => {
        put.oncomplete = resolve;
        put.onerror = () => reject(put.error);
      });
      const copy = await new Promise((resolve) => {
        const get = db.transaction('copies').objectStore('copies').get(1);
        get.onsuccess = () => resolve(get.result);
      });
      const digest = async (data) => new Uint8Array(await crypto.subtle.digest('SHA-256', data));
      const expected = await digest(bytes);
      const passes = [];
      for (let pass = 0; pass < 2; pass++) {
        const whole = new Uint8Array(SIZE);
        for (let at = 0; at < SIZE; at += 4 * MIB) {
          const piece = new Uint8Array(4 * MIB);
          let filled = 0;
          for (const part of await readBlob(copy, at, at + 4 * MIB)) {
            piece.set(part, filled);
            filled += part.length;
          }
          if (filled !== 4 * MIB) return { error: `piece at ${at}: ${filled} bytes` };
          if (new DataView(piece.buffer).getUint32(0) !== at / (4 * MIB)) return { error: `piece at ${at} came from elsewhere` };
          whole.set(piece, at);
        }
        const got = await digest(whole);
        passes.push(got.every((b, i) => b === expected[i]));
      }
      // A later run resuming half-way, with steps that wait for their
      // parts in between (each wait lets the stream's reader go).
      forgetKeptFiles();
      const half = bytes.subarray(SIZE / 2);
      const resumed = new Uint8Array(SIZE / 2);
      for (let at = SIZE / 2; at < SIZE; at += 4 * MIB) {
        if (at % (32 * MIB) === 0) await new Promise((r) => setTimeout(r, 600));
        let filled = 0;
        for (const part of await readBlob(copy, at, at + 4 * MIB)) {
          resumed.set(part, at - SIZE / 2 + filled);
          filled += part.length;
        }
        if (filled !== 4 * MIB) return { error: `resumed piece at ${at}: ${filled} bytes` };
      }
      const [want, got] = await Promise.all([digest(half), digest(resumed)]);
      passes.push(got.every((b, i) => b === want[i]));
      forgetKeptFiles();
      return { passes };
    });
    assert.deepEqual(result, { passes: [true, true, true] });
  } finally {
    await context.close();
  }
});
