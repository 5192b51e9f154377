//! How queue records are keyed and encoded in the `Store`, and the counters
//! that make `status()` one read. Every change to an item goes through
//! [`Changes`], which keeps the item, its index entries and the counters
//! consistent inside one batch.

use super::item::{Item, ItemId, PublicState};
use crate::codec::{Reader, Record, Writer, struct_record};
use crate::store::{Batch, MergeFn, Table};

pub fn item_key(id: ItemId) -> Vec<u8> {
    id.to_be_bytes().to_vec()
}

pub fn id_from_item_key(key: &[u8]) -> Option<ItemId> {
    Some(ItemId::from_be_bytes(key.try_into().ok()?))
}

/// Runnable index: (not-before time, id), both big-endian so keys sort by time.
pub fn runnable_key(next_attempt_ms: i64, id: ItemId) -> Vec<u8> {
    let mut key = u64::try_from(next_attempt_ms.max(0))
        .unwrap_or(0)
        .to_be_bytes()
        .to_vec();
    key.extend_from_slice(&id.to_be_bytes());
    key
}

pub fn id_from_runnable_key(key: &[u8]) -> Option<ItemId> {
    Some(ItemId::from_be_bytes(key.get(8..16)?.try_into().ok()?))
}

/// Dedupe index: collection, file type, title, content hash. The entry of
/// an empty hash is a title's marker: an item hashing as it encrypts holds
/// it until it registers its file.
pub fn hash_key(collection_id: i64, file_type: u8, title: &str, hash: &str) -> Vec<u8> {
    // The same digits as the u8's, from the u64 printer already in the
    // wasm (ARCHITECTURE.md, "Size").
    format!(
        "{collection_id}\u{0}{}\u{0}{title}\u{0}{hash}",
        u64::from(file_type)
    )
    .into_bytes()
}

/// Items one `enqueue` wrote with no runnable entry: those of ids
/// `next..end` still exactly as enqueued ([`Item::is_fresh`]) are runnable
/// now, in id order. A first backup queues 100,000 items in one call, and
/// an entry each would double its writes. Under [`fresh_range_key`] of the
/// range's first id, in `Table::Meta`.
///
/// Why `next` only moves forward: an item leaves the fresh state only
/// through a step's or a host's write, which gives it an entry (or ends
/// it), and never returns to it without one; an id of the range with no
/// record was removed (the range was written with its items). So a step
/// of the range's first fresh item moves `next` past it in the step's own
/// commit ([`advance_fresh_range`]), and a range with no fresh item left
/// is deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FreshRange {
    pub next: ItemId,
    pub end: ItemId,
}

struct_record!(FreshRange { next, end });

/// Enqueues smaller than this write runnable entries: a range costs a read
/// of its items when the run looks for work, entries as few writes.
pub const FRESH_RANGE_MIN: usize = 8;

const FRESH_RANGE_PREFIX: &[u8] = b"fresh\0";

pub fn fresh_range_key(first: ItemId) -> Vec<u8> {
    let mut key = FRESH_RANGE_PREFIX.to_vec();
    key.extend_from_slice(&first.to_be_bytes());
    key
}

/// The bounds of a scan over every fresh range, in order of first id.
pub fn fresh_range_bounds() -> (Vec<u8>, Vec<u8>) {
    (fresh_range_key(0), fresh_range_key(ItemId::MAX))
}

/// Moves the range under `key` past item `id`, as `batch` commits; never
/// back (a later step of the range may have moved it further).
pub fn advance_fresh_range(batch: &mut Batch, key: Vec<u8>, id: ItemId) {
    batch.merge(
        Table::Meta,
        key,
        id.saturating_add(1).to_be_bytes().to_vec(),
        MergeFn(move_fresh_range),
    );
}

/// The [`MergeFn`] behind [`advance_fresh_range`]. A range gone meanwhile
/// comes back empty, for the next look to delete.
fn move_fresh_range(current: Option<&[u8]>, operand: &[u8]) -> Vec<u8> {
    let past = operand.try_into().map_or(0, ItemId::from_be_bytes);
    let mut range: FreshRange = current.and_then(|b| decode(b).ok()).unwrap_or(FreshRange {
        next: past,
        end: past,
    });
    range.next = range.next.max(past);
    encode(&range)
}

