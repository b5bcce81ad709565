/**
 * The resume plan (docs/design.md §6): what a rerun over a checkpoint will skip,
 * redo and why, computed without running anything and without writing.
 * Returned as a value with a verdict per source, never thrown half-way:
 *
 * - `skip`: the source's root is complete; it never enters the pipeline.
 * - `resume`: known and incomplete; completed subtrees are pruned, the
 *   failed and never-consumed tasks (and what leads to them) rerun.
 * - `new`: the checkpoint has never seen it.
 * - `invalidated`: it was complete, but the pipeline changed at a stage its
 *   completion depended on.
 *
 * Stateful stages with recorded checkpoints get a line each: the checkpoint a
 * resume is offered first (the newest) and how many absorbed inputs it holds.
 *
 * One pass over a columnar image of the checkpoint (see task-table.ts), so
 * it stays fast and small on millions of tasks.
 */
import { completeTable } from '../store/batch-completion.js';
import { loadTaskTable, type TaskTable } from '../store/task-table.js';
import { rootLineage } from '../identity/lineage.js';
import { LineageStore } from '../store/lineage-store.js';
import type { StageFingerprint } from '../store/manifest.js';
import type { StateCheckpoint } from '../store/state-checkpoint-log.js';
import { OUTCOME_FAILED } from '../store/task-record.js';
import { stageFingerprint, type Stage } from '../model/stage.js';
import { compareFingerprints } from './fingerprint.js';

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
  /** Source keys of the next run (default: every source the checkpoint knows). */
  readonly sources?: Iterable<string | { readonly key: string }>;
  /** The pipeline of the next run (default: the one the checkpoint was written with). */
  readonly pipeline?: { readonly stages: readonly Stage[] } | readonly StageFingerprint[];
  /** Plan as if the fingerprint change were accepted (`acceptChange` of `run`). */
  readonly acceptChange?: boolean;
  /** Open tasks listed per source. Default 3. */
  readonly openPerSource?: number;
}

/** Plans a rerun over the checkpoint at `checkpoint` (a path or an open store). */
export async function planResume(checkpoint: string | LineageStore, options: PlanOptions = {}): Promise<ResumePlan> {
  const store = typeof checkpoint === 'string' ? await LineageStore.open(checkpoint, { readOnly: true }) : checkpoint;
  try {
    return planOver(store, options);
  } finally {
    if (typeof checkpoint === 'string') await store.close();
  }
}

