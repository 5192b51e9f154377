//! Ferry's file format: a secretstream over 4 MiB plaintext chunks, every
//! chunk `TAG_MESSAGE` but the last, which is `TAG_FINAL` (an empty file is
//! one empty final chunk). Both directions can checkpoint after any chunk so
//! an upload resumes mid-file, in a later run, without re-encrypting.

use zeroize::Zeroizing;

use super::checkpoint::{self, CheckpointKind};
use super::secretstream::{ABYTES, HEADER_BYTES, MAC_BYTES, STATE_BYTES, StreamState, tag};
use super::{CryptoError, Key};

/// Plaintext bytes per chunk (4 MiB), fixed by the format.
pub const CHUNK_SIZE: usize = 4 * 1024 * 1024;
/// Ciphertext bytes of a full chunk.
pub const ENCRYPTED_CHUNK_SIZE: usize = CHUNK_SIZE + ABYTES;

/// Number of chunks a plaintext of `size` bytes is cut into.
pub fn chunk_count(size: u64) -> u64 {
    size.div_ceil(CHUNK_SIZE as u64).max(1)
}

/// Exact ciphertext size of a plaintext of `size` bytes.
pub fn encrypted_size(size: u64) -> u64 {
    size + chunk_count(size) * ABYTES as u64
}

/// Where a stream stands: which chunk comes next and whether it has ended.
#[derive(Clone)]
struct Position {
    header: [u8; HEADER_BYTES],
    state: StreamState,
    chunks: u64,
    finished: bool,
}

const POSITION_BYTES: usize = HEADER_BYTES + STATE_BYTES + 8 + 1;

impl Position {
    fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let mut out = Zeroizing::new(Vec::with_capacity(POSITION_BYTES));
        out.extend_from_slice(&self.header);
        out.extend_from_slice(&self.state.to_bytes());
        out.extend_from_slice(&self.chunks.to_le_bytes());
        out.push(u8::from(self.finished));
        out
    }

    fn from_bytes(bytes: &[u8]) -> Result<Self, CryptoError> {
        if bytes.len() != POSITION_BYTES {
            return Err(CryptoError::BadCheckpoint("wrong length"));
        }
        let (header, rest) = bytes.split_at(HEADER_BYTES);
        let (state, rest) = rest.split_at(STATE_BYTES);
        let (chunks, finished) = rest.split_at(8);
        let mut header_array = [0u8; HEADER_BYTES];
        header_array.copy_from_slice(header);
        let mut state_array = Zeroizing::new([0u8; STATE_BYTES]);
        state_array.copy_from_slice(state);
        let mut chunks_array = [0u8; 8];
        chunks_array.copy_from_slice(chunks);
        let finished = match finished[0] {
            0 => false,
            1 => true,
            _ => return Err(CryptoError::BadCheckpoint("corrupt flag")),
        };
        Ok(Self {
            header: header_array,
            state: StreamState::from_bytes(&state_array),
            chunks: u64::from_le_bytes(chunks_array),
            finished,
        })
    }
}

/// Encrypts a file chunk by chunk.
pub struct FileEncryptor {
    key: Key,
    position: Position,
}

impl core::fmt::Debug for FileEncryptor {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("FileEncryptor")
            .field("chunks", &self.position.chunks)
            .field("finished", &self.position.finished)
            .finish_non_exhaustive()
    }
}

impl FileEncryptor {
    pub fn new(key: &Key) -> Self {
        let (state, header) = StreamState::init_push(key);
        Self::from_parts(key, header, state)
    }

    /// An encryptor with a chosen header: for known-answer tests only, since a
    /// header reused under the same key repeats the keystream.
    #[doc(hidden)]
    pub fn with_header_for_tests(key: &Key, header: [u8; HEADER_BYTES]) -> Self {
        let state = StreamState::from_header(key, &header);
        Self::from_parts(key, header, state)
    }

