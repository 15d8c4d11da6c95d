/**
 * web/src/roster.ts: who this client sees, as the native session (proto/src/client.rs) keeps it.
 * client.ts feeds it the welcome, the roster pages and the participant events off the control
 * stream, and turns what each call returns into its events; incoming.ts and client.ts read it to
 * map a media id to a participant and to name tracks `user/source` as the native bot does.
 * Pure state: no I/O and no browser APIs (web/test/roster.test.ts runs it under node). Every
 * collection in it is capped, whatever the server sends.
 */

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

/** Part of a roster, as the server sends it (in the welcome, then as `Roster` frames). */
export interface RosterPage {
  start: boolean;
  peers: Participant[];
  more: boolean;
}

/** Most participants remembered by media id; past it the oldest learnt is forgotten. */
export const SEEN_MAX = 4096;
/** Most participants in the roster, or in the roster pages being put together. */
export const ROSTER_MAX = 16_384;

/**
 * What placing a participant did: `me` (it is this client), `joined` (now seen), `updated`
 * (seen before and still), `left` (seen before, no longer), `unseen` (neither before nor now).
 */
export type Placed = 'me' | 'joined' | 'updated' | 'left' | 'unseen';

export interface Placement {
  participant: Participant;
  placed: Placed;
}

/** A complete roster took the place of the one before. */
export interface Replaced {
  /** Everyone now seen, in the roster's order. */
  peers: Participant[];
  /** Newly seen. */
  joined: Participant[];
  /** No longer seen (their users). */
  left: string[];
}

export class Roster {
  /** The participants this client sees, by user (never this client). */
  readonly peers = new Map<string, Participant>();
  /**
   * Participants by media id, oldest learnt first, at most SEEN_MAX, so that media maps to a
   * user after it left (use `byMedia`, which also finds anyone seen now).
   */
  readonly seen = new Map<string, Participant>();
  /** This client as others see it (from the welcome on). */
  me: Participant | null = null;
  /** Pages of a roster still coming (`more`). */
  private incoming: Participant[] | null = null;

  constructor(
    /** This client's user id. */
    readonly user: string,
    private readonly seenMax = SEEN_MAX,
    private readonly rosterMax = ROSTER_MAX,
  ) {}

  /** The welcome: this client, and the first roster page (null while more pages are to come). */
  welcome(you: Participant, page: RosterPage): Replaced | null {
    this.me = you;
    this.learn(you);
    return this.page(page, true);
  }

  /**
   * A roster page: `start` (or the welcome's) begins a roster, others continue it; the last
   * (`more` false) replaces the roster. Null while more pages are to come, or for a page that
   * continues no roster.
   */
  page(page: RosterPage, fromWelcome = false): Replaced | null {
    let peers: Participant[];
    if (page.start || fromWelcome) peers = [];
    else if (this.incoming) peers = this.incoming;
    else return null;
    for (const p of page.peers) {
      if (peers.length >= this.rosterMax) break;
      peers.push(p);
    }
    if (page.more) {
      this.incoming = peers;
      return null;
    }
    this.incoming = null;
    const before = new Set(this.peers.keys());
    this.peers.clear();
    for (const p of peers) {
      if (p.user === this.user) continue;
      this.peers.set(p.user, p);
      this.learn(p);
    }
    const now = [...this.peers.values()];
    return {
      peers: now,
      joined: now.filter((p) => !before.has(p.user)),
      left: [...before].filter((u) => !this.peers.has(u)),
    };
  }

  /** Puts `p` in the roster or out of it: everyone sees a host, a host sees a raised hand. */
  place(p: Participant): Placement {
    this.learn(p);
    if (p.user === this.user) {
      this.me = p;
      return { participant: p, placed: 'me' };
    }
    const iAmHost = this.me?.role === 'Host';
    if (p.role === 'Host' || (iAmHost && p.hand_raised)) {
      const had = this.peers.has(p.user);
      if (!had && this.peers.size >= this.rosterMax) return { participant: p, placed: 'unseen' };
      this.peers.set(p.user, p);
      return { participant: p, placed: had ? 'updated' : 'joined' };
    }
    return { participant: p, placed: this.peers.delete(p.user) ? 'left' : 'unseen' };
  }

  /** `PeerLeft`: whether `user` was seen. */
  remove(user: string): boolean {
    return this.peers.delete(user);
  }

  /** `MuteChanged`: null if `user` is neither this client nor seen. */
  muted(user: string, audio: boolean, video: boolean): Placement | null {
    const p = this.participant(user);
    return p ? this.place({ ...p, audio_muted: audio, video_muted: video }) : null;
  }

  /** `TrackPublished` (a track of the same id is replaced): null if `user` is not known. */
  published(user: string, track: Track): Placement | null {
    const p = this.participant(user);
    if (!p) return null;
    return this.place({ ...p, tracks: p.tracks.filter((t) => t.id !== track.id).concat([track]) });
  }

  /** `TrackUnpublished`: null if `user` is not known. */
  unpublished(user: string, track: number): Placement | null {
    const p = this.participant(user);
    return p ? this.place({ ...p, tracks: p.tracks.filter((t) => t.id !== track) }) : null;
  }

  /** This client or a participant it sees, by user. */
  participant(user: string): Participant | null {
    if (user === this.user) return this.me;
    return this.peers.get(user) ?? null;
  }

  /** Whoever has `mediaId`: remembered, or seen now (if the memory forgot them). */
  byMedia(mediaId: number | bigint): Participant | null {
    const id = String(mediaId);
    const p = this.seen.get(id);
    if (p) return p;
    if (this.me && String(this.me.media_id) === id) return this.me;
    for (const q of this.peers.values()) if (String(q.media_id) === id) return q;
    return null;
  }

  /** The user with `mediaId`, or `media-ID` for one never seen. */
  userOf(mediaId: number | bigint): string {
    return this.byMedia(mediaId)?.user ?? `media-${String(mediaId)}`;
  }

  /**
   * `user/source` for a publisher track (as the native bot names it): `user/source-ID` for a
   * second track of a source, `user/track-ID` for a track not announced, `media-M/track-ID`
   * for a publisher never seen.
   */
  trackName(mediaId: number | bigint, track: number): string {
    const p = this.byMedia(mediaId);
    if (!p) return `media-${String(mediaId)}/track-${track}`;
    const t = p.tracks.find((x) => x.id === track);
    if (!t) return `${p.user}/track-${track}`;
    const first = p.tracks.find((x) => x.source === t.source);
    return first?.id === track ? `${p.user}/${t.source}` : `${p.user}/${t.source}-${track}`;
  }

  /** Remembers `p` by media id, as the newest; forgets the oldest past the cap. */
  private learn(p: Participant): void {
    const id = String(p.media_id);
    this.seen.delete(id);
    this.seen.set(id, p);
    while (this.seen.size > this.seenMax) this.seen.delete(this.seen.keys().next().value!);
  }
}
