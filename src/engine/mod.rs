//! The engine: runs queue items through their steps over the ports, each
//! step's result recorded in one batch before the next step starts, so a
//! run killed at any instant redoes at most the step in flight.
#![forbid(unsafe_code)]

mod activity;
mod capture;
mod error;
mod placeholder;
mod policy;
pub mod ports;
mod progress;
mod remote_index;
mod retry;
mod run;
mod serial;
mod steps;
mod upload;

use std::cell::RefCell;

pub use error::{EngineError, ErrorCode};
use ports::{Clock, Sources, Store, Table, Transport, Vault};

use crate::crypto::Key;
use crate::protocol::{BlockedReason, Endpoint};
use crate::queue::records::{
    BLOCKED_KEY, COUNTERS_KEY, Changes, LIVE_RUN_KEY, NEXT_ID_KEY, collection_key_key, decode,
    encode, item_key,
};
use crate::queue::{Counters, Item, ItemId, NewItem, PublicState, Step};
pub use crate::scheduler::{RunReport, StopReason};

/// Longest title accepted (Ente's metadata has no limit; absurd ones are bugs).
const MAX_TITLE_CHARS: usize = 1024;

/// Tunables; the scheduler will set these per run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EngineConfig {
    /// Chunks per multipart part (2 to 5).
    pub chunks_per_part: u32,
    /// Parts of one file on the wire at once.
    pub parallel_parts: u32,
    /// Items whose steps run at once. Parts on the wire, all files
    /// together, stay at most the larger of this and `parallel_parts`.
    pub parallel_files: u32,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            chunks_per_part: 5,
            parallel_parts: 3,
            parallel_files: 4,
        }
    }
}

/// The environment the engine runs in.
#[derive(Debug)]
pub struct Env<S, T, R, V, C> {
    pub store: S,
    pub transport: T,
    pub sources: R,
    pub vault: V,
    pub clock: C,
}

/// What an observer hears, after the change it describes is recorded.
#[derive(Debug)]
pub enum EngineEvent<'a> {
    /// An item changed state (queued → hashing → … → done, failed, …).
    Item(&'a Item),
    /// An item's plaintext was hashed further, or its bytes went further
    /// on their way to the server: recorded, or estimated while its parts
    /// are on the wire. Never lower than the last report for the item,
    /// unless its upload started again.
    Progress {
        item: &'a Item,
        bytes_hashed: u64,
        bytes_sent: u64,
        encrypted_size: u64,
    },
}

type Observer = Box<dyn Fn(&EngineEvent<'_>)>;

pub struct Engine<S, T, R, V, C> {
    env: Env<S, T, R, V, C>,
    endpoint: RefCell<Endpoint>,
    config: EngineConfig,
    observer: RefCell<Option<Observer>>,
    /// Collections whose server files were indexed during this run; a user
    /// has tens of albums, so a Vec (and no hash table code in the wasm).
    indexed_this_run: RefCell<Vec<i64>>,
    /// Set by the host to end the current run after the step in flight.
    stop_requested: std::cell::Cell<bool>,
    /// Chunks per part for uploads prepared in this run (the scheduler's choice).
    chunks_per_part: std::cell::Cell<u32>,
    /// Held while the URL pool is refilled.
    url_refill: serial::SerialLock,
    /// Upload rate (bytes per ms) of one step, as measured: what progress
    /// estimates go by.
    link_rate: std::cell::Cell<f64>,
    /// The live record's next state, written with the next step's commit.
    live_pending: RefCell<Option<ports::Batch>>,
    /// The last progress reported per item.
    shown_progress: RefCell<Vec<progress::Shown>>,
    /// Single-PUT URLs fetched in this run and not yet handed out. Kept in
    /// memory only: a pool in the database could come back after a power
    /// cut rolled back the commits that handed its URLs out, and give one
    /// object key to two files.
    url_pool: RefCell<Vec<crate::protocol::api::UploadUrl>>,
    /// The next step's first part of a large upload, sealed while this
    /// step's parts were on the wire (one part's bytes, kept in memory).
    sealed_ahead: std::cell::Cell<Option<upload::SealedAhead>>,
    /// A run of this engine is in progress.
    running: std::cell::Cell<bool>,
    /// The item this engine's run works on (its live record says so).
    working: std::cell::Cell<Option<ItemId>>,
    /// Items changed by the host's calls (retry, remove) on this engine:
    /// a run's copy of an item read before one may be stale.
    host_changes: std::cell::Cell<u64>,
}

impl<S, T, R, V, C> std::fmt::Debug for Engine<S, T, R, V, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub counters: Counters,
    pub blocked: Option<BlockedReason>,
}

