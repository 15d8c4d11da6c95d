/**
 * web/src/codec.ts: the control wire format of the Rust crate livestage-proto (postcard of its
 * serde types) for the browser. Nothing here knows a message: every struct, enum and field comes
 * from web/schema/wire.json, which proto/tests/web_schema.rs traces from the Rust types and
 * proves with golden vectors (web/schema/golden.json, checked by web/test/codec.test.ts).
 *
 * Values have serde_json's shape: a struct is an object; an enum is `"Unit"`, `{ Newtype: v }`,
 * `{ Tuple: [a, b] }` or `{ Struct: { field: v } }`; an Option is `null` or the value; a
 * `Vec<u8>` decodes to a Uint8Array (encode also takes a number[]); a 64- or 128-bit integer
 * decodes to a number when it is a safe integer and to a bigint otherwise (encode takes either);
 * an absent Option field encodes as None.
 * One exception to serde_json: a `SocketAddr` is postcard's enum, `{ V4: [[a, b, c, d], port] }`
 * or `{ V6: [[16 bytes], port] }`, not a string.
 */
import schema from '../schema/wire.json';

/** The wire format version (a `Hello` carries it). */
export const VERSION: number = schema.version;
/** Largest control frame body, in bytes. */
export const MAX_FRAME: number = schema.max_frame;
/** A value in serde_json's shape (see the top of this file). */
export type Value = unknown;

/** Bytes that do not decode as the type, or a value that does not fit it. */
export class CodecError extends Error {
  override name = 'CodecError';
}

// The schema, as serde-reflection writes it. `Named<T>` is a one-entry object `{ name: T }`.
type Named<T> = Record<string, T>;
type Format =
  | string // UNIT, BOOL, U8..U128, I8..I128, F32, F64, CHAR, STR, BYTES
  | { TYPENAME: string }
  | { OPTION: Format }
  | { SEQ: Format }
  | { MAP: { KEY: Format; VALUE: Format } }
  | { TUPLE: Format[] }
  | { TUPLEARRAY: { CONTENT: Format; SIZE: number } };
type VariantFormat = 'UNIT' | { NEWTYPE: Format } | { TUPLE: Format[] } | { STRUCT: Named<Format>[] };
type Container =
  | 'UNITSTRUCT'
  | { NEWTYPESTRUCT: Format }
  | { TUPLESTRUCT: Format[] }
  | { STRUCT: Named<Format>[] }
  | { ENUM: Record<string, Named<VariantFormat>> };

const types = schema.types as unknown as Record<string, Container>;

/** The one entry of a `Named`. */
function entry<T>(named: Named<T>): [string, T] {
  return Object.entries(named)[0] as [string, T];
}

interface Variant {
  index: number;
  name: string;
  format: VariantFormat;
}
/** Each enum's variants, by index and by name. */
const enums = new Map<string, { byIndex: Map<number, Variant>; byName: Map<string, Variant> }>();
for (const [name, container] of Object.entries(types)) {
  if (typeof container === 'object' && 'ENUM' in container) {
    const variants = Object.entries(container.ENUM).map(([index, named]) => {
      const [variant, format] = entry(named);
      return { index: Number(index), name: variant, format };
    });
    enums.set(name, {
      byIndex: new Map(variants.map((v) => [v.index, v])),
      byName: new Map(variants.map((v) => [v.name, v])),
    });
  }
}

/** Width in bits of the integers postcard writes as varints (zigzag first when signed). */
const VARINT_BITS: Record<string, number> = { U16: 16, U32: 32, U64: 64, U128: 128 };
const ZIGZAG_BITS: Record<string, number> = { I16: 16, I32: 32, I64: 64, I128: 128 };
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

function container(name: string): Container {
  const c = types[name];
  if (c === undefined) throw new CodecError(`no type ${name} in the schema`);
  return c;
}

function show(value: Value): string {
  if (typeof value === 'bigint') return `${value}n`;
  if (value instanceof Uint8Array) return `Uint8Array(${value.length})`;
  return JSON.stringify(value) ?? String(value);
}

// ---------------------------------------------------------------------------------------------
// Encoding

class Writer {
  bytes: number[] = [];

  varint(n: bigint): void {
    do {
      const low = Number(n & 0x7fn);
      n >>= 7n;
      this.bytes.push(n ? low | 0x80 : low);
    } while (n);
  }

  raw(bytes: ArrayLike<number>): void {
    for (let i = 0; i < bytes.length; i++) this.bytes.push(bytes[i]);
  }

