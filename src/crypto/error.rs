use core::fmt;

/// Why a cryptographic operation refused its input.
///
/// Every variant maps to a stable, documented code (`code()`) that crosses to
/// JavaScript unchanged, so hosts can branch on it without parsing messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CryptoError {
    /// A key was not 32 bytes.
    BadKeyLength { got: usize },
    /// A secretstream header was not 24 bytes.
    BadHeader { got: usize },
    /// A nonce had the wrong length.
    BadNonceLength { expected: usize, got: usize },
    /// Authentication failed: wrong key, wrong header, or altered bytes.
    DecryptFailed,
    /// The stream ended before a chunk tagged final.
    Truncated,
    /// Bytes followed the chunk tagged final.
    TrailingData,
    /// A ciphertext chunk was too short to hold a tag and a MAC, or too long
    /// to be one chunk of the file format.
    BadChunkLength { got: usize },
    /// A plaintext chunk broke the file format's chunking (every chunk but the
    /// last is exactly `CHUNK_SIZE`).
    BadChunkSize { got: usize },
    /// The stream was already finished; nothing more may be pushed or pulled.
    StreamFinished,
    /// A checkpoint is not one this version of Ferry can read.
    BadCheckpoint(&'static str),
    /// A checkpoint was sealed under a different key or belongs to another
    /// kind of stream.
    CheckpointMismatch,
    /// Base64 text did not decode.
    BadBase64,
}

impl CryptoError {
    /// The stable machine-readable code, identical to `FerryError.code` in JS.
    pub fn code(&self) -> &'static str {
        match self {
            Self::BadKeyLength { .. } => "BAD_KEY_LENGTH",
            Self::BadHeader { .. } => "BAD_HEADER",
            Self::BadNonceLength { .. } => "BAD_NONCE_LENGTH",
            Self::DecryptFailed => "DECRYPT_FAILED",
            Self::Truncated => "TRUNCATED",
            Self::TrailingData => "TRAILING_DATA",
            Self::BadChunkLength { .. } => "BAD_CHUNK_LENGTH",
            Self::BadChunkSize { .. } => "BAD_CHUNK_SIZE",
            Self::StreamFinished => "STREAM_FINISHED",
            Self::BadCheckpoint(_) => "BAD_CHECKPOINT",
            Self::CheckpointMismatch => "CHECKPOINT_MISMATCH",
            Self::BadBase64 => "BAD_BASE64",
        }
    }
}

impl fmt::Display for CryptoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadKeyLength { got } => write!(f, "a key must be 32 bytes, got {got}"),
            Self::BadHeader { got } => {
                write!(f, "a secretstream header must be 24 bytes, got {got}")
            }
            Self::BadNonceLength { expected, got } => {
                write!(f, "a nonce must be {expected} bytes, got {got}")
            }
            Self::DecryptFailed => {
                f.write_str("decryption failed: wrong key or header, or the ciphertext was altered")
            }
            Self::Truncated => f.write_str("the stream ended before its final chunk"),
            Self::TrailingData => f.write_str("data follows the final chunk of the stream"),
            Self::BadChunkLength { got } => {
                write!(f, "{got} bytes cannot be one encrypted chunk")
            }
            Self::BadChunkSize { got } => write!(
                f,
                "a plaintext chunk of {got} bytes breaks the file format: every chunk but the last must be exactly 4194304 bytes, the last at most that"
            ),
            Self::StreamFinished => f.write_str("the stream is already finished"),
            Self::BadCheckpoint(why) => write!(f, "unreadable checkpoint: {why}"),
            Self::CheckpointMismatch => {
                f.write_str("the checkpoint does not belong to this key or this kind of stream")
            }
            Self::BadBase64 => f.write_str("the text is not valid standard base64"),
        }
    }
}

impl std::error::Error for CryptoError {}
