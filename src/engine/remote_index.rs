//! Remote dedupe: what the server already holds in a collection, read from
//! `/collections/v2/diff`, with each file's metadata decrypted (collection
//! key → file key → metadata) to learn its hash, type and title. After a
//! reinstall or on a second device this is what keeps Ferry from uploading
//! a library a second time.
//!
//! The diff also says when a file left the collection: museum keeps a
//! removal marker (`isDeleted: true`) for a trashed or removed file
//! (`pkg/repo/trash.go` `TrashFiles`, `pkg/repo/collection.go`
//! `RemoveFilesV3`). Its metadata may no longer be readable (`"-"` once the
//! file is purged), so the index keeps, beside each entry standing for a
//! file, a reverse record: file id → the entry's key. A marker takes the
//! entry out, and the same photo added again is uploaded again.

use super::ports::{Batch, Clock, Sources, Store, Table, Transport, Vault};
use super::steps::StepError;
use super::{Engine, EngineError, ErrorCode};
use crate::crypto::Key;
use crate::crypto::{decrypt_message, from_base64, unwrap_key};
use crate::protocol::Peer;
use crate::protocol::api::{FileMetadata, FileRecord, parse_diff};
use crate::queue::records::{decode, diff_cursor_key, encode, hash_key};

/// Diff pages read per step at most (museum's pages hold about 2,500 records).
const MAX_PAGES: usize = 20;

/// The reverse record of file `file_id` in `collection_id`, in
/// `Table::Hashes`. Dedupe keys start with the collection id (digits), so
/// these never meet them.
fn remote_file_key(collection_id: i64, file_id: i64) -> Vec<u8> {
    format!("file\u{0}{collection_id}\u{0}{file_id}").into_bytes()
}

/// Records, in the same batch as the item's `done`, that file `file_id` of
/// `collection_id` now stands behind the dedupe entry `key`: the entry
/// holds the file (`file:ID`, no longer the item, which may be removed
/// from the queue while the file stays), and the reverse record lets the
/// file's removal marker in a later diff take the entry out.
pub(super) fn record_registration(batch: &mut Batch, collection_id: i64, file_id: i64, key: &[u8]) {
    batch.put(
        Table::Hashes,
        remote_file_key(collection_id, file_id),
        key.to_vec(),
    );
    batch.put(
        Table::Hashes,
        key.to_vec(),
        format!("file:{file_id}").into_bytes(),
    );
}

/// The dedupe key a record's metadata gives, when Ferry can open it.
fn record_key(collection_id: i64, record: &FileRecord, collection_key: &Key) -> Option<Vec<u8>> {
    let metadata = record.metadata.as_ref()?;
    let file_key = unwrap_key(
        &from_base64(record.encrypted_key.as_deref()?).ok()?,
        &from_base64(record.key_decryption_nonce.as_deref()?).ok()?,
        collection_key,
    )
    .ok()?;
    let plain = decrypt_message(
        &file_key,
        &from_base64(&metadata.decryption_header).ok()?,
        &from_base64(&metadata.encrypted_data).ok()?,
    )
    .ok()?;
    let m = FileMetadata::from_json(&plain).ok()?;
    Some(hash_key(collection_id, m.file_type, &m.title, &m.hash))
}

/// The `Table::Hashes` writes of one page, in order, and the index as they
/// leave it (`now`) under every key the page reads, read before any record
/// is applied in two batched reads: a first index after a reinstall meets
/// thousands of files, and a read each took seconds. Records of one page
/// see each other's writes.
struct PageWrites {
    /// Every key a record writes is one it reads, so one list serves both.
    now: Vec<(Vec<u8>, Option<Vec<u8>>)>,
    writes: Batch,
}

impl PageWrites {
    /// Reads every key the page's records read: each one's reverse record,
    /// the entry that names (as the store holds it; as an earlier record of
    /// the page wrote it, it is one of the page's own keys), and the entry
    /// each one's metadata gives.
    async fn read<S: Store>(
        store: &S,
        collection_id: i64,
        records: &[(&FileRecord, Option<Vec<u8>>)],
    ) -> Result<Self, EngineError> {
        let mut page = Self {
            now: Vec::new(),
            writes: Batch::default(),
        };
        let reverse = records
            .iter()
            .map(|(record, _)| remote_file_key(collection_id, record.id))
            .collect();
        page.read_all(store, reverse).await?;
        let entries = page
            .now
            .iter()
            .filter_map(|(_, named)| named.clone())
            .chain(records.iter().filter_map(|(_, key)| key.clone()))
            .collect();
        page.read_all(store, entries).await?;
        Ok(page)
    }

