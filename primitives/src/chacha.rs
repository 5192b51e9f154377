//! ChaCha20 as RFC 8439 defines it (32-bit block counter, 96-bit nonce), and
//! HChaCha20, the subkey derivation of XChaCha20.
//!
//! [`xor_keystream`] runs on WebAssembly SIMD128 where the build enables it
//! (`simd::chacha`) and on the portable code here everywhere else; both
//! compute the same bytes (`tests/differential.rs` natively, the libsodium
//! vectors and `tests/libsodium_vectors.rs` in Chromium).
//!
//! Every state built from a key here is wiped before returning.

use crate::wipe;

/// "expand 32-byte k"
pub(crate) const CONSTANTS: [u32; 4] = [0x6170_7865, 0x3320_646e, 0x7962_2d32, 0x6b20_6574];
/// Bytes of one keystream block.
pub const BLOCK_BYTES: usize = 64;

/// XORs the keystream of (`key`, `nonce`), starting at block `counter`, into
/// `data`. The counter wraps after 2^32 blocks, as in libsodium's IETF
/// variant; callers keep messages far below that (a 4 MiB chunk is 65,536
/// blocks).
pub fn xor_keystream(key: &[u8; 32], nonce: &[u8; 12], counter: u32, data: &mut [u8]) {
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    {
        let mut state = initial_state(key, nonce, counter);
        crate::simd::chacha::xor_keystream(&state, data);
        wipe(&mut state, 0);
    }
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    xor_keystream_portable(key, nonce, counter, data);
}

/// The portable path of [`xor_keystream`], public so that tests can hold the
/// SIMD path against it on wasm.
pub fn xor_keystream_portable(key: &[u8; 32], nonce: &[u8; 12], counter: u32, data: &mut [u8]) {
    let mut state = initial_state(key, nonce, counter);
    let mut x = state;
    for piece in data.chunks_mut(BLOCK_BYTES) {
        x = state;
        double_rounds(&mut x);
        for ((bytes, word), init) in piece.chunks_mut(4).zip(x).zip(state) {
            let keystream = word.wrapping_add(init).to_le_bytes();
            for (b, k) in bytes.iter_mut().zip(keystream) {
                *b ^= k;
            }
        }
        state[12] = state[12].wrapping_add(1);
    }
    wipe(&mut state, 0);
    wipe(&mut x, 0);
}

/// HChaCha20: the first and last rows of the permuted state, without the
/// final addition. The first 16 bytes of an XChaCha20 nonce and the key give
/// the subkey.
pub fn hchacha20(key: &[u8; 32], input: &[u8; 16]) -> [u8; 32] {
    let mut nonce = [0u8; 12];
    nonce.copy_from_slice(&input[4..]);
    let mut x = initial_state(key, &nonce, le_u32(&input[..4]));
    double_rounds(&mut x);
    let mut out = [0u8; 32];
    for (bytes, word) in out.chunks_exact_mut(4).zip(x[..4].iter().chain(&x[12..])) {
        bytes.copy_from_slice(&word.to_le_bytes());
    }
    wipe(&mut x, 0);
    out
}

pub(crate) fn initial_state(key: &[u8; 32], nonce: &[u8; 12], counter: u32) -> [u32; 16] {
    let mut state = [0u32; 16];
    state[..4].copy_from_slice(&CONSTANTS);
    for (w, chunk) in state[4..12].iter_mut().zip(key.chunks_exact(4)) {
        *w = le_u32(chunk);
    }
    state[12] = counter;
    for (w, chunk) in state[13..].iter_mut().zip(nonce.chunks_exact(4)) {
        *w = le_u32(chunk);
    }
    state
}

fn double_rounds(x: &mut [u32; 16]) {
    for _ in 0..10 {
        quarter(x, 0, 4, 8, 12);
        quarter(x, 1, 5, 9, 13);
        quarter(x, 2, 6, 10, 14);
        quarter(x, 3, 7, 11, 15);
        quarter(x, 0, 5, 10, 15);
        quarter(x, 1, 6, 11, 12);
        quarter(x, 2, 7, 8, 13);
        quarter(x, 3, 4, 9, 14);
    }
}

#[inline(always)]
fn quarter(x: &mut [u32; 16], a: usize, b: usize, c: usize, d: usize) {
    x[a] = x[a].wrapping_add(x[b]);
    x[d] = (x[d] ^ x[a]).rotate_left(16);
    x[c] = x[c].wrapping_add(x[d]);
    x[b] = (x[b] ^ x[c]).rotate_left(12);
    x[a] = x[a].wrapping_add(x[b]);
    x[d] = (x[d] ^ x[a]).rotate_left(8);
    x[c] = x[c].wrapping_add(x[d]);
    x[b] = (x[b] ^ x[c]).rotate_left(7);
}

pub(crate) fn le_u32(bytes: &[u8]) -> u32 {
    let mut b = [0u8; 4];
    b.copy_from_slice(&bytes[..4]);
    u32::from_le_bytes(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unhex(text: &str) -> Vec<u8> {
        (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
            .collect()
    }

    /// RFC 8439, section 2.4.2: the sunscreen message.
    #[test]
    fn rfc8439_encryption_vector() {
        let key: [u8; 32] = core::array::from_fn(|i| i as u8);
        let nonce = [0, 0, 0, 0, 0, 0, 0, 0x4a, 0, 0, 0, 0];
        let mut data = b"Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.".to_vec();
        xor_keystream(&key, &nonce, 1, &mut data);
        assert_eq!(
            data,
            unhex(
                "6e2e359a2568f98041ba0728dd0d6981e97e7aec1d4360c20a27afccfd9fae0b\
                 f91b65c5524733ab8f593dabcd62b3571639d624e65152ab8f530c359f0861d8\
                 07ca0dbf500d6a6156a38e088a22b65e52bc514d16ccf806818ce91ab7793736\
                 5af90bbf74a35be6b40b8eedf2785e42874d"
            )
        );
    }

    /// draft-irtf-cfrg-xchacha, section 2.2.1.
    #[test]
    fn hchacha20_vector() {
        let key: [u8; 32] = core::array::from_fn(|i| i as u8);
        let input: [u8; 16] = unhex("000000090000004a0000000031415927")
            .try_into()
            .unwrap();
        assert_eq!(
            hchacha20(&key, &input).to_vec(),
            unhex("82413b4227b27bfed30e42508a877d73a0f9e4d58a74a853c12ec41326d3ecdc")
        );
    }
}
