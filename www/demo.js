// What the demo page and its service worker share: settings in IndexedDB,
// the account's master key (sealed by a non-extractable WebCrypto key),
// albums, and watched folders. Only Ferry's public API is used.
import init, {
  Ferry, generateKey, wrapKey, unwrapKey, sealBox, openBox, decryptMessage, decryptFileBytes, toBase64, fromBase64,
} from './pkg/index.js';

/** The API is served from the same origin as the demo. */
export const API = self.location.origin;
export const QUEUE_DATABASE = 'ferry-demo-queue';
/** The page's own files, kept for when the server is down (sw.js). */
export const SHELL_CACHE = 'ferry-demo-shell';
export const SHELL_FILE = /(\/|\.(html|js|css|wasm|svg|webmanifest))$/;
const SETTINGS_DATABASE = 'ferry-demo';
const MEDIA = /\.(jpe?g|png|gif|webp|heic|heif|avif|bmp|tiff?|mp4|m4v|mov|webm|mkv|avi|3gp)$/i;

// --- settings: a tiny key-value store --------------------------------------

function settingsDb() {
  return new Promise((resolve, reject) => {
    const request = indexedDB.open(SETTINGS_DATABASE, 1);
    request.onupgradeneeded = () => request.result.createObjectStore('settings');
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

async function settings(mode, use) {
  const db = await settingsDb();
  try {
    return await new Promise((resolve, reject) => {
      const tx = db.transaction('settings', mode);
      const request = use(tx.objectStore('settings'));
      tx.oncomplete = () => resolve(request?.result);
      tx.onerror = () => reject(tx.error);
      tx.onabort = () => reject(tx.error);
    });
  } finally {
    db.close();
  }
}

export const getSetting = (key) => settings('readonly', (store) => store.get(key));
export const setSetting = (key, value) => settings('readwrite', (store) => store.put(value, key));

// --- the account -------------------------------------------------------------

/** A problem the page explains in words: `kind` is offline, auth or server. */
export class DemoError extends Error {
  constructor(kind, message) {
    super(message);
    this.kind = kind;
  }
}

/** Calls the API with the stored token, or with `token` when one is being checked. */
export async function api(path, init = {}, token = undefined) {
  token ??= await getSetting('token');
  let response;
  try {
    response = await fetch(API + path, { ...init, headers: { 'X-Auth-Token': token ?? '', 'Content-Type': 'application/json', ...init.headers } });
  } catch {
    if (self.navigator?.onLine === false) throw new DemoError('offline', 'This device is offline; backup continues when it is back online.');
    throw new DemoError('offline', `Cannot reach the server at ${API}. Is \`npm start\` still running?`);
  }
  if (response.status === 401) throw new DemoError('auth', 'The server refused the token. Paste the dev token that `npm start` printed.');
  if (!response.ok) throw new DemoError('server', `The server answered ${response.status} to ${path}.`);
  return response;
}

/**
 * Checks a token against the server and keeps it only if the server takes
 * it: a refused one must not replace a stored token that works.
 */
export async function signIn(token) {
  await api('/collections', {}, token.trim());
  await setSetting('token', token.trim());
}

/**
 * The master key that wraps album keys, made on this device and kept only
 * sealed by a non-extractable AES-GCM key (a copy of the database is useless
 * elsewhere).
 */
export async function masterKey() {
  let wrapping = await getSetting('wrappingKey');
  if (!wrapping) {
    wrapping = await crypto.subtle.generateKey({ name: 'AES-GCM', length: 256 }, false, ['encrypt', 'decrypt']);
    await setSetting('wrappingKey', wrapping);
  }
  const sealed = await getSetting('masterKey');
  if (sealed) return new Uint8Array(await crypto.subtle.decrypt({ name: 'AES-GCM', iv: sealed.iv }, wrapping, sealed.ciphertext));
  const key = generateKey();
  const iv = crypto.getRandomValues(new Uint8Array(12));
  await setSetting('masterKey', { iv, ciphertext: await crypto.subtle.encrypt({ name: 'AES-GCM', iv }, wrapping, key) });
  return key;
}

/** The queue, opened with the stored token. */
export async function openFerry() {
  await init();
  const token = await getSetting('token');
  if (!token) throw new DemoError('auth', 'Sign in first.');
  return Ferry.open({ endpoint: API, token, database: QUEUE_DATABASE });
}

// --- albums ------------------------------------------------------------------

const text = new TextEncoder();

export async function listAlbums() {
  const master = await masterKey();
  const { collections } = await (await api('/collections/v2?sinceTime=0')).json();
  const albums = [];
  for (const c of collections) {
    if (c.isDeleted) continue;
    try {
      const key = unwrapKey(fromBase64(c.encryptedKey), fromBase64(c.keyDecryptionNonce), master);
      const name = new TextDecoder().decode(openBox(fromBase64(c.encryptedName), fromBase64(c.nameDecryptionNonce), key));
      albums.push({ id: c.id, name, key });
    } catch {
      // An album made by another device or client: its key is not ours to open.
    }
  }
  await rememberAlbums(albums);
  return albums;
}

/**
 * Album ids and names as last seen on the server, so the page can still
 * show them (and queue files into them) while the device is offline. Names
 * only: the keys stay wrapped on the server, and Ferry keeps its own sealed.
 */
export const knownAlbums = async () => (await getSetting('albums')) ?? [];
const rememberAlbums = (albums) => setSetting('albums', albums.map(({ id, name }) => ({ id, name })));

/**
 * A new album as Ente's clients make one, so their apps can open it: a fresh
 * key wrapped under the master key (48 bytes and a 24-byte nonce), and the
 * name sealed with secretbox under the album's own key. Ferry is then given
 * the key to encrypt the album's files' keys.
 */
export async function createAlbum(ferry, name) {
  const key = generateKey();
  const wrapped = wrapKey(key, await masterKey());
  const sealedName = sealBox(text.encode(name), key);
  const response = await api('/collections', {
    method: 'POST',
    body: JSON.stringify({
      encryptedKey: toBase64(wrapped.encryptedKey), keyDecryptionNonce: toBase64(wrapped.nonce),
      encryptedName: toBase64(sealedName.encryptedData), nameDecryptionNonce: toBase64(sealedName.nonce), type: 'album',
    }),
  });
  const { collection } = await response.json();
  await ferry.setCollectionKey(collection.id, key);
  const album = { id: collection.id, name, key };
  await rememberAlbums([...(await knownAlbums()).filter((a) => a.id !== album.id), album]);
  return album;
}

/**
 * What the server holds in an album, with each file's title, type and
 * thumbnail (the preview answers with a redirect to the store, which fetch
 * follows), and what `openFile` needs to fetch and decrypt the whole file.
 */
export async function albumFiles(album) {
  const { diff } = await (await api(`/collections/v2/diff?collectionID=${album.id}&sinceTime=0`)).json();
  const files = [];
  for (const record of diff) {
    // A trashed or removed file stays in the diff as a removal marker.
    if (record.isDeleted) continue;
    const fileKey = unwrapKey(fromBase64(record.encryptedKey), fromBase64(record.keyDecryptionNonce), album.key);
    const metadata = JSON.parse(new TextDecoder().decode(
      decryptMessage(fileKey, fromBase64(record.metadata.decryptionHeader), fromBase64(record.metadata.encryptedData)),
    ));
    const sealed = new Uint8Array(await (await api(`/files/preview/${record.id}`)).arrayBuffer());
    const jpeg = decryptMessage(fileKey, fromBase64(record.thumbnail.decryptionHeader), sealed);
    files.push({
      id: record.id, title: metadata.title, fileType: metadata.fileType, thumbnail: new Blob([jpeg], { type: 'image/jpeg' }),
      fileKey, header: record.file.decryptionHeader,
    });
  }
  return files;
}

export const FILE_TYPE = { image: 0, video: 1 };
const MIME = {
  jpg: 'image/jpeg', jpeg: 'image/jpeg', png: 'image/png', gif: 'image/gif', webp: 'image/webp', avif: 'image/avif',
  bmp: 'image/bmp', heic: 'image/heic', heif: 'image/heif', tif: 'image/tiff', tiff: 'image/tiff',
  mp4: 'video/mp4', m4v: 'video/mp4', mov: 'video/quicktime', webm: 'video/webm', mkv: 'video/x-matroska',
};

/**
 * A file from `albumFiles` in full: downloaded (the server redirects to the
 * store, as for thumbnails) and decrypted in the page with its file key.
 */
export async function openFile(file) {
  const sealed = new Uint8Array(await (await api(`/files/download/${file.id}`)).arrayBuffer());
  const bytes = decryptFileBytes(file.fileKey, fromBase64(file.header), sealed);
  const extension = /\.([^.]+)$/.exec(file.title)?.[1].toLowerCase();
  const type = MIME[extension] ?? (file.fileType === FILE_TYPE.video ? 'video/mp4' : '');
  return new Blob([bytes], { type });
}

// --- watched folders ---------------------------------------------------------

export async function watchedFolders() {
  return (await getSetting('folders')) ?? [];
}

export async function addWatchedFolder(handle, collectionId) {
  const folders = await watchedFolders();
  folders.push({ handle, collectionId, name: handle.name });
  await setSetting('folders', folders);
}

async function* mediaFiles(directory, prefix) {
  for await (const [name, entry] of directory.entries()) {
    const path = `${prefix}/${name}`;
    if (entry.kind === 'directory') yield* mediaFiles(entry, path);
    else if (MEDIA.test(name)) yield { path, entry };
  }
}

/**
 * Re-scans every watched folder: files that are new or changed since the
 * last scan are queued, unchanged ones are not; the report says how many
 * photos and videos each holds and how many were queued. A folder whose
 * permission is gone is reported as such and skipped; nothing queued is
 * touched.
 */
export async function scanFolders(ferry) {
  const folders = await watchedFolders();
  const seen = (await getSetting('seen')) ?? {};
  const report = [];
  for (const folder of folders) {
    const permission = folder.handle.queryPermission ? await folder.handle.queryPermission({ mode: 'read' }) : 'granted';
    if (permission !== 'granted') {
      report.push({ name: folder.name, state: 'permission', queued: 0 });
      continue;
    }
    const batch = [];
    const signatures = {};
    let found = 0;
    try {
      for await (const { path, entry } of mediaFiles(folder.handle, folder.name)) {
        found += 1;
        const file = await entry.getFile();
        const signature = `${file.size}:${file.lastModified}`;
        const key = `${folder.collectionId}:${path}`;
        if (seen[key] !== signature) {
          batch.push({ collectionId: folder.collectionId, handle: entry });
          signatures[key] = signature;
        }
      }
    } catch (err) {
      report.push({ name: folder.name, state: 'unreadable', queued: 0, error: String(err?.message ?? err) });
      continue;
    }
    if (batch.length > 0) {
      await ferry.enqueue(batch);
      Object.assign(seen, signatures);
      await setSetting('seen', seen);
    }
    report.push({ name: folder.name, state: 'ok', found, queued: batch.length });
  }
  await setSetting('lastScan', report);
  return report;
}
