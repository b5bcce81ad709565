/**
 * @internal
 * Runs one stateful stage inside a pipeline run (docs/design.md §8). At the start
 * it asks the stage which recorded checkpoint it restored and rewinds the
 * engine's records to it; then it feeds the stage its inputs one at a time,
 * passing over those inside the restored checkpoint's frontier; it takes a
 * checkpoint whenever the stage asks, records it only after the stage's save
 * resolved, and keeps the newest N, expiring the rest once the newer record
 * is on disk. At the end it hands `finish` every input the state holds.
 *
 * Without a checkpoint store no Checkpointable method is called: there is
 * nothing to resume from.
 */
import { boundErrorText, errorText } from '../errors/error-text.js';
import { ErrorCodes, LineageError } from '../errors/lineage-error.js';
import type { Lineage } from '../identity/lineage.js';
import type { LineageStore } from '../store/lineage-store.js';
import type { StateCheckpointLog } from '../store/state-checkpoint-log.js';
import { withTimeout } from './call-timeout.js';
import { isCheckpointable, type Checkpointable } from '../model/checkpointable.js';
import type { StateCounters } from './run-report.js';
import type { StageTask } from './stage-adapter.js';
import { isFailed, type Failed, type StatefulStage } from '../model/stage.js';
import { Task } from './task.js';

/** What became of one input: fed to absorb, passed over (inside the restored frontier, or seen already), or failed. */
export type InputOutcome = 'absorbed' | 'restored' | 'duplicate' | { readonly failed: string };

export class StatefulDriver {
  /** An absorb, checkpoint or finish is running: feed nothing else. */
  busy = false;
  /** `finish` ran, was held back, or had nothing to do: no later stage waits for it. */
  done = false;
  private readonly checkpoints: (StatefulStage & Checkpointable) | null;
  private log: StateCheckpointLog | null = null;
  /** The restored checkpoint's frontier, in absorption order, and as a set. */
  private frontierOrder: readonly string[] = [];
  private frontier: ReadonlySet<string> = new Set();
  /** Every input the state holds that reached the stage in this run (absorbed or restored), by UDID. */
  private readonly held = new Map<string, Lineage>();
  /** UDID bytes of the inputs absorbed since the last recorded checkpoint: the next record's log entries. */
  private unrecorded: Buffer[] = [];
  private sinceInputs = 0;
  private sinceAt = performance.now();

  constructor(
    readonly stage: StatefulStage,
    private readonly store: LineageStore | null,
    private readonly keep: number,
    private readonly counters: StateCounters,
    /** Time limit of one absorb (0: none). */
    private readonly timeoutMs = 0,
  ) {
    this.checkpoints = store !== null && isCheckpointable(stage) ? (stage as StatefulStage & Checkpointable) : null;
  }

  /**
   * Offers the stage its recorded checkpoints and rewinds the records to the
   * one it restored (none: null). `voided` are ids a pipeline change removed
   * before the run: they are only expired.
   */
  async restore(voided: readonly number[]): Promise<void> {
    if (this.store === null) return;
    const log = (this.log = this.store.stateCheckpointLog(this.stage.id));
    for (const id of voided) await this.expire(id);
    const available = log.checkpoints.map((c) => c.id).reverse();
    let chosen: number | null = null;
    if (this.checkpoints) {
      const got = await this.checkpoints.loadCheckpoint(this.stage.id, available);
      chosen = got ?? null;
      if (chosen !== null && !available.includes(chosen)) {
        throw new LineageError(
          ErrorCodes.UNKNOWN_CHECKPOINT,
          `stage "${this.stage.id}": loadCheckpoint returned checkpoint ${JSON.stringify(chosen)}, which is not one of the checkpoints offered ` +
            `(${available.length ? available.join(', ') : 'none'}, newest first) in ${this.store.dir}. Return one of those ids, or null to start from an empty state.`,
        );
      }
    }
    const record = log.checkpoints.find((c) => c.id === chosen);
    if (record) {
      this.frontierOrder = log.frontier(record.absorbed);
      this.frontier = new Set(this.frontierOrder);
    }
    this.counters.restoredFrom = chosen;
    await this.expireOnceCommitted(log.rewind(chosen));
    this.sinceAt = performance.now();
  }

