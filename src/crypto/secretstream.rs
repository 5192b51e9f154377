//! `crypto_secretstream_xchacha20poly1305`, byte-compatible with libsodium.
//!
//! The construction, as libsodium defines it: the header's first 16 bytes
//! and the key give a subkey through HChaCha20; the header's last 8 bytes are
//! the "inonce" that, with a 32-bit little-endian counter starting at 1, makes
//! the 12-byte ChaCha20-IETF nonce. Each message uses keystream block 0 as
//! its Poly1305 key, block 1 to encrypt the tag byte (the MAC covers the whole
//! 64-byte block), and blocks 2.. for the message. After each message the MAC's
//! first 8 bytes are XORed into the inonce, the counter is incremented, and
//! the state is rekeyed on `TAG_REKEY` or when the counter wraps to zero.

use ferry_primitives::Poly1305;
use ferry_primitives::chacha::{hchacha20, xor_keystream};
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop};

use super::CryptoError;
use super::key::{KEY_BYTES, Key, random_array};

/// Length of the stream header sent beside the ciphertext.
pub const HEADER_BYTES: usize = 24;
/// Bytes each message grows by: one encrypted tag byte and a 16-byte MAC.
pub const ABYTES: usize = 1 + MAC_BYTES;
/// Length of a serialized [`StreamState`].
pub const STATE_BYTES: usize = KEY_BYTES + NONCE_BYTES;

/// Length of the MAC that ends every message.
pub const MAC_BYTES: usize = 16;
const NONCE_BYTES: usize = 12;
const COUNTER_BYTES: usize = 4;
const BLOCK_BYTES: usize = 64;
/// Encrypt-then-MAC in slices this size, so Poly1305 reads ciphertext still
/// in L1 cache rather than a 4 MiB chunk that has fallen out of it. A
/// multiple of 64 keeps ChaCha20 block-aligned between slices.
const INTERLEAVE_BYTES: usize = 16 * 1024;

/// libsodium's message tags.
pub mod tag {
    pub const MESSAGE: u8 = 0x00;
    pub const PUSH: u8 = 0x01;
    pub const REKEY: u8 = 0x02;
    pub const FINAL: u8 = PUSH | REKEY;
}

/// The running state of one direction of a secretstream: the subkey and the
/// nonce (counter ‖ inonce). It is key material and is wiped on drop.
#[derive(Clone, Zeroize, ZeroizeOnDrop, PartialEq, Eq)]
pub struct StreamState {
    k: [u8; KEY_BYTES],
    nonce: [u8; NONCE_BYTES],
}

impl core::fmt::Debug for StreamState {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("StreamState(..)")
    }
}

impl StreamState {
    /// Starts a stream for encryption with a fresh random header.
    pub fn init_push(key: &Key) -> (Self, [u8; HEADER_BYTES]) {
        let header = random_array::<HEADER_BYTES>();
        (Self::from_header(key, &header), header)
    }

    /// Starts a stream for decryption from the header the sender produced.
    pub fn init_pull(key: &Key, header: &[u8]) -> Result<Self, CryptoError> {
        let header: &[u8; HEADER_BYTES] = header
            .try_into()
            .map_err(|_| CryptoError::BadHeader { got: header.len() })?;
        Ok(Self::from_header(key, header))
    }

    /// A push state with a caller-chosen header: for known-answer tests only,
    /// since a header reused under the same key repeats the keystream.
    #[doc(hidden)]
    pub fn init_push_with_header_for_tests(key: &Key, header: &[u8; HEADER_BYTES]) -> Self {
        Self::from_header(key, header)
    }

    /// The state both sides derive from a key and a header.
    pub(crate) fn from_header(key: &Key, header: &[u8; HEADER_BYTES]) -> Self {
        let mut hchacha_input = [0u8; 16];
        hchacha_input.copy_from_slice(&header[..16]);
        let mut state = Self {
            k: hchacha20(key.as_bytes(), &hchacha_input),
            nonce: [0u8; NONCE_BYTES],
        };
        state.reset_counter();
        state.nonce[COUNTER_BYTES..].copy_from_slice(&header[16..]);
        state
    }

