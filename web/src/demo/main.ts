/** The demo page: join from the URL, show remote video, participants, events and errors. */
import { Client, LivestageError, type Report } from '../index';

declare global {
  interface Window {
    livestage: Client | null;
    livestageReport: () => Report;
  }
}

const $ = (id: string) => document.getElementById(id)!;
const q = new URLSearchParams(location.search);

function log(line: string): void {
  const el = $('log');
  const at = new Date().toISOString().slice(11, 23);
  el.textContent += `${at} ${line}\n`;
  el.scrollTop = el.scrollHeight;
}

function banner(code: string, message: string): void {
  const el = $('banner');
  el.textContent = `Error (${code}): ${message}`;
  el.classList.add('shown');
}

// ?code=ADDR~sha256:HEX~TOKEN (the party game's join code) or ?server=&hash=&token=.
let server = q.get('server') ?? '';
let hash = q.get('hash') ?? '';
let token = q.get('token') ?? '';
const code = q.get('code');
if (code) {
  const [addr, pin, ...rest] = code.split('~');
  server = addr ?? '';
  hash = (pin ?? '').replace(/^sha256:/i, '');
  token = rest.join('~');
}
const role = q.get('role') === 'host' ? 'host' : 'audience';
const publishVideo = q.get('publish');
const publishAudio = q.get('audio');

let client: Client | null = null;
let failure: Report | null = null;
window.livestage = null;
window.livestageReport = () =>
  client?.report() ??
  failure ?? {
    joined: false, error: null, user: '', channel: '', role: null, peers: [], join_ms: null,
    data: { sent: 0, received: 0, from: {} }, video: {}, audio: {},
    published: { video_frames: 0, audio_frames: 0 }, refused: [], reconnects: 0,
  };

function people(c: Client): void {
  const ul = $('people');
  ul.textContent = '';
  const me = c.me;
  const all = [...(me ? [me] : []), ...c.roster.values()];
  for (const p of all) {
    const li = document.createElement('li');
    const you = p.user === c.user ? ' (you)' : '';
    const hand = p.hand_raised ? ' ✋' : '';
    li.textContent = `${p.user}${you} — ${p.role.toLowerCase()}${hand}`;
    ul.append(li);
  }
}

async function main(): Promise<void> {
  if (!server || !token) {
    banner('invalid_input', 'missing ?server=ADDR&hash=HEX&token=T (or ?code=ADDR~sha256:HEX~TOKEN)');
    return;
  }
  const c = new Client({ server, hash, token, role });
  client = c;
  window.livestage = c;
  c.on('joined', ({ you, peers, channel }) => {
    $('status').textContent = `${you.user} in ${channel} as ${you.role.toLowerCase()}`;
    log(`joined ${channel} as ${you.role.toLowerCase()}; ${peers.length} peer(s)`);
    people(c);
  });
  c.on('peer-joined', (p) => (log(`${p.user} joined (${p.role.toLowerCase()})`), people(c)));
  c.on('peer-left', ({ user, reason }) => (log(`${user} left (${reason})`), people(c)));
  c.on('role-changed', ({ participant, by }) => {
    log(`${participant.user} is now ${participant.role.toLowerCase()} (by ${by})`);
    if (participant.user === c.user) $('status').textContent = `${c.user} in ${c.channel} as ${participant.role.toLowerCase()}`;
    people(c);
  });
  c.on('hand-changed', (p) => (log(`${p.user} ${p.hand_raised ? 'raised' : 'lowered'} a hand`), people(c)));
  c.on('track-published', ({ user, track }) => log(`${user} published ${track.kind} track ${track.id} (${track.source})`));
  c.on('track-unpublished', ({ user, track }) => log(`${user} stopped track ${track}`));
  c.on('data', ({ from, payload }) => log(`data from ${from}: ${payload.length} bytes`));
  c.on('refused', ({ request, code, message }) => log(`request ${request} refused: ${code}: ${message}`));
  c.on('error', ({ code, message }) => {
    banner(code, message);
    log(`error ${code}: ${message}`);
  });
  c.on('state', ({ state }) => {
    $('status').textContent = state === 'reconnecting' ? 'reconnecting...' : `${c.user} in ${c.channel}`;
    log(state === 'reconnecting' ? 'the path to the server is down; reconnecting' : 'connected again');
  });
  c.on('closed', (e) => {
    $('status').textContent = e ? `disconnected (${e.code})` : 'left';
    log(e ? `closed: ${e.code}` : 'left the channel');
  });
  c.on('video-track', ({ key, canvas }) => {
    const tile = document.createElement('div');
    tile.className = 'tile';
    const label = document.createElement('span');
    label.textContent = key;
    tile.append(canvas, label);
    $('tiles').append(tile);
  });
  const act = (what: string, p: Promise<void>) =>
    p.then(() => log(`${what}: done`)).catch((e: LivestageError) => log(`${what}: ${e.code ?? ''} ${e.message}`));
  // On stage with the camera and microphone (or what the URL asked for).
  const media = () => ({
    video: publishVideo === 'pattern' ? ('pattern' as const) : ('camera' as const),
    audio: publishAudio ?? 'microphone',
  });
  $('stage').onclick = () => {
    c.resumeAudio();
    act('go on stage', c.setRole('host').then(() => c.publish(media())));
  };
  $('down').onclick = () => act('step down', c.setRole('audience'));
  let hand = false;
  $('hand').onclick = () => {
    hand = !hand;
    $('hand').textContent = hand ? 'Lower hand' : 'Raise hand';
    act(hand ? 'raise hand' : 'lower hand', c.raiseHand(hand));
  };
  $('leave').onclick = () => act('leave', c.leave());
  try {
    await c.connect();
  } catch {
    return; // the error event showed it
  }
  if (publishVideo || publishAudio) {
    const video = publishVideo === 'camera' || publishVideo === 'pattern' ? publishVideo : null;
    await act('publish', c.publish({ video, audio: publishAudio }));
  }
}

void main();
