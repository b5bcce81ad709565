/**
 * The checkpoint: a directory with a manifest and one LMDB environment per
 * writer (docs/design.md §3, §7). One store writes its own shard and reads the union
 * of all shards. Public methods validate, then delegate to the shards.
 *
 * @example
 * const store = await LineageStore.open('ckpt');
 * const root = rootLineage('part-0000.jsonl');
 * store.recordEmission({ stage: 'split', parents: [root], children: [childLineage('split', [root.udid], 0)] });
 * await store.close();
 */
import { ErrorCodes, LineageError } from '../errors/lineage-error.js';
import { assertUdid } from '../identity/udid.js';
import { isRootLineage, rootLineage, type Lineage } from '../identity/lineage.js';
import { writeManifest, type Manifest } from './manifest.js';
import { pageScanEnabled } from './lmdb-pages.js';
import { countShardTasks, countTasks, type TaskCounts } from './task-counts.js';
import { writeShardNdjson, type NdjsonSink } from './shard-ndjson.js';
import { openCheckpoint } from './open-checkpoint.js';
import type { OwnerHeartbeat } from './owner-record.js';
import type { Shard } from './shard.js';
import { countedSources, dagSources, sourceStatesOf, unionTasks, walkTasks } from './shard-union.js';
import { taskInfoOf } from './task-info.js';
import { assertFingerprint, fingerprintIn, putFingerprint } from './source-fingerprints.js';
import { outputRows } from './task-outputs.js';
import { writeFailure } from './write-failure.js';
import { UnionCompletion } from './union-completion.js';
import { SourceCounterSession, assertCountableKey } from './source-counters.js';
import { StateCheckpointLog, readStateCheckpoints, type StageCheckpoints } from './state-checkpoint-log.js';
import { scanShard } from './task-scan.js';
import type { EmissionRecord, FailureRecord, OpenOptions, RecordedOutputs, SourceStatus, TaskInfo } from './types.js';
import { WriterSession } from './writer-session.js';

export class LineageStore {
  private closed = false;
  private readonly session: WriterSession | null;
  private readonly counters: SourceCounterSession | null;

  private readonly completion: UnionCompletion;
  /** Fingerprint puts not yet known to be committed: flush() waits for them. */
  private readonly fingerprintPuts = new Set<Promise<unknown>>();
  private fingerprintFailure: LineageError | null = null;

  private constructor(
    readonly dir: string,
    private manifestValue: Manifest,
    /** @internal Every shard of the checkpoint; the writer's own first when writable. */
    readonly shards: readonly Shard[],
    readonly writerId: string | null,
    run: number,
    private readonly heartbeat: OwnerHeartbeat | null,
  ) {
    const sourcesMode = manifestValue.mode === 'sources';
    this.session = writerId !== null && !sourcesMode ? new WriterSession(shards[0]!, run) : null;
    this.counters = writerId !== null && sourcesMode ? new SourceCounterSession(shards[0]!, run) : null;
    this.completion = new UnionCompletion(shards, this.session, sourcesMode);
    if (shards.length > 1 && !sourcesMode) this.completion.refresh();
  }

