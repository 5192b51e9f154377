//! The stored record format, frozen. Queue records live for months in
//! IndexedDB on people's devices, and a later Ferry must read them exactly
//! as they were written. `tests/vectors/records-v1.json` holds the bytes of
//! every kind of stored record (and its key), with field values chosen so
//! that no two fields of a record hold the same value: moving, swapping,
//! adding or retyping a field changes the bytes, and this test fails.
//!
//! The vectors are written once and never rewritten:
//! `FERRY_WRITE_RECORD_VECTORS=1 cargo test --test records` adds the
//! vectors of samples that have none yet (a new record kind) and leaves
//! every existing one as it is. A format change is a new
//! `records-v<N>.json`; the old files stay and must still migrate.
//!
//! Then the migration mechanism, natively: a database in a format that
//! never shipped ("format 0": the lease and the counters stored with their
//! fields in another order) is migrated at open, resumes after being cut
//! short, and a database from a later Ferry is refused and left unchanged.
#![cfg(not(target_arch = "wasm32"))]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::cast_possible_truncation
)]

mod common;
mod engine_support;

use std::cell::Cell;
use std::fmt::Debug;
use std::future::Future;
use std::path::PathBuf;

use common::{hex, unhex};
use engine_support::MemStore;
use ferry_sync::codec::{Reader, Record, Writer};
use ferry_sync::engine::ports::{Batch, Store, StoreError, Table};
use ferry_sync::protocol::BlockedReason;
use ferry_sync::protocol::api::{MultipartUrls, SealedMetadata, UploadUrl};
use ferry_sync::queue::item::{Target, Thumbnail, Upload};
use ferry_sync::queue::migrate::{self, MigrateError, Migration, Plan, UNMARKED_FORMAT};
use ferry_sync::queue::records::{
    BLOCKED_KEY, COUNTERS_KEY, DEFERRED_KEY, FORMAT_KEY, FreshRange, LEASE_KEY, LIVE_RUN_KEY,
    NEXT_ID_KEY, NEXT_RUN_KEY, RECORD_FORMAT, RecordKind, THROUGHPUT_KEY, collection_key_key,
    decode, diff_cursor_key, encode, fresh_range_key, hash_key, item_key, run_key, runnable_key,
};
use ferry_sync::queue::{Counters, FileType, Item, ItemError, NewItem, Step};
use ferry_sync::scheduler::{Deferred, Lease, LiveRun, RunReport, StopReason, Throughput, Trigger};
use serde_json::{Value, json};

const WRITE_ENV: &str = "FERRY_WRITE_RECORD_VECTORS";

// ---------------------------------------------------------------------------
// The samples: one value of every stored kind, every field distinct.

struct Sample {
    name: String,
    about: String,
    table: Table,
    key: Vec<u8>,
    kind: RecordKind,
    /// The stored bytes; `None` where they cannot be fixed (a key sealed by
    /// the vault: random IV, per-device key).
    value: Option<Vec<u8>>,
    check: Check,
}

/// Decodes stored bytes, asserts every field against the sample, and
/// returns them encoded again.
type Check = Box<dyn Fn(&[u8]) -> Vec<u8>>;

/// A codec record: the sample value is what the frozen bytes must decode to.
fn record<T: Record + PartialEq + Debug + 'static>(
    name: &str,
    about: &str,
    table: Table,
    key: Vec<u8>,
    kind: RecordKind,
    value: T,
) -> Sample {
    let bytes = encode(&value);
    let label = name.to_string();
    Sample {
        name: name.into(),
        about: about.into(),
        table,
        key,
        kind,
        value: Some(bytes),
        check: Box::new(move |stored| {
            let back: T = decode(stored)
                .unwrap_or_else(|e| panic!("{label}: the frozen record does not decode: {e}"));
            assert_eq!(
                back, value,
                "{label}: decoded fields differ from the sample"
            );
            encode(&back)
        }),
    }
}

/// A value outside the codec (an index entry, a sealed key, the format byte).
fn raw(
    name: &str,
    about: &str,
    table: Table,
    key: Vec<u8>,
    kind: RecordKind,
    value: Option<Vec<u8>>,
) -> Sample {
    Sample {
        name: name.into(),
        about: about.into(),
        table,
        key,
        kind,
        value,
        check: Box::new(<[u8]>::to_vec),
    }
}

const ITEM_ID: u64 = 0x0102_0304;
const COLLECTION: i64 = -1_234_567;
const TITLE: &str = "Ünïcode photo.heic";
const HASH: &str = "SGFzaC1vZi10aGUtcGxhaW50ZXh0";

fn bytes_from(first: u8, len: u8) -> Vec<u8> {
    (0..len).map(|i| first.wrapping_add(i)).collect()
}

fn url(tag: &str) -> UploadUrl {
    UploadUrl {
        object_key: format!("9/{tag}-object"),
        url: format!("https://s3.example/{tag}?X-Amz-Signature=5a"),
    }
}

