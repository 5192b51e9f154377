//! A restart keeps every record and object, the dev token, and the store
//! credentials, so URLs handed out before it still work after it.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::cast_possible_truncation
)]

mod common;

use common::*;
use reqwest::StatusCode;

#[tokio::test]
async fn a_restart_keeps_records_objects_tokens_and_urls() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_path_buf();
    let server = TestServer::start_with(dir, config_for(&data_dir)).await;
    let collection = server.create_collection().await;
    let file = bytes(6 * MIB + 5, 1);
    let file_key = server.upload_multipart(&file, 5 * MIB).await;
    let thumb_key = server.upload_single(b"thumbnail").await;
    let (status, record) = server
        .create_file(collection, (&file_key, file.len()), (&thumb_key, 9))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, pending) = server.get("/files/upload-urls?count=1").await;
    let (api, s3) = (server.running.api, server.running.s3_url.clone());
    let token = server.token.clone();
    let TestServer { running, dir, .. } = server;
    running.shutdown().await;

    // Same ports, so that URLs signed before the restart point at it.
    let mut config = config_for(&data_dir);
    config.listen = api;
    config.s3_listen = s3.trim_start_matches("http://").parse().unwrap();
    let server = TestServer::start_with(dir, config).await;
    assert_eq!(server.token, token, "the dev token survives");

    let (_, diff) = server
        .get(&format!(
            "/collections/v2/diff?collectionID={collection}&sinceTime=0"
        ))
        .await;
    assert_eq!(diff["diff"][0]["id"], record["id"]);
    assert_eq!(diff["diff"][0]["updationTime"], record["updationTime"]);
    assert_eq!(diff["diff"][0]["metadata"], record["metadata"]);
    assert_eq!(server.download("download", &record["id"]).await, file);

    let url = pending["urls"][0]["url"].as_str().unwrap();
    let response = server
        .client
        .put(url)
        .body("after restart")
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "a URL from before the restart works"
    );

    // Records written after the restart sort after the older ones.
    let thumb2 = server.upload_single(b"t2").await;
    let key2 = pending["urls"][0]["objectKey"].as_str().unwrap();
    let (status, second) = server
        .create_file(collection, (key2, 13), (&thumb2, 2))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(second["updationTime"].as_i64() > record["updationTime"].as_i64());
}

fn config_for(dir: &std::path::Path) -> ferry_server::Config {
    ferry_server::Config::for_tests(dir)
}
