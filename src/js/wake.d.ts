/**
 * Runs `work` with a Screen Wake Lock held (taken again when the page
 * becomes visible); `held` says whether the platform granted it.
 */
export declare function keepScreenAwake<T>(work: Promise<T> | (() => Promise<T>)): Promise<{ result: T; held: boolean }>;
