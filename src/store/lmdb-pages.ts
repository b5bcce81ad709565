/**
 * @internal
 * Reads a shard's B-trees straight from its data file, page by page with
 * `pread`, for scans of a whole checkpoint (`lineage inspect --format ndjson`).
 *
 * lmdb-js costs ~1 µs of JavaScript per cursor step, and reading through the
 * memory map leaves every page of the file in the process's RSS. Here a
 * page costs one `read` into a reused buffer and its entries are parsed in
 * place. The file is LMDB's data format 2 on a 64-bit build, what the
 * stock lmdb-js binaries write (LMDB 1.0's page layout: a 24-byte header,
 * node offsets from its end); anything else is refused with LmdbPageError
 * when the file is opened, and the caller scans through lmdb-js.
 *
 * Consistency: an lmdb-js read transaction is held for the whole scan. LMDB
 * never reuses a page that a snapshot at least as new as the oldest reader
 * can reach, and the snapshot read here (the newest meta page, read twice
 * to rule out a torn read) is at least as new as that transaction's.
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { ErrorCodes, LineageError } from '../errors/lineage-error.js';
import { edgeProblem, edgeRangeAt } from './edge-values.js';
import { moveAsideHint } from './lmdb-header.js';
import { META_PAGE_BYTES, PAGE_HEADER, newestMeta, parseMetaPage, treeAt, type MetaPage, type Tree } from './lmdb-meta-page.js';
import type { Shard } from './shard.js';

/** In a page header (lmdb-meta-page.ts): flags and lower. */
const FLAGS_AT = 18;
const LOWER_AT = 20;
/**
 * Node offsets in a page's pointer array count from the end of the header
 * (PAGEBASE in LMDB 1.0's mdb.c), and `lower` does too: a page holds
 * lower / 2 entries.
 */
const PAGE_BASE = PAGE_HEADER;
const P_BRANCH = 0x01;
const P_LEAF = 0x02;
const P_LEAF2 = 0x20;
const F_BIGDATA = 0x01;
const F_SUBDATA = 0x02;
const F_DUPDATA = 0x04;
/** Pages a read-ahead window holds, and how many windows a file keeps (see PageFile.read). */
const AHEAD_PAGES = 32;
const WINDOWS = 4;
/** Levels of a B-tree at most: far more than 2^32 entries would need. */
const MAX_DEPTH = 32;

export class LmdbPageError extends Error {}

/** LINEAGE_PAGE_SCAN=0 makes every scan go through lmdb-js instead (to compare the two, or to rule this reader out). */
export function pageScanEnabled(): boolean {
  return process.env.LINEAGE_PAGE_SCAN !== '0';
}

export class PageFile {
  private readonly fd: number;
  readonly pageSize: number;
  private readonly lastPage: number;
  private readonly trees = new Map<string, Tree>();
  private closed = false;
  private readonly windows = Array.from({ length: WINDOWS }, () => ({ first: 0, pages: 0, data: Buffer.alloc(0), used: 0 }));
  private ticks = 0;
  /** Past the meta pages and the sub-DB list: a bad page now means damage, not a layout this reader does not know. */
  private opened = false;

  private constructor(
    private readonly shard: Shard,
    private readonly txn: { done(): void },
  ) {
    this.fd = openSync(join(shard.dir, 'data.mdb'), 'r');
    try {
      const { pageSize, lastPage, main } = this.readMeta();
      this.pageSize = pageSize;
      this.lastPage = lastPage;
      const cursor = new LeafCursor(this, main);
      while (cursor.next()) {
        if ((cursor.flags & F_SUBDATA) === 0 || cursor.dataSize !== 48) continue;
        // lmdb-js stores a sub-DB's name with its terminating NUL.
        const name = cursor.page.toString('latin1', cursor.keyAt, cursor.keyAt + cursor.keySize).replace(/\0$/, '');
        this.trees.set(name, treeAt(cursor.page, cursor.dataAt));
      }
      this.opened = true;
    } catch (err) {
      closeSync(this.fd);
      throw err;
    }
  }

