// The jobcast browser client: live job progress over the WebSocket, HTTP polling while the
// socket is down, and the HTTP calls around a job (create + upload, list, result links).
//
// Zero runtime dependencies. Everything that touches the outside world (WebSocket, fetch, the
// upload, timers, randomness) is injectable, so the state machine is unit-tested with fakes.

import {
  type ClientMessage,
  type CreatedJob,
  type ErrorMessage,
  type JobCompletedMessage,
  type JobList,
  type JobListUpdateMessage,
  type JobSnapshot,
  type ResultLinks,
  type ServerMessage,
  isJobSnapshot,
  parseServerMessage,
} from "./protocol.js";

// ── injectable surroundings ──────────────────────────────────────────────────────────────────

/** The part of the browser's WebSocket the client uses. */
export interface SocketLike {
  readonly readyState: number;
  onopen: ((event: unknown) => void) | null;
  onclose: ((event: unknown) => void) | null;
  onerror: ((event: unknown) => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}

export type WebSocketCtor = new (url: string) => SocketLike;

export interface HeadersLike {
  get(name: string): string | null;
}

export interface ResponseLike {
  readonly status: number;
  readonly ok: boolean;
  readonly headers: HeadersLike;
  json(): Promise<unknown>;
  text(): Promise<string>;
}

export interface RequestInitLike {
  method?: string;
  headers?: Record<string, string>;
  body?: string;
}

export type FetchLike = (url: string, init?: RequestInitLike) => Promise<ResponseLike>;

export interface Timers {
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
  /** Milliseconds, monotonic enough for scheduling. */
  now(): number;
}

/** A file to upload: a browser `File`, or anything with a name and a size the uploader can send. */
export interface FileLike {
  readonly name: string;
  readonly size: number;
}

export interface UploadRequest {
  url: string;
  method: string;
  headers: Record<string, string>;
  body: FileLike;
  onProgress?: (loaded: number, total: number) => void;
}

export type Uploader = (request: UploadRequest) => Promise<{ status: number }>;

// ── public types ─────────────────────────────────────────────────────────────────────────────

export type ConnectionStatus =
  | { state: "connecting" }
  | { state: "connected" }
  | { state: "reconnecting"; attempt: number; maxAttempts: number }
  | { state: "polling" }
  | { state: "offline" };

export type ConnectionState = ConnectionStatus["state"];

/** Where the last applied state of a job came from. */
export type UpdateSource = "subscribed" | "push" | "completed" | "poll" | "http";

/** A job as the client shows it: the latest snapshot it applied, plus what a completion adds. */
export interface JobView extends JobSnapshot {
  /** True once the job completed or failed; nothing changes it afterwards. */
  terminal: boolean;
  /** From `job_completed` (the result's S3 key or URL); use `getResult` for download links. */
  resultUrl?: string;
  source: UpdateSource;
}

export type JobListener = (job: JobView) => void;

export interface JobErrorEvent {
  jobId: string;
  code: string;
  message: string;
}

export interface ClientEvents {
  /** The connection indicator changed. */
  status: ConnectionStatus;
  /** Any job the client knows changed (seq rule applied). */
  job: JobView;
  /** A job of this user appeared or finished (pushed to every connection of the owner). */
  jobListUpdate: Omit<JobListUpdateMessage, "type">;
  /** A subscribe or a poll was refused for one job (e.g. `not_found`). */
  jobError: JobErrorEvent;
  /** An `error` frame that names no job. */
  serverError: Omit<ErrorMessage, "type">;
}

export interface BackoffOptions {
  /** Reconnect attempts before falling back to polling. */
  attempts: number;
  /** Delay before the first attempt (before jitter). */
  baseMs: number;
  /** Cap of the exponential delay (before jitter). */
  maxMs: number;
}

export interface ClientOptions {
  /** The HTTP API's base URL (`JOBCAST_HTTP_URL`), no trailing slash needed. */
  httpUrl: string;
  /** The WebSocket URL (`JOBCAST_WS_URL`); `?token=` is appended. */
  wsUrl: string;
  /** Returns a valid JWT. Called on every (re)connect and every HTTP request. */
  getToken: () => string | Promise<string>;

