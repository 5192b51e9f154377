//! Test controls, mounted only with `--admin`: switch fault rules at run
//! time, read request counts (e.g. to prove a part was not re-sent), abort
//! unfinished multipart uploads the way a bucket lifecycle rule does, and
//! end or renew the caller's subscription.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};

use serde::Deserialize;

use super::{ApiJson, AppState, User};
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

/// Requests per route and per object part: `started` once the head
/// arrived (`counts` is the same map, under the name it had first),
/// `finished` once answered, `cutOff` when the body stopped before its end,
/// and the answers' `statuses` per route.
pub async fn requests(State(state): State<AppState>) -> Json<Value> {
    let counts = state.faults.counts();
    Json(json!({
        "counts": counts.started,
        "started": counts.started,
        "finished": counts.finished,
        "cutOff": counts.cut_off,
        "statuses": counts.statuses,
    }))
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
            .map_err(ApiError::store)?
        {
            aborted += 1;
        }
    }
    Ok(Json(json!({ "aborted": aborted })))
}

#[derive(Debug, Deserialize)]
pub struct Subscription {
    expired: bool,
}

/// `PUT /admin/subscription {"expired": bool}`: the caller's subscription
/// ends (upload URLs and `POST /files` answer 402) or is renewed.
pub async fn subscription(
    State(state): State<AppState>,
    User(user): User,
    ApiJson(body): ApiJson<Subscription>,
) -> StatusCode {
    let mut expired = state
        .expired
        .write()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if body.expired {
        expired.insert(user);
    } else {
        expired.remove(&user);
    }
    StatusCode::NO_CONTENT
}
