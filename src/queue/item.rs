//! A queue item and the step it has reached. The step holds everything a
//! later run needs to continue where this one stopped: the sealed hash
//! state, the sealed file key, the URLs, each finished part's ETag and the
//! sealed encryptor checkpoint after it.

use serde::{Deserialize, Serialize};

use crate::protocol::api::{MultipartUrls, SealedMetadata, UploadUrl};

pub type ItemId = u64;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum FileType {
    Image,
    Video,
    LivePhoto,
}

impl FileType {
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thumbnail: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ItemError {
    pub code: String,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Item {
    pub id: ItemId,
    #[serde(flatten)]
    pub new: NewItem,
    /// The source as first seen; a change restarts the upload with a new key.
    pub size: Option<u64>,
    pub last_modified_ms: Option<i64>,
    pub step: Step,
    /// Failed attempts since the last progress.
    pub attempts: u32,
    /// Not before this wall-clock time (ms); 0 means now.
    pub next_attempt_ms: i64,
    pub last_error: Option<ItemError>,
    pub enqueued_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "step")]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
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

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum Target {
    Single(UploadUrl),
    Multipart(MultipartUrls),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Thumbnail {
    pub url: UploadUrl,
    pub header: Vec<u8>,
    pub size: u64,
    pub uploaded: bool,
}

/// The state a host sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
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

    pub fn is_terminal(&self) -> bool {
        matches!(
            self.step,
            Step::Done { .. } | Step::Skipped { .. } | Step::Failed(_)
        )
    }
}
