//! The web ports over real IndexedDB and WebCrypto in headless Chromium:
//! ordering, atomic batches and persistence of the store; the vault's
//! non-extractable device key; the engine's queue over both, whose
//! database dump holds no key in clear; and how `Ferry.open` treats the
//! database's record format: marks new ones, migrates older ones under the
//! database's lock, refuses newer ones and leaves them untouched.
#![cfg(target_arch = "wasm32")]
#![allow(clippy::unwrap_used, clippy::cast_possible_truncation)]

use ferry_sync::codec::{Reader, Writer};
use ferry_sync::crypto::{Key, random_bytes};
use ferry_sync::engine::ports::{
    Batch, Clock, MergeFn, Source, SourceError, SourceInfo, Sources, Store, Table, Transport, Vault,
};
use ferry_sync::engine::{Engine, EngineConfig, Env};
use ferry_sync::protocol::{Endpoint, HttpRequest, HttpResponse, TransportError};
use ferry_sync::queue::migrate::{Migration, Plan};
use ferry_sync::queue::records::{
    FORMAT_KEY, LEASE_KEY, LIVE_RUN_KEY, RECORD_FORMAT, RecordKind, decode, encode, item_key,
};
use ferry_sync::queue::{Counters, FileType, NewItem, PublicState};
use ferry_sync::scheduler::Lease;
use ferry_sync::web::ferry::{Ferry, open_records_with};
use ferry_sync::web::store::IdbStore;
use ferry_sync::web::vault::WebCryptoVault;
use js_sys::{Function, Promise, Reflect};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

fn unique(name: &str) -> String {
    let n: [u8; 6] = random_bytes();
    format!(
        "ferry-test-{name}-{}",
        n.iter().map(|b| format!("{b:02x}")).collect::<String>()
    )
}

#[wasm_bindgen_test]
async fn the_store_orders_binary_keys_commits_batches_and_persists() {
    let name = unique("store");
    let store = IdbStore::open(&name).await.unwrap();
    let mut batch = Batch::default();
    for key in [
        vec![0u8, 2],
        vec![0, 1, 255],
        vec![1],
        vec![0, 1],
        vec![200, 0],
    ] {
        batch.put(
            Table::Runnable,
            key.clone(),
            key.iter().rev().copied().collect(),
        );
    }
    batch.put(Table::Meta, b"counters".to_vec(), b"{}".to_vec());
    // Stored as the number 0, which every read turns back into no bytes.
    batch.put(Table::Meta, b"empty".to_vec(), Vec::new());
    store.commit(batch).await.unwrap();
    let empty: &[u8] = b"empty";
    assert_eq!(
        store.get(Table::Meta, empty).await.unwrap(),
        Some(Vec::new())
    );
    assert_eq!(
        store.get_many(Table::Meta, &[empty]).await.unwrap(),
        vec![Some(Vec::new())]
    );
    let scanned = store
        .scan(Table::Meta, b"empty", b"emptz", 10)
        .await
        .unwrap();
    assert_eq!(scanned, vec![(b"empty".to_vec(), Vec::new())]);
    let mut over_empty = Batch::default();
    over_empty.put(Table::Meta, b"after".to_vec(), vec![1]);
    over_empty.require(Table::Meta, b"empty".to_vec(), Some(Vec::new()));
    store.commit(over_empty).await.unwrap();

    let all = store.scan(Table::Runnable, &[], &[255], 100).await.unwrap();
    let keys: Vec<Vec<u8>> = all.iter().map(|(k, _)| k.clone()).collect();
    assert_eq!(
        keys,
        vec![
            vec![0, 1],
            vec![0, 1, 255],
            vec![0, 2],
            vec![1],
            vec![200, 0]
        ]
    );
    assert_eq!(all[1].1, vec![255, 1, 0]);
    let window = store
        .scan(Table::Runnable, &[0, 1, 255], &[1], 10)
        .await
        .unwrap();
    assert_eq!(window.len(), 2, "start is inclusive, end exclusive");
    assert_eq!(
        store
            .scan(Table::Runnable, &[], &[255], 2)
            .await
            .unwrap()
            .len(),
        2
    );

    let mut batch = Batch::default();
    batch.delete(Table::Runnable, vec![1]);
    batch.put(Table::Items, vec![9], vec![42]);
    store.commit(batch).await.unwrap();
    store.close();

    let reopened = IdbStore::open(&name).await.unwrap();
    assert_eq!(reopened.get(Table::Runnable, &[1]).await.unwrap(), None);
    assert_eq!(
        reopened.get(Table::Items, &[9]).await.unwrap(),
        Some(vec![42])
    );
    assert_eq!(
        reopened.get(Table::Meta, b"counters").await.unwrap(),
        Some(b"{}".to_vec())
    );
    assert_eq!(
        reopened
            .get_many(Table::Meta, &[b"none", b"counters", b"counters"])
            .await
            .unwrap(),
        vec![None, Some(b"{}".to_vec()), Some(b"{}".to_vec())],
        "several values in one read, in order"
    );
    assert_eq!(
        reopened
            .scan(Table::Runnable, &[], &[255], 100)
            .await
            .unwrap()
            .len(),
        4
    );
}

