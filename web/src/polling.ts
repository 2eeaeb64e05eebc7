// The polling fallback while the socket is down: rounds of status polls on an interval. What a
// round polls and what a poll does with its answer belong to the client; this is the schedule.

import { TimerSlot } from "./timers.js";
import type { Timers } from "./types.js";

/** How one poll went: answered (even with an error), or not at all. */
export type PollResult = "ok" | "network" | "error";

export interface PollerOptions {
  timers: Timers;
  intervalMs: number;
  /** The jobs to poll in a round. */
  due: () => string[];
  poll: (jobId: string) => Promise<PollResult>;
  /** After each round: `offline` when a poll got no answer, else `polling`. */
  roundDone: (state: "polling" | "offline") => void;
}

export class Poller {
  private readonly timer: TimerSlot;
  private active = false;
  /** Bumped by every start/stop, so a round still awaiting its responses ends quietly. */
  private generation = 0;

  constructor(private readonly options: PollerOptions) {
    this.timer = new TimerSlot(options.timers);
  }

  get running(): boolean {
    return this.active;
  }

  /** Polls at once, then every `intervalMs` until `stop()`. */
  start(): void {
    if (this.active) return;
    this.active = true;
    void this.round(++this.generation);
  }

  stop(): void {
    if (this.active) this.generation++;
    this.active = false;
    this.timer.clear();
  }

  private async round(generation: number): Promise<void> {
    if (!this.isCurrent(generation)) return;
    const results = await Promise.all(this.options.due().map((jobId) => this.options.poll(jobId)));
    if (!this.isCurrent(generation)) return;
    this.options.roundDone(results.includes("network") ? "offline" : "polling");
    // Whoever heard of the round may have stopped polling (closed the client, say).
    if (this.isCurrent(generation)) this.timer.set(this.options.intervalMs, () => void this.round(generation));
  }

  private isCurrent(generation: number): boolean {
    return this.active && generation === this.generation;
  }
}