    /// Encrypts `message` with `tag`, appending `tag ‖ ciphertext ‖ mac`
    /// (`message.len() + ABYTES` bytes) to `out`.
    pub fn push(&mut self, out: &mut Vec<u8>, message: &[u8], ad: &[u8], tag: u8) {
        out.reserve(message.len() + ABYTES);
        let start = out.len();
        out.push(0);
        out.extend_from_slice(message);
        self.push_framed(out, start, ad, tag);
    }

    /// Encrypts in place: `buf[start]` is a placeholder for the tag byte and
    /// `buf[start + 1..]` the message; on return `buf[start..]` is
    /// `tag ‖ ciphertext ‖ mac`. Lets a caller that already copied the
    /// plaintext into its own buffer avoid a second 4 MiB copy.
    pub fn push_framed(&mut self, buf: &mut Vec<u8>, start: usize, ad: &[u8], tag: u8) {
        let mut mac = self.message_mac(ad);
        buf[start] = self.tag_block(&mut mac, tag, true);
        let ciphertext = &mut buf[start + 1..];
        let message_len = ciphertext.len();
        // Encrypt-then-MAC a slice at a time, so Poly1305 reads ciphertext
        // still in L1 cache.
        for (i, slice) in ciphertext.chunks_mut(INTERLEAVE_BYTES).enumerate() {
            self.xor_message(slice, i);
            mac.update(slice);
        }
        let tag_bytes = finish_mac(mac, message_len, ad.len());
        buf.extend_from_slice(&tag_bytes);
        self.advance(&tag_bytes, tag);
    }

    /// Authenticates and decrypts one message (`tag ‖ ciphertext ‖ mac`),
    /// appending the plaintext to `out` and returning its tag. On failure the
    /// state and `out` are left untouched.
    pub fn pull(&mut self, out: &mut Vec<u8>, input: &[u8], ad: &[u8]) -> Result<u8, CryptoError> {
        if input.len() < ABYTES {
            return Err(CryptoError::BadChunkLength { got: input.len() });
        }
        let (body, mac) = input[1..].split_at(input.len() - ABYTES);
        let mut mac_bytes = [0u8; MAC_BYTES];
        mac_bytes.copy_from_slice(mac);
        let start = out.len();
        out.extend_from_slice(body);
        match self.open_in_place(input[0], &mut out[start..], &mac_bytes, ad) {
            Ok(tag) => Ok(tag),
            Err(e) => {
                out.truncate(start);
                Err(e)
            }
        }
    }

    /// Authenticates and decrypts one message whose parts arrive apart: the
    /// encrypted tag byte, the ciphertext (decrypted in place in `body`) and
    /// the MAC. Returns the tag. On failure the state is untouched and `body`
    /// is zeroed: MAC and decryption go a slice at a time, in one pass over
    /// memory, so some of it may already have been decrypted.
    pub fn open_in_place(
        &mut self,
        encrypted_tag: u8,
        body: &mut [u8],
        received: &[u8; MAC_BYTES],
        ad: &[u8],
    ) -> Result<u8, CryptoError> {
        let mut mac = self.message_mac(ad);
        let tag = self.tag_block(&mut mac, encrypted_tag, false);
        for (i, slice) in body.chunks_mut(INTERLEAVE_BYTES).enumerate() {
            mac.update(slice);
            self.xor_message(slice, i);
        }
        let expected = finish_mac(mac, body.len(), ad.len());
        if !bool::from(expected.ct_eq(received)) {
            body.zeroize();
            return Err(CryptoError::DecryptFailed);
        }
        self.advance(&expected, tag);
        Ok(tag)
    }