/// A merge appends its operand to what the record holds when its
/// transaction runs: three batches committed at once, each built without
/// reading the record, all land, and a batch's other writes land with them,
/// even when the merge grows wasm memory under the batch.
#[wasm_bindgen_test]
async fn a_merge_reads_the_record_inside_its_own_transaction() {
    fn append(current: Option<&[u8]>, operand: &[u8]) -> Vec<u8> {
        // Grows wasm memory, as any merge may: the batch's buffer, a view
        // of that memory, is detached by it.
        std::hint::black_box(vec![0u8; 48 << 20]);
        [current.unwrap_or_default(), operand].concat()
    }
    let store = IdbStore::open(&unique("merge")).await.unwrap();
    let batch = |n: u8| {
        let mut batch = Batch::default();
        batch.put(Table::Items, vec![n], vec![n]);
        batch.merge(Table::Meta, b"log".to_vec(), vec![n], MergeFn(append));
        batch.merge(Table::Meta, b"log".to_vec(), vec![n + 10], MergeFn(append));
        batch
    };
    let (a, b, c) = futures_util::future::join3(
        store.commit(batch(1)),
        store.commit(batch(2)),
        store.commit(batch(3)),
    )
    .await;
    for commit in [a, b, c] {
        commit.unwrap();
    }
    let log = store.get(Table::Meta, b"log").await.unwrap().unwrap();
    assert_eq!(log, vec![1, 11, 2, 12, 3, 13], "in commit order, none lost");
    for n in 1..=3 {
        assert_eq!(store.get(Table::Items, &[n]).await.unwrap(), Some(vec![n]));
    }
}

