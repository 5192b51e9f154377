// The hybrid-shell adapters, driven the way their shells drive them: a
// simulated Capacitor plugin firing OS wake-ups, and a simulated React
// Native side speaking the WebView bridge protocol (including native file
// reads), each against real Ferry, IndexedDB and the reference server.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import sodium from 'libsodium-wrappers';
import { serveRepo, launchChromium } from './browser.mjs';
import { startServer } from './server.mjs';
import { MIB, content, newCollection, serverFiles } from './library.mjs';

let site;
let server;
let browser;

before(async () => {
  await sodium.ready;
  [site, server, browser] = await Promise.all([serveRepo(), startServer(), launchChromium()]);
});
after(async () => {
  await browser?.close();
  await server?.stop();
  site?.close();
});

async function openPage() {
  const page = await (await browser.newContext()).newPage();
  page.on('pageerror', (err) => console.log('# page error:', err.message));
  await page.goto(`${site.origin}/tests/js/fixtures/page.html`);
  return page;
}

test('Capacitor: OS wake-ups become budgeted runs, and the native task is completed', async () => {
  const collection = await newCollection(server);
  const page = await openPage();
  const result = await page.evaluate(async ({ api, token, collectionId, collectionKey, contentSource }) => {
    const content = new Function(`return ${contentSource}`)();
    const { default: init, Ferry } = await import('/pkg/index.js');
    const { attachCapacitor, budgetFor } = await import('/pkg/capacitor.js');
    await init();
    const ferry = await Ferry.open({ endpoint: api, token, database: 'capacitor' });
    await ferry.setCollectionKey(collectionId, Uint8Array.from(collectionKey));
    await ferry.enqueue([
      { collectionId, file: new File([content(6 * 1024 * 1024, 1)], 'one.jpg') },
      { collectionId, file: new File([content(2000, 2)], 'two.jpg') },
    ]);
    // What a Capacitor plugin looks like to JavaScript.
    const plugin = {
      listeners: new Map(),
      completions: [],
      async addListener(name, fn) {
        this.listeners.set(name, fn);
        return { remove: () => this.listeners.delete(name) };
      },
      async complete(completion) { this.completions.push(completion); },
    };
    let opens = 0;
    const handle = await attachCapacitor(plugin, { open: async () => { opens++; return ferry; } });
    const wake = (event) => plugin.listeners.get('ferryWake')(event);
    await wake({ trigger: 'ios-push', taskId: 'push-1', remainingMs: 29_000 });
    await wake({ trigger: 'ios-refresh', taskId: 'refresh-1', remainingMs: 10_000 });
    await wake({ trigger: 'android-work', taskId: 'work-1' });
    await wake({ trigger: 'cron', taskId: 'bad-1' });
    handle.remove();
    const listening = plugin.listeners.size;
    const status = await ferry.status();
    ferry.close();
    return {
      completions: plugin.completions, opens, listening, status,
      budgets: [budgetFor('ios-push'), budgetFor('ios-push', 5_000), budgetFor('android-work', 1_000)],
    };
  }, { api: server.api, token: server.token, collectionId: collection.id, collectionKey: [...collection.key], contentSource: content.toString() });

  const [push, refresh, work, bad] = result.completions;
  assert.equal(push.taskId, 'push-1');
  assert.equal(push.success, true);
  assert.equal(push.report.trigger, 'ios-push');
  assert.equal(push.report.budgetMs, 25_000, 'the trigger budget, within what iOS left');
  assert.equal(push.report.filesDone, 2);
  assert.equal(refresh.report.budgetMs, 8_000, 'capped by the remaining time less a margin');
  assert.equal(refresh.report.stoppedBecause, 'idle');
  assert.equal(work.report.budgetMs, 480_000);
  assert.equal(bad.success, false);
  assert.equal(bad.report, null);
  assert.match(bad.error.message, /unknown shell trigger/);
  assert.equal(result.opens, 1, 'the queue is opened once');
  assert.equal(result.listening, 0, 'remove() stops listening');
  assert.deepEqual(result.budgets, [25_000, 3_000, 0]);
  assert.equal(result.status.done, 2);
  assert.equal((await serverFiles(server, collection)).length, 2);
});

