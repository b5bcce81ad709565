/**
 * @internal
 * The engine's half of a stateful stage's checkpoints (docs/design.md §8), kept in
 * the writer's shard: the inputs the stage absorbed, in order (`absorbed`),
 * and the checkpoints recorded (`state_checkpoints`). A checkpoint that
 * absorbed n inputs has as its frontier the first n log entries, so the log
 * is append-only between rewinds and a checkpoint costs one row plus the
 * entries absorbed since the previous one.
 *
 * Log entries are written in the same synchronous burst as the record that
 * covers them, so they land in one LMDB transaction: a crash never leaves a
 * record whose frontier is not on disk.
 */
import { ErrorCodes, LineageError } from '../errors/lineage-error.js';
import type { Shard } from './shard.js';

/** One recorded checkpoint of a stateful stage. */
export interface StateCheckpoint {
  /** Engine-assigned, increasing; never reused within a shard once recorded. */
  readonly id: number;
  /** When it was recorded (ISO 8601). */
  readonly at: string;
  /** Inputs its state had absorbed: its frontier is the first `absorbed` entries of the log. */
  readonly absorbed: number;
}

/** The checkpoints of one stateful stage in one shard, newest first. */
export interface StageCheckpoints {
  readonly stage: string;
  readonly writerId: string;
  readonly checkpoints: StateCheckpoint[];
}

interface Stored {
  nextId: number;
  /** Oldest first. */
  checkpoints: StateCheckpoint[];
}

/** @internal */
export class StateCheckpointLog {
  private readonly stage: number;
  private stored: Stored;
  private lastWrite: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly shard: Shard,
    readonly stageId: string,
  ) {
    this.stage = shard.stageNumber(stageId);
    this.stored = readStored(shard, this.stage) ?? { nextId: 1, checkpoints: [] };
  }

  /** Recorded checkpoints, oldest first. */
  get checkpoints(): readonly StateCheckpoint[] {
    return this.stored.checkpoints;
  }

  /** Inputs the newest recorded checkpoint absorbed (0 without one). */
  get absorbed(): number {
    return this.stored.checkpoints.at(-1)?.absorbed ?? 0;
  }

  /** The next checkpoint id; it is spent even if the save then fails. */
  allocateId(): number {
    return this.stored.nextId++;
  }

  /** The frontier of a checkpoint that absorbed `count` inputs: their UDIDs (hex), in absorption order. */
  frontier(count: number): string[] {
    const out: string[] = [];
    for (const { value } of this.shard.absorbed!.getRange({ start: logKey(this.stage, 0), end: logKey(this.stage, count) })) {
      out.push((value as Buffer).toString('hex'));
    }
    if (out.length !== count) {
      throw new LineageError(
        ErrorCodes.CORRUPT,
        `${this.shard.dir}: stage "${this.stageId}" has a checkpoint that absorbed ${count} inputs, but its log holds ${out.length}. ` +
          'Run `lineage verify` on the checkpoint; to start the stage over, move the writer directory aside (keeping it) and run again.',
      );
    }
    return out;
  }

  /**
   * Records checkpoint `id`, appending the inputs absorbed since the previous
   * one, and drops the oldest records beyond `keep`. Returns the dropped ids:
   * expire their state only once `committed()` and the store's flush resolved.
   */
  record(id: number, newInputs: readonly Buffer[], keep: number): number[] {
    let seq = this.absorbed;
    for (const udid of newInputs) this.write(this.shard.absorbed!.put(logKey(this.stage, seq++), udid));
    const checkpoints = [...this.stored.checkpoints, { id, at: new Date().toISOString(), absorbed: seq }];
    const dropped = checkpoints.splice(0, Math.max(0, checkpoints.length - keep)).map((c) => c.id);
    this.save({ nextId: Math.max(this.stored.nextId, id + 1), checkpoints });
    return dropped;
  }

  /**
   * Keeps checkpoint `id` as the newest (null: none) and drops every newer
   * record and the log beyond its frontier. Returns the dropped ids.
   */
  rewind(id: number | null): number[] {
    const at = id === null ? -1 : this.stored.checkpoints.findIndex((c) => c.id === id);
    if (id !== null && at < 0) throw new Error(`StateCheckpointLog.rewind: no checkpoint ${id}`);
    const kept = this.stored.checkpoints.slice(0, at + 1);
    const dropped = this.stored.checkpoints.slice(at + 1).map((c) => c.id);
    const frontier = kept.at(-1)?.absorbed ?? 0;
    for (const key of this.shard.absorbed!.getKeys({ start: logKey(this.stage, frontier), end: logEnd(this.stage) })) {
      this.write(this.shard.absorbed!.remove(key as Buffer));
    }
    if (dropped.length > 0 || this.stored.checkpoints.length > 0) this.save({ nextId: this.stored.nextId, checkpoints: kept });
    return dropped;
  }

  /** Resolves when every write of this log so far is committed. */
  async committed(): Promise<void> {
    await this.lastWrite;
  }

  private save(stored: Stored): void {
    this.stored = stored;
    this.write(this.shard.stateCheckpoints!.put(this.stage, stored));
  }

  private write(p: Promise<unknown>): void {
    this.lastWrite = p;
  }
}

