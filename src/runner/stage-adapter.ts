/**
 * The adapter: wraps a stage so that one call runs it (with retries), gives
 * its children their lineage (step 1, `assignChildLineage`) and records the
 * emission or the failure (step 2, `recordEmission`/`recordFailure`) only
 * after the stage's work resolved, so a recorded output already exists.
 * The `Pipeline` uses it; so can any other executor. For a stateful stage
 * a call runs `finish`, with `tasks` the inputs its state absorbed: they all
 * become its children's parents.
 *
 * @example
 * const split = adaptStage(splitStage, { recorder: store });
 * const { children } = await split.call([{ data: file, lineage: rootLineage(file) }]);
 */
import { boundErrorText, errorText } from '../errors/error-text.js';
import { ErrorCodes, LineageError } from '../errors/lineage-error.js';
import type { Lineage } from '../identity/lineage.js';
import type { EmissionRecord, FailureRecord } from '../store/types.js';
import { assignChildLineage, type Assigned, type Child } from './assign-child-lineage.js';
import { withTimeout } from './call-timeout.js';
import {
  isBatchStage,
  isFailed,
  isStatefulStage,
  type BatchContext,
  type BatchStage,
  type FinishContext,
  type MapStage,
  type Stage,
  type StageResult,
  type StatefulStage,
  type TaskContext,
} from '../model/stage.js';

/** Where emissions go: a `LineageStore`, or anything with the same two methods. */
export interface Recorder {
  /** May return false to say that no child is complete yet (see `StageCall.completeChildren`). */
  recordEmission(record: EmissionRecord): boolean | void;
  recordFailure(record: FailureRecord): boolean;
}

/** A task handed to a stage: its data and its lineage. */
export interface StageTask<In = unknown> {
  readonly data: In;
  readonly lineage: Lineage;
}

export interface AdapterOptions {
  /** Records emissions and failures; none records nothing. */
  readonly recorder?: Recorder | null;
  /** The stage is the pipeline's last: its children are outputs, complete once recorded. */
  readonly terminal?: boolean;
  /** Extra tries after a failure, unless the stage sets its own `retries`. Default 0. */
  readonly retries?: number;
  /** Time limit of one call, unless the stage sets its own `timeoutMs`. Default: none. */
  readonly timeoutMs?: number;
}

export interface StageCall<Out = unknown> {
  readonly kind: 'children' | 'filtered' | 'failed';
  readonly children: readonly Child<Out>[];
  /** The failure's text, for `failed`. */
  readonly error?: string;
  readonly attempts: number;
  /**
   * False when the recorder said that no child is complete, so a runner need
   * not ask it about each child before running it; true when some child is or
   * may be (the recorder did not say, or there is none).
   */
  readonly completeChildren: boolean;
}

export interface StageAdapter<In = unknown, Out = unknown> {
  readonly stage: Stage<In, Out>;
  /** Runs the stage on `tasks` (exactly one for a `process` stage; a stateful stage's absorbed inputs for `finish`) and records the result. */
  call(tasks: readonly StageTask<In>[], groupKey?: string | null): Promise<StageCall<Out>>;
  /** @internal Same as `call`, but synchronous when the stage is. */
  invoke(tasks: readonly StageTask<In>[], groupKey?: string | null): StageCall<Out> | Promise<StageCall<Out>>;
}

/** The empty list a filtered or failed call gives. */
const NO_CHILDREN: readonly never[] = [];

