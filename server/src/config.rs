use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

use crate::faults::FaultConfig;

/// Ferry's reference backend: the Ente-compatible upload API and an
/// S3-compatible object store, for development and tests.
#[derive(Debug, Clone, Parser)]
#[command(name = "ferry-server", version)]
pub struct Config {
    /// Where records (SQLite) and, with the embedded store, objects live.
    #[arg(long, env = "FERRY_DATA_DIR", default_value = "ferry-data")]
    pub data_dir: PathBuf,

    /// Address of the API (port 0 picks a free port).
    #[arg(long, env = "FERRY_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// Address of the embedded S3 store (port 0 picks a free port).
    #[arg(long, env = "FERRY_S3_LISTEN", default_value = "127.0.0.1:8081")]
    pub s3_listen: SocketAddr,

    /// Accepted auth tokens, one user each (comma-separated in the env var).
    /// Without any, a dev token is made once and kept in the database.
    #[arg(long = "token", env = "FERRY_TOKENS", value_delimiter = ',')]
    pub tokens: Vec<String>,

    /// Storage quota per user in bytes (426 beyond it).
    #[arg(long, env = "FERRY_QUOTA_BYTES", default_value_t = 100 * 1024 * 1024 * 1024)]
    pub quota_bytes: u64,

    /// Largest file accepted, in bytes (413 beyond it).
    #[arg(long, env = "FERRY_MAX_FILE_SIZE", default_value_t = 10 * 1024 * 1024 * 1024)]
    pub max_file_size: u64,

    /// Lifetime of presigned URLs in seconds.
    #[arg(long, env = "FERRY_URL_EXPIRY_SECS", default_value_t = 7 * 24 * 3600)]
    pub url_expiry_secs: u64,

    /// Files per page of `/collections/v2/diff` (museum's
    /// `CollectionDiffLimit`). A page never splits one `updationTime`, so it
    /// may hold fewer, or more.
    #[arg(long, env = "FERRY_DIFF_PAGE_SIZE", default_value_t = 2500)]
    pub diff_page_size: u32,

    /// Refuse what museum lets through, to catch client bugs: JSON bodies
    /// without `Content-Type: application/json`, malformed encrypted
    /// fields, object keys never handed out, reported sizes (zero
    /// included) that differ from the stored objects, `count` out of range.
    /// Those refusals carry a `code`.
    #[arg(long, env = "FERRY_STRICT")]
    pub strict: bool,

    /// Users whose subscription has ended (by token, comma-separated in
    /// the env var; `*` for every user): upload URLs and `POST /files`
    /// answer 402, as museum's `CanUploadFile` does.
    #[arg(long, env = "FERRY_SUBSCRIPTION_EXPIRED", value_delimiter = ',')]
    pub subscription_expired: Vec<String>,

    /// Pause before the second HEAD of an object at `POST /files`, doubled
    /// before the third (museum's `sizeOf`: 500 ms, then 1 s).
    #[arg(long, env = "FERRY_OBJECT_CHECK_RETRY_MS", default_value_t = 500)]
    pub object_check_retry_ms: u64,

    /// Age after which an upload nobody registered is abandoned: its
    /// multipart upload is aborted, its object deleted and its URLs
    /// refused. The age counts from the URLs being handed out and from the
    /// last write to the object or a part, whichever is later. 0 disables
    /// the cleanup.
    #[arg(long, env = "FERRY_STALE_UPLOAD_SECS", default_value_t = 24 * 3600)]
    pub stale_upload_secs: u64,

    /// How often the cleanup of abandoned uploads runs (also once at
    /// start). 0 disables it.
    #[arg(long, env = "FERRY_CLEANUP_INTERVAL_SECS", default_value_t = 3600)]
    pub cleanup_interval_secs: u64,

    /// Serve this folder (the demo app) on the API port.
    #[arg(long, env = "FERRY_STATIC_DIR")]
    pub static_dir: Option<PathBuf>,

    /// Use an external S3 endpoint instead of the embedded store
    /// (MinIO, AWS, R2, B2, Garage). Needs the bucket and keys below.
    #[arg(long, env = "FERRY_S3_ENDPOINT")]
    pub s3_endpoint: Option<url::Url>,
    #[arg(long, env = "FERRY_S3_REGION", default_value = "us-east-1")]
    pub s3_region: String,
    #[arg(long, env = "FERRY_S3_BUCKET", default_value = "ferry")]
    pub s3_bucket: String,
    #[arg(long, env = "FERRY_S3_ACCESS_KEY")]
    pub s3_access_key: Option<String>,
    #[arg(long, env = "FERRY_S3_SECRET_KEY")]
    pub s3_secret_key: Option<String>,
    /// Virtual-hosted-style URLs for the external endpoint (path style otherwise).
    #[arg(long, env = "FERRY_S3_VIRTUAL_HOST")]
    pub s3_virtual_host: bool,

    /// CORS of the embedded store: `full` (any origin, `ETag` readable),
    /// or, to test a client against a misconfigured bucket, `none` (no
    /// CORS headers; preflights refused as S3 refuses them) or `no-etag`
    /// (CORS, but `ETag` not in `Access-Control-Expose-Headers`).
    #[arg(long, env = "FERRY_S3_CORS", value_enum, default_value_t = S3Cors::Full)]
    pub s3_cors: S3Cors,

    /// Fault injection rules as JSON (or @path to a JSON file), e.g.
    /// `{"seed":7,"rules":[{"route":"s3:UploadPart","errorRate":0.2}]}`.
    #[arg(long, env = "FERRY_FAULTS", value_parser = parse_faults)]
    pub faults: Option<FaultConfig>,

    /// Expose `/admin/faults` and `/admin/requests` to change faults and read
    /// request counts at run time. Off unless asked for.
    #[arg(long, env = "FERRY_ADMIN")]
    pub admin: bool,
}

impl Config {
    /// Defaults suited to tests: ephemeral ports on loopback, the given data dir.
    pub fn for_tests(data_dir: impl Into<PathBuf>) -> Self {
        let mut config = Self::parse_from(["ferry-server"]);
        config.data_dir = data_dir.into();
        config.listen = SocketAddr::from(([127, 0, 0, 1], 0));
        config.s3_listen = SocketAddr::from(([127, 0, 0, 1], 0));
        config
    }

    pub fn url_expiry(&self) -> Duration {
        Duration::from_secs(self.url_expiry_secs)
    }
}

/// How the embedded store answers cross-origin requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum S3Cors {
    /// Any origin, every method the client uses, `ETag` exposed.
    Full,
    /// No CORS at all: the commonest self-hosting mistake.
    None,
    /// CORS without `ETag` among the exposed headers: a browser uploads
    /// parts but cannot read their ETags to complete the upload.
    NoEtag,
}

fn parse_faults(text: &str) -> Result<FaultConfig, String> {
    let json = match text.strip_prefix('@') {
        Some(path) => std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?,
        None => text.to_owned(),
    };
    serde_json::from_str(&json).map_err(|e| format!("invalid fault rules: {e}"))
}
