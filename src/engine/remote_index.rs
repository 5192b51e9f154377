//! Remote dedupe: what the server already holds in a collection, read from
//! `/collections/v2/diff`, with each file's metadata decrypted (collection
//! key → file key → metadata) to learn its hash, type and title. After a
//! reinstall or on a second device this is what keeps Ferry from uploading
//! a library a second time.

use super::ports::{Batch, Clock, Sources, Store, Table, Transport, Vault};
use super::steps::StepError;
use super::{Engine, EngineError};
use crate::crypto::{decrypt_message, from_base64, unwrap_key};
use crate::protocol::api::{FileMetadata, parse_diff};
use crate::queue::records::{decode, diff_cursor_key, encode, hash_key};

/// Diff pages read per step at most (each is up to 500 records).
const MAX_PAGES: usize = 20;

impl<S: Store, T: Transport, R: Sources, V: Vault, C: Clock> Engine<S, T, R, V, C> {
    /// Brings the dedupe index of `collection_id` up to date with the
    /// server, once per run. Records that cannot be read (another client's
    /// format, a key Ferry cannot open) are skipped, never fatal.
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
            let mut batch = Batch::default();
            for record in &page.diff {
                since = since.max(record.updation_time);
                let metadata = (|| {
                    let file_key = unwrap_key(
                        &from_base64(&record.encrypted_key).ok()?,
                        &from_base64(&record.key_decryption_nonce).ok()?,
                        &collection_key,
                    )
                    .ok()?;
                    let plain = decrypt_message(
                        &file_key,
                        &from_base64(&record.metadata.decryption_header).ok()?,
                        &from_base64(&record.metadata.encrypted_data).ok()?,
                    )
                    .ok()?;
                    FileMetadata::from_json(&plain).ok()
                })();
                if let Some(m) = metadata {
                    batch.put(
                        Table::Hashes,
                        hash_key(collection_id, m.file_type, &m.title, &m.hash),
                        format!("file:{}", record.id).into_bytes(),
                    );
                }
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
