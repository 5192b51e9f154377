//! `Ferry.sync`, `runs` and `diagnose`: runs under a budget, one runner per
//! database, and what the run records say. The planning is the scheduler's;
//! this file checks arguments and asks the platform (Web Locks, the link).

use std::rc::Rc;

use js_sys::{Function, Promise};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

use super::FerryError;
use super::ferry::{Ferry, WebEngine};
use super::global::monotonic_ms;
use super::queue_js::{bool_field, field, number_field, string_field, to_js};
use crate::scheduler::{Deferred, Environment, Policies, RunPlan, RunReport, StopReason, Trigger};

#[wasm_bindgen(module = "/src/web/platform.js")]
extern "C" {
    #[wasm_bindgen(js_name = tryLock)]
    fn try_lock(name: &str) -> Promise;
    #[wasm_bindgen(js_name = meteredLink)]
    fn metered_link() -> bool;
    #[wasm_bindgen(js_name = detectEnvironment)]
    fn detect_environment() -> Promise;
}

/// The run's trigger and budget from `SyncOptions`, checked.
fn trigger_and_budget(options: &JsValue) -> Result<(Trigger, Option<f64>), FerryError> {
    let trigger = match string_field(options, "trigger")? {
        None => Trigger::Foreground,
        Some(name) => Trigger::parse(&name).ok_or_else(|| {
            let mut message = format!("unknown trigger \"{name}\": use one of");
            for (n, trigger) in Trigger::ALL.iter().enumerate() {
                message.push_str(if n == 0 { " " } else { ", " });
                message.push_str(trigger.name());
            }
            FerryError::bad_input(message)
        })?,
    };
    let budget = match number_field(options, "budgetMs")? {
        None => trigger.default_budget_ms(),
        Some(b) if b.is_finite() && b >= 0.0 => Some(b),
        // Not echoing the number: printing an f64 costs ~15 KB of wasm.
        Some(_) => {
            return Err(FerryError::bad_input(
                "`budgetMs` must be a finite number of ms, 0 or more",
            ));
        }
    };
    Ok((trigger, budget))
}

fn abort_signal(options: &JsValue) -> Result<Option<web_sys::AbortSignal>, FerryError> {
    let signal = field(options, "signal");
    if signal.is_undefined() || signal.is_null() {
        return Ok(None);
    }
    signal
        .dyn_into::<web_sys::AbortSignal>()
        .map(Some)
        .map_err(|_| FerryError::bad_input("`signal` must be an AbortSignal"))
}

/// A report for a run that could not start; the engine records it.
fn not_started(plan: &RunPlan, why: StopReason) -> RunReport {
    RunReport::new(plan, super::convert::int(js_sys::Date::now()), why)
}

/// Ends the run in progress at once: the engine stops after the step in
/// flight, whose requests are aborted (that step is redone later). What the
/// host's abort and `close()` both do.
pub(super) fn stop_run(engine: &WebEngine) {
    engine.request_stop();
    engine.env().transport.abort_run();
}

/// Stops the engine's run when the host's signal aborts, for as long as it lives.
struct StopOnAbort {
    signal: web_sys::AbortSignal,
    on_abort: Closure<dyn FnMut()>,
}

impl StopOnAbort {
    fn new(engine: &Rc<WebEngine>, signal: Option<web_sys::AbortSignal>) -> Option<Self> {
        let signal = signal?;
        let stopper = engine.clone();
        let on_abort = Closure::<dyn FnMut()>::new(move || stop_run(&stopper));
        let _ = signal.add_event_listener_with_callback("abort", on_abort.as_ref().unchecked_ref());
        Some(Self { signal, on_abort })
    }
}

impl Drop for StopOnAbort {
    fn drop(&mut self) {
        let _ = self
            .signal
            .remove_event_listener_with_callback("abort", self.on_abort.as_ref().unchecked_ref());
    }
}

