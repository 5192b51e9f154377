//! Budget fidelity in the native engine: 50 runs, each under a budget,
//! over a modelled link whose speed changes from run to run. The link is
//! virtual time (latency + bytes ÷ rate on the engine's clock) in front of
//! the real reference server, so every byte is still really hashed,
//! encrypted, uploaded and checked. Reports how far runs overrun their
//! deadline, how much of what the link could carry they used, and how many
//! bytes a run threw away (requests cut off at the deadline).
//!
//! `cargo bench -p ferry-sync --bench budget` (npm run bench runs it).
//! Native only: the engine under test runs over native ports, as in
//! `tests/engine.rs`; on wasm32 this target is empty.
#![cfg_attr(target_arch = "wasm32", no_main)]
#![cfg(not(target_arch = "wasm32"))]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::cast_possible_truncation,
    clippy::cast_precision_loss,
    clippy::cast_sign_loss,
    missing_debug_implementations
)]

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "../tests/engine_support/mod.rs"]
mod engine_support;

use std::cell::Cell;

use engine_support::{FastClock, HttpTransport, MemSources, MemStore, TestVault, create_album};
use ferry_sync::crypto::Key;
use ferry_sync::engine::ports::{Clock, Transport};
use ferry_sync::engine::{Engine, EngineConfig, Env};
use ferry_sync::protocol::{Endpoint, HttpRequest, HttpResponse, TransportError};
use ferry_sync::queue::{FileType, NewItem};
use ferry_sync::scheduler::{RunPlan, Trigger};

const RUNS: usize = 50;
const MIB: usize = 1024 * 1024;

/// A link of `bytes_per_ms` and `latency_ms`, in virtual time.
struct ModelledLink {
    inner: HttpTransport,
    clock: FastClock,
    bytes_per_ms: Cell<f64>,
    latency_ms: Cell<f64>,
    discarded: Cell<u64>,
    /// Requests between their turn on the clock and their answer.
    in_flight: Cell<u32>,
}

impl Transport for ModelledLink {
    async fn send(
        &self,
        request: HttpRequest,
        deadline_ms: Option<f64>,
    ) -> Result<HttpResponse, TransportError> {
        // The link's bandwidth is one: every request's bytes take their turn
        // on the clock. Its latency is not: a request that starts while
        // another is on the wire waits for its answer while that one
        // transfers, as on a real link, so only a request started alone
        // adds its round trip.
        let latency = if self.in_flight.get() == 0 {
            self.latency_ms.get()
        } else {
            0.0
        };
        let cost = latency + request.body.len() as f64 / self.bytes_per_ms.get();
        let now = self.clock.monotonic_ms();
        if let Some(deadline) = deadline_ms
            && now + cost > deadline
        {
            // Cut off at the deadline: the time passes, and what went on the
            // wire before it is lost.
            let on_wire = ((deadline - now - latency).max(0.0) * self.bytes_per_ms.get())
                .min(request.body.len() as f64);
            self.clock
                .sleep_ms((deadline - now).max(0.0).ceil() as u64)
                .await;
            self.discarded.set(self.discarded.get() + on_wire as u64);
            return Err(TransportError::Aborted);
        }
        self.clock.sleep_ms(cost.ceil() as u64).await;
        self.in_flight.set(self.in_flight.get() + 1);
        let answer = self.inner.send(request, None).await;
        self.in_flight.set(self.in_flight.get() - 1);
        answer
    }
}

