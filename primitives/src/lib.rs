//! The primitives under Ferry's file format: ChaCha20 and HChaCha20,
//! Poly1305, and the BLAKE2b compression function, with WebAssembly SIMD128
//! paths where the build enables `simd128`.
//!
//! Hand-written rather than taken from RustCrypto because RustCrypto has no
//! SIMD128 backend for any of them, and these are the loops every byte of
//! every file goes through, twice (hashed, then encrypted). They are a crate
//! of their own so that the size-optimised wasm build can still compile them
//! for speed (`[profile.wasm-release.package.ferry-primitives]`).
//!
//! Every path, SIMD or portable, is constant-time in the usual sense: no
//! branch and no memory index depends on key, message or tag bytes. The
//! SIMD paths compute exactly what the portable ones do; `tests/` holds the
//! portable ones against RustCrypto natively, and the SIMD ones run against
//! the portable ones and libsodium's vectors in Chromium.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]
// Limb arithmetic truncates on purpose: the high bits were carried first.
#![allow(clippy::cast_possible_truncation)]

pub mod blake2b;
pub mod chacha;
pub mod poly1305;
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod simd;

pub use poly1305::Poly1305;

/// Overwrites `values`, which held key material or keystream, with `zero`,
/// in stores the compiler may not drop as dead: it must assume that
/// `black_box` reads them. Used where `zeroize` does not fit: it has no impl
/// for `v128`, and its volatile stores, one an element, cost wasm bytes in
/// the hot functions.
#[inline(always)]
pub(crate) fn wipe<T: Copy, const N: usize>(values: &mut [T; N], zero: T) {
    *values = [zero; N];
    core::hint::black_box(values);
}

/// Whether this build runs the SIMD128 paths (only wasm32 with `simd128`).
pub const SIMD: bool = cfg!(all(target_arch = "wasm32", target_feature = "simd128"));
