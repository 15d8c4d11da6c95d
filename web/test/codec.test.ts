/**
 * web/test/codec.test.ts: proves web/src/codec.ts against the golden vectors that
 * proto/tests/web_schema.rs writes from the Rust types (web/schema/golden.json): each decodes to
 * its value and encodes to its bytes, every enum variant of the schema is in some vector, and
 * malformed input is a CodecError. Run with `npm --prefix web test`.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';

import schema from '../schema/wire.json';
import { CodecError, MAX_FRAME, VERSION, decode, encode, frame } from '../src/codec';

interface Vector {
  type: string;
  value: unknown;
  hex: string;
}

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/**
 * golden.json. JSON.parse would round the integers above 2^53 that it holds (u64 keys and ids),
 * so every integer of 16 digits or more is wrapped as `{"$int": "digits"}` first (strings are
 * matched first so that digits inside them stay), and revived as the codec returns it: a number
 * when it is a safe integer, else a bigint.
 */
function golden(): Vector[] {
  const text = readFileSync(new URL('../schema/golden.json', import.meta.url), 'utf8');
  const wrapped = text.replace(/"(?:[^"\\]|\\.)*"|-?\d{16,}/g, (token) =>
    token.startsWith('"') ? token : `{"$int":"${token}"}`,
  );
  return JSON.parse(wrapped, (_key, value) => {
    if (typeof value !== 'object' || value === null || !('$int' in value)) return value;
    const n = BigInt(value.$int);
    return n >= -MAX_SAFE && n <= MAX_SAFE ? Number(n) : n;
  });
}

const vectors = golden();

function bytes(hex: string): Uint8Array {
  return Uint8Array.from(hex.match(/../g) ?? [], (b) => parseInt(b, 16));
}

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

/** The golden shape of a decoded value: byte arrays as number[] (bigints are already alike). */
function plain(value: unknown): unknown {
  if (value instanceof Uint8Array) return Array.from(value);
  if (Array.isArray(value)) return value.map(plain);
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plain(v)]));
  }
  return value;
}

test('the schema is the wire format this codec speaks', () => {
  assert.equal(VERSION, schema.version);
  assert.equal(MAX_FRAME, 64 * 1024);
  assert.ok(vectors.length > 100, `${vectors.length} vectors`);
});

test('every golden vector decodes to its value and encodes to its bytes', async (t) => {
  for (const [i, v] of vectors.entries()) {
    await t.test(`${i}: ${v.type} ${hex(bytes(v.hex)).slice(0, 24)}`, () => {
      assert.deepEqual(plain(decode(v.type, bytes(v.hex))), v.value);
      assert.equal(hex(encode(v.type, v.value)), v.hex);
    });
  }
});

test('frame prefixes the body with its big-endian length', () => {
  const v = vectors.reduce((a, b) => (b.hex.length > a.hex.length ? b : a));
  const body = bytes(v.hex);
  const framed = frame(v.type, v.value);
  assert.equal(new DataView(framed.buffer).getUint32(0), body.length);
  assert.equal(hex(framed.subarray(4)), v.hex);
  const huge = { Request: { seq: 1, request: { RenewToken: 'x'.repeat(MAX_FRAME) } } };
  assert.throws(() => frame('ClientFrame', huge), CodecError);
});

