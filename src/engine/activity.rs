//! What runs are doing, told truly to readers anywhere: the live run's
//! record (so a killed run is found and recorded by the next one, and a
//! page knows which item a service worker is working on), the states items
//! are shown in, and the work policies hold back.

use futures_util::future::LocalBoxFuture;

use super::ports::{Batch, Clock, Sources, Store, Table, Transport, Vault};
use super::{Engine, EngineError, Status};
use crate::queue::records::{
    DEFERRED_KEY, FreshRange, LEASE_KEY, LIVE_RUN_KEY, decode, encode, fresh_range_bounds,
    id_from_runnable_key, item_key, runnable_key,
};
use crate::queue::{Counters, FileType, Item, ItemId, PublicState};
use crate::scheduler::{Deferred, Lease, LiveRun, RunPlan, RunReport, StopReason};

/// Runnable entries read to count what a policy holds back; past them the
/// count is a lower bound (a first backup of 100,000 files is not read
/// through at the end of every run).
const COUNT_WINDOW: usize = 2_000;

/// Whether `state` says a run is working on the item right now.
fn in_hand(state: PublicState) -> bool {
    matches!(state, PublicState::Hashing | PublicState::Uploading)
}

impl<S: Store, T: Transport, R: Sources, V: Vault, C: Clock> Engine<S, T, R, V, C> {
    /// The item a runner is working on now, in this context or another
    /// (the service worker while a page asks); `None` when no runner holds
    /// the database, whatever a killed run's record still says.
    pub async fn working_on(&self) -> Result<Option<ItemId>, EngineError> {
        let live = self.live_run().await?;
        self.working_on_by(live).await
    }

