// The demo page. Everything backup-related goes through Ferry's public API
// (the queue, its events, runs, diagnose) and ferry-sync/sw; demo.js holds
// what the page shares with its service worker.
import { encryptedSize } from './pkg/index.js';
import { registerBackground } from './pkg/sw.js';
import { keepScreenAwake } from './pkg/wake.js';
import {
  API, SHELL_CACHE, SHELL_FILE, DemoError, signIn, getSetting, setSetting, openFerry, listAlbums, createAlbum, albumFiles,
  addWatchedFolder, watchedFolders, scanFolders,
} from './demo.js';

const $ = (selector) => document.querySelector(selector);
let ferry = null;
let albums = [];
let running = false;
let serverWasDown = false;

function say(message, kind = 'info') {
  const banner = $('#banner');
  banner.hidden = !message;
  banner.textContent = message ?? '';
  banner.className = kind;
}

/** Turns any failure into words on the page; nothing queued is touched. */
function explain(err) {
  if (err instanceof DemoError) return say(err.message, 'error');
  if (err?.name === 'FerryError') return say(`Ferry: ${err.message} (${err.code})`, 'error');
  say(String(err?.message ?? err), 'error');
}

const album = () => albums.find((a) => String(a.id) === $('#album').value);
const megabytes = (bytes) => `${(bytes / 1e6).toFixed(1)} MB`;

// --- sign in and albums --------------------------------------------------------

async function start() {
  const fromUrl = new URLSearchParams(location.search).get('token');
  if (fromUrl) await setSetting('token', fromUrl);
  const token = await getSetting('token');
  if (token) $('#token').value = token;
  if (!token) return;
  try {
    await signIn(token);
    if (serverWasDown) {
      // Files that failed to reach it wait out a backoff; the server is
      // back, so they need not.
      serverWasDown = false;
      ferry ??= await openFerry();
      for (const item of await ferry.items({ state: 'waiting' })) await ferry.retry(item.id);
    }
    await enter();
  } catch (err) {
    explain(err);
    if (err instanceof DemoError && err.kind === 'offline') await waitForServer();
  }
}

/**
 * The server cannot be reached: the queue lives on this device, so show it,
 * say what is kept, and try again every few seconds.
 */
async function waitForServer() {
  serverWasDown = true;
  ferry ??= await openFerry();
  $('#signin').hidden = true;
  $('#app').hidden = false;
  await refresh();
  const status = await ferry.status();
  const kept = status.queued + status.hashing + status.uploading + status.waiting;
  const what = kept === 0 ? 'Nothing is waiting to back up.'
    : kept === 1 ? 'The 1 file waiting here is kept on this device and backs up as soon as it is back.'
      : `The ${kept} files waiting here are kept on this device and back up as soon as it is back.`;
  say(`Cannot reach the server at ${API}. Is \`npm start\` still running? ${what} This page tries again every few seconds.`, 'error');
  setTimeout(() => start().catch(explain), 3000);
}

async function enter() {
  ferry?.close();
  ferry = await openFerry();
  for (const event of ['progress', 'item', 'run']) ferry.on(event, () => refresh());
  $('#signin').hidden = true;
  $('#app').hidden = false;
  say(null);
  albums = await listAlbums();
  if (albums.length === 0) albums.push(await createAlbum(ferry, 'Camera roll'));
  // The same album keys for this device's queue (a fresh queue after a reinstall).
  for (const a of albums) await ferry.setCollectionKey(a.id, a.key);
  renderAlbums();
  await setupBackground();
  await refresh();
  await renderGallery();
  // Whatever a reload or a closed tab interrupted continues now.
  const status = await ferry.status();
  if (status.queued + status.hashing + status.uploading + status.waiting > 0 || (await watchedFolders()).length > 0) backUpNow();
}

function renderAlbums(selected = album()?.id) {
  $('#album').replaceChildren(...albums.map((a) => new Option(a.name, a.id, false, a.id === selected)));
}