/** The type name and variant name of each enum variant a value holds, walked by the schema. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the walker reads the schema loosely
type Format = any;
const types = schema.types as Record<string, Format>;
function variants(format: Format, value: unknown, seen: Set<string>): void {
  const one = (named: Record<string, Format>) => Object.entries(named)[0];
  const fields = (list: Format[], obj: Format) =>
    list.map(one).forEach(([name, f]) => variants(f, obj[name], seen));
  if (typeof format === 'string' || value === null) return;
  if ('OPTION' in format) return variants(format.OPTION, value, seen);
  if ('SEQ' in format) return (value as unknown[]).forEach((item) => variants(format.SEQ, item, seen));
  if ('TUPLE' in format) return format.TUPLE.forEach((f: Format, i: number) => variants(f, (value as unknown[])[i], seen));
  if ('TUPLEARRAY' in format) return (value as unknown[]).forEach((item) => variants(format.TUPLEARRAY.CONTENT, item, seen));
  if ('MAP' in format) throw new Error('no wire type has a map yet');
  const name: string = format.TYPENAME;
  const c = types[name];
  if (typeof c === 'string') return;
  if ('NEWTYPESTRUCT' in c) return variants(c.NEWTYPESTRUCT, value, seen);
  if ('TUPLESTRUCT' in c) return variants({ TUPLE: c.TUPLESTRUCT }, value, seen);
  if ('STRUCT' in c) return fields(c.STRUCT, value);
  const [variant, content] = typeof value === 'string' ? [value, null] : Object.entries(value as object)[0];
  seen.add(`${name}::${variant}`);
  const f = Object.values(c.ENUM as Record<string, Format>).map(one).find(([n]) => n === variant)?.[1];
  if (f === undefined || f === 'UNIT') return;
  if ('NEWTYPE' in f) return variants(f.NEWTYPE, content, seen);
  if ('TUPLE' in f) return variants(f, content, seen);
  return fields(f.STRUCT, content);
}

test('every enum variant of the schema is in some golden vector', () => {
  const seen = new Set<string>();
  for (const v of vectors) variants({ TYPENAME: v.type }, v.value, seen);
  const missing = Object.entries(types).flatMap(([name, c]) =>
    typeof c === 'object' && 'ENUM' in c
      ? Object.values(c.ENUM as Record<string, object>)
          .map((named) => `${name}::${Object.keys(named)[0]}`)
          .filter((variant) => !seen.has(variant))
      : [],
  );
  assert.deepEqual(missing, [], 'add vectors for these in proto/tests/web_schema.rs');
});

test('malformed bytes are CodecErrors', () => {
  const fails = (type: string, body: number[] | Uint8Array, what: string) =>
    assert.throws(() => decode(type, Uint8Array.from(body)), CodecError, what);

  for (const v of vectors) {
    const body = bytes(v.hex);
    fails(v.type, [...body, 0], `${v.type} ${v.hex} with a trailing byte`);
    // postcard is self-delimiting: no strict prefix of a message is a message.
    for (let n = 0; n < body.length; n++) fails(v.type, body.subarray(0, n), `${v.hex} cut to ${n} bytes`);
  }

  const raise = encode('ClientFrame', { Request: { seq: 1, request: { RaiseHand: true } } });
  assert.equal(raise.at(-1), 1);
  fails('ClientFrame', [...raise.subarray(0, -1), 2], 'a bool byte of 2');
  fails('ClientFrame', [3], 'ClientFrame has no variant 3');
  fails('ClientFrame', [0x80, 0x80, 0x80, 0x80, 0x10], 'a variant index above u32');
  fails('ClientFrame', [0, 1, 0x7f], 'Request has no variant 127');
  fails('VideoHeader', [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02], 'a u64 of 65 bits');
  fails('Hello', [0xff, 0xff, 0x04], 'a u16 version above 65535');
  // A Links frame claiming 2^32 - 1 peers, and a token claiming 2^64 - 1 bytes.
  fails('ServerFrame', [5, 0xff, 0xff, 0xff, 0xff, 0x0f, 0], 'a huge item count');
  const renew = encode('ClientFrame', { Request: { seq: 1, request: { RenewToken: '' } } });
  fails('ClientFrame', [...renew.subarray(0, 3), ...Array(9).fill(0xff), 1, 0x41], 'a huge length');
  fails('ClientFrame', [...renew.subarray(0, -1), 2, 0xc3, 0x28], 'invalid UTF-8');
  fails('ClientFrame', [0, 1, 1, 2], 'Role has no variant 2');
  const subscribe = encode('ClientFrame', { Request: { seq: 1, request: { Subscribe: { user: '', audio: false } } } });
  subscribe[4] = 2;
  fails('ClientFrame', subscribe, 'an option tag of 2');
  assert.throws(() => decode('NoSuchType', Uint8Array.of()), CodecError);
});

test('values that do not fit the schema are CodecErrors', () => {
  const request = (request: unknown) => ({ Request: { seq: 1, request } });
  const fails = (value: unknown, what: string) => assert.throws(() => encode('ClientFrame', value), CodecError, what);
  fails(request('Dance'), 'an unknown variant');
  fails(request({ Leave: null }), 'a unit variant written as an object');
  fails(request('SetRole'), 'a newtype variant written as a string');
  fails(request({ Unpublish: 256 }), 'a u8 out of range');
  fails(request({ Unpublish: 1.5 }), 'not an integer');
  fails({ Request: { seq: -1, request: 'Leave' } }, 'a negative u64');
  fails({ Request: { seq: 2n ** 64n, request: 'Leave' } }, 'a u64 of 65 bits');
  fails(request({ RaiseHand: 1 }), 'a number for a bool');
  fails(request({ Data: { to: [], payload: [256] } }), 'a byte out of range');
  fails(request({ Data: { to: [] } }), 'a missing field');
  fails({ Ack: {}, Link: {} }, 'two variants at once');
  assert.throws(() => encode('NoSuchType', null), CodecError);
});

test('values round-trip through the edges of their types', () => {
  const roundTrip = (type: string, value: unknown) =>
    assert.deepEqual(plain(decode(type, encode(type, value))), plain(value));
  const request = (request: unknown) => ({ Request: { seq: 2n ** 64n - 1n, request } });
  roundTrip('ClientFrame', request({ RenewToken: '\uFEFF starts with a byte order mark, ends in 🎥' }));
  roundTrip('ClientFrame', request({ Data: { to: ['é'], payload: new Uint8Array(300).fill(7) } }));
  roundTrip('ClientFrame', { Ack: { upto: Number.MAX_SAFE_INTEGER } });
  roundTrip('ClientFrame', { Ack: { upto: 2n ** 53n } });
  assert.deepEqual(
    encode('ClientFrame', request({ Data: { to: [], payload: [1, 2] } })),
    encode('ClientFrame', request({ Data: { to: [], payload: Uint8Array.of(1, 2) } })),
  );
  // An absent Option field is None.
  assert.deepEqual(
    encode('ClientFrame', request({ Subscribe: { user: 'a', audio: true } })),
    encode('ClientFrame', request({ Subscribe: { user: 'a', track: null, audio: true, video: null } })),
  );
});