/// A batch that requires a record commits only over that record as it
/// requires it: present, or holding a given value. When the requirement
/// fails nothing of the batch is written, not even its writes issued before
/// the check answered, and the error says which kind of failure it was.
#[wasm_bindgen_test]
async fn a_batch_commits_only_over_the_records_it_requires() {
    let store = IdbStore::open(&unique("require")).await.unwrap();
    let mut seed = Batch::default();
    seed.put(Table::Items, vec![1], b"before".to_vec());
    store.commit(seed).await.unwrap();
    let over = |required: Vec<u8>, value: Option<&[u8]>, n: u8| {
        let mut batch = Batch::default();
        batch.put(Table::Items, vec![1], vec![n]);
        batch.put(Table::Runnable, vec![n], vec![n]);
        batch.merge(
            Table::Meta,
            b"count".to_vec(),
            vec![n],
            MergeFn(|_, n| n.to_vec()),
        );
        batch.require(Table::Items, required, value.map(<[u8]>::to_vec));
        batch
    };
    for (required, value) in [(vec![2], None), (vec![1], Some(&b"other"[..]))] {
        let err = store.commit(over(required, value, 7)).await.unwrap_err();
        assert!(err.is_changed(), "{err:?}");
    }
    assert_eq!(
        store.get(Table::Items, &[1]).await.unwrap(),
        Some(b"before".to_vec())
    );
    assert_eq!(store.get(Table::Runnable, &[7]).await.unwrap(), None);
    assert_eq!(store.get(Table::Meta, b"count").await.unwrap(), None);

    store
        .commit(over(vec![1], Some(b"before"), 8))
        .await
        .unwrap();
    store.commit(over(vec![1], None, 9)).await.unwrap();
    assert_eq!(store.get(Table::Items, &[1]).await.unwrap(), Some(vec![9]));
    assert_eq!(
        store.get(Table::Runnable, &[8]).await.unwrap(),
        Some(vec![8])
    );
    assert_eq!(
        store.get(Table::Meta, b"count").await.unwrap(),
        Some(vec![9])
    );
}

#[wasm_bindgen_test]
async fn the_vault_seals_under_a_non_extractable_device_key_that_persists() {
    let name = unique("vault");
    let store = IdbStore::open(&name).await.unwrap();
    let vault = WebCryptoVault::open(&store).await.unwrap();
    let secret = b"a collection key, 32 bytes long!";
    let sealed = vault.seal(secret).await.unwrap();
    let again = vault.seal(secret).await.unwrap();
    assert_ne!(sealed, again, "a fresh IV every time");
    assert!(!sealed.windows(secret.len()).any(|w| w == secret));
    assert_eq!(vault.open(&sealed).await.unwrap().as_slice(), secret);

    let mut tampered = sealed.clone();
    let last = tampered.len() - 1;
    tampered[last] ^= 1;
    assert!(vault.open(&tampered).await.is_err());
    assert!(vault.open(b"junk").await.is_err());

    // Another connection (a reload, a service worker) gets the same key.
    store.close();
    let store = IdbStore::open(&name).await.unwrap();
    let reopened = WebCryptoVault::open(&store).await.unwrap();
    assert_eq!(reopened.open(&sealed).await.unwrap().as_slice(), secret);

    // And no script can export it.
    let key = store.device_value("device-key").await.unwrap().unwrap();
    let key: web_sys::CryptoKey = key.dyn_into().unwrap();
    assert!(!key.extractable());
    let subtle = web_sys::window().unwrap().crypto().unwrap().subtle();
    let export = subtle.export_key("raw", &key).unwrap();
    assert!(wasm_bindgen_futures::JsFuture::from(export).await.is_err());
}

/// Ports the queue operations below never reach: calling one fails the test.
struct NoNetwork;

impl Transport for NoNetwork {
    async fn send(
        &self,
        request: HttpRequest,
        _: Option<f64>,
    ) -> Result<HttpResponse, TransportError> {
        panic!("unexpected request to {}", request.url)
    }
}

struct NoSources;
struct NoSource;

impl Source for NoSource {
    fn info(&self) -> SourceInfo {
        SourceInfo {
            size: 0,
            last_modified_ms: 0,
        }
    }
    async fn read(&self, _: u64, _: u64) -> Result<Vec<u8>, SourceError> {
        panic!("unexpected read")
    }
}

impl Sources for NoSources {
    type Source = NoSource;
    async fn open(&self, r: &str) -> Result<NoSource, SourceError> {
        panic!("unexpected open of {r}")
    }
    async fn thumbnail(&self, r: &str, _: u32, _: u32) -> Option<Vec<u8>> {
        panic!("unexpected thumbnail of {r}")
    }
}

struct DateClock;

