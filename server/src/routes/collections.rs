//! Albums. Their keys and names are encrypted by the client; the server
//! stores them opaquely and only checks their shape.

use axum::Json;
use axum::extract::State;
use rusqlite::{OptionalExtension, Row, params};
use serde::Deserialize;
use serde_json::{Value, json};

use super::validate::base64_field;
use super::{ApiJson, AppState, QueryParams, User, files};
use crate::db::next_updation_time;
use crate::error::{ApiError, ApiResult};

const COLLECTION_TYPES: &[&str] = &["album", "folder", "favorites", "uncategorized"];
const MAX_NAME_CHARS: usize = 4096;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewCollection {
    encrypted_key: String,
    key_decryption_nonce: String,
    encrypted_name: String,
    name_decryption_nonce: String,
    #[serde(rename = "type")]
    kind: String,
}

fn collection_from_row(r: &Row<'_>) -> rusqlite::Result<Value> {
    Ok(json!({
        "id": r.get::<_, i64>(0)?,
        "owner": { "id": r.get::<_, i64>(1)? },
        "encryptedKey": r.get::<_, String>(2)?,
        "keyDecryptionNonce": r.get::<_, String>(3)?,
        "encryptedName": r.get::<_, String>(4)?,
        "nameDecryptionNonce": r.get::<_, String>(5)?,
        "type": r.get::<_, String>(6)?,
        "updationTime": r.get::<_, i64>(7)?,
        "isDeleted": false,
    }))
}

const COLLECTION_COLUMNS: &str =
    "id, owner_id, encrypted_key, key_decryption_nonce, encrypted_name,
    name_decryption_nonce, type, updation_time";

pub async fn create(
    State(state): State<AppState>,
    User(user): User,
    ApiJson(new): ApiJson<NewCollection>,
) -> ApiResult<Json<Value>> {
    base64_field("encryptedKey", &new.encrypted_key, 128)?;
    base64_field("keyDecryptionNonce", &new.key_decryption_nonce, 64)?;
    base64_field("encryptedName", &new.encrypted_name, MAX_NAME_CHARS)?;
    base64_field("nameDecryptionNonce", &new.name_decryption_nonce, 64)?;
    if !COLLECTION_TYPES.contains(&new.kind.as_str()) {
        return Err(ApiError::bad_request(
            "INVALID_FIELD",
            format!("`type` must be one of {COLLECTION_TYPES:?}"),
        ));
    }
    let collection = state
        .db
        .write(move |tx| {
            let time = next_updation_time(tx)?;
            tx.execute(
                "INSERT INTO collections (owner_id, encrypted_key, key_decryption_nonce, encrypted_name,
                    name_decryption_nonce, type, updation_time) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    user,
                    new.encrypted_key,
                    new.key_decryption_nonce,
                    new.encrypted_name,
                    new.name_decryption_nonce,
                    new.kind,
                    time
                ],
            )
            .map_err(ApiError::internal)?;
            tx.query_row(
                &format!("SELECT {COLLECTION_COLUMNS} FROM collections WHERE id = ?1"),
                [tx.last_insert_rowid()],
                collection_from_row,
            )
            .map_err(ApiError::internal)
        })
        .await?;
    Ok(Json(json!({ "collection": collection })))
}

pub async fn list(
    State(state): State<AppState>,
    User(user): User,
    query: QueryParams,
) -> ApiResult<Json<Value>> {
    let since = query.integer_or("sinceTime", 0, 0, i64::MAX)?;
    let collections = state
        .db
        .read(move |conn| {
            let mut stmt = conn
                .prepare(&format!(
                    "SELECT {COLLECTION_COLUMNS} FROM collections
                     WHERE owner_id = ?1 AND updation_time > ?2 ORDER BY updation_time"
                ))
                .map_err(ApiError::internal)?;
            let rows = stmt
                .query_map(params![user, since], collection_from_row)
                .map_err(ApiError::internal)?;
            rows.collect::<rusqlite::Result<Vec<_>>>()
                .map_err(ApiError::internal)
        })
        .await?;
    Ok(Json(json!({ "collections": collections })))
}

pub async fn diff(
    State(state): State<AppState>,
    User(user): User,
    query: QueryParams,
) -> ApiResult<Json<Value>> {
    let collection = query.integer("collectionID", 1, i64::MAX)?;
    let since = query.integer_or("sinceTime", 0, 0, i64::MAX)?;
    let page = state.limits.diff_page_size;
    let (files, has_more) = state
        .db
        .read(move |conn| {
            let owned: Option<i64> = conn
                .query_row(
                    "SELECT id FROM collections WHERE id = ?1 AND owner_id = ?2",
                    params![collection, user],
                    |r| r.get(0),
                )
                .optional()
                .map_err(ApiError::internal)?;
            if owned.is_none() {
                return Err(ApiError::not_found(format!("no collection {collection}")));
            }
            let mut files = files::diff(conn, collection, since, page + 1)?;
            let has_more = files.len() > page as usize;
            files.truncate(page as usize);
            Ok((files, has_more))
        })
        .await?;
    Ok(Json(json!({ "diff": files, "hasMore": has_more })))
}
