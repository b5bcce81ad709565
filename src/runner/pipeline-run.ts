/**
 * The streaming runner. Tasks flow through the stages; later stages are
 * served first and new sources are admitted only while fewer than
 * `maxInFlight` tasks are alive, so memory is bounded by the work in flight,
 * not by the number of sources. With a checkpoint it skips complete sources,
 * drops complete tasks at every stage boundary before they execute, and
 * records every call through the stage adapter. Stateful stages are fed one
 * input at a time and finish once nothing upstream of them is alive (see
 * stateful-driver.ts).
 *
 * @example
 * const report = await new Pipeline([split, clean, write]).run(sources, { checkpoint: 'ckpt' });
 */
import { errorText } from '../errors/error-text.js';
import { ErrorCodes, LineageError } from '../errors/lineage-error.js';
import { rootLineage } from '../identity/lineage.js';
import type { LineageStore } from '../store/lineage-store.js';
import { checkRunTimeout } from './call-timeout.js';
import { DEFAULT_KEEP_CHECKPOINTS } from '../model/checkpointable.js';
import { decideSet, handover, KeyedGroup, SourceState } from './group-handover.js';
import { openForRun, type OpenedRun } from './open-for-run.js';
import { RunCounters, type RunProgress, type RunReport } from './run-report.js';
import { RunStop } from './run-stop.js';
import { adaptStage, type StageAdapter, type StageCall, type StageTask } from './stage-adapter.js';
import type { Source } from '../model/source.js';
import { isBatchStage, isStatefulStage, type Stage, type TaskContext } from '../model/stage.js';
import { Task } from './task.js';
import { PendingCalls, StallWatch, stalledError } from './stall-watch.js';
import { StatefulDriver, type InputOutcome } from './stateful-driver.js';
import { keepCheckpointsProblem, validateStages } from './validate-stages.js';

export interface RunOptions {
  /** Checkpoint directory (created if missing), or an open writable store. None: nothing is recorded. */
  readonly checkpoint?: string | LineageStore;
  /** This worker's shard (see `LineageStore.open`). Default: `LINEAGE_WRITER_ID`, else "main". */
  readonly writerId?: string;
  /** `dag` (default) or `sources` (per-source counters only), for a new checkpoint. */
  readonly mode?: 'dag' | 'sources';
  /** Calls running at once per stage, unless the stage sets its own. Default 4. */
  readonly concurrency?: number;
  /** Extra tries after a failure, unless the stage sets its own. Default 0. */
  readonly retries?: number;
  /** Time limit (ms) of one stage call, unless the stage sets its own `timeoutMs`. Default: none. */
  readonly timeoutMs?: number;
  /** Tasks alive at once before no new source is admitted. Default 1024. */
  readonly maxInFlight?: number;
  /**
   * The pipeline changed (another stage id, order or version) but its
   * outputs did not: keep the checkpoint's completion and record the
   * decision in the manifest. Without it, completion that depended on the
   * changed stage or a later one is voided first.
   */
  readonly acceptChange?: boolean;
  /** Checkpoints kept per stateful stage, unless the stage sets its own; at least 2. Default 20. */
  readonly keepCheckpoints?: number;
  /**
   * Stop on SIGINT/SIGTERM while the run runs: no new source or stage call is
   * started, the calls in flight settle and are recorded, and the checkpoint
   * is committed. A second signal exits at once (130/143). After the stop, a
   * process with no listener of its own for the signal prints one line (what
   * was saved, how to resume) and exits 130/143; one that listens itself gets
   * the rejection (`LINEAGE_INTERRUPTED`) and decides. False: no handlers.
   * Default true.
   */
  readonly handleSignals?: boolean;
  /** Aborting it stops the run the same graceful way; `run` then rejects with `LINEAGE_INTERRUPTED` (the reason as `cause`). */
  readonly signal?: AbortSignal;
  readonly onProgress?: (progress: RunProgress) => void;
  /** Milliseconds between `onProgress` calls. Default 1000. */
  readonly progressIntervalMs?: number;
}

export type { RunProgress, RunReport, StageReport } from './run-report.js';

const DEFAULT_CONCURRENCY = 4;
const DEFAULT_MAX_IN_FLIGHT = 1024;
/**
 * Longest stretch (ms) without giving the event loop a turn. Synchronous
 * stages and already-resolved promises can chain forever in microtasks;
 * lmdb-js commits, timers and signals need macrotask turns.
 */
