// useJobProgress in headless Chromium with React DOM, driven by an in-page fake socket.
// Needs Chromium but no stack:  npm run build -- --tests && node --test e2e/react.test.mjs

import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, test } from "node:test";

import { launchBrowser, webDir } from "./harness.mjs";

let browser;
let page;

before(async () => {
  browser = await launchBrowser();
  page = await browser.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await page.setContent('<!doctype html><div id="root"></div>');
  await page.addScriptTag({ path: join(webDir, "dist/test-browser/react-hook.js") });
  assert.deepEqual(errors, []);
});

after(async () => {
  await browser?.close();
});

const text = (selector) => page.textContent(selector);
const push = (message) => page.evaluate((m) => window.harness.push(m), message);
const snapshot = (jobId, seq, progress, extra = {}) => ({
  jobId, status: "processing", stage: "processing", progress, message: `at ${progress}`, chunksDone: 1,
  chunksTotal: 4, seq, createdAt: "2026-01-01T00:00:00Z", updatedAt: "2026-01-01T00:00:00Z", ...extra,
});

test("useJobProgress subscribes on mount, follows the seq rule, and unsubscribes on unmount", async () => {
  await page.waitForFunction(() => document.getElementById("status")?.textContent === "connecting");
  await page.evaluate(() => window.harness.open());
  await page.waitForFunction(() => document.getElementById("status")?.textContent === "connected");
  const subscribes = (await page.evaluate(() => window.harness.sent())).filter((m) => m.action === "subscribe_job");
  assert.deepEqual(subscribes.map((m) => m.jobId).sort(), ["j1", "j2"]);

  await push({ type: "subscribed", jobId: "j1", job: snapshot("j1", 1, 15) });
  await page.waitForFunction(() => document.getElementById("job-j1")?.dataset.progress === "15");
  await push({ type: "job_update", ...snapshot("j1", 3, 45) });
  await push({ type: "job_update", ...snapshot("j1", 2, 30) }); // stale: dropped
  await page.waitForFunction(() => document.getElementById("job-j1")?.dataset.progress === "45");
  assert.equal(await text("#job-j1"), "45% at 45");

  await push({ type: "subscribed", jobId: "j2", job: snapshot("j2", 4, 60) });
  await push({
    type: "job_completed", jobId: "j2", status: "failed", error: "encrypted PDF", seq: 5,
    job: snapshot("j2", 5, 100, { status: "failed", stage: "failed", message: "Failed: encrypted PDF", error: "encrypted PDF" }),
  });
  await page.waitForFunction(() => document.getElementById("job-j2")?.dataset.done === "true");
  assert.equal(await text("#job-j2"), "100% Failed: encrypted PDF (encrypted PDF)");

  await page.evaluate(() => window.harness.hideFirst());
  await page.waitForFunction(() => !document.getElementById("job-j1"));
  const unsubscribes = (await page.evaluate(() => window.harness.sent())).filter((m) => m.action === "unsubscribe_job");
  // j2 gave its server-side slot back when it finished; j1 goes when its component unmounts.
  assert.deepEqual(unsubscribes, [
    { action: "unsubscribe_job", jobId: "j2" },
    { action: "unsubscribe_job", jobId: "j1" },
  ]);
});
