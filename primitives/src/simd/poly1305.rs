//! Poly1305 four blocks at a time in WebAssembly SIMD128.
//!
//! Lane j of each i32x4 holds one 26-bit limb of accumulator j, which takes
//! every fourth block: with r⁴ as the multiplier,
//!
//! h' = (h + m₁)·r⁴ + m₂·r³ + m₃·r² + m₄·r over each run's last four
//! blocks, and (acc + m)·r⁴ before that, so lane j ends multiplied by
//! r^(4−j) and the sum of the lanes is exactly what one block at a time
//! gives. Products are `u64x2_extmul_{low,high}_u32x4`: 26×26-bit limbs
//! (times 5 for the wrap around 2^130 − 5) summed five at a time stay far
//! below 2^64. No data-dependent branch or index anywhere.

use core::arch::wasm32::{
    i32x4_shuffle, i64x2_shuffle, u32x4, u32x4_add, u32x4_extract_lane, u32x4_shl, u32x4_shr,
    u32x4_splat, u64x2_add, u64x2_extmul_high_u32x4, u64x2_extmul_low_u32x4, u64x2_shr,
    u64x2_splat, v128, v128_and, v128_or,
};
use zeroize::Zeroize;

use super::load;
use crate::poly1305::{HIBIT, MASK26, carry, mul};

/// Bytes one pass takes: four blocks.
pub(crate) const WIDE_BYTES: usize = 64;
/// Below this, setting up the lanes (r², r³ and r⁴ among them) costs more
/// than it saves.
pub(crate) const MIN_BYTES: usize = 256;

/// The multipliers as vectors' lanes, limb by limb, each beside five times
/// itself: r⁴ in every lane for the body, and r⁴, r³, r², r for the last
/// step.
///
/// They are read from memory in [`run`], never built there from a
/// scalar: LLVM would turn a product with a known splat into `i64x2.mul`,
/// which engines emulate with three multiplications, instead of
/// `i64x2.extmul`.
#[derive(Zeroize)]
struct Powers {
    body: [[u32; 4]; 10],
    last: [[u32; 4]; 10],
}

impl Powers {
    fn new(r: &[u32; 5]) -> Self {
        let r2 = mul(r, r);
        let r3 = mul(&r2, r);
        let r4 = mul(&r3, r);
        let mut body = [[0u32; 4]; 10];
        let mut last = [[0u32; 4]; 10];
        for k in 0..5 {
            body[k] = [r4[k]; 4];
            body[5 + k] = [r4[k] * 5; 4];
            last[k] = [r4[k], r3[k], r2[k], r[k]];
            last[5 + k] = last[k].map(|x| x * 5);
        }
        Self { body, last }
    }
}

fn vectors(limbs: &[[u32; 4]; 10]) -> ([v128; 5], [v128; 5]) {
    let v = limbs.map(|l| u32x4(l[0], l[1], l[2], l[3]));
    (
        [v[0], v[1], v[2], v[3], v[4]],
        [v[5], v[6], v[7], v[8], v[9]],
    )
}

/// `h` advanced over `data`, a whole number (at least one) of four-block
/// groups, all of them whole blocks.
pub(crate) fn blocks(h: &mut [u32; 5], r: &[u32; 5], data: &[u8]) {
    if data.len() < WIDE_BYTES {
        return;
    }
    let mut powers = Powers::new(r);
    run(h, &powers, data);
    powers.zeroize();
}

#[inline(never)]
fn run(h: &mut [u32; 5], powers: &Powers, data: &[u8]) {
    let (body, last) = data.split_at(data.len() - WIDE_BYTES);
    let (r, s) = vectors(&powers.body);
    let mut acc = h.map(|x| u32x4(x, 0, 0, 0));
    for group in body.chunks_exact(WIDE_BYTES) {
        // Hidden from the optimiser at every step, or it widens r⁴ once
        // before the loop, and a product of widened values can no longer be
        // `extmul`: it becomes `i64x2.mul`, three multiplications in V8.
        let (r, s) = core::hint::black_box((r, s));
        acc = multiply(&add(&acc, &message(group)), &r, &s);
    }
    let (r, s) = vectors(&powers.last);
    let acc = multiply(&add(&acc, &message(last)), &r, &s);
    // Each lane's limbs are below 2^27, so their sum fits easily.
    let sum = acc.map(|v| {
        u64::from(u32x4_extract_lane::<0>(v))
            + u64::from(u32x4_extract_lane::<1>(v))
            + u64::from(u32x4_extract_lane::<2>(v))
            + u64::from(u32x4_extract_lane::<3>(v))
    });
    *h = carry(sum);
}

