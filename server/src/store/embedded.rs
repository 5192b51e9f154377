//! The embedded S3-compatible store: `s3s-fs` behind SigV4 authentication,
//! wrapped to close the holes client tests would otherwise trust:
//!
//! * `s3s-fs` completes a multipart upload with bogus part ETags; here each
//!   ETag must equal the MD5 of the part that was stored.
//! * `s3s-fs` deletes the upload id before it checks part sizes, so a failed
//!   Complete loses the upload; here every check runs first, and the object
//!   is assembled here (`assemble`), from the parts' recorded MD5s, instead
//!   of by s3s-fs, which reads and hashes every part again.
//! * A missing part is a 500 in `s3s-fs`; here it is `InvalidPart` (400).
//! * An upload id the store does not know (aborted, completed) is
//!   `AccessDenied` in `s3s-fs` (and ListParts lists no parts); here it is
//!   `NoSuchUpload` (404), as on S3.
//! * Completing an upload again (a retry after a lost response) answers
//!   success with the same ETag, as S3 does, instead of `NoSuchUpload`.
//! * A Complete runs to its end even when the client goes away, and the
//!   upload id goes only after the object and the record of its completion
//!   are written: `s3s-fs` deletes it first, so a request cut off in
//!   between (a page reloaded) used to lose the upload for good.
//! * The objects of a registered file are immutable: every way to write
//!   its key — a PUT, a CreateMultipartUpload, an UploadPart or a Complete
//!   of an upload made before the registration — and a DELETE is refused
//!   (403 `AccessDenied`, as an expired URL would be). Presigned URLs live
//!   for days, so a device that lost power after `POST /files` and replays
//!   an old URL cannot overwrite a file's bytes, nor a client store more
//!   than the quota check at registration saw. A registration holds its
//!   keys from its first HEAD to its commit (a write meanwhile is refused)
//!   and is itself refused while a write to one of them is in flight (see
//!   `keys`), so the sizes it checks are kept. museum has no such guard on a real
//!   bucket; it detects the overwrite only at the next `POST /files` and
//!   reverts the newest object version (`onExistingObjectsReplaced`,
//!   `pkg/controller/file.go`).
//! * The key of an upload the cleanup retired as abandoned refuses writes
//!   the same way: its URLs may still be unexpired, and an object written
//!   through them now would never be registered nor removed.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use axum::http::{Method, StatusCode, header};
use axum::response::Response;
use md5::{Digest, Md5};
use s3s::auth::SimpleAuth;
use s3s::dto::{
    AbortMultipartUploadInput, AbortMultipartUploadOutput, CompleteMultipartUploadInput,
    CompleteMultipartUploadOutput, CreateBucketInput, CreateBucketOutput,
    CreateMultipartUploadInput, CreateMultipartUploadOutput, DeleteObjectInput, DeleteObjectOutput,
    ETag, GetObjectInput, GetObjectOutput, HeadBucketInput, HeadBucketOutput, HeadObjectInput,
    HeadObjectOutput, ListPartsInput, ListPartsOutput, PutObjectInput, PutObjectOutput,
    UploadPartInput, UploadPartOutput,
};
use s3s::service::S3ServiceBuilder;
use s3s::{S3, S3Request, S3Response, S3Result, s3_error};
use serde::{Deserialize, Serialize};
use tokio::io::AsyncReadExt;

use super::assemble::{self, Upload};
use super::keys::{KeyGuard, KeyLocks};
use crate::config::S3Cors;
use crate::db::Db;
use crate::error::ApiError;
use crate::faults::{Faults, Side};

