#!/usr/bin/env bash
# Benchmarks: each prints ratios against a baseline measured in the same run.
# Not tests: nothing here asserts a speed.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
node bench/crypto.mjs
cargo build -p ferry-server --quiet
node bench/queue.mjs
cargo bench -p ferry-server --bench upload
