//! One step of one item: do its I/O, then record the result in one batch.
//! A failure is classified once, here, into a retry, a permanent failure, or
//! a block of the whole queue.

use super::capture::{seal_metadata, with_static_thumbnail};
use super::placeholder::PLACEHOLDER_THUMBNAIL;
use super::ports::{
    Batch, Clock, Source, SourceError, SourceInfo, Sources, Store, Table, Transport, Vault,
};
use super::retry::{MAX_ATTEMPTS, MAX_RESTARTS, MAX_UPLOAD_RESTARTS, backoff_ms};
use super::{Engine, EngineError};
use crate::crypto::{
    Blake2b512, CHUNK_SIZE, FileEncryptor, Key, encrypt_message, hash_checkpoint, hash_resume,
    to_base64, wrap_key,
};
use crate::protocol::api::{
    self, NewFile, ObjectRef, parse_etag, parse_file_record, parse_multipart_urls,
    parse_upload_urls,
};
use crate::protocol::{
    Failure, HttpRequest, HttpResponse, PartPlan, Peer, UPLOAD_LOST, URL_EXPIRED, classify,
    classify_registration, classify_transport,
};
use crate::queue::item::{Target, Thumbnail, Upload};
use crate::queue::records::{BLOCKED_KEY, Changes, encode, hash_key};
use crate::queue::{Item, ItemError, Step};
use futures_util::future::join_all;

/// Single-PUT URLs asked for at once (the API's maximum).
const URL_BATCH: u32 = 50;
/// A host thumbnail larger than this is not a thumbnail; the placeholder goes instead.
const MAX_THUMBNAIL_BYTES: u64 = 2 * 1024 * 1024;
/// Ente's thumbnail limits: the longer side and the encoded size.
const THUMBNAIL_SIDE: u32 = 720;
const THUMBNAIL_BYTES: u32 = 100 * 1024;
/// Larger sources are refused as absurd (a host reader reporting garbage).
const MAX_SOURCE_BYTES: u64 = 1 << 40;

/// What a step achieved, for the run's report.
#[derive(Debug, Default)]
pub(super) struct Progress {
    pub bytes_uploaded: u64,
    pub file_done: bool,
    /// The deadline or the host cut the step short; nothing was recorded.
    pub interrupted: bool,
    /// Plaintext hashed in this step.
    pub bytes_hashed: u64,
    /// Requests the step made (for the latency estimate).
    pub requests: u32,
    /// The step failed with no answer at all (`Failure::NoAnswer`).
    pub unanswered: bool,
}

/// How a step went wrong.
pub(super) enum StepError {
    Failure(Failure),
    /// The source is not what it was: start over with a new key.
    SourceChanged(SourceInfo),
    /// Local trouble (store, vault, corrupt record): stop the run.
    Engine(EngineError),
}

impl From<Failure> for StepError {
    fn from(f: Failure) -> Self {
        Self::Failure(f)
    }
}

impl From<EngineError> for StepError {
    fn from(e: EngineError) -> Self {
        Self::Engine(e)
    }
}

impl From<crate::crypto::CryptoError> for StepError {
    fn from(e: crate::crypto::CryptoError) -> Self {
        Self::Engine(e.into())
    }
}

impl From<super::ports::VaultError> for StepError {
    fn from(e: super::ports::VaultError) -> Self {
        Self::Engine(e.into())
    }
}

impl From<super::ports::StoreError> for StepError {
    fn from(e: super::ports::StoreError) -> Self {
        Self::Engine(e.into())
    }
}

fn source_failure(err: SourceError) -> StepError {
    StepError::Failure(match err {
        SourceError::Gone(why) => Failure::Permanent {
            code: "SOURCE_GONE".into(),
            why,
        },
        SourceError::PermissionDenied(_) => {
            Failure::Blocked(crate::protocol::BlockedReason::Permission)
        }
        SourceError::Invalid(why) => Failure::Permanent {
            code: "BAD_SOURCE".into(),
            why,
        },
        SourceError::Unreadable(why) => Failure::Transient {
            retry_after_ms: None,
            why: format!("source unreadable: {why}"),
        },
    })
}