pub const COUNTERS_KEY: &[u8] = b"counters";
pub const NEXT_ID_KEY: &[u8] = b"next_item_id";
pub const BLOCKED_KEY: &[u8] = b"blocked";
/// How far the server's files of a collection have been read into the
/// dedupe index (`sinceTime` of the next diff page).
pub fn diff_cursor_key(collection_id: i64) -> Vec<u8> {
    format!("diff_cursor\u{0}{collection_id}").into_bytes()
}

/// Where earlier builds kept a pool of fetched upload URLs. Never read:
/// after a power cut the pool could come back with URLs already handed to
/// files (see `Engine::url_pool`); each run deletes what is left of it.
pub const STALE_URL_POOL_KEY: &[u8] = b"url_pool";
/// The scheduler's throughput estimates, kept across runs.
pub const THROUGHPUT_KEY: &[u8] = b"throughput";
/// The runner's lease where Web Locks are missing.
pub const LEASE_KEY: &[u8] = b"lease";
/// Sequence number of the next run record.
pub const NEXT_RUN_KEY: &[u8] = b"next_run";
/// Run records kept for `diagnose`.
pub const RUNS_KEPT: u64 = 100;
/// The run in progress (`LiveRun`): deleted when it ends, so one found by
/// the next run was killed.
pub const LIVE_RUN_KEY: &[u8] = b"live_run";
/// What the latest run left because of a policy (`Deferred`), for
/// `diagnose`; deleted once a run finds nothing held back.
pub const DEFERRED_KEY: &[u8] = b"deferred";

/// A run record's key: sorted by sequence, oldest first.
pub fn run_key(seq: u64) -> Vec<u8> {
    let mut key = b"run\0".to_vec();
    key.extend_from_slice(&seq.to_be_bytes());
    key
}

pub fn collection_key_key(collection_id: i64) -> Vec<u8> {
    format!("collection_key\u{0}{collection_id}").into_bytes()
}

/// Item counts by state and bytes sent, kept current with every change.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counters {
    /// Indexed by `PublicState as usize`.
    pub by_state: [u64; PublicState::COUNT],
    pub bytes_uploaded: u64,
}

struct_record!(Counters {
    by_state,
    bytes_uploaded
});

impl Counters {
    /// Items not yet done, skipped or failed.
    pub fn pending(&self) -> u64 {
        [
            PublicState::Queued,
            PublicState::Hashing,
            PublicState::Uploading,
            PublicState::Waiting,
        ]
        .iter()
        .map(|s| self.count(*s))
        .sum()
    }

    pub fn count(&self, state: PublicState) -> u64 {
        self.by_state[state as usize]
    }
}

/// A change to the counters, added to the stored ones as its batch commits
/// (a [`Merge`](crate::store::Merge)): the runner in one context and
/// `enqueue` in another both change them, and neither may undo the other's
/// change by writing back a value it read before.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct CountersDelta {
    by_state: [i64; PublicState::COUNT],
    bytes_uploaded: u64,
}

impl CountersDelta {
    fn shift(&mut self, from: Option<PublicState>, to: Option<PublicState>) {
        if from == to {
            return;
        }
        if let Some(from) = from {
            self.by_state[from as usize] -= 1;
        }
        if let Some(to) = to {
            self.by_state[to as usize] += 1;
        }
    }

    fn is_zero(&self) -> bool {
        *self == Self::default()
    }

    /// Never stored: the operand lives only as long as its commit.
    fn to_operand(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(8 * (PublicState::COUNT + 1));
        for n in self.by_state {
            out.extend_from_slice(&n.to_le_bytes());
        }
        out.extend_from_slice(&self.bytes_uploaded.to_le_bytes());
        out
    }

    fn from_operand(bytes: &[u8]) -> Self {
        let mut words = bytes
            .chunks_exact(8)
            .map(|w| <[u8; 8]>::try_from(w).unwrap_or_default());
        let mut delta = Self::default();
        for n in &mut delta.by_state {
            *n = words.next().map_or(0, i64::from_le_bytes);
        }
        delta.bytes_uploaded = words.next().map_or(0, u64::from_le_bytes);
        delta
    }
}

