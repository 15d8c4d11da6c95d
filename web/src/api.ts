/**
 * web/src/api.ts: the shapes of the browser client's public API: the options `Client.join`
 * takes and the events a `Client` emits. Where the app meets client.ts (which re-exports
 * them); types only, touches nothing.
 */
import type { ErrorInfo } from './report';
import type { Participant, RoleName, Track } from './roster';

export interface ClientEvents {
  joined: { you: Participant; peers: Participant[]; channel: string };
  'peer-joined': Participant;
  'peer-left': { user: string; reason: string };
  'role-changed': { participant: Participant; by: string };
  'hand-changed': Participant;
  'track-published': { user: string; track: Track };
  'track-unpublished': { user: string; track: number };
  'video-track': { user: string; track: number; key: string; canvas: HTMLCanvasElement };
  'video-track-ended': { user: string; track: number; key: string };
  data: { from: string; seq: number; private: boolean; payload: Uint8Array };
  refused: { request: number; code: string; message: string };
  error: ErrorInfo;
  'video-frame': { user: string; track: number; frame: VideoFrame };
  closed: ErrorInfo | null;
  /**
   * The connection: `reconnecting` once the server has been silent for STALL_MS or the
   * connection was lost (the session is being resumed on a new one), `connected` once it is
   * heard again or resumed.
   */
  state: { state: 'reconnecting' | 'connected' };
  event: unknown;
}

export interface JoinOptions {
  /** `host:port` of the server's UDP port. */
  server: string;
  /** The server certificate's SHA-256, hex (colons allowed). */
  hash?: string;
  token: string;
  role?: RoleName;
  /** The channel; by default the token's `ch` claim. */
  channel?: string;
  /** Where the playout worklet is; by default `audio-worklet.js` next to the page. */
  workletUrl?: string;
  /** Receive and play audio (default true). */
  audio?: boolean;
}