/** @internal Every stateful stage's checkpoints in these shards, newest first per stage. */
export function readStateCheckpoints(shards: readonly Shard[]): StageCheckpoints[] {
  const out: StageCheckpoints[] = [];
  for (const shard of shards) {
    if (!shard.stateCheckpoints) continue;
    for (const { key, value } of shard.stateCheckpoints.getRange()) {
      const stored = value as Stored;
      if (stored.checkpoints.length === 0) continue;
      out.push({ stage: shard.stageName(key) ?? `#${key}`, writerId: shard.writerId, checkpoints: [...stored.checkpoints].reverse() });
    }
  }
  return out;
}

/**
 * @internal
 * Removes, inside the caller's write transaction, the checkpoint records and
 * logs of every stage `stale` names (a pipeline change voided their state).
 * Returns what was dropped, so a run can expire it.
 */
export function dropStageCheckpointsSync(shard: Shard, stale: (stage: number) => boolean): { stage: string; ids: number[] }[] {
  if (!shard.stateCheckpoints || !shard.absorbed) return [];
  const dropped: { stage: string; ids: number[] }[] = [];
  const stages: { stage: number; nextId: number }[] = [];
  for (const { key, value } of shard.stateCheckpoints.getRange()) {
    if (!stale(key)) continue;
    stages.push({ stage: key, nextId: (value as Stored).nextId });
    const ids = (value as Stored).checkpoints.map((c) => c.id);
    if (ids.length > 0) dropped.push({ stage: shard.stageName(key) ?? `#${key}`, ids });
  }
  for (const { stage, nextId } of stages) {
    // The row stays, empty, so that ids are never handed out twice.
    shard.stateCheckpoints.putSync(stage, { nextId, checkpoints: [] } satisfies Stored);
    for (const key of [...shard.absorbed.getKeys({ start: logKey(stage, 0), end: logEnd(stage) })]) shard.absorbed.removeSync(key as Buffer);
  }
  return dropped;
}

function readStored(shard: Shard, stage: number): Stored | undefined {
  return shard.stateCheckpoints?.get(stage) as Stored | undefined;
}

/** Past every log key of `stage`. */
function logEnd(stage: number): Buffer {
  return Buffer.concat([logKey(stage, 0xffffffff), Buffer.from([0])]);
}

/** Stage number (u16 BE) then sequence (u32 BE): byte order is (stage, seq) order. */
function logKey(stage: number, seq: number): Buffer {
  const key = Buffer.alloc(6);
  key.writeUInt16BE(stage, 0);
  key.writeUInt32BE(seq, 2);
  return key;
}