#[inline(always)]
fn add(a: &[v128; 5], b: &[v128; 5]) -> [v128; 5] {
    [
        u32x4_add(a[0], b[0]),
        u32x4_add(a[1], b[1]),
        u32x4_add(a[2], b[2]),
        u32x4_add(a[3], b[3]),
        u32x4_add(a[4], b[4]),
    ]
}

/// Four blocks as five limb vectors, lane j from block j.
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
    [
        v128_and(w0, mask),
        v128_and(v128_or(u32x4_shr(w0, 26), u32x4_shl(w1, 6)), mask),
        v128_and(v128_or(u32x4_shr(w1, 20), u32x4_shl(w2, 12)), mask),
        v128_and(v128_or(u32x4_shr(w2, 14), u32x4_shl(w3, 18)), mask),
        v128_or(u32x4_shr(w3, 8), u32x4_splat(HIBIT)),
    ]
}

/// Lane-wise `a · r mod 2^130 − 5`, partly reduced (as `poly1305::mul`);
/// `s[k]` is `5 · r[k]` (`s[0]` unused).
#[inline(always)]
fn multiply(a: &[v128; 5], r: &[v128; 5], s: &[v128; 5]) -> [v128; 5] {
    let [a0, a1, a2, a3, a4] = *a;
    let [r0, r1, r2, r3, r4] = *r;
    let [_, s1, s2, s3, s4] = *s;
    let d = [
        dot([(a0, r0), (a1, s4), (a2, s3), (a3, s2), (a4, s1)]),
        dot([(a0, r1), (a1, r0), (a2, s4), (a3, s3), (a4, s2)]),
        dot([(a0, r2), (a1, r1), (a2, r0), (a3, s4), (a4, s3)]),
        dot([(a0, r3), (a1, r2), (a2, r1), (a3, r0), (a4, s4)]),
        dot([(a0, r4), (a1, r3), (a2, r2), (a3, r1), (a4, r0)]),
    ];
    let low = carry_lanes(d.map(|(low, _)| low));
    let high = carry_lanes(d.map(|(_, high)| high));
    // Back to 32-bit lanes: every limb now fits.
    [
        i32x4_shuffle::<0, 2, 4, 6>(low[0], high[0]),
        i32x4_shuffle::<0, 2, 4, 6>(low[1], high[1]),
        i32x4_shuffle::<0, 2, 4, 6>(low[2], high[2]),
        i32x4_shuffle::<0, 2, 4, 6>(low[3], high[3]),
        i32x4_shuffle::<0, 2, 4, 6>(low[4], high[4]),
    ]
}

/// Σ x·y over the pairs, lanes 0‥1 and 2‥3 widened to 64 bits apart.
#[inline(always)]
fn dot(terms: [(v128, v128); 5]) -> (v128, v128) {
    let mut low = u64x2_splat(0);
    let mut high = u64x2_splat(0);
    for (x, y) in terms {
        low = u64x2_add(low, u64x2_extmul_low_u32x4(x, y));
        high = u64x2_add(high, u64x2_extmul_high_u32x4(x, y));
    }
    (low, high)
}

/// `poly1305::carry` on two lanes of 64-bit limb sums.
#[inline(always)]
fn carry_lanes(d: [v128; 5]) -> [v128; 5] {
    let mask = u64x2_splat(u64::from(MASK26));
    let [d0, mut d1, mut d2, mut d3, mut d4] = d;
    d1 = u64x2_add(d1, u64x2_shr(d0, 26));
    d2 = u64x2_add(d2, u64x2_shr(d1, 26));
    d3 = u64x2_add(d3, u64x2_shr(d2, 26));
    d4 = u64x2_add(d4, u64x2_shr(d3, 26));
    // The carry out of the top limb re-enters times 5, as top + 4·top with
    // 4·top taken straight from d4: written as a shift and an add, LLVM
    // folds it into a multiplication by 5, which is `i64x2.mul`, emulated.
    let top = u64x2_shr(d4, 26);
    let top4 = v128_and(u64x2_shr(d4, 24), u64x2_splat(!3));
    let h0 = u64x2_add(v128_and(d0, mask), u64x2_add(top, top4));
    [
        v128_and(h0, mask),
        u64x2_add(v128_and(d1, mask), u64x2_shr(h0, 26)),
        v128_and(d2, mask),
        v128_and(d3, mask),
        v128_and(d4, mask),
    ]
}