/// The S3 port: SigV4-checked `CheckedStore` behind fault injection and CORS
/// (as `cors` says).
pub fn router(
    root: &Path,
    access_key: &str,
    secret_key: &str,
    faults: Arc<Faults>,
    registered: Db,
    locks: KeyLocks,
    cors: S3Cors,
) -> std::io::Result<axum::Router> {
    let mut builder = S3ServiceBuilder::new(CheckedStore::new(root, registered, locks)?);
    builder.set_auth(SimpleAuth::from_single(
        access_key.to_owned(),
        secret_key.to_owned(),
    ));
    let s3 = builder.build();
    let service = tower::service_fn(move |req: axum::extract::Request| {
        let mut s3 = s3.clone();
        async move {
            let response = match tower::Service::call(&mut s3, req).await {
                Ok(response) => response.map(axum::body::Body::new),
                Err(err) => {
                    tracing::error!(?err, "S3 service error");
                    axum::http::Response::builder()
                        .status(500)
                        .body(axum::body::Body::empty())
                        .unwrap_or_default()
                }
            };
            Ok::<_, std::convert::Infallible>(response)
        }
    });
    let router =
        axum::Router::new()
            .fallback_service(service)
            .layer(axum::middleware::from_fn_with_state(
                (faults, Side::S3),
                crate::faults::inject,
            ));
    let methods = [
        Method::GET,
        Method::HEAD,
        Method::PUT,
        Method::POST,
        Method::DELETE,
    ];
    let router = match cors {
        S3Cors::Full => router.layer(crate::cors(&methods, true)),
        S3Cors::NoEtag => router.layer(crate::cors(&methods, false)),
        S3Cors::None => router.layer(axum::middleware::from_fn(refuse_preflight)),
    };
    Ok(router.layer(tower_http::trace::TraceLayer::new_for_http()))
}

/// A bucket without CORS rules: S3 answers a preflight 403 with no
/// `Access-Control-*` header, and other requests without them either.
async fn refuse_preflight(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    if req.method() != Method::OPTIONS {
        return next.run(req).await;
    }
    Response::builder()
        .status(StatusCode::FORBIDDEN)
        .header(header::CONTENT_TYPE, "application/xml")
        .body(axum::body::Body::from(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>AccessForbidden</Code>\
             <Message>CORSResponse: CORS is not enabled for this bucket.</Message></Error>",
        ))
        .unwrap_or_default()
}

/// Parts other than the last must be at least this large, as on AWS S3.
const MIN_PART_SIZE: u64 = 5 * 1024 * 1024;

/// Cheap to clone: a Complete takes a clone into its own task.
#[derive(Debug, Clone)]
pub struct CheckedStore {
    inner: Arc<s3s_fs::FileSystem>,
    root: PathBuf,
    completing: Arc<Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>>,
    /// The API's records: object keys of registered files refuse writes.
    registered: Db,
    /// Writes in flight, and keys a registration or the cleanup holds.
    locks: KeyLocks,
}

/// What a finished Complete leaves behind, so a repeat can be answered.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct Completion {
    bucket: String,
    key: String,
    part_etags: Vec<String>,
    etag: String,
}

impl CheckedStore {
    pub fn new(root: &Path, registered: Db, locks: KeyLocks) -> std::io::Result<Self> {
        std::fs::create_dir_all(root)?;
        let inner =
            s3s_fs::FileSystem::new(root).map_err(|e| std::io::Error::other(format!("{e:?}")))?;
        Ok(Self {
            inner: Arc::new(inner),
            root: root.to_path_buf(),
            completing: Arc::default(),
            registered,
            locks,
        })
    }

    /// Starts a write to `key`, which holds until the guard is dropped:
    /// refused while a registration or the cleanup holds the key, once a
    /// registered file uses it, and (unless `retired_ok`, for the cleanup's
    /// own DELETE) once the cleanup retired it as abandoned.
    async fn start_write(&self, key: &str, retired_ok: bool) -> S3Result<KeyGuard> {
        let guard = self.locks.write(key).ok_or_else(|| {
            s3_error!(
                AccessDenied,
                "this object is being registered or removed and cannot be written now"
            )
        })?;
        let (registered, retired) = self.standing(key).await?;
        if registered {
            return Err(s3_error!(
                AccessDenied,
                "this object belongs to a registered file and cannot be replaced"
            ));
        }
        if retired && !retired_ok {
            return Err(s3_error!(
                AccessDenied,
                "this upload was abandoned and removed; ask for new upload URLs"
            ));
        }
        Ok(guard)
    }