fn full_item(step: Step) -> Item {
    Item {
        id: ITEM_ID,
        new: NewItem {
            collection_id: COLLECTION,
            source: "idb:source-7f3a".into(),
            title: TITLE.into(),
            file_type: FileType::LivePhoto,
            creation_time: 1_600_000_000_123_456,
            modification_time: 1_700_000_000_654_321,
            thumbnail: Some("idb:thumb-91c2".into()),
        },
        size: Some(5_368_709_121),
        last_modified_ms: Some(1_690_000_000_777),
        step,
        attempts: 3,
        restarts: 5,
        next_attempt_ms: 1_710_000_000_999,
        last_error: Some(ItemError {
            code: "RETRYING".into(),
            message: "HTTP 503 from the API".into(),
        }),
        enqueued_ms: 1_705_000_000_111,
    }
}

fn upload(target: Option<Target>, complete: bool) -> Upload {
    Upload {
        hash: HASH.into(),
        sealed_file_key: bytes_from(0x40, 61),
        header: bytes_from(0x90, 24),
        chunks_per_part: 4,
        target,
        etags: vec!["\"etag-one\"".into(), "\"etag-two\"".into()],
        sealed_checkpoint: complete.then(|| bytes_from(0xa0, 40)),
        completed: complete,
        thumbnail: complete.then(|| Thumbnail {
            url: url("thumb"),
            header: bytes_from(0xd0, 24),
            size: 31_337,
            uploaded: true,
        }),
        metadata: SealedMetadata {
            encrypted_data: "bWV0YWRhdGEtY2lwaGVydGV4dA==".into(),
            decryption_header: "bWV0YWRhdGEtaGVhZGVy".into(),
        },
        bytes_sent: 20_971_537,
    }
}

fn item_samples() -> Vec<Sample> {
    let item = |name: &str, about: &str, value: Item| {
        record(
            name,
            about,
            Table::Items,
            item_key(value.id),
            RecordKind::Item,
            value,
        )
    };
    let bare = Item {
        id: 7,
        new: NewItem {
            collection_id: 42,
            source: "host:DCIM/IMG_0001.JPG".into(),
            title: "IMG_0001.JPG".into(),
            file_type: FileType::Image,
            creation_time: 1_500_000_000_000_001,
            modification_time: 1_500_000_000_000_002,
            thumbnail: None,
        },
        size: None,
        last_modified_ms: None,
        step: Step::Queued,
        attempts: 0,
        restarts: 0,
        next_attempt_ms: 0,
        last_error: None,
        enqueued_ms: 1_500_000_000_003,
    };
    let mut video = full_item(Step::Uploading(Box::new(upload(None, false))));
    video.new.file_type = FileType::Video;
    vec![
        item(
            "item/queued-bare",
            "A just-enqueued image: every optional field absent.",
            bare,
        ),
        item(
            "item/queued",
            "Queued, every optional field present.",
            full_item(Step::Queued),
        ),
        item(
            "item/hashing",
            "Hashing: the sealed BLAKE2b state after 8 MiB + 17 bytes.",
            full_item(Step::Hashing {
                sealed_state: bytes_from(0x10, 44),
                hashed: 8_388_625,
            }),
        ),
        item(
            "item/uploading-no-target",
            "Uploading a video, before its URLs were fetched: no target, thumbnail or checkpoint.",
            video,
        ),
        item(
            "item/uploading-single",
            "Uploading in one PUT (Target::Single).",
            full_item(Step::Uploading(Box::new(upload(
                Some(Target::Single(url("single"))),
                false,
            )))),
        ),
        item(
            "item/uploading-multipart",
            "Uploading in parts (Target::Multipart), all parts sent, with checkpoint and thumbnail.",
            full_item(Step::Uploading(Box::new(upload(
                Some(Target::Multipart(MultipartUrls {
                    object_key: "9/multi-object".into(),
                    part_urls: vec![
                        "https://s3.example/part1".into(),
                        "https://s3.example/part2".into(),
                        "https://s3.example/part3".into(),
                    ],
                    complete_url: "https://s3.example/complete".into(),
                })),
                true,
            )))),
        ),
        item(
            "item/done",
            "Done, with the server's file id.",
            full_item(Step::Done {
                file_id: 9_876_543_210,
            }),
        ),
        item(
            "item/skipped",
            "Skipped as a duplicate of a file already on the server.",
            full_item(Step::Skipped {
                duplicate_of: "file:424242".into(),
            }),
        ),
        item(
            "item/failed",
            "Failed for good, with the reason.",
            full_item(Step::Failed(ItemError {
                code: "SOURCE_GONE".into(),
                message: "the file was deleted before it was uploaded".into(),
            })),
        ),
    ]
}

fn blocked_samples() -> Vec<Sample> {
    [
        ("auth", BlockedReason::Auth),
        ("payment", BlockedReason::Payment),
        ("quota", BlockedReason::Quota),
        ("offline", BlockedReason::Offline),
        ("permission", BlockedReason::Permission),
    ]
    .into_iter()
    .map(|(name, reason)| {
        record(
            &format!("blocked/{name}"),
            "Why the whole queue is paused (one variant per vector).",
            Table::Meta,
            BLOCKED_KEY.to_vec(),
            RecordKind::Blocked,
            reason,
        )
    })
    .collect()
}

