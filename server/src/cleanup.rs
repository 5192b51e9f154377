//! Removal of what clients abandoned, on a timer (`--cleanup-interval-secs`):
//! multipart uploads never completed and objects never registered, once
//! idle for longer than `--stale-upload-secs`, as museum's
//! `ObjectCleanupController` removes its temporary objects and a bucket's
//! `AbortIncompleteMultipartUpload` rule aborts uploads.
//!
//! Idle means: handed out (`GET /files/upload-urls` or
//! `/files/multipart-upload-urls`) and last written (the object's
//! `Last-Modified`, the newest part's) longer ago than the age, and no
//! write in flight. A key is first retired in the database, while held
//! against writes (`store::keys`): from then on the embedded store refuses
//! its URLs (403, as for an expired URL) and `POST /files` refuses it (503
//! `OBJECT_SIZE_FETCH_FAILED`, the object being gone). Then its upload is
//! aborted and its object deleted; what fails is tried again next round.
//! Registered files are never touched.

use std::time::Duration;

use rusqlite::params;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::db::now_micros;
use crate::error::{ApiError, ApiResult};
use crate::routes::AppState;

/// What one round removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Removed {
    /// Keys retired this round.
    pub retired: u64,
    /// Multipart uploads aborted (they were still in progress).
    pub uploads_aborted: u64,
    /// Retired keys whose object and upload are now gone from the store.
    pub purged: u64,
}

/// Runs a round now and then every `every`, until `stop`.
pub fn spawn(
    state: AppState,
    stale_after: Duration,
    every: Duration,
    mut stop: watch::Receiver<bool>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticks.tick() => {}
                _ = stop.changed() => break,
            }
            tokio::select! {
                result = run(&state, stale_after) => match result {
                    Ok(removed) if removed != Removed::default() => tracing::info!(
                        retired = removed.retired,
                        uploads_aborted = removed.uploads_aborted,
                        purged = removed.purged,
                        "removed abandoned uploads"
                    ),
                    Ok(_) => {}
                    Err(err) => tracing::warn!(why = %err.message, "cleanup failed; trying again next round"),
                },
                _ = stop.changed() => break,
            }
        }
    })
}

/// One round: retire what has been idle for longer than `stale_after`,
/// then remove from the store every retired key not yet removed.
pub async fn run(state: &AppState, stale_after: Duration) -> ApiResult<Removed> {
    let now = now_micros();
    let cutoff = now.saturating_sub(i64::try_from(stale_after.as_micros()).unwrap_or(i64::MAX));
    let mut removed = Removed::default();

    let candidates: Vec<(String, Option<String>, i64)> = state
        .db
        .read(move |conn| {
            let mut statement = conn
                .prepare(
                    "SELECT object_key, upload_id, created_at FROM objects o
                     WHERE retired_at IS NULL AND created_at < ?1
                     AND NOT EXISTS (SELECT 1 FROM files f
                        WHERE f.file_object_key = o.object_key OR f.thumb_object_key = o.object_key)",
                )
                .map_err(ApiError::internal)?;
            let rows = statement
                .query_map([cutoff], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .map_err(ApiError::internal)?;
            rows.collect::<Result<_, _>>().map_err(ApiError::internal)
        })
        .await?;
    for (key, upload_id, created_at) in candidates {
        // A write in flight: not idle. Held, no write can start until the
        // key is retired (or left alone).
        let Some(_held) = state.locks.hold(&[&key]) else {
            continue;
        };
        let last_write = match last_write(state, &key, upload_id.as_deref()).await {
            Ok(at) => at,
            Err(why) => {
                tracing::warn!(%key, %why, "cannot tell when the object was last written; keeping it");
                continue;
            }
        };
        if created_at.max(last_write.unwrap_or(i64::MIN)) >= cutoff {
            continue;
        }
        let retire_key = key.clone();
        let retired = state
            .db
            .write(move |tx| {
                tx.execute(
                    "UPDATE objects SET retired_at = ?2 WHERE object_key = ?1 AND retired_at IS NULL
                     AND NOT EXISTS (SELECT 1 FROM files
                        WHERE file_object_key = ?1 OR thumb_object_key = ?1)",
                    params![retire_key, now],
                )
                .map_err(ApiError::internal)
            })
            .await?;
        if retired == 1 {
            tracing::debug!(%key, "retired an abandoned upload");
            removed.retired += 1;
        }
    }

    let retired: Vec<(String, Option<String>)> = state
        .db
        .read(|conn| {
            let mut statement = conn
                .prepare(
                    "SELECT object_key, upload_id FROM objects
                     WHERE retired_at IS NOT NULL AND purged = 0",
                )
                .map_err(ApiError::internal)?;
            let rows = statement
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
                .map_err(ApiError::internal)?;
            rows.collect::<Result<_, _>>().map_err(ApiError::internal)
        })
        .await?;
    for (key, upload_id) in retired {
        let gone = async {
            let mut aborted = false;
            if let Some(upload_id) = &upload_id {
                aborted = state.store.abort_multipart_upload(&key, upload_id).await?;
            }
            // A multipart upload may have been completed: its object goes too.
            state.store.delete_object(&key).await?;
            Ok::<_, crate::store::StoreError>(aborted)
        }
        .await;
        match gone {
            Ok(aborted) => {
                let purged_key = key.clone();
                state
                    .db
                    .write(move |tx| {
                        tx.execute(
                            "UPDATE objects SET purged = 1 WHERE object_key = ?1",
                            [purged_key],
                        )
                        .map_err(ApiError::internal)
                    })
                    .await?;
                removed.purged += 1;
                removed.uploads_aborted += u64::from(aborted);
            }
            Err(why) => {
                tracing::warn!(%key, %why, "cannot remove an abandoned upload yet");
            }
        }
    }
    Ok(removed)
}

/// When the store last saw a write to `key`: its object's `Last-Modified`,
/// or for a multipart upload still in progress its newest part.
async fn last_write(
    state: &AppState,
    key: &str,
    upload_id: Option<&str>,
) -> Result<Option<i64>, crate::store::StoreError> {
    if let Some(upload_id) = upload_id
        && let Some(newest_part) = state.store.last_part_uploaded(key, upload_id).await?
    {
        return Ok(newest_part);
    }
    state.store.last_modified(key).await
}
