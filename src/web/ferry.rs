//! `Ferry`: the upload queue and engine for JavaScript. Each method parses
//! its arguments, calls the engine, and returns a typed promise; the work
//! itself is all in the engine.

use std::future::Future;
use std::rc::Rc;

use js_sys::{Array, Function, Promise};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::{JsFuture, future_to_promise};

use super::FerryError;
use super::clock::WebClock;
use super::convert::{count, int, key};
use super::http::FetchTransport;
use super::queue_js::{
    ItemJs, ProgressJs, StatusJs, field, number_field, parse_item, policies_field, state_from_name,
    string_field, to_js, whole_field,
};
use super::sources::WebSources;
use super::store::{IdbStore, SOURCES_STORE};
use super::vault::WebCryptoVault;
use crate::engine::{Engine, EngineConfig, EngineEvent, Env, ErrorCode};
use crate::protocol::Endpoint;
use crate::queue::PublicState;
use crate::queue::migrate::{self, MIGRATIONS, Migration, Opened};
use crate::queue::records::RECORD_FORMAT;
use crate::scheduler::Policies;

pub(super) type WebEngine = Engine<IdbStore, FetchTransport, WebSources, WebCryptoVault, WebClock>;

#[wasm_bindgen(typescript_custom_section)]
const FERRY_TYPES: &'static str = r#"
export interface FerryOptions {
  /** Base URL of the Ente-compatible API. */
  endpoint: string;
  /** The session's X-Auth-Token. */
  token: string;
  /** IndexedDB database name (default "ferry"). */
  database?: string;
  /** Resolves `host:` sources to a reader (hybrid shells reading native files). */
  resolveSource?: (ref: string) => Promise<HostReader | null> | HostReader | null;
  /** Encrypted chunks per multipart part, 2 to 5 (default 5). */
  chunksPerPart?: number;
  /** Parts of one file uploaded at once, 1 to 6 (default 3). */
  parallelParts?: number;
  /**
   * Files worked on at once, 1 to 8 (default 4). Parts on the wire, all
   * files together, stay at most the larger of this and `parallelParts`.
   */
  parallelFiles?: number;
  /** Background policies (defaults suit a phone's background windows). */
  policies?: Partial<Policies>;
}
export interface Policies {
  /** Videos wait for a run with at least this budget (default 60000). */
  videosMinBudgetMs: number;
  /** Most files one background run finishes; null for no cap (default 500). */
  maxFilesPerBackgroundRun: number | null;
  /** Upload only when the link is not metered (data saver off, not cellular). */
  wifiOnly: boolean;
}
export interface HostReader {
  size: number;
  lastModified: number;
  read(offset: number, length: number): Promise<Uint8Array>;
}
/** "livePhoto" is refused with BAD_ITEM: enqueue its image and video as two items. */
export type FileTypeName = "image" | "video" | "livePhoto";
/** One of `file` (a Blob or File), `handle` (a FileSystemFileHandle) or `source` ("host:…"). */
export interface EnqueueItem {
  collectionId: number;
  file?: Blob;
  handle?: FileSystemFileHandle;
  source?: string;
  /** Defaults to the File's name. */
  title?: string;
  /** Defaults from the MIME type. */
  fileType?: FileTypeName;
  /** Microseconds since the epoch; default from the file: a photo's Exif date (JPEG, TIFF, HEIC) or a video's creation time (MP4, MOV), else lastModified. */
  creationTime?: number;
  modificationTime?: number;
  /** A JPEG thumbnail (≤ 720 px); a 1×1 placeholder is sent without one. */
  thumbnail?: Blob;
}
export type ItemState = "queued" | "hashing" | "uploading" | "waiting" | "done" | "skipped" | "failed";
export type BlockedReason = "auth" | "payment" | "quota" | "offline" | "permission";
export interface QueueStatus {
  queued: number; hashing: number; uploading: number; waiting: number;
  done: number; skipped: number; failed: number;
  bytesUploaded: number;
  blocked: BlockedReason | null;
}
/**
 * Why an item failed (or, while it waits, why its last attempt did); an API
 * code the server sent with a 4xx passes through as it is.
 */
