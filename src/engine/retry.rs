//! When a failed item is tried again: exponential backoff with jitter, up
//! to a cap, honouring the server's `Retry-After`.

use crate::queue::ItemId;

/// The first retry waits about this long.
const BASE_MS: u64 = 1_000;
/// No wait exceeds this (before jitter).
const CAP_MS: u64 = 5 * 60 * 1_000;
/// After this many failed attempts in a row an item fails for good.
pub const MAX_ATTEMPTS: u32 = 12;
/// After this many restarts because its source changed, an item fails.
pub const MAX_RESTARTS: u32 = 5;
/// Times an upload may start again with new URLs (expired, lost, refused)
/// before the item fails with that reason. Counted in `Item::restarts`,
/// which progress never resets; a source change counts there too.
pub const MAX_UPLOAD_RESTARTS: u32 = 12;

/// Delay before attempt `attempts + 1`. The jitter (±50%) is derived from
/// the item and attempt, so retries of many items spread out without a
/// random source and a test can predict them.
pub fn backoff_ms(id: ItemId, attempts: u32, retry_after_ms: Option<u64>) -> u64 {
    let exponential = BASE_MS
        .saturating_mul(1u64 << attempts.saturating_sub(1).min(20))
        .min(CAP_MS);
    let jitter = mix(id ^ (u64::from(attempts) << 48)) % (exponential + 1);
    let delay = exponential / 2 + jitter;
    delay.max(retry_after_ms.unwrap_or(0))
}

fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_with_jitter_up_to_the_cap_and_honours_retry_after() {
        for attempts in 1..=20 {
            let expected = (BASE_MS << (attempts - 1).min(20)).min(CAP_MS);
            for id in 0..50 {
                let d = backoff_ms(id, attempts, None);
                assert!(
                    d >= expected / 2 && d <= expected / 2 + expected,
                    "{attempts}: {d}"
                );
            }
        }
        let spread: std::collections::HashSet<_> =
            (0..50).map(|id| backoff_ms(id, 3, None)).collect();
        assert!(spread.len() > 10, "jitter spreads items apart");
        assert_eq!(backoff_ms(1, 1, Some(60_000)), 60_000);
    }
}
