//! `--s3-endpoint`: the server talks to an S3 endpoint it does not own.
//! Stood in for by a plain s3s-fs service with its own credentials on its
//! own port (the way MinIO or Garage would be), the whole flow — bucket
//! creation, presigned single and multipart uploads, size checks, download —
//! must work through it.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::cast_possible_truncation
)]

mod common;

use common::*;
use reqwest::StatusCode;
use s3s::auth::SimpleAuth;
use s3s::service::S3ServiceBuilder;

async fn external_store(root: &std::path::Path) -> String {
    let fs = s3s_fs::FileSystem::new(root).unwrap();
    let mut builder = S3ServiceBuilder::new(fs);
    builder.set_auth(SimpleAuth::from_single(
        "EXTERNALACCESSKEY",
        "external-secret-key",
    ));
    let s3 = builder.build();
    let app = axum::Router::new().fallback_service(tower::service_fn(
        move |req: axum::extract::Request| {
            let mut s3 = s3.clone();
            async move {
                let response = tower::Service::call(&mut s3, req).await.unwrap();
                Ok::<_, std::convert::Infallible>(response.map(axum::body::Body::new))
            }
        },
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

#[tokio::test]
async fn uploads_go_through_an_external_s3_endpoint() {
    let store_dir = tempfile::tempdir().unwrap();
    let endpoint = external_store(store_dir.path()).await;

    let dir = tempfile::tempdir().unwrap();
    let mut config = config(&dir);
    config.s3_endpoint = Some(endpoint.parse().unwrap());
    config.s3_bucket = "photos".into();
    config.s3_access_key = Some("EXTERNALACCESSKEY".into());
    config.s3_secret_key = Some("external-secret-key".into());
    let server = TestServer::start_with(dir, config).await;
    assert_eq!(server.running.s3_url.trim_end_matches('/'), endpoint);
    assert!(
        store_dir.path().join("photos").is_dir(),
        "the bucket was created"
    );
    assert!(
        !server.data_dir().join("objects").exists(),
        "no embedded store runs"
    );

    let collection = server.create_collection().await;
    let file = bytes(7 * MIB, 4);
    let file_key = server.upload_multipart(&file, 5 * MIB).await;
    let thumb_key = server.upload_single(b"thumb").await;
    let (status, record) = server
        .create_file(collection, (&file_key, file.len()), (&thumb_key, 5))
        .await;
    assert_eq!(status, StatusCode::OK, "{record}");
    assert!(store_dir.path().join("photos").join(&file_key).is_file());

    assert_eq!(server.download("download", &record["id"]).await, file);
}

#[tokio::test]
async fn an_external_endpoint_without_credentials_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(&dir);
    config.s3_endpoint = Some("http://127.0.0.1:9".parse().unwrap());
    let err = ferry_server::start(config).await.unwrap_err();
    assert!(err.to_string().contains("--s3-access-key"), "{err}");
}