    fn from_parts(key: &Key, header: [u8; HEADER_BYTES], state: StreamState) -> Self {
        Self {
            key: key.clone(),
            position: Position {
                header,
                state,
                chunks: 0,
                finished: false,
            },
        }
    }

    /// Restores an encryptor from [`checkpoint`](Self::checkpoint); it then
    /// produces exactly the bytes the original would have.
    pub fn resume(key: &Key, checkpoint: &[u8]) -> Result<Self, CryptoError> {
        let payload = checkpoint::open(key, CheckpointKind::Encryptor, checkpoint)?;
        Ok(Self {
            key: key.clone(),
            position: Position::from_bytes(&payload)?,
        })
    }

    pub fn header(&self) -> &[u8; HEADER_BYTES] {
        &self.position.header
    }

    /// Chunks encrypted so far.
    pub fn chunks_done(&self) -> u64 {
        self.position.chunks
    }

    pub fn is_finished(&self) -> bool {
        self.position.finished
    }

    /// Encrypts the next chunk. Every chunk but the last must be exactly
    /// [`CHUNK_SIZE`] bytes; the last (`is_final`) at most that.
    pub fn push(&mut self, chunk: &[u8], is_final: bool) -> Result<Vec<u8>, CryptoError> {
        let mut out = Vec::with_capacity(chunk.len() + ABYTES);
        self.push_into(&mut out, chunk, is_final)?;
        Ok(out)
    }

    pub fn push_into(
        &mut self,
        out: &mut Vec<u8>,
        chunk: &[u8],
        is_final: bool,
    ) -> Result<(), CryptoError> {
        if self.position.finished {
            return Err(CryptoError::StreamFinished);
        }
        let start = out.len();
        out.reserve(chunk.len() + ABYTES);
        out.push(0);
        out.extend_from_slice(chunk);
        self.seal_framed(out, start, is_final)
    }

    /// Encrypts a chunk already copied into `buf[start + 1..]` (with
    /// `buf[start]` reserved for the tag byte) in place, appending the MAC.
    /// See [`StreamState::push_framed`].
    pub fn seal_framed(
        &mut self,
        buf: &mut Vec<u8>,
        start: usize,
        is_final: bool,
    ) -> Result<(), CryptoError> {
        let len = buf.len().saturating_sub(start + 1);
        if self.position.finished {
            buf.truncate(start);
            return Err(CryptoError::StreamFinished);
        }
        let fits = if is_final {
            len <= CHUNK_SIZE
        } else {
            len == CHUNK_SIZE
        };
        if !fits || buf.len() <= start {
            buf.truncate(start);
            return Err(CryptoError::BadChunkSize { got: len });
        }
        let chunk_tag = if is_final { tag::FINAL } else { tag::MESSAGE };
        self.position.state.push_framed(buf, start, &[], chunk_tag);
        self.position.chunks += 1;
        self.position.finished = is_final;
        Ok(())
    }

    /// The encryptor's state, sealed under its key (see `checkpoint`).
    pub fn checkpoint(&self) -> Vec<u8> {
        checkpoint::seal(
            &self.key,
            CheckpointKind::Encryptor,
            &self.position.to_bytes(),
        )
    }
}

/// One decrypted chunk.
#[derive(Debug, PartialEq, Eq)]
pub struct PulledChunk {
    pub data: Vec<u8>,
    pub is_final: bool,
}

/// Decrypts a file chunk by chunk.
pub struct FileDecryptor {
    key: Key,
    position: Position,
}

impl core::fmt::Debug for FileDecryptor {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("FileDecryptor")
            .field("chunks", &self.position.chunks)
            .field("finished", &self.position.finished)
            .finish_non_exhaustive()
    }
}

impl FileDecryptor {
    pub fn new(key: &Key, header: &[u8]) -> Result<Self, CryptoError> {
        let state = StreamState::init_pull(key, header)?;
        let mut header_array = [0u8; HEADER_BYTES];
        header_array.copy_from_slice(header);
        Ok(Self {
            key: key.clone(),
            position: Position {
                header: header_array,
                state,
                chunks: 0,
                finished: false,
            },
        })
    }

