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
import { TASK_DONE, TASK_PRUNED, TASK_RECORDED, TASK_TERMINAL, taskPass } from '../store/task-pass.js';
import { rootLineage } from '../identity/lineage.js';
import { LineageStore } from '../store/lineage-store.js';
import { OUTCOME_FAILED } from '../store/task-record.js';
import { stageFingerprint } from '../model/stage.js';
import { compareFingerprints } from './fingerprint.js';
import { findMissingOutputs, type MissingOutput } from './missing-outputs.js';
import { planSources } from './plan-sources.js';
import { inputChangedReason, type OpenTask, type PlanOptions, type ResumePlan, type SourcePlan, type StatePlan, type Verdict, type VerdictCode } from './resume-plan.js';

export { VERDICT_CODES, type OpenTask, type PlanOptions, type ResumePlan, type SourcePlan, type StagePlan, type StatePlan, type Verdict, type VerdictCode } from './resume-plan.js';

interface OpenAt {
  readonly i: number;
  readonly failed: boolean;
  /** Position in the next run's pipeline of the stage that consumes it. */
  readonly at: number;
}

interface RootStats {
  pruned: number;
  rerun: number;
  failed: number;
  pending: number;
  open: OpenAt[];
  byHand?: string;
}

/** Plans a rerun over the checkpoint at `checkpoint` (a path or an open store). */
export async function planResume(checkpoint: string | LineageStore, options: PlanOptions = {}): Promise<ResumePlan> {
  const store = typeof checkpoint === 'string' ? await LineageStore.open(checkpoint, { readOnly: true }) : checkpoint;
  try {
    const missing = options.checkOutputs === false || store.mode !== 'dag' ? [] : await findMissingOutputs(store);
    return planOver(store, options, missing);
  } finally {
    if (typeof checkpoint === 'string') await store.close();
  }
}

