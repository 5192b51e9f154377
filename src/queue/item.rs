//! A queue item and the step it has reached. The step holds everything a
//! later run needs to continue where this one stopped: the sealed hash
//! state, the sealed file key, the URLs, each finished part's ETag and the
//! sealed encryptor checkpoint after it.

use serde::Serialize;

use crate::codec::{Reader, Record, Writer, struct_record, unit_enum_record};

use crate::protocol::api::{MultipartUrls, SealedMetadata, UploadUrl};
use crate::protocol::json_write::{Object, ToJson};

pub type ItemId = u64;

unit_enum_record! {
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
    #[serde(rename_all = "camelCase")]
    pub enum FileType {
        Image,
        Video,
        LivePhoto,
    }
}

impl FileType {
    /// Its name for JavaScript (serde's wire name).
    pub fn name(self) -> &'static str {
        match self {
            Self::Image => "image",
            Self::Video => "video",
            Self::LivePhoto => "livePhoto",
        }
    }

    /// Ente's metadata number for the type.
    pub fn wire(self) -> u8 {
        match self {
            Self::Image => 0,
            Self::Video => 1,
            Self::LivePhoto => 2,
        }
    }
}

/// What the host asks to back up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewItem {
    pub collection_id: i64,
    /// The host's reference to the file; `Sources::open` resolves it.
    pub source: String,
    pub title: String,
    pub file_type: FileType,
    /// Microseconds since the epoch.
    pub creation_time: i64,
    pub modification_time: i64,
    /// The host's thumbnail (JPEG, ≤ 720 px), as a source reference.
    pub thumbnail: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ItemError {
    pub code: String,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub id: ItemId,
    pub new: NewItem,
    /// The source as first seen; a change restarts the upload with a new key.
    pub size: Option<u64>,
    pub last_modified_ms: Option<i64>,
    pub step: Step,
    /// Failed attempts since the last progress.
    pub attempts: u32,
    /// Times the upload started over: the source changed under it, or its
    /// URLs were refused or its upload lost. Never reset by progress: a file
    /// that changes at every look, or a store that refuses every URL, must
    /// not loop.
    pub restarts: u32,
    /// Not before this wall-clock time (ms); 0 means now.
    pub next_attempt_ms: i64,
    pub last_error: Option<ItemError>,
    pub enqueued_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Queued,
    Hashing {
        /// Sealed BLAKE2b checkpoint (derived from the plaintext).
        sealed_state: Vec<u8>,
        hashed: u64,
    },
    Uploading(Box<Upload>),
    Done {
        file_id: i64,
    },
    Skipped {
        duplicate_of: String,
    },
    Failed(ItemError),
}

/// An upload in progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upload {
    /// BLAKE2b-512 of the plaintext, base64.
    pub hash: String,
    pub sealed_file_key: Vec<u8>,
    pub header: Vec<u8>,
    pub chunks_per_part: u32,
    pub target: Option<Target>,
    /// ETags of the finished parts, in order.
    pub etags: Vec<String>,
    /// Sealed encryptor checkpoint after the last finished part.
    pub sealed_checkpoint: Option<Vec<u8>>,
    pub completed: bool,
    pub thumbnail: Option<Thumbnail>,
    pub metadata: SealedMetadata,
    pub bytes_sent: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Single(UploadUrl),
    Multipart(MultipartUrls),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Thumbnail {
    pub url: UploadUrl,
    pub header: Vec<u8>,
    pub size: u64,
    pub uploaded: bool,
}

unit_enum_record! {
    /// The state a host sees.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
    #[serde(rename_all = "camelCase")]
    pub enum PublicState {
        Queued,
        Hashing,
        Uploading,
        Waiting,
        Done,
        Skipped,
        Failed,
    }
}

struct_record!(NewItem {
    collection_id,
    source,
    title,
    file_type,
    creation_time,
    modification_time,
    thumbnail
});
struct_record!(ItemError { code, message });
struct_record!(Item {
    id,
    new,
    size,
    last_modified_ms,
    step,
    attempts,
    restarts,
    next_attempt_ms,
    last_error,
    enqueued_ms
});
struct_record!(Upload {
    hash,
    sealed_file_key,
    header,
    chunks_per_part,
    target,
    etags,
    sealed_checkpoint,
    completed,
    thumbnail,
    metadata,
    bytes_sent
});
struct_record!(Thumbnail {
    url,
    header,
    size,
    uploaded
});

impl ToJson for FileType {
    fn write_json(&self, out: &mut String) {
        self.name().write_json(out);
    }
}

impl PublicState {
    /// Its name for JavaScript (serde's wire name).
    pub fn name(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Hashing => "hashing",
            Self::Uploading => "uploading",
            Self::Waiting => "waiting",
            Self::Done => "done",
            Self::Skipped => "skipped",
            Self::Failed => "failed",
        }
    }
}

impl ToJson for PublicState {
    fn write_json(&self, out: &mut String) {
        self.name().write_json(out);
    }
}

impl ToJson for ItemError {
    fn write_json(&self, out: &mut String) {
        Object::new(out)
            .member("code", &self.code)
            .member("message", &self.message)
            .end();
    }
}

impl Record for Step {
    fn write(&self, w: &mut Writer) {
        match self {
            Step::Queued => w.uint(0),
            Step::Hashing {
                sealed_state,
                hashed,
            } => {
                w.uint(1);
                w.put(sealed_state);
                w.put(hashed);
            }
            Step::Uploading(upload) => w.variant(2, upload),
            Step::Done { file_id } => w.variant(3, file_id),
            Step::Skipped { duplicate_of } => w.variant(4, duplicate_of),
            Step::Failed(error) => w.variant(5, error),
        }
    }