/// Takes an item's content out of the dedupe index: once it fails, or its
/// file changes, it no longer stands for that content, and a later copy of
/// the same file must be uploaded rather than skipped.
fn forget_hash(item: &Item, extra: &mut Batch) {
    if let Step::Uploading(upload) = &item.step {
        extra.delete(Table::Hashes, dedupe_key(item, &upload.hash));
    }
}

/// The item's entry in the dedupe index, for content hashing to `hash`.
fn dedupe_key(item: &Item, hash: &str) -> Vec<u8> {
    hash_key(
        item.new.collection_id,
        item.new.file_type.wire(),
        &item.new.title,
        hash,
    )
}

pub(super) fn protocol_failure(err: api::ProtocolError) -> StepError {
    StepError::Failure(Failure::Transient {
        retry_after_ms: None,
        why: err.to_string(),
    })
}

impl<S: Store, T: Transport, R: Sources, V: Vault, C: Clock> Engine<S, T, R, V, C> {
    /// Runs one step of `item` and records what happened.
    pub(super) async fn step(
        &self,
        item: Item,
        deadline_ms: Option<f64>,
        max_parts: u32,
    ) -> Result<Progress, EngineError> {
        self.step_parts.set(max_parts);
        self.requests_in_step.set(0);
        let mut after = item.clone();
        let mut progress = Progress::default();
        let mut extra = Batch::default();
        let result = self
            .advance(&mut after, &mut progress, &mut extra, deadline_ms)
            .await;
        let mut changes = Changes::new(self.counters().await?);
        match result {
            Ok(()) => {
                after.attempts = 0;
                after.next_attempt_ms = 0;
                after.last_error = None;
                changes.counters.bytes_uploaded += progress.bytes_uploaded;
            }
            Err(StepError::Engine(err)) => return Err(err),
            Err(StepError::SourceChanged(info)) => {
                after = item.clone();
                extra = Batch::default();
                // The old content will never be uploaded.
                forget_hash(&item, &mut extra);
                after.size = Some(info.size);
                after.last_modified_ms = Some(info.last_modified_ms);
                after.step = Step::Queued;
                after.restarts = item.restarts + 1;
                progress = Progress::default();
                if after.restarts > MAX_RESTARTS {
                    self.fail(
                        &mut after,
                        &mut extra,
                        "SOURCE_UNSTABLE".into(),
                        "the file kept changing while it was read (still being written, or \
                         no longer readable); add it again once it is complete"
                            .into(),
                    );
                } else {
                    // A file edited once starts over at once; one that keeps
                    // changing waits longer each time instead of spinning.
                    if after.restarts > 1 {
                        after.next_attempt_ms =
                            self.backoff_until(item.id, after.restarts - 1, None);
                    }
                    after.last_error = Some(ItemError {
                        code: "SOURCE_CHANGED".into(),
                        message: "the file changed during upload; starting over with a new key"
                            .into(),
                    });
                }
            }
            Err(StepError::Failure(failure)) => {
                after = item.clone();
                progress = Progress::default();
                extra = Batch::default();
                match failure {
                    Failure::Interrupted => {
                        progress.interrupted = true;
                        return Ok(progress);
                    }
                    Failure::Blocked(reason) => {
                        // The item is untouched; the whole queue waits.
                        let mut batch = Batch::default();
                        batch.put(Table::Meta, BLOCKED_KEY.to_vec(), encode(&reason));
                        self.env.store.commit(batch).await?;
                        return Ok(progress);
                    }
                    Failure::Permanent { code, why } => {
                        self.fail(&mut after, &mut extra, code, why)
                    }
                    Failure::UploadAgain { code, why } => {
                        // URLs signed together expire together; a lost
                        // upload says nothing about the pooled ones.
                        if code == URL_EXPIRED {
                            self.url_pool.borrow_mut().clear();
                        }
                        // A new upload needs a new key and URLs; the hash stays.
                        if let Step::Uploading(upload) = &item.step {
                            let fresh = self.prepare_upload(&item, upload.hash.clone()).await?;
                            after.step = Step::Uploading(Box::new(fresh));
                        }
                        // Retried at once, but counted where progress does
                        // not reset the count: between two refusals the
                        // thumbnail and the new URLs succeed, so a store that
                        // refuses every part (a clock skewed by hours) would
                        // otherwise start the upload again for ever.
                        after.restarts = item.restarts + 1;
                        if after.restarts >= MAX_UPLOAD_RESTARTS {
                            self.fail(&mut after, &mut extra, code.into(), why);
                        } else {
                            after.last_error = Some(ItemError {
                                code: code.into(),
                                message: why,
                            });
                        }
                    }
                    Failure::Transient {
                        retry_after_ms,
                        why,
                    } => {
                        after.attempts = item.attempts + 1;
                        if after.attempts >= MAX_ATTEMPTS {
                            self.fail(&mut after, &mut extra, "TOO_MANY_ATTEMPTS".into(), why);
                        } else {
                            self.retry_later(&mut after, retry_after_ms, why);
                        }
                    }
                    Failure::NoAnswer { why } => {
                        // The backoff grows to its cap; the item never fails.
                        progress.unanswered = true;
                        after.attempts = item.attempts.saturating_add(1);
                        self.retry_later(&mut after, None, why);
                    }
                }
            }
        }
        progress.requests = self.requests_in_step.get();
        progress.file_done =
            matches!(after.step, Step::Done { .. }) && !matches!(item.step, Step::Done { .. });
        changes.write_item(Some(&item), &after);
        let mut batch = changes.finish();
        batch.ops.extend(extra.ops);
        self.env.store.commit(batch).await?;
        if after.public_state() != item.public_state() {
            self.notify(&super::EngineEvent::Item(&after));
        }
        let sent_before = match &item.step {
            Step::Uploading(upload) => upload.bytes_sent,
            _ => 0,
        };
        if let Step::Uploading(upload) = &after.step
            && upload.bytes_sent > sent_before
        {
            let encrypted_size =
                PartPlan::new(after.size.unwrap_or(0), upload.chunks_per_part).encrypted_size();
            self.notify(&super::EngineEvent::Progress {
                item: &after,
                bytes_sent: upload.bytes_sent,
                encrypted_size,
            });
        }
        Ok(progress)
    }

