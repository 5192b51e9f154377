//! The BLAKE2b compression function (RFC 7693). The streaming hasher, its
//! parameters and its serialisable state live in the file format; this is
//! only the part that runs per 128-byte block.
//!
//! Where the build enables SIMD128, `simd::blake2b` computes the four G
//! functions of each step side by side; the portable code here is what runs
//! everywhere else, and what tests hold the SIMD path against.

/// Bytes of one block.
pub const BLOCK_BYTES: usize = 128;

/// The initialisation vector (the SHA-512 IV).
pub const IV: [u64; 8] = [
    0x6a09_e667_f3bc_c908,
    0xbb67_ae85_84ca_a73b,
    0x3c6e_f372_fe94_f82b,
    0xa54f_f53a_5f1d_36f1,
    0x510e_527f_ade6_82d1,
    0x9b05_688c_2b3e_6c1f,
    0x1f83_d9ab_fb41_bd6b,
    0x5be0_cd19_137e_2179,
];

pub(crate) const SIGMA: [[usize; 16]; 12] = [
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15],
    [14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3],
    [11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, 4],
    [7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, 8],
    [9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3, 13],
    [2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, 9],
    [12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8, 11],
    [13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2, 10],
    [6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, 5],
    [10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, 0],
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15],
    [14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3],
];

/// Compresses each 128-byte block of `blocks` (a whole number of them) as
/// a block that is not the last, adding 128 to the byte counter `t` first.
pub fn compress_blocks(h: &mut [u64; 8], t: &mut u128, blocks: &[u8]) {
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    crate::simd::blake2b::compress_blocks(h, t, blocks);
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    for block in blocks.chunks_exact(BLOCK_BYTES) {
        *t += BLOCK_BYTES as u128;
        compress_portable(h, block, *t, false);
    }
}

/// Compresses the last block (zero-padded; `t` already counts its bytes).
pub fn compress_last(h: &mut [u64; 8], t: u128, block: &[u8; BLOCK_BYTES]) {
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    crate::simd::blake2b::compress_last(h, t, block);
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    compress_portable(h, block, t, true);
}

/// The portable compression of one block (the first 128 bytes of `block`),
/// public so that tests can hold the SIMD path against it on wasm.
pub fn compress_portable(h: &mut [u64; 8], block: &[u8], t: u128, last: bool) {
    let mut m = [0u64; 16];
    for (word, chunk) in m.iter_mut().zip(block[..BLOCK_BYTES].chunks_exact(8)) {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(chunk);
        *word = u64::from_le_bytes(bytes);
    }
    let mut v = [0u64; 16];
    v[..8].copy_from_slice(h);
    v[8..].copy_from_slice(&IV);
    v[12] ^= t as u64;
    v[13] ^= (t >> 64) as u64;
    // All ones for the last block, without a branch.
    v[14] ^= u64::from(last).wrapping_neg();
    for s in &SIGMA {
        g(&mut v, 0, 4, 8, 12, m[s[0]], m[s[1]]);
        g(&mut v, 1, 5, 9, 13, m[s[2]], m[s[3]]);
        g(&mut v, 2, 6, 10, 14, m[s[4]], m[s[5]]);
        g(&mut v, 3, 7, 11, 15, m[s[6]], m[s[7]]);
        g(&mut v, 0, 5, 10, 15, m[s[8]], m[s[9]]);
        g(&mut v, 1, 6, 11, 12, m[s[10]], m[s[11]]);
        g(&mut v, 2, 7, 8, 13, m[s[12]], m[s[13]]);
        g(&mut v, 3, 4, 9, 14, m[s[14]], m[s[15]]);
    }
    for (i, word) in h.iter_mut().enumerate() {
        *word ^= v[i] ^ v[i + 8];
    }
}

#[inline(always)]
fn g(v: &mut [u64; 16], a: usize, b: usize, c: usize, d: usize, x: u64, y: u64) {
    v[a] = v[a].wrapping_add(v[b]).wrapping_add(x);
    v[d] = (v[d] ^ v[a]).rotate_right(32);
    v[c] = v[c].wrapping_add(v[d]);
    v[b] = (v[b] ^ v[c]).rotate_right(24);
    v[a] = v[a].wrapping_add(v[b]).wrapping_add(y);
    v[d] = (v[d] ^ v[a]).rotate_right(16);
    v[c] = v[c].wrapping_add(v[d]);
    v[b] = (v[b] ^ v[c]).rotate_right(63);
}