async fn run(
    engine: Rc<WebEngine>,
    mut plan: RunPlan,
    lock_name: String,
    signal: Option<web_sys::AbortSignal>,
) -> Result<RunReport, FerryError> {
    if plan.policies.wifi_only && metered_link() {
        let mut report = not_started(&plan, StopReason::Deferred);
        let counts = engine.status().await?.counters;
        report.deferred = Some(Deferred {
            wifi_only: counts.pending(),
            ..Deferred::default()
        });
        engine.record_run(&report).await?;
        return Ok(report);
    }
    let lock = JsFuture::from(try_lock(&lock_name)).await?;
    if lock.is_null() {
        let report = not_started(&plan, StopReason::Busy);
        engine.record_run(&report).await?;
        return Ok(report);
    }
    let release = lock.dyn_into::<Function>().ok();
    plan.use_lease = release.is_none();
    if signal.as_ref().is_some_and(web_sys::AbortSignal::aborted) {
        plan.deadline_ms = Some(plan.started_ms);
    }
    // The host's signal stops the run after the step in flight, whose
    // requests it aborts at once (that step is redone later).
    *engine.env().transport.run_abort.borrow_mut() = web_sys::AbortController::new().ok();
    let stopper = StopOnAbort::new(&engine, signal);
    let result = engine.run_plan(plan).await;
    *engine.env().transport.run_abort.borrow_mut() = None;
    drop(stopper);
    if let Some(release) = release {
        let _ = release.call0(&JsValue::NULL);
    }
    Ok(result?)
}

#[wasm_bindgen]
impl Ferry {
    /// One run within a budget: uploads what fits, stops on its own before
    /// the deadline, records the run, and reports why it stopped. Another
    /// runner on this database (a tab, the service worker) makes it return
    /// at once with `busy`.
    #[wasm_bindgen(unchecked_return_type = "Promise<RunReport>")]
    pub fn sync(
        &self,
        #[wasm_bindgen(unchecked_param_type = "SyncOptions")] options: JsValue,
    ) -> Promise {
        let listeners = self.listeners.clone();
        let lock_name = super::ferry::lock_name(&self.database);
        let policies: Policies = self.policies;
        self.promise(move |engine| async move {
            let options = if options.is_undefined() || options.is_null() {
                js_sys::Object::new().into()
            } else {
                options
            };
            let (trigger, budget_ms) = trigger_and_budget(&options)?;
            let signal = abort_signal(&options)?;
            let mut plan = RunPlan::new(trigger, budget_ms, monotonic_ms());
            plan.policies = policies;
            let report = to_js(&run(engine, plan, lock_name, signal).await?)?;
            listeners.emit("run", &report);
            Ok(report)
        })
    }

    /// The last runs (at most 100 are kept), newest first.
    #[wasm_bindgen(unchecked_return_type = "Promise<RunReport[]>")]
    pub fn runs(&self, limit: Option<f64>) -> Promise {
        self.promise(move |engine| async move {
            let limit = match limit {
                None => 100,
                Some(l) if l >= 0.0 && l.fract() == 0.0 => super::convert::count(l),
                Some(_) => return Err(FerryError::bad_input("`limit` is a whole number")),
            };
            let runs = engine
                .runs(usize::try_from(limit).unwrap_or(usize::MAX))
                .await?;
            to_js(&runs)
        })
    }

    /// Findings about background backup, most severe first, each with
    /// advice in plain words.
    #[wasm_bindgen(unchecked_return_type = "Promise<Finding[]>")]
    pub fn diagnose(
        &self,
        #[wasm_bindgen(unchecked_param_type = "DiagnoseOptions | undefined")] options: JsValue,
    ) -> Promise {
        self.promise(move |engine| async move {
            let detected = JsFuture::from(detect_environment()).await?;
            let pick = |name: &str| -> Result<Option<bool>, FerryError> {
                Ok(bool_field(&options, name)?.or(bool_field(&detected, name)?))
            };
            let quiet_hours = match number_field(&options, "quietHours")? {
                None => 24.0,
                Some(h) if h.is_finite() && h > 0.0 => h,
                Some(_) => {
                    return Err(FerryError::bad_input("`quietHours` is a positive number"));
                }
            };
            let env = Environment {
                now_ms: super::convert::int(js_sys::Date::now()),
                periodic_sync: pick("periodicSync")?,
                background_sync: pick("backgroundSync")?,
                storage_persisted: pick("storagePersisted")?,
                quiet_hours,
            };
            to_js(&engine.diagnose(&env).await?)
        })
    }
}