    /// Keystream block 1 carries the tag byte, and the MAC covers the whole
    /// 64-byte block as sent: the encrypted tag byte, then the keystream.
    /// Returns the tag byte encrypted (`encrypt`) or decrypted.
    fn tag_block(&self, mac: &mut Poly1305, tag_byte: u8, encrypt: bool) -> u8 {
        let mut block = [0u8; BLOCK_BYTES];
        block[0] = tag_byte;
        xor_keystream(&self.k, &self.nonce, 1, &mut block);
        let other = block[0];
        block[0] = if encrypt { other } else { tag_byte };
        mac.update(&block);
        block.zeroize();
        other
    }

    /// XORs the message keystream into the `index`-th `INTERLEAVE_BYTES`
    /// slice of a message body (which starts at ChaCha20 block 2).
    fn xor_message(&self, slice: &mut [u8], index: usize) {
        // A message of 4 MiB is 65,536 blocks, far below the 2^32 limit.
        let counter = u32::try_from(2 + index * INTERLEAVE_BYTES / BLOCK_BYTES)
            .expect("a 4 MiB message stays far below 2^32 blocks");
        xor_keystream(&self.k, &self.nonce, counter, slice);
    }

    /// libsodium's `crypto_secretstream_xchacha20poly1305_rekey`.
    pub fn rekey(&mut self) {
        let mut next = [0u8; KEY_BYTES + 8];
        next[..KEY_BYTES].copy_from_slice(&self.k);
        next[KEY_BYTES..].copy_from_slice(&self.nonce[COUNTER_BYTES..]);
        xor_keystream(&self.k, &self.nonce, 0, &mut next);
        self.k.copy_from_slice(&next[..KEY_BYTES]);
        self.nonce[COUNTER_BYTES..].copy_from_slice(&next[KEY_BYTES..]);
        next.zeroize();
        self.reset_counter();
    }

    /// The state as bytes, for a checkpoint. This is key material.
    pub(crate) fn to_bytes(&self) -> [u8; STATE_BYTES] {
        let mut out = [0u8; STATE_BYTES];
        out[..KEY_BYTES].copy_from_slice(&self.k);
        out[KEY_BYTES..].copy_from_slice(&self.nonce);
        out
    }

    pub(crate) fn from_bytes(bytes: &[u8; STATE_BYTES]) -> Self {
        let mut state = Self {
            k: [0u8; KEY_BYTES],
            nonce: [0u8; NONCE_BYTES],
        };
        state.k.copy_from_slice(&bytes[..KEY_BYTES]);
        state.nonce.copy_from_slice(&bytes[KEY_BYTES..]);
        state
    }

    /// A Poly1305 keyed by keystream block 0, already fed the associated
    /// data padded to 16 bytes.
    fn message_mac(&self, ad: &[u8]) -> Poly1305 {
        let mut block0 = [0u8; BLOCK_BYTES];
        xor_keystream(&self.k, &self.nonce, 0, &mut block0);
        let mut poly_key = [0u8; KEY_BYTES];
        poly_key.copy_from_slice(&block0[..KEY_BYTES]);
        let mut mac = Poly1305::new(&poly_key);
        block0.zeroize();
        poly_key.zeroize();
        mac.update(ad);
        mac.update(&ZEROS[..(16 - ad.len() % 16) % 16]);
        mac
    }

    fn advance(&mut self, mac: &[u8; MAC_BYTES], tag: u8) {
        for (inonce, m) in self.nonce[COUNTER_BYTES..].iter_mut().zip(mac) {
            *inonce ^= m;
        }
        let counter = self.counter().wrapping_add(1);
        self.nonce[..COUNTER_BYTES].copy_from_slice(&counter.to_le_bytes());
        if tag & tag::REKEY != 0 || counter == 0 {
            self.rekey();
        }
    }

    fn counter(&self) -> u32 {
        let mut bytes = [0u8; COUNTER_BYTES];
        bytes.copy_from_slice(&self.nonce[..COUNTER_BYTES]);
        u32::from_le_bytes(bytes)
    }

