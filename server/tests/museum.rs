//! Conformance with museum, Ente's server (ente-io/ente `server/`), one
//! test per behaviour a client meets; each names the museum file and
//! symbol it mirrors. Paths are relative to museum's `server/`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::cast_possible_truncation
)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// A server for two users, `alice` (the test server's own token) and `bob`.
async fn two_users(configure: impl FnOnce(&mut ferry_server::Config)) -> TestServer {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(&dir);
    cfg.tokens = vec!["alice".into(), "bob".into()];
    cfg.admin = true;
    configure(&mut cfg);
    TestServer::start_with(dir, cfg).await
}

/// A request as `token`, answered as (status, headers, JSON or text).
async fn call_as(
    server: &TestServer,
    token: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    let mut request = server
        .client
        .request(method, server.url(path))
        .header("X-Auth-Token", token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let (status, headers) = (response.status(), response.headers().clone());
    let text = response.text().await.unwrap();
    (
        status,
        headers,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// Uploads a file and thumbnail and registers them; returns the record.
async fn upload_file(server: &TestServer, collection: i64, seed: u8) -> Value {
    let file = bytes(2_000 + usize::from(seed), seed);
    let thumb = bytes(100, seed);
    let file_key = server.upload_single(&file).await;
    let thumb_key = server.upload_single(&thumb).await;
    let (status, record) = server
        .create_file(
            collection,
            (&file_key, file.len()),
            (&thumb_key, thumb.len()),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{record}");
    record
}

async fn diff(server: &TestServer, collection: i64, since: i64) -> Value {
    let (status, page) = server
        .get(&format!(
            "/collections/v2/diff?collectionID={collection}&sinceTime={since}"
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    page
}

fn ids(page: &Value) -> Vec<i64> {
    page["diff"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_i64().unwrap())
        .collect()
}

/// `pkg/controller/file.go` `GetUploadURLs` with `pkg/api/file.go`
/// `GetUploadURLs`: `count` through `strconv.Atoi` with the error ignored,
/// clamped to `MaxUploadURLsLimit` (50); none asked for, none given.
#[tokio::test]
async fn get_upload_urls_reads_count_leniently_and_clamps_it_to_50() {
    let server = TestServer::start().await;
    for (query, expected) in [
        ("", 0),
        ("?count=", 0),
        ("?count=abc", 0),
        ("?count=0", 0),
        ("?count=-4", 0),
        ("?count=3", 3),
        ("?count=51", 50),
        ("?count=100000", 50),
    ] {
        let (status, body) = server.get(&format!("/files/upload-urls{query}")).await;
        assert_eq!(status, StatusCode::OK, "{query}: {body}");
        let urls = body["urls"].as_array().unwrap();
        assert_eq!(urls.len(), expected, "{query}");
        for url in urls {
            assert!(url["objectKey"].as_str().unwrap().contains('/'));
            assert!(url["url"].as_str().unwrap().starts_with("http"));
        }
    }
}

/// `pkg/controller/file.go` `GetMultipartUploadURLs`: `count <= 0 || count
/// > maxMultipartPartCount` is `ErrBadRequest` (400 `{}`), checked before
/// the subscription.
#[tokio::test]
async fn get_multipart_upload_urls_refuses_counts_outside_1_to_10000_with_400() {
    let server = two_users(|c| c.subscription_expired = vec!["alice".into()]).await;
    for query in ["", "?count=0", "?count=-1", "?count=x", "?count=10001"] {
        let (status, _, body) = call_as(
            &server,
            "alice",
            Method::GET,
            &format!("/files/multipart-upload-urls{query}"),
            None,
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}");
        assert_eq!(body, json!({}), "{query}");
    }
    let (status, _, body) = call_as(
        &server,
        "bob",
        Method::GET,
        "/files/multipart-upload-urls?count=10000",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["urls"]["partURLs"].as_array().unwrap().len(), 10_000);
}

/// `pkg/controller/usage.go` `CanUploadFile`, called by `GetUploadURLs` and
/// `GetMultipartUploadURLs` before any URL: 402 `{}`
/// (`ErrNoActiveSubscription`) and 426 `{}` (`ErrStorageLimitExceeded`)
/// already at URL time, whatever `count` says.
#[tokio::test]
async fn upload_urls_answer_402_without_a_subscription_and_426_once_storage_is_full() {
    let server = two_users(|c| {
        c.subscription_expired = vec!["bob".into()];
        c.quota_bytes = 3_000;
    })
    .await;
    for path in [
        "/files/upload-urls?count=5",
        "/files/upload-urls",
        "/files/multipart-upload-urls?count=2",
    ] {
        let (status, _, body) = call_as(&server, "bob", Method::GET, path, None).await;
        assert_eq!(status, StatusCode::PAYMENT_REQUIRED, "{path}");
        assert_eq!(body, json!({}), "{path}");
    }
    // Renewed at run time (admin API), then ended again.
    let renew = |expired: bool| {
        call_as(
            &server,
            "bob",
            Method::PUT,
            "/admin/subscription",
            Some(json!({ "expired": expired })),
        )
    };
    assert_eq!(renew(false).await.0, StatusCode::NO_CONTENT);
    let (status, _, _) = call_as(
        &server,
        "bob",
        Method::GET,
        "/files/upload-urls?count=1",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(renew(true).await.0, StatusCode::NO_CONTENT);
    let (status, _, _) = call_as(
        &server,
        "bob",
        Method::GET,
        "/files/upload-urls?count=1",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::PAYMENT_REQUIRED);

    // Near the quota, URLs are still handed out and only POST /files
    // says 426; once the usage is over the quota (here: the quota was
    // lowered), the URL calls say 426 as well.
    let collection = server.create_collection().await;
    upload_file(&server, collection, 1).await;
    let big = server.upload_single(&bytes(1_500, 9)).await;
    let thumb = server.upload_single(&bytes(10, 9)).await;
    let (status, err) = server
        .create_file(collection, (&big, 1_500), (&thumb, 10))
        .await;
    assert_eq!((status, err), (StatusCode::UPGRADE_REQUIRED, json!({})));
    let (status, _) = server.get("/files/upload-urls?count=1").await;
    assert_eq!(status, StatusCode::OK, "2,101 of 3,000 bytes used");
    let TestServer { running, dir, .. } = server;
    running.shutdown().await;
    let mut cfg = config(&dir);
    cfg.tokens = vec!["alice".into(), "bob".into()];
    cfg.quota_bytes = 2_000;
    let server = TestServer::start_with(dir, cfg).await;
    for path in [
        "/files/upload-urls?count=1",
        "/files/multipart-upload-urls?count=1",
    ] {
        let (status, body) = server.get(path).await;
        assert_eq!(
            (status, body),
            (StatusCode::UPGRADE_REQUIRED, json!({})),
            "{path}"
        );
    }
}

/// `pkg/controller/file.go` `Create` calls `CanUploadFile` with the sizes,
/// before `FileRepo.Create` meets a duplicate key: without a subscription
/// `POST /files` is a 402 `{}`, even a retry of a registration that went
/// through.
#[tokio::test]
async fn post_files_answers_402_without_a_subscription_even_for_a_retry() {
    let server = two_users(|_| {}).await;
    let collection = server.create_collection().await;
    let file = server.upload_single(&bytes(500, 1)).await;
    let thumb = server.upload_single(&bytes(50, 1)).await;
    let registered = server.upload_single(&bytes(600, 2)).await;
    let registered_thumb = server.upload_single(&bytes(60, 2)).await;
    let (status, _) = server
        .create_file(collection, (&registered, 600), (&registered_thumb, 60))
        .await;
    assert_eq!(status, StatusCode::OK);
    call_as(
        &server,
        "alice",
        Method::PUT,
        "/admin/subscription",
        Some(json!({ "expired": true })),
    )
    .await;
    for (file, thumb) in [
        ((&file, 500), (&thumb, 50)),
        ((&registered, 600), (&registered_thumb, 60)),
    ] {
        let (status, err) = server
            .create_file(collection, (file.0, file.1), (thumb.0, thumb.1))
            .await;
        assert_eq!((status, err), (StatusCode::PAYMENT_REQUIRED, json!({})));
    }
}

/// `pkg/controller/file.go` `sizeOf`: HEAD up to three times, 500 ms then
/// 1 s apart; then `Create` answers `ente.ErrObjSizeFetchFailed`
/// (`ente/errors.go`): 503 `{"code":"OBJECT_SIZE_FETCH_FAILED","message":""}`.
/// Never a 400 "object not found".
#[tokio::test]
async fn post_files_for_a_missing_object_heads_it_three_times_then_answers_503() {
    let server = two_users(|c| c.object_check_retry_ms = 500).await;
    let collection = server.create_collection().await;
    let thumb = server.upload_single(&bytes(50, 1)).await;
    let (_, urls) = server.get("/files/upload-urls?count=1").await;
    let never_uploaded = urls["urls"][0]["objectKey"].as_str().unwrap().to_owned();
    let heads_before = server.get("/admin/requests").await.1["counts"]["s3:HeadObject"]
        .as_u64()
        .unwrap_or(0);
    let started = Instant::now();
    let (status, err) = server
        .create_file(collection, (&never_uploaded, 500), (&thumb, 50))
        .await;
    let took = started.elapsed();
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(err["code"], "OBJECT_SIZE_FETCH_FAILED");
    assert!(err["message"].is_string());
    assert_eq!(
        err.as_object().unwrap().len(),
        2,
        "{{code, message}}: {err}"
    );
    assert!(
        took >= Duration::from_millis(1_500),
        "0.5 s and 1 s between the tries: {took:?}"
    );
    let heads = server.get("/admin/requests").await.1["counts"]["s3:HeadObject"]
        .as_u64()
        .unwrap();
    // Three for the missing object, one for the thumbnail that is there.
    assert_eq!(heads - heads_before, 4);
    // A key of the right user but a path-like shape is just not there.
    let (status, err) = server
        .create_file(collection, ("1/../../etc/passwd", 5), (&thumb, 50))
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(err["code"], "OBJECT_SIZE_FETCH_FAILED");
}

/// `pkg/utils/handler/handler.go` `BindJSON` is gin's `ShouldBindJSON`:
/// the body is read as JSON whatever the `Content-Type`, or without one.
#[tokio::test]
async fn post_files_and_collections_need_no_content_type() {
    let server = TestServer::start().await;
    let created = server
        .client
        .post(server.url("/collections"))
        .header("X-Auth-Token", &server.token)
        .header("Content-Type", "text/plain")
        .body(
            json!({"encryptedKey": b64(&[1; 48]), "keyDecryptionNonce": b64(&[2; 24]), "type": "album"})
                .to_string(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::OK);
    let collection = created.json::<Value>().await.unwrap()["collection"]["id"]
        .as_i64()
        .unwrap();
    let file = server.upload_single(&bytes(300, 1)).await;
    let thumb = server.upload_single(&bytes(30, 1)).await;
    let response = server
        .client
        .post(server.url("/files"))
        .header("X-Auth-Token", &server.token)
        .body(file_body(collection, (&file, 300), (&thumb, 30)).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    // A body that is not JSON is a bind error: 400 `{}`.
    let response = server
        .client
        .post(server.url("/files"))
        .header("X-Auth-Token", &server.token)
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(response.json::<Value>().await.unwrap(), json!({}));
}

/// `pkg/controller/file.go` `Create`: `file.File.Size != 0 && file.File.Size
/// != fileSize` is `ErrBadRequest`; a size of 0 is not compared, and the
/// stored size is what the record then says.
#[tokio::test]
async fn post_files_compares_reported_sizes_only_when_not_zero() {
    let server = TestServer::start().await;
    let collection = server.create_collection().await;
    let file = server.upload_single(&bytes(1_234, 1)).await;
    let thumb = server.upload_single(&bytes(56, 1)).await;
    let (status, err) = server
        .create_file(collection, (&file, 1_000), (&thumb, 56))
        .await;
    assert_eq!((status, err), (StatusCode::BAD_REQUEST, json!({})));
    let (status, err) = server
        .create_file(collection, (&file, 1_234), (&thumb, 57))
        .await;
    assert_eq!((status, err), (StatusCode::BAD_REQUEST, json!({})));
    let (status, record) = server
        .create_file(collection, (&file, 0), (&thumb, 0))
        .await;
    assert_eq!(status, StatusCode::OK, "{record}");
    assert_eq!(record["file"]["size"], 1_234);
    assert_eq!(record["thumbnail"]["size"], 56);
    assert_eq!(
        record["info"],
        json!({ "fileSize": 1_234, "thumbSize": 56 })
    );
}

/// `pkg/controller/file.go` `onDuplicateObjectDetected`: object keys that
/// already belong to a file return that file only if both object keys,
/// sizes and headers, the metadata and the owner all match (the collection
/// and the wrapped key are not compared); anything else is 400 `{}`, never
/// a 409.
#[tokio::test]
async fn a_retried_post_files_returns_the_same_file_only_if_everything_matches() {
    let server = TestServer::start().await;
    let collection = server.create_collection().await;
    let other_collection = server.create_collection().await;
    let file = server.upload_single(&bytes(700, 1)).await;
    let thumb = server.upload_single(&bytes(70, 1)).await;
    let body = file_body(collection, (&file, 700), (&thumb, 70));
    let (_, first) = server.post("/files", body.clone()).await;
    let id = first["id"].as_i64().unwrap();

    let (status, again) = server.post("/files", body.clone()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(again["id"], id);
    let mut zero_sizes = body.clone();
    zero_sizes["file"]["size"] = json!(0);
    zero_sizes["thumbnail"]["size"] = json!(0);
    let (status, again) = server.post("/files", zero_sizes).await;
    assert_eq!((status, again["id"].as_i64()), (StatusCode::OK, Some(id)));
    let mut elsewhere = body.clone();
    elsewhere["collectionID"] = json!(other_collection);
    elsewhere["encryptedKey"] = json!(b64(&[9; 48]));
    let (status, again) = server.post("/files", elsewhere).await;
    assert_eq!(
        (status, again["id"].as_i64()),
        (StatusCode::OK, Some(id)),
        "museum compares neither the collection nor the wrapped key"
    );

    let changes: [(&str, &str, Value); 4] = [
        ("metadata", "encryptedData", json!(b64(b"other metadata"))),
        ("metadata", "decryptionHeader", json!(b64(&[1; 24]))),
        ("file", "decryptionHeader", json!(b64(&[2; 24]))),
        ("thumbnail", "decryptionHeader", json!(b64(&[3; 24]))),
    ];
    for (object, member, value) in changes {
        let mut changed = body.clone();
        changed[object][member] = value;
        let (status, err) = server.post("/files", changed).await;
        assert_eq!(
            (status, err),
            (StatusCode::BAD_REQUEST, json!({})),
            "{object}.{member}"
        );
    }
    // One key reused with a new other one: also another file's objects.
    let new_thumb = server.upload_single(&bytes(70, 2)).await;
    let (status, err) = server
        .create_file(collection, (&file, 700), (&new_thumb, 70))
        .await;
    assert_eq!((status, err), (StatusCode::BAD_REQUEST, json!({})));
    assert_eq!(ids(&diff(&server, collection, 0).await), vec![id]);
}

/// `pkg/controller/file.go` `validateFileCreateOrUpdateReq`: keys must
/// start with `<user id>/` (else 400 `{}`), the collection must exist
/// (404 `{}`) and be the caller's (403 `{}`, `ErrPermissionDenied`).
#[tokio::test]
async fn post_files_refuses_foreign_keys_with_400_and_foreign_collections_with_403() {
    let server = two_users(|_| {}).await;
    let alices = server.create_collection().await;
    let bob_upload = |bytes: Vec<u8>| async {
        let (_, _, urls) = call_as(
            &server,
            "bob",
            Method::GET,
            "/files/upload-urls?count=1",
            None,
        )
        .await;
        let entry = urls["urls"][0].clone();
        server
            .client
            .put(entry["url"].as_str().unwrap())
            .body(bytes)
            .send()
            .await
            .unwrap();
        entry["objectKey"].as_str().unwrap().to_owned()
    };
    let bob_file = bob_upload(bytes(40, 1)).await;
    let bob_thumb = bob_upload(bytes(4, 1)).await;
    let (status, _, err) = call_as(
        &server,
        "bob",
        Method::POST,
        "/files",
        Some(file_body(alices, (&bob_file, 40), (&bob_thumb, 4))),
    )
    .await;
    assert_eq!((status, err), (StatusCode::FORBIDDEN, json!({})));

    let alice_thumb = server.upload_single(&bytes(4, 2)).await;
    let (status, err) = server
        .create_file(alices, (&bob_file, 40), (&alice_thumb, 4))
        .await;
    assert_eq!((status, err), (StatusCode::BAD_REQUEST, json!({})));
    let (status, err) = server
        .create_file(alices + 50, (&bob_file, 40), (&alice_thumb, 4))
        .await;
    assert_eq!(
        (status, err),
        (StatusCode::BAD_REQUEST, json!({})),
        "the keys are checked before the collection"
    );
    let alice_file = server.upload_single(&bytes(40, 3)).await;
    let (status, err) = server
        .create_file(alices + 50, (&alice_file, 40), (&alice_thumb, 4))
        .await;
    assert_eq!((status, err), (StatusCode::NOT_FOUND, json!({})));
    let mut no_header = file_body(alices, (&alice_file, 40), (&alice_thumb, 4));
    no_header["metadata"]
        .as_object_mut()
        .unwrap()
        .remove("decryptionHeader");
    let (status, err) = server.post("/files", no_header).await;
    assert_eq!((status, err), (StatusCode::BAD_REQUEST, json!({})));
}

/// `pkg/utils/handler/handler.go` `Error` and `pkg/middleware/auth.go`
/// `TokenAuthMiddleware`: `{"error": …}` from the middleware, `{}` for
/// plain errors, the token also from `?token=` (`auth.GetToken`).
#[tokio::test]
async fn error_bodies_and_tokens_are_museums() {
    let server = two_users(|_| {}).await;
    let response = server
        .client
        .get(server.url("/collections"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({ "error": "missing token" })
    );
    let (status, _, body) = call_as(&server, "nobody", Method::GET, "/collections", None).await;
    assert_eq!(
        (status, body),
        (
            StatusCode::UNAUTHORIZED,
            json!({ "error": "invalid token" })
        )
    );
    let response = server
        .client
        .get(server.url("/collections/v2?token=bob"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let (status, body) = server.get("/files/download/12345").await;
    assert_eq!((status, body), (StatusCode::NOT_FOUND, json!({})));
}

/// `pkg/middleware/rate_limit.go`: 429 `{"error": "Rate limit breached,
/// try later"}` and no `Retry-After` (a fault rule adds one only when it
/// sets `retryAfterSecs`).
#[tokio::test]
async fn throttling_answers_429_with_museums_body_and_no_retry_after() {
    let server = two_users(|_| {}).await;
    let rules = |extra: Value| {
        let mut rule = json!({ "route": "GET /files/upload-urls", "throttleRate": 1.0 });
        rule.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        json!({ "rules": [rule] })
    };
    call_as(
        &server,
        "alice",
        Method::PUT,
        "/admin/faults",
        Some(rules(json!({}))),
    )
    .await;
    let (status, headers, body) = call_as(
        &server,
        "alice",
        Method::GET,
        "/files/upload-urls?count=1",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(body, json!({ "error": "Rate limit breached, try later" }));
    assert!(headers.get("retry-after").is_none());
    call_as(
        &server,
        "alice",
        Method::PUT,
        "/admin/faults",
        Some(rules(json!({ "retryAfterSecs": 3 }))),
    )
    .await;
    let (_, headers, _) = call_as(
        &server,
        "alice",
        Method::GET,
        "/files/upload-urls?count=1",
        None,
    )
    .await;
    assert_eq!(headers["retry-after"], "3");
}

/// `pkg/controller/collections/key_validation.go`
/// `validateOwnedCollectionKey`: `encryptedKey` must decode to exactly 48
/// bytes and `keyDecryptionNonce` to 24, else a plain error (500 `{}`);
/// `ente.Collection` binding requires `encryptedKey`, `keyDecryptionNonce`
/// and `type` (400 `{}`); `pkg/api/collection.go` `Create` answers
/// `{"collection": …}`.
#[tokio::test]
async fn post_collections_needs_a_48_byte_key_and_a_24_byte_nonce() {
    let server = TestServer::start().await;
    let body = |key: &[u8], nonce: &[u8]| json!({ "encryptedKey": b64(key), "keyDecryptionNonce": b64(nonce), "type": "album" });
    for (key, nonce) in [
        (&[1u8; 32][..], &[2u8; 24][..]),
        (&[1; 49], &[2; 24]),
        (&[1; 48], &[2; 12]),
        (&[1; 48], &[2; 25]),
    ] {
        let (status, err) = server.post("/collections", body(key, nonce)).await;
        assert_eq!(
            (status, err),
            (StatusCode::INTERNAL_SERVER_ERROR, json!({})),
            "{} and {}",
            key.len(),
            nonce.len()
        );
    }
    let mut not_base64 = body(&[1; 48], &[2; 24]);
    not_base64["encryptedKey"] = json!("not base64!");
    assert_eq!(
        server.post("/collections", not_base64).await.0,
        StatusCode::INTERNAL_SERVER_ERROR
    );
    let mut no_type = body(&[1; 48], &[2; 24]);
    no_type.as_object_mut().unwrap().remove("type");
    assert_eq!(
        server.post("/collections", no_type).await,
        (StatusCode::BAD_REQUEST, json!({}))
    );
    let mut bad_type = body(&[1; 48], &[2; 24]);
    bad_type["type"] = json!("shelf");
    assert_eq!(
        server.post("/collections", bad_type).await.0,
        StatusCode::INTERNAL_SERVER_ERROR
    );
    let mut old_client = body(&[1; 48], &[2; 24]);
    old_client["type"] = json!("CollectionType.album");
    let (status, created) = server.post("/collections", old_client).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(created["collection"]["type"], "album");
    assert!(created["collection"]["id"].is_i64());
    assert_eq!(created["collection"]["encryptedKey"], b64(&[1; 48]));
    // Listed by both GET /collections and GET /collections/v2.
    for path in ["/collections", "/collections/v2?sinceTime=0"] {
        let (status, list) = server.get(path).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(list["collections"][0]["id"], created["collection"]["id"]);
    }
}

/// `pkg/api/file.go` `Get` / `GetThumbnail`: a 307 to a presigned GET of
/// the object (`getHotDcSignedUrl`); another user's file is 403 `{}`
/// (`GetAccessibleObjectWithDCs`), an unknown or malformed id 404 `{}`.
#[tokio::test]
async fn downloads_and_previews_redirect_307_to_the_store() {
    let server = two_users(|_| {}).await;
    let collection = server.create_collection().await;
    let file = bytes(5_000, 4);
    let thumb = bytes(60, 4);
    let file_key = server.upload_single(&file).await;
    let thumb_key = server.upload_single(&thumb).await;
    let (_, record) = server
        .create_file(collection, (&file_key, 5_000), (&thumb_key, 60))
        .await;
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    for (kind, expected) in [("download", &file), ("preview", &thumb)] {
        let response = no_redirects
            .get(server.url(&format!("/files/{kind}/{}", record["id"])))
            .header("X-Auth-Token", "alice")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::TEMPORARY_REDIRECT, "{kind}");
        let location = response.headers()["location"].to_str().unwrap().to_owned();
        assert!(
            location.starts_with(&server.running.s3_url),
            "{kind}: {location}"
        );
        assert!(location.contains("X-Amz-Signature"), "{location}");
        // The presigned URL alone fetches it, from another origin (CORS).
        let fetched = no_redirects
            .get(&location)
            .header("Origin", "http://app.example")
            .send()
            .await
            .unwrap();
        assert_eq!(fetched.status(), StatusCode::OK);
        assert_eq!(
            fetched.headers()["access-control-allow-origin"],
            "http://app.example"
        );
        assert_eq!(&fetched.bytes().await.unwrap().to_vec(), expected, "{kind}");
    }
    let (status, _, body) = call_as(
        &server,
        "bob",
        Method::GET,
        &format!("/files/download/{}", record["id"]),
        None,
    )
    .await;
    assert_eq!((status, body), (StatusCode::FORBIDDEN, json!({})));
    for path in ["/files/download/999999", "/files/preview/abc"] {
        let (status, body) = server.get(path).await;
        assert_eq!((status, body), (StatusCode::NOT_FOUND, json!({})), "{path}");
    }
}

/// `pkg/repo/collection.go` `GetDiff` with `pkg/repo/file.go`
/// `convertRowsToFiles`: diff records carry `file` and `thumbnail` as
/// `{decryptionHeader, size: 0}` with no `objectKey` (`omitempty` in
/// `ente/file.go`); the sizes are in `info`.
#[tokio::test]
async fn diff_records_carry_no_object_keys_and_size_zero() {
    let server = TestServer::start().await;
    let collection = server.create_collection().await;
    let record = upload_file(&server, collection, 7).await;
    assert!(
        record["file"]["objectKey"].is_string(),
        "POST /files has them"
    );
    let page = diff(&server, collection, 0).await;
    let listed = &page["diff"][0];
    assert_eq!(listed["id"], record["id"]);
    assert_eq!(
        listed["file"],
        json!({ "decryptionHeader": b64(&[6; 24]), "size": 0 })
    );
    assert_eq!(
        listed["thumbnail"],
        json!({ "decryptionHeader": b64(&[7; 24]), "size": 0 })
    );
    assert_eq!(listed["metadata"]["size"], 0);
    assert_eq!(listed["metadata"]["encryptedData"], b64(b"sealed metadata"));
    assert_eq!(
        listed["info"],
        json!({ "fileSize": 2_007, "thumbSize": 100 })
    );
    assert_eq!(listed["isDeleted"], false);
    assert_eq!(listed["collectionID"], collection);
    assert!(listed["collectionOwnerID"].is_i64());
    assert_eq!(page["hasMore"], false);
}

/// `pkg/controller/collections/files_diff.go` `getDiff` and
/// `removeFilesWithVersion` (`CollectionDiffLimit`): a page reads
/// `limit + 1`, leaves every record of the last one's time for the next
/// page, and when all share one time returns all of them
/// (`GetFilesWithVersion`); one `updationTime` is never split.
#[tokio::test]
async fn diff_pages_never_split_one_updation_time() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(&dir);
    cfg.diff_page_size = 2;
    let server = TestServer::start_with(dir, cfg).await;
    let collection = server.create_collection().await;
    let mut files = Vec::new();
    for seed in 0..5 {
        files.push(
            upload_file(&server, collection, seed).await["id"]
                .as_i64()
                .unwrap(),
        );
    }
    // Trashing three in one request gives them one updationTime.
    let items: Vec<Value> = files[2..]
        .iter()
        .map(|id| json!({ "fileID": id, "collectionID": collection }))
        .collect();
    let (status, _) = server.post("/files/trash", json!({ "items": items })).await;
    assert_eq!(status, StatusCode::OK);

    let first = diff(&server, collection, 0).await;
    assert_eq!(ids(&first), files[..2].to_vec());
    assert_eq!(first["hasMore"], true);
    let since = first["diff"][1]["updationTime"].as_i64().unwrap();
    let second = diff(&server, collection, since).await;
    assert_eq!(
        ids(&second),
        files[2..].to_vec(),
        "three records of one time, though the page size is two"
    );
    assert_eq!(second["hasMore"], true);
    let times: Vec<i64> = second["diff"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["updationTime"].as_i64().unwrap())
        .collect();
    assert!(times.iter().all(|t| *t == times[0]));
    let third = diff(&server, collection, times[0]).await;
    assert_eq!((ids(&third), &third["hasMore"]), (vec![], &json!(false)));

    // A page can also hold fewer than the limit: [a, T, T] with limit 2
    // leaves only a.
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(&dir);
    cfg.diff_page_size = 2;
    let server = TestServer::start_with(dir, cfg).await;
    let collection = server.create_collection().await;
    let mut files = Vec::new();
    for seed in 0..3 {
        files.push(
            upload_file(&server, collection, seed).await["id"]
                .as_i64()
                .unwrap(),
        );
    }
    let items: Vec<Value> = files[1..]
        .iter()
        .map(|id| json!({ "fileID": id, "collectionID": collection }))
        .collect();
    server.post("/files/trash", json!({ "items": items })).await;
    let page = diff(&server, collection, 0).await;
    assert_eq!(
        (ids(&page), &page["hasMore"]),
        (vec![files[0]], &json!(true))
    );
}

/// `pkg/api/file.go` `Trash` → `pkg/controller/file.go` `Trash` →
/// `pkg/repo/trash.go` `TrashFiles`: `POST /files/trash
/// {"items": [{"fileID", "collectionID"}]}` marks the file removed with a
/// new `updationTime`; the collection's diff then carries it as
/// `isDeleted: true` (`pkg/controller/collections/files_diff.go`), with
/// its old key and metadata, and the collection's `updationTime` moves.
#[tokio::test]
async fn trashed_files_come_back_in_the_diff_as_removal_markers() {
    let server = two_users(|_| {}).await;
    let collection = server.create_collection().await;
    let kept = upload_file(&server, collection, 1).await;
    let trashed = upload_file(&server, collection, 2).await;
    let before = diff(&server, collection, 0).await;
    let since = before["diff"][1]["updationTime"].as_i64().unwrap();
    let (_, listed) = server.get("/collections").await;
    let collection_time = listed["collections"][0]["updationTime"].as_i64().unwrap();

    let item = json!({ "fileID": trashed["id"], "collectionID": collection });
    for (body, status) in [
        (json!({ "items": [item, item] }), StatusCode::BAD_REQUEST),
        (
            json!({ "items": [{ "fileID": trashed["id"] }] }),
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({ "items": [{ "fileID": 999_999, "collectionID": collection }] }),
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({ "items": [{ "fileID": trashed["id"], "collectionID": 999_999 }] }),
            StatusCode::NOT_FOUND,
        ),
        (json!({ "items": [] }), StatusCode::BAD_REQUEST),
        (json!({}), StatusCode::BAD_REQUEST),
    ] {
        let (got, err) = server.post("/files/trash", body.clone()).await;
        assert_eq!((got, err), (status, json!({})), "{body}");
    }
    let (status, _, err) = call_as(
        &server,
        "bob",
        Method::POST,
        "/files/trash",
        Some(json!({ "items": [item] })),
    )
    .await;
    assert_eq!((status, err), (StatusCode::FORBIDDEN, json!({})));
    assert_eq!(diff(&server, collection, since).await["diff"], json!([]));

    let (status, body) = server
        .post("/files/trash", json!({ "items": [item] }))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let after = diff(&server, collection, since).await;
    assert_eq!(ids(&after), vec![trashed["id"].as_i64().unwrap()]);
    let marker = &after["diff"][0];
    assert_eq!(marker["isDeleted"], true);
    assert!(marker["updationTime"].as_i64().unwrap() > since);
    assert_eq!(marker["encryptedKey"], trashed["encryptedKey"]);
    assert_eq!(marker["metadata"]["encryptedData"], b64(b"sealed metadata"));
    let full = diff(&server, collection, 0).await;
    assert_eq!(
        ids(&full),
        vec![
            kept["id"].as_i64().unwrap(),
            trashed["id"].as_i64().unwrap()
        ],
        "one record per file: the marker replaces the file's record"
    );
    let (_, listed) = server.get("/collections").await;
    assert!(listed["collections"][0]["updationTime"].as_i64().unwrap() > collection_time);
}

/// The embedded store refuses a PUT to an object key that a registered
/// file uses (403 `AccessDenied`, as an expired URL): a device replaying an
/// old presigned URL after a power loss cannot overwrite a file's bytes.
/// museum cannot stop this on a real bucket and instead reverts the newest
/// object version when it notices (`pkg/controller/file.go`
/// `onExistingObjectsReplaced`).
#[tokio::test]
async fn a_registered_files_objects_cannot_be_overwritten_through_an_old_url() {
    let server = TestServer::start().await;
    let collection = server.create_collection().await;
    let (_, urls) = server.get("/files/upload-urls?count=2").await;
    let (file, thumb) = (&urls["urls"][0], &urls["urls"][1]);
    let put = |url: &Value, bytes: Vec<u8>| {
        server
            .client
            .put(url["url"].as_str().unwrap())
            .body(bytes)
            .send()
    };
    // Before registration the store behaves as S3: a PUT replaces.
    assert_eq!(
        put(file, bytes(900, 1)).await.unwrap().status(),
        StatusCode::OK
    );
    assert_eq!(
        put(file, bytes(800, 2)).await.unwrap().status(),
        StatusCode::OK
    );
    assert_eq!(
        put(thumb, bytes(80, 2)).await.unwrap().status(),
        StatusCode::OK
    );
    let (status, record) = server
        .create_file(
            collection,
            (file["objectKey"].as_str().unwrap(), 800),
            (thumb["objectKey"].as_str().unwrap(), 80),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{record}");

    for (url, size) in [(file, 800), (thumb, 80)] {
        let response = put(url, bytes(size, 3)).await.unwrap();
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        assert!(response.text().await.unwrap().contains("AccessDenied"));
    }
    assert_eq!(
        server.download("download", &record["id"]).await,
        bytes(800, 2)
    );
    assert_eq!(
        server.download("preview", &record["id"]).await,
        bytes(80, 2)
    );
}
