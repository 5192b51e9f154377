//! The few globals Ferry calls, looked up on `globalThis` so the same code
//! runs in a window, a dedicated worker and a service worker.

use js_sys::{Function, Promise, Reflect};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

pub fn get(name: &str) -> JsValue {
    Reflect::get(&js_sys::global(), &JsValue::from_str(name)).unwrap_or(JsValue::UNDEFINED)
}

pub fn function(name: &str) -> Option<Function> {
    get(name).dyn_into::<Function>().ok()
}

/// `performance.now()`, or `Date.now()` where there is no `performance`.
pub fn monotonic_ms() -> f64 {
    let performance = get("performance");
    Reflect::get(&performance, &JsValue::from_str("now"))
        .ok()
        .and_then(|now| now.dyn_into::<Function>().ok())
        .and_then(|now| now.call0(&performance).ok())
        .and_then(|v| v.as_f64())
        .unwrap_or_else(js_sys::Date::now)
}

/// Resolves after `ms` milliseconds (a `setTimeout` promise).
pub async fn sleep_ms(ms: f64) {
    let Some(set_timeout) = function("setTimeout") else {
        return;
    };
    let promise = Promise::new(&mut |resolve, _| {
        let _ = set_timeout.call2(&js_sys::global(), &resolve, &JsValue::from_f64(ms.max(0.0)));
    });
    let _ = JsFuture::from(promise).await;
}

/// Calls `callback` once after `ms`; dropping the returned guard cancels it.
pub struct Timer {
    id: JsValue,
    _callback: Closure<dyn FnMut()>,
}

impl Timer {
    pub fn after(ms: f64, callback: impl FnOnce() + 'static) -> Option<Self> {
        let set_timeout = function("setTimeout")?;
        let mut callback = Some(callback);
        let closure = Closure::<dyn FnMut()>::new(move || {
            if let Some(callback) = callback.take() {
                callback();
            }
        });
        let id = set_timeout
            .call2(
                &js_sys::global(),
                closure.as_ref(),
                &JsValue::from_f64(ms.max(0.0)),
            )
            .ok()?;
        Some(Self {
            id,
            _callback: closure,
        })
    }
}

impl Drop for Timer {
    fn drop(&mut self) {
        if let Some(clear) = function("clearTimeout") {
            let _ = clear.call1(&js_sys::global(), &self.id);
        }
    }
}

impl std::fmt::Debug for Timer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Timer")
    }
}
