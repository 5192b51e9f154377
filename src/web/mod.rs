//! JavaScript bindings (wasm32 only). Thin by design: argument checks, type
//! conversions and error mapping; all behaviour lives in the pure modules.
#![allow(unsafe_code)] // wasm-bindgen's generated glue

mod clock;
mod convert;
pub mod crypto;
mod error;
pub mod ferry;
mod global;
mod http;
mod queue_js;
mod runs;
mod sources;
pub mod store;
pub mod vault;

pub use error::FerryError;

/// The heap. Not the default dlmalloc: talc's wasm allocator is a third of
/// its code size and faster, and memory only grows as with dlmalloc
/// (wasm pages are never given back).
#[global_allocator]
static HEAP: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();
