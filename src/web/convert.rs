//! Checked conversions of JavaScript arguments. wasm-bindgen would coerce a
//! string or a plain array passed as `&[u8]` into garbage bytes without a
//! word; a key silently built from garbage is the worst possible outcome, so
//! every byte argument is checked to really be a `Uint8Array`.

use js_sys::{Object, Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};

use super::FerryError;
use crate::crypto::Key;

pub fn bytes(value: &JsValue, name: &str) -> Result<Vec<u8>, FerryError> {
    value
        .dyn_ref::<Uint8Array>()
        .map(Uint8Array::to_vec)
        .ok_or_else(|| FerryError::bad_input(format!("`{name}` must be a Uint8Array")))
}

pub fn key(value: &JsValue, name: &str) -> Result<Key, FerryError> {
    let array = value
        .dyn_ref::<Uint8Array>()
        .ok_or_else(|| FerryError::bad_input(format!("`{name}` must be a 32-byte Uint8Array")))?;
    let mut raw = zeroize::Zeroizing::new([0u8; crate::crypto::KEY_BYTES]);
    if array.length() as usize != raw.len() {
        return Err(crate::crypto::CryptoError::BadKeyLength {
            got: array.length() as usize,
        }
        .into());
    }
    array.copy_to(raw.as_mut());
    Ok(Key::from_bytes(*raw))
}

/// A plain object built from named fields, for results like `{header, ciphertext}`.
pub fn object(fields: &[(&str, JsValue)]) -> JsValue {
    let object = Object::new();
    for (name, value) in fields {
        // Setting a property on a fresh plain object cannot fail.
        let _ = Reflect::set(&object, &JsValue::from_str(name), value);
    }
    object.into()
}

/// A thrown JS value in words for a message a person may read: an `Error`'s
/// name and message (not its stack, which `Debug` would print), or the value.
pub fn describe(err: &JsValue) -> String {
    match err.dyn_ref::<js_sys::Error>() {
        Some(e) => format!("{}: {}", String::from(e.name()), String::from(e.message())),
        None => err.as_string().unwrap_or_else(|| format!("{err:?}")),
    }
}

pub fn uint8array(bytes: &[u8]) -> JsValue {
    Uint8Array::from(bytes).into()
}

/// A JavaScript number as an integer. Every number crossing here is a
/// whole count, size, id or time well below 2^53; truncating toward zero
/// (and saturating, for garbage) is the one conversion Ferry needs, so it is
/// written once.
pub fn int(n: f64) -> i64 {
    #[expect(
        clippy::cast_possible_truncation,
        reason = "saturating truncation is intended"
    )]
    let n = n as i64;
    n
}

/// As [`int`], for quantities that cannot be negative.
pub fn count(n: f64) -> u64 {
    int(n).max(0).unsigned_abs()
}
