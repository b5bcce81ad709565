/**
 * @internal
 * The fingerprint of each source's input (docs/design.md §6): any text that
 * changes when the input changes, recorded under the source key in the
 * `fingerprints` sub-DB of the shard of the writer that ran it. A source that
 * comes back with another fingerprint is voided and rerun; one recorded
 * without a fingerprint takes the first it is given, which is no change.
 * Sealed with a CRC32 seeded with the key (value-check.js), so a damaged or
 * misplaced value is LINEAGE_CORRUPT, never a silent "changed" or "same".
 */
import { ErrorCodes, LineageError } from '../errors/lineage-error.js';
import type { Shard } from './shard.js';
import { CHECK_SIZE, seal, seedOf, unseal } from './value-check.js';

/** Longest fingerprint kept (a hash, a size and time, a version tag; not a file's bytes). */
export const MAX_FINGERPRINT_BYTES = 1024;

/** Throws INVALID_ARGUMENT naming the source unless `fingerprint` is a string a fingerprint can be. */
export function assertFingerprint(sourceKey: string, fingerprint: unknown, where: string): asserts fingerprint is string {
  if (typeof fingerprint !== 'string') {
    throw new LineageError(
      ErrorCodes.INVALID_ARGUMENT,
      `${where}: the source "${sourceKey}" has a fingerprint of type ${fingerprint === null ? 'null' : typeof fingerprint}; ` +
        'a fingerprint is a string that changes when the input changes, e.g. fileFingerprint(path).',
    );
  }
  if (fingerprint.length === 0 || Buffer.byteLength(fingerprint) > MAX_FINGERPRINT_BYTES) {
    throw new LineageError(
      ErrorCodes.INVALID_ARGUMENT,
      `${where}: the source "${sourceKey}" has a fingerprint of ${Buffer.byteLength(fingerprint)} bytes; give 1 to ${MAX_FINGERPRINT_BYTES} (a hash of the input, not the input).`,
    );
  }
}

/** The fingerprint the shard recorded for the source, or undefined. */
export function fingerprintIn(shard: Shard, sourceKey: string): string | undefined {
  const raw = shard.fingerprints?.getBinary(sourceKey);
  if (raw === undefined || raw === null) return undefined;
  const seed = seedOf(Buffer.from(sourceKey));
  return shard.checked(() => unseal(Buffer.from(raw), seed, 1, `the fingerprint of source "${sourceKey}"`)).toString('utf8');
}

/** Every fingerprint row of the shard, each checked against its CRC (a row under a flipped key fails too: the seed is the key). */
export function* fingerprintRows(shard: Shard): Generator<{ sourceKey: string; fingerprint: string }> {
  const db = shard.fingerprints;
  if (!db) return;
  for (const key of db.getKeys() as Iterable<string>) yield { sourceKey: key, fingerprint: fingerprintIn(shard, key)! };
}

/** Puts the source's fingerprint in the shard (committed by lmdb-js with its next write batch). */
export function putFingerprint(shard: Shard, sourceKey: string, fingerprint: string): Promise<boolean> {
  const body = Buffer.from(fingerprint, 'utf8');
  const value = Buffer.alloc(body.length + CHECK_SIZE);
  body.copy(value);
  seal(value, body.length, seedOf(Buffer.from(sourceKey)));
  return shard.fingerprints!.put(sourceKey, value);
}

/** Takes the fingerprints of these sources out of the shard (inside the caller's write transaction). */
export function dropFingerprintsSync(shard: Shard, sourceKeys: Iterable<string>): void {
  if (!shard.fingerprints) return;
  for (const key of sourceKeys) shard.fingerprints.removeSync(key);
}
