// The demo's service worker: Ferry's background handlers, with watched
// folders re-scanned before every run, background ones included.
import { installBackgroundSync } from './pkg/sw.js';
import { openFerry, scanFolders, getSetting } from './demo.js';

self.addEventListener('install', () => self.skipWaiting());
self.addEventListener('activate', (event) => event.waitUntil(self.clients.claim()));

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