    /// Whether a registered file (trashed ones included: their objects
    /// stay) uses `key` as its file or thumbnail object, and whether the
    /// cleanup retired `key`.
    async fn standing(&self, key: &str) -> S3Result<(bool, bool)> {
        let key = key.to_owned();
        self.registered
            .read(move |conn| {
                conn.query_row(
                    "SELECT EXISTS (SELECT 1 FROM files WHERE file_object_key = ?1 OR thumb_object_key = ?1),
                            EXISTS (SELECT 1 FROM objects WHERE object_key = ?1 AND retired_at IS NOT NULL)",
                    [key],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .map_err(ApiError::internal)
            })
            .await
            .map_err(|e| s3_error!(InternalError, "{}", e.message))
    }

    fn completion_path(&self, upload_id: &str) -> PathBuf {
        self.root.join(format!(".ferry-completed-{upload_id}.json"))
    }

    fn lock_for(&self, upload_id: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut map = self
            .completing
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        map.entry(upload_id.to_owned()).or_default().clone()
    }

    /// Whether the upload id names a multipart upload still in progress.
    fn upload_in_progress(&self, upload_id: &str) -> bool {
        uuid_like(upload_id).is_some()
            && self.root.join(assemble::upload_record(upload_id)).exists()
    }

    fn part_path(&self, upload_id: &str, number: i32) -> PathBuf {
        self.root
            .join(format!("{}{number}", assemble::part_prefix(upload_id)))
    }

    fn part_etag_path(&self, upload_id: &str, number: i32) -> PathBuf {
        self.root
            .join(format!("{}{number}", assemble::part_etag_prefix(upload_id)))
    }

    /// The MD5 and size of a stored part: the MD5 recorded when the part was
    /// uploaded if there is one, else computed by reading the part.
    async fn part_digest(&self, upload_id: &str, number: i32) -> S3Result<Option<([u8; 16], u64)>> {
        let Ok(meta) = tokio::fs::metadata(self.part_path(upload_id, number)).await else {
            return Ok(None);
        };
        if let Ok(recorded) =
            tokio::fs::read_to_string(self.part_etag_path(upload_id, number)).await
        {
            let mut digest = [0u8; 16];
            if hex::decode_to_slice(recorded.trim_matches('"'), &mut digest).is_ok() {
                return Ok(Some((digest, meta.len())));
            }
        }
        let Ok(mut file) = tokio::fs::File::open(self.part_path(upload_id, number)).await else {
            return Ok(None);
        };
        let mut md5 = Md5::new();
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let n = file
                .read(&mut buf)
                .await
                .map_err(|e| s3_error!(e, InternalError))?;
            if n == 0 {
                break;
            }
            md5.update(&buf[..n]);
        }
        Ok(Some((md5.finalize().into(), meta.len())))
    }

    /// Checks a Complete request against the stored parts and returns the
    /// MD5 of each part, without changing anything.
    async fn validate_parts(
        &self,
        upload_id: &str,
        etags: &[(i32, String)],
    ) -> S3Result<Vec<[u8; 16]>> {
        if etags.is_empty() {
            return Err(s3_error!(InvalidPart, "You must specify at least one part"));
        }
        let mut digests = Vec::with_capacity(etags.len());
        for (i, (number, etag)) in etags.iter().enumerate() {
            if usize::try_from(*number).ok() != Some(i + 1) {
                return Err(s3_error!(
                    InvalidPartOrder,
                    "parts must be listed as 1, 2, 3, … in ascending order"
                ));
            }
            let Some((digest, size)) = self.part_digest(upload_id, *number).await? else {
                return Err(s3_error!(InvalidPart, "part {number} was never uploaded"));
            };
            if hex::encode(digest) != *etag {
                return Err(s3_error!(
                    InvalidPart,
                    "the ETag of part {number} does not match the uploaded part"
                ));
            }
            if i + 1 < etags.len() && size < MIN_PART_SIZE {
                return Err(s3_error!(
                    EntityTooSmall,
                    "part {number} is {size} bytes; all parts but the last must be at least 5 MiB"
                ));
            }
            digests.push(digest);
        }
        Ok(digests)
    }
}

