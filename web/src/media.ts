/** Media on the wire: video frames on unidirectional streams, Opus frames in datagrams. */
import { encode, decode } from './codec';

export const STREAM_VIDEO = 1;
export const MAX_VIDEO_HEADER = 64;
export const MAX_VIDEO_FRAME = 4 * 1024 * 1024;
export const MAX_AUDIO_PAYLOAD = 1200;
export const AUDIO_HEADER = 25;

export type Layer = 'High' | 'Low';

/** The postcard `VideoHeader`, in the codec's JSON shape. */
export interface VideoHeader {
  media_id: number | bigint;
  track: number;
  layer: Layer;
  stream: number;
  frame: number | bigint;
  keyframe: boolean;
  capture_us: number | bigint;
}

/** Stream prefix + header + frame, as one buffer to write to a new unidirectional stream. */
export function videoStreamBytes(header: VideoHeader, data: Uint8Array): Uint8Array {
  const body = encode('VideoHeader', header);
  if (body.length > MAX_VIDEO_HEADER) throw new Error(`video header of ${body.length} bytes`);
  const out = new Uint8Array(2 + body.length + data.length);
  out[0] = STREAM_VIDEO;
  out[1] = body.length;
  out.set(body, 2);
  out.set(data, 2 + body.length);
  return out;
}

/** Reads one video stream to its end: the header and the frame. Throws on anything malformed. */
export async function readVideoStream(
  stream: ReadableStream<Uint8Array>,
): Promise<{ header: VideoHeader; data: Uint8Array }> {
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  const limit = 2 + MAX_VIDEO_HEADER + MAX_VIDEO_FRAME;
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      total += value.length;
      if (total > limit) {
        throw new Error(`video stream over ${limit} bytes`);
      }
      chunks.push(value);
      // Check the prefix as soon as it is in.
      if (chunks.length === 1 || total - value.length < 2) {
        const first = chunks[0];
        if (first.length >= 1 && first[0] !== STREAM_VIDEO) {
          throw new Error(`unknown stream type ${first[0]}`);
        }
      }
    }
  } catch (e) {
    reader.cancel().catch(() => {});
    throw e;
  }
  const all = chunks.length === 1 ? chunks[0] : concat(chunks, total);
  if (all.length < 2) throw new Error('video stream ended early');
  if (all[0] !== STREAM_VIDEO) throw new Error(`unknown stream type ${all[0]}`);
  const len = all[1];
  if (len > MAX_VIDEO_HEADER || all.length < 2 + len) {
    throw new Error(`video header length ${len} is invalid`);
  }
  const header = decode('VideoHeader', all.subarray(2, 2 + len)) as VideoHeader;
  return { header, data: all.subarray(2 + len) };
}

function concat(chunks: Uint8Array[], total: number): Uint8Array {
  const out = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

export interface AudioPacket {
  mediaId: bigint;
  track: number;
  stream: number;
  seq: number;
  captureUs: bigint;
  payload: Uint8Array;
}

export function encodeAudio(p: AudioPacket): Uint8Array {
  const out = new Uint8Array(AUDIO_HEADER + p.payload.length);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, p.mediaId);
  view.setUint8(8, p.track);
  view.setUint32(9, p.stream >>> 0);
  view.setUint32(13, p.seq >>> 0);
  view.setBigUint64(17, p.captureUs);
  out.set(p.payload, AUDIO_HEADER);
  return out;
}

/** Parses a datagram; null for a probe (empty) or a malformed one. */
export function decodeAudio(d: Uint8Array): AudioPacket | null {
  if (d.length < AUDIO_HEADER || d.length > AUDIO_HEADER + MAX_AUDIO_PAYLOAD) return null;
  const view = new DataView(d.buffer, d.byteOffset, d.byteLength);
  return {
    mediaId: view.getBigUint64(0),
    track: view.getUint8(8),
    stream: view.getUint32(9),
    seq: view.getUint32(13),
    captureUs: view.getBigUint64(17),
    payload: d.subarray(AUDIO_HEADER),
  };
}

/** Holds early video frames until the missing one arrives (see proto/src/reorder.rs). */
export class Reorder<T> {
  private stream: number | null = null;
  private next: number | null = null;
  private pending = new Map<number, { item: T; keyframe: boolean; arrived: number }>();
  skipped = 0;

  constructor(private maxWaitMs: number, private maxPending = 64) {}

  push(stream: number, frame: number, keyframe: boolean, item: T, now: number): void {
    if (this.stream !== stream) {
      this.skipped += this.pending.size;
      this.pending.clear();
      this.next = null;
      this.stream = stream;
    }
    if (this.next !== null && frame < this.next) return;
    this.pending.set(frame, { item, keyframe, arrived: now });
    while (this.pending.size > this.maxPending) {
      this.pending.delete(this.firstKey()!);
      this.skipped++;
    }
  }

  private firstKey(): number | null {
    let first: number | null = null;
    for (const k of this.pending.keys()) if (first === null || k < first) first = k;
    return first;
  }

  /** The next frame to decode, and whether frames were given up to get there. */
  pop(now: number): { item: T; gap: boolean } | null {
    const first = this.firstKey();
    if (first === null) return null;
    const next = this.next ?? first;
    let gap = false;
    if (first !== next) {
      let key: number | null = null;
      for (const [f, p] of this.pending) if (p.keyframe && (key === null || f < key)) key = f;
      const oldest = this.pending.get(first)!;
      let resume: number;
      if (key !== null) resume = key;
      else if (now >= oldest.arrived + this.maxWaitMs) resume = first;
      else return null;
      for (const f of [...this.pending.keys()]) if (f < resume) this.pending.delete(f);
      this.skipped += resume - next;
      gap = true;
      this.next = resume;
    }
    const f = this.next ?? first;
    const p = this.pending.get(f)!;
    this.pending.delete(f);
    this.next = f + 1;
    return { item: p.item, gap };
  }

  /** When pop() should be tried again, if frames wait on a gap. */
  wakeAt(): number | null {
    const first = this.firstKey();
    if (first === null || first === this.next) return null;
    return this.pending.get(first)!.arrived + this.maxWaitMs;
  }
}
