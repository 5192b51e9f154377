//! Standard base64 with padding: the encoding of every binary field on the
//! Ente wire protocol (`decryptionHeader`, `encryptedKey`, ...).
//!
//! Written here (it is short) instead of the `base64` crate, whose generic
//! engine was 6 KB of wasm. Decoding is strict: padding is required, and the
//! unused bits of the last symbol must be zero, so one byte string has one
//! encoding.

use super::CryptoError;

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

pub fn to_base64(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for (i, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> shift & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn symbol(c: u8) -> Option<u32> {
    let value = match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => return None,
    };
    Some(u32::from(value))
}

pub fn from_base64(text: &str) -> Result<Vec<u8>, CryptoError> {
    let text = text.as_bytes();
    if !text.len().is_multiple_of(4) {
        return Err(CryptoError::BadBase64);
    }
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    let quads = text.len() / 4;
    for (q, quad) in text.chunks_exact(4).enumerate() {
        let padding = match quad {
            [.., b'=', b'='] => 2,
            [.., b'='] => 1,
            _ => 0,
        };
        if padding > 0 && q + 1 != quads {
            return Err(CryptoError::BadBase64);
        }
        let mut n = 0u32;
        for &c in &quad[..4 - padding] {
            n = n << 6 | symbol(c).ok_or(CryptoError::BadBase64)?;
        }
        n <<= 6 * padding;
        let bytes = n.to_be_bytes();
        let kept = 3 - padding;
        // The bits a padded quad does not carry must be zero.
        if bytes[1 + kept..].iter().any(|&b| b != 0) {
            return Err(CryptoError::BadBase64);
        }
        out.extend_from_slice(&bytes[1..1 + kept]);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_4648_vectors() {
        for (plain, encoded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(to_base64(plain.as_bytes()), encoded);
            assert_eq!(from_base64(encoded).unwrap(), plain.as_bytes());
        }
        assert_eq!(to_base64(&[0xfb, 0xff]), "+/8=");
    }

    #[test]
    fn refuses_what_is_not_canonical_standard_base64() {
        for bad in [
            "ZmVycnk", "Zm-y", "Zm_y", "Zg=", "Zg==Zg==", "Zh==", "Zm9=", "Z===", "====", "Zm 9",
        ] {
            assert_eq!(from_base64(bad), Err(CryptoError::BadBase64), "{bad}");
        }
    }

    // proptest is a native-only dev-dependency (see Cargo.toml).
    #[cfg(not(target_arch = "wasm32"))]
    mod properties {
        use proptest::prelude::*;

        use super::super::*;

        proptest! {
            #[test]
            fn round_trips(bytes in prop::collection::vec(any::<u8>(), 0..100)) {
                prop_assert_eq!(from_base64(&to_base64(&bytes)).unwrap(), bytes);
            }

            #[test]
            fn decodes_only_what_it_would_write(text in "[A-Za-z0-9+/=]{0,12}") {
                if let Ok(bytes) = from_base64(&text) {
                    prop_assert_eq!(to_base64(&bytes), text);
                }
            }
        }
    }
}
