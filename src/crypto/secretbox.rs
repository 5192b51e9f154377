//! `crypto_secretbox_easy` (XSalsa20-Poly1305), byte-compatible with
//! libsodium: output is `mac(16) ‖ ciphertext`. Ferry uses it to wrap file
//! keys under a collection key and to seal checkpoints.

use ferry_primitives::Poly1305;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use super::CryptoError;
use super::key::{KEY_BYTES, Key, random_array};
use super::salsa::xsalsa20_xor;

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

/// The keystream's first 32 bytes are the one-time Poly1305 key and the rest
/// encrypts the message (libsodium's layout): `buf` is 32 zero bytes followed
/// by the message, and comes back as the Poly1305 key followed by the
/// ciphertext.
fn apply_keystream(key: &Key, nonce: &[u8; NONCE_BYTES], buf: &mut [u8]) -> [u8; KEY_BYTES] {
    xsalsa20_xor(key.as_bytes(), nonce, buf);
    let mut mac_key = [0u8; KEY_BYTES];
    mac_key.copy_from_slice(&buf[..KEY_BYTES]);
    mac_key
}

pub(crate) fn seal_with_nonce(key: &Key, nonce: &[u8; NONCE_BYTES], message: &[u8]) -> Vec<u8> {
    let mut buf = Zeroizing::new(vec![0u8; KEY_BYTES + message.len()]);
    buf[KEY_BYTES..].copy_from_slice(message);
    let mac_key = Zeroizing::new(apply_keystream(key, nonce, &mut buf));
    let mut out = Vec::with_capacity(MAC_BYTES + message.len());
    out.extend_from_slice(&Poly1305::mac(&mac_key, &buf[KEY_BYTES..]));
    out.extend_from_slice(&buf[KEY_BYTES..]);
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
    let (mac, ciphertext) = sealed.split_at(MAC_BYTES);
    let mut buf = Zeroizing::new(vec![0u8; KEY_BYTES + ciphertext.len()]);
    buf[KEY_BYTES..].copy_from_slice(ciphertext);
    let mac_key = Zeroizing::new(apply_keystream(key, nonce, &mut buf));
    // Nothing decrypted leaves before the tag checks out; `buf` is wiped on
    // drop either way.
    if !bool::from(Poly1305::mac(&mac_key, ciphertext).ct_eq(mac)) {
        return Err(CryptoError::DecryptFailed);
    }
    buf.drain(..KEY_BYTES);
    Ok(buf)
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
