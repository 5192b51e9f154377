//! The server's answers, as the engine reads them: a status (`u16` LE), a
//! part count, a few headers (`name_len: u8, name, value_len: u8, value`),
//! then the body, through every parser of `protocol::api`, the failure
//! classifiers (error bodies in JSON or S3's XML, `Retry-After`), and the
//! metadata reader. The body is also read as base64 (headers, nonces and
//! keys come as base64), held against the maintained `base64` crate.
#![no_main]

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ferry_fuzz::Input;
use ferry_sync::crypto::{from_base64, to_base64};
use ferry_sync::protocol::api::{
    FileMetadata, parse_diff, parse_etag, parse_file_record, parse_multipart_urls,
    parse_upload_urls,
};
use ferry_sync::protocol::{HttpResponse, Peer, classify, classify_registration};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut input = Input::new(data);
    let status = input.u16();
    let parts = u32::from(input.u8());
    let headers = (0..input.u8() % 4)
        .map(|_| {
            let name = input.short_field();
            let name = String::from_utf8_lossy(name).to_ascii_lowercase();
            let value = input.short_field();
            (name, String::from_utf8_lossy(value).into_owned())
        })
        .collect();
    let response = HttpResponse {
        status,
        headers,
        body: input.rest().to_vec(),
    };

    if let Ok(urls) = parse_upload_urls(&response) {
        assert!(urls.len() * 2 <= response.body.len());
    }
    if let Ok(urls) = parse_multipart_urls(&response, parts) {
        assert_eq!(urls.part_urls.len(), parts as usize);
    }
    let _ = parse_etag(&response);
    let _ = parse_file_record(&response);
    if let Ok(diff) = parse_diff(&response) {
        if let Some(last) = diff.last_time {
            assert!(diff.diff.iter().all(|r| r.updation_time <= last));
        }
    }
    if let Ok(metadata) = FileMetadata::from_json(&response.body)
        && from_base64(&metadata.hash).is_ok()
    {
        // What was read writes out and reads back the same (the writer
        // takes the hash to be base64, as Ferry's own always is).
        assert_eq!(FileMetadata::from_json(&metadata.to_json()), Ok(metadata));
    }
    for peer in [Peer::Api, Peer::ObjectStore] {
        let failure = classify(&response, peer);
        assert_eq!(failure.is_none(), (200..300).contains(&status));
    }
    let _ = classify_registration(&response, None);
    let _ = classify_registration(&response, Some("OBJECT_SIZE_FETCH_FAILED: earlier"));

    if let Ok(text) = std::str::from_utf8(&response.body) {
        let ours = from_base64(text).ok();
        assert_eq!(ours, STANDARD.decode(text).ok(), "{text:?}");
        if let Some(bytes) = ours {
            assert_eq!(to_base64(&bytes), text);
        }
    }
});
