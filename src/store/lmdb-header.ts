/**
 * @internal
 * Sanity check of an LMDB data file before mapping it. A truncated data.mdb
 * would otherwise be mapped past its end and the first read would kill the
 * process with SIGBUS; a garbage file gives an opaque native error.
 */
import { basename, dirname } from 'node:path';
import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { ErrorCodes, LineageError } from '../errors/lineage-error.js';

const MDB_MAGIC = 0xbeefc0de;
// Offsets inside a meta page (data format 2, 64-bit build): page header 24 bytes, then MDB_meta.
const META_OFFSET = 24;
const MAGIC_AT = META_OFFSET + 0;
const PSIZE_AT = META_OFFSET + 24; // mm_dbs[FREE_DBI].md_pad holds the page size
const LAST_PG_AT = META_OFFSET + 24 + 2 * 48; // after magic, version, address, mapsize, mm_dbs[2]
const TXNID_AT = LAST_PG_AT + 8;
// mm_dbs[MAIN_DBI] after mm_dbs[FREE_DBI]; md_entries is at offset 32 of an MDB_db.
const MAIN_ENTRIES_AT = META_OFFSET + 24 + 48 + 32;

/**
 * How to set a damaged shard aside without losing it: out of `writers/`
 * (anything left there is read as a shard), beside the checkpoint.
 */
export function moveAsideHint(shardDir: string, why = 'damaged'): string {
  const checkpoint = dirname(dirname(shardDir));
  return `mv ${shardDir} ${checkpoint}.${basename(shardDir)}.${why}`;
}

/** Checks `file` and returns the number of entries of its main DB (the named sub-DBs) in its newest snapshot. */
export function checkLmdbFile(file: string): { subDbs: number } {
  const size = statSync(file).size;
  const corrupt = (what: string) =>
    new LineageError(
      ErrorCodes.CORRUPT,
      `${file} is damaged: ${what}. Nothing was changed. Restore the checkpoint from a backup; or, to redo this writer's work, ` +
        `move its directory out of the checkpoint, keeping it (${moveAsideHint(dirname(file))}), and run again.`,
    );
  if (size < 2 * 4096) throw corrupt(`${size} bytes is too short for an LMDB file`);
  const head = Buffer.alloc(2 * 4096);
  const fd = openSync(file, 'r');
  try {
    readSync(fd, head, 0, head.length, 0);
  } finally {
    closeSync(fd);
  }
  if (head.readUInt32LE(MAGIC_AT) !== MDB_MAGIC) {
    // Data format 1 (LMDB 0.9's 16-byte page header): what lineage-dag wrote before it used the stock lmdb package.
    if (head.readUInt32LE(16) === MDB_MAGIC && head.readUInt32LE(20) === 1) {
      throw new LineageError(
        ErrorCodes.FORMAT_VERSION,
        `${file} is in LMDB data format 1 (checkpoint format 2 or older); this lineage-dag reads LMDB data format 2 (checkpoint format 3). ` +
          'Nothing was changed. Finish or inspect it with the lineage-dag version that wrote it, or start the run with a new checkpoint directory.',
      );
    }
    throw corrupt('it does not start with an LMDB header');
  }
  const psize = head.readUInt32LE(PSIZE_AT);
  if (psize < 512 || psize > 65536 || (psize & (psize - 1)) !== 0) throw corrupt(`page size ${psize} is invalid`);
  const metaAt = (i: number) => {
    const buf = i === 0 ? head : size >= psize * 2 ? readAt(file, psize, psize) : null;
    if (!buf || buf.readUInt32LE(MAGIC_AT) !== MDB_MAGIC) return null;
    return { lastPg: Number(buf.readBigUInt64LE(LAST_PG_AT)), txnid: Number(buf.readBigUInt64LE(TXNID_AT)), subDbs: Number(buf.readBigUInt64LE(MAIN_ENTRIES_AT)) };
  };
  const metas = [metaAt(0), metaAt(1)].filter((m): m is NonNullable<typeof m> => m !== null);
  if (metas.length === 0) throw corrupt('no valid meta page');
  const newest = metas.reduce((a, b) => (b.txnid > a.txnid ? b : a));
  const needed = (newest.lastPg + 1) * psize;
  // Sized again after the meta pages were read: a live writer may have committed (and grown the file) since the first stat,
  // and LMDB writes a transaction's pages before its meta page.
  const sizeNow = statSync(file).size;
  if (needed > sizeNow) throw corrupt(`it is truncated: ${sizeNow} bytes, but its last transaction needs ${needed}`);
  return { subDbs: newest.subDbs };
}

function readAt(file: string, offset: number, length: number): Buffer {
  const buf = Buffer.alloc(length);
  const fd = openSync(file, 'r');
  try {
    readSync(fd, buf, 0, length, offset);
  } finally {
    closeSync(fd);
  }
  return buf;
}
