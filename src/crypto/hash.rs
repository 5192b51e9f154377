//! The content hash Ferry dedupes by: BLAKE2b-512 of the plaintext, with a
//! checkpoint so a long file can be hashed across many short runs.

use super::CryptoError;
use super::blake2b::{Blake2b512, STATE_BYTES};
use super::checkpoint::{self, CheckpointKind};

/// Length of every [`hash_checkpoint`]: a hasher's state is of fixed size,
/// so its checkpoint can follow other bytes and be split off again.
pub const HASH_CHECKPOINT_BYTES: usize = checkpoint::CHECKSUMMED_OVERHEAD + STATE_BYTES;

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
        assert_eq!(cp.len(), HASH_CHECKPOINT_BYTES);
        assert_eq!(hash_resume(&cp).unwrap(), h);
        for i in 0..cp.len() {
            let mut bad = cp.clone();
            bad[i] ^= 0x10;
            assert!(hash_resume(&bad).is_err(), "flip at {i} accepted");
        }
    }
}
