//! The embedded store as a browser and an S3 client see it: CORS, SigV4
//! presigned URLs that refuse tampering and expiry, and a CompleteMultipart
//! that neither accepts bogus parts nor loses an upload on a failed attempt
//! or on a client that gives up mid-request.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::cast_possible_truncation
)]

mod common;

use common::*;
use reqwest::StatusCode;

#[tokio::test]
async fn cors_preflight_from_another_origin_and_a_readable_etag() {
    let server = TestServer::start().await;
    let origin = "http://app.example.test:5173";

    let (preflight, put) = preflight_and_put(&server, origin).await;
    assert!(preflight.status().is_success(), "{}", preflight.status());
    let h = preflight.headers();
    assert_eq!(h["access-control-allow-origin"], origin);
    assert!(
        h["access-control-allow-methods"]
            .to_str()
            .unwrap()
            .contains("PUT")
    );
    assert!(
        h["access-control-allow-headers"]
            .to_str()
            .unwrap()
            .contains("content-type")
    );

    assert_eq!(put.status(), StatusCode::OK);
    assert_eq!(put.headers()["access-control-allow-origin"], origin);
    let exposed = put.headers()["access-control-expose-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    assert!(
        exposed.contains("etag"),
        "ETag must be readable cross-origin: {exposed}"
    );
    assert!(put.headers().contains_key("etag"));

    // The API answers cross-origin too, auth header included.
    let api_preflight = server
        .client
        .request(reqwest::Method::OPTIONS, server.url("/files"))
        .header("Origin", origin)
        .header("Access-Control-Request-Method", "POST")
        .header(
            "Access-Control-Request-Headers",
            "x-auth-token,content-type",
        )
        .send()
        .await
        .unwrap();
    assert!(api_preflight.status().is_success());
    assert!(
        api_preflight.headers()["access-control-allow-headers"]
            .to_str()
            .unwrap()
            .contains("x-auth-token")
    );
}

#[tokio::test]
async fn tampered_wrong_method_and_foreign_urls_are_refused() {
    let server = TestServer::start().await;
    let (_, urls) = server.get("/files/upload-urls?count=1").await;
    let url = urls["urls"][0]["url"].as_str().unwrap().to_owned();
    let key = urls["urls"][0]["objectKey"].as_str().unwrap().to_owned();

    // Another object key under the same signature.
    let other_key = url.replace(&key, "1/BBBBBBBBBBBBBBBBBBBBBBBB");
    // A changed signature.
    let sig_at = url.find("X-Amz-Signature=").unwrap() + "X-Amz-Signature=".len();
    let mut bad_sig = url.clone().into_bytes();
    bad_sig[sig_at] = if bad_sig[sig_at] == b'0' { b'1' } else { b'0' };
    let bad_sig = String::from_utf8(bad_sig).unwrap();
    // A longer lifetime than was signed.
    let longer = url.replace("X-Amz-Expires=604800", "X-Amz-Expires=604801");

    for tampered in [other_key, bad_sig, longer] {
        let response = server.client.put(&tampered).body("x").send().await.unwrap();
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{tampered}");
    }
    // The signature covers the method: a GET with a PUT URL is refused.
    let response = server.client.get(&url).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    // No signature at all.
    let bare = url.split('?').next().unwrap();
    let response = server.client.put(bare).body("x").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    // And the genuine URL still works.
    let response = server.client.put(&url).body("x").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn expired_urls_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(&dir);
    config.url_expiry_secs = 1;
    let server = TestServer::start_with(dir, config).await;
    let (_, urls) = server.get("/files/upload-urls?count=1").await;
    let url = urls["urls"][0]["url"].as_str().unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let response = server.client.put(url).body("late").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
}

async fn three_parts(server: &TestServer) -> (serde_json::Value, Vec<String>, Vec<u8>) {
    let data = bytes(10 * MIB + 7, 9);
    let urls = server.multipart_urls(3).await;
    let etags = server.put_parts(&urls, &data, 5 * MIB).await;
    (urls, etags, data)
}

