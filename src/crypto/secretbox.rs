//! `crypto_secretbox_easy` (XSalsa20-Poly1305), byte-compatible with
//! libsodium: output is `mac(16) ‖ ciphertext`. Ferry uses it to wrap file
//! keys under a collection key and to seal checkpoints.

use poly1305::Poly1305;
use poly1305::universal_hash::KeyInit;
use salsa20::XSalsa20;
use salsa20::cipher::{KeyIvInit, StreamCipher};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use super::CryptoError;
use super::key::{KEY_BYTES, Key, random_array};

pub const NONCE_BYTES: usize = 24;
pub const MAC_BYTES: usize = 16;

/// A key sealed under another key, as sent to the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrappedKey {
    pub encrypted_key: Vec<u8>,
    pub nonce: [u8; NONCE_BYTES],
}

/// Seals `message` under `key` with a fresh random nonce.
pub fn seal(key: &Key, message: &[u8]) -> (Vec<u8>, [u8; NONCE_BYTES]) {
    let nonce = random_array::<NONCE_BYTES>();
    (seal_with_nonce(key, &nonce, message), nonce)
}

pub(crate) fn seal_with_nonce(key: &Key, nonce: &[u8; NONCE_BYTES], message: &[u8]) -> Vec<u8> {
    let (mut cipher, mac_key) = start(key, nonce);
    let mut out = Vec::with_capacity(MAC_BYTES + message.len());
    out.extend_from_slice(&[0u8; MAC_BYTES]);
    out.extend_from_slice(message);
    cipher.apply_keystream(&mut out[MAC_BYTES..]);
    let mac = Poly1305::new(&(*mac_key).into()).compute_unpadded(&out[MAC_BYTES..]);
    out[..MAC_BYTES].copy_from_slice(&mac);
    out
}

/// Opens a box made by [`seal`] or by libsodium's `crypto_secretbox_easy`.
pub fn open(key: &Key, nonce: &[u8], sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let nonce: &[u8; NONCE_BYTES] = nonce.try_into().map_err(|_| CryptoError::BadNonceLength {
        expected: NONCE_BYTES,
        got: nonce.len(),
    })?;
    if sealed.len() < MAC_BYTES {
        return Err(CryptoError::DecryptFailed);
    }
    let (mut cipher, mac_key) = start(key, nonce);
    let (mac, ciphertext) = sealed.split_at(MAC_BYTES);
    let expected = Poly1305::new(&(*mac_key).into()).compute_unpadded(ciphertext);
    if !bool::from(expected.as_slice().ct_eq(mac)) {
        return Err(CryptoError::DecryptFailed);
    }
    let mut out = Zeroizing::new(ciphertext.to_vec());
    cipher.apply_keystream(&mut out);
    Ok(out)
}

/// Wraps a 32-byte key (a file key under a collection key).
pub fn wrap_key(key: &Key, wrapping_key: &Key) -> WrappedKey {
    let (encrypted_key, nonce) = seal(wrapping_key, key.as_bytes());
    WrappedKey {
        encrypted_key,
        nonce,
    }
}

pub fn unwrap_key(
    encrypted_key: &[u8],
    nonce: &[u8],
    wrapping_key: &Key,
) -> Result<Key, CryptoError> {
    let bytes = open(wrapping_key, nonce, encrypted_key)?;
    Key::from_slice(&bytes)
}

/// The cipher positioned after the first 32 keystream bytes, which become the
/// one-time Poly1305 key (libsodium's layout).
fn start(key: &Key, nonce: &[u8; NONCE_BYTES]) -> (XSalsa20, Zeroizing<[u8; KEY_BYTES]>) {
    let mut cipher = XSalsa20::new(key.as_bytes().into(), nonce.into());
    let mut mac_key = Zeroizing::new([0u8; KEY_BYTES]);
    cipher.apply_keystream(mac_key.as_mut());
    (cipher, mac_key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_round_trip_and_tamper() {
        let key = Key::generate();
        let kek = Key::generate();
        let wrapped = wrap_key(&key, &kek);
        assert_eq!(wrapped.encrypted_key.len(), KEY_BYTES + MAC_BYTES);
        assert_eq!(
            unwrap_key(&wrapped.encrypted_key, &wrapped.nonce, &kek).unwrap(),
            key
        );
        let mut bad = wrapped.encrypted_key.clone();
        bad[20] ^= 0x80;
        assert_eq!(
            unwrap_key(&bad, &wrapped.nonce, &kek),
            Err(CryptoError::DecryptFailed)
        );
        assert_eq!(
            unwrap_key(&wrapped.encrypted_key, &wrapped.nonce, &Key::generate()),
            Err(CryptoError::DecryptFailed)
        );
        assert!(matches!(
            unwrap_key(&wrapped.encrypted_key, &wrapped.nonce[..23], &kek),
            Err(CryptoError::BadNonceLength { .. })
        ));
        let (short, nonce) = seal(&kek, b"not a key");
        assert_eq!(
            unwrap_key(&short, &nonce, &kek),
            Err(CryptoError::BadKeyLength { got: 9 })
        );
    }

    #[test]
    fn open_refuses_boxes_shorter_than_a_mac() {
        let key = Key::generate();
        assert_eq!(
            open(&key, &[0u8; 24], &[0u8; 15]),
            Err(CryptoError::DecryptFailed)
        );
    }
}
