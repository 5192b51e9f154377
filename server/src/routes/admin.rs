//! Test controls, mounted only with `--admin`: switch fault rules at run
//! time and read request counts (e.g. to prove a part was not re-sent).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};

use super::{ApiJson, AppState};
use crate::error::ApiResult;
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