/// One run record per trigger, each with a different stop reason, so every
/// variant of both enums is pinned.
fn run_samples() -> Vec<Sample> {
    let runs = [
        (
            "foreground",
            Trigger::Foreground,
            "budget",
            StopReason::Budget,
        ),
        ("sync", Trigger::Sync, "idle", StopReason::Idle),
        (
            "periodicsync",
            Trigger::PeriodicSync,
            "offline",
            StopReason::Offline,
        ),
        ("push", Trigger::Push, "auth", StopReason::Auth),
        (
            "ios-refresh",
            Trigger::IosRefresh,
            "quota",
            StopReason::Quota,
        ),
        ("ios-push", Trigger::IosPush, "busy", StopReason::Busy),
        (
            "android-work",
            Trigger::AndroidWork,
            "error",
            StopReason::Error,
        ),
        ("sync", Trigger::Sync, "deferred", StopReason::Deferred),
        ("push", Trigger::Push, "killed", StopReason::Killed),
    ];
    runs.into_iter()
        .enumerate()
        .map(|(i, (trigger_name, trigger, stop_name, stop))| {
            let i = i as u64;
            let report = RunReport {
                trigger,
                started_at: 1_730_000_000_000 + i as i64,
                budget_ms: (trigger != Trigger::Foreground).then_some(25_000.5 + i as f64),
                elapsed_ms: 24_321.25 + i as f64,
                bytes_uploaded: 7_340_032 + i,
                files_done: 9 + i,
                stopped_because: stop,
                blocked: match stop {
                    StopReason::Auth => Some(BlockedReason::Auth),
                    StopReason::Quota => Some(BlockedReason::Quota),
                    StopReason::Offline => Some(BlockedReason::Offline),
                    _ => None,
                },
                next_run_hint_ms: match stop {
                    StopReason::Budget => Some(0.0),
                    StopReason::Busy => Some(5_000.0),
                    StopReason::Idle => Some(61_000.75),
                    _ => None,
                },
                error: (stop == StopReason::Error)
                    .then(|| "the device key could not be read".to_string()),
                // Reported to the host, never stored.
                deferred: None,
            };
            record(
                &format!("run/{trigger_name}-{stop_name}"),
                "A run record, kept for diagnose (the last 100, by sequence number).",
                Table::Meta,
                run_key(100 + i),
                RecordKind::Run,
                report,
            )
        })
        .collect()
}

