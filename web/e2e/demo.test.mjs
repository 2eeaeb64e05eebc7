// End-to-end: the demo page in headless Chromium against the running local stack.
//   . .local/dev/stack.env && npm run e2e
// (a) upload a real PDF, watch it reach 100 % live; (b) the server drops the socket mid-job;
// (c) the socket is unreachable: polling, then back to the socket; (d) no status polls while
// the socket is healthy; (e) "Reconnect now" while polling connects at once; (f) a 15-second
// token: the socket is renewed before it expires, the indicator never leaves `connected`.
// Screenshots go to test-artifacts/.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";

import {
  clientStats,
  connState,
  connectionsOf,
  deleteConnection,
  ensureArtifacts,
  fixtures,
  freePort,
  holdNextUpload,
  jobRows,
  launchBrowser,
  openDemo,
  sleep,
  socketTokenExpiry,
  stackEnv,
  startDevServer,
  startForwarder,
  statusPolls,
  uniqueUser,
  until,
  waitForJob,
  waitForState,
} from "./harness.mjs";

const MIME_PDF = readFileSync(join(fixtures, "shared-mime-info-spec.pdf"));
const TASN1_PDF = readFileSync(join(fixtures, "libtasn1-manual.pdf"));
const pdf = (name, buffer) => ({ name, mimeType: "application/pdf", buffer });

const env = stackEnv();
/** The server honours a token up to `exp` plus this (1 s on the test stack, 30 s by default). */
const TOKEN_LEEWAY_MS = Number(process.env.JOBCAST_JWT_LEEWAY_SECONDS || 1) * 1000;
let server;
let browser;
const timings = {};

before(async () => {
  server = await startDevServer(env);
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
  console.log(`# e2e timings (ms): ${JSON.stringify(timings)}`);
});

/** Runs a test body, recording its wall time under `key`. */
function timed(key, body) {
  return async () => {
    const started = Date.now();
    try {
      await body();
    } finally {
      timings[key] = Date.now() - started;
    }
  };
}

