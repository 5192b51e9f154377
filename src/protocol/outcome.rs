//! What an HTTP outcome means for the upload, in one place: the retry
//! policy and the queue's blocked state both follow from it. Also the one
//! list of the codes an item's error can carry (`ItemErrorCode`).

use super::http::{HttpResponse, TransportError};
use super::json_write::ToJson;

crate::codec::unit_enum_record! {
    /// Why the whole queue pauses: nothing more can succeed until the host acts.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
    #[serde(rename_all = "camelCase")]
    pub enum BlockedReason {
        /// 401: the session expired; a new token is needed.
        Auth,
        /// 402: no active subscription.
        Payment,
        /// 426: storage full.
        Quota,
        /// No network at all.
        Offline,
        /// The source can no longer be read (permission revoked).
        Permission,
    }
}

impl BlockedReason {
    /// Its name for JavaScript (serde's wire name).
    pub fn name(self) -> &'static str {
        match self {
            Self::Auth => "auth",
            Self::Payment => "payment",
            Self::Quota => "quota",
            Self::Offline => "offline",
            Self::Permission => "permission",
        }
    }
}

impl ToJson for BlockedReason {
    fn write_json(&self, out: &mut String) {
        self.name().write_json(out);
    }
}

/// The meaning of a failed exchange.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// Try this item again later (5xx, 429, 408, an unreadable source);
    /// `retry_after_ms` when the server said how long to wait.
    Transient {
        retry_after_ms: Option<u64>,
        why: String,
    },
    /// No answer at all: the network failed, or the server is down. Retried
    /// with backoff like `Transient`, but never counted toward giving up: an
    /// outage of a day must not fail the queue. `code` says whose answer
    /// was missing (`NO_ANSWER`: the API's; `STORE_UNREACHABLE`: the object
    /// store's; `ETAG_HIDDEN`: the store answered a part but its `ETag` was
    /// not readable), since the cure differs.
    NoAnswer { code: ItemErrorCode, why: String },
    /// The store no longer holds what this upload needs: a presigned URL
    /// expired (403, `URL_EXPIRED`), the multipart upload is gone (404
    /// `NoSuchUpload` from a lifecycle rule) or the server twice in a row
    /// found no object where the file was uploaded (`UPLOAD_LOST`), or the
    /// server refused to register objects it already holds under other
    /// attributes (`UPLOAD_REJECTED`). Start the upload again with a new key
    /// and new URLs; the hash is kept.
    UploadAgain { code: ItemErrorCode, why: String },
    /// This item can never succeed as it is (413, other 4xx).
    Permanent { code: String, why: String },
    /// Nothing can succeed until the host acts: pause the queue.
    Blocked(BlockedReason),
    /// The run's deadline came or the host aborted: not the item's fault,
    /// so nothing is counted against it.
    Interrupted,
}

