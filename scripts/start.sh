#!/usr/bin/env bash
# The main job. Builds the wasm package; the reference server and the demo
# app arrive with their issues, and until then this says so and fails
# loudly rather than pretending to serve something.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
if [ ! -f server/Cargo.toml ]; then
  cat >&2 <<'MSG'

[start] pkg/ is built: `import init, * as ferry from 'ferry-sync'` works now.
[start] The reference server (server/) and the demo app (www/) are not in
[start] this checkout yet, so there is nothing to serve. Run `npm test` to
[start] see the file format proven against libsodium.
MSG
  exit 1
fi
