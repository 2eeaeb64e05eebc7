// React bindings for the jobcast client: a separate entry point (`@jobcast/web/react`), so the
// core client never imports React. React >= 18 is an optional peer dependency.

import { createContext, createElement, useCallback, useContext, useSyncExternalStore } from "react";
import type { ReactNode } from "react";

import type { ConnectionStatus, JobcastClient, JobView } from "./client.js";

const ClientContext = createContext<JobcastClient | null>(null);

/** Makes a client available to `useJobProgress` and `useConnectionStatus` below it. */
export function JobcastProvider(props: { client: JobcastClient; children?: ReactNode }) {
  return createElement(ClientContext.Provider, { value: props.client }, props.children);
}

/** The client from the nearest `JobcastProvider` (or the one passed in). */
export function useJobcastClient(client?: JobcastClient | null): JobcastClient {
  const fromContext = useContext(ClientContext);
  const resolved = client ?? fromContext;
  if (!resolved) throw new Error("useJobcastClient: no client (wrap the tree in <JobcastProvider client={…}>)");
  return resolved;
}

const noop = () => {};

/** The connection indicator: connecting, connected, reconnecting n/N, polling or offline. */
export function useConnectionStatus(client?: JobcastClient | null): ConnectionStatus {
  const resolved = useJobcastClient(client);
  const subscribe = useCallback((onChange: () => void) => resolved.on("status", onChange), [resolved]);
  return useSyncExternalStore(subscribe, () => resolved.status, () => resolved.status);
}

export interface JobProgress {
  /** The latest applied state (seq rule), undefined until the first snapshot arrives. */
  job: JobView | undefined;
  /** 0–100, never backwards. */
  progress: number;
  /** The stage's message, e.g. "Processed 3/8 chunks". */
  message: string;
  /** Completed or failed. */
  done: boolean;
  /** Why it failed, when it did. */
  error: string | undefined;
  connection: ConnectionStatus;
}

/**
 * Watches one job live while the component is mounted: subscribes over the socket (again after
 * every reconnect), falls back to polling while the socket is down, and re-renders on each
 * applied update. `jobId` null/undefined watches nothing.
 */
export function useJobProgress(jobId: string | null | undefined, client?: JobcastClient | null): JobProgress {
  const resolved = useJobcastClient(client);
  const subscribe = useCallback(
    (onChange: () => void) => (jobId ? resolved.subscribe(jobId, onChange) : noop),
    [resolved, jobId],
  );
  const read = () => (jobId ? resolved.job(jobId) : undefined);
  const job = useSyncExternalStore(subscribe, read, read);
  const connection = useConnectionStatus(resolved);
  return {
    job,
    progress: job?.progress ?? 0,
    message: job?.message ?? "",
    done: job?.terminal ?? false,
    error: job?.error,
    connection,
  };
}
