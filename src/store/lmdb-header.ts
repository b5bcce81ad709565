/**
 * @internal
 * Sanity check of an LMDB data file before mapping it. A truncated data.mdb
 * would otherwise be mapped past its end and the first read would kill the
 * process with SIGBUS; a garbage file gives an opaque native error.
 */
import { basename, dirname } from 'node:path';
import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { ErrorCodes, LineageError } from '../errors/lineage-error.js';
import { MDB_MAGIC, META_PAGE_BYTES, newestMeta, parseMetaPage } from './lmdb-meta-page.js';

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
  const first = parseMetaPage(head);
  if (first === null) {
    // Data format 1 (LMDB 0.9's 16-byte page header): what lineage-dag wrote before it used the stock lmdb package.
    if (head.readUInt32LE(16) === MDB_MAGIC && head.readUInt32LE(20) === 1) {
      throw new LineageError(
        ErrorCodes.FORMAT_VERSION,
        `${file} is in LMDB data format 1 (checkpoint format 2 or older); this lineage-dag reads LMDB data format 2 (checkpoint format 3 and later). ` +
          'Nothing was changed. Finish or inspect it with the lineage-dag version that wrote it, or start the run with a new checkpoint directory.',
      );
    }
    throw corrupt('it does not start with an LMDB header');
  }
  const psize = first.pageSize;
  if (psize < 512 || psize > 65536 || (psize & (psize - 1)) !== 0) throw corrupt(`page size ${psize} is invalid`);
  const second = size >= psize * 2 ? parseMetaPage(readAt(file, psize, META_PAGE_BYTES)) : null;
  const newest = newestMeta([first, second].filter((m) => m !== null).map((meta) => ({ meta })))?.meta;
  if (!newest) throw corrupt('no valid meta page');
  const needed = (newest.lastPage + 1) * psize;
  // Sized again after the meta pages were read: a live writer may have committed (and grown the file) since the first stat,
  // and LMDB writes a transaction's pages before its meta page.
  const sizeNow = statSync(file).size;
  if (needed > sizeNow) throw corrupt(`it is truncated: ${sizeNow} bytes, but its last transaction needs ${needed}`);
  return { subDbs: newest.main.entries };
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
