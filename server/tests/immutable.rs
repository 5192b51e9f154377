//! A registered file's objects are immutable in the embedded store, through
//! every way to write an object key, with URLs that are still valid
//! (presigned URLs live for days): otherwise a client could store more than
//! the quota check at `POST /files` saw, or replace a file's bytes.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::cast_possible_truncation
)]

mod common;

use common::*;
use reqwest::StatusCode;

async fn assert_access_denied(response: reqwest::Response, what: &str) {
    let status = response.status();
    let body = response.text().await.unwrap();
    assert_eq!(status, StatusCode::FORBIDDEN, "{what}: {body}");
    assert!(body.contains("AccessDenied"), "{what}: {body}");
}

#[tokio::test]
async fn every_way_to_write_a_registered_files_objects_is_refused() {
    let server = TestServer::start().await;
    let signer = StoreSigner::new(&server);
    let client = &server.client;
    let collection = server.create_collection().await;

    // The file through a multipart upload, the thumbnail through a PUT.
    let file = bytes(6 * MIB + 1, 1);
    let file_urls = server.multipart_urls(2).await;
    let file_key = file_urls["objectKey"].as_str().unwrap().to_owned();
    let etags = server.put_parts(&file_urls, &file, 5 * MIB).await;
    let complete_url = file_urls["completeURL"].as_str().unwrap();
    let (status, body) = complete(client, complete_url, &etags).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, thumb_urls) = server.get("/files/upload-urls?count=1").await;
    let thumb_url = thumb_urls["urls"][0]["url"].as_str().unwrap().to_owned();
    let thumb_key = thumb_urls["urls"][0]["objectKey"]
        .as_str()
        .unwrap()
        .to_owned();
    let thumb = bytes(700, 2);
    let response = client
        .put(&thumb_url)
        .body(thumb.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);

    // Uploads for both keys made before the registration, with a part each.
    let mut early = Vec::new();
    for key in [&file_key, &thumb_key] {
        let upload_id = signer.start_multipart(client, key).await.unwrap();
        let etag = put_part(client, &signer.part(key, &upload_id, 1), &bytes(5 * MIB, 3)).await;
        early.push((key.clone(), upload_id, etag));
    }

    let registration = file_body(
        collection,
        (&file_key, file.len()),
        (&thumb_key, thumb.len()),
    );
    let (status, record) = server.post("/files", registration.clone()).await;
    assert_eq!(status, StatusCode::OK, "{record}");
    let on_disk = server.disk_snapshot();

    let bigger = bytes(9 * MIB, 4);
    for key in [&file_key, &thumb_key] {
        // A single PUT, with a URL as valid as the ones handed out.
        let response = client
            .put(signer.put(key))
            .body(bigger.clone())
            .send()
            .await
            .unwrap();
        assert_access_denied(response, &format!("PUT {key}")).await;
        // A multipart upload started after the registration.
        let (status, body) = signer.start_multipart(client, key).await.unwrap_err();
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
        assert!(body.contains("AccessDenied"), "{body}");
        // A DELETE.
        let response = client.delete(signer.delete(key)).send().await.unwrap();
        assert_access_denied(response, &format!("DELETE {key}")).await;
    }
    // The thumbnail's own URL.
    let response = client
        .put(&thumb_url)
        .body(bigger.clone())
        .send()
        .await
        .unwrap();
    assert_access_denied(response, "PUT through the thumbnail's URL").await;
    // The uploads started before: another part, and a Complete of the
    // part they have.
    for (key, upload_id, etag) in &early {
        let response = client
            .put(signer.part(key, upload_id, 2))
            .body(bigger.clone())
            .send()
            .await
            .unwrap();
        assert_access_denied(response, &format!("UploadPart {key}")).await;
        let url = signer.complete(key, upload_id);
        let (status, body) = complete(client, &url, std::slice::from_ref(etag)).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "Complete {key}: {body}");
        assert!(body.contains("AccessDenied"), "{body}");
    }
    // The file's own upload is finished: its part URLs find no upload, and
    // its Complete repeated is answered from the record, writing nothing.
    let response = client
        .put(file_urls["partURLs"][1].as_str().unwrap())
        .body(bigger.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert!(response.text().await.unwrap().contains("NoSuchUpload"));
    let (status, body) = complete(client, complete_url, &etags).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Nothing changed: the bytes on disk, what downloads return, and the
    // sizes the server finds when the registration is sent again (a larger
    // object would make it a 400, and count against the quota).
    assert_eq!(server.disk_snapshot(), on_disk);
    assert!(server.download("download", &record["id"]).await == file);
    assert!(server.download("preview", &record["id"]).await == thumb);
    let (status, again) = server.post("/files", registration).await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["id"], record["id"]);
    assert_eq!(again["file"]["size"], file.len());
    assert_eq!(again["thumbnail"]["size"], thumb.len());
}

