//! `POST /files` and the downloads, as museum's `FileController`
//! (`pkg/controller/file.go`) behaves.

use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use rusqlite::{Connection, OptionalExtension, Row, params};
use serde::Deserialize;
use serde_json::{Value, json};

use super::validate::{base64_field, object_key, safe_object_key};
use super::{ApiJson, AppState, User};
use crate::db::next_updation_time;
use crate::error::{ApiError, ApiResult};

/// Base64 of a 48-byte wrapped key is 64 characters; leave room.
const MAX_KEY_CHARS: usize = 128;
/// Base64 of a 24-byte header or nonce is 32 characters.
const MAX_HEADER_CHARS: usize = 64;
/// Encrypted metadata (titles, dates, hash) is small.
const MAX_METADATA_CHARS: usize = 256 * 1024;
/// museum's `sizeOf`: three HEADs of each object.
const OBJECT_CHECKS: u32 = 3;

/// The body of `POST /files`, bound as museum binds `ente.File`
/// (`ente/file.go`): every member optional, `decryptionHeader` required in
/// `file`, `thumbnail` and `metadata`; unknown members ignored.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct NewFile {
    id: i64,
    #[serde(rename = "collectionID")]
    collection_id: i64,
    encrypted_key: String,
    key_decryption_nonce: String,
    file: Attributes,
    thumbnail: Attributes,
    metadata: Attributes,
}

/// museum's `ente.FileAttributes`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Attributes {
    object_key: String,
    encrypted_data: String,
    decryption_header: String,
    size: i64,
}

impl NewFile {
    /// `--strict`: every encrypted field is base64 of a plausible size,
    /// and the object keys have the format this server hands out.
    pub(super) fn validate_strict(&self) -> ApiResult<()> {
        base64_field("encryptedKey", &self.encrypted_key, MAX_KEY_CHARS)?;
        base64_field(
            "keyDecryptionNonce",
            &self.key_decryption_nonce,
            MAX_HEADER_CHARS,
        )?;
        base64_field(
            "file.decryptionHeader",
            &self.file.decryption_header,
            MAX_HEADER_CHARS,
        )?;
        base64_field(
            "thumbnail.decryptionHeader",
            &self.thumbnail.decryption_header,
            MAX_HEADER_CHARS,
        )?;
        base64_field(
            "metadata.encryptedData",
            &self.metadata.encrypted_data,
            MAX_METADATA_CHARS,
        )?;
        base64_field(
            "metadata.decryptionHeader",
            &self.metadata.decryption_header,
            MAX_HEADER_CHARS,
        )?;
        object_key("file.objectKey", &self.file.object_key)?;
        object_key("thumbnail.objectKey", &self.thumbnail.object_key)?;
        if self.file.size < 0 || self.thumbnail.size < 0 {
            return Err(ApiError::strict(
                "INVALID_FIELD",
                "sizes are byte counts, not negative",
            ));
        }
        Ok(())
    }

    /// museum's `validateFileCreateOrUpdateReq` (and the binding's
    /// `required`), every refusal a 400 `{}`.
    pub(super) fn validate(&self, user: i64) -> ApiResult<()> {
        if self.id != 0 {
            return Err(ApiError::bad_request(
                "updating a file (a non-zero `id`) is not supported",
            ));
        }
        let prefix = format!("{user}/");
        if !self.file.object_key.starts_with(&prefix)
            || !self.thumbnail.object_key.starts_with(&prefix)
        {
            return Err(ApiError::bad_request("incorrect object key reported"));
        }
        if self.file.object_key == self.thumbnail.object_key {
            return Err(ApiError::bad_request(
                "file and thumbnail object keys are the same",
            ));
        }
        if self.encrypted_key.is_empty() || self.key_decryption_nonce.is_empty() {
            return Err(ApiError::bad_request(
                "encryptedKey and keyDecryptionNonce are required",
            ));
        }
        if self.file.decryption_header.is_empty()
            || self.thumbnail.decryption_header.is_empty()
            || self.metadata.decryption_header.is_empty()
        {
            return Err(ApiError::bad_request(
                "decryptionHeader of file, thumbnail and metadata is required",
            ));
        }
        Ok(())
    }
}

