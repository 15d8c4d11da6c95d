/**
 * web/src/connection.ts: the browser client's connection to the server, below the session.
 * Sits between client.ts and the browser's WebTransport: checks the browser can connect and
 * decode at all, opens a WebTransport with the certificate hash, bounds a try by a time limit
 * and by its connection closing before the welcome, splits the control stream into decoded
 * frames, reads the link's loss for the `Link` report, and the reconnect loop (backoff until
 * the server's resume window is over, a resume turned into a fresh join when the session is
 * gone). Touches WebTransport and WebCodecs' support checks only; keeps no session state and
 * writes nothing (client.ts owns the session and the control stream's writer).
 */
import { decode, MAX_FRAME } from './codec';
import { hexBytes } from './credentials';
import { LivestageError } from './errors';
import { VIDEO_CODEC } from './video';

/** Nothing from the server this long while joined: report `reconnecting` (as the native client). */
export const STALL_MS = 4000;
/** The server's QUIC idle timeout: it notices a lost connection this long after the silence began. */
const IDLE_TIMEOUT_MS = 15_000;
/** Waits between tries to resume: from the first, doubling up to the last. */
const RETRY_FIRST_MS = 250;
const RETRY_MAX_MS = 4000;
/** How long the first join may take to reach the server and be welcomed. */
export const JOIN_TIMEOUT_MS = 10_000;
/** How long one try to reach the server and be welcomed again may take. */
export const RETRY_TIMEOUT_MS = 5000;

/** How a connection starts: the first join, a resume, or a fresh join after the session expired. */
export type Mode = 'join' | 'resume' | 'rejoin';

