//! What a run reports, and keeps as its record.

use serde::Serialize;

use super::{RunPlan, Trigger};
use crate::codec::{Reader, Record, Writer, struct_record, unit_enum_record};
use crate::protocol::BlockedReason;
use crate::protocol::json_write::{Object, ToJson};

unit_enum_record! {
    /// Why a run stopped.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
    #[serde(rename_all = "camelCase")]
    pub enum StopReason {
        /// The budget ran out, or the host stopped the run, with work left.
        Budget,
        /// Nothing is runnable now (waiting items may have a later retry).
        Idle,
        /// No network, or none the policies allow.
        Offline,
        /// The account needs the host: a new token (or file read permission).
        Auth,
        /// The account is out of storage (or subscription).
        Quota,
        /// Another runner holds this database.
        Busy,
        /// Local trouble (the database, the device key): see `error`.
        Error,
        /// Work is left that this run's policies hold back (videos for a
        /// longer window, Wi-Fi only, the per-run file cap): see `deferred`.
        Deferred,
        /// The run never finished: the system or the browser ended it (a
        /// service worker stopped, an app suspended). Recorded by the next
        /// run, with what it had done by its last record.
        Killed,
    }
}

impl StopReason {
    /// Its name for JavaScript (serde's wire name).
    pub fn name(self) -> &'static str {
        match self {
            Self::Budget => "budget",
            Self::Idle => "idle",
            Self::Offline => "offline",
            Self::Auth => "auth",
            Self::Quota => "quota",
            Self::Busy => "busy",
            Self::Error => "error",
            Self::Deferred => "deferred",
            Self::Killed => "killed",
        }
    }
}

impl ToJson for StopReason {
    fn write_json(&self, out: &mut String) {
        self.name().write_json(out);
    }
}

/// Work a run left because a policy holds it back, by policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Deferred {
    /// Videos waiting for a run of at least `videosMinBudgetMs`.
    pub videos: u64,
    /// Files waiting for a run on an unmetered network (`wifiOnly`).
    pub wifi_only: u64,
    /// Files left past `maxFilesPerBackgroundRun`.
    pub file_cap: u64,
    /// The shortest budget that takes the videos (`videosMinBudgetMs`).
    #[serde(skip)]
    pub videos_min_budget_ms: u64,
}

struct_record!(Deferred {
    videos,
    wifi_only,
    file_cap,
    videos_min_budget_ms,
});

impl ToJson for Deferred {
    fn write_json(&self, out: &mut String) {
        Object::new(out)
            .member("videos", &self.videos)
            .member("wifiOnly", &self.wifi_only)
            .member("fileCap", &self.file_cap)
            .end();
    }
}

impl Deferred {
    pub fn total(&self) -> u64 {
        self.videos + self.wifi_only + self.file_cap
    }
}

// By hand rather than `struct_record!`: `deferred` is reported to the host
// but not kept in the run's record (the queue keeps the latest under
// `DEFERRED_KEY`), so the stored format is unchanged.
impl Record for RunReport {
    fn write(&self, w: &mut Writer) {
        w.put(&self.trigger);
        w.put(&self.started_at);
        w.put(&self.budget_ms);
        w.put(&self.elapsed_ms);
        w.put(&self.bytes_uploaded);
        w.put(&self.files_done);
        w.put(&self.stopped_because);
        w.put(&self.blocked);
        w.put(&self.next_run_hint_ms);
        w.put(&self.error);
    }
    fn read(r: &mut Reader<'_>) -> Option<Self> {
        Some(Self {
            trigger: r.get()?,
            started_at: r.get()?,
            budget_ms: r.get()?,
            elapsed_ms: r.get()?,
            bytes_uploaded: r.get()?,
            files_done: r.get()?,
            stopped_because: r.get()?,
            blocked: r.get()?,
            next_run_hint_ms: r.get()?,
            error: r.get()?,
            deferred: None,
        })
    }
}

/// The run in progress, kept while it runs so that a run the system kills
/// is still found and recorded, and so that readers elsewhere (a page
/// while the service worker runs) know which item is being worked on.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveRun {
    /// What the run had done by `updated_at`.
    pub report: RunReport,
    /// Wall clock of the last update.
    pub updated_at: i64,
    /// The item being worked on; 0 for none.
    pub working: u64,
}

struct_record!(LiveRun {
    report,
    updated_at,
    working,
});

impl LiveRun {
    /// The record a killed run leaves: it ran at least until its last update.
    pub fn killed(&self) -> RunReport {
        let mut report = self.report.clone();
        report.elapsed_ms = (self.updated_at - report.started_at).max(0) as f64;
        report.stopped_because = StopReason::Killed;
        report.next_run_hint_ms = Some(0.0);
        report
    }
}

impl StopReason {
    pub fn from_blocked(reason: BlockedReason) -> Self {
        match reason {
            BlockedReason::Auth | BlockedReason::Permission => Self::Auth,
            BlockedReason::Payment | BlockedReason::Quota => Self::Quota,
            BlockedReason::Offline => Self::Offline,
        }
    }
}

