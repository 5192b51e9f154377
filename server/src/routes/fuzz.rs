//! The API's request parsing, reachable without a socket or a database:
//! what the fuzz targets in `fuzz/` drive. Each function reads a body or a
//! query string as the handlers do and makes the checks they make before
//! the database is touched. Not part of the server's interface.

use axum::response::IntoResponse;

use super::admin::Subscription;
use super::collections::NewCollection;
use super::files::NewFile;
use super::trash::TrashRequest;
use super::validate::safe_object_key;
use super::{QueryParams, bind};
use crate::error::{ApiError, ApiResult};
use crate::faults::{FaultConfig, Faults};

/// The JSON bodies the API reads, by route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Body {
    /// `POST /files`
    NewFile,
    /// `POST /collections`
    NewCollection,
    /// `POST /files/trash`
    Trash,
    /// `PUT /admin/subscription`
    Subscription,
    /// `PUT /admin/faults`
    Faults,
}

impl Body {
    pub const ALL: [Body; 5] = [
        Body::NewFile,
        Body::NewCollection,
        Body::Trash,
        Body::Subscription,
        Body::Faults,
    ];
}

/// Reads `bytes` as the body of `route` for `user`, then checks it as the
/// handler does before the database. `Ok` when it would go on; `Err` with
/// the status it would answer.
pub fn body(route: Body, bytes: &[u8], user: i64, strict: bool) -> Result<(), u16> {
    answer(match route {
        Body::NewFile => bind::<NewFile>(bytes, strict).and_then(|new| {
            if strict {
                new.validate_strict()?;
            }
            new.validate(user)
        }),
        Body::NewCollection => {
            bind::<NewCollection>(bytes, strict).and_then(|mut new| new.check(strict))
        }
        Body::Trash => bind::<TrashRequest>(bytes, strict).and_then(|t| t.check().map(drop)),
        Body::Subscription => bind::<Subscription>(bytes, strict).map(drop),
        Body::Faults => bind::<FaultConfig>(bytes, strict).map(|config| {
            let faults = Faults::new(Some(config));
            for route in ["upload-urls", "files", "s3:put", "collections"] {
                let _ = faults.decide(route, Some("fuzz"));
            }
        }),
    })
}

/// Reads a query string as the routes do: `count`, `collectionID` and
/// `sinceTime` leniently as museum does, or strictly.
pub fn query(raw: &str, strict: bool) -> Result<(), u16> {
    let query = QueryParams::parse(raw);
    if !strict {
        for name in ["count", "collectionID", "sinceTime"] {
            let _ = query.lenient(name);
        }
        return Ok(());
    }
    answer(
        query
            .integer("count", 1, 50)
            .and(query.integer("collectionID", 1, i64::MAX))
            .and(query.integer_or("sinceTime", 0, 0, i64::MAX))
            .map(drop),
    )
}

/// Whether the store may be asked for an object under this key.
pub fn object_key(key: &str) -> bool {
    safe_object_key(key)
}

/// The status of a refusal, after rendering the answer it would send.
fn answer(result: ApiResult<()>) -> Result<(), u16> {
    result.map_err(|e: ApiError| {
        let status = e.status.as_u16();
        drop(e.into_response());
        status
    })
}