/// Defines a set of error codes as one list: a fieldless enum, `ALL` (every
/// code, in order) and `name()`, the code as the host sees it. Each code is
/// one line, its name beside it, so none can be added without a name;
/// `tests/names.rs` holds the TypeScript unions and the README's tables to
/// `ALL`. Names are plain `&'static str` in a table: nothing is formatted.
macro_rules! code_list {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $( $(#[$variant_meta:meta])* $variant:ident = $code:literal ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        $vis enum $name {
            $( $(#[$variant_meta])* $variant ),*
        }

        impl $name {
            /// Every code, in the order of the definition.
            pub const ALL: &'static [$name] = &[$($name::$variant),*];

            /// The code as the host sees it.
            pub const fn name(self) -> &'static str {
                match self {
                    $($name::$variant => $code),*
                }
            }
        }
    };
}

pub(crate) use code_list;

impl ItemErrorCode {
    /// The codes of `Failure::NoAnswer`: the item waits for an answer.
    pub const UNANSWERED: &'static [Self] =
        &[Self::NoAnswer, Self::StoreUnreachable, Self::EtagHidden];
}

code_list! {
    /// The codes Ferry sets on a failed or waiting item (`error.code`, the
    /// TypeScript `ItemErrorCode`). A refusal the server words itself
    /// passes on as its own code (`Failure::Permanent`), or `HTTP_<status>`.
    pub enum ItemErrorCode {
        /// The source was deleted, moved, or changed on disk after it was picked.
        SourceGone = "SOURCE_GONE",
        /// The source changed at every look: still being written.
        SourceUnstable = "SOURCE_UNSTABLE",
        /// Waiting: the source changed during its upload, which starts over.
        SourceChanged = "SOURCE_CHANGED",
        /// The source describes itself impossibly.
        BadSource = "BAD_SOURCE",
        /// The source reports an absurd size.
        BadSize = "BAD_SIZE",
        /// The server's 413.
        FileTooLarge = "FILE_TOO_LARGE",
        /// Too many failures in a row that had an answer.
        TooManyAttempts = "TOO_MANY_ATTEMPTS",
        /// A presigned URL expired (the store's 403).
        UrlExpired = "URL_EXPIRED",
        /// The store or the server lost the uploaded object.
        UploadLost = "UPLOAD_LOST",
        /// The server refused to register the upload with a plain 400.
        UploadRejected = "UPLOAD_REJECTED",
        /// Waiting: a transient failure.
        Retrying = "RETRYING",
        /// Waiting: no answer from the server (down, or the network failed).
        NoAnswer = "NO_ANSWER",
        /// Waiting: the object store gave no answer to an upload, though
        /// the server's API hands out its URLs: a bucket without CORS rules
        /// for this app's origin, or the store down.
        StoreUnreachable = "STORE_UNREACHABLE",
        /// Waiting: the object store took a part but its `ETag` header was
        /// not readable: the bucket's CORS rules do not expose it.
        EtagHidden = "ETAG_HIDDEN",
        /// No key for the item's collection when its file is registered.
        MissingCollectionKey = "MISSING_COLLECTION_KEY",
    }
}

/// museum's 503 code when it cannot HEAD an object at `POST /files`
/// (`ente.ErrObjSizeFetchFailed`, after three tries in `sizeOf`): the
/// object is missing, or the store hiccuped. The message of the retry it
/// causes starts with it, so the next attempt knows it is the second look.
pub const OBJECT_SIZE_FETCH_FAILED: &str = "OBJECT_SIZE_FETCH_FAILED";

/// Classifies the answer to `POST /files` (registering an uploaded file),
/// given the message of the item's last error.
///
/// * 503 `OBJECT_SIZE_FETCH_FAILED` is first a transient retry: a store
///   hiccup passes. If the previous attempt met it too, the object is lost
///   (a lifecycle rule, a Complete whose answer was lost on a store that
///   forgot the upload): `UPLOAD_LOST`, uploaded again.
/// * A 400 without a code is museum's plain `ErrBadRequest`: from a
///   client that sends what Ferry sends, it means the object keys are
///   already registered with other attributes (`onDuplicateObjectDetected`),
///   or a stored object is not the size reported: the upload this item
///   made is not what the server holds. `UPLOAD_REJECTED`, uploaded again
///   under new keys; counted, so a server that refuses every time still
///   ends in `failed`.
pub fn classify_registration(
    response: &HttpResponse,
    previous_error: Option<&str>,
) -> Option<Failure> {
    let failure = classify(response, Peer::Api)?;
    let code = api_code(response);
    Some(match (response.status, code.as_deref()) {
        (503, Some(OBJECT_SIZE_FETCH_FAILED)) => {
            if previous_error.is_some_and(|m| m.starts_with(OBJECT_SIZE_FETCH_FAILED)) {
                Failure::UploadAgain {
                    code: ItemErrorCode::UploadLost,
                    why: "the server again found nothing where the file was uploaded; \
                          starting it again"
                        .into(),
                }
            } else {
                Failure::Transient {
                    retry_after_ms: None,
                    why: format!(
                        "{OBJECT_SIZE_FETCH_FAILED}: the server could not find the uploaded \
                         file; looking again"
                    ),
                }
            }
        }
        (400, None) => Failure::UploadAgain {
            code: ItemErrorCode::UploadRejected,
            why: format!(
                "the server refused to register the upload ({}); starting it again",
                detail(response)
            ),
        },
        _ => failure,
    })
}

/// Who answered: the same status means different things from each (a 403
/// from the object store is an expired presigned URL; from the API, a
/// refusal; a 401 only the API sends).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Peer {
    /// Ente's API (museum, or a server with its API subset).
    Api,
    /// The S3-compatible object store, through presigned URLs.
    ObjectStore,
}

