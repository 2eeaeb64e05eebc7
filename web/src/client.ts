// The jobcast browser client: live job progress over the WebSocket, HTTP polling while the
// socket is down, and the HTTP calls around a job (create + upload, list, result links).
//
// This class is the facade users import. The work is done by its parts, each in its own file:
// `transport.ts` (socket lifecycle), `polling.ts` (the fallback's schedule), `http.ts` (every
// request), `store.ts` (the seq rule) and `types.ts` (what can be injected and configured).

import {
  type CreatedJob,
  type JobList,
  type JobSnapshot,
  type ResultLinks,
  type ServerMessage,
  isJobSnapshot,
} from "./protocol.js";
import { JobcastHttp } from "./http.js";
import { type PollResult, Poller } from "./polling.js";
import { JobStore } from "./store.js";
import { defaultTimers } from "./timers.js";
import { DEFAULT_BACKOFF } from "./socket.js";
import { Transport } from "./transport.js";
import type {
  ClientEvents,
  ClientOptions,
  ClientStats,
  ConnectionStatus,
  FileLike,
  JobListener,
  JobView,
  Timers,
  UpdateSource,
  WebSocketCtor,
} from "./types.js";

export type {
  BackoffOptions,
  ClientEvents,
  ClientOptions,
  ClientStats,
  ConnectionState,
  ConnectionStatus,
  FetchLike,
  FileLike,
  HeadersLike,
  JobErrorEvent,
  JobListener,
  JobView,
  RequestInitLike,
  ResponseLike,
  SocketLike,
  Timers,
  UpdateSource,
  UploadRequest,
  Uploader,
  WebSocketCtor,
} from "./types.js";
export { JobcastHttpError, defaultUploader } from "./http.js";
export { DEFAULT_BACKOFF, backoffDelay } from "./socket.js";
export { type TokenLifetime, renewalDelay, tokenLifetime } from "./token.js";

type Listeners = { [K in keyof ClientEvents]: Set<(value: ClientEvents[K]) => void> };

export class JobcastClient {
  readonly stats: ClientStats = {
    socketsOpened: 0,
    connects: 0,
    plannedReconnects: 0,
    tokenRenewals: 0,
    subscribesSent: 0,
    subscribedReceived: 0,
    pushesApplied: 0,
    staleDropped: 0,
    pingsSent: 0,
    pongsReceived: 0,
    polls: 0,
    notModified: 0,
  };

  private readonly timers: Timers;
  private readonly http: JobcastHttp;
  private readonly transport: Transport;
  private readonly poller: Poller;
  private readonly store = new JobStore();
  private readonly watchers = new Map<string, Set<JobListener>>();
  private readonly listeners: Listeners = {
    status: new Set(),
    job: new Set(),
    jobListUpdate: new Set(),
    jobError: new Set(),
    serverError: new Set(),
  };
  private statusValue: ConnectionStatus = { state: "offline", nextRetryAt: null };
  /** The last polling round got no answer: while polling, the indicator says `offline`. */
  private pollsFailing = false;

  constructor(options: ClientOptions) {
    this.timers = options.timers ?? defaultTimers;
    this.http = new JobcastHttp({
      httpUrl: options.httpUrl,
      getToken: options.getToken,
      fetch: options.fetch,
      uploader: options.uploader,
    });
    this.transport = new Transport(
      {
        wsUrl: options.wsUrl,
        getToken: options.getToken,
        WebSocket: options.WebSocket ?? (globalThis as unknown as { WebSocket: WebSocketCtor }).WebSocket,
        timers: this.timers,
        random: options.random ?? Math.random,
        backoff: { ...DEFAULT_BACKOFF, ...options.reconnect },
        backgroundRetryMs: options.backgroundRetryMs ?? 30_000,
        pingIntervalMs: options.pingIntervalMs ?? 5 * 60_000,
        pongTimeoutMs: options.pongTimeoutMs ?? 30_000,
        connectTimeoutMs: options.connectTimeoutMs ?? 10_000,
        maxConnectionMs: options.maxConnectionMs ?? 110 * 60_000,
      },
      {
        status: (status) => {
          if (status.state !== "polling") this.pollsFailing = false;
          this.setStatus(status.state === "polling" && this.pollsFailing ? { ...status, state: "offline" } : status);
        },
        opened: () => {
          this.poller.stop();
          this.resubscribeAll();
        },
        fellBack: () => this.poller.start(),
        message: (message) => this.handleMessage(message),
      },
      this.stats,
    );
    this.poller = new Poller({
      timers: this.timers,
      intervalMs: options.pollIntervalMs ?? 3_000,
      due: () => this.watchedJobs().filter((jobId) => !this.store.isTerminal(jobId)),
      poll: (jobId) => this.pollJob(jobId),
      roundDone: (state) => {
        this.pollsFailing = state === "offline";
        this.setStatus({ state, nextRetryAt: this.transport.nextRetryAt });
      },
    });
  }

