//! A power cut: Chromium commits IndexedDB transactions with relaxed
//! durability, so after a power loss the database comes back as it was some
//! commits ago while the server keeps everything it was sent. These tests
//! run the engine against the real reference server over a store that keeps
//! its commit history, roll the store back to earlier prefixes of that
//! history (after every commit in turn, and at seeded random points, several
//! times in one run), let the queue run to idle, and check from the server's
//! side that
//! 1. every queued file is on the server exactly once and decrypts to its
//!    bytes (content, thumbnail and metadata);
//! 2. no object URL was ever sent two different contents;
//! 3. no item is reported done or skipped for a server file whose content
//!    is not the item's.
#![cfg(not(target_arch = "wasm32"))]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::cast_possible_truncation
)]

mod common;
mod engine_support;

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use common::pattern;
use engine_support::*;
use ferry_sync::crypto::{Blake2b512, Key, decrypt_file_bytes, decrypt_message, unwrap_key};
use ferry_sync::engine::ports::Clock;
use ferry_sync::engine::{Engine, EngineConfig, Env, StopReason};
use ferry_sync::protocol::{Endpoint, Method};
use ferry_sync::queue::{FileType, ItemId, NewItem, PublicState, Step};
use serde_json::Value;

const MIB: usize = 1024 * 1024;

type JournaledEngine = Engine<JournaledStore, HttpTransport, MemSources, TestVault, FastClock>;

/// The files of one trial: small ones (one empty), one large enough for a
/// multipart upload of two parts, and a second copy of a photo that dedupe
/// must skip.
// Eight: an enqueue of eight or more is one fresh range, whose moves must
// hold under every rollback too.
const FILES: [(&str, &str, usize); 8] = [
    ("a", "a.jpg", 1_000),
    ("b", "b.jpg", 0),
    ("c", "c.jpg", 5 * MIB + 3),
    ("d", "d.mov", 8 * MIB + 5),
    ("a-again", "a.jpg", 1_000),
    ("e", "e.jpg", 2_001),
    ("f", "f.jpg", 3_002),
    ("g", "g.jpg", 4_003),
];

/// Everything PUT to each object, by URL without its signature: one
/// content per object is the second invariant.
#[derive(Clone, Default)]
struct PutLog(Rc<RefCell<HashMap<String, Vec<[u8; 64]>>>>);

impl PutLog {
    fn record(&self, url: &str, body: &[u8]) {
        let (path, query) = url.split_once('?').unwrap_or((url, ""));
        // A part is its own object until Complete: keep its number and upload id.
        let mut object = path.to_owned();
        for pair in query.split('&') {
            if pair.starts_with("partNumber=") || pair.starts_with("uploadId=") {
                object.push('&');
                object.push_str(pair);
            }
        }
        let digest = Blake2b512::digest(body);
        let mut log = self.0.borrow_mut();
        let seen = log.entry(object).or_default();
        if !seen.contains(&digest) {
            seen.push(digest);
        }
    }

    fn objects_sent_two_contents(&self) -> Vec<String> {
        self.0
            .borrow()
            .iter()
            .filter(|(_, contents)| contents.len() > 1)
            .map(|(object, _)| object.clone())
            .collect()
    }
}

/// One device's world for a trial: an album of its own on the shared
/// server, the device's sources and key, and its database with history.
struct Trial<'a> {
    server: &'a ferry_server::Running,
    sources: MemSources,
    device_key: Key,
    collection_id: i64,
    collection_key: Key,
    store: JournaledStore,
    puts: PutLog,
    /// Commits up to and including the enqueue: a rollback never goes
    /// further back (an enqueue the host saw acknowledged is the host's to
    /// repeat, not the queue's to recover).
    enqueued_at: usize,
    ids: Vec<ItemId>,
}

impl<'a> Trial<'a> {
    async fn start(server: &'a ferry_server::Running, seed: u64) -> Self {
        let sources = MemSources::default();
        for (index, (source, _, len)) in FILES.iter().enumerate() {
            // The second copy of a photo has the first one's bytes.
            let data_seed = if *source == "a-again" { 0 } else { index };
            sources.add(source, pattern(*len, seed * 16 + data_seed as u64));
        }
        let mut trial = Self {
            server,
            sources,
            device_key: Key::generate(),
            collection_id: create_album(server).await,
            collection_key: Key::generate(),
            store: JournaledStore::default(),
            puts: PutLog::default(),
            enqueued_at: 0,
            ids: Vec::new(),
        };
        let engine = trial.engine().await;
        engine
            .set_collection_key(trial.collection_id, &trial.collection_key)
            .await
            .unwrap();
        let items = FILES
            .iter()
            .map(|(source, title, _)| NewItem {
                collection_id: trial.collection_id,
                source: (*source).into(),
                title: (*title).into(),
                file_type: if title.ends_with(".mov") {
                    FileType::Video
                } else {
                    FileType::Image
                },
                creation_time: 1_700_000_000_000_000,
                modification_time: 1_700_000_000_000_000,
                thumbnail: None,
            })
            .collect();
        trial.ids = engine.enqueue(items).await.unwrap();
        trial.enqueued_at = trial.store.commits();
        trial
    }

