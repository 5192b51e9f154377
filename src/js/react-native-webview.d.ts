export { keepScreenAwake } from './wake.js';

import type { FerryErrorCode } from './ferry_sync.js';

export declare const PROTOCOL: 1;
/**
 * A command's error code: Ferry's own, or the bridge's (`NOT_OPEN` before
 * `open`, `UNKNOWN_COMMAND` for a command this protocol does not have).
 */
export type BridgeErrorCode = FerryErrorCode | 'NOT_OPEN' | 'UNKNOWN_COMMAND';
export type BridgeCommand =
  | 'open' | 'setCollectionKey' | 'enqueue' | 'sync' | 'status' | 'items' | 'retry'
  | 'remove' | 'resume' | 'setToken' | 'runs' | 'diagnose' | 'close';
/** React Native -> WebView. */
export type ToWebView =
  | { ferry: 1; id: string | number; command: BridgeCommand; args?: Record<string, unknown> }
  | { ferry: 1; replyTo: string; ok: true; result: unknown }
  | { ferry: 1; replyTo: string; ok: false; error: { message: string } };
/** WebView -> React Native. */
export type FromWebView =
  | { ferry: 1; replyTo: string | number; ok: true; result: unknown }
  | { ferry: 1; replyTo: string | number; ok: false; error: { code: BridgeErrorCode; message: string } }
  | { ferry: 1; event: 'progress' | 'item' | 'run'; payload: unknown }
  | { ferry: 1; id: string; request: 'stat'; ref: string }
  | { ferry: 1; id: string; request: 'read'; ref: string; offset: number; length: number };

export declare function installWebViewBridge(options?: {
  /** Sends a string to React Native (default window.ReactNativeWebView.postMessage). */
  post?: (text: string) => void;
  /** Subscribes to messages from React Native; returns an unsubscribe function. */
  listen?: (handler: (data: unknown) => void) => () => void;
}): { stop(): void; handle(data: unknown): Promise<void>; toBase64(bytes: Uint8Array): string };
