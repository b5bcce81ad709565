/**
 * The checkpoint: a directory with a manifest and one LMDB environment per
 * writer (DESIGN.md §3, §7). One store writes its own shard and reads the union
 * of all shards. Public methods validate, then delegate to the shards.
 *
 * @example
 * const store = await LineageStore.open('ckpt');
 * const root = rootLineage('part-0000.jsonl');
 * store.recordEmission({ stage: 'split', parents: [root], children: [childLineage('split', [root.udid], 0)] });
 * await store.close();
 */
import { existsSync, mkdirSync, renameSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ErrorCodes, LineageError } from '../errors/lineage-error.js';
import { assertUdid } from '../identity/udid.js';
import { completionOfShards } from './batch-completion.js';
import { WRITERS_DIR, checkShardFiles, hasData, listShards, prepareDirectory, probe, unlockedReadWarning } from './checkpoint-directory.js';
import { writeManifest, type Manifest } from './manifest.js';
import { networkFsWarning } from './mount-check.js';
import { nearlyFull } from './write-failure.js';
import { assertWritable } from './write-access.js';
import { removeDeadMergeDirs } from './merge-leftovers.js';
import { claimShard, type OwnerHeartbeat } from './owner-record.js';
import { UdidIndex } from './udid-index.js';
import { Shard, type SourceState } from './shard.js';
import { FLAG_TERMINAL, OUTCOME_KINDS, TASK_TYPES, udidOf } from './task-record.js';
import { SourceCounterSession, assertCountableKey } from './source-counters.js';
import { StateCheckpointLog, readStateCheckpoints, type StageCheckpoints } from './state-checkpoint-log.js';
import { scanShard } from './task-scan.js';
import { isRootLineage, rootLineage, type Lineage } from '../identity/lineage.js';
import type { Completion, EmissionRecord, FailureRecord, OpenOptions, Outcome, TaskInfo, TaskType } from './types.js';
import { WriterSession } from './writer-session.js';

export { WRITERS_DIR };
/** Where an in-place merge puts the old shards while it swaps in the merged one. */
export const PRE_MERGE_DIR = 'writers.pre-merge';

/**
 * An in-place merge interrupted between its two renames leaves the old shards
 * in `writers.pre-merge` and no `writers`: put them back. This only finishes
 * (by undoing) an operation that was cut off; the data is unchanged.
 */
export function recoverInterruptedMerge(dir: string): void {
  const writers = join(dir, WRITERS_DIR);
  const old = join(dir, PRE_MERGE_DIR);
  if (!existsSync(writers) && existsSync(old)) renameSync(old, writers);
}
const WRITER_ID_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;

export class LineageStore {
  private closed = false;
  private readonly session: WriterSession | null;
  private readonly counters: SourceCounterSession | null;

  /** Tasks complete only in the union of shards (a child in one completes a parent in another). */
  private unionCompleted: UdidIndex | null = null;

  private constructor(
    readonly dir: string,
    private manifestValue: Manifest,
    /** Every shard of the checkpoint; the writer's own first when writable. */
    readonly shards: readonly Shard[],
    readonly writerId: string | null,
    run: number,
    private readonly heartbeat: OwnerHeartbeat | null,
  ) {
    const sourcesMode = manifestValue.mode === 'sources';
    this.session = writerId !== null && !sourcesMode ? new WriterSession(shards[0]!, run) : null;
    this.counters = writerId !== null && sourcesMode ? new SourceCounterSession(shards[0]!, run) : null;
    if (shards.length > 1 && !sourcesMode) this.refreshUnion();
  }

