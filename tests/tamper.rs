//! Every way a stored or transmitted file can be damaged must be refused with
//! the right error, and checkpoint/resume must be invisible in the output.
#![cfg(not(target_arch = "wasm32"))]
#![allow(clippy::unwrap_used, clippy::cast_possible_truncation)]

mod common;

use common::pattern;
use ferry_sync::crypto::{
    CHUNK_SIZE, CryptoError, ENCRYPTED_CHUNK_SIZE, EncryptedFile, FileDecryptor, FileEncryptor,
    Key, decrypt_file_bytes, decrypt_message, encrypt_file_bytes, encrypt_message, encrypted_size,
};
use proptest::prelude::*;

const SIZES: [usize; 6] = [
    0,
    1,
    CHUNK_SIZE - 1,
    CHUNK_SIZE,
    CHUNK_SIZE + 1,
    3 * CHUNK_SIZE + 5,
];

fn encrypt(size: usize) -> (Key, Vec<u8>, EncryptedFile) {
    let key = Key::generate();
    let plaintext = pattern(size, size as u64);
    let file = encrypt_file_bytes(&key, &plaintext);
    (key, plaintext, file)
}

#[test]
fn every_boundary_size_round_trips() {
    for size in SIZES {
        let (key, plaintext, file) = encrypt(size);
        assert_eq!(file.ciphertext.len() as u64, encrypted_size(size as u64));
        assert_eq!(
            decrypt_file_bytes(&key, &file.header, &file.ciphertext).unwrap(),
            plaintext
        );
    }
}

#[test]
fn a_flipped_bit_in_any_region_of_any_chunk_is_refused() {
    let (key, _, file) = encrypt(2 * CHUNK_SIZE + 40);
    let starts = [0, ENCRYPTED_CHUNK_SIZE, 2 * ENCRYPTED_CHUNK_SIZE];
    for start in starts {
        let end = (start + ENCRYPTED_CHUNK_SIZE).min(file.ciphertext.len());
        // tag byte, first and last body byte, first and last MAC byte
        for at in [start, start + 1, end - 17, end - 16, end - 1] {
            for bit in [0x01u8, 0x80] {
                let mut bad = file.ciphertext.clone();
                bad[at] ^= bit;
                assert_eq!(
                    decrypt_file_bytes(&key, &file.header, &bad),
                    Err(CryptoError::DecryptFailed),
                    "flip at {at}"
                );
            }
        }
    }
    for at in [0, 15, 16, 23] {
        let mut header = file.header;
        header[at] ^= 0x01;
        assert_eq!(
            decrypt_file_bytes(&key, &header, &file.ciphertext),
            Err(CryptoError::DecryptFailed)
        );
    }
}

#[test]
fn reordered_dropped_and_appended_chunks_are_refused() {
    let (key, _, file) = encrypt(2 * CHUNK_SIZE + 40);
    let c = &file.ciphertext;
    let (first, rest) = c.split_at(ENCRYPTED_CHUNK_SIZE);
    let (second, last) = rest.split_at(ENCRYPTED_CHUNK_SIZE);

    let swapped = [second, first, last].concat();
    assert_eq!(
        decrypt_file_bytes(&key, &file.header, &swapped),
        Err(CryptoError::DecryptFailed)
    );

    let dropped_last = [first, second].concat();
    assert_eq!(
        decrypt_file_bytes(&key, &file.header, &dropped_last),
        Err(CryptoError::Truncated)
    );

    // A byte appended to a short final chunk moves its boundary: the MAC fails.
    let mut appended = c.clone();
    appended.push(0);
    assert_eq!(
        decrypt_file_bytes(&key, &file.header, &appended),
        Err(CryptoError::DecryptFailed)
    );
    // After a full final chunk, any further byte is trailing data.
    let (full_key, _, full) = encrypt(2 * CHUNK_SIZE);
    let mut after_full = full.ciphertext.clone();
    after_full.push(0);
    assert_eq!(
        decrypt_file_bytes(&full_key, &full.header, &after_full),
        Err(CryptoError::TrailingData)
    );
    let mut appended_chunk = full.ciphertext.clone();
    appended_chunk.extend_from_slice(last);
    assert_eq!(
        decrypt_file_bytes(&full_key, &full.header, &appended_chunk),
        Err(CryptoError::TrailingData)
    );

    let cut = &c[..c.len() - 3];
    assert_eq!(
        decrypt_file_bytes(&key, &file.header, cut),
        Err(CryptoError::DecryptFailed)
    );
    assert_eq!(
        decrypt_file_bytes(&key, &file.header, &[]),
        Err(CryptoError::Truncated)
    );
    assert_eq!(
        decrypt_file_bytes(&key, &file.header, &[0u8; 5]),
        Err(CryptoError::Truncated)
    );
}