/// The [`MergeFn`] that adds a [`CountersDelta`] to the stored counters. A
/// count never goes below zero; unreadable counters start again from zero
/// rather than fail every commit after them.
fn add_counters(current: Option<&[u8]>, operand: &[u8]) -> Vec<u8> {
    let mut counters: Counters = current.and_then(|b| decode(b).ok()).unwrap_or_default();
    let delta = CountersDelta::from_operand(operand);
    for (n, d) in counters.by_state.iter_mut().zip(delta.by_state) {
        *n = n.saturating_add_signed(d);
    }
    counters.bytes_uploaded = counters.bytes_uploaded.saturating_add(delta.bytes_uploaded);
    encode(&counters)
}

/// A set of item changes that commit as one batch, the counters' change
/// among them.
#[derive(Debug, Default)]
pub struct Changes {
    pub batch: Batch,
    delta: CountersDelta,
}

impl Changes {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add_bytes_uploaded(&mut self, bytes: u64) {
        self.delta.bytes_uploaded += bytes;
    }

    /// Writes `after` (replacing `before`, if any): the record, its place
    /// in the runnable index, and the counters.
    pub fn write_item(&mut self, before: Option<&Item>, after: &Item) {
        // An entry the put below replaces is not deleted first: IndexedDB
        // makes each delete a range delete, and most steps keep their
        // item's entry where it was.
        if let Some(before) = before.filter(|b| {
            !b.is_terminal() && (after.is_terminal() || b.next_attempt_ms != after.next_attempt_ms)
        }) {
            self.batch.delete(
                Table::Runnable,
                runnable_key(before.next_attempt_ms, before.id),
            );
        }
        if !after.is_terminal() {
            self.batch.put(
                Table::Runnable,
                runnable_key(after.next_attempt_ms, after.id),
                Vec::new(),
            );
        }
        self.put_record(before, after);
    }

    /// The record and the counters, without the runnable index.
    fn put_record(&mut self, before: Option<&Item>, after: &Item) {
        self.delta
            .shift(before.map(Item::public_state), Some(after.public_state()));
        self.batch
            .put(Table::Items, item_key(after.id), encode(after));
    }

    /// Writes items just enqueued, with consecutive ids: a batch of
    /// [`FRESH_RANGE_MIN`] or more as one [`FreshRange`] instead of an
    /// entry each.
    pub fn enqueue(&mut self, items: &[Item]) {
        let (Some(first), Some(last), true) =
            (items.first(), items.last(), items.len() >= FRESH_RANGE_MIN)
        else {
            for item in items {
                self.write_item(None, item);
            }
            return;
        };
        for item in items {
            self.put_record(None, item);
        }
        let range = FreshRange {
            next: first.id,
            end: last.id + 1,
        };
        self.batch
            .put(Table::Meta, fresh_range_key(first.id), encode(&range));
    }

    pub fn remove_item(&mut self, item: &Item) {
        if !item.is_terminal() {
            self.batch
                .delete(Table::Runnable, runnable_key(item.next_attempt_ms, item.id));
        }
        self.delta.shift(Some(item.public_state()), None);
        self.batch.delete(Table::Items, item_key(item.id));
    }

    pub fn finish(mut self) -> Batch {
        if !self.delta.is_zero() {
            self.batch.merge(
                Table::Meta,
                COUNTERS_KEY.to_vec(),
                self.delta.to_operand(),
                MergeFn(add_counters),
            );
        }
        self.batch
    }
}

/// The first byte of every record (see `codec`), and what the database's
/// [`FORMAT_KEY`] record says it holds. Changing how any record is stored
/// (a field added, removed, moved or retyped; an enum variant moved) means
/// a new format: bump this, add the migration from the old one to
/// `migrate::MIGRATIONS`, and add `tests/vectors/records-v<new>.json`
/// (docs/ARCHITECTURE.md, "Record format", has the whole rule).
pub const RECORD_FORMAT: u8 = 1;

/// The database's record format, in `Table::Meta`: one byte, the format
/// every record in the database is written in. Its shape never changes
/// (a later format may append bytes, never move the first), so every
/// Ferry, earlier or later, can read it and refuse what it cannot.
pub const FORMAT_KEY: &[u8] = b"record_format";