  /** Opens (and, for a writer, creates) the checkpoint in `dir`. */
  static async open(dir: string, options: OpenOptions = {}): Promise<LineageStore> {
    const path = resolve(dir);
    const readOnly = options.readOnly ?? false;
    const writerId = readOnly ? null : checkWriterId(options.writerId ?? process.env.LINEAGE_WRITER_ID ?? 'main');
    const mapSize = mapSizeOf(options);
    await probe(path, timeoutOf(options));
    const warn = (message: string, code: string) => (options.onWarning ?? ((m: string) => process.emitWarning(m, { code })))(message);
    const warning = networkFsWarning(path);
    if (warning) warn(warning, 'LINEAGE_NETWORK_FS');
    if (writerId !== null) assertWritable(path, join(path, WRITERS_DIR, writerId));
    const manifest = prepareDirectory(path, !readOnly && (options.create ?? true), options.mode ?? 'dag');
    if (options.mode !== undefined && options.mode !== manifest.mode) {
      throw new LineageError(
        ErrorCodes.MODE_MISMATCH,
        `${path} is a "${manifest.mode}" checkpoint, but mode "${options.mode}" was asked for. Use a new checkpoint directory for another mode.`,
      );
    }
    recoverInterruptedMerge(path);
    // A writer may change the directory around the checkpoint; a reader leaves everything as it is.
    if (writerId !== null) removeDeadMergeDirs(path);
    const shardIds = listShards(path);
    checkShardFiles(path, shardIds);
    const shards: Shard[] = [];
    let heartbeat: OwnerHeartbeat | null = null;
    try {
      if (writerId !== null) {
        const own = join(path, WRITERS_DIR, writerId);
        mkdirSync(own, { recursive: true });
        assertRoomToWrite(own);
        // Claimed before LMDB opens: a second process never opens a shard another live one writes.
        heartbeat = claimShard(own, writerId);
        shards.push(Shard.open(own, writerId, false, mapSize));
      }
      for (const id of shardIds) {
        if (id === writerId) continue;
        const shardDir = join(path, WRITERS_DIR, id);
        if (!hasData(shardDir)) continue;
        const unlocked = unlockedReadWarning(shardDir);
        if (unlocked) warn(unlocked, 'LINEAGE_UNLOCKED_READ');
        const shard = Shard.open(shardDir, id, true);
        // A writer that is just starting has not created its sub-DBs: nothing to read yet.
        if (shard.initialized) shards.push(shard);
        else await shard.close();
      }
    } catch (err) {
      heartbeat?.release();
      await Promise.all(shards.map((s) => s.close()));
      throw err;
    }
    const run = writerId !== null ? shards[0]!.startRun() : 0;
    return new LineageStore(path, manifest, shards, writerId, run, heartbeat);
  }

  get readOnly(): boolean {
    return this.session === null && this.counters === null;
  }

  /** `dag`: every task and edge is recorded; `sources`: per-source counters only. */
  get mode(): Manifest['mode'] {
    return this.manifestValue.mode;
  }

  get manifest(): Manifest {
    return this.manifestValue;
  }

  /** The run number this writer recorded under (0 when read-only). */
  get run(): number {
    return this.session?.run ?? this.counters?.run ?? 0;
  }

  /**
   * Records that `stage` consumed `parents` and emitted `children` (none:
   * filtered). Idempotent. Writes are committed in groups; `flush()` waits
   * until they are durable.
   *
   * Returns false when no child is complete, so a runner need not ask
   * `isCompleted` about each before running it (the common case: children
   * are new); true when some child is complete, or may be because other
   * writers' shards are open.
   */
  recordEmission(record: EmissionRecord): boolean {
    return this.writable('recordEmission').recordEmission(record) || this.shards.length > 1;
  }

  /** Records that `stage` failed on `task`. Returns false (and records nothing) if the task is already complete. */
  recordFailure(record: FailureRecord): boolean {
    return this.writable('recordFailure').recordFailure(record);
  }

  /**
   * True when every task of the source finished. Works in both modes; in
   * `sources` mode it is the only completion there is. `source`: its key, or
   * its root's lineage (`rootLineage(key)`) when the caller has it, which
   * spares hashing the root's path again.
   */
  isSourceCompleted(source: string | Lineage): boolean {
    this.assertOpen('isSourceCompleted');
    const root = typeof source === 'string' ? null : source;
    const sourceKey = root?.sourceKey ?? (source as string);
    if (this.mode === 'dag') {
      const lineage = root ?? rootLineage(sourceKey);
      return this.completed(lineage.udid, isRootLineage(lineage));
    }
    assertCountableKey(sourceKey, this.dir);
    return this.shards.some((s) => s.sourceState.get(sourceKey)?.state === 'done');
  }

  /**
   * True when this writer consumed the source's root in this run (recorded an
   * emission or a failure of it): a second occurrence of its key is a
   * duplicate. Answered from the session's own table of the tasks it touched,
   * so it costs no memory of its own. In source-counter mode: while the source
   * has live tasks.
   */
  consumedInRun(root: Lineage): boolean {
    this.assertOpen('consumedInRun');
    if (this.session) return this.session.completedInSession(root.udid, true) !== undefined;
    return this.counters?.pendingOf(root.sourceKey) !== undefined;
  }

