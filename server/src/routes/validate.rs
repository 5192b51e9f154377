//! Checks on client-supplied fields. museum stores encrypted values
//! opaquely and checks little more than presence; `--strict` refuses what
//! no honest client sends, with a code.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::error::{ApiError, ApiResult};

/// `--strict`: a standard-base64 field of at most `max_chars` characters.
pub fn base64_field(name: &str, value: &str, max_chars: usize) -> ApiResult<()> {
    if value.is_empty() || value.len() > max_chars {
        return Err(ApiError::strict(
            "INVALID_FIELD",
            format!("`{name}` must be 1 to {max_chars} characters of base64"),
        ));
    }
    STANDARD
        .decode(value)
        .map(|_| ())
        .map_err(|_| ApiError::strict("INVALID_FIELD", format!("`{name}` is not standard base64")))
}

/// `--strict`: object keys are exactly what `/files/*upload-urls` hands
/// out, `<user id>/<random>`.
pub fn object_key(name: &str, value: &str) -> ApiResult<()> {
    let valid = value.split_once('/').is_some_and(|(user, random)| {
        !user.is_empty()
            && user.bytes().all(|b| b.is_ascii_digit())
            && (16..=64).contains(&random.len())
            && random
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    });
    if valid {
        Ok(())
    } else {
        Err(ApiError::strict(
            "INVALID_OBJECT_KEY",
            format!("`{name}` is not an object key this server handed out"),
        ))
    }
}

/// Whether a key may be looked up in the store at all: one that could name
/// another path (`..`, empty segments, control characters) is treated as an
/// object that is not there, without asking the store.
pub fn safe_object_key(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= 1024
        && value
            .split('/')
            .all(|segment| !segment.is_empty() && segment != "." && segment != "..")
        && !value.chars().any(|c| c.is_control() || c == '\\')
}

/// Whether `value` is standard base64 of exactly `len` bytes (museum's
/// `validateBase64DecodedLength`, `pkg/controller/collections/key_validation.go`).
pub fn decodes_to(value: &str, len: usize) -> bool {
    STANDARD.decode(value).is_ok_and(|bytes| bytes.len() == len)
}