  /** Pins a read transaction on the shard and reads its newest snapshot's sub-DB roots. */
  static open(shard: Shard): PageFile {
    const txn = shard.env.useReadTransaction();
    try {
      return new PageFile(shard, txn);
    } catch (err) {
      txn.done();
      throw err;
    }
  }

  /** The lmdb-js read transaction this file holds (its snapshot is at most as new as the one read here). */
  get transaction(): object {
    return this.txn;
  }

  /** Pages of the snapshot: no walk of one B-tree visits more. */
  get pageCount(): number {
    return this.lastPage + 1;
  }

  tree(name: string): Tree | undefined {
    return this.trees.get(name);
  }

  /**
   * Reads page `pgno` (and `count - 1` after it) into `into` (grown when too
   * small); returns the buffer holding it. A single page comes from one of
   * a few read-ahead windows of AHEAD_PAGES pages, each filled by one
   * `pread`: a B-tree's leaves lie mostly on consecutive pages (LMDB
   * appends what a commit writes), so a scan costs a syscall per window
   * instead of one per page, and scans that walk side by side (the NDJSON
   * writer's three) each keep a window of their own.
   */
  read(pgno: number, into: Buffer, count = 1): Buffer {
    if (pgno < 2 || pgno + count - 1 > this.lastPage) this.fail(`page ${pgno} lies outside the snapshot`);
    const size = this.pageSize * count;
    const buf = into.length >= size ? into : Buffer.allocUnsafe(size);
    if (count === 1) {
      const w = this.window(pgno);
      w.data.copy(buf, 0, (pgno - w.first) * this.pageSize, (pgno - w.first + 1) * this.pageSize);
      return buf;
    }
    if (readSync(this.fd, buf, 0, size, pgno * this.pageSize) !== size) this.fail(`page ${pgno} is cut short`);
    return buf;
  }

  /** The window holding page `pgno`, read now into the one used longest ago when none does. */
  private window(pgno: number): { first: number; pages: number; data: Buffer; used: number } {
    const tick = ++this.ticks;
    let oldest = this.windows[0]!;
    for (const w of this.windows) {
      if (pgno >= w.first && pgno < w.first + w.pages) {
        w.used = tick;
        return w;
      }
      if (w.used < oldest.used) oldest = w;
    }
    const pages = Math.min(AHEAD_PAGES, this.lastPage - pgno + 1);
    const bytes = pages * this.pageSize;
    if (oldest.data.length < bytes) oldest.data = Buffer.allocUnsafe(AHEAD_PAGES * this.pageSize);
    if (readSync(this.fd, oldest.data, 0, bytes, pgno * this.pageSize) !== bytes) this.fail(`page ${pgno} is cut short`);
    oldest.first = pgno;
    oldest.pages = pages;
    oldest.used = tick;
    return oldest;
  }

  /** While opening: LmdbPageError (the caller reads through lmdb-js instead); later: the file is damaged. */
  fail(what: string): never {
    if (!this.opened) throw new LmdbPageError(what);
    throw new LineageError(
      ErrorCodes.CORRUPT,
      `${join(this.shard.dir, 'data.mdb')} is damaged: ${what}. Nothing was changed. Run \`lineage verify\` on the checkpoint; ` +
        `restore it from a backup, or, to redo this writer's work, move its directory out of the checkpoint, keeping it (${moveAsideHint(this.shard.dir)}), and run again.`,
    );
  }

