#!/usr/bin/env bash
# Benchmarks: ratios against a baseline measured in the same run. Not tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
node bench/crypto.mjs
