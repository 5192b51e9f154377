//! The engine's `Store` over IndexedDB. One object store per table, binary
//! keys (IndexedDB compares them bytewise, as the engine's encoding needs),
//! byte values. The IndexedDB calls themselves are in `platform.js`: each read
//! and each batch is one short transaction there, and records cross in one
//! packed buffer per call.

use js_sys::{Array, Uint8Array};
use wasm_bindgen::prelude::{Closure, wasm_bindgen};
use wasm_bindgen::{JsCast, JsValue};

use super::convert::{describe, int};
use crate::engine::ports::{Batch, Store, StoreError, Table};
use crate::queue::migrate::MigrateError;

#[wasm_bindgen(module = "/src/web/platform.js")]
extern "C" {
    #[wasm_bindgen(js_name = idbOpen, catch)]
    async fn idb_open(name: &str, version: u32, schema: &str) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(js_name = idbName)]
    fn idb_name(db: &JsValue) -> String;
    #[wasm_bindgen(js_name = idbClose)]
    fn idb_close(db: &JsValue);
    #[wasm_bindgen(js_name = idbGet, catch)]
    async fn idb_get(db: &JsValue, store: &str, key: &JsValue) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(js_name = idbStoredCopy, catch)]
    async fn idb_stored_copy(db: &JsValue, store: &str, key: &str) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(js_name = idbGetMany, catch)]
    async fn idb_get_many(db: &JsValue, store: &str, keys: &Array) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(js_name = idbFirstUnreadable, catch)]
    async fn idb_first_unreadable(
        db: &JsValue,
        store: &str,
        keys: &Array,
    ) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(js_name = idbScan, catch)]
    async fn idb_scan(
        db: &JsValue,
        store: &str,
        start: &[u8],
        end: &[u8],
        limit: u32,
    ) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(js_name = idbCommit, catch)]
    async fn idb_commit(db: &JsValue, packed: &[u8], merge: &JsValue) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(js_name = idbSwap, catch)]
    async fn idb_swap(
        db: &JsValue,
        store: &str,
        key: &[u8],
        expected: Option<&[u8]>,
        next: Option<&[u8]>,
    ) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(js_name = idbPutValues, catch)]
    async fn idb_put_values(
        db: &JsValue,
        store: &str,
        keys: &Array,
        values: &Array,
    ) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(js_name = idbDeleteValues, catch)]
    async fn idb_delete_values(db: &JsValue, store: &str, keys: &Array)
    -> Result<JsValue, JsValue>;
    #[wasm_bindgen(js_name = idbDeleteSoon)]
    fn idb_delete_soon(db: &JsValue, store: &str, keys: &Array);
    #[wasm_bindgen(js_name = idbAddOnce, catch)]
    async fn idb_add_once(
        db: &JsValue,
        store: &str,
        key: &str,
        value: &JsValue,
    ) -> Result<JsValue, JsValue>;
}

#[wasm_bindgen(module = "/src/web/platform.js")]
extern "C" {
    #[wasm_bindgen(js_name = lockHeld)]
    async fn lock_held(name: &str) -> JsValue;
}

/// Object stores added by each schema version, oldest first. Versions only
/// ever add; a database at version n upgrades through n+1, n+2, ….
const MIGRATIONS: &[&[&str]] = &[
    // 1: the engine's tables, and the device key's own store.
    &["items", "runnable", "hashes", "meta", DEVICE_STORE],
    // 2: the files themselves (Blob, File, FileSystemFileHandle) by source ref.
    &[SOURCES_STORE],
    // 3: no new store, but items of a large enqueue may have no runnable
    // entry (a fresh range in `meta` stands for them). A Ferry before it
    // would never run them: the version keeps it out (`NEWER_DATABASE`)
    // and closes its open connections.
    &[],
    // 4: no new store, but an upload may hash as it encrypts: an empty
    // hash, and the hasher's state after the stream's in its checkpoint.
    // A Ferry before it could resume no such upload.
    &[],
];

