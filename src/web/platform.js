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

// The fields of an `enqueue` item that Ferry reads (ITEM_FIELDS in
// src/web/queue_js.rs, in that order), in one call: read one at a time from
// Rust, each name was made anew as a JS string, half a second of a
// 100,000-item enqueue.
export function itemFields(item) {
  return [
    item.collectionId,
    item.file,
    item.handle,
    item.source,
    item.thumbnail,
    item.title,
    item.fileType,
    item.creationTime,
    item.modificationTime,
  ];
}

// ---- IndexedDB, for the engine's store (src/web/store.rs) ----
//
// Said in JavaScript: promises over requests and transactions are a few
// lines here, and Rust glue for the same calls (an IndexedDB crate with its
// own futures and error types) cost 9.8 KB gzip of the wasm budget. (It
// shares this module with the rest of the platform glue: as a module of its
// own, wasm-bindgen's headless test runner intermittently never finished
// loading the test page.)
//
// Every idb* export is async, so whatever fails (a closed connection throws
// synchronously) reaches Rust as a rejected promise. Every call is one short
// transaction whose requests all go out before any
// await, so a transaction never spans other work (IndexedDB commits one as
// soon as control returns to the event loop with nothing pending). Records
// cross the boundary packed in one Uint8Array each way, so a batch of many
// records costs one crossing, not one per record:
//   batch: [table count u8], per table [name length u8][name], then per op
//          [table index u8][key length u32][key][0 = delete | 1 = put |
//          2 = merge | 3 = require a record | 4 = require this value] and
//          for a put or 4 [value length u32][value]
//   scan:  per record, [key length u32][key][value length u32][value]
// (lengths little-endian).

const utf8 = new TextDecoder();

function factory() {
  const idb = globalThis.indexedDB;
  if (!idb) throw new DOMException('IndexedDB is not available in this context', 'NotSupportedError');
  return idb;
}

