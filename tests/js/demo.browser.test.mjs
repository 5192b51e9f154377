// The demo app (www/) driven like a person would: sign in, add photos and
// videos, watch them back up and appear decrypted in the gallery, open one
// in full, reload in the middle of an upload, watch a folder, wake the
// service worker, read the runs and the diagnostics, and meet a wrong or
// stale token, another runner at work, the device offline, the server down
// at start, a file deleted before it was read and a folder whose permission
// is gone. Screenshots of the main states go to tests/artifacts/.
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

async function reload(page) {
  await page.reload();
  await page.evaluate(() => window.ferryDemo.ready);
}

const doneCount = (page) => page.$$eval('#items li[data-state=done]', (items) => items.length);
const banner = (page) => page.textContent('#banner');

async function waitFor(page, predicate, arg, timeout = 60_000) {
  try {
    await page.waitForFunction(predicate, arg, { timeout, polling: 100 });
  } catch (err) {
    // What the person would have seen, for the failure report.
    const seen = await page.evaluate(() => ['#banner', '#counts', '#items', '#runs tbody', '#gallery']
      .map((s) => `${s}: ${document.querySelector(s)?.innerText.replace(/\s+/g, ' ')}`)).catch(() => []);
    for (const line of seen) console.log(`# ${line}`);
    throw err;
  }
}

const waitForBanner = (page, pattern, timeout) => waitFor(page, (source) => new RegExp(source).test(document.querySelector('#banner').textContent), pattern.source, timeout);
const waitForDone = (page, count, timeout) => waitFor(page, (n) => document.querySelectorAll('#items li[data-state=done]').length === n, count, timeout);

/**
 * How the banner looks (its kind only shows in colour and mark), kept by
 * kind across tests: each kind must look like no other.
 */
