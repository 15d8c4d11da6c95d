/**
 * The playout processor: one bounded jitter buffer per remote audio track, mixed to the output.
 * Messages: `{ id, samples: Float32Array }` appends 48 kHz mono PCM to track `id`;
 * `{ id, reset: true }` forgets it. A buffer holds at most ~200 ms (the oldest samples are
 * dropped beyond); an empty one plays silence and waits for `PREFILL` before playing again.
 */

// Declarations for the AudioWorkletGlobalScope (not in the DOM lib).
declare const sampleRate: number;
declare class AudioWorkletProcessor {
  readonly port: MessagePort;
  constructor();
}
declare function registerProcessor(name: string, ctor: unknown): void;

const MAX_MS = 200;
const PREFILL_MS = 40;

interface Track {
  chunks: Float32Array[];
  /** Read position in chunks[0]. */
  at: number;
  length: number;
  playing: boolean;
  dropped: number;
  underruns: number;
}

class Playout extends AudioWorkletProcessor {
  private tracks = new Map<string, Track>();
  private max = Math.round((sampleRate * MAX_MS) / 1000);
  private prefill = Math.round((sampleRate * PREFILL_MS) / 1000);
  private frames = 0;

  constructor() {
    super();
    this.port.onmessage = (e: MessageEvent) => {
      const m = e.data as { id: string; samples?: Float32Array; reset?: boolean };
      if (m.reset) {
        this.tracks.delete(m.id);
        return;
      }
      if (!m.samples) return;
      let t = this.tracks.get(m.id);
      if (!t) {
        t = { chunks: [], at: 0, length: 0, playing: false, dropped: 0, underruns: 0 };
        this.tracks.set(m.id, t);
      }
      t.chunks.push(m.samples);
      t.length += m.samples.length;
      // Bounded: drop the oldest beyond MAX_MS.
      while (t.length > this.max && t.chunks.length > 0) {
        const first = t.chunks[0];
        const excess = t.length - this.max;
        const left = first.length - t.at;
        if (left <= excess) {
          t.chunks.shift();
          t.at = 0;
          t.length -= left;
          t.dropped += left;
        } else {
          t.at += excess;
          t.length -= excess;
          t.dropped += excess;
        }
      }
    };
  }

  process(_inputs: Float32Array[][], outputs: Float32Array[][]): boolean {
    const out = outputs[0];
    if (!out || out.length === 0) return true;
    const mix = out[0];
    mix.fill(0);
    for (const t of this.tracks.values()) {
      if (!t.playing) {
        if (t.length < this.prefill) continue;
        t.playing = true;
      }
      let i = 0;
      while (i < mix.length && t.chunks.length > 0) {
        const c = t.chunks[0];
        const n = Math.min(mix.length - i, c.length - t.at);
        for (let k = 0; k < n; k++) mix[i + k] += c[t.at + k];
        i += n;
        t.at += n;
        t.length -= n;
        if (t.at >= c.length) {
          t.chunks.shift();
          t.at = 0;
        }
      }
      if (i < mix.length) {
        // Ran dry: silence for the rest, buffer again.
        t.playing = false;
        t.underruns++;
      }
    }
    for (let i = 0; i < mix.length; i++) mix[i] = Math.max(-1, Math.min(1, mix[i]));
    for (let ch = 1; ch < out.length; ch++) out[ch].set(mix);
    if (++this.frames % 375 === 0) {
      // About every second at 48 kHz: the buffer depths, for diagnostics.
      const depth: Record<string, number> = {};
      for (const [id, t] of this.tracks) depth[id] = Math.round((t.length * 1000) / sampleRate);
      this.port.postMessage({ depth });
    }
    return true;
  }
}

registerProcessor('livestage-playout', Playout);
