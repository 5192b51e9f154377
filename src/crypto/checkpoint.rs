//! The envelope every checkpoint travels in.
//!
//! `magic "FRY" ‖ version ‖ kind ‖ body`. Stream checkpoints hold the live
//! subkey, so their body is a secretbox sealed under the file key: a stored
//! checkpoint reveals nothing, and one from another key (another stream) or a
//! corrupted one fails authentication instead of silently producing a wrong
//! ciphertext. A hash checkpoint has no key to seal with; it carries a
//! BLAKE2b checksum so corruption is still caught.

use zeroize::Zeroizing;

use super::blake2b::Blake2b512;
use super::secretbox::{self, NONCE_BYTES};
use super::{CryptoError, Key};

const MAGIC: &[u8; 3] = b"FRY";
const VERSION: u8 = 1;
const PREFIX_BYTES: usize = MAGIC.len() + 2;
const CHECKSUM_BYTES: usize = 16;
/// Bytes [`checksummed`] adds to its payload.
pub(crate) const CHECKSUMMED_OVERHEAD: usize = PREFIX_BYTES + CHECKSUM_BYTES;

/// What a checkpoint restores; a checkpoint of one kind never restores another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum CheckpointKind {
    Encryptor = 1,
    Decryptor = 2,
    Hash = 3,
}

pub(crate) fn seal(key: &Key, kind: CheckpointKind, payload: &[u8]) -> Vec<u8> {
    let prefix = prefix(kind);
    // The prefix is bound into the sealed payload so that a checkpoint
    // relabelled as another kind fails to open.
    let mut inner = Zeroizing::new(Vec::with_capacity(PREFIX_BYTES + payload.len()));
    inner.extend_from_slice(&prefix);
    inner.extend_from_slice(payload);
    let (sealed, nonce) = secretbox::seal(key, &inner);
    let mut out = Vec::with_capacity(PREFIX_BYTES + NONCE_BYTES + sealed.len());
    out.extend_from_slice(&prefix);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&sealed);
    out
}

pub(crate) fn open(
    key: &Key,
    kind: CheckpointKind,
    bytes: &[u8],
) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let body = check_prefix(kind, bytes)?;
    if body.len() < NONCE_BYTES + secretbox::MAC_BYTES {
        return Err(CryptoError::BadCheckpoint("too short"));
    }
    let (nonce, sealed) = body.split_at(NONCE_BYTES);
    let mut inner =
        secretbox::open(key, nonce, sealed).map_err(|_| CryptoError::CheckpointMismatch)?;
    if inner.get(..PREFIX_BYTES) != Some(&prefix(kind)[..]) {
        return Err(CryptoError::CheckpointMismatch);
    }
    inner.drain(..PREFIX_BYTES);
    Ok(inner)
}

pub(crate) fn checksummed(kind: CheckpointKind, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(PREFIX_BYTES + payload.len() + CHECKSUM_BYTES);
    out.extend_from_slice(&prefix(kind));
    out.extend_from_slice(payload);
    let sum = Blake2b512::digest(&out);
    out.extend_from_slice(&sum[..CHECKSUM_BYTES]);
    out
}

pub(crate) fn verify_checksum(kind: CheckpointKind, bytes: &[u8]) -> Result<&[u8], CryptoError> {
    check_prefix(kind, bytes)?;
    if bytes.len() < PREFIX_BYTES + CHECKSUM_BYTES {
        return Err(CryptoError::BadCheckpoint("too short"));
    }
    let (content, sum) = bytes.split_at(bytes.len() - CHECKSUM_BYTES);
    if Blake2b512::digest(content)[..CHECKSUM_BYTES] != *sum {
        return Err(CryptoError::BadCheckpoint(
            "checksum mismatch: the checkpoint is corrupt",
        ));
    }
    Ok(&content[PREFIX_BYTES..])
}

fn prefix(kind: CheckpointKind) -> [u8; PREFIX_BYTES] {
    [MAGIC[0], MAGIC[1], MAGIC[2], VERSION, kind as u8]
}

fn check_prefix(kind: CheckpointKind, bytes: &[u8]) -> Result<&[u8], CryptoError> {
    if bytes.len() < PREFIX_BYTES || &bytes[..MAGIC.len()] != MAGIC {
        return Err(CryptoError::BadCheckpoint("not a Ferry checkpoint"));
    }
    if bytes[3] != VERSION {
        return Err(CryptoError::BadCheckpoint("unsupported checkpoint version"));
    }
    if bytes[4] != kind as u8 {
        return Err(match bytes[4] {
            1..=3 => CryptoError::CheckpointMismatch,
            _ => CryptoError::BadCheckpoint("unknown checkpoint kind"),
        });
    }
    Ok(&bytes[PREFIX_BYTES..])
}
