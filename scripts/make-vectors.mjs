// Known-answer vectors for Ferry's file format, produced by libsodium itself
// (libsodium-wrappers). Run `npm run vectors` to regenerate
// tests/vectors/libsodium.json; the Rust tests replay them byte for byte.
//
// Large plaintexts are not stored: both sides generate them from
// `pattern(length, seed)` and the vector keeps only the BLAKE2b-512 of the
// ciphertext libsodium produced.
import { writeFileSync } from 'node:fs';
import sodium from 'libsodium-wrappers';

await sodium.ready;
const hex = (b) => sodium.to_hex(b);
const CHUNK = 4 * 1024 * 1024;
const TAG = {
  message: sodium.crypto_secretstream_xchacha20poly1305_TAG_MESSAGE,
  push: sodium.crypto_secretstream_xchacha20poly1305_TAG_PUSH,
  rekey: sodium.crypto_secretstream_xchacha20poly1305_TAG_REKEY,
  final: sodium.crypto_secretstream_xchacha20poly1305_TAG_FINAL,
};

// Keep identical to `pattern` in tests/common/mod.rs.
export function pattern(length, seed) {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = (i * 31 + seed * 7 + (i >>> 8)) & 0xff;
  return out;
}

function secretstreamCase(steps) {
  const key = sodium.crypto_secretstream_xchacha20poly1305_keygen();
  const { state, header } = sodium.crypto_secretstream_xchacha20poly1305_init_push(key);
  const messages = steps.map(([length, tagName, ad], i) => {
    const plaintext = pattern(length, i + 1);
    const adBytes = ad ? sodium.from_string(ad) : null;
    const ciphertext = sodium.crypto_secretstream_xchacha20poly1305_push(
      state, plaintext, adBytes, TAG[tagName]);
    return { tag: TAG[tagName], ad: adBytes ? hex(adBytes) : '', length, seed: i + 1, ciphertext: hex(ciphertext) };
  });
  return { key: hex(key), header: hex(header), messages };
}

function fileCase(size, seed) {
  const key = sodium.crypto_secretstream_xchacha20poly1305_keygen();
  const { state, header } = sodium.crypto_secretstream_xchacha20poly1305_init_push(key);
  const plaintext = pattern(size, seed);
  const hasher = sodium.crypto_generichash_init(null, 64);
  let length = 0;
  let offset = 0;
  do {
    const end = Math.min(offset + CHUNK, size);
    const last = end === size;
    const c = sodium.crypto_secretstream_xchacha20poly1305_push(
      state, plaintext.subarray(offset, end), null, last ? TAG.final : TAG.message);
    sodium.crypto_generichash_update(hasher, c);
    length += c.length;
    offset = end;
  } while (offset < size);
  return {
    key: hex(key), header: hex(header), size, seed,
    ciphertextLength: length,
    ciphertextBlake2b: hex(sodium.crypto_generichash_final(hasher, 64)),
    plaintextBlake2b: hex(sodium.crypto_generichash(64, plaintext, null)),
  };
}

const vectors = {
  generator: 'scripts/make-vectors.mjs with libsodium-wrappers ' +
    JSON.parse((await import('node:fs')).readFileSync(new URL('../node_modules/libsodium-wrappers/package.json', import.meta.url))).version,
  secretstream: [
    secretstreamCase([[0, 'message'], [1, 'message'], [15, 'push'], [16, 'message'], [17, 'message', 'ad'], [64, 'message'], [65, 'final']]),
    secretstreamCase([[100, 'message', 'header ad'], [63, 'rekey'], [200, 'message'], [0, 'rekey'], [1000, 'message'], [3, 'final']]),
    secretstreamCase([[0, 'final']]),
  ],
  files: [[0, 1], [1, 2], [CHUNK - 1, 3], [CHUNK, 4], [CHUNK + 1, 5], [3 * CHUNK + 5, 6]]
    .map(([size, seed]) => fileCase(size, seed)),
  secretbox: [0, 32, 100].map((length, i) => {
    const key = sodium.crypto_secretbox_keygen();
    const nonce = sodium.randombytes_buf(sodium.crypto_secretbox_NONCEBYTES);
    const message = pattern(length, 10 + i);
    return { key: hex(key), nonce: hex(nonce), length, seed: 10 + i,
      sealed: hex(sodium.crypto_secretbox_easy(message, nonce, key)) };
  }),
  generichash: [0, 1, 127, 128, 129, 255, 256, 1000, (1 << 20) + 3].map((length, i) => ({
    length, seed: 20 + i, hash: hex(sodium.crypto_generichash(64, pattern(length, 20 + i), null)),
  })),
};

writeFileSync(new URL('../tests/vectors/libsodium.json', import.meta.url), JSON.stringify(vectors, null, 1) + '\n');
console.log('wrote tests/vectors/libsodium.json');
