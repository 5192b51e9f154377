//! The storage model every layer above writes through: named tables of
//! byte keys and values, and batches that land together or not at all.
//! The engine's environment implements `Store` (IndexedDB in the browser,
//! memory in tests); the queue's records and migrations are written against
//! it without knowing the engine.
#![allow(async_fn_in_trait)]

/// A table of the engine's database. Keys sort bytewise (IndexedDB binary
/// keys do too), so the engine encodes numbers big-endian.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Table {
    /// Queue items by id.
    Items,
    /// Runnable items by (next attempt time, id): the scheduler's index.
    /// Items of a large enqueue not yet started have no entry: a range
    /// in `Meta` stands for them (`queue::records::FreshRange`).
    Runnable,
    /// Content hashes of items per collection, for dedupe.
    Hashes,
    /// Wrapped collection keys, counters, queue state.
    Meta,
}

impl Table {
    pub const ALL: [Table; 4] = [Table::Items, Table::Runnable, Table::Hashes, Table::Meta];

    pub fn name(self) -> &'static str {
        match self {
            Self::Items => "items",
            Self::Runnable => "runnable",
            Self::Hashes => "hashes",
            Self::Meta => "meta",
        }
    }
}

/// Writes that land together or not at all: one short transaction.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Batch {
    pub ops: Vec<(Table, Vec<u8>, Option<Vec<u8>>)>,
    /// Read-modify-writes, applied after `ops` in the same transaction.
    pub merges: Vec<Merge>,
    /// Records the batch is written over: each must be there (with this
    /// value, if one is given) when the batch commits, or nothing is
    /// written and the commit fails with [`StoreError::is_changed`].
    pub requires: Vec<(Table, Vec<u8>, Option<Vec<u8>>)>,
}

impl Batch {
    pub fn put(&mut self, table: Table, key: Vec<u8>, value: Vec<u8>) -> &mut Self {
        self.ops.push((table, key, Some(value)));
        self
    }

    pub fn delete(&mut self, table: Table, key: Vec<u8>) -> &mut Self {
        self.ops.push((table, key, None));
        self
    }

    /// Sets `key` to `apply(current value, operand)` as the batch commits.
    pub fn merge(&mut self, table: Table, key: Vec<u8>, operand: Vec<u8>, apply: MergeFn) {
        self.merges.push(Merge {
            table,
            key,
            operand,
            apply,
        });
    }

    /// Commits the batch only if `key` holds a record then: `Some(value)`
    /// that very value, `None` any. For writes made from a record read
    /// earlier, which another context may have changed or removed since.
    pub fn require(&mut self, table: Table, key: Vec<u8>, value: Option<Vec<u8>>) {
        self.requires.push((table, key, value));
    }

    /// `other`'s writes after this batch's own.
    pub fn append(&mut self, other: Batch) {
        self.ops.extend(other.ops);
        self.merges.extend(other.merges);
        self.requires.extend(other.requires);
    }

    /// Nothing to write: such a batch commits without a transaction, so
    /// its requirements, if any, are not checked.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty() && self.merges.is_empty()
    }
}

/// A record's new value computed from its current one inside the commit's
/// transaction. For records that two contexts change at once (a page's
/// `enqueue` while the service worker records a step): a value read before
/// the commit and written back in it would undo the other's change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Merge {
    pub table: Table,
    pub key: Vec<u8>,
    pub operand: Vec<u8>,
    pub apply: MergeFn,
}

impl Merge {
    /// The value this merge leaves, given the one stored now.
    pub fn value(&self, current: Option<&[u8]>) -> Vec<u8> {
        (self.apply.0)(current, &self.operand)
    }
}

/// `(current value, operand) -> new value`: pure, as a store may run it
/// again (a journal replayed after a power cut).
#[derive(Clone, Copy)]
pub struct MergeFn(pub fn(Option<&[u8]>, &[u8]) -> Vec<u8>);

impl core::fmt::Debug for MergeFn {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("MergeFn")
    }
}

impl PartialEq for MergeFn {
    fn eq(&self, other: &Self) -> bool {
        core::ptr::fn_addr_eq(self.0, other.0)
    }
}

impl Eq for MergeFn {}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreError(pub String);

impl StoreError {
    const FULL: &'static str = "storage full: ";
    const CHANGED: &'static str = "a record the batch required had changed";

    /// The device's storage for this app ran out (IndexedDB's
    /// `QuotaExceededError`): nothing more can be recorded until space is
    /// freed, which the person must be told, unlike a damaged database.
    pub fn full(cause: &str) -> Self {
        Self(format!("{}{cause}", Self::FULL))
    }

    pub fn is_full(&self) -> bool {
        self.0.starts_with(Self::FULL)
    }

    /// A batch's [`Batch::require`] did not hold: nothing was written.
    pub fn changed() -> Self {
        Self(Self::CHANGED.into())
    }

    pub fn is_changed(&self) -> bool {
        self.0 == Self::CHANGED
    }
}

/// Durable key-value storage with atomic batches.
pub trait Store {
    async fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;
    /// The values under `keys`, in order, read together: one transaction
    /// where the store has them (a read of `status()` is one round trip).
    async fn get_many(
        &self,
        table: Table,
        keys: &[&[u8]],
    ) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        let mut values = Vec::with_capacity(keys.len());
        for key in keys {
            values.push(self.get(table, key).await?);
        }
        Ok(values)
    }
    /// Entries with `start <= key < end`, in key order, at most `limit`.
    async fn scan(
        &self,
        table: Table,
        start: &[u8],
        end: &[u8],
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>, StoreError>;
    async fn commit(&self, batch: Batch) -> Result<(), StoreError>;
    /// Sets `key` to `new` only if it holds `expected` now, atomically (one
    /// transaction); returns whether it did. The runners' lease needs it.
    async fn swap(
        &self,
        table: Table,
        key: &[u8],
        expected: Option<&[u8]>,
        new: Option<Vec<u8>>,
    ) -> Result<bool, StoreError>;
    /// Whether a runner in any context (a tab, the service worker) holds
    /// this database now, where the platform can tell (Web Locks); `false`
    /// where it cannot, and the engine then goes by its own runs and the
    /// stored lease.
    async fn runner_active(&self) -> bool {
        false
    }
}