  /** Ends the read transaction and closes the file; a second call does nothing. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    closeSync(this.fd);
    this.txn.done();
  }

  private readMeta(): { pageSize: number; lastPage: number; main: Tree } {
    for (let attempt = 0; attempt < 5; attempt++) {
      const head = Buffer.alloc(META_PAGE_BYTES);
      const metas: { raw: Buffer; meta: MetaPage }[] = [];
      readSync(this.fd, head, 0, head.length, 0);
      const first = parseMetaPage(head);
      if (first === null || first.version !== 2) throw new LmdbPageError('not an LMDB data format 2 file');
      const pageSize = first.pageSize;
      for (const n of [0, 1]) {
        const m = Buffer.alloc(META_PAGE_BYTES);
        readSync(this.fd, m, 0, m.length, n * pageSize);
        const meta = parseMetaPage(m);
        if (meta !== null) metas.push({ raw: m, meta });
      }
      const newest = newestMeta(metas)!;
      const which = newest.raw.readBigUInt64LE(0);
      const again = Buffer.alloc(newest.raw.length);
      readSync(this.fd, again, 0, again.length, Number(which) * pageSize);
      if (!again.equals(newest.raw)) continue; // a commit wrote this meta page meanwhile
      return { pageSize, lastPage: newest.meta.lastPage, main: newest.meta.main };
    }
    throw new LmdbPageError('the meta pages kept changing while read');
  }
}

/**
 * The leaf entries of one B-tree in key order. After next() returns true,
 * the entry is `page[keyAt .. keyAt+keySize]` and its data
 * `page[dataAt .. dataAt+dataSize]` (for F_BIGDATA, call value()).
 * The page buffer is reused: copy what must outlive the next step.
 */
export class LeafCursor {
  page: Buffer = Buffer.alloc(0);
  flags = 0;
  keyAt = 0;
  keySize = 0;
  dataAt = 0;
  dataSize = 0;
  private index = 0;
  private count = 0;
  /** The branch pages above the current leaf, and the next child index in each. */
  private readonly stack: { page: Buffer; next: number; count: number }[] = [];
  private started = false;
  private overflow: Buffer = Buffer.alloc(0);
  private spareLeaf: Buffer | null = null;
  private leaves = 0;

  constructor(
    private readonly file: PageFile,
    private readonly tree: Tree,
  ) {}

  next(): boolean {
    if (!this.started) {
      this.started = true;
      if (this.tree.root >= 0) this.descend(this.tree.root);
      else return false;
    }
    while (this.index >= this.count) {
      if (!this.nextLeaf()) return false;
    }
    // Why: byte arithmetic rather than readUInt16LE (a call with its own bounds checks), for every entry of the checkpoint (docs/performance.md, page-bytes).
    const p = this.page;
    const ptr = PAGE_HEADER + 2 * this.index++;
    const at = (p[ptr]! | (p[ptr + 1]! << 8)) + PAGE_BASE;
    if (at + 8 > p.length) this.file.fail(`an entry of a page points past its end (offset ${at})`);
    this.dataSize = (p[at]! | (p[at + 1]! << 8)) + (p[at + 2]! | (p[at + 3]! << 8)) * 0x10000;
    this.flags = p[at + 4]! | (p[at + 5]! << 8);
    this.keySize = p[at + 6]! | (p[at + 7]! << 8);
    this.keyAt = at + 8;
    this.dataAt = this.keyAt + this.keySize;
    // Offsets inside the page: a big value's data there is its 8-byte overflow page number.
    if (this.dataAt + ((this.flags & F_BIGDATA) !== 0 ? 8 : this.dataSize) > p.length) this.file.fail(`an entry at offset ${at} runs past the end of its page`);
    return true;
  }

  /**
   * Positions the cursor so that next() gives the first entry whose key, a
   * u32 of an integer-key tree, is at least `key`: one descent, choosing at
   * each branch page the last child whose key is not above it. A scan from
   * here is bounded by the file's pages again, however often it seeks.
   */
  seek(key: number): void {
    this.started = true;
    this.stack.length = 0;
    this.index = this.count = 0;
    this.leaves = 0;
    if (this.tree.root >= 0) this.descend(this.tree.root, key);
  }

  /** The u32 key of entry `i` of a page (leaf or branch), checked to lie inside it. */
  private keyOf(page: Buffer, i: number): number {
    const at = page.readUInt16LE(PAGE_HEADER + 2 * i) + PAGE_BASE;
    if (at + 12 > page.length || page.readUInt16LE(at + 6) !== 4) this.file.fail(`entry ${i} of a page is not a 4-byte key inside it`);
    return page.readUInt32LE(at + 8);
  }

  /** True when the entry's data sits on overflow pages (read it with value()). */
  get big(): boolean {
    return (this.flags & F_BIGDATA) !== 0;
  }

