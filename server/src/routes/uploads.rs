//! Presigned upload URLs. Every object key handed out is recorded as the
//! user's, so that `POST /files` can refuse keys of other users.

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

pub async fn upload_urls(
    State(state): State<AppState>,
    User(user): User,
    query: QueryParams,
) -> ApiResult<Json<Value>> {
    let count = query.integer("count", 1, MAX_UPLOAD_URLS)?;
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

pub async fn multipart_upload_urls(
    State(state): State<AppState>,
    User(user): User,
    query: QueryParams,
) -> ApiResult<Json<Value>> {
    let count = query.integer("count", 1, MAX_PARTS)?;
    let key = new_object_key(user);
    let upload_id = state
        .store
        .create_multipart_upload(&key)
        .await
        .map_err(ApiError::bad_gateway)?;
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
