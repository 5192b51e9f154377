//! Replays vectors that libsodium produced (scripts/make-vectors.mjs): Ferry
//! must decrypt libsodium's output and, given the same key and header,
//! produce the very same bytes. Natively under `cargo test`, and in headless
//! Chromium (`--target wasm32-unknown-unknown`), where the message body goes
//! through the SIMD128 ChaCha20 instead.
#![allow(clippy::unwrap_used, clippy::cast_possible_truncation)]

mod common;

#[cfg(target_arch = "wasm32")]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

use common::*;
use ferry_sync::crypto::secretstream::StreamState;
use ferry_sync::crypto::{
    Blake2b512, CHUNK_SIZE, FileEncryptor, Key, decrypt_file_bytes, secretbox,
};

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
pub fn secretstream_messages_match_libsodium_both_ways() {
    let v = vectors();
    for case in v["secretstream"].as_array().unwrap() {
        let key = Key::from_slice(&field_hex(case, "key")).unwrap();
        let header: [u8; 24] = field_hex(case, "header").try_into().unwrap();
        let mut push = StreamState::init_push_with_header_for_tests(&key, &header);
        let mut pull = StreamState::init_pull(&key, &header).unwrap();
        for m in case["messages"].as_array().unwrap() {
            let plaintext = pattern(field_usize(m, "length"), m["seed"].as_u64().unwrap());
            let ad = field_hex(m, "ad");
            let tag = m["tag"].as_u64().unwrap() as u8;
            let expected = field_hex(m, "ciphertext");

            let mut ours = Vec::new();
            push.push(&mut ours, &plaintext, &ad, tag);
            assert_eq!(hex(&ours), hex(&expected), "push differs from libsodium");

            let mut decrypted = Vec::new();
            assert_eq!(pull.pull(&mut decrypted, &expected, &ad).unwrap(), tag);
            assert_eq!(decrypted, plaintext);
        }
    }
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
pub fn chunked_files_match_libsodium() {
    let v = vectors();
    for case in v["files"].as_array().unwrap() {
        let size = field_usize(case, "size");
        let plaintext = pattern(size, case["seed"].as_u64().unwrap());
        let key = Key::from_slice(&field_hex(case, "key")).unwrap();
        let header: [u8; 24] = field_hex(case, "header").try_into().unwrap();

        let mut enc = FileEncryptor::with_header_for_tests(&key, header);
        let mut ciphertext = Vec::new();
        let mut chunks = plaintext.chunks(CHUNK_SIZE).peekable();
        if size == 0 {
            enc.push_into(&mut ciphertext, &[], true).unwrap();
        }
        while let Some(chunk) = chunks.next() {
            enc.push_into(&mut ciphertext, chunk, chunks.peek().is_none())
                .unwrap();
        }
        assert_eq!(
            ciphertext.len(),
            field_usize(case, "ciphertextLength"),
            "size {size}"
        );
        assert_eq!(
            hex(&Blake2b512::digest(&ciphertext)),
            case["ciphertextBlake2b"].as_str().unwrap(),
            "ciphertext of {size} bytes differs from libsodium's"
        );
        assert_eq!(
            decrypt_file_bytes(&key, &header, &ciphertext).unwrap(),
            plaintext
        );
        assert_eq!(
            hex(&Blake2b512::digest(&plaintext)),
            case["plaintextBlake2b"].as_str().unwrap()
        );
    }
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
pub fn secretbox_matches_libsodium() {
    let v = vectors();
    for case in v["secretbox"].as_array().unwrap() {
        let key = Key::from_slice(&field_hex(case, "key")).unwrap();
        let nonce = field_hex(case, "nonce");
        let message = pattern(field_usize(case, "length"), case["seed"].as_u64().unwrap());
        let sealed = field_hex(case, "sealed");
        assert_eq!(
            secretbox::open(&key, &nonce, &sealed).unwrap().as_slice(),
            &message[..]
        );
        let (ours, our_nonce) = secretbox::seal(&key, &message);
        assert_eq!(
            secretbox::open(&key, &our_nonce, &ours).unwrap().as_slice(),
            &message[..]
        );
        assert_ne!(our_nonce.to_vec(), nonce, "nonces must be fresh");
    }
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
pub fn blake2b_matches_generichash_at_every_split() {
    let v = vectors();
    for case in v["generichash"].as_array().unwrap() {
        let data = pattern(field_usize(case, "length"), case["seed"].as_u64().unwrap());
        let expected = case["hash"].as_str().unwrap();
        assert_eq!(hex(&Blake2b512::digest(&data)), expected);
        let mut h = Blake2b512::new();
        for piece in data.chunks(77) {
            h.update(piece);
        }
        assert_eq!(hex(&h.finalize()), expected);
    }
}