/// Holds what `enqueue` was given to read from, by structured clone.
pub const SOURCES_STORE: &str = "sources";

/// Holds the vault's non-extractable `CryptoKey`, outside the engine's tables.
pub const DEVICE_STORE: &str = "device";

/// Cheap to clone: clones share one connection (the engine's store and the
/// sources reader use the same database).
#[derive(Debug, Clone)]
pub struct IdbStore {
    /// The `IDBDatabase`.
    db: JsValue,
}

/// What the browser said (`QuotaExceededError: …`), which is all a person
/// can act on, after what Ferry was doing.
fn store_error(context: &str) -> impl Fn(JsValue) -> StoreError + '_ {
    move |err| {
        let cause = format!("IndexedDB {context}: {}", describe(&err));
        match err.dyn_ref::<js_sys::Error>().map(js_sys::Error::name) {
            Some(name) if name == "QuotaExceededError" => StoreError::full(&cause),
            // platform.js's name for a `Batch::require` that did not hold.
            Some(name) if name == "RecordChanged" => StoreError::changed(),
            _ => StoreError(cause),
        }
    }
}

fn bytes_key(bytes: &[u8]) -> JsValue {
    Uint8Array::from(bytes).into()
}

/// A value as IndexedDB answered it: its bytes, or `None` for undefined
/// (no record).
fn stored_bytes(value: &JsValue) -> Option<Vec<u8>> {
    (!value.is_undefined()).then(|| Uint8Array::new(value).to_vec())
}

fn strings(keys: &[String]) -> Array {
    keys.iter().map(|key| JsValue::from_str(key)).collect()
}

/// Appends `bytes` after its length, as `platform.js` reads a packed batch.
fn put_sized(out: &mut Vec<u8>, bytes: &[u8]) {
    let length = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&length.to_le_bytes());
    out.extend_from_slice(bytes);
}

/// A batch as one buffer: the names of the tables it writes, then per op
/// the table's place in that list, the key, and the value or a delete mark
/// (the layout is described in `platform.js`). A name is decoded once per
/// batch there, not once per op.
fn pack(batch: &Batch) -> Vec<u8> {
    // (table, key, 0 = delete | 1 = put | 2 = merge | 3 = require, value)
    let ops = batch
        .ops
        .iter()
        .map(|(table, key, value)| (*table, key, u8::from(value.is_some()), value.as_deref()))
        .chain(batch.merges.iter().map(|m| (m.table, &m.key, 2, None)))
        .chain(batch.requires.iter().map(|(table, key, value)| {
            (*table, key, 3 + u8::from(value.is_some()), value.as_deref())
        }));
    let mut names: Vec<&str> = Vec::new();
    let mut length = 1;
    for (table, key, _, value) in ops.clone() {
        if !names.contains(&table.name()) {
            names.push(table.name());
            length += 1 + table.name().len();
        }
        length += 10 + key.len() + value.map_or(0, <[u8]>::len);
    }
    let mut out = Vec::with_capacity(length);
    out.push(u8::try_from(names.len()).unwrap_or(u8::MAX));
    for name in &names {
        out.push(u8::try_from(name.len()).unwrap_or(u8::MAX));
        out.extend_from_slice(name.as_bytes());
    }
    for (table, key, kind, value) in ops {
        let index = names.iter().position(|n| *n == table.name()).unwrap_or(0);
        out.push(u8::try_from(index).unwrap_or(u8::MAX));
        put_sized(&mut out, key);
        out.push(kind);
        if let Some(value) = value {
            put_sized(&mut out, value);
        }
    }
    out
}

/// The records of a packed scan answer, in key order.
fn unpack(packed: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut records = Vec::new();
    let mut rest = packed;
    let mut next = || {
        let (length, tail) = rest.split_first_chunk::<4>()?;
        let length = u32::from_le_bytes(*length) as usize;
        let (bytes, tail) = tail.split_at_checked(length)?;
        rest = tail;
        Some(bytes.to_vec())
    };
    while let (Some(key), Some(value)) = (next(), next()) {
        records.push((key, value));
    }
    records
}

