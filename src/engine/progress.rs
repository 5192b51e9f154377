//! Progress a person can watch: how far each file is hashed and sent,
//! reported at least every [`PROGRESS_EVERY_MS`] while a step of the file
//! is under way, never going back while its upload stands.
//!
//! A part of up to 20 MiB takes seconds on a phone's uplink, and `fetch`
//! reports nothing while its body goes out (a service worker has no other
//! way to send). So while parts are on the wire, the bytes sent are
//! estimated from the link's measured rate, and never past most of what is
//! in flight: when the parts land, the recorded figure is larger. Between
//! parts (a thumbnail, URLs, the registration) the last figures are
//! reported again: the file is still being worked on.

use std::future::Future;
use std::task::Poll;

use super::ports::{Clock, Sources, Store, Transport, Vault};
use super::{Engine, EngineEvent};
use crate::crypto::encrypted_size;
use crate::queue::{Item, ItemId, Step};

/// How often progress is reported while a step is under way.
pub(super) const PROGRESS_EVERY_MS: u64 = 500;
/// Estimates stop at this share of the bytes in flight: the recorded
/// figure, when the parts land, is always ahead of the last estimate.
const ESTIMATE_CAP: f64 = 0.95;
/// Items whose last report is remembered (those in flight, and a few left
/// part-way): the oldest are forgotten first.
const REMEMBERED: usize = 64;

/// What was last reported for an item, and its parts on the wire.
#[derive(Debug, Clone, Copy)]
pub(super) struct Shown {
    id: ItemId,
    hashed: u64,
    sent: u64,
    /// Recorded bytes sent when the parts in flight went out.
    recorded: u64,
    /// Bytes of the parts in flight (0: none), and since when.
    flying: u64,
    flying_since_ms: f64,
}

impl<S: Store, T: Transport, R: Sources, V: Vault, C: Clock> Engine<S, T, R, V, C> {
    /// Runs `step` (a step of `item`), reporting `item`'s progress every
    /// [`PROGRESS_EVERY_MS`] until it ends. One place polls the step, so
    /// the wasm holds one copy of its state machine.
    pub(super) async fn paced<F: Future>(&self, item: &Item, step: F) -> F::Output {
        let mut step = std::pin::pin!(step);
        let mut ticks = std::pin::pin!(self.tick(item));
        let mut ticking = true;
        std::future::poll_fn(|cx| {
            if let Poll::Ready(out) = step.as_mut().poll(cx) {
                return Poll::Ready(out);
            }
            if ticking && ticks.as_mut().poll(cx).is_ready() {
                ticking = false;
            }
            Poll::Pending
        })
        .await
    }

    /// Reports `item` every [`PROGRESS_EVERY_MS`]; returns only under a
    /// clock that does not wait (which would spin here).
    async fn tick(&self, item: &Item) {
        let clock = &self.env.clock;
        loop {
            let before = clock.monotonic_ms();
            clock.pace_ms(PROGRESS_EVERY_MS).await;
            let now = clock.monotonic_ms();
            if now - before < PROGRESS_EVERY_MS as f64 / 2.0 {
                return;
            }
            let shown = self.shown(item);
            let cap = shown.flying as f64 * ESTIMATE_CAP;
            let so_far = self.link_rate.get() * (now - shown.flying_since_ms);
            // Not `f64::clamp`: its NaN assertion formats floats, 10 KB of wasm.
            #[allow(
                clippy::manual_clamp,
                clippy::cast_possible_truncation,
                clippy::cast_sign_loss
            )] // 0..=cap
            let estimate = so_far.min(cap).max(0.0) as u64;
            self.report(item, shown.hashed, shown.recorded + estimate, true);
        }
    }

    /// Parts carrying `flying` bytes went out after `recorded` bytes.
    pub(super) fn parts_out(&self, id: ItemId, recorded: u64, flying: u64) {
        let now = self.env.clock.monotonic_ms();
        self.with_shown(id, |s| {
            s.recorded = recorded;
            s.flying = flying;
            s.flying_since_ms = now;
        });
    }

    pub(super) fn parts_landed(&self, id: ItemId) {
        self.with_shown(id, |s| s.flying = 0);
    }

    /// Reports what `item`'s record now says, once recorded: how much is
    /// hashed and sent. An upload that started again (new key, new
    /// object) is reported from its new start.
    pub(super) fn report_recorded(&self, before: &Item, after: &Item) {
        let size = after.size.unwrap_or(0);
        let (hashed, sent) = match &after.step {
            Step::Hashing { hashed, .. } => (*hashed, 0),
            Step::Uploading(upload) => (size, upload.bytes_sent),
            _ => {
                self.shown_progress
                    .borrow_mut()
                    .retain(|s| s.id != after.id);
                return;
            }
        };
        let sent_before = match &before.step {
            Step::Uploading(upload) => upload.bytes_sent,
            _ => 0,
        };
        if sent < sent_before {
            self.shown_progress
                .borrow_mut()
                .retain(|s| s.id != after.id);
        }
        self.with_shown(after.id, |s| s.recorded = sent);
        self.report(after, hashed, sent, false);
    }

    /// Reports `item` at `hashed` and `sent` or the last report, whichever
    /// is further; unless `again`, only when that says something new.
    fn report(&self, item: &Item, hashed: u64, sent: u64, again: bool) {
        let mut moved = false;
        let shown = self.with_shown(item.id, |s| {
            moved = hashed > s.hashed || sent > s.sent;
            s.hashed = s.hashed.max(hashed);
            s.sent = s.sent.max(sent);
        });
        if !moved && !again {
            return;
        }
        let size = item.size.unwrap_or(shown.hashed);
        self.notify(&EngineEvent::Progress {
            item,
            bytes_hashed: shown.hashed,
            bytes_sent: shown.sent,
            encrypted_size: encrypted_size(size),
        });
    }

    fn shown(&self, item: &Item) -> Shown {
        self.with_shown(item.id, |_| {})
    }

    /// Applies `change` to the item's entry (made if missing) and returns it.
    fn with_shown(&self, id: ItemId, change: impl FnOnce(&mut Shown)) -> Shown {
        let mut remembered = self.shown_progress.borrow_mut();
        let at = match remembered.iter().position(|s| s.id == id) {
            Some(at) => at,
            None => {
                if remembered.len() >= REMEMBERED {
                    remembered.remove(0);
                }
                remembered.push(Shown {
                    id,
                    hashed: 0,
                    sent: 0,
                    recorded: 0,
                    flying: 0,
                    flying_since_ms: 0.0,
                });
                remembered.len() - 1
            }
        };
        change(&mut remembered[at]);
        remembered[at]
    }
}
