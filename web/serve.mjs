#!/usr/bin/env node
// The demo's dev server (Node built-ins only). DEV ONLY: it mints tokens for any user name.
//
//   GET /                      the built demo (dist/demo; `npm run build` first)
//   GET /config.json           {httpUrl, wsUrl} of the local stack
//   GET /dev/token?user=NAME   {token, user, expiresAt}: an HS256 JWT {sub, iat, exp}, plus iss
//                              and aud when JOBCAST_JWT_ISSUER / JOBCAST_JWT_AUDIENCE are set,
//                              signed with JOBCAST_JWT_SECRET (optional &ttl=SECONDS, ≤ 1 day)
//
// Environment: JOBCAST_HTTP_URL, JOBCAST_WS_URL, JOBCAST_JWT_SECRET (source .local/dev/stack.env),
// JOBCAST_JWT_ISSUER and JOBCAST_JWT_AUDIENCE (optional: set them when the stack requires them),
// JOBCAST_WEB_HOST (default 127.0.0.1), JOBCAST_WEB_PORT (default 8080), JOBCAST_WEB_ROOT.

import { createHmac } from "node:crypto";
import { readFile, stat } from "node:fs/promises";
import { createServer } from "node:http";
import { extname, join, normalize, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";

const USER_PATTERN = /^[A-Za-z0-9._@|:+-]{1,128}$/;
const MAX_TTL_SECONDS = 86_400;

const TYPES = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json; charset=utf-8",
  ".svg": "image/svg+xml",
  ".map": "application/json; charset=utf-8",
  ".png": "image/png",
  ".ico": "image/x-icon",
};

function base64url(data) {
  return Buffer.from(data).toString("base64url");
}

/**
 * An HS256 JWT with {sub, iat, exp}, as the stack's verifier expects, and `iss` / `aud` when
 * given (a stack configured with an issuer or audience refuses tokens without them).
 */
export function signToken(secret, user, ttlSeconds = 3600, nowSeconds = Math.floor(Date.now() / 1000), { issuer, audience } = {}) {
  const header = base64url(JSON.stringify({ alg: "HS256", typ: "JWT" }));
  const claims = { sub: user };
  if (issuer) claims.iss = issuer;
  if (audience) claims.aud = audience;
  claims.iat = nowSeconds;
  claims.exp = nowSeconds + ttlSeconds;
  const payload = base64url(JSON.stringify(claims));
  const signature = createHmac("sha256", Buffer.from(secret, "utf8")).update(`${header}.${payload}`).digest("base64url");
  return `${header}.${payload}.${signature}`;
}

function send(res, status, body, type = "application/json; charset=utf-8") {
  const data = typeof body === "string" || Buffer.isBuffer(body) ? body : JSON.stringify(body);
  res.writeHead(status, {
    "Content-Type": type,
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
  });
  res.end(data);
}

/** Creates (does not start) the server. `options`: {root, httpUrl, wsUrl, secret, issuer?, audience?}. */
export function createDevServer({ root, httpUrl, wsUrl, secret, issuer, audience }) {
  const rootDir = resolve(root);
  return createServer(async (req, res) => {
    try {
      const url = new URL(req.url ?? "/", "http://dev.invalid");
      if (req.method !== "GET" && req.method !== "HEAD") {
        return send(res, 405, { error: { code: "method_not_allowed", message: "GET only" } });
      }
      if (url.pathname === "/config.json") {
        return send(res, 200, { httpUrl, wsUrl });
      }
      if (url.pathname === "/dev/token") {
        const user = url.searchParams.get("user") ?? "";
        if (!USER_PATTERN.test(user)) {
          return send(res, 400, { error: { code: "bad_request", message: "user must match [A-Za-z0-9._@|:+-]{1,128}" } });
        }
        const ttlParam = url.searchParams.get("ttl");
        const ttl = ttlParam === null ? 3600 : Number(ttlParam);
        if (!Number.isInteger(ttl) || ttl < 1 || ttl > MAX_TTL_SECONDS) {
          return send(res, 400, { error: { code: "bad_request", message: `ttl must be 1..${MAX_TTL_SECONDS}` } });
        }
        if (!secret) return send(res, 500, { error: { code: "internal", message: "JOBCAST_JWT_SECRET is not set" } });
        const now = Math.floor(Date.now() / 1000);
        return send(res, 200, { token: signToken(secret, user, ttl, now, { issuer, audience }), user, expiresAt: now + ttl });
      }
      // Static files of the built demo; nothing outside the root.
      let path;
      try {
        path = decodeURIComponent(url.pathname);
      } catch {
        return send(res, 400, { error: { code: "bad_request", message: "bad path" } });
      }
      if (path.endsWith("/")) path += "index.html";
      const file = normalize(join(rootDir, path));
      if (file !== rootDir && !file.startsWith(rootDir + sep)) {
        return send(res, 404, { error: { code: "not_found", message: "not found" } });
      }
      const info = await stat(file).catch(() => undefined);
      if (!info?.isFile()) return send(res, 404, { error: { code: "not_found", message: "not found" } });
      const body = await readFile(file);
      return send(res, 200, req.method === "HEAD" ? "" : body, TYPES[extname(file)] ?? "application/octet-stream");
    } catch (error) {
      console.error(error);
      if (!res.headersSent) send(res, 500, { error: { code: "internal", message: "internal error" } });
      else res.end();
    }
  });
}

const isMain = process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (isMain) {
  const here = fileURLToPath(new URL(".", import.meta.url));
  const missing = ["JOBCAST_HTTP_URL", "JOBCAST_WS_URL", "JOBCAST_JWT_SECRET"].filter((name) => !process.env[name]);
  if (missing.length > 0) {
    console.error(`serve.mjs: ${missing.join(", ")} not set (source .local/dev/stack.env first)`);
    process.exit(2);
  }
  const host = process.env.JOBCAST_WEB_HOST || "127.0.0.1";
  const port = Number(process.env.JOBCAST_WEB_PORT || 8080);
  const server = createDevServer({
    root: process.env.JOBCAST_WEB_ROOT || join(here, "dist", "demo"),
    httpUrl: process.env.JOBCAST_HTTP_URL,
    wsUrl: process.env.JOBCAST_WS_URL,
    secret: process.env.JOBCAST_JWT_SECRET,
    issuer: process.env.JOBCAST_JWT_ISSUER || undefined,
    audience: process.env.JOBCAST_JWT_AUDIENCE || undefined,
  });
  server.on("error", (error) => {
    console.error(`serve.mjs: ${error.message}`);
    process.exit(1);
  });
  server.listen(port, host, () => {
    console.log(`jobcast demo on http://${host}:${port}/ (dev tokens at /dev/token?user=NAME)`);
  });
  for (const signal of ["SIGINT", "SIGTERM"]) {
    process.on(signal, () => {
      server.close(() => process.exit(0));
      server.closeAllConnections();
    });
  }
}