    /// Waits out the backoff for `item.attempts` before trying again.
    fn retry_later(&self, item: &mut Item, retry_after_ms: Option<u64>, why: String) {
        item.next_attempt_ms = self.backoff_until(item.id, item.attempts, retry_after_ms);
        item.last_error = Some(ItemError {
            code: "RETRYING".into(),
            message: why,
        });
    }

    /// The wall-clock time the backoff after `attempts` failures ends.
    fn backoff_until(
        &self,
        id: crate::queue::ItemId,
        attempts: u32,
        retry_after_ms: Option<u64>,
    ) -> i64 {
        let delay = backoff_ms(id, attempts, retry_after_ms);
        self.env
            .clock
            .now_ms()
            .saturating_add(i64::try_from(delay).unwrap_or(i64::MAX))
    }

    fn fail(&self, item: &mut Item, extra: &mut Batch, code: String, message: String) {
        forget_hash(item, extra);
        item.step = Step::Failed(ItemError { code, message });
    }

    async fn advance(
        &self,
        item: &mut Item,
        progress: &mut Progress,
        extra: &mut Batch,
        deadline_ms: Option<f64>,
    ) -> Result<(), StepError> {
        match item.step.clone() {
            Step::Queued => {
                let (_, info) = self.open_source(item).await?;
                if info.size > MAX_SOURCE_BYTES {
                    return Err(Failure::Permanent {
                        code: "BAD_SIZE".into(),
                        why: format!("the source reports {} bytes", info.size),
                    }
                    .into());
                }
                item.size = Some(info.size);
                item.last_modified_ms = Some(info.last_modified_ms);
                let sealed_state = self
                    .env
                    .vault
                    .seal(&hash_checkpoint(&Blake2b512::new()))
                    .await?;
                item.step = Step::Hashing {
                    sealed_state,
                    hashed: 0,
                };
            }
            Step::Hashing {
                sealed_state,
                hashed,
            } => {
                let (source, info) = self.open_source(item).await?;
                let mut hasher = hash_resume(&self.env.vault.open(&sealed_state).await?)?;
                let len = crate::scheduler::estimate::HASH_STEP_BYTES
                    .min(info.size - hashed.min(info.size));
                if len > 0 {
                    hasher.update(&source.read(hashed, len).await.map_err(source_failure)?);
                }
                progress.bytes_hashed = len;
                if hashed + len < info.size {
                    let sealed_state = self.env.vault.seal(&hash_checkpoint(&hasher)).await?;
                    item.step = Step::Hashing {
                        sealed_state,
                        hashed: hashed + len,
                    };
                    return Ok(());
                }
                let hash = to_base64(&hasher.finalize());
                self.index_remote(item.new.collection_id, deadline_ms)
                    .await?;
                let key = dedupe_key(item, &hash);
                if let Some(other) = self.env.store.get(Table::Hashes, &key).await? {
                    item.step = Step::Skipped {
                        duplicate_of: String::from_utf8_lossy(&other).into_owned(),
                    };
                    return Ok(());
                }
                extra.put(Table::Hashes, key, format!("item:{}", item.id).into_bytes());
                item.step = Step::Uploading(Box::new(self.prepare_upload(item, hash).await?));
            }
            Step::Uploading(mut upload) => {
                self.upload_step(item, &mut upload, progress, extra, deadline_ms)
                    .await?;
                if matches!(item.step, Step::Uploading(_)) {
                    item.step = Step::Uploading(upload);
                }
            }
            Step::Done { .. } | Step::Skipped { .. } | Step::Failed(_) => {}
        }
        Ok(())
    }

