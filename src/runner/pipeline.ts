/**
 * The streaming runner's public face. Tasks flow through the stages; later
 * stages are served first and new sources are admitted only while fewer than
 * `maxInFlight` tasks are alive, so memory is bounded by the work in flight,
 * not by the number of sources. With a checkpoint it skips complete sources,
 * drops complete tasks at every stage boundary before they execute, and
 * records every call through the stage adapter. This file opens and closes
 * the checkpoint and turns a stop into its error; the scheduling loop is
 * pipeline-run.ts.
 *
 * @example
 * const report = await new Pipeline([split, clean, write]).run(sources, { checkpoint: 'ckpt' });
 */
import { ErrorCodes, LineageError } from '../errors/lineage-error.js';
import type { Source } from '../model/source.js';
import type { Stage } from '../model/stage.js';
import { checkRunTimeout } from './call-timeout.js';
import { openForRun, type OpenedRun } from './open-for-run.js';
import { PipelineRun } from './pipeline-run.js';
import { invalidateTasks } from '../maintenance/invalidate-tasks.js';
import { findMissingOutputs } from '../planner/missing-outputs.js';
import { mergeReports, type RunCounters, type RunReport } from './run-report.js';
import type { RunOptions } from './run-options.js';
import { RunStop } from './run-stop.js';
import { keepCheckpointsProblem, validateStages } from './validate-stages.js';

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
    const first = await this.pass(sources, options, started);
    if (first.changed.length === 0) return first.report;
    // Sources whose input changed were held back: void what they recorded, then run them again.
    const dir = typeof options.checkpoint === 'string' ? options.checkpoint : null;
    if (dir === null) {
      const { source, recorded } = first.changed[0]!;
      throw new LineageError(
        ErrorCodes.INVALID_ARGUMENT,
        `Pipeline.run: the input of source "${source.key}"${first.changed.length > 1 ? ` (and ${first.changed.length - 1} more)` : ''} changed ` +
          `(fingerprint ${recorded} → ${source.fingerprint}), but the run was given an open store, so it cannot void what that source recorded; ` +
          'the other sources ran. Pass the checkpoint path instead, or void the source first with invalidateTasks.',
      );
    }
    await invalidateTasks(dir, { sources: first.changed.map((c) => c.source.key) }, { byHand: false });
    // The first pass checked the outputs; the sources run again here wrote theirs since.
    const second = await this.pass(
      first.changed.map((c) => c.source),
      { ...options, checkOutputs: false },
      started,
    );
    return mergeReports(first.report, second.report, first.changed.length, performance.now() - started);
  }

  /** One pass over the sources: opens the checkpoint, runs, closes it; sources whose input changed are held back. */
  private async pass(
    sources: Iterable<Source> | AsyncIterable<Source>,
    options: RunOptions,
    started: number,
  ): Promise<{ report: RunReport; readonly changed: readonly { source: Source; recorded: string }[] }> {
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
    if (opened && options.checkOutputs !== false && opened.store.mode === 'dag') {
      // Outputs that are gone: void those tasks (with what they led to), then run with the checkpoint reopened.
      const missing = await findMissingOutputs(opened.store).catch(async (err: unknown) => {
        if (opened.owned) await opened.store.close();
        stop.dispose();
        throw err;
      });
      if (missing.length > 0) {
        stop.dispose();
        if (!opened.owned) {
          throw new LineageError(
            ErrorCodes.INVALID_ARGUMENT,
            `Pipeline.run: the output ${missing[0]!.path} of task ${missing[0]!.udid}${missing.length > 1 ? ` (and ${missing.length - 1} more)` : ''} is gone, ` +
              'but the run was given an open store, so it cannot void that task; nothing ran. Pass the checkpoint path instead, void the task first with invalidateTasks, or set checkOutputs: false.',
          );
        }
        await opened.store.close();
        const udids = [...new Set(missing.map((m) => m.udid))];
        await invalidateTasks(opened.dir, { udids }, { byHand: false });
        const again = await this.pass(sources, { ...options, checkOutputs: false }, started);
        return { ...again, report: { ...again.report, outputsMissing: udids.length } };
      }
    }
    let failure: unknown;
    let counters: RunCounters | undefined;
    let unsubscribe: (() => void) | undefined;
    let run: PipelineRun | undefined;
    try {
      run = new PipelineRun(this.stages, store, options, started);
      counters = run.counters;
      const current = run;
      unsubscribe = store?.onWriteFailure((err) => current.stop(err));
      stop.whenRequested((reason) => current.stop(reason));
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
    return { report: counters!.report(store, opened?.dir ?? null, performance.now() - started), changed: run!.changedSources };
  }
}
