//! The secretstream decryptor on anything: a key, a header (of any length
//! when the first byte says so), then frames of `ad_len: u8, len: u16 LE,
//! ad, chunk`. Each frame goes to the libsodium-level `StreamState::pull`
//! (with its associated data) and, in lockstep, to `FileDecryptor::pull`
//! and `FileDecryptor::open_framed`, which must agree; every decryptor that
//! moved on checkpoints and resumes to the same place. The bytes after the
//! header, whole, go to `decrypt_file_bytes` and `decrypt_message`.
//! Nothing may panic; without the key, nothing may decrypt.
#![no_main]

use ferry_fuzz::Input;
use ferry_sync::crypto::secretstream::{HEADER_BYTES, StreamState, tag};
use ferry_sync::crypto::{CryptoError, FileDecryptor, Key, decrypt_file_bytes, decrypt_message};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut input = Input::new(data);
    let flags = input.u8();
    let key = Key::from_bytes(input.array());
    let header_len = if flags & 1 == 1 {
        usize::from(input.u8() % 48)
    } else {
        HEADER_BYTES
    };
    let header = input.take(header_len).to_vec();
    let body = input.rest();

    // Whole-file and single-message decryption of everything after the header.
    match decrypt_file_bytes(&key, &header, body) {
        Ok(plaintext) => assert!(plaintext.len() < body.len()),
        Err(e) => check_error(&e),
    }
    match decrypt_message(&key, &header, body) {
        Ok(plaintext) => assert_eq!(plaintext.len() + 17, body.len()),
        Err(e) => check_error(&e),
    }

    let mut state = StreamState::init_pull(&key, &header);
    let file = FileDecryptor::new(&key, &header);
    let framed = FileDecryptor::new(&key, &header);
    assert_eq!(state.is_ok(), header.len() == HEADER_BYTES);
    assert_eq!(file.is_ok(), header.len() == HEADER_BYTES);
    let (Ok(state), Ok(mut file), Ok(mut framed)) = (state.as_mut(), file, framed) else {
        return;
    };

    let mut frames = Input::new(body);
    while !frames.is_empty() {
        let ad_len = usize::from(frames.u8());
        let len = usize::from(frames.u16());
        let ad = frames.take(ad_len);
        let chunk = frames.take(len);

        // libsodium's pull: on failure the state and the output are unchanged.
        let before = state.clone();
        let mut out = vec![0xAA];
        match state.pull(&mut out, chunk, ad) {
            Ok(t) => {
                assert!(t <= tag::FINAL);
                assert_eq!(out.len(), chunk.len() - 17 + 1);
            }
            Err(e) => {
                check_error(&e);
                assert_eq!(out, [0xAA]);
                assert_eq!(*state, before);
            }
        }

        // The file decryptor, copying and in place: the same answer.
        let was = (file.chunks_done(), file.is_finished());
        let pulled = file.pull(chunk);
        let mut frame = chunk.to_vec();
        let opened = framed.open_framed(&mut frame);
        match (&pulled, &opened) {
            (Ok(p), Ok(is_final)) => {
                assert_eq!(p.is_final, *is_final);
                assert_eq!(p.data[..], frame[1..frame.len() - 16]);
            }
            (Err(a), Err(b)) => {
                assert_eq!(a, b);
                check_error(a);
                assert_eq!((file.chunks_done(), file.is_finished()), was);
            }
            _ => panic!("pull {pulled:?} and open_framed {opened:?} disagree"),
        }
        assert_eq!(file.chunks_done(), framed.chunks_done());
        assert_eq!(file.is_finished(), framed.is_finished());

        // A checkpoint resumes exactly where the decryptor stands.
        if pulled.is_ok() {
            let resumed = FileDecryptor::resume(&key, &file.checkpoint())
                .expect("a decryptor's own checkpoint resumes");
            assert_eq!(resumed.chunks_done(), file.chunks_done());
            assert_eq!(resumed.is_finished(), file.is_finished());
        }
    }
});

/// Errors are typed and say something.
fn check_error(e: &CryptoError) {
    assert!(!e.to_string().is_empty());
}
