/**
 * The streamed completion pass of one shard (store/streamed-completion.ts)
 * against an oracle computed from the store's public task view: on random
 * DAGs recorded in order it always runs (never falls back) and gives the
 * same completed, pruned and voided tasks, with a changed pipeline's kept
 * stages and with voided tasks, through the page reader and through lmdb-js
 * cursors alike; recorded out of order, it either agrees or
 * declines (null), and the run of the property meets both cases.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LineageStore, type TaskInfo } from '../../src/index.js';
import { DONE, PRUNED, VOID, streamedCompletion } from '../../src/store/streamed-completion.js';
import { buildModel, shuffle } from '../helpers/dag-model.js';
import { tempDir } from '../helpers/temp-dir.js';

interface Expected {
  done: Set<string>;
  pruned: Set<string>;
  voided: Set<string>;
}

/** Completion as docs/design.md §4 defines it, from the tasks as the store shows them. */
function oracle(tasks: Map<string, TaskInfo>, keep: Set<string> | null, targets: Set<string>): Expected {
  const voided = new Set<string>();
  const down = [...targets];
  while (down.length > 0) {
    const u = down.pop()!;
    if (voided.has(u)) continue;
    voided.add(u);
    down.push(...tasks.get(u)!.children);
  }
  const memo = new Map<string, boolean>();
  const kept = (stage: string | null) => keep === null || (stage !== null && keep.has(stage));
  const isDone = (u: string): boolean => {
    const known = memo.get(u);
    if (known !== undefined) return known;
    const t = tasks.get(u)!;
    // A voided task counts as not consumed; below a voided one nothing is complete by itself.
    const below = voided.has(u) && !targets.has(u);
    const consumed = !voided.has(u);
    let done = false;
    if (t.terminal && !below && kept(t.stage)) done = true;
    else if (consumed && t.outcome?.kind === 'filtered' && kept(t.outcome.stage)) done = true;
    else if (consumed && t.outcome?.kind === 'emitted' && t.children.length > 0) done = t.children.every(isDone);
    memo.set(u, done);
    return done;
  };
  const done = new Set([...tasks.keys()].filter(isDone));
  const pruned = new Set([...done].filter((u) => tasks.get(u)!.parents.some((p) => !done.has(p))));
  return { done, pruned, voided };
}

describe('streamed completion of one shard (property)', () => {
  it('equals the oracle for in-order recordings (always streamed) and for any order it does not decline', async () => {
    let declined = 0;
    let streamedShuffled = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.nat(1000), { minLength: 8, maxLength: 40 }),
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 1, max: 4 }),
        fc.option(fc.array(fc.nat(1000), { minLength: 1, maxLength: 20 })),
        fc.integer({ min: -1, max: 3 }),
        fc.array(fc.nat(200), { maxLength: 3 }),
        async (seed, stages, roots, order, keepBelow, voidPicks) => {
          const model = buildModel(seed, stages, roots);
          const store = await LineageStore.open(tempDir());
          try {
            const failures = model.failures.filter((f) => f.before === -1);
            for (const e of order === null ? model.emissions : shuffle(model.emissions, order)) store.recordEmission(e);
            for (const f of failures) store.recordFailure({ stage: f.stage, task: f.task, error: 'boom' });
            await store.flush();
            const tasks = new Map([...store.tasks()].map((t) => [t.udid, t]));
            const all = [...tasks.keys()].sort();
            const keep = keepBelow < 0 ? null : new Set(Array.from({ length: keepBelow }, (_, s) => `s${s}`));
            const targets = new Set(all.length === 0 ? [] : voidPicks.map((k) => all[k % all.length]!));
            const shard = store.shards[0]!;
            const idOf = (u: string) => shard.idOf(Buffer.from(u, 'hex'))!;
            const options = { ...(keep ? { keepStage: (name: string) => keep.has(name) } : {}), voidIds: [...targets].map(idOf) };
            const got = streamedCompletion(shard, options);
            // The same pass through lmdb-js cursors instead of the page reader.
            process.env.LINEAGE_PAGE_SCAN = '0';
            try {
              const viaCursors = streamedCompletion(shard, options);
              expect(viaCursors === null ? null : Buffer.from(viaCursors.flags)).toEqual(got === null ? null : Buffer.from(got.flags));
            } finally {
              delete process.env.LINEAGE_PAGE_SCAN;
            }
            if (order === null) expect(got, 'a recording in order is always streamed').not.toBeNull();
            if (got === null) {
              declined++;
              return;
            }
            if (order !== null) streamedShuffled++;
            const want = oracle(tasks, keep, targets);
            const having = (bit: number) => all.filter((u) => (got.flags[idOf(u)]! & bit) !== 0);
            expect(got.count).toBe(tasks.size);
            expect(having(DONE)).toEqual([...want.done].sort());
            expect(having(PRUNED)).toEqual([...want.pruned].sort());
            expect(having(VOID)).toEqual([...want.voided].sort());
          } finally {
            await store.close();
          }
        },
      ),
      { numRuns: 200 },
    );
    expect(declined, 'some out-of-order recordings have an edge to a lower id').toBeGreaterThan(0);
    expect(streamedShuffled, 'some shuffled recordings are still in id order').toBeGreaterThan(0);
  });
});