function planOver(store: LineageStore, options: PlanOptions, missing: readonly MissingOutput[]): ResumePlan {
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
  const given = options.sources === undefined ? null : [...options.sources];
  const wanted = given === null ? null : given.map((s) => (typeof s === 'string' ? s : s.key));
  // The input each source has now, where the caller knows it: compared with the recorded fingerprint.
  const inputs = new Map<string, string>();
  for (const s of given ?? []) if (typeof s !== 'string' && typeof s.fingerprint === 'string') inputs.set(s.key, s.fingerprint);
  const inputChange = (key: string): { recorded: string; current: string } | null => {
    const now = inputs.get(key);
    const recorded = now === undefined ? undefined : store.sourceFingerprint(key);
    return recorded === undefined || recorded === now ? null : { recorded, current: now! };
  };
  if (store.mode === 'sources') return planSources(store, wanted, fingerprint, changed && !accepted, inputChange);

  // A task whose output is gone is consumed again, and what it led to is redone.
  const goneUdids = [...new Set(missing.map((m) => m.udid))];
  const t = taskPass(store.shards, {
    keptStages: changed && !accepted ? change!.kept : null,
    voided: goneUdids.map((u) => Buffer.from(u, 'hex')),
  });
  // The first output found missing of each such task, by index; listed by source once the visit knows its root.
  const gone = new Map<number, MissingOutput>();
  for (const m of missing) {
    const i = t.indexOf(Buffer.from(m.udid, 'hex'));
    if (i >= 0 && !gone.has(i)) gone.set(i, m);
  }
  const goneBySource = new Map<number, MissingOutput[]>();
  const order = current ?? stored ?? [];
  // Position in the next run's pipeline of the stage that consumes a task emitted by stage s.
  const position = new Map(order.map((s, i) => [s.id, i]));
  const consumer = Int32Array.from(t.stageNames, (name, s) => (s === 0 ? 0 : (position.get(name) ?? -2) + 1));
  const n = order.length;

  const limit = options.openPerSource ?? 3;
  const perRoot = new Map<number, RootStats>();
  const hand = handInvalidations(store);
  const stageRerun = new Float64Array(n);
  const stagePruned = new Float64Array(n);
  let prunedSubtrees = 0;
  let rerunTasks = 0;
  let work = 0;
  let saved = 0;
  let complete = 0;
  const statsOf = (r: number) => {
    let s = perRoot.get(r);
    if (!s) perRoot.set(r, (s = { pruned: 0, rerun: 0, failed: 0, pending: 0, open: [] }));
    return s;
  };
  t.forEach((i, emitStage, outcome, bits, root) => {
    if ((bits & TASK_DONE) !== 0) complete++;
    const m = gone.size === 0 ? undefined : gone.get(i);
    if (m) {
      const list = goneBySource.get(root);
      if (list) list.push(m);
      else goneBySource.set(root, [m]);
    }
    if ((bits & TASK_TERMINAL) !== 0) return; // outputs: no stage consumes them
    const at = consumer[emitStage]!;
    work++;
    if ((bits & TASK_DONE) !== 0) {
      saved++;
      // A complete task under an incomplete parent is where the rerun prunes.
      if ((bits & TASK_PRUNED) !== 0) {
        prunedSubtrees++;
        statsOf(root).pruned++;
        if (at >= 0 && at < n) stagePruned[at]!++;
      }
      return;
    }
    rerunTasks++;
    const s = statsOf(root);
    s.rerun++;
    if (at >= 0 && at < n) stageRerun[at]!++;
    if (outcome === OUTCOME_FAILED) s.failed++;
    else if (outcome === 0) {
      s.pending++;
      if (hand !== null && s.byHand === undefined) s.byHand = hand.match(t.udidAt(i), order[at]?.id ?? null);
    } else return;
    if (s.open.length < limit) s.open.push({ i, failed: outcome === OUTCOME_FAILED, at });
  });

  const openTask = ({ i, failed, at }: OpenAt): OpenTask => {
    const emitStage = t.emitStage(i);
    return {
      udid: t.udidAt(i),
      stage: emitStage === 0 ? null : t.stageNames[emitStage]!,
      status: failed ? 'failed' : 'pending',
      at: failed ? t.stageNames[t.outcomeStage(i)]! : (order[at]?.id ?? null),
      ...(failed ? { error: t.errorOf(i) } : {}),
    };
  };

  const sources: SourcePlan[] = [];
  const rootByKey = t.rootByKey;
  const keys = wanted ?? [...rootByKey.keys()];
  // Keys asked for twice are planned once (the checkpoint's own are distinct).
  const seen = wanted === null ? null : new Set<string>();
  const tally = { skip: 0, resume: 0, new: 0, invalidated: 0 };
  for (const key of keys) {
    if (seen) {
      if (seen.has(key)) continue;
      seen.add(key);
    }
    const udid = rootLineage(key).udid;
    // A root recorded without its key (or under another UDID) is found through the index.
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
    const bits = t.bits(r);
    const byHand = (bits & TASK_DONE) !== 0 ? undefined : (hand?.bySource.get(key) ?? s.byHand);
    const input = inputChange(key);
    if (input) sources.push({ ...entry('invalidated', 'input-changed', inputChangedReason(input, 'reruns whole')), input });
    else if ((bits & TASK_DONE) !== 0) sources.push(entry('skip', 'complete', 'complete: skipped'));
    else if (byHand !== undefined) sources.push(entry('invalidated', 'invalidated-by-hand', `voided by hand (lineage invalidate, ${byHand}): redoes ${s.rerun} task(s)`));
    else if ((bits & TASK_RECORDED) !== 0 && changed && !accepted) {
      sources.push(entry('invalidated', change!.code!, `was complete, but ${change!.description}: redoes ${s.rerun} task(s) from there`));
    } else if (goneBySource.has(r)) {
      const list = goneBySource.get(r)!;
      const more = list.length > 1 ? ` (and ${list.length - 1} more)` : '';
      sources.push({ ...entry('resume', 'output-missing', `output-missing: ${list[0]!.path}${more}`), missingOutputs: list.slice(0, MISSING_LISTED).map(({ udid, stage, path }) => ({ udid, stage, path })) });
    } else sources.push(entry('resume', s.failed > 0 ? 'failed' : 'incomplete', resumeReason(s)));
  }

  for (const s of sources) tally[s.verdict]++;
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

/** Tasks with a missing output a source's plan lists. */
const MISSING_LISTED = 10;

/** The newest checkpoint of every stateful stage; void when a pipeline change drops them (`kept`: the stages whose work stays). */
function statefulPlan(store: LineageStore, kept: readonly string[] | null): StatePlan[] {
  return store.stateCheckpoints().map(({ stage, writerId, checkpoints }) => {
    const voided = kept !== null && !kept.includes(stage);
    return { stage, writerId, offered: checkpoints[0]!, kept: checkpoints.length, inputsSaved: voided ? 0 : checkpoints[0]!.absorbed, void: voided };
  });
}
