/**
 * web/src/outgoing.ts: this client's published media on the wire. Runs the publishers
 * (publish.ts: camera or pattern -> H.264, microphone or tone -> Opus) and sends what they
 * encode on the WebTransport client.ts opened: each video frame on a unidirectional stream of
 * its own (at most VIDEO_IN_FLIGHT at once; one not written within VIDEO_DEADLINE_MS is
 * abandoned and the next frame sent is a keyframe), each Opus frame in a datagram (dropped when
 * the queue is full), all under one publication's stream id and counters (media.ts framing).
 * Sends a track only once the server confirmed it (`allow`). Touches the session's outgoing
 * streams and datagrams only; client.ts makes the Publish requests and handles refusals.
 */
import { encodeAudio, videoStreamBytes } from './media';
import { AudioPublisher, CAMERA_TRACK, MediaError, MICROPHONE_TRACK, VideoPublisher } from './publish';
import type { Track } from './roster';

const VIDEO_IN_FLIGHT = 4;
const VIDEO_DEADLINE_MS = 500;

export interface PublishOptions {
  video?: 'camera' | 'pattern' | null;
  audio?: string | null;
}

export interface Published {
  video_frames: number;
  audio_frames: number;
}

export class Outgoing {
  private wt: WebTransport | null = null;
  private datagrams: WritableStreamDefaultWriter<Uint8Array> | null = null;
  private closed = false;
  private videoPublisher: VideoPublisher | null = null;
  private audioPublisher: AudioPublisher | null = null;
  private stream = 0;
  private videoFrame = 0;
  private audioSeq = 0;
  private videoInFlight = 0;
  /** Bumped on each attach and detach: sends on an earlier session no longer count in flight. */
  private generation = 0;
  private videoNeedsKey = true;
  /** Local tracks the server has confirmed (media may flow). */
  private allowed = new Set<number>();
  /** Frames sent by publications that have stopped. */
  private done: Published = { video_frames: 0, audio_frames: 0 };

  /** The session to send on, once it is up. */
  attach(wt: WebTransport, datagrams: WritableStreamDefaultWriter<Uint8Array>): void {
    this.wt = wt;
    this.datagrams = datagrams;
    this.generation++;
    this.videoInFlight = 0;
    // The first video frame on a (new) session is a keyframe.
    this.videoNeedsKey = true;
    this.videoPublisher?.keyframe();
  }

  /**
   * The session is gone (a reconnect may follow): media is dropped, not queued, until the
   * next `attach`, and the first video frame sent then is a keyframe.
   */
  detach(): void {
    this.wt = null;
    this.datagrams = null;
    this.generation++;
    this.videoInFlight = 0;
    this.videoNeedsKey = true;
  }

  /**
   * Starts a publication (a new stream id, counters from 0) with the sources asked for, and
   * returns its tracks. Throws what a publisher threw (a MediaError) after stopping them all.
   */
  async start(options: PublishOptions, onError: (e: MediaError) => void): Promise<Track[]> {
    this.stop();
    this.stream = (Math.random() * 0x1_0000_0000) >>> 0;
    this.videoFrame = 0;
    this.audioSeq = 0;
    this.videoNeedsKey = true;
    const tracks: Track[] = [];
    try {
      if (options.video) {
        this.videoPublisher = await VideoPublisher.start(options.video, (d, k, c) => this.sendVideo(d, k, c), onError);
        tracks.push({ id: CAMERA_TRACK, kind: 'video', source: 'camera', name: '', low_layer: false, muted: false });
      }
      if (options.audio) {
        this.audioPublisher = await AudioPublisher.start(options.audio, (d, c) => this.sendAudio(d, c), onError);
        tracks.push({ id: MICROPHONE_TRACK, kind: 'audio', source: 'microphone', name: '', low_layer: false, muted: false });
      }
    } catch (e) {
      this.stop();
      throw e;
    }
    return tracks;
  }

  /** Whether a publisher runs. */
  get publishing(): boolean {
    return this.videoPublisher !== null || this.audioPublisher !== null;
  }

  /** The server confirmed these tracks: their media may flow. */
  allow(tracks: Iterable<number>): void {
    for (const t of tracks) this.allowed.add(t);
  }

  /** Exactly these tracks may flow (this client's own participant, as the server sees it). */
  allowOnly(tracks: Iterable<number>): void {
    this.allowed = new Set(tracks);
  }

  /** The next video frame is encoded as a keyframe. */
  keyframe(): void {
    this.videoPublisher?.keyframe();
  }

  /** Frames sent, by the stopped publications and the running ones. */
  frames(): Published {
    const f = { ...this.done };
    if (this.videoPublisher) f.video_frames += this.videoPublisher.frames;
    if (this.audioPublisher) f.audio_frames += this.audioPublisher.frames;
    return f;
  }

  /** Stops the publishers (their frames are counted) and allows no track. */
  stop(): void {
    this.done = this.frames();
    this.videoPublisher?.stop();
    this.audioPublisher?.stop();
    this.videoPublisher = null;
    this.audioPublisher = null;
    this.allowed.clear();
  }

  /** The session is over: stops, and sends nothing more. */
  close(): void {
    this.closed = true;
    this.stop();
  }

  private sendVideo(data: Uint8Array, keyframe: boolean, captureUs: bigint): boolean {
    const wt = this.wt;
    if (!wt || this.closed || !this.allowed.has(CAMERA_TRACK)) {
      this.videoNeedsKey = true;
      return false;
    }
    if (this.videoNeedsKey && !keyframe) return false;
    if (this.videoInFlight >= VIDEO_IN_FLIGHT) {
      this.videoNeedsKey = true;
      return false;
    }
    this.videoNeedsKey = false;
    const header = {
      media_id: 0,
      track: CAMERA_TRACK,
      layer: 'High' as const,
      stream: this.stream,
      frame: this.videoFrame++,
      keyframe,
      capture_us: captureUs,
    };
    const bytes = videoStreamBytes(header, data);
    const generation = this.generation;
    this.videoInFlight++;
    void (async () => {
      let writer: WritableStreamDefaultWriter<Uint8Array> | null = null;
      const timer = setTimeout(() => {
        // Late: abandon rather than queue; the next frame sent is a keyframe.
        this.videoNeedsKey = true;
        this.videoPublisher?.keyframe();
        writer?.abort().catch(() => {});
      }, VIDEO_DEADLINE_MS);
      try {
        const s = await wt.createUnidirectionalStream();
        writer = s.getWriter();
        await writer.write(bytes);
        await writer.close();
      } catch {
        this.videoNeedsKey = true;
        this.videoPublisher?.keyframe();
      } finally {
        clearTimeout(timer);
        if (generation === this.generation) this.videoInFlight--;
      }
    })();
    return true;
  }

  private sendAudio(payload: Uint8Array, captureUs: bigint): void {
    const w = this.datagrams;
    if (!w || this.closed || !this.allowed.has(MICROPHONE_TRACK)) return;
    const d = encodeAudio({ mediaId: 0n, track: MICROPHONE_TRACK, stream: this.stream, seq: this.audioSeq++, captureUs, payload });
    if ((w.desiredSize ?? 1) <= 0) return; // the datagram queue is full: drop
    w.write(d).catch(() => {});
  }
}
