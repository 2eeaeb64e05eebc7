import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { MIN_RENEW_DELAY_MS, renewalDelay, tokenLifetime } from "../src/token.js";
import { jwt } from "./fakes.js";

const S = 1_000;
const MIN = 60 * S;
const NOW = 1_700_000_000_000;
const nowS = NOW / S;

describe("reading a token's lifetime", () => {
  test("exp and iat come from a JWT's payload, in milliseconds", () => {
    assert.deepEqual(tokenLifetime(jwt({ sub: "alice", iat: nowS, exp: nowS + 15 })), {
      expiresAt: NOW + 15 * S,
      issuedAt: NOW,
    });
  });

  test("a payload with non-ASCII claims and base64url characters decodes", () => {
    // UTF-8 beyond ASCII, and bytes whose base64 needs "-" and "_" (base64url, unpadded).
    const token = jwt({ sub: "jürgen?>>>", name: "ÿÿÿ", exp: nowS + 60 });
    assert.match(token.split(".")[1] ?? "", /[-_]/);
    assert.deepEqual(tokenLifetime(token), { expiresAt: NOW + 60 * S });
    // Every length of unpadded base64url: 0, 2 or 3 characters past a multiple of 4.
    const lengths = new Set<number>();
    for (const pad of ["", "a", "ab", "abc"]) {
      const padded = jwt({ exp: nowS + 60, pad });
      lengths.add((padded.split(".")[1] ?? "").length % 4);
      assert.deepEqual(tokenLifetime(padded), { expiresAt: NOW + 60 * S }, pad);
    }
    assert.deepEqual([...lengths].sort(), [0, 2, 3]);
  });

  test("a token without a usable exp, or that is not a JWT, has no lifetime", () => {
    const payload = (text: string) => `e30.${Buffer.from(text).toString("base64url")}.sig`;
    for (const token of [
      "token-1",
      "",
      "a.b",
      "a.b.c.d",
      jwt({ sub: "alice" }),
      jwt({ sub: "alice", exp: "soon" }),
      jwt({ sub: "alice", exp: 0 }),
      jwt({ sub: "alice", exp: null }),
      payload("not json"),
      payload("[1, 2]"),
      payload("42"),
      "e30.!!!.sig",
    ]) {
      assert.equal(tokenLifetime(token), undefined, token);
    }
  });

  test("an iat that is not before exp is ignored", () => {
    assert.deepEqual(tokenLifetime(jwt({ iat: nowS + 20, exp: nowS + 10 })), { expiresAt: NOW + 10 * S });
    assert.deepEqual(tokenLifetime(jwt({ iat: "x", exp: nowS + 10 })), { expiresAt: NOW + 10 * S });
  });
});

describe("when to renew", () => {
  const fresh = (lifetimeMs: number) => ({ expiresAt: NOW + lifetimeMs, issuedAt: NOW });

  test("10 % of the lifetime ahead of expiry, but at least 5 s and at most 60 s", () => {
    assert.equal(renewalDelay(fresh(15 * S), NOW), 10 * S, "15 s: 5 s ahead (10 % is 1.5 s)");
    assert.equal(renewalDelay(fresh(2 * MIN), NOW), 108 * S, "2 min: 12 s ahead");
    assert.equal(renewalDelay(fresh(10 * MIN), NOW), 9 * MIN, "10 min: 60 s ahead");
    assert.equal(renewalDelay(fresh(60 * MIN), NOW), 59 * MIN, "1 h: 60 s ahead (10 % is 6 min)");
  });

  test("the margin is a share of the whole lifetime, so a token used late renews by the same clock", () => {
    // A 10-minute token already 4 minutes old: still 60 s before exp.
    assert.equal(renewalDelay(fresh(10 * MIN), NOW + 4 * MIN), 5 * MIN);
    // Without iat the lifetime is what is left.
    assert.equal(renewalDelay({ expiresAt: NOW + 2 * MIN }, NOW), 108 * S);
  });

  test("a token shorter than the margin is renewed at half of what is left, never sooner than 1 s", () => {
    assert.equal(renewalDelay(fresh(6 * S), NOW), 3 * S);
    assert.equal(renewalDelay(fresh(1_500), NOW), MIN_RENEW_DELAY_MS);
    assert.equal(renewalDelay(fresh(60 * MIN), NOW + 60 * MIN - 400), MIN_RENEW_DELAY_MS);
  });

  test("a token that already looks expired gets no renewal (the server's close decides)", () => {
    assert.equal(renewalDelay(fresh(15 * S), NOW + 15 * S), undefined);
    assert.equal(renewalDelay(fresh(15 * S), NOW + 60 * S), undefined);
  });
});
