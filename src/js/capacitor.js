// ferry-sync/capacitor: maps a Capacitor shell's wake-ups to budgeted runs.
//
// @capacitor/background-runner has neither WebAssembly nor IndexedDB, so the
// native side (BGAppRefreshTask or a silent push on iOS, WorkManager on
// Android) wakes the app's WebView and tells it through a plugin event:
//
//   { trigger: 'ios-refresh' | 'ios-push' | 'android-work', taskId, remainingMs? }
//
// The adapter runs one `sync()` within the trigger's budget (never past the
// time the OS says is left, less a margin) and answers the plugin with
// `complete({ taskId, success, report })`, so the native side can call
// setTaskCompleted / return the Worker's Result before the OS kills it.
import { FerryError } from './index.js';
export { keepScreenAwake } from './wake.js';

/** Budgets per wake-up (iOS ~30 s, WorkManager 10 min): the OS limit less room to stop. */
export const SHELL_BUDGETS = Object.freeze({ 'ios-refresh': 25_000, 'ios-push': 25_000, 'android-work': 480_000 });
/** Kept back from the OS's remaining time for answering the native side. */
const REMAINING_MARGIN_MS = 2_000;

/** The budget for a wake-up: the trigger's, capped by what the OS says is left. */
export function budgetFor(trigger, remainingMs, budgets = SHELL_BUDGETS) {
  const budget = budgets[trigger];
  if (budget === undefined) throw new FerryError('BAD_INPUT', `unknown shell trigger ${JSON.stringify(trigger)}`);
  if (typeof remainingMs !== 'number' || !Number.isFinite(remainingMs)) return budget;
  return Math.max(0, Math.min(budget, remainingMs - REMAINING_MARGIN_MS));
}

/**
 * Listens to `plugin`'s wake event and runs Ferry for each wake-up.
 *
 * plugin    a Capacitor plugin: addListener(event, fn) and complete({taskId, success, report}).
 * options.open       () => Promise<Ferry>, called once, lazily.
 * options.eventName  the plugin's event (default 'ferryWake').
 * options.budgets    over SHELL_BUDGETS.
 * Resolves with a handle whose remove() stops listening.
 */
export async function attachCapacitor(plugin, options) {
  if (typeof options?.open !== 'function') throw new FerryError('BAD_INPUT', 'attachCapacitor: `open` must be a function returning a Ferry');
  const budgets = { ...SHELL_BUDGETS, ...(options.budgets ?? {}) };
  let opened = null;
  const ferry = () => (opened ??= Promise.resolve().then(options.open).catch((err) => { opened = null; throw err; }));
  const onWake = async (wake) => {
    const taskId = wake?.taskId;
    let report = null;
    let error = null;
    try {
      const trigger = wake?.trigger;
      report = await (await ferry()).sync({ trigger, budgetMs: budgetFor(trigger, wake?.remainingMs, budgets) });
    } catch (err) {
      error = { code: err?.code ?? 'PLATFORM_FAILED', message: String(err?.message ?? err) };
    }
    // "Success" for the OS means the run ended cleanly, not that the queue is
    // empty: an iOS task that reports failure is scheduled less often.
    const success = report !== null && report.stoppedBecause !== 'error';
    await plugin.complete({ taskId, success, report, error });
    return report;
  };
  const listener = await plugin.addListener(options.eventName ?? 'ferryWake', onWake);
  return { remove: () => listener?.remove?.(), handleWake: onWake };
}
