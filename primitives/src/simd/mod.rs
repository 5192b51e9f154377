//! The WebAssembly SIMD128 paths, compiled only where the build enables
//! `simd128` (`.cargo/config.toml` does for wasm32).
//!
//! `core::arch::wasm32` intrinsics are safe functions once the target
//! feature is enabled at compile time, so this code needs no `unsafe`: bytes
//! move in and out of vectors through 64-bit lanes, which LLVM merges into
//! `v128.load` and `v128.store`.

use core::arch::wasm32::{u64x2, u64x2_extract_lane, v128};

pub(crate) mod blake2b;
pub(crate) mod chacha;
pub(crate) mod poly1305;

/// The first 16 bytes of `bytes` as a vector, little-endian lanes.
#[inline(always)]
pub(crate) fn load(bytes: &[u8]) -> v128 {
    let mut lo = [0u8; 8];
    let mut hi = [0u8; 8];
    lo.copy_from_slice(&bytes[..8]);
    hi.copy_from_slice(&bytes[8..16]);
    u64x2(u64::from_le_bytes(lo), u64::from_le_bytes(hi))
}

/// Writes `v` to the first 16 bytes of `out`.
#[inline(always)]
pub(crate) fn store(out: &mut [u8], v: v128) {
    out[..8].copy_from_slice(&u64x2_extract_lane::<0>(v).to_le_bytes());
    out[8..16].copy_from_slice(&u64x2_extract_lane::<1>(v).to_le_bytes());
}
