//! One step of one item: do its I/O, then record the result in one batch.
//! A failure's meaning for the item (a retry, a new upload, a permanent
//! failure, a block of the whole queue) is decided in `policy.rs` and
//! recorded here. Queued and hashing items are stepped here; an item being
//! uploaded, in `upload.rs`.

use super::policy::{self, Decision, Limits, Next, Setback, Tries};
use super::ports::{
    Batch, Clock, Source, SourceError, SourceInfo, Sources, Store, Table, Transport, Vault,
};
use super::{Engine, EngineError};
use crate::crypto::{Blake2b512, hash_checkpoint, hash_resume, to_base64};
use crate::protocol::api;
use crate::protocol::{
    Failure, HttpRequest, HttpResponse, ItemErrorCode, Peer, classify, classify_transport,
};
use crate::queue::records::{
    BLOCKED_KEY, Changes, advance_fresh_range, decode, encode, hash_key, item_key,
};
use crate::queue::{Item, Step};

/// Larger sources are refused as absurd (a host reader reporting garbage).
const MAX_SOURCE_BYTES: u64 = 1 << 40;

/// An item with the bytes it was read from: a step's record is written
/// over those bytes only.
#[derive(Debug)]
pub(super) struct StoredItem {
    pub item: Item,
    pub bytes: Vec<u8>,
    /// The fresh range this item was its first fresh item of: the step's
    /// record moves the range past it.
    pub fresh_range: Option<Vec<u8>>,
}

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
    /// The step recorded a block of the whole queue (`BLOCKED_KEY`).
    pub blocked: bool,
    /// The item's next step waits until then (wall clock), though this
    /// one went well.
    pub not_before_ms: Option<i64>,
    /// The item as this step recorded it, when it has a step left: the
    /// run may take its next step without reading the queue again.
    pub next: Option<StoredItem>,
}

/// What one step may use and what it used. Each step has its own: steps
/// of several items run at once.
#[derive(Debug)]
pub(super) struct StepScope {
    /// Monotonic time at which the step's requests are aborted.
    pub deadline_ms: Option<f64>,
    /// Parts the step may put on the wire at once.
    pub parts: u32,
    /// Requests the step made.
    pub requests: std::cell::Cell<u32>,
}

