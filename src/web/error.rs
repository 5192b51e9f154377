use wasm_bindgen::prelude::*;

use crate::crypto::CryptoError;

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
    /// An argument of the wrong JavaScript type or shape.
    pub fn bad_input(message: impl Into<String>) -> Self {
        Self {
            code: "BAD_INPUT",
            message: message.into(),
        }
    }
}

impl From<CryptoError> for FerryError {
    fn from(err: CryptoError) -> Self {
        Self {
            code: err.code(),
            message: err.to_string(),
        }
    }
}

impl From<FerryError> for JsValue {
    fn from(err: FerryError) -> Self {
        make_ferry_error(err.code, &err.message)
    }
}

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
  | "BAD_BASE64";
"#;