  /** Source-counter mode: every source some writer started, with where it stands (done wins over failed and started). */
  *sourceStates(): Generator<{ sourceKey: string } & SourceState> {
    this.assertOpen('sourceStates');
    const rank = { started: 0, failed: 1, done: 2 } as const;
    const best = new Map<string, SourceState>();
    for (const shard of this.shards) {
      for (const { key, value } of shard.sourceState.getRange()) {
        const had = best.get(key);
        if (!had || rank[value.state] > rank[had.state]) best.set(key, value);
      }
    }
    for (const [sourceKey, state] of best) yield { sourceKey, ...state };
  }

  /**
   * True when recording has run far ahead of the commits; a producer should
   * then `await store.drain()`, which keeps memory bounded on long runs.
   */
  get needsDrain(): boolean {
    return this.session?.needsDrain ?? false;
  }

  /** Waits until the backlog of uncommitted writes has shrunk (see `needsDrain`). */
  async drain(): Promise<void> {
    this.assertOpen('drain');
    await this.session?.drain();
  }

  /** True when the task is complete in any shard (including this writer's uncommitted writes). */
  isCompleted(udid: string): boolean {
    this.assertOpen('isCompleted');
    return this.completed(udid, false);
  }

  /** isCompleted; `root`: the UDID is known to be a root lineage's (isRootLineage). */
  private completed(udid: string, root: boolean): boolean {
    // The session parses (and so checks) the UDID itself: a task it knows needs no second check.
    const inSession = this.session?.completedInSession(udid, root);
    if (inSession === true) return true;
    if (inSession === false && this.shards.length === 1) return false;
    if (inSession === undefined) assertUdid(udid, 'isCompleted');
    // A fresh checkpoint this session alone writes holds no task the session does not know.
    if (inSession === undefined && this.shards.length === 1 && this.session?.soleAuthor()) return false;
    if (this.mode === 'sources') return false; // no per-task records: see isSourceCompleted
    const key = Buffer.from(udid, 'hex');
    // A task the session knows (created here, or loaded from disk) has its own shard's
    // state in memory: only the other shards can add to it. This spares the runner a
    // disk lookup for every child it has just recorded.
    // One it does not know is in its own shard only if another session wrote it: its own unindexed blocks need no scan.
    for (let k = inSession === false ? 1 : 0; k < this.shards.length; k++) {
      const shard = this.shards[k]!;
      const id = shard.idOf(key, k === 0 && this.session !== null);
      if (id !== undefined && shard.completedRun(id) !== undefined) return true;
    }
    return this.unionCompleted !== null && this.unionCompleted.get(key) !== 0;
  }

  /**
   * Recomputes completion across shards (the batch pass over their union);
   * done at open when there are several shards. Call again to see what other
   * writers completed since.
   */
  refreshUnion(): void {
    this.assertOpen('refreshUnion');
    const snapshot = completionOfShards(this.shards);
    const extra = new UdidIndex(1024);
    for (let i = 0; i < snapshot.size; i++) {
      if (snapshot.completed[i] && !snapshot.recorded[i]) extra.add(Buffer.from(snapshot.udidAt(i), 'hex'), 1);
    }
    this.unionCompleted = extra.size > 0 ? extra : null;
  }

  /** True when some shard holds the task (committed writes only). */
  has(udid: string): boolean {
    this.assertOpen('has');
    assertUdid(udid, 'has');
    const key = Buffer.from(udid, 'hex');
    return this.shards.some((s) => s.idOf(key) !== undefined);
  }

  /** Everything recorded about one task across shards, or null. Reads committed writes. */
  get(udid: string): TaskInfo | null {
    this.assertOpen('get');
    assertUdid(udid, 'get');
    const key = Buffer.from(udid, 'hex');
    const parents = new Set<string>();
    const children = new Set<string>();
    let found = false;
    let completed: Completion | null = null;
    let outcome: Outcome | null = null;
    let stage: string | null = null;
    let sourceKey: string | null = null;
    let terminal = false;
    for (const shard of this.shards) {
      const id = shard.idOf(key);
      if (id === undefined) continue;
      found = true;
      for (const p of shard.parentIds(id)) parents.add(udidIn(shard, p));
      for (const c of shard.childIds(id)) children.add(udidIn(shard, c));
      const meta = shard.metaOf(id);
      if (!meta) continue;
      stage ??= shard.stageName(meta.stage);
      sourceKey ??= shard.sourceKeyOf(meta.root) ?? null;
      terminal ||= (meta.flags & FLAG_TERMINAL) !== 0;
      if (meta.completedRun !== 0 && completed === null) {
        const info = shard.run(meta.completedRun);
        completed = { run: meta.completedRun, runStartedAt: info?.startedAt ?? '', writerId: shard.writerId };
      }
      if (completed === null && this.unionCompleted?.get(key)) completed = { run: 0, runStartedAt: '', writerId: '(union of shards)' };
      if (meta.outcome !== 0 && (outcome === null || outcome.kind === 'failed')) {
        outcome = {
          kind: OUTCOME_KINDS[meta.outcome] ?? 'failed',
          stage: shard.stageName(meta.outcomeStage) ?? '',
          ...(meta.error !== undefined ? { error: meta.error } : {}),
        };
      }
    }
    if (!found) return null;
    const taskType: TaskType = TASK_TYPES[(parents.size > 0 ? 2 : 0) | (children.size > 0 ? 1 : 0)]!;
    return { udid, parents: [...parents], children: [...children], taskType, completed, outcome, stage, sourceKey, terminal };
  }

