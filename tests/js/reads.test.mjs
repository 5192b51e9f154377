// How the page reads a file's bytes (src/web/platform.js `readBlob`): a
// small file once, whole; a larger one through a stream, each next piece
// pulled ahead while the engine works on the one before, and handed over
// in the stream's own pieces. Whatever the order of the reads, each returns
// exactly the bytes asked for; a piece a stream fails to give is read as a
// slice; only the last few streams are held.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readBlob, forgetKeptFiles } from '../../src/web/platform.js';

const MIB = 1024 * 1024;
// Not a divisor of any piece: pieces straddle the stream's chunks.
const STREAM_CHUNK = MIB + 3;

// A file as readBlob sees one (size, slice, arrayBuffer, stream), whose
// bytes are a function of their offset. It records the slices read
// (`reads`), the streams opened (`opened`, by start) and cancelled
// (`cancelled`); `failAt` makes each stream fail once it reaches that
// offset, `endsAt` makes the first stream end there early, and
// `sliceFails` makes slice reads fail too.
function file(size, { salt = 0, failAt = null, endsAt = null, sliceFails = false } = {}) {
  const byteAt = (i) => (i * 31 + (i >> 12) + salt) & 0xff;
  const blob = {
    size,
    reads: [],
    opened: [],
    cancelled: 0,
    expect(start, end) {
      const bytes = new Uint8Array(end - start);
      for (let k = 0; k < bytes.length; k++) bytes[k] = byteAt(start + k);
      return bytes;
    },
    slice(start, end = size) {
      return {
        arrayBuffer: async () => {
          blob.reads.push([start, end]);
          if (sliceFails) throw Object.assign(new Error('gone'), { name: 'NotFoundError' });
          return blob.expect(start, end).buffer;
        },
        stream: () => blob.streamFrom(start),
      };
    },
    arrayBuffer() {
      return blob.slice(0, size).arrayBuffer();
    },
    stream() {
      return blob.streamFrom(0);
    },
    streamFrom(start) {
      blob.opened.push(start);
      let at = start;
      let cancelled = false;
      return {
        getReader: () => ({
          read: async () => {
            if (cancelled || at >= size) return { done: true, value: undefined };
            if (endsAt !== null && at >= endsAt) {
              endsAt = null; // the first stream only
              return { done: true, value: undefined };
            }
            if (failAt !== null && at >= failAt) throw new Error('stream broke');
            const end = Math.min(size, at + STREAM_CHUNK);
            const value = blob.expect(at, end);
            at = end;
            return { done: false, value };
          },
          cancel: async () => {
            cancelled = true;
            blob.cancelled++;
          },
        }),
      };
    },
  };
  return blob;
}

// The pieces readBlob gives, joined as wasm joins them.
async function read(blob, start, end) {
  const pieces = await readBlob(blob, start, end);
  const bytes = new Uint8Array(pieces.reduce((sum, piece) => sum + piece.length, 0));
  let at = 0;
  for (const piece of pieces) {
    bytes.set(piece, at);
    at += piece.length;
  }
  return bytes;
}

async function check(blob, start, end) {
  const bytes = await read(blob, start, end);
  assert.deepEqual(bytes, blob.expect(start, end), `bytes ${start}..${end}`);
}

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

test('a small file is read once, whole, and each read gets its own bytes', async () => {
  forgetKeptFiles();
  const blob = file(3 * MIB + 11);
  await check(blob, 0, 16);
  await check(blob, 5, 3 * MIB + 11);
  await check(blob, MIB, 2 * MIB);
  assert.deepEqual(blob.reads, [[0, 3 * MIB + 11]]);
  assert.deepEqual(blob.opened, []);
});

test('a file read in order is one stream, and a small read leaves it alone', async () => {
  forgetKeptFiles();
  const size = 20 * MIB + 7;
  const blob = file(size);
  await check(blob, 0, 4 * MIB);
  await check(blob, 100, 116);
  for (let at = 4 * MIB; at < size; at += 4 * MIB) await check(blob, at, Math.min(size, at + 4 * MIB));
  assert.deepEqual(blob.opened, [0], 'one stream for the whole pass');
  assert.deepEqual(blob.reads, [[100, 116]], 'only the header read was a slice');
  // A second pass (encryption after hashing) starts a stream of its own,
  // and a resumed upload starts one where it resumes.
  await check(blob, 0, 4 * MIB);
  await check(blob, 12 * MIB, 16 * MIB);
  await check(blob, 16 * MIB, 20 * MIB);
  assert.deepEqual(blob.opened, [0, 0, 12 * MIB]);
});

