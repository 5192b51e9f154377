//! Native ports for the engine's tests: an in-memory store and sources, a
//! secretbox vault, a clock whose sleeps advance virtual time, and a real
//! HTTP transport (reqwest) to the in-process reference server.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::cast_possible_truncation
)]

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;

use ferry_sync::crypto::{Key, secretbox};
use ferry_sync::engine::ports::{
    Batch, Clock, Source, SourceError, SourceInfo, Sources, Store, StoreError, Table, Transport,
    Vault, VaultError,
};
use ferry_sync::protocol::{HttpRequest, HttpResponse, Method, TransportError};
use zeroize::Zeroizing;

/// A shared in-memory database: clones see the same data, as two page
/// loads see the same IndexedDB. Like IndexedDB, every call lets other
/// tasks run before it answers, so steps of several items interleave at
/// each database call as they do in a browser.
type Tables = BTreeMap<(Table, Vec<u8>), Vec<u8>>;

/// The second field counts the scans of each table: what the engine reads
/// to find its next unit of work is IndexedDB transactions in a browser.
#[derive(Clone, Default)]
pub struct MemStore(
    pub Rc<RefCell<Tables>>,
    pub Rc<RefCell<BTreeMap<Table, u64>>>,
);

impl Store for MemStore {
    async fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        tokio::task::yield_now().await;
        Ok(self.0.borrow().get(&(table, key.to_vec())).cloned())
    }

    async fn scan(
        &self,
        table: Table,
        start: &[u8],
        end: &[u8],
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>, StoreError> {
        tokio::task::yield_now().await;
        *self.1.borrow_mut().entry(table).or_default() += 1;
        Ok(self
            .0
            .borrow()
            .range((table, start.to_vec())..(table, end.to_vec()))
            .take(limit)
            .map(|((_, k), v)| (k.clone(), v.clone()))
            .collect())
    }

    async fn commit(&self, batch: Batch) -> Result<(), StoreError> {
        tokio::task::yield_now().await;
        apply(&mut self.0.borrow_mut(), batch)
    }

    async fn swap(
        &self,
        table: Table,
        key: &[u8],
        expected: Option<&[u8]>,
        new: Option<Vec<u8>>,
    ) -> Result<bool, StoreError> {
        let mut map = self.0.borrow_mut();
        let entry = (table, key.to_vec());
        if map.get(&entry).map(Vec::as_slice) != expected {
            return Ok(false);
        }
        match new {
            Some(value) => map.insert(entry, value),
            None => map.remove(&entry),
        };
        Ok(true)
    }
}

impl MemStore {
    /// Scans of `table` so far.
    pub fn scans(&self, table: Table) -> u64 {
        self.1.borrow().get(&table).copied().unwrap_or(0)
    }

    /// Every key and value, as a database dump would show them.
    pub fn dump(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for ((_, k), v) in self.0.borrow().iter() {
            out.extend_from_slice(k);
            out.extend_from_slice(v);
        }
        out
    }
}

/// A store that keeps its commit history, so a test can take it back to
/// any earlier prefix: what a power cut does to a database that commits
/// with relaxed durability. Clones share the data and the history.
#[derive(Clone, Default)]
pub struct JournaledStore {
    current: MemStore,
    history: Rc<RefCell<Vec<Batch>>>,
}

impl JournaledStore {
    /// Commits so far.
    pub fn commits(&self) -> usize {
        self.history.borrow().len()
    }

    /// Forgets every commit after the first `commits`.
    pub fn roll_back_to(&self, commits: usize) {
        let mut history = self.history.borrow_mut();
        history.truncate(commits);
        let mut tables = self.current.0.borrow_mut();
        tables.clear();
        for batch in history.iter() {
            // Each held when it first committed, over the same records.
            apply(&mut tables, batch.clone()).expect("a replayed batch applies");
        }
    }
}

fn apply(tables: &mut Tables, batch: Batch) -> Result<(), StoreError> {
    for (table, key, value) in &batch.requires {
        match (tables.get(&(*table, key.clone())), value) {
            (Some(stored), Some(value)) if stored == value => {}
            (Some(_), None) => {}
            _ => return Err(StoreError::changed()),
        }
    }
    for (table, key, value) in batch.ops {
        match value {
            Some(value) => tables.insert((table, key), value),
            None => tables.remove(&(table, key)),
        };
    }
    for merge in batch.merges {
        let entry = (merge.table, merge.key.clone());
        let value = merge.value(tables.get(&entry).map(Vec::as_slice));
        tables.insert(entry, value);
    }
    Ok(())
}

