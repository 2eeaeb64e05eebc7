// Shared by the e2e tests: the stack's environment, the dev server, headless Chromium, the
// page's own view of its connection, and the stack-side tools (DynamoDB query, Management API).

import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdirSync } from "node:fs";
import { createServer, connect } from "node:net";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const here = dirname(fileURLToPath(import.meta.url));
export const webDir = resolve(here, "..");
export const repoDir = resolve(webDir, "..");
export const fixtures = join(repoDir, "tests", "fixtures");
export const artifacts = resolve(process.env.JOBCAST_ARTIFACTS || join(repoDir, "test-artifacts"));

const REQUIRED = [
  "JOBCAST_HTTP_URL",
  "JOBCAST_WS_URL",
  "JOBCAST_JWT_SECRET",
  "JOBCAST_ENDPOINT",
  "JOBCAST_MANAGEMENT_ENDPOINT",
  "JOBCAST_CONNECTIONS_TABLE",
];

/** The stack's environment (`. .local/dev/stack.env`); fails fast and clearly when missing. */
export function stackEnv() {
  const missing = REQUIRED.filter((name) => !process.env[name]);
  if (missing.length > 0) {
    throw new Error(`e2e: ${missing.join(", ")} not set; run infra/up and source .local/dev/stack.env`);
  }
  return Object.fromEntries(REQUIRED.map((name) => [name, process.env[name]]));
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Polls `check` until it returns a truthy value or the deadline passes. */
export async function until(what, check, { timeout = 30_000, every = 100 } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      last = await check();
      if (last) return last;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeout} ms waiting for ${what} (last: ${String(last)})`);
    await sleep(every);
  }
}

async function portOpen(host, port) {
  return new Promise((resolvePromise) => {
    const socket = connect({ host, port });
    socket.once("connect", () => {
      socket.destroy();
      resolvePromise(true);
    });
    socket.once("error", () => resolvePromise(false));
  });
}

/** A port nothing listens on (bound, then released). */
export async function freePort() {
  const server = createServer();
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address();
  server.close();
  await once(server, "close");
  return port;
}

/**
 * The demo's dev server: JOBCAST_WEB_URL if set (already running), else serve.mjs started here
 * on 127.0.0.1:JOBCAST_WEB_PORT (default 8080, an origin the stack's CORS allows).
 */
export async function startDevServer(env) {
  if (process.env.JOBCAST_WEB_URL) {
    const url = process.env.JOBCAST_WEB_URL.replace(/\/+$/, "");
    const config = await (await fetch(`${url}/config.json`)).json();
    if (config.httpUrl !== env.JOBCAST_HTTP_URL) {
      throw new Error(`e2e: ${url} serves another stack (${config.httpUrl})`);
    }
    return { url, stop: async () => {} };
  }
  const host = "127.0.0.1";
  const port = Number(process.env.JOBCAST_WEB_PORT || 8080);
  if (await portOpen(host, port)) {
    throw new Error(
      `e2e: port ${port} is in use; stop what runs there, or set JOBCAST_WEB_URL to reuse a running dev server`,
    );
  }
  const child = spawn(process.execPath, [join(webDir, "serve.mjs")], {
    env: { ...process.env, JOBCAST_WEB_HOST: host, JOBCAST_WEB_PORT: String(port) },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout.on("data", (d) => (output += d));
  child.stderr.on("data", (d) => (output += d));
  await until("the dev server", async () => {
    if (child.exitCode !== null) throw new Error(`serve.mjs exited: ${output}`);
    return portOpen(host, port);
  }, { timeout: 10_000 });
  return {
    url: `http://${host}:${port}`,
    stop: async () => {
      if (child.exitCode === null) {
        child.kill("SIGTERM");
        await once(child, "exit");
      }
    },
  };
}

export const CHROMIUM_ARGS = [
  "--no-sandbox",
  "--headless",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
];

export async function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.JOBCAST_CHROMIUM || "/usr/bin/chromium",
    args: CHROMIUM_ARGS,
  });
}