  /** Feeds one input to the stage, unless its state already holds it. */
  absorb(task: StageTask): InputOutcome | Promise<InputOutcome> {
    const udid = task.lineage.udid;
    if (this.held.has(udid)) return 'duplicate';
    if (this.frontier.has(udid)) {
      this.held.set(udid, task.lineage);
      this.counters.restored++;
      return 'restored';
    }
    let result: void | Failed | Promise<void | Failed>;
    try {
      result = this.stage.absorb(task.data, { stage: this.stage.id, udid, sourceKey: task.lineage.sourceKey, lineage: task.lineage, attempt: 0 });
    } catch (err) {
      return this.failed(task, errorText(err));
    }
    if (isThenable<void | Failed>(result)) {
      return (this.timeoutMs > 0 ? withTimeout(result, this.timeoutMs) : result).then(
        (r) => this.absorbed(task, r),
        (err: unknown) => this.failed(task, errorText(err)),
      );
    }
    return this.absorbed(task, result);
  }

  /**
   * No more input can arrive. Held back (an input failed somewhere before
   * `finish`): takes a last checkpoint, so the rerun absorbs only what is
   * missing, and returns null. Otherwise returns the inputs for `finish`, or
   * null when none reached the stage in this run.
   */
  async conclude(heldBack: boolean): Promise<StageTask[] | null> {
    if (heldBack) {
      if (this.checkpoints && this.unrecorded.length > 0) await this.checkpoint();
      return null;
    }
    if (this.held.size === 0) return null;
    const inputs: StageTask[] = [];
    for (const lineage of this.held.values()) inputs.push(new Task(undefined, lineage));
    // Restored inputs that did not come again (their sources were not in this run) are in the state all the same.
    for (const udid of this.frontierOrder) if (!this.held.has(udid)) inputs.push(new Task(undefined, this.recordedLineage(udid)));
    return inputs;
  }

  /** `finish` was recorded: the checkpoints are no longer needed once that is on disk. */
  async finished(): Promise<void> {
    this.counters.finished = true;
    if (!this.log) return;
    await this.store!.flush();
    await this.expireOnceCommitted(this.log.rewind(null));
  }

  /** Every input was already complete (another writer finished over them): `finish` is not run, and the checkpoints are no longer needed. */
  async alreadyComplete(): Promise<void> {
    if (!this.log) return;
    await this.store!.flush();
    await this.expireOnceCommitted(this.log.rewind(null));
  }

  private absorbed(task: StageTask, result: void | Failed): InputOutcome | Promise<InputOutcome> {
    if (isFailed(result)) return this.failed(task, boundErrorText(result.reason));
    this.held.set(task.lineage.udid, task.lineage);
    this.counters.absorbed++;
    if (!this.checkpoints) return 'absorbed';
    this.unrecorded.push(Buffer.from(task.lineage.udid, 'hex'));
    this.sinceInputs++;
    if (!this.checkpoints.shouldCheckpoint({ inputs: this.sinceInputs, ms: performance.now() - this.sinceAt })) return 'absorbed';
    return this.checkpoint().then(() => 'absorbed' as const);
  }

  private failed(task: StageTask, error: string): InputOutcome {
    this.store?.recordFailure({ stage: this.stage.id, task: task.lineage, error });
    return { failed: error };
  }

  /** Saves, then records (with the inputs absorbed since the last record), then expires what retention dropped. */
  private async checkpoint(): Promise<void> {
    const stage = this.checkpoints!;
    const log = this.log!;
    const id = log.allocateId();
    try {
      await stage.saveCheckpoint(stage.id, id);
    } catch (err) {
      // Never recorded, so never offered; the stage may clean up what it wrote. The next absorb asks again.
      this.counters.error(`saveCheckpoint(${id}) failed: ${errorText(err)}`);
      await this.expire(id);
      return;
    }
    const dropped = log.record(id, this.unrecorded, this.keep);
    this.unrecorded = [];
    this.sinceInputs = 0;
    this.sinceAt = performance.now();
    this.counters.checkpoints++;
    await this.expireOnceCommitted(dropped);
  }

  /** Expires dropped records only after the write that dropped them is durable: a crash before it keeps them valid. */
  private async expireOnceCommitted(ids: readonly number[]): Promise<void> {
    if (ids.length === 0) return;
    await this.log!.committed();
    await this.store!.flush();
    for (const id of ids) await this.expire(id);
  }

  private async expire(id: number): Promise<void> {
    if (!this.checkpoints) return;
    try {
      await this.checkpoints.checkpointExpired(this.stage.id, id);
    } catch (err) {
      this.counters.error(`checkpointExpired(${id}) failed: ${errorText(err)}`);
    }
  }

  /**
   * Lineage of a restored input known only from the log: its UDID and source
   * (from the store). Only the UDID and source key matter to the fan-in.
   */
  private recordedLineage(udid: string): Lineage {
    return { path: '', udid, sourceKey: this.store?.get(udid)?.sourceKey ?? '' };
  }
}

function isThenable<T>(value: unknown): value is Promise<T> {
  return typeof value === 'object' && value !== null && typeof (value as { then?: unknown }).then === 'function';
}
