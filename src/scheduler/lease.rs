//! The database lease: one runner at a time where Web Locks are missing.
//! Held in the store under a wall-clock expiry (page and service worker
//! share no monotonic clock), taken and renewed by compare-and-swap, so two
//! runners starting together cannot both win. A runner that dies leaves a
//! lease that simply expires.

use crate::codec::struct_record;

/// How long a lease lasts without renewal. Runners renew before each step,
/// so this only bounds how long a dead runner blocks the next one.
pub const LEASE_MS: i64 = 30_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lease {
    /// Random per run.
    pub holder: u64,
    pub expires_ms: i64,
}

struct_record!(Lease { holder, expires_ms });

impl Lease {
    /// Whether a runner `holder` may take over `current` at `now_ms`.
    pub fn can_take(current: Option<&Lease>, holder: u64, now_ms: i64) -> bool {
        current.is_none_or(|lease| lease.holder == holder || lease.expired(now_ms))
    }

    /// Whether the runner that holds it has let it lapse (or died) by `now_ms`.
    pub fn expired(&self, now_ms: i64) -> bool {
        self.expires_ms <= now_ms
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_live_lease_of_another_holder_is_respected() {
        let lease = Lease {
            holder: 1,
            expires_ms: 1_000,
        };
        assert!(Lease::can_take(None, 2, 0));
        assert!(!Lease::can_take(Some(&lease), 2, 999));
        assert!(Lease::can_take(Some(&lease), 2, 1_000), "expired");
        assert!(Lease::can_take(Some(&lease), 1, 0), "renewal");
    }
}