  /** A length, then the bytes. */
  lengthPrefixed(bytes: Uint8Array): void {
    this.varint(BigInt(bytes.length));
    this.raw(bytes);
  }
}

const utf8 = new TextEncoder();

/** An integer in `[min, max]`, as a bigint. */
function integer(value: Value, min: bigint, max: bigint, path: string): bigint {
  let n: bigint;
  if (typeof value === 'bigint') n = value;
  else if (typeof value === 'number' && Number.isInteger(value)) n = BigInt(value);
  else throw new CodecError(`${path}: expected an integer, got ${show(value)}`);
  if (n < min || n > max) throw new CodecError(`${path}: ${n} is out of range`);
  return n;
}

function items(value: Value, path: string): unknown[] {
  if (value instanceof Uint8Array) return Array.from(value);
  if (Array.isArray(value)) return value;
  throw new CodecError(`${path}: expected an array, got ${show(value)}`);
}

function fixedItems(value: Value, length: number, path: string): unknown[] {
  const list = items(value, path);
  if (list.length !== length) {
    throw new CodecError(`${path}: expected ${length} items, got ${list.length}`);
  }
  return list;
}

function object(value: Value, path: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new CodecError(`${path}: expected an object, got ${show(value)}`);
  }
  return value as Record<string, unknown>;
}

function write(out: Writer, format: Format, value: Value, path: string): void {
  if (typeof format === 'string') return writePrimitive(out, format, value, path);
  if ('TYPENAME' in format) return writeContainer(out, format.TYPENAME, value, path);
  if ('OPTION' in format) {
    const some = value !== null && value !== undefined;
    out.bytes.push(some ? 1 : 0);
    if (some) write(out, format.OPTION, value, path);
    return;
  }
  if ('SEQ' in format) {
    const list = items(value, path);
    out.varint(BigInt(list.length));
    list.forEach((item, i) => write(out, format.SEQ, item, `${path}[${i}]`));
    return;
  }
  if ('MAP' in format) {
    const pairs = value instanceof Map ? [...value] : Object.entries(object(value, path));
    out.varint(BigInt(pairs.length));
    for (const [k, v] of pairs) {
      write(out, format.MAP.KEY, k, `${path} key`);
      write(out, format.MAP.VALUE, v, `${path}[${String(k)}]`);
    }
    return;
  }
  if ('TUPLE' in format) {
    const list = fixedItems(value, format.TUPLE.length, path);
    format.TUPLE.forEach((f, i) => write(out, f, list[i], `${path}[${i}]`));
    return;
  }
  const { CONTENT, SIZE } = format.TUPLEARRAY;
  fixedItems(value, SIZE, path).forEach((item, i) => write(out, CONTENT, item, `${path}[${i}]`));
}

function writePrimitive(out: Writer, format: string, value: Value, path: string): void {
  if (format in VARINT_BITS) {
    const bits = BigInt(VARINT_BITS[format]);
    return out.varint(integer(value, 0n, (1n << bits) - 1n, path));
  }
  if (format in ZIGZAG_BITS) {
    const bits = BigInt(ZIGZAG_BITS[format]);
    const n = integer(value, -(1n << (bits - 1n)), (1n << (bits - 1n)) - 1n, path);
    return out.varint(n >= 0n ? n << 1n : ((-n) << 1n) - 1n);
  }
  switch (format) {
    case 'UNIT':
      return;
    case 'BOOL':
      if (typeof value !== 'boolean') throw new CodecError(`${path}: expected a boolean, got ${show(value)}`);
      return out.raw([value ? 1 : 0]);
    case 'U8':
      return out.raw([Number(integer(value, 0n, 255n, path))]);
    case 'I8':
      return out.raw([Number(BigInt.asUintN(8, integer(value, -128n, 127n, path)))]);
    case 'F32':
    case 'F64': {
      if (typeof value !== 'number') throw new CodecError(`${path}: expected a number, got ${show(value)}`);
      const bytes = new Uint8Array(format === 'F32' ? 4 : 8);
      const view = new DataView(bytes.buffer);
      if (format === 'F32') view.setFloat32(0, value, true);
      else view.setFloat64(0, value, true);
      return out.raw(bytes);
    }
    case 'CHAR':
    case 'STR':
      if (typeof value !== 'string') throw new CodecError(`${path}: expected a string, got ${show(value)}`);
      if (format === 'CHAR' && [...value].length !== 1) {
        throw new CodecError(`${path}: expected one character, got ${show(value)}`);
      }
      return out.lengthPrefixed(utf8.encode(value));
    case 'BYTES':
      return out.lengthPrefixed(Uint8Array.from(items(value, path), (b, i) =>
        Number(integer(b, 0n, 255n, `${path}[${i}]`))));
  }
  throw new CodecError(`${path}: the schema has an unknown format ${format}`);
}

