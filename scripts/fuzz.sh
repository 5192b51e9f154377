#!/usr/bin/env bash
# The fuzz targets in fuzz/ (cargo-fuzz, libFuzzer), one after another,
# one process at a time:
#
#   bash scripts/fuzz.sh                      # each target 18 s (test.sh's `fuzz` stage)
#   bash scripts/fuzz.sh long [SECONDS] [TARGET...]   # each target SECONDS (default 420)
#   bash scripts/fuzz.sh merge [TARGET...]    # add what a long run found to fuzz/corpus
#
# Installs the pinned nightly and cargo-fuzz when missing (cargo-fuzz under
# target/tools/). Each run starts from fuzz/corpus/<target> (kept in the
# repository, read only here) and a scratch corpus under fuzz/target/; a
# crash, a hang (-timeout), an allocation over -malloc_limit_mb or a
# process over -rss_limit_mb stops it with the input in fuzz/artifacts/.
# Prints each target's executions and time; logs in fuzz/target/logs/.
set -euo pipefail
cd "$(dirname "$0")/.."

# The nightly libFuzzer is built with (pinned: a new nightly can break the
# build or the sanitizer), and cargo-fuzz.
NIGHTLY=nightly-2026-05-20
CARGO_FUZZ_VERSION=0.13.1
TARGETS=(secretstream roundtrip checkpoint records json api media server)
BRIEF_SECONDS=18

tools=target/tools/cargo-fuzz-$CARGO_FUZZ_VERSION
if ! rustup toolchain list | grep -q "^$NIGHTLY"; then
  printf '[setup] installing Rust %s (cargo fuzz needs a nightly)\n' "$NIGHTLY"
  rustup toolchain install "$NIGHTLY" --profile minimal
fi
if [ ! -x "$tools/bin/cargo-fuzz" ]; then
  printf '[setup] installing cargo-fuzz %s into %s\n' "$CARGO_FUZZ_VERSION" "$tools"
  cargo install cargo-fuzz --locked --version "$CARGO_FUZZ_VERSION" --root "$tools"
fi
export PATH="$PWD/$tools/bin:$PATH"

mode=${1:-brief}
[ $# -gt 0 ] && shift
case "$mode" in
  brief) seconds=$BRIEF_SECONDS ;;
  long)
    seconds=420
    if [[ ${1:-} =~ ^[0-9]+$ ]]; then seconds=$1; shift; fi
    ;;
  merge) ;;
  *) echo "usage: scripts/fuzz.sh [long [SECONDS] [TARGET...] | merge [TARGET...]]" >&2; exit 2 ;;
esac
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=("${TARGETS[@]}")

fuzz() { cargo "+$NIGHTLY" fuzz "$@"; }
logs=fuzz/target/logs
mkdir -p "$logs"

printf '\n\033[1m== cargo fuzz build (%s)\033[0m\n' "$NIGHTLY"
fuzz build --fuzz-dir fuzz

if [ "$mode" = merge ]; then
  for t in "${targets[@]}"; do
    # Keeps only inputs reaching an edge fuzz/corpus/<t> does not (edges,
    # not hit counts: the corpus stays a few hundred KB).
    fuzz run --fuzz-dir fuzz "$t" "fuzz/corpus/$t" "fuzz/target/corpus/$t" -- \
      -merge=1 -use_counters=0 -use_value_profile=0
  done
  du -sh fuzz/corpus
  exit 0
fi

# Long enough a run to catch a decoder that loops, small enough a limit
# that an allocation sized by a corrupt length is caught.
limits=(-timeout=10 -rss_limit_mb=1024 -malloc_limit_mb=64 -print_final_stats=1)
total=0
rows=()
for t in "${targets[@]}"; do
  printf '\n\033[1m== fuzz %s (%s s)\033[0m\n' "$t" "$seconds"
  max_len=4096
  [ "$t" = media ] && max_len=16384
  mkdir -p "fuzz/target/corpus/$t"
  log="$logs/$t.log"
  start=$(date +%s)
  if ! fuzz run --fuzz-dir fuzz "$t" "fuzz/target/corpus/$t" "fuzz/corpus/$t" -- \
    -max_total_time="$seconds" -max_len="$max_len" "${limits[@]}" >"$log" 2>&1; then
    tail -n 60 "$log"
    echo "fuzz target $t FAILED: the input is in fuzz/artifacts/$t/ (log: $log)" >&2
    exit 1
  fi
  took=$(( $(date +%s) - start ))
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  grep -E '^(#[0-9]+ +DONE|Done [0-9]+ runs)' "$log" | tail -n 1 || true
  total=$((total + ${runs:-0}))
  rows+=("$(printf '%-13s %12s %6s s' "$t" "${runs:-?}" "$took")")
done

printf '\n\033[1m== fuzz: executions\033[0m\n'
printf '%-13s %12s %8s\n' target executions time
printf '%s\n' "${rows[@]}"
printf '%-13s %12s\n' total "$total"
