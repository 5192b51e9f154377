use zeroize::{Zeroize, ZeroizeOnDrop};

use super::CryptoError;

/// Length of every symmetric key Ferry uses (file, collection, device keys).
pub const KEY_BYTES: usize = 32;

/// A 32-byte symmetric key, wiped from memory when dropped.
#[derive(Clone, Zeroize, ZeroizeOnDrop, PartialEq, Eq)]
pub struct Key([u8; KEY_BYTES]);

impl Key {
    /// A fresh key from the platform's CSPRNG.
    pub fn generate() -> Self {
        Self(random_array())
    }

    pub fn from_bytes(bytes: [u8; KEY_BYTES]) -> Self {
        Self(bytes)
    }

    pub fn from_slice(bytes: &[u8]) -> Result<Self, CryptoError> {
        let array: [u8; KEY_BYTES] = bytes
            .try_into()
            .map_err(|_| CryptoError::BadKeyLength { got: bytes.len() })?;
        Ok(Self(array))
    }

    pub fn as_bytes(&self) -> &[u8; KEY_BYTES] {
        &self.0
    }
}

// Never print key bytes, not even in a debug log.
impl core::fmt::Debug for Key {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Key(..)")
    }
}

/// Random bytes from the platform CSPRNG (`crypto.getRandomValues` on the web).
///
/// A CSPRNG failure leaves no safe way to continue (a reused nonce would be
/// worse than stopping), so it aborts rather than returning an error.
pub(crate) fn random_array<const N: usize>() -> [u8; N] {
    random_bytes()
}

/// `N` bytes from the platform CSPRNG, for nonces and IVs.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    // Not `expect`: that would link getrandom's messages for every platform.
    #[allow(clippy::panic)]
    if getrandom::getrandom(&mut out).is_err() {
        panic!("the platform CSPRNG is unavailable");
    }
    out
}
