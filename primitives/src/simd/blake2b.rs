//! The BLAKE2b compression function in WebAssembly SIMD128.
//!
//! The 4×4 working state is held by rows, two 64-bit words a vector, so the
//! four G functions of a column step run side by side; before the diagonal
//! step the rows are rotated so that the diagonals line up as columns, and
//! rotated back after it. The message schedule is unrolled: each round picks
//! its words with constant shuffles (rounds 10 and 11 share the code of
//! rounds 0 and 1, whose schedule they repeat). Everything is
//! data-independent.
//!
//! G is one long dependency chain, so what is tuned here is latency: a single
//! 128-bit stream cannot go much faster than a good scalar BLAKE2b, only
//! keep its chain shorter.

use core::arch::wasm32::{
    i8x16, i8x16_swizzle, i32x4_shuffle, i64x2_shuffle, u64x2, u64x2_add, u64x2_extract_lane,
    u64x2_shr, v128, v128_or, v128_xor,
};

use super::load;
use crate::blake2b::{BLOCK_BYTES, IV, SIGMA};

pub(crate) fn compress_blocks(h: &mut [u64; 8], t: &mut u128, blocks: &[u8]) {
    compress_run(h, t, BLOCK_BYTES as u128, blocks, 0);
}

pub(crate) fn compress_last(h: &mut [u64; 8], t: u128, block: &[u8; BLOCK_BYTES]) {
    compress_run(h, &mut { t }, 0, block, u64::MAX);
}

/// Compresses each block of `blocks`, adding `add` to the counter before
/// each; `last` is all ones for the final block, zero otherwise. One copy
/// serves every call (unrolled, the rounds are seven kilobytes of wasm), and
/// the chaining value stays in vectors from one block to the next.
#[inline(never)]
fn compress_run(h: &mut [u64; 8], t: &mut u128, add: u128, blocks: &[u8], last: u64) {
    let mut state = to_vectors(h);
    // Opaque, or LLVM turns the swizzles into shuffles (see `Masks`).
    let masks = core::hint::black_box(Masks {
        rotr24: i8x16(3, 4, 5, 6, 7, 0, 1, 2, 11, 12, 13, 14, 15, 8, 9, 10),
        rotr16: i8x16(2, 3, 4, 5, 6, 7, 0, 1, 10, 11, 12, 13, 14, 15, 8, 9),
    });
    // A local, not `*t`: `black_box` below may, for all LLVM knows, write
    // any memory it can reach, so a counter behind a pointer would go
    // through memory at every block.
    let mut counter = *t;
    for block in blocks.chunks_exact(BLOCK_BYTES) {
        counter += add;
        let mut m = [u64x2(0, 0); 8];
        for (word, bytes) in m.iter_mut().zip(block.chunks_exact(16)) {
            *word = load(bytes);
        }
        // Opaque too: otherwise LLVM sees through the vectors to the
        // sixteen 64-bit loads behind them and builds every pair of message
        // words from two scalar loads and lane inserts, where one shuffle of
        // two vectors does.
        compress(&mut state, &core::hint::black_box(m), &masks, counter, last);
    }
    *t = counter;
    *h = from_vectors(&state);
}

fn to_vectors(h: &[u64; 8]) -> [v128; 4] {
    [
        u64x2(h[0], h[1]),
        u64x2(h[2], h[3]),
        u64x2(h[4], h[5]),
        u64x2(h[6], h[7]),
    ]
}

fn from_vectors(state: &[v128; 4]) -> [u64; 8] {
    let mut h = [0u64; 8];
    for (pair, v) in h.chunks_exact_mut(2).zip(state) {
        pair[0] = u64x2_extract_lane::<0>(*v);
        pair[1] = u64x2_extract_lane::<1>(*v);
    }
    h
}

/// The rotations by 24 and 16 bits as byte permutations, for
/// `i8x16_swizzle`. They reach the compression function through
/// `black_box`: with constant indices LLVM turns a swizzle into a shuffle,
/// which V8 lowers for the 16-bit rotation to two dependent instructions
/// (pshuflw, pshufhw) instead of one pshufb, and the G function is one long
/// dependency chain, so every cycle of latency counts.
#[derive(Clone, Copy)]
struct Masks {
    rotr24: v128,
    rotr16: v128,
}

/// Half a G on four columns at once: mix in one message word per column.
/// The first half rotates d by 32 and b by 24 bits, the second (`second`)
/// d by 16 and b by 63.
#[inline(always)]
fn half_g(v: &mut Rows, m: [v128; 2], masks: &Masks, second: bool) {
    for i in 0..2 {
        // a + m first: it does not wait for b, the end of the previous step.
        v[0][i] = u64x2_add(u64x2_add(v[0][i], m[i]), v[1][i]);
        let d = v128_xor(v[3][i], v[0][i]);
        v[3][i] = if second {
            i8x16_swizzle(d, masks.rotr16)
        } else {
            i32x4_shuffle::<1, 0, 3, 2>(d, d)
        };
        v[2][i] = u64x2_add(v[2][i], v[3][i]);
        let b = v128_xor(v[1][i], v[2][i]);
        v[1][i] = if second {
            // Rotating by 63 is rotating left by 1.
            v128_or(u64x2_shr(b, 63), u64x2_add(b, b))
        } else {
            i8x16_swizzle(b, masks.rotr24)
        };
    }
}

