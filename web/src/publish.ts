/** Publishing: camera or a stamped test pattern -> H.264; microphone or a tone -> Opus. */
import { drawPattern, nowUs } from './stamp';
import { VIDEO_CODEC } from './video';
import { SAMPLE_RATE } from './audio';

export const CAMERA_TRACK = 0;
export const MICROPHONE_TRACK = 1;
const WIDTH = 1280;
const HEIGHT = 720;
const FPS = 30;
const VIDEO_BITRATE = 1_500_000;
const KEYFRAME_EVERY = 2 * FPS;
const AUDIO_BITRATE = 32_000;
const FRAME_SAMPLES = SAMPLE_RATE / 50; // 20 ms

export interface VideoSink {
  /** Sends an encoded frame; false when it was dropped (congestion, not allowed yet). */
  (data: Uint8Array, keyframe: boolean, captureUs: bigint): boolean;
}
export interface AudioSink {
  (payload: Uint8Array, captureUs: bigint): void;
}

/** Something a publisher could not do, with a stable code. */
export class MediaError extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
  }
}

/** A video source encoded to H.264 and handed to a sink. */
export class VideoPublisher {
  private encoder: VideoEncoder;
  private forceKey = true;
  private sinceKey = 0;
  private stopped = false;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private track: MediaStreamTrack | null = null;
  private captures = new Map<number, bigint>();
  frames = 0;

  private constructor(private sink: VideoSink, onError: (e: MediaError) => void) {
    this.encoder = new VideoEncoder({
      output: (chunk) => this.output(chunk),
      error: (e) => onError(new MediaError('codec_unsupported', `video encoder failed: ${e.message}`)),
    });
  }

  static async start(
    source: 'camera' | 'pattern',
    sink: VideoSink,
    onError: (e: MediaError) => void,
  ): Promise<VideoPublisher> {
    if (typeof VideoEncoder === 'undefined') {
      throw new MediaError('codec_unsupported', 'this browser has no WebCodecs VideoEncoder');
    }
    const config: VideoEncoderConfig = {
      codec: VIDEO_CODEC,
      width: WIDTH,
      height: HEIGHT,
      bitrate: VIDEO_BITRATE,
      framerate: FPS,
      latencyMode: 'realtime',
      avc: { format: 'annexb' },
    };
    const support = await VideoEncoder.isConfigSupported(config);
    if (!support.supported) {
      throw new MediaError('codec_unsupported', `this browser cannot encode H.264 (${VIDEO_CODEC}) at ${WIDTH}x${HEIGHT}`);
    }
    const p = new VideoPublisher(sink, onError);
    p.encoder.configure(config);
    if (source === 'pattern') p.startPattern();
    else await p.startCamera();
    return p;
  }

  /** The next frame is encoded as a keyframe (a subscriber asked, or frames were dropped). */
  keyframe(): void {
    this.forceKey = true;
  }

  private encode(frame: VideoFrame, captureUs: bigint): void {
    try {
      if (this.stopped || this.encoder.state !== 'configured') return;
      if (this.encoder.encodeQueueSize > 2) return; // the encoder is behind: drop the picture
      const key = this.forceKey || this.sinceKey >= KEYFRAME_EVERY;
      if (key) {
        this.forceKey = false;
        this.sinceKey = 0;
      }
      this.sinceKey++;
      this.captures.set(frame.timestamp, captureUs);
      if (this.captures.size > 32) this.captures.delete(this.captures.keys().next().value!);
      this.encoder.encode(frame, { keyFrame: key });
    } finally {
      frame.close();
    }
  }

  private output(chunk: EncodedVideoChunk): void {
    const data = new Uint8Array(chunk.byteLength);
    chunk.copyTo(data);
    const capture = this.captures.get(chunk.timestamp) ?? nowUs();
    this.captures.delete(chunk.timestamp);
    if (this.sink(data, chunk.type === 'key', capture)) this.frames++;
    else if (chunk.type !== 'key') this.forceKey = true;
  }