impl Clock for DateClock {
    fn now_ms(&self) -> i64 {
        js_sys::Date::now() as i64
    }
    fn monotonic_ms(&self) -> f64 {
        js_sys::Date::now()
    }
    async fn sleep_ms(&self, _: u64) {}
    // Nothing here sends a part: no progress to pace.
    async fn pace_ms(&self, _: u64) {}
}

async fn engine(name: &str) -> Engine<IdbStore, NoNetwork, NoSources, WebCryptoVault, DateClock> {
    let store = IdbStore::open(name).await.unwrap();
    let vault = WebCryptoVault::open(&store).await.unwrap();
    let env = Env {
        store,
        transport: NoNetwork,
        sources: NoSources,
        vault,
        clock: DateClock,
    };
    let endpoint = Endpoint {
        base_url: "http://127.0.0.1:9".into(),
        token: "t".into(),
    };
    Engine::new(env, endpoint, EngineConfig::default())
}

#[wasm_bindgen_test]
async fn the_queue_persists_in_indexeddb_and_its_dump_holds_no_key() {
    let name = unique("queue");
    let collection_key = Key::generate();
    let first = engine(&name).await;
    first.set_collection_key(7, &collection_key).await.unwrap();
    let items: Vec<NewItem> = (0..300)
        .map(|i| NewItem {
            collection_id: 7,
            source: format!("file-{i}"),
            title: format!("IMG_{i:04}.jpg"),
            file_type: FileType::Image,
            creation_time: 0,
            modification_time: 0,
            thumbnail: None,
        })
        .collect();
    let ids = first.enqueue(items).await.unwrap();
    assert_eq!(ids.len(), 300);
    first.env().store.close();

    let second = engine(&name).await;
    let status = second.status().await.unwrap();
    assert_eq!(status.counters.count(PublicState::Queued), 300);
    let page = second
        .items(Some(PublicState::Queued), ids[99], 50)
        .await
        .unwrap();
    assert_eq!(page.len(), 50);
    assert_eq!(page[0].id, ids[100]);
    assert_eq!(page[0].new.title, "IMG_0100.jpg");
    second.remove(ids[0]).await.unwrap();
    assert_eq!(
        second
            .status()
            .await
            .unwrap()
            .counters
            .count(PublicState::Queued),
        299
    );
    // The key is still usable through the vault...
    let err = second
        .enqueue(vec![NewItem {
            collection_id: 8,
            source: "x".into(),
            title: "x.jpg".into(),
            file_type: FileType::Video,
            creation_time: 0,
            modification_time: 0,
            thumbnail: None,
        }])
        .await
        .unwrap_err();
    assert_eq!(err.code, "MISSING_COLLECTION_KEY");

    // ...but nowhere in the database in clear.
    let mut dump = Vec::new();
    for table in Table::ALL {
        for (k, v) in second
            .env()
            .store
            .scan(table, &[], &[255; 64], 100_000)
            .await
            .unwrap()
        {
            dump.extend(k);
            dump.extend(v);
        }
    }
    assert!(dump.len() > 10_000);
    let raw = collection_key.as_bytes();
    assert!(
        !dump.windows(raw.len()).any(|w| w == raw),
        "raw key in IndexedDB"
    );
    let b64 = ferry_sync::crypto::to_base64(raw);
    assert!(
        !dump.windows(b64.len()).any(|w| w == b64.as_bytes()),
        "base64 key in IndexedDB"
    );
}

