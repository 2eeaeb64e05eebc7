// A socket lives only as long as the token it was opened with: the server refuses its frames and
// closes it once `exp` (plus a small leeway) has passed. This reads a JWT's `exp` and `iat`, and
// decides when to renew. The client never verifies a token (the server does); an opaque token,
// or a JWT without `exp`, simply gets no renewal.

/** A token's times, in milliseconds since the epoch. */
export interface TokenLifetime {
  expiresAt: number;
  /** `iat`, when the token has one earlier than `exp`. */
  issuedAt?: number;
}

/** `exp` and `iat` from a JWT's payload; `undefined` for anything else. */
export function tokenLifetime(token: string): TokenLifetime | undefined {
  const parts = token.split(".");
  if (parts.length !== 3 || parts[1] === undefined) return undefined;
  let claims: unknown;
  try {
    claims = JSON.parse(decodeBase64Url(parts[1]));
  } catch {
    return undefined;
  }
  if (typeof claims !== "object" || claims === null) return undefined;
  const { exp, iat } = claims as { exp?: unknown; iat?: unknown };
  if (typeof exp !== "number" || !Number.isFinite(exp) || exp <= 0) return undefined;
  const lifetime: TokenLifetime = { expiresAt: exp * 1000 };
  if (typeof iat === "number" && Number.isFinite(iat) && iat < exp) lifetime.issuedAt = iat * 1000;
  return lifetime;
}

/**
 * How far ahead of `exp` to renew: 10 % of the token's lifetime, within [5 s, 60 s]. Five seconds
 * at least covers a token fetch, a WebSocket handshake and the resubscriptions on a slow network,
 * plus a few seconds of clock skew between browser and server; a minute at most, because renewing
 * an hour-long token earlier than that buys nothing.
 */
export const RENEW_AHEAD = { fraction: 0.1, minMs: 5_000, maxMs: 60_000 } as const;

/**
 * A token shorter than the margin would otherwise be renewed at once, and its successor at once
 * again: never renew before half of what is left has passed, nor sooner than this.
 */
export const MIN_RENEW_DELAY_MS = 1_000;

/**
 * Milliseconds from `now` until the socket opened with this token should be replaced, or
 * `undefined` when the token already looks expired (a stale token, or a browser clock far off):
 * then the server's close, followed by the usual reconnect with a fresh token, is the remedy.
 */
export function renewalDelay(lifetime: TokenLifetime, now: number): number | undefined {
  const remaining = lifetime.expiresAt - now;
  if (remaining <= 0) return undefined;
  const total = lifetime.issuedAt === undefined ? remaining : lifetime.expiresAt - lifetime.issuedAt;
  const ahead = Math.min(RENEW_AHEAD.maxMs, Math.max(RENEW_AHEAD.minMs, total * RENEW_AHEAD.fraction));
  return Math.round(Math.max(MIN_RENEW_DELAY_MS, remaining - ahead, remaining / 2));
}

function decodeBase64Url(text: string): string {
  const base64 = text.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(text.length / 4) * 4, "=");
  const binary = atob(base64);
  const bytes = Uint8Array.from(binary, (c) => c.charCodeAt(0));
  return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
}
