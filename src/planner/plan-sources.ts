/**
 * The resume plan of a source-counter checkpoint (docs/design.md §7): it
 * knows each source's state, not its tasks, so a source reruns whole or not
 * at all.
 */
import { rootLineage } from '../identity/lineage.js';
import type { LineageStore } from '../store/lineage-store.js';
import { inputChangedReason, type ResumePlan, type SourcePlan, type Verdict } from './resume-plan.js';

export function planSources(
  store: LineageStore,
  wanted: string[] | null,
  fingerprint: ResumePlan['fingerprint'],
  voided: boolean,
  inputChange: (key: string) => { recorded: string; current: string } | null,
): ResumePlan {
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
    const input = s ? inputChange(key) : null;
    if (!s) sources.push({ ...base, verdict: 'new', code: 'new', reason: 'not in the checkpoint: runs from the start' });
    else if (input) {
      sources.push({ ...base, verdict: 'invalidated', code: 'input-changed', reason: inputChangedReason(input, 'reruns whole'), input });
    } else if (s.state === 'done' && voided) {
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
