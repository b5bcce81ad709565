// Property (issue 21, part 6): the plan is what the run does. A first run
// over random inputs stops at a random point (an abort after n calls) with
// random failures; then some inputs are edited (new data, new fingerprint).
// The resuming run must then do what planResume said beforehand:
// - a source the plan skips costs zero stage calls;
// - a source it resumes consumes no task that was complete (the pruned subtrees stay pruned),
//   and consumes every open task the plan listed;
// - every source it sends back to work (resume, new, invalidated) is processed;
// and the outputs are those of one clean run over the edited inputs.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LineageStore, Pipeline, failed, planResume, type Stage } from '../../src/index.js';
import { tempDir } from '../helpers/temp-dir.js';

interface Calls {
  /** Source key → stage calls that touched it. */
  bySource: Map<string, number>;
  /** UDIDs of the tasks consumed, per source. */
  consumed: Map<string, Set<string>>;
  total: number;
}

const newCalls = (): Calls => ({ bySource: new Map(), consumed: new Map(), total: 0 });

function pipeline(outputs: Map<string, number>, calls: Calls, fail: Set<string>, onCall: () => void = () => {}) {
  const note = (sourceKey: string, udids: readonly string[]) => {
    calls.total++;
    calls.bySource.set(sourceKey, (calls.bySource.get(sourceKey) ?? 0) + 1);
    let set = calls.consumed.get(sourceKey);
    if (!set) calls.consumed.set(sourceKey, (set = new Set()));
    for (const u of udids) set.add(u);
    onCall();
  };
  const stages: Stage[] = [
    { id: 'split', process: (xs: number[], ctx) => (note(ctx.sourceKey, [ctx.udid]), xs.map((x, i) => ({ x, i }))) },
    {
      id: 'map',
      process: ({ x, i }: { x: number; i: number }, ctx) => {
        note(ctx.sourceKey, [ctx.udid]);
        if (fail.has(`${ctx.sourceKey}:${i}`)) return failed('injected');
        return x === 0 ? null : x * 3;
      },
    },
    {
      id: 'merge',
      groupBy: 'source',
      processBatch: (xs: number[], ctx) => (note(ctx.sourceKey!, ctx.tasks.map((t) => t.udid)), xs.reduce((a, b) => a + b, 0)),
    },
    {
      id: 'write',
      process: (sum: number, ctx) => {
        note(ctx.sourceKey, [ctx.udid]);
        outputs.set(ctx.sourceKey, sum);
        return sum;
      },
    },
  ];
  return new Pipeline(stages);
}

const scenario = fc.record({
  sources: fc.array(fc.array(fc.integer({ min: 0, max: 4 }), { maxLength: 5 }), { minLength: 1, maxLength: 5 }),
  fail: fc.array(fc.tuple(fc.nat(4), fc.nat(4)), { maxLength: 3 }),
  /** Stop the first run after this many calls (beyond the run's length: it ends on its own). */
  stopAfter: fc.nat(40),
  /** Sources whose input is edited before the second run: a new value appended, a new fingerprint. */
  edited: fc.array(fc.nat(4), { maxLength: 2 }),
});

type Input = { key: string; data: number[]; fingerprint: string };

describe('the run does what the plan said (property)', () => {
  it('skip: zero calls; resume: no completed task consumed, every open task consumed; every source sent back processed; outputs of a clean run', async () => {
    await fc.assert(
      fc.asyncProperty(scenario, async ({ sources, fail, stopAfter, edited }) => {
        const first: Input[] = sources.map((xs, s) => ({ key: `src-${s}`, data: xs, fingerprint: `v1:${xs.join(',')}` }));
        const editedKeys = new Set(edited.filter((s) => s < sources.length).map((s) => `src-${s}`));
        const second: Input[] = first.map((s) => (editedKeys.has(s.key) ? { key: s.key, data: [...s.data, 2], fingerprint: `v2:${s.data.join(',')},2` } : s));

        const clean = new Map<string, number>();
        await pipeline(clean, newCalls(), new Set()).run(second);

        const dir = tempDir('lineage-follows-plan-');
        const controller = new AbortController();
        const before = newCalls();
        const got = new Map<string, number>();
        const failSet = new Set(fail.map(([s, i]) => `src-${s}:${i}`));
        await pipeline(got, before, failSet, () => {
          if (before.total === stopAfter) controller.abort(new Error('stopped'));
        })
          .run(first, { checkpoint: dir, signal: controller.signal, handleSignals: false })
          .catch((err: unknown) => {
            if (!controller.signal.aborted) throw err;
          });

        const plan = await planResume(dir, { sources: second });
        const store = await LineageStore.open(dir, { readOnly: true });
        const completedBefore = new Set<string>();
        try {
          for (const t of store.tasks()) if (t.completed !== null) completedBefore.add(t.udid);
        } finally {
          await store.close();
        }

        const after = newCalls();
        await pipeline(got, after, new Set()).run(second, { checkpoint: dir });

        expect(plan.sources.map((s) => s.sourceKey).sort()).toEqual(second.map((s) => s.key).sort());
        for (const s of plan.sources) {
          const calls = after.bySource.get(s.sourceKey) ?? 0;
          const consumed = after.consumed.get(s.sourceKey) ?? new Set<string>();
          if (s.verdict === 'skip') {
            expect(calls, `${s.sourceKey} (skip) was called`).toBe(0);
            continue;
          }
          expect(calls, `${s.sourceKey} (${s.verdict}: ${s.code}) was not processed`).toBeGreaterThan(0);
          if (s.verdict === 'resume') {
            for (const u of consumed) expect(completedBefore.has(u), `${s.sourceKey}: completed task ${u} was consumed again`).toBe(false);
            for (const t of s.open) expect(consumed.has(t.udid), `${s.sourceKey}: open task ${t.udid} (${t.status} at ${t.at}) was not consumed`).toBe(true);
          }
        }
        expect(Object.fromEntries(got)).toEqual(Object.fromEntries(clean));
        const third = newCalls();
        await pipeline(got, third, new Set()).run(second, { checkpoint: dir });
        expect(third.total).toBe(0);
      }),
      { numRuns: 40 },
    );
  }, 180_000);
});