test('a large read elsewhere in the file (a video box) is a slice and leaves the stream alone', async () => {
  forgetKeptFiles();
  const blob = file(24 * MIB);
  await check(blob, 0, 4 * MIB);
  await check(blob, 1000, 1000 + 6 * MIB);
  await check(blob, 4 * MIB, 8 * MIB);
  assert.deepEqual(blob.opened, [0]);
  assert.deepEqual(blob.reads, [[1000, 1000 + 6 * MIB]]);
});

test('a stream idle between steps is let go: the piece read ahead serves, the next opens anew', async () => {
  forgetKeptFiles();
  const realNow = Date.now;
  let now = realNow();
  Date.now = () => now;
  try {
    const blob = file(24 * MIB);
    await check(blob, 0, 4 * MIB);
    await check(blob, 4 * MIB, 8 * MIB);
    assert.deepEqual(blob.opened, [0]);
    // A step waits for its parts, then reads on: an edit in place since
    // must meet a new open, where the browser checks the file.
    await new Promise((r) => setTimeout(r, 0));
    now += 600;
    await check(blob, 8 * MIB, 12 * MIB);
    await new Promise((r) => setTimeout(r, 0));
    assert.equal(blob.cancelled, 1, 'the idle reader was let go');
    assert.deepEqual(blob.opened, [0, 12 * MIB], 'the piece after the one read ahead opened anew');
    await check(blob, 12 * MIB, 16 * MIB);
    assert.deepEqual(blob.opened, [0, 12 * MIB]);
    assert.deepEqual(blob.reads, [], 'every piece came from a stream');
  } finally {
    Date.now = realNow;
  }
});

test('a stream that has given the last byte lets its reader go', async () => {
  forgetKeptFiles();
  const blob = file(10 * MIB + 1);
  for (let at = 0; at < blob.size; at += 4 * MIB) await check(blob, at, Math.min(blob.size, at + 4 * MIB));
  await new Promise((r) => setTimeout(r, 0));
  assert.deepEqual(blob.opened, [0]);
  assert.equal(blob.cancelled, 1);
});

test('a stream that ends early is let go, not read from piece after piece', async () => {
  forgetKeptFiles();
  const blob = file(24 * MIB, { endsAt: 6 * MIB });
  for (let at = 0; at < blob.size; at += 4 * MIB) await check(blob, at, at + 4 * MIB);
  // The piece it cut short came from a slice; the next one from a new stream.
  assert.deepEqual(blob.reads, [[4 * MIB, 8 * MIB]]);
  assert.deepEqual(blob.opened, [0, 8 * MIB]);
});

test('a piece a stream fails to give is read as a slice, whose error stands', async () => {
  forgetKeptFiles();
  const blob = file(12 * MIB, { failAt: 5 * MIB });
  await check(blob, 0, 4 * MIB);
  // The piece pulled ahead broke at 5 MiB: it comes from a slice instead.
  await check(blob, 4 * MIB, 8 * MIB);
  assert.deepEqual(blob.reads, [[4 * MIB, 8 * MIB]]);
  // The broken stream was let go; the next piece starts a new one.
  await check(blob, 8 * MIB, 12 * MIB).catch(() => {});
  assert.deepEqual(blob.opened, [0, 8 * MIB]);

  forgetKeptFiles();
  const gone = file(12 * MIB, { failAt: 0, sliceFails: true });
  await assert.rejects(readBlob(gone, 0, 4 * MIB), { name: 'NotFoundError' }, 'the slice\'s error, which says what went wrong');
});

test('a stream let go mid-read gives its piece from a slice, not short, and leaves no reader open', async () => {
  forgetKeptFiles();
  const blob = file(12 * MIB);
  const reading = read(blob, 0, 4 * MIB);
  forgetKeptFiles(); // as at a run start, or the oldest of too many streams
  assert.deepEqual(await reading, blob.expect(0, 4 * MIB));
  assert.deepEqual(blob.reads, [[0, 4 * MIB]]);
  assert.equal(blob.opened.length, blob.cancelled);
});

test('only the last few streams are held, and a run start lets them all go', async () => {
  forgetKeptFiles();
  const files = Array.from({ length: 6 }, (_, i) => file(12 * MIB, { salt: i }));
  for (const f of files) await check(f, 0, 4 * MIB);
  // The oldest two were let go (cancelled): their next piece starts anew.
  assert.deepEqual(files.map((f) => f.cancelled), [1, 1, 0, 0, 0, 0]);
  await check(files[0], 4 * MIB, 8 * MIB);
  assert.deepEqual(files[0].opened, [0, 4 * MIB]);
  await check(files[5], 4 * MIB, 8 * MIB);
  assert.deepEqual(files[5].opened, [0], 'the newest was kept');
  forgetKeptFiles();
  assert.equal(files[5].cancelled, 1, 'let go at run start');
  await check(files[5], 8 * MIB, 12 * MIB);
  assert.deepEqual(files[5].opened, [0, 8 * MIB]);
});
