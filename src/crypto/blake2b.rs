//! BLAKE2b-512 (RFC 7693), unkeyed, equal to libsodium's
//! `crypto_generichash` with a 64-byte output.
//!
//! Written here rather than taken from the `blake2` crate because hashing a
//! 4 GiB video must survive being cut into many 30-second runs: the state has
//! to be serialized between runs, and `blake2` 0.11 deliberately excludes
//! `SerializableState`.

use zeroize::{Zeroize, ZeroizeOnDrop};

use super::CryptoError;

/// Digest length in bytes.
pub const OUTPUT_BYTES: usize = 64;
/// Length of a serialized [`Blake2b512`] state.
pub const STATE_BYTES: usize = 8 * 8 + 16 + 1 + BLOCK_BYTES;

const BLOCK_BYTES: usize = 128;
const IV: [u64; 8] = [
    0x6a09_e667_f3bc_c908,
    0xbb67_ae85_84ca_a73b,
    0x3c6e_f372_fe94_f82b,
    0xa54f_f53a_5f1d_36f1,
    0x510e_527f_ade6_82d1,
    0x9b05_688c_2b3e_6c1f,
    0x1f83_d9ab_fb41_bd6b,
    0x5be0_cd19_137e_2179,
];
const SIGMA: [[usize; 16]; 12] = [
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

/// A streaming BLAKE2b-512 hasher whose state can be saved and restored.
///
/// The last block is held back (even when full) because BLAKE2b compresses
/// the final block differently, and only `finalize` knows which one is last.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct Blake2b512 {
    h: [u64; 8],
    /// Bytes compressed so far (RFC 7693's `t`).
    t: u128,
    buf: [u8; BLOCK_BYTES],
    buf_len: usize,
}

impl core::fmt::Debug for Blake2b512 {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Blake2b512")
            .field("bytes", &self.bytes_hashed())
            .finish_non_exhaustive()
    }
}

// Bytes of `buf` past `buf_len` are stale leftovers and do not count.
impl PartialEq for Blake2b512 {
    fn eq(&self, other: &Self) -> bool {
        self.to_bytes() == other.to_bytes()
    }
}

impl Eq for Blake2b512 {}

impl Default for Blake2b512 {
    fn default() -> Self {
        Self::new()
    }
}

impl Blake2b512 {
    pub fn new() -> Self {
        let mut h = IV;
        // Parameter block: digest length 64, no key, fanout 1, depth 1.
        h[0] ^= 0x0101_0000 ^ OUTPUT_BYTES as u64;
        Self {
            h,
            t: 0,
            buf: [0u8; BLOCK_BYTES],
            buf_len: 0,
        }
    }

    /// One-shot digest.
    pub fn digest(data: &[u8]) -> [u8; OUTPUT_BYTES] {
        let mut hasher = Self::new();
        hasher.update(data);
        hasher.finalize()
    }

    pub fn update(&mut self, mut data: &[u8]) {
        if data.is_empty() {
            return;
        }
        // Fill the held-back block; compress it only once more data follows.
        let room = BLOCK_BYTES - self.buf_len;
        if data.len() > room {
            self.buf[self.buf_len..].copy_from_slice(&data[..room]);
            data = &data[room..];
            self.t += BLOCK_BYTES as u128;
            let block = self.buf;
            self.compress(&block, false);
            self.buf_len = 0;
            while data.len() > BLOCK_BYTES {
                let (block, rest) = data.split_at(BLOCK_BYTES);
                self.t += BLOCK_BYTES as u128;
                self.compress(block, false);
                data = rest;
            }
        }
        self.buf[self.buf_len..self.buf_len + data.len()].copy_from_slice(data);
        self.buf_len += data.len();
    }

    pub fn finalize(mut self) -> [u8; OUTPUT_BYTES] {
        self.t += self.buf_len as u128;
        self.buf[self.buf_len..].fill(0);
        let block = self.buf;
        self.compress(&block, true);
        let mut out = [0u8; OUTPUT_BYTES];
        for (chunk, word) in out.chunks_exact_mut(8).zip(self.h) {
            chunk.copy_from_slice(&word.to_le_bytes());
        }
        out
    }

    /// How many bytes have been fed in.
    pub fn bytes_hashed(&self) -> u64 {
        // No file reaches 16 EiB; saturate rather than wrap if one ever did.
        u64::try_from(self.t)
            .unwrap_or(u64::MAX)
            .saturating_add(self.buf_len as u64)
    }