    pub fn resume(key: &Key, checkpoint: &[u8]) -> Result<Self, CryptoError> {
        let payload = checkpoint::open(key, CheckpointKind::Decryptor, checkpoint)?;
        Ok(Self {
            key: key.clone(),
            position: Position::from_bytes(&payload)?,
        })
    }

    pub fn chunks_done(&self) -> u64 {
        self.position.chunks
    }

    pub fn is_finished(&self) -> bool {
        self.position.finished
    }

    /// Authenticates and decrypts the next encrypted chunk. After the final
    /// chunk, anything more is `TrailingData`.
    pub fn pull(&mut self, encrypted_chunk: &[u8]) -> Result<PulledChunk, CryptoError> {
        if self.position.finished {
            return Err(CryptoError::TrailingData);
        }
        if encrypted_chunk.len() < ABYTES || encrypted_chunk.len() > ENCRYPTED_CHUNK_SIZE {
            return Err(CryptoError::BadChunkLength {
                got: encrypted_chunk.len(),
            });
        }
        let mut data = Vec::with_capacity(encrypted_chunk.len() - ABYTES);
        let chunk_tag = self.position.state.pull(&mut data, encrypted_chunk, &[])?;
        Ok(PulledChunk {
            data,
            is_final: self.after(chunk_tag),
        })
    }

    /// [`pull`](Self::pull) in place: `frame` is one encrypted chunk
    /// (`tag ‖ ciphertext ‖ mac`); on success `frame[1..frame.len() - MAC_BYTES]`
    /// holds the plaintext and the result says whether it was the final
    /// chunk. On failure the decryptor is unchanged and the bytes of `frame`
    /// are unspecified. Saves the copy `pull` makes for a caller that
    /// already copied the chunk into its own buffer.
    pub fn open_framed(&mut self, frame: &mut [u8]) -> Result<bool, CryptoError> {
        if self.position.finished {
            return Err(CryptoError::TrailingData);
        }
        if frame.len() < ABYTES || frame.len() > ENCRYPTED_CHUNK_SIZE {
            return Err(CryptoError::BadChunkLength { got: frame.len() });
        }
        let (head, mac) = frame.split_at_mut(frame.len() - MAC_BYTES);
        let mut received = [0u8; MAC_BYTES];
        received.copy_from_slice(mac);
        let (encrypted_tag, body) = head.split_at_mut(1);
        let chunk_tag =
            self.position
                .state
                .open_in_place(encrypted_tag[0], body, &received, &[])?;
        Ok(self.after(chunk_tag))
    }

    /// Counts a chunk that opened with `chunk_tag`; whether it was the last.
    fn after(&mut self, chunk_tag: u8) -> bool {
        let is_final = chunk_tag == tag::FINAL;
        self.position.chunks += 1;
        self.position.finished = is_final;
        is_final
    }

    pub fn checkpoint(&self) -> Vec<u8> {
        checkpoint::seal(
            &self.key,
            CheckpointKind::Decryptor,
            &self.position.to_bytes(),
        )
    }
}

/// An encrypted file held whole in memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncryptedFile {
    pub header: [u8; HEADER_BYTES],
    pub ciphertext: Vec<u8>,
}

/// Encrypts a whole in-memory file in the chunked format.
pub fn encrypt_file_bytes(key: &Key, plaintext: &[u8]) -> EncryptedFile {
    let encryptor = FileEncryptor::new(key);
    encrypt_with(encryptor, plaintext)
}

pub(crate) fn encrypt_with(mut encryptor: FileEncryptor, plaintext: &[u8]) -> EncryptedFile {
    let total = usize::try_from(encrypted_size(plaintext.len() as u64)).unwrap_or(0);
    let mut ciphertext = Vec::with_capacity(total);
    let mut chunks = plaintext.chunks(CHUNK_SIZE).peekable();
    if chunks.peek().is_none() {
        // Only the push of an oversized chunk can fail; these never are.
        let _ = encryptor.push_into(&mut ciphertext, &[], true);
    }
    while let Some(chunk) = chunks.next() {
        let _ = encryptor.push_into(&mut ciphertext, chunk, chunks.peek().is_none());
    }
    EncryptedFile {
        header: *encryptor.header(),
        ciphertext,
    }
}