/// Rows a, b, c, d of the working state, each as (words 0‥1, words 2‥3).
type Rows = [[v128; 2]; 4];

/// Lines the diagonals up as columns. Row b stays where it is, since it is
/// the last thing each step computes and the first the next one needs (a
/// shuffle of b would sit on the critical path); a moves right by one word,
/// c left by one and d by two, so column j holds the diagonal through b[j]:
/// G₇, G₄, G₅, G₆ of RFC 7693 for j = 0‥3.
#[inline(always)]
fn diagonalize(v: &mut Rows) {
    let [a0, a1] = v[0];
    v[0] = [i64x2_shuffle::<1, 2>(a1, a0), i64x2_shuffle::<1, 2>(a0, a1)];
    let [c0, c1] = v[2];
    v[2] = [i64x2_shuffle::<1, 2>(c0, c1), i64x2_shuffle::<1, 2>(c1, c0)];
    v[3] = [v[3][1], v[3][0]];
}

#[inline(always)]
fn undiagonalize(v: &mut Rows) {
    let [a0, a1] = v[0];
    v[0] = [i64x2_shuffle::<1, 2>(a0, a1), i64x2_shuffle::<1, 2>(a1, a0)];
    let [c0, c1] = v[2];
    v[2] = [i64x2_shuffle::<1, 2>(c1, c0), i64x2_shuffle::<1, 2>(c0, c1)];
    v[3] = [v[3][1], v[3][0]];
}

/// Message words `SIGMA[r][p]` and `SIGMA[r][q]` as one vector.
macro_rules! pair {
    ($m:ident, $r:literal, $p:literal, $q:literal) => {
        i64x2_shuffle::<{ SIGMA[$r][$p] % 2 }, { 2 + SIGMA[$r][$q] % 2 }>(
            $m[SIGMA[$r][$p] / 2],
            $m[SIGMA[$r][$q] / 2],
        )
    };
}

macro_rules! round {
    ($v:ident, $m:ident, $masks:ident, $r:literal) => {
        half_g(
            &mut $v,
            [pair!($m, $r, 0, 2), pair!($m, $r, 4, 6)],
            &$masks,
            false,
        );
        half_g(
            &mut $v,
            [pair!($m, $r, 1, 3), pair!($m, $r, 5, 7)],
            &$masks,
            true,
        );
        diagonalize(&mut $v);
        half_g(
            &mut $v,
            [pair!($m, $r, 14, 8), pair!($m, $r, 10, 12)],
            &$masks,
            false,
        );
        half_g(
            &mut $v,
            [pair!($m, $r, 15, 9), pair!($m, $r, 11, 13)],
            &$masks,
            true,
        );
        undiagonalize(&mut $v);
    };
}

/// Compresses one block, message words `m`, into `h` (rows `h[0..2]` and
/// `h[2..4]`).
#[inline(always)]
fn compress(h: &mut [v128; 4], m: &[v128; 8], masks: &Masks, t: u128, last: u64) {
    let (m, masks) = (*m, *masks);
    let mut v: Rows = [
        [h[0], h[1]],
        [h[2], h[3]],
        [u64x2(IV[0], IV[1]), u64x2(IV[2], IV[3])],
        [
            u64x2(IV[4] ^ t as u64, IV[5] ^ (t >> 64) as u64),
            u64x2(IV[6] ^ last, IV[7]),
        ],
    ];
    // Rounds 10 and 11 use the schedule of rounds 0 and 1: one copy of
    // those two serves both passes. 1.5 KB less wasm (390 bytes gzip),
    // and no change in speed measured (the branch is once per block).
    let mut last_two = false;
    loop {
        round!(v, m, masks, 0);
        round!(v, m, masks, 1);
        if last_two {
            break;
        }
        last_two = true;
        round!(v, m, masks, 2);
        round!(v, m, masks, 3);
        round!(v, m, masks, 4);
        round!(v, m, masks, 5);
        round!(v, m, masks, 6);
        round!(v, m, masks, 7);
        round!(v, m, masks, 8);
        round!(v, m, masks, 9);
    }
    for i in 0..2 {
        h[i] = v128_xor(h[i], v128_xor(v[0][i], v[2][i]));
        h[2 + i] = v128_xor(h[2 + i], v128_xor(v[1][i], v[3][i]));
    }
}
