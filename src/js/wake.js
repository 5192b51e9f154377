// Keeps the screen on while a long foreground backup runs (a first backup
// of a library takes a while), since a locked phone suspends the page. Where the Screen Wake Lock API is missing or refuses (hidden page,
// battery saver, headless), the work simply runs without it.
export async function keepScreenAwake(work) {
  const wakeLock = globalThis.navigator?.wakeLock;
  let sentinel = null;
  let finished = false;
  const acquire = async () => {
    if (!wakeLock || finished || globalThis.document?.visibilityState === 'hidden') return;
    try {
      sentinel = await wakeLock.request('screen');
    } catch {
      sentinel = null;
    }
  };
  // The platform drops the lock when the page is hidden; take it again on return.
  const onVisible = () => {
    if (globalThis.document?.visibilityState === 'visible' && (!sentinel || sentinel.released)) acquire();
  };
  globalThis.document?.addEventListener?.('visibilitychange', onVisible);
  await acquire();
  const held = sentinel !== null;
  try {
    const result = await (typeof work === 'function' ? work() : work);
    return { result, held };
  } finally {
    finished = true;
    globalThis.document?.removeEventListener?.('visibilitychange', onVisible);
    await sentinel?.release().catch(() => {});
  }
}
