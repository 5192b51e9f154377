//! A real server on ephemeral loopback ports and a client that speaks its
//! API the way Ferry does: presigned PUTs, multipart parts, Complete XML.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::cast_possible_truncation
)]

use std::path::PathBuf;

use ferry_server::{Config, Running};
use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};

pub const MIB: usize = 1024 * 1024;

pub struct TestServer {
    pub running: Running,
    pub client: Client,
    pub token: String,
    pub dir: tempfile::TempDir,
}

/// A test server's configuration: museum's behaviour, but the pauses
/// between the HEADs of a missing object cut short (tests of that timing
/// set it back).
pub fn config(dir: &tempfile::TempDir) -> Config {
    let mut config = Config::for_tests(dir.path());
    config.object_check_retry_ms = 10;
    config
}

impl TestServer {
    pub async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let config = config(&dir);
        Self::start_with(dir, config).await
    }

    /// A server with `--strict`.
    pub async fn start_strict() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut config = config(&dir);
        config.strict = true;
        Self::start_with(dir, config).await
    }

    pub async fn start_with(dir: tempfile::TempDir, config: Config) -> Self {
        let running = ferry_server::start(config).await.expect("server starts");
        let token = running.token.clone();
        Self {
            running,
            client: Client::new(),
            token,
            dir,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.running.api_url())
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self
            .client
            .request(method, self.url(path))
            .header("X-Auth-Token", &self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(body)).await
    }

    pub async fn create_collection(&self) -> i64 {
        let (status, body) = self
            .post(
                "/collections",
                json!({
                    "encryptedKey": b64(&[1; 48]), "keyDecryptionNonce": b64(&[2; 24]),
                    "encryptedName": b64(b"sealed album name"), "nameDecryptionNonce": b64(&[3; 24]),
                    "type": "album",
                }),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["collection"]["id"].as_i64().unwrap()
    }

    /// Uploads through a presigned single PUT; returns the object key.
    pub async fn upload_single(&self, bytes: &[u8]) -> String {
        let (status, body) = self.get("/files/upload-urls?count=1").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let entry = &body["urls"][0];
        let response = self
            .client
            .put(entry["url"].as_str().unwrap())
            .body(bytes.to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        entry["objectKey"].as_str().unwrap().to_owned()
    }

    /// Asks for multipart URLs for `parts` parts.
    pub async fn multipart_urls(&self, parts: usize) -> Value {
        let (status, body) = self
            .get(&format!("/files/multipart-upload-urls?count={parts}"))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["urls"].clone()
    }

    /// Puts `bytes` in parts of `part_size` to the part URLs of `urls`;
    /// returns their ETags.
    pub async fn put_parts(&self, urls: &Value, bytes: &[u8], part_size: usize) -> Vec<String> {
        let mut etags = Vec::new();
        for (part, url) in bytes
            .chunks(part_size)
            .zip(urls["partURLs"].as_array().unwrap())
        {
            etags.push(put_part(&self.client, url.as_str().unwrap(), part).await);
        }
        etags
    }

    /// Completes the multipart upload of `urls` with the parts of `etags`.
    pub async fn complete_upload(&self, urls: &Value, etags: &[String]) -> (StatusCode, String) {
        complete(&self.client, urls["completeURL"].as_str().unwrap(), etags).await
    }

    /// Uploads every part and completes; returns the object key.
    pub async fn upload_multipart(&self, bytes: &[u8], part_size: usize) -> String {
        let urls = self.multipart_urls(bytes.len().div_ceil(part_size)).await;
        let etags = self.put_parts(&urls, bytes, part_size).await;
        let response = self.complete_upload(&urls, &etags).await;
        assert_eq!(response.0, StatusCode::OK, "{}", response.1);
        urls["objectKey"].as_str().unwrap().to_owned()
    }

    /// `POST /files` for objects already uploaded.
    pub async fn create_file(
        &self,
        collection: i64,
        file: (&str, usize),
        thumb: (&str, usize),
    ) -> (StatusCode, Value) {
        self.post("/files", file_body(collection, file, thumb))
            .await
    }

    /// The bytes `GET /files/download/{id}` (or `preview`) returns.
    pub async fn download(&self, kind: &str, id: &Value) -> Vec<u8> {
        let response = self
            .client
            .get(self.url(&format!("/files/{kind}/{id}")))
            .header("X-Auth-Token", &self.token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        response.bytes().await.unwrap().to_vec()
    }

    /// Everything under the data directory with its size, for "nothing
    /// changed on disk" checks.
    pub fn disk_snapshot(&self) -> Vec<(String, u64)> {
        let mut out = Vec::new();
        let root = self.dir.path().join("objects");
        let mut stack = vec![root.clone()];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let entry = entry.unwrap();
                let path = entry.path();
                if path.is_dir() {
                    stack.push(path);
                } else {
                    let rel = path.strip_prefix(&root).unwrap().display().to_string();
                    out.push((rel, entry.metadata().unwrap().len()));
                }
            }
        }
        out.sort();
        out
    }
}

