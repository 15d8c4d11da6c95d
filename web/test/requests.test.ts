/**
 * web/test/requests.test.ts: proves web/src/requests.ts, the browser client's requests in
 * flight: acks resolving them in order, a refusal rejecting one with its code, the unanswered
 * ones sent again after a resume's `Welcome.received`, renumbering from 1 for a fresh join, and
 * the cap (the oldest given up on while connected, new ones refused while held for a
 * reconnect). Run with `npm --prefix web test`.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { LivestageError } from '../src/errors';
import { Requests } from '../src/requests';

/** Settles to 'ok' or the rejection's code, without leaving a rejection unhandled. */
const outcome = (p: Promise<void>) => p.then(() => 'ok', (e: LivestageError) => e.code);

test('acks resolve the requests up to them, in order', async () => {
  const r = new Requests();
  const order: number[] = [];
  const adds = [1, 2, 3].map((n) => r.add({ RaiseHand: true }, false));
  assert.deepEqual(adds.map((a) => a.seq), [1, 2, 3]);
  adds.forEach((a, i) => void a.done.then(() => order.push(i + 1)));
  r.acked(2);
  await Promise.resolve();
  await Promise.resolve();
  assert.deepEqual(order, [1, 2]);
  assert.equal(r.size, 1);
  r.acked(3);
  await adds[2].done;
  assert.deepEqual(order, [1, 2, 3]);
  assert.equal(r.size, 0);
});

test('a refusal rejects with its code and names the request', async () => {
  const r = new Requests();
  const a = r.add({ Publish: { id: 0 } }, false);
  const b = r.add('Leave', false);
  r.refused(a.seq!, 'not_permitted', 'audience cannot publish');
  await assert.rejects(a.done, (e: LivestageError) => e.code === 'not_permitted' && e.message === 'Publish refused: audience cannot publish');
  r.refused(0, 'bad_media', 'media'); // not a request: nothing waits on it
  r.refused(99, 'x', 'unknown');
  assert.equal(r.size, 1);
  r.acked(b.seq!);
  assert.equal(await outcome(b.done), 'ok');
});

test('after a resume: applied ones resolve by Welcome.received, the rest are sent again', async () => {
  const r = new Requests();
  const adds = [r.add({ SetRole: 'Host' }, false), r.add({ RaiseHand: true }, false), r.add('Leave', true)];
  r.acked(1); // Welcome.received = 1
  assert.equal(await outcome(adds[0].done), 'ok');
  assert.deepEqual(r.unanswered(), [
    { seq: 2, request: { RaiseHand: true } },
    { seq: 3, request: 'Leave' },
  ]);
});

test('a fresh join renumbers the waiting requests from 1, in order', async () => {
  const r = new Requests();
  for (let i = 0; i < 5; i++) r.add({ Data: { to: [], payload: i } }, false);
  r.acked(3);
  r.renumber();
  assert.deepEqual(r.unanswered(), [
    { seq: 1, request: { Data: { to: [], payload: 3 } } },
    { seq: 2, request: { Data: { to: [], payload: 4 } } },
  ]);
  assert.equal(r.add('Leave', false).seq, 3);
});

test('the cap: the oldest is given up on when connected, new ones refused when held', async () => {
  const r = new Requests(3);
  const adds = [1, 2, 3].map(() => r.add({ RaiseHand: true }, false));
  const fourth = r.add({ RaiseHand: false }, false);
  assert.equal(fourth.seq, 4);
  await assert.rejects(adds[0].done, (e: LivestageError) => e.code === 'protocol_error' && /RaiseHand: no answer from the server to 3 requests/.test(e.message));
  assert.equal(r.size, 3);
  const held = r.add('Leave', true);
  assert.equal(held.seq, null);
  await assert.rejects(held.done, (e: LivestageError) => e.code === 'protocol_error' && /Leave: 3 requests wait for the reconnect/.test(e.message));
  assert.equal(r.size, 3);
  const fifth = r.add('Leave', false);
  assert.equal(fifth.seq, 5); // no number was used by the refused one
  assert.equal(await outcome(adds[1].done), 'protocol_error'); // and the next oldest went
  r.fail('closed', 'left the channel');
  assert.deepEqual(await Promise.all([adds[2], fourth, fifth].map((a) => outcome(a.done))), ['closed', 'closed', 'closed']);
  assert.equal(r.size, 0);
});