function writeFields(out: Writer, fields: Named<Format>[], value: Value, path: string): void {
  const obj = object(value, path);
  for (const field of fields) {
    const [name, format] = entry(field);
    write(out, format, obj[name], `${path}.${name}`);
  }
}

function writeContainer(out: Writer, name: string, value: Value, path: string): void {
  const c = container(name);
  if (c === 'UNITSTRUCT') return;
  if ('NEWTYPESTRUCT' in c) return write(out, c.NEWTYPESTRUCT, value, path);
  if ('TUPLESTRUCT' in c) return write(out, { TUPLE: c.TUPLESTRUCT }, value, path);
  if ('STRUCT' in c) return writeFields(out, c.STRUCT, value, path);

  // An enum: "Unit" or { Variant: content }.
  let variantName: string;
  let content: Value;
  if (typeof value === 'string') {
    variantName = value;
  } else {
    const obj = object(value, path);
    const keys = Object.keys(obj);
    if (keys.length !== 1) throw new CodecError(`${path}: expected one ${name} variant, got ${show(value)}`);
    variantName = keys[0];
    content = obj[variantName];
  }
  const variant = enums.get(name)?.byName.get(variantName);
  if (variant === undefined) throw new CodecError(`${path}: ${name} has no variant ${variantName}`);
  if ((variant.format === 'UNIT') !== (typeof value === 'string')) {
    const shape = variant.format === 'UNIT' ? `"${variantName}"` : `{ ${variantName}: ... }`;
    throw new CodecError(`${path}: ${name}::${variantName} is written ${shape}`);
  }
  out.varint(BigInt(variant.index));
  const at = `${path}.${variantName}`;
  const f = variant.format;
  if (f === 'UNIT') return;
  if ('NEWTYPE' in f) return write(out, f.NEWTYPE, content, at);
  if ('TUPLE' in f) return write(out, { TUPLE: f.TUPLE }, content, at);
  writeFields(out, f.STRUCT, content, at);
}

/** The postcard body of `value` as `type` (a type name of the schema), without a length prefix. */
export function encode(type: string, value: Value): Uint8Array {
  const out = new Writer();
  writeContainer(out, type, value, type);
  return Uint8Array.from(out.bytes);
}