    /// A new process over the database as it is now: nothing kept in
    /// memory survives (URL pools, indexed collections).
    async fn engine(&self) -> JournaledEngine {
        let transport = HttpTransport::default();
        let puts = self.puts.clone();
        *transport.hook.borrow_mut() = Some(Box::new(move |request| {
            if request.method == Method::Put {
                puts.record(&request.url, &request.body);
            }
        }));
        let env = Env {
            store: self.store.clone(),
            transport,
            sources: self.sources.clone(),
            vault: TestVault(self.device_key.clone()),
            clock: FastClock::default(),
        };
        let endpoint = Endpoint {
            base_url: self.server.api_url(),
            token: self.server.token.clone(),
        };
        let config = EngineConfig {
            chunks_per_part: 2,
            parallel_parts: 2,
            ..EngineConfig::default()
        };
        Engine::new(env, endpoint, config)
    }

    /// Runs a new process until nothing is left to do.
    async fn settle(&self) {
        let engine = self.engine().await;
        for _ in 0..100 {
            let report = engine.run(None).await.unwrap();
            match (report.stopped_because, report.next_run_hint_ms) {
                (StopReason::Idle, Some(wait)) => {
                    engine.env().clock.sleep_ms(wait.max(0.0) as u64).await;
                }
                (StopReason::Idle, None) => return,
                other => panic!("a run stopped with {other:?}"),
            }
        }
        panic!("the queue never settled");
    }

    /// The three invariants, checked from the server's side.
    async fn check(&self, what: &str) {
        let sent_twice = self.puts.objects_sent_two_contents();
        assert!(
            sent_twice.is_empty(),
            "{what}: objects sent two contents: {sent_twice:?}"
        );

        let files = server_files(self.server, self.collection_id, &self.collection_key).await;
        let mut titles: Vec<&str> = files.values().map(|f| f.title.as_str()).collect();
        titles.sort_unstable();
        assert_eq!(
            titles,
            [
                "a.jpg", "b.jpg", "c.jpg", "d.mov", "e.jpg", "f.jpg", "g.jpg"
            ],
            "{what}: each file on the server exactly once"
        );

        let engine = self.engine().await;
        for (index, id) in self.ids.iter().enumerate() {
            let item = engine.item(*id).await.unwrap().unwrap();
            let expected = self.sources_bytes(FILES[index].0);
            let file_id = match &item.step {
                Step::Done { file_id } => *file_id,
                Step::Skipped { duplicate_of } => match duplicate_of.strip_prefix("file:") {
                    Some(id) => id.parse().unwrap(),
                    None => {
                        // A duplicate of another queued item: that item
                        // must have landed with the same bytes.
                        let other: ItemId = duplicate_of["item:".len()..].parse().unwrap();
                        let other_index = self.ids.iter().position(|i| *i == other).unwrap();
                        assert_eq!(
                            self.sources_bytes(FILES[other_index].0),
                            expected,
                            "{what}: {} skipped as a copy of different bytes",
                            FILES[index].1
                        );
                        continue;
                    }
                },
                other => panic!("{what}: {} ended {other:?}", FILES[index].1),
            };
            let file = files.get(&file_id).unwrap_or_else(|| {
                panic!(
                    "{what}: {} reported as server file {file_id}, which is not there",
                    FILES[index].1
                )
            });
            assert_eq!(
                file.title, FILES[index].1,
                "{what}: reported the wrong file"
            );
            assert!(
                file.content == expected,
                "{what}: {} reported as a server file with other bytes",
                FILES[index].1
            );
        }
        assert_eq!(
            engine
                .status()
                .await
                .unwrap()
                .counters
                .count(PublicState::Failed),
            0
        );
    }

    fn sources_bytes(&self, source: &str) -> Vec<u8> {
        match self.sources.0.borrow().get(source).unwrap() {
            MemFile::Bytes { data, .. } => data.to_vec(),
            _ => unreachable!("the trial's sources are plain bytes"),
        }
    }
}

/// A server file, decrypted as another device would.
struct ServerFile {
    title: String,
    content: Vec<u8>,
}