impl Store for JournaledStore {
    async fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.current.get(table, key).await
    }

    async fn scan(
        &self,
        table: Table,
        start: &[u8],
        end: &[u8],
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>, StoreError> {
        self.current.scan(table, start, end, limit).await
    }

    async fn commit(&self, batch: Batch) -> Result<(), StoreError> {
        self.current.commit(batch.clone()).await?;
        self.history.borrow_mut().push(batch);
        Ok(())
    }

    async fn swap(
        &self,
        table: Table,
        key: &[u8],
        expected: Option<&[u8]>,
        new: Option<Vec<u8>>,
    ) -> Result<bool, StoreError> {
        let swapped = self.current.swap(table, key, expected, new.clone()).await?;
        if swapped {
            let mut batch = Batch::default();
            batch.ops.push((table, key.to_vec(), new));
            self.history.borrow_mut().push(batch);
        }
        Ok(swapped)
    }
}

/// Files by reference; a test can change or remove one between steps.
#[derive(Clone, Default)]
pub struct MemSources(
    pub Rc<RefCell<HashMap<String, MemFile>>>,
    /// Bytes read from every file so far.
    pub Rc<Cell<u64>>,
);

#[derive(Clone)]
pub enum MemFile {
    Bytes {
        data: Rc<Vec<u8>>,
        last_modified_ms: i64,
    },
    /// Claims `size` bytes but returns fewer.
    ShortReads { size: u64 },
    /// Reads like `Bytes`, but its modification time moves on at every look:
    /// a file still being written, or a browser's stale reference to one.
    Unstable {
        data: Rc<Vec<u8>>,
        looks: Rc<Cell<i64>>,
    },
    /// Reads like `Bytes`, each after `delay_ms` of real time: a file on a
    /// slow card or a network share.
    Slow { data: Rc<Vec<u8>>, delay_ms: u64 },
}

impl MemSources {
    pub fn add(&self, name: &str, data: Vec<u8>) {
        self.0.borrow_mut().insert(
            name.to_owned(),
            MemFile::Bytes {
                data: Rc::new(data),
                last_modified_ms: 1_700_000_000_000,
            },
        );
    }

    pub fn add_slow(&self, name: &str, data: Vec<u8>, delay_ms: u64) {
        self.0.borrow_mut().insert(
            name.to_owned(),
            MemFile::Slow {
                data: Rc::new(data),
                delay_ms,
            },
        );
    }

    pub fn replace(&self, name: &str, data: Vec<u8>, last_modified_ms: i64) {
        self.0.borrow_mut().insert(
            name.to_owned(),
            MemFile::Bytes {
                data: Rc::new(data),
                last_modified_ms,
            },
        );
    }
}

pub struct MemSource(MemFile, Rc<Cell<u64>>);

impl Source for MemSource {
    fn info(&self) -> SourceInfo {
        match &self.0 {
            MemFile::Bytes {
                data,
                last_modified_ms,
            } => SourceInfo {
                size: data.len() as u64,
                last_modified_ms: *last_modified_ms,
            },
            MemFile::ShortReads { size } => SourceInfo {
                size: *size,
                last_modified_ms: 0,
            },
            MemFile::Slow { data, .. } => SourceInfo {
                size: data.len() as u64,
                last_modified_ms: 1_700_000_000_000,
            },
            MemFile::Unstable { data, looks } => {
                looks.set(looks.get() + 1);
                SourceInfo {
                    size: data.len() as u64,
                    last_modified_ms: looks.get(),
                }
            }
        }
    }

    async fn read(&self, offset: u64, len: u64) -> Result<Vec<u8>, SourceError> {
        self.1.set(self.1.get() + len);
        if let MemFile::Slow { delay_ms, .. } = &self.0 {
            tokio::time::sleep(std::time::Duration::from_millis(*delay_ms)).await;
        }
        match &self.0 {
            MemFile::Bytes { data, .. }
            | MemFile::Unstable { data, .. }
            | MemFile::Slow { data, .. } => data
                .get(offset as usize..(offset + len) as usize)
                .map(<[u8]>::to_vec)
                .ok_or_else(|| SourceError::Unreadable("read past the end".into())),
            MemFile::ShortReads { .. } => {
                Err(SourceError::Unreadable(format!("got 0 of {len} bytes")))
            }
        }
    }
}

impl Sources for MemSources {
    type Source = MemSource;

    async fn open(&self, source_ref: &str) -> Result<MemSource, SourceError> {
        self.0
            .borrow()
            .get(source_ref)
            .cloned()
            .map(|file| MemSource(file, self.1.clone()))
            .ok_or_else(|| SourceError::Gone(source_ref.to_owned()))
    }

    /// Natively nothing decodes images: the placeholder goes.
    async fn thumbnail(&self, _: &str, _: u32, _: u32) -> Option<Vec<u8>> {
        None
    }
}

/// Seals with a device key held outside the store, like the web vault.
pub struct TestVault(pub Key);

