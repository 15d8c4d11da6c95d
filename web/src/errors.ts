/**
 * web/src/errors.ts: the client's errors: LivestageError with a stable snake_case code (the
 * server's `ErrorCode` names, as the native client reports them, or the client's own such as
 * `unreachable`). Used by every part of the client that can fail; touches nothing.
 */

/** An error with a stable code (`unreachable`, `token_invalid`, `codec_unsupported`, ...). */
export class LivestageError extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
    this.name = 'LivestageError';
  }
}

/** `TokenInvalid` -> `token_invalid` (the stable snake_case names). */
export function snakeCode(code: unknown): string {
  const s = String(code);
  return s.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toLowerCase();
}
