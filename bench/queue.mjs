// The queue in headless Chromium against the reference server, each
// measurement beside a baseline taken in the same run:
//  1. one large file through Ferry (hash, encrypt, multipart upload, POST
//     /files) against a plain fetch PUT of the same bytes to the same store,
//     on loopback and over a 20 MB/s uplink throttled with DevTools, and
//     against a plain multipart upload of 20 MiB parts, 3 at once;
//  2. 1,000 files of 256 KiB through Ferry against 1,000 plain PUTs, 8 at a
//     time, and the same line at each parallelFiles setting; 500 photos of
//     3 MiB over the throttled uplink with 100 ms latency;
//  3. peak wasm memory while uploading a 2 GiB file (read from a host
//     reader, so the page never holds it);
//  4. enqueueing 100,000 items in one call, and status() latency with them queued.
// FERRY_BENCH_QUEUE_MIB (default 256; 512 overflows headless
// Chromium's blob storage here), FERRY_BENCH_THROTTLED_MIB (256),
// FERRY_BENCH_SMALL (1000), FERRY_BENCH_SWEEP (300), FERRY_BENCH_PHOTOS
// (500), FERRY_BENCH_HUGE_MIB (2048) and FERRY_BENCH_ITEMS (100000) scale
// it down. FERRY_BENCH_PROFILE=<dir> writes a CPU profile of the page for
// each measurement there (<phase>-<n>.cpuprofile, for DevTools' Performance
// panel): where the page's time goes, Ferry's wasm or the browser's calls.
import { mkdirSync, writeFileSync } from 'node:fs';
import { serveRepo, launchChromium } from '../tests/js/browser.mjs';
import { startServer } from '../tests/js/server.mjs';

const MIB = Number(process.env.FERRY_BENCH_QUEUE_MIB ?? 256);
const SMALL = Number(process.env.FERRY_BENCH_SMALL ?? 1000);
const HUGE_MIB = Number(process.env.FERRY_BENCH_HUGE_MIB ?? 2048);
const ITEMS = Number(process.env.FERRY_BENCH_ITEMS ?? 100_000);
// Files per setting in the parallelFiles sweep.
const SWEEP = Number(process.env.FERRY_BENCH_SWEEP ?? 300);
// The same comparison over an uplink throttled with DevTools, as on a real link.
const UPLINK = 20e6;
const THROTTLED_MIB = Number(process.env.FERRY_BENCH_THROTTLED_MIB ?? 256);
// Photos of 3 MiB over that uplink with 100 ms of latency.
const PHOTOS = Number(process.env.FERRY_BENCH_PHOTOS ?? 500);

const [site, server, browser] = await Promise.all([serveRepo(), startServer(), launchChromium()]);

// Each measurement in a fresh browser context, so one phase's blobs (a
// quarter GiB and more) are gone before the next: headless Chromium's blob
// storage overflows into unreadable blobs past about half a GiB here.
const PROFILE_DIR = process.env.FERRY_BENCH_PROFILE;
let profiles = 0;