impl StepScope {
    pub(super) fn count_request(&self) {
        self.requests.set(self.requests.get() + 1);
    }
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

pub(super) fn source_failure(err: SourceError) -> StepError {
    StepError::Failure(match err {
        SourceError::Gone(why) => Failure::Permanent {
            code: ItemErrorCode::SourceGone.name().into(),
            why,
        },
        SourceError::PermissionDenied(_) => {
            Failure::Blocked(crate::protocol::BlockedReason::Permission)
        }
        SourceError::Invalid(why) => Failure::Permanent {
            code: ItemErrorCode::BadSource.name().into(),
            why,
        },
        SourceError::Unreadable(why) => Failure::Transient {
            retry_after_ms: None,
            why: format!("source unreadable: {why}"),
        },
    })
}

/// How long an item whose content another queued item is uploading waits
/// before it looks again (no sooner than that item's own next attempt).
const DUPLICATE_LOOK_MS: i64 = 2_000;

/// Whose the dedupe entry an item's content, type and title met is.
enum Owner {
    /// A file on the server: the item is a duplicate.
    Uploaded,
    /// Another item that may still fail: look again then.
    Uploading { due_ms: i64 },
    /// No one's any more: the item takes the entry and uploads.
    Gone,
}

/// Takes an item's content out of the dedupe index: once it fails, or its
/// file changes, it no longer stands for that content, and a later copy of
/// the same file must be uploaded rather than skipped. The title's marker
/// goes too: an upload that hashed as it encrypted holds it until it
/// registers, hash known or not, and no other item can hold it meanwhile
/// (see `upload_step`).
fn forget_hash(item: &Item, extra: &mut Batch) {
    if let Step::Uploading(upload) = &item.step {
        extra.delete(Table::Hashes, dedupe_key(item, &upload.hash));
        extra.delete(Table::Hashes, dedupe_key(item, ""));
    }
}

/// The item's entry in the dedupe index, for content hashing to `hash`.
pub(super) fn dedupe_key(item: &Item, hash: &str) -> Vec<u8> {
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
    /// Runs one step of `picked` and records what happened.
    pub(super) async fn step(
        &self,
        picked: StoredItem,
        deadline_ms: Option<f64>,
        max_parts: u32,
    ) -> Result<Progress, EngineError> {
        let StoredItem {
            item,
            bytes,
            fresh_range,
        } = picked;
        let scope = StepScope {
            deadline_ms,
            parts: max_parts,
            requests: std::cell::Cell::new(0),
        };
        let mut after = item.clone();
        let mut progress = Progress::default();
        let mut extra = Batch::default();
        let result = self
            .paced(
                &item,
                self.advance(&mut after, &mut progress, &mut extra, &scope),
            )
            .await;
        let setback = match result {
            Ok(()) => {
                after.attempts = 0;
                after.next_attempt_ms = progress.not_before_ms.unwrap_or(0);
                after.last_error = None;
                None
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
                progress = Progress::default();
                Some(Setback::SourceChanged)
            }
            Err(StepError::Failure(failure)) => {
                after = item.clone();
                progress = Progress::default();
                extra = Batch::default();
                progress.unanswered = matches!(failure, Failure::NoAnswer { .. });
                // URLs signed together expire together; a lost upload says
                // nothing about the pooled ones.
                if let Failure::UploadAgain {
                    code: ItemErrorCode::UrlExpired,
                    ..
                } = failure
                {
                    self.url_pool.borrow_mut().clear();
                }
                Some(Setback::Failure(failure))
            }
        };
        if let Some(setback) = setback {
            let tries = Tries {
                id: item.id,
                attempts: item.attempts,
                restarts: item.restarts,
                after_no_answer: item.last_error.as_ref().is_some_and(|e| {
                    ItemErrorCode::UNANSWERED
                        .iter()
                        .any(|code| code.name() == e.code)
                }),
            };
            match policy::next_state(setback, tries, &Limits::DEFAULT) {
                Decision::Redo => {
                    progress.interrupted = true;
                    return Ok(progress);
                }
                Decision::Block(reason) => {
                    // The item is untouched; the whole queue waits.
                    let mut batch = Batch::default();
                    batch.put(Table::Meta, BLOCKED_KEY.to_vec(), encode(&reason));
                    self.env.store.commit(batch).await?;
                    progress.blocked = true;
                    return Ok(progress);
                }
                Decision::Record {
                    attempts,
                    restarts,
                    next,
                    error,
                } => {
                    after.attempts = attempts;
                    after.restarts = restarts;
                    match next {
                        Next::Fail => {
                            // Once it fails, the item no longer stands for
                            // its content: a later copy must be uploaded.
                            forget_hash(&after, &mut extra);
                            after.step = Step::Failed(error);
                        }
                        Next::Retry { delay_ms } => {
                            after.next_attempt_ms = self.in_ms(delay_ms);
                            after.last_error = Some(error);
                        }
                        Next::UploadAgain => {
                            // A new upload needs a new key and URLs; the
                            // hash stays.
                            if let Step::Uploading(upload) = &item.step {
                                let fresh = self.prepare_upload(&item, upload.hash.clone()).await?;
                                after.step = Step::Uploading(Box::new(fresh));
                            }
                            after.last_error = Some(error);
                        }
                        Next::StartOver { delay_ms } => {
                            if let Some(delay_ms) = delay_ms {
                                after.next_attempt_ms = self.in_ms(delay_ms);
                            }
                            after.last_error = Some(error);
                        }
                    }
                }
            }
        }
        progress.requests = scope.requests.get();
        progress.file_done =
            matches!(after.step, Step::Done { .. }) && !matches!(item.step, Step::Done { .. });
        // Written over the item exactly as it was read: a host's `retry`
        // or `remove`, here or in another context (a page while the service
        // worker runs), may have changed it while this step was under way.
        // A retry changes only its attempts and next attempt: the step's
        // result is written over the item as it is now (its counts and
        // index entry are the ones replaced). Removed, or at another step
        // (a runner whose lease had lapsed), it is left as it is.
        let key = item_key(item.id);
        // Recorded whichever way the item is written: the live run, and
        // the fresh range moved past an item that is fresh no more (or gone).
        let mut beside = Batch::default();
        self.take_live(&mut beside);
        if let Some(range) = fresh_range {
            advance_fresh_range(&mut beside, range, item.id);
        }
        let mut before = (item.clone(), bytes);
        loop {
            let mut changes = Changes::new();
            changes.add_bytes_uploaded(progress.bytes_uploaded);
            changes.write_item(Some(&before.0), &after);
            let mut batch = changes.finish();
            batch.require(Table::Items, key.clone(), Some(before.1.clone()));
            batch.append(extra.clone());
            batch.append(beside.clone());
            match self.env.store.commit(batch).await {
                Err(err) if err.is_changed() => {}
                recorded => break recorded?,
            }
            if let Some(bytes) = self.reread_changed(&key, &before.1).await? {
                let now: Item = decode(&bytes).map_err(super::corrupt)?;
                if now.step == item.step {
                    before = (now, bytes);
                    continue;
                }
            }
            // What the step did outside the item is recorded (a file it
            // registered stands behind its dedupe entry), but the run does
            // not count a file it left.
            let mut changes = Changes::new();
            changes.add_bytes_uploaded(progress.bytes_uploaded);
            let mut batch = changes.finish();
            batch.append(extra);
            batch.append(beside);
            self.env.store.commit(batch).await?;
            progress.file_done = false;
            return Ok(progress);
        }
        if after.public_state() != item.public_state() {
            self.notify(&super::EngineEvent::Item(&after));
        }
        self.report_recorded(&item, &after);
        if !after.is_terminal() {
            progress.next = Some(StoredItem {
                bytes: encode(&after),
                item: after,
                fresh_range: None,
            });
        }
        Ok(progress)
    }

    /// The wall-clock time `delay_ms` from now.
    fn in_ms(&self, delay_ms: u64) -> i64 {
        self.env
            .clock
            .now_ms()
            .saturating_add(i64::try_from(delay_ms).unwrap_or(i64::MAX))
    }

    async fn advance(
        &self,
        item: &mut Item,
        progress: &mut Progress,
        extra: &mut Batch,
        scope: &StepScope,
    ) -> Result<(), StepError> {
        let hash = match item.step.clone() {
            // The first step also hashes the first stretch: a photo is
            // read, hashed and checked for duplicates in one step and one
            // commit. Unless nothing could be its duplicate: then it is
            // hashed as it is encrypted, in one read.
            Step::Queued => {
                let (source, info) = self.open_source(item).await?;
                if info.size > MAX_SOURCE_BYTES {
                    return Err(Failure::Permanent {
                        code: ItemErrorCode::BadSize.name().into(),
                        why: format!("the source reports {} bytes", info.size),
                    }
                    .into());
                }
                item.size = Some(info.size);
                item.last_modified_ms = Some(info.last_modified_ms);
                if self.no_duplicate_possible(item, scope).await? {
                    Some(String::new())
                } else {
                    self.hash_from(item, &source, info, Blake2b512::new(), 0, progress, scope)
                        .await?
                }
            }
            Step::Hashing {
                sealed_state,
                hashed,
            } => {
                let (source, info) = self.open_source(item).await?;
                let hasher = hash_resume(&self.env.vault.open(&sealed_state).await?)?;
                self.hash_from(item, &source, info, hasher, hashed, progress, scope)
                    .await?
            }
            Step::Uploading(mut upload) => {
                self.upload_step(item, &mut upload, progress, extra, scope)
                    .await?;
                if matches!(item.step, Step::Uploading(_)) {
                    item.step = Step::Uploading(upload);
                }
                None
            }
            Step::Done { .. } | Step::Skipped { .. } | Step::Failed(_) => None,
        };
        // The item owns its content's dedupe entry and uploads. One that
        // hashes as it encrypts (empty `hash`) owns the title's marker, the
        // entry of the empty hash, until it registers its file.
        if let Some(hash) = hash {
            extra.put(
                Table::Hashes,
                dedupe_key(item, &hash),
                format!("item:{}", item.id).into_bytes(),
            );
            item.step = Step::Uploading(Box::new(self.prepare_upload(item, hash).await?));
        }
        Ok(())
    }

    /// Hashes the next stretch of `source` from `hashed` on; once all of it
    /// is, looks for a duplicate. The hash, when the item is to upload it.
    #[allow(clippy::too_many_arguments)]
    async fn hash_from(
        &self,
        item: &mut Item,
        source: &R::Source,
        info: SourceInfo,
        mut hasher: Blake2b512,
        hashed: u64,
        progress: &mut Progress,
        scope: &StepScope,
    ) -> Result<Option<String>, StepError> {
        let len =
            crate::scheduler::estimate::HASH_STEP_BYTES.min(info.size - hashed.min(info.size));
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
            return Ok(None);
        }
        let hash = to_base64(&hasher.clone().finalize());
        self.index_remote(item.new.collection_id, scope).await?;
        let key = dedupe_key(item, &hash);
        // The title's marker: an item of this title hashing as it encrypts,
        // whose content may yet be this one's.
        let marker = dedupe_key(item, "");
        let found = self
            .env
            .store
            .get_many(Table::Hashes, &[&key, &marker])
            .await?;
        for (other, is_marker) in found.into_iter().zip([false, true]) {
            let Some(other) = other else { continue };
            let owner = String::from_utf8_lossy(&other).into_owned();
            match self.duplicate_owner(item, &owner).await? {
                // A file under the marker is one with no hash (or an
                // uploader that finished): it says nothing of this content.
                Owner::Uploaded if !is_marker => {
                    item.step = Step::Skipped {
                        duplicate_of: owner,
                    };
                    return Ok(None);
                }
                Owner::Uploading { due_ms } => {
                    // Hashed through; the look is made again when due.
                    let sealed_state = self.env.vault.seal(&hash_checkpoint(&hasher)).await?;
                    item.step = Step::Hashing {
                        sealed_state,
                        hashed: info.size,
                    };
                    progress.not_before_ms = Some(due_ms);
                    return Ok(None);
                }
                Owner::Uploaded | Owner::Gone => {}
            }
        }
        Ok(Some(hash))
    }

