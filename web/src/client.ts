/**
 * web/src/client.ts: the Livestage browser client, the public `Client` (WebTransport to the
 * server, WebCodecs for media). Owns the session, at the top of the data flow between the app
 * and the server: joining (capability checks, the Hello), the control stream (writing frames,
 * reading them in order, acks back, link reports), the welcome and the roster it completes,
 * resuming after a lost connection (as the native client: `Resume` with the welcome's session
 * and key, unacknowledged requests sent again, a fresh join if the server no longer has the
 * session; `state` events and stall detection), leaving, and the app's events. Wires in
 * connection.ts (opening a WebTransport, framing, the reconnect loop), requests.ts (requests
 * numbered and settled), events.ts (what the server's events mean), roster.ts (who this client
 * sees), incoming.ts (media in: receivers per track), outgoing.ts (media out: publishers and
 * their streams) and report.ts (the bot-shaped report); only this file writes the control
 * stream. api.ts holds the option and event types it re-exports.
 */
import type { ClientEvents, JoinOptions } from './api';
import { Playout } from './audio';
import { frame, VERSION } from './codec';
import {
  checkSupport,
  closedBeforeWelcome,
  dial,
  Goodbye,
  JOIN_TIMEOUT_MS,
  linkLoss,
  readFrames,
  reconnect,
  RETRY_TIMEOUT_MS,
  STALL_MS,
  timeLimit,
  unreachable,
  type Mode,
  type PacketCounts,
} from './connection';
import { tokenClaims } from './credentials';
import { Emitter } from './emitter';
import { LivestageError, snakeCode } from './errors';
import { ServerEvents } from './events';
import { Incoming } from './incoming';
import { Outgoing, type PublishOptions } from './outgoing';
import { CAMERA_TRACK, MediaError } from './publish';
import { emptyReport, finalReport, noteError, notePeer, type Report } from './report';
import { Requests } from './requests';
import { Roster, type Participant, type Replaced, type RoleName, type Track } from './roster';
import { nowUs } from './stamp';

export { tokenClaims } from './credentials';
export { LivestageError, snakeCode } from './errors';
export type { ClientEvents, JoinOptions } from './api';
export type { ErrorInfo, Report } from './report';
export type { Participant, RoleName, Track } from './roster';

const ACK_EVERY_MS = 100;

export class Client extends Emitter<ClientEvents> {
  private wt: WebTransport | null = null;
  private writer: WritableStreamDefaultWriter<Uint8Array> | null = null;
  private received = 0;
  private acked = 0;
  private lastAckAt = 0;
  private ackTimer: ReturnType<typeof setTimeout> | null = null;
  private linkTimer: ReturnType<typeof setInterval> | null = null;
  private lastStats: PacketCounts | null = null;
  private readonly requests = new Requests();
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
  private readonly events: ServerEvents;
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
    this.events = new ServerEvents(this.user, this.view, this.outgoing, this.requests, {
      emit: (type, value) => this.emit(type, value),
      report: () => this.report_,
      republish: () => this.republish(),
    });
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
      await checkSupport();
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
    const wt = dial(o.server, o.hash);
    this.wt = wt;
    this.mode = mode;
    wt.closed.then(
      (info) => this.onClosed(wt, info?.reason ? `${info.reason}` : 'closed by the server', info?.closeCode),
      (e) => this.onClosed(wt, String((e as Error)?.message ?? e)),
    );
    const { late, clear } = timeLimit(first ? JOIN_TIMEOUT_MS : RETRY_TIMEOUT_MS);
    // A reconnect's try also fails when its connection closes before the welcome.
    const closed = closedBeforeWelcome(wt);
    try {
      try {
        await Promise.race([wt.ready, late]);
      } catch (e) {
        throw unreachable(o.server, (e as Error).message || String(e));
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
        throw unreachable(o.server, (e as Error)?.message || String(e));
      }
      throw e;
    } finally {
      clear();
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

  /** Resumes the session on a new connection, or joins afresh (see connection.ts `reconnect`). */
  private reconnect(): Promise<void> {
    return reconnect({
      server: this.options.server,
      mode: this.resumable ? 'resume' : 'rejoin',
      secs: this.resumable?.secs ?? 20,
      lastHeard: this.lastHeard,
      stopped: () => this.ended || this.leaving,
      open: (mode) => {
        this.closedDuringTry = null;
        return this.open(mode);
      },
      reconnected: (mode) => {
        if (this.ended) return;
        this.reconnecting = false;
        this.report_.reconnects = (this.report_.reconnects ?? 0) + 1;
        if (this.closedDuringTry === this.wt) {
          // Welcomed, and lost again at once: try again.
          this.closedDuringTry = null;
          return this.lost();
        }
        this.stalled = false;
        this.lastHeard = performance.now();
        if (mode === 'rejoin') this.publishAgain();
        this.emit('state', { state: 'connected' });
      },
      end: (e) => this.end(e),
    });
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
    const { seq, done } = this.requests.add(request, !this.live);
    if (seq !== null) this.send({ Request: { seq, request } });
    return done;
  }

  private async readControl(wt: WebTransport, readable: ReadableStream<Uint8Array>): Promise<void> {
    try {
      await readFrames(readable, () => wt === this.wt && !this.ended, (f) => this.onFrame(f));
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
        this.events.apply(body.event);
        this.scheduleAck();
        return;
      }
      case 'Ack':
        return this.requests.acked(Number(body.upto));
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
      this.requests.renumber();
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
      this.events.placed({ participant: w.you, placed: 'me' });
      if (this.mode === 'resume') {
        // Requests the server applied before the connection broke are done; send the rest again.
        this.requests.acked(Number(w.received));
      }
      for (const r of this.requests.unanswered()) this.send({ Request: r });
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
    const { loss, counts } = await linkLoss(wt, this.lastStats);
    if (counts) this.lastStats = counts;
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
      : unreachable(this.options.server, why);
    this.end(e);
  }

  private end(error: LivestageError | null): void {
    if (this.ended) return;
    this.ended = true;
    if (error) this.fail(error);
    this.refusedJoin?.(error ?? new LivestageError('unreachable', 'closed before joining'));
    this.refusedJoin = null;
    this.welcomed = null;
    this.requests.fail(error?.code ?? 'closed', error?.message ?? 'left the channel');
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