async function setupBackground() {
  if (!('serviceWorker' in navigator)) {
    $('#wake').disabled = true;
    return;
  }
  const registration = await navigator.serviceWorker.register('sw.js', { type: 'module' });
  // Without the cache the page only fails to open while the server is down.
  await cacheShell().catch((err) => console.warn('[ferry-demo] the page was not cached:', err));
  await navigator.serviceWorker.ready;
  await setSetting('background', await registerBackground(registration));
}

/**
 * Keeps what this page loaded (its HTML, scripts, styles, the wasm) in the
 * cache the service worker answers from when the server is down, so the
 * page still opens and shows the queue. Only what the cache lacks is
 * fetched: the first load, before the worker saw any request; later, the
 * worker keeps it fresh.
 */
async function cacheShell() {
  if (!('caches' in self)) return;
  const loaded = performance.getEntriesByType('resource').map((entry) => new URL(entry.name));
  const shell = loaded.filter((url) => url.origin === location.origin && SHELL_FILE.test(url.pathname));
  const cache = await caches.open(SHELL_CACHE);
  const wanted = [...new Set([location.pathname, ...shell.map((url) => url.pathname)])];
  const cached = await Promise.all(wanted.map((path) => cache.match(path, { ignoreVary: true })));
  const missing = wanted.filter((_, i) => !cached[i]);
  if (missing.length > 0) await cache.addAll(missing);
}

// --- adding files ------------------------------------------------------------------

async function enqueueFiles(files) {
  const target = album();
  if (!target || files.length === 0) return;
  try {
    const ids = await ferry.enqueue([...files].map((file) => ({ collectionId: target.id, file })));
    say(`${ids.length} file${ids.length === 1 ? '' : 's'} queued for “${target.name}”.`);
    await refresh();
    await backUpNow();
  } catch (err) {
    explain(err);
  }
}

async function watchFolder(handle) {
  const target = album();
  await addWatchedFolder(handle, target.id);
  const report = await scanFolders(ferry);
  renderFolders(report);
  await refresh();
}

function renderFolders(report) {
  const list = $('#folders');
  list.replaceChildren(...report.map((folder) => {
    const li = document.createElement('li');
    if (folder.state === 'permission') {
      li.textContent = `Folder “${folder.name}”: permission needed to read this folder. `;
      const grant = document.createElement('button');
      grant.textContent = 'Grant access';
      grant.onclick = async () => {
        const folders = await watchedFolders();
        const entry = folders.find((f) => f.name === folder.name);
        if ((await entry?.handle.requestPermission({ mode: 'read' })) !== 'granted') return;
        // Files already queued from the folder were waiting on this too.
        await ferry.resume();
        await backUpNow();
      };
      li.append(grant);
    } else if (folder.state === 'unreadable') {
      li.textContent = `Folder “${folder.name}”: could not be read (${folder.error}).`;
    } else {
      li.textContent = `Folder “${folder.name}”: watched; ${folder.queued} new or changed file${folder.queued === 1 ? '' : 's'} queued by the last scan.`;
    }
    return li;
  }));
}

// --- running ------------------------------------------------------------------------

async function backUpNow() {
  if (running) return;
  running = true;
  $('#backup').disabled = true;
  try {
    renderFolders(await scanFolders(ferry));
    const run = () => ferry.sync({ trigger: 'foreground' });
    const report = $('#awake').checked ? (await keepScreenAwake(run)).result : await run();
    describe(report);
    // Retries wait for their time; this page runs again then.
    if (report.nextRunHint > 0) setTimeout(backUpNow, report.nextRunHint);
  } catch (err) {
    explain(err);
  } finally {
    running = false;
    $('#backup').disabled = false;
    await refresh();
    await renderGallery();
  }
}

async function simulateWakeUp() {
  const registration = await navigator.serviceWorker.ready;
  say('The service worker is running a 25 s background wake-up…');
  const reply = new Promise((resolve) => {
    navigator.serviceWorker.addEventListener('message', (event) => resolve(event.data), { once: true });
  });
  registration.active.postMessage({ type: 'ferry-sync', trigger: 'push', budgetMs: 25_000 });
  const poll = setInterval(refresh, 500);
  const { report } = await reply;
  clearInterval(poll);
  if (report) describe(report);
  else say('The background run failed; see the service worker console.', 'error');
  await refresh();
  await renderGallery();
}

