//! The engine's `Store` over IndexedDB. One object store per table, binary
//! keys (IndexedDB compares them bytewise, as the engine's encoding needs),
//! byte values. Every read and every batch is one short transaction whose
//! requests are all issued before its first await, so no transaction ever
//! spans a non-IndexedDB await (it would auto-commit under us).

use idb::{
    Database, DatabaseEvent, Factory, KeyRange, ObjectStoreParams, Query, TransactionMode,
    TransactionResult,
};
use js_sys::Uint8Array;
use wasm_bindgen::JsValue;
use wasm_bindgen::prelude::wasm_bindgen;

use super::convert::describe;
use crate::engine::ports::{Batch, Store, StoreError, Table};
use crate::queue::migrate::MigrateError;

#[wasm_bindgen(module = "/src/web/platform.js")]
extern "C" {
    #[wasm_bindgen(js_name = closeOnVersionChange)]
    fn close_on_version_change(db: &web_sys::IdbDatabase);
    #[wasm_bindgen(js_name = lockHeld)]
    fn lock_held(name: &str) -> js_sys::Promise;
}

/// Object stores added by each schema version, oldest first. Versions only
/// ever add; a database at version n upgrades through n+1, n+2, ….
const MIGRATIONS: &[&[&str]] = &[
    // 1: the engine's tables, and the device key's own store.
    &["items", "runnable", "hashes", "meta", DEVICE_STORE],
    // 2: the files themselves (Blob, File, FileSystemFileHandle) by source ref.
    &[SOURCES_STORE],
];

/// Holds what `enqueue` was given to read from, by structured clone.
pub const SOURCES_STORE: &str = "sources";

/// Holds the vault's non-extractable `CryptoKey`, outside the engine's tables.
pub const DEVICE_STORE: &str = "device";

/// Cheap to clone: clones share one connection (the engine's store and the
/// sources reader use the same database).
#[derive(Debug, Clone)]
pub struct IdbStore {
    db: std::rc::Rc<Database>,
}

fn store_error(context: &str) -> impl Fn(idb::Error) -> StoreError + '_ {
    move |err| StoreError(format!("IndexedDB {context}: {}", idb_cause(&err)))
}

/// What the browser said (`QuotaExceededError: …`), which is all a person
/// can act on. Not idb's own `Display`: its 45 messages cost 3 KB of wasm
/// and add only which call failed, which `context` already says.
fn idb_cause(err: &idb::Error) -> String {
    use idb::Error as E;
    match err {
        E::DomException(e) => format!("{}: {}", e.name(), e.message()),
        E::AddFailed(v)
        | E::ClearFailed(v)
        | E::CountFailed(v)
        | E::CursorAdvanceFailed(v)
        | E::CursorContinueFailed(v)
        | E::CursorKeyNotFound(v)
        | E::CursorPrimaryKeyNotFound(v)
        | E::CursorValueNotFound(v)
        | E::DeleteFailed(v)
        | E::GetAllFailed(v)
        | E::GetAllKeysFailed(v)
        | E::GetFailed(v)
        | E::GetKeyFailed(v)
        | E::IndexCreateFailed(v)
        | E::IndexDeleteFailed(v)
        | E::IndexedDbDeleteFailed(v)
        | E::IndexedDbNotFound(v)
        | E::IndexedDbOpenFailed(v)
        | E::IndexNotFound(v)
        | E::KeyPathNotFound(v)
        | E::KeyRangeBoundNotFound(v)
        | E::KeyRangeCreateFailed(v)
        | E::KeyRangeIncludesFailed(v)
        | E::ObjectStoreCreateFailed(v)
        | E::ObjectStoreDeleteFailed(v)
        | E::ObjectStoreNotFound(v)
        | E::OpenCursorFailed(v)
        | E::OpenKeyCursorFailed(v)
        | E::RequestErrorNotFound(v)
        | E::RequestResultNotFound(v)
        | E::TransactionAbortError(v)
        | E::TransactionCommitError(v)
        | E::TransactionModeNotFound(v)
        | E::TransactionOpenFailed(v)
        | E::UpdateFailed(v)
        | E::UnexpectedJsType(_, v) => describe(v),
        _ => "the request failed".into(),
    }
}

fn bytes_key(bytes: &[u8]) -> JsValue {
    Uint8Array::from(bytes).into()
}

/// IndexedDB returns binary keys as `ArrayBuffer`s and values as stored.
fn to_bytes(value: &JsValue) -> Vec<u8> {
    Uint8Array::new(value).to_vec()
}