  WebSocket?: WebSocketCtor;
  fetch?: FetchLike;
  timers?: Timers;
  /** `Math.random` by default; drives the backoff jitter. */
  random?: () => number;
  /** Does the presigned PUT. Default: XMLHttpRequest (upload progress) or fetch. */
  uploader?: Uploader;

  reconnect?: Partial<BackoffOptions>;
  /** While polling, how often the socket is tried again (jittered ±25 %). Default 30 s. */
  backgroundRetryMs?: number;
  /** While polling, how often each running job is polled. Default 3 s. */
  pollIntervalMs?: number;
  /** Keepalive ping, well inside API Gateway's 10-minute idle timeout. Default 5 min. */
  pingIntervalMs?: number;
  /** A ping unanswered this long means the socket is dead. Default 30 s. */
  pongTimeoutMs?: number;
  /** A socket not open after this long counts as a failed attempt. Default 10 s. */
  connectTimeoutMs?: number;
  /** Planned reconnect before API Gateway's 2-hour connection limit. Default 110 min. */
  maxConnectionMs?: number;
}

/** Counters for diagnostics and tests. */
export interface ClientStats {
  socketsOpened: number;
  connects: number;
  plannedReconnects: number;
  subscribesSent: number;
  subscribedReceived: number;
  pushesApplied: number;
  staleDropped: number;
  pingsSent: number;
  pongsReceived: number;
  polls: number;
  notModified: number;
}

export class JobcastHttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = "JobcastHttpError";
  }
}

export const DEFAULT_BACKOFF: BackoffOptions = { attempts: 5, baseMs: 500, maxMs: 10_000 };

/**
 * The delay before reconnect attempt `attempt` (1-based): exponential from `baseMs`, capped at
 * `maxMs`, with "equal jitter": uniformly within [raw/2, raw].
 */
