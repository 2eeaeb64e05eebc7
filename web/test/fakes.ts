// Fakes for the client's surroundings: a virtual clock, scripted sockets and a scripted fetch.

import type {
  FetchLike,
  RequestInitLike,
  ResponseLike,
  SocketLike,
  Timers,
  WebSocketCtor,
} from "../src/client.js";
import type { JobCompletedMessage, JobSnapshot, ServerMessage } from "../src/protocol.js";

/** Lets every pending promise callback run (the client awaits getToken and fetch). */
export async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

interface Pending {
  id: number;
  at: number;
  ms: number;
  callback: () => void;
}

/** A virtual clock: timers run only when the test advances time. `start`: epoch ms. */
export class FakeClock implements Timers {
  private time: number;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();

  constructor(start = 0) {
    this.time = start;
  }

  setTimeout(callback: () => void, ms: number): unknown {
    const id = this.nextId++;
    this.pending.set(id, { id, at: this.time + ms, ms, callback });
    return id;
  }

  clearTimeout(handle: unknown): void {
    this.pending.delete(handle as number);
  }

  now(): number {
    return this.time;
  }

  /** The delays (as scheduled) of the timers still pending, soonest first. */
  scheduled(): number[] {
    return [...this.pending.values()].sort((a, b) => a.at - b.at).map((p) => p.ms);
  }

  /** Runs every timer due within `ms`, in order, letting promises settle after each. */
  async advance(ms: number): Promise<void> {
    const end = this.time + ms;
    await settle();
    for (;;) {
      const next = [...this.pending.values()].filter((p) => p.at <= end).sort((a, b) => a.at - b.at || a.id - b.id)[0];
      if (!next) break;
      this.pending.delete(next.id);
      this.time = next.at;
      next.callback();
      await settle();
    }
    this.time = end;
    await settle();
  }
}

/** One scripted socket; the test plays the server. */
export class FakeSocket implements SocketLike {
  readyState = 0;
  onopen: ((event: unknown) => void) | null = null;
  onclose: ((event: unknown) => void) | null = null;
  onerror: ((event: unknown) => void) | null = null;
  onmessage: ((event: { data: unknown }) => void) | null = null;
  readonly sent: Array<Record<string, unknown>> = [];
  closedByClient: { code: number | undefined; reason: string | undefined } | undefined;

  /** Answer every ping with a pong, like the real server. */
  autoPong = false;

  constructor(readonly url: string) {}

  get token(): string | null {
    return new URL(this.url).searchParams.get("token");
  }

  /** The server accepts the connection. */
  accept(): void {
    this.readyState = 1;
    this.onopen?.({});
  }

  /** The connection fails or is dropped (refused, 403, or a server-side close). */
  drop(code = 1006): void {
    this.readyState = 3;
    this.onerror?.({});
    this.onclose?.({ code });
  }

  push(message: ServerMessage | Record<string, unknown>): void {
    this.onmessage?.({ data: JSON.stringify(message) });
  }

  send(data: string): void {
    if (this.readyState !== 1) throw new Error("send on a socket that is not open");
    const message = JSON.parse(data) as Record<string, unknown>;
    this.sent.push(message);
    if (this.autoPong && message.action === "ping") queueMicrotask(() => this.push({ type: "pong" }));
  }

  close(code?: number, reason?: string): void {
    this.closedByClient = { code, reason };
    if (this.readyState === 3) return;
    this.readyState = 3;
    queueMicrotask(() => this.onclose?.({ code: code ?? 1005 }));
  }

  actions(name?: string): Array<Record<string, unknown>> {
    return this.sent.filter((m) => name === undefined || m.action === name);
  }
}

/** Hands out FakeSockets and remembers them in order. */
export class FakeNetwork {
  readonly sockets: FakeSocket[] = [];
  readonly WebSocket: WebSocketCtor;
  /** Sockets made from now on answer pings. */
  autoPong = false;

  constructor() {
    const sockets = this.sockets;
    const network = this;
    this.WebSocket = class extends FakeSocket {
      constructor(url: string) {
        super(url);
        this.autoPong = network.autoPong;
        sockets.push(this);
      }
    };
  }

  get last(): FakeSocket {
    const socket = this.sockets.at(-1);
    if (!socket) throw new Error("no socket was opened");
    return socket;
  }
}

export interface FakeReply {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

export interface RecordedRequest {
  url: string;
  method: string;
  headers: Record<string, string>;
  body: unknown;
}

/** A fetch that answers from a handler and records every request. */
export class FakeFetch {
  readonly requests: RecordedRequest[] = [];
  handler: (request: RecordedRequest) => FakeReply | Promise<FakeReply> = () => ({ status: 500 });

  readonly fetch: FetchLike = async (url: string, init?: RequestInitLike): Promise<ResponseLike> => {
    const request: RecordedRequest = {
      url,
      method: init?.method ?? "GET",
      headers: init?.headers ?? {},
      body: init?.body === undefined ? undefined : JSON.parse(init.body),
    };
    this.requests.push(request);
    const reply = await this.handler(request);
    const headers = new Map(Object.entries(reply.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v]));
    return {
      status: reply.status,
      ok: reply.status >= 200 && reply.status < 300,
      headers: { get: (name: string) => headers.get(name.toLowerCase()) ?? null },
      json: async () => {
        if (reply.body === undefined) throw new SyntaxError("no body");
        return reply.body;
      },
      text: async () => (reply.body === undefined ? "" : JSON.stringify(reply.body)),
    };
  };

  /** The status polls (`GET /jobs/{id}`) among the requests. */
  statusPolls(): RecordedRequest[] {
    return this.requests.filter((r) => r.method === "GET" && /\/jobs\/[^/?]+$/.test(r.url));
  }
}

/**
 * An unsigned JWT (the client never verifies one) with the given claims; times in seconds,
 * as in a real token.
 */
export function jwt(claims: Record<string, unknown>): string {
  const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");
  return `${part({ alg: "HS256", typ: "JWT" })}.${part(claims)}.c2lnbmF0dXJl`;
}

export function snapshot(jobId: string, seq: number, progress: number, extra: Partial<JobSnapshot> = {}): JobSnapshot {
  const stage = progress >= 100 ? "completed" : progress >= 75 ? "merging" : progress >= 15 ? "processing" : "analyzing";
  return {
    jobId,
    status: stage === "completed" ? "completed" : "processing",
    stage,
    progress,
    message: `at ${progress}`,
    chunksDone: 0,
    chunksTotal: 4,
    seq,
    fileName: `${jobId}.pdf`,
    createdAt: "2026-01-01T00:00:00.000Z",
    updatedAt: "2026-01-01T00:00:00.000Z",
    ...extra,
  };
}

/**
 * A `job_completed` as the server sends it: the outcome, and the final snapshot worded the way
 * the server words it. A given `error` makes it a failure.
 */
export function completed(
  jobId: string,
  seq: number,
  outcome: { error?: string; resultUrl?: string; message?: string } = {},
): JobCompletedMessage {
  const { error, resultUrl } = outcome;
  const status = error === undefined ? "completed" : "failed";
  const job = snapshot(jobId, seq, 100, {
    status,
    stage: status,
    message: outcome.message ?? (error === undefined ? "Completed" : `Failed: ${error}`),
    chunksDone: error === undefined ? 4 : 1,
    updatedAt: "2026-01-01T00:05:00.000Z",
  });
  const message: JobCompletedMessage = { type: "job_completed", jobId, status, seq, job };
  if (error !== undefined) {
    message.error = error;
    job.error = error;
  }
  if (resultUrl !== undefined) message.resultUrl = resultUrl;
  return message;
}
