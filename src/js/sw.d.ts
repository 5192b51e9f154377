import type { Ferry, RunReport, Trigger } from './index.js';

/** The Background Sync tag and the message type Ferry listens for. */
export declare const SYNC_TAG: 'ferry-sync';
export declare const MESSAGE_TYPE: 'ferry-sync';

export interface BackgroundSyncOptions {
  /** Opens the queue; called once, lazily, in the first event. */
  open: () => Promise<Ferry>;
  /** Before every run, e.g. re-scan watched folders (a failure goes to onError; the run goes ahead). */
  beforeRun?: (ferry: Ferry, trigger: Trigger) => Promise<void>;
  /** Budget per trigger in ms (and `start`, the run at worker start where Background Sync is missing). */
  budgets?: Partial<Record<Trigger | 'start', number>>;
  /** After every run; a push handler shows its notification here. */
  onReport?: (report: RunReport, trigger: Trigger) => void | Promise<void>;
  /** A run that threw (the event itself still succeeds). */
  onError?: (error: unknown, trigger: Trigger) => void;
}

/**
 * What installBackgroundSync needs of the service worker's `self`
 * (structural, so pages typed with the DOM library can type-check it too).
 */
export interface ServiceWorkerScope {
  addEventListener(type: 'sync' | 'periodicsync' | 'push' | 'message', listener: (event: any) => void): void;
  registration?: ServiceWorkerRegistration;
}

/** Registers sync, periodicsync, push and message handlers on the service worker's `self`. */
export declare function installBackgroundSync(
  scope: ServiceWorkerScope,
  options: BackgroundSyncOptions,
): { run(trigger: Trigger, budgetMs?: number): Promise<RunReport | null> };

export interface BackgroundGrants { sync: boolean; periodicSync: boolean; persisted: boolean; }

/** Page side: Background Sync, Periodic Background Sync and persistent storage where they exist, and a run when back online. */
export declare function registerBackground(
  registration: ServiceWorkerRegistration,
  options?: { periodicMinIntervalMs?: number; runOnOnline?: boolean },
): Promise<BackgroundGrants>;
