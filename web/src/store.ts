// The jobs the client has seen, under the seq rule. Pure: no timers, no I/O, no listeners. The
// caller feeds it what arrived (pushes, snapshots, polls, HTTP answers) and tells the watchers
// about the view it gets back.

import type { JobCompletedMessage, JobSnapshot } from "./protocol.js";
import type { JobView, UpdateSource } from "./types.js";

const TERMINAL: ReadonlySet<string> = new Set(["completed", "failed"]);

export class JobStore {
  private readonly jobs = new Map<string, JobView>();

  /** The latest applied state of a job, if it was seen. */
  get(jobId: string): JobView | undefined {
    return this.jobs.get(jobId);
  }

  /** Every job seen, in the order first seen. */
  all(): JobView[] {
    return [...this.jobs.values()];
  }

  isTerminal(jobId: string): boolean {
    return this.jobs.get(jobId)?.terminal ?? false;
  }

  /**
   * The seq rule: a snapshot is applied only if its seq is newer than the last applied one for
   * its job, and never to a terminal job. Returns the new view, or `undefined` when dropped.
   * Views are replaced, never mutated, so a caller may compare them by identity.
   */
  applySnapshot(snapshot: JobSnapshot, source: UpdateSource): JobView | undefined {
    const prev = this.jobs.get(snapshot.jobId);
    if (isStale(prev, snapshot.seq)) return undefined;
    const terminal = TERMINAL.has(snapshot.status);
    const view: JobView = {
      ...snapshot,
      // A lower percent with a newer seq is not shown: the bar never moves backwards.
      progress: terminal ? 100 : Math.max(prev?.progress ?? 0, clampPercent(snapshot.progress)),
      terminal,
      source,
    };
    const resultUrl = prev?.resultUrl;
    if (resultUrl !== undefined) view.resultUrl = resultUrl;
    this.jobs.set(view.jobId, view);
    return view;
  }

  /**
   * A `job_completed`: terminal at 100. The server's final snapshot supplies everything shown,
   * including the wording; `receivedAt` (ms) only dates a completion from an older server.
   */
  applyCompleted(message: JobCompletedMessage, receivedAt: number): JobView | undefined {
    const prev = this.jobs.get(message.jobId);
    if (isStale(prev, message.seq)) return undefined;
    const final = message.job ?? legacyFinalSnapshot(message, prev, receivedAt);
    // The envelope's id, status and seq are what the seq rule and terminality were decided on.
    const view: JobView = {
      ...final,
      jobId: message.jobId,
      status: message.status,
      seq: message.seq,
      progress: 100,
      terminal: true,
      source: "completed",
    };
    if (view.error === undefined && message.error !== undefined) view.error = message.error;
    if (message.resultUrl !== undefined) view.resultUrl = message.resultUrl;
    this.jobs.set(view.jobId, view);
    return view;
  }
}

function isStale(prev: JobView | undefined, seq: number): boolean {
  return prev !== undefined && (seq <= prev.seq || prev.terminal);
}

function clampPercent(value: number): number {
  return Math.min(100, Math.max(0, Math.floor(value)));
}

/**
 * Servers from before `job_completed` carried `job` send only the outcome: keep what is known of
 * the job and word the outcome as those servers' snapshots do. Remove once none is deployed.
 */
function legacyFinalSnapshot(message: JobCompletedMessage, prev: JobView | undefined, receivedAt: number): JobSnapshot {
  const failed = message.status === "failed";
  const chunksTotal = prev?.chunksTotal ?? 0;
  const snapshot: JobSnapshot = {
    jobId: message.jobId,
    status: message.status,
    stage: message.status,
    progress: 100,
    message: failed ? `Failed: ${message.error ?? "unknown error"}` : "Completed",
    chunksDone: failed ? (prev?.chunksDone ?? 0) : chunksTotal,
    chunksTotal,
    seq: message.seq,
    createdAt: prev?.createdAt ?? "",
    updatedAt: new Date(receivedAt).toISOString(),
  };
  if (prev?.fileName !== undefined) snapshot.fileName = prev.fileName;
  return snapshot;
}
