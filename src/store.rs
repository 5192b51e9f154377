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
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreError(pub String);

impl StoreError {
    const FULL: &'static str = "storage full: ";

    /// The device's storage for this app ran out (IndexedDB's
    /// `QuotaExceededError`): nothing more can be recorded until space is
    /// freed, which the person must be told, unlike a damaged database.
    pub fn full(cause: &str) -> Self {
        Self(format!("{}{cause}", Self::FULL))
    }

    pub fn is_full(&self) -> bool {
        self.0.starts_with(Self::FULL)
    }
}

/// Durable key-value storage with atomic batches.
pub trait Store {
    async fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;
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