    /// [`Self::working_on`], with the live record already read.
    ///
    /// Boxed: `status()` and `items()` both wait on it, and a future
    /// inlined into each would be one more copy of this code in the wasm.
    fn working_on_by(
        &self,
        live: Option<LiveRun>,
    ) -> LocalBoxFuture<'_, Result<Option<ItemId>, EngineError>> {
        Box::pin(async move {
            let Some(live) = live.filter(|l| l.working != 0) else {
                return Ok(None);
            };
            let active = self.running.get() || self.env.store.runner_active().await || {
                let lease = self.env.store.get(Table::Meta, LEASE_KEY).await?;
                lease
                    .and_then(|b| decode::<Lease>(&b).ok())
                    .is_some_and(|l| !l.expired(self.env.clock.now_ms()))
            };
            Ok(active.then_some(live.working))
        })
    }

    /// The state an item is shown in: `hashing` and `uploading` only while
    /// a runner is working on it; one left part-way (a run that stopped
    /// or was killed, a video held back) is `waiting`.
    pub fn shown_state(item: &Item, working: Option<ItemId>) -> PublicState {
        match item.public_state() {
            state if in_hand(state) && working != Some(item.id) => PublicState::Waiting,
            state => state,
        }
    }

    /// Counts by shown state: the stored counters with every part-way
    /// item counted as waiting, except the one being worked on.
    pub(super) async fn shown_status(
        &self,
        status: Status,
        live: Option<LiveRun>,
    ) -> Result<Status, EngineError> {
        let mut counters: Counters = status.counters;
        let working = match self.working_on_by(live).await? {
            Some(id) => self.item(id).await?,
            None => None,
        };
        let index = |s: PublicState| s as usize;
        for state in [PublicState::Hashing, PublicState::Uploading] {
            counters.by_state[index(PublicState::Waiting)] += counters.by_state[index(state)];
            counters.by_state[index(state)] = 0;
        }
        if let Some(item) = working {
            let state = item.public_state();
            if in_hand(state) && counters.by_state[index(PublicState::Waiting)] > 0 {
                counters.by_state[index(PublicState::Waiting)] -= 1;
                counters.by_state[index(state)] += 1;
            }
        }
        Ok(Status { counters, ..status })
    }

    pub(super) async fn live_run(&self) -> Result<Option<LiveRun>, EngineError> {
        Ok(self
            .env
            .store
            .get(Table::Meta, LIVE_RUN_KEY)
            .await?
            .and_then(|b| decode(&b).ok()))
    }

    /// At the start of a run that holds the database: a live record left
    /// by an earlier run means it was killed, and is recorded as such; then
    /// this run's own record.
    pub(super) async fn begin_live(&self, report: &RunReport) -> Result<(), EngineError> {
        let mut batch = Batch::default();
        if let Some(killed) = self.live_run().await? {
            self.record_run_into(&killed.killed(), &mut batch).await?;
        }
        self.put_live(&mut batch, report, 0);
        Ok(self.env.store.commit(batch).await?)
    }

    /// Moves the live record on to `working`, with what the run has done:
    /// written with the next step's commit rather than in a transaction of
    /// its own (each costs a step's worth of IndexedDB time).
    pub(super) fn update_live(&self, report: &RunReport, working: ItemId) {
        let mut batch = Batch::default();
        self.put_live(&mut batch, report, working);
        *self.live_pending.borrow_mut() = Some(batch);
    }

    /// The live record staged by [`Self::update_live`], if any, into `batch`.
    pub(super) fn take_live(&self, batch: &mut Batch) {
        if let Some(live) = self.live_pending.borrow_mut().take() {
            batch.append(live);
        }
    }

    fn put_live(&self, batch: &mut Batch, report: &RunReport, working: ItemId) {
        let live = LiveRun {
            report: report.clone(),
            updated_at: self.env.clock.now_ms(),
            working,
        };
        batch.put(Table::Meta, LIVE_RUN_KEY.to_vec(), encode(&live));
    }

    /// The run's end: its live record goes, and the work it left held back
    /// is kept for `diagnose` (or forgotten once nothing is).
    pub(super) fn end_live(&self, report: &RunReport, batch: &mut Batch) {
        self.live_pending.borrow_mut().take();
        batch.delete(Table::Meta, LIVE_RUN_KEY.to_vec());
        match &report.deferred {
            Some(deferred) => {
                batch.put(Table::Meta, DEFERRED_KEY.to_vec(), encode(deferred));
            }
            None if report.stopped_because == StopReason::Idle => {
                batch.delete(Table::Meta, DEFERRED_KEY.to_vec());
            }
            None => {}
        }
    }

    /// What the latest run left held back by a policy.
    pub async fn deferred(&self) -> Result<Option<Deferred>, EngineError> {
        Ok(self
            .env
            .store
            .get(Table::Meta, DEFERRED_KEY)
            .await?
            .and_then(|b| decode(&b).ok()))
    }

    /// Runnable items (those with a retry still to come included), and
    /// the videos among them when `videos` is set; at most
    /// [`COUNT_WINDOW`] of the index's entries and as many fresh items are
    /// read. An item retried before its first step (which has an entry,
    /// and is fresh still) counts twice: a report's figure, not a bound.
    async fn count_runnable(&self, videos: bool) -> Result<u64, EngineError> {
        let counted = |item: &Item| !videos || item.new.file_type == FileType::Video;
        let entries = self
            .env
            .store
            .scan(
                Table::Runnable,
                &[],
                &runnable_key(i64::MAX, ItemId::MAX),
                COUNT_WINDOW,
            )
            .await?;
        let mut count = entries.len();
        if videos {
            // One read for all: this runs as a short background run ends,
            // and a read each took half a second for 2,000 in Chromium.
            let keys: Vec<_> = entries
                .iter()
                .filter_map(|(k, _)| id_from_runnable_key(k).map(item_key))
                .collect();
            let keys: Vec<&[u8]> = keys.iter().map(Vec::as_slice).collect();
            let items = self.env.store.get_many(Table::Items, &keys).await?;
            count = items
                .iter()
                .flatten()
                .filter(|bytes| decode::<Item>(bytes).is_ok_and(|item| counted(&item)))
                .count();
        }
        let mut count = count as u64;
        let (from, to) = fresh_range_bounds();
        let mut read = 0;
        for (_, stored) in self
            .env
            .store
            .scan(Table::Meta, &from, &to, usize::MAX)
            .await?
        {
            let Ok(range) = decode::<FreshRange>(&stored) else {
                continue;
            };
            if read >= COUNT_WINDOW {
                break;
            }
            let (fresh, _) = self.range_items(&range, COUNT_WINDOW - read).await?;
            read += fresh.len();
            count += fresh.iter().filter(|s| counted(&s.item)).count() as u64;
        }
        Ok(count)
    }

    /// Ends `report` as `deferred`: the videos `plan` holds for a longer
    /// window, or (`capped`) the files past the per-run cap.
    pub(super) async fn defer(
        &self,
        plan: &RunPlan,
        report: &mut RunReport,
        capped: bool,
    ) -> Result<(), EngineError> {
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // ms, far below 2^64
        let mut deferred = Deferred {
            videos_min_budget_ms: plan.policies.videos_min_budget_ms.max(0.0) as u64,
            ..Deferred::default()
        };
        if capped {
            deferred.file_cap = self.count_runnable(false).await?;
            // Another run may take them at once.
            report.next_run_hint_ms = Some(0.0);
        } else {
            deferred.videos = self.count_runnable(true).await?;
            // Only a longer window takes them: none is due by the clock.
            report.next_run_hint_ms = None;
        }
        report.stopped_because = StopReason::Deferred;
        report.deferred = Some(deferred);
        Ok(())
    }
}
