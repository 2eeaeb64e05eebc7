// Socket plumbing the transport builds on: the reconnect backoff, keepalive pings, and taking a
// socket out of service without its events firing into a transport that moved on.

import { TimerSlot } from "./timers.js";
import type { BackoffOptions, SocketLike, Timers } from "./types.js";

export const DEFAULT_BACKOFF: BackoffOptions = { attempts: 5, baseMs: 500, maxMs: 10_000 };

/**
 * The delay before reconnect attempt `attempt` (1-based): exponential from `baseMs`, capped at
 * `maxMs`, with "equal jitter": uniformly within [raw/2, raw].
 */
export function backoffDelay(attempt: number, options: BackoffOptions, random: () => number): number {
  const raw = Math.min(options.maxMs, options.baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(raw / 2 + (raw / 2) * random());
}

/**
 * A ping every `intervalMs` keeps API Gateway's 10-minute idle timeout away; a ping unanswered
 * for `timeoutMs` means the socket is half-open, which no close event would ever report.
 */
export class Keepalive {
  private readonly next: TimerSlot;
  private readonly deadline: TimerSlot;

  constructor(
    timers: Timers,
    private readonly intervalMs: number,
    private readonly timeoutMs: number,
    private readonly ping: () => boolean,
    private readonly dead: () => void,
  ) {
    this.next = new TimerSlot(timers);
    this.deadline = new TimerSlot(timers);
  }

  /** Schedules the next ping; a pong still awaited keeps its own deadline. */
  start(): void {
    this.next.set(this.intervalMs, () => {
      if (this.ping() && !this.deadline.pending) this.deadline.set(this.timeoutMs, () => this.dead());
      this.start();
    });
  }

  pong(): void {
    this.deadline.clear();
  }

  stop(): void {
    this.next.clear();
    this.deadline.clear();
  }
}

export function detach(ws: SocketLike): void {
  ws.onopen = null;
  ws.onclose = null;
  ws.onerror = null;
  ws.onmessage = null;
}

export function safeClose(ws: SocketLike, code: number, reason: string): void {
  try {
    ws.close(code, reason);
  } catch {
    // already closed
  }
}
