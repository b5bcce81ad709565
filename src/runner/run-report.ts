/**
 * What a run did: per stage, tasks processed / emitted / filtered / failed /
 * pruned and calls made; sources read and skipped; the first failures. Also
 * the periodic progress callback.
 */
import type { LineageStore } from '../store/lineage-store.js';
import type { StageCall, StageTask } from './stage-adapter.js';
import { isStatefulStage, type Stage } from '../model/stage.js';

export interface StageReport {
  readonly stage: string;
  /** Tasks the stage consumed (filtered and failed ones included). */
  readonly processed: number;
  /** Children it emitted. */
  readonly emitted: number;
  /** Tasks it consumed and emitted nothing for. */
  readonly filtered: number;
  /** Tasks it failed on, after retries. */
  readonly failed: number;
  /** Tasks dropped before this stage because the checkpoint had them complete. */
  readonly pruned: number;
  /** Calls of `process`/`processBatch` (retries not counted). */
  readonly calls: number;
  /**
   * Tasks of `groupBy` groups not merged because a task of their source failed
   * upstream; for a stateful stage, inputs whose `finish` was held back because
   * an input failed (upstream or in `absorb`).
   */
  readonly held: number;
  /** Stateful stages only: how the state was restored, fed and checkpointed. */
  readonly state?: StateReport;
}

export interface StateReport {
  /** The checkpoint the stage restored at the start (null: it started empty). */
  readonly restoredFrom: number | null;
  /** Inputs that reached the stage but were inside the restored checkpoint's frontier, so were not absorbed again. */
  readonly restored: number;
  /** Inputs fed to `absorb` in this run (failed ones not counted). */
  readonly absorbed: number;
  /** Checkpoints recorded in this run. */
  readonly checkpoints: number;
  /** `finish` ran and its result was recorded. */
  readonly finished: boolean;
  /** The first failures of `saveCheckpoint` (that checkpoint was not recorded) and `checkpointExpired`. */
  readonly errors: string[];
}

/** @internal The mutable form of a StateReport, updated by the stateful stage's driver. */
export class StateCounters {
  restoredFrom: number | null = null;
  restored = 0;
  absorbed = 0;
  checkpoints = 0;
  finished = false;
  readonly errors: string[] = [];

  error(text: string): void {
    if (this.errors.length < MAX_STATE_ERRORS) this.errors.push(text);
  }

  report(): StateReport {
    const { restoredFrom, restored, absorbed, checkpoints, finished } = this;
    return { restoredFrom, restored, absorbed, checkpoints, finished, errors: [...this.errors] };
  }
}

export interface TaskFailure {
  readonly stage: string;
  readonly udid: string;
  readonly sourceKey: string;
  readonly error: string;
}

export interface RunReport {
  /** Checkpoint directory, or null for a run without one. */
  readonly checkpoint: string | null;
  /** This writer's run number in the checkpoint (0 without one). */
  readonly run: number;
  readonly elapsedMs: number;
  readonly sources: { readonly read: number; readonly skipped: number };
  /** Sources whose input changed (another fingerprint than the recorded one): what they recorded was voided and they ran again. */
  readonly inputsChanged: number;
  /** Tasks whose recorded output was gone at the start: voided with what they led to, and consumed again. */
  readonly outputsMissing: number;
  readonly stages: StageReport[];
  /** Failed tasks in all. */
  readonly failed: number;
  /** The first 100 failures. */
  readonly failures: TaskFailure[];
  /** Sources read again after their key was already given in this run (each processed once). */
  readonly duplicates: number;
  /** The first 100 keys given more than once, each listed once. */
  readonly duplicateKeys: string[];
}

export interface RunProgress {
  readonly elapsedMs: number;
  readonly sourcesRead: number;
  readonly sourcesSkipped: number;
  readonly stages: StageReport[];
}

const MAX_FAILURES = 100;
const MAX_STATE_ERRORS = 20;

