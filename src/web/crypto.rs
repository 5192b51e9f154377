//! The file format, exported to JavaScript.

use wasm_bindgen::prelude::*;

use js_sys::Uint8Array;

use super::FerryError;
use super::convert::{bytes, key, object, uint8array};
use crate::crypto;

#[wasm_bindgen(typescript_custom_section)]
const CRYPTO_TYPES: &'static str = r#"
/** An encrypted file or message and the header needed to decrypt it. */
export interface EncryptedBytes { header: Uint8Array; ciphertext: Uint8Array; }
/** A key sealed with `crypto_secretbox_easy`, as the server stores it. */
export interface WrappedKey { encryptedKey: Uint8Array; nonce: Uint8Array; }
/** Any bytes sealed with `crypto_secretbox_easy` (an album's name, as Ente's clients seal it). */
export interface SealedBox { encryptedData: Uint8Array; nonce: Uint8Array; }
/** One decrypted chunk; `final` is true for the chunk tagged TAG_FINAL. */
export interface DecryptedChunk { data: Uint8Array; final: boolean; }
"#;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(typescript_type = "EncryptedBytes")]
    pub type EncryptedBytes;
    #[wasm_bindgen(typescript_type = "WrappedKey")]
    pub type WrappedKeyJs;
    #[wasm_bindgen(typescript_type = "DecryptedChunk")]
    pub type DecryptedChunk;
    #[wasm_bindgen(typescript_type = "SealedBox")]
    pub type SealedBoxJs;
}

fn encrypted(file: &crypto::EncryptedFile) -> EncryptedBytes {
    object(&[
        ("header", uint8array(&file.header)),
        ("ciphertext", uint8array(&file.ciphertext)),
    ])
    .unchecked_into()
}

/// A fresh random 32-byte key (file or collection key).
#[wasm_bindgen(js_name = generateKey)]
pub fn generate_key() -> Vec<u8> {
    crypto::Key::generate().as_bytes().to_vec()
}

type Seal = fn(&crypto::Key, &[u8]) -> crypto::EncryptedFile;
type Open = fn(&crypto::Key, &[u8], &[u8]) -> Result<Vec<u8>, crypto::CryptoError>;

fn seal_with(
    seal: Seal,
    file_key: &JsValue,
    plaintext: &JsValue,
) -> Result<EncryptedBytes, FerryError> {
    let file_key = key(file_key, "key")?;
    Ok(encrypted(&seal(&file_key, &bytes(plaintext, "bytes")?)))
}

fn open_with(
    open: Open,
    file_key: &JsValue,
    header: &JsValue,
    ciphertext: &JsValue,
) -> Result<Vec<u8>, FerryError> {
    let file_key = key(file_key, "key")?;
    Ok(open(
        &file_key,
        &bytes(header, "header")?,
        &bytes(ciphertext, "ciphertext")?,
    )?)
}

/// Encrypts a whole file held in memory in Ferry's chunked format.
#[wasm_bindgen(js_name = encryptFileBytes)]
pub fn encrypt_file_bytes(
    #[wasm_bindgen(unchecked_param_type = "Uint8Array")] file_key: &JsValue,
    #[wasm_bindgen(unchecked_param_type = "Uint8Array")] plaintext: &JsValue,
) -> Result<EncryptedBytes, FerryError> {
    seal_with(crypto::encrypt_file_bytes, file_key, plaintext)
}

/// Decrypts a whole file; refuses truncation and trailing data.
#[wasm_bindgen(js_name = decryptFileBytes)]
pub fn decrypt_file_bytes(
    #[wasm_bindgen(unchecked_param_type = "Uint8Array")] file_key: &JsValue,
    #[wasm_bindgen(unchecked_param_type = "Uint8Array")] header: &JsValue,
    #[wasm_bindgen(unchecked_param_type = "Uint8Array")] ciphertext: &JsValue,
) -> Result<Vec<u8>, FerryError> {
    open_with(crypto::decrypt_file_bytes, file_key, header, ciphertext)
}

