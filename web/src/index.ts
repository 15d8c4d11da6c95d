export { Client, LivestageError, snakeCode, tokenClaims } from './client';
export type { ClientEvents, JoinOptions, Participant, Track, Report, RoleName, ErrorInfo } from './client';
export { readStamp, drawPattern, blockSize, bandHeight, crc16, nowUs, nowMs } from './stamp';
export type { Stamp } from './stamp';
export { dominantFrequency } from './spectrum';