function settled(request) {
  return new Promise((resolve, reject) => {
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

// Resolves when the transaction commits; rejects with why it did not (a
// QuotaExceededError, a failed request, an abort).
function committed(tx) {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onabort = () => reject(tx.error ?? new DOMException('the transaction was aborted', 'AbortError'));
  });
}

// Runs `issue(tx)` (which issues requests synchronously) in a transaction
// and waits for the commit. An exception while issuing aborts the
// transaction, so nothing of a batch is half-written.
function inTransaction(db, names, mode, issue) {
  const tx = db.transaction(names, mode);
  const done = committed(tx);
  let result;
  try {
    result = issue(tx);
  } catch (error) {
    try {
      tx.abort();
    } catch {
      // Already finished.
    }
    done.catch(() => {});
    return Promise.reject(error);
  }
  return done.then(() => result);
}

// Opens `name` at `version`, creating the object stores each newer version
// adds: `schema` lists them, versions split by '|', stores by ' '. A
// connection closes itself when another asks for a newer version (or
// deletes the database), so an open tab never holds an upgrade up.
export async function idbOpen(name, version, schema) {
  const added = schema.split('|').map((stores) => stores.split(' ').filter(Boolean));
  return new Promise((resolve, reject) => {
    const request = factory().open(name, version);
    request.onupgradeneeded = (event) => {
      const db = request.result;
      for (const stores of added.slice(event.oldVersion)) {
        for (const store of stores) db.createObjectStore(store);
      }
    };
    request.onsuccess = () => {
      const db = request.result;
      db.onversionchange = () => db.close();
      resolve(db);
    };
    request.onerror = () => reject(request.error);
  });
}

export function idbName(db) {
  return db.name;
}

export function idbClose(db) {
  db.close();
}

// The value under `key` (binary or string), as stored; undefined if none.
export async function idbGet(db, store, key) {
  const tx = db.transaction(store, 'readonly');
  return settled(tx.objectStore(store).get(key));
}

// Stored copies of files lately read, by database and key: a file's steps
// read its copy several times (hash, thumbnail, upload), and each read is a
// transaction. A copy never changes under its key, and its entry goes when
// it is deleted (a Blob kept holds its bytes in storage). File handles are
// not kept: each read must see the file as it is now.
const recentCopies = new Map();
const RECENT_COPIES = 16;

export async function idbStoredCopy(db, store, key) {
  const id = `${db.name}\0${key}`;
  if (recentCopies.has(id)) return recentCopies.get(id);
  const value = await idbGet(db, store, key);
  if (value instanceof Blob) {
    if (recentCopies.size >= RECENT_COPIES) recentCopies.delete(recentCopies.keys().next().value);
    recentCopies.set(id, value);
  }
  return value;
}

// Bytes `start` to `end` of a file, as an array of Uint8Array pieces, which
// wasm joins as it copies them into its memory. A small file (one
// encryption chunk at most) is read whole, once, and kept for its next
// reads: a photo is read for its metadata and its encryption (and its hash,
// unless that is taken as it is encrypted), in separate steps, and each
// read of a stored copy is a round trip to the browser's blob storage,
// which on a busy device costs more than the bytes (300 files of 256 KiB
// went 8 % faster). Kept by the Blob itself, which never changes (a stored
// copy's Blob is the same object from step to step, see
// idbStoredCopy): the last few, 16 MiB at most, let go when reads stop
// and when a run starts (forgetKeptFiles), so that each run reads files
// as they are then: a picked file deleted on disk since is seen as gone.
// Ferry's encryption chunk: a small file is one at most.
const CHUNK = 4 * 1024 * 1024;
const SMALL_FILE = CHUNK;
const KEPT_BYTES = 16 * 1024 * 1024;
const KEPT_FILES = 6;
const keptFiles = new Map();
let keptBytes = 0;
let letGo = null;

function forget(blob) {
  if (keptFiles.delete(blob)) keptBytes -= blob.size;
}

// A larger file is read in order, a piece at a time (a hashing step's
// stretch, then one encryption chunk after another), so it is read through
// a stream, not a slice per piece. A slice of a Blob held in memory (one
// made from bytes, or any stored copy in a private window) takes blob
// storage of its own until it is garbage-collected: reading a 256 MiB
// stored copy by 4 MiB slices in a fresh private context failed with
// NotReadableError every time, where a stream read it whole, in half the
// time. The stream runs ahead: after a piece of a chunk or more, the next
// piece of the same size is pulled at once, so that reading overlaps
// hashing and encryption.
//
// The browser checks that a picked file is unchanged on disk when a read
// of it opens, not as a stream goes on, so a stream left idle for
// `IDLE_MS` (an upload step waiting for its parts) is let go, and the
// next piece opens a new one there: an edit in place between steps fails
// the read, as it did with a slice per piece. The piece pulled ahead
// before stays good: it was read before. A read that neither continues a
// stream nor starts on a chunk boundary (a video's box headers) is a slice
// of its own and leaves the stream alone, and so is any read below a
// chunk. A piece a stream fails to give, or gives short, is read as a
// slice, whose error (or bytes) stands: the failure may have been the
// stream's alone. A stream goes once it has given the file's last byte;
// the last few files' are held, no more (a file handle gives a new File at
// every step, and the stream of a file left halfway is never read again),
// and all go with the kept files.
const IDLE_MS = 500;
const STREAMED_FILES = 4;
const streams = new Map();

// Cancels `stream`'s reader, if open; what was pulled ahead is kept, and
// a later pull opens a new reader where it starts.
function letReaderGo(stream) {
  stream.reader?.cancel().catch(() => {});
  stream.reader = null;
  stream.rest = null;
}

// Ends `blob`'s stream: what is still asked of it is read as slices.
function closeStream(blob) {
  const stream = streams.get(blob);
  streams.delete(blob);
  if (stream) {
    stream.over = true;
    letReaderGo(stream);
  }
}

export function forgetKeptFiles() {
  [...keptFiles.keys()].forEach(forget);
  [...streams.keys()].forEach(closeStream);
}

// The next `length` bytes of `blob` through `stream`, after all asked of
// it before, as the stream's own pieces (fewer bytes at its end, or once
// it failed or ended: the caller checks). Handed to wasm as they are,
// which copies each into its memory: assembled here first, every byte
// would be copied twice.
function pull(stream, blob, length) {
  const from = stream.end;
  stream.end += length;
  const pieces = stream.tail.then(async () => {
    const out = [];
    if (stream.over) return out;
    if (stream.stale) {
      stream.stale = false;
      letReaderGo(stream);
    }
    if (!stream.reader) stream.reader = (from ? blob.slice(from) : blob).stream().getReader();
    const { reader } = stream;
    let filled = 0;
    while (filled < length && reader === stream.reader) {
      if (!stream.rest?.length) {
        const { done, value } = await reader.read();
        if (done || reader !== stream.reader) break;
        stream.rest = value;
      }
      const n = Math.min(length - filled, stream.rest.length);
      out.push(stream.rest.subarray(0, n));
      stream.rest = stream.rest.subarray(n);
      filled += n;
    }
    return out;
  });
  // A stream that failed once gives nothing more.
  stream.tail = pieces.catch(() => {
    stream.over = true;
  });
  return pieces;
}

function readLarge(blob, start, end) {
  const slice = () => blob.slice(start, end).arrayBuffer().then((buffer) => [new Uint8Array(buffer)]);
  const now = Date.now();
  let stream = streams.get(blob);
  // Its next pull opens a new reader (one in flight finishes first).
  if (stream && now - stream.used > IDLE_MS) stream.stale = true;
  let bytes;
  if (stream?.ahead?.start === start && stream.ahead.end === end) {
    // Also the file's short last piece.
    bytes = stream.ahead.bytes;
  } else if (end - start < CHUNK || (start % CHUNK !== 0 && stream?.end !== start)) {
    return slice();
  } else {
    if (!stream || stream.ahead || stream.end !== start) {
      closeStream(blob);
      stream = { reader: null, end: start, rest: null, tail: Promise.resolve(), ahead: null, over: false, stale: false };
    }
    bytes = pull(stream, blob, end - start);
  }
  stream.ahead = null;
  stream.used = now;
  // The newest last: the oldest stream is let go first.
  streams.delete(blob);
  streams.set(blob, stream);
  while (streams.size > STREAMED_FILES) closeStream(streams.keys().next().value);
  const next = Math.min(blob.size, end + (end - start));
  if (next > end) {
    stream.ahead = { start: end, end: next, bytes: pull(stream, blob, next - end) };
    // Never asked for is never an error: a failure shows when it is.
    stream.ahead.bytes.catch(() => {});
  } else {
    // The file's end: its reader goes once the last piece is read.
    streams.delete(blob);
    stream.tail.then(() => letReaderGo(stream));
  }
  const used = stream;
  const fallBack = () => {
    if (streams.get(blob) === used) closeStream(blob);
    return slice();
  };
  // Short is a stream let go mid-read, or one that failed (or a file that
  // shrank, which the slice then shows too).
  return bytes.then(
    (pieces) => (pieces.reduce((sum, piece) => sum + piece.length, 0) === end - start ? pieces : fallBack()),
    fallBack,
  );
}

export function readBlob(blob, start, end) {
  clearTimeout(letGo);
  letGo = setTimeout(forgetKeptFiles, 10_000);
  if (blob.size > SMALL_FILE) return readLarge(blob, start, end);
  let whole = keptFiles.get(blob);
  if (!whole) {
    whole = blob.arrayBuffer();
    while (keptFiles.size >= KEPT_FILES || (keptFiles.size > 0 && keptBytes + blob.size > KEPT_BYTES)) {
      forget(keptFiles.keys().next().value);
    }
    keptFiles.set(blob, whole);
    keptBytes += blob.size;
    // A failed read is not kept: the next one tries the file again.
    whole.catch(() => forget(blob));
  }
  // A view: wasm copies it, and the kept bytes never change.
  return whole.then((buffer) => [new Uint8Array(buffer, start, end - start)]);
}

// The values under `keys`, in one transaction: one snapshot, one round trip.
export async function idbGetMany(db, store, keys) {
  const objects = db.transaction(store, 'readonly').objectStore(store);
  return Promise.all(keys.map((key) => settled(objects.get(key))));
}

// The first item (`keys` holds each item's stored keys) with a stored file
// the browser cannot read back (its last byte), or -1. Where blob storage
// is memory only (a private window), a Blob past what it holds (a few
// hundred MiB) is stored without complaint and reads as NotReadableError
// ever after.
export async function idbFirstUnreadable(db, store, keys) {
  const values = await idbGetMany(db, store, keys.flat());
  const readable = await Promise.all(values.map(async (value) => {
    if (!(value instanceof Blob) || value.size === 0) return true;
    try {
      await value.slice(value.size - 1).arrayBuffer();
      return true;
    } catch (err) {
      return err?.name !== 'NotReadableError';
    }
  }));
  let at = 0;
  return keys.findIndex((itemKeys) => !readable.slice(at, (at += itemKeys.length)).every(Boolean));
}

// Up to `limit` records with start <= key < end, packed (see above). Keys
// and values are read by two requests in one transaction: one snapshot.
export async function idbScan(db, store, start, end, limit) {
  const tx = db.transaction(store, 'readonly');
  const range = IDBKeyRange.bound(start, end, false, true);
  const objects = tx.objectStore(store);
  const [keys, values] = await Promise.all([
    settled(objects.getAllKeys(range, limit)),
    settled(objects.getAll(range, limit)),
  ]);
  const parts = [];
  let length = 0;
  for (let i = 0; i < keys.length; i++) {
    parts.push(bytes(keys[i]), bytes(values[i]));
    length += 8 + parts[2 * i].length + parts[2 * i + 1].length;
  }
  const out = new Uint8Array(length);
  const view = new DataView(out.buffer);
  let at = 0;
  for (const part of parts) {
    view.setUint32(at, part.length, true);
    out.set(part, at + 4);
    at += 4 + part.length;
  }
  return out;
}

// An empty value is stored as the number 0: half the records of an enqueue
// are empty index entries, and a number is cheaper for IndexedDB to clone
// than a typed array (enqueue of 100,000 measured 9.2 to 9.3 s against 9.6
// to 10.1 s). Every reader takes a value through `new Uint8Array(value)`
// (`bytes` here, `stored_bytes` in store.rs), which makes 0 empty bytes.
const EMPTY = 0;

function decodeBatch(packed) {
  const view = new DataView(packed.buffer, packed.byteOffset, packed.byteLength);
  const names = [];
  let at = 1;
  for (let n = packed[0]; n > 0; n--) {
    const length = packed[at++];
    names.push(utf8.decode(packed.subarray(at, (at += length))));
  }
  const ops = [];
  // A key may be a view: IndexedDB copies a binary key's bytes when put()
  // or delete() converts it. A value must be a copy (slice): a stored view
  // is cloned with the whole buffer under it.
  const sized = (copy) => {
    const length = view.getUint32(at, true);
    at += 4;
    if (copy && length === 0) return EMPTY;
    return copy ? packed.slice(at, (at += length)) : packed.subarray(at, (at += length));
  };
  while (at < packed.length) {
    const store = names[packed[at++]];
    const key = sized(false);
    const kind = packed[at++];
    ops.push({ store, key, kind, value: kind === 1 || kind === 4 ? sized(true) : undefined });
  }
  return { names, ops };
}

// Writes and deletes a packed batch (see above) in one readwrite
// transaction across the tables it names, all or nothing. A merge op's
// record is read in the transaction and replaced by `merge(n, current)`
// (n counts the batch's merges): a read-modify-write no other transaction
// can come between. Merges go one after another, each read after the
// previous write, so two on one record both count.
export async function idbCommit(db, packed, merge) {
  const { names, ops } = decodeBatch(packed);
  if (names.length === 0) return Promise.resolve();
  let changed = false;
  const waiting = released.get(db.name);
  released.delete(db.name);
  return inTransaction(db, waiting ? [...names, waiting.store] : names, 'readwrite', (tx) => {
    const stores = new Map(names.map((name) => [name, tx.objectStore(name)]));
    if (waiting) {
      const copies = tx.objectStore(waiting.store);
      for (const key of waiting.keys) copies.delete(key);
    }
    // Requirements (3: a record is there, 4: with this value) are read
    // before any write of the batch; one that does not hold aborts the
    // transaction, and nothing of the batch is written.
    for (const { store, key, kind, value } of ops) {
      if (kind < 3) continue;
      const read = stores.get(store).get(key);
      read.onsuccess = () => {
        if (read.result === undefined || (kind === 4 && !sameBytes(bytes(read.result), bytes(value)))) {
          changed = true;
          tx.abort();
        }
      };
    }
    const merges = [];
    for (const { store, key, kind, value } of ops) {
      const objects = stores.get(store);
      if (kind === 0) objects.delete(key);
      else if (kind === 1) objects.put(value, key);
      // A copy: the put comes after other work, and the packed batch is
      // a view of wasm memory, which that work may grow (detaching it).
      else if (kind === 2) merges.push({ objects, key: key.slice() });
    }
    const next = (n) => {
      if (n === merges.length) return;
      const { objects, key } = merges[n];
      // A throw here (or a failed read) aborts the transaction.
      objects.get(key).onsuccess = (event) => {
        objects.put(merge(n, event.target.result), key);
        next(n + 1);
      };
    };
    next(0);
  }).catch((error) => {
    if (waiting) idbDeleteSoon(db, waiting.store, waiting.keys);
    if (!changed) throw error;
    const recordChanged = new Error('a record the batch required had changed');
    recordChanged.name = 'RecordChanged';
    throw recordChanged;
  });
}

// Binary keys come back as ArrayBuffers, values as the Uint8Arrays stored.
function bytes(value) {
  return ArrayBuffer.isView(value) ? new Uint8Array(value.buffer, value.byteOffset, value.byteLength) : new Uint8Array(value);
}

function sameBytes(a, b) {
  if (a.byteLength !== b.byteLength) return false;
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false;
  return true;
}

// Replaces the value under `key` with `next` (undefined: delete) only if
// it is `expected` now (undefined: absent). Read and write share one
// readwrite transaction, and IndexedDB runs overlapping readwrite
// transactions one after another, so the comparison still holds when the
// write lands. Resolves whether it swapped.
export async function idbSwap(db, store, key, expected, next) {
  // The arguments view wasm memory, which may move before the read settles.
  [key, expected, next] = [key.slice(), expected?.slice(), next?.slice()];
  const tx = db.transaction(store, 'readwrite');
  const done = committed(tx);
  const objects = tx.objectStore(store);
  return new Promise((resolve, reject) => {
    const read = objects.get(key);
    read.onerror = () => reject(read.error);
    read.onsuccess = () => {
      const current = read.result;
      const matches =
        current === undefined ? expected === undefined : expected !== undefined && sameBytes(bytes(current), expected);
      if (!matches) {
        tx.abort();
        done.catch(() => {});
        resolve(false);
        return;
      }
      try {
        if (next === undefined) objects.delete(key);
        else objects.put(next, key);
      } catch (error) {
        tx.abort();
        done.catch(() => {});
        reject(error);
        return;
      }
      done.then(() => resolve(true), reject);
    };
  });
}

// Stores structured-clone values (a CryptoKey, a Blob, a file handle) by
// string key, all in one transaction.
export async function idbPutValues(db, store, keys, values) {
  return inTransaction(db, store, 'readwrite', (tx) => {
    const objects = tx.objectStore(store);
    keys.forEach((key, i) => objects.put(values[i], key));
  });
}

export async function idbDeleteValues(db, store, keys) {
  for (const key of keys) recentCopies.delete(`${db.name}\0${key}`);
  return inTransaction(db, store, 'readwrite', (tx) => {
    const objects = tx.objectStore(store);
    for (const key of keys) objects.delete(key);
  });
}

// Copies released by `idbDeleteSoon`, by database name, until a commit on
// that database deletes them in its own transaction.
const released = new Map();

// Deletes `keys` from `store` with the database's next commit, or on their
// own a second later if none comes: in a run of small files one finishes
// every few milliseconds, and a transaction of their own was one of the
// four read-write transactions each photo cost. Best effort, as
// its callers are: a copy a crash leaves behind costs space, never
// correctness (keys are never reused).
export function idbDeleteSoon(db, store, keys) {
  for (const key of keys) recentCopies.delete(`${db.name}\0${key}`);
  let waiting = released.get(db.name);
  if (!waiting) {
    waiting = { store, keys: [] };
    released.set(db.name, waiting);
    setTimeout(() => {
      if (released.get(db.name) !== waiting) return;
      released.delete(db.name);
      idbDeleteValues(db, store, waiting.keys).catch(() => {});
    }, 1000);
  }
  waiting.keys.push(...keys);
}

// Adds `value` under `key` unless one is there, and resolves with whichever
// is stored, so two contexts racing to create it agree on one.
export async function idbAddOnce(db, store, key, value) {
  try {
    await inTransaction(db, store, 'readwrite', (tx) => {
      tx.objectStore(store).add(value, key);
    });
  } catch (error) {
    if (error?.name !== 'ConstraintError') throw error;
  }
  return idbGet(db, store, key);
}