pub fn file_body(collection: i64, file: (&str, usize), thumb: (&str, usize)) -> Value {
    json!({
        "collectionID": collection,
        "encryptedKey": b64(&[4; 48]),
        "keyDecryptionNonce": b64(&[5; 24]),
        "file": { "objectKey": file.0, "decryptionHeader": b64(&[6; 24]), "size": file.1 },
        "thumbnail": { "objectKey": thumb.0, "decryptionHeader": b64(&[7; 24]), "size": thumb.1 },
        "metadata": { "encryptedData": b64(b"sealed metadata"), "decryptionHeader": b64(&[8; 24]) },
    })
}

pub async fn put_part(client: &Client, url: &str, bytes: &[u8]) -> String {
    let response = client.put(url).body(bytes.to_vec()).send().await.unwrap();
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "{}",
        response.text().await.unwrap()
    );
    response.headers()["etag"].to_str().unwrap().to_owned()
}

pub fn complete_xml(etags: &[String]) -> String {
    let parts: String = etags
        .iter()
        .enumerate()
        .map(|(i, etag)| {
            format!(
                "<Part><PartNumber>{}</PartNumber><ETag>{etag}</ETag></Part>",
                i + 1
            )
        })
        .collect();
    format!("<CompleteMultipartUpload>{parts}</CompleteMultipartUpload>")
}

pub async fn complete(client: &Client, url: &str, etags: &[String]) -> (StatusCode, String) {
    let response = client
        .post(url)
        .header("Content-Type", "text/xml")
        .body(complete_xml(etags))
        .send()
        .await
        .unwrap();
    (response.status(), response.text().await.unwrap())
}

pub fn b64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Deterministic bytes that differ per seed.
pub fn bytes(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| {
            (i as u8)
                .wrapping_mul(31)
                .wrapping_add(seed)
                .rotate_left((i % 7) as u32)
        })
        .collect()
}

