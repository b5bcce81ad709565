/**
 * Random layered DAGs for completion tests: fan-out, fan-in groups, filters,
 * failures, unconsumed tasks, and the ground truth of which tasks' whole
 * subtree finished.
 */
import { childLineage, rootLineage, type EmissionRecord } from '../../src/index.js';

type Fate = 'emit' | 'filter' | 'fail' | 'unconsumed';

export interface Model {
  emissions: EmissionRecord[];
  failures: { stage: string; task: string; before: number }[];
  /** Ground truth: UDIDs whose whole subtree finished. */
  complete: Set<string>;
  all: Set<string>;
}

/** Builds a layered DAG from random choices: fan-out, fan-in groups, filters, failures. */
export function buildModel(seed: number[], stages: number, roots: number): Model {
  let k = 0;
  const next = (n: number) => (seed[k++ % seed.length]! + k) % n;
  const emissions: EmissionRecord[] = [];
  const failures: Model['failures'] = [];
  const children = new Map<string, string[]>();
  const fate = new Map<string, Fate>();
  const terminal = new Set<string>();
  let layer = Array.from({ length: roots }, (_, i) => rootLineage(`src-${i}`).udid);
  for (let s = 0; s < stages && layer.length > 0; s++) {
    const stage = `s${s}`;
    const last = s === stages - 1;
    const nextLayer: string[] = [];
    for (let i = 0; i < layer.length; ) {
      // A group of 1-3 parents consumed together (fan-in when > 1).
      const size = 1 + next(3);
      const group = layer.slice(i, i + size);
      i += size;
      const f = (['emit', 'emit', 'emit', 'filter', 'fail', 'unconsumed'] as const)[next(6)]!;
      for (const p of group) fate.set(p, f);
      if (f === 'unconsumed') continue;
      if (f === 'fail') {
        for (const p of group) failures.push({ stage, task: p, before: -1 });
        continue;
      }
      const kids = f === 'filter' ? [] : Array.from({ length: 1 + next(3) }, (_, j) => childLineage(stage, group, j).udid);
      for (const p of group) children.set(p, kids);
      if (last) for (const c of kids) terminal.add(c);
      else nextLayer.push(...kids);
      emissions.push({ stage, parents: group, children: kids, terminal: last });
      // A retried task: it failed once before succeeding.
      if (next(4) === 0) failures.push({ stage, task: group[0]!, before: emissions.length - 1 });
    }
    layer = nextLayer;
  }
  const all = new Set<string>([...fate.keys(), ...terminal]);
  for (const kids of children.values()) for (const c of kids) all.add(c);
  const complete = new Set<string>();
  const isComplete = (t: string): boolean => {
    if (terminal.has(t) || fate.get(t) === 'filter') return true;
    if (fate.get(t) !== 'emit') return false;
    return children.get(t)!.every(isComplete);
  };
  for (const t of all) if (isComplete(t)) complete.add(t);
  return { emissions, failures, complete, all };
}

export function shuffle<T>(items: T[], order: number[]): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = order[i % order.length]! % (i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

