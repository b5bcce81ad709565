/**
 * @internal
 * One run of a pipeline: the scheduling loop. Later stages are served first,
 * then sources are admitted while fewer than `maxInFlight` tasks are alive.
 * Stateful stages are fed one input at a time and finish once nothing
 * upstream of them is alive (stateful-driver.ts). Where tasks enter and
 * leave stages, and are pruned, is stage-boundary.ts; what waits for a call
 * is stage-queues.ts.
 */
import { DEFAULT_KEEP_CHECKPOINTS } from '../model/checkpointable.js';
import type { Source } from '../model/source.js';
import { isStatefulStage, type Stage } from '../model/stage.js';
import type { LineageStore } from '../store/lineage-store.js';
import { decideSet } from './group-handover.js';
import { RunCounters } from './run-report.js';
import { DEFAULT_CONCURRENCY, DEFAULT_MAX_IN_FLIGHT, type RunOptions } from './run-options.js';
import { adaptStage, type StageAdapter, type StageCall, type StageTask } from './stage-adapter.js';
import { StageBoundary } from './stage-boundary.js';
import { checkSource, sourceIterator } from './source-iterator.js';
import { StageQueues, type Group } from './stage-queues.js';
import { PendingCalls, StallWatch, stalledError } from './stall-watch.js';
import { StatefulDriver, type InputOutcome } from './stateful-driver.js';

/**
 * Longest stretch (ms) without giving the event loop a turn. Synchronous
 * stages and already-resolved promises can chain forever in microtasks;
 * lmdb-js commits, timers and signals need macrotask turns.
 */
const YIELD_MS = 20;

export class PipelineRun {
  readonly counters: RunCounters;
  private readonly n: number;
  private readonly adapters: StageAdapter[];
  private readonly limit: Int32Array;
  private readonly active: Int32Array;
  private readonly queues: StageQueues;
  private readonly boundary: StageBoundary;
  /** Per stage: the driver of a stateful stage, else null. */
  private readonly drivers: (StatefulDriver | null)[];
  private readonly maxInFlight: number;
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
    this.maxInFlight = Math.max(1, options.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT);
    this.drivers = stages.map((s, i) =>
      isStatefulStage(s)
        ? new StatefulDriver(s, store, s.keepCheckpoints ?? options.keepCheckpoints ?? DEFAULT_KEEP_CHECKPOINTS, this.counters.states[i]!, s.timeoutMs ?? options.timeoutMs ?? 0)
        : null,
    );
    this.queues = new StageQueues(stages);
    this.boundary = new StageBoundary(stages, store, this.counters, this.queues, this.drivers);
  }

  /** Sources whose input changed since they were recorded: held back from this pass. */
  get changedSources(): readonly { source: Source; recorded: string }[] {
    return this.boundary.changed;
  }

  async execute(sources: Iterable<Source> | AsyncIterable<Source>, voided: ReadonlyMap<string, readonly number[]>): Promise<void> {
    for (const d of this.drivers) if (d) await d.restore(voided.get(d.stage.id) ?? []);
    const opened = sourceIterator(sources);
    this.iterator = opened.iterator;
    this.sync = opened.sync;
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
    if (this.sourcesDone && this.boundary.inFlight === 0 && this.drivers.every((d) => d === null || d.done)) this.finish();
  }

  private abort(err: unknown): void {
    this.fatal ??= { error: err };
  }

  /** Starts calls of stage i while it has work and free slots; true if it started any. */
  private dispatch(i: number): boolean {
    const driver = this.drivers[i];
    if (driver) return this.feed(i, driver);
    let started = false;
    while (this.active[i]! < this.limit[i]! && !this.fatal) {
      const group = this.queues.next(i);
      if (group === undefined) break;
      this.call(i, group);
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
    while (!driver.busy && !driver.done && this.queues.queued(i) > 0 && !this.fatal) {
      const task = this.queues.take(i, 1)[0]!;
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
    if (typeof outcome === 'object') this.boundary.failed(i, task);
    this.boundary.leave(i, task);
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
      upstream += this.boundary.aliveAt[k]!;
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
    const heldBack = this.boundary.firstFailure <= k;
    const run = async () => {
      const inputs = await driver.conclude(heldBack);
      if (inputs === null) {
        if (heldBack) this.counters.held(k, this.counters.states[k]!.absorbed + this.counters.states[k]!.restored);
        driver.done = true;
        return;
      }
      const verdict = decideSet(inputs, this.boundary.mayBeCompleteAt[k] === 1, this.boundary.firstPrune < k, this.boundary.isCompleted);
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
        this.boundary.firstFailure = Math.min(this.boundary.firstFailure, k);
        return;
      }
      this.boundary.passOnFinished(k, r);
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

  /** A call of stage i on `tasks` finished: pass the children on, then retire the inputs. */
  private settled(i: number, tasks: readonly StageTask[], r: StageCall): void {
    this.counters.call(i, tasks, r);
    if (r.kind === 'failed') for (const t of tasks) this.boundary.failed(i, t);
    if (r.kind === 'children' && i + 1 < this.n) for (const child of r.children) this.boundary.passOn(i + 1, child, r.completeChildren);
    for (const t of tasks) this.boundary.leave(i, t);
  }

  /** Nothing else can run: hand an arrival-order stage its last, partial batch. */
  private flushPartialBatch(): boolean {
    if (!this.sourcesDone && this.boundary.inFlight < this.maxInFlight) return false;
    return this.queues.flushPartialBatch();
  }

  /** Admits sources while there is room; true if it admitted any. */
  private admit(): boolean {
    let admitted = false;
    while (!this.sourcesDone && !this.reading && !this.draining && !this.fatal && this.boundary.inFlight < this.maxInFlight) {
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
    checkSource(source, this.counters.sourcesRead + 1);
    this.counters.sourcesRead++;
    this.boundary.admit(source);
  }
}
