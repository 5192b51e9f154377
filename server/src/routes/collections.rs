//! Albums, as museum's `CollectionController` (`pkg/controller/collections/`)
//! behaves. Their keys and names are encrypted by the client; the server
//! stores them opaquely and checks only the key's length, as museum does.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use rusqlite::{OptionalExtension, Row, params};
use serde::Deserialize;
use serde_json::{Value, json};

use super::validate::{base64_field, decodes_to};
use super::{ApiJson, AppState, QueryParams, User, files};
use crate::db::next_updation_time;
use crate::error::{ApiError, ApiResult};

/// museum's `ente.ValidCollectionTypes`.
const COLLECTION_TYPES: &[&str] = &["album", "folder", "favorites", "uncategorized"];
const MAX_NAME_CHARS: usize = 4096;
/// museum's `encryptedCollectionKeyLen` (a 32-byte key and its 16-byte
/// secretbox MAC) and `secretboxNonceBytes`.
const ENCRYPTED_KEY_BYTES: usize = 48;
const NONCE_BYTES: usize = 24;

/// The body of `POST /collections`, bound as museum binds `ente.Collection`:
/// `encryptedKey`, `keyDecryptionNonce` and `type` required, the rest
/// optional, unknown members ignored.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct NewCollection {
    encrypted_key: String,
    key_decryption_nonce: String,
    encrypted_name: String,
    name_decryption_nonce: String,
    #[serde(rename = "type")]
    kind: String,
}

impl NewCollection {
    /// The refusals of `create` before anything is written; an album's
    /// legacy type name is read as `album`.
    pub(super) fn check(&mut self, strict: bool) -> ApiResult<()> {
        if strict {
            base64_field("encryptedName", &self.encrypted_name, MAX_NAME_CHARS)?;
            base64_field("nameDecryptionNonce", &self.name_decryption_nonce, 64)?;
        }
        if self.encrypted_key.is_empty()
            || self.key_decryption_nonce.is_empty()
            || self.kind.is_empty()
        {
            return Err(ApiError::bad_request(
                "encryptedKey, keyDecryptionNonce and type are required",
            ));
        }
        if !decodes_to(&self.encrypted_key, ENCRYPTED_KEY_BYTES) {
            return Err(ApiError::plain(
                StatusCode::INTERNAL_SERVER_ERROR,
                "encryptedKey must decode to 48 bytes",
            ));
        }
        if !decodes_to(&self.key_decryption_nonce, NONCE_BYTES) {
            return Err(ApiError::plain(
                StatusCode::INTERNAL_SERVER_ERROR,
                "keyDecryptionNonce must decode to 24 bytes",
            ));
        }
        if self.kind == "CollectionType.album" {
            self.kind = "album".into();
        }
        if !COLLECTION_TYPES.contains(&self.kind.as_str()) {
            return Err(ApiError::plain(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("unexpected collection type {}", self.kind),
            ));
        }
        Ok(())
    }
}

fn collection_from_row(r: &Row<'_>) -> rusqlite::Result<Value> {
    Ok(json!({
        "id": r.get::<_, i64>(0)?,
        "owner": { "id": r.get::<_, i64>(1)?, "email": "", "name": "", "role": "OWNER" },
        "encryptedKey": r.get::<_, String>(2)?,
        "keyDecryptionNonce": r.get::<_, String>(3)?,
        "name": "",
        "encryptedName": r.get::<_, String>(4)?,
        "nameDecryptionNonce": r.get::<_, String>(5)?,
        "type": r.get::<_, String>(6)?,
        "attributes": { "version": 0 },
        "sharees": [],
        "publicURLs": [],
        "updationTime": r.get::<_, i64>(7)?,
        "app": "photos",
    }))
}

const COLLECTION_COLUMNS: &str =
    "id, owner_id, encrypted_key, key_decryption_nonce, encrypted_name,
    name_decryption_nonce, type, updation_time";

/// `POST /collections`, as museum's `CollectionController.Create`: the
/// required members (400 `{}`), then `validateOwnedCollectionKey`: an
/// `encryptedKey` that is not base64 of exactly 48 bytes, or a nonce not of
/// exactly 24, is a plain error, so a 500 `{}`; so is an unknown `type`.
/// Answers `{"collection": …}`.
pub async fn create(
    State(state): State<AppState>,
    User(user): User,
    ApiJson(mut new): ApiJson<NewCollection>,
) -> ApiResult<Json<Value>> {
    new.check(state.limits.strict)?;
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

/// `GET /collections` and `GET /collections/v2?sinceTime=T` (museum's
/// `CollectionHandler.GetV2`): the caller's collections changed after `T`
/// (malformed or missing: 0).
pub async fn list(
    State(state): State<AppState>,
    User(user): User,
    query: QueryParams,
) -> ApiResult<Json<Value>> {
    let since = if state.limits.strict {
        query.integer_or("sinceTime", 0, 0, i64::MAX)?
    } else {
        query.lenient("sinceTime")
    };
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

/// `GET /collections/v2/diff?collectionID=C&sinceTime=T`, as museum's
/// `CollectionController.GetDiffV2`: malformed parameters read as 0; an
/// unknown collection, or one the caller neither owns nor shares, is a
/// 404 `{}` (`access.GetCollection`). Paged as `files::diff` explains.
pub async fn diff(
    State(state): State<AppState>,
    User(user): User,
    query: QueryParams,
) -> ApiResult<Json<Value>> {
    let (collection, since) = if state.limits.strict {
        (
            query.integer("collectionID", 1, i64::MAX)?,
            query.integer_or("sinceTime", 0, 0, i64::MAX)?,
        )
    } else {
        (query.lenient("collectionID"), query.lenient("sinceTime"))
    };
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
            files::diff(conn, collection, since, page)
        })
        .await?;
    Ok(Json(json!({ "diff": files, "hasMore": has_more })))
}
