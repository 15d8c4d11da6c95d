/**
 * web/src/events.ts: what the server's events mean to the browser client. Sits after
 * client.ts's control stream reader (which orders, deduplicates and acks them): places
 * participants in roster.ts's view, notes them in the report, settles refused requests in
 * requests.ts, tells outgoing.ts which tracks it may send and when to send a keyframe, and
 * emits the app's events through client.ts. Touches no browser API and writes nothing to the
 * server.
 */
import type { ClientEvents } from './api';
import { snakeCode } from './errors';
import type { Outgoing } from './outgoing';
import { CAMERA_TRACK } from './publish';
import { noteData, notePeer, noteRefused, type Report } from './report';
import type { Requests } from './requests';
import type { Participant, Placement, Roster } from './roster';

/** What the events act on in client.ts. */
export interface Sinks {
  emit<K extends keyof ClientEvents>(type: K, value: ClientEvents[K]): void;
  /** The report being kept. */
  report(): Report;
  /** This client went on stage: publish the tracks asked for before. */
  republish(): void;
}

export class ServerEvents {
  constructor(
    private readonly user: string,
    private readonly view: Roster,
    private readonly outgoing: Outgoing,
    private readonly requests: Requests,
    private readonly to: Sinks,
  ) {}

  /** Acts on what placing a participant did (see Roster.place). */
  placed(at: Placement | null): void {
    if (!at) return;
    const p = at.participant;
    switch (at.placed) {
      case 'me':
        this.outgoing.allowOnly(p.role === 'Host' ? p.tracks.map((t) => t.id) : []);
        return;
      case 'joined':
        notePeer(this.to.report(), p.user);
        this.to.emit('peer-joined', p);
        return;
      case 'updated':
        notePeer(this.to.report(), p.user);
        return;
      case 'left':
        this.to.emit('peer-left', { user: p.user, reason: 'audience' });
        return;
      case 'unseen':
        return;
    }
  }

  /** Applies one of the server's events (in order, each once): the roster, the app's events. */
  apply(event: unknown): void {
    this.to.emit('event', event);
    const [kind, body] = typeof event === 'string' ? [event, null] : (Object.entries(event as object)[0] as [string, any]);
    switch (kind) {
      case 'PeerJoined':
        return this.placed(this.view.place(body));
      case 'PeerLeft':
        if (this.view.remove(body.user)) this.to.emit('peer-left', { user: body.user, reason: String(body.reason) });
        return;
      case 'RoleChanged': {
        const p: Participant = body.participant;
        this.placed(this.view.place(p));
        if (p.user === this.user) {
          this.to.report().role = p.role === 'Host' ? 'host' : 'audience';
          if (p.role === 'Host') this.to.republish();
        }
        this.to.emit('role-changed', { participant: p, by: body.by });
        return;
      }
      case 'HandChanged':
        this.placed(this.view.place(body.participant));
        this.to.emit('hand-changed', body.participant);
        return;
      case 'MuteChanged':
        return this.placed(this.view.muted(body.user, body.audio, body.video));
      case 'TrackPublished': {
        this.placed(this.view.published(body.user, body.track));
        if (body.user === this.user && body.track.id === CAMERA_TRACK) this.outgoing.keyframe();
        this.to.emit('track-published', { user: body.user, track: body.track });
        return;
      }
      case 'TrackUnpublished': {
        this.placed(this.view.unpublished(body.user, body.track));
        this.to.emit('track-unpublished', { user: body.user, track: body.track });
        return;
      }
      case 'Data': {
        const from = String(body.from);
        noteData(this.to.report(), from);
        this.to.emit('data', { from, seq: Number(body.seq), private: body.private, payload: body.payload });
        return;
      }
      case 'Refused': {
        const request = Number(body.request);
        const code = snakeCode(body.error.code);
        const message = String(body.error.message);
        noteRefused(this.to.report(), request, code, message);
        this.requests.refused(request, code, message);
        this.to.emit('refused', { request, code, message });
        return;
      }
      case 'KeyframeRequest':
        if (Number(body.track) === CAMERA_TRACK) this.outgoing.keyframe();
        return;
      default:
        return;
    }
  }
}
