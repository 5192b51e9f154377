//! `POST /files` and the downloads.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::Response;
use rusqlite::{Connection, OptionalExtension, Row, params};
use serde::Deserialize;
use serde_json::{Value, json};

use super::validate::{base64_field, object_key};
use super::{ApiJson, AppState, User};
use crate::db::next_updation_time;
use crate::error::{ApiError, ApiResult};

/// Base64 of a 48-byte wrapped key is 64 characters; leave room.
const MAX_KEY_CHARS: usize = 128;
/// Base64 of a 24-byte header or nonce is 32 characters.
const MAX_HEADER_CHARS: usize = 64;
/// Encrypted metadata (titles, dates, hash) is small.
const MAX_METADATA_CHARS: usize = 256 * 1024;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewFile {
    #[serde(rename = "collectionID")]
    collection_id: i64,
    encrypted_key: String,
    key_decryption_nonce: String,
    file: ObjectRef,
    thumbnail: ObjectRef,
    metadata: Metadata,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectRef {
    object_key: String,
    decryption_header: String,
    size: u64,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Metadata {
    encrypted_data: String,
    decryption_header: String,
}

impl NewFile {
    fn validate(&self, max_file_size: u64) -> ApiResult<()> {
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
        if self.file.object_key == self.thumbnail.object_key {
            return Err(ApiError::bad_request(
                "INVALID_FIELD",
                "the file and its thumbnail must be different objects",
            ));
        }
        if self.file.size > max_file_size {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "FILE_TOO_LARGE",
                format!("files may be at most {max_file_size} bytes"),
            ));
        }
        Ok(())
    }
}

/// Where a `POST /files` stands before anything is written.
enum Precheck {
    /// The same file was already recorded: a retry after a lost response.
    Existing(Value),
    New,
}

pub async fn create(
    State(state): State<AppState>,
    User(user): User,
    ApiJson(new): ApiJson<NewFile>,
) -> ApiResult<Json<Value>> {
    new.validate(state.limits.max_file_size)?;

    let (file_key, thumb_key, collection) = (
        new.file.object_key.clone(),
        new.thumbnail.object_key.clone(),
        new.collection_id,
    );
    let first_look = state
        .db
        .read(move |conn| precheck(conn, user, collection, &file_key, &thumb_key))
        .await?;
    if let Precheck::Existing(record) = first_look {
        return Ok(Json(record));
    }

    for (name, object) in [("file", &new.file), ("thumbnail", &new.thumbnail)] {
        match state
            .store
            .head(&object.object_key)
            .await
            .map_err(ApiError::bad_gateway)?
        {
            None => {
                return Err(ApiError::bad_request(
                    "OBJECT_NOT_FOUND",
                    format!("nothing was uploaded to the {name} object key"),
                ));
            }
            Some(size) if size != object.size => {
                return Err(ApiError::bad_request(
                    "SIZE_MISMATCH",
                    format!(
                        "the {name} object is {size} bytes, not the {} reported",
                        object.size
                    ),
                ));
            }
            Some(_) => {}
        }
    }

    let quota = state.limits.quota_bytes;
    let record = state
        .db
        .write(move |tx| {
            // Re-checked inside the write lock: a concurrent retry may have won.
            let second_look = precheck(
                tx,
                user,
                new.collection_id,
                &new.file.object_key,
                &new.thumbnail.object_key,
            )?;
            if let Precheck::Existing(record) = second_look {
                return Ok(record);
            }
            let used: i64 = tx
                .query_row(
                    "SELECT COALESCE(SUM(file_size + thumb_size), 0) FROM files WHERE owner_id = ?1",
                    [user],
                    |r| r.get(0),
                )
                .map_err(ApiError::internal)?;
            let adding = new.file.size.saturating_add(new.thumbnail.size);
            if u64::try_from(used).unwrap_or(0).saturating_add(adding) > quota {
                return Err(ApiError::new(
                    StatusCode::UPGRADE_REQUIRED,
                    "STORAGE_FULL",
                    format!("this file would exceed the storage quota of {quota} bytes"),
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
                    new.file.object_key,
                    new.file.decryption_header,
                    i64::try_from(new.file.size).unwrap_or(i64::MAX),
                    new.thumbnail.object_key,
                    new.thumbnail.decryption_header,
                    i64::try_from(new.thumbnail.size).unwrap_or(i64::MAX),
                    new.metadata.encrypted_data,
                    new.metadata.decryption_header,
                    time,
                ],
            )
            .map_err(ApiError::internal)?;
            let id = tx.last_insert_rowid();
            load(tx, id)?.ok_or_else(|| ApiError::internal("inserted file vanished"))
        })
        .await?;
    Ok(Json(record))
}

/// Ownership checks shared by the first look and the write: both keys must
/// have been handed to this user, and neither may belong to another file
/// unless it is this very file again.
fn precheck(
    conn: &Connection,
    user: i64,
    collection: i64,
    file_key: &str,
    thumb_key: &str,
) -> ApiResult<Precheck> {
    let existing: Option<(i64, i64, i64, String, String)> = conn
        .query_row(
            "SELECT id, owner_id, collection_id, file_object_key, thumb_object_key FROM files
             WHERE file_object_key IN (?1, ?2) OR thumb_object_key IN (?1, ?2)",
            params![file_key, thumb_key],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )
        .optional()
        .map_err(ApiError::internal)?;
    if let Some((id, owner, existing_collection, existing_file, existing_thumb)) = existing {
        let same_file = owner == user
            && existing_collection == collection
            && existing_file == file_key
            && existing_thumb == thumb_key;
        if same_file {
            return load(conn, id)?
                .map(Precheck::Existing)
                .ok_or_else(|| ApiError::internal("file vanished"));
        }
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "OBJECT_IN_USE",
            "an object key already belongs to another file",
        ));
    }
    for key in [file_key, thumb_key] {
        let owner: Option<i64> = conn
            .query_row(
                "SELECT owner_id FROM objects WHERE object_key = ?1",
                [key],
                |r| r.get(0),
            )
            .optional()
            .map_err(ApiError::internal)?;
        match owner {
            Some(owner) if owner == user => {}
            Some(_) => {
                return Err(ApiError::new(
                    StatusCode::FORBIDDEN,
                    "OBJECT_NOT_OWNED",
                    format!("object key {key} belongs to another user"),
                ));
            }
            None => {
                return Err(ApiError::bad_request(
                    "UNKNOWN_OBJECT",
                    format!("object key {key} was never handed out"),
                ));
            }
        }
    }
    let owns_collection: bool = conn
        .query_row(
            "SELECT EXISTS (SELECT 1 FROM collections WHERE id = ?1 AND owner_id = ?2)",
            params![collection, user],
            |r| r.get(0),
        )
        .map_err(ApiError::internal)?;
    if !owns_collection {
        return Err(ApiError::not_found(format!("no collection {collection}")));
    }
    Ok(Precheck::New)
}

