//! Poly1305 four blocks at a time in WebAssembly SIMD128, multiplying with
//! `i32x4.dot_i16x8_s`.
//!
//! Lane j of each vector holds accumulator j, which takes every fourth
//! block: (acc + m)·r⁴ for every group of four blocks but the last, and
//! for the last, (acc + m)·r^(4−j) lane by lane, so that the sum of the
//! lanes is exactly what one block at a time gives. The last group's
//! multiplication is done on scalars: it happens once a call, and a second
//! copy of the vector step would cost four kilobytes of wasm.
//!
//! Numbers are ten signed 13-bit limbs (2^130 ≡ 5 makes ten limbs of 13
//! bits wrap cleanly), kept in pairs: each 32-bit lane holds limbs 2p and
//! 2p + 1 as two 16-bit halves. `i32x4.dot_i16x8_s` (one `pmaddwd` on x86,
//! one instruction on Arm too) multiplies both halves by a pair of
//! multiplier limbs and adds the two products: eight products an
//! instruction. The obvious layout, 26-bit limbs through
//! `u64x2.extmul_*_u32x4`, costs three instructions for two products in V8
//! (two unpacks and a `pmuludq`), and about a quarter more time over all.
//!
//! What keeps every sum inside an i32, and every limb inside an i16:
//! * the multiplier's limbs are balanced: |R₀| ≤ 2^12 + 4 and |Rₙ| ≤ 2^12
//!   for the others, so the wrapped ones, 5·Rₙ (n ≥ 1), stay within 20,480;
//! * the limbs multiplied are centred: a = h + m − 2^13 with h and m in
//!   [0, 2^13) give |a| ≤ 2^13 (plus the carries' slack below); the offset
//!   subtracted, C = Σ 2^13·2^(13k), is added back after the product as the
//!   constant K = C·R mod p (balanced too);
//! * so product limb 0, the largest, sums one term up to 8,317 × 4,100 and
//!   nine up to 8,317 × 20,480: with K, under 1.57·10^9 < 2^31. Each
//!   `dot` adds two terms, under 3.5·10^8.
//!
//! After each product one carry pass in two chains (0→5 and 5→0, through
//! the wrap) leaves every limb in [0, 2^13) but limbs 1 and 6, which end in
//! [−125, 2^13 + 124]: hence the 8,317. No branch and no memory index
//! depends on the key or the message.

use core::arch::wasm32::{
    i16x8_add, i16x8_shuffle, i16x8_splat, i32x4, i32x4_add, i32x4_dot_i16x8, i32x4_extract_lane,
    i32x4_shl, i32x4_shr, i32x4_shuffle, i32x4_splat, i64x2_shuffle, u32x4_shl, u32x4_shr,
    u32x4_splat, v128, v128_and, v128_or,
};
use zeroize::Zeroize;

use super::load;
use crate::poly1305::{HIBIT, MASK26, carry, mul};

/// Bytes one pass takes: four blocks.
pub(crate) const WIDE_BYTES: usize = 64;
/// Below this, the last group's scalar products cost more than the lanes
/// save.
pub(crate) const MIN_BYTES: usize = 256;

const LIMB_BITS: u32 = 13;
const MASK13: i32 = (1 << LIMB_BITS) - 1;
/// Multiplier pairs, for n = −8‥=9 (see [`pair_index`]).
const PAIRS: usize = 18;

/// What one key's runs multiply by, made on first use and kept with the
/// key: r⁴ as the pairs `(R′ₙ, R′ₙ₋₁)` of i16 limbs, R′ₙ = Rₙ for n ≥ 0 and
/// 5·Rₙ₊₁₀ below; the offset correction K = C·r⁴; and r⁴, r³, r², r as
/// scalars for the last group. Until made it is all zeros.
#[derive(Clone, Default, Zeroize)]
pub(crate) struct Powers {
    pairs: [i32; PAIRS],
    k: [i32; 10],
    last: [[u32; 5]; 4],
    made: bool,
}

