//! The cleanup timer: uploads nobody registered go on their own once idle
//! for longer than `--stale-upload-secs`, checked every
//! `--cleanup-interval-secs`; registered files and uploads still in use
//! stay.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::cast_possible_truncation
)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use reqwest::StatusCode;
use serde_json::Value;

const STALE_SECS: u64 = 8;

async fn server(stale_upload_secs: u64, cleanup_interval_secs: u64) -> TestServer {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(&dir);
    config.stale_upload_secs = stale_upload_secs;
    config.cleanup_interval_secs = cleanup_interval_secs;
    TestServer::start_with(dir, config).await
}

fn object_path(server: &TestServer, key: &str) -> std::path::PathBuf {
    server.data_dir().join("objects/ferry").join(key)
}

async fn put_status(server: &TestServer, url: &str, body: Vec<u8>) -> (StatusCode, String) {
    let response = server.client.put(url).body(body).send().await.unwrap();
    (response.status(), response.text().await.unwrap())
}

/// One upload URL, its key and (if `bytes`) the object PUT there.
async fn single(server: &TestServer, bytes: Option<Vec<u8>>) -> (String, String) {
    let (_, urls) = server.get("/files/upload-urls?count=1").await;
    let url = urls["urls"][0]["url"].as_str().unwrap().to_owned();
    let key = urls["urls"][0]["objectKey"].as_str().unwrap().to_owned();
    if let Some(bytes) = bytes {
        assert_eq!(put_status(server, &url, bytes).await.0, StatusCode::OK);
    }
    (url, key)
}

fn part_url(urls: &Value, n: usize) -> &str {
    urls["partURLs"][n].as_str().unwrap()
}

