//! Test controls, mounted only with `--admin`: switch fault rules at run
//! time, read request counts (e.g. to prove a part was not re-sent), and
//! abort unfinished multipart uploads the way a bucket lifecycle rule does.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};

use super::{ApiJson, AppState};
use crate::error::{ApiError, ApiResult};
use crate::faults::FaultConfig;

pub async fn get_faults(State(state): State<AppState>) -> Json<Value> {
    Json(json!({
        "config": state.faults.config(),
        "injected": state.faults.injected(),
    }))
}

pub async fn put_faults(
    State(state): State<AppState>,
    ApiJson(config): ApiJson<FaultConfig>,
) -> ApiResult<StatusCode> {
    state.faults.set(Some(config));
    Ok(StatusCode::NO_CONTENT)
}

pub async fn delete_faults(State(state): State<AppState>) -> StatusCode {
    state.faults.set(None);
    StatusCode::NO_CONTENT
}

pub async fn requests(State(state): State<AppState>) -> Json<Value> {
    Json(json!({ "counts": state.faults.counts() }))
}

/// Aborts every multipart upload that no file refers to yet, as an
/// `AbortIncompleteMultipartUpload` lifecycle rule would for a device that
/// stayed away too long. Uploads completed but not yet registered are left
/// as they are, as on S3 (the store answers `NoSuchUpload`).
pub async fn abort_uploads(State(state): State<AppState>) -> ApiResult<Json<Value>> {
    let pending: Vec<(String, String)> = state
        .db
        .read(|conn| {
            let mut statement = conn
                .prepare(
                    "SELECT object_key, upload_id FROM objects WHERE upload_id IS NOT NULL
                     AND object_key NOT IN (SELECT file_object_key FROM files)",
                )
                .map_err(ApiError::internal)?;
            let rows = statement
                .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
                .map_err(ApiError::internal)?;
            rows.collect::<Result<_, _>>().map_err(ApiError::internal)
        })
        .await?;
    let mut aborted = 0;
    for (key, upload_id) in pending {
        if state
            .store
            .abort_multipart_upload(&key, &upload_id)
            .await
            .map_err(ApiError::bad_gateway)?
        {
            aborted += 1;
        }
    }
    Ok(Json(json!({ "aborted": aborted })))
}
