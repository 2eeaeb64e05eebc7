import assert from "node:assert/strict";
import { describe, test } from "node:test";

import {
  type ClientOptions,
  type ConnectionStatus,
  type JobView,
  type UploadRequest,
  DEFAULT_BACKOFF,
  JobcastClient,
  JobcastHttpError,
  backoffDelay,
} from "../src/client.js";
import { parseServerMessage } from "../src/protocol.js";
import { tokenLifetime } from "../src/token.js";
import { FakeClock, FakeFetch, FakeNetwork, type FakeSocket, completed, jwt, settle, snapshot } from "./fakes.js";

const MIN = 60_000;

/** A client wired to fakes, with a token that changes on every call. */
function setup(overrides: Partial<ClientOptions> = {}, clock = new FakeClock()) {
  const net = new FakeNetwork();
  const http = new FakeFetch();
  const statuses: string[] = [];
  const statusEvents: ConnectionStatus[] = [];
  let tokens = 0;
  const client = new JobcastClient({
    httpUrl: "http://api.test/",
    wsUrl: "ws://ws.test/dev",
    getToken: async () => `token-${++tokens}`,
    WebSocket: net.WebSocket,
    fetch: http.fetch,
    timers: clock,
    random: () => 0.5,
    ...overrides,
  });
  client.on("status", (s) => {
    statuses.push(label(s));
    statusEvents.push(s);
  });
  return { client, clock, net, http, statuses, statusEvents, tokenCalls: () => tokens };
}

function label(status: ConnectionStatus): string {
  return status.state === "reconnecting" ? `reconnecting ${status.attempt}/${status.maxAttempts}` : status.state;
}

/** Connects and opens the first socket. */
async function connected(overrides: Partial<ClientOptions> = {}, clock = new FakeClock()) {
  const env = setup(overrides, clock);
  env.client.connect();
  await settle();
  env.net.last.accept();
  return env;
}

/** Drops the open socket and fails every reconnect attempt until the client polls. */
async function failUntilPolling(env: ReturnType<typeof setup>): Promise<void> {
  env.net.last.drop();
  for (let attempt = 1; attempt <= DEFAULT_BACKOFF.attempts; attempt++) {
    const before = env.net.sockets.length;
    await env.clock.advance(backoffDelay(attempt, DEFAULT_BACKOFF, () => 1));
    assert.equal(env.net.sockets.length, before + 1, `attempt ${attempt} opened a socket`);
    env.net.last.drop();
  }
  await settle();
}

describe("backoff", () => {
  test("five attempts, exponential from base, capped, with jitter in [raw/2, raw]", () => {
    const options = { attempts: 5, baseMs: 500, maxMs: 6_000 };
    const raw = [500, 1_000, 2_000, 4_000, 6_000];
    raw.forEach((expected, i) => {
      assert.equal(backoffDelay(i + 1, options, () => 0), expected / 2, `attempt ${i + 1}, lowest`);
      assert.equal(backoffDelay(i + 1, options, () => 1), expected, `attempt ${i + 1}, highest`);
      for (let k = 0; k < 50; k++) {
        const delay = backoffDelay(i + 1, options, Math.random);
        assert.ok(delay >= expected / 2 && delay <= expected, `attempt ${i + 1}: ${delay}`);
      }
    });
  });

  test("a lost socket is retried 5 times on the backoff schedule, then the client polls", async () => {
    const randoms = [0, 0.25, 0.5, 0.75, 1];
    let r = 0;
    const env = await connected({ random: () => randoms[r++ % randoms.length] ?? 0 });
    env.net.last.drop();
    await settle();
    const delays: number[] = [];
    for (let attempt = 1; attempt <= 5; attempt++) {
      assert.equal(env.statuses.at(-1), `reconnecting ${attempt}/5`);
      const [delay] = env.clock.scheduled();
      assert.ok(delay !== undefined);
      delays.push(delay);
      const before = env.net.sockets.length;
      await env.clock.advance(delay - 1);
      assert.equal(env.net.sockets.length, before, "no attempt before its delay");
      await env.clock.advance(1);
      assert.equal(env.net.sockets.length, before + 1);
      env.net.last.drop();
      await settle();
    }
    // raw 500, 1000, 2000, 4000, 8000 with jitter 0, .25, .5, .75, 1 → raw/2 + raw/2·j
    assert.deepEqual(delays, [250, 625, 1_500, 3_500, 8_000]);
    assert.equal(env.statuses.at(-1), "polling");
    assert.deepEqual(env.statuses, [
      "connecting",
      "connected",
      "reconnecting 1/5",
      "reconnecting 2/5",
      "reconnecting 3/5",
      "reconnecting 4/5",
      "reconnecting 5/5",
      "polling",
    ]);
  });

  test("attempts, base and cap are configurable", async () => {
    const env = await connected({ reconnect: { attempts: 2, baseMs: 100, maxMs: 150 } });
    env.net.last.drop();
    await settle();
    assert.deepEqual(env.clock.scheduled(), [75]); // raw 100, jitter .5
    await env.clock.advance(75);
    env.net.last.drop();
    await settle();
    assert.equal(env.statuses.at(-1), "reconnecting 2/2");
    assert.deepEqual(env.clock.scheduled(), [113]); // raw min(200, 150) = 150
    await env.clock.advance(113);
    env.net.last.drop();
    await settle();
    assert.equal(env.statuses.at(-1), "polling");
  });

  test("a successful reconnect resets the attempt count", async () => {
    const env = await connected();
    env.net.last.drop();
    await env.clock.advance(10_000);
    env.net.last.drop();
    await env.clock.advance(10_000);
    env.net.last.accept();
    assert.equal(env.statuses.at(-1), "connected");
    env.net.last.drop();
    await settle();
    assert.equal(env.statuses.at(-1), "reconnecting 1/5");
  });

  test("a socket that never opens counts as a failed attempt after the connect timeout", async () => {
    const env = setup({ connectTimeoutMs: 2_000 });
    env.client.connect();
    await settle();
    const first = env.net.last;
    await env.clock.advance(2_000);
    assert.ok(first.closedByClient, "the hanging socket was closed");
    assert.equal(env.statuses.at(-1), "reconnecting 1/5");
  });
});