/// A small deterministic generator: the same link every time the bench runs.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn percentile(values: &mut [f64], p: f64) -> f64 {
    values.sort_by(f64::total_cmp);
    let index = ((values.len() - 1) as f64 * p).round() as usize;
    values[index]
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let dir = tempfile::tempdir().unwrap();
    let config = ferry_server::Config::for_tests(dir.path());
    let server = ferry_server::start(config).await.unwrap();
    let collection_id = create_album(&server).await;

    let clock = FastClock::default();
    let sources = MemSources::default();
    let link = ModelledLink {
        inner: HttpTransport::default(),
        clock: clock.clone(),
        bytes_per_ms: Cell::new(1_000.0),
        latency_ms: Cell::new(100.0),
        discarded: Cell::new(0),
        in_flight: Cell::new(0),
    };
    let engine = Engine::new(
        Env {
            store: MemStore::default(),
            transport: link,
            sources: sources.clone(),
            vault: TestVault(Key::generate()),
            clock: clock.clone(),
        },
        Endpoint {
            base_url: server.api_url(),
            token: server.token.clone(),
        },
        EngineConfig::default(),
    );
    engine
        .set_collection_key(collection_id, &Key::generate())
        .await
        .unwrap();

    let mut random = Lcg(20_261_126);
    let mut next_file = 0;
    let mut overruns = Vec::new();
    let mut utilisation = Vec::new();
    let mut discarded = Vec::new();
    let mut largest_part = 0;
    for _ in 0..RUNS {
        // Keep enough queued for the fastest link: photos and a few videos.
        let queued = engine.status().await.unwrap().counters;
        let left: u64 = [
            ferry_sync::queue::PublicState::Queued,
            ferry_sync::queue::PublicState::Uploading,
            ferry_sync::queue::PublicState::Hashing,
        ]
        .iter()
        .map(|s| queued.count(*s))
        .sum();
        if left < 6 {
            let mut items = Vec::new();
            for _ in 0..12 {
                let size = if next_file % 4 == 0 {
                    48 * MIB + next_file
                } else {
                    3 * MIB + next_file
                };
                let name = format!("f{next_file}");
                sources.add(&name, common::pattern(size, next_file as u64));
                items.push(NewItem {
                    collection_id,
                    source: name.clone(),
                    title: format!("{name}.jpg"),
                    file_type: FileType::Image,
                    creation_time: 0,
                    modification_time: 0,
                    thumbnail: None,
                });
                next_file += 1;
            }
            engine.enqueue(items).await.unwrap();
        }
        let rate = 200.0 + random.next() * 3_800.0; // 0.2 to 4 MB/s
        let latency = 30.0 + random.next() * 270.0;
        let budget = if random.next() < 0.7 {
            25_000.0
        } else {
            60_000.0
        };
        let transport = &engine.env().transport;
        transport.bytes_per_ms.set(rate);
        transport.latency_ms.set(latency);
        transport.discarded.set(0);
        let start = clock.monotonic_ms();
        let mut plan = RunPlan::new(Trigger::IosPush, Some(budget), start);
        plan.policies.max_files_per_background_run = None;
        let report = engine.run_plan(plan).await.unwrap();
        let end = clock.monotonic_ms();
        overruns.push((end - (start + budget)).max(0.0));
        utilisation.push(report.bytes_uploaded as f64 / (rate * budget));
        discarded.push(transport.discarded.get() as f64);
        largest_part = 5 * (4 * MIB as u64 + 17);
    }
    let mean = utilisation.iter().sum::<f64>() / utilisation.len() as f64;
    println!(
        "\nBudget fidelity, native engine: {RUNS} runs of 25 or 60 s over a modelled link of 0.2 to 4 MB/s"
    );
    println!("| measurement | p50 | p99 / worst | target |");
    println!("|---|---:|---:|---:|");
    println!(
        "| overrun past the budget | {:.0} ms | {:.0} ms | p99 ≤ 500 ms |",
        percentile(&mut overruns, 0.5),
        percentile(&mut overruns, 0.99)
    );
    println!(
        "| utilisation (bytes ÷ link × budget) | {:.2} | mean {:.2} | ≥ 0.8 |",
        percentile(&mut utilisation, 0.5),
        mean
    );
    println!(
        "| bytes discarded per run | {:.1} MiB | {:.1} MiB | ≤ one part ({:.1} MiB) |",
        percentile(&mut discarded, 0.5) / MIB as f64,
        percentile(&mut discarded, 1.0) / MIB as f64,
        largest_part as f64 / MIB as f64
    );
}