// The prefixes of the keys above that carry an id (the stored vectors
// check that each key function's keys start with its prefix).
const COLLECTION_KEY_PREFIX: &[u8] = b"collection_key\0";
const DIFF_CURSOR_PREFIX: &[u8] = b"diff_cursor\0";
const RUN_PREFIX: &[u8] = b"run\0";

/// What a stored value is, told by its table and key: a migration reads
/// each record as the type its kind names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordKind {
    /// `Table::Items`: an [`Item`].
    Item,
    /// [`COUNTERS_KEY`]: [`Counters`].
    Counters,
    /// [`NEXT_ID_KEY`]: the next item id, a `u64`.
    NextItemId,
    /// [`BLOCKED_KEY`]: a `BlockedReason`.
    Blocked,
    /// [`diff_cursor_key`]: the `sinceTime` of a collection's next diff page, an `i64`.
    DiffCursor,
    /// [`THROUGHPUT_KEY`]: the scheduler's `Throughput`.
    Throughput,
    /// [`LEASE_KEY`]: the runners' `Lease`.
    Lease,
    /// [`NEXT_RUN_KEY`]: the next run record's sequence number, a `u64`.
    NextRun,
    /// [`run_key`]: a `RunReport`.
    Run,
    /// `Table::Runnable`: an empty value; the key is all.
    RunnableEntry,
    /// `Table::Hashes`: text, `item:<id>` or `file:<server file id>`.
    HashEntry,
    /// [`collection_key_key`]: a key sealed by the vault, in the vault's
    /// own framing (its own format byte, an IV, the ciphertext).
    CollectionKey,
    /// [`FORMAT_KEY`]: the database's record format.
    Format,
    /// [`LIVE_RUN_KEY`]: the `LiveRun` in progress (or killed).
    LiveRun,
    /// [`DEFERRED_KEY`]: the latest run's `Deferred` work.
    Deferred,
    /// [`fresh_range_key`]: a [`FreshRange`].
    FreshRange,
}

impl RecordKind {
    /// The kind of the value under `key` in `table`; `None` for a key no
    /// kind claims (left alone by migrations).
    pub fn of(table: Table, key: &[u8]) -> Option<Self> {
        Some(match table {
            Table::Items => Self::Item,
            Table::Runnable => Self::RunnableEntry,
            Table::Hashes => Self::HashEntry,
            Table::Meta => match key {
                COUNTERS_KEY => Self::Counters,
                NEXT_ID_KEY => Self::NextItemId,
                BLOCKED_KEY => Self::Blocked,
                THROUGHPUT_KEY => Self::Throughput,
                LEASE_KEY => Self::Lease,
                NEXT_RUN_KEY => Self::NextRun,
                FORMAT_KEY => Self::Format,
                LIVE_RUN_KEY => Self::LiveRun,
                DEFERRED_KEY => Self::Deferred,
                _ if key.starts_with(COLLECTION_KEY_PREFIX) => Self::CollectionKey,
                _ if key.starts_with(DIFF_CURSOR_PREFIX) => Self::DiffCursor,
                _ if key.starts_with(RUN_PREFIX) => Self::Run,
                _ if key.starts_with(FRESH_RANGE_PREFIX) => Self::FreshRange,
                _ => return None,
            },
        })
    }

    /// Whether the value is a codec record: [`RECORD_FORMAT`]'s byte, then
    /// the fields. Only these change with the format; the others have
    /// their own shape.
    pub fn is_record(self) -> bool {
        !matches!(
            self,
            Self::RunnableEntry | Self::HashEntry | Self::CollectionKey | Self::Format
        )
    }
}

pub fn encode<T: Record>(value: &T) -> Vec<u8> {
    let mut w = Writer::new(RECORD_FORMAT);
    w.put(value);
    w.into_bytes()
}

pub fn decode<T: Record>(bytes: &[u8]) -> Result<T, RecordError> {
    let mut r = Reader::new(record_body(bytes)?);
    match r.get() {
        Some(value) if r.is_empty() => Ok(value),
        _ => Err(RecordError("malformed".into())),
    }
}