/// Classifies a response from `peer`.
pub fn classify(response: &HttpResponse, peer: Peer) -> Option<Failure> {
    let store = peer == Peer::ObjectStore;
    let status = response.status;
    if (200..300).contains(&status) {
        return None;
    }
    // The status is printed as a u64: a u16's printer would be one more
    // copy in the wasm (ARCHITECTURE.md, "Size").
    let why = || format!("HTTP {}: {}", u64::from(status), detail(response));
    Some(match status {
        401 if !store => Failure::Blocked(BlockedReason::Auth),
        402 => Failure::Blocked(BlockedReason::Payment),
        426 => Failure::Blocked(BlockedReason::Quota),
        403 if store => Failure::UploadAgain {
            code: ItemErrorCode::UrlExpired,
            why: "an upload URL expired; asking for new ones".into(),
        },
        404 if store && s3_code(response) == Some("NoSuchUpload") => Failure::UploadAgain {
            code: ItemErrorCode::UploadLost,
            why: "the store no longer has this upload; starting it again".into(),
        },
        408 | 425 | 429 | 500..=599 => Failure::Transient {
            retry_after_ms: response.header("retry-after").and_then(parse_retry_after),
            why: why(),
        },
        413 => Failure::Permanent {
            code: ItemErrorCode::FileTooLarge.name().into(),
            why: why(),
        },
        _ => Failure::Permanent {
            code: api_code(response).unwrap_or_else(|| format!("HTTP_{}", u64::from(status))),
            why: why(),
        },
    })
}

/// A request that got no answer from `peer`. In a browser, a store whose
/// CORS rules refuse this origin looks exactly like a store that is down
/// (`fetch` says only "Failed to fetch"), so the store's silence has its
/// own code: with the API answering, CORS is the likely cause.
pub fn classify_transport(err: &TransportError, peer: Peer) -> Failure {
    match err {
        TransportError::Offline(_) => Failure::Blocked(BlockedReason::Offline),
        TransportError::Network(why) => Failure::NoAnswer {
            code: match peer {
                Peer::Api => ItemErrorCode::NoAnswer,
                Peer::ObjectStore => ItemErrorCode::StoreUnreachable,
            },
            why: why.clone(),
        },
        TransportError::Aborted => Failure::Interrupted,
    }
}

/// `Retry-After` in seconds (the HTTP-date form is not used by S3 or Ente).
fn parse_retry_after(value: &str) -> Option<u64> {
    value
        .trim()
        .parse::<u64>()
        .ok()
        .map(|s| s.saturating_mul(1000))
}

/// The `code` of an API error body `{code, message}` (museum's
/// `ApiError`), if there is one; `{}` and `{"error": …}` have none.
fn api_code(response: &HttpResponse) -> Option<String> {
    let value = super::json::Json::parse(&response.body).ok()?;
    value.get("code")?.as_str().map(str::to_owned)
}

/// What an error answer says, for the item's message: the `message` or
/// `error` of a JSON body (museum's `{code, message}` and middleware
/// `{"error": …}`), "no details" for `{}` or an empty body, else the start
/// of the body (an S3 XML error).
fn detail(response: &HttpResponse) -> String {
    if let Ok(value) = super::json::Json::parse(&response.body) {
        let said = ["message", "error"]
            .iter()
            .filter_map(|name| value.get(name)?.as_str())
            .find(|text| !text.is_empty());
        if let Some(text) = said {
            return text.chars().take(200).collect();
        }
        if matches!(value, super::json::Json::Object(_)) {
            return "no details".into();
        }
    }
    let text = String::from_utf8_lossy(&response.body);
    if text.trim().is_empty() {
        return "no details".into();
    }
    text.chars().take(200).collect()
}