    /// A fresh file key and header, and the sealed metadata, for `hash`.
    async fn prepare_upload(&self, item: &Item, hash: String) -> Result<Upload, EngineError> {
        let file_key = Key::generate();
        let encryptor = FileEncryptor::new(&file_key);
        let metadata = seal_metadata(&file_key, &self.file_metadata(item, &hash).await.to_json());
        Ok(Upload {
            hash,
            sealed_file_key: self.env.vault.seal(file_key.as_bytes()).await?,
            header: encryptor.header().to_vec(),
            chunks_per_part: self.chunks_per_part.get(),
            target: None,
            etags: Vec::new(),
            sealed_checkpoint: Some(self.env.vault.seal(&encryptor.checkpoint()).await?),
            completed: false,
            thumbnail: None,
            metadata,
            bytes_sent: 0,
        })
    }

    async fn upload_step(
        &self,
        item: &mut Item,
        upload: &mut Upload,
        progress: &mut Progress,
        extra: &mut Batch,
        deadline_ms: Option<f64>,
    ) -> Result<(), StepError> {
        let size = item.size.unwrap_or(0);
        let plan = PartPlan::new(size, upload.chunks_per_part);
        let thumbnail_sent = upload.thumbnail_sent();
        if !thumbnail_sent || upload.target.is_none() {
            // New object keys are about to be bound. If the database lost
            // the commits of an upload that reached the server (a power cut
            // takes back recent commits), the server holds this content
            // already: a second upload would make a second file.
            if let Some(file) = self
                .already_on_server(item, &upload.hash, deadline_ms)
                .await?
            {
                item.step = Step::Skipped { duplicate_of: file };
                return Ok(());
            }
        }
        if !thumbnail_sent {
            return self
                .send_thumbnail(item, upload, progress, deadline_ms)
                .await;
        }
        let Some(target) = upload.target.clone() else {
            return self.bind_target(upload, plan, deadline_ms).await;
        };
        let parts_done = u32::try_from(upload.etags.len()).unwrap_or(u32::MAX);
        if parts_done < plan.part_count() {
            return self
                .upload_parts(item, upload, plan, &target, progress, deadline_ms)
                .await;
        }
        if let (false, Target::Multipart(urls)) = (upload.completed, &target) {
            let sent = self
                .send(
                    api::complete_multipart(&urls.complete_url, &upload.etags),
                    Peer::ObjectStore,
                    deadline_ms,
                )
                .await;
            match sent {
                Ok(_) => {}
                // A Complete whose answer was lost, repeated on a store that
                // forgets finished uploads, meets NoSuchUpload too. Going on
                // is safe: `POST /files` checks the object is there, and
                // answers OBJECT_SIZE_FETCH_FAILED when it is not, which a
                // second look turns into a fresh upload.
                Err(StepError::Failure(Failure::UploadAgain {
                    code: UPLOAD_LOST, ..
                })) => {}
                Err(err) => return Err(err),
            }
            upload.completed = true;
            return Ok(());
        }
        let Some(thumbnail) = upload.thumbnail.as_ref() else {
            return Err(
                EngineError::new("CORRUPT_RECORD", "an upload has no thumbnail slot").into(),
            );
        };
        let file_key = Key::from_slice(&self.env.vault.open(&upload.sealed_file_key).await?)?;
        let collection_key = self
            .collection_key(item.new.collection_id)
            .await?
            .ok_or_else(|| Failure::Permanent {
                code: "MISSING_COLLECTION_KEY".into(),
                why: format!("no key for collection {}", item.new.collection_id),
            })?;
        let wrapped = wrap_key(&file_key, &collection_key);
        let object_key = match &target {
            Target::Single(url) => url.object_key.clone(),
            Target::Multipart(urls) => urls.object_key.clone(),
        };
        let new_file = NewFile {
            collection_id: item.new.collection_id,
            encrypted_key: to_base64(&wrapped.encrypted_key),
            key_decryption_nonce: to_base64(&wrapped.nonce),
            file: ObjectRef {
                object_key,
                decryption_header: to_base64(&upload.header),
                size: plan.encrypted_size(),
            },
            thumbnail: ObjectRef {
                object_key: thumbnail.url.object_key.clone(),
                decryption_header: to_base64(&thumbnail.header),
                size: thumbnail.size,
            },
            metadata: upload.metadata.clone(),
        };
        let request = self.endpoint.borrow().create_file(&new_file);
        let previous_error = item.last_error.as_ref().map(|e| e.message.clone());
        let response = self
            .send_classified(request, deadline_ms, &|response| {
                classify_registration(response, previous_error.as_deref())
            })
            .await?;
        let record = parse_file_record(&response).map_err(protocol_failure)?;
        // The file now stands behind this item's dedupe entry: its removal
        // marker in a later diff must be able to take the entry out.
        super::remote_index::record_registration(
            extra,
            item.new.collection_id,
            record.id,
            &dedupe_key(item, &upload.hash),
        );
        item.step = Step::Done { file_id: record.id };
        Ok(())
    }

