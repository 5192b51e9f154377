//! Object storage through the S3 protocol: presigned URLs for clients
//! (uploads, and the downloads the API redirects to), and the few calls the
//! API makes itself (create a multipart upload, HEAD an object to check its
//! size). The same code talks to the embedded store and to any external S3
//! endpoint.

mod assemble;
pub mod embedded;
pub mod keys;

use std::time::Duration;

use rusty_s3::actions::{CreateMultipartUpload, S3Action};
use rusty_s3::{Bucket, Credentials, UrlStyle};
use url::Url;

#[derive(Debug, Clone)]
pub struct ObjectStore {
    bucket: Bucket,
    credentials: Credentials,
    http: reqwest::Client,
    expiry: Duration,
}

/// A failed call to the object store.
#[derive(Debug)]
pub struct StoreError(pub String);

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<reqwest::Error> for StoreError {
    fn from(err: reqwest::Error) -> Self {
        Self(err.to_string())
    }
}

/// Requests the API signs for its own use expire quickly; only the URLs
/// handed to clients get the configured lifetime.
const INTERNAL_EXPIRY: Duration = Duration::from_secs(300);

impl ObjectStore {
    pub fn new(
        endpoint: Url,
        virtual_host: bool,
        bucket: &str,
        region: &str,
        credentials: Credentials,
        expiry: Duration,
    ) -> Result<Self, StoreError> {
        let style = if virtual_host {
            UrlStyle::VirtualHost
        } else {
            UrlStyle::Path
        };
        let bucket = Bucket::new(endpoint, style, bucket.to_owned(), region.to_owned())
            .map_err(|e| StoreError(format!("bad S3 endpoint or bucket: {e}")))?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(600))
            .build()?;
        Ok(Self {
            bucket,
            credentials,
            http,
            expiry,
        })
    }

    pub fn presign_put(&self, key: &str) -> Url {
        self.bucket
            .put_object(Some(&self.credentials), key)
            .sign(self.expiry)
    }

    /// A presigned GET for a download, as museum's `getHotDcSignedUrl`
    /// makes them: served as an attachment of type `application/octet-stream`.
    pub fn presign_get(&self, key: &str) -> Url {
        let mut action = self.bucket.get_object(Some(&self.credentials), key);
        action
            .query_mut()
            .insert("response-content-disposition", "attachment");
        action
            .query_mut()
            .insert("response-content-type", "application/octet-stream");
        action.sign(self.expiry)
    }

    pub fn presign_part(&self, key: &str, upload_id: &str, part_number: u16) -> Url {
        self.bucket
            .upload_part(Some(&self.credentials), key, part_number, upload_id)
            .sign(self.expiry)
    }

    pub fn presign_complete(&self, key: &str, upload_id: &str) -> Url {
        self.bucket
            .complete_multipart_upload(Some(&self.credentials), key, upload_id, std::iter::empty())
            .sign(self.expiry)
    }

    pub async fn create_multipart_upload(&self, key: &str) -> Result<String, StoreError> {
        let url = self
            .bucket
            .create_multipart_upload(Some(&self.credentials), key)
            .sign(INTERNAL_EXPIRY);
        let response = self.http.post(url).send().await?;
        let status = response.status();
        let body = response.text().await?;
        if !status.is_success() {
            return Err(StoreError(format!(
                "CreateMultipartUpload: {status}: {body}"
            )));
        }
        let parsed = CreateMultipartUpload::parse_response(&body)
            .map_err(|e| StoreError(format!("CreateMultipartUpload response: {e}")))?;
        Ok(parsed.upload_id().to_owned())
    }

    /// Aborts a multipart upload, as a bucket's lifecycle rule does to one
    /// left unfinished. `false` when the store no longer knows the upload
    /// (already completed or aborted).
    pub async fn abort_multipart_upload(
        &self,
        key: &str,
        upload_id: &str,
    ) -> Result<bool, StoreError> {
        let url = self
            .bucket
            .abort_multipart_upload(Some(&self.credentials), key, upload_id)
            .sign(INTERNAL_EXPIRY);
        let response = self.http.delete(url).send().await?;
        match response.status() {
            s if s.is_success() => Ok(true),
            reqwest::StatusCode::NOT_FOUND => Ok(false),
            s => Err(StoreError(format!(
                "AbortMultipartUpload: {s}: {}",
                response.text().await.unwrap_or_default()
            ))),
        }
    }

    /// Deletes an object; one already gone is no error.
    pub async fn delete_object(&self, key: &str) -> Result<(), StoreError> {
        let url = self
            .bucket
            .delete_object(Some(&self.credentials), key)
            .sign(INTERNAL_EXPIRY);
        let response = self.http.delete(url).send().await?;
        match response.status() {
            s if s.is_success() || s == reqwest::StatusCode::NOT_FOUND => Ok(()),
            s => Err(StoreError(format!(
                "DeleteObject: {s}: {}",
                response.text().await.unwrap_or_default()
            ))),
        }
    }

    /// A signed HeadObject for `key`, answered as it is.
    async fn head_object(&self, key: &str) -> Result<reqwest::Response, StoreError> {
        let url = self
            .bucket
            .head_object(Some(&self.credentials), key)
            .sign(INTERNAL_EXPIRY);
        Ok(self.http.head(url).send().await?)
    }

    /// When the object was last written (microseconds since the epoch), or
    /// `None` when it does not exist.
    pub async fn last_modified(&self, key: &str) -> Result<Option<i64>, StoreError> {
        let response = self.head_object(key).await?;
        match response.status() {
            s if s.is_success() => {
                let header = response
                    .headers()
                    .get(reqwest::header::LAST_MODIFIED)
                    .and_then(|v| v.to_str().ok())
                    .ok_or_else(|| {
                        StoreError("HeadObject answered without Last-Modified".into())
                    })?;
                http_date_micros(header)
                    .map(Some)
                    .ok_or_else(|| StoreError(format!("HeadObject: bad Last-Modified {header:?}")))
            }
            reqwest::StatusCode::NOT_FOUND => Ok(None),
            s => Err(StoreError(format!("HeadObject: {s}"))),
        }
    }

    /// When a part of a multipart upload was last uploaded (microseconds
    /// since the epoch; `Some(None)` for an upload without parts), or
    /// `None` when the store no longer knows the upload (completed or
    /// aborted).
    pub async fn last_part_uploaded(
        &self,
        key: &str,
        upload_id: &str,
    ) -> Result<Option<Option<i64>>, StoreError> {
        let mut latest = None;
        let mut marker = None;
        loop {
            let mut action = self
                .bucket
                .list_parts(Some(&self.credentials), key, upload_id);
            if let Some(marker) = marker {
                action.set_part_number_marker(marker);
            }
            let response = self.http.get(action.sign(INTERNAL_EXPIRY)).send().await?;
            let status = response.status();
            let body = response.text().await?;
            if status == reqwest::StatusCode::NOT_FOUND && body.contains("NoSuchUpload") {
                return Ok(None);
            }
            if !status.is_success() {
                return Err(StoreError(format!("ListParts: {status}: {body}")));
            }
            // Read by hand: some stores (s3s-fs) list parts without ETags,
            // which rusty-s3's parser requires.
            for text in xml_texts(&body, "LastModified") {
                let at = iso8601_micros(text)
                    .ok_or_else(|| StoreError(format!("ListParts: bad LastModified {text:?}")))?;
                latest = latest.max(Some(at));
            }
            let truncated = xml_texts(&body, "IsTruncated").first() == Some(&"true");
            marker = xml_texts(&body, "NextPartNumberMarker")
                .first()
                .and_then(|m| m.parse::<u16>().ok());
            if !truncated || marker.is_none() {
                return Ok(Some(latest));
            }
        }
    }

    /// The object's size, or `None` when it does not exist.
    pub async fn head(&self, key: &str) -> Result<Option<u64>, StoreError> {
        let response = self.head_object(key).await?;
        match response.status() {
            // Not `content_length()`: for HEAD that is the empty body's length.
            s if s.is_success() => response
                .headers()
                .get(reqwest::header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok()?.parse().ok())
                .map(Some)
                .ok_or_else(|| StoreError("HeadObject answered without Content-Length".into())),
            reqwest::StatusCode::NOT_FOUND => Ok(None),
            s => Err(StoreError(format!("HeadObject: {s}"))),
        }
    }

    /// Creates the bucket if it is missing (an external store may forbid
    /// creating buckets, so a bucket that already exists is fine).
    pub async fn ensure_bucket(&self) -> Result<(), StoreError> {
        let head = self
            .bucket
            .head_bucket(Some(&self.credentials))
            .sign(INTERNAL_EXPIRY);
        if self.http.head(head).send().await?.status().is_success() {
            return Ok(());
        }
        let create = self
            .bucket
            .create_bucket(&self.credentials)
            .sign(INTERNAL_EXPIRY);
        let response = self.http.put(create).send().await?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(StoreError(format!(
                "cannot create bucket {}: {}",
                self.bucket.name(),
                response.status()
            )))
        }
    }
}

