// What Ferry asks of the platform that is easier said in JavaScript.

// Takes the Web Lock `name` if no one holds it. Resolves with a function
// that releases it, `null` when another runner holds it, or `undefined`
// where Web Locks do not exist (the engine's IndexedDB lease then decides).
// A lock dies with its holder, so a killed service worker never blocks the
// next run.
export function tryLock(name) {
  const locks = globalThis.navigator?.locks;
  if (!locks || typeof locks.request !== 'function') return Promise.resolve(undefined);
  return new Promise((resolve, reject) => {
    locks
      .request(name, { ifAvailable: true }, (lock) => {
        if (!lock) {
          resolve(null);
          return undefined;
        }
        return new Promise((release) => resolve(release));
      })
      .catch(reject);
  });
}

// Waits for the Web Lock `name`, however long another holder keeps it.
// Resolves with a function that releases it, or `undefined` where Web Locks
// do not exist. Ferry.open holds it while it migrates the database's records.
export function waitLock(name) {
  const locks = globalThis.navigator?.locks;
  if (!locks || typeof locks.request !== 'function') return Promise.resolve(undefined);
  return new Promise((resolve, reject) => {
    locks.request(name, () => new Promise((release) => resolve(release))).catch(reject);
  });
}

// Whether anyone (this context, another tab, the service worker) holds the
// Web Lock `name` now; false where Web Locks do not exist.
export async function lockHeld(name) {
  const locks = globalThis.navigator?.locks;
  if (!locks || typeof locks.query !== 'function') return false;
  try {
    const { held } = await locks.query();
    return held.some((lock) => lock.name === name);
  } catch {
    return false;
  }
}

// Closes the IndexedDB connection `db` when another one asks for a newer
// version of the database (or deletes it), so this tab never holds it up.
export function closeOnVersionChange(db) {
  db.onversionchange = () => db.close();
}

// Whether the link is one a `wifiOnly` policy forbids: data saver on, or a
// cellular connection, where the Network Information API tells.
export function meteredLink() {
  const connection = globalThis.navigator?.connection;
  if (!connection) return false;
  return connection.saveData === true || connection.type === 'cellular';
}

// What `diagnose()` can learn by itself; `null` where this context cannot tell.
export async function detectEnvironment() {
  const out = { periodicSync: null, backgroundSync: null, storagePersisted: null };
  out.backgroundSync = typeof globalThis.SyncManager === 'function';
  try {
    const status = await globalThis.navigator?.permissions?.query({ name: 'periodic-background-sync' });
    if (status) out.periodicSync = status.state === 'granted';
  } catch {
    // The permission name is unknown outside Chromium.
    out.periodicSync = false;
  }
  try {
    if (typeof globalThis.navigator?.storage?.persisted === 'function') {
      out.storagePersisted = await globalThis.navigator.storage.persisted();
    }
  } catch {
    // persisted() is missing in some workers.
  }
  return out;
}
