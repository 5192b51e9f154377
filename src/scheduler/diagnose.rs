//! Turns run records and queue state into troubleshooting advice, in
//! words a person can act on.

use serde::Serialize;

use super::{Deferred, RunReport, StopReason};
use crate::protocol::BlockedReason;
use crate::protocol::json_write::{Object, ToJson};
use crate::queue::{Counters, PublicState};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Severity {
    Info,
    Warning,
    Error,
}

impl ToJson for Severity {
    /// serde's wire names.
    fn write_json(&self, out: &mut String) {
        let name = match self {
            Self::Info => "info",
            Self::Warning => "warning",
            Self::Error => "error",
        };
        name.write_json(out);
    }
}

crate::protocol::outcome::code_list! {
    /// The codes of `diagnose()`'s findings (the TypeScript `FindingCode`):
    /// stable across releases, while the advice's wording is not.
    pub enum FindingCode {
        BlockedAuth = "BLOCKED_AUTH",
        BlockedPayment = "BLOCKED_PAYMENT",
        BlockedQuota = "BLOCKED_QUOTA",
        BlockedPermission = "BLOCKED_PERMISSION",
        StorageFull = "STORAGE_FULL",
        Offline = "OFFLINE",
        StoreUnreachable = "STORE_UNREACHABLE",
        EtagHidden = "ETAG_HIDDEN",
        NoBackgroundRun = "NO_BACKGROUND_RUN",
        ItemsFailed = "ITEMS_FAILED",
        ItemsRetrying = "ITEMS_RETRYING",
        RunsFailing = "RUNS_FAILING",
        NoBackgroundProgress = "NO_BACKGROUND_PROGRESS",
        WorkDeferred = "WORK_DEFERRED",
        RunsKilled = "RUNS_KILLED",
        StorageNotPersisted = "STORAGE_NOT_PERSISTED",
        PeriodicSyncUnavailable = "PERIODIC_SYNC_UNAVAILABLE",
        BackgroundSyncUnavailable = "BACKGROUND_SYNC_UNAVAILABLE",
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// A [`FindingCode`]'s name.
    pub code: &'static str,
    pub severity: Severity,
    pub advice: String,
}

impl ToJson for Finding {
    fn write_json(&self, out: &mut String) {
        Object::new(out)
            .member("code", &self.code)
            .member("severity", &self.severity)
            .member("advice", &self.advice)
            .end();
    }
}

/// What the host knows about its platform; `None` where it cannot tell.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Environment {
    pub now_ms: i64,
    /// Periodic Background Sync is registered and permitted.
    pub periodic_sync: Option<bool>,
    /// Background Sync can be registered.
    pub background_sync: Option<bool>,
    /// `navigator.storage.persisted()`.
    pub storage_persisted: Option<bool>,
    /// Hours without a background run, with files waiting, before it is a finding.
    pub quiet_hours: f64,
}

impl Default for Environment {
    fn default() -> Self {
        Self {
            now_ms: 0,
            periodic_sync: None,
            background_sync: None,
            storage_persisted: None,
            quiet_hours: 24.0,
        }
    }
}

/// What the queue looks like now.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct QueueState {
    pub counters: Counters,
    pub blocked: Option<BlockedReason>,
    /// Items retried at least three times in a row.
    pub struggling: u64,
    /// What the latest run left held back by a policy.
    pub deferred: Option<Deferred>,
    /// Items waiting because the object store gave no answer
    /// (`STORE_UNREACHABLE`) or hid a part's `ETag` (`ETAG_HIDDEN`).
    pub store_unreachable: u64,
    pub etag_hidden: u64,
}

/// Killed runs among the last background ones before it is a finding: one
/// is an accident (an update, a reboot), two in five a pattern.
const KILLED_OF_LAST: (usize, usize) = (2, 5);

const HOUR_MS: f64 = 3_600_000.0;

/// "1 file", "3 files".
fn files(n: u64) -> String {
    if n == 1 {
        "1 file".into()
    } else {
        format!("{n} files")
    }
}