const REASONS = {
  idle: 'everything queued is done',
  budget: 'its time was up; the rest continues in the next run',
  offline: 'the device is offline',
  auth: 'the server refused the token; sign in again',
  quota: 'the storage is full',
  busy: 'another tab or the service worker was already backing up',
  error: 'something went wrong on this device',
  deferred: 'some files wait for a better moment',
  killed: 'the system ended it before it finished',
};

/** What a policy holds back, in words: `report.deferred` by policy. */
function heldBack({ videos, wifiOnly, fileCap }) {
  const parts = [];
  if (videos) parts.push(`${videos} video(s) wait for a longer run than a background wake-up (they go while this page is open)`);
  if (wifiOnly) parts.push(`${wifiOnly} file(s) wait for Wi-Fi`);
  if (fileCap) parts.push(`${fileCap} file(s) wait for the next run (per-run cap)`);
  return parts.join('; ');
}

function describe(report) {
  const kind = ['auth', 'quota', 'error'].includes(report.stoppedBecause) ? 'error' : 'info';
  let reason = REASONS[report.stoppedBecause];
  if (report.blocked === 'permission') {
    reason = 'this page may no longer read some of your files; grant access to the folder again (under “Watched folders”) and backup continues where it stopped';
  } else if (report.stoppedBecause === 'deferred' && report.deferred) {
    reason = heldBack(report.deferred);
  } else if (report.stoppedBecause === 'idle' && report.nextRunHint > 0) {
    reason = `the rest waits to retry in ${Math.ceil(report.nextRunHint / 1000)} s (each file shows why)`;
  }
  say(`Run finished in ${(report.elapsedMs / 1000).toFixed(1)} s: ${report.filesDone} file(s), ${megabytes(report.bytesUploaded)}; it stopped because ${reason}.`, kind);
  if (report.blocked === 'auth') {
    $('#signin').hidden = false;
  }
}

// --- drawing -------------------------------------------------------------------------

// One draw at a time; a change during a draw asks for one more after it.
let drawing = null;
let stale = false;
function refresh() {
  if (drawing) {
    stale = true;
    return drawing;
  }
  drawing = (async () => {
    do {
      stale = false;
      await draw();
    } while (stale);
  })().finally(() => { drawing = null; });
  return drawing;
}

async function draw() {
  if (!ferry) return;
  const [status, items, runs, findings] = await Promise.all([
    ferry.status(), ferry.items({ limit: 500 }), ferry.runs(10), ferry.diagnose({ quietHours: 24 }),
  ]);
  let sent = 0;
  let total = 0;
  const rows = items.slice(-50).reverse().map((item) => {
    const size = item.size === null ? 0 : encryptedSize(item.size);
    const progress = item.state === 'done' || item.state === 'skipped' ? 1 : size ? item.bytesSent / size : 0;
    const li = document.createElement('li');
    li.className = `state-${item.state}`;
    li.dataset.state = item.state;
    const title = Object.assign(document.createElement('span'), { className: 'title', textContent: item.title });
    const bar = Object.assign(document.createElement('progress'), { max: 1, value: progress });
    const state = Object.assign(document.createElement('span'), { className: 'state', textContent: item.state });
    li.append(title, bar, state);
    if (item.error) li.append(Object.assign(document.createElement('span'), { className: 'error', textContent: item.error.message }));
    if (item.state === 'failed') {
      const retry = Object.assign(document.createElement('button'), { className: 'retry', textContent: 'Retry' });
      retry.onclick = () => ferry.retry(item.id).then(backUpNow).catch(explain);
      li.append(retry);
    }
    return li;
  });
  for (const item of items) {
    const size = item.size === null ? 0 : encryptedSize(item.size);
    total += size;
    sent += item.state === 'done' || item.state === 'skipped' ? size : item.bytesSent;
  }
  $('#items').replaceChildren(...rows);
  $('#overall').value = total ? sent / total : 0;
  const blocked = status.blocked ? ` · blocked: ${status.blocked}` : '';
  $('#counts').textContent = `${status.queued} queued · ${status.hashing + status.uploading} uploading · ${status.waiting} waiting · ${status.done} done · ${status.skipped} skipped · ${status.failed} failed${blocked} · ${megabytes(status.bytesUploaded)} sent`;
  $('#runs tbody').replaceChildren(...runs.map((run) => {
    const tr = document.createElement('tr');
    for (const cell of [run.trigger, new Date(run.startedAt).toLocaleTimeString(), `${(run.elapsedMs / 1000).toFixed(1)} s`, run.blocked ?? run.stoppedBecause, run.filesDone, megabytes(run.bytesUploaded)]) {
      tr.append(Object.assign(document.createElement('td'), { textContent: String(cell) }));
    }
    return tr;
  }));
  $('#findings').replaceChildren(...(findings.length ? findings : [{ severity: 'info', advice: 'Nothing to report: backup is healthy.', code: 'OK' }]).map((f) => {
    const li = Object.assign(document.createElement('li'), { className: f.severity, textContent: f.advice });
    li.dataset.code = f.code;
    return li;
  }));
}

