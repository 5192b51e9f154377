//! The Ente-compatible API, as museum (ente-io/ente `server/`) behaves, and
//! the optional admin API.

mod admin;
mod collections;
mod files;
pub mod fuzz;
mod trash;
mod uploads;
mod validate;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};

use axum::Router;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::routing::{get, post};
use serde::de::DeserializeOwned;

use crate::db::Db;
use crate::error::{ApiError, ApiResult};
use crate::faults::Faults;
use crate::store::ObjectStore;
use crate::store::keys::KeyLocks;

/// Largest JSON body the API reads (metadata is small; files go to S3).
pub const MAX_JSON_BODY: usize = 1024 * 1024;

#[derive(Debug, Clone)]
pub struct AppState {
    pub db: Db,
    pub store: ObjectStore,
    /// Object keys being written (embedded store) or registered.
    pub locks: KeyLocks,
    pub tokens: Arc<HashMap<String, i64>>,
    pub faults: Arc<Faults>,
    pub limits: Limits,
    /// Users whose subscription has ended (402), switchable at run time
    /// through the admin API.
    pub expired: Arc<RwLock<HashSet<i64>>>,
}

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub quota_bytes: u64,
    pub max_file_size: u64,
    pub diff_page_size: u32,
    /// `--strict`: refuse what museum lets through, with a code.
    pub strict: bool,
    pub object_check_retry_ms: u64,
}

impl AppState {
    /// museum's `UsageController.CanUploadFile`: 402 `{}` without an active
    /// subscription, 426 `{}` when `adding` more bytes would not fit (at URL
    /// time `adding` is 0: refused once the usage is over the quota).
    pub fn can_upload(&self, conn: &rusqlite::Connection, user: i64, adding: u64) -> ApiResult<()> {
        let expired = self
            .expired
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .contains(&user);
        if expired {
            return Err(ApiError::plain(
                StatusCode::PAYMENT_REQUIRED,
                "no active subscription",
            ));
        }
        let used: i64 = conn
            .query_row(
                "SELECT COALESCE(SUM(file_size + thumb_size), 0) FROM files WHERE owner_id = ?1",
                [user],
                |r| r.get(0),
            )
            .map_err(ApiError::internal)?;
        let used = u64::try_from(used).unwrap_or(0);
        let over = if adding == 0 {
            used > self.limits.quota_bytes
        } else {
            used.saturating_add(adding) > self.limits.quota_bytes
        };
        if over {
            return Err(ApiError::plain(
                StatusCode::UPGRADE_REQUIRED,
                format!(
                    "storage limit of {} bytes exceeded",
                    self.limits.quota_bytes
                ),
            ));
        }
        Ok(())
    }
}

pub fn api_router(state: AppState, admin: bool) -> Router {
    let mut router = Router::new()
        .route("/files/upload-urls", get(uploads::upload_urls))
        .route(
            "/files/multipart-upload-urls",
            get(uploads::multipart_upload_urls),
        )
        .route("/files", post(files::create))
        .route("/files/trash", post(trash::trash))
        .route("/files/download/{id}", get(files::download))
        .route("/files/preview/{id}", get(files::preview))
        .route(
            "/collections",
            post(collections::create).get(collections::list),
        )
        .route("/collections/v2", get(collections::list))
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
            .route("/admin/abort-uploads", post(admin::abort_uploads))
            .route(
                "/admin/subscription",
                axum::routing::put(admin::subscription),
            );
    }
    router.with_state(state)
}

/// The authenticated user, from `X-Auth-Token` or else `?token=` (museum's
/// `auth.GetToken`); refused as `TokenAuthMiddleware` does.
#[derive(Debug, Clone, Copy)]
pub struct User(pub i64);

impl FromRequestParts<AppState> for User {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let header = parts
            .headers
            .get("x-auth-token")
            .and_then(|v| v.to_str().ok())
            .filter(|t| !t.is_empty())
            .map(str::to_owned);
        let token = header.or_else(|| {
            url::form_urlencoded::parse(parts.uri.query().unwrap_or("").as_bytes())
                .find(|(name, _)| name == "token")
                .map(|(_, value)| value.into_owned())
                .filter(|t| !t.is_empty())
        });
        let Some(token) = token else {
            return Err(ApiError::middleware(
                StatusCode::UNAUTHORIZED,
                "missing token",
            ));
        };
        state
            .tokens
            .get(&token)
            .map(|&id| User(id))
            .ok_or_else(|| ApiError::middleware(StatusCode::UNAUTHORIZED, "invalid token"))
    }
}

/// A JSON body as museum's `handler.BindJSON` (gin's `ShouldBindJSON`)
/// reads it: whatever the `Content-Type`, and every problem a 400 `{}`.
/// With `--strict`, a body must say `Content-Type: application/json` and
/// problems carry a code.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let strict = state.limits.strict;
        if strict {
            let json = req
                .headers()
                .get(axum::http::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.starts_with("application/json"));
            if !json {
                return Err(ApiError::coded(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "UNSUPPORTED_MEDIA_TYPE",
                    "send Content-Type: application/json",
                ));
            }
        }
        let bytes = match axum::body::Bytes::from_request(req, state).await {
            Ok(bytes) => bytes,
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                let why = format!("the body exceeds {MAX_JSON_BODY} bytes");
                return Err(if strict {
                    ApiError::coded(StatusCode::PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE", why)
                } else {
                    ApiError::plain(StatusCode::PAYLOAD_TOO_LARGE, why)
                });
            }
            Err(e) => return Err(ApiError::bad_request(e.body_text())),
        };
        bind(&bytes, strict).map(Self)
    }
}

/// Reads a JSON body as [`ApiJson`] does, each problem its error.
fn bind<T: DeserializeOwned>(bytes: &[u8], strict: bool) -> Result<T, ApiError> {
    serde_json::from_slice(bytes).map_err(|e| {
        if strict {
            let code = if e.is_data() {
                "INVALID_FIELD"
            } else {
                "BAD_JSON"
            };
            ApiError::strict(code, e.to_string())
        } else {
            ApiError::bad_request(format!("cannot bind the body: {e}"))
        }
    })
}

/// Query parameters, parsed by hand so that every problem is a JSON 400.
#[derive(Debug)]
pub struct QueryParams(HashMap<String, String>);

impl<S: Send + Sync> FromRequestParts<S> for QueryParams {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        Ok(Self::parse(parts.uri.query().unwrap_or("")))
    }
}

impl QueryParams {
    fn parse(query: &str) -> Self {
        Self(
            url::form_urlencoded::parse(query.as_bytes())
                .into_owned()
                .collect(),
        )
    }

    /// A number as museum reads its query parameters (`strconv.Atoi` or
    /// `ParseInt` with the error ignored): missing or malformed is 0.
    pub fn lenient(&self, name: &str) -> i64 {
        self.0
            .get(name)
            .and_then(|raw| raw.parse().ok())
            .unwrap_or(0)
    }

    pub fn integer(&self, name: &str, min: i64, max: i64) -> Result<i64, ApiError> {
        let raw = self
            .0
            .get(name)
            .ok_or_else(|| ApiError::strict("INVALID_QUERY", format!("`{name}` is required")))?;
        match raw.parse::<i64>() {
            Ok(n) if (min..=max).contains(&n) => Ok(n),
            _ => Err(ApiError::strict(
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
