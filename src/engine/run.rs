//! A run: pick the next units of work that fit the time left (several
//! items' steps at once), do them, learn how long they took, and stop on
//! time with a record of what happened.

use std::pin::Pin;
use std::task::Poll;

use super::ports::{Batch, Clock, Sources, Store, Table, Transport, Vault};
use super::steps::{Progress, StoredItem};
use super::{Engine, EngineError};
use crate::protocol::ItemErrorCode;
use crate::queue::records::{
    DEFERRED_KEY, FreshRange, LEASE_KEY, NEXT_RUN_KEY, RUNS_KEPT, STALE_URL_POOL_KEY,
    THROUGHPUT_KEY, advance_fresh_range, decode, encode, fresh_range_bounds, id_from_item_key,
    id_from_runnable_key, item_key, run_key, runnable_key,
};
use crate::queue::{FileType, Item, ItemId, Step};
use crate::scheduler::{
    Environment, Finding, LEASE_MS, Lease, QueueState, RunPlan, RunReport, StopReason, Throughput,
    Trigger, diagnose, estimate,
};

/// Within a run, wait for a retry that is due this soon rather than stop.
const MAX_IN_RUN_WAIT_MS: i64 = 30_000;
/// How often a run waiting in-run for a retry looks for a stop request.
const STOP_POLL_MS: u64 = 250;
/// How often the live record takes what the run has done, besides each
/// time the run starts a step of another item or after a file finished:
/// what a killed run is known to have done is at most this old.
const LIVE_EVERY_MS: f64 = 2_000.0;
/// Steps in a row that got no answer at all before a run stops waiting for
/// retries in-run: one is often a passing network error, two mean the
/// server or the network is down, and waiting only delays the report.
const UNANSWERED_BEFORE_GIVING_UP: u32 = 2;
/// Runnable entries looked at to find a unit that fits; beyond them the
/// run stops rather than read the whole queue.
const PICK_WINDOW: usize = 32;

/// Why a run stops starting steps.
enum Stop {
    Blocked(crate::protocol::BlockedReason),
    /// Work is left that this run's policies hold back (`capped`: the
    /// per-run file cap; else videos for a longer window).
    Defer {
        capped: bool,
    },
    /// The time is up, the host asked, or nothing left fits.
    Budget,
    Idle,
    /// Another runner holds the database.
    Busy,
}

/// What the run has learnt from the steps landed so far.
#[derive(Default)]
struct Tally {
    /// Steps in a row that got no answer at all.
    unanswered_in_a_row: u32,
    /// A step was cut short by the deadline or the host.
    interrupted: bool,
}

/// Items two steps at once must not share: dedupe compares hash, type and
/// title within a collection, so two items that differ in any of the last
/// three can never be each other's duplicate.
#[derive(PartialEq)]
struct DedupeScope {
    collection_id: i64,
    file_type: FileType,
    title: String,
}

impl DedupeScope {
    fn of(item: &Item) -> Self {
        Self {
            collection_id: item.new.collection_id,
            file_type: item.new.file_type,
            title: item.new.title.clone(),
        }
    }
}

/// A landed step: what it did and how long it took.
struct Landed {
    progress: Progress,
    was_hashing: bool,
    took: f64,
}

/// A step on its way: one item's, alongside other items' steps.
struct Flight<'a> {
    id: ItemId,
    scope: DedupeScope,
    /// Part slots it holds (parts of a file on the wire).
    parts: u32,
    step: Pin<Box<dyn Future<Output = Result<Landed, EngineError>> + 'a>>,
}

/// Waits for the first of `flights` to land and takes it out.
async fn land_one(flights: &mut Vec<Flight<'_>>) -> Result<Landed, EngineError> {
    std::future::poll_fn(|cx| {
        for i in 0..flights.len() {
            if let Poll::Ready(landed) = flights[i].step.as_mut().poll(cx) {
                flights.swap_remove(i);
                return Poll::Ready(landed);
            }
        }
        Poll::Pending
    })
    .await
}

