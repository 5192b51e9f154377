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