describe("seq rule", () => {
  test("stale and duplicate updates are dropped; the bar never moves backwards", async () => {
    const { client, net } = await connected();
    const seen: number[] = [];
    client.subscribe("j1", (job) => seen.push(job.progress));
    await settle();
    const ws = net.last;
    assert.deepEqual(ws.actions("subscribe_job"), [{ action: "subscribe_job", jobId: "j1" }]);
    ws.push({ type: "subscribed", jobId: "j1", job: snapshot("j1", 3, 15) });
    ws.push({ type: "job_update", ...snapshot("j1", 5, 45) });
    ws.push({ type: "job_update", ...snapshot("j1", 4, 30) }); // out of order: older
    ws.push({ type: "job_update", ...snapshot("j1", 5, 45) }); // duplicate
    ws.push({ type: "job_update", ...snapshot("j1", 6, 60) });
    ws.push(completed("j1", 8, { resultUrl: "s3://r" }));
    ws.push({ type: "job_update", ...snapshot("j1", 7, 75) }); // older than the completion
    ws.push({ type: "subscribed", jobId: "j1", job: snapshot("j1", 8, 75) }); // same seq
    assert.deepEqual(seen, [15, 45, 60, 100]);
    const job = client.job("j1");
    assert.equal(job?.terminal, true);
    assert.equal(job?.status, "completed");
    assert.equal(job?.message, "Completed");
    assert.equal(job?.resultUrl, "s3://r");
    assert.equal(client.stats.staleDropped, 4);
  });

  test("a progress lower than the last shown is not shown even with a newer seq", async () => {
    const { client, net } = await connected();
    const seen: number[] = [];
    client.subscribe("j1", (job) => seen.push(job.progress));
    net.last.push({ type: "job_update", ...snapshot("j1", 2, 45) });
    net.last.push({ type: "job_update", ...snapshot("j1", 3, 30) });
    assert.deepEqual(seen, [45, 45]);
  });

  test("job_completed with failure is terminal at 100 with its reason", async () => {
    const { client, net } = await connected();
    let last: JobView | undefined;
    client.subscribe("j2", (job) => (last = job));
    net.last.push({ type: "subscribed", jobId: "j2", job: snapshot("j2", 1, 5) });
    net.last.push(completed("j2", 2, { error: "encrypted PDF" }));
    net.last.push({ type: "job_update", ...snapshot("j2", 9, 20) }); // nothing moves a terminal job
    assert.equal(last?.progress, 100);
    assert.equal(last?.status, "failed");
    assert.equal(last?.error, "encrypted PDF");
    assert.equal(last?.message, "Failed: encrypted PDF");
    assert.equal(last?.fileName, "j2.pdf");
  });

  test("a finished job's subscription is given back on the server, and its listeners keep the final state", async () => {
    const { client, net } = await connected();
    let last: JobView | undefined;
    client.subscribe("jf", (job) => (last = job));
    net.last.push({ type: "subscribed", jobId: "jf", job: snapshot("jf", 1, 45) });
    assert.deepEqual(net.last.actions("unsubscribe_job"), [], "a running job keeps its slot");
    net.last.push(completed("jf", 2));
    assert.deepEqual(net.last.actions("unsubscribe_job"), [{ action: "unsubscribe_job", jobId: "jf" }]);
    assert.equal(last?.terminal, true);
    assert.deepEqual(client.watchedJobs(), ["jf"], "the app still watches it locally");
    client.unsubscribe("jf");
    assert.equal(net.last.actions("unsubscribe_job").length, 1, "nothing is sent twice for a finished job");
  });

  test("the terminal wording is the server's final snapshot, not rebuilt by the client", async () => {
    const { client, net } = await connected();
    const seen: string[] = [];
    client.subscribe("j3", (job) => seen.push(job.message));
    net.last.push({ type: "subscribed", jobId: "j3", job: snapshot("j3", 1, 45, { message: "Processed 2/4 chunks" }) });
    net.last.push(completed("j3", 2, { error: "encrypted", message: "Failed: the PDF is password-protected" }));
    assert.deepEqual(seen, ["Processed 2/4 chunks", "Failed: the PDF is password-protected"]);
    const job = client.job("j3");
    assert.equal(job?.error, "encrypted");
    assert.equal(job?.chunksDone, 1, "the counters come from the final snapshot");
    assert.equal(job?.updatedAt, "2026-01-01T00:05:00.000Z");
    assert.equal(client.stats.pushesApplied, 1);
  });

  test("a job_completed without `job` (an older server) still ends the job", async () => {
    const { client, net } = await connected();
    let last: JobView | undefined;
    client.subscribe("old", (job) => (last = job));
    net.last.push({ type: "subscribed", jobId: "old", job: snapshot("old", 1, 45) });
    net.last.push({ type: "job_completed", jobId: "old", status: "failed", error: "encrypted PDF", seq: 2 });
    assert.equal(last?.terminal, true);
    assert.equal(last?.progress, 100);
    assert.equal(last?.message, "Failed: encrypted PDF");
    assert.equal(last?.fileName, "old.pdf");
  });

  test("job_completed parses with or without `job`, but not with a broken or foreign one", () => {
    const frame = (extra: Record<string, unknown>) =>
      JSON.stringify({ type: "job_completed", jobId: "j", status: "completed", seq: 3, ...extra });
    const final = completed("j", 3).job;
    assert.deepEqual(parseServerMessage(frame({ job: final })), { type: "job_completed", jobId: "j", status: "completed", seq: 3, job: final });
    assert.deepEqual(parseServerMessage(frame({})), { type: "job_completed", jobId: "j", status: "completed", seq: 3 });
    assert.equal(parseServerMessage(frame({ job: { jobId: "j", seq: 3 } })), undefined);
    assert.equal(parseServerMessage(frame({ job: null })), undefined);
    assert.equal(parseServerMessage(frame({ job: completed("other", 3).job })), undefined);
  });

  test("malformed frames and unknown types are ignored", () => {
    assert.equal(parseServerMessage("{"), undefined);
    assert.equal(parseServerMessage('{"type":"nope"}'), undefined);
    assert.equal(parseServerMessage('{"type":"job_update","jobId":"x"}'), undefined);
    assert.deepEqual(parseServerMessage('{"type":"pong"}'), { type: "pong" });
  });
});

