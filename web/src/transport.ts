// The socket's lifecycle: open with a fresh token, reconnect with backoff, hand over to polling
// after the last attempt (and keep retrying slowly in the background, or at once on
// `reconnectNow()`), keepalive pings (the first one after a reconnect reports how many attempts
// it took), and a planned make-before-break swap before the socket's token expires or API
// Gateway's 2-hour connection limit, whichever comes first.

import { type ClientMessage, type ServerMessage, parseServerMessage } from "./protocol.js";
import { Keepalive, backoffDelay, detach, safeClose } from "./socket.js";
import { TimerSlot } from "./timers.js";
import { type TokenLifetime, renewalDelay, tokenLifetime } from "./token.js";
import type { BackoffOptions, ClientStats, ConnectionStatus, SocketLike, Timers, WebSocketCtor } from "./types.js";

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
  "socketsOpened" | "connects" | "plannedReconnects" | "tokenRenewals" | "pingsSent" | "pongsReceived"
>;

const OPEN = 1;

interface Conn {
  ws: SocketLike;
  open: boolean;
  /** The `exp` (and `iat`) of the token the socket was opened with, when it is a JWT. */
  token: TokenLifetime | undefined;
}

/** Why a make-before-break swap is made. */
type SwapReason = "lifetime" | "token";

type Mode = "idle" | "socket" | "polling" | "closed";

export class Transport {
  private mode: Mode = "idle";
  /** The socket in use (open or being opened). */
  private current: Conn | undefined;
  /** A replacement being opened for a planned swap (token renewal or connection lifetime). */
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