function planOver(store: LineageStore, options: PlanOptions): ResumePlan {
  const stored = store.manifest.fingerprint;
  const current = options.pipeline === undefined ? stored : 'stages' in options.pipeline ? stageFingerprint(options.pipeline.stages) : [...options.pipeline];
  const change = stored && current ? compareFingerprints(stored, current) : null;
  const changed = change !== null && change.firstChanged >= 0;
  const accepted = changed && options.acceptChange === true;
  const fingerprint = {
    stored,
    current,
    changed,
    change: change?.description ?? null,
    code: changed ? change!.code : null,
    ...(changed && change!.paramsChanged ? { paramsChanged: change!.paramsChanged } : {}),
    accepted,
  };
  const wanted = options.sources === undefined ? null : [...options.sources].map((s) => (typeof s === 'string' ? s : s.key));
  if (store.mode === 'sources') return planSources(store, wanted, fingerprint, changed && !accepted);

  const t = loadTaskTable(store.shards);
  const done = changed && !accepted ? completeTable(t, keptStages(t, change!.kept)) : completeTable(t);
  const order = current ?? stored ?? [];
  // Position in the next run's pipeline of the stage that consumes a task emitted by global stage s.
  const position = new Map(order.map((s, i) => [s.id, i]));
  const consumer = Int32Array.from(t.stageNames, (name, s) => (s === 0 ? 0 : (position.get(name) ?? -2) + 1));
  const n = order.length;

  const limit = options.openPerSource ?? 3;
  const perRoot = new Map<number, { pruned: number; rerun: number; failed: number; pending: number; open: number[]; byHand?: string }>();
  const hand = handInvalidations(store);
  const stageRerun = new Float64Array(n);
  const stagePruned = new Float64Array(n);
  let prunedSubtrees = 0;
  let rerunTasks = 0;
  let work = 0;
  let saved = 0;
  const statsOf = (r: number) => {
    let s = perRoot.get(r);
    if (!s) perRoot.set(r, (s = { pruned: 0, rerun: 0, failed: 0, pending: 0, open: [] }));
    return s;
  };
  for (let i = 0; i < t.size; i++) {
    if (t.terminal[i]) continue; // outputs: no stage consumes them
    const at = consumer[t.emitStage[i]!]!;
    work++;
    if (done[i]) {
      saved++;
      // A complete task under an incomplete parent is where the rerun prunes.
      let underOpen = false;
      for (let e = t.parentStart[i]!; e < t.parentStart[i + 1]!; e++) if (!done[t.parents[e]!]) underOpen = true;
      if (underOpen) {
        prunedSubtrees++;
        statsOf(t.root[i]!).pruned++;
        if (at >= 0 && at < n) stagePruned[at]!++;
      }
      continue;
    }
    rerunTasks++;
    const s = statsOf(t.root[i]!);
    s.rerun++;
    if (at >= 0 && at < n) stageRerun[at]!++;
    if (t.outcome[i] === OUTCOME_FAILED) s.failed++;
    else if (t.outcome[i] === 0) {
      s.pending++;
      if (hand !== null && s.byHand === undefined) s.byHand = hand.match(t.udidAt(i), order[at]?.id ?? null);
    } else continue;
    if (s.open.length < limit) s.open.push(i);
  }

  const openTask = (i: number): OpenTask => {
    const failed = t.outcome[i] === OUTCOME_FAILED;
    const at = consumer[t.emitStage[i]!]!;
    return {
      udid: t.udidAt(i),
      stage: t.emitStage[i] === 0 ? null : t.stageNames[t.emitStage[i]!]!,
      status: failed ? 'failed' : 'pending',
      at: failed ? t.stageNames[t.outcomeStage[i]!]! : (order[at]?.id ?? null),
      ...(failed ? { error: t.errors.get(i) ?? '' } : {}),
    };
  };

  const sources: SourcePlan[] = [];
  const keys = wanted ?? [...t.sourceKeys.values()];
  // Roots by source key, from the table already in memory: no index lookup (and no
  // page of the udid index touched) per source. A root recorded without its key
  // falls back to the index.
  const rootByKey = new Map<string, number>();
  for (const [i, key] of t.sourceKeys) if (!rootByKey.has(key)) rootByKey.set(key, i);
  const seen = new Set<string>();
  const tally = { skip: 0, resume: 0, new: 0, invalidated: 0 };
  for (const key of keys) {
    if (seen.has(key)) continue;
    seen.add(key);
    const udid = rootLineage(key).udid;
    const known = rootByKey.get(key);
    const r = known !== undefined && t.udidAt(known) === udid ? known : t.indexOf(Buffer.from(udid, 'hex'));
    if (r < 0) {
      sources.push({ sourceKey: key, udid, verdict: 'new', code: 'new', reason: 'not in the checkpoint: runs from the start', pruned: 0, rerun: 0, failed: 0, pending: 0, open: [] });
      continue;
    }
    const s = perRoot.get(r) ?? { pruned: 0, rerun: 0, failed: 0, pending: 0, open: [] };
    // One literal per source (a spread of a shared base was a tenth of the plan's own time).
    const open = s.open.length === 0 ? [] : s.open.map(openTask);
    const entry = (verdict: Verdict, code: VerdictCode, reason: string): SourcePlan => ({
      sourceKey: key,
      udid,
      pruned: s.pruned,
      rerun: s.rerun,
      failed: s.failed,
      pending: s.pending,
      open,
      verdict,
      code,
      reason,
    });
    const byHand = done[r] ? undefined : (hand?.bySource.get(key) ?? s.byHand);
    if (done[r]) sources.push(entry('skip', 'complete', 'complete: skipped'));
    else if (byHand !== undefined) sources.push(entry('invalidated', 'invalidated-by-hand', `voided by hand (lineage invalidate, ${byHand}): redoes ${s.rerun} task(s)`));
    else if (t.recorded[r] && changed && !accepted) {
      sources.push(entry('invalidated', change!.code!, `was complete, but ${change!.description}: redoes ${s.rerun} task(s) from there`));
    } else sources.push(entry('resume', s.failed > 0 ? 'failed' : 'incomplete', resumeReason(s)));
  }

  for (const s of sources) tally[s.verdict]++;
  let complete = 0;
  for (let i = 0; i < t.size; i++) complete += done[i]!;
  return {
    checkpoint: store.dir,
    mode: 'dag',
    fingerprint,
    totals: {
      sources: sources.length,
      skip: tally.skip,
      resume: tally.resume,
      new: tally.new,
      invalidated: tally.invalidated,
      tasks: t.size,
      complete,
      prunedSubtrees,
      rerunTasks,
      workSaved: work === 0 ? 0 : saved / work,
    },
    stages: order.map((s, i) => ({ stage: s.id, rerun: stageRerun[i]!, pruned: stagePruned[i]! })),
    stateful: statefulPlan(store, changed && !accepted ? change!.kept : null),
    sources,
  };
}

/**
 * What `lineage invalidate` asked for, to tell the sources it sent back to
 * work: a source named, or one with a task left to consume that was named or
 * that a named stage consumes. Null when nothing was ever voided by hand.
 */