describe("reconnect", () => {
  test("every watched job is subscribed again on reconnect; the snapshot fills the gap", async () => {
    const env = await connected();
    const { client, net, clock } = env;
    const seen: Array<[string, number]> = [];
    client.subscribe("a", (job) => seen.push(["a", job.progress]));
    client.subscribe("b", (job) => seen.push(["b", job.progress]));
    client.subscribe("done", () => {});
    const first = net.last;
    first.push({ type: "subscribed", jobId: "a", job: snapshot("a", 1, 5) });
    first.push({ type: "subscribed", jobId: "b", job: snapshot("b", 1, 5) });
    first.push({ type: "subscribed", jobId: "done", job: snapshot("done", 9, 100) });
    first.drop();
    await clock.advance(10_000);
    const second = net.last;
    assert.notEqual(second, first);
    second.accept();
    // Terminal jobs are not subscribed again.
    assert.deepEqual(
      second.actions("subscribe_job").map((m) => m.jobId),
      ["a", "b"],
    );
    // While disconnected "a" went from 5 % to 45 %: the subscribed snapshot carries it.
    second.push({ type: "subscribed", jobId: "a", job: snapshot("a", 6, 45) });
    second.push({ type: "subscribed", jobId: "b", job: snapshot("b", 1, 5) }); // unchanged: dropped
    assert.deepEqual(seen, [
      ["a", 5],
      ["b", 5],
      ["a", 45],
    ]);
    assert.equal(env.statuses.at(-1), "connected");
  });

  test("the token is fetched again for every (re)connect", async () => {
    const env = await connected();
    assert.equal(env.net.last.token, "token-1");
    env.net.last.drop();
    await env.clock.advance(10_000);
    assert.equal(env.net.last.token, "token-2");
    env.net.last.drop();
    await env.clock.advance(10_000);
    assert.equal(env.net.last.token, "token-3");
    assert.equal(env.net.last.url, "ws://ws.test/dev?token=token-3");
  });

  test("a failing getToken counts as a failed attempt", async () => {
    let calls = 0;
    const env = setup({
      getToken: async () => {
        calls++;
        if (calls === 1) throw new Error("token service down");
        return "fresh";
      },
    });
    env.client.connect();
    await settle();
    assert.equal(env.net.sockets.length, 0);
    assert.equal(env.statuses.at(-1), "reconnecting 1/5");
    await env.clock.advance(10_000);
    env.net.last.accept();
    assert.equal(env.net.last.token, "fresh");
    assert.equal(env.statuses.at(-1), "connected");
  });

  test("close() stops everything and reports offline", async () => {
    const env = await connected();
    env.client.close();
    await env.clock.advance(60 * MIN);
    assert.equal(env.net.sockets.length, 1);
    assert.equal(env.statuses.at(-1), "offline");
    assert.deepEqual(env.clock.scheduled(), []);
  });
});

describe("polling fallback", () => {
  test("after the 5th failure the client polls with If-None-Match, and stops once the socket is back", async () => {
    const env = await connected({ pollIntervalMs: 3_000, backgroundRetryMs: 30_000 });
    const { client, net, clock, http } = env;
    net.autoPong = true;
    const seen: number[] = [];
    client.subscribe("j", (job) => seen.push(job.progress));
    net.last.push({ type: "subscribed", jobId: "j", job: snapshot("j", 4, 15) });
    let server = snapshot("j", 4, 15);
    http.handler = (req) => {
      const etag = `"${server.seq}"`;
      if (req.headers["If-None-Match"] === etag) return { status: 304, headers: { ETag: etag } };
      return { status: 200, body: server, headers: { ETag: etag } };
    };
    assert.equal(http.requests.length, 0, "no HTTP while the socket is healthy");

    await failUntilPolling(env);
    assert.equal(env.statuses.at(-1), "polling");
    const polls = http.statusPolls();
    assert.equal(polls.length, 1, "polled at once");
    assert.equal(polls[0]?.url, "http://api.test/jobs/j");
    assert.equal(polls[0]?.headers["If-None-Match"], '"4"');
    assert.match(polls[0]?.headers.Authorization ?? "", /^Bearer token-\d+$/);
    assert.equal(client.stats.notModified, 1);

    server = snapshot("j", 7, 45);
    await clock.advance(3_000);
    assert.equal(http.statusPolls().length, 2);
    assert.deepEqual(seen, [15, 45]);
    await clock.advance(3_000);
    assert.equal(http.statusPolls()[2]?.headers["If-None-Match"], '"7"');
    assert.equal(client.stats.notModified, 2);

    // The background retry of the socket, ~30 s after polling began (jitter 0.5 → 30 s).
    const sockets = net.sockets.length;
    await clock.advance(30_000 - 6_000 - 1);
    assert.equal(net.sockets.length, sockets);
    await clock.advance(1);
    assert.equal(net.sockets.length, sockets + 1);
    net.last.drop(); // still down: keep polling, retry later
    await settle();
    assert.equal(env.statuses.at(-1), "polling");
    await clock.advance(30_000);
    assert.equal(net.sockets.length, sockets + 2);
    net.last.accept();
    assert.equal(env.statuses.at(-1), "connected");
    assert.deepEqual(net.last.actions("subscribe_job"), [{ action: "subscribe_job", jobId: "j" }]);
    const pollsAtRecovery = http.statusPolls().length;
    await clock.advance(10 * MIN);
    assert.equal(http.statusPolls().length, pollsAtRecovery, "polling stopped once the socket was back");
  });

  test("polling finishes a job and stops polling it", async () => {
    const env = await connected({ pollIntervalMs: 1_000, backgroundRetryMs: 600_000 });
    const { client, clock, http } = env;
    let last: JobView | undefined;
    client.subscribe("j", (job) => (last = job));
    let n = 0;
    http.handler = () => {
      n++;
      const snap = n < 3 ? snapshot("j", n, 15 * n) : snapshot("j", 9, 100, { status: "completed", stage: "completed" });
      return { status: 200, body: snap, headers: { ETag: `"${snap.seq}"` } };
    };
    await failUntilPolling(env);
    await clock.advance(5_000);
    assert.equal(last?.progress, 100);
    assert.equal(last?.terminal, true);
    assert.equal(http.statusPolls().length, 3);
  });

  test("polls that fail at the network level show offline, and polling again once they work", async () => {
    const env = await connected({ pollIntervalMs: 1_000, backgroundRetryMs: 600_000 });
    env.client.subscribe("j", () => {});
    let down = true;
    env.http.handler = () => {
      if (down) throw new TypeError("Failed to fetch");
      return { status: 304 };
    };
    await failUntilPolling(env);
    assert.equal(env.statuses.at(-1), "offline");
    down = false;
    await env.clock.advance(1_000);
    assert.equal(env.statuses.at(-1), "polling");
  });

  test("subscribing while polling polls the new job at once", async () => {
    const env = await connected({ backgroundRetryMs: 600_000 });
    env.http.handler = () => ({ status: 200, body: snapshot("k", 2, 30) });
    await failUntilPolling(env);
    let progress = -1;
    env.client.subscribe("k", (job) => (progress = job.progress));
    await settle();
    assert.equal(progress, 30);
  });

  test("a 404 while polling is reported for that job", async () => {
    const env = await connected({ backgroundRetryMs: 600_000 });
    const errors: string[] = [];
    env.client.on("jobError", (e) => errors.push(`${e.jobId}:${e.code}`));
    env.client.subscribe("gone", () => {});
    env.http.handler = () => ({ status: 404, body: { error: { code: "not_found", message: "no such job" } } });
    await failUntilPolling(env);
    assert.deepEqual(errors, ["gone:not_found"]);
  });
});

