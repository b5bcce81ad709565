/**
 * Why a source (or task) will rerun: the paths from it down to each task
 * that failed or that no stage consumed, with the stage and the error text.
 * Walks the subtree breadth-first through the store, never entering a
 * complete subtree (the rerun prunes those).
 */
import { rootLineage } from '../identity/lineage.js';
import { isUdid } from '../identity/udid.js';
import type { LineageStore } from '../store/lineage-store.js';
import type { TaskInfo } from '../store/types.js';
import type { OpenTask } from './plan-resume.js';

export interface PathStep {
  readonly udid: string;
  /** Stage that emitted the task (null for a root). */
  readonly stage: string | null;
}

export interface Explanation {
  /** The UDID explained and, when known, its source key. */
  readonly udid: string;
  readonly sourceKey: string | null;
  /** False when the checkpoint does not hold the task: a new source runs from the start. */
  readonly known: boolean;
  readonly complete: boolean;
  /** Each open task with the path from the explained task down to it. */
  readonly open: { readonly task: OpenTask; readonly path: PathStep[] }[];
  /** More open tasks exist than `limit` allowed. */
  readonly truncated: boolean;
}

/** Explains `target`: a source key or a UDID (32 hex characters). */
export function explainResume(store: LineageStore, target: string, options: { limit?: number } = {}): Explanation {
  const limit = options.limit ?? 20;
  const udid = isUdid(target) ? target : rootLineage(target).udid;
  const first = store.get(udid);
  if (!first) return { udid, sourceKey: isUdid(target) ? null : target, known: false, complete: false, open: [], truncated: false };
  const order = store.manifest.fingerprint ?? [];
  const nextStage = (t: TaskInfo): string | null => {
    if (t.stage === null) return order[0]?.id ?? null;
    const i = order.findIndex((s) => s.id === t.stage);
    return i >= 0 ? (order[i + 1]?.id ?? null) : null;
  };
  const open: Explanation['open'] = [];
  const from = new Map<string, string | null>([[udid, null]]);
  const info = new Map<string, TaskInfo>([[udid, first]]);
  const queue = [udid];
  let truncated = false;
  for (let q = 0; q < queue.length; q++) {
    const t = info.get(queue[q]!)!;
    info.delete(t.udid);
    if (t.completed || t.terminal) continue;
    const failed = t.outcome?.kind === 'failed';
    if (failed || t.outcome === null) {
      if (open.length >= limit) {
        truncated = true;
        break;
      }
      const task: OpenTask = {
        udid: t.udid,
        stage: t.stage,
        status: failed ? 'failed' : 'pending',
        at: failed ? t.outcome!.stage : nextStage(t),
        ...(failed ? { error: t.outcome!.error ?? '' } : {}),
      };
      open.push({ task, path: pathTo(t.udid, from, store) });
      continue;
    }
    for (const c of t.children) {
      if (from.has(c)) continue;
      const child = store.get(c);
      if (!child) continue;
      from.set(c, t.udid);
      info.set(c, child);
      queue.push(c);
    }
  }
  return { udid, sourceKey: first.sourceKey, known: true, complete: first.completed !== null, open, truncated };
}

function pathTo(udid: string, from: ReadonlyMap<string, string | null>, store: LineageStore): PathStep[] {
  const path: PathStep[] = [];
  for (let u: string | null = udid; u !== null; u = from.get(u) ?? null) path.push({ udid: u, stage: store.get(u)?.stage ?? null });
  return path.reverse();
}
