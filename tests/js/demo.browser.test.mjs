// The demo app (www/) driven like a person would: sign in, add photos and
// a video, watch them back up and appear decrypted in the gallery, reload
// in the middle of an upload, watch a folder, read the diagnostics, and
// meet a wrong token, the server down at start, a file deleted before it
// was read and a folder whose permission is gone. Screenshots of the main
// states go to tests/artifacts/.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { launchChromium } from './browser.mjs';
import { startServer } from './server.mjs';
import { sodium } from './helpers.mjs';

const hostPort = (url) => new URL(url).host;

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const ARTIFACTS = `${ROOT}tests/artifacts`;
let server;
let browser;

before(async () => {
  // What `npm start` does: the built package beside the demo.
  rmSync(`${ROOT}www/pkg`, { recursive: true, force: true });
  cpSync(`${ROOT}pkg`, `${ROOT}www/pkg`, { recursive: true });
  mkdirSync(ARTIFACTS, { recursive: true });
  [server, browser] = await Promise.all([startServer(['--static-dir', `${ROOT}www`, '--admin']), launchChromium()]);
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

async function openDemo(context, token = server.token) {
  const page = await context.newPage();
  page.on('pageerror', (err) => console.log('# page error:', err.message));
  await page.goto(`${server.api}/?token=${token}`);
  await page.evaluate(() => window.ferryDemo.ready);
  return page;
}

const doneCount = (page) => page.$$eval('#items li[data-state=done]', (items) => items.length);

async function waitFor(page, predicate, arg, timeout = 60_000) {
  try {
    await page.waitForFunction(predicate, arg, { timeout, polling: 100 });
  } catch (err) {
    // What the person would have seen, for the failure report.
    const seen = await page.evaluate(() => ['#banner', '#counts', '#items', '#runs tbody']
      .map((s) => `${s}: ${document.querySelector(s)?.innerText.replace(/\s+/g, ' ')}`)).catch(() => []);
    for (const line of seen) console.log(`# ${line}`);
    throw err;
  }
}

/** A real photo, drawn and encoded by the browser. */
async function photo(page, width, height, hue) {
  const bytes = await page.evaluate(async ({ width, height, hue }) => {
    const canvas = new OffscreenCanvas(width, height);
    const context = canvas.getContext('2d');
    context.fillStyle = `hsl(${hue} 70% 50%)`;
    context.fillRect(0, 0, width, height);
    context.fillStyle = '#fff';
    context.fillRect(width / 4, height / 4, width / 2, height / 2);
    const blob = await canvas.convertToBlob({ type: 'image/png' });
    return [...new Uint8Array(await blob.arrayBuffer())];
  }, { width, height, hue });
  return Buffer.from(bytes);
}

async function setFaults(rules) {
  await fetch(`${server.api}/admin/faults`, {
    method: 'PUT',
    headers: { 'X-Auth-Token': server.token, 'Content-Type': 'application/json' },
    body: JSON.stringify({ rules }),
  });
}

test('a person backs up photos, reloads mid-upload, watches a folder and reads the diagnostics', async () => {
  const context = await browser.newContext();
  const page = await openDemo(context);
  assert.equal(await page.isHidden('#app'), false, 'signed in with the dev token');
  assert.equal(await page.$eval('#album', (s) => s.selectedOptions[0].textContent), 'Camera roll');

  // Photos and a video, picked with the file input.
  await page.setInputFiles('#files', [
    { name: 'sunrise.png', mimeType: 'image/png', buffer: await photo(page, 1600, 1200, 30) },
    { name: 'forest.png', mimeType: 'image/png', buffer: await photo(page, 900, 1200, 120) },
    { name: 'clip.mov', mimeType: 'video/quicktime', buffer: Buffer.alloc(5 * 1024 * 1024, 7) },
  ]);
  await waitFor(page, () => document.querySelectorAll('#items li[data-state=done]').length === 3);
  await waitFor(page, () => document.querySelectorAll('#gallery figure').length === 3);
  const thumbnails = await page.$$eval('#gallery img', (images) => images.map((img) => ({ alt: img.alt, width: img.naturalWidth, height: img.naturalHeight })));
  const sunrise = thumbnails.find((t) => t.alt === 'sunrise.png');
  assert.deepEqual([sunrise.width, sunrise.height], [720, 540], 'a thumbnail made on the device, decrypted in the page');
  assert.match(await page.textContent('#counts'), /3 done/);
  assert.match(await page.textContent('#banner'), /everything queued is done/);
  await page.screenshot({ path: `${ARTIFACTS}/demo-backed-up.png`, fullPage: true });

  // The album as Ente's apps open it (web/packages/new/photos/services/
  // collection.ts): its key sealed with secretbox under the master key, 48
  // bytes with a 24-byte nonce, and its name sealed with secretbox under
  // the album's own key. libsodium opens both.
  const master = Uint8Array.from(await page.evaluate(async () => [...await (await import('/demo.js')).masterKey()]));
  const listed = await fetch(`${server.api}/collections/v2?sinceTime=0`, { headers: { 'X-Auth-Token': server.token } });
  const b64 = (s) => Uint8Array.from(Buffer.from(s, 'base64'));
  const names = (await listed.json()).collections.map((c) => {
    assert.equal(b64(c.encryptedKey).length, 48);
    const albumKey = sodium.crypto_secretbox_open_easy(b64(c.encryptedKey), b64(c.keyDecryptionNonce), master);
    return Buffer.from(sodium.crypto_secretbox_open_easy(b64(c.encryptedName), b64(c.nameDecryptionNonce), albumKey)).toString();
  });
  assert.deepEqual(names, ['Camera roll']);

  // A large video, slowed down on the server; the page reloads mid-upload.
  await setFaults([{ route: 's3:UploadPart', latencyMs: 400 }]);
  await page.setInputFiles('#files', [{ name: 'long.mov', mimeType: 'video/quicktime', buffer: Buffer.alloc(40 * 1024 * 1024, 9) }]);
  await waitFor(page, () => [...document.querySelectorAll('#items li')].some((li) => li.dataset.state === 'uploading' && li.querySelector('progress').value > 0));
  await page.screenshot({ path: `${ARTIFACTS}/demo-uploading.png`, fullPage: true });
  await page.reload();
  await page.evaluate(() => window.ferryDemo.ready);
  await setFaults([]);
  await waitFor(page, () => document.querySelectorAll('#items li[data-state=done]').length === 4, null, 90_000);
  assert.equal(await doneCount(page), 4, 'the upload continued after the reload');

  // A watched folder (a real directory handle from the origin-private file
  // system): new files are queued, unchanged ones are not, a changed one is.
  const scan = await page.evaluate(async () => {
    const root = await navigator.storage.getDirectory();
    const folder = await root.getDirectoryHandle('Camera', { create: true });
    const write = async (name, bytes) => {
      const writable = await (await folder.getFileHandle(name, { create: true })).createWritable();
      await writable.write(bytes);
      await writable.close();
    };
    await write('IMG_0001.jpg', new Uint8Array(3000).fill(1));
    await write('IMG_0002.jpg', new Uint8Array(4000).fill(2));
    await write('notes.txt', new Uint8Array(10).fill(3));
    await window.ferryDemo.watchFolder(folder);
    const first = document.querySelector('#folders').textContent;
    await window.ferryDemo.backUpNow();
    const second = document.querySelector('#folders').textContent;
    await new Promise((r) => setTimeout(r, 1100));
    await write('IMG_0002.jpg', new Uint8Array(4500).fill(4));
    await window.ferryDemo.backUpNow();
    const third = document.querySelector('#folders').textContent;
    return { first, second, third };
  });
  assert.match(scan.first, /2 new or changed files queued/);
  assert.match(scan.second, /0 new or changed files queued/, 'unchanged files are not queued again');
  assert.match(scan.third, /1 new or changed file queued/);
  await waitFor(page, () => document.querySelectorAll('#items li[data-state=done]').length === 7);

  // The background wake-up, run by the service worker.
  await page.click('#wake');
  await waitFor(page, () => /Run finished/.test(document.querySelector('#banner').textContent));
  const runs = await page.$$eval('#runs tbody tr', (rows) => rows.map((r) => r.firstChild.textContent));
  assert.ok(runs.includes('push'), `the simulated wake-up is listed: ${runs}`);
  assert.ok(runs.includes('foreground'));
  const findings = await page.$$eval('#findings li', (items) => items.map((li) => ({ code: li.dataset.code, text: li.textContent })));
  assert.ok(findings.length >= 1 && findings.every((f) => f.text.length > 20), JSON.stringify(findings));
  await page.screenshot({ path: `${ARTIFACTS}/demo-health.png`, fullPage: true });
  await context.close();
});

test('a wrong token and an unreachable server are explained, and nothing queued is lost', async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${server.api}/?token=not-a-token`);
  await page.evaluate(() => window.ferryDemo.ready);
  assert.match(await page.textContent('#banner'), /refused the token/);
  assert.equal(await page.isVisible('#signin'), true, 'the sign-in form is offered again');
  await page.screenshot({ path: `${ARTIFACTS}/demo-wrong-token.png`, fullPage: true });

  // Signed in, files queued, then the server goes away.
  await page.fill('#token', server.token);
  await page.click('#signin-form button');
  await waitFor(page, () => /done/.test(document.querySelector('#counts').textContent));
  await context.setOffline(true);
  await page.setInputFiles('#files', [{ name: 'offline.jpg', mimeType: 'image/jpeg', buffer: Buffer.alloc(3000, 5) }]);
  // The run stops as offline, says so, and the file stays queued.
  await waitFor(page, () => /the device is offline/.test(document.querySelector('#banner').textContent));
  await waitFor(page, () => /1 queued|1 waiting|blocked: offline/.test(document.querySelector('#counts').textContent));
  await context.setOffline(false);
  await page.click('#backup');
  await waitFor(page, () => document.querySelectorAll('#items li[data-state=done]').length >= 1);
  await context.close();
});

test('a file deleted before it was read and a folder whose permission is gone are explained; nothing queued is lost', async () => {
  const context = await browser.newContext();
  const page = await openDemo(context);
  const banner = () => page.textContent('#banner');

  // Two photos picked from disk while offline, so they wait in the queue;
  // then one is deleted on disk. A picked File is only a reference to it.
  const dir = mkdtempSync(join(tmpdir(), 'ferry-demo-'));
  writeFileSync(join(dir, 'kept.png'), await photo(page, 400, 300, 200));
  writeFileSync(join(dir, 'deleted.png'), await photo(page, 400, 300, 300));
  await context.setOffline(true);
  await page.setInputFiles('#files', [join(dir, 'kept.png'), join(dir, 'deleted.png')]);
  await waitFor(page, () => /the device is offline/.test(document.querySelector('#banner').textContent));
  rmSync(join(dir, 'deleted.png'));
  await context.setOffline(false);
  await page.click('#backup');
  await waitFor(page, () => document.querySelectorAll('#items li[data-state=failed]').length === 1
    && document.querySelectorAll('#items li[data-state=done]').length === 1);
  const failed = await page.$eval('#items li[data-state=failed]', (li) => ({
    title: li.querySelector('.title').textContent,
    why: li.querySelector('.error').textContent,
    retry: Boolean(li.querySelector('button.retry')),
  }));
  assert.equal(failed.title, 'deleted.png');
  assert.match(failed.why, /no longer there \(deleted or moved since it was added\)/);
  assert.ok(failed.retry, 'a failed file offers a retry');
  // Back online, the service worker's Background Sync may be the run that
  // did it; either way the page says how its own run went.
  assert.match(await banner(), /everything queued is done|already backing up/);
  await waitFor(page, () => [...document.querySelectorAll('#findings li')].some((li) => li.dataset.code === 'ITEMS_FAILED'));
  await page.screenshot({ path: `${ARTIFACTS}/demo-file-gone.png`, fullPage: true });
  rmSync(dir, { recursive: true, force: true });

  // A watched folder queues two files, then its read permission is gone.
  // Headless Chromium cannot revoke access to a folder, so the test plays
  // the browser's part: queryPermission answers "prompt" until
  // requestPermission (the "Grant access" button) grants it again.
  await page.evaluate(async () => {
    const root = await navigator.storage.getDirectory();
    const folder = await root.getDirectoryHandle('Trip', { create: true });
    for (const [name, fill] of [['IMG_0101.jpg', 1], ['IMG_0102.jpg', 2]]) {
      const writable = await (await folder.getFileHandle(name, { create: true })).createWritable();
      await writable.write(new Uint8Array(5000).fill(fill));
      await writable.close();
    }
    await window.ferryDemo.watchFolder(folder);
    let granted = false;
    FileSystemHandle.prototype.queryPermission = async () => (granted ? 'granted' : 'prompt');
    FileSystemHandle.prototype.requestPermission = async () => { granted = true; return 'granted'; };
  });
  assert.match(await page.textContent('#folders'), /2 new or changed files queued/);
  await page.click('#backup');
  await waitFor(page, () => /grant access to the folder again/.test(document.querySelector('#banner').textContent));
  assert.match(await page.textContent('#folders'), /permission needed to read this folder/);
  assert.equal(await page.isVisible('#signin'), false, 'not mistaken for a sign-in problem');
  await waitFor(page, () => /2 queued.*blocked: permission/.test(document.querySelector('#counts').textContent));
  await waitFor(page, () => [...document.querySelectorAll('#findings li')].some((li) => li.dataset.code === 'BLOCKED_PERMISSION'));
  await page.screenshot({ path: `${ARTIFACTS}/demo-permission-needed.png`, fullPage: true });

  await page.click('#folders button');
  await waitFor(page, () => document.querySelectorAll('#items li[data-state=done]').length === 3);
  assert.match(await page.textContent('#counts'), /0 queued.*3 done.*1 failed/);
  assert.doesNotMatch(await page.textContent('#counts'), /blocked/);
  await context.close();
});

test('with the server down at start the page opens, shows what is kept, and backs it up once the server is back', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'ferry-demo-server-'));
  const args = ['--static-dir', `${ROOT}www`];
  let own = await startServer(args, { dataDir });
  const addresses = { dataDir, listen: hostPort(own.api), s3Listen: hostPort(own.s3) };
  const context = await browser.newContext();
  try {
    const page = await context.newPage();
    page.on('pageerror', (err) => console.log('# page error:', err.message));
    await page.goto(`${own.api}/?token=${own.token}`);
    await page.evaluate(() => window.ferryDemo.ready);

    // The server stops; a photo is added anyway and waits.
    await own.stop();
    await page.setInputFiles('#files', [{ name: 'while-down.png', mimeType: 'image/png', buffer: await photo(page, 300, 200, 60) }]);
    await waitFor(page, () => /waits to retry/.test(document.querySelector('#banner').textContent));
    assert.match(await page.textContent('#counts'), /1 waiting/);

    // Reopened while the server is still down: the service worker serves
    // the page, which says what happened, what is kept, and what to do.
    await page.reload();
    await page.evaluate(() => window.ferryDemo.ready);
    await waitFor(page, () => /Cannot reach the server/.test(document.querySelector('#banner').textContent));
    assert.match(await page.textContent('#banner'), /Is `npm start` still running\? The 1 file waiting here is kept on this device/);
    await waitFor(page, () => /1 waiting/.test(document.querySelector('#counts').textContent));
    await page.screenshot({ path: `${ARTIFACTS}/demo-server-down.png`, fullPage: true });

    // Back at the same address with the same data: the page notices by itself.
    own = await startServer(args, addresses);
    await waitFor(page, () => document.querySelectorAll('#items li[data-state=done]').length === 1);
    assert.match(await page.textContent('#counts'), /0 waiting.*1 done/);
  } finally {
    await context.close();
    await own.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
});