/// What `pick` weighs each candidate against, and what it has seen.
struct Look<'p, 'f, 'a> {
    plan: &'p RunPlan,
    throughput: &'p Throughput,
    time_left: Option<f64>,
    flights: &'f [Flight<'a>],
    parts_free: u32,
    held_back: &'p mut bool,
    nothing_fits: bool,
    /// Candidates still to look at before the run stops rather than read
    /// the whole queue.
    left: usize,
}

impl Look<'_, '_, '_> {
    fn flying(&self, id: ItemId) -> bool {
        self.flights.iter().any(|f| f.id == id)
    }

    /// A step of `picked` if it may start now and fits the time left.
    fn consider(&mut self, picked: StoredItem, parallel_parts: u32) -> Option<Pick> {
        let item = &picked.item;
        if self.flying(item.id) {
            return None;
        }
        // Not counted: held back, a whole library of videos would hide the
        // photos behind them from a short run.
        if self.plan.defers_videos() && item.new.file_type == FileType::Video {
            *self.held_back = true;
            return None;
        }
        self.left = self.left.saturating_sub(1);
        let scope = DedupeScope::of(item);
        if self.flights.iter().any(|f| f.scope == scope) {
            return None;
        }
        let wants_parts = estimate::has_parts_left(item);
        if (wants_parts || estimate::sends_with_thumbnail(item)) && self.parts_free == 0 {
            return None;
        }
        let mut parts = parallel_parts
            .min(self.parts_free)
            .min(estimate::parts_within_loss_window(item, self.throughput))
            .max(1);
        let Some(time_left) = self.time_left else {
            return Some(Pick::Step(Box::new(picked), parts));
        };
        loop {
            if estimate::step_ms(item, self.throughput, parts) <= time_left {
                return Some(Pick::Step(Box::new(picked), parts));
            }
            if parts == 1 || !wants_parts {
                break;
            }
            parts -= 1;
        }
        self.nothing_fits = true;
        None
    }
}

/// The next unit of work, or why there is none.
enum Pick {
    /// Run a step of this item, with at most this many parts on the wire.
    Step(Box<StoredItem>, u32),
    /// The first runnable item is not due until then (wall clock).
    WaitUntil(i64),
    /// Work is left but none of it fits the time left.
    NothingFits,
    /// Nothing runnable under this run's policies.
    Idle,
}

impl<S: Store, T: Transport, R: Sources, V: Vault, C: Clock> Engine<S, T, R, V, C> {
    /// Works through runnable items until the queue is idle or blocked, or
    /// `deadline_ms` (monotonic clock) passes: a foreground run with an
    /// explicit deadline.
    pub async fn run(&self, deadline_ms: Option<f64>) -> Result<RunReport, EngineError> {
        let now = self.env.clock.monotonic_ms();
        let mut plan = RunPlan::new(Trigger::Foreground, deadline_ms.map(|d| d - now), now);
        plan.deadline_ms = deadline_ms;
        self.run_plan(plan).await
    }

    /// At most `steps` units of work, with no deadline.
    pub async fn run_steps(&self, steps: u64) -> Result<RunReport, EngineError> {
        let mut plan = RunPlan::new(Trigger::Foreground, None, self.env.clock.monotonic_ms());
        plan.max_steps = Some(steps);
        self.run_plan(plan).await
    }

