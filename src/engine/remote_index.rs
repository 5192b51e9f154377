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
//! file is purged), so the index keeps, beside each entry it writes for a
//! file, a reverse record: file id → the entry's key. A marker takes the
//! entry out, and the same photo added again is uploaded again.

use std::collections::HashMap;

use super::ports::{Batch, Clock, Sources, Store, Table, Transport, Vault};
use super::steps::StepError;
use super::{Engine, EngineError};
use crate::crypto::Key;
use crate::crypto::{decrypt_message, from_base64, unwrap_key};
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

/// A reverse record's value: the index value written for the file
/// (`file:N`, or `item:ID` for the item that uploaded it) and the dedupe key.
fn reverse_value(index_value: &str, key: &[u8]) -> Vec<u8> {
    let mut value = index_value.as_bytes().to_vec();
    value.push(0);
    value.extend_from_slice(key);
    value
}

fn parse_reverse(value: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    let split = value.iter().position(|&b| b == 0)?;
    Some((value[..split].to_vec(), value[split + 1..].to_vec()))
}

/// Records, in the same batch as the item's `done`, that file `file_id` of
/// `collection_id` stands behind the dedupe entry `key` (holding
/// `index_value`), so that its removal marker can take the entry out.
pub(super) fn record_registration(
    batch: &mut Batch,
    collection_id: i64,
    file_id: i64,
    index_value: &str,
    key: &[u8],
) {
    batch.put(
        Table::Hashes,
        remote_file_key(collection_id, file_id),
        reverse_value(index_value, key),
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

/// The `Table::Hashes` writes of one page, read through before the store,
/// so records of one page see each other.
struct PageWrites<'s, S> {
    store: &'s S,
    writes: HashMap<Vec<u8>, Option<Vec<u8>>>,
}

impl<S: Store> PageWrites<'_, S> {
    async fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, EngineError> {
        match self.writes.get(key) {
            Some(value) => Ok(value.clone()),
            None => Ok(self.store.get(Table::Hashes, key).await?),
        }
    }

    fn put(&mut self, key: Vec<u8>, value: Vec<u8>) {
        self.writes.insert(key, Some(value));
    }

    fn delete(&mut self, key: Vec<u8>) {
        self.writes.insert(key, None);
    }

    /// Takes entry `key` out if it still stands for this file: it holds
    /// `file:N`, or the value the file's reverse record noted. An entry a
    /// newer copy of the content took over is left alone.
    async fn forget(
        &mut self,
        key: Vec<u8>,
        file_id: i64,
        noted: Option<&[u8]>,
    ) -> Result<(), EngineError> {
        if let Some(current) = self.get(&key).await? {
            let file = format!("file:{file_id}");
            if current == file.as_bytes() || Some(current.as_slice()) == noted {
                self.delete(key);
            }
        }
        Ok(())
    }

    /// Applies one record of collection `collection_id` to the index.
    async fn apply(
        &mut self,
        collection_id: i64,
        record: &FileRecord,
        key: Option<Vec<u8>>,
    ) -> Result<(), EngineError> {
        let reverse_key = remote_file_key(collection_id, record.id);
        let previous = self
            .get(&reverse_key)
            .await?
            .and_then(|v| parse_reverse(&v));
        if record.is_deleted {
            if let Some((noted, old_key)) = &previous {
                self.forget(old_key.clone(), record.id, Some(noted)).await?;
            }
            if let Some(key) = key {
                self.forget(key, record.id, None).await?;
            }
            self.delete(reverse_key);
            return Ok(());
        }
        // A file whose metadata changed (renamed) leaves its old entry.
        if let Some((noted, old_key)) = &previous
            && key.as_ref() != Some(old_key)
        {
            self.forget(old_key.clone(), record.id, Some(noted)).await?;
        }
        match key {
            Some(key) => {
                let file = format!("file:{}", record.id);
                self.put(reverse_key, reverse_value(&file, &key));
                self.put(key, file.into_bytes());
            }
            None => self.delete(reverse_key),
        }
        Ok(())
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
        deadline_ms: Option<f64>,
    ) -> Result<(), StepError> {
        if self.indexed_this_run.borrow().contains(&collection_id) {
            return Ok(());
        }
        let Some(collection_key) = self.collection_key(collection_id).await? else {
            return Ok(());
        };
        let cursor_key = diff_cursor_key(collection_id);
        let mut since: i64 = match self.env.store.get(Table::Meta, &cursor_key).await? {
            Some(bytes) => {
                decode(&bytes).map_err(|e| EngineError::new("CORRUPT_RECORD", e.to_string()))?
            }
            None => 0,
        };
        for _ in 0..MAX_PAGES {
            let request = self.endpoint.borrow().diff(collection_id, since);
            let response = self.send(request, false, deadline_ms).await?;
            let page = parse_diff(&response).map_err(super::steps::protocol_failure)?;
            let mut writes = PageWrites {
                store: &self.env.store,
                writes: HashMap::new(),
            };
            for record in &page.diff {
                let key = record_key(collection_id, record, &collection_key);
                writes.apply(collection_id, record, key).await?;
            }
            since = since.max(page.last_time.unwrap_or(since));
            let mut batch = Batch::default();
            for (key, value) in writes.writes {
                match value {
                    Some(value) => batch.put(Table::Hashes, key, value),
                    None => batch.delete(Table::Hashes, key),
                };
            }
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