fn meta_samples() -> Vec<Sample> {
    vec![
        record(
            "counters",
            "Item counts by public state (queued, hashing, uploading, waiting, done, skipped, failed) and bytes uploaded.",
            Table::Meta,
            COUNTERS_KEY.to_vec(),
            RecordKind::Counters,
            Counters {
                by_state: [11, 12, 13, 14, 15, 16, 17],
                bytes_uploaded: 123_456_789_012,
            },
        ),
        record(
            "next-item-id",
            "The id the next enqueued item gets.",
            Table::Meta,
            NEXT_ID_KEY.to_vec(),
            RecordKind::NextItemId,
            1_000_001u64,
        ),
        record(
            "diff-cursor",
            "How far a collection's server files were read into the dedupe index (sinceTime, µs).",
            Table::Meta,
            diff_cursor_key(COLLECTION),
            RecordKind::DiffCursor,
            1_712_345_678_901_234i64,
        ),
        record(
            "throughput",
            "The scheduler's throughput estimates (bytes/ms, ms, bytes/ms).",
            Table::Meta,
            THROUGHPUT_KEY.to_vec(),
            RecordKind::Throughput,
            Throughput {
                upload_bytes_per_ms: Some(812.5),
                request_ms: Some(37.25),
                hash_bytes_per_ms: Some(51_234.75),
            },
        ),
        record(
            "throughput-unmeasured",
            "Throughput before any measurement.",
            Table::Meta,
            THROUGHPUT_KEY.to_vec(),
            RecordKind::Throughput,
            Throughput::default(),
        ),
        record(
            "lease",
            "The runners' lease where Web Locks are missing: holder, expiry (ms).",
            Table::Meta,
            LEASE_KEY.to_vec(),
            RecordKind::Lease,
            Lease {
                holder: 0x0123_4567_89ab_cdef,
                expires_ms: 1_720_000_000_030,
            },
        ),
        record(
            "next-run",
            "The sequence number of the next run record.",
            Table::Meta,
            NEXT_RUN_KEY.to_vec(),
            RecordKind::NextRun,
            4_242u64,
        ),
        record(
            "live-run",
            "The run in progress: its report so far, the wall-clock time of that report (ms), the item in hand (0: none).",
            Table::Meta,
            LIVE_RUN_KEY.to_vec(),
            RecordKind::LiveRun,
            LiveRun {
                report: RunReport {
                    trigger: Trigger::PeriodicSync,
                    started_at: 1_730_000_000_500,
                    budget_ms: Some(150_000.25),
                    elapsed_ms: 4_096.5,
                    bytes_uploaded: 9_437_184,
                    files_done: 3,
                    stopped_because: StopReason::Idle,
                    blocked: None,
                    next_run_hint_ms: None,
                    error: None,
                    deferred: None,
                },
                updated_at: 1_730_000_004_700,
                working: ITEM_ID,
            },
        ),
        record(
            "deferred",
            "What the latest run left held back by a policy: videos, files waiting for Wi-Fi, files past the per-run cap, and videosMinBudgetMs.",
            Table::Meta,
            DEFERRED_KEY.to_vec(),
            RecordKind::Deferred,
            Deferred {
                videos: 21,
                wifi_only: 22,
                file_cap: 23,
                videos_min_budget_ms: 60_000,
            },
        ),
        record(
            "fresh-range",
            "Items one enqueue wrote with no runnable entry: ids next..end, those still as enqueued runnable now; under the range's first id.",
            Table::Meta,
            fresh_range_key(0x0000_0000_0102_0300),
            RecordKind::FreshRange,
            FreshRange {
                next: 0x0000_0000_0102_0304,
                end: 0x0000_0000_0102_0400,
            },
        ),
        raw(
            "format",
            "The database's record format: one byte, outside the codec, the same in every format.",
            Table::Meta,
            FORMAT_KEY.to_vec(),
            RecordKind::Format,
            Some(vec![RECORD_FORMAT]),
        ),
        raw(
            "collection-key",
            "A collection key sealed by the vault: the vault's own byte 1, a 12-byte IV, the AES-256-GCM ciphertext of the 32-byte key and its 16-byte tag (61 bytes, different on every seal and device, so only the key is pinned).",
            Table::Meta,
            collection_key_key(COLLECTION),
            RecordKind::CollectionKey,
            None,
        ),
        raw(
            "runnable-entry",
            "The runnable index: (next attempt ms, item id), both big-endian; an empty value.",
            Table::Runnable,
            runnable_key(1_710_000_000_999, ITEM_ID),
            RecordKind::RunnableEntry,
            Some(Vec::new()),
        ),
        raw(
            "hash-entry-item",
            "The dedupe index: collection, wire file type, title, content hash, NUL-separated; the value names a queued item.",
            Table::Hashes,
            hash_key(COLLECTION, FileType::LivePhoto.wire(), TITLE, HASH),
            RecordKind::HashEntry,
            Some(format!("item:{ITEM_ID}").into_bytes()),
        ),
        raw(
            "hash-entry-file",
            "The dedupe index entry of a file found on the server (value: its file id).",
            Table::Hashes,
            hash_key(
                COLLECTION,
                FileType::Image.wire(),
                "IMG_0001.JPG",
                "c2VydmVyLWhhc2g=",
            ),
            RecordKind::HashEntry,
            Some(b"file:9876543210".to_vec()),
        ),
    ]
}

fn samples() -> Vec<Sample> {
    let mut all = item_samples();
    all.extend(meta_samples());
    all.extend(blocked_samples());
    all.extend(run_samples());
    all
}

// ---------------------------------------------------------------------------
// The frozen file.

fn vectors_path(format: u8) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("tests/vectors/records-v{format}.json"))
}

fn table_name(table: Table) -> &'static str {
    table.name()
}

fn table_named(name: &str) -> Table {
    Table::ALL
        .into_iter()
        .find(|t| t.name() == name)
        .unwrap_or_else(|| panic!("unknown table {name:?}"))
}

fn vector_of(sample: &Sample) -> Value {
    json!({
        "name": sample.name,
        "about": sample.about,
        "table": table_name(sample.table),
        "key": hex(&sample.key),
        "value": sample.value.as_deref().map(hex),
    })
}

/// Reads the current format's vectors; with `FERRY_WRITE_RECORD_VECTORS=1`,
/// first adds those of samples that have none (never touching the others).
fn frozen_vectors(samples: &[Sample]) -> Vec<Value> {
    let path = vectors_path(RECORD_FORMAT);
    let mut file: Value = match std::fs::read_to_string(&path) {
        Ok(text) => serde_json::from_str(&text).expect("records vectors are JSON"),
        Err(_) => json!({
            "format": RECORD_FORMAT,
            "about": format!(
                "Stored records of record format {RECORD_FORMAT}, frozen: each is a record's \
                 table, key and value (hex; the value starts with the format byte where it is \
                 a codec record). Checked by tests/records.rs. Never edit or regenerate: a \
                 format change adds records-v<N>.json and a migration."
            ),
            "records": [],
        }),
    };
    assert_eq!(file["format"], json!(RECORD_FORMAT), "{}", path.display());
    let frozen = file["records"].as_array().cloned().unwrap_or_default();
    let missing: Vec<&Sample> = samples
        .iter()
        .filter(|s| !frozen.iter().any(|v| v["name"] == json!(s.name)))
        .collect();
    if missing.is_empty() {
        return frozen;
    }
    let names: Vec<&str> = missing.iter().map(|s| s.name.as_str()).collect();
    assert!(
        std::env::var(WRITE_ENV).is_ok_and(|v| v == "1"),
        "no frozen vector for {names:?} in {}: a new kind of stored record gets its \
         vector written once with {WRITE_ENV}=1 cargo test --test records",
        path.display()
    );
    let mut records = frozen;
    records.extend(missing.iter().map(|s| vector_of(s)));
    file["records"] = Value::Array(records.clone());
    std::fs::write(&path, serde_json::to_string_pretty(&file).unwrap() + "\n").unwrap();
    eprintln!("wrote the vectors of {names:?} to {}", path.display());
    records
}