    /// The complete state: chaining value, counter, and held-back block.
    pub fn to_bytes(&self) -> [u8; STATE_BYTES] {
        let mut out = [0u8; STATE_BYTES];
        for (chunk, word) in out[..64].chunks_exact_mut(8).zip(self.h) {
            chunk.copy_from_slice(&word.to_le_bytes());
        }
        out[64..80].copy_from_slice(&self.t.to_le_bytes());
        out[80] = u8::try_from(self.buf_len).unwrap_or(u8::MAX); // always 0..=128
        out[81..81 + self.buf_len].copy_from_slice(&self.buf[..self.buf_len]);
        out
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CryptoError> {
        let bytes: &[u8; STATE_BYTES] = bytes
            .try_into()
            .map_err(|_| CryptoError::BadCheckpoint("a hash state has the wrong length"))?;
        let buf_len = usize::from(bytes[80]);
        if buf_len > BLOCK_BYTES {
            return Err(CryptoError::BadCheckpoint("a hash state is corrupt"));
        }
        let mut h = [0u64; 8];
        for (word, chunk) in h.iter_mut().zip(bytes[..64].chunks_exact(8)) {
            *word = u64::from_le_bytes(chunk.try_into().unwrap_or_default());
        }
        let t = u128::from_le_bytes(bytes[64..80].try_into().unwrap_or_default());
        let mut buf = [0u8; BLOCK_BYTES];
        buf.copy_from_slice(&bytes[81..]);
        // Bytes past buf_len must be zero; anything else means corruption.
        if buf[buf_len..].iter().any(|&b| b != 0) || t % BLOCK_BYTES as u128 != 0 {
            return Err(CryptoError::BadCheckpoint("a hash state is corrupt"));
        }
        Ok(Self { h, t, buf, buf_len })
    }

    fn compress(&mut self, block: &[u8], last: bool) {
        let mut m = [0u64; 16];
        for (word, chunk) in m.iter_mut().zip(block.chunks_exact(8)) {
            let mut bytes = [0u8; 8];
            bytes.copy_from_slice(chunk);
            *word = u64::from_le_bytes(bytes);
        }
        let mut v = [0u64; 16];
        v[..8].copy_from_slice(&self.h);
        v[8..].copy_from_slice(&IV);
        let t = self.t.to_le_bytes();
        v[12] ^= u64::from_le_bytes(t[..8].try_into().unwrap_or_default());
        v[13] ^= u64::from_le_bytes(t[8..].try_into().unwrap_or_default());
        if last {
            v[14] = !v[14];
        }
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
        for i in 0..8 {
            self.h[i] ^= v[i] ^ v[i + 8];
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn rfc7693_abc() {
        assert_eq!(
            hex(&Blake2b512::digest(b"abc")),
            "ba80a53f981c4d0d6a2797b69f12f6e94c212f14685ac4b74b12bb6fdbffa2d1\
             7d87c5392aab792dc252d5de4533cc9518d38aa8dbf1925ab92386edd4009923"
        );
    }

    #[test]
    fn split_points_do_not_change_the_digest() {
        let data: Vec<u8> = (0..1000u32).map(|i| (i * 7 % 251) as u8).collect();
        let whole = Blake2b512::digest(&data);
        for split in [0, 1, 127, 128, 129, 256, 999, 1000] {
            let mut h = Blake2b512::new();
            h.update(&data[..split]);
            let restored = Blake2b512::from_bytes(&h.to_bytes()).unwrap();
            assert_eq!(restored, h);
            let mut h = restored;
            h.update(&data[split..]);
            assert_eq!(h.bytes_hashed(), 1000);
            assert_eq!(h.finalize(), whole, "split at {split}");
        }
    }

    #[test]
    fn corrupt_states_are_refused() {
        let mut h = Blake2b512::new();
        h.update(b"hello");
        let good = h.to_bytes();
        assert!(Blake2b512::from_bytes(&good[..10]).is_err());
        let mut bad = good;
        bad[80] = 200;
        assert!(Blake2b512::from_bytes(&bad).is_err());
        let mut bad = good;
        bad[STATE_BYTES - 1] = 1;
        assert!(Blake2b512::from_bytes(&bad).is_err());
    }
}
