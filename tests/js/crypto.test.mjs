// The file format against libsodium itself, in both directions, through the
// built npm package exactly as a consumer imports it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ferry, sodium, CHUNK, rng, randomBytes, equalBytes } from './helpers.mjs';

const SS = {
  final: sodium.crypto_secretstream_xchacha20poly1305_TAG_FINAL,
  message: sodium.crypto_secretstream_xchacha20poly1305_TAG_MESSAGE,
};

const next = rng();
const sizes = [0, 1, 16, 17, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK, 3 * CHUNK + 5];
for (let i = 0; i < 4; i++) sizes.push(Math.floor(next() * 3 * CHUNK));

function libsodiumEncrypt(key, plaintext) {
  const { state, header } = sodium.crypto_secretstream_xchacha20poly1305_init_push(key);
  const parts = [];
  let offset = 0;
  do {
    const end = Math.min(offset + CHUNK, plaintext.length);
    const tag = end === plaintext.length ? SS.final : SS.message;
    parts.push(sodium.crypto_secretstream_xchacha20poly1305_push(state, plaintext.subarray(offset, end), null, tag));
    offset = end;
  } while (offset < plaintext.length);
  return { header, ciphertext: Buffer.concat(parts) };
}

function libsodiumDecrypt(key, header, ciphertext) {
  const state = sodium.crypto_secretstream_xchacha20poly1305_init_pull(header, key);
  const parts = [];
  let offset = 0;
  let tag;
  do {
    const end = Math.min(offset + CHUNK + 17, ciphertext.length);
    const r = sodium.crypto_secretstream_xchacha20poly1305_pull(state, ciphertext.subarray(offset, end), null);
    assert.ok(r, `libsodium refused the chunk at ${offset}`);
    parts.push(r.message);
    tag = r.tag;
    offset = end;
  } while (offset < ciphertext.length);
  assert.equal(tag, SS.final, 'the last chunk must carry TAG_FINAL');
  return Buffer.concat(parts);
}

test('Ferry encrypts, libsodium decrypts, at chunk boundaries and random sizes', () => {
  for (const size of sizes) {
    const key = ferry.generateKey();
    const plaintext = randomBytes(size, next);
    const { header, ciphertext } = ferry.encryptFileBytes(key, plaintext);
    assert.equal(ciphertext.length, ferry.encryptedSize(size), `size ${size}`);
    assert.ok(equalBytes(libsodiumDecrypt(key, header, ciphertext), plaintext), `size ${size}`);
  }
});

test('libsodium encrypts, Ferry decrypts, whole and streaming', () => {
  for (const size of sizes) {
    const key = sodium.crypto_secretstream_xchacha20poly1305_keygen();
    const plaintext = randomBytes(size, next);
    const { header, ciphertext } = libsodiumEncrypt(key, plaintext);
    assert.ok(equalBytes(ferry.decryptFileBytes(key, header, ciphertext), plaintext), `size ${size}`);

    const dec = new ferry.FileDecryptor(key, header);
    const parts = [];
    for (let offset = 0; offset < ciphertext.length; offset += CHUNK + 17) {
      const { data, final } = dec.pull(ciphertext.subarray(offset, offset + CHUNK + 17));
      parts.push(data);
      assert.equal(final, offset + CHUNK + 17 >= ciphertext.length);
    }
    assert.ok(dec.finished);
    assert.ok(equalBytes(Buffer.concat(parts), plaintext));
    dec.free();
  }
});

test('a streaming encryptor resumed from a checkpoint stays libsodium-decryptable', () => {
  const key = ferry.generateKey();
  const plaintext = randomBytes(3 * CHUNK + 5, next);
  let enc = new ferry.FileEncryptor(key);
  const parts = [];
  for (let offset = 0, i = 0; offset < plaintext.length; offset += CHUNK, i++) {
    const chunk = plaintext.subarray(offset, offset + CHUNK);
    parts.push(enc.push(chunk, offset + CHUNK >= plaintext.length));
    // Simulate a process kill after every chunk: only the checkpoint survives.
    const checkpoint = enc.checkpoint();
    const header = enc.header;
    enc.free();
    enc = ferry.FileEncryptor.resume(key, checkpoint);
    assert.deepEqual(enc.header, header);
    assert.equal(enc.chunksDone, i + 1);
  }
  assert.ok(enc.finished);
  assert.ok(equalBytes(libsodiumDecrypt(key, enc.header, Buffer.concat(parts)), plaintext));
});