/// Encrypts a thumbnail or metadata as one TAG_FINAL message.
#[wasm_bindgen(js_name = encryptMessage)]
pub fn encrypt_message(
    #[wasm_bindgen(unchecked_param_type = "Uint8Array")] file_key: &JsValue,
    #[wasm_bindgen(unchecked_param_type = "Uint8Array")] message: &JsValue,
) -> Result<EncryptedBytes, FerryError> {
    seal_with(crypto::encrypt_message, file_key, message)
}

/// Decrypts a single TAG_FINAL message (thumbnail or metadata).
#[wasm_bindgen(js_name = decryptMessage)]
pub fn decrypt_message(
    #[wasm_bindgen(unchecked_param_type = "Uint8Array")] file_key: &JsValue,
    #[wasm_bindgen(unchecked_param_type = "Uint8Array")] header: &JsValue,
    #[wasm_bindgen(unchecked_param_type = "Uint8Array")] ciphertext: &JsValue,
) -> Result<Vec<u8>, FerryError> {
    open_with(crypto::decrypt_message, file_key, header, ciphertext)
}

/// Wraps a 32-byte key under another (XSalsa20-Poly1305 secretbox).
#[wasm_bindgen(js_name = wrapKey)]
pub fn wrap_key(
    #[wasm_bindgen(unchecked_param_type = "Uint8Array")] key_to_wrap: &JsValue,
    #[wasm_bindgen(unchecked_param_type = "Uint8Array")] wrapping_key: &JsValue,
) -> Result<WrappedKeyJs, FerryError> {
    let wrapped = crypto::wrap_key(
        &key(key_to_wrap, "key")?,
        &key(wrapping_key, "wrappingKey")?,
    );
    Ok(object(&[
        ("encryptedKey", uint8array(&wrapped.encrypted_key)),
        ("nonce", uint8array(&wrapped.nonce)),
    ])
    .unchecked_into())
}

#[wasm_bindgen(js_name = unwrapKey)]
pub fn unwrap_key(
    #[wasm_bindgen(unchecked_param_type = "Uint8Array")] encrypted_key: &JsValue,
    #[wasm_bindgen(unchecked_param_type = "Uint8Array")] nonce: &JsValue,
    #[wasm_bindgen(unchecked_param_type = "Uint8Array")] wrapping_key: &JsValue,
) -> Result<Vec<u8>, FerryError> {
    let unwrapped = crypto::unwrap_key(
        &bytes(encrypted_key, "encryptedKey")?,
        &bytes(nonce, "nonce")?,
        &key(wrapping_key, "wrappingKey")?,
    )?;
    Ok(unwrapped.as_bytes().to_vec())
}

/// Seals any bytes under a key with a fresh nonce (XSalsa20-Poly1305
/// secretbox, libsodium's `crypto_secretbox_easy`): how Ente's clients seal
/// an album's name under its collection key.
#[wasm_bindgen(js_name = sealBox)]
pub fn seal_box(
    #[wasm_bindgen(unchecked_param_type = "Uint8Array")] message: &JsValue,
    #[wasm_bindgen(unchecked_param_type = "Uint8Array")] key_: &JsValue,
) -> Result<SealedBoxJs, FerryError> {
    let (sealed, nonce) = crypto::secretbox::seal(&key(key_, "key")?, &bytes(message, "message")?);
    Ok(object(&[
        ("encryptedData", uint8array(&sealed)),
        ("nonce", uint8array(&nonce)),
    ])
    .unchecked_into())
}