#[test]
fn every_stored_record_matches_its_frozen_bytes() {
    let samples = samples();
    let frozen = frozen_vectors(&samples);
    for vector in &frozen {
        let name = vector["name"].as_str().unwrap();
        let sample = samples
            .iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("frozen vector {name:?} has no sample any more"));
        let table = table_named(vector["table"].as_str().unwrap());
        let key = unhex(vector["key"].as_str().unwrap());
        assert_eq!(table, sample.table, "{name}: table");
        assert_eq!(hex(&key), hex(&sample.key), "{name}: key");
        assert_eq!(
            RecordKind::of(table, &key),
            Some(sample.kind),
            "{name}: the key's kind"
        );
        match vector["value"].as_str().map(unhex) {
            Some(stored) => {
                assert_eq!(
                    sample.kind.is_record(),
                    stored.first() == Some(&RECORD_FORMAT) && sample.kind != RecordKind::Format,
                    "{name}: a codec record starts with the format byte"
                );
                let again = (sample.check)(&stored);
                assert_eq!(hex(&again), hex(&stored), "{name}: encoded again");
                assert_eq!(
                    sample.value.as_deref().map(hex),
                    Some(hex(&stored)),
                    "{name}: the sample's bytes"
                );
            }
            None => assert_eq!(sample.value, None, "{name}: value"),
        }
    }
}

/// Every kind of stored value has at least one frozen vector. The match
/// has no wildcard: a new kind does not compile until it is listed here.
#[test]
fn every_record_kind_has_a_vector() {
    fn index(kind: RecordKind) -> usize {
        match kind {
            RecordKind::Item => 0,
            RecordKind::Counters => 1,
            RecordKind::NextItemId => 2,
            RecordKind::Blocked => 3,
            RecordKind::DiffCursor => 4,
            RecordKind::Throughput => 5,
            RecordKind::Lease => 6,
            RecordKind::NextRun => 7,
            RecordKind::Run => 8,
            RecordKind::RunnableEntry => 9,
            RecordKind::HashEntry => 10,
            RecordKind::CollectionKey => 11,
            RecordKind::Format => 12,
            RecordKind::LiveRun => 13,
            RecordKind::Deferred => 14,
            RecordKind::FreshRange => 15,
        }
    }
    let mut seen = [false; 16];
    for sample in samples() {
        seen[index(sample.kind)] = true;
    }
    assert!(seen.iter().all(|s| *s), "kinds without a vector: {seen:?}");
}

/// Distinct values per field are what make a swap visible: a record whose
/// encoding is the same with two same-typed fields exchanged would hide it.
#[test]
fn swapping_two_same_typed_fields_changes_the_bytes() {
    let item = full_item(Step::Queued);
    let mut swapped = item.clone();
    std::mem::swap(&mut swapped.attempts, &mut swapped.restarts);
    std::mem::swap(
        &mut swapped.new.creation_time,
        &mut swapped.new.modification_time,
    );
    assert_ne!(encode(&item), encode(&swapped));
    let mut only_times = item.clone();
    std::mem::swap(
        &mut only_times.new.creation_time,
        &mut only_times.new.modification_time,
    );
    assert_ne!(encode(&item), encode(&only_times));
}

/// Older formats' vectors, once there are any, must still open: each goes
/// into a database of its format, which is migrated, and every record then
/// reads in the current format.
#[test]
fn older_formats_vectors_migrate_to_records_that_read() {
    for format in older_formats() {
        let text = std::fs::read_to_string(vectors_path(format))
            .unwrap_or_else(|_| panic!("records-v{format}.json must be kept"));
        let file: Value = serde_json::from_str(&text).unwrap();
        for vector in file["records"].as_array().unwrap() {
            let Some(value) = vector["value"].as_str().map(unhex) else {
                continue;
            };
            let table = table_named(vector["table"].as_str().unwrap());
            let key = unhex(vector["key"].as_str().unwrap());
            let store = MemStore::default();
            let mut batch = Batch::default();
            batch.put(Table::Meta, FORMAT_KEY.to_vec(), vec![format]);
            batch.put(table, key.clone(), value);
            futures_block_on(store.commit(batch)).unwrap();
            futures_block_on(migrate::open(&store)).unwrap();
            let kind = RecordKind::of(table, &key).unwrap();
            let now = store.0.borrow()[&(table, key)].clone();
            assert!(
                reads_as(kind, &now),
                "{format}/{}: does not read after migration",
                vector["name"]
            );
        }
    }
}

