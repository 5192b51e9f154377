//! Ferry: the sync core for end-to-end encrypted background photo backup.
//!
//! Everything outside `web` is plain Rust with no browser dependency; `web`
//! holds the wasm-bindgen bindings and is compiled only for wasm32.

pub mod codec;
pub mod crypto;
pub mod engine;
pub mod media;
pub mod protocol;
pub mod queue;
pub mod scheduler;
pub mod store;

#[cfg(target_arch = "wasm32")]
pub mod web;