#[tokio::test]
async fn bogus_etags_are_refused_and_the_upload_survives_to_complete() {
    let server = TestServer::start().await;
    let (urls, etags, _) = three_parts(&server).await;
    let complete_url = urls["completeURL"].as_str().unwrap();

    let mut bogus = etags.clone();
    bogus[1] = "\"00000000000000000000000000000000\"".into();
    let (status, body) = complete(&server.client, complete_url, &bogus).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.contains("InvalidPart"), "{body}");

    let (status, body) = complete(&server.client, complete_url, &etags[..2]).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "two valid parts may complete: {body}"
    );
}

#[tokio::test]
async fn a_failed_complete_keeps_the_upload_and_a_retry_succeeds() {
    let server = TestServer::start().await;
    let (urls, etags, data) = three_parts(&server).await;
    let complete_url = urls["completeURL"].as_str().unwrap();
    let part_urls = urls["partURLs"].as_array().unwrap();

    // Replace part 2 with one under 5 MiB: Complete must refuse it...
    let small = put_part(&server.client, part_urls[1].as_str().unwrap(), b"too small").await;
    let with_small = vec![etags[0].clone(), small, etags[2].clone()];
    let (status, body) = complete(&server.client, complete_url, &with_small).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("EntityTooSmall"), "{body}");

    // ...without losing the upload: re-send the part, then complete.
    let again = put_part(
        &server.client,
        part_urls[1].as_str().unwrap(),
        &data[5 * MIB..10 * MIB],
    )
    .await;
    assert_eq!(again, etags[1]);
    let (status, body) = complete(&server.client, complete_url, &etags).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let etag = body
        .split("<ETag>")
        .nth(1)
        .unwrap()
        .split("</ETag>")
        .next()
        .unwrap()
        .to_owned();

    // A repeated Complete (its response was lost) succeeds with the same ETag.
    let (status, repeat) = complete(&server.client, complete_url, &etags).await;
    assert_eq!(status, StatusCode::OK, "{repeat}");
    assert!(repeat.contains(&etag), "{repeat}");
    // But not with other parts.
    let (status, _) = complete(&server.client, complete_url, &etags[..1]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let collection = server.create_collection().await;
    let thumb = server.upload_single(b"t").await;
    let key = urls["objectKey"].as_str().unwrap();
    let (status, _) = server
        .create_file(collection, (key, data.len()), (&thumb, 1))
        .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn a_completed_upload_reads_back_whole_with_its_multipart_etag_and_no_part_is_left() {
    use md5::{Digest, Md5};
    let server = TestServer::start().await;
    let (urls, etags, data) = three_parts(&server).await;
    let (status, body) = server.complete_upload(&urls, &etags).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // S3's multipart ETag: the MD5 of the parts' MD5s, then the count.
    let mut whole = Md5::new();
    for part in data.chunks(5 * MIB) {
        whole.update(Md5::digest(part));
    }
    let expected = format!("\"{}-3\"", hex::encode(whole.finalize()));
    assert!(body.contains(&expected), "{body}");

    let signer = StoreSigner::new(&server);
    let key = urls["objectKey"].as_str().unwrap();
    let object = server.client.get(signer.get(key)).send().await.unwrap();
    assert_eq!(object.status(), StatusCode::OK);
    assert_eq!(object.headers()["etag"].to_str().unwrap(), expected);
    assert!(
        object.bytes().await.unwrap() == data,
        "the object is the parts in order"
    );

    // Completed with two of its three parts: the third is discarded.
    let (urls, etags, _) = three_parts(&server).await;
    let (status, body) = server.complete_upload(&urls, &etags[..2]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let left: Vec<_> = server
        .disk_snapshot()
        .into_iter()
        .filter(|(name, _)| {
            name.contains(".upload") || name.starts_with(".tmp.") || name.starts_with(".ferry-etag")
        })
        .collect();
    assert!(left.is_empty(), "an upload's records outlived it: {left:?}");
}

#[tokio::test]
async fn a_missing_part_is_invalid_part_not_a_server_error() {
    let server = TestServer::start().await;
    let urls = server.multipart_urls(3).await;
    let part_urls = urls["partURLs"].as_array().unwrap();
    let first = put_part(
        &server.client,
        part_urls[0].as_str().unwrap(),
        &bytes(5 * MIB, 1),
    )
    .await;
    let third = put_part(&server.client, part_urls[2].as_str().unwrap(), b"end").await;
    let claimed = vec![first, third.clone(), third];
    let (status, body) = server.complete_upload(&urls, &claimed).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.contains("InvalidPart"), "{body}");
}

#[tokio::test]
async fn a_complete_the_client_gives_up_on_still_finishes_and_its_retry_succeeds() {
    // A page reloaded mid-Complete closes its connection. The store must
    // not stop half-way (upload id deleted, object unwritten): the retry
    // would meet NoSuchUpload and the file could never be finished.
    let server = TestServer::start().await;
    let collection = server.create_collection().await;
    for cut_after_ms in [1, 3, 10, 30, 100] {
        let thumb = server.upload_single(b"t").await;
        let data = bytes(20 * MIB + 11, cut_after_ms as u8);
        let urls = server.multipart_urls(5).await;
        let etags = server.put_parts(&urls, &data, 5 * MIB).await;
        let complete_url = urls["completeURL"].as_str().unwrap();
        let impatient = server
            .client
            .post(complete_url)
            .header("Content-Type", "text/xml")
            .body(complete_xml(&etags))
            .timeout(std::time::Duration::from_millis(cut_after_ms))
            .send()
            .await;
        drop(impatient);

        let (status, body) = complete(&server.client, complete_url, &etags).await;
        assert_eq!(
            status,
            StatusCode::OK,
            "cut after {cut_after_ms} ms, the retry got {body}"
        );
        let key = urls["objectKey"].as_str().unwrap();
        let (status, body) = server
            .create_file(collection, (key, data.len()), (&thumb, 1))
            .await;
        assert_eq!(
            status,
            StatusCode::OK,
            "cut after {cut_after_ms} ms: {body}"
        );
    }
}

#[tokio::test]
async fn an_aborted_upload_answers_no_such_upload_and_a_completed_one_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(&dir);
    config.admin = true;
    let server = TestServer::start_with(dir, config).await;
    let abort_all = || async {
        let (status, body) = server
            .call(reqwest::Method::POST, "/admin/abort-uploads", None)
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["aborted"].as_u64().unwrap()
    };

    // One upload left half-done, one completed but not yet a file.
    let (unfinished, etags, _) = three_parts(&server).await;
    let done = server.multipart_urls(1).await;
    let done_etag = put_part(
        &server.client,
        done["partURLs"][0].as_str().unwrap(),
        b"whole",
    )
    .await;
    let (status, _) = complete(
        &server.client,
        done["completeURL"].as_str().unwrap(),
        std::slice::from_ref(&done_etag),
    )
    .await;
    assert_eq!(status, StatusCode::OK);

    assert_eq!(
        abort_all().await,
        1,
        "only the unfinished upload is aborted"
    );
    assert_eq!(abort_all().await, 0, "nothing is left to abort");

    let part_url = unfinished["partURLs"][0].as_str().unwrap();
    let response = server
        .client
        .put(part_url)
        .body(bytes(5 * MIB, 1))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert!(response.text().await.unwrap().contains("NoSuchUpload"));
    let (status, body) = complete(
        &server.client,
        unfinished["completeURL"].as_str().unwrap(),
        &etags,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert!(body.contains("NoSuchUpload"), "{body}");

    // The completed object survived the abort and can become a file.
    let collection = server.create_collection().await;
    let thumb = server.upload_single(b"t").await;
    let key = done["objectKey"].as_str().unwrap();
    let (status, body) = server.create_file(collection, (key, 5), (&thumb, 1)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// A preflight for a PUT from another origin, and the PUT itself.
async fn preflight_and_put(
    server: &TestServer,
    origin: &str,
) -> (reqwest::Response, reqwest::Response) {
    let (_, urls) = server.get("/files/upload-urls?count=1").await;
    let url = urls["urls"][0]["url"].as_str().unwrap();
    let preflight = server
        .client
        .request(reqwest::Method::OPTIONS, url)
        .header("Origin", origin)
        .header("Access-Control-Request-Method", "PUT")
        .header("Access-Control-Request-Headers", "content-type")
        .send()
        .await
        .unwrap();
    let put = server
        .client
        .put(url)
        .header("Origin", origin)
        .body(b"hello".to_vec())
        .send()
        .await
        .unwrap();
    (preflight, put)
}

fn cors_headers(response: &reqwest::Response) -> Vec<String> {
    response
        .headers()
        .keys()
        .map(|name| name.as_str().to_owned())
        .filter(|name| name.starts_with("access-control-"))
        .collect()
}

async fn server_with_cors(cors: ferry_server::config::S3Cors) -> TestServer {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(&dir);
    config.s3_cors = cors;
    TestServer::start_with(dir, config).await
}

#[tokio::test]
async fn a_store_without_cors_sends_no_cors_headers_and_refuses_preflights() {
    let server = server_with_cors(ferry_server::config::S3Cors::None).await;
    let origin = "http://app.example.test:5173";
    let (preflight, put) = preflight_and_put(&server, origin).await;
    assert_eq!(preflight.status(), StatusCode::FORBIDDEN);
    assert_eq!(cors_headers(&preflight), Vec::<String>::new());
    assert!(
        preflight
            .text()
            .await
            .unwrap()
            .contains("CORS is not enabled")
    );
    // A request a browser would not let through is still served: the
    // bytes arrive, the page cannot read the answer.
    assert_eq!(put.status(), StatusCode::OK);
    assert_eq!(cors_headers(&put), Vec::<String>::new());
    assert!(put.headers().contains_key("etag"));

    // The API keeps its CORS.
    let api = server
        .client
        .get(server.url("/collections"))
        .header("X-Auth-Token", &server.token)
        .header("Origin", origin)
        .send()
        .await
        .unwrap();
    assert_eq!(api.headers()["access-control-allow-origin"], origin);
}

#[tokio::test]
async fn a_store_can_allow_cors_but_hide_the_etag() {
    let server = server_with_cors(ferry_server::config::S3Cors::NoEtag).await;
    let origin = "http://app.example.test:5173";
    let (preflight, put) = preflight_and_put(&server, origin).await;
    assert!(preflight.status().is_success(), "{}", preflight.status());
    assert_eq!(preflight.headers()["access-control-allow-origin"], origin);
    assert!(
        preflight.headers()["access-control-allow-methods"]
            .to_str()
            .unwrap()
            .contains("PUT")
    );
    assert_eq!(put.status(), StatusCode::OK);
    assert_eq!(put.headers()["access-control-allow-origin"], origin);
    assert!(put.headers().contains_key("etag"), "the header is sent...");
    let exposed = put.headers()["access-control-expose-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    assert!(!exposed.contains("etag"), "...but not readable: {exposed}");
    assert!(exposed.contains("retry-after"), "{exposed}");
}

#[test]
fn the_cors_option_parses_and_defaults_to_full() {
    use clap::Parser;
    use ferry_server::config::S3Cors;
    let parse = |args: &[&str]| {
        ferry_server::Config::try_parse_from(["ferry-server"].iter().chain(args)).map(|c| c.s3_cors)
    };
    assert_eq!(parse(&[]).unwrap(), S3Cors::Full);
    assert_eq!(parse(&["--s3-cors", "none"]).unwrap(), S3Cors::None);
    assert_eq!(parse(&["--s3-cors", "no-etag"]).unwrap(), S3Cors::NoEtag);
    assert_eq!(parse(&["--s3-cors", "full"]).unwrap(), S3Cors::Full);
    assert!(parse(&["--s3-cors", "some"]).is_err());
}
