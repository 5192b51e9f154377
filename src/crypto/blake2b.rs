//! BLAKE2b-512 (RFC 7693), unkeyed, equal to libsodium's
//! `crypto_generichash` with a 64-byte output.
//!
//! Written here rather than taken from the `blake2` crate because hashing a
//! 4 GiB video must survive being cut into many 30-second runs: the state has
//! to be serialized between runs, and `blake2` 0.11 deliberately excludes
//! `SerializableState`.

use ferry_primitives::blake2b::{BLOCK_BYTES, IV, compress_blocks, compress_last};
use zeroize::{Zeroize, ZeroizeOnDrop};

use super::CryptoError;

/// Digest length in bytes.
pub const OUTPUT_BYTES: usize = 64;
/// Length of a serialized [`Blake2b512`] state.
pub const STATE_BYTES: usize = 8 * 8 + 16 + 1 + BLOCK_BYTES;

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
            compress_blocks(&mut self.h, &mut self.t, &self.buf);
            self.buf_len = 0;
            // Every whole block but the last, which may be the final one.
            let whole = (data.len() - 1) / BLOCK_BYTES * BLOCK_BYTES;
            let (blocks, rest) = data.split_at(whole);
            compress_blocks(&mut self.h, &mut self.t, blocks);
            data = rest;
        }
        self.buf[self.buf_len..self.buf_len + data.len()].copy_from_slice(data);
        self.buf_len += data.len();
    }

    pub fn finalize(mut self) -> [u8; OUTPUT_BYTES] {
        self.t += self.buf_len as u128;
        self.buf[self.buf_len..].fill(0);
        compress_last(&mut self.h, self.t, &self.buf);
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
        out[80] = u8::try_from(self.buf_len).expect("a held-back block is at most 128 bytes");
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
            *word = u64::from_le_bytes(chunk.try_into().expect("chunks_exact(8)"));
        }
        let t = u128::from_le_bytes(bytes[64..80].try_into().expect("16 bytes"));
        let mut buf = [0u8; BLOCK_BYTES];
        buf.copy_from_slice(&bytes[81..]);
        // Bytes past buf_len must be zero; anything else means corruption.
        if buf[buf_len..].iter().any(|&b| b != 0) || t % BLOCK_BYTES as u128 != 0 {
            return Err(CryptoError::BadCheckpoint("a hash state is corrupt"));
        }
        Ok(Self { h, t, buf, buf_len })
    }
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

    #[cfg(not(target_arch = "wasm32"))]
    proptest::proptest! {
        /// Any split of the input, with a checkpoint at every split, gives
        /// RustCrypto's digest.
        #[test]
        fn matches_rustcrypto_at_any_split(
            data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..1500),
            cuts in proptest::collection::vec(0usize..1500, 0..5),
        ) {
            use blake2::Digest;
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % (data.len() + 1)).collect();
            cuts.sort_unstable();
            let mut h = Blake2b512::new();
            let mut at = 0;
            for cut in cuts.into_iter().chain([data.len()]) {
                h.update(&data[at..cut]);
                h = Blake2b512::from_bytes(&h.to_bytes()).unwrap();
                at = cut;
            }
            proptest::prop_assert_eq!(
                h.finalize().to_vec(),
                blake2::Blake2b512::digest(&data).to_vec()
            );
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
