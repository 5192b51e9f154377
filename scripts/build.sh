#!/usr/bin/env bash
# The one build: release wasm -> wasm-bindgen -> wasm-opt -> pkg/.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "${FERRY_SKIP_SETUP:-}" = 1 ] || bash scripts/setup.sh

cargo build --profile wasm-release --target wasm32-unknown-unknown -p ferry-sync --lib
rm -rf pkg
wasm-bindgen --target web --out-dir pkg --out-name ferry_sync \
  target/wasm32-unknown-unknown/wasm-release/ferry_sync.wasm

# The feature flags name what rustc's wasm32 target emits (plus SIMD128 from
# .cargo/config.toml); wasm-opt refuses or mangles what it is not told about.
# --converge repeats -Oz until nothing shrinks (about 450 bytes gzip, 15 s).
# -ocimfs 20: by default wasm-opt inlines every function that has one
# caller, however large, so the engine's async steps all melted into the
# few method futures that run them. That saved 4.4 KB raw but cost 4.8 KB
# of gzip, which the budget counts: the merged code compresses worse. Only
# functions of at most 20 bytes are inlined that way now (wasm-opt's own
# bound for "lightweight" ones; anything from 0 to 40 does about as well). The hot
# loops of ferry-primitives were inlined by LLVM already.
node_modules/.bin/wasm-opt -Oz --converge -ocimfs 20 --low-memory-unused --zero-filled-memory --strip-debug --strip-producers \
  --enable-simd --enable-bulk-memory --enable-nontrapping-float-to-int \
  --enable-sign-ext --enable-mutable-globals --enable-reference-types \
  --enable-multivalue \
  pkg/ferry_sync_bg.wasm -o pkg/ferry_sync_bg.wasm

error_module=$(cd pkg && find snippets -name ferry_error.js | head -n 1)
[ -n "$error_module" ] || { echo "[build] wasm-bindgen emitted no ferry_error.js snippet" >&2; exit 1; }
sed "s#__FERRY_ERROR_MODULE__#./$error_module#" src/web/entry.js > pkg/index.js
cp src/web/entry.d.ts pkg/index.d.ts
# wasm-bindgen declares [Symbol.dispose]() on every class; say which library
# that needs, so consumers type-check with their usual `lib` settings.
if grep -q 'Symbol.dispose' pkg/ferry_sync.d.ts; then
  { echo '/// <reference lib="esnext.disposable" />'; cat pkg/ferry_sync.d.ts; } > pkg/ferry_sync.d.ts.tmp
  mv pkg/ferry_sync.d.ts.tmp pkg/ferry_sync.d.ts
fi
# The plain-JS entry points (service worker, hybrid shells) beside it.
cp src/js/*.js src/js/*.d.ts pkg/
rm -f pkg/package.json pkg/.gitignore

# The budget is checked by tests/js/packaging.test.mjs; the build only says.
node scripts/wasm-size.mjs
