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

/// The SIMD128 paths against the portable ones, on the same deterministic
/// random inputs: every length up to a few blocks past each SIMD width,
/// random split points, counters about to wrap, byte counters past 2^64.
/// Natively both sides are the portable code, so this runs in Chromium only,
/// where `ferry_primitives::SIMD` must be on.
#[cfg(target_arch = "wasm32")]
mod simd_against_portable {
    use ferry_primitives::Poly1305;
    use ferry_primitives::blake2b::{
        BLOCK_BYTES, compress_blocks, compress_last, compress_portable,
    };
    use ferry_primitives::chacha::{xor_keystream, xor_keystream_portable};
    use wasm_bindgen_test::wasm_bindgen_test;

    // The wasm build must run the SIMD128 paths, or this compares the
    // portable code with itself.
    const _: () = assert!(ferry_primitives::SIMD);

    /// xorshift64*: reproducible, and plenty for test inputs.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
        fn bytes<const N: usize>(&mut self) -> [u8; N] {
            core::array::from_fn(|_| self.next() as u8)
        }
        fn vec(&mut self, len: usize) -> Vec<u8> {
            (0..len).map(|_| self.next() as u8).collect()
        }
    }

    fn lengths() -> impl Iterator<Item = usize> {
        (0..=1100).chain([4096, 16 * 1024 + 3, 65536 + 17, 100_000])
    }

    #[wasm_bindgen_test]
    fn chacha20() {
        let mut rng = Rng(1);
        for len in lengths() {
            let (key, nonce) = (rng.bytes::<32>(), rng.bytes::<12>());
            let counter = match len % 3 {
                0 => u32::MAX - rng.below(8) as u32,
                _ => rng.next() as u32,
            };
            let data = rng.vec(len);
            let mut simd = data.clone();
            xor_keystream(&key, &nonce, counter, &mut simd);
            let mut portable = data;
            xor_keystream_portable(&key, &nonce, counter, &mut portable);
            assert!(simd == portable, "{len} bytes from block {counter}");
        }
    }

    /// The SIMD ChaCha20 splats each key word into a vector's four lanes;
    /// once it returns, no copy of that layout may be left anywhere in wasm
    /// memory (the stack it used included).
    #[wasm_bindgen_test]
    fn chacha20_leaves_no_splatted_key_words() {
        use wasm_bindgen::JsCast;
        let key = Rng(5).bytes::<32>();
        // Allocated before the call, so that reading memory afterwards
        // allocates nothing: growing it would detach the buffer being read.
        let mut window = vec![0u8; 65536 + 15];
        // Three whole four-block runs and a tail: both buffers are used.
        let mut data = vec![0u8; 3 * 256 + 100];
        xor_keystream(&key, &[7; 12], 1, &mut data);
        let memory: js_sys::WebAssembly::Memory = wasm_bindgen::memory().unchecked_into();
        let size = js_sys::Uint8Array::new(&memory.buffer()).length();
        let mut found = Vec::with_capacity(64);
        let mut at = 0;
        loop {
            let len = (size - at).min(window.len() as u32);
            let view =
                js_sys::Uint8Array::new_with_byte_offset_and_length(&memory.buffer(), at, len);
            view.copy_to(&mut window[..len as usize]);
            for (i, w) in window[..len as usize].windows(16).enumerate() {
                // Four equal words, one of the key's (the pattern itself is
                // never built, or the test would find it).
                let splat = w[..12] == w[4..] && key.chunks_exact(4).any(|k| k == &w[..4]);
                if splat && found.len() < 64 {
                    found.push(at as usize + i);
                }
            }
            if at + len == size {
                break;
            }
            // The next window overlaps this one by 15 bytes.
            at += len - 15;
        }
        assert!(found.is_empty(), "key words left splatted at {found:x?}");
    }

    #[wasm_bindgen_test]
    fn poly1305() {
        let mut rng = Rng(2);
        for len in lengths() {
            let key = if len % 7 == 0 {
                [0xff; 32]
            } else {
                rng.bytes::<32>()
            };
            let data = if len % 5 == 0 {
                vec![0xff; len]
            } else {
                rng.vec(len)
            };
            let mut simd = Poly1305::new(&key);
            let mut portable = Poly1305::new(&key);
            let mut at = 0;
            while at < len {
                let end = (at + 1 + rng.below(len)).min(len);
                simd.update(&data[at..end]);
                portable.update_portable(&data[at..end]);
                at = end;
            }
            assert_eq!(simd.finalize(), portable.finalize(), "{len} bytes");
        }
    }

    /// The inputs that push the SIMD path's 13-bit limbs to the ends of
    /// their ranges: the largest clamped r and others with all-equal key
    /// bytes, messages of all zeros, all ones and alternating blocks, long
    /// enough for many four-block groups, entered from many accumulator
    /// states (an odd-length prefix first goes through the portable code).
    #[wasm_bindgen_test]
    fn poly1305_extremes() {
        let mut rng = Rng(4);
        let mut keys: Vec<[u8; 32]> = [0xffu8, 0xfe, 0xfc, 0x0f, 0x80, 0x01, 0x00]
            .map(|b| [b; 32])
            .to_vec();
        keys.extend((0..8).map(|_| rng.bytes::<32>()));
        let fills: [fn(usize) -> u8; 4] = [
            |_| 0,
            |_| 0xff,
            |i| if (i / 16) % 2 == 0 { 0xff } else { 0 },
            |i| if i % 64 < 16 { 0xff } else { 0x7f },
        ];
        for key in &keys {
            for fill in fills {
                for len in [256, 320, 1024, 4096 + 64, 65536] {
                    for prefix in [0, 1, 15, 17, 33] {
                        let data: Vec<u8> = (0..prefix + len).map(fill).collect();
                        let mut simd = Poly1305::new(key);
                        let mut portable = Poly1305::new(key);
                        for part in [&data[..prefix], &data[prefix..]] {
                            simd.update(part);
                            portable.update_portable(part);
                        }
                        assert_eq!(
                            simd.finalize(),
                            portable.finalize(),
                            "key {:02x}…, {len} bytes after {prefix}",
                            key[0]
                        );
                    }
                }
            }
        }
    }

    #[wasm_bindgen_test]
    fn blake2b_compression() {
        let mut rng = Rng(3);
        for blocks in 0..40 {
            let h: [u64; 8] = core::array::from_fn(|_| rng.next());
            let start = u128::from(rng.next()) << (64 * (blocks % 2));
            let data = rng.vec(blocks * BLOCK_BYTES);

            let (mut simd, mut simd_t) = (h, start);
            compress_blocks(&mut simd, &mut simd_t, &data);
            let (mut portable, mut portable_t) = (h, start);
            for block in data.chunks_exact(BLOCK_BYTES) {
                portable_t += BLOCK_BYTES as u128;
                compress_portable(&mut portable, block, portable_t, false);
            }
            assert_eq!((simd, simd_t), (portable, portable_t), "{blocks} blocks");

            let last: [u8; BLOCK_BYTES] = core::array::from_fn(|_| rng.next() as u8);
            compress_last(&mut simd, simd_t + 5, &last);
            compress_portable(&mut portable, &last, portable_t + 5, true);
            assert_eq!(simd, portable, "last block after {blocks}");
        }
    }
}