impl IdbStore {
    /// Opens (creating or upgrading) the database `name`. One whose schema
    /// a later Ferry upgraded past this one's is refused with
    /// `NEWER_DATABASE` and left as it is (IndexedDB's `VersionError`).
    /// The connection closes itself when another asks for a newer version,
    /// so a tab left open does not hold a later Ferry's upgrade up (its
    /// calls then fail with STORE_FAILED).
    pub async fn open(name: &str) -> Result<Self, MigrateError> {
        let version = u32::try_from(MIGRATIONS.len()).unwrap_or(u32::MAX);
        // Versions apart by `|`, stores by spaces (a trailing one is
        // ignored); no `join`, whose code is half a kilobyte of wasm.
        let mut schema = String::new();
        for (n, stores) in MIGRATIONS.iter().enumerate() {
            if n > 0 {
                schema.push('|');
            }
            for store in *stores {
                schema.push_str(store);
                schema.push(' ');
            }
        }
        let db = idb_open(name, version, &schema).await.map_err(|err| {
            let cause = describe(&err);
            if cause.starts_with("VersionError") {
                MigrateError::NewerDatabase(format!(
                    "a later Ferry upgraded this database past schema {version}; \
                     update the app (nothing was changed)"
                ))
            } else {
                MigrateError::Store(StoreError(format!("IndexedDB open: {cause}")))
            }
        })?;
        Ok(Self { db })
    }

    pub fn close(&self) {
        idb_close(&self.db);
    }

    /// A raw value of the device store (the vault keeps its `CryptoKey` there).
    pub async fn device_value(&self, key: &str) -> Result<Option<JsValue>, StoreError> {
        self.raw_value(DEVICE_STORE, key).await
    }

    /// A structured-clone value (a `CryptoKey`, a `Blob`) by string key.
    pub async fn raw_value(
        &self,
        store_name: &str,
        key: &str,
    ) -> Result<Option<JsValue>, StoreError> {
        let value = idb_get(&self.db, store_name, &JsValue::from_str(key))
            .await
            .map_err(store_error("read"))?;
        Ok((!value.is_undefined()).then_some(value))
    }

    /// [`Self::raw_value`] of the copy `enqueue` stored of a file, which a
    /// file's steps read several times: `platform.js` keeps the last few
    /// read.
    pub async fn stored_copy(&self, key: &str) -> Result<Option<JsValue>, StoreError> {
        let value = idb_stored_copy(&self.db, SOURCES_STORE, key)
            .await
            .map_err(store_error("read"))?;
        Ok((!value.is_undefined()).then_some(value))
    }

    /// The first item (`keys`: an array of each item's keys) with a stored
    /// file the browser cannot read back, if any (see `idbFirstUnreadable`).
    pub async fn first_unreadable(&self, store_name: &str, keys: &Array) -> Option<usize> {
        let at = idb_first_unreadable(&self.db, store_name, keys)
            .await
            .ok()?;
        usize::try_from(int(at.as_f64()?)).ok()
    }

    /// Adds a device value unless one exists; returns whichever is stored,
    /// so two tabs racing to create the device key agree on one.
    pub async fn add_device_value(
        &self,
        key: &str,
        value: &JsValue,
    ) -> Result<JsValue, StoreError> {
        let stored = idb_add_once(&self.db, DEVICE_STORE, key, value)
            .await
            .map_err(store_error("write"))?;
        if stored.is_undefined() {
            return Err(StoreError("the device key could not be stored".into()));
        }
        Ok(stored)
    }

