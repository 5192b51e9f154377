//! What the engine needs from its environment. The web build implements
//! these over IndexedDB, `fetch`, `Blob`/file handles/host readers,
//! WebCrypto and `performance.now()` (`src/web/`); tests implement them in
//! memory and over a native HTTP client. None of them may be `Send`-bound:
//! browser futures are not.
#![allow(async_fn_in_trait)]

use zeroize::Zeroizing;

use crate::protocol::{HttpRequest, HttpResponse, TransportError};

pub use crate::store::{Batch, Merge, MergeFn, Store, StoreError, Table};

/// One HTTP exchange. Implementations abort at `deadline_ms` (on the
/// clock's monotonic scale) with `TransportError::Aborted`.
///
/// The web transport starts the request before `send` returns and takes
/// the body out of wasm memory: the engine encrypts the next part while
/// earlier ones are on the wire, and its memory stays at about one part.
pub trait Transport {
    fn send(
        &self,
        request: HttpRequest,
        deadline_ms: Option<f64>,
    ) -> impl Future<Output = Result<HttpResponse, TransportError>>;
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceError {
    /// The file no longer exists.
    Gone(String),
    /// Reading is no longer allowed (a revoked folder permission).
    PermissionDenied(String),
    /// A read failed or came back short.
    Unreadable(String),
    /// The source describes itself impossibly (a negative size): retrying
    /// cannot help.
    Invalid(String),
}

/// What a source looked like when it was opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceInfo {
    pub size: u64,
    pub last_modified_ms: i64,
}

/// A readable file: a `Blob`, a file handle, or a host-provided reader.
pub trait Source {
    fn info(&self) -> SourceInfo;
    /// Exactly `len` bytes at `offset` (short reads are errors).
    async fn read(&self, offset: u64, len: u64) -> Result<Vec<u8>, SourceError>;
}

/// Turns an item's stored source reference back into a readable source,
/// in this run or any later one.
pub trait Sources {
    type Source: Source;
    async fn open(&self, source_ref: &str) -> Result<Self::Source, SourceError>;
    /// A JPEG thumbnail made from the source (longer side ≤ `max_side`,
    /// ≤ `max_bytes`), where the environment can decode it; `None` sends
    /// the placeholder.
    async fn thumbnail(&self, source_ref: &str, max_side: u32, max_bytes: u32) -> Option<Vec<u8>>;
    /// A run starts: sources may keep what they read for the steps of one
    /// run (a photo is read in two), but each run reads the files as they
    /// are now, so one deleted or changed since the last run is seen as such.
    fn forget_reads(&self) {}
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VaultError(pub String);

/// Seals key material at rest under the device key (a non-extractable
/// WebCrypto key on the web), so the database never holds a key in clear.
pub trait Vault {
    async fn seal(&self, plaintext: &[u8]) -> Result<Vec<u8>, VaultError>;
    async fn open(&self, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, VaultError>;
}

/// Time: wall clock for records, a monotonic clock for deadlines, sleeps
/// for backoff within a run.
pub trait Clock {
    fn now_ms(&self) -> i64;
    fn monotonic_ms(&self) -> f64;
    async fn sleep_ms(&self, ms: u64);
    /// Waits about `ms` of real time without moving the clock: it paces
    /// progress reports while requests are in flight and never waits for
    /// work, so a clock whose sleeps skip time ahead (tests) still waits
    /// here for real.
    async fn pace_ms(&self, ms: u64);
    /// The device's offset from UTC in minutes (east positive) at the
    /// instant `utc_ms`. A photo's date without an offset is local time
    /// where it is uploaded, as Ente's clients take it. Without a time zone
    /// (native tests), UTC.
    fn utc_offset_minutes(&self, _utc_ms: i64) -> i32 {
        0
    }
}
