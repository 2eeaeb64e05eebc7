// Timers for the transport and the poller: the real ones by default, any `Timers` in tests.

import type { Timers } from "./types.js";

export const defaultTimers: Timers = {
  setTimeout: (callback, ms) => globalThis.setTimeout(callback, ms),
  clearTimeout: (handle) => globalThis.clearTimeout(handle as ReturnType<typeof globalThis.setTimeout>),
  now: () => Date.now(),
};

/**
 * One named timeout that is either pending or not. Setting it again replaces the pending one,
 * so no code path can leave a second copy of, say, the reconnect timer running.
 */
export class TimerSlot {
  private handle: unknown;
  private due: number | null = null;

  constructor(private readonly timers: Timers) {}

  get pending(): boolean {
    return this.handle !== undefined;
  }

  /** When the pending timeout fires (`timers.now()` clock), or null when none is pending. */
  get dueAt(): number | null {
    return this.due;
  }

  set(ms: number, callback: () => void): void {
    this.clear();
    this.due = this.timers.now() + ms;
    this.handle = this.timers.setTimeout(() => {
      this.handle = undefined;
      this.due = null;
      callback();
    }, ms);
  }

  clear(): void {
    if (this.handle === undefined) return;
    this.timers.clearTimeout(this.handle);
    this.handle = undefined;
    this.due = null;
  }
}
