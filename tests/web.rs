//! The web build in headless Chromium: errors arrive as real `FerryError`
//! objects, byte arguments are type-checked, and the exported API round-trips.
#![cfg(target_arch = "wasm32")]
#![allow(clippy::unwrap_used, clippy::cast_possible_truncation)]

use ferry_sync::web::crypto::{
    Blake2b512, FileDecryptor, FileEncryptor, decrypt_file_bytes, encrypt_file_bytes, generate_key,
    unwrap_key, wrap_key,
};
use js_sys::{Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

fn u8a(bytes: &[u8]) -> JsValue {
    Uint8Array::from(bytes).into()
}

fn field(value: &JsValue, name: &str) -> JsValue {
    Reflect::get(value, &JsValue::from_str(name)).unwrap()
}

fn code_of(err: impl Into<JsValue>) -> String {
    let err: JsValue = err.into();
    assert!(
        err.is_instance_of::<js_sys::Error>(),
        "not an Error: {err:?}"
    );
    assert_eq!(field(&err, "name").as_string().unwrap(), "FerryError");
    field(&err, "code").as_string().unwrap()
}

#[wasm_bindgen_test]
fn errors_are_ferry_errors_with_codes() {
    let key = u8a(&generate_key());
    assert_eq!(
        code_of(
            encrypt_file_bytes(&u8a(&[1; 31]), &u8a(b"x"))
                .err()
                .unwrap()
        ),
        "BAD_KEY_LENGTH"
    );
    assert_eq!(
        code_of(
            encrypt_file_bytes(&JsValue::from_str("k"), &u8a(b"x"))
                .err()
                .unwrap()
        ),
        "BAD_INPUT"
    );
    let sealed = encrypt_file_bytes(&key, &u8a(b"hello")).unwrap();
    let header = field(&sealed, "header");
    let ciphertext = field(&sealed, "ciphertext");
    let other = u8a(&generate_key());
    assert_eq!(
        code_of(decrypt_file_bytes(&other, &header, &ciphertext).unwrap_err()),
        "DECRYPT_FAILED"
    );
    assert_eq!(
        code_of(decrypt_file_bytes(&key, &u8a(&[0; 5]), &ciphertext).unwrap_err()),
        "BAD_HEADER"
    );
    let empty = u8a(&[]);
    assert_eq!(
        code_of(decrypt_file_bytes(&key, &header, &empty).unwrap_err()),
        "TRUNCATED"
    );
    // A plain array is not silently coerced into bytes.
    let plain_array: JsValue = js_sys::Array::of1(&JsValue::from(1)).into();
    assert_eq!(
        code_of(decrypt_file_bytes(&key, &header, &plain_array).unwrap_err()),
        "BAD_INPUT"
    );
}

#[wasm_bindgen_test]
fn streaming_round_trip_with_checkpoint_in_the_browser() {
    let key = u8a(&generate_key());
    let chunk: Vec<u8> = (0..4 * 1024 * 1024).map(|i| (i % 251) as u8).collect();
    let mut enc = FileEncryptor::new(&key).unwrap();
    let first = enc.push(&u8a(&chunk), Some(false)).unwrap();
    let checkpoint = u8a(&enc.checkpoint());
    let mut enc = FileEncryptor::resume(&key, &checkpoint).unwrap();
    let last = enc.push(&u8a(b"tail"), Some(true)).unwrap();
    assert!(enc.finished());
    assert_eq!(
        code_of(enc.push(&u8a(b"more"), Some(true)).unwrap_err()),
        "STREAM_FINISHED"
    );

    let mut dec = FileDecryptor::new(&key, &u8a(&enc.header())).unwrap();
    let a: JsValue = dec.pull(&first).unwrap().into();
    assert!(!field(&a, "final").as_bool().unwrap());
    assert_eq!(
        field(&a, "data").unchecked_into::<Uint8Array>().to_vec(),
        chunk
    );
    let b: JsValue = dec.pull(&last).unwrap().into();
    assert!(field(&b, "final").as_bool().unwrap());
    assert_eq!(
        field(&b, "data").unchecked_into::<Uint8Array>().to_vec(),
        b"tail"
    );

    let other = u8a(&generate_key());
    assert_eq!(
        code_of(FileEncryptor::resume(&other, &checkpoint).unwrap_err()),
        "CHECKPOINT_MISMATCH"
    );
    assert_eq!(
        code_of(FileEncryptor::resume(&key, &u8a(b"junk")).unwrap_err()),
        "BAD_CHECKPOINT"
    );
}

#[wasm_bindgen_test]
fn key_wrapping_and_hashing() {
    let key = generate_key();
    let kek = u8a(&generate_key());
    let wrapped: JsValue = wrap_key(&u8a(&key), &kek).unwrap().into();
    let unwrapped = unwrap_key(
        &field(&wrapped, "encryptedKey"),
        &field(&wrapped, "nonce"),
        &kek,
    )
    .unwrap();
    assert_eq!(unwrapped, key);

    let mut h = Blake2b512::new();
    h.update(&u8a(b"ab")).unwrap();
    let mut h = Blake2b512::resume(&u8a(&h.checkpoint().unwrap())).unwrap();
    h.update(&u8a(b"c")).unwrap();
    assert_eq!(h.bytes_hashed(), 3.0);
    let digest = h.finalize().unwrap();
    assert_eq!(digest[..4], [0xba, 0x80, 0xa5, 0x3f]);
    assert_eq!(
        code_of(h.update(&u8a(b"x")).err().unwrap()),
        "STREAM_FINISHED"
    );
}
