/** Receiving video: a decoder per publisher track, frames drawn to a canvas, stamps read back. */
import { Reorder, type VideoHeader } from './media';
import { bandHeight, nowMs, readStamp } from './stamp';

export const VIDEO_CODEC = 'avc1.42001f';
/** Most frames queued in a decoder before incoming ones are dropped (until a keyframe). */
const MAX_DECODE_QUEUE = 8;
/** How long an early frame waits for a missing one. */
const REORDER_WAIT_MS = 100;
/** Least time between two keyframe requests for a track. */
const KEYFRAME_RETRY_MS = 250;

export interface Percentiles {
  p50: number;
  p95: number;
  max: number;
}

export function percentiles(samples: number[]): Percentiles {
  if (samples.length === 0) return { p50: 0, p95: 0, max: 0 };
  const s = [...samples].sort((a, b) => a - b);
  const at = (q: number) => Math.round(s[Math.round((s.length - 1) * q)] * 10) / 10;
  return { p50: at(0.5), p95: at(0.95), max: at(1) };
}

export interface VideoStats {
  frames: number;
  latency_ms: Percentiles;
  first_frame_ms: number | null;
  decode_errors: number;
  in_order: boolean;
  skipped: number;
}

export interface VideoReceiverHooks {
  /** Ask the publisher for a keyframe (throttled here). */
  requestKeyframe(): void;
  /** A decoded frame, for the app (it must close it); called only when wanted() is true. */
  frame?(frame: VideoFrame): void;
  wanted(): boolean;
  /** Milliseconds since the join began. */
  sinceJoin(): number;
}

interface Queued {
  header: VideoHeader;
  data: Uint8Array;
}

/** One remote video track. */
export class VideoReceiver {
  readonly canvas: HTMLCanvasElement;
  private ctx: CanvasRenderingContext2D | null;
  private band: OffscreenCanvas | null = null;
  private bandCtx: OffscreenCanvasRenderingContext2D | null = null;
  private decoder: VideoDecoder | null = null;
  private needKey = true;
  private askedAt = -Infinity;
  private reorder = new Reorder<Queued>(REORDER_WAIT_MS);
  private wake: ReturnType<typeof setTimeout> | null = null;
  private pending = new Map<number, number>(); // chunk timestamp -> wire frame number
  private counter = 0;
  private last: number | null = null;
  private latencies: number[] = [];
  private stats_: VideoStats = {
    frames: 0,
    latency_ms: { p50: 0, p95: 0, max: 0 },
    first_frame_ms: null,
    decode_errors: 0,
    in_order: true,
    skipped: 0,
  };
  private closed = false;

  constructor(readonly id: string, private hooks: VideoReceiverHooks) {
    this.canvas = document.createElement('canvas');
    this.canvas.width = 1280;
    this.canvas.height = 720;
    this.canvas.dataset.livestageTrack = id;
    this.ctx = this.canvas.getContext('2d');
  }

  /** A frame as it came off the wire. */
  push(header: VideoHeader, data: Uint8Array): void {
    if (this.closed) return;
    const now = performance.now();
    this.reorder.push(Number(header.stream), Number(header.frame), header.keyframe, { header, data }, now);
    this.drain();
  }

  private drain(): void {
    const now = performance.now();
    for (;;) {
      const next = this.reorder.pop(now);
      if (!next) break;
      if (next.gap && !next.item.header.keyframe) {
        // Frames were given up on: the picture is broken until a keyframe.
        this.needKey = true;
      }
      this.decode(next.item);
    }
    const at = this.reorder.wakeAt();
    if (at !== null && this.wake === null) {
      this.wake = setTimeout(() => {
        this.wake = null;
        this.drain();
      }, Math.max(1, at - now));
    }
  }

  private askKeyframe(): void {
    const now = performance.now();
    if (now - this.askedAt >= KEYFRAME_RETRY_MS) {
      this.askedAt = now;
      this.hooks.requestKeyframe();
    }
  }

