/**
 * The error a stopped run rejects with (LINEAGE_INTERRUPTED): which signal
 * stopped it (null for an AbortSignal), the exit code a process stopped by
 * it should end with, and what the run had committed when it stopped.
 */
import { ErrorCodes, LineageError } from './lineage-error.js';

/** What a stopped run had committed. */
export interface SavedWork {
  /** The checkpoint directory (null: a run without one, nothing was saved). */
  readonly checkpoint: string | null;
  /** Stage calls that finished in this run (all committed with the checkpoint). */
  readonly calls: number;
  readonly sourcesRead: number;
  readonly sourcesSkipped: number;
}

/** 128 + the signal number: what a shell reports for a process the signal ended. */
export const SIGNAL_EXIT_CODES = { SIGINT: 130, SIGTERM: 143 } as const;
export type StopSignal = keyof typeof SIGNAL_EXIT_CODES;

export class InterruptedError extends LineageError {
  /** Exit code for a process that ends because of this stop: 130 (SIGINT), 143 (SIGTERM), 1 (an AbortSignal). */
  readonly exitCode: number;

  constructor(
    /** The signal that stopped the run, or null when its AbortSignal did. */
    readonly signal: StopSignal | null,
    /** What was committed; null while the run is still settling. */
    readonly saved: SavedWork | null,
    /** How to resume, for the message (default: rerun the same program). */
    resume = 'rerun the same program',
    options?: { cause?: unknown },
  ) {
    super(ErrorCodes.INTERRUPTED, interruptedMessage(signal, saved, resume, options?.cause), options);
    this.exitCode = signal === null ? 1 : SIGNAL_EXIT_CODES[signal];
  }
}

function interruptedMessage(signal: StopSignal | null, saved: SavedWork | null, resume: string, cause: unknown): string {
  const by = signal ?? `its AbortSignal${cause === undefined ? '' : ` (${reasonText(cause)})`}`;
  if (saved === null) return `the run was stopped by ${by}; it stops starting work and lets the calls in flight finish.`;
  const read = `${saved.sourcesRead} source${saved.sourcesRead === 1 ? '' : 's'} read, ${saved.sourcesSkipped} skipped as complete`;
  if (saved.checkpoint === null) {
    return `the run was stopped by ${by} after ${saved.calls} stage calls (${read}); it had no checkpoint, so nothing was saved.`;
  }
  return (
    `the run was stopped by ${by}: no new work was started, the calls in flight finished, and all ${saved.calls} stage calls ` +
    `of this run (${read}) are committed to ${saved.checkpoint}. To resume, ${resume}: completed work is skipped.`
  );
}

function reasonText(reason: unknown): string {
  const text = reason instanceof Error ? reason.message || reason.name : String(reason);
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}