/// The `<Code>` of an S3 XML error body.
fn s3_code(response: &HttpResponse) -> Option<&str> {
    // Searched as bytes: `str::find` with a string pattern brings in
    // core's substring searcher and the `str` slicing panics, 5 KB of
    // gzipped wasm for this one call.
    let find = |bytes: &[u8], tag: &[u8]| bytes.windows(tag.len()).position(|w| w == tag);
    let body = &response.body[..];
    let start = find(body, b"<Code>")? + b"<Code>".len();
    let len = find(&body[start..], b"</Code>")?;
    std::str::from_utf8(&body[start..start + len]).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(status: u16, headers: &[(&str, &str)], body: &str) -> HttpResponse {
        HttpResponse::sample(status, headers, body)
    }

    #[test]
    fn statuses_map_to_the_retry_policy() {
        assert_eq!(classify(&response(200, &[], ""), Peer::Api), None);
        assert_eq!(
            classify(&response(401, &[], ""), Peer::Api),
            Some(Failure::Blocked(BlockedReason::Auth))
        );
        assert_eq!(
            classify(&response(402, &[], ""), Peer::Api),
            Some(Failure::Blocked(BlockedReason::Payment))
        );
        assert_eq!(
            classify(&response(426, &[], ""), Peer::Api),
            Some(Failure::Blocked(BlockedReason::Quota))
        );
        assert!(matches!(
            classify(&response(403, &[], ""), Peer::ObjectStore),
            Some(Failure::UploadAgain {
                code: ItemErrorCode::UrlExpired,
                ..
            })
        ));
        let no_such_upload =
            r#"<?xml version="1.0" encoding="UTF-8"?><Error><Code>NoSuchUpload</Code></Error>"#;
        assert!(matches!(
            classify(&response(404, &[], no_such_upload), Peer::ObjectStore),
            Some(Failure::UploadAgain {
                code: ItemErrorCode::UploadLost,
                ..
            })
        ));
        assert!(matches!(
            classify(
                &response(404, &[], "<Error><Code>NoSuchBucket</Code></Error>"),
                Peer::ObjectStore
            ),
            Some(Failure::Permanent { .. })
        ));
        assert!(matches!(
            classify(&response(404, &[], no_such_upload), Peer::Api),
            Some(Failure::Permanent { .. })
        ));
        assert!(matches!(
            classify(&response(400, &[], r#"{"code":"SIZE_MISMATCH","message":"x"}"#), Peer::Api),
            Some(Failure::Permanent { ref code, .. }) if code == "SIZE_MISMATCH"
        ));
        assert!(matches!(
            classify(&response(429, &[("Retry-After", "7")], ""), Peer::Api),
            Some(Failure::Transient {
                retry_after_ms: Some(7000),
                ..
            })
        ));
        assert!(matches!(
            classify(&response(503, &[], ""), Peer::ObjectStore),
            Some(Failure::Transient {
                retry_after_ms: None,
                ..
            })
        ));
        assert!(matches!(
            classify(&response(413, &[], ""), Peer::Api),
            Some(Failure::Permanent { ref code, .. }) if code == "FILE_TOO_LARGE"
        ));
        assert!(matches!(
            classify(&response(409, &[], r#"{"code":"OBJECT_IN_USE","message":"x"}"#), Peer::Api),
            Some(Failure::Permanent { ref code, .. }) if code == "OBJECT_IN_USE"
        ));
        assert!(matches!(
            classify(&response(403, &[], "{}"), Peer::Api),
            Some(Failure::Permanent { ref code, .. }) if code == "HTTP_403"
        ));
    }

    #[test]
    fn museums_error_bodies_give_clear_codes_and_messages() {
        // museum's plain errors are `{}`, its middleware's `{"error": …}`.
        assert_eq!(
            classify(&response(404, &[], "{}"), Peer::Api),
            Some(Failure::Permanent {
                code: "HTTP_404".into(),
                why: "HTTP 404: no details".into()
            })
        );
        assert_eq!(
            classify(&response(400, &[], ""), Peer::Api),
            Some(Failure::Permanent {
                code: "HTTP_400".into(),
                why: "HTTP 400: no details".into()
            })
        );
        assert_eq!(
            classify(
                &response(429, &[], r#"{"error":"Rate limit breached, try later"}"#),
                Peer::Api
            ),
            Some(Failure::Transient {
                retry_after_ms: None,
                why: "HTTP 429: Rate limit breached, try later".into()
            })
        );
        assert!(matches!(
            classify(&response(409, &[], r#"{"code":"CONFLICT","message":"taken"}"#), Peer::Api),
            Some(Failure::Permanent { ref code, ref why }) if code == "CONFLICT" && why == "HTTP 409: taken"
        ));
        // 402 and 426 block whatever the body, at any call.
        for body in ["{}", "", r#"{"error":"x"}"#] {
            assert_eq!(
                classify(&response(402, &[], body), Peer::Api),
                Some(Failure::Blocked(BlockedReason::Payment))
            );
            assert_eq!(
                classify(&response(426, &[], body), Peer::Api),
                Some(Failure::Blocked(BlockedReason::Quota))
            );
        }
    }

    #[test]
    fn a_lost_object_is_looked_for_twice_before_the_upload_starts_again() {
        let missing = response(
            503,
            &[],
            r#"{"code":"OBJECT_SIZE_FETCH_FAILED","message":""}"#,
        );
        let first = classify_registration(&missing, None);
        let Some(Failure::Transient { ref why, .. }) = first else {
            panic!("the first look is a transient retry: {first:?}");
        };
        assert!(why.starts_with(OBJECT_SIZE_FETCH_FAILED), "{why}");
        // Another failure in between: the next 503 is a first look again.
        assert!(matches!(
            classify_registration(&missing, Some("HTTP 500: no details")),
            Some(Failure::Transient { .. })
        ));
        assert!(matches!(
            classify_registration(&missing, Some(why)),
            Some(Failure::UploadAgain {
                code: ItemErrorCode::UploadLost,
                ..
            })
        ));
        // Any other 503 stays transient, however often it comes.
        assert!(matches!(
            classify_registration(&response(503, &[], "{}"), Some(why)),
            Some(Failure::Transient { .. })
        ));
    }

    #[test]
    fn a_registration_refused_with_museums_plain_400_starts_the_upload_again() {
        assert!(matches!(
            classify_registration(&response(400, &[], "{}"), None),
            Some(Failure::UploadAgain {
                code: ItemErrorCode::UploadRejected,
                ..
            })
        ));
        // A refusal with a code says what is wrong: not a lost upload.
        assert!(matches!(
            classify_registration(
                &response(400, &[], r#"{"code":"INVALID_FIELD","message":"x"}"#),
                None
            ),
            Some(Failure::Permanent { ref code, .. }) if code == "INVALID_FIELD"
        ));
        assert_eq!(classify_registration(&response(200, &[], "{}"), None), None);
        assert_eq!(
            classify_registration(&response(402, &[], "{}"), None),
            Some(Failure::Blocked(BlockedReason::Payment))
        );
        assert!(matches!(
            classify_registration(&response(403, &[], "{}"), None),
            Some(Failure::Permanent { ref code, .. }) if code == "HTTP_403"
        ));
    }

    #[test]
    fn transport_errors() {
        assert_eq!(
            classify_transport(&TransportError::Offline("no route".into()), Peer::Api),
            Failure::Blocked(BlockedReason::Offline)
        );
        let reset = TransportError::Network("reset".into());
        assert!(matches!(
            classify_transport(&reset, Peer::Api),
            Failure::NoAnswer {
                code: ItemErrorCode::NoAnswer,
                ..
            }
        ));
        assert!(matches!(
            classify_transport(&reset, Peer::ObjectStore),
            Failure::NoAnswer {
                code: ItemErrorCode::StoreUnreachable,
                ..
            }
        ));
        assert_eq!(
            classify_transport(&TransportError::Aborted, Peer::ObjectStore),
            Failure::Interrupted
        );
    }
}