impl TestServer {
    /// A server with the admin API (`--admin`).
    pub async fn start_admin() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut config = config(&dir);
        config.admin = true;
        Self::start_with(dir, config).await
    }

    /// `GET /admin/requests`.
    pub async fn requests(&self) -> Value {
        let (status, body) = self.get("/admin/requests").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }

    /// Polls `GET /admin/requests` until `done` holds (10 s at most).
    pub async fn wait_for_requests(&self, what: &str, done: impl Fn(&Value) -> bool) -> Value {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let requests = self.requests().await;
            if done(&requests) {
                return requests;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "still waiting for {what}: {requests}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }
}

/// Sends a request over a raw TCP connection whose head announces
/// `claimed` body bytes, sends only `sent`, and closes the connection: a
/// page reloaded or a service worker stopped in the middle of an upload.
pub async fn send_cut_off(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    claimed: usize,
    sent: &[u8],
) {
    use tokio::io::AsyncWriteExt;
    assert!(sent.len() < claimed);
    let parsed = url::Url::parse(url).unwrap();
    let host = format!(
        "{}:{}",
        parsed.host_str().unwrap(),
        parsed.port_or_known_default().unwrap()
    );
    let target = &parsed[url::Position::BeforePath..];
    let mut head =
        format!("{method} {target} HTTP/1.1\r\nHost: {host}\r\nContent-Length: {claimed}\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    let mut stream = tokio::net::TcpStream::connect(&host).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(sent).await.unwrap();
    stream.flush().await.unwrap();
    // Let the server read what was sent before the connection goes.
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    stream.shutdown().await.unwrap();
    drop(stream);
}

/// Signs S3 requests with the embedded store's own credentials (read from
/// the server's database), as anyone holding a valid signature could:
/// what the store refuses to such requests, it refuses to every client.
pub struct StoreSigner {
    bucket: rusty_s3::Bucket,
    credentials: rusty_s3::Credentials,
}

impl StoreSigner {
    pub fn new(server: &TestServer) -> Self {
        let db = rusqlite::Connection::open(server.data_dir().join("ferry.sqlite3")).unwrap();
        let meta = |key: &str| -> String {
            db.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
                .unwrap()
        };
        let credentials = rusty_s3::Credentials::new(meta("s3_access_key"), meta("s3_secret_key"));
        let bucket = rusty_s3::Bucket::new(
            server.running.s3_url.parse().unwrap(),
            rusty_s3::UrlStyle::Path,
            "ferry".to_owned(),
            "us-east-1".to_owned(),
        )
        .unwrap();
        Self {
            bucket,
            credentials,
        }
    }

    fn expiry() -> std::time::Duration {
        std::time::Duration::from_secs(600)
    }

    pub fn put(&self, key: &str) -> String {
        use rusty_s3::S3Action;
        self.bucket
            .put_object(Some(&self.credentials), key)
            .sign(Self::expiry())
            .to_string()
    }

    pub fn delete(&self, key: &str) -> String {
        use rusty_s3::S3Action;
        self.bucket
            .delete_object(Some(&self.credentials), key)
            .sign(Self::expiry())
            .to_string()
    }

    pub fn create_multipart(&self, key: &str) -> String {
        use rusty_s3::S3Action;
        self.bucket
            .create_multipart_upload(Some(&self.credentials), key)
            .sign(Self::expiry())
            .to_string()
    }

    pub fn part(&self, key: &str, upload_id: &str, number: u16) -> String {
        use rusty_s3::S3Action;
        self.bucket
            .upload_part(Some(&self.credentials), key, number, upload_id)
            .sign(Self::expiry())
            .to_string()
    }

    pub fn complete(&self, key: &str, upload_id: &str) -> String {
        use rusty_s3::S3Action;
        self.bucket
            .complete_multipart_upload(Some(&self.credentials), key, upload_id, std::iter::empty())
            .sign(Self::expiry())
            .to_string()
    }

    pub fn get(&self, key: &str) -> String {
        use rusty_s3::S3Action;
        self.bucket
            .get_object(Some(&self.credentials), key)
            .sign(Self::expiry())
            .to_string()
    }

    /// Starts a multipart upload for `key`; its upload id, or the refusal.
    pub async fn start_multipart(
        &self,
        client: &Client,
        key: &str,
    ) -> Result<String, (StatusCode, String)> {
        let response = client
            .post(self.create_multipart(key))
            .send()
            .await
            .unwrap();
        let status = response.status();
        let body = response.text().await.unwrap();
        if status != StatusCode::OK {
            return Err((status, body));
        }
        let parsed = rusty_s3::actions::CreateMultipartUpload::parse_response(&body).unwrap();
        Ok(parsed.upload_id().to_owned())
    }
}