test('single messages (metadata, thumbnails) interoperate both ways', () => {
  const key = ferry.generateKey();
  const metadata = new TextEncoder().encode(JSON.stringify({ title: 'IMG_0001.HEIC', fileType: 0 }));
  const { header, ciphertext } = ferry.encryptMessage(key, metadata);
  const state = sodium.crypto_secretstream_xchacha20poly1305_init_pull(header, key);
  const r = sodium.crypto_secretstream_xchacha20poly1305_pull(state, ciphertext, null);
  assert.equal(r.tag, SS.final);
  assert.ok(equalBytes(r.message, metadata));

  const push = sodium.crypto_secretstream_xchacha20poly1305_init_push(key);
  const c = sodium.crypto_secretstream_xchacha20poly1305_push(push.state, metadata, null, SS.final);
  assert.ok(equalBytes(ferry.decryptMessage(key, push.header, c), metadata));
});

test('key wrapping is crypto_secretbox_easy both ways', () => {
  const fileKey = ferry.generateKey();
  const collectionKey = ferry.generateKey();
  const { encryptedKey, nonce } = ferry.wrapKey(fileKey, collectionKey);
  assert.ok(equalBytes(sodium.crypto_secretbox_open_easy(encryptedKey, nonce, collectionKey), fileKey));

  const n2 = sodium.randombytes_buf(24);
  const boxed = sodium.crypto_secretbox_easy(fileKey, n2, collectionKey);
  assert.ok(equalBytes(ferry.unwrapKey(boxed, n2, collectionKey), fileKey));
  assert.throws(() => ferry.unwrapKey(boxed, n2, ferry.generateKey()), { code: 'DECRYPT_FAILED' });
});

test('sealBox and openBox are crypto_secretbox_easy for any length, as album names are sealed', () => {
  const collectionKey = ferry.generateKey();
  for (const size of [0, 1, 15, 16, 17, 31, 32, 33, 64, 1000, Math.floor(next() * 70000)]) {
    const name = randomBytes(size, next);
    const { encryptedData, nonce } = ferry.sealBox(name, collectionKey);
    assert.equal(nonce.length, 24);
    assert.equal(encryptedData.length, size + 16);
    assert.ok(equalBytes(sodium.crypto_secretbox_open_easy(encryptedData, nonce, collectionKey), name), `size ${size}`);

    const theirNonce = sodium.randombytes_buf(24);
    const theirs = sodium.crypto_secretbox_easy(name, theirNonce, collectionKey);
    assert.ok(equalBytes(ferry.openBox(theirs, theirNonce, collectionKey), name), `size ${size}`);
    if (size > 0) {
      const flipped = theirs.slice();
      flipped[16 + Math.floor(next() * size)] ^= 1;
      assert.throws(() => ferry.openBox(flipped, theirNonce, collectionKey), { code: 'DECRYPT_FAILED' });
    }
  }
  // Two seals of the same name never share a nonce.
  const a = ferry.sealBox(new Uint8Array(3), collectionKey);
  const b = ferry.sealBox(new Uint8Array(3), collectionKey);
  assert.ok(!equalBytes(a.nonce, b.nonce));
  assert.throws(() => ferry.openBox(new Uint8Array(15), new Uint8Array(24), collectionKey), { code: 'DECRYPT_FAILED' });
});

test('BLAKE2b-512 equals crypto_generichash(64), across checkpoints', () => {
  for (const size of [0, 1, 127, 128, 129, 1000, CHUNK + 3, Math.floor(next() * 2 * CHUNK)]) {
    const data = randomBytes(size, next);
    const expected = sodium.crypto_generichash(64, data, null);
    let h = new ferry.Blake2b512();
    const step = Math.max(1, Math.floor(size / 3));
    for (let offset = 0; offset < size; offset += step) {
      h.update(data.subarray(offset, offset + step));
      const checkpoint = h.checkpoint();
      h.free();
      h = ferry.Blake2b512.resume(checkpoint);
    }
    assert.equal(h.bytesHashed, size);
    assert.ok(equalBytes(h.finalize(), expected), `size ${size}`);
  }
});

test('base64 is standard, padded base64', () => {
  const bytes = randomBytes(100, next);
  const text = ferry.toBase64(bytes);
  assert.equal(text, sodium.to_base64(bytes, sodium.base64_variants.ORIGINAL));
  assert.ok(equalBytes(ferry.fromBase64(text), bytes));
  assert.throws(() => ferry.fromBase64('not base64!'), { code: 'BAD_BASE64' });
});