/// A registration that starts while a PUT to one of its objects is still
/// sending meets 503 `OBJECT_SIZE_FETCH_FAILED` (the object is not there
/// yet) rather than recording the size of an object about to be replaced.
#[tokio::test]
async fn a_registration_during_a_put_to_its_object_waits_for_the_upload() {
    use tokio::io::AsyncWriteExt;
    let server = TestServer::start().await;
    let collection = server.create_collection().await;
    let (_, urls) = server.get("/files/upload-urls?count=1").await;
    let url = urls["urls"][0]["url"].as_str().unwrap().to_owned();
    let key = urls["urls"][0]["objectKey"].as_str().unwrap().to_owned();
    let small = bytes(100, 5);
    let response = server
        .client
        .put(&url)
        .body(small.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let thumb = server.upload_single(b"t").await;

    // A larger PUT to the same key, half sent.
    let larger = bytes(2 * MIB, 6);
    let (mut stream, rest) = start_put(&url, &larger).await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let (status, body) = server.create_file(collection, (&key, 0), (&thumb, 1)).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["code"], "OBJECT_SIZE_FETCH_FAILED");

    // The PUT ends; the registration sent again records the larger object.
    stream.write_all(rest).await.unwrap();
    let mut answer = Vec::new();
    tokio::io::AsyncReadExt::read_to_end(&mut stream, &mut answer)
        .await
        .unwrap();
    assert!(
        answer.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
    let (status, record) = server.create_file(collection, (&key, 0), (&thumb, 1)).await;
    assert_eq!(status, StatusCode::OK, "{record}");
    assert_eq!(record["file"]["size"], larger.len());
    assert!(server.download("download", &record["id"]).await == larger);
}

/// While a registration looks at its objects (here for long: the
/// thumbnail is missing, so it HEADs it three times), a PUT to the file's
/// object is refused: what it checks is what it keeps.
#[tokio::test]
async fn a_put_during_a_registration_of_its_object_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(&dir);
    config.object_check_retry_ms = 400;
    let server = TestServer::start_with(dir, config).await;
    let collection = server.create_collection().await;
    let (_, urls) = server.get("/files/upload-urls?count=2").await;
    let (file, thumb) = (&urls["urls"][0], &urls["urls"][1]);
    let file_url = file["url"].as_str().unwrap();
    let response = server
        .client
        .put(file_url)
        .body(bytes(100, 7))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);

    let registration = server.create_file(
        collection,
        (file["objectKey"].as_str().unwrap(), 100),
        (thumb["objectKey"].as_str().unwrap(), 1),
    );
    let put_meanwhile = async {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        server
            .client
            .put(file_url)
            .body(bytes(MIB, 8))
            .send()
            .await
            .unwrap()
    };
    let ((status, body), refused) = tokio::join!(registration, put_meanwhile);
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_access_denied(refused, "PUT during the registration").await;

    // Once the registration is over (it failed), the key is writable again.
    let response = server
        .client
        .put(file_url)
        .body(bytes(MIB, 8))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

/// Sends the head and the first half of a PUT of `body` over a raw
/// connection; returns the connection and the half not sent.
async fn start_put<'a>(url: &str, body: &'a [u8]) -> (tokio::net::TcpStream, &'a [u8]) {
    use tokio::io::AsyncWriteExt;
    let parsed = url::Url::parse(url).unwrap();
    let host = format!("{}:{}", parsed.host_str().unwrap(), parsed.port().unwrap());
    let head = format!(
        "PUT {} HTTP/1.1\r\nHost: {host}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        &parsed[url::Position::BeforePath..],
        body.len()
    );
    let mut stream = tokio::net::TcpStream::connect(&host).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    let (first, rest) = body.split_at(body.len() / 2);
    stream.write_all(first).await.unwrap();
    stream.flush().await.unwrap();
    (stream, rest)
}