/** @internal */
export class RunCounters {
  sourcesRead = 0;
  sourcesSkipped = 0;
  duplicates = 0;
  private readonly duplicateKeys: string[] = [];
  private readonly processed: Float64Array;
  private readonly emitted: Float64Array;
  private readonly filtered: Float64Array;
  private readonly failedCount: Float64Array;
  private readonly prunedCount: Float64Array;
  private readonly calls: Float64Array;
  private readonly heldCount: Float64Array;
  private readonly failures: TaskFailure[] = [];
  /** Per stage: the state counters of a stateful stage, else null. */
  readonly states: (StateCounters | null)[];
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly stages: readonly Stage[],
    private readonly started: number,
    private readonly options: { onProgress?: (p: RunProgress) => void; progressIntervalMs?: number },
  ) {
    const n = stages.length;
    this.processed = new Float64Array(n);
    this.emitted = new Float64Array(n);
    this.filtered = new Float64Array(n);
    this.failedCount = new Float64Array(n);
    this.prunedCount = new Float64Array(n);
    this.calls = new Float64Array(n);
    this.heldCount = new Float64Array(n);
    this.states = stages.map((s) => (isStatefulStage(s) ? new StateCounters() : null));
  }

  call(i: number, tasks: readonly StageTask[], r: StageCall): void {
    this.processed[i]! += tasks.length;
    this.settle(i, tasks, r);
  }

  /** A stateful stage's input: absorbed, restored from its checkpoint, or failed in absorb. */
  input(i: number, task: StageTask, outcome: 'absorbed' | 'restored' | { failed: string }): void {
    this.processed[i]!++;
    if (outcome === 'restored') return;
    this.calls[i]!++;
    if (typeof outcome === 'object') this.fail(i, [task], outcome.failed);
  }

  /** A task that failed on entering stage i, before any call (its `groupBy` threw or gave no string). */
  entryFailed(i: number, task: StageTask, error: string): void {
    this.processed[i]!++;
    this.fail(i, [task], error);
  }

  /** A stateful stage's `finish` over the inputs its state holds (counted as processed when they arrived). */
  finish(i: number, inputs: readonly StageTask[], r: StageCall): void {
    this.settle(i, inputs, r);
  }

  private settle(i: number, tasks: readonly StageTask[], r: StageCall): void {
    this.calls[i]!++;
    if (r.kind === 'children') this.emitted[i]! += r.children.length;
    else if (r.kind === 'filtered') this.filtered[i]! += tasks.length;
    else this.fail(i, tasks, r.error ?? '');
  }

  private fail(i: number, tasks: readonly StageTask[], error: string): void {
    this.failedCount[i]! += tasks.length;
    for (const t of tasks) {
      if (this.failures.length >= MAX_FAILURES) break;
      this.failures.push({ stage: this.stages[i]!.id, udid: t.lineage.udid, sourceKey: t.lineage.sourceKey, error });
    }
  }

  /** A source whose key this run has read already. */
  duplicate(key: string): void {
    this.duplicates++;
    if (this.duplicateKeys.length < MAX_FAILURES && !this.duplicateKeys.includes(key)) this.duplicateKeys.push(key);
  }

  pruned(i: number): void {
    this.prunedCount[i]!++;
  }

  held(i: number, count: number): void {
    this.heldCount[i]! += count;
  }

  stageReports(): StageReport[] {
    return this.stages.map((s, i) => ({
      stage: s.id,
      processed: this.processed[i]!,
      emitted: this.emitted[i]!,
      filtered: this.filtered[i]!,
      failed: this.failedCount[i]!,
      pruned: this.prunedCount[i]!,
      calls: this.calls[i]!,
      held: this.heldCount[i]!,
      ...(this.states[i] ? { state: this.states[i].report() } : {}),
    }));
  }

  progress(): RunProgress {
    return { elapsedMs: performance.now() - this.started, sourcesRead: this.sourcesRead, sourcesSkipped: this.sourcesSkipped, stages: this.stageReports() };
  }

  startProgress(): void {
    const onProgress = this.options.onProgress;
    if (!onProgress) return;
    this.timer = setInterval(() => onProgress(this.progress()), this.options.progressIntervalMs ?? 1000);
    this.timer.unref();
  }

  stopProgress(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.options.onProgress?.(this.progress());
  }

  report(store: LineageStore | null, dir: string | null, elapsedMs: number): RunReport {
    let failed = 0;
    for (const f of this.failedCount) failed += f;
    return {
      checkpoint: dir,
      run: store?.run ?? 0,
      elapsedMs,
      sources: { read: this.sourcesRead, skipped: this.sourcesSkipped },
      inputsChanged: 0,
      outputsMissing: 0,
      stages: this.stageReports(),
      failed,
      failures: [...this.failures],
      duplicates: this.duplicates,
      duplicateKeys: [...this.duplicateKeys],
    };
  }
}

/**
 * One report of a run made of two passes: the first, then the second over the
 * `changed` sources it held back (their input changed; what they recorded was
 * voided in between). Those sources count as read once.
 */
export function mergeReports(first: RunReport, second: RunReport, changed: number, elapsedMs: number): RunReport {
  const failures = [...first.failures, ...second.failures].slice(0, MAX_FAILURES);
  const duplicateKeys = [...new Set([...first.duplicateKeys, ...second.duplicateKeys])].slice(0, MAX_FAILURES);
  return {
    checkpoint: second.checkpoint,
    run: second.run,
    elapsedMs,
    sources: { read: first.sources.read, skipped: first.sources.skipped + second.sources.skipped },
    inputsChanged: changed,
    outputsMissing: first.outputsMissing,
    stages: first.stages.map((a, i) => {
      const b = second.stages[i]!;
      return {
        stage: a.stage,
        processed: a.processed + b.processed,
        emitted: a.emitted + b.emitted,
        filtered: a.filtered + b.filtered,
        failed: a.failed + b.failed,
        pruned: a.pruned + b.pruned,
        calls: a.calls + b.calls,
        held: a.held + b.held,
        ...(b.state || a.state ? { state: (b.state ?? a.state)! } : {}),
      };
    }),
    failed: first.failed + second.failed,
    failures,
    duplicates: first.duplicates + second.duplicates,
    duplicateKeys,
  };
}