describe("keepalive and connection lifetime", () => {
  test("a ping every 5 minutes; no HTTP at all while the socket is healthy", async () => {
    const env = await connected();
    env.client.subscribe("j", () => {});
    const ws = env.net.last;
    await env.clock.advance(5 * MIN - 1);
    assert.equal(ws.actions("ping").length, 0);
    await env.clock.advance(1);
    assert.equal(ws.actions("ping").length, 1);
    ws.push({ type: "pong" });
    for (let i = 0; i < 4; i++) {
      await env.clock.advance(5 * MIN);
      ws.push({ type: "pong" });
    }
    assert.equal(ws.actions("ping").length, 5);
    assert.equal(env.client.stats.pongsReceived, 5);
    assert.equal(env.http.requests.length, 0);
    assert.equal(env.net.sockets.length, 1);
    assert.deepEqual(env.statuses, ["connecting", "connected"]);
  });

  test("the ping interval is configurable, and a missing pong means a dead socket", async () => {
    const env = await connected({ pingIntervalMs: 1_000, pongTimeoutMs: 500 });
    const ws = env.net.last;
    await env.clock.advance(1_000);
    assert.equal(ws.actions("ping").length, 1);
    await env.clock.advance(500);
    assert.ok(ws.closedByClient, "the silent socket was closed");
    assert.equal(env.statuses.at(-1), "reconnecting 1/5");
  });

  test("a planned make-before-break reconnect at 110 minutes", async () => {
    const env = await connected();
    const { client, net, clock } = env;
    net.autoPong = true;
    net.last.autoPong = true;
    client.subscribe("j", () => {});
    const old = net.last;
    old.push({ type: "subscribed", jobId: "j", job: snapshot("j", 1, 5) });
    await clock.advance(110 * MIN - 1);
    assert.equal(net.sockets.length, 1);
    await clock.advance(1);
    assert.equal(net.sockets.length, 2, "a replacement is opened first");
    const replacement = net.last;
    assert.equal(replacement.token, "token-2", "with a fresh token");
    assert.equal(old.closedByClient, undefined, "the old socket still serves meanwhile");
    old.push({ type: "job_update", ...snapshot("j", 2, 15) });
    assert.equal(client.job("j")?.progress, 15);
    replacement.accept();
    assert.deepEqual(old.closedByClient, { code: 1000, reason: "planned reconnect" });
    assert.deepEqual(replacement.actions("subscribe_job"), [{ action: "subscribe_job", jobId: "j" }]);
    replacement.push({ type: "subscribed", jobId: "j", job: snapshot("j", 3, 30) });
    assert.equal(client.job("j")?.progress, 30);
    await settle();
    assert.deepEqual(env.statuses, ["connecting", "connected"], "no reconnecting blip");
    // The new socket gets its own lifetime and keepalive.
    await clock.advance(5 * MIN);
    assert.equal(replacement.actions("ping").length, 1);
  });
});

describe("HTTP calls", () => {
  test("createJob posts the file's name and size, watches the job, then uploads with the given headers", async () => {
    const uploads: UploadRequest[] = [];
    const env = await connected({
      uploader: async (request) => {
        uploads.push(request);
        assert.deepEqual(env.net.last.actions("subscribe_job"), [{ action: "subscribe_job", jobId: "new1" }]);
        request.onProgress?.(512, 1024);
        request.onProgress?.(1024, 1024);
        return { status: 200 };
      },
    });
    env.http.handler = (req) => {
      assert.equal(req.method, "POST");
      assert.equal(req.url, "http://api.test/jobs");
      assert.deepEqual(req.body, { fileName: "doc.pdf", sizeBytes: 1024 });
      assert.equal(req.headers["Content-Type"], "application/json");
      return {
        status: 201,
        body: {
          jobId: "new1",
          uploadUrl: "http://s3.test/up?sig",
          uploadMethod: "PUT",
          uploadHeaders: { "Content-Type": "application/pdf" },
          expiresInSeconds: 900,
          job: snapshot("new1", 0, 0, { status: "pending", stage: "queued" }),
        },
      };
    };
    const progress: number[] = [];
    const views: number[] = [];
    const created = await env.client.createJob(
      { name: "doc.pdf", size: 1024 },
      { onUploadProgress: (loaded, total) => progress.push(loaded / total), onUpdate: (j) => views.push(j.seq) },
    );
    assert.equal(created.jobId, "new1");
    assert.deepEqual(progress, [0.5, 1]);
    assert.equal(uploads[0]?.url, "http://s3.test/up?sig");
    assert.equal(uploads[0]?.method, "PUT");
    assert.deepEqual(uploads[0]?.headers, { "Content-Type": "application/pdf" });
    assert.deepEqual(views, [0]);
  });

  test("a refused upload and HTTP errors reject with their code", async () => {
    const env = setup({ uploader: async () => ({ status: 403 }) });
    env.http.handler = (req) =>
      req.url.endsWith("/result")
        ? { status: 409, body: { error: { code: "not_ready", message: "job has not completed" } } }
        : {
            status: 201,
            body: { jobId: "x", uploadUrl: "u", uploadMethod: "PUT", uploadHeaders: {}, expiresInSeconds: 1, job: snapshot("x", 0, 0) },
          };
    await assert.rejects(env.client.createJob({ name: "a.pdf", size: 1 }), (e: unknown) => {
      assert.ok(e instanceof JobcastHttpError);
      assert.equal(e.status, 403);
      return true;
    });
    await assert.rejects(env.client.getResult("x"), (e: unknown) => {
      assert.ok(e instanceof JobcastHttpError);
      assert.equal(e.code, "not_ready");
      return true;
    });
  });

  test("listJobs passes limit and cursor and feeds the store", async () => {
    const env = setup();
    env.http.handler = () => ({ status: 200, body: { jobs: [snapshot("a", 3, 45)], nextCursor: null } });
    const list = await env.client.listJobs({ limit: 10, cursor: "abc" });
    assert.equal(env.http.requests[0]?.url, "http://api.test/jobs?limit=10&cursor=abc");
    assert.equal(list.jobs.length, 1);
    assert.equal(env.client.job("a")?.progress, 45);
  });

  test("job_list_update and job errors are surfaced as events", async () => {
    const { client, net } = await connected();
    const events: string[] = [];
    client.on("jobListUpdate", (e) => events.push(`list ${e.jobId} ${e.status}`));
    client.on("jobError", (e) => events.push(`error ${e.jobId} ${e.code}`));
    net.last.push({ type: "job_list_update", jobId: "n", status: "pending" });
    net.last.push({ type: "error", code: "not_found", message: "no such job", jobId: "zz" });
    assert.deepEqual(events, ["list n pending", "error zz not_found"]);
  });
});

