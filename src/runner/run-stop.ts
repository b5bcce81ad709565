/**
 * @internal
 * How a run is asked to stop: SIGINT/SIGTERM while it runs (unless
 * `handleSignals: false`), or the AbortSignal it was given. The first request
 * makes the run stop starting work and let the calls in flight settle, so that
 * everything that finished is committed; a second signal ends the process at
 * once, since a call that never settles must not hold it hostage.
 *
 * The handlers are installed for the run only and removed when it returns.
 * After a graceful stop by a signal, a process that has no listener of its own
 * for that signal ends the way the signal's default would have ended it (exit
 * 130/143), after printing one line on what was saved and how to resume; a
 * process that listens itself gets the rejection and decides.
 */
import { InterruptedError, SIGNAL_EXIT_CODES, type SavedWork, type StopSignal } from '../errors/interrupted-error.js';

const SIGNALS: readonly StopSignal[] = ['SIGINT', 'SIGTERM'];
/**
 * The same signal again within this many ms is the same request: a
 * terminal's Ctrl-C reaches the whole process group, and a parent that
 * forwards it to its child makes the child receive it twice.
 */
const REPEAT_MS = 200;

export interface StopOptions {
  /** Install SIGINT/SIGTERM handlers for the run. Default true. */
  readonly handleSignals?: boolean;
  /** Aborting it stops the run as a first signal would. */
  readonly signal?: AbortSignal;
}

export class RunStop {
  /** Why the run is stopping (null: it runs on). */
  reason: InterruptedError | null = null;
  private listener: ((reason: InterruptedError) => void) | null = null;
  private readonly handlers: [StopSignal, () => void][] = [];
  private readonly abortSignal: AbortSignal | null;
  private readonly onAbort = (): void => this.request(null);
  private firstSignalAt = 0;

  constructor(options: StopOptions) {
    this.abortSignal = options.signal ?? null;
    if (this.abortSignal?.aborted) this.request(null);
    else this.abortSignal?.addEventListener('abort', this.onAbort, { once: true });
    if (options.handleSignals === false) return;
    for (const sig of SIGNALS) {
      const handler = () => this.received(sig);
      process.on(sig, handler);
      this.handlers.push([sig, handler]);
    }
  }

  /** `stop` is called once when a stop is requested (at once, if it already was). */
  whenRequested(stop: (reason: InterruptedError) => void): void {
    this.listener = stop;
    if (this.reason) stop(this.reason);
  }

  /**
   * The run has settled and committed: the final error, naming what was
   * saved. When a signal stopped it and the process has no listener of its
   * own for that signal, prints the error's one line and ends the process.
   */
  conclude(saved: SavedWork): InterruptedError {
    const first = this.reason!;
    const err = new InterruptedError(first.signal, saved, undefined, first.cause === undefined ? undefined : { cause: first.cause });
    this.dispose();
    if (first.signal !== null && process.listenerCount(first.signal) === 0) {
      process.stderr.write(`lineage: ${err.code}: ${err.message}\n`);
      process.exit(err.exitCode);
    }
    return err;
  }

  /** Removes the handlers (idempotent). */
  dispose(): void {
    for (const [sig, handler] of this.handlers.splice(0)) process.off(sig, handler);
    this.abortSignal?.removeEventListener('abort', this.onAbort);
  }

  private received(sig: StopSignal): void {
    if (this.reason?.signal === sig && performance.now() - this.firstSignalAt < REPEAT_MS) return;
    if (this.reason) {
      process.stderr.write(
        `lineage: LINEAGE_INTERRUPTED: a second ${sig} while the run was stopping: exiting at once. ` +
          'Everything committed before is kept; the calls that were in flight are redone by a rerun.\n',
      );
      process.exit(SIGNAL_EXIT_CODES[sig]);
    }
    this.firstSignalAt = performance.now();
    this.request(sig);
  }

  private request(sig: StopSignal | null): void {
    if (this.reason) return;
    const cause: unknown = sig === null ? this.abortSignal?.reason : undefined;
    this.reason = new InterruptedError(sig, null, undefined, cause === undefined ? undefined : { cause });
    this.listener?.(this.reason);
  }
}