export type ItemErrorCode =
  | "SOURCE_GONE" | "SOURCE_UNSTABLE" | "SOURCE_CHANGED" | "BAD_SOURCE" | "BAD_SIZE"
  | "FILE_TOO_LARGE" | "TOO_MANY_ATTEMPTS" | "URL_EXPIRED" | "UPLOAD_LOST" | "UPLOAD_REJECTED" | "RETRYING"
  | "NO_ANSWER" | "STORE_UNREACHABLE" | "ETAG_HIDDEN" | "MISSING_COLLECTION_KEY" | (string & {});
export interface QueueItem {
  id: number; state: ItemState; collectionId: number; title: string; fileType: FileTypeName;
  size: number | null; bytesSent: number; fileId: number | null;
  error: { code: ItemErrorCode; message: string } | null;
}
/**
 * A `progress` event, at least every half second while a file's parts are
 * on the wire and after each step: `bytesHashed` of `size` read for its
 * hash, `bytesSent` of `encryptedSize` on their way to the store (recorded
 * parts, plus an estimate of the parts in flight from the link's measured
 * rate). Neither goes back unless the file's upload starts again.
 */
export interface Progress {
  id: number; title: string; size: number; bytesHashed: number; bytesSent: number; encryptedSize: number;
}
export type Trigger = "foreground" | "sync" | "periodicsync" | "push" | "ios-refresh" | "ios-push" | "android-work";
/**
 * `budgetMs` defaults to the trigger's budget (unlimited in the foreground);
 * `signal` ends the run early (reported as "budget"); the step in flight is redone later.
 */
export interface SyncOptions { budgetMs?: number; trigger?: Trigger; signal?: AbortSignal; }
export type StopReason =
  | "budget" | "idle" | "offline" | "auth" | "quota" | "busy" | "error" | "deferred" | "killed";
/** Files a run left because a policy holds them back, by policy. */
export interface DeferredWork {
  /** Videos waiting for a run of at least `videosMinBudgetMs` (the foreground, or a longer wake-up). */
  videos: number;
  /** Files waiting for an unmetered network (`wifiOnly`). */
  wifiOnly: number;
  /** Files left past `maxFilesPerBackgroundRun`; the next run takes them. */
  fileCap: number;
}
/** Times are whole milliseconds; `startedAt` is ms since the epoch. */
export interface RunReport {
  trigger: Trigger; startedAt: number; budgetMs: number | null; elapsedMs: number;
  bytesUploaded: number; filesDone: number;
  stoppedBecause: StopReason;
  /** The precise block behind "auth", "quota" or "offline". */
  blocked: BlockedReason | null;
  /**
   * Ms after this run when another is worth it: 0 with work left, later for
   * retries, 5000 when busy (the other runner may be a closing tab), null
   * when idle or blocked.
   */
  nextRunHint: number | null;
  /** What went wrong, when stoppedBecause is "error". */
  error: string | null;
  /**
   * With "deferred": what waits, and for which policy. Reported by `sync()`;
   * `runs()` keeps the stop reason only.
   */
  deferred: DeferredWork | null;
}
/** What `diagnose()` found: stable codes; the advice's wording may change. */
export type FindingCode =
  | "BLOCKED_AUTH" | "BLOCKED_PAYMENT" | "BLOCKED_QUOTA" | "BLOCKED_PERMISSION" | "STORAGE_FULL" | "OFFLINE"
  | "STORE_UNREACHABLE" | "ETAG_HIDDEN" | "NO_BACKGROUND_RUN" | "ITEMS_FAILED" | "ITEMS_RETRYING"
  | "RUNS_FAILING" | "NO_BACKGROUND_PROGRESS" | "WORK_DEFERRED" | "RUNS_KILLED" | "STORAGE_NOT_PERSISTED"
  | "PERIODIC_SYNC_UNAVAILABLE" | "BACKGROUND_SYNC_UNAVAILABLE";
export interface Finding { code: FindingCode; severity: "info" | "warning" | "error"; advice: string; }
/** What the host knows of its platform; Ferry detects what it can. */
export interface DiagnoseOptions {
  periodicSync?: boolean; backgroundSync?: boolean; storagePersisted?: boolean;
  /** Hours without a background run, with files waiting, before it is reported (default 24). */
  quietHours?: number;
}
export interface ItemsQuery { state?: ItemState; after?: number; limit?: number; }
"#;

#[wasm_bindgen]
#[derive(Debug)]
pub struct Ferry {
    pub(super) engine: Rc<WebEngine>,
    pub(super) listeners: Listeners,
    /// The database name: the Web Lock that keeps one runner per database.
    pub(super) database: String,
    pub(super) policies: Policies,
    pub(super) closed: Rc<std::cell::Cell<bool>>,
}