/// Opens a box made by [`seal_box`] or `crypto_secretbox_easy`.
#[wasm_bindgen(js_name = openBox)]
pub fn open_box(
    #[wasm_bindgen(unchecked_param_type = "Uint8Array")] encrypted_data: &JsValue,
    #[wasm_bindgen(unchecked_param_type = "Uint8Array")] nonce: &JsValue,
    #[wasm_bindgen(unchecked_param_type = "Uint8Array")] key_: &JsValue,
) -> Result<Vec<u8>, FerryError> {
    let opened = crypto::secretbox::open(
        &key(key_, "key")?,
        &bytes(nonce, "nonce")?,
        &bytes(encrypted_data, "encryptedData")?,
    )?;
    Ok(opened.to_vec())
}

/// Exact ciphertext size of a plaintext of `size` bytes.
#[wasm_bindgen(js_name = encryptedSize)]
pub fn encrypted_size(size: f64) -> Result<f64, FerryError> {
    if !(size >= 0.0 && size <= 2f64.powi(52) && size.fract() == 0.0) {
        return Err(FerryError::bad_input(
            "`size` must be a whole number of bytes",
        ));
    }
    Ok(crypto::encrypted_size(super::convert::count(size)) as f64)
}

#[wasm_bindgen(js_name = toBase64)]
pub fn to_base64(
    #[wasm_bindgen(unchecked_param_type = "Uint8Array")] data: &JsValue,
) -> Result<String, FerryError> {
    Ok(crypto::to_base64(&bytes(data, "bytes")?))
}

#[wasm_bindgen(js_name = fromBase64)]
pub fn from_base64(text: &str) -> Result<Vec<u8>, FerryError> {
    Ok(crypto::from_base64(text)?)
}

/// Streaming encryption of one file, 4 MiB plaintext chunk by chunk.
#[wasm_bindgen]
pub struct FileEncryptor {
    inner: crypto::FileEncryptor,
    /// One buffer for every chunk: no allocation and no zero-filling per push.
    frame: Vec<u8>,
}

impl core::fmt::Debug for FileEncryptor {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        self.inner.fmt(f)
    }
}

impl From<crypto::FileEncryptor> for FileEncryptor {
    fn from(inner: crypto::FileEncryptor) -> Self {
        Self {
            inner,
            frame: Vec::new(),
        }
    }
}

#[wasm_bindgen]
impl FileEncryptor {
    #[wasm_bindgen(constructor)]
    pub fn new(
        #[wasm_bindgen(unchecked_param_type = "Uint8Array")] file_key: &JsValue,
    ) -> Result<FileEncryptor, FerryError> {
        Ok(crypto::FileEncryptor::new(&key(file_key, "key")?).into())
    }

    /// Restores an encryptor from `checkpoint()`; it continues with exactly
    /// the bytes the original would have produced.
    pub fn resume(
        #[wasm_bindgen(unchecked_param_type = "Uint8Array")] file_key: &JsValue,
        #[wasm_bindgen(unchecked_param_type = "Uint8Array")] checkpoint: &JsValue,
    ) -> Result<FileEncryptor, FerryError> {
        Ok(crypto::FileEncryptor::resume(
            &key(file_key, "key")?,
            &bytes(checkpoint, "checkpoint")?,
        )?
        .into())
    }

    /// The 24-byte stream header (`decryptionHeader`).
    #[wasm_bindgen(getter)]
    pub fn header(&self) -> Vec<u8> {
        self.inner.header().to_vec()
    }

    #[wasm_bindgen(getter, js_name = chunksDone)]
    pub fn chunks_done(&self) -> f64 {
        self.inner.chunks_done() as f64
    }

    #[wasm_bindgen(getter)]
    pub fn finished(&self) -> bool {
        self.inner.is_finished()
    }

