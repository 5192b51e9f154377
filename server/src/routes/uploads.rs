//! Presigned upload URLs. Every object key handed out is recorded as the
//! user's (`<user id>/<random>`, as museum makes them), so that `--strict`
//! can refuse keys never handed out.

use axum::Json;
use axum::extract::State;
use rusqlite::params;
use serde_json::{Value, json};

use super::{AppState, QueryParams, User};
use crate::db::{now_micros, random_token};
use crate::error::{ApiError, ApiResult};

/// The most single-PUT URLs one request may ask for.
const MAX_UPLOAD_URLS: i64 = 50;
/// S3's limit on parts per multipart upload.
const MAX_PARTS: i64 = 10_000;

fn new_object_key(user: i64) -> String {
    format!("{user}/{}", random_token(18))
}

async fn record_objects(
    state: &AppState,
    user: i64,
    keys: Vec<(String, Option<String>)>,
) -> ApiResult<()> {
    state
        .db
        .write(move |tx| {
            let now = now_micros();
            for (key, upload_id) in &keys {
                tx.execute(
                    "INSERT INTO objects (object_key, owner_id, upload_id, created_at) VALUES (?1, ?2, ?3, ?4)",
                    params![key, user, upload_id, now],
                )
                .map_err(ApiError::internal)?;
            }
            Ok(())
        })
        .await
}

/// `GET /files/upload-urls?count=N`, as museum's `FileController.GetUploadURLs`
/// (`pkg/controller/file.go`): the subscription and quota first (402 / 426),
/// then `count` read leniently (missing or malformed is 0, giving
/// `{"urls": []}`) and clamped to 50 (`MaxUploadURLsLimit`).
pub async fn upload_urls(
    State(state): State<AppState>,
    User(user): User,
    query: QueryParams,
) -> ApiResult<Json<Value>> {
    let count = if state.limits.strict {
        query.integer("count", 1, MAX_UPLOAD_URLS)?
    } else {
        query.lenient("count").clamp(0, MAX_UPLOAD_URLS)
    };
    let check = state.clone();
    state
        .db
        .read(move |conn| check.can_upload(conn, user, 0))
        .await?;
    let keys: Vec<String> = (0..count).map(|_| new_object_key(user)).collect();
    record_objects(
        &state,
        user,
        keys.iter().map(|k| (k.clone(), None)).collect(),
    )
    .await?;
    let urls: Vec<Value> = keys
        .iter()
        .map(|key| json!({ "objectKey": key, "url": state.store.presign_put(key).as_str() }))
        .collect();
    Ok(Json(json!({ "urls": urls })))
}

/// `GET /files/multipart-upload-urls?count=P`, as museum's
/// `FileController.GetMultipartUploadURLs`: `count` outside 1 to 10,000
/// (`maxMultipartPartCount`) is a 400 `{}` before anything else, then the
/// subscription and quota (402 / 426).
pub async fn multipart_upload_urls(
    State(state): State<AppState>,
    User(user): User,
    query: QueryParams,
) -> ApiResult<Json<Value>> {
    let count = if state.limits.strict {
        query.integer("count", 1, MAX_PARTS)?
    } else {
        let count = query.lenient("count");
        if !(1..=MAX_PARTS).contains(&count) {
            return Err(ApiError::bad_request(format!(
                "multipart upload cannot exceed {MAX_PARTS} parts (count {count})"
            )));
        }
        count
    };
    let check = state.clone();
    state
        .db
        .read(move |conn| check.can_upload(conn, user, 0))
        .await?;
    let key = new_object_key(user);
    let upload_id = state
        .store
        .create_multipart_upload(&key)
        .await
        .map_err(ApiError::store)?;
    record_objects(&state, user, vec![(key.clone(), Some(upload_id.clone()))]).await?;
    let part_urls: Vec<String> = (1..=count)
        .map(|n| {
            let n = u16::try_from(n).unwrap_or(u16::MAX); // count <= 10,000
            state.store.presign_part(&key, &upload_id, n).to_string()
        })
        .collect();
    Ok(Json(json!({
        "urls": {
            "objectKey": key,
            "partURLs": part_urls,
            "completeURL": state.store.presign_complete(&key, &upload_id).as_str(),
        }
    })))
}