/// Callbacks registered with `on`, by event name.
#[derive(Debug, Clone, Default)]
pub(super) struct Listeners(Rc<std::cell::RefCell<Vec<(String, Function)>>>);

impl Listeners {
    /// Calls every listener of `event`. A listener that throws is the host's
    /// bug; it must not stop an upload, so its error is contained here, and
    /// reported as any uncaught callback error is (`reportError`: the
    /// global `error` event and the console), not swallowed.
    pub(super) fn emit(&self, event: &str, payload: &JsValue) {
        let listeners: Vec<Function> = self
            .0
            .borrow()
            .iter()
            .filter(|(name, _)| name == event)
            .map(|(_, f)| f.clone())
            .collect();
        for listener in listeners {
            if let Err(error) = listener.call1(&JsValue::NULL, payload)
                && let Some(report) = super::global::function("reportError")
            {
                let _ = report.call1(&JsValue::NULL, &error);
            }
        }
    }
}

impl Ferry {
    /// Runs `work` with the engine and resolves with its result; after
    /// `close()` every call rejects with `CLOSED` instead.
    pub(super) fn promise<F, Fut>(&self, work: F) -> Promise
    where
        F: FnOnce(Rc<WebEngine>) -> Fut + 'static,
        Fut: Future<Output = Result<JsValue, FerryError>> + 'static,
    {
        if self.closed.get() {
            return Promise::reject(&FerryError::closed().into());
        }
        let engine = self.engine.clone();
        // Boxed: `future_to_promise` is generic over the future, and one
        // copy of it per method cost about a seventh of the wasm.
        let future: std::pin::Pin<Box<dyn Future<Output = Result<JsValue, JsValue>>>> =
            Box::pin(async move { work(engine).await.map_err(JsValue::from) });
        future_to_promise(future)
    }
}

#[wasm_bindgen(module = "/src/web/platform.js")]
extern "C" {
    #[wasm_bindgen(js_name = waitLock)]
    fn wait_lock(name: &str) -> Promise;
}

/// Items whose files' copies `enqueue` stores in one transaction.
const SOURCES_PER_TRANSACTION: usize = 16;

/// `STORAGE_FULL` for an `enqueue` whose items store `values` (each
/// item's file and thumbnail), saying how many of them, from the first,
/// the storage left holds. Measured, not estimated (`storage.estimate()`
/// is coarse, and blind to a quota the browser lowered): the items' files
/// are stored one item at a time until one does not fit, then removed.
async fn storage_full(store: &IdbStore, values: &[Vec<(String, JsValue)>]) -> FerryError {
    let mut fits = 0u32;
    let mut keys = Vec::new();
    for item in values {
        if store.put_raw_values(SOURCES_STORE, item).await.is_err() {
            break;
        }
        keys.extend(item.iter().map(|(key, _)| key.clone()));
        fits += 1;
    }
    let _ = store.delete_raw_values(SOURCES_STORE, &keys).await;
    FerryError::storage_full(
        format!(
            "the device's storage for this app is full: {fits} of the {} items would fit; \
             nothing was queued",
            values.len()
        ),
        fits,
    )
}

/// The first item whose stored file the browser cannot read back: a Blob
/// it could not keep stores without complaint and would fail its item as
/// gone at the first read, so `enqueue` refuses the batch instead. A
/// failed look lets the batch through: each item still meets its file's
/// state at its first read.
async fn dropped_copy(store: &IdbStore, per_item: &[Vec<(String, JsValue)>]) -> Option<usize> {
    let keys: Array = per_item
        .iter()
        .map(|values| {
            values
                .iter()
                .map(|(key, _)| JsValue::from_str(key))
                .collect::<Array>()
        })
        .collect();
    store.first_unreadable(SOURCES_STORE, &keys).await
}

/// The Web Lock that one runner per database takes (`sync`), and a
/// migration too.
pub(super) fn lock_name(database: &str) -> String {
    format!("ferry-sync:{database}")
}

/// Brings the database's records to this version's format, or refuses a
/// database a later Ferry wrote (`NEWER_DATABASE`, nothing written); see
/// `queue::migrate`. Runs before the vault, which would add a device key.
pub async fn open_records(store: &IdbStore, database: &str) -> Result<Opened, FerryError> {
    open_records_with(store, database, &MIGRATIONS, RECORD_FORMAT).await
}