/// The text of every `<tag>…</tag>` in an XML answer.
fn xml_texts<'a>(xml: &'a str, tag: &str) -> Vec<&'a str> {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    xml.split(open.as_str())
        .skip(1)
        .filter_map(|rest| rest.split_once(close.as_str()).map(|(text, _)| text.trim()))
        .collect()
}

/// An HTTP date (`Wed, 21 Oct 2015 07:28:00 GMT`) in microseconds since the
/// epoch.
fn http_date_micros(text: &str) -> Option<i64> {
    jiff::fmt::rfc2822::DateTimeParser::new()
        .parse_timestamp(text)
        .ok()
        .map(|t| t.as_microsecond())
}

/// An S3 XML timestamp (`2015-10-21T07:28:00.000Z`) in microseconds since
/// the epoch.
fn iso8601_micros(text: &str) -> Option<i64> {
    text.parse::<jiff::Timestamp>()
        .ok()
        .map(|t| t.as_microsecond())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_of_s3_answers_are_read() {
        let micros = 1_445_412_480 * 1_000_000;
        assert_eq!(
            http_date_micros("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(micros)
        );
        assert_eq!(iso8601_micros("2015-10-21T07:28:00.000Z"), Some(micros));
        assert_eq!(
            iso8601_micros("2015-10-21T07:28:00.25Z"),
            Some(micros + 250_000)
        );
        assert_eq!(http_date_micros("yesterday"), None);
        assert_eq!(iso8601_micros("2015-13-21T07:28:00Z"), None);
    }

    #[test]
    fn xml_texts_are_found_in_order() {
        let xml = "<ListPartsResult><IsTruncated>false</IsTruncated>\
            <Part><LastModified>a</LastModified></Part><Part><LastModified> b </LastModified></Part>\
            </ListPartsResult>";
        assert_eq!(xml_texts(xml, "LastModified"), ["a", "b"]);
        assert_eq!(xml_texts(xml, "IsTruncated"), ["false"]);
        assert!(xml_texts(xml, "NextPartNumberMarker").is_empty());
    }
}
