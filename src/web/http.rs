//! The engine's `Transport` over `fetch`, aborted through an
//! `AbortController` when the run's deadline comes.

use std::cell::Cell;
use std::rc::Rc;

use js_sys::{Array, Object, Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::AbortController;

use super::convert::describe;
use super::global::{self, Timer};
use crate::engine::ports::Transport;
use crate::protocol::{HttpRequest, HttpResponse, TransportError};

/// `fetch`, aborted at the run's deadline or by the host's `AbortSignal`.
#[derive(Debug, Default)]
pub struct FetchTransport {
    /// Aborts every request of the `sync` in progress: the host's signal
    /// fires it, and so does `close()`.
    pub run_abort: std::cell::RefCell<Option<AbortController>>,
}

impl FetchTransport {
    /// Aborts the requests of the run in progress, if any.
    pub fn abort_run(&self) {
        if let Some(controller) = self.run_abort.borrow().as_ref() {
            controller.abort();
        }
    }
}

fn set(object: &Object, name: &str, value: &JsValue) {
    let _ = Reflect::set(object, &JsValue::from_str(name), value);
}

/// `navigator.onLine`, where the platform reports it.
fn offline() -> bool {
    let navigator = global::get("navigator");
    Reflect::get(&navigator, &JsValue::from_str("onLine"))
        .ok()
        .and_then(|v| v.as_bool())
        .is_some_and(|online| !online)
}

impl Transport for FetchTransport {
    fn send(
        &self,
        request: HttpRequest,
        deadline_ms: Option<f64>,
    ) -> impl Future<Output = Result<HttpResponse, TransportError>> {
        // Started here, not at the first poll: the body leaves wasm memory
        // now, and the request is on the wire while the engine encrypts
        // the next part.
        let started = self.start(request, deadline_ms);
        async move {
            let InFlight {
                promise,
                aborted,
                _deadline,
                _host_abort,
            } = started?;
            let failed = |err: JsValue| failure(&aborted, err);
            let response = JsFuture::from(promise).await.map_err(failed)?;
            let status = Reflect::get(&response, &JsValue::from_str("status"))
                .ok()
                .and_then(|s| s.as_f64())
                .and_then(|s| u16::try_from(super::convert::count(s)).ok())
                .unwrap_or(0);
            let mut headers = Vec::new();
            let header_object =
                Reflect::get(&response, &JsValue::from_str("headers")).map_err(failed)?;
            if let Ok(Some(entries)) = js_sys::try_iter(&header_object) {
                for entry in entries.flatten() {
                    let pair: Array = entry.unchecked_into();
                    if let (Some(name), Some(value)) =
                        (pair.get(0).as_string(), pair.get(1).as_string())
                    {
                        headers.push((name.to_ascii_lowercase(), value));
                    }
                }
            }
            let array_buffer = Reflect::get(&response, &JsValue::from_str("arrayBuffer"))
                .ok()
                .and_then(|f| f.dyn_into::<js_sys::Function>().ok())
                .ok_or_else(|| TransportError::Network("not a fetch Response".into()))?;
            let body = array_buffer.call0(&response).map_err(failed)?;
            let body = JsFuture::from(js_sys::Promise::from(body))
                .await
                .map_err(failed)?;
            Ok(HttpResponse {
                status,
                headers,
                body: Uint8Array::new(&body).to_vec(),
            })
        }
    }
}

/// A `fetch` on the wire, with what aborts it.
struct InFlight {
    promise: js_sys::Promise,
    aborted: Rc<Cell<bool>>,
    _deadline: Option<Timer>,
    _host_abort: Option<HostAbort>,
}

fn failure(aborted: &Cell<bool>, err: JsValue) -> TransportError {
    if aborted.get() {
        TransportError::Aborted
    } else if offline() {
        TransportError::Offline(describe(&err))
    } else {
        // fetch says no more than "Failed to fetch": no answer came at all.
        TransportError::Network(format!(
            "no answer (network trouble, or the server is down): {}",
            describe(&err)
        ))
    }
}

impl FetchTransport {
    fn start(
        &self,
        request: HttpRequest,
        deadline_ms: Option<f64>,
    ) -> Result<InFlight, TransportError> {
        let fetch = global::function("fetch")
            .ok_or_else(|| TransportError::Offline("no fetch here".into()))?;
        let controller =
            AbortController::new().map_err(|e| TransportError::Network(describe(&e)))?;
        let aborted = Rc::new(Cell::new(false));
        let deadline = match deadline_ms {
            Some(deadline) => {
                let remaining = deadline - global::monotonic_ms();
                if remaining <= 0.0 {
                    return Err(TransportError::Aborted);
                }
                let (controller, aborted) = (controller.clone(), aborted.clone());
                Timer::after(remaining, move || {
                    aborted.set(true);
                    controller.abort();
                })
            }
            None => None,
        };

        let host_signal = self
            .run_abort
            .borrow()
            .as_ref()
            .map(AbortController::signal);
        let host_abort = match host_signal {
            Some(signal) if signal.aborted() => return Err(TransportError::Aborted),
            Some(signal) => {
                let (controller, aborted) = (controller.clone(), aborted.clone());
                let on_abort = wasm_bindgen::closure::Closure::<dyn FnMut()>::new(move || {
                    aborted.set(true);
                    controller.abort();
                });
                let _ = signal
                    .add_event_listener_with_callback("abort", on_abort.as_ref().unchecked_ref());
                Some(HostAbort { signal, on_abort })
            }
            None => None,
        };

        let init = Object::new();
        set(&init, "method", &request.method.as_str().into());
        let headers = Object::new();
        for (name, value) in &request.headers {
            set(&headers, name, &value.into());
        }
        set(&init, "headers", &headers);
        if !request.body.is_empty() {
            // A Blob, not the typed array itself: browsers stream a Blob
            // body from blob storage, while a typed-array body is copied
            // again on its way to the network service (and, with DevTools
            // attached, into DevTools' own events, which cut uploads to a
            // tenth of the link's speed).
            //
            // Through a JavaScript copy, not a view of wasm memory, though
            // the constructor copies anyway: a part's Blob holds blob
            // storage until it is garbage-collected, and only the copies'
            // weight on V8's heap makes collections come often enough. Built
            // from views, a 256 MiB upload in a fresh page filled blob
            // storage in three runs of three, and the stored copy read as
            // NotReadableError.
            let bytes = Array::of1(&Uint8Array::from(request.body.as_slice()));
            let blob = web_sys::Blob::new_with_u8_array_sequence(&bytes)
                .map_err(|e| TransportError::Network(describe(&e)))?;
            set(&init, "body", &blob.into());
        }
        // The copy above is the one that travels; free ours before the wait.
        let HttpRequest { url, .. } = request;
        set(&init, "signal", &controller.signal());
        // Never send cookies: every call is authorised by token or signature.
        set(&init, "credentials", &"omit".into());
        let promise = fetch
            .call2(&js_sys::global(), &JsValue::from_str(&url), &init)
            .map_err(|err| failure(&aborted, err))?;
        Ok(InFlight {
            promise: js_sys::Promise::from(promise),
            aborted,
            _deadline: deadline,
            _host_abort: host_abort,
        })
    }
}

/// Removes the abort listener from the host's signal when the request ends.
struct HostAbort {
    signal: web_sys::AbortSignal,
    on_abort: wasm_bindgen::closure::Closure<dyn FnMut()>,
}

impl Drop for HostAbort {
    fn drop(&mut self) {
        let _ = self
            .signal
            .remove_event_listener_with_callback("abort", self.on_abort.as_ref().unchecked_ref());
    }
}
