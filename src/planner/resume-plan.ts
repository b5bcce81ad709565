/**
 * The shape of a resume plan (docs/design.md §6): verdicts, the codes that
 * decide them, and what a plan says per source, per stage and per stateful
 * stage. plan-resume.ts computes it; lineage plan prints it.
 */
import type { StageFingerprint } from '../store/manifest.js';
import type { StateCheckpoint } from '../store/state-checkpoint-log.js';
import type { Stage } from '../model/stage.js';

export type Verdict = 'skip' | 'resume' | 'new' | 'invalidated';

/**
 * What decided a source's verdict (docs/design.md §6), stable for scripts:
 * - `complete` (skip): its root is complete.
 * - `new`: the checkpoint has never seen it.
 * - `incomplete` (resume): tasks are left that no stage consumed (a stop or a crash).
 * - `failed` (resume): a stage failed on one of its tasks.
 * - `stage-changed` (invalidated): a stage its completion depended on changed id, order or version.
 * - `params-changed` (invalidated): such a stage kept its id and version but changed its `params`.
 * - `input-changed`, `output-missing`, `invalidated-by-hand`: the triggers for an edited input,
 *   a deleted output and `lineage invalidate`.
 */
export type VerdictCode =
  | 'complete'
  | 'new'
  | 'incomplete'
  | 'failed'
  | 'input-changed'
  | 'stage-changed'
  | 'params-changed'
  | 'output-missing'
  | 'invalidated-by-hand';

/** Every code, in the order the text output groups them. */
export const VERDICT_CODES: readonly VerdictCode[] = [
  'failed',
  'incomplete',
  'input-changed',
  'stage-changed',
  'params-changed',
  'output-missing',
  'invalidated-by-hand',
  'new',
  'complete',
];

/** A task the rerun will execute again because it failed or no stage consumed it. */
export interface OpenTask {
  readonly udid: string;
  /** Stage that emitted it (null: the source's root). */
  readonly stage: string | null;
  readonly status: 'failed' | 'pending';
  /** The stage that failed on it, or that would consume it next. */
  readonly at: string | null;
  readonly error?: string;
}

export interface SourcePlan {
  readonly sourceKey: string;
  readonly udid: string;
  readonly verdict: Verdict;
  /** What decided the verdict (see VerdictCode). */
  readonly code: VerdictCode;
  /** One line: why, for people. */
  readonly reason: string;
  /** With `input-changed`: the fingerprint recorded for the source's input, and the one it has now. */
  readonly input?: { readonly recorded: string; readonly current: string };
  /** With `output-missing`: the first few tasks whose recorded output is gone (the path, and the stage that emitted the task). */
  readonly missingOutputs?: readonly { readonly udid: string; readonly stage: string | null; readonly path: string }[];
  /** Completed subtrees the rerun drops before they execute. */
  readonly pruned: number;
  /** Known tasks of the source that will execute again. */
  readonly rerun: number;
  readonly failed: number;
  /** Tasks no stage consumed yet (the run stopped before them). */
  readonly pending: number;
  /** The first few failed or pending tasks (see `lineage plan --explain` for paths). */
  readonly open: OpenTask[];
}

export interface StagePlan {
  readonly stage: string;
  /** Known tasks this stage will consume again. */
  readonly rerun: number;
  /** Completed tasks dropped at this stage's input. */
  readonly pruned: number;
}

/** A stateful stage with recorded checkpoints (docs/design.md §8). */
export interface StatePlan {
  readonly stage: string;
  readonly writerId: string;
  /** The checkpoint a resume offers first: the newest. */
  readonly offered: StateCheckpoint;
  /** Checkpoints recorded (all offered, newest first). */
  readonly kept: number;
  /** Inputs the offered checkpoint holds: restored, they are not fed to absorb again (0 when void). */
  readonly inputsSaved: number;
  /** The pipeline changed at or before this stage: its checkpoints will be dropped and every input absorbed again. */
  readonly void: boolean;
}

export interface ResumePlan {
  readonly checkpoint: string;
  readonly mode: 'dag' | 'sources';
  readonly fingerprint: {
    readonly stored: StageFingerprint[] | null;
    readonly current: StageFingerprint[] | null;
    readonly changed: boolean;
    /** What changed, e.g. `stage "clean" changed version 1 → 2`. */
    readonly change: string | null;
    /** `stage-changed` or `params-changed` when it changed; null otherwise. */
    readonly code: 'stage-changed' | 'params-changed' | null;
    /** With `params-changed`: the top-level params keys added, removed or changed. */
    readonly paramsChanged?: readonly string[];
    /** The change was accepted as cosmetic: completion is kept. */
    readonly accepted: boolean;
  };
  readonly totals: {
    readonly sources: number;
    readonly skip: number;
    readonly resume: number;
    readonly new: number;
    readonly invalidated: number;
    /** Tasks the checkpoint knows (all shards). */
    readonly tasks: number;
    readonly complete: number;
    readonly prunedSubtrees: number;
    readonly rerunTasks: number;
    /** Share (0..1) of the known stage work a rerun will not redo. */
    readonly workSaved: number;
  };
  /** Per stage of the pipeline (or of the checkpoint's fingerprint); empty in source-counter mode. */
  readonly stages: StagePlan[];
  /** Stateful stages with recorded checkpoints, per writer. */
  readonly stateful: StatePlan[];
  readonly sources: SourcePlan[];
}

export interface PlanOptions {
  /** Source keys of the next run (default: every source the checkpoint knows); a source's `fingerprint` is compared with the recorded one. */
  readonly sources?: Iterable<string | { readonly key: string; readonly fingerprint?: string }>;
  /** The pipeline of the next run (default: the one the checkpoint was written with). */
  readonly pipeline?: { readonly stages: readonly Stage[] } | readonly StageFingerprint[];
  /** Plan as if the fingerprint change were accepted (`acceptChange` of `run`). */
  readonly acceptChange?: boolean;
  /** Open tasks listed per source. Default 3. */
  readonly openPerSource?: number;
  /** Check that every recorded output still exists (a task with one gone is not complete). Default true. */
  readonly checkOutputs?: boolean;
}

/** The reason of an `input-changed` verdict. */
export function inputChangedReason(input: { readonly recorded: string; readonly current: string }, tail: string): string {
  return `input changed (fingerprint ${short(input.recorded)} → ${short(input.current)}): ${tail}`;
}

/** A fingerprint as a reason shows it: long ones cut. */
function short(fingerprint: string): string {
  return fingerprint.length <= 48 ? fingerprint : `${fingerprint.slice(0, 45)}…`;
}
