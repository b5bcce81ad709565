/**
 * @internal
 * One writer's LMDB environment and its named sub-databases (docs/design.md §3):
 * shard-layout.js describes their keys and values, task-record.js a task's
 * record in its `meta` block.
 */
import { existsSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { open, type Database, type RootDatabase } from 'lmdb';
import { ErrorCodes, LineageError } from '../errors/lineage-error.js';
import { checkLmdbFile } from './lmdb-header.js';
import { announceOpen, isLmdbDamage } from './open-files.js';
import { pushEdgeIds } from './edge-values.js';
import { BLOCK_TASKS, META_SIZE, blockBody, blockOf, forEachRecord, lastKey, recordAt } from './meta-blocks.js';
import { decodeMeta, type MetaRow } from './meta-row.js';
import { editTaskRecord, removeTaskRecord } from './record-edits.js';
import { runCheck, type RunInfo } from './run-record.js';
import { checkShardFormat, checkSubDbNames, checkSubDbsFound, guardJsonRows, openFailure } from './shard-open-checks.js';
import type { SourceState } from './source-state.js';
import { CHECK_SIZE, DamagedValueError, seal, unseal } from './value-check.js';
import { CHUNK_ENTRIES, entries, lookup } from './udid-chunks.js';
import { UdidTail, claimantAlive, readUnindexed } from './udid-tail.js';
import { WriteBatch, addToRanges } from './write-batch.js';
import { claimIdBlock, commitBatch } from './batch-commit.js';
import { ENV_OPTIONS, WRITE_DB_OPTIONS } from './shard-layout.js';
import { OUTCOME_FAILED, completedRunOf, outcomeOf, udidOf } from './task-record.js';

export { META_SIZE };
/** 32 GiB of address space: ~100M tasks per shard at ~250 bytes a task. */
export const DEFAULT_MAP_SIZE = 2 ** 35;

export type IdDb = Database<Buffer, number>;

export class Shard {
  readonly env: RootDatabase;
  readonly udid: Database<Buffer, Buffer>;
  readonly meta: IdDb;
  readonly parents: IdDb;
  readonly children: IdDb;
  /** Root id → source key (UTF-8, then a CRC32 seeded with the id: value-check.js). */
  readonly sources: IdDb;
  /** Error texts of failed tasks (id → text); undefined in a read-only shard whose writer never opened it. */
  readonly errors: Database<Buffer, number>;
  /** Stage number → stage id (UTF-8, then a CRC32 seeded with the number: value-check.js). */
  readonly stages: Database<Buffer, number>;
  readonly runs: Database<RunInfo, number>;
  readonly info: Database<unknown, string>;
  /** Source-counter mode: source key → where the source stands. */
  readonly sourceState: Database<SourceState, string>;
  /** Stateful stages: the inputs absorbed, in order (undefined in a read-only shard written before they existed). */
  readonly absorbed: Database<Buffer, Buffer> | undefined;
  /** Stateful stages: the checkpoints recorded per stage (undefined as above). */
  readonly stateCheckpoints: Database<unknown, number> | undefined;
  /** Source key → the fingerprint of its input (source-fingerprints.ts; undefined as above). */
  readonly fingerprints: Database<Buffer, string> | undefined;
  /** Task id → the files the call that consumed it wrote (task-outputs.ts; undefined as above). */
  readonly outputs: Database<Buffer, number> | undefined;
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
    const existed = existsSync(dataFile);
    const subDbs = existed ? checkLmdbFile(dataFile).subDbs : 0;
    announceOpen(dataFile);
    try {
      // The map is reserved up front: address space only, the file grows with the data.
      this.env = open({ path: dir, readOnly, mapSize, ...ENV_OPTIONS });
      if (existed) checkSubDbNames(this, subDbs);
      this.udid = this.env.openDB('udid', WRITE_DB_OPTIONS.udid);
      this.meta = this.env.openDB('meta', WRITE_DB_OPTIONS.meta);
      this.parents = this.env.openDB('parents', WRITE_DB_OPTIONS.parents);
      this.children = this.env.openDB('children', WRITE_DB_OPTIONS.children);
      this.sources = this.env.openDB('sources', WRITE_DB_OPTIONS.sources);
      this.errors = this.env.openDB('errors', WRITE_DB_OPTIONS.errors);
      this.stages = this.env.openDB('stages', { keyEncoding: 'uint32', encoding: 'binary' });
      this.runs = this.env.openDB('runs', { keyEncoding: 'uint32', encoding: 'json' });
      this.info = this.env.openDB('info', WRITE_DB_OPTIONS.info);
      this.sourceState = this.env.openDB('source_state', { encoding: 'json' });
      this.absorbed = this.env.openDB('absorbed', { keyEncoding: 'binary', encoding: 'binary' }) ?? undefined;
      this.stateCheckpoints = this.env.openDB('state_checkpoints', { keyEncoding: 'uint32', encoding: 'json' }) ?? undefined;
      this.fingerprints = this.env.openDB('fingerprints', { encoding: 'binary' }) ?? undefined;
      this.outputs = this.env.openDB('outputs', WRITE_DB_OPTIONS.outputs) ?? undefined;
    } catch (err) {
      throw openFailure(err, dir, dataFile, readOnly);
    }
    this.tail = new UdidTail(this);
    try {
      checkSubDbsFound(this);
      for (const [name, db] of [['runs', this.runs], ['info', this.info], ['source_state', this.sourceState], ['state_checkpoints', this.stateCheckpoints]] as const) {
        if (db) guardJsonRows(this, name, db as unknown as { get(key: unknown, options?: unknown): unknown });
      }
      checkShardFormat(this);
    } catch (err) {
      // Environments are shared per file in a process: one left open would be reused by the next open.
      void this.env.close();
      throw err;
    }
  }

  /**
   * False for a read-only shard whose writer has not created its sub-DBs yet
   * (lmdb-js returns no database for a missing name when read-only).
   */
  get initialized(): boolean {
    return Boolean(this.meta && this.parents && this.children && this.errors && this.sourceState && this.info);
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
      for (const { key: id } of this.metaRows({ start: b.start, end: b.end })) {
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
      for (const { key, value } of this.stageRows()) {
        this.stageNames.set(key, value);
        if (value === stageId) return key;
        max = Math.max(max, key);
      }
      const n = max + 1;
      if (n > 0xffff) throw new LineageError(ErrorCodes.INVALID_PIPELINE, `${this.dir}: more than 65535 stage ids.`);
      const text = Buffer.from(stageId);
      const row = Buffer.alloc(text.length + CHECK_SIZE);
      text.copy(row);
      seal(row, text.length, n);
      this.stages.putSync(n, row);
      this.stageNames.set(n, stageId);
      return n;
    });
  }

  stageName(n: number): string | null {
    if (n === 0) return null;
    let name = this.stageNames.get(n);
    if (name === undefined) {
      const row = this.stages.get(n);
      name = row === undefined ? `#${n}` : this.stageText(n, row);
      this.stageNames.set(n, name);
    }
    return name;
  }

  /** Every stage number with its stage id, checksums checked. */
  *stageRows(): Generator<{ key: number; value: string }> {
    for (const { key, value } of this.stages.getRange()) yield { key, value: this.stageText(key, value) };
  }

  private stageText(n: number, row: Buffer): string {
    return this.checked(() => unseal(row, n, 1, `the id of stage ${n}`)).toString('utf8');
  }

  /** Starts a new run record and returns its number. */
  startRun(): number {
    return this.env.transactionSync(() => {
      let last = 0;
      for (const key of this.runs.getKeys({ reverse: true, limit: 1 })) last = key;
      const info: RunInfo = { startedAt: new Date().toISOString(), writerId: this.writerId, host: hostname(), pid: process.pid };
      this.runs.putSync(last + 1, { ...info, check: runCheck(last + 1, info) } as never);
      return last + 1;
    });
  }

  /** When run `n` started, for a task it completed: every such run has a record, so a missing one is damage (a flipped key). */
  runStartedAt(n: number): string {
    const info = this.run(n);
    if (info === undefined) throw this.damaged(`a task was completed in run ${n}, which has no record`);
    return info.startedAt;
  }

  run(n: number): RunInfo | undefined {
    let info = this.runCache.get(n);
    if (info === undefined) {
      const row = this.runs.get(n) as (RunInfo & { check?: unknown }) | undefined;
      if (row === undefined) return undefined;
      // A JSON row LMDB returns may hold flipped bytes that still parse: the check says.
      if (row === null || typeof row !== 'object' || row.check !== runCheck(n, row)) throw this.damaged(`the record of run ${n} does not match its checksum`);
      info = { startedAt: row.startedAt, writerId: row.writerId, host: row.host, pid: row.pid };
      this.runCache.set(n, info);
    }
    return info;
  }

  /** The id of the task with these 16 UDID bytes; `skipOwn`: not one of this process's writer session (see UdidTail). */
  idOf(udid: Buffer, skipOwn = false): number | undefined {
    return this.checked(() => lookup(this.udid as never, udid)) ?? this.tail.idOf(udid, skipOwn);
  }

  /** The data file, as every damage report names it. */
  get dataFile(): string {
    return join(this.dir, 'data.mdb');
  }

  /** LINEAGE_CORRUPT naming this shard's data file and what is wrong in it. */
  damaged(what: string, cause?: unknown): LineageError {
    return new LineageError(
      ErrorCodes.CORRUPT,
      `${this.dataFile} is damaged: ${what}. Nothing was changed. Run \`lineage verify\` on the checkpoint, and restore it from a backup.`,
      cause === undefined ? undefined : { cause },
    );
  }

  /** Runs a read of packed values; a checksum mismatch in them becomes LINEAGE_CORRUPT naming this shard. */
  checked<T>(read: () => T): T {
    try {
      return read();
    } catch (err) {
      if (err instanceof DamagedValueError) throw this.damaged(err.message, err);
      if (isLmdbDamage(err)) throw this.damaged(`LMDB reported ${(err as Error).message}`, err);
      throw err;
    }
  }

  /** False while the shard holds no task. */
  hasTasks(): boolean {
    return this.initialized && lastKey(this.meta as never) >= 0;
  }

  /** The greatest id any task record may have (0: none); `transaction`: in that snapshot. */
  lastTaskId(transaction?: object): number {
    return this.initialized ? (lastKey(this.meta as never, transaction) + 1) * BLOCK_TASKS - 1 : 0;
  }

  /** At least the number of tasks, from the number of `meta` blocks (no scan). */
  taskCountEstimate(): number {
    return this.initialized ? ((this.meta.getStats() as { entryCount?: number }).entryCount ?? 0) * BLOCK_TASKS : 0;
  }

  /** The number of tasks (a scan of the `meta` blocks). */
  taskCount(): number {
    let n = 0;
    for (const _ of this.metaRows()) n++;
    return n;
  }

  /** About how many entries the `udid` index holds (its chunks are nearly full after each merge). */
  indexedEstimate(): number {
    return this.initialized ? ((this.udid.getStats() as { entryCount?: number }).entryCount ?? 0) * CHUNK_ENTRIES : 0;
  }

  /**
   * Every task's record with ids in [start, end), in id order: the id as
   * `key`, and as `value` the META_SIZE-byte record (a view valid until the
   * next step), followed by the error text when the task failed (a copy).
   */
  *metaRows(options: { start?: number; end?: number; transaction?: unknown } = {}): Generator<{ key: number; value: Buffer }> {
    if (!this.initialized) return;
    const start = options.start ?? 0;
    const end = options.end ?? Infinity;
    const txn = (options.transaction === undefined ? {} : { transaction: options.transaction }) as object;
    const range = { start: blockOf(start), ...(end === Infinity ? {} : { end: blockOf(end - 1) + 1 }), ...txn } as object;
    const found: { key: number; value: Buffer }[] = [];
    for (const { key: block, value: view } of this.meta.getRange(range) as Iterable<{ key: number; value: Buffer }>) {
      // A copy: lookups between two steps (the caller's) may reuse the buffer lmdb-js read it into.
      const value = this.checked(() => blockBody(Buffer.from(view), block));
      found.length = 0;
      forEachRecord(value, block, (id, at) => {
        if (id >= start && id < end) found.push({ key: id, value: value.subarray(at, at + META_SIZE) });
      });
      for (const row of found) {
        if (outcomeOf(row.value, 0) === OUTCOME_FAILED) {
          const error = this.errorOf(row.key, options.transaction) ?? '';
          yield { key: row.key, value: Buffer.concat([row.value, Buffer.from(error)]) };
        } else yield row;
      }
    }
  }

  /** The record of task `id` (a view valid until the next read of the shard), or undefined. */
  recordOf(id: number, transaction?: unknown): Buffer | undefined {
    // lmdb-js takes a transaction here although its typings omit the argument.
    const get = this.meta.getBinaryFast as unknown as (key: number, options?: object) => Buffer | undefined;
    const raw = get.call(this.meta, blockOf(id), transaction === undefined ? undefined : { transaction });
    const v = raw && this.checked(() => blockBody(raw.subarray(0, raw.length), blockOf(id)));
    const at = v ? recordAt(v, id) : -1;
    return v && at >= 0 ? v.subarray(at, at + META_SIZE) : undefined;
  }

  metaOf(id: number): MetaRow | undefined {
    const v = this.recordOf(id);
    if (!v) return undefined;
    const row = Buffer.from(v);
    if (outcomeOf(row, 0) !== OUTCOME_FAILED) return decodeMeta(row);
    return decodeMeta(Buffer.concat([row, Buffer.from(this.errorOf(id) ?? '')]));
  }

  /** The error text recorded for failed task `id`, if any. */
  errorOf(id: number, transaction?: unknown): string | undefined {
    const v = this.errors?.get(id, (transaction === undefined ? undefined : { transaction }) as never) as Buffer | undefined;
    return v === undefined ? undefined : this.checked(() => unseal(v, id, 1, `the error text of task ${id}`)).toString('utf8');
  }

  parentIds(id: number): number[] {
    return this.edgeIds(this.parents, 'parents', id);
  }

  childIds(id: number): number[] {
    return this.edgeIds(this.children, 'children', id);
  }

  private edgeIds(db: IdDb, name: string, id: number): number[] {
    return this.checked(() => pushEdgeIds(db.getValues(id) as unknown as Iterable<Uint8Array>, id, [], `the ${name} rows of task ${id}`));
  }

  /**
   * Rewrites a task's record through `edit`, which changes the copy it is
   * given in place; returns false when the task has no record (record-edits.ts).
   * Synchronous: call inside `env.transactionSync` to group edits. For repair
   * and invalidation, not for recording.
   */
  editMeta(id: number, edit: (row: Buffer) => void): boolean {
    return editTaskRecord(this, id, edit);
  }

  /** Takes a task's record, error text, outputs and index entry out (its edges are the caller's). */
  removeTask(id: number, udid: Buffer): void {
    removeTaskRecord(this, id, udid);
  }

  /** Every entry of the `udid` index in UDID order (the UDID is a view valid until the next step), from the chunk that may hold `from`. */
  *udidEntries(from?: Buffer, transaction?: object): Generator<{ udid: Buffer; id: number }> {
    const it = entries(this.udid as never, { ...(from ? { from } : {}), ...(transaction ? { transaction } : {}) });
    for (;;) {
      const step = this.checked(() => it.next());
      if (step.done) return;
      yield step.value;
    }
  }

  /** The run that completed the task, or undefined. */
  completedRun(id: number): number | undefined {
    const v = this.recordOf(id);
    if (!v) return undefined;
    const run = completedRunOf(v, 0);
    return run === 0 ? undefined : run;
  }

  /** The source key of a root task, checksum and row checked; undefined when it has none. Reads the root's record, so a view recordOf gave before is overwritten. */
  sourceKeyOf(rootId: number, transaction?: unknown): string | undefined {
    const row = this.sources.get(rootId, transaction === undefined ? undefined : ({ transaction } as never));
    return row === undefined ? undefined : this.sourceKeyIn(rootId, row, undefined, transaction);
  }

  /** Every source row: root id and source key, checksums checked. */
  *sourceRows(): Generator<{ rootId: number; sourceKey: string }> {
    for (const { key, value } of this.sources.getRange()) yield { rootId: key, sourceKey: this.sourceKeyIn(key, value) };
  }

  /**
   * The key a source row holds. It must match its checksum, name a task that
   * has a record and be non-empty (a writer refuses an empty one). Roots may be
   * plain references whose UDID is not the hash of their key, so the UDID
   * cannot vouch for the key: the checksum does.
   */
  sourceKeyIn(rootId: number, row: Buffer, rootUdid?: Uint8Array, transaction?: unknown): string {
    const sourceKey = this.checked(() => unseal(row, rootId, 1, `the source key of task ${rootId}`)).toString('utf8');
    const record = rootUdid === undefined ? this.recordOf(rootId, transaction) : undefined;
    const udid = rootUdid ?? (record && udidOf(record, 0));
    if (udid === undefined || sourceKey.length === 0) {
      throw this.damaged(`the source row of task ${rootId} holds ${JSON.stringify(sourceKey.slice(0, 200))}, which cannot be that task's source key`);
    }
    return sourceKey;
  }

  async close(): Promise<void> {
    await this.env.close();
  }
}