  /** Every ancestor of a task (breadth-first, each once), not the task itself. */
  *ancestors(udid: string): Generator<string> {
    yield* this.walk(udid, 'ancestors', (t) => t.parents);
  }

  /** Every descendant of a task (breadth-first, each once), not the task itself. */
  *descendants(udid: string): Generator<string> {
    yield* this.walk(udid, 'descendants', (t) => t.children);
  }

  /** Streams every task of the checkpoint, each once, without loading the DAG. */
  *tasks(): Generator<TaskInfo> {
    this.assertOpen('tasks');
    if (this.shards.length === 1) {
      yield* scanShard(this.shards[0]!);
      return;
    }
    for (let i = 0; i < this.shards.length; i++) {
      const shard = this.shards[i]!;
      for (const { value } of shard.metaRows()) {
        const bytes = udidOf(value, 0);
        // A task several shards hold is reported by the first that has it.
        if (this.shards.slice(0, i).some((s) => s.idOf(bytes) !== undefined)) continue;
        const info = this.get(bytes.toString('hex'));
        if (info) yield info;
      }
    }
  }

  /** Source tasks (roots) with their source keys, streamed. */
  *sources(): Generator<{ sourceKey: string; udid: string }> {
    this.assertOpen('sources');
    if (this.mode === 'sources') {
      for (const s of this.sourceStates()) yield { sourceKey: s.sourceKey, udid: rootLineage(s.sourceKey).udid };
      return;
    }
    const seen = new Set<string>();
    for (const shard of this.shards) {
      for (const { key, value } of shard.sources.getRange()) {
        if (seen.has(value)) continue;
        seen.add(value);
        const meta = shard.metaOf(key);
        if (!meta) continue;
        shard.checkSource(key, value, meta.udid);
        yield { sourceKey: value, udid: meta.udid.toString('hex') };
      }
    }
  }

  /** Checkpoints of stateful stages recorded in every shard, newest first per stage (DESIGN.md §8). */
  stateCheckpoints(): StageCheckpoints[] {
    this.assertOpen('stateCheckpoints');
    return readStateCheckpoints(this.shards);
  }

  /** @internal The writer's checkpoint log of one stateful stage. */
  stateCheckpointLog(stageId: string): StateCheckpointLog {
    this.writable('stateCheckpointLog');
    if (this.mode !== 'dag') {
      throw new LineageError(ErrorCodes.NOT_ATTRIBUTABLE, `stateCheckpointLog: the checkpoint ${this.dir} is in source-counter mode, which keeps no stateful-stage checkpoints.`);
    }
    return new StateCheckpointLog(this.shards[0]!, stageId);
  }

  /** Updates the manifest (atomically) with `patch`. */
  updateManifest(patch: Partial<Omit<Manifest, 'format' | 'formatVersion' | 'createdAt'>>): Manifest {
    this.writable('updateManifest');
    this.manifestValue = { ...this.manifestValue, ...patch, updatedAt: new Date().toISOString() };
    writeManifest(this.dir, this.manifestValue);
    return this.manifestValue;
  }

  /** Resolves when every write so far is committed and durable on disk. */
  async flush(): Promise<void> {
    this.assertOpen('flush');
    const writer = this.session ?? this.counters;
    if (!writer) return;
    await writer.committed();
    await this.shards[0]!.env.flushed;
  }

  /** Flushes and closes. Further calls fail with LINEAGE_CLOSED. */
  async close(): Promise<void> {
    if (this.closed) return;
    try {
      if (!this.readOnly) {
        // The last `udid` index merge goes out with the final batches, and is flushed with them.
        this.session?.finishIndexing();
        await this.flush();
      }
    } finally {
      await this.session?.close().catch(() => {});
      this.closed = true;
      this.heartbeat?.release();
      await Promise.all(this.shards.map((s) => s.close()));
    }
  }

