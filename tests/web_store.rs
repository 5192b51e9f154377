//! The web ports over real IndexedDB and WebCrypto in headless Chromium:
//! ordering, atomic batches and persistence of the store; the vault's
//! non-extractable device key; and the engine's queue over both, whose
//! database dump holds no key in clear.
#![cfg(target_arch = "wasm32")]
#![allow(clippy::unwrap_used, clippy::cast_possible_truncation)]

use ferry_sync::crypto::{Key, random_bytes};
use ferry_sync::engine::ports::{
    Batch, Clock, Source, SourceError, SourceInfo, Sources, Store, Table, Transport, Vault,
};
use ferry_sync::engine::{Engine, EngineConfig, Env};
use ferry_sync::protocol::{Endpoint, HttpRequest, HttpResponse, TransportError};
use ferry_sync::queue::{FileType, NewItem, PublicState};
use ferry_sync::web::store::IdbStore;
use ferry_sync::web::vault::WebCryptoVault;
use wasm_bindgen::JsCast;
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
    store.commit(batch).await.unwrap();

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
            .scan(Table::Runnable, &[], &[255], 100)
            .await
            .unwrap()
            .len(),
        4
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