impl IdbStore {
    /// Opens (creating or upgrading) the database `name`. One whose schema
    /// a later Ferry upgraded past this one's is refused with
    /// `NEWER_DATABASE` and left as it is (IndexedDB's `VersionError`).
    pub async fn open(name: &str) -> Result<Self, MigrateError> {
        let factory = Factory::new().map_err(store_error("is unavailable"))?;
        let version = u32::try_from(MIGRATIONS.len()).unwrap_or(u32::MAX);
        let mut request = factory
            .open(name, Some(version))
            .map_err(store_error("open"))?;
        request.on_upgrade_needed(|event| {
            let (Ok(db), Ok(old)) = (event.database(), event.old_version()) else {
                return;
            };
            for stores in MIGRATIONS.iter().skip(old as usize) {
                for store in *stores {
                    // An error here aborts the upgrade, which fails the open.
                    let _ = db.create_object_store(store, ObjectStoreParams::new());
                }
            }
        });
        let db = request.await.map_err(|err| match &err {
            idb::Error::DomException(e) if e.name() == "VersionError" => {
                MigrateError::NewerDatabase(format!(
                    "a later Ferry upgraded this database past schema {version}; \
                     update the app (nothing was changed)"
                ))
            }
            _ => MigrateError::Store(store_error("open")(err)),
        })?;
        // A later Ferry upgrading the database waits until every connection
        // to it closes: this one closes when asked, so a tab left open does
        // not hold the upgrade up (its calls then fail with STORE_FAILED).
        let raw = web_sys::IdbDatabase::from(db);
        close_on_version_change(&raw);
        let db = Database::from(raw);
        Ok(Self {
            db: std::rc::Rc::new(db),
        })
    }

    pub fn close(&self) {
        self.db.close();
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
        let tx = self
            .db
            .transaction(&[store_name], TransactionMode::ReadOnly)
            .map_err(store_error("read"))?;
        let store = tx.object_store(store_name).map_err(store_error("read"))?;
        let value = store
            .get(Query::Key(JsValue::from_str(key)))
            .map_err(store_error("read"))?
            .await
            .map_err(store_error("read"))?;
        Ok(value)
    }

    /// Adds a device value unless one exists; returns whichever is stored,
    /// so two tabs racing to create the device key agree on one.
    pub async fn add_device_value(
        &self,
        key: &str,
        value: &JsValue,
    ) -> Result<JsValue, StoreError> {
        let tx = self
            .db
            .transaction(&[DEVICE_STORE], TransactionMode::ReadWrite)
            .map_err(store_error("write"))?;
        let store = tx
            .object_store(DEVICE_STORE)
            .map_err(store_error("write"))?;
        let added = store.add(value, Some(&JsValue::from_str(key)));
        match added {
            Ok(request) => {
                let _ = request.await;
                let _ = tx.await;
            }
            Err(_) => drop(tx),
        }
        self.device_value(key)
            .await?
            .ok_or_else(|| StoreError("the device key could not be stored".into()))
    }
}

impl IdbStore {
    /// Stores structured-clone values by string key, all in one transaction.
    pub async fn put_raw_values(
        &self,
        store_name: &str,
        values: &[(String, JsValue)],
    ) -> Result<(), StoreError> {
        if values.is_empty() {
            return Ok(());
        }
        let tx = self
            .db
            .transaction(&[store_name], TransactionMode::ReadWrite)
            .map_err(store_error("write"))?;
        let store = tx.object_store(store_name).map_err(store_error("write"))?;
        for (key, value) in values {
            store
                .put(value, Some(&JsValue::from_str(key)))
                .map_err(store_error("write"))?;
        }
        match tx.await.map_err(store_error("commit"))? {
            TransactionResult::Committed => Ok(()),
            TransactionResult::Aborted => {
                Err(StoreError("IndexedDB aborted the transaction".into()))
            }
        }
    }
}

impl IdbStore {
    /// Deletes structured-clone values by string key, in one transaction.
    pub async fn delete_raw_values(
        &self,
        store_name: &str,
        keys: &[String],
    ) -> Result<(), StoreError> {
        if keys.is_empty() {
            return Ok(());
        }
        let tx = self
            .db
            .transaction(&[store_name], TransactionMode::ReadWrite)
            .map_err(store_error("delete"))?;
        let store = tx.object_store(store_name).map_err(store_error("delete"))?;
        for key in keys {
            store
                .delete(Query::Key(JsValue::from_str(key)))
                .map_err(store_error("delete"))?;
        }
        match tx.await.map_err(store_error("commit"))? {
            TransactionResult::Committed => Ok(()),
            TransactionResult::Aborted => {
                Err(StoreError("IndexedDB aborted the transaction".into()))
            }
        }
    }
}