describe("what the client tells the server's metrics", () => {
  const TRANSPORT = "X-Jobcast-Transport";
  const links = { jobId: "j", resultUrl: "http://s3.test/r.json", textUrl: "http://s3.test/r.txt", expiresInSeconds: 60 };

  test("fallback polls say X-Jobcast-Transport: polling; HTTP calls the caller makes never do", async () => {
    const env = await connected({ pollIntervalMs: 3_000, backgroundRetryMs: 30_000 });
    const { client, net, clock, http } = env;
    http.handler = (req) => {
      if (req.url.endsWith("/result")) return { status: 200, body: links };
      if (req.url.endsWith("/jobs")) return { status: 200, body: { jobs: [], nextCursor: null } };
      const jobId = req.url.slice(req.url.lastIndexOf("/") + 1);
      return { status: 200, body: snapshot(jobId, 2, 30) };
    };
    client.subscribe("j", () => {});
    const callerRequests = async () => {
      const from = http.requests.length;
      await client.getJob("j");
      await client.listJobs();
      await client.getResult("j");
      return http.requests.slice(from);
    };

    const whileConnected = await callerRequests();
    assert.equal(whileConnected.length, 3);
    for (const request of whileConnected) assert.equal(request.headers[TRANSPORT], undefined, request.url);

    await failUntilPolling(env);
    const fromFallback = http.requests.length;
    await clock.advance(3_000);
    client.subscribe("k", () => {}); // polled at once, like the rounds
    await settle();
    const polls = http.requests.slice(fromFallback);
    assert.deepEqual(
      polls.map((r) => r.url),
      ["http://api.test/jobs/j", "http://api.test/jobs/k"],
    );
    for (const poll of polls) assert.equal(poll.headers[TRANSPORT], "polling", poll.url);
    assert.equal(http.statusPolls()[whileConnected.length]?.headers[TRANSPORT], "polling", "the first poll too");

    // The caller's own status fetch is not a fallback poll, even while the client polls.
    const explicit = await callerRequests();
    for (const request of explicit) assert.equal(request.headers[TRANSPORT], undefined, request.url);

    await clock.advance(30_000); // the background retry
    net.last.accept();
    assert.equal(env.statuses.at(-1), "connected");
    const afterRecovery = await callerRequests();
    for (const request of afterRecovery) assert.equal(request.headers[TRANSPORT], undefined, request.url);
  });

  test("the first ping after a reconnect reports its attempts (2: lost, one failed, then open); the next does not", async () => {
    const env = await connected({ pingIntervalMs: MIN });
    const { client, net, clock } = env;
    net.autoPong = true;
    net.last.autoPong = true;
    client.subscribe("j", () => {});
    await clock.advance(MIN);
    assert.deepEqual(net.last.actions("ping"), [{ action: "ping" }], "the first connect reports nothing");

    net.last.drop(); // lost: reconnecting 1/5
    await clock.advance(10_000);
    net.last.drop(); // attempt 1 fails: reconnecting 2/5
    await clock.advance(10_000);
    assert.equal(env.statuses.at(-1), "reconnecting 2/5");
    const back = net.last;
    back.accept(); // attempt 2 opens
    assert.deepEqual(back.actions("ping"), [{ action: "ping", reconnects: 2 }], "sent as soon as the socket opened");
    assert.deepEqual(back.actions("subscribe_job"), [{ action: "subscribe_job", jobId: "j" }]);
    await clock.advance(MIN);
    assert.deepEqual(back.actions("ping"), [{ action: "ping", reconnects: 2 }, { action: "ping" }]);

    // The count starts again for the next episode.
    back.drop();
    await clock.advance(10_000);
    net.last.accept();
    assert.deepEqual(net.last.actions("ping"), [{ action: "ping", reconnects: 1 }]);
  });

  test("a first connect that opens at once and a planned rollover report no reconnects", async () => {
    const env = await connected();
    const { client, net, clock } = env;
    net.autoPong = true;
    net.last.autoPong = true;
    client.subscribe("j", () => {});
    await clock.advance(110 * MIN);
    assert.equal(net.sockets.length, 2, "the planned replacement");
    net.last.accept();
    await clock.advance(10 * MIN);
    assert.equal(client.stats.plannedReconnects, 1);
    for (const [i, socket] of net.sockets.entries()) {
      const pings = socket.actions("ping");
      assert.ok(pings.length > 0, `socket ${i} pinged`);
      for (const ping of pings) assert.deepEqual(ping, { action: "ping" }, `socket ${i}`);
    }
  });

  test("after the fallback the socket that opens reports every attempt, background retries included", async () => {
    const env = await connected({ backgroundRetryMs: 30_000 });
    const { net, clock } = env;
    await failUntilPolling(env); // 5 attempts
    await clock.advance(30_000);
    net.last.drop(); // background retry 1
    await clock.advance(30_000);
    net.last.accept(); // background retry 2
    assert.equal(env.statuses.at(-1), "connected");
    assert.deepEqual(net.last.actions("ping"), [{ action: "ping", reconnects: 7 }]);
  });

  test("a first connect that needed retries reports them; a connect() after close() starts from none", async () => {
    const env = setup();
    const { client, net, clock } = env;
    client.connect();
    await settle();
    net.last.drop(); // refused: reconnecting 1/5
    await clock.advance(10_000);
    net.last.accept();
    assert.deepEqual(net.last.actions("ping"), [{ action: "ping", reconnects: 1 }]);

    net.last.drop();
    await settle();
    client.close(); // a reconnect was pending: it is forgotten
    client.connect();
    await settle();
    net.last.accept();
    await clock.advance(5 * MIN);
    assert.deepEqual(net.last.actions("ping"), [{ action: "ping" }]);
  });
});