export function adaptStage<In, Out>(stage: Stage<In, Out>, options: AdapterOptions = {}): StageAdapter<In, Out> {
  const recorder = options.recorder ?? null;
  const terminal = options.terminal === true;
  const tries = 1 + (stage.retries ?? options.retries ?? 0);
  const timeoutMs = stage.timeoutMs ?? options.timeoutMs ?? 0;
  const key = stage.key?.bind(stage);
  const batch = isBatchStage(stage);
  const stateful = isStatefulStage(stage);

  const contextOf = (tasks: readonly StageTask<In>[], groupKey: string | null, n: number): TaskContext | BatchContext | FinishContext => {
    if (stateful) return { stage: stage.id, inputs: tasks.length, sourceKey: commonSource(tasks), attempt: n };
    if (batch) return { stage: stage.id, tasks: tasks.map((t) => taskContext(stage.id, t.lineage, n)), groupKey, sourceKey: commonSource(tasks), attempt: n };
    return taskContext(stage.id, tasks[0]!.lineage, n);
  };

  const attempt = (tasks: readonly StageTask<In>[], groupKey: string | null, n: number): StageResult<Out> | Promise<StageResult<Out>> => {
    const ctx = contextOf(tasks, groupKey, n);
    if (stateful) return (stage as StatefulStage<In, Out>).finish(ctx as FinishContext);
    if (batch) return (stage as BatchStage<In, Out>).processBatch(tasks.map((t) => t.data), ctx as BatchContext);
    return (stage as MapStage<In, Out>).process(tasks[0]!.data, ctx as TaskContext);
  };

  /** The files the call wrote, from the stage's `outputs()`; LINEAGE_BAD_OUTPUTS, before anything is recorded, unless it gives strings. */
  const outputsOf = (tasks: readonly StageTask<In>[], groupKey: string | null, result: Out | readonly Out[], attempts: number): readonly string[] => {
    const task = `task ${tasks[0]!.lineage.udid}${tasks.length > 1 ? ` (and ${tasks.length - 1} more)` : ''} of source "${tasks[0]!.lineage.sourceKey}"`;
    let paths: unknown;
    try {
      paths = stage.outputs!(result, contextOf(tasks, groupKey, attempts - 1));
    } catch (err) {
      throw new LineageError(ErrorCodes.BAD_OUTPUTS, `stage "${stage.id}": outputs() threw for ${task}: ${errorText(err)}. Nothing of this call was recorded; fix outputs() and run again.`, { cause: err });
    }
    if (!Array.isArray(paths) || paths.some((p) => typeof p !== 'string' || p.length === 0)) {
      throw new LineageError(
        ErrorCodes.BAD_OUTPUTS,
        `stage "${stage.id}": outputs() returned ${describeOutputs(paths)} for ${task}; it must return an array of the paths (strings) of the files the call wrote. Nothing of this call was recorded.`,
      );
    }
    return paths as string[];
  };

  /** `thrown`: the failure text of a throw or rejection (whatever was thrown), else null and `result` is what the stage returned. */
  const settle = (tasks: readonly StageTask<In>[], groupKey: string | null, result: StageResult<Out> | undefined, thrown: string | null, attempts: number): StageCall<Out> => {
    const parents = tasks.map((t) => t.lineage);
    let assigned: Assigned<Out>;
    if (thrown !== null) assigned = { kind: 'failed', reason: thrown };
    else {
      try {
        assigned = assignChildLineage(stage.id, parents, result, key ? { key } : {});
      } catch (err) {
        // A key() that throws or gives no usable key, two children with one key: the stage's output is unusable, so the call failed.
        assigned = { kind: 'failed', reason: errorText(err) };
      }
    }
    if (assigned.kind === 'failed') {
      const reason = boundErrorText(assigned.reason);
      if (recorder) for (const t of tasks) recorder.recordFailure({ stage: stage.id, task: t.lineage, error: reason });
      return { kind: 'failed', children: NO_CHILDREN, error: reason, attempts, completeChildren: false };
    }
    const children = assigned.kind === 'children' ? assigned.children : NO_CHILDREN;
    const lineages = children.length === 0 ? NO_CHILDREN : children.map((c) => c.lineage);
    const outputs = stage.outputs && children.length > 0 ? outputsOf(tasks, groupKey, result as Out | readonly Out[], attempts) : undefined;
    const complete = recorder?.recordEmission({ stage: stage.id, parents, children: lineages, terminal, ...(outputs ? { outputs } : {}) });
    return { kind: assigned.kind, children, attempts, completeChildren: complete !== false && children.length > 0 };
  };

  const invoke = (tasks: readonly StageTask<In>[], groupKey: string | null = null): StageCall<Out> | Promise<StageCall<Out>> => {
    for (let n = 0; n < tries; n++) {
      let result: StageResult<Out> | Promise<StageResult<Out>>;
      try {
        result = attempt(tasks, groupKey, n);
      } catch (err) {
        if (n + 1 < tries) continue;
        return settle(tasks, groupKey, undefined, errorText(err), n + 1);
      }
      if (isThenable(result)) return finishAsync(tasks, groupKey, result, n);
      if (isFailed(result) && n + 1 < tries) continue;
      return settle(tasks, groupKey, result, null, n + 1);
    }
    throw new Error('unreachable');
  };

  const finishAsync = async (tasks: readonly StageTask<In>[], groupKey: string | null, first: Promise<StageResult<Out>>, n0: number): Promise<StageCall<Out>> => {
    let pending: StageResult<Out> | Promise<StageResult<Out>> = first;
    for (let n = n0; ; n++) {
      // Only the stage's own work is inside the try: an error of the recorder (settle) is the store's, never the task's.
      let result: StageResult<Out>;
      try {
        result = timeoutMs > 0 && isThenable<StageResult<Out>>(pending) ? await withTimeout(pending, timeoutMs) : await pending;
      } catch (err) {
        if (n + 1 >= tries) return settle(tasks, groupKey, undefined, errorText(err), n + 1);
        result = RETRY as StageResult<Out>;
      }
      if (result !== RETRY && (!isFailed(result) || n + 1 >= tries)) return settle(tasks, groupKey, result, null, n + 1);
      try {
        pending = attempt(tasks, groupKey, n + 1);
      } catch (err) {
        pending = Promise.reject(err);
      }
    }
  };

  return {
    stage,
    invoke,
    call: async (tasks, groupKey = null) => {
      if (!batch && !stateful && tasks.length !== 1) throw new TypeError(`stage "${stage.id}" takes one task per call (it has no processBatch), got ${tasks.length}`);
      return invoke(tasks, groupKey);
    },
  };
}

/** Marks an attempt that threw and will be tried again. */
const RETRY: unique symbol = Symbol('retry');

function isThenable<T>(value: unknown): value is Promise<T> {
  return typeof value === 'object' && value !== null && typeof (value as { then?: unknown }).then === 'function';
}

function taskContext(stage: string, lineage: Lineage, attempt: number): TaskContext {
  return { stage, udid: lineage.udid, sourceKey: lineage.sourceKey, lineage, attempt };
}

function commonSource(tasks: readonly StageTask[]): string | null {
  const first = tasks[0]?.lineage.sourceKey ?? null;
  for (const t of tasks) if (t.lineage.sourceKey !== first) return null;
  return first;
}

/** What `outputs()` gave, as its author would recognise it. */
function describeOutputs(value: unknown): string {
  if (Array.isArray(value)) {
    const bad = value.find((p) => typeof p !== 'string' || p.length === 0);
    return `an array holding ${bad === '' ? 'an empty string' : bad === null ? 'null' : `a ${typeof bad}`}`;
  }
  if (value === null) return 'null';
  return typeof value === 'object' && typeof (value as { then?: unknown }).then === 'function' ? 'a promise (outputs() must return the paths at once)' : `a ${typeof value}`;
}
