//! How fast this device and link have been, kept across runs, so a run
//! can tell before it starts a unit of work whether it will finish in time.

use crate::codec::struct_record;

/// Weight of a new measurement: recent runs matter most (a phone moves
/// between links), one odd measurement does not decide.
const ALPHA: f64 = 0.3;
/// Assumed until measured: a slow mobile uplink and a slow device, so a
/// first short run starts little rather than overrunning.
const DEFAULT_UPLOAD_BYTES_PER_MS: f64 = 500.0; // 0.5 MB/s
const DEFAULT_REQUEST_MS: f64 = 400.0;
const DEFAULT_HASH_BYTES_PER_MS: f64 = 50_000.0; // 50 MB/s

#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Throughput {
    /// Upload rate with all of a step's parts on the wire together.
    pub upload_bytes_per_ms: Option<f64>,
    /// A small API request, end to end.
    pub request_ms: Option<f64>,
    /// Reading and hashing plaintext.
    pub hash_bytes_per_ms: Option<f64>,
}

struct_record!(Throughput {
    upload_bytes_per_ms,
    request_ms,
    hash_bytes_per_ms
});

fn blend(old: Option<f64>, new: f64) -> Option<f64> {
    if !new.is_finite() || new <= 0.0 {
        return old;
    }
    Some(match old {
        Some(old) => old + ALPHA * (new - old),
        None => new,
    })
}

impl Throughput {
    /// `bytes` went up in `ms`, including one request's latency.
    pub fn observe_upload(&mut self, bytes: u64, ms: f64) {
        let transfer_ms = (ms - self.request_ms() / 2.0).max(ms / 2.0);
        if bytes >= 64 * 1024 && transfer_ms > 0.0 {
            self.upload_bytes_per_ms = blend(self.upload_bytes_per_ms, bytes as f64 / transfer_ms);
        }
    }

    pub fn observe_request(&mut self, ms: f64) {
        self.request_ms = blend(self.request_ms, ms.max(1.0));
    }

    pub fn observe_hash(&mut self, bytes: u64, ms: f64) {
        if bytes >= 1024 * 1024 {
            self.hash_bytes_per_ms = blend(self.hash_bytes_per_ms, bytes as f64 / ms.max(1.0));
        }
    }

    pub fn upload_rate(&self) -> f64 {
        self.upload_bytes_per_ms
            .unwrap_or(DEFAULT_UPLOAD_BYTES_PER_MS)
    }

    pub fn request_ms(&self) -> f64 {
        self.request_ms.unwrap_or(DEFAULT_REQUEST_MS)
    }

    /// Expected time to upload `bytes` in one step.
    pub fn upload_ms(&self, bytes: u64) -> f64 {
        self.request_ms() + bytes as f64 / self.upload_rate()
    }

    /// Expected time to hash `bytes`.
    pub fn hash_ms(&self, bytes: u64) -> f64 {
        bytes as f64 / self.hash_bytes_per_ms.unwrap_or(DEFAULT_HASH_BYTES_PER_MS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unmeasured_estimates_are_cautious() {
        let t = Throughput::default();
        // 20 MiB at the assumed 0.5 MB/s: about 42 s, longer than an iOS wake-up.
        assert!(t.upload_ms(20 * 1024 * 1024) > 25_000.0);
    }

    #[test]
    fn measurements_move_the_estimate_gradually() {
        let mut t = Throughput::default();
        t.observe_request(100.0);
        t.observe_upload(10_000_000, 1_050.0); // ~10 MB/s after latency
        let first = t.upload_rate();
        assert!((9_000.0..11_000.0).contains(&first), "{first}");
        t.observe_upload(1_000_000, 1_050.0); // one slow step
        let after = t.upload_rate();
        assert!(after < first && after > first / 2.0, "{after}");
        // Nonsense is ignored.
        t.observe_upload(10_000_000, f64::NAN);
        t.observe_upload(10, 1.0);
        assert_eq!(t.upload_rate(), after);
    }

    #[test]
    fn hashing_estimate_follows_measurement() {
        let mut t = Throughput::default();
        t.observe_hash(8 * 1024 * 1024, 40.0);
        assert!((t.hash_ms(8 * 1024 * 1024) - 40.0).abs() < 1.0);
    }
}
