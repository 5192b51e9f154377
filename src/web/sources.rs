//! The engine's `Sources` in the browser. An item's source reference is
//! `idb:<n>`, a `Blob`, `File` or `FileSystemFileHandle` that `enqueue`
//! stored in IndexedDB (so it survives reloads and is readable from the
//! service worker), or `host:<anything>`, resolved by the host's
//! `resolveSource` callback to a reader `{size, lastModified, read(offset,
//! length)}` (hybrid shells reading native files).

use js_sys::{Function, Object, Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{Blob, File};

use super::convert::{count, describe, int};
use super::store::IdbStore;
use crate::engine::ports::{Source, SourceError, SourceInfo, Sources};

pub const STORED_PREFIX: &str = "idb:";
pub const HOST_PREFIX: &str = "host:";

#[derive(Debug, Clone)]
pub struct WebSources {
    pub store: IdbStore,
    pub resolver: Option<Function>,
}

#[derive(Debug)]
pub enum WebSource {
    Blob { blob: Blob, last_modified_ms: i64 },
    Host { reader: JsValue, info: SourceInfo },
}

fn field(object: &JsValue, name: &str) -> JsValue {
    Reflect::get(object, &JsValue::from_str(name)).unwrap_or(JsValue::UNDEFINED)
}

/// What a failed read of a browser file means. A `File` picked from disk is a
/// reference to it (Chromium keeps it as one in IndexedDB too): once the disk
/// file is deleted it reads as NotFoundError, once it changed as
/// NotReadableError, and it never reads again.
fn read_error(err: &JsValue) -> SourceError {
    let name = err
        .dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.name()))
        .unwrap_or_default();
    let text = describe(err);
    match name.as_str() {
        "NotFoundError" => SourceError::Gone(format!(
            "the file is no longer there (deleted or moved since it was added): {text}"
        )),
        // Also what a copy held in memory reads as once the browser's blob
        // storage is full (a private window, a file of several hundred MiB).
        "NotReadableError" => SourceError::Gone(format!(
            "the file can no longer be read: it changed on disk after it was added, or the browser dropped its copy for want of memory; add it again: {text}"
        )),
        "NotAllowedError" | "SecurityError" => SourceError::PermissionDenied(text),
        _ => SourceError::Unreadable(text),
    }
}

/// A stored `File` whose disk file was deleted reports size 0 and a new
/// `lastModified` at every look; only reading it tells. Reading an empty
/// blob costs nothing, so empty ones are read to tell them apart.
async fn check_empty(blob: &Blob) -> Result<(), SourceError> {
    if blob.size() == 0.0 {
        JsFuture::from(blob.array_buffer())
            .await
            .map_err(|e| read_error(&e))?;
    }
    Ok(())
}

async fn call_promise(
    target: &JsValue,
    method: &str,
    args: &[JsValue],
) -> Result<JsValue, JsValue> {
    let function: Function = field(target, method)
        .dyn_into()
        .map_err(|_| JsValue::from_str(method))?;
    let result = function.apply(target, &args.iter().collect())?;
    JsFuture::from(js_sys::Promise::resolve(&result)).await
}

/// A stored value as a blob: a `Blob`/`File`, or a file handle's current file.
async fn as_blob(value: JsValue) -> Result<(Blob, Option<i64>), SourceError> {
    if let Some(file) = value.dyn_ref::<File>() {
        check_empty(file).await?;
        return Ok((file.clone().into(), Some(int(file.last_modified()))));
    }
    if let Some(blob) = value.dyn_ref::<Blob>() {
        check_empty(blob).await?;
        return Ok((blob.clone(), None));
    }
    if field(&value, "getFile").is_function() {
        let options = Object::new();
        let _ = Reflect::set(&options, &"mode".into(), &"read".into());
        if field(&value, "queryPermission").is_function() {
            let permission = call_promise(&value, "queryPermission", &[options.into()])
                .await
                .map_err(|e| SourceError::PermissionDenied(describe(&e)))?;
            if permission.as_string().as_deref() != Some("granted") {
                return Err(SourceError::PermissionDenied(
                    "read permission for the file is not granted".into(),
                ));
            }
        }
        let file = call_promise(&value, "getFile", &[])
            .await
            .map_err(|e| read_error(&e))?;
        let file: File = file
            .dyn_into()
            .map_err(|_| SourceError::Unreadable("getFile() gave no File".into()))?;
        let modified = int(file.last_modified());
        return Ok((file.into(), Some(modified)));
    }
    Err(SourceError::Unreadable(
        "the stored source is not a Blob, File or file handle".into(),
    ))
}