    fn read(r: &mut Reader<'_>) -> Option<Self> {
        Some(match r.uint()? {
            0 => Step::Queued,
            1 => Step::Hashing {
                sealed_state: r.get()?,
                hashed: r.get()?,
            },
            2 => Step::Uploading(r.get()?),
            3 => Step::Done { file_id: r.get()? },
            4 => Step::Skipped {
                duplicate_of: r.get()?,
            },
            5 => Step::Failed(r.get()?),
            _ => return None,
        })
    }
}

impl Record for Target {
    fn write(&self, w: &mut Writer) {
        match self {
            Target::Single(url) => w.variant(0, url),
            Target::Multipart(urls) => w.variant(1, urls),
        }
    }

    fn read(r: &mut Reader<'_>) -> Option<Self> {
        Some(match r.uint()? {
            0 => Target::Single(r.get()?),
            1 => Target::Multipart(r.get()?),
            _ => return None,
        })
    }
}

impl Upload {
    /// The thumbnail is on the server under a URL recorded with it.
    pub fn thumbnail_sent(&self) -> bool {
        self.thumbnail.as_ref().is_some_and(|t| t.uploaded)
    }
}

impl PublicState {
    /// How many states there are; `Counters` keeps one count per state.
    pub const COUNT: usize = Self::ALL.len();
}

impl Item {
    pub fn public_state(&self) -> PublicState {
        match &self.step {
            Step::Done { .. } => PublicState::Done,
            Step::Skipped { .. } => PublicState::Skipped,
            Step::Failed(_) => PublicState::Failed,
            _ if self.attempts > 0 => PublicState::Waiting,
            Step::Queued => PublicState::Queued,
            Step::Hashing { .. } => PublicState::Hashing,
            Step::Uploading(_) => PublicState::Uploading,
        }
    }

    /// Exactly as `enqueue` writes an item: never stepped, retried or
    /// held back. Such an item may have no runnable entry (see
    /// `records::FreshRange`); every other write gives it one.
    pub fn is_fresh(&self) -> bool {
        matches!(self.step, Step::Queued)
            && self.size.is_none()
            && self.attempts == 0
            && self.restarts == 0
            && self.next_attempt_ms == 0
            && self.last_error.is_none()
    }

    pub fn is_terminal(&self) -> bool {
        matches!(
            self.step,
            Step::Done { .. } | Step::Skipped { .. } | Step::Failed(_)
        )
    }
}

#[cfg(test)]
impl Item {
    /// A fresh image of collection 1 at `step`, for the queue's and the
    /// scheduler's unit tests.
    pub(crate) fn sample(id: ItemId, step: Step) -> Self {
        Self {
            id,
            new: NewItem {
                collection_id: 1,
                source: format!("idb:{id}"),
                title: format!("IMG_{id}.jpg"),
                file_type: FileType::Image,
                creation_time: 0,
                modification_time: 0,
                thumbnail: None,
            },
            size: None,
            last_modified_ms: None,
            step,
            attempts: 0,
            restarts: 0,
            next_attempt_ms: 0,
            last_error: None,
            enqueued_ms: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::records::{decode, encode};

    fn item(step: Step) -> Item {
        Item {
            id: 42,
            new: NewItem {
                collection_id: -7,
                source: "idb:ab".into(),
                title: "Ünïcode.mov".into(),
                file_type: FileType::LivePhoto,
                creation_time: -1,
                modification_time: 1_700_000_000_000_000,
                thumbnail: Some("idb:cd".into()),
            },
            size: Some(5 << 30),
            last_modified_ms: None,
            step,
            attempts: 3,
            restarts: 1,
            next_attempt_ms: i64::MAX,
            last_error: Some(ItemError {
                code: "RETRYING".into(),
                message: "HTTP 503".into(),
            }),
            enqueued_ms: 1,
        }
    }

    #[test]
    fn every_step_round_trips_as_a_record() {
        let url = |s: &str| UploadUrl {
            object_key: format!("1/{s}"),
            url: format!("http://s3/{s}"),
        };
        let upload = |target| Upload {
            hash: "aGFzaA==".into(),
            sealed_file_key: vec![1, 2, 3],
            header: vec![0xff; 24],
            chunks_per_part: 4,
            target,
            etags: vec!["\"e1\"".into(), "\"e2\"".into()],
            sealed_checkpoint: Some(vec![9; 80]),
            completed: false,
            thumbnail: Some(Thumbnail {
                url: url("t"),
                header: vec![7; 24],
                size: 1234,
                uploaded: true,
            }),
            metadata: SealedMetadata {
                encrypted_data: "m".into(),
                decryption_header: "h".into(),
            },
            bytes_sent: 8 << 20,
        };
        let steps = [
            Step::Queued,
            Step::Hashing {
                sealed_state: vec![5; 200],
                hashed: 1 << 33,
            },
            Step::Uploading(Box::new(upload(None))),
            Step::Uploading(Box::new(upload(Some(Target::Single(url("a")))))),
            Step::Uploading(Box::new(upload(Some(Target::Multipart(MultipartUrls {
                object_key: "1/m".into(),
                part_urls: vec!["p1".into(), "p2".into()],
                complete_url: "c".into(),
            }))))),
            Step::Done { file_id: 99 },
            Step::Skipped {
                duplicate_of: "file:3".into(),
            },
            Step::Failed(ItemError {
                code: "SOURCE_GONE".into(),
                message: "gone".into(),
            }),
        ];
        for step in steps {
            let original = item(step);
            let bytes = encode(&original);
            assert_eq!(decode::<Item>(&bytes), Ok(original.clone()));
            for cut in [1, bytes.len() / 2, bytes.len() - 1] {
                assert!(decode::<Item>(&bytes[..cut]).is_err(), "cut at {cut}");
            }
        }
    }
}
