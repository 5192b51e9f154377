// The demo page. Everything backup-related goes through Ferry's public API
// (the queue, its events, runs, diagnose) and ferry-sync/sw; demo.js holds
// what the page shares with its service worker.
import { encryptedSize } from './pkg/index.js';
import { registerBackground } from './pkg/sw.js';
import { keepScreenAwake } from './pkg/wake.js';
import {
  API, SHELL_CACHE, SHELL_FILE, FILE_TYPE, DemoError, signIn, getSetting, setSetting, openFerry, listAlbums, knownAlbums,
  createAlbum, albumFiles, openFile, addWatchedFolder, watchedFolders, scanFolders,
} from './demo.js';

const $ = (selector) => document.querySelector(selector);
const el = (tag, props = {}) => Object.assign(document.createElement(tag), props);
let ferry = null;
/** `{id, name, key}`; without `key` when known only from this device's list (offline). */
let albums = [];
/** The foreground run in progress, and the one asked for meanwhile. */
let running = null;
let followUp = null;
let serverWasDown = false;
/** While the server cannot be reached: the timer of the next try. */
let nextTry = null;

const album = () => albums.find((a) => String(a.id) === $('#album').value);
const megabytes = (bytes) => `${(bytes / 1e6).toFixed(1)} MB`;
const plural = (n, one, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;
const pending = (status) => status.queued + status.hashing + status.uploading + status.waiting;
const ended = (run) => run.startedAt + run.elapsedMs;

// --- the banner ------------------------------------------------------------------
//
// The banner says one thing about now. `shown` remembers what it stands for,
// so that each draw can tell when the queue has moved past its words: once
// a run has ended since (in this page, another tab or the service worker),
// that run's outcome is the news; "offline" goes when the network is back.

let shown = null;

/** `kind`: info, success, warning or error, each with its own look. */
function say(message, kind = 'info', about = {}) {
  const banner = $('#banner');
  banner.hidden = !message;
  banner.textContent = message ?? '';
  banner.className = kind;
  shown = message ? { since: Date.now(), ...about } : null;
}

/** Turns any failure into words on the page; nothing queued is touched. */
function explain(err) {
  if (err instanceof DemoError) return say(err.message, 'error');
  if (err?.name === 'FerryError') return say(`Ferry: ${err.message} (${err.code})`, 'error');
  say(String(err?.message ?? err), 'error');
}

// --- sign in and albums ----------------------------------------------------------

async function start() {
  const notice = await takeTokenFromUrl();
  const token = await getSetting('token');
  if (!token) {
    if (notice?.unchecked) explain(notice.unchecked);
    return;
  }
  $('#token').value = token;
  try {
    if (!notice?.checked) await signIn(token);
    if (serverWasDown) {
      // Files that failed to reach it wait out a backoff; the server is
      // back, so they need not.
      serverWasDown = false;
      await openQueue();
      for (const item of await ferry.items({ state: 'waiting' })) await ferry.retry(item.id);
    }
    await enter();
    if (notice?.refused) say(notice.refused, 'warning');
  } catch (err) {
    explain(err);
    if (err instanceof DemoError && err.kind === 'offline') await waitForServer();
  }
}

/**
 * A token in the link (as `npm start` prints it) is kept only if the server
 * takes it, and then leaves the address bar, so it is not bookmarked, shared
 * or shown. A refused one never replaces a stored token that works; one
 * that cannot be checked now (no network) stays in the link for the next try.
 */
async function takeTokenFromUrl() {
  const url = new URL(location.href);
  const token = url.searchParams.get('token');
  if (!token) return null;
  const forget = () => {
    url.searchParams.delete('token');
    history.replaceState(history.state, '', url);
  };
  try {
    await signIn(token);
    forget();
    return { checked: true };
  } catch (err) {
    if (!(err instanceof DemoError) || err.kind !== 'auth') return { unchecked: err };
    forget();
    if (await getSetting('token')) {
      return { refused: 'The token in this link was refused by the server; this page stays signed in with the one it already had.' };
    }
    $('#token').value = token;
    throw err;
  }
}

/** The queue, opened once; a later sign-in hands it the new token (a run in progress goes on). */
async function openQueue() {
  if (ferry) {
    ferry.setToken(await getSetting('token'));
    return ferry;
  }
  ferry = await openFerry();
  for (const event of ['progress', 'item', 'run']) ferry.on(event, () => refresh());
  return ferry;
}

/**
 * The server cannot be reached: the queue lives on this device, so show it
 * with the albums known from before, say what is kept, and try again every
 * few seconds.
 */
async function waitForServer() {
  serverWasDown = true;
  await openQueue();
  if (albums.length === 0) {
    albums = await knownAlbums();
    renderAlbums(await getSetting('album'));
  }
  $('#signin').hidden = true;
  $('#app').hidden = false;
  const offline = navigator.onLine === false;
  $('#gallery').replaceChildren(el('p', {
    className: 'note', textContent: `The gallery shows what is on the server; it comes back with ${offline ? 'the network' : 'the server'}.`,
  }));
  await refresh();
  const kept = pending(await ferry.status());
  const when = offline ? 'this device is back online' : 'it is back';
  const what = kept === 0 ? 'Nothing is waiting to back up.'
    : kept === 1 ? `The 1 file waiting here is kept on this device and backs up as soon as ${when}.`
      : `The ${kept} files waiting here are kept on this device and back up as soon as ${when}.`;
  if (offline) say(`This device is offline. ${what}`, 'warning', { offline: true });
  else say(`Cannot reach the server at ${API}. Is \`npm start\` still running? ${what} This page tries again every few seconds.`, 'error');
  nextTry = setTimeout(() => start().catch(explain), 3000);
}

async function enter() {
  await openQueue();
  // A new token lifts a block the old one caused.
  if ((await ferry.status()).blocked === 'auth') await ferry.resume();
  $('#signin').hidden = true;
  $('#app').hidden = false;
  say(null);
  albums = await listAlbums();
  if (albums.length === 0) albums.push(await createAlbum(ferry, 'Camera roll'));
  // The same album keys for this device's queue (a fresh queue after a reinstall).
  for (const a of albums) await ferry.setCollectionKey(a.id, a.key);
  renderAlbums(await getSetting('album'));
  await setupBackground();
  await refresh();
  await renderGallery();
  // Whatever a reload or a closed tab interrupted, and whatever changed in
  // a watched folder, continues now.
  backUpNow({ ifPending: true });
}

/** Shows the albums with `selected` (kept across loads) chosen, else the first. */
function renderAlbums(selected) {
  $('#album').replaceChildren(...albums.map((a) => new Option(a.name, a.id, false, a.id === selected)));
}

async function selectAlbum() {
  await setSetting('album', album()?.id);
  await renderGallery();
}

async function setupBackground() {
  if (!('serviceWorker' in navigator)) {
    $('#wake').disabled = true;
    return;
  }
  await navigator.serviceWorker.register('sw.js', { type: 'module' });
  // Without the cache the page only fails to open while the server is down.
  await cacheShell().catch((err) => console.warn('[ferry-demo] the page was not cached:', err));
  // Files not yet backed up live in this origin's storage: ask that the
  // browser keep it under storage pressure.
  await navigator.storage?.persist?.().catch(() => false);
}

/**
 * Background Sync is one-shot and fires at once while the device is online:
 * asked for on every load, it ran the service worker on an empty queue each
 * time (a useless run on record per page load). So it is asked for when a
 * run stops offline, which is what it is for: the worker then backs up when
 * the network returns, even with this tab closed. registerBackground also
 * asks for Periodic Background Sync; this page runs by itself when the
 * network comes back while it is open (see the `online` listener).
 */
let background = null;
function askForBackgroundSync() {
  if (background || !('serviceWorker' in navigator)) return;
  background = navigator.serviceWorker.ready
    .then((registration) => registerBackground(registration, { runOnOnline: false }))
    .then((granted) => setSetting('background', granted))
    .catch((err) => console.warn('[ferry-demo] background sync was not registered:', err));
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

// --- adding files ----------------------------------------------------------------

async function enqueueFiles(files) {
  const target = album();
  if (!target || files.length === 0) return;
  try {
    const ids = await ferry.enqueue([...files].map((file) => ({ collectionId: target.id, file })));
    say(`${plural(ids.length, 'file')} queued for “${target.name}”.`);
    await refresh();
    await backUpNow();
  } catch (err) {
    explain(err);
  }
}

/** Watches a folder for the selected album: its files are queued now and backed up. */
async function watchFolder(handle) {
  const target = album();
  await addWatchedFolder(handle, target.id);
  renderFolders(await scanFolders(ferry));
  await refresh();
  // Not awaited: the folder is being watched now; the backup shows in the queue.
  backUpNow({ scan: false });
}

/** Shows the last scan of the watched folders (this page's or the service worker's). */
let foldersShown = '';
function renderFolders(report) {
  if (JSON.stringify(report) === foldersShown) return;
  foldersShown = JSON.stringify(report);
  const list = $('#folders');
  list.replaceChildren(...report.map((folder) => {
    const li = document.createElement('li');
    if (folder.state === 'permission') {
      li.textContent = `Folder “${folder.name}”: permission needed to read this folder. `;
      const grant = el('button', { textContent: 'Grant access' });
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
      // With the total: a scan right after the one that queued everything finds nothing new.
      const scanned = folder.queued ? `${folder.queued} new or changed queued by the last scan` : 'nothing new at the last scan';
      li.textContent = `Folder “${folder.name}”: watched, ${plural(folder.found, 'photo or video', 'photos or videos')}; ${scanned}.`;
    }
    return li;
  }));
}

// --- running ---------------------------------------------------------------------

/**
 * A foreground run. Asked for while one goes (files added, a folder
 * watched, a load), it follows that one, once, if something is left then.
 */
function backUpNow(options = {}) {
  if (!running) {
    running = backUp(options).finally(() => { running = null; });
    return running;
  }
  followUp ??= running.then(() => {
    followUp = null;
    return backUpNow({ ifPending: true });
  });
  return followUp;
}

/**
 * `ifPending`: only if something waits (after the folder scan): what the
 * page starts by itself (a load, a retry timer, the network back) must not
 * put an idle run on record each time. `scan: false` when the folders were
 * just scanned.
 */
async function backUp({ ifPending = false, scan = true }) {
  if (!ferry) return;
  $('#backup').disabled = true;
  try {
    if (scan) renderFolders(await scanFolders(ferry));
    if (ifPending && pending(await ferry.status()) === 0) return;
    const run = () => ferry.sync({ trigger: 'foreground' });
    const report = $('#awake').checked ? (await keepScreenAwake(run)).result : await run();
    describe(report);
    if (report.stoppedBecause === 'offline') askForBackgroundSync();
    // Retries wait for their time; this page runs again then.
    if (report.nextRunHint > 0) setTimeout(() => backUpNow({ ifPending: true }), report.nextRunHint);
  } catch (err) {
    explain(err);
  } finally {
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

const TRIGGERS = {
  foreground: 'this page',
  sync: 'background sync',
  periodicsync: 'periodic background sync',
  push: 'push wake-up',
  'ios-refresh': 'iOS background refresh',
  'ios-push': 'iOS silent push',
  'android-work': 'Android background work',
};

const REASONS = {
  idle: 'everything queued is done',
  budget: 'its time was up; the rest continues in the next run',
  offline: 'the device is offline; the files waiting here back up when it is back online',
  auth: 'the server refused the token; sign in again',
  quota: 'the storage is full',
  busy: 'another tab or the service worker was already backing up',
  error: 'something went wrong on this device',
  deferred: 'some files wait for a better moment',
  killed: 'the system ended it before it finished; the next run carries on',
};

const BLOCKED = {
  auth: 'the server refused the token; sign in again',
  payment: 'the account needs a subscription',
  quota: 'the storage is full',
  offline: REASONS.offline,
  permission: 'this page may no longer read some of your files; grant access to the folder again (under “Add photos and videos”) and backup continues where it stopped',
};

const KINDS = { auth: 'error', payment: 'error', quota: 'error', error: 'error', offline: 'warning', deferred: 'warning', killed: 'warning' };

const capital = (text) => text[0].toUpperCase() + text.slice(1);

/** What a policy holds back, in words: `report.deferred` by policy. */
function heldBack({ videos, wifiOnly, fileCap }) {
  const parts = [];
  if (videos) {
    parts.push(`${plural(videos, 'video')} ${videos === 1 ? 'waits' : 'wait'} for a longer run: videos go only in runs of a minute or more, and a background wake-up is shorter; “Back up now” sends ${videos === 1 ? 'it' : 'them'} from this page`);
  }
  if (wifiOnly) parts.push(`${plural(wifiOnly, 'file')} ${wifiOnly === 1 ? 'waits' : 'wait'} for Wi-Fi (this connection is metered)`);
  if (fileCap) parts.push(`${plural(fileCap, 'file')} ${fileCap === 1 ? 'is' : 'are'} left for the next run (one background run takes only so many)`);
  return parts.join('; ') || REASONS.deferred;
}

/** Why a run stopped, in words, and how the banner should look for it. */
function outcome(run) {
  if (run.blocked) return { reason: BLOCKED[run.blocked], kind: KINDS[run.blocked] ?? 'warning' };
  if (run.stoppedBecause === 'deferred' && run.deferred) return { reason: heldBack(run.deferred), kind: 'warning' };
  if (run.stoppedBecause === 'idle' && run.nextRunHint > 0) {
    return { reason: `the rest waits to retry in ${Math.ceil(run.nextRunHint / 1000)} s (each file shows why)`, kind: 'warning' };
  }
  if (run.stoppedBecause === 'idle') return { reason: REASONS.idle, kind: 'success' };
  return { reason: REASONS[run.stoppedBecause] ?? run.stoppedBecause, kind: KINDS[run.stoppedBecause] ?? 'info' };
}

/** Puts a run's outcome in the banner, unless it already shows a later one. */
function describe(report) {
  if (shown?.run && ended(shown.run) > ended(report)) return;
  const mine = report.trigger === 'foreground';
  const about = { run: report, since: ended(report), offline: report.stoppedBecause === 'offline' };
  if (report.stoppedBecause === 'busy') {
    const text = mine ? 'Another tab or the service worker is backing up right now; this page shows its progress.'
      : `A ${TRIGGERS[report.trigger]} run in the service worker did not start: ${REASONS.busy}.`;
    return say(text, 'info', about);
  }
  const who = mine ? 'Backup' : `A ${TRIGGERS[report.trigger]} run in the service worker`;
  const { reason, kind } = outcome(report);
  say(`${who} finished in ${(report.elapsedMs / 1000).toFixed(1)} s: ${plural(report.filesDone, 'file')} backed up (${megabytes(report.bytesUploaded)}); ${reason}.`, kind, about);
  if (report.blocked === 'auth') $('#signin').hidden = false;
}

// --- drawing ---------------------------------------------------------------------

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

/**
 * The overall bar measures the current batch: what was queued since the
 * queue was last empty (the last id then is kept across loads), not every
 * file ever uploaded. An item put back into the queue (a retry) counts
 * while it waits.
 */
let batchAfter;
async function batchProgress(status, items) {
  batchAfter ??= (await getSetting('batchAfter')) ?? 0;
  if (pending(status) === 0) {
    const last = items.at(-1)?.id ?? 0;
    if (last !== batchAfter) await setSetting('batchAfter', (batchAfter = last));
    return items.length > 0 ? 1 : 0;
  }
  let sent = 0;
  let total = 0;
  for (const item of items) {
    const finished = item.state === 'done' || item.state === 'skipped' || item.state === 'failed';
    if (item.id <= batchAfter && finished) continue;
    const size = item.size === null ? 0 : encryptedSize(item.size);
    total += size;
    sent += item.state === 'done' || item.state === 'skipped' ? size : item.bytesSent;
  }
  return total ? sent / total : 0;
}

async function draw() {
  if (!ferry) return;
  const [status, items, runs, findings] = await Promise.all([
    ferry.status(), ferry.items({ limit: 500 }), ferry.runs(10), ferry.diagnose({ quietHours: 24 }),
  ]);
  const latest = runs.reduce((a, r) => (a && ended(a) >= ended(r) ? a : r), null);
  if (shown && latest && ended(latest) > shown.since) {
    describe(latest);
    if (latest.filesDone > 0) renderGallery();
  } else if (shown?.offline && navigator.onLine) say('Back online: the files waiting here are on their way.', 'info', { run: shown.run });

  const overall = await batchProgress(status, items);
  const rows = items.slice(-50).reverse().map((item) => {
    const size = item.size === null ? 0 : encryptedSize(item.size);
    const progress = item.state === 'done' || item.state === 'skipped' ? 1 : size ? item.bytesSent / size : 0;
    const li = el('li', { className: `state-${item.state}` });
    li.dataset.state = item.state;
    li.append(
      el('span', { className: 'title', textContent: item.title }),
      el('progress', { max: 1, value: progress }),
      el('span', { className: 'state', textContent: item.state }),
    );
    if (item.error) li.append(el('span', { className: 'error', textContent: item.error.message }));
    if (item.state === 'failed') {
      const retry = el('button', { className: 'retry', textContent: 'Retry' });
      retry.onclick = () => ferry.retry(item.id).then(() => backUpNow()).catch(explain);
      li.append(retry);
    }
    return li;
  });
  $('#items').replaceChildren(...rows);
  $('#overall').value = overall;
  renderFolders((await getSetting('lastScan')) ?? []);
  const blocked = status.blocked ? ` · blocked: ${status.blocked}` : '';
  $('#counts').textContent = `${status.queued} queued · ${status.hashing + status.uploading} uploading · ${status.waiting} waiting · ${status.done} done · ${status.skipped} skipped · ${status.failed} failed${blocked} · ${megabytes(status.bytesUploaded)} sent`;
  $('#runs tbody').replaceChildren(...runs.map((run) => {
    const tr = el('tr');
    tr.dataset.stopped = run.stoppedBecause;
    const cells = [
      capital(TRIGGERS[run.trigger] ?? run.trigger),
      new Date(run.startedAt).toLocaleTimeString(),
      `${(run.elapsedMs / 1000).toFixed(1)} s`,
      capital(run.stoppedBecause === 'busy' ? 'did not start: another run was going' : outcome(run).reason),
      run.filesDone,
      megabytes(run.bytesUploaded),
    ];
    for (const cell of cells) tr.append(el('td', { textContent: String(cell) }));
    return tr;
  }));
  $('#findings').replaceChildren(...(findings.length ? findings : [{ severity: 'info', advice: 'Nothing to report: backup is healthy.', code: 'OK' }]).map((f) => {
    const li = el('li', { className: f.severity, textContent: f.advice });
    li.dataset.code = f.code;
    return li;
  }));
}

// --- the gallery -----------------------------------------------------------------

const ICONS = {
  video: '<svg viewBox="0 0 24 24" aria-hidden="true"><circle cx="12" cy="12" r="11"/><path d="M9.5 7.5v9l7-4.5z" fill="#fff"/></svg>',
  file: '<svg viewBox="0 0 24 24" aria-hidden="true"><path d="M5 2h9l5 5v15H5z"/><path d="M14 2v5h5" fill="#cbd5e1"/></svg>',
};

const galleryUrls = [];
async function renderGallery() {
  const target = album();
  if (!target?.key) return;
  try {
    const files = await albumFiles(target);
    const tiles = await Promise.all(files.map(tile));
    galleryUrls.splice(0).forEach((url) => URL.revokeObjectURL(url));
    galleryUrls.push(...tiles.map((t) => t.url).filter(Boolean));
    $('#gallery').replaceChildren(...tiles.map((t) => t.figure));
    if (files.length === 0) $('#gallery').append(el('p', { className: 'note', textContent: `Nothing in “${target.name}” on the server yet.` }));
  } catch (err) {
    // Said in the gallery, not the banner: the banner tells how the last run went.
    $('#gallery').replaceChildren(el('p', { className: 'note', textContent: `The gallery could not be loaded: ${err.message}` }));
  }
}

/**
 * A gallery tile that says what the file is: its thumbnail, or, where the
 * device could draw none (Ferry then sends a 1×1 placeholder: videos, HEIC,
 * damaged images), an icon with the kind of file. Either way its title, and
 * a click opens it in full.
 */
async function tile(file) {
  const video = file.fileType === FILE_TYPE.video;
  const bitmap = await createImageBitmap(file.thumbnail).catch(() => null);
  const preview = bitmap !== null && bitmap.width > 1;
  bitmap?.close();
  const figure = el('figure');
  figure.dataset.kind = video ? 'video' : preview ? 'photo' : 'file';
  const open = el('button', { type: 'button', className: 'thumb', title: `Open ${file.title}` });
  open.onclick = () => view(file);
  let url = null;
  if (preview) {
    url = URL.createObjectURL(file.thumbnail);
    open.append(el('img', { src: url, alt: file.title }));
  }
  if (video || !preview) {
    const badge = el('span', { className: 'badge' });
    badge.innerHTML = ICONS[video ? 'video' : 'file'];
    const extension = /\.([^.]+)$/.exec(file.title)?.[1].toUpperCase() ?? 'File';
    badge.append(el('span', { textContent: video ? 'Video' : `${extension}, no preview` }));
    open.append(badge);
  }
  figure.append(open, el('figcaption', { textContent: file.title }));
  return { figure, url };
}

/** Downloads a file, decrypts it in this page and shows it (a photo, a video, or a link to save it). */
let viewing = null;
async function view(file) {
  const dialog = $('#viewer');
  const body = $('#viewer-body');
  viewing = file.id;
  $('#viewer-title').textContent = file.title;
  body.replaceChildren(el('p', { className: 'note', textContent: 'Downloading and decrypting…' }));
  if (!dialog.open) dialog.showModal();
  try {
    const blob = await openFile(file);
    if (viewing !== file.id) return;
    URL.revokeObjectURL(dialog.dataset.url);
    const url = (dialog.dataset.url = URL.createObjectURL(blob));
    const video = file.fileType === FILE_TYPE.video || blob.type.startsWith('video/');
    const media = video ? el('video', { src: url, controls: true }) : el('img', { src: url, alt: file.title });
    const size = blob.size < 1e6 ? `${Math.ceil(blob.size / 1e3)} KB` : megabytes(blob.size);
    const save = el('a', { href: url, download: file.title, textContent: `Save ${file.title} (${size}, decrypted)` });
    media.onerror = () => media.replaceWith(el('p', { className: 'note', textContent: 'This browser cannot show this file; save it to open it.' }));
    body.replaceChildren(media, save);
  } catch (err) {
    if (viewing === file.id) body.replaceChildren(el('p', { className: 'note', textContent: `Could not open ${file.title}: ${err.message}` }));
  }
}

// --- wiring ----------------------------------------------------------------------

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
    await selectAlbum();
  } catch (err) {
    explain(err);
  }
});
$('#album').addEventListener('change', () => selectAlbum().catch(explain));
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
$('#backup').addEventListener('click', () => backUpNow());
$('#wake').addEventListener('click', () => simulateWakeUp().catch(explain));
$('#refresh-gallery').addEventListener('click', () => renderGallery());
$('#viewer').addEventListener('close', () => {
  viewing = null;
  $('#viewer-body').replaceChildren();
  URL.revokeObjectURL($('#viewer').dataset.url);
});
// Back online with this page open: it tries the server at once, or sends
// what waits itself.
window.addEventListener('online', () => {
  if (!serverWasDown) return backUpNow({ ifPending: true });
  clearTimeout(nextTry);
  start().catch(explain);
});
window.addEventListener('offline', () => refresh());
setInterval(() => { if (!document.hidden) refresh().catch(() => {}); }, 2000);

// For tests and the console: a folder handle without a picker (e.g. from the
// origin-private file system), and the running state.
window.ferryDemo = {
  watchFolder,
  backUpNow,
  simulateWakeUp,
  ready: start().catch(explain),
};
