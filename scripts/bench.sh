#!/usr/bin/env bash
# Benchmarks: each prints ratios against a baseline measured in the same run.
# Not tests: nothing here asserts a speed.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
node bench/crypto.mjs
# The server is built optimised: a debug build is slower than the browser.
cargo build -p ferry-server --release --quiet
FERRY_SERVER_PROFILE=release node bench/queue.mjs
FERRY_SERVER_PROFILE=release node bench/budget.mjs
FERRY_SERVER_PROFILE=release node bench/wake.mjs
FERRY_SERVER_PROFILE=release node bench/huge.mjs
cargo bench -p ferry-server --bench upload
cargo bench -p ferry-sync --bench budget