#[wasm_bindgen(inline_js = r#"
export function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
// Opens `name` at `version` (creating a store), closes it, resolves with its version.
export function openAt(name, version) {
  return new Promise((resolve, reject) => {
    const request = indexedDB.open(name, version);
    request.onupgradeneeded = () => request.result.createObjectStore(`v${version}`);
    request.onsuccess = () => { const v = request.result.version; request.result.close(); resolve(v); };
    request.onerror = () => reject(request.error);
  });
}
// The version `name` is at, without changing it.
export function versionOf(name) {
  return indexedDB.databases().then((all) => all.find((d) => d.name === name)?.version ?? null);
}
// Upgrades `name` to `version` as a later Ferry would: "upgraded", or
// "blocked" if an open connection held it up for a second.
export function upgradeTo(name, version) {
  return new Promise((resolve, reject) => {
    const request = indexedDB.open(name, version);
    const timer = setTimeout(() => resolve('blocked'), 1000);
    request.onsuccess = () => { clearTimeout(timer); request.result.close(); resolve('upgraded'); };
    request.onerror = () => { clearTimeout(timer); reject(request.error); };
  });
}
// Takes the Web Lock `name`; resolves with the function that releases it.
export function holdLock(name) {
  return new Promise((resolve) => {
    navigator.locks.request(name, () => new Promise((release) => resolve(release)));
  });
}
"#)]
extern "C" {
    fn sleep(ms: u32) -> Promise;
    #[wasm_bindgen(js_name = openAt)]
    fn open_at(name: &str, version: u32) -> Promise;
    #[wasm_bindgen(js_name = versionOf)]
    fn version_of(name: &str) -> Promise;
    #[wasm_bindgen(js_name = upgradeTo)]
    fn upgrade_to(name: &str, version: u32) -> Promise;
    #[wasm_bindgen(js_name = holdLock)]
    fn hold_lock(name: &str) -> Promise;
}

async fn wait(promise: Promise) -> JsValue {
    wasm_bindgen_futures::JsFuture::from(promise).await.unwrap()
}

/// `Ferry.open` on database `name`, as the host calls it.
async fn open_ferry(name: &str) -> Result<Ferry, JsValue> {
    let options = js_sys::Object::new();
    for (field, value) in [
        ("endpoint", "http://127.0.0.1:9"),
        ("token", "t"),
        ("database", name),
    ] {
        Reflect::set(&options, &field.into(), &value.into()).unwrap();
    }
    Ferry::open(options.into()).await.map_err(JsValue::from)
}

fn code_of(err: &JsValue) -> String {
    Reflect::get(err, &"code".into())
        .unwrap()
        .as_string()
        .unwrap_or_default()
}

async fn dump(store: &IdbStore) -> Vec<(Table, Vec<u8>, Vec<u8>)> {
    let mut out = Vec::new();
    for table in Table::ALL {
        for (k, v) in store.scan(table, &[], &[255; 64], 100_000).await.unwrap() {
            out.push((table, k, v));
        }
    }
    out
}

#[wasm_bindgen_test]
async fn ferry_open_refuses_a_database_of_a_later_record_format_and_changes_nothing() {
    let name = unique("newer-format");
    let store = IdbStore::open(&name).await.unwrap();
    let mut batch = Batch::default();
    batch.put(Table::Meta, FORMAT_KEY.to_vec(), vec![RECORD_FORMAT + 1]);
    batch.put(Table::Items, item_key(1), vec![RECORD_FORMAT + 1, 9, 9, 9]);
    store.commit(batch).await.unwrap();
    let before = dump(&store).await;
    store.close();

    let err = open_ferry(&name).await.unwrap_err();
    assert_eq!(code_of(&err), "NEWER_DATABASE");
    let message = Reflect::get(&err, &"message".into())
        .unwrap()
        .as_string()
        .unwrap();
    assert!(message.contains("later Ferry"), "{message}");

    let store = IdbStore::open(&name).await.unwrap();
    assert_eq!(dump(&store).await, before, "records untouched");
    assert!(
        store.device_value("device-key").await.unwrap().is_none(),
        "not even a device key was added"
    );
}

#[wasm_bindgen_test]
async fn ferry_open_refuses_a_database_a_later_ferry_upgraded() {
    let name = unique("newer-schema");
    assert_eq!(wait(open_at(&name, 1000)).await, 1000);
    let err = open_ferry(&name).await.unwrap_err();
    assert_eq!(code_of(&err), "NEWER_DATABASE");
    assert_eq!(wait(version_of(&name)).await, 1000, "left at its version");
}

