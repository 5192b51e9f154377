//! Every API endpoint over real HTTP, with uploads through real presigned
//! S3 URLs into the embedded store.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::cast_possible_truncation
)]

mod common;

use common::*;
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn single_put_upload_records_lists_and_downloads() {
    let server = TestServer::start().await;
    let collection = server.create_collection().await;
    let file = bytes(100_000, 1);
    let thumb = bytes(5_000, 2);
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
    assert_eq!(record["file"]["objectKey"], file_key.as_str());
    assert_eq!(record["collectionID"], collection);
    assert_eq!(record["metadata"]["encryptedData"], b64(b"sealed metadata"));
    let id = record["id"].as_i64().unwrap();

    assert_eq!(server.download("download", &record["id"]).await, file);
    assert_eq!(server.download("preview", &record["id"]).await, thumb);

    let (status, diff) = server
        .get(&format!(
            "/collections/v2/diff?collectionID={collection}&sinceTime=0"
        ))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(diff["diff"].as_array().unwrap().len(), 1);
    assert_eq!(diff["diff"][0]["id"], id);
    assert_eq!(diff["hasMore"], false);
    let since = diff["diff"][0]["updationTime"].as_i64().unwrap();
    let (_, later) = server
        .get(&format!(
            "/collections/v2/diff?collectionID={collection}&sinceTime={since}"
        ))
        .await;
    assert!(later["diff"].as_array().unwrap().is_empty());

    let (status, _) = server.get("/files/download/999").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn multipart_upload_through_presigned_urls_round_trips() {
    let server = TestServer::start().await;
    let collection = server.create_collection().await;
    let file = bytes(11 * MIB + 123, 3);
    let file_key = server.upload_multipart(&file, 5 * MIB).await;
    let thumb = bytes(1000, 4);
    let thumb_key = server.upload_single(&thumb).await;
    let (status, record) = server
        .create_file(
            collection,
            (&file_key, file.len()),
            (&thumb_key, thumb.len()),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{record}");
    assert_eq!(server.download("download", &record["id"]).await, file);
}

#[tokio::test]
async fn post_files_is_idempotent_for_the_same_object_keys() {
    let server = TestServer::start().await;
    let collection = server.create_collection().await;
    let file_key = server.upload_single(&bytes(300, 5)).await;
    let thumb_key = server.upload_single(&bytes(30, 6)).await;
    let body = file_body(collection, (&file_key, 300), (&thumb_key, 30));

    // A retry after a lost response, and a burst of concurrent retries.
    let (s1, first) = server.post("/files", body.clone()).await;
    let (s2, second) = server.post("/files", body.clone()).await;
    assert_eq!((s1, s2), (StatusCode::OK, StatusCode::OK));
    assert_eq!(first, second);
    let burst = (0..6).map(|_| server.post("/files", body.clone()));
    for (status, record) in futures_util::future::join_all(burst).await {
        assert_eq!(status, StatusCode::OK);
        assert_eq!(record["id"], first["id"]);
    }
    let (_, diff) = server
        .get(&format!(
            "/collections/v2/diff?collectionID={collection}&sinceTime=0"
        ))
        .await;
    assert_eq!(
        diff["diff"].as_array().unwrap().len(),
        1,
        "one file, not several"
    );

    // The same objects under other attributes are refused (museum's
    // onDuplicateObjectDetected), with its plain 400.
    let mut other = body.clone();
    other["metadata"]["encryptedData"] = json!(b64(b"other metadata"));
    let (status, err) = server.post("/files", other).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(err, json!({}));
}

#[tokio::test]
async fn diff_pages_in_updation_order() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(&dir);
    config.diff_page_size = 2;
    let server = TestServer::start_with(dir, config).await;
    let collection = server.create_collection().await;
    let mut ids = Vec::new();
    for i in 0..5u8 {
        let f = server.upload_single(&bytes(10 + usize::from(i), i)).await;
        let t = server.upload_single(&bytes(5, i)).await;
        let (_, record) = server
            .create_file(collection, (&f, 10 + usize::from(i)), (&t, 5))
            .await;
        ids.push(record["id"].as_i64().unwrap());
    }
    let mut seen = Vec::new();
    let mut since = 0;
    let mut pages = 0;
    loop {
        let (_, page) = server
            .get(&format!(
                "/collections/v2/diff?collectionID={collection}&sinceTime={since}"
            ))
            .await;
        pages += 1;
        let files = page["diff"].as_array().unwrap();
        assert!(files.len() <= 2);
        for f in files {
            seen.push(f["id"].as_i64().unwrap());
            since = f["updationTime"].as_i64().unwrap();
        }
        if page["hasMore"] == false {
            break;
        }
    }
    assert_eq!(seen, ids);
    assert_eq!(pages, 3);
}

#[tokio::test]
async fn collections_are_created_listed_and_private() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(&dir);
    config.tokens = vec!["alice-token".into(), "bob-token".into()];
    let server = TestServer::start_with(dir, config).await;
    assert_eq!(server.token, "alice-token");
    let first = server.create_collection().await;
    let (_, all) = server.get("/collections?sinceTime=0").await;
    let listed = all["collections"].as_array().unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["id"], first);
    assert_eq!(listed[0]["type"], "album");
    assert!(listed[0]["owner"]["id"].is_number());
    let since = listed[0]["updationTime"].as_i64().unwrap();
    let second = server.create_collection().await;
    let (_, newer) = server.get(&format!("/collections?sinceTime={since}")).await;
    assert_eq!(newer["collections"].as_array().unwrap().len(), 1);
    assert_eq!(newer["collections"][0]["id"], second);

    // Bob sees none of Alice's albums, files or objects.
    let bob = |method: Method, path: &str| {
        server
            .client
            .request(method, server.url(path))
            .header("X-Auth-Token", "bob-token")
    };
    let list: serde_json::Value = bob(Method::GET, "/collections")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(list["collections"].as_array().unwrap().is_empty());
    let diff = bob(
        Method::GET,
        &format!("/collections/v2/diff?collectionID={first}"),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(diff.status(), StatusCode::NOT_FOUND);
    let alices_object = server.upload_single(b"alice").await;
    let response = bob(Method::POST, "/files")
        .json(&file_body(first, (&alices_object, 5), (&alices_object, 5)))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::BAD_REQUEST,
        "another user's object key, and the same one twice"
    );
    let thumb = server.upload_single(b"thumb").await;
    let bob_collection: serde_json::Value = bob(Method::POST, "/collections")
        .json(&json!({
            "encryptedKey": b64(&[1; 48]), "keyDecryptionNonce": b64(&[2; 24]),
            "encryptedName": b64(b"bob"), "nameDecryptionNonce": b64(&[3; 24]), "type": "album",
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let response = bob(Method::POST, "/files")
        .json(&file_body(
            bob_collection["collection"]["id"].as_i64().unwrap(),
            (&alices_object, 5),
            (&thumb, 5),
        ))
        .send()
        .await
        .unwrap();
    // museum checks the `<user id>/` prefix: another user's key is a 400 `{}`.
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let err: serde_json::Value = response.json().await.unwrap();
    assert_eq!(err, json!({}));
}

#[tokio::test]
async fn every_endpoint_requires_a_known_token() {
    let server = TestServer::start().await;
    let endpoints = [
        (Method::GET, "/files/upload-urls?count=1"),
        (Method::GET, "/files/multipart-upload-urls?count=2"),
        (Method::POST, "/files"),
        (Method::GET, "/files/download/1"),
        (Method::GET, "/files/preview/1"),
        (Method::POST, "/files/trash"),
        (Method::POST, "/collections"),
        (Method::GET, "/collections?sinceTime=0"),
        (Method::GET, "/collections/v2?sinceTime=0"),
        (
            Method::GET,
            "/collections/v2/diff?collectionID=1&sinceTime=0",
        ),
    ];
    for (method, path) in endpoints {
        for (token, said) in [
            (None, "missing token"),
            (Some("wrong-token"), "invalid token"),
        ] {
            let mut request = server.client.request(method.clone(), server.url(path));
            if let Some(token) = token {
                request = request.header("X-Auth-Token", token);
            }
            let response = request.json(&json!({})).send().await.unwrap();
            assert_eq!(
                response.status(),
                StatusCode::UNAUTHORIZED,
                "{method} {path}"
            );
            let body: serde_json::Value = response.json().await.unwrap();
            assert_eq!(
                body,
                json!({ "error": said }),
                "museum's TokenAuthMiddleware"
            );
        }
    }
}

#[tokio::test]
async fn quota_and_file_size_limits() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(&dir);
    config.quota_bytes = 2_000;
    config.max_file_size = 1_500;
    let server = TestServer::start_with(dir, config).await;
    let collection = server.create_collection().await;

    let too_big = server.upload_single(&bytes(1_600, 1)).await;
    let thumb = server.upload_single(&bytes(10, 1)).await;
    let (status, err) = server
        .create_file(collection, (&too_big, 1_600), (&thumb, 10))
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(err, json!({}), "museum's ErrFileTooLarge");

    let first = server.upload_single(&bytes(1_200, 2)).await;
    let (status, _) = server
        .create_file(collection, (&first, 1_200), (&thumb, 10))
        .await;
    assert_eq!(status, StatusCode::OK);
    let second = server.upload_single(&bytes(1_000, 3)).await;
    let thumb2 = server.upload_single(&bytes(10, 3)).await;
    let (status, err) = server
        .create_file(collection, (&second, 1_000), (&thumb2, 10))
        .await;
    assert_eq!(status, StatusCode::UPGRADE_REQUIRED);
    assert_eq!(err, json!({}), "museum's ErrStorageLimitExceeded");
    // Under the quota, URLs are still handed out (museum refuses them only
    // once the usage is over it).
    let (status, _) = server.get("/files/upload-urls?count=1").await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn reported_sizes_and_objects_are_checked_against_the_store() {
    let server = TestServer::start().await;
    let collection = server.create_collection().await;
    let file = server.upload_single(&bytes(1000, 1)).await;
    let thumb = server.upload_single(&bytes(10, 1)).await;
    let (status, err) = server
        .create_file(collection, (&file, 999), (&thumb, 10))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(err, json!({}));

    // A key handed out but never uploaded to.
    let (_, urls) = server.get("/files/upload-urls?count=1").await;
    let never = urls["urls"][0]["objectKey"].as_str().unwrap().to_owned();
    let (status, err) = server
        .create_file(collection, (&never, 10), (&thumb, 10))
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(err["code"], "OBJECT_SIZE_FETCH_FAILED");

    let (status, err) = server
        .create_file(collection + 100, (&file, 1000), (&thumb, 10))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(err, json!({}));

    let (status, record) = server
        .create_file(collection, (&file, 1000), (&thumb, 10))
        .await;
    assert_eq!(status, StatusCode::OK, "{record}");
}
