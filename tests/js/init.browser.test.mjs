// The package loads with a bare `init()` in a page, a module worker and a
// module service worker, and its errors are FerryErrors in each.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { serveRepo, launchChromium } from './browser.mjs';

let server;
let browser;
let page;

before(async () => {
  server = await serveRepo();
  browser = await launchChromium();
  page = await browser.newPage();
  await page.goto(`${server.origin}/tests/js/fixtures/page.html`);
});
after(async () => {
  await browser?.close();
  server?.close();
});

function assertHealthy(result) {
  assert.equal(result.failed, undefined, result.failed);
  assert.equal(result.roundTrip, true);
  assert.equal(result.ciphertextLength, 5 * 1024 * 1024 + 2 * 17);
  assert.deepEqual(result.error, { ferry: true, isError: true, code: 'DECRYPT_FAILED' });
}

test('in a page', async () => {
  assertHealthy(await page.evaluate(async () => (await import('/tests/js/fixtures/check.js')).selfCheck()));
});

test('in a module worker', async () => {
  assertHealthy(await page.evaluate(() => new Promise((resolve) => {
    const worker = new Worker('/tests/js/fixtures/worker.js', { type: 'module' });
    worker.onmessage = (event) => resolve(event.data);
    worker.onerror = (event) => resolve({ failed: event.message ?? 'worker error' });
  })));
});

test('in a module service worker', async () => {
  assertHealthy(await page.evaluate(async () => {
    const registration = await navigator.serviceWorker.register('/tests/js/fixtures/sw.js', {
      type: 'module', scope: '/tests/js/fixtures/',
    });
    const worker = registration.installing ?? registration.waiting ?? registration.active;
    if (worker.state !== 'activated') {
      await new Promise((resolve) => worker.addEventListener('statechange', () => {
        if (worker.state === 'activated') resolve();
      }));
    }
    return new Promise((resolve) => {
      navigator.serviceWorker.addEventListener('message', (event) => resolve(event.data), { once: true });
      worker.postMessage('check');
    });
  }));
});
