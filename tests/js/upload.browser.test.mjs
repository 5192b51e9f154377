// A page on one origin encrypts with ferry-sync and uploads to the reference
// server's API and S3 store on two other origins, single PUT and multipart,
// reading each part's ETag cross-origin. Node then downloads the file through
// the API and decrypts it with libsodium itself.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import sodium from 'libsodium-wrappers';
import { serveRepo, launchChromium } from './browser.mjs';
import { startServer } from './server.mjs';

let site;
let server;
let browser;
let page;

before(async () => {
  await sodium.ready;
  [site, server, browser] = await Promise.all([serveRepo(), startServer(), launchChromium()]);
  page = await browser.newPage();
  await page.goto(`${site.origin}/tests/js/fixtures/page.html`);
});
after(async () => {
  await browser?.close();
  await server?.stop();
  site?.close();
});

test('encrypt in the browser, upload cross-origin, decrypt with libsodium', async () => {
  assert.notEqual(new URL(server.api).origin, site.origin);
  assert.notEqual(new URL(server.s3).origin, new URL(server.api).origin);

  const result = await page.evaluate(async ({ api, token }) => {
    const ferry = await import('/pkg/index.js');
    await ferry.default();
    const CHUNK = 4 * 1024 * 1024;
    const call = async (path, init = {}) => {
      const response = await fetch(api + path, {
        ...init,
        headers: { 'X-Auth-Token': token, 'Content-Type': 'application/json', ...init.headers },
      });
      const body = await response.json();
      if (!response.ok) throw new Error(`${path}: ${response.status} ${JSON.stringify(body)}`);
      return body;
    };
    const b64 = ferry.toBase64;

    const collectionKey = ferry.generateKey();
    const sealedKey = ferry.wrapKey(collectionKey, ferry.generateKey());
    const sealedName = ferry.sealBox(new TextEncoder().encode('Holiday'), collectionKey);
    const { collection } = await call('/collections', {
      method: 'POST',
      body: JSON.stringify({
        encryptedKey: b64(sealedKey.encryptedKey), keyDecryptionNonce: b64(sealedKey.nonce),
        encryptedName: b64(sealedName.encryptedData), nameDecryptionNonce: b64(sealedName.nonce), type: 'album',
      }),
    });

    // 9 MiB + 5 bytes: three chunks, sent as two parts (2 chunks + 1 chunk).
    const plaintext = new Uint8Array(9 * 1024 * 1024 + 5).map((_, i) => (i * 7 + 3) % 256);
    const fileKey = ferry.generateKey();
    const enc = new ferry.FileEncryptor(fileKey);
    const chunks = [];
    for (let offset = 0; offset < plaintext.length; offset += CHUNK) {
      chunks.push(enc.push(plaintext.subarray(offset, offset + CHUNK), offset + CHUNK >= plaintext.length));
    }
    const parts = [new Blob([chunks[0], chunks[1]]), new Blob([chunks[2]])];
    const { urls } = await call('/files/multipart-upload-urls?count=2');
    const etags = [];
    for (const [i, part] of parts.entries()) {
      const put = await fetch(urls.partURLs[i], { method: 'PUT', body: part });
      if (!put.ok) throw new Error(`part ${i + 1}: ${put.status}`);
      etags.push(put.headers.get('ETag'));
    }
    const xml = `<CompleteMultipartUpload>${etags
      .map((e, i) => `<Part><PartNumber>${i + 1}</PartNumber><ETag>${e}</ETag></Part>`)
      .join('')}</CompleteMultipartUpload>`;
    const done = await fetch(urls.completeURL, { method: 'POST', headers: { 'Content-Type': 'text/xml' }, body: xml });
    if (!done.ok) throw new Error(`complete: ${done.status} ${await done.text()}`);
    const fileSize = parts[0].size + parts[1].size;

    const thumbnail = ferry.encryptMessage(fileKey, new Uint8Array(2000).fill(9));
    const single = await call('/files/upload-urls?count=1');
    const thumbPut = await fetch(single.urls[0].url, { method: 'PUT', body: thumbnail.ciphertext });
    if (!thumbPut.ok) throw new Error(`thumbnail: ${thumbPut.status}`);

    const wrapped = ferry.wrapKey(fileKey, collectionKey);
    const metadata = ferry.encryptMessage(fileKey, new TextEncoder().encode(JSON.stringify({ title: 'beach.jpg', fileType: 0 })));
    const record = await call('/files', {
      method: 'POST',
      body: JSON.stringify({
        collectionID: collection.id,
        encryptedKey: b64(wrapped.encryptedKey), keyDecryptionNonce: b64(wrapped.nonce),
        file: { objectKey: urls.objectKey, decryptionHeader: b64(enc.header), size: fileSize },
        thumbnail: { objectKey: single.urls[0].objectKey, decryptionHeader: b64(thumbnail.header), size: thumbnail.ciphertext.length },
        metadata: { encryptedData: b64(metadata.ciphertext), decryptionHeader: b64(metadata.header) },
      }),
    });
    return { record, collectionKey: b64(collectionKey), etags, fileSize };
  }, { api: server.api, token: server.token });

  assert.equal(result.etags.length, 2);
  for (const etag of result.etags) assert.match(etag, /^"[0-9a-f]{32}"$/, 'ETag readable cross-origin');

  const { record } = result;
  const collectionKey = sodium.from_base64(result.collectionKey, sodium.base64_variants.ORIGINAL);
  const fromB64 = (s) => sodium.from_base64(s, sodium.base64_variants.ORIGINAL);
  const fileKey = sodium.crypto_secretbox_open_easy(fromB64(record.encryptedKey), fromB64(record.keyDecryptionNonce), collectionKey);

  const download = await fetch(`${server.api}/files/download/${record.id}`, { headers: { 'X-Auth-Token': server.token } });
  assert.equal(download.status, 200);
  const ciphertext = new Uint8Array(await download.arrayBuffer());
  assert.equal(ciphertext.length, result.fileSize);
  const state = sodium.crypto_secretstream_xchacha20poly1305_init_pull(fromB64(record.file.decryptionHeader), fileKey);
  const out = [];
  let tag;
  for (let offset = 0; offset < ciphertext.length; offset += 4 * 1024 * 1024 + 17) {
    const r = sodium.crypto_secretstream_xchacha20poly1305_pull(state, ciphertext.subarray(offset, offset + 4 * 1024 * 1024 + 17), null);
    assert.ok(r, 'libsodium authenticates every chunk');
    out.push(r.message);
    tag = r.tag;
  }
  assert.equal(tag, sodium.crypto_secretstream_xchacha20poly1305_TAG_FINAL);
  const plaintext = Buffer.concat(out);
  assert.equal(plaintext.length, 9 * 1024 * 1024 + 5);
  for (const i of [0, 1, 4 * 1024 * 1024, plaintext.length - 1]) assert.equal(plaintext[i], (i * 7 + 3) % 256);

  const metaState = sodium.crypto_secretstream_xchacha20poly1305_init_pull(fromB64(record.metadata.decryptionHeader), fileKey);
  const meta = sodium.crypto_secretstream_xchacha20poly1305_pull(metaState, fromB64(record.metadata.encryptedData), null);
  assert.deepEqual(JSON.parse(sodium.to_string(meta.message)), { title: 'beach.jpg', fileType: 0 });
});
