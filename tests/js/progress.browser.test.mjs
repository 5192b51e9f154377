// Progress a person can watch: over a slow uplink (throttled with DevTools)
// a 40 MB file reports progress at least once a second from its first
// hashed byte to its last sent one, never going back, although each of its
// parts takes seconds on the wire and `fetch` says nothing while it goes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { browserSuite, fixturePage } from './suite.mjs';
import { MIB, newCollection, serverFiles } from './library.mjs';

const suite = browserSuite();

test('a 40 MB file over a 2 MB/s uplink reports progress at least once a second, monotonically', async () => {
  const { server } = suite;
  const collection = await newCollection(server);
  const { context, page, cdp } = await fixturePage(suite);
  await cdp.send('Network.enable');
  await cdp.send('Network.emulateNetworkConditions', {
    offline: false, latency: 40, downloadThroughput: 10 * MIB, uploadThroughput: 2 * 1000 * 1000,
  });
  const size = 40 * 1000 * 1000;
  const { events, report, started, finished } = await page.evaluate(async ({ api, token, collectionId, collectionKey, size }) => {
    const { default: init, Ferry } = await import('/pkg/index.js');
    await init();
    const ferry = await Ferry.open({ endpoint: api, token, database: 'progress' });
    await ferry.setCollectionKey(collectionId, Uint8Array.from(collectionKey));
    const bytes = new Uint8Array(size);
    for (let i = 0; i < size; i += 65536) crypto.getRandomValues(bytes.subarray(i, i + 65536));
    await ferry.enqueue([{ collectionId, file: new File([bytes], 'long.mov', { type: 'video/quicktime' }) }]);
    const events = [];
    ferry.on('progress', (p) => events.push({ at: performance.now(), ...p }));
    const started = performance.now();
    const report = await ferry.sync();
    const finished = performance.now();
    ferry.close();
    return { events, report, started, finished };
  }, { api: server.api, token: server.token, collectionId: collection.id, collectionKey: [...collection.key], size });
  await context.close();

  assert.equal(report.filesDone, 1, JSON.stringify(report));
  assert.ok(finished - started > 15_000, `the link was slow: ${(finished - started).toFixed(0)} ms`);
  assert.ok(events.length > 0, 'progress was reported');
  const last = events.at(-1);
  assert.equal(last.size, size);
  assert.equal(last.bytesHashed, size);
  assert.equal(last.bytesSent, last.encryptedSize, 'the last report is the whole file');
  const gaps = [];
  for (let i = 1; i < events.length; i++) {
    const [a, b] = [events[i - 1], events[i]];
    assert.ok(b.bytesHashed >= a.bytesHashed && b.bytesSent >= a.bytesSent,
      `progress went back: ${JSON.stringify(a)} then ${JSON.stringify(b)}`);
    gaps.push(b.at - a.at);
  }
  // From the first report (hashing starts) to the last (the last part
  // recorded): never a second without one. Between parts (the thumbnail,
  // URLs, the registration) the last figures come again.
  const longest = Math.max(...gaps);
  assert.ok(longest <= 1000, `${longest.toFixed(0)} ms without progress; gaps: ${gaps.map((g) => g.toFixed(0)).join(' ')}`);
  assert.ok(events[0].at - started <= 1000, 'the first report comes within a second');
  const estimated = events.filter((e) => e.bytesSent > 0 && e.bytesSent < e.encryptedSize);
  assert.ok(estimated.length >= 10, `bytes in flight are reported as they go (${estimated.length} reports)`);
  const files = await serverFiles(server, collection);
  assert.equal(files.length, 1);
  assert.equal(files[0].plaintext.length, size);
});
