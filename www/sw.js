// The demo's service worker: Ferry's background handlers, with watched
// folders re-scanned before every run, background ones included.
import { installBackgroundSync } from './pkg/sw.js';
import { openFerry, scanFolders, getSetting, SHELL_CACHE, SHELL_FILE } from './demo.js';

self.addEventListener('install', () => self.skipWaiting());
self.addEventListener('activate', (event) => event.waitUntil(self.clients.claim()));

// The page's own files: from the network while the server is up, keeping
// the cache fresh as they pass; from the cache when it is down. The server's
// CORS layer adds `Vary: origin`, and module scripts are fetched with an Origin.
self.addEventListener('fetch', (event) => {
  const url = new URL(event.request.url);
  const shell = event.request.method === 'GET' && url.origin === self.location.origin
    && (event.request.mode === 'navigate' || SHELL_FILE.test(url.pathname));
  if (!shell) return;
  event.respondWith(fetch(event.request).then((response) => {
    if (response.ok) {
      const copy = response.clone();
      event.waitUntil(caches.open(SHELL_CACHE).then((cache) => cache.put(event.request, copy)));
    }
    return response;
  }, async (err) => {
    const cached = await caches.match(event.request, { ignoreSearch: true, ignoreVary: true, cacheName: SHELL_CACHE });
    if (cached) return cached;
    throw err;
  }));
});

installBackgroundSync(self, {
  open: openFerry,
  beforeRun: async (ferry) => {
    // The page may have signed in again since the worker opened the queue.
    const token = await getSetting('token');
    if (token) ferry.setToken(token);
    await scanFolders(ferry);
  },
  onError: (err, trigger) => console.warn(`[ferry-demo] ${trigger} run failed:`, err),
});