impl Powers {
    /// The powers of `r`, made now if they are not yet. (Whether they are
    /// made depends only on how the key was used, never on its value.)
    pub(crate) fn of(&mut self, r: &[u32; 5]) -> &Self {
        if !self.made {
            self.make(r);
        }
        self
    }

    fn make(&mut self, r: &[u32; 5]) {
        // r, r², r³, r⁴, then C·r⁴ with C = Σₖ 2^13·2^(13k) ≡ 5 + Σ_{k=1‥9}
        // 2^(13k) (mod p) in 26-bit limbs.
        let c = [
            5 + (1 << 13),
            1 + (1 << 13),
            1 + (1 << 13),
            1 + (1 << 13),
            1 + (1 << 13),
        ];
        let mut x = *r;
        for i in 0..4 {
            self.last[3 - i] = x;
            x = product(&x, if i < 3 { r } else { &c });
        }
        self.k = balanced(&x);
        let mut limbs = balanced(&self.last[0]);
        for n in -8..=9 {
            self.pairs[pair_index(n)] = pair(wrapped(&limbs, n), wrapped(&limbs, n - 1));
        }
        self.made = true;
        x.zeroize();
        limbs.zeroize();
    }
}

/// `mul`, kept out of line: the few products here are not hot, and each
/// inlined copy costs wasm bytes.
#[inline(never)]
fn product(a: &[u32; 5], b: &[u32; 5]) -> [u32; 5] {
    mul(a, b)
}

/// Where the pair (R′ₙ, R′ₙ₋₁) is kept.
const fn pair_index(n: i32) -> usize {
    (n + 8) as usize
}

/// R′ₙ: limb n, or for n < 0 limb n + 10 times 5 (2^130 ≡ 5).
fn wrapped(limbs: &[i32; 10], n: i32) -> i32 {
    // n is a loop index, never secret.
    if n >= 0 {
        limbs[n as usize]
    } else {
        5 * limbs[(n + 10) as usize]
    }
}

/// Two i16 limbs as one 32-bit lane, `low` in the low half.
fn pair(low: i32, high: i32) -> i32 {
    (low & 0xffff) | (high << 16)
}

/// A number in partly reduced 26-bit limbs as ten balanced 13-bit limbs,
/// each in [−2^12, 2^12) but limb 0, which may reach 2^12 + 4; congruent
/// modulo 2^130 − 5.
fn balanced(x: &[u32; 5]) -> [i32; 10] {
    let mut u = split(x);
    for k in 0..10 {
        // 1 when the limb is 2^12 or more: subtract 2^13, carry one.
        let c = (u[k] + (1 << 12)) >> LIMB_BITS;
        u[k] -= c << LIMB_BITS;
        if k < 9 {
            u[k + 1] += c;
        } else {
            u[0] += 5 * c;
        }
    }
    u
}

/// A number in partly reduced 26-bit limbs (as `mul` and `carry` leave
/// them) as ten 13-bit limbs in [0, 2^13], fully carried.
fn split(x: &[u32; 5]) -> [i32; 10] {
    let mut l = x.map(u64::from);
    for _ in 0..2 {
        for i in 0..4 {
            l[i + 1] += l[i] >> 26;
            l[i] &= u64::from(MASK26);
        }
        l[0] += (l[4] >> 26) * 5;
        l[4] &= u64::from(MASK26);
    }
    // Now l[0] < 2^26 + 5 and the others < 2^26: every 13-bit half fits.
    let mut u = [0i32; 10];
    for (i, limb) in l.iter().enumerate() {
        u[2 * i] = (limb & MASK13 as u64) as i32;
        u[2 * i + 1] = (limb >> LIMB_BITS) as i32;
    }
    l.zeroize();
    u
}