  private startPattern(): void {
    const canvas = new OffscreenCanvas(WIDTH, HEIGHT);
    const ctx = canvas.getContext('2d');
    if (!ctx) throw new MediaError('codec_unsupported', 'no 2D canvas for the test pattern');
    const started = performance.now();
    let n = 0;
    const tick = () => {
      if (this.stopped) return;
      const capture = nowUs();
      drawPattern(ctx, WIDTH, HEIGHT, n, capture);
      const frame = new VideoFrame(canvas, { timestamp: Math.round((n * 1e6) / FPS) });
      n++;
      this.encode(frame, capture);
      // Drift-free pacing; skip ahead rather than burst after a stall.
      let due = started + (n * 1000) / FPS;
      const now = performance.now();
      if (due < now - 100) {
        n = Math.ceil(((now - started) * FPS) / 1000);
        due = started + (n * 1000) / FPS;
      }
      this.timer = setTimeout(tick, Math.max(0, due - now));
    };
    tick();
  }

  private async startCamera(): Promise<void> {
    let media: MediaStream;
    try {
      media = await navigator.mediaDevices.getUserMedia({
        video: { width: WIDTH, height: HEIGHT, frameRate: FPS },
      });
    } catch (e) {
      throw new MediaError('camera_unavailable', `no camera: ${(e as Error).message}`);
    }
    const track = media.getVideoTracks()[0];
    this.track = track;
    const Processor = (globalThis as unknown as { MediaStreamTrackProcessor?: new (o: { track: MediaStreamTrack }) => { readable: ReadableStream<VideoFrame> } }).MediaStreamTrackProcessor;
    if (Processor) {
      const reader = new Processor({ track }).readable.getReader();
      void (async () => {
        while (!this.stopped) {
          const { value, done } = await reader.read();
          if (done || !value) break;
          this.encode(this.fit(value), nowUs());
        }
        reader.cancel().catch(() => {});
      })();
      return;
    }
    // Without MediaStreamTrackProcessor: draw a <video> to a canvas at the frame rate.
    const video = document.createElement('video');
    video.muted = true;
    video.srcObject = media;
    await video.play();
    const canvas = new OffscreenCanvas(WIDTH, HEIGHT);
    const ctx = canvas.getContext('2d')!;
    let n = 0;
    const tick = () => {
      if (this.stopped) return;
      ctx.drawImage(video, 0, 0, WIDTH, HEIGHT);
      this.encode(new VideoFrame(canvas, { timestamp: Math.round((n++ * 1e6) / FPS) }), nowUs());
      this.timer = setTimeout(tick, 1000 / FPS);
    };
    tick();
  }

  /** A camera frame of another size is scaled to the encoder's. */
  private fit(frame: VideoFrame): VideoFrame {
    if (frame.displayWidth === WIDTH && frame.displayHeight === HEIGHT) return frame;
    const canvas = new OffscreenCanvas(WIDTH, HEIGHT);
    canvas.getContext('2d')!.drawImage(frame, 0, 0, WIDTH, HEIGHT);
    const out = new VideoFrame(canvas, { timestamp: frame.timestamp });
    frame.close();
    return out;
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.track?.stop();
    if (this.encoder.state !== 'closed') this.encoder.close();
  }
}

/** An audio source encoded to Opus (48 kHz mono, 20 ms frames) and handed to a sink. */
export class AudioPublisher {
  private encoder: AudioEncoder;
  private stopped = false;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private track: MediaStreamTrack | null = null;
  frames = 0;

  private constructor(private sink: AudioSink, onError: (e: MediaError) => void) {
    this.encoder = new AudioEncoder({
      output: (chunk) => this.output(chunk),
      error: (e) => onError(new MediaError('codec_unsupported', `audio encoder failed: ${e.message}`)),
    });
  }

  static async start(
    source: string,
    sink: AudioSink,
    onError: (e: MediaError) => void,
  ): Promise<AudioPublisher> {
    if (typeof AudioEncoder === 'undefined') {
      throw new MediaError('codec_unsupported', 'this browser has no WebCodecs AudioEncoder');
    }
    const config: AudioEncoderConfig = {
      codec: 'opus',
      sampleRate: SAMPLE_RATE,
      numberOfChannels: 1,
      bitrate: AUDIO_BITRATE,
      opus: { frameDuration: 20_000 },
    } as AudioEncoderConfig;
    const support = await AudioEncoder.isConfigSupported(config);
    if (!support.supported) throw new MediaError('codec_unsupported', 'this browser cannot encode Opus');
    const p = new AudioPublisher(sink, onError);
    p.encoder.configure(config);
    const tone = /^tone:(\d+(?:\.\d+)?)$/.exec(source);
    if (tone) p.startTone(Number(tone[1]));
    else if (source === 'microphone') await p.startMicrophone();
    else {
      p.stop();
      throw new MediaError('invalid_input', `unknown audio source '${source}' (microphone or tone:HZ)`);
    }
    return p;
  }

