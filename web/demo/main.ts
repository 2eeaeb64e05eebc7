// The demo page: a dev user, a PDF drop zone, the user's jobs with live progress bars, and the
// connection indicator. No framework: the client's events drive a few DOM updates.
//
// Dev/test knobs in the page's query string (all optional):
//   ?user=NAME      sign in at once        ?ws=URL          another WebSocket URL
//   ?backoff=MS     reconnect base delay   ?retry=MS        socket retry while polling
//   ?poll=MS        poll interval          ?ping=MS         keepalive interval
//   ?ttl=S          lifetime of the dev tokens (default: the dev server's, 1 h)

import {
  type ClientOptions,
  type ConnectionStatus,
  type JobView,
  JobcastClient,
  JobcastHttpError,
} from "../src/index.js";

interface Config {
  httpUrl: string;
  wsUrl: string;
}

const USER_PATTERN = /^[A-Za-z0-9._@|:+-]{1,128}$/;
const MAX_BYTES = 52_428_800;
const params = new URLSearchParams(location.search);

function $<T extends HTMLElement>(id: string): T {
  const element = document.getElementById(id);
  if (!element) throw new Error(`#${id} missing`);
  return element as T;
}

const ui = {
  conn: $("conn"),
  connText: $("conn-text"),
  connRetry: $("conn-retry"),
  connNext: $("conn-next"),
  reconnectNow: $<HTMLButtonElement>("reconnect-now"),
  userForm: $<HTMLFormElement>("user-form"),
  user: $<HTMLInputElement>("user"),
  whoami: $("whoami"),
  drop: $("drop"),
  file: $<HTMLInputElement>("file"),
  upload: $("upload"),
  uploadName: $("upload-name"),
  uploadPct: $("upload-pct"),
  uploadFill: $("upload-fill"),
  uploadNote: $("upload-note"),
  jobs: $<HTMLUListElement>("jobs"),
  jobsEmpty: $("jobs-empty"),
  jobsCount: $("jobs-count"),
};

let config: Config | undefined;
let client: JobcastClient | undefined;
let user: string | undefined;
const rows = new Map<string, HTMLLIElement>();

// ── tokens from the dev server, refreshed before they expire ──────────────────────────────────

/**
 * A token is reused while more than half of its lifetime is left. The client renews its socket
 * no earlier than that (see src/token.ts), so a renewal always gets a fresh token, and the HTTP
 * calls in between do not each mint one.
 */
function tokenSource(name: string, ttlSeconds: number | undefined): () => Promise<string> {
  let cached: { token: string; expiresAt: number; halfLife: number } | undefined;
  const query = new URLSearchParams({ user: name });
  if (ttlSeconds !== undefined) query.set("ttl", String(ttlSeconds));
  return async () => {
    if (cached && cached.expiresAt - Date.now() / 1000 > cached.halfLife) return cached.token;
    const response = await fetch(`/dev/token?${query}`, { cache: "no-store" });
    if (!response.ok) throw new Error(`token: HTTP ${response.status}`);
    const { token, expiresAt } = (await response.json()) as { token: string; expiresAt: number };
    cached = { token, expiresAt, halfLife: (expiresAt - Date.now() / 1000) / 2 };
    return token;
  };
}

function numberParam(name: string): number | undefined {
  const raw = params.get(name);
  const value = raw === null ? NaN : Number(raw);
  return Number.isFinite(value) && value > 0 ? value : undefined;
}

// ── connection indicator ──────────────────────────────────────────────────────────────────────

const STATUS_TEXT: Record<ConnectionStatus["state"], string> = {
  connecting: "connecting…",
  connected: "connected",
  reconnecting: "reconnecting",
  polling: "polling",
  offline: "offline",
};

let retryTicker: ReturnType<typeof setInterval> | undefined;