    /// One run under `plan`. Local trouble (the database, the vault) ends
    /// the run with `error` in its report; it is recorded like any other.
    pub async fn run_plan(&self, plan: RunPlan) -> Result<RunReport, EngineError> {
        self.indexed_this_run.borrow_mut().clear();
        self.env.sources.forget_reads();
        self.url_pool.borrow_mut().clear();
        self.shown_progress.borrow_mut().clear();
        self.live_pending.borrow_mut().take();
        self.stop_requested.set(false);
        let mut report = RunReport::new(&plan, self.env.clock.now_ms(), StopReason::Idle);
        let holder = u64::from_le_bytes(crate::crypto::random_bytes::<8>());
        let mut throughput = Throughput::default();
        let mut live = false;
        let result = async {
            if plan.use_lease && !self.take_lease(holder).await? {
                report.busy();
                return Ok(());
            }
            self.running.set(true);
            self.begin_live(&report).await?;
            live = true;
            throughput = self.throughput().await;
            // Being offline needs no one to act: each run tries again (and
            // blocks again at its first request if the network is still gone).
            if self.blocked().await? == Some(crate::protocol::BlockedReason::Offline) {
                self.resume().await?;
            }
            let outcome = self.work(&plan, &mut throughput, &mut report, holder).await;
            if plan.use_lease {
                self.drop_lease(holder).await?;
            }
            outcome
        }
        .await;
        self.running.set(false);
        if let Err(err) = result {
            report.stopped_because = StopReason::Error;
            report.error = Some(format!("{}: {}", err.code, err.message));
        }
        report.elapsed_ms = self.env.clock.monotonic_ms() - plan.started_ms;
        let mut batch = Batch::default();
        if report.stopped_because != StopReason::Busy {
            batch.put(Table::Meta, THROUGHPUT_KEY.to_vec(), encode(&throughput));
        }
        batch.delete(Table::Meta, STALE_URL_POOL_KEY.to_vec());
        if live {
            self.end_live(&report, &mut batch);
        }
        self.record_run_into(&report, &mut batch).await?;
        self.env.store.commit(batch).await?;
        self.working.set(None);
        Ok(report)
    }

    async fn work(
        &self,
        plan: &RunPlan,
        throughput: &mut Throughput,
        report: &mut RunReport,
        holder: u64,
    ) -> Result<(), EngineError> {
        let mut flights = Vec::new();
        let mut tally = Tally::default();
        let stop = self
            .fly(plan, throughput, report, holder, &mut flights, &mut tally)
            .await;
        // Whatever ended the run, the steps already started finish (or meet
        // the deadline's abort) and are recorded before it reports: a run
        // never ends with its own steps still writing.
        while !flights.is_empty() {
            let landed = land_one(&mut flights).await;
            self.account(landed?, throughput, report, &mut tally);
        }
        let stop = stop?;
        if tally.interrupted {
            report.stopped_because = StopReason::Budget;
            report.next_run_hint_ms = Some(0.0);
            return Ok(());
        }
        match stop {
            Stop::Blocked(reason) => {
                report.stopped_because = StopReason::from_blocked(reason);
                report.blocked = Some(reason);
            }
            Stop::Defer { capped } => self.defer(plan, report, capped).await?,
            Stop::Budget => {
                report.stopped_because = StopReason::Budget;
                report.next_run_hint_ms = Some(0.0);
            }
            Stop::Idle => report.stopped_because = StopReason::Idle,
            Stop::Busy => report.busy(),
        }
        Ok(())
    }

