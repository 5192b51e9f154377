//! The Ente-compatible API (the subset of museum's routes Ferry uploads through) and
//! the optional admin API.

mod admin;
mod collections;
mod files;
mod uploads;
mod validate;

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::de::DeserializeOwned;

use crate::db::Db;
use crate::error::ApiError;
use crate::faults::Faults;
use crate::store::ObjectStore;

/// Largest JSON body the API reads (metadata is small; files go to S3).
pub const MAX_JSON_BODY: usize = 1024 * 1024;

#[derive(Debug, Clone)]
pub struct AppState {
    pub db: Db,
    pub store: ObjectStore,
    pub tokens: Arc<HashMap<String, i64>>,
    pub faults: Arc<Faults>,
    pub limits: Limits,
}

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub quota_bytes: u64,
    pub max_file_size: u64,
    pub diff_page_size: u32,
}

pub fn api_router(state: AppState, admin: bool) -> Router {
    let mut router = Router::new()
        .route("/files/upload-urls", get(uploads::upload_urls))
        .route(
            "/files/multipart-upload-urls",
            get(uploads::multipart_upload_urls),
        )
        .route("/files", post(files::create))
        .route("/files/download/{id}", get(files::download))
        .route("/files/preview/{id}", get(files::preview))
        .route(
            "/collections",
            post(collections::create).get(collections::list),
        )
        .route("/collections/v2/diff", get(collections::diff));
    if admin {
        router = router
            .route(
                "/admin/faults",
                get(admin::get_faults)
                    .put(admin::put_faults)
                    .delete(admin::delete_faults),
            )
            .route("/admin/requests", get(admin::requests))
            .route("/admin/abort-uploads", post(admin::abort_uploads));
    }
    router.with_state(state)
}

/// The authenticated user, from `X-Auth-Token`.
#[derive(Debug, Clone, Copy)]
pub struct User(pub i64);

impl FromRequestParts<AppState> for User {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        parts
            .headers
            .get("x-auth-token")
            .and_then(|v| v.to_str().ok())
            .and_then(|token| state.tokens.get(token))
            .map(|&id| User(id))
            .ok_or_else(ApiError::unauthorized)
    }
}

/// `Json<T>` whose every rejection is an `ApiError` with a JSON body.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(value)) => Ok(Self(value)),
            Err(JsonRejection::JsonDataError(e)) => {
                Err(ApiError::bad_request("INVALID_FIELD", e.body_text()))
            }
            Err(JsonRejection::JsonSyntaxError(e)) => {
                Err(ApiError::bad_request("BAD_JSON", e.body_text()))
            }
            Err(JsonRejection::MissingJsonContentType(_)) => Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "UNSUPPORTED_MEDIA_TYPE",
                "send Content-Type: application/json",
            )),
            Err(JsonRejection::BytesRejection(e))
                if e.status() == StatusCode::PAYLOAD_TOO_LARGE =>
            {
                Err(ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "PAYLOAD_TOO_LARGE",
                    format!("the body exceeds {MAX_JSON_BODY} bytes"),
                ))
            }
            Err(e) => Err(ApiError::bad_request("BAD_REQUEST", e.body_text())),
        }
    }
}

/// Query parameters, parsed by hand so that every problem is a JSON 400.
#[derive(Debug)]
pub struct QueryParams(HashMap<String, String>);

impl<S: Send + Sync> FromRequestParts<S> for QueryParams {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let query = parts.uri.query().unwrap_or("");
        Ok(Self(
            url::form_urlencoded::parse(query.as_bytes())
                .into_owned()
                .collect(),
        ))
    }
}

impl QueryParams {
    pub fn integer(&self, name: &str, min: i64, max: i64) -> Result<i64, ApiError> {
        let raw = self.0.get(name).ok_or_else(|| {
            ApiError::bad_request("INVALID_QUERY", format!("`{name}` is required"))
        })?;
        match raw.parse::<i64>() {
            Ok(n) if (min..=max).contains(&n) => Ok(n),
            _ => Err(ApiError::bad_request(
                "INVALID_QUERY",
                format!("`{name}` must be an integer from {min} to {max}, got {raw:?}"),
            )),
        }
    }

    pub fn integer_or(
        &self,
        name: &str,
        default: i64,
        min: i64,
        max: i64,
    ) -> Result<i64, ApiError> {
        if self.0.contains_key(name) {
            self.integer(name, min, max)
        } else {
            Ok(default)
        }
    }
}