  // ── events ────────────────────────────────────────────────────────────────────────────────

  /** Listens to an event; returns the function that stops listening. */
  on<K extends keyof ClientEvents>(event: K, listener: (value: ClientEvents[K]) => void): () => void {
    const set = this.listeners[event] as Set<(value: ClientEvents[K]) => void>;
    set.add(listener);
    return () => set.delete(listener);
  }

  private emit<K extends keyof ClientEvents>(event: K, value: ClientEvents[K]): void {
    for (const listener of [...(this.listeners[event] as Set<(value: ClientEvents[K]) => void>)]) {
      call(listener, value);
    }
  }

  /**
   * The connection indicator: connecting, connected, reconnecting n/N, polling or offline (the
   * last two with `nextRetryAt`, when the socket is tried next).
   */
  get status(): ConnectionStatus {
    return this.statusValue;
  }

  private setStatus(next: ConnectionStatus): void {
    if (sameStatus(this.statusValue, next)) return;
    this.statusValue = next;
    this.emit("status", next);
  }

  // ── connection ────────────────────────────────────────────────────────────────────────────

  /** Opens the socket (idempotent). Watched jobs are subscribed as soon as it is open. */
  connect(): void {
    this.transport.connect();
  }

  /**
   * Tries the socket now rather than at the next automatic try, and resets the backoff (for a
   * "Reconnect now" button while polling or offline). On success, as on any reconnect, every
   * watched job is subscribed again and polling stops. Returns false, doing nothing, when there
   * is no try to bring forward: connected, connecting (a try under way), or closed.
   */
  reconnectNow(): boolean {
    return this.transport.reconnectNow();
  }

  /** Closes everything: socket, timers, polling. `connect()` starts again. */
  close(): void {
    this.poller.stop();
    this.transport.close();
  }

  // ── messages and the job store ────────────────────────────────────────────────────────────

  private handleMessage(message: ServerMessage): void {
    switch (message.type) {
      case "subscribed":
        this.stats.subscribedReceived++;
        this.applySnapshot(message.job, "subscribed");
        break;
      case "job_update": {
        const { type: _type, ...snapshot } = message;
        if (this.applySnapshot(snapshot, "push")) this.stats.pushesApplied++;
        break;
      }
      case "job_completed":
        if (this.applied(this.store.applyCompleted(message, this.timers.now()))) this.stats.pushesApplied++;
        // Nothing more comes for a finished job: give its subscription slot back on the server
        // (a connection may follow only so many jobs). Local listeners keep the final state.
        if (this.store.isTerminal(message.jobId)) this.transport.send({ action: "unsubscribe_job", jobId: message.jobId });
        break;
      case "job_list_update":
        this.emit("jobListUpdate", { jobId: message.jobId, status: message.status });
        break;
      case "error":
        if (message.jobId !== undefined) {
          this.emit("jobError", { jobId: message.jobId, code: message.code, message: message.message });
        } else {
          this.emit("serverError", { code: message.code, message: message.message });
        }
        break;
      case "pong":
      case "unsubscribed":
        break;
    }
  }

  private applySnapshot(snapshot: JobSnapshot, source: UpdateSource): boolean {
    return this.applied(this.store.applySnapshot(snapshot, source));
  }

  /** Tells the watchers about a view the store applied; counts the ones it dropped. */
  private applied(view: JobView | undefined): boolean {
    if (!view) {
      this.stats.staleDropped++;
      return false;
    }
    for (const listener of [...(this.watchers.get(view.jobId) ?? [])]) call(listener, view);
    this.emit("job", view);
    return true;
  }

  /** The latest applied state of a job, if the client has seen it. */
  job(jobId: string): JobView | undefined {
    return this.store.get(jobId);
  }

  /** Every job the client has seen. */
  knownJobs(): JobView[] {
    return this.store.all();
  }

  // ── subscriptions ─────────────────────────────────────────────────────────────────────────

