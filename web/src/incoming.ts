/**
 * web/src/incoming.ts: media from the server to the page. Reads the session's incoming
 * unidirectional streams (a video frame each, media.ts framing; at most VIDEO_STREAMS_MAX open,
 * each read within VIDEO_READ_TIMEOUT_MS) and its datagrams (Opus frames), and hands each to
 * the receiver of its publisher track: video.ts draws to a canvas, audio.ts plays through the
 * shared Playout. At most RECEIVERS_MAX receivers of each kind: past it the one idle longest is
 * closed (its stats kept in the report). Names tracks and users through roster.ts, copies
 * stats into report.ts's Report, and reaches the client (keyframe requests, its events) only
 * through IncomingHooks. Touches the session's readable sides only.
 */
import { AudioReceiver, type Playout } from './audio';
import { readVideoStream, decodeAudio, type Layer } from './media';
import { recordStats, type Report } from './report';
import type { Roster } from './roster';
import { VideoReceiver } from './video';

const VIDEO_STREAMS_MAX = 64;
const VIDEO_READ_TIMEOUT_MS = 2000;
/** Most receivers of each kind (a publisher track each). */
export const RECEIVERS_MAX = 256;

export interface IncomingHooks {
  /** Whether the session is over (media is then dropped). */
  ended(): boolean;
  /** Asks the publisher of a track for a keyframe. */
  requestKeyframe(mediaId: number | bigint, track: number, layer: Layer): void;
  /** Whether anyone wants decoded frames (`video-frame`). */
  wantsFrames(): boolean;
  frame(user: string, track: number, frame: VideoFrame): void;
  /** A remote video track sent its first frame (`video-track`). */
  videoTrack(user: string, track: number, key: string, canvas: HTMLCanvasElement): void;
  /** A remote video track's receiver closed (`video-track-ended`). */
  videoTrackEnded(user: string, track: number, key: string): void;
  /** Milliseconds since the join began. */
  sinceJoin(): number;
  /** Something (a video stream or a datagram) arrived from the server. */
  heard(): void;
}

interface Entry<R> {
  receiver: R;
  mediaId: number | bigint;
  track: number;
  user: string;
  /** When it last got media (a counter, not a clock). */
  used: number;
}

const key = (mediaId: number | bigint, track: number) => `${String(mediaId)}:${track}`;

export class Incoming {
  private videos = new Map<string, Entry<VideoReceiver>>();
  private audios = new Map<string, Entry<AudioReceiver>>();
  private openStreams = 0;
  private tick = 0;

  constructor(
    private readonly roster: Roster,
    private readonly playout: Playout,
    private readonly report: Report,
    /** Receive audio at all. */
    private readonly audio: boolean,
    private readonly hooks: IncomingHooks,
  ) {}

  /** Starts reading the session's video streams and datagrams. */
  start(wt: WebTransport): void {
    void this.readVideo(wt);
    void this.readDatagrams(wt);
  }

  /** The canvas a remote video track is drawn to, if it has sent any. */
  canvasOf(user: string, track: number): HTMLCanvasElement | null {
    for (const e of this.videos.values()) {
      if (e.track === track && this.roster.byMedia(e.mediaId)?.user === user) return e.receiver.canvas;
    }
    return null;
  }

  /** Copies the receivers' figures into the report (kept after they close). */
  snapshot(): void {
    for (const e of this.videos.values()) this.record('video', e);
    for (const e of this.audios.values()) this.record('audio', e);
  }

  /** Closes every receiver (snapshot first to keep their figures). */
  close(): void {
    for (const e of this.videos.values()) e.receiver.close();
    for (const e of this.audios.values()) e.receiver.close();
    this.videos.clear();
    this.audios.clear();
  }

  private record(kind: 'video' | 'audio', e: Entry<VideoReceiver> | Entry<AudioReceiver>): void {
    const name = this.roster.trackName(e.mediaId, e.track);
    if (kind === 'video') recordStats(this.report, 'video', name, (e.receiver as VideoReceiver).stats());
    else recordStats(this.report, 'audio', name, (e.receiver as AudioReceiver).stats());
  }

  /** Makes room for one more receiver in `map`: closes the one idle longest, if full. */
  private makeRoom<R extends VideoReceiver | AudioReceiver>(kind: 'video' | 'audio', map: Map<string, Entry<R>>): void {
    if (map.size < RECEIVERS_MAX) return;
    let idle: [string, Entry<R>] | null = null;
    for (const kv of map) if (!idle || kv[1].used < idle[1].used) idle = kv;
    if (!idle) return;
    const [k, e] = idle;
    this.record(kind, e as Entry<VideoReceiver> | Entry<AudioReceiver>);
    map.delete(k);
    e.receiver.close();
    if (e.receiver instanceof VideoReceiver) this.hooks.videoTrackEnded(e.user, e.track, e.receiver.id);
  }

  private async readVideo(wt: WebTransport): Promise<void> {
    const reader = wt.incomingUnidirectionalStreams.getReader();
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        this.hooks.heard();
        if (this.openStreams >= VIDEO_STREAMS_MAX) {
          value.cancel().catch(() => {});
          continue;
        }
        this.openStreams++;
        void this.readOneVideo(value).finally(() => this.openStreams--);
      }
    } catch {
      // Connection closed.
    }
  }

  private async readOneVideo(stream: ReadableStream<Uint8Array>): Promise<void> {
    const timer = setTimeout(() => stream.cancel().catch(() => {}), VIDEO_READ_TIMEOUT_MS);
    let got;
    try {
      got = await readVideoStream(stream);
    } catch (e) {
      if (!this.hooks.ended()) console.warn(`livestage: dropped a video stream: ${(e as Error).message}`);
      return;
    } finally {
      clearTimeout(timer);
    }
    if (this.hooks.ended()) return;
    const { header, data } = got;
    const mediaId = header.media_id;
    const track = Number(header.track);
    const k = key(mediaId, track);
    let e = this.videos.get(k);
    if (!e) {
      this.makeRoom('video', this.videos);
      const user = this.roster.userOf(mediaId);
      const layer: Layer = header.layer;
      const receiver = new VideoReceiver(this.roster.trackName(mediaId, track), {
        requestKeyframe: () => this.hooks.requestKeyframe(mediaId, track, layer),
        wanted: () => this.hooks.wantsFrames(),
        frame: (frame) => this.hooks.frame(user, track, frame),
        sinceJoin: () => this.hooks.sinceJoin(),
      });
      e = { receiver, mediaId, track, user, used: 0 };
      this.videos.set(k, e);
      this.hooks.videoTrack(user, track, receiver.id, receiver.canvas);
    }
    e.used = ++this.tick;
    e.receiver.push(header, data);
  }

  private async readDatagrams(wt: WebTransport): Promise<void> {
    const reader = wt.datagrams.readable.getReader();
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        this.hooks.heard();
        const p = decodeAudio(value);
        if (!p || this.hooks.ended() || !this.audio) continue;
        const k = key(p.mediaId, p.track);
        let e = this.audios.get(k);
        if (!e) {
          this.makeRoom('audio', this.audios);
          const receiver = new AudioReceiver(this.roster.trackName(p.mediaId, p.track), this.playout);
          e = { receiver, mediaId: p.mediaId, track: p.track, user: this.roster.userOf(p.mediaId), used: 0 };
          this.audios.set(k, e);
        }
        e.used = ++this.tick;
        e.receiver.push(p);
      }
    } catch {
      // Connection closed.
    }
  }
}