  /** The key as the u32 LE of an integer-key DB. */
  get intKey(): number {
    const p = this.page;
    const k = this.keyAt;
    return (p[k]! | (p[k + 1]! << 8) | (p[k + 2]! << 16)) + p[k + 3]! * 0x1000000;
  }

  /** The current entry's data, following overflow pages (a copy of those, else a view into the page). */
  value(): Buffer {
    if ((this.flags & F_BIGDATA) === 0) return this.page.subarray(this.dataAt, this.dataAt + this.dataSize);
    const pgno = Number(this.page.readBigUInt64LE(this.dataAt));
    const pages = Math.ceil((PAGE_HEADER + this.dataSize) / this.file.pageSize);
    this.overflow = this.file.read(pgno, this.overflow, pages);
    return this.overflow.subarray(PAGE_HEADER, PAGE_HEADER + this.dataSize);
  }

  /**
   * Walks down from `pgno` to a leaf: by the first child at each branch, or,
   * with `key`, by the last child whose key is not above it (child 0 holds
   * everything below child 1's key; its own key is empty), and then to the
   * leaf's first entry not below `key`.
   */
  private descend(pgno: number, key?: number): void {
    for (;;) {
      // Branch pages stay on the stack; a leaf's buffer is reused for the next leaf.
      const page = this.file.read(pgno, this.spareLeaf ?? Buffer.allocUnsafe(this.file.pageSize));
      this.spareLeaf = null;
      const flags = page.readUInt16LE(FLAGS_AT);
      if ((flags & P_LEAF) !== 0) {
        this.enterLeaf(page);
        if (key !== undefined) {
          let lo = 0;
          let hi = this.count;
          while (lo < hi) {
            const mid = (lo + hi) >>> 1;
            if (this.keyOf(page, mid) < key) lo = mid + 1;
            else hi = mid;
          }
          this.index = lo;
        }
        return;
      }
      if ((flags & P_BRANCH) === 0) this.file.fail(`page ${pgno} is neither a branch nor a leaf (flags ${flags})`);
      const count = page.readUInt16LE(LOWER_AT) >> 1;
      // A B-tree of this file is far shallower; a deeper descent follows a loop of damaged pointers.
      if (this.stack.length >= MAX_DEPTH) this.file.fail(`the B-tree under page ${this.tree.root} is deeper than ${MAX_DEPTH} levels (a loop of page pointers)`);
      if (count === 0 || PAGE_HEADER + 2 * count > page.length) this.file.fail(`branch page ${pgno} claims ${count} entries`);
      let at = 0;
      if (key !== undefined) {
        let hi = count - 1;
        while (at < hi) {
          const mid = (at + hi + 1) >>> 1;
          if (this.keyOf(page, mid) <= key) at = mid;
          else hi = mid - 1;
        }
      }
      this.stack.push({ page, next: at + 1, count });
      pgno = this.child(page, at);
    }
  }

  /** Child `i` of a branch page; its node must lie inside the page. */
  private child(page: Buffer, i: number): number {
    const at = page.readUInt16LE(PAGE_HEADER + 2 * i) + PAGE_BASE;
    if (at + 6 > page.length) this.file.fail(`a branch entry points past the end of its page (offset ${at})`);
    return branchChild(page, i);
  }

  private enterLeaf(page: Buffer): void {
    if ((page.readUInt16LE(FLAGS_AT) & P_LEAF2) !== 0) this.file.fail('it holds fixed-size duplicate pages, which lineage-dag does not write');
    if (this.page.length === this.file.pageSize) this.spareLeaf = this.page;
    this.page = page;
    this.index = 0;
    this.count = page.readUInt16LE(LOWER_AT) >> 1;
    if (PAGE_HEADER + 2 * this.count > this.file.pageSize) this.file.fail(`a leaf page claims ${this.count} entries`);
    // Every leaf is entered once per scan: more leaves than pages in the file means a loop.
    if (++this.leaves > this.file.pageCount) this.file.fail('its B-tree reaches more leaves than the file has pages (a loop of page pointers)');
  }