impl Vault for TestVault {
    async fn seal(&self, plaintext: &[u8]) -> Result<Vec<u8>, VaultError> {
        let (mut sealed, nonce) = secretbox::seal(&self.0, plaintext);
        sealed.extend_from_slice(&nonce);
        Ok(sealed)
    }

    async fn open(&self, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, VaultError> {
        let (body, nonce) = sealed.split_at(sealed.len().saturating_sub(24));
        secretbox::open(&self.0, nonce, body).map_err(|e| VaultError(e.to_string()))
    }
}

/// Real wall time plus a virtual offset: sleeps return at once and move
/// time forward, so backoff is exercised without waiting for it.
#[derive(Default, Clone)]
pub struct FastClock {
    /// Virtual time added to real time; shared by clones (a modelled link
    /// advances the clock its engine reads).
    pub skipped_ms: Rc<Cell<u64>>,
}

impl Clock for FastClock {
    fn now_ms(&self) -> i64 {
        let real = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64;
        real + self.skipped_ms.get() as i64
    }

    fn monotonic_ms(&self) -> f64 {
        thread_local!(static START: std::time::Instant = std::time::Instant::now());
        START.with(|s| s.elapsed().as_secs_f64() * 1000.0) + self.skipped_ms.get() as f64
    }

    async fn sleep_ms(&self, ms: u64) {
        self.skipped_ms.set(self.skipped_ms.get() + ms);
    }

    async fn pace_ms(&self, ms: u64) {
        tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
    }
}

/// What the test wants to happen to a request before it is sent.
pub type Hook = Box<dyn Fn(&HttpRequest)>;

/// reqwest to the reference server, with a hook that sees each request.
#[derive(Default)]
pub struct HttpTransport {
    pub client: reqwest::Client,
    pub hook: RefCell<Option<Hook>>,
    pub sent: Cell<u64>,
    /// Drops `ETag` from every answer, as a browser does when the store's
    /// CORS rule does not expose it.
    pub hide_etag: Cell<bool>,
    /// Requests sent and not yet answered, and the most there ever were.
    pub in_flight: Cell<u32>,
    pub most_in_flight: Cell<u32>,
    /// The same for `PUT`s (file parts and thumbnails).
    pub puts_in_flight: Cell<u32>,
    pub most_puts_in_flight: Cell<u32>,
}

/// Counts a request in flight until dropped, whichever way it ends.
struct InFlight<'a>(&'a Cell<u32>);

impl<'a> InFlight<'a> {
    fn enter(now: &'a Cell<u32>, most: &Cell<u32>) -> Self {
        now.set(now.get() + 1);
        most.set(most.get().max(now.get()));
        Self(now)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.set(self.0.get() - 1);
    }
}

impl Transport for HttpTransport {
    async fn send(
        &self,
        request: HttpRequest,
        _deadline_ms: Option<f64>,
    ) -> Result<HttpResponse, TransportError> {
        if let Some(hook) = self.hook.borrow().as_ref() {
            hook(&request);
        }
        self.sent.set(self.sent.get() + 1);
        let _request = InFlight::enter(&self.in_flight, &self.most_in_flight);
        let _put = (request.method == Method::Put)
            .then(|| InFlight::enter(&self.puts_in_flight, &self.most_puts_in_flight));
        let method = match request.method {
            Method::Get => reqwest::Method::GET,
            Method::Put => reqwest::Method::PUT,
            Method::Post => reqwest::Method::POST,
        };
        let mut builder = self.client.request(method, &request.url);
        for (name, value) in &request.headers {
            builder = builder.header(name, value);
        }
        let response = builder.body(request.body).send().await.map_err(|e| {
            if e.is_connect() {
                TransportError::Offline(e.to_string())
            } else {
                TransportError::Network(e.to_string())
            }
        })?;
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .filter(|(n, _)| !(self.hide_etag.get() && n.as_str() == "etag"))
            .map(|(n, v)| (n.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
            .collect();
        let body = response
            .bytes()
            .await
            .map_err(|e| TransportError::Network(e.to_string()))?
            .to_vec();
        Ok(HttpResponse {
            status,
            headers,
            body,
        })
    }
}

/// Creates an album on `server` (its key and name are opaque bytes to the
/// server) and returns its id.
pub async fn create_album(server: &ferry_server::Running) -> i64 {
    use ferry_sync::crypto::to_base64;
    let created: serde_json::Value = reqwest::Client::new()
        .post(format!("{}/collections", server.api_url()))
        .header("X-Auth-Token", &server.token)
        .json(&serde_json::json!({
            "encryptedKey": to_base64(&[1; 48]), "keyDecryptionNonce": to_base64(&[2; 24]),
            "encryptedName": to_base64(b"album"), "nameDecryptionNonce": to_base64(&[3; 24]), "type": "album",
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    created["collection"]["id"].as_i64().unwrap()
}
