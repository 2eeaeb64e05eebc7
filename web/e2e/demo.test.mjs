// End-to-end: the demo page in headless Chromium against the running local stack.
//   . .local/dev/stack.env && npm run e2e
// (a) upload a real PDF, watch it reach 100 % live; (b) the server drops the socket mid-job;
// (c) the socket is unreachable: polling, then back to the socket; (d) no status polls while
// the socket is healthy. Screenshots go to test-artifacts/.

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
});