const looks = {};
async function look(page, kind) {
  const seen = await page.$eval('#banner', (b) => {
    const style = getComputedStyle(b);
    return { kind: b.className, background: style.backgroundColor, border: style.borderLeftColor, mark: getComputedStyle(b, '::before').content };
  });
  assert.equal(seen.kind, kind, `the banner is a${kind === 'info' || kind === 'error' ? 'n' : ''} ${kind}: ${await banner(page)}`);
  looks[kind] = seen;
  const kinds = Object.values(looks);
  for (const field of ['background', 'border', 'mark']) {
    assert.equal(new Set(kinds.map((k) => k[field])).size, kinds.length, `each kind has its own ${field}: ${JSON.stringify(looks)}`);
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

/** A real video the browser can play: a canvas animation recorded to WebM. */
async function video(page, width, height) {
  const bytes = await page.evaluate(async ({ width, height }) => {
    const canvas = Object.assign(document.createElement('canvas'), { width, height });
    const context = canvas.getContext('2d');
    const recorder = new MediaRecorder(canvas.captureStream(30), { mimeType: 'video/webm' });
    const chunks = [];
    recorder.ondataavailable = (event) => chunks.push(event.data);
    const stopped = new Promise((resolve) => { recorder.onstop = resolve; });
    recorder.start();
    for (let frame = 0; frame < 20; frame++) {
      context.fillStyle = `hsl(${frame * 18} 70% 50%)`;
      context.fillRect(0, 0, width, height);
      await new Promise((r) => setTimeout(r, 40));
    }
    recorder.stop();
    await stopped;
    return [...new Uint8Array(await new Blob(chunks).arrayBuffer())];
  }, { width, height });
  return Buffer.from(bytes);
}

/** Writes files into a folder of the origin-private file system (a real directory handle). */
function writeToFolder(page, folder, files) {
  return page.evaluate(async ({ folder, files }) => {
    const root = await navigator.storage.getDirectory();
    const dir = await root.getDirectoryHandle(folder, { create: true });
    for (const [name, size, fill] of files) {
      const writable = await (await dir.getFileHandle(name, { create: true })).createWritable();
      await writable.write(new Uint8Array(size).fill(fill));
      await writable.close();
    }
  }, { folder, files });
}

/** Asks the page to watch a folder, as the "Watch a folder…" picker would hand it over. */
const watch = (page, folder) => page.evaluate(async (name) => {
  const root = await navigator.storage.getDirectory();
  await window.ferryDemo.watchFolder(await root.getDirectoryHandle(name));
}, folder);

async function setFaults(rules) {
  await fetch(`${server.api}/admin/faults`, {
    method: 'PUT',
    headers: { 'X-Auth-Token': server.token, 'Content-Type': 'application/json' },
    body: JSON.stringify({ rules }),
  });
}

/**
 * The overall bar and a file's own bar, read in one go once the file is
 * listed and not yet sent in full.
 */
async function bars(page, title) {
  await waitFor(page, (title) => {
    const row = [...document.querySelectorAll('#items li')].find((li) => li.querySelector('.title').textContent === title);
    const file = row?.querySelector('progress').value;
    window.bars = file < 1 ? { overall: document.querySelector('#overall').value, file, state: row.dataset.state } : null;
    return window.bars;
  }, title);
  return page.evaluate(() => window.bars);
}

const runRows = (page) => page.$$eval('#runs tbody tr', (rows) => rows.map((r) => [...r.cells].map((c) => c.textContent)));
const RAW_CODES = /^(foreground|sync|periodicsync|push|idle|budget|offline|auth|quota|busy|error|deferred|killed)$/;

test('a person backs up photos and videos, opens them in full, reloads mid-upload, watches a folder and reads the runs', async () => {
  const context = await browser.newContext();
  const page = await openDemo(context);
  assert.equal(await page.isHidden('#app'), false, 'signed in with the dev token');
  assert.equal(new URL(page.url()).searchParams.get('token'), null, 'the token left the address bar once it was checked and kept');
  assert.equal(await page.$eval('#album', (s) => s.selectedOptions[0].textContent), 'Camera roll');

  // Photos and videos, picked with the file input: a video the browser
  // plays, and one it cannot (bytes that only look like a movie by name).
  const webm = await video(page, 320, 240);
  await page.setInputFiles('#files', [
    { name: 'sunrise.png', mimeType: 'image/png', buffer: await photo(page, 1600, 1200, 30) },
    { name: 'forest.png', mimeType: 'image/png', buffer: await photo(page, 900, 1200, 120) },
    { name: 'clip.mov', mimeType: 'video/quicktime', buffer: Buffer.alloc(5 * 1024 * 1024, 7) },
    { name: 'wave.webm', mimeType: 'video/webm', buffer: webm },
  ]);
  await waitForDone(page, 4);
  await waitFor(page, () => document.querySelectorAll('#gallery figure').length === 4);
  const thumbnails = await page.$$eval('#gallery img', (images) => images.map((img) => ({ alt: img.alt, width: img.naturalWidth, height: img.naturalHeight })));
  const sunrise = thumbnails.find((t) => t.alt === 'sunrise.png');
  assert.deepEqual([sunrise.width, sunrise.height], [720, 540], 'a thumbnail made on the device, decrypted in the page');
  assert.match(await page.textContent('#counts'), /4 done/);
  assert.match(await banner(page), /Backup finished in [\d.]+ s: 4 files backed up \([\d.]+ MB\); everything queued is done/);
  await look(page, 'success');
  assert.equal(await page.$eval('#overall', (p) => p.value), 1, 'the batch is complete');

  // Videos look like videos, with their names: the device could draw no
  // thumbnail for them.
  const tiles = await page.$$eval('#gallery figure', (figures) => figures.map((f) => ({ kind: f.dataset.kind, text: f.innerText.replace(/\s+/g, ' ').trim() })));
  const tileOf = (title) => tiles.find((t) => t.text.endsWith(title));
  assert.deepEqual(tileOf('clip.mov'), { kind: 'video', text: 'Video clip.mov' }, JSON.stringify(tiles));
  assert.deepEqual(tileOf('wave.webm'), { kind: 'video', text: 'Video wave.webm' });
  assert.deepEqual(tileOf('sunrise.png'), { kind: 'photo', text: 'sunrise.png' });
  assert.ok(await page.isVisible('#gallery figure[data-kind=video] svg'), 'a video shows a play icon');
  await page.screenshot({ path: `${ARTIFACTS}/demo-backed-up.png`, fullPage: true });

  // A click opens the whole file, downloaded and decrypted in the page.
  await page.click('#gallery figure:has-text("sunrise.png") button');
  await waitFor(page, () => document.querySelector('#viewer img')?.naturalWidth > 0);
  assert.deepEqual(await page.$eval('#viewer img', (img) => [img.naturalWidth, img.naturalHeight]), [1600, 1200], 'the photo itself, not its thumbnail');
  assert.equal(await page.textContent('#viewer-title'), 'sunrise.png');
  await page.screenshot({ path: `${ARTIFACTS}/demo-viewer.png` });
  await page.click('#viewer button[type=submit]');
  assert.equal(await page.isVisible('#viewer'), false, 'the viewer closes');
  await page.click('#gallery figure:has-text("wave.webm") button');
  await waitFor(page, () => document.querySelector('#viewer video')?.readyState >= 1);
  assert.deepEqual(await page.$eval('#viewer video', (v) => [v.videoWidth, v.videoHeight]), [320, 240], 'the video plays in the page');
  await page.click('#viewer button[type=submit]');
  await page.click('#gallery figure:has-text("clip.mov") button');
  await waitFor(page, () => document.querySelector('#viewer a[download]'));
  const saved = await page.$eval('#viewer a[download]', async (a) => {
    const bytes = new Uint8Array(await (await fetch(a.href)).arrayBuffer());
    return { name: a.download, size: bytes.length, sevens: bytes.every((b) => b === 7) };
  });
  assert.deepEqual(saved, { name: 'clip.mov', size: 5 * 1024 * 1024, sevens: true }, 'the decrypted bytes are the file picked');
  await page.click('#viewer button[type=submit]');

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
  // The overall bar measures this batch alone, before and after the reload.
  // Four parts of 20 MiB, each held 2 s by the store: some are still to go
  // when the page reloads.
  await setFaults([{ route: 's3:UploadPart', latencyMs: 2000 }]);
  const big = mkdtempSync(join(tmpdir(), 'ferry-demo-'));
  writeFileSync(join(big, 'long.mov'), Buffer.alloc(80 * 1024 * 1024, 9));
  await page.setInputFiles('#files', [join(big, 'long.mov')]);
  const early = await bars(page, 'long.mov');
  assert.equal(early.overall, early.file, `the overall bar is this batch's, not every file's: ${JSON.stringify(early)}`);
  await waitFor(page, () => [...document.querySelectorAll('#items li')].some((li) => li.dataset.state === 'uploading' && li.querySelector('progress').value > 0));
  await page.screenshot({ path: `${ARTIFACTS}/demo-uploading.png`, fullPage: true });
  await reload(page);
  const resumed = await bars(page, 'long.mov');
  assert.equal(resumed.overall, resumed.file, `still this batch's after a reload: ${JSON.stringify(resumed)}`);
  await setFaults([]);
  await waitForDone(page, 5, 90_000);
  assert.equal(await doneCount(page), 5, 'the upload continued after the reload');
  rmSync(big, { recursive: true, force: true });

  // A watched folder (a real directory handle from the origin-private file
  // system): adding it backs it up; then unchanged files are not queued
  // again, and a changed one is.
  await writeToFolder(page, 'Camera', [['IMG_0001.jpg', 3000, 1], ['IMG_0002.jpg', 4000, 2], ['notes.txt', 10, 3]]);
  await watch(page, 'Camera');
  assert.match(await page.textContent('#folders'), /Folder “Camera”: watched, 2 photos or videos; /);
  await waitForDone(page, 7);
  await waitFor(page, () => !document.querySelector('#backup').disabled);
  const rescans = await page.evaluate(async () => {
    await window.ferryDemo.backUpNow();
    const unchanged = document.querySelector('#folders').textContent;
    await new Promise((r) => setTimeout(r, 1100));
    const root = await navigator.storage.getDirectory();
    const writable = await (await (await root.getDirectoryHandle('Camera')).getFileHandle('IMG_0002.jpg')).createWritable();
    await writable.write(new Uint8Array(4500).fill(4));
    await writable.close();
    await window.ferryDemo.backUpNow();
    return { unchanged, changed: document.querySelector('#folders').textContent };
  });
  assert.match(rescans.unchanged, /watched, 2 photos or videos; nothing new at the last scan\./, 'unchanged files are not queued again');
  assert.match(rescans.changed, /watched, 2 photos or videos; 1 new or changed queued by the last scan\./);
  await waitForDone(page, 8);
  // Undecodable "photos" show as files, with their names.
  await waitFor(page, () => document.querySelectorAll('#gallery figure').length === 8);
  assert.equal(await page.$eval('#gallery figure:has(figcaption:text-is("IMG_0001.jpg"))', (f) => `${f.dataset.kind}: ${f.innerText.replace(/\s+/g, ' ').trim()}`),
    'file: JPG, no preview IMG_0001.jpg');

  // A video appears in the watched folder, and the service worker is woken
  // for 25 s (a push): it finds the video but holds it back, since videos
  // wait for runs of a minute or more, and the page says so in words.
  await writeToFolder(page, 'Camera', [['VID_0003.mp4', 200_000, 5]]);
  await page.click('#wake');
  await waitForBanner(page, /push wake-up run in the service worker finished/);
  assert.match(await banner(page), /0 files backed up .*; 1 video waits for a longer run: videos go only in runs of a minute or more, and a background wake-up is shorter; “Back up now” sends it from this page\./);
  await look(page, 'warning');
  assert.match(await page.textContent('#counts'), /0 uploading · 1 waiting|1 queued · 0 uploading/);
  await page.screenshot({ path: `${ARTIFACTS}/demo-video-held-back.png`, fullPage: true });
  await page.click('#backup');
  await waitForDone(page, 9);
  await waitForBanner(page, /Backup finished .* 1 file backed up/);

  // The runs, in words: who ran, how long, why it stopped.
  const rows = await runRows(page);
  assert.ok(rows.some((r) => r[0] === 'Push wake-up' && r[3] === 'Some files wait for a better moment'), JSON.stringify(rows));
  assert.ok(rows.some((r) => r[0] === 'This page' && r[3] === 'Everything queued is done'), JSON.stringify(rows));
  assert.ok(rows.every((r) => !RAW_CODES.test(r[0]) && !RAW_CODES.test(r[3])), `no raw codes: ${JSON.stringify(rows)}`);
  const findings = await page.$$eval('#findings li', (items) => items.map((li) => ({ code: li.dataset.code, text: li.textContent })));
  assert.ok(findings.length >= 1 && findings.every((f) => f.text.length > 20), JSON.stringify(findings));
  await page.screenshot({ path: `${ARTIFACTS}/demo-health.png`, fullPage: true });

  // Loading the page with nothing to do (a watched folder included) puts
  // no run on record: neither the page nor its service worker runs.
  const before = await runRows(page);
  for (let i = 0; i < 2; i++) {
    await page.goto(`${server.api}/`);
    await page.evaluate(() => window.ferryDemo.ready);
    await page.waitForTimeout(2500);
  }
  await waitFor(page, () => document.querySelectorAll('#runs tbody tr').length > 0);
  assert.deepEqual(await runRows(page), before, 'two loads added no run');
  await context.close();
});

test('a busy note gives way to what the service worker did', async () => {
  const context = await browser.newContext();
  const page = await openDemo(context);
  await writeToFolder(page, 'Inbox', [['IMG_0201.jpg', 2000, 1]]);
  await watch(page, 'Inbox');
  await waitForDone(page, 1);

  // A new photo in the folder, slow to store; the service worker is asked
  // for a run (as Background Sync would) and finds it.
  await setFaults([{ route: 's3:PutObject', latencyMs: 3000 }]);
  await writeToFolder(page, 'Inbox', [['IMG_0202.jpg', 2000, 2]]);
  await page.evaluate(async () => (await navigator.serviceWorker.ready).active.postMessage({ type: 'ferry-sync', trigger: 'sync' }));
  await waitFor(page, () => [...document.querySelectorAll('#items li')].some((li) => /hashing|uploading/.test(li.dataset.state)));
  // Meanwhile the person presses "Back up now": the worker has the queue.
  await page.click('#backup');
  await waitForBanner(page, /Another tab or the service worker is backing up right now; this page shows its progress/);
  await look(page, 'info');
  await page.screenshot({ path: `${ARTIFACTS}/demo-busy.png`, fullPage: true });
  // Once the worker is done, the banner says what it did, not "busy".
  await waitForDone(page, 2);
  await waitForBanner(page, /^A background sync run in the service worker finished in [\d.]+ s: 1 file backed up .*; everything queued is done\.$/, 3000);
  await look(page, 'success');
  await setFaults([]);
  await context.close();
});

test('a wrong token and the device offline are explained, and nothing queued is lost', async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${server.api}/?token=not-a-token`);
  await page.evaluate(() => window.ferryDemo.ready);
  assert.match(await banner(page), /refused the token/);
  await look(page, 'error');
  assert.equal(await page.isVisible('#signin'), true, 'the sign-in form is offered again');
  assert.equal(new URL(page.url()).searchParams.get('token'), null, 'a refused token leaves the address bar too');
  await page.screenshot({ path: `${ARTIFACTS}/demo-wrong-token.png`, fullPage: true });

  // Signed in, then the device goes offline and a file is added.
  await page.fill('#token', server.token);
  await page.click('#signin-form button');
  await waitFor(page, () => /0 done/.test(document.querySelector('#counts').textContent));
  await context.setOffline(true);
  await page.setInputFiles('#files', [{ name: 'offline.jpg', mimeType: 'image/jpeg', buffer: Buffer.alloc(3000, 5) }]);
  // The run stops as offline, says so, and the file stays queued.
  await waitForBanner(page, /the device is offline; the files waiting here back up when it is back online/);
  await look(page, 'warning');
  await waitFor(page, () => /1 queued|1 waiting|blocked: offline/.test(document.querySelector('#counts').textContent));
  // Back online, the open page sends it by itself.
  await context.setOffline(false);
  await waitForDone(page, 1);
  await waitForBanner(page, /1 file backed up/);
  await context.close();
});

test('the chosen album, the albums offline and the sign-in survive reloads and a stale link', async () => {
  const context = await browser.newContext();
  const page = await openDemo(context);
  const albumNames = () => page.$$eval('#album option', (options) => options.map((o) => `${o.selected ? '*' : ''}${o.textContent}`));
  const galleryTitles = () => page.$$eval('#gallery figcaption', (captions) => captions.map((c) => c.textContent).sort());

  // A new album is chosen; after a reload it still is, and new picks land there.
  await page.fill('#album-name', 'Holidays');
  await page.click('#new-album button');
  await waitFor(page, () => document.querySelector('#album').selectedOptions[0]?.textContent === 'Holidays');
  await reload(page);
  assert.deepEqual(await albumNames(), ['Camera roll', '*Holidays'], 'the album chosen before the reload');
  await page.setInputFiles('#files', [{ name: 'beach.png', mimeType: 'image/png', buffer: await photo(page, 640, 480, 200) }]);
  await waitForDone(page, 1);
  await waitFor(page, () => document.querySelectorAll('#gallery figure').length === 1);
  assert.deepEqual(await galleryTitles(), ['beach.png'], 'the photo is in the album the person sees');
  await page.selectOption('#album', { label: 'Camera roll' });
  await waitFor(page, () => /Nothing in “Camera roll”/.test(document.querySelector('#gallery').textContent));
  await page.selectOption('#album', { label: 'Holidays' });
  await waitFor(page, () => document.querySelectorAll('#gallery figure').length === 1);

  // An old link with a token the server no longer takes: the person stays
  // signed in with the token that works, told about the link, and the
  // token leaves the address bar.
  await page.goto(`${server.api}/?token=stale-token`);
  await page.evaluate(() => window.ferryDemo.ready);
  assert.match(await banner(page), /The token in this link was refused by the server; this page stays signed in with the one it already had/);
  await look(page, 'warning');
  assert.equal(new URL(page.url()).searchParams.get('token'), null);
  assert.equal(await page.isVisible('#app'), true);
  await reload(page);
  assert.equal(await page.isVisible('#app'), true, 'still signed in after a reload');
  assert.match(await page.textContent('#counts'), /1 done/, 'the queue is still shown');

  // Offline, the page still opens (from the service worker's cache), says
  // the device is offline (not that the server is down) and keeps the
  // albums it knew, the chosen one chosen. Only their names are kept.
  const kept = await page.evaluate(async () => (await import('/demo.js')).getSetting('albums'));
  assert.deepEqual(kept.map((a) => Object.keys(a).sort().join()), ['id,name', 'id,name'], 'names and ids only, no key');
  await context.setOffline(true);
  await reload(page);
  await waitForBanner(page, /^This device is offline\. Nothing is waiting to back up\.$/);
  await look(page, 'warning');
  assert.doesNotMatch(await banner(page), /server|npm start/);
  assert.deepEqual(await albumNames(), ['Camera roll', '*Holidays'], 'the albums known from before');
  await page.screenshot({ path: `${ARTIFACTS}/demo-offline.png`, fullPage: true });
  // A photo added offline waits in the chosen album and goes once back online.
  await page.setInputFiles('#files', [{ name: 'sunset.png', mimeType: 'image/png', buffer: await photo(page, 640, 480, 20) }]);
  await waitFor(page, () => /1 queued|1 waiting/.test(document.querySelector('#counts').textContent));
  await context.setOffline(false);
  await waitForDone(page, 2);
  await waitFor(page, () => document.querySelectorAll('#gallery figure').length === 2);
  assert.deepEqual(await galleryTitles(), ['beach.png', 'sunset.png']);
  await context.close();
});

test('a file deleted before it was read and a folder whose permission is gone are explained; nothing queued is lost', async () => {
  const context = await browser.newContext();
  const page = await openDemo(context);

  // Two photos picked from disk while offline, so they wait in the queue;
  // then one is deleted on disk. A picked File is only a reference to it.
  const dir = mkdtempSync(join(tmpdir(), 'ferry-demo-'));
  writeFileSync(join(dir, 'kept.png'), await photo(page, 400, 300, 200));
  writeFileSync(join(dir, 'deleted.png'), await photo(page, 400, 300, 300));
  await context.setOffline(true);
  await page.setInputFiles('#files', [join(dir, 'kept.png'), join(dir, 'deleted.png')]);
  await waitForBanner(page, /the device is offline/);
  rmSync(join(dir, 'deleted.png'));
  await context.setOffline(false);
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
  // Whoever ran it (this page, or the service worker's Background Sync),
  // the banner ends on what happened.
  await waitForBanner(page, /1 file backed up .*; everything queued is done/, 10_000);
  await waitFor(page, () => [...document.querySelectorAll('#findings li')].some((li) => li.dataset.code === 'ITEMS_FAILED'));
  await page.screenshot({ path: `${ARTIFACTS}/demo-file-gone.png`, fullPage: true });
  rmSync(dir, { recursive: true, force: true });

  // A watched folder queues two files (offline, so they wait), then its
  // read permission is gone. Headless Chromium cannot revoke access to a
  // folder, so the test plays the browser's part: once revoked,
  // queryPermission answers "prompt" until requestPermission (the "Grant
  // access" button) grants it again.
  await writeToFolder(page, 'Trip', [['IMG_0101.jpg', 5000, 1], ['IMG_0102.jpg', 5000, 2]]);
  await page.evaluate(() => {
    let granted = true;
    FileSystemHandle.prototype.queryPermission = async () => (granted ? 'granted' : 'prompt');
    FileSystemHandle.prototype.requestPermission = async () => { granted = true; return 'granted'; };
    window.revoke = () => { granted = false; };
  });
  await context.setOffline(true);
  await watch(page, 'Trip');
  assert.match(await page.textContent('#folders'), /Folder “Trip”: watched, 2 photos or videos; /);
  await waitFor(page, () => /2 queued|1 queued · 0 uploading · 1 waiting/.test(document.querySelector('#counts').textContent));
  await waitForBanner(page, /the device is offline/);
  await page.evaluate(() => window.revoke());
  await context.setOffline(false);
  await waitForBanner(page, /grant access to the folder again/);
  await look(page, 'warning');
  assert.match(await page.textContent('#folders'), /permission needed to read this folder/);
  assert.equal(await page.isVisible('#signin'), false, 'not mistaken for a sign-in problem');
  // Both files wait (one may have been started before the network went).
  await waitFor(page, () => /(2 queued · 0 uploading · 0 waiting|1 queued · 0 uploading · 1 waiting) · 1 done .*blocked: permission/.test(document.querySelector('#counts').textContent));
  await waitFor(page, () => [...document.querySelectorAll('#findings li')].some((li) => li.dataset.code === 'BLOCKED_PERMISSION'));
  await page.screenshot({ path: `${ARTIFACTS}/demo-permission-needed.png`, fullPage: true });

  await page.click('#folders button');
  await waitForDone(page, 3);
  // The counts are a read of their own beside the list's: they settle at the next draw.
  await waitFor(page, () => /^0 queued · 0 uploading · 0 waiting · 3 done · 0 skipped · 1 failed · [\d.]+ MB sent$/.test(document.querySelector('#counts').textContent), null, 10_000);
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
    await waitForBanner(page, /waits to retry/);
    assert.match(await page.textContent('#counts'), /1 waiting/);

    // Reopened while the server is still down: the service worker serves
    // the page, which says what happened, what is kept, and what to do,
    // with the albums it knew.
    await reload(page);
    await waitForBanner(page, /Cannot reach the server/);
    assert.match(await banner(page), /Is `npm start` still running\? The 1 file waiting here is kept on this device/);
    await look(page, 'error');
    assert.deepEqual(await page.$$eval('#album option', (options) => options.map((o) => o.textContent)), ['Camera roll']);
    await waitFor(page, () => /1 waiting/.test(document.querySelector('#counts').textContent));
    await page.screenshot({ path: `${ARTIFACTS}/demo-server-down.png`, fullPage: true });

    // Back at the same address with the same data: the page notices by itself.
    own = await startServer(args, addresses);
    await waitForDone(page, 1);
    assert.match(await page.textContent('#counts'), /0 waiting.*1 done/);
  } finally {
    await context.close();
    await own.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
});
