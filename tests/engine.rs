//! The engine against the real reference server over real HTTP: every size
//! class round-trips and decrypts, a kill mid-multipart resumes without
//! re-sending finished parts, faults on every route still end with each
//! file on the server exactly once, duplicates are skipped, a changed file
//! restarts with a new key, an upload the store aborted starts again, 401
//! and 426 block the queue, and no key is ever stored in clear.
#![cfg(not(target_arch = "wasm32"))]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::cast_possible_truncation
)]

mod common;
mod engine_support;

use std::cell::Cell;
use std::rc::Rc;

use common::pattern;
use engine_support::*;
use ferry_sync::crypto::{
    Blake2b512, Key, decrypt_file_bytes, decrypt_message, from_base64, to_base64, unwrap_key,
};
use ferry_sync::engine::ports::{Clock, Store, Table};
use ferry_sync::engine::{Engine, EngineConfig, Env, StopReason};
use ferry_sync::media::HEAD_BYTES;
use ferry_sync::protocol::{BlockedReason, Endpoint, Method};
use ferry_sync::queue::item::{Target, Upload};
use ferry_sync::queue::records::{Changes, FreshRange, decode, fresh_range_bounds};
use ferry_sync::queue::{FileType, Item, ItemId, NewItem, PublicState, Step};
use ferry_sync::scheduler::{LEASE_MS, RunPlan, Trigger};
use serde_json::{Value, json};

const MIB: usize = 1024 * 1024;

type TestEngine = Engine<MemStore, HttpTransport, MemSources, TestVault, FastClock>;

struct Harness {
    server: ferry_server::Running,
    _dir: tempfile::TempDir,
    store: MemStore,
    sources: MemSources,
    device_key: Key,
    collection_id: i64,
    collection_key: Key,
    http: reqwest::Client,
}

impl Harness {
    async fn start(configure: impl FnOnce(&mut ferry_server::Config)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut config = ferry_server::Config::for_tests(dir.path());
        config.admin = true;
        // museum pauses 0.5 s and 1 s between the HEADs of a missing
        // object; the tests need not wait for it.
        config.object_check_retry_ms = 10;
        configure(&mut config);
        let server = ferry_server::start(config).await.unwrap();
        let collection_id = create_album(&server).await;
        Self {
            collection_id,
            server,
            _dir: dir,
            store: MemStore::default(),
            sources: MemSources::default(),
            device_key: Key::generate(),
            collection_key: Key::generate(),
            http: reqwest::Client::new(),
        }
    }

    /// A fresh engine over the same database: what a page reload gets.
    async fn engine(&self, chunks_per_part: u32) -> TestEngine {
        self.engine_over(self.store.clone(), chunks_per_part).await
    }

    /// An engine over this harness's database whose server is `base_url`
    /// and whose time is `clock`.
    async fn engine_at<C: Clock>(
        &self,
        base_url: String,
        clock: C,
    ) -> Engine<MemStore, HttpTransport, MemSources, TestVault, C> {
        let env = Env {
            store: self.store.clone(),
            transport: HttpTransport::default(),
            sources: self.sources.clone(),
            vault: TestVault(self.device_key.clone()),
            clock,
        };
        let endpoint = Endpoint {
            base_url,
            token: self.server.token.clone(),
        };
        let engine = Engine::new(env, endpoint, EngineConfig::default());
        engine
            .set_collection_key(self.collection_id, &self.collection_key)
            .await
            .unwrap();
        engine
    }

    /// An engine over `store`: another database is another device.
    async fn engine_over(&self, store: MemStore, chunks_per_part: u32) -> TestEngine {
        let config = EngineConfig {
            chunks_per_part,
            ..EngineConfig::default()
        };
        self.engine_with(store, config).await
    }

    async fn engine_with(&self, store: MemStore, config: EngineConfig) -> TestEngine {
        let env = Env {
            store,
            transport: HttpTransport::default(),
            sources: self.sources.clone(),
            vault: TestVault(self.device_key.clone()),
            clock: FastClock::default(),
        };
        let endpoint = Endpoint {
            base_url: self.server.api_url(),
            token: self.server.token.clone(),
        };
        let engine = Engine::new(env, endpoint, config);
        engine
            .set_collection_key(self.collection_id, &self.collection_key)
            .await
            .unwrap();
        engine
    }

    fn item(&self, source: &str, title: &str) -> NewItem {
        NewItem {
            collection_id: self.collection_id,
            source: source.into(),
            title: title.into(),
            file_type: FileType::Image,
            creation_time: 1_700_000_000_000_000,
            modification_time: 1_700_000_000_000_000,
            thumbnail: None,
        }
    }

    async fn api(&self, path: &str) -> Value {
        self.call(reqwest::Method::GET, path).await
    }

