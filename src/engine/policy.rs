//! What a failed step means for its item, decided from the failure and the
//! item's counts alone: try the step again later, start the upload or the
//! whole file over, fail the item for good, or pause the queue. No I/O and no
//! clock: `Engine::step` records what this decides.

use super::retry::{MAX_ATTEMPTS, MAX_RESTARTS, MAX_UPLOAD_RESTARTS, backoff_ms};
use crate::protocol::{BlockedReason, Failure, ItemErrorCode};
use crate::queue::{ItemError, ItemId};

/// How a step went wrong, as far as the item's next state goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Setback {
    /// An exchange or a read failed, as `protocol::classify` and the
    /// source say.
    Failure(Failure),
    /// The source is no longer the file first seen (size or date).
    SourceChanged,
}

/// The item's counts the limits apply to, and its id (the backoff's jitter).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Tries {
    pub id: ItemId,
    /// Failed attempts in a row; any step that succeeds resets it.
    pub attempts: u32,
    /// Starts over (source changes, uploads begun again); never reset.
    pub restarts: u32,
    /// The last failure had no answer (see `Failure::NoAnswer`): `attempts`
    /// then counts unanswered tries, which only pace the backoff.
    pub after_no_answer: bool,
}

/// When an item gives up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Limits {
    /// Failures with an answer in a row (`Transient`) before the item fails.
    pub max_attempts: u32,
    /// Source changes survived; one more fails the item.
    pub max_restarts: u32,
    /// Restarts (of either kind) at which an upload begun again fails.
    pub max_upload_restarts: u32,
}

impl Limits {
    pub const DEFAULT: Self = Self {
        max_attempts: MAX_ATTEMPTS,
        max_restarts: MAX_RESTARTS,
        max_upload_restarts: MAX_UPLOAD_RESTARTS,
    };
}

/// What becomes of the item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Decision {
    /// Not the item's fault (the run's deadline, the host's abort): nothing
    /// is recorded, and the step is done again by a later run.
    Redo,
    /// Nothing can succeed until the host acts: the whole queue pauses, and
    /// the item is left as it was.
    Block(BlockedReason),
    /// The item is recorded with these counts, then goes on as `next` says;
    /// `error` is why (the error it fails with, or its last error).
    Record {
        attempts: u32,
        restarts: u32,
        next: Next,
        error: ItemError,
    },
}

/// Where a recorded item goes on from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Next {
    /// It fails for good, with the error.
    Fail,
    /// The same step again once `delay_ms` has passed.
    Retry { delay_ms: u64 },
    /// The upload begins again at once with a new key and new URLs; the
    /// content hash is kept.
    UploadAgain,
    /// It starts over from `queued` with the file as it is now: at once the
    /// first time, after a growing wait when it keeps changing.
    StartOver { delay_ms: Option<u64> },
}

