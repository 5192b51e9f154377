//! A client that goes away in the middle of a request body (a page
//! reloaded, a service worker stopped, the network gone): the request
//! counts show it as started and never finished, the server logs it at
//! debug level and answers no 5xx, and nothing half-sent is stored.
//!
//! Every test here sends cut-off bodies only, and all share one log
//! capture: none of them may make the server log a warning or an error.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::cast_possible_truncation
)]

mod common;

use std::sync::{Arc, Mutex, OnceLock};

use common::*;
use reqwest::StatusCode;
use serde_json::Value;

/// Everything the server logs at debug level or above, one JSON object a
/// line, from every test of this file.
fn logs() -> Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let sink = buffer.clone();
        tracing_subscriber::fmt()
            .json()
            .with_max_level(tracing::Level::DEBUG)
            .with_writer(move || Sink(sink.clone()))
            .init();
        buffer
    })
    .clone()
}

struct Sink(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn log_lines() -> Vec<Value> {
    let text = String::from_utf8(logs().lock().unwrap().clone()).unwrap();
    text.lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

fn assert_no_warning_or_error() {
    let bad: Vec<Value> = log_lines()
        .into_iter()
        .filter(|l| l["level"] == "ERROR" || l["level"] == "WARN")
        .collect();
    assert!(bad.is_empty(), "the server logged {bad:#?}");
}

/// How many cut-off requests the server logged at debug level.
fn cut_off_lines() -> usize {
    log_lines()
        .iter()
        .filter(|l| {
            l["level"] == "DEBUG"
                && l["fields"]["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("stopped before its end"))
        })
        .count()
}

fn count(requests: &Value, map: &str, key: &str) -> u64 {
    requests[map][key].as_u64().unwrap_or(0)
}

#[tokio::test]
async fn a_part_cut_off_mid_body_is_started_but_never_finished() {
    logs();
    let server = TestServer::start_admin().await;
    let urls = server.multipart_urls(2).await;
    let key = urls["objectKey"].as_str().unwrap();
    let first = urls["partURLs"][0].as_str().unwrap();
    let second = urls["partURLs"][1].as_str().unwrap();
    put_part(&server.client, first, &bytes(5 * MIB, 1)).await;
    send_cut_off("PUT", second, &[], 3 * MIB, &bytes(MIB, 2)).await;

    let part = |n: u32| format!("s3:UploadPart /ferry/{key}#{n}");
    let requests = server
        .wait_for_requests("the cut-off part", |r| count(r, "cutOff", &part(2)) == 1)
        .await;
    assert_eq!(count(&requests, "started", &part(1)), 1, "{requests}");
    assert_eq!(count(&requests, "finished", &part(1)), 1, "{requests}");
    assert_eq!(count(&requests, "started", &part(2)), 1, "{requests}");
    assert_eq!(count(&requests, "finished", &part(2)), 0, "{requests}");
    assert_eq!(count(&requests, "started", "s3:UploadPart"), 2);
    assert_eq!(count(&requests, "finished", "s3:UploadPart"), 1);
    assert_eq!(count(&requests, "cutOff", "s3:UploadPart"), 1);
    assert_eq!(
        requests["statuses"]["s3:UploadPart"],
        serde_json::json!({ "200": 1 }),
        "only the whole part was answered"
    );
    // The name the started counts had first still means the same.
    assert_eq!(requests["counts"], requests["started"]);

    // The part is sent again whole, and the upload completes.
    let etags = vec![
        put_part(&server.client, first, &bytes(5 * MIB, 1)).await,
        put_part(&server.client, second, &bytes(3 * MIB, 2)).await,
    ];
    let (status, body) = server.complete_upload(&urls, &etags).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let requests = server.requests().await;
    assert_eq!(count(&requests, "finished", &part(2)), 1, "{requests}");
    assert_eq!(count(&requests, "started", &part(2)), 2, "{requests}");
    assert_no_warning_or_error();
}

#[tokio::test]
async fn a_cut_off_body_is_logged_at_debug_level_and_answered_with_no_5xx() {
    logs();
    let server = TestServer::start_admin().await;
    let collection = server.create_collection().await;
    let (_, single) = server.get("/files/upload-urls?count=1").await;
    let single = &single["urls"][0];
    let multipart = server.multipart_urls(2).await;
    let before = server.disk_snapshot();
    let lines_before = cut_off_lines();

    send_cut_off(
        "PUT",
        single["url"].as_str().unwrap(),
        &[],
        4 * MIB,
        &bytes(MIB, 3),
    )
    .await;
    send_cut_off(
        "PUT",
        multipart["partURLs"][0].as_str().unwrap(),
        &[],
        5 * MIB,
        &bytes(2 * MIB, 4),
    )
    .await;
    let registration = serde_json::to_vec(&file_body(
        collection,
        (single["objectKey"].as_str().unwrap(), 4 * MIB),
        (multipart["objectKey"].as_str().unwrap(), 1),
    ))
    .unwrap();
    send_cut_off(
        "POST",
        &server.url("/files"),
        &[
            ("X-Auth-Token", server.token.as_str()),
            ("Content-Type", "application/json"),
        ],
        registration.len(),
        &registration[..registration.len() / 2],
    )
    .await;

    let routes = ["s3:PutObject", "s3:UploadPart", "POST /files"];
    let requests = server
        .wait_for_requests("three cut-off requests", |r| {
            routes.iter().all(|route| count(r, "cutOff", route) == 1)
        })
        .await;
    for route in routes {
        assert_eq!(count(&requests, "started", route), 1, "{route}: {requests}");
        assert_eq!(
            count(&requests, "finished", route),
            0,
            "{route}: {requests}"
        );
        assert!(
            requests["statuses"][route].is_null(),
            "{route} was answered: {requests}"
        );
    }
    let server_errors: Vec<(&String, &Value)> = requests["statuses"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, by_status)| {
            by_status
                .as_object()
                .unwrap()
                .keys()
                .any(|s| s.starts_with('5'))
        })
        .collect();
    assert!(server_errors.is_empty(), "{server_errors:?}");

    // Nothing half-sent was kept: no object, no part, no temporary file.
    assert_eq!(server.disk_snapshot(), before);
    assert!(
        cut_off_lines() >= lines_before + 3,
        "each cut-off is a debug line"
    );
    assert_no_warning_or_error();

    // The same requests sent whole succeed.
    let response = server
        .client
        .put(single["url"].as_str().unwrap())
        .body(bytes(4 * MIB, 3))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_put_cut_off_over_an_object_leaves_it_as_it_was() {
    logs();
    let server = TestServer::start_admin().await;
    let (_, urls) = server.get("/files/upload-urls?count=1").await;
    let entry = &urls["urls"][0];
    let url = entry["url"].as_str().unwrap();
    let key = entry["objectKey"].as_str().unwrap();
    let first = bytes(MIB + 3, 5);
    let response = server
        .client
        .put(url)
        .body(first.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let before = server.disk_snapshot();

    send_cut_off("PUT", url, &[], 3 * MIB, &bytes(2 * MIB, 6)).await;
    let route = format!("s3:PutObject /ferry/{key}");
    server
        .wait_for_requests("the cut-off PUT", |r| count(r, "cutOff", &route) == 1)
        .await;
    assert_eq!(server.disk_snapshot(), before);
    let stored = std::fs::read(server.data_dir().join("objects/ferry").join(key)).unwrap();
    assert!(stored == first, "the stored object changed");

    // It is the object a registration finds and a download returns.
    let collection = server.create_collection().await;
    let thumb = server.upload_single(b"t").await;
    let (status, record) = server
        .create_file(collection, (key, first.len()), (&thumb, 1))
        .await;
    assert_eq!(status, StatusCode::OK, "{record}");
    assert!(server.download("download", &record["id"]).await == first);
    assert_no_warning_or_error();
}
