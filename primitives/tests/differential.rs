//! The portable paths against RustCrypto's maintained implementations, on
//! random keys, data and split points. (The SIMD paths run only on wasm32;
//! `tests/libsodium_vectors.rs` at the workspace root holds them against
//! these portable paths in Chromium.)
#![cfg(not(target_arch = "wasm32"))]
#![allow(clippy::unwrap_used)]

use chacha20::cipher::{KeyIvInit, StreamCipher, StreamCipherSeek};
use ferry_primitives::Poly1305;
use ferry_primitives::blake2b::{BLOCK_BYTES, IV, compress_blocks, compress_last};
use ferry_primitives::chacha::{hchacha20, xor_keystream};
use poly1305::universal_hash::KeyInit;
use proptest::prelude::*;

/// BLAKE2b-512 of `data` from the compression function alone, the way the
/// file format's streaming hasher drives it.
fn blake2b512(data: &[u8]) -> Vec<u8> {
    let mut h = IV;
    h[0] ^= 0x0101_0040;
    let mut t = 0u128;
    let whole = data.len().saturating_sub(1) / BLOCK_BYTES * BLOCK_BYTES;
    compress_blocks(&mut h, &mut t, &data[..whole]);
    let rest = &data[whole..];
    let mut last = [0u8; BLOCK_BYTES];
    last[..rest.len()].copy_from_slice(rest);
    compress_last(&mut h, t + rest.len() as u128, &last);
    h.iter().flat_map(|w| w.to_le_bytes()).collect()
}

fn splits(data: &[u8], cuts: &[usize]) -> Vec<std::ops::Range<usize>> {
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (data.len() + 1)).collect();
    points.push(0);
    points.push(data.len());
    points.sort_unstable();
    points.windows(2).map(|w| w[0]..w[1]).collect()
}

proptest! {
    #[test]
    fn chacha20_matches_rustcrypto(
        key in any::<[u8; 32]>(),
        nonce in any::<[u8; 12]>(),
        counter in 0u32..1_000_000,
        data in proptest::collection::vec(any::<u8>(), 0..3000),
    ) {
        let mut ours = data.clone();
        xor_keystream(&key, &nonce, counter, &mut ours);
        let mut theirs = data;
        let mut cipher = chacha20::ChaCha20::new(&key.into(), &nonce.into());
        cipher.seek(u64::from(counter) * 64);
        cipher.apply_keystream(&mut theirs);
        prop_assert_eq!(ours, theirs);
    }

    #[test]
    fn hchacha20_matches_rustcrypto(key in any::<[u8; 32]>(), input in any::<[u8; 16]>()) {
        let theirs = chacha20::hchacha::<chacha20::R20>(&key.into(), &input.into());
        prop_assert_eq!(hchacha20(&key, &input).to_vec(), theirs.to_vec());
    }

    #[test]
    fn poly1305_matches_rustcrypto_at_any_split(
        key in any::<[u8; 32]>(),
        data in proptest::collection::vec(any::<u8>(), 0..3000),
        cuts in proptest::collection::vec(any::<usize>(), 0..6),
    ) {
        let theirs = poly1305::Poly1305::new(&key.into()).compute_unpadded(&data);
        let mut ours = Poly1305::new(&key);
        for range in splits(&data, &cuts) {
            ours.update(&data[range]);
        }
        prop_assert_eq!(ours.finalize().to_vec(), theirs.to_vec());
    }

    /// Many short updates: partial blocks topped up a few bytes at a time.
    #[test]
    fn poly1305_matches_rustcrypto_in_short_pieces(
        key in any::<[u8; 32]>(),
        data in proptest::collection::vec(any::<u8>(), 0..600),
        pieces in proptest::collection::vec(0usize..40, 1..60),
    ) {
        let theirs = poly1305::Poly1305::new(&key.into()).compute_unpadded(&data);
        let mut ours = Poly1305::new(&key);
        let mut at = 0;
        for piece in pieces.iter().cycle().take(data.len() + 1) {
            let end = (at + piece).min(data.len());
            ours.update(&data[at..end]);
            at = end;
        }
        ours.update(&data[at..]);
        prop_assert_eq!(ours.finalize().to_vec(), theirs.to_vec());
    }

    #[test]
    fn blake2b_compression_matches_rustcrypto(
        data in proptest::collection::vec(any::<u8>(), 0..2000),
    ) {
        use blake2::Digest;
        prop_assert_eq!(blake2b512(&data), blake2::Blake2b512::digest(&data).to_vec());
    }
}

/// Accumulators next to 2^130 − 5 and all-ones keys: where a carry or the
/// final reduction would go wrong, random keys almost never reach.
#[test]
fn poly1305_reduction_edges_match_rustcrypto() {
    let mut keys = vec![[0xffu8; 32], [0u8; 32]];
    for r_byte in [1u8, 2, 0x0f, 0xfc] {
        let mut key = [0u8; 32];
        key[..16].fill(r_byte);
        key[16..].fill(0xff);
        keys.push(key);
    }
    for key in keys {
        for len in [0, 1, 15, 16, 17, 63, 64, 65, 255, 256, 257, 1024, 4099] {
            for fill in [0u8, 0xff, 0xfe] {
                let data = vec![fill; len];
                let theirs = poly1305::Poly1305::new(&key.into()).compute_unpadded(&data);
                assert_eq!(
                    Poly1305::mac(&key, &data).to_vec(),
                    theirs.to_vec(),
                    "key {key:02x?}, {len} bytes of {fill:#x}"
                );
            }
        }
    }
}

/// The byte counter's high word, which no real file reaches, still counts.
#[test]
fn blake2b_counter_high_word_is_mixed_in() {
    let block = [7u8; BLOCK_BYTES];
    let mut low = IV;
    compress_last(&mut low, 1 << 64, &block);
    let mut high = IV;
    compress_last(&mut high, (1 << 64) + (1 << 65), &block);
    assert_ne!(low, high);
}