#[wasm_bindgen_test]
async fn ferry_open_marks_new_and_unmarked_databases_with_the_format() {
    let fresh = unique("fresh");
    open_ferry(&fresh).await.unwrap().close();
    let store = IdbStore::open(&fresh).await.unwrap();
    assert_eq!(
        store.get(Table::Meta, FORMAT_KEY).await.unwrap(),
        Some(vec![RECORD_FORMAT])
    );
    store.close();

    // Records from before the format record existed: format 1, kept as is.
    let unmarked = unique("unmarked");
    let store = IdbStore::open(&unmarked).await.unwrap();
    let counters = Counters {
        by_state: [1, 0, 0, 0, 2, 0, 0],
        bytes_uploaded: 77,
    };
    let mut batch = Batch::default();
    batch.put(Table::Meta, b"counters".to_vec(), encode(&counters));
    store.commit(batch).await.unwrap();
    store.close();
    open_ferry(&unmarked).await.unwrap().close();
    let store = IdbStore::open(&unmarked).await.unwrap();
    assert_eq!(
        store.get(Table::Meta, FORMAT_KEY).await.unwrap(),
        Some(vec![1])
    );
    let stored = store.get(Table::Meta, b"counters").await.unwrap().unwrap();
    assert_eq!(decode::<Counters>(&stored), Ok(counters));
}

/// "Format 0", a format that never shipped: the lease's fields in the
/// other order. Its migration puts them back.
fn lease_v0_to_v1(kind: RecordKind, body: &[u8]) -> Option<Vec<u8>> {
    if kind != RecordKind::Lease {
        return Some(body.to_vec());
    }
    let mut r = Reader::new(body);
    let expires_ms: i64 = r.get()?;
    let holder: u64 = r.get()?;
    let mut w = Writer::default();
    w.put(&holder);
    w.put(&expires_ms);
    r.is_empty().then(|| w.into_bytes())
}

#[wasm_bindgen_test]
async fn a_migration_over_indexeddb_waits_for_the_database_lock() {
    let name = unique("migrate");
    let store = IdbStore::open(&name).await.unwrap();
    let lease = Lease {
        holder: 0xfeed_beef,
        expires_ms: 1_720_000_000_030,
    };
    let mut old = Writer::new(0);
    old.put(&lease.expires_ms);
    old.put(&lease.holder);
    let mut batch = Batch::default();
    batch.put(Table::Meta, FORMAT_KEY.to_vec(), vec![0]);
    batch.put(Table::Meta, LEASE_KEY.to_vec(), old.into_bytes());
    store.commit(batch).await.unwrap();

    // A runner (another tab) holds the database's lock.
    let release: Function = wait(hold_lock(&format!("ferry-sync:{name}")))
        .await
        .dyn_into()
        .unwrap();
    let done = std::rc::Rc::new(std::cell::Cell::new(None));
    let (migrating, finished) = (store.clone(), done.clone());
    let database = name.clone();
    wasm_bindgen_futures::spawn_local(async move {
        let migrations = [Migration {
            from: 0,
            record: lease_v0_to_v1,
        }];
        let opened = open_records_with(&migrating, &database, &migrations, 1).await;
        finished.set(Some(
            opened.map(|o| (o.plan, o.migrated)).map_err(JsValue::from),
        ));
    });
    wait(sleep(300)).await;
    assert!(done.take().is_none(), "the migration waits for the lock");
    assert_eq!(
        store.get(Table::Meta, FORMAT_KEY).await.unwrap(),
        Some(vec![0])
    );

    release.call0(&JsValue::NULL).unwrap();
    let mut result = None;
    for _ in 0..50 {
        wait(sleep(20)).await;
        result = done.take();
        if result.is_some() {
            break;
        }
    }
    let (plan, migrated) = result
        .expect("the migration ran once the lock was free")
        .unwrap();
    assert_eq!(plan, Plan::Migrate { from: 0 });
    assert_eq!(migrated, 1);
    assert_eq!(
        store.get(Table::Meta, FORMAT_KEY).await.unwrap(),
        Some(vec![1])
    );
    let stored = store.get(Table::Meta, LEASE_KEY).await.unwrap().unwrap();
    assert_eq!(decode::<Lease>(&stored), Ok(lease));
}

