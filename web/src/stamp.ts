/**
 * The test pattern's stamp, as media/src/video/pattern.rs burns and reads it: a band at the
 * top of the picture of 40 x 4 square blocks, each one bit, black (luma 16) or white (luma
 * 235). The 160 bits, in reading order and most significant bit first: start marker
 * 0b10110010, the 64-bit frame number, the 64-bit capture time (µs since the Unix epoch), a
 * CRC-16/CCITT-FALSE of those 16 bytes (big endian) and end marker 0b01001101.
 */

export const COLUMNS = 40;
export const ROWS = 4;
const MIN_BLOCK = 4;
const THRESHOLD = 126;
const START = 0b1011_0010;
const END = 0b0100_1101;
const BITS = COLUMNS * ROWS;
const MASK64 = (1n << 64n) - 1n;

/** What a stamp carries. */
export interface Stamp {
  frameNumber: bigint;
  /** Microseconds since the Unix epoch. */
  captureUs: bigint;
}

/** Block side for a picture size (even, at least 4), or null when the stamp does not fit. */
export function blockSize(width: number, height: number): number | null {
  const block = Math.min(Math.floor(width / COLUMNS), Math.floor(height / 10)) & ~1;
  return block >= MIN_BLOCK ? block : null;
}

/** Height in pixels of the stamp band of a picture of this size (0 when none fits). */
export function bandHeight(width: number, height: number): number {
  return (blockSize(width, height) ?? 0) * ROWS;
}

/** CRC-16/CCITT-FALSE of the frame number and capture time, big endian. */
export function crc16(frameNumber: bigint, captureUs: bigint): number {
  let crc = 0xffff;
  for (const value of [frameNumber & MASK64, captureUs & MASK64]) {
    for (let shift = 56n; shift >= 0n; shift -= 8n) {
      crc ^= Number((value >> shift) & 0xffn) << 8;
      for (let i = 0; i < 8; i++) {
        crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
      }
    }
  }
  return crc;
}

/** The stamp's 160 bits in reading order. */
export function stampBits(frameNumber: bigint, captureUs: bigint): boolean[] {
  const fields: [bigint, number][] = [
    [BigInt(START), 8],
    [frameNumber & MASK64, 64],
    [captureUs & MASK64, 64],
    [BigInt(crc16(frameNumber, captureUs)), 16],
    [BigInt(END), 8],
  ];
  const out: boolean[] = [];
  for (const [value, count] of fields) {
    for (let shift = count - 1; shift >= 0; shift--) out.push(((value >> BigInt(shift)) & 1n) === 1n);
  }
  return out;
}

/**
 * Reads the stamp of a decoded picture, or null when there is no valid one. `rgba` holds RGBA
 * rows of `width` pixels from the top of the picture (at least the band: `bandHeight` rows);
 * `height` is the whole picture's height (it sets the block size).
 */
export function readStamp(
  rgba: Uint8ClampedArray | Uint8Array,
  width: number,
  height: number,
): Stamp | null {
  const block = blockSize(width, height);
  if (block === null || rgba.length < width * block * ROWS * 4) return null;
  const inset = Math.floor(block / 4);
  const side = block - 2 * inset;
  const bits = new Array<boolean>(BITS);
  for (let i = 0; i < BITS; i++) {
    const x0 = (i % COLUMNS) * block + inset;
    const y0 = Math.floor(i / COLUMNS) * block + inset;
    let sum = 0;
    for (let y = y0; y < y0 + side; y++) {
      let at = (y * width + x0) * 4;
      for (let x = 0; x < side; x++, at += 4) {
        // BT.601 limited range, as the native converter.
        sum += 16 + (65.481 * rgba[at] + 128.553 * rgba[at + 1] + 24.966 * rgba[at + 2]) / 255;
      }
    }
    bits[i] = sum > THRESHOLD * side * side;
  }
  let at = 0;
  const take = (count: number): bigint => {
    let v = 0n;
    for (let i = 0; i < count; i++) v = (v << 1n) | (bits[at++] ? 1n : 0n);
    return v;
  };
  const start = take(8);
  const frameNumber = take(64);
  const captureUs = take(64);
  const crc = take(16);
  const end = take(8);
  const valid =
    start === BigInt(START) && end === BigInt(END) && crc === BigInt(crc16(frameNumber, captureUs));
  return valid ? { frameNumber, captureUs } : null;
}

/** The native pattern's default background (RGB). */
export const DEFAULT_COLOUR: [number, number, number] = [40, 90, 200];

type Context2D = CanvasRenderingContext2D | OffscreenCanvasRenderingContext2D;

/**
 * Draws one test-pattern picture as the native one does: the background colour, a white bar
 * crossing the bottom quarter, a grey band at the top with the stamp in it.
 */
export function drawPattern(
  ctx: Context2D,
  width: number,
  height: number,
  frameNumber: bigint | number,
  captureUs: bigint,
  colour: [number, number, number] = DEFAULT_COLOUR,
): void {
  const frame = BigInt(frameNumber);
  const block = blockSize(width, height);
  ctx.fillStyle = `rgb(${colour[0]},${colour[1]},${colour[2]})`;
  ctx.fillRect(0, 0, width, height);
  // The bar: 1/16 of the width, moving along the bottom quarter.
  const bar = Math.max(Math.floor(width / 16), 2) & ~1;
  const step = BigInt(Math.max(Math.floor(width / 128), 2));
  const travel = BigInt(width - bar);
  const x0 = Number((frame * step) % travel) & ~1;
  const top = Math.floor((height * 3) / 4) & ~1;
  ctx.fillStyle = '#ffffff';
  ctx.fillRect(x0, top, bar, height - top);
  if (block === null) return;
  // Grey band (luma 128), then the blocks.
  ctx.fillStyle = 'rgb(130,130,130)';
  ctx.fillRect(0, 0, width, block * ROWS);
  const bits = stampBits(frame, captureUs);
  for (let i = 0; i < BITS; i++) {
    ctx.fillStyle = bits[i] ? '#ffffff' : '#000000';
    ctx.fillRect((i % COLUMNS) * block, Math.floor(i / COLUMNS) * block, block, block);
  }
}

/** Now, in microseconds since the Unix epoch (the clock stamps and latencies use). */
export function nowUs(): bigint {
  return BigInt(Math.round((performance.timeOrigin + performance.now()) * 1000));
}

/** Now, in milliseconds since the Unix epoch, fractional. */
export function nowMs(): number {
  return performance.timeOrigin + performance.now();
}