/// [`open_records`] with the given migrations and current format. Unless
/// the database is already marked current, this holds the database's lock:
/// no run, in this tab, another or the service worker, writes while records
/// are rewritten, and a second opener waits, then finds the work done.
#[doc(hidden)]
pub async fn open_records_with<const N: usize>(
    store: &IdbStore,
    database: &str,
    migrations: &[Migration; N],
    current: u8,
) -> Result<Opened, FerryError> {
    // Only a database in the current format (or a later one, refused)
    // opens without the lock; a new one waits for no one.
    if migrate::stored_format(store)
        .await?
        .is_some_and(|format| format >= current)
    {
        return Ok(migrate::open_with(store, migrations, current).await?);
    }
    let release = JsFuture::from(wait_lock(&lock_name(database))).await?;
    let opened = migrate::open_with(store, migrations, current).await;
    if let Ok(release) = release.dyn_into::<Function>() {
        let _ = release.call0(&JsValue::NULL);
    }
    Ok(opened?)
}

fn whole_id(id: f64) -> Result<u64, FerryError> {
    if id >= 1.0 && id.fract() == 0.0 && id <= 2f64.powi(53) {
        Ok(count(id))
    } else {
        Err(FerryError::bad_input(
            "an item id is a positive whole number",
        ))
    }
}

#[wasm_bindgen]
impl Ferry {
    /// Opens (creating or upgrading) the queue's database.
    pub async fn open(
        #[wasm_bindgen(unchecked_param_type = "FerryOptions")] options: JsValue,
    ) -> Result<Ferry, FerryError> {
        let endpoint = string_field(&options, "endpoint")?
            .ok_or_else(|| FerryError::bad_input("`endpoint` is required"))?;
        let token = string_field(&options, "token")?
            .ok_or_else(|| FerryError::bad_input("`token` is required"))?;
        let database = string_field(&options, "database")?.unwrap_or_else(|| "ferry".into());
        let resolver = field(&options, "resolveSource");
        let resolver = if resolver.is_undefined() {
            None
        } else {
            Some(
                resolver
                    .dyn_into::<Function>()
                    .map_err(|_| FerryError::bad_input("`resolveSource` must be a function"))?,
            )
        };
        let chunks_per_part = whole_field(&options, "chunksPerPart", 2, 5, 5)?;
        let parallel_parts = whole_field(&options, "parallelParts", 1, 6, 3)?;
        let parallel_files = whole_field(&options, "parallelFiles", 1, 8, 4)?;
        let policies = policies_field(&options)?;
        let store = IdbStore::open(&database).await?;
        if let Err(err) = open_records(&store, &database).await {
            store.close();
            return Err(err);
        }
        let vault = WebCryptoVault::open(&store).await?;
        let env = Env {
            sources: WebSources {
                store: store.clone(),
                resolver,
            },
            store,
            transport: FetchTransport::default(),
            vault,
            clock: WebClock,
        };
        let endpoint = Endpoint {
            base_url: endpoint,
            token,
        };
        let config = EngineConfig {
            chunks_per_part,
            parallel_parts,
            parallel_files,
        };
        let env_store = env.store.clone();
        let engine = Engine::new(env, endpoint, config);
        let listeners = Listeners::default();
        let emit = listeners.clone();
        let sources_store = env_store.clone();
        engine.set_observer(move |event| match event {
            EngineEvent::Item(item) => {
                if matches!(
                    item.public_state(),
                    PublicState::Done | PublicState::Skipped
                ) {
                    release_sources(&sources_store, item);
                }
                if let Ok(payload) = to_js(&ItemJs::from(*item)) {
                    emit.emit("item", &payload);
                }
            }
            EngineEvent::Progress {
                item,
                bytes_hashed,
                bytes_sent,
                encrypted_size,
            } => {
                let progress = ProgressJs {
                    id: item.id,
                    title: &item.new.title,
                    size: item.size.unwrap_or(0),
                    bytes_hashed: *bytes_hashed,
                    bytes_sent: *bytes_sent,
                    encrypted_size: *encrypted_size,
                };
                if let Ok(payload) = to_js(&progress) {
                    emit.emit("progress", &payload);
                }
            }
        });
        Ok(Self {
            engine: Rc::new(engine),
            listeners,
            database,
            policies,
            closed: Rc::new(std::cell::Cell::new(false)),
        })
    }

