//! The upload steps of an item whose content is hashed and not on the
//! server: the thumbnail, the object's URLs, the parts, the multipart
//! Complete, and the file's registration (`POST /files`). Each call does one
//! of them; `Engine::step` records what it did before the next begins.

use super::capture::{seal_metadata, with_hash, with_static_thumbnail};
use super::placeholder::PLACEHOLDER_THUMBNAIL;
use super::ports::{Batch, Clock, Source, Sources, Store, Table, Transport, Vault};
use super::steps::{Progress, StepError, StepScope, dedupe_key, protocol_failure, source_failure};
use super::{Engine, EngineError, ErrorCode};
use crate::crypto::{
    Blake2b512, CHUNK_SIZE, FileEncryptor, HASH_CHECKPOINT_BYTES, Key, encrypt_message,
    hash_checkpoint, hash_resume, to_base64, wrap_key,
};
use crate::protocol::api::{
    self, NewFile, ObjectRef, parse_etag, parse_file_record, parse_multipart_urls,
    parse_upload_urls,
};
use crate::protocol::{
    Failure, ItemErrorCode, PartPlan, Peer, classify, classify_registration, classify_transport,
};
use crate::queue::item::{Target, Thumbnail, Upload};
use crate::queue::{FileType, Item, Step};
use zeroize::Zeroizing;

/// Single-PUT URLs asked for at once (the API's maximum).
const URL_BATCH: u32 = 50;
/// A host thumbnail larger than this is not a thumbnail; the placeholder goes instead.
const MAX_THUMBNAIL_BYTES: u64 = 2 * 1024 * 1024;
/// Ente's thumbnail limits: the longer side and the encoded size.
const THUMBNAIL_SIDE: u32 = 720;
const THUMBNAIL_BYTES: u32 = 100 * 1024;

impl<S: Store, T: Transport, R: Sources, V: Vault, C: Clock> Engine<S, T, R, V, C> {
    /// A fresh file key and header, and the sealed metadata, for `hash`;
    /// an empty `hash` makes an upload that hashes as it encrypts.
    pub(super) async fn prepare_upload(
        &self,
        item: &Item,
        hash: String,
    ) -> Result<Upload, EngineError> {
        let file_key = Key::generate();
        let encryptor = FileEncryptor::new(&file_key);
        let hasher = hash.is_empty().then(Blake2b512::new);
        let metadata = seal_metadata(&file_key, &self.file_metadata(item, &hash).await.to_json());
        Ok(Upload {
            hash,
            sealed_file_key: self.env.vault.seal(file_key.as_bytes()).await?,
            header: encryptor.header().to_vec(),
            chunks_per_part: self.chunks_per_part.get(),
            target: None,
            etags: Vec::new(),
            sealed_checkpoint: Some(
                self.env
                    .vault
                    .seal(&position_bytes(&encryptor, hasher.as_ref()))
                    .await?,
            ),
            completed: false,
            thumbnail: None,
            metadata,
            bytes_sent: 0,
        })
    }