describe("demo page against the local stack", () => {
  test(
    "(a) a real PDF uploads, its bar reaches 100 % live, results download; failures show a reason",
    timed("a", async () => {
      const user = uniqueUser("a");
      const { context, page, log } = await openDemo(browser, server, env, { user });
      try {
        await waitForState(page, "connected");
        await page.setInputFiles("#file", pdf("shared-mime-info-spec.pdf", MIME_PDF));
        await page.waitForFunction(() => document.getElementById("upload").dataset.state === "done", null, {
          timeout: 30_000,
        });
        assert.equal(await page.textContent("#upload-pct"), "100 %");

        // Every progress value the row shows, in order: it must never go down.
        const shown = [];
        const done = await (async () => {
          for (const deadline = Date.now() + 60_000; Date.now() < deadline; ) {
            const row = (await jobRows(page)).find((r) => r.name === "shared-mime-info-spec.pdf");
            if (row && shown.at(-1) !== row.progress) shown.push(row.progress);
            if (row?.status === "completed" || row?.status === "failed") return row;
            await sleep(25);
          }
          throw new Error("the job did not finish within 60 s");
        })();
        assert.equal(done.status, "completed", `failed: ${done.error}`);
        assert.equal(done.progress, 100);
        assert.equal(done.stage, "Completed");
        assert.ok(shown.every((p, i) => i === 0 || p >= shown[i - 1]), `the bar moved backwards: ${shown}`);
        assert.equal(await connState(page), "connected");
        const stats = await clientStats(page);
        assert.ok(stats.pushesApplied >= 1, "progress came as pushes");
        assert.equal(stats.polls, 0);

        // A corrupt PDF fails, and the row says why.
        await page.setInputFiles("#file", pdf("corrupt.pdf", TASN1_PDF.subarray(0, 20_000)));
        const failed = await waitForJob(page, "corrupt.pdf", { status: "failed" });
        assert.ok(failed.error && failed.error.length > 3, `no failure reason shown: ${JSON.stringify(failed)}`);

        // (d, first half) the whole flow made no status request.
        assert.deepEqual(statusPolls(log, env), [], "status polls while the socket was healthy");
        assert.deepEqual(log.states.filter((s) => s !== "connecting" && s !== "connected"), []);

        // Results: the link fetches short-lived presigned URLs on click.
        const jobId = done.jobId;
        const [textPage] = await Promise.all([
          context.waitForEvent("page"),
          page.click(`.job[data-job-id="${jobId}"] .result-link[data-kind="txt"]`),
        ]);
        await textPage.waitForLoadState();
        assert.match(textPage.url(), /result\.txt/);
        assert.match(await textPage.textContent("body"), /Shared MIME-info Database/);
        await textPage.close();
        const jsonLinks = await page.evaluate((id) => window.jobcast.getResult(id), jobId);
        const result = await (await fetch(jsonLinks.resultUrl)).json();
        assert.equal(result.pageCount, 17);

        // Screenshots of the finished page, desktop and phone.
        const dir = ensureArtifacts();
        await page.mouse.move(1, 1);
        await page.evaluate(() => window.scrollTo(0, 0));
        await page.screenshot({ path: join(dir, "demo.png"), fullPage: true, animations: "disabled" });
        await page.screenshot({ path: join(dir, "demo-desktop.png"), fullPage: true, animations: "disabled" });
        await page.setViewportSize({ width: 390, height: 844 });
        await page.evaluate(() => window.scrollTo(0, 0));
        await sleep(200);
        await page.screenshot({ path: join(dir, "demo-phone.png"), fullPage: true, animations: "disabled" });
        assert.deepEqual(log.errors, []);
      } finally {
        await context.close();
      }
    }),
  );

  test(
    "(b) the server drops the socket mid-job: the page reconnects, resubscribes and finishes",
    timed("b", async () => {
      const user = uniqueUser("b");
      const { context, page, log } = await openDemo(browser, server, env, { user, query: { backoff: "300" } });
      try {
        await waitForState(page, "connected");
        const [first] = await until("the page's connection row", async () => {
          const ids = await connectionsOf(env, user);
          return ids.length === 1 ? ids : false;
        });

        // Hold the upload: the job exists (pending, watched) when its socket is dropped, so
        // anything the page sees afterwards reached it only through the resubscription.
        const upload = await holdNextUpload(page);
        await page.setInputFiles("#file", pdf("libtasn1-manual.pdf", TASN1_PDF));
        await upload.held;
        const statsBefore = await clientStats(page);

        assert.ok([200, 204].includes(await deleteConnection(env, first)), "the Management API dropped the socket");
        await until("reconnecting", () => log.states.some((s) => s.startsWith("reconnecting")), { timeout: 15_000 });
        await waitForState(page, "connected", 20_000);
        const second = await until("the new connection row", async () => {
          const ids = (await connectionsOf(env, user)).filter((id) => id !== first);
          return ids.length > 0 ? ids[0] : false;
        });
        await until("the resubscription", async () => (await clientStats(page)).subscribedReceived > statsBefore.subscribedReceived, {
          timeout: 10_000,
        });
        upload.release();

        // Drop the new socket again as soon as the job is mid-way (best effort: it is fast).
        let droppedMidJob = false;
        await until("progress", async () => {
          const row = (await jobRows(page)).find((r) => r.name === "libtasn1-manual.pdf");
          if (row && row.progress >= 5) {
            droppedMidJob = row.progress < 100;
            await deleteConnection(env, second);
            return true;
          }
          return false;
        }, { timeout: 30_000, every: 20 });

        const done = await waitForJob(page, "libtasn1-manual.pdf", { status: "completed" });
        assert.equal(done.progress, 100);
        await waitForState(page, "connected", 20_000);
        const stats = await clientStats(page);
        assert.ok(stats.connects >= 3, `connects: ${stats.connects}`);
        assert.ok(stats.subscribesSent >= 2, `subscribes: ${stats.subscribesSent}`);
        assert.equal(stats.polls, 0, "it never had to poll");
        assert.deepEqual(statusPolls(log, env), []);
        timings.bDroppedMidJob = droppedMidJob;
        timings.bStates = log.states.join(" > ");
        assert.deepEqual(log.errors, []);
      } finally {
        await context.close();
      }
    }),
  );

  test(
    "(c) an unreachable socket: 5 reconnects, then polling finishes the job; once the socket is back polling stops",
    timed("c", async () => {
      const user = uniqueUser("c");
      const deadPort = await freePort();
      const wsPath = new URL(env.JOBCAST_WS_URL).pathname;
      const stackPort = Number(new URL(env.JOBCAST_WS_URL).port || 80);
      const { context, page, log } = await openDemo(browser, server, env, {
        user,
        query: { ws: `ws://127.0.0.1:${deadPort}${wsPath}`, backoff: "200", retry: "2000", poll: "1000" },
      });
      let forwarder;
      try {
        await waitForState(page, "polling", 30_000);
        assert.deepEqual(
          log.states.filter((s) => s.startsWith("reconnecting")),
          ["reconnecting 1/5", "reconnecting 2/5", "reconnecting 3/5", "reconnecting 4/5", "reconnecting 5/5"],
        );

        // A whole job, seen only through polling.
        await page.setInputFiles("#file", pdf("shared-mime-info-spec.pdf", MIME_PDF));
        const done = await waitForJob(page, "shared-mime-info-spec.pdf", { status: "completed" });
        assert.equal(done.progress, 100);
        const polls = statusPolls(log, env, done.jobId);
        assert.ok(polls.length >= 1, "the job was polled");
        const statsAfterA = await clientStats(page);
        assert.equal(statsAfterA.pushesApplied, 0, "nothing came over a socket");
        assert.ok(["polling", "offline"].includes(await connState(page)));

        // A second job held before its upload: it stays pending, polled with If-None-Match → 304.
        const upload = await holdNextUpload(page);
        await page.setInputFiles("#file", pdf("held.pdf", MIME_PDF));
        await upload.held;
        const heldId = await until("the held job's row", async () => (await jobRows(page)).find((r) => r.name === "held.pdf")?.jobId);
        await until("two 304s for the held job", () => statusPolls(log, env, heldId).filter((r) => r.status === 304).length >= 2, {
          timeout: 15_000,
        });

        await page.evaluate(() => window.scrollTo(0, 0));
        await page.screenshot({ path: join(ensureArtifacts(), "demo-polling.png"), animations: "disabled" });

        // The socket comes back: the background retry finds it, polling stops.
        forwarder = await startForwarder(deadPort, { host: "127.0.0.1", port: stackPort });
        await waitForState(page, "connected", 20_000);
        await sleep(300); // a poll already in flight may still land
        const pollsAtRecovery = statusPolls(log, env).length;
        upload.release();
        const held = await waitForJob(page, "held.pdf", { status: "completed" });
        assert.equal(held.progress, 100);
        await sleep(2_500); // more than two poll intervals
        assert.equal(statusPolls(log, env).length, pollsAtRecovery, "no status polls once the socket was back");
        assert.equal(await connState(page), "connected");
        const stats = await clientStats(page);
        assert.ok(stats.pushesApplied >= 1, "the held job's progress came over the socket");
        assert.deepEqual(
          statusPolls(log, env).filter((r) => r.state === "connected"),
          [],
          "status polls while the socket was healthy",
        );
        // Every fallback poll says so, for the server's StatusPolls{Transport=polling}.
        assert.deepEqual(
          statusPolls(log, env).filter((r) => r.headers["x-jobcast-transport"] !== "polling").map((r) => r.url),
          [],
          "fallback polls without X-Jobcast-Transport: polling",
        );
        timings.cPolls = stats.polls;
        timings.cNotModified = stats.notModified;
        timings.cStates = log.states.join(" > ");
        assert.deepEqual(log.errors.filter((e) => !/WebSocket/.test(e)), []);
      } finally {
        await context.close();
        await forwarder?.close();
      }
    }),
  );

  test(
    "(d) a healthy socket makes no HTTP status requests, keepalive pings included",
    timed("d", async () => {
      const user = uniqueUser("d");
      const { context, page, log } = await openDemo(browser, server, env, { user, query: { ping: "500" } });
      try {
        await waitForState(page, "connected");
        await page.setInputFiles("#file", pdf("shared-mime-info-spec.pdf", MIME_PDF));
        const done = await waitForJob(page, "shared-mime-info-spec.pdf", { status: "completed" });
        await until("a few pongs", async () => (await clientStats(page)).pongsReceived >= 3, { timeout: 10_000 });
        const stats = await clientStats(page);
        const polls = statusPolls(log, env);
        timings.dStatusPolls = polls.length;
        assert.deepEqual(polls, [], "status polls while the socket was healthy");
        assert.equal(stats.polls, 0);
        assert.equal(done.progress, 100);
        assert.equal(await connState(page), "connected");
        // Only what the user's actions need: the job list, POST /jobs and the upload.
        const apiCalls = log.requests.filter((r) => r.url.startsWith(env.JOBCAST_HTTP_URL)).map((r) => `${r.method} ${new URL(r.url).pathname.replace(/.*\/jobs/, "/jobs")}`);
        assert.deepEqual(apiCalls.filter((c) => c !== "OPTIONS /jobs"), ["GET /jobs", "POST /jobs"]);
        assert.deepEqual(
          log.requests.filter((r) => r.url.startsWith(env.JOBCAST_HTTP_URL) && "x-jobcast-transport" in r.headers),
          [],
          "X-Jobcast-Transport on a healthy socket",
        );
      } finally {
        await context.close();
      }
    }),
  );

  test(
    "(e) the socket is back while the page polls: “Reconnect now” connects at once, not at the 30 s background retry",
    timed("e", async () => {
      const user = uniqueUser("e");
      const deadPort = await freePort();
      const wsPath = new URL(env.JOBCAST_WS_URL).pathname;
      const stackPort = Number(new URL(env.JOBCAST_WS_URL).port || 80);
      // No ?retry=: the background retry keeps its default, 30 s ±25 % (never before 22.5 s).
      const { context, page, log } = await openDemo(browser, server, env, {
        user,
        query: { ws: `ws://127.0.0.1:${deadPort}${wsPath}`, backoff: "200", poll: "1000" },
      });
      let forwarder;
      try {
        await waitForState(page, "polling", 30_000);
        const fellBackAt = Date.now();
        await page.waitForFunction(
          () => !document.getElementById("conn-retry").hidden && !document.getElementById("reconnect-now").disabled,
          null,
          { timeout: 5_000 },
        );
        const nextRetryAt = await page.evaluate(() => window.jobcast.status.nextRetryAt);
        assert.equal(typeof nextRetryAt, "number");
        assert.ok(nextRetryAt - fellBackAt > 15_000, `the next automatic try is ~30 s away (${nextRetryAt - fellBackAt} ms)`);
        assert.match(await page.textContent("#conn-next"), /^next try in \d+ s$/);

        // A job watched while polling (held before its upload, so it waits for the socket).
        const upload = await holdNextUpload(page);
        await page.setInputFiles("#file", pdf("held.pdf", MIME_PDF));
        await upload.held;
        const heldId = await until("the held job's row", async () => (await jobRows(page)).find((r) => r.name === "held.pdf")?.jobId);
        await until("a poll of the held job", () => statusPolls(log, env, heldId).length >= 1, { timeout: 10_000 });

        const beforeClick = await clientStats(page);
        forwarder = await startForwarder(deadPort, { host: "127.0.0.1", port: stackPort });
        const clickedAt = Date.now();
        assert.ok(clickedAt < nextRetryAt - 5_000, `clicked ${nextRetryAt - clickedAt} ms before the automatic try`);
        await page.click("#reconnect-now");
        // Connected before the automatic try was due: the click did it.
        await waitForState(page, "connected", nextRetryAt - Date.now() - 1_000);
        const connectedAt = Date.now();
        assert.ok(connectedAt < nextRetryAt, "connected before the background retry");
        assert.equal(await page.isHidden("#conn-retry"), true, "the button goes once connected");
        assert.deepEqual(log.states.slice(log.states.lastIndexOf("polling")), ["polling", "connected"]);

        // Resubscribed: the held job's snapshot came over the new socket, then its progress did;
        // polling stopped.
        await until("the held job's resubscription", async () => (await clientStats(page)).subscribedReceived > beforeClick.subscribedReceived, {
          timeout: 10_000,
        });
        await sleep(300); // a poll already in flight may still land
        const pollsAtRecovery = statusPolls(log, env).length;
        const before = await clientStats(page);
        upload.release();
        const held = await waitForJob(page, "held.pdf", { status: "completed" });
        assert.equal(held.progress, 100);
        const after = await clientStats(page);
        assert.ok(after.pushesApplied > before.pushesApplied, "the held job's progress came over the socket");
        assert.equal(statusPolls(log, env).length, pollsAtRecovery, "no status polls once the socket was back");
        assert.equal(await connState(page), "connected");
        timings.eClickToConnectedMs = connectedAt - clickedAt;
        timings.eStates = log.states.join(" > ");
        assert.deepEqual(log.errors.filter((e) => !/WebSocket/.test(e)), []);
      } finally {
        await context.close();
        await forwarder?.close();
      }
    }),
  );

  test(
    "(f) a 15 s token: the socket is renewed before it expires and never leaves connected; a job started after the first token expired is live over the socket, without polls",
    timed("f", async () => {
      const user = uniqueUser("f");
      const { context, page, log } = await openDemo(browser, server, env, { user, query: { ttl: "15" } });
      try {
        await waitForState(page, "connected");
        const first = log.sockets[0];
        assert.ok(first, "the page opened a socket");
        const firstExpiry = socketTokenExpiry(first.url);
        assert.ok(firstExpiry !== undefined, "its token is a JWT with exp");
        assert.ok(firstExpiry - Date.now() <= 16_000, `a short token (${firstExpiry - Date.now()} ms left)`);

        // Past the first token's lifetime and the server's leeway, with slack.
        await until("the first token to expire", () => Date.now() > firstExpiry + TOKEN_LEEWAY_MS + 2_000, {
          timeout: 30_000,
          every: 250,
        });
        assert.equal(await connState(page), "connected");
        const before = await clientStats(page);
        assert.ok(before.tokenRenewals >= 1, `renewals: ${before.tokenRenewals}`);
        assert.ok(before.connects >= 2, "a renewed socket took over");
        assert.ok(first.closedAt !== undefined && first.closedAt < firstExpiry, "the page closed the first socket before its token expired");

        const startedAt = Date.now();
        await page.setInputFiles("#file", pdf("shared-mime-info-spec.pdf", MIME_PDF));
        const done = await waitForJob(page, "shared-mime-info-spec.pdf", { status: "completed" });
        assert.equal(done.progress, 100);
        assert.ok(startedAt > firstExpiry + TOKEN_LEEWAY_MS, "the job started after the first token expired");
        const after = await clientStats(page);
        assert.ok(after.pushesApplied > before.pushesApplied, "its progress came as pushes");
        assert.equal(after.polls, 0, "no fallback polls");
        assert.deepEqual(statusPolls(log, env), [], "no status requests at all");

        // Every state the indicator showed, from the page: connecting, then connected for good.
        assert.deepEqual(log.states.filter((s) => s !== "connecting" && s !== "connected"), [], log.states.join(" > "));
        assert.deepEqual(log.states.slice(log.states.indexOf("connected")), ["connected"], log.states.join(" > "));
        // Each new socket came with a token expiring later than the one before.
        const expiries = log.sockets.map((s) => socketTokenExpiry(s.url));
        assert.ok(log.sockets.length >= 2, `sockets: ${log.sockets.length}`);
        assert.ok(expiries.every((e, i) => i === 0 || e > expiries[i - 1]), `expiries: ${expiries}`);
        timings.fSockets = log.sockets.length;
        timings.fRenewals = after.tokenRenewals;
        timings.fFirstClosedBeforeExpiryMs = firstExpiry - first.closedAt;
        assert.deepEqual(log.errors, []);
      } finally {
        await context.close();
      }
    }),
  );
});
