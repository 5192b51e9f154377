//! Ferry's file format: libsodium-compatible secretstream, secretbox key
//! wrapping and BLAKE2b-512 hashing, all resumable through checkpoints.
#![forbid(unsafe_code)]

mod b64;
mod blake2b;
mod checkpoint;
mod error;
mod file_stream;
mod hash;
mod key;
mod message;
mod salsa;
pub mod secretbox;
pub mod secretstream;

pub use b64::{from_base64, to_base64};
pub use blake2b::{Blake2b512, OUTPUT_BYTES as HASH_BYTES};
pub use error::CryptoError;
pub use file_stream::{
    CHUNK_SIZE, ENCRYPTED_CHUNK_SIZE, EncryptedFile, FileDecryptor, FileEncryptor, PulledChunk,
    chunk_count, decrypt_file_bytes, encrypt_file_bytes, encrypted_size,
};
pub use hash::{HASH_CHECKPOINT_BYTES, hash_checkpoint, hash_resume};
pub use key::{KEY_BYTES, Key, random_bytes};
pub use message::{check_header, decrypt_message, encrypt_message};
pub use secretbox::{WrappedKey, unwrap_key, wrap_key};
