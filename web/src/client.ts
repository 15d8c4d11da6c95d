/** The Livestage browser client: WebTransport to the server, WebCodecs for media. */
import { decode, frame, VERSION, MAX_FRAME } from './codec';
import { Emitter } from './emitter';
import { AudioReceiver, Playout, type AudioStats } from './audio';
import { VideoReceiver, VIDEO_CODEC, type VideoStats } from './video';
import { decodeAudio, encodeAudio, readVideoStream, videoStreamBytes, type Layer } from './media';
import { AudioPublisher, CAMERA_TRACK, MediaError, MICROPHONE_TRACK, VideoPublisher } from './publish';
import { nowUs } from './stamp';

export type RoleName = 'host' | 'audience';

export interface Track {
  id: number;
  kind: 'audio' | 'video';
  source: string;
  name: string;
  low_layer: boolean;
  muted: boolean;
}

export interface Participant {
  user: string;
  role: 'Host' | 'Audience';
  moderator: boolean;
  audio_muted: boolean;
  video_muted: boolean;
  hand_raised: boolean;
  media_id: number | bigint;
  tracks: Track[];
}

export interface ErrorInfo {
  code: string;
  message: string;
}

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

/** An error with a stable code (`unreachable`, `token_invalid`, `codec_unsupported`, ...). */
export class LivestageError extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
    this.name = 'LivestageError';
  }
}

/** `TokenInvalid` -> `token_invalid` (the stable snake_case names). */
export function snakeCode(code: unknown): string {
  const s = String(code);
  return s.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toLowerCase();
}