/// A record's fields, after its format byte. Not generic, unlike
/// [`decode`]: the format check and its formatted error are in the wasm
/// once, not once per record type.
fn record_body(bytes: &[u8]) -> Result<&[u8], RecordError> {
    match bytes.split_first() {
        Some((&RECORD_FORMAT, body)) => Ok(body),
        // As a u64: see `hash_key`.
        Some((format, _)) => Err(RecordError(format!(
            "unknown record format {}",
            u64::from(*format)
        ))),
        None => Err(RecordError("empty record".into())),
    }
}

/// A stored record that does not decode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordError(String);

impl std::fmt::Display for RecordError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "unreadable record: {}", self.0)
    }
}

impl std::error::Error for RecordError {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::Step;

    #[test]
    fn runnable_keys_sort_by_time_then_id() {
        let mut keys = [
            runnable_key(5_000, 2),
            runnable_key(0, 9),
            runnable_key(5_000, 1),
            runnable_key(-3, 4),
        ];
        keys.sort();
        let ids: Vec<_> = keys
            .iter()
            .map(|k| id_from_runnable_key(k).unwrap())
            .collect();
        assert_eq!(ids, vec![4, 9, 1, 2]);
    }

    #[test]
    fn records_round_trip_and_refuse_other_formats() {
        let mut counters = Counters::default();
        counters.by_state[PublicState::Uploading as usize] = 1;
        counters.bytes_uploaded = 1 << 40;
        let bytes = encode(&counters);
        assert_eq!(decode::<Counters>(&bytes), Ok(counters));

        let mut longer = bytes.clone();
        longer.push(0);
        assert!(decode::<Counters>(&longer).is_err(), "trailing bytes");
        let mut other = bytes.clone();
        other[0] = RECORD_FORMAT + 1;
        assert!(decode::<Counters>(&other).is_err());
        assert!(decode::<Counters>(&[]).is_err());
        assert!(decode::<Counters>(&bytes[..bytes.len() - 1]).is_err());
    }

    /// The counters' change is applied to what is stored when the batch
    /// commits, not to what was read before: two batches built from the
    /// same state both count.
    #[test]
    fn counter_changes_add_to_the_stored_counters_as_they_commit() {
        let stored = |batch: &Batch, current: Option<Vec<u8>>| {
            batch.merges.iter().fold(current, |value, merge| {
                assert_eq!(
                    (merge.table, merge.key.as_slice()),
                    (Table::Meta, COUNTERS_KEY)
                );
                Some(merge.value(value.as_deref()))
            })
        };
        let item = Item::sample;
        let mut enqueue = Changes::new();
        enqueue.write_item(None, &item(1, Step::Queued));
        enqueue.write_item(None, &item(2, Step::Queued));
        let mut step = Changes::new();
        let done = item(3, Step::Done { file_id: 7 });
        step.write_item(Some(&item(3, Step::Queued)), &done);
        step.add_bytes_uploaded(1_000);
        // Item 3 was queued already; both batches are built before either
        // commits, then commit in turn.
        let mut before = Counters::default();
        before.by_state[PublicState::Queued as usize] = 1;
        let after = stored(
            &step.finish(),
            stored(&enqueue.finish(), Some(encode(&before))),
        );
        let counters: Counters = decode(&after.unwrap()).unwrap();
        assert_eq!(counters.count(PublicState::Queued), 2, "{counters:?}");
        assert_eq!(counters.count(PublicState::Done), 1);
        assert_eq!(counters.bytes_uploaded, 1_000);

        // A count never goes below zero, and a batch that changes no count
        // leaves the counters alone.
        let mut remove = Changes::new();
        remove.remove_item(&item(4, Step::Queued));
        remove.remove_item(&item(5, Step::Queued));
        remove.remove_item(&item(6, Step::Queued));
        let counters: Counters =
            decode(&stored(&remove.finish(), Some(encode(&counters))).unwrap()).unwrap();
        assert_eq!(counters.count(PublicState::Queued), 0);
        assert_eq!(counters.count(PublicState::Done), 1);
        let mut same = Changes::new();
        same.write_item(Some(&done), &done);
        assert!(same.finish().merges.is_empty());
    }
}
