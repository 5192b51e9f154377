// A file past 4 GiB from a host reader (the React Native and Capacitor
// path: no Blob, no browser size limit) through the whole pipeline against
// the reference server: hashed and encrypted over several runs, each ended
// by reloading the page mid-run (the run dies with it), then one run to
// the end. The server's object is then decrypted with libsodium, streamed,
// and its SHA-256 held against the SHA-256 of what the reader produced.
// Every offset past 2^32 goes through JS numbers, Rust's u64s, part
// numbers and Content-Length; wasm memory is read after every run.
// Not a test: it takes minutes and writes the file to the server's disk.
// FERRY_BENCH_HUGE_GIB (default 5) and FERRY_BENCH_KILL_S (20) scale it.
import { createHash } from 'node:crypto';
import assert from 'node:assert/strict';
import sodium from 'libsodium-wrappers';
import { serveRepo, launchChromium } from '../tests/js/browser.mjs';
import { startServer } from '../tests/js/server.mjs';
import { apiCall, fromB64, newCollection } from '../tests/js/library.mjs';

const SIZE = Math.round(Number(process.env.FERRY_BENCH_HUGE_GIB ?? 5) * 2 ** 30) + 12_345;
const KILL_AFTER_MS = Number(process.env.FERRY_BENCH_KILL_S ?? 20) * 1000;
const KILLS = 3;

// The reader's bytes, made the same way in the page and here: a 1 MiB
// block of pseudo-random bytes, each MiB of the file stamped with its index
// so that no two parts are alike. `fill(bytes, offset)` writes the file's
// bytes at `offset`.
function reader() {
  const BLOCK = 1 << 20;
  const base = new Uint8Array(BLOCK);
  let x = 0x9e3779b9;
  for (let i = 0; i < BLOCK; i++) {
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
    base[i] = x & 0xff;
  }
  return function fill(bytes, offset) {
    let at = 0;
    while (at < bytes.length) {
      const position = offset + at;
      const block = Math.floor(position / BLOCK);
      const within = position - block * BLOCK;
      const n = Math.min(BLOCK - within, bytes.length - at);
      bytes.set(base.subarray(within, within + n), at);
      for (let k = within; k < Math.min(8, within + n); k++) {
        bytes[at + k - within] = base[k] ^ (Math.floor(block / 2 ** (8 * k)) & 0xff);
      }
      at += n;
    }
  };
}

