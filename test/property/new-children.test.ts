/**
 * A session that knows an emission's children are new (they were made by
 * assignChildLineage from exactly the emission's parents, one of which has
 * no child yet) keeps them out of its UDID table until it is asked about a
 * task that is not a root. Whatever the order, repeats, fresh lineage
 * objects for the same tasks, duplicates and questions in between, the
 * checkpoint and every answer must be those of recording plain references,
 * which take the general path.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LineageStore, assignChildLineage, rootLineage, type EmissionRecord, type Lineage } from '../../src/index.js';
import { tempDir } from '../helpers/temp-dir.js';

interface Made {
  stage: string;
  parents: Lineage[];
  /** What the stage returned: one value per child, none for a filter. */
  values: number[];
  children: Lineage[];
  terminal: boolean;
}

/** A layered DAG of lineages made as the Pipeline makes them: fan-out 0-3, fan-in groups of 1-3. */
function build(seed: number[], stages: number, roots: number): Made[] {
  let k = 0;
  const next = (n: number) => (seed[k++ % seed.length]! + k) % n;
  const made: Made[] = [];
  let layer: Lineage[] = Array.from({ length: roots }, (_, i) => rootLineage(`src-${i}`));
  for (let s = 0; s < stages && layer.length > 0; s++) {
    const stage = `s${s}`;
    const terminal = s === stages - 1;
    const nextLayer: Lineage[] = [];
    for (let i = 0; i < layer.length; ) {
      const size = 1 + next(3);
      const parents = layer.slice(i, i + size);
      i += size;
      const values = Array.from({ length: next(4) }, (_, j) => j);
      const out = assignChildLineage(stage, parents, values.length === 0 ? null : values);
      const children = out.kind === 'children' ? out.children.map((c) => c.lineage) : [];
      made.push({ stage, parents, values, children, terminal });
      if (!terminal) nextLayer.push(...children);
    }
    layer = nextLayer;
  }
  return made;
}

/** The same tasks as new lineage objects (another assignChildLineage call), as a rerun of the stage would make. */
function remade(m: Made): Lineage[] {
  const out = assignChildLineage(m.stage, m.parents, m.values.length === 0 ? null : m.values);
  return out.kind === 'children' ? out.children.map((c) => c.lineage) : [];
}

const plain = (l: Lineage): Lineage => ({ path: l.path, udid: l.udid, sourceKey: l.sourceKey });

function dump(store: LineageStore) {
  return [...store.tasks()]
    .map((t) => ({ ...t, parents: [...t.parents].sort(), children: [...t.children].sort(), completed: t.completed !== null }))
    .sort((x, y) => (x.udid < y.udid ? -1 : 1));
}

describe('children known to be new', () => {
  it('give the checkpoint and the answers of plain references, for any order, repeats, fresh objects and questions', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.nat(1000), { minLength: 8, maxLength: 40 }),
        fc.integer({ min: 1, max: 4 }),
        fc.array(fc.nat(1000), { minLength: 1, maxLength: 40 }),
        async (seed, stages, order) => {
          const made = build(seed, stages, 3);
          // Mostly in making order (the Pipeline's), sometimes a later emission first.
          const steps = made.map((m, i) => ({ m, at: i + (order[i % order.length]! % 7 === 0 ? order[(i + 1) % order.length]! % 5 : 0) }));
          steps.sort((x, y) => x.at - y.at);
          const fast = await LineageStore.open(tempDir());
          const slow = await LineageStore.open(tempDir());
          const all = made.flatMap((m) => [...m.parents, ...m.children]);
          let q = 0;
          for (const [i, { m }] of steps.entries()) {
            const what = order[i % order.length]! % 6;
            let children = m.children;
            // A duplicate object among the children, or the same tasks as fresh objects.
            if (what === 1 && children.length > 0) children = [...children, children[0]!];
            const rec = (c: Lineage[]): EmissionRecord => ({ stage: m.stage, parents: m.parents, children: c, terminal: m.terminal });
            expect(fast.recordEmission(rec(children))).toBe(slow.recordEmission({ ...rec(children.map(plain)), parents: m.parents.map(plain) }));
            if (what === 2) {
              const again = remade(m);
              expect(fast.recordEmission(rec(again))).toBe(slow.recordEmission({ ...rec(again.map(plain)), parents: m.parents.map(plain) }));
            }
            if (what === 3) {
              // A question about any task (root or not) between two emissions.
              const t = all[order[q++ % order.length]! % all.length]!;
              expect(fast.isCompleted(t.udid)).toBe(slow.isCompleted(t.udid));
            }
            if (what === 5) {
              // Fresh objects for these tasks, recorded as children of other parents (of the next emission made).
              const other = made[(made.indexOf(m) + 1) % made.length]!;
              const again = remade(m);
              const odd = (c: Lineage[], p: Lineage[]): EmissionRecord => ({ stage: m.stage, parents: p, children: c });
              if (!again.some((c) => other.parents.some((p) => p.udid === c.udid))) {
                expect(fast.recordEmission(odd(again, other.parents))).toBe(slow.recordEmission(odd(again.map(plain), other.parents.map(plain))));
              }
            }
            if (what === 4) expect(fast.isSourceCompleted(m.parents[0]!.sourceKey)).toBe(slow.isSourceCompleted(m.parents[0]!.sourceKey));
          }
          for (const t of all) expect(fast.isCompleted(t.udid)).toBe(slow.isCompleted(t.udid));
          await fast.flush();
          await slow.flush();
          expect(dump(fast)).toEqual(dump(slow));
          await fast.close();
          await slow.close();
        },
      ),
      { numRuns: 150 },
    );
  });

  it('finds a child recorded before as a parent, and one recorded again through fresh objects, instead of making it twice', async () => {
    const store = await LineageStore.open(tempDir());
    const root = rootLineage('part-0');
    const [x, y] = remadeSplit(root);
    // x is a task before the emission that makes it is recorded.
    store.recordEmission({ stage: 'map', parents: [x!], children: [] });
    const [x2, y2] = remadeSplit(root);
    store.recordEmission({ stage: 'split', parents: [root], children: [x2!, y2!] });
    // The same emission again through fresh objects: the parent has children now.
    const [x3, y3] = remadeSplit(root);
    store.recordEmission({ stage: 'split', parents: [root], children: [x3!, y3!, y3!] });
    await store.flush();
    expect(dump(store).map((t) => t.udid)).toEqual([root.udid, x!.udid, y!.udid].sort());
    expect(store.get(root.udid)).toMatchObject({ children: [x!.udid, y!.udid].sort() });
    // x was filtered by map: complete; y is not consumed yet.
    expect(store.isCompleted(x!.udid)).toBe(true);
    expect(store.isCompleted(y!.udid)).toBe(false);
    await store.close();
  });
});

function remadeSplit(root: Lineage): Lineage[] {
  const out = assignChildLineage('split', [root], ['x', 'y']);
  return out.kind === 'children' ? out.children.map((c) => c.lineage) : [];
}
