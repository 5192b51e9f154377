//! Single-message secretstream encryption, used for thumbnails and metadata:
//! the whole value is one `TAG_FINAL` message under its own header.

use super::secretstream::{HEADER_BYTES, StreamState, tag};
use super::{CryptoError, EncryptedFile, Key};

pub fn encrypt_message(key: &Key, message: &[u8]) -> EncryptedFile {
    let (mut state, header) = StreamState::init_push(key);
    let mut ciphertext = Vec::new();
    state.push(&mut ciphertext, message, &[], tag::FINAL);
    EncryptedFile { header, ciphertext }
}

pub fn decrypt_message(
    key: &Key,
    header: &[u8],
    ciphertext: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    let mut state = StreamState::init_pull(key, header)?;
    let mut message = Vec::new();
    match state.pull(&mut message, ciphertext, &[]) {
        Ok(tag::FINAL) => Ok(message),
        Ok(_) => Err(CryptoError::Truncated),
        Err(CryptoError::BadChunkLength { .. }) => Err(CryptoError::Truncated),
        Err(e) => Err(e),
    }
}

/// Ensures a header has the right length (the one check a header allows).
pub fn check_header(header: &[u8]) -> Result<(), CryptoError> {
    if header.len() == HEADER_BYTES {
        Ok(())
    } else {
        Err(CryptoError::BadHeader { got: header.len() })
    }
}