    /// Encrypts the next chunk: exactly 4 MiB unless `isFinal`.
    pub fn push(
        &mut self,
        #[wasm_bindgen(unchecked_param_type = "Uint8Array")] chunk: &JsValue,
        #[wasm_bindgen(js_name = isFinal)] is_final: Option<bool>,
    ) -> Result<Uint8Array, FerryError> {
        // Copy the plaintext straight into the frame and encrypt in place:
        // one copy in and one out, as libsodium does.
        let chunk = chunk
            .dyn_ref::<Uint8Array>()
            .ok_or_else(|| FerryError::bad_input("`chunk` must be a Uint8Array"))?;
        let len = chunk.length() as usize;
        if len > crypto::CHUNK_SIZE {
            return Err(crypto::CryptoError::BadChunkSize { got: len }.into());
        }
        fit(&mut self.frame, len + 1);
        chunk.copy_to(&mut self.frame[1..]);
        self.inner
            .seal_framed(&mut self.frame, 0, is_final.unwrap_or(false))?;
        Ok(copy_out(&self.frame))
    }

    /// The stream state sealed under the file key.
    pub fn checkpoint(&self) -> Vec<u8> {
        self.inner.checkpoint()
    }
}

/// Sets `buf`'s length to `len`, zero-filling only bytes never used before:
/// every chunk of a file but the last has the same size, so after the first
/// this only moves the end.
fn fit(buf: &mut Vec<u8>, len: usize) {
    if buf.len() >= len {
        buf.truncate(len);
    } else {
        buf.resize(len, 0);
    }
}

/// A copy of `bytes` owned by JavaScript, made as wasm-bindgen returns a
/// `Vec<u8>` (a view of wasm memory, sliced) but leaving the buffer here for
/// the next chunk.
fn copy_out(bytes: &[u8]) -> Uint8Array {
    let memory: js_sys::WebAssembly::Memory = wasm_bindgen::memory().unchecked_into();
    // wasm32 addresses and lengths are 32-bit.
    let at = u32::try_from(bytes.as_ptr() as usize).unwrap_or(u32::MAX);
    let len = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
    Uint8Array::new_with_byte_offset_and_length(&memory.buffer(), at, len).slice(0, len)
}

/// Streaming decryption of one file, encrypted chunk by chunk.
#[wasm_bindgen]
pub struct FileDecryptor {
    inner: crypto::FileDecryptor,
    /// One buffer for every chunk, decrypted in place.
    frame: Vec<u8>,
}

impl core::fmt::Debug for FileDecryptor {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        self.inner.fmt(f)
    }
}

impl From<crypto::FileDecryptor> for FileDecryptor {
    fn from(inner: crypto::FileDecryptor) -> Self {
        Self {
            inner,
            frame: Vec::new(),
        }
    }
}

#[wasm_bindgen]
impl FileDecryptor {
    #[wasm_bindgen(constructor)]
    pub fn new(
        #[wasm_bindgen(unchecked_param_type = "Uint8Array")] file_key: &JsValue,
        #[wasm_bindgen(unchecked_param_type = "Uint8Array")] header: &JsValue,
    ) -> Result<FileDecryptor, FerryError> {
        Ok(crypto::FileDecryptor::new(&key(file_key, "key")?, &bytes(header, "header")?)?.into())
    }

    pub fn resume(
        #[wasm_bindgen(unchecked_param_type = "Uint8Array")] file_key: &JsValue,
        #[wasm_bindgen(unchecked_param_type = "Uint8Array")] checkpoint: &JsValue,
    ) -> Result<FileDecryptor, FerryError> {
        Ok(crypto::FileDecryptor::resume(
            &key(file_key, "key")?,
            &bytes(checkpoint, "checkpoint")?,
        )?
        .into())
    }

    #[wasm_bindgen(getter, js_name = chunksDone)]
    pub fn chunks_done(&self) -> f64 {
        self.inner.chunks_done() as f64
    }

    #[wasm_bindgen(getter)]
    pub fn finished(&self) -> bool {
        self.inner.is_finished()
    }

