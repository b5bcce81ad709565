/**
 * @internal
 * The synchronous edits of task records that whole-checkpoint rewrites
 * (repair, invalidation, merge) make through Shard.editMeta and
 * Shard.removeTask; recording writes through the write batch instead.
 */
import type { Database } from 'lmdb';
import { editRecord } from './meta-blocks.js';
import { OUTCOME_FAILED, outcomeOf } from './task-record.js';
import { removeEntry } from './udid-chunks.js';

type IdDb = Database<Buffer, number>;

/**
 * Rewrites a task's record through `edit`, which changes the copy it is
 * given in place; returns false when the task has no record. A record
 * whose outcome is no longer `failed` loses its error text. Synchronous:
 * call inside `env.transactionSync` to group edits. For repair and
 * invalidation, not for recording.
 */
export function editTaskRecord(meta: IdDb, errors: Database<Buffer, number>, id: number, edit: (row: Buffer) => void): boolean {
  let failed = true;
  const found = editRecord(meta as never, id, (row) => {
    edit(row);
    failed = outcomeOf(row, 0) === OUTCOME_FAILED;
  });
  if (found && !failed && errors.get(id) !== undefined) errors.removeSync(id);
  return found;
}

/** Takes a task's record, error text and index entry out (its edges are the caller's). */
export function removeTaskRecord(meta: IdDb, errors: Database<Buffer, number>, udidDb: Database<Buffer, Buffer>, id: number, udid: Buffer): void {
  editRecord(meta as never, id, null);
  if (errors.get(id) !== undefined) errors.removeSync(id);
  removeEntry(udidDb as never, udid);
}