    /// Hands Ferry a collection's key; it is kept only sealed by the device key.
    #[wasm_bindgen(js_name = setCollectionKey, unchecked_return_type = "Promise<void>")]
    pub fn set_collection_key(
        &self,
        collection_id: f64,
        #[wasm_bindgen(unchecked_param_type = "Uint8Array")] collection_key: JsValue,
    ) -> Promise {
        self.promise(move |engine| async move {
            let collection_key = key(&collection_key, "key")?;
            engine
                .set_collection_key(int(collection_id), &collection_key)
                .await?;
            Ok(JsValue::UNDEFINED)
        })
    }

    /// Queues files in one transaction; resolves with their ids.
    #[wasm_bindgen(unchecked_return_type = "Promise<number[]>")]
    pub fn enqueue(
        &self,
        #[wasm_bindgen(unchecked_param_type = "EnqueueItem[]")] items: JsValue,
    ) -> Promise {
        self.promise(move |engine| async move {
            let items: Array = items
                .dyn_into()
                .map_err(|_| FerryError::bad_input("enqueue takes an array of items"))?;
            let mut new_items = Vec::new();
            let mut per_item = Vec::new();
            for (index, item) in items.iter().enumerate() {
                let (new, values) = parse_item(&item).map_err(|e| e.in_item(index))?;
                per_item.push(values);
                new_items.push(new);
            }
            let stored: Vec<(String, JsValue)> = per_item.iter().flatten().cloned().collect();
            // The files' copies go in a few items at a time: Chromium
            // refuses one transaction holding a whole album's Blobs (1.5 GB)
            // with QuotaExceededError though the disk has room. The items
            // themselves are still queued in one transaction, after every
            // copy is stored, and the copies go if they are not.
            let mut copied = Ok(());
            for batch in per_item.chunks(SOURCES_PER_TRANSACTION) {
                let values: Vec<(String, JsValue)> = batch.iter().flatten().cloned().collect();
                copied = engine
                    .env()
                    .store
                    .put_raw_values(SOURCES_STORE, &values)
                    .await;
                if copied.is_err() {
                    break;
                }
            }
            let store = &engine.env().store;
            let dropped = if copied.is_ok() && !stored.is_empty() {
                dropped_copy(store, &per_item).await
            } else {
                None
            };
            let queued = match (copied, dropped) {
                (Ok(()), None) => engine.enqueue(new_items).await.map_err(FerryError::from),
                (Ok(()), Some(index)) => Err(FerryError::storage_full(
                    format!(
                        "item {index}: the browser dropped its copy of the file \
                         (NotReadableError; in a private window, past a few hundred MiB \
                         of files); nothing was queued"
                    ),
                    u32::try_from(index).unwrap_or(u32::MAX),
                )),
                (Err(err), _) => Err(err.into()),
            };
            let ids = match queued {
                Ok(ids) => ids,
                Err(err) => {
                    // All or nothing: the copies of a batch that was not
                    // queued must not stay behind, taking the space. One
                    // place deletes them for every failure: each `.await`
                    // of it was another copy in this state machine.
                    let keys: Vec<String> = stored.iter().map(|(key, _)| key.clone()).collect();
                    let _ = store.delete_raw_values(SOURCES_STORE, &keys).await;
                    // A dropped copy is not a full disk: nothing to measure.
                    return Err(
                        if dropped.is_none() && err.code() == ErrorCode::StorageFull.name() {
                            storage_full(store, &per_item).await
                        } else {
                            err
                        },
                    );
                }
            };
            Ok(ids
                .iter()
                .map(|&id| JsValue::from_f64(id as f64))
                .collect::<Array>()
                .into())
        })
    }

    /// Queue counts, bytes sent and the blocked reason: one read.
    #[wasm_bindgen(unchecked_return_type = "Promise<QueueStatus>")]
    pub fn status(&self) -> Promise {
        self.promise(|engine| async move {
            let status = engine.status().await?;
            let c = &status.counters;
            to_js(&StatusJs {
                queued: c.count(PublicState::Queued),
                hashing: c.count(PublicState::Hashing),
                uploading: c.count(PublicState::Uploading),
                waiting: c.count(PublicState::Waiting),
                done: c.count(PublicState::Done),
                skipped: c.count(PublicState::Skipped),
                failed: c.count(PublicState::Failed),
                bytes_uploaded: c.bytes_uploaded,
                blocked: status.blocked.map(crate::protocol::BlockedReason::name),
            })
        })
    }