    /// Authenticates and decrypts the next encrypted chunk (at most 4 MiB + 17).
    pub fn pull(
        &mut self,
        #[wasm_bindgen(unchecked_param_type = "Uint8Array")] chunk: &JsValue,
    ) -> Result<DecryptedChunk, FerryError> {
        let chunk = chunk
            .dyn_ref::<Uint8Array>()
            .ok_or_else(|| FerryError::bad_input("`chunk` must be a Uint8Array"))?;
        let len = chunk.length() as usize;
        // Refused before anything is copied.
        if len > crypto::ENCRYPTED_CHUNK_SIZE {
            return Err(crypto::CryptoError::BadChunkLength { got: len }.into());
        }
        fit(&mut self.frame, len);
        chunk.copy_to(&mut self.frame);
        let is_final = self.inner.open_framed(&mut self.frame)?;
        let plaintext = &self.frame[1..len - crypto::secretstream::MAC_BYTES];
        Ok(object(&[
            ("data", copy_out(plaintext).into()),
            ("final", JsValue::from_bool(is_final)),
        ])
        .unchecked_into())
    }

    pub fn checkpoint(&self) -> Vec<u8> {
        self.inner.checkpoint()
    }
}

/// Streaming BLAKE2b-512, equal to libsodium's `crypto_generichash(64, …)`.
#[wasm_bindgen]
pub struct Blake2b512 {
    hasher: Option<crypto::Blake2b512>,
    /// Input is copied in slices this size and hashed while still in cache.
    slice: Vec<u8>,
}

impl core::fmt::Debug for Blake2b512 {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        self.hasher.fmt(f)
    }
}

const HASH_SLICE_BYTES: u32 = 64 * 1024;

impl From<crypto::Blake2b512> for Blake2b512 {
    fn from(hasher: crypto::Blake2b512) -> Self {
        Self {
            hasher: Some(hasher),
            slice: Vec::new(),
        }
    }
}

#[wasm_bindgen]
impl Blake2b512 {
    #[wasm_bindgen(constructor)]
    #[allow(clippy::new_without_default)]
    pub fn new() -> Blake2b512 {
        crypto::Blake2b512::new().into()
    }

    /// Restores a hasher from `checkpoint()`, e.g. in a later run.
    pub fn resume(
        #[wasm_bindgen(unchecked_param_type = "Uint8Array")] checkpoint: &JsValue,
    ) -> Result<Blake2b512, FerryError> {
        Ok(crypto::hash_resume(&bytes(checkpoint, "checkpoint")?)?.into())
    }

    pub fn update(
        &mut self,
        #[wasm_bindgen(unchecked_param_type = "Uint8Array")] data: &JsValue,
    ) -> Result<(), FerryError> {
        let data = data
            .dyn_ref::<Uint8Array>()
            .ok_or_else(|| FerryError::bad_input("`data` must be a Uint8Array"))?;
        let hasher = self.hasher.as_mut().ok_or_else(finished)?;
        let total = data.length();
        let mut at = 0;
        while at < total {
            let end = total.min(at + HASH_SLICE_BYTES);
            fit(&mut self.slice, (end - at) as usize);
            data.subarray(at, end).copy_to(&mut self.slice);
            hasher.update(&self.slice);
            at = end;
        }
        Ok(())
    }

    /// Bytes hashed so far.
    #[wasm_bindgen(getter, js_name = bytesHashed)]
    pub fn bytes_hashed(&self) -> f64 {
        self.hasher
            .as_ref()
            .map_or(0.0, |h| h.bytes_hashed() as f64)
    }

    pub fn checkpoint(&mut self) -> Result<Vec<u8>, FerryError> {
        Ok(crypto::hash_checkpoint(
            self.hasher.as_ref().ok_or_else(finished)?,
        ))
    }

    /// The 64-byte digest. The hasher cannot be used afterwards.
    pub fn finalize(&mut self) -> Result<Vec<u8>, FerryError> {
        let hasher = self.hasher.take().ok_or_else(finished)?;
        Ok(hasher.finalize().to_vec())
    }
}

fn finished() -> FerryError {
    crypto::CryptoError::StreamFinished.into()
}