function showStatus(status: ConnectionStatus): void {
  ui.conn.dataset.state = status.state;
  ui.connText.textContent =
    status.state === "reconnecting"
      ? `reconnecting ${status.attempt}/${status.maxAttempts}`
      : STATUS_TEXT[status.state];
  ui.conn.title =
    status.state === "polling"
      ? "Live connection down: polling for progress, retrying the socket in the background"
      : "Live connection";
  showRetry(status);
}

/**
 * While polling or offline: when the socket is tried next, and a button to try it now. Outside
 * the indicator's live region, so the countdown is not read out every second.
 */
function showRetry(status: ConnectionStatus): void {
  clearInterval(retryTicker);
  retryTicker = undefined;
  const down = (status.state === "polling" || status.state === "offline") && client !== undefined;
  ui.connRetry.hidden = !down;
  if (!down) return;
  const at = status.nextRetryAt;
  ui.reconnectNow.disabled = at === null;
  if (at === null) {
    ui.connNext.textContent = "trying the live connection…";
    delete ui.connNext.dataset.nextRetryAt;
    return;
  }
  ui.connNext.dataset.nextRetryAt = String(at);
  const tick = () => {
    const seconds = Math.max(0, Math.ceil((at - Date.now()) / 1000));
    ui.connNext.textContent = `next try in ${seconds} s`;
  };
  tick();
  retryTicker = setInterval(tick, 1_000);
}

// ── job rows ──────────────────────────────────────────────────────────────────────────────────

function el<K extends keyof HTMLElementTagNameMap>(tag: K, className: string, text?: string): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  element.className = className;
  if (text !== undefined) element.textContent = text;
  return element;
}

function formatTime(iso: string): string {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return "";
  const sameDay = date.toDateString() === new Date().toDateString();
  return sameDay
    ? date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" })
    : date.toLocaleString([], { dateStyle: "medium", timeStyle: "short" });
}

function createRow(jobId: string): HTMLLIElement {
  const row = el("li", "job");
  row.dataset.jobId = jobId;
  const head = el("div", "job-head");
  head.append(el("span", "job-name"), el("span", "badge"));
  const bar = el("div", "bar");
  bar.setAttribute("role", "progressbar");
  bar.setAttribute("aria-valuemin", "0");
  bar.setAttribute("aria-valuemax", "100");
  bar.append(el("div", "bar-fill"));
  const meta = el("div", "job-meta");
  meta.append(el("span", "job-stage"), el("span", "pct"));
  const foot = el("div", "job-foot");
  foot.append(el("span", "job-when"), el("span", "job-links"));
  row.append(head, bar, meta, el("p", "job-error"), foot);
  return row;
}

function part(row: HTMLElement, className: string): HTMLElement {
  const found = row.querySelector<HTMLElement>(`.${className}`);
  if (!found) throw new Error(`.${className} missing`);
  return found;
}

function resultLink(jobId: string, kind: "json" | "txt"): HTMLAnchorElement {
  const link = el("a", "result-link", kind === "json" ? "result.json" : "result.txt");
  link.href = "#";
  link.dataset.kind = kind;
  link.addEventListener("click", async (event) => {
    event.preventDefault();
    if (!client) return;
    link.setAttribute("aria-busy", "true");
    try {
      // Presigned links are short-lived: fetched on click, never polled.
      const links = await client.getResult(jobId);
      window.open(kind === "json" ? links.resultUrl : links.textUrl, "_blank", "noopener");
    } catch (error) {
      const row = rows.get(jobId);
      if (row) part(row, "job-error").textContent = `Could not get the result: ${describe(error)}`;
    } finally {
      link.removeAttribute("aria-busy");
    }
  });
  return link;
}

