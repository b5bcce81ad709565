/**
 * @internal
 * A shard's `runs` row: who started a run, where and when, and the CRC32
 * that tells a flipped byte that still parses as JSON from another record.
 */
import { crc32 } from 'node:zlib';

/** Who started a run: a `runs` row without its check. */
export interface RunInfo {
  readonly startedAt: string;
  readonly writerId: string;
  readonly host: string;
  readonly pid: number;
}

/** The CRC32 of a run record's fields, seeded with its number. */
export function runCheck(n: number, info: RunInfo): number {
  return crc32(JSON.stringify([info.startedAt, info.writerId, info.host, info.pid]), n);
}
