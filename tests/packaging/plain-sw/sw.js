// A module service worker with no bundler: static imports by path,
// handlers installed at the top level.
import init, { Ferry } from './node_modules/ferry-sync/pkg/index.js';
import { installBackgroundSync } from './node_modules/ferry-sync/pkg/sw.js';

const params = new URL(self.location.href).searchParams;
self.addEventListener('install', () => self.skipWaiting());
self.addEventListener('activate', (event) => event.waitUntil(self.clients.claim()));
installBackgroundSync(self, {
  open: async () => {
    await init();
    return Ferry.open({ endpoint: params.get('api'), token: params.get('token'), database: 'plain-sw' });
  },
});
