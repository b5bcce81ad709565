/**
 * Checks a pipeline definition before anything runs, so a typo fails at
 * construction with the stage named, not hours into a run.
 */
import { ErrorCodes, LineageError } from '../errors/lineage-error.js';
import { timeoutProblem } from './call-timeout.js';
import { CHECKPOINTABLE_METHODS } from '../model/checkpointable.js';
import type { Stage } from '../model/stage.js';
import { paramsFingerprint } from '../model/stage-params.js';

export function validateStages(stages: readonly Stage[]): void {
  if (!Array.isArray(stages) || stages.length === 0) {
    throw new LineageError(ErrorCodes.INVALID_PIPELINE, 'new Pipeline(stages): give at least one stage, e.g. new Pipeline([{ id: "split", process: ... }]).');
  }
  const seen = new Set<string>();
  stages.forEach((stage, i) => {
    const where = `stage #${i + 1}${typeof stage?.id === 'string' && stage.id ? ` ("${stage.id}")` : ''}`;
    const bad = (what: string) => new LineageError(ErrorCodes.INVALID_PIPELINE, `new Pipeline: ${where} ${what}`);
    if (stage === null || typeof stage !== 'object') throw bad(`is ${JSON.stringify(stage)}, not a stage object.`);
    if (typeof stage.id !== 'string' || stage.id.length === 0) throw bad('needs a non-empty string `id`: it names the stage in every lineage path.');
    if (seen.has(stage.id)) throw bad(`repeats the id "${stage.id}"; stage ids must be unique within a pipeline.`);
    seen.add(stage.id);
    const s = stage as unknown as Record<string, unknown>;
    const hasProcess = typeof s.process === 'function';
    const hasBatch = typeof s.processBatch === 'function';
    const stateful = typeof s.absorb === 'function' || typeof s.finish === 'function';
    if (Number(hasProcess) + Number(hasBatch) + Number(stateful) !== 1) {
      throw bad('needs exactly one of `process(input, ctx)`, `processBatch(inputs, ctx)`, or `absorb(input, ctx)` with `finish(ctx)` (a stateful stage).');
    }
    if (stateful) validateStateful(s, bad);
    else {
      const present = CHECKPOINTABLE_METHODS.filter((m) => s[m] !== undefined);
      if (present.length > 0) {
        throw bad(`has ${present.join(', ')}: checkpointed state is for stateful stages; give it absorb(input, ctx) and finish(ctx) instead of process/processBatch.`);
      }
    }
    if (s.version !== undefined && typeof s.version !== 'string') throw bad(`has version ${JSON.stringify(s.version)}; a version is a string such as "2".`);
    // Refuses params JSON cannot keep exactly, naming the stage and the path of the value.
    if (s.params !== undefined) paramsFingerprint(stage.id, s.params);
    if (s.outputs !== undefined && typeof s.outputs !== 'function') throw bad('has an `outputs` that is not a function; give outputs(result, ctx) returning the paths of the files a call wrote.');
    if (hasProcess && (s.groupBy !== undefined || s.batchSize !== undefined)) throw bad('sets groupBy or batchSize, which only a `processBatch` stage uses.');
    if (hasBatch) {
      if (s.groupBy !== undefined && s.batchSize !== undefined) throw bad('sets both groupBy (keyed groups) and batchSize (arrival order); choose one.');
      if (s.groupBy === undefined && s.batchSize === undefined) {
        throw bad("is a processBatch stage without groupBy or batchSize: use groupBy: 'source' (or a key function) to fan in reproducibly.");
      }
      if (s.groupBy !== undefined && s.groupBy !== 'source' && typeof s.groupBy !== 'function') throw bad("has groupBy that is neither 'source' nor a function.");
      if (s.batchSize !== undefined && !(Number.isSafeInteger(s.batchSize) && (s.batchSize as number) >= 1)) throw bad('has a batchSize that is not a whole number ≥ 1.');
    }
    const timeout = s.timeoutMs === undefined ? null : timeoutProblem(s.timeoutMs);
    if (timeout) throw bad(`has ${timeout}`);
    for (const k of ['concurrency', 'retries'] as const) {
      const v = s[k];
      if (v !== undefined && !(Number.isSafeInteger(v) && (v as number) >= (k === 'concurrency' ? 1 : 0))) throw bad(`has ${k} ${JSON.stringify(v)}; expected a whole number.`);
    }
  });
}

function validateStateful(s: Record<string, unknown>, bad: (what: string) => Error): void {
  if (typeof s.absorb !== 'function' || typeof s.finish !== 'function') {
    throw bad(`is a stateful stage with ${typeof s.absorb === 'function' ? 'absorb but no finish(ctx)' : 'finish but no absorb(input, ctx)'}; it needs both.`);
  }
  if (s.groupBy !== undefined || s.batchSize !== undefined) throw bad('sets groupBy or batchSize, which a stateful stage does not use: it absorbs every input one at a time.');
  if (s.concurrency !== undefined && s.concurrency !== 1) throw bad(`has concurrency ${JSON.stringify(s.concurrency)}; a stateful stage absorbs one input at a time, so drop concurrency (or set 1).`);
  const present = CHECKPOINTABLE_METHODS.filter((m) => s[m] !== undefined);
  const missing = CHECKPOINTABLE_METHODS.filter((m) => typeof s[m] !== 'function');
  if (present.length > 0 && missing.length > 0) {
    throw bad(`implements Checkpointable only in part: ${missing.join(', ')} ${missing.length > 1 ? 'are' : 'is'} missing (or not a function). Give all four, or none.`);
  }
  const keep = s.keepCheckpoints === undefined ? null : keepCheckpointsProblem(s.keepCheckpoints);
  if (keep) throw bad(`sets ${keep}`);
}

/**
 * Why a keepCheckpoints value is refused, or null. At least 2: saving the
 * state and recording the checkpoint are two steps, so the previous
 * checkpoint must survive until the new one is recorded.
 */
export function keepCheckpointsProblem(value: unknown): string | null {
  if (Number.isSafeInteger(value) && (value as number) >= 2) return null;
  return (
    `keepCheckpoints ${JSON.stringify(value)}: keep at least 2 (a whole number). Saving the state and recording the checkpoint are two steps, ` +
    'so the previous checkpoint must survive until the new one is recorded.'
  );
}