function handInvalidations(store: LineageStore): { bySource: Map<string, string>; match: (udid: string, stage: string | null) => string | undefined } | null {
  const entries = store.manifest.invalidations;
  if (entries.length === 0) return null;
  const bySource = new Map<string, string>();
  const byUdid = new Map<string, string>();
  const byStage = new Map<string, string>();
  for (const e of entries) {
    for (const k of e.sources) bySource.set(k, e.at);
    for (const u of e.udids) byUdid.set(u.toLowerCase(), e.at);
    for (const st of e.stages) byStage.set(st, e.at);
  }
  return { bySource, match: (udid, stage) => byUdid.get(udid) ?? (stage === null ? undefined : byStage.get(stage)) };
}

function resumeReason(s: { pruned: number; failed: number; pending: number }): string {
  const parts: string[] = [];
  if (s.failed) parts.push(`${s.failed} failed`);
  if (s.pending) parts.push(`${s.pending} never consumed`);
  const what = parts.length ? parts.join(', ') : 'unfinished tasks';
  return `incomplete: ${what}; ${s.pruned} completed subtree(s) pruned`;
}

/** Global stage numbers whose completion a changed pipeline keeps. */
function keptStages(t: TaskTable, kept: readonly string[]): (stage: number) => boolean {
  const keep = new Set(kept);
  const flags = t.stageNames.map((name, s) => s !== 0 && keep.has(name));
  return (s) => flags[s] === true;
}

function planSources(store: LineageStore, wanted: string[] | null, fingerprint: ResumePlan['fingerprint'], voided: boolean): ResumePlan {
  const states = new Map<string, { state: string; stage?: string; error?: string }>();
  for (const s of store.sourceStates()) states.set(s.sourceKey, s);
  const voidedAt = new Map<string, string>();
  for (const e of store.manifest.invalidations) for (const k of e.sources) voidedAt.set(k, e.at);
  for (const k of voidedAt.keys()) if (!states.has(k)) states.set(k, { state: 'voided' });
  const keys = wanted ?? [...states.keys()];
  const sources: SourcePlan[] = [];
  const seen = new Set<string>();
  for (const key of keys) {
    if (seen.has(key)) continue;
    seen.add(key);
    const udid = rootLineage(key).udid;
    const s = states.get(key);
    const base = { sourceKey: key, udid, pruned: 0, rerun: 0, failed: 0, pending: 0, open: [] };
    if (!s) sources.push({ ...base, verdict: 'new', code: 'new', reason: 'not in the checkpoint: runs from the start' });
    else if (s.state === 'done' && voided) {
      sources.push({ ...base, verdict: 'invalidated', code: fingerprint.code!, reason: `was complete, but ${fingerprint.change}: reruns whole (source-counter mode)` });
    } else if (s.state === 'done') sources.push({ ...base, verdict: 'skip', code: 'complete', reason: 'complete: skipped' });
    else if (voidedAt.has(key)) {
      sources.push({ ...base, verdict: 'invalidated', code: 'invalidated-by-hand', reason: `voided by hand (lineage invalidate, ${voidedAt.get(key)}): reruns whole (source-counter mode)` });
    } else if (s.state === 'failed') {
      sources.push({ ...base, failed: 1, verdict: 'resume', code: 'failed', reason: `failed in stage "${s.stage ?? '?'}": ${s.error ?? ''}; reruns whole (source-counter mode)` });
    } else sources.push({ ...base, verdict: 'resume', code: 'incomplete', reason: 'started, not finished; reruns whole (source-counter mode)' });
  }
  const count = (v: Verdict) => sources.filter((s) => s.verdict === v).length;
  const skip = count('skip');
  return {
    checkpoint: store.dir,
    mode: 'sources',
    fingerprint,
    totals: {
      sources: sources.length,
      skip,
      resume: count('resume'),
      new: count('new'),
      invalidated: count('invalidated'),
      tasks: states.size,
      complete: [...states.values()].filter((s) => s.state === 'done').length,
      prunedSubtrees: 0,
      rerunTasks: 0,
      workSaved: sources.length === 0 ? 0 : skip / sources.length,
    },
    stages: [],
    stateful: [],
    sources,
  };
}

/** The newest checkpoint of every stateful stage; void when a pipeline change drops them (`kept`: the stages whose work stays). */
function statefulPlan(store: LineageStore, kept: readonly string[] | null): StatePlan[] {
  return store.stateCheckpoints().map(({ stage, writerId, checkpoints }) => {
    const voided = kept !== null && !kept.includes(stage);
    return { stage, writerId, offered: checkpoints[0]!, kept: checkpoints.length, inputsSaved: voided ? 0 : checkpoints[0]!.absorbed, void: voided };
  });
}
