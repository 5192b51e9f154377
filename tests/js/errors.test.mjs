// Bad input never panics the wasm instance (which would kill every later
// call); it throws a FerryError with a stable code, and the module keeps working.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ferry, CHUNK } from './helpers.mjs';

const { FerryError } = ferry;

function assertCode(fn, code) {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof FerryError, `expected a FerryError, got ${err}`);
    assert.ok(err instanceof Error);
    assert.equal(err.name, 'FerryError');
    assert.equal(err.code, code, err.message);
    assert.ok(err.message.length > 10, 'the message says what went wrong');
    assert.ok(typeof err.stack === 'string');
    return;
  }
  assert.fail(`expected ${code}`);
}

test('typed errors for every kind of bad input', () => {
  const key = ferry.generateKey();
  const { header, ciphertext } = ferry.encryptFileBytes(key, new Uint8Array(CHUNK + 10));
  assertCode(() => ferry.encryptFileBytes(new Uint8Array(16), new Uint8Array(1)), 'BAD_KEY_LENGTH');
  assertCode(() => ferry.encryptFileBytes('a string key', new Uint8Array(1)), 'BAD_INPUT');
  assertCode(() => ferry.encryptFileBytes(key, [1, 2, 3]), 'BAD_INPUT');
  assertCode(() => ferry.encryptFileBytes(key, undefined), 'BAD_INPUT');
  assertCode(() => ferry.decryptFileBytes(key, header.subarray(1), ciphertext), 'BAD_HEADER');
  assertCode(() => ferry.decryptFileBytes(ferry.generateKey(), header, ciphertext), 'DECRYPT_FAILED');
  assertCode(() => ferry.decryptFileBytes(key, header, ciphertext.subarray(0, CHUNK + 17)), 'TRUNCATED');
  const trailing = new Uint8Array(ciphertext.length + 1);
  trailing.set(ciphertext);
  assertCode(() => ferry.decryptFileBytes(key, header, trailing), 'DECRYPT_FAILED');
  const garbage = crypto.getRandomValues(new Uint8Array(5000));
  assertCode(() => ferry.decryptFileBytes(key, header, garbage), 'DECRYPT_FAILED');
  assertCode(() => new ferry.FileEncryptor(key).push(new Uint8Array(10), false), 'BAD_CHUNK_SIZE');
  assertCode(() => new ferry.FileDecryptor(key, header).pull(new Uint8Array(3)), 'BAD_CHUNK_LENGTH');
  assertCode(() => ferry.unwrapKey(new Uint8Array(48), new Uint8Array(5), key), 'BAD_NONCE_LENGTH');
  assertCode(() => ferry.openBox(new Uint8Array(48), new Uint8Array(23), key), 'BAD_NONCE_LENGTH');
  assertCode(() => ferry.sealBox(new Uint8Array(4), new Uint8Array(31)), 'BAD_KEY_LENGTH');
  assertCode(() => ferry.encryptedSize(-1), 'BAD_INPUT');
  assertCode(() => ferry.encryptedSize(1.5), 'BAD_INPUT');
});

test('checkpoints from another stream, of another kind, or corrupted are refused', () => {
  const key = ferry.generateKey();
  const enc = new ferry.FileEncryptor(key);
  enc.push(new Uint8Array(CHUNK));
  const checkpoint = enc.checkpoint();
  assertCode(() => ferry.FileEncryptor.resume(ferry.generateKey(), checkpoint), 'CHECKPOINT_MISMATCH');
  assertCode(() => ferry.FileDecryptor.resume(key, checkpoint), 'CHECKPOINT_MISMATCH');
  const corrupted = checkpoint.slice();
  corrupted[corrupted.length - 1] ^= 1;
  assertCode(() => ferry.FileEncryptor.resume(key, corrupted), 'CHECKPOINT_MISMATCH');
  assertCode(() => ferry.FileEncryptor.resume(key, new Uint8Array([1, 2, 3])), 'BAD_CHECKPOINT');
  const hashCheckpoint = new ferry.Blake2b512().checkpoint();
  hashCheckpoint[20] ^= 1;
  assertCode(() => ferry.Blake2b512.resume(hashCheckpoint), 'BAD_CHECKPOINT');
  const stream = new ferry.FileEncryptor(key);
  assertCode(() => ferry.Blake2b512.resume(stream.checkpoint()), 'CHECKPOINT_MISMATCH');
});

test('the module still works after every error above', () => {
  const key = ferry.generateKey();
  const { header, ciphertext } = ferry.encryptFileBytes(key, new Uint8Array([1, 2, 3]));
  assert.deepEqual([...ferry.decryptFileBytes(key, header, ciphertext)], [1, 2, 3]);
});
