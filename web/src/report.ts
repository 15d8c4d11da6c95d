/**
 * web/src/report.ts: what a client has done and received, in the native bot's report shape
 * (`Report`), which the demo page hands to web/scripts/page.mjs and tests/web.rs checks as it
 * checks the bot's. client.ts notes joins, peers, data, refusals and errors in it as they
 * happen; incoming.ts copies its receivers' stats in (`recordStats`); `finalReport` is what
 * `Client.report()` returns. Plain data, no I/O; every list and record in it is capped.
 */
import type { AudioStats } from './audio';
import type { RoleName } from './roster';
import type { VideoStats } from './video';

export interface ErrorInfo {
  code: string;
  message: string;
}

/** What a client has done and received, in the native bot's report shape. */
export interface Report {
  joined: boolean;
  error: ErrorInfo | null;
  user: string;
  channel: string;
  role: RoleName | null;
  peers: string[];
  join_ms: number | null;
  data: { sent: number; received: number; from: Record<string, number> };
  video: Record<string, VideoStats>;
  audio: Record<string, AudioStats>;
  published: { video_frames: number; audio_frames: number };
  refused: { request: number; code: string; message: string }[];
  /** Sessions resumed (or joined afresh) after the connection was lost (the `reconnects` the native bot reports). */
  reconnects: number;
}

/** Most entries in any list or record of a report (peers, data senders, tracks). */
export const REPORT_KEYS_MAX = 4096;
/** Most refusals kept (the latest). */
export const REFUSED_MAX = 100;

export function emptyReport(user: string, channel: string): Report {
  return {
    joined: false,
    error: null,
    user,
    channel,
    role: null,
    peers: [],
    join_ms: null,
    data: { sent: 0, received: 0, from: {} },
    video: {},
    audio: {},
    published: { video_frames: 0, audio_frames: 0 },
    refused: [],
    reconnects: 0,
  };
}

/** The first error only. */
export function noteError(r: Report, e: ErrorInfo): void {
  if (!r.error) r.error = { code: e.code, message: e.message };
}

/** A peer this client saw (once each). */
export function notePeer(r: Report, user: string): void {
  if (r.peers.length < REPORT_KEYS_MAX && !r.peers.includes(user)) r.peers.push(user);
}

/** A data message received from `from`. */
export function noteData(r: Report, from: string): void {
  r.data.received++;
  const by = r.data.from;
  if (Object.hasOwn(by, from)) by[from]++;
  else if (Object.keys(by).length < REPORT_KEYS_MAX) by[from] = 1;
}

/** A request (0: media) the server refused; the latest REFUSED_MAX are kept. */
export function noteRefused(r: Report, request: number, code: string, message: string): void {
  r.refused.push({ request, code, message });
  if (r.refused.length > REFUSED_MAX) r.refused.splice(0, r.refused.length - REFUSED_MAX);
}

/**
 * A receiver's figures under its track name (`user/camera`), and under the plain user for a
 * camera or microphone, as the bot reports them.
 */
export function recordStats(r: Report, kind: 'video', name: string, stats: VideoStats): void;
export function recordStats(r: Report, kind: 'audio', name: string, stats: AudioStats): void;
export function recordStats(r: Report, kind: 'video' | 'audio', name: string, stats: VideoStats | AudioStats): void {
  const into = r[kind] as Record<string, VideoStats | AudioStats>;
  put(into, name, stats);
  const plain = name.replace(/\/(camera|microphone)$/, '');
  if (plain !== name) put(into, plain, stats);
}

function put<T>(into: Record<string, T>, name: string, value: T): void {
  if (Object.hasOwn(into, name) || Object.keys(into).length < REPORT_KEYS_MAX) into[name] = value;
}

/** A copy of `r` to hand out: `published` adds the publications still running, peers sorted. */
export function finalReport(r: Report, published: { video_frames: number; audio_frames: number }): Report {
  return JSON.parse(JSON.stringify({ ...r, published, peers: [...r.peers].sort() }));
}
