//! How queue values cross to and from JavaScript: parsing `enqueue` items,
//! and the plain shapes of statuses, items, reports and progress events.

use js_sys::{Array, Reflect};
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{Blob, File};

use super::FerryError;
use super::convert::{count, int};
use super::sources::{HOST_PREFIX, STORED_PREFIX};
use crate::protocol::json_write::{Object, ToJson, to_json};
use crate::queue::{FileType, Item, NewItem, PublicState, Step};

pub fn field(object: &JsValue, name: &str) -> JsValue {
    Reflect::get(object, &JsValue::from_str(name)).unwrap_or(JsValue::UNDEFINED)
}

/// An optional field: `None` when absent or null, `BAD_INPUT` naming the
/// field when `read` refuses it.
fn optional_field<T>(
    object: &JsValue,
    name: &str,
    kind: &str,
    read: impl FnOnce(&JsValue) -> Option<T>,
) -> Result<Option<T>, FerryError> {
    optional(&field(object, name), name, kind, read)
}

/// [`optional_field`] over a field already read.
fn optional<T>(
    value: &JsValue,
    name: &str,
    kind: &str,
    read: impl FnOnce(&JsValue) -> Option<T>,
) -> Result<Option<T>, FerryError> {
    if value.is_undefined() || value.is_null() {
        return Ok(None);
    }
    read(value)
        .map(Some)
        .ok_or_else(|| FerryError::bad_input(format!("`{name}` must be {kind}")))
}

fn as_finite(value: &JsValue) -> Option<f64> {
    value.as_f64().filter(|n| n.is_finite())
}

pub fn bool_field(object: &JsValue, name: &str) -> Result<Option<bool>, FerryError> {
    optional_field(object, name, "a boolean", JsValue::as_bool)
}

pub fn string_field(object: &JsValue, name: &str) -> Result<Option<String>, FerryError> {
    optional_field(object, name, "a string", JsValue::as_string)
}

pub fn number_field(object: &JsValue, name: &str) -> Result<Option<f64>, FerryError> {
    optional_field(object, name, "a number", as_finite)
}

/// An optional whole-number option from `min` to `max`, `default` when absent.
pub fn whole_field(
    object: &JsValue,
    name: &str,
    min: u32,
    max: u32,
    default: u32,
) -> Result<u32, FerryError> {
    let Some(n) = number_field(object, name)? else {
        return Ok(default);
    };
    if n.fract() != 0.0 || n < f64::from(min) || n > f64::from(max) {
        return Err(FerryError::bad_input(format!(
            "`{name}` must be a whole number from {min} to {max}"
        )));
    }
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // checked above
    Ok(n as u32)
}

/// A plain JS value of a result, through JSON text (`protocol::json_write`):
/// one crossing however many items, where serde-wasm-bindgen's serializer
/// added ~10 KB.
pub fn to_js(value: &dyn ToJson) -> Result<JsValue, FerryError> {
    Ok(js_sys::JSON::parse(&to_json(value))?)
}

pub struct ProgressJs<'a> {
    pub id: u64,
    pub title: &'a str,
    pub size: u64,
    pub bytes_hashed: u64,
    pub bytes_sent: u64,
    pub encrypted_size: u64,
}

impl ToJson for ProgressJs<'_> {
    fn write_json(&self, out: &mut String) {
        Object::new(out)
            .member("id", &self.id)
            .member("title", &self.title)
            .member("size", &self.size)
            .member("bytesHashed", &self.bytes_hashed)
            .member("bytesSent", &self.bytes_sent)
            .member("encryptedSize", &self.encrypted_size)
            .end();
    }
}

#[wasm_bindgen(module = "/src/web/platform.js")]
extern "C" {
    /// The fields of an item that `parse_item` reads, in [`ITEM_FIELDS`] order.
    #[wasm_bindgen(js_name = itemFields, catch)]
    fn item_fields(item: &JsValue) -> Result<Array, JsValue>;
}

/// What `itemFields` (`platform.js`) returns, by place.
const ITEM_FIELDS: [&str; 9] = [
    "collectionId",
    "file",
    "handle",
    "source",
    "thumbnail",
    "title",
    "fileType",
    "creationTime",
    "modificationTime",
];

