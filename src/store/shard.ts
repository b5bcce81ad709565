/**
 * @internal
 * One writer's LMDB environment and its named sub-databases (DESIGN.md §3).
 *
 * Key layout (format 2), chosen for the write path: every task gets a compact
 * uint32 id in write order, so all sub-DBs but `udid` are keyed by ids that
 * mostly append to the right edge of their B-trees. Only the `udid` index (16
 * raw UDID bytes → id) takes random inserts; it is written in sorted bulk
 * merges and may lag behind `meta` (udid-tail.ts).
 *
 * A task's type, outcome and completion are fields of its `meta` row rather
 * than three sub-DBs of their own (format 1 had `task_type`, `completed`,
 * `outcome`): one B-tree write instead of up to four per change of state,
 * and ~70 bytes less per task (README, "Design notes").
 *
 * | sub-DB      | key        | value                                              |
 * |-------------|------------|----------------------------------------------------|
 * | udid        | 16 bytes   | id (u32 LE)                                        |
 * | meta        | id         | see below                                          |
 * | parents     | id         | parent id (u32 BE), dupSort                        |
 * | children    | id         | child id (u32 BE), dupSort                         |
 * | sources     | root id    | source key (UTF-8)                                 |
 * | stages      | stage no.  | stage id (UTF-8)                                   |
 * | runs        | run no.    | JSON { startedAt, writerId, host, pid }            |
 * | info        | string     | JSON (next id, format version, `unindexed` blocks) |
 * | source_state | source key | JSON SourceState: source-counter mode only        |
 * | absorbed    | stage no. (u16 BE) + seq (u32 BE) | input UDID (16 bytes): what a stateful stage absorbed, in order |
 * | state_checkpoints | stage no. | JSON { nextId, checkpoints: [{ id, at, absorbed }] }, oldest first |
 *
 * The `meta` row (META_SIZE bytes, then the error text of a failed task):
 *
 * | bytes | field                                                             |
 * |-------|-------------------------------------------------------------------|
 * | 0-15  | UDID                                                              |
 * | 16-17 | stage that emitted the task (u16 LE; 0 for a root)                |
 * | 18-21 | root (source) task id (u32 LE)                                    |
 * | 22    | flags: 1 terminal, 2 has parents, 4 has children (the task type)  |
 * | 23    | outcome: 0 none, 1 emitted, 2 filtered, 3 failed                  |
 * | 24-25 | stage that consumed the task (u16 LE; 0 with no outcome)          |
 * | 26-29 | run that completed the task (u32 LE; 0: not complete)             |
 * | 30-   | error text (UTF-8) when the outcome is `failed`                   |
 *
 * `absorbed` and `state_checkpoints` hold the frontiers of stateful stages
 * (DESIGN.md §8, see state-checkpoint-log.ts): a checkpoint that absorbed n
 * inputs covers the first n `absorbed` entries of its stage.
 */
import { existsSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { open, type Database, type RootDatabase } from 'lmdb';
import { ErrorCodes, LineageError } from '../errors/lineage-error.js';
import { checkLmdbFile } from './lmdb-header.js';
import { UdidTail, claimantAlive, readUnindexed } from './udid-tail.js';
import { WriteBatch, addToRanges } from './write-batch.js';
import { ENV_OPTIONS, WRITE_DB_OPTIONS, claimIdBlock, commitBatch } from './write-worker.js';
import type { OutcomeKind, TaskType } from './types.js';

export const TASK_TYPES: readonly TaskType[] = ['source_leaf', 'source', 'leaf', 'middle'];
export const OUTCOME_KINDS: readonly (OutcomeKind | null)[] = [null, 'emitted', 'filtered', 'failed'];
export const OUTCOME_EMITTED = 1;
export const OUTCOME_FILTERED = 2;
export const OUTCOME_FAILED = 3;
export const FLAG_TERMINAL = 1;
export const FLAG_HAS_PARENTS = 2;
export const FLAG_HAS_CHILDREN = 4;
/** Fixed part of a `meta` row; a failed task's error text follows it. */
export const META_SIZE = 30;
/** The on-disk layout this code reads and writes (info `format`, and the manifest's formatVersion). */
export const SHARD_FORMAT = 2;

/** 32 GiB of address space: ~100M tasks per shard at ~250 bytes a task. */
export const DEFAULT_MAP_SIZE = 2 ** 35;

export type IdDb = Database<Buffer, number>;

/**
 * The write thread needs the methods that scripts/ensure-lmdb-v1.js patches
 * into lmdb-js when lineage-dag is installed (scripts/lmdb-put-rows.cpp);
 * without them (installed with --ignore-scripts, say) nothing could be
 * recorded, so the open fails first, saying how to get them.
 */
export function checkNativeBuild(env: RootDatabase, dir: string): void {
  const native = (env as unknown as { env?: Record<string, unknown> }).env;
  if (typeof native?.putRows === 'function' && typeof native.metaUdidRows === 'function' && typeof native.releaseMap === 'function') return;
  throw new LineageError(
    ErrorCodes.NATIVE_BUILD,
    `${dir}: the lmdb package is not the build lineage-dag's install step makes (scripts/ensure-lmdb-v1.js; were install scripts skipped?). ` +
      'Run `npm rebuild lmdb lineage-dag`, or reinstall without --ignore-scripts.',
  );
}

export interface RunInfo {
  readonly startedAt: string;
  readonly writerId: string;
  readonly host: string;
  readonly pid: number;
}

/** Where a source stands in source-counter mode. */
export interface SourceState {
  readonly state: 'started' | 'done' | 'failed';
  readonly run: number;
  readonly stage?: string;
  readonly error?: string;
}

/** A decoded `meta` row. */
export interface MetaRow {
  readonly udid: Buffer;
  /** Stage number that emitted the task (0: a root). */
  readonly stage: number;
  readonly root: number;
  readonly flags: number;
  /** 0 none, else OUTCOME_EMITTED / _FILTERED / _FAILED. */
  readonly outcome: number;
  readonly outcomeStage: number;
  /** Run that completed the task; 0 when it is not complete. */
  readonly completedRun: number;
  readonly error?: string;
}

export function decodeMeta(v: Buffer): MetaRow {
  const error = v.length > META_SIZE ? v.toString('utf8', META_SIZE) : undefined;
  return {
    udid: v.subarray(0, 16),
    stage: v.readUInt16LE(16),
    root: v.readUInt32LE(18),
    flags: v[22]!,
    outcome: v[23]!,
    outcomeStage: v.readUInt16LE(24),
    completedRun: v.readUInt32LE(26),
    ...(error !== undefined ? { error } : {}),
  };
}

/** The structural type from the edge-presence flags of a `meta` row. */
export function typeOfFlags(flags: number): TaskType {
  return TASK_TYPES[((flags & FLAG_HAS_PARENTS) !== 0 ? 2 : 0) | ((flags & FLAG_HAS_CHILDREN) !== 0 ? 1 : 0)]!;
}

/** A 4-byte big-endian id: the value encoding of the `parents` and `children` dupSort rows. */
export function u32be(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}

export class Shard {
  readonly env: RootDatabase;
  readonly udid: Database<Buffer, Buffer>;
  readonly meta: IdDb;
  readonly parents: IdDb;
  readonly children: IdDb;
  readonly sources: Database<string, number>;
  readonly stages: Database<string, number>;
  readonly runs: Database<RunInfo, number>;
  readonly info: Database<unknown, string>;
  /** Source-counter mode: source key → where the source stands. */
  readonly sourceState: Database<SourceState, string>;
  /** Stateful stages: the inputs absorbed, in order (undefined in a read-only shard written before they existed). */
  readonly absorbed: Database<Buffer, Buffer> | undefined;
  /** Stateful stages: the checkpoints recorded per stage (undefined as above). */
  readonly stateCheckpoints: Database<unknown, number> | undefined;
  /** UDID → id for the tasks not yet in the `udid` index (udid-tail.ts). */
  readonly tail: UdidTail;
  private readonly stageNames = new Map<number, string>();
  private readonly runCache = new Map<number, RunInfo>();

  private constructor(
    readonly dir: string,
    readonly writerId: string,
    readonly readOnly: boolean,
    /** Bytes of address space reserved for the map (the write thread opens it alike). */
    readonly mapSize: number,
  ) {
    const dataFile = join(dir, 'data.mdb');
    if (existsSync(dataFile)) checkLmdbFile(dataFile);
    try {
      // LMDB 0.9 (data format 1, see scripts/ensure-lmdb-v1.js) cannot grow its map
      // under lmdb-js's async writer, so the map is reserved up front: address
      // space only, the file grows with the data.
      this.env = open({ path: dir, readOnly, mapSize, ...ENV_OPTIONS });
      this.udid = this.env.openDB('udid', WRITE_DB_OPTIONS.udid);
      this.meta = this.env.openDB('meta', WRITE_DB_OPTIONS.meta);
      this.parents = this.env.openDB('parents', WRITE_DB_OPTIONS.parents);
      this.children = this.env.openDB('children', WRITE_DB_OPTIONS.children);
      this.sources = this.env.openDB('sources', WRITE_DB_OPTIONS.sources);
      this.stages = this.env.openDB('stages', { keyEncoding: 'uint32', encoding: 'string' });
      this.runs = this.env.openDB('runs', { keyEncoding: 'uint32', encoding: 'json' });
      this.info = this.env.openDB('info', WRITE_DB_OPTIONS.info);
      this.sourceState = this.env.openDB('source_state', { encoding: 'json' });
      this.absorbed = this.env.openDB('absorbed', { keyEncoding: 'binary', encoding: 'binary' }) ?? undefined;
      this.stateCheckpoints = this.env.openDB('state_checkpoints', { keyEncoding: 'uint32', encoding: 'json' }) ?? undefined;
    } catch (err) {
      throw new LineageError(
        ErrorCodes.CORRUPT,
        `${dir} could not be opened as an LMDB environment (${(err as Error).message}). Nothing was changed. ` +
          'Restore the checkpoint from a backup, or delete this writer directory to redo its work.',
        { cause: err },
      );
    }
    this.tail = new UdidTail(this);
    try {
      checkNativeBuild(this.env, dir);
      this.checkFormat();
    } catch (err) {
      // Environments are shared per file in a process: one left open would be reused by the next open.
      void this.env.close();
      throw err;
    }
  }

  /** Stamps a new shard with SHARD_FORMAT; refuses a shard written in another layout. */
  private checkFormat(): void {
    const found = this.info?.get('format') as { version?: number } | undefined;
    if (found === undefined) {
      if (!this.readOnly) this.info.putSync('format', { version: SHARD_FORMAT });
      return;
    }
    if (found.version === SHARD_FORMAT) return;
    const older = (found.version ?? 0) < SHARD_FORMAT;
    throw new LineageError(
      ErrorCodes.FORMAT_VERSION,
      `${this.dir} holds checkpoint format ${found.version}; this lineage-dag reads format ${SHARD_FORMAT}. Nothing was changed. ` +
        (older
          ? 'Finish or inspect it with the lineage-dag version that wrote it (format 1 is lineage-dag 0.1), or start the run with a new checkpoint directory.'
          : 'Upgrade lineage-dag to read it.'),
    );
  }

  /**
   * False for a read-only shard whose writer has not created its sub-DBs yet
   * (lmdb-js returns no database for a missing name when read-only).
   */
  get initialized(): boolean {
    return Boolean(this.meta && this.parents && this.children && this.sourceState && this.info);
  }

  static open(dir: string, writerId: string, readOnly: boolean, mapSize = DEFAULT_MAP_SIZE): Shard {
    return new Shard(dir, writerId, readOnly, mapSize);
  }

  /**
   * Reserves a block of `size` ids; blocks keep concurrent processes on one
   * shard apart. The block is listed as not yet in the `udid` index. A claim
   * is a synchronous commit, so callers grow `size`.
   */
  claimIds(size: number): { start: number; end: number } {
    const block = this.env.transactionSync(() => claimIdBlock(this.info as never, size));
    if (block === null) {
      throw new LineageError(ErrorCodes.CORRUPT, `${this.dir}: task ids are exhausted (more than 4 billion tasks in one writer shard).`);
    }
    return block;
  }

  /**
   * Indexes the tasks of blocks whose writer is gone (it died before its
   * merge) and unlists them, as a writer's own merge does (commitBatch).
   * Returns the tasks indexed. Two writers opening at once may both do it:
   * the second puts the same rows again.
   */
  indexOrphanedBlocks(): number {
    const orphaned = readUnindexed(this.info).filter((b) => !claimantAlive(b));
    if (orphaned.length === 0) return 0;
    // The ids in use in those blocks, as ranges: a block's end may never have been reached.
    const ranges: number[] = [];
    let tasks = 0;
    for (const b of orphaned) {
      for (const id of this.meta.getKeys({ start: b.start, end: b.end }) as Iterable<number>) {
        addToRanges(ranges, id);
        tasks++;
      }
    }
    const merge = new WriteBatch();
    merge.merge = ranges;
    merge.indexed = orphaned.map((b) => b.start);
    commitBatch(this.env, this, merge.toMessage(0));
    return tasks;
  }

  /** The number of a stage id in this shard's dictionary, adding it if new. */
  stageNumber(stageId: string): number {
    for (const [n, name] of this.stageNames) if (name === stageId) return n;
    return this.env.transactionSync(() => {
      let max = 0;
      for (const { key, value } of this.stages.getRange()) {
        this.stageNames.set(key, value);
        if (value === stageId) return key;
        max = Math.max(max, key);
      }
      const n = max + 1;
      if (n > 0xffff) throw new LineageError(ErrorCodes.INVALID_PIPELINE, `${this.dir}: more than 65535 stage ids.`);
      this.stages.putSync(n, stageId);
      this.stageNames.set(n, stageId);
      return n;
    });
  }

  stageName(n: number): string | null {
    if (n === 0) return null;
    let name = this.stageNames.get(n);
    if (name === undefined) {
      name = this.stages.get(n) ?? `#${n}`;
      this.stageNames.set(n, name);
    }
    return name;
  }

  /** Starts a new run record and returns its number. */
  startRun(): number {
    return this.env.transactionSync(() => {
      let last = 0;
      for (const key of this.runs.getKeys({ reverse: true, limit: 1 })) last = key;
      const info: RunInfo = { startedAt: new Date().toISOString(), writerId: this.writerId, host: hostname(), pid: process.pid };
      this.runs.putSync(last + 1, info);
      return last + 1;
    });
  }

  run(n: number): RunInfo | undefined {
    let info = this.runCache.get(n);
    if (info === undefined) {
      info = this.runs.get(n);
      if (info) this.runCache.set(n, info);
    }
    return info;
  }

  /** The id of the task with these 16 UDID bytes; `skipOwn`: not one of this process's writer session (see UdidTail). */
  idOf(udid: Buffer, skipOwn = false): number | undefined {
    const v = this.udid.getBinaryFast(udid);
    return v === undefined ? this.tail.idOf(udid, skipOwn) : v.readUInt32LE(0);
  }

  metaOf(id: number): MetaRow | undefined {
    const v = this.meta.getBinary(id);
    return v === undefined ? undefined : decodeMeta(v);
  }

  parentIds(id: number): number[] {
    const out: number[] = [];
    for (const v of this.parents.getValues(id)) out.push((v as unknown as Buffer).readUInt32BE(0));
    return out;
  }

  childIds(id: number): number[] {
    const out: number[] = [];
    for (const v of this.children.getValues(id)) out.push((v as unknown as Buffer).readUInt32BE(0));
    return out;
  }

  /**
   * Rewrites a task's meta row through `edit`, which changes the copy it is
   * given or returns the row to store instead; returns false when the task
   * has no row. Synchronous: call inside `env.transactionSync` to
   * group edits. For repair and invalidation, not for recording.
   */
  editMeta(id: number, edit: (row: Buffer) => Buffer | void): boolean {
    const v = this.meta.getBinary(id);
    if (v === undefined) return false;
    const row = Buffer.from(v);
    this.meta.putSync(id, (edit(row) ?? row) as never);
    return true;
  }

  /** The run that completed the task, or undefined. */
  completedRun(id: number): number | undefined {
    const v = this.meta.getBinaryFast(id);
    if (v === undefined) return undefined;
    const run = v.readUInt32LE(26);
    return run === 0 ? undefined : run;
  }

  sourceKeyOf(rootId: number): string | undefined {
    return this.sources.get(rootId);
  }

  async close(): Promise<void> {
    await this.env.close();
  }
}