  private makeDecoder(): VideoDecoder {
    const d = new VideoDecoder({
      output: (frame) => this.output(frame),
      error: (e) => {
        console.warn(`livestage: video decoder of ${this.id} failed: ${e.message}`);
        this.stats_.decode_errors++;
        this.decoder = null;
        this.needKey = true;
        this.askKeyframe();
      },
    });
    d.configure({ codec: VIDEO_CODEC, optimizeForLatency: true });
    return d;
  }

  private decode({ header, data }: Queued): void {
    if (this.needKey) {
      if (!header.keyframe) {
        // Joined mid-GOP or lost frames: wait for a keyframe, ask for one.
        this.askKeyframe();
        return;
      }
      this.needKey = false;
    }
    if (this.decoder && this.decoder.decodeQueueSize > MAX_DECODE_QUEUE && !header.keyframe) {
      // The decoder cannot keep up: drop until the next keyframe.
      this.needKey = true;
      this.askKeyframe();
      return;
    }
    this.decoder ??= this.makeDecoder();
    const ts = this.counter++;
    this.pending.set(ts, Number(header.frame));
    if (this.pending.size > 64) this.pending.delete(this.pending.keys().next().value!);
    try {
      this.decoder.decode(
        new EncodedVideoChunk({ type: header.keyframe ? 'key' : 'delta', timestamp: ts, data }),
      );
    } catch (e) {
      console.warn(`livestage: video decode of ${this.id} refused: ${(e as Error).message}`);
      this.stats_.decode_errors++;
      if (this.decoder.state !== 'closed') this.decoder.close();
      this.decoder = null;
      this.needKey = true;
      this.askKeyframe();
    }
  }

  private output(frame: VideoFrame): void {
    const arrived = nowMs();
    try {
      const wire = this.pending.get(frame.timestamp);
      this.pending.delete(frame.timestamp);
      const w = frame.displayWidth;
      const h = frame.displayHeight;
      if (this.canvas.width !== w || this.canvas.height !== h) {
        this.canvas.width = w;
        this.canvas.height = h;
      }
      this.ctx?.drawImage(frame, 0, 0, w, h);
      const stamp = this.readStamp(frame, w, h);
      const s = this.stats_;
      s.frames++;
      s.first_frame_ms ??= Math.round(this.hooks.sinceJoin());
      let number: number;
      if (stamp) {
        this.latencies.push(arrived - Number(stamp.captureUs) / 1000);
        if (this.latencies.length > 100_000) this.latencies.splice(0, 50_000);
        number = Number(stamp.frameNumber);
      } else {
        number = wire ?? (this.last ?? -1) + 1;
      }
      if (this.last !== null) {
        if (number <= this.last) s.in_order = false;
        else s.skipped += number - this.last - 1;
      }
      this.last = Math.max(number, this.last ?? number);
      if (this.hooks.frame && this.hooks.wanted()) this.hooks.frame(frame.clone());
    } finally {
      frame.close();
    }
  }

  /** Reads the stamp from the band of the decoded picture only. */
  private readStamp(frame: VideoFrame, w: number, h: number) {
    const band = bandHeight(w, h);
    if (band === 0) return null;
    if (!this.band || this.band.width !== w || this.band.height !== band) {
      this.band = new OffscreenCanvas(w, band);
      this.bandCtx = this.band.getContext('2d', { willReadFrequently: true });
    }
    if (!this.bandCtx) return null;
    this.bandCtx.drawImage(frame, 0, 0, w, band, 0, 0, w, band);
    const pixels = this.bandCtx.getImageData(0, 0, w, band).data;
    return readStamp(pixels, w, h);
  }

  stats(): VideoStats {
    return { ...this.stats_, latency_ms: percentiles(this.latencies), skipped: this.stats_.skipped };
  }

  close(): void {
    this.closed = true;
    if (this.wake !== null) clearTimeout(this.wake);
    if (this.decoder && this.decoder.state !== 'closed') this.decoder.close();
    this.decoder = null;
    this.canvas.remove();
  }
}
