// ferry-sync/react-native-webview: Ferry inside a React Native WebView,
// driven over the bridge. Hermes has no WebAssembly, so the app hosts Ferry
// in a WebView and talks to it in JSON messages (protocol version 1):
//
// React Native -> WebView   webView.postMessage(JSON.stringify(message))
//   { ferry: 1, id, command, args }        a command (table below)
//   { ferry: 1, replyTo, ok, result|error } the answer to a WebView request
// WebView -> React Native   window.ReactNativeWebView.postMessage(string)
//   { ferry: 1, replyTo, ok: true, result }                     a command's result
//   { ferry: 1, replyTo, ok: false, error: { code, message } }  a command's error
//   { ferry: 1, event: 'progress' | 'item' | 'run', payload }   events
//   { ferry: 1, id, request: 'stat', ref }                      native file size and mtime
//   { ferry: 1, id, request: 'read', ref, offset, length }      native file bytes (base64)
//
// Commands: open {endpoint, token, database?, policies?}, setCollectionKey
// {collectionId, key (base64)}, enqueue {items} (sources "host:<ref>" are read
// from React Native through stat/read), sync {trigger?, budgetMs?}, status,
// items {query}, retry {id}, remove {id}, resume, setToken {token}, runs
// {limit?}, diagnose {options?}, close.
import init, { Ferry, fromBase64, toBase64 } from './index.js';
export { keepScreenAwake } from './wake.js';

export const PROTOCOL = 1;
/** A native file request that gets no answer fails after this long. */
const REQUEST_TIMEOUT_MS = 30_000;

/**
 * Installs the bridge in the WebView. `options.post` and `options.listen`
 * default to React Native WebView's window.ReactNativeWebView.postMessage and
 * the window's (and document's, on Android) `message` events.
 */
export function installWebViewBridge(options = {}) {
  const post = options.post ?? ((text) => globalThis.ReactNativeWebView.postMessage(text));
  const send = (message) => post(JSON.stringify({ ferry: PROTOCOL, ...message }));
  let ferry = null;
  let nextRequest = 1;
  const pending = new Map();

  const ask = (request) =>
    new Promise((resolve, reject) => {
      const id = `w${nextRequest++}`;
      const timer = setTimeout(() => {
        pending.delete(id);
        reject(new Error(`React Native did not answer ${request.request} in time`));
      }, REQUEST_TIMEOUT_MS);
      pending.set(id, { resolve, reject, timer });
      send({ id, ...request });
    });

  // A native file, read through the bridge in the lengths Ferry asks for.
  const resolveSource = async (ref) => {
    const stat = await ask({ request: 'stat', ref });
    if (!stat) return null;
    return {
      size: stat.size,
      lastModified: stat.lastModified,
      read: async (offset, length) => fromBase64(await ask({ request: 'read', ref, offset, length })),
    };
  };

  const need = () => {
    if (!ferry) throw Object.assign(new Error('call open first'), { code: 'NOT_OPEN' });
    return ferry;
  };
  const commands = {
    async open(args) {
      await init();
      ferry?.close();
      ferry = await Ferry.open({ ...args, resolveSource });
      for (const event of ['progress', 'item', 'run']) ferry.on(event, (payload) => send({ event, payload }));
      return null;
    },
    setCollectionKey: ({ collectionId, key }) => need().setCollectionKey(collectionId, fromBase64(key)),
    enqueue: ({ items }) => need().enqueue(items),
    sync: (args) => need().sync(args ?? {}),
    status: () => need().status(),
    items: ({ query } = {}) => need().items(query ?? {}),
    retry: ({ id }) => need().retry(id),
    remove: ({ id }) => need().remove(id),
    resume: () => need().resume(),
    setToken: ({ token }) => need().setToken(token),
    runs: ({ limit } = {}) => need().runs(limit),
    diagnose: ({ options } = {}) => need().diagnose(options),
    close() {
      ferry?.close();
      ferry = null;
      return null;
    },
  };

  const onMessage = async (data) => {
    let message;
    try {
      message = typeof data === 'string' ? JSON.parse(data) : data;
    } catch {
      return; // not JSON: not for Ferry (the page may use the bridge too)
    }
    if (!message || message.ferry !== PROTOCOL) return;
    if (message.replyTo !== undefined) {
      const waiting = pending.get(message.replyTo);
      if (!waiting) return;
      pending.delete(message.replyTo);
      clearTimeout(waiting.timer);
      if (message.ok) waiting.resolve(message.result);
      else waiting.reject(new Error(message.error?.message ?? 'React Native refused the request'));
      return;
    }
    const command = commands[message.command];
    if (!command) {
      send({ replyTo: message.id, ok: false, error: { code: 'UNKNOWN_COMMAND', message: `unknown command ${JSON.stringify(message.command)}` } });
      return;
    }
    try {
      const result = await command(message.args ?? {});
      send({ replyTo: message.id, ok: true, result: result === undefined ? null : result });
    } catch (err) {
      send({ replyTo: message.id, ok: false, error: { code: err?.code ?? 'PLATFORM_FAILED', message: String(err?.message ?? err) } });
    }
  };

  const listen = options.listen ?? ((handler) => {
    const onEvent = (event) => handler(event.data);
    globalThis.addEventListener?.('message', onEvent);
    globalThis.document?.addEventListener?.('message', onEvent); // Android's WebView
    return () => {
      globalThis.removeEventListener?.('message', onEvent);
      globalThis.document?.removeEventListener?.('message', onEvent);
    };
  });
  const stop = listen(onMessage);
  return { stop, handle: onMessage, toBase64 };
}