/// A file's stored attributes, as museum's `GetFileAttributesFromObjectKey`
/// reads them to compare a registration with the file already holding an
/// object key.
#[derive(Debug, PartialEq, Eq)]
struct Registered {
    id: i64,
    owner: i64,
    file_key: String,
    file_header: String,
    file_size: i64,
    thumb_key: String,
    thumb_header: String,
    thumb_size: i64,
    metadata_data: String,
    metadata_header: String,
}

/// `POST /files`, as museum's `FileController.Create`:
///
/// 1. the request's shape (400 `{}`), the collection (404 `{}` unknown,
///    403 `{}` another user's);
/// 2. both objects HEADed up to three times, 0.5 s then 1 s apart
///    (`sizeOf`); still missing: 503 `OBJECT_SIZE_FETCH_FAILED`;
/// 3. 413 `{}` over the size limit; a reported size other than 0 must
///    equal the stored one (400 `{}`);
/// 4. subscription and quota (402 / 426 `{}`);
/// 5. an object key that already belongs to a file returns that file only
///    if objects, headers, sizes, metadata and owner all match
///    (`onDuplicateObjectDetected`); anything else is a 400 `{}`.
pub async fn create(
    State(state): State<AppState>,
    User(user): User,
    ApiJson(new): ApiJson<NewFile>,
) -> ApiResult<Response> {
    let strict = state.limits.strict;
    if strict {
        new.validate_strict()?;
    }
    new.validate(user)?;
    let (collection, keys) = (
        new.collection_id,
        [
            new.file.object_key.clone(),
            new.thumbnail.object_key.clone(),
        ],
    );
    state
        .db
        .read(move |conn| check_collection(conn, user, collection, strict.then_some(&keys)))
        .await?;

    // From the first HEAD to the commit, no write may replace either
    // object (the embedded store refuses it): the sizes checked are the
    // sizes kept. A write already in flight is a client still uploading.
    let _held = state
        .locks
        .hold(&[&new.file.object_key, &new.thumbnail.object_key])
        .ok_or_else(|| {
            ApiError::coded(
                StatusCode::SERVICE_UNAVAILABLE,
                "OBJECT_SIZE_FETCH_FAILED",
                "an object of this file is still being uploaded",
            )
        })?;
    let (file_size, thumb_size) = tokio::join!(
        object_size(&state, &new.file.object_key),
        object_size(&state, &new.thumbnail.object_key)
    );
    let (file_size, thumb_size) = (file_size?, thumb_size?);
    let max = state.limits.max_file_size;
    if file_size > max {
        return Err(ApiError::plain(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("files may be at most {max} bytes"),
        ));
    }
    for (name, reported, stored) in [
        ("file", new.file.size, file_size),
        ("thumbnail", new.thumbnail.size, thumb_size),
    ] {
        let stored = i64::try_from(stored).unwrap_or(i64::MAX);
        if reported != stored && (strict || reported != 0) {
            let why = format!("the {name} object is {stored} bytes, not the {reported} reported");
            return Err(if strict {
                ApiError::strict("SIZE_MISMATCH", why)
            } else {
                ApiError::bad_request(why)
            });
        }
    }

    let check = state.clone();
    let record = state
        .db
        .write(move |tx| {
            let candidate = Registered {
                id: 0,
                owner: user,
                file_key: new.file.object_key.clone(),
                file_header: new.file.decryption_header.clone(),
                file_size: i64::try_from(file_size).unwrap_or(i64::MAX),
                thumb_key: new.thumbnail.object_key.clone(),
                thumb_header: new.thumbnail.decryption_header.clone(),
                thumb_size: i64::try_from(thumb_size).unwrap_or(i64::MAX),
                metadata_data: new.metadata.encrypted_data.clone(),
                metadata_header: new.metadata.decryption_header.clone(),
            };
            // museum checks the subscription and quota before it meets the
            // duplicate key, so a retry near the quota can be a 426 even
            // though its first attempt registered the file.
            check.can_upload(tx, user, file_size.saturating_add(thumb_size))?;
            // Checked inside the write lock: concurrent retries see each other.
            if let Some(existing) = holder_of(tx, &candidate.file_key, &candidate.thumb_key)? {
                return same_registration(tx, existing, candidate);
            }
            if retired(tx, &candidate.file_key, &candidate.thumb_key)? {
                // Gone, or going, from the store: as museum answers for an
                // object its cleanup removed.
                return Err(ApiError::coded(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "OBJECT_SIZE_FETCH_FAILED",
                    "an object of this file was abandoned and removed",
                ));
            }
            let time = next_updation_time(tx)?;
            tx.execute(
                "INSERT INTO files (owner_id, collection_id, encrypted_key, key_decryption_nonce,
                    file_object_key, file_header, file_size, thumb_object_key, thumb_header, thumb_size,
                    metadata_data, metadata_header, updation_time)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
                params![
                    user,
                    new.collection_id,
                    new.encrypted_key,
                    new.key_decryption_nonce,
                    candidate.file_key,
                    candidate.file_header,
                    candidate.file_size,
                    candidate.thumb_key,
                    candidate.thumb_header,
                    candidate.thumb_size,
                    candidate.metadata_data,
                    candidate.metadata_header,
                    time,
                ],
            )
            .map_err(ApiError::internal)?;
            let id = tx.last_insert_rowid();
            tx.execute(
                "UPDATE collections SET updation_time = ?1 WHERE id = ?2",
                params![time, new.collection_id],
            )
            .map_err(ApiError::internal)?;
            load(tx, id, true)?.ok_or_else(|| ApiError::internal("inserted file vanished"))
        })
        .await?;
    Ok(axum::Json(record).into_response())
}

