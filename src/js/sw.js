// ferry-sync/sw: background runs in a service worker, and the page-side
// registration that asks the platform for them.
//
// In the service worker, at the top level (listeners must be registered
// synchronously during the worker's first evaluation):
//
//   import init, { Ferry } from 'ferry-sync';
//   import { installBackgroundSync } from 'ferry-sync/sw';
//   installBackgroundSync(self, {
//     open: async () => { await init(); return Ferry.open({ endpoint, token }); },
//   });
//
// In the page:  registerBackground(await navigator.serviceWorker.ready);

import { FerryError } from './index.js';

/** The Background Sync tag and the message type Ferry listens for. */
export const SYNC_TAG = 'ferry-sync';
export const MESSAGE_TYPE = 'ferry-sync';
/** Periodic Background Sync: Chromium fires it at most this often anyway. */
const PERIODIC_MIN_INTERVAL_MS = 12 * 60 * 60 * 1000;
/** A run when the worker starts, where Background Sync is missing. */
const START_BUDGET_MS = 25_000;

/**
 * Registers `sync`, `periodicsync`, `push` and `message` handlers on `scope`
 * (the service worker's `self`), each keeping its event alive with
 * `waitUntil` for one `sync()` under the trigger's budget.
 *
 * options.open      () => Promise<Ferry>: opens the queue (called once, lazily).
 * options.budgets   budget per trigger in ms, over the defaults.
 * options.beforeRun (ferry, trigger) => Promise: before every run (e.g. re-scan
 *                   watched folders and enqueue what changed; a failure is
 *                   reported to onError and the run goes ahead).
 * options.onReport  (report, trigger) => void|Promise: after every run (e.g. show
 *                   a notification for a push, which web push requires).
 * options.onError   (error, trigger) => void: a run that threw.
 */
export function installBackgroundSync(scope, options = {}) {
  if (typeof options.open !== 'function') {
    throw new FerryError('BAD_INPUT', 'installBackgroundSync: `open` must be a function returning a Ferry');
  }
  const budgets = { ...(options.budgets ?? {}) };
  let opened = null;
  const ferry = () => {
    opened ??= Promise.resolve()
      .then(() => options.open())
      .catch((err) => {
        opened = null; // the next event tries again
        throw err;
      });
    return opened;
  };
  const run = async (trigger, budgetMs = budgets[trigger]) => {
    try {
      const queue = await ferry();
      if (options.beforeRun) {
        try {
          await options.beforeRun(queue, trigger);
        } catch (err) {
          options.onError?.(err, trigger);
        }
      }
      const report = await queue.sync(budgetMs === undefined ? { trigger } : { trigger, budgetMs });
      await options.onReport?.(report, trigger);
      return report;
    } catch (err) {
      options.onError?.(err, trigger);
      // A failed run must not fail the sync event: Chromium would retry it
      // on its own schedule, while Ferry already records and retries.
      return null;
    }
  };

  scope.addEventListener('sync', (event) => {
    if (event.tag === SYNC_TAG) event.waitUntil(run('sync'));
  });
  scope.addEventListener('periodicsync', (event) => {
    if (event.tag === SYNC_TAG) event.waitUntil(run('periodicsync'));
  });
  scope.addEventListener('push', (event) => {
    // A tickle is `{"action":"sync"}`; anything else, JSON or not, is not ours.
    let payload = null;
    try {
      payload = event.data ? event.data.json() : null;
    } catch {
      payload = null;
    }
    if (payload && payload.action === 'sync') event.waitUntil(run('push'));
  });
  scope.addEventListener('message', (event) => {
    const data = event.data;
    if (!data || data.type !== MESSAGE_TYPE) return;
    const trigger = typeof data.trigger === 'string' ? data.trigger : 'sync';
    const budgetMs = typeof data.budgetMs === 'number' ? data.budgetMs : budgets[trigger];
    event.waitUntil(
      run(trigger, budgetMs).then((report) => event.source?.postMessage({ type: MESSAGE_TYPE, report })),
    );
  });

  // Without Background Sync (Safari, Firefox), a worker start is the only
  // background chance: take it, briefly.
  if (!scope.registration?.sync) run('sync', budgets.start ?? START_BUDGET_MS);
  return { run };
}

/**
 * Page side: asks for Background Sync and Periodic Background Sync where
 * they exist (feature-detected; Android WebView throws on register()),
 * persistent storage, and a run through the worker whenever the page comes
 * back online. Resolves with what was granted.
 */
export async function registerBackground(registration, options = {}) {
  const granted = { sync: false, periodicSync: false, persisted: false };
  try {
    if (registration.sync) {
      await registration.sync.register(SYNC_TAG);
      granted.sync = true;
    }
  } catch {
    // Registered nowhere: the fallbacks below still run.
  }
  try {
    if (registration.periodicSync) {
      await registration.periodicSync.register(SYNC_TAG, {
        minInterval: options.periodicMinIntervalMs ?? PERIODIC_MIN_INTERVAL_MS,
      });
      granted.periodicSync = true;
    }
  } catch {
    // Not permitted (not installed, low engagement): diagnose() says so.
  }
  try {
    if (globalThis.navigator?.storage?.persist) granted.persisted = await navigator.storage.persist();
  } catch {
    // Workers and some browsers have no persist().
  }
  const runInWorker = () => {
    const worker = registration.active;
    if (!worker) return;
    if (granted.sync) registration.sync.register(SYNC_TAG).catch(() => {});
    else worker.postMessage({ type: MESSAGE_TYPE, trigger: 'sync' });
  };
  if (options.runOnOnline !== false && typeof globalThis.addEventListener === 'function') {
    globalThis.addEventListener('online', runInWorker);
  }
  return granted;
}