/// `h` advanced over `data`, a whole number (at least one) of four-block
/// groups, all of them whole blocks.
#[inline(never)]
pub(crate) fn blocks(h: &mut [u32; 5], powers: &Powers, data: &[u8]) {
    if data.len() < WIDE_BYTES {
        return;
    }
    let (body, last) = data.split_at(data.len() - WIDE_BYTES);
    let mut start = split(h);
    let mut acc = [i32x4_splat(0); 5];
    for (p, v) in acc.iter_mut().enumerate() {
        *v = i32x4(pair(start[2 * p], start[2 * p + 1]), 0, 0, 0);
    }
    start.zeroize();
    let multipliers = powers.pairs.map(|x| i32x4_splat(x));
    let k = powers.k.map(|x| i32x4_splat(x));
    for group in body.chunks_exact(WIDE_BYTES) {
        acc = step(&acc, group, &multipliers, &k);
    }
    // The last group: acc + m lane by lane (limbs in [−125, 2^14 + 124]),
    // each times its power of r on scalars, summed. 2p, whose 26-bit limbs
    // are all at least 2^27 − 10, keeps every limb positive.
    let acc = sum(&acc, &message(last));
    let two_p = [
        (1u64 << 27) - 10,
        (1 << 27) - 2,
        (1 << 27) - 2,
        (1 << 27) - 2,
        (1 << 27) - 2,
    ];
    let mut total = [0u64; 5];
    for (lane, power) in powers.last.iter().enumerate() {
        let mut x = [0u32; 5];
        for (p, (x, add)) in x.iter_mut().zip(two_p).enumerate() {
            let both = lane_of(acc[p], lane);
            let (low, high) = ((both << 16) >> 16, both >> 16);
            *x = (i64::from(low) + (i64::from(high) << LIMB_BITS) + add as i64) as u32;
        }
        for (t, y) in total.iter_mut().zip(product(&x, power)) {
            *t += u64::from(y);
        }
        x.zeroize();
    }
    *h = carry(total);
    total.zeroize();
}

/// Lane `lane` (0‥=3) of `v`.
fn lane_of(v: v128, lane: usize) -> i32 {
    // lane is a loop index, never secret.
    match lane {
        0 => i32x4_extract_lane::<0>(v),
        1 => i32x4_extract_lane::<1>(v),
        2 => i32x4_extract_lane::<2>(v),
        _ => i32x4_extract_lane::<3>(v),
    }
}

/// One group of four blocks, block j into lane j: acc = (acc + m)·r⁴ + K,
/// carried. `multipliers[pair_index(n)]` holds the pair (R′ₙ, R′ₙ₋₁).
#[inline(always)]
fn step(acc: &[v128; 5], group: &[u8], multipliers: &[v128; PAIRS], k: &[v128; 10]) -> [v128; 5] {
    let offset = i16x8_splat(-(1 << LIMB_BITS));
    let a = sum(acc, &message(group)).map(|x| i16x8_add(x, offset));
    let term = |p: usize, i: usize| i32x4_dot_i16x8(a[p], multipliers[i]);
    // Product limb k: Σ over the pairs p of (a₂ₚ·R′ₖ₋₂ₚ + a₂ₚ₊₁·R′ₖ₋₂ₚ₋₁),
    // the pair (R′ₙ, R′ₙ₋₁) at pair_index(n) = n + 8.
    let mut d = *k;
    macro_rules! limbs {
        ($($limb:literal)*) => {$(
            let sum = i32x4_add(
                i32x4_add(term(0, $limb + 8), term(1, $limb + 6)),
                i32x4_add(i32x4_add(term(2, $limb + 4), term(3, $limb + 2)), term(4, $limb)),
            );
            d[$limb] = i32x4_add(d[$limb], sum);
        )*};
    }
    limbs!(0 1 2 3 4 5 6 7 8 9);
    carry_pairs(d)
}

