import type { Ferry, RunReport } from './index.js';
export { keepScreenAwake } from './wake.js';

export type ShellTrigger = 'ios-refresh' | 'ios-push' | 'android-work';
/** What the native side sends when the OS wakes the app. */
export interface ShellWake { trigger: ShellTrigger; taskId?: string; remainingMs?: number; }
/** What the adapter answers, so the native side can end its task. */
export interface ShellCompletion {
  taskId?: string; success: boolean; report: RunReport | null;
  error: { code: string; message: string } | null;
}
export interface WakePlugin {
  addListener(eventName: string, listener: (wake: ShellWake) => void): Promise<{ remove(): void }> | { remove(): void };
  complete(completion: ShellCompletion): Promise<void>;
}

export declare const SHELL_BUDGETS: Readonly<Record<ShellTrigger, number>>;
export declare function budgetFor(trigger: ShellTrigger, remainingMs?: number, budgets?: Record<ShellTrigger, number>): number;
export declare function attachCapacitor(
  plugin: WakePlugin,
  options: { open: () => Promise<Ferry>; eventName?: string; budgets?: Partial<Record<ShellTrigger, number>> },
): Promise<{ remove(): void; handleWake(wake: ShellWake): Promise<RunReport | null> }>;
