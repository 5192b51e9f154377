//! The engine's `Clock` in the browser.

use super::global;
use crate::engine::ports::Clock;

#[derive(Debug, Default)]
pub struct WebClock;

impl Clock for WebClock {
    fn now_ms(&self) -> i64 {
        // Date.now() is a whole number of milliseconds.
        super::convert::int(js_sys::Date::now())
    }

    fn monotonic_ms(&self) -> f64 {
        global::monotonic_ms()
    }

    async fn sleep_ms(&self, ms: u64) {
        global::sleep_ms(ms as f64).await;
    }
}