fn finding(code: FindingCode, severity: Severity, advice: String) -> Finding {
    Finding {
        code: code.name(),
        severity,
        advice,
    }
}

/// Work held back by a policy, in words: what waits and what takes it.
fn deferred_finding(deferred: &Deferred) -> Finding {
    let mut parts = Vec::new();
    if deferred.videos > 0 {
        parts.push(format!(
            "{} wait{} for a run of at least {} s, longer than background wake-ups here: \
             open the app to back {} up, or lower videosMinBudgetMs",
            if deferred.videos == 1 {
                "1 video".into()
            } else {
                format!("{} videos", deferred.videos)
            },
            if deferred.videos == 1 { "s" } else { "" },
            deferred.videos_min_budget_ms / 1000,
            if deferred.videos == 1 { "it" } else { "them" },
        ));
    }
    if deferred.wifi_only > 0 {
        parts.push(format!(
            "{} wait{} for Wi-Fi (wifiOnly)",
            files(deferred.wifi_only),
            if deferred.wifi_only == 1 { "s" } else { "" }
        ));
    }
    if deferred.file_cap > 0 {
        parts.push(format!(
            "{} wait{} for the next run (maxFilesPerBackgroundRun)",
            files(deferred.file_cap),
            if deferred.file_cap == 1 { "s" } else { "" }
        ));
    }
    // By hand: `join` on Strings would be one more copy of its code (1 KB).
    let mut advice = String::new();
    for part in parts {
        if !advice.is_empty() {
            advice.push_str("; ");
        }
        advice.push_str(&part);
    }
    advice.push('.');
    finding(FindingCode::WorkDeferred, Severity::Info, advice)
}