const YIELD_MS = 20;

export class Pipeline {
  readonly stages: readonly Stage[];

  constructor(stages: readonly Stage[]) {
    validateStages(stages);
    this.stages = [...stages];
  }

  /**
   * Runs every source through the stages; resolves to the report (failed
   * tasks are in it, not thrown). A failed commit of the checkpoint stops
   * the run at once (it rejects with that error once the calls in flight
   * settled); so do SIGINT/SIGTERM and `signal` (see `RunOptions.handleSignals`).
   */
  async run(sources: Iterable<Source> | AsyncIterable<Source>, options: RunOptions = {}): Promise<RunReport> {
    const started = performance.now();
    const keep = options.keepCheckpoints === undefined ? null : keepCheckpointsProblem(options.keepCheckpoints);
    if (keep) throw new LineageError(ErrorCodes.INVALID_ARGUMENT, `Pipeline.run: the option ${keep}`);
    checkRunTimeout(options.timeoutMs);
    const stop = new RunStop(options);
    let opened: OpenedRun | null;
    try {
      opened = options.checkpoint === undefined ? null : await openForRun(this.stages, options.checkpoint, options);
    } catch (err) {
      stop.dispose();
      throw err;
    }
    const store = opened?.store ?? null;
    let failure: unknown;
    let counters: RunCounters | undefined;
    let unsubscribe: (() => void) | undefined;
    try {
      const run = new PipelineRun(this.stages, store, options, started);
      counters = run.counters;
      unsubscribe = store?.onWriteFailure((err) => run.stop(err));
      stop.whenRequested((reason) => run.stop(reason));
      await run.execute(sources, opened?.voidedCheckpoints ?? new Map());
    } catch (err) {
      failure = err;
    }
    unsubscribe?.();
    // A stop request commits what finished; a failed commit then matters more than the stop.
    const stopped = stop.reason !== null && (failure === undefined || failure === stop.reason);
    if (opened?.owned) {
      try {
        await opened.store.close();
      } catch (err) {
        failure = stopped ? err : (failure ?? err);
      }
    } else if (store && (failure === undefined || stopped)) {
      try {
        await store.flush();
      } catch (err) {
        failure = err;
      }
    }
    if (stopped && (failure === undefined || failure === stop.reason)) {
      const r = counters!.report(store, opened?.dir ?? null, performance.now() - started);
      const calls = r.stages.reduce((n, st) => n + st.calls, 0);
      throw stop.conclude({ checkpoint: r.checkpoint, calls, sourcesRead: r.sources.read, sourcesSkipped: r.sources.skipped });
    }
    stop.dispose();
    if (failure !== undefined) throw failure;
    return counters!.report(store, opened?.dir ?? null, performance.now() - started);
  }
}

interface Group {
  readonly tasks: StageTask[];
  readonly key: string | null;
}

/** @internal One run of a pipeline: queues, counters and the scheduling loop. */
class PipelineRun {
  readonly counters: RunCounters;
  private readonly n: number;
  private readonly adapters: StageAdapter[];
  private readonly limit: Int32Array;
  private readonly active: Int32Array;
  private readonly queues: StageTask[][];
  private readonly heads: Int32Array;
  /** Closed groups and arrival batches waiting for a call. */
  private readonly ready: Group[][];
  private readonly keyed: (((input: unknown, ctx: TaskContext) => string) | null)[];
  private readonly batchSize: Int32Array;
  private readonly perSource = new Map<string, SourceState>();
  /** Tasks alive at each stage, all sources together. */
  private readonly aliveAt: Int32Array;
  /** Per stage: the driver of a stateful stage, else null. */
  private readonly drivers: (StatefulDriver | null)[];
  /** Lowest stage at which any task failed (n: none); a stateful stage after it holds `finish` back. */
  private firstFailure: number;
  /** Lowest stage a task was pruned before entering (n: none): an input of a stateful stage after it may be missing. */
  private firstPrune: number;
  /** Per stage: some task that entered it may be complete (for a stateful stage's decision over its inputs). */
  private readonly mayBeCompleteAt: Uint8Array;
  private readonly maxInFlight: number;
  private inFlight = 0;
  private activeCalls = 0;
  private iterator: Iterator<Source> | AsyncIterator<Source> | null = null;
  private sync = true;
  private reading = false;
  private sourcesDone = false;
  private draining = false;
  private paused = false;
  private lastYield = performance.now();
  private pumping = false;
  private again = false;
  private fatal: { error: unknown } | null = null;
  /** The checkpoint's answer whether a task is complete (null: no checkpoint); made once, not per question. */
  private readonly isCompleted: ((udid: string) => boolean) | null;
  /** Calls waiting on a promise: what a stall names. */
  private readonly pendingCalls = new PendingCalls();
  private finish!: () => void;
  private fail!: (err: unknown) => void;
  private started = false;

