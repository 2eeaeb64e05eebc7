import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { JobStore } from "../src/store.js";
import { completed, snapshot } from "./fakes.js";

describe("job store: snapshots", () => {
  test("the first snapshot of a job is applied with its source", () => {
    const store = new JobStore();
    const view = store.applySnapshot(snapshot("a", 1, 15), "subscribed");
    assert.equal(view?.progress, 15);
    assert.equal(view?.source, "subscribed");
    assert.equal(view?.terminal, false);
    assert.equal(store.get("a"), view);
  });

  test("a snapshot whose seq is not newer is dropped, older or equal", () => {
    const store = new JobStore();
    store.applySnapshot(snapshot("a", 5, 45), "push");
    assert.equal(store.applySnapshot(snapshot("a", 4, 60), "push"), undefined);
    assert.equal(store.applySnapshot(snapshot("a", 5, 60), "poll"), undefined);
    assert.equal(store.get("a")?.progress, 45);
    assert.equal(store.get("a")?.source, "push");
  });

  test("a newer seq with a lower percent keeps the bar where it was", () => {
    const store = new JobStore();
    store.applySnapshot(snapshot("a", 2, 45), "push");
    const view = store.applySnapshot(snapshot("a", 3, 30, { message: "Processed 1/4 chunks" }), "push");
    assert.equal(view?.progress, 45);
    assert.equal(view?.seq, 3);
    assert.equal(view?.message, "Processed 1/4 chunks");
  });

  test("percentages are whole and within 0–100", () => {
    const store = new JobStore();
    assert.equal(store.applySnapshot(snapshot("a", 1, 37.9), "poll")?.progress, 37);
    assert.equal(store.applySnapshot(snapshot("b", 1, -5), "poll")?.progress, 0);
    assert.equal(store.applySnapshot(snapshot("c", 1, 250, { status: "processing", stage: "merging" }), "poll")?.progress, 100);
  });

  test("a terminal snapshot pins the job at 100 and nothing changes it afterwards", () => {
    const store = new JobStore();
    const done = store.applySnapshot(snapshot("a", 4, 90, { status: "failed", stage: "failed" }), "poll");
    assert.equal(done?.progress, 100);
    assert.equal(done?.terminal, true);
    assert.equal(store.isTerminal("a"), true);
    assert.equal(store.applySnapshot(snapshot("a", 9, 20), "push"), undefined);
    assert.equal(store.applyCompleted(completed("a", 10), 0), undefined);
    assert.equal(store.get("a"), done);
  });

  test("an applied view replaces the old one instead of changing it", () => {
    const store = new JobStore();
    const first = store.applySnapshot(snapshot("a", 1, 15), "push");
    const second = store.applySnapshot(snapshot("a", 2, 30), "push");
    assert.notEqual(first, second);
    assert.equal(first?.progress, 15);
    assert.equal(first?.seq, 1);
  });

  test("every job seen is listed, in the order first seen", () => {
    const store = new JobStore();
    store.applySnapshot(snapshot("b", 1, 5), "http");
    store.applySnapshot(snapshot("a", 1, 5), "http");
    store.applySnapshot(snapshot("b", 2, 15), "push");
    assert.deepEqual(store.all().map((job) => [job.jobId, job.seq]), [["b", 2], ["a", 1]]);
    assert.equal(store.get("zz"), undefined);
    assert.equal(store.isTerminal("zz"), false);
  });
});

describe("job store: job_completed", () => {
  test("the server's final snapshot is what is shown, wording included", () => {
    const store = new JobStore();
    store.applySnapshot(snapshot("a", 3, 60, { fileName: "before.pdf" }), "push");
    const message = completed("a", 4, { error: "encrypted", message: "Failed: the PDF is password-protected" });
    const view = store.applyCompleted(message, Date.parse("2030-01-01T00:00:00Z"));
    assert.equal(view?.message, "Failed: the PDF is password-protected");
    assert.equal(view?.status, "failed");
    assert.equal(view?.stage, "failed");
    assert.equal(view?.error, "encrypted");
    assert.equal(view?.chunksDone, 1);
    assert.equal(view?.fileName, "a.pdf", "from the final snapshot, not the earlier one");
    assert.equal(view?.updatedAt, "2026-01-01T00:05:00.000Z", "the server's time, not the time received");
    assert.equal(view?.progress, 100);
    assert.equal(view?.terminal, true);
    assert.equal(view?.source, "completed");
  });

  test("a completion keeps its result URL", () => {
    const store = new JobStore();
    const view = store.applyCompleted(completed("a", 2, { resultUrl: "s3://bucket/a/result.json" }), 0);
    assert.equal(view?.resultUrl, "s3://bucket/a/result.json");
    assert.equal(view?.message, "Completed");
    assert.equal(view?.chunksDone, 4);
  });

  test("the envelope's error counts when the snapshot has none", () => {
    const store = new JobStore();
    const message = completed("a", 2, { error: "timeout" });
    delete message.job?.error;
    assert.equal(store.applyCompleted(message, 0)?.error, "timeout");
  });

  test("a completion older than or equal to the last applied seq is dropped", () => {
    const store = new JobStore();
    store.applySnapshot(snapshot("a", 6, 75), "push");
    assert.equal(store.applyCompleted(completed("a", 6), 0), undefined);
    assert.equal(store.applyCompleted(completed("a", 5), 0), undefined);
    assert.equal(store.isTerminal("a"), false);
  });

  test("without `job` (an older server) the job ends with what was known and the old wording", () => {
    const store = new JobStore();
    store.applySnapshot(snapshot("a", 3, 60, { chunksDone: 3, chunksTotal: 4 }), "push");
    const receivedAt = Date.parse("2030-01-01T00:00:00Z");
    const ok = store.applyCompleted({ type: "job_completed", jobId: "a", status: "completed", seq: 4 }, receivedAt);
    assert.equal(ok?.message, "Completed");
    assert.equal(ok?.stage, "completed");
    assert.equal(ok?.chunksDone, 4, "a completed job has done every chunk");
    assert.equal(ok?.fileName, "a.pdf");
    assert.equal(ok?.createdAt, "2026-01-01T00:00:00.000Z");
    assert.equal(ok?.updatedAt, "2030-01-01T00:00:00.000Z");
    assert.equal(ok?.progress, 100);

    store.applySnapshot(snapshot("b", 1, 15, { chunksDone: 1 }), "push");
    const failed = store.applyCompleted({ type: "job_completed", jobId: "b", status: "failed", error: "encrypted PDF", seq: 2 }, receivedAt);
    assert.equal(failed?.message, "Failed: encrypted PDF");
    assert.equal(failed?.error, "encrypted PDF");
    assert.equal(failed?.chunksDone, 1);

    const unseen = store.applyCompleted({ type: "job_completed", jobId: "c", status: "failed", seq: 1 }, receivedAt);
    assert.equal(unseen?.message, "Failed: unknown error");
    assert.equal(unseen?.fileName, undefined);
    assert.equal(unseen?.chunksTotal, 0);
  });
});
