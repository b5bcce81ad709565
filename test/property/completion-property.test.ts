/**
 * Invariants of docs/design.md §4 on random DAGs, random emission orders and
 * repeated emissions, against real LMDB: incremental completion (while
 * recording) equals the batch pass, and both equal "the whole subtree finished".
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LineageStore, childLineage, completedSet, computeCompletion, rootLineage, type EmissionRecord } from '../../src/index.js';
import { tempDir } from '../helpers/temp-dir.js';

type Fate = 'emit' | 'filter' | 'fail' | 'unconsumed';

interface Model {
  emissions: EmissionRecord[];
  failures: { stage: string; task: string; before: number }[];
  /** Ground truth: UDIDs whose whole subtree finished. */
  complete: Set<string>;
  all: Set<string>;
}

/** Builds a layered DAG from random choices: fan-out, fan-in groups, filters, failures. */
function buildModel(seed: number[], stages: number, roots: number): Model {
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

function shuffle<T>(items: T[], order: number[]): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = order[i % order.length]! % (i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

describe('completion (property)', () => {
  it('incremental = batch = whole subtree finished, for any order, repeats and session splits', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.nat(1000), { minLength: 8, maxLength: 40 }),
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 1, max: 4 }),
        fc.array(fc.nat(1000), { minLength: 1, maxLength: 20 }),
        fc.nat(3),
        fc.double({ min: 0, max: 1, noNaN: true }),
        async (seed, stages, roots, order, repeats, splitAt) => {
          const model = buildModel(seed, stages, roots);
          // Emissions in any order, some recorded twice; a retry's failure comes before its success.
          const ops: (() => void)[] = [];
          let store = await LineageStore.open(tempDir());
          const dir = store.dir;
          const sequence = shuffle(model.emissions, order);
          for (let r = 0; r < repeats; r++) sequence.push(sequence[r % Math.max(sequence.length, 1)]!);
          for (const f of model.failures.filter((x) => x.before === -1)) ops.push(() => store.recordFailure({ stage: f.stage, task: f.task, error: 'boom' }));
          for (const e of sequence.filter(Boolean)) {
            for (const f of model.failures.filter((x) => x.before >= 0 && model.emissions[x.before] === e)) {
              ops.push(() => store.recordFailure({ stage: f.stage, task: f.task, error: 'transient' }));
            }
            ops.push(() => store.recordEmission(e));
          }
          const split = Math.floor(ops.length * splitAt);
          for (let i = 0; i < ops.length; i++) {
            if (i === split) {
              await store.close();
              store = await LineageStore.open(dir);
            }
            ops[i]!();
          }
          await store.flush();
          const snapshot = computeCompletion(store);
          const batch = completedSet(snapshot);
          const incremental = new Set<string>();
          for (let i = 0; i < snapshot.size; i++) if (snapshot.recorded[i]) incremental.add(snapshot.udidAt(i));
          const live = new Set([...model.all].filter((u) => store.isCompleted(u)));
          await store.close();
          expect([...incremental].sort()).toEqual([...model.complete].sort());
          expect([...batch].sort()).toEqual([...model.complete].sort());
          expect([...live].sort()).toEqual([...model.complete].sort());
        },
      ),
      { numRuns: 300 },
    );
  });

  it('recording the same emissions twice changes nothing on disk', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.nat(1000), { minLength: 8, maxLength: 30 }), fc.integer({ min: 1, max: 3 }), async (seed, stages) => {
        const model = buildModel(seed, stages, 2);
        const store = await LineageStore.open(tempDir());
        for (const e of model.emissions) store.recordEmission(e);
        await store.flush();
        const dump = () => [...store.tasks()].map((t) => ({ ...t, parents: [...t.parents].sort(), children: [...t.children].sort(), completed: t.completed !== null }));
        const before = dump();
        for (const e of model.emissions) store.recordEmission(e);
        await store.flush();
        expect(dump()).toEqual(before);
        await store.close();
      }),
      { numRuns: 100 },
    );
  });
});
