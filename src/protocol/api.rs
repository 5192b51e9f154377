//! Requests to the Ente-compatible API and parsers for its answers (DESIGN.md
//! section 4). Wire names live here and nowhere else.

use serde::{Deserialize, Serialize};

use super::http::{HttpRequest, HttpResponse, Method};

/// Where the API is and who is calling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub base_url: String,
    pub token: String,
}

/// A response that is not what the API promises.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtocolError(pub String);

impl std::fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "unexpected server response: {}", self.0)
    }
}

impl Endpoint {
    fn request(&self, method: Method, path: &str) -> HttpRequest {
        HttpRequest::new(
            method,
            format!("{}{path}", self.base_url.trim_end_matches('/')),
        )
        .header("X-Auth-Token", self.token.clone())
    }

    fn json<T: Serialize>(&self, path: &str, body: &T) -> HttpRequest {
        self.request(Method::Post, path)
            .header("Content-Type", "application/json")
            .body(serde_json::to_vec(body).unwrap_or_default())
    }

    pub fn upload_urls(&self, count: u32) -> HttpRequest {
        self.request(Method::Get, &format!("/files/upload-urls?count={count}"))
    }

    pub fn multipart_upload_urls(&self, parts: u32) -> HttpRequest {
        self.request(
            Method::Get,
            &format!("/files/multipart-upload-urls?count={parts}"),
        )
    }

    pub fn create_file(&self, file: &NewFile) -> HttpRequest {
        self.json("/files", file)
    }

    pub fn diff(&self, collection_id: i64, since_time: i64) -> HttpRequest {
        self.request(
            Method::Get,
            &format!("/collections/v2/diff?collectionID={collection_id}&sinceTime={since_time}"),
        )
    }
}

