//! `POST /files/trash`, as museum's `FileController.Trash`
//! (`pkg/controller/file.go`) and `TrashRepository.TrashFiles`
//! (`pkg/repo/trash.go`): the files leave their collections, each
//! collection's diff then carries them as `isDeleted: true` records.

use std::collections::{BTreeSet, HashMap};

use axum::extract::State;
use axum::http::StatusCode;
use rusqlite::{OptionalExtension, params};
use serde::Deserialize;

use super::{ApiJson, AppState, User};
use crate::db::next_updation_time;
use crate::error::{ApiError, ApiResult};

/// museum's `DefaultMaxBatchSize` for `POST /files/trash`.
const MAX_ITEMS: usize = 1000;

/// museum's `ente.TrashRequest`: `{"items": [{"fileID", "collectionID"}]}`.
#[derive(Debug, Deserialize)]
pub struct TrashRequest {
    items: Vec<TrashItem>,
}

#[derive(Debug, Deserialize)]
pub struct TrashItem {
    #[serde(rename = "fileID", default)]
    file_id: i64,
    #[serde(rename = "collectionID", default)]
    collection_id: i64,
}

impl TrashRequest {
    /// The refusals made before the database is read; the files to trash.
    pub(super) fn check(&self) -> ApiResult<Vec<i64>> {
        if self
            .items
            .iter()
            .any(|i| i.file_id == 0 || i.collection_id == 0)
        {
            return Err(ApiError::bad_request(
                "fileID and collectionID are required",
            ));
        }
        if self.items.len() > MAX_ITEMS {
            return Err(ApiError::plain(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("at most {MAX_ITEMS} items at once"),
            ));
        }
        let files: Vec<i64> = self.items.iter().map(|i| i.file_id).collect();
        if files.iter().collect::<BTreeSet<_>>().len() != files.len() {
            return Err(ApiError::bad_request("duplicate fileIDs"));
        }
        Ok(files)
    }
}

/// Refusals as museum's: a missing or zero id 400 `{}` (binding
/// `required`); more than 1,000 items 413 `{}` (`ErrBatchSizeTooLarge`); a
/// file twice 400 `{}`; `VerifyFileOwnership`: no known file 400, files of
/// several owners or none of the caller's 403, only some of the caller's
/// 400; each collection must exist (404) and be the caller's (403).
/// All the files get one new `updationTime`, as museum gives them.
pub async fn trash(
    State(state): State<AppState>,
    User(user): User,
    ApiJson(request): ApiJson<TrashRequest>,
) -> ApiResult<StatusCode> {
    let files = request.check()?;
    let collections: BTreeSet<i64> = request.items.iter().map(|i| i.collection_id).collect();
    state
        .db
        .write(move |tx| {
            let mut owners: HashMap<i64, usize> = HashMap::new();
            for file in &files {
                let owner: Option<i64> = tx
                    .query_row("SELECT owner_id FROM files WHERE id = ?1", [file], |r| {
                        r.get(0)
                    })
                    .optional()
                    .map_err(ApiError::internal)?;
                if let Some(owner) = owner {
                    *owners.entry(owner).or_default() += 1;
                }
            }
            if owners.is_empty() {
                return Err(ApiError::bad_request("no known file"));
            }
            if owners.len() > 1 {
                return Err(ApiError::forbidden("files of several owners"));
            }
            match owners.get(&user) {
                None => return Err(ApiError::forbidden("none of the files is the caller's")),
                Some(&owned) if owned != files.len() => {
                    return Err(ApiError::bad_request("some files are unknown"));
                }
                Some(_) => {}
            }
            for collection in &collections {
                let owner: Option<i64> = tx
                    .query_row(
                        "SELECT owner_id FROM collections WHERE id = ?1",
                        [collection],
                        |r| r.get(0),
                    )
                    .optional()
                    .map_err(ApiError::internal)?;
                match owner {
                    None => return Err(ApiError::not_found(format!("no collection {collection}"))),
                    Some(owner) if owner != user => {
                        return Err(ApiError::forbidden(
                            "the caller does not own the collection",
                        ));
                    }
                    Some(_) => {}
                }
            }
            let time = next_updation_time(tx)?;
            for file in &files {
                let collection: i64 = tx
                    .query_row(
                        "SELECT collection_id FROM files WHERE id = ?1",
                        [file],
                        |r| r.get(0),
                    )
                    .map_err(ApiError::internal)?;
                let was_deleted: bool = tx
                    .query_row("SELECT is_deleted FROM files WHERE id = ?1", [file], |r| {
                        r.get(0)
                    })
                    .map_err(ApiError::internal)?;
                // museum moves every row's time, removed before or not, but
                // bumps only the collections that still held the file.
                tx.execute(
                    "UPDATE files SET is_deleted = 1, updation_time = ?1 WHERE id = ?2",
                    params![time, file],
                )
                .map_err(ApiError::internal)?;
                if !was_deleted {
                    tx.execute(
                        "UPDATE collections SET updation_time = ?1 WHERE id = ?2",
                        params![time, collection],
                    )
                    .map_err(ApiError::internal)?;
                }
            }
            Ok(())
        })
        .await?;
    Ok(StatusCode::OK)
}
