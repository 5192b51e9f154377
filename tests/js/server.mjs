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

export async function startServer(extraArgs = []) {
  if (!existsSync(BINARY)) {
    throw new Error(`${BINARY} is missing: run \`cargo build -p ferry-server\` (npm test does; add --release for benchmarks)`);
  }
  const dataDir = mkdtempSync(join(tmpdir(), 'ferry-js-'));
  const child = spawn(BINARY, ['--data-dir', dataDir, '--listen', '127.0.0.1:0', '--s3-listen', '127.0.0.1:0', ...extraArgs], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, FERRY_LOG: 'warn' },
  });
  const line = await new Promise((resolve, reject) => {
    createInterface({ input: child.stdout }).once('line', resolve);
    child.once('exit', (code) => reject(new Error(`ferry-server exited with ${code}`)));
  });
  const info = JSON.parse(line);
  return {
    ...info,
    async stop() {
      child.kill('SIGTERM');
      await new Promise((resolve) => child.once('exit', resolve));
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
