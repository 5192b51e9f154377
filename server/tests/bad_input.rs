//! With `--strict`, bad input gets a 4xx with a JSON `{code, message}`
//! (museum's own refusals keep museum's `{}`), and changes nothing on disk
//! or in the records.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::cast_possible_truncation
)]

mod common;

use common::*;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

async fn state(server: &TestServer, collection: i64) -> (Vec<(String, u64)>, Value, Value) {
    let (_, collections) = server.get("/collections?sinceTime=0").await;
    let (_, diff) = server
        .get(&format!(
            "/collections/v2/diff?collectionID={collection}&sinceTime=0"
        ))
        .await;
    (server.disk_snapshot(), collections, diff)
}

async fn raw(
    server: &TestServer,
    method: Method,
    path: &str,
    content_type: &str,
    body: Vec<u8>,
) -> (StatusCode, Value) {
    let response = server
        .client
        .request(method, server.url(path))
        .header("X-Auth-Token", &server.token)
        .header("Content-Type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn bad_requests_are_refused_with_json_and_change_nothing() {
    let server = TestServer::start_strict().await;
    let collection = server.create_collection().await;
    let file = server.upload_single(&bytes(100, 1)).await;
    let thumb = server.upload_single(&bytes(10, 1)).await;
    let before = state(&server, collection).await;

    let good = file_body(collection, (&file, 100), (&thumb, 10));
    let with = |path: &[&str], value: Value| {
        let mut body = good.clone();
        let mut slot = &mut body;
        for (i, key) in path.iter().enumerate() {
            if i + 1 == path.len() {
                slot[*key] = value.clone();
            } else {
                slot = &mut slot[*key];
            }
        }
        body
    };
    let without = |key: &str| {
        let mut body = good.clone();
        body.as_object_mut().unwrap().remove(key);
        body
    };
    let json_cases: Vec<(&str, Value, StatusCode, &str)> = vec![
        (
            "missing field",
            without("metadata"),
            StatusCode::BAD_REQUEST,
            "INVALID_FIELD",
        ),
        (
            "wrong type",
            with(&["file", "size"], json!("big")),
            StatusCode::BAD_REQUEST,
            "INVALID_FIELD",
        ),
        (
            "negative size",
            with(&["file", "size"], json!(-1)),
            StatusCode::BAD_REQUEST,
            "INVALID_FIELD",
        ),
        (
            "size of another object",
            with(&["file", "size"], json!(0)),
            StatusCode::BAD_REQUEST,
            "SIZE_MISMATCH",
        ),
        (
            "a key never handed out",
            with(
                &["file", "objectKey"],
                json!(format!(
                    "{}AAAAAAAAAAAAAAAAAAAA",
                    &file[..file.find('/').unwrap() + 1]
                )),
            ),
            StatusCode::BAD_REQUEST,
            "UNKNOWN_OBJECT",
        ),
        (
            "not base64",
            with(&["encryptedKey"], json!("%%%")),
            StatusCode::BAD_REQUEST,
            "INVALID_FIELD",
        ),
        (
            "huge key",
            with(&["encryptedKey"], json!(b64(&[0; 4096]))),
            StatusCode::BAD_REQUEST,
            "INVALID_FIELD",
        ),
        (
            "huge metadata",
            with(
                &["metadata", "encryptedData"],
                json!(b64(&vec![0; 300 * 1024])),
            ),
            StatusCode::BAD_REQUEST,
            "INVALID_FIELD",
        ),
        (
            "dot-dot key",
            with(&["file", "objectKey"], json!("1/../../etc/passwd")),
            StatusCode::BAD_REQUEST,
            "INVALID_OBJECT_KEY",
        ),
        (
            "absolute key",
            with(&["file", "objectKey"], json!("/etc/passwd")),
            StatusCode::BAD_REQUEST,
            "INVALID_OBJECT_KEY",
        ),
        (
            "bucket escape",
            with(&["thumbnail", "objectKey"], json!("../other-bucket/x")),
            StatusCode::BAD_REQUEST,
            "INVALID_OBJECT_KEY",
        ),
    ];
    for (what, body, status, code) in json_cases {
        let (got, err) = server.post("/files", body).await;
        assert_eq!(got, status, "{what}: {err}");
        assert_eq!(err["code"], code, "{what}: {err}");
        assert!(err["message"].as_str().unwrap().len() > 5, "{what}");
    }
    // museum's own refusal keeps museum's body.
    let (status, err) = server
        .post("/files", with(&["collectionID"], json!(987_654)))
        .await;
    assert_eq!((status, err), (StatusCode::NOT_FOUND, json!({})));

    let bad_collection = json!({
        "encryptedKey": b64(&[1; 48]), "keyDecryptionNonce": b64(&[2; 24]),
        "encryptedName": b64(&[0; 8192]), "nameDecryptionNonce": b64(&[3; 24]), "type": "album",
    });
    let (status, err) = server.post("/collections", bad_collection).await;
    assert_eq!(
        (status, err["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("INVALID_FIELD"))
    );
    let mut wrong_type = json!({
        "encryptedKey": b64(&[1; 48]), "keyDecryptionNonce": b64(&[2; 24]),
        "encryptedName": b64(b"n"), "nameDecryptionNonce": b64(&[3; 24]), "type": "bogus",
    });
    let (status, _) = server.post("/collections", wrong_type.clone()).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "as museum");
    wrong_type["type"] = json!(null);
    let (status, _) = server.post("/collections", wrong_type).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let raw_cases: Vec<(&str, &str, Vec<u8>, StatusCode, &str)> = vec![
        (
            "malformed",
            "application/json",
            b"{\"collectionID\": ".to_vec(),
            StatusCode::BAD_REQUEST,
            "BAD_JSON",
        ),
        (
            "not json",
            "application/json",
            b"\xff\xfe garbage".to_vec(),
            StatusCode::BAD_REQUEST,
            "BAD_JSON",
        ),
        (
            "no content type",
            "text/plain",
            serde_json::to_vec(&good).unwrap(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UNSUPPORTED_MEDIA_TYPE",
        ),
        (
            "oversized",
            "application/json",
            vec![b' '; 2 * MIB],
            StatusCode::PAYLOAD_TOO_LARGE,
            "PAYLOAD_TOO_LARGE",
        ),
    ];
    for (what, content_type, body, status, code) in raw_cases {
        let (got, err) = raw(&server, Method::POST, "/files", content_type, body).await;
        assert_eq!(got, status, "{what}: {err}");
        assert_eq!(err["code"], code, "{what}: {err}");
    }

    let query_cases = [
        "/files/upload-urls",
        "/files/upload-urls?count=0",
        "/files/upload-urls?count=51",
        "/files/upload-urls?count=-1",
        "/files/upload-urls?count=abc",
        "/files/upload-urls?count=99999999999999999999",
        "/files/multipart-upload-urls?count=0",
        "/files/multipart-upload-urls?count=10001",
        "/collections/v2/diff?sinceTime=0",
        "/collections/v2/diff?collectionID=abc",
        "/collections/v2/diff?collectionID=1&sinceTime=-5",
        "/collections?sinceTime=yesterday",
        "/files/download/abc",
    ];
    for path in query_cases {
        let (status, err) = server.get(path).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {err}");
        assert!(err["code"].is_string(), "{path}: {err}");
    }

    assert_eq!(
        state(&server, collection).await,
        before,
        "bad input changed something"
    );
    // Nothing was half-written: the good request still succeeds afterwards.
    let (status, _) = server.post("/files", good).await;
    assert_eq!(status, StatusCode::OK);
}