  constructor(
    private readonly stages: readonly Stage[],
    private readonly store: LineageStore | null,
    options: RunOptions,
    started: number,
  ) {
    this.n = stages.length;
    this.isCompleted = store === null ? null : (udid) => store.isCompleted(udid);
    this.counters = new RunCounters(stages, started, options);
    this.adapters = stages.map((s, i) =>
      adaptStage(s, {
        recorder: store,
        terminal: i === stages.length - 1,
        retries: options.retries ?? 0,
        ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
      }),
    );
    this.limit = Int32Array.from(stages, (s) => Math.max(1, s.concurrency ?? options.concurrency ?? DEFAULT_CONCURRENCY));
    this.active = new Int32Array(this.n);
    this.queues = stages.map(() => []);
    this.heads = new Int32Array(this.n);
    this.ready = stages.map(() => []);
    this.keyed = stages.map((s) => {
      if (!isBatchStage(s) || s.groupBy === undefined) return null;
      return s.groupBy === 'source' ? () => '' : s.groupBy;
    });
    this.batchSize = Int32Array.from(stages, (s) => (isBatchStage(s) && s.groupBy === undefined ? Math.max(1, s.batchSize ?? 1) : 0));
    this.maxInFlight = Math.max(1, options.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT);
    this.aliveAt = new Int32Array(this.n);
    this.firstFailure = this.n;
    this.firstPrune = this.n;
    this.mayBeCompleteAt = new Uint8Array(this.n);
    this.drivers = stages.map((s, i) =>
      isStatefulStage(s)
        ? new StatefulDriver(s, store, s.keepCheckpoints ?? options.keepCheckpoints ?? DEFAULT_KEEP_CHECKPOINTS, this.counters.states[i]!, s.timeoutMs ?? options.timeoutMs ?? 0)
        : null,
    );
  }

  async execute(sources: Iterable<Source> | AsyncIterable<Source>, voided: ReadonlyMap<string, readonly number[]>): Promise<void> {
    for (const d of this.drivers) if (d) await d.restore(voided.get(d.stage.id) ?? []);
    const it = sources as Partial<Iterable<Source> & AsyncIterable<Source>>;
    const syncIt = it[Symbol.iterator];
    const asyncIt = it[Symbol.asyncIterator];
    if (typeof syncIt === 'function') this.iterator = syncIt.call(sources);
    else if (typeof asyncIt === 'function') {
      this.iterator = asyncIt.call(sources);
      this.sync = false;
    } else {
      throw new LineageError(ErrorCodes.INVALID_ARGUMENT, 'Pipeline.run: sources must be an iterable or async iterable of { key, data }.');
    }
    const watch = new StallWatch(
      () => stalledError(this.pendingCalls.describe(this.stages, this.reading, this.draining), this.pendingCalls.size),
      (err) => {
        this.pendingCalls.recordStalled(this.stages, this.store);
        this.abort(err);
        this.fail(err);
      },
    );
    watch.install();
    return new Promise<void>((resolve, reject) => {
      this.finish = resolve;
      this.fail = reject;
      this.started = true;
      this.counters.startProgress();
      this.pump();
    }).finally(() => {
      watch.remove();
      this.counters.stopProgress();
    });
  }

