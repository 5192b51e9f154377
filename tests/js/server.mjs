// Starts the reference server binary on ephemeral ports with a fresh data
// directory, and reads the JSON line it announces itself with.
import { spawn } from 'node:child_process';
import { mkdtempSync, existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';

// Benchmarks set FERRY_SERVER_PROFILE=release: a debug server is the bottleneck.
const PROFILE = process.env.FERRY_SERVER_PROFILE ?? 'debug';
const BINARY = fileURLToPath(new URL(`../../target/${PROFILE}/ferry-server`, import.meta.url));

/**
 * `extraArgs` are more flags (e.g. `['--admin', '--s3-cors', 'none']`).
 * `options.dataDir` keeps the data (and the dev token) across a restart, and
 * `options.listen`/`options.s3Listen` fix the addresses, so a restarted server
 * is the same origin with the same files. `options.env` adds environment
 * variables (e.g. `{ FERRY_S3_CORS: 'no-etag' }`; `FERRY_LOG` is `warn`
 * unless set there or in the environment, e.g. `tower_http=debug` for a
 * timeline of every request).
 */
export async function startServer(extraArgs = [], options = {}) {
  if (!existsSync(BINARY)) {
    throw new Error(`${BINARY} is missing: run \`cargo build -p ferry-server\` (npm test does; add --release for benchmarks)`);
  }
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'ferry-js-'));
  const listen = options.listen ?? '127.0.0.1:0';
  const s3Listen = options.s3Listen ?? '127.0.0.1:0';
  const child = spawn(BINARY, ['--data-dir', dataDir, '--listen', listen, '--s3-listen', s3Listen, ...extraArgs], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, FERRY_LOG: process.env.FERRY_LOG ?? 'warn', ...options.env },
  });
  const line = await new Promise((resolve, reject) => {
    createInterface({ input: child.stdout }).once('line', resolve);
    child.once('exit', (code) => reject(new Error(`ferry-server exited with ${code}`)));
  });
  const info = JSON.parse(line);
  return {
    ...info,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        await exited;
      }
      if (!options.dataDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
