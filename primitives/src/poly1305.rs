//! Poly1305 (RFC 8439), the one-time authenticator of secretstream and
//! secretbox.
//!
//! The accumulator is five 26-bit limbs, so every product fits a u64 (wasm
//! has no 64×64→128 multiply). Where the build enables SIMD128, long runs of
//! blocks go four at a time through `simd::poly1305` (13-bit limbs there);
//! the result is the same number. Nothing branches on or indexes by secret data: the final
//! reduction selects with masks.

use zeroize::{Zeroize, ZeroizeOnDrop};

/// Bytes of one Poly1305 block.
pub const BLOCK_BYTES: usize = 16;
/// Bytes of a tag.
pub const TAG_BYTES: usize = 16;

pub(crate) const MASK26: u32 = 0x03ff_ffff;
/// The 2^128 bit every whole block carries, in limb 4.
pub(crate) const HIBIT: u32 = 1 << 24;

/// A streaming Poly1305 under one 32-byte one-time key.
///
/// `update` may be called with any split of the message; the tag depends only
/// on the bytes fed in. Key material and the accumulator are wiped on drop.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct Poly1305 {
    r: [u32; 5],
    pad: [u32; 4],
    h: [u32; 5],
    buf: [u8; BLOCK_BYTES],
    buf_len: usize,
    /// The SIMD path's multipliers (powers of r), made on its first use and
    /// kept for the key's other updates: secretstream feeds a 4 MiB chunk
    /// in 16 KiB slices, and making them for each slice cost a tenth of the
    /// time.
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    powers: crate::simd::poly1305::Powers,
}

impl core::fmt::Debug for Poly1305 {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Poly1305(..)")
    }
}

impl Poly1305 {
    pub fn new(key: &[u8; 32]) -> Self {
        let w = |i: usize| le_u32(&key[i..]);
        // r clamped as the RFC says (r &= 0x0ffffffc0ffffffc0ffffffc0fffffff),
        // split into 26-bit limbs.
        let r = [
            w(0) & 0x03ff_ffff,
            (w(3) >> 2) & 0x03ff_ff03,
            (w(6) >> 4) & 0x03ff_c0ff,
            (w(9) >> 6) & 0x03f0_3fff,
            (w(12) >> 8) & 0x000f_ffff,
        ];
        Self {
            r,
            pad: [w(16), w(20), w(24), w(28)],
            h: [0; 5],
            buf: [0; BLOCK_BYTES],
            buf_len: 0,
            #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
            powers: Default::default(),
        }
    }

    /// Feeds message bytes.
    pub fn update(&mut self, data: &[u8]) {
        let rest = self.fill_buffer(data);
        let whole = rest.len() - rest.len() % BLOCK_BYTES;
        let (blocks, tail) = rest.split_at(whole);
        #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
        let blocks = {
            use crate::simd::poly1305 as simd;
            let wide = blocks.len() - blocks.len() % simd::WIDE_BYTES;
            if wide >= simd::MIN_BYTES {
                let powers = self.powers.of(&self.r);
                simd::blocks(&mut self.h, powers, &blocks[..wide]);
                &blocks[wide..]
            } else {
                blocks
            }
        };
        blocks_portable(&mut self.h, &self.r, blocks, HIBIT);
        self.keep(tail);
    }

    /// [`update`](Self::update) on the portable code alone, so that tests can
    /// hold the SIMD path against it on wasm.
    pub fn update_portable(&mut self, data: &[u8]) {
        let rest = self.fill_buffer(data);
        let whole = rest.len() - rest.len() % BLOCK_BYTES;
        blocks_portable(&mut self.h, &self.r, &rest[..whole], HIBIT);
        self.keep(&rest[whole..]);
    }

    /// Holds back a partial block. Only ever called with bytes when the
    /// buffer is empty: `fill_buffer` returns data only once it has flushed
    /// the buffer.
    fn keep(&mut self, tail: &[u8]) {
        if !tail.is_empty() {
            self.buf[..tail.len()].copy_from_slice(tail);
            self.buf_len = tail.len();
        }
    }

    /// Tops up a partly filled block and compresses it once full; returns
    /// the data left over.
    fn fill_buffer<'a>(&mut self, data: &'a [u8]) -> &'a [u8] {
        if self.buf_len == 0 {
            return data;
        }
        let take = data.len().min(BLOCK_BYTES - self.buf_len);
        self.buf[self.buf_len..self.buf_len + take].copy_from_slice(&data[..take]);
        self.buf_len += take;
        if self.buf_len == BLOCK_BYTES {
            let block = self.buf;
            blocks_portable(&mut self.h, &self.r, &block, HIBIT);
            self.buf_len = 0;
        }
        &data[take..]
    }

    /// The tag: a final partial block is padded with 0x01 and zeros (and no
    /// 2^128 bit), then `h + s mod 2^128`.
    pub fn finalize(mut self) -> [u8; TAG_BYTES] {
        if self.buf_len > 0 {
            let mut block = [0u8; BLOCK_BYTES];
            block[..self.buf_len].copy_from_slice(&self.buf[..self.buf_len]);
            block[self.buf_len] = 1;
            blocks_portable(&mut self.h, &self.r, &block, 0);
        }
        let h = reduce_final(&self.h);
        // Back to four 32-bit words, then add s with carries.
        let words = [
            h[0] | (h[1] << 26),
            (h[1] >> 6) | (h[2] << 20),
            (h[2] >> 12) | (h[3] << 14),
            (h[3] >> 18) | (h[4] << 8),
        ];
        let mut tag = [0u8; TAG_BYTES];
        let mut carry = 0u64;
        for ((out, word), pad) in tag.chunks_exact_mut(4).zip(words).zip(self.pad) {
            let sum = u64::from(word) + u64::from(pad) + carry;
            out.copy_from_slice(&(sum as u32).to_le_bytes());
            carry = sum >> 32;
        }
        tag
    }

    /// One-shot tag of `data`.
    pub fn mac(key: &[u8; 32], data: &[u8]) -> [u8; TAG_BYTES] {
        let mut poly = Self::new(key);
        poly.update(data);
        poly.finalize()
    }
}

