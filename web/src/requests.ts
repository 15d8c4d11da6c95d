/**
 * web/src/requests.ts: the browser client's requests in flight, as numbered on the control
 * stream. Sits between the app's calls (client.ts `request`) and the server's answers: gives
 * each request its sequence number and promise, resolves them on `Ack` (and on a resume's
 * `Welcome.received`), rejects them on `Refused` or when the session ends, caps how many wait,
 * lists the unanswered ones to send again after a resume and renumbers them from 1 for a fresh
 * join. Pure state: touches no browser API and writes nothing (client.ts sends what it says).
 */
import { LivestageError } from './errors';

/** Most requests awaiting an answer; past it the oldest is given up on. */
export const REQUESTS_MAX = 1024;

interface Pending {
  request: string;
  /** The request itself, to send again after a resume. */
  body: unknown;
  resolve: () => void;
  reject: (e: LivestageError) => void;
}

export class Requests {
  private nextSeq = 1;
  private readonly pending = new Map<number, Pending>();

  constructor(private readonly max = REQUESTS_MAX) {}

  /** How many requests await an answer. */
  get size(): number {
    return this.pending.size;
  }

  /**
   * Numbers a new request; `seq` is null (and `done` rejected) when it is refused here. `held`:
   * there is no connection to send it on yet (a reconnect is under way), so rather than drop
   * the oldest (sequence numbers must not skip), refuse it once `max` wait.
   */
  add(request: unknown, held: boolean): { seq: number | null; done: Promise<void> } {
    const name = typeof request === 'string' ? request : Object.keys(request as object)[0];
    if (held && this.pending.size >= this.max) {
      const done = Promise.reject(new LivestageError('protocol_error', `${name}: ${this.max} requests wait for the reconnect`));
      return { seq: null, done };
    }
    const seq = this.nextSeq++;
    const done = new Promise<void>((resolve, reject) => {
      this.pending.set(seq, { request: name, body: request, resolve, reject });
      if (this.pending.size > this.max) {
        // The server answers none: give up on the oldest rather than hold them all.
        const [oldest, r] = this.pending.entries().next().value!;
        this.pending.delete(oldest);
        r.reject(new LivestageError('protocol_error', `${r.request}: no answer from the server to ${this.max} requests`));
      }
    });
    return { seq, done };
  }

  /** The server applied every request up to `upto`: resolves them. */
  acked(upto: number): void {
    for (const [seq, r] of this.pending) {
      if (seq <= upto) {
        this.pending.delete(seq);
        r.resolve();
      }
    }
  }

  /** The server refused request `seq` (0: media): rejects it with `code`, if it is waiting. */
  refused(seq: number, code: string, message: string): void {
    const pending = this.pending.get(seq);
    if (!pending) return;
    this.pending.delete(seq);
    pending.reject(new LivestageError(code, `${pending.request} refused: ${message}`));
  }

  /** The unanswered requests, oldest first, to send again on a new connection. */
  unanswered(): { seq: number; request: unknown }[] {
    return [...this.pending].map(([seq, r]) => ({ seq, request: r.body }));
  }

  /** A fresh session numbers requests from 1 again: renumbers the waiting ones in order. */
  renumber(): void {
    const waiting = [...this.pending.values()];
    this.pending.clear();
    this.nextSeq = 1;
    for (const r of waiting) this.pending.set(this.nextSeq++, r);
  }

  /** The session is over: rejects every waiting request with `code`. */
  fail(code: string, message: string): void {
    for (const r of this.pending.values()) r.reject(new LivestageError(code, message));
    this.pending.clear();
  }
}