  /** The scheduling loop: serve later stages first, then admit sources; re-entered after every async completion. */
  private pump(): void {
    if (this.paused) return;
    if (this.pumping) {
      this.again = true;
      return;
    }
    if (performance.now() - this.lastYield > YIELD_MS) {
      this.paused = true;
      setImmediate(() => {
        this.paused = false;
        this.lastYield = performance.now();
        this.pump();
      });
      return;
    }
    this.pumping = true;
    try {
      do {
        this.again = false;
        if (this.fatal) break;
        if (performance.now() - this.lastYield > YIELD_MS) {
          this.pumping = false;
          this.pump(); // pauses for a turn, then resumes here
          return;
        }
        let started = false;
        for (let i = this.n - 1; i >= 0; i--) started = this.dispatch(i) || started;
        if (this.fatal) break;
        if (this.concludeStateful()) started = true;
        if (started) this.again = true;
        if (this.admit()) this.again = true;
        // A partial batch goes out only when nothing upstream can still add to it: no call
        // started in this pass (every plain queue is empty) and none is running.
        else if (!started && this.activeCalls === 0 && !this.reading && !this.draining && this.flushPartialBatch()) this.again = true;
      } while (this.again);
    } catch (err) {
      this.abort(err);
    } finally {
      this.pumping = false;
    }
    this.maybeFinish();
  }

  /**
   * Stops the run (a failed commit, a signal): nothing new is admitted or
   * called from now on; once the calls in flight settle, the run rejects
   * with `reason`. A source being read is not waited for.
   */
  stop(reason: unknown): void {
    this.abort(reason);
    if (this.started) this.pump();
  }

  private maybeFinish(): void {
    if (this.activeCalls > 0 || (this.reading && !this.fatal) || this.draining || this.paused) return;
    if (this.fatal) {
      this.fail(this.fatal.error);
      return;
    }
    if (this.sourcesDone && this.inFlight === 0 && this.drivers.every((d) => d === null || d.done)) this.finish();
  }

  private abort(err: unknown): void {
    this.fatal ??= { error: err };
  }

  /** Starts calls of stage i while it has work and free slots; true if it started any. */
  private dispatch(i: number): boolean {
    const driver = this.drivers[i];
    if (driver) return this.feed(i, driver);
    const ready = this.ready[i]!;
    let started = false;
    while (this.active[i]! < this.limit[i]! && !this.fatal) {
      let group: Group | undefined;
      if (ready.length > 0) group = ready.shift();
      else if (this.batchSize[i]! > 1) {
        if (this.queued(i) < this.batchSize[i]!) break;
        group = { tasks: this.take(i, this.batchSize[i]!), key: null };
      } else if (this.queued(i) > 0) group = { tasks: this.take(i, 1), key: null };
      else break;
      this.call(i, group!);
      started = true;
    }
    return started;
  }

  private call(i: number, group: Group): void {
    this.active[i]!++;
    this.activeCalls++;
    let result: StageCall | Promise<StageCall>;
    try {
      result = this.adapters[i]!.invoke(group.tasks, group.key);
    } catch (err) {
      this.active[i]!--;
      this.activeCalls--;
      this.abort(err);
      return;
    }
    if (result instanceof Promise) {
      this.pendingCalls.set(group.tasks, i);
      this.resumeAfter(
        result,
        () => {
          this.pendingCalls.delete(group.tasks);
          this.active[i]!--;
          this.activeCalls--;
        },
        (r) => this.settled(i, group.tasks, r),
      );
      return;
    }
    this.active[i]!--;
    this.activeCalls--;
    this.settled(i, group.tasks, result);
  }

  /** Feeds a stateful stage its queued inputs, one at a time; true if it fed any. */
  private feed(i: number, driver: StatefulDriver): boolean {
    let fed = false;
    while (!driver.busy && !driver.done && this.queued(i) > 0 && !this.fatal) {
      const task = this.take(i, 1)[0]!;
      fed = true;
      const outcome = driver.absorb(task);
      if (!(outcome instanceof Promise)) {
        this.absorbed(i, task, outcome);
        continue;
      }
      driver.busy = true;
      this.activeCalls++;
      this.pendingCalls.set(task, i);
      this.resumeAfter(
        outcome,
        () => {
          this.pendingCalls.delete(task);
          driver.busy = false;
          this.activeCalls--;
        },
        (o) => this.absorbed(i, task, o),
      );
    }
    return fed;
  }

  private absorbed(i: number, task: StageTask, outcome: InputOutcome): void {
    if (outcome !== 'duplicate') this.counters.input(i, task, outcome);
    if (typeof outcome === 'object') {
      this.firstFailure = Math.min(this.firstFailure, i);
      const s = this.perSource.get(task.lineage.sourceKey)!;
      s.failedAt = Math.min(s.failedAt, i);
    }
    this.leave(i, task);
  }