    /// Stores structured-clone values by string key, all in one transaction.
    pub async fn put_raw_values(
        &self,
        store_name: &str,
        values: &[(String, JsValue)],
    ) -> Result<(), StoreError> {
        if values.is_empty() {
            return Ok(());
        }
        let keys: Array = values
            .iter()
            .map(|(key, _)| JsValue::from_str(key))
            .collect();
        let values: Array = values.iter().map(|(_, value)| value.clone()).collect();
        idb_put_values(&self.db, store_name, &keys, &values)
            .await
            .map_err(store_error("write"))?;
        Ok(())
    }

    /// Deletes `keys` from `store_name` with the database's next commit
    /// (`platform.js`: `idbDeleteSoon`), without waiting or reporting a
    /// failure.
    pub fn delete_raw_values_soon(&self, store_name: &str, keys: &[String]) {
        idb_delete_soon(&self.db, store_name, &strings(keys));
    }

    /// Deletes structured-clone values by string key, in one transaction.
    pub async fn delete_raw_values(
        &self,
        store_name: &str,
        keys: &[String],
    ) -> Result<(), StoreError> {
        if keys.is_empty() {
            return Ok(());
        }
        idb_delete_values(&self.db, store_name, &strings(keys))
            .await
            .map_err(store_error("delete"))?;
        Ok(())
    }
}

impl Store for IdbStore {
    /// The runners' Web Lock (see `runs`), as any context of this origin sees it.
    async fn runner_active(&self) -> bool {
        let name = super::ferry::lock_name(&idb_name(&self.db));
        lock_held(&name).await.as_bool().unwrap_or(false)
    }

    async fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let value = idb_get(&self.db, table.name(), &bytes_key(key))
            .await
            .map_err(store_error("read"))?;
        Ok(stored_bytes(&value))
    }

    async fn get_many(
        &self,
        table: Table,
        keys: &[&[u8]],
    ) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        let keys: Array = keys.iter().map(|key| bytes_key(key)).collect();
        let values = idb_get_many(&self.db, table.name(), &keys)
            .await
            .map_err(store_error("read"))?;
        Ok(Array::from(&values)
            .iter()
            .map(|value| stored_bytes(&value))
            .collect())
    }

    async fn scan(
        &self,
        table: Table,
        start: &[u8],
        end: &[u8],
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>, StoreError> {
        if start >= end || limit == 0 {
            return Ok(Vec::new());
        }
        let limit = u32::try_from(limit).unwrap_or(u32::MAX);
        let packed = idb_scan(&self.db, table.name(), start, end, limit)
            .await
            .map_err(store_error("scan"))?;
        Ok(unpack(&Uint8Array::new(&packed).to_vec()))
    }

    async fn commit(&self, batch: Batch) -> Result<(), StoreError> {
        if batch.is_empty() {
            return Ok(());
        }
        // Called by platform.js inside the transaction, with the record as
        // it is there; kept alive until the transaction has ended.
        let merges = batch.merges.clone();
        let merge = (!merges.is_empty()).then(|| {
            Closure::<dyn FnMut(u32, JsValue) -> Vec<u8>>::new(move |n: u32, current: JsValue| {
                let current = stored_bytes(&current);
                merges
                    .get(n as usize)
                    .map_or_else(Vec::new, |m| m.value(current.as_deref()))
            })
        });
        let merge_fn = merge
            .as_ref()
            .map_or(JsValue::UNDEFINED, |c| c.as_ref().clone());
        idb_commit(&self.db, &pack(&batch), &merge_fn)
            .await
            .map_err(store_error("commit"))?;
        drop(merge);
        Ok(())
    }

    async fn swap(
        &self,
        table: Table,
        key: &[u8],
        expected: Option<&[u8]>,
        new: Option<Vec<u8>>,
    ) -> Result<bool, StoreError> {
        let swapped = idb_swap(&self.db, table.name(), key, expected, new.as_deref())
            .await
            .map_err(store_error("swap"))?;
        Ok(swapped.as_bool().unwrap_or(false))
    }
}
