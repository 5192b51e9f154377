//! Checks on client-supplied fields: the server stores encrypted values
//! opaquely, but it still refuses what no honest client sends.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::error::{ApiError, ApiResult};

/// A standard-base64 field of at most `max_chars` characters.
pub fn base64_field(name: &str, value: &str, max_chars: usize) -> ApiResult<()> {
    if value.is_empty() || value.len() > max_chars {
        return Err(ApiError::bad_request(
            "INVALID_FIELD",
            format!("`{name}` must be 1 to {max_chars} characters of base64"),
        ));
    }
    STANDARD.decode(value).map(|_| ()).map_err(|_| {
        ApiError::bad_request("INVALID_FIELD", format!("`{name}` is not standard base64"))
    })
}

/// Object keys are exactly what `/files/*upload-urls` hands out:
/// `<user id>/<random>`. Anything else (`..`, absolute paths, another
/// format) is refused before it reaches the store.
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
        Err(ApiError::bad_request(
            "INVALID_OBJECT_KEY",
            format!("`{name}` is not an object key this server handed out"),
        ))
    }
}