  /** When the socket is next tried automatically; null while connected or a try is under way. */
  get nextRetryAt(): number | null {
    return this.reconnectTimer.dueAt;
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

  /**
   * Makes the pending automatic try now, with the backoff reset: while reconnecting, a failure
   * is attempt 1 again; while polling, the next background retry is a full interval after this
   * one (polling goes on until a socket opens). False, and nothing done, when no try is pending:
   * connected, a try under way (connecting), or not connected at all.
   */
  reconnectNow(): boolean {
    if ((this.mode !== "socket" && this.mode !== "polling") || !this.reconnectTimer.pending) return false;
    this.reconnectTimer.clear();
    this.failures = 0;
    this.retry();
    return true;
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
    this.events.status({ state: "offline", nextRetryAt: null });
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
    const conn: Conn = { ws, open: false, token: tokenLifetime(token) };
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
      this.socketReady(conn);
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
  private socketReady(conn: Conn): void {
    this.stats.connects++;
    this.failures = 0;
    this.mode = "socket";
    this.reconnectTimer.clear();
    this.keepalive.stop();
    this.keepalive.start();
    this.scheduleSwap(conn);
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
      this.scheduleBackgroundRetry();
      return;
    }
    this.failures++;
    if (this.failures <= backoff.attempts) {
      this.events.status({ state: "reconnecting", attempt: this.failures, maxAttempts: backoff.attempts });
      this.reconnectTimer.set(backoffDelay(this.failures, backoff, random), () => this.retry());
      return;
    }
    this.mode = "polling";
    this.scheduleBackgroundRetry(); // first, so the `polling` status already says when
    this.events.fellBack();
  }

  /**
   * Background retries while polling: slow and jittered (±25 %), not counted against the
   * attempts (the reconnect report counts them, though: they are part of the episode).
   */
  private scheduleBackgroundRetry(): void {
    const delay = Math.round(this.options.backgroundRetryMs * (0.75 + 0.5 * this.options.random()));
    this.reconnectTimer.set(delay, () => this.retry());
    this.pollingStatus();
  }

  private pollingStatus(): void {
    this.events.status({ state: "polling", nextRetryAt: this.nextRetryAt });
  }

  /** A reconnect attempt: from the backoff, the background retry, or `reconnectNow()`. */
  private retry(): void {
    this.reconnectAttempts++;
    if (this.mode === "polling") this.pollingStatus(); // a try under way: no next one planned yet
    void this.openSocket();
  }

  /**
   * The next make-before-break swap of this socket: before its token expires (see token.ts for
   * how long before), or before API Gateway's 2-hour limit, whichever comes first. A token that
   * is not a JWT with `exp` sets no renewal; one that already looks expired neither: the
   * server's close and the usual reconnect with a fresh token follow.
   */
  private scheduleSwap(conn: Conn): void {
    const renewIn = conn.token && renewalDelay(conn.token, this.options.timers.now());
    if (renewIn !== undefined && renewIn < this.options.maxConnectionMs) {
      this.plannedTimer.set(renewIn, () => void this.plannedReconnect("token"));
    } else {
      this.plannedTimer.set(this.options.maxConnectionMs, () => void this.plannedReconnect("lifetime"));
    }
  }

  /**
   * Make-before-break: open a second socket with a fresh token, and once it is open make it the
   * primary (resubscribing everything; the seq rule drops what both sockets deliver) and close
   * the old one. The status stays `connected` throughout. If this fails (no token, a token no
   * fresher than the old one, a socket that does not open), the old socket goes on until the
   * server closes it; then the usual reconnect follows.
   */
  private async plannedReconnect(reason: SwapReason): Promise<void> {
    const old = this.current;
    if (!old || !old.open || this.mode !== "socket") return;
    if (reason === "token") this.stats.tokenRenewals++;
    else this.stats.plannedReconnects++;
    let token: string;
    try {
      token = await this.options.getToken();
    } catch {
      return;
    }
    if (this.current !== old || this.mode !== "socket") return;
    const lifetime = tokenLifetime(token);
    // A token source that hands the same token back would otherwise be asked again at once.
    if (reason === "token" && old.token && lifetime && lifetime.expiresAt <= old.token.expiresAt) return;
    let ws: SocketLike;
    try {
      ws = new this.options.WebSocket(this.socketUrl(token));
    } catch {
      return;
    }
    this.stats.socketsOpened++;
    const conn: Conn = { ws, open: false, token: lifetime };
    this.replacement = conn;
    const dropReplacement = (why: string) => {
      if (this.replacement !== conn) return;
      this.replacement = undefined;
      detach(ws);
      safeClose(ws, 1000, why);
    };
    // The connect timer is idle while the primary is open; a new primary attempt resets it.
    this.connectTimer.set(this.options.connectTimeoutMs, () => dropReplacement("connect timeout"));
    ws.onerror = () => {};
    ws.onclose = () => dropReplacement("closed");
    ws.onmessage = (event) => this.receive(conn, event.data);
    ws.onopen = () => {
      if (this.replacement !== conn) return;
      this.replacement = undefined;
      this.connectTimer.clear();
      this.attemptToken++; // a reconnect attempt still fetching its token is not needed now
      const previous = this.current;
      if (previous) {
        detach(previous.ws);
        safeClose(previous.ws, 1000, reason === "token" ? "token renewal" : "planned reconnect");
      } else {
        // The old socket died while this one was opening: it is this episode's reconnect.
        this.reconnectAttempts++;
      }
      this.keepalive.stop();
      conn.open = true;
      this.current = conn;
      // From now on it is the primary: same close handling as any socket.
      ws.onclose = () => this.primaryClosed(conn);
      this.socketReady(conn);
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
    if (message.type === "error" && message.code === "token_expired") this.tokenExpired(conn);
  }

  /**
   * The server will answer nothing more on this socket and closes it: do not wait for that
   * close. The primary is replaced the usual way (a fresh token, the backoff); a replacement
   * that somehow got a stale token is just dropped.
   */
  private tokenExpired(conn: Conn): void {
    if (conn === this.replacement) {
      this.replacement = undefined;
      detach(conn.ws);
      safeClose(conn.ws, 1000, "token expired");
      return;
    }
    if (conn === this.current) this.abandonCurrent(1000, "token expired");
  }

  private ping(reconnects?: number): boolean {
    const sent = this.send(reconnects === undefined ? { action: "ping" } : { action: "ping", reconnects });
    if (sent) this.stats.pingsSent++;
    return sent;
  }

  /** No pong: the socket is half-open. Drop it and reconnect. */
  private socketDead(): void {
    this.abandonCurrent(4000, "no pong");
  }

  /** Closes the primary socket from this side and reconnects. */
  private abandonCurrent(code: number, reason: string): void {
    const conn = this.current;
    if (!conn) return;
    detach(conn.ws);
    safeClose(conn.ws, code, reason);
    this.current = undefined;
    this.connectTimer.clear();
    this.keepalive.stop();
    this.plannedTimer.clear();
    this.attemptFailed();
  }
}
