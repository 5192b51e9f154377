//! Encrypt what the fuzzer chooses, decrypt it, get it back.
//!
//! A key and a header, then messages of `op: u8, ad_len: u8, len: u16 LE,
//! ad, message` through libsodium-level push and pull with every tag (and
//! explicit rekeys, and a tampered copy that must not open); the bytes
//! left are a file through `FileEncryptor` (resumed from a checkpoint,
//! byte for byte the same), `decrypt_file_bytes` and `FileDecryptor`, a
//! single message, a secretbox, and a BLAKE2b hash checkpointed at a
//! fuzz-chosen split.
#![no_main]

use ferry_fuzz::Input;
use ferry_sync::crypto::secretstream::{StreamState, tag};
use ferry_sync::crypto::{
    Blake2b512, CryptoError, FileDecryptor, FileEncryptor, Key, decrypt_file_bytes,
    decrypt_message, encrypt_message, hash_checkpoint, hash_resume, secretbox, unwrap_key,
    wrap_key,
};
use libfuzzer_sys::fuzz_target;

const TAGS: [u8; 4] = [tag::MESSAGE, tag::PUSH, tag::REKEY, tag::FINAL];

fuzz_target!(|data: &[u8]| {
    let mut input = Input::new(data);
    let key = Key::from_bytes(input.array());
    let header = input.array();
    let messages = usize::from(input.u8() % 8);

    let mut push = StreamState::init_push_with_header_for_tests(&key, &header);
    let mut pull = StreamState::init_pull(&key, &header).expect("24 bytes");
    for _ in 0..messages {
        let op = input.u8();
        let ad_len = usize::from(input.u8() % 64);
        let len = usize::from(input.u16() % 2048);
        let ad = input.take(ad_len);
        let message = input.take(len);
        let chosen = TAGS[usize::from(op & 3)];

        let mut sealed = Vec::new();
        push.push(&mut sealed, message, ad, chosen);
        assert_eq!(sealed.len(), message.len() + 17);

        if op & 4 != 0 {
            // Any flipped bit (tag byte, ciphertext or MAC) fails to open,
            // and leaves the state as it was.
            let mut tampered = sealed.clone();
            let at = usize::from(op >> 3) % tampered.len();
            tampered[at] ^= 1 << (op & 7);
            let before = pull.clone();
            let mut out = Vec::new();
            assert_eq!(
                pull.pull(&mut out, &tampered, ad),
                Err(CryptoError::DecryptFailed)
            );
            assert!(out.is_empty());
            assert_eq!(pull, before);
        }

        let mut opened = Vec::new();
        assert_eq!(pull.pull(&mut opened, &sealed, ad), Ok(chosen));
        assert_eq!(opened, message);
        if op & 0x80 != 0 {
            push.rekey();
            pull.rekey();
        }
        assert_eq!(push, pull, "both sides move in step");
    }

    let plaintext = input.rest();

    // The file format: one final chunk (non-final chunks are 4 MiB).
    let encryptor = FileEncryptor::with_header_for_tests(&key, header);
    let mut resumed = FileEncryptor::resume(&key, &encryptor.checkpoint()).expect("resumes");
    let mut encryptor = encryptor;
    let ciphertext = encryptor.push(plaintext, true).expect("a final chunk");
    assert_eq!(resumed.push(plaintext, true).expect("resumed"), ciphertext);
    assert!(encryptor.is_finished());
    assert_eq!(encryptor.push(b"", true), Err(CryptoError::StreamFinished));
    assert_eq!(
        decrypt_file_bytes(&key, &header, &ciphertext).expect("decrypts"),
        plaintext
    );
    let mut decryptor = FileDecryptor::new(&key, &header).expect("24 bytes");
    let mut frame = ciphertext.clone();
    assert_eq!(decryptor.open_framed(&mut frame), Ok(true));
    assert_eq!(frame[1..frame.len() - 16], *plaintext);
    {
        assert!(decrypt_file_bytes(&key, &header, &ciphertext[..ciphertext.len() - 1]).is_err());
    }

    // One message, as thumbnails and metadata are sealed.
    let message = encrypt_message(&key, plaintext);
    assert_eq!(
        decrypt_message(&key, &message.header, &message.ciphertext).expect("opens"),
        plaintext
    );

    // secretbox, as keys are wrapped.
    let (sealed, nonce) = secretbox::seal(&key, plaintext);
    assert_eq!(
        secretbox::open(&key, &nonce, &sealed).expect("opens")[..],
        *plaintext
    );
    let wrapped = wrap_key(&Key::from_bytes(header_key(&header)), &key);
    assert_eq!(
        unwrap_key(&wrapped.encrypted_key, &wrapped.nonce, &key).expect("unwraps"),
        Key::from_bytes(header_key(&header))
    );

    // BLAKE2b through a checkpoint at any split: the one-shot digest.
    let split = usize::from(header[0]) * plaintext.len() / 255;
    let mut hasher = Blake2b512::new();
    hasher.update(&plaintext[..split]);
    let mut hasher = hash_resume(&hash_checkpoint(&hasher)).expect("resumes");
    hasher.update(&plaintext[split..]);
    assert_eq!(hasher.bytes_hashed(), plaintext.len() as u64);
    assert_eq!(hasher.finalize(), Blake2b512::digest(plaintext));
});

/// A second key, from the header.
fn header_key(header: &[u8; 24]) -> [u8; 32] {
    let mut out = [0x5Au8; 32];
    out[..24].copy_from_slice(header);
    out
}
