/**
 * web/test/roster.test.ts: proves web/src/roster.ts, the browser client's view of who it sees:
 * roster pages put together across `more`, a host seeing raised hands and an audience member
 * not, a hand placed and removed, media ids still naming a peer after it left, the
 * `user/source` track names the native bot uses, and the cap on what it remembers. Run with
 * `npm --prefix web test`.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { Roster, type Participant, type Track } from '../src/roster';

const camera: Track = { id: 0, kind: 'video', source: 'camera', name: '', low_layer: false, muted: false };
const microphone: Track = { id: 1, kind: 'audio', source: 'microphone', name: '', low_layer: false, muted: false };

function person(user: string, media_id: number | bigint, more: Partial<Participant> = {}): Participant {
  return {
    user,
    role: 'Audience',
    moderator: false,
    audio_muted: false,
    video_muted: false,
    hand_raised: false,
    media_id,
    tracks: [],
    ...more,
  };
}
const host = (user: string, media_id: number | bigint, tracks: Track[] = []) => person(user, media_id, { role: 'Host', tracks });

test('roster pages come together across `more` and replace the roster', () => {
  const r = new Roster('me');
  const first = r.welcome(host('me', 1), { start: true, peers: [host('a', 2)], more: true });
  assert.equal(first, null);
  assert.equal(r.me?.user, 'me');
  assert.equal(r.page({ start: false, peers: [host('b', 3), host('me', 1)], more: true }), null);
  const done = r.page({ start: false, peers: [host('c', 4)], more: false });
  assert.ok(done);
  assert.deepEqual(done.peers.map((p) => p.user), ['a', 'b', 'c']);
  assert.deepEqual(done.joined.map((p) => p.user), ['a', 'b', 'c']);
  assert.deepEqual(done.left, []);
  assert.deepEqual([...r.peers.keys()], ['a', 'b', 'c']);

  // A later roster (after a role change) says who came and went.
  assert.equal(r.page({ start: true, peers: [host('b', 3)], more: true }), null);
  const again = r.page({ start: false, peers: [host('d', 5)], more: false });
  assert.ok(again);
  assert.deepEqual(again.joined.map((p) => p.user), ['d']);
  assert.deepEqual(again.left, ['a', 'c']);

  // A page that continues nothing is ignored.
  assert.equal(r.page({ start: false, peers: [host('e', 6)], more: false }), null);
  assert.deepEqual([...r.peers.keys()], ['b', 'd']);
});

test('a host sees raised hands; the audience sees hosts only', () => {
  const hosted = new Roster('me');
  hosted.welcome(host('me', 1), { start: true, peers: [], more: false });
  const audience = new Roster('me');
  audience.welcome(person('me', 1), { start: true, peers: [], more: false });

  const hand = person('ann', 7, { hand_raised: true });
  assert.equal(hosted.place(hand).placed, 'joined');
  assert.equal(audience.place(hand).placed, 'unseen');
  assert.equal(hosted.place({ ...hand, audio_muted: true }).placed, 'updated');
  assert.equal(hosted.peers.get('ann')?.audio_muted, true);

  // The hand goes down: the host no longer sees ann.
  assert.equal(hosted.place({ ...hand, hand_raised: false }).placed, 'left');
  assert.equal(hosted.peers.has('ann'), false);
  assert.equal(hosted.place({ ...hand, hand_raised: false }).placed, 'unseen');

  // Everyone sees a host; a host stepping down leaves the audience's roster.
  assert.equal(audience.place(host('bob', 8)).placed, 'joined');
  assert.equal(audience.place(person('bob', 8)).placed, 'left');
});

test('placing this client updates `me`, never the roster', () => {
  const r = new Roster('me');
  r.welcome(person('me', 1), { start: true, peers: [], more: false });
  const placed = r.place(host('me', 1, [camera]));
  assert.equal(placed.placed, 'me');
  assert.equal(r.me?.role, 'Host');
  assert.equal(r.peers.size, 0);
  assert.equal(r.participant('me')?.role, 'Host');
});

test('mutes and tracks change the participant they name', () => {
  const r = new Roster('me');
  r.welcome(person('me', 1), { start: true, peers: [host('a', 2, [camera])], more: false });
  assert.equal(r.muted('a', true, false)?.placed, 'updated');
  assert.equal(r.peers.get('a')?.audio_muted, true);
  assert.equal(r.muted('nobody', true, true), null);
  r.published('a', microphone);
  r.published('a', { ...camera, muted: true });
  assert.deepEqual(r.peers.get('a')?.tracks.map((t) => [t.id, t.muted]), [[1, false], [0, true]]);
  r.unpublished('a', 1);
  assert.deepEqual(r.peers.get('a')?.tracks.map((t) => t.id), [0]);
});

test('media ids still name a peer after it left', () => {
  const r = new Roster('me');
  r.welcome(person('me', 1), { start: true, peers: [host('a', 2n ** 60n, [camera, microphone])], more: false });
  assert.equal(r.remove('a'), true);
  assert.equal(r.remove('a'), false);
  assert.equal(r.participant('a'), null);
  assert.equal(r.userOf(2n ** 60n), 'a');
  assert.equal(r.trackName(2n ** 60n, 0), 'a/camera');
  assert.equal(r.userOf(99), 'media-99');
});

test('track names: `user/source`, then `user/source-ID`, `user/track-ID`, `media-M/track-ID`', () => {
  const screen: Track = { ...camera, id: 2, source: 'screen' };
  const second: Track = { ...camera, id: 3 };
  const r = new Roster('me');
  r.welcome(person('me', 1), { start: true, peers: [host('a', 5, [camera, microphone, screen, second])], more: false });
  assert.equal(r.trackName(5, 0), 'a/camera');
  assert.equal(r.trackName(5n, 1), 'a/microphone');
  assert.equal(r.trackName(5, 2), 'a/screen');
  assert.equal(r.trackName(5, 3), 'a/camera-3');
  assert.equal(r.trackName(5, 9), 'a/track-9');
  assert.equal(r.trackName(6, 0), 'media-6/track-0');
});

test('what it remembers is capped; anyone seen now still resolves', () => {
  const r = new Roster('me', 4, 3);
  r.welcome(host('me', 1), { start: true, peers: [host('a', 2, [camera])], more: false });
  for (let i = 0; i < 10; i++) r.place(person(`gone-${i}`, 100 + i, { hand_raised: true }));
  assert.equal(r.seen.size, 4);
  assert.equal(r.seen.has('100'), false);
  assert.equal(r.seen.has('109'), true);
  // 'a' was forgotten by media id but is still in the roster.
  assert.equal(r.seen.has('2'), false);
  assert.equal(r.trackName(2, 0), 'a/camera');
  // The roster holds at most 3; pages past it are cut.
  assert.equal(r.peers.size, 3);
  assert.equal(r.place(host('late', 200)).placed, 'unseen');
  r.page({ start: true, peers: [host('p', 11), host('q', 12)], more: true });
  const done = r.page({ start: false, peers: [host('r', 13), host('s', 14)], more: false });
  assert.deepEqual(done?.peers.map((p) => p.user), ['p', 'q', 'r']);
});
