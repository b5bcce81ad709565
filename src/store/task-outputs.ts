/**
 * @internal
 * The files a stage call wrote (docs/design.md §6): a stage's `outputs()`
 * names them, and the emission records them, as absolute paths, under the
 * first task the call consumed, in the same transaction as its edges (the
 * `outputs` section of the write batch). A task whose recorded outputs are
 * gone is not complete: the run voids it and consumes it again. Sealed with
 * a CRC32 seeded with the task id (value-check.js), so a damaged row is
 * LINEAGE_CORRUPT, never a path that happens to be missing.
 */
import { isAbsolute, resolve } from 'node:path';
import { ErrorCodes, LineageError } from '../errors/lineage-error.js';
import type { Shard } from './shard.js';
import type { RecordedOutputs } from './types.js';
import { rootOf, stageOf, udidHexOf } from './task-record.js';
import { DamagedValueError, unseal } from './value-check.js';

/** Longest list of paths one call may record, in bytes of JSON (a list of files, not their contents). */
export const MAX_OUTPUTS_BYTES = 64 * 1024;

/**
 * The JSON of an emission's output paths, each made absolute against the
 * working directory; throws INVALID_ARGUMENT naming the stage unless every
 * path is a non-empty string.
 */
export function outputsJson(stage: string, outputs: unknown): string {
  const bad = (what: string) =>
    new LineageError(
      ErrorCodes.INVALID_ARGUMENT,
      `recordEmission: stage "${stage}" gave outputs ${what}; give an array of the paths of the files the call wrote (strings). Nothing was recorded.`,
    );
  if (!Array.isArray(outputs)) throw bad(`of type ${outputs === null ? 'null' : typeof outputs}`);
  const paths: string[] = [];
  for (const p of outputs as unknown[]) {
    if (typeof p !== 'string' || p.length === 0 || p.includes('\0')) throw bad(`holding ${p === null ? 'null' : typeof p === 'string' ? JSON.stringify(p) : `a ${typeof p}`}`);
    paths.push(isAbsolute(p) ? p : resolve(p));
  }
  const json = JSON.stringify(paths);
  if (Buffer.byteLength(json) > MAX_OUTPUTS_BYTES) throw bad(`of ${Buffer.byteLength(json)} bytes of JSON (at most ${MAX_OUTPUTS_BYTES})`);
  return json;
}

/** Every task of the shard with recorded outputs, in id order, from one read transaction. */
export function* outputRows(shard: Shard): Generator<RecordedOutputs> {
  for (const { id, paths } of outputPaths(shard)) yield { ...outputTask(shard, id), paths };
}

/** The recorded outputs of the shard by task id, without resolving the tasks (a check needs only the paths). */
export function* outputPaths(shard: Shard): Generator<{ id: number; paths: string[] }> {
  const db = shard.outputs;
  if (!db) return;
  const txn = shard.env.useReadTransaction();
  try {
    for (const { key, value } of db.getRange({ transaction: txn } as never) as Iterable<{ key: number; value: Buffer }>) {
      const body = shard.checked(() => unseal(value, key, 1, `the outputs of task ${key}`));
      yield { id: key, paths: shard.checked(() => parsePaths(body.toString('utf8'), key)) };
    }
  } finally {
    txn.done();
  }
}

/** The task an outputs row is keyed by: its UDID, source and the stage that emitted it. */
export function outputTask(shard: Shard, id: number): Omit<RecordedOutputs, 'paths'> {
  const record = shard.recordOf(id);
  if (!record) throw shard.damaged(`the outputs row of task ${id} names no task`);
  const udid = udidHexOf(record, 0);
  const stage = shard.stageName(stageOf(record, 0));
  // Last: reading the root's source row reads the root's record, and `record` is a view that read may reuse.
  const sourceKey = shard.sourceKeyOf(rootOf(record, 0)) ?? null;
  return { udid, sourceKey, stage };
}

function parsePaths(json: string, id: number): string[] {
  let paths: unknown;
  try {
    paths = JSON.parse(json);
  } catch {
    paths = null;
  }
  if (!Array.isArray(paths) || paths.some((p) => typeof p !== 'string')) throw new DamagedValueError(`the outputs of task ${id} are not a list of paths`);
  return paths as string[];
}