    /// Encrypts the next parts in order and puts them on the wire together,
    /// each started as soon as it is sealed. The parts that succeeded in an
    /// unbroken run from the first are recorded, with the encryptor state
    /// after the last of them; a later part that succeeded after an earlier
    /// one failed is sent again, since the stream cannot skip a part.
    async fn upload_parts(
        &self,
        item: &Item,
        upload: &mut Upload,
        plan: PartPlan,
        target: &Target,
        progress: &mut Progress,
        deadline_ms: Option<f64>,
    ) -> Result<(), StepError> {
        let size = item.size.unwrap_or(0);
        let first = u32::try_from(upload.etags.len()).unwrap_or(u32::MAX) + 1;
        let last = plan
            .part_count()
            .min(first + self.step_parts.get().max(1) - 1);
        let (source, _) = self.open_source(item).await?;
        let file_key = Key::from_slice(&self.env.vault.open(&upload.sealed_file_key).await?)?;
        let checkpoint = upload
            .sealed_checkpoint
            .as_ref()
            .ok_or_else(|| EngineError::new("CORRUPT_RECORD", "an upload lost its encryptor"))?;
        let mut encryptor =
            FileEncryptor::resume(&file_key, &self.env.vault.open(checkpoint).await?)?;
        let mut flights = Vec::new();
        let mut sealed_after = Vec::new();
        for number in first..=last {
            let part = plan
                .part(size, number)
                .ok_or_else(|| EngineError::new("CORRUPT_RECORD", "part out of range"))?;
            let last_part = number == plan.part_count();
            let mut body = Vec::with_capacity(usize::try_from(part.encrypted_len).unwrap_or(0));
            if part.plaintext_len == 0 {
                encryptor.push_into(&mut body, &[], true)?;
            }
            // Read a chunk at a time: memory holds one part's ciphertext and
            // one chunk of plaintext, whatever the part size.
            let mut offset = 0;
            while offset < part.plaintext_len {
                let len = (CHUNK_SIZE as u64).min(part.plaintext_len - offset);
                let chunk = source
                    .read(part.plaintext_offset + offset, len)
                    .await
                    .map_err(source_failure)?;
                offset += len;
                encryptor.push_into(
                    &mut body,
                    &chunk,
                    last_part && offset == part.plaintext_len,
                )?;
            }
            let url = match target {
                Target::Single(url) => url.url.clone(),
                Target::Multipart(urls) => urls.part_urls[number as usize - 1].clone(),
            };
            let sent = body.len() as u64;
            sealed_after.push((sent, encryptor.checkpoint()));
            self.requests_in_step.set(self.requests_in_step.get() + 1);
            flights.push(self.env.transport.send(api::put(&url, body), deadline_ms));
        }
        let mut first_failure = None;
        let mut recorded = None;
        for (result, (sent, checkpoint)) in join_all(flights).await.into_iter().zip(sealed_after) {
            if first_failure.is_some() {
                break;
            }
            let etag = result
                .map_err(|e| StepError::Failure(classify_transport(&e)))
                .and_then(|response| match classify(&response, Peer::ObjectStore) {
                    // Only Complete reads ETags: a single PUT needs none.
                    None if matches!(target, Target::Single(_)) => {
                        Ok(parse_etag(&response).unwrap_or_default())
                    }
                    None => parse_etag(&response).map_err(protocol_failure),
                    Some(failure) => Err(failure.into()),
                });
            match etag {
                Ok(etag) => {
                    upload.etags.push(etag);
                    upload.bytes_sent += sent;
                    progress.bytes_uploaded += sent;
                    recorded = Some(checkpoint);
                }
                Err(err) => first_failure = Some(err),
            }
        }
        let Some(checkpoint) = recorded else {
            return Err(first_failure.unwrap_or_else(|| {
                EngineError::new("CORRUPT_RECORD", "no part to upload").into()
            }));
        };
        // Progress is kept; the failed part meets its error again next step.
        upload.sealed_checkpoint = Some(self.env.vault.seal(&checkpoint).await?);
        if matches!(target, Target::Single(_)) {
            upload.completed = true;
        }
        Ok(())
    }

