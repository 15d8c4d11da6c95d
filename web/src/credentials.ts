/**
 * web/src/credentials.ts: what the client reads from what it is given to join: the token's
 * claims (unverified: the channel and the user it names; the server checks the token) and the
 * server certificate's hash. Pure functions (atob only); client.ts calls them when it is made
 * and when it connects.
 */
import { LivestageError } from './errors';

/** The certificate hash (hex, `sha256:` and colons allowed) as the 32 bytes WebTransport takes. */
export function hexBytes(hex: string): Uint8Array<ArrayBuffer> {
  const clean = hex.replace(/^sha256:/i, '').replace(/[^0-9a-f]/gi, '');
  if (clean.length !== 64) throw new LivestageError('invalid_input', `certificate hash must be 64 hex digits, got ${clean.length}`);
  const out = new Uint8Array(32);
  for (let i = 0; i < 32; i++) out[i] = parseInt(clean.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** The claims of a JWT, unverified (the server checks it). */
export function tokenClaims(token: string): { ch?: string; sub?: string; exp?: number; grants?: string[] } {
  try {
    const part = token.split('.')[1];
    const b64 = part.replace(/-/g, '+').replace(/_/g, '/');
    return JSON.parse(atob(b64 + '='.repeat((4 - (b64.length % 4)) % 4)));
  } catch {
    return {};
  }
}
