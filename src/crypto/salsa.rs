//! XSalsa20 (HSalsa20 then Salsa20 with a 64-bit block counter), for
//! secretbox. Secretbox only ever seals keys and checkpoints, tens of bytes,
//! so this is written to be small rather than fast. No branch or index
//! depends on key or data.

const SIGMA: [u32; 4] = [0x6170_7865, 0x3320_646e, 0x7962_2d32, 0x6b20_6574];

/// XORs the XSalsa20 keystream of (`key`, `nonce`), from its first byte, into
/// `data`.
pub(crate) fn xsalsa20_xor(key: &[u8; 32], nonce: &[u8; 24], data: &mut [u8]) {
    let mut input = [0u32; 4];
    words(&mut input, &nonce[..16]);
    let mut x = state(key, &input);
    rounds(&mut x);
    // HSalsa20's output: the diagonal, then the words that held the input.
    let subkey = [x[0], x[5], x[10], x[15], x[6], x[7], x[8], x[9]];
    let mut key = [0u8; 32];
    for (bytes, word) in key.chunks_exact_mut(4).zip(subkey) {
        bytes.copy_from_slice(&word.to_le_bytes());
    }
    let mut input = [0u32; 4];
    words(&mut input[..2], &nonce[16..]);
    // The counter's high word stays zero: secretbox never seals 256 GiB.
    for (counter, piece) in data.chunks_mut(64).enumerate() {
        input[2] = u32::try_from(counter).expect("a sealed box stays far below 256 GiB");
        let init = state(&key, &input);
        let mut x = init;
        rounds(&mut x);
        for ((bytes, word), start) in piece.chunks_mut(4).zip(x).zip(init) {
            for (b, k) in bytes.iter_mut().zip(word.wrapping_add(start).to_le_bytes()) {
                *b ^= k;
            }
        }
    }
    zeroize::Zeroize::zeroize(&mut key);
}

fn words(out: &mut [u32], bytes: &[u8]) {
    for (w, chunk) in out.iter_mut().zip(bytes.chunks_exact(4)) {
        let mut b = [0u8; 4];
        b.copy_from_slice(chunk);
        *w = u32::from_le_bytes(b);
    }
}

/// The Salsa20 matrix: constants on the diagonal, the key around them and
/// the 16 bytes of nonce and counter (`input`) in words 6 to 9.
fn state(key: &[u8; 32], input: &[u32; 4]) -> [u32; 16] {
    let mut k = [0u32; 8];
    words(&mut k, key);
    [
        SIGMA[0], k[0], k[1], k[2], k[3], SIGMA[1], input[0], input[1], input[2], input[3],
        SIGMA[2], k[4], k[5], k[6], k[7], SIGMA[3],
    ]
}

fn rounds(x: &mut [u32; 16]) {
    // Columns, then rows; each quadruple as (a, b, c, d) of the quarter-round.
    const ORDER: [[usize; 4]; 8] = [
        [0, 4, 8, 12],
        [5, 9, 13, 1],
        [10, 14, 2, 6],
        [15, 3, 7, 11],
        [0, 1, 2, 3],
        [5, 6, 7, 4],
        [10, 11, 8, 9],
        [15, 12, 13, 14],
    ];
    for _ in 0..10 {
        for [a, b, c, d] in ORDER {
            x[b] ^= x[a].wrapping_add(x[d]).rotate_left(7);
            x[c] ^= x[b].wrapping_add(x[a]).rotate_left(9);
            x[d] ^= x[c].wrapping_add(x[b]).rotate_left(13);
            x[a] ^= x[d].wrapping_add(x[c]).rotate_left(18);
        }
    }
}