  private nextLeaf(): boolean {
    while (this.stack.length > 0) {
      const top = this.stack[this.stack.length - 1]!;
      if (top.next < top.count) {
        const child = this.child(top.page, top.next++);
        this.descend(child);
        return true;
      }
      this.stack.pop();
    }
    return false;
  }
}

function branchChild(page: Buffer, i: number): number {
  const at = page.readUInt16LE(PAGE_HEADER + 2 * i) + PAGE_BASE;
  return page.readUInt16LE(at) + page.readUInt16LE(at + 2) * 0x10000 + page.readUInt16LE(at + 4) * 0x100000000;
}

/**
 * The (key, value) pairs of a dupSort DB with u32 integer keys, every
 * duplicate once, in key then value order: the `parents` and `children`
 * rows, whose values are one id (u32 BE) or a run of ids (first and last,
 * u32 BE each; edge-values.js), a pair for each id of a run.
 */
export class EdgeCursor {
  key = 0;
  value = 0;
  private readonly outer: LeafCursor;
  /** Duplicates in a sub-tree of their own. */
  private inner: LeafCursor | null = null;
  /** Duplicates in a sub-page inside the outer leaf: where it starts, the next and the number of its entries. */
  private subAt = 0;
  private subNext = 0;
  private subCount = 0;
  /** The rest of a run value: the next id and the last. */
  private runNext = 1;
  private runLast = 0;

  constructor(private readonly file: PageFile, tree: Tree) {
    this.outer = new LeafCursor(file, tree);
  }

  next(): boolean {
    if (this.runNext <= this.runLast) {
      this.value = this.runNext++;
      return true;
    }
    for (;;) {
      if (this.subNext < this.subCount) {
        // A sub-page's pointers are relative to its own start; its entries' keys are the values.
        const p = this.outer.page;
        const ptr = this.subAt + PAGE_HEADER + 2 * this.subNext++;
        const node = this.subAt + PAGE_BASE + (p[ptr]! | (p[ptr + 1]! << 8));
        const size = p[node + 6]! | (p[node + 7]! << 8);
        if (node + 8 + size > this.outer.dataAt + this.outer.dataSize) this.file.fail(`a duplicate of key ${this.key} lies outside its sub-page`);
        return this.take(p, node + 8, size);
      }
      if (this.inner) {
        if (this.inner.next()) return this.take(this.inner.page, this.inner.keyAt, this.inner.keySize);
        this.inner = null;
      }
      if (!this.outer.next()) return false;
      const o = this.outer;
      this.key = o.intKey;
      if ((o.flags & F_DUPDATA) === 0) return this.take(o.page, o.dataAt, o.dataSize);
      if ((o.flags & F_SUBDATA) !== 0) this.inner = new LeafCursor(this.file, treeAt(o.page, o.dataAt));
      else {
        const p = o.page;
        const at = o.dataAt;
        if ((p.readUInt16LE(at + FLAGS_AT) & P_LEAF2) !== 0) this.file.fail('it holds fixed-size duplicate pages, which lineage-dag does not write');
        this.subAt = at;
        this.subNext = 0;
        this.subCount = p.readUInt16LE(at + LOWER_AT) >> 1;
        if (PAGE_HEADER + 2 * this.subCount > o.dataSize) this.file.fail(`the sub-page of key ${this.key} claims ${this.subCount} duplicates`);
      }
    }
  }

  /** Positions the cursor so that next() gives the first pair whose key is at least `key`. */
  seek(key: number): void {
    this.outer.seek(key);
    this.inner = null;
    this.subNext = this.subCount = 0;
    this.runNext = 1;
    this.runLast = 0;
  }

  /** Reads the value of `size` bytes at `at` of `page`: its first id now, the rest of a run on the next steps. */
  private take(page: Buffer, at: number, size: number): boolean {
    if (at + size > page.length) this.file.fail(`an edge value of task ${this.key} runs past its page`);
    const range = edgeRangeAt(page, at, size, this.key);
    if (range === null) this.file.fail(`the edge rows of task ${this.key} hold ${edgeProblem(size)}`);
    this.value = range[0];
    if (range[1] > range[0]) {
      this.runLast = range[1];
      this.runNext = this.value + 1;
    }
    return true;
  }
}
