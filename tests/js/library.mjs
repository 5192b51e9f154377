// Talking to the reference server the way a second client would: create
// albums, list what is on the server, and decrypt it with libsodium itself.
import assert from 'node:assert/strict';
import sodium from 'libsodium-wrappers';

export const MIB = 1024 * 1024;

// Deterministic contents, computed the same way in the page and here.
export function content(size, seed) {
  const out = new Uint8Array(size);
  for (let i = 0; i < size; i++) out[i] = (i * 13 + seed * 101 + (i >>> 10)) & 0xff;
  return out;
}

export const fromB64 = (s) => sodium.from_base64(s, sodium.base64_variants.ORIGINAL);
export const toB64 = (b) => sodium.to_base64(b, sodium.base64_variants.ORIGINAL);

export async function apiCall(server, path, init = {}) {
  const response = await fetch(server.api + path, { ...init, headers: { 'X-Auth-Token': server.token, ...init.headers } });
  assert.ok(response.ok, `${path}: ${response.status}`);
  return response;
}

export async function newCollection(server) {
  const api = (path, init) => apiCall(server, path, init);
  const key = sodium.randombytes_buf(32);
  const response = await api('/collections', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({
      encryptedKey: toB64(sodium.randombytes_buf(48)), keyDecryptionNonce: toB64(sodium.randombytes_buf(24)),
      encryptedName: toB64(sodium.randombytes_buf(20)), nameDecryptionNonce: toB64(sodium.randombytes_buf(24)), type: 'album',
    }),
  });
  return { id: (await response.json()).collection.id, key };
}

/** Every file in the collection, decrypted with libsodium. */
export async function serverFiles(server, collection) {
  const api = (path, init) => apiCall(server, path, init);
  const { diff } = await (await api(`/collections/v2/diff?collectionID=${collection.id}&sinceTime=0`)).json();
  const files = [];
  for (const record of diff) {
    const fileKey = sodium.crypto_secretbox_open_easy(fromB64(record.encryptedKey), fromB64(record.keyDecryptionNonce), collection.key);
    const ciphertext = new Uint8Array(await (await api(`/files/download/${record.id}`)).arrayBuffer());
    const state = sodium.crypto_secretstream_xchacha20poly1305_init_pull(fromB64(record.file.decryptionHeader), fileKey);
    const parts = [];
    let tag;
    for (let offset = 0; offset < ciphertext.length; offset += 4 * MIB + 17) {
      const r = sodium.crypto_secretstream_xchacha20poly1305_pull(state, ciphertext.subarray(offset, offset + 4 * MIB + 17), null);
      assert.ok(r, `libsodium authenticates file ${record.id}`);
      parts.push(r.message);
      tag = r.tag;
    }
    assert.equal(tag, sodium.crypto_secretstream_xchacha20poly1305_TAG_FINAL);
    const metaState = sodium.crypto_secretstream_xchacha20poly1305_init_pull(fromB64(record.metadata.decryptionHeader), fileKey);
    const meta = sodium.crypto_secretstream_xchacha20poly1305_pull(metaState, fromB64(record.metadata.encryptedData), null);
    files.push({ record, plaintext: Buffer.concat(parts), metadata: JSON.parse(sodium.to_string(meta.message)) });
  }
  return files;
}

/** A file's thumbnail, decrypted with libsodium. */
export async function serverThumbnail(server, collection, record) {
  const api = (path, init) => apiCall(server, path, init);
  const fileKey = sodium.crypto_secretbox_open_easy(fromB64(record.encryptedKey), fromB64(record.keyDecryptionNonce), collection.key);
  const sealed = new Uint8Array(await (await api(`/files/preview/${record.id}`)).arrayBuffer());
  const state = sodium.crypto_secretstream_xchacha20poly1305_init_pull(fromB64(record.thumbnail.decryptionHeader), fileKey);
  const opened = sodium.crypto_secretstream_xchacha20poly1305_pull(state, sealed, null);
  assert.ok(opened, `libsodium authenticates thumbnail ${record.id}`);
  return { jpeg: opened.message, fileKey };
}

/** Width and height from a baseline or progressive JPEG's frame header. */
export function jpegSize(bytes) {
  assert.deepEqual([...bytes.subarray(0, 3)], [0xff, 0xd8, 0xff], 'a JPEG');
  for (let i = 2; i < bytes.length - 8;) {
    const marker = bytes[i + 1];
    const length = (bytes[i + 2] << 8) | bytes[i + 3];
    if (marker === 0xc0 || marker === 0xc2) {
      return { height: (bytes[i + 5] << 8) | bytes[i + 6], width: (bytes[i + 7] << 8) | bytes[i + 8] };
    }
    i += 2 + length;
  }
  throw new Error('no JPEG frame header');
}