  /**
   * Starts the `finish` of the first stateful stage that is still open, once
   * no more input can reach it: every source read, nothing alive at or
   * before it. Later stateful stages wait for it. True if it started one.
   */
  private concludeStateful(): boolean {
    if (!this.sourcesDone || this.reading) return false;
    let upstream = 0;
    for (let k = 0; k < this.n; k++) {
      upstream += this.aliveAt[k]!;
      const driver = this.drivers[k];
      if (!driver || driver.done) continue;
      if (driver.busy || upstream > 0) return false;
      this.conclude(k, driver);
      return true;
    }
    return false;
  }

  private conclude(k: number, driver: StatefulDriver): void {
    driver.busy = true;
    this.activeCalls++;
    const heldBack = this.firstFailure <= k;
    const run = async () => {
      const inputs = await driver.conclude(heldBack);
      if (inputs === null) {
        if (heldBack) this.counters.held(k, this.counters.states[k]!.absorbed + this.counters.states[k]!.restored);
        driver.done = true;
        return;
      }
      const verdict = decideSet(inputs, this.mayBeCompleteAt[k] === 1, this.firstPrune < k, this.isCompleted);
      if (verdict !== 'run') {
        // Complete: another writer (or an earlier run) finished over all of them. Held: an input may be missing.
        if (verdict === 'hold') {
          this.counters.held(k, inputs.length);
          return;
        }
        for (let t = 0; t < inputs.length; t++) this.counters.pruned(k);
        await driver.alreadyComplete();
        return;
      }
      this.pendingCalls.set(inputs, k, true);
      const r = await this.adapters[k]!.invoke(inputs);
      this.pendingCalls.delete(inputs);
      this.counters.finish(k, inputs, r);
      driver.done = true;
      if (r.kind === 'failed') {
        this.firstFailure = Math.min(this.firstFailure, k);
        return;
      }
      this.emitFinished(k, r);
      await driver.finished();
    };
    run()
      .catch((err: unknown) => this.abort(err))
      .finally(() => {
        driver.done = true;
        driver.busy = false;
        this.activeCalls--;
        this.pump();
      });
  }

  /** A stateful stage's children enter the next stage; groups waiting downstream for their source may close. */
  private emitFinished(k: number, r: StageCall): void {
    if (r.kind !== 'children' || k + 1 >= this.n) return;
    const sources = new Set<string>();
    for (const child of r.children) {
      this.passOn(k + 1, child, r.completeChildren);
      if (this.perSource.has(child.lineage.sourceKey)) sources.add(child.lineage.sourceKey);
    }
    for (const key of sources) this.release(key, this.perSource.get(key)!, k);
  }

  /** A call of stage i on `tasks` finished: pass the children on, then retire the inputs. */
  private settled(i: number, tasks: readonly StageTask[], r: StageCall): void {
    this.counters.call(i, tasks, r);
    if (r.kind === 'failed') {
      this.firstFailure = Math.min(this.firstFailure, i);
      for (const t of tasks) {
        const s = this.perSource.get(t.lineage.sourceKey)!;
        s.failedAt = Math.min(s.failedAt, i);
      }
    }
    if (r.kind === 'children' && i + 1 < this.n) for (const child of r.children) this.passOn(i + 1, child, r.completeChildren);
    for (const t of tasks) this.leave(i, t);
  }

  /**
   * A child enters stage i, unless the checkpoint has it complete (`mayBeComplete`:
   * the recorder did not rule that out). A member of a keyed group is never
   * pruned on its own, nor an input of a stateful stage: the set is decided
   * whole when it is handed over (group-handover.ts).
   */
  private passOn(i: number, child: StageTask, mayBeComplete: boolean): void {
    const ask = this.store !== null && mayBeComplete;
    if (ask && this.keyed[i] === null && this.drivers[i] === null && this.store!.isCompleted(child.lineage.udid)) {
      this.counters.pruned(i);
      this.firstPrune = Math.min(this.firstPrune, i);
      const s = this.perSource.get(child.lineage.sourceKey);
      if (s) s.prunedAt = Math.min(s.prunedAt, i);
      return;
    }
    if (ask) this.mayBeCompleteAt[i] = 1;
    this.enter(i, child, ask);
  }

