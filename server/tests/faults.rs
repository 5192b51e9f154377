//! Fault injection: off by default, deterministic for a seed (a failing run
//! replays), switchable at run time through the admin API, and real: a
//! "reset" drops the connection mid-body and stores nothing.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::cast_possible_truncation
)]

mod common;

use common::*;
use ferry_server::faults::{FaultConfig, FaultRule};
use reqwest::StatusCode;
use serde_json::json;

fn rules(seed: u64) -> FaultConfig {
    let rule = |route: &str| FaultRule {
        route: route.into(),
        error_rate: 0.25,
        status: 503,
        latency_ms: 0,
        reset_rate: 0.15,
        throttle_rate: 0.15,
        retry_after_secs: Some(2),
    };
    FaultConfig {
        seed,
        rules: vec![rule("GET /files/upload-urls"), rule("s3:PutObject")],
    }
}

/// What a client saw for each of a fixed sequence of requests.
async fn observe(seed: u64) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(&dir);
    config.faults = Some(rules(seed));
    let server = TestServer::start_with(dir, config).await;
    let mut seen = Vec::new();
    let mut urls = Vec::new();
    for _ in 0..30 {
        let sent = server
            .client
            .get(server.url("/files/upload-urls?count=1"))
            .header("X-Auth-Token", &server.token)
            .send()
            .await;
        let Ok(response) = sent else {
            seen.push("urls:connection-dropped".to_owned());
            continue;
        };
        seen.push(format!("urls:{}", response.status().as_u16()));
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            assert_eq!(response.headers()["retry-after"], "2");
        }
        if response.status() == StatusCode::OK {
            let body: serde_json::Value = response.json().await.unwrap();
            urls.push(body["urls"][0]["url"].as_str().unwrap().to_owned());
        }
    }
    for url in &urls {
        let outcome = match server.client.put(url).body(vec![7u8; 4096]).send().await {
            Ok(response) => format!("put:{}", response.status().as_u16()),
            Err(_) => "put:connection-dropped".to_owned(),
        };
        seen.push(outcome);
    }
    server.running.shutdown().await;
    seen
}

#[tokio::test]
async fn the_same_seed_replays_the_same_faults() {
    let first = observe(42).await;
    let second = observe(42).await;
    assert_eq!(first, second);
    let other = observe(43).await;
    assert_ne!(first, other, "another seed gives another sequence");
    let count = |what: &str| first.iter().filter(|s| s.ends_with(what)).count();
    assert!(
        count(":503") > 0 && count(":429") > 0 && count(":200") > 0,
        "{first:?}"
    );
    assert!(
        first.iter().any(|s| s == "put:connection-dropped"),
        "uploads cut mid-body: {first:?}"
    );
}

#[tokio::test]
async fn a_dropped_upload_stores_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(&dir);
    config.admin = true;
    let server = TestServer::start_with(dir, config).await;
    let key = {
        let (_, urls) = server.get("/files/upload-urls?count=1").await;
        urls["urls"][0].clone()
    };
    let (status, _) = server
        .call(
            reqwest::Method::PUT,
            "/admin/faults",
            Some(json!({ "seed": 1, "rules": [{ "route": "s3:PutObject", "resetRate": 1.0 }] })),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let body = bytes(2 * MIB, 3);
    let result = server
        .client
        .put(key["url"].as_str().unwrap())
        .body(body.clone())
        .send()
        .await;
    assert!(
        result.is_err(),
        "the connection must drop without a response"
    );

    let collection = server.create_collection().await;
    let thumb_key = {
        let (status, _) = server
            .call(reqwest::Method::DELETE, "/admin/faults", None)
            .await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        server.upload_single(b"t").await
    };
    let (status, err) = server
        .create_file(
            collection,
            (key["objectKey"].as_str().unwrap(), body.len()),
            (&thumb_key, 1),
        )
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(err["code"], "OBJECT_SIZE_FETCH_FAILED");

    // With faults off the same URL works, and the admin API counted it all.
    let response = server
        .client
        .put(key["url"].as_str().unwrap())
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let (_, faults) = server.get("/admin/faults").await;
    assert!(faults["config"].is_null());
    let (_, requests) = server.get("/admin/requests").await;
    assert_eq!(requests["counts"]["s3:PutObject"], 3);
    let path = format!("s3:PutObject /ferry/{}", key["objectKey"].as_str().unwrap());
    assert_eq!(requests["counts"][path.as_str()], 2, "{requests}");
}

#[tokio::test]
async fn latency_is_added_and_admin_routes_exist_only_when_enabled() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(&dir);
    config.faults = Some(FaultConfig {
        seed: 0,
        rules: vec![FaultRule {
            route: "GET /collections".into(),
            error_rate: 0.0,
            status: 503,
            latency_ms: 300,
            reset_rate: 0.0,
            throttle_rate: 0.0,
            retry_after_secs: Some(1),
        }],
    });
    let server = TestServer::start_with(dir, config).await;
    let started = std::time::Instant::now();
    let (status, _) = server.get("/collections").await;
    assert_eq!(status, StatusCode::OK);
    assert!(started.elapsed() >= std::time::Duration::from_millis(300));
    let (status, _) = server.get("/admin/faults").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "no admin API unless --admin");
}

#[tokio::test]
async fn the_admin_api_never_meets_a_fault() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(&dir);
    config.admin = true;
    config.faults = Some(
        serde_json::from_value(json!({ "rules": [{ "route": "*", "errorRate": 1.0 }] })).unwrap(),
    );
    let server = TestServer::start_with(dir, config).await;
    let (status, _) = server.get("/collections").await;
    assert_eq!(
        status,
        StatusCode::SERVICE_UNAVAILABLE,
        "every other route fails"
    );
    let (status, _) = server.get("/admin/faults").await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = server
        .call(reqwest::Method::DELETE, "/admin/faults", None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = server.get("/collections").await;
    assert_eq!(status, StatusCode::OK);
}
