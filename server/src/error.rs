use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// Every API error, with the body museum sends for its kind (museum's
/// `pkg/utils/handler/handler.go` `Error` and `pkg/middleware`):
///
/// * `{code, message}` for museum's `ApiError`s (`OBJECT_SIZE_FETCH_FAILED`,
///   `COLLECTION_DELETED`) and for the refusals of `--strict` mode;
/// * `{}` for museum's plain errors (`ErrBadRequest`, `ErrNotFound`,
///   `ErrPermissionDenied`, `ErrNoActiveSubscription`, …), whatever the
///   reason: the reason is only logged;
/// * `{"error": "…"}` from the auth and rate-limit middleware.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub body: ErrorBody,
    /// Why, for the log; sent to the client only in a `Coded` body.
    pub message: String,
    pub retry_after: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorBody {
    Coded(&'static str),
    Empty,
    Middleware(&'static str),
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    /// `{code, message}`: one of museum's `ApiError`s, or a strict-mode refusal.
    pub fn coded(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            body: ErrorBody::Coded(code),
            message: message.into(),
            retry_after: None,
        }
    }

    /// `{}`: one of museum's plain errors; `why` is only logged.
    pub fn plain(status: StatusCode, why: impl Into<String>) -> Self {
        Self {
            status,
            body: ErrorBody::Empty,
            message: why.into(),
            retry_after: None,
        }
    }

    /// `{"error": text}`, as museum's middleware answers.
    pub fn middleware(status: StatusCode, text: &'static str) -> Self {
        Self {
            status,
            body: ErrorBody::Middleware(text),
            message: text.into(),
            retry_after: None,
        }
    }

    /// 400 `{}` (`ente.ErrBadRequest`, and every bind or validation error).
    pub fn bad_request(why: impl Into<String>) -> Self {
        Self::plain(StatusCode::BAD_REQUEST, why)
    }

    /// 404 `{}` (`ente.ErrNotFound`, `sql.ErrNoRows`).
    pub fn not_found(why: impl Into<String>) -> Self {
        Self::plain(StatusCode::NOT_FOUND, why)
    }

    /// 403 `{}` (`ente.ErrPermissionDenied`).
    pub fn forbidden(why: impl Into<String>) -> Self {
        Self::plain(StatusCode::FORBIDDEN, why)
    }

    /// A 400 with a code, for `--strict` refusals.
    pub fn strict(code: &'static str, message: impl Into<String>) -> Self {
        Self::coded(StatusCode::BAD_REQUEST, code, message)
    }

    /// 500 `{}`: anything museum does not map to a status.
    pub fn internal(err: impl std::fmt::Display) -> Self {
        tracing::error!(%err, "internal error");
        Self::plain(StatusCode::INTERNAL_SERVER_ERROR, err.to_string())
    }

    /// The object store failed: museum has no status of its own for it,
    /// so it is a 500 `{}` like any unmapped error.
    pub fn store(err: impl std::fmt::Display) -> Self {
        tracing::warn!(%err, "object store error");
        Self::plain(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("the object store failed: {err}"),
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_client_error() {
            tracing::debug!(status = %self.status, why = %self.message, "request refused");
        }
        let body = match self.body {
            ErrorBody::Coded(code) => json!({ "code": code, "message": self.message }),
            ErrorBody::Empty => json!({}),
            ErrorBody::Middleware(text) => json!({ "error": text }),
        };
        let mut response = (self.status, Json(body)).into_response();
        if let Some(secs) = self.retry_after
            && let Ok(value) = HeaderValue::from_str(&secs.to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        response
    }
}