/// The collection must exist (404 `{}`, `sql.ErrNoRows`) and be the
/// caller's (403 `{}`, `ErrPermissionDenied`). With `--strict`, both keys
/// must also have been handed to the caller.
fn check_collection(
    conn: &Connection,
    user: i64,
    collection: i64,
    strict_keys: Option<&[String; 2]>,
) -> ApiResult<()> {
    let owner: Option<i64> = conn
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
            return Err(ApiError::forbidden(format!(
                "collection {collection} belongs to another user"
            )));
        }
        Some(_) => {}
    }
    for key in strict_keys.into_iter().flatten() {
        let handed_out: bool = conn
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM objects WHERE object_key = ?1 AND owner_id = ?2)",
                params![key, user],
                |r| r.get(0),
            )
            .map_err(ApiError::internal)?;
        if !handed_out {
            return Err(ApiError::strict(
                "UNKNOWN_OBJECT",
                format!("object key {key} was never handed out"),
            ));
        }
    }
    Ok(())
}

/// museum's `sizeOf`: HEAD up to three times, pausing 0.5 s then 1 s
/// (`--object-check-retry-ms`); an object still missing, or a store that
/// keeps failing, is a 503 `OBJECT_SIZE_FETCH_FAILED` (`ente.ErrObjSizeFetchFailed`).
async fn object_size(state: &AppState, key: &str) -> ApiResult<u64> {
    let mut why = format!("object {key} cannot be looked up");
    if safe_object_key(key) {
        for attempt in 0..OBJECT_CHECKS {
            if attempt > 0 {
                let pause = state.limits.object_check_retry_ms * u64::from(attempt);
                tokio::time::sleep(Duration::from_millis(pause)).await;
            }
            match state.store.head(key).await {
                Ok(Some(size)) => return Ok(size),
                Ok(None) => why = format!("nothing was uploaded to {key}"),
                Err(err) => why = format!("HEAD {key}: {err}"),
            }
        }
    }
    Err(ApiError::coded(
        StatusCode::SERVICE_UNAVAILABLE,
        "OBJECT_SIZE_FETCH_FAILED",
        why,
    ))
}