    /// Whether a file with this item's content, type and title is on the
    /// server already, as the dedupe index read this run sees it; the
    /// server's file (`file:<id>`) if so.
    async fn already_on_server(
        &self,
        item: &Item,
        hash: &str,
        deadline_ms: Option<f64>,
    ) -> Result<Option<String>, StepError> {
        self.index_remote(item.new.collection_id, deadline_ms)
            .await?;
        let key = dedupe_key(item, hash);
        Ok(self
            .env
            .store
            .get(Table::Hashes, &key)
            .await?
            .map(|owner| String::from_utf8_lossy(&owner).into_owned())
            .filter(|owner| owner.starts_with("file:")))
    }

    /// Takes `count` single-PUT URLs from this run's pool, refilled 50 at a
    /// time. A URL taken is never handed out again, whether or not the step
    /// that took it is recorded.
    async fn take_urls(
        &self,
        count: usize,
        deadline_ms: Option<f64>,
    ) -> Result<Vec<api::UploadUrl>, StepError> {
        if self.url_pool.borrow().len() < count {
            let request = self.endpoint.borrow().upload_urls(URL_BATCH);
            let fresh = parse_upload_urls(&self.send(request, Peer::Api, deadline_ms).await?)
                .map_err(protocol_failure)?;
            if fresh.len() < count {
                return Err(protocol_failure(api::ProtocolError(
                    "the server gave too few upload URLs".into(),
                )));
            }
            self.url_pool.borrow_mut().extend(fresh);
        }
        Ok(self.url_pool.borrow_mut().drain(..count).collect())
    }

    /// Encrypts the thumbnail and sends it to a URL taken for it in this
    /// step. Its ciphertext cannot be made again byte for byte (a fresh
    /// header each time, and a host's image encoder need not be
    /// deterministic), so its URL is recorded in the same commit as its
    /// header or never used again: an object key never holds two contents.
    async fn send_thumbnail(
        &self,
        item: &Item,
        upload: &mut Upload,
        progress: &mut Progress,
        deadline_ms: Option<f64>,
    ) -> Result<(), StepError> {
        let mut urls = self.take_urls(1, deadline_ms).await?;
        let url = urls.remove(0);
        let file_key = Key::from_slice(&self.env.vault.open(&upload.sealed_file_key).await?)?;
        let image = self.thumbnail_bytes(item).await;
        // Recorded with the thumbnail: Ente's apps draw an icon for it.
        if image == PLACEHOLDER_THUMBNAIL
            && let Some(marked) = with_static_thumbnail(&file_key, &upload.metadata)
        {
            upload.metadata = marked;
        }
        let sealed = encrypt_message(&file_key, &image);
        let size = sealed.ciphertext.len() as u64;
        self.send(
            api::put(&url.url, sealed.ciphertext),
            Peer::ObjectStore,
            deadline_ms,
        )
        .await?;
        upload.thumbnail = Some(Thumbnail {
            url,
            header: sealed.header.to_vec(),
            size,
            uploaded: true,
        });
        progress.bytes_uploaded += size;
        Ok(())
    }

