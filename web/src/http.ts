// The HTTP API (docs/openapi.yaml) and the presigned upload: every request the client makes
// over fetch. No state and no timers; the client decides what to do with the answers.

import { type CreatedJob, type JobList, type JobSnapshot, type ResultLinks, isJobSnapshot } from "./protocol.js";
import type { FetchLike, FileLike, RequestInitLike, ResponseLike, UploadRequest, Uploader } from "./types.js";

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

/** What one status poll found. */
export type StatusPoll =
  | { outcome: "not_modified" }
  /** `job` is undefined when the body was not a snapshot. */
  | { outcome: "ok"; job: JobSnapshot | undefined }
  /** No answer at all (fetch or getToken threw): the network is down too. */
  | { outcome: "network" }
  | { outcome: "error"; code: string; message: string };

export interface HttpOptions {
  httpUrl: string;
  getToken: () => string | Promise<string>;
  fetch?: FetchLike | undefined;
  uploader?: Uploader | undefined;
}

export class JobcastHttp {
  private readonly httpUrl: string;
  private readonly getToken: () => string | Promise<string>;
  private readonly doFetch: FetchLike;
  private readonly uploader: Uploader;

  constructor(options: HttpOptions) {
    this.httpUrl = options.httpUrl.replace(/\/+$/, "");
    this.getToken = options.getToken;
    this.doFetch = options.fetch ?? ((url, init) => globalThis.fetch(url, init));
    this.uploader = options.uploader ?? defaultUploader(this.doFetch);
  }

  /** `POST /jobs`: the job and its presigned upload. */
  createJob(file: FileLike): Promise<CreatedJob> {
    return this.requestJson<CreatedJob>("POST", "/jobs", { fileName: file.name, sizeBytes: file.size });
  }

  /** The presigned PUT of `file`, with the headers the signature covers. */
  async upload(created: CreatedJob, file: FileLike, onProgress?: (loaded: number, total: number) => void): Promise<void> {
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
    if (onProgress) request.onProgress = onProgress;
    const { status } = await this.uploader(request);
    if (status < 200 || status >= 300) {
      throw new JobcastHttpError(status, "upload_failed", `the upload was refused (HTTP ${status})`);
    }
  }

  listJobs(options: { limit?: number; cursor?: string }): Promise<JobList> {
    const query = new URLSearchParams();
    if (options.limit !== undefined) query.set("limit", String(options.limit));
    if (options.cursor !== undefined) query.set("cursor", options.cursor);
    const suffix = query.toString() ? `?${query.toString()}` : "";
    return this.requestJson<JobList>("GET", `/jobs${suffix}`);
  }

  getJob(jobId: string): Promise<JobSnapshot> {
    return this.requestJson<JobSnapshot>("GET", jobPath(jobId));
  }

  getResult(jobId: string): Promise<ResultLinks> {
    return this.requestJson<ResultLinks>("GET", `${jobPath(jobId)}/result`);
  }

  /**
   * One poll of the fallback (the socket is down): a conditional `GET /jobs/{id}`, whose ETag is
   * the quoted seq, so 304 means unchanged. `X-Jobcast-Transport: polling` lets the server count
   * fallback polls apart from the caller's own `getJob`, which never sends it.
   */
  async pollStatus(jobId: string, knownSeq: number | undefined): Promise<StatusPoll> {
    const headers: Record<string, string> = { [TRANSPORT_HEADER]: "polling" };
    if (knownSeq !== undefined) headers["If-None-Match"] = `"${knownSeq}"`;
    let response: ResponseLike;
    try {
      response = await this.request("GET", jobPath(jobId), undefined, headers);
    } catch {
      return { outcome: "network" };
    }
    if (response.status === 304) return { outcome: "not_modified" };
    if (response.ok) {
      const body = await response.json().catch(() => undefined);
      return { outcome: "ok", job: isJobSnapshot(body) ? body : undefined };
    }
    return { outcome: "error", ...(await readError(response)) };
  }

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
}

/** Marks the polling fallback's requests; the HTTP API's CORS allows it. */
export const TRANSPORT_HEADER = "X-Jobcast-Transport";

function jobPath(jobId: string): string {
  return `/jobs/${encodeURIComponent(jobId)}`;
}

/** The API's `{"error": {code, message}}`, or a code made from the status when there is none. */
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
