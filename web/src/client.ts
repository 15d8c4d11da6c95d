/**
 * web/src/client.ts: the Livestage browser client, the public `Client` (WebTransport to the
 * server, WebCodecs for media). Owns the session: connecting, the control stream (framing,
 * requests and their acks, the server's events in order, acks back, link reports), joining and
 * leaving, resuming after a lost connection (as the native client: `Resume` with the welcome's
 * session and key, unacknowledged requests sent again, a fresh join if the server no longer has
 * the session; `state` events), and the app's events. Wires in roster.ts (who this client sees), incoming.ts (media
 * in: receivers per track), outgoing.ts (media out: publishers and their streams) and
 * report.ts (the bot-shaped report); only this file writes the control stream.
 */
import { Playout } from './audio';
import { decode, frame, VERSION, MAX_FRAME } from './codec';
import { hexBytes, tokenClaims } from './credentials';
import { Emitter } from './emitter';
import { LivestageError, snakeCode } from './errors';
import { Incoming } from './incoming';
import { Outgoing, type PublishOptions } from './outgoing';
import { CAMERA_TRACK, MediaError } from './publish';
import { emptyReport, finalReport, noteData, noteError, notePeer, noteRefused, type ErrorInfo, type Report } from './report';
import { Roster, type Participant, type Placement, type Replaced, type RoleName, type Track } from './roster';
import { nowUs } from './stamp';
import { VIDEO_CODEC } from './video';

export { tokenClaims } from './credentials';
export { LivestageError, snakeCode } from './errors';
export type { ErrorInfo, Report } from './report';
export type { Participant, RoleName, Track } from './roster';

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

const ACK_EVERY_MS = 100;
/** Most requests awaiting an answer; past it the oldest is given up on. */
const REQUESTS_MAX = 1024;
/** Nothing from the server this long while joined: report `reconnecting` (as the native client). */
const STALL_MS = 4000;
/** The server's QUIC idle timeout: it notices a lost connection this long after the silence began. */
const IDLE_TIMEOUT_MS = 15_000;
/** Waits between tries to resume: from the first, doubling up to the last. */
const RETRY_FIRST_MS = 250;
const RETRY_MAX_MS = 4000;
/** How long one try to reach the server and be welcomed may take (the first join: 10 s). */
const RETRY_TIMEOUT_MS = 5000;

interface Pending {
  request: string;
  /** The request itself, to send again after a resume. */
  body: unknown;
  resolve: () => void;
  reject: (e: LivestageError) => void;
}

/** How a connection starts: the first join, a resume, or a fresh join after the session expired. */
type Mode = 'join' | 'resume' | 'rejoin';