await sodium.ready;
const [site, server, browser] = await Promise.all([serveRepo(), startServer(['--admin']), launchChromium()]);
try {
  const collection = await newCollection(server);
  const context = await browser.newContext();
  const page = await context.newPage();
  const open = async () => {
    await page.goto(`${site.origin}/tests/js/fixtures/page.html`);
    await page.evaluate(async ({ api, token, collectionId, collectionKey, size, readerSource }) => {
      const fill = new Function(`return (${readerSource})()`)();
      const { default: init, Ferry } = await import('/pkg/index.js');
      window.wasm = await init();
      window.ferry = await Ferry.open({
        endpoint: api, token, database: 'huge',
        resolveSource: () => ({
          size, lastModified: 1,
          read: async (offset, length) => {
            const bytes = new Uint8Array(length);
            fill(bytes, offset);
            return bytes;
          },
        }),
      });
      await window.ferry.setCollectionKey(collectionId, Uint8Array.from(collectionKey));
      if ((await window.ferry.status()).done + (await window.ferry.items({})).length === 0) {
        await window.ferry.enqueue([{ collectionId, source: 'host:huge', title: 'huge.mov' }]);
      }
    }, { api: server.api, token: server.token, collectionId: collection.id, collectionKey: [...collection.key], size: SIZE, readerSource: reader.toString() });
  };
  const state = () => page.evaluate(async () => {
    const [item] = await window.ferry.items({});
    return { item, memoryMiB: window.wasm.memory.buffer.byteLength / 2 ** 20 };
  });

  const started = performance.now();
  const rounds = [];
  for (let kill = 0; kill < KILLS; kill++) {
    await open();
    page.evaluate(() => { window.ferry.sync({}).catch(() => {}); });
    await new Promise((r) => setTimeout(r, KILL_AFTER_MS));
    const { item, memoryMiB } = await state();
    rounds.push({ kind: 'killed', state: item.state, bytesSent: item.bytesSent, memoryMiB });
    await page.reload(); // the run dies with the page
  }
  await open();
  const report = await page.evaluate(() => window.ferry.sync({}));
  const { item, memoryMiB } = await state();
  rounds.push({ kind: 'to the end', state: item.state, bytesSent: item.bytesSent, memoryMiB });
  const wallS = (performance.now() - started) / 1000;
  assert.equal(item.state, 'done', JSON.stringify({ report, item }));
  await context.close();

  // The object, streamed from the server and decrypted with libsodium.
  const { diff } = await (await apiCall(server, `/collections/v2/diff?collectionID=${collection.id}&sinceTime=0`)).json();
  assert.equal(diff.length, 1, 'one file on the server');
  const record = diff[0];
  const fileKey = sodium.crypto_secretbox_open_easy(fromB64(record.encryptedKey), fromB64(record.keyDecryptionNonce), collection.key);
  const pull = sodium.crypto_secretstream_xchacha20poly1305_init_pull(fromB64(record.file.decryptionHeader), fileKey);
  const response = await apiCall(server, `/files/download/${record.id}`);
  const CHUNK = 4 * 2 ** 20 + 17;
  const ours = createHash('sha256');
  let pending = new Uint8Array(0);
  let plaintextBytes = 0;
  let tag;
  for await (const piece of response.body) {
    const joined = new Uint8Array(pending.length + piece.length);
    joined.set(pending);
    joined.set(piece, pending.length);
    let at = 0;
    for (; joined.length - at > CHUNK; at += CHUNK) {
      const r = sodium.crypto_secretstream_xchacha20poly1305_pull(pull, joined.subarray(at, at + CHUNK), null);
      assert.ok(r, `libsodium authenticates the chunk at ${plaintextBytes}`);
      ours.update(r.message);
      plaintextBytes += r.message.length;
      tag = r.tag;
    }
    pending = joined.slice(at);
  }
  const last = sodium.crypto_secretstream_xchacha20poly1305_pull(pull, pending, null);
  assert.ok(last, 'libsodium authenticates the last chunk');
  ours.update(last.message);
  plaintextBytes += last.message.length;
  tag = last.tag;
  assert.equal(tag, sodium.crypto_secretstream_xchacha20poly1305_TAG_FINAL);
  assert.equal(plaintextBytes, SIZE);

  const theirs = createHash('sha256');
  const fill = reader();
  const buffer = new Uint8Array(64 * 2 ** 20);
  for (let offset = 0; offset < SIZE; offset += buffer.length) {
    const view = buffer.subarray(0, Math.min(buffer.length, SIZE - offset));
    fill(view, offset);
    theirs.update(view);
  }
  const [got, want] = [ours.digest('hex'), theirs.digest('hex')];
  assert.equal(got, want, 'the decrypted object is the reader\'s bytes');

  const { finished } = await (await apiCall(server, '/admin/requests')).json();
  const parts = Object.keys(finished).filter((k) => k.startsWith('s3:UploadPart /')).length;
  console.log(`\n${(SIZE / 2 ** 30).toFixed(2)} GiB from a host reader, ${KILLS} runs killed after ${KILL_AFTER_MS / 1000} s each, then one to the end`);
  console.log('| run | item after | bytes sent | wasm memory |');
  console.log('|---|---|---:|---:|');
  rounds.forEach((r, i) => console.log(`| ${i + 1} (${r.kind}) | ${r.state} | ${r.bytesSent.toLocaleString('en')} | ${r.memoryMiB.toFixed(0)} MiB |`));
  console.log(`\n${parts} parts; ${plaintextBytes.toLocaleString('en')} bytes decrypted by libsodium; SHA-256 ${got.slice(0, 16)}… matches; ${wallS.toFixed(0)} s in all.`);
} finally {
  await browser.close();
  await server.stop();
  site.close();
}