/// The four blocks' 130-bit numbers (2^128 added) as limb pairs, lane j
/// from block j: each 32-bit lane holds the 26 bits of limbs 2p and 2p + 1
/// as two 13-bit halves.
#[inline(always)]
fn message(group: &[u8]) -> [v128; 5] {
    let b = [
        load(&group[..16]),
        load(&group[16..32]),
        load(&group[32..48]),
        load(&group[48..64]),
    ];
    // Transpose: w[k] holds 32-bit word k of each block.
    let t0 = i32x4_shuffle::<0, 4, 1, 5>(b[0], b[1]);
    let t1 = i32x4_shuffle::<2, 6, 3, 7>(b[0], b[1]);
    let t2 = i32x4_shuffle::<0, 4, 1, 5>(b[2], b[3]);
    let t3 = i32x4_shuffle::<2, 6, 3, 7>(b[2], b[3]);
    let w0 = i64x2_shuffle::<0, 2>(t0, t2);
    let w1 = i64x2_shuffle::<1, 3>(t0, t2);
    let w2 = i64x2_shuffle::<0, 2>(t1, t3);
    let w3 = i64x2_shuffle::<1, 3>(t1, t3);
    let mask = u32x4_splat(MASK26);
    // 26 bits a pair of limbs.
    let fields = [
        v128_and(w0, mask),
        v128_and(v128_or(u32x4_shr(w0, 26), u32x4_shl(w1, 6)), mask),
        v128_and(v128_or(u32x4_shr(w1, 20), u32x4_shl(w2, 12)), mask),
        v128_and(v128_or(u32x4_shr(w2, 14), u32x4_shl(w3, 18)), mask),
        v128_or(u32x4_shr(w3, 8), u32x4_splat(HIBIT)),
    ];
    // Limb 2p: the low 13 bits, in the low half. Limb 2p + 1: bits 13‥26,
    // which a shift by 3 moves to the high half (one `pblendw` picks the
    // halves).
    let low = u32x4_splat(MASK13 as u32);
    fields.map(|f| i16x8_shuffle::<0, 9, 2, 11, 4, 13, 6, 15>(v128_and(f, low), u32x4_shl(f, 3)))
}

/// acc + m limb by limb: 16-bit lane adds, which never carry from one limb
/// into the other.
#[inline(always)]
fn sum(acc: &[v128; 5], m: &[v128; 5]) -> [v128; 5] {
    core::array::from_fn(|p| i16x8_add(acc[p], m[p]))
}

/// One carry pass over the ten 32-bit product limbs, in two chains, back
/// to limb pairs.
#[inline(always)]
fn carry_pairs(mut d: [v128; 10]) -> [v128; 5] {
    let mask = i32x4_splat(MASK13);
    let mut pass = |from: usize, to: usize| {
        let c = i32x4_shr(d[from], LIMB_BITS);
        d[from] = v128_and(d[from], mask);
        d[to] = i32x4_add(d[to], c);
    };
    pass(0, 1);
    pass(5, 6);
    pass(1, 2);
    pass(6, 7);
    pass(2, 3);
    pass(7, 8);
    pass(3, 4);
    pass(8, 9);
    pass(4, 5);
    // Limb 9 wraps into limb 0 times 5: c + 4c, with 4c taken as
    // (d >> 11) & !3 rather than c << 2, which LLVM would fold into a
    // multiplication (`pmulld`, slow) by 5.
    let c = i32x4_shr(d[9], LIMB_BITS);
    let c4 = v128_and(i32x4_shr(d[9], LIMB_BITS - 2), i32x4_splat(!3));
    d[9] = v128_and(d[9], mask);
    d[0] = i32x4_add(d[0], i32x4_add(c, c4));
    let mut pass = |from: usize, to: usize| {
        let c = i32x4_shr(d[from], LIMB_BITS);
        d[from] = v128_and(d[from], mask);
        d[to] = i32x4_add(d[to], c);
    };
    pass(5, 6);
    pass(0, 1);
    // Limbs 1 and 6 may now be slightly negative. Limb 1 is the high half
    // of its pair, where the sign is harmless; limb 6, a low half, must not
    // spill its sign bits into limb 7.
    d[6] = v128_and(d[6], i32x4_splat(0xffff));
    core::array::from_fn(|p| v128_or(d[2 * p], i32x4_shl(d[2 * p + 1], 16)))
}