impl<S: Store, T: Transport, R: Sources, V: Vault, C: Clock> Engine<S, T, R, V, C> {
    pub fn new(env: Env<S, T, R, V, C>, endpoint: Endpoint, config: EngineConfig) -> Self {
        Self {
            env,
            endpoint: RefCell::new(endpoint),
            config,
            observer: RefCell::new(None),
            indexed_this_run: RefCell::new(Vec::new()),
            stop_requested: std::cell::Cell::new(false),
            chunks_per_part: std::cell::Cell::new(config.chunks_per_part),
            url_refill: serial::SerialLock::default(),
            link_rate: std::cell::Cell::new(0.0),
            shown_progress: RefCell::new(Vec::new()),
            live_pending: RefCell::new(None),
            url_pool: RefCell::new(Vec::new()),
            sealed_ahead: std::cell::Cell::new(None),
            running: std::cell::Cell::new(false),
            working: std::cell::Cell::new(None),
            host_changes: std::cell::Cell::new(0),
        }
    }

    /// Ends the current run once the step in flight is recorded; the run
    /// reports `Budget`, as if its time had run out.
    pub fn request_stop(&self) {
        self.stop_requested.set(true);
    }

    /// Hears every item change and upload progress, after it is recorded.
    pub fn set_observer(&self, observer: impl Fn(&EngineEvent<'_>) + 'static) {
        *self.observer.borrow_mut() = Some(Box::new(observer));
    }

    pub(crate) fn notify(&self, event: &EngineEvent<'_>) {
        if let Some(observer) = self.observer.borrow().as_ref() {
            observer(event);
        }
    }

    pub fn env(&self) -> &Env<S, T, R, V, C> {
        &self.env
    }

    /// A new token, e.g. after the queue blocked on `auth`.
    pub fn set_token(&self, token: String) {
        self.endpoint.borrow_mut().token = token;
    }

    /// Stores a collection key, sealed by the vault; it is never stored in clear.
    pub async fn set_collection_key(
        &self,
        collection_id: i64,
        key: &Key,
    ) -> Result<(), EngineError> {
        let sealed = self.env.vault.seal(key.as_bytes()).await?;
        let mut batch = ports::Batch::default();
        batch.put(Table::Meta, collection_key_key(collection_id), sealed);
        Ok(self.env.store.commit(batch).await?)
    }

    pub(crate) async fn collection_key(
        &self,
        collection_id: i64,
    ) -> Result<Option<Key>, EngineError> {
        let Some(sealed) = self
            .env
            .store
            .get(Table::Meta, &collection_key_key(collection_id))
            .await?
        else {
            return Ok(None);
        };
        let bytes = self.env.vault.open(&sealed).await?;
        Ok(Some(Key::from_slice(&bytes)?))
    }

    /// Adds items in one batch: all of them or, if any is invalid, none.
    pub async fn enqueue(&self, items: Vec<NewItem>) -> Result<Vec<ItemId>, EngineError> {
        // Each collection's key is checked once, not once per item: a vault
        // open is a WebCrypto call, and a first backup queues 100,000 items.
        let mut keyed = Vec::new();
        for (index, item) in items.iter().enumerate() {
            if item.source.is_empty() {
                return Err(EngineError::bad_item(index, "no source"));
            }
            if item.title.trim().is_empty() || item.title.chars().count() > MAX_TITLE_CHARS {
                return Err(EngineError::bad_item(
                    index,
                    "a title must have 1 to 1024 characters",
                ));
            }
            // A live photo is a zip of its image and video to Ente; one
            // source cannot be that.
            if item.file_type == crate::queue::FileType::LivePhoto {
                return Err(EngineError::bad_item(
                    index,
                    "live photos are not supported",
                ));
            }
            if keyed.contains(&item.collection_id) {
                continue;
            }
            if self.collection_key(item.collection_id).await?.is_none() {
                return Err(EngineError::new(
                    ErrorCode::MissingCollectionKey,
                    format!(
                        "item {index}: no key for collection {}; call setCollectionKey first",
                        item.collection_id
                    ),
                ));
            }
            keyed.push(item.collection_id);
        }
        let mut next_id = self.take_ids(items.len()).await?;
        let now = self.env.clock.now_ms();
        let mut queued = Vec::with_capacity(items.len());
        for new in items {
            queued.push(Item {
                id: next_id,
                new,
                size: None,
                last_modified_ms: None,
                step: Step::Queued,
                attempts: 0,
                restarts: 0,
                next_attempt_ms: 0,
                last_error: None,
                enqueued_ms: now,
            });
            next_id += 1;
        }
        let mut changes = Changes::new();
        changes.enqueue(&queued);
        self.env.store.commit(changes.finish()).await?;
        Ok(queued.iter().map(|item| item.id).collect())
    }

    /// The first of `count` item ids no other `enqueue` gets, in this
    /// context or another: taken with a compare-and-swap on the next id,
    /// before the items are written. Ids an `enqueue` takes and then
    /// fails to store are never used.
    async fn take_ids(&self, count: usize) -> Result<ItemId, EngineError> {
        loop {
            let stored = self.env.store.get(Table::Meta, NEXT_ID_KEY).await?;
            let first: ItemId = match &stored {
                Some(bytes) => decode(bytes).map_err(corrupt)?,
                None => 1,
            };
            let next = first.saturating_add(count as u64);
            if self
                .env
                .store
                .swap(
                    Table::Meta,
                    NEXT_ID_KEY,
                    stored.as_deref(),
                    Some(encode(&next)),
                )
                .await?
            {
                return Ok(first);
            }
        }
    }

    /// Counts by the state items are shown in (see `shown_state`).
    pub async fn status(&self) -> Result<Status, EngineError> {
        let (stored, live) = self.stored_status().await?;
        self.shown_status(stored, live).await
    }

    /// The counters and the block as stored, and the live run's record:
    /// read together, one round trip.
    async fn stored_status(
        &self,
    ) -> Result<(Status, Option<crate::scheduler::LiveRun>), EngineError> {
        let keys: [&[u8]; 3] = [COUNTERS_KEY, BLOCKED_KEY, LIVE_RUN_KEY];
        let mut values = self
            .env
            .store
            .get_many(Table::Meta, &keys)
            .await?
            .into_iter();
        let mut next = || values.next().flatten();
        let status = Status {
            counters: next().map_or(Ok(Counters::default()), |b| decode(&b).map_err(corrupt))?,
            blocked: blocked_from(next())?,
        };
        Ok((status, next().and_then(|b| decode(&b).ok())))
    }

    pub async fn item(&self, id: ItemId) -> Result<Option<Item>, EngineError> {
        match self.env.store.get(Table::Items, &item_key(id)).await? {
            Some(bytes) => Ok(Some(decode(&bytes).map_err(corrupt)?)),
            None => Ok(None),
        }
    }

    /// Items after `after` in id order, optionally only those shown in
    /// `state` (see `shown_state`).
    pub async fn items(
        &self,
        state: Option<PublicState>,
        after: ItemId,
        limit: usize,
    ) -> Result<Vec<Item>, EngineError> {
        let working = match state {
            Some(_) => self.working_on().await?,
            None => None,
        };
        self.items_shown(state, after, limit, working).await
    }

    /// [`Self::items`], with the item being worked on already known.
    pub async fn items_shown(
        &self,
        state: Option<PublicState>,
        after: ItemId,
        limit: usize,
        working: Option<ItemId>,
    ) -> Result<Vec<Item>, EngineError> {
        let mut out = Vec::new();
        let mut from = after.saturating_add(1);
        while out.len() < limit {
            let page = self
                .env
                .store
                .scan(Table::Items, &item_key(from), &item_key(ItemId::MAX), 256)
                .await?;
            let Some((last_key, _)) = page.last() else {
                break;
            };
            let last_id =
                ItemId::from_be_bytes(last_key.as_slice().try_into().unwrap_or([0xff; 8]));
            // Unreadable records are skipped here, as the run skips them.
            for item in page
                .iter()
                .filter_map(|(_, bytes)| decode::<Item>(bytes).ok())
            {
                if state.is_none_or(|s| Self::shown_state(&item, working) == s) {
                    out.push(item);
                    if out.len() == limit {
                        break;
                    }
                }
            }
            from = last_id.saturating_add(1);
        }
        Ok(out)
    }

    /// Puts a failed item back in the queue from its last recorded step.
    pub async fn retry(&self, id: ItemId) -> Result<(), EngineError> {
        let retried = self
            .change_item(id, &|item| {
                let mut after = item.clone();
                if let Step::Failed(_) = item.step {
                    after.step = Step::Queued;
                }
                after.attempts = 0;
                after.next_attempt_ms = 0;
                let mut changes = Changes::new();
                changes.write_item(Some(item), &after);
                changes
            })
            .await?;
        if retried { Ok(()) } else { Err(not_found(id)) }
    }

    pub async fn remove(&self, id: ItemId) -> Result<(), EngineError> {
        // Gone meanwhile (a double click, or a page and the service worker
        // at once): removed all the same, and counted out once.
        self.change_item(id, &|item| {
            let mut changes = Changes::new();
            changes.remove_item(item);
            changes
        })
        .await?;
        Ok(())
    }

    /// Commits what `change` makes of item `id` over the item exactly as it
    /// was read; whether it did (not: the item went meanwhile). A host's
    /// call can meet a step of the item landing, here or in the service
    /// worker: written over a copy read before it, a retry would put back
    /// an upload already finished (and send the file again), a removal
    /// count the item out of a state it had left. So a change that finds
    /// the item changed is made again from the item as it is now.
    /// `change` is a `dyn Fn`: generic, this state machine was in the
    /// wasm once per caller.
    async fn change_item(
        &self,
        id: ItemId,
        change: &dyn Fn(&Item) -> Changes,
    ) -> Result<bool, EngineError> {
        self.host_changes.set(self.host_changes.get() + 1);
        let key = item_key(id);
        let mut stored = self.env.store.get(Table::Items, &key).await?;
        stored.as_ref().ok_or_else(|| not_found(id))?;
        while let Some(bytes) = stored {
            let mut batch = change(&decode(&bytes).map_err(corrupt)?).finish();
            batch.require(Table::Items, key.clone(), Some(bytes.clone()));
            match self.env.store.commit(batch).await {
                Err(err) if err.is_changed() => stored = self.reread_changed(&key, &bytes).await?,
                done => return done.map(|()| true).map_err(Into::into),
            }
        }
        Ok(false)
    }

    /// The item record under `key` again, after a commit that required it
    /// to be `stale` found it changed: its bytes now, `None` if it is gone.
    /// Still `stale` means the check fails on what the store holds, and
    /// would fail every time: an error, not another round.
    pub(super) async fn reread_changed(
        &self,
        key: &[u8],
        stale: &[u8],
    ) -> Result<Option<Vec<u8>>, EngineError> {
        let now = self.env.store.get(Table::Items, key).await?;
        if now.as_deref() == Some(stale) {
            return Err(corrupt("an item record fails its own check"));
        }
        Ok(now)
    }

    /// Lifts a block (after the host fixed its cause: a new token, space).
    pub async fn resume(&self) -> Result<(), EngineError> {
        let mut batch = ports::Batch::default();
        batch.delete(Table::Meta, BLOCKED_KEY.to_vec());
        Ok(self.env.store.commit(batch).await?)
    }

    async fn blocked(&self) -> Result<Option<BlockedReason>, EngineError> {
        blocked_from(self.env.store.get(Table::Meta, BLOCKED_KEY).await?)
    }
}

fn corrupt(err: impl std::fmt::Display) -> EngineError {
    EngineError::new(
        ErrorCode::CorruptRecord,
        format!("a queue record is unreadable: {err}"),
    )
}

fn not_found(id: ItemId) -> EngineError {
    EngineError::new(ErrorCode::NotFound, format!("no item {id}"))
}

fn blocked_from(stored: Option<Vec<u8>>) -> Result<Option<BlockedReason>, EngineError> {
    stored.map(|b| decode(&b)).transpose().map_err(corrupt)
}