/// The file already holding either object key, if any (museum's unique
/// `object_keys.object_key`, whatever the key's role in that file).
fn holder_of(conn: &Connection, file_key: &str, thumb_key: &str) -> ApiResult<Option<Registered>> {
    conn.query_row(
        "SELECT id, owner_id, file_object_key, file_header, file_size, thumb_object_key,
                thumb_header, thumb_size, metadata_data, metadata_header
         FROM files WHERE file_object_key IN (?1, ?2) OR thumb_object_key IN (?1, ?2)
         ORDER BY id LIMIT 1",
        params![file_key, thumb_key],
        |r| {
            Ok(Registered {
                id: r.get(0)?,
                owner: r.get(1)?,
                file_key: r.get(2)?,
                file_header: r.get(3)?,
                file_size: r.get(4)?,
                thumb_key: r.get(5)?,
                thumb_header: r.get(6)?,
                thumb_size: r.get(7)?,
                metadata_data: r.get(8)?,
                metadata_header: r.get(9)?,
            })
        },
    )
    .optional()
    .map_err(ApiError::internal)
}

/// Whether the cleanup retired either key as abandoned.
fn retired(conn: &Connection, file_key: &str, thumb_key: &str) -> ApiResult<bool> {
    conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM objects WHERE object_key IN (?1, ?2) AND retired_at IS NOT NULL)",
        params![file_key, thumb_key],
        |r| r.get(0),
    )
    .map_err(ApiError::internal)
}

/// museum's `onDuplicateObjectDetected`: a retry after a lost answer gets
/// the file it created, but only if both objects, both headers, both sizes,
/// the metadata and the owner are the same (the collection and the wrapped
/// key are not compared, as in museum). Anything else means the objects of
/// a registered file were uploaded again for another file: 400 `{}`.
fn same_registration(
    conn: &Connection,
    existing: Registered,
    candidate: Registered,
) -> ApiResult<Value> {
    let id = existing.id;
    let stored = Registered { id: 0, ..existing };
    if stored == candidate {
        return load(conn, id, true)?.ok_or_else(|| ApiError::internal("file vanished"));
    }
    tracing::warn!(
        file = id,
        file_key = %candidate.file_key,
        thumb_key = %candidate.thumb_key,
        "a registration reused the object keys of another file with other attributes"
    );
    Err(ApiError::bad_request(format!(
        "object keys already belong to file {id} with other attributes"
    )))
}

const FILE_COLUMNS: &str =
    "f.id, f.owner_id, f.collection_id, f.encrypted_key, f.key_decryption_nonce,
    f.file_object_key, f.file_header, f.file_size, f.thumb_object_key, f.thumb_header, f.thumb_size,
    f.metadata_data, f.metadata_header, f.updation_time, f.is_deleted, c.owner_id";

/// A file record as museum's `ente.File` JSON. `with_objects`: the answer to
/// `POST /files` carries the object keys and sizes; the diff's records
/// (museum's `convertRowsToFiles`) carry neither: `file` and `thumbnail`
/// are `{decryptionHeader, size: 0}`, the sizes are in `info`.
fn record_from_row(r: &Row<'_>, with_objects: bool) -> rusqlite::Result<Value> {
    let object = |key: usize, header: usize, size: usize| -> rusqlite::Result<Value> {
        Ok(if with_objects {
            json!({
                "objectKey": r.get::<_, String>(key)?,
                "decryptionHeader": r.get::<_, String>(header)?,
                "size": r.get::<_, i64>(size)?,
            })
        } else {
            json!({ "decryptionHeader": r.get::<_, String>(header)?, "size": 0 })
        })
    };
    Ok(json!({
        "id": r.get::<_, i64>(0)?,
        "ownerID": r.get::<_, i64>(1)?,
        "collectionID": r.get::<_, i64>(2)?,
        "collectionOwnerID": r.get::<_, i64>(15)?,
        "encryptedKey": r.get::<_, String>(3)?,
        "keyDecryptionNonce": r.get::<_, String>(4)?,
        "file": object(5, 6, 7)?,
        "thumbnail": object(8, 9, 10)?,
        "metadata": {
            "encryptedData": r.get::<_, String>(11)?,
            "decryptionHeader": r.get::<_, String>(12)?,
            "size": 0,
        },
        "isDeleted": r.get::<_, bool>(14)?,
        "updationTime": r.get::<_, i64>(13)?,
        "info": { "fileSize": r.get::<_, i64>(7)?, "thumbSize": r.get::<_, i64>(10)? },
    }))
}