fn parse<'a, T: Deserialize<'a>>(
    response: &'a HttpResponse,
    what: &str,
) -> Result<T, ProtocolError> {
    serde_json::from_slice(&response.body).map_err(|e| ProtocolError(format!("{what}: {e}")))
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UploadUrl {
    pub object_key: String,
    pub url: String,
}

pub fn parse_upload_urls(response: &HttpResponse) -> Result<Vec<UploadUrl>, ProtocolError> {
    #[derive(Deserialize)]
    struct Body {
        urls: Vec<UploadUrl>,
    }
    Ok(parse::<Body>(response, "upload URLs")?.urls)
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MultipartUrls {
    pub object_key: String,
    #[serde(rename = "partURLs")]
    pub part_urls: Vec<String>,
    #[serde(rename = "completeURL")]
    pub complete_url: String,
}

pub fn parse_multipart_urls(
    response: &HttpResponse,
    parts: u32,
) -> Result<MultipartUrls, ProtocolError> {
    #[derive(Deserialize)]
    struct Body {
        urls: MultipartUrls,
    }
    let urls = parse::<Body>(response, "multipart URLs")?.urls;
    if urls.part_urls.len() != parts as usize {
        return Err(ProtocolError(format!(
            "asked for {parts} part URLs, got {}",
            urls.part_urls.len()
        )));
    }
    Ok(urls)
}

/// A presigned PUT of an object or a part.
pub fn put(url: &str, body: Vec<u8>) -> HttpRequest {
    HttpRequest::new(Method::Put, url).body(body)
}

/// The ETag of a PUT, required to complete a multipart upload.
pub fn parse_etag(response: &HttpResponse) -> Result<String, ProtocolError> {
    response
        .header("etag")
        .map(str::to_owned)
        .ok_or_else(|| ProtocolError("no ETag on an upload (is it exposed by CORS?)".into()))
}

/// CompleteMultipartUpload with each part's ETag, as S3 expects it.
pub fn complete_multipart(url: &str, etags: &[String]) -> HttpRequest {
    let mut xml = String::from("<CompleteMultipartUpload>");
    for (i, etag) in etags.iter().enumerate() {
        let quoted = if etag.starts_with('"') {
            etag.clone()
        } else {
            format!("\"{etag}\"")
        };
        xml.push_str(&format!(
            "<Part><PartNumber>{}</PartNumber><ETag>{quoted}</ETag></Part>",
            i + 1
        ));
    }
    xml.push_str("</CompleteMultipartUpload>");
    HttpRequest::new(Method::Post, url)
        .header("Content-Type", "text/xml")
        .body(xml.into_bytes())
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectRef {
    pub object_key: String,
    pub decryption_header: String,
    pub size: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SealedMetadata {
    pub encrypted_data: String,
    pub decryption_header: String,
}

/// The body of `POST /files`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewFile {
    #[serde(rename = "collectionID")]
    pub collection_id: i64,
    pub encrypted_key: String,
    pub key_decryption_nonce: String,
    pub file: ObjectRef,
    pub thumbnail: ObjectRef,
    pub metadata: SealedMetadata,
}

/// The parts of a file record Ferry reads back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FileRecord {
    pub id: i64,
    #[serde(rename = "collectionID")]
    pub collection_id: i64,
    pub encrypted_key: String,
    pub key_decryption_nonce: String,
    pub file: ObjectRef,
    pub metadata: SealedMetadata,
    pub updation_time: i64,
}

pub fn parse_file_record(response: &HttpResponse) -> Result<FileRecord, ProtocolError> {
    parse(response, "file record")
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Diff {
    pub diff: Vec<FileRecord>,
    pub has_more: bool,
}

pub fn parse_diff(response: &HttpResponse) -> Result<Diff, ProtocolError> {
    parse(response, "collection diff")
}

/// What goes inside the encrypted metadata (times in microseconds).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FileMetadata {
    pub file_type: u8,
    pub title: String,
    pub creation_time: i64,
    pub modification_time: i64,
    /// BLAKE2b-512 of the plaintext, standard base64.
    pub hash: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(body: &str, headers: &[(&str, &str)]) -> HttpResponse {
        HttpResponse {
            status: 200,
            headers: headers
                .iter()
                .map(|(n, v)| ((*n).into(), (*v).into()))
                .collect(),
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn requests_carry_the_token_and_wire_names() {
        let api = Endpoint {
            base_url: "http://api.test/".into(),
            token: "t0k".into(),
        };
        let request = api.multipart_upload_urls(3);
        assert_eq!(
            request.url,
            "http://api.test/files/multipart-upload-urls?count=3"
        );
        assert!(
            request
                .headers
                .contains(&("X-Auth-Token".into(), "t0k".into()))
        );
        let body = NewFile {
            collection_id: 7,
            encrypted_key: "k".into(),
            key_decryption_nonce: "n".into(),
            file: ObjectRef {
                object_key: "1/a".into(),
                decryption_header: "h".into(),
                size: 10,
            },
            thumbnail: ObjectRef {
                object_key: "1/b".into(),
                decryption_header: "h2".into(),
                size: 2,
            },
            metadata: SealedMetadata {
                encrypted_data: "m".into(),
                decryption_header: "h3".into(),
            },
        };
        let json: serde_json::Value = serde_json::from_slice(&api.create_file(&body).body).unwrap();
        assert_eq!(json["collectionID"], 7);
        assert_eq!(json["file"]["objectKey"], "1/a");
        assert_eq!(json["keyDecryptionNonce"], "n");
        assert_eq!(json["metadata"]["encryptedData"], "m");
    }

    #[test]
    fn parsers_accept_the_documented_shapes_and_refuse_others() {
        let urls = parse_upload_urls(&ok(
            r#"{"urls":[{"objectKey":"1/x","url":"http://s3/x"}]}"#,
            &[],
        ))
        .unwrap();
        assert_eq!(urls[0].object_key, "1/x");
        let multipart = r#"{"urls":{"objectKey":"1/y","partURLs":["p1","p2"],"completeURL":"c"}}"#;
        assert_eq!(
            parse_multipart_urls(&ok(multipart, &[]), 2)
                .unwrap()
                .part_urls
                .len(),
            2
        );
        assert!(parse_multipart_urls(&ok(multipart, &[]), 3).is_err());
        assert!(parse_upload_urls(&ok("{}", &[])).is_err());
        assert_eq!(
            parse_etag(&ok("", &[("ETag", "\"abc\"")])).unwrap(),
            "\"abc\""
        );
        assert!(parse_etag(&ok("", &[])).is_err());
    }

    #[test]
    fn complete_xml_lists_parts_in_order_with_quoted_etags() {
        let request = complete_multipart("http://s3/c", &["\"a\"".into(), "b".into()]);
        assert_eq!(
            String::from_utf8(request.body).unwrap(),
            "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>\"a\"</ETag></Part>\
             <Part><PartNumber>2</PartNumber><ETag>\"b\"</ETag></Part></CompleteMultipartUpload>"
        );
    }
}
