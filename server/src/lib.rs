//! Ferry's reference backend: the Ente-compatible upload API over an S3
//! object store (embedded, or any external endpoint), answering as Ente's
//! server (museum) does, so that client tests meet what production sends.
//! `--strict` adds refusals museum does not make, to catch client bugs.
#![forbid(unsafe_code)]

mod cleanup;
pub mod config;
mod db;
mod error;
pub mod faults;
mod routes;
mod serve;
mod store;

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, Method, header};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::services::ServeDir;
use tower_http::trace::TraceLayer;

pub use config::Config;
use db::Db;
use faults::{Faults, Side};
use routes::{AppState, Limits};
use store::ObjectStore;

/// Request parsing without a running server, for the fuzz targets.
#[doc(hidden)]
pub use routes::fuzz as fuzz_api;

/// A running server. Dropping it does not stop it; call [`Running::shutdown`].
#[derive(Debug)]
pub struct Running {
    pub api: SocketAddr,
    /// Base URL of the object store clients upload to.
    pub s3_url: String,
    /// The first configured token, or the persisted dev token.
    pub token: String,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Running {
    pub fn api_url(&self) -> String {
        format!("http://{}", self.api)
    }

    /// The line scripts read: `{"api": …, "s3": …, "token": …}`.
    pub fn announcement(&self) -> String {
        serde_json::json!({ "api": self.api_url(), "s3": self.s3_url, "token": self.token })
            .to_string()
    }

    /// Stops accepting, lets in-flight requests finish, and returns.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

#[derive(Debug)]
pub struct StartError(pub String);

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for StartError {}

/// Says what was being done when start-up failed.
trait Context<T> {
    fn context(self, what: &str) -> Result<T, StartError>;
}

impl<T, E: std::fmt::Display> Context<T> for Result<T, E> {
    fn context(self, what: &str) -> Result<T, StartError> {
        self.map_err(|err| StartError(format!("{what}: {err}")))
    }
}

pub async fn start(config: Config) -> Result<Running, StartError> {
    std::fs::create_dir_all(&config.data_dir).context("cannot create the data directory")?;
    let db =
        Db::open(&config.data_dir.join("ferry.sqlite3")).context("cannot open the database")?;

    let dev_token = if config.tokens.is_empty() {
        let token = db
            .meta_or_insert("dev_token", || db::random_token(24))
            .context("database")?;
        db.ensure_token(&token).context("database")?;
        token
    } else {
        for token in &config.tokens {
            db.ensure_token(token).context("database")?;
        }
        config.tokens[0].clone()
    };
    let accepted: HashMap<String, i64> = if config.tokens.is_empty() {
        db.tokens().context("database")?.into_iter().collect()
    } else {
        db.tokens()
            .context("database")?
            .into_iter()
            .filter(|(t, _)| config.tokens.contains(t))
            .collect()
    };

    let (stop, stop_rx) = watch::channel(false);
    let faults = Faults::new(config.faults.clone());
    let locks = store::keys::KeyLocks::default();
    let mut tasks = Vec::new();

    let (store, s3_url) = match &config.s3_endpoint {
        Some(endpoint) => {
            if config.s3_cors != config::S3Cors::Full {
                return Err(StartError(
                    "--s3-cors applies to the embedded store; an external bucket has its own CORS rules".into(),
                ));
            }
            let (Some(access), Some(secret)) = (&config.s3_access_key, &config.s3_secret_key)
            else {
                return Err(StartError(
                    "--s3-endpoint needs --s3-access-key and --s3-secret-key".into(),
                ));
            };
            let credentials = rusty_s3::Credentials::new(access.clone(), secret.clone());
            let store = ObjectStore::new(
                endpoint.clone(),
                config.s3_virtual_host,
                &config.s3_bucket,
                &config.s3_region,
                credentials,
                config.url_expiry(),
            )
            .context("S3 endpoint")?;
            store.ensure_bucket().await.context("object store bucket")?;
            (store, endpoint.to_string())
        }
        None => {
            // Credentials persist so that URLs handed out survive a restart.
            let access = db
                .meta_or_insert("s3_access_key", || db::random_token(15))
                .context("database")?;
            let secret = db
                .meta_or_insert("s3_secret_key", || db::random_token(30))
                .context("database")?;
            let listener = TcpListener::bind(config.s3_listen)
                .await
                .context("cannot listen for S3")?;
            let mut addr = listener.local_addr().context("S3 listener")?;
            if addr.ip().is_unspecified() {
                addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
            }
            let root = config.data_dir.join("objects");
            std::fs::create_dir_all(root.join(&config.s3_bucket))
                .context("cannot create the object store")?;
            let app = store::embedded::router(
                &root,
                &access,
                &secret,
                faults.clone(),
                db.clone(),
                locks.clone(),
                config.s3_cors,
            )
            .context("object store")?;
            tasks.push(serve::spawn(listener, app, stop_rx.clone()));
            let url = format!("http://{addr}");
            let store = ObjectStore::new(
                url.parse().context("S3 address")?,
                false,
                &config.s3_bucket,
                &config.s3_region,
                rusty_s3::Credentials::new(access, secret),
                config.url_expiry(),
            )
            .context("embedded store")?;
            (store, url)
        }
    };

    let expired: HashSet<i64> = accepted
        .iter()
        .filter(|(token, _)| {
            config
                .subscription_expired
                .iter()
                .any(|t| t == "*" || t == *token)
        })
        .map(|(_, &user)| user)
        .collect();
    let state = AppState {
        db,
        store,
        locks,
        tokens: Arc::new(accepted),
        faults: faults.clone(),
        limits: Limits {
            quota_bytes: config.quota_bytes,
            max_file_size: config.max_file_size,
            diff_page_size: config.diff_page_size.max(1),
            strict: config.strict,
            object_check_retry_ms: config.object_check_retry_ms,
        },
        expired: Arc::new(RwLock::new(expired)),
    };
    if config.stale_upload_secs > 0 && config.cleanup_interval_secs > 0 {
        tasks.push(cleanup::spawn(
            state.clone(),
            Duration::from_secs(config.stale_upload_secs),
            Duration::from_secs(config.cleanup_interval_secs),
            stop_rx.clone(),
        ));
    }
    let mut api = routes::api_router(state, config.admin);
    if let Some(dir) = &config.static_dir {
        api = api.fallback_service(ServeDir::new(dir));
    }
    let api = api
        .layer(DefaultBodyLimit::max(routes::MAX_JSON_BODY))
        .layer(axum::middleware::from_fn_with_state(
            (faults, Side::Api),
            faults::inject,
        ))
        .layer(cors(
            &[Method::GET, Method::POST, Method::PUT, Method::DELETE],
            true,
        ))
        .layer(TraceLayer::new_for_http());
    let listener = TcpListener::bind(config.listen)
        .await
        .context("cannot listen for the API")?;
    let api_addr = listener.local_addr().context("API listener")?;
    tasks.push(serve::spawn(listener, api, stop_rx));

    Ok(Running {
        api: api_addr,
        s3_url,
        token: dev_token,
        stop,
        tasks,
    })
}

/// Cross-origin access from any page: uploads go straight from the browser
/// to the store, on another origin than the app, and the client must read
/// the `ETag` of every part (`expose_etag` false only to test a client
/// against a bucket that forgot it).
pub(crate) fn cors(methods: &[Method], expose_etag: bool) -> CorsLayer {
    let mut exposed = vec![
        header::RETRY_AFTER,
        HeaderName::from_static("x-amz-request-id"),
    ];
    if expose_etag {
        exposed.insert(0, header::ETAG);
    }
    CorsLayer::new()
        .allow_origin(AllowOrigin::mirror_request())
        .allow_methods(methods.to_vec())
        .allow_headers(tower_http::cors::AllowHeaders::mirror_request())
        .expose_headers(exposed)
        .max_age(Duration::from_secs(3600))
}