describe("background retry and reconnectNow", () => {
  test("after the 5 attempts the socket is retried every 30 s while polling, and the status says when", async () => {
    const env = await connected();
    const { client, net, clock } = env;
    await failUntilPolling(env);
    const fellBackAt = clock.now();
    for (let round = 1; round <= 3; round++) {
      assert.deepEqual(client.status, { state: "polling", nextRetryAt: clock.now() + 30_000 }, `round ${round}`);
      const sockets = net.sockets.length;
      await clock.advance(30_000 - 1);
      assert.equal(net.sockets.length, sockets, `round ${round}: no try before its time`);
      await clock.advance(1);
      assert.equal(net.sockets.length, sockets + 1, `round ${round}: the background try`);
      assert.deepEqual(client.status, { state: "polling", nextRetryAt: null }, "a try under way: none planned");
      net.last.drop();
      await settle();
    }
    // Each change of the next try's time was a status event, so an indicator can show it.
    assert.deepEqual(
      env.statusEvents.filter((s) => s.state === "polling").map((s) => (s.state === "polling" ? s.nextRetryAt : "?")),
      [fellBackAt + 30_000, null, fellBackAt + 60_000, null, fellBackAt + 90_000, null, fellBackAt + 120_000],
    );
  });

  test("background retries are jittered within ±25 % of backgroundRetryMs", async () => {
    for (const [random, expected] of [
      [0, 7_500],
      [1, 12_500],
    ] as const) {
      const env = await connected({ backgroundRetryMs: 10_000, random: () => random });
      await failUntilPolling(env);
      assert.deepEqual(env.client.status, { state: "polling", nextRetryAt: env.clock.now() + expected }, `random ${random}`);
    }
  });

  test("while the polls fail too (offline) the status still says when the socket is tried next", async () => {
    const env = await connected({ pollIntervalMs: 3_000 });
    const { client, net, clock, http } = env;
    client.subscribe("j", () => {});
    http.handler = () => {
      throw new TypeError("Failed to fetch");
    };
    await failUntilPolling(env);
    assert.deepEqual(client.status, { state: "offline", nextRetryAt: clock.now() + 30_000 });
    await clock.advance(30_000);
    assert.deepEqual(client.status, { state: "offline", nextRetryAt: null });
    net.last.drop();
    await settle();
    assert.deepEqual(client.status, { state: "offline", nextRetryAt: clock.now() + 30_000 });
    const sockets = net.sockets.length;
    assert.equal(client.reconnectNow(), true, "reconnectNow works offline too");
    await settle();
    assert.equal(net.sockets.length, sockets + 1);
  });

  test("reconnectNow while polling tries at once; if that fails the next try is a full interval after it", async () => {
    const env = await connected({ pollIntervalMs: 3_000 });
    const { client, net, clock, http } = env;
    client.subscribe("j", () => {});
    net.last.push({ type: "subscribed", jobId: "j", job: snapshot("j", 4, 15) });
    http.handler = () => ({ status: 304, headers: { ETag: '"4"' } });
    await failUntilPolling(env);
    await clock.advance(10_000);
    const sockets = net.sockets.length;
    assert.equal(client.reconnectNow(), true);
    await settle();
    assert.equal(net.sockets.length, sockets + 1, "a socket at once, 20 s before the background try");
    assert.deepEqual(client.status, { state: "polling", nextRetryAt: null });
    assert.equal(client.reconnectNow(), false, "a try is already under way");
    await settle();
    assert.equal(net.sockets.length, sockets + 1);

    net.last.drop();
    await settle();
    assert.deepEqual(client.status, { state: "polling", nextRetryAt: clock.now() + 30_000 }, "counted from the manual try");
    const polls = http.statusPolls().length;
    await clock.advance(20_000); // when the try planned before the click was due
    assert.equal(net.sockets.length, sockets + 1, "the earlier schedule is gone");
    assert.ok(http.statusPolls().length > polls, "polling went on meanwhile");
    await clock.advance(10_000);
    assert.equal(net.sockets.length, sockets + 2, "30 s after the manual try");
  });

  test("a reconnectNow that opens the socket resubscribes every job, stops polling and reports the episode's attempts", async () => {
    const env = await connected({ pollIntervalMs: 3_000 });
    const { client, net, clock, http } = env;
    client.subscribe("j", () => {});
    client.subscribe("k", () => {});
    net.last.push({ type: "subscribed", jobId: "j", job: snapshot("j", 4, 15) });
    net.last.push({ type: "subscribed", jobId: "k", job: snapshot("k", 2, 5) });
    http.handler = () => ({ status: 304 });
    await failUntilPolling(env);
    await clock.advance(10_000);
    assert.equal(client.reconnectNow(), true);
    await settle();
    const back = net.last;
    back.autoPong = true;
    back.accept();
    assert.deepEqual(client.status, { state: "connected" });
    assert.deepEqual(
      back.actions("subscribe_job").map((m) => m.jobId),
      ["j", "k"],
    );
    assert.deepEqual(back.actions("ping"), [{ action: "ping", reconnects: 6 }], "the 5 attempts and the manual one");
    const polls = http.statusPolls().length;
    const sockets = net.sockets.length;
    await clock.advance(30 * MIN);
    assert.equal(http.statusPolls().length, polls, "polling stopped");
    assert.equal(net.sockets.length, sockets, "no background retries once connected");
  });

  test("reconnectNow while reconnecting tries at once and starts the backoff again at attempt 1", async () => {
    const env = await connected();
    const { client, net, clock } = env;
    net.last.drop();
    await settle();
    for (let attempt = 1; attempt <= 2; attempt++) {
      await clock.advance(backoffDelay(attempt, DEFAULT_BACKOFF, () => 1));
      net.last.drop();
      await settle();
    }
    assert.equal(env.statuses.at(-1), "reconnecting 3/5");
    const sockets = net.sockets.length;
    assert.equal(client.reconnectNow(), true);
    await settle();
    assert.equal(net.sockets.length, sockets + 1, "at once");
    net.last.drop();
    await settle();
    assert.equal(env.statuses.at(-1), "reconnecting 1/5");
    assert.deepEqual(clock.scheduled(), [backoffDelay(1, DEFAULT_BACKOFF, () => 0.5)], "the first attempt's delay again");
  });

  test("reconnectNow does nothing before connect, while connecting, while connected or after close; a healthy socket is never retried", async () => {
    const env = setup();
    const { client, net, clock } = env;
    assert.equal(client.reconnectNow(), false, "never connected");
    assert.equal(net.sockets.length, 0);
    client.connect();
    await settle();
    assert.equal(client.reconnectNow(), false, "connecting");
    await settle();
    assert.equal(net.sockets.length, 1);
    net.autoPong = true;
    net.last.autoPong = true;
    net.last.accept();
    assert.equal(client.reconnectNow(), false, "connected");
    await clock.advance(100 * MIN);
    assert.equal(net.sockets.length, 1, "no retries while connected");
    assert.deepEqual(client.status, { state: "connected" });
    assert.deepEqual(env.statuses, ["connecting", "connected"]);
    client.close();
    assert.equal(client.reconnectNow(), false, "closed");
    await clock.advance(60 * MIN);
    assert.equal(net.sockets.length, 1);
    assert.deepEqual(client.status, { state: "offline", nextRetryAt: null });
  });
});

/** The fake clock starts at a real epoch: the client compares token times with it. */
const T0 = 1_700_000_000_000;

/** Mints a distinct JWT on every call, valid `ttlSeconds` from the fake clock's now. */
function jwtSource(clock: FakeClock, ttlSeconds: number): () => Promise<string> {
  let minted = 0;
  return async () => {
    const now = Math.floor(clock.now() / 1000);
    return jwt({ sub: "alice", iat: now, exp: now + ttlSeconds, n: ++minted });
  };
}

