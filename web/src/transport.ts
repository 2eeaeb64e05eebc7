// The socket's lifecycle: open with a fresh token, reconnect with backoff, hand over to polling
// after the last attempt (and keep retrying slowly in the background), keepalive pings (the
// first one after a reconnect reports how many attempts it took), and a planned
// make-before-break swap before API Gateway's 2-hour connection limit.

import { type ClientMessage, type ServerMessage, parseServerMessage } from "./protocol.js";
import { TimerSlot } from "./timers.js";
import type { BackoffOptions, ClientStats, ConnectionStatus, SocketLike, Timers, WebSocketCtor } from "./types.js";

export const DEFAULT_BACKOFF: BackoffOptions = { attempts: 5, baseMs: 500, maxMs: 10_000 };

/**
 * The delay before reconnect attempt `attempt` (1-based): exponential from `baseMs`, capped at
 * `maxMs`, with "equal jitter": uniformly within [raw/2, raw].
 */
export function backoffDelay(attempt: number, options: BackoffOptions, random: () => number): number {
  const raw = Math.min(options.maxMs, options.baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(raw / 2 + (raw / 2) * random());
}

export interface TransportOptions {
  wsUrl: string;
  getToken: () => string | Promise<string>;
  WebSocket: WebSocketCtor;
  timers: Timers;
  random: () => number;
  backoff: BackoffOptions;
  backgroundRetryMs: number;
  pingIntervalMs: number;
  pongTimeoutMs: number;
  connectTimeoutMs: number;
  maxConnectionMs: number;
}

/** What the transport tells its owner. */
export interface TransportEvents {
  status(status: ConnectionStatus): void;
  /** A socket became the primary (first open, reconnect or planned swap): subscribe again. */
  opened(): void;
  /** The last reconnect attempt failed: poll from now on. The socket is still retried, slowly. */
  fellBack(): void;
  /** A frame from the server; pongs stay with the transport. */
  message(message: ServerMessage): void;
}

export type TransportStats = Pick<
  ClientStats,
  "socketsOpened" | "connects" | "plannedReconnects" | "pingsSent" | "pongsReceived"
>;

const OPEN = 1;

interface Conn {
  ws: SocketLike;
  open: boolean;
}

type Mode = "idle" | "socket" | "polling" | "closed";

export class Transport {
  private mode: Mode = "idle";
  /** The socket in use (open or being opened). */
  private current: Conn | undefined;
  /** A replacement being opened for a planned reconnect. */
  private replacement: Conn | undefined;
  /** Consecutive failed attempts since the socket was last open. */
  private failures = 0;
  /**
   * Reconnect attempts since the socket was last open (the one that succeeds and background
   * retries included): what the next socket's first ping reports. `connect()` and a planned
   * swap make none, so a first connect that opens at once and a rollover report nothing.
   */
  private reconnectAttempts = 0;
  /** Bumped whenever a pending (async) socket open must be abandoned. */
  private attemptToken = 0;

  private readonly reconnectTimer: TimerSlot;
  private readonly connectTimer: TimerSlot;
  private readonly plannedTimer: TimerSlot;
  private readonly keepalive: Keepalive;

  constructor(
    private readonly options: TransportOptions,
    private readonly events: TransportEvents,
    private readonly stats: TransportStats,
  ) {
    this.reconnectTimer = new TimerSlot(options.timers);
    this.connectTimer = new TimerSlot(options.timers);
    this.plannedTimer = new TimerSlot(options.timers);
    this.keepalive = new Keepalive(
      options.timers,
      options.pingIntervalMs,
      options.pongTimeoutMs,
      () => this.ping(),
      () => this.socketDead(),
    );
  }

  /** True once every attempt failed, until a socket opens again: the owner polls meanwhile. */
  get fallenBack(): boolean {
    return this.mode === "polling";
  }

  /** Opens the socket (idempotent). */
  connect(): void {
    if (this.mode === "socket" || this.mode === "polling") return;
    this.mode = "socket";
    this.failures = 0;
    this.reconnectAttempts = 0;
    this.events.status({ state: "connecting" });
    void this.openSocket();
  }

  /** Closes every socket and stops every timer. `connect()` starts again. */
  close(): void {
    this.mode = "closed";
    this.attemptToken++;
    this.reconnectTimer.clear();
    this.connectTimer.clear();
    this.plannedTimer.clear();
    this.keepalive.stop();
    for (const conn of [this.current, this.replacement]) {
      if (conn) {
        detach(conn.ws);
        safeClose(conn.ws, 1000, "client closed");
      }
    }
    this.current = undefined;
    this.replacement = undefined;
    this.events.status({ state: "offline" });
  }

  /** Sends on the primary socket if it is open; false when it could not. */
  send(message: ClientMessage): boolean {
    const conn = this.current;
    if (!conn || !conn.open || conn.ws.readyState !== OPEN) return false;
    try {
      conn.ws.send(JSON.stringify(message));
      return true;
    } catch {
      return false;
    }
  }

  private socketUrl(token: string): string {
    const { wsUrl } = this.options;
    return `${wsUrl}${wsUrl.includes("?") ? "&" : "?"}token=${encodeURIComponent(token)}`;
  }

  /** One attempt at the primary socket. The token is fetched anew for every attempt. */
  private async openSocket(): Promise<void> {
    const attempt = ++this.attemptToken;
    let token: string;
    try {
      token = await this.options.getToken();
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
      ws = new this.options.WebSocket(this.socketUrl(token));
    } catch {
      this.attemptFailed();
      return;
    }
    this.stats.socketsOpened++;
    const conn: Conn = { ws, open: false };
    this.current = conn;
    this.connectTimer.set(this.options.connectTimeoutMs, () => {
      if (this.current !== conn || conn.open) return;
      detach(ws);
      safeClose(ws, 1000, "connect timeout");
      this.current = undefined;
      this.attemptFailed();
    });

    ws.onopen = () => {
      if (this.current !== conn) return;
      this.connectTimer.clear();
      conn.open = true;
      this.socketReady();
    };
    ws.onmessage = (event) => this.receive(conn, event.data);
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
    this.connectTimer.clear();
    this.keepalive.stop();
    this.plannedTimer.clear();
    if (this.mode === "closed") return;
    this.attemptFailed();
  }

  /** The primary socket is open (first time, after a reconnect, or after a planned swap). */
  private socketReady(): void {
    this.stats.connects++;
    this.failures = 0;
    this.mode = "socket";
    this.reconnectTimer.clear();
    this.keepalive.stop();
    this.keepalive.start();
    this.plannedTimer.set(this.options.maxConnectionMs, () => void this.plannedReconnect());
    // The server counts reconnects only from what the client tells it: say it at once, once.
    if (this.reconnectAttempts > 0) this.ping(this.reconnectAttempts);
    this.reconnectAttempts = 0;
    // Timers first: a listener of these events may close the client, and close() clears them.
    this.events.status({ state: "connected" });
    this.events.opened();
  }

  /** A socket attempt failed or an open socket was lost: back off, or fall back to polling. */
  private attemptFailed(): void {
    if (this.mode === "closed") return;
    const { backoff, random } = this.options;
    this.reconnectTimer.clear();
    if (this.mode === "polling") {
      // Background retries while polling: slow and jittered, not counted against the attempts
      // (the reconnect report counts them, though: they are part of the episode).
      const delay = Math.round(this.options.backgroundRetryMs * (0.75 + 0.5 * random()));
      this.reconnectTimer.set(delay, () => this.retry());
      return;
    }
    this.failures++;
    if (this.failures <= backoff.attempts) {
      this.events.status({ state: "reconnecting", attempt: this.failures, maxAttempts: backoff.attempts });
      this.reconnectTimer.set(backoffDelay(this.failures, backoff, random), () => this.retry());
      return;
    }
    this.mode = "polling";
    this.events.status({ state: "polling" });
    this.events.fellBack();
    this.attemptFailed(); // schedules the first background retry
  }

  /** A reconnect attempt, from the backoff or, while polling, the background retry. */
  private retry(): void {
    this.reconnectAttempts++;
    void this.openSocket();
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
      ws = new this.options.WebSocket(this.socketUrl(await this.options.getToken()));
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
    ws.onmessage = (event) => this.receive(conn, event.data);
    ws.onopen = () => {
      if (this.replacement !== conn) return;
      this.replacement = undefined;
      const previous = this.current;
      if (previous) {
        detach(previous.ws);
        safeClose(previous.ws, 1000, "planned reconnect");
      }
      this.keepalive.stop();
      conn.open = true;
      this.current = conn;
      // From now on it is the primary: same close handling as any socket.
      ws.onclose = () => this.primaryClosed(conn);
      this.socketReady();
    };
  }

  private receive(conn: Conn, data: unknown): void {
    if (this.current !== conn && this.replacement !== conn) return;
    const message = parseServerMessage(data);
    if (!message) return;
    if (message.type === "pong") {
      this.stats.pongsReceived++;
      this.keepalive.pong();
      return;
    }
    this.events.message(message);
  }

  private ping(reconnects?: number): boolean {
    const sent = this.send(reconnects === undefined ? { action: "ping" } : { action: "ping", reconnects });
    if (sent) this.stats.pingsSent++;
    return sent;
  }

  /** No pong: the socket is half-open. Drop it and reconnect. */
  private socketDead(): void {
    const conn = this.current;
    if (!conn) return;
    detach(conn.ws);
    safeClose(conn.ws, 4000, "no pong");
    this.current = undefined;
    this.keepalive.stop();
    this.plannedTimer.clear();
    this.attemptFailed();
  }
}

/**
 * A ping every `intervalMs` keeps API Gateway's 10-minute idle timeout away; a ping unanswered
 * for `timeoutMs` means the socket is half-open, which no close event would ever report.
 */
class Keepalive {
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
