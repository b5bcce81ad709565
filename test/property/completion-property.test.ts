/**
 * Invariants of docs/design.md §4 on random DAGs, random emission orders and
 * repeated emissions, against real LMDB: incremental completion (while
 * recording) equals the batch pass, and both equal "the whole subtree finished".
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LineageStore, completedSet, computeCompletion } from '../../src/index.js';
import { buildModel, shuffle } from '../helpers/dag-model.js';
import { tempDir } from '../helpers/temp-dir.js';

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