test('React Native WebView: the bridge protocol runs Ferry and reads native files over it', async () => {
  const collection = await newCollection(server);
  const page = await openPage();
  const size = 5 * MIB + 11;
  const result = await page.evaluate(async ({ collectionId, collectionKey, api, token, size, contentSource }) => {
    const content = new Function(`return ${contentSource}`)();
    const b64 = (bytes) => { let s = ''; for (const b of bytes) s += String.fromCharCode(b); return btoa(s); };
    // The native side: files on "disk", and the React Native end of the bridge.
    const nativeFiles = { 'DCIM/IMG_1.jpg': content(size, 5), 'DCIM/IMG_2.jpg': content(1234, 6) };
    const fromWebView = [];
    const replies = new Map();
    const toWebView = (message) => window.dispatchEvent(new MessageEvent('message', { data: JSON.stringify(message) }));
    let reads = 0;
    window.ReactNativeWebView = {
      postMessage(text) {
        const message = JSON.parse(text);
        fromWebView.push(message);
        if (message.replyTo !== undefined) replies.get(message.replyTo)?.(message);
        if (message.request === 'stat') {
          const file = nativeFiles[message.ref];
          toWebView({ ferry: 1, replyTo: message.id, ok: true, result: file ? { size: file.length, lastModified: 1_700_000_000_000 } : null });
        } else if (message.request === 'read') {
          reads++;
          const bytes = nativeFiles[message.ref].subarray(message.offset, message.offset + message.length);
          toWebView({ ferry: 1, replyTo: message.id, ok: true, result: b64(bytes) });
        }
      },
    };
    const { installWebViewBridge } = await import('/pkg/react-native-webview.js');
    installWebViewBridge();
    let nextId = 1;
    const call = (command, args) => new Promise((resolve) => {
      const id = nextId++;
      replies.set(id, resolve);
      toWebView({ ferry: 1, id, command, args });
    });
    const answers = {};
    answers.early = await call('status');
    answers.open = await call('open', { endpoint: api, token, database: 'rn-bridge' });
    answers.key = await call('setCollectionKey', { collectionId, key: b64(Uint8Array.from(collectionKey)) });
    answers.enqueue = await call('enqueue', { items: [
      { collectionId, source: 'host:DCIM/IMG_1.jpg', title: 'IMG_1.jpg' },
      { collectionId, source: 'host:DCIM/IMG_2.jpg', title: 'IMG_2.jpg' },
      { collectionId, source: 'host:DCIM/gone.jpg', title: 'gone.jpg' },
    ] });
    window.dispatchEvent(new MessageEvent('message', { data: 'not json, not for Ferry' }));
    answers.badSync = await call('sync', { budgetMs: -1 });
    answers.sync = await call('sync', { trigger: 'ios-push' });
    answers.status = await call('status');
    answers.runs = await call('runs', { limit: 5 });
    answers.unknown = await call('explode');
    answers.close = await call('close');
    const events = fromWebView.filter((m) => m.event).map((m) => m.event);
    return { answers, events, reads };
  }, { collectionId: collection.id, collectionKey: [...collection.key], api: server.api, token: server.token, size, contentSource: content.toString() });

  const { answers } = result;
  assert.deepEqual(answers.early.error.code, 'NOT_OPEN');
  assert.equal(answers.open.ok, true);
  assert.equal(answers.key.ok, true);
  assert.deepEqual(answers.enqueue.result.length, 3);
  assert.equal(answers.badSync.ok, false);
  assert.equal(answers.badSync.error.code, 'BAD_INPUT');
  assert.equal(answers.sync.ok, true, JSON.stringify(answers.sync));
  assert.equal(answers.sync.result.trigger, 'ios-push');
  assert.equal(answers.sync.result.budgetMs, 25_000);
  assert.equal(answers.sync.result.filesDone, 2);
  assert.equal(answers.status.result.done, 2);
  assert.equal(answers.status.result.failed, 1, 'the missing native file fails alone');
  assert.equal(answers.runs.result[0].trigger, 'ios-push');
  assert.equal(answers.unknown.error.code, 'UNKNOWN_COMMAND');
  assert.equal(answers.close.ok, true);
  for (const event of ['progress', 'item', 'run']) assert.ok(result.events.includes(event), `${event} events cross the bridge`);
  assert.ok(result.reads >= 3, 'native bytes were read over the bridge');

  const files = await serverFiles(server, collection);
  assert.equal(files.length, 2);
  const big = files.find((f) => f.metadata.title === 'IMG_1.jpg');
  assert.ok(Buffer.from(content(size, 5)).equals(big.plaintext), 'a native file round-trips through the bridge');
});

test('keepScreenAwake passes the work through, with or without the lock', async () => {
  const page = await openPage();
  const result = await page.evaluate(async () => {
    const { keepScreenAwake } = await import('/pkg/wake.js');
    const supported = 'wakeLock' in navigator;
    const { result, held } = await keepScreenAwake(async () => 42);
    let thrown = null;
    try { await keepScreenAwake(() => Promise.reject(new Error('boom'))); } catch (err) { thrown = err.message; }
    return { result, held, supported, thrown };
  });
  assert.equal(result.result, 42);
  assert.equal(typeof result.held, 'boolean');
  assert.equal(result.thrown, 'boom', 'a failing backup still fails, and the lock is let go');
});