/// Every format before the current one (none while the current is 1).
fn older_formats() -> Vec<u8> {
    (UNMARKED_FORMAT..RECORD_FORMAT).collect()
}

fn reads_as(kind: RecordKind, bytes: &[u8]) -> bool {
    match kind {
        RecordKind::Item => decode::<Item>(bytes).is_ok(),
        RecordKind::Counters => decode::<Counters>(bytes).is_ok(),
        RecordKind::NextItemId | RecordKind::NextRun => decode::<u64>(bytes).is_ok(),
        RecordKind::Blocked => decode::<BlockedReason>(bytes).is_ok(),
        RecordKind::DiffCursor => decode::<i64>(bytes).is_ok(),
        RecordKind::Throughput => decode::<Throughput>(bytes).is_ok(),
        RecordKind::Lease => decode::<Lease>(bytes).is_ok(),
        RecordKind::Run => decode::<RunReport>(bytes).is_ok(),
        RecordKind::LiveRun => decode::<LiveRun>(bytes).is_ok(),
        RecordKind::Deferred => decode::<Deferred>(bytes).is_ok(),
        RecordKind::FreshRange => decode::<FreshRange>(bytes).is_ok(),
        RecordKind::RunnableEntry
        | RecordKind::HashEntry
        | RecordKind::CollectionKey
        | RecordKind::Format => true,
    }
}

fn futures_block_on<F: Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(future)
}

// ---------------------------------------------------------------------------
// Migrations, on a format that never shipped.
//
// "Format 0" is format 1 with the lease's and the counters' fields in the
// other order: exactly the swap a migration must undo. Its migration
// reorders those two kinds, checks that items read, and keeps every other
// body as it is.

fn write_lease_v0(lease: &Lease) -> Vec<u8> {
    let mut w = Writer::new(0);
    w.put(&lease.expires_ms);
    w.put(&lease.holder);
    w.into_bytes()
}

fn write_counters_v0(counters: &Counters) -> Vec<u8> {
    let mut w = Writer::new(0);
    w.put(&counters.bytes_uploaded);
    w.put(&counters.by_state);
    w.into_bytes()
}

/// An item in format 0: the format 1 body behind a 0.
fn write_item_v0(item: &Item) -> Vec<u8> {
    let mut bytes = encode(item);
    bytes[0] = 0;
    bytes
}

fn upgrade_v0(kind: RecordKind, body: &[u8]) -> Option<Vec<u8>> {
    let mut r = Reader::new(body);
    let mut w = Writer::default();
    match kind {
        RecordKind::Lease => {
            let expires_ms: i64 = r.get()?;
            let holder: u64 = r.get()?;
            w.put(&holder);
            w.put(&expires_ms);
        }
        RecordKind::Counters => {
            let bytes_uploaded: u64 = r.get()?;
            let by_state: [u64; 7] = r.get()?;
            w.put(&by_state);
            w.put(&bytes_uploaded);
        }
        // An item's body did not change: checked, then kept.
        RecordKind::Item => {
            let _: Item = r.get()?;
            return r.is_empty().then(|| body.to_vec());
        }
        _ => return Some(body.to_vec()),
    }
    r.is_empty().then(|| w.into_bytes())
}

const FROM_V0: Migration = Migration {
    from: 0,
    record: upgrade_v0,
};

const LEASE: Lease = Lease {
    holder: 0x0123_4567_89ab_cdef,
    expires_ms: 1_720_000_000_030,
};

fn counters() -> Counters {
    Counters {
        by_state: [1, 2, 3, 4, 5, 6, 7],
        bytes_uploaded: 99_999,
    }
}

/// More items than one migration page holds.
const V0_ITEMS: u64 = 600;

fn v0_item(id: u64) -> Item {
    let mut item = full_item(Step::Done {
        file_id: 10_000 + id as i64,
    });
    item.id = id;
    item
}

/// A database of format 0: items, the two reordered kinds, records outside
/// the codec, and one item whose body is garbage.
async fn v0_database() -> MemStore {
    let store = MemStore::default();
    let mut batch = Batch::default();
    batch.put(Table::Meta, FORMAT_KEY.to_vec(), vec![0]);
    for id in 1..=V0_ITEMS {
        batch.put(Table::Items, item_key(id), write_item_v0(&v0_item(id)));
        batch.put(Table::Runnable, runnable_key(5, id), Vec::new());
    }
    batch.put(Table::Items, item_key(V0_ITEMS + 1), vec![0, 0xff, 0xff]);
    batch.put(Table::Meta, LEASE_KEY.to_vec(), write_lease_v0(&LEASE));
    batch.put(
        Table::Meta,
        COUNTERS_KEY.to_vec(),
        write_counters_v0(&counters()),
    );
    // A sealed key starts with the vault's own format byte, which may be
    // anything: a migration must never touch it.
    batch.put(Table::Meta, collection_key_key(3), vec![0; 61]);
    batch.put(
        Table::Hashes,
        hash_key(3, 0, "a.jpg", "aGFzaA=="),
        b"item:1".to_vec(),
    );
    store.commit(batch).await.unwrap();
    store
}