/** The server said Goodbye instead of Welcome on a reconnect. */
export class Goodbye extends Error {
  constructor(readonly error: LivestageError) {
    super(error.message);
  }
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Rejects unless this browser has WebTransport and decodes H.264 and Opus. */
export async function checkSupport(): Promise<void> {
  if (typeof WebTransport === 'undefined') {
    throw new LivestageError('unreachable', 'this browser has no WebTransport (a secure context is needed: https or http://localhost)');
  }
  if (typeof VideoDecoder === 'undefined' || typeof AudioDecoder === 'undefined') {
    throw new LivestageError('codec_unsupported', 'this browser has no WebCodecs (VideoDecoder/AudioDecoder)');
  }
  const video = await VideoDecoder.isConfigSupported({ codec: VIDEO_CODEC, optimizeForLatency: true });
  if (!video.supported) {
    throw new LivestageError('codec_unsupported', `this browser cannot decode H.264 (${VIDEO_CODEC})`);
  }
  const audio = await AudioDecoder.isConfigSupported({ codec: 'opus', sampleRate: 48_000, numberOfChannels: 1 });
  if (!audio.supported) throw new LivestageError('codec_unsupported', 'this browser cannot decode Opus');
}

/** The error for a server that cannot be reached over WebTransport, and why. */
export function unreachable(server: string, why: string): LivestageError {
  return new LivestageError(
    'unreachable',
    `cannot reach the Livestage server at ${server} over WebTransport (${why}). ` +
      'The certificate hash may be wrong or expired, or the server is down or has WebTransport disabled.',
  );
}

/** Opens a WebTransport to the server's `/livestage`, trusting the certificate `hash` if given. */
export function dial(server: string, hash: string | undefined): WebTransport {
  try {
    const opts: WebTransportOptions = {};
    if (hash) opts.serverCertificateHashes = [{ algorithm: 'sha-256', value: hexBytes(hash) }];
    return new WebTransport(`https://${server}/livestage`, opts);
  } catch (e) {
    if (e instanceof LivestageError) throw e;
    throw unreachable(server, (e as Error).message);
  }
}

/** A promise that rejects after `ms` (unless cleared first). */
export function timeLimit(ms: number): { late: Promise<never>; clear: () => void } {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms / 1000} s`)), ms);
  });
  late.catch(() => {});
  return { late, clear: () => clearTimeout(timer) };
}

/** A promise that rejects once `wt` closes (a reconnect's try fails when it closes before the welcome). */
export function closedBeforeWelcome(wt: WebTransport): Promise<never> {
  const closed = wt.closed.then(
    () => Promise.reject(new Error('closed before the welcome')),
    (e) => Promise.reject(new Error(String((e as Error)?.message ?? e))),
  );
  closed.catch(() => {});
  return closed;
}

/**
 * Reads length-prefixed frames from the control stream and hands each decoded `ServerFrame` to
 * `onFrame`, while `current()` holds. Returns when the stream ends or breaks; throws on a
 * frame too large or one that does not decode.
 */
export async function readFrames(
  readable: ReadableStream<Uint8Array>,
  current: () => boolean,
  onFrame: (f: unknown) => void,
): Promise<void> {
  const reader = readable.getReader();
  let buf = new Uint8Array(0);
  for (;;) {
    let got: ReadableStreamReadResult<Uint8Array>;
    try {
      got = await reader.read();
    } catch {
      // The connection broke: the client's onClosed ends or resumes the session.
      return;
    }
    const { value, done } = got;
    if (done || !current()) return;
    const joined = new Uint8Array(buf.length + value.length);
    joined.set(buf);
    joined.set(value, buf.length);
    buf = joined;
    for (;;) {
      if (buf.length < 4) break;
      const len = new DataView(buf.buffer, buf.byteOffset, 4).getUint32(0);
      if (len > MAX_FRAME) throw new LivestageError('protocol_error', `control frame of ${len} bytes exceeds ${MAX_FRAME}`);
      if (buf.length < 4 + len) break;
      const body = buf.slice(4, 4 + len);
      buf = buf.slice(4 + len);
      if (!current()) return;
      onFrame(decode('ServerFrame', body));
    }
  }
}

export interface PacketCounts {
  sent: number;
  lost: number;
}

/**
 * The uplink's loss in percent since `last` (0 when unknown), and the counts now (undefined
 * when the browser gives none).
 */
export async function linkLoss(wt: WebTransport, last: PacketCounts | null): Promise<{ loss: number; counts?: PacketCounts }> {
  let loss = 0;
  try {
    const stats = (await (wt as unknown as { getStats(): Promise<Record<string, unknown>> }).getStats()) ?? {};
    const sent = Number(stats.packetsSent ?? NaN);
    const lost = Number(stats.packetsLost ?? NaN);
    if (Number.isFinite(sent) && Number.isFinite(lost)) {
      if (last) {
        const ds = sent - last.sent;
        const dl = lost - last.lost;
        if (ds > 0 && dl > 0) loss = Math.min(100, Math.round((100 * dl) / ds));
      }
      return { loss, counts: { sent, lost } };
    }
  } catch {
    // No stats: report 0; the frame still keeps the connection alive.
  }
  return { loss };
}

/** What the reconnect loop needs from the session. */
export interface Reconnect {
  server: string;
  /** How the first try starts: `resume` when there is a session to resume. */
  mode: Mode;
  /** How long the server keeps a lost session (the welcome's `resume_secs`). */
  secs: number;
  /** When anything last arrived from the server (performance.now()). */
  lastHeard: number;
  /** The session ended or is being left: stop trying. */
  stopped(): boolean;
  /** One try: a new connection, resolved once welcomed; rejects with Goodbye when refused. */
  open(mode: Mode): Promise<void>;
  /** The try as `mode` was welcomed. */
  reconnected(mode: Mode): void;
  /** Neither resuming nor joining afresh worked: the session is over. */
  end(e: LivestageError): void;
}

/**
 * Tries new connections with backoff until the server's resume window is over: resumes the
 * session, or joins afresh if the server no longer has it; ends when neither works.
 */
export async function reconnect(r: Reconnect): Promise<void> {
  const deadline = Math.max(performance.now(), r.lastHeard + IDLE_TIMEOUT_MS) + r.secs * 1000;
  let mode = r.mode;
  let wait = RETRY_FIRST_MS;
  while (!r.stopped()) {
    try {
      await r.open(mode);
      r.reconnected(mode);
      return;
    } catch (e) {
      if (r.stopped()) return;
      if (e instanceof Goodbye) {
        // The session is gone (expired): join afresh; a refused join ends the session.
        if (mode === 'resume') {
          mode = 'rejoin';
          continue;
        }
        return r.end(e.error);
      }
    }
    const left = deadline - performance.now();
    if (left <= 0) {
      return r.end(new LivestageError('unreachable', `lost the connection to ${r.server} and could not reconnect within ${r.secs} s`));
    }
    await sleep(Math.min(wait, left));
    wait = Math.min(wait * 2, RETRY_MAX_MS);
  }
}