    async fn call(&self, method: reqwest::Method, path: &str) -> Value {
        self.http
            .request(method, format!("{}{path}", self.server.api_url()))
            .header("X-Auth-Token", &self.server.token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// A record's file key, unwrapped with the collection key.
    fn file_key(&self, record: &Value) -> Key {
        unwrap_key(
            &b64(&record["encryptedKey"]),
            &b64(&record["keyDecryptionNonce"]),
            &self.collection_key,
        )
        .unwrap()
    }

    /// `GET /files/{kind}/{id}`: the encrypted file (`download`) or thumbnail (`preview`).
    async fn fetch(&self, kind: &str, record: &Value) -> Vec<u8> {
        self.http
            .get(format!(
                "{}/files/{kind}/{}",
                self.server.api_url(),
                record["id"]
            ))
            .header("X-Auth-Token", &self.server.token)
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap()
            .to_vec()
    }

    fn metadata(record: &Value, file_key: &Key) -> Value {
        let plain = decrypt_message(
            file_key,
            &b64(&record["metadata"]["decryptionHeader"]),
            &b64(&record["metadata"]["encryptedData"]),
        )
        .unwrap();
        serde_json::from_slice(&plain).unwrap()
    }

    async fn records(&self) -> Vec<Value> {
        let mut out = Vec::new();
        let mut since = 0;
        loop {
            let page = self
                .api(&format!(
                    "/collections/v2/diff?collectionID={}&sinceTime={since}",
                    self.collection_id
                ))
                .await;
            for record in page["diff"].as_array().unwrap() {
                since = record["updationTime"].as_i64().unwrap();
                out.push(record.clone());
            }
            if page["hasMore"] == false {
                return out;
            }
        }
    }

    /// Every file in the album on the server (removal markers left out):
    /// (title, plaintext, metadata), decrypted with the collection key the
    /// way another device would.
    async fn server_files(&self) -> Vec<(String, Vec<u8>, Value)> {
        let mut out = Vec::new();
        for record in self.records().await {
            if record["isDeleted"] == true {
                continue;
            }
            let file_key = self.file_key(&record);
            let ciphertext = self.fetch("download", &record).await;
            let plaintext = decrypt_file_bytes(
                &file_key,
                &b64(&record["file"]["decryptionHeader"]),
                &ciphertext,
            )
            .unwrap();
            let metadata = Self::metadata(&record, &file_key);
            out.push((
                metadata["title"].as_str().unwrap().to_owned(),
                plaintext,
                metadata,
            ));
        }
        out
    }

    async fn request_counts(&self) -> Value {
        self.api("/admin/requests").await["counts"].clone()
    }

    /// Aborts every unfinished multipart upload, as a bucket lifecycle rule
    /// does; returns how many there were.
    async fn abort_unfinished_uploads(&self) -> u64 {
        let answer = self
            .call(reqwest::Method::POST, "/admin/abort-uploads")
            .await;
        answer["aborted"].as_u64().unwrap()
    }

    /// Switches fault injection to `rules`.
    async fn set_faults(&self, rules: Value) {
        let on = self
            .http
            .put(format!("{}/admin/faults", self.server.api_url()))
            .json(&rules)
            .send()
            .await
            .unwrap();
        assert_eq!(on.status(), 204);
    }

    /// Moves files to the trash as Ente's apps do (`POST /files/trash`).
    async fn trash(&self, file_ids: &[i64]) {
        let items: Vec<Value> = file_ids
            .iter()
            .map(|id| json!({ "fileID": id, "collectionID": self.collection_id }))
            .collect();
        let response = self
            .http
            .post(format!("{}/files/trash", self.server.api_url()))
            .header("X-Auth-Token", &self.server.token)
            .json(&json!({ "items": items }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }

    /// Ends or renews the subscription (402 at URL time and on `POST /files`).
    async fn set_subscription_expired(&self, expired: bool) {
        let response = self
            .http
            .put(format!("{}/admin/subscription", self.server.api_url()))
            .header("X-Auth-Token", &self.server.token)
            .json(&json!({ "expired": expired }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 204);
    }

    /// Where the embedded store keeps an object on disk.
    fn object_path(&self, object_key: &str) -> std::path::PathBuf {
        self._dir
            .path()
            .join("objects")
            .join("ferry")
            .join(object_key)
    }

    /// Turns fault injection off for the rest of the test.
    async fn clear_faults(&self) {
        let off = self
            .http
            .delete(format!("{}/admin/faults", self.server.api_url()))
            .send()
            .await
            .unwrap();
        assert_eq!(off.status(), 204);
    }
}

/// Runs until nothing is left to do, advancing the clock past each wait the
/// way a host scheduling later runs would.
async fn run_until_settled(engine: &TestEngine) -> ferry_sync::engine::RunReport {
    let mut files_done = 0;
    loop {
        let mut outcome = engine.run(None).await.unwrap();
        files_done += outcome.files_done;
        match (outcome.stopped_because, outcome.next_run_hint_ms) {
            (StopReason::Idle, Some(wait)) => {
                engine.env().clock.sleep_ms(wait.max(0.0) as u64).await;
            }
            _ => {
                outcome.files_done = files_done;
                return outcome;
            }
        }
    }
}

fn b64(value: &Value) -> Vec<u8> {
    from_base64(value.as_str().unwrap()).unwrap()
}

fn hash_b64(data: &[u8]) -> String {
    to_base64(&Blake2b512::digest(data))
}

/// Returns once `engine` has a PUT on the wire.
async fn put_in_flight(engine: &TestEngine) {
    for _ in 0..10_000_000 {
        if engine.env().transport.puts_in_flight.get() > 0 {
            return;
        }
        tokio::task::yield_now().await;
    }
    panic!("no PUT was ever in flight");
}

/// Entries of the runnable index, as the store holds them now.
fn runnable_entries(h: &Harness) -> usize {
    h.store
        .0
        .borrow()
        .keys()
        .filter(|(t, _)| *t == Table::Runnable)
        .count()
}

/// An engine that works on one file at a time.
async fn one_at_a_time(h: &Harness) -> TestEngine {
    let config = EngineConfig {
        parallel_files: 1,
        ..EngineConfig::default()
    };
    h.engine_with(h.store.clone(), config).await
}

#[tokio::test(flavor = "current_thread")]
async fn every_size_class_uploads_and_decrypts_with_its_hash() {
    let h = Harness::start(|_| {}).await;
    let sizes = [0, 1, 4 * MIB, 4 * MIB + 1, 9 * MIB + 3, 21 * MIB];
    let mut items = Vec::new();
    for (i, size) in sizes.iter().enumerate() {
        h.sources.add(&format!("f{i}"), pattern(*size, i as u64));
        items.push(h.item(&format!("f{i}"), &format!("photo-{i}.jpg")));
    }
    let engine = h.engine(2).await;
    let ids = engine.enqueue(items).await.unwrap();
    assert_eq!(
        engine
            .status()
            .await
            .unwrap()
            .counters
            .count(PublicState::Queued),
        6
    );

    let outcome = engine.run(None).await.unwrap();
    assert_eq!(outcome.stopped_because, StopReason::Idle);
    assert_eq!(outcome.files_done, 6);
    let status = engine.status().await.unwrap();
    assert_eq!(status.counters.count(PublicState::Done), 6);
    assert_eq!(status.counters.count(PublicState::Queued), 0);
    assert!(status.counters.bytes_uploaded >= sizes.iter().sum::<usize>() as u64);
    for id in ids {
        assert!(matches!(
            engine.item(id).await.unwrap().unwrap().step,
            Step::Done { .. }
        ));
    }

    let files = h.server_files().await;
    assert_eq!(files.len(), 6);
    for (i, size) in sizes.iter().enumerate() {
        let (_, plaintext, metadata) = files
            .iter()
            .find(|(t, _, _)| *t == format!("photo-{i}.jpg"))
            .unwrap();
        let expected = pattern(*size, i as u64);
        assert!(
            *plaintext == expected,
            "file {i} of {size} bytes round-trips"
        );
        assert_eq!(metadata["hash"], hash_b64(&expected));
        assert_eq!(metadata["fileType"], 0);
        assert_eq!(metadata["creationTime"], 1_700_000_000_000_000i64);
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_kill_mid_multipart_resumes_without_resending_finished_parts() {
    let h = Harness::start(|_| {}).await;
    let data = pattern(30 * MIB, 7); // 8 chunks: 4 parts of 2 chunks
    h.sources.add("big", data.clone());
    // Up to two parts on the wire at once (one while the link is not yet
    // measured); the run is cut off as the third part goes out.
    let config = EngineConfig {
        chunks_per_part: 2,
        parallel_parts: 2,
        ..EngineConfig::default()
    };
    let first = h.engine_with(h.store.clone(), config).await;
    first
        .enqueue(vec![h.item("big", "video.mp4")])
        .await
        .unwrap();

    // Kill the run the moment the third part starts to go out.
    let started = Rc::new(Cell::new(0));
    let counter = started.clone();
    let killed = Rc::new(tokio::sync::Notify::new());
    let kill = killed.clone();
    *first.env().transport.hook.borrow_mut() = Some(Box::new(move |request| {
        if request.method == Method::Put && request.url.contains("partNumber") {
            counter.set(counter.get() + 1);
            if counter.get() == 3 {
                kill.notify_one();
            }
        }
    }));
    tokio::select! {
        _ = first.run(None) => panic!("the run finished before it was killed"),
        () = killed.notified() => {}
    }
    drop(first);

    let second = h.engine_with(h.store.clone(), config).await;
    // The parts recorded when the run was killed: those before the third.
    let recorded = match second.items(None, 0, 1).await.unwrap()[0].step {
        Step::Uploading(ref upload) => upload.etags.len() as u32,
        ref other => panic!("killed mid-upload, found {other:?}"),
    };
    assert!((1..=2).contains(&recorded), "{recorded} parts recorded");
    let outcome = second.run(None).await.unwrap();
    assert_eq!(outcome.files_done, 1);
    let files = h.server_files().await;
    assert_eq!(files.len(), 1);
    assert!(files[0].1 == data);
    // Hashed as it was encrypted, across the kill: the hasher resumed
    // with the stream.
    assert_eq!(files[0].2["hash"], hash_b64(&data));
    assert_eq!(markers(&h), 0);

    let counts = h.request_counts().await;
    let part_puts: Vec<(String, u64)> = counts
        .as_object()
        .unwrap()
        .iter()
        .filter(|(k, _)| k.starts_with("s3:UploadPart /"))
        .map(|(k, v)| (k.clone(), v.as_u64().unwrap()))
        .collect();
    assert_eq!(part_puts.len(), 4, "{counts}");
    for (part, count) in &part_puts {
        let number: u32 = part.rsplit('#').next().unwrap().parse().unwrap();
        if number <= recorded {
            assert_eq!(*count, 1, "recorded part {number} was sent again");
        } else {
            assert!(*count <= 2, "a part in flight is redone at most once");
        }
    }
    assert_eq!(counts["s3:CompleteMultipartUpload"], 1);
    assert_eq!(counts["POST /files"], 1);
}

/// A server that drops the connection of every single PUT, as when the
/// store or the network is down, and one small photo queued for it.
async fn one_photo_whose_put_gets_no_answer() -> (Harness, TestEngine, ItemId) {
    let h = Harness::start(|config| {
        config.faults = Some(
            serde_json::from_value(json!({
                "rules": [{ "route": "s3:PutObject", "resetRate": 1.0 }],
            }))
            .unwrap(),
        );
    })
    .await;
    h.sources.add("photo", pattern(20_000, 8));
    let engine = h.engine(2).await;
    let id = engine
        .enqueue(vec![h.item("photo", "outage.jpg")])
        .await
        .unwrap()[0];
    (h, engine, id)
}

#[tokio::test(flavor = "current_thread")]
async fn no_answer_for_longer_than_any_retry_limit_fails_nothing() {
    // Far more attempts without an answer than an item may fail with one
    // (MAX_ATTEMPTS), and still nothing fails.
    let (h, engine, id) = one_photo_whose_put_gets_no_answer().await;
    for _ in 0..20 {
        let outcome = engine.run(None).await.unwrap();
        let wait = outcome.next_run_hint_ms.expect("a retry is due later");
        engine.env().clock.sleep_ms(wait as u64).await;
    }
    let item = engine.item(id).await.unwrap().unwrap();
    assert_eq!(item.public_state(), PublicState::Waiting);
    assert!(item.attempts > 12, "attempts: {}", item.attempts);
    // The API answered (URLs came), the store did not: its own code, and
    // diagnose() names the likely cause.
    assert!(
        item.last_error
            .as_ref()
            .is_some_and(|e| e.code == "STORE_UNREACHABLE"),
        "{:?}",
        item.last_error
    );
    let findings = engine.diagnose(&Default::default()).await.unwrap();
    let silent = findings
        .iter()
        .find(|f| f.code == "STORE_UNREACHABLE")
        .unwrap_or_else(|| panic!("{findings:?}"));
    assert!(silent.advice.contains("CORS"), "{silent:?}");

    // The outage ends: the next run uploads it.
    h.clear_faults().await;
    engine.env().clock.sleep_ms(10 * 60 * 1000).await;
    run_until_settled(&engine).await;
    let item = engine.item(id).await.unwrap().unwrap();
    assert!(matches!(item.step, Step::Done { .. }), "{:?}", item.step);
}

#[tokio::test(flavor = "current_thread")]
async fn a_run_that_gets_no_answer_twice_reports_at_once_instead_of_waiting() {
    // A person presses "Back up now" with the server down: the run retries
    // once in-run (a one-off network error is common), then reports, rather
    // than sleep through half a minute of backoff before saying anything.
    let (h, engine, id) = one_photo_whose_put_gets_no_answer().await;
    let outcome = engine.run(None).await.unwrap();
    let slept_in_run = engine.env().clock.skipped_ms.get();
    assert_eq!(outcome.stopped_because, StopReason::Idle, "{outcome:?}");
    let item = engine.item(id).await.unwrap().unwrap();
    assert_eq!(item.attempts, 2, "one retry in-run, then the report");
    assert!(slept_in_run <= 1_500, "slept {slept_in_run} ms in-run");
    let hint = outcome.next_run_hint_ms.expect("a retry is due later");
    assert!(hint > 0.0, "{hint}");

    // Once the server answers again, the next run uploads it.
    h.clear_faults().await;
    engine.env().clock.sleep_ms(hint as u64).await;
    let outcome = run_until_settled(&engine).await;
    assert_eq!(outcome.files_done, 1, "{outcome:?}");
}

#[tokio::test(flavor = "current_thread")]
async fn faults_on_every_route_still_land_each_file_exactly_once() {
    let h = Harness::start(|config| {
        config.faults = Some(serde_json::from_value(json!({
            "seed": 20_261_125,
            "rules": [{ "route": "*", "errorRate": 0.2, "throttleRate": 0.05, "resetRate": 0.05 }],
        })).unwrap());
    })
    .await;
    let mut items = Vec::new();
    for i in 0..12 {
        let size = [10_000, 5 * MIB, 9 * MIB][i % 3];
        h.sources
            .add(&format!("f{i}"), pattern(size, 100 + i as u64));
        items.push(h.item(&format!("f{i}"), &format!("img-{i}.heic")));
    }
    let engine = h.engine(2).await;
    engine.enqueue(items).await.unwrap();
    let outcome = run_until_settled(&engine).await;
    assert_eq!(outcome.stopped_because, StopReason::Idle, "{outcome:?}");
    assert_eq!(
        engine
            .status()
            .await
            .unwrap()
            .counters
            .count(PublicState::Done),
        12
    );
    let injected = h.api("/admin/faults").await["injected"]
        .as_array()
        .unwrap()
        .len();
    assert!(injected > 10, "faults were injected: {injected}");

    // Verify with faults off: the checks' own downloads must not meet them.
    h.clear_faults().await;

    let files = h.server_files().await;
    assert_eq!(files.len(), 12, "each file exactly once");
    for i in 0..12 {
        let size = [10_000, 5 * MIB, 9 * MIB][i % 3];
        let (_, plaintext, _) = files
            .iter()
            .find(|(t, _, _)| *t == format!("img-{i}.heic"))
            .unwrap();
        assert!(*plaintext == pattern(size, 100 + i as u64));
    }
}

#[tokio::test(flavor = "current_thread")]
async fn duplicates_are_skipped_not_uploaded_again() {
    let h = Harness::start(|_| {}).await;
    h.sources.add("a", pattern(50_000, 1));
    h.sources.add("a-copy", pattern(50_000, 1));
    let engine = h.engine(2).await;
    let ids = engine
        .enqueue(vec![
            h.item("a", "cat.jpg"),
            h.item("a-copy", "cat.jpg"),
            h.item("a-copy", "cat (2).jpg"),
        ])
        .await
        .unwrap();
    engine.run(None).await.unwrap();
    let status = engine.status().await.unwrap();
    assert_eq!(status.counters.count(PublicState::Done), 2);
    assert_eq!(status.counters.count(PublicState::Skipped), 1);
    // The file the first uploaded, which outlives the first's item.
    let Step::Done { file_id } = engine.item(ids[0]).await.unwrap().unwrap().step else {
        panic!("the first is done");
    };
    assert!(matches!(
        engine.item(ids[1]).await.unwrap().unwrap().step,
        Step::Skipped { ref duplicate_of } if *duplicate_of == format!("file:{file_id}")
    ));
    assert_eq!(h.server_files().await.len(), 2);
}

/// Entries of the empty hash in the dedupe index: the markers of items
/// that hash as they encrypt.
fn markers(h: &Harness) -> usize {
    h.store
        .0
        .borrow()
        .keys()
        .filter(|(t, k)| *t == Table::Hashes && k.ends_with(b"\0") && !k.starts_with(b"file\0"))
        .count()
}

/// A file whose title and type nothing in its album shares, on the server
/// or in the queue, cannot be a duplicate: it is hashed as it is
/// encrypted, its source read once. Its metadata still carries the hash,
/// and a copy queued once it is up (its title now known) is hashed first
/// and skipped.
#[tokio::test(flavor = "current_thread")]
async fn a_file_nothing_can_duplicate_is_read_once() {
    let h = Harness::start(|_| {}).await;
    let data = pattern(30 * MIB, 11); // 4 parts of 2 chunks
    h.sources.add("v", data.clone());
    h.sources.add("v-copy", data.clone());
    let size = data.len() as u64;
    let engine = h.engine(2).await;
    let id = engine.enqueue(vec![h.item("v", "trip.mp4")]).await.unwrap()[0];
    engine.run_steps(1).await.unwrap();
    let Step::Uploading(upload) = engine.item(id).await.unwrap().unwrap().step else {
        panic!("the first step prepares the upload at once");
    };
    assert_eq!(upload.hash, "", "no hash before the stream");
    assert_eq!(markers(&h), 1);
    // Only the metadata's look at the file's head, besides the stream.
    assert!(h.sources.1.get() <= HEAD_BYTES, "{}", h.sources.1.get());

    assert_eq!(run_until_settled(&engine).await.files_done, 1);
    let read = h.sources.1.get();
    assert!(
        (size..=size + HEAD_BYTES).contains(&read),
        "{read} bytes read for a file of {size}"
    );
    let files = h.server_files().await;
    assert_eq!(files.len(), 1);
    assert!(files[0].1 == data);
    assert_eq!(files[0].2["hash"], hash_b64(&data));
    assert_eq!(markers(&h), 0, "the marker goes once the hash is known");

    let copy = engine
        .enqueue(vec![h.item("v-copy", "trip.mp4")])
        .await
        .unwrap()[0];
    run_until_settled(&engine).await;
    let Step::Done { file_id } = engine.item(id).await.unwrap().unwrap().step else {
        panic!("the first is done");
    };
    assert_eq!(
        engine.item(copy).await.unwrap().unwrap().step,
        Step::Skipped {
            duplicate_of: format!("file:{file_id}")
        }
    );
    assert!(
        h.sources.1.get() - read >= size,
        "the copy was hashed first"
    );
    assert_eq!(h.server_files().await.len(), 1);
}

/// While a step's parts are on the wire, the next step's first part is
/// read and sealed, so that step puts it on the wire without waiting for
/// the source and the cipher; no part is read twice for it.
#[tokio::test(flavor = "current_thread")]
async fn the_next_steps_first_part_is_sealed_while_a_steps_parts_are_on_the_wire() {
    let h = Harness::start(|_| {}).await;
    let part = 8 * MIB; // 2 chunks
    let data = pattern(4 * part + 5, 21); // 5 parts
    h.sources.add("v", data.clone());
    let size = data.len() as u64;
    let engine = h.engine(2).await;
    let id = engine.enqueue(vec![h.item("v", "trip.mp4")]).await.unwrap()[0];
    let sent = loop {
        engine.run_steps(1).await.unwrap();
        if let Step::Uploading(upload) = engine.item(id).await.unwrap().unwrap().step
            && !upload.etags.is_empty()
        {
            break upload.etags.len();
        }
    };
    assert!(sent < 5, "the first parts step sent every part");
    let read = h.sources.1.get();
    assert!(
        read >= ((sent + 1) * part) as u64,
        "{read} bytes read after {sent} parts of {part} were sent: the next part was not read ahead"
    );

    assert_eq!(run_until_settled(&engine).await.files_done, 1);
    let read = h.sources.1.get();
    assert!(
        (size..=size + HEAD_BYTES).contains(&read),
        "{read} bytes read for a file of {size}: a part sealed ahead was read again"
    );
    let files = h.server_files().await;
    assert_eq!(files.len(), 1);
    assert!(files[0].1 == data);
}

/// Two large files at once: a part one sealed ahead never goes out as the
/// other's, though their steps start at the same part numbers.
#[tokio::test(flavor = "current_thread")]
async fn two_large_files_at_once_never_send_each_others_part_sealed_ahead() {
    let h = Harness::start(|_| {}).await;
    let a = pattern(5 * 8 * MIB + 1, 31);
    let b = pattern(5 * 8 * MIB + 2, 32);
    h.sources.add("a", a.clone());
    h.sources.add("b", b.clone());
    let engine = h.engine(2).await;
    engine
        .enqueue(vec![h.item("a", "a.mp4"), h.item("b", "b.mp4")])
        .await
        .unwrap();
    assert_eq!(run_until_settled(&engine).await.files_done, 2);
    let mut files: Vec<Vec<u8>> = h.server_files().await.into_iter().map(|f| f.1).collect();
    files.sort_by_key(Vec::len);
    assert!(files == [a, b], "a file holds the other's bytes");
}

/// An item the server never registers fails once its restarts run out,
/// after its hash came to be known, and lets go of its title's marker: a
/// later item of the title does not wait on it, nor hash first for it.
#[tokio::test(flavor = "current_thread")]
async fn an_item_failing_after_its_hash_is_known_gives_up_the_marker() {
    let h = Harness::start(|_| {}).await;
    h.sources.add("a", pattern(50_000, 3));
    h.set_faults(json!({ "rules": [{ "route": "POST /files", "errorRate": 1.0, "status": 400 }] }))
        .await;
    let engine = h.engine(2).await;
    let id = engine.enqueue(vec![h.item("a", "cat.jpg")]).await.unwrap()[0];
    run_until_settled(&engine).await;
    let item = engine.item(id).await.unwrap().unwrap();
    let Step::Failed(error) = &item.step else {
        panic!("{item:?}");
    };
    assert_eq!(error.code, "UPLOAD_REJECTED", "{error:?}");
    assert_eq!(markers(&h), 0);
}

/// Items of one title while one of them hashes as it encrypts: the others
/// hash first and wait on its marker. Once it is up, a copy of it is
/// skipped and another file under the same title uploads.
#[tokio::test(flavor = "current_thread")]
async fn items_of_a_title_wait_for_the_one_hashing_as_it_encrypts() {
    let h = Harness::start(|_| {}).await;
    h.sources.add("a", pattern(50_000, 1));
    h.sources.add("a-copy", pattern(50_000, 1));
    h.sources.add("other", pattern(60_000, 2));
    let engine = one_at_a_time(&h).await;
    let ids = engine
        .enqueue(vec![
            h.item("a", "cat.jpg"),
            h.item("a-copy", "cat.jpg"),
            h.item("other", "cat.jpg"),
        ])
        .await
        .unwrap();
    let first = first_put_fails(&h, &engine, ids[0]).await;
    // The others meet the marker at their first step: they hash, and wait.
    engine.run_steps(2).await.unwrap();
    for id in &ids[1..] {
        let item = engine.item(*id).await.unwrap().unwrap();
        assert!(
            matches!(item.step, Step::Hashing { .. })
                && item.next_attempt_ms > first.next_attempt_ms,
            "{:?}",
            item
        );
    }

    run_until_settled(&engine).await;
    let Step::Done { file_id } = engine.item(ids[0]).await.unwrap().unwrap().step else {
        panic!("the first is done");
    };
    assert_eq!(
        engine.item(ids[1]).await.unwrap().unwrap().step,
        Step::Skipped {
            duplicate_of: format!("file:{file_id}")
        }
    );
    assert!(matches!(
        engine.item(ids[2]).await.unwrap().unwrap().step,
        Step::Done { .. }
    ));
    let files = h.server_files().await;
    assert_eq!(files.len(), 2);
    for (_, data, metadata) in &files {
        assert_eq!(metadata["hash"], hash_b64(data));
    }
    assert_eq!(markers(&h), 0);
}

/// Steps the first item, `first`, of a title new to the album: it takes
/// the title's marker and prepares its upload at once, hashing nothing;
/// its PUT then fails, and it backs off. The item as it is then.
async fn first_put_fails(h: &Harness, engine: &TestEngine, first: ItemId) -> Item {
    engine.run_steps(1).await.unwrap();
    h.set_faults(json!({ "rules": [{ "route": "s3:PutObject", "errorRate": 1.0 }] }))
        .await;
    engine.run_steps(1).await.unwrap();
    h.clear_faults().await;
    let item = engine.item(first).await.unwrap().unwrap();
    assert!(
        matches!(&item.step, Step::Uploading(u) if u.hash.is_empty()),
        "{:?}",
        item.step
    );
    item
}

/// A copy of a file whose upload is still under way is not skipped yet:
/// that upload may fail. It waits, and when the first fails for good, the
/// copy goes up in its place.
#[tokio::test(flavor = "current_thread")]
async fn a_copy_waits_for_the_upload_it_would_duplicate_and_goes_up_if_that_one_fails() {
    let h = Harness::start(|_| {}).await;
    h.sources.add("a", pattern(50_000, 1));
    h.sources.add("a-copy", pattern(50_000, 1));
    let engine = one_at_a_time(&h).await;
    let ids = engine
        .enqueue(vec![h.item("a", "cat.jpg"), h.item("a-copy", "cat.jpg")])
        .await
        .unwrap();
    let first = first_put_fails(&h, &engine, ids[0]).await;
    // The copy is hashed meanwhile, meets the first's marker, and waits.
    engine.run_steps(1).await.unwrap();
    let copy = engine.item(ids[1]).await.unwrap().unwrap();
    assert!(
        matches!(copy.step, Step::Hashing { hashed: 50_000, .. }),
        "{:?}",
        copy.step
    );
    assert!(
        copy.next_attempt_ms > first.next_attempt_ms,
        "looks again after the first's retry"
    );

    // The first's file is gone before its retry: it fails for good.
    h.sources.0.borrow_mut().remove("a");
    engine.run(None).await.unwrap();
    let first = engine.item(ids[0]).await.unwrap().unwrap();
    assert_eq!(
        first.public_state(),
        PublicState::Failed,
        "{:?}",
        first.step
    );
    let copy = engine.item(ids[1]).await.unwrap().unwrap();
    assert!(matches!(copy.step, Step::Done { .. }), "{:?}", copy.step);
    let files = h.server_files().await;
    assert_eq!(files.len(), 1);
    assert!(files[0].1 == pattern(50_000, 1));
}

/// An item removed from the queue stands for nothing: a copy of its file
/// added later is uploaded, not skipped as a duplicate of it.
#[tokio::test(flavor = "current_thread")]
async fn a_copy_of_a_removed_item_is_uploaded() {
    let h = Harness::start(|_| {}).await;
    h.sources.add("a", pattern(50_000, 1));
    h.sources.add("a-again", pattern(50_000, 1));
    let engine = h.engine(2).await;
    let first = engine.enqueue(vec![h.item("a", "cat.jpg")]).await.unwrap()[0];
    engine.run_steps(1).await.unwrap();
    engine.remove(first).await.unwrap();
    let again = engine
        .enqueue(vec![h.item("a-again", "cat.jpg")])
        .await
        .unwrap()[0];
    engine.run(None).await.unwrap();
    let item = engine.item(again).await.unwrap().unwrap();
    assert!(matches!(item.step, Step::Done { .. }), "{:?}", item.step);
    assert_eq!(h.server_files().await.len(), 1);
}

#[tokio::test(flavor = "current_thread")]
async fn a_file_changed_between_parts_restarts_with_a_new_key() {
    let h = Harness::start(|_| {}).await;
    let original = pattern(20 * MIB, 1);
    let original_copy = original.clone();
    let edited = pattern(20 * MIB, 2);
    h.sources.add("doc", original);
    // One part per step, so the change lands between two of them.
    let config = EngineConfig {
        chunks_per_part: 2,
        parallel_parts: 1,
        ..EngineConfig::default()
    };
    let engine = h.engine_with(h.store.clone(), config).await;
    let id = engine
        .enqueue(vec![h.item("doc", "edited.jpg")])
        .await
        .unwrap()[0];

    let sources = h.sources.clone();
    let replacement = edited.clone();
    let parts = Cell::new(0);
    *engine.env().transport.hook.borrow_mut() = Some(Box::new(move |request| {
        if request.method == Method::Put && request.url.contains("partNumber") {
            parts.set(parts.get() + 1);
            if parts.get() == 1 {
                sources.replace("doc", replacement.clone(), 1_800_000_000_000);
            }
        }
    }));
    let mut headers = Vec::new();
    for _ in 0..50 {
        engine.run(Some(0.0)).await.unwrap(); // no-op: budget already spent
        let item = engine.item(id).await.unwrap().unwrap();
        if let Step::Uploading(upload) = &item.step
            && headers.last() != Some(&upload.header)
        {
            headers.push(upload.header.clone());
        }
        if matches!(item.step, Step::Done { .. }) {
            break;
        }
        // One step at a time, so the header of each upload attempt is seen.
        engine.run_steps(1).await.unwrap();
    }
    let item = engine.item(id).await.unwrap().unwrap();
    assert!(matches!(item.step, Step::Done { .. }), "{:?}", item.step);
    assert_eq!(item.last_modified_ms, Some(1_800_000_000_000));
    assert!(
        headers.len() >= 2,
        "a second upload with a new header: {}",
        headers.len()
    );
    assert_ne!(headers[0], headers[1]);
    let files = h.server_files().await;
    assert_eq!(files.len(), 1);
    assert!(files[0].1 == edited, "the server has the edited file");
    assert_eq!(files[0].2["hash"], hash_b64(&edited));

    // The original, added again, is not a duplicate of anything uploaded.
    *engine.env().transport.hook.borrow_mut() = None;
    h.sources.add("original-again", original_copy);
    let again = engine
        .enqueue(vec![h.item("original-again", "edited.jpg")])
        .await
        .unwrap()[0];
    engine.run(None).await.unwrap();
    assert!(matches!(
        engine.item(again).await.unwrap().unwrap().step,
        Step::Done { .. }
    ));
    assert_eq!(h.server_files().await.len(), 2);
}

#[tokio::test(flavor = "current_thread")]
async fn unauthorised_blocks_the_queue_until_resume_with_a_new_token() {
    let h = Harness::start(|_| {}).await;
    h.sources.add("a", pattern(1000, 1));
    let engine = h.engine(2).await;
    engine.enqueue(vec![h.item("a", "a.jpg")]).await.unwrap();
    engine.set_token("expired-session".into());
    let outcome = engine.run(None).await.unwrap();
    assert_eq!(outcome.stopped_because, StopReason::Auth);
    assert_eq!(
        engine.status().await.unwrap().blocked,
        Some(BlockedReason::Auth)
    );
    // Still blocked on the next run: nothing is retried behind the host's back.
    assert_eq!(
        engine.run(None).await.unwrap().stopped_because,
        StopReason::Auth
    );

    engine.set_token(h.server.token.clone());
    engine.resume().await.unwrap();
    let outcome = engine.run(None).await.unwrap();
    assert_eq!(outcome.files_done, 1);
    assert_eq!(engine.status().await.unwrap().blocked, None);
}

#[tokio::test(flavor = "current_thread")]
async fn a_full_quota_blocks_with_quota() {
    let h = Harness::start(|config| config.quota_bytes = 100_000).await;
    h.sources.add("small", pattern(1000, 1));
    h.sources.add("large", pattern(200_000, 2));
    // One file at a time: with both in flight, which registers first (the
    // small one that fits, or the large one whose 426 ends the run) is a
    // race, and a run that stops on a block lets the other's later steps
    // wait.
    let engine = one_at_a_time(&h).await;
    engine
        .enqueue(vec![h.item("small", "s.jpg"), h.item("large", "l.jpg")])
        .await
        .unwrap();
    let outcome = engine.run(None).await.unwrap();
    assert_eq!(outcome.stopped_because, StopReason::Quota);
    let status = engine.status().await.unwrap();
    assert_eq!(status.counters.count(PublicState::Done), 1);
    assert_eq!(
        status.counters.count(PublicState::Failed),
        0,
        "nothing dropped"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn the_database_never_holds_a_key_in_clear() {
    let h = Harness::start(|_| {}).await;
    h.sources.add("a", pattern(9 * MIB, 3));
    let engine = h.engine(2).await;
    engine.enqueue(vec![h.item("a", "a.jpg")]).await.unwrap();
    // Stop mid-upload too: in-flight state must be sealed as well.
    let mut mid_upload_dump = None;
    while !matches!(
        engine.item(1).await.unwrap().unwrap().step,
        Step::Done { .. }
    ) {
        engine.run_steps(1).await.unwrap();
        if let Step::Uploading(upload) = engine.item(1).await.unwrap().unwrap().step
            && !upload.etags.is_empty()
            && mid_upload_dump.is_none()
        {
            mid_upload_dump = Some(h.store.dump());
        }
    }
    let file_key = h.file_key(&h.records().await[0]);
    for dump in [
        mid_upload_dump.expect("saw the upload in progress"),
        h.store.dump(),
    ] {
        for secret in [h.collection_key.as_bytes(), file_key.as_bytes()] {
            assert!(!contains(&dump, secret), "a raw key is in the database");
            assert!(
                !contains(&dump, to_base64(secret).as_bytes()),
                "a base64 key is in the database"
            );
            let json_array = serde_json::to_string(&secret.to_vec()).unwrap();
            assert!(
                !contains(&dump, json_array.as_bytes()),
                "a key as a JSON array is in the database"
            );
        }
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test(flavor = "current_thread")]
async fn bad_items_are_refused_and_bad_sources_fail_alone() {
    let h = Harness::start(|_| {}).await;
    h.sources.add("good", pattern(100, 1));
    h.sources
        .0
        .borrow_mut()
        .insert("short".into(), MemFile::ShortReads { size: 5000 });
    let engine = h.engine(2).await;

    let mut no_key = h.item("good", "x.jpg");
    no_key.collection_id = 999;
    let err = engine
        .enqueue(vec![h.item("good", "ok.jpg"), no_key])
        .await
        .unwrap_err();
    assert_eq!(err.code, "MISSING_COLLECTION_KEY");
    let err = engine
        .enqueue(vec![h.item("good", "  ")])
        .await
        .unwrap_err();
    assert_eq!(err.code, "BAD_ITEM");
    let err = engine.enqueue(vec![h.item("", "t.jpg")]).await.unwrap_err();
    assert_eq!(err.code, "BAD_ITEM");
    assert_eq!(
        engine.status().await.unwrap().counters,
        Default::default(),
        "a refused batch adds nothing"
    );

    let ids = engine
        .enqueue(vec![
            h.item("good", "ok.jpg"),
            h.item("missing", "gone.jpg"),
            h.item("short", "short.jpg"),
        ])
        .await
        .unwrap();
    run_until_settled(&engine).await;
    let step = async |i: usize| engine.item(ids[i]).await.unwrap().unwrap().step;
    assert!(matches!(step(0).await, Step::Done { .. }));
    assert!(matches!(step(1).await, Step::Failed(ref e) if e.code == "SOURCE_GONE"));
    assert!(matches!(step(2).await, Step::Failed(ref e) if e.code == "TOO_MANY_ATTEMPTS"));

    // A file that changes at every look starts over a few times, waiting
    // longer each time, then fails with its reason instead of spinning.
    let looks = Rc::new(Cell::new(0));
    h.sources.0.borrow_mut().insert(
        "unstable".into(),
        MemFile::Unstable {
            data: Rc::new(pattern(3000, 4)),
            looks: looks.clone(),
        },
    );
    let unstable = engine
        .enqueue(vec![h.item("unstable", "recording.mov")])
        .await
        .unwrap()[0];
    let run = engine.run(None).await.unwrap();
    let item = engine.item(unstable).await.unwrap().unwrap();
    assert!(
        matches!(item.step, Step::Failed(ref e) if e.code == "SOURCE_UNSTABLE"),
        "{:?}",
        item.step
    );
    assert_eq!(item.restarts, 6);
    assert!(looks.get() <= 12, "one look per restart: {}", looks.get());
    // Backoff from the second restart on: at least 0.5 + 1 + 2 + 4 + 8 s
    // (the test clock skips the waits).
    assert!(run.elapsed_ms >= 15_000.0, "it waited: {run:?}");

    // A failed item can be retried once its source is back.
    h.sources.add("missing", pattern(10, 9));
    engine.retry(ids[1]).await.unwrap();
    engine.run(None).await.unwrap();
    assert!(matches!(step(1).await, Step::Done { .. }));
    let status = engine.status().await.unwrap();
    assert_eq!(status.counters.count(PublicState::Done), 2);
    assert_eq!(
        status.counters.count(PublicState::Failed),
        2,
        "short and unstable"
    );
}

/// After a step lands, the run weighs that item first, as the step
/// recorded it, instead of scanning the queue again: a run of photos scans
/// the runnable index about once a photo (to find the next one), not
/// before each of a photo's three steps.
#[tokio::test(flavor = "current_thread")]
async fn a_landed_items_next_step_is_taken_without_a_look_at_the_queue() {
    let h = Harness::start(|_| {}).await;
    let mut items = Vec::new();
    for i in 0..20 {
        h.sources.add(&format!("p{i}"), pattern(3000 + i, i as u64));
        items.push(h.item(&format!("p{i}"), &format!("photo-{i}.jpg")));
    }
    let engine = h.engine(2).await;
    engine.enqueue(items).await.unwrap();
    let before = h.store.scans(Table::Runnable);
    assert_eq!(engine.run(None).await.unwrap().files_done, 20);
    let scans = h.store.scans(Table::Runnable) - before;
    // One a photo, a few more while the run fills its slots and ends (26
    // here); a look before every step made it three a photo (67).
    assert!(scans <= 40, "{scans} scans of the runnable index");
    assert_eq!(h.server_files().await.len(), 20);
}

#[tokio::test(flavor = "current_thread")]
async fn small_files_take_upload_urls_fifty_at_a_time() {
    let h = Harness::start(|_| {}).await;
    let mut items = Vec::new();
    for i in 0..60 {
        h.sources.add(&format!("s{i}"), pattern(2000 + i, i as u64));
        items.push(h.item(&format!("s{i}"), &format!("small-{i}.jpg")));
    }
    let engine = h.engine(2).await;
    engine.enqueue(items).await.unwrap();
    assert_eq!(engine.run(None).await.unwrap().files_done, 60);
    let counts = h.request_counts().await;
    // 60 files need 120 URLs (file and thumbnail): three batches, not 60 calls.
    assert_eq!(counts["GET /files/upload-urls"], 3, "{counts}");
    assert_eq!(counts["POST /files"], 60);
    assert_eq!(h.server_files().await.len(), 60);
}

#[tokio::test(flavor = "current_thread")]
async fn expired_urls_are_replaced_and_the_upload_completes() {
    let h = Harness::start(|config| config.url_expiry_secs = 1).await;
    let data = pattern(9 * MIB, 5);
    h.sources.add("v", data.clone());
    let engine = h.engine(2).await;
    let id = engine.enqueue(vec![h.item("v", "late.mp4")]).await.unwrap()[0];
    // Step until the URLs are handed out, then let them expire.
    step_until(&engine, id, |u| u.target.is_some()).await;
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let outcome = run_until_settled(&engine).await;
    assert_eq!(outcome.files_done, 1, "{outcome:?}");
    let item = engine.item(id).await.unwrap().unwrap();
    assert!(matches!(item.step, Step::Done { .. }));
    let counts = h.request_counts().await;
    assert!(
        counts["GET /files/multipart-upload-urls"].as_u64().unwrap() >= 2,
        "new URLs were fetched: {counts}"
    );
    let files = h.server_files().await;
    assert_eq!(files.len(), 1);
    assert!(files[0].1 == data);
}

/// Steps `id` until its upload satisfies `reached`.
async fn step_until(engine: &TestEngine, id: ItemId, reached: impl Fn(&Upload) -> bool) {
    loop {
        match engine.item(id).await.unwrap().unwrap().step {
            Step::Uploading(u) if reached(&u) => return,
            Step::Queued | Step::Hashing { .. } | Step::Uploading(_) => {
                engine.run_steps(1).await.unwrap();
            }
            other => panic!("the item went past the point waited for: {other:?}"),
        }
    }
}

#[tokio::test(flavor = "current_thread")]
async fn an_upload_the_store_aborted_starts_again_and_lands_once() {
    // A device away for a week meets the bucket's lifecycle rule: the
    // unfinished multipart upload is gone, at any point of its progress.
    // The part PUT meets NoSuchUpload and the upload starts again at once.
    // The Complete meets NoSuchUpload too, which also follows a lost
    // answer on some stores, so the engine goes on to `POST /files`; the
    // server finds no object there, and only then the upload starts again.
    type AbortPoint = fn(&Upload) -> bool;
    // The server (museum's `sizeOf`) answers 503 OBJECT_SIZE_FETCH_FAILED;
    // the engine looks once more, then starts again: three POSTs.
    let cases: [(AbortPoint, &str, u64, u64); 2] = [
        (|u| !u.etags.is_empty(), "after its first parts", 1, 1),
        (
            |u| u.etags.len() == 4 && !u.completed,
            "after its last part, before Complete",
            2,
            3,
        ),
    ];
    for (abort_when, description, completes, posts) in cases {
        let h = Harness::start(|_| {}).await;
        let data = pattern(30 * MIB, 3); // 4 parts of 2 chunks
        h.sources.add("v", data.clone());
        let engine = h.engine(2).await;
        let id = engine.enqueue(vec![h.item("v", "trip.mp4")]).await.unwrap()[0];
        step_until(&engine, id, abort_when).await;
        assert_eq!(h.abort_unfinished_uploads().await, 1, "{description}");

        let outcome = run_until_settled(&engine).await;
        assert_eq!(outcome.files_done, 1, "{description}: {outcome:?}");
        let item = engine.item(id).await.unwrap().unwrap();
        assert!(
            matches!(item.step, Step::Done { .. }),
            "{description}: {item:?}"
        );
        let files = h.server_files().await;
        assert_eq!(files.len(), 1, "{description}");
        assert!(files[0].1 == data, "{description}");
        // Started again before its hash was known, the new upload hashes
        // from the start; after, it keeps the hash.
        assert_eq!(files[0].2["hash"], hash_b64(&data), "{description}");
        assert_eq!(markers(&h), 0, "{description}");
        let counts = h.request_counts().await;
        assert_eq!(
            counts["GET /files/multipart-upload-urls"], 2,
            "{description}: one fresh upload, not more: {counts}"
        );
        // URLs are pooled per run: one batch for the run that sent the
        // first thumbnail, one for the run that started again.
        assert_eq!(
            counts["GET /files/upload-urls"], 2,
            "{description}: one batch of URLs a run: {counts}"
        );
        assert_eq!(
            counts["s3:CompleteMultipartUpload"], completes,
            "{description}"
        );
        assert_eq!(counts["POST /files"], posts, "{description}");
    }
}

#[tokio::test(flavor = "current_thread")]
async fn files_already_on_the_server_are_skipped_after_a_reinstall() {
    let h = Harness::start(|_| {}).await;
    h.sources.add("beach", pattern(70_000, 1));
    h.sources.add("new", pattern(80_000, 2));
    let first_device = h.engine(2).await;
    first_device
        .enqueue(vec![h.item("beach", "beach.jpg")])
        .await
        .unwrap();
    first_device.run(None).await.unwrap();
    let uploaded = h.server_files().await;
    assert_eq!(uploaded.len(), 1);

    // A reinstall: an empty database, the same album and key.
    let reinstalled = h.engine_over(MemStore::default(), 2).await;
    let ids = reinstalled
        .enqueue(vec![
            h.item("beach", "beach.jpg"),
            h.item("new", "new.jpg"),
            h.item("beach", "beach-renamed.jpg"),
        ])
        .await
        .unwrap();
    reinstalled.run(None).await.unwrap();
    let step = async |id| reinstalled.item(id).await.unwrap().unwrap().step;
    assert!(
        matches!(step(ids[0]).await, Step::Skipped { ref duplicate_of } if duplicate_of.starts_with("file:")),
        "the file on the server is not uploaded again"
    );
    assert!(matches!(step(ids[1]).await, Step::Done { .. }));
    assert!(
        matches!(step(ids[2]).await, Step::Done { .. }),
        "another title is another file"
    );
    assert_eq!(h.server_files().await.len(), 3);
    let counts = h.request_counts().await;
    assert_eq!(counts["POST /files"], 3);
}

#[tokio::test(flavor = "current_thread")]
async fn the_hosts_thumbnail_is_sent_or_else_a_placeholder() {
    let h = Harness::start(|_| {}).await;
    h.sources.add("photo", pattern(30_000, 1));
    h.sources.add(
        "photo-thumb",
        b"\xff\xd8\xff a small JPEG thumbnail".to_vec(),
    );
    h.sources.add("plain", pattern(30_000, 2));
    let engine = h.engine(2).await;
    let mut with_thumbnail = h.item("photo", "with.jpg");
    with_thumbnail.thumbnail = Some("photo-thumb".into());
    let mut lost_thumbnail = h.item("plain", "lost.jpg");
    lost_thumbnail.thumbnail = Some("deleted-thumb".into());
    engine
        .enqueue(vec![with_thumbnail, lost_thumbnail])
        .await
        .unwrap();
    assert_eq!(engine.run(None).await.unwrap().files_done, 2);

    for record in h.records().await {
        let file_key = h.file_key(&record);
        let sealed = h.fetch("preview", &record).await;
        let thumbnail = decrypt_message(
            &file_key,
            &b64(&record["thumbnail"]["decryptionHeader"]),
            &sealed,
        )
        .unwrap();
        let metadata = Harness::metadata(&record, &file_key);
        match metadata["title"].as_str().unwrap() {
            "with.jpg" => assert_eq!(thumbnail, b"\xff\xd8\xff a small JPEG thumbnail"),
            _ => assert_eq!(
                &thumbnail[..8],
                b"\x89PNG\r\n\x1a\n",
                "the placeholder stands in"
            ),
        }
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_corrupted_record_does_not_hold_the_queue_hostage() {
    let h = Harness::start(|_| {}).await;
    h.sources.add("a", pattern(1000, 1));
    h.sources.add("b", pattern(1000, 2));
    let engine = h.engine(2).await;
    let ids = engine
        .enqueue(vec![h.item("a", "a.jpg"), h.item("b", "b.jpg")])
        .await
        .unwrap();
    h.store.0.borrow_mut().insert(
        (Table::Items, ids[0].to_be_bytes().to_vec()),
        b"\x00 not a queue record".to_vec(),
    );
    let outcome = engine.run(None).await.unwrap();
    assert_eq!(outcome.files_done, 1);
    assert!(matches!(
        engine.item(ids[1]).await.unwrap().unwrap().step,
        Step::Done { .. }
    ));
    assert_eq!(
        engine.item(ids[0]).await.unwrap_err().code,
        "CORRUPT_RECORD"
    );
    let listed = engine.items(None, 0, 10).await.unwrap();
    assert_eq!(
        listed.iter().map(|i| i.id).collect::<Vec<_>>(),
        vec![ids[1]]
    );
    assert_eq!(h.server_files().await.len(), 1);
}

#[tokio::test(flavor = "current_thread")]
async fn one_runner_per_database_by_lease_and_a_dead_runners_lease_expires() {
    let h = Harness::start(|_| {}).await;
    h.sources.add("a", pattern(3 * MIB, 1));
    let first = h.engine(2).await;
    first.enqueue(vec![h.item("a", "a.jpg")]).await.unwrap();
    let second = h.engine(2).await;
    let leased = |engine: &TestEngine| {
        let mut plan = RunPlan::new(
            Trigger::Sync,
            Some(150_000.0),
            engine.env().clock.monotonic_ms(),
        );
        plan.use_lease = true;
        plan
    };

    // The first runner dies holding the lease (a killed service worker).
    let started = Rc::new(tokio::sync::Notify::new());
    let notify = started.clone();
    *first.env().transport.hook.borrow_mut() = Some(Box::new(move |_| notify.notify_one()));
    tokio::select! {
        _ = first.run_plan(leased(&first)) => panic!("the run finished before it was killed"),
        () = started.notified() => {}
    }
    drop(first);
    let busy = second.run_plan(leased(&second)).await.unwrap();
    assert_eq!(busy.stopped_because, StopReason::Busy);
    assert_eq!(busy.files_done, 0);
    assert_eq!(
        busy.next_run_hint_ms,
        Some(5_000.0),
        "the host is told to try again soon"
    );

    // Once the lease expires, the next runner takes over and finishes.
    second.env().clock.sleep_ms(LEASE_MS as u64 + 1).await;
    let report = second.run_plan(leased(&second)).await.unwrap();
    assert_eq!(report.stopped_because, StopReason::Idle);
    assert_eq!(report.files_done, 1);
    // ... and left the lease free.
    let third = second.run_plan(leased(&second)).await.unwrap();
    assert_eq!(third.stopped_because, StopReason::Idle);

    // Every run left a record, newest first, busy ones included, and the
    // dead runner's is written by the runner that took over.
    let runs = second.runs(10).await.unwrap();
    let reasons: Vec<StopReason> = runs.iter().map(|r| r.stopped_because).collect();
    assert_eq!(
        reasons,
        [
            StopReason::Idle,
            StopReason::Idle,
            StopReason::Killed,
            StopReason::Busy
        ]
    );
    assert!(runs.iter().all(|r| r.trigger == Trigger::Sync));
}

#[tokio::test(flavor = "current_thread")]
async fn short_background_runs_defer_videos_and_respect_the_file_cap() {
    let h = Harness::start(|_| {}).await;
    let mut items = Vec::new();
    for i in 0..4 {
        h.sources
            .add(&format!("p{i}"), pattern(2_000 + i, i as u64));
        items.push(h.item(&format!("p{i}"), &format!("p{i}.jpg")));
    }
    h.sources.add("v", pattern(3_000, 9));
    let mut video = h.item("v", "clip.mp4");
    video.file_type = FileType::Video;
    items.insert(0, video);
    let engine = h.engine(2).await;
    engine.enqueue(items).await.unwrap();

    let mut push = RunPlan::new(
        Trigger::IosPush,
        Some(25_000.0),
        engine.env().clock.monotonic_ms(),
    );
    push.policies.max_files_per_background_run = Some(3);
    let report = engine.run_plan(push).await.unwrap();
    assert_eq!(report.files_done, 3, "{report:?}");
    assert_eq!(
        report.stopped_because,
        StopReason::Deferred,
        "the cap ends the run: {report:?}"
    );
    let deferred = report.deferred.unwrap();
    assert_eq!(
        (deferred.file_cap, deferred.videos),
        (2, 0),
        "a photo and the video are left"
    );
    assert_eq!(
        report.next_run_hint_ms,
        Some(0.0),
        "another run may take them now"
    );

    push.started_ms = engine.env().clock.monotonic_ms();
    push.deadline_ms = Some(push.started_ms + 24_000.0);
    let report = engine.run_plan(push).await.unwrap();
    assert_eq!(report.files_done, 1);
    assert_eq!(
        report.stopped_because,
        StopReason::Deferred,
        "only the video is left, held for a longer window, which is not idle"
    );
    let deferred = report.deferred.unwrap();
    assert_eq!((deferred.videos, deferred.file_cap), (1, 0));
    assert_eq!(deferred.videos_min_budget_ms, 60_000);
    assert_eq!(
        report.next_run_hint_ms, None,
        "no time by the clock brings a longer window"
    );
    let status = engine.status().await.unwrap();
    assert_eq!(status.counters.count(PublicState::Done), 4);
    assert_eq!(
        status.counters.count(PublicState::Queued),
        1,
        "the video waits"
    );
    // Kept with the stop reason only; diagnose says what waits, in words.
    let kept = &engine.runs(1).await.unwrap()[0];
    assert_eq!(
        (kept.stopped_because, kept.deferred),
        (StopReason::Deferred, None)
    );
    let findings = engine.diagnose(&Default::default()).await.unwrap();
    let finding = findings
        .iter()
        .find(|f| f.code == "WORK_DEFERRED")
        .unwrap_or_else(|| panic!("{findings:?}"));
    assert!(
        finding
            .advice
            .contains("1 video waits for a run of at least 60 s"),
        "{}",
        finding.advice
    );

    // A foreground run takes the video, and nothing is held back any more.
    let report = engine.run(None).await.unwrap();
    assert_eq!(report.files_done, 1);
    assert_eq!(report.stopped_because, StopReason::Idle);
    assert_eq!(h.server_files().await.len(), 5);
    let findings = engine.diagnose(&Default::default()).await.unwrap();
    assert!(
        findings.iter().all(|f| f.code != "WORK_DEFERRED"),
        "{findings:?}"
    );
}

/// Drives `run` until `killed_when` holds, then drops it mid-flight, as a
/// system that stops a service worker or suspends an app does.
async fn kill_run_when<F: Future>(run: F, killed_when: impl AsyncFn() -> bool) {
    let run = std::pin::pin!(run);
    let watch = std::pin::pin!(async {
        while !killed_when().await {
            tokio::task::yield_now().await;
        }
    });
    match futures_util::future::select(run, watch).await {
        futures_util::future::Either::Left(_) => panic!("the run ended before the kill"),
        futures_util::future::Either::Right(_) => {}
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_killed_run_is_recorded_by_the_next_and_its_item_is_not_shown_in_hand() {
    let h = Harness::start(|_| {}).await;
    for i in 0..3 {
        h.sources
            .add(&format!("p{i}"), pattern(3_000 + i, i as u64));
    }
    h.sources.add("big", pattern(12 * MIB, 7));
    let mut items: Vec<NewItem> = (0..3)
        .map(|i| h.item(&format!("p{i}"), &format!("p{i}.jpg")))
        .collect();
    items.push(h.item("big", "big.mov"));
    // One file at a time: the photos are done before the big file starts.
    let config = EngineConfig {
        chunks_per_part: 2,
        parallel_files: 1,
        ..EngineConfig::default()
    };
    let first = h.engine_with(h.store.clone(), config).await;
    let ids = first.enqueue(items).await.unwrap();
    let big = ids[3];

    // The system kills the run once the big file's first part is recorded.
    let plan = RunPlan::new(
        Trigger::Push,
        Some(600_000.0),
        first.env().clock.monotonic_ms(),
    );
    kill_run_when(first.run_plan(plan), async || {
        matches!(first.item(big).await.unwrap().unwrap().step,
            Step::Uploading(ref u) if !u.etags.is_empty())
    })
    .await;
    drop(first);

    // After a restart, with no runner: the big file is left part-way, and
    // shown waiting, in the counts and in the list alike.
    let engine = h.engine(2).await;
    let status = engine.status().await.unwrap();
    assert_eq!(
        (
            status.counters.count(PublicState::Uploading),
            status.counters.count(PublicState::Hashing),
            status.counters.count(PublicState::Waiting),
            status.counters.count(PublicState::Done),
        ),
        (0, 0, 1, 3)
    );
    assert!(
        engine
            .items(Some(PublicState::Uploading), 0, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let waiting = engine
        .items(Some(PublicState::Waiting), 0, 10)
        .await
        .unwrap();
    assert_eq!(waiting.iter().map(|i| i.id).collect::<Vec<_>>(), [big]);

    // The next run records the killed one first, with what it had done.
    let report = engine.run(None).await.unwrap();
    assert_eq!(report.files_done, 1);
    let runs = engine.runs(10).await.unwrap();
    assert_eq!(runs.len(), 2, "{runs:?}");
    let killed = &runs[1];
    assert_eq!(killed.stopped_because, StopReason::Killed);
    assert_eq!(killed.trigger, Trigger::Push);
    assert_eq!(
        killed.files_done, 3,
        "the photos were done before the big file started"
    );
    assert!(killed.started_at <= runs[0].started_at);
    assert_eq!(runs[0].stopped_because, StopReason::Idle);
    assert_eq!(h.server_files().await.len(), 4);
    // Recorded once: a third run finds nothing more to record.
    engine.run(None).await.unwrap();
    assert_eq!(engine.runs(10).await.unwrap().len(), 3);
}

#[tokio::test(flavor = "current_thread")]
async fn a_run_that_stops_part_way_leaves_its_item_shown_waiting() {
    let h = Harness::start(|_| {}).await;
    h.sources.add("big", pattern(9 * MIB, 5));
    let engine = h.engine(2).await;
    let id = engine
        .enqueue(vec![h.item("big", "big.mov")])
        .await
        .unwrap()[0];
    // Two steps: hashing has begun, and the run stops.
    engine.run_steps(2).await.unwrap();
    let item = engine.item(id).await.unwrap().unwrap();
    assert!(
        matches!(item.step, Step::Hashing { .. } | Step::Uploading(_)),
        "{:?}",
        item.step
    );
    let status = engine.status().await.unwrap();
    assert_eq!(
        (
            status.counters.count(PublicState::Hashing)
                + status.counters.count(PublicState::Uploading),
            status.counters.count(PublicState::Waiting),
        ),
        (0, 1),
        "no run is working on it"
    );
    engine.run(None).await.unwrap();
    assert_eq!(
        engine
            .status()
            .await
            .unwrap()
            .counters
            .count(PublicState::Done),
        1
    );
}

/// A clock whose waits take real time, for what a person would wait for.
#[derive(Debug, Default, Clone)]
struct RealClock;

impl Clock for RealClock {
    fn now_ms(&self) -> i64 {
        FastClock::default().now_ms()
    }
    fn monotonic_ms(&self) -> f64 {
        FastClock::default().monotonic_ms()
    }
    async fn sleep_ms(&self, ms: u64) {
        tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
    }
    async fn pace_ms(&self, ms: u64) {
        self.sleep_ms(ms).await;
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_stop_is_answered_within_a_second_even_while_waiting_for_a_retry() {
    let h = Harness::start(|_| {}).await;
    h.sources.add("a", pattern(10_000, 1));
    let engine = h.engine_at(h.server.api_url(), RealClock).await;
    engine.enqueue(vec![h.item("a", "a.jpg")]).await.unwrap();
    // Every upload URL request answers 503 until the faults are cleared:
    // the run waits in-run for each retry (1 s, 2 s, 4 s, ...).
    h.set_faults(json!({ "rules": [{ "route": "GET /files/upload-urls", "errorRate": 1.0 }] }))
        .await;
    let stopped_at = Rc::new(Cell::new(None));
    let report = {
        let run = std::pin::pin!(engine.run(None));
        let stop = std::pin::pin!(async {
            // Inside the third wait (4 s, from about 3 s to 7 s in).
            tokio::time::sleep(std::time::Duration::from_millis(3_500)).await;
            stopped_at.set(Some(std::time::Instant::now()));
            engine.request_stop();
            std::future::pending::<()>().await;
        });
        match futures_util::future::select(run, stop).await {
            futures_util::future::Either::Left((report, _)) => report.unwrap(),
            futures_util::future::Either::Right(_) => unreachable!(),
        }
    };
    let answered_in = stopped_at.get().expect("the stop was requested").elapsed();
    assert!(
        answered_in < std::time::Duration::from_secs(1),
        "the run answered the stop after {answered_in:?}"
    );
    assert_eq!(report.stopped_because, StopReason::Budget, "{report:?}");
    h.clear_faults().await;
}

#[tokio::test(flavor = "current_thread")]
async fn a_run_starts_only_what_it_expects_to_finish() {
    let h = Harness::start(|_| {}).await;
    h.sources.add("big", pattern(30 * MIB, 3));
    h.sources.add("small", pattern(5_000, 4));
    let engine = h.engine(5).await;
    engine
        .enqueue(vec![h.item("big", "big.mov"), h.item("small", "small.jpg")])
        .await
        .unwrap();
    // Hash the big file and get its URLs in the foreground.
    while !matches!(&engine.items(None, 0, 1).await.unwrap()[0].step, Step::Uploading(u) if u.target.is_some())
    {
        engine.run_steps(1).await.unwrap();
    }
    // 2.5 s with the cautious first estimate (0.5 MB/s): no 20 MiB part
    // fits, so the small file goes instead of the run idling or overrunning.
    let plan = RunPlan::new(
        Trigger::Push,
        Some(2_500.0),
        engine.env().clock.monotonic_ms(),
    );
    let report = engine.run_plan(plan).await.unwrap();
    assert_eq!(report.stopped_because, StopReason::Budget, "{report:?}");
    assert_eq!(report.files_done, 1, "the small file fitted");
    let big = &engine.items(None, 0, 1).await.unwrap()[0];
    assert!(matches!(&big.step, Step::Uploading(u) if u.etags.is_empty()));
    let counts = h.request_counts().await;
    assert!(
        counts.get("s3:UploadPart").is_none()
            && !counts
                .as_object()
                .unwrap()
                .keys()
                .any(|k| k.starts_with("s3:UploadPart")),
        "no part was started: {counts}"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn offline_blocks_the_run_and_the_next_run_tries_again_by_itself() {
    let h = Harness::start(|_| {}).await;
    h.sources.add("a", pattern(10_000, 1));
    // No one listens on port 9 of loopback: the connection is refused.
    let offline = h
        .engine_at("http://127.0.0.1:9".into(), FastClock::default())
        .await;
    offline.enqueue(vec![h.item("a", "a.jpg")]).await.unwrap();
    let report = offline.run(None).await.unwrap();
    assert_eq!(report.stopped_because, StopReason::Offline);
    assert_eq!(report.blocked, Some(BlockedReason::Offline));

    // Back online: no resume() needed.
    let online = h.engine(2).await;
    let report = online.run(None).await.unwrap();
    assert_eq!(report.files_done, 1, "{report:?}");
    assert_eq!(online.status().await.unwrap().blocked, None);
}

/// The file id an item ended with.
async fn file_id(engine: &TestEngine, id: ItemId) -> i64 {
    match engine.item(id).await.unwrap().unwrap().step {
        Step::Done { file_id } => file_id,
        other => panic!("item {id} is not done: {other:?}"),
    }
}

/// The object keys of an item's upload: (file, thumbnail).
async fn upload_keys(engine: &TestEngine, id: ItemId) -> (String, String) {
    let Step::Uploading(upload) = engine.item(id).await.unwrap().unwrap().step else {
        panic!("item {id} is not uploading");
    };
    let file = match upload.target.unwrap() {
        Target::Single(url) => url.object_key,
        Target::Multipart(urls) => urls.object_key,
    };
    (file, upload.thumbnail.unwrap().url.object_key)
}

#[tokio::test(flavor = "current_thread")]
async fn a_second_batch_into_an_album_that_already_holds_files_uploads() {
    // museum's diff records carry no object keys (`convertRowsToFiles`):
    // reading them must not stop dedupe, or nothing after the first batch
    // would ever upload.
    let h = Harness::start(|_| {}).await;
    for i in 0..4 {
        h.sources
            .add(&format!("p{i}"), pattern(30_000 + i, 20 + i as u64));
    }
    let engine = h.engine(2).await;
    engine
        .enqueue(vec![h.item("p0", "p0.jpg"), h.item("p1", "p1.jpg")])
        .await
        .unwrap();
    assert_eq!(run_until_settled(&engine).await.files_done, 2);
    let records = h.records().await;
    assert!(records.iter().all(|r| r["file"].get("objectKey").is_none()
        && r["thumbnail"].get("objectKey").is_none()
        && r["file"]["size"] == 0));

    // A later batch, after a reload: two new photos and one already there.
    let engine = h.engine(2).await;
    let ids = engine
        .enqueue(vec![
            h.item("p2", "p2.jpg"),
            h.item("p3", "p3.jpg"),
            h.item("p1", "p1.jpg"),
        ])
        .await
        .unwrap();
    let outcome = run_until_settled(&engine).await;
    assert_eq!(outcome.files_done, 2, "{outcome:?}");
    let step = async |id| engine.item(id).await.unwrap().unwrap().step;
    assert!(matches!(step(ids[0]).await, Step::Done { .. }));
    assert!(matches!(step(ids[1]).await, Step::Done { .. }));
    assert!(matches!(step(ids[2]).await, Step::Skipped { .. }));
    // A device with an empty database reads the same records and skips all.
    let other = h.engine_over(MemStore::default(), 2).await;
    let again = other
        .enqueue(vec![h.item("p0", "p0.jpg"), h.item("p3", "p3.jpg")])
        .await
        .unwrap();
    run_until_settled(&other).await;
    for id in again {
        assert!(
            matches!(other.item(id).await.unwrap().unwrap().step, Step::Skipped { ref duplicate_of } if duplicate_of.starts_with("file:"))
        );
    }
    let mut titles: Vec<String> = h.server_files().await.into_iter().map(|f| f.0).collect();
    titles.sort();
    assert_eq!(
        titles,
        ["p0.jpg", "p1.jpg", "p2.jpg", "p3.jpg"],
        "each once"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_trashed_file_added_again_uploads_again() {
    // museum keeps a removal marker (`isDeleted: true`) in the diff for a
    // trashed file; dedupe must forget the file, on the device that
    // uploaded it and on one that only read it from the diff.
    let h = Harness::start(|_| {}).await;
    let data = pattern(60_000, 9);
    h.sources.add("p", data.clone());
    let device_a = h.engine(2).await;
    let first = device_a.enqueue(vec![h.item("p", "p.jpg")]).await.unwrap()[0];
    run_until_settled(&device_a).await;
    let n = file_id(&device_a, first).await;
    let device_b = h.engine_over(MemStore::default(), 2).await;
    let seen = device_b.enqueue(vec![h.item("p", "p.jpg")]).await.unwrap()[0];
    run_until_settled(&device_b).await;
    assert_eq!(
        device_b.item(seen).await.unwrap().unwrap().step,
        Step::Skipped {
            duplicate_of: format!("file:{n}")
        }
    );

    h.trash(&[n]).await;
    assert!(h.server_files().await.is_empty());
    let again_a = device_a.enqueue(vec![h.item("p", "p.jpg")]).await.unwrap()[0];
    run_until_settled(&device_a).await;
    let m = file_id(&device_a, again_a).await;
    assert_ne!(m, n);
    assert_eq!(h.server_files().await.len(), 1);

    // Trashed again; device B (whose entry came from the diff) adds it too.
    h.trash(&[m]).await;
    let again_b = device_b.enqueue(vec![h.item("p", "p.jpg")]).await.unwrap()[0];
    run_until_settled(&device_b).await;
    let k = file_id(&device_b, again_b).await;
    assert!(k != n && k != m);
    // Device A now sees B's copy: a fourth add is a duplicate again.
    let fourth = device_a.enqueue(vec![h.item("p", "p.jpg")]).await.unwrap()[0];
    run_until_settled(&device_a).await;
    assert_eq!(
        device_a.item(fourth).await.unwrap().unwrap().step,
        Step::Skipped {
            duplicate_of: format!("file:{k}")
        }
    );
    let files = h.server_files().await;
    assert_eq!(files.len(), 1, "one live copy");
    assert!(files[0].1 == data);
    let markers = h
        .records()
        .await
        .into_iter()
        .filter(|r| r["isDeleted"] == true)
        .count();
    assert_eq!(markers, 2);
}

#[tokio::test(flavor = "current_thread")]
async fn a_lost_object_is_looked_for_twice_then_uploaded_again() {
    // museum answers 503 OBJECT_SIZE_FETCH_FAILED when `sizeOf` finds no
    // object: the engine retries once, and when the second look confirms,
    // starts the upload again with a new key and new URLs.
    let h = Harness::start(|_| {}).await;
    let data = pattern(120_000, 11);
    h.sources.add("lost", data.clone());
    let engine = h.engine(2).await;
    let id = engine
        .enqueue(vec![h.item("lost", "lost.jpg")])
        .await
        .unwrap()[0];
    step_until(&engine, id, |u| u.thumbnail_sent() && u.completed).await;
    let (file_key, _) = upload_keys(&engine, id).await;
    std::fs::remove_file(h.object_path(&file_key)).unwrap();

    engine.run_steps(1).await.unwrap();
    let item = engine.item(id).await.unwrap().unwrap();
    let error = item.last_error.clone().unwrap();
    assert_eq!(error.code, "RETRYING");
    assert!(
        error.message.starts_with("OBJECT_SIZE_FETCH_FAILED"),
        "{error:?}"
    );
    assert_eq!(
        upload_keys(&engine, id).await.0,
        file_key,
        "first look: same upload"
    );

    let outcome = run_until_settled(&engine).await;
    assert_eq!(outcome.files_done, 1, "{outcome:?}");
    let files = h.server_files().await;
    assert_eq!(files.len(), 1);
    assert!(files[0].1 == data);
    let counts = h.request_counts().await;
    assert_eq!(counts["POST /files"], 3, "{counts}");
    assert_eq!(
        counts["s3:PutObject"], 4,
        "the file and thumbnail again: {counts}"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_passing_object_size_fetch_failure_is_retried_not_uploaded_again() {
    let h = Harness::start(|_| {}).await;
    let data = pattern(80_000, 12);
    h.sources.add("p", data.clone());
    let engine = h.engine(2).await;
    let id = engine.enqueue(vec![h.item("p", "p.jpg")]).await.unwrap()[0];
    step_until(&engine, id, |u| u.thumbnail_sent() && u.completed).await;
    // The server cannot reach its store for a moment: every HEAD fails.
    h.set_faults(json!({ "rules": [{ "route": "s3:HeadObject", "errorRate": 1.0 }] }))
        .await;
    engine.run_steps(1).await.unwrap();
    let error = engine.item(id).await.unwrap().unwrap().last_error.unwrap();
    assert!(
        error.message.starts_with("OBJECT_SIZE_FETCH_FAILED"),
        "{error:?}"
    );
    h.clear_faults().await;
    assert_eq!(run_until_settled(&engine).await.files_done, 1);
    let counts = h.request_counts().await;
    assert_eq!(counts["POST /files"], 2, "{counts}");
    assert_eq!(
        counts["s3:PutObject"], 2,
        "nothing uploaded twice: {counts}"
    );
    assert!(h.server_files().await[0].1 == data);
}

#[tokio::test(flavor = "current_thread")]
async fn keys_registered_under_other_attributes_make_the_upload_start_again() {
    // museum's `onDuplicateObjectDetected`: object keys already registered
    // with other attributes are a plain 400. For this item it means its
    // upload is not what the server holds: it starts again under new keys.
    let h = Harness::start(|_| {}).await;
    let data = pattern(50_000, 13);
    h.sources.add("p", data.clone());
    let engine = h.engine(2).await;
    let id = engine.enqueue(vec![h.item("p", "p.jpg")]).await.unwrap()[0];
    step_until(&engine, id, |u| u.thumbnail_sent() && u.completed).await;
    let (file_key, thumb_key) = upload_keys(&engine, id).await;
    // Someone registered the same objects first, with other metadata.
    let squatter: Value = h
        .http
        .post(format!("{}/files", h.server.api_url()))
        .header("X-Auth-Token", &h.server.token)
        .json(&json!({
            "collectionID": h.collection_id,
            "encryptedKey": to_base64(&[1; 48]), "keyDecryptionNonce": to_base64(&[2; 24]),
            "file": { "objectKey": file_key, "decryptionHeader": to_base64(&[3; 24]), "size": 0 },
            "thumbnail": { "objectKey": thumb_key, "decryptionHeader": to_base64(&[4; 24]), "size": 0 },
            "metadata": { "encryptedData": to_base64(b"other"), "decryptionHeader": to_base64(&[5; 24]) },
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let squatter = squatter["id"].as_i64().unwrap();

    engine.run_steps(1).await.unwrap();
    let item = engine.item(id).await.unwrap().unwrap();
    assert_eq!(item.last_error.as_ref().unwrap().code, "UPLOAD_REJECTED");
    assert_ne!(
        upload_keys_or_none(&engine, id).await,
        Some((file_key, thumb_key))
    );
    assert_eq!(run_until_settled(&engine).await.files_done, 1);
    let n = file_id(&engine, id).await;
    assert_ne!(n, squatter);
    let records = h.records().await;
    let mine = records.iter().find(|r| r["id"] == n).unwrap();
    let key = h.file_key(mine);
    assert_eq!(Harness::metadata(mine, &key)["title"], "p.jpg");
    assert!(h.fetch("download", mine).await.len() > data.len());
}

/// The object keys of an item's upload, once it has URLs.
async fn upload_keys_or_none(engine: &TestEngine, id: ItemId) -> Option<(String, String)> {
    match engine.item(id).await.unwrap().unwrap().step {
        Step::Uploading(upload) if upload.target.is_some() => Some(upload_keys(engine, id).await),
        _ => None,
    }
}

#[tokio::test(flavor = "current_thread")]
async fn no_subscription_at_url_time_blocks_with_payment_until_resume() {
    // museum's `GetUploadURLs` calls `CanUploadFile` first: 402 `{}`
    // before any URL.
    let h = Harness::start(|config| config.subscription_expired = vec!["*".into()]).await;
    h.sources.add("p", pattern(5_000, 14));
    let engine = h.engine(2).await;
    let id = engine.enqueue(vec![h.item("p", "p.jpg")]).await.unwrap()[0];
    let outcome = engine.run(None).await.unwrap();
    assert_eq!(outcome.stopped_because, StopReason::Quota);
    let status = engine.status().await.unwrap();
    assert_eq!(status.blocked, Some(BlockedReason::Payment));
    assert_eq!(status.counters.count(PublicState::Failed), 0);
    let counts = h.request_counts().await;
    assert_eq!(counts["GET /files/upload-urls"], 1, "{counts}");
    assert!(counts.get("s3:PutObject").is_none(), "{counts}");
    // Still blocked until the host acts.
    assert_eq!(
        engine.run(None).await.unwrap().stopped_because,
        StopReason::Quota
    );
    h.set_subscription_expired(false).await;
    engine.resume().await.unwrap();
    assert_eq!(run_until_settled(&engine).await.files_done, 1);
    assert!(matches!(
        engine.item(id).await.unwrap().unwrap().step,
        Step::Done { .. }
    ));
}

#[tokio::test(flavor = "current_thread")]
async fn museums_empty_error_bodies_fail_items_with_clear_codes() {
    // museum answers most refusals with `{}`: the item says the status.
    let h = Harness::start(|config| config.tokens = vec!["alice".into(), "bob".into()]).await;
    let bobs: Value = h
        .http
        .post(format!("{}/collections", h.server.api_url()))
        .header("X-Auth-Token", "bob")
        .json(&json!({
            "encryptedKey": to_base64(&[1; 48]), "keyDecryptionNonce": to_base64(&[2; 24]),
            "type": "album",
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let bobs = bobs["collection"]["id"].as_i64().unwrap();
    h.sources.add("mine", pattern(7_000, 15));
    h.sources.add("theirs", pattern(8_000, 16));
    let engine = h.engine(2).await;
    engine
        .set_collection_key(bobs, &Key::generate())
        .await
        .unwrap();
    let mut theirs = h.item("theirs", "theirs.jpg");
    theirs.collection_id = bobs;
    let ids = engine
        .enqueue(vec![theirs, h.item("mine", "mine.jpg")])
        .await
        .unwrap();
    run_until_settled(&engine).await;
    let failed = engine.item(ids[0]).await.unwrap().unwrap();
    let Step::Failed(error) = failed.step else {
        panic!("{failed:?}");
    };
    assert_eq!(error.code, "HTTP_404", "{error:?}");
    assert_eq!(error.message, "HTTP 404: no details");
    assert!(matches!(
        engine.item(ids[1]).await.unwrap().unwrap().step,
        Step::Done { .. }
    ));
}

#[tokio::test(flavor = "current_thread")]
async fn the_client_passes_the_strict_checks() {
    // `--strict` refuses malformed fields, keys never handed out and any
    // size that is not the stored one: the client's requests pass them all.
    let h = Harness::start(|config| config.strict = true).await;
    let sizes = [0, 1, 70_000, 8 * MIB + 3, 17 * MIB];
    let mut items = Vec::new();
    for (i, size) in sizes.iter().enumerate() {
        h.sources
            .add(&format!("s{i}"), pattern(*size, 30 + i as u64));
        items.push(h.item(&format!("s{i}"), &format!("strict-{i}.bin")));
    }
    let engine = h.engine(2).await;
    engine.enqueue(items).await.unwrap();
    let outcome = run_until_settled(&engine).await;
    assert_eq!(outcome.files_done, sizes.len() as u64, "{outcome:?}");
    assert_eq!(h.server_files().await.len(), sizes.len());
}

#[tokio::test(flavor = "current_thread")]
async fn a_single_put_needs_no_etag_only_multipart_parts_do() {
    // Only CompleteMultipartUpload reads ETags: a store (or a CORS rule)
    // that does not show one must not hold up small files.
    let h = Harness::start(|_| {}).await;
    let small = pattern(6 * MIB, 17); // two chunks: one PUT
    h.sources.add("small", small.clone());
    h.sources.add("large", pattern(9 * MIB, 18)); // three chunks: multipart
    let engine = h.engine(2).await;
    engine.env().transport.hide_etag.set(true);
    let ids = engine
        .enqueue(vec![
            h.item("small", "small.jpg"),
            h.item("large", "large.mp4"),
        ])
        .await
        .unwrap();
    engine.run(None).await.unwrap();
    assert!(matches!(
        engine.item(ids[0]).await.unwrap().unwrap().step,
        Step::Done { .. }
    ));
    // A part without an ETag is never recorded (retried, and in the end
    // failed), since Complete could not name it.
    let large = engine.item(ids[1]).await.unwrap().unwrap();
    let error = match &large.step {
        Step::Uploading(u) if u.etags.is_empty() => large.last_error.clone().unwrap(),
        Step::Failed(error) => error.clone(),
        other => panic!("{other:?}"),
    };
    assert!(error.message.contains("ETag"), "{error:?}");
    let files = h.server_files().await;
    assert_eq!(files.len(), 1);
    assert!(files[0].1 == small);
}

/// Real files, made with ffmpeg, exiftool and libheif (Debian packages):
/// `photo.jpg`: a 16×16 JPEG, big-endian Exif with DateTimeOriginal
/// 2023:07:14 18:30:15, SubSecTimeOriginal 25, OffsetTimeOriginal +02:00 and
/// GPS 48.858222 N 2.2945 W (`exiftool -DateTimeOriginal=… -GPSLatitude=…`);
/// `local.jpg`: little-endian Exif (`-ExifByteOrder=II`) with only
/// DateTimeOriginal 2021:12:31 23:59:59, no offset;
/// `photo.heic`: a 16×16 HEIC (`heif-enc`: a grid item in `idat` and an
/// HEVC tile), then `exiftool -DateTimeOriginal="2022:02:03 04:05:06"
/// -OffsetTimeOriginal=-05:30 -GPSLatitude=33.8568 -GPSLatitudeRef=S
/// -GPSLongitude=151.2153 -GPSLongitudeRef=E`, an Exif item in `mdat`;
/// `clip.mov`: 2.5 s of H.264 with `-metadata creation_time=2023-07-14T16:30:15Z`,
/// `moov` after `mdat`; `keys.mov`: 1 s, `creation_time=2024-02-29T12:00:00Z`,
/// `moov` first.
#[tokio::test(flavor = "current_thread")]
async fn metadata_carries_what_photos_and_videos_say_about_themselves() {
    let h = Harness::start(|_| {}).await;
    let fixture = |name: &str| {
        std::fs::read(format!(
            "{}/tests/fixtures/media/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
    };
    for name in [
        "photo.jpg",
        "local.jpg",
        "photo.heic",
        "clip.mov",
        "keys.mov",
    ] {
        h.sources.add(name, fixture(name));
    }
    h.sources.add("plain", pattern(5000, 3));
    h.sources
        .add("thumb", b"\xff\xd8\xff a host's JPEG thumbnail".to_vec());
    // No creation or modification time from the host: the file says.
    let untimed = |source: &str, title: &str| NewItem {
        creation_time: 0,
        modification_time: 0,
        ..h.item(source, title)
    };
    let video = |source: &str, title: &str| NewItem {
        file_type: FileType::Video,
        ..untimed(source, title)
    };
    let mut local = untimed("local.jpg", "local.jpg");
    local.thumbnail = Some("thumb".into());
    local.modification_time = 1_650_000_000_000_000;
    let mut given = untimed("photo.jpg", "given.jpg");
    given.creation_time = 1_600_000_000_000_000;
    let mut keys = video("keys.mov", "keys.mov");
    keys.creation_time = 1_600_000_000_000_000;
    let engine = h.engine(2).await;
    engine
        .enqueue(vec![
            untimed("photo.jpg", "photo.jpg"),
            local,
            given,
            untimed("photo.heic", "photo.heic"),
            video("clip.mov", "clip.mov"),
            keys,
            video("plain", "plain.mp4"),
        ])
        .await
        .unwrap();
    assert_eq!(run_until_settled(&engine).await.files_done, 7);

    let files = h.server_files().await;
    let metadata = |title: &str| {
        let (_, plaintext, metadata) = files.iter().find(|(t, _, _)| t == title).unwrap();
        assert_eq!(metadata["hash"], hash_b64(plaintext));
        metadata.clone()
    };
    // MemSources files were last modified at 1_700_000_000_000 ms.
    let file_modified = 1_700_000_000_000_000i64;

    // 18:30:15.25 at +02:00 is 16:30:15.250 UTC.
    let photo = metadata("photo.jpg");
    assert_eq!(photo["creationTime"], 1_689_352_215_250_000i64);
    assert_eq!(photo["modificationTime"], file_modified);
    assert_eq!(photo["latitude"].as_f64(), Some(48.858222));
    assert_eq!(photo["longitude"].as_f64(), Some(-2.2945));
    assert_eq!(photo["fileType"], 0);
    assert_eq!(photo.get("duration"), None);
    // Natively no thumbnail can be made: the placeholder went, and says so.
    assert_eq!(photo["hasStaticThumbnail"], true);

    // No offset: local time where it is uploaded (the test clock's zone is UTC).
    let local = metadata("local.jpg");
    assert_eq!(local["creationTime"], 1_640_995_199_000_000i64);
    assert_eq!(local["modificationTime"], 1_650_000_000_000_000i64);
    assert_eq!(local.get("latitude"), None);
    assert_eq!(
        local.get("hasStaticThumbnail"),
        None,
        "the host's thumbnail went"
    );

    // The host's creation time wins over the file's; the place is still read.
    let given = metadata("given.jpg");
    assert_eq!(given["creationTime"], 1_600_000_000_000_000i64);
    assert_eq!(given["latitude"].as_f64(), Some(48.858222));

    // HEIC: the Exif item `iloc` points to. 04:05:06 at -05:30 is 09:35:06 UTC.
    let heic = metadata("photo.heic");
    assert_eq!(heic["creationTime"], 1_643_880_906_000_000i64);
    assert_eq!(heic["latitude"].as_f64(), Some(-33.8568));
    assert_eq!(heic["longitude"].as_f64(), Some(151.2153));
    assert_eq!(heic["fileType"], 0);
    assert_eq!(heic.get("duration"), None);

    // The movie header's creation time (UTC) and its duration in whole
    // seconds, rounded up as Ente's clients write it; found although
    // `moov` follows the media.
    let clip = metadata("clip.mov");
    assert_eq!(clip["creationTime"], 1_689_352_215_000_000i64);
    assert_eq!(clip["modificationTime"], file_modified);
    assert_eq!(clip["duration"], 3);
    assert_eq!(clip["fileType"], 1);
    assert_eq!(clip.get("latitude"), None);
    assert_eq!(clip["hasStaticThumbnail"], true);

    // The host's creation time wins over the movie's; the duration is read.
    let keys = metadata("keys.mov");
    assert_eq!(keys["creationTime"], 1_600_000_000_000_000i64);
    assert_eq!(keys["duration"], 1);

    // Nothing in the file: its modification time, never 0, and no duration.
    let plain = metadata("plain.mp4");
    assert_eq!(plain["creationTime"], file_modified);
    assert_eq!(plain["fileType"], 1);
    assert_eq!(plain.get("latitude"), None);
    assert_eq!(plain.get("duration"), None);

    // A live photo is refused before anything is queued.
    let live = NewItem {
        file_type: FileType::LivePhoto,
        ..h.item("photo.jpg", "live.heic")
    };
    let refused = engine.enqueue(vec![live]).await.unwrap_err();
    assert_eq!(refused.code, "BAD_ITEM");
}

/// A store that refuses every presigned URL (a clock skewed by hours makes
/// every signature look expired): each refusal starts the upload again with
/// new URLs, and the item must end `failed` with the reason, not loop for
/// ever, even though the steps between the refusals succeed.
#[tokio::test(flavor = "current_thread")]
async fn a_store_that_refuses_every_url_fails_the_item_instead_of_looping() {
    let h = Harness::start(|config| {
        config.faults = Some(
            serde_json::from_value(json!({
                "rules": [{ "route": "s3:UploadPart", "errorRate": 1.0, "status": 403 }],
            }))
            .unwrap(),
        );
    })
    .await;
    // Multipart, so the thumbnail's single PUT goes through after each
    // restart and only the parts are refused.
    h.sources.add("video", pattern(9 * MIB, 8));
    let engine = h.engine(2).await;
    let id = engine
        .enqueue(vec![h.item("video", "skewed.mov")])
        .await
        .unwrap()[0];
    for _ in 0..40 {
        engine.run(None).await.unwrap();
        if engine.item(id).await.unwrap().unwrap().is_terminal() {
            break;
        }
        engine.env().clock.sleep_ms(600_000).await;
    }
    let item = engine.item(id).await.unwrap().unwrap();
    match &item.step {
        Step::Failed(err) => assert_eq!(err.code, "URL_EXPIRED", "{err:?}"),
        other => panic!(
            "still going after 40 runs: {other:?} ({:?})",
            item.last_error
        ),
    }
    assert!(h.server_files().await.is_empty());
}

/// A device away for weeks: every stored URL has expired, the bucket's
/// lifecycle rule has aborted every unfinished multipart upload, and the
/// session token has expired. Items were left at different points: a
/// multipart upload with parts stored, URLs pooled for files not yet
/// begun. Once the person signs in again, one run recovers all of it:
/// every file on the server exactly once, with its own bytes.
#[tokio::test(flavor = "current_thread")]
async fn one_run_after_a_long_absence_recovers_everything_once() {
    let h = Harness::start(|config| config.url_expiry_secs = 1).await;
    let sources = [
        ("big.mp4", pattern(30 * MIB, 11)), // 4 parts of 2 chunks
        ("small.jpg", pattern(300_000, 12)),
        ("waiting.jpg", pattern(50_000, 13)),
        ("later.jpg", pattern(70_000, 14)),
    ];
    for (title, data) in &sources {
        h.sources.add(title, data.clone());
    }
    let engine = h.engine(2).await;
    let mut ids = engine
        .enqueue(vec![
            h.item("big.mp4", "big.mp4"),
            h.item("small.jpg", "small.jpg"),
        ])
        .await
        .unwrap();
    // The multipart upload has parts stored; the small file took single-PUT
    // URLs from a batch, whose others stay pooled.
    step_until(&engine, ids[0], |u| !u.etags.is_empty()).await;
    ids.extend(
        engine
            .enqueue(vec![
                h.item("waiting.jpg", "waiting.jpg"),
                h.item("later.jpg", "later.jpg"),
            ])
            .await
            .unwrap(),
    );
    let done_before = h.server_files().await.len();

    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    assert!(h.abort_unfinished_uploads().await >= 1);
    engine.set_token("expired-session".into());
    engine.env().clock.sleep_ms(21 * 24 * 3_600_000).await;
    assert_eq!(
        engine.run(None).await.unwrap().stopped_because,
        StopReason::Auth
    );

    engine.set_token(h.server.token.clone());
    engine.resume().await.unwrap();
    let outcome = engine.run(None).await.unwrap();
    assert_eq!(outcome.stopped_because, StopReason::Idle, "{outcome:?}");
    assert_eq!(outcome.files_done as usize, 4 - done_before, "{outcome:?}");
    for id in &ids {
        let item = engine.item(*id).await.unwrap().unwrap();
        assert!(matches!(item.step, Step::Done { .. }), "{item:?}");
    }
    let mut files = h.server_files().await;
    files.sort_by(|a, b| a.0.cmp(&b.0));
    let mut expected = sources.to_vec();
    expected.sort_by(|a, b| a.0.cmp(b.0));
    assert_eq!(files.len(), expected.len());
    for (file, (title, data)) in files.iter().zip(&expected) {
        assert_eq!(file.0, *title);
        assert!(file.1 == *data, "{title} decrypts to its own bytes");
    }
    let counts = h.request_counts().await;
    assert_eq!(
        counts["POST /files"], 4,
        "each file registered once: {counts}"
    );
    // The expired pool and the aborted upload were replaced, not retried.
    assert!(
        counts["GET /files/upload-urls"].as_u64().unwrap() >= 2,
        "{counts}"
    );
    assert!(
        counts["GET /files/multipart-upload-urls"].as_u64().unwrap() >= 2,
        "{counts}"
    );
}

/// Twelve photos of 2 KB to 300 KB and two videos of three and two 8 MiB
/// parts (at two chunks a part): a library's mix of many small files and a
/// few large ones. Returns each title with its content.
fn mixed_library(h: &Harness) -> (Vec<NewItem>, Vec<(String, Vec<u8>)>) {
    let mut sizes: Vec<(String, usize)> = (0..12)
        .map(|i| (format!("photo-{i}.jpg"), 2_000 + i * 27_000))
        .collect();
    sizes.push(("first.mov".into(), 18 * MIB + 5));
    sizes.push(("second.mov".into(), 13 * MIB));
    let mut items = Vec::new();
    let mut expected = Vec::new();
    for (i, (title, size)) in sizes.into_iter().enumerate() {
        let data = pattern(size, 300 + i as u64);
        h.sources.add(&title, data.clone());
        items.push(h.item(&title, &title));
        expected.push((title, data));
    }
    (items, expected)
}

/// Every expected file is on the server once, with its own bytes.
async fn assert_each_once(h: &Harness, expected: &[(String, Vec<u8>)]) {
    let files = h.server_files().await;
    let titles: Vec<&str> = files.iter().map(|(t, _, _)| t.as_str()).collect();
    assert_eq!(files.len(), expected.len(), "{titles:?}");
    for (title, data) in expected {
        let found: Vec<_> = files.iter().filter(|(t, _, _)| t == title).collect();
        assert_eq!(found.len(), 1, "{title} is on the server once");
        assert!(found[0].1 == *data, "{title} decrypts to its bytes");
    }
}

#[tokio::test(flavor = "current_thread")]
async fn several_files_go_at_once_and_each_lands_once() {
    let h = Harness::start(|_| {}).await;
    let (items, expected) = mixed_library(&h);
    let engine = h.engine(2).await;
    engine.enqueue(items).await.unwrap();
    let report = engine.run(None).await.unwrap();
    assert_eq!(
        (report.stopped_because, report.files_done),
        (StopReason::Idle, 14)
    );
    assert_each_once(&h, &expected).await;
    let transport = &engine.env().transport;
    assert!(
        transport.most_in_flight.get() >= 3,
        "four files at once keep several requests in flight, saw at most {}",
        transport.most_in_flight.get()
    );
    // Parts on the wire, all files together: the larger of parallel_files
    // (4) and parallel_parts (3).
    let most_puts = transport.most_puts_in_flight.get();
    assert!((2..=4).contains(&most_puts), "{most_puts} PUTs at once");
    let counts = h.request_counts().await;
    assert_eq!(counts["POST /files"], 14, "{counts}");
    // 12 file URLs and 14 thumbnail URLs: one batch of 50, even with
    // several steps asking at once.
    assert_eq!(counts["GET /files/upload-urls"], 1, "{counts}");
    let status = engine.status().await.unwrap();
    assert_eq!(status.counters.count(PublicState::Done), 14);
    assert_eq!(status.counters.count(PublicState::Queued), 0);
}

#[tokio::test(flavor = "current_thread")]
async fn one_file_at_a_time_keeps_one_request_in_flight() {
    let h = Harness::start(|_| {}).await;
    let (items, expected) = mixed_library(&h);
    let config = EngineConfig {
        chunks_per_part: 2,
        parallel_parts: 1,
        parallel_files: 1,
    };
    let engine = h.engine_with(h.store.clone(), config).await;
    engine.enqueue(items).await.unwrap();
    assert_eq!(engine.run(None).await.unwrap().files_done, 14);
    assert_each_once(&h, &expected).await;
    assert_eq!(engine.env().transport.most_in_flight.get(), 1);
}

/// The URLs of everything the database says reached the store: recorded
/// thumbnails, finished single PUTs and finished parts.
async fn recorded_urls(engine: &TestEngine, into: &std::cell::RefCell<Vec<String>>) {
    for item in engine.items(None, 0, 1_000).await.unwrap() {
        let Step::Uploading(upload) = item.step else {
            continue;
        };
        let mut urls = Vec::new();
        if let Some(thumbnail) = upload.thumbnail.as_ref().filter(|t| t.uploaded) {
            urls.push(thumbnail.url.url.clone());
        }
        match &upload.target {
            Some(Target::Single(url)) if upload.completed => urls.push(url.url.clone()),
            Some(Target::Multipart(parts)) => {
                urls.extend(parts.part_urls[..upload.etags.len()].iter().cloned());
            }
            _ => {}
        }
        let mut known = into.borrow_mut();
        for url in urls {
            if !known.contains(&url) {
                known.push(url);
            }
        }
    }
}

#[tokio::test(flavor = "current_thread")]
async fn killed_again_and_again_with_several_files_in_flight_nothing_is_lost_or_sent_again() {
    let h = Harness::start(|_| {}).await;
    let (items, expected) = mixed_library(&h);
    h.engine(2).await.enqueue(items).await.unwrap();
    let recorded = Rc::new(std::cell::RefCell::new(Vec::<String>::new()));
    let sent_again = Rc::new(std::cell::RefCell::new(Vec::<String>::new()));
    let mut seed: u64 = 20_261_130;
    let mut kills = 0;
    for _ in 0..24 {
        let engine = h.engine(2).await;
        recorded_urls(&engine, &recorded).await;
        let (known, again) = (recorded.clone(), sent_again.clone());
        *engine.env().transport.hook.borrow_mut() = Some(Box::new(move |request| {
            if request.method == Method::Put && known.borrow().contains(&request.url) {
                again.borrow_mut().push(request.url.clone());
            }
        }));
        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        let kill_after = 2 + (seed >> 33) % 8;
        let run = std::pin::pin!(engine.run(None));
        let watch = std::pin::pin!(async {
            // What the database holds is watched as the run goes: a part
            // recorded in this run must not go out again in it either.
            while engine.env().transport.sent.get() < kill_after {
                recorded_urls(&engine, &recorded).await;
                tokio::task::yield_now().await;
            }
        });
        if let futures_util::future::Either::Right(_) =
            futures_util::future::select(run, watch).await
        {
            kills += 1;
        }
    }
    assert!(kills >= 15, "{kills} of 24 runs were killed mid-way");
    let engine = h.engine(2).await;
    let report = run_until_settled(&engine).await;
    assert_eq!(report.stopped_because, StopReason::Idle);
    assert_each_once(&h, &expected).await;
    assert!(
        sent_again.borrow().is_empty(),
        "recorded objects were sent again: {:?}",
        sent_again.borrow()
    );
    let status = engine.status().await.unwrap();
    assert_eq!(status.counters.count(PublicState::Done), 14);
}

/// The fresh ranges in the database, as (first id, next, end).
fn fresh_ranges(h: &Harness) -> Vec<(ItemId, ItemId, ItemId)> {
    let (from, to) = fresh_range_bounds();
    h.store
        .0
        .borrow()
        .iter()
        .filter(|((t, k), _)| *t == Table::Meta && *k >= from && *k < to)
        .map(|((_, k), v)| {
            let range: FreshRange = decode(v).unwrap();
            let first = ItemId::from_be_bytes(k[k.len() - 8..].try_into().unwrap());
            (first, range.next, range.end)
        })
        .collect()
}

/// A large enqueue writes its items and one range, no runnable entry each
/// (a first backup queues 100,000 at once). The range moves past each
/// item as its first step lands, an item removed before it started is
/// passed over, steps of several files landing out of order pass nothing
/// over, and the range is gone once every item of it has started.
#[tokio::test(flavor = "current_thread")]
async fn a_large_enqueue_is_one_range_worked_through_with_nothing_passed_over() {
    let h = Harness::start(|_| {}).await;
    let (items, mut expected) = mixed_library(&h);
    let ids = h.engine(2).await.enqueue(items).await.unwrap();
    assert_eq!(runnable_entries(&h), 0);
    let (first, end) = (ids[0], ids[13] + 1);
    assert_eq!(fresh_ranges(&h), [(first, first, end)]);

    let one = one_at_a_time(&h).await;
    one.run_steps(1).await.unwrap();
    assert_eq!(fresh_ranges(&h), [(first, first + 1, end)]);
    assert_eq!(runnable_entries(&h), 1, "the started item has its entry");
    one.remove(ids[1]).await.unwrap();
    expected.remove(1);
    // Started items come first: the first one's steps, then the next.
    for _ in 0..10 {
        if fresh_ranges(&h)[0].1 != first + 1 {
            break;
        }
        one.run_steps(1).await.unwrap();
    }
    assert_eq!(
        fresh_ranges(&h),
        [(first, first + 3, end)],
        "past the removed item and the one started after it"
    );

    // A small enqueue writes entries, as before.
    let mut late = Vec::new();
    for i in 0..2 {
        let (title, data) = (format!("late-{i}.jpg"), pattern(1_000 + i, 900 + i as u64));
        h.sources.add(&title, data.clone());
        late.push(h.item(&title, &title));
        expected.push((title, data));
    }
    h.engine(2).await.enqueue(late).await.unwrap();
    assert_eq!(
        runnable_entries(&h),
        1 + 2,
        "the started item's and the two new"
    );

    let engine = h.engine(2).await;
    let report = run_until_settled(&engine).await;
    assert_eq!(report.stopped_because, StopReason::Idle);
    assert_eq!(
        fresh_ranges(&h),
        [],
        "a range with nothing fresh left is deleted"
    );
    assert_eq!(runnable_entries(&h), 0);
    assert_each_once(&h, &expected).await;
    let status = engine.status().await.unwrap();
    assert_eq!(status.counters.count(PublicState::Done), 15);
    assert_eq!(status.counters.pending(), 0);
}

/// A range whose first window holds no fresh item (items ended outside a
/// step of the range's first one: here set aside by hand) is moved past
/// that window, and the fresh items further on still run.
#[tokio::test(flavor = "current_thread")]
async fn a_range_moves_past_a_window_with_nothing_fresh() {
    let h = Harness::start(|_| {}).await;
    let mut items = Vec::new();
    let mut expected = Vec::new();
    for i in 0..40 {
        let (title, data) = (format!("p{i}.jpg"), pattern(400 + i, 80 + i as u64));
        h.sources.add(&title, data.clone());
        items.push(h.item(&title, &title));
        if i >= 35 {
            expected.push((title, data));
        }
    }
    let engine = h.engine(2).await;
    let ids = engine.enqueue(items).await.unwrap();
    let mut changes = Changes::new();
    for id in &ids[..35] {
        let before = engine.item(*id).await.unwrap().unwrap();
        let mut after = before.clone();
        after.step = Step::Skipped {
            duplicate_of: "file:1".into(),
        };
        changes.write_item(Some(&before), &after);
    }
    h.store.commit(changes.finish()).await.unwrap();

    let report = engine.run(None).await.unwrap();
    assert_eq!(
        (report.stopped_because, report.files_done),
        (StopReason::Idle, 5)
    );
    assert_each_once(&h, &expected).await;
    assert_eq!(fresh_ranges(&h), []);
}

/// A video at the head of a large enqueue, held back by short background
/// runs: it must not hold back the photos behind it, however many, and the
/// last run still reports it as the one thing deferred.
#[tokio::test(flavor = "current_thread")]
async fn a_held_back_video_at_the_head_of_a_range_holds_back_no_photo() {
    let h = Harness::start(|_| {}).await;
    h.sources.add("v", pattern(3_000, 9));
    let mut video = h.item("v", "clip.mp4");
    video.file_type = FileType::Video;
    let mut items = vec![video];
    for i in 0..40 {
        h.sources
            .add(&format!("p{i}"), pattern(500 + i, 40 + i as u64));
        items.push(h.item(&format!("p{i}"), &format!("p{i}.jpg")));
    }
    let engine = h.engine(2).await;
    engine.enqueue(items).await.unwrap();
    let mut last = None;
    for _ in 0..6 {
        let plan = RunPlan::new(
            Trigger::IosPush,
            Some(25_000.0),
            engine.env().clock.monotonic_ms(),
        );
        let report = engine.run_plan(plan).await.unwrap();
        if report.files_done == 0 {
            last = Some(report);
            break;
        }
    }
    let report = last.expect("the runs settle");
    assert_eq!(report.stopped_because, StopReason::Deferred, "{report:?}");
    assert_eq!(report.deferred.unwrap().videos, 1);
    let status = engine.status().await.unwrap();
    assert_eq!(status.counters.count(PublicState::Done), 40);
    assert_eq!(status.counters.count(PublicState::Queued), 1);
}

/// Steps of a range's items landing out of order: the second item's first
/// step (a video's) lands while the first's (a photo's on a slow card,
/// whose metadata takes a while to read) is still out, and the run is
/// killed then. The range must not have moved past the first item, which
/// has no entry and is still as enqueued: the next run uploads it.
#[tokio::test(flavor = "current_thread")]
async fn a_kill_after_a_later_items_step_landed_first_loses_no_fresh_item() {
    let h = Harness::start(|_| {}).await;
    let mut items = Vec::new();
    let mut expected = Vec::new();
    let sizes = [2_000, 9 * MIB + 1, 3_000, 4_000, 5_000, 6_000, 7_000, 8_000];
    for (i, size) in sizes.into_iter().enumerate() {
        let title = if i == 1 {
            "b.mov".to_string()
        } else {
            format!("p-{i}.jpg")
        };
        let data = pattern(size, 700 + i as u64);
        h.sources.add(&title, data.clone());
        items.push(h.item(&title, &title));
        expected.push((title, data));
    }
    h.sources.add_slow("p-0.jpg", expected[0].1.clone(), 500);
    let ids = h.engine(2).await.enqueue(items).await.unwrap();
    let two = h
        .engine_with(
            h.store.clone(),
            EngineConfig {
                parallel_files: 2,
                ..EngineConfig::default()
            },
        )
        .await;
    let stored = |id: ItemId| {
        decode::<Item>(&h.store.0.borrow()[&(Table::Items, id.to_be_bytes().to_vec())]).unwrap()
    };
    let run = std::pin::pin!(two.run(None));
    let watch = std::pin::pin!(async {
        while stored(ids[0]).is_fresh() == stored(ids[1]).is_fresh() {
            tokio::task::yield_now().await;
        }
    });
    let futures_util::future::Either::Right(_) = futures_util::future::select(run, watch).await
    else {
        panic!("the run ended before the video's step landed");
    };
    assert!(stored(ids[0]).is_fresh() && !stored(ids[1]).is_fresh());
    assert_eq!(fresh_ranges(&h)[0].1, ids[0], "not moved past the photo");

    let engine = h.engine(2).await;
    let report = run_until_settled(&engine).await;
    assert_eq!(report.stopped_because, StopReason::Idle);
    assert_each_once(&h, &expected).await;
    assert_eq!(fresh_ranges(&h), []);
}

/// The counters, item by item: what `status()` must agree with.
async fn recount(engine: &TestEngine) -> [u64; PublicState::COUNT] {
    let mut by_state = [0; PublicState::COUNT];
    for item in engine.items(None, 0, 10_000).await.unwrap() {
        by_state[item.public_state() as usize] += 1;
    }
    by_state
}

/// Two `enqueue` calls at once, in one context (a page that does not wait
/// for the first) and in two (a tab and the service worker): every item
/// gets an id of its own and is kept, and the counters count them all.
#[tokio::test(flavor = "current_thread")]
async fn enqueues_at_once_keep_every_item_and_every_count() {
    let h = Harness::start(|_| {}).await;
    let page = h.engine(2).await;
    let worker = h.engine(2).await;
    let batch = |from: usize, n: usize| -> Vec<NewItem> {
        (from..from + n)
            .map(|i| h.item(&format!("photo-{i}.jpg"), &format!("photo-{i}.jpg")))
            .collect()
    };
    let (a, b, c) = tokio::join!(
        page.enqueue(batch(0, 30)),
        page.enqueue(batch(30, 20)),
        worker.enqueue(batch(50, 25)),
    );
    let mut ids: Vec<_> = [a.unwrap(), b.unwrap(), c.unwrap()].concat();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 75, "each item has an id of its own");
    let items = page.items(None, 0, 1_000).await.unwrap();
    let mut titles: Vec<_> = items.iter().map(|i| i.new.title.clone()).collect();
    titles.sort_unstable();
    titles.dedup();
    assert_eq!(titles.len(), 75, "every item is kept");
    let status = page.status().await.unwrap();
    assert_eq!(status.counters.count(PublicState::Queued), 75);
    assert_eq!(status.counters.by_state, recount(&page).await);
}

/// A tab enqueues while the service worker's run records its steps: the
/// counters each writes are not undone by the other's.
#[tokio::test(flavor = "current_thread")]
async fn counters_stay_true_while_a_run_and_an_enqueue_elsewhere_write_them() {
    let h = Harness::start(|_| {}).await;
    let (items, _) = mixed_library(&h);
    let worker = h.engine(2).await;
    let page = h.engine(2).await;
    worker.enqueue(items).await.unwrap();
    for i in 0..20 {
        h.sources
            .add(&format!("late-{i}.jpg"), pattern(3_000 + i, 900 + i as u64));
    }
    let enqueue_meanwhile = async {
        for i in 0..20 {
            let title = format!("late-{i}.jpg");
            page.enqueue(vec![h.item(&title, &title)]).await.unwrap();
            tokio::task::yield_now().await;
        }
    };
    let (report, ()) = tokio::join!(worker.run(None), enqueue_meanwhile);
    report.unwrap();
    assert_eq!(
        worker.status().await.unwrap().counters.by_state,
        recount(&worker).await
    );
    worker.run(None).await.unwrap();
    let status = worker.status().await.unwrap();
    assert_eq!(status.counters.count(PublicState::Done), 34);
    assert_eq!(status.counters.by_state, recount(&worker).await);
}

/// `remove` while a step of the item is on the wire, in the context that
/// runs it: the step's record does not bring the item back, and the
/// counters still match the items.
#[tokio::test(flavor = "current_thread")]
async fn an_item_removed_while_its_step_is_in_flight_stays_removed() {
    let h = Harness::start(|_| {}).await;
    h.sources.add("clip", pattern(9 * MIB, 7));
    let engine = h.engine(2).await;
    let id = engine
        .enqueue(vec![h.item("clip", "clip.mov")])
        .await
        .unwrap()[0];
    let remove_mid_upload = async {
        put_in_flight(&engine).await;
        engine.remove(id).await.unwrap();
    };
    let (report, ()) = tokio::join!(engine.run(None), remove_mid_upload);
    report.unwrap();
    assert!(engine.item(id).await.unwrap().is_none(), "still removed");
    let status = engine.status().await.unwrap();
    assert_eq!(status.counters.by_state, recount(&engine).await);
    assert_eq!(status.counters.pending(), 0);
}

/// The same from another context: a page removes the item while the
/// service worker's step of it is on the wire. The worker's record must
/// not bring it back (it has no note of the removal: only the store can
/// tell it), nor count it twice, nor report the file as backed up.
#[tokio::test(flavor = "current_thread")]
async fn an_item_removed_elsewhere_while_its_step_is_in_flight_stays_removed() {
    let h = Harness::start(|_| {}).await;
    h.sources.add("clip", pattern(9 * MIB, 7));
    h.sources.add("photo", pattern(70_000, 8));
    // One file at a time: the first PUT on the wire is the clip's.
    let worker = one_at_a_time(&h).await;
    let page = h.engine(2).await;
    let ids = page
        .enqueue(vec![
            h.item("clip", "clip.mov"),
            h.item("photo", "photo.jpg"),
        ])
        .await
        .unwrap();
    let remove_mid_upload = async {
        put_in_flight(&worker).await;
        page.remove(ids[0]).await.unwrap();
    };
    let (report, ()) = tokio::join!(worker.run(None), remove_mid_upload);
    let report = report.unwrap();
    assert!(
        worker.item(ids[0]).await.unwrap().is_none(),
        "still removed"
    );
    assert_eq!(report.files_done, 1, "only the photo was backed up");
    worker.run(None).await.unwrap();
    assert!(
        page.item(ids[0]).await.unwrap().is_none(),
        "not brought back"
    );
    let status = page.status().await.unwrap();
    assert_eq!(status.counters.by_state, recount(&page).await);
    assert_eq!(status.counters.count(PublicState::Done), 1);
    assert_eq!(status.counters.pending(), 0);
}

/// A page and the service worker remove one item at once: it is counted
/// out once.
#[tokio::test(flavor = "current_thread")]
async fn removing_an_item_from_two_contexts_at_once_counts_it_once() {
    let h = Harness::start(|_| {}).await;
    let worker = h.engine(2).await;
    let page = h.engine(2).await;
    let ids = page
        .enqueue(vec![h.item("a", "a.jpg"), h.item("b", "b.jpg")])
        .await
        .unwrap();
    let (first, second) = tokio::join!(page.remove(ids[0]), worker.remove(ids[0]));
    first.unwrap();
    second.unwrap();
    assert!(page.item(ids[0]).await.unwrap().is_none());
    let status = page.status().await.unwrap();
    assert_eq!(status.counters.count(PublicState::Queued), 1);
    assert_eq!(status.counters.by_state, recount(&page).await);
}

/// `remove` reads the item, then a step of it lands (its state and index
/// entry change), then the removal commits: it is counted out of the state
/// it has when it goes, and no index entry of it is left behind.
#[tokio::test(flavor = "current_thread")]
async fn a_removal_overtaken_by_a_step_counts_the_item_as_it_is_then() {
    let h = Harness::start(|_| {}).await;
    for i in 0..6 {
        h.sources
            .add(&format!("p{i}"), pattern(40_000 + i, 20 + i as u64));
    }
    let engine = h.engine(2).await;
    let items = (0..6)
        .map(|i| h.item(&format!("p{i}"), &format!("p{i}.jpg")))
        .collect();
    let ids = engine.enqueue(items).await.unwrap();
    // Every removal starts at a different point of the run's steps.
    let remove_along_the_way = async {
        for id in ids.iter().rev() {
            for _ in 0..3 {
                tokio::task::yield_now().await;
            }
            engine.remove(*id).await.unwrap();
        }
    };
    let (report, ()) = tokio::join!(engine.run(None), remove_along_the_way);
    report.unwrap();
    // Before another run, whose picking would clean up after a removal.
    let runnable = runnable_entries(&h);
    assert_eq!(runnable, 0, "no index entry outlives its item");
    let status = engine.status().await.unwrap();
    assert_eq!(status.counters.by_state, recount(&engine).await);
    assert_eq!(status.counters.pending(), 0);
}

/// A page's `retry` lands while the service worker's step of that item is
/// on the wire: a waiting item (one failed PUT behind it) that the worker
/// took up when it came due. The retry resets its attempts, which moves it
/// from `waiting` to `uploading` in the counts; the step is then recorded
/// over the item as the retry left it, so nothing is counted twice.
#[tokio::test(flavor = "current_thread")]
async fn a_retry_landing_mid_step_is_recorded_under_the_step() {
    let h = Harness::start(|_| {}).await;
    h.sources.add("clip", pattern(9 * MIB, 5));
    let worker = one_at_a_time(&h).await;
    let page = h.engine(2).await;
    let id = page
        .enqueue(vec![h.item("clip", "clip.mov")])
        .await
        .unwrap()[0];
    while !matches!(
        page.item(id).await.unwrap().unwrap().step,
        Step::Uploading(_)
    ) {
        worker.run_steps(1).await.unwrap();
    }
    h.set_faults(json!({ "rules": [{ "route": "s3:PutObject", "errorRate": 1.0 }] }))
        .await;
    worker.run_steps(1).await.unwrap();
    h.clear_faults().await;
    let waiting = page.item(id).await.unwrap().unwrap();
    assert_eq!(waiting.public_state(), PublicState::Waiting);

    let retry_mid_upload = async {
        put_in_flight(&worker).await;
        page.retry(id).await.unwrap();
    };
    let (report, ()) = tokio::join!(worker.run(None), retry_mid_upload);
    report.unwrap();
    let item = page.item(id).await.unwrap().unwrap();
    assert!(matches!(item.step, Step::Done { .. }), "{:?}", item.step);
    let status = page.status().await.unwrap();
    assert_eq!(status.counters.by_state, recount(&page).await);
    assert_eq!(status.counters.count(PublicState::Done), 1);
    assert_eq!(h.server_files().await.len(), 1, "uploaded once");
}

/// A page calls `retry` on an item (a "retry now" button) again and again
/// while the service worker's steps of it land: no retry writes back the
/// item as it was before a step, which would send a finished file again.
#[tokio::test(flavor = "current_thread")]
async fn a_retry_racing_the_steps_of_its_item_never_puts_one_back() {
    let h = Harness::start(|_| {}).await;
    h.sources.add("photo", pattern(300_000, 9));
    let worker = h.engine(2).await;
    let page = h.engine(2).await;
    let id = page
        .enqueue(vec![h.item("photo", "photo.jpg")])
        .await
        .unwrap()[0];
    let running = Cell::new(true);
    let retry_meanwhile = async {
        // Bounded: written back over a step, a retry can keep the run going.
        for _ in 0..2_000 {
            if !running.get() {
                break;
            }
            page.retry(id).await.unwrap();
        }
    };
    let run = async {
        let report = worker.run(None).await;
        running.set(false);
        report
    };
    let (report, ()) = tokio::join!(run, retry_meanwhile);
    report.unwrap();
    worker.run(None).await.unwrap();
    let item = page.item(id).await.unwrap().unwrap();
    assert!(matches!(item.step, Step::Done { .. }), "{:?}", item.step);
    assert_eq!(h.server_files().await.len(), 1, "uploaded once");
    let status = page.status().await.unwrap();
    assert_eq!(status.counters.by_state, recount(&page).await);
    let runnable = runnable_entries(&h);
    assert_eq!(runnable, 0, "no index entry is left for a finished item");
}

/// A file stays on the server when its item is removed from the queue
/// (a page clearing finished items): a copy added later in the same run is
/// still a duplicate of it, not uploaded a second time.
#[tokio::test(flavor = "current_thread")]
async fn a_copy_of_an_uploaded_item_removed_from_the_queue_is_still_skipped() {
    let h = Harness::start(|_| {}).await;
    h.sources.add("a", pattern(50_000, 1));
    h.sources.add("a-again", pattern(50_000, 1));
    h.sources.add("clip", pattern(18 * MIB, 2));
    let engine = one_at_a_time(&h).await;
    let ids = engine
        .enqueue(vec![h.item("a", "cat.jpg"), h.item("clip", "clip.mov")])
        .await
        .unwrap();
    let again = Cell::new(None);
    let clear_and_add_again = async {
        for _ in 0..10_000_000 {
            let first = engine.item(ids[0]).await.unwrap().unwrap();
            if matches!(first.step, Step::Done { .. }) {
                engine.remove(ids[0]).await.unwrap();
                let id = engine
                    .enqueue(vec![h.item("a-again", "cat.jpg")])
                    .await
                    .unwrap()[0];
                again.set(Some(id));
                return;
            }
            tokio::task::yield_now().await;
        }
        panic!("the first file never finished");
    };
    let (report, ()) = tokio::join!(engine.run(None), clear_and_add_again);
    report.unwrap();
    engine.run(None).await.unwrap();
    let copy = engine.item(again.get().unwrap()).await.unwrap().unwrap();
    assert!(matches!(copy.step, Step::Skipped { .. }), "{:?}", copy.step);
    let titles: Vec<String> = h
        .server_files()
        .await
        .into_iter()
        .map(|(t, _, _)| t)
        .collect();
    assert_eq!(titles.len(), 2, "{titles:?}");
}

/// Two `remove` calls for one item at once (a double click): the item goes
/// once, and the counters count it once.
#[tokio::test(flavor = "current_thread")]
async fn removing_an_item_twice_at_once_counts_it_once() {
    let h = Harness::start(|_| {}).await;
    let engine = h.engine(2).await;
    let ids = engine
        .enqueue(vec![h.item("a", "a.jpg"), h.item("b", "b.jpg")])
        .await
        .unwrap();
    let (first, second) = tokio::join!(engine.remove(ids[0]), engine.remove(ids[0]));
    first.unwrap();
    second.unwrap();
    assert!(engine.item(ids[0]).await.unwrap().is_none());
    let status = engine.status().await.unwrap();
    assert_eq!(status.counters.count(PublicState::Queued), 1);
    assert_eq!(status.counters.by_state, recount(&engine).await);
}
