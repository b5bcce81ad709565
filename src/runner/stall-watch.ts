/**
 * @internal
 * Notices a run that can never end: Node empties its event loop (no timer,
 * no I/O, no worker left) while stage calls are still pending, because a
 * stage returned a promise that nothing will ever settle. Node would then
 * exit with code 13 and say nothing; instead the run fails with
 * LINEAGE_STALLED naming what it was waiting for, so the caller can commit
 * what finished and report it. Installed only while a run is active.
 */
import { ErrorCodes, LineageError } from '../errors/lineage-error.js';
import type { LineageStore } from '../store/lineage-store.js';
import type { StageTask } from './stage-adapter.js';
import type { Stage } from '../model/stage.js';

/** The watches of the runs active in this process: one `beforeExit` listener serves them all, however many run at once. */
const watching = new Set<StallWatch>();

function onBeforeExit(): void {
  // Called once the loop is empty: nothing can settle a pending call any more.
  for (const watch of [...watching]) watch.fire();
}

export class StallWatch {
  /** `stalled` builds the error from what is pending; `fail` ends the run with it. */
  constructor(
    private readonly stalled: () => LineageError,
    private readonly fail: (err: LineageError) => void,
  ) {}

  install(): void {
    if (watching.size === 0) process.on('beforeExit', onBeforeExit);
    watching.add(this);
  }

  remove(): void {
    if (!watching.delete(this)) return;
    if (watching.size === 0) process.off('beforeExit', onBeforeExit);
  }

  /** @internal The event loop emptied while this run was active. */
  fire(): void {
    this.remove();
    this.fail(this.stalled());
  }
}

/** The error for a run whose pending calls can never settle; `what` names the first of them. */
export function stalledError(what: string, pendingCalls: number): LineageError {
  const others = pendingCalls > 1 ? ` (and ${pendingCalls - 1} more pending ${pendingCalls === 2 ? 'call' : 'calls'})` : '';
  return new LineageError(
    ErrorCodes.STALLED,
    `the run stalled: ${what} never settled${others}, and nothing else was left to run (no timer, no I/O), so it never will. ` +
      'Its promise is never resolved or rejected: fix the stage, or give it a timeoutMs so such a call fails its task. ' +
      'What finished before is recorded; a rerun skips it.',
  );
}

/** Stage calls waiting on a promise, by what they were given (the tasks of a call, one absorbed task) → stage. */
export class PendingCalls {
  private readonly calls = new Map<readonly StageTask[] | StageTask, number>();
  /** The keys that are a stateful stage's `finish` (its inputs). */
  private readonly finishes = new Set<readonly StageTask[]>();

  get size(): number {
    return this.calls.size;
  }

  set(what: readonly StageTask[] | StageTask, stage: number, finish = false): void {
    this.calls.set(what, stage);
    if (finish) this.finishes.add(what as readonly StageTask[]);
  }

  delete(what: readonly StageTask[] | StageTask): void {
    this.calls.delete(what);
    this.finishes.delete(what as readonly StageTask[]);
  }

  /** The first pending call, by stage and task; else what the run waits on (`reading` the sources, `draining` the checkpoint). */
  describe(stages: readonly Stage[], reading: boolean, draining: boolean): string {
    for (const [what, i] of this.calls) {
      const stage = `stage "${stages[i]!.id}"`;
      if (this.finishes.has(what as readonly StageTask[])) return `${stage}: its finish call`;
      const tasks = Array.isArray(what) ? (what as readonly StageTask[]) : [what as StageTask];
      const first = tasks[0]!.lineage;
      const on = tasks.length === 1 ? `task ${first.udid}` : `${tasks.length} tasks (the first ${first.udid})`;
      return `${stage}: the call on ${on} (source ${JSON.stringify(first.sourceKey)})`;
    }
    if (reading) return "the sources' async iterator: its next()";
    if (draining) return 'the checkpoint: a drain of its writes';
    return 'a pending call';
  }

  /** Records the tasks of every pending call failed, so `lineage inspect --status failed` shows them. */
  recordStalled(stages: readonly Stage[], store: LineageStore | null): void {
    if (store === null) return;
    const error = 'never settled: the run stalled with this call pending (see LINEAGE_STALLED)';
    for (const [what, i] of this.calls) {
      if (this.finishes.has(what as readonly StageTask[])) continue;
      for (const t of Array.isArray(what) ? (what as readonly StageTask[]) : [what as StageTask]) store.recordFailure({ stage: stages[i]!.id, task: t.lineage, error });
    }
  }
}