fn load(conn: &Connection, id: i64, with_objects: bool) -> ApiResult<Option<Value>> {
    conn.query_row(
        &format!(
            "SELECT {FILE_COLUMNS} FROM files f JOIN collections c ON c.id = f.collection_id
             WHERE f.id = ?1"
        ),
        [id],
        |r| record_from_row(r, with_objects),
    )
    .optional()
    .map_err(ApiError::internal)
}

/// Records of a collection changed after `since`, oldest first, paged as
/// museum's `CollectionController.getDiff`
/// (`pkg/controller/collections/files_diff.go`): it reads `limit + 1`; if
/// more than `limit` came back, every record sharing the time of the last
/// one is left for the next page; if that leaves nothing (all share one
/// time), every record of that time is returned, however many. A page
/// never splits one `updationTime`, so the next `sinceTime` is the last
/// record's time. Returns the page and `hasMore`.
pub fn diff(
    conn: &Connection,
    collection: i64,
    since: i64,
    limit: u32,
) -> ApiResult<(Vec<Value>, bool)> {
    let select = |condition: &str, args: &[&dyn rusqlite::ToSql]| -> ApiResult<Vec<(i64, Value)>> {
        let mut stmt = conn
            .prepare(&format!(
                "SELECT {FILE_COLUMNS} FROM files f JOIN collections c ON c.id = f.collection_id
                 WHERE f.collection_id = ?1 AND {condition}"
            ))
            .map_err(ApiError::internal)?;
        let rows = stmt
            .query_map(args, |r| {
                Ok((r.get::<_, i64>(13)?, record_from_row(r, false)?))
            })
            .map_err(ApiError::internal)?;
        rows.collect::<rusqlite::Result<_>>()
            .map_err(ApiError::internal)
    };
    let limit = limit.max(1);
    let mut rows = select(
        "f.updation_time > ?2 ORDER BY f.updation_time, f.id LIMIT ?3",
        &[&collection, &since, &(limit + 1)],
    )?;
    if rows.len() <= limit as usize {
        return Ok((rows.into_iter().map(|(_, v)| v).collect(), false));
    }
    let last_time = rows[limit as usize].0;
    rows.retain(|(time, _)| *time != last_time);
    if rows.is_empty() {
        rows = select(
            "f.updation_time = ?2 ORDER BY f.id",
            &[&collection, &last_time],
        )?;
    }
    Ok((rows.into_iter().map(|(_, v)| v).collect(), true))
}

pub async fn download(state: State<AppState>, user: User, id: Path<String>) -> ApiResult<Response> {
    redirect_to_object(state, user, id, "file_object_key").await
}

pub async fn preview(state: State<AppState>, user: User, id: Path<String>) -> ApiResult<Response> {
    redirect_to_object(state, user, id, "thumb_object_key").await
}

/// `GET /files/download/{id}` and `/files/preview/{id}`, as museum's
/// `FileHandler.Get` / `GetThumbnail`: a 307 to a presigned GET of the
/// object. An id that is not a number reads as 0 (404 `{}`); another user's
/// file is a 403 `{}` (`GetAccessibleObjectWithDCs`).
async fn redirect_to_object(
    State(state): State<AppState>,
    User(user): User,
    Path(id): Path<String>,
    column: &'static str,
) -> ApiResult<Response> {
    let id: i64 = match id.parse() {
        Ok(id) => id,
        Err(_) if state.limits.strict => {
            return Err(ApiError::strict("INVALID_PATH", "a file id is a number"));
        }
        Err(_) => 0,
    };
    let (owner, key): (i64, String) = state
        .db
        .read(move |conn| {
            conn.query_row(
                &format!("SELECT owner_id, {column} FROM files WHERE id = ?1"),
                [id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(ApiError::internal)
        })
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no file {id}")))?;
    if owner != user {
        return Err(ApiError::forbidden(format!(
            "file {id} belongs to another user"
        )));
    }
    let url = state.store.presign_get(&key);
    Ok((
        StatusCode::TEMPORARY_REDIRECT,
        [(header::LOCATION, url.to_string())],
    )
        .into_response())
}