    fn reset_counter(&mut self) {
        self.nonce[..COUNTER_BYTES].copy_from_slice(&1u32.to_le_bytes());
    }

    #[cfg(test)]
    fn set_counter(&mut self, counter: u32) {
        self.nonce[..COUNTER_BYTES].copy_from_slice(&counter.to_le_bytes());
    }
}

const ZEROS: [u8; 16] = [0u8; 16];

/// Closes the MAC: padding, then both lengths.
///
/// libsodium pads the ciphertext with `(0x10 - 64 + mlen) & 0xf` zero bytes,
/// which is `mlen % 16`, not the usual pad to a 16-byte boundary. Every
/// implementation must keep that quirk to interoperate; it leaves the MAC
/// input unaligned, so the last block goes through Poly1305's standard
/// partial-final-block rule.
fn finish_mac(mut mac: Poly1305, message_len: usize, ad_len: usize) -> [u8; MAC_BYTES] {
    mac.update(&ZEROS[..message_len % 16]);
    mac.update(&(ad_len as u64).to_le_bytes());
    mac.update(&((BLOCK_BYTES + message_len) as u64).to_le_bytes());
    mac.finalize()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair() -> (StreamState, StreamState) {
        let key = Key::generate();
        let (push, header) = StreamState::init_push(&key);
        let pull = StreamState::init_pull(&key, &header).unwrap();
        (push, pull)
    }

    #[test]
    fn round_trip_with_every_tag() {
        let (mut push, mut pull) = pair();
        for (i, t) in [
            tag::MESSAGE,
            tag::PUSH,
            tag::REKEY,
            tag::MESSAGE,
            tag::FINAL,
        ]
        .into_iter()
        .enumerate()
        {
            let message = vec![u8::try_from(i).unwrap(); i * 37];
            let mut c = Vec::new();
            push.push(&mut c, &message, b"ad", t);
            assert_eq!(c.len(), message.len() + ABYTES);
            let mut m = Vec::new();
            assert_eq!(pull.pull(&mut m, &c, b"ad").unwrap(), t);
            assert_eq!(m, message);
        }
        assert_eq!(push, pull);
    }

    #[test]
    fn counter_wrap_rekeys_both_sides_identically() {
        let (mut push, mut pull) = pair();
        push.set_counter(u32::MAX);
        pull.set_counter(u32::MAX);
        let before = push.clone();
        let mut c = Vec::new();
        push.push(&mut c, b"wraps", &[], tag::MESSAGE);
        assert_eq!(push.counter(), 1, "a wrapped counter restarts at 1");
        assert_ne!(push.k, before.k, "a wrapped counter must rekey");

        // The same message pushed without the wrap keeps the old key.
        let mut no_wrap = before.clone();
        no_wrap.set_counter(7);
        let mut c2 = Vec::new();
        no_wrap.push(&mut c2, b"wraps", &[], tag::MESSAGE);
        assert_eq!(no_wrap.k, before.k);

        let mut m = Vec::new();
        pull.pull(&mut m, &c, &[]).unwrap();
        assert_eq!(m, b"wraps");
        assert_eq!(push, pull);
    }

    #[test]
    fn failed_pull_leaves_state_and_output_untouched() {
        let (mut push, mut pull) = pair();
        let mut c = Vec::new();
        push.push(&mut c, b"hello", &[], tag::MESSAGE);
        c[3] ^= 1;
        let before = pull.clone();
        let mut out = vec![9u8];
        assert_eq!(
            pull.pull(&mut out, &c, &[]),
            Err(CryptoError::DecryptFailed)
        );
        assert_eq!(out, vec![9u8]);
        assert_eq!(pull, before);
    }

    #[test]
    fn state_bytes_round_trip() {
        let (push, _) = pair();
        assert_eq!(StreamState::from_bytes(&push.to_bytes()), push);
    }
}
