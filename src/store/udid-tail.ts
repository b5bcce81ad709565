/**
 * @internal
 * The `udid` index (UDID → task id) is written in bulk, not as tasks appear.
 *
 * Random 16-byte keys are the one part of the layout that does not append:
 * put as they come, every commit rewrites most leaf pages of the index, which
 * made the index a third of the writer's time and, through the copies, a
 * third of the file. So a writer keeps the UDIDs of the tasks it creates in
 * memory and merges them into the index, sorted, in one batch when they are
 * as many as the index already holds (at least 2^20, at most 2^22), and at
 * close. The first merge into an empty index appends.
 *
 * Until then the tasks are found through `meta`, whose rows hold the UDID.
 * The info key `unindexed` lists the id blocks whose tasks may be missing from
 * the index: a block is listed in the transaction that claims it and
 * unlisted in the one that indexes its last task. A reader that misses the
 * index scans the listed blocks' `meta` rows (each row once: the scan goes on
 * from where it stopped). A block left listed by a writer that died is
 * indexed by the next writer of the shard when it opens.
 */
import { hostname } from 'node:os';
import { sameHostProcessAlive } from './process-identity.js';
import { UdidIndex } from './udid-index.js';
import { UNINDEXED_KEY } from './shard-layout.js';

export { UNINDEXED_KEY };

/** An id block whose tasks may be missing from the `udid` index, and the process that claimed it. */
export interface UnindexedBlock {
  readonly start: number;
  readonly end: number;
  readonly host: string;
  readonly pid: number;
}

/**
 * Fewest tasks a writer holds back from the index before it merges them.
 * Every merge rewrites the chunks it lands in: for W1 at S = 100,000, 2^18
 * made four merges through 3.2 M entries, 2^20 makes two through 2.4 M.
 */
export const MIN_TAIL = 1 << 20;
/** Most: bounds what a reader that misses the index scans. */
export const MAX_TAIL = 1 << 22;

/** How long a reader trusts the list of unindexed blocks it read. */
const LIST_TTL_MS = 50;

/** Tasks held back before a merge, for an index of `indexed` entries. */
export function tailLimit(indexed: number): number {
  return Math.min(MAX_TAIL, Math.max(MIN_TAIL, indexed));
}

interface InfoDb {
  get(key: string): unknown;
}

/** What the tail reads of its shard (Shard implements it): an interface, so that this module needs not import shard.ts. */
export interface TailShard {
  readonly initialized: boolean;
  readonly info: InfoDb;
  metaRows(options: { start: number; end: number }): Iterable<{ key: number; value: Buffer }>;
}

export function readUnindexed(info: InfoDb, transaction?: object): UnindexedBlock[] {
  const v = transaction === undefined ? info.get(UNINDEXED_KEY) : (info.get as (k: string, o: object) => unknown).call(info, UNINDEXED_KEY, { transaction });
  return Array.isArray(v) ? (v as UnindexedBlock[]) : [];
}

/** True when the process that claimed the block may still be writing it (same host, pid alive). */
export function claimantAlive(block: UnindexedBlock): boolean {
  // Writers on another host are refused while their heartbeat is fresh (owner-record.ts): one still listed is gone.
  return block.host === hostname() && sameHostProcessAlive(block.pid, undefined, undefined);
}

/** True when `id` lies in one of the blocks. */
export function inBlocks(blocks: readonly UnindexedBlock[], id: number): boolean {
  return blocks.some((b) => id >= b.start && id < b.end);
}

/**
 * A reader's view of the listed blocks: UDID → id for their tasks, filled
 * from `meta` as far as it was read.
 */
export class UdidTail {
  private readonly index = new UdidIndex(1024);
  /** Per listed block (by start): the next id to read. */
  private readonly readTo = new Map<number, number>();
  /** The blocks of this process's writer session, which knows their tasks in memory (see claimedHere). */
  readonly own = new Set<number>();
  private listed: UnindexedBlock[] = [];
  private listedAt = -Infinity;

  constructor(private readonly shard: TailShard) {}

  /**
   * This process's writer claimed the block starting at `start`: it is its
   * own, and the list is read again at the next miss (a reader in this
   * process sees its own writer's block at once, not LIST_TTL_MS later).
   */
  claimedHere(start: number): void {
    this.own.add(start);
    this.listedAt = -Infinity;
  }

  /** The id of a task in a listed block; `skipOwn` leaves out the blocks in `own`. */
  idOf(udid: Buffer, skipOwn = false): number | undefined {
    if (!this.shard.initialized) return undefined;
    let id = this.index.get(udid);
    if (id === 0) {
      this.catchUp(skipOwn);
      id = this.index.get(udid);
    }
    return id === 0 ? undefined : id;
  }

  /** UDIDs (hex) of the listed blocks' tasks that start with `hexPrefix`: a scan of their `meta` rows, for the CLI. */
  *withPrefix(hexPrefix: string): Generator<string> {
    if (!this.shard.initialized) return;
    for (const block of readUnindexed(this.shard.info)) {
      for (const { value } of this.shard.metaRows({ start: block.start, end: block.end })) {
        const udid = value.toString('hex', 0, 16);
        if (udid.startsWith(hexPrefix)) yield udid;
      }
    }
  }

  /**
   * Reads the `meta` rows added to the listed blocks since the last call. A
   * writer asks for every new task it records (and the runner for every new
   * source), so the list itself is read again only every LIST_TTL_MS: a block
   * another process claimed is seen that much later, as its commits are.
   */
  private catchUp(skipOwn: boolean): void {
    const now = performance.now();
    if (now - this.listedAt > LIST_TTL_MS) {
      this.listed = readUnindexed(this.shard.info);
      this.listedAt = now;
    }
    for (const block of this.listed) {
      if (skipOwn && this.own.has(block.start)) continue;
      let next = this.readTo.get(block.start) ?? block.start;
      if (next >= block.end) continue;
      for (const { key, value } of this.shard.metaRows({ start: next, end: block.end })) {
        if (this.index.get(value) === 0) this.index.add(value, key);
        next = key + 1;
      }
      this.readTo.set(block.start, next);
    }
  }
}