export function backoffDelay(attempt: number, options: BackoffOptions, random: () => number): number {
  const raw = Math.min(options.maxMs, options.baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(raw / 2 + (raw / 2) * random());
}

const OPEN = 1;

const defaultTimers: Timers = {
  setTimeout: (callback, ms) => globalThis.setTimeout(callback, ms),
  clearTimeout: (handle) => globalThis.clearTimeout(handle as ReturnType<typeof globalThis.setTimeout>),
  now: () => Date.now(),
};

/** The default presigned PUT: XMLHttpRequest in browsers (upload progress), fetch elsewhere. */
export function defaultUploader(fetchImpl?: FetchLike): Uploader {
  if (typeof XMLHttpRequest !== "undefined") {
    return (request) =>
      new Promise((resolve, reject) => {
        const xhr = new XMLHttpRequest();
        xhr.open(request.method, request.url);
        for (const [name, value] of Object.entries(request.headers)) xhr.setRequestHeader(name, value);
        xhr.upload.onprogress = (event) => {
          if (event.lengthComputable) request.onProgress?.(event.loaded, event.total);
        };
        xhr.onload = () => {
          if (xhr.status >= 200 && xhr.status < 300) request.onProgress?.(request.body.size, request.body.size);
          resolve({ status: xhr.status });
        };
        xhr.onerror = () => reject(new Error("upload failed: network error"));
        xhr.onabort = () => reject(new Error("upload aborted"));
        xhr.send(request.body as unknown as Blob);
      });
  }
  return async (request) => {
    const doFetch = fetchImpl ?? (globalThis.fetch as unknown as FetchLike);
    request.onProgress?.(0, request.body.size);
    const response = await doFetch(request.url, {
      method: request.method,
      headers: request.headers,
      body: request.body as unknown as string,
    });
    if (response.ok) request.onProgress?.(request.body.size, request.body.size);
    return { status: response.status };
  };
}

interface Conn {
  ws: SocketLike;
  open: boolean;
}

type Mode = "idle" | "socket" | "polling" | "closed";

const TERMINAL = new Set(["completed", "failed"]);

export class JobcastClient {
  private readonly httpUrl: string;
  private readonly wsUrl: string;
  private readonly getToken: () => string | Promise<string>;
  private readonly WS: WebSocketCtor;
  private readonly doFetch: FetchLike;
  private readonly timers: Timers;
  private readonly random: () => number;
  private readonly uploader: Uploader;
  private readonly backoff: BackoffOptions;
  private readonly backgroundRetryMs: number;
  private readonly pollIntervalMs: number;
  private readonly pingIntervalMs: number;
  private readonly pongTimeoutMs: number;
  private readonly connectTimeoutMs: number;
  private readonly maxConnectionMs: number;

  private mode: Mode = "idle";
  private statusValue: ConnectionStatus = { state: "offline" };
  /** The socket in use (open or being opened). */
  private current: Conn | undefined;
  /** A replacement being opened for a planned reconnect. */
  private replacement: Conn | undefined;
  /** Consecutive failed attempts since the socket was last open. */
  private failures = 0;
  /** Bumped whenever a pending (async) socket open must be abandoned. */
  private attemptToken = 0;

  private reconnectTimer: unknown;
  private connectTimer: unknown;
  private pingTimer: unknown;
  private pongTimer: unknown;
  private plannedTimer: unknown;
  private pollTimer: unknown;
  private polling = false;
  /** Bumped by every start/stop, so a round still awaiting its responses ends quietly. */
  private pollGeneration = 0;

  private readonly jobs = new Map<string, JobView>();
  private readonly watchers = new Map<string, Set<JobListener>>();
  private readonly listeners: { [K in keyof ClientEvents]: Set<(value: ClientEvents[K]) => void> } = {
    status: new Set(),
    job: new Set(),
    jobListUpdate: new Set(),
    jobError: new Set(),
    serverError: new Set(),
  };

  readonly stats: ClientStats = {
    socketsOpened: 0,
    connects: 0,
    plannedReconnects: 0,
    subscribesSent: 0,
    subscribedReceived: 0,
    pushesApplied: 0,
    staleDropped: 0,
    pingsSent: 0,
    pongsReceived: 0,
    polls: 0,
    notModified: 0,
  };

  constructor(options: ClientOptions) {
    this.httpUrl = options.httpUrl.replace(/\/+$/, "");
    this.wsUrl = options.wsUrl;
    this.getToken = options.getToken;
    this.WS = options.WebSocket ?? (globalThis as unknown as { WebSocket: WebSocketCtor }).WebSocket;
    this.doFetch = options.fetch ?? ((url, init) => globalThis.fetch(url, init));
    this.timers = options.timers ?? defaultTimers;
    this.random = options.random ?? Math.random;
    this.uploader = options.uploader ?? defaultUploader(this.doFetch);
    this.backoff = { ...DEFAULT_BACKOFF, ...options.reconnect };
    this.backgroundRetryMs = options.backgroundRetryMs ?? 30_000;
    this.pollIntervalMs = options.pollIntervalMs ?? 3_000;
    this.pingIntervalMs = options.pingIntervalMs ?? 5 * 60_000;
    this.pongTimeoutMs = options.pongTimeoutMs ?? 30_000;
    this.connectTimeoutMs = options.connectTimeoutMs ?? 10_000;
    this.maxConnectionMs = options.maxConnectionMs ?? 110 * 60_000;
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
      try {
        listener(value);
      } catch (error) {
        reportListenerError(error);
      }
    }
  }

  /** The connection indicator: connecting, connected, reconnecting n/N, polling or offline. */
  get status(): ConnectionStatus {
    return this.statusValue;
  }

  private setStatus(next: ConnectionStatus): void {
    const prev = this.statusValue;
    if (
      prev.state === next.state &&
      (prev.state !== "reconnecting" ||
        (next.state === "reconnecting" && prev.attempt === next.attempt && prev.maxAttempts === next.maxAttempts))
    ) {
      return;
    }
    this.statusValue = next;
    this.emit("status", next);
  }

  // ── connection lifecycle ──────────────────────────────────────────────────────────────────

  /** Opens the socket (idempotent). Watched jobs are subscribed as soon as it is open. */
  connect(): void {
    if (this.mode === "socket" || this.mode === "polling") return;
    this.mode = "socket";
    this.failures = 0;
    this.setStatus({ state: "connecting" });
    void this.openSocket();
  }

  /** Closes everything: socket, timers, polling. `connect()` starts again. */
  close(): void {
    this.mode = "closed";
    this.attemptToken++;
    this.clearTimer("reconnectTimer");
    this.clearTimer("connectTimer");
    this.clearTimer("plannedTimer");
    this.stopKeepalive();
    this.stopPolling();
    for (const conn of [this.current, this.replacement]) {
      if (conn) {
        detach(conn.ws);
        safeClose(conn.ws, 1000, "client closed");
      }
    }
    this.current = undefined;
    this.replacement = undefined;
    this.setStatus({ state: "offline" });
  }

  private clearTimer(
    name: "reconnectTimer" | "connectTimer" | "pingTimer" | "pongTimer" | "plannedTimer" | "pollTimer",
  ): void {
    if (this[name] !== undefined) {
      this.timers.clearTimeout(this[name]);
      this[name] = undefined;
    }
  }

  private socketUrl(token: string): string {
    return `${this.wsUrl}${this.wsUrl.includes("?") ? "&" : "?"}token=${encodeURIComponent(token)}`;
  }

  /** One attempt at the primary socket. The token is fetched anew for every attempt. */
  private async openSocket(): Promise<void> {
    const attempt = ++this.attemptToken;
    let token: string;
    try {
      token = await this.getToken();
    } catch {
      if (attempt === this.attemptToken && this.mode !== "closed") this.attemptFailed();
      return;
    }
    if (attempt !== this.attemptToken || this.mode === "closed") return;
    if (this.replacement) {
      // A planned swap still opening is superseded by this attempt.
      detach(this.replacement.ws);
      safeClose(this.replacement.ws, 1000, "superseded");
      this.replacement = undefined;
    }
    let ws: SocketLike;
    try {
      ws = new this.WS(this.socketUrl(token));
    } catch {
      this.attemptFailed();
      return;
    }
    this.stats.socketsOpened++;
    const conn: Conn = { ws, open: false };
    this.current = conn;
    this.clearTimer("connectTimer");
    this.connectTimer = this.timers.setTimeout(() => {
      this.connectTimer = undefined;
      if (this.current !== conn || conn.open) return;
      detach(ws);
      safeClose(ws, 1000, "connect timeout");
      this.current = undefined;
      this.attemptFailed();
    }, this.connectTimeoutMs);

    ws.onopen = () => {
      if (this.current !== conn) return;
      this.clearTimer("connectTimer");
      conn.open = true;
      this.socketReady();
    };
    ws.onmessage = (event) => {
      if (this.current === conn || this.replacement === conn) this.handleFrame(event.data);
    };
    ws.onerror = () => {
      // A close event always follows; it decides.
    };
    ws.onclose = () => this.primaryClosed(conn);
  }

  /** The primary socket closed: before opening (a failed attempt) or after (a lost socket). */
  private primaryClosed(conn: Conn): void {
    if (this.current !== conn) return;
    detach(conn.ws);
    this.current = undefined;
    this.clearTimer("connectTimer");
    this.stopKeepalive();
    this.clearTimer("plannedTimer");
    if (this.mode === "closed") return;
    this.attemptFailed();
  }

  /** The primary socket is open (first time, after a reconnect, or after a planned swap). */
  private socketReady(): void {
    this.stats.connects++;
    this.failures = 0;
    this.mode = "socket";
    this.clearTimer("reconnectTimer");
    this.stopPolling();
    this.setStatus({ state: "connected" });
    this.resubscribeAll();
    this.stopKeepalive();
    this.startKeepalive();
    this.clearTimer("plannedTimer");
    this.plannedTimer = this.timers.setTimeout(() => {
      this.plannedTimer = undefined;
      void this.plannedReconnect();
    }, this.maxConnectionMs);
  }

  /** A socket attempt failed or an open socket was lost: back off, or fall back to polling. */
  private attemptFailed(): void {
    if (this.mode === "closed") return;
    this.clearTimer("reconnectTimer");
    if (this.mode === "polling") {
      // Background retries while polling: slow and jittered, never counted.
      const delay = Math.round(this.backgroundRetryMs * (0.75 + 0.5 * this.random()));
      this.reconnectTimer = this.timers.setTimeout(() => {
        this.reconnectTimer = undefined;
        void this.openSocket();
      }, delay);
      return;
    }
    this.failures++;
    if (this.failures <= this.backoff.attempts) {
      this.setStatus({ state: "reconnecting", attempt: this.failures, maxAttempts: this.backoff.attempts });
      const delay = backoffDelay(this.failures, this.backoff, this.random);
      this.reconnectTimer = this.timers.setTimeout(() => {
        this.reconnectTimer = undefined;
        void this.openSocket();
      }, delay);
      return;
    }
    this.mode = "polling";
    this.setStatus({ state: "polling" });
    this.startPolling();
    this.attemptFailed(); // schedules the first background retry
  }

  /**
   * Make-before-break before API Gateway's 2-hour limit: open a second socket, and once it is
   * open make it the primary (resubscribing everything) and close the old one.
   */
  private async plannedReconnect(): Promise<void> {
    const old = this.current;
    if (!old || !old.open || this.mode !== "socket") return;
    this.stats.plannedReconnects++;
    let ws: SocketLike;
    try {
      ws = new this.WS(this.socketUrl(await this.getToken()));
    } catch {
      return; // the old socket goes on until the gateway drops it; then the usual reconnect.
    }
    if (this.current !== old || this.mode !== "socket") {
      safeClose(ws, 1000, "not needed");
      return;
    }
    this.stats.socketsOpened++;
    const conn: Conn = { ws, open: false };
    this.replacement = conn;
    ws.onerror = () => {};
    ws.onclose = () => {
      if (this.replacement === conn) this.replacement = undefined;
      detach(ws);
    };
    ws.onmessage = (event) => {
      if (this.current === conn || this.replacement === conn) this.handleFrame(event.data);
    };
    ws.onopen = () => {
      if (this.replacement !== conn) return;
      this.replacement = undefined;
      const previous = this.current;
      if (previous) {
        detach(previous.ws);
        safeClose(previous.ws, 1000, "planned reconnect");
      }
      this.stopKeepalive();
      conn.open = true;
      this.current = conn;
      // From now on it is the primary: same close handling as any socket.
      ws.onclose = () => this.primaryClosed(conn);
      this.socketReady();
    };
  }

  private send(message: ClientMessage): boolean {
    const conn = this.current;
    if (!conn || !conn.open || conn.ws.readyState !== OPEN) return false;
    try {
      conn.ws.send(JSON.stringify(message));
      return true;
    } catch {
      return false;
    }
  }

  // ── keepalive ─────────────────────────────────────────────────────────────────────────────

  /** Schedules the next ping (a pong still awaited keeps its own timer). */
  private startKeepalive(): void {
    this.clearTimer("pingTimer");
    this.pingTimer = this.timers.setTimeout(() => {
      this.pingTimer = undefined;
      if (this.send({ action: "ping" })) {
        this.stats.pingsSent++;
        if (this.pongTimer === undefined) {
          this.pongTimer = this.timers.setTimeout(() => {
            this.pongTimer = undefined;
            this.socketDead();
          }, this.pongTimeoutMs);
        }
      }
      this.startKeepalive();
    }, this.pingIntervalMs);
  }

  private stopKeepalive(): void {
    this.clearTimer("pingTimer");
    this.clearTimer("pongTimer");
  }

  /** No pong: the socket is half-open. Drop it and reconnect. */
  private socketDead(): void {
    const conn = this.current;
    if (!conn) return;
    detach(conn.ws);
    safeClose(conn.ws, 4000, "no pong");
    this.current = undefined;
    this.stopKeepalive();
    this.clearTimer("plannedTimer");
    this.attemptFailed();
  }

  // ── messages ──────────────────────────────────────────────────────────────────────────────

  private handleFrame(data: unknown): void {
    const message = parseServerMessage(data);
    if (message) this.handleMessage(message);
  }

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
        if (this.applyCompleted(message)) this.stats.pushesApplied++;
        break;
      case "job_list_update":
        this.emit("jobListUpdate", { jobId: message.jobId, status: message.status });
        break;
      case "pong":
        this.stats.pongsReceived++;
        this.clearTimer("pongTimer");
        break;
      case "unsubscribed":
        break;
      case "error":
        if (message.jobId !== undefined) {
          this.emit("jobError", { jobId: message.jobId, code: message.code, message: message.message });
        } else {
          this.emit("serverError", { code: message.code, message: message.message });
        }
        break;
    }
  }

  /**
   * The seq rule: a snapshot is applied only if its seq is newer than the last applied one for
   * its job. A progress bar never moves backwards; a terminal job never changes again.
   */
  private applySnapshot(snapshot: JobSnapshot, source: UpdateSource): boolean {
    const prev = this.jobs.get(snapshot.jobId);
    if (prev && (snapshot.seq <= prev.seq || prev.terminal)) {
      this.stats.staleDropped++;
      return false;
    }
    const terminal = TERMINAL.has(snapshot.status);
    const view: JobView = {
      ...snapshot,
      progress: terminal ? 100 : Math.max(prev?.progress ?? 0, clampPercent(snapshot.progress)),
      terminal,
      source,
    };
    const resultUrl = prev?.resultUrl;
    if (resultUrl !== undefined) view.resultUrl = resultUrl;
    this.store(view);
    return true;
  }

  private applyCompleted(message: JobCompletedMessage): boolean {
    const prev = this.jobs.get(message.jobId);
    if (prev && (message.seq <= prev.seq || prev.terminal)) {
      this.stats.staleDropped++;
      return false;
    }
    const failed = message.status === "failed";
    const view: JobView = {
      jobId: message.jobId,
      chunksDone: prev?.chunksDone ?? 0,
      chunksTotal: prev?.chunksTotal ?? 0,
      createdAt: prev?.createdAt ?? "",
      ...(prev?.fileName !== undefined ? { fileName: prev.fileName } : {}),
      status: message.status,
      stage: message.status,
      progress: 100,
      message: failed ? `Failed: ${message.error ?? "unknown error"}` : "Completed",
      seq: message.seq,
      updatedAt: new Date(this.timers.now()).toISOString(),
      terminal: true,
      source: "completed",
    };
    if (!failed) view.chunksDone = view.chunksTotal;
    if (message.error !== undefined) view.error = message.error;
    if (message.resultUrl !== undefined) view.resultUrl = message.resultUrl;
    this.store(view);
    return true;
  }

  private store(view: JobView): void {
    this.jobs.set(view.jobId, view);
    for (const listener of [...(this.watchers.get(view.jobId) ?? [])]) {
      try {
        listener(view);
      } catch (error) {
        reportListenerError(error);
      }
    }
    this.emit("job", view);
  }

  /** The latest applied state of a job, if the client has seen it. */
  job(jobId: string): JobView | undefined {
    return this.jobs.get(jobId);
  }

  /** Every job the client has seen. */
  knownJobs(): JobView[] {
    return [...this.jobs.values()];
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
    const known = this.jobs.get(jobId);
    if (first && !known?.terminal) {
      if (this.sendSubscribe(jobId)) {
        // the subscribed snapshot follows
      } else if (this.mode === "polling") {
        void this.pollJob(jobId);
      }
    }
    if (known) {
      try {
        onUpdate(known);
      } catch (error) {
        reportListenerError(error);
      }
    }
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
    if (!this.jobs.get(jobId)?.terminal) this.send({ action: "unsubscribe_job", jobId });
  }

  /** The ids of the jobs being watched. */
  watchedJobs(): string[] {
    return [...this.watchers.keys()];
  }

  private sendSubscribe(jobId: string): boolean {
    const sent = this.send({ action: "subscribe_job", jobId });
    if (sent) this.stats.subscribesSent++;
    return sent;
  }

  /** The reconnect rule: subscribe again to every watched job; the snapshots fill any gap. */
  private resubscribeAll(): void {
    for (const jobId of this.watchers.keys()) {
      if (!this.jobs.get(jobId)?.terminal) this.sendSubscribe(jobId);
    }
  }

  // ── polling fallback ──────────────────────────────────────────────────────────────────────

  private startPolling(): void {
    if (this.polling) return;
    this.polling = true;
    void this.pollRound(++this.pollGeneration);
  }

  private stopPolling(): void {
    if (this.polling) this.pollGeneration++;
    this.polling = false;
    this.clearTimer("pollTimer");
  }

  /** Polls every running watched job once, then schedules the next round. */
  private async pollRound(generation: number): Promise<void> {
    if (!this.polling || generation !== this.pollGeneration) return;
    const due = [...this.watchers.keys()].filter((jobId) => !this.jobs.get(jobId)?.terminal);
    const results = await Promise.all(due.map((jobId) => this.pollJob(jobId)));
    if (!this.polling || generation !== this.pollGeneration) return;
    // Polls failing at the network level too: the indicator says offline until one works.
    this.setStatus({ state: results.includes("network") ? "offline" : "polling" });
    this.clearTimer("pollTimer");
    this.pollTimer = this.timers.setTimeout(() => {
      this.pollTimer = undefined;
      void this.pollRound(generation);
    }, this.pollIntervalMs);
  }

  /** One conditional `GET /jobs/{id}`: the ETag is the quoted seq; 304 means unchanged. */
  private async pollJob(jobId: string): Promise<"ok" | "network" | "error"> {
    const known = this.jobs.get(jobId);
    const headers: Record<string, string> = {};
    if (known) headers["If-None-Match"] = `"${known.seq}"`;
    this.stats.polls++;
    let response: ResponseLike;
    try {
      response = await this.request("GET", `/jobs/${encodeURIComponent(jobId)}`, undefined, headers);
    } catch {
      return "network";
    }
    if (response.status === 304) {
      this.stats.notModified++;
      return "ok";
    }
    if (response.ok) {
      const body = await response.json().catch(() => undefined);
      if (isJobSnapshot(body)) this.applySnapshot(body, "poll");
      return "ok";
    }
    const error = await readError(response);
    this.emit("jobError", { jobId, code: error.code, message: error.message });
    return "error";
  }

  // ── HTTP ──────────────────────────────────────────────────────────────────────────────────

  private async request(
    method: string,
    path: string,
    body?: unknown,
    extraHeaders: Record<string, string> = {},
  ): Promise<ResponseLike> {
    const token = await this.getToken();
    const headers: Record<string, string> = { Authorization: `Bearer ${token}`, ...extraHeaders };
    const init: RequestInitLike = { method, headers };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    return this.doFetch(`${this.httpUrl}${path}`, init);
  }

  private async requestJson<T>(method: string, path: string, body?: unknown): Promise<T> {
    const response = await this.request(method, path, body);
    if (!response.ok) {
      const error = await readError(response);
      throw new JobcastHttpError(response.status, error.code, error.message);
    }
    return (await response.json()) as T;
  }

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
    const created = await this.requestJson<CreatedJob>("POST", "/jobs", {
      fileName: file.name,
      sizeBytes: file.size,
    });
    if (isJobSnapshot(created.job)) this.applySnapshot(created.job, "http");
    options.onCreated?.(created);
    if (options.onUpdate) this.subscribe(created.jobId, options.onUpdate);
    const headers: Record<string, string> = { ...created.uploadHeaders };
    if (!Object.keys(headers).some((name) => name.toLowerCase() === "content-type")) {
      headers["Content-Type"] = "application/pdf";
    }
    const request: UploadRequest = {
      url: created.uploadUrl,
      method: created.uploadMethod ?? "PUT",
      headers,
      body: file,
    };
    if (options.onUploadProgress) request.onProgress = options.onUploadProgress;
    const { status } = await this.uploader(request);
    if (status < 200 || status >= 300) {
      throw new JobcastHttpError(status, "upload_failed", `the upload was refused (HTTP ${status})`);
    }
    return created;
  }

  /** One page of the caller's jobs, newest first. Applied to the client's state (seq rule). */
  async listJobs(options: { limit?: number; cursor?: string } = {}): Promise<JobList> {
    const query = new URLSearchParams();
    if (options.limit !== undefined) query.set("limit", String(options.limit));
    if (options.cursor !== undefined) query.set("cursor", options.cursor);
    const suffix = query.toString() ? `?${query.toString()}` : "";
    const list = await this.requestJson<JobList>("GET", `/jobs${suffix}`);
    for (const job of list.jobs) if (isJobSnapshot(job)) this.applySnapshot(job, "http");
    return list;
  }

  /** One job's snapshot over HTTP (an explicit call; the client never polls a healthy socket). */
  async getJob(jobId: string): Promise<JobView | undefined> {
    const job = await this.requestJson<JobSnapshot>("GET", `/jobs/${encodeURIComponent(jobId)}`);
    if (isJobSnapshot(job)) this.applySnapshot(job, "http");
    return this.jobs.get(jobId);
  }

  /** Short-lived links to a completed job's result.json and result.txt. 409 while not completed. */
  async getResult(jobId: string): Promise<ResultLinks> {
    return this.requestJson<ResultLinks>("GET", `/jobs/${encodeURIComponent(jobId)}/result`);
  }
}

/** Creates a client; call `connect()` to open the socket. */
export function createClient(options: ClientOptions): JobcastClient {
  return new JobcastClient(options);
}

function clampPercent(value: number): number {
  return Math.min(100, Math.max(0, Math.floor(value)));
}

function detach(ws: SocketLike): void {
  ws.onopen = null;
  ws.onclose = null;
  ws.onerror = null;
  ws.onmessage = null;
}

function safeClose(ws: SocketLike, code: number, reason: string): void {
  try {
    ws.close(code, reason);
  } catch {
    // already closed
  }
}

async function readError(response: ResponseLike): Promise<{ code: string; message: string }> {
  try {
    const body = (await response.json()) as { error?: { code?: unknown; message?: unknown } };
    if (typeof body?.error?.code === "string") {
      return { code: body.error.code, message: String(body.error.message ?? body.error.code) };
    }
  } catch {
    // not JSON
  }
  return { code: `http_${response.status}`, message: `HTTP ${response.status}` };
}

function reportListenerError(error: unknown): void {
  // A listener's bug must not break the client; report it and go on.
  console.error("jobcast: a listener threw", error);
}
