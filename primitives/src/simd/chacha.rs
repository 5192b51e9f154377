//! ChaCha20 four blocks at a time in WebAssembly SIMD128.
//!
//! Each v128 lane carries the same state word of four consecutive blocks, so
//! one pass of quarter-rounds produces 256 bytes of keystream. A 4×4
//! transpose then turns the four lanes of four words into sixteen
//! consecutive keystream bytes, XORed into the data sixteen at a time.

use core::arch::wasm32::{
    i8x16, i8x16_swizzle, i32x4_shuffle, i64x2_shuffle, u32x4, u32x4_add, u32x4_shl, u32x4_shr,
    u32x4_splat, v128, v128_or, v128_xor,
};

use super::{load, store};
use crate::wipe;

const WIDE: usize = 256;

/// XORs the keystream that starts at `state` (its word 12 the block
/// counter) into `data`. The key-bearing vectors built here, and the
/// keystream left in the tail's buffer, are wiped before returning.
pub(crate) fn xor_keystream(state: &[u32; 16], data: &mut [u8]) {
    let mut initial = [u32x4_splat(0); 16];
    for (v, &w) in initial.iter_mut().zip(state) {
        *v = u32x4_splat(w);
    }
    initial[12] = u32x4_add(initial[12], u32x4(0, 1, 2, 3));
    let four = u32x4_splat(4);

    let mut wide = data.chunks_exact_mut(WIDE);
    for piece in &mut wide {
        if let Ok(piece) = <&mut [u8; WIDE]>::try_from(piece) {
            xor_four_blocks(&initial, piece);
        }
        initial[12] = u32x4_add(initial[12], four);
    }
    let tail = wide.into_remainder();
    if !tail.is_empty() {
        let mut padded = [0u8; WIDE];
        padded[..tail.len()].copy_from_slice(tail);
        xor_four_blocks(&initial, &mut padded);
        let len = tail.len();
        tail.copy_from_slice(&padded[..len]);
        wipe(&mut padded, 0);
    }
    wipe(&mut initial, u32x4_splat(0));
}

/// The rotations by 16 and 8 bits as byte permutations for
/// `i8x16_swizzle`, passed through `black_box`: with constant indices LLVM
/// makes the swizzle a shuffle, which V8 lowers to two dependent
/// instructions (or rebuilds its mask at every use), where a swizzle is one
/// pshufb on the quarter-round's dependency chain.
#[derive(Clone, Copy)]
struct Masks {
    rotl16: v128,
    rotl8: v128,
}

fn masks() -> Masks {
    core::hint::black_box(Masks {
        rotl16: i8x16(2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13),
        rotl8: i8x16(3, 0, 1, 2, 7, 4, 5, 6, 11, 8, 9, 10, 15, 12, 13, 14),
    })
}

#[inline(always)]
fn rotl<const L: u32, const R: u32>(x: v128) -> v128 {
    v128_or(u32x4_shl(x, L), u32x4_shr(x, R))
}

#[inline(always)]
fn quarter(v: &mut [v128; 16], m: &Masks, a: usize, b: usize, c: usize, d: usize) {
    v[a] = u32x4_add(v[a], v[b]);
    v[d] = i8x16_swizzle(v128_xor(v[d], v[a]), m.rotl16);
    v[c] = u32x4_add(v[c], v[d]);
    v[b] = rotl::<12, 20>(v128_xor(v[b], v[c]));
    v[a] = u32x4_add(v[a], v[b]);
    v[d] = i8x16_swizzle(v128_xor(v[d], v[a]), m.rotl8);
    v[c] = u32x4_add(v[c], v[d]);
    v[b] = rotl::<7, 25>(v128_xor(v[b], v[c]));
}

/// Not inlined: the main loop and the tail share one copy.
#[inline(never)]
fn xor_four_blocks(initial: &[v128; 16], out: &mut [u8; WIDE]) {
    let mut v = *initial;
    let m = masks();
    for _ in 0..10 {
        quarter(&mut v, &m, 0, 4, 8, 12);
        quarter(&mut v, &m, 1, 5, 9, 13);
        quarter(&mut v, &m, 2, 6, 10, 14);
        quarter(&mut v, &m, 3, 7, 11, 15);
        quarter(&mut v, &m, 0, 5, 10, 15);
        quarter(&mut v, &m, 1, 6, 11, 12);
        quarter(&mut v, &m, 2, 7, 8, 13);
        quarter(&mut v, &m, 3, 4, 9, 14);
    }
    for (x, init) in v.iter_mut().zip(initial) {
        *x = u32x4_add(*x, *init);
    }
    // Lane j of v[i] is word i of block j: transpose each group of four
    // words into four 16-byte rows, one per block.
    for g in 0..4 {
        let (a, b, c, d) = (v[4 * g], v[4 * g + 1], v[4 * g + 2], v[4 * g + 3]);
        let ab_low = i32x4_shuffle::<0, 4, 1, 5>(a, b);
        let ab_high = i32x4_shuffle::<2, 6, 3, 7>(a, b);
        let cd_low = i32x4_shuffle::<0, 4, 1, 5>(c, d);
        let cd_high = i32x4_shuffle::<2, 6, 3, 7>(c, d);
        let rows = [
            i64x2_shuffle::<0, 2>(ab_low, cd_low),
            i64x2_shuffle::<1, 3>(ab_low, cd_low),
            i64x2_shuffle::<0, 2>(ab_high, cd_high),
            i64x2_shuffle::<1, 3>(ab_high, cd_high),
        ];
        for (j, row) in rows.into_iter().enumerate() {
            let at = 64 * j + 16 * g;
            let bytes = &mut out[at..at + 16];
            store(bytes, v128_xor(load(bytes), row));
        }
    }
}