async function inPage(phase, args, uplink = null, latency = 20) {
  const context = await browser.newContext();
  try {
    const page = await context.newPage();
    await page.goto(`${site.origin}/tests/js/fixtures/page.html`);
    const profiler = PROFILE_DIR && (await context.newCDPSession(page));
    if (profiler) {
      await profiler.send('Profiler.enable');
      await profiler.send('Profiler.start');
    }
    if (uplink) {
      const cdp = await context.newCDPSession(page);
      await cdp.send('Network.enable');
      await cdp.send('Network.emulateNetworkConditions', { offline: false, latency, downloadThroughput: 100e6, uploadThroughput: uplink });
    }
    const out = await page.evaluate(async ({ api, token, phase, args }) => {
      const { default: init, Ferry, generateKey, toBase64 } = await import('/pkg/index.js');
      const wasm = await init();
      const headers = { 'X-Auth-Token': token, 'Content-Type': 'application/json' };
      const call = async (path, init = {}) => (await fetch(api + path, { headers, ...init })).json();
      const b64 = (n) => toBase64(crypto.getRandomValues(new Uint8Array(n)));
      const { collection } = await call('/collections', {
        method: 'POST',
        body: JSON.stringify({ encryptedKey: b64(48), keyDecryptionNonce: b64(24), encryptedName: b64(16), nameDecryptionNonce: b64(24), type: 'album' }),
      });
      const random = (n) => {
        const bytes = new Uint8Array(n);
        for (let i = 0; i < n; i += 65536) crypto.getRandomValues(bytes.subarray(i, i + 65536));
        return bytes;
      };
      const urls = async (count) => {
        const out = [];
        while (out.length < count) out.push(...(await call(`/files/upload-urls?count=${Math.min(50, count - out.length)}`)).urls);
        return out;
      };
      const open = async (database, extra = {}) => {
        const ferry = await Ferry.open({ endpoint: api, token, database, ...extra });
        await ferry.setCollectionKey(collection.id, generateKey());
        return ferry;
      };
      const out = {};
      // Files that took a hashing pass before their upload (a progress
      // event with part of the file hashed and nothing sent): the rest were
      // hashed as they were encrypted. A file of at most 8 MiB is hashed in
      // one step either way, so this sees large files only.
      const countHashedFirst = (ferry, key) => {
        const ids = new Set();
        out[key] = 0;
        ferry.on('progress', (p) => {
          if (p.bytesSent === 0 && p.bytesHashed < p.size) ids.add(p.id);
          out[key] = ids.size;
        });
      };
      const phases = {
        // 1. One large file. The baseline's body is a Blob: DevTools (which
        // drives this page) copies a typed-array request body into its own
        // events, and past a few hundred MiB that alone fails.
        async large({ mib }) {
          const big = new Blob([random(mib * 1024 * 1024)]);
          const [url] = await urls(1);
          let t = performance.now();
          const put = await fetch(url.url, { method: 'PUT', body: big });
          if (!put.ok) throw new Error(`baseline PUT: ${put.status}`);
          out.plainMs = performance.now() - t;
          const ferry = await open('bench');
          countHashedFirst(ferry, 'hashedFirst');
          await ferry.enqueue([{ collectionId: collection.id, file: new File([big], 'big.mp4') }]);
          t = performance.now();
          const report = await ferry.sync({});
          out.ferryMs = performance.now() - t;
          if (report.filesDone !== 1) throw new Error(JSON.stringify(report));
          ferry.close();
        },
        // 2. Many small files: one File per photo, PUT as it is by the
        // baseline and queued by Ferry. Both sides retry: on loopback under
        // this load a few requests fail with a network error.
        async small({ small, parallelFiles, baseline = true }) {
          const files = Array.from({ length: small }, (_, i) => new File([random(256 * 1024)], `small-${i}.jpg`));
          const smallUrls = await urls(small);
          const putWithRetry = async (url, file) => {
            for (let attempt = 0; ; attempt++) {
              try {
                const response = await fetch(url, { method: 'PUT', body: file });
                if (response.ok) return;
              } catch (err) {
                if (attempt >= 3) throw err;
              }
            }
          };
          let t = performance.now();
          if (baseline) {
            for (let i = 0; i < small; i += 8) {
              await Promise.all(files.slice(i, i + 8).map((file, j) => putWithRetry(smallUrls[i + j].url, file)));
            }
            out.smallPlainMs = performance.now() - t;
          }
          const ferry = await open('bench-small', parallelFiles ? { parallelFiles } : {});
          for (let i = 0; i < small; i += 100) {
            await ferry.enqueue(files.slice(i, i + 100).map((file) => ({ collectionId: collection.id, file })));
          }
          t = performance.now();
          let done = 0;
          out.smallRuns = 0;
          for (;;) {
            const report = await ferry.sync({});
            done += report.filesDone;
            out.smallRuns++;
            if (done >= small) break;
            if (report.stoppedBecause !== 'idle' || report.nextRunHint === null) {
              const failed = await ferry.items({ state: 'failed', limit: 3 });
              throw new Error(JSON.stringify({ report, status: await ferry.status(), failed }));
            }
            await new Promise((r) => setTimeout(r, report.nextRunHint));
          }
          out.smallFerryMs = performance.now() - t;
          ferry.close();
        },
        // 1b. One large file against a plain multipart upload of the same
        // bytes: the part size Ferry takes on a measured link (5 chunks of
        // 4 MiB, each with its 17-byte tag; a fresh database starts at 2,
        // so Ferry's side uploads a first file before) and its 3 parts at
        // once, Complete included. With 8 MiB parts the baseline did not
        // finish in a fresh context, two runs of two.
        // Each side in a context of its own: together they overflow the
        // blob storage at 256 MiB.
        async multipart({ mib, side }) {
          const big = new Blob([random(mib * 1024 * 1024)]);
          if (side === 'ferry') {
            const ferry = await open('bench-multipart');
            countHashedFirst(ferry, 'multipartHashedFirst');
            // A first upload measures the link, as on a device that has
            // uploaded before: the large file's parts are then 5 chunks,
            // as the baseline's.
            await ferry.enqueue([{ collectionId: collection.id, file: new File([random(12 * 1024 * 1024)], 'first.mp4') }]);
            if ((await ferry.sync({})).filesDone !== 1) throw new Error('the first upload did not land');
            await ferry.enqueue([{ collectionId: collection.id, file: new File([big], 'big.mp4') }]);
            const t = performance.now();
            const report = await ferry.sync({});
            out.multipartFerryMs = performance.now() - t;
            if (report.filesDone !== 1) throw new Error(JSON.stringify({ report, items: await ferry.items({}) }));
            ferry.close();
            return;
          }
          const partSize = 5 * (4 * 1024 * 1024 + 17);
          const parts = Math.ceil(big.size / partSize);
          const t = performance.now();
          const { urls } = await call(`/files/multipart-upload-urls?count=${parts}`);
          const etags = new Array(parts);
          let next = 0;
          const worker = async () => {
            while (next < parts) {
              const n = next++;
              const response = await fetch(urls.partURLs[n], { method: 'PUT', body: big.slice(n * partSize, (n + 1) * partSize) });
              if (!response.ok) throw new Error(`part ${n + 1}: ${response.status}`);
              etags[n] = response.headers.get('ETag');
            }
          };
          await Promise.all([worker(), worker(), worker()]);
          const xml = `<CompleteMultipartUpload>${etags.map((e, i) => `<Part><PartNumber>${i + 1}</PartNumber><ETag>${e}</ETag></Part>`).join('')}</CompleteMultipartUpload>`;
          const complete = await fetch(urls.completeURL, { method: 'POST', headers: { 'Content-Type': 'text/xml' }, body: xml });
          if (!complete.ok) throw new Error(`complete: ${complete.status}`);
          out.multipartPlainMs = performance.now() - t;
        },
        // 2b. A photo library over a phone-like link: photos of 3 MiB
        // through Ferry against plain PUTs of the same bytes, 8 at a time.
        // The photos come from a host reader, as in a hybrid app (1.5 GB of
        // Blobs copied into IndexedDB would pass this origin's quota), and
        // both sides make each photo's bytes from one random MiB as they
        // send it.
        async photos({ count }) {
          const PHOTO = 3 * 1024 * 1024;
          const mib = random(1024 * 1024);
          const photo = (i, offset = 0, length = PHOTO) => {
            const bytes = new Uint8Array(length);
            for (let at = 0; at < length; at += mib.length) bytes.set(mib.subarray(0, Math.min(mib.length, length - at)), at);
            bytes[0] ^= (i + offset) & 0xff; // no two photos alike
            bytes[length - 1] ^= (i >> 8) & 0xff;
            return bytes;
          };
          const photoUrls = await urls(count);
          let t = performance.now();
          for (let i = 0; i < count; i += 8) {
            await Promise.all(photoUrls.slice(i, i + 8).map(async (url, j) => {
              // A Blob body, as Ferry sends: DevTools copies a typed-array
              // body into its events while it throttles the page.
              const response = await fetch(url.url, { method: 'PUT', body: new Blob([photo(i + j)]) });
              if (!response.ok) throw new Error(`PUT: ${response.status}`);
            }));
          }
          out.photosPlainMs = performance.now() - t;
          const ferry = await open('bench-photos', {
            resolveSource: (ref) => {
              const i = Number(ref.slice('host:photo-'.length));
              return { size: PHOTO, lastModified: 1, read: async (offset, length) => photo(i, offset, length) };
            },
          });
          await ferry.enqueue(Array.from({ length: count }, (_, i) => ({ collectionId: collection.id, source: `host:photo-${i}`, title: `photo-${i}.jpg` })));
          t = performance.now();
          let done = 0;
          while (done < count) {
            const report = await ferry.sync({});
            done += report.filesDone;
            if (report.stoppedBecause !== 'idle') throw new Error(JSON.stringify(report));
            if (done < count) await new Promise((r) => setTimeout(r, report.nextRunHint ?? 0));
          }
          out.photosFerryMs = performance.now() - t;
          ferry.close();
        },
        // 3. Peak wasm memory on a huge file from a host reader.
        async huge({ hugeMib }) {
          const chunk = random(1024 * 1024);
          const ferry = await open('bench-huge', {
            resolveSource: () => ({
              size: hugeMib * 1024 * 1024,
              lastModified: 1,
              read: async (offset, length) => {
                const bytes = new Uint8Array(length);
                for (let at = 0; at < length; at += chunk.length) bytes.set(chunk.subarray(0, Math.min(chunk.length, length - at)), at);
                bytes[0] ^= offset & 0xff; // not all parts alike
                return bytes;
              },
            }),
          });
          await ferry.enqueue([{ collectionId: collection.id, source: 'host:huge', title: 'huge.mov' }]);
          out.memoryBeforeMiB = wasm.memory.buffer.byteLength / 1048576;
          const t = performance.now();
          const report = await ferry.sync({});
          out.hugeMs = performance.now() - t;
          if (report.filesDone !== 1) throw new Error(JSON.stringify(report));
          out.memoryAfterMiB = wasm.memory.buffer.byteLength / 1048576;
          ferry.close();
        },
        // 4. Enqueue at scale (host references: nothing is stored but the records).
        async enqueue({ items }) {
          const ferry = await open('bench-enqueue');
          const batch = Array.from({ length: items }, (_, i) => ({ collectionId: collection.id, source: `host:f${i}`, title: `IMG_${i}.jpg` }));
          let t = performance.now();
          await ferry.enqueue(batch);
          out.enqueueMs = performance.now() - t;
          const samples = [];
          for (let i = 0; i < 50; i++) {
            t = performance.now();
            await ferry.status();
            samples.push(performance.now() - t);
          }
          samples.sort((a, b) => a - b);
          out.statusMedianMs = samples[25];
          out.statusP95Ms = samples[47];
          ferry.close();
        },
      };
      await phases[phase](args);
      return out;
    }, { api: server.api, token: server.token, phase, args });
    if (profiler) {
      const { profile } = await profiler.send('Profiler.stop');
      mkdirSync(PROFILE_DIR, { recursive: true });
      writeFileSync(`${PROFILE_DIR}/${phase}-${++profiles}.cpuprofile`, JSON.stringify(profile));
    }
    return out;
  } finally {
    await context.close();
  }
}

