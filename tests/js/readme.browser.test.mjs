// Every code example in README.md, as it is written there. The fenced
// blocks are read from the README when the test runs, so an edited example
// is what runs. Each `js` block must parse as a module whose imports name
// what the package really exports, and runs in headless Chromium against
// the reference server, with what it leaves to the app (an endpoint, a
// token, an album, picked files, a native plugin or file reader) provided
// as named globals; each test then checks that the example did its job on
// the server and in what it returned. `sh` blocks may name only npm
// scripts package.json has, and installing the package itself.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import sodium from 'libsodium-wrappers';
import { serveRepo, launchChromium } from './browser.mjs';
import { startServer } from './server.mjs';
import { content, toB64, fromB64, apiCall, newCollection, serverFiles } from './library.mjs';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const PACKAGE = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
const README = readFileSync(join(ROOT, 'README.md'), 'utf8');
/** The server refuses files above this (413), so an example meets a failed item. */
const MAX_FILE_SIZE = 2 * 1024 * 1024;

/** The fenced blocks of README.md: language, the heading above, first line, code. */
function fencedBlocks(text) {
  const blocks = [];
  let heading = null;
  let open = null;
  text.split('\n').forEach((line, i) => {
    if (open) {
      if (/^```\s*$/.test(line)) {
        blocks.push(open);
        open = null;
      } else {
        open.code += `${line}\n`;
      }
      return;
    }
    const fence = /^```(\S*)/.exec(line);
    if (fence) open = { lang: fence[1], heading, line: i + 2, code: '' };
    else if (/^#{1,6} /.test(line)) heading = line.replace(/^#+ /, '').trim();
  });
  assert.equal(open, null, 'README.md ends inside a code block');
  return blocks;
}

const BLOCKS = fencedBlocks(README);
const JS = BLOCKS.filter((b) => b.lang === 'js');
const where = (block) => `README.md line ${block.line} (under "${block.heading}")`;

/**
 * The examples this file runs, by the heading they stand under and how many
 * there are. A new example, or one moved, must be given a test here.
 */
const EXAMPLES = {
  'A first backup': 1,
  'The backend, albums and keys': 1,
  'Encryption functions': 1,
  'A page and its service worker': 2,
  Capacitor: 1,
  'React Native WebView': 2,
  Errors: 1,
};

function examples(heading) {
  const found = JS.filter((b) => b.heading === heading);
  assert.equal(found.length, EXAMPLES[heading], `README.md: ${EXAMPLES[heading]} js example(s) under "${heading}"`);
  return found;
}

/** The package's public modules as specifiers, from package.json `exports`: 'ferry-sync/sw' -> '/pkg/sw.js'. */
const MODULES = Object.fromEntries(
  Object.entries(PACKAGE.exports)
    .filter(([, target]) => typeof target === 'object' && target.default.endsWith('.js'))
    .map(([subpath, target]) => [PACKAGE.name + subpath.slice(1), `/${target.default.replace(/^\.\//, '')}`]),
);

/** The import declarations of a block: where from, and which names. */
function importsOf(block) {
  const statements = [...block.code.matchAll(/^import\s+([\s\S]*?)\s+from\s+(['"])([^'"]+)\2/gm)];
  const written = block.code.match(/^import\b/gm)?.length ?? 0;
  assert.equal(statements.length, written, `${where(block)}: an import this test cannot read`);
  return statements.map(([, clause, , from]) => {
    const parts = /^(?:([\w$]+)\s*(?:,\s*)?)?(?:\{([^}]*)\}|\*\s*as\s+[\w$]+)?$/.exec(clause.trim());
    assert.ok(parts, `${where(block)}: the import clause ${clause}`);
    const names = parts[1] ? ['default'] : [];
    for (const name of (parts[2] ?? '').split(',').map((s) => s.trim()).filter(Boolean)) {
      names.push(name.split(/\s+as\s+/)[0]);
    }
    return { from, names };
  });
}

/** What a block imports that the package does not have (`exported`: names per module). */
function importProblems(block, exported) {
  const problems = [];
  for (const { from, names } of importsOf(block)) {
    if (!(from in exported)) {
      problems.push(`${where(block)} imports '${from}', which is not one of the package's modules (${Object.keys(exported).join(', ')})`);
      continue;
    }
    for (const name of names.filter((n) => !exported[from].includes(n))) {
      problems.push(`${where(block)} imports ${name === 'default' ? 'a default export' : `\`${name}\``} from '${from}', which does not export it`);
    }
  }
  return problems;
}

/** Checks `code` as a module with Node's parser (imports are not resolved). */
function parsesAsModule(code, label) {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-readme-'));
  try {
    const file = join(dir, 'example.mjs');
    writeFileSync(file, code);
    const result = spawnSync(process.execPath, ['--check', file], { encoding: 'utf8' });
    assert.equal(result.status, 0, `${label} does not parse as a module:\n${result.stderr}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The example with `export { names }` after it, so a test can read its results. */
function withExports(block, names) {
  const code = `${block.code}\nexport { ${names.join(', ')} };\n`;
  parsesAsModule(code, `${where(block)} with \`export { ${names.join(', ')} }\``);
  return code;
}

/** The keys an example's comment lists, as `// {a, b, c}`. */
function listedKeys(block) {
  const listed = /\/\/ \{([\w, ]+)\}\s*$/m.exec(block.code);
  assert.ok(listed, `${where(block)}: a comment listing the result's fields`);
  return listed[1].split(',').map((s) => s.trim()).sort();
}

// --- the site the examples run in --------------------------------------------

let siteDir;
let site;
let server;
let browser;

/** A page with an import map for the package, a file input and byte helpers. */
const PAGE = `<!doctype html>
<meta charset="utf-8">
<title>README examples</title>
<link rel="icon" href="data:,">
<script type="importmap">${JSON.stringify({ imports: MODULES })}</script>
<input type="file" id="picker" multiple>
<script>
  window.b64 = (bytes) => {
    let s = '';
    for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
    return btoa(s);
  };
  window.unb64 = (text) => Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
  // Runs a module from its text (bare specifiers resolve through the import map).
  window.runModule = async (code) => {
    const url = URL.createObjectURL(new Blob([code], { type: 'text/javascript' }));
    try {
      window.example = await import(url);
    } finally {
      URL.revokeObjectURL(url);
    }
  };
</script>
`;

before(async () => {
  await sodium.ready;
  siteDir = mkdtempSync(join(tmpdir(), 'ferry-readme-site-'));
  symlinkSync(join(ROOT, 'pkg'), join(siteDir, 'pkg'));
  writeFileSync(join(siteDir, 'readme.html'), PAGE);
  [site, server, browser] = await Promise.all([
    serveRepo(siteDir), startServer(['--max-file-size', String(MAX_FILE_SIZE)]), launchChromium(),
  ]);
});
after(async () => {
  await browser?.close();
  await server?.stop();
  site?.close();
  if (siteDir) rmSync(siteDir, { recursive: true, force: true });
});

/** A page in its own browser context (own IndexedDB), recording its errors. */
async function openPage(contextOptions = {}) {
  const context = await browser.newContext(contextOptions);
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (err) => errors.push(err.message));
  // Failed requests are logged too: the server's answers are checked where they matter.
  page.on('console', (msg) => msg.type() === 'error' && !msg.text().startsWith('Failed to load resource') && errors.push(msg.text()));
  await page.goto(`${site.origin}/readme.html`);
  return { page, context, errors };
}

/** Runs a README block in the page as a module; its exports land in `window.example`. */
async function runExample(page, block, code = block.code) {
  try {
    await page.evaluate((text) => window.runModule(text), code);
  } catch (err) {
    throw new Error(`${where(block)} failed: ${err.message}`);
  }
}

/** A queue opened in the page as `globalThis[name]`, holding the key of `collection`. */
async function openQueueIn(page, name, database, collection) {
  await page.evaluate(async ({ name, api, token, database, id, key }) => {
    const { default: init, Ferry } = await import('/pkg/index.js');
    await init();
    const ferry = await Ferry.open({ endpoint: api, token, database });
    if (id !== null) await ferry.setCollectionKey(id, unb64(key));
    globalThis[name] = ferry;
  }, { name, api: server.api, token: server.token, database, id: collection?.id ?? null, key: collection ? toB64(collection.key) : null });
}

/** Files on the server in `collection`, by title, decrypted with libsodium. */
async function filesByTitle(collection) {
  return new Map((await serverFiles(server, collection)).map((f) => [f.metadata.title, f]));
}

async function waitFor(what, check, ms = 30_000) {
  const end = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

// --- the README as a whole ---------------------------------------------------

test('every fenced block is js or sh, and every js example has a test here', () => {
  for (const block of BLOCKS) {
    assert.ok(['js', 'sh'].includes(block.lang), `${where(block)}: a \`${block.lang}\` block; examples are js (run here) or sh (checked here)`);
  }
  const counts = {};
  for (const block of JS) counts[block.heading] = (counts[block.heading] ?? 0) + 1;
  for (const block of JS) {
    assert.ok(block.heading in EXAMPLES, `${where(block)}: no test here runs this example; add one`);
  }
  assert.deepEqual(counts, EXAMPLES, 'the README has the js examples this file runs, under these headings');
});

test('every js example parses as a module and imports only what the package exports', async () => {
  const exported = {};
  for (const [specifier, path] of Object.entries(MODULES)) {
    exported[specifier] = Object.keys(await import(pathToFileURL(join(ROOT, path)).href));
  }
  for (const block of JS) {
    parsesAsModule(block.code, where(block));
    assert.deepEqual(importProblems(block, exported), []);
  }
  // The check sees a name the package lacks, a module it does not have,
  // and an import it cannot read.
  const made = (code) => ({ heading: 'a made-up example', line: 1, code });
  assert.equal(importProblems(made("import init, { Ferry, Ferri } from 'ferry-sync';\n"), exported).length, 1);
  assert.equal(importProblems(made("import { attachCapacitor } from 'ferry-sync/cordova';\n"), exported).length, 1);
  assert.throws(() => importsOf(made("import { Ferry } from 'ferry-sync';\nimport 'ferry-sync/sw';\n")), /an import this test cannot read/);
});

test('sh blocks name only npm scripts that exist, and the package itself', () => {
  const sh = BLOCKS.filter((b) => b.lang === 'sh');
  assert.ok(sh.length >= 2, 'the README shows its commands');
  const named = new Set();
  for (const block of sh) {
    for (const line of block.code.split('\n')) {
      for (const command of line.replace(/#.*$/, '').split(/&&|\|\||;|\|/)) {
        const words = command.trim().split(/\s+/).filter(Boolean);
        while (words.length && /^[A-Z_]+=/.test(words[0])) words.shift();
        if (words.length === 0) continue;
        assert.equal(words[0], 'npm', `${where(block)}: \`${command.trim()}\` is not an npm command`);
        const [, sub, ...rest] = words;
        if (sub === 'install' || sub === 'i') {
          assert.deepEqual(rest, [PACKAGE.name], `${where(block)}: installs ${rest.join(' ')}, not ${PACKAGE.name}`);
          continue;
        }
        const script = sub === 'run' ? rest[0] : sub;
        assert.ok(['start', 'test'].includes(sub) || sub === 'run', `${where(block)}: \`npm ${sub}\` is not a script command`);
        assert.ok(script in PACKAGE.scripts, `${where(block)}: \`${command.trim()}\` names no script in package.json`);
        named.add(script);
      }
    }
  }
  for (const script of named) {
    for (const file of PACKAGE.scripts[script].match(/scripts\/[\w.-]+/g) ?? []) {
      assert.ok(existsSync(join(ROOT, file)), `npm ${script} runs ${file}, which does not exist`);
    }
  }
  assert.ok(named.has('start') && named.has('test'), 'npm start and npm test are shown');
  assert.equal(sh[0].line, 4, 'the two commands stand at the very top');
});

// --- the examples, run -------------------------------------------------------

test('"The backend, albums and keys" makes an album as Ente does, and "A first backup" backs files up into it', async () => {
  const [album] = examples('The backend, albums and keys');
  const [backup] = examples('A first backup');
  const { page, context, errors } = await openPage();
  const masterKey = sodium.randombytes_buf(32);

  // The album, made by the README's code with the user's master key.
  await openQueueIn(page, 'ferry', 'ferry', null);
  await page.evaluate(({ api, token, masterKey }) => {
    Object.assign(globalThis, { API: api, token, masterKey: unb64(masterKey) });
  }, { api: server.api, token: server.token, masterKey: toB64(masterKey) });
  await runExample(page, album, withExports(album, ['albumId', 'albumKey']));
  const made = await page.evaluate(async () => {
    // enqueue refuses an album whose key Ferry was not given.
    const [probe] = await globalThis.ferry.enqueue([{ collectionId: example.albumId, file: new File(['x'], 'probe.jpg') }]);
    await globalThis.ferry.remove(probe);
    globalThis.ferry.close();
    delete globalThis.ferry;
    return { id: example.albumId, key: b64(example.albumKey) };
  });
  const albumKey = fromB64(made.key);
  assert.equal(albumKey.length, 32);
  const { collections } = await (await apiCall(server, '/collections/v2?sinceTime=0')).json();
  const record = collections.find((c) => c.id === made.id);
  assert.ok(record, `album ${made.id} is on the server`);
  assert.equal(record.type, 'album');
  assert.equal(fromB64(record.encryptedKey).length, 48, 'a 48-byte encryptedKey');
  assert.equal(fromB64(record.keyDecryptionNonce).length, 24, 'a 24-byte nonce');
  assert.deepEqual(
    sodium.crypto_secretbox_open_easy(fromB64(record.encryptedKey), fromB64(record.keyDecryptionNonce), masterKey),
    albumKey, 'the album key, wrapped under the master key',
  );
  assert.equal(
    sodium.to_string(sodium.crypto_secretbox_open_easy(fromB64(record.encryptedName), fromB64(record.nameDecryptionNonce), albumKey)),
    'Holidays', 'the name, sealed under the album key',
  );

  // The first backup, into that album, of three picked files: the largest
  // is over the server's limit and fails, as an item may.
  const picked = [
    { name: 'a.jpg', mimeType: 'image/jpeg', buffer: Buffer.from(content(300_000, 1)) },
    { name: 'b.jpg', mimeType: 'image/jpeg', buffer: Buffer.from(content(1_500_000, 2)) },
    { name: 'c.jpg', mimeType: 'image/jpeg', buffer: Buffer.from(content(MAX_FILE_SIZE + 400_000, 3)) },
  ];
  await page.setInputFiles('#picker', picked);
  await page.evaluate(({ id, key }) => {
    globalThis.albumId = id;
    globalThis.albumKey = unb64(key);
    globalThis.input = document.querySelector('#picker');
    globalThis.drawn = [];
    globalThis.failures = [];
    globalThis.draw = (id, fraction) => drawn.push({ id, fraction });
    globalThis.showFailure = (item) => failures.push(item);
  }, made);
  const names = ['ferry', 'ids', 'report', 'queued', 'uploading', 'done', 'failed', 'blocked'];
  await runExample(page, backup, withExports(backup, names));
  const result = await page.evaluate(async () => {
    const { ferry, ids, report, queued, uploading, done, failed, blocked } = example;
    const items = await ferry.items({});
    ferry.close();
    return { ids, report, status: { queued, uploading, done, failed, blocked }, items, drawn, failures };
  });

  assert.equal(result.ids.length, 3);
  assert.deepEqual(Object.keys(result.report).sort(), listedKeys(backup), 'the report has the fields the example lists');
  assert.equal(result.report.trigger, 'ios-push');
  assert.equal(result.report.budgetMs, 25_000, "the trigger's 25 s");
  assert.equal(result.report.stoppedBecause, 'idle');
  assert.equal(result.report.filesDone, 2);
  assert.equal(result.report.error, null);
  assert.ok(result.report.bytesUploaded > 1_800_000, 'both files went up');
  assert.deepEqual(result.status, { queued: 0, uploading: 0, done: 2, failed: 1, blocked: null });
  // The failed item reached the app's `showFailure` from the `item` listener.
  assert.equal(result.failures.length, 1, 'one failure shown');
  assert.equal(result.failures[0].title, 'c.jpg');
  assert.equal(result.failures[0].error.code, 'FILE_TOO_LARGE');
  for (const title of ['a.jpg', 'b.jpg']) {
    const item = result.items.find((i) => i.title === title);
    const fractions = result.drawn.filter((d) => d.id === item.id).map((d) => d.fraction);
    // Nothing is sent while the file is read for its hash: 0 until parts go.
    assert.ok(fractions.length > 0 && fractions.every((f, i) => f >= 0 && f <= 1 && (i === 0 || f >= fractions[i - 1])),
      `progress drawn for ${title}: ${fractions}`);
    assert.equal(fractions.at(-1), 1, `${title} drawn to the end`);
  }

  const files = await filesByTitle({ id: made.id, key: albumKey });
  assert.deepEqual([...files.keys()].sort(), ['a.jpg', 'b.jpg'], 'the two files are in the album, once each');
  for (const { name, buffer } of picked.slice(0, 2)) {
    assert.ok(files.get(name).plaintext.equals(buffer), `${name} decrypts to what was picked`);
  }
  assert.deepEqual(errors, [], 'no errors in the page');
  await context.close();
});

test('"Encryption functions": every call does what its comment says, checked with libsodium', async () => {
  const [block] = examples('Encryption functions');
  const { page, context, errors } = await openPage();
  const given = {
    bytes: content(100_000, 11), first4MiB: content(4 * 1024 * 1024, 12), lastChunk: content(1234, 13),
    collectionKey: sodium.randombytes_buf(32), chunk: content(1_000_000, 14),
  };
  await page.evaluate((values) => {
    for (const [name, value] of Object.entries(values)) globalThis[name] = unb64(value);
  }, Object.fromEntries(Object.entries(given).map(([k, v]) => [k, toB64(v)])));
  const names = ['key', 'header', 'ciphertext', 'plain', 'part1', 'part2', 'resumed', 'data', 'final',
    'encryptedKey', 'nonce', 'again', 'encryptedData', 'nameNonce', 'name', 'digest'];
  await runExample(page, block, withExports(block, names));
  const out = await page.evaluate(() => {
    const { resumed, final, name, ...rest } = example;
    const bytes = Object.fromEntries(Object.entries(rest).map(([k, v]) => [k, b64(v)]));
    return { ...bytes, streamHeader: b64(resumed.header), final, name };
  });
  const r = Object.fromEntries(Object.entries(out).map(([k, v]) => [k, typeof v === 'string' && k !== 'name' ? fromB64(v) : v]));
  const ss = {
    pull: sodium.crypto_secretstream_xchacha20poly1305_pull,
    init: sodium.crypto_secretstream_xchacha20poly1305_init_pull,
    MESSAGE: sodium.crypto_secretstream_xchacha20poly1305_TAG_MESSAGE,
    FINAL: sodium.crypto_secretstream_xchacha20poly1305_TAG_FINAL,
  };

  assert.equal(r.key.length, 32);
  assert.deepEqual(r.plain, given.bytes);
  const whole = ss.pull(ss.init(r.header, r.key), r.ciphertext, null);
  assert.deepEqual([whole.message, whole.tag], [given.bytes, ss.FINAL], 'libsodium opens encryptFileBytes');

  const stream = ss.init(r.streamHeader, r.key);
  const first = ss.pull(stream, r.part1, null);
  const last = ss.pull(stream, r.part2, null);
  assert.deepEqual([first.message, first.tag], [given.first4MiB, ss.MESSAGE], 'the first chunk, before the checkpoint');
  assert.deepEqual([last.message, last.tag], [given.lastChunk, ss.FINAL], 'the last chunk, from the resumed encryptor');
  assert.deepEqual(r.data, given.first4MiB);
  assert.equal(r.final, false);

  assert.equal(r.encryptedKey.length, 48);
  assert.deepEqual(sodium.crypto_secretbox_open_easy(r.encryptedKey, r.nonce, given.collectionKey), r.key);
  assert.deepEqual(r.again, r.key);
  assert.equal(sodium.to_string(sodium.crypto_secretbox_open_easy(r.encryptedData, r.nameNonce, given.collectionKey)), 'Holidays');
  assert.equal(r.name, 'Holidays');
  assert.deepEqual(r.digest, sodium.crypto_generichash(64, given.chunk, null));
  assert.deepEqual(errors, []);
  await context.close();
});

test('"A page and its service worker": the page registers the worker, which backs up and notifies after a push', async () => {
  const [worker, pageBlock] = examples('A page and its service worker');
  assert.match(worker.code, /^\/\/ sw\.js/, `${where(worker)} is the worker`);
  assert.match(pageBlock.code, /^\/\/ page\.js/, `${where(pageBlock)} is the page`);
  const collection = await newCollection(server);
  // The worker as a bundler would ship it: the package's specifiers
  // resolved (workers have no import maps), and what the example leaves
  // to the app defined before it.
  const resolved = worker.code.replace(/(from\s+)(['"])(ferry-sync[^'"]*)\2/g, (whole, from, quote, specifier) => {
    assert.ok(specifier in MODULES, `${where(worker)}: '${specifier}' is not one of the package's modules`);
    return `${from}'${MODULES[specifier]}'`;
  });
  writeFileSync(join(siteDir, 'sw.js'), [
    `globalThis.API = ${JSON.stringify(server.api)};`,
    `globalThis.storedToken = async () => ${JSON.stringify(server.token)};`,
    resolved,
  ].join('\n'));

  const { page, context, errors } = await openPage();
  await context.grantPermissions(['notifications', 'background-sync'], { origin: site.origin });
  // A photo in the queue the worker opens (the default database).
  await openQueueIn(page, 'queue', 'ferry', collection);
  await page.evaluate(async ({ id, photo }) => {
    await queue.enqueue([{ collectionId: id, file: new File([unb64(photo)], 'sw.jpg', { type: 'image/jpeg' }) }]);
    queue.close();
  }, { id: collection.id, photo: toB64(content(50_000, 21)) });

  await runExample(page, pageBlock, withExports(pageBlock, ['registration', 'granted']));
  const granted = await page.evaluate(() => example.granted);
  assert.deepEqual(Object.keys(granted).sort(), listedKeys(pageBlock), 'registerBackground resolves with what the example lists');
  assert.equal(granted.sync, true, 'Chromium grants Background Sync');

  // A push, as the worker's message handler takes it: the run's report
  // comes back, and the push's notification was shown.
  const { report, pushes } = await page.evaluate(async () => {
    const ask = () => new Promise((resolve) => {
      const onMessage = (event) => {
        if (event.data?.type !== 'ferry-sync') return;
        navigator.serviceWorker.removeEventListener('message', onMessage);
        resolve(event.data.report);
      };
      navigator.serviceWorker.addEventListener('message', onMessage);
      example.registration.active.postMessage({ type: 'ferry-sync', trigger: 'push' });
    });
    // A sync event the registration fired may still hold the queue.
    for (let pushes = 1; pushes <= 40; pushes++) {
      const answer = await ask();
      if (answer?.stoppedBecause !== 'busy') return { report: answer, pushes };
      await new Promise((r) => setTimeout(r, 500));
    }
    return { report: null };
  });
  assert.ok(report, 'the worker answered with a report');
  assert.equal(report.trigger, 'push');
  assert.equal(report.budgetMs, 25_000);
  assert.equal(report.stoppedBecause, 'idle');
  const notifications = await page.evaluate(async () => (await example.registration.getNotifications())
    .map((n) => ({ title: n.title, body: n.body })));
  // One per push, as web push requires (a push that found the queue busy too).
  assert.equal(notifications.length, pushes, 'a notification for every push');
  assert.ok(notifications.every((n) => n.title === 'Backed up' && /^\d+ photos$/.test(n.body)), JSON.stringify(notifications));
  assert.ok(notifications.some((n) => n.body === `${report.filesDone} photos`), "the last run's count");

  const files = await waitFor('the photo on the server', async () => {
    const found = await filesByTitle(collection);
    return found.has('sw.jpg') && found;
  });
  assert.ok(files.get('sw.jpg').plaintext.equals(Buffer.from(content(50_000, 21))));
  assert.deepEqual(errors, []);
  await context.close();
});

test('"Capacitor": a wake-up runs a budgeted sync and completes the native task; keepScreenAwake runs the foreground one', async () => {
  const [block] = examples('Capacitor');
  const collection = await newCollection(server);
  const { page, context, errors } = await openPage();
  await openQueueIn(page, 'ferry', 'capacitor', collection);
  await page.evaluate(async ({ api, token, id, first }) => {
    const { Ferry } = await import('/pkg/index.js');
    // What a Capacitor plugin is to JavaScript: listeners, and complete().
    globalThis.FerryWake = {
      listeners: new Map(),
      completions: [],
      async addListener(event, fn) {
        this.listeners.set(event, fn);
        return { remove: () => this.listeners.delete(event) };
      },
      async complete(completion) { this.completions.push(completion); },
    };
    globalThis.opened = 0;
    globalThis.openFerry = () => {
      opened++;
      return Ferry.open({ endpoint: api, token, database: 'capacitor' });
    };
    await ferry.enqueue([{ collectionId: id, file: new File([unb64(first)], 'first.jpg') }]);
  }, { api: server.api, token: server.token, id: collection.id, first: toB64(content(40_000, 31)) });

  await runExample(page, block, withExports(block, ['result', 'held']));
  const foreground = await page.evaluate(() => ({ report: example.result, held: example.held }));
  assert.equal(foreground.report.trigger, 'foreground');
  assert.equal(foreground.report.filesDone, 1, 'the foreground run backed up the queued photo');
  assert.equal(typeof foreground.held, 'boolean');

  // The OS wakes the app: the native side emits ferryWake.
  const completions = await page.evaluate(async ({ id, second }) => {
    await ferry.enqueue([{ collectionId: id, file: new File([unb64(second)], 'second.jpg') }]);
    await FerryWake.listeners.get('ferryWake')({ trigger: 'ios-refresh', taskId: 'refresh-1', remainingMs: 20_000 });
    ferry.close();
    return { list: FerryWake.completions, opened };
  }, { id: collection.id, second: toB64(content(60_000, 32)) });
  assert.equal(completions.opened, 1, 'openFerry is called at the first wake-up');
  assert.equal(completions.list.length, 1);
  const [done] = completions.list;
  assert.equal(done.taskId, 'refresh-1');
  assert.equal(done.success, true);
  assert.equal(done.error, null);
  assert.equal(done.report.trigger, 'ios-refresh');
  assert.equal(done.report.budgetMs, 18_000, 'what iOS left, less 2 s');
  assert.equal(done.report.filesDone, 1);

  const files = await filesByTitle(collection);
  assert.ok(files.get('first.jpg').plaintext.equals(Buffer.from(content(40_000, 31))));
  assert.ok(files.get('second.jpg').plaintext.equals(Buffer.from(content(60_000, 32))));
  assert.deepEqual(errors, []);
  await context.close();
});

test('"React Native WebView": the React Native side drives Ferry in the page and serves it a native file', async () => {
  const [webViewPage, reactNative] = examples('React Native WebView');
  const collection = await newCollection(server);
  const photo = content(300_000, 41);
  const { page, context, errors } = await openPage();
  // The two ends of react-native-webview's bridge, in one page: the page
  // posts through window.ReactNativeWebView to the app's onMessage, and
  // the app's webView.current.postMessage arrives as a window message.
  await page.evaluate(({ api, token, id, key, photo }) => {
    const native = { 'ph://IMG_0001': { bytes: unb64(photo), lastModified: 1_700_000_000_000 } };
    globalThis.reads = 0;
    globalThis.progress = [];
    Object.assign(globalThis, {
      API: api, token, albumId: id, albumKeyBase64: key, photoUri: 'ph://IMG_0001',
      showProgress: (payload) => progress.push(payload),
      nativeFiles: {
        stat: async (ref) => (native[ref] ? { size: native[ref].bytes.length, lastModified: native[ref].lastModified } : null),
        read: async (ref, offset, length) => {
          reads++;
          return b64(native[ref].bytes.subarray(offset, offset + length));
        },
      },
      webView: { current: { postMessage: (text) => window.dispatchEvent(new MessageEvent('message', { data: text })) } },
      ReactNativeWebView: { postMessage: (text) => globalThis.reactNativeOnMessage({ nativeEvent: { data: text } }) },
    });
  }, { api: server.api, token: server.token, id: collection.id, key: toB64(collection.key), photo: toB64(photo) });

  await runExample(page, webViewPage);
  // `onMessage={onMessage}` on the <WebView>: hand the example's handler
  // to the stand-in before the example's first command.
  const wired = `globalThis.reactNativeOnMessage = (event) => onMessage(event);\n${withExports(reactNative, ['report'])}`;
  await runExample(page, reactNative, wired);
  const result = await page.evaluate(() => ({ report: example.report, reads, progress }));
  assert.equal(result.report.trigger, 'ios-refresh');
  assert.equal(result.report.budgetMs, 25_000);
  assert.equal(result.report.stoppedBecause, 'idle');
  assert.equal(result.report.filesDone, 1);
  assert.ok(result.reads > 0, 'Ferry read the native file through React Native');
  const last = result.progress.at(-1);
  assert.equal(last.title, 'IMG_0001.JPG');
  assert.equal(last.bytesSent, last.encryptedSize, 'progress reached React Native');

  const files = await filesByTitle(collection);
  assert.ok(files.get('IMG_0001.JPG').plaintext.equals(Buffer.from(photo)), 'the native file is on the server, decrypted');
  assert.deepEqual(errors, []);
  await context.close();
});

test('"Errors": a refused call is a FerryError with the code the example names; every code is in the table', async () => {
  const [block] = examples('Errors');
  const collection = await newCollection(server);
  const { page, context, errors } = await openPage();
  await openQueueIn(page, 'ferry', 'errors', collection);
  await page.evaluate((id) => {
    globalThis.albumId = id;
    globalThis.livePhoto = new File([new Uint8Array(1000)], 'IMG_0001.HEIC', { type: 'image/heic' });
  }, collection.id);
  await runExample(page, block, withExports(block, ['refused']));
  const result = await page.evaluate(async () => {
    const status = await ferry.status();
    ferry.close();
    return { refused: example.refused, status };
  });
  const named = /\/\/ '([A-Z_]+)'/.exec(block.code);
  assert.ok(named, `${where(block)} names the code it expects`);
  assert.equal(result.refused, named[1]);
  assert.equal(result.status.queued, 0, 'nothing of the batch was queued');
  assert.deepEqual(errors, []);
  await context.close();

  // Every code the package declares is explained in the README's table.
  const declared = readFileSync(join(ROOT, 'pkg/ferry_sync.d.ts'), 'utf8');
  const union = /export type FerryErrorCode =([^;]+);/.exec(declared);
  assert.ok(union, 'the package declares FerryErrorCode');
  const codes = [...union[1].matchAll(/"([A-Z_]+)"/g)].map((m) => m[1]);
  assert.ok(codes.length > 10);
  const section = README.slice(README.indexOf('\n## Errors'), README.indexOf('\n## ', README.indexOf('\n## Errors') + 1));
  const tabled = new Set([...section.matchAll(/^\|([^|]+)\|/gm)].flatMap((m) => [...m[1].matchAll(/`([A-Z_]+)`/g)].map((c) => c[1])));
  for (const code of codes) assert.ok(tabled.has(code), `the README's Errors table explains ${code}`);
});