const FILE_COLUMNS: &str = "id, owner_id, collection_id, encrypted_key, key_decryption_nonce,
    file_object_key, file_header, file_size, thumb_object_key, thumb_header, thumb_size,
    metadata_data, metadata_header, updation_time";

/// A file record as the API returns it.
pub fn record_from_row(r: &Row<'_>) -> rusqlite::Result<Value> {
    Ok(json!({
        "id": r.get::<_, i64>(0)?,
        "ownerID": r.get::<_, i64>(1)?,
        "collectionID": r.get::<_, i64>(2)?,
        "encryptedKey": r.get::<_, String>(3)?,
        "keyDecryptionNonce": r.get::<_, String>(4)?,
        "file": {
            "objectKey": r.get::<_, String>(5)?,
            "decryptionHeader": r.get::<_, String>(6)?,
            "size": r.get::<_, i64>(7)?,
        },
        "thumbnail": {
            "objectKey": r.get::<_, String>(8)?,
            "decryptionHeader": r.get::<_, String>(9)?,
            "size": r.get::<_, i64>(10)?,
        },
        "metadata": {
            "encryptedData": r.get::<_, String>(11)?,
            "decryptionHeader": r.get::<_, String>(12)?,
        },
        "isDeleted": false,
        "updationTime": r.get::<_, i64>(13)?,
    }))
}

fn load(conn: &Connection, id: i64) -> ApiResult<Option<Value>> {
    conn.query_row(
        &format!("SELECT {FILE_COLUMNS} FROM files WHERE id = ?1"),
        [id],
        record_from_row,
    )
    .optional()
    .map_err(ApiError::internal)
}

/// Files of a collection changed after `since`, oldest first.
pub fn diff(conn: &Connection, collection: i64, since: i64, limit: u32) -> ApiResult<Vec<Value>> {
    let mut stmt = conn
        .prepare(&format!(
            "SELECT {FILE_COLUMNS} FROM files WHERE collection_id = ?1 AND updation_time > ?2
             ORDER BY updation_time LIMIT ?3"
        ))
        .map_err(ApiError::internal)?;
    let rows = stmt
        .query_map(params![collection, since, limit], record_from_row)
        .map_err(ApiError::internal)?;
    rows.collect::<rusqlite::Result<_>>()
        .map_err(ApiError::internal)
}

pub async fn download(state: State<AppState>, user: User, id: Path<String>) -> ApiResult<Response> {
    stream_object(state, user, id, "file_object_key").await
}

pub async fn preview(state: State<AppState>, user: User, id: Path<String>) -> ApiResult<Response> {
    stream_object(state, user, id, "thumb_object_key").await
}

async fn stream_object(
    State(state): State<AppState>,
    User(user): User,
    Path(id): Path<String>,
    column: &'static str,
) -> ApiResult<Response> {
    let id: i64 = id
        .parse()
        .map_err(|_| ApiError::bad_request("INVALID_PATH", "a file id is a number"))?;
    let key: String = state
        .db
        .read(move |conn| {
            conn.query_row(
                &format!("SELECT {column} FROM files WHERE id = ?1 AND owner_id = ?2"),
                params![id, user],
                |r| r.get(0),
            )
            .optional()
            .map_err(ApiError::internal)
        })
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no file {id}")))?;
    let object = state.store.get(&key).await.map_err(ApiError::bad_gateway)?;
    let mut builder = Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/octet-stream");
    if let Some(length) = object.content_length() {
        builder = builder.header(header::CONTENT_LENGTH, length);
    }
    builder
        .body(Body::from_stream(object.bytes_stream()))
        .map_err(ApiError::internal)
}
