// Property: whatever failed on a first run, the plan never skips (and the
// runner never prunes) a task whose subtree is incomplete, and a rerun ends
// with exactly the outputs of a run that never failed.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LineageStore, Pipeline, failed, planResume, rootLineage, type Stage } from '../../src/index.js';
import { tempDir } from '../helpers/temp-dir.js';

function pipeline(outputs: Map<string, number>, calls: { n: number }, failMap: Set<string>, failWrite: Set<string>) {
  const stages: Stage[] = [
    { id: 'split', process: (xs: number[]) => (calls.n++, xs.map((x, i) => ({ x, i }))) },
    {
      id: 'map',
      process: ({ x, i }: { x: number; i: number }, ctx) => {
        calls.n++;
        if (failMap.has(`${ctx.sourceKey}:${i}`)) return failed('injected');
        return x === 0 ? null : x * 3;
      },
    },
    { id: 'merge', groupBy: 'source', processBatch: (xs: number[]) => (calls.n++, xs.reduce((a, b) => a + b, 0)) },
    {
      id: 'write',
      process: (sum: number, ctx) => {
        calls.n++;
        if (failWrite.has(ctx.sourceKey)) throw new Error('disk full');
        outputs.set(ctx.sourceKey, sum);
        return sum;
      },
    },
  ];
  return new Pipeline(stages);
}

/** Oracle, by recursion rather than the BFS: a task is done iff its whole subtree finished. */
function subtreeDone(store: LineageStore, udid: string, memo = new Map<string, boolean>()): boolean {
  const known = memo.get(udid);
  if (known !== undefined) return known;
  const t = store.get(udid);
  let ok = false;
  if (t) {
    if (t.terminal || t.outcome?.kind === 'filtered') ok = true;
    else if (t.outcome?.kind === 'emitted') ok = t.children.length > 0 && t.children.every((c) => subtreeDone(store, c, memo));
  }
  memo.set(udid, ok);
  return ok;
}

const scenario = fc.record({
  sources: fc.array(fc.array(fc.integer({ min: 0, max: 4 }), { maxLength: 5 }), { minLength: 1, maxLength: 5 }),
  failMap: fc.array(fc.tuple(fc.nat(4), fc.nat(4)), { maxLength: 4 }),
  failWrite: fc.array(fc.nat(4), { maxLength: 2 }),
});

describe('resume planning (property)', () => {
  it('never skips an incomplete subtree; a rerun gives the outputs of a clean run', async () => {
    await fc.assert(
      fc.asyncProperty(scenario, async ({ sources, failMap, failWrite }) => {
        const input = sources.map((xs, s) => ({ key: `src-${s}`, data: xs }));
        const clean = new Map<string, number>();
        await pipeline(clean, { n: 0 }, new Set(), new Set()).run(input);

        const dir = tempDir('lineage-plan-prop-');
        const got = new Map<string, number>();
        const failSet = new Set(failMap.map(([s, i]) => `src-${s}:${i}`));
        const writeSet = new Set(failWrite.map((s) => `src-${s}`));
        await pipeline(got, { n: 0 }, failSet, writeSet).run(input, { checkpoint: dir });

        const plan = await planResume(dir, { sources: input.map((s) => s.key) });
        const store = await LineageStore.open(dir, { readOnly: true });
        try {
          const memo = new Map<string, boolean>();
          for (const s of plan.sources) {
            expect(s.verdict === 'skip', `${s.sourceKey}: ${s.verdict}`).toBe(subtreeDone(store, rootLineage(s.sourceKey).udid, memo));
          }
          for (const t of store.tasks()) expect(t.completed !== null, t.udid).toBe(subtreeDone(store, t.udid, memo));
        } finally {
          await store.close();
        }

        await pipeline(got, { n: 0 }, new Set(), new Set()).run(input, { checkpoint: dir });
        expect(Object.fromEntries(got)).toEqual(Object.fromEntries(clean));
        const third = { n: 0 };
        await pipeline(got, third, new Set(), new Set()).run(input, { checkpoint: dir });
        expect(third.n).toBe(0);
      }),
      { numRuns: 60 },
    );
  }, 120_000);
});
