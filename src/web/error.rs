use wasm_bindgen::prelude::*;

use crate::crypto::CryptoError;
use crate::engine::ErrorCode;

#[wasm_bindgen(module = "/src/web/ferry_error.js")]
extern "C" {
    #[wasm_bindgen(js_name = makeFerryError)]
    fn make_ferry_error(code: &str, message: &str, fits: Option<u32>) -> JsValue;
}

/// An error on its way to JavaScript, where it becomes a `FerryError`.
#[derive(Debug)]
pub struct FerryError {
    code: &'static str,
    message: String,
    /// With `STORAGE_FULL` from `enqueue`: how many of the items, from the
    /// first, the storage left would hold.
    fits: Option<u32>,
}

impl FerryError {
    fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            fits: None,
        }
    }

    /// The device's storage for this origin ran out (`QuotaExceededError`);
    /// `fits` items of the batch would have fitted.
    pub fn storage_full(message: String, fits: u32) -> Self {
        Self {
            fits: Some(fits),
            ..Self::new(ErrorCode::StorageFull.name(), message)
        }
    }

    pub fn code(&self) -> &'static str {
        self.code
    }

    /// The same error, said of item `index` of a batch (code `BAD_ITEM`).
    pub fn in_item(self, index: usize) -> Self {
        Self::new(
            ErrorCode::BadItem.name(),
            format!("item {index}: {}", self.message),
        )
    }

    /// A call on a `Ferry` after `close()`.
    pub fn closed() -> Self {
        Self::new(
            ErrorCode::Closed.name(),
            "this Ferry is closed; open it again",
        )
    }

    /// An argument of the wrong JavaScript type or shape.
    pub fn bad_input(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::BadInput.name(), message)
    }
}

/// A platform API that failed where it should not (Web Locks, permissions).
impl From<JsValue> for FerryError {
    fn from(err: JsValue) -> Self {
        Self::new(
            ErrorCode::PlatformFailed.name(),
            super::convert::describe(&err),
        )
    }
}

impl From<CryptoError> for FerryError {
    fn from(err: CryptoError) -> Self {
        Self::new(ErrorCode::from(&err).name(), err.to_string())
    }
}

impl From<crate::engine::EngineError> for FerryError {
    fn from(err: crate::engine::EngineError) -> Self {
        Self::new(err.code, err.message)
    }
}

impl From<crate::engine::ports::StoreError> for FerryError {
    fn from(err: crate::engine::ports::StoreError) -> Self {
        // The engine's reading of it: STORAGE_FULL or STORE_FAILED.
        crate::engine::EngineError::from(err).into()
    }
}

impl From<crate::queue::migrate::MigrateError> for FerryError {
    fn from(err: crate::queue::migrate::MigrateError) -> Self {
        Self::new(ErrorCode::from(&err).name(), err.to_string())
    }
}

impl From<crate::engine::ports::VaultError> for FerryError {
    fn from(err: crate::engine::ports::VaultError) -> Self {
        Self::new(ErrorCode::VaultFailed.name(), err.0)
    }
}

impl From<FerryError> for JsValue {
    fn from(err: FerryError) -> Self {
        make_ferry_error(err.code, &err.message, err.fits)
    }
}

// Exactly the names of `ErrorCode::ALL` (`tests/names.rs` checks).
#[wasm_bindgen(typescript_custom_section)]
const FERRY_ERROR_CODES: &'static str = r#"
/** Stable codes carried by `FerryError.code`. */
export type FerryErrorCode =
  | "BAD_INPUT"
  | "BAD_KEY_LENGTH"
  | "BAD_HEADER"
  | "BAD_NONCE_LENGTH"
  | "DECRYPT_FAILED"
  | "TRUNCATED"
  | "TRAILING_DATA"
  | "BAD_CHUNK_LENGTH"
  | "BAD_CHUNK_SIZE"
  | "STREAM_FINISHED"
  | "BAD_CHECKPOINT"
  | "CHECKPOINT_MISMATCH"
  | "BAD_BASE64"
  | "BAD_ITEM"
  | "MISSING_COLLECTION_KEY"
  | "NOT_FOUND"
  | "CORRUPT_RECORD"
  | "NEWER_DATABASE"
  | "MIGRATION_FAILED"
  | "STORE_FAILED"
  | "STORAGE_FULL"
  | "VAULT_FAILED"
  | "CLOSED"
  | "PLATFORM_FAILED";
"#;
