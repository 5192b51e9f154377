//! The checkpoint and hash-state envelopes, as read back from storage.
//!
//! A mode byte and a key, then either raw bytes offered to every resume
//! (a decoded hash state must write back to the same bytes), or a real
//! checkpoint of each kind, made from fuzz-chosen data, then edited
//! (`op: u8, at: u16 LE, value: u8` a few times: flip a byte, truncate,
//! append, relabel the kind): it must resume if and only if the edits left
//! it unchanged, and a resumed stream must go on exactly as the original.
#![no_main]

use ferry_fuzz::Input;
use ferry_sync::crypto::{
    Blake2b512, CryptoError, FileDecryptor, FileEncryptor, Key, hash_checkpoint, hash_resume,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut input = Input::new(data);
    let mode = input.u8();
    let key = Key::from_bytes(input.array());
    if mode & 1 == 0 {
        raw(&key, input.rest());
    } else {
        edited(&key, mode, &mut input);
    }
});

fn raw(key: &Key, bytes: &[u8]) {
    if let Ok(mut encryptor) = FileEncryptor::resume(key, bytes) {
        let _ = encryptor.push(b"more", true);
    }
    if let Ok(mut decryptor) = FileDecryptor::resume(key, bytes) {
        let _ = decryptor.pull(&[0u8; 40]);
    }
    if let Ok(hasher) = hash_resume(bytes) {
        assert_eq!(hash_checkpoint(&hasher), bytes);
        let _ = hasher.finalize();
    }
    if let Ok(mut hasher) = Blake2b512::from_bytes(bytes) {
        assert_eq!(hasher.to_bytes()[..], *bytes);
        hasher.update(b"more");
        let _ = hasher.finalize();
    }
}

fn edited(key: &Key, mode: u8, input: &mut Input<'_>) {
    let header = input.array();
    let edits: Vec<(u8, u16, u8)> = (0..input.u8() % 4)
        .map(|_| (input.u8(), input.u16(), input.u8()))
        .collect();
    let plaintext = input.rest();

    // An encryptor before or after its (final) chunk, a decryptor after
    // it, a hasher.
    let mut encryptor = FileEncryptor::with_header_for_tests(key, header);
    let before = encryptor.checkpoint();
    let ciphertext = encryptor
        .push(plaintext, true)
        .expect("a small final chunk");
    let mut decryptor = FileDecryptor::new(key, &header).expect("24 bytes");
    assert_eq!(
        decryptor.pull(&ciphertext).map(|c| c.data),
        Ok(plaintext.to_vec())
    );
    let mut hasher = Blake2b512::new();
    hasher.update(plaintext);

    // What the encryptor checkpointed does next, for a resumed one to match.
    let (encryptor_checkpoint, chunks, next) = if mode & 2 == 0 {
        (before, 0, Ok(ciphertext))
    } else {
        (encryptor.checkpoint(), 1, Err(CryptoError::StreamFinished))
    };
    let checkpoints = [
        encryptor_checkpoint,
        decryptor.checkpoint(),
        hash_checkpoint(&hasher),
    ];
    for (kind, original) in checkpoints.iter().enumerate() {
        let mut bytes = original.clone();
        for &(op, at, value) in &edits {
            let at = usize::from(at) % (bytes.len() + 1);
            match op % 4 {
                0 if at < bytes.len() => bytes[at] ^= value,
                1 => bytes.truncate(at),
                2 => bytes.push(value),
                3 if bytes.len() > 4 => bytes[4] = value % 5,
                _ => {}
            }
        }
        let same = bytes == *original;
        match kind {
            0 => match FileEncryptor::resume(key, &bytes) {
                Ok(mut resumed) => {
                    assert!(same, "an edited encryptor checkpoint resumed");
                    assert_eq!(resumed.chunks_done(), chunks);
                    assert_eq!(resumed.push(plaintext, true), next);
                }
                Err(e) => refused(same, &e),
            },
            1 => match FileDecryptor::resume(key, &bytes) {
                Ok(resumed) => {
                    assert!(same, "an edited decryptor checkpoint resumed");
                    assert_eq!(resumed.chunks_done(), decryptor.chunks_done());
                    assert_eq!(resumed.is_finished(), decryptor.is_finished());
                }
                Err(e) => refused(same, &e),
            },
            _ => match hash_resume(&bytes) {
                Ok(resumed) => {
                    assert!(same, "an edited hash checkpoint resumed");
                    assert_eq!(resumed, hasher);
                }
                Err(e) => refused(same, &e),
            },
        }
    }
}

fn refused(same: bool, e: &CryptoError) {
    assert!(!same, "an unedited checkpoint was refused: {e}");
    assert!(matches!(
        e,
        CryptoError::BadCheckpoint(_) | CryptoError::CheckpointMismatch
    ));
}