#[wasm_bindgen_test]
async fn a_connection_closes_for_a_later_ferry_upgrading_the_database() {
    let name = unique("yield");
    let store = IdbStore::open(&name).await.unwrap();
    store.get(Table::Meta, b"counters").await.unwrap();
    assert_eq!(wait(upgrade_to(&name, 50)).await, "upgraded");
    assert!(
        store.get(Table::Meta, b"counters").await.is_err(),
        "the old connection is closed"
    );
}

/// A page asking while the service worker runs: the runners' Web Lock says
/// whether anyone runs, the live record which item. Held (here by this
/// page, as another context would), the item is shown in hand; released,
/// the same record says nothing, and the item is shown waiting.
#[wasm_bindgen_test]
async fn items_are_shown_in_hand_only_while_the_runners_lock_is_held() {
    let name = unique("in-hand");
    let engine = engine(&name).await;
    let store = &engine.env().store;
    assert!(!store.runner_active().await);

    engine
        .set_collection_key(7, &Key::generate())
        .await
        .unwrap();
    let ids = engine
        .enqueue(vec![NewItem {
            collection_id: 7,
            source: "a".into(),
            title: "a.jpg".into(),
            file_type: FileType::Image,
            creation_time: 0,
            modification_time: 0,
            thumbnail: None,
        }])
        .await
        .unwrap();
    // The item part-way and a live record naming it, as a run leaves them.
    let mut item = engine.item(ids[0]).await.unwrap().unwrap();
    let before = item.clone();
    item.step = ferry_sync::queue::Step::Hashing {
        sealed_state: Vec::new(),
        hashed: 1,
    };
    let mut changes = ferry_sync::queue::records::Changes::new();
    changes.write_item(Some(&before), &item);
    let mut batch = changes.finish();
    let live = ferry_sync::scheduler::LiveRun {
        report: ferry_sync::scheduler::RunReport::new(
            &ferry_sync::scheduler::RunPlan::new(ferry_sync::scheduler::Trigger::Sync, None, 0.0),
            1,
            ferry_sync::scheduler::StopReason::Idle,
        ),
        updated_at: 2,
        working: item.id,
    };
    batch.put(Table::Meta, LIVE_RUN_KEY.to_vec(), encode(&live));
    store.commit(batch).await.unwrap();

    let release: Function = wait(hold_lock(&format!("ferry-sync:{name}")))
        .await
        .dyn_into()
        .unwrap();
    assert!(store.runner_active().await);
    assert_eq!(engine.working_on().await.unwrap(), Some(item.id));
    let status = engine.status().await.unwrap().counters;
    assert_eq!(
        (
            status.count(PublicState::Hashing),
            status.count(PublicState::Waiting)
        ),
        (1, 0)
    );

    release.call0(&JsValue::NULL).unwrap();
    wait(sleep(50)).await;
    assert!(!store.runner_active().await);
    assert_eq!(engine.working_on().await.unwrap(), None);
    let status = engine.status().await.unwrap().counters;
    assert_eq!(
        (
            status.count(PublicState::Hashing),
            status.count(PublicState::Waiting)
        ),
        (0, 1)
    );
    let shown = engine
        .items(Some(PublicState::Waiting), 0, 10)
        .await
        .unwrap();
    assert_eq!(shown.len(), 1);
}
