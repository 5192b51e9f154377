use core::fmt;

use crate::crypto::CryptoError;
use crate::protocol::outcome::code_list;
use crate::queue::migrate::MigrateError;

code_list! {
    /// Every code a `FerryError` carries to JavaScript (the TypeScript
    /// `FerryErrorCode`, the README's Errors table). The engine and the
    /// bindings name their errors by it; crypto and migration errors, which
    /// sit below the engine, map to it (`From` below).
    pub enum ErrorCode {
        /// An argument of the wrong type or shape.
        BadInput = "BAD_INPUT",
        BadKeyLength = "BAD_KEY_LENGTH",
        BadHeader = "BAD_HEADER",
        BadNonceLength = "BAD_NONCE_LENGTH",
        DecryptFailed = "DECRYPT_FAILED",
        Truncated = "TRUNCATED",
        TrailingData = "TRAILING_DATA",
        BadChunkLength = "BAD_CHUNK_LENGTH",
        BadChunkSize = "BAD_CHUNK_SIZE",
        StreamFinished = "STREAM_FINISHED",
        BadCheckpoint = "BAD_CHECKPOINT",
        CheckpointMismatch = "CHECKPOINT_MISMATCH",
        BadBase64 = "BAD_BASE64",
        /// An item of an `enqueue` batch is refused; nothing is queued.
        BadItem = "BAD_ITEM",
        MissingCollectionKey = "MISSING_COLLECTION_KEY",
        /// No item with that id.
        NotFound = "NOT_FOUND",
        /// A stored record that does not read back.
        CorruptRecord = "CORRUPT_RECORD",
        NewerDatabase = "NEWER_DATABASE",
        MigrationFailed = "MIGRATION_FAILED",
        StoreFailed = "STORE_FAILED",
        /// The device's storage for this app ran out.
        StorageFull = "STORAGE_FULL",
        VaultFailed = "VAULT_FAILED",
        /// A call after `close()`.
        Closed = "CLOSED",
        /// A platform API failed where it should not.
        PlatformFailed = "PLATFORM_FAILED",
    }
}

impl From<&CryptoError> for ErrorCode {
    fn from(err: &CryptoError) -> Self {
        match err {
            CryptoError::BadKeyLength { .. } => Self::BadKeyLength,
            CryptoError::BadHeader { .. } => Self::BadHeader,
            CryptoError::BadNonceLength { .. } => Self::BadNonceLength,
            CryptoError::DecryptFailed => Self::DecryptFailed,
            CryptoError::Truncated => Self::Truncated,
            CryptoError::TrailingData => Self::TrailingData,
            CryptoError::BadChunkLength { .. } => Self::BadChunkLength,
            CryptoError::BadChunkSize { .. } => Self::BadChunkSize,
            CryptoError::StreamFinished => Self::StreamFinished,
            CryptoError::BadCheckpoint(_) => Self::BadCheckpoint,
            CryptoError::CheckpointMismatch => Self::CheckpointMismatch,
            CryptoError::BadBase64 => Self::BadBase64,
        }
    }
}

impl From<&MigrateError> for ErrorCode {
    fn from(err: &MigrateError) -> Self {
        match err {
            MigrateError::NewerDatabase(_) => Self::NewerDatabase,
            MigrateError::Failed(_) => Self::MigrationFailed,
            MigrateError::Store(_) => Self::StoreFailed,
        }
    }
}

/// An engine operation that could not be carried out at all (as opposed to
/// an item failing, which is recorded on the item).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineError {
    /// An [`ErrorCode`]'s name: kept as text, the form it reaches JS in.
    pub code: &'static str,
    pub message: String,
}

impl EngineError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code: code.name(),
            message: message.into(),
        }
    }

    pub fn bad_item(index: usize, why: impl fmt::Display) -> Self {
        Self::new(
            ErrorCode::BadItem,
            format!("item {index} of the batch: {why}"),
        )
    }
}

impl fmt::Display for EngineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for EngineError {}

impl From<super::ports::StoreError> for EngineError {
    fn from(err: super::ports::StoreError) -> Self {
        let code = if err.is_full() {
            ErrorCode::StorageFull
        } else {
            ErrorCode::StoreFailed
        };
        Self::new(code, err.0)
    }
}

impl From<super::ports::VaultError> for EngineError {
    fn from(err: super::ports::VaultError) -> Self {
        Self::new(ErrorCode::VaultFailed, err.0)
    }
}

impl From<CryptoError> for EngineError {
    fn from(err: CryptoError) -> Self {
        Self::new(ErrorCode::from(&err), err.to_string())
    }
}