    /// Gives the upload its object: a single-PUT URL from the pool, or a
    /// multipart upload. The file's bytes are fixed by the key and header
    /// recorded before (the same plaintext encrypts to the same ciphertext),
    /// so its URLs may be used over several steps and runs.
    async fn bind_target(
        &self,
        upload: &mut Upload,
        plan: PartPlan,
        deadline_ms: Option<f64>,
    ) -> Result<(), StepError> {
        upload.target = Some(match plan {
            PartPlan::Single { .. } => {
                Target::Single(self.take_urls(1, deadline_ms).await?.remove(0))
            }
            PartPlan::Multipart { parts, .. } => {
                let request = self.endpoint.borrow().multipart_upload_urls(parts);
                let response = self.send(request, Peer::Api, deadline_ms).await?;
                Target::Multipart(parse_multipart_urls(&response, parts).map_err(protocol_failure)?)
            }
        });
        Ok(())
    }

    pub(super) async fn send(
        &self,
        request: HttpRequest,
        peer: Peer,
        deadline_ms: Option<f64>,
    ) -> Result<HttpResponse, StepError> {
        self.send_classified(request, deadline_ms, &|response| classify(response, peer))
            .await
    }

    /// Sends `request`; `classify` says what an answer means.
    async fn send_classified(
        &self,
        request: HttpRequest,
        deadline_ms: Option<f64>,
        classify: &dyn Fn(&HttpResponse) -> Option<Failure>,
    ) -> Result<HttpResponse, StepError> {
        self.requests_in_step.set(self.requests_in_step.get() + 1);
        let response = self
            .env
            .transport
            .send(request, deadline_ms)
            .await
            .map_err(|e| StepError::Failure(classify_transport(&e)))?;
        match classify(&response) {
            None => Ok(response),
            Some(failure) => Err(failure.into()),
        }
    }

    /// The host's thumbnail, or the placeholder when there is none or it can
    /// no longer be read: a missing thumbnail must not fail the photo.
    async fn thumbnail_bytes(&self, item: &Item) -> Vec<u8> {
        let Some(source_ref) = &item.new.thumbnail else {
            return self
                .env
                .sources
                .thumbnail(&item.new.source, THUMBNAIL_SIDE, THUMBNAIL_BYTES)
                .await
                .filter(|jpeg| !jpeg.is_empty() && jpeg.len() <= THUMBNAIL_BYTES as usize)
                .unwrap_or_else(|| PLACEHOLDER_THUMBNAIL.to_vec());
        };
        let Ok(source) = self.env.sources.open(source_ref).await else {
            return PLACEHOLDER_THUMBNAIL.to_vec();
        };
        let size = source.info().size;
        if size == 0 || size > MAX_THUMBNAIL_BYTES {
            return PLACEHOLDER_THUMBNAIL.to_vec();
        }
        source
            .read(0, size)
            .await
            .unwrap_or_else(|_| PLACEHOLDER_THUMBNAIL.to_vec())
    }

    /// Opens the item's source and checks it is still the file first seen.
    async fn open_source(&self, item: &Item) -> Result<(R::Source, SourceInfo), StepError> {
        let source = self
            .env
            .sources
            .open(&item.new.source)
            .await
            .map_err(source_failure)?;
        let info = source.info();
        let changed = item.size.is_some_and(|s| s != info.size)
            || item
                .last_modified_ms
                .is_some_and(|m| m != info.last_modified_ms);
        if changed {
            return Err(StepError::SourceChanged(info));
        }
        Ok((source, info))
    }
}