  /** Opens (and, for a writer, creates) the checkpoint in `dir`. */
  static async open(dir: string, options: OpenOptions = {}): Promise<LineageStore> {
    const { path, manifest, shards, writerId, heartbeat } = await openCheckpoint(dir, options);
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
      return this.completion.isCompleted(lineage.udid, isRootLineage(lineage));
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
  *sourceStates(): Generator<SourceStatus> {
    this.assertOpen('sourceStates');
    yield* sourceStatesOf(this.shards);
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
    return this.completion.isCompleted(udid, false);
  }

  /**
   * Recomputes completion across shards (the batch pass over their union);
   * done at open when there are several shards. Call again to see what other
   * writers completed since.
   */
  refreshUnion(): void {
    this.assertOpen('refreshUnion');
    this.completion.refresh();
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
    return taskInfoOf(this.shards, udid, Buffer.from(udid, 'hex'), this.completion.unionOnly);
  }

  /** Every ancestor of a task (breadth-first, each once), not the task itself. */
  *ancestors(udid: string): Generator<string> {
    yield* walkTasks(this.known(udid, 'ancestors'), (u) => this.get(u), (t) => t.parents);
  }

  /** Every descendant of a task (breadth-first, each once), not the task itself. */
  *descendants(udid: string): Generator<string> {
    yield* walkTasks(this.known(udid, 'descendants'), (u) => this.get(u), (t) => t.children);
  }

  /** Streams every task of the checkpoint, each once, without loading the DAG. */
  *tasks(): Generator<TaskInfo> {
    this.assertOpen('tasks');
    yield* this.shards.length === 1 ? scanShard(this.shards[0]!) : unionTasks(this.shards, (u) => this.get(u));
  }

  /**
   * @internal The tasks by status, type and emitting stage, and the edges
   * (`lineage stats`): one shard from its rows (task-counts.ts), several
   * over the union's task view.
   */
  countTasks(progress: (tasks: number) => void = () => undefined): TaskCounts {
    this.assertOpen('countTasks');
    return this.shards.length === 1 ? countShardTasks(this.shards[0]!, progress) : countTasks(this.tasks(), progress);
  }

  /** Source tasks (roots) with their source keys, streamed. */
  *sources(): Generator<{ sourceKey: string; udid: string }> {
    this.assertOpen('sources');
    yield* this.mode === 'sources' ? countedSources(this.shards) : dagSources(this.shards);
  }

  /**
   * @internal Writes every task as NDJSON straight from the shard's pages
   * (shard-ndjson.ts); the lines `lineage inspect --format ndjson` prints.
   * Returns how many, or null when this checkpoint cannot be read that way
   * (several shards, or the page scan is off): then nothing was written.
   */
  async writeTasksNdjson(sink: NdjsonSink, limit: number): Promise<number | null> {
    this.assertOpen('writeTasksNdjson');
    const shard = this.shards[0];
    if (this.shards.length !== 1 || !shard!.initialized || !pageScanEnabled()) return null;
    return writeShardNdjson(sink, shard!, limit);
  }

  /** The fingerprint recorded for a source's input (this writer's own first), or undefined when none was (docs/design.md §6). */
  sourceFingerprint(sourceKey: string): string | undefined {
    this.assertOpen('sourceFingerprint');
    for (const shard of this.shards) {
      const found = fingerprintIn(shard, sourceKey);
      if (found !== undefined) return found;
    }
    return undefined;
  }

  /** Records the fingerprint of a source's input, replacing this writer's; durable once `flush()` resolves. */
  recordSourceFingerprint(sourceKey: string, fingerprint: string): void {
    this.writable('recordSourceFingerprint');
    rootLineage(sourceKey); // refuses a key that cannot name a source (LINEAGE_INVALID_KEY)
    assertFingerprint(sourceKey, fingerprint, 'recordSourceFingerprint');
    const tracked: Promise<void> = putFingerprint(this.shards[0]!, sourceKey, fingerprint).then(
      () => void this.fingerprintPuts.delete(tracked),
      (err: unknown) => {
        this.fingerprintPuts.delete(tracked);
        this.fingerprintFailure ??= writeFailure(this.dir, err, `recording the fingerprint of source "${sourceKey}"`);
      },
    );
    this.fingerprintPuts.add(tracked);
  }

  /** Every task with recorded outputs (the files the call that consumed it wrote), shard by shard. */
  *recordedOutputs(): Generator<RecordedOutputs> {
    this.assertOpen('recordedOutputs');
    for (const shard of this.shards) yield* outputRows(shard);
  }

  /** Checkpoints of stateful stages recorded in every shard, newest first per stage (docs/design.md §8). */
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
    await Promise.all(this.fingerprintPuts);
    if (this.fingerprintFailure) throw this.fingerprintFailure;
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
    this.assertOpen('onWriteFailure');
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

  private known(udid: string, op: string): TaskInfo {
    this.assertOpen(op);
    assertUdid(udid, op);
    const start = this.get(udid);
    if (!start) throw new LineageError(ErrorCodes.UNKNOWN_TASK, `${op}: task ${udid} is not in the checkpoint ${this.dir}.`);
    return start;
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
