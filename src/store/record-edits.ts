/**
 * @internal
 * The synchronous edits of task records that whole-checkpoint rewrites
 * (repair, invalidation, merge) make through Shard.editMeta and
 * Shard.removeTask; recording writes through the write batch instead.
 */
import type { Database } from 'lmdb';
import { editRecord } from './meta-blocks.js';
import { OUTCOME_FAILED, OUTCOME_NONE, outcomeOf } from './task-record.js';
import { removeEntry } from './udid-chunks.js';

type IdDb = Database<Buffer, number>;

/** The sub-DBs of a shard the edits touch. */
export interface EditedDbs {
  readonly meta: IdDb;
  readonly errors: IdDb;
  readonly outputs: IdDb | undefined;
  readonly udid: Database<Buffer, Buffer>;
}

/**
 * Rewrites a task's record through `edit`, which changes the copy it is
 * given in place; returns false when the task has no record. A record
 * whose outcome is no longer `failed` loses its error text; one that is no
 * longer consumed loses the outputs its consuming call wrote. Synchronous:
 * call inside `env.transactionSync` to group edits. For repair and
 * invalidation, not for recording.
 */
export function editTaskRecord(dbs: EditedDbs, id: number, edit: (row: Buffer) => void): boolean {
  let outcome = OUTCOME_FAILED;
  const found = editRecord(dbs.meta as never, id, (row) => {
    edit(row);
    outcome = outcomeOf(row, 0);
  });
  if (!found) return false;
  if (outcome !== OUTCOME_FAILED && dbs.errors.get(id) !== undefined) dbs.errors.removeSync(id);
  if (outcome === OUTCOME_NONE && dbs.outputs?.get(id) !== undefined) dbs.outputs.removeSync(id);
  return true;
}

/** Takes a task's record, error text, outputs and index entry out (its edges are the caller's). */
export function removeTaskRecord(dbs: EditedDbs, id: number, udid: Buffer): void {
  editRecord(dbs.meta as never, id, null);
  if (dbs.errors.get(id) !== undefined) dbs.errors.removeSync(id);
  if (dbs.outputs?.get(id) !== undefined) dbs.outputs.removeSync(id);
  removeEntry(dbs.udid as never, udid);
}