/** The server said Goodbye instead of Welcome on a reconnect. */
class Goodbye extends Error {
  constructor(readonly error: LivestageError) {
    super(error.message);
  }
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export class Client extends Emitter<ClientEvents> {
  private wt: WebTransport | null = null;
  private writer: WritableStreamDefaultWriter<Uint8Array> | null = null;
  private nextSeq = 1;
  private received = 0;
  private acked = 0;
  private lastAckAt = 0;
  private ackTimer: ReturnType<typeof setTimeout> | null = null;
  private linkTimer: ReturnType<typeof setInterval> | null = null;
  private lastStats: { sent: number; lost: number } | null = null;
  private requests = new Map<number, Pending>();
  private started = 0;
  private ended = false;
  private leaving = false;
  private welcomed: (() => void) | null = null;
  private refusedJoin: ((e: Error) => void) | null = null;
  private pendingWelcome: any = null;
  /** How the current connection started. */
  private mode: Mode = 'join';
  /** Welcomed on the current connection: requests, acks and link reports may be sent. */
  private live = false;
  /** The connection was lost and a new one is being tried. */
  private reconnecting = false;
  /** `reconnecting` was reported and `connected` not since. */
  private stalled = false;
  /** When anything last arrived from the server (performance.now()). */
  private lastHeard = 0;
  private stallTimer: ReturnType<typeof setInterval> | null = null;
  /** A reconnect's connection that closed while the try was still finishing. */
  private closedDuringTry: WebTransport | null = null;
  /** From the last welcome: what a resume needs. */
  private resumable: { session: unknown; key: number | bigint; secs: number } | null = null;
  private playout: Playout;
  private readonly view: Roster;
  private readonly incoming: Incoming;
  private readonly outgoing = new Outgoing();
  private localTracks: Track[] = [];
  private publishOptions: PublishOptions | null = null;

  /** The participants this client sees, by user. */
  readonly roster: Map<string, Participant>;
  /** Everyone seen, by media id (so media maps to a user after it left; the latest SEEN_MAX). */
  readonly seen: Map<string, Participant>;
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
    this.report_ = emptyReport(this.user, this.channel);
    this.view = new Roster(this.user);
    this.roster = this.view.peers;
    this.seen = this.view.seen;
    this.incoming = new Incoming(this.view, this.playout, this.report_, options.audio !== false, {
      ended: () => this.ended,
      requestKeyframe: (media_id, track, layer) => void this.request({ RequestKeyframe: { media_id, track, layer } }).catch(() => {}),
      wantsFrames: () => this.listens('video-frame'),
      frame: (user, track, frame) => this.emit('video-frame', { user, track, frame }),
      videoTrack: (user, track, key, canvas) => this.emit('video-track', { user, track, key, canvas }),
      videoTrackEnded: (user, track, key) => this.emit('video-track-ended', { user, track, key }),
      sinceJoin: () => performance.now() - this.started,
      heard: () => this.heard(),
    });
  }

  /** This client as others see it. */
  get me(): Participant | null {
    return this.view.me;
  }

  set me(p: Participant | null) {
    this.view.me = p;
  }

  /** Connects and joins; resolves once welcomed. */
  static async join(options: JoinOptions): Promise<Client> {
    const c = new Client(options);
    await c.connect();
    return c;
  }