#[tokio::test]
async fn abandoned_uploads_and_objects_go_on_their_own_and_the_rest_stays() {
    let server = server(STALE_SECS, 1).await;
    let started = Instant::now();
    let collection = server.create_collection().await;

    // A registered file: its objects are never touched, however old.
    let file = bytes(5 * MIB + 9, 1);
    let file_key = server.upload_multipart(&file, 5 * MIB).await;
    let thumb_key = server.upload_single(b"thumb").await;
    let (status, record) = server
        .create_file(collection, (&file_key, file.len()), (&thumb_key, 5))
        .await;
    assert_eq!(status, StatusCode::OK, "{record}");

    // Abandoned: a multipart upload with one part sent, an object PUT and
    // never registered, a multipart upload completed and never registered,
    // and a URL never used.
    let abandoned_upload = server.multipart_urls(2).await;
    put_part(
        &server.client,
        part_url(&abandoned_upload, 0),
        &bytes(5 * MIB, 2),
    )
    .await;
    let (abandoned_url, abandoned_key) = single(&server, Some(bytes(3000, 3))).await;
    let completed = server.multipart_urls(1).await;
    let etag = put_part(&server.client, part_url(&completed, 0), b"done").await;
    let (status, _) = complete(
        &server.client,
        completed["completeURL"].as_str().unwrap(),
        &[etag],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let completed_key = completed["objectKey"].as_str().unwrap();
    let (unused_url, _) = single(&server, None).await;
    // Timed from here, not from the start: however long the setup took on
    // a busy machine, what is kept is touched 5 s after the last abandoned
    // write, so it is still young for about 4 s after the cleanup that
    // takes the abandoned ones (at 8 s, checked every second).
    let abandoned_done = Instant::now();
    // In use: as old as those, but a part sent later.
    let active = server.multipart_urls(2).await;
    let active_first = put_part(&server.client, part_url(&active, 0), &bytes(5 * MIB, 4)).await;
    assert!(object_path(&server, &abandoned_key).exists());
    assert!(object_path(&server, completed_key).exists());

    tokio::time::sleep(Duration::from_millis(5000).saturating_sub(abandoned_done.elapsed())).await;
    let active_second = put_part(&server.client, part_url(&active, 1), b"end").await;
    // Young: handed out now.
    let young = server.multipart_urls(1).await;
    let young_etag = put_part(&server.client, part_url(&young, 0), b"young").await;
    let (young_thumb_url, young_thumb) = single(&server, Some(b"yt".to_vec())).await;

    // Wait until the abandoned objects are gone (they are STALE_SECS old
    // after STALE_SECS, and the cleanup runs every second). Nothing here
    // writes to them: a write would make them young again.
    let deadline = Instant::now() + Duration::from_secs(STALE_SECS + 5);
    while object_path(&server, &abandoned_key).exists()
        || object_path(&server, completed_key).exists()
    {
        assert!(Instant::now() < deadline, "abandoned objects remain");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let removed_after = started.elapsed();
    assert!(
        removed_after >= Duration::from_secs(STALE_SECS),
        "removed after {removed_after:?}, before they were {STALE_SECS} s old"
    );
    // Retired in the same round, so its parts are refused from now on;
    // aborted in that round too.
    loop {
        let (status, body) =
            put_status(&server, part_url(&abandoned_upload, 1), b"x".to_vec()).await;
        if status == StatusCode::NOT_FOUND {
            assert!(body.contains("NoSuchUpload"), "{body}");
            break;
        }
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
        assert!(
            Instant::now() < deadline,
            "the abandoned upload is still there"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // What was kept is checked first: it is young for a few seconds more.
    let (status, body) = complete(
        &server.client,
        active["completeURL"].as_str().unwrap(),
        &[active_first, active_second],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "the active upload was kept: {body}");
    let (status, body) = server
        .create_file(
            collection,
            (active["objectKey"].as_str().unwrap(), 5 * MIB + 3),
            (&young_thumb, 2),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = complete(
        &server.client,
        young["completeURL"].as_str().unwrap(),
        &[young_etag],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "the young upload was kept: {body}");
    let young_thumb2 = server.upload_single(b"t2").await;
    let (status, body) = server
        .create_file(
            collection,
            (young["objectKey"].as_str().unwrap(), 5),
            (&young_thumb2, 2),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        put_status(&server, &young_thumb_url, b"again".to_vec())
            .await
            .0,
        StatusCode::FORBIDDEN,
        "registered now"
    );

    // The registered file is whole.
    assert!(server.download("download", &record["id"]).await == file);
    assert_eq!(server.download("preview", &record["id"]).await, b"thumb");

    // The abandoned keys are closed: their URLs are refused as expired
    // ones are, and a late registration finds nothing.
    for url in [&abandoned_url, &unused_url] {
        let (status, body) = put_status(&server, url, b"late".to_vec()).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
        assert!(body.contains("AccessDenied"), "{body}");
    }
    let thumb = server.upload_single(b"t3").await;
    let (status, body) = server
        .create_file(collection, (&abandoned_key, 3000), (&thumb, 2))
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["code"], "OBJECT_SIZE_FETCH_FAILED");
    let (status, body) = complete(
        &server.client,
        abandoned_upload["completeURL"].as_str().unwrap(),
        &["\"00\"".to_owned()],
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
}

#[tokio::test]
async fn an_age_or_interval_of_zero_disables_the_cleanup() {
    for (stale, interval) in [(0, 1), (1, 0)] {
        let server = server(stale, interval).await;
        let urls = server.multipart_urls(2).await;
        put_part(&server.client, part_url(&urls, 0), b"first").await;
        let (url, key) = single(&server, Some(b"object".to_vec())).await;
        tokio::time::sleep(Duration::from_millis(2500)).await;
        put_part(&server.client, part_url(&urls, 1), b"second").await;
        assert!(object_path(&server, &key).exists());
        assert_eq!(
            put_status(&server, &url, b"again".to_vec()).await.0,
            StatusCode::OK
        );
    }
}

#[test]
fn the_cleanup_flags_default_to_a_day_and_an_hour() {
    use clap::Parser;
    let config = ferry_server::Config::try_parse_from(["ferry-server"]).unwrap();
    assert_eq!(config.stale_upload_secs, 24 * 3600);
    assert_eq!(config.cleanup_interval_secs, 3600);
    let config = ferry_server::Config::try_parse_from([
        "ferry-server",
        "--stale-upload-secs",
        "60",
        "--cleanup-interval-secs",
        "0",
    ])
    .unwrap();
    assert_eq!(config.stale_upload_secs, 60);
    assert_eq!(config.cleanup_interval_secs, 0);
}