    async fn read_all<S: Store>(
        &mut self,
        store: &S,
        keys: Vec<Vec<u8>>,
    ) -> Result<(), EngineError> {
        let refs: Vec<&[u8]> = keys.iter().map(Vec::as_slice).collect();
        let values = store.get_many(Table::Hashes, &refs).await?;
        self.now.extend(keys.into_iter().zip(values));
        Ok(())
    }

    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        let (_, value) = self.now.iter().find(|(k, _)| k == key)?;
        value.clone()
    }

    /// Writes `value` (`None`: deletes) under `key`, one the page read.
    fn set(&mut self, key: Vec<u8>, value: Option<Vec<u8>>) {
        for (_, held) in self.now.iter_mut().filter(|(k, _)| *k == key) {
            held.clone_from(&value);
        }
        match value {
            Some(value) => self.writes.put(Table::Hashes, key, value),
            None => self.writes.delete(Table::Hashes, key),
        };
    }

    /// Applies one record of collection `collection_id` to the index;
    /// `key` is the dedupe key its metadata gives, when Ferry can open it.
    ///
    /// An entry is taken out only while it still stands for this file: it
    /// holds `file:N`, or it is the one the file's reverse record names and
    /// still holds the item that uploaded the file (`item:ID`: while such an
    /// entry exists, no other item can take the key, it would be skipped).
    /// An entry a newer copy of the same content took over is left alone.
    fn apply(&mut self, collection_id: i64, record: &FileRecord, key: Option<Vec<u8>>) {
        let file = format!("file:{}", record.id);
        let reverse_key = remote_file_key(collection_id, record.id);
        // (entry key, whether an `item:` value there is this file's)
        let mut stale = Vec::new();
        if let Some(old_key) = self.get(&reverse_key) {
            // Still the file's entry unless the metadata gave the same key.
            if record.is_deleted || key.as_ref() != Some(&old_key) {
                stale.push((old_key, true));
            }
        }
        if let (true, Some(key)) = (record.is_deleted, &key) {
            stale.push((key.clone(), false));
        }
        for (entry, named) in stale {
            let held = self.get(&entry).unwrap_or_default();
            if held == file.as_bytes() || (named && held.starts_with(b"item:")) {
                self.set(entry, None);
            }
        }
        match key {
            Some(key) if !record.is_deleted => {
                self.set(reverse_key, Some(key.clone()));
                self.set(key, Some(file.into_bytes()));
            }
            _ => self.set(reverse_key, None),
        }
    }
}

impl<S: Store, T: Transport, R: Sources, V: Vault, C: Clock> Engine<S, T, R, V, C> {
    /// Brings the dedupe index of `collection_id` up to date with the
    /// server, once per run. Records that cannot be read (another client's
    /// format, a key Ferry cannot open) are skipped, never fatal; removal
    /// markers take their file's entry out.
    pub(super) async fn index_remote(
        &self,
        collection_id: i64,
        scope: &super::steps::StepScope,
    ) -> Result<(), StepError> {
        if self.indexed_this_run.borrow().contains(&collection_id) {
            return Ok(());
        }
        let Some(collection_key) = self.collection_key(collection_id).await? else {
            return Ok(());
        };
        let cursor_key = diff_cursor_key(collection_id);
        let mut since: i64 = match self.env.store.get(Table::Meta, &cursor_key).await? {
            Some(bytes) => decode(&bytes)
                .map_err(|e| EngineError::new(ErrorCode::CorruptRecord, e.to_string()))?,
            None => 0,
        };
        for _ in 0..MAX_PAGES {
            let request = self.endpoint.borrow().diff(collection_id, since);
            let response = self.send(request, Peer::Api, scope).await?;
            let page = parse_diff(&response).map_err(super::steps::protocol_failure)?;
            let records: Vec<_> = page
                .diff
                .iter()
                .map(|record| (record, record_key(collection_id, record, &collection_key)))
                .collect();
            let mut writes = PageWrites::read(&self.env.store, collection_id, &records).await?;
            for (record, key) in records {
                writes.apply(collection_id, record, key);
            }
            since = since.max(page.last_time.unwrap_or(since));
            let mut batch = writes.writes;
            batch.put(Table::Meta, cursor_key.clone(), encode(&since));
            self.env.store.commit(batch).await?;
            if !page.has_more {
                self.indexed_this_run.borrow_mut().push(collection_id);
                return Ok(());
            }
        }
        Ok(())
    }
}
