#!/usr/bin/env bash
# The main job: build the wasm package, build and start the reference server
# (API + embedded S3 store, data in .ferry-data/), and serve www/ from it.
set -euo pipefail
cd "$(dirname "$0")/.."

# A first run compiles for minutes: say so, and let cargo show its progress,
# so that it does not look hung.
first() { [ -e "$1" ] || echo " (a first build compiles every dependency: several minutes)"; }
wasm_note=$(first target/wasm32-unknown-unknown/wasm-release/ferry_sync.wasm)
server_note=$(first target/debug/ferry-server)

echo "[start] building the wasm package (pkg/)${wasm_note}"
bash scripts/build.sh
export FERRY_SKIP_SETUP=1
# The demo imports the package from its own origin, as an app would bundle it.
rm -rf www/pkg && cp -r pkg www/pkg

echo "[start] building the reference server${server_note}"
cargo build -p ferry-server

data_dir=${FERRY_DATA_DIR:-.ferry-data}
listen=${FERRY_LISTEN:-127.0.0.1:8080}
s3_listen=${FERRY_S3_LISTEN:-127.0.0.1:8081}
announce=$(mktemp)
trap 'rm -f "$announce"; kill "$server" 2>/dev/null || true' EXIT INT TERM

./target/debug/ferry-server --data-dir "$data_dir" --listen "$listen" --s3-listen "$s3_listen" \
  --static-dir www > "$announce" &
server=$!
for _ in $(seq 1 100); do
  [ -s "$announce" ] && break
  kill -0 "$server" 2>/dev/null || { echo "[start] the server did not start (see the messages above; is $listen or $s3_listen in use?)" >&2; exit 1; }
  sleep 0.1
done
[ -s "$announce" ] || { echo "[start] the server did not announce itself within 10 s" >&2; exit 1; }

node -e '
const a = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
console.log(`
Ferry reference server is running (Ctrl-C stops it; data in '"$data_dir"'/)
  API        ${a.api}
  S3 store   ${a.s3}
  dev token  ${a.token}
`);
console.log(`Open ${a.api}/?token=${a.token} in a browser (Chromium for background sync and watched folders).`);' "$announce"
wait "$server"