/// A JS item as the engine's `NewItem`, and the value to store for its source.
/// Returns the item and the values to store for it: its file and thumbnail.
/// Its fields are read in one call to JS: read one by one, each name was
/// made anew as a JS string, half a second of a 100,000-item `enqueue`.
pub fn parse_item(item: &JsValue) -> Result<(NewItem, Vec<(String, JsValue)>), FerryError> {
    if !item.is_object() {
        return Err(FerryError::bad_input("an item must be an object"));
    }
    let fields = item_fields(item)?;
    let [
        collection_id,
        file,
        handle,
        host,
        thumbnail,
        title,
        file_type,
        creation_time,
        modification_time,
    ] = {
        let mut values = fields.iter();
        core::array::from_fn(|_| values.next().unwrap_or_default())
    };
    let string = |value: &JsValue, at: usize| {
        optional(value, ITEM_FIELDS[at], "a string", JsValue::as_string)
    };
    let number =
        |value: &JsValue, at: usize| optional(value, ITEM_FIELDS[at], "a number", as_finite);
    let collection_id = number(&collection_id, 0)?
        .filter(|n| n.fract() == 0.0)
        .ok_or_else(|| FerryError::bad_input("`collectionId` is required and is a whole number"))?;
    let host = string(&host, 3)?;
    // Only an object is asked for `getFile`: reading a field of `undefined`
    // throws, and a JS exception for each item without a handle cost about
    // a second of a 100,000-item `enqueue`.
    let (source, stored, name, mime, modified_ms) = if let Some(blob) = file.dyn_ref::<Blob>() {
        let (name, modified) = match file.dyn_ref::<File>() {
            Some(f) => (Some(f.name()), Some(f.last_modified())),
            None => (None, None),
        };
        (
            new_source_ref(),
            Some(file.clone()),
            name,
            blob.type_(),
            modified,
        )
    } else if !file.is_undefined() && !file.is_null() {
        return Err(FerryError::bad_input("`file` must be a Blob or File"));
    } else if handle.is_object() && field(&handle, "getFile").is_function() {
        (
            new_source_ref(),
            Some(handle.clone()),
            string_field(&handle, "name")?,
            String::new(),
            None,
        )
    } else if let Some(host) = host {
        if !host.starts_with(HOST_PREFIX) {
            return Err(FerryError::bad_input("`source` must start with \"host:\""));
        }
        (host, None, None, String::new(), None)
    } else {
        return Err(FerryError::bad_input(
            "an item needs a `file`, a `handle` or a `source`",
        ));
    };
    let thumbnail = if thumbnail.is_undefined() || thumbnail.is_null() {
        None
    } else if thumbnail.is_instance_of::<Blob>() {
        Some((new_source_ref(), thumbnail))
    } else {
        return Err(FerryError::bad_input("`thumbnail` must be a Blob"));
    };
    let title = string(&title, 5)?
        .or(name)
        .ok_or_else(|| FerryError::bad_input("`title` is required when the file has no name"))?;
    let file_type = match string(&file_type, 6)?.as_deref() {
        Some("image") => FileType::Image,
        Some("video") => FileType::Video,
        // Ente keeps a live photo as a zip of its image and video, hashed
        // as both; one source cannot carry that, so it is refused up front.
        Some("livePhoto") => {
            return Err(FerryError::bad_input(
                "live photos are not supported: enqueue the image and the video as two items",
            ));
        }
        Some(other) => {
            return Err(FerryError::bad_input(format!(
                "unknown fileType \"{other}\""
            )));
        }
        None if mime.starts_with("video/") => FileType::Video,
        // A file handle has no MIME type until it is read: go by the name.
        None if mime.is_empty() && has_video_extension(&title) => FileType::Video,
        None => FileType::Image,
    };
    // 0 is "not given": the engine reads the date from the file itself,
    // and falls back to its modification time.
    let creation_time = number(&creation_time, 7)?.map_or(0, int);
    let modification_time =
        number(&modification_time, 8)?.map_or(modified_ms.map_or(0, |ms| int(ms * 1000.0)), int);
    let mut values: Vec<(String, JsValue)> = stored
        .map(|value| (source.clone(), value))
        .into_iter()
        .collect();
    let thumbnail_ref = thumbnail.as_ref().map(|(r, _)| r.clone());
    values.extend(thumbnail);
    Ok((
        NewItem {
            collection_id: int(collection_id),
            source,
            title,
            file_type,
            creation_time,
            modification_time,
            thumbnail: thumbnail_ref,
        },
        values,
    ))
}

pub fn new_source_ref() -> String {
    let bytes: [u8; 12] = crate::crypto::random_bytes();
    // Lowercase hex by hand: `format!("{b:02x}")` put core's hex
    // formatting in the wasm for this one name.
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut name = String::from(STORED_PREFIX);
    for b in bytes {
        name.push(char::from(HEX[usize::from(b >> 4)]));
        name.push(char::from(HEX[usize::from(b & 0xf)]));
    }
    name
}