impl Store for IdbStore {
    /// The runners' Web Lock (see `runs`), as any context of this origin sees it.
    async fn runner_active(&self) -> bool {
        let name = super::ferry::lock_name(&self.db.name());
        wasm_bindgen_futures::JsFuture::from(lock_held(&name))
            .await
            .ok()
            .and_then(|held| held.as_bool())
            .unwrap_or(false)
    }

    async fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let tx = self
            .db
            .transaction(&[table.name()], TransactionMode::ReadOnly)
            .map_err(store_error("read"))?;
        let store = tx.object_store(table.name()).map_err(store_error("read"))?;
        let value = store
            .get(Query::Key(bytes_key(key)))
            .map_err(store_error("read"))?
            .await
            .map_err(store_error("read"))?;
        Ok(value.as_ref().map(to_bytes))
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
        let tx = self
            .db
            .transaction(&[table.name()], TransactionMode::ReadOnly)
            .map_err(store_error("scan"))?;
        let store = tx.object_store(table.name()).map_err(store_error("scan"))?;
        let range = || KeyRange::bound(&bytes_key(start), &bytes_key(end), Some(false), Some(true));
        let limit = u32::try_from(limit).unwrap_or(u32::MAX);
        // Both requests go out before either is awaited: one snapshot.
        let keys = store
            .get_all_keys(
                Some(range().map_err(store_error("scan"))?.into()),
                Some(limit),
            )
            .map_err(store_error("scan"))?;
        let values = store
            .get_all(
                Some(range().map_err(store_error("scan"))?.into()),
                Some(limit),
            )
            .map_err(store_error("scan"))?;
        let keys = keys.await.map_err(store_error("scan"))?;
        let values = values.await.map_err(store_error("scan"))?;
        Ok(keys
            .iter()
            .map(to_bytes)
            .zip(values.iter().map(to_bytes))
            .collect())
    }

    async fn commit(&self, batch: Batch) -> Result<(), StoreError> {
        if batch.ops.is_empty() {
            return Ok(());
        }
        // A handful of tables: a scan beats sorting (and sort's wasm code).
        let mut names: Vec<&str> = Vec::new();
        for (table, _, _) in &batch.ops {
            if !names.contains(&table.name()) {
                names.push(table.name());
            }
        }
        let tx = self
            .db
            .transaction(&names, TransactionMode::ReadWrite)
            .map_err(store_error("write"))?;
        for (table, key, value) in &batch.ops {
            let store = tx
                .object_store(table.name())
                .map_err(store_error("write"))?;
            let key = bytes_key(key);
            match value {
                Some(value) => {
                    store
                        .put(&Uint8Array::from(value.as_slice()).into(), Some(&key))
                        .map_err(store_error("write"))?;
                }
                None => {
                    store
                        .delete(Query::Key(key))
                        .map_err(store_error("write"))?;
                }
            }
        }
        match tx.await.map_err(store_error("commit"))? {
            TransactionResult::Committed => Ok(()),
            TransactionResult::Aborted => {
                Err(StoreError("IndexedDB aborted the transaction".into()))
            }
        }
    }

    async fn swap(
        &self,
        table: Table,
        key: &[u8],
        expected: Option<&[u8]>,
        new: Option<Vec<u8>>,
    ) -> Result<bool, StoreError> {
        // Read and write in one readwrite transaction: IndexedDB runs
        // overlapping readwrite transactions one after another, so the
        // comparison still holds when the write lands.
        let tx = self
            .db
            .transaction(&[table.name()], TransactionMode::ReadWrite)
            .map_err(store_error("swap"))?;
        let store = tx.object_store(table.name()).map_err(store_error("swap"))?;
        let current = store
            .get(Query::Key(bytes_key(key)))
            .map_err(store_error("swap"))?
            .await
            .map_err(store_error("swap"))?;
        if current.as_ref().map(to_bytes).as_deref() != expected {
            let _ = tx.abort();
            return Ok(false);
        }
        match new {
            Some(value) => {
                store
                    .put(
                        &Uint8Array::from(value.as_slice()).into(),
                        Some(&bytes_key(key)),
                    )
                    .map_err(store_error("swap"))?;
            }
            None => {
                store
                    .delete(Query::Key(bytes_key(key)))
                    .map_err(store_error("swap"))?;
            }
        }
        match tx.await.map_err(store_error("swap"))? {
            TransactionResult::Committed => Ok(true),
            TransactionResult::Aborted => Ok(false),
        }
    }
}