fn requested_etags(input: &CompleteMultipartUploadInput) -> S3Result<Vec<(i32, String)>> {
    let parts = input
        .multipart_upload
        .as_ref()
        .and_then(|m| m.parts.as_ref())
        .ok_or_else(|| s3_error!(InvalidPart, "You must specify at least one part"))?;
    parts
        .iter()
        .map(|p| {
            let number = p
                .part_number
                .ok_or_else(|| s3_error!(InvalidPart, "a part has no PartNumber"))?;
            let etag = p
                .e_tag
                .as_ref()
                .map(|e: &ETag| e.value().trim_matches('"').to_ascii_lowercase())
                .ok_or_else(|| s3_error!(InvalidPart, "part {number} has no ETag"))?;
            Ok((number, etag))
        })
        .collect()
}

// Everything but Complete goes straight to s3s-fs.
#[async_trait::async_trait]
impl S3 for CheckedStore {
    async fn create_bucket(
        &self,
        req: S3Request<CreateBucketInput>,
    ) -> S3Result<S3Response<CreateBucketOutput>> {
        self.inner.create_bucket(req).await
    }

    async fn head_bucket(
        &self,
        req: S3Request<HeadBucketInput>,
    ) -> S3Result<S3Response<HeadBucketOutput>> {
        self.inner.head_bucket(req).await
    }

    async fn put_object(
        &self,
        req: S3Request<PutObjectInput>,
    ) -> S3Result<S3Response<PutObjectOutput>> {
        let _writing = self.start_write(&req.input.key, false).await?;
        self.inner.put_object(req).await
    }

    async fn get_object(
        &self,
        req: S3Request<GetObjectInput>,
    ) -> S3Result<S3Response<GetObjectOutput>> {
        self.inner.get_object(req).await
    }

    async fn head_object(
        &self,
        req: S3Request<HeadObjectInput>,
    ) -> S3Result<S3Response<HeadObjectOutput>> {
        self.inner.head_object(req).await
    }

    async fn delete_object(
        &self,
        req: S3Request<DeleteObjectInput>,
    ) -> S3Result<S3Response<DeleteObjectOutput>> {
        let _writing = self.start_write(&req.input.key, true).await?;
        self.inner.delete_object(req).await
    }

    async fn create_multipart_upload(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        let _writing = self.start_write(&req.input.key, false).await?;
        self.inner.create_multipart_upload(req).await
    }

    async fn upload_part(
        &self,
        req: S3Request<UploadPartInput>,
    ) -> S3Result<S3Response<UploadPartOutput>> {
        let (upload_id, number) = (req.input.upload_id.clone(), req.input.part_number);
        if !self.upload_in_progress(&upload_id) {
            return Err(s3_error!(NoSuchUpload));
        }
        let _writing = self.start_write(&req.input.key, false).await?;
        let response = self.inner.upload_part(req).await?;
        // Remember the part's MD5 so Complete need not read the part twice.
        // Written after the part: a crash in between leaves a stale record,
        // which Complete refuses (InvalidPart) until the part is re-sent.
        if let (Some(etag), Some(id)) = (&response.output.e_tag, uuid_like(&upload_id)) {
            let _ = tokio::fs::write(self.part_etag_path(id, number), etag.value()).await;
        }
        Ok(response)
    }

    async fn list_parts(
        &self,
        req: S3Request<ListPartsInput>,
    ) -> S3Result<S3Response<ListPartsOutput>> {
        // s3s-fs lists no parts for an upload it does not know.
        if !self.upload_in_progress(&req.input.upload_id) {
            return Err(s3_error!(NoSuchUpload));
        }
        self.inner.list_parts(req).await
    }