/// One run, as reported to the host and kept (the last 100) for `diagnose`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunReport {
    pub trigger: Trigger,
    /// Wall clock, ms since the epoch.
    pub started_at: i64,
    #[serde(serialize_with = "whole_ms_or_null")]
    pub budget_ms: Option<f64>,
    #[serde(serialize_with = "whole_ms")]
    pub elapsed_ms: f64,
    pub bytes_uploaded: u64,
    pub files_done: u64,
    pub stopped_because: StopReason,
    /// The precise block behind `auth`, `quota` or `offline`.
    pub blocked: Option<BlockedReason>,
    /// When another run is worth it, in ms from the end of this one: 0 when
    /// work is left now, later when only retries are waiting, `None` when
    /// there is nothing to do or the host must act first.
    #[serde(rename = "nextRunHint", serialize_with = "whole_ms_or_null")]
    pub next_run_hint_ms: Option<f64>,
    pub error: Option<String>,
    /// With `deferred`: what waits, by policy. Not kept in `runs()`.
    pub deferred: Option<Deferred>,
}

impl ToJson for RunReport {
    fn write_json(&self, out: &mut String) {
        Object::new(out)
            .member("trigger", &self.trigger)
            .member("startedAt", &self.started_at)
            .member("budgetMs", &self.budget_ms.map(WholeMs))
            .member("elapsedMs", &WholeMs(self.elapsed_ms))
            .member("bytesUploaded", &self.bytes_uploaded)
            .member("filesDone", &self.files_done)
            .member("stoppedBecause", &self.stopped_because)
            .member("blocked", &self.blocked)
            .member("nextRunHint", &self.next_run_hint_ms.map(WholeMs))
            .member("error", &self.error)
            .member("deferred", &self.deferred)
            .end();
    }
}

// Reported in whole milliseconds: nobody needs a fraction of one, and
// printing floats would link the float formatter (about 1% of the wasm
// binary) for these three fields alone.
#[allow(clippy::cast_possible_truncation)] // a run lasts far less than 2^63 ms
fn round_ms(ms: f64) -> i64 {
    ms.round() as i64
}

/// A time written in whole milliseconds.
struct WholeMs(f64);

impl ToJson for WholeMs {
    fn write_json(&self, out: &mut String) {
        round_ms(self.0).write_json(out);
    }
}

fn whole_ms<S: serde::Serializer>(ms: &f64, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_i64(round_ms(*ms))
}

fn whole_ms_or_null<S: serde::Serializer>(
    ms: &Option<f64>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match ms {
        Some(ms) => whole_ms(ms, serializer),
        None => serializer.serialize_none(),
    }
}

/// When a run that found the queue busy suggests trying again: the other
/// runner is often a closing tab whose lock is about to go.
pub const BUSY_RETRY_MS: f64 = 5_000.0;

impl RunReport {
    /// A run of `plan` started at `started_at` (wall clock) that has done
    /// nothing yet; `stopped_because` until it says otherwise.
    pub fn new(plan: &RunPlan, started_at: i64, stopped_because: StopReason) -> Self {
        let mut report = Self {
            trigger: plan.trigger,
            started_at,
            budget_ms: plan.budget_ms,
            elapsed_ms: 0.0,
            bytes_uploaded: 0,
            files_done: 0,
            stopped_because,
            blocked: None,
            next_run_hint_ms: None,
            error: None,
            deferred: None,
        };
        if stopped_because == StopReason::Busy {
            report.busy();
        }
        report
    }

    /// Another runner holds the queue: stop, and suggest a retry soon.
    pub fn busy(&mut self) {
        self.stopped_because = StopReason::Busy;
        self.next_run_hint_ms = Some(BUSY_RETRY_MS);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_reach_the_host_in_whole_milliseconds() {
        let plan = RunPlan::new(Trigger::Push, Some(25_000.0), 0.0);
        let mut report = RunReport::new(&plan, 1_700_000_000_000, StopReason::Idle);
        report.elapsed_ms = 7.716;
        report.next_run_hint_ms = Some(4_999.5);
        let json = serde_json::to_value(&report).unwrap_or_default();
        assert_eq!(json["budgetMs"], serde_json::json!(25_000));
        assert_eq!(json["elapsedMs"], serde_json::json!(8));
        assert_eq!(json["nextRunHint"], serde_json::json!(5_000));
        report.budget_ms = None;
        report.next_run_hint_ms = None;
        let json = serde_json::to_value(&report).unwrap_or_default();
        assert!(json["budgetMs"].is_null() && json["nextRunHint"].is_null());
    }

    #[test]
    fn written_as_serde_json_writes_it() {
        let plan = RunPlan::new(Trigger::IosRefresh, Some(25_000.4), 0.0);
        let mut report = RunReport::new(&plan, -1, StopReason::Busy);
        report.elapsed_ms = 0.5;
        report.error = Some("STORE_FAILED: \"x\"\n".into());
        let same = |report: &RunReport| {
            assert_eq!(
                crate::protocol::json_write::to_json(report),
                serde_json::to_string(report).unwrap()
            );
        };
        same(&report);
        report.blocked = Some(BlockedReason::Permission);
        report.deferred = Some(Deferred {
            videos: 1,
            wifi_only: 2,
            file_cap: u64::MAX,
            videos_min_budget_ms: 60_000,
        });
        for reason in StopReason::ALL {
            report.stopped_because = *reason;
            same(&report);
        }
        for trigger in Trigger::ALL {
            report.trigger = *trigger;
            same(&report);
        }
        for blocked in BlockedReason::ALL {
            report.blocked = Some(*blocked);
            same(&report);
        }
    }
}