  /** A task reaches stage i: queued, or held in its source's group when the stage groups by key. */
  private enter(i: number, task: StageTask, mayBeComplete = false): void {
    const key = task.lineage.sourceKey;
    let s = this.perSource.get(key);
    if (!s) {
      s = new SourceState(this.n);
      this.perSource.set(key, s);
    }
    const groupOf = this.keyed[i];
    const g = groupOf ? this.groupKey(i, groupOf, task) : null;
    if (groupOf && g === null) {
      // It never joins its group, so that group (and any later one of the source) would be
      // short: counted as a failure just before stage i, which holds them back.
      s.failedAt = Math.min(s.failedAt, i - 1);
      this.firstFailure = Math.min(this.firstFailure, i);
      if (s.total === 0) this.perSource.delete(key);
      return;
    }
    s.alive[i]!++;
    s.total++;
    this.inFlight++;
    this.aliveAt[i]!++;
    if (g !== null) {
      s.groups ??= new Map();
      let byKey = s.groups.get(i);
      if (!byKey) s.groups.set(i, (byKey = new Map()));
      let group = byKey.get(g);
      if (!group) byKey.set(g, (group = new KeyedGroup()));
      group.tasks.push(task);
      if (mayBeComplete) group.mayBeComplete = true;
      return;
    }
    this.queues[i]!.push(task);
  }

  /** The task's group at stage i; null when `groupBy` threw or gave no string: the task is then recorded failed. */
  private groupKey(i: number, groupOf: (input: unknown, ctx: TaskContext) => string, task: StageTask): string | null {
    const stage = this.stages[i]!.id;
    let g: unknown;
    let error: string;
    try {
      g = groupOf(task.data, { stage, udid: task.lineage.udid, sourceKey: task.lineage.sourceKey, lineage: task.lineage, attempt: 0 });
      if (typeof g === 'string') return g;
      error = `groupBy returned ${describeValue(g)} for this task; it must return a string.`;
    } catch (err) {
      error = `groupBy threw: ${errorText(err)}`;
    }
    this.store?.recordFailure({ stage, task: task.lineage, error });
    this.counters.entryFailed(i, task, error);
    return null;
  }

  /** A source's root at a `groupBy` stage 0 is a group of one: nothing upstream can join it. */
  private enterRoot(task: StageTask): void {
    this.enter(0, task);
    const s = this.keyed[0] ? this.perSource.get(task.lineage.sourceKey) : undefined;
    const groups = s?.groups?.get(0);
    if (groups) {
      for (const [g, group] of groups) this.ready[0]!.push({ tasks: group.tasks, key: g });
      s!.groups!.delete(0);
    }
  }

  /** A task of stage i is done with (emitted, filtered, failed, absorbed): close groups it was holding open. */
  private leave(i: number, task: StageTask): void {
    const key = task.lineage.sourceKey;
    const s = this.perSource.get(key)!;
    s.alive[i]!--;
    s.total--;
    this.inFlight--;
    this.aliveAt[i]!--;
    this.release(key, s, i);
  }

  /**
   * Hands over the source's groups after stage i that nothing upstream can
   * still add to (each run, pruned or held back whole: see group-handover.ts);
   * forgets the source when nothing of it is alive.
   */
  private release(key: string, s: SourceState, i: number): void {
    if (s.groups) {
      let upstream = 0;
      let retired: { f: number; tasks: StageTask[]; verdict: 'prune' | 'hold' }[] | null = null;
      for (let f = 0; f < this.n; f++) {
        const byKey = f > i ? s.groups.get(f) : undefined;
        if (byKey && upstream === 0) {
          s.groups.delete(f);
          // A fixed order, whatever the arrival order: groups by key, tasks by UDID.
          for (const g of [...byKey.keys()].sort()) {
            const group = byKey.get(g)!;
            const verdict = handover(group, f, s, this.isCompleted);
            if (verdict === 'run') {
              const members = group.tasks.sort((a, b) => (a.lineage.udid < b.lineage.udid ? -1 : 1));
              this.ready[f]!.push({ tasks: members, key: g });
              continue;
            }
            // Held: a member failed upstream, or may be missing, and merging the rest would emit an
            // output an uninterrupted run never makes; a rerun redoes it whole. Pruned: it is complete.
            (retired ??= []).push({ f, tasks: group.tasks, verdict });
            if (verdict === 'prune') {
              s.prunedAt = Math.min(s.prunedAt, f);
              this.firstPrune = Math.min(this.firstPrune, f);
            }
          }
        }
        upstream += s.alive[f]!;
      }
      if (s.groups.size === 0) s.groups = null;
      if (retired) {
        for (const { f, tasks, verdict } of retired) {
          if (verdict === 'hold') this.counters.held(f, tasks.length);
          else for (let k = 0; k < tasks.length; k++) this.counters.pruned(f);
          for (const t of tasks) this.leave(f, t);
        }
        return;
      }
    }
    if (s.total === 0) this.perSource.delete(key);
  }