/// The next state of an item whose step met `setback`.
pub(super) fn next_state(setback: Setback, tries: Tries, limits: &Limits) -> Decision {
    let Tries {
        id,
        mut attempts,
        mut restarts,
        after_no_answer,
    } = tries;
    let (next, code, message): (Next, String, String) = match setback {
        Setback::SourceChanged => {
            restarts += 1;
            if restarts > limits.max_restarts {
                (
                    Next::Fail,
                    ItemErrorCode::SourceUnstable.name().into(),
                    "the file kept changing while it was read (still being written, or no \
                     longer readable); add it again once it is complete"
                        .into(),
                )
            } else {
                // A file edited once starts over at once; one that keeps
                // changing waits longer each time instead of spinning.
                let delay_ms = (restarts > 1).then(|| backoff_ms(id, restarts - 1, None));
                (
                    Next::StartOver { delay_ms },
                    ItemErrorCode::SourceChanged.name().into(),
                    "the file changed during upload; starting over with a new key".into(),
                )
            }
        }
        Setback::Failure(Failure::Interrupted) => return Decision::Redo,
        Setback::Failure(Failure::Blocked(reason)) => return Decision::Block(reason),
        Setback::Failure(Failure::Permanent { code, why }) => (Next::Fail, code, why),
        Setback::Failure(Failure::UploadAgain { code, why }) => {
            // Counted where progress does not reset the count: between two
            // refusals the thumbnail and the new URLs succeed, so a store
            // that refuses every part (a clock skewed by hours) would
            // otherwise start the upload again for ever.
            restarts += 1;
            let next = if restarts >= limits.max_upload_restarts {
                Next::Fail
            } else {
                Next::UploadAgain
            };
            (next, code.name().into(), why)
        }
        Setback::Failure(Failure::Transient {
            retry_after_ms,
            why,
        }) => {
            // The first answer after an outage counts from one: the
            // unanswered tries before it must not use the item's attempts up.
            if after_no_answer {
                attempts = 0;
            }
            attempts += 1;
            if attempts >= limits.max_attempts {
                (
                    Next::Fail,
                    ItemErrorCode::TooManyAttempts.name().into(),
                    why,
                )
            } else {
                let delay_ms = backoff_ms(id, attempts, retry_after_ms);
                (
                    Next::Retry { delay_ms },
                    ItemErrorCode::Retrying.name().into(),
                    why,
                )
            }
        }
        // No answer at all (the network or the server down): the backoff
        // grows to its cap, and the item never fails for it.
        Setback::Failure(Failure::NoAnswer { code, why }) => {
            attempts = attempts.saturating_add(1);
            let delay_ms = backoff_ms(id, attempts, None);
            (Next::Retry { delay_ms }, code.name().into(), why)
        }
    };
    Decision::Record {
        attempts,
        restarts,
        next,
        error: ItemError { code, message },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{HttpResponse, Peer, TransportError, classify, classify_transport};

    const FRESH: Tries = Tries {
        id: 7,
        attempts: 0,
        restarts: 0,
        after_no_answer: false,
    };

    fn answer(status: u16, headers: &[(&str, &str)], body: &str) -> Failure {
        classify(&HttpResponse::sample(status, headers, body), Peer::Api).expect("a failure")
    }

    fn decide(failure: Failure, tries: Tries) -> Decision {
        next_state(Setback::Failure(failure), tries, &Limits::DEFAULT)
    }

    fn transient(why: &str) -> Failure {
        Failure::Transient {
            retry_after_ms: None,
            why: why.into(),
        }
    }

    fn record(attempts: u32, restarts: u32, next: Next, code: &str, message: &str) -> Decision {
        Decision::Record {
            attempts,
            restarts,
            next,
            error: ItemError {
                code: code.into(),
                message: message.into(),
            },
        }
    }

    #[test]
    fn the_deadline_or_an_abort_records_nothing() {
        assert_eq!(
            decide(
                classify_transport(&TransportError::Aborted, Peer::Api),
                FRESH
            ),
            Decision::Redo
        );
        // Not even near a limit does it count.
        let worn = Tries {
            attempts: MAX_ATTEMPTS - 1,
            restarts: MAX_UPLOAD_RESTARTS - 1,
            ..FRESH
        };
        assert_eq!(decide(Failure::Interrupted, worn), Decision::Redo);
    }

    #[test]
    fn account_wide_refusals_block_the_queue_and_leave_the_item() {
        let worn = Tries {
            attempts: MAX_ATTEMPTS - 1,
            ..FRESH
        };
        for (status, reason) in [
            (401, BlockedReason::Auth),
            (402, BlockedReason::Payment),
            (426, BlockedReason::Quota),
        ] {
            assert_eq!(
                decide(answer(status, &[], "{}"), worn),
                Decision::Block(reason),
                "{status}"
            );
        }
        assert_eq!(
            decide(
                classify_transport(&TransportError::Offline("no route".into()), Peer::Api),
                worn
            ),
            Decision::Block(BlockedReason::Offline)
        );
        assert_eq!(
            decide(Failure::Blocked(BlockedReason::Permission), FRESH),
            Decision::Block(BlockedReason::Permission)
        );
    }

    #[test]
    fn a_permanent_refusal_fails_with_its_code_and_counts_unchanged() {
        let tries = Tries {
            id: 3,
            attempts: 4,
            restarts: 2,
            after_no_answer: false,
        };
        assert_eq!(
            decide(answer(413, &[], "{}"), tries),
            record(4, 2, Next::Fail, "FILE_TOO_LARGE", "HTTP 413: no details")
        );
        // The server's own code passes through.
        assert_eq!(
            decide(
                answer(409, &[], r#"{"code":"OBJECT_IN_USE","message":"taken"}"#),
                FRESH
            ),
            record(0, 0, Next::Fail, "OBJECT_IN_USE", "HTTP 409: taken")
        );
    }

    #[test]
    fn a_transient_failure_retries_with_backoff_until_the_attempts_run_out() {
        for attempts in 0..MAX_ATTEMPTS - 1 {
            let tries = Tries {
                attempts,
                restarts: 2,
                ..FRESH
            };
            let delay_ms = backoff_ms(FRESH.id, attempts + 1, None);
            assert_eq!(
                decide(transient("HTTP 503: no details"), tries),
                record(
                    attempts + 1,
                    2,
                    Next::Retry { delay_ms },
                    "RETRYING",
                    "HTTP 503: no details"
                ),
                "after {attempts} attempts"
            );
        }
        // Later attempts wait longer.
        let delay = |attempts| match decide(transient("x"), Tries { attempts, ..FRESH }) {
            Decision::Record {
                next: Next::Retry { delay_ms },
                ..
            } => delay_ms,
            other => panic!("{other:?}"),
        };
        assert!(delay(8) > delay(1) * 4, "{} vs {}", delay(8), delay(1));
        // The last attempt allowed fails the item, with the reason.
        let tries = Tries {
            attempts: MAX_ATTEMPTS - 1,
            restarts: 1,
            ..FRESH
        };
        assert_eq!(
            decide(transient("HTTP 500: boom"), tries),
            record(
                MAX_ATTEMPTS,
                1,
                Next::Fail,
                "TOO_MANY_ATTEMPTS",
                "HTTP 500: boom"
            )
        );
    }

    #[test]
    fn retry_after_is_waited_for_at_least() {
        let decision = decide(answer(429, &[("Retry-After", "120")], "{}"), FRESH);
        assert!(
            matches!(
                decision,
                Decision::Record {
                    next: Next::Retry { delay_ms: 120_000 },
                    ..
                }
            ),
            "longer than the first backoff: {decision:?}"
        );
    }

    #[test]
    fn no_answer_retries_for_ever_and_never_fails_the_item() {
        for (peer, code) in [
            (Peer::Api, "NO_ANSWER"),
            (Peer::ObjectStore, "STORE_UNREACHABLE"),
        ] {
            for attempts in [0, MAX_ATTEMPTS - 1, MAX_ATTEMPTS, 1_000, u32::MAX] {
                let tries = Tries { attempts, ..FRESH };
                let next = attempts.saturating_add(1);
                let delay_ms = backoff_ms(FRESH.id, next, None);
                assert_eq!(
                    decide(
                        classify_transport(&TransportError::Network("reset".into()), peer),
                        tries
                    ),
                    record(next, 0, Next::Retry { delay_ms }, code, "reset"),
                    "after {attempts} attempts"
                );
            }
        }
    }

    /// Back from a long outage, the server's first answer is often a 503:
    /// it starts the count of answered failures, it does not end it.
    #[test]
    fn the_first_answer_after_an_outage_counts_from_one() {
        let after_outage = Tries {
            attempts: MAX_ATTEMPTS + 40,
            after_no_answer: true,
            ..FRESH
        };
        let delay_ms = backoff_ms(FRESH.id, 1, None);
        assert_eq!(
            decide(transient("503"), after_outage),
            record(1, 0, Next::Retry { delay_ms }, "RETRYING", "503")
        );
        // Without the outage, the same count is used up.
        let worn = Tries {
            after_no_answer: false,
            ..after_outage
        };
        assert!(matches!(
            decide(transient("503"), worn),
            Decision::Record {
                next: Next::Fail,
                ..
            }
        ));
    }

    #[test]
    fn an_upload_begins_again_until_its_restarts_are_capped() {
        let expired = || Failure::UploadAgain {
            code: ItemErrorCode::UrlExpired,
            why: "an upload URL expired".into(),
        };
        for restarts in 0..MAX_UPLOAD_RESTARTS - 1 {
            // Attempts neither count nor change: the upload starts at once.
            let tries = Tries {
                attempts: 5,
                restarts,
                ..FRESH
            };
            assert_eq!(
                decide(expired(), tries),
                record(
                    5,
                    restarts + 1,
                    Next::UploadAgain,
                    "URL_EXPIRED",
                    "an upload URL expired"
                ),
                "after {restarts} restarts"
            );
        }
        let tries = Tries {
            attempts: 5,
            restarts: MAX_UPLOAD_RESTARTS - 1,
            ..FRESH
        };
        assert_eq!(
            decide(expired(), tries),
            record(
                5,
                MAX_UPLOAD_RESTARTS,
                Next::Fail,
                "URL_EXPIRED",
                "an upload URL expired"
            )
        );
    }

    #[test]
    fn a_changed_file_starts_over_at_once_then_waits_longer_then_fails() {
        let change = |restarts| {
            next_state(
                Setback::SourceChanged,
                Tries {
                    attempts: 3,
                    restarts,
                    ..FRESH
                },
                &Limits::DEFAULT,
            )
        };
        let changed = "the file changed during upload; starting over with a new key";
        assert_eq!(
            change(0),
            record(
                3,
                1,
                Next::StartOver { delay_ms: None },
                "SOURCE_CHANGED",
                changed
            )
        );
        for restarts in 1..MAX_RESTARTS {
            let delay_ms = Some(backoff_ms(FRESH.id, restarts, None));
            assert_eq!(
                change(restarts),
                record(
                    3,
                    restarts + 1,
                    Next::StartOver { delay_ms },
                    "SOURCE_CHANGED",
                    changed
                ),
                "after {restarts} restarts"
            );
        }
        let Decision::Record {
            attempts,
            restarts,
            next: Next::Fail,
            error,
        } = change(MAX_RESTARTS)
        else {
            panic!("one change too many fails the item");
        };
        assert_eq!((attempts, restarts), (3, MAX_RESTARTS + 1));
        assert_eq!(error.code, "SOURCE_UNSTABLE");
        // Upload restarts count too: a file that changes after its upload
        // began again many times has no changes left.
        assert!(matches!(
            change(MAX_UPLOAD_RESTARTS - 1),
            Decision::Record {
                next: Next::Fail,
                ..
            }
        ));
    }

    #[test]
    fn the_limits_given_are_the_ones_applied() {
        let strict = Limits {
            max_attempts: 2,
            max_restarts: 0,
            max_upload_restarts: 1,
        };
        let next_of = |setback, tries| match next_state(setback, tries, &strict) {
            Decision::Record {
                attempts,
                restarts,
                next,
                ..
            } => (attempts, restarts, next),
            other => panic!("{other:?}"),
        };
        assert!(matches!(
            next_of(Setback::Failure(transient("x")), FRESH),
            (1, 0, Next::Retry { .. })
        ));
        let once = Tries {
            attempts: 1,
            ..FRESH
        };
        assert_eq!(
            next_of(Setback::Failure(transient("x")), once),
            (2, 0, Next::Fail)
        );
        assert_eq!(next_of(Setback::SourceChanged, FRESH), (0, 1, Next::Fail));
        let lost = Failure::UploadAgain {
            code: ItemErrorCode::UploadLost,
            why: "gone".into(),
        };
        assert_eq!(next_of(Setback::Failure(lost), FRESH), (0, 1, Next::Fail));
    }
}
