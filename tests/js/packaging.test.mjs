// The package as users get it: `npm pack`, then the tarball installed into
// a fresh Vite app (type-checked with tsc against the generated and refined
// .d.ts, built, run) and into a plain module service worker with no bundler.
// Each uploads a file to the reference server from headless Chromium.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { serveRepo, launchChromium } from './browser.mjs';
import { startServer } from './server.mjs';
import { WASM_GZIP_BUDGET, describeSize, wasmSize } from '../../scripts/wasm-size.mjs';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
let work;
let tarball;
let server;
let browser;

const run = (command, args, cwd) => execFileSync(command, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });

before(async () => {
  work = mkdtempSync(join(tmpdir(), 'ferry-packaging-'));
  const [packed] = JSON.parse(run('npm', ['pack', '--json', '--pack-destination', work], ROOT));
  tarball = join(work, packed.filename);
  [server, browser] = await Promise.all([startServer(), launchChromium()]);
});
after(async () => {
  await browser?.close();
  await server?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

/** A consumer project from tests/packaging/, with the tarball installed. */
function consumer(name) {
  const dir = join(work, name);
  cpSync(join(ROOT, 'tests/packaging', name), dir, { recursive: true });
  run('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error', tarball], dir);
  return dir;
}

async function resultOf(root, path) {
  const site = await serveRepo(root);
  try {
    const page = await (await browser.newContext()).newPage();
    page.on('pageerror', (err) => console.log('# page error:', err.message));
    await page.goto(`${site.origin}${path}?api=${encodeURIComponent(server.api)}&token=${server.token}`);
    return await page.evaluate(() => window.result);
  } finally {
    site.close();
  }
}

test('the tarball ships what the exports name, and nothing else', () => {
  const [packed] = JSON.parse(run('npm', ['pack', '--dry-run', '--json'], ROOT));
  const files = packed.files.map((f) => f.path);
  const manifest = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
  for (const [entry, target] of Object.entries(manifest.exports)) {
    const conditions = typeof target === 'string' ? { default: target } : target;
    if (typeof target === 'object') assert.equal(Object.keys(target)[0], 'types', `${entry}: types first`);
    for (const file of Object.values(conditions)) assert.ok(files.includes(file.replace('./', '')), `${entry} → ${file} is packed`);
  }
  assert.ok(files.some((f) => f.endsWith('.wasm')));
  assert.ok(!files.some((f) => f.startsWith('src/') || f.startsWith('tests/') || f.startsWith('server/')), 'no sources or tests');
});

// The size budget (README): a change that crosses it must make room or say why.
test(`the wasm stays within ${WASM_GZIP_BUDGET} bytes gzip`, () => {
  const size = wasmSize();
  console.log(`# ${describeSize(size)}`);
  assert.ok(size.gzip <= WASM_GZIP_BUDGET, `${size.gzip} bytes gzip is over the ${WASM_GZIP_BUDGET}-byte budget`);
});

// tsc checks each exported type only where a consumer names it.
test('the type-checked consumer names every type the package exports', () => {
  const declarations = ['index.d.ts', 'ferry_sync.d.ts', 'sw.d.ts', 'capacitor.d.ts', 'react-native-webview.d.ts'];
  const exported = new Set();
  for (const file of declarations) {
    const text = readFileSync(join(ROOT, 'pkg', file), 'utf8');
    for (const [, name] of text.matchAll(/^export (?:declare )?(?:type|interface) ([A-Za-z_]+)/gm)) exported.add(name);
  }
  const named = readFileSync(join(ROOT, 'tests/packaging/vite-app/src/types.ts'), 'utf8');
  const missing = [...exported].filter((name) => !new RegExp(`\\b${name}\\b`).test(named));
  assert.ok(exported.size > 30, `found ${exported.size} exported types`);
  assert.deepEqual(missing, [], 'tests/packaging/vite-app/src/types.ts must name these');
});

test('a fresh Vite app installs the tarball, type-checks, builds and uploads', async () => {
  const dir = consumer('vite-app');
  run('npx', ['tsc', '--noEmit'], dir);
  run('npx', ['vite', 'build', '--logLevel', 'error'], dir);
  const result = await resultOf(join(dir, 'dist'), '/');
  assert.equal(result.report.filesDone, 1, JSON.stringify(result));
  assert.equal(result.report.stoppedBecause, 'idle');
  assert.equal(result.code, 'BAD_INPUT', 'FerryError from the package, with its code');
  assert.deepEqual([result.tag, result.budget, result.protocol], ['ferry-sync', 8_000, 1]);
});

test('a plain module service worker with no bundler uploads from the installed package', async () => {
  const dir = consumer('plain-sw');
  const result = await resultOf(dir, '/');
  assert.equal(result.type, 'ferry-sync');
  assert.equal(result.report.trigger, 'sync');
  assert.equal(result.report.filesDone, 1, JSON.stringify(result));
});