    /// Starts steps while there is room, waits for one to land, and again,
    /// until a reason to stop starting them; returns it.
    async fn fly<'a>(
        &'a self,
        plan: &RunPlan,
        throughput: &mut Throughput,
        report: &mut RunReport,
        holder: u64,
        flights: &mut Vec<Flight<'a>>,
        tally: &mut Tally,
    ) -> Result<Stop, EngineError> {
        let deadline = plan.deadline_ms;
        let mut lease_until = self.env.clock.now_ms() + LEASE_MS;
        let mut steps = 0;
        let mut live_written_ms = plan.started_ms;
        let mut live_files_done = 0;
        let room = self.config.parallel_files.max(1) as usize;
        let part_slots = self
            .config
            .parallel_parts
            .max(self.config.parallel_files)
            .max(1);
        // Only a step blocks the queue (or a runner elsewhere, which the
        // lease keeps out): the record is read again after a step that
        // recorded a block, not after every landing (one IndexedDB
        // transaction a step).
        let mut may_be_blocked = true;
        // The item whose step landed last, as that step recorded it, and
        // the host's changes count then (see `pick`).
        let mut carried: Option<(StoredItem, u64)> = None;
        loop {
            if tally.interrupted {
                return Ok(Stop::Budget);
            }
            if may_be_blocked && let Some(reason) = self.blocked().await? {
                return Ok(Stop::Blocked(reason));
            }
            may_be_blocked = false;
            let mono = self.env.clock.monotonic_ms();
            let out_of_time = deadline.is_some_and(|d| mono >= d);
            let files_cap = plan.max_files();
            if files_cap.is_some_and(|cap| report.files_done >= cap) {
                return Ok(Stop::Defer { capped: true });
            }
            let capped = plan.max_steps.is_some_and(|cap| steps >= cap);
            if self.stop_requested.get() || out_of_time || capped {
                return Ok(Stop::Budget);
            }
            let now = self.env.clock.now_ms();
            if plan.use_lease && lease_until - now < LEASE_MS / 2 {
                if !self.take_lease(holder).await? {
                    return Ok(Stop::Busy);
                }
                lease_until = now + LEASE_MS;
            }
            // A step in flight may finish its file: starting more than the
            // cap allows could overrun it.
            let at_cap =
                files_cap.is_some_and(|cap| report.files_done + flights.len() as u64 >= cap);
            if flights.len() < room && !at_cap {
                self.chunks_per_part
                    .set(plan.chunks_per_part(throughput, self.config.chunks_per_part));
                self.link_rate.set(throughput.upload_rate());
                let time_left = deadline.map(|d| d - mono);
                let parts_free = part_slots.saturating_sub(flights.iter().map(|f| f.parts).sum());
                let mut held_back = false;
                let carried = carried
                    .take()
                    .filter(|(_, changes)| *changes == self.host_changes.get())
                    .map(|(item, _)| item);
                let picked = self
                    .pick(
                        plan,
                        throughput,
                        now,
                        time_left,
                        flights,
                        parts_free,
                        &mut held_back,
                        carried,
                    )
                    .await?;
                let idle = flights.is_empty();
                match picked {
                    Pick::Step(picked, parts) => {
                        let id = picked.item.id;
                        if self.working.replace(Some(id)) != Some(id)
                            || mono - live_written_ms >= LIVE_EVERY_MS
                            || report.files_done != live_files_done
                        {
                            report.elapsed_ms = mono - plan.started_ms;
                            self.update_live(report, id);
                            live_written_ms = mono;
                            live_files_done = report.files_done;
                        }
                        steps += 1;
                        flights.push(self.take_off(*picked, deadline, parts));
                        continue;
                    }
                    Pick::Idle if idle && held_back => return Ok(Stop::Defer { capped: false }),
                    Pick::Idle if idle => return Ok(Stop::Idle),
                    Pick::NothingFits if idle => return Ok(Stop::Budget),
                    Pick::WaitUntil(at) if idle => {
                        let wait = at - now;
                        report.next_run_hint_ms = Some(wait as f64);
                        let fits = deadline.is_none_or(|d| mono + wait as f64 <= d);
                        let unreachable = tally.unanswered_in_a_row >= UNANSWERED_BEFORE_GIVING_UP;
                        if wait > MAX_IN_RUN_WAIT_MS || !fits || unreachable {
                            return Ok(Stop::Idle);
                        }
                        self.sleep_unless_stopped(wait).await;
                        report.next_run_hint_ms = None;
                        continue;
                    }
                    // Steps in flight may make more work runnable.
                    _ => {}
                }
            }
            let mut landed = land_one(flights).await?;
            may_be_blocked = landed.progress.blocked;
            carried = landed
                .progress
                .next
                .take()
                .map(|item| (item, self.host_changes.get()));
            self.account(landed, throughput, report, tally);
        }
    }

    /// A step of `item` started, timed as it lands.
    fn take_off(&self, picked: StoredItem, deadline: Option<f64>, parts: u32) -> Flight<'_> {
        let item = &picked.item;
        let was_hashing = matches!(item.step, Step::Queued | Step::Hashing { .. });
        let reserves = if estimate::has_parts_left(item) {
            parts
        } else {
            u32::from(estimate::sends_with_thumbnail(item))
        };
        let scope = DedupeScope::of(item);
        let id = item.id;
        let step = Box::pin(async move {
            let started = self.env.clock.monotonic_ms();
            let progress = self.step(picked, deadline, parts).await?;
            Ok(Landed {
                progress,
                was_hashing,
                took: self.env.clock.monotonic_ms() - started,
            })
        });
        Flight {
            id,
            scope,
            parts: reserves,
            step,
        }
    }

    /// What a landed step tells the run's report and its estimates.
    fn account(
        &self,
        landed: Landed,
        throughput: &mut Throughput,
        report: &mut RunReport,
        tally: &mut Tally,
    ) {
        let Landed {
            progress,
            was_hashing,
            took,
        } = landed;
        tally.unanswered_in_a_row = if progress.unanswered {
            tally.unanswered_in_a_row + 1
        } else {
            0
        };
        if progress.interrupted {
            tally.interrupted = true;
            return;
        }
        if progress.bytes_uploaded >= 64 * 1024 {
            throughput.observe_upload(progress.bytes_uploaded, took);
        } else if was_hashing {
            throughput.observe_hash(progress.bytes_hashed, took);
        } else if progress.requests > 0 {
            throughput.observe_request(took / f64::from(progress.requests));
        }
        report.bytes_uploaded += progress.bytes_uploaded;
        report.files_done += u64::from(progress.file_done);
    }

    /// The first runnable item, in order, whose next step fits the time
    /// left; a smaller unit further on is preferred to stopping early.
    /// Items with a runnable entry come first (started and due ones), then
    /// fresh ones. Items in flight are passed over, and so is an item that
    /// could be a duplicate of one in flight: dedupe must see the first
    /// one's hash recorded before the second looks.
    ///
    /// `carried`, the item whose step just landed as that step recorded
    /// it, is weighed first: the scans below cost several IndexedDB
    /// transactions, as much as a small file's own work, and the item
    /// that just moved is the one they would find (started items come
    /// first). Its record is current unless the host changed an item
    /// since (the caller drops it then), or another context did: its
    /// step then finds the record changed and leaves it, as a step that
    /// meets a change while under way does.
    #[allow(clippy::too_many_arguments)]
    async fn pick(
        &self,
        plan: &RunPlan,
        throughput: &Throughput,
        now: i64,
        time_left: Option<f64>,
        flights: &[Flight<'_>],
        parts_free: u32,
        held_back: &mut bool,
        carried: Option<StoredItem>,
    ) -> Result<Pick, EngineError> {
        let mut look = Look {
            plan,
            throughput,
            time_left,
            flights,
            parts_free,
            held_back,
            nothing_fits: false,
            left: PICK_WINDOW,
        };
        if let Some(picked) = carried
            && picked.item.next_attempt_ms <= now
            && let Some(pick) = look.consider(picked, self.config.parallel_parts)
        {
            return Ok(pick);
        }
        let mut not_due = None;
        for (key, _) in self.runnable_entries(0, PICK_WINDOW).await? {
            let Some(id) = id_from_runnable_key(&key) else {
                continue;
            };
            if look.flying(id) {
                continue;
            }
            let Some(picked) = self.runnable_item(id).await? else {
                continue;
            };
            if picked.item.next_attempt_ms > now {
                // The index is in due order: everything after waits longer.
                not_due = Some(picked.item.next_attempt_ms);
                break;
            }
            if let Some(pick) = look.consider(picked, self.config.parallel_parts) {
                return Ok(pick);
            }
        }
        let (from, to) = fresh_range_bounds();
        for (key, range) in self
            .env
            .store
            .scan(Table::Meta, &from, &to, usize::MAX)
            .await?
        {
            if look.left == 0 {
                break;
            }
            for picked in self.fresh_items(key, &range).await? {
                if look.left == 0 {
                    break;
                }
                let id = picked.item.id;
                let carrier = picked.fresh_range.clone().filter(|_| !look.flying(id));
                if let Some(pick) = look.consider(picked, self.config.parallel_parts) {
                    return Ok(pick);
                }
                // Passed over (a video held back, a step that does not fit):
                // the range cannot move past it before its step, which may
                // be runs away, so it takes an entry and the range moves on.
                if let Some(range_key) = carrier {
                    let mut batch = Batch::default();
                    batch.put(Table::Runnable, runnable_key(0, id), Vec::new());
                    advance_fresh_range(&mut batch, range_key, id);
                    self.env.store.commit(batch).await?;
                }
            }
        }
        Ok(match not_due {
            _ if look.nothing_fits => Pick::NothingFits,
            Some(at) => Pick::WaitUntil(at),
            None => Pick::Idle,
        })
    }

    /// The items of the fresh range under `key` still as enqueued, in id
    /// order, at most [`PICK_WINDOW`]; the first carries the range's key.
    /// A range with none left is deleted; one whose first window holds
    /// none (steps landed out of order) is moved past it.
    async fn fresh_items(
        &self,
        key: Vec<u8>,
        stored: &[u8],
    ) -> Result<Vec<StoredItem>, EngineError> {
        let Ok(mut range) = decode::<FreshRange>(stored) else {
            return Ok(Vec::new());
        };
        loop {
            let (mut fresh, past) = self.range_items(&range, PICK_WINDOW).await?;
            if let Some(first) = fresh.first_mut() {
                first.fresh_range = Some(key);
                return Ok(fresh);
            }
            let mut batch = Batch::default();
            match past {
                Some(last) => advance_fresh_range(&mut batch, key.clone(), last),
                None => {
                    batch.delete(Table::Meta, key.clone());
                }
            }
            self.env.store.commit(batch).await?;
            let Some(last) = past else {
                return Ok(Vec::new());
            };
            range.next = last + 1;
        }
    }

    /// Of the first `limit` item records of `range` from its `next` on,
    /// those still as enqueued; and the last id read if there were
    /// `limit` (more may follow).
    pub(super) async fn range_items(
        &self,
        range: &FreshRange,
        limit: usize,
    ) -> Result<(Vec<StoredItem>, Option<ItemId>), EngineError> {
        let records = self
            .env
            .store
            .scan(
                Table::Items,
                &item_key(range.next),
                &item_key(range.end),
                limit,
            )
            .await?;
        let mut past = None;
        let mut fresh = Vec::new();
        for (n, (key, bytes)) in records.into_iter().enumerate() {
            if n + 1 == limit {
                past = id_from_item_key(&key);
            }
            if let Ok(item) = decode::<Item>(&bytes)
                && item.is_fresh()
            {
                fresh.push(StoredItem {
                    item,
                    bytes,
                    fresh_range: None,
                });
            }
        }
        Ok((fresh, past))
    }

    /// Waits `wait_ms` for a retry that is due soon, but wakes within
    /// [`STOP_POLL_MS`] of a stop request: the host's abort (or `close`)
    /// must not wait for the retry.
    async fn sleep_unless_stopped(&self, wait_ms: i64) {
        let mut left = u64::try_from(wait_ms).unwrap_or(0);
        while left > 0 && !self.stop_requested.get() {
            let slice = left.min(STOP_POLL_MS);
            self.env.clock.sleep_ms(slice).await;
            left -= slice;
        }
    }

    /// Takes or renews the lease if it is free, expired, or already ours.
    async fn take_lease(&self, holder: u64) -> Result<bool, EngineError> {
        let now = self.env.clock.now_ms();
        let stored = self.env.store.get(Table::Meta, LEASE_KEY).await?;
        let lease = stored.as_deref().and_then(|b| decode::<Lease>(b).ok());
        if !Lease::can_take(lease.as_ref(), holder, now) {
            return Ok(false);
        }
        let mine = Lease {
            holder,
            expires_ms: now + LEASE_MS,
        };
        Ok(self
            .env
            .store
            .swap(
                Table::Meta,
                LEASE_KEY,
                stored.as_deref(),
                Some(encode(&mine)),
            )
            .await?)
    }

    async fn drop_lease(&self, holder: u64) -> Result<(), EngineError> {
        let stored = self.env.store.get(Table::Meta, LEASE_KEY).await?;
        if stored
            .as_deref()
            .and_then(|b| decode::<Lease>(b).ok())
            .is_some_and(|lease| lease.holder == holder)
        {
            self.env
                .store
                .swap(Table::Meta, LEASE_KEY, stored.as_deref(), None)
                .await?;
        }
        Ok(())
    }

    async fn throughput(&self) -> Throughput {
        match self.env.store.get(Table::Meta, THROUGHPUT_KEY).await {
            Ok(Some(bytes)) => decode(&bytes).unwrap_or_default(),
            _ => Throughput::default(),
        }
    }

    /// Keeps a run's report among the last hundred; for hosts that decide
    /// a run cannot start at all (another runner holds the Web Lock).
    /// A run that holds everything back (`wifiOnly` on a metered link)
    /// says what it left in `deferred`, which is kept for `diagnose`.
    pub async fn record_run(&self, report: &RunReport) -> Result<(), EngineError> {
        let mut batch = Batch::default();
        if let Some(deferred) = &report.deferred {
            batch.put(Table::Meta, DEFERRED_KEY.to_vec(), encode(deferred));
        }
        self.record_run_into(report, &mut batch).await?;
        Ok(self.env.store.commit(batch).await?)
    }

    pub(super) async fn record_run_into(
        &self,
        report: &RunReport,
        batch: &mut Batch,
    ) -> Result<(), EngineError> {
        let seq: u64 = match self.env.store.get(Table::Meta, NEXT_RUN_KEY).await? {
            Some(bytes) => decode(&bytes).unwrap_or(0),
            None => 0,
        };
        batch.put(Table::Meta, run_key(seq), encode(report));
        if seq >= RUNS_KEPT {
            batch.delete(Table::Meta, run_key(seq - RUNS_KEPT));
        }
        batch.put(Table::Meta, NEXT_RUN_KEY.to_vec(), encode(&(seq + 1)));
        Ok(())
    }

    /// The last runs, newest first.
    pub async fn runs(&self, limit: usize) -> Result<Vec<RunReport>, EngineError> {
        let records = self
            .env
            .store
            .scan(Table::Meta, &run_key(0), &run_key(u64::MAX), usize::MAX)
            .await?;
        Ok(records
            .iter()
            .rev()
            .filter_map(|(_, bytes)| decode::<RunReport>(bytes).ok())
            .take(limit)
            .collect())
    }

    /// Troubleshooting advice, from the run records and the queue.
    pub async fn diagnose(&self, env: &Environment) -> Result<Vec<Finding>, EngineError> {
        let runs = self.runs(usize::MAX).await?;
        // Counts of items not yet finished, whichever state they are shown in.
        let (status, _) = self.stored_status().await?;
        // Waiting items sort after every due one in the runnable index.
        let waiting = self.runnable_entries(1, 1_000).await?;
        let (mut struggling, mut store_unreachable, mut etag_hidden) = (0, 0, 0);
        for (key, _) in waiting {
            let Some(id) = id_from_runnable_key(&key) else {
                continue;
            };
            let Some(item) = self.item(id).await? else {
                continue;
            };
            let code = item.last_error.as_ref().map(|e| &*e.code);
            if code == Some(ItemErrorCode::StoreUnreachable.name()) {
                store_unreachable += 1;
            } else if code == Some(ItemErrorCode::EtagHidden.name()) {
                etag_hidden += 1;
            } else if item.attempts >= 3 {
                struggling += 1;
            }
        }
        let queue = QueueState {
            counters: status.counters,
            blocked: status.blocked,
            struggling,
            deferred: self.deferred().await?,
            store_unreachable,
            etag_hidden,
        };
        Ok(diagnose(&runs, &queue, env))
    }

    /// Entries of the runnable index due at or after `due_from_ms` (0: all),
    /// in due order.
    async fn runnable_entries(
        &self,
        due_from_ms: i64,
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>, EngineError> {
        Ok(self
            .env
            .store
            .scan(
                Table::Runnable,
                &runnable_key(due_from_ms, 0),
                &runnable_key(i64::MAX, ItemId::MAX),
                limit,
            )
            .await?)
    }

    /// The item a runnable entry names. An entry whose item is missing or
    /// unreadable is taken out of the index (the record itself is kept for
    /// inspection): one corrupt record must not hold the queue hostage.
    async fn runnable_item(&self, id: ItemId) -> Result<Option<StoredItem>, EngineError> {
        let record = self.env.store.get(Table::Items, &item_key(id)).await?;
        if let Some(bytes) = record
            && let Ok(item) = decode::<Item>(&bytes)
        {
            return Ok(Some(StoredItem {
                item,
                bytes,
                fresh_range: None,
            }));
        }
        let entries = self.runnable_entries(0, usize::MAX).await?;
        let mut batch = Batch::default();
        for (key, _) in entries
            .into_iter()
            .filter(|(k, _)| id_from_runnable_key(k) == Some(id))
        {
            batch.delete(Table::Runnable, key);
        }
        self.env.store.commit(batch).await?;
        Ok(None)
    }
}