  private queued(i: number): number {
    return this.queues[i]!.length - this.heads[i]!;
  }

  private take(i: number, count: number): StageTask[] {
    const q = this.queues[i]!;
    const head = this.heads[i]!;
    const end = Math.min(q.length, head + count);
    const out = q.slice(head, end);
    if (end === q.length) {
      q.length = 0;
      this.heads[i] = 0;
    } else if (end > 4096 && end * 2 > q.length) {
      q.splice(0, end);
      this.heads[i] = 0;
    } else this.heads[i] = end;
    return out;
  }

  /** Nothing else can run: hand an arrival-order stage its last, partial batch. */
  private flushPartialBatch(): boolean {
    if (!this.sourcesDone && this.inFlight < this.maxInFlight) return false;
    for (let i = 0; i < this.n; i++) {
      const q = this.queued(i);
      if (this.batchSize[i]! > 1 && q > 0 && q < this.batchSize[i]!) {
        this.ready[i]!.push({ tasks: this.take(i, q), key: null });
        return true;
      }
    }
    return false;
  }

  /** Admits sources while there is room; true if it admitted any. */
  private admit(): boolean {
    let admitted = false;
    while (!this.sourcesDone && !this.reading && !this.draining && !this.fatal && this.inFlight < this.maxInFlight) {
      if (this.store?.needsDrain) {
        this.waitFor('draining', this.store.drain());
        return admitted;
      }
      const next = this.iterator!.next();
      if (this.sync) {
        this.accept(next as IteratorResult<Source>);
        admitted = true;
        continue;
      }
      this.waitFor('reading', next as Promise<IteratorResult<Source>>, (r) => this.accept(r));
      return admitted;
    }
    return admitted;
  }

  /** Holds the loop (`flag` set) until `promise` settles, then resumes it. */
  private waitFor<T>(flag: 'reading' | 'draining', promise: Promise<T>, use?: (value: T) => void): void {
    this[flag] = true;
    this.resumeAfter(promise, () => (this[flag] = false), use);
  }

  /**
   * When `promise` settles: `release` what it held (a call slot, a flag), hand
   * the value to `use`, and re-enter the loop; a rejection or a throw from
   * `use` aborts the run.
   */
  private resumeAfter<T>(promise: Promise<T>, release: () => void, use?: (value: T) => void): void {
    promise.then(
      (value) => {
        release();
        try {
          use?.(value);
        } catch (err) {
          this.abort(err);
        }
        this.pump();
      },
      (err: unknown) => {
        release();
        this.abort(err);
        this.pump();
      },
    );
  }


  private accept(r: IteratorResult<Source>): void {
    if (this.fatal) return; // the run is stopping: a source read meanwhile is not started
    if (r.done) {
      this.sourcesDone = true;
      return;
    }
    const source = r.value;
    if (source === null || typeof source !== 'object' || typeof source.key !== 'string' || source.key.length === 0) {
      throw new LineageError(
        ErrorCodes.INVALID_ARGUMENT,
        `Pipeline.run: source #${this.counters.sourcesRead + 1} has no key (got ${JSON.stringify(source)?.slice(0, 80)}); ` +
          'every source needs a stable, non-empty key such as its file path.',
      );
    }
    this.counters.sourcesRead++;
    const lineage = rootLineage(source.key);
    // Its key was given before in this run: run again, it would double its outputs (a keyed group
    // would hold every member twice). Known from the tasks alive now and from the store's session,
    // so no key is remembered once its source is done.
    if (this.perSource.has(source.key) || (this.store !== null && this.store.consumedInRun(lineage))) {
      this.counters.duplicate(source.key);
      return;
    }
    if (this.store !== null && this.store.isSourceCompleted(lineage)) {
      this.counters.sourcesSkipped++;
      return;
    }
    this.enterRoot(new Task(source.data, lineage));
  }
}

/** A value as a user would recognise it in a message, whatever it is. */
function describeValue(value: unknown): string {
  if (typeof value === 'symbol' || typeof value === 'function' || typeof value === 'bigint') return String(value);
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return `a ${typeof value}`;
  }
}