#[test]
fn wrong_keys_headers_and_garbage_are_refused() {
    let (key, _, file) = encrypt(1000);
    assert_eq!(
        decrypt_file_bytes(&Key::generate(), &file.header, &file.ciphertext),
        Err(CryptoError::DecryptFailed)
    );
    assert_eq!(
        decrypt_file_bytes(&key, &[0u8; 24], &file.ciphertext),
        Err(CryptoError::DecryptFailed)
    );
    assert_eq!(
        decrypt_file_bytes(&key, &file.header[..23], &file.ciphertext),
        Err(CryptoError::BadHeader { got: 23 })
    );
    assert_eq!(
        Key::from_slice(&[0u8; 31]),
        Err(CryptoError::BadKeyLength { got: 31 })
    );
    let garbage = pattern(5000, 9);
    assert_eq!(
        decrypt_file_bytes(&key, &file.header, &garbage),
        Err(CryptoError::DecryptFailed)
    );
}

#[test]
fn a_decryptor_refuses_anything_after_the_final_chunk() {
    let (key, plaintext, file) = encrypt(10);
    let mut dec = FileDecryptor::new(&key, &file.header).unwrap();
    let chunk = dec.pull(&file.ciphertext).unwrap();
    assert!(chunk.is_final);
    assert_eq!(chunk.data, plaintext);
    assert_eq!(dec.pull(&file.ciphertext), Err(CryptoError::TrailingData));
    let mut dec = FileDecryptor::new(&key, &file.header).unwrap();
    assert_eq!(
        dec.pull(&[0u8; 16]),
        Err(CryptoError::BadChunkLength { got: 16 })
    );
}

/// The in-place path the JS bindings use gives exactly what `pull` gives,
/// and refuses exactly what `pull` refuses, leaving the decryptor able to
/// take the genuine chunk afterwards.
#[test]
fn open_framed_matches_pull_and_refuses_what_pull_refuses() {
    let (key, plaintext, file) = encrypt(2 * CHUNK_SIZE + 40);
    let mut by_pull = FileDecryptor::new(&key, &file.header).unwrap();
    let mut in_place = FileDecryptor::new(&key, &file.header).unwrap();
    let mut decrypted = Vec::new();
    for chunk in file.ciphertext.chunks(ENCRYPTED_CHUNK_SIZE) {
        let mut bad = chunk.to_vec();
        bad[chunk.len() / 2] ^= 0x04;
        assert_eq!(
            in_place.open_framed(&mut bad),
            Err(CryptoError::DecryptFailed)
        );
        let pulled = by_pull.pull(chunk).unwrap();
        let mut frame = chunk.to_vec();
        assert_eq!(in_place.open_framed(&mut frame), Ok(pulled.is_final));
        assert_eq!(&frame[1..frame.len() - 16], &pulled.data[..]);
        decrypted.extend_from_slice(&pulled.data);
    }
    assert_eq!(decrypted, plaintext);
    assert!(in_place.is_finished());
    assert_eq!(
        in_place.open_framed(&mut file.ciphertext[..17].to_vec()),
        Err(CryptoError::TrailingData)
    );
    let mut fresh = FileDecryptor::new(&key, &file.header).unwrap();
    assert_eq!(
        fresh.open_framed(&mut [0u8; 16]),
        Err(CryptoError::BadChunkLength { got: 16 })
    );
    assert_eq!(
        fresh.open_framed(&mut vec![0u8; ENCRYPTED_CHUNK_SIZE + 1]),
        Err(CryptoError::BadChunkLength {
            got: ENCRYPTED_CHUNK_SIZE + 1
        })
    );
}