/// The state `name`s (the names `items()` reports), for a filter.
pub fn state_from_name(name: &str) -> Result<PublicState, FerryError> {
    PublicState::ALL
        .iter()
        .copied()
        .find(|state| state.name() == name)
        .ok_or_else(|| FerryError::bad_input(format!("unknown state \"{name}\"")))
}

pub struct StatusJs {
    pub queued: u64,
    pub hashing: u64,
    pub uploading: u64,
    pub waiting: u64,
    pub done: u64,
    pub skipped: u64,
    pub failed: u64,
    pub bytes_uploaded: u64,
    pub blocked: Option<&'static str>,
}

impl ToJson for StatusJs {
    fn write_json(&self, out: &mut String) {
        Object::new(out)
            .member("queued", &self.queued)
            .member("hashing", &self.hashing)
            .member("uploading", &self.uploading)
            .member("waiting", &self.waiting)
            .member("done", &self.done)
            .member("skipped", &self.skipped)
            .member("failed", &self.failed)
            .member("bytesUploaded", &self.bytes_uploaded)
            .member("blocked", &self.blocked)
            .end();
    }
}

pub struct ItemJs {
    id: u64,
    state: PublicState,
    collection_id: i64,
    title: String,
    file_type: FileType,
    size: Option<u64>,
    bytes_sent: u64,
    file_id: Option<i64>,
    error: Option<crate::queue::ItemError>,
}

impl ToJson for ItemJs {
    fn write_json(&self, out: &mut String) {
        Object::new(out)
            .member("id", &self.id)
            .member("state", &self.state)
            .member("collectionId", &self.collection_id)
            .member("title", &self.title)
            .member("fileType", &self.file_type)
            .member("size", &self.size)
            .member("bytesSent", &self.bytes_sent)
            .member("fileId", &self.file_id)
            .member("error", &self.error)
            .end();
    }
}

impl From<&Item> for ItemJs {
    /// An item a run has in hand: shown in its stored state.
    fn from(item: &Item) -> Self {
        Self::shown(item, item.public_state())
    }
}

impl ItemJs {
    /// An item shown in `state` (see `Engine::shown_state`).
    pub fn shown(item: &Item, state: PublicState) -> Self {
        let (bytes_sent, file_id, error) = match &item.step {
            Step::Uploading(upload) => (upload.bytes_sent, None, item.last_error.clone()),
            Step::Done { file_id } => (0, Some(*file_id), None),
            Step::Failed(err) => (0, None, Some(err.clone())),
            _ => (0, None, item.last_error.clone()),
        };
        Self {
            id: item.id,
            state,
            collection_id: item.new.collection_id,
            title: item.new.title.clone(),
            file_type: item.new.file_type,
            size: item.size,
            bytes_sent,
            file_id,
            error,
        }
    }
}

fn has_video_extension(name: &str) -> bool {
    const VIDEO: &[&str] = &[
        "mp4", "m4v", "mov", "webm", "mkv", "avi", "3gp", "mts", "m2ts",
    ];
    name.rsplit_once('.')
        .is_some_and(|(_, ext)| VIDEO.iter().any(|v| ext.eq_ignore_ascii_case(v)))
}

/// The `policies` of `Ferry.open`, over the defaults.
pub fn policies_field(options: &JsValue) -> Result<crate::scheduler::Policies, FerryError> {
    let value = field(options, "policies");
    if value.is_undefined() || value.is_null() {
        return Ok(crate::scheduler::Policies::default());
    }
    if !value.is_object() {
        return Err(FerryError::bad_input("`policies` must be an object"));
    }
    let mut policies = crate::scheduler::Policies::default();
    if let Some(ms) = number_field(&value, "videosMinBudgetMs")? {
        if ms < 0.0 {
            return Err(FerryError::bad_input(
                "`policies.videosMinBudgetMs` must be a finite number of ms, 0 or more",
            ));
        }
        policies.videos_min_budget_ms = ms;
    }
    // `null` lifts the cap; leaving it out keeps the default.
    let cap = field(&value, "maxFilesPerBackgroundRun");
    if cap.is_null() {
        policies.max_files_per_background_run = None;
    } else if !cap.is_undefined() {
        let n = cap
            .as_f64()
            .filter(|n| *n >= 1.0 && n.fract() == 0.0)
            .ok_or_else(|| {
                FerryError::bad_input(
                    "`policies.maxFilesPerBackgroundRun` must be a whole number from 1, or null",
                )
            })?;
        policies.max_files_per_background_run = Some(count(n));
    }
    if let Some(wifi_only) = bool_field(&value, "wifiOnly")? {
        policies.wifi_only = wifi_only;
    }
    Ok(policies)
}
