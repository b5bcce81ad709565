/**
 * @internal
 * A task's record decoded into named fields, for readers that want them all
 * (inspection, verify, the store's queries); scans read single fields
 * through task-record.js in place.
 */
import { META_SIZE } from './meta-blocks.js';
import { completedRunOf, flagsOf, outcomeOf, outcomeStageOf, rootOf, stageOf, udidOf } from './task-record.js';

/** A decoded `meta` row. */
export interface MetaRow {
  readonly udid: Buffer;
  /** Stage number that emitted the task (0: a root). */
  readonly stage: number;
  readonly root: number;
  readonly flags: number;
  /** 0 none, else OUTCOME_EMITTED / _FILTERED / _FAILED. */
  readonly outcome: number;
  readonly outcomeStage: number;
  /** Run that completed the task; 0 when it is not complete. */
  readonly completedRun: number;
  readonly error?: string;
}

/** Decodes a task's record (META_SIZE bytes, then the error text of a failed task, as metaRows yields them). */
export function decodeMeta(v: Buffer): MetaRow {
  const error = v.length > META_SIZE ? v.toString('utf8', META_SIZE) : undefined;
  return {
    udid: udidOf(v, 0),
    stage: stageOf(v, 0),
    root: rootOf(v, 0),
    flags: flagsOf(v, 0),
    outcome: outcomeOf(v, 0),
    outcomeStage: outcomeStageOf(v, 0),
    completedRun: completedRunOf(v, 0),
    ...(error !== undefined ? { error } : {}),
  };
}