// FERRY_BENCH_PHASES (comma-separated: throttled, large, multipart, small,
// files, photos, huge, enqueue; default all) runs only some measurements.
const PHASES = new Set((process.env.FERRY_BENCH_PHASES ?? 'throttled,large,multipart,small,files,photos,huge,enqueue').split(','));
const when = async (phase, run) => (PHASES.has(phase) ? run() : {});
try {
  const throttled = await when('throttled', () => inPage('large', { mib: THROTTLED_MIB }, UPLINK));
  const result = {
    ...(await when('large', () => inPage('large', { mib: MIB }))),
    ...(await when('multipart', () => inPage('multipart', { mib: MIB, side: 'plain' }))),
    ...(await when('multipart', () => inPage('multipart', { mib: MIB, side: 'ferry' }))),
    ...(await when('photos', () => inPage('photos', { count: PHOTOS }, UPLINK, 100))),
    ...(await when('small', () => inPage('small', { small: SMALL }))),
    ...(await when('huge', () => inPage('huge', { hugeMib: HUGE_MIB }))),
    ...(await when('enqueue', () => inPage('enqueue', { items: ITEMS }))),
  };
  // How many files at once: the small-file line at each setting, the
  // baseline measured once in the same context as the first.
  const sweep = [];
  if (PHASES.has('files')) {
    for (const parallelFiles of [1, 2, 4, 8]) {
      const r = await inPage('small', { small: SWEEP, parallelFiles, baseline: sweep.length === 0 });
      sweep.push({ parallelFiles, ...r });
    }
  }
  const mbps = (mib, ms) => (mib * 1024 * 1024) / 1e6 / (ms / 1000);
  const perSecond = (ms, files = SMALL) => files / (ms / 1000);
  const row = (...cells) => console.log(`| ${cells.join(' | ')} |`);
  console.log(`\nQueue in headless Chromium (${process.env.CHROMIUM ?? '/usr/bin/chromium'}), reference server on loopback`);
  row('measurement', 'result', 'vs baseline');
  row('---', '---:', '---:');
  if (result.plainMs) {
    row(`plain fetch PUT of ${MIB} MiB (baseline)`, `${mbps(MIB, result.plainMs).toFixed(0)} MB/s`, '1.00×');
    row(`Ferry: hash, encrypt, multipart upload, POST /files of ${MIB} MiB (hashed first: ${result.hashedFirst} of 1)`, `${mbps(MIB, result.ferryMs).toFixed(0)} MB/s`, `${(result.plainMs / result.ferryMs).toFixed(2)}×`);
  }
  if (result.multipartPlainMs) {
    row(`plain multipart upload of ${MIB} MiB, 20 MiB parts (Ferry's on a measured link), 3 parts at once, Complete included (baseline)`, `${mbps(MIB, result.multipartPlainMs).toFixed(0)} MB/s`, '1.00×');
    row(`Ferry, the same ${MIB} MiB (hashed first: ${result.multipartHashedFirst} of 2, with the first file)`, `${mbps(MIB, result.multipartFerryMs).toFixed(0)} MB/s`, `${(result.multipartPlainMs / result.multipartFerryMs).toFixed(2)}×`);
  }
  if (result.photosPlainMs) {
    row(`plain PUTs of ${PHOTOS} photos of 3 MiB over a 20 MB/s uplink with 100 ms latency, 8 at a time (baseline)`, `${perSecond(result.photosPlainMs, PHOTOS).toFixed(1)} files/s`, '1.00×');
    row(`Ferry, the same ${PHOTOS} photos over the same link`, `${perSecond(result.photosFerryMs, PHOTOS).toFixed(1)} files/s`, `${(result.photosPlainMs / result.photosFerryMs).toFixed(2)}×`);
  }
  if (throttled.plainMs) {
    row(`plain fetch PUT of ${THROTTLED_MIB} MiB over a 20 MB/s uplink (baseline)`, `${mbps(THROTTLED_MIB, throttled.plainMs).toFixed(1)} MB/s`, '1.00×');
    row(`Ferry, ${THROTTLED_MIB} MiB over the same uplink (hashed first: ${throttled.hashedFirst} of 1)`, `${mbps(THROTTLED_MIB, throttled.ferryMs).toFixed(1)} MB/s`, `${(throttled.plainMs / throttled.ferryMs).toFixed(2)}×`);
  }
  if (result.smallPlainMs) {
    row(`plain PUTs of ${SMALL} × 256 KiB, 8 at a time (baseline)`, `${perSecond(result.smallPlainMs).toFixed(0)} files/s`, '1.00×');
    row(`Ferry: ${SMALL} × 256 KiB, each hashed, encrypted, PUT with its thumbnail, POST /files (${result.smallRuns} runs)`, `${perSecond(result.smallFerryMs).toFixed(0)} files/s`, `${(result.smallPlainMs / result.smallFerryMs).toFixed(2)}×`);
  }
  if (sweep.length) {
    const base = sweep[0].smallPlainMs;
    row(`plain PUTs of ${SWEEP} × 256 KiB, 8 at a time (baseline for the sweep)`, `${perSecond(base, SWEEP).toFixed(0)} files/s`, '1.00×');
    for (const { parallelFiles, smallFerryMs } of sweep) {
      row(`Ferry, ${SWEEP} × 256 KiB, parallelFiles ${parallelFiles}`, `${perSecond(smallFerryMs, SWEEP).toFixed(0)} files/s`, `${(base / smallFerryMs).toFixed(2)}×`);
    }
  }
  if (result.hugeMs) {
    row(`wasm memory before / after uploading ${HUGE_MIB} MiB (${mbps(HUGE_MIB, result.hugeMs).toFixed(0)} MB/s)`, `${result.memoryBeforeMiB.toFixed(0)} / ${result.memoryAfterMiB.toFixed(0)} MiB`, '');
  }
  if (result.enqueueMs) {
    row(`enqueue ${ITEMS.toLocaleString('en')} items in one call`, `${(result.enqueueMs / 1000).toFixed(1)} s`, '');
    row(`status() with ${ITEMS.toLocaleString('en')} queued, median / p95`, `${result.statusMedianMs.toFixed(2)} / ${result.statusP95Ms.toFixed(2)} ms`, '');
  }
} finally {
  await browser.close();
  await server.stop();
  site.close();
}
