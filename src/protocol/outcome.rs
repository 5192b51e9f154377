//! What an HTTP outcome means for the upload, in one place: the retry
//! policy and the queue's blocked state both follow from it.

use super::http::{HttpResponse, TransportError};

crate::queue::codec::unit_enum_record! {
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
    /// outage of a day must not fail the queue.
    NoAnswer { why: String },
    /// The store no longer holds what this upload needs: a presigned URL
    /// expired (403, `URL_EXPIRED`), or the multipart upload is gone (404
    /// `NoSuchUpload` from a lifecycle rule) or never became an object
    /// (`OBJECT_NOT_FOUND` from the API), both `UPLOAD_LOST`. Start the
    /// upload again with a new key and new URLs; the hash is kept.
    UploadAgain { code: &'static str, why: String },
    /// This item can never succeed as it is (413, other 4xx).
    Permanent { code: String, why: String },
    /// Nothing can succeed until the host acts: pause the queue.
    Blocked(BlockedReason),
    /// The run's deadline came or the host aborted: not the item's fault,
    /// so nothing is counted against it.
    Interrupted,
}

/// Item error codes of `Failure::UploadAgain`.
pub const URL_EXPIRED: &str = "URL_EXPIRED";
pub const UPLOAD_LOST: &str = "UPLOAD_LOST";

/// Classifies a response from the API (`store` false) or the object store.
pub fn classify(response: &HttpResponse, store: bool) -> Option<Failure> {
    let status = response.status;
    if (200..300).contains(&status) {
        return None;
    }
    let why = || {
        let text = String::from_utf8_lossy(&response.body);
        format!(
            "HTTP {status}: {}",
            text.chars().take(200).collect::<String>()
        )
    };
    Some(match status {
        401 if !store => Failure::Blocked(BlockedReason::Auth),
        402 => Failure::Blocked(BlockedReason::Payment),
        426 => Failure::Blocked(BlockedReason::Quota),
        403 if store => Failure::UploadAgain {
            code: URL_EXPIRED,
            why: "an upload URL expired; asking for new ones".into(),
        },
        404 if store && s3_code(response) == Some("NoSuchUpload") => Failure::UploadAgain {
            code: UPLOAD_LOST,
            why: "the store no longer has this upload; starting it again".into(),
        },
        400 if !store && api_code(response).as_deref() == Some("OBJECT_NOT_FOUND") => {
            Failure::UploadAgain {
                code: UPLOAD_LOST,
                why: "the server found nothing where the file was uploaded; starting it again"
                    .into(),
            }
        }
        408 | 425 | 429 | 500..=599 => Failure::Transient {
            retry_after_ms: response.header("retry-after").and_then(parse_retry_after),
            why: why(),
        },
        413 => Failure::Permanent {
            code: "FILE_TOO_LARGE".into(),
            why: why(),
        },
        _ => Failure::Permanent {
            code: api_code(response).unwrap_or_else(|| format!("HTTP_{status}")),
            why: why(),
        },
    })
}

pub fn classify_transport(err: &TransportError) -> Failure {
    match err {
        TransportError::Offline(_) => Failure::Blocked(BlockedReason::Offline),
        TransportError::Network(why) => Failure::NoAnswer { why: why.clone() },
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

/// The `code` of the reference server's JSON error body, if there is one.
fn api_code(response: &HttpResponse) -> Option<String> {
    let value = super::json::Json::parse(&response.body).ok()?;
    value.get("code")?.as_str().map(str::to_owned)
}

/// The `<Code>` of an S3 XML error body.
fn s3_code(response: &HttpResponse) -> Option<&str> {
    let text = std::str::from_utf8(&response.body).ok()?;
    let start = text.find("<Code>")? + "<Code>".len();
    let len = text[start..].find("</Code>")?;
    Some(&text[start..start + len])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(status: u16, headers: &[(&str, &str)], body: &str) -> HttpResponse {
        HttpResponse {
            status,
            headers: headers
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect(),
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn statuses_map_to_the_retry_policy() {
        assert_eq!(classify(&response(200, &[], ""), false), None);
        assert_eq!(
            classify(&response(401, &[], ""), false),
            Some(Failure::Blocked(BlockedReason::Auth))
        );
        assert_eq!(
            classify(&response(402, &[], ""), false),
            Some(Failure::Blocked(BlockedReason::Payment))
        );
        assert_eq!(
            classify(&response(426, &[], ""), false),
            Some(Failure::Blocked(BlockedReason::Quota))
        );
        assert!(matches!(
            classify(&response(403, &[], ""), true),
            Some(Failure::UploadAgain {
                code: URL_EXPIRED,
                ..
            })
        ));
        let no_such_upload =
            r#"<?xml version="1.0" encoding="UTF-8"?><Error><Code>NoSuchUpload</Code></Error>"#;
        assert!(matches!(
            classify(&response(404, &[], no_such_upload), true),
            Some(Failure::UploadAgain {
                code: UPLOAD_LOST,
                ..
            })
        ));
        assert!(matches!(
            classify(
                &response(404, &[], "<Error><Code>NoSuchBucket</Code></Error>"),
                true
            ),
            Some(Failure::Permanent { .. })
        ));
        assert!(matches!(
            classify(&response(404, &[], no_such_upload), false),
            Some(Failure::Permanent { .. })
        ));
        assert!(matches!(
            classify(
                &response(400, &[], r#"{"code":"OBJECT_NOT_FOUND","message":"x"}"#),
                false
            ),
            Some(Failure::UploadAgain {
                code: UPLOAD_LOST,
                ..
            })
        ));
        assert!(matches!(
            classify(&response(400, &[], r#"{"code":"SIZE_MISMATCH","message":"x"}"#), false),
            Some(Failure::Permanent { ref code, .. }) if code == "SIZE_MISMATCH"
        ));
        assert!(matches!(
            classify(&response(429, &[("Retry-After", "7")], ""), false),
            Some(Failure::Transient {
                retry_after_ms: Some(7000),
                ..
            })
        ));
        assert!(matches!(
            classify(&response(503, &[], ""), true),
            Some(Failure::Transient {
                retry_after_ms: None,
                ..
            })
        ));
        assert!(matches!(
            classify(&response(413, &[], ""), false),
            Some(Failure::Permanent { ref code, .. }) if code == "FILE_TOO_LARGE"
        ));
        assert!(matches!(
            classify(&response(409, &[], r#"{"code":"OBJECT_IN_USE","message":"x"}"#), false),
            Some(Failure::Permanent { ref code, .. }) if code == "OBJECT_IN_USE"
        ));
        assert!(matches!(
            classify(&response(403, &[], "{}"), false),
            Some(Failure::Permanent { ref code, .. }) if code == "HTTP_403"
        ));
    }

    #[test]
    fn transport_errors() {
        assert_eq!(
            classify_transport(&TransportError::Offline("no route".into())),
            Failure::Blocked(BlockedReason::Offline)
        );
        assert!(matches!(
            classify_transport(&TransportError::Network("reset".into())),
            Failure::NoAnswer { .. }
        ));
        assert_eq!(
            classify_transport(&TransportError::Aborted),
            Failure::Interrupted
        );
    }
}
