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

    async fn pace_ms(&self, ms: u64) {
        global::sleep_ms(ms as f64).await;
    }

    fn utc_offset_minutes(&self, utc_ms: i64) -> i32 {
        // getTimezoneOffset() is minutes *behind* UTC, at that date.
        let date = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(utc_ms as f64));
        let behind = date.get_timezone_offset();
        i32::try_from(-super::convert::int(behind)).unwrap_or(0)
    }
}
