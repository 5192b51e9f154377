// An app that installed ferry-sync from the packed tarball: typed imports of
// every entry point, then one photo backed up to the server given in the URL.
import init, { Ferry, FerryError, generateKey, toBase64, type RunReport, type FerryErrorCode } from 'ferry-sync';
import { registerBackground, SYNC_TAG } from 'ferry-sync/sw';
import { budgetFor } from 'ferry-sync/capacitor';
import { PROTOCOL, type FromWebView } from 'ferry-sync/react-native-webview';

// A bridge error reply as React Native receives it: Ferry's codes and the
// bridge's own are one union.
const notOpen: FromWebView = { ferry: PROTOCOL, replyTo: 1, ok: false, error: { code: 'NOT_OPEN', message: 'call open first' } };

declare global {
  interface Window { result: Promise<{ report: RunReport; tag: string; budget: number; protocol: number; code: FerryErrorCode | null }> }
}

async function main() {
  const params = new URLSearchParams(location.search);
  const api = params.get('api') ?? '';
  const token = params.get('token') ?? '';
  await init();
  const random = (n: number) => toBase64(crypto.getRandomValues(new Uint8Array(n)));
  const response = await fetch(`${api}/collections`, {
    method: 'POST',
    headers: { 'X-Auth-Token': token, 'Content-Type': 'application/json' },
    body: JSON.stringify({ encryptedKey: random(48), keyDecryptionNonce: random(24), encryptedName: random(16), nameDecryptionNonce: random(24), type: 'album' }),
  });
  const { collection } = (await response.json()) as { collection: { id: number } };
  const ferry = await Ferry.open({ endpoint: api, token, database: 'vite-consumer' });
  await ferry.setCollectionKey(collection.id, generateKey());
  await ferry.enqueue([{ collectionId: collection.id, file: new File([new Uint8Array(70_000).fill(3)], 'from-vite.jpg') }]);
  const report = await ferry.sync({ trigger: 'foreground' });
  let code: FerryErrorCode | null = null;
  try {
    await ferry.sync({ trigger: 'foreground', budgetMs: -1 });
  } catch (err) {
    if (err instanceof FerryError) code = err.code;
  }
  ferry.close();
  void registerBackground;
  return { report, tag: SYNC_TAG, budget: budgetFor('ios-push', 10_000), protocol: notOpen.ferry, code };
}

window.result = main();
