//! The content hash Ferry dedupes by: BLAKE2b-512 of the plaintext, with a
//! checkpoint so a long file can be hashed across many short runs.

use super::CryptoError;
use super::blake2b::Blake2b512;
use super::checkpoint::{self, CheckpointKind};

/// Checkpoint bytes of a hasher (not key material, but the engine stores it
/// wrapped anyway since it is derived from the plaintext).
pub fn hash_checkpoint(hasher: &Blake2b512) -> Vec<u8> {
    checkpoint::checksummed(CheckpointKind::Hash, &hasher.to_bytes())
}

pub fn hash_resume(bytes: &[u8]) -> Result<Blake2b512, CryptoError> {
    Blake2b512::from_bytes(checkpoint::verify_checksum(CheckpointKind::Hash, bytes)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoint_round_trip_and_corruption() {
        let mut h = Blake2b512::new();
        h.update(&[7u8; 300]);
        let cp = hash_checkpoint(&h);
        assert_eq!(hash_resume(&cp).unwrap(), h);
        for i in 0..cp.len() {
            let mut bad = cp.clone();
            bad[i] ^= 0x10;
            assert!(hash_resume(&bad).is_err(), "flip at {i} accepted");
        }
    }
}