function hexBytes(hex: string): Uint8Array<ArrayBuffer> {
  const clean = hex.replace(/^sha256:/i, '').replace(/[^0-9a-f]/gi, '');
  if (clean.length !== 64) throw new LivestageError('invalid_input', `certificate hash must be 64 hex digits, got ${clean.length}`);
  const out = new Uint8Array(32);
  for (let i = 0; i < 32; i++) out[i] = parseInt(clean.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** The claims of a JWT, unverified (the server checks it). */
export function tokenClaims(token: string): { ch?: string; sub?: string; exp?: number; grants?: string[] } {
  try {
    const part = token.split('.')[1];
    const b64 = part.replace(/-/g, '+').replace(/_/g, '/');
    return JSON.parse(atob(b64 + '='.repeat((4 - (b64.length % 4)) % 4)));
  } catch {
    return {};
  }
}

const key = (mediaId: number | bigint, track: number) => `${String(mediaId)}:${track}`;
const ACK_EVERY_MS = 100;
const VIDEO_IN_FLIGHT = 4;
const VIDEO_DEADLINE_MS = 500;
const VIDEO_STREAMS_MAX = 64;
const VIDEO_READ_TIMEOUT_MS = 2000;

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
}

export class Client extends Emitter<ClientEvents> {
  private wt: WebTransport | null = null;
  private writer: WritableStreamDefaultWriter<Uint8Array> | null = null;
  private datagramWriter: WritableStreamDefaultWriter<Uint8Array> | null = null;
  private nextSeq = 1;
  private received = 0;
  private acked = 0;
  private lastAckAt = 0;
  private ackTimer: ReturnType<typeof setTimeout> | null = null;
  private linkTimer: ReturnType<typeof setInterval> | null = null;
  private lastStats: { sent: number; lost: number } | null = null;
  private requests = new Map<number, { request: string; resolve: () => void; reject: (e: LivestageError) => void }>();
  private incoming: Participant[] | null = null;
  private started = 0;
  private ended = false;
  private leaving = false;
  private videos = new Map<string, VideoReceiver>();
  private audios = new Map<string, AudioReceiver>();
  private playout: Playout;
  private videoPublisher: VideoPublisher | null = null;
  private audioPublisher: AudioPublisher | null = null;
  private publishStream = 0;
  private videoFrame = 0;
  private audioSeq = 0;
  private videoInFlight = 0;
  private videoNeedsKey = true;
  private openStreams = 0;
  /** Local tracks the server has confirmed (media may flow). */
  private allowed = new Set<number>();

  /** This client as others see it. */
  me: Participant | null = null;
  /** The participants this client sees, by user. */
  readonly roster = new Map<string, Participant>();
  /** Everyone ever seen, by media id (so media maps to a user after it left). */
  readonly seen = new Map<string, Participant>();
  readonly channel: string;
  readonly user: string;
  report_: Report;

  constructor(readonly options: JoinOptions) {
    super();
    const claims = tokenClaims(options.token);
    this.channel = options.channel ?? claims.ch ?? '';
    this.user = claims.sub ?? '';
    const worklet = options.workletUrl ?? new URL('audio-worklet.js', document.baseURI).href;
    this.playout = new Playout(worklet);
    this.report_ = {
      joined: false,
      error: null,
      user: this.user,
      channel: this.channel,
      role: null,
      peers: [],
      join_ms: null,
      data: { sent: 0, received: 0, from: {} },
      video: {},
      audio: {},
      published: { video_frames: 0, audio_frames: 0 },
      refused: [],
    };
  }

  /** Connects and joins; resolves once welcomed. */
  static async join(options: JoinOptions): Promise<Client> {
    const c = new Client(options);
    await c.connect();
    return c;
  }

  private fail(e: LivestageError): LivestageError {
    if (!this.report_.error) this.report_.error = { code: e.code, message: e.message };
    this.emit('error', { code: e.code, message: e.message });
    return e;
  }

  /** Connects and joins (for a client made with `new Client(...)`). */
  async connect(): Promise<void> {
    this.started = performance.now();
    try {
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
      if (!this.channel) throw new LivestageError('token_invalid', 'the token names no channel (`ch` claim)');
      await this.open();
    } catch (e) {
      const err = e instanceof LivestageError ? e : new LivestageError('unreachable', String((e as Error)?.message ?? e));
      this.shutdown();
      throw this.fail(err);
    }
  }

  private async open(): Promise<void> {
    const o = this.options;
    const url = `https://${o.server}/livestage`;
    const unreachable = (why: string) =>
      new LivestageError(
        'unreachable',
        `cannot reach the Livestage server at ${o.server} over WebTransport (${why}). ` +
          'The certificate hash may be wrong or expired, or the server is down or has WebTransport disabled.',
      );
    let wt: WebTransport;
    try {
      const opts: WebTransportOptions = {};
      if (o.hash) opts.serverCertificateHashes = [{ algorithm: 'sha-256', value: hexBytes(o.hash) }];
      wt = new WebTransport(url, opts);
    } catch (e) {
      if (e instanceof LivestageError) throw e;
      throw unreachable((e as Error).message);
    }
    this.wt = wt;
    wt.closed.then(
      (info) => this.onClosed(info?.reason ? `${info.reason}` : 'closed by the server', info?.closeCode),
      (e) => this.onClosed(String((e as Error)?.message ?? e)),
    );
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      await Promise.race([
        wt.ready,
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error('no answer within 10 s')), 10_000);
        }),
      ]);
    } catch (e) {
      throw unreachable((e as Error).message || String(e));
    } finally {
      clearTimeout(timer);
    }
    const bidi = await wt.createBidirectionalStream();
    this.writer = bidi.writable.getWriter();
    this.datagramWriter = wt.datagrams.writable.getWriter();
    const role = o.role === 'host' ? 'Host' : 'Audience';
    const welcome = new Promise<void>((resolve, reject) => {
      this.welcomed = resolve;
      this.refusedJoin = reject;
    });
    await this.write(frame('Hello', { version: VERSION, intent: { Join: { channel: this.channel, token: o.token, role } } }));
    void this.readControl(bidi.readable);
    void this.readVideo(wt);
    void this.readDatagrams(wt);
    await welcome;
  }

  private welcomed: (() => void) | null = null;
  private refusedJoin: ((e: LivestageError) => void) | null = null;

  private async write(bytes: Uint8Array): Promise<void> {
    if (!this.writer) return;
    try {
      await this.writer.write(bytes);
    } catch {
      // The connection is gone; onClosed reports it.
    }
  }

  private send(value: unknown): void {
    void this.write(frame('ClientFrame', value));
  }

  /** Sends a request; resolves when the server applied it, rejects when it refused it. */
  request(request: unknown): Promise<void> {
    if (this.ended || !this.writer) return Promise.reject(new LivestageError('protocol_error', 'not connected'));
    const seq = this.nextSeq++;
    const name = typeof request === 'string' ? request : Object.keys(request as object)[0];
    return new Promise((resolve, reject) => {
      this.requests.set(seq, { request: name, resolve, reject });
      this.send({ Request: { seq, request } });
    });
  }

  private async readControl(readable: ReadableStream<Uint8Array>): Promise<void> {
    const reader = readable.getReader();
    let buf = new Uint8Array(0);
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
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
          this.onFrame(decode('ServerFrame', body));
        }
      }
    } catch (e) {
      const err = e instanceof LivestageError ? e : new LivestageError('protocol_error', `control stream: ${(e as Error)?.message ?? e}`);
      if (!this.ended && !this.leaving) this.end(err);
    }
  }

  private onFrame(f: unknown): void {
    const [kind, body] = typeof f === 'string' ? [f, null] : (Object.entries(f as object)[0] as [string, any]);
    switch (kind) {
      case 'Welcome':
        return this.onWelcome(body);
      case 'Event': {
        const seq = Number(body.seq);
        if (seq <= this.received) return;
        this.received = seq;
        this.onEvent(body.event);
        this.scheduleAck();
        return;
      }
      case 'Ack': {
        const upto = Number(body.upto);
        for (const [seq, r] of this.requests) {
          if (seq <= upto) {
            this.requests.delete(seq);
            r.resolve();
          }
        }
        return;
      }
      case 'Roster':
        return this.onRosterPage(body);
      case 'Goodbye': {
        const e = new LivestageError(snakeCode(body.code), body.message);
        return this.end(e);
      }
      case 'Links':
        return;
    }
  }

  private onWelcome(w: any): void {
    this.me = w.you;
    this.learn(w.you);
    this.report_.joined = true;
    this.report_.join_ms = Math.round(performance.now() - this.started);
    this.report_.role = w.you.role === 'Host' ? 'host' : 'audience';
    this.pendingWelcome = w;
    this.onRosterPage(w.roster, true);
    this.linkTimer = setInterval(() => void this.reportLink(), 1000);
    if (this.options.audio !== false) void this.playout.start();
  }

  private pendingWelcome: any = null;

  private onRosterPage(page: any, fromWelcome = false): void {
    let peers: Participant[];
    if (page.start || fromWelcome) peers = [];
    else if (this.incoming) peers = this.incoming;
    else return;
    peers.push(...page.peers);
    if (page.more) {
      this.incoming = peers;
      return;
    }
    this.incoming = null;
    const before = new Set(this.roster.keys());
    this.roster.clear();
    for (const p of peers) {
      if (p.user === this.user) continue;
      this.roster.set(p.user, p);
      this.learn(p);
      this.report_.peers.includes(p.user) || this.report_.peers.push(p.user);
    }
    if (this.pendingWelcome) {
      const w = this.pendingWelcome;
      this.pendingWelcome = null;
      this.emit('joined', { you: w.you, peers: [...this.roster.values()], channel: w.channel });
      this.welcomed?.();
      this.welcomed = null;
    } else {
      for (const u of before) if (!this.roster.has(u)) this.emit('peer-left', { user: u, reason: 'hidden' });
      for (const p of this.roster.values()) if (!before.has(p.user)) this.emit('peer-joined', p);
    }
  }

  private learn(p: Participant): void {
    this.seen.set(String(p.media_id), p);
  }

  /** Puts `p` in the roster or out of it, as this client sees it (as the native session). */
  private place(p: Participant): void {
    this.learn(p);
    if (p.user === this.user) {
      this.me = p;
      this.allowed = new Set(p.role === 'Host' ? p.tracks.map((t) => t.id) : []);
      return;
    }
    const iAmHost = this.me?.role === 'Host';
    if (p.role === 'Host' || (iAmHost && p.hand_raised)) {
      const had = this.roster.has(p.user);
      this.roster.set(p.user, p);
      if (!this.report_.peers.includes(p.user)) this.report_.peers.push(p.user);
      if (!had) this.emit('peer-joined', p);
    } else if (this.roster.delete(p.user)) {
      this.emit('peer-left', { user: p.user, reason: 'audience' });
    }
  }

  private participant(user: string): Participant | null {
    if (user === this.user) return this.me;
    return this.roster.get(user) ?? null;
  }

  private onEvent(event: unknown): void {
    this.emit('event', event);
    const [kind, body] = typeof event === 'string' ? [event, null] : (Object.entries(event as object)[0] as [string, any]);
    switch (kind) {
      case 'PeerJoined':
        return this.place(body);
      case 'PeerLeft':
        if (this.roster.delete(body.user)) this.emit('peer-left', { user: body.user, reason: String(body.reason) });
        return;
      case 'RoleChanged': {
        const p: Participant = body.participant;
        this.place(p);
        if (p.user === this.user) {
          this.report_.role = p.role === 'Host' ? 'host' : 'audience';
          if (p.role === 'Host') this.republish();
        }
        this.emit('role-changed', { participant: p, by: body.by });
        return;
      }
      case 'HandChanged':
        this.place(body.participant);
        this.emit('hand-changed', body.participant);
        return;
      case 'MuteChanged': {
        const p = this.participant(body.user);
        if (p) this.place({ ...p, audio_muted: body.audio, video_muted: body.video });
        return;
      }
      case 'TrackPublished': {
        const p = this.participant(body.user);
        if (p) {
          const tracks = p.tracks.filter((t) => t.id !== body.track.id).concat([body.track]);
          this.place({ ...p, tracks });
        }
        if (body.user === this.user && body.track.id === CAMERA_TRACK) this.videoPublisher?.keyframe();
        this.emit('track-published', { user: body.user, track: body.track });
        return;
      }
      case 'TrackUnpublished': {
        const p = this.participant(body.user);
        if (p) this.place({ ...p, tracks: p.tracks.filter((t) => t.id !== body.track) });
        this.emit('track-unpublished', { user: body.user, track: body.track });
        return;
      }
      case 'Data': {
        const from = String(body.from);
        this.report_.data.received++;
        this.report_.data.from[from] = (this.report_.data.from[from] ?? 0) + 1;
        this.emit('data', { from, seq: Number(body.seq), private: body.private, payload: body.payload });
        return;
      }
      case 'Refused': {
        const request = Number(body.request);
        const code = snakeCode(body.error.code);
        const message = String(body.error.message);
        const pending = this.requests.get(request);
        const name = pending?.request ?? (request === 0 ? 'media' : 'request');
        this.report_.refused.push({ request, code, message });
        if (this.report_.refused.length > 100) this.report_.refused.splice(0, 1);
        if (pending) {
          this.requests.delete(request);
          pending.reject(new LivestageError(code, `${name} refused: ${message}`));
        }
        this.emit('refused', { request, code, message });
        return;
      }
      case 'KeyframeRequest':
        if (Number(body.track) === CAMERA_TRACK) this.videoPublisher?.keyframe();
        return;
      default:
        return;
    }
  }

  private scheduleAck(): void {
    if (this.ackTimer !== null) return;
    const wait = Math.max(0, this.lastAckAt + ACK_EVERY_MS - performance.now());
    this.ackTimer = setTimeout(() => {
      this.ackTimer = null;
      if (this.received > this.acked && !this.ended) {
        this.acked = this.received;
        this.lastAckAt = performance.now();
        this.send({ Ack: { upto: this.received } });
      }
    }, wait);
  }

  private async reportLink(): Promise<void> {
    if (this.ended || !this.wt) return;
    let loss = 0;
    try {
      const stats = (await (this.wt as unknown as { getStats(): Promise<Record<string, unknown>> }).getStats()) ?? {};
      const sent = Number(stats.packetsSent ?? NaN);
      const lost = Number(stats.packetsLost ?? NaN);
      if (Number.isFinite(sent) && Number.isFinite(lost)) {
        if (this.lastStats) {
          const ds = sent - this.lastStats.sent;
          const dl = lost - this.lastStats.lost;
          if (ds > 0 && dl > 0) loss = Math.min(100, Math.round((100 * dl) / ds));
        }
        this.lastStats = { sent, lost };
      }
    } catch {
      // No stats: report 0; the frame still keeps the connection alive.
    }
    if (!this.ended) this.send({ Link: { uplink_loss_percent: loss } });
  }

  // ---- media in ----

  private async readVideo(wt: WebTransport): Promise<void> {
    const reader = wt.incomingUnidirectionalStreams.getReader();
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
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
      if (!this.ended) console.warn(`livestage: dropped a video stream: ${(e as Error).message}`);
      return;
    } finally {
      clearTimeout(timer);
    }
    if (this.ended) return;
    const { header, data } = got;
    const track = Number(header.track);
    const k = key(header.media_id, track);
    let v = this.videos.get(k);
    if (!v) {
      const p = this.seen.get(String(header.media_id));
      const user = p?.user ?? `media-${String(header.media_id)}`;
      const layer: Layer = header.layer;
      v = new VideoReceiver(this.trackName(header.media_id, track), {
        requestKeyframe: () => void this.request({ RequestKeyframe: { media_id: header.media_id, track, layer } }).catch(() => {}),
        wanted: () => this.listens('video-frame'),
        frame: (frame) => this.emit('video-frame', { user, track, frame }),
        sinceJoin: () => performance.now() - this.started,
      });
      this.videos.set(k, v);
      this.emit('video-track', { user, track, key: v.id, canvas: v.canvas });
    }
    v.push(header, data);
  }

  private async readDatagrams(wt: WebTransport): Promise<void> {
    const reader = wt.datagrams.readable.getReader();
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        const p = decodeAudio(value);
        if (!p || this.ended || this.options.audio === false) continue;
        const k = key(p.mediaId, p.track);
        let a = this.audios.get(k);
        if (!a) {
          a = new AudioReceiver(this.trackName(p.mediaId, p.track), this.playout);
          this.audios.set(k, a);
        }
        a.push(p);
      }
    } catch {
      // Connection closed.
    }
  }

  /** `user/source` for a publisher track (as the native bot names it). */
  trackName(mediaId: number | bigint, track: number): string {
    const p = this.seen.get(String(mediaId));
    if (!p) return `media-${String(mediaId)}/track-${track}`;
    const t = p.tracks.find((x) => x.id === track);
    if (!t) return `${p.user}/track-${track}`;
    const first = p.tracks.find((x) => x.source === t.source);
    return first?.id === track ? `${p.user}/${t.source}` : `${p.user}/${t.source}-${track}`;
  }

  /** The canvas a remote video track is drawn to, if it has sent any. */
  canvasOf(user: string, track = CAMERA_TRACK): HTMLCanvasElement | null {
    for (const [k, v] of this.videos) {
      const p = this.seen.get(k.split(':')[0]);
      if (p?.user === user && Number(k.split(':')[1]) === track) return v.canvas;
    }
    return null;
  }

  // ---- requests ----

  setRole(role: RoleName): Promise<void> {
    return this.request({ SetRole: role === 'host' ? 'Host' : 'Audience' });
  }

  raiseHand(up = true): Promise<void> {
    return this.request({ RaiseHand: up });
  }

  sendData(payload: Uint8Array | string, to: string[] = []): Promise<void> {
    const bytes = typeof payload === 'string' ? new TextEncoder().encode(payload) : payload;
    if (bytes.length > 4096) {
      return Promise.reject(new LivestageError('message_too_large', `data message of ${bytes.length} bytes exceeds 4096`));
    }
    this.report_.data.sent++;
    return this.request({ Data: { to, payload: bytes } }).catch((e) => {
      this.report_.data.sent--;
      throw e;
    });
  }

  /** Chooses what to receive from `user` (by default audio and the high layer of every track). */
  subscribe(user: string, options: { track?: number; audio?: boolean; video?: 'high' | 'low' | null } = {}): Promise<void> {
    const video = options.video === undefined || options.video === 'high' ? 'High' : options.video === 'low' ? 'Low' : null;
    return this.request({ Subscribe: { user, track: options.track ?? null, audio: options.audio ?? true, video } });
  }

  // ---- media out ----

  /** Starts publishing; resolves once the server accepted the tracks, rejects if refused. */
  async publish(options: { video?: 'camera' | 'pattern' | null; audio?: string | null } = { video: 'camera', audio: 'microphone' }): Promise<void> {
    if (!this.me) throw new LivestageError('protocol_error', 'not joined');
    this.stopPublishing();
    this.publishOptions = options;
    this.publishStream = (Math.random() * 0x1_0000_0000) >>> 0;
    this.videoFrame = 0;
    this.audioSeq = 0;
    this.videoNeedsKey = true;
    const onError = (e: MediaError) => this.fail(new LivestageError(e.code, e.message));
    const wrap = (e: unknown) => (e instanceof MediaError ? new LivestageError(e.code, e.message) : e);
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
      this.stopPublishing();
      const err = wrap(e);
      if (err instanceof LivestageError) this.fail(err);
      throw err;
    }
    this.localTracks = tracks;
    try {
      await Promise.all(tracks.map((t) => this.request({ Publish: t })));
      for (const t of tracks) this.allowed.add(t.id);
      this.videoPublisher?.keyframe();
    } catch (e) {
      // Refused (e.g. not_permitted for the audience): keep the tracks for when this client
      // goes on stage, but stop encoding meanwhile.
      this.stopPublishing(false);
      throw e;
    }
  }

  private localTracks: Track[] = [];
  private publishOptions: { video?: 'camera' | 'pattern' | null; audio?: string | null } | null = null;

  private republish(): void {
    // Tracks asked for before this client was a host: publish them now (as the native client).
    const opts = this.publishOptions;
    if (opts && !this.videoPublisher && !this.audioPublisher) void this.publish(opts).catch(() => {});
  }

  /** Stops publishing and unpublishes the tracks. */
  async unpublish(): Promise<void> {
    const tracks = this.localTracks;
    this.stopPublishing();
    this.publishOptions = null;
    await Promise.all(tracks.map((t) => this.request({ Unpublish: t.id }).catch(() => {})));
  }

  private stopPublishing(forget = true): void {
    if (this.videoPublisher) this.report_.published.video_frames += this.videoPublisher.frames;
    if (this.audioPublisher) this.report_.published.audio_frames += this.audioPublisher.frames;
    this.videoPublisher?.stop();
    this.audioPublisher?.stop();
    this.videoPublisher = null;
    this.audioPublisher = null;
    if (forget) this.localTracks = [];
    this.allowed.clear();
  }

  private sendVideo(data: Uint8Array, keyframe: boolean, captureUs: bigint): boolean {
    const wt = this.wt;
    if (!wt || this.ended || !this.allowed.has(CAMERA_TRACK)) {
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
      stream: this.publishStream,
      frame: this.videoFrame++,
      keyframe,
      capture_us: captureUs,
    };
    const bytes = videoStreamBytes(header, data);
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
        this.videoInFlight--;
      }
    })();
    return true;
  }

  private sendAudio(payload: Uint8Array, captureUs: bigint): void {
    const w = this.datagramWriter;
    if (!w || this.ended || !this.allowed.has(MICROPHONE_TRACK)) return;
    const d = encodeAudio({ mediaId: 0n, track: MICROPHONE_TRACK, stream: this.publishStream, seq: this.audioSeq++, captureUs, payload });
    if ((w.desiredSize ?? 1) <= 0) return; // the datagram queue is full: drop
    w.write(d).catch(() => {});
  }

  // ---- leaving ----

  /** Leaves the channel and closes the connection. */
  async leave(): Promise<void> {
    if (this.ended) return;
    this.leaving = true;
    const done = this.request('Leave').catch(() => {});
    await Promise.race([done, new Promise((r) => setTimeout(r, 1000))]);
    this.end(null);
  }

  private onClosed(why: string, code?: number): void {
    if (this.ended) return;
    if (this.leaving) return this.end(null);
    const e = this.report_.joined
      ? new LivestageError('unreachable', `the connection to ${this.options.server} closed: ${why}${code ? ` (code ${code})` : ''}`)
      : new LivestageError('unreachable', `cannot reach the Livestage server at ${this.options.server} over WebTransport (${why}). The certificate hash may be wrong or expired, or the server is down or has WebTransport disabled.`);
    this.end(e);
  }

  private end(error: LivestageError | null): void {
    if (this.ended) return;
    this.ended = true;
    if (error) this.fail(error);
    this.refusedJoin?.(error ?? new LivestageError('unreachable', 'closed before joining'));
    this.refusedJoin = null;
    this.welcomed = null;
    for (const r of this.requests.values()) r.reject(new LivestageError(error?.code ?? 'closed', error?.message ?? 'left the channel'));
    this.requests.clear();
    this.shutdown();
    this.emit('closed', error ? { code: error.code, message: error.message } : null);
  }

  private shutdown(): void {
    this.ended = true;
    this.snapshot();
    this.stopPublishing();
    if (this.linkTimer !== null) clearInterval(this.linkTimer);
    if (this.ackTimer !== null) clearTimeout(this.ackTimer);
    for (const v of this.videos.values()) v.close();
    for (const a of this.audios.values()) a.close();
    this.videos.clear();
    this.audios.clear();
    this.playout.close();
    try {
      this.wt?.close({ closeCode: 0, reason: 'bye' });
    } catch {
      // Already closed.
    }
  }

  /** Copies the receivers' figures into the report (kept after they close). */
  private snapshot(): void {
    for (const [k, v] of this.videos) this.put(this.report_.video, k, v.stats());
    for (const [k, a] of this.audios) this.put(this.report_.audio, k, a.stats());
  }

  private put<T>(into: Record<string, T>, k: string, value: T): void {
    const [mediaId, track] = k.split(':');
    const name = this.trackName(BigInt(mediaId), Number(track));
    into[name] = value;
    const plain = name.replace(/\/(camera|microphone)$/, '');
    if (plain !== name) into[plain] = value;
  }

  /** The native bot's report shape. */
  report(): Report {
    if (!this.ended) this.snapshot();
    const r = this.report_;
    const published = { ...r.published };
    if (this.videoPublisher) published.video_frames += this.videoPublisher.frames;
    if (this.audioPublisher) published.audio_frames += this.audioPublisher.frames;
    return JSON.parse(JSON.stringify({ ...r, published, peers: [...r.peers].sort() }));
  }

  /** Whether the session is over. */
  get closed(): boolean {
    return this.ended;
  }

  /** Resumes audio playout the autoplay policy held back (call from a click). */
  resumeAudio(): void {
    this.playout.resume();
  }

  /** Microseconds since the epoch, the clock stamps use. */
  static now(): bigint {
    return nowUs();
  }
}
