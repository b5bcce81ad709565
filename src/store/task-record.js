// @ts-check
/**
 * @internal
 * The codec of a task's 30-byte record, the unit of the `meta` sub-DB
 * (meta-blocks.js packs 32 of them to a value). No other module knows a
 * byte offset of it: they read fields through these functions and write a
 * record through writeTaskRecord or the setters.
 *
 * | bytes | field                                                             |
 * |-------|-------------------------------------------------------------------|
 * | 0-15  | UDID                                                              |
 * | 16-17 | stage that emitted the task (u16 LE; 0 for a root)                |
 * | 18-21 | root (source) task id (u32 LE); 0 marks an absent record          |
 * | 22    | flags: 1 terminal, 2 has parents, 4 has children (the task type)  |
 * | 23    | outcome: 0 none, 1 emitted, 2 filtered, 3 failed                  |
 * | 24-25 | stage that consumed the task (u16 LE; 0 with no outcome)          |
 * | 26-29 | run that completed the task (u32 LE; 0: not complete)             |
 *
 * Every function takes the buffer and the record's offset in it, so a scan
 * reads a field of a block in place, without a view per record.
 *
 * Plain JavaScript: the write thread (write-worker.js) loads meta-blocks.js,
 * which needs it, without a TypeScript step.
 */

/** Bytes of a task's record. */
export const TASK_RECORD_SIZE = 30;
/** Bytes of a UDID, the record's first field. */
export const UDID_SIZE = 16;

const STAGE_AT = 16;
const ROOT_AT = 18;
const FLAGS_AT = 22;
const OUTCOME_AT = 23;
const OUTCOME_STAGE_AT = 24;
const COMPLETED_RUN_AT = 26;

export const FLAG_TERMINAL = 1;
export const FLAG_HAS_PARENTS = 2;
export const FLAG_HAS_CHILDREN = 4;

export const OUTCOME_NONE = 0;
export const OUTCOME_EMITTED = 1;
export const OUTCOME_FILTERED = 2;
export const OUTCOME_FAILED = 3;
/** The outcome field's values by name (index = value). @type {readonly (import('./types.js').OutcomeKind | null)[]} */
export const OUTCOME_KINDS = [null, 'emitted', 'filtered', 'failed'];

/** Task types by the edge-presence flags: index (has parents ? 2 : 0) | (has children ? 1 : 0). @type {readonly import('./types.js').TaskType[]} */
export const TASK_TYPES = ['source_leaf', 'source', 'leaf', 'middle'];

/** The structural type from a record's flags. @param {number} flags */
export function typeOfFlags(flags) {
  return /** @type {import('./types.js').TaskType} */ (TASK_TYPES[((flags & FLAG_HAS_PARENTS) !== 0 ? 2 : 0) | ((flags & FLAG_HAS_CHILDREN) !== 0 ? 1 : 0)]);
}

/** Whether the record at `at` is present (its root is set: ids start at 1). @param {Buffer} b @param {number} at */
export function isPresent(b, at) {
  return b.readUInt32LE(at + ROOT_AT) !== 0;
}

/** A view of the record's UDID. @param {Buffer} b @param {number} at */
export function udidOf(b, at) {
  return b.subarray(at, at + UDID_SIZE);
}

/** The record's UDID in hex. @param {Buffer} b @param {number} at */
export function udidHexOf(b, at) {
  return b.toString('hex', at, at + UDID_SIZE);
}

/** Stage number that emitted the task (0: a root). @param {Buffer} b @param {number} at */
export function stageOf(b, at) {
  return b.readUInt16LE(at + STAGE_AT);
}

/** The task's root (source) id. @param {Buffer} b @param {number} at */
export function rootOf(b, at) {
  return b.readUInt32LE(at + ROOT_AT);
}

/** @param {Buffer} b @param {number} at */
export function flagsOf(b, at) {
  return /** @type {number} */ (b[at + FLAGS_AT]);
}

/** OUTCOME_NONE, _EMITTED, _FILTERED or _FAILED. @param {Buffer} b @param {number} at */
export function outcomeOf(b, at) {
  return /** @type {number} */ (b[at + OUTCOME_AT]);
}

/** Stage number that consumed the task (0 with no outcome). @param {Buffer} b @param {number} at */
export function outcomeStageOf(b, at) {
  return b.readUInt16LE(at + OUTCOME_STAGE_AT);
}

/** Run that completed the task; 0 when it is not complete. @param {Buffer} b @param {number} at */
export function completedRunOf(b, at) {
  return b.readUInt32LE(at + COMPLETED_RUN_AT);
}

/** Sets the run that completed the task (0: not complete). @param {Buffer} b @param {number} at @param {number} run */
export function setCompletedRun(b, at, run) {
  b.writeUInt32LE(run, at + COMPLETED_RUN_AT);
}

/** Sets the record's flags. @param {Buffer} b @param {number} at @param {number} flags */
export function setFlags(b, at, flags) {
  b[at + FLAGS_AT] = flags;
}

/** Clears the task's outcome and the stage that consumed it. @param {Buffer} b @param {number} at */
export function clearOutcome(b, at) {
  b[at + OUTCOME_AT] = OUTCOME_NONE;
  b.writeUInt16LE(0, at + OUTCOME_STAGE_AT);
}

/**
 * Writes a whole record at `at`; the UDID as four u32 words (little-endian,
 * as the session keeps them). Plain byte stores: Buffer#write*LE checks its
 * arguments, and the writer calls this for every record of a batch.
 * @param {Buffer} b @param {number} at
 * @param {number} u0 @param {number} u1 @param {number} u2 @param {number} u3
 * @param {number} stage @param {number} root @param {number} flags
 * @param {number} outcome @param {number} outcomeStage @param {number} completedRun
 */
export function writeTaskRecord(b, at, u0, u1, u2, u3, stage, root, flags, outcome, outcomeStage, completedRun) {
  put32(b, at, u0);
  put32(b, at + 4, u1);
  put32(b, at + 8, u2);
  put32(b, at + 12, u3);
  b[at + STAGE_AT] = stage;
  b[at + STAGE_AT + 1] = stage >>> 8;
  put32(b, at + ROOT_AT, root);
  b[at + FLAGS_AT] = flags;
  b[at + OUTCOME_AT] = outcome;
  b[at + OUTCOME_STAGE_AT] = outcomeStage;
  b[at + OUTCOME_STAGE_AT + 1] = outcomeStage >>> 8;
  put32(b, at + COMPLETED_RUN_AT, completedRun);
}

/** @param {Buffer} b @param {number} at @param {number} v */
function put32(b, at, v) {
  b[at] = v;
  b[at + 1] = v >>> 8;
  b[at + 2] = v >>> 16;
  b[at + 3] = v >>> 24;
}
