/** Receiving audio: an Opus decoder per publisher track, PCM to the playout worklet. */
import { dominantFrequency } from './spectrum';
import type { AudioPacket } from './media';

export const SAMPLE_RATE = 48_000;
const TAIL = SAMPLE_RATE; // the last second, for the frequency check

/** The shared playout: an AudioContext with the jitter-buffer worklet. */
export class Playout {
  private ctx: AudioContext | null = null;
  private node: AudioWorkletNode | null = null;
  private starting: Promise<void> | null = null;
  failed: string | null = null;

  constructor(private workletUrl: string) {}

  start(): Promise<void> {
    this.starting ??= (async () => {
      try {
        const ctx = new AudioContext({ sampleRate: SAMPLE_RATE, latencyHint: 'interactive' });
        await ctx.audioWorklet.addModule(this.workletUrl);
        const node = new AudioWorkletNode(ctx, 'livestage-playout', {
          numberOfInputs: 0,
          numberOfOutputs: 1,
          outputChannelCount: [2],
        });
        node.connect(ctx.destination);
        if (ctx.state === 'suspended') ctx.resume().catch(() => {});
        this.ctx = ctx;
        this.node = node;
      } catch (e) {
        this.failed = `audio playout unavailable: ${(e as Error).message ?? e}`;
        console.warn(`livestage: ${this.failed}`);
      }
    })();
    return this.starting;
  }

  push(id: string, samples: Float32Array): void {
    this.node?.port.postMessage({ id, samples }, [samples.buffer]);
  }

  reset(id: string): void {
    this.node?.port.postMessage({ id, reset: true });
  }

  /** Resumes a context the autoplay policy suspended (call from a user gesture). */
  resume(): void {
    this.ctx?.resume().catch(() => {});
  }

  close(): void {
    this.node?.disconnect();
    this.ctx?.close().catch(() => {});
    this.node = null;
    this.ctx = null;
  }
}

export interface AudioStats {
  frames: number;
  decode_errors: number;
  tone_hz: number | null;
}

/** One remote audio track. */
export class AudioReceiver {
  private decoder: AudioDecoder | null = null;
  private stream: number | null = null;
  private lastSeq: number | null = null;
  private tail = new Float32Array(TAIL);
  private tailFill = 0;
  frames = 0;
  decodeErrors = 0;

  constructor(readonly id: string, private playout: Playout) {}

  private makeDecoder(): AudioDecoder {
    const d = new AudioDecoder({
      output: (data) => this.output(data),
      error: () => {
        this.decodeErrors++;
        this.decoder = null;
      },
    });
    d.configure({ codec: 'opus', sampleRate: SAMPLE_RATE, numberOfChannels: 1 });
    return d;
  }

  push(p: AudioPacket): void {
    if (this.stream !== p.stream) {
      // A new publication: its numbers start again.
      this.stream = p.stream;
      this.lastSeq = null;
      this.closeDecoder();
      this.playout.reset(this.id);
    }
    if (this.lastSeq !== null) {
      const ahead = (p.seq - this.lastSeq) >>> 0;
      if (ahead === 0 || ahead > 0x7fffffff) return; // duplicate or late
    }
    this.lastSeq = p.seq;
    this.frames++;
    this.decoder ??= this.makeDecoder();
    if (this.decoder.decodeQueueSize > 25) return; // decoder far behind: drop
    try {
      this.decoder.decode(
        new EncodedAudioChunk({ type: 'key', timestamp: p.seq * 20_000, data: p.payload }),
      );
    } catch {
      this.decodeErrors++;
      this.closeDecoder();
    }
  }

  private output(data: AudioData): void {
    try {
      const n = data.numberOfFrames;
      const pcm = new Float32Array(n);
      data.copyTo(pcm, { planeIndex: 0, format: 'f32-planar' });
      this.keep(pcm);
      this.playout.push(this.id, pcm);
    } finally {
      data.close();
    }
  }

  private keep(pcm: Float32Array): void {
    if (pcm.length >= TAIL) {
      this.tail.set(pcm.subarray(pcm.length - TAIL));
      this.tailFill = TAIL;
      return;
    }
    this.tail.copyWithin(0, pcm.length);
    this.tail.set(pcm, TAIL - pcm.length);
    this.tailFill = Math.min(TAIL, this.tailFill + pcm.length);
  }

  /** Dominant frequency of the last second decoded. */
  toneHz(): number | null {
    if (this.tailFill < 4096) return null;
    const hz = dominantFrequency(this.tail.subarray(TAIL - this.tailFill), SAMPLE_RATE);
    return hz === null ? null : Math.round(hz * 10) / 10;
  }

  stats(): AudioStats {
    return { frames: this.frames, decode_errors: this.decodeErrors, tone_hz: this.toneHz() };
  }

  private closeDecoder(): void {
    if (this.decoder && this.decoder.state !== 'closed') this.decoder.close();
    this.decoder = null;
  }

  close(): void {
    this.closeDecoder();
    this.playout.reset(this.id);
  }
}