#[test]
fn single_messages_must_be_final() {
    let key = Key::generate();
    let sealed = encrypt_message(&key, b"{\"title\":\"cat.jpg\"}");
    assert_eq!(
        decrypt_message(&key, &sealed.header, &sealed.ciphertext).unwrap(),
        b"{\"title\":\"cat.jpg\"}"
    );
    // A file chunk tagged MESSAGE is not a complete single message.
    let mut enc = FileEncryptor::new(&key);
    let not_final = enc.push(&vec![1u8; CHUNK_SIZE], false).unwrap();
    assert_eq!(
        decrypt_message(&key, enc.header(), &not_final),
        Err(CryptoError::Truncated)
    );
    assert_eq!(
        decrypt_message(&key, &sealed.header, &[1, 2]),
        Err(CryptoError::Truncated)
    );
}

fn push_all(enc: &mut FileEncryptor, plaintext: &[u8], from_chunk: usize, out: &mut Vec<u8>) {
    let chunks: Vec<&[u8]> = if plaintext.is_empty() {
        vec![&[]]
    } else {
        plaintext.chunks(CHUNK_SIZE).collect()
    };
    let last = chunks.len() - 1;
    for (i, chunk) in chunks.iter().enumerate().skip(from_chunk) {
        enc.push_into(out, chunk, i == last).unwrap();
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    /// Encrypting with a checkpoint/resume after any chunk produces exactly
    /// the bytes of an uninterrupted run, and decryption resumes the same way.
    #[test]
    fn checkpoint_resume_equals_an_uninterrupted_run(
        extra in 0usize..3000,
        whole_chunks in 0usize..3,
        cut in 0usize..4,
    ) {
        let size = whole_chunks * CHUNK_SIZE + extra;
        let plaintext = pattern(size, extra as u64);
        let key = Key::generate();
        let header = [7u8; 24];

        let mut straight = Vec::new();
        push_all(&mut FileEncryptor::with_header_for_tests(&key, header), &plaintext, 0, &mut straight);

        let total_chunks = size.div_ceil(CHUNK_SIZE).max(1);
        let cut = cut.min(total_chunks);
        let mut first = FileEncryptor::with_header_for_tests(&key, header);
        let mut resumed_bytes = Vec::new();
        for (i, chunk) in plaintext.chunks(CHUNK_SIZE).take(cut).enumerate() {
            first.push_into(&mut resumed_bytes, chunk, i + 1 == total_chunks).unwrap();
        }
        let checkpoint = first.checkpoint();
        drop(first);
        let mut resumed = FileEncryptor::resume(&key, &checkpoint).unwrap();
        prop_assert_eq!(resumed.chunks_done() as usize, cut);
        prop_assert_eq!(resumed.header(), &header);
        if cut < total_chunks {
            push_all(&mut resumed, &plaintext, cut, &mut resumed_bytes);
        }
        prop_assert!(resumed.is_finished());
        prop_assert!(resumed_bytes == straight, "resumed ciphertext differs");

        let mut dec = FileDecryptor::new(&key, &header).unwrap();
        let mut decrypted = Vec::new();
        let mut encrypted_chunks = straight.chunks(ENCRYPTED_CHUNK_SIZE).enumerate();
        for (i, chunk) in encrypted_chunks.by_ref() {
            decrypted.extend(dec.pull(chunk).unwrap().data);
            if i + 1 == cut {
                dec = FileDecryptor::resume(&key, &dec.checkpoint()).unwrap();
            }
        }
        prop_assert!(dec.is_finished());
        prop_assert!(decrypted == plaintext);
    }
}
