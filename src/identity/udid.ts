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
  return digestOf(path).slice(0, 32);
}

/** @internal The whole SHA-256 of a lineage path in hex (64 characters); its first 32 are the UDID. */
export function digestOf(path: string): string {
  return hash('sha256', path, 'hex');
}

/**
 * Byte values of two-character hex pairs, indexed by (first char code << 7 |
 * second) for char codes below 128; -256 for any pair that is not two
 * lowercase hex digits (UDIDs are lowercase). A pair per lookup halves the
 * work of a table of single digits; 32 KB.
 */
const PAIR = new Int16Array(1 << 14).fill(-256);
for (let hi = 0; hi < 16; hi++) {
  for (let lo = 0; lo < 16; lo++) {
    const code = (n: number) => (n < 10 ? 48 + n : 87 + n);
    PAIR[(code(hi) << 7) | code(lo)] = (hi << 4) | lo;
  }
}

export function isUdid(value: unknown): value is string {
  if (typeof value !== 'string' || value.length !== 32) return false;
  // Branch-free over the characters (see PAIR): a branch per character, on random hex
  // digits, mispredicted often enough to cost ~240 ns a call, and every parent UDID a caller passes is checked.
  let wide = 0;
  let bad = 0;
  for (let i = 0; i < 32; i += 2) {
    const c0 = value.charCodeAt(i);
    const c1 = value.charCodeAt(i + 1);
    wide |= c0 | c1;
    bad |= PAIR[((c0 << 7) | c1) & 0x3fff]!;
  }
  return wide < 128 && (bad & 0x100) === 0;
}

export function assertUdid(value: unknown, where: string): asserts value is string {
  if (!isUdid(value)) {
    throw new LineageError(
      ErrorCodes.INVALID_UDID,
      `${where}: expected a UDID of 32 lowercase hex characters, got ${JSON.stringify(value)}.`,
    );
  }
}

/**
 * Parses a UDID into the four little-endian 32-bit words of its 16 bytes
 * (what `Buffer#readInt32LE` at 0, 4, 8, 12 would give), written to
 * `out[at..at+3]`. Returns false, writing nothing useful, when `value` is not a
 * UDID. One pass validates and converts, without a Buffer: the recorder runs
 * this for every task reference.
 */
export function parseUdidWords(value: unknown, out: Int32Array, at: number): boolean {
  if (typeof value !== 'string' || value.length !== 32) return false;
  // Any char code of 128 or more sets a bit of `wide`; any pair that is not hex sets bit 8 of `bad`.
  let wide = 0;
  let bad = 0;
  for (let w = 0; w < 4; w++) {
    const i = w * 8;
    const c0 = value.charCodeAt(i);
    const c1 = value.charCodeAt(i + 1);
    const c2 = value.charCodeAt(i + 2);
    const c3 = value.charCodeAt(i + 3);
    const c4 = value.charCodeAt(i + 4);
    const c5 = value.charCodeAt(i + 5);
    const c6 = value.charCodeAt(i + 6);
    const c7 = value.charCodeAt(i + 7);
    wide |= c0 | c1 | c2 | c3 | c4 | c5 | c6 | c7;
    const b0 = PAIR[((c0 << 7) | c1) & 0x3fff]!;
    const b1 = PAIR[((c2 << 7) | c3) & 0x3fff]!;
    const b2 = PAIR[((c4 << 7) | c5) & 0x3fff]!;
    const b3 = PAIR[((c6 << 7) | c7) & 0x3fff]!;
    bad |= b0 | b1 | b2 | b3;
    out[at + w] = (b0 & 0xff) | ((b1 & 0xff) << 8) | ((b2 & 0xff) << 16) | (b3 << 24);
  }
  return wide < 128 && (bad & 0x100) === 0;
}

/**
 * @internal
 * parseUdidWords for a string known to start with a valid UDID (one made by
 * digestOf): no check, and no table. For a lowercase hex digit c, its value is
 * (c & 15) + 9 * (c >> 6).
 */
export function trustedUdidWords(digest: string, out: Int32Array, at: number): void {
  for (let w = 0; w < 4; w++) {
    const i = w * 8;
    const b0 = (nibble(digest.charCodeAt(i)) << 4) | nibble(digest.charCodeAt(i + 1));
    const b1 = (nibble(digest.charCodeAt(i + 2)) << 4) | nibble(digest.charCodeAt(i + 3));
    const b2 = (nibble(digest.charCodeAt(i + 4)) << 4) | nibble(digest.charCodeAt(i + 5));
    const b3 = (nibble(digest.charCodeAt(i + 6)) << 4) | nibble(digest.charCodeAt(i + 7));
    out[at + w] = b0 | (b1 << 8) | (b2 << 16) | (b3 << 24);
  }
}

/** The value of a lowercase hex digit's char code. */
function nibble(c: number): number {
  return (c & 15) + 9 * (c >> 6);
}

/** 16 raw bytes of a hex UDID (for keys). */
export function udidToBytes(udid: string): Buffer {
  return Buffer.from(udid, 'hex');
}

export function bytesToUdid(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, 16).toString('hex');
}