function render(job: JobView): void {
  let row = rows.get(job.jobId);
  if (!row) {
    row = createRow(job.jobId);
    rows.set(job.jobId, row);
    placeRow(row, job);
  }
  row.dataset.status = job.status;
  row.dataset.progress = String(job.progress);
  part(row, "job-name").textContent = job.fileName ?? job.jobId;
  part(row, "job-name").title = job.fileName ?? job.jobId;
  part(row, "badge").textContent = job.status;
  const bar = part(row, "bar");
  bar.setAttribute("aria-valuenow", String(job.progress));
  bar.setAttribute("aria-label", `${job.fileName ?? job.jobId} progress`);
  part(row, "bar-fill").style.width = `${job.progress}%`;
  part(row, "job-stage").textContent = job.status === "failed" ? "Failed" : job.message;
  part(row, "pct").textContent = `${job.progress} %`;
  const when = formatTime(job.createdAt || job.updatedAt);
  const chunks = job.chunksTotal > 0 ? `${job.chunksTotal} chunk${job.chunksTotal === 1 ? "" : "s"}` : "";
  part(row, "job-when").textContent = [when, chunks].filter(Boolean).join(" · ");
  part(row, "job-error").textContent = job.status === "failed" ? (job.error ?? job.message) : "";
  const links = part(row, "job-links");
  if (job.status === "completed" && links.childElementCount === 0) {
    links.append(resultLink(job.jobId, "json"), resultLink(job.jobId, "txt"));
  }
  updateCount();
}

/** Newest first, by createdAt (ISO strings compare in time order). */
function placeRow(row: HTMLLIElement, job: JobView): void {
  row.dataset.created = job.createdAt;
  const later = [...ui.jobs.children].find((other) => ((other as HTMLElement).dataset.created ?? "") < job.createdAt);
  ui.jobs.insertBefore(row, later ?? null);
}

function updateCount(): void {
  const running = [...rows.values()].filter((r) => r.dataset.status === "pending" || r.dataset.status === "processing").length;
  ui.jobsEmpty.hidden = rows.size > 0;
  ui.jobsCount.textContent = rows.size === 0 ? "" : running > 0 ? `${running} running · ${rows.size} total` : `${rows.size} total`;
}

function watch(jobId: string): void {
  client?.subscribe(jobId, render);
}

// ── sign in ───────────────────────────────────────────────────────────────────────────────────

async function signIn(name: string): Promise<void> {
  if (!config) return;
  if (!USER_PATTERN.test(name)) {
    ui.whoami.textContent = "A user name is 1–128 of A–Z a–z 0–9 . _ @ | : + -";
    return;
  }
  client?.close();
  rows.clear();
  ui.jobs.replaceChildren();
  updateCount();
  user = name;
  localStorage.setItem("jobcast.user", name);
  const ttl = numberParam("ttl");
  const options: ClientOptions = {
    httpUrl: config.httpUrl,
    wsUrl: params.get("ws") ?? config.wsUrl,
    getToken: tokenSource(name, ttl === undefined ? undefined : Math.ceil(ttl)),
  };
  const backoff = numberParam("backoff");
  if (backoff !== undefined) options.reconnect = { baseMs: backoff, maxMs: backoff * 16 };
  const retry = numberParam("retry");
  if (retry !== undefined) options.backgroundRetryMs = retry;
  const poll = numberParam("poll");
  if (poll !== undefined) options.pollIntervalMs = poll;
  const ping = numberParam("ping");
  if (ping !== undefined) options.pingIntervalMs = ping;

  const next = new JobcastClient(options);
  client = next;
  (window as unknown as { jobcast: unknown }).jobcast = next;
  // A client being replaced (another sign-in) still reports its own close: not this page's state.
  next.on("status", (status) => {
    if (client === next) showStatus(status);
  });
  next.on("jobListUpdate", ({ jobId }) => {
    // A job of this user appeared elsewhere (another tab): watch it too.
    if (!rows.has(jobId)) watch(jobId);
  });
  next.on("jobError", ({ jobId, code, message }) => {
    const row = rows.get(jobId);
    if (row) part(row, "job-error").textContent = `${code}: ${message}`;
  });
  next.connect();
  ui.drop.dataset.disabled = "false";
  ui.whoami.textContent = `Signed in as ${name}.`;

  try {
    const { jobs } = await next.listJobs({ limit: 50 });
    if (client !== next) return;
    for (const job of jobs) {
      const view = next.job(job.jobId);
      if (!view) continue;
      render(view);
      if (!view.terminal) watch(job.jobId);
    }
  } catch (error) {
    if (client === next) ui.whoami.textContent = `Signed in as ${name}, but the job list failed: ${describe(error)}`;
  }
}

