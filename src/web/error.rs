use wasm_bindgen::prelude::*;

use crate::crypto::CryptoError;
use crate::engine::ErrorCode;

#[wasm_bindgen(module = "/src/web/ferry_error.js")]
extern "C" {
    #[wasm_bindgen(js_name = makeFerryError)]
    fn make_ferry_error(code: &str, message: &str) -> JsValue;
}

/// An error on its way to JavaScript, where it becomes a `FerryError`.
#[derive(Debug)]
pub struct FerryError {
    code: &'static str,
    message: String,
}

impl FerryError {
    /// The same error, said of item `index` of a batch (code `BAD_ITEM`).
    pub fn in_item(self, index: usize) -> Self {
        Self {
            code: ErrorCode::BadItem.name(),
            message: format!("item {index}: {}", self.message),
        }
    }

    /// A call on a `Ferry` after `close()`.
    pub fn closed() -> Self {
        Self {
            code: ErrorCode::Closed.name(),
            message: "this Ferry is closed; open it again".into(),
        }
    }

    /// An argument of the wrong JavaScript type or shape.
    pub fn bad_input(message: impl Into<String>) -> Self {
        Self {
            code: ErrorCode::BadInput.name(),
            message: message.into(),
        }
    }
}

/// A platform API that failed where it should not (Web Locks, permissions).
impl From<JsValue> for FerryError {
    fn from(err: JsValue) -> Self {
        Self {
            code: ErrorCode::PlatformFailed.name(),
            message: super::convert::describe(&err),
        }
    }
}

impl From<CryptoError> for FerryError {
    fn from(err: CryptoError) -> Self {
        Self {
            code: ErrorCode::from(&err).name(),
            message: err.to_string(),
        }
    }
}

impl From<crate::engine::EngineError> for FerryError {
    fn from(err: crate::engine::EngineError) -> Self {
        Self {
            code: err.code,
            message: err.message,
        }
    }
}

impl From<crate::engine::ports::StoreError> for FerryError {
    fn from(err: crate::engine::ports::StoreError) -> Self {
        Self {
            code: ErrorCode::StoreFailed.name(),
            message: err.0,
        }
    }
}

impl From<crate::queue::migrate::MigrateError> for FerryError {
    fn from(err: crate::queue::migrate::MigrateError) -> Self {
        Self {
            code: ErrorCode::from(&err).name(),
            message: err.to_string(),
        }
    }
}

impl From<crate::engine::ports::VaultError> for FerryError {
    fn from(err: crate::engine::ports::VaultError) -> Self {
        Self {
            code: ErrorCode::VaultFailed.name(),
            message: err.0,
        }
    }
}

impl From<FerryError> for JsValue {
    fn from(err: FerryError) -> Self {
        make_ferry_error(err.code, &err.message)
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
  | "VAULT_FAILED"
  | "CLOSED"
  | "PLATFORM_FAILED";
"#;