  /**
   * Calls `listener` once, as soon as a commit of this writer fails (the
   * LineageError: LINEAGE_DISK_FULL, LINEAGE_READ_ONLY, ...). Nothing is
   * recorded after that, so an executor should stop starting work; `flush()`
   * and `close()` reject with the same error. Returns the unsubscribe function.
   */
  onWriteFailure(listener: (err: LineageError) => void): () => void {
    const writer = this.session ?? this.counters;
    if (!writer) return () => {};
    const call = (err: unknown) => listener(err as LineageError);
    writer.onWriteFailure = call;
    return () => {
      if (writer.onWriteFailure === call) writer.onWriteFailure = null;
    };
  }

  /** Emissions recorded by this store since it opened. */
  get emissionCount(): number {
    return this.session?.emissions ?? this.counters?.emissions ?? 0;
  }

  private *walk(udid: string, op: string, next: (t: TaskInfo) => string[]): Generator<string> {
    this.assertOpen(op);
    assertUdid(udid, op);
    const seen = new Set<string>([udid]);
    const start = this.get(udid);
    if (!start) throw unknownTask(udid, this.dir, op);
    let frontier = next(start);
    while (frontier.length > 0) {
      const following: string[] = [];
      for (const u of frontier) {
        if (seen.has(u)) continue;
        seen.add(u);
        yield u;
        const t = this.get(u);
        if (t) following.push(...next(t));
      }
      frontier = following;
    }
  }

  private assertOpen(op: string): void {
    if (this.closed) {
      throw new LineageError(ErrorCodes.CLOSED, `${op}: the checkpoint ${this.dir} is closed. Open it again with LineageStore.open().`);
    }
  }

  private writable(op: string): WriterSession | SourceCounterSession {
    this.assertOpen(op);
    const writer = this.session ?? this.counters;
    if (!writer) {
      throw new LineageError(
        ErrorCodes.READ_ONLY,
        `${op}: the checkpoint ${this.dir} was opened read-only. Open it without { readOnly: true } to record.`,
      );
    }
    return writer;
  }
}

export function unknownTask(udid: string, dir: string, op: string): LineageError {
  return new LineageError(ErrorCodes.UNKNOWN_TASK, `${op}: task ${udid} is not in the checkpoint ${dir}.`);
}

function udidIn(shard: Shard, id: number): string {
  return shard.metaOf(id)?.udid.toString('hex') ?? '';
}

function mapSizeOf(options: OpenOptions): number | undefined {
  const raw = options.mapSize ?? (process.env.LINEAGE_MAP_SIZE ? Number(process.env.LINEAGE_MAP_SIZE) : undefined);
  if (raw === undefined) return undefined;
  if (!Number.isSafeInteger(raw) || raw < 2 ** 26) {
    throw new LineageError(ErrorCodes.INVALID_ARGUMENT, `mapSize ${raw} is not valid: give a byte count of at least 64 MiB (e.g. 68719476736 for 64 GiB).`);
  }
  return raw;
}

function timeoutOf(options: OpenOptions): number {
  const raw = options.timeoutMs ?? (process.env.LINEAGE_OPEN_TIMEOUT_MS ? Number(process.env.LINEAGE_OPEN_TIMEOUT_MS) : 30_000);
  if (!(raw > 0)) throw new LineageError(ErrorCodes.INVALID_ARGUMENT, `timeoutMs ${raw} is not valid: give a positive number of milliseconds.`);
  return raw;
}


/** @internal Throws LINEAGE_INVALID_ARGUMENT unless `id` is a usable writer id. */
export function checkWriterId(id: string): string {
  if (typeof id !== 'string' || !WRITER_ID_RE.test(id)) {
    throw new LineageError(
      ErrorCodes.INVALID_ARGUMENT,
      `writerId ${JSON.stringify(id)} is not valid: use 1-100 letters, digits, ".", "_" or "-", starting with a letter or digit, ` +
        'and keep it stable across retries (for example the array task index), never a pid.',
    );
  }
  return id;
}

/**
 * A writer needs a little room before LMDB maps its lock file: on a full
 * filesystem the first touch of a page of a new lock file kills the process
 * with SIGBUS instead of failing a call, so the run is refused here.
 */
function assertRoomToWrite(shardDir: string): void {
  if (!nearlyFull(shardDir)) return;
  throw new LineageError(
    ErrorCodes.DISK_FULL,
    `${shardDir}: the checkpoint's filesystem is full (less than 1 MiB free), so the run cannot record anything; nothing was changed. ` +
      'Free space on that filesystem, then rerun: completed work is skipped.',
  );
}