/** A control frame: the body's length as a big-endian u32, then the body (like `wire::encode`). */
export function frame(type: string, value: Value): Uint8Array {
  const body = encode(type, value);
  if (body.length > MAX_FRAME) {
    throw new CodecError(`a ${type} of ${body.length} bytes exceeds the ${MAX_FRAME}-byte frame limit`);
  }
  const out = new Uint8Array(4 + body.length);
  new DataView(out.buffer).setUint32(0, body.length);
  out.set(body, 4);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Decoding

const utf8Strict = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

class Reader {
  pos = 0;
  constructor(readonly bytes: Uint8Array) {}

  fail(message: string): never {
    throw new CodecError(`${message} (at byte ${this.pos} of ${this.bytes.length})`);
  }

  get left(): number {
    return this.bytes.length - this.pos;
  }

  take(n: number): Uint8Array {
    if (n > this.left) this.fail(`${n} bytes needed, ${this.left} left`);
    this.pos += n;
    return this.bytes.subarray(this.pos - n, this.pos);
  }

  byte(): number {
    return this.take(1)[0];
  }

  /** A varint of at most `bits` bits. */
  varint(bits: number): bigint {
    let n = 0n;
    for (let shift = 0n; shift < BigInt(bits); shift += 7n) {
      const b = this.byte();
      n |= BigInt(b & 0x7f) << shift;
      if (b < 0x80) {
        if (n >> BigInt(bits)) this.fail(`varint exceeds ${bits} bits`);
        return n;
      }
    }
    return this.fail(`varint longer than ${Math.ceil(bits / 7)} bytes`);
  }

  /**
   * A length of bytes or items, bounded by the bytes left (in the wire types every item takes
   * at least a byte), so hostile input cannot make us allocate more than it sent.
   */
  length(): number {
    const n = this.varint(64);
    if (n > BigInt(this.left)) this.fail(`length ${n} exceeds the ${this.left} bytes left`);
    return Number(n);
  }

  text(): string {
    const bytes = this.take(this.length());
    try {
      return utf8Strict.decode(bytes);
    } catch {
      return this.fail('invalid UTF-8');
    }
  }
}

/** A number when it is a safe integer, else a bigint. */
function jsInteger(n: bigint): number | bigint {
  return n >= -MAX_SAFE && n <= MAX_SAFE ? Number(n) : n;
}

function read(r: Reader, format: Format): Value {
  if (typeof format === 'string') return readPrimitive(r, format);
  if ('TYPENAME' in format) return readContainer(r, format.TYPENAME);
  if ('OPTION' in format) {
    const tag = r.byte();
    if (tag > 1) r.fail(`option tag ${tag}`);
    return tag ? read(r, format.OPTION) : null;
  }
  if ('SEQ' in format) {
    const n = r.length();
    if (format.SEQ === 'U8') return r.take(n).slice();
    const list: Value[] = [];
    for (let i = 0; i < n; i++) list.push(read(r, format.SEQ));
    return list;
  }
  if ('MAP' in format) {
    const n = r.length();
    const map = new Map<Value, Value>();
    for (let i = 0; i < n; i++) map.set(read(r, format.MAP.KEY), read(r, format.MAP.VALUE));
    return map;
  }
  if ('TUPLE' in format) return format.TUPLE.map((f) => read(r, f));
  const { CONTENT, SIZE } = format.TUPLEARRAY;
  return Array.from({ length: SIZE }, () => read(r, CONTENT));
}

function readPrimitive(r: Reader, format: string): Value {
  if (format in VARINT_BITS) return jsInteger(r.varint(VARINT_BITS[format]));
  if (format in ZIGZAG_BITS) {
    const u = r.varint(ZIGZAG_BITS[format]);
    return jsInteger(u & 1n ? -(u >> 1n) - 1n : u >> 1n);
  }
  switch (format) {
    case 'UNIT':
      return null;
    case 'BOOL': {
      const b = r.byte();
      if (b > 1) r.fail(`bool byte ${b}`);
      return b === 1;
    }
    case 'U8':
      return r.byte();
    case 'I8':
      return (r.byte() << 24) >> 24;
    case 'F32':
    case 'F64': {
      const bytes = r.take(format === 'F32' ? 4 : 8);
      const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      return format === 'F32' ? view.getFloat32(0, true) : view.getFloat64(0, true);
    }
    case 'CHAR': {
      const s = r.text();
      if ([...s].length !== 1) r.fail(`char of ${[...s].length} characters`);
      return s;
    }
    case 'STR':
      return r.text();
    case 'BYTES':
      return r.take(r.length()).slice();
  }
  return r.fail(`the schema has an unknown format ${format}`);
}

function readFields(r: Reader, fields: Named<Format>[]): Record<string, Value> {
  const obj: Record<string, Value> = {};
  for (const field of fields) {
    const [name, format] = entry(field);
    obj[name] = read(r, format);
  }
  return obj;
}

function readContainer(r: Reader, name: string): Value {
  const c = container(name);
  if (c === 'UNITSTRUCT') return null;
  if ('NEWTYPESTRUCT' in c) return read(r, c.NEWTYPESTRUCT);
  if ('TUPLESTRUCT' in c) return read(r, { TUPLE: c.TUPLESTRUCT });
  if ('STRUCT' in c) return readFields(r, c.STRUCT);

  const index = Number(r.varint(32));
  const variant = enums.get(name)?.byIndex.get(index) ?? r.fail(`${name} has no variant ${index}`);
  const f = variant.format;
  if (f === 'UNIT') return variant.name;
  let content: Value;
  if ('NEWTYPE' in f) content = read(r, f.NEWTYPE);
  else if ('TUPLE' in f) content = read(r, { TUPLE: f.TUPLE });
  else content = readFields(r, f.STRUCT);
  return { [variant.name]: content };
}

/** Decodes a postcard body as `type`; malformed input or trailing bytes throw a CodecError. */
export function decode(type: string, bytes: Uint8Array): Value {
  container(type);
  const r = new Reader(bytes);
  const value = readContainer(r, type);
  if (r.left > 0) r.fail(`${r.left} trailing bytes after a ${type}`);
  return value;
}
