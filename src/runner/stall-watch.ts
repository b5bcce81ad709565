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

export class StallWatch {
  private readonly onBeforeExit: () => void;
  private installed = false;

  /** `stalled` builds the error from what is pending; `fail` ends the run with it. */
  constructor(stalled: () => LineageError, fail: (err: LineageError) => void) {
    this.onBeforeExit = () => {
      // Called once the loop is empty: nothing can settle a pending call any more.
      this.remove();
      fail(stalled());
    };
  }

  install(): void {
    if (this.installed) return;
    this.installed = true;
    process.on('beforeExit', this.onBeforeExit);
  }

  remove(): void {
    if (!this.installed) return;
    this.installed = false;
    process.off('beforeExit', this.onBeforeExit);
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
