//! Standard base64 with padding: the encoding of every binary field on the
//! Ente wire protocol (`decryptionHeader`, `encryptedKey`, ...).
//!
//! Written here (it is short) instead of the `base64` crate, whose generic
//! engine was 6 KB of wasm. Decoding is strict: padding is required, and the
//! unused bits of the last symbol must be zero, so one byte string has one
//! encoding.

use super::CryptoError;

/// The symbol for a 6-bit value, by arithmetic rather than a table lookup:
/// keys pass through here, and an index into a table is a secret-dependent
/// memory access. Each term shifts the offset from `'A'` once `v` passes
/// the end of a range: `(end - v) >> 8` is all ones exactly then.
fn symbol_for(v: u32) -> char {
    let v = i32::try_from(v & 63).expect("six bits fit an i32");
    let mut offset = i32::from(b'A');
    offset += ((25 - v) >> 8) & 6; // 'a' - 26 - 'A'
    offset -= ((51 - v) >> 8) & 75; // ('a' - 26) - ('0' - 52)
    offset -= ((61 - v) >> 8) & 15; // ('0' - 52) - ('+' - 62)
    offset += ((62 - v) >> 8) & 3; // ('/' - 63) - ('+' - 62)
    char::from(u8::try_from(v + offset).expect("a base64 symbol is ASCII"))
}

/// The 6-bit value of a symbol, or -1, again without a branch or a lookup
/// on the byte: `(lo - c) & (c - hi)` is negative exactly when lo < c < hi.
fn value_of(c: u8) -> i32 {
    let c = i32::from(c);
    let within = |lo: i32, hi: i32| ((lo - c) & (c - hi)) >> 8;
    let mut value = -1;
    value += within(0x40, 0x5b) & (c - 0x41 + 1); // A-Z
    value += within(0x60, 0x7b) & (c - 0x61 + 26 + 1); // a-z
    value += within(0x2f, 0x3a) & (c - 0x30 + 52 + 1); // 0-9
    value += within(0x2a, 0x2c) & (62 + 1); // +
    value += within(0x2e, 0x30) & (63 + 1); // /
    value
}

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
                out.push(symbol_for(n >> shift));
            } else {
                out.push('=');
            }
        }
    }
    out
}

pub fn from_base64(text: &str) -> Result<Vec<u8>, CryptoError> {
    let text = text.as_bytes();
    if !text.len().is_multiple_of(4) {
        return Err(CryptoError::BadBase64);
    }
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    let quads = text.len() / 4;
    // Any invalid symbol makes this negative; checked once, at the end.
    let mut invalid = 0i32;
    for (q, quad) in text.chunks_exact(4).enumerate() {
        // Where the padding is says only how long the data is.
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
            let value = value_of(c);
            invalid |= value;
            n = n << 6 | (value & 63).unsigned_abs();
        }
        n <<= 6 * padding;
        let bytes = n.to_be_bytes();
        let kept = 3 - padding;
        // The bits a padded quad does not carry must be zero.
        if padding > 0 && bytes[1 + kept..].iter().any(|&b| b != 0) {
            return Err(CryptoError::BadBase64);
        }
        out.extend_from_slice(&bytes[1..1 + kept]);
    }
    if invalid < 0 {
        zeroize::Zeroize::zeroize(&mut out);
        return Err(CryptoError::BadBase64);
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

    /// Every byte value: the 64 symbols decode to their place in the
    /// alphabet and encode back; the other 192 are refused.
    #[test]
    fn the_arithmetic_alphabet_is_the_standard_one() {
        let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        for c in 0..=255u8 {
            match alphabet.iter().position(|&a| a == c) {
                Some(v) => {
                    assert_eq!(value_of(c), i32::try_from(v).unwrap(), "{c}");
                    assert_eq!(symbol_for(u32::try_from(v).unwrap()), char::from(c));
                }
                None => assert_eq!(value_of(c), -1, "{c}"),
            }
        }
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

            /// Against the `base64` crate's strict standard engine (padding
            /// required, non-zero trailing bits refused): the same text for
            /// any bytes, and the same verdict and bytes for any text,
            /// including text that is not base64 at all.
            #[test]
            fn agrees_with_the_base64_crate(
                bytes in prop::collection::vec(any::<u8>(), 0..200),
                text in "[A-Za-z0-9+/=\\-_ ]{0,16}",
            ) {
                use base64::Engine as _;
                let strict = base64::engine::general_purpose::STANDARD;
                prop_assert_eq!(to_base64(&bytes), strict.encode(&bytes));
                prop_assert_eq!(from_base64(&text).ok(), strict.decode(&text).ok());
            }
        }
    }
}