/** Connected with JWTs of `ttlSeconds`; every socket answers pings. */
async function connectedWithTokens(ttlSeconds: number, overrides: Partial<ClientOptions> = {}) {
  const clock = new FakeClock(T0);
  const env = await connected({ getToken: jwtSource(clock, ttlSeconds), ...overrides }, clock);
  env.net.autoPong = true;
  env.net.last.autoPong = true;
  return env;
}

/** The expiry (ms) of the token a socket was opened with. */
function expiry(socket: FakeSocket): number | undefined {
  return tokenLifetime(socket.token ?? "")?.expiresAt;
}

describe("token renewal", () => {
  test("before its token expires the socket is replaced (new socket, jobs resubscribed, old one closed), connected throughout and without polls", async () => {
    const env = await connectedWithTokens(15, { pingIntervalMs: 4_000 });
    const { client, net, clock, http } = env;
    const seen: number[] = [];
    client.subscribe("a", (job) => seen.push(job.progress));
    client.subscribe("done", () => {});
    const old = net.last;
    old.push({ type: "subscribed", jobId: "a", job: snapshot("a", 1, 5) });
    old.push({ type: "subscribed", jobId: "done", job: snapshot("done", 9, 100) });
    assert.equal(expiry(old), T0 + 15_000);

    await clock.advance(10_000 - 1);
    assert.equal(net.sockets.length, 1);
    await clock.advance(1); // 5 s before exp
    assert.equal(net.sockets.length, 2, "the replacement is opened first");
    const renewed = net.last;
    assert.equal(expiry(renewed), T0 + 25_000, "with a fresh token");
    assert.equal(old.closedByClient, undefined, "the old socket still serves meanwhile");
    old.push({ type: "job_update", ...snapshot("a", 2, 15) });
    renewed.accept();
    assert.deepEqual(old.closedByClient, { code: 1000, reason: "token renewal" });
    assert.deepEqual(renewed.actions("subscribe_job"), [{ action: "subscribe_job", jobId: "a" }], "terminal jobs are not");
    renewed.push({ type: "subscribed", jobId: "a", job: snapshot("a", 2, 15) }); // already seen: dropped
    renewed.push({ type: "job_update", ...snapshot("a", 3, 30) });
    assert.deepEqual(seen, [5, 15, 30]);
    await clock.advance(4_000);
    assert.deepEqual(renewed.actions("ping"), [{ action: "ping" }], "a renewal is not a reconnect");
    assert.equal(client.stats.tokenRenewals, 1);
    assert.equal(client.stats.plannedReconnects, 0);

    // The fresh token (minted at +10 s) is renewed in turn, at +20 s.
    await clock.advance(6_000 - 1);
    assert.equal(net.sockets.length, 2);
    await clock.advance(1);
    assert.equal(net.sockets.length, 3);
    assert.equal(expiry(net.last), T0 + 35_000);
    net.last.accept();
    assert.deepEqual(renewed.closedByClient, { code: 1000, reason: "token renewal" });
    assert.deepEqual(net.last.actions("subscribe_job"), [{ action: "subscribe_job", jobId: "a" }]);
    assert.deepEqual(env.statuses, ["connecting", "connected"], "never left connected");
    assert.equal(http.requests.length, 0, "no polls, no HTTP at all");
  });

  test("the renewal comes 10 % of the lifetime before expiry (5 s to 60 s); a token outliving the connection limit waits for the 110-minute swap", async () => {
    const cases = [
      { ttl: 15, at: 10_000, counted: "tokenRenewals" },
      { ttl: 600, at: 9 * MIN, counted: "tokenRenewals" },
      { ttl: 3_600, at: 59 * MIN, counted: "tokenRenewals" },
      { ttl: 3 * 3_600, at: 110 * MIN, counted: "plannedReconnects" },
    ] as const;
    for (const { ttl, at, counted } of cases) {
      const env = await connectedWithTokens(ttl);
      await env.clock.advance(at - 1);
      assert.equal(env.net.sockets.length, 1, `${ttl} s token: not yet`);
      await env.clock.advance(1);
      assert.equal(env.net.sockets.length, 2, `${ttl} s token: the swap at ${at} ms`);
      assert.equal(env.client.stats[counted], 1, `${ttl} s token: counted as ${counted}`);
    }
  });

  test("a token that is not a JWT, or has no exp, sets no renewal: only the 110-minute swap", async () => {
    for (const token of ["opaque-token", jwt({ sub: "alice" })]) {
      const env = await connected({ getToken: () => token });
      env.net.autoPong = true;
      env.net.last.autoPong = true;
      await env.clock.advance(110 * MIN - 1);
      assert.equal(env.net.sockets.length, 1, token);
      await env.clock.advance(1);
      assert.equal(env.net.sockets.length, 2, token);
      assert.equal(env.client.stats.tokenRenewals, 0);
      assert.equal(env.client.stats.plannedReconnects, 1);
    }
  });

  test("a renewal whose getToken fails leaves the old socket serving; once the server closes it the usual reconnect gets a fresh token", async () => {
    const clock = new FakeClock(T0);
    const mint = jwtSource(clock, 15);
    let calls = 0;
    const env = await connected(
      {
        getToken: async () => {
          calls++;
          if (calls === 2) throw new Error("token service down");
          return mint();
        },
      },
      clock,
    );
    const { client, net } = env;
    client.subscribe("a", () => {});
    const old = net.last;
    await clock.advance(10_000);
    assert.equal(calls, 2, "the renewal asked for a token");
    assert.equal(net.sockets.length, 1, "and opened nothing without one");
    old.push({ type: "job_update", ...snapshot("a", 2, 15) });
    assert.equal(client.job("a")?.progress, 15, "the old socket still serves");
    await clock.advance(6_000); // past exp and the server's leeway
    assert.equal(net.sockets.length, 1);
    old.drop(1000); // the server closes it (DELETE @connections): a normal close to the browser
    await settle();
    assert.equal(env.statuses.at(-1), "reconnecting 1/5");
    await clock.advance(backoffDelay(1, DEFAULT_BACKOFF, () => 1));
    assert.equal(net.sockets.length, 2);
    const fresh = net.last;
    assert.ok((expiry(fresh) ?? 0) > T0 + 16_000, "a fresh token");
    fresh.accept();
    assert.deepEqual(fresh.actions("subscribe_job"), [{ action: "subscribe_job", jobId: "a" }]);
    assert.deepEqual(fresh.actions("ping"), [{ action: "ping", reconnects: 1 }]);
    assert.deepEqual(env.statuses, ["connecting", "connected", "reconnecting 1/5", "connected"]);
    assert.equal(env.http.requests.length, 0);
  });

  test("a renewal socket that fails to open changes nothing until the old socket dies", async () => {
    const env = await connectedWithTokens(15);
    const { client, net, clock } = env;
    client.subscribe("a", () => {});
    const old = net.last;
    await clock.advance(10_000);
    assert.equal(net.sockets.length, 2);
    net.last.drop(); // the renewal socket is refused
    await settle();
    old.push({ type: "job_update", ...snapshot("a", 2, 15) });
    assert.equal(client.job("a")?.progress, 15, "the old socket still serves");
    assert.equal(old.closedByClient, undefined);
    assert.deepEqual(env.statuses, ["connecting", "connected"]);
    await clock.advance(5_000);
    assert.equal(net.sockets.length, 2, "no second renewal");
    old.drop(1000);
    await settle();
    assert.equal(env.statuses.at(-1), "reconnecting 1/5");
    await clock.advance(backoffDelay(1, DEFAULT_BACKOFF, () => 1));
    assert.equal(net.sockets.length, 3);
    net.last.accept();
    assert.deepEqual(net.last.actions("subscribe_job"), [{ action: "subscribe_job", jobId: "a" }]);
    assert.equal(env.statuses.at(-1), "connected");
  });

  test("a renewal socket that never opens is given up after the connect timeout", async () => {
    const env = await connectedWithTokens(15, { connectTimeoutMs: 2_000 });
    const { client, net, clock } = env;
    client.subscribe("a", () => {});
    const old = net.last;
    await clock.advance(10_000);
    const hanging = net.last;
    assert.notEqual(hanging, old);
    await clock.advance(2_000 - 1);
    assert.equal(hanging.closedByClient, undefined);
    await clock.advance(1);
    assert.deepEqual(hanging.closedByClient, { code: 1000, reason: "connect timeout" });
    hanging.accept(); // too late: ignored
    old.push({ type: "job_update", ...snapshot("a", 2, 15) });
    assert.equal(client.job("a")?.progress, 15, "the old socket is still the one");
    assert.deepEqual(hanging.actions("subscribe_job"), []);
    assert.equal(old.closedByClient, undefined);
    assert.deepEqual(env.statuses, ["connecting", "connected"]);
  });

  test("a renewal that gets the same token back opens no second socket", async () => {
    const clock = new FakeClock(T0);
    const token = jwt({ sub: "alice", iat: T0 / 1000, exp: T0 / 1000 + 15 });
    const env = await connected({ getToken: () => token }, clock);
    await clock.advance(10_000);
    assert.equal(env.client.stats.tokenRenewals, 1, "it tried");
    assert.equal(env.net.sockets.length, 1);
    await clock.advance(4_999);
    assert.equal(env.net.sockets.length, 1, "and did not try again before expiry");
  });

  test("token_expired: the socket is closed at once and replaced the usual way, with a fresh token", async () => {
    const env = await connectedWithTokens(15);
    const { client, net, clock } = env;
    const serverErrors: string[] = [];
    client.on("serverError", (e) => serverErrors.push(e.code));
    client.subscribe("a", () => {});
    const old = net.last;
    await clock.advance(3_000);
    old.push({ type: "error", code: "token_expired", message: "the token has expired" });
    assert.deepEqual(serverErrors, ["token_expired"], "still reported");
    assert.deepEqual(old.closedByClient, { code: 1000, reason: "token expired" });
    await settle();
    assert.equal(env.statuses.at(-1), "reconnecting 1/5");
    await clock.advance(backoffDelay(1, DEFAULT_BACKOFF, () => 1));
    const fresh = net.last;
    assert.notEqual(fresh, old);
    assert.ok((expiry(fresh) ?? 0) > (expiry(old) ?? Infinity), "a fresher token");
    fresh.accept();
    assert.deepEqual(fresh.actions("subscribe_job"), [{ action: "subscribe_job", jobId: "a" }]);
    assert.deepEqual(fresh.actions("ping"), [{ action: "ping", reconnects: 1 }]);
    assert.deepEqual(env.statuses, ["connecting", "connected", "reconnecting 1/5", "connected"]);
    assert.equal(env.http.requests.length, 0);
  });

  test("token_expired on the old socket while its renewal is opening: the renewal socket takes over", async () => {
    const env = await connectedWithTokens(15);
    const { client, net, clock } = env;
    client.subscribe("a", () => {});
    const old = net.last;
    await clock.advance(10_000);
    const renewal = net.last;
    assert.notEqual(renewal, old);
    old.push({ type: "error", code: "token_expired", message: "the token has expired" });
    await settle();
    assert.equal(env.statuses.at(-1), "reconnecting 1/5");
    renewal.accept();
    assert.equal(env.statuses.at(-1), "connected");
    assert.deepEqual(renewal.actions("subscribe_job"), [{ action: "subscribe_job", jobId: "a" }]);
    assert.deepEqual(renewal.actions("ping"), [{ action: "ping", reconnects: 1 }], "it ended a reconnect episode");
    await clock.advance(5_000); // past the attempt the backoff had planned, before the next renewal
    assert.equal(net.sockets.length, 2, "no other socket");
  });

  test("a reconnect attempt still fetching its token when the renewal socket takes over is abandoned", async () => {
    const clock = new FakeClock(T0);
    const mint = jwtSource(clock, 15);
    let calls = 0;
    let release: (() => void) | undefined;
    const env = await connected(
      {
        getToken: () => {
          calls++;
          if (calls !== 3) return mint();
          return new Promise<string>((resolve) => (release = () => void mint().then(resolve)));
        },
      },
      clock,
    );
    const { client, net } = env;
    const old = net.last;
    await clock.advance(10_000); // call 2: the renewal
    const renewal = net.last;
    old.drop(1000); // the server closes the old socket first
    await settle();
    await clock.advance(backoffDelay(1, DEFAULT_BACKOFF, () => 1)); // call 3: the backoff's attempt, held
    assert.equal(calls, 3);
    renewal.accept();
    assert.equal(env.statuses.at(-1), "connected");
    release?.();
    await settle();
    assert.equal(net.sockets.length, 2, "the abandoned attempt opened nothing");
    client.subscribe("b", () => {});
    assert.deepEqual(renewal.actions("subscribe_job"), [{ action: "subscribe_job", jobId: "b" }], "the renewal socket is the one in use");
  });

  test("too_many_subscriptions refuses one job and is reported for it; the socket stays", async () => {
    const { client, net } = await connected();
    const errors: string[] = [];
    client.on("jobError", (e) => errors.push(`${e.jobId}:${e.code}`));
    client.subscribe("j101", () => {});
    net.last.push({ type: "error", code: "too_many_subscriptions", message: "at most 100 jobs per connection", jobId: "j101" });
    assert.deepEqual(errors, ["j101:too_many_subscriptions"]);
    assert.deepEqual(client.status, { state: "connected" });
    assert.equal(net.last.closedByClient, undefined);
  });
});