type Dump = Vec<((Table, Vec<u8>), Vec<u8>)>;

fn snapshot(store: &MemStore) -> Dump {
    store
        .0
        .borrow()
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

async fn get(store: &MemStore, table: Table, key: &[u8]) -> Vec<u8> {
    store.get(table, key).await.unwrap().unwrap()
}

/// Every record reads in format 1 with the values written in format 0.
async fn assert_migrated(store: &MemStore) {
    assert_eq!(get(store, Table::Meta, FORMAT_KEY).await, [1]);
    for id in 1..=V0_ITEMS {
        let item: Item = decode(&get(store, Table::Items, &item_key(id)).await).unwrap();
        assert_eq!(item, v0_item(id));
    }
    let lease: Lease = decode(&get(store, Table::Meta, LEASE_KEY).await).unwrap();
    assert_eq!(lease, LEASE, "the lease's fields back in format 1's order");
    let stored: Counters = decode(&get(store, Table::Meta, COUNTERS_KEY).await).unwrap();
    assert_eq!(stored, counters());
    assert_eq!(
        get(store, Table::Items, &item_key(V0_ITEMS + 1)).await,
        [0, 0xff, 0xff],
        "an unreadable record is left as it was, not dropped"
    );
    assert_eq!(
        get(store, Table::Meta, &collection_key_key(3)).await,
        [0; 61]
    );
    assert_eq!(
        get(store, Table::Hashes, &hash_key(3, 0, "a.jpg", "aGFzaA==")).await,
        b"item:1"
    );
    assert!(
        store
            .get(Table::Runnable, &runnable_key(5, V0_ITEMS))
            .await
            .unwrap()
            .is_some()
    );
}

#[tokio::test(flavor = "current_thread")]
async fn an_older_database_is_migrated_at_open() {
    let store = v0_database().await;
    // Without the migration, nothing of format 0 reads.
    assert!(decode::<Item>(&get(&store, Table::Items, &item_key(1)).await).is_err());

    let opened = migrate::open_with(&store, &[FROM_V0], 1).await.unwrap();
    assert_eq!(opened.plan, Plan::Migrate { from: 0 });
    assert_eq!(opened.migrated, V0_ITEMS + 2);
    assert_eq!(opened.unreadable, 1);
    assert_migrated(&store).await;

    // Opening again finds the current format and writes nothing.
    let before = snapshot(&store);
    let again = migrate::open_with(&store, &[FROM_V0], 1).await.unwrap();
    assert_eq!(again.plan, Plan::Ready);
    assert_eq!(snapshot(&store), before);
}

/// A store whose writes (commits and swaps) fail after a number of them
/// succeeded: the page or the tab dies in the middle of a migration.
struct DiesAfter {
    inner: MemStore,
    commits_left: Cell<u32>,
}

impl Store for DiesAfter {
    async fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.get(table, key).await
    }

    async fn scan(
        &self,
        table: Table,
        start: &[u8],
        end: &[u8],
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>, StoreError> {
        self.inner.scan(table, start, end, limit).await
    }

    async fn commit(&self, batch: Batch) -> Result<(), StoreError> {
        match self.commits_left.get() {
            0 => Err(StoreError("the tab was closed".into())),
            n => {
                self.commits_left.set(n - 1);
                self.inner.commit(batch).await
            }
        }
    }

    async fn swap(
        &self,
        table: Table,
        key: &[u8],
        expected: Option<&[u8]>,
        new: Option<Vec<u8>>,
    ) -> Result<bool, StoreError> {
        match self.commits_left.get() {
            0 => Err(StoreError("the tab was closed".into())),
            n => {
                self.commits_left.set(n - 1);
                self.inner.swap(table, key, expected, new).await
            }
        }
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_migration_cut_short_resumes_and_rewrites_nothing_twice() {
    // The migration writes three pages of items, one of meta records, then
    // the format record: cut it after each of the first four writes.
    for commits in 1..=4 {
        let store = v0_database().await;
        let dying = DiesAfter {
            inner: store.clone(),
            commits_left: Cell::new(commits),
        };
        let err = migrate::open_with(&dying, &[FROM_V0], 1).await.unwrap_err();
        assert_eq!(err.code(), "STORE_FAILED");
        assert_eq!(
            get(&store, Table::Meta, FORMAT_KEY).await,
            [0],
            "the database still says format 0 after {commits} commits"
        );
        let formats: Vec<u8> = (1..=V0_ITEMS)
            .map(|id| store.0.borrow()[&(Table::Items, item_key(id))][0])
            .collect();
        if commits == 1 {
            assert!(formats.contains(&1) && formats.contains(&0), "cut mid-way");
        }
        if commits == 4 {
            assert!(formats.iter().all(|f| *f == 1));
            assert_eq!(get(&store, Table::Meta, LEASE_KEY).await[0], 1);
        }

        // Next open: the rest is migrated. A record rewritten twice
        // would have its lease or counter fields swapped back.
        let opened = migrate::open_with(&store, &[FROM_V0], 1).await.unwrap();
        assert_eq!(opened.plan, Plan::Migrate { from: 0 });
        assert!(opened.migrated < V0_ITEMS + 2, "after {commits} commits");
        assert_migrated(&store).await;
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_newer_database_is_refused_and_left_unchanged() {
    let store = v0_database().await;
    let mut batch = Batch::default();
    batch.put(Table::Meta, FORMAT_KEY.to_vec(), vec![RECORD_FORMAT + 1]);
    store.commit(batch).await.unwrap();
    let before = snapshot(&store);

    let err = migrate::open(&store).await.unwrap_err();
    assert!(matches!(err, MigrateError::NewerDatabase(_)), "{err:?}");
    assert_eq!(err.code(), "NEWER_DATABASE");
    assert!(err.to_string().contains("later Ferry"), "{err}");
    assert_eq!(snapshot(&store), before, "nothing written");
}

#[tokio::test(flavor = "current_thread")]
async fn a_database_without_a_way_to_the_current_format_is_left_unchanged() {
    let store = v0_database().await;
    let before = snapshot(&store);
    let err = migrate::open_with(&store, &[], 1).await.unwrap_err();
    assert_eq!(err.code(), "MIGRATION_FAILED");
    assert_eq!(snapshot(&store), before);

    let mut batch = Batch::default();
    batch.put(Table::Meta, FORMAT_KEY.to_vec(), Vec::new());
    store.commit(batch).await.unwrap();
    let err = migrate::open(&store).await.unwrap_err();
    assert_eq!(err.code(), "MIGRATION_FAILED", "an empty format record");
}

#[tokio::test(flavor = "current_thread")]
async fn new_and_unmarked_databases_get_the_format_record() {
    // A new database: marked with the current format.
    let fresh = MemStore::default();
    let opened = migrate::open(&fresh).await.unwrap();
    assert_eq!(opened.plan, Plan::Mark);
    assert_eq!(get(&fresh, Table::Meta, FORMAT_KEY).await, [RECORD_FORMAT]);

    // Records but no format record: written before the record existed,
    // in format 1. With format 1 current, only the mark is added.
    let item = v0_item(5);
    let unmarked = MemStore::default();
    let mut batch = Batch::default();
    batch.put(Table::Items, item_key(5), encode(&item));
    unmarked.commit(batch).await.unwrap();
    assert_eq!(UNMARKED_FORMAT, 1);
    let opened = migrate::open_with(&unmarked, &[], 1).await.unwrap();
    assert_eq!(opened.plan, Plan::Mark);
    assert_eq!(get(&unmarked, Table::Meta, FORMAT_KEY).await, [1]);
    assert_eq!(
        decode::<Item>(&get(&unmarked, Table::Items, &item_key(5)).await),
        Ok(item)
    );

    // With a later format current, an unmarked database migrates from 1.
    let unmarked = MemStore::default();
    let mut batch = Batch::default();
    batch.put(Table::Items, item_key(5), encode(&v0_item(5)));
    unmarked.commit(batch).await.unwrap();
    fn append_seven(_: RecordKind, body: &[u8]) -> Option<Vec<u8>> {
        let mut out = body.to_vec();
        out.push(7);
        Some(out)
    }
    let from_v1 = Migration {
        from: 1,
        record: append_seven,
    };
    let opened = migrate::open_with(&unmarked, &[from_v1], 2).await.unwrap();
    assert_eq!(opened.plan, Plan::Migrate { from: 1 });
    let stored = get(&unmarked, Table::Items, &item_key(5)).await;
    assert_eq!(stored[0], 2);
    assert_eq!(stored.last(), Some(&7));
    assert_eq!(get(&unmarked, Table::Meta, FORMAT_KEY).await, [2]);
}

/// Known answers: a variant's stored byte is its position, so moving a
/// variant would change what records already on devices mean.
#[test]
fn stored_enum_positions_do_not_move() {
    use ferry_sync::protocol::BlockedReason;
    use ferry_sync::queue::{FileType, PublicState};
    use ferry_sync::scheduler::{StopReason, Trigger};
    fn stored<T: Record>(value: &T) -> Vec<u8> {
        let mut w = Writer::default();
        w.put(value);
        w.into_bytes()
    }
    assert_eq!(stored(&FileType::LivePhoto), [2]);
    assert_eq!(stored(&PublicState::Waiting), [3]);
    assert_eq!(stored(&PublicState::Failed), [6]);
    assert_eq!(stored(&BlockedReason::Permission), [4]);
    assert_eq!(stored(&StopReason::Busy), [5]);
    assert_eq!(stored(&StopReason::Deferred), [7]);
    assert_eq!(stored(&StopReason::Killed), [8]);
    assert_eq!(stored(&Trigger::Foreground), [0]);
    assert_eq!(stored(&Trigger::AndroidWork), [6]);
}
