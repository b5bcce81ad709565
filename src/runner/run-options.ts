/** What `Pipeline.run` is told, and the defaults of what it is not told. */
import type { LineageStore } from '../store/lineage-store.js';
import type { RunProgress } from './run-report.js';

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
  /**
   * Before the run, check that the outputs recorded by stages with `outputs()`
   * still exist; a task whose output is gone is voided with what it led to
   * and consumed again (code `output-missing`). Default true.
   */
  readonly checkOutputs?: boolean;
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

export const DEFAULT_CONCURRENCY = 4;
export const DEFAULT_MAX_IN_FLIGHT = 1024;
