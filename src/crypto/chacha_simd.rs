//! ChaCha20 (IETF) keystream, four blocks at a time in WebAssembly SIMD128.
//!
//! RustCrypto's `chacha20` has SIMD backends for x86 and ARM only; on wasm it
//! computes one block at a time and was 77% of secretstream's time. Each
//! v128 lane here carries the same state word of four consecutive blocks,
//! so one pass of quarter-rounds produces 256 bytes. It computes exactly
//! what `chacha20::ChaCha20` computes (the libsodium known-answer vectors
//! run through it in headless Chromium, tests/web.rs); only speed differs.

use core::arch::wasm32::{
    i8x16_shuffle, u32x4, u32x4_add, u32x4_extract_lane, u32x4_shl, u32x4_shr, u32x4_splat, v128,
    v128_or, v128_xor,
};

const BLOCK: usize = 64;
const WIDE: usize = 4 * BLOCK;
const CONSTANTS: [u32; 4] = [0x6170_7865, 0x3320_646e, 0x7962_2d32, 0x6b20_6574];

/// XORs the keystream of (`key`, `nonce`) starting at block `counter` into
/// `data`.
pub(crate) fn xor_keystream(key: &[u8; 32], nonce: &[u8; 12], mut counter: u32, data: &mut [u8]) {
    let mut words = [0u32; 16];
    words[..4].copy_from_slice(&CONSTANTS);
    for (w, chunk) in words[4..12].iter_mut().zip(key.chunks_exact(4)) {
        *w = le_u32(chunk);
    }
    for (w, chunk) in words[13..].iter_mut().zip(nonce.chunks_exact(4)) {
        *w = le_u32(chunk);
    }
    let mut wide = data.chunks_exact_mut(WIDE);
    for piece in &mut wide {
        words[12] = counter;
        xor_four_blocks(&words, piece);
        counter = counter.wrapping_add(4);
    }
    let tail = wide.into_remainder();
    if !tail.is_empty() {
        words[12] = counter;
        let mut padded = [0u8; WIDE];
        padded[..tail.len()].copy_from_slice(tail);
        xor_four_blocks(&words, &mut padded);
        let len = tail.len();
        tail.copy_from_slice(&padded[..len]);
    }
}

fn le_u32(bytes: &[u8]) -> u32 {
    let mut b = [0u8; 4];
    b.copy_from_slice(bytes);
    u32::from_le_bytes(b)
}

#[inline(always)]
fn rotl16(x: v128) -> v128 {
    i8x16_shuffle::<2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13>(x, x)
}

#[inline(always)]
fn rotl8(x: v128) -> v128 {
    i8x16_shuffle::<3, 0, 1, 2, 7, 4, 5, 6, 11, 8, 9, 10, 15, 12, 13, 14>(x, x)
}

#[inline(always)]
fn rotl<const L: u32, const R: u32>(x: v128) -> v128 {
    v128_or(u32x4_shl(x, L), u32x4_shr(x, R))
}

#[inline(always)]
fn quarter(v: &mut [v128; 16], a: usize, b: usize, c: usize, d: usize) {
    v[a] = u32x4_add(v[a], v[b]);
    v[d] = rotl16(v128_xor(v[d], v[a]));
    v[c] = u32x4_add(v[c], v[d]);
    v[b] = rotl::<12, 20>(v128_xor(v[b], v[c]));
    v[a] = u32x4_add(v[a], v[b]);
    v[d] = rotl8(v128_xor(v[d], v[a]));
    v[c] = u32x4_add(v[c], v[d]);
    v[b] = rotl::<7, 25>(v128_xor(v[b], v[c]));
}

// XORs each keystream word where it lands instead of through a 256-byte
// buffer: the release build is optimised for size, which leaves that buffer's
// byte loop and `copy_from_slice` as calls, at half the speed.
#[inline(always)]
fn xor_four_blocks(words: &[u32; 16], out: &mut [u8]) {
    let mut initial = [u32x4_splat(0); 16];
    for (v, &w) in initial.iter_mut().zip(words) {
        *v = u32x4_splat(w);
    }
    initial[12] = u32x4_add(initial[12], u32x4(0, 1, 2, 3));
    let mut v = initial;
    for _ in 0..10 {
        quarter(&mut v, 0, 4, 8, 12);
        quarter(&mut v, 1, 5, 9, 13);
        quarter(&mut v, 2, 6, 10, 14);
        quarter(&mut v, 3, 7, 11, 15);
        quarter(&mut v, 0, 5, 10, 15);
        quarter(&mut v, 1, 6, 11, 12);
        quarter(&mut v, 2, 7, 8, 13);
        quarter(&mut v, 3, 4, 9, 14);
    }
    // Lane j of word i is word i of block j.
    for (i, (x, init)) in v.iter().zip(initial).enumerate() {
        let x = u32x4_add(*x, init);
        let lanes = [
            u32x4_extract_lane::<0>(x),
            u32x4_extract_lane::<1>(x),
            u32x4_extract_lane::<2>(x),
            u32x4_extract_lane::<3>(x),
        ];
        for (j, lane) in lanes.iter().enumerate() {
            let at = j * BLOCK + 4 * i;
            if let Ok(word) = <&mut [u8; 4]>::try_from(&mut out[at..at + 4]) {
                *word = (u32::from_le_bytes(*word) ^ lane).to_le_bytes();
            }
        }
    }
}