    /// Whether no file or item can be `item`'s duplicate: its collection's
    /// files are all indexed this run, and the dedupe index holds no entry
    /// of its title and type there. The index is keyed collection, type,
    /// title, hash, so that is one range read of at most one entry.
    async fn no_duplicate_possible(
        &self,
        item: &Item,
        scope: &StepScope,
    ) -> Result<bool, StepError> {
        let collection = item.new.collection_id;
        self.index_remote(collection, scope).await?;
        if !self.indexed_this_run.borrow().contains(&collection) {
            return Ok(false);
        }
        // Every key of the title starts with `prefix`, which ends in the
        // separator `\0`: they all sort before `prefix` ending in `\x01`.
        let prefix = dedupe_key(item, "");
        let mut end = prefix.clone();
        if let Some(last) = end.last_mut() {
            *last += 1;
        }
        let entries = self.env.store.scan(Table::Hashes, &prefix, &end, 1).await?;
        Ok(entries.is_empty())
    }

    /// What the owner of a dedupe entry (`file:<id>` on the server, or a
    /// queued `item:<id>`) means for an item with the same content, type
    /// and title. Only an upload that happened makes it a duplicate: one
    /// still under way may yet fail, and one removed from the queue (or
    /// failed, or this item's own from before a restart) stands for
    /// nothing.
    async fn duplicate_owner(&self, item: &Item, owner: &str) -> Result<Owner, StepError> {
        let Some(id) = owner.strip_prefix("item:") else {
            return Ok(Owner::Uploaded);
        };
        let other = match id.parse::<crate::queue::ItemId>() {
            Ok(id) if id != item.id => self.item(id).await?,
            _ => None,
        };
        Ok(match other {
            Some(other) if matches!(other.step, Step::Done { .. }) => Owner::Uploaded,
            Some(other) if !other.is_terminal() => Owner::Uploading {
                due_ms: other
                    .next_attempt_ms
                    .saturating_add(1)
                    .max(self.env.clock.now_ms().saturating_add(DUPLICATE_LOOK_MS)),
            },
            _ => Owner::Gone,
        })
    }

    pub(super) async fn send(
        &self,
        request: HttpRequest,
        peer: Peer,
        scope: &StepScope,
    ) -> Result<HttpResponse, StepError> {
        self.send_classified(request, peer, scope, &|response| classify(response, peer))
            .await
    }

    /// Sends `request`; `classify` says what an answer means.
    pub(super) async fn send_classified(
        &self,
        request: HttpRequest,
        peer: Peer,
        scope: &StepScope,
        classify: &dyn Fn(&HttpResponse) -> Option<Failure>,
    ) -> Result<HttpResponse, StepError> {
        scope.count_request();
        let response = self
            .env
            .transport
            .send(request, scope.deadline_ms)
            .await
            .map_err(|e| StepError::Failure(classify_transport(&e, peer)))?;
        match classify(&response) {
            None => Ok(response),
            Some(failure) => Err(failure.into()),
        }
    }

    /// Opens the item's source and checks it is still the file first seen.
    pub(super) async fn open_source(
        &self,
        item: &Item,
    ) -> Result<(R::Source, SourceInfo), StepError> {
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
