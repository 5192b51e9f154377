//! Standard base64 with padding: the encoding of every binary field on the
//! Ente wire protocol (`decryptionHeader`, `encryptedKey`, ...).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::CryptoError;

pub fn to_base64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

pub fn from_base64(text: &str) -> Result<Vec<u8>, CryptoError> {
    STANDARD.decode(text).map_err(|_| CryptoError::BadBase64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_refusal() {
        assert_eq!(to_base64(b"ferry"), "ZmVycnk=");
        assert_eq!(from_base64("ZmVycnk=").unwrap(), b"ferry");
        assert_eq!(from_base64("ZmVycnk"), Err(CryptoError::BadBase64));
        assert_eq!(from_base64("Zm-y"), Err(CryptoError::BadBase64));
    }
}