    pub(super) async fn upload_step(
        &self,
        item: &mut Item,
        upload: &mut Upload,
        progress: &mut Progress,
        extra: &mut Batch,
        scope: &StepScope,
    ) -> Result<(), StepError> {
        let size = item.size.unwrap_or(0);
        let plan = PartPlan::new(size, upload.chunks_per_part);
        let thumbnail_sent = upload.thumbnail_sent();
        // New object keys are about to be bound, or the file registered.
        // If the database lost the commits of an upload that reached the
        // server (a power cut takes back recent commits), the server holds
        // this content already: a second upload would make a second file.
        // An upload that hashes as it encrypts binds its keys before it
        // knows what to look for: it looks before it registers.
        let looks = !thumbnail_sent || upload.target.is_none() || upload.completed;
        if upload.completed {
            // This step registers the file or finds it there: the title's
            // marker goes in its commit. The marker can only be this item's
            // own: while an item holds its content's entry or the marker,
            // an item of its title hashes first, and waits on the marker.
            extra.delete(Table::Hashes, dedupe_key(item, ""));
        }
        if looks
            && !upload.hash.is_empty()
            && let Some(file) = self.already_on_server(item, &upload.hash, scope).await?
        {
            // Parsed as the item ids are: one parser fewer in the wasm.
            let file_id = file.strip_prefix("file:").map(str::parse::<u64>);
            item.step = match file_id {
                // Found as it was about to register: the answer of its own
                // registration was lost (or another device's copy beat it
                // there). Either way this file is up.
                Some(Ok(file_id)) if upload.completed => Step::Done {
                    file_id: file_id as i64,
                },
                _ => Step::Skipped { duplicate_of: file },
            };
            return Ok(());
        }
        if !thumbnail_sent {
            self.send_thumbnail(item, upload, progress, scope).await?;
            // A photo's one PUT follows in the same step: two commits
            // fewer per small file, whose rate IndexedDB bounds. A kill
            // before the commit loses both URLs, never used again.
            if upload.target.is_none() && matches!(plan, PartPlan::Single { .. }) {
                self.bind_target(upload, plan, scope).await?;
                if let Some(target) = upload.target.clone() {
                    return self
                        .upload_parts(item, upload, plan, &target, progress, scope)
                        .await;
                }
            }
            return Ok(());
        }
        let Some(target) = upload.target.clone() else {
            return self.bind_target(upload, plan, scope).await;
        };
        let parts_done = u32::try_from(upload.etags.len()).unwrap_or(u32::MAX);
        if parts_done < plan.part_count() {
            return self
                .upload_parts(item, upload, plan, &target, progress, scope)
                .await;
        }
        if let (false, Target::Multipart(urls)) = (upload.completed, &target) {
            let sent = self
                .send(
                    api::complete_multipart(&urls.complete_url, &upload.etags),
                    Peer::ObjectStore,
                    scope,
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
                    code: ItemErrorCode::UploadLost,
                    ..
                })) => {}
                Err(err) => return Err(err),
            }
            upload.completed = true;
            return Ok(());
        }
        let Some(thumbnail) = upload.thumbnail.as_ref() else {
            return Err(EngineError::new(
                ErrorCode::CorruptRecord,
                "an upload has no thumbnail slot",
            )
            .into());
        };
        let file_key = Key::from_slice(&self.env.vault.open(&upload.sealed_file_key).await?)?;
        let collection_key = self
            .collection_key(item.new.collection_id)
            .await?
            .ok_or_else(|| Failure::Permanent {
                code: ItemErrorCode::MissingCollectionKey.name().into(),
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
            .send_classified(request, Peer::Api, scope, &|response| {
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
        scope: &StepScope,
    ) -> Result<(), StepError> {
        let size = item.size.unwrap_or(0);
        let first = u32::try_from(upload.etags.len()).unwrap_or(u32::MAX) + 1;
        let last = plan.part_count().min(first + scope.parts.max(1) - 1);
        let (source, _) = self.open_source(item).await?;
        let file_key = Key::from_slice(&self.env.vault.open(&upload.sealed_file_key).await?)?;
        let checkpoint = upload
            .sealed_checkpoint
            .as_ref()
            .ok_or_else(corrupt_upload)?;
        let (mut encryptor, mut hasher) = resume_position(
            &file_key,
            &self.env.vault.open(checkpoint).await?,
            upload.hash.is_empty(),
        )?;
        let mut ahead = self.sealed_ahead.take();
        if !ahead
            .as_ref()
            .is_some_and(|a| a.number == first && a.header == upload.header)
        {
            // Another upload's (or another part's): kept for it.
            self.sealed_ahead.set(ahead.take());
        }
        let mut flights = Vec::new();
        let mut sealed_after: Vec<(u64, Vec<u8>)> = Vec::new();
        // One part past the step's last: while the step's parts are on the
        // wire, the next step's first part is sealed, so that step puts it
        // on the wire at once instead of leaving the link idle while it
        // reads and encrypts. The next step of the same upload (its stream
        // header) takes it if it starts at that part: this step's parts all
        // landed and were recorded, so it starts from the very position the
        // part was sealed from, and sealing is deterministic from there. A
        // failed read here is the next step's to meet. Not started when it
        // would outlast the deadline at the pace this step's parts were
        // sealed (a part sealed ahead counts what it took then): the step
        // waits for it before it is recorded.
        let mut sealing_ms = 0.0;
        for number in first..=last + 1 {
            let Some(part) = plan.part(size, number) else {
                break;
            };
            let now = self.env.clock.monotonic_ms();
            if number > last
                && scope
                    .deadline_ms
                    .is_some_and(|deadline| now + sealing_ms / f64::from(number - first) > deadline)
            {
                break;
            }
            let (body, took_ms) = match ahead.take() {
                Some(ahead) => {
                    (encryptor, hasher) =
                        resume_position(&file_key, &ahead.after, hasher.is_some())?;
                    (Ok(ahead.body), ahead.took_ms)
                }
                None => {
                    let last_part = number == plan.part_count();
                    let body =
                        seal_part(&source, &mut encryptor, hasher.as_mut(), &part, last_part).await;
                    (body, self.env.clock.monotonic_ms() - now)
                }
            };
            sealing_ms += took_ms;
            let after = position_bytes(&encryptor, hasher.as_ref());
            if number > last {
                if let Ok(body) = body {
                    self.sealed_ahead.set(Some(SealedAhead {
                        number,
                        header: upload.header.clone(),
                        after: Zeroizing::new(after),
                        body,
                        took_ms,
                    }));
                }
                break;
            }
            let body = body?;
            let url = match target {
                Target::Single(url) => url.url.clone(),
                Target::Multipart(urls) => urls.part_urls[number as usize - 1].clone(),
            };
            sealed_after.push((body.len() as u64, after));
            scope.count_request();
            flights.push(
                self.env
                    .transport
                    .send(api::put(&url, body), scope.deadline_ms),
            );
        }
        let in_flight = sealed_after.iter().map(|(sent, _)| sent).sum();
        self.parts_out(item.id, upload.bytes_sent, in_flight);
        let results = join_in_order(flights).await;
        self.parts_landed(item.id);
        let mut first_failure = None;
        let mut recorded = None;
        for (result, (sent, checkpoint)) in results.into_iter().zip(sealed_after) {
            if first_failure.is_some() {
                break;
            }
            let etag = result
                .map_err(|e| StepError::Failure(classify_transport(&e, Peer::ObjectStore)))
                .and_then(|response| match classify(&response, Peer::ObjectStore) {
                    // Only Complete reads ETags: a single PUT needs none.
                    None if matches!(target, Target::Single(_)) => {
                        Ok(parse_etag(&response).unwrap_or_default())
                    }
                    // A part stored but its ETag unreadable: the bucket's
                    // CORS rules do not expose it, and no retry can help
                    // until they do; the item waits, never failing for it.
                    None => parse_etag(&response).map_err(|err| {
                        StepError::Failure(Failure::NoAnswer {
                            code: ItemErrorCode::EtagHidden,
                            why: err.to_string(),
                        })
                    }),
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
        let Some(mut checkpoint) = recorded else {
            return Err(first_failure.unwrap_or_else(|| {
                EngineError::new(ErrorCode::CorruptRecord, "no part to upload").into()
            }));
        };
        if let (true, Some(hasher)) = (upload.etags.len() == plan.part_count() as usize, hasher) {
            take_hash(upload, &file_key, hasher)?;
            checkpoint = encryptor.checkpoint();
        }
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
        scope: &StepScope,
    ) -> Result<Option<String>, StepError> {
        self.index_remote(item.new.collection_id, scope).await?;
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
        scope: &StepScope,
    ) -> Result<Vec<api::UploadUrl>, StepError> {
        // One refill at a time: steps of several items asking together
        // share a batch rather than each fetch one.
        let _refill = self.url_refill.lock().await;
        if self.url_pool.borrow().len() < count {
            let request = self.endpoint.borrow().upload_urls(URL_BATCH);
            let fresh = parse_upload_urls(&self.send(request, Peer::Api, scope).await?)
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
        scope: &StepScope,
    ) -> Result<(), StepError> {
        let mut urls = self.take_urls(1, scope).await?;
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
            scope,
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
        scope: &StepScope,
    ) -> Result<(), StepError> {
        upload.target = Some(match plan {
            PartPlan::Single { .. } => Target::Single(self.take_urls(1, scope).await?.remove(0)),
            PartPlan::Multipart { parts, .. } => {
                let request = self.endpoint.borrow().multipart_upload_urls(parts);
                let response = self.send(request, Peer::Api, scope).await?;
                Target::Multipart(parse_multipart_urls(&response, parts).map_err(protocol_failure)?)
            }
        });
        Ok(())
    }

    /// The host's thumbnail, or the placeholder when there is none or it can
    /// no longer be read: a missing thumbnail must not fail the photo.
    async fn thumbnail_bytes(&self, item: &Item) -> Vec<u8> {
        let Some(source_ref) = &item.new.thumbnail else {
            // The device makes thumbnails of images only. Asked for a
            // video's, the browser's decoder reads the whole file into
            // memory before it gives up: 0.4 s for 256 MiB, and a 4 GB
            // video may not fit at all.
            if item.new.file_type != FileType::Image {
                return PLACEHOLDER_THUMBNAIL.to_vec();
            }
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
}

/// A part sealed while the parts before it were on the wire, for the step
/// that starts at it (see `upload_parts`).
pub(super) struct SealedAhead {
    number: u32,
    /// The upload's stream header: one per upload, so it tells uploads apart.
    header: Vec<u8>,
    /// The encryptor's (and hasher's) position after the part: secret, as
    /// the stream's key is part of it.
    after: Zeroizing<Vec<u8>>,
    body: Vec<u8>,
    /// How long reading and sealing it took.
    took_ms: f64,
}

/// Reads `part` and encrypts it (hashing it too when `hasher` is given),
/// a chunk at a time: memory holds one part's ciphertext and one chunk of
/// plaintext, whatever the part size.
async fn seal_part(
    source: &impl Source,
    encryptor: &mut FileEncryptor,
    mut hasher: Option<&mut Blake2b512>,
    part: &crate::protocol::Part,
    last_part: bool,
) -> Result<Vec<u8>, StepError> {
    let mut body = Vec::with_capacity(usize::try_from(part.encrypted_len).unwrap_or(0));
    if part.plaintext_len == 0 {
        encryptor.push_into(&mut body, &[], true)?;
    }
    let mut offset = 0;
    while offset < part.plaintext_len {
        let len = (CHUNK_SIZE as u64).min(part.plaintext_len - offset);
        let chunk = source
            .read(part.plaintext_offset + offset, len)
            .await
            .map_err(source_failure)?;
        offset += len;
        if let Some(hasher) = hasher.as_mut() {
            hasher.update(&chunk);
        }
        encryptor.push_into(&mut body, &chunk, last_part && offset == part.plaintext_len)?;
    }
    Ok(body)
}

/// The encryptor's checkpoint, followed by the hasher's when the upload
/// hashes as it encrypts: sealed as one, so a resumed stream never meets a
/// hash of another point in the file.
fn position_bytes(encryptor: &FileEncryptor, hasher: Option<&Blake2b512>) -> Vec<u8> {
    let mut bytes = encryptor.checkpoint();
    if let Some(hasher) = hasher {
        bytes.extend(hash_checkpoint(hasher));
    }
    bytes
}

/// Gives an upload that hashed as it encrypted, all of whose parts are
/// sent, its hash, in its record and its metadata. It still holds the
/// title's marker until it registers or fails (see `upload_step`).
fn take_hash(upload: &mut Upload, file_key: &Key, hasher: Blake2b512) -> Result<(), EngineError> {
    let hash = to_base64(&hasher.finalize());
    upload.metadata = with_hash(file_key, &upload.metadata, &hash).ok_or_else(corrupt_upload)?;
    upload.hash = hash;
    Ok(())
}

/// The encryptor, and the hasher when `hashing`, from what
/// [`position_bytes`] made.
fn resume_position(
    file_key: &Key,
    opened: &[u8],
    hashing: bool,
) -> Result<(FileEncryptor, Option<Blake2b512>), StepError> {
    // Too short to split, the stream's part meets its own length check.
    let tail = if hashing { HASH_CHECKPOINT_BYTES } else { 0 };
    let (stream, hash) = opened.split_at(opened.len().saturating_sub(tail));
    let hasher = if hashing {
        Some(hash_resume(hash)?)
    } else {
        None
    };
    Ok((FileEncryptor::resume(file_key, stream)?, hasher))
}

/// An upload record whose sealed parts do not open: a store that lost or
/// mangled bytes.
fn corrupt_upload() -> EngineError {
    EngineError::new(
        ErrorCode::CorruptRecord,
        "an upload's encryptor or metadata does not open",
    )
}

/// Runs `futures` together; their outputs, in order. The parts of one step
/// are a handful: futures-util's `join_all`, which past thirty switches to
/// a `FuturesOrdered`, put that machinery in the wasm for nothing (2.4 KB
/// gzip).
async fn join_in_order<F: Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut futures: Vec<_> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (future, output) in futures.iter_mut().zip(outputs.iter_mut()) {
            if output.is_none() {
                match future.as_mut().poll(cx) {
                    std::task::Poll::Ready(value) => *output = Some(value),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    outputs.into_iter().flatten().collect()
}
