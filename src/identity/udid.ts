/**
 * UDIDs: the first 128 bits of SHA-256 over a lineage path, shown as 32
 * lowercase hex characters. node:crypto is used rather than a JS SHA-256: it
 * one-shot `hash()` measured ~0.3 µs per short path, `createHash` ~1 µs and
 * @noble/hashes ~2 µs on this machine.
 */
import { hash } from 'node:crypto';
import { ErrorCodes, LineageError } from '../errors/lineage-error.js';


/** The UDID (32 lowercase hex chars) of a lineage path. */
export function udidOf(path: string): string {
  return hash('sha256', path, 'hex').slice(0, 32);
}

export function isUdid(value: unknown): value is string {
  if (typeof value !== 'string' || value.length !== 32) return false;
  // A char-code loop: measurably cheaper than a regex on the recording hot path.
  for (let i = 0; i < 32; i++) {
    const c = value.charCodeAt(i);
    if (!((c >= 48 && c <= 57) || (c >= 97 && c <= 102))) return false;
  }
  return true;
}

export function assertUdid(value: unknown, where: string): asserts value is string {
  if (!isUdid(value)) {
    throw new LineageError(
      ErrorCodes.INVALID_UDID,
      `${where}: expected a UDID of 32 lowercase hex characters, got ${JSON.stringify(value)}.`,
    );
  }
}

/** Hex digit values by char code; -1 for anything else (uppercase included: UDIDs are lowercase). */
const HEX = new Int8Array(128).fill(-1);
for (let i = 0; i < 10; i++) HEX[48 + i] = i;
for (let i = 0; i < 6; i++) HEX[97 + i] = 10 + i;

/**
 * Parses a UDID into the four little-endian 32-bit words of its 16 bytes
 * (what `Buffer#readInt32LE` at 0, 4, 8, 12 would give), written to
 * `out[at..at+3]`. Returns false, writing nothing useful, when `value` is not a
 * UDID. One pass validates and converts, without a Buffer.
 */
export function parseUdidWords(value: unknown, out: Int32Array, at: number): boolean {
  if (typeof value !== 'string' || value.length !== 32) return false;
  let bad = 0;
  for (let w = 0; w < 4; w++) {
    let word = 0;
    for (let byte = 0; byte < 4; byte++) {
      const i = w * 8 + byte * 2;
      const c1 = value.charCodeAt(i);
      const c2 = value.charCodeAt(i + 1);
      const hi = c1 < 128 ? HEX[c1]! : -1;
      const lo = c2 < 128 ? HEX[c2]! : -1;
      bad |= hi | lo;
      word |= ((hi << 4) | lo) << (byte * 8);
    }
    out[at + w] = word;
  }
  return bad >= 0;
}

/** 16 raw bytes of a hex UDID (for keys). */
export function udidToBytes(udid: string): Buffer {
  return Buffer.from(udid, 'hex');
}

export function bytesToUdid(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, 16).toString('hex');
}