/** A fresh dev user per test: its connections and jobs are its own. */
export function uniqueUser(tag) {
  return `e2e-${tag}-${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
}

/**
 * Opens the demo for `user` in a new context and records what the test needs: every request
 * (with its headers and the connection state when it was made), every state the indicator
 * showed, every WebSocket the page opened (`{url, openedAt, closedAt}`), and page errors.
 */
export async function openDemo(browser, server, env, { user, query = {}, viewport = { width: 1280, height: 800 } } = {}) {
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  const log = { requests: [], states: [], errors: [], sockets: [] };
  page.on("websocket", (ws) => {
    const entry = { url: ws.url(), openedAt: Date.now(), closedAt: undefined };
    log.sockets.push(entry);
    ws.on("close", () => (entry.closedAt = Date.now()));
  });
  page.on("pageerror", (error) => log.errors.push(error.message));
  page.on("console", (message) => {
    if (message.type() === "error") log.errors.push(message.text());
  });
  // The page reports each indicator change as it happens.
  await page.exposeBinding("__e2eState", (_source, state) => {
    if (log.states.at(-1) !== state) log.states.push(state);
  });
  await page.addInitScript(() => {
    const observe = () => {
      const conn = document.getElementById("conn");
      if (!conn) return;
      const label = () =>
        conn.dataset.state === "reconnecting" ? document.getElementById("conn-text").textContent : conn.dataset.state;
      new MutationObserver((records) => {
        // One callback may cover several writes (all made in one task): each write's old value
        // is what the write before it set, so replaying them reports a blip as short as that.
        const writes = records.filter((r) => r.target === conn && r.attributeName === "data-state");
        for (const write of writes.slice(1)) if (write.oldValue !== null) window.__e2eState(write.oldValue);
        window.__e2eState(label());
      }).observe(conn, {
        attributes: true,
        attributeOldValue: true,
        childList: true,
        subtree: true,
        characterData: true,
      });
    };
    document.addEventListener("DOMContentLoaded", observe);
  });
  page.on("request", (request) => {
    log.requests.push({
      method: request.method(),
      url: request.url(),
      headers: request.headers(),
      state: log.states.at(-1) ?? "offline",
      at: Date.now(),
    });
  });
  page.on("response", (response) => {
    const entry = log.requests.findLast((r) => r.url === response.url() && r.status === undefined);
    if (entry) entry.status = response.status();
  });
  const params = new URLSearchParams({ user, ...query });
  await page.goto(`${server.url}/?${params}`);
  return { context, page, log };
}

/** The `exp` (ms) of the token in a socket URL's `?token=`, or undefined. */
export function socketTokenExpiry(url) {
  const token = new URL(url).searchParams.get("token") ?? "";
  try {
    const { exp } = JSON.parse(Buffer.from(token.split(".")[1] ?? "", "base64url").toString("utf8"));
    return typeof exp === "number" ? exp * 1000 : undefined;
  } catch {
    return undefined;
  }
}

/** `GET /jobs/{id}` requests: the status polls. */
export function statusPolls(log, env, jobId) {
  const base = `${env.JOBCAST_HTTP_URL}/jobs/`;
  return log.requests.filter(
    (r) =>
      r.method === "GET" &&
      r.url.startsWith(base) &&
      /^[A-Za-z0-9_-]+$/.test(r.url.slice(base.length)) &&
      (jobId === undefined || r.url.slice(base.length) === jobId),
  );
}

export async function connState(page) {
  return page.evaluate(() => document.getElementById("conn").dataset.state);
}

export async function waitForState(page, state, timeout = 30_000) {
  await page.waitForFunction((s) => document.getElementById("conn").dataset.state === s, state, { timeout });
}

/** The job rows as the page shows them. */
export async function jobRows(page) {
  return page.evaluate(() =>
    [...document.querySelectorAll(".job")].map((row) => ({
      jobId: row.dataset.jobId,
      status: row.dataset.status,
      progress: Number(row.dataset.progress),
      stage: row.querySelector(".job-stage")?.textContent,
      error: row.querySelector(".job-error")?.textContent,
      name: row.querySelector(".job-name")?.textContent,
    })),
  );
}

/** Waits for the row of `fileName` to be terminal; returns it. */
export async function waitForJob(page, fileName, { timeout = 60_000, status } = {}) {
  return until(`${fileName} to finish`, async () => {
    const row = (await jobRows(page)).find((r) => r.name === fileName);
    if (row && (row.status === "completed" || row.status === "failed")) {
      if (status && row.status !== status) throw new Error(`${fileName} ${row.status}: ${row.error}`);
      return row;
    }
    return false;
  }, { timeout, every: 100 });
}

export async function clientStats(page) {
  return page.evaluate(() => ({ ...window.jobcast.stats }));
}

/**
 * Holds the page's next presigned PUT until `release()`: the job exists (pending) but does not
 * start. Resolves once the route is in place.
 */
export async function holdNextUpload(page) {
  let markHeld;
  let release;
  const held = new Promise((r) => (markHeld = r));
  const released = new Promise((r) => (release = r));
  let used = false;
  await page.route("**/uploads/**", async (route) => {
    if (route.request().method() !== "PUT" || used) return route.continue();
    used = true;
    markHeld();
    await released;
    await route.continue();
  });
  return { held, release };
}

// ── stack-side tools ─────────────────────────────────────────────────────────────────────────

/** The user's connection ids, from the connections table's byUser index (unsigned JSON API). */
export async function connectionsOf(env, user) {
  const response = await fetch(env.JOBCAST_ENDPOINT, {
    method: "POST",
    headers: {
      "Content-Type": "application/x-amz-json-1.0",
      "X-Amz-Target": "DynamoDB_20120810.Query",
    },
    body: JSON.stringify({
      TableName: env.JOBCAST_CONNECTIONS_TABLE,
      IndexName: "byUser",
      KeyConditionExpression: "userId = :u",
      ExpressionAttributeValues: { ":u": { S: user } },
    }),
  });
  if (!response.ok) throw new Error(`DynamoDB Query: HTTP ${response.status} ${await response.text()}`);
  const body = await response.json();
  return (body.Items ?? []).map((item) => item.connectionId.S);
}

/** Force-closes a connection through the Management API, as a server-side drop would. */
export async function deleteConnection(env, connectionId) {
  const response = await fetch(`${env.JOBCAST_MANAGEMENT_ENDPOINT}/@connections/${encodeURIComponent(connectionId)}`, {
    method: "DELETE",
  });
  if (!response.ok && response.status !== 410) {
    throw new Error(`DELETE @connections: HTTP ${response.status} ${await response.text()}`);
  }
  return response.status;
}

/** A TCP forwarder on `port` to the stack, started on demand: the "socket comes back" switch. */
export async function startForwarder(port, target) {
  const sockets = new Set();
  const server = createServer((client) => {
    const upstream = connect(target);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on("close", () => sockets.delete(s));
      s.on("error", () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream);
    upstream.pipe(client);
  });
  server.listen(port, "127.0.0.1");
  await once(server, "listening");
  return {
    close: async () => {
      for (const s of sockets) s.destroy();
      server.close();
      await once(server, "close");
    },
  };
}

export function ensureArtifacts() {
  mkdirSync(artifacts, { recursive: true });
  return artifacts;
}
