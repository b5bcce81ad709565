// Property (issue 21, part 6): the plan is what the run does. A first run
// over random inputs stops at a random point (an abort after n calls) with
// random failures; then some inputs are edited (new data, new fingerprint),
// the map stage's params may change, and an output file may be deleted.
// The resuming run must then do what planResume said beforehand:
// - a source the plan skips costs zero stage calls;
// - a source it resumes consumes, of the tasks recorded, exactly as many as the plan's rerun
//   count: none that was complete (the pruned subtrees stay pruned), every open task it listed
//   and the task of every output it found missing;
// - every source it sends back to work (resume, new, invalidated) is processed;
// and the outputs are those of one clean run over the edited inputs.
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
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

interface Setup {
  /** The map stage's param: its result is x * scale. */
  scale: number;
  /** Where write puts one file per source (declared as its outputs); none: no files. */
  out?: string;
}

function pipeline(outputs: Map<string, number>, calls: Calls, fail: Set<string>, setup: Setup, onCall: () => void = () => {}) {
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
      params: { scale: setup.scale },
      process: ({ x, i }: { x: number; i: number }, ctx) => {
        note(ctx.sourceKey, [ctx.udid]);
        if (fail.has(`${ctx.sourceKey}:${i}`)) return failed('injected');
        return x === 0 ? null : x * setup.scale;
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
        if (setup.out) writeFileSync(join(setup.out, `${ctx.sourceKey}.txt`), String(sum));
        return sum;
      },
      outputs: (_sum, ctx) => (setup.out ? [join(setup.out, `${(ctx as { sourceKey: string }).sourceKey}.txt`)] : []),
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
  /** The map stage's param on the second run (the first has 3). */
  scale: fc.constantFrom(3, 3, 3, 5),
  /** The source whose output file is deleted before the plan, if any. */
  deleted: fc.option(fc.nat(4)),
});

type Input = { key: string; data: number[]; fingerprint: string };

describe('the run does what the plan said (property)', () => {
  it('skip: zero calls; resume: no completed task consumed, every open task consumed; every source sent back processed; outputs of a clean run', async () => {
    await fc.assert(
      fc.asyncProperty(scenario, async ({ sources, fail, stopAfter, edited, scale, deleted }) => {
        const first: Input[] = sources.map((xs, s) => ({ key: `src-${s}`, data: xs, fingerprint: `v1:${xs.join(',')}` }));
        const editedKeys = new Set(edited.filter((s) => s < sources.length).map((s) => `src-${s}`));
        const second: Input[] = first.map((s) => (editedKeys.has(s.key) ? { key: s.key, data: [...s.data, 2], fingerprint: `v2:${s.data.join(',')},2` } : s));

        const clean = new Map<string, number>();
        await pipeline(clean, newCalls(), new Set(), { scale }).run(second);

        const home = tempDir('lineage-follows-plan-');
        const dir = join(home, 'ckpt');
        const out = join(home, 'out');
        mkdirSync(out);
        const controller = new AbortController();
        const before = newCalls();
        const got = new Map<string, number>();
        const failSet = new Set(fail.map(([s, i]) => `src-${s}:${i}`));
        await pipeline(got, before, failSet, { scale: 3, out }, () => {
          if (before.total === stopAfter) controller.abort(new Error('stopped'));
        })
          .run(first, { checkpoint: dir, signal: controller.signal, handleSignals: false })
          .catch((err: unknown) => {
            if (!controller.signal.aborted) throw err;
          });

        const gone = deleted === null ? null : join(out, `src-${deleted}.txt`);
        if (gone && existsSync(gone)) rmSync(gone);
        const second2 = { stages: pipeline(new Map(), newCalls(), new Set(), { scale, out }).stages };
        const plan = await planResume(dir, { sources: second, pipeline: second2 });
        const store = await LineageStore.open(dir, { readOnly: true });
        const completedBefore = new Set<string>();
        const recordedBefore = new Set<string>();
        // A task whose output is gone is voided, and so is the completion of everything above it.
        const voided = new Set<string>();
        try {
          for (const t of store.tasks()) {
            recordedBefore.add(t.udid);
            if (t.completed !== null) completedBefore.add(t.udid);
          }
          const up = plan.sources.flatMap((s) => (s.missingOutputs ?? []).map((m) => m.udid));
          while (up.length > 0) {
            const u = up.pop()!;
            if (voided.has(u)) continue;
            voided.add(u);
            up.push(...(store.get(u)?.parents ?? []));
          }
        } finally {
          await store.close();
        }

        const after = newCalls();
        await pipeline(got, after, new Set(), { scale, out }).run(second, { checkpoint: dir });

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
            // Of the recorded tasks, exactly the plan's rerun count is consumed (tasks never
            // recorded, below an aborted call, run too but the plan cannot count them).
            const again = [...consumed].filter((u) => recordedBefore.has(u)).length;
            expect(again, `${s.sourceKey}: recorded tasks consumed against the plan's rerun count`).toBe(s.rerun);
            // With changed map params, no completion that map or a later stage decided is trusted.
            if (scale === 3) for (const u of consumed) expect(completedBefore.has(u) && !voided.has(u), `${s.sourceKey}: completed task ${u} was consumed again`).toBe(false);
            for (const m of s.missingOutputs ?? []) expect(consumed.has(m.udid), `${s.sourceKey}: the task of the missing output ${m.path} was not consumed`).toBe(true);
            for (const t of s.open) expect(consumed.has(t.udid), `${s.sourceKey}: open task ${t.udid} (${t.status} at ${t.at}) was not consumed`).toBe(true);
          }
        }
        expect(Object.fromEntries(got)).toEqual(Object.fromEntries(clean));
        for (const [key, sum] of clean) expect(readFileSync(join(out, `${key}.txt`), 'utf8'), `${key}.txt`).toBe(String(sum));
        const third = newCalls();
        await pipeline(got, third, new Set(), { scale, out }).run(second, { checkpoint: dir });
        expect(third.total).toBe(0);
      }),
      { numRuns: 40 },
    );
  }, 180_000);
});