/// `pieces` (`Uint8Array`s) one after the other, each copied once; no more
/// than `len` bytes (the caller checks there are exactly that many).
fn join(pieces: &js_sys::Array, len: u64) -> Vec<u8> {
    let mut bytes = vec![0; usize::try_from(len).unwrap_or(0)];
    let mut at = 0;
    for piece in pieces.iter() {
        let piece: Uint8Array = piece.unchecked_into();
        let end = at + piece.length() as usize;
        let Some(into) = bytes.get_mut(at..end) else {
            break;
        };
        piece.copy_to(into);
        at = end;
    }
    bytes.truncate(at);
    bytes
}

#[wasm_bindgen::prelude::wasm_bindgen(module = "/src/web/platform.js")]
extern "C" {
    /// The bytes from `start` to `end`, as an array of `Uint8Array` pieces.
    #[wasm_bindgen(js_name = readBlob)]
    fn read_blob(blob: &Blob, start: f64, end: f64) -> js_sys::Promise;
    #[wasm_bindgen(js_name = forgetKeptFiles)]
    fn forget_kept_files();
}

#[wasm_bindgen::prelude::wasm_bindgen(module = "/src/web/thumbnail.js")]
extern "C" {
    #[wasm_bindgen(js_name = makeThumbnail)]
    fn make_thumbnail(blob: &Blob, max_side: u32, max_bytes: u32) -> js_sys::Promise;
}

impl Sources for WebSources {
    type Source = WebSource;

    fn forget_reads(&self) {
        forget_kept_files();
    }

    async fn thumbnail(&self, source_ref: &str, max_side: u32, max_bytes: u32) -> Option<Vec<u8>> {
        // Host readers are native files the shell can thumbnail better itself.
        let WebSource::Blob { blob, .. } = self.open(source_ref).await.ok()? else {
            return None;
        };
        let jpeg = JsFuture::from(make_thumbnail(&blob, max_side, max_bytes))
            .await
            .ok()?;
        jpeg.dyn_ref::<Uint8Array>().map(Uint8Array::to_vec)
    }

    async fn open(&self, source_ref: &str) -> Result<WebSource, SourceError> {
        if let Some(host_ref) = source_ref.strip_prefix(HOST_PREFIX) {
            let resolver = self.resolver.as_ref().ok_or_else(|| {
                SourceError::Unreadable("a host source needs the resolveSource option".into())
            })?;
            let reader = resolver
                .call1(&JsValue::NULL, &JsValue::from_str(host_ref))
                .map_err(|e| SourceError::Unreadable(describe(&e)))?;
            let reader = JsFuture::from(js_sys::Promise::resolve(&reader))
                .await
                .map_err(|e| SourceError::Gone(describe(&e)))?;
            if reader.is_null() || reader.is_undefined() {
                return Err(SourceError::Gone(format!(
                    "the host has no file {host_ref}"
                )));
            }
            let size = field(&reader, "size")
                .as_f64()
                .filter(|s| *s >= 0.0 && s.fract() == 0.0);
            let size = size.ok_or_else(|| {
                SourceError::Invalid("the host reader's size is not a whole number of bytes".into())
            })?;
            let info = SourceInfo {
                size: count(size),
                last_modified_ms: int(field(&reader, "lastModified").as_f64().unwrap_or(0.0)),
            };
            return Ok(WebSource::Host { reader, info });
        }
        let value = self
            .store
            .stored_copy(source_ref)
            .await
            .map_err(|e| SourceError::Unreadable(e.0))?
            .ok_or_else(|| SourceError::Gone(format!("no stored source {source_ref}")))?;
        let (blob, modified) = as_blob(value).await?;
        Ok(WebSource::Blob {
            blob,
            last_modified_ms: modified.unwrap_or(0),
        })
    }
}

impl Source for WebSource {
    fn info(&self) -> SourceInfo {
        match self {
            Self::Blob {
                blob,
                last_modified_ms,
            } => SourceInfo {
                size: count(blob.size()),
                last_modified_ms: *last_modified_ms,
            },
            Self::Host { info, .. } => *info,
        }
    }

    async fn read(&self, offset: u64, len: u64) -> Result<Vec<u8>, SourceError> {
        let bytes = match self {
            Self::Blob { blob, .. } => {
                let pieces = JsFuture::from(read_blob(blob, offset as f64, (offset + len) as f64))
                    .await
                    .map_err(|e| read_error(&e))?;
                join(&pieces.unchecked_into(), len)
            }
            Self::Host { reader, .. } => {
                let buffer = call_promise(
                    reader,
                    "read",
                    &[
                        JsValue::from_f64(offset as f64),
                        JsValue::from_f64(len as f64),
                    ],
                )
                .await
                .map_err(|e| SourceError::Unreadable(describe(&e)))?;
                Uint8Array::new(&buffer).to_vec()
            }
        };
        if bytes.len() as u64 != len {
            return Err(SourceError::Unreadable(format!(
                "asked for {len} bytes at {offset}, got {}",
                bytes.len()
            )));
        }
        Ok(bytes)
    }
}
