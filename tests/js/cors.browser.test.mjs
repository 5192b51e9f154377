// A self-hosted bucket without CORS rules for the app's origin, or with
// rules that hide `ETag`: the commonest mistake with presigned uploads. The
// API answers, the store does not (or its part answers carry no readable
// ETag): items wait with their own code, nothing fails, and diagnose()
// says to check the bucket's CORS rules. The reference server serves its
// store that way with --s3-cors.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { serveRepo, launchChromium } from './browser.mjs';
import { startServer } from './server.mjs';
import { MIB, newCollection } from './library.mjs';

const opened = [];
after(async () => {
  for (const close of opened.reverse()) await close();
});

async function backUp(cors, size) {
  const [site, server, browser] = await Promise.all([serveRepo(), startServer(['--s3-cors', cors]), launchChromium()]);
  opened.push(() => browser.close(), () => server.stop(), () => site.close());
  const collection = await newCollection(server);
  const page = await (await browser.newContext()).newPage();
  await page.goto(`${site.origin}/tests/js/fixtures/page.html`);
  return page.evaluate(async ({ api, token, collectionId, collectionKey, size }) => {
    const { default: init, Ferry } = await import('/pkg/index.js');
    await init();
    const ferry = await Ferry.open({ endpoint: api, token, database: 'cors', chunksPerPart: 2 });
    await ferry.setCollectionKey(collectionId, Uint8Array.from(collectionKey));
    const bytes = new Uint8Array(size);
    for (let i = 0; i < size; i += 65536) crypto.getRandomValues(bytes.subarray(i, Math.min(size, i + 65536)));
    await ferry.enqueue([{ collectionId, file: new File([bytes], 'photo.jpg', { type: 'image/jpeg' }) }]);
    const report = await ferry.sync({ trigger: 'foreground', budgetMs: 20_000 });
    const [item] = await ferry.items({});
    const findings = await ferry.diagnose();
    ferry.close();
    return { report, item, findings };
  }, { api: server.api, token: server.token, collectionId: collection.id, collectionKey: [...collection.key], size });
}

test('a store without CORS rules: the file waits as STORE_UNREACHABLE and diagnose() names the CORS rules', async () => {
  const { report, item, findings } = await backUp('none', 300_000);
  assert.equal(report.filesDone, 0, JSON.stringify(report));
  assert.equal(item.state, 'waiting', JSON.stringify(item));
  assert.equal(item.error?.code, 'STORE_UNREACHABLE', JSON.stringify(item));
  const finding = findings.find((f) => f.code === 'STORE_UNREACHABLE');
  assert.ok(finding, JSON.stringify(findings));
  assert.match(finding.advice, /CORS rules/);
  assert.ok(!findings.some((f) => f.code === 'OFFLINE'), 'the device is online: the API answers');
});

test('a store whose CORS rules hide ETag: a multipart file waits as ETAG_HIDDEN and diagnose() says to expose it', async () => {
  // Past one 8 MiB part (two 4 MiB chunks): a multipart upload, whose Complete needs each part's ETag.
  const { report, item, findings } = await backUp('no-etag', 9 * MIB);
  assert.equal(report.filesDone, 0, JSON.stringify(report));
  assert.equal(item.state, 'waiting', JSON.stringify(item));
  assert.equal(item.error?.code, 'ETAG_HIDDEN', JSON.stringify(item));
  const finding = findings.find((f) => f.code === 'ETAG_HIDDEN');
  assert.ok(finding, JSON.stringify(findings));
  assert.match(finding.advice, /ETag/);
});