/// `h = (h + m) · r` for each 16-byte block of `data` (a multiple of 16
/// bytes), `hibit` added to every block.
fn blocks_portable(h: &mut [u32; 5], r: &[u32; 5], data: &[u8], hibit: u32) {
    let mut acc = *h;
    for block in data.chunks_exact(BLOCK_BYTES) {
        acc[0] += le_u32(block) & MASK26;
        acc[1] += (le_u32(&block[3..]) >> 2) & MASK26;
        acc[2] += (le_u32(&block[6..]) >> 4) & MASK26;
        acc[3] += (le_u32(&block[9..]) >> 6) & MASK26;
        acc[4] += (le_u32(&block[12..]) >> 8) | hibit;
        acc = mul(&acc, r);
    }
    *h = acc;
}

/// `a · r mod 2^130 − 5`, partly reduced: every limb below 2^26 but the
/// second, which may reach 2^26 + 63.
#[inline(always)]
pub(crate) fn mul(a: &[u32; 5], r: &[u32; 5]) -> [u32; 5] {
    let m = |x: u32, y: u32| u64::from(x) * u64::from(y);
    let [r0, r1, r2, r3, r4] = *r;
    let (s1, s2, s3, s4) = (r1 * 5, r2 * 5, r3 * 5, r4 * 5);
    let [a0, a1, a2, a3, a4] = *a;
    let d0 = m(a0, r0) + m(a1, s4) + m(a2, s3) + m(a3, s2) + m(a4, s1);
    let d1 = m(a0, r1) + m(a1, r0) + m(a2, s4) + m(a3, s3) + m(a4, s2);
    let d2 = m(a0, r2) + m(a1, r1) + m(a2, r0) + m(a3, s4) + m(a4, s3);
    let d3 = m(a0, r3) + m(a1, r2) + m(a2, r1) + m(a3, r0) + m(a4, s4);
    let d4 = m(a0, r4) + m(a1, r3) + m(a2, r2) + m(a3, r1) + m(a4, r0);
    carry([d0, d1, d2, d3, d4])
}

/// One carry pass over 64-bit limb sums, the top carry folded back times 5.
#[inline(always)]
pub(crate) fn carry(d: [u64; 5]) -> [u32; 5] {
    let mask = u64::from(MASK26);
    let [d0, mut d1, mut d2, mut d3, mut d4] = d;
    d1 += d0 >> 26;
    d2 += d1 >> 26;
    d3 += d2 >> 26;
    d4 += d3 >> 26;
    let h0 = (d0 & mask) + (d4 >> 26) * 5;
    [
        (h0 & mask) as u32,
        ((d1 & mask) + (h0 >> 26)) as u32,
        (d2 & mask) as u32,
        (d3 & mask) as u32,
        (d4 & mask) as u32,
    ]
}

/// The unique representative of `h` below 2^130 − 5, in constant time.
fn reduce_final(h: &[u32; 5]) -> [u32; 5] {
    let [mut h0, mut h1, mut h2, mut h3, mut h4] = *h;
    // Full carry: every limb below 2^26.
    h2 += h1 >> 26;
    h1 &= MASK26;
    h3 += h2 >> 26;
    h2 &= MASK26;
    h4 += h3 >> 26;
    h3 &= MASK26;
    h0 += (h4 >> 26) * 5;
    h4 &= MASK26;
    h1 += h0 >> 26;
    h0 &= MASK26;
    // g = h + 5 − 2^130: non-negative exactly when h ≥ p.
    let g0 = h0 + 5;
    let g1 = h1 + (g0 >> 26);
    let g2 = h2 + (g1 >> 26);
    let g3 = h3 + (g2 >> 26);
    let g4 = (h4 + (g3 >> 26)).wrapping_sub(1 << 26);
    // All ones when g is non-negative (keep g), zero otherwise (keep h).
    let keep_g = (g4 >> 31).wrapping_sub(1);
    let pick = |g: u32, h: u32| (g & keep_g) | (h & !keep_g);
    [
        pick(g0 & MASK26, h0),
        pick(g1 & MASK26, h1),
        pick(g2 & MASK26, h2),
        pick(g3 & MASK26, h3),
        pick(g4, h4),
    ]
}

pub(crate) fn le_u32(bytes: &[u8]) -> u32 {
    crate::chacha::le_u32(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unhex(text: &str) -> Vec<u8> {
        (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
            .collect()
    }

    /// RFC 8439, section 2.5.2.
    #[test]
    fn rfc8439_vector() {
        let key: [u8; 32] =
            unhex("85d6be7857556d337f4452fe42d506a80103808afb0db2fd4abff6af4149f51b")
                .try_into()
                .unwrap();
        let tag = Poly1305::mac(&key, b"Cryptographic Forum Research Group");
        assert_eq!(tag.to_vec(), unhex("a8061dc1305136c6c22b8baf0c0127a9"));
    }

    /// RFC 8439, appendix A.3, test vector #6: the accumulator wraps past
    /// 2^130 − 5 and only its low 128 bits count.
    #[test]
    fn reduction_edge_case() {
        let mut key = [0u8; 32];
        key[0] = 2;
        let data = [0xffu8; 16];
        assert_eq!(
            Poly1305::mac(&key, &data).to_vec(),
            unhex("03000000000000000000000000000000")
        );
    }
}
