/**
 * @internal
 * Stage ids as a writer session numbers them (0: no stage), and the shard's
 * number for each. The shard's numbers are looked up when rows are packed,
 * while the write thread is idle: registering a new stage is a synchronous
 * commit, which would otherwise wait for the thread's transaction in the
 * middle of recording.
 */
import { ErrorCodes, LineageError } from '../../errors/lineage-error.js';
import type { Shard } from '../shard.js';

export class StageNumbers {
  private readonly stageIds: string[] = [''];
  private readonly localStages = new Map<string, number>();
  private lastStageId = '';
  private lastLocalStage = 0;
  private readonly shardStages: number[] = [0];
  /** Session stages the shard has no number for yet. */
  private unregistered = 0;

  constructor(private readonly shard: Shard) {}

  /** True when some stage of this session has no number in the shard yet (registering it is a synchronous commit). */
  get toRegister(): boolean {
    return this.unregistered > 0;
  }

  /** This session's number for a stage id. */
  local(stageId: string): number {
    // Runs of emissions come from one stage: the last answer spares the Map lookup.
    if (stageId === this.lastStageId) return this.lastLocalStage;
    let n = this.localStages.get(stageId);
    if (n === undefined) {
      n = this.stageIds.length;
      if (n > 0xffff) throw new LineageError(ErrorCodes.INVALID_PIPELINE, `${this.shard.dir}: more than 65535 stage ids.`);
      this.stageIds.push(stageId);
      this.shardStages.push(0);
      this.localStages.set(stageId, n);
      this.unregistered++;
    }
    this.lastStageId = stageId;
    this.lastLocalStage = n;
    return n;
  }

  /** The shard's number for a session stage number, registering the stage id in the shard when it is new there. */
  shardStage(local: number): number {
    if (local === 0) return 0;
    let n = this.shardStages[local]!;
    if (n === 0) {
      n = this.shard.stageNumber(this.stageIds[local]!);
      this.shardStages[local] = n;
      this.unregistered--;
    }
    return n;
  }

  /**
   * Registers in the shard every stage of this session it has no number for,
   * in one transaction: each new stage's own would be a sync commit (lmdb-js
   * runs a transactionSync inside another as a child transaction).
   */
  registerAll(): void {
    this.shard.env.transactionSync(() => {
      for (let local = 1; local < this.stageIds.length; local++) this.shardStage(local);
    });
  }

  /** The session number of a stage number read from the shard (a task of an earlier session). */
  localOfShard(n: number): number {
    if (n === 0) return 0;
    const local = this.local(this.shard.stageName(n) ?? `#${n}`);
    if (this.shardStages[local] === 0) this.unregistered--;
    this.shardStages[local] = n;
    return local;
  }
}
