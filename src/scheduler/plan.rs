//! One run's plan: its deadline and the policies that apply to it.

use super::{Throughput, Trigger};
use crate::crypto::CHUNK_SIZE;

/// Configurable by the host; the defaults suit a phone's background windows.
/// The most link time a kill or a reload mid-upload may throw away: a
/// part takes at most this long on the measured link (but for S3's 5 MiB
/// minimum), and so do one step's parts on the wire together.
pub const LOSS_WINDOW_MS: f64 = 8_000.0;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Policies {
    /// Videos wait for a run with at least this budget (an iOS wake-up of
    /// ~30 s cannot carry a video; they go when the app is opened).
    pub videos_min_budget_ms: f64,
    /// Most files one background run finishes; `None` for no cap.
    pub max_files_per_background_run: Option<u64>,
    /// Upload only over unmetered links (the host reports the link).
    pub wifi_only: bool,
}

impl Default for Policies {
    fn default() -> Self {
        Self {
            videos_min_budget_ms: 60_000.0,
            max_files_per_background_run: Some(500),
            wifi_only: false,
        }
    }
}

/// What a run may do, fixed when it starts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RunPlan {
    pub trigger: Trigger,
    /// `None`: until idle (a foreground run).
    pub budget_ms: Option<f64>,
    /// When the run started, on the clock's monotonic scale.
    pub started_ms: f64,
    /// Work must be over by then (monotonic); requests still in flight are
    /// aborted. The budget less a margin to record the last step.
    pub deadline_ms: Option<f64>,
    pub policies: Policies,
    /// Take the database lease: needed where Web Locks are missing.
    pub use_lease: bool,
    /// Stop after this many steps (one unit of work each).
    pub max_steps: Option<u64>,
}

impl RunPlan {
    pub fn new(trigger: Trigger, budget_ms: Option<f64>, started_ms: f64) -> Self {
        Self {
            trigger,
            budget_ms,
            started_ms,
            deadline_ms: budget_ms
                .map(|budget| started_ms + (budget - Self::margin_ms(budget)).max(0.0)),
            policies: Policies::default(),
            use_lease: false,
            max_steps: None,
        }
    }

    /// Room left at the end to record the last step and the run itself:
    /// 4% of the budget, from 0.3 to 2 seconds.
    pub fn margin_ms(budget_ms: f64) -> f64 {
        (budget_ms * 0.04).clamp(300.0, 2_000.0)
    }

    pub fn defers_videos(&self) -> bool {
        self.budget_ms
            .is_some_and(|budget| budget < self.policies.videos_min_budget_ms)
    }

    pub fn max_files(&self) -> Option<u64> {
        if self.trigger.is_background() {
            self.policies.max_files_per_background_run
        } else {
            None
        }
    }

    /// Chunks per part for a new upload: as many as `max` (at most 5) but
    /// few enough that one part takes at most a quarter of the budget (and
    /// `LOSS_WINDOW_MS`) on the measured link, so a short wake-up on a
    /// slow link still finishes whole parts. Never fewer than 2: every part
    /// but the last must be at least 5 MiB, S3's minimum.
    pub fn chunks_per_part(&self, throughput: &Throughput, max: u32) -> u32 {
        let window_ms = self
            .budget_ms
            .map_or(LOSS_WINDOW_MS, |budget| (budget / 4.0).min(LOSS_WINDOW_MS));
        let bytes = throughput.upload_rate() * (window_ms - throughput.request_ms()).max(0.0);
        let chunks = (bytes / CHUNK_SIZE as f64).floor();
        let max = max.clamp(2, 5);
        if chunks >= f64::from(max) {
            max
        } else if chunks <= 2.0 {
            2
        } else {
            // In range 2..max here, so the cast is exact.
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let chunks = chunks as u32;
            chunks
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn measured(bytes_per_ms: f64) -> Throughput {
        Throughput {
            upload_bytes_per_ms: Some(bytes_per_ms),
            request_ms: Some(100.0),
            hash_bytes_per_ms: None,
        }
    }

    #[test]
    fn the_deadline_keeps_a_margin() {
        let plan = RunPlan::new(Trigger::IosPush, Some(25_000.0), 1_000.0);
        assert_eq!(RunPlan::margin_ms(25_000.0), 1_000.0);
        assert_eq!(plan.deadline_ms, Some(25_000.0));
        let short = RunPlan::new(Trigger::Push, Some(2_000.0), 0.0);
        assert_eq!(short.deadline_ms, Some(1_700.0));
        let none = RunPlan::new(Trigger::Sync, Some(0.0), 5.0);
        assert_eq!(none.deadline_ms, Some(5.0), "a zero budget does nothing");
        assert_eq!(
            RunPlan::new(Trigger::Foreground, None, 0.0).deadline_ms,
            None
        );
    }

    #[test]
    fn policies_apply_by_budget_and_trigger() {
        let push = RunPlan::new(Trigger::IosPush, Some(25_000.0), 0.0);
        assert!(push.defers_videos());
        assert_eq!(push.max_files(), Some(500));
        let sync = RunPlan::new(Trigger::Sync, Some(150_000.0), 0.0);
        assert!(!sync.defers_videos());
        let open = RunPlan::new(Trigger::Foreground, None, 0.0);
        assert!(!open.defers_videos());
        assert_eq!(open.max_files(), None);
    }

    #[test]
    fn parts_shrink_on_a_slow_link_and_a_short_budget() {
        let fast = measured(20_000.0); // 20 MB/s
        let slow = measured(500.0); // 0.5 MB/s
        let long = RunPlan::new(Trigger::Sync, Some(150_000.0), 0.0);
        let short = RunPlan::new(Trigger::IosPush, Some(25_000.0), 0.0);
        assert_eq!(long.chunks_per_part(&fast, 5), 5);
        assert_eq!(short.chunks_per_part(&fast, 5), 5);
        assert_eq!(short.chunks_per_part(&slow, 5), 2);
        // 2 MB/s: a quarter of 25 s carries about 12 MB, two whole chunks.
        assert_eq!(short.chunks_per_part(&measured(2_000.0), 5), 2);
        // 2 MB/s over 8 s: about 16 MB, three chunks.
        assert_eq!(long.chunks_per_part(&measured(2_000.0), 5), 3);
        // 1.2 MB/s over 8 s: about 9.6 MB, two chunks.
        assert_eq!(long.chunks_per_part(&measured(1_200.0), 5), 2);
        // 3 MB/s: about 24 MB, five chunks.
        assert_eq!(long.chunks_per_part(&measured(3_000.0), 5), 5);
        // The host's maximum wins.
        assert_eq!(long.chunks_per_part(&fast, 3), 3);
    }
}
