//! Planning runs inside the time a platform grants: triggers and their
//! budgets, throughput estimates kept across runs, per-run policies, the
//! lease that keeps one runner per database, and the run records that
//! `diagnose` reads. Pure: the engine applies it, the web layer feeds it.
#![forbid(unsafe_code)]

mod diagnose;
pub mod estimate;
mod lease;
mod plan;
mod report;
mod throughput;
mod trigger;

pub use diagnose::{Environment, Finding, FindingCode, QueueState, Severity, diagnose};
pub use lease::{LEASE_MS, Lease};
pub use plan::{Policies, RunPlan};
pub use report::{Deferred, LiveRun, RunReport, StopReason};
pub use throughput::Throughput;
pub use trigger::Trigger;