/// Decrypts a whole in-memory file, refusing a missing final chunk
/// (`Truncated`) and anything after it (`TrailingData`).
pub fn decrypt_file_bytes(
    key: &Key,
    header: &[u8],
    ciphertext: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    let mut decryptor = FileDecryptor::new(key, header)?;
    let mut plaintext = Vec::with_capacity(ciphertext.len());
    let mut rest = ciphertext;
    while !decryptor.is_finished() {
        if rest.is_empty() {
            return Err(CryptoError::Truncated);
        }
        let (chunk, tail) = rest.split_at(rest.len().min(ENCRYPTED_CHUNK_SIZE));
        if chunk.len() < ABYTES {
            return Err(CryptoError::Truncated);
        }
        decryptor
            .position
            .state
            .pull(&mut plaintext, chunk, &[])
            .map(|t| decryptor.position.finished = t == tag::FINAL)?;
        decryptor.position.chunks += 1;
        rest = tail;
    }
    if !rest.is_empty() {
        return Err(CryptoError::TrailingData);
    }
    Ok(plaintext)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(encrypted_size(0), 17);
        assert_eq!(encrypted_size(CHUNK_SIZE as u64), CHUNK_SIZE as u64 + 17);
        assert_eq!(
            encrypted_size(CHUNK_SIZE as u64 + 1),
            CHUNK_SIZE as u64 + 35
        );
        assert_eq!(chunk_count(3 * CHUNK_SIZE as u64 + 5), 4);
    }

    #[test]
    fn non_final_chunks_must_be_whole() {
        let mut enc = FileEncryptor::new(&Key::generate());
        assert_eq!(
            enc.push(&[0u8; 10], false),
            Err(CryptoError::BadChunkSize { got: 10 })
        );
        let too_big = vec![0u8; CHUNK_SIZE + 1];
        assert!(matches!(
            enc.push(&too_big, true),
            Err(CryptoError::BadChunkSize { .. })
        ));
        enc.push(b"last", true).unwrap();
        assert_eq!(enc.push(b"more", true), Err(CryptoError::StreamFinished));
    }

    #[test]
    fn checkpoints_refuse_the_wrong_key_and_kind() {
        let key = Key::generate();
        let mut enc = FileEncryptor::new(&key);
        enc.push(&vec![1u8; CHUNK_SIZE], false).unwrap();
        let cp = enc.checkpoint();
        assert!(FileEncryptor::resume(&key, &cp).is_ok());
        assert_eq!(
            FileEncryptor::resume(&Key::generate(), &cp).unwrap_err(),
            CryptoError::CheckpointMismatch
        );
        assert_eq!(
            FileDecryptor::resume(&key, &cp).unwrap_err(),
            CryptoError::CheckpointMismatch
        );
        // Relabel the kind byte: authentication of the bound prefix fails.
        let mut relabelled = cp.clone();
        relabelled[4] = CheckpointKind::Decryptor as u8;
        assert_eq!(
            FileDecryptor::resume(&key, &relabelled).unwrap_err(),
            CryptoError::CheckpointMismatch
        );
        for i in 0..cp.len() {
            let mut bad = cp.clone();
            bad[i] ^= 0x01;
            let err = FileEncryptor::resume(&key, &bad).unwrap_err();
            assert!(matches!(
                err,
                CryptoError::CheckpointMismatch | CryptoError::BadCheckpoint(_)
            ));
        }
        assert!(matches!(
            FileEncryptor::resume(&key, &cp[..cp.len() - 1]),
            Err(CryptoError::CheckpointMismatch)
        ));
        assert!(matches!(
            FileEncryptor::resume(&key, b"FRY"),
            Err(CryptoError::BadCheckpoint(_))
        ));
    }
}
