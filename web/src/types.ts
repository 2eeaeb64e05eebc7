// The client's public types: what it needs from its surroundings (all injectable, so the state
// machine runs on fakes in the unit tests), its options, events, views and counters.

import type { ErrorMessage, JobListUpdateMessage, JobSnapshot } from "./protocol.js";

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
  /**
   * Milliseconds since the epoch (`Date.now()` by default): what a token's `exp` is compared
   * with, and the clock of `nextRetryAt`.
   */
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

// ── what the client shows ────────────────────────────────────────────────────────────────────

/**
 * `nextRetryAt` (polling, offline): when the socket is next tried automatically, in `timers.now()`
 * milliseconds (epoch ms by default); `null` while a try is under way, or when none is planned
 * (the client is closed or was never connected). `reconnectNow()` brings the try forward.
 */
export type ConnectionStatus =
  | { state: "connecting" }
  | { state: "connected" }
  | { state: "reconnecting"; attempt: number; maxAttempts: number }
  | { state: "polling"; nextRetryAt: number | null }
  | { state: "offline"; nextRetryAt: number | null };

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

// ── options ──────────────────────────────────────────────────────────────────────────────────

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
  /**
   * Returns a valid JWT. Called on every (re)connect, every token renewal and every HTTP request.
   * A socket dies with its token: when the token is a JWT with `exp`, the socket is replaced
   * before then by one opened with a fresh token (so this must return a fresh one by then).
   */
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
  /**
   * Planned reconnect before API Gateway's 2-hour connection limit. Default 110 min. A token
   * expiring sooner moves it forward (see `tokenRenewals`).
   */
  maxConnectionMs?: number;
}

/** Counters for diagnostics and tests. */
export interface ClientStats {
  socketsOpened: number;
  connects: number;
  /** Make-before-break swaps begun for the 2-hour connection limit. */
  plannedReconnects: number;
  /** Make-before-break swaps begun because the socket's token was about to expire. */
  tokenRenewals: number;
  subscribesSent: number;
  subscribedReceived: number;
  pushesApplied: number;
  staleDropped: number;
  pingsSent: number;
  pongsReceived: number;
  polls: number;
  notModified: number;
}