// ── upload ────────────────────────────────────────────────────────────────────────────────────

function describe(error: unknown): string {
  if (error instanceof JobcastHttpError) return `${error.message} (HTTP ${error.status})`;
  return error instanceof Error ? error.message : String(error);
}

function showUpload(name: string, fraction: number, note: string, state: "active" | "done" | "error"): void {
  ui.upload.hidden = false;
  ui.upload.dataset.state = state;
  ui.uploadName.textContent = name;
  const pct = Math.round(fraction * 100);
  ui.uploadPct.textContent = `${pct} %`;
  ui.uploadFill.style.width = `${pct}%`;
  ui.upload.querySelector(".bar")?.setAttribute("aria-valuenow", String(pct));
  ui.uploadNote.textContent = note;
}

async function upload(file: File): Promise<void> {
  if (!client) {
    ui.whoami.textContent = "Sign in first.";
    return;
  }
  if (!/\.pdf$/i.test(file.name) && file.type !== "application/pdf") {
    showUpload(file.name, 0, "Only PDF files can be processed.", "error");
    return;
  }
  if (file.size === 0 || file.size > MAX_BYTES) {
    showUpload(file.name, 0, "The PDF must be between 1 byte and 50 MB.", "error");
    return;
  }
  showUpload(file.name, 0, "Creating the job…", "active");
  try {
    await client.createJob(file, {
      onCreated: () => showUpload(file.name, 0, "Uploading…", "active"),
      onUpdate: render,
      onUploadProgress: (loaded, total) => showUpload(file.name, total > 0 ? loaded / total : 0, "Uploading…", "active"),
    });
    showUpload(file.name, 1, "Uploaded. Processing starts now; watch it below.", "done");
  } catch (error) {
    showUpload(file.name, 0, `Upload failed: ${describe(error)}`, "error");
  }
}

ui.file.addEventListener("change", () => {
  const file = ui.file.files?.[0];
  ui.file.value = "";
  if (file) void upload(file);
});

for (const type of ["dragenter", "dragover"] as const) {
  ui.drop.addEventListener(type, (event) => {
    event.preventDefault();
    ui.drop.classList.add("dragging");
  });
}
for (const type of ["dragleave", "dragend", "drop"] as const) {
  ui.drop.addEventListener(type, () => ui.drop.classList.remove("dragging"));
}
ui.drop.addEventListener("drop", (event) => {
  event.preventDefault();
  const file = event.dataTransfer?.files[0];
  if (file) void upload(file);
});
// A file dropped anywhere else must not navigate away from the page.
window.addEventListener("dragover", (event) => event.preventDefault());
window.addEventListener("drop", (event) => event.preventDefault());

ui.reconnectNow.addEventListener("click", () => {
  client?.reconnectNow();
});

ui.userForm.addEventListener("submit", (event) => {
  event.preventDefault();
  const name = ui.user.value.trim();
  if (name !== user || !client) void signIn(name);
});

// ── start ─────────────────────────────────────────────────────────────────────────────────────

async function start(): Promise<void> {
  showStatus({ state: "offline", nextRetryAt: null });
  updateCount();
  try {
    const response = await fetch("/config.json", { cache: "no-store" });
    config = (await response.json()) as Config;
  } catch (error) {
    ui.whoami.textContent = `Could not load /config.json: ${describe(error)}`;
    return;
  }
  const initial = params.get("user") ?? localStorage.getItem("jobcast.user");
  if (initial && USER_PATTERN.test(initial)) {
    ui.user.value = initial;
    await signIn(initial);
  }
}

void start();
