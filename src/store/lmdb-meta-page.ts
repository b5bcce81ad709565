/**
 * @internal
 * The one parser of LMDB's meta pages (data format 2, 64-bit build: the
 * stock lmdb-js binaries' layout), for the check of a data file before it is
 * mapped (lmdb-header.ts) and for the page reader (lmdb-pages.ts).
 */

export const MDB_MAGIC = 0xbeefc0de;
/** The page header of data format 2: page number, txnid, pad, flags, lower, upper. */
export const PAGE_HEADER = 24;
/** Bytes of a meta page that hold every field read here. */
export const META_PAGE_BYTES = PAGE_HEADER + 256;
// MDB_meta after the page header: magic, version, address, mapsize, then mm_dbs[FREE_DBI], mm_dbs[MAIN_DBI], last page, txnid.
const MAGIC_AT = PAGE_HEADER;
const VERSION_AT = PAGE_HEADER + 4;
/** mm_dbs[FREE_DBI].md_pad holds the page size. */
const PSIZE_AT = PAGE_HEADER + 24;
const MAIN_DB_AT = PAGE_HEADER + 24 + 48;
const LAST_PG_AT = PAGE_HEADER + 24 + 2 * 48;
const TXNID_AT = LAST_PG_AT + 8;
/** In an MDB_db record: md_flags, md_depth, md_entries, md_root. */
const DB_FLAGS = 4;
const DB_ENTRIES = 32;
const DB_ROOT = 40;
const NO_ROOT = 0xffffffffffffffffn;

/** A B-tree: its root page (-1: empty) and entry count. */
export interface Tree {
  readonly root: number;
  readonly entries: number;
  readonly dupSort: boolean;
}

/** The fields of one meta page. */
export interface MetaPage {
  /** LMDB's data format: 2 for the stock binaries. */
  readonly version: number;
  readonly pageSize: number;
  readonly lastPage: number;
  readonly txnid: bigint;
  /** The main DB, whose entries are the named sub-DBs. */
  readonly main: Tree;
}

/** The MDB_db record at `at` of `buf`: a meta page's, or a sub-DB's in the main DB. */
export function treeAt(buf: Buffer, at: number): Tree {
  const root = buf.readBigUInt64LE(at + DB_ROOT);
  return {
    root: root === NO_ROOT ? -1 : Number(root),
    entries: Number(buf.readBigUInt64LE(at + DB_ENTRIES)),
    dupSort: (buf.readUInt16LE(at + DB_FLAGS) & 0x04) !== 0,
  };
}

/** The meta page at the start of `buf` (at least META_PAGE_BYTES), or null when it lacks LMDB's magic. */
export function parseMetaPage(buf: Buffer): MetaPage | null {
  if (buf.readUInt32LE(MAGIC_AT) !== MDB_MAGIC) return null;
  return {
    version: buf.readUInt32LE(VERSION_AT),
    pageSize: buf.readUInt32LE(PSIZE_AT),
    lastPage: Number(buf.readBigUInt64LE(LAST_PG_AT)),
    txnid: buf.readBigUInt64LE(TXNID_AT),
    main: treeAt(buf, MAIN_DB_AT),
  };
}

/** The newest of the meta pages found (LMDB writes them in turn), or null when none is. */
export function newestMeta<T extends { meta: MetaPage }>(found: readonly T[]): T | null {
  return found.length === 0 ? null : found.reduce((a, b) => (b.meta.txnid > a.meta.txnid ? b : a));
}