/// Findings, most severe first. `runs` are newest first.
pub fn diagnose(runs: &[RunReport], queue: &QueueState, env: &Environment) -> Vec<Finding> {
    let mut out = Vec::new();
    let waiting = queue.counters.pending();

    match queue.blocked {
        Some(BlockedReason::Auth) => out.push(finding(
            FindingCode::BlockedAuth,
            Severity::Error,
            "Backup is paused because the session expired. Sign in again; backup continues where it stopped.".into(),
        )),
        Some(BlockedReason::Payment) => out.push(finding(
            FindingCode::BlockedPayment,
            Severity::Error,
            "Backup is paused because the account has no active subscription. Renew it, then resume.".into(),
        )),
        Some(BlockedReason::Quota) => out.push(finding(
            FindingCode::BlockedQuota,
            Severity::Error,
            "Backup is paused because the storage is full. Free space or upgrade the plan, then resume.".into(),
        )),
        Some(BlockedReason::Permission) => out.push(finding(
            FindingCode::BlockedPermission,
            Severity::Error,
            "Backup is paused because the app may no longer read your files. Grant access to the folder or photos again, then resume.".into(),
        )),
        Some(BlockedReason::Offline) => out.push(finding(
            FindingCode::Offline,
            Severity::Info,
            "The device was offline at the last run. Backup continues when it is back online.".into(),
        )),
        None => {}
    }

    // The store's silence while the API answers is, for a self-hosted
    // server, almost always the bucket's CORS rules; said only when the
    // device is not simply offline.
    if queue.blocked != Some(BlockedReason::Offline) {
        if queue.store_unreachable > 0 {
            out.push(finding(
                FindingCode::StoreUnreachable,
                Severity::Warning,
                format!(
                    "{} wait{} because the server's file storage does not answer uploads, though the server itself answers. \
                     If you run the server yourself, check the storage bucket's CORS rules: they must allow this app's origin \
                     and the PUT and POST methods, and expose the ETag header. Otherwise the storage may be down; uploads retry on their own.",
                    files(queue.store_unreachable),
                    if queue.store_unreachable == 1 { "s" } else { "" }
                ),
            ));
        }
        if queue.etag_hidden > 0 {
            out.push(finding(
                FindingCode::EtagHidden,
                Severity::Warning,
                format!(
                    "{} wait{} because the server's file storage hides the ETag header that large uploads need. \
                     If you run the server yourself, add ETag to the exposed headers in the storage bucket's CORS rules.",
                    files(queue.etag_hidden),
                    if queue.etag_hidden == 1 { "s" } else { "" }
                ),
            ));
        }
    }

    let background = runs.iter().find(|r| r.trigger.is_background());
    let quiet_ms = env.quiet_hours * HOUR_MS;
    if waiting > 0 {
        let since = background
            .map(|r| r.started_at)
            .or(runs.last().map(|r| r.started_at));
        if let Some(since) = since
            && (env.now_ms - since) as f64 >= quiet_ms
        {
            // Whole hours, as an integer: formatting an f64 pulls ~15 KB of
            // float printing into the wasm.
            let hours = (env.now_ms - since) / 3_600_000;
            out.push(finding(
                FindingCode::NoBackgroundRun,
                Severity::Warning,
                format!(
                    "No background backup for {hours} hours while {} wait{}. \
                     The app may have been force-closed (iOS does not wake a force-closed app), \
                     battery optimisation may be on (Android: set the app's battery use to Unrestricted), \
                     or the app may be in a locked private space (Android 15). Open the app to back up now.",
                    files(waiting),
                    if waiting == 1 { "s" } else { "" }
                ),
            ));
        }
    }

    let failed = queue.counters.count(PublicState::Failed);
    if failed > 0 {
        out.push(finding(
            FindingCode::ItemsFailed,
            Severity::Warning,
            format!(
                "{} could not be backed up. Each shows its reason; retry once the cause is fixed.",
                files(failed)
            ),
        ));
    }
    if queue.struggling > 0 {
        out.push(finding(
            FindingCode::ItemsRetrying,
            Severity::Warning,
            format!(
                "{} failed three or more times in a row and {} being retried. \
                 A flaky connection or a server problem is likely.",
                files(queue.struggling),
                if queue.struggling == 1 { "is" } else { "are" }
            ),
        ));
    }

    // The run's own error code leads its error text (see `RunReport::error`).
    if runs
        .first()
        .and_then(|r| r.error.as_deref())
        .is_some_and(|e| e.starts_with("STORAGE_FULL"))
    {
        out.push(finding(
            FindingCode::StorageFull,
            Severity::Error,
            "Backup stopped because the device's storage for this app is full: it cannot record its progress. \
             Free space on the device, then backup continues where it stopped."
                .into(),
        ));
    }

    let recent_errors: Vec<&RunReport> = runs
        .iter()
        .take(3)
        .filter(|r| r.stopped_because == StopReason::Error)
        .collect();
    if recent_errors.len() == 3 {
        let last = recent_errors[0].error.as_deref().unwrap_or("unknown");
        out.push(finding(
            FindingCode::RunsFailing,
            Severity::Error,
            format!("The last three runs stopped on an error ({last}). Storage may be full or the browser data damaged."),
        ));
    }

    let background_runs: Vec<&RunReport> = runs
        .iter()
        .filter(|r| r.trigger.is_background())
        .take(5)
        .collect();
    if background_runs.len() == 5
        && background_runs
            .iter()
            .all(|r| r.stopped_because == StopReason::Budget && r.bytes_uploaded == 0)
    {
        out.push(finding(
            FindingCode::NoBackgroundProgress,
            Severity::Warning,
            "Background runs end before finishing any work: the connection is too slow for the time the system grants. \
             Open the app on Wi-Fi for the first backup."
                .into(),
        ));
    }

    if let Some(deferred) = queue.deferred.filter(|d| d.total() > 0) {
        out.push(deferred_finding(&deferred));
    }

    // Runs that found another runner busy never started: they say nothing.
    let last_background = runs
        .iter()
        .filter(|r| r.trigger.is_background() && r.stopped_because != StopReason::Busy)
        .take(KILLED_OF_LAST.1);
    let killed: Vec<&RunReport> = last_background
        .filter(|r| r.stopped_because == StopReason::Killed)
        .collect();
    if killed.len() >= KILLED_OF_LAST.0 {
        let lasted_s =
            killed.iter().map(|r| r.elapsed_ms).sum::<f64>() / killed.len() as f64 / 1000.0;
        #[allow(clippy::cast_possible_truncation)] // seconds of a run
        let lasted_s = lasted_s.round() as i64;
        out.push(finding(
            FindingCode::RunsKilled,
            Severity::Warning,
            format!(
                "The system ended {} of the last background runs before they finished, after about {lasted_s} s. \
                 Ask for less time per run (a smaller budgetMs for the trigger), keep the service worker busy only \
                 inside its event (event.waitUntil), and on Android set the app's battery use to Unrestricted.",
                killed.len()
            ),
        ));
    }

    if env.storage_persisted == Some(false) && waiting > 0 {
        out.push(finding(
            FindingCode::StorageNotPersisted,
            Severity::Warning,
            "The browser may clear the backup queue when space runs low: persistent storage was not granted. \
             Installing the app usually grants it."
                .into(),
        ));
    }
    if env.periodic_sync == Some(false) {
        out.push(finding(
            FindingCode::PeriodicSyncUnavailable,
            Severity::Info,
            "Periodic background sync is not permitted, so backup runs only when the app or a push wakes it. \
             Install the app and use it regularly (Chromium grants it to installed, engaged apps)."
                .into(),
        ));
    }
    if env.background_sync == Some(false) {
        out.push(finding(
            FindingCode::BackgroundSyncUnavailable,
            Severity::Info,
            "This browser has no Background Sync (Safari, Firefox, Android WebView): backup runs while the app is open or when a push wakes it."
                .into(),
        ));
    }
    // Most severe first, in the order found; a filter per severity rather
    // than a stable sort, which alone costs ~10 KB of wasm.
    [Severity::Error, Severity::Warning, Severity::Info]
        .iter()
        .flat_map(|severity| out.iter().filter(move |f| f.severity == *severity).cloned())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::Trigger;

    const DAY_MS: i64 = 86_400_000;

    #[test]
    fn findings_written_as_serde_json_writes_them() {
        let findings: Vec<Finding> = [Severity::Info, Severity::Warning, Severity::Error]
            .into_iter()
            .map(|severity| finding(FindingCode::RunsKilled, severity, "a \"b\"\t".into()))
            .collect();
        assert_eq!(
            crate::protocol::json_write::to_json(&findings),
            serde_json::to_string(&findings).unwrap()
        );
    }

    fn run(trigger: Trigger, started_at: i64, stopped: StopReason, bytes: u64) -> RunReport {
        RunReport {
            trigger,
            started_at,
            budget_ms: trigger.default_budget_ms(),
            elapsed_ms: 1_000.0,
            bytes_uploaded: bytes,
            files_done: 0,
            stopped_because: stopped,
            blocked: None,
            next_run_hint_ms: None,
            error: (stopped == StopReason::Error).then(|| "STORE: quota".into()),
            deferred: None,
        }
    }

    fn queue(queued: u64, failed: u64) -> QueueState {
        let mut counters = Counters::default();
        counters.by_state[PublicState::Queued as usize] = queued;
        counters.by_state[PublicState::Failed as usize] = failed;
        QueueState {
            counters,
            ..QueueState::default()
        }
    }

    fn codes(findings: &[Finding]) -> Vec<&'static str> {
        findings.iter().map(|f| f.code).collect()
    }

    #[test]
    fn a_run_stopped_by_full_storage_says_to_free_space() {
        let env = Environment::default();
        let mut full = run(Trigger::Foreground, 0, StopReason::Error, 0);
        full.error =
            Some("STORAGE_FULL: storage full: IndexedDB commit: QuotaExceededError".into());
        let findings = diagnose(&[full.clone()], &queue(3, 0), &env);
        let said = findings.iter().find(|f| f.code == "STORAGE_FULL").unwrap();
        assert_eq!(said.severity, Severity::Error);
        assert!(said.advice.contains("Free space"), "{said:?}");
        // Only the latest run counts: one that ran after space was freed clears it.
        let later = run(Trigger::Foreground, 1, StopReason::Idle, 10);
        assert!(!codes(&diagnose(&[later, full], &queue(3, 0), &env)).contains(&"STORAGE_FULL"));
        let other = run(Trigger::Foreground, 0, StopReason::Error, 0);
        assert!(!codes(&diagnose(&[other], &queue(3, 0), &env)).contains(&"STORAGE_FULL"));
    }

    /// The API answers and hands out URLs, the store never answers (or
    /// hides `ETag`): the advice names the bucket's CORS rules, unless the
    /// device is simply offline.
    #[test]
    fn a_silent_store_points_at_the_buckets_cors_rules() {
        let env = Environment::default();
        let mut q = queue(5, 0);
        q.store_unreachable = 4;
        q.etag_hidden = 1;
        let findings = diagnose(&[], &q, &env);
        let silent = findings
            .iter()
            .find(|f| f.code == "STORE_UNREACHABLE")
            .unwrap();
        assert!(
            silent.advice.starts_with("4 files wait because"),
            "{silent:?}"
        );
        assert!(silent.advice.contains("CORS"), "{silent:?}");
        let hidden = findings.iter().find(|f| f.code == "ETAG_HIDDEN").unwrap();
        assert!(
            hidden.advice.starts_with("1 file waits because"),
            "{hidden:?}"
        );
        assert!(hidden.advice.contains("ETag"), "{hidden:?}");

        q.blocked = Some(BlockedReason::Offline);
        let offline = codes(&diagnose(&[], &q, &env));
        assert!(!offline.contains(&"STORE_UNREACHABLE"), "{offline:?}");
        assert!(!offline.contains(&"ETAG_HIDDEN"), "{offline:?}");

        let healthy = codes(&diagnose(&[], &queue(5, 0), &env));
        assert!(!healthy.contains(&"STORE_UNREACHABLE"), "{healthy:?}");
    }

    #[test]
    fn background_runs_killed_twice_in_five_are_a_finding_once_is_not() {
        let env = Environment {
            now_ms: DAY_MS,
            ..Environment::default()
        };
        let t = DAY_MS - 3_600_000;
        let mut runs = vec![
            run(Trigger::Sync, t, StopReason::Idle, 10),
            run(Trigger::Sync, t - 1, StopReason::Killed, 0),
            run(Trigger::Push, t - 2, StopReason::Busy, 0),
            run(Trigger::Foreground, t - 3, StopReason::Killed, 0),
            run(Trigger::Push, t - 4, StopReason::Idle, 10),
        ];
        assert!(!codes(&diagnose(&runs, &queue(3, 0), &env)).contains(&"RUNS_KILLED"));
        runs.push(run(Trigger::Push, t - 5, StopReason::Killed, 0));
        let findings = diagnose(&runs, &queue(3, 0), &env);
        let killed = findings.iter().find(|f| f.code == "RUNS_KILLED").unwrap();
        assert_eq!(killed.severity, Severity::Warning);
        assert!(
            killed
                .advice
                .contains("ended 2 of the last background runs"),
            "{}",
            killed.advice
        );
        assert!(
            killed.advice.contains("after about 1 s"),
            "{}",
            killed.advice
        );
        // Five other background runs since: the pattern is over.
        for i in 0..5 {
            runs.insert(0, run(Trigger::Sync, t + 1 + i, StopReason::Idle, 1));
        }
        assert!(!codes(&diagnose(&runs, &queue(3, 0), &env)).contains(&"RUNS_KILLED"));
    }

    #[test]
    fn work_held_back_says_what_waits_and_what_takes_it() {
        let env = Environment::default();
        let mut q = queue(5, 0);
        q.deferred = Some(Deferred {
            videos: 2,
            wifi_only: 0,
            file_cap: 3,
            videos_min_budget_ms: 60_000,
        });
        let findings = diagnose(&[], &q, &env);
        let held = findings.iter().find(|f| f.code == "WORK_DEFERRED").unwrap();
        assert_eq!(
            held.advice,
            "2 videos wait for a run of at least 60 s, longer than background wake-ups here: \
             open the app to back them up, or lower videosMinBudgetMs; \
             3 files wait for the next run (maxFilesPerBackgroundRun)."
        );
        q.deferred = Some(Deferred::default());
        assert!(!codes(&diagnose(&[], &q, &env)).contains(&"WORK_DEFERRED"));
    }

    #[test]
    fn a_healthy_queue_has_nothing_to_say() {
        let env = Environment {
            now_ms: 10 * DAY_MS,
            ..Environment::default()
        };
        let runs = [run(
            Trigger::PeriodicSync,
            10 * DAY_MS - 3_600_000,
            StopReason::Idle,
            5,
        )];
        assert!(diagnose(&runs, &queue(0, 0), &env).is_empty());
        assert!(diagnose(&runs, &queue(10, 0), &env).is_empty());
    }

    #[test]
    fn no_background_run_for_days_while_files_wait() {
        let env = Environment {
            now_ms: 10 * DAY_MS,
            ..Environment::default()
        };
        let runs = [
            run(Trigger::Foreground, 9 * DAY_MS, StopReason::Idle, 0),
            run(Trigger::Sync, 7 * DAY_MS, StopReason::Budget, 10),
        ];
        let findings = diagnose(&runs, &queue(3, 0), &env);
        assert_eq!(codes(&findings), ["NO_BACKGROUND_RUN"]);
        assert!(
            findings[0].advice.contains("72 hours"),
            "{}",
            findings[0].advice
        );
        assert!(findings[0].advice.contains("battery"));
        assert!(findings[0].advice.contains("while 3 files wait."));
        let one = diagnose(&runs, &queue(1, 0), &env);
        assert!(
            one[0].advice.contains("while 1 file waits."),
            "{}",
            one[0].advice
        );
        // Nothing waiting: nothing to worry about.
        assert!(diagnose(&runs, &queue(0, 0), &env).is_empty());
    }

    #[test]
    fn blocks_failures_and_platform_limits_are_reported_most_severe_first() {
        let env = Environment {
            now_ms: DAY_MS,
            periodic_sync: Some(false),
            storage_persisted: Some(false),
            ..Environment::default()
        };
        let mut state = queue(2, 4);
        state.blocked = Some(BlockedReason::Quota);
        state.struggling = 1;
        let runs = [
            run(Trigger::Sync, DAY_MS - 10, StopReason::Error, 0),
            run(Trigger::Sync, DAY_MS - 20, StopReason::Error, 0),
            run(Trigger::Sync, DAY_MS - 30, StopReason::Error, 0),
        ];
        let findings = diagnose(&runs, &state, &env);
        assert_eq!(
            codes(&findings),
            [
                "BLOCKED_QUOTA",
                "RUNS_FAILING",
                "ITEMS_FAILED",
                "ITEMS_RETRYING",
                "STORAGE_NOT_PERSISTED",
                "PERIODIC_SYNC_UNAVAILABLE"
            ]
        );
        assert!(findings[1].advice.contains("STORE: quota"));
        assert!(findings[2].advice.starts_with("4 files could"));
        assert!(
            findings[3].advice.starts_with("1 file failed"),
            "{}",
            findings[3].advice
        );
        assert!(findings[3].advice.contains(" is being retried"));
    }

    #[test]
    fn background_runs_too_short_to_progress() {
        let env = Environment {
            now_ms: DAY_MS,
            ..Environment::default()
        };
        let runs: Vec<RunReport> = (0..5)
            .map(|i| run(Trigger::IosPush, DAY_MS - i * 1000, StopReason::Budget, 0))
            .collect();
        assert_eq!(
            codes(&diagnose(&runs, &queue(1, 0), &env)),
            ["NO_BACKGROUND_PROGRESS"]
        );
    }
}
