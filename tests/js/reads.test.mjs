// How the page reads a file's bytes (src/web/platform.js `readBlob`): a
// small file once, whole; a larger one in pieces, each next piece asked for
// ahead while the engine works on the one before. Whatever the order of
// the reads, each returns exactly the bytes asked for, a piece that failed
// ahead is read again, and only the last few pieces are held.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readBlob, forgetKeptFiles } from '../../src/web/platform.js';

const MIB = 1024 * 1024;

// A file as readBlob sees one (size, slice, arrayBuffer), whose bytes are a
// function of their offset and which counts the reads it is asked for;
// `failOnce` fails the first read of the pieces starting there.
function file(size, { salt = 0, failOnce = [] } = {}) {
  const byteAt = (i) => (i * 31 + (i >> 12) + salt) & 0xff;
  const failing = new Set(failOnce);
  const blob = {
    size,
    reads: [],
    slice(start, end) {
      return {
        arrayBuffer: async () => {
          blob.reads.push([start, end]);
          if (failing.delete(start)) throw new Error(`NotReadableError at ${start}`);
          return blob.expect(start, end).buffer;
        },
      };
    },
    arrayBuffer() {
      return blob.slice(0, size).arrayBuffer();
    },
  };
  blob.expect = (start, end) => {
    const bytes = new Uint8Array(end - start);
    for (let k = 0; k < bytes.length; k++) bytes[k] = byteAt(start + k);
    return bytes;
  };
  return blob;
}

async function check(blob, start, end) {
  const bytes = new Uint8Array(await readBlob(blob, start, end));
  assert.deepEqual(bytes, blob.expect(start, end), `bytes ${start}..${end}`);
}

const settle = () => new Promise((r) => setTimeout(r, 0));

test('each read of a large file gets its own bytes, in whatever order it comes', async () => {
  forgetKeptFiles();
  const size = 21 * MIB + 5;
  const blob = file(size);
  // Hashing: 8 MiB stretches; then encryption: 4 MiB chunks from the start.
  for (let at = 0; at < size; at += 8 * MIB) await check(blob, at, Math.min(size, at + 8 * MIB));
  for (let at = 0; at < size; at += 4 * MIB) await check(blob, at, Math.min(size, at + 4 * MIB));
  // Out of order, and a video's box headers among the chunks.
  await check(blob, 8 * MIB, 12 * MIB);
  await check(blob, 4 * MIB, 8 * MIB);
  await check(blob, 16, 32);
  await check(blob, 12 * MIB, 16 * MIB);
  await check(blob, 12 * MIB + 3, 12 * MIB + 19);
  await check(blob, 16 * MIB, 20 * MIB);
});

test('the next piece is read ahead; a small read is not followed', async () => {
  forgetKeptFiles();
  const blob = file(20 * MIB);
  await check(blob, 0, 4 * MIB);
  await settle();
  assert.deepEqual(blob.reads, [[0, 4 * MIB], [4 * MIB, 8 * MIB]], 'the next chunk was asked for at once');
  await check(blob, 4 * MIB, 8 * MIB);
  await settle();
  assert.equal(blob.reads.length, 3, 'served from the piece read ahead, and the one after asked for');
  await check(blob, 100, 116);
  await settle();
  assert.equal(blob.reads.length, 4, 'a header read reads only itself');
  // The last chunk: nothing after it to read.
  await check(blob, 16 * MIB, 20 * MIB);
  await settle();
  assert.equal(blob.reads.at(-1)[1], 20 * MIB);
  assert.ok(blob.reads.every(([, end]) => end <= 20 * MIB), 'never past the end');
});

test('a piece that failed ahead is read again when it is asked for', async () => {
  forgetKeptFiles();
  const blob = file(12 * MIB, { failOnce: [4 * MIB] });
  await check(blob, 0, 4 * MIB);
  await check(blob, 4 * MIB, 8 * MIB);
  const second = blob.reads.filter(([start]) => start === 4 * MIB);
  assert.equal(second.length, 2, 'failed ahead, then read again');
});

test('only the last few pieces are held, and a run start lets them all go', async () => {
  forgetKeptFiles();
  const files = Array.from({ length: 6 }, (_, i) => file(12 * MIB, { salt: i }));
  for (const f of files) await check(f, 0, 4 * MIB);
  await settle();
  // The oldest two were let go: their next chunk is read afresh.
  await check(files[0], 4 * MIB, 8 * MIB);
  await settle();
  assert.equal(files[0].reads.filter(([start]) => start === 4 * MIB).length, 2);
  await check(files[5], 4 * MIB, 8 * MIB);
  await settle();
  assert.equal(files[5].reads.filter(([start]) => start === 4 * MIB).length, 1, 'the newest was kept');
  forgetKeptFiles();
  await check(files[5], 8 * MIB, 12 * MIB);
  await settle();
  assert.equal(files[5].reads.filter(([start]) => start === 8 * MIB).length, 2, 'let go at run start');
});
