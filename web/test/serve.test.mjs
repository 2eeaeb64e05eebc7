// The dev server: config, token minting (HS256 {sub, iat, exp}, plus iss and aud when
// configured), name validation, static files.
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { once } from "node:events";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";

import { createDevServer, signToken } from "../serve.mjs";

const SECRET = "0123456789abcdef0123456789abcdef0123456789abcdef";
let server;
let base;

before(async () => {
  const root = mkdtempSync(join(tmpdir(), "jobcast-web-"));
  writeFileSync(join(root, "index.html"), "<!doctype html><title>demo</title>");
  server = createDevServer({ root, httpUrl: "http://api.test", wsUrl: "ws://ws.test/dev", secret: SECRET });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  base = `http://127.0.0.1:${server.address().port}`;
});

after(() => server.close());

function decode(part) {
  return JSON.parse(Buffer.from(part, "base64url").toString("utf8"));
}

test("signToken makes an HS256 JWT with exactly sub, iat and exp", () => {
  const token = signToken(SECRET, "alice", 600, 1_700_000_000);
  const [header, payload, signature] = token.split(".");
  assert.deepEqual(decode(header), { alg: "HS256", typ: "JWT" });
  assert.deepEqual(decode(payload), { sub: "alice", iat: 1_700_000_000, exp: 1_700_000_600 });
  const expected = createHmac("sha256", SECRET).update(`${header}.${payload}`).digest("base64url");
  assert.equal(signature, expected);
});

test("signToken adds iss and aud only when they are given", () => {
  const token = signToken(SECRET, "alice", 15, 1_700_000_000, { issuer: "https://auth.test/", audience: "jobcast" });
  const [header, payload, signature] = token.split(".");
  assert.deepEqual(decode(payload), { sub: "alice", iss: "https://auth.test/", aud: "jobcast", iat: 1_700_000_000, exp: 1_700_000_015 });
  assert.equal(signature, createHmac("sha256", SECRET).update(`${header}.${payload}`).digest("base64url"));
  assert.deepEqual(decode(signToken(SECRET, "bob", 15, 1, { issuer: "only-iss" }).split(".")[1]), { sub: "bob", iss: "only-iss", iat: 1, exp: 16 });
});

test("a server configured with an issuer and audience mints tokens that carry them", async () => {
  const root = mkdtempSync(join(tmpdir(), "jobcast-web-"));
  const configured = createDevServer({
    root, httpUrl: "http://api.test", wsUrl: "ws://ws.test/dev", secret: SECRET, issuer: "jobcast-dev", audience: "jobcast-api",
  });
  configured.listen(0, "127.0.0.1");
  await once(configured, "listening");
  try {
    const response = await fetch(`http://127.0.0.1:${configured.address().port}/dev/token?user=carol&ttl=15`);
    assert.equal(response.status, 200);
    const { token, expiresAt } = await response.json();
    const claims = decode(token.split(".")[1]);
    assert.equal(claims.iss, "jobcast-dev");
    assert.equal(claims.aud, "jobcast-api");
    assert.equal(claims.sub, "carol");
    assert.equal(claims.exp - claims.iat, 15);
    assert.equal(claims.exp, expiresAt);
  } finally {
    configured.close();
  }
  // The server without them (the shared one) mints none.
  const { token } = await (await fetch(`${base}/dev/token?user=carol`)).json();
  assert.deepEqual(Object.keys(decode(token.split(".")[1])), ["sub", "iat", "exp"]);
});

test("GET /config.json and /dev/token", async () => {
  assert.deepEqual(await (await fetch(`${base}/config.json`)).json(), { httpUrl: "http://api.test", wsUrl: "ws://ws.test/dev" });
  const response = await fetch(`${base}/dev/token?user=${encodeURIComponent("bob@example.com|x:1+2")}&ttl=120`);
  assert.equal(response.status, 200);
  assert.equal(response.headers.get("cache-control"), "no-store");
  const { token, user, expiresAt } = await response.json();
  assert.equal(user, "bob@example.com|x:1+2");
  const claims = decode(token.split(".")[1]);
  assert.equal(claims.sub, user);
  assert.equal(claims.exp - claims.iat, 120);
  assert.equal(claims.exp, expiresAt);
});

test("bad user names and ttls are refused", async () => {
  for (const query of ["", "user=", "user=a/b", "user=a%20b", `user=${"x".repeat(129)}`, "user=a&ttl=0", "user=a&ttl=1e9", "user=a&ttl=x"]) {
    const response = await fetch(`${base}/dev/token?${query}`);
    assert.equal(response.status, 400, query);
    assert.equal((await response.json()).error.code, "bad_request");
  }
});

test("static files stay inside the root", async () => {
  const index = await fetch(`${base}/`);
  assert.equal(index.status, 200);
  assert.match(index.headers.get("content-type"), /text\/html/);
  for (const path of ["/../package.json", "/%2e%2e/package.json", "/..%2fpackage.json", "/nope.js"]) {
    assert.equal((await fetch(`${base}${path}`)).status, 404, path);
  }
  assert.equal((await fetch(`${base}/config.json`, { method: "POST" })).status, 405);
});