  private output(chunk: EncodedAudioChunk): void {
    if (chunk.byteLength > 1200) return;
    const data = new Uint8Array(chunk.byteLength);
    chunk.copyTo(data);
    // Input timestamps are capture times in µs since the epoch.
    const now = nowUs();
    const ts = BigInt(Math.round(chunk.timestamp));
    const capture = ts > now - 10_000_000n && ts <= now ? ts : now;
    this.sink(data, capture);
    this.frames++;
  }

  private encode(data: AudioData): void {
    try {
      if (!this.stopped && this.encoder.state === 'configured' && this.encoder.encodeQueueSize < 10) {
        this.encoder.encode(data);
      }
    } finally {
      data.close();
    }
  }

  private startTone(hz: number): void {
    let phase = 0;
    const step = (2 * Math.PI * hz) / SAMPLE_RATE;
    const started = performance.now();
    let n = 0;
    const tick = () => {
      if (this.stopped) return;
      const now = performance.now();
      let due = Math.floor((now - started) / 20) + 1;
      if (due - n > 10) n = due - 1; // after a stall, skip ahead
      for (; n < due; n++) {
        const pcm = new Float32Array(FRAME_SAMPLES);
        for (let i = 0; i < FRAME_SAMPLES; i++) {
          pcm[i] = 0.3 * Math.sin(phase);
          phase += step;
        }
        phase %= 2 * Math.PI;
        const lag = (now - (started + n * 20)) * 1000;
        const capture = Number(nowUs()) - Math.max(0, lag);
        this.encode(
          new AudioData({
            format: 'f32-planar',
            sampleRate: SAMPLE_RATE,
            numberOfFrames: FRAME_SAMPLES,
            numberOfChannels: 1,
            timestamp: Math.round(capture),
            data: pcm,
          }),
        );
      }
      due = started + n * 20;
      this.timer = setTimeout(tick, Math.max(0, due - performance.now()));
    };
    tick();
  }

  private async startMicrophone(): Promise<void> {
    let media: MediaStream;
    try {
      media = await navigator.mediaDevices.getUserMedia({
        audio: { channelCount: 1, sampleRate: SAMPLE_RATE, echoCancellation: true, noiseSuppression: true },
      });
    } catch (e) {
      this.stop();
      throw new MediaError('microphone_unavailable', `no microphone: ${(e as Error).message}`);
    }
    const track = media.getAudioTracks()[0];
    this.track = track;
    const Processor = (globalThis as unknown as { MediaStreamTrackProcessor?: new (o: { track: MediaStreamTrack }) => { readable: ReadableStream<AudioData> } }).MediaStreamTrackProcessor;
    if (!Processor) {
      this.stop();
      throw new MediaError('codec_unsupported', 'this browser has no MediaStreamTrackProcessor for the microphone');
    }
    const reader = new Processor({ track }).readable.getReader();
    void (async () => {
      while (!this.stopped) {
        const { value, done } = await reader.read();
        if (done || !value) break;
        this.encode(this.mono(value));
      }
      reader.cancel().catch(() => {});
    })();
  }

  /** Channel 0 as mono f32 at the source's rate, stamped with the capture time. */
  private mono(data: AudioData): AudioData {
    const n = data.numberOfFrames;
    const pcm = new Float32Array(n);
    data.copyTo(pcm, { planeIndex: 0, format: 'f32-planar' });
    const rate = data.sampleRate;
    data.close();
    const capture = Number(nowUs()) - (n / rate) * 1e6;
    return new AudioData({ format: 'f32-planar', sampleRate: rate, numberOfFrames: n, numberOfChannels: 1, timestamp: Math.round(capture), data: pcm });
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.track?.stop();
    if (this.encoder.state !== 'closed') this.encoder.close();
  }
}
