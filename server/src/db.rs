//! Records in SQLite. rusqlite is synchronous, so every access runs on the
//! blocking pool; each write is one transaction.

use std::path::Path;
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use crate::error::{ApiError, ApiResult};

/// Forward-only schema migrations; `PRAGMA user_version` counts those applied.
const MIGRATIONS: &[&str] = &[
    // 1: users, tokens, collections, objects handed out, files.
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
     CREATE TABLE users (id INTEGER PRIMARY KEY, created_at INTEGER NOT NULL);
     CREATE TABLE tokens (token TEXT PRIMARY KEY, user_id INTEGER NOT NULL REFERENCES users(id));
     CREATE TABLE collections (
        id INTEGER PRIMARY KEY,
        owner_id INTEGER NOT NULL REFERENCES users(id),
        encrypted_key TEXT NOT NULL,
        key_decryption_nonce TEXT NOT NULL,
        encrypted_name TEXT NOT NULL,
        name_decryption_nonce TEXT NOT NULL,
        type TEXT NOT NULL,
        updation_time INTEGER NOT NULL);
     CREATE TABLE objects (
        object_key TEXT PRIMARY KEY,
        owner_id INTEGER NOT NULL REFERENCES users(id),
        upload_id TEXT,
        created_at INTEGER NOT NULL);
     CREATE TABLE files (
        id INTEGER PRIMARY KEY,
        owner_id INTEGER NOT NULL REFERENCES users(id),
        collection_id INTEGER NOT NULL REFERENCES collections(id),
        encrypted_key TEXT NOT NULL,
        key_decryption_nonce TEXT NOT NULL,
        file_object_key TEXT NOT NULL UNIQUE REFERENCES objects(object_key),
        file_header TEXT NOT NULL,
        file_size INTEGER NOT NULL,
        thumb_object_key TEXT NOT NULL UNIQUE REFERENCES objects(object_key),
        thumb_header TEXT NOT NULL,
        thumb_size INTEGER NOT NULL,
        metadata_data TEXT NOT NULL,
        metadata_header TEXT NOT NULL,
        updation_time INTEGER NOT NULL);
     CREATE INDEX files_by_collection ON files (collection_id, updation_time);
     CREATE INDEX collections_by_owner ON collections (owner_id, updation_time);",
    // 2: a file removed from its collection (museum's trash) stays in the
    // diff as a removal marker, as museum's `collection_files.is_deleted`.
    "ALTER TABLE files ADD COLUMN is_deleted INTEGER NOT NULL DEFAULT 0;",
    // 3: an object key handed out but abandoned (never registered, idle
    // for longer than `--stale-upload-secs`) is retired: its URLs are
    // refused from then on, and it cannot be registered. `purged` once its
    // object and multipart upload are gone from the store.
    "ALTER TABLE objects ADD COLUMN retired_at INTEGER;
     ALTER TABLE objects ADD COLUMN purged INTEGER NOT NULL DEFAULT 0;",
];

#[derive(Debug, Clone)]
pub struct Db {
    conn: Arc<Mutex<Connection>>,
}

impl Db {
    pub fn open(path: &Path) -> rusqlite::Result<Self> {
        let mut conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        migrate(&mut conn)?;
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    /// Runs `f` inside one IMMEDIATE transaction on the blocking pool,
    /// committing only if it returns `Ok`.
    pub async fn write<T, F>(&self, f: F) -> ApiResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&rusqlite::Transaction<'_>) -> ApiResult<T> + Send + 'static,
    {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = conn
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(ApiError::internal)?;
            let value = f(&tx)?;
            tx.commit().map_err(ApiError::internal)?;
            Ok(value)
        })
        .await
        .map_err(ApiError::internal)?
    }

    /// Runs a read on the blocking pool.
    pub async fn read<T, F>(&self, f: F) -> ApiResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> ApiResult<T> + Send + 'static,
    {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            let conn = conn
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            f(&conn)
        })
        .await
        .map_err(ApiError::internal)?
    }

    /// A value kept across restarts (credentials, the dev token), created
    /// by `make` the first time.
    pub fn meta_or_insert(
        &self,
        key: &str,
        make: impl FnOnce() -> String,
    ) -> rusqlite::Result<String> {
        let conn = self
            .conn
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(value) = conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()?
        {
            return Ok(value);
        }
        let value = make();
        conn.execute(
            "INSERT INTO meta (key, value) VALUES (?1, ?2)",
            params![key, value],
        )?;
        Ok(value)
    }

    /// The user a token belongs to, creating both when the token is new.
    pub fn ensure_token(&self, token: &str) -> rusqlite::Result<i64> {
        let mut conn = self
            .conn
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let tx = conn.transaction()?;
        let existing: Option<i64> = tx
            .query_row(
                "SELECT user_id FROM tokens WHERE token = ?1",
                [token],
                |r| r.get(0),
            )
            .optional()?;
        let user = match existing {
            Some(user) => user,
            None => {
                tx.execute("INSERT INTO users (created_at) VALUES (?1)", [now_micros()])?;
                let user = tx.last_insert_rowid();
                tx.execute(
                    "INSERT INTO tokens (token, user_id) VALUES (?1, ?2)",
                    params![token, user],
                )?;
                user
            }
        };
        tx.commit()?;
        Ok(user)
    }

    pub fn tokens(&self) -> rusqlite::Result<Vec<(String, i64)>> {
        let conn = self
            .conn
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut stmt = conn.prepare("SELECT token, user_id FROM tokens")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        rows.collect()
    }
}

fn migrate(conn: &mut Connection) -> rusqlite::Result<()> {
    let applied: usize = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(applied) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", i + 1)?;
        tx.commit()?;
        tracing::info!(version = i + 1, "applied schema migration");
    }
    Ok(())
}

pub fn now_micros() -> i64 {
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(since_epoch.as_micros()).unwrap_or(i64::MAX)
}

/// A strictly increasing `updationTime` in microseconds, so that paging by
/// `sinceTime` never skips or repeats a record written in the same
/// microsecond as another.
pub fn next_updation_time(tx: &rusqlite::Transaction<'_>) -> ApiResult<i64> {
    let last: Option<String> = tx
        .query_row(
            "SELECT value FROM meta WHERE key = 'last_updation_time'",
            [],
            |r| r.get(0),
        )
        .optional()
        .map_err(ApiError::internal)?;
    let last = last.and_then(|v| v.parse::<i64>().ok()).unwrap_or(0);
    let next = now_micros().max(last + 1);
    tx.execute(
        "INSERT INTO meta (key, value) VALUES ('last_updation_time', ?1)
         ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        [next.to_string()],
    )
    .map_err(ApiError::internal)?;
    Ok(next)
}

/// A random URL-safe token of `bytes` random bytes.
pub fn random_token(bytes: usize) -> String {
    use base64::Engine;
    let mut raw = vec![0u8; bytes];
    #[allow(clippy::expect_used)]
    getrandom::getrandom(&mut raw).expect("the OS random source is unavailable");
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
}
