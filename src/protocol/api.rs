//! Requests to the Ente-compatible API and parsers for its answers, as
//! Ente's server (museum) sends them. Wire names live here and nowhere else.

use serde::Serialize;

use super::http::{HttpRequest, HttpResponse, Method};
use super::json::Json;
use super::json_write::{Object, ToJson, to_json};
use crate::codec::struct_record;
use crate::media::{Location, write_degrees};

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

    fn json(&self, path: &str, body: &dyn ToJson) -> HttpRequest {
        self.request(Method::Post, path)
            .header("Content-Type", "application/json")
            .body(to_json(body).into_bytes())
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

/// Reads the members of one JSON object of an answer; errors name the
/// answer and the member.
#[derive(Clone, Copy)]
struct Members<'a> {
    value: &'a Json,
    what: &'static str,
}

impl<'a> Members<'a> {
    fn of(response: &'a Json, what: &'static str) -> Result<Self, ProtocolError> {
        match response {
            Json::Object(_) => Ok(Self {
                value: response,
                what,
            }),
            _ => Err(ProtocolError(format!("{what}: not a JSON object"))),
        }
    }

    fn get<T>(
        self,
        name: &str,
        kind: &str,
        read: impl FnOnce(&'a Json) -> Option<T>,
    ) -> Result<T, ProtocolError> {
        self.value.get(name).and_then(read).ok_or_else(|| {
            ProtocolError(format!("{}: `{name}` is missing or not {kind}", self.what))
        })
    }

    /// A member that may be missing, null or of another type: `None` then.
    fn optional<T>(self, name: &str, read: impl FnOnce(&'a Json) -> Option<T>) -> Option<T> {
        self.value.get(name).and_then(read)
    }

    fn string(self, name: &str) -> Result<String, ProtocolError> {
        self.get(name, "a string", |v| v.as_str().map(str::to_owned))
    }

    fn int(self, name: &str) -> Result<i64, ProtocolError> {
        self.get(name, "a whole number", Json::as_i64)
    }

    fn object(self, name: &str) -> Result<Members<'a>, ProtocolError> {
        let what = self.what;
        let value = self.get(name, "an object", |v| {
            matches!(v, Json::Object(_)).then_some(v)
        })?;
        Ok(Members { value, what })
    }

    fn array(self, name: &str) -> Result<&'a [Json], ProtocolError> {
        self.get(name, "an array", Json::as_array)
    }
}