/// Every live file of the album, by id. Content, thumbnail and metadata
/// must all decrypt.
async fn server_files(
    server: &ferry_server::Running,
    collection_id: i64,
    collection_key: &Key,
) -> HashMap<i64, ServerFile> {
    let http = reqwest::Client::new();
    let get = |path: String| {
        http.get(format!("{}{path}", server.api_url()))
            .header("X-Auth-Token", &server.token)
            .send()
    };
    let b64 = |v: &Value| ferry_sync::crypto::from_base64(v.as_str().unwrap()).unwrap();
    let mut out = HashMap::new();
    let mut since = 0;
    loop {
        let page: Value = get(format!(
            "/collections/v2/diff?collectionID={collection_id}&sinceTime={since}"
        ))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
        for record in page["diff"].as_array().unwrap() {
            since = record["updationTime"].as_i64().unwrap();
            let id = record["id"].as_i64().unwrap();
            if record["isDeleted"] == true {
                out.remove(&id);
                continue;
            }
            let file_key = unwrap_key(
                &b64(&record["encryptedKey"]),
                &b64(&record["keyDecryptionNonce"]),
                collection_key,
            )
            .unwrap();
            let fetch = |kind: &str| get(format!("/files/{kind}/{id}"));
            let ciphertext = fetch("download").await.unwrap().bytes().await.unwrap();
            let content = decrypt_file_bytes(
                &file_key,
                &b64(&record["file"]["decryptionHeader"]),
                &ciphertext,
            )
            .unwrap_or_else(|e| panic!("server file {id} does not decrypt: {e}"));
            let thumbnail = fetch("preview").await.unwrap().bytes().await.unwrap();
            decrypt_message(
                &file_key,
                &b64(&record["thumbnail"]["decryptionHeader"]),
                &thumbnail,
            )
            .unwrap_or_else(|e| panic!("the thumbnail of server file {id} does not decrypt: {e}"));
            let metadata: Value = serde_json::from_slice(
                &decrypt_message(
                    &file_key,
                    &b64(&record["metadata"]["decryptionHeader"]),
                    &b64(&record["metadata"]["encryptedData"]),
                )
                .unwrap(),
            )
            .unwrap();
            out.insert(
                id,
                ServerFile {
                    title: metadata["title"].as_str().unwrap().to_owned(),
                    content,
                },
            );
        }
        if page["hasMore"] == false {
            return out;
        }
    }
}

async fn start_server() -> (ferry_server::Running, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let server = ferry_server::start(ferry_server::Config::for_tests(dir.path()))
        .await
        .unwrap();
    (server, dir)
}

/// After every commit in turn: the queue runs to idle, the power fails with
/// everything sent, the database comes back as it was after commit k, and
/// the queue runs to idle again.
#[tokio::test(flavor = "current_thread")]
async fn a_rollback_to_any_commit_after_a_finished_run_loses_and_duplicates_nothing() {
    let (server, _dir) = start_server().await;
    let reference = Trial::start(&server, 0).await;
    reference.settle().await;
    reference.check("without a power cut").await;
    let commits = reference.store.commits();
    assert!(
        commits > reference.enqueued_at + 10,
        "too few commits to roll back through"
    );

    // Several files' steps interleave as their requests happen to finish,
    // so the same work may make a commit more or less from trial to trial:
    // each trial is rolled back to the next commit it made.
    let mut k = reference.enqueued_at;
    loop {
        let trial = Trial::start(&server, 1 + k as u64).await;
        trial.settle().await;
        let made = trial.store.commits();
        if k >= made {
            break;
        }
        trial.store.roll_back_to(k);
        trial.settle().await;
        trial
            .check(&format!("rolled back to commit {k} of {made}"))
            .await;
        k += 1;
    }
    assert!(
        k + 3 >= commits,
        "rolled back through {k} commits of about {commits}"
    );
}

/// Power cuts at seeded random points, several in one run, each taking the
/// database back by a random number of commits (never before the enqueue).
#[tokio::test(flavor = "current_thread")]
async fn repeated_power_cuts_at_random_points_lose_and_duplicate_nothing() {
    let (server, _dir) = start_server().await;
    for seed in 1..=12u64 {
        let mut rng = SplitMix(seed);
        let trial = Trial::start(&server, 100 + seed).await;
        for _ in 0..4 {
            let engine = trial.engine().await;
            let steps = 1 + rng.below(12);
            engine.run_steps(steps).await.unwrap();
            let commits = trial.store.commits();
            let back = rng.below(8) as usize;
            let to = commits.saturating_sub(back).max(trial.enqueued_at);
            trial.store.roll_back_to(to);
        }
        trial.settle().await;
        trial.check(&format!("seed {seed}")).await;
    }
}

/// A small deterministic generator, so a failing seed replays.
struct SplitMix(u64);

impl SplitMix {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        (z ^ (z >> 31)) % n
    }
}