  private fail(e: LivestageError): LivestageError {
    noteError(this.report_, e);
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

  private async open(mode: Mode = 'join'): Promise<void> {
    const o = this.options;
    const first = mode === 'join';
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
    this.mode = mode;
    wt.closed.then(
      (info) => this.onClosed(wt, info?.reason ? `${info.reason}` : 'closed by the server', info?.closeCode),
      (e) => this.onClosed(wt, String((e as Error)?.message ?? e)),
    );
    const limit = first ? 10_000 : RETRY_TIMEOUT_MS;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${limit / 1000} s`)), limit);
    });
    late.catch(() => {});
    // A reconnect's try also fails when its connection closes before the welcome.
    const closed = wt.closed.then(
      () => Promise.reject(new Error('closed before the welcome')),
      (e) => Promise.reject(new Error(String((e as Error)?.message ?? e))),
    );
    closed.catch(() => {});
    try {
      try {
        await Promise.race([wt.ready, late]);
      } catch (e) {
        throw unreachable((e as Error).message || String(e));
      }
      const bidi = await wt.createBidirectionalStream();
      const writer = bidi.writable.getWriter();
      this.writer = writer;
      const welcome = new Promise<void>((resolve, reject) => {
        this.welcomed = resolve;
        this.refusedJoin = reject;
      });
      welcome.catch(() => {});
      let intent: unknown;
      if (mode === 'resume' && this.resumable) {
        const r = this.resumable;
        intent = { Resume: { session: r.session, key: r.key, received: this.received } };
      } else {
        const role = (mode === 'rejoin' ? this.report_.role : o.role) === 'host' ? 'Host' : 'Audience';
        intent = { Join: { channel: this.channel, token: o.token, role } };
      }
      await this.write(frame('Hello', { version: VERSION, intent }));
      void this.readControl(wt, bidi.readable);
      this.incoming.start(wt);
      if (first) await welcome;
      else await Promise.race([welcome, closed, late]);
      if (this.ended) return;
      this.outgoing.attach(wt, wt.datagrams.writable.getWriter());
    } catch (e) {
      if (!first) {
        this.welcomed = null;
        this.refusedJoin = null;
        this.live = false;
        this.writer = null;
        try {
          wt.close({ closeCode: 0, reason: 'bye' });
        } catch {
          // Already closed.
        }
        if (e instanceof Goodbye || e instanceof LivestageError) throw e;
        throw unreachable((e as Error)?.message || String(e));
      }
      throw e;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Anything arrived from the server: the path works. */
  private heard(): void {
    this.lastHeard = performance.now();
    if (this.stalled && this.live && !this.reconnecting && !this.ended) {
      this.stalled = false;
      this.emit('state', { state: 'connected' });
    }
  }

  /** Reports a stall: nothing from the server for STALL_MS while joined. */
  private checkStall(): void {
    if (this.ended || this.leaving || this.reconnecting || !this.live || this.stalled) return;
    if (performance.now() - this.lastHeard >= STALL_MS) {
      this.stalled = true;
      this.emit('state', { state: 'reconnecting' });
    }
  }

  /** The connection of a welcomed session is gone: keep everything and resume on a new one. */
  private lost(): void {
    if (this.ended || this.leaving || this.reconnecting) return;
    this.reconnecting = true;
    this.live = false;
    this.writer = null;
    this.welcomed = null;
    this.refusedJoin = null;
    this.outgoing.detach();
    if (this.linkTimer !== null) clearInterval(this.linkTimer);
    this.linkTimer = null;
    this.lastStats = null;
    if (!this.stalled) {
      this.stalled = true;
      this.emit('state', { state: 'reconnecting' });
    }
    try {
      this.wt?.close({ closeCode: 0, reason: 'lost' });
    } catch {
      // Already closed.
    }
    void this.reconnect();
  }

  /**
   * Tries new connections with backoff until the server's resume window is over: resumes the
   * session, or joins afresh if the server no longer has it; ends when neither works.
   */
  private async reconnect(): Promise<void> {
    const secs = this.resumable?.secs ?? 20;
    const deadline = Math.max(performance.now(), this.lastHeard + IDLE_TIMEOUT_MS) + secs * 1000;
    let mode: Mode = this.resumable ? 'resume' : 'rejoin';
    let wait = RETRY_FIRST_MS;
    while (!this.ended && !this.leaving) {
      this.closedDuringTry = null;
      try {
        await this.open(mode);
        if (this.ended) return;
        this.reconnecting = false;
        if (this.closedDuringTry === this.wt) {
          // Welcomed, and lost again at once: try again.
          this.closedDuringTry = null;
          this.report_.reconnects = (this.report_.reconnects ?? 0) + 1;
          this.lost();
          return;
        }
        this.stalled = false;
        this.lastHeard = performance.now();
        this.report_.reconnects = (this.report_.reconnects ?? 0) + 1;
        if (mode === 'rejoin') this.publishAgain();
        this.emit('state', { state: 'connected' });
        return;
      } catch (e) {
        if (this.ended || this.leaving) return;
        if (e instanceof Goodbye) {
          // The session is gone (expired): join afresh; a refused join ends the session.
          if (mode === 'resume') {
            mode = 'rejoin';
            continue;
          }
          return this.end(e.error);
        }
      }
      const left = deadline - performance.now();
      if (left <= 0) {
        return this.end(
          new LivestageError('unreachable', `lost the connection to ${this.options.server} and could not reconnect within ${secs} s`),
        );
      }
      await sleep(Math.min(wait, left));
      wait = Math.min(wait * 2, RETRY_MAX_MS);
    }
  }

  /** After joining afresh: publishes again the tracks the lost session published. */
  private publishAgain(): void {
    const tracks = this.localTracks;
    if (!tracks.length || !this.outgoing.publishing || this.me?.role !== 'Host') return;
    void Promise.all(tracks.map((t) => this.request({ Publish: t })))
      .then(() => {
        this.outgoing.allow(tracks.map((t) => t.id));
        this.outgoing.keyframe();
      })
      .catch(() => {});
  }

  private async write(bytes: Uint8Array): Promise<void> {
    if (!this.writer) return;
    try {
      await this.writer.write(bytes);
    } catch {
      // The connection is gone; onClosed reports it.
    }
  }

  private send(value: unknown): void {
    if (!this.live) return;
    void this.write(frame('ClientFrame', value));
  }

  /** Sends a request; resolves when the server applied it, rejects when it refused it. */
  request(request: unknown): Promise<void> {
    if (this.ended || (!this.live && !this.reconnecting)) {
      return Promise.reject(new LivestageError('protocol_error', 'not connected'));
    }
    const name = typeof request === 'string' ? request : Object.keys(request as object)[0];
    if (!this.live && this.requests.size >= REQUESTS_MAX) {
      // Held for the reconnect: refuse more rather than drop one (sequence numbers must not skip).
      return Promise.reject(new LivestageError('protocol_error', `${name}: ${REQUESTS_MAX} requests wait for the reconnect`));
    }
    const seq = this.nextSeq++;
    return new Promise((resolve, reject) => {
      this.requests.set(seq, { request: name, body: request, resolve, reject });
      if (this.requests.size > REQUESTS_MAX) {
        // The server answers none: give up on the oldest rather than hold them all.
        const [oldest, r] = this.requests.entries().next().value!;
        this.requests.delete(oldest);
        r.reject(new LivestageError('protocol_error', `${r.request}: no answer from the server to ${REQUESTS_MAX} requests`));
      }
      this.send({ Request: { seq, request } });
    });
  }

  private async readControl(wt: WebTransport, readable: ReadableStream<Uint8Array>): Promise<void> {
    const reader = readable.getReader();
    let buf = new Uint8Array(0);
    try {
      for (;;) {
        let got: ReadableStreamReadResult<Uint8Array>;
        try {
          got = await reader.read();
        } catch {
          // The connection broke: onClosed ends or resumes the session.
          break;
        }
        const { value, done } = got;
        if (done || wt !== this.wt || this.ended) break;
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
          if (wt !== this.wt || this.ended) return;
          this.onFrame(decode('ServerFrame', body));
        }
      }
    } catch (e) {
      const err = e instanceof LivestageError ? e : new LivestageError('protocol_error', `control stream: ${(e as Error)?.message ?? e}`);
      if (!this.ended && !this.leaving && wt === this.wt) this.end(err);
    }
  }

  private onFrame(f: unknown): void {
    const [kind, body] = typeof f === 'string' ? [f, null] : (Object.entries(f as object)[0] as [string, any]);
    this.heard();
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
        return this.onRoster(this.view.page(body));
      case 'Goodbye': {
        const e = new LivestageError(snakeCode(body.code), body.message);
        if (this.reconnecting && this.refusedJoin) {
          // A refused resume (or join afresh): reconnect() decides.
          const refused = this.refusedJoin;
          this.refusedJoin = null;
          this.welcomed = null;
          return refused(new Goodbye(e));
        }
        return this.end(e);
      }
      case 'Links':
        return;
    }
  }

  private onWelcome(w: any): void {
    if (this.live) return this.end(new LivestageError('protocol_error', 'unexpected welcome'));
    const first = this.mode === 'join';
    if (this.mode === 'rejoin') {
      // A new session: its events and requests are numbered from 1 again.
      this.received = 0;
      this.acked = 0;
      const waiting = [...this.requests.values()];
      this.requests.clear();
      this.nextSeq = 1;
      for (const r of waiting) this.requests.set(this.nextSeq++, r);
    }
    this.resumable = { session: w.session, key: w.key, secs: Number(w.resume_secs) || 20 };
    this.report_.joined = true;
    if (first) this.report_.join_ms = Math.round(performance.now() - this.started);
    this.report_.role = w.you.role === 'Host' ? 'host' : 'audience';
    this.pendingWelcome = w;
    const replaced = this.view.welcome(w.you, w.roster);
    if (this.linkTimer !== null) clearInterval(this.linkTimer);
    this.linkTimer = setInterval(() => void this.reportLink(), 1000);
    this.stallTimer ??= setInterval(() => this.checkStall(), 500);
    this.lastHeard = performance.now();
    if (this.options.audio !== false) void this.playout.start();
    this.live = true;
    if (!first) {
      this.placed({ participant: w.you, placed: 'me' });
      if (this.mode === 'resume') {
        // Requests the server applied before the connection broke are done; send the rest again.
        const applied = Number(w.received);
        for (const [seq, r] of this.requests) {
          if (seq <= applied) {
            this.requests.delete(seq);
            r.resolve();
          }
        }
      }
      for (const [seq, r] of this.requests) this.send({ Request: { seq, request: r.body } });
    }
    this.onRoster(replaced);
  }

  /** A complete roster arrived (null: not yet): completes the welcome, or tells what changed. */
  private onRoster(replaced: Replaced | null): void {
    if (!replaced) return;
    for (const p of replaced.peers) notePeer(this.report_, p.user);
    if (this.pendingWelcome) {
      const w = this.pendingWelcome;
      this.pendingWelcome = null;
      if (this.mode === 'resume') {
        // The same session: tell what changed while the connection was down.
        for (const u of replaced.left) this.emit('peer-left', { user: u, reason: 'hidden' });
        for (const p of replaced.joined) this.emit('peer-joined', p);
      } else {
        this.emit('joined', { you: w.you, peers: replaced.peers, channel: w.channel });
      }
      this.refusedJoin = null;
      this.welcomed?.();
      this.welcomed = null;
    } else {
      for (const u of replaced.left) this.emit('peer-left', { user: u, reason: 'hidden' });
      for (const p of replaced.joined) this.emit('peer-joined', p);
    }
  }

  /** Acts on what placing a participant did (see Roster.place). */
  private placed(at: Placement | null): void {
    if (!at) return;
    const p = at.participant;
    switch (at.placed) {
      case 'me':
        this.outgoing.allowOnly(p.role === 'Host' ? p.tracks.map((t) => t.id) : []);
        return;
      case 'joined':
        notePeer(this.report_, p.user);
        this.emit('peer-joined', p);
        return;
      case 'updated':
        notePeer(this.report_, p.user);
        return;
      case 'left':
        this.emit('peer-left', { user: p.user, reason: 'audience' });
        return;
      case 'unseen':
        return;
    }
  }

  private onEvent(event: unknown): void {
    this.emit('event', event);
    const [kind, body] = typeof event === 'string' ? [event, null] : (Object.entries(event as object)[0] as [string, any]);
    switch (kind) {
      case 'PeerJoined':
        return this.placed(this.view.place(body));
      case 'PeerLeft':
        if (this.view.remove(body.user)) this.emit('peer-left', { user: body.user, reason: String(body.reason) });
        return;
      case 'RoleChanged': {
        const p: Participant = body.participant;
        this.placed(this.view.place(p));
        if (p.user === this.user) {
          this.report_.role = p.role === 'Host' ? 'host' : 'audience';
          if (p.role === 'Host') this.republish();
        }
        this.emit('role-changed', { participant: p, by: body.by });
        return;
      }
      case 'HandChanged':
        this.placed(this.view.place(body.participant));
        this.emit('hand-changed', body.participant);
        return;
      case 'MuteChanged':
        return this.placed(this.view.muted(body.user, body.audio, body.video));
      case 'TrackPublished': {
        this.placed(this.view.published(body.user, body.track));
        if (body.user === this.user && body.track.id === CAMERA_TRACK) this.outgoing.keyframe();
        this.emit('track-published', { user: body.user, track: body.track });
        return;
      }
      case 'TrackUnpublished': {
        this.placed(this.view.unpublished(body.user, body.track));
        this.emit('track-unpublished', { user: body.user, track: body.track });
        return;
      }
      case 'Data': {
        const from = String(body.from);
        noteData(this.report_, from);
        this.emit('data', { from, seq: Number(body.seq), private: body.private, payload: body.payload });
        return;
      }
      case 'Refused': {
        const request = Number(body.request);
        const code = snakeCode(body.error.code);
        const message = String(body.error.message);
        const pending = this.requests.get(request);
        const name = pending?.request ?? (request === 0 ? 'media' : 'request');
        noteRefused(this.report_, request, code, message);
        if (pending) {
          this.requests.delete(request);
          pending.reject(new LivestageError(code, `${name} refused: ${message}`));
        }
        this.emit('refused', { request, code, message });
        return;
      }
      case 'KeyframeRequest':
        if (Number(body.track) === CAMERA_TRACK) this.outgoing.keyframe();
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
      if (this.received > this.acked && !this.ended && this.live) {
        this.acked = this.received;
        this.lastAckAt = performance.now();
        this.send({ Ack: { upto: this.received } });
      }
    }, wait);
  }

  private async reportLink(): Promise<void> {
    if (this.ended || !this.wt || !this.live) return;
    const wt = this.wt;
    let loss = 0;
    try {
      const stats = (await (wt as unknown as { getStats(): Promise<Record<string, unknown>> }).getStats()) ?? {};
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

  /** `user/source` for a publisher track (as the native bot names it). */
  trackName(mediaId: number | bigint, track: number): string {
    return this.view.trackName(mediaId, track);
  }

  /** The canvas a remote video track is drawn to, if it has sent any. */
  canvasOf(user: string, track = CAMERA_TRACK): HTMLCanvasElement | null {
    return this.incoming.canvasOf(user, track);
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
  async publish(options: PublishOptions = { video: 'camera', audio: 'microphone' }): Promise<void> {
    if (!this.me) throw new LivestageError('protocol_error', 'not joined');
    this.stopPublishing();
    this.publishOptions = options;
    const onError = (e: MediaError) => this.fail(new LivestageError(e.code, e.message));
    let tracks: Track[];
    try {
      tracks = await this.outgoing.start(options, onError);
    } catch (e) {
      this.stopPublishing();
      const err = e instanceof MediaError ? new LivestageError(e.code, e.message) : e;
      if (err instanceof LivestageError) this.fail(err);
      throw err;
    }
    this.localTracks = tracks;
    try {
      await Promise.all(tracks.map((t) => this.request({ Publish: t })));
      this.outgoing.allow(tracks.map((t) => t.id));
      this.outgoing.keyframe();
    } catch (e) {
      // Refused (e.g. not_permitted for the audience): keep the tracks for when this client
      // goes on stage, but stop encoding meanwhile.
      this.stopPublishing(false);
      throw e;
    }
  }

  private republish(): void {
    // Tracks asked for before this client was a host: publish them now (as the native client).
    const opts = this.publishOptions;
    if (opts && !this.outgoing.publishing) void this.publish(opts).catch(() => {});
  }

  /** Stops publishing and unpublishes the tracks. */
  async unpublish(): Promise<void> {
    const tracks = this.localTracks;
    this.stopPublishing();
    this.publishOptions = null;
    await Promise.all(tracks.map((t) => this.request({ Unpublish: t.id }).catch(() => {})));
  }

  private stopPublishing(forget = true): void {
    this.outgoing.stop();
    Object.assign(this.report_.published, this.outgoing.frames());
    if (forget) this.localTracks = [];
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

  private onClosed(wt: WebTransport, why: string, code?: number): void {
    if (this.ended || wt !== this.wt) return;
    if (this.leaving) return this.end(null);
    if (this.reconnecting) {
      // A try that failed (reconnect() goes on), or one closed as it was welcomed.
      this.closedDuringTry = wt;
      return;
    }
    if (this.resumable) return this.lost();
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
    this.incoming.snapshot();
    this.stopPublishing();
    this.outgoing.close();
    this.live = false;
    if (this.linkTimer !== null) clearInterval(this.linkTimer);
    if (this.stallTimer !== null) clearInterval(this.stallTimer);
    if (this.ackTimer !== null) clearTimeout(this.ackTimer);
    this.incoming.close();
    this.playout.close();
    try {
      this.wt?.close({ closeCode: 0, reason: 'bye' });
    } catch {
      // Already closed.
    }
  }

  /** The native bot's report shape. */
  report(): Report {
    if (!this.ended) this.incoming.snapshot();
    return finalReport(this.report_, this.outgoing.frames());
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
