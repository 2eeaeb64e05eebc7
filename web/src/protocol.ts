// The jobcast wire protocol (docs/PROTOCOL.md, docs/openapi.yaml) as TypeScript types.

export type JobStatus = "pending" | "processing" | "completed" | "failed";

export type Stage =
  | "queued"
  | "analyzing"
  | "chunked"
  | "processing"
  | "merging"
  | "completed"
  | "failed";

/** One job as the WebSocket pushes it and `GET /jobs/{id}` returns it. */
export interface JobSnapshot {
  jobId: string;
  status: JobStatus;
  stage: Stage;
  /** 0–100. */
  progress: number;
  message: string;
  chunksDone: number;
  chunksTotal: number;
  /** Grows by one with every change of the job. */
  seq: number;
  fileName?: string;
  error?: string;
  createdAt: string;
  updatedAt: string;
}

export type ErrorCode =
  | "malformed_message"
  | "invalid_message"
  | "unknown_action"
  | "not_found"
  | "unauthorized"
  /** The connection's token has expired: the server answers nothing else and closes it. */
  | "token_expired"
  /** A subscribe beyond the connection's budget of watched jobs. */
  | "too_many_subscriptions"
  | "internal";

// ── server → client ────────────────────────────────────────────────────────────────────────

export interface SubscribedMessage {
  type: "subscribed";
  jobId: string;
  job: JobSnapshot;
}

export interface UnsubscribedMessage {
  type: "unsubscribed";
  jobId: string;
}

export interface JobUpdateMessage extends JobSnapshot {
  type: "job_update";
}

export interface JobCompletedMessage {
  type: "job_completed";
  jobId: string;
  status: "completed" | "failed";
  resultUrl?: string;
  error?: string;
  seq: number;
  /**
   * The final snapshot; its `message` is the text to show ("Completed", "Failed: …"). Servers
   * from before this field omit it.
   */
  job?: JobSnapshot;
}

export interface JobListUpdateMessage {
  type: "job_list_update";
  jobId: string;
  status: JobStatus;
}

export interface PongMessage {
  type: "pong";
}

export interface ErrorMessage {
  type: "error";
  code: ErrorCode;
  message: string;
  jobId?: string;
}

export type ServerMessage =
  | SubscribedMessage
  | UnsubscribedMessage
  | JobUpdateMessage
  | JobCompletedMessage
  | JobListUpdateMessage
  | PongMessage
  | ErrorMessage;

// ── client → server ────────────────────────────────────────────────────────────────────────

export type ClientMessage =
  | { action: "subscribe_job"; jobId: string }
  | { action: "unsubscribe_job"; jobId: string }
  /** `reconnects`: only on the first ping after a reconnect, the attempts it took (≥ 1). */
  | { action: "ping"; reconnects?: number };

// ── HTTP ────────────────────────────────────────────────────────────────────────────────────

export interface NewJob {
  fileName: string;
  sizeBytes: number;
  contentType?: "application/pdf";
}

export interface CreatedJob {
  jobId: string;
  uploadUrl: string;
  uploadMethod: "PUT";
  uploadHeaders: Record<string, string>;
  expiresInSeconds: number;
  job: JobSnapshot;
}

export interface JobList {
  jobs: JobSnapshot[];
  nextCursor: string | null;
}

export interface ResultLinks {
  jobId: string;
  /** Presigned GET of result.json. */
  resultUrl: string;
  /** Presigned GET of result.txt. */
  textUrl: string;
  expiresInSeconds: number;
}

export interface HttpErrorBody {
  error: { code: string; message: string };
}

const STATUSES: ReadonlySet<string> = new Set(["pending", "processing", "completed", "failed"]);

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** A structural check of a snapshot: enough to trust the fields the client reads. */
export function isJobSnapshot(value: unknown): value is JobSnapshot {
  return (
    isObject(value) &&
    typeof value.jobId === "string" &&
    typeof value.status === "string" &&
    STATUSES.has(value.status) &&
    typeof value.stage === "string" &&
    typeof value.progress === "number" &&
    typeof value.message === "string" &&
    typeof value.seq === "number"
  );
}

/** Parses one WebSocket frame; `undefined` for anything that is not a known server message. */
export function parseServerMessage(frame: unknown): ServerMessage | undefined {
  if (typeof frame !== "string") return undefined;
  let value: unknown;
  try {
    value = JSON.parse(frame);
  } catch {
    return undefined;
  }
  if (!isObject(value) || typeof value.type !== "string") return undefined;
  switch (value.type) {
    case "subscribed":
      return typeof value.jobId === "string" && isJobSnapshot(value.job)
        ? (value as unknown as SubscribedMessage)
        : undefined;
    case "job_update":
      return isJobSnapshot(value) ? (value as unknown as JobUpdateMessage) : undefined;
    case "job_completed":
      // `job` is absent from older servers (the client then falls back); when present it must
      // be this job's snapshot, like `subscribed.job`.
      return typeof value.jobId === "string" &&
        typeof value.seq === "number" &&
        (value.status === "completed" || value.status === "failed") &&
        (value.job === undefined || (isJobSnapshot(value.job) && value.job.jobId === value.jobId))
        ? (value as unknown as JobCompletedMessage)
        : undefined;
    case "job_list_update":
      return typeof value.jobId === "string" && typeof value.status === "string"
        ? (value as unknown as JobListUpdateMessage)
        : undefined;
    case "unsubscribed":
      return typeof value.jobId === "string" ? (value as unknown as UnsubscribedMessage) : undefined;
    case "pong":
      return { type: "pong" };
    case "error":
      return typeof value.code === "string" && typeof value.message === "string"
        ? (value as unknown as ErrorMessage)
        : undefined;
    default:
      return undefined;
  }
}