  /**
   * Watches a job live: subscribes over the socket now and after every reconnect, and polls it
   * while the socket is down. `onUpdate` gets the current state at once if it is known.
   * Returns the function that stops watching.
   */
  subscribe(jobId: string, onUpdate: JobListener): () => void {
    let set = this.watchers.get(jobId);
    const first = !set;
    if (!set) {
      set = new Set();
      this.watchers.set(jobId, set);
    }
    set.add(onUpdate);
    const known = this.store.get(jobId);
    if (first && !known?.terminal) {
      // On an open socket the `subscribed` snapshot follows; while polling, poll it now.
      if (!this.sendSubscribe(jobId) && this.transport.fallenBack) void this.pollJob(jobId);
    }
    if (known) call(onUpdate, known);
    return () => this.unsubscribe(jobId, onUpdate);
  }

  /** Stops watching a job (one listener, or all of them). */
  unsubscribe(jobId: string, onUpdate?: JobListener): void {
    const set = this.watchers.get(jobId);
    if (!set) return;
    if (onUpdate) set.delete(onUpdate);
    else set.clear();
    if (set.size > 0) return;
    this.watchers.delete(jobId);
    if (!this.store.isTerminal(jobId)) this.transport.send({ action: "unsubscribe_job", jobId });
  }

  /** The ids of the jobs being watched. */
  watchedJobs(): string[] {
    return [...this.watchers.keys()];
  }

  private sendSubscribe(jobId: string): boolean {
    const sent = this.transport.send({ action: "subscribe_job", jobId });
    if (sent) this.stats.subscribesSent++;
    return sent;
  }

  /** The reconnect rule: subscribe again to every watched job; the snapshots fill any gap. */
  private resubscribeAll(): void {
    for (const jobId of this.watchers.keys()) {
      if (!this.store.isTerminal(jobId)) this.sendSubscribe(jobId);
    }
  }

  private async pollJob(jobId: string): Promise<PollResult> {
    this.stats.polls++;
    const answer = await this.http.pollStatus(jobId, this.store.get(jobId)?.seq);
    switch (answer.outcome) {
      case "not_modified":
        this.stats.notModified++;
        return "ok";
      case "ok":
        if (answer.job) this.applySnapshot(answer.job, "poll");
        return "ok";
      case "network":
        return "network";
      case "error":
        this.emit("jobError", { jobId, code: answer.code, message: answer.message });
        return "error";
    }
  }

  // ── HTTP ──────────────────────────────────────────────────────────────────────────────────

  /**
   * Creates a job for a PDF and uploads it through the presigned PUT. With `onUpdate` the job
   * is watched before the upload starts, so no step is missed.
   */
  async createJob(
    file: FileLike,
    options: {
      onUploadProgress?: (loaded: number, total: number) => void;
      onCreated?: (created: CreatedJob) => void;
      onUpdate?: JobListener;
    } = {},
  ): Promise<CreatedJob> {
    const created = await this.http.createJob(file);
    if (isJobSnapshot(created.job)) this.applySnapshot(created.job, "http");
    options.onCreated?.(created);
    if (options.onUpdate) this.subscribe(created.jobId, options.onUpdate);
    await this.http.upload(created, file, options.onUploadProgress);
    return created;
  }

  /** One page of the caller's jobs, newest first. Applied to the client's state (seq rule). */
  async listJobs(options: { limit?: number; cursor?: string } = {}): Promise<JobList> {
    const list = await this.http.listJobs(options);
    for (const job of list.jobs) if (isJobSnapshot(job)) this.applySnapshot(job, "http");
    return list;
  }

  /** One job's snapshot over HTTP (an explicit call; the client never polls a healthy socket). */
  async getJob(jobId: string): Promise<JobView | undefined> {
    const job = await this.http.getJob(jobId);
    if (isJobSnapshot(job)) this.applySnapshot(job, "http");
    return this.store.get(jobId);
  }

  /** Short-lived links to a completed job's result.json and result.txt. 409 while not completed. */
  async getResult(jobId: string): Promise<ResultLinks> {
    return this.http.getResult(jobId);
  }
}

/** Creates a client; call `connect()` to open the socket. */
export function createClient(options: ClientOptions): JobcastClient {
  return new JobcastClient(options);
}

function sameStatus(a: ConnectionStatus, b: ConnectionStatus): boolean {
  const x = a as unknown as Record<string, unknown>;
  const y = b as unknown as Record<string, unknown>;
  const keys = new Set([...Object.keys(x), ...Object.keys(y)]);
  return [...keys].every((key) => x[key] === y[key]);
}

/** A listener's bug must not break the client: report it and go on. */
function call<T>(listener: (value: T) => void, value: T): void {
  try {
    listener(value);
  } catch (error) {
    console.error("jobcast: a listener threw", error);
  }
}
