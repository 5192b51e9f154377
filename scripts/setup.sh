#!/usr/bin/env bash
# Installs what a fresh machine lacks, and nothing else: each step checks
# first, so a second run takes a second or two. Called by `npm test`,
# `npm start`, `npm run build` and `npm run bench`.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  step "adding the wasm32-unknown-unknown Rust target"
  rustup target add wasm32-unknown-unknown
fi

# The CLI must match the library exactly, or the generated glue is refused.
pinned=$(sed -n 's/^wasm-bindgen = "=\([0-9.]*\)"/\1/p' Cargo.toml)
[ -n "$pinned" ] || { echo "[setup] cannot find the pinned wasm-bindgen version in Cargo.toml" >&2; exit 1; }
if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$pinned" ]; then
  step "installing wasm-bindgen-cli $pinned (about 3 minutes)"
  # Not --locked: the registry mirror lacks some of its newest lock entries.
  cargo install wasm-bindgen-cli --version "$pinned" --force
fi

# CHROMIUM and CHROMEDRIVER name a browser and driver of your own (where
# there is no apt); the tests use them instead.
if [ -n "${CHROMIUM:-}" ] && [ -n "${CHROMEDRIVER:-}" ]; then
  [ -x "$CHROMIUM" ] && [ -x "$CHROMEDRIVER" ] || { echo "[setup] CHROMIUM=$CHROMIUM or CHROMEDRIVER=$CHROMEDRIVER is not an executable" >&2; exit 1; }
elif ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
  step "installing Chromium and ChromeDriver from apt"
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq chromium chromium-driver >/dev/null
fi

# npm ci only when the lock file changed since the last install.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  step "npm ci"
  npm ci --no-audit --no-fund
fi
