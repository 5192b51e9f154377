//! Helpers shared by the native integration tests.
#![allow(dead_code, clippy::unwrap_used, clippy::cast_possible_truncation)]

use serde_json::Value;

/// Deterministic test plaintext; identical to `pattern` in
/// scripts/make-vectors.mjs, so large vectors need not be stored.
pub fn pattern(length: usize, seed: u64) -> Vec<u8> {
    (0..length as u64)
        .map(|i| ((i * 31 + seed * 7 + (i >> 8)) & 0xff) as u8)
        .collect()
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn unhex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

/// Compiled in, so the same vectors also run inside the browser.
pub fn vectors() -> Value {
    serde_json::from_str(include_str!("../vectors/libsodium.json")).unwrap()
}

pub fn field_hex(v: &Value, name: &str) -> Vec<u8> {
    unhex(v[name].as_str().unwrap())
}

pub fn field_usize(v: &Value, name: &str) -> usize {
    v[name].as_u64().unwrap() as usize
}