    /// Items in id order after `after`, optionally only in `state`.
    #[wasm_bindgen(unchecked_return_type = "Promise<QueueItem[]>")]
    pub fn items(
        &self,
        #[wasm_bindgen(unchecked_param_type = "ItemsQuery")] query: JsValue,
    ) -> Promise {
        self.promise(move |engine| async move {
            let state = match string_field(&query, "state")?.as_deref() {
                None => None,
                Some(name) => Some(state_from_name(name)?),
            };
            let after = count(number_field(&query, "after")?.unwrap_or(0.0));
            let limit = usize::try_from(count(
                number_field(&query, "limit")?
                    .unwrap_or(100.0)
                    .clamp(1.0, 10_000.0),
            ))
            .unwrap_or(100);
            let working = engine.working_on().await?;
            let items = engine.items_shown(state, after, limit, working).await?;
            let shown = |item: &crate::queue::Item| {
                ItemJs::shown(item, WebEngine::shown_state(item, working))
            };
            to_js(&items.iter().map(shown).collect::<Vec<_>>())
        })
    }

    /// Puts a failed item back in the queue.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn retry(&self, id: f64) -> Promise {
        self.promise(move |engine| async move {
            engine.retry(whole_id(id)?).await?;
            Ok(JsValue::UNDEFINED)
        })
    }

    /// Removes an item from the queue (not from the server).
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn remove(&self, id: f64) -> Promise {
        self.promise(move |engine| async move {
            let id = whole_id(id)?;
            let item = engine.item(id).await?;
            engine.remove(id).await?;
            if let Some(item) = item {
                release_sources(&engine.env().store, &item);
            }
            Ok(JsValue::UNDEFINED)
        })
    }

    /// Lifts a block once its cause is fixed (a new token, more space).
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn resume(&self) -> Promise {
        self.promise(|engine| async move {
            engine.resume().await?;
            Ok(JsValue::UNDEFINED)
        })
    }

    /// A new session token (e.g. after the queue blocked with `auth`).
    #[wasm_bindgen(js_name = setToken)]
    pub fn set_token(&self, token: String) {
        self.engine.set_token(token);
    }

    /// Calls `callback` on every `item` change (with the item), `progress`
    /// (a `Progress`) and finished `run` (with its report).
    pub fn on(
        &self,
        #[wasm_bindgen(unchecked_param_type = "\"item\" | \"progress\" | \"run\"")] event: String,
        callback: Function,
    ) -> Result<(), FerryError> {
        if !matches!(event.as_str(), "item" | "progress" | "run") {
            return Err(FerryError::bad_input(format!(
                "unknown event \"{event}\": use \"item\", \"progress\" or \"run\""
            )));
        }
        self.listeners.0.borrow_mut().push((event, callback));
        Ok(())
    }

    /// Removes a callback registered with `on`.
    pub fn off(&self, event: String, callback: Function) {
        self.listeners
            .0
            .borrow_mut()
            .retain(|(name, f)| !(name == &event && f == &callback));
    }

    /// Closes the database connection; later calls reject with `CLOSED`.
    /// A run in progress stops at once: its requests are aborted (their
    /// steps are redone later) and its `sync()` settles.
    pub fn close(&self) {
        self.closed.set(true);
        super::runs::stop_run(&self.engine);
        self.engine.env().store.close();
    }
}

/// Deletes the copies of an item's file and thumbnail that `enqueue` stored,
/// once the item no longer needs them (uploaded, a duplicate, or removed):
/// otherwise a backed-up library would stay duplicated in browser storage.
/// Failed items keep theirs, for `retry`. Best effort: a copy left behind by
/// a crash here costs space, never correctness.
fn release_sources(store: &IdbStore, item: &crate::queue::Item) {
    let keys: Vec<String> = std::iter::once(&item.new.source)
        .chain(item.new.thumbnail.as_ref())
        .filter(|r| r.starts_with(super::sources::STORED_PREFIX))
        .cloned()
        .collect();
    if !keys.is_empty() {
        store.delete_raw_values_soon(SOURCES_STORE, &keys);
    }
}