fn parse_body(response: &HttpResponse, what: &'static str) -> Result<Json, ProtocolError> {
    Json::parse(&response.body).map_err(|e| ProtocolError(format!("{what}: {e}")))
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadUrl {
    pub object_key: String,
    pub url: String,
}

impl UploadUrl {
    fn read(members: Members<'_>) -> Result<Self, ProtocolError> {
        Ok(Self {
            object_key: members.string("objectKey")?,
            url: members.string("url")?,
        })
    }
}

pub fn parse_upload_urls(response: &HttpResponse) -> Result<Vec<UploadUrl>, ProtocolError> {
    const WHAT: &str = "upload URLs";
    let body = parse_body(response, WHAT)?;
    Members::of(&body, WHAT)?
        .array("urls")?
        .iter()
        .map(|url| UploadUrl::read(Members::of(url, WHAT)?))
        .collect()
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MultipartUrls {
    pub object_key: String,
    pub part_urls: Vec<String>,
    pub complete_url: String,
}

struct_record!(UploadUrl { object_key, url });
struct_record!(MultipartUrls {
    object_key,
    part_urls,
    complete_url
});
struct_record!(SealedMetadata {
    encrypted_data,
    decryption_header
});

pub fn parse_multipart_urls(
    response: &HttpResponse,
    parts: u32,
) -> Result<MultipartUrls, ProtocolError> {
    const WHAT: &str = "multipart URLs";
    let body = parse_body(response, WHAT)?;
    let members = Members::of(&body, WHAT)?.object("urls")?;
    let urls = MultipartUrls {
        object_key: members.string("objectKey")?,
        part_urls: members
            .array("partURLs")?
            .iter()
            .map(|url| url.as_str().map(str::to_owned))
            .collect::<Option<_>>()
            .ok_or_else(|| ProtocolError(format!("{WHAT}: a part URL is not a string")))?,
        complete_url: members.string("completeURL")?,
    };
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

/// The ETag of a PUT, required to complete a multipart upload (a single
/// PUT needs none: nothing reads it).
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

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectRef {
    pub object_key: String,
    pub decryption_header: String,
    pub size: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SealedMetadata {
    pub encrypted_data: String,
    pub decryption_header: String,
}

/// The body of `POST /files`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
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

impl ToJson for ObjectRef {
    fn write_json(&self, out: &mut String) {
        Object::new(out)
            .member("objectKey", &self.object_key)
            .member("decryptionHeader", &self.decryption_header)
            .member("size", &self.size)
            .end();
    }
}

impl ToJson for SealedMetadata {
    fn write_json(&self, out: &mut String) {
        Object::new(out)
            .member("encryptedData", &self.encrypted_data)
            .member("decryptionHeader", &self.decryption_header)
            .end();
    }
}

impl ToJson for NewFile {
    fn write_json(&self, out: &mut String) {
        Object::new(out)
            .member("collectionID", &self.collection_id)
            .member("encryptedKey", &self.encrypted_key)
            .member("keyDecryptionNonce", &self.key_decryption_nonce)
            .member("file", &self.file)
            .member("thumbnail", &self.thumbnail)
            .member("metadata", &self.metadata)
            .end();
    }
}

/// What Ferry reads of a file record: of the answer to `POST /files` (its
/// `id`), and of each `/collections/v2/diff` record (what dedupe needs).
///
/// museum's diff records carry `file` and `thumbnail` as
/// `{decryptionHeader, size: 0}` without `objectKey`
/// (`pkg/repo/file.go` `convertRowsToFiles`, `omitempty` in `ente/file.go`),
/// removal markers (`isDeleted: true`) whose metadata may be `"-"` once the
/// file is purged, and members Ferry does not know. So only `id` and
/// `updationTime` are required; anything else missing or malformed leaves
/// its field empty, and the record is then just not indexed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileRecord {
    pub id: i64,
    pub collection_id: Option<i64>,
    pub encrypted_key: Option<String>,
    pub key_decryption_nonce: Option<String>,
    pub metadata: Option<SealedMetadata>,
    /// A removal marker: the file left this collection (trashed, removed).
    pub is_deleted: bool,
    pub updation_time: i64,
}

impl SealedMetadata {
    fn read(members: Members<'_>) -> Option<Self> {
        Some(Self {
            encrypted_data: members.optional("encryptedData", |v| v.as_str().map(str::to_owned))?,
            decryption_header: members
                .optional("decryptionHeader", |v| v.as_str().map(str::to_owned))?,
        })
    }
}

impl FileRecord {
    fn read(members: Members<'_>) -> Result<Self, ProtocolError> {
        let text = |name| members.optional(name, |v: &Json| v.as_str().map(str::to_owned));
        Ok(Self {
            id: members.int("id")?,
            collection_id: members.optional("collectionID", Json::as_i64),
            encrypted_key: text("encryptedKey"),
            key_decryption_nonce: text("keyDecryptionNonce"),
            metadata: members
                .object("metadata")
                .ok()
                .and_then(SealedMetadata::read),
            is_deleted: members
                .optional("isDeleted", Json::as_bool)
                .unwrap_or(false),
            updation_time: members.int("updationTime")?,
        })
    }
}

/// The answer to `POST /files`: the registered file's `id` is all Ferry needs.
pub fn parse_file_record(response: &HttpResponse) -> Result<FileRecord, ProtocolError> {
    const WHAT: &str = "file record";
    FileRecord::read(Members::of(&parse_body(response, WHAT)?, WHAT)?)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diff {
    /// The records Ferry could read, in the server's order.
    pub diff: Vec<FileRecord>,
    /// The greatest `updationTime` of the page, unreadable records included:
    /// the next page's `sinceTime`.
    pub last_time: Option<i64>,
    pub has_more: bool,
}

/// A `/collections/v2/diff` page. A record without a readable `id` or
/// `updationTime` is left out rather than failing the page: one odd record
/// must not stop dedupe for a whole collection.
pub fn parse_diff(response: &HttpResponse) -> Result<Diff, ProtocolError> {
    const WHAT: &str = "collection diff";
    let body = parse_body(response, WHAT)?;
    let members = Members::of(&body, WHAT)?;
    let mut diff = Vec::new();
    let mut last_time = None;
    for record in members.array("diff")? {
        let Ok(record) = Members::of(record, WHAT) else {
            continue;
        };
        if let Some(time) = record.optional("updationTime", Json::as_i64) {
            last_time = Some(last_time.map_or(time, |t: i64| t.max(time)));
        }
        if let Ok(record) = FileRecord::read(record) {
            diff.push(record);
        }
    }
    Ok(Diff {
        diff,
        last_time,
        has_more: members.get("hasMore", "a boolean", Json::as_bool)?,
    })
}

/// What goes inside the encrypted metadata (times in microseconds), as
/// Ente's clients write and read it.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct FileMetadata {
    pub file_type: u8,
    pub title: String,
    pub creation_time: i64,
    pub modification_time: i64,
    /// BLAKE2b-512 of the plaintext, standard base64.
    pub hash: String,
    /// Where it was taken (`latitude`, `longitude`).
    pub location: Option<Location>,
    /// A video's length in whole seconds.
    pub duration: Option<u32>,
    /// The placeholder went instead of a thumbnail: Ente's apps then show
    /// the file type's icon rather than a grey pixel.
    pub has_static_thumbnail: bool,
}

impl FileMetadata {
    /// The JSON Ente's clients read. Written by hand: degrees go out as
    /// six-decimal numbers without pulling float formatting into the wasm.
    pub fn to_json(&self) -> Vec<u8> {
        // The hash is base64: nothing in it needs escaping. It goes first,
        // at a fixed offset: an upload that hashes as it encrypts puts it
        // into its sealed metadata there once it is known.
        let mut out = format!(
            r#"{{"hash":"{}","fileType":{},"title":{},"creationTime":{},"modificationTime":{}"#,
            self.hash,
            // As a u64: see `records::hash_key`.
            u64::from(self.file_type),
            to_json(&self.title),
            self.creation_time,
            self.modification_time,
        );
        if let Some(location) = self.location {
            out.push_str(r#","latitude":"#);
            write_degrees(&mut out, location.latitude);
            out.push_str(r#","longitude":"#);
            write_degrees(&mut out, location.longitude);
        }
        if let Some(duration) = self.duration {
            use std::fmt::Write;
            let _ = write!(out, r#","duration":{duration}"#);
        }
        if self.has_static_thumbnail {
            out.push_str(r#","hasStaticThumbnail":true"#);
        }
        out.push('}');
        out.into_bytes()
    }

    /// Decrypted metadata as JSON, for dedupe: the members it needs; the
    /// others (Ente writes more) are left at their defaults.
    pub fn from_json(bytes: &[u8]) -> Result<Self, ProtocolError> {
        const WHAT: &str = "file metadata";
        let value = Json::parse(bytes).map_err(|e| ProtocolError(format!("{WHAT}: {e}")))?;
        let members = Members::of(&value, WHAT)?;
        Ok(Self {
            file_type: members.get("fileType", "a file type", |v| {
                v.as_i64().and_then(|n| u8::try_from(n).ok())
            })?,
            title: members.string("title")?,
            creation_time: members.int("creationTime")?,
            modification_time: members.int("modificationTime")?,
            hash: members.string("hash")?,
            ..Self::default()
        })
    }
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
        let request = api.create_file(&body);
        assert_eq!(request.body, serde_json::to_vec(&body).unwrap());
        let json: serde_json::Value = serde_json::from_slice(&request.body).unwrap();
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
    fn diff_reads_museums_records_and_never_fails_a_page_on_one_record() {
        // As museum's GetDiffV2 sends them: no objectKey, size 0, members
        // Ferry does not know, a removal marker, a purged one ("-").
        let record = r#"{"id":5,"ownerID":1,"collectionID":7,"collectionOwnerID":1,
            "encryptedKey":"k","keyDecryptionNonce":"n",
            "file":{"decryptionHeader":"h","size":0},"thumbnail":{"decryptionHeader":"h2","size":0},
            "metadata":{"encryptedData":"m","decryptionHeader":"h3","size":0},
            "isDeleted":false,"updationTime":1700000000000000,"info":{"fileSize":12,"thumbSize":3},
            "pubMagicMetadata":{"version":1,"count":1,"data":"x","header":"y"},"collectionAddedAt":9}"#;
        let marker = r#"{"id":6,"ownerID":1,"collectionID":7,"encryptedKey":"k2","keyDecryptionNonce":"n2",
            "file":{"decryptionHeader":"-","size":0},"thumbnail":{"decryptionHeader":"-","size":0},
            "metadata":{"encryptedData":"-","decryptionHeader":"-","size":0},
            "isDeleted":true,"updationTime":1700000000000009}"#;
        let odd = r#"{"id":"seven","updationTime":1700000000000011}"#;
        let bare = r#"{"id":8,"updationTime":1700000000000010,"metadata":null}"#;
        let diff = parse_diff(&ok(
            &format!(r#"{{"diff":[{record},{marker},{odd},{bare},42],"hasMore":true}}"#),
            &[],
        ))
        .unwrap();
        assert!(diff.has_more);
        assert_eq!(diff.last_time, Some(1_700_000_000_000_011));
        assert_eq!(
            diff.diff.iter().map(|r| r.id).collect::<Vec<_>>(),
            vec![5, 6, 8],
            "the record without a numeric id is left out, the page is kept"
        );
        let first = &diff.diff[0];
        assert_eq!(first.collection_id, Some(7));
        assert_eq!(first.encrypted_key.as_deref(), Some("k"));
        assert_eq!(
            first
                .metadata
                .as_ref()
                .map(|m| m.decryption_header.as_str()),
            Some("h3")
        );
        assert!(!first.is_deleted);
        assert!(diff.diff[1].is_deleted);
        assert_eq!(diff.diff[2].metadata, None);
        assert_eq!(diff.diff[2].encrypted_key, None);

        assert!(parse_diff(&ok(r#"{"diff":[]}"#, &[])).is_err());
        assert!(parse_diff(&ok(r#"{"hasMore":false}"#, &[])).is_err());
        assert!(parse_file_record(&ok("[]", &[])).is_err());
        // The answer to POST /files: the id is what counts.
        assert_eq!(
            parse_file_record(&ok(
                r#"{"id":41,"updationTime":3,"file":{"objectKey":"1/a"}}"#,
                &[]
            ))
            .unwrap()
            .id,
            41
        );
        assert!(parse_file_record(&ok(r#"{"updationTime":3}"#, &[])).is_err());

        let metadata = FileMetadata {
            file_type: 1,
            title: "Ünïcode \"clip\".mp4".into(),
            creation_time: -5,
            modification_time: 9,
            hash: "aGFzaA==".into(),
            ..FileMetadata::default()
        };
        let json = metadata.to_json();
        assert_eq!(
            serde_json::from_slice::<serde_json::Value>(&json).unwrap(),
            serde_json::json!({"fileType": 1, "title": "Ünïcode \"clip\".mp4",
                "creationTime": -5, "modificationTime": 9, "hash": "aGFzaA=="})
        );
        assert_eq!(FileMetadata::from_json(&json), Ok(metadata));
        assert!(
            FileMetadata::from_json(
                br#"{"fileType":300,"title":"x","creationTime":0,"modificationTime":0,"hash":""}"#
            )
            .is_err()
        );
    }

    #[test]
    fn metadata_writes_what_ente_reads_and_reads_it_back() {
        let metadata = FileMetadata {
            file_type: 1,
            title: "clip.mov".into(),
            creation_time: 1_689_352_215_250_000,
            modification_time: 1_700_000_000_000_000,
            hash: "aGFzaA==".into(),
            location: Location::new(-33_856_800, 5),
            duration: Some(13),
            has_static_thumbnail: true,
        };
        let json = metadata.to_json();
        assert_eq!(
            String::from_utf8(json.clone()).unwrap(),
            r#"{"hash":"aGFzaA==","fileType":1,"title":"clip.mov","creationTime":1689352215250000,"modificationTime":1700000000000000,"latitude":-33.856800,"longitude":0.000005,"duration":13,"hasStaticThumbnail":true}"#
        );
        let parsed: serde_json::Value = serde_json::from_slice(&json).unwrap();
        assert_eq!(parsed["latitude"].as_f64(), Some(-33.8568));
        assert_eq!(parsed["longitude"].as_f64(), Some(0.000005));
        // Dedupe reads back what it compares.
        let read = FileMetadata::from_json(&json).unwrap();
        assert_eq!(
            (read.file_type, read.title.as_str(), read.hash.as_str()),
            (1, "clip.mov", "aGFzaA==")
        );
        assert_eq!(read.creation_time, metadata.creation_time);
        // Without the optional members: nothing but the five.
        let bare = FileMetadata {
            location: None,
            duration: None,
            has_static_thumbnail: false,
            ..metadata
        };
        assert_eq!(
            serde_json::from_slice::<serde_json::Value>(&bare.to_json())
                .unwrap()
                .as_object()
                .unwrap()
                .len(),
            5
        );
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
