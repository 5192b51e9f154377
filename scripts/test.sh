#!/usr/bin/env bash
# Every test: lint, native Rust, wasm in headless Chromium, JS against pkg/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export FERRY_SKIP_SETUP=1

section() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

section "cargo fmt --check"
cargo fmt --all -- --check

section "cargo clippy (native, all targets)"
cargo clippy --workspace --all-targets -- -D warnings

section "cargo clippy (wasm32: the web bindings and wasm tests)"
cargo clippy --target wasm32-unknown-unknown -p ferry-sync --lib --tests -- -D warnings

section "cargo test (native core)"
cargo test --workspace

section "wasm-bindgen tests in headless Chromium"
CHROMEDRIVER=$(command -v chromedriver) \
  cargo test --target wasm32-unknown-unknown -p ferry-sync --test web --test web_store --test libsodium_vectors

section "build pkg/"
bash scripts/build.sh

section "JS tests against pkg/ (node --test)"
node --test tests/js/