    async fn abort_multipart_upload(
        &self,
        req: S3Request<AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        if !self.upload_in_progress(&req.input.upload_id) {
            return Err(s3_error!(NoSuchUpload));
        }
        self.inner.abort_multipart_upload(req).await
    }

    async fn complete_multipart_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        // Dropping this future (the client went away) leaves the task running.
        let store = self.clone();
        tokio::spawn(async move { store.complete(req).await })
            .await
            .map_err(|e| s3_error!(e, InternalError))?
    }
}

impl CheckedStore {
    async fn complete(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        let upload_id = req.input.upload_id.clone();
        if uuid_like(&upload_id).is_none() {
            return Err(s3_error!(NoSuchUpload));
        }
        let etags = requested_etags(&req.input)?;
        let lock = self.lock_for(&upload_id);
        let _serialised = lock.lock().await;

        let completion_path = self.completion_path(&upload_id);
        if let Ok(text) = tokio::fs::read_to_string(&completion_path).await {
            let done: Completion =
                serde_json::from_str(&text).map_err(|e| s3_error!(e, InternalError))?;
            let same = done.bucket == req.input.bucket
                && done.key == req.input.key
                && done.part_etags == etags.iter().map(|(_, e)| e.clone()).collect::<Vec<_>>();
            if !same {
                return Err(s3_error!(
                    InvalidPart,
                    "this upload was already completed with other parts"
                ));
            }
            return Ok(S3Response::new(CompleteMultipartUploadOutput {
                bucket: Some(done.bucket),
                key: Some(done.key),
                e_tag: Some(ETag::Strong(done.etag)),
                ..Default::default()
            }));
        }
        if !self.upload_in_progress(&upload_id) {
            return Err(s3_error!(NoSuchUpload));
        }
        // A repeat of a finished Complete (above) writes nothing and may be
        // answered even once the file is registered; a first one may not.
        let _writing = self.start_write(&req.input.key, false).await?;

        let digests = self.validate_parts(&upload_id, &etags).await?;
        if req.input.if_match.is_some() || req.input.if_none_match.is_some() {
            // Ferry never sends them: refused rather than half-honoured.
            return Err(s3_error!(
                NotImplemented,
                "conditional Complete is not supported here"
            ));
        }
        let mut whole = Md5::new();
        for d in &digests {
            whole.update(d);
        }
        let completion = Completion {
            bucket: req.input.bucket,
            key: req.input.key,
            part_etags: etags.into_iter().map(|(_, e)| e).collect(),
            etag: format!("{}-{}", hex::encode(whole.finalize()), digests.len()),
        };
        let upload = Upload {
            root: self.root.clone(),
            upload_id: upload_id.clone(),
            bucket: completion.bucket.clone(),
            key: completion.key.clone(),
            parts: digests.len(),
        };
        let etag = completion.etag.clone();
        let upload = tokio::task::spawn_blocking(move || upload.assemble(&etag).map(|()| upload))
            .await
            .map_err(|e| s3_error!(e, InternalError))?
            .map_err(|e| s3_error!(e, InternalError))?;

        let json = serde_json::to_vec(&completion).map_err(|e| s3_error!(e, InternalError))?;
        let tmp = completion_path.with_extension("tmp");
        tokio::fs::write(&tmp, json)
            .await
            .map_err(|e| s3_error!(e, InternalError))?;
        tokio::fs::rename(&tmp, &completion_path)
            .await
            .map_err(|e| s3_error!(e, InternalError))?;
        let _ = tokio::task::spawn_blocking(move || upload.remove_upload()).await;
        Ok(S3Response::new(CompleteMultipartUploadOutput {
            bucket: Some(completion.bucket),
            key: Some(completion.key),
            e_tag: Some(ETag::Strong(completion.etag)),
            ..Default::default()
        }))
    }
}

/// Upload ids are UUIDs; anything else must not reach a file path.
fn uuid_like(id: &str) -> Option<&str> {
    let ok = id.len() == 36 && id.chars().all(|c| c.is_ascii_hexdigit() || c == '-');
    ok.then_some(id)
}