const thumbnailUrls = [];
async function renderGallery() {
  const target = album();
  if (!target) return;
  try {
    const files = await albumFiles(target);
    thumbnailUrls.splice(0).forEach((url) => URL.revokeObjectURL(url));
    $('#gallery').replaceChildren(...files.map((file) => {
      const url = URL.createObjectURL(file.thumbnail);
      thumbnailUrls.push(url);
      const figure = document.createElement('figure');
      figure.append(Object.assign(document.createElement('img'), { src: url, alt: file.title }));
      figure.append(Object.assign(document.createElement('figcaption'), { textContent: file.title }));
      return figure;
    }));
  } catch (err) {
    // Said in the gallery, not the banner: the banner tells how the last run went.
    $('#gallery').replaceChildren(Object.assign(document.createElement('p'), {
      className: 'note', textContent: `The gallery could not be loaded: ${err.message}`,
    }));
  }
}

// --- wiring --------------------------------------------------------------------------

$('#signin-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  try {
    await signIn($('#token').value);
    await enter();
  } catch (err) {
    explain(err);
  }
});
$('#new-album').addEventListener('submit', async (event) => {
  event.preventDefault();
  try {
    const created = await createAlbum(ferry, $('#album-name').value.trim());
    albums.push(created);
    renderAlbums(created.id);
    $('#album-name').value = '';
    await renderGallery();
  } catch (err) {
    explain(err);
  }
});
$('#album').addEventListener('change', () => renderGallery());
$('#files').addEventListener('change', (event) => enqueueFiles(event.target.files));
const drop = $('#drop');
drop.addEventListener('dragover', (event) => { event.preventDefault(); drop.classList.add('over'); });
drop.addEventListener('dragleave', () => drop.classList.remove('over'));
drop.addEventListener('drop', (event) => {
  event.preventDefault();
  drop.classList.remove('over');
  enqueueFiles(event.dataTransfer.files);
});
if (typeof window.showDirectoryPicker === 'function') {
  $('#watch').addEventListener('click', async () => {
    try {
      await watchFolder(await window.showDirectoryPicker({ mode: 'read' }));
    } catch (err) {
      if (err?.name !== 'AbortError') explain(err);
    }
  });
} else {
  $('#watch').disabled = true;
  $('#watch-note').textContent = 'This browser cannot watch folders (no File System Access API).';
}
$('#backup').addEventListener('click', backUpNow);
$('#wake').addEventListener('click', () => simulateWakeUp().catch(explain));
$('#refresh-gallery').addEventListener('click', renderGallery);
setInterval(() => { if (!document.hidden) refresh().catch(() => {}); }, 2000);

// For tests and the console: a folder handle without a picker (e.g. from the
// origin-private file system), and the running state.
window.ferryDemo = {
  watchFolder,
  backUpNow,
  simulateWakeUp,
  ready: start().catch(explain),
};
